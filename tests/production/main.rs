//! Production features end to end: the admin listener's metrics, health and readiness;
//! reload (in-process and by SIGHUP to the real binary); shadow mode; a unix-socket upstream
//! served by a real gunicorn; the unix-socket and TLS listeners; https upstreams with a test
//! CA; the connection limit; the keep-alive idle timeout; request ids. Every test asserts
//! what the upstream saw as well as what the client got, and every wait is bounded.

#![allow(clippy::unwrap_used)]

mod support;
mod watch;

use std::time::{Duration, Instant};

use hookwall::config::Listen;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------
// Metrics, health, readiness
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_match_a_known_mix_of_traffic_exactly() {
    let upstream = Upstream::start_with(Behaviour {
        status: http::StatusCode::ACCEPTED,
        body: "queued\n",
        ..Behaviour::default()
    })
    .await;
    let origin = http_origin(upstream.addr);
    // A rotation list: slot 0 is the new secret, slot 1 the old one.
    let rotation = r#"[{ file = "a.secret" }, { file = "old.secret" }]"#;
    let stripe = r#"secret = { file = "stripe.secret" }"#;
    let (_dir, hookwall) = start_text(&routes_config(&[
        &github_route("github", GITHUB, &origin, rotation, ""),
        &provider_route("stripe", "/webhooks/stripe", &origin, stripe),
    ]))
    .await;

    // 3 verified: two with the new secret (slot 0), one with the old (slot 1); the last one
    // is slow, to see it in flight.
    for (i, secret) in [SECRET_A, SECRET_A].iter().enumerate() {
        let body = format!(r#"{{"n":{i}}}"#);
        let res = post_signed(&hookwall, GITHUB, secret, body.as_bytes()).await;
        assert_eq!(res.status(), 202, "{}", res.text());
        assert_eq!(res.text(), "queued\n");
    }
    let slow = spawn_slow_post(&hookwall, SECRET_OLD, 600);
    eventually(5.0, "the slow request to reach the upstream", || {
        upstream.hits() == 3
    })
    .await;
    let during = hookwall.scrape().await;
    assert_eq!(during.get("hookwall_in_flight_requests", &[]), Some(1.0));
    let res = within(5.0, "the slow request", slow).await.unwrap();
    assert_eq!(res.status(), 202);

    // 2 unsigned (one per route), 1 bad signature, 1 unknown path, 1 wrong method.
    let unsigned = hookwall.post(GITHUB, BODY, &[]).await;
    assert_eq!(unsigned.status(), 401);
    let unsigned = hookwall.post("/webhooks/stripe", BODY, &[]).await;
    assert_eq!(unsigned.status(), 401);
    let bad = post_signed(&hookwall, GITHUB, "not-the-secret-at-all", BODY).await;
    assert_eq!(bad.status(), 401);
    let missing = hookwall.post("/webhooks/nope", BODY, &[]).await;
    assert_eq!(missing.status(), 404);
    let wrong = hookwall.request("GET", GITHUB, b"", &[]).await;
    assert_eq!(wrong.status(), 405);

    // The upstream saw the three verified requests and nothing else.
    let seen = upstream.seen();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for s in &seen {
        assert_eq!(s.uri, GITHUB);
        assert_eq!(s.header("x-hookwall-verified"), Some("github"));
    }
    assert_eq!(seen[2].body, BODY);

    let res = hookwall.admin_get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        res.headers
    );
    let text = res.text();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let scrape = Scrape::parse(&text);

    assert_eq!(
        scrape.family("hookwall_requests_total"),
        expect(&[
            (&github_row("forwarded", ""), 3.0),
            (&github_row("rejected", "missing_signature"), 1.0),
            (&github_row("rejected", "signature_mismatch"), 1.0),
            (&github_row("rejected", "method_not_allowed"), 1.0),
            (
                &request_labels("stripe", "stripe", "rejected", "missing_signature"),
                1.0
            ),
            (&request_labels("-", "-", "rejected", "no_route"), 1.0),
        ]),
        "{text}"
    );
    assert_eq!(
        scrape.family("hookwall_upstream_responses_total"),
        expect(&[(&[("route", "github"), ("code", "202")], 3.0)]),
        "{text}"
    );
    assert_eq!(
        scrape.family("hookwall_secret_slot_matches_total"),
        expect(&[
            (&[("route", "github"), ("slot", "0")], 2.0),
            (&[("route", "github"), ("slot", "1")], 1.0),
        ]),
        "{text}"
    );
    assert_eq!(
        scrape.family("hookwall_build_info"),
        expect(&[(&[("version", env!("CARGO_PKG_VERSION"))], 1.0)]),
        "{text}"
    );
    assert_eq!(scrape.get("hookwall_in_flight_requests", &[]), Some(0.0));
    assert!(reloads(&scrape).is_empty(), "no reload happened: {text}");
    // Histograms: one observation per request, by route; the +Inf bucket equals the count.
    assert_eq!(
        scrape.family("hookwall_request_duration_seconds_count"),
        expect(&[
            (&[("route", "github")], 6.0),
            (&[("route", "stripe")], 1.0),
            (&[("route", "-")], 1.0),
        ]),
        "{text}"
    );
    assert_eq!(
        scrape.family("hookwall_upstream_duration_seconds_count"),
        expect(&[(&[("route", "github")], 3.0)]),
        "{text}"
    );
    for (family, route, count) in [
        ("hookwall_request_duration_seconds", "github", 6.0),
        ("hookwall_request_duration_seconds", "-", 1.0),
        ("hookwall_upstream_duration_seconds", "github", 3.0),
    ] {
        assert_eq!(
            scrape.get(
                &format!("{family}_bucket"),
                &[("route", route), ("le", "+Inf")]
            ),
            Some(count),
            "{family} {route}"
        );
        let buckets: Vec<f64> = scrape
            .family(&format!("{family}_bucket"))
            .into_iter()
            .filter(|(l, _)| l["route"] == route)
            .map(|(_, v)| v)
            .collect();
        assert_eq!(buckets.len(), 17, "16 finite buckets and +Inf: {text}");
    }
    // The slow request alone took 0.6 s at the upstream.
    let upstream_sum = scrape
        .get(
            "hookwall_upstream_duration_seconds_sum",
            &[("route", "github")],
        )
        .unwrap();
    assert!(upstream_sum >= 0.6, "{upstream_sum}");
}

