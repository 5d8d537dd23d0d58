//! Parsers for single config values (addresses, host lists, sizes, names, paths, methods,
//! upstream origins, Redis URLs): text in, typed value or a message out. They know nothing
//! of files, routes or positions; `validate` attaches those.

use std::path::{Path, PathBuf};

use http::uri::Authority;
use http::{Method, Uri};

use super::{size, tls, Listen, Upstream};
use crate::target;

pub(super) fn parse_listen(s: &str) -> Result<Listen, String> {
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
pub(super) fn parse_hosts(list: &[String]) -> Result<Vec<String>, String> {
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

pub(super) fn parse_size(v: &toml::Value) -> Result<u64, String> {
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

pub(super) fn parse_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "`{s}` is not a usable route name: 1 to 64 printable ASCII characters, no spaces"
        ));
    }
    Ok(s.to_owned())
}

pub(super) fn parse_path(s: &str) -> Result<(), String> {
    target::check_path(s).map_err(|why| format!("`{s}` can never match a request: {why}"))
}

pub(super) fn parse_methods(list: &[String]) -> Result<Vec<Method>, String> {
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

pub(super) fn parse_upstream(s: &str, ca: Option<&Path>) -> Result<Upstream, String> {
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
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let Ok(name) = rustls::pki_types::ServerName::try_from(host.to_owned()) else {
        return Err(bad("has a host no certificate can name"));
    };
    Ok(Upstream::Https {
        name,
        tls: tls::client_tls(ca)?,
        ca: ca.map(Path::to_owned),
        authority,
    })
}
