//! Stage two for the spool: `[spool]` (the store and its limits, the default retry policy)
//! and each route's `delivery` with the keys that go with it (`retry_schedule`,
//! `max_in_flight`, `ordered`, `spool_status`). A spool key on a route that only forwards is
//! a problem, not silently ignored.

use std::time::Duration;

use toml::Spanned;

use super::raw::{RawRoute, RawSpool};
use super::validate::{in_range, Ctx};
use super::values::parse_size;
use super::{defaults, duration, DeliveryMode, RedisUrl, RouteSpool, Server, Spool, SpoolStore};

/// At most this many waits in a retry schedule.
const MAX_SCHEDULE: usize = 100;

/// How long an attempt may go on after `upstream_timeout`: reading the app's answer (the
/// delivery workers give it 5 s) and settling it in the store (Redis calls: 3 s).
const ATTEMPT_TAIL: Duration = Duration::from_secs(8);

/// The least `claim_after` under `server`: no attempt still running is ever taken over.
fn least_claim_after(server: &Server) -> Duration {
    let longest_attempt = server.upstream_timeout.saturating_add(ATTEMPT_TAIL);
    server
        .upstream_timeout
        .saturating_mul(2)
        .max(longest_attempt)
}

impl Ctx<'_> {
    /// `[spool]`, with defaults for what it leaves out.
    pub(super) fn spool(&mut self, raw: Option<&RawSpool>, server: &Server) -> Spool {
        let mut spool = self.default_spool();
        // Unwritten, it is at least what covers an attempt under this upstream_timeout.
        spool.claim_after = spool.claim_after.max(least_claim_after(server));
        let Some(raw) = raw else { return spool };
        self.table = Some("[spool]".into());
        let base = self.base.clone();
        if let Some(v) = self.key("store", raw.store.as_ref(), |s| parse_store(s, &base)) {
            spool.store = v;
        }
        if let Some(v) = self.key("max_deliveries", raw.max_deliveries.as_ref(), |n| {
            in_range(*n, 1, 1_000_000_000)
        }) {
            spool.max_deliveries = v;
        }
        if let Some(v) = self.key("max_bytes", raw.max_bytes.as_ref(), parse_size) {
            spool.max_bytes = v;
        }
        if let Some(v) = self.key("retry_schedule", raw.retry_schedule.as_ref(), |l| {
            parse_schedule(l)
        }) {
            spool.retry_schedule = v;
        }
        if let Some(v) = self.key("no_retry_status", raw.no_retry_status.as_ref(), |l| {
            parse_statuses(l)
        }) {
            spool.no_retry_status = v;
        }
        self.spool_durations(raw, &mut spool);
        self.claim_after_covers_an_attempt(raw, &spool, server);
        self.table = None;
        spool
    }

    fn default_spool(&self) -> Spool {
        Spool {
            store: SpoolStore::Sqlite(self.base.join(defaults::SPOOL_FILE)),
            max_deliveries: defaults::SPOOL_MAX_DELIVERIES,
            max_bytes: defaults::SPOOL_MAX_BYTES,
            retry_schedule: defaults::SPOOL_RETRY_SCHEDULE.to_vec(),
            max_age: defaults::SPOOL_MAX_AGE,
            claim_after: defaults::SPOOL_CLAIM_AFTER,
            retention: defaults::SPOOL_RETENTION,
            dead_retention: defaults::SPOOL_DEAD_RETENTION,
            no_retry_status: defaults::SPOOL_NO_RETRY_STATUS.to_vec(),
        }
    }

    fn spool_durations(&mut self, raw: &RawSpool, spool: &mut Spool) {
        for (key, value, slot) in [
            ("max_age", &raw.max_age, &mut spool.max_age),
            ("claim_after", &raw.claim_after, &mut spool.claim_after),
            ("retention", &raw.retention, &mut spool.retention),
            (
                "dead_retention",
                &raw.dead_retention,
                &mut spool.dead_retention,
            ),
        ] {
            if let Some(v) = self.key(key, value.as_ref(), |s| duration::parse(s)) {
                *slot = v;
            }
        }
    }

    /// A replica taking over another's attempt must not do so while it may still finish.
    fn claim_after_covers_an_attempt(&mut self, raw: &RawSpool, spool: &Spool, server: &Server) {
        let least = least_claim_after(server);
        if let (Some(at), true) = (&raw.claim_after, spool.claim_after < least) {
            let message = format!(
                "must be at least {} (twice [server] upstream_timeout, and no less than it plus \
                 8 s), so an attempt still running is never taken over",
                duration::display(least)
            );
            self.problem(Some(at.span()), Some("claim_after"), &message);
        }
    }

    /// A route's `delivery` and its spool keys; `None` once a problem is recorded.
    pub(super) fn delivery(
        &mut self,
        r: &RawRoute,
        spool: &Spool,
    ) -> Option<(DeliveryMode, RouteSpool)> {
        let mode = self.key_or(
            "delivery",
            r.delivery.as_ref(),
            DeliveryMode::Forward,
            |s| parse_mode(s),
        );
        let schedule = self.key_or(
            "retry_schedule",
            r.retry_schedule.as_ref(),
            spool.retry_schedule.clone(),
            |l| parse_schedule(l),
        );
        let ordered = r.ordered.as_ref().is_some_and(|o| *o.get_ref());
        let max_in_flight = self.max_in_flight(r, ordered);
        let status = self.key_or(
            "spool_status",
            r.spool_status.as_ref(),
            defaults::SPOOL_STATUS,
            |n| match *n {
                200 | 202 | 204 => Ok(*n as u16),
                _ => Err(format!("{n}: write 200, 202 or 204")),
            },
        );
        if mode == Some(DeliveryMode::Forward) {
            self.only_with_spool(r);
        }
        Some((
            mode?,
            RouteSpool {
                retry_schedule: schedule?,
                max_in_flight: max_in_flight?,
                ordered,
                status: status?,
            },
        ))
    }

    fn max_in_flight(&mut self, r: &RawRoute, ordered: bool) -> Option<usize> {
        let default = if ordered {
            1
        } else {
            defaults::SPOOL_MAX_IN_FLIGHT
        };
        let n = self.key_or("max_in_flight", r.max_in_flight.as_ref(), default, |n| {
            in_range(*n, 1, 1024)
        })?;
        if ordered && n != 1 {
            let at = r.max_in_flight.as_ref().map(Spanned::span);
            self.problem(
                at,
                Some("max_in_flight"),
                "an ordered route has one attempt in flight: leave `max_in_flight` out",
            );
            return None;
        }
        Some(n)
    }

    /// The spool keys a forwarding route must not set.
    fn only_with_spool(&mut self, r: &RawRoute) {
        let set = [
            (
                "retry_schedule",
                r.retry_schedule.as_ref().map(Spanned::span),
            ),
            ("max_in_flight", r.max_in_flight.as_ref().map(Spanned::span)),
            ("ordered", r.ordered.as_ref().map(Spanned::span)),
            ("spool_status", r.spool_status.as_ref().map(Spanned::span)),
        ];
        for (key, span) in set {
            if let Some(span) = span {
                self.problem(
                    Some(span),
                    Some(key),
                    "applies only with `delivery = \"spool\"` or `\"spool_on_failure\"`",
                );
            }
        }
    }
}

