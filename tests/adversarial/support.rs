//! Harness for the adversarial tests.
//!
//! - [`Upstream`]: a recording upstream that parses what arrives on the wire itself (with
//!   `httparse`, not hyper), so it records every request it is sent, counts connections, and
//!   notes anything that is not a well-framed request (a partial head, a partial body, a
//!   `Transfer-Encoding`) as an anomaly instead of silently refusing it.
//! - [`Hookwall`]: hookwall in-process (`config::parse` + `server::serve`) on 127.0.0.1:0.
//! - [`exchange`]: raw bytes over a socket, then every response read back until the server
//!   closes the connection (bounded), with the time it took.
//! - [`h2`]: hand-written HTTP/2 frames for the attacks no polite client sends.
//!
//! Tests share one process, and the memory test reads the process's RSS, so every [`Rig`]
//! holds a [`GATE`] read guard and the memory test takes it for writing.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::task::JoinHandle;

/// The route secrets, read by the test configs through a lookup function.
pub const SECRET: &str = "adv-github-secret-3f9a61d2";
pub const OTHER_SECRET: &str = "adv-other-secret-c04e77b9";

/// The GitHub route (64 KiB limit), a second GitHub route with another secret, and a route
/// whose `max_body` is tiny (so a 413 is cheap to provoke).
pub const GITHUB: &str = "/webhooks/github";
pub const OTHER: &str = "/webhooks/other";
pub const SMALL: &str = "/webhooks/small";
pub const SMALL_MAX_BODY: usize = 64;
/// A route with a 16 MiB limit, for bodies that take a while to forward.
pub const BIG: &str = "/webhooks/big";

/// A legitimate delivery body.
pub const BODY: &[u8] = br#"{"action":"opened","hook_id":4242,"zen":"Design for failure."}"#;

/// The longest any single exchange may wait for the server to close the connection. Every
/// timeout in the test config is far below it, so reaching it means hookwall hung.
pub const BOUND: Duration = Duration::from_secs(3);

pub fn env(name: &str) -> Option<String> {
    match name {
        "ADV_SECRET" => Some(SECRET.into()),
        "ADV_OTHER_SECRET" => Some(OTHER_SECRET.into()),
        _ => None,
    }
}

/// `sha256=<hex>` of `body` under `secret`, computed here, independently of hookwall.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `sha1=<hex>`: GitHub's legacy `X-Hub-Signature`, which a sha256 route must ignore.
pub fn sign_sha1(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// `sha512=<hex>`: a stronger algorithm the sender may not pick either.
pub fn sign_sha512(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha512={}", hex::encode(mac.finalize().into_bytes()))
}

/// The test config: short timeouts (`header_timeout` 300 ms, `body_timeout` as given), and
/// four GitHub routes on one upstream: [`GITHUB`], [`OTHER`] (another secret), [`SMALL`]
/// (`max_body` 64 bytes) and [`BIG`] (16 MiB).
pub fn config(upstream: SocketAddr, body_timeout: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body = "64KiB"
header_timeout = "300ms"
body_timeout = "{body_timeout}"
upstream_timeout = "2s"
shutdown_timeout = "1s"

[[route]]
name = "github"
path = "{GITHUB}"
upstream = "http://{upstream}"
provider = "github"
secret = {{ env = "ADV_SECRET" }}

[[route]]
name = "other"
path = "{OTHER}"
upstream = "http://{upstream}"
provider = "github"
secret = {{ env = "ADV_OTHER_SECRET" }}

[[route]]
name = "small"
path = "{SMALL}"
upstream = "http://{upstream}"
provider = "github"
secret = {{ env = "ADV_SECRET" }}
max_body = {SMALL_MAX_BODY}

[[route]]
name = "big"
path = "{BIG}"
upstream = "http://{upstream}"
provider = "github"
secret = {{ env = "ADV_SECRET" }}
max_body = "16MiB"
"#
    )
}

/// Serialises the memory test against every other test (see the module docs).
pub static GATE: RwLock<()> = RwLock::const_new(());

