//! Config watching, on the real binary and without a signal: a secret rotated the way the
//! kubelet rotates a mounted Secret (a `..data` symlink swapped atomically) applies within
//! 3 s; a broken config written in place is refused, counted and the old one keeps serving;
//! files written without pause beside the config (a spool database, a log) do not put a
//! reload off; `[server] watch = false` leaves every change to SIGHUP.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

/// The config of these tests: unix sockets for both listeners (`hw.sock`, `admin.sock` in
/// `dir`), `server_extra` in `[server]`, and the GitHub route in front of `origin` with
/// `secret` (a TOML secret value).
fn config_text(dir: &TempDir, server_extra: &str, origin: &str, secret: &str) -> String {
    format!(
        "{}{server_extra}\n[admin]\nlisten = \"unix:{}\"\n{}",
        unix_server(&dir.join("hw.sock")),
        dir.join("admin.sock").display(),
        github_route("github", GITHUB, origin, secret, ""),
    )
}

/// The binary on `config`, once both its listeners accept.
async fn start_watched(dir: &TempDir, config: &Path) -> Process {
    let hookwall = start_binary(config, &dir.join("hw.sock"), &[]).await;
    wait_for_socket(&dir.join("admin.sock"), 10.0, "hookwall's admin listener").await;
    hookwall
}

/// A body no earlier request of the test carried (replay protection would take a repeat
/// for a duplicate).
fn body(n: u32) -> Vec<u8> {
    format!(r#"{{"delivery":{n}}}"#).into_bytes()
}

/// The statuses of one request signed with `old` and one with `new`; `n` numbers the bodies.
async fn statuses(socket: &Path, old: &str, new: &str, n: &mut u32) -> (u16, u16) {
    *n += 2;
    let with_old = post_signed_unix(socket, GITHUB, old, &body(*n))
        .await
        .status();
    let with_new = post_signed_unix(socket, GITHUB, new, &body(*n + 1))
        .await
        .status();
    (with_old, with_new)
}

/// `hookwall_config_reloads_total` from the binary's admin listener.
async fn reload_counts(dir: &TempDir) -> std::collections::BTreeMap<Labels, f64> {
    let metrics = request_unix(&dir.join("admin.sock"), "GET", "/metrics", b"", &[]).await;
    assert_eq!(metrics.status(), 200);
    reloads(&Scrape::parse(&metrics.text()))
}

/// Writes `secret` as `github` in the new timestamped folder `stamp` of `secrets`.
fn timestamped(secrets: &Path, stamp: &str, secret: &str) -> PathBuf {
    let folder = secrets.join(stamp);
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("github"), format!("{secret}\n")).unwrap();
    folder
}

/// The binary on a config with `a.secret` in front of a recording upstream, `server_extra` in
/// `[server]`; once its log says `started`, a request signed with the old secret passes and
/// one signed with the new does not.
struct Watched {
    _upstream: Upstream,
    dir: TempDir,
    config: PathBuf,
    hookwall: Process,
    socket: PathBuf,
    n: u32,
}

async fn watched(server_extra: &str, started: &str) -> Watched {
    let upstream = Upstream::start().await;
    let origin = http_origin(upstream.addr);
    let dir = secrets_dir();
    let config = write_config(&dir, &config_text(&dir, server_extra, &origin, FILE_A));
    let hookwall = start_watched(&dir, &config).await;
    hookwall.wait_for_line(10.0, started).await;
    let socket = dir.join("hw.sock");
    let mut n = 0;
    assert_eq!(
        statuses(&socket, SECRET_A, SECRET_B, &mut n).await,
        (200, 401)
    );
    Watched {
        _upstream: upstream,
        dir,
        config,
        hookwall,
        socket,
        n,
    }
}

