#![allow(clippy::unwrap_used)]
//! Property tests over the public API: every scheme's `sign` → `verify` round trip and its
//! refusal of a one-byte change, with signatures also made by reference signers written here
//! from each provider's documented formula (never by the engine under test); and, for every
//! parser of untrusted input, that it never panics and that what it accepts keeps its
//! promises (request targets above all).
//!
//! Failures are minimised by proptest; a failure found by a search (here or by the fuzz targets
//! in `fuzz/`) is kept at the end as a plain `#[test]`. `PROPTEST_CASES=N` overrides every
//! property's number of cases.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use proptest::prelude::*;
use proptest::sample::{select, Index};

use hookwall::config::{self, duration, size};
use hookwall::scheme::common::TimestampFormat;
use hookwall::scheme::hmac::{parse_template, ListFormat, Part};
use hookwall::scheme::presets::NAMES;
use hookwall::scheme::{Options, Scheme, Signed, Unverified, Verified};
use hookwall::target::{check_path, check_target};
use hookwall_testkit::reference::{b64, mac1, mac256, mac512, path_keeps_its_promises, unb64};
use hookwall_testkit::schemes::{self, build, signs_url, Keys};

const SECRET: &str = "props-secret-5d1c9a0b7e";
const OTHER: &str = "props-other-secret-42f1";
/// A Standard Webhooks secret: `whsec_` + base64 of random bytes.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_WHSEC: &str = "whsec_c2Vjb25kLWtleS1mb3ItdGVzdHM=";
const URL: &str = "https://hooks.example.com/webhooks/in";
const NOW: u64 = 1_700_000_000;

/// Each property's number of cases: moderate by default, so the binary runs in seconds;
/// `PROPTEST_CASES=5000 cargo test --release --test properties` searches harder.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Reference signers and helpers

fn whsec_key(whsec: &str) -> Vec<u8> {
    unb64(whsec.trim_start_matches("whsec_"))
}

fn standard_webhooks(name: &str) -> bool {
    matches!(name, "standard-webhooks" | "svix" | "clerk" | "resend")
}

fn preset_secret(name: &str) -> &'static str {
    if standard_webhooks(name) {
        WHSEC
    } else {
        SECRET
    }
}

fn other_secret(name: &str) -> &'static str {
    if standard_webhooks(name) {
        OTHER_WHSEC
    } else {
        OTHER
    }
}

fn build_preset(name: &str, secrets: &[&str]) -> Arc<dyn Scheme> {
    let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
    build(
        &Options {
            provider: name,
            public_url: signs_url(name).then_some(URL),
            ..Options::default()
        },
        &secrets,
    )
}

/// One request as a scheme sees it.
#[derive(Clone, Debug)]
struct Req {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Req {
    fn new(method: &Method, uri: &Uri, headers: HeaderMap, body: &[u8]) -> Req {
        Req {
            method: method.clone(),
            uri: uri.clone(),
            headers,
            body: body.to_vec(),
        }
    }

    fn signed(&self) -> Signed<'_> {
        Signed {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn verify(&self, s: &dyn Scheme, now: SystemTime) -> Result<Verified, Unverified> {
        s.verify(&self.signed(), now)
    }
}

fn header_map<K: AsRef<str>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            HeaderName::from_bytes(k.as_ref().as_bytes()).unwrap(),
            HeaderValue::from_bytes(v.as_ref()).unwrap(),
        );
    }
    map
}

fn secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn millis(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// `at` in RFC 3339 with nine fractional digits, written here rather than by the engine.
fn rfc3339(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap();
    let t = time::OffsetDateTime::from_unix_timestamp(since.as_secs() as i64).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        since.subsec_nanos()
    )
}

/// The URL a URL-signing sender signs: `public_url`, plus `?` and the query when there is one.
fn signed_url(uri: &Uri) -> String {
    match uri.query() {
        Some(q) => format!("{URL}?{q}"),
        None => URL.to_owned(),
    }
}

/// What one delivery is made of, for the reference signers.
struct Delivery<'a> {
    body: &'a [u8],
    id: &'a str,
    method: &'a Method,
    uri: &'a Uri,
    at: SystemTime,
}

/// The headers a sender would add, from the provider's documentation.
fn reference(name: &str, secret: &str, d: &Delivery<'_>) -> Vec<(&'static str, String)> {
    let k = secret.as_bytes();
    let body = d.body;
    let t = secs(d.at).to_string();
    let t = t.as_bytes();
    let tt = String::from_utf8(t.to_vec()).unwrap();
    match name {
        "github" | "meta" => vec![(
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(mac256(k, &[body]))),
        )],
        "stripe" => vec![(
            "stripe-signature",
            format!("t={tt},v1={}", hex::encode(mac256(k, &[t, b".", body]))),
        )],
        "mux" => vec![(
            "mux-signature",
            format!("t={tt},v1={}", hex::encode(mac256(k, &[t, b".", body]))),
        )],
        "slack" => vec![
            ("x-slack-request-timestamp", tt.clone()),
            (
                "x-slack-signature",
                format!("v0={}", hex::encode(mac256(k, &[b"v0:", t, b":", body]))),
            ),
        ],
        "zoom" => vec![
            ("x-zm-request-timestamp", tt.clone()),
            (
                "x-zm-signature",
                format!("v0={}", hex::encode(mac256(k, &[b"v0:", t, b":", body]))),
            ),
        ],
        "shopify" => vec![("x-shopify-hmac-sha256", b64(&mac256(k, &[body])))],
        "standard-webhooks" | "svix" | "clerk" | "resend" => {
            let key = whsec_key(secret);
            let sig = b64(&mac256(&key, &[d.id.as_bytes(), b".", t, b".", body]));
            vec![
                ("webhook-id", d.id.to_owned()),
                ("webhook-timestamp", tt.clone()),
                ("webhook-signature", format!("v1,{sig}")),
            ]
        }
        "paddle" => vec![(
            "paddle-signature",
            format!("ts={tt};h1={}", hex::encode(mac256(k, &[t, b":", body]))),
        )],
        "pagerduty" => vec![(
            "x-pagerduty-signature",
            format!("v1={}", hex::encode(mac256(k, &[body]))),
        )],
        "twitch" => {
            let stamp = rfc3339(d.at);
            let sig = hex::encode(mac256(k, &[d.id.as_bytes(), stamp.as_bytes(), body]));
            vec![
                ("twitch-eventsub-message-id", d.id.to_owned()),
                ("twitch-eventsub-message-timestamp", stamp),
                ("twitch-eventsub-message-signature", format!("sha256={sig}")),
            ]
        }
        "linear" => vec![("linear-signature", hex::encode(mac256(k, &[body])))],
        "square" => vec![(
            "x-square-hmacsha256-signature",
            b64(&mac256(k, &[signed_url(d.uri).as_bytes(), body])),
        )],
        "bitbucket" => vec![(
            "x-hub-signature",
            format!("sha256={}", hex::encode(mac256(k, &[body]))),
        )],
        "intercom" => vec![(
            "x-hub-signature",
            format!("sha1={}", hex::encode(mac1(k, &[body]))),
        )],
        "typeform" => vec![(
            "typeform-signature",
            format!("sha256={}", b64(&mac256(k, &[body]))),
        )],
        "vercel" => vec![("x-vercel-signature", hex::encode(mac1(k, &[body])))],
        "lemonsqueezy" => vec![("x-signature", hex::encode(mac256(k, &[body])))],
        "asana" => vec![("x-hook-signature", hex::encode(mac256(k, &[body])))],
        "trello" => vec![(
            "x-trello-webhook",
            b64(&mac1(k, &[body, signed_url(d.uri).as_bytes()])),
        )],
        "hubspot" => {
            let ms = millis(d.at).to_string();
            let sig = b64(&mac256(
                k,
                &[
                    d.method.as_str().as_bytes(),
                    signed_url(d.uri).as_bytes(),
                    body,
                    ms.as_bytes(),
                ],
            ));
            vec![
                ("x-hubspot-request-timestamp", ms),
                ("x-hubspot-signature-v3", sig),
            ]
        }
        other => panic!("no reference signer for {other}"),
    }
}

/// The header a preset's `sign` reads the delivery id from, where it signs one.
fn id_header(name: &str) -> Option<&'static str> {
    if standard_webhooks(name) {
        Some("webhook-id")
    } else if name == "twitch" {
        Some("twitch-eventsub-message-id")
    } else {
        None
    }
}

