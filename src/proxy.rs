//! The request path, in order: target checks (400), route (404), method (405), declared size
//! (413 before a byte of body is read), body under a cap and a deadline (413 / 408 / 400),
//! signature (401), then forwarding the very bytes that were verified (502 / 504), and the
//! upstream's answer streamed back.
//!
//! This module owns the statuses a sender sees and the per-request log line. It never returns
//! an error to hyper: every outcome is a response. Listening and connections belong to
//! `server`; the upstream pool to `upstream`; the signature check to `scheme`.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{Config, ReplayStore, Route, Server};
pub use crate::listener::Peer;
use crate::metrics::{InFlight, Metrics, RouteMetrics};
use crate::replay::{Claim, MemoryStore, RedisStore, Store};
use crate::routing::RouteTable;
use crate::scheme::handshake::Handshake;
use crate::scheme::{Signed, Unverified};
use crate::target::{self, TargetError};
use crate::upstream::{Target, Upstream, UpstreamError};

/// Errors a body may yield, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response hookwall sends.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// Why a request was answered by hookwall rather than by the upstream.
#[derive(Debug)]
pub enum Rejection {
    BadTarget(TargetError),
    /// HTTP/1 without exactly one `Host`.
    BadHost,
    /// A `Host` not in `[server] hosts`.
    HostNotAllowed,
    NoRoute,
    WrongMethod,
    TooLarge,
    BodyTimeout,
    /// The body could not be read (malformed chunked encoding, cut short).
    BadBody,
    Unverified(Unverified),
    /// A setup handshake that does not hold (a wrong verify token).
    HandshakeRefused,
    /// Another copy of this delivery is being forwarded now.
    InFlight,
    /// The replay store cannot be asked: fail closed, the sender retries.
    ReplayStoreDown,
    UpstreamDown,
    UpstreamTimeout,
}

impl Rejection {
    /// The status the sender gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::BadTarget(_) => StatusCode::BAD_REQUEST,
            Rejection::BadHost => StatusCode::BAD_REQUEST,
            Rejection::HostNotAllowed => StatusCode::BAD_REQUEST,
            Rejection::NoRoute => StatusCode::NOT_FOUND,
            Rejection::WrongMethod => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::BadBody => StatusCode::BAD_REQUEST,
            Rejection::Unverified(_) => StatusCode::UNAUTHORIZED,
            Rejection::HandshakeRefused => StatusCode::FORBIDDEN,
            Rejection::InFlight => StatusCode::CONFLICT,
            Rejection::ReplayStoreDown => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::UpstreamDown => StatusCode::BAD_GATEWAY,
            Rejection::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The reason code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::BadTarget(e) => e.reason(),
            Rejection::BadHost => "bad_host",
            Rejection::HostNotAllowed => "host_not_allowed",
            Rejection::NoRoute => "no_route",
            Rejection::WrongMethod => "method_not_allowed",
            Rejection::TooLarge => "body_too_large",
            Rejection::BodyTimeout => "body_timeout",
            Rejection::BadBody => "bad_body",
            Rejection::Unverified(u) => u.reason(),
            Rejection::HandshakeRefused => "handshake_refused",
            Rejection::InFlight => "in_flight",
            Rejection::ReplayStoreDown => "replay_store_unavailable",
            Rejection::UpstreamDown => "upstream_unreachable",
            Rejection::UpstreamTimeout => "upstream_timeout",
        }
    }

    /// Whether the connection must close after the answer: the request body may be unread,
    /// or the framing itself is in doubt, so the next bytes cannot be trusted as a request.
    fn closes_connection(&self) -> bool {
        match self {
            Rejection::BadTarget(_)
            | Rejection::BadHost
            | Rejection::HostNotAllowed
            | Rejection::NoRoute
            | Rejection::WrongMethod
            | Rejection::TooLarge
            | Rejection::BodyTimeout
            | Rejection::BadBody => true,
            Rejection::Unverified(_)
            | Rejection::HandshakeRefused
            | Rejection::InFlight
            | Rejection::ReplayStoreDown
            | Rejection::UpstreamDown
            | Rejection::UpstreamTimeout => false,
        }
    }

    /// The short, generic body: nothing about what was expected.
    fn body(&self) -> &'static str {
        match self.status() {
            StatusCode::BAD_REQUEST => "bad request\n",
            StatusCode::NOT_FOUND => "not found\n",
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed\n",
            StatusCode::PAYLOAD_TOO_LARGE => "payload too large\n",
            StatusCode::REQUEST_TIMEOUT => "request timeout\n",
            StatusCode::UNAUTHORIZED => "unauthorized\n",
            StatusCode::FORBIDDEN => "forbidden\n",
            StatusCode::CONFLICT => "this delivery is being processed; retry later\n",
            StatusCode::SERVICE_UNAVAILABLE => "service unavailable; retry later\n",
            StatusCode::BAD_GATEWAY => "bad gateway\n",
            StatusCode::GATEWAY_TIMEOUT => "gateway timeout\n",
            _ => "error\n",
        }
    }
}

