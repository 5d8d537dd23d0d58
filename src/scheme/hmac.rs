//! The generic HMAC engine: a signature header (with an optional prefix), hex or base64, over
//! a signed-payload template of literal text, `{body}` and `{timestamp}`, keyed with each
//! secret of a rotation list. `provider = "hmac"` exposes it directly; presets (`github`, …)
//! are fixed settings of it.
//!
//! The claimed signature is decoded to bytes and compared to each computed tag in constant
//! time; the algorithm is fixed here at build time and never read from the request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use subtle::ConstantTimeEq;

use super::{BuildError, Options, Scheme, Signed, Unverified, Verified};
use crate::config::secret::Secret;

/// Default for `tolerance` on a timestamped route: 5 minutes either side of now.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The hash under the HMAC; fixed by config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// Parses the config spelling (`sha1`, `sha256`, `sha512`).
    pub fn parse(text: &str) -> Option<Algorithm> {
        match text {
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// The tag length in bytes.
    pub fn tag_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

/// How the tag is written in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal; either case is accepted, lowercase is produced.
    Hex,
    /// Standard base64 (`+/`), padded or not.
    Base64,
}

impl Encoding {
    /// Parses the config spelling (`hex`, `base64`).
    pub fn parse(text: &str) -> Option<Encoding> {
        match text {
            "hex" => Some(Encoding::Hex),
            "base64" => Some(Encoding::Base64),
            _ => None,
        }
    }

    fn encode(self, tag: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(tag),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
        }
    }

    /// Decodes into `out`, returning the length, or `None` for anything that is not a
    /// well-formed encoding of exactly `want` bytes.
    fn decode(self, text: &[u8], want: usize, out: &mut [u8; MAX_TAG]) -> Option<()> {
        match self {
            Encoding::Hex => {
                if text.len() != want * 2 {
                    return None;
                }
                hex::decode_to_slice(text, &mut out[..want]).ok()
            }
            Encoding::Base64 => {
                // Decode into a scratch buffer one block larger than any tag, so that an
                // over-long value fails on length rather than on buffer space.
                let mut scratch = [0u8; MAX_TAG + 3];
                let n = BASE64_LENIENT_PADDING
                    .decode_slice(text, &mut scratch)
                    .ok()?;
                if n != want {
                    return None;
                }
                out[..want].copy_from_slice(&scratch[..want]);
                Some(())
            }
        }
    }
}

const BASE64_LENIENT_PADDING: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The longest tag any algorithm here produces (SHA-512).
const MAX_TAG: usize = 64;

/// One piece of a signed-payload template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Literal(Vec<u8>),
    Body,
    Timestamp,
}

