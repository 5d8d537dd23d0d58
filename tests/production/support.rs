//! What the production tests add to the kit (`hookwall_testkit`): their secrets, written to
//! files in each test's folder (configs are files here, because reload re-reads a path); the
//! config text the tests start from; GitHub-signed requests over TCP, unix sockets and TLS; a
//! raw HTTP/1.1 client and a scripted upstream for connection-level tests; HTTP/2 with
//! pings; the hookwall binary as a child process; the Flask app's delivery count.
//!
//! Every wait is bounded: [`within`] and [`eventually`] panic with what they waited for.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::CertificateDer;

pub use hookwall_testkit::client::{build, raw_post, send, Reply};
pub use hookwall_testkit::fs::TempDir;
pub use hookwall_testkit::harness::{post_unix, request_unix, Hookwall};
pub use hookwall_testkit::metrics::{expect, Labels, Scrape};
pub use hookwall_testkit::process::{shell, start_gunicorn, wait_for_socket, Process};
pub use hookwall_testkit::reference::{b64, github_signature, mac1, mac256};
pub use hookwall_testkit::tls::{peer_cert, tls_connect, Leaf, TestCa};
pub use hookwall_testkit::upstream::{Behaviour, Seen, Upstream, DELAY_HEADER};
pub use hookwall_testkit::wait::{eventually, within};
use hookwall_testkit::wire;

// ---------------------------------------------------------------------------------------
// Secrets and config text
// ---------------------------------------------------------------------------------------

/// Secrets, written to files in each test's folder (never the environment: reload and the
/// binary read the real one).
pub const SECRET_A: &str = "prod-secret-a-3f9c1e77b2";
pub const SECRET_B: &str = "prod-secret-b-8d21aa40c9";
pub const SECRET_OLD: &str = "prod-secret-old-51e0d3f6";
pub const STRIPE_SECRET: &str = "whsec_prod7c0ffee15bad";

/// The TOML secret values naming `a.secret` and `b.secret`.
pub const FILE_A: &str = r#"{ file = "a.secret" }"#;
pub const FILE_B: &str = r#"{ file = "b.secret" }"#;

/// The GitHub route's path, and a delivery body.
pub const GITHUB: &str = "/webhooks/github";
pub const BODY: &[u8] = br#"{"action":"opened","number":42}"#;

/// A `[server.tls]` table naming `cert.pem` and `key.pem` (see [`install_leaf`]).
pub const TLS: &str = "[server.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n";

/// A test's folder, holding the secret files every test config may name: a.secret,
/// b.secret, old.secret, stripe.secret.
pub fn secrets_dir() -> TempDir {
    let dir = TempDir::new();
    for (name, secret) in [
        ("a.secret", SECRET_A),
        ("b.secret", SECRET_B),
        ("old.secret", SECRET_OLD),
        ("stripe.secret", STRIPE_SECRET),
    ] {
        dir.write(name, &format!("{secret}\n"));
    }
    dir
}

/// Writes `leaf`'s certificate and key as `cert.pem` and `key.pem` in `dir`.
pub fn install_leaf(dir: &TempDir, leaf: &Leaf) {
    dir.write("cert.pem", &leaf.cert_pem);
    dir.write("key.pem", &leaf.key_pem);
}

/// The origin `http://addr`.
pub fn http_origin(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A `[server]` table for in-process tests: a free port, a short shutdown, then `extra`.
pub fn server(extra: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout = \"2s\"\n{extra}\n")
}

/// A `[server]` table listening on the unix socket `socket`, with a short shutdown.
pub fn unix_server(socket: &Path) -> String {
    format!(
        "[server]\nlisten = \"unix:{}\"\nshutdown_timeout = \"2s\"\n",
        socket.display()
    )
}

/// A route named `name` at `path` in front of `upstream`, checked as `provider` does, with
/// `rest` (its secret and other keys, a line each).
pub fn route(name: &str, path: &str, upstream: &str, provider: &str, rest: &str) -> String {
    format!(
        "\n[[route]]\nname = \"{name}\"\npath = \"{path}\"\nupstream = \"{upstream}\"\n\
         provider = \"{provider}\"\n{rest}\n"
    )
}

/// A route named after its `provider`, at `path` in front of `upstream`, with `rest`.
pub fn provider_route(provider: &str, path: &str, upstream: &str, rest: &str) -> String {
    route(provider, path, upstream, provider, rest)
}

