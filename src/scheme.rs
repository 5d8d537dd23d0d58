//! Signature schemes: the [`Scheme`] trait every provider implements, what a check returns
//! ([`Verified`] or an [`Unverified`] reason), and [`build`], the one place that turns a route's
//! validated `provider` and scheme keys into a scheme.
//!
//! A scheme sees only the request target, the headers, the raw body and the clock. It never
//! sees the network, and it never decides anything from the request that the config fixes
//! (the algorithm above all). Routing, limits and forwarding belong to `proxy`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, Method, Uri};

use crate::secret::Secret;

pub mod asymmetric;
pub mod common;
pub mod gitlab;
pub mod handshake;
pub mod hmac;
pub mod mailgun;
mod options;
pub mod presets;
pub mod standard_webhooks;
pub mod twilio;

pub use hmac::ListFormat;
pub(crate) use options::{refuse_keys, with_text_keys};
pub use options::{BuildError, Options};

/// What a scheme may look at, and nothing more.
#[derive(Clone, Copy, Debug)]
pub struct Signed<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target as received (path and query).
    pub uri: &'a Uri,
    /// The request headers as received.
    pub headers: &'a HeaderMap,
    /// The raw body bytes, exactly as received.
    pub body: &'a [u8],
}

/// What a passed check tells the rest of the request path (replay, logs, metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The provider's id for this delivery, where the scheme carries one.
    pub delivery_id: Option<String>,
    /// The signed timestamp, where the scheme carries one.
    pub timestamp: Option<SystemTime>,
    /// Which secret of the route's rotation list verified (0 is the first).
    pub secret_slot: usize,
    /// The identity of the signed message, where the check had it for free (the HMAC
    /// engine: a SHA-256 of the first secret's tag over it): the replay key, instead of
    /// [`Scheme::replay_digest`]. Never the tag itself, which is a valid signature.
    pub message: Option<[u8; 32]>,
}

/// Why a request did not verify. Each has a stable reason code for logs and metrics; none
/// carries the claimed or the expected signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unverified {
    /// The signature header is absent.
    MissingSignature,
    /// The signature header appears more than once: a rejection, never a choice.
    DuplicateSignature,
    /// The signature header does not have the configured form (prefix, encoding, length).
    MalformedSignature,
    /// The signature is well-formed but no secret of the route produces it.
    SignatureMismatch,
    /// The timestamp header is absent.
    MissingTimestamp,
    /// The timestamp header appears more than once.
    DuplicateTimestamp,
    /// The timestamp header is not a whole number of seconds since the Unix epoch.
    MalformedTimestamp,
    /// The timestamp is further from now than the route's tolerance, in either direction.
    TimestampOutOfTolerance,
    /// The delivery id the signature covers is absent.
    MissingId,
    /// The delivery id header appears more than once.
    DuplicateId,
    /// The body does not have the form the scheme reads fields from (JSON, form).
    MalformedBody,
}

impl Unverified {
    /// The reason code used in logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Unverified::MissingSignature => "missing_signature",
            Unverified::DuplicateSignature => "duplicate_signature",
            Unverified::MalformedSignature => "malformed_signature",
            Unverified::SignatureMismatch => "signature_mismatch",
            Unverified::MissingTimestamp => "missing_timestamp",
            Unverified::DuplicateTimestamp => "duplicate_timestamp",
            Unverified::MalformedTimestamp => "malformed_timestamp",
            Unverified::TimestampOutOfTolerance => "timestamp_out_of_tolerance",
            Unverified::MissingId => "missing_id",
            Unverified::DuplicateId => "duplicate_id",
            Unverified::MalformedBody => "malformed_body",
        }
    }
}

impl Unverified {
    /// What an operator can check, for `hookwall verify`. Never names a secret or a value.
    pub fn hint(self) -> &'static str {
        match self {
            Unverified::MissingSignature => "the signature header is absent (or holds no entry of the version this scheme verifies); is the sender configured to sign, and is this the right provider?",
            Unverified::DuplicateSignature => "the signature header appears more than once; hookwall never picks one",
            Unverified::MalformedSignature => "the signature does not have this scheme's form (prefix, encoding, length); check the provider and, for provider = \"hmac\", algorithm, encoding and signature_prefix",
            Unverified::SignatureMismatch => "the signature is well-formed but no secret of the route produces it: check the secret, that the body was captured byte for byte, and for URL-signed schemes that public_url is the URL the sender posts to",
            Unverified::MissingTimestamp => "the timestamp the signature covers is absent",
            Unverified::DuplicateTimestamp => "the timestamp appears more than once",
            Unverified::MalformedTimestamp => "the timestamp is not in the format this scheme reads",
            Unverified::TimestampOutOfTolerance => "the timestamp is further from now than the route's tolerance; for an old capture, pass --at with the time it was made",
            Unverified::MissingId => "the delivery id the signature covers is absent",
            Unverified::DuplicateId => "the delivery id header appears more than once",
            Unverified::MalformedBody => "the body does not have the form this scheme reads its fields from",
        }
    }
}

impl std::fmt::Display for Unverified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// A provider's signature check.
pub trait Scheme: Send + Sync + std::fmt::Debug {
    /// The provider name as written in config (`"github"`, `"hmac"`).
    fn provider(&self) -> &'static str;