/// A held [`GATE`].
enum Gate {
    Shared(RwLockReadGuard<'static, ()>),
    Exclusive(RwLockWriteGuard<'static, ()>),
}

/// An upstream and a hookwall in front of it, for one test.
pub struct Rig {
    pub upstream: Upstream,
    pub hookwall: Hookwall,
    _gate: Gate,
}

impl Rig {
    /// The standard rig: `body_timeout = "300ms"`.
    pub async fn start() -> Rig {
        let gate = Gate::Shared(GATE.read().await);
        Rig::with(gate, "300ms").await
    }

    /// A rig that runs alone in the process (for measuring the process's memory).
    pub async fn exclusive(body_timeout: &str) -> Rig {
        let gate = Gate::Exclusive(GATE.write().await);
        Rig::with(gate, body_timeout).await
    }

    /// A rig whose upstream holds every request for `target` after its head (see [`Hold`]),
    /// with a 5 s body timeout for large bodies.
    pub async fn holding(target: &str) -> (Rig, Arc<Hold>) {
        let gate = Gate::Shared(GATE.read().await);
        let (upstream, hold) = Upstream::start_holding(target).await;
        let hookwall = Hookwall::start(&config(upstream.addr, "5s")).await;
        let rig = Rig {
            upstream,
            hookwall,
            _gate: gate,
        };
        (rig, hold)
    }

    async fn with(gate: Gate, body_timeout: &str) -> Rig {
        let upstream = Upstream::start().await;
        let hookwall = Hookwall::start(&config(upstream.addr, body_timeout)).await;
        Rig {
            upstream,
            hookwall,
            _gate: gate,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.hookwall.addr
    }

    /// A signed POST of [`body`]`(marker)` to the GitHub route over a fresh connection must
    /// reach the upstream exactly once, byte for byte: the rig (and hookwall) still work.
    /// Returns what the upstream saw.
    pub async fn assert_still_serving(&self, marker: &str) -> Seen {
        let b = body(marker);
        let request = signed_request(GITHUB, &b, &[("X-Case", marker), ("Connection", "close")]);
        let ex = exchange(self.addr(), &request).await;
        assert_eq!(ex.statuses(), [200], "{marker}: {ex:?}");
        let seen = self.upstream.for_case(marker);
        assert_eq!(seen.len(), 1, "{marker}: {seen:#?}");
        let seen = seen.into_iter().next().unwrap();
        seen.assert_is_verified_copy(GITHUB, &b, &sign(SECRET, &b));
        seen
    }
}

/// A delivery body unique to `marker`. Every request a test expects to be forwarded carries
/// its own body: hookwall may treat a second copy of the same signed delivery as a replay.
pub fn body(marker: &str) -> Vec<u8> {
    format!(r#"{{"action":"opened","case":"{marker}","zen":"Design for failure."}}"#).into_bytes()
}

/// A signed, well-framed request: `POST path` with `body`, `Host`, the signature, a
/// `Content-Length` and `headers`.
pub fn signed_request(path: &str, body: &[u8], headers: &[(&str, &str)]) -> Vec<u8> {
    let sig = sign(SECRET, body);
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: hookwall.test\r\nX-Hub-Signature-256: {sig}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// `body` in chunked encoding, one chunk per `piece` bytes, with the last chunk.
pub fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

// ---------------------------------------------------------------------------------------------
// The recording upstream

/// One request as it arrived at the upstream, parsed from the wire.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// In arrival order, names lowercased, values as bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&[u8]> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The one value of `name`; panics unless there is exactly one.
    pub fn one(&self, name: &str) -> String {
        let all = self.all(name);
        assert_eq!(all.len(), 1, "`{name}` should appear once: {self:#?}");
        String::from_utf8_lossy(all[0]).into_owned()
    }

    pub fn has(&self, name: &str) -> bool {
        !self.all(name).is_empty()
    }

    /// The invariants of a verified forward: the same path, the same bytes with hookwall's
    /// own length and no other framing, the same signature, hookwall's mark, HTTP/1.1.
    pub fn assert_is_verified_copy(&self, target: &str, body: &[u8], signature: &str) {
        assert_eq!(self.method, "POST", "{self:#?}");
        assert_eq!(self.target, target, "{self:#?}");
        assert_eq!(self.version, 1, "{self:#?}");
        assert_eq!(
            self.body,
            body,
            "body altered: {:?}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.one("content-length"), body.len().to_string());
        assert!(!self.has("transfer-encoding"), "{self:#?}");
        assert!(!self.has("trailer"), "{self:#?}");
        assert_eq!(self.one("x-hub-signature-256"), signature);
        assert_eq!(self.one("x-hookwall-verified"), "github");
        assert_eq!(self.one("x-forwarded-for"), "127.0.0.1");
    }
}

#[derive(Default)]
struct Log {
    requests: Vec<Seen>,
    connections: usize,
    /// Connections that have ended.
    ended: usize,
    anomalies: Vec<String>,
}

/// The upstream's log, and a notification on every change to it.
#[derive(Default)]
struct Shared {
    log: Mutex<Log>,
    changed: Notify,
    /// Requests for this target are held after their head.
    hold: Option<(String, Arc<Hold>)>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Log)) {
        f(&mut self.log.lock().unwrap());
        self.changed.notify_waiters();
    }
}

/// Holds a request after its head has arrived, before reading any of its body, until the
/// test releases it: a forward stays in flight for as long as the test needs.
#[derive(Default)]
pub struct Hold {
    /// Notified when a held head has arrived.
    pub head_seen: Notify,
    /// hookwall's end of the held connection (its local port).
    pub peer_port: Mutex<Option<u16>>,
    /// Notify to let the upstream read on.
    pub release: Notify,
}

/// A recording upstream on 127.0.0.1:0 that answers every request `200 upstream ok`.
pub struct Upstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// The upstream's answer to every request.
pub const UPSTREAM_ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Upstream: recorder\r\n\r\nupstream ok\n";

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Upstream::serve(listener, Shared::default())
    }

    /// An upstream that holds requests for `target` (see [`Hold`]). Its sockets have a
    /// small receive buffer, so a held forward of a large body blocks in hookwall's writes.
    pub async fn start_holding(target: &str) -> (Upstream, Arc<Hold>) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1024).unwrap();
        let hold = Arc::new(Hold::default());
        let shared = Shared {
            hold: Some((target.to_string(), Arc::clone(&hold))),
            ..Shared::default()
        };
        (Upstream::serve(listener, shared), hold)
    }

    fn serve(listener: TcpListener, shared: Shared) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(shared);
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                accepting.update(|log| log.connections += 1);
                let shared = Arc::clone(&accepting);
                tokio::spawn(async move {
                    record(stream, peer, &shared).await;
                    shared.update(|log| log.ended += 1);
                });
            }
        });
        Upstream { addr, shared, task }
    }

    /// Requests received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.log.lock().unwrap().requests.clone()
    }

    pub fn hits(&self) -> usize {
        self.shared.log.lock().unwrap().requests.len()
    }

    /// TCP connections accepted (hookwall connects only after a verification succeeds).
    pub fn connections(&self) -> usize {
        self.shared.log.lock().unwrap().connections
    }

    pub fn anomalies(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().anomalies.clone()
    }

    /// Waits until `done` holds for (requests, anomalies, ended connections), or `deadline`.
    /// Returns whether it held.
    pub async fn wait_until(
        &self,
        deadline: Instant,
        done: impl Fn(usize, usize, usize) -> bool,
    ) -> bool {
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let log = self.shared.log.lock().unwrap();
                if done(log.requests.len(), log.anomalies.len(), log.ended) {
                    return true;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, changed).await.is_err() {
                return false;
            }
        }
    }

    /// Requests carrying `X-Case: marker`.
    pub fn for_case(&self, marker: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.all("x-case").contains(&marker.as_bytes()))
            .collect()
    }

    /// Nothing ever reached the upstream: no request, no connection, no stray bytes.
    pub fn assert_untouched(&self, what: &str) {
        let log = self.shared.log.lock().unwrap();
        assert!(
            log.requests.is_empty() && log.connections == 0 && log.anomalies.is_empty(),
            "{what}: the upstream was reached: {} requests over {} connections, anomalies {:?}: {:#?}",
            log.requests.len(),
            log.connections,
            log.anomalies,
            log.requests
        );
    }

    /// Nothing but well-framed requests ever arrived.
    pub fn assert_no_anomalies(&self) {
        let log = self.shared.log.lock().unwrap();
        assert!(log.anomalies.is_empty(), "{:?}", log.anomalies);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads requests off one upstream connection and records each one.
async fn record(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let mut buf: Vec<u8> = Vec::new();
    let anomaly = |what: String| shared.update(|log| log.anomalies.push(what));
    loop {
        // The head.
        let (head_len, mut seen, length) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 256];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let headers: Vec<(String, Vec<u8>)> = req
                        .headers
                        .iter()
                        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                        .collect();
                    let seen = Seen {
                        method: req.method.unwrap_or_default().to_owned(),
                        target: req.path.unwrap_or_default().to_owned(),
                        version: req.version.unwrap_or(9),
                        headers,
                        body: Vec::new(),
                    };
                    if seen.has("transfer-encoding") {
                        anomaly(format!("transfer-encoding reached the upstream: {seen:?}"));
                        return;
                    }
                    let lengths = seen.all("content-length");
                    let length = match lengths.as_slice() {
                        [one] => std::str::from_utf8(one).ok().and_then(|s| s.parse().ok()),
                        _ => None,
                    };
                    let Some(length) = length else {
                        anomaly(format!("no single valid content-length: {seen:?}"));
                        return;
                    };
                    break (n, seen, length);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => {
                    anomaly(format!(
                        "unparseable bytes at the upstream ({e}): {:?}",
                        String::from_utf8_lossy(&buf)
                    ));
                    return;
                }
            }
            if buf.len() > 1 << 20 {
                anomaly("a head over 1 MiB".into());
                return;
            }
            let mut chunk = [0u8; 16384];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    if !buf.is_empty() {
                        anomaly(format!("partial head: {:?}", String::from_utf8_lossy(&buf)));
                    }
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..head_len);
        if let Some((target, hold)) = &shared.hold {
            if seen.target == *target {
                *hold.peer_port.lock().unwrap() = Some(peer.port());
                hold.head_seen.notify_one();
                hold.release.notified().await;
            }
        }
        // The body.
        while buf.len() < length {
            let mut chunk = vec![0u8; (length - buf.len()).min(1 << 16)];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    anomaly(format!(
                        "partial body ({} of {length} bytes): {seen:?}",
                        buf.len()
                    ));
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        seen.body = buf.drain(..length).collect();
        shared.update(|log| log.requests.push(seen));
        if stream.write_all(UPSTREAM_ANSWER).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// hookwall in-process

/// hookwall on 127.0.0.1:0, in this process (so its memory is this process's memory).
pub struct Hookwall {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Hookwall {
    pub async fn start(config_text: &str) -> Hookwall {
        let config = hookwall::config::parse(config_text, Path::new("adversarial.toml"), &env)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
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
            task,
        }
    }
}

impl Drop for Hookwall {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1 clients

/// One response read off a raw connection.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the response says the connection closes after it.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// What came back on a connection.
#[derive(Debug)]
pub struct Exchange {
    pub responses: Vec<Response>,
    /// Everything read.
    pub raw: Vec<u8>,
    /// Bytes after the last complete response (a response cut short, or garbage).
    pub rest: Vec<u8>,
    /// The server closed (or reset) the connection before [`BOUND`] ran out.
    pub closed: bool,
    /// From the first byte written until the connection closed (or [`BOUND`]).
    pub elapsed: Duration,
}

impl Exchange {
    pub fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }

    /// No interim (1xx) responses.
    pub fn final_statuses(&self) -> Vec<u16> {
        self.statuses().into_iter().filter(|s| *s >= 200).collect()
    }

    /// The status of the first status line read, even for a response without its body (an
    /// answer to HEAD).
    pub fn first_status(&self) -> Option<u16> {
        let text = String::from_utf8_lossy(&self.raw);
        let line = text.lines().next()?;
        let mut words = line.split(' ');
        (words.next()? == "HTTP/1.1")
            .then(|| words.next()?.parse().ok())
            .flatten()
    }
}

/// Writes `request` on a fresh connection (ignoring write errors: the server may close
/// first), then reads until the server closes the connection or [`BOUND`] passes.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Exchange {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    finish(&mut stream, start).await
}

