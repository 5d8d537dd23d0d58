//! End-to-end: hookwall in-process in front of a real upstream, both on 127.0.0.1:0. Every
//! test asserts what the upstream saw: the same bytes when verified, nothing after a refusal.

#![allow(clippy::unwrap_used)]

mod allow;
mod flask;
mod pool;
mod presets;
mod redis;
mod replay;
mod sdk;
mod spool;
mod spool_admin;
mod spool_redis;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use hookwall_testkit::reference::{b64, mac512, now};
use hookwall_testkit::wait::eventually;
use http::StatusCode;
use http_body_util::Full;
use support::{
    github_config, github_proxy, github_proxy_with, github_signature, post_github, post_signed,
    prefix_route, raw_status, start, Behaviour, Hookwall, Reply, Upstream, GITHUB_SECRET, MAX_BODY,
};

const BODY: &[u8] = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;

/// [`BODY`]'s GitHub signature under [`GITHUB_SECRET`].
fn body_signature() -> String {
    github_signature(GITHUB_SECRET, BODY)
}

/// A POST of [`BODY`] to the GitHub route carrying `signature`, for a connection of the
/// test's own to `host`.
fn github_request(host: SocketAddr, signature: &str) -> http::Request<Full<Bytes>> {
    let headers = [("x-hub-signature-256", signature)];
    support::build("POST", "/webhooks/github", BODY, &headers, host)
}

/// The head of a raw POST to the GitHub route: `Host: a`, `signature`, then `lines` (each
/// ending in CRLF) and the empty line.
fn raw_head(signature: &str, lines: &str) -> String {
    format!("POST /webhooks/github HTTP/1.1\r\nHost: a\r\nx-hub-signature-256: {signature}\r\n{lines}\r\n")
}

/// A chunked body of `pieces`, then the last chunk with `trailers` (each ending in CRLF).
fn chunked<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, trailers: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0\r\n{trailers}\r\n").as_bytes());
    out
}

#[tokio::test]
async fn signed_request_reaches_upstream_byte_for_byte_with_the_specified_headers() {
    let created = Behaviour {
        status: StatusCode::CREATED,
        body: "created by app\n",
        extra_headers: vec![
            ("x-app", "yes"),
            ("connection", "x-app-private"),
            ("x-app-private", "1"),
            ("keep-alive", "timeout=5"),
        ],
        ..Behaviour::default()
    };
    let (upstream, hookwall) = github_proxy_with(created, MAX_BODY).await;
    let sig = body_signature();
    let host = hookwall.addr().to_string();
    let res = hookwall
        .post(
            "/webhooks/github?installation=7&x=%20y",
            BODY,
            &[
                ("x-hub-signature-256", &sig),
                ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
                ("x-github-event", "push"),
                ("content-type", "application/json"),
                ("user-agent", "GitHub-Hookshot/abc"),
                // Hop-by-hop, and an attempt to strip the signature header on the way.
                ("connection", "keep-alive, x-drop-me, X-Hub-Signature-256"),
                ("x-drop-me", "1"),
                ("keep-alive", "timeout=5"),
                // Forged forwarding information and hookwall's own headers.
                ("x-forwarded-for", "10.9.9.9"),
                ("x-forwarded-host", "evil.example"),
                ("forwarded", "for=10.9.9.9"),
                ("x-real-ip", "10.9.9.9"),
                ("x-hookwall-verified", "forged"),
                ("x-hookwall-anything", "forged"),
                ("x-original-url", "/admin"),
                ("x-http-method-override", "DELETE"),
                // The same as X-Forwarded-For to a server that maps `_` to `-`.
                ("x_forwarded_for", "10.9.9.9"),
            ],
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.body, "created by app\n");
    assert_eq!(res.headers["x-app"], "yes");
    assert!(
        res.headers.get("x-app-private").is_none(),
        "headers named in the upstream's Connection are hop-by-hop"
    );
    assert!(res.headers.get("keep-alive").is_none());

    let seen = upstream.only();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/webhooks/github?installation=7&x=%20y");
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(seen.body, BODY);
    let h = &seen.headers;
    assert_eq!(h["content-length"], BODY.len().to_string().as_str());
    assert!(h.get("transfer-encoding").is_none());
    assert_eq!(
        h["x-hub-signature-256"],
        sig.as_str(),
        "Connection can never remove a signature header"
    );
    assert_eq!(
        h["x-github-delivery"],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    );
    assert_eq!(h["x-github-event"], "push");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["user-agent"], "GitHub-Hookshot/abc");
    assert_eq!(h["host"], host.as_str());
    assert_eq!(
        h.get_all("x-forwarded-for").iter().collect::<Vec<_>>(),
        ["127.0.0.1"]
    );
    assert_eq!(
        h.get_all("x-forwarded-host").iter().collect::<Vec<_>>(),
        [host.as_str()]
    );
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(
        h.get_all("x-hookwall-verified").iter().collect::<Vec<_>>(),
        ["github"]
    );
    assert_eq!(
        h["x-hookwall-delivery-id"],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    );
    for gone in [
        "x-drop-me",
        "keep-alive",
        "forwarded",
        "x-real-ip",
        "x-hookwall-anything",
        "x-original-url",
        "x-http-method-override",
        "x_forwarded_for",
    ] {
        assert!(h.get(gone).is_none(), "{gone} reached the upstream");
    }
}