    /// Checks the signature; `now` is a parameter so tests can pin the clock.
    ///
    /// # Errors
    /// The first reason the request does not verify.
    fn verify(&self, req: &Signed<'_>, now: SystemTime) -> Result<Verified, Unverified>;

    /// The headers a sender would add, signed with the route's first secret; used by
    /// `hookwall sign` and by tests.
    fn sign(&self, req: &Signed<'_>, now: SystemTime) -> HeaderMap;

    /// The request headers this scheme reads. The proxy forwards them whatever `Connection`
    /// says, so the upstream can check what hookwall checked.
    fn signed_headers(&self) -> &[HeaderName];

    /// Whether replay protection is on by default for this scheme: it carries a delivery id
    /// or a signed timestamp.
    fn replay_default(&self) -> bool;

    /// The header that carries the sender's delivery id, if the scheme knows one: what the
    /// inspector shows (marked unverified) for a request that was refused.
    fn delivery_id_header(&self) -> Option<&HeaderName> {
        None
    }

    /// Whether the signature covers the delivery id, so that it can key replay protection.
    /// An id outside the signature (GitHub's `X-GitHub-Delivery`) can be changed by whoever
    /// replays a request, so those schemes key on the signed bytes instead.
    fn signs_delivery_id(&self) -> bool {
        false
    }

    /// A digest of what the signature covers, exactly as signed: the identity of a delivery
    /// for replay protection when the signature does not cover a delivery id. Two requests
    /// with the same digest are the same signed message, however their headers are spelled
    /// (hex case, base64 padding, extra list entries); two different messages cannot share
    /// a signature. Called only after `verify` succeeded. Default: the body.
    fn replay_digest(&self, req: &Signed<'_>) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(req.body).into()
    }

    /// The timestamp tolerance, for timestamped schemes: the default replay window.
    fn tolerance(&self) -> Option<Duration> {
        None
    }

    /// Methods allowed for setup handshakes on top of the route's `methods`.
    fn handshake_methods(&self) -> &[Method] {
        &[]
    }

    /// A setup request that carries no signature, seen before verification.
    fn before_verify(&self, _req: &Signed<'_>) -> Option<handshake::Handshake> {
        None
    }

    /// A verified setup request that hookwall answers itself.
    fn after_verify(
        &self,
        _req: &Signed<'_>,
        _verified: &Verified,
    ) -> Option<handshake::Handshake> {
        None
    }
}

/// The first slot (secret or key of a rotation list) whose check passed. Every check is
/// evaluated, whatever the earlier ones gave, so the time taken does not tell which slot
/// matched.
///
/// # Errors
/// [`Unverified::SignatureMismatch`] when none passed.
pub(crate) fn first_match(
    checks: impl IntoIterator<Item = subtle::Choice>,
) -> Result<usize, Unverified> {
    let mut matched = None;
    for (slot, ok) in checks.into_iter().enumerate() {
        if bool::from(ok) && matched.is_none() {
            matched = Some(slot);
        }
    }
    matched.ok_or(Unverified::SignatureMismatch)
}

/// The provider names [`build`] knows, as written in config.
pub fn providers() -> impl Iterator<Item = &'static str> {
    presets::NAMES
        .iter()
        .copied()
        .chain(["gitlab", "twilio", "mailgun", "discord", "sendgrid", "hmac"])
}

/// Builds the scheme a route's `provider` names, keyed with its secrets.
///
/// # Errors
/// An unknown provider, or a scheme key that is missing, malformed or not for this provider.
pub fn build(opts: &Options<'_>, secrets: Vec<Secret>) -> Result<Arc<dyn Scheme>, BuildError> {
    let Some(name) = providers().find(|n| *n == opts.provider) else {
        return Err(BuildError::new(
            "provider",
            format!(
                "unknown provider `{}`; known providers: {}",
                opts.provider,
                providers().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let asymmetric = matches!(name, "discord" | "sendgrid");
    let optional_secret = matches!(name, "standard-webhooks" | "svix" | "clerk" | "resend");
    if secrets.is_empty() && !asymmetric && !optional_secret {
        return Err(BuildError::new(
            "secret",
            "missing: give `secret = { env = \"NAME\" }` or `{ file = \"PATH\" }`; there is no default secret",
        ));
    }
    if !opts.public_keys.is_empty() && !asymmetric && !optional_secret {
        return Err(BuildError::new(
            "public_key",
            format!("provider = \"{name}\" checks an HMAC with `secret`; it takes no public key"),
        ));
    }
    if !opts.handshake && !opts.verify_tokens.is_empty() {
        return Err(BuildError::new(
            "verify_token",
            "is only used with `handshake = true`",
        ));
    }
    let for_handshake = if opts.handshake {
        secrets.clone()
    } else {
        Vec::new()
    };
    let scheme: Arc<dyn Scheme> = match name {
        "hmac" => Arc::new(hmac::build(opts, secrets)?),
        "gitlab" => Arc::new(gitlab::build(opts, &secrets)?),
        "twilio" => Arc::new(twilio::build(opts, &secrets)?),
        "mailgun" => Arc::new(mailgun::build(opts, &secrets)?),
        "discord" | "sendgrid" => Arc::new(asymmetric::build(name, opts, !secrets.is_empty())?),
        "standard-webhooks" | "svix" | "clerk" | "resend" => {
            Arc::new(standard_webhooks::build(name, opts, &secrets)?)
        }
        preset => Arc::new(presets::build(preset, opts, &secrets)?),
    };
    if !opts.handshake {
        return Ok(scheme);
    }
    Ok(Arc::new(handshake::wrap(
        name,
        scheme,
        &for_handshake,
        &opts.verify_tokens,
    )?))
}
