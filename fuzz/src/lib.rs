//! What the fuzz targets share: one scheme of every provider (and the variants with more to
//! parse), the fixed clock and secrets, a reference HMAC, and the invariants an accepted path
//! or config must keep.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwall::scheme::hmac::ListFormat;
use hookwall::scheme::{self, Options, Scheme};
use hookwall::secret::{Secret, SecretSource};
use hookwall_testkit::reference::mac256;
pub use hookwall_testkit::reference::path_keeps_its_promises;
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

pub fn secret(bytes: &[u8]) -> Secret {
    Secret::from_bytes(bytes.to_vec(), SecretSource::Env("FUZZ".into()))
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

/// A scheme, and whether its own `sign` makes a delivery that must verify as it is.
pub struct Entry {
    pub scheme: Arc<dyn Scheme>,
    pub round_trips: bool,
}

fn build(opts: &Options<'_>, secrets: &[&[u8]]) -> Arc<dyn Scheme> {
    scheme::build(opts, secrets.iter().map(|s| secret(s)).collect())
        .unwrap_or_else(|e| panic!("{}: {e:?}", opts.provider))
}

fn signs_url(name: &str) -> bool {
    matches!(name, "square" | "trello" | "hubspot")
}

/// Every provider `scheme::build` knows, plus Twilio's sha256, Standard Webhooks with public
/// keys, the four setup handshakes and the generic engine in several shapes.
pub fn schemes() -> &'static [Entry] {
    static ALL: OnceLock<Vec<Entry>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        let mut push = |scheme, round_trips| {
            all.push(Entry {
                scheme,
                round_trips,
            })
        };
        for name in scheme::providers() {
            let plain = Options {
                provider: name,
                public_url: (signs_url(name) || name == "twilio").then_some(URL),
                ..Options::default()
            };
            let (s, round_trips) = match name {
                "discord" => (
                    build(
                        &Options {
                            public_keys: vec![ED25519_HEX.into()],
                            ..plain
                        },
                        &[],
                    ),
                    false,
                ),
                "sendgrid" => (
                    build(
                        &Options {
                            public_keys: vec![SENDGRID_KEY.into()],
                            ..plain
                        },
                        &[],
                    ),
                    false,
                ),
                "hmac" => (
                    build(
                        &Options {
                            signature_header: Some("X-Signature"),
                            ..plain
                        },
                        &[SECRET.as_bytes()],
                    ),
                    true,
                ),
                "standard-webhooks" | "svix" | "clerk" | "resend" => {
                    (build(&plain, &[WHSEC.as_bytes()]), true)
                }
                // Mailgun's fields live in the body, Linear's timestamp too.
                "mailgun" | "linear" => (build(&plain, &[SECRET.as_bytes()]), false),
                _ => (build(&plain, &[SECRET.as_bytes()]), true),
            };
            push(s, round_trips);
        }
        push(
            build(
                &Options {
                    provider: "twilio",
                    public_url: Some(URL),
                    algorithm: Some("sha256"),
                    ..Options::default()
                },
                &[SECRET.as_bytes()],
            ),
            true,
        );
        for (secrets, round_trips) in [(&[WHSEC.as_bytes()][..], true), (&[], false)] {
            push(
                build(
                    &Options {
                        provider: "standard-webhooks",
                        public_keys: vec![WHPK.into()],
                        ..Options::default()
                    },
                    secrets,
                ),
                round_trips,
            );
        }
        for provider in ["meta", "trello", "asana", "zoom"] {
            let tokens = if provider == "meta" {
                vec![secret(b"meta-verify-token-9f2c")]
            } else {
                Vec::new()
            };
            let s = scheme::build(
                &Options {
                    provider,
                    public_url: signs_url(provider).then_some(URL),
                    handshake: true,
                    verify_tokens: tokens,
                    ..Options::default()
                },
                vec![secret(SECRET.as_bytes())],
            )
            .expect("handshake routes build");
            push(s, true);
        }
        let list = |ts: Option<&str>| ListFormat {
            separator: ',',
            pair: '=',
            version: "v1".into(),
            timestamp_key: ts.map(str::to_owned),
        };
        for (payload, list, ts_header, format, id, url) in [
            (
                "{timestamp}.{body}",
                Some(list(Some("t"))),
                None,
                None,
                None,
                None,
            ),
            ("{body}", Some(list(None)), None, None, None, None),
            (
                "{id}.{timestamp}.{method}.{url}.{body}",
                None,
                Some("X-Ts"),
                Some("rfc3339"),
                Some("X-Id"),
                Some(URL),
            ),
            (
                "{timestamp}{body}",
                None,
                Some("X-Ts"),
                Some("unix_ms"),
                None,
                None,
            ),
        ] {
            push(
                build(
                    &Options {
                        provider: "hmac",
                        signature_header: Some("X-Signature"),
                        encoding: Some("base64"),
                        algorithm: Some("sha512"),
                        signed_payload: Some(payload),
                        signature_list: list,
                        timestamp_header: ts_header,
                        timestamp_format: format,
                        id_header: id,
                        public_url: url,
                        ..Options::default()
                    },
                    &[SECRET.as_bytes()],
                ),
                true,
            );
        }
        all
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
