//! Stage two: from the raw tables to a [`Config`] of typed values. Every key is checked
//! before a table is given up on, so one run of `hookwall check` shows every problem, each
//! with its position, its table or route, and its key. A route is validated in three parts:
//! where it matches and goes (path, name, methods, upstream, size), its scheme (built here,
//! through `scheme::build`, with its secrets loaded), and its replay protection.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use toml::Spanned;

use super::error::line_col;
use super::raw::{RawAdmin, RawConfig, RawReplay, RawRoute, RawServer, RawSignatureList};
use super::values::{
    parse_hosts, parse_listen, parse_methods, parse_name, parse_path, parse_size, parse_upstream,
};
use super::{addrs, defaults, duration, tls, AddrList, Admin, Config, Listen, PathMatch};
use super::{Problem, RedisUrl};
use super::{ReplayStore, Route, Server, Spool, Upstream};
use crate::scheme::{self, Scheme};
use crate::secret::{self, EnvLookup, Secret};

/// Stage two's state: the source text (for positions), the table being checked, and the
/// problems so far.
pub(super) struct Ctx<'a> {
    text: &'a str,
    problems: Vec<Problem>,
    /// `[server]`, `route 2 (github)`: where the problems being found are.
    pub(super) table: Option<String>,
    /// The config file's folder, against which relative paths resolve.
    pub(super) base: PathBuf,
    env: EnvLookup<'a>,
}

/// Where a route matches and where it sends what verified.
struct Destination {
    name: String,
    path: PathMatch,
    methods: Vec<Method>,
    upstream: Upstream,
    max_body: u64,
}

