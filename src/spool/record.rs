//! What the spool stores of a delivery: the exact request hookwall would forward (method,
//! target, the forwarded header set, the verified body) and what an operator needs to know of
//! it (route, delivery id, replay key, when it arrived, from whom). Never a secret: the
//! headers are the set a plain forward sends the app, the sender's signature header among
//! them, as the app would see it.
//!
//! Headers are kept as `name:value` lines: a header name holds no `:`, and a value holds no
//! CR, LF or NUL, so the encoding needs no escaping and reads back exactly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method};

/// One delivery as committed to the spool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The spool's id, stable across attempts: the app's idempotency key.
    pub id: String,
    pub route: String,
    pub method: Method,
    /// The path and query, as received.
    pub target: PathAndQuery,
    /// The header set a plain forward sends (hookwall's own headers included).
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The provider's delivery id, where the scheme reads one (unverified on its own).
    pub delivery_id: Option<String>,
    /// The replay store key, where the route has replay protection.
    pub replay_key: Option<String>,
    /// When hookwall received it, in milliseconds since the Unix epoch.
    pub received_at_ms: u64,
    /// The client's address, as the log line shows it.
    pub client: Option<String>,
}

impl Record {
    /// The bytes this record takes against `max_bytes`: body and headers.
    pub fn size(&self) -> u64 {
        (self.body.len() + encode_headers(&self.headers).len()) as u64
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// `d` in whole milliseconds; a duration past `u64` milliseconds is as good as for ever.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the epoch as RFC 3339, in UTC, to the millisecond.
pub fn rfc3339(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// A new spool id: `sp_`, the time in milliseconds (so ids sort by arrival), then a number
/// of [`crate::unique`] (so replicas and restarts do not collide).
pub fn new_id(received_at_ms: u64) -> String {
    format!("sp_{received_at_ms:012x}{:016x}", crate::unique::next())
}

/// The headers as `name:value\n` lines, in order, repeated names repeated.
pub fn encode_headers(headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(headers.len() * 32);
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The headers from [`encode_headers`]' lines.
///
/// # Errors
/// A line without `:`, or a name or value HTTP does not allow (a damaged store).
pub fn decode_headers(bytes: &[u8]) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or("a stored header line without `:`")?;
        let name = HeaderName::from_bytes(&line[..colon])
            .map_err(|_| "a stored header name HTTP does not allow")?;
        let value = HeaderValue::from_bytes(&line[colon + 1..])
            .map_err(|_| "a stored header value HTTP does not allow")?;
        headers.append(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_back_exactly_with_repeats_order_and_odd_bytes() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("two: with colon"));
        h.append("content-type", HeaderValue::from_static("application/json"));
        h.append("x-empty", HeaderValue::from_static(""));
        h.append(
            "x-bytes",
            HeaderValue::from_bytes(b"caf\xc3\xa9\t\xff").unwrap(),
        );
        let back = decode_headers(&encode_headers(&h)).unwrap();
        assert_eq!(back, h);
        let all: Vec<_> = back.get_all("x-a").iter().collect();
        assert_eq!(all, ["1", "two: with colon"]);
    }

    #[test]
    fn a_damaged_header_blob_is_an_error_not_a_panic() {
        assert!(decode_headers(b"no colon here\n").is_err());
        assert!(decode_headers(b"bad name:x\n").is_err());
        assert!(decode_headers(b"x-ok:\x00\n").is_err());
        assert_eq!(decode_headers(b"").unwrap().len(), 0);
    }

    #[test]
    fn ids_sort_by_time_and_never_repeat() {
        let a = new_id(1_700_000_000_000);
        let b = new_id(1_700_000_000_001);
        let c = new_id(1_700_000_000_001);
        assert!(a < b, "{a} {b}");
        assert_ne!(b, c);
        assert_eq!(a.len(), 3 + 12 + 16);
        assert!(a.starts_with("sp_"));
    }

    #[test]
    fn size_counts_body_and_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("bc"));
        let r = Record {
            id: new_id(0),
            route: "r".into(),
            method: Method::POST,
            target: PathAndQuery::from_static("/"),
            headers,
            body: Bytes::from_static(b"12345"),
            delivery_id: None,
            replay_key: None,
            received_at_ms: 0,
            client: None,
        };
        assert_eq!(r.size(), 5 + "x-a:bc\n".len() as u64);
    }
}
