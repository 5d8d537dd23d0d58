//! How a signature header carries its tags: one value behind a prefix (`sha256=<hex>`), or a
//! list of versioned entries (Stripe's `t=…,v1=…,v1=…`, Standard Webhooks' `v1,… v1,…`), and
//! the header families a scheme reads them from. Reading turns the claimed tags into bytes;
//! comparing them is the engine's business.

use http::{HeaderName, HeaderValue};

use super::mac::{Encoding, MAX_TAG};
use crate::scheme::Unverified;

/// At most this many signatures of the wanted version in one header; more is malformed.
const MAX_CLAIMS: usize = 8;

/// The headers of one header family. Standard Webhooks has two (`webhook-*`, `svix-*`); the
/// first family whose signature header is present is the one read, all of it.
#[derive(Clone, Debug)]
pub struct HeaderSet {
    pub signature: HeaderName,
    /// Where the timestamp is, for `TimestampFrom::Header`.
    pub timestamp: Option<HeaderName>,
    /// The delivery id, for `{id}`.
    pub id: Option<HeaderName>,
}

/// How the signature header is written.
#[derive(Clone, Debug)]
pub enum Carrier {
    /// One value: `prefix` then the encoded tag (`sha256=<hex>`).
    Single { prefix: String },
    /// A list of `<version><pair><value>` entries split by `separator`: Stripe's
    /// `t=1,v1=ab,v1=cd` (`,` and `=`), Standard Webhooks' `v1,AB v1,CD` (space and `,`).
    List(ListFormat),
}

/// The shape of a list-carried signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListFormat {
    pub separator: char,
    pub pair: char,
    /// The version whose entries are signatures (`v1`); entries of any other version are
    /// ignored, never verified.
    pub version: String,
    /// The entry that carries the timestamp (`t`), for `TimestampFrom::ListItem`.
    pub timestamp_key: Option<String>,
}

impl ListFormat {
    /// The list format a route writes as
    /// `signature_list = { separator, pair, version, timestamp }`.
    ///
    /// # Errors
    /// A separator or pair that is not one character, the two being equal, an empty version,
    /// or a timestamp entry that is empty, holds a separator or equals the version.
    pub fn new(
        separator: &str,
        pair: &str,
        version: &str,
        timestamp: Option<&str>,
    ) -> Result<ListFormat, String> {
        let one = |key: &str, text: &str| {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(format!(
                    "`{key}` must be exactly one character, found `{text}`"
                )),
            }
        };
        let separator = one("separator", separator)?;
        let pair = one("pair", pair)?;
        if separator == pair {
            return Err("`separator` and `pair` must differ".into());
        }
        if version.is_empty() || version.contains([separator, pair]) {
            return Err(format!(
                "`version` `{version}` is empty or holds a separator"
            ));
        }
        if let Some(t) = timestamp {
            if t.is_empty() || t.contains([separator, pair]) || t == version {
                return Err(format!(
                    "`timestamp` `{t}` is empty, holds a separator or equals `version`"
                ));
            }
        }
        Ok(ListFormat {
            separator,
            pair,
            version: version.to_owned(),
            timestamp_key: timestamp.map(str::to_owned),
        })
    }
}

/// The signatures a request claims, decoded, and the timestamp that came with them.
pub(super) struct Claims<'a> {
    tags: [[u8; MAX_TAG]; MAX_CLAIMS],
    count: usize,
    /// The list's timestamp entry, as received.
    pub(super) list_timestamp: Option<&'a [u8]>,
}

impl Claims<'_> {
    /// The claimed tags, decoded.
    pub(super) fn tags(&self) -> &[[u8; MAX_TAG]] {
        &self.tags[..self.count]
    }
}

impl Carrier {
    /// Reads the tags `value` claims, each `want` bytes once decoded.
    ///
    /// # Errors
    /// A value without the prefix, a tag of the wrong form, more than eight tags, two
    /// timestamps; a list with no entry of the wanted version is a missing signature.
    pub(super) fn claims<'a>(
        &self,
        value: &'a HeaderValue,
        encoding: Encoding,
        want: usize,
    ) -> Result<Claims<'a>, Unverified> {
        let mut claims = Claims {
            tags: [[0u8; MAX_TAG]; MAX_CLAIMS],
            count: 0,
            list_timestamp: None,
        };
        match self {
            Carrier::Single { prefix } => {
                let encoded = value
                    .as_bytes()
                    .strip_prefix(prefix.as_bytes())
                    .ok_or(Unverified::MalformedSignature)?;
                encoding
                    .decode(encoded, want, &mut claims.tags[0])
                    .ok_or(Unverified::MalformedSignature)?;
                claims.count = 1;
            }
            Carrier::List(list) => list.read(value, encoding, want, &mut claims)?,
        }
        Ok(claims)
    }

    /// The header value that carries `encoded`, with `timestamp` as the list's timestamp
    /// entry when the list has one and `timestamp_in_list` says the timestamp lives there.
    pub(super) fn write(&self, encoded: &str, timestamp: &str, timestamp_in_list: bool) -> String {
        match self {
            Carrier::Single { prefix } => format!("{prefix}{encoded}"),
            Carrier::List(list) => match &list.timestamp_key {
                Some(key) if timestamp_in_list => format!(
                    "{key}{pair}{timestamp}{sep}{version}{pair}{encoded}",
                    pair = list.pair,
                    sep = list.separator,
                    version = list.version
                ),
                _ => format!("{}{}{encoded}", list.version, list.pair),
            },
        }
    }
}

impl ListFormat {
    /// Reads every entry of `value` into `claims`.
    fn read<'a>(
        &self,
        value: &'a HeaderValue,
        encoding: Encoding,
        want: usize,
        claims: &mut Claims<'a>,
    ) -> Result<(), Unverified> {
        let text = value.to_str().map_err(|_| Unverified::MalformedSignature)?;
        let mut undecodable = false;
        for entry in text.split(self.separator) {
            let entry = entry.trim();
            let Some((version, encoded)) = entry.split_once(self.pair) else {
                // An entry without a version is never verified.
                continue;
            };
            if self.timestamp_key.as_deref() == Some(version) {
                if claims.list_timestamp.is_some() {
                    return Err(Unverified::DuplicateTimestamp);
                }
                claims.list_timestamp = Some(encoded.as_bytes());
            } else if version == self.version {
                if claims.count == MAX_CLAIMS {
                    return Err(Unverified::MalformedSignature);
                }
                let slot = &mut claims.tags[claims.count];
                match encoding.decode(encoded.as_bytes(), want, slot) {
                    Some(()) => claims.count += 1,
                    None => undecodable = true,
                }
            }
        }
        if claims.count == 0 {
            return Err(if undecodable {
                Unverified::MalformedSignature
            } else {
                Unverified::MissingSignature
            });
        }
        Ok(())
    }
}
