//! The header policy: which request headers never go upstream, which response headers never
//! go back to the sender, the headers hookwall itself writes, and which headers a signature
//! may not live in (because the upstream would never see them as received).
//!
//! The request path (`proxy`) applies this policy; schemes consult it when they are built.

use http::header::{self, HeaderMap, HeaderName};

/// Request headers that never go upstream: hop-by-hop ones (RFC 9110 section 7.6.1), the
/// framing hookwall sets itself, forwarding information a client could forge, and routing
/// overrides some frameworks honour.
pub const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-real-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Response headers that never go back to the sender (hop-by-hop).
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The prefix of every header hookwall writes for the upstream; inbound ones are dropped.
const HOOKWALL_PREFIX: &str = "x-hookwall-";

/// `X-Hookwall-Verified: <provider>` on a verified request.
pub static X_HOOKWALL_VERIFIED: HeaderName = HeaderName::from_static("x-hookwall-verified");
/// `X-Hookwall-Delivery-Id`: the delivery id of a verified request, where the scheme has one.
pub static X_HOOKWALL_DELIVERY_ID: HeaderName = HeaderName::from_static("x-hookwall-delivery-id");
/// `X-Hookwall-Handshake: <provider>` on a forwarded, unsigned setup request.
pub static X_HOOKWALL_HANDSHAKE: HeaderName = HeaderName::from_static("x-hookwall-handshake");
/// `X-Hookwall-Duplicate: true` on hookwall's answer to a copy already delivered.
pub static X_HOOKWALL_DUPLICATE: HeaderName = HeaderName::from_static("x-hookwall-duplicate");
/// `X-Hookwall-Spool-Id`: a spooled delivery's id, on the sender's answer and on every
/// attempt (stable across attempts: the app's idempotency key).
pub static X_HOOKWALL_SPOOL_ID: HeaderName = HeaderName::from_static("x-hookwall-spool-id");
/// `X-Hookwall-Admin: 1`: what the CLI sends with an admin request that changes state.
pub static X_HOOKWALL_ADMIN: HeaderName = HeaderName::from_static("x-hookwall-admin");
/// `X-Hookwall-Attempt: <n>` on a spooled delivery's attempts (1, 2, …).
pub static X_HOOKWALL_ATTEMPT: HeaderName = HeaderName::from_static("x-hookwall-attempt");
/// `X-Hookwall-Received-At`: when hookwall received a spooled delivery (RFC 3339).
pub static X_HOOKWALL_RECEIVED_AT: HeaderName = HeaderName::from_static("x-hookwall-received-at");
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a signature may not be carried in `name`: the proxy drops or rewrites it, so the
/// upstream would never see what was verified.
pub fn rewritten_by_proxy(name: &HeaderName) -> bool {
    DROPPED_REQUEST_HEADERS.contains(&name.as_str())
        || *name == header::HOST
        || name.as_str().starts_with(HOOKWALL_PREFIX)
}

/// The request headers that go upstream as received: every header but the dropped ones,
/// hookwall's own, names with `_` and names listed in `Connection` — except that a header in
/// `signed` survives the last two, so the upstream can check what hookwall checked.
///
/// A copy of the map with those removed: copying keeps the map's hashed layout, where
/// building a new one would hash every name again. Two headers are the caller's and stay
/// whatever `Connection` says: `Host`, which goes upstream as received, and `Content-Length`,
/// which the caller replaces with the length of the body it sends (replacing keeps the
/// headers in their order; removing one moves the last header into its place).
pub fn end_to_end(headers: &HeaderMap, signed: &[HeaderName], room: usize) -> HeaderMap {
    let named_by_connection = connection_tokens(headers);
    let dropped: Vec<&HeaderName> = headers
        .keys()
        .filter(|name| *name != header::HOST && *name != header::CONTENT_LENGTH)
        .filter(|name| {
            let text = name.as_str();
            DROPPED_REQUEST_HEADERS.contains(&text)
                || text.starts_with(HOOKWALL_PREFIX)
                // `X_Forwarded_For` is `X-Forwarded-For` to servers that map `_` to `-` (CGI,
                // WSGI): dropped, as nginx does, unless the scheme signs it.
                || ((text.contains('_') || names_any(&named_by_connection, text))
                    && !signed.contains(name))
        })
        .collect();
    let mut out = headers.clone();
    out.reserve(room);
    for name in dropped {
        out.remove(name);
    }
    out
}

/// Removes the hop-by-hop headers of an upstream response, and those its `Connection` names
/// (the upstream may not hide its own framing this way; hyper sets that anyway). Only the
/// names present are looked up again.
pub fn strip_response(headers: &mut HeaderMap) {
    let named_by_connection = connection_tokens(headers);
    let dropped: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let text = name.as_str();
            DROPPED_RESPONSE_HEADERS.contains(&text) || names_any(&named_by_connection, text)
        })
        .cloned()
        .collect();
    for name in dropped {
        headers.remove(name);
    }
}

/// The header names listed in `Connection`, as written (compared ignoring case).
fn connection_tokens(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether `tokens` name the header `name` (lowercase, as every `HeaderName` is).
fn names_any(tokens: &[&str], name: &str) -> bool {
    tokens.iter().any(|t| t.eq_ignore_ascii_case(name))
}
