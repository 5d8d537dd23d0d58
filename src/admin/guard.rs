//! Who may ask the admin listener what. Three checks, in order, before any endpoint runs:
//! the `Host` is the listener's own address or a name in `[admin] hosts` (a page on another
//! site that rebinds its name to this address is refused), the bearer token when `[admin]
//! token` is set (but for `/healthz` and `/readyz`, which a kubelet probes without one and
//! which tell nothing but up or down), and, for a request that changes state, the header
//! `X-Hookwall-Admin: 1`
//! (which a browser cannot send cross-site without a CORS grant this listener never gives).

use std::net::SocketAddr;

use http::header::{AUTHORIZATION, HOST};
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

/// Checks `Host`, the token and, for a state change, the admin header.
pub fn check(
    admin: &Admin,
    local: Option<SocketAddr>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    if !host_allowed(admin, local, host_of(uri, headers)) {
        return Err(Refusal::ForeignHost);
    }
    let probe = matches!(uri.path(), "/healthz" | "/readyz");
    if let (Some(token), false) = (&admin.token, probe) {
        if !bearer_matches(headers, token.expose()) {
            return Err(Refusal::Token);
        }
    }
    let reads = method == Method::GET || method == Method::HEAD;
    if !reads && headers.get(&X_HOOKWALL_ADMIN).is_none_or(|v| v != "1") {
        return Err(Refusal::NotFromAdmin);
    }
    Ok(())
}

/// The host the request names: the absolute-form target's, else the `Host` header's.
fn host_of<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(http::uri::Authority::as_str)
        .or_else(|| headers.get(HOST).and_then(|h| h.to_str().ok()))
}

/// Whether `host` is the address the connection reached, `localhost` on a loopback
/// listener, or a name in `[admin] hosts` (with any port). A unix-socket listener has no
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
        || admin.hosts.iter().any(|h| h == name)
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

/// Whether `Authorization: Bearer <token>` carries `token`, compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &[u8]) -> bool {
    let Some(given) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    given.len() == token.len() && bool::from(given.ct_eq(token))
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
        let local = "127.0.0.1:9901".parse().ok();
        check(admin, local, &method, &Uri::from_static("/spool"), &headers)
    }

    #[test]
    fn host_is_the_listeners_address_localhost_or_a_configured_name() {
        let a = admin(&["hookwall.internal"], None);
        for host in [
            "127.0.0.1:9901",
            "127.0.0.1",
            "localhost:9901",
            "hookwall.internal:9901",
        ] {
            assert_eq!(ask(&a, Method::GET, &[("host", host)]), Ok(()), "{host}");
        }
        for host in [
            "evil.example:9901",
            "127.0.0.1:80",
            "127.0.0.2:9901",
            "hookwall.internal.evil.example",
            "127.0.0.1:9901:9901",
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
        let local = "127.0.0.1:9901".parse().ok();
        let probe = |path: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(HOST, "127.0.0.1:9901".parse().unwrap());
            check(&a, local, &Method::GET, &Uri::from_static(path), &headers)
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
}