fn parse_mode(s: &str) -> Result<DeliveryMode, String> {
    [
        DeliveryMode::Forward,
        DeliveryMode::Spool,
        DeliveryMode::SpoolOnFailure,
    ]
    .into_iter()
    .find(|m| m.as_str() == s)
    .ok_or_else(|| format!("`{s}`: write \"forward\", \"spool\" or \"spool_on_failure\""))
}

fn parse_store(s: &str, base: &std::path::Path) -> Result<SpoolStore, String> {
    if let Some(path) = s.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err("`sqlite:` needs a file, as in \"sqlite:hookwall-spool.db\"".into());
        }
        return Ok(SpoolStore::Sqlite(base.join(path)));
    }
    if s.starts_with("redis://") || s.starts_with("rediss://") {
        return Ok(SpoolStore::Redis(RedisUrl::parse(s)?));
    }
    Err(format!(
        "`{}` is neither \"sqlite:PATH\" nor a redis:// URL",
        super::redact(s)
    ))
}

fn parse_schedule(list: &[String]) -> Result<Vec<Duration>, String> {
    if list.len() > MAX_SCHEDULE {
        return Err(format!("at most {MAX_SCHEDULE} waits"));
    }
    list.iter().map(|s| duration::parse(s)).collect()
}

fn parse_statuses(list: &[i64]) -> Result<Vec<u16>, String> {
    list.iter()
        .map(|n| match *n {
            200..=299 => Err(format!("{n}: a 2xx is a delivery, never a failure")),
            100..=599 => Ok(*n as u16),
            _ => Err(format!("{n} is not an HTTP status")),
        })
        .collect()
}
