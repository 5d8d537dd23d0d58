//! The TOML config, in two stages: [`RawConfig`] mirrors the file (every table denies unknown
//! keys, so a typo fails with its line), then stage two turns it into a [`Config`] of typed
//! values (socket addresses, byte counts, durations, loaded secrets and built schemes). Past
//! this module nothing parses a string from the config.
//!
//! Every problem names the file, the route and the key, with a line and column where the
//! TOML parser gives a position; stage two reports all the problems it finds, not just the
//! first. Secrets are loaded here, so `hookwall check` catches a missing variable or file.

pub mod duration;
pub mod secret;
pub mod size;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::uri::Authority;
use http::{Method, Uri};
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use toml::Spanned;

use crate::routing;
use crate::scheme::{self, Scheme};
use secret::{EnvLookup, SecretSource};

/// Defaults, with their units, as documented in `proxy.toml.example`.
pub mod defaults {
    use std::time::Duration;

    pub const LISTEN: &str = "127.0.0.1:8080";
    /// 1 MiB.
    pub const MAX_BODY: u64 = 1 << 20;
    /// GitHub counts a delivery that takes over 10 s as failed.
    pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(9);
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);
    pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const MAX_CONNECTIONS: usize = 10_000;
    pub const H2_MAX_STREAMS: u32 = 128;
    pub const REPLAY_MAX_ENTRIES: usize = 100_000;
    /// The replay window of a route whose scheme signs no timestamp.
    pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);
}

/// Stage one: the file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: Option<RawServer>,
    pub admin: Option<RawAdmin>,
    pub replay: Option<RawReplay>,
    #[serde(default)]
    pub route: Vec<Spanned<RawRoute>>,
}

/// Stage one: `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub max_body: Option<Spanned<toml::Value>>,
    pub upstream_timeout: Option<Spanned<String>>,
    pub header_timeout: Option<Spanned<String>>,
    pub body_timeout: Option<Spanned<String>>,
    pub shutdown_timeout: Option<Spanned<String>>,
    pub hosts: Option<Spanned<Vec<String>>>,
    pub max_connections: Option<Spanned<i64>>,
    pub h2_max_streams: Option<Spanned<i64>>,
    pub keepalive_timeout: Option<Spanned<String>>,
    pub tls: Option<Spanned<RawTls>>,
}

/// Stage one: `[server.tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: String,
    pub key: String,
}

/// Stage one: `[replay]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    pub store: Option<Spanned<String>>,
    pub max_entries: Option<Spanned<i64>>,
}

/// Stage one: `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Spanned<String>,
    pub readyz_upstreams: Option<bool>,
}

/// Stage one: one `[[route]]`. Flat on purpose: serde's tagged and flattened forms lose the
/// unknown-key check, so per-provider keys are checked in stage two.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub path_prefix: Option<Spanned<String>>,
    pub methods: Option<Spanned<Vec<String>>>,
    pub upstream: Option<Spanned<String>>,
    pub upstream_ca: Option<Spanned<String>>,
    pub enforce: Option<Spanned<bool>>,
    pub replay: Option<Spanned<String>>,
    pub replay_window: Option<Spanned<String>>,
    pub provider: Option<Spanned<String>>,
    pub secret: Option<Spanned<toml::Value>>,
    pub public_key: Option<Spanned<toml::Value>>,
    pub handshake: Option<Spanned<bool>>,
    pub verify_token: Option<Spanned<toml::Value>>,
    pub max_body: Option<Spanned<toml::Value>>,
    pub tolerance: Option<Spanned<String>>,
    pub signature_header: Option<Spanned<String>>,
    pub algorithm: Option<Spanned<String>>,
    pub encoding: Option<Spanned<String>>,
    pub signature_prefix: Option<Spanned<String>>,
    pub signed_payload: Option<Spanned<String>>,
    pub timestamp_header: Option<Spanned<String>>,
    pub timestamp_format: Option<Spanned<String>>,
    pub id_header: Option<Spanned<String>>,
    pub public_url: Option<Spanned<String>>,
    pub secret_encoding: Option<Spanned<String>>,
    pub signature_list: Option<Spanned<RawSignatureList>>,
}

/// Stage one: `signature_list = { separator = ",", pair = "=", version = "v1", timestamp = "t" }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignatureList {
    pub separator: String,
    pub pair: String,
    pub version: String,
    pub timestamp: Option<String>,
}

