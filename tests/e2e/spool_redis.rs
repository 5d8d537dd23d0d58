//! The Redis Streams spool store against a real `redis-server` of each test's own (the kit's
//! [`Redis`], persistence on): the SQLite store's promises kept through Redis (exact bytes
//! back, the body gone at delivery, retries on their time, dead deliveries kept for a
//! redrive, limits that refuse without evicting, an ordered route held behind its head), and
//! what replicas add: two stores never take the same delivery, an attempt a dropped store left
//! is taken over after `claim_after`, a Redis outage is `Unavailable` and heals without a new
//! store, and what Redis acknowledged survives its crash. Last, the proxy end to end on a
//! Redis spool.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use hookwall::config::RedisUrl;
use hookwall::spool::{
    new_id, now_ms, DeadReason, Filter, Limits, Next, Record, RedisStore, Settle, State, StoreError,
};
use hookwall_testkit::redis::Redis;
use hookwall_testkit::wait::eventually;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method};
use tokio::net::TcpListener;

use crate::support::{github_config_with, post_signed, start, Behaviour, Upstream, MAX_BODY};

const ROOMY: Limits = Limits {
    max_deliveries: 1000,
    max_bytes: 1 << 20,
};

/// Short, so a takeover is quick to see.
const CLAIM_AFTER: Duration = Duration::from_millis(300);

/// A store on `redis` that takes over an attempt only after 30 s.
fn store(redis: &Redis, limits: Limits) -> RedisStore {
    store_with(redis, limits, Duration::from_secs(30))
}

fn store_with(redis: &Redis, limits: Limits, claim_after: Duration) -> RedisStore {
    let url = RedisUrl::parse(&redis.url()).unwrap();
    RedisStore::open(&url, limits, claim_after).unwrap()
}

/// A delivery of `route`, received at `at`, with bytes no text encoding would keep.
fn record(route: &str, body: &'static [u8], at: u64) -> Record {
    let mut headers = HeaderMap::new();
    headers.append("x-hookwall-verified", HeaderValue::from_static("github"));
    headers.append("x-a", HeaderValue::from_static("1"));
    headers.append("x-a", HeaderValue::from_static("two: with colon"));
    headers.append(
        "x-bytes",
        HeaderValue::from_bytes(b"caf\xc3\xa9\t\xff").unwrap(),
    );
    Record {
        id: new_id(at),
        route: route.into(),
        method: Method::POST,
        target: PathAndQuery::from_static("/webhooks/github?x=1"),
        headers,
        body: Bytes::from_static(body),
        delivery_id: Some("d-1".into()),
        replay_key: None,
        received_at_ms: at,
        client: Some("127.0.0.1".into()),
    }
}

fn settle(id: &str, next: Next, status: Option<u16>, now_ms: u64) -> Settle {
    Settle {
        id: id.into(),
        next,
        status,
        error: status.filter(|s| *s >= 300).map(|_| "status_5xx".into()),
        now_ms,
    }
}

fn ids(claimed: &[(Record, u32)]) -> Vec<(String, u32)> {
    claimed.iter().map(|(r, n)| (r.id.clone(), *n)).collect()
}

/// Whether the delivery's hash in Redis still holds `field`.
async fn stored(redis: &Redis, id: &str, field: &str) -> bool {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("HEXISTS")
        .arg(format!("hookwall:spool:d:{id}"))
        .arg(field)
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn spool_redis_a_commit_claims_back_exactly_and_a_delivery_drops_its_body() {
    let redis = Redis::start_persistent().await;
    let s = store(&redis, ROOMY);
    let rec = record("github", b"{\"exact\": \"bytes\"}\n\x00\xff", 1_000);
    s.insert(rec.clone()).await.unwrap();
    let claimed = s.claim("github", 10, false, 2_000).await.unwrap();
    assert_eq!(claimed, vec![(rec.clone(), 1)]);
    assert!(s
        .claim("github", 10, false, 2_000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.pending_routes().await.unwrap(), ["github"]);
    s.settle(settle(&rec.id, Next::Delivered, Some(204), 3_000))
        .await
        .unwrap();
    let done = s.get(&rec.id).await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.attempts, done.last_status),
        (State::Delivered, 1, Some(204))
    );
    assert_eq!((done.next_attempt_at_ms, done.updated_at_ms), (None, 3_000));
    assert!(
        !stored(&redis, &rec.id, "body").await,
        "the body goes at once"
    );
    assert!(!stored(&redis, &rec.id, "headers").await);
    let counts = s.counts().await.unwrap();
    assert_eq!((counts.kept, counts.bytes), (0, 0));
    assert!(s.pending_routes().await.unwrap().is_empty());
    let line = s.durability().await.unwrap();
    assert!(
        line.starts_with("Redis ")
            && (line.contains("appendfsync=always") || line.contains("WAITAOF reports")),
        "{line}"
    );
}

