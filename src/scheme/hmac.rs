//! The generic HMAC engine. A scheme is data ([`Params`]): which headers carry the signature,
//! timestamp and delivery id; how the signature is written (one value with a prefix, or a
//! list of versioned entries such as Stripe's `t=…,v1=…,v1=…`); the algorithm and encoding;
//! and a signed-payload template over literal text, `{body}`, `{timestamp}`, `{id}`,
//! `{method}` and `{url}`. `provider = "hmac"` exposes every setting (`build`); presets
//! (`presets.rs`) fix them.
//!
//! The claimed signatures are decoded to bytes and compared to each computed tag in constant
//! time; every secret of a rotation list is tried; the algorithm is fixed at build time and
//! never read from the request. Timestamps are hashed exactly as received and checked in both
//! directions.
//!
//! The parts: `mac.rs` (algorithm, key, encoding), `template.rs` (the signed payload),
//! `carrier.rs` (how the header carries its tags), `build.rs` (`provider = "hmac"`).

mod build;
mod carrier;
mod mac;
mod template;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use subtle::ConstantTimeEq;

pub use build::build;
pub use carrier::{Carrier, HeaderSet, ListFormat};
pub use mac::{Algorithm, Encoding};
pub(crate) use mac::{Key, Tag, MAX_TAG};
pub use template::{parse_template, Part};

use super::common::{check_skew, delivery_id, single, TimestampFormat};
use super::{Scheme, Signed, Unverified, Verified};
use carrier::Claims;
use template::{fill, hubspot_decode, signed_url, PayloadInput, MAX_PARTS};

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

