//! Durations as written in the config (`"9s"`, `"500ms"`, `"1m30s"`, `"3d"`).
//!
//! Owns the parsing only; what a duration bounds is up to the caller.

use std::time::Duration;

/// The longest duration any setting takes: a year. Longer values are typos, and near the
/// top of the range adding them to an instant would overflow.
pub const MAX: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a duration: one or more `<whole number><unit>` parts, units `ms`, `s`, `m`, `h`,
/// `d`.
///
/// # Errors
/// A message, ready to follow `key: `, for an empty string, a number without a unit, an
/// unknown unit, zero, or an overflow.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(
            "empty duration: expected a number and a unit, as in \"9s\" or \"500ms\"".into(),
        );
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(format!(
                "`{text}` is not a duration: expected a number and a unit, as in \"9s\" or \"500ms\""
            ));
        }
        let number: u64 = rest[..digits_end]
            .parse()
            .map_err(|_| format!("`{text}` is too large"))?;
        rest = &rest[digits_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[..unit_end].trim();
        rest = &rest[unit_end..];
        let part = match unit {
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            "d" => number.checked_mul(86_400).map(Duration::from_secs),
            "" => {
                return Err(format!(
                    "`{text}` has no unit: write \"{number}s\" for seconds (units: ms, s, m, h, d)"
                ))
            }
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}` (use ms, s, m, h or d)"
                ))
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| format!("`{text}` is too large"))?;
    }
    if total.is_zero() {
        return Err("must be longer than zero".into());
    }
    if total > MAX {
        return Err(format!(
            "`{text}` is longer than a year, the most any setting takes"
        ));
    }
    Ok(total)
}

/// Shows a duration the way a user would write it (`9s`, `1500ms`, `5m`).
pub fn display(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("9s"), Ok(Duration::from_secs(9)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse("1d12h"), Ok(Duration::from_secs(36 * 3600)));
    }

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_a_bare_number() {
        assert!(parse("30").unwrap_err().contains("no unit"));
    }

    #[test]
    fn rejects_zero() {
        assert!(parse("0s").unwrap_err().contains("longer than zero"));
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        assert!(parse("").is_err());
        assert!(parse("s").is_err());
        assert!(parse("-5s").is_err());
        assert!(parse("1.5s").is_err());
        assert!(parse("5 minutes")
            .unwrap_err()
            .contains("unknown unit `minutes`"));
        assert_eq!(parse("5 m"), Ok(Duration::from_secs(300)));
        assert!(parse("99999999999999999999s")
            .unwrap_err()
            .contains("too large"));
        assert!(parse("18446744073709551615h")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(display(Duration::from_secs(9)), "9s");
        assert_eq!(display(Duration::from_secs(300)), "5m");
        assert_eq!(display(Duration::from_millis(1500)), "1500ms");
    }
}
