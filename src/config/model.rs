//! The validated config: every value typed (addresses, byte counts, durations, methods,
//! upstream origins with their TLS settings, loaded secrets inside built schemes). Stage two
//! (`validate`) makes it; the rest of hookwall reads it and parses nothing.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::uri::Authority;
use http::Method;

pub use super::addrs::AddrList;
use crate::scheme::Scheme;
use crate::secret::{Secret, SecretSource};

/// A validated config.
#[derive(Debug)]
pub struct Config {
    /// The file it came from, as given.
    pub source: PathBuf,
    pub server: Server,
    pub admin: Option<Admin>,
    pub replay: ReplayStore,
    /// `[spool]`, with defaults; opened only when a route spools.
    pub spool: Spool,
    pub routes: Vec<Route>,
}

/// `[spool]`: where verified deliveries wait for the app, and the limits on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spool {
    pub store: SpoolStore,
    /// Most deliveries kept at once, pending and dead together.
    pub max_deliveries: u64,
    /// Most bytes (bodies and headers) kept at once, pending and dead together.
    pub max_bytes: u64,
    /// The waits between attempts after the first, immediate one, for routes that set none.
    pub retry_schedule: Vec<Duration>,
    /// A delivery older than this is not tried again.
    pub max_age: Duration,
    /// Redis: an attempt a crashed replica left unfinished is taken over after this.
    pub claim_after: Duration,
    /// How long a delivered delivery's metadata is kept (its body goes at once).
    pub retention: Duration,
    /// How long a dead delivery is kept, body included, for a redrive.
    pub dead_retention: Duration,
    /// App statuses that make a delivery dead at once.
    pub no_retry_status: Vec<u16>,
}

/// `[spool] store`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpoolStore {
    /// A SQLite file (`sqlite:PATH`, relative to the config file's folder).
    Sqlite(PathBuf),
    /// Redis Streams (`redis://host:port/db`), for replicas sharing one spool; shown
    /// without its password.
    Redis(RedisUrl),
}

impl fmt::Display for SpoolStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoolStore::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            SpoolStore::Redis(url) => write!(f, "{url}"),
        }
    }
}

/// A route's `delivery`: how a verified delivery reaches the app.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeliveryMode {
    /// Forwarded at once; the app's answer goes back to the sender (the default).
    #[default]
    Forward,
    /// Committed to the spool, acknowledged, then delivered in the background.
    Spool,
    /// Forwarded at once; spooled only when the app cannot take it (unreachable, timeout,
    /// 429, 502, 503, 504).
    SpoolOnFailure,
}

impl DeliveryMode {
    /// The key's value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::Forward => "forward",
            DeliveryMode::Spool => "spool",
            DeliveryMode::SpoolOnFailure => "spool_on_failure",
        }
    }
}

/// A route's spool settings (meaningful when its `delivery` spools).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpool {
    /// The route's own schedule, else `[spool] retry_schedule`.
    pub retry_schedule: Vec<Duration>,
    /// Attempts to the app in flight at once.
    pub max_in_flight: usize,
    /// One attempt at a time, strictly in arrival order.
    pub ordered: bool,
    /// The status the sender gets for a spooled delivery: 200, 202 or 204.
    pub status: u16,
}

impl Default for RouteSpool {
    /// A route that sets none of the keys, under a `[spool]` that sets none either.
    fn default() -> RouteSpool {
        RouteSpool {
            retry_schedule: super::defaults::SPOOL_RETRY_SCHEDULE.to_vec(),
            max_in_flight: super::defaults::SPOOL_MAX_IN_FLIGHT,
            ordered: false,
            status: super::defaults::SPOOL_STATUS,
        }
    }
}

/// `[replay] store`: where delivery keys are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayStore {
    /// In this process, at most `max_entries` keys (default 100000).
    Memory { max_entries: usize },
    /// A Redis server shared by replicas (`redis://host:port/db`).
    Redis(RedisUrl),
}

/// A Redis URL, parsed once: the client that connects to it (lazily), and the URL as it may
/// be shown, its password replaced.
#[derive(Clone)]
pub struct RedisUrl {
    client: redis::Client,
    /// As written, to tell whether a reload changes it; never shown.
    written: String,
    shown: String,
}

impl RedisUrl {
    /// Parses `url` (`redis://` or `rediss://`).
    ///
    /// # Errors
    /// A URL the redis crate does not accept; the message holds no password.
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        let shown = redact(url);
        let client = redis::Client::open(url).map_err(|e| format!("`{shown}`: {e}"))?;
        Ok(RedisUrl {
            client,
            written: url.to_owned(),
            shown,
        })
    }

    /// The client for this URL; nothing connects until it is used.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The URL with any password replaced, fit for logs and messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl PartialEq for RedisUrl {
    fn eq(&self, other: &RedisUrl) -> bool {
        self.written == other.written
    }
}

