//! The admin listener: `/healthz` (the process answers), `/readyz` (config loaded, listeners
//! bound, not shutting down; with `readyz_upstreams = true` also every upstream accepts a
//! connection), `/metrics` (Prometheus text) and the spool API (`spool.rs`). It is never the
//! public listener, and it answers nothing else. Every request passes `guard.rs` first.

mod guard;
pub mod spool;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::config::{Admin, Upstream};
use crate::listener::Listener;
use crate::proxy::Proxy;

/// How long `/readyz` waits for each upstream to accept a connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves the admin endpoints on `listener` for as long as the process runs.
pub async fn serve(listener: Listener, proxy: Arc<Proxy>, admin: Admin) {
    tracing::info!(listen = %listener.describe(), "admin listening");
    loop {
        let (stream, local) = match listener.accept_at().await {
            Ok((stream, _, local)) => (stream, local),
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let proxy = Arc::clone(&proxy);
        let admin = admin.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let proxy = Arc::clone(&proxy);
                let admin = admin.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(answer(&req, &proxy, &admin, local).await)
                }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut res = text(status, format!("{value}\n"));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Checks who asks, then answers.
async fn answer<B>(
    req: &Request<B>,
    proxy: &Proxy,
    admin: &Admin,
    local: Option<SocketAddr>,
) -> Response<Full<Bytes>> {
    let (method, uri) = (req.method(), req.uri());
    if let Err(refused) = guard::check(admin, local, method, uri, req.headers()) {
        tracing::warn!(path = %uri.path(), why = refused.message(), "admin request refused");
        let status = match refused {
            guard::Refusal::Token => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        };
        let mut res = text(status, format!("{}\n", refused.message()));
        if refused == guard::Refusal::Token {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hookwall admin\""),
            );
        }
        return res;
    }
    let path = uri.path();
    if path == "/spool" || path.starts_with("/spool/") {
        let spool = proxy.spool().map(|s| &**s);
        let (status, value) = spool::answer(spool, method, path, uri.query()).await;
        return json(status, &value);
    }
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => {
            if proxy.is_draining() {
                return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
            }
            if let Some(why) = match proxy.spool() {
                Some(spool) => spool.unready().await,
                None => None,
            } {
                return text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"));
            }
            if admin.readyz_upstreams {
                let failing = unreachable_upstreams(proxy).await;
                if !failing.is_empty() {
                    return text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("upstreams unreachable: {}\n", failing.join(", ")),
                    );
                }
            }
            text(StatusCode::OK, "ready\n".into())
        }
        "/metrics" => {
            if let Some(spool) = proxy.spool() {
                observe_spool(proxy, spool).await;
            }
            let mut res = text(StatusCode::OK, proxy.metrics().encode());
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            res
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
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
