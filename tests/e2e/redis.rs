//! Replay protection shared through a real Redis (the Debian `redis-server` that `.ci/run`
//! installs), started by each test on a free loopback port with persistence off: replicas let
//! a delivery through once, whichever receives the copy; a Redis outage fails closed with 503
//! and heals by itself.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hookwall_testkit::redis::Redis;

use crate::support::{github_config, post_signed, start, Hookwall, Reply, Upstream};

/// The GitHub route in front of `upstream`, its replay store in `redis`.
fn config(upstream: SocketAddr, redis: &Redis) -> String {
    format!(
        "[replay]\nstore = \"{}\"\n{}",
        redis.url(),
        github_config(upstream)
    )
}

/// POSTs `body`, signed, as the GitHub delivery `id`.
async fn deliver(hookwall: &Hookwall, body: &[u8], id: &str) -> Reply {
    post_signed(hookwall, body, &[("x-github-delivery", id)]).await
}

#[tokio::test]
async fn two_replicas_sharing_redis_let_a_delivery_through_once() {
    let redis = Redis::start().await;
    let upstream = Upstream::start().await;
    let a = start(&config(upstream.addr, &redis)).await;
    let b = start(&config(upstream.addr, &redis)).await;
    let body = br#"{"action":"created","n":1}"#;
    let first = deliver(&a, body, "d-1").await;
    assert_eq!(first.status(), 200);
    assert!(first.headers.get("x-hookwall-duplicate").is_none());
    let copy = deliver(&b, body, "d-1").await;
    assert_eq!(copy.status(), 200);
    assert_eq!(copy.headers["x-hookwall-duplicate"], "true");
    let again = deliver(&a, body, "d-1").await;
    assert_eq!(again.headers["x-hookwall-duplicate"], "true");
    assert_eq!(upstream.hits(), 1);
    // Another delivery is its own.
    assert_eq!(
        deliver(&b, br#"{"action":"created","n":2}"#, "d-2")
            .await
            .status(),
        200
    );
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn redis_down_fails_closed_with_503_and_service_returns_with_it() {
    let mut redis = Redis::start().await;
    let upstream = Upstream::start().await;
    let hookwall = start(&config(upstream.addr, &redis)).await;
    let body = br#"{"action":"created","n":3}"#;
    assert_eq!(deliver(&hookwall, body, "d-3").await.status(), 200);

    redis.stop();
    let other = br#"{"action":"created","n":4}"#;
    let res = deliver(&hookwall, other, "d-4").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers["retry-after"], "5");
    // Unsigned requests are refused as ever, without asking the store.
    let unsigned = hookwall.post("/webhooks/github", other, &[]).await;
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        upstream.hits(),
        1,
        "nothing reaches the upstream while the store is down"
    );

    redis.restart().await;
    // The connection manager reconnects by itself; allow it a few tries.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let s = deliver(&hookwall, other, "d-4").await.status();
        if s != 503 || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        status, 200,
        "service returns with Redis, without restarting hookwall"
    );
    assert_eq!(upstream.hits(), 2);
}
