//! Who the client is. The peer's address, unless the peer is a trusted proxy (`[server]
//! trusted_proxies`, or a unix-socket peer: only local processes reach the socket); then
//! `X-Forwarded-For` is walked from the right, skipping trusted addresses, and the first
//! entry that is not trusted is the client. An entry that does not parse ends the walk and
//! is the client, so it fails any allow-list; a sender's own `X-Forwarded-For` entries sit
//! to the left of what the trusted proxies appended, so they are never reached while an
//! untrusted hop stands to their right.

use std::fmt;
use std::net::IpAddr;

use http::HeaderMap;

use crate::config::AddrList;
use crate::headers::X_FORWARDED_FOR;
use crate::listener::Peer;

/// The client a request is from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Client {
    Addr(IpAddr),
    /// The first untrusted `X-Forwarded-For` entry, which is not an address.
    Unparsable,
    /// A unix-socket peer that named no client.
    Local,
}

impl Client {
    /// The address, when there is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Client::Addr(ip) => Some(*ip),
            Client::Unparsable | Client::Local => None,
        }
    }

    /// The client as the log line, the inspector and `X-Forwarded-For` show it: the address
    /// (an IPv4-mapped IPv6 address as IPv4), `unparsable` or `unix`. Rendered once per
    /// request; IPv4 without the formatting machinery.
    pub fn text(&self) -> String {
        match self {
            Client::Addr(ip) => match ip.to_canonical() {
                IpAddr::V4(v4) => ipv4_text(v4),
                v6 => v6.to_string(),
            },
            Client::Unparsable => "unparsable".to_owned(),
            Client::Local => "unix".to_owned(),
        }
    }

    /// Whether the client is in `allowed`; one without an address is in no list.
    pub fn allowed_by(&self, allowed: &AddrList) -> bool {
        self.ip().is_some_and(|ip| allowed.contains(ip))
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Addr(ip) => write!(f, "{}", ip.to_canonical()),
            Client::Unparsable => f.write_str("unparsable"),
            Client::Local => f.write_str("unix"),
        }
    }
}

/// `a.b.c.d`, as `Ipv4Addr`'s `Display` writes it.
fn ipv4_text(ip: std::net::Ipv4Addr) -> String {
    let mut out = String::with_capacity(15);
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
    out
}

/// The client of a request from `peer` carrying `headers`.
pub fn resolve(peer: Peer, headers: &HeaderMap, trusted: &AddrList) -> Client {
    let proxied = match peer {
        Peer::Tcp(addr) if !trusted.contains(addr.ip()) => return Client::Addr(addr.ip()),
        Peer::Tcp(addr) => Client::Addr(addr.ip()),
        Peer::Unix => Client::Local,
    };
    let mut nearest = proxied;
    // Every `X-Forwarded-For` line's entries, from the right; a line that is not text is
    // unparsable where it stands.
    for line in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
        let Ok(text) = line.to_str() else {
            return Client::Unparsable;
        };
        for entry in text.rsplit(',') {
            let Some(ip) = parse(entry) else {
                return Client::Unparsable;
            };
            if !trusted.contains(ip) {
                return Client::Addr(ip);
            }
            nearest = Client::Addr(ip);
        }
    }
    // Every hop trusted: the leftmost is the client.
    nearest
}

/// An entry: an address, `[v6]`, or either with a port.
fn parse(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    if let Ok(ip) = e.parse() {
        return Some(ip);
    }
    if let Some(rest) = e.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, port) = e.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_what_display_writes() {
        let mut ips: Vec<IpAddr> = (0..=255u8)
            .map(|n| IpAddr::from([n, 255 - n, n / 3, 100]))
            .collect();
        ips.extend(
            [
                "0.0.0.0",
                "10.0.0.9",
                "::1",
                "2001:db8::7",
                "::ffff:192.0.2.10",
            ]
            .map(|s| s.parse::<IpAddr>().unwrap()),
        );
        for ip in ips {
            let client = Client::Addr(ip);
            assert_eq!(client.text(), client.to_string());
        }
        assert_eq!(
            Client::Addr("::ffff:192.0.2.10".parse().unwrap()).text(),
            "192.0.2.10"
        );
        assert_eq!(Client::Unparsable.text(), Client::Unparsable.to_string());
        assert_eq!(Client::Local.text(), "unix");
    }

    fn trusted(entries: &[&str]) -> AddrList {
        let value = toml::Value::Array(entries.iter().map(|e| toml::Value::from(*e)).collect());
        crate::config::addrs::parse(&value, std::path::Path::new(".")).unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR.clone(), v.parse().unwrap());
        }
        h
    }

    fn tcp(ip: &str) -> Peer {
        Peer::Tcp(std::net::SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    fn addr(ip: &str) -> Client {
        Client::Addr(ip.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peers_header_changes_nothing() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = xff(&["192.0.2.1"]);
        assert_eq!(resolve(tcp("203.0.113.9"), &h, &t), addr("203.0.113.9"));
        assert_eq!(
            resolve(tcp("203.0.113.9"), &h, &AddrList::default()),
            addr("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_entry_decides() {
        let t = trusted(&["10.0.0.0/8", "2001:db8::/32"]);
        // The sender forged "192.0.2.1"; the load balancer appended the real address.
        let h = xff(&["192.0.2.1, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(resolve(tcp("10.9.9.9"), &h, &t), addr("198.51.100.7"));
        assert_eq!(
            resolve(tcp("2001:db8::5"), &xff(&["2001:db8::9, 2001:db9::1"]), &t),
            addr("2001:db9::1")
        );
        // No header: the proxy itself.
        assert_eq!(
            resolve(tcp("10.9.9.9"), &HeaderMap::new(), &t),
            addr("10.9.9.9")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            resolve(tcp("10.9.9.9"), &xff(&["10.2.2.2, 10.3.3.3"]), &t),
            addr("10.2.2.2")
        );
    }

    #[test]
    fn an_entry_that_does_not_parse_is_the_client_and_fails_every_list() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = xff(&["198.51.100.7, unknown"]);
        let c = resolve(tcp("10.9.9.9"), &h, &t);
        assert_eq!(c, Client::Unparsable);
        assert!(!c.allowed_by(&trusted(&["0.0.0.0/0", "::/0"])));
    }

    #[test]
    fn mapped_addresses_ports_and_brackets() {
        let t = trusted(&["10.0.0.0/8"]);
        // An IPv4-mapped peer is its IPv4 address.
        assert_eq!(
            resolve(tcp("::ffff:10.1.2.3"), &xff(&["192.0.2.4"]), &t),
            addr("192.0.2.4")
        );
        assert_eq!(parse("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse("192.0.2.1:8080"), "192.0.2.1".parse().ok());
        assert_eq!(parse(" 2001:db8::2 "), "2001:db8::2".parse().ok());
        assert_eq!(parse("nope"), None);
        assert!(addr("::ffff:192.0.2.1").allowed_by(&trusted(&["192.0.2.0/24"])));
        assert_eq!(addr("::ffff:192.0.2.1").to_string(), "192.0.2.1");
    }

    #[test]
    fn a_unix_socket_peer_is_a_trusted_proxy() {
        let t = AddrList::default();
        assert_eq!(
            resolve(Peer::Unix, &xff(&["192.0.2.8"]), &t),
            addr("192.0.2.8")
        );
        assert_eq!(resolve(Peer::Unix, &HeaderMap::new(), &t), Client::Local);
    }
}
