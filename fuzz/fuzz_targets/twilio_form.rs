//! Twilio's form parameters, through the twilio scheme's `verify` with a form content type.
//!
//! Input: `[flags][position]`, then the query string up to the first `\n`, then the body.
//! Flags: bit 0 picks sha256 over sha1; bits 1-2 the content type (three spellings of a form,
//! and JSON). The body is signed by `sign`, which must then verify; then byte `position` of the
//! body is changed, and the delivery must still verify exactly when Twilio would sign the same
//! bytes (the decoded, sorted, distinct pairs, each name then its value with no separator;
//! never, when the query carries the body's `bodySHA256`). A body that is neither a form nor
//! hashed into the query is signed by nobody, and must be refused as malformed.
#![no_main]

use hookwall::scheme::{self, Options, Scheme, Signed, Unverified};
use hookwall_fuzz::{now, secret, SECRET, URL};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

fn twilio(sha256: bool, key: &str) -> std::sync::Arc<dyn Scheme> {
    scheme::build(
        &Options {
            provider: "twilio",
            public_url: Some(URL),
            algorithm: sha256.then_some("sha256"),
            ..Options::default()
        },
        vec![secret(key.as_bytes())],
    )
    .expect("twilio builds")
}

/// What Twilio signs after the URL: the decoded pairs, sorted, each once, every name then its
/// value, with no separator (so `a=b` and `a&b` sign alike).
fn signed_params(body: &[u8]) -> Vec<u8> {
    let mut p: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    p.sort();
    p.dedup();
    p.iter()
        .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()])
        .flatten()
        .copied()
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let [flags, position, rest @ ..] = data else {
        return;
    };
    let (query, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let target = if query.is_empty() {
        "/webhooks/twilio".to_owned()
    } else {
        format!("/webhooks/twilio?{query}")
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return;
    };
    let sha256 = flags & 1 != 0;
    let content_type = [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        " Application/X-WWW-Form-Urlencoded ;",
        "application/json",
    ][usize::from(flags >> 1 & 3)];
    let is_form = flags >> 1 & 3 != 3;
    let body_hash = uri
        .query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "bodySHA256"));
    let s = twilio(sha256, SECRET);
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    let req = |headers: &HeaderMap, body: &[u8]| {
        s.verify(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers,
                body,
            },
            now(),
        )
    };
    let signed = s.sign(
        &Signed {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body,
        },
        now(),
    );
    headers.extend(signed);
    let got = req(&headers, body);
    if !body_hash && !is_form && !body.is_empty() {
        // A body neither a form nor hashed into the URL is signed by nobody: refused.
        assert_eq!(got.map(|_| ()), Err(Unverified::MalformedBody));
        return;
    }
    if !body_hash {
        assert!(got.is_ok(), "sign then verify: {got:?}");
        // Another auth token never verifies.
        let other = twilio(sha256, "another-token-3e9d").sign(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body,
            },
            now(),
        );
        let mut wrong = headers.clone();
        wrong.extend(other);
        assert_eq!(
            req(&wrong, body).map(|_| ()),
            Err(Unverified::SignatureMismatch)
        );
    }
    if body.is_empty() || got.is_err() {
        return;
    }
    let mut tampered = body.to_vec();
    let i = usize::from(*position) % body.len();
    tampered[i] = tampered[i].wrapping_add(1 + flags / 8);
    let verifies = req(&headers, &tampered).is_ok();
    let expected = !body_hash && signed_params(&tampered) == signed_params(body);
    assert_eq!(
        verifies,
        expected,
        "{:?} → {:?}",
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&tampered)
    );
});
