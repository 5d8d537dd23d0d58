//! Where a pool's connections go, and opening one: TCP (no Nagle delay), TLS over TCP
//! through rustls (the route's roots, ALPN `http/1.1`), or a unix socket, as one [`Stream`]
//! type for the HTTP/1 handshake the pool does.

use std::path::PathBuf;
use std::sync::Arc;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::Authority;
use http::HeaderValue;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::body::BoxError;

/// One upstream's address, ready to connect to.
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// `host:port`, resolved at each connect (an IP literal needs no lookup).
    Tcp {
        addr: String,
        host: HeaderValue,
    },
    Tls {
        addr: String,
        host: HeaderValue,
        name: ServerName<'static>,
        tls: tokio_rustls::TlsConnector,
    },
    Unix(PathBuf),
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { addr, .. } => write!(f, "http://{addr}"),
            Endpoint::Tls { addr, .. } => write!(f, "https://{addr}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl Endpoint {
    /// `http://` at `authority` (port 80 when it names none).
    pub(crate) fn tcp(authority: &Authority) -> Endpoint {
        Endpoint::Tcp {
            addr: addr(authority, 80),
            host: host_value(authority),
        }
    }

    /// `https://` at `authority` (port 443 when it names none), its certificate checked with
    /// `tls` for `name`.
    pub(crate) fn tls(
        authority: &Authority,
        name: ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Endpoint {
        Endpoint::Tls {
            addr: addr(authority, 443),
            host: host_value(authority),
            name,
            tls: tokio_rustls::TlsConnector::from(tls),
        }
    }

    /// The `Host` a request that came without one is sent with: the upstream's authority,
    /// or `localhost` for a socket.
    pub(crate) fn host(&self) -> HeaderValue {
        match self {
            Endpoint::Tcp { host, .. } | Endpoint::Tls { host, .. } => host.clone(),
            Endpoint::Unix(_) => HeaderValue::from_static("localhost"),
        }
    }

    /// Opens a connection.
    ///
    /// # Errors
    /// Refused, unreachable, a failed TLS handshake.
    pub(crate) async fn connect(&self) -> Result<Stream, BoxError> {
        match self {
            Endpoint::Tcp { addr, .. } => Ok(Stream::Tcp(tcp(addr).await?)),
            Endpoint::Tls {
                addr, name, tls, ..
            } => {
                let stream = tls.connect(name.clone(), tcp(addr).await?).await?;
                Ok(Stream::Tls(Box::new(stream)))
            }
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        }
    }
}

fn addr(authority: &Authority, default_port: u16) -> String {
    format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(default_port)
    )
}

fn host_value(authority: &Authority) -> HeaderValue {
    // An authority is already a valid header value.
    HeaderValue::from_str(authority.as_str()).unwrap_or(HeaderValue::from_static("localhost"))
}

async fn tcp(addr: &str) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A connection's byte stream, whichever kind of upstream it reaches.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Unix(UnixStream),
}

/// Calls `$call` on the stream inside, whatever its kind.
macro_rules! each_stream {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $call,
            Stream::Tls($s) => $call,
            Stream::Unix($s) => $call,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