/// Waits (3 s at most) until the new secret is in force and the old one is not; `after`
/// says what should have made it so.
async fn new_secret_in_force(socket: &Path, n: &mut u32, hookwall: &Process, after: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let now = statuses(socket, SECRET_A, SECRET_B, n).await;
        if now == (401, 200) {
            return;
        }
        // Before the reload, or (200, 200) when it fell between the two requests.
        assert!(matches!(now, (200, 401) | (200, 200)), "{now:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new secret is not in force 3 s after {after}:\n{}",
            hookwall.stderr().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_secret_rotated_by_a_kubelet_style_data_swap_applies_without_a_signal() {
    let upstream = Upstream::start().await;
    let origin = http_origin(upstream.addr);
    let dir = TempDir::new();
    // As the kubelet lays out a mounted Secret: the files in a timestamped folder, `..data`
    // pointing at it, and each key a link through `..data`.
    let secrets = dir.join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    timestamped(&secrets, "..2026_01", SECRET_A);
    symlink("..2026_01", secrets.join("..data")).unwrap();
    symlink("..data/github", secrets.join("github")).unwrap();
    let config = write_config(
        &dir,
        &config_text(&dir, "", &origin, r#"{ file = "secrets/github" }"#),
    );
    let hookwall = start_watched(&dir, &config).await;
    hookwall.wait_for_line(10.0, "watching the config").await;
    let socket = dir.join("hw.sock");
    let mut n = 0;
    assert_eq!(
        statuses(&socket, SECRET_A, SECRET_B, &mut n).await,
        (200, 401)
    );

    // The rotation, as the kubelet does it: a new timestamped folder, a new link, and the
    // link renamed over `..data` in one step.
    timestamped(&secrets, "..2026_02", SECRET_B);
    symlink("..2026_02", secrets.join("..data_tmp")).unwrap();
    std::fs::rename(secrets.join("..data_tmp"), secrets.join("..data")).unwrap();

    new_secret_in_force(&socket, &mut n, &hookwall, "the swap").await;

    // The watcher reloaded, and its log line says why and from where, never what.
    let line = hookwall.wait_for_line(1.0, "config reloaded").await;
    assert!(line.contains("..data"), "{line}");
    assert!(!line.contains("trigger=signal"), "{line}");
    assert!(line.contains("routes=1"), "{line}");
    assert!(line.contains("github: file"), "{line}");
    // Reading the files on reload is no change: no reload follows by itself.
    let reloaded = || {
        hookwall
            .stderr()
            .iter()
            .filter(|l| l.contains("config reloaded"))
            .count()
    };
    let before = reloaded();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(reloaded(), before, "{:#?}", hookwall.stderr());
    let log = hookwall.stderr().join("\n");
    assert!(
        !log.contains(SECRET_A) && !log.contains(SECRET_B),
        "a secret in the log:\n{log}"
    );
    let counts = reload_counts(&dir).await;
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert!(
        counts[&hookwall_testkit::metrics::labels(&[("result", "ok")])] >= 1.0,
        "{counts:?}"
    );
    // Only the verified requests went upstream: one before the swap, one after.
    assert!(upstream.hits() >= 2);
    assert!(upstream.seen().iter().all(|s| s.uri == GITHUB));
}

#[tokio::test]
async fn a_broken_config_written_in_place_is_counted_and_the_old_one_keeps_serving() {
    let Watched {
        dir,
        config,
        hookwall,
        socket,
        mut n,
        _upstream: _app,
        ..
    } = watched("", "watching the config").await;
    let good = std::fs::read_to_string(&config).unwrap();

    // Truncated mid-table, written over the file in place (no rename).
    std::fs::write(&config, format!("{good}\n[[route]\npath = ")).unwrap();
    let error = hookwall_testkit::metrics::labels(&[("result", "error")]);
    let mut counts = reload_counts(&dir).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while counts.get(&error).copied().unwrap_or(0.0) < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed reload counted 3 s after the write: {counts:?}\n{}",
            hookwall.stderr().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        counts = reload_counts(&dir).await;
    }
    assert_eq!(counts.len(), 1, "nothing applied: {counts:?}");
    let line = hookwall.wait_for_line(1.0, "config reload failed").await;
    assert!(line.contains("hookwall.toml"), "{line}");

    assert_eq!(
        statuses(&socket, SECRET_A, SECRET_B, &mut n).await,
        (200, 401)
    );
    assert!(hookwall
        .stderr()
        .iter()
        .all(|l| !l.contains("config reloaded")));
}

#[tokio::test]
async fn a_file_written_without_pause_beside_the_config_does_not_put_a_reload_off() {
    let Watched {
        dir,
        hookwall,
        socket,
        mut n,
        _upstream: _app,
        ..
    } = watched("", "watching the config").await;
    // Every 50 ms for 6 s, more often than the half-second debounce.
    let noise = dir.join("noise.log");
    let writer = std::thread::spawn(move || {
        for i in 0..120 {
            std::fs::write(&noise, format!("line {i}\n")).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    std::fs::write(dir.join("a.secret"), format!("{SECRET_B}\n")).unwrap();
    let after = "the write, while another file kept changing";
    new_secret_in_force(&socket, &mut n, &hookwall, after).await;
    assert!(
        !writer.is_finished(),
        "the reload came while the other file was still written"
    );
    writer.join().unwrap();
}

#[tokio::test]
async fn with_watch_off_a_changed_secret_waits_for_sighup() {
    let Watched {
        dir,
        hookwall,
        socket,
        mut n,
        _upstream: _app,
        ..
    } = watched("watch = false", "SIGHUP only").await;

    dir.write("a.secret", &format!("{SECRET_B}\n"));
    // Three times the debounce: a watcher would have reloaded by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        statuses(&socket, SECRET_A, SECRET_B, &mut n).await,
        (200, 401)
    );
    assert!(reload_counts(&dir).await.is_empty());

    // SIGHUP still reloads.
    hookwall.signal("HUP");
    let line = hookwall.wait_for_line(10.0, "config reloaded").await;
    assert!(line.contains("trigger=signal"), "{line}");
    assert_eq!(
        statuses(&socket, SECRET_A, SECRET_B, &mut n).await,
        (401, 200)
    );
}
