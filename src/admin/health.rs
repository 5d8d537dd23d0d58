//! The admin listener's health endpoints: `/readyz` (not shutting down, the spool able to
//! commit and below 90 % of its limits, and with `readyz_upstreams` every upstream accepting
//! a connection) and `/metrics` (the spool's gauges read from the store first).

use http::StatusCode;

use crate::config::Upstream;
use crate::proxy::Proxy;

/// How long `/readyz` waits for each upstream to accept a connection.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// `/readyz`: the status and its one line.
pub async fn readyz(proxy: &Proxy, upstreams: bool) -> (StatusCode, String) {
    if proxy.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    if let Some(why) = match proxy.spool() {
        Some(spool) => spool.unready().await,
        None => None,
    } {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"));
    }
    if upstreams {
        let failing = unreachable_upstreams(proxy).await;
        if !failing.is_empty() {
            let line = format!("upstreams unreachable: {}\n", failing.join(", "));
            return (StatusCode::SERVICE_UNAVAILABLE, line);
        }
    }
    (StatusCode::OK, "ready\n".into())
}

/// `/metrics`: the Prometheus text, the spool's gauges refreshed first.
pub async fn metrics(proxy: &Proxy) -> String {
    if let Some(spool) = proxy.spool() {
        observe_spool(proxy, spool).await;
    }
    proxy.metrics().encode()
}

/// Sets the spool gauges from the store, if it answers within [`PROBE_TIMEOUT`]; else the
/// scrape shows the last values read.
async fn observe_spool(proxy: &Proxy, spool: &crate::spool::Spool) {
    match tokio::time::timeout(PROBE_TIMEOUT, spool.store().counts()).await {
        Ok(Ok(counts)) => proxy
            .metrics()
            .spool
            .observe(&counts, crate::spool::now_ms()),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot read the spool"),
        Err(_) => tracing::warn!("metrics: the spool store did not answer in time"),
    }
}

/// The routes whose upstream does not accept a connection within [`PROBE_TIMEOUT`]. Each
/// distinct upstream is probed once, all at the same time.
async fn unreachable_upstreams(proxy: &Proxy) -> Vec<String> {
    let snapshot = proxy.snapshot();
    let mut probes = tokio::task::JoinSet::new();
    let mut seen = std::collections::HashSet::new();
    for route in snapshot.routes().routes() {
        let target = route.upstream.to_string();
        if !seen.insert(target.clone()) {
            continue;
        }
        let upstream = route.upstream.clone();
        probes.spawn(async move {
            let ok = match &upstream {
                Upstream::Http(a) | Upstream::Https { authority: a, .. } => {
                    let default = if matches!(upstream, Upstream::Https { .. }) {
                        443
                    } else {
                        80
                    };
                    let addr = format!("{}:{}", a.host(), a.port_u16().unwrap_or(default));
                    matches!(
                        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr))
                            .await,
                        Ok(Ok(_))
                    )
                }
                Upstream::Unix(path) => matches!(
                    tokio::time::timeout(PROBE_TIMEOUT, tokio::net::UnixStream::connect(path))
                        .await,
                    Ok(Ok(_))
                ),
            };
            (target, ok)
        });
    }
    let mut down = std::collections::HashSet::new();
    while let Some(result) = probes.join_next().await {
        if let Ok((target, false)) = result {
            down.insert(target);
        }
    }
    snapshot
        .routes()
        .routes()
        .iter()
        .filter(|r| down.contains(&r.upstream.to_string()))
        .map(|r| r.name.clone())
        .collect()
}
