//! The Redis Streams spool store, for replicas sharing one spool on one Redis node. A
//! delivery is a hash; a route's due deliveries are the entries of its stream, read through
//! the consumer group `hookwall` (each entry reaches one replica); an entry read and not yet
//! settled stays in the group's pending list, and one idle past `claim_after` (its replica
//! died mid-attempt) is taken over with `XAUTOCLAIM`. Retries wait in a sorted set by due
//! time and join the stream when due; dead deliveries sit in the dead-letter set. Every
//! operation is one Lua script (`lua.rs`, where the key layout is), so it is atomic, and two
//! replicas never take the same delivery. An insert returns once Redis has it and, where
//! Redis has `WAITAOF`, once its append-only file has it on disk (`durability.rs`); other
//! changes are not waited on, since losing one to a crash of Redis repeats an attempt at
//! worst (or brings back a delivery an operator dropped), never loses a delivery.
//!
//! What `SqliteStore` does at open (attempts a crash left in flight go back to pending) this
//! store does per attempt: an attempt unsettled for `claim_after` is taken over by the next
//! claim of any replica, this one after a restart included.

mod conn;
mod durability;
mod lua;
mod reply;

use std::fmt;
use std::time::Duration;

use self::conn::{Conn, Script};
use self::reply::Fields;
use super::record::{encode_headers, millis, Record};
use super::schedule::Next;
use super::{Counts, Filter, Limits, Settle, StoreError, Summary};
use crate::config::RedisUrl;

/// Every key of the spool starts with this.
const PREFIX: &str = "hookwall:spool:";
/// Deliveries of each kind a purge forgets per script run, so no run blocks Redis for long.
const PURGE_BATCH: usize = 500;
/// A consumer (a replica) idle this long with nothing pending is forgotten at a purge.
const GONE_AFTER: Duration = Duration::from_secs(3600);

/// The scripts, each with its SHA1.
struct Scripts {
    insert: Script,
    claim: Script,
    claim_ordered: Script,
    next_due: Script,
    settle: Script,
    get: Script,
    list: Script,
    retry: Script,
    redrive: Script,
    remove: Script,
    counts: Script,
    pending_routes: Script,
    purge: Script,
    forget_consumers: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            insert: Script::new(lua::INSERT),
            claim: Script::new(lua::CLAIM),
            claim_ordered: Script::new(lua::CLAIM_ORDERED),
            next_due: Script::new(lua::NEXT_DUE),
            settle: Script::new(lua::SETTLE),
            get: Script::new(lua::GET),
            list: Script::new(lua::LIST),
            retry: Script::new(lua::RETRY),
            redrive: Script::new(lua::REDRIVE),
            remove: Script::new(lua::REMOVE),
            counts: Script::new(lua::COUNTS),
            pending_routes: Script::new(lua::PENDING_ROUTES),
            purge: Script::new(lua::PURGE),
            forget_consumers: Script::new(lua::FORGET_CONSUMERS),
        }
    }
}

/// A handle on the spool in one Redis; connects at its first call, and reconnects by
/// itself: while Redis cannot be reached every call fails fast with
/// [`StoreError::Unavailable`].
pub struct RedisStore {
    conn: Conn,
    scripts: Scripts,
    limits: Limits,
    claim_after: Duration,
    /// This store's name in the consumer groups: unique to the process and the store.
    consumer: String,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.conn.url())
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

/// A script argument.
fn arg(value: impl AsRef<[u8]>) -> Vec<u8> {
    value.as_ref().to_vec()
}

/// A number as a script argument.
fn num(value: impl ToString) -> Vec<u8> {
    value.to_string().into_bytes()
}

impl RedisStore {
    /// A store in the Redis at `url`, holding at most `limits`, taking over an attempt left
    /// unsettled for `claim_after`. Nothing connects yet.
    ///
    /// # Errors
    /// None today; the signature is [`super::SqliteStore::open`]'s.
    pub fn open(
        url: &RedisUrl,
        limits: Limits,
        claim_after: Duration,
    ) -> Result<RedisStore, StoreError> {
        Ok(RedisStore {
            conn: Conn::new(url),
            scripts: Scripts::new(),
            limits,
            claim_after,
            consumer: format!(
                "hookwall-{}-{:016x}",
                std::process::id(),
                crate::unique::next()
            ),
        })
    }

    /// What an acknowledged delivery is worth in this Redis, as one line (connecting if
    /// need be).
    ///
    /// # Errors
    /// Redis cannot be reached.
    pub async fn durability(&self) -> Result<String, StoreError> {
        Ok(self.conn.durability().await?.line())
    }