/// Where the signed timestamp is: a header, and the byte range of its value that holds it.
fn timestamp_span(
    name: &str,
    headers: &[(&'static str, String)],
) -> Option<(&'static str, std::ops::Range<usize>)> {
    let header = match name {
        "stripe" => "stripe-signature",
        "mux" => "mux-signature",
        "paddle" => "paddle-signature",
        "slack" => "x-slack-request-timestamp",
        "zoom" => "x-zm-request-timestamp",
        "twitch" => "twitch-eventsub-message-timestamp",
        "hubspot" => "x-hubspot-request-timestamp",
        n if standard_webhooks(n) => "webhook-timestamp",
        _ => return None,
    };
    let value = &headers.iter().find(|(h, _)| *h == header)?.1;
    let range = match name {
        "stripe" | "mux" => 2..value.find(',')?,
        "paddle" => 3..value.find(';')?,
        _ => 0..value.len(),
    };
    Some((header, range))
}

/// The value with byte `at` replaced by a printable ASCII byte other than the one there.
fn replace_printable(value: &str, at: usize, with: u8) -> String {
    let mut bytes = value.as_bytes().to_vec();
    let mut b = with;
    if b == bytes[at] {
        b = if b == b'~' { b'!' } else { b + 1 };
    }
    bytes[at] = b;
    String::from_utf8(bytes).unwrap()
}

/// Replaces byte `at` with another byte of `alphabet`.
fn replace_from(bytes: &mut [u8], at: usize, alphabet: &[u8], pick: usize) {
    let old = bytes[at];
    let mut b = alphabet[pick % alphabet.len()];
    if b == old {
        b = alphabet[(pick + 1) % alphabet.len()];
    }
    bytes[at] = b;
}

/// Linear signs a JSON body that carries its own timestamp (milliseconds).
fn linear_body(text: &str, at: SystemTime) -> Vec<u8> {
    serde_json::json!({
        "action": "create",
        "type": "Issue",
        "data": { "title": text },
        "webhookTimestamp": millis(at) as u64,
    })
    .to_string()
    .into_bytes()
}

// ---------------------------------------------------------------------------------------
// Strategies

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..300)
}

fn nonempty_body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..300)
}

/// A delivery id: what senders use, printable and short.
fn delivery_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:-]{1,48}"
}

/// A query string made of characters a URI carries as they are.
fn query() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[A-Za-z0-9=&_.~-]{0,40}")
}

const QUERY_ALPHABET: &[u8] = b"ABCabcxyz0189=&_.~-";

fn target(query: Option<&str>) -> Uri {
    match query {
        Some(q) => format!("/webhooks/in?{q}").parse().unwrap(),
        None => Uri::from_static("/webhooks/in"),
    }
}

fn method() -> impl Strategy<Value = Method> {
    select(vec![Method::POST, Method::PUT, Method::PATCH, Method::GET])
}

/// A moment between 2001 and 2096, to the nanosecond.
fn instant() -> impl Strategy<Value = SystemTime> {
    (1_000_000_000u64..4_000_000_000, 0u32..1_000_000_000)
        .prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n))
}

// ---------------------------------------------------------------------------------------
// (a) and (b): HMAC presets

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    /// `sign` → `verify` for every preset, and the reference signature verifies too (also as
    /// the second secret of a rotation); `sign` writes what the documented formula gives.
    #[test]
    fn every_preset_round_trips(
        body in body(),
        text in "\\PC{0,40}",
        id in delivery_id(),
        query in query(),
        method in method(),
        at in instant(),
    ) {
        for &name in NAMES {
            let s = build_preset(name, &[preset_secret(name)]);
            let body = if name == "linear" { linear_body(&text, at) } else { body.clone() };
            let uri = target(query.as_deref());
            let given = match id_header(name) {
                Some(h) => header_map(&[(h, &id)]),
                None => HeaderMap::new(),
            };
            let req = Req::new(&method, &uri, given, &body);
            let headers = s.sign(&req.signed(), at);
            let signed = Req { headers: headers.clone(), ..req.clone() };
            let got = signed.verify(&*s, at);
            prop_assert!(got.is_ok(), "{}: sign → verify gave {:?} ({:?})", name, got, headers);
            let got = got.unwrap();
            prop_assert_eq!(got.secret_slot, 0);
            let expected_at = match name {
                "stripe" | "mux" | "paddle" | "slack" | "zoom" => Some(UNIX_EPOCH + Duration::from_secs(secs(at))),
                n if standard_webhooks(n) => Some(UNIX_EPOCH + Duration::from_secs(secs(at))),
                "hubspot" | "linear" => Some(UNIX_EPOCH + Duration::from_millis(millis(at) as u64)),
                "twitch" => Some(at),
                _ => None,
            };
            prop_assert_eq!(got.timestamp, expected_at, "{}", name);
            if id_header(name).is_some() {
                prop_assert_eq!(got.delivery_id.as_deref(), Some(id.as_str()), "{}", name);
            }

            let d = Delivery { body: &body, id: &id, method: &method, uri: &uri, at };
            let expected = reference(name, preset_secret(name), &d);
            for (h, v) in &expected {
                if name == "twitch" && *h != "twitch-eventsub-message-id" {
                    continue; // `sign` may write the instant with fewer fractional digits
                }
                prop_assert_eq!(
                    headers.get(*h).map(HeaderValue::as_bytes),
                    Some(v.as_bytes()),
                    "{}: {} from sign differs from the documented formula", name, h
                );
            }
            let by_reference = Req { headers: header_map(&expected), ..req.clone() };
            let got = by_reference.verify(&*s, at);
            prop_assert!(got.is_ok(), "{}: reference signature gave {:?}", name, got);

            let rotated = build_preset(name, &[other_secret(name), preset_secret(name)]);
            prop_assert_eq!(by_reference.verify(&*rotated, at).map(|v| v.secret_slot), Ok(1), "{}", name);
            let wrong = build_preset(name, &[other_secret(name)]);
            prop_assert_eq!(by_reference.verify(&*wrong, at).map(|v| v.secret_slot), Err(Unverified::SignatureMismatch), "{}", name);
        }
    }

    /// A one-byte change of the body, of the signed timestamp, of the signed id, of the
    /// signed query string or the signed method makes every preset refuse the delivery.
    #[test]
    fn every_preset_refuses_a_one_byte_change(
        raw in nonempty_body(),
        text in "[a-zA-Z0-9 ]{0,40}",
        id in delivery_id(),
        q in "[A-Za-z0-9=&_.~-]{1,40}",
        at in instant(),
        index in any::<Index>(),
        flip in 1u8..=255,
        with in 0x21u8..0x7f,
        pick in any::<usize>(),
    ) {
        for &name in NAMES {
            let s = build_preset(name, &[preset_secret(name)]);
            let body = if name == "linear" { linear_body(&text, at) } else { raw.clone() };
            let uri = target(Some(&q));
            let d = Delivery { body: &body, id: &id, method: &Method::POST, uri: &uri, at };
            let headers = reference(name, preset_secret(name), &d);
            let req = Req::new(&Method::POST, &uri, header_map(&headers), &body);
            prop_assert!(req.verify(&*s, at).is_ok(), "{}", name);

            // The body.
            let mut tampered = req.clone();
            let i = index.index(body.len());
            tampered.body[i] ^= flip;
            let got = tampered.verify(&*s, at);
            prop_assert!(got.is_err(), "{}: body byte {} ^ {:#x} still verifies", name, i, flip);

            // The timestamp, where it is signed (Linear's is in the body, changed above).
            if let Some((header, range)) = timestamp_span(name, &headers) {
                let i = range.start + index.index(range.len());
                let changed: Vec<_> = headers
                    .iter()
                    .map(|(h, v)| if *h == header { (*h, replace_printable(v, i, with)) } else { (*h, v.clone()) })
                    .collect();
                let tampered = Req { headers: header_map(&changed), ..req.clone() };
                let got = tampered.verify(&*s, at);
                prop_assert!(got.is_err(), "{}: timestamp changed to {:?} still verifies", name, changed);
            }

            // The delivery id, where it is signed.
            if let Some(h) = id_header(name) {
                let i = index.index(id.len());
                let changed: Vec<_> = headers
                    .iter()
                    .map(|(k, v)| if *k == h { (*k, replace_printable(v, i, with)) } else { (*k, v.clone()) })
                    .collect();
                let tampered = Req { headers: header_map(&changed), ..req.clone() };
                prop_assert!(tampered.verify(&*s, at).is_err(), "{}: id changed still verifies", name);
            }

            // The query string and the method, where the URL is signed. (HubSpot also
            // accepts its escapes decoded; this query has none.)
            if signs_url(name) {
                let mut query = q.clone().into_bytes();
                let i = index.index(query.len());
                replace_from(&mut query, i, QUERY_ALPHABET, pick);
                let other = target(Some(std::str::from_utf8(&query).unwrap()));
                let tampered = Req { uri: other, ..req.clone() };
                prop_assert!(tampered.verify(&*s, at).is_err(), "{}: query changed still verifies", name);
            }
            if name == "hubspot" {
                let tampered = Req { method: Method::PUT, ..req.clone() };
                prop_assert!(tampered.verify(&*s, at).is_err(), "hubspot: method changed still verifies");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// (a) and (b): provider = "hmac" with assorted options

/// A piece of a generated `signed_payload`, with the literal text unescaped.
#[derive(Clone, Debug)]
enum Piece {
    Lit(String),
    Body,
    Timestamp,
    Id,
    Method,
    Url,
}

/// Where a generated route takes its timestamp from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsFrom {
    None,
    Header,
    List,
}

#[derive(Clone, Debug)]
struct HmacCase {
    algorithm: Option<&'static str>,
    encoding: Option<&'static str>,
    prefix: Option<&'static str>,
    list: Option<ListFormat>,
    ts: TsFrom,
    ts_format: Option<&'static str>,
    id_signed: bool,
    id_header: bool,
    pieces: Vec<Piece>,
    url: bool,
    base64_secret: bool,
    key: Vec<u8>,
}

impl HmacCase {
    fn template(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(t) => t.replace('{', "{{").replace('}', "}}"),
                Piece::Body => "{body}".into(),
                Piece::Timestamp => "{timestamp}".into(),
                Piece::Id => "{id}".into(),
                Piece::Method => "{method}".into(),
                Piece::Url => "{url}".into(),
            })
            .collect()
    }

    fn secret_text(&self) -> Vec<u8> {
        if self.base64_secret {
            b64(&self.key).into_bytes()
        } else {
            self.key.clone()
        }
    }

    fn scheme(&self) -> Arc<dyn Scheme> {
        let template = self.template();
        build(
            &Options {
                provider: "hmac",
                signature_header: Some("X-Props-Signature"),
                algorithm: self.algorithm,
                encoding: self.encoding,
                signature_prefix: self.prefix,
                signature_list: self.list.clone(),
                signed_payload: Some(&template),
                timestamp_header: (self.ts == TsFrom::Header).then_some("X-Props-Timestamp"),
                timestamp_format: self.ts_format,
                id_header: self.id_header.then_some("X-Props-Id"),
                public_url: self.url.then_some(URL),
                secret_encoding: self.base64_secret.then_some("base64"),
                ..Options::default()
            },
            &[&self.secret_text()],
        )
    }

    fn timestamp_text(&self, at: SystemTime) -> String {
        match self.ts_format {
            None | Some("unix") => secs(at).to_string(),
            Some("unix_ms") => millis(at).to_string(),
            _ => rfc3339(at),
        }
    }

    /// The headers a sender following this route's settings would add, computed here.
    fn reference(&self, d: &Delivery<'_>, noise: bool) -> Vec<(&'static str, String)> {
        let ts = self.timestamp_text(d.at);
        let url = signed_url(d.uri);
        let parts: Vec<&[u8]> = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(t) => t.as_bytes(),
                Piece::Body => d.body,
                Piece::Timestamp => ts.as_bytes(),
                Piece::Id => d.id.as_bytes(),
                Piece::Method => d.method.as_str().as_bytes(),
                Piece::Url => url.as_bytes(),
            })
            .collect();
        let tag = match self.algorithm {
            Some("sha1") => mac1(&self.key, &parts),
            Some("sha512") => mac512(&self.key, &parts),
            _ => mac256(&self.key, &parts),
        };
        let encoded = match self.encoding {
            Some("base64") => b64(&tag),
            _ => hex::encode(&tag),
        };
        let value = match &self.list {
            Some(l) => {
                let mut entries = Vec::new();
                if noise {
                    entries.push(format!("v0{}{}", l.pair, "ab".repeat(8)));
                }
                if self.ts == TsFrom::List {
                    let key = l.timestamp_key.as_deref().unwrap();
                    entries.push(format!("{key}{}{ts}", l.pair));
                }
                entries.push(format!("{}{}{encoded}", l.version, l.pair));
                entries.join(&l.separator.to_string())
            }
            None => format!("{}{encoded}", self.prefix.unwrap_or("")),
        };
        let mut out = vec![("x-props-signature", value)];
        if self.ts == TsFrom::Header {
            out.push(("x-props-timestamp", ts));
        }
        if self.id_header {
            out.push(("x-props-id", d.id.to_owned()));
        }
        out
    }
}

