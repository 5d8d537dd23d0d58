//! The spool: where a verified delivery is committed before the sender's 2xx, and kept
//! until the app takes it or it is set aside as dead. This module owns the stored record, the
//! stores (SQLite, `sqlite.rs`; Redis Streams for replicas, `redis.rs`), the retry rules
//! (`schedule.rs`) and what the admin API and the metrics read of it; it knows nothing of
//! HTTP serving. The request path commits to it (`proxy/spool.rs`); the delivery workers
//! (`delivery.rs`) drain it.

pub mod record;
mod redis;
pub mod schedule;
mod sqlite;

use std::fmt;

use tokio::sync::Notify;

pub use self::record::{millis, new_id, now_ms, rfc3339, Record};
pub use self::redis::RedisStore;
pub use self::schedule::{Attempt, DeadReason, Next, Policy};
pub use self::sqlite::SqliteStore;
use crate::config::{self, SpoolStore};

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for its next attempt.
    Pending = 0,
    /// An attempt is under way.
    InFlight = 1,
    /// The app took it; only its metadata is kept.
    Delivered = 2,
    /// Given up; kept, body included, for a redrive.
    Dead = 3,
}

impl State {
    fn from_i64(n: i64) -> State {
        match n {
            0 => State::Pending,
            1 => State::InFlight,
            2 => State::Delivered,
            _ => State::Dead,
        }
    }

    /// The state a name of [`State::as_str`] names.
    pub fn from_name(name: &str) -> Option<State> {
        [
            State::Pending,
            State::InFlight,
            State::Delivered,
            State::Dead,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// The state's name, as the API and the metrics show it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::InFlight => "in_flight",
            State::Delivered => "delivered",
            State::Dead => "dead",
        }
    }
}

/// Why the spool could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The store cannot commit (the sender gets 503 `spool_unavailable`).
    Unavailable(String),
    /// `max_deliveries` or `max_bytes` reached (503 `spool_full`); nothing is evicted.
    Full,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(why) => f.write_str(why),
            StoreError::Full => f.write_str("the spool is full"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The limits on what is kept, pending and dead together.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_deliveries: u64,
    pub max_bytes: u64,
}

/// Which deliveries a listing shows, newest first.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub state: Option<State>,
    pub route: Option<String>,
    pub limit: usize,
}

/// A delivery's metadata, never its body or headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub id: String,
    pub route: String,
    pub state: State,
    pub attempts: u32,
    pub received_at_ms: u64,
    /// When a pending delivery is tried next.
    pub next_attempt_at_ms: Option<u64>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivery_id: Option<String>,
    pub bytes: u64,
    pub dead_reason: Option<DeadReason>,
    pub updated_at_ms: u64,
}

/// Deliveries per route and state, and what is kept against the limits.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// (route, state, how many, oldest `received_at_ms`: for pending and in flight only,
    /// else 0).
    pub by_route: Vec<(String, State, u64, u64)>,
    /// Deliveries kept (pending, in flight, dead).
    pub kept: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// How long `/readyz` fails after a commit failed for want of the store.
const UNREADY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(10);

/// `Some` reason when `used` is above 90 % of `limit`.
fn near_limit(used: u64, limit: u64, key: &str) -> Option<String> {
    (used.saturating_mul(10) > limit.saturating_mul(9))
        .then(|| format!("the spool holds {used} of {key} = {limit} (above 90 %)"))
}

/// What an attempt came to, for the store.
#[derive(Clone, Debug)]
pub struct Settle {
    pub id: String,
    pub next: Next,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub now_ms: u64,
}

/// The store `[spool] store` names. Every operation is one atomic step of the store, and an
/// operation that changes state returns only once it is durable (Redis: an insert, as far as
/// the server's settings allow; see `redis.rs`).
#[derive(Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Redis(Box<RedisStore>),
}

/// Calls the same method on whichever store this is.
macro_rules! each_store {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite($s) => $call,
            Store::Redis($s) => $call,
        }
    };
}

/// What an acknowledged delivery is worth in the SQLite store.
const SQLITE_DURABILITY: &str =
    "SQLite in WAL mode with synchronous = FULL: each delivery is on disk before it is acknowledged";