/// A GitHub route named `name` at `path`, with `secret` (a TOML secret value) and `extra`.
pub fn github_route(name: &str, path: &str, upstream: &str, secret: &str, extra: &str) -> String {
    route(
        name,
        path,
        upstream,
        "github",
        &format!("secret = {secret}\n{extra}"),
    )
}

/// The GitHub route at [`GITHUB`] in front of `upstream`, its secret in `a.secret`.
pub fn github(upstream: &str) -> String {
    github_route("github", GITHUB, upstream, FILE_A, "")
}

/// The GitHub route with `github_secret`, and a route `new` at `/webhooks/new` with
/// `new_secret`: what the reload tests reload into.
pub fn github_and_new(upstream: &str, github_secret: &str, new_secret: &str) -> String {
    format!(
        "{}{}",
        github_route("github", GITHUB, upstream, github_secret, ""),
        github_route("new", "/webhooks/new", upstream, new_secret, ""),
    )
}

/// A config on a free port with `extra` in `[server]`, and the GitHub route in front of
/// `upstream`.
pub fn github_config(upstream: &str, extra: &str) -> String {
    format!("{}{}", server(extra), github(upstream))
}

/// A config listening on the unix socket `socket`, with the GitHub route in front of
/// `upstream`.
pub fn unix_github_config(socket: &Path, upstream: &str) -> String {
    format!("{}{}", unix_server(socket), github(upstream))
}

/// A config on a free port (see [`server`]) with `routes`.
pub fn routes_config(routes: &[&str]) -> String {
    format!("{}{}", server(""), routes.concat())
}

/// Writes `text` as the test's config file, `hookwall.toml` in `dir`.
pub fn write_config(dir: &TempDir, text: &str) -> PathBuf {
    dir.write("hookwall.toml", text)
}

/// hookwall in-process from `text`, written as the config file in `dir`.
pub async fn start(dir: &TempDir, text: &str) -> Hookwall {
    Hookwall::from_file(&write_config(dir, text)).await
}

/// A folder with the secrets, and hookwall in it from the config `text`.
pub async fn start_text(text: &str) -> (TempDir, Hookwall) {
    let dir = secrets_dir();
    let hookwall = start(&dir, text).await;
    (dir, hookwall)
}

/// A folder with the secrets, and hookwall in it serving [`github_config`].
pub async fn start_github(upstream: &str, extra: &str) -> (TempDir, Hookwall) {
    start_text(&github_config(upstream, extra)).await
}

/// The `hookwall_config_reloads_total` family of `scrape`: reloads by result.
pub fn reloads(scrape: &Scrape) -> BTreeMap<Labels, f64> {
    scrape.family("hookwall_config_reloads_total")
}

/// The labels of a `hookwall_requests_total` sample.
pub fn request_labels<'a>(
    route: &'a str,
    provider: &'a str,
    outcome: &'a str,
    reason: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("route", route),
        ("provider", provider),
        ("outcome", outcome),
        ("reason", reason),
    ]
}

/// The labels of a `hookwall_requests_total` sample of the route `github`.
pub fn github_row<'a>(outcome: &'a str, reason: &'a str) -> [(&'static str, &'a str); 4] {
    request_labels("github", "github", outcome, reason)
}

// ---------------------------------------------------------------------------------------
// Signed requests
// ---------------------------------------------------------------------------------------

/// POSTs `body` to `path`, signed with `secret` as GitHub signs.
pub async fn post_signed(hookwall: &Hookwall, path: &str, secret: &str, body: &[u8]) -> Reply {
    let signature = github_signature(secret, body);
    hookwall
        .post(path, body, &[("x-hub-signature-256", &signature)])
        .await
}

/// POSTs `body` to `path` over the unix socket `socket`, signed with `secret`.
pub async fn post_signed_unix(socket: &Path, path: &str, secret: &str, body: &[u8]) -> Reply {
    let signature = github_signature(secret, body);
    post_unix(socket, path, body, &[("x-hub-signature-256", &signature)]).await
}

/// [`BODY`] to the GitHub route signed with `secret`, sent on a task of its own and held
/// `delay_ms` by the upstream: a request that stays in flight. Await the task for its reply.
pub fn spawn_slow_post(hookwall: &Hookwall, secret: &str, delay_ms: u64) -> JoinHandle<Reply> {
    let addr = hookwall.addr();
    let signature = github_signature(secret, BODY);
    tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.expect("hookwall accepts");
        let delay = delay_ms.to_string();
        let headers = [
            ("x-hub-signature-256", &*signature),
            (DELAY_HEADER, &*delay),
        ];
        send(stream, build("POST", GITHUB, BODY, &headers, addr)).await
    })
}

