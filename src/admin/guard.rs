//! Who may ask the admin listener what. Three checks, in order, before any endpoint runs:
//! the `Host` is the listener's own address or a name in `[admin] hosts` (a page on another
//! site that rebinds its name to this address is refused), the bearer token when `[admin]
//! token` is set (but for `/healthz` and `/readyz`, which a kubelet probes without one and
//! which tell nothing but up or down), and, for a request that changes state, the header
//! `X-Hookwall-Admin: 1`
//! (which a browser cannot send cross-site without a CORS grant this listener never gives).

use std::net::SocketAddr;

use http::header::{HeaderValue, AUTHORIZATION, COOKIE as COOKIE_HEADER, HOST};
use http::{HeaderMap, Method, Uri};
use subtle::ConstantTimeEq;

use crate::config::Admin;
use crate::headers::X_HOOKWALL_ADMIN;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 403: the `Host` names another site.
    ForeignHost,
    /// 401: no token, or not this one.
    Token,
    /// 403: a state change without `X-Hookwall-Admin: 1`.
    NotFromAdmin,
}

impl Refusal {
    /// What the caller is told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::ForeignHost => {
                "this Host is not the admin listener's address nor a name in [admin] hosts"
            }
            Refusal::Token => "an admin token is needed: Authorization: Bearer <token>",
            Refusal::NotFromAdmin => "a request that changes state needs X-Hookwall-Admin: 1",
        }
    }
}

/// What the guard looks at of a request.
pub struct Asked<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// The address the connection reached (`None` on a unix socket).
    pub local: Option<SocketAddr>,
    /// The anti-forgery token of a form the page posted.
    pub form_token: Option<&'a str>,
}

/// The cookie the page keeps the admin token in, once asked for it.
const COOKIE: &str = "hookwall_admin";

/// Checks `Host`, the token (bearer or the page's cookie) and, for a state change, the
/// admin header or the page's anti-forgery token `csrf`.
pub fn check(admin: &Admin, csrf: &str, ask: &Asked<'_>) -> Result<(), Refusal> {
    if !host_allowed(admin, ask.local, host_of(ask.uri, ask.headers)) {
        return Err(Refusal::ForeignHost);
    }
    let probe = matches!(ask.uri.path(), "/healthz" | "/readyz" | "/style.css");
    if let (Some(token), false) = (&admin.token, probe) {
        let given = bearer(ask.headers).or_else(|| cookie(ask.headers));
        if !given.is_some_and(|g| same(g, token.expose())) {
            return Err(Refusal::Token);
        }
    }
    let reads = ask.method == Method::GET || ask.method == Method::HEAD;
    let header = ask.headers.get(&X_HOOKWALL_ADMIN).is_some_and(|v| v == "1");
    let form = ask
        .form_token
        .is_some_and(|t| !csrf.is_empty() && same(t.as_bytes(), csrf.as_bytes()));
    if !reads && !header && !form {
        return Err(Refusal::NotFromAdmin);
    }
    Ok(())
}

/// `POST /login` with `token`: the cookie to set when it is the admin token and the `Host`
/// is allowed.
pub fn login(admin: &Admin, ask: &Asked<'_>, token: Option<&str>) -> Result<HeaderValue, Refusal> {
    if !host_allowed(admin, ask.local, host_of(ask.uri, ask.headers)) {
        return Err(Refusal::ForeignHost);
    }
    let Some(expected) = &admin.token else {
        return Err(Refusal::NotFromAdmin);
    };
    match token {
        Some(t) if same(t.as_bytes(), expected.expose()) => {
            HeaderValue::from_str(&format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/"))
                .map_err(|_| Refusal::Token)
        }
        _ => Err(Refusal::Token),
    }
}

/// A new anti-forgery token: 128 bits from the secure random source TLS uses, in hex. Empty
/// (and logged) if there is no such source: then no form token matches, and only a request
/// with `X-Hookwall-Admin: 1` may change state (fail closed).
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    let random = rustls::crypto::ring::default_provider().secure_random;
    match random.fill(&mut bytes) {
        Ok(()) => hex::encode(bytes),
        Err(_) => {
            tracing::error!("no secure random source: the inspector page's buttons are disabled");
            String::new()
        }
    }
}

