//! End-to-end with signatures made by the providers' own SDKs, never by hookwall:
//! `tests/sdk/sign.py` (stripe, standardwebhooks, svix, slack-sdk, twilio, hubspot-api-client)
//! and `tests/sdk/sign.mjs` (@octokit/webhooks-methods) sign requests at the moment the test
//! runs them; each request then goes through one hookwall, with a route per provider, to a
//! recording upstream. A signed request must reach the upstream with the same body, path and
//! query; the same request with one body byte changed must get 401 and reach nothing.
//!
//! Set-up: `.venv/bin/pip install -r tests/sdk/requirements.txt` (or point
//! `HOOKWALL_TEST_PYTHON` at an interpreter that has them) and `npm ci --prefix tests/sdk`.
//! Without Python and its SDKs the Python test fails; without `node` on `PATH` the octokit
//! test says it was skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;
use serde::Deserialize;

use crate::support::{on_path, python, root, route, server, Hookwall, Reply, Upstream, MAX_BODY};

/// The URL the senders believe they post to, for the schemes that sign it (Twilio, HubSpot).
const PUBLIC_BASE: &str = "https://hooks.example.test";

/// Each secret as the scripts get it (their variable), as hookwall's config names it, and its
/// value. Fixed test values, none of them a well-known default.
const SECRETS: [(&str, &str, &str); 7] = [
    (
        "HOOKWALL_SDK_STRIPE_SECRET",
        "SDK_STRIPE_SECRET",
        // Stripe keys its HMAC with the whole string, prefix included.
        "whsec_e2eSdkStripe7c1f0a9d3b52",
    ),
    (
        "HOOKWALL_SDK_STANDARD_WEBHOOKS_SECRET",
        "SDK_STANDARD_WEBHOOKS_SECRET",
        // whsec_ + base64 of the 32 bytes `hookwall-e2e-standard-webhooks!!`.
        "whsec_aG9va3dhbGwtZTJlLXN0YW5kYXJkLXdlYmhvb2tzISE=",
    ),
    (
        "HOOKWALL_SDK_SVIX_SECRET",
        "SDK_SVIX_SECRET",
        // whsec_ + base64 of the 24 bytes `hookwall-e2e-svix-key-24`, as Svix makes them.
        "whsec_aG9va3dhbGwtZTJlLXN2aXgta2V5LTI0",
    ),
    (
        "HOOKWALL_SDK_SLACK_SECRET",
        "SDK_SLACK_SECRET",
        "e2e-sdk-slack-signing-5a1c9e",
    ),
    (
        "HOOKWALL_SDK_TWILIO_TOKEN",
        "SDK_TWILIO_TOKEN",
        "e2e-sdk-twilio-token-8d2b47",
    ),
    (
        "HOOKWALL_SDK_HUBSPOT_SECRET",
        "SDK_HUBSPOT_SECRET",
        "e2e-sdk-hubspot-client-3f6e10",
    ),
    (
        "HOOKWALL_SDK_GITHUB_SECRET",
        "SDK_GITHUB_SECRET",
        "e2e-sdk-github-secret-91c4d2",
    ),
];

/// One route per provider: its name, the secret variable, whether it signs the URL.
const ROUTES: [(&str, &str, bool); 7] = [
    ("stripe", "SDK_STRIPE_SECRET", false),
    ("standard-webhooks", "SDK_STANDARD_WEBHOOKS_SECRET", false),
    ("svix", "SDK_SVIX_SECRET", false),
    ("slack", "SDK_SLACK_SECRET", false),
    ("twilio", "SDK_TWILIO_TOKEN", true),
    ("hubspot", "SDK_HUBSPOT_SECRET", true),
    ("github", "SDK_GITHUB_SECRET", false),
];

const PYTHON_PROVIDERS: [&str; 6] = [
    "stripe",
    "standard-webhooks",
    "svix",
    "slack",
    "twilio",
    "hubspot",
];

/// hookwall's secret lookup for these tests (never the process environment).
fn env(name: &str) -> Option<String> {
    SECRETS
        .iter()
        .find(|(_, var, _)| *var == name)
        .map(|(_, _, value)| (*value).to_owned())
}

