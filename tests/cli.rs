//! The `hookwall` binary as an operator uses it: `check` on the configs in `tests/fixtures/`
//! (one of them with a route for every provider), `sign` against independent HMAC
//! computations and published vectors, `verify` on captured requests written here, a
//! running proxy whose log output must never hold a secret, a signature or a body, and
//! `spool` against hookwall's admin listener (in-process through the kit, or the binary).

// clippy's allow-unwrap-in-tests covers `#[test]` functions only, not these helpers; in a
// test binary a failed unwrap is a failed test with its location, which is what we want.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hookwall_testkit::fs::TempDir;
use hookwall_testkit::harness::Hookwall;
use hookwall_testkit::process::{wait_for_socket, Process};
use hookwall_testkit::reference::{
    b64, github_sha1_signature, github_signature, mac1, mac256, mac512, now, unb64,
};
use hookwall_testkit::upstream::{Behaviour, Upstream};
use hookwall_testkit::wait::eventually;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_hookwall");

/// Values the fixtures' secret variables hold in these tests.
const GITHUB_SECRET: &str = "fixture-github-secret-1a7f";
const CUSTOM_SECRET: &str = "fixture-custom-secret-9e2b";
/// What `tests/fixtures/valid-old.secret` holds, without its trailing newline.
const FILE_SECRET: &str = "fixture-old-file-secret-5d2a";

/// The crate's folder (where `cargo test` also runs this binary).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/`.
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

/// Output bytes as text (they must be UTF-8).
fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// The hex HMAC-SHA256 of the concatenated `parts` under `secret` (the kit's reference).
fn hex256(secret: &str, parts: &[&[u8]]) -> String {
    hex::encode(mac256(secret.as_bytes(), parts))
}

/// The words of a command line written as one string (for arguments without spaces).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// How a `hookwall` command ended: its exit code and what it printed.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// Runs `cmd` to its end, with nothing on stdin.
    fn run(cmd: &mut Command) -> Ran {
        Ran::from(cmd.output().expect("run hookwall"))
    }

    /// Runs `cmd` with `input` on stdin.
    fn with_stdin(cmd: &mut Command, input: &[u8]) -> Ran {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookwall");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A command that fails before reading stdin (an unset secret, a public-key scheme)
        // may have exited already: a broken pipe is then expected, and its output tells the
        // story.
        if let Err(e) = stdin.write_all(input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
        drop(stdin);
        Ran::from(child.wait_with_output().expect("wait for hookwall"))
    }

    /// Asserts exit code 0; returns stdout.
    fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts exit code 0 and nothing on stderr; returns stdout.
    fn clean(&self) -> &str {
        self.ok();
        assert_eq!(self.stderr, "");
        &self.stdout
    }

    /// Asserts exit code 1; returns stderr.
    fn failed(&self) -> &str {
        assert_eq!(self.code, Some(1), "stdout:\n{}", self.stdout);
        &self.stderr
    }

    /// Asserts exit code 1 and a stderr that starts with `prefix`.
    fn fails_with(&self, prefix: &str) {
        let stderr = self.failed();
        assert!(stderr.starts_with(prefix), "{stderr}");
    }
}

impl From<Output> for Ran {
    fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code(),
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
        }
    }
}

// ---------------------------------------------------------------------------------------
// check

/// `hookwall check --config CONFIG`, run by `cmd` from `dir`.
fn check_in(mut cmd: Command, dir: &Path, config: impl AsRef<OsStr>) -> Ran {
    Ran::run(
        cmd.current_dir(dir)
            .arg("check")
            .arg("--config")
            .arg(config),
    )
}

/// The shipped example's two variables, and the ones its commented-out routes read.
const EXAMPLE_SECRETS: [(&str, &str); 8] = [
    ("GITHUB_WEBHOOK_SECRET", "demo-github-secret-4f9a2c"),
    ("CUSTOM_WEBHOOK_SECRET", "demo-custom-secret-8b3e1d"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_example0stripe0secret"),
    ("SVIX_WEBHOOK_SECRET", PRESET_WHSEC),
    ("SLACK_SIGNING_SECRET", "example-slack-signing-secret"),
    ("TWILIO_AUTH_TOKEN", "example-twilio-auth-token"),
    ("META_APP_SECRET", "example-meta-app-secret"),
    ("META_VERIFY_TOKEN", "example-meta-verify-token"),
];

/// `hookwall` with the variables of `proxy.toml.example` set.
fn example_hookwall() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("RUST_LOG").envs(EXAMPLE_SECRETS);
    cmd
}

#[test]
fn check_accepts_the_valid_fixture_and_prints_sources_never_values() {
    let ran = check_in(hookwall(), &root(), "tests/fixtures/valid.toml");
    let stdout = ran.clean();
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
    let one_spaced = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        one_spaced(row("github")),
        "github = /webhooks/github POST github http://127.0.0.1:5000 1MiB \
         env var HOOKWALL_FIXTURE_GITHUB_SECRET, file tests/fixtures/valid-old.secret"
    );
    assert_eq!(
        one_spaced(row("custom")),
        "custom = /webhooks/custom POST hmac http://127.0.0.1:5000 1MiB \
         env var HOOKWALL_FIXTURE_CUSTOM_SECRET"
    );
    assert_eq!(
        one_spaced(row("hooks")),
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
    let ran = check_in(
        hookwall(),
        &std::env::temp_dir(),
        fixtures().join("valid.toml"),
    );
    let file = fixtures().join("valid-old.secret");
    let stdout = ran.ok();
    assert!(
        stdout.contains(&format!("file {}", file.display())),
        "{stdout}"
    );
}

#[test]
fn check_accepts_the_shipped_example_config() {
    let ran = check_in(example_hookwall(), &root(), "proxy.toml.example");
    let stdout = ran.ok();
    assert!(stdout.starts_with("proxy.toml.example: ok: 2 routes, listen 127.0.0.1:8080"));
    assert!(stdout.contains("env var GITHUB_WEBHOOK_SECRET"), "{stdout}");
    assert!(stdout.contains("env var CUSTOM_WEBHOOK_SECRET"), "{stdout}");
    assert!(!stdout.contains("demo-github-secret-4f9a2c"), "{stdout}");
}

