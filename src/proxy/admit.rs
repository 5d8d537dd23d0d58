//! The phases before a signature is looked at: `admit` (the request target, `Host`, the
//! route, the client against the route's `allow_from`, the method, the declared size: all
//! from the head, before a byte of body is read)
//! and `read_body` (the body under the route's cap and the server's deadline).
//!
//! Framing needs no check here: hyper refuses differing `Content-Length`s, `Transfer-Encoding`
//! on HTTP/1.0 and any encoding but a final `chunked` (400), and when `Content-Length` comes
//! with `Transfer-Encoding` it reads the body as chunked, drops the length and closes the
//! connection after the answer (RFC 9112 section 6.1). The upstream only ever sees hookwall's
//! own `Content-Length`.

use std::time::Duration;

use bytes::Bytes;
use http::header;
use http::request::Parts;
use http::{Method, Version};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body;

use super::{Ctx, Rejection};
use crate::body::BoxError;
use crate::config::Route;
use crate::target;

impl<'a> Ctx<'a> {
    /// Admits the request head: its target, its `Host`, its route (kept in the context as
    /// soon as it is known, for the log line and for `Allow`), its method and the body length
    /// it declares (`declared`: the least the body can be).
    ///
    /// # Errors
    /// The first check that fails, as the rejection the sender gets.
    pub(super) fn admit(&mut self, declared: u64) -> Result<(usize, &'a Route), Rejection> {
        let parts = &self.parts;
        target::check_target(&parts.uri, parts.version).map_err(Rejection::BadTarget)?;
        check_host(parts, &self.snapshot.server().hosts)?;
        let routes = self.snapshot.routes();
        let index = routes.find(parts.uri.path()).ok_or(Rejection::NoRoute)?;
        self.route = Some(index);
        let route = &routes.routes()[index];
        if let Some(allowed) = &route.allow_from {
            if !self.client.allowed_by(allowed) {
                return Err(Rejection::IpNotAllowed);
            }
        }
        check_method(route, &self.parts.method)?;
        check_size(route, declared)?;
        Ok((index, route))
    }
}

/// HTTP/1 needs exactly one `Host`: with none or two, hookwall and the app could disagree on
/// which site the request is for. With `[server] hosts`, it must be one of them.
///
/// # Errors
/// [`Rejection::BadHost`] or [`Rejection::HostNotAllowed`].
pub fn check_host(parts: &Parts, allowed: &[String]) -> Result<(), Rejection> {
    let host = if parts.version < Version::HTTP_2 {
        let mut hosts = parts.headers.get_all(header::HOST).iter();
        match (hosts.next(), hosts.next()) {
            (Some(h), None) => h.as_bytes(),
            _ => return Err(Rejection::BadHost),
        }
    } else {
        match (parts.headers.get(header::HOST), parts.uri.authority()) {
            (Some(h), _) => h.as_bytes(),
            (None, Some(a)) => a.as_str().as_bytes(),
            (None, None) => return Err(Rejection::BadHost),
        }
    };
    // An empty list accepts any name.
    if !allowed.is_empty()
        && !allowed
            .iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(host))
    {
        return Err(Rejection::HostNotAllowed);
    }
    Ok(())
}

/// The route's methods, and those of its scheme's setup handshakes.
///
/// # Errors
/// [`Rejection::WrongMethod`].
pub fn check_method(route: &Route, method: &Method) -> Result<(), Rejection> {
    if route.methods.contains(method) || route.scheme.handshake_methods().contains(method) {
        Ok(())
    } else {
        Err(Rejection::WrongMethod)
    }
}

/// A body of `len` bytes fits the route. On a request head, `len` is the declared length, so
/// an oversized body is refused before it is read (and, with `Expect: 100-continue`, before
/// the sender is asked to send it).
///
/// # Errors
/// [`Rejection::TooLarge`].
pub fn check_size(route: &Route, len: u64) -> Result<(), Rejection> {
    if len > route.max_body {
        Err(Rejection::TooLarge)
    } else {
        Ok(())
    }
}

/// Collects the body under `limit` bytes and `deadline`.
///
/// # Errors
/// [`Rejection::TooLarge`], [`Rejection::BodyTimeout`], or [`Rejection::BadBody`] for a body
/// that cannot be read (malformed chunked encoding, cut short).
pub async fn read_body<B>(body: B, limit: u64, deadline: Duration) -> Result<Bytes, Rejection>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await {
        Err(_) => Err(Rejection::BodyTimeout),
        // Trailers are dropped with the rest of the collected frames: only the data was
        // verified, so only the data goes upstream.
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Rejection::TooLarge),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body unreadable");
            Err(Rejection::BadBody)
        }
    }
}
