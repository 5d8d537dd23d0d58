//! What the adversarial tests add to the kit (`hookwall_testkit`): their secrets, routes and
//! config, the [`Rig`] (the kit's hookwall in front of the raw-wire [`Upstream`]), the
//! deliveries they send and the checks that one arrived, raw exchanges bounded by [`BOUND`],
//! and two readings of this process from `/proc` (a TCP socket's state, the resident memory).
//!
//! Tests share one process, and the memory test reads the process's RSS, so every [`Rig`]
//! holds a [`GATE`] read guard and the memory test takes it for writing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookwall_testkit::client::{raw_post, Reply};
use hookwall_testkit::harness::Hookwall;
use hookwall_testkit::reference::github_signature;
use hookwall_testkit::wait::within;
use hookwall_testkit::wire::{self, Exchange};
use http_body_util::Full;
use hyper::client::conn::http2::SendRequest;
use tokio::io::AsyncRead;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::recorder::{Hold, Seen, Upstream};

/// The route secrets, read by the test configs through [`env`].
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

/// The `Host` every test request names.
pub const HOST: &str = "hookwall.test";
/// The header that carries GitHub's signature.
pub const SIGNATURE: &str = "X-Hub-Signature-256";

/// A legitimate delivery body.
pub const BODY: &[u8] = br#"{"action":"opened","hook_id":4242,"zen":"Design for failure."}"#;

/// The longest any single exchange may wait for the server to close the connection. Every
/// timeout in the test config is far below it, so reaching it means hookwall hung.
pub const BOUND: Duration = Duration::from_secs(3);

/// The secrets the test configs name, by variable (never the process environment).
pub fn env(name: &str) -> Option<String> {
    match name {
        "ADV_SECRET" => Some(SECRET.into()),
        "ADV_OTHER_SECRET" => Some(OTHER_SECRET.into()),
        _ => None,
    }
}

/// The test config: short timeouts (`header_timeout` 300 ms, `body_timeout` as given), and
/// four GitHub routes on one upstream: [`GITHUB`], [`OTHER`] (another secret), [`SMALL`]
/// (`max_body` 64 bytes) and [`BIG`] (16 MiB).
pub fn config(upstream: SocketAddr, body_timeout: &str) -> String {
    let server = format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body = "64KiB"
header_timeout = "300ms"
body_timeout = "{body_timeout}"
upstream_timeout = "2s"
shutdown_timeout = "1s"
"#
    );
    let small_max_body = format!("max_body = {SMALL_MAX_BODY}\n");
    // Each route: its name, its path, the variable holding its secret, its own lines.
    let routes = [
        ("github", GITHUB, "ADV_SECRET", ""),
        ("other", OTHER, "ADV_OTHER_SECRET", ""),
        ("small", SMALL, "ADV_SECRET", small_max_body.as_str()),
        ("big", BIG, "ADV_SECRET", "max_body = \"16MiB\"\n"),
    ];
    let routes = routes.iter().map(|(name, path, secret, own)| {
        format!(
            "\n[[route]]\nname = \"{name}\"\npath = \"{path}\"\nupstream = \"http://{upstream}\"\n\
             provider = \"github\"\nsecret = {{ env = \"{secret}\" }}\n{own}"
        )
    });
    server + &routes.collect::<String>()
}

/// Serialises the memory test against every other test (see the module docs).
pub static GATE: RwLock<()> = RwLock::const_new(());

