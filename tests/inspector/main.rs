//! The inspector page in a real browser: Debian's headless chromium, driven by Selenium
//! through Debian's chromium-driver (`tests/browser/drive_page.py`; `.ci/run` installs them).
//! After known traffic (forwarded, refused for several reasons, a spooled delivery that went
//! dead) the page shows each route, outcome and reason; an attacker's delivery id renders as
//! text and runs nothing; no secret, signature or body is on the page; its Retry form sends
//! the dead delivery to the app; a state change without the form's token, or naming a
//! foreign `Host`, is refused.
//!
//! With `HOOKWALL_SCREENSHOT=PATH` the run also saves the page as a PNG (how
//! `docs/inspector.png` is made).

#![allow(clippy::unwrap_used)]

use std::process::Command;

use hookwall_testkit::fs::TempDir;
use hookwall_testkit::harness::Hookwall;
use hookwall_testkit::process::{python, repo_root};
use hookwall_testkit::reference::github_signature;
use hookwall_testkit::upstream::{Behaviour, Upstream};
use hookwall_testkit::wait::eventually;
use serde_json::Value;

const SECRET: &str = "inspector-secret-2f7c9b81d4";
const BODY: &[u8] = br#"{"action":"opened","secret_plan":"launch at dawn"}"#;
/// What a forger signs with.
const WRONG: &str = "not-the-secret-8a1e";
const XSS: &str = "<img src=x onerror=\"document.title='pwned'\">";

fn env(name: &str) -> Option<String> {
    (name == "GITHUB_SECRET").then(|| SECRET.to_owned())
}

/// A forwarding GitHub route and a spooling one (two attempts, then dead), the admin
/// listener and a spool in `dir`.
fn config(app: &Upstream, spool_app: &Upstream, dir: &TempDir) -> String {
    format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n\n[spool]\nstore = \"sqlite:{db}\"\n\n\
         [[route]]\nname = \"github\"\npath = \"/webhooks/github\"\nupstream = \"http://{a}\"\n\
         provider = \"github\"\nsecret = {{ env = \"GITHUB_SECRET\" }}\n\n\
         [[route]]\nname = \"github-spooled\"\npath = \"/webhooks/spooled\"\n\
         upstream = \"http://{b}\"\nprovider = \"github\"\nsecret = {{ env = \"GITHUB_SECRET\" }}\n\
         delivery = \"spool\"\nretry_schedule = [\"20ms\"]\n",
        db = dir.join("spool.db").display(),
        a = app.addr,
        b = spool_app.addr,
    )
}

/// A delivery of `body` signed with [`SECRET`], carrying delivery id `id`.
async fn signed(hookwall: &Hookwall, path: &str, id: &str, body: &[u8]) -> u16 {
    let sig = github_signature(SECRET, body);
    let headers = [
        ("x-hub-signature-256", sig.as_str()),
        ("x-github-delivery", id),
        ("content-type", "application/json"),
    ];
    hookwall.post(path, body, &headers).await.status()
}