use crate::headers::{
    self, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_HOOKWALL_DELIVERY_ID,
    X_HOOKWALL_DUPLICATE, X_HOOKWALL_HANDSHAKE, X_HOOKWALL_VERIFIED, X_REQUEST_ID,
};

/// What a sender is told to wait before retrying a 409 or 503.
const RETRY_AFTER_SECS: &str = "5";

/// How much longer than `upstream_timeout` an in-flight claim lives.
const IN_FLIGHT_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

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
    /// The route table.
    pub fn routes(&self) -> &RouteTable {
        &self.table
    }

    /// `[server]` of this config.
    pub fn server(&self) -> &Server {
        &self.server
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
    draining: std::sync::atomic::AtomicBool,
    /// Delivery keys, for routes with replay protection.
    replay: Store,
    /// The store's settings, to tell a reload that changes them needs a restart.
    replay_config: ReplayStore,
    /// `[admin]` at start, likewise.
    admin_config: Option<crate::config::Admin>,
}

/// What one request came to, for the log line and the metrics.
struct Outcome<'a> {
    route: Option<&'a Route>,
    /// The route's index in the snapshot, with `route`.
    route_index: Option<usize>,
    rejection: Option<Rejection>,
    upstream_status: Option<u16>,
    delivery_id: Option<String>,
    secret_slot: Option<usize>,
    handshake: bool,
    /// A shadow-mode route forwarded this request although it did not verify.
    shadow: Option<Unverified>,
    /// A copy of a delivery already delivered: answered 200 without the upstream.
    duplicate: bool,
}

/// How a forwarded request is marked for the upstream.
enum Mark {
    /// Verified, with the delivery id where the scheme has one, and the signed message's
    /// identity where the scheme had it.
    Verified(Option<String>, Option<[u8; 32]>),
    /// An unsigned setup handshake the route opted in to forward.
    Handshake,
    /// Did not verify, forwarded because the route is in shadow mode: no verified header.
    Shadow,
}

/// The answer to a copy of a delivery the upstream already accepted: 200, so the sender stops
/// retrying, and the app sees the event once.
fn duplicate() -> Response<ResponseBody> {
    let mut res = Response::new(
        Full::new(Bytes::from_static(
            b"duplicate delivery; already accepted\n",
        ))
        .map_err(|never| match never {})
        .boxed_unsync(),
    );
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        X_HOOKWALL_DUPLICATE.clone(),
        HeaderValue::from_static("true"),
    );
    res
}

/// The store key of a verified delivery, under the route's name: the provider's delivery id
/// where the signature covers it (Standard Webhooks, Twitch,
/// Mailgun), else a digest of the signed message itself. An unsigned id could be changed by
/// whoever replays a request, and a signature header can be re-spelled (hex case, extra list
/// entries) without changing what it signs; the signed message cannot change, and it is
/// exactly what a provider's own retry of an unchanged delivery repeats.
fn replay_key(
    route: &Route,
    delivery_id: Option<&str>,
    message: Option<[u8; 32]>,
    signed: &Signed<'_>,
) -> String {
    if let (Some(id), true) = (delivery_id, route.scheme.signs_delivery_id()) {
        return format!("hookwall:{}:id:{id}", route.name);
    }
    let digest = message.unwrap_or_else(|| route.scheme.replay_digest(signed));
    format!("hookwall:{}:msg:{}", route.name, hex::encode(digest))
}