fn hmac_case() -> impl Strategy<Value = HmacCase> {
    let carrier = prop_oneof![
        select(vec![
            None,
            Some(""),
            Some("sha256="),
            Some("v1,"),
            Some("{x}")
        ])
        .prop_map(|p| (p, None)),
        (
            select(vec![(',', '='), (';', '='), (' ', ','), (';', ',')]),
            select(vec!["v1", "h1", "s"]),
            select(vec![None, Some("t"), Some("ts")]),
        )
            .prop_map(|((separator, pair), version, ts)| {
                (
                    None,
                    Some(ListFormat {
                        separator,
                        pair,
                        version: version.to_owned(),
                        timestamp_key: ts.map(str::to_owned),
                    }),
                )
            }),
    ];
    (
        select(vec![None, Some("sha1"), Some("sha256"), Some("sha512")]),
        select(vec![None, Some("hex"), Some("base64")]),
        carrier,
        any::<bool>(),
        select(vec![None, Some("unix"), Some("unix_ms"), Some("rfc3339")]),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        prop::collection::vec("[a-z0-9.:|{}]{0,3}", 6),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 1..48),
    )
        .prop_flat_map(
            |(
                algorithm,
                encoding,
                (prefix, list),
                header_ts,
                ts_format,
                flags,
                lits,
                b64s,
                key,
            )| {
                let (id_header, id_signed, method, url) = flags;
                let list_ts = list.as_ref().is_some_and(|l| l.timestamp_key.is_some());
                let ts = if list_ts {
                    TsFrom::List
                } else if header_ts {
                    TsFrom::Header
                } else {
                    TsFrom::None
                };
                let mut pieces = vec![Piece::Body];
                if ts != TsFrom::None {
                    pieces.push(Piece::Timestamp);
                }
                let id_signed = id_header && id_signed;
                if id_signed {
                    pieces.push(Piece::Id);
                }
                if method {
                    pieces.push(Piece::Method);
                }
                if url {
                    pieces.push(Piece::Url);
                }
                let case = HmacCase {
                    algorithm,
                    encoding,
                    prefix,
                    list,
                    ts,
                    ts_format: if ts == TsFrom::None { None } else { ts_format },
                    id_signed,
                    id_header,
                    pieces: Vec::new(),
                    url,
                    base64_secret: b64s,
                    key,
                };
                (Just(case), Just(pieces).prop_shuffle(), Just(lits))
            },
        )
        .prop_map(|(mut case, placeholders, lits)| {
            // Literal text between placeholders, never two literals side by side.
            for (p, lit) in placeholders.into_iter().zip(lits) {
                if !lit.is_empty() {
                    case.pieces.push(Piece::Lit(lit));
                }
                case.pieces.push(p);
            }
            case
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    /// `provider = "hmac"` over every algorithm, encoding, carrier, timestamp source and
    /// format, template order and secret encoding: `sign` → `verify`, the reference signature
    /// verifies, and a one-byte change of the body, timestamp, id or query is refused.
    #[test]
    fn hmac_round_trips_and_refuses_changes(
        case in hmac_case(),
        body in nonempty_body(),
        id in delivery_id(),
        q in "[A-Za-z0-9=&_.~-]{1,30}",
        method in method(),
        at in instant(),
        noise in any::<bool>(),
        index in any::<Index>(),
        flip in 1u8..=255,
        with in 0x21u8..0x7f,
        pick in any::<usize>(),
    ) {
        let s = case.scheme();
        let template = case.template();
        prop_assert!(parse_template(&template).is_ok(), "{}", template);
        let uri = target(Some(&q));
        let given = if case.id_header { header_map(&[("x-props-id", &id)]) } else { HeaderMap::new() };
        let req = Req::new(&method, &uri, given, &body);
        let headers = s.sign(&req.signed(), at);
        let signed = Req { headers: headers.clone(), ..req.clone() };
        let got = signed.verify(&*s, at);
        prop_assert!(got.is_ok(), "{:?}: sign → verify gave {:?} from {:?}", case, got, headers);

        let d = Delivery { body: &body, id: &id, method: &method, uri: &uri, at };
        let expected = case.reference(&d, noise);
        let req = Req { headers: header_map(&expected), ..req };
        let got = req.verify(&*s, at);
        prop_assert!(got.is_ok(), "{:?}: reference {:?} gave {:?}", case, expected, got);

        let mut tampered = req.clone();
        tampered.body[index.index(body.len())] ^= flip;
        prop_assert!(tampered.verify(&*s, at).is_err(), "{:?}: body changed", case);

        if case.ts != TsFrom::None {
            let ts = case.timestamp_text(at);
            let changed: Vec<_> = expected
                .iter()
                .map(|(h, v)| {
                    let Some(start) = v.find(&ts) else { return (*h, v.clone()) };
                    let carries = (case.ts == TsFrom::Header && *h == "x-props-timestamp")
                        || (case.ts == TsFrom::List && *h == "x-props-signature");
                    if carries {
                        (*h, replace_printable(v, start + index.index(ts.len()), with))
                    } else {
                        (*h, v.clone())
                    }
                })
                .collect();
            let tampered = Req { headers: header_map(&changed), ..req.clone() };
            prop_assert!(tampered.verify(&*s, at).is_err(), "{:?}: timestamp changed: {:?}", case, changed);
        }
        if case.id_signed {
            let changed: Vec<_> = expected
                .iter()
                .map(|(h, v)| if *h == "x-props-id" { (*h, replace_printable(v, index.index(v.len()), with)) } else { (*h, v.clone()) })
                .collect();
            let tampered = Req { headers: header_map(&changed), ..req.clone() };
            prop_assert!(tampered.verify(&*s, at).is_err(), "{:?}: id changed", case);
        }
        if case.url {
            let mut query = q.clone().into_bytes();
            let i = index.index(query.len());
            replace_from(&mut query, i, QUERY_ALPHABET, pick);
            let tampered = Req { uri: target(Some(std::str::from_utf8(&query).unwrap())), ..req.clone() };
            prop_assert!(tampered.verify(&*s, at).is_err(), "{:?}: query changed", case);
        }
    }
}

// ---------------------------------------------------------------------------------------
// (a) and (b): GitLab, Twilio, Mailgun, public-key schemes

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    /// GitLab sends the token itself: it round trips for any token, a one-byte change of the
    /// token is refused, and (the known exception) the body is not signed at all.
    #[test]
    fn gitlab_round_trips_and_refuses_another_token(
        token in "[!-~]{1,64}",
        body in nonempty_body(),
        index in any::<Index>(),
        flip in 1u8..=255,
        with in 0x21u8..0x7f,
    ) {
        let s = build(&Options { provider: "gitlab", ..Options::default() }, &[token.as_bytes()]);
        let uri = Uri::from_static("/hooks/gitlab");
        let req = Req::new(&Method::POST, &uri, HeaderMap::new(), &body);
        let headers = s.sign(&req.signed(), UNIX_EPOCH);
        prop_assert_eq!(headers.get("x-gitlab-token").map(HeaderValue::as_bytes), Some(token.as_bytes()));
        let req = Req { headers, ..req };
        prop_assert_eq!(req.verify(&*s, UNIX_EPOCH).map(|v| v.secret_slot), Ok(0));
        let mut tampered = req.clone();
        tampered.body[index.index(body.len())] ^= flip;
        prop_assert!(tampered.verify(&*s, UNIX_EPOCH).is_ok(), "GitLab's token does not sign the body");
        let other = replace_printable(&token, index.index(token.len()), with);
        let tampered = Req { headers: header_map(&[("x-gitlab-token", &other)]), ..req.clone() };
        prop_assert_eq!(tampered.verify(&*s, UNIX_EPOCH).map(|v| v.secret_slot), Err(Unverified::SignatureMismatch));
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

/// Twilio's signed parameters: every decoded pair of a form body, sorted, each once.
fn twilio_params(body: &[u8]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    params.sort();
    params.dedup();
    params
}

/// What Twilio signs after the URL: every name and then its value, with no separator.
fn twilio_signed_bytes(params: &[(String, String)]) -> Vec<u8> {
    params
        .iter()
        .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()])
        .flatten()
        .copied()
        .collect()
}

