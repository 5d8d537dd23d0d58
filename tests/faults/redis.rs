//! Replicas sharing a spool in a real `redis-server` (append-only file fsynced at every
//! write): one replica killed in the middle of a burst while the other goes on, and Redis
//! stopped under a running replica, then started again.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookwall_testkit::redis::Redis;

use crate::support::*;
use crate::{burst, FAST};

/// An attempt a dead replica left is taken over after `claim_after`: as short as `check`
/// allows under this `upstream_timeout` (the timeout plus 8 s for the answer and the settle).
const SERVER: &str = "upstream_timeout = \"1s\"";
const SPOOL: &str = "claim_after = \"9s\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_surviving_replica_delivers_everything_the_killed_one_acknowledged() {
    let redis = Redis::start_persistent().await;
    let app = Upstream::start_with(Behaviour {
        delay: Duration::from_millis(30),
        ..Behaviour::default()
    })
    .await;
    let (a, b) = (Rig::on_redis(&redis.url()), Rig::on_redis(&redis.url()));
    for rig in [&a, &b] {
        rig.write(
            &origin(&app),
            &format!("max_in_flight = 4\n{FAST}"),
            SPOOL,
            SERVER,
        );
    }
    let mut killed = a.start().await;
    let _survivor = b.start().await;

    let next = Arc::new(AtomicUsize::new(0));
    let socket = a.socket.clone();
    let senders = tokio::spawn(async move { burst(&socket, 8, &next).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    killed.signal("KILL");
    killed.wait(10.0).await;
    let acked = senders.await.unwrap();
    assert!(
        acked.len() > 20,
        "the killed replica acknowledged only {}",
        acked.len()
    );

    let wanted: BTreeSet<Bytes> = acked.iter().map(|n| Bytes::from(body(*n))).collect();
    eventually(
        30.0,
        "the survivor to deliver what the killed one acknowledged",
        || {
            let got = received(&app);
            wanted.iter().all(|b| got.contains_key(b))
        },
    )
    .await;
    let got = received(&app);
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    eprintln!(
        "replica killed: {} acknowledged by it, {} distinct received, {duplicates} duplicates",
        wanted.len(),
        got.len()
    );
    // Only the killed replica's attempts under way can be repeated: max_in_flight of them.
    assert!(duplicates <= 4, "{duplicates} duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_is_503_on_spool_routes_and_hookwall_recovers_when_it_is_back() {
    let mut redis = Redis::start_persistent().await;
    let app = Upstream::start().await;
    let rig = Rig::on_redis(&redis.url());
    rig.write(&origin(&app), FAST, SPOOL, SERVER);
    let hookwall = rig.start().await;
    assert_eq!(post(&rig.socket, &body(0)).await, Some(200));

    redis.stop();
    for n in 1..4 {
        assert_eq!(post(&rig.socket, &body(n)).await, Some(503), "delivery {n}");
    }
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 10;
    while post(&rig.socket, &body(n)).await != Some(200) {
        assert!(Instant::now() < deadline, "no recovery without a restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
        n += 1;
    }
    eventually(15.0, "both acknowledged deliveries at the app", || {
        let got = received(&app);
        got.contains_key(body(0).as_slice()) && got.contains_key(body(n).as_slice())
    })
    .await;
    let refused: Vec<_> = (1..4).map(|k| Bytes::from(body(k))).collect();
    assert!(
        refused.iter().all(|b| !received(&app).contains_key(b)),
        "a 503 was spooled"
    );
    let log = hookwall.stderr().join("\n");
    assert!(log.contains("spool_unavailable"), "{log}");
    assert!(!log.contains(SECRET), "the secret in the log");
}
