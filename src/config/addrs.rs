//! Address lists: `[server] trusted_proxies` and a route's `allow_from`. Each is a list of
//! addresses and CIDR ranges, IPv4 and IPv6, written inline or read from a file (one per line,
//! `#` comments), parsed with the `ipnet` crate. A range with host bits set (`10.1.2.3/16`)
//! is refused: it is a typo for `10.1.0.0/16` or for the address alone, and hookwall does
//! not guess which.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

/// A list of ranges, and the file it came from, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrList {
    nets: Vec<IpNet>,
    file: Option<PathBuf>,
}

impl AddrList {
    /// A list of `nets`, written inline.
    pub fn new(nets: Vec<IpNet>) -> AddrList {
        AddrList { nets, file: None }
    }

    /// Whether `ip` is in one of the ranges. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// is its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// How many entries the list has.
    pub fn len(&self) -> usize {
        self.nets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The file the list was read from.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

impl fmt::Display for AddrList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nets.len();
        let plural = if n == 1 { "" } else { "s" };
        match &self.file {
            Some(path) => write!(f, "{n} range{plural} from {}", path.display()),
            None => write!(f, "{n} range{plural}"),
        }
    }
}

/// Parses a list: `["10.0.0.0/8", "2001:db8::1"]` or `{ file = "PATH" }` (relative to
/// `base`).
///
/// # Errors
/// A message naming the entry (and the file and line) that is not an address or a range,
/// a range with host bits set, or an empty file.
pub fn parse(value: &toml::Value, base: &Path) -> Result<AddrList, String> {
    match value {
        toml::Value::Array(items) => {
            let nets = items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => entry(s),
                    other => Err(format!("`{other}` is not a string")),
                })
                .collect::<Result<_, _>>()?;
            Ok(AddrList::new(nets))
        }
        toml::Value::Table(t) if t.len() == 1 && t.contains_key("file") => {
            let Some(toml::Value::String(file)) = t.get("file") else {
                return Err("`file` must be a path".into());
            };
            from_file(&base.join(file))
        }
        _ => Err("write a list of addresses and ranges, or { file = \"PATH\" }".into()),
    }
}

fn from_file(path: &Path) -> Result<AddrList, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut nets = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        nets.push(entry(line).map_err(|e| format!("{}:{}: {e}", path.display(), number + 1))?);
    }
    if nets.is_empty() {
        return Err(format!(
            "{} holds no address or range (to list none, leave the key out)",
            path.display()
        ));
    }
    Ok(AddrList {
        nets,
        file: Some(path.to_owned()),
    })
}

/// One entry: an address (a range of one) or a range without host bits.
fn entry(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if !text.contains('/') {
        return text
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("`{text}` is not an IP address or a CIDR range"));
    }
    let net: IpNet = text
        .parse()
        .map_err(|_| format!("`{text}` is not an IP address or a CIDR range"))?;
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has host bits set: write `{}` for the range, or the address alone",
            net.trunc()
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AddrList {
        let value = toml::Value::Array(entries.iter().map(|e| toml::Value::from(*e)).collect());
        parse(&value, Path::new(".")).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_and_addresses_of_both_families() {
        let l = list(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"]);
        assert!(l.contains(ip("10.200.1.2")));
        assert!(l.contains(ip("192.0.2.7")));
        assert!(!l.contains(ip("192.0.2.8")));
        assert!(l.contains(ip("2001:db8:1::5")));
        assert!(l.contains(ip("::1")));
        assert!(!l.contains(ip("2001:db9::1")));
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_matches_its_ipv4_range() {
        let l = list(&["10.0.0.0/8"]);
        assert!(l.contains(ip("::ffff:10.1.2.3")));
        assert!(!l.contains(ip("::ffff:11.1.2.3")));
    }

    #[test]
    fn host_bits_garbage_and_empty_files_are_refused() {
        let e = parse(
            &toml::Value::Array(vec!["10.1.2.3/16".into()]),
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.contains("host bits") && e.contains("10.1.0.0/16"), "{e}");
        let e = parse(
            &toml::Value::Array(vec!["10.0.0.300".into()]),
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.contains("not an IP address"), "{e}");
        let dir = std::env::temp_dir().join(format!("hw-addrs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ranges.txt");
        std::fs::write(
            &file,
            "# GitHub hooks\n192.30.252.0/22\n\n2606:50c0::/32 # v6\n",
        )
        .unwrap();
        let mut table = toml::map::Map::new();
        table.insert("file".into(), "ranges.txt".into());
        let l = parse(&toml::Value::Table(table.clone()), &dir).unwrap();
        assert_eq!(l.len(), 2);
        assert!(l.contains(ip("192.30.253.1")));
        std::fs::write(&file, "# nothing yet\n").unwrap();
        let e = parse(&toml::Value::Table(table.clone()), &dir).unwrap_err();
        assert!(e.contains("ranges.txt") && e.contains("no address"), "{e}");
        std::fs::write(&file, "10.0.0.0/8\nbogus\n").unwrap();
        let e = parse(&toml::Value::Table(table), &dir).unwrap_err();
        assert!(e.contains("ranges.txt:2") && e.contains("bogus"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
