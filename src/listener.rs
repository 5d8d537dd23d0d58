//! Where connections come from: a bound TCP or unix-socket listener, the byte stream of an
//! accepted connection, and who is at the other end. Both the public listener (`server`) and
//! the admin listener (`admin`) accept through it.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

use crate::config::Listen;

/// Who sent a request: a TCP peer, or a client of the unix socket (no address to forward).
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    Tcp(SocketAddr),
    Unix,
}

/// A bound listener: TCP or a unix socket.
pub enum Listener {
    Tcp(TcpListener),
    /// The socket and its path, removed when the listener is dropped.
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Binds `listen`. A unix socket path left over by a process that is gone is replaced; one
    /// that still answers is not.
    ///
    /// # Errors
    /// The address or path cannot be bound.
    pub async fn bind(listen: &Listen) -> io::Result<Listener> {
        let named =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}"));
        match listen {
            Listen::Tcp(addr) => TcpListener::bind(addr)
                .await
                .map(Listener::Tcp)
                .map_err(named),
            Listen::Unix(path) => {
                use std::os::unix::fs::FileTypeExt;
                // Only a socket left by a process that is gone is replaced: never a file of
                // another kind, and never a socket that still answers.
                let is_socket =
                    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
                if is_socket && tokio::net::UnixStream::connect(path).await.is_err() {
                    std::fs::remove_file(path).map_err(named)?;
                }
                UnixListener::bind(path)
                    .map(|l| Listener::Unix(l, path.clone()))
                    .map_err(named)
            }
        }
    }

    /// What the listener is bound to, for logs.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "tcp".to_owned(), |a| a.to_string()),
            Listener::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    /// The TCP address, if this is a TCP listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(..) => None,
        }
    }

    /// Accepts the next connection.
    ///
    /// # Errors
    /// The accept call fails (out of file descriptors, say); the listener stays usable.
    pub async fn accept(&self) -> io::Result<(Box<dyn Io>, Peer)> {
        self.accept_with(false)
            .await
            .map(|(io, peer, _)| (io, peer))
    }

    /// Accepts the next connection, with the address it reached (on TCP): the admin
    /// listener checks `Host` against it. The public listener does not pay for asking.
    ///
    /// # Errors
    /// As [`Listener::accept`].
    pub async fn accept_at(&self) -> io::Result<(Box<dyn Io>, Peer, Option<SocketAddr>)> {
        self.accept_with(true).await
    }

    async fn accept_with(
        &self,
        local: bool,
    ) -> io::Result<(Box<dyn Io>, Peer, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, addr) = l.accept().await?;
                // Nagle would hold small responses back; webhooks are small.
                let _ = stream.set_nodelay(true);
                // `None` means a unix socket to the admin guard, which then skips its Host
                // check: a TCP connection whose address cannot be read is refused instead.
                let at = if local {
                    Some(stream.local_addr()?)
                } else {
                    None
                };
                Ok((Box::new(stream), Peer::Tcp(addr), at))
            }
            Listener::Unix(l, _) => {
                let (stream, _) = l.accept().await?;
                Ok((Box::new(stream), Peer::Unix, None))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A connection's byte stream, whatever carries it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}