#[tokio::test]
async fn spool_redis_a_retry_waits_for_its_time_then_counts_on() {
    let redis = Redis::start_persistent().await;
    let s = store(&redis, ROOMY);
    let rec = record("r", b"retry me", 1_000);
    s.insert(rec.clone()).await.unwrap();
    assert_eq!(s.next_due("r").await.unwrap(), Some(1_000));
    s.claim("r", 1, false, 2_000).await.unwrap();
    s.settle(settle(&rec.id, Next::RetryAt(10_000), Some(503), 2_500))
        .await
        .unwrap();
    assert!(s.claim("r", 1, false, 9_999).await.unwrap().is_empty());
    assert_eq!(s.next_due("r").await.unwrap(), Some(10_000));
    let waiting = s.get(&rec.id).await.unwrap().unwrap();
    assert_eq!(waiting.state, State::Pending);
    assert_eq!(waiting.next_attempt_at_ms, Some(10_000));
    assert_eq!(waiting.last_status, Some(503));
    assert_eq!(waiting.last_error.as_deref(), Some("status_5xx"));
    let again = s.claim("r", 1, false, 10_000).await.unwrap();
    assert_eq!(again, vec![(rec, 2)]);
    assert_eq!(s.next_due("r").await.unwrap(), None);
}

#[tokio::test]
async fn spool_redis_dead_deliveries_are_kept_until_a_redrive_a_retry_or_a_drop() {
    let redis = Redis::start_persistent().await;
    let s = store(&redis, ROOMY);
    let rec = record("r", b"dead", 1_000);
    s.insert(rec.clone()).await.unwrap();
    s.claim("r", 1, false, 5_000).await.unwrap();
    let dead = |reason| settle(&rec.id, Next::Dead(reason), Some(410), 6_000);
    s.settle(dead(DeadReason::NoRetryStatus)).await.unwrap();
    let got = s.get(&rec.id).await.unwrap().unwrap();
    assert_eq!(
        (got.state, got.dead_reason, got.last_status),
        (State::Dead, Some(DeadReason::NoRetryStatus), Some(410))
    );
    assert!(s.claim("r", 1, false, 9_000).await.unwrap().is_empty());
    assert_eq!(s.counts().await.unwrap().kept, 1, "a dead delivery is kept");
    assert_eq!(s.redrive("r", 7_000).await.unwrap(), 1);
    let back = s.claim("r", 1, false, 9_000).await.unwrap();
    assert_eq!((back[0].0.body.clone(), back[0].1), (rec.body.clone(), 2));
    assert!(!s.remove(&rec.id).await.unwrap(), "in flight: not dropped");
    s.settle(dead(DeadReason::RetriesExhausted)).await.unwrap();
    assert!(s.retry(&rec.id, 8_000).await.unwrap());
    assert_eq!(
        ids(&s.claim("r", 1, false, 9_000).await.unwrap()),
        [(rec.id.clone(), 3)]
    );
    s.settle(dead(DeadReason::MaxAge)).await.unwrap();
    assert!(s.remove(&rec.id).await.unwrap());
    assert_eq!(s.get(&rec.id).await.unwrap(), None);
    assert_eq!(s.counts().await.unwrap().kept, 0);
    assert!(!s.retry("sp_none", 7_000).await.unwrap());
    assert!(!s.remove(&rec.id).await.unwrap());
}