/// Runs `check` on a broken fixture from the fixtures folder; returns stderr.
fn check_fails(fixture: &str) -> String {
    let ran = check_in(hookwall(), &fixtures(), fixture);
    let stderr = ran.failed();
    assert_eq!(ran.stdout, "", "{fixture}");
    assert!(
        stderr.ends_with(&format!("\n{fixture}: 1 problem\n")),
        "{fixture}: {stderr}"
    );
    stderr.to_owned()
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
    let known = known_providers();
    assert!(
        known.iter().any(|p| p == "github") && known.iter().any(|p| p == "hmac"),
        "{known:?}"
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
    check_in(hookwall(), &fixtures(), "no-such-file.toml")
        .fails_with("no-such-file.toml: cannot read the config file: ");
    assert_eq!(
        Ran::run(hookwall().arg("check")).failed(),
        "hookwall: no config file: pass --config PATH\n"
    );
}

// ---------------------------------------------------------------------------------------
// sign

/// The secret `sign --secret-env` reads in most of these tests: its variable and value.
const SIGN: (&str, &str) = ("HOOKWALL_TEST_SIGN_SECRET", SIGN_SECRET);
const SIGN_SECRET: &str = "cli-sign-test-secret-3e8d";

/// `hookwall sign ARGS` with `env` set and `body` on stdin.
fn sign_env(env: &[(&str, &str)], args: &[&str], body: &[u8]) -> Ran {
    Ran::with_stdin(
        hookwall().envs(env.iter().copied()).arg("sign").args(args),
        body,
    )
}

/// `hookwall sign --provider PROVIDER --secret-env VAR REST`, with `VAR` holding `value`.
fn sign_as((var, value): (&str, &str), provider: &str, rest: &[&str], body: &[u8]) -> Ran {
    let args = [&["--provider", provider, "--secret-env", var][..], rest].concat();
    sign_env(&[(var, value)], &args, body)
}

/// [`sign_as`] with the [`SIGN`] secret; asserts a clean success and returns what it printed.
fn signed(provider: &str, rest: &[&str], body: &[u8]) -> String {
    sign_as(SIGN, provider, rest, body).clean().to_owned()
}

/// `hookwall sign --config CONFIG --route ROUTE REST`, run by `cmd` with `body` on stdin.
fn sign_route_in(mut cmd: Command, config: &Path, route: &str, rest: &[&str], body: &[u8]) -> Ran {
    cmd.arg("sign").arg("--config").arg(config);
    Ran::with_stdin(cmd.args(["--route", route]).args(rest), body)
}

/// `hookwall sign --route ROUTE REST` on `tests/fixtures/valid.toml`.
fn sign_route(route: &str, rest: &[&str], body: &[u8]) -> Ran {
    sign_route_in(
        hookwall(),
        &fixtures().join("valid.toml"),
        route,
        rest,
        body,
    )
}

/// `--public-url URL --target TARGET`, for the schemes that sign the URL.
fn url_args<'a>(public_url: &'a str, target: &'a str) -> [&'a str; 4] {
    ["--public-url", public_url, "--target", target]
}

/// `--header` with a form's content type.
const FORM_HEADER: [&str; 2] = [
    "--header",
    "Content-Type: application/x-www-form-urlencoded",
];

/// Asserts that `sign --provider github` prints GitHub's SHA-256 header for `body`.
fn assert_signs_github_sha256(body: &[u8]) {
    let want = github_signature(SIGN_SECRET, body);
    assert_eq!(
        signed("github", &[], body),
        format!("X-Hub-Signature-256: {want}\n")
    );
}

#[test]
fn sign_github_matches_an_independent_hmac_sha256() {
    assert_signs_github_sha256(b"Hello, World!");
}

#[test]
fn sign_github_legacy_sha1_uses_the_legacy_header() {
    let body = b"Hello, World!";
    let out = signed("github", &["--algorithm", "sha1"], body);
    let want = github_sha1_signature(SIGN_SECRET, body);
    assert_eq!(out, format!("X-Hub-Signature: {want}\n"));
}

#[test]
fn sign_signs_the_exact_bytes_of_stdin() {
    // Bytes a JSON round trip would change: spacing, key order, a trailing newline, non-UTF-8.
    assert_signs_github_sha256(b"{ \"b\": 1,\n  \"a\": [2, 3] }\n\xff");
}

#[test]
fn sign_hmac_with_every_option_and_a_fixed_timestamp() {
    let body = br#"{"event":"invoice.paid","id":42}"#;
    let options = words(
        "--algorithm sha512 --encoding base64 --signature-header X-Sig --signature-prefix v1= \
         --signed-payload {timestamp}.{body} --timestamp-header X-Sig-Timestamp \
         --timestamp 1700000000",
    );
    let out = signed("hmac", &options, body);
    let want = b64(&mac512(
        SIGN_SECRET.as_bytes(),
        &[b"1700000000", b".", body],
    ));
    assert_eq!(
        out,
        format!("X-Sig: v1={want}\nX-Sig-Timestamp: 1700000000\n")
    );
}

#[test]
fn sign_hmac_defaults_to_hex_sha256_over_the_body_without_prefix() {
    let body = b"plain body";
    let out = signed("hmac", &["--signature-header", "X-Signature"], body);
    assert_eq!(
        out,
        format!("X-Signature: {}\n", hex256(SIGN_SECRET, &[body]))
    );
}

#[test]
fn sign_by_route_uses_the_configured_scheme_and_first_secret() {
    let body = br#"{"zen":"Design for failure."}"#;

    // github: a rotation list signs with its first secret.
    let want = github_signature(GITHUB_SECRET, body);
    assert_eq!(
        sign_route("github", &[], body).clean(),
        format!("X-Hub-Signature-256: {want}\n")
    );

    // custom: "{timestamp}.{body}", sha256, hex, prefix "sha256=".
    let want = hex256(CUSTOM_SECRET, &[b"1700000123.", body]);
    assert_eq!(
        sign_route("custom", &["--timestamp", "1700000123"], body).clean(),
        format!("X-Signature: sha256={want}\nX-Timestamp: 1700000123\n")
    );

    // hooks: sha512, base64, no prefix, body only.
    let want = b64(&mac512(CUSTOM_SECRET.as_bytes(), &[body]));
    assert_eq!(
        sign_route("hooks", &[], body).clean(),
        format!("X-Hook-Signature: {want}\n")
    );
}

#[test]
fn sign_without_a_timestamp_uses_the_clock() {
    let before = now();
    let ran = sign_route("custom", &[], b"x");
    let after = before + 60;
    let ts: u64 = ran
        .clean()
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
    let args = [
        "--provider",
        "github",
        "--secret-env",
        "HOOKWALL_FIXTURE_UNSET_SECRET",
    ];
    assert_eq!(
        sign_env(&[], &args, b"x").failed(),
        "hookwall: secret: env var HOOKWALL_FIXTURE_UNSET_SECRET is not set (or is not valid \
         UTF-8)\n"
    );

    // The secret of GitHub's documentation example is on the well-known list: refused, and
    // not echoed.
    let weak = ("HOOKWALL_TEST_WEAK", "It's a Secret to Everybody");
    let ran = sign_as(weak, "github", &[], b"Hello, World!");
    ran.fails_with("hookwall: secret: env var HOOKWALL_TEST_WEAK holds a well-known default value");
    assert!(
        !ran.stderr.contains("Secret to Everybody"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.stdout, "");

    // A scheme option that does not fit is named as the flag.
    sign_as(SIGN, "hmac", &[], b"x").fails_with("hookwall: --signature-header: missing");

    // An unknown route lists the ones there are.
    assert_eq!(
        sign_route("nope", &[], b"x").failed(),
        "hookwall: no route named `nope`; routes: github, custom, hooks\n"
    );
}

// ---------------------------------------------------------------------------------------
// every provider: `tests/fixtures/every-preset.toml` has one route per provider name

/// What the secret variables of `every-preset.toml` hold in these tests.
const PRESET_SECRET: &str = "fixture-preset-secret-77c1";
/// `whsec_` + base64, as Standard Webhooks senders hand them out.
const PRESET_WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PRESET_VERIFY_TOKEN: &str = "fixture-verify-token-2b9e";

/// The time the captures below are signed at, and checked at with `verify --at`.
const SIGNED_AT: u64 = 1_700_000_000;

/// `tests/fixtures/every-preset.toml`.
fn every_preset() -> PathBuf {
    fixtures().join("every-preset.toml")
}

/// `hookwall` with the variables `every-preset.toml` reads.
fn presets_hookwall() -> Command {
    let mut cmd = hookwall();
    cmd.env("HOOKWALL_FIXTURE_PRESET_SECRET", PRESET_SECRET)
        .env("HOOKWALL_FIXTURE_WHSEC_SECRET", PRESET_WHSEC)
        .env("HOOKWALL_FIXTURE_VERIFY_TOKEN", PRESET_VERIFY_TOKEN);
    cmd
}

/// The provider names `hookwall` knows, as its unknown-provider message lists them.
fn known_providers() -> Vec<String> {
    let stderr = check_fails("bad-unknown-provider.toml");
    let first = stderr.lines().next().unwrap();
    let list = first
        .split("known providers: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no provider list in {first}"));
    list.split(", ").map(str::to_owned).collect()
}