/// What the TLS listener tests start from: a recording upstream, a test CA, and a folder
/// with the secrets and a certificate for `localhost` from that CA (see [`install_leaf`]).
pub struct TlsSetup {
    pub upstream: Upstream,
    /// The upstream's `http://` origin.
    pub origin: String,
    pub ca: TestCa,
    pub leaf: Leaf,
    pub dir: TempDir,
}

impl TlsSetup {
    /// Starts the upstream, makes the CA and installs its leaf.
    pub async fn new() -> TlsSetup {
        let upstream = Upstream::start().await;
        let ca = TestCa::new("hookwall test CA");
        let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
        let dir = secrets_dir();
        install_leaf(&dir, &leaf);
        let origin = http_origin(upstream.addr);
        TlsSetup {
            upstream,
            origin,
            ca,
            leaf,
            dir,
        }
    }

    /// hookwall from [`github_config`] in front of the upstream, with `extra` in `[server]`.
    pub async fn start(&self, extra: &str) -> Hookwall {
        start(&self.dir, &github_config(&self.origin, extra)).await
    }
}

/// POSTs `body` to the GitHub route, signed with [`SECRET_A`], over the TLS connection
/// `stream` (as `localhost`), answered within 5 s.
pub async fn post_tls_on(stream: TlsStream<TcpStream>, body: &[u8]) -> Reply {
    let signature = github_signature(SECRET_A, body);
    let req = build(
        "POST",
        GITHUB,
        body,
        &[("x-hub-signature-256", &signature)],
        "localhost",
    );
    within(5.0, "an answer over TLS", send(stream, req)).await
}

/// [`post_tls_on`] a new TLS connection to `addr` made with `connector`: the status, and the
/// certificate the listener presented.
pub async fn post_tls(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    body: &[u8],
) -> (u16, CertificateDer<'static>) {
    let stream = tls_connect(connector, addr)
        .await
        .expect("the listener speaks TLS");
    let cert = peer_cert(&stream);
    (post_tls_on(stream, body).await.status(), cert)
}

/// Each request's body and `X-Forwarded-Proto`, in order.
pub fn bodies_and_proto(seen: &[Seen]) -> Vec<(&[u8], Option<&str>)> {
    seen.iter()
        .map(|s| (&s.body[..], s.header("x-forwarded-proto")))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Raw HTTP/1.1
// ---------------------------------------------------------------------------------------

/// A raw HTTP/1.1 POST with `Host: hookwall.test` and a `Content-Length`, keep-alive.
pub fn raw_request(path: &str, body: &[u8], headers: &[(&str, &str)]) -> Vec<u8> {
    raw_post(path, "hookwall.test", headers, body)
}

/// A raw POST of `body` to the GitHub route, signed with [`SECRET_A`], plus `extra` headers.
pub fn raw_signed(body: &[u8], extra: &[(&str, &str)]) -> Vec<u8> {
    let signature = github_signature(SECRET_A, body);
    let mut headers = vec![("x-hub-signature-256", signature.as_str())];
    headers.extend_from_slice(extra);
    raw_request(GITHUB, body, &headers)
}

/// Reads more of `stream` into `buf`; `None` once the connection ends.
async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// Reads one HTTP/1.1 request (head, then a `Content-Length` body) from `stream`, keeping
/// what follows it in `buf`: its head and body, or `None` once the connection ends. (The
/// kit's `wire` reads responses; this reads what hookwall sends a scripted upstream.)
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Option<(String, Bytes)> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, buf).await?;
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
        read_more(stream, buf).await?;
    }
    let body = Bytes::copy_from_slice(&buf[head_end..head_end + length]);
    buf.drain(..head_end + length);
    Some((head, body))
}

/// Reads one response from a raw connection: its status and body, or `None` if the
/// connection ends first.
///
/// The kit's parser reads it; the callers bound the wait themselves, so its deadline is far.
pub async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(u16, String)> {
    let far = Instant::now() + Duration::from_secs(3600);
    let res = wire::read_response(stream, &mut Vec::new(), far).await?;
    Some((res.status, String::from_utf8_lossy(&res.body).into_owned()))
}

/// Writes a raw request on `stream` and reads its answer (bounded).
pub async fn exchange(stream: &mut TcpStream, request: &[u8]) -> (u16, String) {
    stream
        .write_all(request)
        .await
        .expect("a writable connection");
    within(10.0, "a raw response", read_response(stream))
        .await
        .expect("the connection closed before an answer")
}