/// Reads until the server closes the connection or [`BOUND`] (counted from `start`) passes.
pub async fn finish<R: AsyncRead + Unpin>(stream: &mut R, start: Instant) -> Exchange {
    let (raw, closed) = read_until_close(stream, start + BOUND).await;
    let elapsed = start.elapsed();
    let (responses, rest) = parse_responses(&raw);
    Exchange {
        responses,
        raw,
        rest,
        closed,
        elapsed,
    }
}

/// Reads until EOF, a reset, or `deadline`. Returns the bytes and whether the connection
/// ended before the deadline.
pub async fn read_until_close<R: AsyncRead + Unpin>(
    stream: &mut R,
    deadline: Instant,
) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Err(_) => return (out, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads one response (interim ones included) from `stream`, keeping what follows in `buf`.
/// `None` if the connection ends or `deadline` passes first.
pub async fn read_response<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Option<Response> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((res, used)) = parse_one(buf) {
            buf.drain(..used);
            return Some(res);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Every complete response in `raw`, and what follows the last one.
pub fn parse_responses(raw: &[u8]) -> (Vec<Response>, Vec<u8>) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((res, used)) = parse_one(&raw[at..]) {
        out.push(res);
        at += used;
    }
    (out, raw[at..].to_vec())
}

/// One complete response at the start of `raw`, and its length. Bodies by `Content-Length`
/// or chunked; 1xx, 204 and 304 have none.
fn parse_one(raw: &[u8]) -> Option<(Response, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = res.parse(raw).ok()? else {
        return None;
    };
    let status = res.code?;
    let headers: Vec<(String, String)> = res
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let rest = &raw[head..];
    let (body, used) = if status < 200 || status == 204 || status == 304 {
        (Vec::new(), 0)
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)?
    } else {
        let len: usize = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if rest.len() < len {
            return None;
        }
        (rest[..len].to_vec(), len)
    };
    Some((
        Response {
            status,
            headers,
            body,
        },
        head + used,
    ))
}

