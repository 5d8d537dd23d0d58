//! The spool end to end, in process, against a recording upstream: a verified delivery on a
//! `delivery = "spool"` route is acknowledged only after its commit and reaches the app, byte
//! for byte, with the attempt headers; an app that is down gets every delivery once it is up;
//! failures follow the schedule; 410 and an exhausted schedule are dead; a full spool answers
//! 503; an ordered route delivers in arrival order; `spool_on_failure` returns the app's own
//! answer while it is up; a sender's retry of a spooled delivery is a duplicate.

use std::net::SocketAddr;

use hookwall_testkit::fs::TempDir;
use hookwall_testkit::wait::eventually;
use http::StatusCode;
use tokio::net::TcpListener;

use crate::support::{
    github_config_with, post_signed, start, Behaviour, Hookwall, Upstream, MAX_BODY,
};

/// A GitHub route in front of `upstream` with `route_extra`, its spool in `dir` with
/// `spool_extra` (TOML lines of `[spool]`).
pub(crate) fn spool_config(
    upstream: SocketAddr,
    dir: &TempDir,
    route_extra: &str,
    spool_extra: &str,
) -> String {
    let spool = format!(
        "[spool]\nstore = \"sqlite:{}\"\n{spool_extra}\n\n",
        dir.join("spool.db").display()
    );
    spool + &github_config_with(upstream, MAX_BODY, route_extra)
}

/// A spool route with a fast schedule, in front of `upstream`.
pub(crate) async fn spooling(
    upstream: SocketAddr,
    dir: &TempDir,
    route_extra: &str,
    spool_extra: &str,
) -> Hookwall {
    let extra = format!("delivery = \"spool\"\n{route_extra}");
    start(&spool_config(upstream, dir, &extra, spool_extra)).await
}

/// The app comes up on `addr`, where nothing listened before.
async fn app_on(addr: SocketAddr, behaviour: Behaviour) -> Upstream {
    let listener = TcpListener::bind(addr)
        .await
        .expect("the app's port is free again");
    Upstream::on(listener, behaviour, None)
}

/// Ten waits of 100 ms: enough for an app that comes back within a second.
const FAST: &str = "retry_schedule = [\"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\"]";

pub(crate) fn body(n: usize) -> Vec<u8> {
    format!("{{\"delivery\":{n},\"pad\":\"{}\"}}", "x".repeat(n % 7)).into_bytes()
}

#[tokio::test]
async fn a_spooled_delivery_is_acknowledged_then_reaches_the_app_with_the_attempt_headers() {
    let dir = TempDir::new();
    let upstream = Upstream::start().await;
    let hookwall = spooling(upstream.addr, &dir, "", "").await;
    let sent = body(1);
    let res = post_signed(&hookwall, &sent, &[("x-github-delivery", "gh-1")]).await;
    assert_eq!(res.status(), 200, "{}", res.text());
    let id = res
        .header("x-hookwall-spool-id")
        .expect("a spool id")
        .to_owned();
    assert!(id.starts_with("sp_"), "{id}");
    assert_eq!(
        res.text(),
        format!("{{\"spooled\":true,\"id\":\"{id}\"}}\n")
    );
    eventually(10.0, "the app to get the delivery", || upstream.hits() == 1).await;
    let seen = upstream.only();
    assert_eq!(seen.body, sent);
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/webhooks/github");
    assert_eq!(seen.header("x-hookwall-spool-id"), Some(id.as_str()));
    assert_eq!(seen.header("x-hookwall-attempt"), Some("1"));
    assert_eq!(seen.header("x-hookwall-verified"), Some("github"));
    assert_eq!(seen.header("x-github-delivery"), Some("gh-1"));
    let received = seen.header("x-hookwall-received-at").expect("received-at");
    assert!(
        received.ends_with('Z') && received.len() == 24,
        "{received}"
    );
}