impl RawSignatureList {
    /// The typed list format.
    ///
    /// # Errors
    /// A separator or pair that is not one character, the two being equal, or an empty version.
    pub fn to_format(&self) -> Result<crate::scheme::hmac::ListFormat, String> {
        let one = |key: &str, text: &str| {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(format!(
                    "`{key}` must be exactly one character, found `{text}`"
                )),
            }
        };
        let separator = one("separator", &self.separator)?;
        let pair = one("pair", &self.pair)?;
        if separator == pair {
            return Err("`separator` and `pair` must differ".into());
        }
        if self.version.is_empty() || self.version.contains([separator, pair]) {
            return Err(format!(
                "`version` `{}` is empty or holds a separator",
                self.version
            ));
        }
        if let Some(t) = &self.timestamp {
            if t.is_empty() || t.contains([separator, pair]) || *t == self.version {
                return Err(format!(
                    "`timestamp` `{t}` is empty, holds a separator or equals `version`"
                ));
            }
        }
        Ok(crate::scheme::hmac::ListFormat {
            separator,
            pair,
            version: self.version.clone(),
            timestamp_key: self.timestamp.clone(),
        })
    }
}

/// A validated config.
#[derive(Debug)]
pub struct Config {
    /// The file it came from, as given.
    pub source: PathBuf,
    pub server: Server,
    pub admin: Option<Admin>,
    pub replay: ReplayStore,
    pub routes: Vec<Route>,
}

/// `[replay] store`: where delivery keys are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayStore {
    /// In this process, at most `max_entries` keys (default 100000).
    Memory { max_entries: usize },
    /// A Redis server shared by replicas (`redis://host:port/db`).
    Redis { url: String },
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

/// `[admin]`: the listener for `/healthz`, `/readyz` and `/metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    pub listen: Listen,
    /// `/readyz` also checks that every upstream accepts a connection.
    pub readyz_upstreams: bool,
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
    /// Concurrent HTTP/2 streams per connection.
    pub h2_max_streams: u32,
    /// How long an idle keep-alive connection is kept (HTTP/1 between requests, HTTP/2
    /// without streams).
    pub keepalive_timeout: Duration,
    /// TLS on the listener, if configured.
    pub tls: Option<Tls>,
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
}

/// One thing wrong with a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column, where known.
    pub position: Option<(usize, usize)>,
    /// `route 2 (github)`, for problems inside a route.
    pub route: Option<String>,
    /// The key to blame, where there is one.
    pub key: Option<String>,
    pub message: String,
}

/// Everything wrong with a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some((line, col)) = p.position {
                write!(f, ":{line}:{col}")?;
            }
            f.write_str(": ")?;
            if let Some(route) = &p.route {
                write!(f, "{route}: ")?;
            }
            if let Some(key) = &p.key {
                write!(f, "{key}: ")?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Loads and validates `path`, reading secrets from the process environment.
///
/// # Errors
/// The file cannot be read, or any problem stage one or two finds.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &secret::process_env)
}

/// Loads and validates `path`, reading secrets through `env`.
///
/// # Errors
/// As [`load`].
pub fn load_with(path: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        problems: vec![Problem {
            position: None,
            route: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        }],
    })?;
    parse(&text, path, env)
}