/// A chunked body at the start of `raw` (no trailers expected), and its length.
fn dechunk(raw: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = raw[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let size_text = std::str::from_utf8(&raw[at..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            if raw.len() < at + 2 {
                return None;
            }
            return Some((body, at + 2));
        }
        if raw.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&raw[at..at + size]);
        at += size + 2;
    }
}

/// A prior-knowledge HTTP/2 connection through hyper's client.
pub async fn h2_client(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

/// Sends one HTTP/2 request for `target` on `hookwall.test`; returns the status and body.
pub async fn h2_send(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Bytes) {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://hookwall.test{target}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
    let res = tokio::time::timeout(BOUND, sender.send_request(req))
        .await
        .expect("an HTTP/2 answer within the bound")
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

/// The state of the IPv4 TCP socket from `local_port` to `remote_port`, as
/// `/proc/net/tcp` gives it (1 established, 4 FIN-WAIT-1, ...); `None` once it is gone.
pub fn tcp_state(local_port: u16, remote_port: u16) -> Option<u8> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = |field: &str| {
        field
            .rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 3
            && port(fields[1]) == Some(local_port)
            && port(fields[2]) == Some(remote_port))
        .then(|| u8::from_str_radix(fields[3], 16).ok())
        .flatten()
    })
}

/// The test process's resident set and its peak, in bytes (`/proc/self/status`).
pub fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ---------------------------------------------------------------------------------------------
// Hand-written HTTP/2

