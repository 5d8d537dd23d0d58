//! One scheme of every provider hookwall builds, plus the variants with more to parse
//! (Twilio's sha256, Standard Webhooks with public keys, the four setup handshakes, the
//! generic engine in several shapes): the set the property tests and the fuzz targets run
//! every input through. Built with hookwall's own `scheme::build` from keys the caller picks;
//! nothing here signs or checks a signature.

use std::sync::Arc;

use hookwall::scheme::hmac::ListFormat;
use hookwall::scheme::{self, Options, Scheme};
use hookwall::secret::{Secret, SecretSource};

/// The key material the schemes are built with.
pub struct Keys<'a> {
    /// The text secret of every HMAC scheme.
    pub secret: &'a str,
    /// A Standard Webhooks secret: `whsec_` + base64.
    pub whsec: &'a str,
    /// A Standard Webhooks public key: `whpk_` + base64 of an Ed25519 key.
    pub whpk: &'a str,
    /// Discord's Ed25519 public key, in hex.
    pub discord: &'a str,
    /// SendGrid's P-256 public key (DER, base64).
    pub sendgrid: &'a str,
    /// The `public_url` of schemes that sign the URL.
    pub url: &'a str,
}

/// A scheme, and whether its own `sign` makes a whole delivery that must verify as it is
/// (not so for public-key schemes, nor where fields live in the body).
pub struct Entry {
    pub scheme: Arc<dyn Scheme>,
    pub round_trips: bool,
}

/// A secret from test bytes.
pub fn secret(bytes: &[u8]) -> Secret {
    Secret::from_bytes(bytes.to_vec(), SecretSource::Env("KIT".into()))
}

/// Builds `opts` with `secrets` (panics naming the provider: a test's own setup).
pub fn build(opts: &Options<'_>, secrets: &[&[u8]]) -> Arc<dyn Scheme> {
    scheme::build(opts, secrets.iter().map(|s| secret(s)).collect())
        .unwrap_or_else(|e| panic!("{}: {e:?}", opts.provider))
}

/// Whether a preset signs its `public_url`.
pub fn signs_url(name: &str) -> bool {
    matches!(name, "square" | "trello" | "hubspot")
}

/// Every scheme: each provider once, then the variants.
pub fn every(keys: &Keys<'_>) -> Vec<Entry> {
    let mut all: Vec<Entry> = scheme::providers()
        .map(|name| provider(name, keys))
        .collect();
    all.push(Entry {
        scheme: twilio_sha256(keys),
        round_trips: true,
    });
    all.extend(standard_webhooks_with_public_keys(keys));
    all.extend(handshakes(keys));
    all.extend(generic_shapes(keys));
    all
}

/// The provider `name` with its usual keys.
fn provider(name: &'static str, keys: &Keys<'_>) -> Entry {
    let plain = || Options {
        provider: name,
        public_url: (signs_url(name) || name == "twilio").then_some(keys.url),
        ..Options::default()
    };
    let secret = keys.secret.as_bytes();
    let public = |key: &str| Options {
        public_keys: vec![key.to_owned()],
        ..plain()
    };
    let (scheme, round_trips) = match name {
        "discord" => (build(&public(keys.discord), &[]), false),
        "sendgrid" => (build(&public(keys.sendgrid), &[]), false),
        "hmac" => {
            let opts = Options {
                signature_header: Some("X-Signature"),
                ..plain()
            };
            (build(&opts, &[secret]), true)
        }
        "standard-webhooks" | "svix" | "clerk" | "resend" => {
            (build(&plain(), &[keys.whsec.as_bytes()]), true)
        }
        // Mailgun's fields live in the body, Linear's timestamp too.
        "mailgun" | "linear" => (build(&plain(), &[secret]), false),
        _ => (build(&plain(), &[secret]), true),
    };
    assert_eq!(scheme.provider(), name, "built the provider asked for");
    Entry {
        scheme,
        round_trips,
    }
}

/// Twilio with `algorithm = "sha256"`.
fn twilio_sha256(keys: &Keys<'_>) -> Arc<dyn Scheme> {
    let opts = Options {
        provider: "twilio",
        public_url: Some(keys.url),
        algorithm: Some("sha256"),
        ..Options::default()
    };
    build(&opts, &[keys.secret.as_bytes()])
}

/// Standard Webhooks with a public key: with a secret too (both kinds of signature), and
/// with `v1a` only.
fn standard_webhooks_with_public_keys(keys: &Keys<'_>) -> Vec<Entry> {
    let opts = Options {
        provider: "standard-webhooks",
        public_keys: vec![keys.whpk.to_owned()],
        ..Options::default()
    };
    [(&[keys.whsec.as_bytes()][..], true), (&[], false)]
        .into_iter()
        .map(|(secrets, round_trips)| Entry {
            scheme: build(&opts, secrets),
            round_trips,
        })
        .collect()
}

/// The four setup handshakes (Meta with a verify token).
fn handshakes(keys: &Keys<'_>) -> Vec<Entry> {
    ["meta", "trello", "asana", "zoom"]
        .into_iter()
        .map(|provider| {
            let verify_tokens = if provider == "meta" {
                vec![secret(b"meta-verify-token-9f2c")]
            } else {
                Vec::new()
            };
            let opts = Options {
                provider,
                public_url: signs_url(provider).then_some(keys.url),
                handshake: true,
                verify_tokens,
                ..Options::default()
            };
            let scheme = scheme::build(&opts, vec![secret(keys.secret.as_bytes())])
                .expect("handshake routes build");
            Entry {
                scheme,
                round_trips: true,
            }
        })
        .collect()
}

/// The generic engine with a signature list (with and without a timestamp entry), header
/// timestamps in RFC 3339 and Unix milliseconds, `{id}`, `{method}` and `{url}`.
fn generic_shapes(keys: &Keys<'_>) -> Vec<Entry> {
    let list = |ts: Option<&str>| ListFormat {
        separator: ',',
        pair: '=',
        version: "v1".into(),
        timestamp_key: ts.map(str::to_owned),
    };
    let with_id_and_url = Options {
        signed_payload: Some("{id}.{timestamp}.{method}.{url}.{body}"),
        timestamp_header: Some("X-Ts"),
        timestamp_format: Some("rfc3339"),
        id_header: Some("X-Id"),
        public_url: Some(keys.url),
        ..Options::default()
    };
    let millis = Options {
        signed_payload: Some("{timestamp}{body}"),
        timestamp_header: Some("X-Ts"),
        timestamp_format: Some("unix_ms"),
        ..Options::default()
    };
    let listed = |payload, ts| Options {
        signed_payload: Some(payload),
        signature_list: Some(list(ts)),
        ..Options::default()
    };
    [
        listed("{timestamp}.{body}", Some("t")),
        listed("{body}", None),
        with_id_and_url,
        millis,
    ]
    .into_iter()
    .map(|shape| {
        let opts = Options {
            provider: "hmac",
            signature_header: Some("X-Signature"),
            encoding: Some("base64"),
            algorithm: Some("sha512"),
            ..shape
        };
        Entry {
            scheme: build(&opts, &[keys.secret.as_bytes()]),
            round_trips: true,
        }
    })
    .collect()
}