/// The rows of a `check` route table: (route, provider column, the rest).
fn route_rows(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .skip(2)
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (
                words[0].to_owned(),
                words[4].to_owned(),
                words[5..].join(" "),
            )
        })
        .collect()
}

#[test]
fn check_accepts_a_route_for_every_provider() {
    let ran = check_in(
        presets_hookwall(),
        &root(),
        "tests/fixtures/every-preset.toml",
    );
    let stdout = ran.clean();
    let known = known_providers();
    assert!(known.len() >= 30, "{known:?}");
    assert!(
        stdout.starts_with(&format!(
            "tests/fixtures/every-preset.toml: ok: {} routes, ",
            known.len()
        )),
        "{stdout}"
    );
    let rows = route_rows(stdout);
    assert_eq!(rows.len(), known.len(), "{stdout}");
    for provider in &known {
        let row = rows
            .iter()
            .find(|(_, p, _)| p.strip_suffix("+handshake").unwrap_or(p) == provider)
            .unwrap_or_else(|| panic!("no route with provider {provider}:\n{stdout}"));
        // Each route is named after its provider, so a misnamed one is easy to find.
        assert_eq!(&row.0, provider, "{stdout}");
    }
    let column = |name: &str| {
        rows.iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, p, rest)| (p.clone(), rest.clone()))
            .unwrap()
    };
    // Public-key routes name no secret; handshake routes say so.
    assert!(column("discord").1.ends_with("1MiB public key"), "{stdout}");
    assert!(
        column("sendgrid").1.ends_with("1MiB public key"),
        "{stdout}"
    );
    for name in ["meta", "trello", "asana", "zoom"] {
        assert_eq!(column(name).0, format!("{name}+handshake"), "{stdout}");
    }
    assert!(column("svix")
        .1
        .ends_with("env var HOOKWALL_FIXTURE_WHSEC_SECRET"));
    for value in [PRESET_SECRET, PRESET_WHSEC, PRESET_VERIFY_TOKEN] {
        assert!(!stdout.contains(value), "a secret value printed:\n{stdout}");
    }
}

#[test]
fn the_providers_doc_lists_every_provider() {
    let readme = std::fs::read_to_string(root().join("docs/PROVIDERS.md")).unwrap();
    // The names in the first cell of each table row, as `name` spans.
    let mut listed = Vec::new();
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        listed.extend(first.split('`').skip(1).step_by(2).map(str::to_owned));
    }
    for provider in known_providers() {
        assert!(
            listed.contains(&provider),
            "docs/PROVIDERS.md's provider table has no row for `{provider}`"
        );
    }
}

#[test]
fn the_example_config_routes_check_once_uncommented() {
    // proxy.toml.example keeps its extra routes commented out so that it runs with two
    // variables; uncommented, each must still be valid.
    let example = std::fs::read_to_string(root().join("proxy.toml.example")).unwrap();
    let at = example
        .find("# More senders.")
        .expect("the example's section of commented-out routes");
    let (head, tail) = example.split_at(at);
    let keys = words(
        "name path upstream provider secret tolerance public_url public_key handshake \
         verify_token",
    );
    let mut config = head.to_owned();
    for line in tail.lines() {
        let uncommented = line.strip_prefix("# ").unwrap_or(line);
        let is_key = keys
            .iter()
            .any(|k| uncommented.starts_with(&format!("{k} = ")));
        if uncommented == "[[route]]" || is_key {
            if uncommented.starts_with("public_key = \"<") {
                // Discord's placeholder, replaced by a real Ed25519 public key.
                config.push_str(
                    "public_key = \"03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8\"",
                );
            } else {
                config.push_str(uncommented);
            }
        } else {
            config.push_str(line);
        }
        config.push('\n');
    }
    let dir = TempDir::new();
    let path = dir.write("proxy.toml", &config);
    let ran = check_in(example_hookwall(), &root(), &path);
    let providers: Vec<String> = route_rows(ran.ok()).into_iter().map(|r| r.1).collect();
    assert_eq!(
        providers,
        words("github hmac stripe svix slack twilio discord meta+handshake"),
        "{}",
        ran.stdout
    );
}

#[test]
fn sign_stripe_matches_an_independent_computation() {
    let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    let out = signed("stripe", &["--timestamp", "1700000000"], body);
    let mac = hex256(SIGN_SECRET, &[b"1700000000.", body]);
    assert_eq!(out, format!("Stripe-Signature: t=1700000000,v1={mac}\n"));
}

#[test]
fn sign_slack_matches_an_independent_computation() {
    let body = b"token=x&team_id=T1&command=%2Fdeploy&text=prod";
    let out = signed("slack", &["--timestamp", "1700000000"], body);
    let mac = hex256(SIGN_SECRET, &[b"v0:1700000000:", body]);
    assert_eq!(
        out,
        format!("X-Slack-Signature: v0={mac}\nX-Slack-Request-Timestamp: 1700000000\n")
    );
}

#[test]
fn sign_standard_webhooks_signs_the_given_id_with_the_decoded_secret() {
    let body = br#"{"type":"user.created","data":{"id":"u_1"}}"#;
    let key = unb64(PRESET_WHSEC.strip_prefix("whsec_").unwrap());
    let mac = b64(&mac256(&key, &[b"msg_1.1700000000.", body]));
    let want =
        format!("Webhook-Signature: v1,{mac}\nWebhook-Timestamp: 1700000000\nWebhook-Id: msg_1\n");
    // Signs `body` as `provider` at `ts`, with the delivery id `id`.
    let sign_whsec = |provider: &str, ts: &str, id: &str, body: &[u8]| {
        let id = format!("webhook-id: {id}");
        let rest = ["--timestamp", ts, "--header", id.as_str()];
        let ran = sign_as(("HOOKWALL_TEST_WHSEC", PRESET_WHSEC), provider, &rest, body);
        ran.clean().to_owned()
    };
    // The aliases sign alike, and print the `webhook-*` family the route also accepts.
    for provider in ["standard-webhooks", "svix", "clerk", "resend"] {
        let out = sign_whsec(provider, "1700000000", "msg_1", body);
        assert_eq!(out, want, "{provider}");
    }

    // The specification's published vector (standard-webhooks, libraries/python tests).
    let body = br#"{"test": 2432232314}"#;
    let out = sign_whsec(
        "standard-webhooks",
        "1614265330",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        body,
    );
    assert!(
        out.starts_with("Webhook-Signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n"),
        "{out}"
    );
}

