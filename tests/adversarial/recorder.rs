//! The adversarial tests' upstream: it parses what arrives on the wire itself (with
//! `httparse`, not hyper), so it records every request it is sent, counts connections, and
//! notes anything that is not a well-framed request (a partial head, a partial body, a
//! `Transfer-Encoding`) as an anomaly instead of silently refusing it. The kit's upstream
//! (hyper) cannot see any of that.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use hookwall_testkit::wait::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

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

    /// Whether `name` arrived at all.
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

/// What the upstream has seen so far.
#[derive(Default)]
struct Log {
    requests: Vec<Seen>,
    connections: usize,
    /// Connections that have ended.
    ended: usize,
    anomalies: Vec<String>,
}

/// The upstream's log, and the request it holds.
#[derive(Default)]
struct Shared {
    log: Mutex<Log>,
    /// Requests for this target are held after their head.
    hold: Option<(String, Arc<Hold>)>,
}

impl Shared {
    /// The log, locked.
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("the upstream's log")
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

/// A recording upstream on 127.0.0.1:0 that answers every request [`UPSTREAM_ANSWER`].
pub struct Upstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// The upstream's answer to every request.
pub const UPSTREAM_ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Upstream: recorder\r\n\r\nupstream ok\n";

impl Upstream {
    /// An upstream that records every request.
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        Upstream::serve(listener, Shared::default())
    }

    /// An upstream that holds requests for `target` (see [`Hold`]). Its sockets have a
    /// small receive buffer, so a held forward of a large body blocks in hookwall's writes.
    pub async fn start_holding(target: &str) -> (Upstream, Arc<Hold>) {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket
            .set_recv_buffer_size(16 * 1024)
            .expect("a receive buffer size");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("a free port");
        let listener = socket.listen(1024).expect("a listening socket");
        let hold = Arc::new(Hold::default());
        let shared = Shared {
            hold: Some((target.to_string(), Arc::clone(&hold))),
            ..Shared::default()
        };
        (Upstream::serve(listener, shared), hold)
    }

    /// Accepts connections on `listener` and records each one.
    fn serve(listener: TcpListener, shared: Shared) -> Upstream {
        let addr = listener.local_addr().expect("a bound listener");
        let shared = Arc::new(shared);
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                accepting.log().connections += 1;
                let shared = Arc::clone(&accepting);
                tokio::spawn(async move {
                    record(stream, peer, &shared).await;
                    shared.log().ended += 1;
                });
            }
        });
        Upstream { addr, shared, task }
    }

    /// Requests received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.log().requests.clone()
    }

    /// How many requests were received.
    pub fn hits(&self) -> usize {
        self.shared.log().requests.len()
    }

    /// Everything that arrived and was not a well-framed request.
    pub fn anomalies(&self) -> Vec<String> {
        self.shared.log().anomalies.clone()
    }

    /// Waits until `done` holds for (requests, anomalies, ended connections); panics naming
    /// `what` if it does not within `secs` seconds.
    pub async fn wait_until(
        &self,
        secs: f64,
        what: &str,
        done: impl Fn(usize, usize, usize) -> bool,
    ) {
        eventually(secs, what, || {
            let log = self.shared.log();
            done(log.requests.len(), log.anomalies.len(), log.ended)
        })
        .await;
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
        let log = self.shared.log();
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
        let log = self.shared.log();
        assert!(log.anomalies.is_empty(), "{:?}", log.anomalies);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads requests off one upstream connection and records each one; stops at the first
/// anomaly, which it records.
async fn record(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let mut buf: Vec<u8> = Vec::new();
    let anomaly = |what: String| shared.log().anomalies.push(what);
    loop {
        let (head_len, mut seen, length) = match read_head(&mut stream, &mut buf).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(what) => return anomaly(what),
        };
        buf.drain(..head_len);
        if let Some((target, hold)) = &shared.hold {
            if seen.target == *target {
                *hold.peer_port.lock().expect("the held port") = Some(peer.port());
                hold.head_seen.notify_one();
                hold.release.notified().await;
            }
        }
        // The body.
        while buf.len() < length {
            let mut chunk = vec![0u8; (length - buf.len()).min(1 << 16)];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    return anomaly(format!(
                        "partial body ({} of {length} bytes): {seen:?}",
                        buf.len()
                    ));
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        seen.body = buf.drain(..length).collect();
        shared.log().requests.push(seen);
        if stream.write_all(UPSTREAM_ANSWER).await.is_err() {
            return;
        }
    }
}

/// Reads (into `buf`) and parses the next request head on `stream`: its length, the request
/// so far, and its one `Content-Length`. `Ok(None)` when the connection ends cleanly between
/// requests; `Err` names an anomaly.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<Option<(usize, Seen, usize)>, String> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 256];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let seen = Seen {
                    method: req.method.unwrap_or_default().to_owned(),
                    target: req.path.unwrap_or_default().to_owned(),
                    version: req.version.unwrap_or(9),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                        .collect(),
                    body: Vec::new(),
                };
                if seen.has("transfer-encoding") {
                    return Err(format!("transfer-encoding reached the upstream: {seen:?}"));
                }
                let length = match seen.all("content-length").as_slice() {
                    [one] => std::str::from_utf8(one).ok().and_then(|s| s.parse().ok()),
                    _ => None,
                };
                let Some(length) = length else {
                    return Err(format!("no single valid content-length: {seen:?}"));
                };
                return Ok(Some((n, seen, length)));
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => {
                return Err(format!(
                    "unparseable bytes at the upstream ({e}): {:?}",
                    String::from_utf8_lossy(buf)
                ));
            }
        }
        if buf.len() > 1 << 20 {
            return Err("a head over 1 MiB".into());
        }
        let mut chunk = [0u8; 16384];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
            Ok(0) | Err(_) => {
                return Err(format!("partial head: {:?}", String::from_utf8_lossy(buf)));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