impl Store {
    /// Whether other replicas share this store (Redis): a route this process does not know
    /// may be one another replica serves.
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Redis(_))
    }

    /// What an acknowledged delivery is worth in this store, as one line for the start-up
    /// log and `hookwall check` (a Redis store connects to ask its server).
    ///
    /// # Errors
    /// Redis cannot be reached.
    pub async fn durability(&self) -> Result<String, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(SQLITE_DURABILITY.to_owned()),
            Store::Redis(r) => r.durability().await,
        }
    }

    /// Commits `record` as pending, due now.
    pub async fn insert(&self, record: Record) -> Result<(), StoreError> {
        each_store!(self, s => s.insert(record).await)
    }

    /// Takes up to `limit` due deliveries of `route` in flight (one, the oldest, when
    /// `ordered`), each with its attempt number.
    pub async fn claim(
        &self,
        route: &str,
        limit: usize,
        ordered: bool,
        now_ms: u64,
    ) -> Result<Vec<(Record, u32)>, StoreError> {
        each_store!(self, s => s.claim(route, limit, ordered, now_ms).await)
    }

    /// When `route`'s next pending delivery is due.
    pub async fn next_due(&self, route: &str) -> Result<Option<u64>, StoreError> {
        each_store!(self, s => s.next_due(route).await)
    }

    /// Records what an attempt came to.
    pub async fn settle(&self, settle: Settle) -> Result<(), StoreError> {
        each_store!(self, s => s.settle(settle).await)
    }

    /// Metadata of the deliveries `filter` picks, newest first.
    pub async fn list(&self, filter: Filter) -> Result<Vec<Summary>, StoreError> {
        each_store!(self, s => s.list(filter).await)
    }

    /// One delivery's metadata.
    pub async fn get(&self, id: &str) -> Result<Option<Summary>, StoreError> {
        each_store!(self, s => s.get(id).await)
    }

    /// A pending or dead delivery made due now; whether there was one.
    pub async fn retry(&self, id: &str, now_ms: u64) -> Result<bool, StoreError> {
        each_store!(self, s => s.retry(id, now_ms).await)
    }

    /// A pending or dead delivery removed; whether there was one.
    pub async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        each_store!(self, s => s.remove(id).await)
    }

    /// Every dead delivery of `route` made due now; how many.
    pub async fn redrive(&self, route: &str, now_ms: u64) -> Result<usize, StoreError> {
        each_store!(self, s => s.redrive(route, now_ms).await)
    }

    /// Deliveries per route and state, and what is kept against the limits.
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        each_store!(self, s => s.counts().await)
    }

    /// The routes that have pending deliveries.
    pub async fn pending_routes(&self) -> Result<Vec<String>, StoreError> {
        each_store!(self, s => s.pending_routes().await)
    }

    /// Forgets delivered metadata and dead deliveries past their retention.
    pub async fn purge(
        &self,
        delivered_before: u64,
        dead_before: u64,
    ) -> Result<usize, StoreError> {
        each_store!(self, s => s.purge(delivered_before, dead_before).await)
    }
}

/// The spool: its store, its settings, and the bell that wakes the delivery workers.
#[derive(Debug)]
pub struct Spool {
    store: Store,
    settings: config::Spool,
    wake: Notify,
    /// Counts operators' retries and redrives, which lift a tripped route's pause.
    operator: std::sync::atomic::AtomicU64,
    /// When a commit last failed for want of the store (not for a full spool).
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Spool {
    /// Opens the store `settings` names.
    ///
    /// # Errors
    /// The store cannot be opened.
    pub fn open(settings: &config::Spool) -> Result<Spool, StoreError> {
        let limits = Limits {
            max_deliveries: settings.max_deliveries,
            max_bytes: settings.max_bytes,
        };
        let store = match &settings.store {
            SpoolStore::Sqlite(path) => Store::Sqlite(SqliteStore::open(path, limits)?),
            SpoolStore::Redis(url) => Store::Redis(Box::new(RedisStore::open(
                url,
                limits,
                settings.claim_after,
            )?)),
        };
        Ok(Spool {
            store,
            settings: settings.clone(),
            wake: Notify::new(),
            operator: std::sync::atomic::AtomicU64::new(0),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `[spool]` as the process started.
    pub fn settings(&self) -> &config::Spool {
        &self.settings
    }

    /// Commits `record`; the delivery workers are woken to take it.
    ///
    /// # Errors
    /// [`StoreError::Full`] or [`StoreError::Unavailable`]: nothing was committed.
    pub async fn commit(&self, record: Record) -> Result<(), StoreError> {
        let inserted = self.store.insert(record).await;
        if let Err(StoreError::Unavailable(_)) = &inserted {
            if let Ok(mut at) = self.failed_at.lock() {
                *at = Some(std::time::Instant::now());
            }
        }
        inserted?;
        self.wake.notify_one();
        Ok(())
    }

    /// Why the spool should not be sent deliveries now, if it should not: a commit failed
    /// within [`UNREADY_AFTER_FAILURE`], the store does not answer, or what it keeps is
    /// above 90 % of a limit.
    pub async fn unready(&self) -> Option<String> {
        let failed = self
            .failed_at
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| at.elapsed() < UNREADY_AFTER_FAILURE);
        if failed {
            return Some("a spool commit failed in the last 10 s".into());
        }
        let counts = match tokio::time::timeout(UNREADY_AFTER_FAILURE, self.store.counts()).await {
            Ok(Ok(counts)) => counts,
            Ok(Err(e)) => return Some(format!("the spool store does not answer: {e}")),
            Err(_) => return Some("the spool store does not answer".into()),
        };
        near_limit(counts.kept, self.settings.max_deliveries, "max_deliveries")
            .or_else(|| near_limit(counts.bytes, self.settings.max_bytes, "max_bytes"))
    }

    /// Wakes the delivery workers: something became due.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Wakes the delivery workers for an operator's retry or redrive: a route paused after
    /// failures in a row sends its probe now rather than at the failed delivery's next
    /// scheduled attempt (hours away, late in the schedule).
    pub fn operator_wake(&self) {
        self.operator
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.wake();
    }

    /// How many operator wakes there have been ([`Spool::operator_wake`]).
    pub fn operator_wakes(&self) -> u64 {
        self.operator.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Resolves when [`Spool::wake`] is next called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}