/// A route's scheme, built, and what `check` shows of its credentials.
struct BuiltScheme {
    scheme: Arc<dyn Scheme>,
    sources: Vec<secret::SecretSource>,
    public_keys: usize,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(text: &'a str, base: &Path, env: EnvLookup<'a>) -> Ctx<'a> {
        Ctx {
            text,
            problems: Vec::new(),
            table: None,
            base: base.to_owned(),
            env,
        }
    }

    /// The whole config, or every problem found. `[replay]` is checked once the rest holds.
    pub(super) fn config(mut self, raw: &RawConfig, source: &Path) -> Result<Config, Vec<Problem>> {
        let server = self.server(raw.server.as_ref());
        let admin = raw.admin.as_ref().and_then(|a| self.admin(a, &server));
        let spool = self.spool(raw.spool.as_ref(), &server);
        let routes = self.routes(&raw.route, &server, &spool);
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        let replay = self.replay(raw.replay.as_ref());
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        Ok(Config {
            source: source.to_owned(),
            server,
            admin,
            replay,
            spool,
            routes,
        })
    }

    pub(super) fn problem(&mut self, span: Option<Range<usize>>, key: Option<&str>, message: &str) {
        self.problems.push(Problem {
            position: span.map(|s| line_col(self.text, s.start)),
            route: self.table.clone(),
            key: key.map(str::to_owned),
            message: message.to_owned(),
        });
    }

    /// Runs `parse` on an optional key, recording a problem and returning `None` on error.
    pub(super) fn key<T, V>(
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

    /// As [`Ctx::key`], with `default` for a key that is not set; `None` means "reported".
    pub(super) fn key_or<T, V>(
        &mut self,
        key: &str,
        value: Option<&Spanned<V>>,
        default: T,
        parse: impl FnOnce(&V) -> Result<T, String>,
    ) -> Option<T> {
        match value {
            None => Some(default),
            Some(_) => self.key(key, value, parse),
        }
    }

    fn server(&mut self, raw: Option<&RawServer>) -> Server {
        let mut server = default_server();
        let Some(raw) = raw else { return server };
        self.table = Some("[server]".into());
        if let Some(v) = self.key("hosts", raw.hosts.as_ref(), |list| parse_hosts(list)) {
            server.hosts = v;
        }
        if let Some(v) = self.key("listen", raw.listen.as_ref(), |s| parse_listen(s)) {
            server.listen = v;
        }
        if let Some(v) = self.key("max_body", raw.max_body.as_ref(), parse_size) {
            server.max_body = v;
        }
        self.server_durations(raw, &mut server);
        if let Some(v) = self.key("max_connections", raw.max_connections.as_ref(), |n| {
            in_range(*n, 1, 1_000_000)
        }) {
            server.max_connections = v;
        }
        let upstream = raw.max_upstream_connections.as_ref();
        if let Some(v) = self.key("max_upstream_connections", upstream, |n| {
            in_range(*n, 1, 100_000)
        }) {
            server.max_upstream_connections = v;
        }
        if let Some(v) = self.key("h2_max_streams", raw.h2_max_streams.as_ref(), |n| {
            in_range(*n, 1, 10_000)
        }) {
            server.h2_max_streams = v;
        }
        let base = self.base.clone();
        if let Some(v) = self.key("trusted_proxies", raw.trusted_proxies.as_ref(), |v| {
            addrs::parse(v, &base)
        }) {
            server.trusted_proxies = v;
        }
        if let Some(watch) = raw.watch {
            server.watch = watch;
        }
        if let Some(raw_tls) = &raw.tls {
            let base = self.base.clone();
            server.tls = self.key("tls", Some(raw_tls), |t| {
                tls::load_tls(&base.join(&t.cert), &base.join(&t.key))
            });
        }
        self.table = None;
        server
    }

    fn server_durations(&mut self, raw: &RawServer, server: &mut Server) {
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
    }

    fn admin(&mut self, raw: &RawAdmin, server: &Server) -> Option<Admin> {
        self.table = Some("[admin]".into());
        let listen = self.key("listen", Some(&raw.listen), |s| parse_listen(s));
        self.table = None;
        let ephemeral = matches!(&server.listen, Listen::Tcp(a) if a.port() == 0);
        if listen.as_ref() == Some(&server.listen) && !ephemeral {
            self.problem(
                Some(raw.listen.span()),
                Some("listen"),
                "the admin listener must not share the public one",
            );
        }
        self.table = Some("[admin]".into());
        let hosts = self.key_or("hosts", raw.hosts.as_ref(), Vec::new(), |l| parse_hosts(l));
        let token = self.admin_token(raw);
        let history = self.key_or(
            "history",
            raw.history.as_ref(),
            defaults::ADMIN_HISTORY,
            |n| in_range(*n, 0, 100_000),
        );
        if let (Some(Listen::Tcp(addr)), Some(None)) = (&listen, &token) {
            if !addr.ip().is_loopback() {
                self.problem(
                    Some(raw.listen.span()),
                    Some("listen"),
                    &format!(
                        "`{addr}` is reachable from other hosts: set `token = {{ env = \"NAME\" }}` \
                         so that only holders of the token reach the admin API, or listen on loopback"
                    ),
                );
            }
        }
        self.table = None;
        Some(Admin {
            listen: listen?,
            readyz_upstreams: raw.readyz_upstreams.unwrap_or(false),
            hosts: hosts?,
            token: token?,
            history: history?,
        })
    }

    /// `[admin] token`: one secret, from `{ env }` or `{ file }`.
    fn admin_token(&mut self, raw: &RawAdmin) -> Option<Option<Secret>> {
        let (base, env) = (self.base.clone(), self.env);
        self.key_or("token", raw.token.as_ref(), None, |v| {
            let mut secrets = secret::load(v, &base, env)?;
            match secrets.len() {
                1 => Ok(secrets.pop()),
                _ => Err("one token, not a list".into()),
            }
        })
    }

    fn replay(&mut self, raw: Option<&RawReplay>) -> ReplayStore {
        let mut max_entries = defaults::REPLAY_MAX_ENTRIES;
        let Some(raw) = raw else {
            return ReplayStore::Memory { max_entries };
        };
        self.table = Some("[replay]".into());
        if let Some(v) = self.key("max_entries", raw.max_entries.as_ref(), |n| {
            in_range(*n, 1, 100_000_000)
        }) {
            max_entries = v;
        }
        let store = self.key("store", raw.store.as_ref(), |url| match url.as_str() {
            "memory" => Ok(ReplayStore::Memory { max_entries }),
            u if u.starts_with("redis://") || u.starts_with("rediss://") => {
                RedisUrl::parse(u).map(ReplayStore::Redis)
            }
            other => Err(format!(
                "`{}` is neither \"memory\" nor a redis:// URL",
                super::redact(other)
            )),
        });
        self.table = None;
        store.unwrap_or(ReplayStore::Memory { max_entries })
    }

    /// Every route, and the problems between routes (a path or a name used twice).
    fn routes(&mut self, raw: &[Spanned<RawRoute>], server: &Server, spool: &Spool) -> Vec<Route> {
        let mut routes = Vec::new();
        let mut paths: HashMap<PathMatch, (usize, String)> = HashMap::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        if raw.is_empty() {
            self.problem(
                None,
                None,
                "no [[route]]: hookwall would refuse every request",
            );
        }
        for (i, spanned) in raw.iter().enumerate() {
            let r = spanned.get_ref();
            self.table = Some(route_label(i + 1, r));
            if let Some(route) = self.route(r, spanned.span(), server, spool) {
                self.unique_path(r, &route, i + 1, &mut paths);
                self.unique_name(r, &route, i + 1, &mut names);
                routes.push(route);
            }
        }
        self.table = None;
        routes
    }

    fn unique_path(
        &mut self,
        r: &RawRoute,
        route: &Route,
        number: usize,
        seen: &mut HashMap<PathMatch, (usize, String)>,
    ) {
        let Some((first, first_label)) = seen.get(&route.path) else {
            seen.insert(route.path.clone(), (number, route.name.clone()));
            return;
        };
        let (key, span) = match route.path {
            PathMatch::Exact(_) => ("path", r.path.as_ref()),
            PathMatch::Prefix(_) => ("path_prefix", r.path_prefix.as_ref()),
        };
        let message = format!(
            "`{}` is already used by route {first} ({first_label})",
            path_of(&route.path)
        );
        self.problem(span.map(Spanned::span), Some(key), &message);
    }

    fn unique_name(
        &mut self,
        r: &RawRoute,
        route: &Route,
        number: usize,
        seen: &mut HashMap<String, usize>,
    ) {
        match seen.get(&route.name) {
            Some(first) => {
                let message = format!("`{}` is already the name of route {first}", route.name);
                self.problem(r.name.as_ref().map(Spanned::span), Some("name"), &message);
            }
            None => {
                seen.insert(route.name.clone(), number);
            }
        }
    }

    /// One route, or `None` once its problems are recorded.
    fn route(
        &mut self,
        r: &RawRoute,
        span: Range<usize>,
        server: &Server,
        spool: &Spool,
    ) -> Option<Route> {
        let before = self.problems.len();
        let destination = self.destination(r, &span, server);
        let delivery = self.delivery(r, spool);
        // A scheme whose keys could not even be read leaves replay unchecked.
        let built = self.scheme(r, &span)?;
        let replay_window = self.replay_window(r, built.as_ref().map(|b| &*b.scheme));
        let base = self.base.clone();
        let allow_from =
            self.key_or(
                "allow_from",
                r.allow_from.as_ref(),
                None,
                |v| match addrs::parse(v, &base)? {
                    list if list.is_empty() => Err(
                        "no address or range: an empty allow_from would refuse every client".into(),
                    ),
                    list => Ok(Some(list)),
                },
            );
        if self.problems.len() != before {
            return None;
        }
        let (destination, built, (delivery, route_spool)) = (destination?, built?, delivery?);
        Some(Route {
            name: destination.name,
            path: destination.path,
            methods: destination.methods,
            upstream: destination.upstream,
            max_body: destination.max_body,
            scheme: built.scheme,
            secret_sources: built.sources,
            public_keys: built.public_keys,
            handshake: r.handshake.as_ref().is_some_and(|h| *h.get_ref()),
            enforce: r.enforce.as_ref().is_none_or(|e| *e.get_ref()),
            replay_window: replay_window?,
            delivery,
            spool: route_spool,
            allow_from: allow_from?,
        })
    }

    /// The path part: where the route matches, its name, methods, upstream and body limit.
    fn destination(
        &mut self,
        r: &RawRoute,
        span: &Range<usize>,
        server: &Server,
    ) -> Option<Destination> {
        let path = self.path(r, span);
        let name = match &r.name {
            Some(n) => self.key("name", Some(n), |s| parse_name(s)),
            None => path.as_ref().map(|p| path_of(p).to_owned()),
        };
        let methods = self.key_or("methods", r.methods.as_ref(), vec![Method::POST], |list| {
            parse_methods(list)
        });
        let ca = r.upstream_ca.as_ref().map(|c| self.base.join(c.get_ref()));
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
        let max_body = self.key_or("max_body", r.max_body.as_ref(), server.max_body, parse_size);
        Some(Destination {
            name: name?,
            path: path?,
            methods: methods?,
            upstream: upstream?,
            max_body: max_body?,
        })
    }

    fn path(&mut self, r: &RawRoute, span: &Range<usize>) -> Option<PathMatch> {
        match (&r.path, &r.path_prefix) {
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
        }
    }

    /// The scheme part: every scheme key checked and loaded, then the one `scheme::build`.
    /// `None` when a key could not be read; `Some(None)` when the scheme did not build.
    fn scheme(&mut self, r: &RawRoute, span: &Range<usize>) -> Option<Option<BuiltScheme>> {
        // `Some(None)` is "not set"; `None` is "reported".
        let tolerance = self.key_or("tolerance", r.tolerance.as_ref(), None, |s| {
            duration::parse(s).map(Some)
        });
        let signature_list = self.key_or("signature_list", r.signature_list.as_ref(), None, |l| {
            RawSignatureList::to_format(l).map(Some)
        });
        if r.provider.is_none() {
            let known = scheme::providers().collect::<Vec<_>>().join(", ");
            let message = format!("missing: name the sender's scheme ({known})");
            self.problem(Some(span.clone()), Some("provider"), &message);
        }
        let secrets = self.secrets(r.secret.as_ref(), "secret");
        let verify_tokens = self.secrets(r.verify_token.as_ref(), "verify_token");
        let (base, env) = (self.base.clone(), self.env);
        let public_keys = self.key_or("public_key", r.public_key.as_ref(), Vec::new(), |v| {
            secret::load_public(v, &base, env)
        });
        let provider = r.provider.as_ref()?;
        let opts = scheme::Options {
            signature_list: signature_list?,
            tolerance: tolerance?,
            public_keys: public_keys?,
            handshake: r.handshake.as_ref().is_some_and(|h| *h.get_ref()),
            verify_tokens: verify_tokens?,
            ..r.text_options(provider.get_ref())
        };
        Some(self.build(r, provider, opts, secrets?))
    }

    /// A secret key (`secret`, `verify_token`), loaded; empty when not set.
    fn secrets(&mut self, value: Option<&Spanned<toml::Value>>, key: &str) -> Option<Vec<Secret>> {
        let (base, env) = (self.base.clone(), self.env);
        self.key_or(key, value, Vec::new(), |v| secret::load(v, &base, env))
    }

    fn build(
        &mut self,
        r: &RawRoute,
        provider: &Spanned<String>,
        opts: scheme::Options<'_>,
        secrets: Vec<Secret>,
    ) -> Option<BuiltScheme> {
        let sources = secrets.iter().map(|s| s.source().clone()).collect();
        let public_keys = opts.public_keys.len();
        match scheme::build(&opts, secrets) {
            Ok(scheme) => Some(BuiltScheme {
                scheme,
                sources,
                public_keys,
            }),
            Err(e) => {
                let at = r.scheme_key_span(e.key).or(Some(provider.span()));
                self.problem(at, Some(e.key), &e.message);
                None
            }
        }
    }

    /// The replay part: how long a delivered key is remembered, `Some(None)` when off.
    fn replay_window(
        &mut self,
        r: &RawRoute,
        scheme: Option<&dyn Scheme>,
    ) -> Option<Option<Duration>> {
        let on = match &r.replay {
            None => scheme.map(|s| s.replay_default()),
            Some(v) => self.key("replay", Some(v), |s| match s.as_str() {
                "on" => Ok(true),
                "off" => Ok(false),
                other => Err(format!("`{other}`: write \"on\" or \"off\"")),
            }),
        };
        let window = self.key_or("replay_window", r.replay_window.as_ref(), None, |s| {
            duration::parse(s).map(Some)
        });
        if on == Some(false) && r.replay_window.is_some() {
            self.problem(
                r.replay_window.as_ref().map(Spanned::span),
                Some("replay_window"),
                "replay protection is off on this route, so there is no window",
            );
        }
        match (on?, window?) {
            (false, _) => Some(None),
            (true, Some(w)) => Some(Some(w)),
            // A timestamp passes from `tolerance` before it to `tolerance` after it, so a
            // signed request can be replayed for twice the tolerance from when it was first
            // seen: remember it that long.
            (true, None) => Some(Some(
                scheme?
                    .tolerance()
                    .map_or(defaults::REPLAY_WINDOW, |t| t.saturating_mul(2)),
            )),
        }
    }
}

/// `[server]` with every default.
fn default_server() -> Server {
    Server {
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
        max_upstream_connections: defaults::MAX_UPSTREAM_CONNECTIONS,
        h2_max_streams: defaults::H2_MAX_STREAMS,
        keepalive_timeout: defaults::KEEPALIVE_TIMEOUT,
        tls: None,
        trusted_proxies: AddrList::default(),
        watch: true,
    }
}

/// A whole number from `low` to `high`.
pub(super) fn in_range<T: TryFrom<i64>>(n: i64, low: i64, high: i64) -> Result<T, String> {
    (low..=high)
        .contains(&n)
        .then(|| T::try_from(n).ok())
        .flatten()
        .ok_or_else(|| format!("{n} is not between {low} and {high}"))
}

/// `route 2 (github)`: the route's number and its name or path, as problems name it.
fn route_label(number: usize, r: &RawRoute) -> String {
    let label = r
        .name
        .as_ref()
        .or(r.path.as_ref())
        .or(r.path_prefix.as_ref())
        .map(|s| s.get_ref().clone());
    match label {
        Some(l) => format!("route {number} ({l})"),
        None => format!("route {number}"),
    }
}

fn path_of(m: &PathMatch) -> &str {
    match m {
        PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
    }
}
