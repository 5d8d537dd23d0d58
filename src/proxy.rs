//! The request path as named phases, in order (pingora's `ProxyHttp` is the model: one
//! context per request, each phase one job, each returning `Result<_, Rejection>`):
//!
//! 1. `admit`: the request target (400), `Host` (400), the route (404), the method (405) and
//!    the declared size (413 before a byte of body is read);
//! 2. `read_body`: the body under the route's cap and the server's deadline (413 / 408 / 400);
//! 3. `authenticate`: the signature on the exact bytes received (401), as a [`Mark`];
//! 4. `claim`: replay protection for verified deliveries (409 / 503, or 200 for a duplicate),
//!    as a guard that settles itself from the upstream's answer;
//! 5. `forward`: the very bytes that were verified, to the route's upstream (502 / 504);
//! 6. `respond`: the upstream's answer, streamed back.
//!
//! What the request came to is an [`outcome::Outcome`], from which the log line and the
//! metrics are derived. This module never returns an error to hyper: every outcome is a
//! response. Connections belong to `server`; the upstream pools to `upstream`; the signature
//! schemes to `scheme`.

mod admit;
mod authenticate;
mod claim;
mod client;
mod forward;
mod outcome;
mod rejection;
mod request_id;
mod spool;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use hyper::body::Body;

pub use self::admit::{check_host, check_method, check_size, read_body};
pub use self::authenticate::{authenticate, Answer, Mark};
use self::claim::Claimed;
use self::client::Client;
use self::outcome::Outcome;
pub use self::rejection::Rejection;
use crate::body::{BoxError, ResponseBody};
use crate::config::{Config, DeliveryMode, ReplayStore, Route, Server};
use crate::history::History;
pub use crate::listener::Peer;
use crate::metrics::{InFlight, Metrics, RouteMetrics};
use crate::replay::{MemoryStore, RedisStore, Store};
use crate::routing::RouteTable;
use crate::scheme::{Signed, Verified};
use crate::spool::Spool;
use crate::upstream::{Target, Upstream};

/// One config, ready to serve: routes, their upstream targets, server limits. Requests hold
/// the snapshot they started with, so a reload never changes a request half way.
#[derive(Debug)]
pub struct Snapshot {
    table: RouteTable,
    targets: Vec<Target>,
    /// Per route, its most used metric series, resolved once.
    route_metrics: Vec<RouteMetrics>,
    server: Server,
}

impl Snapshot {
    /// The route named `name`, with its index, and its upstream target.
    pub fn route_named(&self, name: &str) -> Option<(&Route, &Target)> {
        let routes = self.table.routes();
        let index = routes.iter().position(|r| r.name == name)?;
        Some((&routes[index], &self.targets[index]))
    }

    /// The route table.
    pub fn routes(&self) -> &RouteTable {
        &self.table
    }

    /// `[server]` of this config.
    pub fn server(&self) -> &Server {
        &self.server
    }
}

impl Snapshot {
    fn build(config: Config, upstream: &Upstream) -> Snapshot {
        let targets = config
            .routes
            .iter()
            .map(|r| upstream.target(&r.upstream, config.server.max_upstream_connections))
            .collect();
        let route_metrics = config
            .routes
            .iter()
            .map(|r| RouteMetrics::new(&r.name, r.scheme.provider()))
            .collect();
        Snapshot {
            table: RouteTable::new(config.routes),
            targets,
            route_metrics,
            server: config.server,
        }
    }
}

/// The hyper service's state: the current config snapshot, the upstream pools, the metrics.
#[derive(Debug)]
pub struct Proxy {
    current: ArcSwap<Snapshot>,
    upstream: Upstream,
    metrics: Arc<Metrics>,
    /// The listener's TLS at start: whether it speaks TLS is fixed for the process (for
    /// `X-Forwarded-Proto` and for `server`); a reload may change only the certificate.
    tls_at_start: Option<crate::config::Tls>,
    /// Set when shutdown begins: `/readyz` then says not ready.
    draining: AtomicBool,
    /// Delivery keys, for routes with replay protection.
    replay: Store,
    /// The store's settings, to tell a reload that changes them needs a restart.
    replay_config: ReplayStore,
    /// `[admin]` at start, likewise.
    admin_config: Option<crate::config::Admin>,
    /// The spool, when a route spooled at start.
    spool: Option<Arc<Spool>>,
    /// Recent requests, for the inspector page (none kept without an admin listener).
    history: History,
}

impl Proxy {
    /// The proxy for a validated config, recording into `metrics`.
    pub fn new(config: Config, metrics: Arc<Metrics>) -> Proxy {
        let upstream = Upstream::new();
        let tls_at_start = config.server.tls.clone();
        let replay_config = config.replay.clone();
        let config_admin = config.admin.clone();
        let replay = match &config.replay {
            ReplayStore::Memory { max_entries } => Store::Memory(MemoryStore::new(*max_entries)),
            ReplayStore::Redis(url) => Store::Redis(RedisStore::new(url)),
        };
        let snapshot = Snapshot::build(config, &upstream);
        Proxy {
            current: ArcSwap::from_pointee(snapshot),
            upstream,
            metrics,
            tls_at_start,
            draining: AtomicBool::new(false),
            replay,
            replay_config,
            history: History::new(config_admin.as_ref().map_or(0, |a| a.history)),
            admin_config: config_admin,
            spool: None,
        }
    }