#[tokio::test]
async fn healthz_readyz_and_unknown_admin_paths() {
    let upstream = Upstream::start().await;
    let (_dir, hookwall) = start_github(&http_origin(upstream.addr), "").await;
    let res = hookwall.admin_get("/healthz").await;
    assert_eq!((res.status(), res.text().as_str()), (200, "ok\n"));
    let res = hookwall.admin_get("/readyz").await;
    assert_eq!((res.status(), res.text().as_str()), (200, "ready\n"));
    for path in ["/nope", "/metrics/x", GITHUB] {
        assert_eq!(hookwall.admin_get(path).await.status(), 404, "{path}");
    }
    // `/` is the inspector page, with the headers that keep script and framing out.
    let page = hookwall.admin_get("/").await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    // The admin listener is not the proxy: nothing went upstream.
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn readyz_with_upstream_checks_names_the_route_whose_upstream_is_down() {
    let up = Upstream::start().await;
    // `down` is bound but not listening: connections are refused until it listens.
    let (socket, down) = Upstream::reserved_port();
    let (_dir, hookwall) = start_text(&format!(
        "{}[admin]\nlisten = \"127.0.0.1:9\"\nreadyz_upstreams = true\n{}{}",
        server(""),
        github_route("app", "/webhooks/app", &http_origin(up.addr), FILE_A, ""),
        github_route(
            "billing",
            "/webhooks/billing",
            &http_origin(down),
            FILE_A,
            ""
        ),
    ))
    .await;
    let res = hookwall.admin_get("/readyz").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.text(), "upstreams unreachable: billing\n");
    // Liveness does not depend on upstreams.
    assert_eq!(hookwall.admin_get("/healthz").await.status(), 200);

    let listener = socket.listen(16).unwrap();
    let billing = Upstream::on(listener, Behaviour::default(), None);
    let res = hookwall.admin_get("/readyz").await;
    assert_eq!((res.status(), res.text().as_str()), (200, "ready\n"));
    // A probe is a connection, not a request: neither upstream saw one.
    assert_eq!((up.hits(), billing.hits()), (0, 0));
}

// ---------------------------------------------------------------------------------------
// Reload
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn reload_swaps_secret_and_adds_route_without_failing_the_request_in_flight() {
    let upstream = Upstream::start().await;
    let origin = http_origin(upstream.addr);
    let (dir, hookwall) = start_github(&origin, "").await;

    // A request verified with the old secret, held by a slow upstream across the reload.
    let in_flight = spawn_slow_post(&hookwall, SECRET_A, 800);
    eventually(5.0, "the slow request to reach the upstream", || {
        upstream.hits() == 1
    })
    .await;

    write_config(
        &dir,
        &routes_config(&[&github_and_new(&origin, FILE_B, FILE_A)]),
    );
    assert!(hookwall.reload(), "a valid config reloads");
    assert!(
        !in_flight.is_finished(),
        "the slow request is still in flight"
    );

    let old = post_signed(&hookwall, GITHUB, SECRET_A, b"after").await;
    assert_eq!(old.status(), 401, "the old secret no longer verifies");
    let new = post_signed(&hookwall, GITHUB, SECRET_B, b"after-b").await;
    assert_eq!(new.status(), 200, "the new secret verifies");
    let added = post_signed(&hookwall, "/webhooks/new", SECRET_A, b"added").await;
    assert_eq!(added.status(), 200, "the new route serves");

    let res = within(5.0, "the request in flight", in_flight)
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the reload did not fail it");
    assert_eq!(res.text(), "upstream ok\n");

    let seen: Vec<(String, String)> = upstream
        .seen()
        .into_iter()
        .map(|s| (s.uri, String::from_utf8_lossy(&s.body).into_owned()))
        .collect();
    assert_eq!(
        seen,
        [
            (GITHUB.into(), String::from_utf8_lossy(BODY).into()),
            (GITHUB.into(), "after-b".into()),
            ("/webhooks/new".into(), "added".into()),
        ]
    );
    let scrape = hookwall.scrape().await;
    assert_eq!(reloads(&scrape), expect(&[(&[("result", "ok")], 1.0)]));
}

#[tokio::test]
async fn a_broken_reload_keeps_the_old_config_and_is_counted() {
    let upstream = Upstream::start().await;
    let origin = http_origin(upstream.addr);
    let (dir, hookwall) = start_github(&origin, "").await;

    // A syntax error, then a valid file whose new secret file does not exist.
    write_config(&dir, &format!("{}\n[[route]\n", github_config(&origin, "")));
    assert!(!hookwall.reload());
    let missing = r#"{ file = "missing.secret" }"#;
    write_config(
        &dir,
        &routes_config(&[&github_and_new(&origin, missing, FILE_A)]),
    );
    assert!(!hookwall.reload());

    let res = post_signed(&hookwall, GITHUB, SECRET_A, BODY).await;
    assert_eq!(res.status(), 200, "the old config keeps serving");
    let res = post_signed(&hookwall, "/webhooks/new", SECRET_A, BODY).await;
    assert_eq!(res.status(), 404, "nothing of the broken config applies");
    assert_eq!(upstream.hits(), 1);
    assert_eq!(upstream.last().uri, GITHUB);

    let scrape = hookwall.scrape().await;
    assert_eq!(reloads(&scrape), expect(&[(&[("result", "error")], 2.0)]));
}

