//! Replay protection end to end, with the in-memory store: a delivery reaches the app once,
//! a failed one can be retried, concurrent copies are held back, and timestamps still bound
//! how long a capture can be replayed at all.

use std::time::Duration;

use http::StatusCode;

use crate::support::{
    github_config, github_signature, start, Behaviour, Hookwall, Reply, Upstream, GITHUB_SECRET,
};

const BODY: &[u8] = br#"{"action":"opened","issue":{"number":7}}"#;
const DELIVERY: &str = "8f1c0a40-cc78-11e3-81ab-4c9367dc0958";

fn signed() -> Vec<(&'static str, String)> {
    vec![
        ("x-hub-signature-256", github_signature(GITHUB_SECRET, BODY)),
        ("x-github-delivery", DELIVERY.to_owned()),
    ]
}

async fn send(hookwall: &Hookwall, headers: &[(&'static str, String)]) -> Reply {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    hookwall.post("/webhooks/github", BODY, &headers).await
}

#[tokio::test]
async fn a_delivery_sent_twice_after_a_200_reaches_the_app_once() {
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
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
    let upstream = Upstream::start_with(Behaviour {
        fail_first: 1,
        ..Behaviour::default()
    })
    .await;
    let hookwall = start(&github_config(upstream.addr)).await;
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
    let dead = Upstream::dead_addr().await;
    let config = github_config(dead);
    let hookwall = start(&config).await;
    assert_eq!(send(&hookwall, &signed()).await.status(), 502);
    assert_eq!(
        send(&hookwall, &signed()).await.status(),
        502,
        "not a duplicate: nothing was delivered"
    );
}

#[tokio::test]
async fn two_concurrent_copies_reach_the_app_once() {
    let upstream = Upstream::start_with(Behaviour {
        delay: Duration::from_millis(300),
        ..Behaviour::default()
    })
    .await;
    let hookwall = std::sync::Arc::new(start(&github_config(upstream.addr)).await);
    let first = {
        let hookwall = std::sync::Arc::clone(&hookwall);
        tokio::spawn(async move { send(&hookwall, &signed()).await })
    };
    while upstream.hits() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = send(&hookwall, &signed()).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.headers["retry-after"], "5");
    assert_eq!(first.await.unwrap().status(), 200);
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn replay_off_forwards_every_copy() {
    let upstream = Upstream::start().await;
    let config = github_config(upstream.addr).replace("secret = {", "replay = \"off\"\nsecret = {");
    let hookwall = start(&config).await;
    for _ in 0..3 {
        assert_eq!(send(&hookwall, &signed()).await.status(), 200);
    }
    assert_eq!(upstream.hits(), 3);
}

#[tokio::test]
async fn a_stripe_replay_outside_the_tolerance_is_401_and_inside_it_a_duplicate() {
    use hmac::Mac as _;
    let upstream = Upstream::start().await;
    let config = format!(
        "[[route]]\npath = \"/stripe\"\nupstream = \"http://{}\"\nprovider = \"stripe\"\nsecret = {{ env = \"GITHUB_SECRET\" }}\ntolerance = \"2s\"\n",
        upstream.addr
    );
    let hookwall = start(&config).await;
    let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |t: u64| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    };
    let header = sign(now);
    let res = hookwall
        .post("/stripe", body, &[("stripe-signature", &header)])
        .await;
    assert_eq!(res.status(), 200);
    let res = hookwall
        .post("/stripe", body, &[("stripe-signature", &header)])
        .await;
    assert_eq!(
        (
            res.status(),
            res.headers["x-hookwall-duplicate"].to_str().unwrap()
        ),
        (200, "true")
    );
    // A capture from before the tolerance: the timestamp refuses it before the store is asked.
    let old = sign(now - 10);
    let res = hookwall
        .post("/stripe", body, &[("stripe-signature", &old)])
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn a_re_spelled_signature_is_still_the_same_delivery() {
    let upstream = Upstream::start().await;
    let hookwall = start(&github_config(upstream.addr)).await;
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
    use hmac::Mac as _;
    let stripe = Upstream::start().await;
    let config = format!(
        "[[route]]\npath = \"/stripe\"\nupstream = \"http://{}\"\nprovider = \"stripe\"\nsecret = {{ env = \"GITHUB_SECRET\" }}\n",
        stripe.addr
    );
    let hookwall = start(&config).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(format!("{now}.").as_bytes());
    mac.update(BODY);
    let v1 = hex::encode(mac.finalize().into_bytes());
    for header in [
        format!("t={now},v1={v1}"),
        format!("v0=abc,v1={v1},t={now}"),
        format!("t={now},v1={},v1={v1}", "0".repeat(64)),
    ] {
        let _ = hookwall
            .post("/stripe", BODY, &[("stripe-signature", &header)])
            .await;
    }
    assert_eq!(stripe.hits(), 1);
}

#[tokio::test]
async fn a_twilio_delivery_is_one_delivery_however_its_parameters_are_ordered() {
    use base64::Engine as _;
    use hmac::Mac as _;
    let upstream = Upstream::start().await;
    let config = format!(
        "[[route]]\npath = \"/twilio\"\nupstream = \"http://{}\"\nprovider = \"twilio\"\nsecret = {{ env = \"GITHUB_SECRET\" }}\npublic_url = \"https://hooks.example.com/twilio\"\n",
        upstream.addr
    );
    let hookwall = start(&config).await;
    // Twilio's formula: the URL, then each parameter's name and value, sorted by name.
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(b"https://hooks.example.com/twilioBodyhiFrom+14155550100");
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
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
