//! Test harness: a real recording upstream on 127.0.0.1:0, hookwall in-process on another
//! 127.0.0.1:0 listener, and clients (a polite hyper one, and raw bytes over a socket).

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The secrets the test configs read, through a lookup function (never `set_var`).
pub const GITHUB_SECRET: &str = "e2e-github-secret-5b1d0c";
pub const CUSTOM_SECRET: &str = "e2e-custom-secret-77ae41";
pub const OLD_SECRET: &str = "e2e-old-secret-0f3e2d";

pub fn env(name: &str) -> Option<String> {
    match name {
        "GITHUB_SECRET" => Some(GITHUB_SECRET.into()),
        "CUSTOM_SECRET" => Some(CUSTOM_SECRET.into()),
        "OLD_SECRET" => Some(OLD_SECRET.into()),
        _ => None,
    }
}

/// `sha256=<hex>` of `body` under `secret`, computed here, independently of hookwall.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
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
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: StatusCode::OK,
            delay: Duration::ZERO,
            body: "upstream ok\n",
            extra_headers: Vec::new(),
            fail_first: 0,
        }
    }
}

/// A real HTTP/1.1 server that records every request it gets.
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        Upstream::start_with(Behaviour::default()).await
    }

    pub async fn start_with(behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log);
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let log = Arc::clone(&log);
                        let behaviour = behaviour.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let nth = {
                                let mut seen = log.lock().unwrap();
                                seen.push(Seen {
                                    method: parts.method.to_string(),
                                    uri: parts.uri.to_string(),
                                    version: parts.version,
                                    headers: parts.headers,
                                    body,
                                });
                                seen.len() - 1
                            };
                            tokio::time::sleep(behaviour.delay).await;
                            let mut res = Response::new(Full::new(Bytes::from_static(
                                behaviour.body.as_bytes(),
                            )));
                            *res.status_mut() = if nth < behaviour.fail_first {
                                StatusCode::INTERNAL_SERVER_ERROR
                            } else {
                                behaviour.status
                            };
                            for (k, v) in &behaviour.extra_headers {
                                res.headers_mut().append(*k, v.parse().unwrap());
                            }
                            Ok::<_, Infallible>(res)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream { addr, seen, task }
    }

    /// An address where nothing listens (bound, then released).
    pub async fn dead_addr() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    }

    pub fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn only(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(
            seen.len(),
            1,
            "expected exactly one upstream request, got {seen:#?}"
        );
        seen.into_iter().next().unwrap()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A GitHub route at `/webhooks/github` in front of `upstream`.
pub fn github_config(upstream: SocketAddr) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body = "64KiB"

[[route]]
name = "github"
path = "/webhooks/github"
upstream = "http://{upstream}"
provider = "github"
secret = {{ env = "GITHUB_SECRET" }}
"#
    )
}

/// hookwall, in-process, on 127.0.0.1:0.
pub struct Hookwall {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Hookwall {
    pub async fn start(config_text: &str) -> Hookwall {
        let config = hookwall::config::parse(config_text, Path::new("e2e.toml"), &env)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        Hookwall::start_config(config).await
    }

    pub async fn start_config(config: hookwall::config::Config) -> Hookwall {
        let mut config = config;
        config.server.listen = hookwall::config::Listen::Tcp("127.0.0.1:0".parse().unwrap());
        config.admin = None;
        let app = hookwall::app::App::bind(config).await.unwrap();
        let addr = app.addr().expect("a TCP listener");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Hookwall {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Asks for a graceful shutdown; returns the server task to await.
    pub fn shutdown(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().expect("shutdown once")
    }

    /// POSTs `body` with `headers` over a fresh HTTP/1.1 connection.
    pub async fn post(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        self.request("POST", path, body, headers).await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Reply {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = build(method, path, body, headers, self.addr);
        let res = sender.send_request(req).await.unwrap();
        Reply::read(res).await
    }

    /// A connection for several HTTP/1.1 requests in a row (keep-alive).
    pub async fn connect_h1(&self) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    }

    /// A prior-knowledge HTTP/2 connection.
    pub async fn connect_h2(&self) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        sender
    }

    /// Writes `bytes` on a fresh connection and reads until the server closes it (or 5 s).
    pub async fn raw(&self, bytes: &[u8]) -> String {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        read_all(&mut stream).await
    }
}

impl Drop for Hookwall {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Reads until EOF, an error, or 5 s without the connection closing.
pub async fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

pub fn build(
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    addr: SocketAddr,
) -> Request<Full<Bytes>> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::new(Bytes::copy_from_slice(body))).unwrap()
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub async fn read(res: Response<Incoming>) -> Reply {
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }
}

/// The status code of a raw HTTP/1.1 response text.
pub fn raw_status(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}
