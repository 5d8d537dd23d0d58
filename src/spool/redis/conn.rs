//! The Redis store's connection: one multiplexed connection (a `ConnectionManager`, made at
//! the first call, remade by the crate after a drop), every call bounded by a timeout, each
//! script sent by its SHA1 and whole only when Redis has not seen it yet (a restarted Redis
//! has forgotten its scripts), and what Redis says of its durability, read at the first
//! connect. A failure is [`StoreError::Unavailable`] with the URL as shown (no password); for a
//! second after a failed connect every call fails at once with it.

use std::sync::OnceLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, FromRedisValue, RedisError, ServerErrorKind, Value};
use sha1::{Digest, Sha1};

use super::durability::Durability;
use crate::config::RedisUrl;
use crate::spool::StoreError;

/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long Redis may take to answer a call, `WAITAOF` included.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `WAITAOF` waits for the append-only file's fsync.
const WAITAOF_TIMEOUT: Duration = Duration::from_secs(2);
/// How long after a failed connect calls fail at once rather than each trying again (they
/// queue on one lock, so a Redis that drops packets would make the n-th caller wait n
/// connect timeouts).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A Lua script and its SHA1, for `EVALSHA`.
pub(super) struct Script {
    body: &'static str,
    sha: String,
}

impl Script {
    pub(super) fn new(body: &'static str) -> Script {
        Script {
            body,
            sha: hex::encode(Sha1::digest(body.as_bytes())),
        }
    }
}

/// The connection to one Redis, made when first needed.
pub(super) struct Conn {
    client: redis::Client,
    url: String,
    manager: tokio::sync::Mutex<Slot>,
    durability: OnceLock<Durability>,
}

/// The connection once made, or when and why the last connect failed.
#[derive(Default)]
struct Slot {
    made: Option<ConnectionManager>,
    failed: Option<(std::time::Instant, StoreError)>,
}

impl Conn {
    pub(super) fn new(url: &RedisUrl) -> Conn {
        Conn {
            client: url.client().clone(),
            url: url.shown().to_owned(),
            manager: tokio::sync::Mutex::new(Slot::default()),
            durability: OnceLock::new(),
        }
    }

    /// The URL, as it may be shown.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// What Redis said of its durability at the first connect (connecting if need be).
    pub(super) async fn durability(&self) -> Result<&Durability, StoreError> {
        self.connection().await?;
        self.durability
            .get()
            .ok_or_else(|| self.unavailable("durability not read"))
    }

    /// The connection, made if need be; a connect that failed less than [`RECONNECT_AFTER`]
    /// ago fails again at once.
    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let mut slot = self.manager.lock().await;
        if let Some(m) = slot.made.as_ref() {
            return Ok(m.clone());
        }
        if let Some((at, why)) = &slot.failed {
            if at.elapsed() < RECONNECT_AFTER {
                return Err(why.clone());
            }
        }
        match self.connect().await {
            Ok(m) => {
                *slot = Slot {
                    made: Some(m.clone()),
                    failed: None,
                };
                Ok(m)
            }
            Err(e) => {
                slot.failed = Some((std::time::Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// Connects, and reads the durability at the first connect.
    async fn connect(&self) -> Result<ConnectionManager, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        let made = ConnectionManager::new_with_config(self.client.clone(), config);
        let mut m = tokio::time::timeout(CONNECT_TIMEOUT * 2, made)
            .await
            .map_err(|_| self.unavailable("connect timed out"))?
            .map_err(|e| self.failed(&e))?;
        if self.durability.get().is_none() {
            let read = tokio::time::timeout(CALL_TIMEOUT, Durability::read(&mut m))
                .await
                .map_err(|_| self.unavailable("no answer in time"))?
                .map_err(|e| self.failed(&e))?;
            if read.weak() {
                tracing::warn!(store = %self.url, "spool: {}", read.line());
            }
            let _ = self.durability.set(read);
        }
        Ok(m)
    }

    /// Runs `script` with `args` (after the key prefix) and returns its answer.
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        args: &[Vec<u8>],
    ) -> Result<T, StoreError> {
        self.eval(script, args, false).await
    }

    /// Runs `script`, then, where Redis has `WAITAOF` and an append-only file, waits on the
    /// same connection until the file holds what it wrote, fsynced.
    pub(super) async fn run_durably<T: FromRedisValue>(
        &self,
        script: &Script,
        args: &[Vec<u8>],
    ) -> Result<T, StoreError> {
        self.eval(script, args, true).await
    }

    async fn eval<T: FromRedisValue>(
        &self,
        script: &Script,
        args: &[Vec<u8>],
        durably: bool,
    ) -> Result<T, StoreError> {
        let mut conn = self.connection().await?;
        let wait = durably && self.durability.get().is_some_and(Durability::waitaof);
        for whole in [false, true] {
            let pipe = pipeline(script, args, whole, wait);
            let answer = tokio::time::timeout(CALL_TIMEOUT, pipe.query_async(&mut conn)).await;
            match answer {
                Ok(Ok(values)) => return self.answer(values, wait),
                Ok(Err(e))
                    if !whole && e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {}
                Ok(Err(e)) => return Err(self.failed(&e)),
                Err(_) => return Err(self.unavailable("no answer in time")),
            }
        }
        Err(self.unavailable("the script was not loaded"))
    }

    /// The script's answer, once `WAITAOF` (when `waited`) says the local file has it.
    fn answer<T: FromRedisValue>(&self, values: Vec<Value>, waited: bool) -> Result<T, StoreError> {
        let mut values = values.into_iter();
        let first = values.next().unwrap_or(Value::Nil);
        if waited {
            let synced: Vec<i64> = values
                .next()
                .map(redis::from_redis_value)
                .transpose()
                .map_err(|e| self.unavailable(&e.to_string()))?
                .unwrap_or_default();
            if synced.first().copied().unwrap_or(0) < 1 {
                return Err(
                    self.unavailable("the append-only file did not confirm the write in time")
                );
            }
        }
        redis::from_redis_value(first)
            .map_err(|e| self.unavailable(&format!("unexpected answer: {e}")))
    }

    pub(super) fn unavailable(&self, why: &str) -> StoreError {
        StoreError::Unavailable(format!("spool store {}: {why}", self.url))
    }

    fn failed(&self, e: &RedisError) -> StoreError {
        self.unavailable(&e.to_string())
    }
}

/// `EVALSHA` (or `EVAL` with the whole script), then `WAITAOF 1 0` when `wait`.
fn pipeline(script: &Script, args: &[Vec<u8>], whole: bool, wait: bool) -> redis::Pipeline {
    let mut eval = redis::cmd(if whole { "EVAL" } else { "EVALSHA" });
    eval.arg(if whole {
        script.body
    } else {
        script.sha.as_str()
    })
    .arg(0)
    .arg(super::PREFIX);
    for a in args {
        eval.arg(a.as_slice());
    }
    let mut pipe = redis::pipe();
    pipe.add_command(eval);
    if wait {
        let ms = crate::spool::millis(WAITAOF_TIMEOUT);
        pipe.cmd("WAITAOF").arg(1).arg(0).arg(ms);
    }
    pipe
}
