//! The generic HMAC engine. A scheme is data: which headers carry the signature, timestamp
//! and delivery id; how the signature is written (one value with a prefix, or a list of
//! versioned entries such as Stripe's `t=…,v1=…,v1=…`); the algorithm and encoding; and a
//! signed-payload template over literal text, `{body}`, `{timestamp}`, `{id}`, `{method}` and
//! `{url}`. `provider = "hmac"` exposes every setting; presets (`presets.rs`) fix them.
//!
//! The claimed signatures are decoded to bytes and compared to each computed tag in constant
//! time; every secret of a rotation list is tried; the algorithm is fixed at build time and
//! never read from the request. Timestamps are hashed exactly as received and checked in both
//! directions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
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

    pub(crate) fn encode(self, tag: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(tag),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
        }
    }

    /// Decodes into `out`, or `None` for anything that is not a well-formed encoding of
    /// exactly `want` bytes.
    pub(crate) fn decode(self, text: &[u8], want: usize, out: &mut [u8; MAX_TAG]) -> Option<()> {
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

pub(crate) const BASE64_LENIENT_PADDING: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );

/// The longest tag any algorithm here produces (SHA-512).
pub(crate) const MAX_TAG: usize = 64;

/// At most this many signatures of the wanted version in one header; more is malformed.
const MAX_CLAIMS: usize = 8;

/// At most this many pieces in a signed-payload template.
const MAX_PARTS: usize = 16;

/// One piece of a signed-payload template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Literal(Vec<u8>),
    /// The raw body, exactly as received.
    Body,
    /// The timestamp, exactly as received (not re-formatted).
    Timestamp,
    /// The delivery id header, exactly as received.
    Id,
    /// The request method (`POST`).
    Method,
    /// The route's `public_url`, plus `?` and the request's query string when it has one.
    Url,
}

