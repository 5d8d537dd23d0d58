//! What one request came to, and the two records derived from it: the request's log line
//! (never a header value, a secret or a body) and its metrics.

use std::time::Duration;

use http::StatusCode;

use super::{Ctx, Proxy, Rejection};
use crate::history::Entry;
use crate::log::Event;
use crate::metrics::Kind;
use crate::scheme::Unverified;

/// What one request came to.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Verified and forwarded; the upstream answered.
    Forwarded { upstream_status: u16 },
    /// A setup handshake: forwarded (with the upstream's status) or answered by hookwall.
    Handshake { upstream_status: Option<u16> },
    /// Did not verify, forwarded because the route is in shadow mode.
    Shadow {
        why: Unverified,
        upstream_status: u16,
    },
    /// A copy of a delivery already delivered: answered 200 without the upstream.
    Duplicate,
    /// Verified and committed to the spool (after the app failed, with its status, on a
    /// `spool_on_failure` route).
    Spooled {
        id: String,
        upstream_status: Option<u16>,
    },
    /// Answered by hookwall: refused, or the upstream failed.
    Rejected(Rejection),
}

impl Outcome {
    /// The metrics' `outcome` label.
    pub(super) fn kind(&self) -> Kind {
        match self {
            Outcome::Forwarded { .. } => Kind::Forwarded,
            Outcome::Handshake { .. } => Kind::Handshake,
            Outcome::Shadow { .. } => Kind::Shadow,
            Outcome::Duplicate => Kind::Duplicate,
            Outcome::Spooled { .. } => Kind::Spooled,
            Outcome::Rejected(
                Rejection::UpstreamDown | Rejection::UpstreamTimeout | Rejection::UpstreamBusy,
            ) => Kind::UpstreamError,
            Outcome::Rejected(_) => Kind::Rejected,
        }
    }

    /// The upstream's status, when it answered.
    pub(super) fn upstream_status(&self) -> Option<u16> {
        match self {
            Outcome::Forwarded { upstream_status }
            | Outcome::Shadow {
                upstream_status, ..
            } => Some(*upstream_status),
            Outcome::Handshake { upstream_status }
            | Outcome::Spooled {
                upstream_status, ..
            } => *upstream_status,
            Outcome::Duplicate | Outcome::Rejected(_) => None,
        }
    }

    /// The reason code: why it was refused or failed verification; empty otherwise.
    pub(super) fn reason(&self) -> &'static str {
        match self {
            Outcome::Rejected(r) => r.reason(),
            Outcome::Shadow { why, .. } => why.reason(),
            Outcome::Duplicate => "replayed",
            Outcome::Forwarded { .. } | Outcome::Handshake { .. } | Outcome::Spooled { .. } => "",
        }
    }
}

impl Proxy {
    /// Writes the request's log line and records its metrics.
    pub(super) fn record(&self, ctx: &Ctx<'_>, status: StatusCode, outcome: &Outcome) {
        let took = ctx.start.elapsed();
        log(ctx, status.as_u16(), outcome, took);
        if self.history.capacity() > 0 {
            self.history
                .record(entry(ctx, status.as_u16(), outcome, took));
        }
        let kind = outcome.kind();
        let reason = outcome.reason();
        let Some(index) = ctx.route else {
            return self.metrics.request("-", "-", kind, reason, took);
        };
        let cached = &ctx.snapshot.route_metrics[index];
        cached.request(&self.metrics, kind, reason, took);
        if let Some(verified) = &ctx.verified {
            cached.slot(&self.metrics, verified.secret_slot);
        }
    }
}

/// The inspector's record of the request: what the log line holds. A refused request's
/// delivery id is read from the scheme's header as the sender sent it, marked unverified.
fn entry(ctx: &Ctx<'_>, status: u16, outcome: &Outcome, took: Duration) -> Entry {
    let route = ctx.route_ref();
    let verified = ctx.verified.as_ref();
    let claimed = || {
        let header = route?.scheme.delivery_id_header()?;
        let value = ctx.parts.headers.get(header)?.to_str().ok()?;
        Some(bounded(value, MAX_CLAIMED_ID))
    };
    Entry {
        at_ms: crate::spool::now_ms(),
        route: route.map_or_else(|| "-".to_owned(), |r| r.name.clone()),
        provider: route.map_or("-", |r| r.scheme.provider()),
        method: ctx.parts.method.clone(),
        // Any sender's, refused or not: bounded, so the ring's memory is too.
        path: bounded(ctx.parts.uri.path(), MAX_KEPT_PATH),
        outcome: outcome.kind(),
        reason: outcome.reason(),
        status,
        upstream_status: outcome.upstream_status(),
        delivery_id: verified.map_or_else(claimed, |v| v.delivery_id.clone()),
        verified: verified.is_some(),
        request_id: ctx.request_id.clone(),
        // The address, `unparsable` (a trusted proxy named no address) or `unix`.
        client: Some(ctx.client_text.clone()),
        elapsed_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        slot: verified.map(|v| v.secret_slot),
    }
}

