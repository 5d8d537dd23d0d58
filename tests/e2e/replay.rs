//! Replay protection end to end, with the in-memory store: a delivery reaches the app once,
//! a failed one can be retried, concurrent copies are held back, and timestamps still bound
//! how long a capture can be replayed at all.

use std::time::Duration;

use hookwall_testkit::reference::{b64, mac1, mac256, now};
use hookwall_testkit::wait::eventually;
use http::StatusCode;

use crate::support::{
    github_config, github_config_with, github_proxy, github_proxy_with, github_signature, route,
    start, Behaviour, Hookwall, Reply, Upstream, GITHUB_SECRET, GITHUB_SECRET_LINE, MAX_BODY,
};

const BODY: &[u8] = br#"{"action":"opened","issue":{"number":7}}"#;
const DELIVERY: &str = "8f1c0a40-cc78-11e3-81ab-4c9367dc0958";

/// GitHub's headers for [`BODY`]: its signature and [`DELIVERY`].
fn signed() -> Vec<(&'static str, String)> {
    vec![
        ("x-hub-signature-256", github_signature(GITHUB_SECRET, BODY)),
        ("x-github-delivery", DELIVERY.to_owned()),
    ]
}

/// POSTs [`BODY`] with `headers` to the GitHub route.
async fn send(hookwall: &Hookwall, headers: &[(&'static str, String)]) -> Reply {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    hookwall.post("/webhooks/github", BODY, &headers).await
}

/// Stripe's hex `v1` for `body` sent at `t`, under [`GITHUB_SECRET`].
fn stripe_v1(t: u64, body: &[u8]) -> String {
    hex::encode(mac256(
        GITHUB_SECRET.as_bytes(),
        &[format!("{t}.").as_bytes(), body],
    ))
}

/// POSTs `body` to the Stripe route with `signature` as its `Stripe-Signature`.
async fn post_stripe(hookwall: &Hookwall, body: &[u8], signature: &str) -> Reply {
    hookwall
        .post("/stripe", body, &[("stripe-signature", signature)])
        .await
}

/// hookwall with a Stripe route at `/stripe` keyed with [`GITHUB_SECRET`], then `extra`.
async fn stripe_proxy(upstream: &Upstream, extra: &str) -> Hookwall {
    let options = format!("{GITHUB_SECRET_LINE}\n{extra}");
    start(&route("/stripe", upstream.addr, "stripe", &options)).await
}

#[tokio::test]
async fn a_delivery_sent_twice_after_a_200_reaches_the_app_once() {
    let (upstream, hookwall) = github_proxy().await;
    let first = send(&hookwall, &signed()).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers.get("x-hookwall-duplicate").is_none());
    let second = send(&hookwall, &signed()).await;
    assert_eq!(
        second.status(),
        200,
        "the sender is told all is well, so it stops retrying"
    );
    assert_eq!(second.headers["x-hookwall-duplicate"], "true");
    assert_eq!(upstream.hits(), 1);
    // The same signed body under another delivery id is the same delivery: an unsigned id
    // cannot be used to slip a replay through.
    let mut other_id = signed();
    other_id[1].1 = "00000000-0000-0000-0000-000000000000".into();
    let third = send(&hookwall, &other_id).await;
    assert_eq!(third.headers["x-hookwall-duplicate"], "true");
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn after_the_app_fails_the_same_delivery_goes_through_again() {
    let failing_once = Behaviour {
        fail_first: 1,
        ..Behaviour::default()
    };
    let (upstream, hookwall) = github_proxy_with(failing_once, MAX_BODY).await;
    assert_eq!(send(&hookwall, &signed()).await.status(), 500);
    let retry = send(&hookwall, &signed()).await;
    assert_eq!(retry.status(), 200);
    assert!(retry.headers.get("x-hookwall-duplicate").is_none());
    assert_eq!(upstream.hits(), 2);
    assert_eq!(
        send(&hookwall, &signed()).await.headers["x-hookwall-duplicate"],
        "true"
    );
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn an_unreachable_upstream_releases_the_delivery_too() {
    let hookwall = start(&github_config(Upstream::dead_addr().await)).await;
    assert_eq!(send(&hookwall, &signed()).await.status(), 502);
    assert_eq!(
        send(&hookwall, &signed()).await.status(),
        502,
        "not a duplicate: nothing was delivered"
    );
}

#[tokio::test]
async fn two_concurrent_copies_reach_the_app_once() {
    let slow = Behaviour {
        delay: Duration::from_millis(300),
        ..Behaviour::default()
    };
    let (upstream, hookwall) = github_proxy_with(slow, MAX_BODY).await;
    let hookwall = std::sync::Arc::new(hookwall);
    let first = {
        let hookwall = std::sync::Arc::clone(&hookwall);
        tokio::spawn(async move { send(&hookwall, &signed()).await })
    };
    eventually(10.0, "the first copy at the upstream", || {
        upstream.hits() > 0
    })
    .await;
    let second = send(&hookwall, &signed()).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.headers["retry-after"], "5");
    assert_eq!(first.await.unwrap().status(), 200);
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn replay_off_forwards_every_copy() {
    let upstream = Upstream::start().await;
    let config = github_config_with(upstream.addr, MAX_BODY, "replay = \"off\"");
    let hookwall = start(&config).await;
    for _ in 0..3 {
        assert_eq!(send(&hookwall, &signed()).await.status(), 200);
    }
    assert_eq!(upstream.hits(), 3);
}

#[tokio::test]
async fn a_stripe_replay_outside_the_tolerance_is_401_and_inside_it_a_duplicate() {
    let upstream = Upstream::start().await;
    let hookwall = stripe_proxy(&upstream, "tolerance = \"2s\"").await;
    let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let now = now();
    let sign = |t: u64| format!("t={t},v1={}", stripe_v1(t, body));
    let header = sign(now);
    let res = post_stripe(&hookwall, body, &header).await;
    assert_eq!(res.status(), 200);
    let res = post_stripe(&hookwall, body, &header).await;
    assert_eq!(
        (
            res.status(),
            res.headers["x-hookwall-duplicate"].to_str().unwrap()
        ),
        (200, "true")
    );
    // A capture from before the tolerance: the timestamp refuses it before the store is asked.
    let res = post_stripe(&hookwall, body, &sign(now - 10)).await;
    assert_eq!(res.status(), 401);
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn a_re_spelled_signature_is_still_the_same_delivery() {
    let (upstream, hookwall) = github_proxy().await;
    assert_eq!(send(&hookwall, &signed()).await.status(), 200);
    // Upper-case hex verifies too; it signs the same message, so it is a duplicate.
    let mut upper = signed();
    upper[0].1 = format!(
        "sha256={}",
        upper[0].1.trim_start_matches("sha256=").to_uppercase()
    );
    assert_eq!(
        send(&hookwall, &upper).await.headers["x-hookwall-duplicate"],
        "true"
    );
    assert_eq!(upstream.hits(), 1);

    // Stripe: extra or reordered list entries do not make a new delivery either.
    let stripe = Upstream::start().await;
    let hookwall = stripe_proxy(&stripe, "").await;
    let now = now();
    let v1 = stripe_v1(now, BODY);
    for header in [
        format!("t={now},v1={v1}"),
        format!("v0=abc,v1={v1},t={now}"),
        format!("t={now},v1={},v1={v1}", "0".repeat(64)),
    ] {
        let _ = post_stripe(&hookwall, BODY, &header).await;
    }
    assert_eq!(stripe.hits(), 1);
}

#[tokio::test]
async fn a_twilio_delivery_is_one_delivery_however_its_parameters_are_ordered() {
    let upstream = Upstream::start().await;
    let options =
        format!("{GITHUB_SECRET_LINE}\npublic_url = \"https://hooks.example.com/twilio\"");
    let hookwall = start(&route("/twilio", upstream.addr, "twilio", &options)).await;
    // Twilio's formula: the URL, then each parameter's name and value, sorted by name.
    let signed: &[u8] = b"https://hooks.example.com/twilioBodyhiFrom+14155550100";
    let sig = b64(&mac1(GITHUB_SECRET.as_bytes(), &[signed]));
    let form = ("content-type", "application/x-www-form-urlencoded");
    for body in [
        &b"Body=hi&From=%2B14155550100"[..],
        b"From=%2B14155550100&Body=hi",
    ] {
        let res = hookwall
            .post("/twilio", body, &[("x-twilio-signature", &sig), form])
            .await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        upstream.hits(),
        1,
        "the same signed parameters are the same delivery"
    );
}
