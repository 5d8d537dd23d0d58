//! The public listener's connections: optional TLS, the connection limit, HTTP/1.1 or HTTP/2
//! (prior knowledge or ALPN) per connection, the header-read and keep-alive deadlines, and
//! graceful shutdown with a deadline.
//!
//! The protocol is chosen from the first bytes under `header_timeout`, so a client that
//! connects and sends nothing (or half a preface) is dropped instead of holding a task
//! forever; the TLS handshake runs under the same deadline. What happens to a request belongs
//! to `proxy`; binding to `listener`; starting, reloading and stopping to `app`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::body::{BoxError, ResponseBody};
use crate::config::{self, Server};
use crate::listener::{Io, Listener, Peer};
use crate::proxy::Proxy;

/// The client preface every HTTP/2 prior-knowledge connection starts with (RFC 9113 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The head budget: request line and headers (and chunked trailers) at most this many bytes,
/// in HTTP/1 and, as the decoded header list, in HTTP/2. A larger head gets 431.
pub const MAX_HEAD: usize = 64 * 1024;

/// At most this many request headers (HTTP/1); more gets 431.
const MAX_HEADERS: usize = 100;

/// Streams a client may reset before hookwall has accepted them (HTTP/2 rapid reset).
const H2_MAX_PENDING_RESETS: usize = 20;

/// Streams hookwall may reset for a client's protocol errors before it closes the connection.
const H2_MAX_ERROR_RESETS: usize = 64;

/// HTTP/2 keep-alive pings: a peer that stops answering is dropped.
const H2_PING: Duration = Duration::from_secs(20);

/// Serves `proxy` on `listener` until `shutdown` completes, then stops accepting and waits
/// up to `shutdown_timeout` for in-flight requests.
///
/// # Errors
/// None today: accept errors are logged and serving goes on.
pub async fn serve(
    listener: Listener,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let snapshot = proxy.snapshot();
    let server = snapshot.server().clone();
    let shadow: Vec<&str> = snapshot
        .routes()
        .routes()
        .iter()
        .filter(|r| !r.enforce)
        .map(|r| r.name.as_str())
        .collect();
    tracing::info!(
        listen = %listener.describe(),
        tls = server.tls.is_some(),
        routes = snapshot.routes().routes().len(),
        max_connections = server.max_connections,
        "hookwall listening"
    );
    if !shadow.is_empty() {
        tracing::warn!(routes = ?shadow, "shadow mode: these routes forward requests that fail verification");
    }
    // TLS on or off is decided here, once: a reload may change the certificate, not whether
    // this listener speaks TLS.
    let tls_at_start = proxy.tls_at_start().cloned();
    drop(snapshot);
    // Beyond `max_connections`, new connections wait in the kernel's backlog: hookwall does not
    // accept what it cannot serve, so its memory stays bounded.
    let permits = Arc::new(tokio::sync::Semaphore::new(server.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let proxy = Arc::clone(&proxy);
        let watcher = graceful.watcher();
        let tls_at_start = tls_at_start.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(stream, peer, proxy, tls_at_start, watcher).await {
                tracing::debug!(?peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    proxy.set_draining();
    tracing::info!(
        deadline = %config::duration::display(server.shutdown_timeout),
        "shutting down: no new connections, waiting for in-flight requests"
    );
    match tokio::time::timeout(server.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("shutdown deadline passed with connections still open"),
    }
    Ok(())
}

/// Serves one connection: TLS if configured, then HTTP/1.1 or HTTP/2.
async fn connection(
    stream: Box<dyn Io>,
    peer: Peer,
    proxy: Arc<Proxy>,
    tls_at_start: Option<config::Tls>,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), BoxError> {
    let server: Server = proxy.snapshot().server().clone();
    let deadline = server.header_timeout;
    // The current certificate, on a listener that started with TLS.
    let tls = tls_at_start.map(|first| server.tls.clone().unwrap_or(first));
    let mut stream: Box<dyn Io> = match &tls {
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config));
            match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => Box::new(tls_stream),
                Ok(Err(e)) => {
                    tracing::debug!(?peer, error = %e, "TLS handshake failed");
                    return Ok(());
                }
                Err(_) => return Ok(()),
            }
        }
        None => stream,
    };
    let Ok(first) = tokio::time::timeout(deadline, sniff(&mut stream)).await else {
        tracing::debug!(?peer, "no request started in time; closing");
        return Ok(());
    };
    let (prefix, is_h2) = first?;
    let activity = Arc::new(Activity::new());
    // An HTTP/2 request head is invisible until it is complete, so a connection trickling
    // one looks idle: without a request in progress, an HTTP/2 connection may idle no longer
    // than a head may take (as HTTP/1's header timeout also bounds its idle keep-alive).
    let idle = if is_h2 {
        server.keepalive_timeout.min(server.header_timeout)
    } else {
        server.keepalive_timeout
    };
    let io = TokioIo::new(Conn::new(prefix, stream, idle, Arc::clone(&activity)));
    let service = service_fn(move |req| {
        let proxy = Arc::clone(&proxy);
        // Counted from the request head until its response body has been sent.
        let guard = activity.enter();
        async move {
            let res = proxy.handle(req, peer).await;
            Ok::<_, std::convert::Infallible>(res.map(|body| Tracked {
                body,
                _guard: guard,
            }))
        }
    });
    if is_h2 {
        let conn = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_concurrent_streams(server.h2_max_streams)
            .max_header_list_size(MAX_HEAD as u32)
            .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
            .max_local_error_reset_streams(H2_MAX_ERROR_RESETS)
            .keep_alive_interval(H2_PING)
            .keep_alive_timeout(H2_PING)
            .serve_connection(io, service);
        watcher.watch(conn).await?;
    } else {
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(server.header_timeout)
            .max_header_size(MAX_HEAD)
            .max_headers(MAX_HEADERS)
            .keep_alive(true)
            .serve_connection(io, service);
        watcher.watch(conn).await?;
    }
    Ok(())
}