    /// Commits `record` as pending, due now.
    pub async fn insert(&self, record: Record) -> Result<(), StoreError> {
        let mut args = vec![
            arg(&record.id),
            arg(&record.route),
            num(record.received_at_ms),
            num(record.size()),
            num(self.limits.max_deliveries),
            num(self.limits.max_bytes),
            arg("method"),
            arg(record.method.as_str()),
            arg("target"),
            arg(record.target.as_str()),
            arg("headers"),
            encode_headers(&record.headers),
            arg("body"),
            arg(&record.body),
        ];
        for (name, value) in [
            ("delivery_id", &record.delivery_id),
            ("replay_key", &record.replay_key),
            ("client", &record.client),
        ] {
            if let Some(v) = value {
                args.extend([arg(name), arg(v)]);
            }
        }
        let answer: String = self.conn.run_durably(&self.scripts.insert, &args).await?;
        match answer.as_str() {
            "ok" => Ok(()),
            "full" => Err(StoreError::Full),
            _ => Err(self
                .conn
                .unavailable("a delivery with this id is stored already")),
        }
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
        if limit == 0 {
            return Ok(Vec::new());
        }
        let script = if ordered {
            &self.scripts.claim_ordered
        } else {
            &self.scripts.claim
        };
        let args = [
            arg(route),
            num(now_ms),
            num(limit),
            arg(&self.consumer),
            num(millis(self.claim_after)),
        ];
        let rows: Vec<Fields> = self.conn.run(script, &args).await?;
        rows.into_iter().map(reply::record).collect()
    }

    /// When `route`'s next pending delivery is due.
    pub async fn next_due(&self, route: &str) -> Result<Option<u64>, StoreError> {
        self.conn.run(&self.scripts.next_due, &[arg(route)]).await
    }

    /// Records what an attempt came to.
    pub async fn settle(&self, settle: Settle) -> Result<(), StoreError> {
        let (kind, at, reason) = match settle.next {
            Next::Delivered => ("delivered", 0, ""),
            Next::RetryAt(at) => ("retry", at, ""),
            Next::Dead(reason) => ("dead", 0, reason.code()),
        };
        let args = [
            arg(&settle.id),
            arg(kind),
            num(settle.now_ms),
            settle.status.map(num).unwrap_or_default(),
            settle.error.map(arg).unwrap_or_default(),
            num(at),
            arg(reason),
        ];
        let _: i64 = self.conn.run(&self.scripts.settle, &args).await?;
        Ok(())
    }

    /// Metadata of the deliveries `filter` picks, newest received first.
    pub async fn list(&self, filter: Filter) -> Result<Vec<Summary>, StoreError> {
        let args = [
            filter.state.map(|s| num(s as i64)).unwrap_or_default(),
            filter.route.map(arg).unwrap_or_default(),
            num(filter.limit),
        ];
        let rows: Vec<Fields> = self.conn.run(&self.scripts.list, &args).await?;
        let listed: Result<Vec<Option<Summary>>, StoreError> =
            rows.iter().map(reply::summary).collect();
        Ok(listed?.into_iter().flatten().collect())
    }

    /// One delivery's metadata.
    pub async fn get(&self, id: &str) -> Result<Option<Summary>, StoreError> {
        let fields: Fields = self.conn.run(&self.scripts.get, &[arg(id)]).await?;
        reply::summary(&fields)
    }

    /// A pending or dead delivery made due now; whether there was one.
    pub async fn retry(&self, id: &str, now_ms: u64) -> Result<bool, StoreError> {
        let args = [arg(id), num(now_ms)];
        let n: i64 = self.conn.run(&self.scripts.retry, &args).await?;
        Ok(n > 0)
    }

    /// A pending or dead delivery removed; whether there was one.
    pub async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let n: i64 = self.conn.run(&self.scripts.remove, &[arg(id)]).await?;
        Ok(n > 0)
    }

    /// Every dead delivery of `route` made due now; how many.
    pub async fn redrive(&self, route: &str, now_ms: u64) -> Result<usize, StoreError> {
        let args = [arg(route), num(now_ms)];
        self.conn.run(&self.scripts.redrive, &args).await
    }

    /// Deliveries per route and state, and what is kept against the limits.
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let values = self.conn.run(&self.scripts.counts, &[]).await?;
        reply::counts(values)
    }

    /// The routes that have pending or in-flight deliveries.
    pub async fn pending_routes(&self) -> Result<Vec<String>, StoreError> {
        self.conn.run(&self.scripts.pending_routes, &[]).await
    }

    /// Forgets delivered metadata and dead deliveries past their retention (a batch at a
    /// time), then consumers of replicas long gone.
    pub async fn purge(
        &self,
        delivered_before: u64,
        dead_before: u64,
    ) -> Result<usize, StoreError> {
        let args = [num(delivered_before), num(dead_before), num(PURGE_BATCH)];
        let mut purged = 0;
        loop {
            let (n, more): (usize, i64) = self.conn.run(&self.scripts.purge, &args).await?;
            purged += n;
            if more == 0 {
                break;
            }
        }
        let args = [num(millis(GONE_AFTER)), arg(&self.consumer)];
        let _: i64 = self.conn.run(&self.scripts.forget_consumers, &args).await?;
        Ok(purged)
    }
}