#[test]
fn sign_twilio_signs_the_public_url_the_query_and_the_sorted_form() {
    let body =
        b"To=%2B18005551212&CallSid=CA1234567890ABCDE&From=%2B14158675310&Digits=1234&Digits=0000";
    let form_to = |public_url: &'static str| {
        [
            &url_args(public_url, "/hooks/twilio?foo=1&bar=2"),
            &FORM_HEADER[..],
        ]
        .concat()
    };
    let out = signed("twilio", &form_to("https://example.com/hooks/twilio"), body);
    // The URL with the query, then each decoded name and value, sorted by name then value.
    let message: &[u8] = b"https://example.com/hooks/twilio?foo=1&bar=2\
        CallSidCA1234567890ABCDEDigits0000Digits1234From+14158675310To+18005551212";
    let want = b64(&mac1(SIGN_SECRET.as_bytes(), &[message]));
    assert_eq!(out, format!("X-Twilio-Signature: {want}\n"));

    // Twilio's documented example (https://www.twilio.com/docs/usage/security).
    let token = ("HOOKWALL_TEST_TWILIO_TOKEN", "12345");
    let documented = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234\
        &From=%2B14158675310&To=%2B18005551212";
    let ran = sign_as(
        token,
        "twilio",
        &form_to("https://example.com/myapp.php"),
        documented,
    );
    assert_eq!(
        ran.clean(),
        "X-Twilio-Signature: L/OH5YylLD5NRKLltdqwSvS0BnU=\n"
    );

    // Without the public URL there is nothing to sign.
    sign_as(SIGN, "twilio", &[], body).fails_with("hookwall: --public-url: missing");
}

#[test]
fn sign_hubspot_signs_method_url_body_and_milliseconds() {
    let body = br#"[{"eventId":1,"subscriptionType":"contact.creation"}]"#;
    let url = url_args(
        "https://example.com/hooks/hubspot",
        "/hooks/hubspot?portalId=62515",
    );
    for (method, body) in [("POST", &body[..]), ("GET", &b""[..])] {
        let rest = [&url[..], &["--method", method, "--timestamp", "1700000000"]].concat();
        let out = signed("hubspot", &rest, body);
        let message: [&[u8]; 4] = [
            method.as_bytes(),
            b"https://example.com/hooks/hubspot?portalId=62515",
            body,
            b"1700000000000",
        ];
        let mac = b64(&mac256(SIGN_SECRET.as_bytes(), &message));
        assert_eq!(
            out,
            format!("X-Hubspot-Signature-V3: {mac}\nX-Hubspot-Request-Timestamp: 1700000000000\n"),
            "{method}"
        );
    }
}

#[test]
fn sign_refuses_public_key_schemes_with_a_clear_message() {
    for route in ["discord", "sendgrid"] {
        let ran = sign_route_in(
            presets_hookwall(),
            &every_preset(),
            route,
            &[],
            b"{\"type\":1}",
        );
        assert_eq!(
            ran.failed(),
            format!(
                "hookwall: provider `{route}` checks signatures with the sender's public key; \
                 only the sender can sign\n"
            )
        );
        assert_eq!(ran.stdout, "", "{route}");
    }
    // With --provider there is no public key to build the scheme from at all.
    let ran = sign_as(SIGN, "discord", &[], b"{\"type\":1}");
    assert!(ran.failed().contains("public key"), "{}", ran.stderr);
    assert_eq!(ran.stdout, "");
}

// ---------------------------------------------------------------------------------------
// verify: captured requests, written with CRLF line endings into a temporary folder

/// A raw HTTP/1.1 request as a sender puts it on the wire, with `Content-Length`.
fn capture(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: hooks.example.com\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `hookwall verify --config every-preset.toml`, with the variables it reads.
fn verify_cmd() -> Command {
    let mut cmd = presets_hookwall();
    cmd.arg("verify").arg("--config").arg(every_preset());
    cmd
}

/// Runs `hookwall verify` on `every-preset.toml` with a capture written to `dir/file`;
/// asserts a silent stderr and returns (exit code, stdout).
fn verify_capture(dir: &TempDir, file: &str, bytes: &[u8], extra: &[&str]) -> (i32, String) {
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    let ran = Ran::run(verify_cmd().args(extra).arg(&path));
    assert_eq!(ran.stderr, "", "verify {file}");
    (ran.code.unwrap(), ran.stdout)
}

const GITHUB_DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const GITHUB_BODY: &[u8] =
    br#"{"action":"opened","number":1,"repository":{"full_name":"octo-org/octo-repo"}}"#;

/// A GitHub delivery of `body` to `target`, signed over [`GITHUB_BODY`].
fn github_capture(target: &str, body: &[u8]) -> Vec<u8> {
    let signature = github_signature(PRESET_SECRET, GITHUB_BODY);
    capture(
        "POST",
        target,
        &[
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", "pull_request"),
            ("X-GitHub-Delivery", GITHUB_DELIVERY),
            ("X-Hub-Signature-256", &signature),
        ],
        body,
    )
}

#[test]
fn verify_walks_a_good_github_capture_through_every_step() {
    let dir = TempDir::new();
    let bytes = github_capture("/hooks/github", GITHUB_BODY);
    assert!(bytes.windows(4).any(|w| w == b"\r\n\r\n"));
    let n = GITHUB_BODY.len();
    let want = format!(
        "ok   request: POST /hooks/github ({n} bytes of body)\n\
         ok   route: github (= /hooks/github), provider github\n\
         ok   method: POST (allowed: POST)\n\
         ok   size: {n} bytes, limit 1MiB\n     \
         header x-hub-signature-256: present\n\
         ok   signature: verified with slot 0 (env var HOOKWALL_FIXTURE_PRESET_SECRET), \
         delivery id {GITHUB_DELIVERY}\n"
    );
    let (code, stdout) = verify_capture(&dir, "github.http", &bytes, &[]);
    assert_eq!((code, stdout.as_str()), (0, want.as_str()));

    // The same request from stdin, and with its body sent chunked.
    let ran = Ran::with_stdin(verify_cmd().arg("-"), &bytes);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), want.as_str()));

    let text_bytes = text(&bytes);
    let (head, _) = text_bytes.split_once("\r\n\r\n").unwrap();
    let head = head.replace(
        &format!("Content-Length: {n}"),
        "Transfer-Encoding: chunked",
    );
    let (a, b) = GITHUB_BODY.split_at(20);
    let mut chunked = format!("{head}\r\n\r\n{:x}\r\n", a.len()).into_bytes();
    chunked.extend_from_slice(a);
    chunked.extend_from_slice(format!("\r\n{:x}\r\n", b.len()).as_bytes());
    chunked.extend_from_slice(b);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let (code, stdout) = verify_capture(&dir, "github-chunked.http", &chunked, &[]);
    assert_eq!((code, stdout.as_str()), (0, want.as_str()));
}

