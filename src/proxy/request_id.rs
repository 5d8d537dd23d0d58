//! The request id: an inbound `X-Request-Id` kept when it is fit to log and forward, else a
//! new one; set on the request (so the upstream gets it) and echoed on the response.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

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

/// 128 bits from a process-wide counter mixed with the start time: unique in this process,
/// unpredictable enough to not collide across replicas, and no system call per request.
fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ u64::from(std::process::id()).rotate_left(32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Two SplitMix64 outputs of (seed, counter): consecutive ids share no visible part.
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = mix(seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let b = mix(a ^ seed.rotate_left(17));
    format!("{a:016x}{b:016x}")
}
