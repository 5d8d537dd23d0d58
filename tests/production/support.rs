//! Harness for the production tests: temporary folders with the config and its secret files
//! (configs are files here, because reload re-reads a path), a recording upstream (plain or
//! TLS), hookwall in-process with its admin listener, clients over TCP, TLS and unix sockets,
//! a raw HTTP/1.1 client for connection-level tests, a Prometheus text parser, test
//! certificates, a log capture, and the child processes (the hookwall binary, gunicorn).
//!
//! Every wait is bounded: [`within`] and [`eventually`] panic with what they waited for.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hookwall::app::App;
use hookwall::config::{Admin, Listen};
use hookwall::proxy::Proxy;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Secrets, written to files in each test's folder (never the environment: reload and the
/// binary read the real one).
pub const SECRET_A: &str = "prod-secret-a-3f9c1e77b2";
pub const SECRET_B: &str = "prod-secret-b-8d21aa40c9";
pub const SECRET_OLD: &str = "prod-secret-old-51e0d3f6";
pub const STRIPE_SECRET: &str = "whsec_prod7c0ffee15bad";

/// The upstream waits this many milliseconds before answering when a request carries it.
pub const DELAY_HEADER: &str = "x-test-delay-ms";

/// `sha256=<hex>` of `body` under `secret`, computed here, independently of hookwall.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Awaits `fut` for at most `secs` seconds, else panics naming `what`.
pub async fn within<T>(secs: f64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs_f64(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s waiting for {what}"),
    }
}

/// Polls `cond` every 10 ms for at most `secs` seconds, else panics naming `what`.
pub async fn eventually(secs: f64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A folder of its own under the system temp dir, removed on drop. Names are short: a unix
/// socket path must fit in 108 bytes.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "hwp-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `contents` to `name` in the folder (replacing it) and returns the path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.join(name);
        // Write aside and rename, as an operator's deploy tool would: a reader never sees
        // half a file.
        let tmp = self.join(&format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    /// Writes the secret files every test config may name: a.secret, b.secret, old.secret,
    /// stripe.secret.
    pub fn write_secrets(&self) {
        self.write("a.secret", &format!("{SECRET_A}\n"));
        self.write("b.secret", &format!("{SECRET_B}\n"));
        self.write("old.secret", &format!("{SECRET_OLD}\n"));
        self.write("stripe.secret", &format!("{STRIPE_SECRET}\n"));
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// What the upstream answers.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub status: StatusCode,
    pub body: &'static str,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: StatusCode::OK,
            body: "upstream ok\n",
        }
    }
}

