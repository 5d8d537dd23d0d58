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
    let mut id = String::with_capacity(32);
    for n in [crate::unique::next(), crate::unique::next()] {
        for shift in (0..16).rev() {
            let digit = (n >> (shift * 4)) & 0xf;
            id.push(char::from(HEX[digit as usize]));
        }
    }
    id
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_id_is_32_lowercase_hex_digits_and_new_each_time() {
        let (a, b) = (new_request_id(), new_request_id());
        for id in [&a, &b] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
        assert_ne!(a, b);
    }

    #[test]
    fn a_fit_inbound_id_is_kept_and_an_unfit_one_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(
            X_REQUEST_ID.clone(),
            HeaderValue::from_static("abc-1.2:3_x"),
        );
        assert_eq!(assign(&mut headers), "abc-1.2:3_x");
        headers.insert(X_REQUEST_ID.clone(), HeaderValue::from_static("no spaces"));
        let id = assign(&mut headers);
        assert_eq!(id.len(), 32);
        assert_eq!(headers[&X_REQUEST_ID], id.as_str());
    }
}