#[tokio::test]
async fn sighup_reloads_the_real_binary_and_sigterm_stops_it() {
    let upstream = Upstream::start().await;
    let dir = secrets_dir();
    let origin = http_origin(upstream.addr);
    // Unix sockets for both listeners: no port to race for.
    let public = dir.join("hw.sock");
    let admin = dir.join("admin.sock");
    // Watching off: the SIGHUP alone reloads (one reload counted).
    let head = format!(
        "{}watch = false\n[admin]\nlisten = \"unix:{}\"\n",
        unix_server(&public),
        admin.display()
    );
    let config = write_config(&dir, &format!("{head}{}", github(&origin)));
    let mut hookwall = start_binary(&config, &public, &[]).await;
    wait_for_socket(&admin, 10.0, "hookwall's admin listener").await;

    let res = post_signed_unix(&public, GITHUB, SECRET_A, BODY).await;
    assert_eq!(res.status(), 200);

    write_config(
        &dir,
        &format!("{head}{}", github_and_new(&origin, FILE_B, FILE_B)),
    );
    hookwall.signal("HUP");
    let line = hookwall.wait_for_line(10.0, "config reloaded").await;
    assert!(line.contains("routes=2"), "{line}");

    let res = post_signed_unix(&public, GITHUB, SECRET_A, BODY).await;
    assert_eq!(res.status(), 401, "the old secret is gone");
    // Another delivery: replay protection keys on the signed message, so BODY again, even
    // signed with the new secret, would be a duplicate of the first.
    let res = post_signed_unix(&public, GITHUB, SECRET_B, b"after reload").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("x-hookwall-duplicate"), None);
    let res = post_signed_unix(&public, "/webhooks/new", SECRET_B, BODY).await;
    assert_eq!(res.status(), 200);
    let uris: Vec<String> = upstream.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(uris, [GITHUB, GITHUB, "/webhooks/new"]);
    // Unix peers get no X-Forwarded-For.
    assert_eq!(upstream.last().header("x-forwarded-for"), None);

    // The binary's own admin listener counts the reload.
    let metrics = request_unix(&admin, "GET", "/metrics", b"", &[]).await;
    let scrape = Scrape::parse(&metrics.text());
    assert_eq!(reloads(&scrape), expect(&[(&[("result", "ok")], 1.0)]));

    hookwall.signal("TERM");
    let status = hookwall.wait(10.0).await;
    assert!(status.success(), "{status:?}: {:#?}", hookwall.stderr());
    let log = hookwall.stderr().join("\n");
    assert!(log.contains("stop requested"), "{log}");
    assert!(
        !public.exists() && !admin.exists(),
        "sockets removed on exit"
    );
}

// ---------------------------------------------------------------------------------------
// Shadow mode
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn shadow_mode_forwards_unverified_requests_unmarked_and_counts_them() {
    let upstream = Upstream::start().await;
    let shadow = github_route(
        "github",
        GITHUB,
        &http_origin(upstream.addr),
        FILE_A,
        "enforce = false",
    );
    let (_dir, hookwall) = start_text(&routes_config(&[&shadow])).await;

    let res = hookwall.post(GITHUB, b"unsigned", &[]).await;
    assert_eq!(
        res.status(),
        200,
        "shadow mode forwards an unsigned request"
    );
    let forged = github_signature("a-wrong-secret-value", b"forged");
    let res = hookwall
        .post(
            GITHUB,
            b"forged",
            &[
                ("x-hub-signature-256", &forged),
                ("x-hookwall-verified", "github"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = post_signed(&hookwall, GITHUB, SECRET_A, b"signed").await;
    assert_eq!(res.status(), 200);

    let seen = upstream.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].body, "unsigned");
    assert_eq!(seen[0].header("x-hookwall-verified"), None);
    assert_eq!(seen[1].body, "forged");
    assert_eq!(
        seen[1].header("x-hookwall-verified"),
        None,
        "a forged marker is stripped, and none is added"
    );
    assert_eq!(seen[2].body, "signed");
    assert_eq!(seen[2].header("x-hookwall-verified"), Some("github"));

    let scrape = hookwall.scrape().await;
    let requests = expect(&[
        (&github_row("shadow", "missing_signature"), 1.0),
        (&github_row("shadow", "signature_mismatch"), 1.0),
        (&github_row("forwarded", ""), 1.0),
    ]);
    assert_eq!(scrape.family("hookwall_requests_total"), requests);
    assert_eq!(
        scrape.family("hookwall_upstream_responses_total"),
        expect(&[(&[("route", "github"), ("code", "200")], 3.0)])
    );
    assert_eq!(
        scrape.family("hookwall_secret_slot_matches_total"),
        expect(&[(&[("route", "github"), ("slot", "0")], 1.0)])
    );
}

#[tokio::test]
async fn check_says_which_routes_are_in_shadow_mode() {
    let dir = secrets_dir();
    let upstream = "http://127.0.0.1:5000";
    let trial = github_route(
        "trial",
        "/webhooks/trial",
        upstream,
        FILE_A,
        "enforce = false",
    );
    let config = write_config(&dir, &routes_config(&[&trial, &github(upstream)]));
    let out = within(10.0, "hookwall check", cli("check", &config).output())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shadow = stdout
        .lines()
        .find(|l| l.starts_with("shadow mode"))
        .unwrap_or_else(|| panic!("check does not mention shadow mode:\n{stdout}"));
    assert!(shadow.contains("enforce = false"), "{shadow}");
    assert!(
        shadow.ends_with(": trial"),
        "only the shadow route: {shadow}"
    );
}

// ---------------------------------------------------------------------------------------
// Unix sockets
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn gunicorn_on_a_unix_socket_gets_only_verified_requests() {
    let dir = secrets_dir();
    let app = dir.join("app.sock");
    let _gunicorn = start_gunicorn(&app).await;
    let origin = format!("unix:{}", app.display());
    let hookwall = start(&dir, &github_config(&origin, "")).await;

    let res = hookwall.post(GITHUB, BODY, &[]).await;
    assert_eq!(res.status(), 401);
    let res = post_signed(&hookwall, GITHUB, SECRET_B, BODY).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        flask_count(&app).await,
        0,
        "refused requests never reach Flask"
    );

    let res = hookwall
        .post(
            "/webhooks/github?delivery=1",
            BODY,
            &[
                ("x-hub-signature-256", &github_signature(SECRET_A, BODY)),
                ("content-type", "application/json"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text());
    let answer: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(BODY))
    };
    assert_eq!(answer["status"], "processed");
    assert_eq!(answer["route"], "github");
    assert_eq!(
        answer["sha256"],
        digest.as_str(),
        "Flask got the signed bytes"
    );
    assert_eq!(answer["bytes"], BODY.len());
    assert_eq!(answer["verified_by"], "github");
    assert_eq!(answer["raw_uri"], "/webhooks/github?delivery=1");
    assert_eq!(flask_count(&app).await, 1);
}

