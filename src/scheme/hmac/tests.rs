//! The generic engine against signatures computed here, independently of it: every
//! algorithm and encoding, prefixes and lists, timestamps at the edges of their tolerance,
//! rotation, templates, and the errors `build` names.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::*;
use crate::scheme::{Options, Scheme, Signed, Unverified, Verified};
use crate::secret::{Secret, SecretSource};

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

fn check(s: &HmacScheme, headers: &[(&str, &str)], body: &[u8]) -> Result<Verified, Unverified> {
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
