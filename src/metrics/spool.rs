//! The spool's metrics: what it holds (gauges read from the store at each scrape, so every
//! replica sharing a store reports the same totals), what the delivery workers did (counters
//! of this process), and how long a commit takes (the sender waits for it).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::spool::{Counts, State};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStateLabels {
    pub route: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnlyLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteResultLabels {
    pub route: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteReasonLabels {
    pub route: String,
    pub reason: String,
}

/// The spool's families.
#[derive(Debug)]
pub struct SpoolMetrics {
    deliveries: Family<RouteStateLabels, Gauge>,
    oldest_pending: Family<RouteOnlyLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    bytes: Gauge,
    attempts: Family<RouteResultLabels, Counter>,
    dead: Family<RouteReasonLabels, Counter>,
    commit: Histogram,
}

impl SpoolMetrics {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> SpoolMetrics {
        let m = SpoolMetrics {
            deliveries: Family::default(),
            oldest_pending: Family::default(),
            bytes: Gauge::default(),
            attempts: Family::default(),
            dead: Family::default(),
            // 0.1 ms to about 3 s: a group commit's fsync at the low end, a slow disk above.
            commit: Histogram::new(exponential_buckets(0.000_1, 2.0, 15)),
        };
        registry.register(
            "hookwall_spool_deliveries",
            "Deliveries in the spool by route and state",
            m.deliveries.clone(),
        );
        registry.register(
            "hookwall_spool_oldest_pending_seconds",
            "Age of the oldest undelivered, not dead delivery, by route",
            m.oldest_pending.clone(),
        );
        registry.register(
            "hookwall_spool_bytes",
            "Bytes kept in the spool (pending, in flight and dead) against max_bytes",
            m.bytes.clone(),
        );
        registry.register(
            "hookwall_spool_attempts",
            "Attempts to deliver to the app by route and result",
            m.attempts.clone(),
        );
        registry.register(
            "hookwall_spool_dead",
            "Deliveries set aside as dead by route and reason",
            m.dead.clone(),
        );
        registry.register(
            "hookwall_spool_commit_seconds",
            "Time to commit a delivery durably before the sender's answer",
            m.commit.clone(),
        );
        m
    }

    /// Sets the gauges from what the store holds at `now_ms`. Series of routes and states
    /// that hold nothing any more go.
    pub fn observe(&self, counts: &Counts, now_ms: u64) {
        self.deliveries.clear();
        self.oldest_pending.clear();
        for (route, state, n, oldest_ms) in &counts.by_route {
            let labels = RouteStateLabels {
                route: route.clone(),
                state: state.as_str().to_owned(),
            };
            self.deliveries
                .get_or_create(&labels)
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
            if matches!(state, State::Pending | State::InFlight) {
                let age = now_ms.saturating_sub(*oldest_ms) as f64 / 1000.0;
                let gauge = self.oldest_pending.get_or_create(&RouteOnlyLabels {
                    route: route.clone(),
                });
                if age > gauge.get() {
                    gauge.set(age);
                }
            }
        }
        self.bytes
            .set(i64::try_from(counts.bytes).unwrap_or(i64::MAX));
    }

    /// Counts an attempt of `route` that came to `result` (`delivered`, `status_5xx`, …).
    pub fn attempt(&self, route: &str, result: &str) {
        self.attempts
            .get_or_create(&RouteResultLabels {
                route: route.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts a delivery of `route` set aside as dead for `reason`.
    pub fn dead(&self, route: &str, reason: &str) {
        self.dead
            .get_or_create(&RouteReasonLabels {
                route: route.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Records how long a commit took.
    pub fn commit(&self, took: std::time::Duration) {
        self.commit.observe(took.as_secs_f64());
    }
}