#[tokio::test]
async fn unix_socket_listener_serves_and_removes_its_socket_on_shutdown() {
    let upstream = Upstream::start().await;
    let dir = secrets_dir();
    let socket = dir.join("hw.sock");
    // A leftover socket file from a process that is gone is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let config = write_config(
        &dir,
        &unix_github_config(&socket, &http_origin(upstream.addr)),
    );
    let mut hookwall = Hookwall::from_file(&config).await;
    assert!(hookwall.local_addr().is_none());
    let listen = hookwall::config::load(&config).unwrap().server.listen;
    assert_eq!(listen, Listen::Unix(socket.clone()));

    let res = post_signed_unix(&socket, GITHUB, SECRET_A, BODY).await;
    assert_eq!(res.status(), 200);
    let res = post_unix(&socket, GITHUB, b"unsigned", &[]).await;
    assert_eq!(res.status(), 401);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, BODY);
    assert_eq!(seen[0].header("x-hookwall-verified"), Some("github"));
    assert_eq!(seen[0].header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        seen[0].header("x-forwarded-for"),
        None,
        "no address to forward"
    );
    assert_eq!(seen[0].header("host"), Some("hookwall.sock"));

    hookwall.stop().await;
    assert!(
        !socket.exists(),
        "the socket file is removed after shutdown"
    );
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tls_listener_serves_trusting_clients_refuses_others_and_reloads_its_certificate() {
    let tls = TlsSetup::new().await;
    let hookwall = tls.start(TLS).await;
    let addr = hookwall.addr();

    assert_eq!(
        post_tls(&tls.ca.client(), addr, BODY).await,
        (200, tls.leaf.der.clone())
    );
    let seen = tls.upstream.only();
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert_eq!(seen.header("x-hookwall-verified"), Some("github"));
    assert_eq!(seen.body, BODY);

    // A client that does not trust the CA fails the handshake; nothing goes upstream.
    let stranger = TestCa::new("some other CA");
    let err = tls_connect(&stranger.client(), addr)
        .await
        .expect_err("an untrusted certificate fails the handshake");
    assert!(
        err.to_string().contains("UnknownIssuer"),
        "unexpected handshake error: {err}"
    );
    // Plain HTTP on the TLS port gets no HTTP answer.
    assert_eq!(
        plain_answer(addr, &raw_request(GITHUB, BODY, &[])).await,
        None
    );
    assert_eq!(tls.upstream.hits(), 1);

    // A renewed certificate (same paths, new contents) applies to new connections after a
    // reload; a connection made before keeps working.
    let held = tls_connect(&tls.ca.client(), addr).await.unwrap();
    let second = tls
        .ca
        .leaf(&["localhost", "127.0.0.1", "renewed.hookwall.test"]);
    install_leaf(&tls.dir, &second);
    assert!(hookwall.reload());
    assert_eq!(
        post_tls(&tls.ca.client(), addr, b"renewed").await,
        (200, second.der.clone())
    );
    assert_ne!(tls.leaf.der, second.der);
    assert_eq!(peer_cert(&held), tls.leaf.der);
    assert_eq!(post_tls_on(held, b"held").await.status(), 200);
    assert_eq!(tls.upstream.bodies(), [BODY, b"renewed", b"held"]);
}