/// The longest delivery id kept of a refused request (it is the sender's, unchecked).
const MAX_CLAIMED_ID: usize = 128;

/// The longest path the inspector keeps of a request (a head may hold 64 KiB of it).
const MAX_KEPT_PATH: usize = 512;

/// At most `max` characters of `text`.
fn bounded(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The one log line per request, under the `hookwall::request` target.
fn log(ctx: &Ctx<'_>, status: u16, outcome: &Outcome, took: Duration) {
    let verified = ctx.verified.as_ref();
    crate::log::request(&crate::log::Request {
        route: ctx.route_ref().map_or("-", |r| r.name.as_str()),
        method: ctx.parts.method.as_str(),
        path: ctx.parts.uri.path(),
        client: &ctx.client_text,
        request_id: ctx.request_id.as_str(),
        status,
        elapsed_ms: took.as_micros() as f64 / 1000.0,
        event: event(
            outcome,
            verified.and_then(|v| v.delivery_id.as_deref()),
            verified.map(|v| v.secret_slot),
        ),
    });
}

/// The log line's event for `outcome`, with the fields that outcome's line carries.
fn event<'a>(
    outcome: &'a Outcome,
    delivery_id: Option<&'a str>,
    secret_slot: Option<usize>,
) -> Event<'a> {
    let reason = outcome.reason();
    match outcome {
        Outcome::Rejected(
            Rejection::UpstreamDown | Rejection::UpstreamTimeout | Rejection::UpstreamBusy,
        ) => Event::UpstreamFailed {
            reason,
            delivery_id,
        },
        Outcome::Rejected(_) => Event::Rejected { reason },
        Outcome::Shadow {
            upstream_status, ..
        } => Event::Shadow {
            reason,
            upstream_status: *upstream_status,
        },
        Outcome::Duplicate => Event::Duplicate {
            reason,
            delivery_id,
        },
        Outcome::Handshake { upstream_status } => Event::Handshake {
            upstream_status: *upstream_status,
        },
        Outcome::Spooled {
            id,
            upstream_status,
        } => Event::Spooled {
            upstream_status: *upstream_status,
            delivery_id,
            spool_id: id,
            secret_slot,
        },
        Outcome::Forwarded { upstream_status } => Event::Forwarded {
            upstream_status: *upstream_status,
            delivery_id,
            secret_slot,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_inspector_keeps_of_a_sender_is_bounded() {
        let long = "/x".repeat(40_000);
        assert_eq!(bounded(&long, MAX_KEPT_PATH).len(), MAX_KEPT_PATH);
        assert_eq!(bounded("/short", MAX_KEPT_PATH), "/short");
        assert_eq!(bounded("déjà", 2), "dé");
    }

    #[test]
    fn each_outcome_logs_the_fields_its_line_has_always_carried() {
        let cases = [
            (
                Outcome::Forwarded {
                    upstream_status: 201,
                },
                r#"Forwarded { upstream_status: 201, delivery_id: Some("d-1"), secret_slot: Some(2) }"#,
            ),
            (
                Outcome::Handshake {
                    upstream_status: None,
                },
                "Handshake { upstream_status: None }",
            ),
            (
                Outcome::Shadow {
                    why: Unverified::MalformedSignature,
                    upstream_status: 204,
                },
                r#"Shadow { reason: "malformed_signature", upstream_status: 204 }"#,
            ),
            (
                Outcome::Duplicate,
                r#"Duplicate { reason: "replayed", delivery_id: Some("d-1") }"#,
            ),
            (
                Outcome::Spooled {
                    id: "s-1".to_owned(),
                    upstream_status: Some(503),
                },
                r#"Spooled { upstream_status: Some(503), delivery_id: Some("d-1"), spool_id: "s-1", secret_slot: Some(2) }"#,
            ),
            // A refusal after verification still logs no delivery id; a failed upstream does.
            (
                Outcome::Rejected(Rejection::NoRoute),
                r#"Rejected { reason: "no_route" }"#,
            ),
            (
                Outcome::Rejected(Rejection::UpstreamTimeout),
                r#"UpstreamFailed { reason: "upstream_timeout", delivery_id: Some("d-1") }"#,
            ),
        ];
        for (outcome, want) in &cases {
            let event = event(outcome, Some("d-1"), Some(2));
            assert_eq!(format!("{event:?}"), *want);
        }
    }
}