/// Known traffic: two forwarded, refused for four reasons (one carrying an attacker's
/// delivery id), one spooled delivery that goes dead. Returns the dead delivery's id.
async fn traffic(hookwall: &Hookwall, spool_app: &Upstream) -> String {
    assert_eq!(
        signed(hookwall, "/webhooks/github", "gh-ok-1", BODY).await,
        200
    );
    assert_eq!(
        signed(hookwall, "/webhooks/github", "gh-ok-2", b"{}").await,
        200
    );
    let unsigned = [("x-github-delivery", XSS)];
    assert_eq!(
        hookwall
            .post("/webhooks/github?token=querysecret", BODY, &unsigned)
            .await
            .status(),
        401
    );
    let wrong = github_signature(WRONG, BODY);
    let forged = [
        ("x-hub-signature-256", wrong.as_str()),
        ("x-github-delivery", "gh-forged"),
    ];
    assert_eq!(
        hookwall
            .post("/webhooks/github", BODY, &forged)
            .await
            .status(),
        401
    );
    assert_eq!(
        hookwall
            .request("GET", "/webhooks/github", b"", &[])
            .await
            .status(),
        405
    );
    assert_eq!(hookwall.post("/nowhere", BODY, &[]).await.status(), 404);
    let res = {
        let sig = github_signature(SECRET, BODY);
        let headers = [
            ("x-hub-signature-256", sig.as_str()),
            ("x-github-delivery", "gh-dead"),
        ];
        hookwall.post("/webhooks/spooled", BODY, &headers).await
    };
    assert_eq!(res.status(), 200);
    let id = res.header("x-hookwall-spool-id").unwrap().to_owned();
    eventually(10.0, "two failed attempts", || spool_app.hits() == 2).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let res = hookwall.admin_get(&format!("/spool/{id}")).await;
        let v: Value = serde_json::from_slice(&res.body).unwrap();
        if v["state"] == "dead" {
            return id;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// What the browser saw (see `tests/browser/drive_page.py`).
fn browse(url: &str, dead: &str) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(repo_root().join("tests/browser/drive_page.py"))
        .arg(url)
        .arg(dead);
    if let Some(shot) = std::env::var_os("HOOKWALL_SCREENSHOT") {
        cmd.arg("--screenshot").arg(shot);
    }
    let out = cmd.output().expect("python runs");
    assert!(
        out.status.success(),
        "drive_page.py failed (run `bash .ci/run`: it installs chromium, chromium-driver and selenium):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_what_happened_escapes_what_attackers_sent_and_its_retry_works() {
    let dir = TempDir::new();
    let app = Upstream::start().await;
    // Two 500s, then 200: the spooled delivery goes dead after its two attempts, and the
    // Retry button's attempt is taken.
    let spool_app = Upstream::start_with(Behaviour {
        fail_first: 2,
        ..Behaviour::default()
    })
    .await;
    let hookwall =
        Hookwall::from_text(&config(&app, &spool_app, &dir), "inspector.toml", &env).await;
    let dead = traffic(&hookwall, &spool_app).await;

    // Refused before the browser: a POST without the header or the form's token, and one
    // naming a foreign Host (a rebound DNS name) even with the header.
    let retry = format!("/spool/{dead}/retry");
    assert_eq!(
        hookwall.admin_request("POST", &retry, &[]).await.status(),
        403
    );
    let rebound = [("x-hookwall-admin", "1"), ("host", "evil.example")];
    assert_eq!(
        hookwall
            .admin_request("POST", &retry, &rebound)
            .await
            .status(),
        403
    );
    assert_eq!(
        hookwall
            .admin_request("GET", "/", &rebound[1..])
            .await
            .status(),
        403
    );
    assert_eq!(spool_app.hits(), 2, "nothing retried by a refused request");

    let seen = browse(&format!("http://{}/", hookwall.admin()), &dead);
    let text = seen["text"].as_str().unwrap();
    let source = seen["source"].as_str().unwrap();
    for shown in [
        "github",
        "github-spooled",
        "forwarded",
        "rejected",
        "spooled",
        "missing_signature",
        "signature_mismatch",
        "method_not_allowed",
        "no_route",
        "dead",
        "retries_exhausted",
        "gh-ok-1",
        "(unverified)",
        "env var GITHUB_SECRET",
    ] {
        assert!(
            text.contains(shown),
            "the page does not show {shown:?}:\n{text}"
        );
    }
    // The attacker's id is text on the page, not an element, and ran nothing.
    assert!(
        text.contains(XSS),
        "the attacker's id is not shown as text:\n{text}"
    );
    assert_eq!(seen["images"], 0);
    assert_eq!(seen["scripts"], 0);
    assert_ne!(seen["title"], "pwned");
    // Never a secret, a signature value, a query string or a body: on the page, nor in its
    // JSON.
    let deliveries = hookwall.admin_get("/api/deliveries").await.text();
    let routes = hookwall.admin_get("/api/routes").await.text();
    assert!(deliveries.contains("signature_mismatch") && routes.contains("github-spooled"));
    let (sig, forged) = (
        github_signature(SECRET, BODY),
        github_signature(WRONG, BODY),
    );
    let never = [
        SECRET,
        sig.trim_start_matches("sha256="),
        forged.trim_start_matches("sha256="),
        "launch at dawn",
        "querysecret",
    ];
    for secret in never {
        for (what, text) in [
            ("the page", source),
            ("/api/deliveries", &deliveries),
            ("/api/routes", &routes),
        ] {
            assert!(!text.contains(secret), "{secret:?} is in {what}");
        }
    }

    // The Retry form sends the dead delivery to the app, and lands back on the page.
    assert_eq!(seen["retry_forms"], 1);
    assert_eq!(seen["after_retry_title"], "hookwall inspector");
    eventually(10.0, "the retried delivery at the app", || {
        spool_app.hits() == 3
    })
    .await;
    let last = spool_app.last();
    assert_eq!(last.header("x-hookwall-spool-id"), Some(dead.as_str()));
    assert_eq!(last.body.as_ref(), BODY);
}

#[tokio::test]
async fn with_a_token_the_page_asks_for_it_once_and_keeps_it_in_a_strict_cookie() {
    let app = Upstream::start().await;
    let text = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken = {{ env = \"ADMIN_TOKEN\" }}\n\n\
         [[route]]\nname = \"github\"\npath = \"/webhooks/github\"\nupstream = \"http://{}\"\n\
         provider = \"github\"\nsecret = {{ env = \"GITHUB_SECRET\" }}\n",
        app.addr
    );
    let env = |name: &str| match name {
        "GITHUB_SECRET" => Some(SECRET.to_owned()),
        "ADMIN_TOKEN" => Some("admin-token-61f0c2d9e8".to_owned()),
        _ => None,
    };
    let hookwall = Hookwall::from_text(&text, "inspector.toml", &env).await;
    // No token: the login form, not the page.
    let asked = hookwall.admin_get("/").await;
    assert_eq!(asked.status(), 401);
    assert!(asked.text().contains("action=\"/login\"") && !asked.text().contains("Route table"));
    // A wrong token: asked again, no cookie.
    let wrong = hookwall.admin_form("/login", "token=guess", &[]).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.header("set-cookie").is_none());
    // The right one: a strict, script-proof cookie, and back to the page.
    let right = hookwall
        .admin_form("/login", "token=admin-token-61f0c2d9e8", &[])
        .await;
    assert_eq!((right.status(), right.header("location")), (303, Some("/")));
    let cookie = right.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let page = hookwall
        .admin_request("GET", "/", &[("cookie", pair)])
        .await;
    assert_eq!(page.status(), 200);
    assert!(page.text().contains("Route table"));
    // The cookie alone does not make a state change: that takes the page's form token.
    let post = hookwall
        .admin_request("POST", "/spool/redrive?route=github", &[("cookie", pair)])
        .await;
    assert_eq!(post.status(), 403);
    // Nor does a login from a foreign Host set anything.
    let rebound = [("host", "evil.example")];
    let foreign = hookwall
        .admin_form("/login", "token=admin-token-61f0c2d9e8", &rebound)
        .await;
    assert_eq!(foreign.status(), 403);
    assert!(foreign.header("set-cookie").is_none());
}
