//! What the fault tests share: the real binary on a unix-socket listener (so a restart finds
//! its address again, with no port to race for) in front of a recording app on TCP, a
//! GitHub route that spools into SQLite in the test's folder, and senders that survive the
//! process being killed under them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use hookwall_testkit::fs::TempDir;
use hookwall_testkit::process::{wait_for_socket, Process};
use hookwall_testkit::reference::github_signature;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

pub use hookwall_testkit::upstream::{Behaviour, Upstream};
pub use hookwall_testkit::wait::eventually;

pub const SECRET: &str = "faults-secret-6d0b2e91c4a7";
pub const PATH: &str = "/webhooks/github";

/// A test's folder: the config, the secret, the spool and the listener's socket.
pub struct Rig {
    /// Removed with the rig.
    _dir: TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
    /// `[spool] store`: SQLite in the rig's folder unless [`Rig::on_redis`] says otherwise.
    store: String,
}

impl Rig {
    /// A folder with the secret in it; no config written yet.
    pub fn new() -> Rig {
        let dir = TempDir::new();
        dir.write("github.secret", SECRET);
        let socket = dir.join("hookwall.sock");
        let config = dir.join("hookwall.toml");
        Rig {
            _dir: dir,
            socket,
            config,
            store: "sqlite:spool.db".into(),
        }
    }

    /// A rig whose spool is the Redis at `url` (replicas are rigs on the same URL).
    pub fn on_redis(url: &str) -> Rig {
        Rig {
            store: url.to_owned(),
            ..Rig::new()
        }
    }

    /// Writes the config: the route spools to `app`, with `route_extra` and `[spool]`'s
    /// `spool_extra` lines; `server_extra` lines go into `[server]`.
    pub fn write(&self, app: &str, route_extra: &str, spool_extra: &str, server_extra: &str) {
        let text = format!(
            "[server]\nlisten = \"unix:{socket}\"\nshutdown_timeout = \"5s\"\n{server_extra}\n\
             [spool]\nstore = \"{store}\"\n{spool_extra}\n\
             [[route]]\nname = \"github\"\npath = \"{PATH}\"\nupstream = \"{app}\"\n\
             provider = \"github\"\nsecret = {{ file = \"github.secret\" }}\n\
             delivery = \"spool\"\n{route_extra}\n",
            socket = self.socket.display(),
            store = self.store,
        );
        std::fs::write(&self.config, text).expect("write the config");
    }

    /// The binary on the config, once its socket accepts.
    pub async fn start(&self) -> Process {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookwall"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(["--log-level", "info"])
            .env_remove("RUST_LOG");
        let process = Process::spawn(cmd);
        wait_for_socket(&self.socket, 10.0, "hookwall").await;
        process
    }
}

/// `http://` and the app's address.
pub fn origin(app: &Upstream) -> String {
    format!("http://{}", app.addr)
}

/// Body number `n`: distinct, so what the app got can be counted per delivery.
pub fn body(n: usize) -> Vec<u8> {
    format!(
        "{{\"delivery\":{n},\"pad\":\"{}\"}}",
        "x".repeat(64 + n % 13)
    )
    .into_bytes()
}

/// POSTs a signed `body` over the unix socket; the status, or `None` when the connection
/// failed or closed before an answer (the process was killed).
pub async fn post(socket: &Path, body: &[u8]) -> Option<u16> {
    let stream = UnixStream::connect(socket).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = http::Request::post(PATH)
        .header("host", "hookwall")
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-hub-signature-256", github_signature(SECRET, body))
        .body(Full::new(Bytes::copy_from_slice(body)))
        .ok()?;
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        let res = sender.send_request(req).await.ok()?;
        let status = res.status().as_u16();
        res.into_body().collect().await.ok()?;
        Some(status)
    });
    answer.await.ok().flatten()
}

/// How many times the app received each body it received.
pub fn received(app: &Upstream) -> BTreeMap<Bytes, usize> {
    let mut counts = BTreeMap::new();
    for body in app.bodies() {
        *counts.entry(body).or_insert(0) += 1;
    }
    counts
}
