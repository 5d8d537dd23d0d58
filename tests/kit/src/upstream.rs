//! The app as the tests see it: a real HTTP/1.1 server on `127.0.0.1:0` (optionally behind
//! TLS) that records each request as soon as its body has arrived, then answers as told, and
//! counts the connections it was opened (all told, open now, and most open at once).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

/// A request carrying this header waits that many milliseconds before it is answered.
pub const DELAY_HEADER: &str = "x-test-delay-ms";
/// A request carrying this header is answered at once, but its body arrives that many
/// milliseconds later.
pub const BODY_DELAY_HEADER: &str = "x-test-body-delay-ms";

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("a text header"))
    }
}

/// What the upstream does with each request.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub status: StatusCode,
    pub delay: Duration,
    pub body: &'static str,
    pub extra_headers: Vec<(&'static str, &'static str)>,
    /// The first this many requests are answered 500 instead of `status`.
    pub fail_first: usize,
    /// Closes a keep-alive connection idle this long (as gunicorn does after 2 s).
    pub idle_close: Option<Duration>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: StatusCode::OK,
            delay: Duration::ZERO,
            body: "upstream ok\n",
            extra_headers: Vec::new(),
            fail_first: 0,
            idle_close: None,
        }
    }
}

/// The recording server; stopped on drop.
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<Connections>,
    task: JoinHandle<()>,
}

/// The upstream's connection counts.
#[derive(Debug, Default)]
struct Connections {
    accepted: AtomicUsize,
    open: AtomicUsize,
    peak: AtomicUsize,
}

/// Counts one connection open until dropped.
struct Open(Arc<Connections>);

impl Open {
    fn new(counts: &Arc<Connections>) -> Open {
        counts.accepted.fetch_add(1, Ordering::SeqCst);
        let now = counts.open.fetch_add(1, Ordering::SeqCst) + 1;
        counts.peak.fetch_max(now, Ordering::SeqCst);
        Open(Arc::clone(counts))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Upstream {
    pub async fn start() -> Upstream {
        Upstream::start_with(Behaviour::default()).await
    }

    pub async fn start_with(behaviour: Behaviour) -> Upstream {
        Upstream::start_tls(behaviour, None).await
    }

    pub async fn start_tls(
        behaviour: Behaviour,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        Upstream::on(listener, behaviour, tls)
    }

    /// Serves on an already bound listener. Its connections live in the accept task, so
    /// dropping the upstream closes them too: the app is really down.
    pub fn on(
        listener: TcpListener,
        behaviour: Behaviour,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Upstream {
        let addr = listener.local_addr().expect("a bound listener");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let connections = Arc::new(Connections::default());
        let counts = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                let log = Arc::clone(&log);
                let (behaviour, tls) = (behaviour.clone(), tls.clone());
                let open = Open::new(&counts);
                connections.spawn(async move {
                    let _open = open;
                    let idle_close = behaviour.idle_close;
                    let svc = service_fn(move |req: Request<Incoming>| {
                        answer(req, Arc::clone(&log), behaviour.clone())
                    });
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    if let Some(idle) = idle_close {
                        builder
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(idle);
                    }
                    match tls {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                            }
                        }
                    }
                });
            }
        });
        Upstream {
            addr,
            seen,
            connections,
            task,
        }
    }

    /// An address where nothing listens (bound, then released).
    pub async fn dead_addr() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        listener.local_addr().expect("a bound listener")
    }

    /// A TCP port bound but not listening: connections to it are refused until [`listen`]
    /// is called on the socket (then serve it with [`Upstream::on`]), and no other process
    /// can take the port meanwhile.
    ///
    /// [`listen`]: tokio::net::TcpSocket::listen
    pub fn reserved_port() -> (TcpSocket, SocketAddr) {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("a free port");
        let addr = socket.local_addr().expect("a bound socket");
        (socket, addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.open.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn peak_connections(&self) -> usize {
        self.connections.peak.load(Ordering::SeqCst)
    }

    pub fn hits(&self) -> usize {
        self.seen.lock().expect("the log").len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("the log").clone()
    }

    /// The one request the upstream saw (panics on none or more).
    pub fn only(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(
            seen.len(),
            1,
            "expected exactly one upstream request, got {seen:#?}"
        );
        seen.into_iter().next().expect("one request")
    }

    /// The bodies of the requests seen, in order.
    pub fn bodies(&self) -> Vec<Bytes> {
        self.seen().into_iter().map(|s| s.body).collect()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream saw no request")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Records one request, waits as asked, answers as `behaviour` says.
async fn answer(
    req: Request<Incoming>,
    log: Arc<Mutex<Vec<Seen>>>,
    behaviour: Behaviour,
) -> Result<Response<Either<Full<Bytes>, Delayed>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let millis = |name: &str| {
        let value = parts.headers.get(name)?.to_str().ok()?.parse().ok()?;
        Some(Duration::from_millis(value))
    };
    let delay = millis(DELAY_HEADER).unwrap_or(behaviour.delay);
    let body_delay = millis(BODY_DELAY_HEADER);
    let nth = {
        let mut seen = log.lock().expect("the log");
        seen.push(Seen {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            version: parts.version,
            headers: parts.headers,
            body,
        });
        seen.len() - 1
    };
    tokio::time::sleep(delay).await;
    let text = Bytes::from_static(behaviour.body.as_bytes());
    let mut res = Response::new(match body_delay {
        None => Either::Left(Full::new(text)),
        Some(after) => Either::Right(Delayed {
            sleep: Box::pin(tokio::time::sleep(after)),
            data: Some(text),
        }),
    });
    *res.status_mut() = if nth < behaviour.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        behaviour.status
    };
    for (k, v) in &behaviour.extra_headers {
        res.headers_mut()
            .append(*k, v.parse().expect("a valid header value"));
    }
    Ok(res)
}

/// A body whose one chunk arrives after a sleep.
pub struct Delayed {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    data: Option<Bytes>,
}

impl hyper::body::Body for Delayed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::task::ready!(std::future::Future::poll(self.sleep.as_mut(), cx));
        std::task::Poll::Ready(self.data.take().map(|d| Ok(hyper::body::Frame::data(d))))
    }
}
