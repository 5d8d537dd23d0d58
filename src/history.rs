//! What the inspector page shows of recent traffic, kept in memory: the last requests in a
//! bounded ring (`[admin] history` of them, default 1000), and per route a minute-by-minute
//! tally for the last hour (requests by outcome, a latency histogram, which secret slot
//! matched) plus when the route last forwarded. Recording is a lock, a few small copies and
//! no formatting, so it costs the request path well under a microsecond.
//!
//! An entry holds what the log line holds, never a body, a query string, a header value, a
//! signature or a secret; its delivery id is the sender's claim, marked unverified unless
//! the signature checked out.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::metrics::Kind;

/// Minutes of per-route tallies kept: the page's longest window.
const MINUTES: usize = 60;
/// Latency buckets: bucket `b` holds requests under 2^b microseconds (the last one, the rest).
const BUCKETS: usize = 24;
/// Outcome kinds tallied, in the order of [`KINDS`].
pub const KINDS: [Kind; 7] = [
    Kind::Forwarded,
    Kind::Rejected,
    Kind::UpstreamError,
    Kind::Shadow,
    Kind::Duplicate,
    Kind::Handshake,
    Kind::Spooled,
];
/// Secret slots tallied one by one; later slots count in the last.
const SLOTS: usize = 4;

/// One request, as the page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When it was answered, in milliseconds since the epoch.
    pub at_ms: u64,
    /// The route's name, `-` when none matched.
    pub route: String,
    pub provider: &'static str,
    pub method: http::Method,
    /// The path, without its query.
    pub path: String,
    pub outcome: Kind,
    /// The reason code; empty when there is none.
    pub reason: &'static str,
    pub status: u16,
    pub upstream_status: Option<u16>,
    /// The sender's delivery id; `verified` says whether the signature checked out.
    pub delivery_id: Option<String>,
    pub verified: bool,
    pub request_id: String,
    /// The client, as the log line shows it: an address, `unparsable` or `unix`.
    pub client: Option<String>,
    pub elapsed_us: u64,
    /// The rotation slot of the secret that matched.
    pub slot: Option<usize>,
}

/// One minute of one route.
#[derive(Clone, Debug, Default)]
struct Minute {
    /// Minutes since the epoch this tally is of.
    minute: u64,
    by_kind: [u64; KINDS.len()],
    latency: [u64; BUCKETS],
    slots: [u64; SLOTS],
}

/// A route's last hour.
#[derive(Debug, Default)]
struct Tally {
    minutes: Vec<Minute>,
    last_forwarded_ms: Option<u64>,
}

/// A route's traffic over a window, for the page and `/api/routes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Requests by outcome, in the order of [`KINDS`].
    pub by_kind: [u64; KINDS.len()],
    /// Requests verified with each secret slot (the last counts every later slot too).
    pub slots: [u64; SLOTS],
    /// Median and 99th percentile, in microseconds (upper bounds of power-of-two buckets).
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

impl Window {
    /// All requests in the window.
    pub fn total(&self) -> u64 {
        self.by_kind.iter().sum()
    }
}

/// The ring and the tallies.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    recent: Mutex<VecDeque<Entry>>,
    tallies: Mutex<HashMap<String, Tally>>,
}

impl History {
    /// Keeps the last `capacity` requests (0 keeps none, and no tallies either).
    pub fn new(capacity: usize) -> History {
        History {
            capacity,
            recent: Mutex::new(VecDeque::with_capacity(capacity)),
            tallies: Mutex::new(HashMap::new()),
        }
    }

    /// How many requests the ring keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records one answered request.
    pub fn record(&self, entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        self.tally(&entry);
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == self.capacity {
                recent.pop_front();
            }
            recent.push_back(entry);
        }
    }

    fn tally(&self, e: &Entry) {
        let Ok(mut tallies) = self.tallies.lock() else {
            return;
        };
        let tally = match tallies.get_mut(&e.route) {
            Some(t) => t,
            None => tallies.entry(e.route.clone()).or_default(),
        };
        let minute = tally.minute(e.at_ms / 60_000);
        if let Some(k) = KINDS.iter().position(|k| *k == e.outcome) {
            minute.by_kind[k] += 1;
        }
        minute.latency[bucket(e.elapsed_us)] += 1;
        if let Some(slot) = e.slot {
            minute.slots[slot.min(SLOTS - 1)] += 1;
        }
        if e.outcome == Kind::Forwarded {
            tally.last_forwarded_ms = Some(e.at_ms);
        }
    }

    /// The recent requests that `keep` accepts, newest first, at most `limit`.
    pub fn recent(&self, limit: usize, keep: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        let Ok(recent) = self.recent.lock() else {
            return Vec::new();
        };
        recent
            .iter()
            .rev()
            .filter(|e| keep(e))
            .take(limit)
            .cloned()
            .collect()
    }

    /// `route`'s traffic over the `minutes` up to `now_ms`, and when it last forwarded.
    pub fn window(&self, route: &str, minutes: u64, now_ms: u64) -> (Window, Option<u64>) {
        let Ok(tallies) = self.tallies.lock() else {
            return (Window::default(), None);
        };
        let Some(tally) = tallies.get(route) else {
            return (Window::default(), None);
        };
        let now = now_ms / 60_000;
        let mut window = Window::default();
        let mut latency = [0u64; BUCKETS];
        for m in tally
            .minutes
            .iter()
            .filter(|m| now - m.minute.min(now) < minutes)
        {
            add(&mut window.by_kind, &m.by_kind);
            add(&mut window.slots, &m.slots);
            add(&mut latency, &m.latency);
        }
        window.p50_us = quantile(&latency, 0.50);
        window.p99_us = quantile(&latency, 0.99);
        (window, tally.last_forwarded_ms)
    }
}

