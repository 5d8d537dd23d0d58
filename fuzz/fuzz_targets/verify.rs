//! Every scheme's header (and body) parsing through `verify`, and the setup-handshake hooks.
//!
//! Input: `[scheme][flags]`, then one value per header the scheme reads (in
//! `signed_headers()` order, then `content-type`, then `x-hook-secret`), each ended by `\n`
//! (an empty value leaves the header out), then the body: everything after the last `\n`.
//!
//! Flags: bit 0 starts from the headers `sign` writes for this body (a valid delivery) and
//! lays the given values over them; bit 1 sends the first given header twice; bits 2-3 pick
//! the method; bit 4 adds a query with escapes to the target; bit 5 takes the query from one
//! more `\n`-ended value, read before the body (as for Meta's `hub.*` handshake). When bit 0
//! is set, nothing is laid over a signed header, and the scheme's `sign` makes whole
//! deliveries, `verify` must accept.
#![no_main]

use hookwall::scheme::{Signed, Unverified, Verified};
use hookwall_fuzz::{header_value, now, schemes};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, Method, Uri};
use libfuzzer_sys::fuzz_target;

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fuzz_target!(|data: &[u8]| {
    let [pick, flags, rest @ ..] = data else {
        return;
    };
    let all = schemes();
    let entry = &all[usize::from(*pick) % all.len()];
    let s = &*entry.scheme;
    let signed_names = s.signed_headers().len();
    let mut names: Vec<HeaderName> = s.signed_headers().to_vec();
    names.push(CONTENT_TYPE);
    names.push(HeaderName::from_static("x-hook-secret"));
    let with_query = flags & 32 != 0;
    let mut parts = rest.splitn(names.len() + 1 + usize::from(with_query), |&b| b == b'\n');
    let values: Vec<&[u8]> = names.iter().map(|_| parts.next().unwrap_or(b"")).collect();
    let query = if with_query { parts.next() } else { None };
    let body = parts.next().unwrap_or(b"");
    let method =
        [Method::POST, Method::GET, Method::HEAD, Method::PUT][usize::from(flags >> 2 & 3)].clone();
    let uri = match query.map(|q| Uri::try_from([b"/webhooks/in?".as_slice(), q].concat())) {
        Some(Ok(uri)) => uri,
        _ if flags & 16 != 0 => Uri::from_static("/webhooks/in?next=%2Fhome%3Fa%3D1&x=%20&y=%zz"),
        _ => Uri::from_static("/webhooks/in"),
    };
    let from_signed = flags & 1 != 0;
    let mut headers = HeaderMap::new();
    let content_type = values[signed_names];
    if !content_type.is_empty() {
        headers.insert(CONTENT_TYPE, header_value(content_type));
    }
    if from_signed {
        let signed = s.sign(
            &Signed {
                method: &method,
                uri: &uri,
                headers: &headers,
                body,
            },
            now(),
        );
        headers.extend(signed);
    }
    let mut overlaid = false;
    let mut first = true;
    for (i, (name, value)) in names.iter().zip(&values).enumerate() {
        if value.is_empty() || *name == CONTENT_TYPE {
            continue;
        }
        let v = header_value(value);
        headers.insert(name.clone(), v.clone());
        if flags & 2 != 0 && first {
            headers.append(name.clone(), v);
        }
        first = false;
        overlaid |= i < signed_names || flags & 2 != 0;
    }
    let req = Signed {
        method: &method,
        uri: &uri,
        headers: &headers,
        body,
    };
    let got = s.verify(&req, now());
    // Twilio reads `bodySHA256` from the query: then the body must hash to it.
    let body_hash = uri
        .query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "bodySHA256"));
    if from_signed && !overlaid && entry.round_trips && !body_hash {
        // Twilio signs no body but a form (or one hashed into the URL), and refuses the rest.
        let unsigned_body = s.provider() == "twilio" && !body.is_empty() && !is_form(&headers);
        if unsigned_body {
            assert_eq!(got, Err(Unverified::MalformedBody), "{headers:?}");
        } else {
            assert!(
                got.is_ok(),
                "{}: sign then verify gave {got:?} for {headers:?}",
                s.provider()
            );
        }
    }
    let _ = s.before_verify(&req);
    let verified = got.unwrap_or(Verified {
        delivery_id: None,
        timestamp: None,
        secret_slot: 0,
        message: None,
    });
    let _ = s.after_verify(&req, &verified);
});