#[tokio::test]
async fn unsigned_wrong_and_tampered_requests_are_401_and_never_forwarded() {
    let (upstream, hookwall) = github_proxy().await;
    let good = body_signature();
    let other_key = github_signature("some-other-route-secret", BODY);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [u8]);
    let cases: Vec<Case> = vec![
        ("unsigned", vec![], BODY),
        ("wrong key", vec![("x-hub-signature-256", &other_key)], BODY),
        (
            "tampered body",
            vec![("x-hub-signature-256", &good)],
            br#"{"zen":"Keep it logically awesome.","hook_id":2}"#,
        ),
        ("empty", vec![("x-hub-signature-256", "")], BODY),
        (
            "prefix only",
            vec![("x-hub-signature-256", "sha256=")],
            BODY,
        ),
        (
            "truncated",
            vec![("x-hub-signature-256", &good[..good.len() - 2])],
            BODY,
        ),
        (
            "sha1 downgrade",
            vec![(
                "x-hub-signature",
                "sha1=0000000000000000000000000000000000000000",
            )],
            BODY,
        ),
        (
            "duplicate header",
            vec![
                ("x-hub-signature-256", &good),
                ("x-hub-signature-256", &good),
            ],
            BODY,
        ),
    ];
    for (what, headers, body) in cases {
        let res = post_github(&hookwall, body, &headers).await;
        assert_eq!(res.status(), 401, "{what}");
        assert_eq!(
            res.body, "unauthorized\n",
            "{what}: the body says nothing of what was expected"
        );
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn a_401_then_a_valid_request_on_the_same_connection() {
    let (upstream, hookwall) = github_proxy().await;
    let mut conn = hookwall.connect_h1().await;
    let bad = github_request(hookwall.addr(), "sha256=00");
    let res = Reply::read(conn.send_request(bad).await.unwrap()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(upstream.hits(), 0);
    conn.ready()
        .await
        .expect("the connection stays open after a 401");
    let good = github_request(hookwall.addr(), &body_signature());
    let res = Reply::read(conn.send_request(good).await.unwrap()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(upstream.only().body, BODY);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let (upstream, hookwall) = github_proxy().await;
    let sig = body_signature();
    let signed = [("x-hub-signature-256", sig.as_str())];
    for path in [
        "/",
        "/webhooks/github/",
        "/webhooks/GitHub",
        "/webhooks/github/extra",
        "/webhooks/githu",
    ] {
        let res = hookwall.post(path, BODY, &signed).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    for method in ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let res = hookwall
            .request(method, "/webhooks/github", b"", &signed)
            .await;
        assert_eq!(res.status(), 405, "{method}");
        assert_eq!(res.headers["allow"], "POST", "{method}");
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn malformed_targets_hosts_and_chunking_are_400_and_never_forwarded() {
    let (upstream, hookwall) = github_proxy().await;
    let sig = body_signature();
    let body = std::str::from_utf8(BODY).unwrap();
    let signed = |target: &str, host_lines: &str, framing: &str| {
        format!("POST {target} HTTP/1.1\r\n{host_lines}x-hub-signature-256: {sig}\r\n{framing}\r\n")
    };
    let length = format!("Content-Length: {}\r\n", BODY.len());
    // The signed request with BODY and its length.
    let whole = |target: &str, host_lines: &str| signed(target, host_lines, &length) + body;
    let cases = [
        (
            "dot segments",
            whole("/webhooks/x/../github", "Host: a\r\n"),
        ),
        ("encoded slash", whole("/webhooks%2Fgithub", "Host: a\r\n")),
        (
            "encoded dots",
            whole("/webhooks/%2e%2e/webhooks/github", "Host: a\r\n"),
        ),
        ("double slash", whole("//webhooks/github", "Host: a\r\n")),
        (
            "absolute form",
            whole("http://a/webhooks/github", "Host: a\r\n"),
        ),
        ("missing host", whole("/webhooks/github", "")),
        (
            "duplicate host",
            whole("/webhooks/github", "Host: a\r\nHost: b\r\n"),
        ),
        (
            "malformed chunked body",
            signed(
                "/webhooks/github",
                "Host: a\r\n",
                "Transfer-Encoding: chunked\r\n",
            ) + "zz\r\nnot hex\r\n0\r\n\r\n",
        ),
    ];
    for (what, request) in cases {
        let answer = hookwall.raw(request.as_bytes()).await;
        assert_eq!(raw_status(&answer), 400, "{what}: {answer}");
    }
    assert_eq!(upstream.hits(), 0);
}

/// hyper resolves `Content-Length` with `Transfer-Encoding` as RFC 9112 section 6.1 says: the
/// body is read as chunked, the length ignored, and the connection closed after the answer.
/// Whatever the order of the two headers, the upstream sees one request with hookwall's own
/// length, and a smuggled request inside the chunked body never arrives.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_read_as_chunked_then_the_connection_closes() {
    let (upstream, hookwall) = github_proxy().await;
    let mut sent = Vec::new();
    for (i, framing) in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
    ]
    .into_iter()
    .enumerate()
    {
        // Two distinct deliveries, so replay protection does not hold the second back.
        let body = format!(r#"{{"zen":"framing","order":{i}}}"#);
        let sig = github_signature(GITHUB_SECRET, body.as_bytes());
        // A signed chunked body, followed on the same connection by a second request.
        let mut request = raw_head(&sig, framing).into_bytes();
        request.extend(chunked([body.as_bytes()], ""));
        let length = format!("Content-Length: {}\r\n", body.len());
        request.extend((raw_head(&sig, &length) + &body).into_bytes());
        let answer = hookwall.raw(&request).await;
        assert_eq!(raw_status(&answer), 200, "{answer}");
        assert_eq!(
            answer.matches("HTTP/1.1 ").count(),
            1,
            "the connection closes after one answer: {answer}"
        );
        sent.push(body);
    }
    // A smuggling attempt: the length covers a prefix, the chunked body holds a request.
    let smuggled = b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let framing = "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n";
    let mut request = raw_head(&body_signature(), framing).into_bytes();
    request.extend(chunked([&smuggled[..]], ""));
    assert_eq!(raw_status(&hookwall.raw(&request).await), 401);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "one request per connection: {seen:#?}");
    for (s, body) in seen.iter().zip(&sent) {
        assert_eq!(s.uri, "/webhooks/github");
        assert_eq!(s.body, body.as_bytes());
        assert_eq!(s.headers["content-length"], body.len().to_string().as_str());
        assert!(s.headers.get("transfer-encoding").is_none());
    }
}

#[tokio::test]
async fn declared_or_actual_bodies_over_max_body_are_413_and_never_forwarded() {
    let (upstream, hookwall) = github_proxy().await;
    let big = vec![b'a'; 64 * 1024 + 1];
    let sig = github_signature(GITHUB_SECRET, &big);
    // Declared: answered before the body is read, even though none of it is sent.
    let declared = raw_head(&sig, "Content-Length: 10000000\r\n");
    let answer = hookwall.raw(declared.as_bytes()).await;
    assert_eq!(raw_status(&answer), 413, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // With Expect: 100-continue the sender is refused before it is asked for the body.
    let expecting = raw_head(&sig, "Expect: 100-continue\r\nContent-Length: 10000000\r\n");
    let answer = hookwall.raw(expecting.as_bytes()).await;
    assert_eq!(raw_status(&answer), 413, "no 100 Continue first: {answer}");
    // Chunked, so the size is only known while reading.
    let mut request = raw_head(&sig, "Transfer-Encoding: chunked\r\n").into_bytes();
    request.extend(chunked(big.chunks(8192), ""));
    assert_eq!(raw_status(&hookwall.raw(&request).await), 413);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_and_never_forwarded() {
    let settings = "max_body = \"64KiB\"\nbody_timeout = \"300ms\"";
    let (upstream, hookwall) = github_proxy_with(Behaviour::default(), settings).await;
    let mut stream = tokio::net::TcpStream::connect(hookwall.addr())
        .await
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let length = format!("Content-Length: {}\r\n", BODY.len());
    let partial = raw_head(&body_signature(), &length) + "{\"zen\"";
    stream.write_all(partial.as_bytes()).await.unwrap();
    // The rest of the body never comes; hookwall answers once body_timeout has passed.
    let answer = support::read_all(&mut stream).await;
    assert_eq!(raw_status(&answer), 408, "{answer}");
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn a_chunked_signed_body_is_forwarded_with_a_content_length() {
    let (upstream, hookwall) = github_proxy().await;
    let (a, b) = BODY.split_at(10);
    let framing = "Connection: close\r\nTransfer-Encoding: chunked\r\n";
    let mut request = raw_head(&body_signature(), framing).into_bytes();
    request.extend(chunked([a, b], "x-trailer: sneaky\r\n"));
    let answer = hookwall.raw(&request).await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
    let seen = upstream.only();
    assert_eq!(seen.body, BODY);
    assert_eq!(
        seen.headers["content-length"],
        BODY.len().to_string().as_str()
    );
    assert!(seen.headers.get("transfer-encoding").is_none());
    assert!(
        seen.headers.get("x-trailer").is_none(),
        "trailers are not forwarded"
    );
}

#[tokio::test]
async fn upstream_down_is_502() {
    let hookwall = start(&github_config(Upstream::dead_addr().await)).await;
    let res = post_signed(&hookwall, BODY, &[]).await;
    assert_eq!(res.status(), 502);
    assert_eq!(res.body, "bad gateway\n");
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let slow = Behaviour {
        delay: Duration::from_secs(3),
        ..Behaviour::default()
    };
    let (upstream, hookwall) = github_proxy_with(slow, "upstream_timeout = \"300ms\"").await;
    let res = post_signed(&hookwall, BODY, &[]).await;
    assert_eq!(res.status(), 504);
    // It did reach the app (which was merely slow): exactly once.
    assert_eq!(upstream.only().body, BODY);
}

#[tokio::test]
async fn an_http2_request_is_verified_and_forwarded_as_http1() {
    let (upstream, hookwall) = github_proxy().await;
    let mut h2 = hookwall.connect_h2().await;
    let uri = format!("http://{}/webhooks/github?h2=1", hookwall.addr());
    // A POST of BODY carrying `signature`, over HTTP/2.
    let request = |signature: &str| {
        http::Request::post(&uri)
            .header("x-hub-signature-256", signature)
            .body(Full::new(Bytes::from_static(BODY)))
            .unwrap()
    };
    let res = Reply::read(h2.send_request(request(&body_signature())).await.unwrap()).await;
    assert_eq!(res.status(), 200);
    let res = Reply::read(h2.send_request(request("sha256=00")).await.unwrap()).await;
    assert_eq!(res.status(), 401);
    let seen = upstream.only();
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(seen.uri, "/webhooks/github?h2=1");
    assert_eq!(seen.body, BODY);
    assert_eq!(seen.headers["host"], hookwall.addr().to_string().as_str());
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let slow = Behaviour {
        delay: Duration::from_millis(500),
        ..Behaviour::default()
    };
    let (upstream, mut hookwall) = github_proxy_with(slow, MAX_BODY).await;
    let addr = hookwall.addr();
    let mut conn = hookwall.connect_h1().await;
    let req = github_request(addr, &body_signature());
    let in_flight =
        tokio::spawn(async move { Reply::read(conn.send_request(req).await.unwrap()).await });
    // Wait until the request is at the upstream, then ask hookwall to stop.
    eventually(10.0, "the request at the upstream", || upstream.hits() > 0).await;
    let server = hookwall.shutdown();
    let res = in_flight.await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body, "upstream ok\n");
    server.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}

/// The options of the timestamped HMAC route: a rotation list; `X-Signature` holds `v1=` and
/// the base64 HMAC-SHA512 of `{timestamp}.{body}`, `X-Timestamp` the time, a minute either way.
const HMAC_OPTIONS: &str = r#"secret = [{ env = "CUSTOM_SECRET" }, { env = "OLD_SECRET" }]
algorithm = "sha512"
signed_payload = "{timestamp}.{body}"
encoding = "base64"
signature_header = "X-Signature"
signature_prefix = "v1="
timestamp_header = "X-Timestamp"
tolerance = "60s""#;

/// POSTs [`BODY`] to the timestamped HMAC route, signed with `secret` at `ts`; with the
/// timestamp header when `stamped`. Returns the status.
async fn post_orders(hookwall: &Hookwall, secret: &str, ts: &str, stamped: bool) -> u16 {
    let mac = mac512(secret.as_bytes(), &[ts.as_bytes(), b".", BODY]);
    let signature = format!("v1={}", b64(&mac));
    let mut headers = vec![("x-signature", signature.as_str())];
    if stamped {
        headers.push(("x-timestamp", ts));
    }
    hookwall
        .post("/hooks/orders", BODY, &headers)
        .await
        .status()
}

#[tokio::test]
async fn a_timestamped_hmac_route_verifies_and_refuses_stale_deliveries() {
    let upstream = Upstream::start().await;
    let hookwall = start(&prefix_route(
        "/hooks/",
        upstream.addr,
        "hmac",
        HMAC_OPTIONS,
    ))
    .await;
    let now = now();
    let fresh = now.to_string();
    let stale = (now - 600).to_string();
    let future = (now + 600).to_string();
    let custom = support::CUSTOM_SECRET;
    assert_eq!(post_orders(&hookwall, custom, &fresh, true).await, 200);
    assert_eq!(
        post_orders(&hookwall, support::OLD_SECRET, &fresh, true).await,
        200,
        "the old secret of a rotation still verifies"
    );
    for ts in [&stale, &future] {
        let status = post_orders(&hookwall, custom, ts, true).await;
        assert_eq!(status, 401, "timestamp {ts} vs now {now}");
    }
    let status = post_orders(&hookwall, custom, &fresh, false).await;
    assert_eq!(status, 401, "no timestamp header");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|s| s.body == BODY && s.uri == "/hooks/orders"));
    assert_eq!(seen[0].headers["x-hookwall-verified"], "hmac");
}

#[tokio::test]
async fn a_client_that_sends_no_request_is_dropped_after_header_timeout() {
    let settings = "header_timeout = \"300ms\"";
    let (upstream, hookwall) = github_proxy_with(Behaviour::default(), settings).await;
    for partial in [
        &b""[..],
        b"PRI * HTTP/2",
        b"POST /webhooks/github HTTP/1.1\r\nHost: a\r\n",
    ] {
        let mut stream = tokio::net::TcpStream::connect(hookwall.addr())
            .await
            .unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(partial).await.unwrap();
        let mut buf = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "connection still open after {partial:?}");
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn with_hosts_configured_a_foreign_host_is_400_and_never_forwarded() {
    let settings =
        "max_body = \"64KiB\"\nhosts = [\"hooks.example.com\", \"hooks.example.com:8443\"]";
    let (upstream, hookwall) = github_proxy_with(Behaviour::default(), settings).await;
    // A distinct delivery per request, so replay protection plays no part.
    let request = |host: &str| {
        let body = format!(r#"{{"zen":"host","host":"{host}"}}"#);
        let sig = github_signature(GITHUB_SECRET, body.as_bytes());
        format!(
            "POST /webhooks/github HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nx-hub-signature-256: {sig}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let foreign = [
        "evil.example",
        "hooks.example.com:9999",
        "hooks.example.com.evil.example",
        "127.0.0.1",
    ];
    let ours = [
        "hooks.example.com",
        "HOOKS.example.com",
        "hooks.example.com:8443",
    ];
    // Each group's answer, then how many requests have reached the upstream so far.
    for (hosts, status, hits) in [(&foreign[..], 400, 0), (&ours[..], 200, 3)] {
        for host in hosts {
            let answer = hookwall.raw(request(host).as_bytes()).await;
            assert_eq!(raw_status(&answer), status, "{host}: {answer}");
        }
        assert_eq!(upstream.hits(), hits);
    }
}
