//! `provider = "twilio"`: `X-Twilio-Signature` is base64 HMAC-SHA1, keyed with the account's
//! auth token, over the URL Twilio requested (the route's `public_url` plus the request's query
//! string) followed, for form posts, by every parameter name and value, sorted by name (and
//! each name's values sorted). For JSON bodies Twilio adds `bodySHA256=<hex sha256 of the
//! body>` to the URL's query and signs the URL alone; the body hash is checked too.
//!
//! Twilio's shared-key webhook settings sign the same bytes with HMAC-SHA256; a route opts in
//! with `algorithm = "sha256"`. Like Twilio's own SDKs, both spellings of the URL are tried: with the default port written
//! out (`:443` for https) and without any port. The algorithm is fixed here: no request header
//! can choose it. hookwall never builds the URL from the `Host` header.
//!
//! Reference: <https://www.twilio.com/docs/usage/security#validating-requests>

use std::time::SystemTime;

use base64::Engine as _;
use http::{header, HeaderMap, HeaderName, HeaderValue, Uri};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::common::{delivery_id, public_url, single, BASE64_LENIENT_PADDING};
use super::hmac::{Algorithm, Key, Tag, MAX_TAG};
use super::{BuildError, Options, Scheme, Signed, Unverified, Verified};
use crate::secret::Secret;

static SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");
static IDEMPOTENCY: HeaderName = HeaderName::from_static("i-twilio-idempotency-token");

/// Twilio's URL-and-parameters scheme.
pub struct Twilio {
    algorithm: Algorithm,
    keys: Vec<Key>,
    public_url: String,
    signed_headers: [HeaderName; 1],
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("public_url", &self.public_url)
            .field("keys", &format_args!("<{} redacted>", self.keys.len()))
            .finish()
    }
}

/// Builds the Twilio check.
///
/// `algorithm` is `sha1` (the default, the Auth Token scheme) or `sha256` (Twilio's
/// shared-key webhook settings, which announce themselves in a header that hookwall does not
/// trust to choose).
///
/// # Errors
/// `public_url` missing or malformed; another algorithm; any other scheme key.
pub fn build(opts: &Options<'_>, secrets: &[Secret]) -> Result<Twilio, BuildError> {
    super::refuse_keys(opts, "twilio", &["public_url", "algorithm"])?;
    let algorithm = match opts.algorithm {
        None | Some("sha1") => Algorithm::Sha1,
        Some("sha256") => Algorithm::Sha256,
        Some(other) => {
            return Err(BuildError::new(
                "algorithm",
                format!(
                    "Twilio signs with sha1 (auth token) or sha256 (shared keys), not `{other}`"
                ),
            ))
        }
    };
    let url = opts.public_url.ok_or_else(|| {
        BuildError::new(
            "public_url",
            "missing: Twilio signs the URL it posts to; give it as configured in Twilio, \
             e.g. public_url = \"https://example.com/webhooks/twilio\"",
        )
    })?;
    Ok(Twilio {
        algorithm,
        keys: secrets
            .iter()
            .map(|s| Key::new(algorithm, s.expose()))
            .collect(),
        public_url: public_url("public_url", url)?,
        signed_headers: [SIGNATURE.clone()],
    })
}

impl Twilio {
    /// The URL as Twilio requested it: `public_url`, and the request's query if it has one.
    fn url(&self, uri: &Uri) -> String {
        match uri.query() {
            Some(q) => format!("{}?{q}", self.public_url),
            None => self.public_url.clone(),
        }
    }

    /// The form parameters that are signed: sorted by name, each name's distinct values
    /// sorted, as Twilio's SDKs (Python and Node) do. Empty unless the body is a form.
    fn params(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
        if !is_form(headers) {
            return Vec::new();
        }
        let mut params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        params.sort();
        // Twilio's SDKs sign each distinct value of a name once (a set, then sorted).
        params.dedup();
        params
    }

    fn tag(key: &Key, url: &str, params: &[(String, String)]) -> Tag {
        let mut pieces: Vec<&[u8]> = Vec::with_capacity(1 + params.len() * 2);
        pieces.push(url.as_bytes());
        for (name, value) in params {
            pieces.push(name.as_bytes());
            pieces.push(value.as_bytes());
        }
        key.tag(&pieces)
    }
}

