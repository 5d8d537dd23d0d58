//! Prometheus metrics: the families hookwall records and their text encoding for the admin
//! listener's `/metrics`. Built on the `prometheus-client` crate (the Prometheus project's own
//! Rust client: OpenMetrics text, typed label sets, no global registry).
//!
//! Label values are route names, provider names, outcome and reason codes, upstream status
//! codes and secret slot numbers: never a secret, a signature or anything from a body.

mod spool;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// `hookwall_requests_total` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub provider: String,
    /// A [`Kind`]'s label value.
    pub outcome: String,
    /// The reason code of a rejection (or of a shadow-mode failure); empty otherwise.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub route: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SlotLabels {
    pub route: String,
    pub slot: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The `outcome` label of `hookwall_requests_total`: what a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Verified and forwarded; the upstream answered.
    Forwarded,
    /// Answered by hookwall before or instead of the upstream.
    Rejected,
    /// Verified, but the upstream could not be reached or did not answer in time.
    UpstreamError,
    /// Failed verification, forwarded anyway because the route does not enforce.
    Shadow,
    /// A copy of a delivery the upstream already accepted.
    Duplicate,
    /// A provider's setup handshake, answered by hookwall or forwarded.
    Handshake,
    /// Verified and committed to the spool; the app gets it in the background.
    Spooled,
}

