//! Why a request was answered by hookwall rather than by the upstream: the status, the reason
//! code for logs and metrics, and the short generic answer the sender gets (never a word about
//! what was expected).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode, Version};

use crate::body::{full, ResponseBody};
use crate::config::Route;
use crate::scheme::Unverified;
use crate::target::TargetError;

/// What a sender is told to wait before retrying a 409 or 503.
const RETRY_AFTER_SECS: &str = "5";

/// Why a request was answered by hookwall rather than by the upstream.
#[derive(Debug)]
pub enum Rejection {
    BadTarget(TargetError),
    /// HTTP/1 without exactly one `Host`.
    BadHost,
    /// A `Host` not in `[server] hosts`.
    HostNotAllowed,
    NoRoute,
    /// The client is not in the route's `allow_from`.
    IpNotAllowed,
    WrongMethod,
    TooLarge,
    BodyTimeout,
    /// The body could not be read (malformed chunked encoding, cut short).
    BadBody,
    Unverified(Unverified),
    /// A setup handshake that does not hold (a wrong verify token).
    HandshakeRefused,
    /// Another copy of this delivery is being forwarded now.
    InFlight,
    /// The replay store cannot be asked: fail closed, the sender retries.
    ReplayStoreDown,
    UpstreamDown,
    UpstreamTimeout,
    /// Every connection to the upstream (`max_upstream_connections`) stayed taken for
    /// `upstream_timeout`.
    UpstreamBusy,
    /// The spool cannot commit: fail closed, the sender retries.
    SpoolUnavailable,
    /// The spool holds `max_deliveries` or `max_bytes`: nothing is evicted to make room.
    SpoolFull,
}

impl Rejection {
    /// The status the sender gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::BadTarget(_) => StatusCode::BAD_REQUEST,
            Rejection::BadHost => StatusCode::BAD_REQUEST,
            Rejection::HostNotAllowed => StatusCode::BAD_REQUEST,
            Rejection::NoRoute => StatusCode::NOT_FOUND,
            Rejection::IpNotAllowed => StatusCode::FORBIDDEN,
            Rejection::WrongMethod => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::BadBody => StatusCode::BAD_REQUEST,
            Rejection::Unverified(_) => StatusCode::UNAUTHORIZED,
            Rejection::HandshakeRefused => StatusCode::FORBIDDEN,
            Rejection::InFlight => StatusCode::CONFLICT,
            Rejection::ReplayStoreDown => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::UpstreamDown => StatusCode::BAD_GATEWAY,
            Rejection::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Rejection::UpstreamBusy => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::SpoolUnavailable | Rejection::SpoolFull => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The reason code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::BadTarget(e) => e.reason(),
            Rejection::BadHost => "bad_host",
            Rejection::HostNotAllowed => "host_not_allowed",
            Rejection::NoRoute => "no_route",
            Rejection::IpNotAllowed => "ip_not_allowed",
            Rejection::WrongMethod => "method_not_allowed",
            Rejection::TooLarge => "body_too_large",
            Rejection::BodyTimeout => "body_timeout",
            Rejection::BadBody => "bad_body",
            Rejection::Unverified(u) => u.reason(),
            Rejection::HandshakeRefused => "handshake_refused",
            Rejection::InFlight => "in_flight",
            Rejection::ReplayStoreDown => "replay_store_unavailable",
            Rejection::UpstreamDown => "upstream_unreachable",
            Rejection::UpstreamTimeout => "upstream_timeout",
            Rejection::UpstreamBusy => "upstream_busy",
            Rejection::SpoolUnavailable => "spool_unavailable",
            Rejection::SpoolFull => "spool_full",
        }
    }

    /// Whether the connection must close after the answer: the request body may be unread,
    /// or the framing itself is in doubt, so the next bytes cannot be trusted as a request.
    fn closes_connection(&self) -> bool {
        match self {
            Rejection::BadTarget(_)
            | Rejection::BadHost
            | Rejection::HostNotAllowed
            | Rejection::NoRoute
            | Rejection::IpNotAllowed
            | Rejection::WrongMethod
            | Rejection::TooLarge
            | Rejection::BodyTimeout
            | Rejection::BadBody => true,
            Rejection::Unverified(_)
            | Rejection::HandshakeRefused
            | Rejection::InFlight
            | Rejection::ReplayStoreDown
            | Rejection::UpstreamDown
            | Rejection::UpstreamTimeout
            | Rejection::UpstreamBusy
            | Rejection::SpoolUnavailable
            | Rejection::SpoolFull => false,
        }
    }

    /// The short, generic body: nothing about what was expected.
    fn body(&self) -> &'static str {
        match self.status() {
            StatusCode::BAD_REQUEST => "bad request\n",
            StatusCode::NOT_FOUND => "not found\n",
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed\n",
            StatusCode::PAYLOAD_TOO_LARGE => "payload too large\n",
            StatusCode::REQUEST_TIMEOUT => "request timeout\n",
            StatusCode::UNAUTHORIZED => "unauthorized\n",
            StatusCode::FORBIDDEN => "forbidden\n",
            StatusCode::CONFLICT => "this delivery is being processed; retry later\n",
            StatusCode::SERVICE_UNAVAILABLE => "service unavailable; retry later\n",
            StatusCode::BAD_GATEWAY => "bad gateway\n",
            StatusCode::GATEWAY_TIMEOUT => "gateway timeout\n",
            _ => "error\n",
        }
    }
}

impl Rejection {
    /// hookwall's own answer: the status, the generic body, and `Allow`, `Retry-After` or
    /// `Connection: close` where they apply. `route` is the matched route, if any.
    pub fn answer(&self, version: Version, route: Option<&Route>) -> Response<ResponseBody> {
        let mut res = text(self.status(), self.body());
        let headers = res.headers_mut();
        if let (Rejection::WrongMethod, Some(route)) = (self, route) {
            let allow: Vec<&str> = route.methods.iter().map(Method::as_str).collect();
            if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                headers.insert(header::ALLOW, v);
            }
        }
        // A 409 or 503 is "not now": the sender is told when to try again.
        let status = self.status();
        if status == StatusCode::CONFLICT || status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        if self.closes_connection() && version < Version::HTTP_2 {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        res
    }
}

/// A plain-text answer of hookwall's own.
pub(super) fn text(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut res = Response::new(full(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}
