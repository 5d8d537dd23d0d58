//! The `claim` phase: replay protection for verified deliveries on routes with a
//! `replay_window`. A delivery is claimed in the store before it is forwarded; the returned
//! [`ReplayGuard`] settles the claim from the upstream's answer. A claim never settled (the
//! process died mid-request, the sender went away) lapses by itself.

use std::time::Duration;

use http::{Response, StatusCode};

use super::{Proxy, Rejection, Snapshot};
use crate::body::ResponseBody;
use crate::config::Route;
use crate::headers::X_HOOKWALL_DUPLICATE;
use crate::replay::{Claim, Store};
use crate::scheme::{Signed, Verified};

/// How much longer than `upstream_timeout` an in-flight claim lives.
const IN_FLIGHT_MARGIN: Duration = Duration::from_secs(10);

/// What the claim phase decided.
pub(super) enum Claimed<'a> {
    /// Forward; settle the guard, if any, with the upstream's answer.
    Go(Option<ReplayGuard<'a>>),
    /// A copy of a delivery the upstream already accepted: answered 200 without it.
    Duplicate,
}

/// A delivery claimed in the replay store, to be settled once the upstream has answered.
pub(super) struct ReplayGuard<'a> {
    store: &'a Store,
    route: &'a str,
    key: String,
    window: Duration,
}

impl ReplayGuard<'_> {
    /// The store key of the claimed delivery.
    pub(super) fn key(&self) -> &str {
        &self.key
    }

    /// Settles the claim from the upstream's answer (`None`: no answer): delivered on 2xx,
    /// released otherwise, so the sender's retry goes through.
    pub(super) async fn settle(self, status: Option<StatusCode>) {
        let settled = match status {
            Some(s) if s.is_success() => self.store.deliver(&self.key, self.window).await,
            _ => self.store.release(&self.key).await,
        };
        if let Err(e) = settled {
            tracing::warn!(route = %self.route, error = %e, "replay store unavailable after forwarding; the key lapses by itself");
        }
    }
}

impl Proxy {
    /// Claims a verified delivery on a route with replay protection. Unsigned requests never
    /// reach the store.
    ///
    /// # Errors
    /// [`Rejection::InFlight`] while another copy is being forwarded,
    /// [`Rejection::ReplayStoreDown`] when the store cannot be asked (fail closed).
    pub(super) async fn claim<'a>(
        &'a self,
        snapshot: &Snapshot,
        route: &'a Route,
        verified: Option<&Verified>,
        signed: &Signed<'_>,
    ) -> Result<Claimed<'a>, Rejection> {
        let (Some(verified), Some(window)) = (verified, route.replay_window) else {
            return Ok(Claimed::Go(None));
        };
        let key = replay_key(route, verified, signed);
        // A claim outlives the longest a forward can take, then lapses by itself should this
        // process die mid-request.
        let in_flight = snapshot
            .server()
            .upstream_timeout
            .saturating_add(IN_FLIGHT_MARGIN);
        match self.replay.claim(&key, in_flight).await {
            Ok(Claim::Claimed) => Ok(Claimed::Go(Some(ReplayGuard {
                store: &self.replay,
                route: &route.name,
                key,
                window,
            }))),
            Ok(Claim::InFlight) => Err(Rejection::InFlight),
            Ok(Claim::Delivered) => Ok(Claimed::Duplicate),
            Err(e) => {
                tracing::warn!(route = %route.name, error = %e, "replay store unavailable");
                Err(Rejection::ReplayStoreDown)
            }
        }
    }
}

/// The store key of a verified delivery, under the route's name: the provider's delivery id
/// where the signature covers it (Standard Webhooks, Twitch, Mailgun), else a digest of the
/// signed message itself. An unsigned id could be changed by whoever replays a request, and a
/// signature header can be re-spelled (hex case, extra list entries) without changing what it
/// signs; the signed message cannot change, and it is exactly what a provider's own retry of
/// an unchanged delivery repeats.
fn replay_key(route: &Route, verified: &Verified, signed: &Signed<'_>) -> String {
    if let (Some(id), true) = (&verified.delivery_id, route.scheme.signs_delivery_id()) {
        return format!("hookwall:{}:id:{id}", route.name);
    }
    let digest = verified
        .message
        .unwrap_or_else(|| route.scheme.replay_digest(signed));
    format!("hookwall:{}:msg:{}", route.name, hex::encode(digest))
}

/// The answer to a copy of a delivery the upstream already accepted: 200, so the sender stops
/// retrying, and the app sees the event once.
pub(super) fn duplicate() -> Response<ResponseBody> {
    let mut res = super::rejection::text(StatusCode::OK, "duplicate delivery; already accepted\n");
    res.headers_mut().insert(
        X_HOOKWALL_DUPLICATE.clone(),
        http::HeaderValue::from_static("true"),
    );
    res
}