/// Whether the request body is a form (`application/x-www-form-urlencoded`).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// `url` with its port written out and without it: Twilio's SDKs accept either.
fn url_forms(url: &str) -> [String; 2] {
    let Some((scheme, rest)) = url.split_once("://") else {
        return [url.to_owned(), url.to_owned()];
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal's colons are inside brackets.
        Some((h, p)) if !p.contains(']') && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (authority, None),
    };
    let default = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    let with_port = format!("{scheme}://{host}:{}{tail}", port.unwrap_or(default));
    let without_port = format!("{scheme}://{host}{tail}");
    [with_port, without_port]
}

/// The `bodySHA256` query parameter, if the URL has one.
fn body_sha256(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v.into_owned())
}

impl Scheme for Twilio {
    fn provider(&self) -> &'static str {
        "twilio"
    }

    fn verify(&self, req: &Signed<'_>, _now: SystemTime) -> Result<Verified, Unverified> {
        let value = single(
            req.headers,
            &SIGNATURE,
            Unverified::MissingSignature,
            Unverified::DuplicateSignature,
        )?;
        let mut claimed = [0u8; MAX_TAG + 3];
        let n = BASE64_LENIENT_PADDING
            .decode_slice(value.as_bytes(), &mut claimed)
            .map_err(|_| Unverified::MalformedSignature)?;
        if n != self.algorithm.tag_len() {
            return Err(Unverified::MalformedSignature);
        }
        let claimed = &claimed[..n];
        let params = match body_sha256(req.uri) {
            Some(expected) => {
                // JSON (or any non-form) body: the URL carries the body's hash.
                let actual = hex::encode(Sha256::digest(req.body));
                if !bool::from(
                    actual
                        .as_bytes()
                        .ct_eq(expected.to_ascii_lowercase().as_bytes()),
                ) {
                    return Err(Unverified::SignatureMismatch);
                }
                Vec::new()
            }
            // A body that is neither a form nor hashed into the URL is not signed at all:
            // forwarding it would forward bytes nobody vouched for.
            None if !req.body.is_empty() && !is_form(req.headers) => {
                return Err(Unverified::MalformedBody)
            }
            None => Twilio::params(req.headers, req.body),
        };
        let forms = url_forms(&self.url(req.uri));
        // The first secret's tag over the URL with its port written out identifies the
        // signed message (for replay protection), whichever spelling the sender used.
        let mut identity = None;
        let secret_slot = super::first_match(self.keys.iter().enumerate().map(|(slot, key)| {
            forms
                .iter()
                .enumerate()
                .fold(subtle::Choice::from(0), |ok, (form, url)| {
                    let tag = Twilio::tag(key, url, &params);
                    if slot == 0 && form == 0 {
                        identity = Some(Sha256::digest(tag.as_bytes()).into());
                    }
                    ok | tag.as_bytes().ct_eq(claimed)
                })
        }))?;
        Ok(Verified {
            delivery_id: delivery_id(req.headers, &IDEMPOTENCY),
            timestamp: None,
            secret_slot,
            message: identity,
        })
    }

    fn sign(&self, req: &Signed<'_>, _now: SystemTime) -> HeaderMap {
        let mut out = HeaderMap::new();
        let Some(key) = self.keys.first() else {
            return out;
        };
        let params = match body_sha256(req.uri) {
            Some(_) => Vec::new(),
            None => Twilio::params(req.headers, req.body),
        };
        let tag = Twilio::tag(key, &self.url(req.uri), &params);
        let value = base64::engine::general_purpose::STANDARD.encode(tag.as_bytes());
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.insert(SIGNATURE.clone(), v);
        }
        out
    }

    fn signed_headers(&self) -> &[HeaderName] {
        &self.signed_headers
    }

    /// Twilio sends `I-Twilio-Idempotency-Token` with every request.
    fn replay_default(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use http::Method;

    fn twilio(token: &str, url: &str) -> Twilio {
        let secrets = [Secret::from_bytes(
            token,
            crate::secret::SecretSource::Env("T".into()),
        )];
        build(
            &Options {
                provider: "twilio",
                public_url: Some(url),
                ..Options::default()
            },
            &secrets,
        )
        .unwrap()
    }

    fn check(
        t: &Twilio,
        target: &str,
        content_type: Option<&str>,
        body: &[u8],
        sig: &str,
    ) -> Result<usize, Unverified> {
        let uri: Uri = target.parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-twilio-signature", sig.parse().unwrap());
        if let Some(ct) = content_type {
            headers.insert("content-type", ct.parse().unwrap());
        }
        t.verify(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body,
            },
            SystemTime::now(),
        )
        .map(|v| v.secret_slot)
    }

    const FORM: &str = "application/x-www-form-urlencoded";

    /// Twilio's documented example (usage/security, "Explore the algorithm yourself").
    #[test]
    fn twilio_documented_example() {
        let t = twilio("12345", "https://example.com/myapp.php");
        let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234&From=%2B14158675310&To=%2B18005551212";
        assert_eq!(
            check(
                &t,
                "/myapp.php?foo=1&bar=2",
                Some(FORM),
                body,
                "L/OH5YylLD5NRKLltdqwSvS0BnU="
            ),
            Ok(0)
        );
        // Parameter order on the wire does not matter; their values do.
        let reordered = b"To=%2B18005551212&Digits=1234&From=%2B14158675310&Caller=%2B14158675310&CallSid=CA1234567890ABCDE";
        assert_eq!(
            check(
                &t,
                "/myapp.php?foo=1&bar=2",
                Some(FORM),
                reordered,
                "L/OH5YylLD5NRKLltdqwSvS0BnU="
            ),
            Ok(0)
        );
        let changed = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1235&From=%2B14158675310&To=%2B18005551212";
        assert_eq!(
            check(
                &t,
                "/myapp.php?foo=1&bar=2",
                Some(FORM),
                changed,
                "L/OH5YylLD5NRKLltdqwSvS0BnU="
            ),
            Err(Unverified::SignatureMismatch)
        );
        // Another query string is another URL.
        assert_eq!(
            check(
                &t,
                "/myapp.php?foo=1&bar=3",
                Some(FORM),
                body,
                "L/OH5YylLD5NRKLltdqwSvS0BnU="
            ),
            Err(Unverified::SignatureMismatch)
        );
    }

    /// twilio-python's test vectors (tests/unit/test_request_validator.py): the URL with and
    /// without its default port, and repeated parameter names.
    #[test]
    fn twilio_sdk_vectors() {
        let body = b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
        for url in [
            "https://mycompany.com/myapp.php",
            "https://mycompany.com:443/myapp.php",
        ] {
            let t = twilio("12345", url);
            for sig in [
                "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
                "kvajT1Ptam85bY51eRf/AJRuM3w=",
            ] {
                assert_eq!(
                    check(&t, "/myapp.php?foo=1&bar=2", Some(FORM), body, sig),
                    Ok(0),
                    "{url} {sig}"
                );
            }
        }
        let t = twilio("12345", "http://mycompany.com:1234/myapp.php");
        assert_eq!(
            check(
                &t,
                "/myapp.php?foo=1&bar=2",
                Some(FORM),
                body,
                "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
            ),
            Ok(0)
        );
        let t = twilio("12345", "https://mycompany.com/myapp.php");
        let repeated = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
        assert_eq!(
            check(
                &t,
                "/myapp.php?foo=1&bar=2",
                Some(FORM),
                repeated,
                "IK+Dwps556ElfBT0I3Rgjkr1wJU="
            ),
            Ok(0)
        );
    }

    /// JSON bodies: the URL carries the body's SHA-256 and the signature covers the URL only
    /// (twilio-python's test vector).
    #[test]
    fn twilio_json_body_hash() {
        let t = twilio("12345", "https://mycompany.com/myapp.php");
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let target = format!("/myapp.php?foo=1&bar=2&bodySHA256={hash}");
        assert_eq!(
            check(
                &t,
                &target,
                Some("application/json"),
                body,
                "a9nBmqA0ju/hNViExpshrM61xv4="
            ),
            Ok(0)
        );
        assert_eq!(
            check(
                &t,
                &target,
                Some("application/json"),
                br#"{"property": "value", "boolean": false}"#,
                "a9nBmqA0ju/hNViExpshrM61xv4="
            ),
            Err(Unverified::SignatureMismatch)
        );
    }

    #[test]
    fn twilio_refuses_a_body_the_signature_does_not_cover() {
        let t = twilio("12345", "https://mycompany.com/myapp.php");
        // Signed for the URL alone (a GET, say): a JSON body added to it is not covered.
        let uri: Uri = "/myapp.php?CallSid=CA1".parse().unwrap();
        let signed = t.sign(
            &Signed {
                method: &Method::GET,
                uri: &uri,
                headers: &HeaderMap::new(),
                body: b"",
            },
            SystemTime::now(),
        );
        let sig = signed["x-twilio-signature"].to_str().unwrap().to_owned();
        assert_eq!(check(&t, "/myapp.php?CallSid=CA1", None, b"", &sig), Ok(0));
        assert_eq!(
            check(
                &t,
                "/myapp.php?CallSid=CA1",
                Some("application/json"),
                br#"{"forged":true}"#,
                &sig
            ),
            Err(Unverified::MalformedBody)
        );
    }

    #[test]
    fn twilio_refuses_malformed_and_missing_signatures() {
        let t = twilio("12345", "https://mycompany.com/myapp.php");
        assert_eq!(
            check(&t, "/myapp.php", None, b"", "not base64!"),
            Err(Unverified::MalformedSignature)
        );
        assert_eq!(
            check(&t, "/myapp.php", None, b"", "AAAA"),
            Err(Unverified::MalformedSignature)
        );
        let uri: Uri = "/myapp.php".parse().unwrap();
        let got = t.verify(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &HeaderMap::new(),
                body: b"",
            },
            SystemTime::now(),
        );
        assert_eq!(got.map(|_| ()), Err(Unverified::MissingSignature));
    }

    #[test]
    fn twilio_sha256_is_a_route_choice() {
        let secrets = [Secret::from_bytes(
            "12345",
            crate::secret::SecretSource::Env("T".into()),
        )];
        let opts = Options {
            provider: "twilio",
            public_url: Some("https://example.com/myapp.php"),
            algorithm: Some("sha256"),
            ..Options::default()
        };
        let t = build(&opts, &secrets).unwrap();
        let uri: Uri = "/myapp.php?foo=1&bar=2".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", FORM.parse().unwrap());
        let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234&From=%2B14158675310&To=%2B18005551212";
        let signed = t.sign(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body,
            },
            SystemTime::now(),
        );
        let sig = signed["x-twilio-signature"].to_str().unwrap().to_owned();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&sig)
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            check(&t, "/myapp.php?foo=1&bar=2", Some(FORM), body, &sig),
            Ok(0)
        );
        // The sha1 route refuses the sha256 signature, whatever a header says.
        let sha1 = twilio("12345", "https://example.com/myapp.php");
        assert_eq!(
            check(&sha1, "/myapp.php?foo=1&bar=2", Some(FORM), body, &sig),
            Err(Unverified::MalformedSignature)
        );
        assert_eq!(
            build(
                &Options {
                    algorithm: Some("md5"),
                    ..opts
                },
                &secrets
            )
            .unwrap_err()
            .key,
            "algorithm"
        );
    }

    #[test]
    fn writes_both_url_forms() {
        assert_eq!(
            url_forms("https://example.com/sms?a=1"),
            [
                "https://example.com:443/sms?a=1".to_owned(),
                "https://example.com/sms?a=1".to_owned()
            ]
        );
        assert_eq!(
            url_forms("https://example.com:8443/sms"),
            [
                "https://example.com:8443/sms".to_owned(),
                "https://example.com/sms".to_owned()
            ]
        );
        assert_eq!(
            url_forms("http://[::1]/x"),
            ["http://[::1]:80/x".to_owned(), "http://[::1]/x".to_owned()]
        );
    }
}
