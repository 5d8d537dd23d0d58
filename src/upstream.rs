//! Sending verified requests to the app, and the three failures that originate here: the
//! upstream refused or reset the connection (502), did not answer within `upstream_timeout`
//! (504), or every one of its `max_upstream_connections` stayed busy that long (503).
//!
//! Three kinds of upstream: `http://` over TCP, `https://` through rustls (certificates always
//! verified, against the platform's roots or the route's `upstream_ca`), and `unix:` sockets.
//! Each has a pool of HTTP/1 connections ([`pool`]), opened lazily: no connection to an
//! upstream exists before the first verified request for it. A request goes out on the most
//! recently used idle connection, in the sender's own task; its response body gives the
//! connection back when read to its end ([`body`]). Requests go out as HTTP/1.1 with a
//! fixed-length body.

mod body;
mod connect;
mod pool;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{Request, Response};
use http_body_util::Full;
use tokio::time::{timeout_at, Instant};

pub use body::UpstreamBody;
use connect::Endpoint;
use pool::{Acquired, Conn, Pool, Sent};

use crate::body::BoxError;
use crate::config;

/// Why a forward failed.
#[derive(Debug)]
pub enum UpstreamError {
    /// Connection refused or reset, a TLS failure, or a malformed answer: 502.
    Down(BoxError),
    /// No response head within `upstream_timeout`: 504.
    Timeout,
    /// Every connection the upstream may have stayed taken for `upstream_timeout`: 503.
    Busy,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Down(e) => write!(f, "upstream unreachable: {e}"),
            UpstreamError::Timeout => f.write_str("upstream did not answer in time"),
            UpstreamError::Busy => f.write_str("every upstream connection stayed busy"),
        }
    }
}

impl std::error::Error for UpstreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UpstreamError::Down(e) => Some(&**e),
            UpstreamError::Timeout | UpstreamError::Busy => None,
        }
    }
}

/// One route's destination, ready to send to: its upstream's pool.
#[derive(Clone, Debug)]
pub struct Target(Arc<Pool>);

/// Where pools are found: `http://` and `unix:` upstreams share one pool per address across
/// routes and reloads; an `https://` route has its own, keyed with its CA roots.
#[derive(Debug, Default)]
pub struct Upstream {
    shared: Mutex<HashMap<Shared, Weak<Pool>>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Shared {
    Http(String),
    Unix(PathBuf),
}

impl Upstream {
    pub fn new() -> Upstream {
        Upstream::default()
    }

    /// Prepares a route's upstream, with at most `limit` connections open to it.
    pub fn target(&self, upstream: &config::Upstream, limit: usize) -> Target {
        let (key, endpoint) = match upstream {
            config::Upstream::Http(a) => (Shared::Http(a.to_string()), Endpoint::tcp(a)),
            config::Upstream::Unix(p) => (Shared::Unix(p.clone()), Endpoint::Unix(p.clone())),
            config::Upstream::Https {
                authority,
                name,
                tls,
                ..
            } => {
                let endpoint = Endpoint::tls(authority, name.clone(), Arc::clone(tls));
                return Target(Arc::new(Pool::new(endpoint, limit)));
            }
        };
        let mut shared = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.retain(|_, pool| pool.strong_count() > 0);
        if let Some(pool) = shared.get(&key).and_then(Weak::upgrade) {
            pool.set_limit(limit);
            return Target(pool);
        }
        let pool = Arc::new(Pool::new(endpoint, limit));
        shared.insert(key, Arc::downgrade(&pool));
        Target(pool)
    }

    /// Sends `req` (whose URI carries only the path and query) to `target` and waits up to
    /// `timeout` for the response head. A request that came without `Host` gets the
    /// upstream's.
    ///
    /// # Errors
    /// [`UpstreamError`]: 502, 503 or 504 for the sender.
    pub async fn send(
        &self,
        target: &Target,
        mut req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let pool = &target.0;
        if !req.headers().contains_key(HOST) {
            req.headers_mut().insert(HOST, pool.endpoint().host());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let (mut conn, reused) = connection(pool, deadline).await?;
            match timeout_at(deadline, conn.send(req, timeout)).await {
                Err(_) => {
                    // No answer to wait for any more: the connection, busy with it, goes.
                    conn.close();
                    return Err(UpstreamError::Timeout);
                }
                Ok(Sent::Answered(res)) => {
                    return Ok(res.map(|b| UpstreamBody::new(b, conn, Arc::clone(pool))));
                }
                // An idle connection the app had closed: the request was not sent; try the
                // next one (at worst a new connection, whose failure is final).
                Ok(Sent::Unsent(unsent, _)) if reused => req = unsent,
                Ok(Sent::Unsent(_, e) | Sent::Failed(e)) => {
                    return Err(UpstreamError::Down(Box::new(e)));
                }
            }
        }
    }
}

/// A connection to send on before `deadline`, and whether it was idle in the pool (rather
/// than just opened).
async fn connection(pool: &Arc<Pool>, deadline: Instant) -> Result<(Conn, bool), UpstreamError> {
    match timeout_at(deadline, pool.acquire()).await {
        Err(_) => Err(UpstreamError::Busy),
        Ok(Acquired::Idle(conn)) => Ok((conn, true)),
        Ok(Acquired::New(slot)) => match timeout_at(deadline, pool.open(slot)).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(e)) => Err(UpstreamError::Down(e)),
            Ok(Ok(conn)) => Ok((conn, false)),
        },
    }
}