/// The config: a route at `/sdk/<provider>` for each provider, all to `upstream`. Replay
/// protection is off: some cases are the same signed message spelled differently on purpose
/// (a Twilio pair sent twice), and here each must reach the upstream to show it verified.
fn config(upstream: SocketAddr) -> String {
    let mut text = server(MAX_BODY);
    for (provider, var, signs_url) in ROUTES {
        let mut extra =
            format!("name = \"sdk-{provider}\"\nsecret = {{ env = \"{var}\" }}\nreplay = \"off\"");
        if signs_url {
            write!(extra, "\npublic_url = \"{PUBLIC_BASE}/sdk/{provider}\"").unwrap();
        }
        text += &route(&format!("/sdk/{provider}"), upstream, provider, &extra);
    }
    text
}

/// POSTs `body` to the case's path and query with its headers, over a fresh connection.
async fn send(hookwall: &Hookwall, case: &Case, body: &[u8]) -> Reply {
    let mut headers: Vec<(&str, &str)> = case
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.push(("content-type", &case.content_type));
    hookwall.post(&case.target(), body, &headers).await
}

/// One signed request, as the scripts print it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    provider: String,
    path: String,
    /// Without the `?`; empty for none.
    query: String,
    content_type: String,
    headers: BTreeMap<String, String>,
    body_b64: String,
}

impl Case {
    /// The path, and the query if there is one.
    fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// The body, decoded.
    fn body(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body_b64)
            .unwrap_or_else(|e| panic!("{}: body_b64 is not base64: {e}", self.name))
    }
}

/// Runs a signing script with the secrets and the public base URL in its environment, right
/// before the cases are sent (the SDKs stamp the current time), and reads its cases.
async fn run_script(program: &Path, script: &Path, args: &[&str]) -> Vec<Case> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg(script)
        .args(args)
        .env("HOOKWALL_SDK_PUBLIC_BASE", PUBLIC_BASE)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (var, _, value) in SECRETS {
        cmd.env(var, value);
    }
    let shown = format!("{} {}", program.display(), script.display());
    let out = cmd
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run `{shown}`: {e}"));
    assert!(
        out.status.success(),
        "`{shown}` failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "`{shown}` printed no list of cases ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Every expected provider has a case, no other does, and names are unique.
fn assert_covers(cases: &[Case], providers: &[&str]) {
    let got: BTreeSet<&str> = cases.iter().map(|c| c.provider.as_str()).collect();
    let want: BTreeSet<&str> = providers.iter().copied().collect();
    assert_eq!(
        got, want,
        "the script signed for other providers than expected"
    );
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "case names repeat");
}

/// `body` with one byte changed: the first ASCII letter or digit from the middle on, XOR 1
/// (so it stays printable, and a form body still decodes to other values).
fn tampered(body: &[u8]) -> (usize, Vec<u8>) {
    let mid = body.len() / 2;
    let at = (mid..body.len())
        .chain(0..mid)
        .find(|&i| body[i].is_ascii_alphanumeric())
        .expect("a body with a letter or a digit to change");
    let mut out = body.to_vec();
    out[at] ^= 1;
    (at, out)
}

