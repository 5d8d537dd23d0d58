//! What a scheme is built from: a route's scheme keys ([`Options`]), the one table of the
//! keys a route writes as text ([`with_text_keys`]), and [`BuildError`], which names the key
//! to blame.
//!
//! The table makes `Options`' text fields, the config's raw route fields and their spans,
//! the set of keys a provider refuses (`refuse_keys`), and `hookwall sign`'s flags: a new
//! text key is one line here.

use std::time::Duration;

use super::hmac::ListFormat;
use crate::secret::Secret;

/// Calls `$then!` with the scheme keys a route writes as text, each as
/// `/// doc` `key = "VALUE NAME"` (the value name is what `hookwall sign --help` shows).
macro_rules! with_text_keys {
    ($then:ident) => {
        $then! {
            /// The hash under the HMAC: sha1, sha256 or sha512 (`hmac`); `sha1` for GitHub's
            /// legacy header, `sha256` for Twilio's shared keys.
            algorithm = "ALGORITHM",
            /// How the tag is written: hex or base64 (`hmac`).
            encoding = "ENCODING",
            /// The header that carries the signature (`hmac`).
            signature_header = "SIGNATURE_HEADER",
            /// Text before the encoded tag, as in `sha256=` (`hmac`).
            signature_prefix = "SIGNATURE_PREFIX",
            /// The signed bytes: text with {body}, {timestamp}, {id}, {method}, {url} (`hmac`).
            signed_payload = "SIGNED_PAYLOAD",
            /// The header that carries the signed timestamp (`hmac`).
            timestamp_header = "TIMESTAMP_HEADER",
            /// How the timestamp is written: unix, unix_ms or rfc3339 (`hmac`).
            timestamp_format = "TIMESTAMP_FORMAT",
            /// The header that carries the delivery id, for {id} (`hmac`).
            id_header = "ID_HEADER",
            /// The URL the provider signs (URL-signed schemes: twilio, square, trello, hubspot).
            public_url = "URL",
            /// How the secret is written: text or base64 (`hmac`).
            secret_encoding = "SECRET_ENCODING",
        }
    };
}
pub(crate) use with_text_keys;

/// Defines [`Options`] with the table's text keys as fields.
macro_rules! options {
    ($( $(#[$doc:meta])* $key:ident = $value:literal ),* $(,)?) => {
        /// A route's scheme keys after stage one of config parsing: strings as written,
        /// durations parsed, public keys and verify tokens loaded. `None` is a key the route
        /// does not set.
        #[derive(Debug, Default)]
        pub struct Options<'a> {
            pub provider: &'a str,
            $( $(#[$doc])* pub $key: Option<&'a str>, )*
            pub signature_list: Option<ListFormat>,
            pub tolerance: Option<Duration>,
            /// Public keys, loaded (asymmetric schemes); empty if the route gives none.
            pub public_keys: Vec<String>,
            /// `handshake = true`: answer the provider's setup handshake.
            pub handshake: bool,
            /// Meta's verify tokens, loaded.
            pub verify_tokens: Vec<Secret>,
        }

        impl Options<'_> {
            /// Each scheme key with whether the route sets it: the text keys in the table's
            /// order, then the others.
            fn keys_set(&self) -> impl Iterator<Item = (&'static str, bool)> {
                [
                    $( (stringify!($key), self.$key.is_some()), )*
                    ("signature_list", self.signature_list.is_some()),
                    ("tolerance", self.tolerance.is_some()),
                    ("public_key", !self.public_keys.is_empty()),
                ]
                .into_iter()
            }
        }
    };
}
with_text_keys!(options);

/// Refuses every scheme key the route sets that `provider` does not take.
///
/// # Errors
/// The first such key.
pub(crate) fn refuse_keys(
    opts: &Options<'_>,
    provider: &str,
    allowed: &[&str],
) -> Result<(), BuildError> {
    match opts
        .keys_set()
        .find(|(key, set)| *set && !allowed.contains(key))
    {
        Some((key, _)) => Err(BuildError::new(
            key,
            format!("does not apply to provider = \"{provider}\"; remove it"),
        )),
        None => Ok(()),
    }
}

/// A scheme key that does not fit its provider. `key` is the config key to blame.
#[derive(Debug, PartialEq, Eq)]
pub struct BuildError {
    pub key: &'static str,
    pub message: String,
}

impl BuildError {
    pub(crate) fn new(key: &'static str, message: impl Into<String>) -> BuildError {
        BuildError {
            key,
            message: message.into(),
        }
    }
}