impl Tally {
    /// The tally of `minute`, reusing the slot of a minute an hour gone.
    fn minute(&mut self, minute: u64) -> &mut Minute {
        let slot = (minute % MINUTES as u64) as usize;
        if self.minutes.len() < MINUTES {
            self.minutes.resize(MINUTES, Minute::default());
        }
        let m = &mut self.minutes[slot];
        if m.minute != minute {
            *m = Minute {
                minute,
                ..Minute::default()
            };
        }
        m
    }
}

fn add<const N: usize>(into: &mut [u64; N], from: &[u64; N]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

/// The latency bucket of `us` microseconds: the smallest `b` with `us < 2^b`.
fn bucket(us: u64) -> usize {
    let b = (u64::BITS - us.leading_zeros()) as usize;
    b.min(BUCKETS - 1)
}

/// The upper bound, in microseconds, of the bucket holding quantile `q`.
fn quantile(latency: &[u64; BUCKETS], q: f64) -> Option<u64> {
    let total: u64 = latency.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, n) in latency.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(1u64 << b);
        }
    }
    Some(1u64 << (BUCKETS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(route: &str, at_ms: u64, outcome: Kind, elapsed_us: u64) -> Entry {
        Entry {
            at_ms,
            route: route.into(),
            provider: "github",
            method: http::Method::POST,
            path: "/webhooks/github".into(),
            outcome,
            reason: "",
            status: 200,
            upstream_status: Some(200),
            delivery_id: None,
            verified: true,
            request_id: "r".into(),
            client: None,
            elapsed_us,
            slot: Some(0),
        }
    }

    #[test]
    fn the_ring_keeps_the_last_capacity_requests_newest_first() {
        let history = History::new(3);
        for n in 0..10 {
            history.record(entry("a", n, Kind::Forwarded, 100));
        }
        let kept: Vec<u64> = history
            .recent(100, |_| true)
            .iter()
            .map(|e| e.at_ms)
            .collect();
        assert_eq!(kept, [9, 8, 7]);
        assert_eq!(history.recent(2, |_| true).len(), 2);
        assert_eq!(history.recent(100, |e| e.at_ms == 8).len(), 1);
        let none = History::new(0);
        none.record(entry("a", 1, Kind::Forwarded, 1));
        assert!(none.recent(10, |_| true).is_empty());
    }

    #[test]
    fn windows_count_by_outcome_and_forget_what_is_older() {
        let history = History::new(100);
        let now = 120 * 60_000;
        history.record(entry("a", now - 2 * 60_000, Kind::Forwarded, 1_000));
        history.record(entry("a", now - 30 * 60_000, Kind::Rejected, 10));
        history.record(entry("a", now - 61 * 60_000, Kind::Rejected, 10));
        history.record(entry("b", now, Kind::Spooled, 10));
        let (five, last) = history.window("a", 5, now);
        assert_eq!(five.total(), 1);
        assert_eq!(five.by_kind[0], 1);
        assert_eq!(last, Some(now - 2 * 60_000));
        let (hour, _) = history.window("a", 60, now);
        assert_eq!(hour.total(), 2, "the request of 61 minutes ago is gone");
        assert_eq!(hour.by_kind[1], 1);
        assert_eq!(hour.slots[0], 2);
        assert_eq!(history.window("c", 60, now).0.total(), 0);
    }

    #[test]
    fn quantiles_are_bucket_upper_bounds() {
        let history = History::new(1000);
        for n in 0..99 {
            history.record(entry("a", n, Kind::Forwarded, 100));
        }
        history.record(entry("a", 99, Kind::Forwarded, 50_000));
        let (w, _) = history.window("a", 60, 1_000);
        assert_eq!(w.p50_us, Some(128));
        assert_eq!(w.p99_us, Some(128));
        history.record(entry("a", 100, Kind::Forwarded, 50_000));
        let (w, _) = history.window("a", 60, 1_000);
        assert_eq!(w.p99_us, Some(65_536));
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 1);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }
}
