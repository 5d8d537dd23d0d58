//! When a spooled delivery is tried next, or why it is given up: the route's retry schedule
//! with ±20 % jitter, `Retry-After` on 429 and 503 (clamped to 1 s – 1 h), the statuses that
//! make a delivery dead at once, and `max_age`. Pure functions of their inputs, so every rule
//! is tested without a clock or a network.

use std::time::{Duration, SystemTime};

use http::{HeaderValue, StatusCode};

use super::record::millis;

/// The shortest and longest wait a `Retry-After` may ask for.
const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);
/// Jitter: each wait is scaled by a factor in [1 - JITTER, 1 + JITTER].
const JITTER: f64 = 0.2;

/// What one attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The app answered: its status, and how long a 429 or 503 asked to wait.
    Answered {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// No answer: the app could not be reached (connect error, reset, TLS).
    Unreachable,
    /// No answer head within `upstream_timeout`.
    TimedOut,
}

/// Why a delivery was set aside as dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadReason {
    RetriesExhausted,
    MaxAge,
    NoRetryStatus,
    RouteRemoved,
}

impl DeadReason {
    /// The reason code, as the API, the log and the metrics show it.
    pub fn code(self) -> &'static str {
        match self {
            DeadReason::RetriesExhausted => "retries_exhausted",
            DeadReason::MaxAge => "max_age",
            DeadReason::NoRetryStatus => "no_retry_status",
            DeadReason::RouteRemoved => "route_removed",
        }
    }

    /// The code read back from the store.
    pub fn from_code(code: &str) -> Option<DeadReason> {
        [
            DeadReason::RetriesExhausted,
            DeadReason::MaxAge,
            DeadReason::NoRetryStatus,
            DeadReason::RouteRemoved,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// What happens to a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The app took it (2xx).
    Delivered,
    /// Try again at this time (milliseconds since the epoch).
    RetryAt(u64),
    Dead(DeadReason),
}

/// A route's retry policy.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// The waits between attempts after the first, immediate one.
    pub schedule: &'a [Duration],
    /// A delivery older than this is not tried again.
    pub max_age: Duration,
    /// Statuses that make a delivery dead at once.
    pub no_retry_status: &'a [u16],
}

impl Attempt {
    /// The result code for metrics and the API: `delivered`, `status_4xx`, `unreachable`, …
    pub fn result(&self) -> &'static str {
        match self {
            Attempt::Answered { status, .. } if status.is_success() => "delivered",
            Attempt::Answered { status, .. } if status.is_client_error() => "status_4xx",
            Attempt::Answered { status, .. } if status.is_server_error() => "status_5xx",
            Attempt::Answered { .. } => "status_other",
            Attempt::Unreachable => "unreachable",
            Attempt::TimedOut => "timeout",
        }
    }
}

impl Policy<'_> {
    /// After attempt number `attempts` (1 for the first) came to `attempt`: what next.
    /// `received_at_ms` and `now_ms` are milliseconds since the epoch; `spread` is a number
    /// in [-1, 1] that picks the jitter.
    pub fn next(
        &self,
        attempt: Attempt,
        attempts: u32,
        received_at_ms: u64,
        now_ms: u64,
        spread: f64,
    ) -> Next {
        let retry_after = match attempt {
            Attempt::Answered { status, .. } if status.is_success() => return Next::Delivered,
            Attempt::Answered { status, .. } if self.no_retry_status.contains(&status.as_u16()) => {
                return Next::Dead(DeadReason::NoRetryStatus)
            }
            Attempt::Answered { retry_after, .. } => retry_after,
            Attempt::Unreachable | Attempt::TimedOut => None,
        };
        let Some(planned) = self.schedule.get(attempts.saturating_sub(1) as usize) else {
            return Next::Dead(DeadReason::RetriesExhausted);
        };
        let wait = retry_after.unwrap_or_else(|| jittered(*planned, spread));
        let at = now_ms.saturating_add(millis(wait));
        if at > received_at_ms.saturating_add(millis(self.max_age)) {
            return Next::Dead(DeadReason::MaxAge);
        }
        Next::RetryAt(at)
    }
}

/// `wait` scaled by 1 + 0.2 × `spread` (`spread` clamped to [-1, 1]).
pub fn jittered(wait: Duration, spread: f64) -> Duration {
    wait.mul_f64(1.0 + JITTER * spread.clamp(-1.0, 1.0))
}

