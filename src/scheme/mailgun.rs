//! `provider = "mailgun"`: Mailgun puts the signature in the body. JSON webhooks carry
//! `{"signature": {"timestamp": "…", "token": "…", "signature": "<hex>"}, "event-data": …}`;
//! form posts (routes, stored-message callbacks) carry `timestamp`, `token` and `signature`
//! fields. The signature is hex HMAC-SHA256, keyed with the webhook signing key, of the
//! timestamp (unix seconds, as received) followed by the token. The token is the delivery id.
//!
//! Reference: <https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks>

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use http::{header, HeaderMap, HeaderName};
use subtle::ConstantTimeEq;

use super::common::{check_skew, TimestampFormat};
use super::hmac::{Encoding, MAX_TAG};
use super::{BuildError, Options, Scheme, Signed, Unverified, Verified};
use crate::secret::Secret;

/// Default tolerance: Mailgun signs each delivery attempt when it is made.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Mailgun's signature-in-the-body check.
pub struct Mailgun {
    keys: Vec<Hmac<sha2::Sha256>>,
    tolerance: Duration,
}

impl std::fmt::Debug for Mailgun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailgun")
            .field("tolerance", &self.tolerance)
            .field("keys", &format_args!("<{} redacted>", self.keys.len()))
            .finish()
    }
}

/// Builds the Mailgun check.
///
/// # Errors
/// Any scheme key but `tolerance`.
pub fn build(opts: &Options<'_>, secrets: &[Secret]) -> Result<Mailgun, BuildError> {
    super::refuse_keys(opts, "mailgun", &["tolerance"])?;
    Ok(Mailgun {
        keys: secrets
            .iter()
            .map(|s| Hmac::new_from_slice(s.expose()).expect("HMAC takes a key of any length"))
            .collect(),
        tolerance: opts.tolerance.unwrap_or(DEFAULT_TOLERANCE),
    })
}

/// The three signed fields, as received.
struct Fields {
    timestamp: String,
    token: String,
    signature: String,
}

fn fields(headers: &HeaderMap, body: &[u8]) -> Result<Fields, Unverified> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type == "application/x-www-form-urlencoded" {
        let mut f = (None, None, None);
        for (k, v) in form_urlencoded::parse(body) {
            let (slot, twice) = match &*k {
                "timestamp" => (&mut f.0, Unverified::DuplicateTimestamp),
                "token" => (&mut f.1, Unverified::DuplicateId),
                "signature" => (&mut f.2, Unverified::DuplicateSignature),
                _ => continue,
            };
            if slot.replace(v.into_owned()).is_some() {
                return Err(twice);
            }
        }
        return match f {
            (Some(timestamp), Some(token), Some(signature)) => Ok(Fields {
                timestamp,
                token,
                signature,
            }),
            (None, _, _) => Err(Unverified::MissingTimestamp),
            _ => Err(Unverified::MissingSignature),
        };
    }
    #[derive(serde::Deserialize)]
    struct Envelope {
        signature: Option<Inner>,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        timestamp: Option<serde_json::Value>,
        token: Option<String>,
        signature: Option<String>,
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|_| Unverified::MalformedBody)?;
    let inner = envelope.signature.ok_or(Unverified::MissingSignature)?;
    let timestamp = match inner.timestamp {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) => return Err(Unverified::MalformedTimestamp),
        None => return Err(Unverified::MissingTimestamp),
    };
    match (inner.token, inner.signature) {
        (Some(token), Some(signature)) => Ok(Fields {
            timestamp,
            token,
            signature,
        }),
        _ => Err(Unverified::MissingSignature),
    }
}