#[tokio::test]
async fn spool_redis_limits_refuse_without_evicting_and_a_delivered_body_frees_its_room() {
    let redis = Redis::start_persistent().await;
    let two = Limits {
        max_deliveries: 2,
        max_bytes: 1 << 20,
    };
    let s = store(&redis, two);
    let first = record("r", b"1", 1_000);
    s.insert(first.clone()).await.unwrap();
    s.insert(record("r", b"2", 1_001)).await.unwrap();
    let refused = record("r", b"3", 1_002);
    assert_eq!(s.insert(refused.clone()).await, Err(StoreError::Full));
    assert_eq!(s.get(&refused.id).await.unwrap(), None, "nothing written");
    assert_eq!(s.counts().await.unwrap().kept, 2);
    s.claim("r", 1, false, 5_000).await.unwrap();
    s.settle(settle(&first.id, Next::Delivered, Some(200), 6_000))
        .await
        .unwrap();
    s.insert(record("r", b"3", 1_003)).await.unwrap();
    // Bytes: room for exactly one more record of this size.
    let kept = s.counts().await.unwrap().bytes;
    let size = record("r", b"4", 0).size();
    let tight = |extra| Limits {
        max_deliveries: 100,
        max_bytes: kept + size + extra,
    };
    let s = store(&redis, tight(0));
    assert_eq!(
        s.insert(record("r", b"45", 1_004)).await,
        Err(StoreError::Full)
    );
    s.insert(record("r", b"4", 1_005)).await.unwrap();
    assert_eq!(
        s.insert(record("r", b"5", 1_006)).await,
        Err(StoreError::Full)
    );
    assert_eq!(s.counts().await.unwrap().bytes, kept + size);
}

