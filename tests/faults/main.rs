//! The spool's promises tested by doing the faults to the real binary and counting what the
//! app received: `kill -9` in the middle of a burst, several times over; SIGTERM while
//! attempts are under way; SIGHUP pointing pending deliveries at another app; an app that is
//! down while deliveries arrive; on Redis (`redis.rs`), a replica killed while another goes
//! on, and Redis itself stopped and started again. What hookwall acknowledged always arrives;
//! duplicates are counted, reported and bounded by what was in flight.

#![allow(clippy::unwrap_used)]

mod redis;
mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use support::*;

/// Waits of 100 ms, enough of them for an app that is back within a few seconds.
pub(crate) const FAST: &str = "retry_schedule = [\"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\"]";

/// Senders posting distinct deliveries, `senders` at a time, until the process stops
/// answering; the numbers acknowledged with 200.
pub(crate) async fn burst(
    socket: &std::path::Path,
    senders: usize,
    next: &Arc<AtomicUsize>,
) -> Vec<usize> {
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (socket, next) = (socket.to_owned(), Arc::clone(next));
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                match post(&socket, &body(n)).await {
                    Some(200) => acked.push(n),
                    Some(other) => panic!("delivery {n} answered {other}"),
                    None => return acked,
                }
            }
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_was_acknowledged_before_each_kill_9_reaches_the_app_after_the_restart() {
    // A slow app, so attempts are under way when the process dies.
    let app = Upstream::start_with(Behaviour {
        delay: Duration::from_millis(20),
        ..Behaviour::default()
    })
    .await;
    let rig = Rig::new();
    rig.write(&origin(&app), &format!("max_in_flight = 4\n{FAST}"), "", "");
    let next = Arc::new(AtomicUsize::new(0));
    let mut acked = BTreeSet::new();
    const KILLS: u64 = 3;
    for round in 0..KILLS {
        let hookwall = rig.start().await;
        let socket = rig.socket.clone();
        let senders = {
            let next = Arc::clone(&next);
            tokio::spawn(async move { burst(&socket, 8, &next).await })
        };
        tokio::time::sleep(Duration::from_millis(300 + 150 * round)).await;
        hookwall.signal("KILL");
        let mut hookwall = hookwall;
        hookwall.wait(10.0).await;
        acked.extend(senders.await.unwrap());
    }
    assert!(
        acked.len() > 50,
        "a burst acknowledged only {}",
        acked.len()
    );

    let _hookwall = rig.start().await;
    let wanted: BTreeSet<Bytes> = acked.iter().map(|n| Bytes::from(body(*n))).collect();
    eventually(60.0, "every acknowledged delivery at the app", || {
        let got = received(&app);
        wanted.iter().all(|b| got.contains_key(b))
    })
    .await;
    let got = received(&app);
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    let unacknowledged = got.keys().filter(|b| !wanted.contains(*b)).count();
    eprintln!(
        "kill -9 x{KILLS}: {} acknowledged, {} distinct received ({unacknowledged} committed but \
         killed before their answer), {duplicates} duplicates",
        wanted.len(),
        got.len()
    );
    // A duplicate is an attempt the app took while the process died before recording it:
    // at most max_in_flight per kill.
    assert!(duplicates as u64 <= 4 * KILLS, "{duplicates} duplicates");
    let sent = next.load(Ordering::Relaxed);
    let strangers = got
        .keys()
        .filter(|b| !(0..sent).any(|n| b.as_ref() == body(n).as_slice()))
        .count();
    assert_eq!(strangers, 0, "the app got bodies nobody sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_attempts_are_under_way_loses_nothing_and_repeats_nothing() {
    let app = Upstream::start_with(Behaviour {
        delay: Duration::from_millis(400),
        ..Behaviour::default()
    })
    .await;
    let rig = Rig::new();
    rig.write(&origin(&app), "max_in_flight = 3", "", "");
    let mut hookwall = rig.start().await;
    for n in 0..12 {
        assert_eq!(post(&rig.socket, &body(n)).await, Some(200));
    }
    eventually(10.0, "attempts under way", || app.hits() >= 1).await;
    hookwall.signal("TERM");
    let status = hookwall.wait(15.0).await;
    assert!(
        status.success(),
        "{status:?}\n{}",
        hookwall.stderr().join("\n")
    );
    let before_restart = app.hits();
    assert!(
        before_restart < 12,
        "the app is slow: not all delivered before the stop"
    );

    let _hookwall = rig.start().await;
    eventually(30.0, "all twelve at the app", || received(&app).len() == 12).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = received(&app);
    assert!(
        got.values().all(|n| *n == 1),
        "attempts that finished within shutdown_timeout were recorded: {got:?}"
    );
}

#[tokio::test]
async fn sighup_points_pending_deliveries_at_the_new_upstream() {
    let down = Upstream::dead_addr().await;
    let rig = Rig::new();
    rig.write(&format!("http://{down}"), FAST, "", "");
    let hookwall = rig.start().await;
    for n in 0..5 {
        assert_eq!(post(&rig.socket, &body(n)).await, Some(200));
    }
    let app = Upstream::start().await;
    // The upstream (a route key) applies now; `[spool]` itself only at a restart, as the log
    // says.
    rig.write(&origin(&app), FAST, "max_age = \"2d\"", "");
    hookwall.signal("HUP");
    eventually(10.0, "the pending deliveries at the new app", || {
        received(&app).len() == 5
    })
    .await;
    hookwall
        .wait_for_line(5.0, "a change to [spool] takes effect at the next restart")
        .await;
}

#[tokio::test]
async fn an_app_down_while_a_hundred_deliveries_arrive_gets_every_one_once_it_is_up() {
    let (reserved, addr) = Upstream::reserved_port();
    let rig = Rig::new();
    rig.write(&format!("http://{addr}"), FAST, "", "");
    let _hookwall = rig.start().await;
    for n in 0..100 {
        assert_eq!(post(&rig.socket, &body(n)).await, Some(200), "delivery {n}");
    }
    let app = Upstream::on(reserved.listen(64).unwrap(), Behaviour::default(), None);
    eventually(30.0, "a hundred deliveries", || received(&app).len() == 100).await;
    let mut ids = BTreeSet::new();
    let mut retried = 0;
    for seen in app.seen() {
        let n: usize = (0..100)
            .find(|n| seen.body == body(*n))
            .expect("a body we sent");
        assert_eq!(seen.body, body(n), "byte for byte");
        assert_eq!(seen.method, "POST");
        assert!(seen.header("x-hookwall-spool-id").is_some());
        let attempt: u32 = seen.header("x-hookwall-attempt").unwrap().parse().unwrap();
        // After five failures in a row the route sends one probe at a time, so most
        // deliveries wait for the app without an attempt of their own.
        retried += usize::from(attempt >= 2);
        assert!(seen
            .header("x-hookwall-received-at")
            .is_some_and(|t| t.ends_with('Z')));
        assert!(seen.header("x-hookwall-verified").is_some());
        ids.insert(seen.header("x-hookwall-spool-id").unwrap().to_owned());
    }
    assert_eq!(ids.len(), 100, "one spool id per delivery");
    assert!(
        retried >= 5,
        "{retried} deliveries found the app down at least once"
    );
}
