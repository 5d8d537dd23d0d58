//! The timestamp readers: `TimestampFormat::read` in each format, and the same bytes as a
//! signed timestamp through the schemes that carry one in a header (Slack: Unix seconds,
//! HubSpot: Unix milliseconds, Twitch: RFC 3339), in a signature list (Stripe) and in a JSON
//! body (Linear). The signatures are computed here, so `verify` must accept exactly when the
//! timestamp reads and is within the route's tolerance of now.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwall::scheme::common::TimestampFormat;
use hookwall::scheme::{self, Options, Scheme, Signed, Unverified};
use hookwall_fuzz::{hmac_sha256_hex, now, secret, SECRET, URL};
use hookwall_testkit::reference::{b64, mac256};
use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

fn within(at: SystemTime, tolerance: u64) -> bool {
    let skew = match at.duration_since(now()) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    skew <= Duration::from_secs(tolerance)
}

fn preset(name: &str) -> std::sync::Arc<dyn Scheme> {
    scheme::build(
        &Options {
            provider: name,
            public_url: (name == "hubspot").then_some(URL),
            ..Options::default()
        },
        vec![secret(SECRET.as_bytes())],
    )
    .expect("preset builds")
}

fn verify(
    s: &dyn Scheme,
    headers: &[(&'static str, HeaderValue)],
    body: &[u8],
) -> Result<(), Unverified> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(*k, v.clone());
    }
    let uri = Uri::from_static("/webhooks/in");
    s.verify(
        &Signed {
            method: &Method::POST,
            uri: &uri,
            headers: &map,
            body,
        },
        now(),
    )
    .map(|_| ())
}

fuzz_target!(|data: &[u8]| {
    for format in [
        TimestampFormat::UnixSeconds,
        TimestampFormat::UnixMillis,
        TimestampFormat::Rfc3339,
    ] {
        let Some(at) = format.read(data) else {
            continue;
        };
        let written = format.write(at);
        match format {
            TimestampFormat::UnixSeconds | TimestampFormat::UnixMillis => {
                let text = std::str::from_utf8(data).expect("digits");
                let trimmed = text.trim_start_matches('0');
                assert_eq!(written, if trimmed.is_empty() { "0" } else { trimmed });
            }
            TimestampFormat::Rfc3339 => {
                assert_eq!(format.read(written.as_bytes()), Some(at), "{written}");
            }
        }
    }

    let body = b"{\"event\":\"fuzz\"}";
    if let Ok(ts) = HeaderValue::from_bytes(data) {
        let t = ts.as_bytes();
        // Slack: `v0:{timestamp}:{body}`, Unix seconds, 300 s.
        let sig = format!("v0={}", hmac_sha256_hex(&[b"v0:", t, b":", body]));
        let got = verify(
            &*preset("slack"),
            &[
                ("x-slack-request-timestamp", ts.clone()),
                ("x-slack-signature", HeaderValue::from_str(&sig).unwrap()),
            ],
            body,
        );
        let ok = TimestampFormat::UnixSeconds
            .read(t)
            .is_some_and(|at| within(at, 300));
        assert_eq!(got.is_ok(), ok, "slack {got:?}");

        // HubSpot v3: `{method}{url}{body}{timestamp}`, Unix milliseconds, 300 s, base64.
        let sig = b64(&mac256(
            SECRET.as_bytes(),
            &[b"POST", URL.as_bytes(), body, t],
        ));
        let got = verify(
            &*preset("hubspot"),
            &[
                ("x-hubspot-request-timestamp", ts.clone()),
                (
                    "x-hubspot-signature-v3",
                    HeaderValue::from_str(&sig).unwrap(),
                ),
            ],
            body,
        );
        let ok = TimestampFormat::UnixMillis
            .read(t)
            .is_some_and(|at| within(at, 300));
        assert_eq!(got.is_ok(), ok, "hubspot {got:?}");

        // Twitch: `{id}{timestamp}{body}`, RFC 3339, 600 s.
        let sig = format!("sha256={}", hmac_sha256_hex(&[b"msg-1", t, body]));
        let got = verify(
            &*preset("twitch"),
            &[
                (
                    "twitch-eventsub-message-id",
                    HeaderValue::from_static("msg-1"),
                ),
                ("twitch-eventsub-message-timestamp", ts.clone()),
                (
                    "twitch-eventsub-message-signature",
                    HeaderValue::from_str(&sig).unwrap(),
                ),
            ],
            body,
        );
        let ok = TimestampFormat::Rfc3339
            .read(t)
            .is_some_and(|at| within(at, 600));
        assert_eq!(got.is_ok(), ok, "twitch {got:?}");

        // Stripe: `t={timestamp},v1={sig}`, where the list's own syntax leaves the bytes alone.
        if let Ok(text) = std::str::from_utf8(t) {
            if !text.contains([',', '=']) && text.trim() == text {
                let sig = hmac_sha256_hex(&[t, b".", body]);
                let header = format!("t={text},v1={sig}");
                let got = verify(
                    &*preset("stripe"),
                    &[("stripe-signature", HeaderValue::from_str(&header).unwrap())],
                    body,
                );
                let ok = TimestampFormat::UnixSeconds
                    .read(t)
                    .is_some_and(|at| within(at, 300));
                assert_eq!(got.is_ok(), ok, "stripe {got:?}");
            }
        }
    }

    // Linear: the timestamp is a field of the signed JSON body, read once the body verifies.
    let linear = preset("linear");
    for body in [
        [
            br#"{"action":"create","webhookTimestamp":"#.as_slice(),
            data,
            b"}",
        ]
        .concat(),
        data.to_vec(),
    ] {
        let sig = hmac_sha256_hex(&[&body]);
        let got = verify(
            &*linear,
            &[("linear-signature", HeaderValue::from_str(&sig).unwrap())],
            &body,
        );
        if got.is_ok() {
            let value: serde_json::Value = serde_json::from_slice(&body).expect("verified JSON");
            let raw = match &value["webhookTimestamp"] {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => panic!("accepted a timestamp of {other}"),
            };
            let at = TimestampFormat::UnixMillis
                .read(raw.as_bytes())
                .expect("accepted");
            assert!(within(at, 60), "{raw}");
            assert!(at >= UNIX_EPOCH);
        }
    }
});