/// A real HTTP/1.1 server on 127.0.0.1:0 (optionally behind TLS) that records each request
/// as soon as its body has arrived, then waits [`DELAY_HEADER`] ms if asked, then answers.
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        Upstream::start_with(Behaviour::default(), None).await
    }

    pub async fn start_with(
        behaviour: Behaviour,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Upstream::on(listener, behaviour, tls)
    }

    /// Serves on an already bound listener (see [`reserved_port`]).
    pub fn on(
        listener: TcpListener,
        behaviour: Behaviour,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Upstream {
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
                let tls = tls.clone();
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
                            let delay = parts
                                .headers
                                .get(DELAY_HEADER)
                                .and_then(|v| v.to_str().ok()?.parse().ok())
                                .unwrap_or(0);
                            log.lock().unwrap().push(Seen {
                                method: parts.method.to_string(),
                                uri: parts.uri.to_string(),
                                headers: parts.headers,
                                body,
                            });
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                            let mut res = Response::new(Full::new(Bytes::from_static(
                                behaviour.body.as_bytes(),
                            )));
                            *res.status_mut() = behaviour.status;
                            Ok::<_, Infallible>(res)
                        }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
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
        Upstream { addr, seen, task }
    }

    pub fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The one request the upstream saw (panics on none or more).
    pub fn only_one(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(
            seen.len(),
            1,
            "expected exactly one upstream request: {seen:#?}"
        );
        seen.into_iter().next().unwrap()
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

/// A TCP port bound but not listening: connections to it are refused until [`listen`] is
/// called on the socket, and no other process can take the port meanwhile.
///
/// [`listen`]: tokio::net::TcpSocket::listen
pub fn reserved_port() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// hookwall in-process from a config file: the public listener the config names (TCP or unix
/// socket), and the admin endpoints served by `admin::serve` on a listener of its own on
/// 127.0.0.1:0 (an `[admin]` table in a test config supplies `readyz_upstreams`; its
/// `listen` is not bound).
pub struct Hookwall {
    pub config_path: PathBuf,
    pub proxy: Arc<Proxy>,
    /// The public listener, when it is TCP.
    pub addr: Option<SocketAddr>,
    pub admin: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Hookwall {
    pub async fn start(config_path: &Path) -> Hookwall {
        let config = hookwall::config::load(config_path)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        let mut config = config;
        let readyz_upstreams = config.admin.as_ref().is_some_and(|a| a.readyz_upstreams);
        config.admin = Some(Admin {
            listen: Listen::Tcp("127.0.0.1:0".parse().unwrap()),
            readyz_upstreams,
        });
        let app = App::bind(config).await.unwrap();
        let addr = app.addr();
        let admin = app.admin_addr().expect("an admin listener on TCP");
        let proxy = Arc::clone(app.proxy());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Hookwall {
            config_path: config_path.to_owned(),
            proxy,
            addr,
            admin,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP listener")
    }

    /// `app::reload` on the config file, as SIGHUP does.
    pub fn reload(&self) -> bool {
        hookwall::app::reload(&self.config_path, &self.proxy)
    }

    /// Asks for a graceful shutdown and waits (bounded) for `serve_proxy` to return.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("shutdown once");
        within(10.0, "serve_proxy to return after shutdown", task)
            .await
            .unwrap()
            .unwrap();
    }

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
        let stream = TcpStream::connect(self.addr()).await.unwrap();
        let req = build(method, path, body, headers, &self.addr().to_string());
        within(10.0, "a response from hookwall", send(stream, req)).await
    }

    /// GET on the admin listener.
    pub async fn admin_get(&self, path: &str) -> Reply {
        let stream = TcpStream::connect(self.admin).await.unwrap();
        let req = build("GET", path, b"", &[], &self.admin.to_string());
        within(10.0, "an admin response", send(stream, req)).await
    }

    /// `/metrics`, scraped over HTTP and parsed.
    pub async fn scrape(&self) -> Scrape {
        let res = self.admin_get("/metrics").await;
        assert_eq!(res.status(), 200);
        Scrape::parse(&res.text())
    }
}

impl Drop for Hookwall {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub fn build(
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    host: &str,
) -> Request<Full<Bytes>> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::new(Bytes::copy_from_slice(body))).unwrap()
}

/// Sends one request over `io` with hyper's HTTP/1.1 client and reads the whole answer.
pub async fn send<S>(io: S, req: Request<Full<Bytes>>) -> Reply
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = sender.send_request(req).await.unwrap();
    Reply::read(res).await
}

