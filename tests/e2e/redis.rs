//! Replay protection shared through a real Redis (the Debian `redis-server` that `.ci/run`
//! installs), started by each test on a free loopback port with persistence off: replicas let
//! a delivery through once, whichever receives the copy; a Redis outage fails closed with 503
//! and heals by itself.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{github_config, on_path, post_signed, start, Hookwall, Reply, Upstream};

/// A redis-server child process; killed on drop.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// `redis-server` on `PATH`.
    fn binary() -> std::path::PathBuf {
        on_path("redis-server").unwrap_or_else(|| {
            panic!("redis-server not found: run `bash .ci/run` (it installs Debian's redis-server)")
        })
    }

    /// A Redis of its own on a free loopback port, answering PING.
    async fn start() -> Redis {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut r = Redis { port, child: None };
        r.spawn().await;
        r
    }

    /// Starts (or restarts) the server on its port and waits until it answers.
    async fn spawn(&mut self) {
        let child = Command::new(Self::binary())
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not come up on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server, if it runs.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Where hookwall finds it.
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a Redis answers PING on `port`.
async fn ping(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), s.read_exact(&mut buf)).await,
        Ok(Ok(_)) if &buf == b"+PONG\r\n"
    )
}

/// The GitHub route in front of `upstream`, its replay store in `redis`.
fn config(upstream: SocketAddr, redis: &Redis) -> String {
    format!(
        "[replay]\nstore = \"{}\"\n{}",
        redis.url(),
        github_config(upstream)
    )
}

/// POSTs `body`, signed, as the GitHub delivery `id`.
async fn deliver(hookwall: &Hookwall, body: &[u8], id: &str) -> Reply {
    post_signed(hookwall, body, &[("x-github-delivery", id)]).await
}

#[tokio::test]
async fn two_replicas_sharing_redis_let_a_delivery_through_once() {
    let redis = Redis::start().await;
    let upstream = Upstream::start().await;
    let a = start(&config(upstream.addr, &redis)).await;
    let b = start(&config(upstream.addr, &redis)).await;
    let body = br#"{"action":"created","n":1}"#;
    let first = deliver(&a, body, "d-1").await;
    assert_eq!(first.status(), 200);
    assert!(first.headers.get("x-hookwall-duplicate").is_none());
    let copy = deliver(&b, body, "d-1").await;
    assert_eq!(copy.status(), 200);
    assert_eq!(copy.headers["x-hookwall-duplicate"], "true");
    let again = deliver(&a, body, "d-1").await;
    assert_eq!(again.headers["x-hookwall-duplicate"], "true");
    assert_eq!(upstream.hits(), 1);
    // Another delivery is its own.
    assert_eq!(
        deliver(&b, br#"{"action":"created","n":2}"#, "d-2")
            .await
            .status(),
        200
    );
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn redis_down_fails_closed_with_503_and_service_returns_with_it() {
    let mut redis = Redis::start().await;
    let upstream = Upstream::start().await;
    let hookwall = start(&config(upstream.addr, &redis)).await;
    let body = br#"{"action":"created","n":3}"#;
    assert_eq!(deliver(&hookwall, body, "d-3").await.status(), 200);

    redis.stop();
    let other = br#"{"action":"created","n":4}"#;
    let res = deliver(&hookwall, other, "d-4").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers["retry-after"], "5");
    // Unsigned requests are refused as ever, without asking the store.
    let unsigned = hookwall.post("/webhooks/github", other, &[]).await;
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        upstream.hits(),
        1,
        "nothing reaches the upstream while the store is down"
    );

    redis.spawn().await;
    // The connection manager reconnects by itself; allow it a few tries.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let s = deliver(&hookwall, other, "d-4").await.status();
        if s != 503 || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        status, 200,
        "service returns with Redis, without restarting hookwall"
    );
    assert_eq!(upstream.hits(), 2);
}
