//! Mailgun's body parser (JSON and form), through the mailgun scheme's `verify`.
//!
//! Input: `[flags]` then the rest. Flags bits 0-1 pick the mode:
//! 0. the rest is the body, with the content type of bits 2-3 (form, form with a charset,
//!    JSON, none);
//! 1. form: the rest, then a valid `&timestamp=…&token=…&signature=…`: it verifies unless the
//!    rest already holds one of those three fields (a duplicate is refused);
//! 2. JSON: `{"event-data":<rest>,"signature":{…valid…}}`: it verifies whenever the rest is a
//!    JSON value;
//! 3. JSON: the rest is the token (written as JSON); when it is a JSON string, the signature is
//!    made over what it decodes to, and it verifies.
#![no_main]

use hookwall::scheme::{self, Options, Scheme, Signed, Unverified};
use hookwall_fuzz::{hmac_sha256_hex, now, secret, NOW, SECRET};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

fn mailgun() -> &'static dyn Scheme {
    static S: std::sync::OnceLock<std::sync::Arc<dyn Scheme>> = std::sync::OnceLock::new();
    &**S.get_or_init(|| {
        scheme::build(
            &Options {
                provider: "mailgun",
                ..Options::default()
            },
            vec![secret(SECRET.as_bytes())],
        )
        .expect("mailgun builds")
    })
}

fn verify(content_type: Option<&'static str>, body: &[u8]) -> Result<(), Unverified> {
    let mut headers = HeaderMap::new();
    if let Some(ct) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let uri = Uri::from_static("/webhooks/mailgun");
    mailgun()
        .verify(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body,
            },
            now(),
        )
        .map(|v| {
            assert!(v.timestamp.is_some());
        })
}

const FORM: &str = "application/x-www-form-urlencoded";

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else {
        return;
    };
    let ts = NOW.to_string();
    let token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0aabbccddeeff001122";
    let sig = hmac_sha256_hex(&[ts.as_bytes(), token.as_bytes()]);
    match flags & 3 {
        0 => {
            let ct = [
                Some(FORM),
                Some("application/x-www-form-urlencoded; charset=utf-8"),
                Some("application/json"),
                None,
            ][usize::from(flags >> 2 & 3)];
            let got = verify(ct, rest);
            // Only a valid signature passes, and none can be in fuzz input by chance.
            assert!(
                got.is_err()
                    || rest
                        .windows(64)
                        .any(|w| w.iter().all(u8::is_ascii_hexdigit))
            );
        }
        1 => {
            let body = [
                rest,
                format!("&timestamp={ts}&token={token}&signature={sig}").as_bytes(),
            ]
            .concat();
            let duplicate = form_urlencoded::parse(rest)
                .any(|(k, _)| matches!(&*k, "timestamp" | "token" | "signature"));
            let got = verify(Some(FORM), &body);
            if duplicate {
                assert!(
                    matches!(
                        got,
                        Err(Unverified::DuplicateTimestamp
                            | Unverified::DuplicateId
                            | Unverified::DuplicateSignature)
                    ),
                    "{got:?}"
                );
            } else {
                assert_eq!(got, Ok(()), "{}", String::from_utf8_lossy(&body));
            }
        }
        2 => {
            let body = [
                br#"{"event-data":"#.as_slice(),
                rest,
                format!(
                    r#","signature":{{"timestamp":"{ts}","token":"{token}","signature":"{sig}"}}}}"#
                )
                .as_bytes(),
            ]
            .concat();
            let got = verify(Some("application/json"), &body);
            if serde_json::from_slice::<serde_json::Value>(rest).is_ok() {
                assert_eq!(got, Ok(()), "{}", String::from_utf8_lossy(&body));
            }
        }
        _ => {
            let Ok(serde_json::Value::String(decoded)) = serde_json::from_slice(rest) else {
                let body = [
                    format!(r#"{{"signature":{{"timestamp":{ts},"token":"#).as_bytes(),
                    rest,
                    format!(r#","signature":"{sig}"}}}}"#).as_bytes(),
                ]
                .concat();
                let _ = verify(Some("application/json"), &body);
                return;
            };
            let sig = hmac_sha256_hex(&[ts.as_bytes(), decoded.as_bytes()]);
            let body = [
                format!(r#"{{"signature":{{"timestamp":{ts},"token":"#).as_bytes(),
                rest,
                format!(r#","signature":"{sig}"}}}}"#).as_bytes(),
            ]
            .concat();
            let got = verify(Some("application/json"), &body);
            assert_eq!(got, Ok(()), "{}", String::from_utf8_lossy(&body));
        }
    }
});
