//! The `hookwall` binary as an operator uses it: `check` on the configs in `tests/fixtures/`,
//! `sign` against an independent HMAC implementation, and a running proxy whose log output
//! must never hold a secret, a signature or a body.

// clippy's allow-unwrap-in-tests covers `#[test]` functions only, not these helpers; in a
// test binary a failed unwrap is a failed test with its location, which is what we want.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};

const BIN: &str = env!("CARGO_BIN_EXE_hookwall");

/// Values the fixtures' secret variables hold in these tests.
const GITHUB_SECRET: &str = "fixture-github-secret-1a7f";
const CUSTOM_SECRET: &str = "fixture-custom-secret-9e2b";
/// What `tests/fixtures/valid-old.secret` holds, without its trailing newline.
const FILE_SECRET: &str = "fixture-old-file-secret-5d2a";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("tests").join("fixtures")
}

/// `hookwall` with the fixtures' secret variables set and the unset one removed.
fn hookwall() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("HOOKWALL_FIXTURE_GITHUB_SECRET", GITHUB_SECRET)
        .env("HOOKWALL_FIXTURE_CUSTOM_SECRET", CUSTOM_SECRET)
        .env_remove("HOOKWALL_FIXTURE_UNSET_SECRET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` with `input` on stdin and waits for it.
fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hookwall");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("wait for hookwall")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

fn hmac_sha256(key: &str, pieces: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    for p in pieces {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &str, pieces: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    for p in pieces {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha512(key: &str, pieces: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key.as_bytes()).unwrap();
    for p in pieces {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

// ---------------------------------------------------------------------------------------
// check

#[test]
fn check_accepts_the_valid_fixture_and_prints_sources_never_values() {
    let out = hookwall()
        .current_dir(root())
        .args(["check", "--config", "tests/fixtures/valid.toml"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stderr, "");
    assert!(
        stdout.starts_with(
            "tests/fixtures/valid.toml: ok: 3 routes, listen 127.0.0.1:8080, upstream timeout 9s, \
             header timeout 10s, body timeout 10s\n"
        ),
        "{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for heading in [
        "ROUTE", "MATCH", "METHODS", "PROVIDER", "UPSTREAM", "MAX BODY", "SECRETS",
    ] {
        assert!(lines[1].contains(heading), "{}", lines[1]);
    }
    // Each route's row: name, match, methods, provider, upstream, limit, secret sources.
    let row = |name: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"))
    };
    let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        words(row("github")),
        "github = /webhooks/github POST github http://127.0.0.1:5000 1MiB \
         env var HOOKWALL_FIXTURE_GITHUB_SECRET, file tests/fixtures/valid-old.secret"
    );
    assert_eq!(
        words(row("custom")),
        "custom = /webhooks/custom POST hmac http://127.0.0.1:5000 1MiB \
         env var HOOKWALL_FIXTURE_CUSTOM_SECRET"
    );
    assert_eq!(
        words(row("hooks")),
        "hooks ^ /hooks/ POST,PUT hmac http://127.0.0.1:5001 64KiB \
         env var HOOKWALL_FIXTURE_CUSTOM_SECRET"
    );
    for value in [GITHUB_SECRET, CUSTOM_SECRET, FILE_SECRET] {
        assert!(!stdout.contains(value), "secret value printed:\n{stdout}");
    }
}

#[test]
fn check_resolves_a_relative_secret_file_against_the_config_folder() {
    // Run from somewhere else entirely: `valid-old.secret` is still found beside the config.
    let out = hookwall()
        .current_dir(std::env::temp_dir())
        .arg("check")
        .arg("--config")
        .arg(fixtures().join("valid.toml"))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let file = fixtures().join("valid-old.secret");
    assert!(
        stdout.contains(&format!("file {}", file.display())),
        "{stdout}"
    );
}

#[test]
fn check_accepts_the_shipped_example_config() {
    let out = Command::new(BIN)
        .current_dir(root())
        .env("GITHUB_WEBHOOK_SECRET", "demo-github-secret-4f9a2c")
        .env("CUSTOM_WEBHOOK_SECRET", "demo-custom-secret-8b3e1d")
        .args(["check", "--config", "proxy.toml.example"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.starts_with("proxy.toml.example: ok: 2 routes, listen 127.0.0.1:8080"));
    assert!(stdout.contains("env var GITHUB_WEBHOOK_SECRET"), "{stdout}");
    assert!(stdout.contains("env var CUSTOM_WEBHOOK_SECRET"), "{stdout}");
    assert!(!stdout.contains("demo-github-secret-4f9a2c"), "{stdout}");
}

/// Runs `check` on a broken fixture from the fixtures folder; returns stderr.
fn check_fails(fixture: &str) -> String {
    let out = hookwall()
        .current_dir(fixtures())
        .args(["check", "--config", fixture])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{fixture}: {stdout}{stderr}");
    assert_eq!(stdout, "", "{fixture}");
    assert!(
        stderr.ends_with(&format!("\n{fixture}: 1 problem\n")),
        "{fixture}: {stderr}"
    );
    stderr
}

#[test]
fn check_names_file_route_and_key_for_each_broken_fixture() {
    let cases = [
        (
            "bad-inline-secret.toml",
            "bad-inline-secret.toml:8:10: route 1 (github): secret: a secret is never written in \
             the config file",
        ),
        (
            "bad-unset-env.toml",
            "bad-unset-env.toml:8:10: route 1 (github): secret: env var \
             HOOKWALL_FIXTURE_UNSET_SECRET is not set",
        ),
        (
            "bad-duration.toml",
            "bad-duration.toml:12:13: route 1 (custom): tolerance: `5 minutes`: unknown unit",
        ),
        (
            "bad-size.toml",
            "bad-size.toml:9:12: route 1 (github): max_body: `1.5MiB`: unknown unit",
        ),
        (
            "bad-duplicate-path.toml",
            "bad-duplicate-path.toml:12:8: route 2 (github-again): path: `/webhooks/github` is \
             already used by route 1 (github)",
        ),
        (
            "bad-upstream.toml",
            "bad-upstream.toml:6:12: route 1 (github): upstream: `ftp://127.0.0.1:5000` is \
             not an http:// or https:// URL",
        ),
        (
            "bad-unknown-provider.toml",
            "bad-unknown-provider.toml:7:12: route 1 (github): provider: unknown provider \
             `gitlub`; known providers: ",
        ),
    ];
    for (fixture, expected) in cases {
        let stderr = check_fails(fixture);
        assert!(
            stderr.starts_with(expected),
            "{fixture}:\n  want: {expected}\n  got:  {stderr}"
        );
    }
    // The list of known providers grows with the presets; it always has these two.
    let stderr = check_fails("bad-unknown-provider.toml");
    let known = stderr.lines().next().unwrap().rsplit(": ").next().unwrap();
    let known: Vec<&str> = known.split(", ").collect();
    assert!(
        known.contains(&"github") && known.contains(&"hmac"),
        "{stderr}"
    );
}

#[test]
fn check_names_an_unknown_key_with_its_position_and_the_valid_keys() {
    // Stage one (the TOML parser) reports this one: file, line and column, the route it is
    // in, the key, and the keys a route may have.
    let stderr = check_fails("bad-unknown-key.toml");
    assert!(
        stderr.starts_with("bad-unknown-key.toml:9:1: route 1 (github): unknown field `tolerence`, expected one of "),
        "{stderr}"
    );
    assert!(stderr.contains("`tolerance`"), "{stderr}");
}

#[test]
fn check_never_echoes_an_inline_secret() {
    let stderr = check_fails("bad-inline-secret.toml");
    assert!(!stderr.contains("inline-fixture-value-0c4b"), "{stderr}");
}

#[test]
fn check_fails_on_a_missing_file_and_without_config() {
    let out = hookwall()
        .current_dir(fixtures())
        .args(["check", "--config", "no-such-file.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("no-such-file.toml: cannot read the config file: "),
        "{}",
        text(&out.stderr)
    );

    let out = hookwall().arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "hookwall: no config file: pass --config PATH\n"
    );
}

// ---------------------------------------------------------------------------------------
// sign

const SIGN_SECRET: &str = "cli-sign-test-secret-3e8d";

fn sign(args: &[&str], body: &[u8]) -> Output {
    let mut cmd = hookwall();
    cmd.env("HOOKWALL_TEST_SIGN_SECRET", SIGN_SECRET)
        .arg("sign")
        .args(args);
    run_with_stdin(cmd, body)
}

fn sign_ok(args: &[&str], body: &[u8]) -> String {
    let out = sign(args, body);
    assert_eq!(
        out.status.code(),
        Some(0),
        "sign {args:?}: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "");
    text(&out.stdout)
}

#[test]
fn sign_github_matches_an_independent_hmac_sha256() {
    let body = b"Hello, World!";
    let out = sign_ok(
        &[
            "--provider",
            "github",
            "--secret-env",
            "HOOKWALL_TEST_SIGN_SECRET",
        ],
        body,
    );
    let want = hex::encode(hmac_sha256(SIGN_SECRET, &[body]));
    assert_eq!(out, format!("X-Hub-Signature-256: sha256={want}\n"));
}

#[test]
fn sign_github_legacy_sha1_uses_the_legacy_header() {
    let body = b"Hello, World!";
    let out = sign_ok(
        &[
            "--provider",
            "github",
            "--secret-env",
            "HOOKWALL_TEST_SIGN_SECRET",
            "--algorithm",
            "sha1",
        ],
        body,
    );
    let want = hex::encode(hmac_sha1(SIGN_SECRET, &[body]));
    assert_eq!(out, format!("X-Hub-Signature: sha1={want}\n"));
}

#[test]
fn sign_signs_the_exact_bytes_of_stdin() {
    // Bytes a JSON round trip would change: spacing, key order, a trailing newline, non-UTF-8.
    let body = b"{ \"b\": 1,\n  \"a\": [2, 3] }\n\xff";
    let out = sign_ok(
        &[
            "--provider",
            "github",
            "--secret-env",
            "HOOKWALL_TEST_SIGN_SECRET",
        ],
        body,
    );
    let want = hex::encode(hmac_sha256(SIGN_SECRET, &[body]));
    assert_eq!(out, format!("X-Hub-Signature-256: sha256={want}\n"));
}

#[test]
fn sign_hmac_with_every_option_and_a_fixed_timestamp() {
    let body = br#"{"event":"invoice.paid","id":42}"#;
    let out = sign_ok(
        &[
            "--provider",
            "hmac",
            "--secret-env",
            "HOOKWALL_TEST_SIGN_SECRET",
            "--algorithm",
            "sha512",
            "--encoding",
            "base64",
            "--signature-header",
            "X-Sig",
            "--signature-prefix",
            "v1=",
            "--signed-payload",
            "{timestamp}.{body}",
            "--timestamp-header",
            "X-Sig-Timestamp",
            "--timestamp",
            "1700000000",
        ],
        body,
    );
    let tag = hmac_sha512(SIGN_SECRET, &[b"1700000000", b".", body]);
    let want = base64::engine::general_purpose::STANDARD.encode(tag);
    assert_eq!(
        out,
        format!("X-Sig: v1={want}\nX-Sig-Timestamp: 1700000000\n")
    );
}

#[test]
fn sign_hmac_defaults_to_hex_sha256_over_the_body_without_prefix() {
    let body = b"plain body";
    let out = sign_ok(
        &[
            "--provider",
            "hmac",
            "--secret-env",
            "HOOKWALL_TEST_SIGN_SECRET",
            "--signature-header",
            "X-Signature",
        ],
        body,
    );
    let want = hex::encode(hmac_sha256(SIGN_SECRET, &[body]));
    assert_eq!(out, format!("X-Signature: {want}\n"));
}

#[test]
fn sign_by_route_uses_the_configured_scheme_and_first_secret() {
    let body = br#"{"zen":"Design for failure."}"#;
    let config = fixtures().join("valid.toml");
    let config = config.to_str().unwrap();

    // github: a rotation list signs with its first secret.
    let out = sign_ok(&["--config", config, "--route", "github"], body);
    let want = hex::encode(hmac_sha256(GITHUB_SECRET, &[body]));
    assert_eq!(out, format!("X-Hub-Signature-256: sha256={want}\n"));

    // custom: "{timestamp}.{body}", sha256, hex, prefix "sha256=".
    let out = sign_ok(
        &[
            "--config",
            config,
            "--route",
            "custom",
            "--timestamp",
            "1700000123",
        ],
        body,
    );
    let want = hex::encode(hmac_sha256(CUSTOM_SECRET, &[b"1700000123.", body]));
    assert_eq!(
        out,
        format!("X-Signature: sha256={want}\nX-Timestamp: 1700000123\n")
    );

    // hooks: sha512, base64, no prefix, body only.
    let out = sign_ok(&["--config", config, "--route", "hooks"], body);
    let want =
        base64::engine::general_purpose::STANDARD.encode(hmac_sha512(CUSTOM_SECRET, &[body]));
    assert_eq!(out, format!("X-Hook-Signature: {want}\n"));
}

#[test]
fn sign_without_a_timestamp_uses_the_clock() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let config = fixtures().join("valid.toml");
    let out = sign_ok(
        &["--config", config.to_str().unwrap(), "--route", "custom"],
        b"x",
    );
    let after = before + 60;
    let ts: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("X-Timestamp: "))
        .expect("a timestamp header")
        .parse()
        .unwrap();
    assert!(
        (before..=after).contains(&ts),
        "{ts} not in {before}..={after}"
    );
}

#[test]
fn sign_refuses_what_check_refuses() {
    // An unset variable is named.
    let out = sign(
        &[
            "--provider",
            "github",
            "--secret-env",
            "HOOKWALL_FIXTURE_UNSET_SECRET",
        ],
        b"x",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "hookwall: secret: env var HOOKWALL_FIXTURE_UNSET_SECRET is not set (or is not valid \
         UTF-8)\n"
    );

    // The secret of GitHub's documentation example is on the well-known list: refused, and
    // not echoed.
    let mut cmd = hookwall();
    cmd.env("HOOKWALL_TEST_WEAK", "It's a Secret to Everybody")
        .args([
            "sign",
            "--provider",
            "github",
            "--secret-env",
            "HOOKWALL_TEST_WEAK",
        ]);
    let out = run_with_stdin(cmd, b"Hello, World!");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with(
            "hookwall: secret: env var HOOKWALL_TEST_WEAK holds a well-known default value"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("Secret to Everybody"), "{stderr}");
    assert_eq!(text(&out.stdout), "");

    // A scheme option that does not fit is named as the flag.
    let out = sign(
        &[
            "--provider",
            "hmac",
            "--secret-env",
            "HOOKWALL_TEST_SIGN_SECRET",
        ],
        b"x",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("hookwall: --signature-header: missing"),
        "{}",
        text(&out.stderr)
    );

    // An unknown route lists the ones there are.
    let config = fixtures().join("valid.toml");
    let out = sign(
        &["--config", config.to_str().unwrap(), "--route", "nope"],
        b"x",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "hookwall: no route named `nope`; routes: github, custom, hooks\n"
    );
}

// ---------------------------------------------------------------------------------------
// run: what reaches the log

/// A minimal upstream: answers each request `200 ok` and reports the body it received.
fn start_upstream() -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Some(body) = read_request(&mut stream) else {
                continue;
            };
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            if tx.send(body).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// Reads one request with a `Content-Length` body; returns the body.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(Some(0), |v| v.trim().parse().ok())?;
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf[head_end..head_end + length].to_vec())
}

/// Sends one HTTP/1.1 request and returns the response status.
fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response);
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

/// A free port on 127.0.0.1 (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `hookwall run`, killed if the test fails before it stops.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Running {
    /// Waits for a log line containing `needle`: `Err` with the log so far if the process
    /// ends first or `limit` passes.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        if self.log.iter().any(|l| l.contains(needle)) {
            return Ok(());
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.log.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(e) => {
                    return Err(format!(
                        "no log line with {needle:?} ({e:?}); log so far:\n{}",
                        self.log.join("\n")
                    ))
                }
            }
        }
    }

    /// Sends SIGTERM and collects the rest of the log until the process exits.
    fn stop(mut self) -> Vec<String> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "hookwall did not exit after SIGTERM; log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
        let status = self.child.wait().expect("wait for hookwall");
        assert!(status.success(), "hookwall exited with {status}");
        std::mem::take(&mut self.log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Only still running if the test failed part-way; `stop` has waited otherwise.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start_hookwall(config: &Path, format: &str, level: &str) -> Running {
    let mut child = Command::new(BIN)
        .args(["--config"])
        .arg(config)
        .args(["--log-format", format, "--log-level", level])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hookwall");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child,
        lines,
        log: Vec::new(),
    }
}