/// Reads until the bytes received either are the HTTP/2 preface or cannot be. Returns what
/// was read (to be replayed) and whether the connection speaks HTTP/2.
async fn sniff(stream: &mut Box<dyn Io>) -> io::Result<(Bytes, bool)> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            // Closed before deciding: hand what there is to HTTP/1, which answers or ends.
            return Ok((buf.freeze(), false));
        }
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] {
            return Ok((buf.freeze(), false));
        }
        if n == H2_PREFACE.len() {
            return Ok((buf.freeze(), true));
        }
    }
}

/// Requests in progress on one connection, and when the last one ended: what the keep-alive
/// deadline counts from. Traffic alone (HTTP/2 pings, say) does not keep a connection alive.
struct Activity {
    active: AtomicUsize,
    started: Instant,
    /// Milliseconds from `started` to the end of the last request.
    last_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            active: AtomicUsize::new(0),
            started: Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn enter(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        ActiveGuard(Arc::clone(self))
    }

    /// When the connection has been idle since, or `None` while a request is in progress.
    fn idle_since(&self) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = self.last_ms.load(Ordering::Acquire);
        Some(self.started + Duration::from_millis(ms))
    }
}

/// One request in progress; dropped when its response body is done (or abandoned).
struct ActiveGuard(Arc<Activity>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_ms.store(ms, Ordering::Release);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in progress until it is done.
struct Tracked {
    body: ResponseBody,
    _guard: ActiveGuard,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's stream: first the bytes already read while sniffing, then the stream; and
/// the keep-alive deadline, which ends a connection that has had no request in progress for
/// `idle` (a read then sees end of stream, and hyper closes cleanly).
struct Conn {
    prefix: Bytes,
    inner: Box<dyn Io>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    activity: Arc<Activity>,
}

impl Conn {
    fn new(prefix: Bytes, inner: Box<dyn Io>, idle: Duration, activity: Arc<Activity>) -> Conn {
        Conn {
            prefix,
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            activity,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => {
                while self.timer.as_mut().poll(cx).is_ready() {
                    let next = match self.activity.idle_since() {
                        // Idle for the whole keep-alive timeout: end of stream.
                        Some(since) if since.elapsed() >= self.idle => return Poll::Ready(Ok(())),
                        Some(since) => since + self.idle,
                        None => Instant::now() + self.idle,
                    };
                    self.timer.as_mut().reset(next);
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