impl Eq for RedisUrl {}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.shown)
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// A Redis URL with any password replaced, fit for logs and messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://<credentials>@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Where to listen: a TCP address or a unix socket path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(a) => write!(f, "{a}"),
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// `[server.tls]`: the certificate chain and key, loaded.
#[derive(Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// `[admin]`: the listener for `/healthz`, `/readyz`, `/metrics` and the spool API.
#[derive(Clone, Debug)]
pub struct Admin {
    pub listen: Listen,
    /// `/readyz` also checks that every upstream accepts a connection.
    pub readyz_upstreams: bool,
    /// Names the listener answers to besides its own address, lowercase, with an optional
    /// port (`Host` is checked against them: DNS rebinding).
    pub hosts: Vec<String>,
    /// With a token, every admin request needs `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
    /// Requests the inspector page keeps in memory.
    pub history: usize,
}

impl PartialEq for Admin {
    /// Same listener, same checks, and the same token read from the same place.
    fn eq(&self, other: &Admin) -> bool {
        let token = |a: &Admin| {
            a.token
                .as_ref()
                .map(|t| (t.source().clone(), t.expose().to_vec()))
        };
        self.listen == other.listen
            && self.readyz_upstreams == other.readyz_upstreams
            && self.hosts == other.hosts
            && self.history == other.history
            && token(self) == token(other)
    }
}

/// `[server]`, with defaults applied.
#[derive(Clone, Debug)]
pub struct Server {
    pub listen: Listen,
    /// Default body limit for routes that set none.
    pub max_body: u64,
    pub upstream_timeout: Duration,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// The `Host` values (lowercase, port included where given) requests may carry; empty
    /// means any.
    pub hosts: Vec<String>,
    /// Connections served at once; the next ones wait in the listen backlog.
    pub max_connections: usize,
    /// Connections open at once to each upstream; requests beyond wait for one, up to
    /// `upstream_timeout`.
    pub max_upstream_connections: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_max_streams: u32,
    /// How long an idle keep-alive connection is kept (HTTP/1 between requests, HTTP/2
    /// without streams).
    pub keepalive_timeout: Duration,
    /// TLS on the listener, if configured.
    pub tls: Option<Tls>,
    /// Peers whose `X-Forwarded-For` is believed (load balancers in front of hookwall).
    pub trusted_proxies: AddrList,
    /// Reload by itself when the config file or a file it names changes (see [`crate::watch`]).
    pub watch: bool,
}

/// How a route matches a request path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
}

impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathMatch::Exact(p) => write!(f, "= {p}"),
            PathMatch::Prefix(p) => write!(f, "^ {p}"),
        }
    }
}

/// Where verified requests go.
#[derive(Clone)]
pub enum Upstream {
    /// `http://host:port`.
    Http(Authority),
    /// `https://host:port`, its certificate checked against the platform's roots or the
    /// route's `upstream_ca`.
    Https {
        authority: Authority,
        /// The name its certificate must hold: the host name or IP address.
        name: rustls::pki_types::ServerName<'static>,
        ca: Option<PathBuf>,
        tls: Arc<rustls::ClientConfig>,
    },
    /// `unix:/path/to/app.sock` (gunicorn's `--bind unix:…`).
    Unix(PathBuf),
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Upstream({self})")
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Http(a) => write!(f, "http://{a}"),
            Upstream::Https { authority, .. } => write!(f, "https://{authority}"),
            Upstream::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A validated route.
#[derive(Clone, Debug)]
pub struct Route {
    /// The route's name for logs: `name`, else the path.
    pub name: String,
    pub path: PathMatch,
    pub methods: Vec<Method>,
    pub upstream: Upstream,
    pub max_body: u64,
    pub scheme: Arc<dyn Scheme>,
    /// Where each secret of the rotation list comes from, in order (never the values).
    pub secret_sources: Vec<SecretSource>,
    /// How many public keys the route checks with (asymmetric schemes).
    pub public_keys: usize,
    /// Whether the route answers its provider's setup handshake.
    pub handshake: bool,
    /// `false` is shadow mode: verify, log and count, but forward every request.
    pub enforce: bool,
    /// Replay protection: how long a delivered key is remembered, or `None` when off.
    pub replay_window: Option<Duration>,
    pub delivery: DeliveryMode,
    pub spool: RouteSpool,
    /// Only these clients may use the route (403 `ip_not_allowed` for others).
    pub allow_from: Option<AddrList>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_redis_passwords() {
        assert_eq!(
            redact("redis://:hunter2@127.0.0.1:6379/0"),
            "redis://<credentials>@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }
}