/// Writes `request` on a new plain TCP connection to `addr` and reads an answer (5 s):
/// `None` when the connection ends first, as a TLS listener ends it.
pub async fn plain_answer(addr: SocketAddr, request: &[u8]) -> Option<(u16, String)> {
    let mut plain = TcpStream::connect(addr).await.expect("the port accepts");
    plain
        .write_all(request)
        .await
        .expect("a writable connection");
    within(
        5.0,
        "the plain connection to end",
        read_response(&mut plain),
    )
    .await
}

/// How long the peer took to close `stream` (a read sees end of stream or a reset), or
/// `None` if it is still open after `secs`.
pub async fn closed_after(stream: &mut TcpStream, secs: f64) -> Option<Duration> {
    let since = Instant::now();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs_f64(secs), stream.read(&mut byte)).await;
    matches!(read, Ok(Ok(0) | Err(_))).then(|| since.elapsed())
}

/// Asserts that the peer closes `stream` within 3 s (`what` says which close was due), and
/// not before `at_least`.
pub async fn assert_closes_not_before(stream: &mut TcpStream, at_least: Duration, what: &str) {
    let after = closed_after(stream, 3.0)
        .await
        .unwrap_or_else(|| panic!("{what}"));
    assert!(after >= at_least, "closed too early: {after:?}");
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
    /// Starts answering with `parts`, `pause` apart.
    pub async fn start(parts: Vec<&'static [u8]>, pause: Duration) -> ScriptedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("a bound listener");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&bodies);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                let parts = parts.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    // One request after another, until the connection ends.
                    while let Some((_, body)) = read_message(&mut stream, &mut buf).await {
                        log.lock().expect("the log").push(body);
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

    /// The request bodies received, in order.
    pub fn bodies(&self) -> Vec<Bytes> {
        self.bodies.lock().expect("the log").clone()
    }
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
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
    let stream = TcpStream::connect(addr).await.expect("hookwall accepts");
    let (sender, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(ping)
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .handshake(TokioIo::new(stream))
            .await
            .expect("an HTTP/2 handshake");
    (sender, tokio::spawn(conn))
}

// ---------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------

/// The hookwall binary on `config`, logging at info, plus `args`; `RUST_LOG` unset.
pub fn binary_command(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookwall"));
    cmd.arg("--config")
        .arg(config)
        .args(["--log-level", "info"])
        .args(args)
        .env_remove("RUST_LOG");
    cmd
}

/// [`binary_command`] started, once `socket` (its public unix-socket listener) accepts
/// connections; stopped on drop.
pub async fn start_binary(config: &Path, socket: &Path, args: &[&str]) -> Process {
    let process = Process::spawn(binary_command(config, args));
    wait_for_socket(socket, 10.0, "hookwall").await;
    process
}

/// `hookwall <command> --config <config>`, for the one-shot commands (`check`, `verify`).
pub fn cli(command: &str, config: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookwall"));
    cmd.arg(command).arg("--config").arg(config);
    cmd
}

/// A shell that waits for `socket` to appear, then sends `pid` SIGHUP `storm` times back to
/// back (a few milliseconds' worth); it gives up if `pid` ends first.
pub fn hup_as_soon_as(socket: &Path, pid: u32, storm: u32) -> Process {
    shell(&format!(
        "n=0\n\
         while [ ! -S '{socket}' ]; do\n\
           n=$((n+1)); [ $n -lt 500 ] || {{ n=0; kill -0 {pid} 2>/dev/null || exit 3; }}\n\
         done\n\
         i=0\n\
         while [ $i -lt {storm} ] && kill -HUP {pid} 2>/dev/null; do i=$((i+1)); done\n\
         [ $i -eq {storm} ] || exit 4\n",
        socket = socket.display()
    ))
}

/// `GET /_count` from the Flask app on its unix socket: how many webhooks reached it.
pub async fn flask_count(socket: &Path) -> u64 {
    let mut stream = UnixStream::connect(socket).await.expect("Flask accepts");
    stream
        .write_all(b"GET /_count HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .await
        .expect("a writable connection");
    let mut out = Vec::new();
    within(10.0, "/_count", stream.read_to_end(&mut out))
        .await
        .expect("a readable connection");
    let text = String::from_utf8_lossy(&out);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("no count in {text:?}: {e}"));
    json["count"].as_u64().expect("a numeric count")
}
