//! `provider = "gitlab"`: GitLab sends the webhook's secret token itself in `X-Gitlab-Token`.
//! There is nothing to hash, so the token is compared with each secret of the route in
//! constant time; both sides are hashed first, so the comparison does not even reveal the
//! secret's length.
//!
//! Reference: <https://docs.gitlab.com/user/project/integrations/webhooks/#create-a-webhook>

use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::common::{delivery_id, single};
use super::{BuildError, Options, Scheme, Signed, Unverified, Verified};
use crate::secret::Secret;

static TOKEN: HeaderName = HeaderName::from_static("x-gitlab-token");
static EVENT_UUID: HeaderName = HeaderName::from_static("x-gitlab-event-uuid");

/// GitLab's token check.
pub struct GitLab {
    /// SHA-256 of each secret, in rotation order.
    digests: Vec<[u8; 32]>,
    /// The first secret, for `sign`.
    first: Option<Secret>,
    signed_headers: [HeaderName; 1],
}

impl std::fmt::Debug for GitLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitLab(<{} redacted>)", self.digests.len())
    }
}

/// Builds the GitLab check.
///
/// # Errors
/// Any scheme key: GitLab's scheme has none but `secret`.
pub fn build(opts: &Options<'_>, secrets: &[Secret]) -> Result<GitLab, BuildError> {
    super::refuse_keys(opts, "gitlab", &[])?;
    Ok(GitLab {
        digests: secrets
            .iter()
            .map(|s| Sha256::digest(s.expose()).into())
            .collect(),
        first: secrets.first().cloned(),
        signed_headers: [TOKEN.clone()],
    })
}

impl Scheme for GitLab {
    fn delivery_id_header(&self) -> Option<&HeaderName> {
        Some(&EVENT_UUID)
    }

    fn provider(&self) -> &'static str {
        "gitlab"
    }

    fn verify(&self, req: &Signed<'_>, _now: SystemTime) -> Result<Verified, Unverified> {
        let token = single(
            req.headers,
            &TOKEN,
            Unverified::MissingSignature,
            Unverified::DuplicateSignature,
        )?;
        if token.is_empty() {
            return Err(Unverified::MalformedSignature);
        }
        let claimed: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let secret_slot = super::first_match(self.digests.iter().map(|d| d.ct_eq(&claimed)))?;
        Ok(Verified {
            delivery_id: delivery_id(req.headers, &EVENT_UUID),
            timestamp: None,
            secret_slot,
            message: None,
        })
    }

    fn sign(&self, _req: &Signed<'_>, _now: SystemTime) -> HeaderMap {
        let mut out = HeaderMap::new();
        if let Some(v) = self
            .first
            .as_ref()
            .and_then(|s| HeaderValue::from_bytes(s.expose()).ok())
        {
            out.insert(TOKEN.clone(), v);
        }
        out
    }

    fn signed_headers(&self) -> &[HeaderName] {
        &self.signed_headers
    }

    /// GitLab sends an event UUID with every delivery.
    fn replay_default(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretSource;
    use http::{Method, Uri};

    fn gitlab(secrets: &[&str]) -> GitLab {
        let secrets: Vec<Secret> = secrets
            .iter()
            .map(|s| Secret::from_bytes(*s, SecretSource::Env("GL".into())))
            .collect();
        build(
            &Options {
                provider: "gitlab",
                ..Options::default()
            },
            &secrets,
        )
        .unwrap()
    }

    fn check(g: &GitLab, tokens: &[&str]) -> Result<usize, Unverified> {
        let uri = Uri::from_static("/hooks/gitlab");
        let mut headers = HeaderMap::new();
        for t in tokens {
            headers.append("x-gitlab-token", t.parse().unwrap());
        }
        headers.insert("x-gitlab-event-uuid", "7a1b".parse().unwrap());
        g.verify(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body: b"{}",
            },
            SystemTime::now(),
        )
        .map(|v| v.secret_slot)
    }

    #[test]
    fn compares_the_token_with_every_secret() {
        let g = gitlab(&["new-token-4d2a", "old-token-9f1c"]);
        assert_eq!(check(&g, &["new-token-4d2a"]), Ok(0));
        assert_eq!(check(&g, &["old-token-9f1c"]), Ok(1));
        assert_eq!(
            check(&g, &["new-token-4d2"]),
            Err(Unverified::SignatureMismatch)
        );
        assert_eq!(
            check(&g, &["new-token-4d2aa"]),
            Err(Unverified::SignatureMismatch)
        );
        assert_eq!(
            check(&g, &["NEW-TOKEN-4D2A"]),
            Err(Unverified::SignatureMismatch)
        );
        assert_eq!(check(&g, &[""]), Err(Unverified::MalformedSignature));
        assert_eq!(check(&g, &[]), Err(Unverified::MissingSignature));
        assert_eq!(
            check(&g, &["new-token-4d2a", "new-token-4d2a"]),
            Err(Unverified::DuplicateSignature)
        );
    }

    #[test]
    fn sign_sends_the_token_and_reports_the_event_uuid() {
        let g = gitlab(&["new-token-4d2a"]);
        let uri = Uri::from_static("/");
        let mut headers = g.sign(
            &Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &HeaderMap::new(),
                body: b"",
            },
            SystemTime::now(),
        );
        assert_eq!(headers["x-gitlab-token"], "new-token-4d2a");
        headers.insert("x-gitlab-event-uuid", "7a1b".parse().unwrap());
        let v = g
            .verify(
                &Signed {
                    method: &Method::POST,
                    uri: &uri,
                    headers: &headers,
                    body: b"",
                },
                SystemTime::now(),
            )
            .unwrap();
        assert_eq!(v.delivery_id.as_deref(), Some("7a1b"));
    }

    #[test]
    fn takes_no_scheme_keys() {
        let secrets = [Secret::from_bytes(
            "t-123456",
            SecretSource::Env("GL".into()),
        )];
        let err = build(
            &Options {
                provider: "gitlab",
                algorithm: Some("sha256"),
                ..Options::default()
            },
            &secrets,
        )
        .unwrap_err();
        assert_eq!(err.key, "algorithm");
    }
}