/// A held [`GATE`], released on drop.
enum Gate {
    Shared {
        _guard: RwLockReadGuard<'static, ()>,
    },
    Exclusive {
        _guard: RwLockWriteGuard<'static, ()>,
    },
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
        let gate = Gate::Shared {
            _guard: GATE.read().await,
        };
        Rig::with(gate, Upstream::start().await, "300ms").await
    }

    /// A rig that runs alone in the process (for measuring the process's memory).
    pub async fn exclusive(body_timeout: &str) -> Rig {
        let gate = Gate::Exclusive {
            _guard: GATE.write().await,
        };
        Rig::with(gate, Upstream::start().await, body_timeout).await
    }

    /// A rig whose upstream holds every request for `target` after its head (see [`Hold`]),
    /// with a 5 s body timeout for large bodies.
    pub async fn holding(target: &str) -> (Rig, Arc<Hold>) {
        let gate = Gate::Shared {
            _guard: GATE.read().await,
        };
        let (upstream, hold) = Upstream::start_holding(target).await;
        (Rig::with(gate, upstream, "5s").await, hold)
    }

    /// hookwall with the test [`config`] in front of `upstream`.
    async fn with(gate: Gate, upstream: Upstream, body_timeout: &str) -> Rig {
        let text = config(upstream.addr, body_timeout);
        let hookwall = Hookwall::from_text(&text, "adversarial.toml", &env).await;
        Rig {
            upstream,
            hookwall,
            _gate: gate,
        }
    }

    /// hookwall's address.
    pub fn addr(&self) -> SocketAddr {
        self.hookwall.addr()
    }

    /// The upstream has exactly one request marked `marker`: the GitHub route's verified
    /// copy of [`body`]`(marker)`. Returns it.
    pub fn assert_delivered_once(&self, marker: &str) -> Seen {
        let seen = self.upstream.for_case(marker);
        assert_eq!(seen.len(), 1, "{marker}: {seen:#?}");
        let seen = seen.into_iter().next().expect("one request");
        assert_delivery(&seen, &body(marker));
        seen
    }

    /// A signed POST of [`body`]`(marker)` to the GitHub route over a fresh connection must
    /// reach the upstream exactly once, byte for byte: the rig (and hookwall) still work.
    pub async fn assert_still_serving(&self, marker: &str) {
        let request = signed_request(
            GITHUB,
            &body(marker),
            &[("X-Case", marker), ("Connection", "close")],
        );
        let ex = exchange(self.addr(), &request).await;
        assert_eq!(ex.statuses(), [200], "{marker}: {ex:?}");
        self.assert_delivered_once(marker);
    }

    /// After the attack `what`: nothing reached the upstream, and then a delivery (marked
    /// `after <what>`) still does (see [`Rig::assert_still_serving`]).
    pub async fn assert_unharmed(&self, what: &str) {
        self.upstream.assert_untouched(what);
        self.assert_still_serving(&format!("after {what}")).await;
    }
}

/// `seen` is the GitHub route's verified copy of `body`, signed with [`SECRET`].
pub fn assert_delivery(seen: &Seen, body: &[u8]) {
    seen.assert_is_verified_copy(GITHUB, body, &github_signature(SECRET, body));
}

/// A delivery body unique to `marker`. Every request a test expects to be forwarded carries
/// its own body: hookwall may treat a second copy of the same signed delivery as a replay.
pub fn body(marker: &str) -> Vec<u8> {
    format!(r#"{{"action":"opened","case":"{marker}","zen":"Design for failure."}}"#).into_bytes()
}

/// A signed, well-framed request: `POST path` with `body`, `Host`, a `Content-Length`, the
/// signature and `headers`.
pub fn signed_request(path: &str, body: &[u8], headers: &[(&str, &str)]) -> Vec<u8> {
    let sig = github_signature(SECRET, body);
    let mut all = vec![(SIGNATURE, sig.as_str())];
    all.extend_from_slice(headers);
    raw_post(path, HOST, &all, body)
}

/// [`wire::exchange`] bounded by [`BOUND`]: `request` on a fresh connection, then every
/// response until the server closes it.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Exchange {
    wire::exchange(addr, request, BOUND).await
}

/// [`wire::finish`] bounded by [`BOUND`] from `start`.
pub async fn finish<R: AsyncRead + Unpin>(stream: &mut R, start: Instant) -> Exchange {
    wire::finish(stream, start, BOUND).await
}

/// Sends one HTTP/2 request for `target` on [`HOST`] over `sender`, answered within
/// [`BOUND`]; the answer's status (its body read whole).
pub async fn h2_send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> u16 {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{HOST}{target}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a valid request");
    let answer = sender.send_request(req);
    let res = within(BOUND.as_secs_f64(), "an HTTP/2 answer", answer)
        .await
        .expect("an HTTP/2 answer");
    Reply::read(res).await.status()
}

/// The state of the IPv4 TCP socket from `local_port` to `remote_port`, as
/// `/proc/net/tcp` gives it (1 established, 4 FIN-WAIT-1, ...); `None` once it is gone.
pub fn tcp_state(local_port: u16, remote_port: u16) -> Option<u8> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
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
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
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