#[tokio::test]
async fn https_upstream_is_verified_against_upstream_ca_and_refused_without_it() {
    let ca = TestCa::new("upstream test CA");
    let leaf = ca.leaf(&["127.0.0.1", "localhost"]);
    let tls_upstream = Behaviour {
        body: "tls upstream ok\n",
        ..Behaviour::default()
    };
    let upstream = Upstream::start_tls(tls_upstream, Some(leaf.acceptor())).await;
    let dir = secrets_dir();
    dir.write("upstream-ca.pem", &ca.pem());
    let origin = format!("https://{}", upstream.addr);
    let ca_file = "upstream_ca = \"upstream-ca.pem\"";
    let trusted = github_route("trusted", "/webhooks/trusted", &origin, FILE_A, ca_file);
    let platform = github_route("platform", "/webhooks/platform", &origin, FILE_A, "");
    let hookwall = start(&dir, &routes_config(&[&trusted, &platform])).await;

    let res = post_signed(&hookwall, "/webhooks/trusted", SECRET_A, BODY).await;
    assert_eq!(res.status(), 200, "{}", res.text());
    assert_eq!(res.text(), "tls upstream ok\n");
    let seen = upstream.only();
    assert_eq!(seen.uri, "/webhooks/trusted");
    assert_eq!(seen.body, BODY);
    assert_eq!(seen.header("x-hookwall-verified"), Some("github"));

    // The platform's roots do not hold the test CA: the certificate is not trusted.
    let res = post_signed(&hookwall, "/webhooks/platform", SECRET_A, BODY).await;
    assert_eq!(res.status(), 502);
    assert_eq!(res.text(), "bad gateway\n");
    assert_eq!(
        upstream.hits(),
        1,
        "no request crossed an untrusted TLS session"
    );

    let scrape = Scrape::parse(&hookwall.proxy().metrics().encode());
    let unreachable = request_labels(
        "platform",
        "github",
        "upstream_error",
        "upstream_unreachable",
    );
    assert_eq!(
        scrape.get("hookwall_requests_total", &unreachable),
        Some(1.0)
    );
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn max_connections_holds_the_third_connection_until_one_closes() {
    let upstream = Upstream::start().await;
    let (_dir, hookwall) = start_github(&http_origin(upstream.addr), "max_connections = 2").await;

    let mut first = hookwall.connect().await;
    let mut second = hookwall.connect().await;
    assert_eq!(exchange(&mut first, &raw_signed(b"one", &[])).await.0, 200);
    assert_eq!(exchange(&mut second, &raw_signed(b"two", &[])).await.0, 200);

    // The kernel completes the third connection, but hookwall does not serve it.
    let mut third = hookwall.connect().await;
    third.write_all(&raw_signed(b"three", &[])).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(700), read_response(&mut third)).await;
    assert!(early.is_err(), "served beyond max_connections: {early:?}");
    assert_eq!(upstream.hits(), 2);

    // The held connections still work.
    let again = exchange(&mut second, &raw_signed(b"two again", &[])).await;
    assert_eq!(again.0, 200);

    drop(first);
    let started = Instant::now();
    let answer = within(
        5.0,
        "the third connection to be served",
        read_response(&mut third),
    )
    .await
    .expect("an answer");
    assert_eq!(answer.0, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        upstream.bodies(),
        [&b"one"[..], b"two", b"two again", b"three"]
    );
}

#[tokio::test]
async fn keepalive_timeout_closes_idle_connections_but_not_busy_ones() {
    let upstream = Upstream::start().await;
    let (_dir, hookwall) =
        start_github(&http_origin(upstream.addr), "keepalive_timeout = \"300ms\"").await;

    // Idle after a request: closed after about the keep-alive timeout.
    let mut idle = hookwall.connect().await;
    assert_eq!(exchange(&mut idle, &raw_signed(b"idle", &[])).await.0, 200);
    let idle_close = "an idle keep-alive connection is closed";
    assert_closes_not_before(&mut idle, Duration::from_millis(200), idle_close).await;

    // Busy: a request waiting 1.2 s on the upstream, four times the timeout, completes; the
    // connection then serves another request before going idle.
    let mut busy = hookwall.connect().await;
    let since = Instant::now();
    let slow = raw_signed(b"slow", &[(DELAY_HEADER, "1200")]);
    let (status, body) = exchange(&mut busy, &slow).await;
    assert_eq!((status, body.as_str()), (200, "upstream ok\n"));
    assert!(since.elapsed() >= Duration::from_millis(1200));
    assert_eq!(exchange(&mut busy, &raw_signed(b"next", &[])).await.0, 200);
    assert!(closed_after(&mut busy, 3.0).await.is_some());

    assert_eq!(upstream.bodies(), [&b"idle"[..], b"slow", b"next"]);
}

// ---------------------------------------------------------------------------------------
// Request ids
// ---------------------------------------------------------------------------------------

/// Whether `id` looks like one hookwall generated: 32 lowercase hex digits.
fn is_generated_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[tokio::test]
async fn request_ids_are_kept_when_well_formed_else_generated_and_logged() {
    // The real binary, for its real log lines (JSON, one object per line on stderr).
    let upstream = Upstream::start().await;
    let dir = secrets_dir();
    let socket = dir.join("hw.sock");
    let config = write_config(
        &dir,
        &unix_github_config(&socket, &http_origin(upstream.addr)),
    );
    let hookwall = start_binary(&config, &socket, &["--log-format", "json"]).await;
    // Each request has a body of its own: an identical signed copy would be a duplicate
    // delivery.
    let sent = std::cell::Cell::new(0);
    let post = |id: Option<&'static str>| {
        sent.set(sent.get() + 1);
        let body = format!(r#"{{"delivery":{}}}"#, sent.get());
        let socket = &socket;
        async move {
            let signature = github_signature(SECRET_A, body.as_bytes());
            let mut headers = vec![("x-hub-signature-256", signature.as_str())];
            if let Some(id) = id {
                headers.push(("x-request-id", id));
            }
            post_unix(socket, GITHUB, body.as_bytes(), &headers).await
        }
    };

    // Well-formed: forwarded and echoed unchanged.
    let kept = "req-2024.06:abc_DEF-123";
    let res = post(Some(kept)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("x-request-id"), Some(kept));
    assert_eq!(upstream.last().header("x-request-id"), Some(kept));

    // Malformed (a space, a quote, markup, too long): replaced by a generated one, the same
    // upstream and in the answer.
    let long: &'static str = "a".repeat(129).leak();
    let mut generated = Vec::new();
    for bad in ["two words", "id\"quoted", "<script>", long] {
        let res = post(Some(bad)).await;
        assert_eq!(res.status(), 200);
        let id = res.header("x-request-id").unwrap().to_owned();
        assert!(is_generated_id(&id), "{bad:?} -> {id:?}");
        assert_eq!(upstream.last().header("x-request-id"), Some(id.as_str()));
        generated.push(id);
    }
    // Absent: generated.
    let res = post(None).await;
    let absent = res.header("x-request-id").unwrap().to_owned();
    assert!(is_generated_id(&absent), "{absent:?}");
    assert_eq!(
        upstream.last().header("x-request-id"),
        Some(absent.as_str())
    );
    generated.push(absent.clone());
    let mut unique = generated.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), generated.len(), "ids repeat: {generated:?}");

    // A rejected request gets an id too, and the upstream never sees it.
    let res = post_unix(&socket, GITHUB, BODY, &[("x-request-id", "rejected-1")]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.header("x-request-id"), Some("rejected-1"));
    assert_eq!(upstream.hits(), 6);

    // Each id is on its request's log line.
    let requests = || -> Vec<serde_json::Value> {
        hookwall
            .stderr()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["target"] == "hookwall::request")
            .collect()
    };
    eventually(5.0, "seven request log lines", || requests().len() == 7).await;
    let lines = requests();
    let line_for = |id: &str| {
        lines
            .iter()
            .find(|l| l["request_id"] == id)
            .unwrap_or_else(|| panic!("no log line with request_id {id}: {lines:#?}"))
            .clone()
    };
    let line = line_for(kept);
    assert_eq!(line["message"], "forwarded");
    assert_eq!(line["route"], "github");
    assert_eq!(line["status"], 200);
    for id in &generated {
        assert_eq!(line_for(id)["message"], "forwarded");
    }
    let line = line_for("rejected-1");
    assert_eq!(line["message"], "rejected");
    assert_eq!(line["reason"], "missing_signature");
    // The malformed values themselves are never logged.
    let text = hookwall.stderr().join("\n");
    assert!(!text.contains("script") && !text.contains("two words") && !text.contains(long));
}

