//! The pooled client that forwards verified requests to the app, and the two failures that
//! originate here: the upstream refused or reset the connection (502), or did not answer
//! within `upstream_timeout` (504).
//!
//! The pool connects lazily: no connection to an upstream exists before the first verified
//! request for it. Requests go out as HTTP/1.1 with a fixed-length body.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// How long an idle pooled connection is kept. Below gunicorn's default keep-alive (2 s), so
/// hookwall drops an idle connection before the app does, rather than sending a request into
/// a connection the app is closing.
const POOL_IDLE: Duration = Duration::from_millis(1500);

/// Why a forward failed.
#[derive(Debug)]
pub enum UpstreamError {
    /// Connection refused or reset, or a malformed answer: 502.
    Down(hyper_util::client::legacy::Error),
    /// No response head within `upstream_timeout`: 504.
    Timeout,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Down(e) => write!(f, "upstream unreachable: {e}"),
            UpstreamError::Timeout => f.write_str("upstream did not answer in time"),
        }
    }
}

impl std::error::Error for UpstreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UpstreamError::Down(e) => Some(e),
            UpstreamError::Timeout => None,
        }
    }
}

/// The upstream client shared by every connection.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Upstream {
    /// A client whose requests fail with [`UpstreamError::Timeout`] after `timeout`.
    pub fn new(timeout: Duration) -> Upstream {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Upstream { client, timeout }
    }

    /// Sends `req` (whose URI names the upstream origin) and waits for the response head.
    ///
    /// # Errors
    /// [`UpstreamError`]: 502 or 504 for the sender.
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => Err(UpstreamError::Down(e)),
            Err(_) => Err(UpstreamError::Timeout),
        }
    }
}