/// Parses a `signed_payload` template: literal text with `{body}`, `{timestamp}`, `{id}`,
/// `{method}` and `{url}`; `{{` and `}}` stand for literal braces.
///
/// # Errors
/// An unknown placeholder, a stray brace, a template without `{body}` or with it twice, or
/// more than 16 pieces.
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
                "id" => Part::Id,
                "method" => Part::Method,
                "url" => Part::Url,
                other => {
                    return Err(format!(
                        "`{text}`: unknown placeholder `{{{other}}}` (use {{body}}, {{timestamp}}, {{id}}, {{method}} and {{url}})"
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
    if parts.len() > MAX_PARTS {
        return Err(format!("`{text}` has more than {MAX_PARTS} pieces"));
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
pub(crate) enum Key {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

/// A computed or claimed tag; `len` bytes of `buf` are used.
#[derive(Clone, Copy)]
pub(crate) struct Tag {
    pub(crate) buf: [u8; MAX_TAG],
    pub(crate) len: usize,
}

impl Tag {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Key {
    pub(crate) fn new(algorithm: Algorithm, secret: &[u8]) -> Key {
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

    pub(crate) fn tag(&self, pieces: &[&[u8]]) -> Tag {
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

/// The headers of one header family. Standard Webhooks has two (`webhook-*`, `svix-*`); the
/// first family whose signature header is present is the one read, all of it.
#[derive(Clone, Debug)]
pub struct HeaderSet {
    pub signature: HeaderName,
    /// Where the timestamp is, for [`TimestampFrom::Header`].
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
    /// The entry that carries the timestamp (`t`), for [`TimestampFrom::ListItem`].
    pub timestamp_key: Option<String>,
}

/// How a timestamp is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampFormat {
    /// Whole seconds since the Unix epoch.
    UnixSeconds,
    /// Whole milliseconds since the Unix epoch.
    UnixMillis,
    /// RFC 3339, as in `2024-05-01T12:00:00.123456789Z`.
    Rfc3339,
}

impl TimestampFormat {
    /// Parses the config spelling (`unix`, `unix_ms`, `rfc3339`).
    pub fn parse(text: &str) -> Option<TimestampFormat> {
        match text {
            "unix" => Some(TimestampFormat::UnixSeconds),
            "unix_ms" => Some(TimestampFormat::UnixMillis),
            "rfc3339" => Some(TimestampFormat::Rfc3339),
            _ => None,
        }
    }

    /// Reads a timestamp as received; `None` if it is not of this format.
    pub fn read(self, raw: &[u8]) -> Option<SystemTime> {
        let digits = |max: usize| {
            if raw.is_empty() || raw.len() > max || !raw.iter().all(u8::is_ascii_digit) {
                return None;
            }
            raw.iter().try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
        };
        match self {
            TimestampFormat::UnixSeconds => digits(12).map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            TimestampFormat::UnixMillis => {
                digits(15).map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
            }
            TimestampFormat::Rfc3339 => {
                let text = std::str::from_utf8(raw).ok()?;
                let at = time::OffsetDateTime::parse(
                    text,
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()?;
                let nanos = u64::try_from(at.unix_timestamp_nanos()).ok()?;
                Some(UNIX_EPOCH + Duration::from_nanos(nanos))
            }
        }
    }

    /// Writes `at` in this format (for `sign`).
    pub fn write(self, at: SystemTime) -> String {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        match self {
            TimestampFormat::UnixSeconds => since.as_secs().to_string(),
            TimestampFormat::UnixMillis => since.as_millis().to_string(),
            TimestampFormat::Rfc3339 => {
                let nanos = i128::try_from(since.as_nanos()).unwrap_or_default();
                time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default()
            }
        }
    }
}

/// Where a scheme finds its timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimestampFrom {
    /// The header set's timestamp header.
    Header,
    /// The list entry named by [`ListFormat::timestamp_key`].
    ListItem,
    /// A top-level field of the JSON body (Linear's `webhookTimestamp`), read only after the
    /// signature over the body has verified.
    JsonField(String),
}

/// The timestamp a route requires: where it is, how it is written, how far from now it may be.
#[derive(Clone, Debug)]
pub struct TimestampRule {
    pub from: TimestampFrom,
    pub format: TimestampFormat,
    pub tolerance: Duration,
}

/// The settings of one HMAC scheme, validated.
#[derive(Clone, Debug)]
pub struct Params {
    pub provider: &'static str,
    /// Header families, in order of preference; at least one.
    pub headers: Vec<HeaderSet>,
    pub carrier: Carrier,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub template: Vec<Part>,
    pub timestamp: Option<TimestampRule>,
    /// The header logged (and sent upstream) as the delivery id, where the scheme has one.
    pub delivery_id: Option<HeaderName>,
    /// What `{url}` starts with: the URL the provider signs for this route.
    pub public_url: Option<String>,
    /// Also try `{url}` with HubSpot's list of escapes decoded (its docs decode them, its
    /// SDKs do not).
    pub decoded_url_too: bool,
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

/// The signatures a request claims, decoded, and the timestamp that came with them.
struct Claims<'a> {
    tags: [[u8; MAX_TAG]; MAX_CLAIMS],
    count: usize,
    list_timestamp: Option<&'a [u8]>,
}

impl HmacScheme {
    /// Keys `params` with each secret's bytes, in rotation order.
    pub fn new(params: Params, secrets: &[&[u8]]) -> HmacScheme {
        let keys = secrets
            .iter()
            .map(|s| Key::new(params.algorithm, s))
            .collect();
        let mut signed_headers = Vec::new();
        for set in &params.headers {
            signed_headers.push(set.signature.clone());
            signed_headers.extend(set.timestamp.iter().cloned());
            signed_headers.extend(set.id.iter().cloned());
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

    /// The header family a request uses: the first whose signature header is present.
    fn header_set(&self, headers: &HeaderMap) -> Option<&HeaderSet> {
        self.params
            .headers
            .iter()
            .find(|set| headers.contains_key(&set.signature))
    }

    fn claims<'a>(&self, value: &'a HeaderValue) -> Result<Claims<'a>, Unverified> {
        let want = self.params.algorithm.tag_len();
        let mut claims = Claims {
            tags: [[0u8; MAX_TAG]; MAX_CLAIMS],
            count: 0,
            list_timestamp: None,
        };
        match &self.params.carrier {
            Carrier::Single { prefix } => {
                let encoded = value
                    .as_bytes()
                    .strip_prefix(prefix.as_bytes())
                    .ok_or(Unverified::MalformedSignature)?;
                self.params
                    .encoding
                    .decode(encoded, want, &mut claims.tags[0])
                    .ok_or(Unverified::MalformedSignature)?;
                claims.count = 1;
            }
            Carrier::List(list) => {
                let text = value.to_str().map_err(|_| Unverified::MalformedSignature)?;
                let mut undecodable = false;
                for entry in text.split(list.separator) {
                    let entry = entry.trim();
                    let Some((version, encoded)) = entry.split_once(list.pair) else {
                        // An entry without a version is never verified.
                        continue;
                    };
                    if list.timestamp_key.as_deref() == Some(version) {
                        if claims.list_timestamp.is_some() {
                            return Err(Unverified::DuplicateTimestamp);
                        }
                        claims.list_timestamp = Some(encoded.as_bytes());
                    } else if version == list.version {
                        if claims.count == MAX_CLAIMS {
                            return Err(Unverified::MalformedSignature);
                        }
                        let slot = &mut claims.tags[claims.count];
                        match self.params.encoding.decode(encoded.as_bytes(), want, slot) {
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
            }
        }
        Ok(claims)
    }

    /// The raw timestamp and when it says, checked against the tolerance, for timestamps
    /// outside the body.
    fn timestamp<'a>(
        &self,
        set: &HeaderSet,
        headers: &'a HeaderMap,
        list_timestamp: Option<&'a [u8]>,
        now: SystemTime,
    ) -> Result<Option<(&'a [u8], SystemTime)>, Unverified> {
        let Some(rule) = &self.params.timestamp else {
            return Ok(None);
        };
        let raw = match &rule.from {
            TimestampFrom::Header => {
                let name = set.timestamp.as_ref().ok_or(Unverified::MissingTimestamp)?;
                single(
                    headers,
                    name,
                    Unverified::MissingTimestamp,
                    Unverified::DuplicateTimestamp,
                )?
                .as_bytes()
            }
            TimestampFrom::ListItem => list_timestamp.ok_or(Unverified::MissingTimestamp)?,
            TimestampFrom::JsonField(_) => return Ok(None),
        };
        let at = rule
            .format
            .read(raw)
            .ok_or(Unverified::MalformedTimestamp)?;
        check_skew(at, now, rule.tolerance)?;
        Ok(Some((raw, at)))
    }

    /// The signed URL: `public_url`, plus `?` and the query when the request has one.
    fn url(&self, uri: &Uri) -> String {
        let base = self.params.public_url.as_deref().unwrap_or("");
        match uri.query() {
            Some(q) => format!("{base}?{q}"),
            None => base.to_owned(),
        }
    }

    /// The tag of `pieces` under the first secret (for `sign` and handshakes).
    pub(crate) fn first_tag(&self, pieces: &[&[u8]]) -> Option<Tag> {
        self.keys.first().map(|k| k.tag(pieces))
    }

    /// Fills `out` with the template's pieces; returns how many.
    fn pieces<'a>(
        &self,
        out: &mut [&'a [u8]; MAX_PARTS],
        template: &'a [Part],
        input: &PayloadInput<'a>,
    ) -> usize {
        for (slot, part) in out.iter_mut().zip(template) {
            *slot = match part {
                Part::Literal(text) => text.as_slice(),
                Part::Body => input.body,
                Part::Timestamp => input.timestamp,
                Part::Id => input.id,
                Part::Method => input.method,
                Part::Url => input.url,
            };
        }
        template.len()
    }
}

/// What a template's placeholders stand for in one request.
struct PayloadInput<'a> {
    body: &'a [u8],
    timestamp: &'a [u8],
    id: &'a [u8],
    method: &'a [u8],
    url: &'a [u8],
}

/// HubSpot's v3 URL form: these escapes decoded, every other byte as it is.
fn hubspot_decode(url: &str) -> String {
    const ESCAPES: [(&str, char); 12] = [
        ("%3A", ':'),
        ("%2F", '/'),
        ("%3F", '?'),
        ("%40", '@'),
        ("%21", '!'),
        ("%24", '$'),
        ("%27", '\''),
        ("%28", '('),
        ("%29", ')'),
        ("%2A", '*'),
        ("%2C", ','),
        ("%3B", ';'),
    ];
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i..i + 3).unwrap_or("");
        match ESCAPES.iter().find(|(e, _)| e.eq_ignore_ascii_case(escape)) {
            Some((_, c)) => {
                out.push(*c);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `Ok` when `at` is within `tolerance` of `now`, in either direction.
pub(crate) fn check_skew(
    at: SystemTime,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), Unverified> {
    let skew = match at.duration_since(now) {
        Ok(ahead) => ahead,
        Err(behind) => behind.duration(),
    };
    if skew > tolerance {
        return Err(Unverified::TimestampOutOfTolerance);
    }
    Ok(())
}

impl Scheme for HmacScheme {
    fn provider(&self) -> &'static str {
        self.params.provider
    }

    fn verify(&self, req: &Signed<'_>, now: SystemTime) -> Result<Verified, Unverified> {
        let set = self
            .header_set(req.headers)
            .ok_or(Unverified::MissingSignature)?;
        let value = single(
            req.headers,
            &set.signature,
            Unverified::MissingSignature,
            Unverified::DuplicateSignature,
        )?;
        let claims = self.claims(value)?;
        let timestamp = self.timestamp(set, req.headers, claims.list_timestamp, now)?;
        let id = match &set.id {
            Some(name) if self.params.template.contains(&Part::Id) => single(
                req.headers,
                name,
                Unverified::MissingId,
                Unverified::DuplicateId,
            )?
            .as_bytes(),
            _ => &[],
        };
        // The URL as the sender wrote it, and for senders whose SDKs disagree on escaping
        // (HubSpot), the decoded spelling too.
        let mut urls = [String::new(), String::new()];
        let mut url_forms = 1;
        if self.params.template.contains(&Part::Url) {
            urls[0] = self.url(req.uri);
            if self.params.decoded_url_too {
                urls[1] = hubspot_decode(&urls[0]);
                if urls[1] != urls[0] {
                    url_forms = 2;
                }
            }
        }
        let method = req.method.as_str().as_bytes();
        let timestamp_raw = timestamp.map_or(&[][..], |(raw, _)| raw);
        let claimed = &claims.tags[..claims.count];
        let want = self.params.algorithm.tag_len();
        let mut forms: [([&[u8]; MAX_PARTS], usize); 2] = [([&[]; MAX_PARTS], 0); 2];
        for (form, url) in forms.iter_mut().zip(&urls[..url_forms]) {
            let input = PayloadInput {
                body: req.body,
                timestamp: timestamp_raw,
                id,
                method,
                url: url.as_bytes(),
            };
            form.1 = self.pieces(&mut form.0, &self.params.template, &input);
        }
        // Every slot, URL form and claim is compared, so the time taken does not tell which
        // secret matched. The first secret's tag over the last form (the decoded URL where
        // there are two, the same for both spellings) identifies the signed message.
        let mut identity = None;
        let secret_slot = super::first_match(self.keys.iter().enumerate().map(|(slot, key)| {
            let mut ok = subtle::Choice::from(0);
            for (form, (pieces, n)) in forms[..url_forms].iter().enumerate() {
                let tag = key.tag(&pieces[..*n]);
                for claim in claimed {
                    ok |= tag.as_bytes().ct_eq(&claim[..want]);
                }
                if slot == 0 && form + 1 == url_forms {
                    identity = Some(tag);
                }
            }
            ok
        }))?;
        let timestamp = match (&self.params.timestamp, timestamp) {
            (
                Some(
                    rule @ TimestampRule {
                        from: TimestampFrom::JsonField(field),
                        ..
                    },
                ),
                _,
            ) => {
                let at = json_timestamp(req.body, field, rule.format)?;
                check_skew(at, now, rule.tolerance)?;
                Some(at)
            }
            (_, t) => t.map(|(_, at)| at),
        };
        Ok(Verified {
            delivery_id: self
                .params
                .delivery_id
                .as_ref()
                .or(set.id.as_ref())
                .and_then(|h| delivery_id(req.headers, h)),
            timestamp,
            secret_slot,
            message: identity.map(|tag| {
                use sha2::Digest;
                sha2::Sha256::digest(tag.as_bytes()).into()
            }),
        })
    }

    fn sign(&self, req: &Signed<'_>, now: SystemTime) -> HeaderMap {
        let mut out = HeaderMap::new();
        // The family whose id header the caller gave (`svix-id`), else the first.
        let chosen = self.params.headers.iter().find(|set| {
            set.id
                .as_ref()
                .is_some_and(|id| req.headers.contains_key(id))
        });
        let Some(set) = chosen.or(self.params.headers.first()) else {
            return out;
        };
        let timestamp = self
            .params
            .timestamp
            .as_ref()
            .map(|rule| rule.format.write(now))
            .unwrap_or_default();
        let id = set
            .id
            .as_ref()
            .and_then(|name| req.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| generated_id(now));
        let url = self.url(req.uri);
        let input = PayloadInput {
            body: req.body,
            timestamp: timestamp.as_bytes(),
            id: id.as_bytes(),
            method: req.method.as_str().as_bytes(),
            url: url.as_bytes(),
        };
        let mut pieces: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
        let n = self.pieces(&mut pieces, &self.params.template, &input);
        let Some(tag) = self.first_tag(&pieces[..n]) else {
            return out;
        };
        let encoded = self.params.encoding.encode(tag.as_bytes());
        let uses_header_timestamp =
            matches!(&self.params.timestamp, Some(r) if r.from == TimestampFrom::Header);
        let value = match &self.params.carrier {
            Carrier::Single { prefix } => format!("{prefix}{encoded}"),
            Carrier::List(list) => match (&list.timestamp_key, &self.params.timestamp) {
                (Some(key), Some(r)) if r.from == TimestampFrom::ListItem => format!(
                    "{key}{pair}{timestamp}{sep}{version}{pair}{encoded}",
                    pair = list.pair,
                    sep = list.separator,
                    version = list.version
                ),
                _ => format!("{}{}{encoded}", list.version, list.pair),
            },
        };
        insert(&mut out, &set.signature, &value);
        if uses_header_timestamp {
            if let Some(name) = &set.timestamp {
                insert(&mut out, name, &timestamp);
            }
        }
        if self.params.template.contains(&Part::Id) {
            if let Some(name) = &set.id {
                insert(&mut out, name, &id);
            }
        }
        out
    }

    fn signed_headers(&self) -> &[HeaderName] {
        &self.signed_headers
    }

    /// Presets: on when they carry a delivery id or a signed timestamp. The generic engine:
    /// on only with `id_header`, since a user-defined scheme may sign nothing unique.
    fn replay_default(&self) -> bool {
        let has_id =
            self.params.delivery_id.is_some() || self.params.headers.iter().any(|h| h.id.is_some());
        if self.params.provider == "hmac" {
            has_id
        } else {
            has_id || self.params.timestamp.is_some()
        }
    }

    fn tolerance(&self) -> Option<Duration> {
        self.params.timestamp.as_ref().map(|t| t.tolerance)
    }

    fn signs_delivery_id(&self) -> bool {
        self.params.template.contains(&Part::Id)
    }
}

fn insert(out: &mut HeaderMap, name: &HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        out.insert(name.clone(), v);
    }
}

/// A delivery id for `sign` when the caller gives none.
fn generated_id(now: SystemTime) -> String {
    let nanos = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("msg_hookwall{nanos:x}")
}

/// Reads a top-level field of a JSON body as a timestamp (a number or a string of digits).
fn json_timestamp(
    body: &[u8],
    field: &str,
    format: TimestampFormat,
) -> Result<SystemTime, Unverified> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|_| Unverified::MalformedBody)?;
    let raw = match map.get(field) {
        None | Some(serde_json::Value::Null) => return Err(Unverified::MissingTimestamp),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => return Err(Unverified::MalformedTimestamp),
    };
    format
        .read(raw.as_bytes())
        .ok_or(Unverified::MalformedTimestamp)
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

/// Parses a header name from config for `key`.
pub(crate) fn header_name(key: &'static str, text: &str) -> Result<HeaderName, BuildError> {
    let name = HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| BuildError::new(key, format!("`{text}` is not a valid header name")))?;
    // Headers the proxy rewrites or drops: the upstream would never see what was verified.
    let reserved = crate::proxy::DROPPED_REQUEST_HEADERS.contains(&name.as_str())
        || name == http::header::HOST
        || name.as_str().starts_with("x-hookwall-");
    if reserved {
        return Err(BuildError::new(
            key,
            format!("`{text}` is a header the proxy rewrites; a signature cannot live there"),
        ));
    }
    Ok(name)
}

/// Checks a `public_url`: an absolute `http(s)://` URL without a query or fragment (the
/// request's own query is appended).
pub(crate) fn public_url(key: &'static str, text: &str) -> Result<String, BuildError> {
    let uri: Uri = text
        .parse()
        .map_err(|_| BuildError::new(key, format!("`{text}` is not a URL")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(BuildError::new(
            key,
            format!("`{text}` must be an absolute http:// or https:// URL, as the sender sees it"),
        ));
    }
    if text.contains('?') || text.contains('#') {
        return Err(BuildError::new(
            key,
            format!("`{text}` must not hold a query or fragment: the request's own query string is appended"),
        ));
    }
    Ok(text.to_owned())
}

/// Decodes secrets given as `whsec_` + base64 (Standard Webhooks); the prefix is optional.
pub(crate) fn decode_base64_secrets(
    secrets: &[Secret],
    prefix: &str,
) -> Result<Vec<Vec<u8>>, String> {
    secrets
        .iter()
        .map(|s| {
            let raw = s.expose();
            let raw = raw.strip_prefix(prefix.as_bytes()).unwrap_or(raw);
            // Padding optional: the Standard Webhooks libraries pad before decoding.
            BASE64_LENIENT_PADDING
                .decode(raw.trim_ascii())
                .map_err(|_| format!("{} is not {prefix}<base64>", s.source()))
                .and_then(|key| {
                    if key.is_empty() {
                        Err(format!("{} decodes to an empty key", s.source()))
                    } else {
                        Ok(key)
                    }
                })
        })
        .collect()
}

/// `provider = "hmac"`: every setting comes from the route's keys.
///
/// # Errors
/// `signature_header` missing; an unknown `algorithm`, `encoding`, `timestamp_format` or
/// `secret_encoding`; a malformed `signed_payload` or `signature_list`; a placeholder the
/// route gives no source for (`{timestamp}` without a timestamp, `{id}` without `id_header`,
/// `{url}` without `public_url`), or a source the template does not sign.
pub fn build(opts: &Options<'_>, secrets: Vec<Secret>) -> Result<HmacScheme, BuildError> {
    let header = opts.signature_header.ok_or_else(|| {
        BuildError::new(
            "signature_header",
            "missing: provider = \"hmac\" needs the name of the header that carries the signature",
        )
    })?;
    let signature = header_name("signature_header", header)?;
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
    let carrier = match (&opts.signature_list, opts.signature_prefix) {
        (Some(_), Some(_)) => {
            return Err(BuildError::new(
                "signature_prefix",
                "give either `signature_prefix` or `signature_list`, not both",
            ))
        }
        (Some(list), None) => Carrier::List(list.clone()),
        (None, prefix) => Carrier::Single {
            prefix: prefix.unwrap_or("").to_owned(),
        },
    };
    let list_timestamp = matches!(&carrier, Carrier::List(l) if l.timestamp_key.is_some());
    let signs_timestamp = template.contains(&Part::Timestamp);
    let format = match opts.timestamp_format {
        None => TimestampFormat::UnixSeconds,
        Some(text) => TimestampFormat::parse(text).ok_or_else(|| {
            BuildError::new(
                "timestamp_format",
                format!("unknown format `{text}` (use unix, unix_ms or rfc3339)"),
            )
        })?,
    };
    let timestamp_header = opts
        .timestamp_header
        .map(|h| header_name("timestamp_header", h))
        .transpose()?;
    let from = match (&timestamp_header, list_timestamp) {
        (Some(_), true) => {
            return Err(BuildError::new(
                "timestamp_header",
                "the timestamp already comes from `signature_list`; remove one of them",
            ))
        }
        (Some(_), false) => Some(TimestampFrom::Header),
        (None, true) => Some(TimestampFrom::ListItem),
        (None, false) => None,
    };
    let timestamp = match (from, signs_timestamp) {
        (Some(from), true) => Some(TimestampRule {
            from,
            format,
            tolerance: opts.tolerance.unwrap_or(DEFAULT_TOLERANCE),
        }),
        (None, false) => None,
        (None, true) => {
            return Err(BuildError::new(
                "signed_payload",
                "uses {timestamp} but the route has no `timestamp_header` (or `timestamp` in `signature_list`)",
            ))
        }
        (Some(_), false) => {
            let key = if list_timestamp { "signature_list" } else { "timestamp_header" };
            return Err(BuildError::new(
                key,
                "gives a timestamp but `signed_payload` does not contain {timestamp}: an \
                 unsigned timestamp proves nothing (for example: signed_payload = \"{timestamp}.{body}\")",
            ));
        }
    };
    if timestamp.is_none() {
        if opts.tolerance.is_some() {
            return Err(BuildError::new(
                "tolerance",
                "applies only to a route with a signed timestamp",
            ));
        }
        if opts.timestamp_format.is_some() {
            return Err(BuildError::new(
                "timestamp_format",
                "applies only to a route with a signed timestamp",
            ));
        }
    }
    let id = opts
        .id_header
        .map(|h| header_name("id_header", h))
        .transpose()?;
    if id.is_none() && template.contains(&Part::Id) {
        return Err(BuildError::new(
            "signed_payload",
            "uses {id} but the route has no `id_header`",
        ));
    }
    let public_url = opts
        .public_url
        .map(|u| public_url("public_url", u))
        .transpose()?;
    match (&public_url, template.contains(&Part::Url)) {
        (None, true) => {
            return Err(BuildError::new(
                "signed_payload",
                "uses {url} but the route has no `public_url`",
            ))
        }
        (Some(_), false) => {
            return Err(BuildError::new(
                "public_url",
                "is set but `signed_payload` does not contain {url}",
            ))
        }
        _ => {}
    }
    let keys: Vec<Vec<u8>> = match opts.secret_encoding {
        None | Some("text") => secrets.iter().map(|s| s.expose().to_vec()).collect(),
        Some("base64") => {
            decode_base64_secrets(&secrets, "").map_err(|e| BuildError::new("secret", e))?
        }
        Some(other) => {
            return Err(BuildError::new(
                "secret_encoding",
                format!("unknown secret encoding `{other}` (use text or base64)"),
            ))
        }
    };
    let params = Params {
        provider: "hmac",
        headers: vec![HeaderSet {
            signature,
            timestamp: timestamp_header,
            id: id.clone(),
        }],
        carrier,
        algorithm,
        encoding,
        template,
        timestamp,
        delivery_id: id,
        public_url,
        decoded_url_too: false,
    };
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    Ok(HmacScheme::new(params, &keys))
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
                method: &http::Method::POST,
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
                    method: &http::Method::POST,
                    uri: &uri,
                    headers: &HeaderMap::new(),
                    body: b"payload",
                },
                now(),
            );
            let v = s.verify(
                &Signed {
                    method: &http::Method::POST,
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
