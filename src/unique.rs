//! Process-unique, well-mixed 64-bit numbers, without a system call each: a counter mixed
//! with a seed taken once from the clock and the process id (SplitMix64). Behind request ids,
//! spool ids and retry jitter; unique in this process, and unlikely to collide across
//! replicas and restarts. Not for secrets: nothing here is cryptographically random.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The next number: never the same twice in this process, and sharing no visible part with
/// the one before.
pub fn next() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        mix(nanos ^ u64::from(std::process::id()).rotate_left(32))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    mix(seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// A number in [-1, 1], different at every call.
pub fn spread() -> f64 {
    (next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// SplitMix64's output function: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_do_not_repeat_and_spread_stays_in_range() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(next()));
            let s = spread();
            assert!((-1.0..=1.0).contains(&s), "{s}");
        }
    }
}