#[test]
fn verify_names_the_failing_step() {
    let dir = TempDir::new();
    let n = GITHUB_BODY.len();
    let passed = |target: &str, route: &str, provider: &str| {
        format!(
            "ok   request: POST {target} ({n} bytes of body)\n\
             ok   route: {route} (= {target}), provider {provider}\n\
             ok   method: POST (allowed: POST)\n\
             ok   size: {n} bytes, limit 1MiB\n"
        )
    };
    // Verifies a GitHub capture of `body` sent to `target`: refused; returns stdout.
    let refused = |file: &str, target: &str, body: &[u8]| {
        let (code, stdout) = verify_capture(&dir, file, &github_capture(target, body), &[]);
        assert_eq!(code, 1, "{stdout}");
        stdout
    };

    // One byte of the body changed after signing.
    let tampered = text(GITHUB_BODY).replace("opened", "closed");
    let stdout = refused("tampered.http", "/hooks/github", tampered.as_bytes());
    let head = passed("/hooks/github", "github", "github")
        + "     header x-hub-signature-256: present\n"
        + "FAIL signature: signature_mismatch — ";
    assert!(stdout.starts_with(&head), "{stdout}");
    assert_eq!(stdout.lines().count(), 6, "{stdout}");

    // A path no route has.
    let stdout = refused("no-route.http", "/hooks/nowhere", GITHUB_BODY);
    assert_eq!(
        stdout,
        format!(
            "ok   request: POST /hooks/nowhere ({n} bytes of body)\n\
             FAIL route: no route matches /hooks/nowhere (404, reason no_route)\n"
        )
    );

    // The path of another route: GitHub's signature means nothing to GitLab's check.
    let stdout = refused("other-route.http", "/hooks/gitlab", GITHUB_BODY);
    let head = passed("/hooks/gitlab", "gitlab", "gitlab")
        + "     header x-gitlab-token: absent\n"
        + "FAIL signature: missing_signature — ";
    assert!(stdout.starts_with(&head), "{stdout}");

    // A target the proxy refuses before routing.
    let stdout = refused("dot-segment.http", "/hooks/../hooks/github", GITHUB_BODY);
    assert!(
        stdout.lines().nth(1).unwrap().starts_with("FAIL target: ")
            && stdout.contains("reason target_dot_segment"),
        "{stdout}"
    );
}

#[test]
fn verify_checks_a_slack_timestamp_as_of_now_or_as_of_at() {
    let dir = TempDir::new();
    let body = b"token=x&team_id=T1&command=%2Fdeploy&text=prod";
    let ts = SIGNED_AT.to_string();
    let signature = format!(
        "v0={}",
        hex256(PRESET_SECRET, &[format!("v0:{ts}:").as_bytes(), body])
    );
    let bytes = capture(
        "POST",
        "/hooks/slack",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Slack-Request-Timestamp", &ts),
            ("X-Slack-Signature", &signature),
        ],
        body,
    );
    let steps = format!(
        "ok   request: POST /hooks/slack ({n} bytes of body)\n\
         ok   route: slack (= /hooks/slack), provider slack\n\
         ok   method: POST (allowed: POST)\n\
         ok   size: {n} bytes, limit 1MiB\n     \
         header x-slack-signature: present\n     \
         header x-slack-request-timestamp: present\n",
        n = body.len()
    );

    // Signed in 2023: stale now.
    let (code, stdout) = verify_capture(&dir, "slack.http", &bytes, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "{steps}FAIL signature: timestamp_out_of_tolerance — "
        )),
        "{stdout}"
    );
    assert!(stdout.contains("--at"), "the hint names --at: {stdout}");

    // As of the capture's time it verifies; the window is 5 minutes either way, edges
    // included.
    let ok = format!(
        "{steps}ok   signature: verified with slot 0 (env var HOOKWALL_FIXTURE_PRESET_SECRET)\n"
    );
    for (at, passes) in [
        (SIGNED_AT, true),
        (SIGNED_AT + 300, true),
        (SIGNED_AT + 301, false),
        (SIGNED_AT - 300, true),
        (SIGNED_AT - 301, false),
    ] {
        let at = at.to_string();
        let (code, stdout) = verify_capture(&dir, "slack.http", &bytes, &["--at", &at]);
        if passes {
            assert_eq!((code, stdout.as_str()), (0, ok.as_str()), "--at {at}");
        } else {
            assert_eq!(code, 1, "--at {at}: {stdout}");
            assert!(
                stdout.contains("FAIL signature: timestamp_out_of_tolerance"),
                "--at {at}: {stdout}"
            );
        }
    }
}

/// The lines `hookwall sign` printed, as header pairs.
fn header_lines(out: &str) -> Vec<(String, String)> {
    out.lines()
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn sign_output_passes_verify_for_every_route_and_a_changed_body_does_not() {
    let dir = TempDir::new();
    let at = SIGNED_AT.to_string();
    // Every body carries "evt_1", which the tampered copy changes to "evt_2".
    let json = br#"{"id":"evt_1","type":"thing.created","data":{"n":1}}"#.to_vec();
    let form = b"EventId=evt_1&CallStatus=completed&From=%2B14158675310".to_vec();
    let linear = format!(
        r#"{{"id":"evt_1","action":"create","webhookTimestamp":{}}}"#,
        SIGNED_AT * 1000
    )
    .into_bytes();
    let mut checked = 0;
    for provider in known_providers() {
        let route = provider.as_str();
        if matches!(route, "discord" | "sendgrid") {
            continue; // public keys: only the sender can sign
        }
        let mut request_headers: Vec<(String, String)> = Vec::new();
        let body = match route {
            "twilio" => {
                request_headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
                form.clone()
            }
            "linear" => linear.clone(),
            _ => {
                request_headers.push(("Content-Type".into(), "application/json".into()));
                json.clone()
            }
        };
        if route == "hmac" {
            request_headers.push(("X-Delivery".into(), "delivery-7".into()));
        }
        let target = format!("/hooks/{route}");
        let header_args: Vec<String> = request_headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let mut rest = vec!["--timestamp", at.as_str(), "--target", target.as_str()];
        for header in &header_args {
            rest.extend(["--header", header.as_str()]);
        }
        let ran = sign_route_in(presets_hookwall(), &every_preset(), route, &rest, &body);
        assert_eq!(ran.code, Some(0), "{route}: {}", ran.stderr);
        let signed = header_lines(&ran.stdout);

        // Mailgun's three values go into the body; every other scheme's into headers.
        let (headers, body, body_signed) = if route == "mailgun" {
            let field = |name: &str| {
                signed
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap()
            };
            let body = format!(
                r#"{{"signature":{{"timestamp":"{}","token":"{}","signature":"{}"}},"event-data":{{"id":"evt_1","event":"delivered"}}}}"#,
                field("Timestamp"),
                field("Token"),
                field("Signature")
            );
            (request_headers.clone(), body.into_bytes(), false)
        } else {
            // The signed headers, and those of the request that `sign` did not print again.
            let mut headers: Vec<(String, String)> = request_headers
                .iter()
                .filter(|(k, _)| !signed.iter().any(|(s, _)| s.eq_ignore_ascii_case(k)))
                .cloned()
                .collect();
            headers.extend(signed.iter().cloned());
            // GitLab's token does not cover the body either.
            (headers, body, route != "gitlab")
        };
        let header_refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();

        let bytes = capture("POST", &target, &header_refs, &body);
        let (code, stdout) = verify_capture(&dir, &format!("{route}.http"), &bytes, &["--at", &at]);
        assert_eq!(code, 0, "{route}:\n{stdout}");
        let last = stdout.lines().last().unwrap();
        assert!(
            last.starts_with("ok   signature: verified with slot 0 (env var HOOKWALL_FIXTURE_"),
            "{route}: {stdout}"
        );

        let tampered = text(&body).replace("evt_1", "evt_2");
        let bytes = capture("POST", &target, &header_refs, tampered.as_bytes());
        let file = format!("{route}-tampered.http");
        let (code, stdout) = verify_capture(&dir, &file, &bytes, &["--at", &at]);
        if body_signed {
            assert_eq!(code, 1, "{route}: a changed body verified:\n{stdout}");
            assert!(
                stdout.contains("FAIL signature: signature_mismatch"),
                "{route}: {stdout}"
            );
        } else {
            // Mailgun and GitLab: a known limitation (README), checked so it stays known.
            assert_eq!(code, 0, "{route}:\n{stdout}");
        }
        checked += 1;
    }
    assert!(checked >= 28, "only {checked} routes checked");
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

/// Reads more of `stream` onto `buf`; `None` at its end or on an error.
fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).ok()?;
    buf.extend_from_slice(&chunk[..n]);
    (n > 0).then_some(())
}

