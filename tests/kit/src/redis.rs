//! A `redis-server` of a test's own (Debian's, on `PATH`: `bash .ci/run` installs it) on a
//! free loopback port: without persistence, or with an append-only file fsynced at every
//! write in a temporary folder of its own, which a restart on the same port reads back.
//! Stopped as a crash would stop it (SIGKILL), and on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fs::TempDir;

/// A redis-server child process.
pub struct Redis {
    port: u16,
    /// Where the append-only file lives, when the server keeps one.
    dir: Option<TempDir>,
    child: Option<Child>,
}

impl Redis {
    /// A server that keeps nothing on disk.
    pub async fn start() -> Redis {
        Redis::launch(None).await
    }

    /// A server with `appendonly yes` and `appendfsync always`: what it acknowledged survives
    /// [`Redis::stop`] and is there again after [`Redis::restart`].
    pub async fn start_persistent() -> Redis {
        Redis::launch(Some(TempDir::new())).await
    }

    async fn launch(dir: Option<TempDir>) -> Redis {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("its address").port()
        };
        let mut redis = Redis {
            port,
            dir,
            child: None,
        };
        redis.spawn().await;
        redis
    }

    /// `redis-server` on `PATH`.
    fn binary() -> PathBuf {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!("redis-server not found: run `bash .ci/run` (it installs Debian's redis-server)")
            })
    }

    /// Starts the server on its port (and folder) and waits until it answers PING.
    async fn spawn(&mut self) {
        let mut cmd = Command::new(Redis::binary());
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""]);
        match &self.dir {
            Some(dir) => cmd
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir.path()),
            None => cmd.args(["--appendonly", "no"]),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(self.port).await {
            assert!(
                Instant::now() < deadline,
                "redis-server did not come up on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server (SIGKILL, as a crash), if it runs.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server if it runs, then starts it again on the same port and folder.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder of the append-only file, when the server keeps one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(TempDir::path)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a Redis answers PING on `port` within a second.
pub async fn ping(port: u16) -> bool {
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
