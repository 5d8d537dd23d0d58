//! The delivery workers: they drain the spool into the app. One dispatcher task claims due
//! deliveries route by route (at most `max_in_flight` attempts of a route at once, one at a
//! time and strictly in order on an `ordered` route, one probe at a time after five failures
//! in a row) and runs each attempt as a task of its own. An attempt is the stored request
//! plus `X-Hookwall-Spool-Id`, `X-Hookwall-Attempt` and `X-Hookwall-Received-At`, sent
//! through the proxy's upstream clients to the route as configured now; its result is
//! settled in the store by the rules of `spool::schedule`.
//!
//! At least once: a delivery is marked in flight before its attempt and settled after it, so
//! a crash leaves it in flight, and it is taken up again (SQLite: at the next start; Redis:
//! by any replica once `claim_after` has passed). On stop, attempts
//! under way get `shutdown_timeout` to finish; the rest stay pending.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderValue, RETRY_AFTER};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::config::{DeliveryMode, Route};
use crate::headers::{X_HOOKWALL_ATTEMPT, X_HOOKWALL_RECEIVED_AT, X_HOOKWALL_SPOOL_ID};
use crate::proxy::Proxy;
use crate::spool::schedule::retry_after;
use crate::spool::{self, Attempt, DeadReason, Next, Policy, Record, Settle, Spool};
use crate::upstream::UpstreamError;

/// Failures in a row after which a route sends one probe at a time until one succeeds.
const TRIP_AFTER: u32 = 5;
/// The longest the dispatcher sleeps without looking at the store.
const IDLE: Duration = Duration::from_secs(1);
/// How long a route waits to look again when something is due that it could not claim.
const BLOCKED_POLL_MS: u64 = 250;
/// How often delivered and dead deliveries past their retention are forgotten.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// How long an attempt reads the rest of the app's answer after its head.
const DRAIN: Duration = Duration::from_secs(5);