// ---------------------------------------------------------------------------------------
// Regressions for the fixes from review
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn keepalive_does_not_cut_a_response_body_that_pauses_then_closes_the_idle_connection() {
    // The upstream sends its head and half the body, waits four times the keep-alive
    // timeout, then sends the rest.
    let upstream = ScriptedUpstream::start(
        vec![
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nhello",
            b"world",
        ],
        Duration::from_millis(1200),
    )
    .await;
    let (_dir, hookwall) =
        start_github(&http_origin(upstream.addr), "keepalive_timeout = \"300ms\"").await;

    let mut stream = hookwall.connect().await;
    let since = Instant::now();
    stream.write_all(&raw_signed(BODY, &[])).await.unwrap();
    let answer = within(5.0, "the paused response", read_response(&mut stream)).await;
    let took = since.elapsed();
    assert_eq!(
        answer,
        Some((200, "helloworld".to_owned())),
        "the whole body arrives although it paused longer than keepalive_timeout"
    );
    assert!(took >= Duration::from_millis(1200), "{took:?}");
    assert_eq!(upstream.bodies(), [BODY]);

    // With the body sent, the connection is idle: the keep-alive timeout closes it.
    let idle_close = "the idle connection is closed after the body";
    assert_closes_not_before(&mut stream, Duration::from_millis(200), idle_close).await;
}

#[tokio::test]
async fn http2_idle_connection_is_closed_despite_pings_but_not_with_a_request_in_flight() {
    let upstream = Upstream::start().await;
    let (_dir, hookwall) =
        start_github(&http_origin(upstream.addr), "keepalive_timeout = \"500ms\"").await;
    let addr = hookwall.addr();
    let uri = format!("http://{addr}{GITHUB}");
    let request = |body: &'static [u8], extra: Option<(&str, &str)>| {
        let mut req = http::Request::post(&uri)
            .header("x-hub-signature-256", github_signature(SECRET_A, body));
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        req.body(http_body_util::Full::new(bytes::Bytes::from_static(body)))
            .unwrap()
    };

    // One request, then idle; the client pings every 100 ms and answers hookwall's pings.
    let (mut idle, idle_conn) = h2_connect(addr, Duration::from_millis(100)).await;
    let res = within(
        5.0,
        "an HTTP/2 answer",
        idle.send_request(request(b"idle", None)),
    )
    .await
    .unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(Reply::read(res).await.status(), 200);
    let since = Instant::now();
    let _ = within(
        3.0,
        "hookwall to close the idle HTTP/2 connection (pings are not requests)",
        idle_conn,
    )
    .await;
    let after = since.elapsed();
    assert!(
        after >= Duration::from_millis(250),
        "closed too early: {after:?}"
    );
    assert!(idle.is_closed());

    // A request the upstream holds for three times the timeout is not cut.
    let (mut busy, busy_conn) = h2_connect(addr, Duration::from_millis(100)).await;
    let since = Instant::now();
    let res = within(
        5.0,
        "the slow HTTP/2 answer",
        busy.send_request(request(b"slow", Some((DELAY_HEADER, "1500")))),
    )
    .await
    .expect("the connection stays open while a request is in flight");
    let res = Reply::read(res).await;
    assert_eq!((res.status(), res.text().as_str()), (200, "upstream ok\n"));
    assert!(since.elapsed() >= Duration::from_millis(1500));
    // Then it is idle, and closed in turn.
    let _ = within(
        3.0,
        "the HTTP/2 connection to close after its request",
        busy_conn,
    )
    .await;
    drop((idle, busy));

    assert_eq!(upstream.bodies(), [&b"idle"[..], b"slow"]);
}

