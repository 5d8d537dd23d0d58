//! Byte sizes as written in the config (`"1MiB"`, `"512KB"`, `65536`).
//!
//! Owns the parsing only; what a size limits is up to the caller.

use std::fmt;

/// Parses a size: a whole number of bytes, or a number followed by a unit.
///
/// Units: `B`, `KB`/`MB`/`GB` (powers of 1000) and `KiB`/`MiB`/`GiB` (powers of 1024),
/// case-insensitive for the letters, with optional space between number and unit.
///
/// # Errors
/// A message, ready to follow `key: `, for an empty string, garbage, a fraction, an
/// unknown unit, zero, or a value that does not fit in 64 bits.
pub fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    if number.is_empty() {
        return Err(format!(
            "`{text}` is not a size: expected a number with an optional unit, as in \"1MiB\" or \"64KB\""
        ));
    }
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is too large"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use B, KB, MB, GB, KiB, MiB or GiB)"
            ))
        }
    };
    let bytes = number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if bytes == 0 {
        return Err("must be at least 1 byte".to_string());
    }
    Ok(bytes)
}

/// A byte count shown the way a user would write it (`1MiB`, `1500B`).
pub struct Display(pub u64);

impl fmt::Display for Display {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= size && n.is_multiple_of(size) {
                return write!(f, "{}{unit}", n / size);
            }
        }
        write!(f, "{n}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse("17"), Ok(17));
        assert_eq!(parse("17B"), Ok(17));
        assert_eq!(parse("2KB"), Ok(2_000));
        assert_eq!(parse("2kb"), Ok(2_000));
        assert_eq!(parse("3MB"), Ok(3_000_000));
        assert_eq!(parse("1GB"), Ok(1_000_000_000));
        assert_eq!(parse("2KiB"), Ok(2_048));
        assert_eq!(parse("1MiB"), Ok(1_048_576));
        assert_eq!(parse("1 MiB"), Ok(1_048_576));
        assert_eq!(parse("2GiB"), Ok(2 << 30));
    }

    #[test]
    fn rejects_zero() {
        assert!(parse("0").unwrap_err().contains("at least 1 byte"));
        assert!(parse("0MiB").is_err());
    }

    #[test]
    fn rejects_overflow() {
        assert!(parse("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse("17179869184GiB").unwrap_err().contains("too large"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("MiB").is_err());
        assert!(parse("1.5MiB").unwrap_err().contains("unknown unit"));
        assert!(parse("-1").is_err());
        assert!(parse("10 parsecs").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(Display(1 << 20).to_string(), "1MiB");
        assert_eq!(Display(1500).to_string(), "1500B");
        assert_eq!(Display(3 << 10).to_string(), "3KiB");
    }
}
