//! The log line's timestamp, as tracing-subscriber's default timer writes it: RFC 3339 in UTC
//! with six fractional digits (`2026-12-06T09:19:55.123456Z`). The date and time to the
//! second are formatted once a second per thread; only the microseconds are new each line.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

thread_local! {
    /// The last second formatted on this thread, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends the time now.
pub(super) fn now(out: &mut Vec<u8>) {
    write_at(SystemTime::now(), out);
}

/// Appends `at`. A time before 1970 or past 9999 is left to tracing-subscriber's timer.
pub(super) fn write_at(at: SystemTime, out: &mut Vec<u8>) {
    let Ok(since) = at.duration_since(UNIX_EPOCH) else {
        return fallback(out);
    };
    let fresh = SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != since.as_secs() {
            cached.1 = second(since.as_secs())?;
            cached.0 = since.as_secs();
        }
        out.extend_from_slice(cached.1.as_bytes());
        Some(())
    });
    if fresh.is_none() {
        return fallback(out);
    }
    out.push(b'.');
    push_digits(out, since.subsec_micros(), 6);
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` of a second since the epoch; `None` past year 9999.
fn second(secs: u64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
    if t.year() > 9999 {
        return None;
    }
    let (h, m, s) = t.to_hms();
    Some(format!(
        "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}",
        t.year(),
        u8::from(t.month()),
        t.day()
    ))
}

/// Appends `value` as exactly `width` decimal digits, zero-padded.
fn push_digits(out: &mut Vec<u8>, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width - 1);
    while divisor > 0 {
        // A digit: always below 10.
        out.push(b'0' + ((value / divisor) % 10) as u8);
        divisor /= 10;
    }
}

/// tracing-subscriber's own timer, for the times the cache does not cover.
fn fallback(out: &mut Vec<u8>) {
    let mut text = String::new();
    if tracing_subscriber::fmt::time::SystemTime
        .format_time(&mut Writer::new(&mut text))
        .is_err()
    {
        text = "<unknown time>".to_owned();
    }
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, micros: u64) -> String {
        let mut out = Vec::new();
        write_at(
            UNIX_EPOCH + Duration::from_micros(secs * 1_000_000 + micros),
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_as_rfc3339_utc_with_microseconds() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(1_796_548_795, 123_456), "2026-12-06T09:19:55.123456Z");
        // The cached second, then the next one.
        assert_eq!(at(1_796_548_795, 7), "2026-12-06T09:19:55.000007Z");
        assert_eq!(at(1_796_548_796, 999_999), "2026-12-06T09:19:56.999999Z");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(253_402_300_799, 0), "9999-12-31T23:59:59.000000Z");
    }

    #[test]
    fn sorts_between_two_readings_of_tracing_subscribers_timer() {
        let theirs = || {
            let mut text = String::new();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut text))
                .unwrap();
            text
        };
        for _ in 0..1000 {
            let before = theirs();
            let mut ours = Vec::new();
            now(&mut ours);
            let ours = String::from_utf8(ours).unwrap();
            let after = theirs();
            assert_eq!(ours.len(), before.len(), "{ours} vs {before}");
            assert!(before <= ours && ours <= after, "{before} {ours} {after}");
        }
    }
}