/// The spellings of one request's signed payload: one, or two where the sender's URL has two
/// (HubSpot).
struct Forms<'a> {
    pieces: [([&'a [u8]; MAX_PARTS], usize); 2],
    count: usize,
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

    /// A timestamp in the body (Linear's), read once the signature over the body verified.
    fn body_timestamp(
        &self,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Option<SystemTime>, Unverified> {
        match &self.params.timestamp {
            Some(
                rule @ TimestampRule {
                    from: TimestampFrom::JsonField(field),
                    ..
                },
            ) => {
                let at = json_timestamp(body, field, rule.format)?;
                check_skew(at, now, rule.tolerance)?;
                Ok(Some(at))
            }
            _ => Ok(None),
        }
    }

    /// The delivery id the template signs, as received; empty when it signs none.
    fn signed_id<'a>(
        &self,
        set: &HeaderSet,
        headers: &'a HeaderMap,
    ) -> Result<&'a [u8], Unverified> {
        match &set.id {
            Some(name) if self.params.template.contains(&Part::Id) => Ok(single(
                headers,
                name,
                Unverified::MissingId,
                Unverified::DuplicateId,
            )?
            .as_bytes()),
            _ => Ok(&[]),
        }
    }

    /// The URL as the sender wrote it, and for senders whose SDKs disagree on escaping
    /// (HubSpot), the decoded spelling too; how many there are.
    fn urls(&self, req: &Signed<'_>) -> ([String; 2], usize) {
        let mut urls = [String::new(), String::new()];
        let mut count = 1;
        if self.params.template.contains(&Part::Url) {
            urls[0] = signed_url(self.params.public_url.as_deref(), req.uri);
            if self.params.decoded_url_too {
                urls[1] = hubspot_decode(&urls[0]);
                if urls[1] != urls[0] {
                    count = 2;
                }
            }
        }
        (urls, count)
    }

    /// The signed payload's pieces in each spelling.
    fn forms<'a>(
        &'a self,
        req: &Signed<'a>,
        urls: &'a [String],
        timestamp: &'a [u8],
        id: &'a [u8],
    ) -> Forms<'a> {
        let mut forms = Forms {
            pieces: [([&[]; MAX_PARTS], 0); 2],
            count: urls.len(),
        };
        for (form, url) in forms.pieces.iter_mut().zip(urls) {
            let input = PayloadInput {
                body: req.body,
                timestamp,
                id,
                method: req.method.as_str().as_bytes(),
                url: url.as_bytes(),
            };
            form.1 = fill(&mut form.0, &self.params.template, &input);
        }
        forms
    }

    /// The first secret whose tag over some spelling equals some claim, and the first
    /// secret's tag over the last spelling (the identity of the signed message). Every slot,
    /// spelling and claim is compared, so the time taken does not tell which secret matched.
    fn match_claims(
        &self,
        forms: &Forms<'_>,
        claims: &Claims<'_>,
    ) -> Result<(usize, Option<Tag>), Unverified> {
        let want = self.params.algorithm.tag_len();
        let mut identity = None;
        let slot = super::first_match(self.keys.iter().enumerate().map(|(slot, key)| {
            let mut ok = subtle::Choice::from(0);
            for (form, (pieces, n)) in forms.pieces[..forms.count].iter().enumerate() {
                let tag = key.tag(&pieces[..*n]);
                for claim in claims.tags() {
                    ok |= tag.as_bytes().ct_eq(&claim[..want]);
                }
                if slot == 0 && form + 1 == forms.count {
                    identity = Some(tag);
                }
            }
            ok
        }))?;
        Ok((slot, identity))
    }

    /// The tag of `pieces` under the first secret (for `sign` and handshakes).
    pub(crate) fn first_tag(&self, pieces: &[&[u8]]) -> Option<Tag> {
        self.keys.first().map(|k| k.tag(pieces))
    }

    /// The family `sign` writes: the one whose id header the caller gave (`svix-id`), else
    /// the first.
    fn signing_set(&self, headers: &HeaderMap) -> Option<&HeaderSet> {
        let chosen = self
            .params
            .headers
            .iter()
            .find(|set| set.id.as_ref().is_some_and(|id| headers.contains_key(id)));
        chosen.or(self.params.headers.first())
    }
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
        let claims = self.params.carrier.claims(
            value,
            self.params.encoding,
            self.params.algorithm.tag_len(),
        )?;
        let timestamp = self.timestamp(set, req.headers, claims.list_timestamp, now)?;
        let id = self.signed_id(set, req.headers)?;
        let (urls, url_forms) = self.urls(req);
        let raw_timestamp = timestamp.map_or(&[][..], |(raw, _)| raw);
        let forms = self.forms(req, &urls[..url_forms], raw_timestamp, id);
        let (secret_slot, identity) = self.match_claims(&forms, &claims)?;
        let timestamp = match self.body_timestamp(req.body, now)? {
            Some(at) => Some(at),
            None => timestamp.map(|(_, at)| at),
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
        let Some(set) = self.signing_set(req.headers) else {
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
        let url = signed_url(self.params.public_url.as_deref(), req.uri);
        let input = PayloadInput {
            body: req.body,
            timestamp: timestamp.as_bytes(),
            id: id.as_bytes(),
            method: req.method.as_str().as_bytes(),
            url: url.as_bytes(),
        };
        let mut pieces: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
        let n = fill(&mut pieces, &self.params.template, &input);
        let Some(tag) = self.first_tag(&pieces[..n]) else {
            return out;
        };
        let from = self.params.timestamp.as_ref().map(|r| &r.from);
        let value = self.params.carrier.write(
            &self.params.encoding.encode(tag.as_bytes()),
            &timestamp,
            from == Some(&TimestampFrom::ListItem),
        );
        insert(&mut out, &set.signature, &value);
        if let (Some(TimestampFrom::Header), Some(name)) = (from, &set.timestamp) {
            insert(&mut out, name, &timestamp);
        }
        if let (true, Some(name)) = (self.params.template.contains(&Part::Id), &set.id) {
            insert(&mut out, name, &id);
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

    fn delivery_id_header(&self) -> Option<&HeaderName> {
        let p = &self.params;
        p.delivery_id
            .as_ref()
            .or_else(|| p.headers.iter().find_map(|h| h.id.as_ref()))
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

#[cfg(test)]
mod tests;
