//! Replay protection and de-duplication: a store of delivery keys, claimed when a verified
//! request is forwarded, marked delivered when the upstream answers 2xx (later copies then get
//! 200 `X-Hookwall-Duplicate: true` without reaching the app), and released when it does not
//! (so the provider's retry goes through). In memory (bounded, earliest expiry evicted first)
//! or in Redis for replicas that share it.
//!
//! The store only sees keys made after verification succeeded, so unsigned requests cannot
//! fill it. Whether a route checks replays, and with which key, is the proxy's business.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::RedisUrl;

/// What a claim found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key was free; it is now in flight for this request.
    Claimed,
    /// Another copy is being forwarded now.
    InFlight,
    /// A copy was delivered (upstream 2xx) within the replay window.
    Delivered,
}

/// The store could not be asked (Redis down or slow): the request gets 503.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "replay store unavailable: {}", self.0)
    }
}

impl std::error::Error for Unavailable {}

/// The replay store of a hookwall process.
#[derive(Debug)]
pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Store {
    /// Claims `key` for `in_flight` (how long a forward may take before the claim lapses on
    /// its own, should hookwall die mid-request).
    ///
    /// # Errors
    /// [`Unavailable`] when Redis does not answer.
    pub async fn claim(&self, key: &str, in_flight: Duration) -> Result<Claim, Unavailable> {
        match self {
            Store::Memory(m) => Ok(m.claim(key, in_flight, Instant::now())),
            Store::Redis(r) => r.claim(key, in_flight).await,
        }
    }

    /// Marks a claimed key delivered for `window`.
    ///
    /// # Errors
    /// [`Unavailable`] when Redis does not answer (the key then lapses as in flight).
    pub async fn deliver(&self, key: &str, window: Duration) -> Result<(), Unavailable> {
        match self {
            Store::Memory(m) => {
                m.deliver(key, window, Instant::now());
                Ok(())
            }
            Store::Redis(r) => r.deliver(key, window).await,
        }
    }

    /// Releases a claimed key: the delivery failed and may be retried.
    ///
    /// # Errors
    /// [`Unavailable`] when Redis does not answer (the key then lapses as in flight).
    pub async fn release(&self, key: &str) -> Result<(), Unavailable> {
        match self {
            Store::Memory(m) => {
                m.release(key);
                Ok(())
            }
            Store::Redis(r) => r.release(key).await,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    InFlight,
    Delivered,
}

#[derive(Debug)]
struct Entry {
    state: State,
    expires: Instant,
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Box<str>, Entry>,
    /// Every entry by expiry, so the earliest to expire is evicted first.
    by_expiry: BTreeSet<(Instant, u64, Box<str>)>,
    seq: u64,
}

impl Inner {
    fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.by_expiry.remove(&(e.expires, e.seq, Box::from(key)));
        }
    }

    fn insert(&mut self, key: &str, state: State, expires: Instant) {
        self.remove(key);
        self.seq += 1;
        let seq = self.seq;
        self.entries.insert(
            Box::from(key),
            Entry {
                state,
                expires,
                seq,
            },
        );
        self.by_expiry.insert((expires, seq, Box::from(key)));
    }

    /// Drops every entry that has expired by `now`.
    fn purge(&mut self, now: Instant) {
        while let Some((expires, _, _)) = self.by_expiry.first() {
            if *expires > now {
                break;
            }
            if let Some((_, _, key)) = self.by_expiry.pop_first() {
                self.entries.remove(&key);
            }
        }
    }
}

/// The in-memory store: at most `max_entries` keys; when full, the key closest to expiring
/// makes room, so memory stays flat under a flood of distinct keys.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_entries: usize,
}

impl MemoryStore {
    /// An empty store of at most `max_entries` keys (at least one).
    pub fn new(max_entries: usize) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            max_entries: max_entries.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than refusing all service; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// See [`Store::claim`]; `now` is a parameter so tests can move the clock.
    pub fn claim(&self, key: &str, in_flight: Duration, now: Instant) -> Claim {
        let mut inner = self.lock();
        inner.purge(now);
        match inner.entries.get(key).map(|e| e.state) {
            Some(State::InFlight) => return Claim::InFlight,
            Some(State::Delivered) => return Claim::Delivered,
            None => {}
        }
        while inner.entries.len() >= self.max_entries {
            match inner.by_expiry.pop_first() {
                Some((_, _, oldest)) => {
                    inner.entries.remove(&oldest);
                }
                None => break,
            }
        }
        inner.insert(key, State::InFlight, later(now, in_flight));
        Claim::Claimed
    }

    /// See [`Store::deliver`].
    pub fn deliver(&self, key: &str, window: Duration, now: Instant) {
        let mut inner = self.lock();
        // Only a key still claimed becomes delivered (as Redis's SET XX does).
        if inner.entries.contains_key(key) {
            inner.insert(key, State::Delivered, later(now, window));
        }
    }

    /// See [`Store::release`].
    pub fn release(&self, key: &str) {
        self.lock().remove(key);
    }

    /// How many keys the store holds.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The Redis store: `SET key inflight NX PX ttl GET` to claim (atomic: it sets only a free
/// key and returns what was there), `SET key delivered XX PX window` to mark delivered, `DEL`
/// to release. Connects lazily and reconnects by itself; while Redis cannot be reached every
/// call fails fast with [`Unavailable`].
pub struct RedisStore {
    client: redis::Client,
    url: String,
    manager: tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .finish()
    }
}