/// Twilio's signature, computed here: base64 HMAC over the URL and then every name and value.
fn twilio_reference(sha256: bool, url: &str, params: &[(String, String)]) -> String {
    let mut parts: Vec<&[u8]> = vec![url.as_bytes()];
    for (k, v) in params {
        parts.push(k.as_bytes());
        parts.push(v.as_bytes());
    }
    let key = SECRET.as_bytes();
    b64(&if sha256 {
        mac256(key, &parts)
    } else {
        mac1(key, &parts)
    })
}

fn twilio(sha256: bool) -> Arc<dyn Scheme> {
    build(
        &Options {
            provider: "twilio",
            public_url: Some(URL),
            algorithm: sha256.then_some("sha256"),
            ..Options::default()
        },
        &[SECRET.as_bytes()],
    )
}

/// Form bodies: pairs with escapes, `+`, repeats and empty parts, or any bytes at all.
fn form_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(("[a-zA-Z0-9_%+.]{0,8}", "[a-zA-Z0-9_%+.=]{0,12}"), 0..8).prop_map(
            |pairs| pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()
        ),
        body(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    /// Twilio over a form body: `sign` → `verify` and the reference signature verify, with
    /// either algorithm and any query; a one-byte change of the body is refused unless the
    /// bytes Twilio signs stay the same: the decoded names and values, sorted, each pair once,
    /// written one after the other without a separator. So `%4a` and `%4A`, `+` and a space,
    /// two invalid UTF-8 bytes, and `a=b` and `a&b` (see the test below) sign alike.
    #[test]
    fn twilio_form_round_trips_and_signs_the_parameters(
        body in form_body(),
        query in query(),
        content_type in select(vec![FORM, "application/x-www-form-urlencoded; charset=utf-8", "Application/X-WWW-Form-URLEncoded"]),
        sha256 in any::<bool>(),
        index in any::<Index>(),
        flip in 1u8..=255,
    ) {
        let s = twilio(sha256);
        let uri = target(query.as_deref());
        let req = Req::new(&Method::POST, &uri, header_map(&[("content-type", content_type)]), &body);
        let mut signed = req.clone();
        signed.headers.extend(s.sign(&req.signed(), UNIX_EPOCH));
        prop_assert_eq!(signed.verify(&*s, UNIX_EPOCH).map(|v| v.secret_slot), Ok(0));

        let params = twilio_params(&body);
        let sig = twilio_reference(sha256, &signed_url(&uri), &params);
        prop_assert_eq!(signed.headers.get("x-twilio-signature").map(HeaderValue::as_bytes), Some(sig.as_bytes()));
        let mut by_reference = req.clone();
        by_reference.headers.insert("x-twilio-signature", sig.parse().unwrap());
        prop_assert_eq!(by_reference.verify(&*s, UNIX_EPOCH).map(|v| v.secret_slot), Ok(0));

        if !body.is_empty() {
            let mut tampered = by_reference.clone();
            tampered.body[index.index(body.len())] ^= flip;
            let same = twilio_signed_bytes(&twilio_params(&tampered.body)) == twilio_signed_bytes(&params);
            let got = tampered.verify(&*s, UNIX_EPOCH);
            prop_assert_eq!(got.is_ok(), same, "{:?} → {:?}: {:?}", String::from_utf8_lossy(&body), String::from_utf8_lossy(&tampered.body), got);
        }
    }

    /// Twilio over a JSON body: the URL carries `bodySHA256`, so any one-byte change of the
    /// body is refused; so is a change of the hash in the query. Without the hash nobody
    /// signed the body, and it is refused as malformed whatever the signature.
    #[test]
    fn twilio_json_round_trips_and_refuses_a_changed_body(
        body in nonempty_body(),
        extra in "[a-z0-9=&]{0,12}",
        sha256 in any::<bool>(),
        index in any::<Index>(),
        flip in 1u8..=255,
    ) {
        use sha2::Digest as _;
        let s = twilio(sha256);
        let digest = hex::encode(sha2::Sha256::digest(&body));
        let uri = target(Some(&format!("{extra}&bodySHA256={digest}")));
        let req = Req::new(&Method::POST, &uri, header_map(&[("content-type", "application/json")]), &body);
        let sig = twilio_reference(sha256, &signed_url(&uri), &[]);
        let mut signed = req.clone();
        signed.headers.extend(s.sign(&req.signed(), UNIX_EPOCH));
        prop_assert_eq!(signed.headers.get("x-twilio-signature").map(HeaderValue::as_bytes), Some(sig.as_bytes()));
        prop_assert_eq!(signed.verify(&*s, UNIX_EPOCH).map(|v| v.secret_slot), Ok(0));
        let mut tampered = signed.clone();
        tampered.body[index.index(body.len())] ^= flip;
        prop_assert_eq!(tampered.verify(&*s, UNIX_EPOCH).map(|v| v.secret_slot), Err(Unverified::SignatureMismatch));
        let changed = uri.to_string().replacen("bodySHA256=", "bodySHA256=0", 1);
        let tampered = Req { uri: changed.parse().unwrap(), ..signed.clone() };
        prop_assert!(tampered.verify(&*s, UNIX_EPOCH).is_err());

        let unhashed = target(Some(&extra).filter(|e| !e.is_empty()).map(String::as_str));
        let mut req = Req { uri: unhashed, ..req };
        req.headers.extend(s.sign(&req.signed(), UNIX_EPOCH));
        prop_assert_eq!(req.verify(&*s, UNIX_EPOCH).map(|v| v.secret_slot), Err(Unverified::MalformedBody));
    }
}