/// One request over a unix socket.
pub async fn post_unix(socket: &Path, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    let stream = UnixStream::connect(socket).await.unwrap();
    let req = build("POST", path, body, headers, "hookwall.sock");
    within(10.0, "a response over the unix socket", send(stream, req)).await
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

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// A raw HTTP/1.1 request, keep-alive, with a `Content-Length`.
pub fn raw_request(path: &str, body: &[u8], headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: hookwall.test\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one response (head and a `Content-Length` body) from a raw connection: its status
/// and body, or `None` if the connection ends first.
pub async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Writes a raw request on `stream` and reads its answer (bounded).
pub async fn exchange(stream: &mut TcpStream, request: &[u8]) -> (u16, String) {
    stream.write_all(request).await.unwrap();
    within(10.0, "a raw response", read_response(stream))
        .await
        .expect("the connection closed before an answer")
}

/// Whether the peer closes `stream` within `secs` (a read sees end of stream or a reset).
pub async fn closes_within(stream: &mut TcpStream, secs: f64) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs_f64(secs), stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// A parsed Prometheus / OpenMetrics text exposition.
#[derive(Debug)]
pub struct Scrape {
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

pub type Labels = BTreeMap<String, String>;

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Scrape {
    /// Parses `name{label="value",...} value` lines; `#` lines are skipped.
    pub fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, rest) = match line.find(['{', ' ']) {
                Some(i) => line.split_at(i),
                None => panic!("unparsable metrics line {line:?}"),
            };
            let mut labels = BTreeMap::new();
            let mut rest = rest;
            if let Some(inner) = rest.strip_prefix('{') {
                let mut chars = inner.char_indices();
                let end;
                loop {
                    // name="value" pairs, separated by commas, until the closing brace.
                    let Some((start, c)) = chars.next() else {
                        panic!("unterminated labels in {line:?}")
                    };
                    if c == '}' {
                        end = start + 1;
                        break;
                    }
                    if c == ',' {
                        continue;
                    }
                    let mut key = String::from(c);
                    for (_, c) in chars.by_ref() {
                        if c == '=' {
                            break;
                        }
                        key.push(c);
                    }
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
                    let mut value = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '\\')) => match chars.next() {
                                Some((_, 'n')) => value.push('\n'),
                                Some((_, c)) => value.push(c),
                                None => panic!("bad escape in {line:?}"),
                            },
                            Some((_, '"')) => break,
                            Some((_, c)) => value.push(c),
                            None => panic!("unterminated label value in {line:?}"),
                        }
                    }
                    labels.insert(key, value);
                }
                rest = &inner[end..];
            }
            let value = rest
                .split_whitespace()
                .next()
                .unwrap_or_else(|| panic!("no value in {line:?}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            samples.push((name.to_owned(), labels, value));
        }
        Scrape { samples }
    }

    /// Every sample named exactly `name`, by label set.
    pub fn family(&self, name: &str) -> BTreeMap<Labels, f64> {
        let mut out = BTreeMap::new();
        for (n, l, v) in &self.samples {
            if n == name {
                assert!(
                    out.insert(l.clone(), *v).is_none(),
                    "{name}{l:?} appears twice"
                );
            }
        }
        out
    }

    /// The sample `name` with exactly the label set `pairs`.
    pub fn get(&self, name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
        self.family(name).get(&labels(pairs)).copied()
    }
}

/// Builds the expected family for `assert_eq!` against [`Scrape::family`].
pub fn expect(rows: &[(&[(&str, &str)], f64)]) -> BTreeMap<Labels, f64> {
    rows.iter().map(|(l, v)| (labels(l), *v)).collect()
}