/// How long a Redis call may take before the request is answered 503.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

impl RedisStore {
    /// A store for `url`; nothing connects yet.
    pub fn new(url: &RedisUrl) -> RedisStore {
        RedisStore {
            client: url.client().clone(),
            url: url.shown().to_owned(),
            manager: tokio::sync::Mutex::new(None),
        }
    }

    async fn connection(&self) -> Result<redis::aio::ConnectionManager, Unavailable> {
        let mut slot = self.manager.lock().await;
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let m = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            redis::aio::ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        .map_err(|_| Unavailable(format!("{}: connect timed out", self.url)))?
        .map_err(|e| Unavailable(format!("{}: {e}", self.url)))?;
        *slot = Some(m.clone());
        Ok(m)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Unavailable> {
        let mut conn = self.connection().await?;
        match tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Unavailable(format!("{}: {e}", self.url))),
            Err(_) => Err(Unavailable(format!("{}: no answer in time", self.url))),
        }
    }

    async fn claim(&self, key: &str, in_flight: Duration) -> Result<Claim, Unavailable> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg("inflight")
            .arg("NX")
            .arg("PX")
            .arg(millis(in_flight))
            .arg("GET");
        let previous: Option<String> = self.query(&cmd).await?;
        Ok(match previous.as_deref() {
            None => Claim::Claimed,
            Some("delivered") => Claim::Delivered,
            Some(_) => Claim::InFlight,
        })
    }

    async fn deliver(&self, key: &str, window: Duration) -> Result<(), Unavailable> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg("delivered")
            .arg("XX")
            .arg("PX")
            .arg(millis(window));
        let _: Option<String> = self.query(&cmd).await?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), Unavailable> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        let _: i64 = self.query(&cmd).await?;
        Ok(())
    }

    /// Whether Redis answers `PING` (for `hookwall check`).
    ///
    /// # Errors
    /// What went wrong, without the URL's password.
    pub async fn ping(&self) -> Result<(), Unavailable> {
        let reply: String = self.query(&redis::cmd("PING")).await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(Unavailable(format!(
                "{}: unexpected answer to PING",
                self.url
            )))
        }
    }
}

/// `now + d`, or as far ahead as an instant goes.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLIGHT: Duration = Duration::from_secs(10);
    const WINDOW: Duration = Duration::from_secs(60);

    #[test]
    fn claims_once_then_reports_in_flight() {
        let s = MemoryStore::new(10);
        let t = Instant::now();
        assert_eq!(s.claim("r:a", FLIGHT, t), Claim::Claimed);
        assert_eq!(s.claim("r:a", FLIGHT, t), Claim::InFlight);
        assert_eq!(s.claim("r:b", FLIGHT, t), Claim::Claimed);
    }

    #[test]
    fn delivered_keys_are_duplicates_until_the_window_ends() {
        let s = MemoryStore::new(10);
        let t = Instant::now();
        assert_eq!(s.claim("k", FLIGHT, t), Claim::Claimed);
        s.deliver("k", WINDOW, t);
        assert_eq!(
            s.claim("k", FLIGHT, t + Duration::from_secs(59)),
            Claim::Delivered
        );
        assert_eq!(
            s.claim("k", FLIGHT, t + Duration::from_secs(60)),
            Claim::Claimed
        );
    }

    #[test]
    fn released_keys_can_be_claimed_again() {
        let s = MemoryStore::new(10);
        let t = Instant::now();
        assert_eq!(s.claim("k", FLIGHT, t), Claim::Claimed);
        s.release("k");
        assert_eq!(s.claim("k", FLIGHT, t), Claim::Claimed);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn an_abandoned_claim_lapses() {
        let s = MemoryStore::new(10);
        let t = Instant::now();
        assert_eq!(s.claim("k", FLIGHT, t), Claim::Claimed);
        assert_eq!(s.claim("k", FLIGHT, t + FLIGHT), Claim::Claimed);
    }

    #[test]
    fn deliver_after_release_or_expiry_records_nothing() {
        let s = MemoryStore::new(10);
        let t = Instant::now();
        s.deliver("never-claimed", WINDOW, t);
        assert!(s.is_empty());
        assert_eq!(s.claim("k", FLIGHT, t), Claim::Claimed);
        s.release("k");
        s.deliver("k", WINDOW, t);
        assert!(s.is_empty());
    }

    #[test]
    fn stays_within_its_bound_evicting_the_earliest_expiry_first() {
        let s = MemoryStore::new(100);
        let t = Instant::now();
        assert_eq!(s.claim("long", FLIGHT, t), Claim::Claimed);
        s.deliver("long", Duration::from_secs(3600), t);
        for i in 0..10_000u32 {
            s.claim(
                &format!("flood-{i}"),
                FLIGHT,
                t + Duration::from_millis(u64::from(i)),
            );
            assert!(s.len() <= 100);
        }
        assert_eq!(s.len(), 100);
        // The long-lived delivered key outlives the flood of short claims.
        assert_eq!(
            s.claim("long", FLIGHT, t + Duration::from_secs(20)),
            Claim::Delivered
        );
    }
}
