//! End-to-end: hookwall in-process in front of a real upstream, both on 127.0.0.1:0. Every
//! test asserts what the upstream saw: the same bytes when verified, nothing after a refusal.

#![allow(clippy::unwrap_used)]

mod flask;
mod presets;
mod redis;
mod replay;
mod sdk;
mod support;

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use support::{
    github_config, github_signature, raw_status, start, Behaviour, Reply, Upstream, GITHUB_SECRET,
};

const BODY: &[u8] = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;

#[tokio::test]
async fn signed_request_reaches_upstream_byte_for_byte_with_the_specified_headers() {
    let upstream = Upstream::start_with(Behaviour {
        status: StatusCode::CREATED,
        body: "created by app\n",
        extra_headers: vec![
            ("x-app", "yes"),
            ("connection", "x-app-private"),
            ("x-app-private", "1"),
            ("keep-alive", "timeout=5"),
        ],
        ..Behaviour::default()
    })
    .await;
    let hookwall = start(&github_config(upstream.addr)).await;
    let sig = github_signature(GITHUB_SECRET, BODY);
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
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
    let good = github_signature(GITHUB_SECRET, BODY);
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
        let res = hookwall.post("/webhooks/github", body, &headers).await;
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
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
    let mut conn = hookwall.connect_h1().await;
    let bad = support::build(
        "POST",
        "/webhooks/github",
        BODY,
        &[("x-hub-signature-256", "sha256=00")],
        hookwall.addr(),
    );
    let res = Reply::read(conn.send_request(bad).await.unwrap()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(upstream.hits(), 0);
    conn.ready()
        .await
        .expect("the connection stays open after a 401");
    let sig = github_signature(GITHUB_SECRET, BODY);
    let good = support::build(
        "POST",
        "/webhooks/github",
        BODY,
        &[("x-hub-signature-256", &sig)],
        hookwall.addr(),
    );
    let res = Reply::read(conn.send_request(good).await.unwrap()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(upstream.only().body, BODY);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
    let sig = github_signature(GITHUB_SECRET, BODY);
    for path in [
        "/",
        "/webhooks/github/",
        "/webhooks/GitHub",
        "/webhooks/github/extra",
        "/webhooks/githu",
    ] {
        let res = hookwall
            .post(path, BODY, &[("x-hub-signature-256", &sig)])
            .await;
        assert_eq!(res.status(), 404, "{path}");
    }
    for method in ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let res = hookwall
            .request(
                method,
                "/webhooks/github",
                b"",
                &[("x-hub-signature-256", &sig)],
            )
            .await;
        assert_eq!(res.status(), 405, "{method}");
        assert_eq!(res.headers["allow"], "POST", "{method}");
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn malformed_targets_hosts_and_chunking_are_400_and_never_forwarded() {
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
    let sig = github_signature(GITHUB_SECRET, BODY);
    let len = BODY.len();
    let body = std::str::from_utf8(BODY).unwrap();
    let signed = |target: &str, host_lines: &str, framing: &str| {
        format!("POST {target} HTTP/1.1\r\n{host_lines}x-hub-signature-256: {sig}\r\n{framing}\r\n")
    };
    let cases = [
        (
            "dot segments",
            signed(
                "/webhooks/x/../github",
                "Host: a\r\n",
                &format!("Content-Length: {len}\r\n"),
            ) + body,
        ),
        (
            "encoded slash",
            signed(
                "/webhooks%2Fgithub",
                "Host: a\r\n",
                &format!("Content-Length: {len}\r\n"),
            ) + body,
        ),
        (
            "encoded dots",
            signed(
                "/webhooks/%2e%2e/webhooks/github",
                "Host: a\r\n",
                &format!("Content-Length: {len}\r\n"),
            ) + body,
        ),
        (
            "double slash",
            signed(
                "//webhooks/github",
                "Host: a\r\n",
                &format!("Content-Length: {len}\r\n"),
            ) + body,
        ),
        (
            "absolute form",
            signed(
                "http://a/webhooks/github",
                "Host: a\r\n",
                &format!("Content-Length: {len}\r\n"),
            ) + body,
        ),
        (
            "missing host",
            signed(
                "/webhooks/github",
                "",
                &format!("Content-Length: {len}\r\n"),
            ) + body,
        ),
        (
            "duplicate host",
            signed(
                "/webhooks/github",
                "Host: a\r\nHost: b\r\n",
                &format!("Content-Length: {len}\r\n"),
            ) + body,
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
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
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
        let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
        // A signed chunked body, followed on the same connection by a second request.
        let request = format!(
            "POST /webhooks/github HTTP/1.1\r\nHost: a\r\nx-hub-signature-256: {sig}\r\n{framing}\r\n{chunked}\
             POST /webhooks/github HTTP/1.1\r\nHost: a\r\nx-hub-signature-256: {sig}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let answer = hookwall.raw(request.as_bytes()).await;
        assert_eq!(raw_status(&answer), 200, "{answer}");
        assert_eq!(
            answer.matches("HTTP/1.1 ").count(),
            1,
            "the connection closes after one answer: {answer}"
        );
        sent.push(body);
    }
    // A smuggling attempt: the length covers a prefix, the chunked body holds a request.
    let sig = github_signature(GITHUB_SECRET, BODY);
    let smuggled = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let request = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: a\r\nx-hub-signature-256: {sig}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
        smuggled.len()
    );
    assert_eq!(raw_status(&hookwall.raw(request.as_bytes()).await), 401);
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
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
    let big = vec![b'a'; 64 * 1024 + 1];
    let sig = github_signature(GITHUB_SECRET, &big);
    // Declared: answered before the body is read, even though none of it is sent.
    let answer = hookwall
        .raw(format!("POST /webhooks/github HTTP/1.1\r\nHost: a\r\nx-hub-signature-256: {sig}\r\nContent-Length: 10000000\r\n\r\n").as_bytes())
        .await;
    assert_eq!(raw_status(&answer), 413, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // With Expect: 100-continue the sender is refused before it is asked for the body.
    let answer = hookwall
        .raw(
            format!("POST /webhooks/github HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nx-hub-signature-256: {sig}\r\nContent-Length: 10000000\r\n\r\n")
                .as_bytes(),
        )
        .await;
    assert_eq!(raw_status(&answer), 413, "no 100 Continue first: {answer}");
    // Chunked, so the size is only known while reading.
    let mut chunked = format!("POST /webhooks/github HTTP/1.1\r\nHost: a\r\nx-hub-signature-256: {sig}\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    for piece in big.chunks(8192) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(raw_status(&hookwall.raw(&chunked).await), 413);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_and_never_forwarded() {
    let upstream = Upstream::start().await;
    let config = github_config(upstream.addr).replace(
        "max_body = \"64KiB\"",
        "max_body = \"64KiB\"\nbody_timeout = \"300ms\"",
    );
    let hookwall = start(&config).await;
    let sig = github_signature(GITHUB_SECRET, BODY);
    let mut stream = tokio::net::TcpStream::connect(hookwall.addr())
        .await
        .unwrap();
    use tokio::io::AsyncWriteExt;
    stream
        .write_all(format!("POST /webhooks/github HTTP/1.1\r\nHost: a\r\nx-hub-signature-256: {sig}\r\nContent-Length: {}\r\n\r\n{{\"zen\"", BODY.len()).as_bytes())
        .await
        .unwrap();
    // The rest of the body never comes; hookwall answers once body_timeout has passed.
    let answer = support::read_all(&mut stream).await;
    assert_eq!(raw_status(&answer), 408, "{answer}");
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn a_chunked_signed_body_is_forwarded_with_a_content_length() {
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
    let sig = github_signature(GITHUB_SECRET, BODY);
    let (a, b) = BODY.split_at(10);
    let mut request = format!("POST /webhooks/github HTTP/1.1\r\nHost: a\r\nConnection: close\r\nx-hub-signature-256: {sig}\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    for piece in [a, b] {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\nx-trailer: sneaky\r\n\r\n");
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
    let dead = Upstream::dead_addr().await;
    let hookwall = start(&github_config(dead)).await;
    let sig = github_signature(GITHUB_SECRET, BODY);
    let res = hookwall
        .post("/webhooks/github", BODY, &[("x-hub-signature-256", &sig)])
        .await;
    assert_eq!(res.status(), 502);
    assert_eq!(res.body, "bad gateway\n");
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let upstream = Upstream::start_with(Behaviour {
        delay: Duration::from_secs(3),
        ..Behaviour::default()
    })
    .await;
    let config = github_config(upstream.addr)
        .replace("max_body = \"64KiB\"", "upstream_timeout = \"300ms\"");
    let hookwall = start(&config).await;
    let sig = github_signature(GITHUB_SECRET, BODY);
    let res = hookwall
        .post("/webhooks/github", BODY, &[("x-hub-signature-256", &sig)])
        .await;
    assert_eq!(res.status(), 504);
    // It did reach the app (which was merely slow): exactly once.
    assert_eq!(upstream.only().body, BODY);
}

#[tokio::test]
async fn an_http2_request_is_verified_and_forwarded_as_http1() {
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
    let mut h2 = hookwall.connect_h2().await;
    let sig = github_signature(GITHUB_SECRET, BODY);
    let uri = format!("http://{}/webhooks/github?h2=1", hookwall.addr());
    let req = http::Request::post(&uri)
        .header("x-hub-signature-256", &sig)
        .body(Full::new(Bytes::from_static(BODY)))
        .unwrap();
    let res = Reply::read(h2.send_request(req).await.unwrap()).await;
    assert_eq!(res.status(), 200);
    let bad = http::Request::post(&uri)
        .header("x-hub-signature-256", "sha256=00")
        .body(Full::new(Bytes::from_static(BODY)))
        .unwrap();
    let res = Reply::read(h2.send_request(bad).await.unwrap()).await;
    assert_eq!(res.status(), 401);
    let seen = upstream.only();
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(seen.uri, "/webhooks/github?h2=1");
    assert_eq!(seen.body, BODY);
    assert_eq!(seen.headers["host"], hookwall.addr().to_string().as_str());
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let upstream = Upstream::start_with(Behaviour {
        delay: Duration::from_millis(500),
        ..Behaviour::default()
    })
    .await;
    let mut hookwall = start(&github_config(upstream.addr)).await;
    let addr = hookwall.addr();
    let sig = github_signature(GITHUB_SECRET, BODY);
    let mut conn = hookwall.connect_h1().await;
    let req = support::build(
        "POST",
        "/webhooks/github",
        BODY,
        &[("x-hub-signature-256", &sig)],
        addr,
    );
    let in_flight =
        tokio::spawn(async move { Reply::read(conn.send_request(req).await.unwrap()).await });
    // Wait until the request is at the upstream, then ask hookwall to stop.
    while upstream.hits() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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

#[tokio::test]
async fn a_timestamped_hmac_route_verifies_and_refuses_stale_deliveries() {
    let upstream = Upstream::start().await;
    let config = format!(
        r#"
[[route]]
path_prefix = "/hooks/"
upstream = "http://{}"
provider = "hmac"
secret = [{{ env = "CUSTOM_SECRET" }}, {{ env = "OLD_SECRET" }}]
signature_header = "X-Signature"
algorithm = "sha512"
encoding = "base64"
signature_prefix = "v1="
signed_payload = "{{timestamp}}.{{body}}"
timestamp_header = "X-Timestamp"
tolerance = "60s"
"#,
        upstream.addr
    );
    let hookwall = start(&config).await;
    use base64::Engine as _;
    use hmac::Mac as _;
    let sign = |secret: &str, ts: &str, body: &[u8]| {
        let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "v1={}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh = now.to_string();
    let stale = (now - 600).to_string();
    let future = (now + 600).to_string();
    let res = hookwall
        .post(
            "/hooks/orders",
            BODY,
            &[
                ("x-signature", &sign(support::CUSTOM_SECRET, &fresh, BODY)),
                ("x-timestamp", &fresh),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = hookwall
        .post(
            "/hooks/orders",
            BODY,
            &[
                ("x-signature", &sign(support::OLD_SECRET, &fresh, BODY)),
                ("x-timestamp", &fresh),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        200,
        "the old secret of a rotation still verifies"
    );
    for ts in [&stale, &future] {
        let res = hookwall
            .post(
                "/hooks/orders",
                BODY,
                &[
                    ("x-signature", &sign(support::CUSTOM_SECRET, ts, BODY)),
                    ("x-timestamp", ts),
                ],
            )
            .await;
        assert_eq!(res.status(), 401, "timestamp {ts} vs now {now}");
    }
    let res = hookwall
        .post(
            "/hooks/orders",
            BODY,
            &[("x-signature", &sign(support::CUSTOM_SECRET, &fresh, BODY))],
        )
        .await;
    assert_eq!(res.status(), 401, "no timestamp header");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|s| s.body == BODY && s.uri == "/hooks/orders"));
    assert_eq!(seen[0].headers["x-hookwall-verified"], "hmac");
}

#[tokio::test]
async fn a_client_that_sends_no_request_is_dropped_after_header_timeout() {
    let upstream = Upstream::start().await;
    let config =
        github_config(upstream.addr).replace("max_body = \"64KiB\"", "header_timeout = \"300ms\"");
    let hookwall = start(&config).await;
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
    let upstream = Upstream::start().await;
    let config = github_config(upstream.addr).replace(
        "max_body = \"64KiB\"",
        "max_body = \"64KiB\"\nhosts = [\"hooks.example.com\", \"hooks.example.com:8443\"]",
    );
    let hookwall = start(&config).await;
    // A distinct delivery per request, so replay protection plays no part.
    let request = |host: &str| {
        let body = format!(r#"{{"zen":"host","host":"{host}"}}"#);
        let sig = github_signature(GITHUB_SECRET, body.as_bytes());
        format!(
            "POST /webhooks/github HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nx-hub-signature-256: {sig}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    for foreign in [
        "evil.example",
        "hooks.example.com:9999",
        "hooks.example.com.evil.example",
        "127.0.0.1",
    ] {
        let answer = hookwall.raw(request(foreign).as_bytes()).await;
        assert_eq!(raw_status(&answer), 400, "{foreign}: {answer}");
    }
    assert_eq!(upstream.hits(), 0);
    for ours in [
        "hooks.example.com",
        "HOOKS.example.com",
        "hooks.example.com:8443",
    ] {
        let answer = hookwall.raw(request(ours).as_bytes()).await;
        assert_eq!(raw_status(&answer), 200, "{ours}: {answer}");
    }
    assert_eq!(upstream.hits(), 3);
}