/// Reads one request with a `Content-Length` body; returns the body.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, &mut buf)?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(Some(0), |v| v.trim().parse().ok())?;
    while buf.len() < head_end + length {
        read_more(stream, &mut buf)?;
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
    /// The next log line, kept in the log too; an error if none comes before `deadline`.
    fn next_line(&mut self, deadline: Instant) -> Result<&str, mpsc::RecvTimeoutError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.lines.recv_timeout(left)?;
        self.log.push(line);
        Ok(self.log.last().unwrap())
    }

    /// Waits for a log line containing `needle`: `Err` with the log so far if the process
    /// ends first or `limit` passes.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        if self.log.iter().any(|l| l.contains(needle)) {
            return Ok(());
        }
        loop {
            match self.next_line(deadline) {
                Ok(line) if line.contains(needle) => return Ok(()),
                Ok(_) => {}
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
            match self.next_line(deadline) {
                Ok(_) => {}
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

/// `hookwall --config CONFIG` with the log format and level given, its stderr read line by
/// line.
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
/// Runs a proxy whose GitHub route forwards, or spools (`delivery = "spool"`), sends it one
/// verified and two refused deliveries, and checks its log at `format` and `level`.
fn log_never_leaks(format: &str, level: &str, delivery: &str) {
    let dir = TempDir::new();
    dir.write("github.secret", &format!("{LEAK_SECRET}\n"));
    let (upstream_port, upstream_bodies) = start_upstream();
    // The port is found free, released, then written into the config: another process can
    // take it in between, so a failed bind is retried with a new port.
    let mut attempts = 0;
    let (port, hw) = loop {
        attempts += 1;
        let port = free_port();
        let config = dir.write(
            "proxy.toml",
            &format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_timeout = \"5s\"\n\n\
                 [spool]\nstore = \"sqlite:spool.db\"\n\n\
                 [[route]]\nname = \"github\"\npath = \"/webhooks/github\"\n\
                 upstream = \"http://127.0.0.1:{upstream_port}\"\nprovider = \"github\"\n\
                 secret = {{ file = \"github.secret\" }}\ndelivery = \"{delivery}\"\n"
            ),
        );
        let mut hw = start_hookwall(&config, format, level);
        match hw.wait_for("hookwall listening", Duration::from_secs(30)) {
            Ok(()) => break (port, hw),
            Err(e) if attempts < 3 && e.contains("cannot listen") => continue,
            Err(e) => panic!("{format}/{level}: {e}"),
        }
    };

    let good = hex256(LEAK_SECRET, &[LEAK_BODY]);
    let bad = hex256("some-other-secret-value", &[LEAK_BODY]);
    let good_header = format!("sha256={good}");
    let bad_header = format!("sha256={bad}");
    let post_github = |headers: &[(&str, &str)]| post(port, "/webhooks/github", headers, LEAK_BODY);
    let statuses = [
        post_github(&[
            ("X-Hub-Signature-256", &good_header),
            ("X-GitHub-Delivery", "delivery-0001"),
        ]),
        post_github(&[("X-Hub-Signature-256", &bad_header)]),
        post_github(&[]),
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
    // A spooled delivery is logged as spooled, then as delivered by its attempt.
    let outcome = if delivery == "spool" {
        "spooled"
    } else {
        "forwarded"
    };
    let forwarded = if format == "json" {
        format!(r#""message":"{outcome}""#)
    } else {
        format!(" {outcome} route=")
    };
    let attempt = if delivery == "spool" {
        "delivered"
    } else {
        outcome
    };
    for wanted in [
        "hookwall listening",
        forwarded.as_str(),
        attempt,
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
}

#[test]
fn json_debug_log_never_holds_secret_signature_or_body() {
    log_never_leaks("json", "debug", "forward");
}

#[test]
fn text_debug_log_never_holds_secret_signature_or_body() {
    log_never_leaks("text", "debug", "forward");
}

#[test]
fn text_trace_log_never_holds_secret_signature_or_body() {
    log_never_leaks("text", "trace", "forward");
}

#[test]
fn a_spooling_routes_trace_log_never_holds_secret_signature_or_body() {
    log_never_leaks("text", "trace", "spool");
}

// ---------------------------------------------------------------------------------------
// spool: the admin listener's spool API from the command line

/// The spool tests' GitHub secret, read through [`spool_env`] (never `set_var`).
const SPOOL_SECRET: &str = "spool-cli-github-secret-8d41c2";
/// The `[admin] token` of the token test.
const ADMIN_TOKEN: &str = "spool-cli-admin-token-5e07ab";
/// The variable `--token-env` names in these tests; removed from every run unless given.
const TOKEN_VAR: &str = "HOOKWALL_SPOOL_CLI_TOKEN";

/// hookwall's secret lookup in the spool tests.
fn spool_env(name: &str) -> Option<String> {
    match name {
        "SPOOL_CLI_GITHUB_SECRET" => Some(SPOOL_SECRET.into()),
        "SPOOL_CLI_ADMIN_TOKEN" => Some(ADMIN_TOKEN.into()),
        _ => None,
    }
}

/// A GitHub route at `/webhooks/github` that spools for `app` with one wait of 30 ms (two
/// attempts, then dead), its spool in `dir`, and `[admin] listen = admin` with `admin_extra`.
fn spool_config(app: SocketAddr, dir: &TempDir, admin: &str, admin_extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [spool]\nstore = \"sqlite:{}\"\n\n\
         [admin]\nlisten = \"{admin}\"\n{admin_extra}\n\n\
         [[route]]\nname = \"github\"\npath = \"/webhooks/github\"\n\
         upstream = \"http://{app}\"\nprovider = \"github\"\n\
         secret = {{ env = \"SPOOL_CLI_GITHUB_SECRET\" }}\n\
         delivery = \"spool\"\nretry_schedule = [\"30ms\"]\n",
        dir.join("spool.db").display()
    )
}

/// hookwall in-process on [`spool_config`], its admin listener on a port of its own.
async fn spooling(app: SocketAddr, dir: &TempDir, admin_extra: &str) -> Hookwall {
    let text = spool_config(app, dir, "127.0.0.1:0", admin_extra);
    Hookwall::from_text(&text, "spool-cli.toml", &spool_env).await
}

/// Posts delivery `n`, signed; returns the spool id it was acknowledged with.
async fn post_spooled(hookwall: &Hookwall, n: usize) -> String {
    let body = format!("{{\"delivery\":{n}}}");
    let signature = github_signature(SPOOL_SECRET, body.as_bytes());
    let delivery = format!("spool-cli-{n}");
    let headers = [
        ("x-hub-signature-256", signature.as_str()),
        ("x-github-delivery", delivery.as_str()),
    ];
    let res = hookwall
        .post("/webhooks/github", body.as_bytes(), &headers)
        .await;
    assert_eq!(res.status(), 200, "{}", res.text());
    res.header("x-hookwall-spool-id")
        .expect("a spool id")
        .to_owned()
}

/// `hookwall ARGS` with `env` set (and [`TOKEN_VAR`] unset unless `env` sets it), awaited
/// without blocking the runtime that serves hookwall.
async fn spool_run(env: &[(&str, &str)], args: &[&str]) -> Ran {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env_remove("RUST_LOG")
        .env_remove(TOKEN_VAR)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null());
    Ran::from(cmd.output().await.expect("run hookwall"))
}

/// `hookwall ARGS` without a token variable.
async fn spool_cli(args: &[&str]) -> Ran {
    spool_run(&[], args).await
}

/// The ids `spool list --state STATE --json` prints, once there are `n` (within 10 s).
async fn listed(admin: &str, state: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ran = spool_cli(&[
            "spool", "list", "--admin", admin, "--state", state, "--json",
        ])
        .await;
        let list: Value = serde_json::from_str(ran.clean()).expect("one JSON document");
        let ids: Vec<String> = list["deliveries"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|d| d["id"].as_str().expect("an id").to_owned())
            .collect();
        if ids.len() == n {
            return ids;
        }
        assert!(Instant::now() < deadline, "{n} {state} wanted: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn spool_lists_shows_retries_drops_and_redrives_dead_deliveries() {
    let dir = TempDir::new();
    // Two attempts each; the app refuses the first six requests: all three go dead, and
    // what is tried after that is delivered.
    let app = Upstream::start_with(Behaviour {
        fail_first: 6,
        ..Behaviour::default()
    })
    .await;
    let hookwall = spooling(app.addr, &dir, "").await;
    let admin = format!("http://{}", hookwall.admin());
    let admin = admin.as_str();
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(post_spooled(&hookwall, n).await);
    }
    let dead = listed(admin, "dead", 3).await;
    assert_eq!(sorted(dead), sorted(sent.clone()));
    assert_eq!(app.hits(), 6);

    // The table: a header, one row per delivery, every cell under its heading.
    let ran = spool_cli(&["spool", "list", "--admin", admin, "--state", "dead"]).await;
    let table = ran.clean();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("ID "), "{table}");
    let at = |heading: &str| lines[0].find(heading).expect("a heading");
    for row in &lines[1..] {
        let id = row.split_whitespace().next().expect("an id");
        assert!(sent.iter().any(|s| s == id), "{table}");
        for (heading, cell) in [
            ("ROUTE", "github "),
            ("STATE", "dead "),
            ("ATTEMPTS", "2 "),
            ("RECEIVED", "20"),
            ("NEXT", "- "),
            ("LAST", "500 "),
        ] {
            assert!(
                row[at(heading)..].starts_with(cell),
                "{heading} is not {cell:?}:\n{table}"
            );
        }
        assert!(row.ends_with("(retries_exhausted)"), "{table}");
    }

    // show: `key: value` lines; with --json, the API's answer as it is.
    let id = sent[0].as_str();
    let ran = spool_cli(&["spool", "show", id, "--admin", admin]).await;
    let shown = ran.clean();
    assert!(shown.starts_with(&format!("id: {id}\n")), "{shown}");
    let fields: HashMap<&str, &str> = shown.lines().filter_map(|l| l.split_once(": ")).collect();
    for (key, value) in [
        ("route", "github"),
        ("state", "dead"),
        ("attempts", "2"),
        ("last_status", "500"),
        ("dead_reason", "retries_exhausted"),
        ("delivery_id", "spool-cli-0"),
        ("next_attempt_at", "-"),
    ] {
        assert_eq!(fields.get(key), Some(&value), "{key}:\n{shown}");
    }
    let ran = spool_cli(&["spool", "show", id, "--admin", admin, "--json"]).await;
    let from_cli: Value = serde_json::from_str(ran.clean()).expect("one JSON document");
    let from_api = hookwall.admin_get(&format!("/spool/{id}")).await;
    assert_eq!(
        from_cli,
        serde_json::from_slice::<Value>(&from_api.body).unwrap()
    );
    let ran = spool_cli(&["spool", "show", "sp_nope", "--admin", admin]).await;
    assert_eq!(ran.failed(), "hookwall: no delivery `sp_nope`\n");
    assert_eq!(ran.stdout, "");

    // retry: tried now, and the app gets it.
    let ran = spool_cli(&["spool", "retry", id, "--admin", admin]).await;
    assert_eq!(ran.clean(), format!("retried {id}\n"));
    eventually(10.0, "the retried delivery at the app", || app.hits() == 7).await;
    assert_eq!(app.last().header("x-hookwall-spool-id"), Some(id));
    assert_eq!(app.last().header("x-hookwall-attempt"), Some("3"));

    // drop: gone, so a second drop finds nothing.
    let dropped = sent[1].as_str();
    let ran = spool_cli(&["spool", "drop", dropped, "--admin", admin]).await;
    assert_eq!(ran.clean(), format!("dropped {dropped}\n"));
    let ran = spool_cli(&["spool", "drop", dropped, "--admin", admin]).await;
    assert_eq!(
        ran.failed(),
        format!("hookwall: no pending or dead delivery `{dropped}`\n")
    );

    // redrive: the one still dead is tried now.
    let ran = spool_cli(&["spool", "redrive", "--route", "github", "--admin", admin]).await;
    assert_eq!(ran.clean(), "redrove 1 dead delivery of route github\n");
    eventually(10.0, "the redriven delivery at the app", || app.hits() == 8).await;
    assert_eq!(
        app.last().header("x-hookwall-spool-id"),
        Some(sent[2].as_str())
    );
    let delivered = listed(admin, "delivered", 2).await;
    assert_eq!(
        sorted(delivered),
        sorted(vec![sent[0].clone(), sent[2].clone()])
    );
    let ran = spool_cli(&[
        "spool", "list", "--admin", admin, "--state", "dead", "--route", "github",
    ])
    .await;
    assert_eq!(ran.clean(), "no dead deliveries of route github\n");
    let ran = spool_cli(&[
        "spool", "--admin", admin, "--json", "redrive", "--route", "github",
    ])
    .await;
    let answer: Value = serde_json::from_str(ran.clean()).expect("one JSON document");
    assert_eq!(answer, json!({"route": "github", "redriven": 0}));
}

#[tokio::test]
async fn spool_fails_with_one_line_when_nothing_listens_at_the_admin_address() {
    let addr = Upstream::dead_addr().await;
    let ran = spool_cli(&["spool", "list", "--admin", &format!("http://{addr}")]).await;
    let stderr = ran.failed();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "hookwall: cannot reach the admin listener at {addr}: "
        )),
        "{stderr}"
    );
    assert!(stderr.contains("os error"), "{stderr}");
    assert!(
        stderr.ends_with("; is hookwall running with an [admin] table?\n"),
        "{stderr}"
    );
    assert_eq!(ran.stdout, "");

    let ran = spool_cli(&["spool", "retry", "sp_1", "--admin", "https://127.0.0.1:1"]).await;
    ran.fails_with("hookwall: --admin `https://127.0.0.1:1`: the admin listener speaks plain HTTP");
    let ran = spool_cli(&[
        "spool",
        "show",
        "../metrics",
        "--admin",
        "http://127.0.0.1:1",
    ])
    .await;
    ran.fails_with("hookwall: \"../metrics\" is not a spool id");
}