impl Kind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Forwarded => "forwarded",
            Kind::Rejected => "rejected",
            Kind::UpstreamError => "upstream_error",
            Kind::Shadow => "shadow",
            Kind::Duplicate => "duplicate",
            Kind::Handshake => "handshake",
            Kind::Spooled => "spooled",
        }
    }
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s: a proxy hop at the low end, upstream_timeout at the high end.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Every metric hookwall records.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Histograms<RouteLabels>,
    pub upstream_duration: Histograms<RouteLabels>,
    pub upstream_responses: Family<UpstreamLabels, Counter>,
    pub in_flight: Gauge,
    pub secret_slot_matches: Family<SlotLabels, Counter>,
    pub config_reloads: Family<ReloadLabels, Counter>,
    pub spool: spool::SpoolMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry with every family registered, and `hookwall_build_info{version}` set.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "hookwall_requests",
            "Requests by route, provider, outcome and reason code",
            requests.clone(),
        );
        let request_duration: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "hookwall_request_duration_seconds",
            "Time from request head to response head, by route",
            request_duration.clone(),
        );
        let upstream_duration: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "hookwall_upstream_duration_seconds",
            "Time the upstream took to answer a forwarded request, by route",
            upstream_duration.clone(),
        );
        let upstream_responses = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "hookwall_upstream_responses",
            "Upstream answers by route and status code",
            upstream_responses.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "hookwall_in_flight_requests",
            "Requests being handled now",
            in_flight.clone(),
        );
        let secret_slot_matches = Family::<SlotLabels, Counter>::default();
        registry.register(
            "hookwall_secret_slot_matches",
            "Verified requests by route and the rotation slot of the secret that matched",
            secret_slot_matches.clone(),
        );
        let config_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "hookwall_config_reloads",
            "Config reloads by result (ok, error)",
            config_reloads.clone(),
        );
        let spool = spool::SpoolMetrics::register(&mut registry);
        registry.register(
            "hookwall_build",
            "The running hookwall",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Arc::new(Metrics {
            registry,
            requests,
            request_duration,
            upstream_duration,
            upstream_responses,
            in_flight,
            secret_slot_matches,
            config_reloads,
            spool,
        })
    }

    /// The request counter of one label set (created on first use).
    fn requests_for(&self, route: &str, provider: &str, outcome: Kind, reason: &str) -> Counter {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                provider: provider.to_owned(),
                outcome: outcome.as_str().to_owned(),
                reason: reason.to_owned(),
            })
            .clone()
    }

    /// The upstream-answer counter of one route and status code.
    fn upstream_for(&self, route: &str, code: u16) -> Counter {
        self.upstream_responses
            .get_or_create(&UpstreamLabels {
                route: route.to_owned(),
                code: code.to_string(),
            })
            .clone()
    }

    /// The secret-slot counter of one route and slot.
    fn slot_for(&self, route: &str, slot: usize) -> Counter {
        self.secret_slot_matches
            .get_or_create(&SlotLabels {
                route: route.to_owned(),
                slot: slot.to_string(),
            })
            .clone()
    }

    /// A route's duration histogram in `family`.
    fn histogram_for(family: &Histograms<RouteLabels>, route: &str) -> Histogram {
        family
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .clone()
    }

    /// Counts one request that matched no route (routed requests go through
    /// [`RouteMetrics`]).
    pub fn request(
        &self,
        route: &str,
        provider: &str,
        outcome: Kind,
        reason: &str,
        took: Duration,
    ) {
        self.requests_for(route, provider, outcome, reason).inc();
        Metrics::histogram_for(&self.request_duration, route).observe(took.as_secs_f64());
    }

    /// Counts a reload.
    pub fn reload(&self, ok: bool) {
        self.config_reloads
            .get_or_create(&ReloadLabels {
                result: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// One route's most used series, resolved once: the common path (a forwarded request, its
/// durations, the usual upstream code, the first secret slot) then records with no label
/// lookup and no allocation. Series are created on first use, as through the families.
#[derive(Debug)]
pub struct RouteMetrics {
    route: String,
    provider: String,
    forwarded: std::sync::OnceLock<Counter>,
    request_duration: std::sync::OnceLock<Histogram>,
    upstream_duration: std::sync::OnceLock<Histogram>,
    upstream_code: std::sync::OnceLock<(u16, Counter)>,
    slot0: std::sync::OnceLock<Counter>,
}

impl RouteMetrics {
    /// The cache for `route` (served by `provider`).
    pub fn new(route: &str, provider: &str) -> RouteMetrics {
        RouteMetrics {
            route: route.to_owned(),
            provider: provider.to_owned(),
            forwarded: std::sync::OnceLock::new(),
            request_duration: std::sync::OnceLock::new(),
            upstream_duration: std::sync::OnceLock::new(),
            upstream_code: std::sync::OnceLock::new(),
            slot0: std::sync::OnceLock::new(),
        }
    }

    /// Counts one request of this route.
    pub fn request(&self, m: &Metrics, outcome: Kind, reason: &str, took: Duration) {
        if outcome == Kind::Forwarded {
            self.forwarded
                .get_or_init(|| m.requests_for(&self.route, &self.provider, outcome, reason))
                .inc();
        } else {
            m.requests_for(&self.route, &self.provider, outcome, reason)
                .inc();
        }
        self.request_duration
            .get_or_init(|| Metrics::histogram_for(&m.request_duration, &self.route))
            .observe(took.as_secs_f64());
    }

    /// Counts one upstream answer for this route.
    pub fn upstream(&self, m: &Metrics, code: u16, took: Duration) {
        let (usual, counter) = self
            .upstream_code
            .get_or_init(|| (code, m.upstream_for(&self.route, code)));
        if *usual == code {
            counter.inc();
        } else {
            m.upstream_for(&self.route, code).inc();
        }
        self.upstream_duration
            .get_or_init(|| Metrics::histogram_for(&m.upstream_duration, &self.route))
            .observe(took.as_secs_f64());
    }

    /// Counts the secret slot that verified a request of this route.
    pub fn slot(&self, m: &Metrics, slot: usize) {
        if slot == 0 {
            self.slot0.get_or_init(|| m.slot_for(&self.route, 0)).inc();
        } else {
            m.slot_for(&self.route, slot).inc();
        }
    }
}

/// Decrements the in-flight gauge when dropped, however the request ends.
pub struct InFlight(Gauge);

impl InFlight {
    pub fn enter(metrics: &Metrics) -> InFlight {
        metrics.in_flight.inc();
        InFlight(metrics.in_flight.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
