//! The `forward` and `respond` phases: the request the upstream gets (same method and
//! target, the verified bytes with their own `Content-Length`, the end-to-end headers and
//! hookwall's forwarding headers), sending it under `upstream_timeout` (502 / 504), and the
//! upstream's answer made fit to stream back.

use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Request, Response, Uri, Version};
use http_body_util::{BodyExt, Full};

use super::{Mark, Proxy, Rejection};
use crate::body::{BoxError, ResponseBody};
use crate::config::Route;
use crate::headers::{
    self, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_HOOKWALL_DELIVERY_ID,
    X_HOOKWALL_HANDSHAKE, X_HOOKWALL_VERIFIED,
};
use crate::upstream::{UpstreamBody, UpstreamError};

impl Proxy {
    /// The request route `index`'s upstream gets for this one: built from the head, the
    /// verified `body` and `mark`.
    pub(super) fn upstream_request(
        &self,
        ctx: &super::Ctx<'_>,
        index: usize,
        body: Bytes,
        mark: &Mark,
    ) -> Request<Full<Bytes>> {
        let route = &ctx.snapshot.routes().routes()[index];
        let tls = self.tls_at_start.is_some();
        let client = ctx.client.ip().map(|_| ctx.client_text.as_str());
        upstream_request(&ctx.parts, route, body, client, mark, tls)
    }

    /// Sends `req` to route `index`'s upstream, and counts the answer.
    ///
    /// # Errors
    /// [`Rejection::UpstreamTimeout`], [`Rejection::UpstreamBusy`] or
    /// [`Rejection::UpstreamDown`].
    pub(super) async fn forward(
        &self,
        ctx: &super::Ctx<'_>,
        index: usize,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<UpstreamBody>, Rejection> {
        let snapshot = ctx.snapshot;
        let sent = Instant::now();
        let timeout = snapshot.server().upstream_timeout;
        let res = self
            .upstream
            .send(&snapshot.targets[index], req, timeout)
            .await
            .map_err(|e| match e {
                UpstreamError::Timeout => Rejection::UpstreamTimeout,
                UpstreamError::Busy => Rejection::UpstreamBusy,
                UpstreamError::Down(e) => {
                    tracing::debug!(error = %e, "upstream request failed");
                    Rejection::UpstreamDown
                }
            })?;
        snapshot.route_metrics[index].upstream(
            &self.metrics,
            res.status().as_u16(),
            sent.elapsed(),
        );
        Ok(res)
    }
}

/// The upstream's answer as the sender gets it: hop-by-hop and hookwall-internal headers
/// dropped, framed for the sender's own protocol (the upstream may answer in HTTP/1.0).
pub(super) fn respond(res: Response<UpstreamBody>) -> Response<ResponseBody> {
    let (mut head, body) = res.into_parts();
    headers::strip_response(&mut head.headers);
    head.version = Version::HTTP_11;
    Response::from_parts(head, body.map_err(BoxError::from).boxed_unsync())
}

/// Builds the request to the upstream.
fn upstream_request(
    parts: &Parts,
    route: &Route,
    body: Bytes,
    client: Option<&str>,
    mark: &Mark,
    tls: bool,
) -> Request<Full<Bytes>> {
    let mut headers = headers::end_to_end(&parts.headers, route.scheme.signed_headers(), 6);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    // The copy already holds the request's own `Host`; an HTTP/2 request names its host in
    // the `:authority`, which becomes the `Host`.
    let host = match parts.headers.get(header::HOST) {
        Some(host) => Some(host.clone()),
        None => {
            let authority = parts.uri.authority();
            let host = authority.and_then(|a| HeaderValue::from_str(a.as_str()).ok());
            if let Some(host) = &host {
                headers.insert(header::HOST, host.clone());
            }
            host
        }
    };
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
    // The client as resolved (behind trusted proxies, their `X-Forwarded-For`), never the
    // sender's own header.
    if let Some(ip) = client.and_then(|ip| HeaderValue::from_str(ip).ok()) {
        headers.insert(X_FORWARDED_FOR.clone(), ip);
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
    mark_for_upstream(&mut headers, route, mark);
    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = Uri::from(path_and_query);
    *req.headers_mut() = headers;
    req
}

/// `X-Hookwall-Verified` (and the delivery id) or `X-Hookwall-Handshake`, by `mark`.
fn mark_for_upstream(headers: &mut http::HeaderMap, route: &Route, mark: &Mark) {
    let provider = HeaderValue::from_static(route.scheme.provider());
    match mark {
        Mark::Verified(verified) => {
            headers.insert(X_HOOKWALL_VERIFIED.clone(), provider);
            let id = verified.delivery_id.as_deref();
            if let Some(id) = id.and_then(|id| HeaderValue::from_str(id).ok()) {
                headers.insert(X_HOOKWALL_DELIVERY_ID.clone(), id);
            }
        }
        Mark::Handshake => {
            headers.insert(X_HOOKWALL_HANDSHAKE.clone(), provider);
        }
        Mark::Shadow(_) | Mark::Answer { .. } => {}
    }
}