/// A test certificate authority.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A leaf certificate and its key, as PEM, and the certificate's DER.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A TLS client that trusts this CA only.
    pub fn client(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// A TLS server config from a leaf, for the HTTPS upstream.
pub fn acceptor(leaf: &Leaf) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der.clone()], key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Connects to `addr` over TLS as `localhost` with `connector`.
pub async fn tls_connect(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    within(
        10.0,
        "the TLS handshake",
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
}

/// A child process we started, stopped on drop: SIGTERM, then SIGKILL if it lingers.
pub struct Process {
    pub child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Spawns `cmd` with stderr collected line by line.
    pub fn spawn(mut cmd: Command) -> Process {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
        Process { child, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`HUP`, `TERM`, …) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) for the process to exit.
    pub async fn wait(&mut self, secs: f64) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "process {} still running after {secs} s; stderr:\n{}",
                self.pid(),
                self.stderr().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            for _ in 0..100 {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits (bounded) until a unix socket accepts connections.
pub async fn wait_for_socket(path: &Path, secs: f64, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    while UnixStream::connect(path).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not accept connections on {} within {secs} s",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The hookwall binary on `config` (`--log-level info`, plus `args`), once `socket` (its
/// public unix-socket listener) accepts connections; stopped on drop.
pub async fn start_binary(config: &Path, socket: &Path, args: &[&str]) -> Process {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookwall"));
    cmd.arg("--config")
        .arg(config)
        .args(["--log-level", "info"])
        .args(args)
        .env_remove("RUST_LOG");
    let process = Process::spawn(cmd);
    wait_for_socket(socket, 10.0, "hookwall").await;
    process
}

/// The project's Python: `HOOKWALL_TEST_PYTHON`, else `<repo>/.venv/bin/python`.
pub fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("HOOKWALL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"))
}

/// gunicorn serving `examples/flask_app.py` (`flask_app:app`) on the unix socket `socket`,
/// one sync worker; stopped on drop.
pub async fn start_gunicorn(socket: &Path) -> Process {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = python();
    let gunicorn = python.with_file_name("gunicorn");
    assert!(
        gunicorn.exists(),
        "{} not found: run `bash .ci/run` once, or `.venv/bin/pip install -r examples/requirements.txt` \
         (gunicorn is listed there), or set HOOKWALL_TEST_PYTHON to the python of a venv that has it",
        gunicorn.display()
    );
    let mut cmd = Command::new(&gunicorn);
    cmd.arg("--chdir")
        .arg(root.join("examples"))
        .arg("--bind")
        .arg(format!("unix:{}", socket.display()))
        .args(["--workers", "1", "--log-level", "warning", "flask_app:app"]);
    let process = Process::spawn(cmd);
    wait_for_socket(socket, 20.0, "gunicorn").await;
    process
}

/// `GET /_count` from the Flask app on its unix socket: how many webhooks reached it.
pub async fn flask_count(socket: &Path) -> u64 {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream
        .write_all(b"GET /_count HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    within(10.0, "/_count", stream.read_to_end(&mut out))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("no count in {text:?}: {e}"));
    json["count"].as_u64().unwrap()
}

/// An HTTP/1.1 upstream on 127.0.0.1:0 that answers every request with `parts` written one
/// after another, `pause` between each: a response whose body arrives in pieces (the first
/// part holds the head). It reads each request whole (head and `Content-Length` body) before
/// answering, and records the bodies.
pub struct ScriptedUpstream {
    pub addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    task: JoinHandle<()>,
}

impl ScriptedUpstream {
    pub async fn start(parts: Vec<&'static [u8]>, pause: Duration) -> ScriptedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&bodies);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log);
                let parts = parts.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    // One request after another, until the connection ends.
                    while let Some(body) = read_request(&mut stream, &mut buf).await {
                        log.lock().unwrap().push(body);
                        for (i, part) in parts.iter().enumerate() {
                            if i > 0 {
                                tokio::time::sleep(pause).await;
                            }
                            if stream.write_all(part).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        ScriptedUpstream { addr, bodies, task }
    }

    pub fn bodies(&self) -> Vec<Bytes> {
        self.bodies.lock().unwrap().clone()
    }
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 request (head, then a `Content-Length` body) from `stream`, keeping
/// what follows it in `buf`; its body, or `None` once the connection ends.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Bytes> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = Bytes::copy_from_slice(&buf[head_end..head_end + length]);
    buf.drain(..head_end + length);
    Some(body)
}

/// A prior-knowledge HTTP/2 connection to `addr` with hyper's client, which pings the server
/// every `ping` even while idle (and answers the server's pings, as every HTTP/2 client
/// does). Returns the request sender (keep it: dropping it lets the client close the
/// connection itself) and the connection task, which ends when the connection closes.
pub async fn h2_connect(
    addr: SocketAddr,
    ping: Duration,
) -> (
    hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    JoinHandle<Result<(), hyper::Error>>,
) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(ping)
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .handshake(TokioIo::new(stream))
            .await
            .unwrap();
    (sender, tokio::spawn(conn))
}

/// `sh -c script`, stopped on drop like any [`Process`]. For what must happen within
/// microseconds of an event, with no process to start in between (`kill` is a builtin).
pub fn shell(script: &str) -> Process {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    Process::spawn(cmd)
}