/// The login form the page shows when `[admin] token` is set and the browser has no cookie.
pub const LOGIN_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>hookwall inspector</title><link rel=\"stylesheet\" href=\"/style.css\"></head><body>\
<h1>hookwall inspector</h1><p>This admin listener needs its token ([admin] token).</p>\
<form method=\"post\" action=\"/login\"><input type=\"password\" name=\"token\" \
autocomplete=\"off\"> <button>Open</button></form></body></html>\n";

/// The host the request names: the absolute-form target's, else the `Host` header's.
fn host_of<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(http::uri::Authority::as_str)
        .or_else(|| headers.get(HOST).and_then(|h| h.to_str().ok()))
}

/// Whether `host` is the address the connection reached, `localhost` on a loopback
/// listener, or a name in `[admin] hosts` (written with a port: that port only; without:
/// any port). A unix-socket listener has no
/// address a browser could reach, so any host passes there.
fn host_allowed(admin: &Admin, local: Option<SocketAddr>, host: Option<&str>) -> bool {
    let Some(local) = local else { return true };
    let Some(host) = host else { return false };
    let host = host.to_ascii_lowercase();
    let (name, port) = split_port(&host);
    if port.is_some_and(|p| p != local.port()) {
        return false;
    }
    let ip = name.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip == local.ip())
        || (name == "localhost" && local.ip().is_loopback())
        || admin.hosts.iter().any(|h| *h == host || h == name)
}