#[tokio::test]
async fn the_app_down_while_a_hundred_deliveries_arrive_then_up_gets_every_one_byte_for_byte() {
    let dir = TempDir::new();
    let addr = Upstream::dead_addr().await;
    let hookwall = spooling(addr, &dir, FAST, "").await;
    let mut sent = Vec::new();
    for n in 0..100 {
        let b = body(n);
        let res = post_signed(&hookwall, &b, &[]).await;
        assert_eq!(res.status(), 200, "{}", res.text());
        sent.push(b);
    }
    let upstream = app_on(addr, Behaviour::default()).await;
    eventually(20.0, "every delivery to arrive", || upstream.hits() >= 100).await;
    let seen = upstream.seen();
    assert_eq!(seen.len(), 100, "each delivery exactly once");
    let mut got: Vec<Vec<u8>> = seen.iter().map(|s| s.body.to_vec()).collect();
    got.sort();
    sent.sort();
    assert_eq!(got, sent);
    let attempts: Vec<_> = seen
        .iter()
        .map(|s| s.header("x-hookwall-attempt"))
        .collect();
    assert!(
        attempts.iter().any(|a| *a != Some("1")),
        "the first attempts met a down app: {attempts:?}"
    );
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_with_the_same_spool_id() {
    let dir = TempDir::new();
    let upstream = Upstream::start_with(Behaviour {
        fail_first: 2,
        ..Behaviour::default()
    })
    .await;
    let hookwall = spooling(
        upstream.addr,
        &dir,
        "retry_schedule = [\"50ms\", \"50ms\"]",
        "",
    )
    .await;
    let res = post_signed(&hookwall, &body(2), &[]).await;
    assert_eq!(res.status(), 200);
    eventually(10.0, "three attempts", || upstream.hits() == 3).await;
    let seen = upstream.seen();
    let attempts: Vec<_> = seen
        .iter()
        .map(|s| s.header("x-hookwall-attempt").unwrap_or(""))
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    let ids: Vec<_> = seen
        .iter()
        .map(|s| s.header("x-hookwall-spool-id"))
        .collect();
    assert!(
        ids.iter()
            .all(|id| *id == res.header("x-hookwall-spool-id")),
        "{ids:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(upstream.hits(), 3, "delivered: never sent again");
}

#[tokio::test]
async fn a_410_is_dead_at_once_and_an_exhausted_schedule_is_dead_after_its_last_wait() {
    let dir = TempDir::new();
    let gone = Upstream::start_with(Behaviour {
        status: StatusCode::GONE,
        ..Behaviour::default()
    })
    .await;
    let hookwall = spooling(gone.addr, &dir, "retry_schedule = [\"30ms\", \"30ms\"]", "").await;
    assert_eq!(post_signed(&hookwall, &body(3), &[]).await.status(), 200);
    eventually(10.0, "the first attempt", || gone.hits() == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(gone.hits(), 1, "a 410 is never retried");

    let dir = TempDir::new();
    let failing = Upstream::start_with(Behaviour {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        ..Behaviour::default()
    })
    .await;
    let hookwall = spooling(
        failing.addr,
        &dir,
        "retry_schedule = [\"30ms\", \"30ms\"]",
        "",
    )
    .await;
    assert_eq!(post_signed(&hookwall, &body(4), &[]).await.status(), 200);
    eventually(10.0, "the schedule to run out", || failing.hits() == 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        failing.hits(),
        3,
        "one attempt, then one per wait, then dead"
    );
}

#[tokio::test]
async fn a_full_spool_answers_503_and_evicts_nothing() {
    let dir = TempDir::new();
    let addr = Upstream::dead_addr().await;
    let hookwall = spooling(
        addr,
        &dir,
        "retry_schedule = [\"1h\"]",
        "max_deliveries = 2",
    )
    .await;
    for n in 0..2 {
        assert_eq!(post_signed(&hookwall, &body(n), &[]).await.status(), 200);
    }
    let res = post_signed(&hookwall, &body(9), &[]).await;
    assert_eq!(res.status(), 503, "{}", res.text());
    assert_eq!(res.header("retry-after"), Some("5"));
    assert!(res.header("x-hookwall-spool-id").is_none());
}

#[tokio::test]
async fn an_ordered_route_delivers_in_arrival_order_behind_a_failing_head() {
    let dir = TempDir::new();
    let upstream = Upstream::start_with(Behaviour {
        fail_first: 1,
        ..Behaviour::default()
    })
    .await;
    let addr = upstream.addr;
    drop(upstream);
    let hookwall = spooling(addr, &dir, &format!("ordered = true\n{FAST}"), "").await;
    let sent: Vec<Vec<u8>> = (0..5).map(body).collect();
    for b in &sent {
        assert_eq!(post_signed(&hookwall, b, &[]).await.status(), 200);
    }
    let upstream = app_on(
        addr,
        Behaviour {
            fail_first: 1,
            ..Behaviour::default()
        },
    )
    .await;
    eventually(20.0, "every delivery", || upstream.hits() == 6).await;
    let got: Vec<Vec<u8>> = upstream
        .seen()
        .iter()
        .skip(1)
        .map(|s| s.body.to_vec())
        .collect();
    assert_eq!(got, sent, "strict arrival order, the failed head first");
}

#[tokio::test]
async fn spool_on_failure_returns_the_apps_own_answer_while_it_is_up_and_spools_while_it_is_down() {
    let dir = TempDir::new();
    let upstream = Upstream::start_with(Behaviour {
        status: StatusCode::CREATED,
        body: "created by the app\n",
        ..Behaviour::default()
    })
    .await;
    let extra =
        "delivery = \"spool_on_failure\"\nretry_schedule = [\"100ms\", \"200ms\", \"400ms\"]";
    let hookwall = start(&spool_config(upstream.addr, &dir, extra, "")).await;
    let res = post_signed(&hookwall, &body(5), &[]).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.text(), "created by the app\n");
    assert!(res.header("x-hookwall-spool-id").is_none());
    assert_eq!(upstream.hits(), 1);

    let addr = upstream.addr;
    drop(upstream);
    let down = post_signed(&hookwall, &body(6), &[]).await;
    assert_eq!(down.status(), 200, "{}", down.text());
    assert!(down.header("x-hookwall-spool-id").is_some());
    let upstream = app_on(addr, Behaviour::default()).await;
    eventually(10.0, "the spooled delivery", || upstream.hits() == 1).await;
    assert_eq!(upstream.only().body, body(6));
}

#[tokio::test]
async fn a_senders_retry_of_a_spooled_delivery_is_a_duplicate_not_a_second_entry() {
    let dir = TempDir::new();
    let upstream = Upstream::start().await;
    let hookwall = spooling(
        upstream.addr,
        &dir,
        "replay = \"on\"\nspool_status = 202",
        "",
    )
    .await;
    let first = post_signed(&hookwall, &body(7), &[]).await;
    assert_eq!(first.status(), 202);
    let again = post_signed(&hookwall, &body(7), &[]).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.header("x-hookwall-duplicate"), Some("true"));
    eventually(10.0, "the delivery", || upstream.hits() == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn an_unsigned_request_on_a_spool_route_is_refused_and_never_spooled() {
    let dir = TempDir::new();
    let upstream = Upstream::start().await;
    let hookwall = spooling(upstream.addr, &dir, "", "").await;
    let res = hookwall.post("/webhooks/github", &body(8), &[]).await;
    assert_eq!(res.status(), 401);
    assert!(res.header("x-hookwall-spool-id").is_none());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(upstream.hits(), 0);
}