#[tokio::test]
async fn spool_redis_an_ordered_route_holds_the_rest_behind_its_head_on_every_replica() {
    let redis = Redis::start_persistent().await;
    let (a, b) = (store(&redis, ROOMY), store(&redis, ROOMY));
    let recs: Vec<Record> = (0..3).map(|n| record("o", b"x", 1_000 + n)).collect();
    for r in &recs {
        a.insert(r.clone()).await.unwrap();
    }
    let head = |n: u32| vec![(recs[0].id.clone(), n)];
    assert_eq!(ids(&a.claim("o", 5, true, 2_000).await.unwrap()), head(1));
    assert!(a.claim("o", 5, true, 2_000).await.unwrap().is_empty());
    assert!(
        b.claim("o", 5, true, 2_000).await.unwrap().is_empty(),
        "one in flight"
    );
    a.settle(settle(&recs[0].id, Next::RetryAt(3_000), Some(500), 2_100))
        .await
        .unwrap();
    assert!(
        b.claim("o", 5, true, 2_999).await.unwrap().is_empty(),
        "a failed head holds the rest back"
    );
    assert_eq!(a.next_due("o").await.unwrap(), Some(1_001));
    assert_eq!(ids(&b.claim("o", 5, true, 3_000).await.unwrap()), head(2));
    b.settle(settle(&recs[0].id, Next::Delivered, Some(200), 3_100))
        .await
        .unwrap();
    let second = a.claim("o", 5, true, 3_200).await.unwrap();
    assert_eq!(ids(&second), [(recs[1].id.clone(), 1)]);
    a.settle(settle(
        &recs[1].id,
        Next::Dead(DeadReason::NoRetryStatus),
        Some(410),
        3_300,
    ))
    .await
    .unwrap();
    assert_eq!(
        ids(&b.claim("o", 5, true, 3_400).await.unwrap()),
        [(recs[2].id.clone(), 1)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_redis_two_replicas_never_claim_the_same_delivery() {
    let redis = Redis::start_persistent().await;
    let writer = store(&redis, ROOMY);
    for n in 0..200 {
        writer
            .insert(record("r", b"shared", 1_000 + n))
            .await
            .unwrap();
    }
    let ready = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let drain = |s: RedisStore| {
        let ready = std::sync::Arc::clone(&ready);
        async move {
            ready.wait().await;
            let mut got = Vec::new();
            loop {
                let claimed = s.claim("r", 3, false, now_ms()).await.unwrap();
                if claimed.is_empty() {
                    return got;
                }
                got.extend(claimed.into_iter().map(|(r, n)| (r.id, n)));
            }
        }
    };
    let a = tokio::spawn(drain(store(&redis, ROOMY)));
    let b = tokio::spawn(drain(store(&redis, ROOMY)));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both took part: {} {}",
        a.len(),
        b.len()
    );
    let all: Vec<_> = a.iter().chain(&b).collect();
    let distinct: HashSet<_> = all.iter().map(|(id, _)| id).collect();
    assert_eq!((all.len(), distinct.len()), (200, 200));
    assert!(all.iter().all(|(_, attempt)| *attempt == 1));
}

#[tokio::test]
async fn spool_redis_an_attempt_a_dropped_replica_left_is_taken_over_after_claim_after() {
    let redis = Redis::start_persistent().await;
    let gone = store(&redis, ROOMY);
    let (free, ordered) = (record("r", b"free", 1_000), record("o", b"head", 1_000));
    let behind = record("o", b"behind", 1_001);
    for r in [&free, &ordered, &behind] {
        gone.insert(r.clone()).await.unwrap();
    }
    assert_eq!(gone.claim("r", 5, false, now_ms()).await.unwrap().len(), 1);
    assert_eq!(gone.claim("o", 5, true, now_ms()).await.unwrap().len(), 1);
    drop(gone);
    let heir = store_with(&redis, ROOMY, CLAIM_AFTER);
    assert!(heir
        .claim("r", 5, false, now_ms())
        .await
        .unwrap()
        .is_empty());
    assert!(heir.claim("o", 5, true, now_ms()).await.unwrap().is_empty());
    tokio::time::sleep(CLAIM_AFTER + Duration::from_millis(100)).await;
    let taken = heir.claim("r", 5, false, now_ms()).await.unwrap();
    assert_eq!(taken, vec![(free.clone(), 2)], "the attempt counts on");
    assert_eq!(
        ids(&heir.claim("o", 5, true, now_ms()).await.unwrap()),
        [(ordered.id.clone(), 2)],
        "the head first, never the one behind it"
    );
    heir.settle(settle(&free.id, Next::Delivered, Some(200), now_ms()))
        .await
        .unwrap();
    assert_eq!(
        heir.get(&free.id).await.unwrap().unwrap().state,
        State::Delivered
    );
}

#[tokio::test]
async fn spool_redis_an_outage_is_unavailable_and_the_same_store_works_once_redis_is_back() {
    let mut redis = Redis::start_persistent().await;
    let port = Upstream::dead_addr().await.port();
    let url = RedisUrl::parse(&format!("redis://:hunter2@127.0.0.1:{port}/0")).unwrap();
    let nowhere = RedisStore::open(&url, ROOMY, CLAIM_AFTER).unwrap();
    let Err(StoreError::Unavailable(why)) = nowhere.insert(record("r", b"x", 1)).await else {
        panic!("a store nobody answers for is unavailable")
    };
    assert!(
        !why.contains("hunter2") && why.contains("<credentials>"),
        "{why}"
    );

    let s = store(&redis, ROOMY);
    let before = record("r", b"before", 1_000);
    s.insert(before.clone()).await.unwrap();
    redis.stop();
    let during = record("r", b"during", 1_001);
    assert!(matches!(
        s.insert(during.clone()).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        s.claim("r", 5, false, 2_000).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(s.counts().await, Err(StoreError::Unavailable(_))));
    redis.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.insert(during.clone()).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "Redis is back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let claimed = s.claim("r", 5, false, 2_000).await.unwrap();
    assert_eq!(claimed, vec![(before, 1), (during, 1)]);
}

#[tokio::test]
async fn spool_redis_what_redis_acknowledged_survives_its_crash() {
    let mut redis = Redis::start_persistent().await;
    let s = store(&redis, ROOMY);
    let recs: Vec<Record> = (0..4).map(|n| record("r", b"kept", 1_000 + n)).collect();
    for r in &recs {
        s.insert(r.clone()).await.unwrap();
    }
    s.claim("r", 2, false, 2_000).await.unwrap();
    s.settle(settle(&recs[0].id, Next::Delivered, Some(200), 2_100))
        .await
        .unwrap();
    s.settle(settle(
        &recs[1].id,
        Next::Dead(DeadReason::MaxAge),
        None,
        2_200,
    ))
    .await
    .unwrap();
    let all = Filter {
        limit: 10,
        ..Filter::default()
    };
    let listed = s.list(all.clone()).await.unwrap();
    let counted = s.counts().await.unwrap();
    redis.restart().await; // SIGKILL, then the same folder
    let s = store(&redis, ROOMY);
    assert_eq!(s.list(all).await.unwrap(), listed);
    let again = s.counts().await.unwrap();
    assert_eq!(
        (again.by_route, again.kept, again.bytes),
        (counted.by_route, counted.kept, counted.bytes)
    );
    let rest = s.claim("r", 10, false, 3_000).await.unwrap();
    assert_eq!(rest, vec![(recs[2].clone(), 1), (recs[3].clone(), 1)]);
}

#[tokio::test]
async fn spool_redis_listings_counts_and_purge() {
    let redis = Redis::start_persistent().await;
    let s = store(&redis, ROOMY);
    let (a, b, c) = (
        record("a", b"1", 1_000),
        record("a", b"2", 2_000),
        record("b", b"3", 3_000),
    );
    for r in [&a, &b, &c] {
        s.insert(r.clone()).await.unwrap();
    }
    let of = |state, route: Option<&str>, limit| Filter {
        state,
        route: route.map(str::to_owned),
        limit,
    };
    let listed =
        |list: Vec<hookwall::spool::Summary>| list.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let newest_first = [b.id.clone(), a.id.clone()];
    assert_eq!(
        listed(s.list(of(None, Some("a"), 10)).await.unwrap()),
        newest_first
    );
    let all = listed(s.list(of(Some(State::Pending), None, 10)).await.unwrap());
    assert_eq!(all, [c.id.clone(), b.id.clone(), a.id.clone()]);
    assert_eq!(
        listed(s.list(of(None, None, 1)).await.unwrap()),
        vec![c.id.clone()]
    );
    assert!(s.list(of(None, None, 0)).await.unwrap().is_empty());
    s.claim("b", 1, false, 5_000).await.unwrap();
    s.settle(settle(
        &c.id,
        Next::Dead(DeadReason::RetriesExhausted),
        Some(500),
        6_000,
    ))
    .await
    .unwrap();
    let dead = s.list(of(Some(State::Dead), None, 10)).await.unwrap();
    assert_eq!(listed(dead.clone()), vec![c.id.clone()]);
    assert_eq!(dead[0].last_error.as_deref(), Some("status_5xx"));
    let mut counts = s.counts().await.unwrap();
    counts.by_route.sort_by(|x, y| x.0.cmp(&y.0));
    let expected = [
        ("a".to_owned(), State::Pending, 2, 1_000),
        ("b".to_owned(), State::Dead, 1, 3_000),
    ];
    assert_eq!(counts.by_route, expected);
    assert_eq!(counts.kept, 3);
    let total: u64 = [&a, &b, &c].iter().map(|r| r.size()).sum();
    assert_eq!(counts.bytes, total);
    // Purge: delivered metadata and dead deliveries past their own retention.
    s.claim("a", 1, false, 7_000).await.unwrap();
    s.settle(settle(&a.id, Next::Delivered, Some(200), 7_000))
        .await
        .unwrap();
    assert_eq!(s.purge(7_000, 6_000).await.unwrap(), 0, "strictly before");
    assert_eq!(s.purge(7_001, 6_000).await.unwrap(), 1);
    assert_eq!(s.get(&a.id).await.unwrap(), None);
    assert!(s.get(&c.id).await.unwrap().is_some(), "dead: kept longer");
    assert_eq!(s.purge(7_001, 6_001).await.unwrap(), 1);
    let counts = s.counts().await.unwrap();
    assert_eq!((counts.kept, counts.bytes), (1, b.size()));
    assert_eq!(
        listed(s.list(of(None, None, 10)).await.unwrap()),
        vec![b.id.clone()]
    );
}

/// Ten waits of 100 ms: enough for an app that comes back within a second.
const FAST: &str = "retry_schedule = [\"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\", \"100ms\"]";

#[tokio::test]
async fn spool_redis_the_app_down_while_twenty_deliveries_arrive_then_up_gets_each_byte_for_byte() {
    let redis = Redis::start_persistent().await;
    let addr = Upstream::dead_addr().await;
    let spool = format!("[spool]\nstore = \"{}\"\n\n", redis.url());
    let route = format!("delivery = \"spool\"\n{FAST}");
    let hookwall = start(&(spool + &github_config_with(addr, MAX_BODY, &route))).await;
    let mut sent = HashMap::new();
    for n in 0..20 {
        let body = format!("{{\"delivery\":{n},\"pad\":\"{}\"}}", "x".repeat(n % 7)).into_bytes();
        let res = post_signed(&hookwall, &body, &[]).await;
        assert_eq!(res.status(), 200, "{}", res.text());
        let id = res
            .header("x-hookwall-spool-id")
            .expect("a spool id")
            .to_owned();
        sent.insert(id, body);
    }
    let listener = TcpListener::bind(addr)
        .await
        .expect("the app's port is free again");
    let upstream = Upstream::on(listener, Behaviour::default(), None);
    eventually(20.0, "every delivery to arrive", || upstream.hits() >= 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = upstream.seen();
    assert_eq!(seen.len(), 20, "each delivery once");
    for s in &seen {
        let id = s.header("x-hookwall-spool-id").expect("the spool id");
        assert_eq!(Some(&s.body.to_vec()), sent.get(id), "{id}");
        let attempt: u32 = s.header("x-hookwall-attempt").unwrap().parse().unwrap();
        assert!(attempt >= 1);
    }
    let got: HashSet<&str> = seen
        .iter()
        .filter_map(|s| s.header("x-hookwall-spool-id"))
        .collect();
    assert_eq!(got.len(), 20);
}

#[tokio::test]
async fn spool_redis_a_replica_without_a_route_leaves_its_deliveries_to_the_replicas_with_it() {
    let redis = Redis::start_persistent().await;
    // A delivery of `newer`, a route only replicas on a newer config have.
    let other = store(&redis, ROOMY);
    let rec = record("newer", b"for the newer replicas", now_ms());
    let id = rec.id.clone();
    other.insert(rec).await.unwrap();
    // This replica spools its own route, `github`, and has never heard of `newer`.
    let app = Upstream::start().await;
    let spool = format!("[spool]\nstore = \"{}\"\n\n", redis.url());
    let route = format!("delivery = \"spool\"\n{FAST}");
    let hookwall = start(&(spool + &github_config_with(app.addr, MAX_BODY, &route))).await;
    let res = post_signed(&hookwall, b"{\"own\":1}", &[]).await;
    assert_eq!(res.status(), 200);
    eventually(10.0, "its own delivery to arrive", || app.hits() == 1).await;
    // Past the dispatcher's re-reading of the store's routes (every second).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let kept = other.get(&id).await.unwrap().expect("still stored");
    assert_eq!(kept.state, State::Pending, "{kept:?}");
    assert_eq!(app.hits(), 1, "only its own route's delivery");
}

#[tokio::test]
async fn spool_redis_a_user_without_dangerous_commands_can_spool_with_a_weak_durability_line() {
    let redis = Redis::start().await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // The hardened user Redis's own documentation suggests: no INFO, no CONFIG.
    let mut acl = redis::cmd("ACL");
    for arg in [
        "SETUSER",
        "hw",
        "on",
        ">hw-test-pass-7d1e",
        "~*",
        "&*",
        "+@all",
        "-@dangerous",
    ] {
        acl.arg(arg);
    }
    let _: () = acl.query_async(&mut conn).await.unwrap();
    let url = format!("redis://hw:hw-test-pass-7d1e@127.0.0.1:{}/0", redis.port());
    let store = RedisStore::open(
        &RedisUrl::parse(&url).unwrap(),
        ROOMY,
        Duration::from_secs(30),
    )
    .unwrap();
    let line = store.durability().await.unwrap();
    assert!(line.contains("unknown"), "{line}");
    assert!(line.contains("can be lost"), "{line}");
    let rec = record("github", b"as a hardened user", now_ms());
    let id = rec.id.clone();
    store.insert(rec).await.unwrap();
    let claimed = store.claim("github", 10, false, now_ms()).await.unwrap();
    assert_eq!(ids(&claimed), [(id, 1)]);
}

#[tokio::test]
async fn spool_redis_callers_behind_a_failed_connect_fail_at_once_instead_of_each_trying_again() {
    // A server that accepts connections and never answers: every connect times out.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}/0", silent.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&accepted);
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    let store = std::sync::Arc::new(
        RedisStore::open(
            &RedisUrl::parse(&url).unwrap(),
            ROOMY,
            Duration::from_secs(30),
        )
        .unwrap(),
    );
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..8u64 {
        let store = std::sync::Arc::clone(&store);
        calls.spawn(async move { store.insert(record("github", b"x", now_ms() + n)).await });
    }
    while let Some(result) = calls.join_next().await {
        assert!(
            matches!(result.unwrap(), Err(StoreError::Unavailable(_))),
            "every call fails as unavailable"
        );
    }
    // One connect (with the client's own retry) for all eight callers, not one each.
    let tries = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=2).contains(&tries),
        "{tries} connections for 8 callers"
    );
    server.abort();
}