/// Sends every case, then its tampered copy, and checks what the upstream saw. Every case is
/// run; the failures are reported together.
async fn check_cases(hookwall: &Hookwall, upstream: &Upstream, cases: &[Case], signer: &str) {
    let mut failures = Vec::new();
    for case in cases {
        let problems = check_case(hookwall, upstream, case).await;
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({}, signed by the {signer}):\n    {}",
                case.name,
                case.provider,
                problems.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} SDK-signed cases failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

/// One case: the signed request passes, whole, to the upstream; a copy with one body byte
/// changed is refused and goes nowhere. Returns what went wrong.
async fn check_case(hookwall: &Hookwall, upstream: &Upstream, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let body = case.body();
    let before = upstream.hits();

    let res = send(hookwall, case, &body).await;
    if res.status() != 200 || res.body != "upstream ok\n" {
        problems.push(format!(
            "signed request: expected the upstream's 200, got {} {:?}",
            res.status(),
            String::from_utf8_lossy(&res.body)
        ));
    }
    match upstream.hits() - before {
        0 => problems.push("signed request: never reached the upstream".into()),
        1 => {
            let seen = upstream.seen().pop().unwrap();
            let mut expect = |what: &str, ok: bool, got: String| {
                if !ok {
                    problems.push(format!("upstream saw another {what}: {got}"));
                }
            };
            expect("method", seen.method == "POST", seen.method.clone());
            expect(
                "path and query",
                seen.uri == case.target(),
                format!("{:?}, sent {:?}", seen.uri, case.target()),
            );
            expect(
                "body",
                seen.body == body,
                format!("{:?}", String::from_utf8_lossy(&seen.body)),
            );
            let header = |name: &str| seen.headers.get(name).map(http::HeaderValue::as_bytes);
            expect(
                "x-hookwall-verified",
                header("x-hookwall-verified") == Some(case.provider.as_bytes()),
                format!("{:?}", seen.headers.get("x-hookwall-verified")),
            );
            expect(
                "content-type",
                header("content-type") == Some(case.content_type.as_bytes()),
                format!("{:?}", seen.headers.get("content-type")),
            );
            for (name, value) in &case.headers {
                expect(
                    &format!("{name} header"),
                    header(name) == Some(value.as_bytes()),
                    format!("{:?}", seen.headers.get(name.as_str())),
                );
            }
        }
        n => problems.push(format!("signed request: reached the upstream {n} times")),
    }

    let hits = upstream.hits();
    let (at, changed) = tampered(&body);
    let res = send(hookwall, case, &changed).await;
    if res.status() != 401 || res.body != "unauthorized\n" {
        problems.push(format!(
            "body byte {at} changed ({:?} -> {:?}): expected 401, got {} {:?}",
            char::from(body[at]),
            char::from(changed[at]),
            res.status(),
            String::from_utf8_lossy(&res.body)
        ));
    }
    if upstream.hits() != hits {
        problems.push(format!(
            "body byte {at} changed: the tampered copy reached the upstream"
        ));
    }
    problems
}

/// The interpreter with the SDKs: `HOOKWALL_TEST_PYTHON`, else the project's `.venv`.
fn sdk_python() -> PathBuf {
    python(
        "make the virtualenv and install the SDKs \
         (`python3 -m venv .venv && .venv/bin/pip install -r tests/sdk/requirements.txt`), \
         or set HOOKWALL_TEST_PYTHON to an interpreter that has them",
    )
}

/// `node` on `PATH`, if there is one.
fn node() -> Option<PathBuf> {
    on_path("node").or_else(|| on_path("node.exe"))
}

#[tokio::test]
async fn python_sdk_signatures_pass_end_to_end_and_tampered_copies_are_refused() {
    let python = sdk_python();
    let upstream = Upstream::start().await;
    let hookwall = Hookwall::from_text(&config(upstream.addr), "sdk-e2e.toml", &env).await;
    let cases = run_script(&python, &root().join("tests/sdk/sign.py"), &[]).await;
    assert_covers(&cases, &PYTHON_PROVIDERS);
    check_cases(&hookwall, &upstream, &cases, "provider's Python SDK").await;
}

#[tokio::test]
async fn octokit_signatures_pass_end_to_end_and_tampered_copies_are_refused() {
    let Some(node) = node() else {
        println!("sdk: `node` is not on PATH; the octokit (GitHub) case was skipped");
        return;
    };
    assert!(
        root()
            .join("tests/sdk/node_modules/@octokit/webhooks-methods")
            .is_dir(),
        "@octokit/webhooks-methods is not installed: run `npm ci --prefix tests/sdk`"
    );
    let upstream = Upstream::start().await;
    let hookwall = Hookwall::from_text(&config(upstream.addr), "sdk-e2e.toml", &env).await;
    let cases = run_script(&node, &root().join("tests/sdk/sign.mjs"), &[]).await;
    assert_covers(&cases, &["github"]);
    check_cases(&hookwall, &upstream, &cases, "@octokit/webhooks-methods").await;
}