/// Validates config `text` as if read from `path` (relative secret files resolve against its
/// folder), reading secrets through `env`.
///
/// # Errors
/// Every problem found: a stage-one (syntax, unknown key, wrong type) problem alone, or all
/// the stage-two problems.
pub fn parse(text: &str, path: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
    let fail = |problems| ConfigError {
        file: path.to_owned(),
        problems,
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        // The message only, never toml's rendering of the source line: that line could
        // hold a secret someone wrote inline.
        fail(vec![Problem {
            position: e.span().map(|s| line_col(text, s.start)),
            route: e.span().and_then(|s| route_at(text, s.start)),
            key: None,
            message: e.message().trim_end().to_owned(),
        }])
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut ctx = Ctx {
        text,
        problems: Vec::new(),
        route: None,
        base: base.to_owned(),
    };
    let server = ctx.server(raw.server.as_ref());
    let admin = raw.admin.as_ref().and_then(|a| {
        ctx.route = Some("[admin]".into());
        let listen = ctx.key("listen", Some(&a.listen), |s| parse_listen(s));
        ctx.route = None;
        let ephemeral = matches!(&server.listen, Listen::Tcp(a) if a.port() == 0);
        if listen.as_ref() == Some(&server.listen) && !ephemeral {
            ctx.problem(
                Some(a.listen.span()),
                Some("listen"),
                "the admin listener must not share the public one",
            );
        }
        Some(Admin {
            listen: listen?,
            readyz_upstreams: a.readyz_upstreams.unwrap_or(false),
        })
    });
    let mut routes = Vec::new();
    let mut seen: HashMap<PathMatch, (usize, String)> = HashMap::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    if raw.route.is_empty() {
        ctx.problem(
            None,
            None,
            "no [[route]]: hookwall would refuse every request",
        );
    }
    for (i, spanned) in raw.route.iter().enumerate() {
        let r = spanned.get_ref();
        let label = r
            .name
            .as_ref()
            .or(r.path.as_ref())
            .or(r.path_prefix.as_ref())
            .map(|s| s.get_ref().clone());
        ctx.route = Some(match &label {
            Some(l) => format!("route {} ({l})", i + 1),
            None => format!("route {}", i + 1),
        });
        if let Some(route) = ctx.route(r, spanned.span(), &server, base, env) {
            let span = r
                .path
                .as_ref()
                .or(r.path_prefix.as_ref())
                .map(Spanned::span);
            if let Some((first, first_label)) = seen.get(&route.path) {
                let which = if matches!(route.path, PathMatch::Exact(_)) {
                    "path"
                } else {
                    "path_prefix"
                };
                ctx.problem(
                    span,
                    Some(which),
                    &format!(
                        "`{}` is already used by route {first} ({first_label})",
                        path_of(&route.path)
                    ),
                );
            } else {
                seen.insert(route.path.clone(), (i + 1, route.name.clone()));
            }
            if let Some(first) = names.get(&route.name) {
                ctx.problem(
                    r.name.as_ref().map(Spanned::span),
                    Some("name"),
                    &format!("`{}` is already the name of route {first}", route.name),
                );
            } else {
                names.insert(route.name.clone(), i + 1);
            }
            routes.push(route);
        }
    }
    if !ctx.problems.is_empty() {
        return Err(fail(ctx.problems));
    }
    let replay = ctx.replay(raw.replay.as_ref());
    if !ctx.problems.is_empty() {
        return Err(fail(ctx.problems));
    }
    Ok(Config {
        source: path.to_owned(),
        server,
        admin,
        replay,
        routes,
    })
}

fn path_of(m: &PathMatch) -> &str {
    match m {
        PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
    }
}

/// Stage two's state: the source text (for positions) and the problems so far.
struct Ctx<'a> {
    text: &'a str,
    problems: Vec<Problem>,
    route: Option<String>,
    /// The config file's folder, against which relative paths resolve.
    base: PathBuf,
}