pub mod h2 {
    use std::time::Instant;

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;

    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;

    pub const CANCEL: u32 = 0x8;

    /// One frame: 9-byte header, then the payload.
    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        assert!(len < 1 << 24);
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// The client preface, an empty SETTINGS, and an ACK of the server's SETTINGS.
    pub fn client_start() -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        out.extend(frame(SETTINGS, 0, 0, &[]));
        out.extend(frame(SETTINGS, ACK, 0, &[]));
        out
    }

    pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
        frame(RST_STREAM, 0, stream, &code.to_be_bytes())
    }

    /// An HPACK integer with an `n`-bit prefix (RFC 7541 section 5.1).
    fn integer(out: &mut Vec<u8>, n: u32, flags: u8, mut v: usize) {
        let max = (1usize << n) - 1;
        if v < max {
            out.push(flags | v as u8);
            return;
        }
        out.push(flags | max as u8);
        v -= max;
        while v >= 128 {
            out.push((v % 128 + 128) as u8);
            v /= 128;
        }
        out.push(v as u8);
    }

    /// Header fields as HPACK literals without indexing, names and values as plain strings:
    /// nothing in the dynamic table, so any slice of it decodes the same.
    pub fn hpack(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            out.push(0x00);
            integer(&mut out, 7, 0, name.len());
            out.extend_from_slice(name.as_bytes());
            integer(&mut out, 7, 0, value.len());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// A request header block: `method path` on `hookwall.test`, plus `extra`.
    pub fn request_block(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut fields = vec![
            (":method", method),
            (":scheme", "http"),
            (":authority", "hookwall.test"),
            (":path", path),
        ];
        fields.extend_from_slice(extra);
        hpack(&fields)
    }

    /// A frame read back from the server.
    #[derive(Debug)]
    pub struct Frame {
        pub kind: u8,
        pub flags: u8,
        pub stream: u32,
        pub payload: Vec<u8>,
    }

    impl Frame {
        /// A GOAWAY's error code.
        pub fn goaway_code(&self) -> Option<u32> {
            (self.kind == GOAWAY && self.payload.len() >= 8).then(|| {
                u32::from_be_bytes([
                    self.payload[4],
                    self.payload[5],
                    self.payload[6],
                    self.payload[7],
                ])
            })
        }
    }

    /// How reading frames ended.
    #[derive(Debug, PartialEq, Eq)]
    pub enum End {
        /// The server closed or reset the connection.
        Closed,
        /// The deadline passed with the connection open.
        TimedOut,
    }

    /// Reads one frame; `Err` says how reading ended instead.
    pub async fn read_frame<R: AsyncRead + Unpin>(
        stream: &mut R,
        deadline: Instant,
    ) -> Result<Frame, End> {
        let mut head = [0u8; 9];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read_exact(&mut head)).await {
            Err(_) => return Err(End::TimedOut),
            Ok(Err(_)) => return Err(End::Closed),
            Ok(Ok(_)) => {}
        }
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read_exact(&mut payload)).await {
            Err(_) => return Err(End::TimedOut),
            Ok(Err(_)) => return Err(End::Closed),
            Ok(Ok(_)) => {}
        }
        Ok(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        })
    }

    /// Reads frames until `stop` says so (returns `None` as the end), the connection ends,
    /// or `deadline` passes.
    pub async fn read_frames<R: AsyncRead + Unpin>(
        stream: &mut R,
        deadline: Instant,
        mut stop: impl FnMut(&Frame) -> bool,
    ) -> (Vec<Frame>, Option<End>) {
        let mut frames = Vec::new();
        loop {
            let frame = match read_frame(stream, deadline).await {
                Ok(f) => f,
                Err(end) => return (frames, Some(end)),
            };
            let done = stop(&frame);
            frames.push(frame);
            if done {
                return (frames, None);
            }
        }
    }

    /// Flow-control windows (RFC 9113 section 6.9) for one stream and the connection.
    pub struct Windows {
        pub connection: i64,
        pub stream: i64,
    }

    impl Windows {
        /// Applies a frame from the server: WINDOW_UPDATE, or SETTINGS_INITIAL_WINDOW_SIZE
        /// (taken as the stream's window: call this before the stream has sent anything).
        pub fn apply(&mut self, f: &Frame, stream: u32) {
            if f.kind == WINDOW_UPDATE && f.payload.len() == 4 {
                let inc = i64::from(
                    u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]])
                        & 0x7fff_ffff,
                );
                if f.stream == 0 {
                    self.connection += inc;
                } else if f.stream == stream {
                    self.stream += inc;
                }
            }
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                for entry in f.payload.chunks_exact(6) {
                    if entry[..2] == [0, 4] {
                        self.stream =
                            i64::from(u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]));
                    }
                }
            }
        }
    }

    /// Opens a connection: the client preface, then the server's SETTINGS read, which gives
    /// the initial stream window.
    pub async fn open<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        r: &mut R,
        w: &mut W,
        deadline: Instant,
    ) -> Windows {
        w.write_all(&client_start()).await.unwrap();
        let mut windows = Windows {
            connection: 65_535,
            stream: 65_535,
        };
        loop {
            let f = read_frame(r, deadline)
                .await
                .expect("the server's SETTINGS");
            windows.apply(&f, 1);
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                return windows;
            }
        }
    }

    /// Sends `body` as DATA on `stream`, END_STREAM on the last frame, within the windows the
    /// server grants, reading its frames whenever a window is spent.
    pub async fn send_body<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        r: &mut R,
        w: &mut W,
        stream: u32,
        mut windows: Windows,
        body: &[u8],
        deadline: Instant,
    ) {
        let mut rest = body;
        while !rest.is_empty() {
            let room = windows.connection.min(windows.stream).min(16_384);
            if room <= 0 {
                let f = read_frame(r, deadline).await.expect("a WINDOW_UPDATE");
                windows.apply(&f, stream);
                continue;
            }
            let n = rest.len().min(room as usize);
            let last = n == rest.len();
            let flags = if last { END_STREAM } else { 0 };
            w.write_all(&frame(DATA, flags, stream, &rest[..n]))
                .await
                .unwrap();
            windows.connection -= n as i64;
            windows.stream -= n as i64;
            rest = &rest[n..];
        }
    }
}