/// How long a 429 or 503 asks to wait: `Retry-After` as seconds or an HTTP date, clamped to
/// 1 s – 1 h; `None` for other statuses, or a value that reads as neither.
pub fn retry_after(
    status: StatusCode,
    value: Option<&HeaderValue>,
    now: SystemTime,
) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let text = value?.to_str().ok()?.trim();
    let wait = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => http_date(text)?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP senders must use.
fn http_date(text: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(text, format).ok()?;
    Some(at.assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn policy(schedule: &[Duration]) -> Policy<'_> {
        Policy {
            schedule,
            max_age: S(3 * 24 * 3600),
            no_retry_status: &[410],
        }
    }

    fn answered(code: u16) -> Attempt {
        Attempt::Answered {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: None,
        }
    }

    #[test]
    fn a_2xx_is_delivered_and_410_is_dead_at_once() {
        let schedule = [S(5)];
        let p = policy(&schedule);
        assert_eq!(p.next(answered(204), 1, 0, 0, 0.0), Next::Delivered);
        assert_eq!(
            p.next(answered(410), 1, 0, 0, 0.0),
            Next::Dead(DeadReason::NoRetryStatus)
        );
    }

    #[test]
    fn failures_follow_the_schedule_then_exhaust_it() {
        let schedule = [S(5), S(300)];
        let p = policy(&schedule);
        let now = 1_000_000;
        assert_eq!(
            p.next(answered(500), 1, now, now, 0.0),
            Next::RetryAt(now + 5_000)
        );
        assert_eq!(
            p.next(Attempt::Unreachable, 2, now, now, 0.0),
            Next::RetryAt(now + 300_000)
        );
        assert_eq!(
            p.next(Attempt::TimedOut, 3, now, now, 0.0),
            Next::Dead(DeadReason::RetriesExhausted)
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for spread in [-5.0, -1.0, -0.3, 0.0, 0.7, 1.0, 9.0] {
            let d = jittered(S(100), spread);
            assert!(d >= S(80) && d <= S(120), "{spread}: {d:?}");
        }
        assert_eq!(jittered(S(100), -1.0), S(80));
        assert_eq!(jittered(S(100), 1.0), S(120));
    }

    #[test]
    fn a_retry_past_max_age_is_dead() {
        let schedule = [S(3600)];
        let p = Policy {
            max_age: S(60),
            ..policy(&schedule)
        };
        assert_eq!(
            p.next(answered(503), 1, 0, 0, 0.0),
            Next::Dead(DeadReason::MaxAge)
        );
    }

    #[test]
    fn retry_after_replaces_the_planned_wait() {
        let schedule = [S(5)];
        let p = policy(&schedule);
        let a = Attempt::Answered {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(S(30)),
        };
        assert_eq!(p.next(a, 1, 0, 1000, 1.0), Next::RetryAt(31_000));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_clamped_and_only_on_429_and_503() {
        let now = SystemTime::UNIX_EPOCH + S(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let v = |s: &'static str| HeaderValue::from_static(s);
        let tmr = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(retry_after(tmr, Some(&v("120")), now), Some(S(120)));
        assert_eq!(retry_after(tmr, Some(&v("0")), now), Some(S(1)));
        assert_eq!(retry_after(tmr, Some(&v("99999")), now), Some(S(3600)));
        assert_eq!(
            retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&v("Sun, 06 Nov 1994 08:50:37 GMT")),
                now
            ),
            Some(S(60))
        );
        // A date in the past waits the least.
        assert_eq!(
            retry_after(tmr, Some(&v("Sun, 06 Nov 1994 08:00:00 GMT")), now),
            Some(S(1))
        );
        assert_eq!(retry_after(tmr, Some(&v("soon")), now), None);
        assert_eq!(retry_after(tmr, Some(&v("-5")), now), None);
        assert_eq!(retry_after(tmr, None, now), None);
        assert_eq!(
            retry_after(StatusCode::BAD_GATEWAY, Some(&v("5")), now),
            None
        );
    }

    #[test]
    fn results_name_the_class_of_failure() {
        assert_eq!(answered(200).result(), "delivered");
        assert_eq!(answered(404).result(), "status_4xx");
        assert_eq!(answered(502).result(), "status_5xx");
        assert_eq!(Attempt::Unreachable.result(), "unreachable");
        assert_eq!(Attempt::TimedOut.result(), "timeout");
    }

    #[test]
    fn dead_reasons_read_back_from_their_codes() {
        for r in [
            DeadReason::RetriesExhausted,
            DeadReason::MaxAge,
            DeadReason::NoRetryStatus,
            DeadReason::RouteRemoved,
        ] {
            assert_eq!(DeadReason::from_code(r.code()), Some(r));
        }
        assert_eq!(DeadReason::from_code("nope"), None);
    }
}