impl Ctx<'_> {
    fn problem(&mut self, span: Option<Range<usize>>, key: Option<&str>, message: &str) {
        self.problems.push(Problem {
            position: span.map(|s| line_col(self.text, s.start)),
            route: self.route.clone(),
            key: key.map(str::to_owned),
            message: message.to_owned(),
        });
    }

    /// Runs `parse` on an optional key, recording a problem and returning `None` on error.
    fn key<T, V>(
        &mut self,
        key: &str,
        value: Option<&Spanned<V>>,
        parse: impl FnOnce(&V) -> Result<T, String>,
    ) -> Option<T> {
        let v = value?;
        match parse(v.get_ref()) {
            Ok(t) => Some(t),
            Err(msg) => {
                self.problem(Some(v.span()), Some(key), &msg);
                None
            }
        }
    }

    fn replay(&mut self, raw: Option<&RawReplay>) -> ReplayStore {
        let mut max_entries = defaults::REPLAY_MAX_ENTRIES;
        let Some(raw) = raw else {
            return ReplayStore::Memory { max_entries };
        };
        self.route = Some("[replay]".into());
        if let Some(v) = self.key("max_entries", raw.max_entries.as_ref(), |n| {
            usize::try_from(*n)
                .ok()
                .filter(|n| (1..=100_000_000).contains(n))
                .ok_or_else(|| format!("{n} is not between 1 and 100000000"))
        }) {
            max_entries = v;
        }
        let store = match &raw.store {
            None => Some(ReplayStore::Memory { max_entries }),
            Some(s) => self.key("store", Some(s), |url| match url.as_str() {
                "memory" => Ok(ReplayStore::Memory { max_entries }),
                u if u.starts_with("redis://") || u.starts_with("rediss://") => {
                    crate::replay::RedisStore::new(u)?;
                    Ok(ReplayStore::Redis { url: u.to_owned() })
                }
                other => Err(format!(
                    "`{}` is neither \"memory\" nor a redis:// URL",
                    crate::replay::redact(other)
                )),
            }),
        };
        self.route = None;
        store.unwrap_or(ReplayStore::Memory { max_entries })
    }

    fn server(&mut self, raw: Option<&RawServer>) -> Server {
        let mut server = Server {
            listen: Listen::Tcp(
                defaults::LISTEN
                    .parse()
                    .expect("the default listen address parses"),
            ),
            max_body: defaults::MAX_BODY,
            upstream_timeout: defaults::UPSTREAM_TIMEOUT,
            header_timeout: defaults::HEADER_TIMEOUT,
            body_timeout: defaults::BODY_TIMEOUT,
            shutdown_timeout: defaults::SHUTDOWN_TIMEOUT,
            hosts: Vec::new(),
            max_connections: defaults::MAX_CONNECTIONS,
            h2_max_streams: defaults::H2_MAX_STREAMS,
            keepalive_timeout: defaults::KEEPALIVE_TIMEOUT,
            tls: None,
        };
        let Some(raw) = raw else { return server };
        self.route = Some("[server]".into());
        if let Some(v) = self.key("hosts", raw.hosts.as_ref(), |list| parse_hosts(list)) {
            server.hosts = v;
        }
        if let Some(v) = self.key("listen", raw.listen.as_ref(), |s| parse_listen(s)) {
            server.listen = v;
        }
        if let Some(v) = self.key("max_body", raw.max_body.as_ref(), parse_size) {
            server.max_body = v;
        }
        for (key, value, slot) in [
            (
                "upstream_timeout",
                &raw.upstream_timeout,
                &mut server.upstream_timeout,
            ),
            (
                "header_timeout",
                &raw.header_timeout,
                &mut server.header_timeout,
            ),
            ("body_timeout", &raw.body_timeout, &mut server.body_timeout),
            (
                "shutdown_timeout",
                &raw.shutdown_timeout,
                &mut server.shutdown_timeout,
            ),
            (
                "keepalive_timeout",
                &raw.keepalive_timeout,
                &mut server.keepalive_timeout,
            ),
        ] {
            if let Some(v) = self.key(key, value.as_ref(), |s| duration::parse(s)) {
                *slot = v;
            }
        }
        if let Some(v) = self.key("max_connections", raw.max_connections.as_ref(), |n| {
            usize::try_from(*n)
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| format!("{n} is not between 1 and 1000000"))
        }) {
            server.max_connections = v;
        }
        if let Some(v) = self.key("h2_max_streams", raw.h2_max_streams.as_ref(), |n| {
            u32::try_from(*n)
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| format!("{n} is not between 1 and 10000"))
        }) {
            server.h2_max_streams = v;
        }
        if let Some(tls) = &raw.tls {
            let base = self.base.clone();
            server.tls = self.key("tls", Some(tls), |t| {
                load_tls(&base.join(&t.cert), &base.join(&t.key))
            });
        }
        self.route = None;
        server
    }

    fn route(
        &mut self,
        r: &RawRoute,
        span: Range<usize>,
        server: &Server,
        base: &Path,
        env: EnvLookup<'_>,
    ) -> Option<Route> {
        let before = self.problems.len();
        let path = match (&r.path, &r.path_prefix) {
            (Some(p), None) => self.key("path", Some(p), |s| {
                parse_path(s).map(|()| PathMatch::Exact(s.clone()))
            }),
            (None, Some(p)) => self.key("path_prefix", Some(p), |s| {
                parse_path(s).map(|()| PathMatch::Prefix(s.clone()))
            }),
            (Some(p), Some(_)) => {
                self.problem(
                    Some(p.span()),
                    Some("path"),
                    "give either `path` (exact) or `path_prefix`, not both",
                );
                None
            }
            (None, None) => {
                self.problem(
                    Some(span.clone()),
                    None,
                    "missing `path` (exact match) or `path_prefix`",
                );
                None
            }
        };
        let name = match &r.name {
            Some(n) => self.key("name", Some(n), |s| parse_name(s)),
            None => path.as_ref().map(|p| path_of(p).to_owned()),
        };
        let methods = match &r.methods {
            Some(m) => self.key("methods", Some(m), |list| parse_methods(list)),
            None => Some(vec![Method::POST]),
        };
        let ca = r.upstream_ca.as_ref().map(|c| base.join(c.get_ref()));
        let upstream = match &r.upstream {
            Some(u) => self.key("upstream", Some(u), |s| parse_upstream(s, ca.as_deref())),
            None => {
                self.problem(
                    Some(span.clone()),
                    Some("upstream"),
                    "missing: where verified requests go, as in \"http://127.0.0.1:5000\"",
                );
                None
            }
        };
        let max_body = match &r.max_body {
            Some(v) => self.key("max_body", Some(v), parse_size),
            None => Some(server.max_body),
        };
        // Every key is checked before giving up on the route, so one run of `check` shows
        // every problem. `None` below means "reported"; `Some(None)` means "not set".
        let tolerance = match &r.tolerance {
            Some(t) => self
                .key("tolerance", Some(t), |s| duration::parse(s))
                .map(Some),
            None => Some(None),
        };
        let signature_list = match &r.signature_list {
            Some(l) => self
                .key("signature_list", Some(l), RawSignatureList::to_format)
                .map(Some),
            None => Some(None),
        };
        if r.provider.is_none() {
            self.problem(
                Some(span.clone()),
                Some("provider"),
                &format!(
                    "missing: name the sender's scheme ({})",
                    scheme::providers().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        let secrets = match &r.secret {
            Some(s) => self.key("secret", Some(s), |v| secret::load(v, base, env)),
            None => Some(Vec::new()),
        };
        let verify_tokens = match &r.verify_token {
            Some(t) => self.key("verify_token", Some(t), |v| secret::load(v, base, env)),
            None => Some(Vec::new()),
        };
        let public_keys = match &r.public_key {
            Some(k) => self.key("public_key", Some(k), |v| secret::load_public(v, base, env)),
            None => Some(Vec::new()),
        };
        let (
            Some(provider),
            Some(tolerance),
            Some(signature_list),
            Some(secrets),
            Some(verify_tokens),
            Some(public_keys),
        ) = (
            &r.provider,
            tolerance,
            signature_list,
            secrets,
            verify_tokens,
            public_keys,
        )
        else {
            return None;
        };
        fn s(v: &Option<Spanned<String>>) -> Option<&str> {
            v.as_ref().map(|s| s.get_ref().as_str())
        }
        let opts = scheme::Options {
            provider: provider.get_ref(),
            algorithm: s(&r.algorithm),
            encoding: s(&r.encoding),
            signature_header: s(&r.signature_header),
            signature_prefix: s(&r.signature_prefix),
            signed_payload: s(&r.signed_payload),
            timestamp_header: s(&r.timestamp_header),
            timestamp_format: s(&r.timestamp_format),
            id_header: s(&r.id_header),
            public_url: s(&r.public_url),
            secret_encoding: s(&r.secret_encoding),
            signature_list,
            tolerance,
            public_keys,
            handshake: r.handshake.as_ref().is_some_and(|h| *h.get_ref()),
            verify_tokens,
        };
        let sources = secrets.iter().map(|s| s.source().clone()).collect();
        let n_public_keys = opts.public_keys.len();
        let built = match scheme::build(&opts, secrets) {
            Ok(b) => Some(b),
            Err(e) => {
                let at = match e.key {
                    "provider" => Some(provider.span()),
                    "algorithm" => r.algorithm.as_ref().map(Spanned::span),
                    "encoding" => r.encoding.as_ref().map(Spanned::span),
                    "signature_header" => r.signature_header.as_ref().map(Spanned::span),
                    "signature_prefix" => r.signature_prefix.as_ref().map(Spanned::span),
                    "signed_payload" => r.signed_payload.as_ref().map(Spanned::span),
                    "timestamp_header" => r.timestamp_header.as_ref().map(Spanned::span),
                    "tolerance" => r.tolerance.as_ref().map(Spanned::span),
                    "timestamp_format" => r.timestamp_format.as_ref().map(Spanned::span),
                    "id_header" => r.id_header.as_ref().map(Spanned::span),
                    "public_url" => r.public_url.as_ref().map(Spanned::span),
                    "secret_encoding" => r.secret_encoding.as_ref().map(Spanned::span),
                    "signature_list" => r.signature_list.as_ref().map(Spanned::span),
                    "secret" => r.secret.as_ref().map(Spanned::span),
                    "public_key" => r.public_key.as_ref().map(Spanned::span),
                    "handshake" => r.handshake.as_ref().map(Spanned::span),
                    "verify_token" => r.verify_token.as_ref().map(Spanned::span),
                    _ => None,
                }
                .or(Some(provider.span()));
                self.problem(at, Some(e.key), &e.message);
                None
            }
        };
        let replay_on = match &r.replay {
            None => built.as_ref().map(|b| b.replay_default()),
            Some(v) => self.key("replay", Some(v), |s| match s.as_str() {
                "on" => Ok(true),
                "off" => Ok(false),
                other => Err(format!("`{other}`: write \"on\" or \"off\"")),
            }),
        };
        let window = match &r.replay_window {
            Some(w) => self
                .key("replay_window", Some(w), |s| duration::parse(s))
                .map(Some),
            None => Some(None),
        };
        if replay_on == Some(false) && r.replay_window.is_some() {
            self.problem(
                r.replay_window.as_ref().map(Spanned::span),
                Some("replay_window"),
                "replay protection is off on this route, so there is no window",
            );
        }
        if self.problems.len() != before {
            return None;
        }
        let scheme = built?;
        let replay_window = match (replay_on?, window?) {
            (false, _) => None,
            (true, Some(w)) => Some(w),
            // A timestamp passes from `tolerance` before it to `tolerance` after it, so a
            // signed request can be replayed for twice the tolerance from when it was first
            // seen: remember it that long.
            (true, None) => Some(
                scheme
                    .tolerance()
                    .map_or(defaults::REPLAY_WINDOW, |t| t.saturating_mul(2)),
            ),
        };
        Some(Route {
            name: name?,
            path: path?,
            methods: methods?,
            upstream: upstream?,
            max_body: max_body?,
            scheme,
            secret_sources: sources,
            public_keys: n_public_keys,
            handshake: r.handshake.as_ref().is_some_and(|h| *h.get_ref()),
            enforce: r.enforce.as_ref().is_none_or(|e| *e.get_ref()),
            replay_window,
        })
    }
}

/// `route N (label)` when byte `offset` of `text` lies inside the N-th `[[route]]` table:
/// stage one reports positions only, and an operator looks for routes by name.
fn route_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let mut index = 0;
    let mut in_route = false;
    for line in before.lines() {
        let line = line.trim_start();
        if line.starts_with('[') {
            in_route = line.starts_with("[[route]]");
            if in_route {
                index += 1;
            }
        }
    }
    if !in_route {
        return None;
    }
    // The label needs the table; a file with a syntax error has none to offer.
    let label = toml::from_str::<toml::Table>(text).ok().and_then(|t| {
        let route = t.get("route")?.as_array()?.get(index - 1)?.as_table()?;
        ["name", "path", "path_prefix"]
            .iter()
            .find_map(|k| route.get(*k)?.as_str().map(str::to_owned))
    });
    Some(match label {
        Some(l) => format!("route {index} ({l})"),
        None => format!("route {index}"),
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn parse_listen(s: &str) -> Result<Listen, String> {
    if let Some(path) = s.strip_prefix("unix:") {
        if !path.starts_with('/') {
            return Err(format!(
                "`{s}`: a unix socket needs an absolute path, as in \"unix:/run/hookwall.sock\""
            ));
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    s.parse().map(Listen::Tcp).map_err(|_| {
        format!("`{s}` is not an address to listen on: write an IP and a port, as in \"127.0.0.1:8080\" or \"[::1]:8080\", or \"unix:/path\"")
    })
}

/// Loads a PEM certificate chain and private key into a server TLS config (HTTP/2 and
/// HTTP/1.1 by ALPN).
///
/// # Errors
/// A file that cannot be read, holds no certificate or key, or a key that does not match.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Tls, String> {
    let certs = read_certs(cert)?;
    let key_bytes = std::fs::read(key)
        .map_err(|e| format!("key file {} cannot be read: {e}", key.display()))?;
    let private = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        format!(
            "key file {} holds no usable PEM private key: {e}",
            key.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, private)
    .map_err(|e| {
        format!(
            "cert {} and key {} do not make a TLS identity: {e}",
            cert.display(),
            key.display()
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        cert: cert.to_owned(),
        key: key.to_owned(),
        config: Arc::new(config),
    })
}

/// Reads every PEM certificate in `path`.
fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("certificate file {} cannot be read: {e}", path.display()))?;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "certificate file {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// The TLS client config for an https upstream: the platform's roots, or the PEM bundle `ca`.
fn client_tls(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in read_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("certificate file {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A platform store may hold a certificate rustls cannot use; skip it.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no CA certificates found on this system; give `upstream_ca`".into());
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

fn parse_hosts(list: &[String]) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err(
            "the list is empty: no request could ever pass (leave `hosts` out to accept any)"
                .into(),
        );
    }
    list.iter()
        .map(|h| {
            let lower = h.to_ascii_lowercase();
            match lower.parse::<Authority>() {
                Ok(a) if a.as_str() == lower && !lower.contains('@') => Ok(lower),
                _ => Err(format!("`{h}` is not a host name, with an optional port")),
            }
        })
        .collect()
}

fn parse_size(v: &toml::Value) -> Result<u64, String> {
    match v {
        toml::Value::Integer(n) if *n > 0 => Ok(*n as u64),
        toml::Value::Integer(_) => Err("must be at least 1 byte".into()),
        toml::Value::String(s) => size::parse(s),
        other => Err(format!(
            "expected a size such as \"1MiB\" or a number of bytes, found a {}",
            other.type_str()
        )),
    }
}

fn parse_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "`{s}` is not a usable route name: 1 to 64 printable ASCII characters, no spaces"
        ));
    }
    Ok(s.to_owned())
}