/// A Mailgun body and where its signed fields are in it.
struct MailgunBody {
    bytes: Vec<u8>,
    timestamp: std::ops::Range<usize>,
    token: std::ops::Range<usize>,
    /// Bytes no signature covers (inside `event-data`, or another form field).
    unsigned: std::ops::Range<usize>,
}

fn mailgun_body(
    json: bool,
    quoted: bool,
    ts: &str,
    token: &str,
    sig: &str,
    event: &str,
) -> MailgunBody {
    let mut out = String::new();
    fn span(out: &mut String, text: &str) -> std::ops::Range<usize> {
        let start = out.len();
        out.push_str(text);
        start..out.len()
    }
    let (timestamp, token_range, unsigned);
    if json {
        out.push_str(r#"{"event-data":{"event":""#);
        unsigned = span(&mut out, event);
        out.push_str(r#""},"signature":{"timestamp":"#);
        let q = if quoted { "\"" } else { "" };
        out.push_str(q);
        timestamp = span(&mut out, ts);
        out.push_str(q);
        out.push_str(r#","token":""#);
        token_range = span(&mut out, token);
        out.push_str(&format!(r#"","signature":"{sig}"}}}}"#));
    } else {
        out.push_str("event=");
        unsigned = span(&mut out, event);
        out.push_str("&timestamp=");
        timestamp = span(&mut out, ts);
        out.push_str("&token=");
        token_range = span(&mut out, token);
        out.push_str(&format!("&signature={sig}"));
    }
    MailgunBody {
        bytes: out.into_bytes(),
        timestamp,
        token: token_range,
        unsigned,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    /// Mailgun signs only the timestamp and token carried in the body: the reference
    /// signature and `sign`'s fields verify in a JSON or form body; a one-byte change of the
    /// timestamp or the token is refused; a change elsewhere in the body is not (the known
    /// exception).
    #[test]
    fn mailgun_round_trips_and_signs_timestamp_and_token(
        json in any::<bool>(),
        quoted in any::<bool>(),
        token in "[A-Za-z0-9]{1,60}",
        event in "[a-z]{1,20}",
        at in instant(),
        index in any::<Index>(),
        pick in any::<usize>(),
    ) {
        let s = build(&Options { provider: "mailgun", ..Options::default() }, &[SECRET.as_bytes()]);
        let uri = Uri::from_static("/hooks/mailgun");
        let content_type = if json { "application/json" } else { FORM };
        let ts = secs(at).to_string();
        let sig = hex::encode(mac256(SECRET.as_bytes(), &[ts.as_bytes(), token.as_bytes()]));
        let body = mailgun_body(json, quoted, &ts, &token, &sig, &event);
        let req = Req::new(&Method::POST, &uri, header_map(&[("content-type", content_type)]), &body.bytes);
        let got = req.verify(&*s, at);
        prop_assert!(got.is_ok(), "{:?} for {}", got, String::from_utf8_lossy(&body.bytes));
        let got = got.unwrap();
        prop_assert_eq!(got.delivery_id.as_deref(), Some(token.as_str()));
        prop_assert_eq!(got.timestamp, Some(UNIX_EPOCH + Duration::from_secs(secs(at))));

        // `sign` gives the three fields (as pseudo-headers); put them in a body.
        let fields = s.sign(&req.signed(), at);
        let field = |n: &str| fields.get(n).unwrap().to_str().unwrap().to_owned();
        let signed = mailgun_body(json, quoted, &field("timestamp"), &field("token"), &field("signature"), &event);
        let by_sign = Req { body: signed.bytes, ..req.clone() };
        prop_assert_eq!(by_sign.verify(&*s, at).map(|v| v.secret_slot), Ok(0));

        for range in [body.timestamp.clone(), body.token.clone()] {
            let alphabet: &[u8] = if range == body.timestamp { b"0123456789" } else { b"ABCxyz0189" };
            let mut tampered = req.clone();
            replace_from(&mut tampered.body, range.start + index.index(range.len()), alphabet, pick);
            let got = tampered.verify(&*s, at);
            prop_assert!(got.is_err(), "{} still verifies", String::from_utf8_lossy(&tampered.body));
        }
        let mut tampered = req.clone();
        replace_from(&mut tampered.body, body.unsigned.start + index.index(body.unsigned.len()), b"abcxyz", pick);
        prop_assert!(tampered.verify(&*s, at).is_ok(), "Mailgun signs only the timestamp and the token");
    }
}

/// Keys for the public-key schemes, from fixed seeds.
struct KeyPairs {
    ed: ed25519_dalek::SigningKey,
    p256: p256::ecdsa::SigningKey,
}

fn key_pairs() -> &'static KeyPairs {
    static KEYS: OnceLock<KeyPairs> = OnceLock::new();
    KEYS.get_or_init(|| KeyPairs {
        ed: ed25519_dalek::SigningKey::from_bytes(&core::array::from_fn(|i| i as u8 * 7 + 1)),
        p256: p256::ecdsa::SigningKey::from_slice(&core::array::from_fn::<u8, 32, _>(|i| {
            i as u8 + 3
        }))
        .unwrap(),
    })
}

fn discord_key() -> String {
    hex::encode(key_pairs().ed.verifying_key().as_bytes())
}

fn sendgrid_key() -> String {
    use p256::pkcs8::EncodePublicKey as _;
    b64(key_pairs()
        .p256
        .verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes())
}

fn whpk_key() -> String {
    format!("whpk_{}", b64(key_pairs().ed.verifying_key().as_bytes()))
}

/// A delivery to a public-key scheme, signed here with the private key.
struct PkCase<'a> {
    body: &'a [u8],
    id: &'a str,
    at: SystemTime,
    index: Index,
    flip: u8,
    with: u8,
}

/// It verifies, and a one-byte change of the body or of the timestamp (or of the id, for
/// Standard Webhooks) is refused.
fn check_public_key_scheme(provider: &'static str, c: &PkCase<'_>) -> Result<(), TestCaseError> {
    use ed25519_dalek::Signer as _;
    let keys = key_pairs();
    let uri = Uri::from_static("/hooks/pk");
    let ts = secs(c.at).to_string();
    let public = match provider {
        "discord" => discord_key(),
        "sendgrid" => sendgrid_key(),
        _ => whpk_key(),
    };
    let s = build(
        &Options {
            provider,
            public_keys: vec![public],
            ..Options::default()
        },
        &[],
    );
    let headers = match provider {
        "discord" => {
            let sig = keys.ed.sign(&[ts.as_bytes(), c.body].concat());
            vec![
                ("x-signature-ed25519", hex::encode(sig.to_bytes())),
                ("x-signature-timestamp", ts.clone()),
            ]
        }
        "sendgrid" => {
            let sig: p256::ecdsa::Signature = keys.p256.sign(&[ts.as_bytes(), c.body].concat());
            vec![
                (
                    "x-twilio-email-event-webhook-signature",
                    b64(sig.to_der().as_bytes()),
                ),
                ("x-twilio-email-event-webhook-timestamp", ts.clone()),
            ]
        }
        _ => {
            let message = [c.id.as_bytes(), b".", ts.as_bytes(), b".", c.body].concat::<u8>();
            let sig = keys.ed.sign(&message);
            vec![
                ("webhook-id", c.id.to_owned()),
                ("webhook-timestamp", ts.clone()),
                ("webhook-signature", format!("v1a,{}", b64(&sig.to_bytes()))),
            ]
        }
    };
    let req = Req::new(&Method::POST, &uri, header_map(&headers), c.body);
    prop_assert_eq!(
        req.verify(&*s, c.at).map(|v| v.secret_slot),
        Ok(0),
        "{}",
        provider
    );
    let mut tampered = req.clone();
    tampered.body[c.index.index(c.body.len())] ^= c.flip;
    prop_assert!(
        tampered.verify(&*s, c.at).is_err(),
        "{}: body changed",
        provider
    );
    for (header, value) in &headers {
        if !(header.ends_with("timestamp") || *header == "webhook-id") {
            continue;
        }
        let changed: Vec<_> = headers
            .iter()
            .map(|(h, v)| {
                if h == header {
                    (
                        *h,
                        replace_printable(value, c.index.index(value.len()), c.with),
                    )
                } else {
                    (*h, v.clone())
                }
            })
            .collect();
        let tampered = Req {
            headers: header_map(&changed),
            ..req.clone()
        };
        prop_assert!(
            tampered.verify(&*s, c.at).is_err(),
            "{}: {} changed",
            provider,
            header
        );
    }
    Ok(())
}

proptest! {
    // Curve arithmetic is slow in a debug build: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(cases(20)))]

    /// Discord and Standard Webhooks `v1a` (Ed25519), signed here with the private key.
    #[test]
    fn ed25519_schemes_round_trip_and_refuse_changes(
        body in nonempty_body(),
        id in delivery_id(),
        at in instant(),
        index in any::<Index>(),
        flip in 1u8..=255,
        with in 0x21u8..0x7f,
    ) {
        let c = PkCase { body: &body, id: &id, at, index, flip, with };
        check_public_key_scheme("discord", &c)?;
        check_public_key_scheme("standard-webhooks", &c)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32)))]

    /// SendGrid (ECDSA P-256), signed here with the private key.
    #[test]
    fn sendgrid_round_trips_and_refuses_changes(
        body in nonempty_body(),
        at in instant(),
        index in any::<Index>(),
        flip in 1u8..=255,
        with in 0x21u8..0x7f,
    ) {
        let c = PkCase { body: &body, id: "", at, index, flip, with };
        check_public_key_scheme("sendgrid", &c)?;
    }
}

// ---------------------------------------------------------------------------------------
// (c) verify never panics, for every provider

/// One scheme of every provider `build` knows, and the variants with more to parse (the
/// test kit's list, keyed here).
fn every_scheme() -> &'static [Arc<dyn Scheme>] {
    static ALL: OnceLock<Vec<Arc<dyn Scheme>>> = OnceLock::new();
    ALL.get_or_init(|| {
        let (whpk, discord, sendgrid) = (whpk_key(), discord_key(), sendgrid_key());
        let keys = Keys {
            secret: SECRET,
            whsec: WHSEC,
            whpk: &whpk,
            discord: &discord,
            sendgrid: &sendgrid,
            url: URL,
        };
        schemes::every(&keys)
            .into_iter()
            .map(|e| e.scheme)
            .collect()
    })
}

