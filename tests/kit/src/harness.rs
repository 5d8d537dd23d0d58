//! hookwall in-process, started as `main` starts it (through `hookwall::app::App`), on
//! `127.0.0.1:0` unless a config file names another listener. This is the kit's only use of
//! hookwall's server API. Also: requests over a unix-socket listener (in-process or the
//! binary's), and the admin `/metrics` parsed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use hookwall::app::App;
use hookwall::config::{Admin, Config, Listen};
use hookwall::proxy::Proxy;
use hookwall::secret::EnvLookup;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::{build, read_all, send, Reply};
use crate::metrics::Scrape;
use crate::wait::within;

/// A running hookwall; stopped on drop.
pub struct Hookwall {
    addr: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    proxy: Arc<Proxy>,
    config_path: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Any port on the loopback address.
fn ephemeral() -> Listen {
    Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], 0)))
}

impl Hookwall {
    /// From config text read with `env`, named `name` in errors; on `127.0.0.1:0` (see
    /// [`Hookwall::start_config`]).
    /// The config is parsed before the returned future starts, so the future holds no
    /// borrow of the lookup and a test may start hookwall inside a spawned task.
    pub fn from_text(
        text: &str,
        name: &str,
        env: EnvLookup<'_>,
    ) -> impl std::future::Future<Output = Hookwall> + Send + 'static {
        let config = hookwall::config::parse(text, Path::new(name), env)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        Hookwall::start_config(config)
    }

    /// From a validated config, on `127.0.0.1:0`; the admin listener too (on another
    /// `127.0.0.1:0`) when the config has an `[admin]` table.
    pub async fn start_config(mut config: Config) -> Hookwall {
        config.server.listen = ephemeral();
        if let Some(admin) = &mut config.admin {
            admin.listen = ephemeral();
        }
        Hookwall::run(config, None).await
    }

    /// From a config file, on the listener it names (TCP or unix socket), with the admin
    /// endpoints on `127.0.0.1:0` (an `[admin]` table supplies its other keys; its `listen`
    /// is not bound). [`Hookwall::reload`] re-reads the file.
    pub async fn from_file(path: &Path) -> Hookwall {
        let mut config =
            hookwall::config::load(path).unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        config.admin = Some(match config.admin.take() {
            Some(admin) => Admin {
                listen: ephemeral(),
                ..admin
            },
            None => Admin {
                listen: ephemeral(),
                readyz_upstreams: false,
                hosts: Vec::new(),
                token: None,
                history: 1000,
            },
        });
        Hookwall::run(config, Some(path.to_owned())).await
    }

    async fn run(config: Config, config_path: Option<PathBuf>) -> Hookwall {
        let app = App::bind(config).await.expect("the listeners bind");
        let (addr, admin) = (app.addr(), app.admin_addr());
        let proxy = Arc::clone(app.proxy());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Hookwall {
            addr,
            admin,
            proxy,
            config_path,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The public listener's address (panics on a unix socket).
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP listener")
    }

    /// The public listener's address, `None` when it is a unix socket.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The admin listener's address (panics without one).
    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("an admin listener")
    }

    /// The proxy serving the routes (its metrics, its current config).
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Reloads the config file, as SIGHUP does; whether the new config is in force.
    pub fn reload(&self) -> bool {
        let path = self.config_path.as_deref().expect("started from a file");
        hookwall::app::reload(path, &self.proxy, &hookwall::app::Trigger::Signal)
    }

    /// Asks for a graceful shutdown; returns the server task to await.
    pub fn shutdown(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().expect("shutdown once")
    }

    /// Asks for a graceful shutdown and waits (bounded) for serving to end.
    pub async fn stop(&mut self) {
        let task = self.shutdown();
        within(10.0, "hookwall to stop after shutdown", task)
            .await
            .expect("the server task")
            .expect("serving ends cleanly");
    }

    /// POSTs `body` with `headers` over a fresh HTTP/1.1 connection.
    pub async fn post(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        self.request("POST", path, body, headers).await
    }

    /// One request on a fresh HTTP/1.1 connection, answered within 10 s.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Reply {
        let stream = self.connect().await;
        let req = build(method, path, body, headers, self.addr());
        within(10.0, "a response from hookwall", send(stream, req)).await
    }

    /// GET on the admin listener.
    pub async fn admin_get(&self, path: &str) -> Reply {
        self.admin_request("GET", path, &[]).await
    }

    /// A request without a body on the admin listener, with `Host` its address unless
    /// `headers` name one.
    pub async fn admin_request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.admin_send(method, path, b"", headers).await
    }

    /// A POST of an HTML form (`application/x-www-form-urlencoded` `form`) to the admin
    /// listener, as a browser sends one.
    pub async fn admin_form(&self, path: &str, form: &str, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.admin_send("POST", path, form.as_bytes(), &all).await
    }

    async fn admin_send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Reply {
        let stream = TcpStream::connect(self.admin())
            .await
            .expect("admin accepts");
        let host = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
            .map_or_else(|| self.admin().to_string(), |(_, v)| (*v).to_owned());
        let rest: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
            .copied()
            .collect();
        let req = build(method, path, body, &rest, host);
        within(10.0, "an admin response", send(stream, req)).await
    }

    /// `/metrics` from the admin listener, answered 200 and parsed.
    pub async fn scrape(&self) -> Scrape {
        let res = self.admin_get("/metrics").await;
        assert_eq!(res.status(), 200, "{}", res.text());
        Scrape::parse(&res.text())
    }

    /// A fresh TCP connection to the public listener.
    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr())
            .await
            .expect("hookwall accepts")
    }

    /// A connection for several HTTP/1.1 requests in a row (keep-alive).
    pub async fn connect_h1(&self) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
        let stream = self.connect().await;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("an HTTP/1.1 handshake");
        tokio::spawn(conn);
        sender
    }

    /// A prior-knowledge HTTP/2 connection.
    pub async fn connect_h2(&self) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
        let stream = self.connect().await;
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("an HTTP/2 handshake");
        tokio::spawn(conn);
        sender
    }

    /// Writes `bytes` on a fresh connection and reads until the server closes it (or 5 s).
    pub async fn raw(&self, bytes: &[u8]) -> String {
        let mut stream = self.connect().await;
        stream
            .write_all(bytes)
            .await
            .expect("a writable connection");
        read_all(&mut stream).await
    }
}

/// One request with `Host: hookwall.sock` over the unix socket `socket` (a hookwall in-process
/// or the binary), answered within 10 s.
pub async fn request_unix(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Reply {
    let stream = UnixStream::connect(socket)
        .await
        .expect("the unix socket accepts");
    let req = build(method, path, body, headers, "hookwall.sock");
    within(10.0, "a response over the unix socket", send(stream, req)).await
}

/// POSTs `body` with `headers` over the unix socket `socket`.
pub async fn post_unix(socket: &Path, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    request_unix(socket, "POST", path, body, headers).await
}

impl Drop for Hookwall {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
