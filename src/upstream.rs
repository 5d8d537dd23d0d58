//! The pooled clients that forward verified requests to the app, and the two failures that
//! originate here: the upstream refused or reset the connection (502), or did not answer
//! within `upstream_timeout` (504).
//!
//! Three kinds of upstream: `http://` over TCP, `https://` through rustls (certificates always
//! verified, against the platform's roots or the route's `upstream_ca`), and `unix:` sockets.
//! The pools connect lazily: no connection to an upstream exists before the first verified
//! request for it. Requests go out as HTTP/1.1 with a fixed-length body.

use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::config;

/// How long an idle pooled connection is kept. Below gunicorn's default keep-alive (2 s), so
/// hookwall drops an idle connection before the app does, rather than sending a request into
/// a connection the app is closing.
const POOL_IDLE: Duration = Duration::from_millis(1500);

/// Why a forward failed.
#[derive(Debug)]
pub enum UpstreamError {
    /// Connection refused or reset, a TLS failure, or a malformed answer: 502.
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

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One route's destination, ready to send to.
#[derive(Clone, Debug)]
pub enum Target {
    Http(Authority),
    Https(Authority, Box<HttpsClient>),
    /// The socket path, and the authority that names it in the unix pool.
    Unix(Authority),
}

/// The clients shared by every route and connection.
#[derive(Clone, Debug)]
pub struct Upstream {
    http: Client<HttpConnector, Full<Bytes>>,
    unix: Client<UnixConnector, Full<Bytes>>,
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream::new()
    }
}

fn builder() -> hyper_util::client::legacy::Builder {
    let mut b = Client::builder(TokioExecutor::new());
    b.pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE);
    b
}

fn http_connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.enforce_http(false);
    connector
}

impl Upstream {
    /// The shared clients.
    pub fn new() -> Upstream {
        let mut http = http_connector();
        http.enforce_http(true);
        Upstream {
            http: builder().build(http),
            unix: builder().build(UnixConnector),
        }
    }

    /// Prepares a route's upstream: https routes get a client of their own, keyed with the
    /// route's CA roots.
    pub fn target(&self, upstream: &config::Upstream) -> Target {
        match upstream {
            config::Upstream::Http(a) => Target::Http(a.clone()),
            config::Upstream::Https { authority, tls, .. } => {
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((**tls).clone())
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http_connector());
                Target::Https(authority.clone(), Box::new(builder().build(connector)))
            }
            config::Upstream::Unix(path) => Target::Unix(unix_authority(path)),
        }
    }

    /// Sends `req` (whose URI carries only the path and query) to `target` and waits up to
    /// `timeout` for the response head.
    ///
    /// # Errors
    /// [`UpstreamError`]: 502 or 504 for the sender.
    pub async fn send(
        &self,
        target: &Target,
        mut req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let pq = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let (scheme, authority) = match target {
            Target::Http(a) | Target::Unix(a) => (Scheme::HTTP, a.clone()),
            Target::Https(a, _) => (Scheme::HTTPS, a.clone()),
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(scheme);
        parts.authority = Some(authority);
        parts.path_and_query = Some(pq);
        *req.uri_mut() = Uri::from_parts(parts).expect("scheme, authority and path make a URI");
        let sent = async {
            match target {
                Target::Http(_) => self.http.request(req).await,
                Target::Https(_, client) => client.request(req).await,
                Target::Unix(_) => self.unix.request(req).await,
            }
        };
        match tokio::time::timeout(timeout, sent).await {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => Err(UpstreamError::Down(e)),
            Err(_) => Err(UpstreamError::Timeout),
        }
    }
}

/// The pool key for a socket path: its bytes in hex, a valid host name that the connector
/// turns back into the path. It never reaches the app: hookwall always sends the request's
/// own `Host`.
fn unix_authority(path: &Path) -> Authority {
    let hex = hex::encode(path.as_os_str().as_encoded_bytes());
    // Hex digits are valid in a host name, so this cannot fail.
    hex.parse().expect("hex digits make an authority")
}

/// Connects to the unix socket named by a [`unix_authority`].
#[derive(Clone, Copy, Debug)]
pub struct UnixConnector;

impl tower_service::Service<Uri> for UnixConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let host = uri.host().unwrap_or("");
            let bytes = hex::decode(host).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a unix socket target")
            })?;
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
            let stream = tokio::net::UnixStream::connect(path).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