/// hookwall's own answer to a setup handshake.
fn answer(handshake: Handshake) -> Result<Response<ResponseBody>, Rejection> {
    match handshake {
        Handshake::Answer {
            status,
            content_type,
            body,
        } => {
            let mut res = Response::new(
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            *res.status_mut() = status;
            if let Some(ct) = content_type {
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            Ok(res)
        }
        Handshake::Refuse => Err(Rejection::HandshakeRefused),
        // Forwarding is the caller's business; reaching here is a bug, and the safe answer
        // is a refusal.
        Handshake::Forward => Err(Rejection::HandshakeRefused),
    }
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
            draining: std::sync::atomic::AtomicBool::new(false),
            replay,
            replay_config,
            admin_config: config_admin,
        }
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
        let start = Instant::now();
        let _in_flight = InFlight::enter(&self.metrics);
        let snapshot = self.current.load_full();
        let (mut parts, body) = req.into_parts();
        let request_id = request_id(&parts.headers);
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            parts.headers.insert(X_REQUEST_ID.clone(), v);
        }
        let mut outcome = Outcome {
            route: None,
            route_index: None,
            rejection: None,
            upstream_status: None,
            delivery_id: None,
            secret_slot: None,
            handshake: false,
            shadow: None,
            duplicate: false,
        };
        let mut response = match self
            .process(&snapshot, &parts, body, peer, &mut outcome)
            .await
        {
            Ok(res) => res,
            Err(rejection) => {
                let res = reject(&rejection, &parts, outcome.route);
                outcome.rejection = Some(rejection);
                res
            }
        };
        if let Some(id) = parts.headers.get(&X_REQUEST_ID) {
            response
                .headers_mut()
                .insert(X_REQUEST_ID.clone(), id.clone());
        }
        self.record(&snapshot, &parts, &response, &outcome, &request_id, start);
        response
    }

    async fn process<'a, B>(
        &self,
        snapshot: &'a Snapshot,
        parts: &Parts,
        body: B,
        peer: Peer,
        outcome: &mut Outcome<'a>,
    ) -> Result<Response<ResponseBody>, Rejection>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        target::check_target(&parts.uri, parts.version).map_err(Rejection::BadTarget)?;
        check_host(parts, &snapshot.server.hosts)?;
        let index = snapshot
            .table
            .find(parts.uri.path())
            .ok_or(Rejection::NoRoute)?;
        let route = &snapshot.table.routes()[index];
        outcome.route = Some(route);
        outcome.route_index = Some(index);
        if !route.methods.contains(&parts.method)
            && !route.scheme.handshake_methods().contains(&parts.method)
        {
            return Err(Rejection::WrongMethod);
        }
        // A declared length over the limit is refused before any of the body is read (and,
        // with `Expect: 100-continue`, before the sender is asked to send it).
        if body.size_hint().lower() > route.max_body {
            return Err(Rejection::TooLarge);
        }
        let body = read_body(body, route.max_body, snapshot.server.body_timeout).await?;
        let signed = Signed {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            body: &body,
        };

        let mark = match route.scheme.before_verify(&signed) {
            Some(handshake) => {
                outcome.handshake = true;
                match handshake {
                    Handshake::Forward => Mark::Handshake,
                    other => return answer(other),
                }
            }
            None => match route.scheme.verify(&signed, SystemTime::now()) {
                Ok(verified) => {
                    outcome.delivery_id = verified.delivery_id.clone();
                    outcome.secret_slot = Some(verified.secret_slot);
                    if let Some(handshake) = route.scheme.after_verify(&signed, &verified) {
                        outcome.handshake = true;
                        return answer(handshake);
                    }
                    Mark::Verified(verified.delivery_id, verified.message)
                }
                // Shadow mode: the verdict is logged and counted, the request goes on.
                Err(why) if !route.enforce => {
                    outcome.shadow = Some(why);
                    Mark::Shadow
                }
                Err(why) => return Err(Rejection::Unverified(why)),
            },
        };

        // Replay protection, for verified deliveries only: unsigned requests never reach
        // the store.
        let replay = match (&mark, route.replay_window) {
            (Mark::Verified(id, message), Some(window)) => {
                let key = replay_key(route, id.as_deref(), *message, &signed);
                // A claim outlives the longest a forward can take, then lapses by itself
                // should this process die mid-request.
                let in_flight = snapshot
                    .server
                    .upstream_timeout
                    .saturating_add(IN_FLIGHT_MARGIN);
                match self.replay.claim(&key, in_flight).await {
                    Ok(Claim::Claimed) => Some((key, window)),
                    Ok(Claim::InFlight) => return Err(Rejection::InFlight),
                    Ok(Claim::Delivered) => {
                        outcome.duplicate = true;
                        return Ok(duplicate());
                    }
                    Err(e) => {
                        tracing::warn!(route = %route.name, error = %e, "replay store unavailable");
                        return Err(Rejection::ReplayStoreDown);
                    }
                }
            }
            _ => None,
        };

        let req = upstream_request(parts, route, body, peer, mark, self.tls_at_start.is_some());
        let sent = Instant::now();
        let res = self
            .upstream
            .send(
                &snapshot.targets[index],
                req,
                snapshot.server.upstream_timeout,
            )
            .await;
        if let Some((key, window)) = &replay {
            // Delivered only on 2xx; anything else frees the key for the sender's retry.
            let settled = match &res {
                Ok(r) if r.status().is_success() => self.replay.deliver(key, *window).await,
                _ => self.replay.release(key).await,
            };
            if let Err(e) = settled {
                tracing::warn!(route = %route.name, error = %e, "replay store unavailable after forwarding; the key lapses by itself");
            }
        }
        let res = res.map_err(|e| match e {
            UpstreamError::Timeout => Rejection::UpstreamTimeout,
            UpstreamError::Down(e) => {
                tracing::debug!(error = %e, "upstream request failed");
                Rejection::UpstreamDown
            }
        })?;
        outcome.upstream_status = Some(res.status().as_u16());
        snapshot.route_metrics[index].upstream(
            &self.metrics,
            res.status().as_u16(),
            sent.elapsed(),
        );
        let (mut head, body) = res.into_parts();
        headers::strip_response(&mut head.headers);
        // The upstream may answer in HTTP/1.0; hyper frames the answer for the sender's
        // own protocol.
        head.version = Version::HTTP_11;
        Ok(Response::from_parts(
            head,
            body.map_err(BoxError::from).boxed_unsync(),
        ))
    }
}