#[tokio::test]
async fn reload_cannot_turn_tls_on_for_a_plain_listener() {
    let tls = TlsSetup::new().await;
    let hookwall = tls.start("").await;
    let addr = hookwall.addr();
    // Serving plain HTTP before the reload.
    assert_eq!(
        post_signed(&hookwall, GITHUB, SECRET_A, b"before")
            .await
            .status(),
        200
    );

    write_config(&tls.dir, &github_config(&tls.origin, TLS));
    assert!(hookwall.reload(), "the config with TLS is valid");

    // New connections still speak plain HTTP, and say so upstream.
    let res = post_signed(&hookwall, GITHUB, SECRET_A, b"after").await;
    assert_eq!(res.status(), 200, "{}", res.text());
    // A TLS client finds no TLS server.
    assert!(
        tls_connect(&tls.ca.client(), addr).await.is_err(),
        "a plain listener does not start TLS after a reload"
    );
    assert_eq!(
        bodies_and_proto(&tls.upstream.seen()),
        [(&b"before"[..], Some("http")), (b"after", Some("http"))]
    );
}

#[tokio::test]
async fn reload_cannot_turn_tls_off_for_a_tls_listener() {
    let tls = TlsSetup::new().await;
    let hookwall = tls.start(TLS).await;
    let addr = hookwall.addr();
    let connector = tls.ca.client();
    // Serving TLS before the reload.
    assert_eq!(
        post_tls(&connector, addr, b"before").await,
        (200, tls.leaf.der.clone())
    );

    write_config(&tls.dir, &github_config(&tls.origin, ""));
    // Other certificate files, which no config names now: the one from start stays in use.
    install_leaf(&tls.dir, &tls.ca.leaf(&["localhost", "127.0.0.1"]));
    assert!(hookwall.reload(), "the config without TLS is valid");

    // New connections still need TLS, with the certificate from start.
    assert_eq!(
        post_tls(&connector, addr, b"after").await,
        (200, tls.leaf.der.clone())
    );

    // Plaintext gets no HTTP answer, and nothing goes upstream.
    assert_eq!(plain_answer(addr, &raw_signed(b"plain", &[])).await, None);
    assert_eq!(
        bodies_and_proto(&tls.upstream.seen()),
        [(&b"before"[..], Some("https")), (b"after", Some("https"))]
    );
}

