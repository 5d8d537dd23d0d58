//! Setup handshakes, answered only on routes that opt in with `handshake = true`:
//!
//! - `meta`: `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` is answered with the
//!   challenge when the token matches one of the route's `verify_token`s (compared in constant
//!   time), and refused (403) otherwise. No signature is involved.
//! - `trello`: the `HEAD` Trello sends when a webhook is created is answered 200.
//! - `asana`: the `POST` that carries `X-Hook-Secret` and no signature (and no body) is
//!   forwarded, marked `X-Hookwall-Handshake: asana` and without `X-Hookwall-Verified`, so the
//!   app can store the secret and echo it; every other request must verify.
//! - `zoom`: the signed `endpoint.url_validation` event is verified as usual and then answered
//!   by hookwall itself: `{"plainToken": …, "encryptedToken": hex HMAC-SHA256(secret, plainToken)}`.
//!
//! What a scheme verifies is unchanged; this module only decides which unsigned setup requests
//! get an answer, and what it is.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::hmac::{Algorithm, Key};
use super::{BuildError, Scheme, Signed, Unverified, Verified};
use crate::secret::Secret;

/// What the proxy does with a setup request.
#[derive(Debug, PartialEq, Eq)]
pub enum Handshake {
    /// hookwall answers it itself.
    Answer {
        status: StatusCode,
        content_type: Option<&'static str>,
        body: Bytes,
    },
    /// It goes upstream unverified, marked as a handshake.
    Forward,
    /// It looked like a handshake but does not hold (a wrong verify token): 403.
    Refuse,
}

/// The providers with a handshake hookwall knows.
pub const PROVIDERS: &[&str] = &["meta", "trello", "asana", "zoom"];

enum Kind {
    Meta { tokens: Vec<[u8; 32]> },
    Trello,
    Asana,
    Zoom { keys: Vec<Key> },
}

/// A scheme with its provider's setup handshake.
pub struct Handshaking {
    inner: Arc<dyn Scheme>,
    kind: Kind,
}

impl std::fmt::Debug for Handshaking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Meta { .. } => "meta",
            Kind::Trello => "trello",
            Kind::Asana => "asana",
            Kind::Zoom { .. } => "zoom",
        };
        f.debug_struct("Handshaking")
            .field("inner", &self.inner)
            .field("kind", &kind)
            .finish()
    }
}

/// Adds `provider`'s handshake to `inner`.
///
/// # Errors
/// A provider without a handshake; `meta` without `verify_token`; `verify_token` elsewhere.
pub fn wrap(
    provider: &str,
    inner: Arc<dyn Scheme>,
    secrets: &[Secret],
    verify_tokens: &[Secret],
) -> Result<Handshaking, BuildError> {
    if provider != "meta" && !verify_tokens.is_empty() {
        return Err(BuildError::new(
            "verify_token",
            format!("only the meta handshake uses a verify token, not `{provider}`"),
        ));
    }
    let kind = match provider {
        "meta" if verify_tokens.is_empty() => {
            return Err(BuildError::new(
                "verify_token",
                "missing: the meta handshake compares hub.verify_token with it; give \
                 `verify_token = { env = \"NAME\" }`",
            ))
        }
        "meta" => Kind::Meta {
            tokens: verify_tokens
                .iter()
                .map(|t| Sha256::digest(t.expose()).into())
                .collect(),
        },
        "trello" => Kind::Trello,
        "asana" => Kind::Asana,
        "zoom" => Kind::Zoom {
            keys: secrets
                .iter()
                .map(|s| Key::new(Algorithm::Sha256, s.expose()))
                .collect(),
        },
        other => {
            return Err(BuildError::new(
                "handshake",
                format!(
                "provider `{other}` has no setup handshake hookwall answers (those that do: {})",
                PROVIDERS.join(", ")
            ),
            ))
        }
    };
    Ok(Handshaking { inner, kind })
}

/// A challenge or token fit to echo: printable ASCII, at most 256 bytes.
fn printable(text: &str) -> bool {
    !text.is_empty() && text.len() <= 256 && text.bytes().all(|b| b.is_ascii_graphic())
}