const LEAK_SECRET: &str = "log-leak-test-secret-61c0d9";
const LEAK_BODY: &[u8] = br#"{"action":"opened","canary":"body-canary-b7e2f4"}"#;

/// Runs a proxy with a known secret, sends a signed, a wrongly signed and an unsigned
/// request, stops it, and checks what the log holds and what it must never hold.
fn log_never_leaks(format: &str, level: &str) {
    let dir = std::env::temp_dir().join(format!(
        "hookwall-cli-{}-{format}-{level}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("github.secret"), format!("{LEAK_SECRET}\n")).unwrap();
    let (upstream_port, upstream_bodies) = start_upstream();
    let config = dir.join("proxy.toml");
    // The port is found free, released, then written into the config: another process can
    // take it in between, so a failed bind is retried with a new port.
    let mut attempts = 0;
    let (port, hw) = loop {
        attempts += 1;
        let port = free_port();
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_timeout = \"5s\"\n\n\
                 [[route]]\nname = \"github\"\npath = \"/webhooks/github\"\n\
                 upstream = \"http://127.0.0.1:{upstream_port}\"\nprovider = \"github\"\n\
                 secret = {{ file = \"github.secret\" }}\n"
            ),
        )
        .unwrap();
        let mut hw = start_hookwall(&config, format, level);
        match hw.wait_for("hookwall listening", Duration::from_secs(30)) {
            Ok(()) => break (port, hw),
            Err(e) if attempts < 3 && e.contains("cannot listen") => continue,
            Err(e) => panic!("{format}/{level}: {e}"),
        }
    };

    let good = hex::encode(hmac_sha256(LEAK_SECRET, &[LEAK_BODY]));
    let bad = hex::encode(hmac_sha256("some-other-secret-value", &[LEAK_BODY]));
    let good_header = format!("sha256={good}");
    let bad_header = format!("sha256={bad}");

    let statuses = [
        post(
            port,
            "/webhooks/github",
            &[
                ("X-Hub-Signature-256", &good_header),
                ("X-GitHub-Delivery", "delivery-0001"),
            ],
            LEAK_BODY,
        ),
        post(
            port,
            "/webhooks/github",
            &[("X-Hub-Signature-256", &bad_header)],
            LEAK_BODY,
        ),
        post(port, "/webhooks/github", &[], LEAK_BODY),
    ];
    assert_eq!(statuses, [200, 401, 401]);
    // Exactly the verified request reached the upstream, with the exact bytes.
    let received = upstream_bodies
        .recv_timeout(Duration::from_secs(5))
        .unwrap();
    assert_eq!(received, LEAK_BODY);
    assert!(upstream_bodies.try_recv().is_err());

    let log = hw.stop();
    let all = log.join("\n");
    let body_text = std::str::from_utf8(LEAK_BODY).unwrap();
    for (what, value) in [
        ("the secret", LEAK_SECRET),
        ("the valid signature", good.as_str()),
        ("the invalid signature", bad.as_str()),
        ("the body", body_text),
        ("part of the body", "body-canary-b7e2f4"),
    ] {
        assert!(
            !all.contains(value),
            "{format}/{level}: the log holds {what}:\n{all}"
        );
    }
    let forwarded = if format == "json" {
        r#""message":"forwarded""#
    } else {
        " forwarded route="
    };
    for wanted in [
        "hookwall listening",
        forwarded,
        "missing_signature",
        "signature_mismatch",
        "delivery-0001",
    ] {
        assert!(
            all.contains(wanted),
            "{format}/{level}: no {wanted:?} in the log:\n{all}"
        );
    }
    if format == "json" {
        for line in &log {
            assert!(
                line.starts_with('{') && line.ends_with('}'),
                "not a JSON line: {line}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_debug_log_never_holds_secret_signature_or_body() {
    log_never_leaks("json", "debug");
}

#[test]
fn text_debug_log_never_holds_secret_signature_or_body() {
    log_never_leaks("text", "debug");
}

#[test]
fn text_trace_log_never_holds_secret_signature_or_body() {
    log_never_leaks("text", "trace");
}