    /// This proxy, committing spooled deliveries to `spool`.
    #[must_use]
    pub fn with_spool(mut self, spool: Arc<Spool>) -> Proxy {
        self.spool = Some(spool);
        self
    }

    /// Recent requests and per-route tallies, for the inspector page.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The spool, when one is open.
    pub fn spool(&self) -> Option<&Arc<Spool>> {
        self.spool.as_ref()
    }

    /// The shared upstream clients (the delivery workers send through them too).
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Whether `config` keeps the admin listener this process runs with.
    pub fn same_admin(&self, config: &Config) -> bool {
        self.admin_config == config.admin
    }

    /// Whether `config` keeps the replay store this proxy runs with (it changes only with a
    /// restart).
    pub fn same_replay_store(&self, config: &Config) -> bool {
        self.replay_config == config.replay
    }

    /// The listener's TLS as the process started (see the field).
    pub fn tls_at_start(&self) -> Option<&crate::config::Tls> {
        self.tls_at_start.as_ref()
    }

    /// Marks the proxy as shutting down.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The config now in force.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The metrics this proxy records.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Swaps in a new validated config: requests already started finish on the old one.
    pub fn reload(&self, config: Config) {
        self.current
            .store(Arc::new(Snapshot::build(config, &self.upstream)));
    }

    /// Handles one request from `peer`. Never fails: every outcome is a response.
    pub async fn handle<B>(&self, req: Request<B>, peer: Peer) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let _in_flight = InFlight::enter(&self.metrics);
        let snapshot = self.current.load_full();
        let (parts, body) = req.into_parts();
        let mut ctx = Ctx::new(&snapshot, parts, peer);
        let (mut response, outcome) = match self.process(&mut ctx, body).await {
            Ok(done) => done,
            Err(rejection) => {
                let res = rejection.answer(ctx.parts.version, ctx.route_ref());
                (res, Outcome::Rejected(rejection))
            }
        };
        request_id::echo(&ctx.parts.headers, response.headers_mut());
        self.record(&ctx, response.status(), &outcome);
        response
    }

    /// The phases, in order.
    async fn process<B>(
        &self,
        ctx: &mut Ctx<'_>,
        body: B,
    ) -> Result<(Response<ResponseBody>, Outcome), Rejection>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let snapshot = ctx.snapshot;
        let (index, route) = ctx.admit(body.size_hint().lower())?;
        let body = read_body(body, route.max_body, snapshot.server().body_timeout).await?;
        let signed = signed(&ctx.parts, &body);
        let mark = authenticate(route, &signed, SystemTime::now())?;
        ctx.verified = mark.verified().cloned();
        if let Mark::Answer { answer, .. } = mark {
            let handshake = Outcome::Handshake {
                upstream_status: None,
            };
            return Ok((answer.response(), handshake));
        }
        let guard = match self
            .claim(snapshot, route, mark.verified(), &signed)
            .await?
        {
            Claimed::Go(guard) => guard,
            Claimed::Duplicate => return Ok((claim::duplicate(), Outcome::Duplicate)),
        };
        // Only a verified delivery is ever spooled: never a handshake or a shadow forward.
        if matches!(mark, Mark::Verified(_)) && route.delivery != DeliveryMode::Forward {
            return self.deliver(ctx, index, body, &mark, guard).await;
        }
        let req = self.upstream_request(ctx, index, body, &mark);
        let res = self.forward(ctx, index, req).await;
        if let Some(guard) = guard {
            guard.settle(res.as_ref().ok().map(Response::status)).await;
        }
        let res = res?;
        let upstream_status = res.status().as_u16();
        let outcome = match mark {
            Mark::Shadow(why) => Outcome::Shadow {
                why,
                upstream_status,
            },
            Mark::Handshake => Outcome::Handshake {
                upstream_status: Some(upstream_status),
            },
            Mark::Verified(_) | Mark::Answer { .. } => Outcome::Forwarded { upstream_status },
        };
        Ok((forward::respond(res), outcome))
    }
}

/// One request as it moves through the phases: what is known so far, for the next phase and
/// for the log line.
struct Ctx<'a> {
    snapshot: &'a Snapshot,
    /// The request head, with its request id set.
    parts: Parts,
    /// Who sent it: the peer, or what trusted proxies say in `X-Forwarded-For`.
    client: Client,
    /// [`Client::text`], for the log line, the inspector and `X-Forwarded-For`.
    client_text: String,
    request_id: String,
    start: Instant,
    /// The route's index in the snapshot, once `admit` has found it.
    route: Option<usize>,
    /// The verdict, once `authenticate` has held the signature.
    verified: Option<Verified>,
}

impl<'a> Ctx<'a> {
    fn new(snapshot: &'a Snapshot, mut parts: Parts, peer: Peer) -> Ctx<'a> {
        let start = Instant::now();
        let request_id = request_id::assign(&mut parts.headers);
        let trusted = &snapshot.server().trusted_proxies;
        let client = client::resolve(peer, &parts.headers, trusted);
        Ctx {
            snapshot,
            parts,
            client_text: client.text(),
            client,
            request_id,
            start,
            route: None,
            verified: None,
        }
    }

    /// The matched route, if any.
    fn route_ref(&self) -> Option<&'a Route> {
        self.route.map(|i| &self.snapshot.routes().routes()[i])
    }
}

/// What the scheme judges: the head and the exact bytes received.
fn signed<'b>(parts: &'b Parts, body: &'b Bytes) -> Signed<'b> {
    Signed {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body,
    }
}
