//! The upstream connection pool, seen from the app: a flood of senders shares at most
//! `max_upstream_connections` connections, a request beyond them waits and then gets 503
//! `upstream_busy` without reaching the app, one sender's requests reuse one connection, an
//! idle connection is closed, and one the app closed is not used again.

use std::sync::Arc;
use std::time::Duration;

use hookwall_testkit::upstream::{BODY_DELAY_HEADER, DELAY_HEADER};
use hookwall_testkit::wait::eventually;

use crate::support::*;

/// 300 senders at once, each on its own connection, each with its own delivery.
const SENDERS: usize = 300;

#[tokio::test]
async fn a_flood_of_senders_opens_at_most_max_upstream_connections() {
    // Each answer takes a while, so the senders really do overlap.
    let slow = Behaviour {
        delay: Duration::from_millis(20),
        ..Behaviour::default()
    };
    let settings = "max_upstream_connections = 8\nupstream_timeout = \"30s\"\nmax_body = \"64KiB\"";
    let (upstream, hookwall) = github_proxy_with(slow, settings).await;
    let hookwall = Arc::new(hookwall);
    let bodies: Vec<Vec<u8>> = (0..SENDERS)
        .map(|i| format!("{{\"delivery\":{i}}}").into_bytes())
        .collect();
    let mut sent = tokio::task::JoinSet::new();
    for body in bodies.clone() {
        let hookwall = Arc::clone(&hookwall);
        sent.spawn(async move { post_signed(&hookwall, &body, &[]).await.status() });
    }
    while let Some(status) = sent.join_next().await {
        assert_eq!(status.expect("a sender"), 200);
    }
    let mut seen: Vec<Vec<u8>> = upstream.bodies().iter().map(|b| b.to_vec()).collect();
    seen.sort();
    let mut expected = bodies;
    expected.sort();
    assert_eq!(seen, expected, "every delivery reached the app once, whole");
    assert!(
        upstream.peak_connections() <= 8,
        "{} connections open at once",
        upstream.peak_connections()
    );
    assert!(
        upstream.connections() <= 8,
        "{} connections opened in all",
        upstream.connections()
    );
}

#[tokio::test]
async fn beyond_the_bound_a_request_waits_then_gets_503_upstream_busy() {
    let settings = "max_upstream_connections = 1\nupstream_timeout = \"500ms\"";
    let upstream = Upstream::start().await;
    let admin = "[admin]\nlisten = \"127.0.0.1:0\"\n";
    let hookwall =
        Arc::new(start(&(github_config_with(upstream.addr, settings, "") + admin)).await);
    // The one connection is held by an answer whose body the app takes 3 s to send.
    let held = {
        let hookwall = Arc::clone(&hookwall);
        tokio::spawn(async move {
            post_signed(&hookwall, b"held", &[(BODY_DELAY_HEADER, "3000")]).await
        })
    };
    eventually(5.0, "the app got the held request", || upstream.hits() == 1).await;
    let res = post_signed(&hookwall, b"waits", &[]).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.body, "service unavailable; retry later\n");
    let held = held.await.expect("the held request");
    assert_eq!(
        (held.status(), held.text().as_str()),
        (200, "upstream ok\n")
    );
    assert_eq!(
        upstream.bodies(),
        ["held"],
        "the waiting request never reached the app"
    );
    assert_eq!(upstream.connections(), 1);
    let scrape = hookwall.scrape().await;
    let busy = [
        ("route", "github"),
        ("provider", "github"),
        ("outcome", "upstream_error"),
        ("reason", "upstream_busy"),
    ];
    assert_eq!(scrape.get("hookwall_requests_total", &busy), Some(1.0));
}

#[tokio::test]
async fn one_senders_requests_reuse_one_connection_which_closes_when_idle() {
    let (upstream, hookwall) = github_proxy().await;
    for i in 0..20 {
        let res = post_signed(&hookwall, format!("delivery {i}").as_bytes(), &[]).await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(upstream.hits(), 20);
    assert_eq!(upstream.connections(), 1, "one connection, reused");
    // Idle for longer than the pool keeps a connection (1.5 s): hookwall closes it.
    eventually(5.0, "the idle connection closed", || {
        upstream.open_connections() == 0
    })
    .await;
    let res = post_signed(&hookwall, b"after idle", &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        upstream.connections(),
        2,
        "a new connection after the idle one closed"
    );
}

#[tokio::test]
async fn a_connection_the_app_closed_while_idle_is_replaced_and_nothing_is_sent_twice() {
    // The app closes a keep-alive connection idle for 100 ms, well before hookwall would.
    let closing = Behaviour {
        idle_close: Some(Duration::from_millis(100)),
        ..Behaviour::default()
    };
    let (upstream, hookwall) = github_proxy_with(closing, MAX_BODY).await;
    for i in 0..5 {
        let res = post_signed(&hookwall, format!("delivery {i}").as_bytes(), &[]).await;
        assert_eq!(res.status(), 200, "delivery {i}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let bodies: Vec<String> = upstream
        .bodies()
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(
        bodies,
        (0..5).map(|i| format!("delivery {i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        upstream.connections(),
        5,
        "a new connection after each close"
    );
}

#[tokio::test]
async fn an_app_that_does_not_answer_in_time_does_not_keep_its_connection() {
    // One connection; the first request's answer would come after 5 s, past the timeout.
    let settings = "max_upstream_connections = 1\nupstream_timeout = \"300ms\"";
    let (upstream, hookwall) = github_proxy_with(Behaviour::default(), settings).await;
    let res = post_signed(&hookwall, b"too slow", &[(DELAY_HEADER, "5000")]).await;
    assert_eq!(res.status(), 504);
    // The timed-out exchange gave its slot back: the next request gets a connection.
    let res = post_signed(&hookwall, b"next", &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(upstream.bodies(), ["too slow", "next"]);
    assert_eq!(upstream.connections(), 2);
}
