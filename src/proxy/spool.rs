//! The spool phase, for verified deliveries on routes whose `delivery` spools: commit the
//! delivery (the exact request a forward would send) and answer the sender only after the
//! commit, with `spool_status`, `X-Hookwall-Spool-Id` and a small JSON body. On a
//! `spool_on_failure` route the delivery is forwarded first, and spooled only when the app
//! cannot take it (unreachable, timed out, 429, 502, 503, 504). A spooled delivery's replay
//! key counts as delivered from its commit. The attempts themselves belong to `delivery`.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Response, StatusCode};

use super::claim::ReplayGuard;
use super::outcome::Outcome;
use super::{forward, Ctx, Mark, Proxy, Rejection};
use crate::body::{full, ResponseBody};
use crate::config::{DeliveryMode, Route};
use crate::headers::X_HOOKWALL_SPOOL_ID;
use crate::spool::{self, Record, StoreError};

/// Whether an answer of the app's means it could not take the delivery now.
fn app_cannot_take(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

impl Proxy {
    /// Delivers a verified request on a spooling route: spooled at once, or forwarded with
    /// the spool as the fallback.
    ///
    /// # Errors
    /// [`Rejection::SpoolFull`] or [`Rejection::SpoolUnavailable`] when nothing was
    /// committed.
    pub(super) async fn deliver(
        &self,
        ctx: &Ctx<'_>,
        index: usize,
        body: Bytes,
        mark: &Mark,
        guard: Option<ReplayGuard<'_>>,
    ) -> Result<(Response<ResponseBody>, Outcome), Rejection> {
        let route = &ctx.snapshot.routes().routes()[index];
        if route.delivery != DeliveryMode::SpoolOnFailure {
            return self.commit(ctx, index, body, mark, guard, None).await;
        }
        let req = self.upstream_request(ctx, index, body.clone(), mark);
        let upstream_status = match self.forward(ctx, index, req).await {
            Ok(res) if !app_cannot_take(res.status()) => {
                let status = res.status();
                if let Some(guard) = guard {
                    guard.settle(Some(status)).await;
                }
                let upstream_status = status.as_u16();
                return Ok((
                    forward::respond(res),
                    Outcome::Forwarded { upstream_status },
                ));
            }
            Ok(res) => Some(res.status().as_u16()),
            Err(_) => None,
        };
        // The forward took its request; the spool gets the same one, built again (only on
        // this failure path, so a forward that succeeds copies nothing).
        self.commit(ctx, index, body, mark, guard, upstream_status)
            .await
    }

    /// Commits the request a forward would send, settles the replay claim, and answers the
    /// sender.
    async fn commit(
        &self,
        ctx: &Ctx<'_>,
        index: usize,
        body: Bytes,
        mark: &Mark,
        guard: Option<ReplayGuard<'_>>,
        upstream_status: Option<u16>,
    ) -> Result<(Response<ResponseBody>, Outcome), Rejection> {
        let route = &ctx.snapshot.routes().routes()[index];
        let (parts, _) = self
            .upstream_request(ctx, index, body.clone(), mark)
            .into_parts();
        let record = record(ctx, route, parts, body, guard.as_ref());
        let id = record.id.clone();
        let started = std::time::Instant::now();
        let committed = match &self.spool {
            Some(spool) => spool.commit(record).await,
            None => Err(StoreError::Unavailable(
                "no spool is open: a route began spooling after start; restart hookwall".into(),
            )),
        };
        if let Some(guard) = guard {
            // Committed is as good as delivered: the sender's own retry is a duplicate.
            let settled = committed.is_ok().then_some(StatusCode::OK);
            guard.settle(settled).await;
        }
        if committed.is_ok() {
            self.metrics().spool.commit(started.elapsed());
        }
        match committed {
            Ok(()) => Ok((
                answer(route, &id),
                Outcome::Spooled {
                    id,
                    upstream_status,
                },
            )),
            Err(StoreError::Full) => Err(Rejection::SpoolFull),
            Err(StoreError::Unavailable(why)) => {
                tracing::warn!(route = %route.name, error = %why, "spool unavailable");
                Err(Rejection::SpoolUnavailable)
            }
        }
    }
}

/// The stored form of the request a forward would send (`parts`, whose headers it takes).
fn record(
    ctx: &Ctx<'_>,
    route: &Route,
    parts: Parts,
    body: Bytes,
    guard: Option<&ReplayGuard<'_>>,
) -> Record {
    let received_at_ms = spool::now_ms();
    let target = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Record {
        id: spool::new_id(received_at_ms),
        route: route.name.clone(),
        method: parts.method,
        target,
        headers: parts.headers,
        body,
        delivery_id: ctx.verified.as_ref().and_then(|v| v.delivery_id.clone()),
        replay_key: guard.map(|g| g.key().to_owned()),
        received_at_ms,
        client: ctx.client.ip().map(|_| ctx.client_text.clone()),
    }
}

/// The sender's answer: `spool_status`, the id in a header and in a small JSON body (none
/// for 204).
fn answer(route: &Route, id: &str) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(route.spool.status).unwrap_or(StatusCode::OK);
    let body = if status == StatusCode::NO_CONTENT {
        Bytes::new()
    } else {
        Bytes::from(format!("{{\"spooled\":true,\"id\":\"{id}\"}}\n"))
    };
    let has_body = !body.is_empty();
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert(X_HOOKWALL_SPOOL_ID.clone(), v);
    }
    if has_body {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    res
}
