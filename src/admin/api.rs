//! The inspector's JSON for scripts: `GET /api/deliveries` (the recent requests, with the
//! page's filters) and `GET /api/routes` (each route's settings and traffic). What the page
//! shows, never more: no body, query string, header value, signature or secret.

use serde_json::{json, Value};

use super::page::Filter;
use crate::history::{Entry, Window, KINDS};
use crate::proxy::Proxy;
use crate::spool;

/// `/api/deliveries?route=&outcome=&reason=&limit=`.
pub fn deliveries(proxy: &Proxy, query: Option<&str>) -> Value {
    let filter = Filter::parse(query);
    let entries = proxy.history().recent(filter.limit, |e| filter.keeps(e));
    json!({ "deliveries": entries.iter().map(entry).collect::<Vec<_>>() })
}

fn entry(e: &Entry) -> Value {
    json!({
        "at": spool::rfc3339(e.at_ms),
        "route": e.route,
        "provider": e.provider,
        "method": e.method.as_str(),
        "path": e.path,
        "outcome": e.outcome.as_str(),
        "reason": e.reason,
        "status": e.status,
        "upstream_status": e.upstream_status,
        "delivery_id": e.delivery_id,
        "delivery_id_verified": e.verified,
        "request_id": e.request_id,
        "client": e.client,
        "elapsed_ms": e.elapsed_us as f64 / 1000.0,
        "secret_slot": e.slot,
    })
}

/// `/api/routes`.
pub fn routes(proxy: &Proxy) -> Value {
    let now = spool::now_ms();
    let snapshot = proxy.snapshot();
    let history = proxy.history();
    let routes: Vec<Value> = snapshot
        .routes()
        .routes()
        .iter()
        .map(|r| {
            let (five, last) = history.window(&r.name, 5, now);
            let (hour, _) = history.window(&r.name, 60, now);
            let sources: Vec<String> = r.secret_sources.iter().map(ToString::to_string).collect();
            json!({
                "name": r.name,
                "path": r.path.to_string(),
                "provider": r.scheme.provider(),
                "upstream": r.upstream.to_string(),
                "enforce": r.enforce,
                "delivery": r.delivery.as_str(),
                "secret_sources": sources,
                "last_5m": window(&five),
                "last_hour": window(&hour),
                "last_forwarded_at": last.map(spool::rfc3339),
            })
        })
        .collect();
    json!({ "routes": routes })
}

fn window(w: &Window) -> Value {
    let by_outcome: serde_json::Map<String, Value> = KINDS
        .iter()
        .zip(w.by_kind)
        .map(|(k, n)| (k.as_str().to_owned(), json!(n)))
        .collect();
    json!({
        "requests": by_outcome,
        "secret_slots": w.slots,
        "p50_us": w.p50_us,
        "p99_us": w.p99_us,
    })
}