/// The running workers; [`Workers::stop`] ends them, and so does dropping them (at once).
pub struct Workers {
    stop: watch::Sender<Option<Duration>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Workers {
    /// Starts draining `spool` through `proxy`'s routes and upstream clients.
    pub fn start(proxy: Arc<Proxy>, spool: Arc<Spool>) -> Workers {
        let (stop, stopping) = watch::channel(None);
        let dispatcher = Dispatcher {
            proxy,
            spool,
            in_flight: HashMap::new(),
            failures: HashMap::new(),
            paused_until: HashMap::new(),
            operator_wakes: 0,
            attempts: JoinSet::new(),
            known: Vec::new(),
            known_at: None,
            purged_at: Instant::now(),
        };
        let task = tokio::spawn(dispatcher.run(stopping));
        Workers {
            stop,
            task: Some(task),
        }
    }

    /// Stops claiming, lets attempts under way finish within `deadline`, then ends.
    pub async fn stop(mut self, deadline: Duration) {
        let _ = self.stop.send(Some(deadline));
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The dispatcher's state.
struct Dispatcher {
    proxy: Arc<Proxy>,
    spool: Arc<Spool>,
    /// Attempts under way, per route.
    in_flight: HashMap<String, usize>,
    /// Failed attempts in a row, per route.
    failures: HashMap<String, u32>,
    /// A tripped route sends nothing before this (its last failure's next attempt).
    paused_until: HashMap<String, u64>,
    /// [`Spool::operator_wakes`] as last seen: a new one lifts every pause.
    operator_wakes: u64,
    /// Each attempt's task: its route and what came of it.
    attempts: JoinSet<(String, Next)>,
    /// Routes that have undelivered deliveries, as last read from the store.
    known: Vec<String>,
    known_at: Option<Instant>,
    purged_at: Instant,
}

impl Dispatcher {
    async fn run(mut self, mut stopping: watch::Receiver<Option<Duration>>) {
        loop {
            while let Some(done) = self.attempts.try_join_next() {
                self.finished(done);
            }
            let wake_at = self.dispatch().await;
            tokio::select! {
                () = self.spool.woken() => {}
                () = tokio::time::sleep_until(wake_at) => {}
                Some(done) = self.attempts.join_next() => self.finished(done),
                _ = stopping.changed() => break,
            }
        }
        let deadline = (*stopping.borrow()).unwrap_or(Duration::ZERO);
        self.drain(deadline).await;
    }

    /// Lets attempts under way finish within `deadline`; the rest stay in flight in the
    /// store, to be taken up again (SQLite: at the next start; Redis: after `claim_after`).
    async fn drain(mut self, deadline: Duration) {
        let all = async { while self.attempts.join_next().await.is_some() {} };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!(
                left = self.attempts.len(),
                "spool: attempts still under way at shutdown are retried at the next start"
            );
            self.attempts.abort_all();
        }
    }

    fn finished(&mut self, done: Result<(String, Next), tokio::task::JoinError>) {
        let Ok((route, next)) = done else { return };
        if let Some(n) = self.in_flight.get_mut(&route) {
            *n = n.saturating_sub(1);
        }
        let failures = self.failures.entry(route.clone()).or_insert(0);
        if next == Next::Delivered {
            *failures = 0;
            self.paused_until.remove(&route);
            return;
        }
        *failures = failures.saturating_add(1);
        if let (true, Next::RetryAt(at)) = (*failures >= TRIP_AFTER, next) {
            // Tripped: nothing more until this delivery's next attempt, the probe.
            self.paused_until.insert(route, at);
        }
    }

    /// Starts every attempt that is due and has room; returns when to look again.
    async fn dispatch(&mut self) -> Instant {
        let mut wake_at = Instant::now() + IDLE;
        let operator_wakes = self.spool.operator_wakes();
        if operator_wakes != self.operator_wakes {
            // An operator retried or redrove: a tripped route probes now (still one at a
            // time until a probe succeeds).
            self.operator_wakes = operator_wakes;
            self.paused_until.clear();
        }
        self.purge().await;
        for name in self.routes().await {
            match self.dispatch_route(&name).await {
                Ok(Some(due)) => wake_at = wake_at.min(instant_at(due)),
                Ok(None) => {}
                Err(e) => tracing::warn!(route = %name, error = %e, "spool: cannot read the store"),
            }
        }
        wake_at
    }

    /// The routes to look at: those configured to spool, and those with undelivered
    /// deliveries in the store (re-read at most every [`IDLE`]). A shared store's routes
    /// that this config lacks are left to the replicas that have them: during a rolling
    /// change of config one replica knows a route the others do not yet, and its deliveries
    /// must not be set aside as `route_removed` by them.
    async fn routes(&mut self) -> Vec<String> {
        if self.known_at.is_none_or(|at| at.elapsed() >= IDLE) {
            if let Ok(routes) = self.spool.store().pending_routes().await {
                self.known = routes;
                self.known_at = Some(Instant::now());
            }
        }
        let snapshot = self.proxy.snapshot();
        let mut names: Vec<String> = snapshot
            .routes()
            .routes()
            .iter()
            .filter(|r| r.delivery != DeliveryMode::Forward)
            .map(|r| r.name.clone())
            .collect();
        if !self.spool.store().is_shared() {
            for name in &self.known {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// Starts `name`'s due attempts; returns when its next pending delivery is due.
    async fn dispatch_route(&mut self, name: &str) -> Result<Option<u64>, spool::StoreError> {
        let snapshot = self.proxy.snapshot();
        let Some((route, _)) = snapshot.route_named(name) else {
            return self.route_removed(name).await;
        };
        let busy = self.in_flight.get(name).copied().unwrap_or(0);
        if let Some(&until) = self.paused_until.get(name) {
            if spool::now_ms() < until {
                return Ok(Some(until));
            }
        }
        let tripped = self.failures.get(name).is_some_and(|f| *f >= TRIP_AFTER);
        let room = if tripped {
            1
        } else {
            route.spool.max_in_flight
        };
        if busy >= room {
            // Full: the end of an attempt wakes the dispatcher.
            return Ok(None);
        }
        let store = self.spool.store();
        let now = spool::now_ms();
        let claimed = store
            .claim(name, room - busy, route.spool.ordered, now)
            .await?;
        let taken = claimed.len();
        for (record, attempt) in claimed {
            *self.in_flight.entry(name.to_owned()).or_insert(0) += 1;
            let (proxy, spool) = (Arc::clone(&self.proxy), Arc::clone(&self.spool));
            self.attempts
                .spawn(async move { try_once(proxy, spool, record, attempt).await });
        }
        if busy + taken >= room {
            return Ok(None);
        }
        let due = store.next_due(name).await?;
        if taken == 0 {
            // Due but not claimable: an ordered route's head waits for its retry, or another
            // replica took it. Look again a little later rather than at once.
            return Ok(due.map(|d| d.max(now + BLOCKED_POLL_MS)));
        }
        Ok(due)
    }

    /// A route no longer configured: its deliveries go dead (`route_removed`), kept for a
    /// redrive once it returns.
    async fn route_removed(&mut self, name: &str) -> Result<Option<u64>, spool::StoreError> {
        let store = self.spool.store();
        let now = spool::now_ms();
        for (record, _) in store.claim(name, 1000, false, now).await? {
            let reason = DeadReason::RouteRemoved;
            self.proxy.metrics().spool.dead(name, reason.code());
            tracing::warn!(route = %name, spool_id = %record.id, "spool: route removed; delivery set aside as dead");
            store
                .settle(Settle {
                    id: record.id,
                    next: Next::Dead(reason),
                    status: None,
                    error: Some("route removed from the config".into()),
                    now_ms: now,
                })
                .await?;
        }
        Ok(None)
    }

    /// Forgets what is past its retention, at most every [`PURGE_EVERY`].
    async fn purge(&mut self) {
        if self.purged_at.elapsed() < PURGE_EVERY {
            return;
        }
        self.purged_at = Instant::now();
        let settings = self.spool.settings();
        let now = spool::now_ms();
        // A retention past u64 milliseconds keeps everything.
        let before = |d: Duration| now.saturating_sub(spool::millis(d));
        let purged = self
            .spool
            .store()
            .purge(before(settings.retention), before(settings.dead_retention))
            .await;
        if let Err(e) = purged {
            tracing::warn!(error = %e, "spool: purge failed");
        }
    }
}

/// The tokio instant of a time in milliseconds since the epoch.
fn instant_at(ms: u64) -> Instant {
    let wait = ms.saturating_sub(spool::now_ms());
    Instant::now() + Duration::from_millis(wait)
}

/// One attempt of `record` (number `attempt`), settled in the store; returns the route and
/// what comes next for the delivery.
async fn try_once(
    proxy: Arc<Proxy>,
    spool: Arc<Spool>,
    record: Record,
    attempt: u32,
) -> (String, Next) {
    let snapshot = proxy.snapshot();
    let route_name = record.route.clone();
    let Some((route, target)) = snapshot.route_named(&record.route) else {
        let reason = DeadReason::RouteRemoved;
        proxy.metrics().spool.dead(&route_name, reason.code());
        settle(&spool, &record, Next::Dead(reason), None, None).await;
        return (route_name, Next::Dead(reason));
    };
    let timeout = snapshot.server().upstream_timeout;
    let req = attempt_request(&record, attempt);
    let result = match proxy.upstream().send(target, req, timeout).await {
        Ok(res) => {
            let status = res.status();
            let wait = retry_after(status, res.headers().get(RETRY_AFTER), SystemTime::now());
            // Read the rest, so the connection can serve the next attempt; frame by frame,
            // kept nowhere: the app's answer is not ours to buffer.
            let mut body = res.into_body();
            let _ = tokio::time::timeout(DRAIN, async {
                while let Some(Ok(_)) = body.frame().await {}
            })
            .await;
            Attempt::Answered {
                status,
                retry_after: wait,
            }
        }
        Err(UpstreamError::Timeout) => Attempt::TimedOut,
        // Busy: every connection to the app stayed taken; nothing was sent.
        Err(UpstreamError::Down(_) | UpstreamError::Busy) => Attempt::Unreachable,
    };
    let next = policy(route, &spool).next(
        result,
        attempt,
        record.received_at_ms,
        spool::now_ms(),
        crate::unique::spread(),
    );
    log(&record, attempt, result, next);
    count(&proxy, &record.route, result, next);
    let status = match result {
        Attempt::Answered { status, .. } => Some(status.as_u16()),
        _ => None,
    };
    let error = (!matches!(next, Next::Delivered)).then(|| result.result().to_owned());
    settle(&spool, &record, next, status, error).await;
    (route_name, next)
}

/// The route's retry policy, with `[spool]`'s `max_age` and `no_retry_status`.
fn policy<'a>(route: &'a Route, spool: &'a Spool) -> Policy<'a> {
    Policy {
        schedule: &route.spool.retry_schedule,
        max_age: spool.settings().max_age,
        no_retry_status: &spool.settings().no_retry_status,
    }
}

/// The stored request, with the attempt's own headers.
fn attempt_request(record: &Record, attempt: u32) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(record.body.clone()));
    *req.method_mut() = record.method.clone();
    *req.uri_mut() = Uri::from(record.target.clone());
    let mut headers = record.headers.clone();
    if let Ok(id) = HeaderValue::from_str(&record.id) {
        headers.insert(X_HOOKWALL_SPOOL_ID.clone(), id);
    }
    headers.insert(X_HOOKWALL_ATTEMPT.clone(), HeaderValue::from(attempt));
    if let Ok(at) = HeaderValue::from_str(&spool::rfc3339(record.received_at_ms)) {
        headers.insert(X_HOOKWALL_RECEIVED_AT.clone(), at);
    }
    *req.headers_mut() = headers;
    req
}

async fn settle(
    spool: &Spool,
    record: &Record,
    next: Next,
    status: Option<u16>,
    error: Option<String>,
) {
    let settled = spool
        .store()
        .settle(Settle {
            id: record.id.clone(),
            next,
            status,
            error,
            now_ms: spool::now_ms(),
        })
        .await;
    if let Err(e) = settled {
        // The delivery stays in flight in the store and is taken up again (SQLite: at the
        // next start; Redis: after `claim_after`).
        tracing::warn!(route = %record.route, spool_id = %record.id, error = %e, "spool: cannot record an attempt");
    }
}

/// The attempt in `hookwall_spool_attempts_total`, and a death in `hookwall_spool_dead_total`.
fn count(proxy: &Proxy, route: &str, result: Attempt, next: Next) {
    let metrics = &proxy.metrics().spool;
    metrics.attempt(route, result.result());
    if let Next::Dead(reason) = next {
        metrics.dead(route, reason.code());
    }
}

/// The attempt's log line: never a header value or a body.
fn log(record: &Record, attempt: u32, result: Attempt, next: Next) {
    let (route, spool_id) = (record.route.as_str(), record.id.as_str());
    let status = match result {
        Attempt::Answered { status, .. } => Some(status.as_u16()),
        _ => None,
    };
    let outcome = result.result();
    match next {
        Next::Delivered => {
            tracing::info!(target: "hookwall::spool", route, spool_id, attempt, status, "delivered")
        }
        Next::RetryAt(at) => {
            tracing::info!(target: "hookwall::spool", route, spool_id, attempt, status, outcome, retry_in_ms = at.saturating_sub(spool::now_ms()), "attempt failed; will retry")
        }
        Next::Dead(reason) => {
            tracing::warn!(target: "hookwall::spool", route, spool_id, attempt, status, outcome, reason = reason.code(), "dead")
        }
    }
}