#[tokio::test]
async fn unix_listener_replaces_only_a_stale_socket() {
    use hookwall::listener::Listener;
    let dir = TempDir::new();

    // A regular file where the socket should go: not replaced, not touched.
    let file = dir.join("file.sock");
    std::fs::write(&file, "operator data\n").unwrap();
    let err = Listener::bind(&Listen::Unix(file.clone()))
        .await
        .err()
        .expect("binding over a regular file fails");
    assert!(err.to_string().contains("cannot listen on"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "operator data\n",
        "the file is still there, with its content"
    );

    // A socket that still answers: not replaced either, and it keeps answering.
    let live = dir.join("live.sock");
    let owner = std::os::unix::net::UnixListener::bind(&live).unwrap();
    assert!(Listener::bind(&Listen::Unix(live.clone())).await.is_err());
    assert!(std::os::unix::net::UnixStream::connect(&live).is_ok());
    drop(owner);

    // A socket left by a listener that is gone (a std listener leaves its file): replaced.
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let listener = Listener::bind(&Listen::Unix(stale.clone()))
        .await
        .expect("a stale socket is replaced");
    assert_eq!(listener.describe(), format!("unix:{}", stale.display()));
    assert!(tokio::net::UnixStream::connect(&stale).await.is_ok());
    drop(listener);
    assert!(!stale.exists(), "the listener removes its own socket");
}

#[tokio::test]
async fn sighup_as_soon_as_the_socket_appears_reloads_and_never_kills() {
    let upstream = Upstream::start().await;
    let dir = secrets_dir();
    for round in 0..10 {
        // A fresh socket path each round: one left by a killed round would be taken for
        // the listener.
        let socket = dir.join(&format!("hw{round}.sock"));
        let config = dir.write(
            &format!("hw{round}.toml"),
            &unix_github_config(&socket, &http_origin(upstream.addr)),
        );
        let mut process = Process::spawn(binary_command(&config, &[]));
        let mut hups = hup_as_soon_as(&socket, process.pid(), 1000);
        let sent = hups.wait(10.0).await;
        // Let a signal's default action, had one been taken, show.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Some(status) = process.exited() {
            panic!(
                "round {round}: SIGHUP right after the socket appeared ended hookwall ({status}):\n{}",
                process.stderr().join("\n")
            );
        }
        assert!(
            sent.success(),
            "round {round}: the signals were not all sent: {sent:?}"
        );
        // It caught them (a reload) and serves.
        process.wait_for_line(5.0, "config reloaded").await;
        let body = format!(r#"{{"round":{round}}}"#);
        let res = post_signed_unix(&socket, GITHUB, SECRET_A, body.as_bytes()).await;
        assert_eq!(res.status(), 200, "round {round}");
        assert!(process.exited().is_none());
    }
    assert_eq!(upstream.hits(), 10);
}

#[tokio::test]
async fn a_thousand_generated_request_ids_share_no_prefix() {
    let upstream = Upstream::start().await;
    let (_dir, hookwall) = start_github(&http_origin(upstream.addr), "").await;
    let addr = hookwall.addr();
    // Unsigned requests without X-Request-Id: each gets an id of its own, echoed back.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..125 {
                let stream = TcpStream::connect(addr).await.unwrap();
                let res = send(stream, build("POST", GITHUB, b"", &[], addr)).await;
                assert_eq!(res.status(), 401);
                ids.push(res.header("x-request-id").expect("an id").to_owned());
            }
            ids
        });
    }
    let ids: Vec<String> = within(20.0, "1000 answers", tasks.join_all())
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ids.len(), 1000);
    for id in &ids {
        assert!(is_generated_id(id), "{id:?}");
    }
    let unique: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), 1000, "ids repeat");
    let prefixes: std::collections::HashSet<&str> = ids.iter().map(|id| &id[..16]).collect();
    assert!(
        prefixes.len() > 990,
        "only {} distinct 16-character prefixes among 1000 ids, e.g. {:?}",
        prefixes.len(),
        &ids[..3]
    );
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn twilio_refuses_a_body_its_url_signature_does_not_cover() {
    const TOKEN: &str = "prod-twilio-token-0c4e2a91";
    let upstream = Upstream::start().await;
    let dir = TempDir::new();
    dir.write("twilio.secret", &format!("{TOKEN}\n"));
    let public_url = "https://hooks.example.test/hooks/twilio";
    let keys = format!("secret = {{ file = \"twilio.secret\" }}\npublic_url = \"{public_url}\"");
    let origin = http_origin(upstream.addr);
    let twilio = provider_route("twilio", "/hooks/twilio", &origin, &keys);
    let hookwall = start(&dir, &routes_config(&[&twilio])).await;
    // As Twilio signs a GET: the URL alone, no parameters.
    let url = format!("{public_url}?CallSid=CA1");
    let signature = b64(&mac1(TOKEN.as_bytes(), &[url.as_bytes()]));
    let headers = [
        ("x-twilio-signature", signature.as_str()),
        ("content-type", "application/json"),
    ];

    let res = hookwall
        .post("/hooks/twilio?CallSid=CA1", br#"{"forged":true}"#, &headers)
        .await;
    assert_eq!(res.status(), 401, "{}", res.text());
    assert_eq!(upstream.hits(), 0, "a body nobody signed is not forwarded");

    let res = hookwall
        .post("/hooks/twilio?CallSid=CA1", b"", &headers)
        .await;
    assert_eq!(res.status(), 200, "{}", res.text());
    let seen = upstream.only();
    assert_eq!(seen.uri, "/hooks/twilio?CallSid=CA1");
    assert!(seen.body.is_empty());
    assert_eq!(seen.header("x-hookwall-verified"), Some("twilio"));

    let scrape = hookwall.scrape().await;
    let malformed = request_labels("twilio", "twilio", "rejected", "malformed_body");
    assert_eq!(scrape.get("hookwall_requests_total", &malformed), Some(1.0));
}

#[tokio::test]
async fn a_replay_stays_a_duplicate_for_twice_the_tolerance() {
    let upstream = Upstream::start().await;
    let dir = secrets_dir();
    let keys = format!("secret = {FILE_A}\ntolerance = \"2s\"");
    let origin = http_origin(upstream.addr);
    let slack = provider_route("slack", "/webhooks/slack", &origin, &keys);
    let config = write_config(&dir, &routes_config(&[&slack]));
    let route = hookwall::config::load(&config).unwrap().routes.remove(0);
    assert_eq!(route.replay_window, Some(Duration::from_secs(4)));
    let hookwall = Hookwall::from_file(&config).await;

    // Start just after a second boundary, so that a timestamp 2 s ahead now is within the
    // 2 s tolerance, and still within it (about 1 s behind) 3 s later.
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    let into_second = unix_now().subsec_millis();
    if into_second > 100 {
        tokio::time::sleep(Duration::from_millis(u64::from(1010 - into_second))).await;
    }
    let ts = (unix_now().as_secs() + 2).to_string();
    let body = b"token=x&team_id=T1&command=%2Fdeploy";
    let basestring = format!("v0:{ts}:");
    let mac = mac256(SECRET_A.as_bytes(), &[basestring.as_bytes(), body]);
    let signature = format!("v0={}", hex::encode(mac));
    let headers = [
        ("x-slack-request-timestamp", ts.as_str()),
        ("x-slack-signature", signature.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];

    let first = hookwall.post("/webhooks/slack", body, &headers).await;
    assert_eq!(first.status(), 200, "{}", first.text());
    assert_eq!(first.header("x-hookwall-duplicate"), None);
    assert_eq!(upstream.hits(), 1);

    // 3 s later the timestamp is about 1 s old, still within the tolerance: the replay
    // window (twice the tolerance) still holds the delivery.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = hookwall.post("/webhooks/slack", body, &headers).await;
    assert_eq!(again.status(), 200, "{}", again.text());
    assert_eq!(
        again.header("x-hookwall-duplicate"),
        Some("true"),
        "still a duplicate after 3 s"
    );
    assert_eq!(upstream.hits(), 1, "not forwarded twice");
}

#[tokio::test]
async fn verify_fails_a_meta_handshake_with_a_wrong_verify_token() {
    let dir = secrets_dir();
    let keys = format!(
        "secret = {FILE_A}\nhandshake = true\n\
         verify_token = {{ env = \"HW_PROD_META_VERIFY_TOKEN\" }}"
    );
    let meta = provider_route("meta", "/webhooks/meta", "http://127.0.0.1:9", &keys);
    let config = write_config(&dir, &routes_config(&[&meta]));
    let verify = |name: &str, token: &str| {
        let capture = dir.write(
            name,
            &format!(
                "GET /webhooks/meta?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444 HTTP/1.1\r\n\
                 Host: hooks.example.test\r\nUser-Agent: facebookplatform/1.0\r\n\r\n"
            ),
        );
        let mut cmd = cli("verify", &config);
        cmd.arg(capture)
            .env("HW_PROD_META_VERIFY_TOKEN", "meta-right-token-93b1")
            .env_remove("RUST_LOG");
        async move {
            let out = within(10.0, "hookwall verify", cmd.output()).await.unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };

    let (code, stdout) = verify("wrong.http", "a-wrong-guess").await;
    assert_eq!(code, Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("handshake"))
        .unwrap_or_else(|| panic!("no handshake line:\n{stdout}"));
    assert!(line.starts_with("FAIL handshake"), "{stdout}");
    assert!(line.contains("refused"), "{stdout}");

    let (code, stdout) = verify("right.http", "meta-right-token-93b1").await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("ok   handshake")),
        "{stdout}"
    );
}