/// `name:port` → (`name`, port); `[v6]:port` and a bare name or `[v6]` also.
fn split_port(host: &str) -> (&str, Option<u16>) {
    match host.rfind(':') {
        Some(i)
            if !host[i..].contains(']') && (host.starts_with('[') || !host[..i].contains(':')) =>
        {
            (&host[..i], host[i + 1..].parse().ok().or(Some(0)))
        }
        _ => (host, None),
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
}

/// The token of the page's cookie.
fn cookie(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get_all(COOKIE_HEADER)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .map(<[u8]>::trim_ascii)
        .find_map(|c| c.strip_prefix(COOKIE.as_bytes())?.strip_prefix(b"="))
}

/// Constant-time equality of two tokens.
fn same(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && bool::from(given.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Listen;
    use crate::secret::{Secret, SecretSource};

    fn admin(hosts: &[&str], token: Option<&str>) -> Admin {
        Admin {
            listen: Listen::Tcp("127.0.0.1:9901".parse().unwrap()),
            readyz_upstreams: false,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            token: token.map(|t| Secret::from_bytes(t, SecretSource::Env("T".into()))),
            history: 0,
        }
    }

    fn ask(admin: &Admin, method: Method, pairs: &[(&str, &str)]) -> Result<(), Refusal> {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let uri = Uri::from_static("/spool");
        check(admin, CSRF, &asked(&method, &uri, &headers, None))
    }

    const CSRF: &str = "0123456789abcdef0123456789abcdef";

    fn asked<'a>(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        form_token: Option<&'a str>,
    ) -> Asked<'a> {
        Asked {
            method,
            uri,
            headers,
            local: "127.0.0.1:9901".parse().ok(),
            form_token,
        }
    }

    #[test]
    fn host_is_the_listeners_address_localhost_or_a_configured_name() {
        let a = admin(&["hookwall.internal", "ported.internal:9901"], None);
        for host in [
            "127.0.0.1:9901",
            "127.0.0.1",
            "localhost:9901",
            "hookwall.internal:9901",
            "ported.internal:9901",
        ] {
            assert_eq!(ask(&a, Method::GET, &[("host", host)]), Ok(()), "{host}");
        }
        for host in [
            "evil.example:9901",
            "127.0.0.1:80",
            "127.0.0.2:9901",
            "hookwall.internal.evil.example",
            "127.0.0.1:9901:9901",
            "ported.internal",
        ] {
            assert_eq!(
                ask(&a, Method::GET, &[("host", host)]),
                Err(Refusal::ForeignHost),
                "{host}"
            );
        }
        assert_eq!(ask(&a, Method::GET, &[]), Err(Refusal::ForeignHost));
    }

    #[test]
    fn ipv6_hosts_split_at_the_bracket() {
        assert_eq!(split_port("[::1]:9901"), ("[::1]", Some(9901)));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
        assert_eq!(split_port("a.b:1"), ("a.b", Some(1)));
        assert_eq!(split_port("a.b"), ("a.b", None));
    }

    #[test]
    fn token_and_admin_header() {
        let a = admin(&[], Some("s3cret-token"));
        let host = ("host", "127.0.0.1:9901");
        assert_eq!(ask(&a, Method::GET, &[host]), Err(Refusal::Token));
        let wrong = ("authorization", "Bearer s3cret-tokem");
        assert_eq!(ask(&a, Method::GET, &[host, wrong]), Err(Refusal::Token));
        let right = ("authorization", "Bearer s3cret-token");
        assert_eq!(ask(&a, Method::GET, &[host, right]), Ok(()));
        let probe = |path: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(HOST, "127.0.0.1:9901".parse().unwrap());
            let uri = Uri::from_static(path);
            check(&a, CSRF, &asked(&Method::GET, &uri, &headers, None))
        };
        assert_eq!(probe("/healthz"), Ok(()), "probes need no token");
        assert_eq!(probe("/readyz"), Ok(()));
        assert_eq!(probe("/metrics"), Err(Refusal::Token));
        assert_eq!(
            ask(&a, Method::POST, &[host, right]),
            Err(Refusal::NotFromAdmin)
        );
        let header = ("x-hookwall-admin", "1");
        assert_eq!(ask(&a, Method::POST, &[host, right, header]), Ok(()));
        let no_token = admin(&[], None);
        assert_eq!(ask(&no_token, Method::POST, &[host, header]), Ok(()));
        let other = ("x-hookwall-admin", "yes");
        assert_eq!(
            ask(&no_token, Method::POST, &[host, other]),
            Err(Refusal::NotFromAdmin)
        );
    }

    #[test]
    fn the_page_s_cookie_and_form_token_stand_for_the_token_and_the_header() {
        let a = admin(&[], Some("s3cret-token"));
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "127.0.0.1:9901".parse().unwrap());
        headers.insert(
            COOKIE_HEADER,
            "theme=dark; hookwall_admin=s3cret-token".parse().unwrap(),
        );
        let uri = Uri::from_static("/spool/sp_1/retry");
        let post = |token| check(&a, CSRF, &asked(&Method::POST, &uri, &headers, token));
        assert_eq!(post(None), Err(Refusal::NotFromAdmin));
        assert_eq!(
            post(Some("0123456789abcdef0123456789abcdee")),
            Err(Refusal::NotFromAdmin)
        );
        assert_eq!(post(Some(CSRF)), Ok(()));
        headers.insert(COOKIE_HEADER, "hookwall_admin=wrong".parse().unwrap());
        let post = |token| check(&a, CSRF, &asked(&Method::POST, &uri, &headers, token));
        assert_eq!(post(Some(CSRF)), Err(Refusal::Token));

        let login_uri = Uri::from_static("/login");
        let at = asked(&Method::POST, &login_uri, &headers, None);
        assert_eq!(login(&a, &at, Some("nope")), Err(Refusal::Token));
        let cookie = login(&a, &at, Some("s3cret-token")).unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let t = new_token();
        assert_eq!(t.len(), 32);
        assert_ne!(t, new_token());
    }

    #[test]
    fn without_a_form_token_of_its_own_no_form_passes() {
        let a = admin(&[], None);
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "127.0.0.1:9901".parse().unwrap());
        let uri = Uri::from_static("/spool/sp_1/retry");
        let post = |token| check(&a, "", &asked(&Method::POST, &uri, &headers, token));
        assert_eq!(post(Some("")), Err(Refusal::NotFromAdmin));
        assert_eq!(post(None), Err(Refusal::NotFromAdmin));
    }
}
