//! Child processes a test starts (the hookwall binary, a shell, gunicorn with the example
//! Flask app): their stderr collected line by line, signals, bounded waits for their exit and
//! for their unix sockets, and a stop on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UnixStream;

use crate::wait::eventually;

/// A child process we started, stopped on drop: SIGTERM, then SIGKILL if it lingers.
pub struct Process {
    pub child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The thread collecting stderr: joined once the process has exited, so its last lines
    /// are in.
    reader: Option<std::thread::JoinHandle<()>>,
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
        let pipe = child.stderr.take().expect("a piped stderr");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lines.lock().expect("the stderr log").push(line);
            }
        });
        Process {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`HUP`, `TERM`, …) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// The stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().expect("the stderr log").clone()
    }

    /// Its exit status if it has exited, without waiting; its stderr is then complete
    /// (unless a child of its own still holds the pipe).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().expect("the child's status")?;
        if let Some(reader) = self.reader.take() {
            // The pipe closes with the process; a grandchild holding it could keep it open,
            // so the wait is bounded.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while !reader.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        Some(status)
    }

    /// Waits (bounded) for the process to exit.
    pub async fn wait(&mut self, secs: f64) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        loop {
            if let Some(status) = self.exited() {
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

    /// Waits (bounded) for a stderr line holding `needle`, and returns the first such line.
    pub async fn wait_for_line(&self, secs: f64, needle: &str) -> String {
        let find = || self.stderr().into_iter().find(|l| l.contains(needle));
        eventually(secs, &format!("a {needle:?} line on stderr"), || {
            find().is_some()
        })
        .await;
        find().expect("the line just seen")
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

/// `sh -c script`, stopped on drop like any [`Process`]. For what must happen within
/// microseconds of an event, with no process to start in between (`kill` is a builtin).
pub fn shell(script: &str) -> Process {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    Process::spawn(cmd)
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

/// The repository's root folder (the kit lives at `tests/kit`).
pub fn repo_root() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent()
        .and_then(Path::parent)
        .expect("the kit two levels below the root")
        .to_owned()
}

/// The project's Python: `HOOKWALL_TEST_PYTHON`, else `<repo>/.venv/bin/python`.
pub fn python() -> PathBuf {
    std::env::var_os("HOOKWALL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

/// gunicorn serving `examples/flask_app.py` (`flask_app:app`) on the unix socket `socket`,
/// one sync worker, once the socket accepts connections; stopped on drop.
pub async fn start_gunicorn(socket: &Path) -> Process {
    let gunicorn = python().with_file_name("gunicorn");
    assert!(
        gunicorn.exists(),
        "{} not found: run `bash .ci/run` once, or `.venv/bin/pip install -r examples/requirements.txt` \
         (gunicorn is listed there), or set HOOKWALL_TEST_PYTHON to the python of a venv that has it",
        gunicorn.display()
    );
    let mut cmd = Command::new(&gunicorn);
    cmd.arg("--chdir")
        .arg(repo_root().join("examples"))
        .arg("--bind")
        .arg(format!("unix:{}", socket.display()))
        .args(["--workers", "1", "--log-level", "warning", "flask_app:app"]);
    let process = Process::spawn(cmd);
    wait_for_socket(socket, 20.0, "gunicorn").await;
    process
}
