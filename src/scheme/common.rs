//! What every scheme shares: reading the one value of a header, a delivery id fit to log,
//! timestamps (their formats and the tolerance check), `public_url` and header names from
//! config, and secrets written as base64.
//!
//! Nothing here computes or compares a signature: that is each scheme's business.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::{BuildError, Unverified};
use crate::secret::Secret;

/// Default for `tolerance` on a timestamped route: 5 minutes either side of now.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Standard base64 that accepts values with or without their padding.
pub(crate) const BASE64_LENIENT_PADDING: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );

/// How a timestamp is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampFormat {
    /// Whole seconds since the Unix epoch.
    UnixSeconds,
    /// Whole milliseconds since the Unix epoch.
    UnixMillis,
    /// RFC 3339, as in `2024-05-01T12:00:00.123456789Z`.
    Rfc3339,
}

impl TimestampFormat {
    /// Parses the config spelling (`unix`, `unix_ms`, `rfc3339`).
    pub fn parse(text: &str) -> Option<TimestampFormat> {
        match text {
            "unix" => Some(TimestampFormat::UnixSeconds),
            "unix_ms" => Some(TimestampFormat::UnixMillis),
            "rfc3339" => Some(TimestampFormat::Rfc3339),
            _ => None,
        }
    }

    /// Reads a timestamp as received; `None` if it is not of this format.
    pub fn read(self, raw: &[u8]) -> Option<SystemTime> {
        let digits = |max: usize| {
            if raw.is_empty() || raw.len() > max || !raw.iter().all(u8::is_ascii_digit) {
                return None;
            }
            raw.iter().try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
        };
        match self {
            TimestampFormat::UnixSeconds => digits(12).map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            TimestampFormat::UnixMillis => {
                digits(15).map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
            }
            TimestampFormat::Rfc3339 => {
                let text = std::str::from_utf8(raw).ok()?;
                let at = time::OffsetDateTime::parse(
                    text,
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()?;
                let nanos = u64::try_from(at.unix_timestamp_nanos()).ok()?;
                Some(UNIX_EPOCH + Duration::from_nanos(nanos))
            }
        }
    }

    /// Writes `at` in this format (for `sign`).
    pub fn write(self, at: SystemTime) -> String {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        match self {
            TimestampFormat::UnixSeconds => since.as_secs().to_string(),
            TimestampFormat::UnixMillis => since.as_millis().to_string(),
            TimestampFormat::Rfc3339 => {
                let nanos = i128::try_from(since.as_nanos()).unwrap_or_default();
                time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default()
            }
        }
    }
}

/// `Ok` when `at` is within `tolerance` of `now`, in either direction.
pub(crate) fn check_skew(
    at: SystemTime,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), Unverified> {
    let skew = match at.duration_since(now) {
        Ok(ahead) => ahead,
        Err(behind) => behind.duration(),
    };
    if skew > tolerance {
        return Err(Unverified::TimestampOutOfTolerance);
    }
    Ok(())
}

/// The one value of `name`, or `missing` / `duplicate`.
pub(crate) fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    missing: Unverified,
    duplicate: Unverified,
) -> Result<&'a HeaderValue, Unverified> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().ok_or(missing)?;
    if values.next().is_some() {
        return Err(duplicate);
    }
    Ok(first)
}

/// A delivery id fit to log: one value, printable ASCII, at most 128 bytes.
pub(crate) fn delivery_id(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() || value.len() > 128 {
        return None;
    }
    let text = value.to_str().ok()?;
    text.bytes()
        .all(|b| b.is_ascii_graphic())
        .then(|| text.to_owned())
}

/// Parses a header name from config for `key`.
pub(crate) fn header_name(key: &'static str, text: &str) -> Result<HeaderName, BuildError> {
    let name = HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| BuildError::new(key, format!("`{text}` is not a valid header name")))?;
    if crate::headers::rewritten_by_proxy(&name) {
        return Err(BuildError::new(
            key,
            format!("`{text}` is a header the proxy rewrites; a signature cannot live there"),
        ));
    }
    Ok(name)
}

/// Checks a `public_url`: an absolute `http(s)://` URL without a query or fragment (the
/// request's own query is appended).
pub(crate) fn public_url(key: &'static str, text: &str) -> Result<String, BuildError> {
    let uri: Uri = text
        .parse()
        .map_err(|_| BuildError::new(key, format!("`{text}` is not a URL")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(BuildError::new(
            key,
            format!("`{text}` must be an absolute http:// or https:// URL, as the sender sees it"),
        ));
    }
    if text.contains('?') || text.contains('#') {
        return Err(BuildError::new(
            key,
            format!("`{text}` must not hold a query or fragment: the request's own query string is appended"),
        ));
    }
    Ok(text.to_owned())
}

/// Decodes secrets given as `prefix` + base64 (`whsec_` for Standard Webhooks); the prefix
/// is optional.
pub(crate) fn decode_base64_secrets(
    secrets: &[Secret],
    prefix: &str,
) -> Result<Vec<Vec<u8>>, String> {
    secrets
        .iter()
        .map(|s| {
            let raw = s.expose();
            let raw = raw.strip_prefix(prefix.as_bytes()).unwrap_or(raw);
            // Padding optional: the Standard Webhooks libraries pad before decoding.
            BASE64_LENIENT_PADDING
                .decode(raw.trim_ascii())
                .map_err(|_| format!("{} is not {prefix}<base64>", s.source()))
                .and_then(|key| {
                    if key.is_empty() {
                        Err(format!("{} decodes to an empty key", s.source()))
                    } else {
                        Ok(key)
                    }
                })
        })
        .collect()
}