/// Pieces that header values of the schemes are made of.
const HEADER_VOCAB: &[&str] = &[
    "t=",
    "v1=",
    "v1,",
    "v1a,",
    "v0=",
    "ts=",
    "h1=",
    "sha256=",
    "sha1=",
    "t",
    ",",
    ";",
    " ",
    "=",
    "==",
    "1700000000",
    "1700000000000",
    "1700000000.5",
    "99999999999999999999",
    "-1",
    "0",
    "2023-11-14T22:13:20Z",
    "2023-11-14T22:13:20.123456789+01:00",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "abcdef0123456789",
    "ABCDEF",
    "zz",
    "AAAA",
    "////",
    "++",
    "%",
    "\u{e9}",
    "\t",
    "msg_1",
];

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..100),
        prop::collection::vec(select(HEADER_VOCAB), 0..10).prop_map(|p| p.concat().into_bytes()),
        prop::collection::vec(select(vec!["0", "a", "f", "F"]), 0..140)
            .prop_map(|p| p.concat().into_bytes()),
    ]
    .prop_map(|v| {
        v.into_iter()
            .filter(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
            .collect()
    })
}

/// JSON and form shapes the schemes read fields from, with holes filled from `BODY_HOLES`.
const BODY_SHAPES: &[&str] = &[
    r#"{"webhookTimestamp":@}"#,
    r#"{"signature":{"timestamp":@,"token":@,"signature":@},"event-data":@}"#,
    r#"{"signature":@}"#,
    r#"{"event":"endpoint.url_validation","payload":{"plainToken":@}}"#,
    r#"{"event":@,"payload":@}"#,
    "timestamp=@&token=@&signature=@",
    "a=@&b=@&a=@&bodySHA256=@",
    "@",
];

const BODY_HOLES: &[&str] = &[
    "1700000000",
    "\"1700000000\"",
    "1700000000000",
    "\"1700000000000\"",
    "null",
    "true",
    "[]",
    "{}",
    "-1",
    "1.5",
    "1e400",
    "18446744073709551616",
    "\"\"",
    "\"abc\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"",
    "%zz",
    "%41%4a+",
    "\u{e9}",
    "\u{0}",
];

fn verify_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        body(),
        (
            select(BODY_SHAPES),
            prop::collection::vec(select(BODY_HOLES), 8)
        )
            .prop_map(|(shape, holes)| {
                let mut out = String::new();
                let mut holes = holes.into_iter();
                for (i, part) in shape.split('@').enumerate() {
                    if i > 0 {
                        out.push_str(holes.next().unwrap_or(""));
                    }
                    out.push_str(part);
                }
                out.into_bytes()
            }),
    ]
}

fn any_target() -> impl Strategy<Value = Uri> {
    prop_oneof![
        Just(Uri::from_static("/webhooks/in")),
        "/[a-z/]{0,10}(\\?[A-Za-z0-9=&%_.~-]{0,40})?"
            .prop_map(|t| t.parse().unwrap_or_else(|_| Uri::from_static("/"))),
        "/webhooks/in\\?hub\\.mode=(subscribe|x)&hub\\.verify_token=(meta-verify-token-9f2c|x)&hub\\.challenge=[a-z0-9%]{0,12}(&hub\\.mode=x)?"
            .prop_map(|t| t.parse().unwrap_or_else(|_| Uri::from_static("/"))),
    ]
}

/// Per header: leave it out, give it once, give it twice.
type HeaderPlan = Vec<(u8, Vec<u8>, Vec<u8>)>;

fn header_plan() -> impl Strategy<Value = HeaderPlan> {
    prop::collection::vec((0u8..4, header_value(), header_value()), 10)
}