fn parse_path(s: &str) -> Result<(), String> {
    routing::check_path(s).map_err(|why| format!("`{s}` can never match a request: {why}"))
}

fn parse_methods(list: &[String]) -> Result<Vec<Method>, String> {
    if list.is_empty() {
        return Err("the list is empty: no request could ever pass".into());
    }
    let mut out: Vec<Method> = Vec::new();
    for m in list {
        let upper = m.to_ascii_uppercase();
        let method = Method::from_bytes(upper.as_bytes())
            .map_err(|_| format!("`{m}` is not an HTTP method"))?;
        if method == Method::CONNECT || method == Method::TRACE {
            return Err(format!("{method} is not a method a webhook can use"));
        }
        if !out.contains(&method) {
            out.push(method);
        }
    }
    Ok(out)
}

fn parse_upstream(s: &str, ca: Option<&Path>) -> Result<Upstream, String> {
    let bad = |why: &str| {
        format!("`{s}` {why}; write an origin such as \"http://127.0.0.1:5000\", \"https://app.internal:8443\" or \"unix:/run/app.sock\"")
    };
    if let Some(path) = s.strip_prefix("unix:") {
        if !path.starts_with('/') {
            return Err(bad("needs an absolute socket path"));
        }
        if ca.is_some() {
            return Err("`upstream_ca` applies only to an https:// upstream".into());
        }
        return Ok(Upstream::Unix(PathBuf::from(path)));
    }
    let uri: Uri = s.parse().map_err(|_| bad("is not a URL"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(_) | None => return Err(bad("is not an http:// or https:// URL")),
    };
    let authority = uri.authority().ok_or_else(|| bad("has no host"))?.clone();
    if authority.as_str().contains('@') {
        return Err(bad("holds credentials"));
    }
    if authority.host().is_empty() {
        return Err(bad("has no host"));
    }
    if authority.as_str().ends_with(':') {
        return Err(bad("has an empty port"));
    }
    if let Some(pq) = uri.path_and_query() {
        if pq.as_str() != "/" && !pq.as_str().is_empty() {
            return Err(bad(
                "has a path or query: hookwall forwards the request's own path and query unchanged",
            ));
        }
    }
    if !https {
        if ca.is_some() {
            return Err("`upstream_ca` applies only to an https:// upstream".into());
        }
        return Ok(Upstream::Http(authority));
    }
    Ok(Upstream::Https {
        tls: client_tls(ca)?,
        ca: ca.map(Path::to_owned),
        authority,
    })
}

#[cfg(test)]
mod tests;
