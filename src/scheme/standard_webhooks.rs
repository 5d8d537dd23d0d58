//! `provider = "standard-webhooks"` (and its aliases `svix`, `clerk`, `resend`): the HMAC
//! `v1` signatures of the preset in `presets.rs`, and, when the route gives `public_key`
//! (`whpk_` + base64), the asymmetric `v1a` Ed25519 signatures over the same bytes
//! (`{id}.{timestamp}.{body}`). A delivery passes when any entry of either kind verifies;
//! headers come from the `webhook-*` family, else from `svix-*`.
//!
//! Reference: <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use http::{HeaderMap, HeaderName};

use super::common::{check_skew, delivery_id, single, TimestampFormat};
use super::hmac::HmacScheme;
use super::{presets, BuildError, Options, Scheme, Signed, Unverified, Verified};
use crate::secret::Secret;

/// The two header families, in order of preference: signature, timestamp, id.
const FAMILIES: [[&str; 3]; 2] = [
    ["webhook-signature", "webhook-timestamp", "webhook-id"],
    ["svix-signature", "svix-timestamp", "svix-id"],
];

/// Default tolerance, as the specification recommends.
const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Standard Webhooks with `v1` (HMAC) and/or `v1a` (Ed25519) signatures.
pub struct StandardWebhooks {
    provider: &'static str,
    v1: Option<HmacScheme>,
    v1a: Vec<ed25519_dalek::VerifyingKey>,
    tolerance: Duration,
    signed_headers: Vec<HeaderName>,
}

impl std::fmt::Debug for StandardWebhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardWebhooks")
            .field("provider", &self.provider)
            .field("v1", &self.v1)
            .field("v1a_keys", &self.v1a.len())
            .finish()
    }
}

/// Parses a `whpk_` + base64 Ed25519 public key (the prefix is optional).
///
/// # Errors
/// Not base64 of a valid 32-byte Ed25519 public key.
pub fn whpk(text: &str) -> Result<ed25519_dalek::VerifyingKey, String> {
    let text = text.trim();
    let raw = text.strip_prefix("whpk_").unwrap_or(text);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|_| "is not whpk_<base64>".to_owned())?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "is not a 32-byte Ed25519 public key".to_owned())?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "is not a valid Ed25519 public key".to_owned())
}

