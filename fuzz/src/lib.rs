//! What the fuzz targets share: one scheme of every provider (and the variants with more to
//! parse), the fixed clock and secrets, a reference HMAC, and the invariants an accepted path
//! or config must keep.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwall_testkit::reference::mac256;
pub use hookwall_testkit::reference::path_keeps_its_promises;
use hookwall_testkit::schemes::{self, Keys};
pub use hookwall_testkit::schemes::{secret, Entry};
use http::HeaderValue;

/// The clock every target verifies at.
pub const NOW: u64 = 1_700_000_000;
/// The text secret of every HMAC route.
pub const SECRET: &str = "fuzz-secret-5d1c9a0b7e";
/// The Standard Webhooks secret: `whsec_` + base64.
pub const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The `public_url` of URL-signed routes.
pub const URL: &str = "https://hooks.example.com/webhooks/in";
/// RFC 8032's first test key, as Discord writes public keys (hex) and as `whpk_` (base64).
pub const ED25519_HEX: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
pub const WHPK: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
/// sendgrid-python's test key (P-256, DER, base64).
pub const SENDGRID_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
/// Relative secret files in a fuzzed config resolve against this folder, which does not exist.
pub const CONFIG_PATH: &str = "/nonexistent-hookwall-fuzz/hookwall.toml";

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

/// Hex HMAC-SHA256 under [`SECRET`], computed by the test kit and not by hookwall.
pub fn hmac_sha256_hex(parts: &[&[u8]]) -> String {
    hex::encode(mac256(SECRET.as_bytes(), parts))
}

/// A header value from fuzz bytes, with the bytes no header value may hold left out.
pub fn header_value(bytes: &[u8]) -> HeaderValue {
    let clean: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        .collect();
    HeaderValue::from_bytes(&clean).expect("only bytes a header value may hold")
}

/// One scheme of every provider and the variants with more to parse (the test kit's list),
/// keyed with this crate's secrets and public keys.
pub fn schemes() -> &'static [Entry] {
    static ALL: OnceLock<Vec<Entry>> = OnceLock::new();
    ALL.get_or_init(|| {
        schemes::every(&Keys {
            secret: SECRET,
            whsec: WHSEC,
            whpk: WHPK,
            discord: ED25519_HEX,
            sendgrid: SENDGRID_KEY,
            url: URL,
        })
    })
}

/// Every variable is set: `WHSEC` names hold a `whsec_` secret, `B64` names a base64 one,
/// the rest a strong text secret.
pub fn env(name: &str) -> Option<String> {
    Some(if name.contains("WHSEC") {
        WHSEC.to_owned()
    } else if name.contains("B64") {
        "ZnV6ei1iYXNlNjQtc2VjcmV0LWJ5dGVz".to_owned()
    } else {
        format!("fuzz-{name}-8c1f9e2d")
    })
}

/// Whether loading `text` reads only ordinary small files: a string anywhere in it (a secret
/// `file`, a TLS `cert` or `key`, an `upstream_ca`) that names a device, a FIFO, something
/// under `/proc`, `/sys`, `/dev` or `/run`, or a large file (where a read could block, never
/// end or take long) makes the input one to skip.
pub fn config_is_safe_to_load(text: &str) -> bool {
    fn path_ok(name: &str) -> bool {
        let base = Path::new(CONFIG_PATH).parent().unwrap_or(Path::new("."));
        let path = base.join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            return true;
        };
        let real = std::fs::canonicalize(&path).unwrap_or(path);
        (meta.is_file() || meta.is_dir())
            && meta.len() < 1 << 20
            && !["/proc", "/sys", "/dev", "/run"]
                .iter()
                .any(|p| real.starts_with(p))
    }
    fn walk(value: &toml::Value) -> bool {
        match value {
            toml::Value::String(s) => path_ok(s),
            toml::Value::Table(t) => t.values().all(walk),
            toml::Value::Array(a) => a.iter().all(walk),
            _ => true,
        }
    }
    // A text that is not TOML fails in stage one, before any file is read.
    match text.parse::<toml::Table>() {
        Ok(table) => table.values().all(walk),
        Err(_) => true,
    }
}