/// HTTP/1 needs exactly one `Host`: with none or two, hookwall and the app could disagree on
/// which site the request is for.
///
/// Framing needs no check here: hyper refuses differing `Content-Length`s, `Transfer-Encoding`
/// on HTTP/1.0 and any encoding but a final `chunked` (400), and when `Content-Length` comes
/// with `Transfer-Encoding` it reads the body as chunked, drops the length and closes the
/// connection after the answer (RFC 9112 section 6.1). The upstream only ever sees hookwall's
/// own `Content-Length`.
fn check_host(parts: &Parts, allowed: &[String]) -> Result<(), Rejection> {
    let host = if parts.version < Version::HTTP_2 {
        let mut hosts = parts.headers.get_all(header::HOST).iter();
        match (hosts.next(), hosts.next()) {
            (Some(h), None) => h.as_bytes(),
            _ => return Err(Rejection::BadHost),
        }
    } else {
        match (parts.headers.get(header::HOST), parts.uri.authority()) {
            (Some(h), _) => h.as_bytes(),
            (None, Some(a)) => a.as_str().as_bytes(),
            (None, None) => return Err(Rejection::BadHost),
        }
    };
    // `[server] hosts`: the names this hookwall serves; an empty list accepts any.
    if !allowed.is_empty()
        && !allowed
            .iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(host))
    {
        return Err(Rejection::HostNotAllowed);
    }
    Ok(())
}

/// Collects the body under `limit` bytes and `deadline`.
async fn read_body<B>(
    body: B,
    limit: u64,
    deadline: std::time::Duration,
) -> Result<Bytes, Rejection>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await {
        Err(_) => Err(Rejection::BodyTimeout),
        // Trailers are dropped with the rest of the collected frames: only the data was
        // verified, so only the data goes upstream.
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Rejection::TooLarge),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body unreadable");
            Err(Rejection::BadBody)
        }
    }
}