impl Handshaking {
    fn meta(&self, tokens: &[[u8; 32]], req: &Signed<'_>) -> Option<Handshake> {
        if req.method != Method::GET {
            return None;
        }
        let query = req.uri.query()?;
        let (mut mode, mut token, mut challenge) = (None, None, None);
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*k {
                "hub.mode" => &mut mode,
                "hub.verify_token" => &mut token,
                "hub.challenge" => &mut challenge,
                _ => continue,
            };
            if slot.replace(v).is_some() {
                return Some(Handshake::Refuse);
            }
        }
        let (Some(mode), Some(token), Some(challenge)) = (mode, token, challenge) else {
            return None;
        };
        let claimed: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut ok = subtle::Choice::from(0);
        for t in tokens {
            ok |= t.ct_eq(&claimed);
        }
        if mode != "subscribe" || !bool::from(ok) || !printable(&challenge) {
            return Some(Handshake::Refuse);
        }
        Some(Handshake::Answer {
            status: StatusCode::OK,
            content_type: Some("text/plain; charset=utf-8"),
            body: Bytes::from(challenge.into_owned()),
        })
    }
}

impl Scheme for Handshaking {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    fn verify(&self, req: &Signed<'_>, now: SystemTime) -> Result<Verified, Unverified> {
        self.inner.verify(req, now)
    }

    fn sign(&self, req: &Signed<'_>, now: SystemTime) -> HeaderMap {
        self.inner.sign(req, now)
    }

    fn signed_headers(&self) -> &[HeaderName] {
        self.inner.signed_headers()
    }

    fn replay_default(&self) -> bool {
        self.inner.replay_default()
    }

    fn signs_delivery_id(&self) -> bool {
        self.inner.signs_delivery_id()
    }

    fn delivery_id_header(&self) -> Option<&HeaderName> {
        self.inner.delivery_id_header()
    }

    fn replay_digest(&self, req: &Signed<'_>) -> [u8; 32] {
        self.inner.replay_digest(req)
    }

    fn tolerance(&self) -> Option<std::time::Duration> {
        self.inner.tolerance()
    }

    fn handshake_methods(&self) -> &[Method] {
        match self.kind {
            Kind::Meta { .. } => &[Method::GET],
            Kind::Trello => &[Method::HEAD],
            Kind::Asana | Kind::Zoom { .. } => &[],
        }
    }

    fn before_verify(&self, req: &Signed<'_>) -> Option<Handshake> {
        match &self.kind {
            Kind::Meta { tokens } => self.meta(tokens, req),
            Kind::Trello => {
                (req.method == Method::HEAD && req.body.is_empty()).then(|| Handshake::Answer {
                    status: StatusCode::OK,
                    content_type: None,
                    body: Bytes::new(),
                })
            }
            Kind::Asana => {
                let secret = req.headers.get("x-hook-secret")?;
                let unsigned = !req.headers.contains_key("x-hook-signature");
                let single = req.headers.get_all("x-hook-secret").iter().count() == 1;
                let fits = secret.to_str().is_ok_and(printable);
                (req.method == Method::POST && unsigned && single && fits && req.body.is_empty())
                    .then_some(Handshake::Forward)
            }
            Kind::Zoom { .. } => None,
        }
    }

    fn after_verify(&self, req: &Signed<'_>, verified: &Verified) -> Option<Handshake> {
        let Kind::Zoom { keys } = &self.kind else {
            return None;
        };
        #[derive(serde::Deserialize)]
        struct Event {
            event: String,
            payload: Option<Payload>,
        }
        #[derive(serde::Deserialize)]
        struct Payload {
            #[serde(rename = "plainToken")]
            plain_token: Option<String>,
        }
        let event: Event = serde_json::from_slice(req.body).ok()?;
        if event.event != "endpoint.url_validation" {
            return None;
        }
        let plain = event.payload?.plain_token?;
        if !printable(&plain) {
            return Some(Handshake::Refuse);
        }
        let key = keys.get(verified.secret_slot)?;
        let encrypted = hex::encode(key.tag(&[plain.as_bytes()]).as_bytes());
        let body = serde_json::json!({ "plainToken": plain, "encryptedToken": encrypted });
        Some(Handshake::Answer {
            status: StatusCode::OK,
            content_type: Some("application/json"),
            body: Bytes::from(body.to_string()),
        })
    }
}