fn apply_plan(names: &[HeaderName], plan: &HeaderPlan, base: &mut HeaderMap) {
    for (name, (mode, a, b)) in names.iter().zip(plan) {
        let value = |v: &[u8]| HeaderValue::from_bytes(v).unwrap();
        match mode {
            0 => {}
            1 => {
                base.insert(name.clone(), value(a));
            }
            2 => {
                base.append(name.clone(), value(a));
                base.append(name.clone(), value(b));
            }
            _ => {
                base.remove(name);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// No header value, body, target, method or clock makes any scheme panic; nor do the
    /// setup-handshake hooks. Half the cases start from a valid signature and change some of
    /// it, so the checks after the signature (timestamps in the body, handshakes) run too.
    #[test]
    fn verify_never_panics(
        which in any::<Index>(),
        plan in header_plan(),
        from_signed in any::<bool>(),
        content_type in select(vec!["", FORM, "application/json", "text/plain; charset=utf-8", "application/x-www-form-urlencoded;charset=\u{e9}"]),
        body in verify_body(),
        uri in any_target(),
        method in select(vec![Method::POST, Method::GET, Method::HEAD, Method::PUT]),
        now in prop_oneof![Just(UNIX_EPOCH + Duration::from_secs(NOW)), (0u64..(1 << 40)).prop_map(|s| UNIX_EPOCH + Duration::from_secs(s))],
    ) {
        let all = every_scheme();
        let s = &all[which.index(all.len())];
        let mut headers = HeaderMap::new();
        if !content_type.is_empty() {
            headers.insert("content-type", HeaderValue::from_str(content_type).unwrap());
        }
        let mut req = Req::new(&method, &uri, headers, &body);
        if from_signed {
            let signed = s.sign(&req.signed(), now);
            req.headers.extend(signed);
        }
        let mut names: Vec<HeaderName> = s.signed_headers().to_vec();
        names.extend(["x-hook-secret", "content-type"].map(HeaderName::from_static));
        if from_signed {
            // Change only some of a valid request.
            let keep = plan.len() / 2;
            let plan: HeaderPlan = plan.iter().take(keep).cloned().collect();
            apply_plan(&names, &plan, &mut req.headers);
        } else {
            apply_plan(&names, &plan, &mut req.headers);
        }
        let got = req.verify(&**s, now);
        let _ = s.before_verify(&req.signed());
        if let Ok(v) = &got {
            let _ = s.after_verify(&req.signed(), v);
        }
        let _ = s.after_verify(&req.signed(), &Verified { delivery_id: None, timestamp: None, secret_slot: 0, message: None });
    }
}

// ---------------------------------------------------------------------------------------
// (c) request targets

const PATH_PIECES: &[&str] = &[
    "/", "/", "/", ".", "..", "%", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "%25", "%00", "%41",
    "%2", "2", "e", "f", ";", ";x", "\\", "a", "b", "?", "#", " ", "\u{e9}", "*", "http://h",
    "h:80", ":", "@", "~", "%c0%ae", "%u002e", "\t", "\u{0}",
];

fn path_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(select(PATH_PIECES), 0..12).prop_map(|v| v.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// `check_path` never panics, and every path it accepts has no dot segment, no `//`, no
    /// backslash, no encoded `/ . \ %` or NUL, no bad escape and no byte a server could
    /// read otherwise.
    #[test]
    fn accepted_paths_are_plain(path in path_like()) {
        if check_path(&path).is_ok() {
            prop_assert_eq!(path_keeps_its_promises(&path), Ok(()), "{:?}", path);
        }
    }

    /// `check_target` never panics on anything that parses as a URI, over HTTP/1.1 and
    /// HTTP/2; what it accepts has a plain path and, over HTTP/1.1, is in origin form; its
    /// query has no NUL and no bad escape.
    #[test]
    fn accepted_targets_are_plain(target in path_like(), query in prop::option::of(path_like())) {
        let text = match &query {
            Some(q) => format!("{target}?{q}"),
            None => target.clone(),
        };
        let Ok(uri) = text.parse::<Uri>() else { return Ok(()) };
        for version in [Version::HTTP_10, Version::HTTP_11, Version::HTTP_2] {
            if check_target(&uri, version).is_err() {
                continue;
            }
            prop_assert_eq!(path_keeps_its_promises(uri.path()), Ok(()), "{:?} over {:?}", text, version);
            if version < Version::HTTP_2 {
                prop_assert!(uri.scheme().is_none() && uri.authority().is_none(), "{:?}", text);
            }
            if let Some(q) = uri.query() {
                prop_assert!(!q.to_ascii_lowercase().contains("%00"), "{:?}", text);
                prop_assert!(!q.bytes().any(|b| b <= b' ' || b == 0x7f || !b.is_ascii()), "{:?}", text);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// (c) timestamps, sizes, durations, templates

const TS_PIECES: &[&str] = &[
    "0",
    "1",
    "9",
    "17",
    "00",
    "2023",
    "-",
    "11",
    "14",
    "T",
    "t",
    "22",
    ":",
    "13",
    "20",
    ".",
    "123456789",
    "1234567890123",
    "Z",
    "z",
    "+",
    "01:00",
    "-23:59",
    " ",
    "9999",
    "0000",
    "60",
    "\u{e9}",
];

fn ts_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        "[0-9]{0,20}".prop_map(String::into_bytes),
        prop::collection::vec(select(TS_PIECES), 0..16).prop_map(|p| p.concat().into_bytes()),
    ]
}

const UNIT_PIECES: &[&str] = &[
    "0",
    "1",
    "9",
    "60",
    "1000",
    "99999999999999999999",
    "18446744073709551615",
    "k",
    "KB",
    "KiB",
    "m",
    "MiB",
    "g",
    "GiB",
    "b",
    "B",
    "ms",
    "s",
    "h",
    " ",
    ".",
    "-",
    "+",
    "\u{e9}",
    "\u{212a}",
    "\u{130}",
];

fn unit_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(select(UNIT_PIECES), 0..8).prop_map(|p| p.concat()),
    ]
}

const TEMPLATE_PIECES: &[&str] = &[
    "{",
    "}",
    "{{",
    "}}",
    "{body}",
    "{timestamp}",
    "{id}",
    "{method}",
    "{url}",
    "{nonce}",
    "{}",
    "a",
    ".",
    ":",
    "\u{e9}",
    "{body",
    "body}",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// Every timestamp reader takes any bytes without panicking; what the Unix readers accept
    /// is exactly what they write back (leading zeros aside), and an RFC 3339 reading written
    /// back reads as the same instant.
    #[test]
    fn timestamp_readers_never_panic_and_agree_with_write(raw in ts_bytes()) {
        for format in [TimestampFormat::UnixSeconds, TimestampFormat::UnixMillis, TimestampFormat::Rfc3339] {
            let Some(at) = format.read(&raw) else { continue };
            let written = format.write(at);
            match format {
                TimestampFormat::UnixSeconds | TimestampFormat::UnixMillis => {
                    let text = std::str::from_utf8(&raw).unwrap();
                    let trimmed = text.trim_start_matches('0');
                    prop_assert_eq!(written.as_str(), if trimmed.is_empty() { "0" } else { trimmed });
                }
                TimestampFormat::Rfc3339 => {
                    prop_assert_eq!(format.read(written.as_bytes()), Some(at), "{:?} → {}", String::from_utf8_lossy(&raw), written);
                }
            }
        }
    }

    /// `write` then `read` gives the instant back, to the format's precision.
    #[test]
    fn timestamp_write_then_read(at in instant()) {
        let since = at.duration_since(UNIX_EPOCH).unwrap();
        for (format, expected) in [
            (TimestampFormat::UnixSeconds, Duration::from_secs(since.as_secs())),
            (TimestampFormat::UnixMillis, Duration::from_millis(since.as_millis() as u64)),
            (TimestampFormat::Rfc3339, since),
        ] {
            prop_assert_eq!(format.read(format.write(at).as_bytes()), Some(UNIX_EPOCH + expected));
        }
    }

    /// `size::parse` and `duration::parse` never panic; what they accept is not zero and
    /// reads back the same from its display form.
    #[test]
    fn sizes_and_durations_never_panic(text in unit_text()) {
        if let Ok(n) = size::parse(&text) {
            prop_assert!(n >= 1);
            prop_assert_eq!(size::parse(&size::Display(n).to_string()), Ok(n), "{:?}", text);
        }
        if let Ok(d) = duration::parse(&text) {
            prop_assert!(d > Duration::ZERO);
            // The display form is in milliseconds at worst; it reads back while it fits.
            if d.as_millis() <= u128::from(u64::MAX) {
                prop_assert_eq!(duration::parse(&duration::display(d)), Ok(d), "{:?}", text);
            }
        }
    }

    /// `parse_template` never panics; what it accepts holds `{body}` exactly once and at most
    /// sixteen pieces, never two literals in a row.
    #[test]
    fn templates_never_panic(text in prop_oneof![
        any::<String>(),
        prop::collection::vec(select(TEMPLATE_PIECES), 0..20).prop_map(|p| p.concat()),
    ]) {
        if let Ok(parts) = parse_template(&text) {
            prop_assert_eq!(parts.iter().filter(|p| **p == Part::Body).count(), 1);
            prop_assert!(parts.len() <= 16);
            prop_assert!(!parts.windows(2).any(|w| matches!(w, [Part::Literal(_), Part::Literal(_)])));
        }
    }
}

// ---------------------------------------------------------------------------------------
// (c) the config loader

/// Looks every variable up as set: Standard Webhooks names get a `whsec_` secret, `B64`
/// names a base64 one, the rest a strong text secret.
fn env(name: &str) -> Option<String> {
    Some(if name.contains("WHSEC") {
        WHSEC.to_owned()
    } else if name.contains("B64") {
        b64(b"props-base64-secret-bytes-7f3a")
    } else {
        format!("props-{name}-8c1f9e2d")
    })
}

/// Relative secret files resolve against this folder, which does not exist.
const CONFIG_PATH: &str = "/nonexistent-hookwall-props/hookwall.toml";

/// A valid config that uses every kind of key: `tests/fixtures/every-kind-of-key.toml` with
/// its `@NAME@` markers replaced by public keys (secrets come from [`env`]). The fixture holds
/// no comment, so every edit `mutate` makes lands on config text.
fn valid_config() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        include_str!("fixtures/every-kind-of-key.toml")
            .replace("@WHPK@", &whpk_key())
            .replace("@DISCORD@", &discord_key())
            .replace("@SENDGRID@", &sendgrid_key())
    })
}

/// Characters that matter to TOML and to the values the loader parses.
const CONFIG_CHARS: &[char] = &[
    '"',
    '\'',
    '=',
    '[',
    ']',
    '{',
    '}',
    ',',
    '\n',
    '#',
    '\\',
    '.',
    '0',
    '1',
    '9',
    'a',
    'x',
    ' ',
    '\t',
    '\u{e9}',
    '\u{0}',
    '/',
    '%',
    ':',
    '-',
    'k',
    's',
    'm',
    '\r',
    '\u{1F600}',
];

