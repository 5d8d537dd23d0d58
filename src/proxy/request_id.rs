//! The request id: an inbound `X-Request-Id` kept when it is fit to log and forward, else a
//! new one; set on the request (so the upstream gets it) and echoed on the response.

use http::header::{HeaderMap, HeaderValue};

use crate::headers::X_REQUEST_ID;

/// Gives the request in `headers` its id, and returns it.
pub(super) fn assign(headers: &mut HeaderMap) -> String {
    let id = request_id(headers);
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    id
}

/// Copies the request's id, from `request`, onto `response`.
pub(super) fn echo(request: &HeaderMap, response: &mut HeaderMap) {
    if let Some(id) = request.get(&X_REQUEST_ID) {
        response.insert(X_REQUEST_ID.clone(), id.clone());
    }
}

/// An inbound `X-Request-Id` if it is fit to log and forward (1 to 128 characters of
/// letters, digits and `-_.:`), else a new one.
fn request_id(headers: &HeaderMap) -> String {
    let mut ids = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(id), None) = (ids.next(), ids.next()) {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if let (true, Ok(text)) = (ok, id.to_str()) {
            return text.to_owned();
        }
    }
    new_request_id()
}

/// 128 bits, from two numbers of [`crate::unique`]: unique in this process, unpredictable
/// enough to not collide across replicas, and no system call per request.
fn new_request_id() -> String {
    format!(
        "{:016x}{:016x}",
        crate::unique::next(),
        crate::unique::next()
    )
}
