//! One upstream's connections: idle ones kept most recently used first and dropped after
//! [`IDLE`] or when they close, at most `max_upstream_connections` open at once (idle, busy
//! or connecting), and the wait for a free one when all are taken.
//!
//! A connection is open while its task runs: the task holds a [`Slot`], and gives it back
//! (waking one waiting request) when the connection ends, whatever ends it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::connect::Endpoint;
use crate::body::BoxError;

/// How long an idle connection is kept. Below gunicorn's default keep-alive (2 s), so
/// hookwall drops an idle connection before the app does, rather than sending a request into
/// a connection the app is closing.
pub(crate) const IDLE: Duration = Duration::from_millis(1500);

/// The connections to one upstream.
#[derive(Debug)]
pub(crate) struct Pool {
    endpoint: Endpoint,
    state: Mutex<State>,
    limit: AtomicUsize,
    /// Signalled when a connection comes back idle or a slot is given back.
    freed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Oldest first: the most recently used is taken from the end.
    idle: Vec<Idle>,
    /// Connections open or being opened.
    open: usize,
    /// Whether a sweeper is dropping expired idle connections.
    sweeping: bool,
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

/// One HTTP/1 connection: the handle requests are sent through, and its task.
///
/// Dropped with an exchange unfinished (the sender went away, or the answer's body was not
/// read to its end), the connection may finish it (a request whose sender went away is still
/// sent whole) for at most the request's `upstream_timeout` more, then it is closed: an app
/// that never answers cannot hold a slot of the pool for ever.
#[derive(Debug)]
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    task: AbortHandle,
    /// While an exchange is unfinished: how long it may go on once the connection is
    /// dropped (its `upstream_timeout`). `None` when idle, or closed.
    unfinished: Option<Duration>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(grace) = self.unfinished else { return };
        if self.sender.is_closed() || self.task.is_finished() {
            return;
        }
        let task = self.task.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            task.abort();
        });
    }
}

/// What a request sent on a connection came to.
pub(crate) enum Sent {
    Answered(hyper::Response<Incoming>),
    /// The connection could not take it (it had closed): the request comes back unsent.
    Unsent(Request<Full<Bytes>>, hyper::Error),
    Failed(hyper::Error),
}

impl Conn {
    fn new(sender: SendRequest<Full<Bytes>>, task: AbortHandle) -> Conn {
        Conn {
            sender,
            task,
            unfinished: None,
        }
    }

    /// Closes the connection now: its exchange is abandoned (the answer came too late).
    pub(crate) fn close(mut self) {
        self.task.abort();
        self.unfinished = None;
    }

    /// Sends `req` once the connection is ready for it; `grace` is its `upstream_timeout`.
    pub(crate) async fn send(&mut self, req: Request<Full<Bytes>>, grace: Duration) -> Sent {
        self.unfinished = Some(grace);
        if let Err(e) = self.sender.ready().await {
            return Sent::Unsent(req, e);
        }
        match self.sender.try_send_request(req).await {
            Ok(res) => Sent::Answered(res),
            Err(mut e) => match e.take_message() {
                Some(req) => Sent::Unsent(req, e.into_error()),
                None => Sent::Failed(e.into_error()),
            },
        }
    }
}

/// The right to one open connection, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Pool>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.lock().open -= 1;
        self.0.freed.notify_one();
    }
}

/// A connection to use: an idle one, or the slot to open one.
pub(crate) enum Acquired {
    Idle(Conn),
    New(Slot),
}

impl Pool {
    pub(crate) fn new(endpoint: Endpoint, limit: usize) -> Pool {
        Pool {
            endpoint,
            state: Mutex::new(State::default()),
            limit: AtomicUsize::new(limit.max(1)),
            freed: Notify::new(),
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Opens a connection with `slot`: connects, does the HTTP/1 handshake, and starts the
    /// connection's task, which keeps the slot until the connection ends.
    ///
    /// # Errors
    /// Refused, unreachable, a failed TLS or HTTP/1 handshake.
    pub(crate) async fn open(&self, slot: Slot) -> Result<Conn, BoxError> {
        let io = TokioIo::new(self.endpoint.connect().await?);
        let (sender, connection) = http1::Builder::new()
            .handshake::<_, Full<Bytes>>(io)
            .await?;
        let task = tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(Conn::new(sender, task.abort_handle()))
    }

    /// Sets the most connections open at once (a reload may change it).
    pub(crate) fn set_limit(&self, limit: usize) {
        self.limit.store(limit.max(1), Ordering::Relaxed);
        self.freed.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently used idle connection, else a slot to open one, waiting for either
    /// while every slot is taken.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Acquired {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(acquired) = self.try_acquire() {
                return acquired;
            }
            freed.await;
        }
    }

    fn try_acquire(self: &Arc<Self>) -> Option<Acquired> {
        let mut stale = Vec::new();
        let mut state = self.lock();
        let acquired = loop {
            match state.idle.pop() {
                Some(idle) if idle.conn.sender.is_closed() || idle.since.elapsed() >= IDLE => {
                    stale.push(idle);
                }
                Some(idle) => break Some(Acquired::Idle(idle.conn)),
                None if state.open < self.limit.load(Ordering::Relaxed) => {
                    state.open += 1;
                    break Some(Acquired::New(Slot(Arc::clone(self))));
                }
                None => break None,
            }
        };
        drop(state);
        // Closing them (their tasks drop their slots) happens outside the lock.
        drop(stale);
        acquired
    }

    /// Takes `conn` back after a complete exchange, for the next request.
    pub(crate) fn put_back(self: &Arc<Self>, mut conn: Conn) {
        conn.unfinished = None;
        if conn.sender.is_closed() {
            return;
        }
        let mut state = self.lock();
        state.idle.push(Idle {
            conn,
            since: Instant::now(),
        });
        let start_sweeper = !std::mem::replace(&mut state.sweeping, true);
        drop(state);
        self.freed.notify_one();
        if start_sweeper {
            tokio::spawn(sweep(Arc::downgrade(self)));
        }
    }

    /// Drops the idle connections older than [`IDLE`]; whether any idle one is left.
    fn expire(&self) -> bool {
        let mut state = self.lock();
        let fresh = state.idle.partition_point(|i| i.since.elapsed() >= IDLE);
        let expired: Vec<Idle> = state.idle.drain(..fresh).collect();
        let left = !state.idle.is_empty();
        state.sweeping = left;
        drop(state);
        drop(expired);
        left
    }
}

/// Closes a pool's expired idle connections until it has none idle (or is gone).
async fn sweep(pool: Weak<Pool>) {
    loop {
        tokio::time::sleep(IDLE / 2).await;
        match pool.upgrade() {
            Some(pool) if pool.expire() => {}
            _ => return,
        }
    }
}
