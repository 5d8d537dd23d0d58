//! Stage one: the config file as written. Every table denies unknown keys, so a typo fails
//! with its line, and every value keeps its position (`Spanned`) for stage two's problems.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::scheme::{with_text_keys, ListFormat, Options};

/// Stage one: the file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: Option<RawServer>,
    pub admin: Option<RawAdmin>,
    pub replay: Option<RawReplay>,
    pub spool: Option<RawSpool>,
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
    pub max_upstream_connections: Option<Spanned<i64>>,
    pub h2_max_streams: Option<Spanned<i64>>,
    pub keepalive_timeout: Option<Spanned<String>>,
    pub tls: Option<Spanned<RawTls>>,
    pub trusted_proxies: Option<Spanned<toml::Value>>,
    pub watch: Option<bool>,
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

/// Stage one: `[spool]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpool {
    pub store: Option<Spanned<String>>,
    pub max_deliveries: Option<Spanned<i64>>,
    pub max_bytes: Option<Spanned<toml::Value>>,
    pub retry_schedule: Option<Spanned<Vec<String>>>,
    pub max_age: Option<Spanned<String>>,
    pub claim_after: Option<Spanned<String>>,
    pub retention: Option<Spanned<String>>,
    pub dead_retention: Option<Spanned<String>>,
    pub no_retry_status: Option<Spanned<Vec<i64>>>,
}

/// Stage one: `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Spanned<String>,
    pub readyz_upstreams: Option<bool>,
    pub hosts: Option<Spanned<Vec<String>>>,
    pub token: Option<Spanned<toml::Value>>,
    pub history: Option<Spanned<i64>>,
}

/// Defines [`RawRoute`] with the scheme table's text keys as fields.
macro_rules! raw_route {
    ($( $(#[$doc:meta])* $key:ident = $value:literal ),* $(,)?) => {
        /// Stage one: one `[[route]]`. Flat on purpose: serde's tagged and flattened forms
        /// lose the unknown-key check, so per-provider keys are checked in stage two. The
        /// scheme's text keys come from `scheme::with_text_keys`.
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
            pub max_body: Option<Spanned<toml::Value>>,
            pub delivery: Option<Spanned<String>>,
            pub allow_from: Option<Spanned<toml::Value>>,
            pub retry_schedule: Option<Spanned<Vec<String>>>,
            pub max_in_flight: Option<Spanned<i64>>,
            pub ordered: Option<Spanned<bool>>,
            pub spool_status: Option<Spanned<i64>>,
            pub provider: Option<Spanned<String>>,
            pub secret: Option<Spanned<toml::Value>>,
            pub public_key: Option<Spanned<toml::Value>>,
            pub handshake: Option<Spanned<bool>>,
            pub verify_token: Option<Spanned<toml::Value>>,
            pub tolerance: Option<Spanned<String>>,
            pub signature_list: Option<Spanned<RawSignatureList>>,
            $( pub $key: Option<Spanned<String>>, )*
        }

        impl RawRoute {
            /// The scheme's text keys as written, in an [`Options`] for `provider`.
            pub fn text_options<'a>(&'a self, provider: &'a str) -> Options<'a> {
                Options {
                    provider,
                    $( $key: self.$key.as_ref().map(|s| s.get_ref().as_str()), )*
                    ..Options::default()
                }
            }

            /// Where the scheme key `key` is written, for a problem that names it.
            pub fn scheme_key_span(&self, key: &str) -> Option<Range<usize>> {
                match key {
                    $( stringify!($key) => self.$key.as_ref().map(Spanned::span), )*
                    "provider" => self.provider.as_ref().map(Spanned::span),
                    "tolerance" => self.tolerance.as_ref().map(Spanned::span),
                    "signature_list" => self.signature_list.as_ref().map(Spanned::span),
                    "secret" => self.secret.as_ref().map(Spanned::span),
                    "public_key" => self.public_key.as_ref().map(Spanned::span),
                    "handshake" => self.handshake.as_ref().map(Spanned::span),
                    "verify_token" => self.verify_token.as_ref().map(Spanned::span),
                    _ => None,
                }
            }
        }
    };
}
with_text_keys!(raw_route);

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
    /// As [`ListFormat::new`].
    pub fn to_format(&self) -> Result<ListFormat, String> {
        ListFormat::new(
            &self.separator,
            &self.pair,
            &self.version,
            self.timestamp.as_deref(),
        )
    }
}
