//! Where a pool's connections go, and opening one: TCP (no Nagle delay), TLS over TCP
//! through rustls (the route's roots, ALPN `http/1.1`), or a unix socket; then the HTTP/1
//! handshake, and the connection's own task, which holds the pool slot until the
//! connection ends.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::uri::Authority;
use http::HeaderValue;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::{TcpStream, UnixStream};

use super::pool::{Conn, Slot};
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
    /// An https host no certificate can name (config validation refuses it first): every
    /// connection fails, rather than going out unchecked.
    Unnamed(String),
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { addr, .. } => write!(f, "http://{addr}"),
            Endpoint::Tls { addr, .. } => write!(f, "https://{addr}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
            Endpoint::Unnamed(why) => f.write_str(why),
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

    /// `https://` at `authority` (port 443 when it names none), checked with `tls`.
    pub(crate) fn tls(authority: &Authority, tls: Arc<rustls::ClientConfig>) -> Endpoint {
        match server_name(authority) {
            Ok(name) => Endpoint::Tls {
                addr: addr(authority, 443),
                host: host_value(authority),
                name,
                tls: tokio_rustls::TlsConnector::from(tls),
            },
            Err(why) => Endpoint::Unnamed(why),
        }
    }

    /// The `Host` a request that came without one is sent with: the upstream's authority,
    /// or `localhost` for a socket.
    pub(crate) fn host(&self) -> HeaderValue {
        match self {
            Endpoint::Tcp { host, .. } | Endpoint::Tls { host, .. } => host.clone(),
            Endpoint::Unix(_) | Endpoint::Unnamed(_) => HeaderValue::from_static("localhost"),
        }
    }

    /// Opens a connection and starts its task, which keeps `slot` until it ends.
    ///
    /// # Errors
    /// Refused, unreachable, a failed TLS handshake.
    pub(crate) async fn open(&self, slot: Slot) -> Result<Conn, BoxError> {
        match self {
            Endpoint::Tcp { addr, .. } => handshake(TokioIo::new(tcp(addr).await?), slot).await,
            Endpoint::Tls {
                addr, name, tls, ..
            } => {
                let stream = tls.connect(name.clone(), tcp(addr).await?).await?;
                handshake(TokioIo::new(stream), slot).await
            }
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path).await?;
                handshake(TokioIo::new(stream), slot).await
            }
            Endpoint::Unnamed(why) => Err(why.clone().into()),
        }
    }
}

/// The name an https upstream's certificate must hold: its host name or IP address.
///
/// # Errors
/// The host is neither.
pub(crate) fn server_name(authority: &Authority) -> Result<ServerName<'static>, String> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| format!("https upstream {authority}: {e}"))
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

/// The HTTP/1 handshake on `io`, and the connection's task.
async fn handshake<T>(io: T, slot: Slot) -> Result<Conn, BoxError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .handshake::<T, Full<Bytes>>(io)
        .await?;
    let task = tokio::spawn(async move {
        let _slot = slot;
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(Conn::new(sender, task.abort_handle()))
}