#[tokio::test(flavor = "multi_thread")]
async fn spool_needs_the_admin_token_and_says_whether_it_is_missing_or_wrong() {
    let dir = TempDir::new();
    let app = Upstream::start().await;
    let hookwall = spooling(
        app.addr,
        &dir,
        "token = { env = \"SPOOL_CLI_ADMIN_TOKEN\" }",
    )
    .await;
    let admin = format!("http://{}", hookwall.admin());
    let list = ["spool", "list", "--admin", admin.as_str(), "--json"];
    let with_token = [&list[..], &["--token-env", TOKEN_VAR]].concat();

    let ran = spool_cli(&list).await;
    ran.fails_with(&format!(
        "hookwall: the admin listener at {} needs a token (401): pass --token-env NAME",
        hookwall.admin()
    ));
    let ran = spool_run(&[(TOKEN_VAR, "not-the-admin-token-0000")], &with_token).await;
    let stderr = ran.failed();
    assert!(
        stderr.contains(&format!("refused the token in {TOKEN_VAR} (401)")),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-admin-token-0000"), "{stderr}");
    let ran = spool_cli(&with_token).await;
    assert_eq!(
        ran.failed(),
        format!("hookwall: --token-env {TOKEN_VAR}: the variable is not set\n")
    );
    let ran = spool_run(&[(TOKEN_VAR, "")], &with_token).await;
    assert_eq!(
        ran.failed(),
        format!("hookwall: --token-env {TOKEN_VAR}: the variable is empty\n")
    );

    let ran = spool_run(&[(TOKEN_VAR, ADMIN_TOKEN)], &with_token).await;
    let list: Value = serde_json::from_str(ran.clean()).expect("one JSON document");
    assert_eq!(list, json!({"deliveries": []}));
    // A state change passes the token and the admin header: the spool itself answers.
    let retry = [
        "spool",
        "retry",
        "sp_nope",
        "--admin",
        &admin,
        "--token-env",
        TOKEN_VAR,
    ];
    let ran = spool_run(&[(TOKEN_VAR, ADMIN_TOKEN)], &retry).await;
    assert_eq!(
        ran.failed(),
        "hookwall: no pending or dead delivery `sp_nope`\n"
    );
    assert!(!ran.stdout.contains(ADMIN_TOKEN) && !ran.stderr.contains(ADMIN_TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn spool_finds_the_admin_listener_in_the_config_file() {
    let dir = TempDir::new();
    let app = Upstream::start_with(Behaviour {
        status: http::StatusCode::INTERNAL_SERVER_ERROR,
        ..Behaviour::default()
    })
    .await;
    let hookwall = spooling(app.addr, &dir, "").await;
    let id = post_spooled(&hookwall, 1).await;
    // The kit binds the admin listener to a port of its own; this file names that port.
    // The route's secret variable is not set: finding the listener loads no secret.
    let config = dir.write(
        "hookwall.toml",
        &spool_config(app.addr, &dir, &hookwall.admin().to_string(), ""),
    );
    let config = config.to_str().expect("a UTF-8 path");
    let ran = spool_cli(&["--config", config, "spool", "show", &id, "--json"]).await;
    let shown: Value = serde_json::from_str(ran.clean()).expect("one JSON document");
    assert_eq!(
        (&shown["id"], &shown["route"]),
        (&json!(id), &json!("github"))
    );
    let ran = spool_cli(&["spool", "list", "-c", config]).await;
    assert!(ran.clean().contains(&id), "{}", ran.stdout);

    let no_admin = dir.write("no-admin.toml", "[server]\nlisten = \"127.0.0.1:0\"\n");
    let ran = spool_cli(&["spool", "list", "--config", no_admin.to_str().unwrap()]).await;
    assert_eq!(
        ran.failed(),
        format!(
            "hookwall: {} has no [admin] table, so hookwall serves no spool API there: add one, \
             or pass --admin http://HOST:PORT\n",
            no_admin.display()
        )
    );
    let bad = dir.write("bad.toml", "[admin]\nlisten = \"everywhere\"\n");
    let ran = spool_cli(&["spool", "list", "--config", bad.to_str().unwrap()]).await;
    ran.fails_with(&format!(
        "hookwall: {}:2:10: [admin]: listen: `everywhere` is not an address",
        bad.display()
    ));
    let ran = spool_cli(&["spool", "list"]).await;
    ran.fails_with("hookwall: no admin listener to ask: pass --admin http://HOST:PORT");
}

#[tokio::test]
async fn spool_reaches_an_admin_listener_on_a_unix_socket() {
    let dir = TempDir::new();
    let socket = dir.join("admin.sock");
    let nowhere = SocketAddr::from(([127, 0, 0, 1], 9));
    let config = dir.write(
        "hookwall.toml",
        &spool_config(nowhere, &dir, &format!("unix:{}", socket.display()), ""),
    );
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&config)
        .env("SPOOL_CLI_GITHUB_SECRET", SPOOL_SECRET)
        .env_remove("RUST_LOG");
    let running = Process::spawn(cmd);
    wait_for_socket(&socket, 30.0, "hookwall's admin listener").await;
    let config = config.to_str().expect("a UTF-8 path");
    let ran = spool_cli(&["--config", config, "spool", "list", "--json"]).await;
    let list: Value = serde_json::from_str(ran.clean()).expect("one JSON document");
    assert_eq!(list, json!({"deliveries": []}));
    let ran = spool_cli(&["--config", config, "spool", "list"]).await;
    assert_eq!(ran.clean(), "no deliveries\n");
    let socket_flag = format!("unix:{}", socket.display());
    let ran = spool_cli(&[
        "spool",
        "redrive",
        "--route",
        "github",
        "--admin",
        &socket_flag,
    ])
    .await;
    assert_eq!(
        ran.clean(),
        "no dead deliveries of route github to redrive\n"
    );
    drop(running);
}
