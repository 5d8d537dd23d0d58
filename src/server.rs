//! Listening and connections: the accept loop, HTTP/1.1 or HTTP/2 (prior knowledge) per
//! connection, the header-read deadline, and graceful shutdown with a deadline.
//!
//! The protocol is chosen from the first bytes under `header_timeout`, so a client that
//! connects and sends nothing (or half a preface) is dropped instead of holding a task
//! forever. What happens to a request belongs to `proxy`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::config::{Config, Server};
use crate::proxy::Proxy;

/// The client preface every HTTP/2 prior-knowledge connection starts with (RFC 9113 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Concurrent HTTP/2 streams per connection. Each may hold up to `max_body` in memory.
const H2_MAX_STREAMS: u32 = 128;

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

/// Serves `config` on `listener` until `shutdown` completes, then stops accepting and waits
/// up to `shutdown_timeout` for in-flight requests.
///
/// # Errors
/// Only if the listener's own address cannot be read; accept errors are logged and serving
/// goes on.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let server = config.server.clone();
    let proxy = Arc::new(Proxy::new(config));
    let local = listener.local_addr()?;
    tracing::info!(
        listen = %local,
        routes = proxy.routes().routes().len(),
        "hookwall listening"
    );
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
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
        let server = server.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, peer, proxy, &server, watcher).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(
        deadline = %crate::config::duration::display(server.shutdown_timeout),
        "shutting down: no new connections, waiting for in-flight requests"
    );
    match tokio::time::timeout(server.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("shutdown deadline passed with connections still open"),
    }
    Ok(())
}

/// Serves one connection.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
    server: &Server,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Nagle would hold small responses back; webhooks are small.
    let _ = stream.set_nodelay(true);
    let Ok(first) = tokio::time::timeout(server.header_timeout, sniff(&mut stream)).await else {
        tracing::debug!(%peer, "no request started in time; closing");
        return Ok(());
    };
    let (prefix, is_h2) = first?;
    let io = TokioIo::new(Rewind::new(prefix, stream));
    let service = service_fn(move |req| {
        let proxy = Arc::clone(&proxy);
        async move { Ok::<_, std::convert::Infallible>(proxy.handle(req, peer).await) }
    });
    if is_h2 {
        let conn = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_concurrent_streams(H2_MAX_STREAMS)
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
async fn sniff(stream: &mut TcpStream) -> io::Result<(Bytes, bool)> {
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

/// A stream that first yields bytes already read from it.
struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
}

impl Rewind {
    fn new(prefix: Bytes, inner: TcpStream) -> Rewind {
        Rewind { prefix, inner }
    }
}

impl AsyncRead for Rewind {
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
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
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

/// Binds `config.server.listen`, then [`serve`]s until SIGINT or SIGTERM.
///
/// # Errors
/// The address cannot be bound.
pub async fn run(config: Config) -> io::Result<()> {
    let listener = TcpListener::bind(config.server.listen).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", config.server.listen),
        )
    })?;
    serve(listener, config, shutdown_signal()).await
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "stop requested"),
        () = term => tracing::info!(signal = "SIGTERM", "stop requested"),
    }
}