/// Parses a `signed_payload` template: literal text with `{body}` and `{timestamp}`;
/// `{{` and `}}` stand for literal braces.
///
/// # Errors
/// An unknown placeholder, a stray brace, or a template without `{body}`.
pub fn parse_template(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut literal = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("{{") {
            literal.push(b'{');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("}}") {
            literal.push(b'}');
            rest = after;
        } else if c == '{' {
            let end = rest.find('}').ok_or_else(|| {
                format!("`{text}`: unclosed `{{` (write `{{{{` for a literal brace)")
            })?;
            let part = match &rest[1..end] {
                "body" => Part::Body,
                "timestamp" => Part::Timestamp,
                other => {
                    return Err(format!(
                    "`{text}`: unknown placeholder `{{{other}}}` (use {{body}} and {{timestamp}})"
                ))
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = &rest[end + 1..];
        } else if c == '}' {
            return Err(format!(
                "`{text}`: stray `}}` (write `}}}}` for a literal brace)"
            ));
        } else {
            let mut buf = [0u8; 4];
            literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &rest[c.len_utf8()..];
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    match parts.iter().filter(|p| **p == Part::Body).count() {
        0 => Err(format!(
            "`{text}` does not contain {{body}}: the signature would not cover the body"
        )),
        1 => Ok(parts),
        _ => Err(format!("`{text}` contains {{body}} more than once")),
    }
}

/// An HMAC already keyed with one secret; cloned per check, which saves the key schedule.
#[derive(Clone)]
enum Key {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

/// A computed tag; `len` bytes of `buf` are used.
struct Tag {
    buf: [u8; MAX_TAG],
    len: usize,
}

impl Tag {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Key {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Key {
        // HMAC accepts keys of every length, so these cannot fail.
        match algorithm {
            Algorithm::Sha1 => {
                Key::Sha1(Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"))
            }
            Algorithm::Sha256 => {
                Key::Sha256(Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"))
            }
            Algorithm::Sha512 => {
                Key::Sha512(Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"))
            }
        }
    }

    fn tag(&self, pieces: &[&[u8]]) -> Tag {
        fn run<M: Mac + Clone>(key: &M, pieces: &[&[u8]], out: &mut [u8; MAX_TAG]) -> usize {
            let mut mac = key.clone();
            for piece in pieces {
                mac.update(piece);
            }
            let bytes = mac.finalize().into_bytes();
            out[..bytes.len()].copy_from_slice(&bytes);
            bytes.len()
        }
        let mut buf = [0u8; MAX_TAG];
        let len = match self {
            Key::Sha1(k) => run(k, pieces, &mut buf),
            Key::Sha256(k) => run(k, pieces, &mut buf),
            Key::Sha512(k) => run(k, pieces, &mut buf),
        };
        Tag { buf, len }
    }
}

/// The timestamp a route requires: where it is, and how far from now it may be.
#[derive(Clone, Debug)]
pub struct TimestampRule {
    pub header: HeaderName,
    pub tolerance: Duration,
}

/// The settings of one HMAC scheme, validated.
#[derive(Clone, Debug)]
pub struct Params {
    pub provider: &'static str,
    pub header: HeaderName,
    pub prefix: String,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub template: Vec<Part>,
    pub timestamp: Option<TimestampRule>,
    pub delivery_id_header: Option<HeaderName>,
}

/// An HMAC scheme keyed with a route's secrets.
pub struct HmacScheme {
    params: Params,
    keys: Vec<Key>,
    signed_headers: Vec<HeaderName>,
}

impl std::fmt::Debug for HmacScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacScheme")
            .field("params", &self.params)
            .field("keys", &format_args!("<{} redacted>", self.keys.len()))
            .finish()
    }
}

impl HmacScheme {
    /// Keys `params` with every secret of the rotation list, in order.
    pub fn new(params: Params, secrets: &[Secret]) -> HmacScheme {
        let keys = secrets
            .iter()
            .map(|s| Key::new(params.algorithm, s.expose()))
            .collect();
        let mut signed_headers = vec![params.header.clone()];
        if let Some(ts) = &params.timestamp {
            signed_headers.push(ts.header.clone());
        }
        HmacScheme {
            params,
            keys,
            signed_headers,
        }
    }

    /// The settings this scheme runs with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The pieces of the signed payload, in order, borrowed from the request.
    fn pieces<'a>(&'a self, body: &'a [u8], timestamp: &'a [u8]) -> Vec<&'a [u8]> {
        self.params
            .template
            .iter()
            .map(|p| match p {
                Part::Literal(text) => text.as_slice(),
                Part::Body => body,
                Part::Timestamp => timestamp,
            })
            .collect()
    }

    fn check_timestamp<'a>(
        &self,
        headers: &'a HeaderMap,
        now: SystemTime,
    ) -> Result<Option<(&'a [u8], SystemTime)>, Unverified> {
        let Some(rule) = &self.params.timestamp else {
            return Ok(None);
        };
        let value = single(
            headers,
            &rule.header,
            Unverified::MissingTimestamp,
            Unverified::DuplicateTimestamp,
        )?;
        let raw = value.as_bytes();
        let seconds = parse_unix_seconds(raw).ok_or(Unverified::MalformedTimestamp)?;
        let at = UNIX_EPOCH + Duration::from_secs(seconds);
        let skew = match at.duration_since(now) {
            Ok(ahead) => ahead,
            Err(behind) => behind.duration(),
        };
        if skew > rule.tolerance {
            return Err(Unverified::TimestampOutOfTolerance);
        }
        Ok(Some((raw, at)))
    }
}

impl Scheme for HmacScheme {
    fn provider(&self) -> &'static str {
        self.params.provider
    }

    fn verify(&self, req: &Signed<'_>, now: SystemTime) -> Result<Verified, Unverified> {
        let value = single(
            req.headers,
            &self.params.header,
            Unverified::MissingSignature,
            Unverified::DuplicateSignature,
        )?;
        let encoded = value
            .as_bytes()
            .strip_prefix(self.params.prefix.as_bytes())
            .ok_or(Unverified::MalformedSignature)?;
        let want = self.params.algorithm.tag_len();
        let mut claimed = [0u8; MAX_TAG];
        self.params
            .encoding
            .decode(encoded, want, &mut claimed)
            .ok_or(Unverified::MalformedSignature)?;
        let claimed = &claimed[..want];

        let timestamp = self.check_timestamp(req.headers, now)?;
        let ts_bytes = timestamp.map_or(&[][..], |(raw, _)| raw);
        let pieces = self.pieces(req.body, ts_bytes);
        // Every slot is computed, so the time taken does not tell which slot matched.
        let mut matched = None;
        for (slot, key) in self.keys.iter().enumerate() {
            let ok: bool = key.tag(&pieces).as_bytes().ct_eq(claimed).into();
            if ok && matched.is_none() {
                matched = Some(slot);
            }
        }
        let secret_slot = matched.ok_or(Unverified::SignatureMismatch)?;
        Ok(Verified {
            delivery_id: self
                .params
                .delivery_id_header
                .as_ref()
                .and_then(|h| delivery_id(req.headers, h)),
            timestamp: timestamp.map(|(_, at)| at),
            secret_slot,
        })
    }

    fn sign(&self, req: &Signed<'_>, now: SystemTime) -> HeaderMap {
        let mut out = HeaderMap::new();
        let seconds = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string();
        let Some(key) = self.keys.first() else {
            return out;
        };
        let tag = key.tag(&self.pieces(req.body, seconds.as_bytes()));
        let value = format!(
            "{}{}",
            self.params.prefix,
            self.params.encoding.encode(tag.as_bytes())
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.insert(self.params.header.clone(), v);
        }
        if let Some(rule) = &self.params.timestamp {
            if let Ok(v) = HeaderValue::from_str(&seconds) {
                out.insert(rule.header.clone(), v);
            }
        }
        out
    }

    fn signed_headers(&self) -> &[HeaderName] {
        &self.signed_headers
    }
}

/// The one value of `name`, or `missing` / `duplicate`.
pub(crate) fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    missing: Unverified,
    duplicate: Unverified,
) -> Result<&'a HeaderValue, Unverified> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().ok_or(missing)?;
    if values.next().is_some() {
        return Err(duplicate);
    }
    Ok(first)
}

/// A delivery id fit to log: one value, printable ASCII, at most 128 bytes.
pub(crate) fn delivery_id(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() || value.len() > 128 {
        return None;
    }
    let text = value.to_str().ok()?;
    text.bytes()
        .all(|b| b.is_ascii_graphic())
        .then(|| text.to_owned())
}

/// Unix seconds: 1 to 12 ASCII digits, nothing else (no sign, no fraction, no blanks).
fn parse_unix_seconds(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || raw.len() > 12 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    raw.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Header names that the proxy rewrites or drops, so no signature can live in them.
const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Parses a header name from config for `key`.
pub(crate) fn header_name(key: &'static str, text: &str) -> Result<HeaderName, BuildError> {
    let name = HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| BuildError::new(key, format!("`{text}` is not a valid header name")))?;
    if RESERVED_HEADERS.contains(&name.as_str()) || name.as_str().starts_with("x-hookwall-") {
        return Err(BuildError::new(
            key,
            format!("`{text}` is a header the proxy rewrites; a signature cannot live there"),
        ));
    }
    Ok(name)
}

/// `provider = "hmac"`: every setting comes from the route's keys.
///
/// # Errors
/// `signature_header` missing; an unknown `algorithm` or `encoding`; a malformed
/// `signed_payload`; a timestamp in the template without `timestamp_header`, or the reverse;
/// `tolerance` without `timestamp_header`.
pub fn build(opts: &Options<'_>, secrets: Vec<Secret>) -> Result<HmacScheme, BuildError> {
    let header = opts.signature_header.ok_or_else(|| {
        BuildError::new(
            "signature_header",
            "missing: provider = \"hmac\" needs the name of the header that carries the signature",
        )
    })?;
    let header = header_name("signature_header", header)?;
    let algorithm = match opts.algorithm {
        None => Algorithm::Sha256,
        Some(text) => Algorithm::parse(text).ok_or_else(|| {
            BuildError::new(
                "algorithm",
                format!("unknown algorithm `{text}` (use sha1, sha256 or sha512)"),
            )
        })?,
    };
    let encoding = match opts.encoding {
        None => Encoding::Hex,
        Some(text) => Encoding::parse(text).ok_or_else(|| {
            BuildError::new(
                "encoding",
                format!("unknown encoding `{text}` (use hex or base64)"),
            )
        })?,
    };
    let template = parse_template(opts.signed_payload.unwrap_or("{body}"))
        .map_err(|e| BuildError::new("signed_payload", e))?;
    let signs_timestamp = template.contains(&Part::Timestamp);
    let timestamp = match (opts.timestamp_header, signs_timestamp) {
        (Some(h), true) => Some(TimestampRule {
            header: header_name("timestamp_header", h)?,
            tolerance: opts.tolerance.unwrap_or(DEFAULT_TOLERANCE),
        }),
        (None, false) => None,
        (None, true) => {
            return Err(BuildError::new(
                "signed_payload",
                "uses {timestamp} but the route has no `timestamp_header`",
            ))
        }
        (Some(_), false) => {
            return Err(BuildError::new(
                "timestamp_header",
                "is set but `signed_payload` does not contain {timestamp}: an unsigned \
                 timestamp proves nothing (for example: signed_payload = \"{timestamp}.{body}\")",
            ))
        }
    };
    if timestamp.is_none() && opts.tolerance.is_some() {
        return Err(BuildError::new(
            "tolerance",
            "applies only to a route with `timestamp_header`",
        ));
    }
    let params = Params {
        provider: "hmac",
        header,
        prefix: opts.signature_prefix.unwrap_or("").to_owned(),
        algorithm,
        encoding,
        template,
        timestamp,
        delivery_id_header: None,
    };
    Ok(HmacScheme::new(params, &secrets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::SecretSource;
    use http::Uri;

    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn secret(s: &str) -> Secret {
        Secret::from_bytes(s, SecretSource::Env("T".into()))
    }

    fn scheme(opts: Options<'_>, secrets: &[&str]) -> HmacScheme {
        build(&opts, secrets.iter().map(|s| secret(s)).collect()).unwrap()
    }

    fn opts() -> Options<'static> {
        Options {
            provider: "hmac",
            signature_header: Some("X-Signature"),
            ..Options::default()
        }
    }

    fn check(
        s: &HmacScheme,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Verified, Unverified> {
        let uri = Uri::from_static("/hook");
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        s.verify(
            &Signed {
                uri: &uri,
                headers: &map,
                body,
            },
            now(),
        )
    }

    /// Signs with an independent computation, not with the scheme under test.
    fn reference_hex<M: Mac + hmac::digest::KeyInit>(key: &str, msg: &[u8]) -> String {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes()).unwrap();
        m.update(msg);
        hex::encode(m.finalize().into_bytes())
    }

    #[test]
    fn verifies_each_algorithm_in_hex() {
        let body = b"{\"event\":\"ping\"}";
        for (alg, sig) in [
            (
                "sha1",
                reference_hex::<Hmac<sha1::Sha1>>("k-one-two-three", body),
            ),
            (
                "sha256",
                reference_hex::<Hmac<sha2::Sha256>>("k-one-two-three", body),
            ),
            (
                "sha512",
                reference_hex::<Hmac<sha2::Sha512>>("k-one-two-three", body),
            ),
        ] {
            let s = scheme(
                Options {
                    algorithm: Some(alg),
                    ..opts()
                },
                &["k-one-two-three"],
            );
            assert_eq!(
                check(&s, &[("x-signature", &sig)], body).map(|v| v.secret_slot),
                Ok(0),
                "{alg}"
            );
            assert_eq!(
                check(&s, &[("x-signature", &sig.to_uppercase())], body).map(|v| v.secret_slot),
                Ok(0),
                "{alg} uppercase hex"
            );
        }
    }

    #[test]
    fn rfc4231_case_2_vectors() {
        // RFC 4231 section 4.3: key "Jefe", data "what do ya want for nothing?".
        let sha256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let sha512 = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";
        let body = b"what do ya want for nothing?";
        let s = scheme(opts(), &["Jefe"]);
        assert!(check(&s, &[("x-signature", sha256)], body).is_ok());
        let s = scheme(
            Options {
                algorithm: Some("sha512"),
                ..opts()
            },
            &["Jefe"],
        );
        assert!(check(&s, &[("x-signature", sha512)], body).is_ok());
    }

    #[test]
    fn verifies_base64_padded_or_not() {
        let s = scheme(
            Options {
                encoding: Some("base64"),
                ..opts()
            },
            &["Jefe"],
        );
        let body = b"what do ya want for nothing?";
        let padded = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=";
        assert!(check(&s, &[("x-signature", padded)], body).is_ok());
        assert!(check(&s, &[("x-signature", padded.trim_end_matches('='))], body).is_ok());
        // The same tag in hex is not base64 of a 32-byte tag.
        let hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(
            check(&s, &[("x-signature", hex)], body),
            Err(Unverified::MalformedSignature)
        );
    }

    #[test]
    fn requires_the_configured_prefix() {
        let s = scheme(
            Options {
                signature_prefix: Some("sha256="),
                ..opts()
            },
            &["Jefe"],
        );
        let body = b"what do ya want for nothing?";
        let hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(check(&s, &[("x-signature", &format!("sha256={hex}"))], body).is_ok());
        assert_eq!(
            check(&s, &[("x-signature", hex)], body),
            Err(Unverified::MalformedSignature)
        );
        assert_eq!(
            check(&s, &[("x-signature", &format!("sha1={hex}"))], body),
            Err(Unverified::MalformedSignature)
        );
        assert_eq!(
            check(&s, &[("x-signature", "sha256=")], body),
            Err(Unverified::MalformedSignature)
        );
    }

    #[test]
    fn rejects_signatures_of_the_wrong_shape() {
        let s = scheme(opts(), &["Jefe"]);
        let body = b"what do ya want for nothing?";
        let good = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let cases = [
            (&good[..62], Unverified::MalformedSignature), // one byte short
            (&*format!("{good}00"), Unverified::MalformedSignature), // one byte long
            ("", Unverified::MalformedSignature),          // empty
            ("a", Unverified::MalformedSignature),         // one hex digit
            (
                &*format!("{}zz", &good[..62]),
                Unverified::MalformedSignature,
            ), // non-hex
            (&*format!("{}0", &good[..63]), Unverified::SignatureMismatch), // last digit changed
            // an HMAC-SHA1 of the same body and key: the wrong length for sha256
            (
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
                Unverified::MalformedSignature,
            ),
        ];
        for (sig, want) in cases {
            assert_eq!(
                check(&s, &[("x-signature", sig)], body).map(|_| ()),
                Err(want),
                "{sig:?}"
            );
        }
    }

    #[test]
    fn rejects_a_missing_or_repeated_header() {
        let s = scheme(opts(), &["Jefe"]);
        let body = b"what do ya want for nothing?";
        let good = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(check(&s, &[], body), Err(Unverified::MissingSignature));
        assert_eq!(
            check(&s, &[("x-signature", good), ("x-signature", good)], body),
            Err(Unverified::DuplicateSignature)
        );
    }

    #[test]
    fn a_tampered_body_does_not_verify() {
        let s = scheme(opts(), &["Jefe"]);
        let good = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(
            check(
                &s,
                &[("x-signature", good)],
                b"what do ya want for nothing!"
            ),
            Err(Unverified::SignatureMismatch)
        );
    }

    #[test]
    fn tries_every_secret_of_a_rotation() {
        let body = b"rotate";
        let old = reference_hex::<Hmac<sha2::Sha256>>("old-secret-123", body);
        let new = reference_hex::<Hmac<sha2::Sha256>>("new-secret-456", body);
        let other = reference_hex::<Hmac<sha2::Sha256>>("other-route-789", body);
        let s = scheme(opts(), &["new-secret-456", "old-secret-123"]);
        assert_eq!(
            check(&s, &[("x-signature", &new)], body).map(|v| v.secret_slot),
            Ok(0)
        );
        assert_eq!(
            check(&s, &[("x-signature", &old)], body).map(|v| v.secret_slot),
            Ok(1)
        );
        assert_eq!(
            check(&s, &[("x-signature", &other)], body),
            Err(Unverified::SignatureMismatch)
        );
    }

    fn timestamped(tolerance: Option<Duration>) -> HmacScheme {
        scheme(
            Options {
                signed_payload: Some("v0:{timestamp}:{body}"),
                timestamp_header: Some("X-Timestamp"),
                tolerance,
                ..opts()
            },
            &["ts-key-abcdef"],
        )
    }

    fn ts_sig(ts: &str, body: &[u8]) -> String {
        let mut msg = format!("v0:{ts}:").into_bytes();
        msg.extend_from_slice(body);
        reference_hex::<Hmac<sha2::Sha256>>("ts-key-abcdef", &msg)
    }

    #[test]
    fn signs_the_template_with_the_timestamp_as_received() {
        let s = timestamped(None);
        let ts = NOW.to_string();
        let v = check(
            &s,
            &[("x-signature", &ts_sig(&ts, b"b")), ("x-timestamp", &ts)],
            b"b",
        )
        .unwrap();
        assert_eq!(v.timestamp, Some(now()));
        // The same instant with a leading zero is another signed payload.
        let padded = format!("0{ts}");
        assert_eq!(
            check(
                &s,
                &[
                    ("x-signature", &ts_sig(&ts, b"b")),
                    ("x-timestamp", &padded)
                ],
                b"b"
            ),
            Err(Unverified::SignatureMismatch)
        );
        assert!(check(
            &s,
            &[
                ("x-signature", &ts_sig(&padded, b"b")),
                ("x-timestamp", &padded)
            ],
            b"b"
        )
        .is_ok());
    }

    #[test]
    fn tolerance_holds_at_both_edges_in_both_directions() {
        let s = timestamped(None);
        for (offset, ok) in [
            (-300i64, true),
            (-301, false),
            (300, true),
            (301, false),
            (0, true),
        ] {
            let ts = (NOW as i64 + offset).to_string();
            let got = check(
                &s,
                &[("x-signature", &ts_sig(&ts, b"x")), ("x-timestamp", &ts)],
                b"x",
            );
            if ok {
                assert!(got.is_ok(), "offset {offset}: {got:?}");
            } else {
                assert_eq!(
                    got,
                    Err(Unverified::TimestampOutOfTolerance),
                    "offset {offset}"
                );
            }
        }
        let s = timestamped(Some(Duration::from_secs(30)));
        for (offset, ok) in [(-30i64, true), (-31, false), (30, true), (31, false)] {
            let ts = (NOW as i64 + offset).to_string();
            let got = check(
                &s,
                &[("x-signature", &ts_sig(&ts, b"x")), ("x-timestamp", &ts)],
                b"x",
            );
            assert_eq!(got.is_ok(), ok, "offset {offset}: {got:?}");
        }
    }

    #[test]
    fn rejects_missing_malformed_and_repeated_timestamps() {
        let s = timestamped(None);
        let ts = NOW.to_string();
        let sig = ts_sig(&ts, b"x");
        assert_eq!(
            check(&s, &[("x-signature", &sig)], b"x"),
            Err(Unverified::MissingTimestamp)
        );
        for bad in [
            "",
            "-1",
            "+1700000000",
            "1700000000.5",
            "17e8",
            " 1700000000x",
            "9999999999999",
        ] {
            assert_eq!(
                check(&s, &[("x-signature", &sig), ("x-timestamp", bad)], b"x"),
                Err(Unverified::MalformedTimestamp),
                "{bad:?}"
            );
        }
        assert_eq!(
            check(
                &s,
                &[
                    ("x-signature", &sig),
                    ("x-timestamp", &ts),
                    ("x-timestamp", &ts)
                ],
                b"x"
            ),
            Err(Unverified::DuplicateTimestamp)
        );
    }

    #[test]
    fn sign_output_verifies() {
        for o in [
            opts(),
            Options {
                algorithm: Some("sha512"),
                encoding: Some("base64"),
                signature_prefix: Some("v1,"),
                ..opts()
            },
            Options {
                signed_payload: Some("{timestamp}.{body}"),
                timestamp_header: Some("X-Ts"),
                ..opts()
            },
        ] {
            let s = scheme(o, &["sign-me-please"]);
            let uri = Uri::from_static("/x");
            let headers = s.sign(
                &Signed {
                    uri: &uri,
                    headers: &HeaderMap::new(),
                    body: b"payload",
                },
                now(),
            );
            let v = s.verify(
                &Signed {
                    uri: &uri,
                    headers: &headers,
                    body: b"payload",
                },
                now(),
            );
            assert!(v.is_ok(), "{:?}", s.params());
        }
    }

    #[test]
    fn parses_templates() {
        assert_eq!(parse_template("{body}"), Ok(vec![Part::Body]));
        assert_eq!(
            parse_template("v0:{timestamp}:{body}"),
            Ok(vec![
                Part::Literal(b"v0:".to_vec()),
                Part::Timestamp,
                Part::Literal(b":".to_vec()),
                Part::Body
            ])
        );
        assert_eq!(
            parse_template("{{{body}}}"),
            Ok(vec![
                Part::Literal(b"{".to_vec()),
                Part::Body,
                Part::Literal(b"}".to_vec())
            ])
        );
        assert!(parse_template("{timestamp}")
            .unwrap_err()
            .contains("does not contain {body}"));
        assert!(parse_template("{body}{body}")
            .unwrap_err()
            .contains("more than once"));
        assert!(parse_template("{nonce}.{body}")
            .unwrap_err()
            .contains("unknown placeholder `{nonce}`"));
        assert!(parse_template("{body").unwrap_err().contains("unclosed"));
        assert!(parse_template("body}").unwrap_err().contains("stray"));
    }

    #[test]
    fn build_errors_name_the_key() {
        let err = |o: Options<'static>| build(&o, vec![secret("abcdefgh-123")]).unwrap_err().key;
        assert_eq!(
            err(Options {
                signature_header: None,
                ..opts()
            }),
            "signature_header"
        );
        assert_eq!(
            err(Options {
                signature_header: Some("bad header"),
                ..opts()
            }),
            "signature_header"
        );
        assert_eq!(
            err(Options {
                signature_header: Some("Content-Length"),
                ..opts()
            }),
            "signature_header"
        );
        assert_eq!(
            err(Options {
                algorithm: Some("md5"),
                ..opts()
            }),
            "algorithm"
        );
        assert_eq!(
            err(Options {
                algorithm: Some("SHA256"),
                ..opts()
            }),
            "algorithm"
        );
        assert_eq!(
            err(Options {
                encoding: Some("base32"),
                ..opts()
            }),
            "encoding"
        );
        assert_eq!(
            err(Options {
                signed_payload: Some("{ts}{body}"),
                ..opts()
            }),
            "signed_payload"
        );
        assert_eq!(
            err(Options {
                signed_payload: Some("{timestamp}{body}"),
                ..opts()
            }),
            "signed_payload"
        );
        assert_eq!(
            err(Options {
                timestamp_header: Some("X-Ts"),
                ..opts()
            }),
            "timestamp_header"
        );
        assert_eq!(
            err(Options {
                tolerance: Some(Duration::from_secs(1)),
                ..opts()
            }),
            "tolerance"
        );
    }
}