impl Mailgun {
    fn tag(key: &Hmac<sha2::Sha256>, timestamp: &str, token: &str) -> [u8; 32] {
        let mut mac = key.clone();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl Scheme for Mailgun {
    fn provider(&self) -> &'static str {
        "mailgun"
    }

    fn verify(&self, req: &Signed<'_>, now: SystemTime) -> Result<Verified, Unverified> {
        let f = fields(req.headers, req.body)?;
        let mut claimed = [0u8; MAX_TAG];
        Encoding::Hex
            .decode(f.signature.as_bytes(), 32, &mut claimed)
            .ok_or(Unverified::MalformedSignature)?;
        let at = TimestampFormat::UnixSeconds
            .read(f.timestamp.as_bytes())
            .ok_or(Unverified::MalformedTimestamp)?;
        check_skew(at, now, self.tolerance)?;
        let secret_slot = super::first_match(
            self.keys
                .iter()
                .map(|key| Mailgun::tag(key, &f.timestamp, &f.token).ct_eq(&claimed[..32])),
        )?;
        let delivery_id = (f.token.len() <= 128 && f.token.bytes().all(|b| b.is_ascii_graphic()))
            .then_some(f.token);
        Ok(Verified {
            delivery_id,
            timestamp: Some(at),
            secret_slot,
            message: None,
        })
    }

    /// Mailgun's signature is part of the body, so there is no header to add; `hookwall sign`
    /// prints the three fields instead (as pseudo-headers).
    fn sign(&self, req: &Signed<'_>, now: SystemTime) -> HeaderMap {
        let mut out = HeaderMap::new();
        let Some(key) = self.keys.first() else {
            return out;
        };
        let timestamp = TimestampFormat::UnixSeconds.write(now);
        let token = sign_token(&timestamp, req.body);
        let signature = hex::encode(Mailgun::tag(key, &timestamp, &token));
        for (name, value) in [
            ("timestamp", timestamp),
            ("token", token),
            ("signature", signature),
        ] {
            if let Ok(v) = value.parse() {
                out.insert(HeaderName::from_static(name), v);
            }
        }
        out
    }

    fn signed_headers(&self) -> &[HeaderName] {
        &[]
    }

    fn replay_default(&self) -> bool {
        true
    }

    /// The token, Mailgun's delivery id, is one of the two signed fields.
    fn signs_delivery_id(&self) -> bool {
        true
    }

    fn tolerance(&self) -> Option<Duration> {
        Some(self.tolerance)
    }
}

/// A 50-character token for `sign`, like Mailgun's: derived from the time and the body, so
/// repeated runs differ.
fn sign_token(timestamp: &str, body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(timestamp.as_bytes())
        .chain_update(body)
        .finalize();
    hex::encode(&digest[..25])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretSource;
    use http::{HeaderValue, Method, Uri};
    use std::time::UNIX_EPOCH;

    const KEY: &str = "mailgun-signing-key-77";
    const NOW: u64 = 1_700_000_000;

    fn mailgun() -> Mailgun {
        let secrets = [Secret::from_bytes(KEY, SecretSource::Env("MG".into()))];
        build(
            &Options {
                provider: "mailgun",
                ..Options::default()
            },
            &secrets,
        )
        .unwrap()
    }

    /// Computed here from Mailgun's documented formula, not by the scheme under test.
    fn signature(ts: &str, token: &str) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn check(content_type: &str, body: &[u8]) -> Result<Verified, Unverified> {
        let uri = Uri::from_static("/hooks/mailgun");
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_str(content_type).unwrap());
        mailgun().verify(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body,
            },
            UNIX_EPOCH + Duration::from_secs(NOW),
        )
    }

    fn json(ts: &str, token: &str, sig: &str) -> Vec<u8> {
        format!(r#"{{"signature":{{"timestamp":"{ts}","token":"{token}","signature":"{sig}"}},"event-data":{{"event":"delivered"}}}}"#).into_bytes()
    }

    #[test]
    fn verifies_json_and_form_deliveries() {
        let ts = NOW.to_string();
        let token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
        let v = check(
            "application/json",
            &json(&ts, token, &signature(&ts, token)),
        )
        .unwrap();
        assert_eq!(v.delivery_id.as_deref(), Some(token));
        let form = format!(
            "timestamp={ts}&token={token}&signature={}&recipient=a%40b.example",
            signature(&ts, token)
        );
        assert!(check("application/x-www-form-urlencoded", form.as_bytes()).is_ok());
    }

    #[test]
    fn refuses_every_failure() {
        let ts = NOW.to_string();
        let sig = signature(&ts, "tok");
        assert_eq!(
            check("application/json", &json(&ts, "tok2", &sig)).map(|_| ()),
            Err(Unverified::SignatureMismatch)
        );
        assert_eq!(
            check("application/json", &json(&ts, "tok", "zz")).map(|_| ()),
            Err(Unverified::MalformedSignature)
        );
        let old = (NOW - 301).to_string();
        assert_eq!(
            check(
                "application/json",
                &json(&old, "tok", &signature(&old, "tok"))
            )
            .map(|_| ()),
            Err(Unverified::TimestampOutOfTolerance)
        );
        let ahead = (NOW + 301).to_string();
        assert_eq!(
            check(
                "application/json",
                &json(&ahead, "tok", &signature(&ahead, "tok"))
            )
            .map(|_| ()),
            Err(Unverified::TimestampOutOfTolerance)
        );
        assert_eq!(
            check("application/json", b"not json").map(|_| ()),
            Err(Unverified::MalformedBody)
        );
        assert_eq!(
            check("application/json", br#"{"event-data":{}}"#).map(|_| ()),
            Err(Unverified::MissingSignature)
        );
        assert_eq!(
            check(
                "application/x-www-form-urlencoded",
                format!("token=t&signature={sig}").as_bytes()
            )
            .map(|_| ()),
            Err(Unverified::MissingTimestamp)
        );
        let twice = format!("timestamp={ts}&token=tok&signature={sig}&signature={sig}");
        assert_eq!(
            check("application/x-www-form-urlencoded", twice.as_bytes()).map(|_| ()),
            Err(Unverified::DuplicateSignature)
        );
    }
}