/// Builds the scheme from the route's secrets (`v1`) and public keys (`v1a`).
///
/// # Errors
/// Neither a secret nor a public key; a malformed one; any key the preset fixes.
pub fn build(
    provider: &'static str,
    opts: &Options<'_>,
    secrets: &[Secret],
) -> Result<StandardWebhooks, BuildError> {
    let v1a = opts
        .public_keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            whpk(k).map_err(|e| {
                let which = if opts.public_keys.len() > 1 {
                    format!("entry {}: ", i + 1)
                } else {
                    String::new()
                };
                BuildError::new("public_key", format!("{which}{e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let without_keys = Options {
        public_keys: Vec::new(),
        verify_tokens: Vec::new(),
        signature_list: opts.signature_list.clone(),
        ..*opts
    };
    let v1 = if secrets.is_empty() {
        super::refuse_keys(&without_keys, provider, &["tolerance"])?;
        None
    } else {
        Some(presets::build(provider, &without_keys, secrets)?)
    };
    if v1.is_none() && v1a.is_empty() {
        return Err(BuildError::new(
            "secret",
            "missing: give `secret` (whsec_…) for v1 signatures, `public_key` (whpk_…) for v1a, or both",
        ));
    }
    let signed_headers = FAMILIES
        .iter()
        .flat_map(|f| f.iter().map(|h| HeaderName::from_static(h)))
        .collect();
    Ok(StandardWebhooks {
        provider,
        v1,
        v1a,
        tolerance: opts.tolerance.unwrap_or(DEFAULT_TOLERANCE),
        signed_headers,
    })
}

impl StandardWebhooks {
    fn verify_v1a(&self, req: &Signed<'_>, now: SystemTime) -> Result<Verified, Unverified> {
        let family = FAMILIES
            .iter()
            .find(|f| req.headers.contains_key(f[0]))
            .ok_or(Unverified::MissingSignature)?;
        let [sig_name, ts_name, id_name] = family.map(HeaderName::from_static);
        let value = single(
            req.headers,
            &sig_name,
            Unverified::MissingSignature,
            Unverified::DuplicateSignature,
        )?;
        let ts = single(
            req.headers,
            &ts_name,
            Unverified::MissingTimestamp,
            Unverified::DuplicateTimestamp,
        )?;
        let id = single(
            req.headers,
            &id_name,
            Unverified::MissingId,
            Unverified::DuplicateId,
        )?;
        let at = TimestampFormat::UnixSeconds
            .read(ts.as_bytes())
            .ok_or(Unverified::MalformedTimestamp)?;
        check_skew(at, now, self.tolerance)?;
        let text = value.to_str().map_err(|_| Unverified::MalformedSignature)?;
        let mut message = Vec::with_capacity(id.len() + ts.len() + req.body.len() + 2);
        message.extend_from_slice(id.as_bytes());
        message.push(b'.');
        message.extend_from_slice(ts.as_bytes());
        message.push(b'.');
        message.extend_from_slice(req.body);
        let mut seen = false;
        for entry in text.split(' ') {
            let Some(("v1a", encoded)) = entry.split_once(',') else {
                continue;
            };
            seen = true;
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
                continue;
            };
            let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
                continue;
            };
            let signature = ed25519_dalek::Signature::from_bytes(&bytes);
            if let Some(slot) = self
                .v1a
                .iter()
                .position(|k| k.verify_strict(&message, &signature).is_ok())
            {
                return Ok(Verified {
                    delivery_id: delivery_id(req.headers, &id_name),
                    timestamp: Some(at),
                    secret_slot: slot,
                    message: None,
                });
            }
        }
        Err(if seen {
            Unverified::SignatureMismatch
        } else {
            Unverified::MissingSignature
        })
    }
}

impl Scheme for StandardWebhooks {
    fn provider(&self) -> &'static str {
        self.provider
    }

    fn verify(&self, req: &Signed<'_>, now: SystemTime) -> Result<Verified, Unverified> {
        let v1 = match &self.v1 {
            Some(v1) => v1.verify(req, now),
            None => Err(Unverified::MissingSignature),
        };
        match v1 {
            Ok(v) => Ok(v),
            // Only a signature-level failure lets the other kind try; a bad timestamp or id
            // fails both alike.
            Err(
                e @ (Unverified::MissingSignature
                | Unverified::MalformedSignature
                | Unverified::SignatureMismatch),
            ) if !self.v1a.is_empty() => match self.verify_v1a(req, now) {
                Err(Unverified::MissingSignature) if self.v1.is_some() => Err(e),
                other => other,
            },
            Err(e) => Err(e),
        }
    }

    fn sign(&self, req: &Signed<'_>, now: SystemTime) -> HeaderMap {
        self.v1
            .as_ref()
            .map_or_else(HeaderMap::new, |v1| v1.sign(req, now))
    }

    fn signed_headers(&self) -> &[HeaderName] {
        &self.signed_headers
    }

    fn replay_default(&self) -> bool {
        true
    }

    fn signs_delivery_id(&self) -> bool {
        true
    }

    fn tolerance(&self) -> Option<Duration> {
        Some(self.tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretSource;
    use http::{HeaderValue, Method, Uri};
    use std::time::UNIX_EPOCH;

    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: &str = "1614265330";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    /// The v1a vector of the Standard Webhooks Go library (webhook_asymmetric_test.go):
    /// signed with the seed `TESTSIGNINGKEYDONOTUSETHISFORANY`.
    const V1A: &str = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";
    const V1: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn public_key() -> String {
        let signing = ed25519_dalek::SigningKey::from_bytes(b"TESTSIGNINGKEYDONOTUSETHISFORANY");
        format!(
            "whpk_{}",
            base64::engine::general_purpose::STANDARD.encode(signing.verifying_key().as_bytes())
        )
    }

    fn scheme(secret: bool, key: bool) -> Result<StandardWebhooks, BuildError> {
        let secrets: Vec<Secret> = secret
            .then(|| Secret::from_bytes(WHSEC, SecretSource::Env("SW".into())))
            .into_iter()
            .collect();
        let opts = Options {
            provider: "standard-webhooks",
            public_keys: key.then(public_key).into_iter().collect(),
            ..Options::default()
        };
        build("standard-webhooks", &opts, &secrets)
    }

    fn check(s: &StandardWebhooks, family: &str, sig: &str, ts: &str) -> Result<usize, Unverified> {
        let uri = Uri::from_static("/hooks");
        let mut headers = HeaderMap::new();
        for (name, value) in [("id", ID), ("timestamp", ts), ("signature", sig)] {
            headers.insert(
                HeaderName::from_bytes(format!("{family}-{name}").as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        s.verify(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body: BODY,
            },
            UNIX_EPOCH + Duration::from_secs(1_614_265_330),
        )
        .map(|v| v.secret_slot)
    }

    #[test]
    fn the_derived_public_key_is_the_documented_one() {
        assert_eq!(
            public_key(),
            "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="
        );
    }

    #[test]
    fn verifies_v1a_alone_v1_alone_and_either_when_both_are_configured() {
        let v1a_only = scheme(false, true).unwrap();
        assert_eq!(check(&v1a_only, "webhook", V1A, TS), Ok(0));
        assert_eq!(check(&v1a_only, "svix", V1A, TS), Ok(0));
        assert_eq!(
            check(&v1a_only, "webhook", V1, TS),
            Err(Unverified::MissingSignature)
        );
        let v1_only = scheme(true, false).unwrap();
        assert_eq!(check(&v1_only, "webhook", V1, TS), Ok(0));
        assert_eq!(
            check(&v1_only, "webhook", V1A, TS),
            Err(Unverified::MissingSignature)
        );
        let both = scheme(true, true).unwrap();
        assert_eq!(check(&both, "webhook", V1A, TS), Ok(0));
        assert_eq!(check(&both, "webhook", V1, TS), Ok(0));
        assert_eq!(
            check(&both, "webhook", &format!("v1,AAAA {V1A}"), TS),
            Ok(0)
        );
    }

    #[test]
    fn v1a_refuses_tampering_and_stale_timestamps() {
        let s = scheme(false, true).unwrap();
        assert_eq!(
            check(&s, "webhook", "v1a,AAAA", TS),
            Err(Unverified::SignatureMismatch)
        );
        assert_eq!(
            check(&s, "webhook", V1A, "1614265331"),
            Err(Unverified::SignatureMismatch)
        );
        assert_eq!(
            check(&s, "webhook", V1A, "1614265000"),
            Err(Unverified::TimestampOutOfTolerance)
        );
        assert_eq!(
            check(&s, "webhook", V1A, "1614265700"),
            Err(Unverified::TimestampOutOfTolerance)
        );
    }

    #[test]
    fn needs_a_secret_or_a_key() {
        assert_eq!(scheme(false, false).unwrap_err().key, "secret");
        let opts = Options {
            provider: "svix",
            public_keys: vec!["whpk_AAAA".into()],
            ..Options::default()
        };
        assert_eq!(build("svix", &opts, &[]).unwrap_err().key, "public_key");
    }
}