/// Builds the request to the upstream: same method and target, the verified bytes with their
/// own `Content-Length`, end-to-end headers, hookwall's forwarding headers.
fn upstream_request(
    parts: &Parts,
    route: &Route,
    body: Bytes,
    peer: Peer,
    mark: Mark,
    tls: bool,
) -> Request<Full<Bytes>> {
    let mut headers = headers::end_to_end(&parts.headers, route.scheme.signed_headers(), 6);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let host = parts.headers.get(header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if let Some(host) = host {
        headers.insert(header::HOST, host.clone());
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
    if let Peer::Tcp(addr) = peer {
        if let Ok(ip) = HeaderValue::from_str(&addr.ip().to_string()) {
            headers.insert(X_FORWARDED_FOR.clone(), ip);
        }
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
    let provider = HeaderValue::from_static(route.scheme.provider());
    match mark {
        Mark::Verified(delivery_id, _) => {
            headers.insert(X_HOOKWALL_VERIFIED.clone(), provider);
            if let Some(id) = delivery_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                headers.insert(X_HOOKWALL_DELIVERY_ID.clone(), id);
            }
        }
        Mark::Handshake => {
            headers.insert(X_HOOKWALL_HANDSHAKE.clone(), provider);
        }
        Mark::Shadow => {}
    }

    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = Uri::from(path_and_query);
    *req.headers_mut() = headers;
    req
}

/// hookwall's own answer to a rejected request.
fn reject(rejection: &Rejection, parts: &Parts, route: Option<&Route>) -> Response<ResponseBody> {
    let body = rejection.body();
    let mut res = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *res.status_mut() = rejection.status();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let (Rejection::WrongMethod, Some(route)) = (rejection, route) {
        let allow = route
            .methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(v) = HeaderValue::from_str(&allow) {
            headers.insert(header::ALLOW, v);
        }
    }
    if matches!(rejection, Rejection::InFlight | Rejection::ReplayStoreDown) {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    if rejection.closes_connection() && parts.version < Version::HTTP_2 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

impl Snapshot {
    fn build(config: Config, upstream: &Upstream) -> Snapshot {
        let targets = config
            .routes
            .iter()
            .map(|r| upstream.target(&r.upstream))
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

/// An inbound `X-Request-Id` if it is fit to log and forward (1 to 128 characters of
/// letters, digits and `-_.:`), else a new one.
fn request_id(headers: &HeaderMap) -> String {
    let mut ids = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(id), None) = (ids.next(), ids.next()) {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if let (true, Ok(text)) = (ok, id.to_str()) {
            return text.to_owned();
        }
    }
    new_request_id()
}

/// 128 bits from a process-wide counter mixed with the start time: unique in this process,
/// unpredictable enough to not collide across replicas, and no system call per request.
fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ u64::from(std::process::id()).rotate_left(32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Two SplitMix64 outputs of (seed, counter): consecutive ids share no visible part.
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = mix(seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let b = mix(a ^ seed.rotate_left(17));
    format!("{a:016x}{b:016x}")
}

impl Proxy {
    /// The one log line per request (never a header value, a secret or a body) and its
    /// metrics.
    fn record(
        &self,
        snapshot: &Snapshot,
        parts: &Parts,
        res: &Response<ResponseBody>,
        outcome: &Outcome<'_>,
        request_id: &str,
        start: Instant,
    ) {
        let took = start.elapsed();
        let route = outcome.route.map_or("-", |r| r.name.as_str());
        let provider = outcome.route.map_or("-", |r| r.scheme.provider());
        let status = res.status().as_u16();
        let elapsed_ms = took.as_micros() as f64 / 1000.0;
        let delivery_id = outcome.delivery_id.as_deref();
        let upstream_status = outcome.upstream_status;
        let method = &parts.method;
        let path = parts.uri.path();
        let (kind, reason) = match (&outcome.rejection, outcome.shadow) {
            (Some(r @ (Rejection::UpstreamDown | Rejection::UpstreamTimeout)), _) => {
                ("upstream_error", r.reason())
            }
            (Some(r), _) => ("rejected", r.reason()),
            (None, Some(why)) => ("shadow", why.reason()),
            (None, None) if outcome.duplicate => ("duplicate", "replayed"),
            (None, None) if outcome.handshake => ("handshake", ""),
            (None, None) => ("forwarded", ""),
        };
        match kind {
            "upstream_error" => tracing::warn!(
                target: "hookwall::request",
                route, method = %method, path, request_id, status, reason, delivery_id, elapsed_ms,
                "upstream failed"
            ),
            "rejected" => tracing::info!(
                target: "hookwall::request",
                route, method = %method, path, request_id, status, reason, elapsed_ms,
                "rejected"
            ),
            "shadow" => tracing::warn!(
                target: "hookwall::request",
                route, method = %method, path, request_id, status, reason, upstream_status, elapsed_ms,
                "forwarded unverified (shadow mode)"
            ),
            "duplicate" => tracing::info!(
                target: "hookwall::request",
                route, method = %method, path, request_id, status, reason, delivery_id, elapsed_ms,
                "duplicate"
            ),
            "handshake" => tracing::info!(
                target: "hookwall::request",
                route, method = %method, path, request_id, status, upstream_status, elapsed_ms,
                "handshake"
            ),
            _ => tracing::info!(
                target: "hookwall::request",
                route, method = %method, path, request_id, status, upstream_status, delivery_id,
                secret_slot = outcome.secret_slot, elapsed_ms,
                "forwarded"
            ),
        }
        match outcome.route_index {
            Some(i) => {
                let cached = &snapshot.route_metrics[i];
                cached.request(&self.metrics, kind, reason, took);
                if let Some(slot) = outcome.secret_slot {
                    cached.slot(&self.metrics, slot);
                }
            }
            None => self.metrics.request(route, provider, kind, reason, took),
        }
    }
}