const CONFIG_TOKENS: &[&str] = &[
    "[server]\n",
    "[[route]]\n",
    "\n",
    "path = ",
    "path_prefix = ",
    "name = ",
    "upstream = ",
    "provider = ",
    "secret = ",
    "public_key = ",
    "max_body = ",
    "tolerance = ",
    "listen = ",
    "hosts = ",
    "methods = ",
    "signature_list = ",
    "signed_payload = ",
    "handshake = ",
    "verify_token = ",
    "\"/a\"",
    "\"/a/../b\"",
    "\"github\"",
    "\"hmac\"",
    "\"mailgun\"",
    "\"http://127.0.0.1:5000\"",
    "\"5m\"",
    "\"1MiB\"",
    "0",
    "-1",
    "true",
    "{ env = \"X\" }",
    "{ file = \"x\" }",
    "[{ env = \"A\" }, { env = \"B\" }]",
    "[]",
    "{ separator = \",\", pair = \"=\", version = \"v1\" }",
    "\"\u{e9}\"",
    "\"{body}\"",
    "'",
    "\"",
    "=",
    "#",
];

fn config_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(select(CONFIG_TOKENS), 0..30).prop_map(|p| p.concat()),
    ]
}

/// Up to eight edits: delete, insert or replace a character, or repeat a line.
fn mutate(text: &str, edits: &[(Index, u8, Index)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, op, pick) in edits {
        let c = CONFIG_CHARS[pick.index(CONFIG_CHARS.len())];
        match op % 4 {
            0 if !chars.is_empty() => {
                chars.remove(at.index(chars.len()));
            }
            1 => chars.insert(at.index(chars.len() + 1), c),
            2 if !chars.is_empty() => {
                let i = at.index(chars.len());
                chars[i] = c;
            }
            _ => {
                let s: String = chars.iter().collect();
                let lines: Vec<&str> = s.split('\n').collect();
                let i = at.index(lines.len());
                let mut out = lines.clone();
                out.insert(i, lines[i]);
                chars = out.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

fn config_keeps_its_promises(cfg: &config::Config) -> Result<(), String> {
    for route in &cfg.routes {
        let path = match &route.path {
            config::PathMatch::Exact(p) | config::PathMatch::Prefix(p) => p,
        };
        check_path(path).map_err(|e| format!("route {} has path {path:?}: {e}", route.name))?;
        if route.methods.is_empty() || route.max_body == 0 {
            return Err(format!("route {} accepts nothing", route.name));
        }
    }
    Ok(())
}

#[test]
fn the_config_mutated_below_is_valid() {
    let cfg = config::parse(valid_config(), Path::new(CONFIG_PATH), &env).unwrap();
    assert_eq!(cfg.routes.len(), 12);
    config_keeps_its_promises(&cfg).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// `config::parse` never panics on any text.
    #[test]
    fn config_parse_never_panics(text in config_text()) {
        if let Ok(cfg) = config::parse(&text, Path::new(CONFIG_PATH), &env) {
            prop_assert_eq!(config_keeps_its_promises(&cfg), Ok(()));
        }
    }

    /// `config::parse` never panics on a valid config with a few characters or lines changed,
    /// and whatever it still accepts has routes a request can reach.
    #[test]
    fn config_parse_never_panics_on_a_mutated_config(
        edits in prop::collection::vec((any::<Index>(), any::<u8>(), any::<Index>()), 1..8),
    ) {
        let text = mutate(valid_config(), &edits);
        if let Ok(cfg) = config::parse(&text, Path::new(CONFIG_PATH), &env) {
            prop_assert_eq!(config_keeps_its_promises(&cfg), Ok(()));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cases the searches above found, kept as plain tests

/// Found by `twilio_form_round_trips_and_signs_the_parameters`: Twilio's formula writes each
/// name and value one after the other with no separator, so the form `a=b` (one parameter)
/// and `a&b` (two, without values) sign the same bytes, as do `=` and `&`. This is Twilio's
/// documented algorithm, which its SDKs share; hookwall has to agree with it, and an app
/// behind a Twilio route must not trust the form's *shape* more than Twilio's signature does.
#[test]
fn twilio_form_names_and_values_are_not_separated() {
    let s = twilio(false);
    let uri = target(None);
    let sign = |body: &[u8]| {
        let req = Req::new(
            &Method::POST,
            &uri,
            header_map(&[("content-type", FORM)]),
            body,
        );
        let mut signed = req.clone();
        signed.headers.extend(s.sign(&req.signed(), UNIX_EPOCH));
        signed
    };
    for (signed, other) in [
        (&b"a=b"[..], &b"a&b"[..]),
        (b"=", b"&"),
        (b"a=1&b=z", b"a=1&b&z"),
    ] {
        let mut req = sign(signed);
        assert_eq!(req.verify(&*s, UNIX_EPOCH).map(|v| v.secret_slot), Ok(0));
        req.body = other.to_vec();
        assert_ne!(twilio_params(signed), twilio_params(other));
        assert_eq!(
            req.verify(&*s, UNIX_EPOCH).map(|v| v.secret_slot),
            Ok(0),
            "{:?} and {:?} sign alike",
            String::from_utf8_lossy(signed),
            String::from_utf8_lossy(other)
        );
    }
}

/// Not found by a search but by reading where the request path checks stop: `check_path`
/// refuses a `..;` segment (`/a/..;/b`, which servers that strip `;` parameters read as `..`)
/// and every encoded dot, but not an encoded semicolon: `/a/..%3B/b` passes, and a server
/// that decodes the path before it strips parameters sees `/a/..;/b`, then `/b` (the reason
/// Spring Security's firewall refuses `%3B`). The fix is to refuse `%3B` in paths (or a dot
/// segment followed by it) in `target::check_escapes` / `check_path`.
#[test]
fn an_encoded_semicolon_does_not_hide_a_dot_segment() {
    for path in [
        "/a/..%3B/b",
        "/a/..%3b/b",
        "/a/.%3Bx/b",
        "/hooks/..%3B/admin",
    ] {
        assert!(check_path(path).is_err(), "{path} is accepted");
        let uri: Uri = path.parse().unwrap();
        assert!(
            check_target(&uri, Version::HTTP_11).is_err(),
            "{path} is accepted"
        );
    }
}

/// Not found by a search but by following what `config::parse` accepts to where it is used:
/// a duration is any whole number of units up to `u64::MAX` seconds, and the request path
/// adds some of them to a clock reading or to another duration with the panicking operators:
/// `src/replay.rs` `MemoryStore::deliver` (`now + window`, also `claim`'s `now + in_flight`)
/// and `src/proxy.rs` (`upstream_timeout + IN_FLIGHT_MARGIN`). With `tolerance` or
/// `replay_window` of `18446744073709551615s`, every verified delivery on the route panics
/// once forwarded (the upstream got it, the sender gets a reset, the claim stays in flight);
/// with such an `upstream_timeout`, every verified delivery on a replay-protected route panics
/// before it is forwarded. The fix is a ceiling in `duration::parse` (or per key), or
/// `checked_add` with a far-future fallback where the sums are made.
#[test]
fn durations_the_config_accepts_never_overflow_where_they_are_used() {
    let text = |d: &str| {
        format!(
            r#"
[server]
upstream_timeout = "{d}"

[[route]]
path = "/webhooks/stripe"
upstream = "http://127.0.0.1:5000"
provider = "stripe"
secret = {{ env = "STRIPE" }}
tolerance = "{d}"
"#
        )
    };
    // Durations past a year are refused when the config is read.
    let err =
        config::parse(&text("18446744073709551615s"), Path::new(CONFIG_PATH), &env).unwrap_err();
    assert!(err.to_string().contains("longer than a year"), "{err}");
    // The longest accepted ones are safe where the request path adds them up.
    let cfg = config::parse(&text("8784h"), Path::new(CONFIG_PATH), &env).unwrap();
    let window = cfg.routes[0]
        .replay_window
        .expect("stripe routes have replay on");
    assert!(cfg
        .server
        .upstream_timeout
        .checked_add(Duration::from_secs(10))
        .is_some());
    let store = hookwall::replay::MemoryStore::new(16);
    let now = tokio::time::Instant::now();
    store.claim("delivery", cfg.server.upstream_timeout, now);
    store.deliver("delivery", window, now);
    assert_eq!(
        store.claim("delivery", Duration::from_secs(20), now),
        hookwall::replay::Claim::Delivered
    );
}
