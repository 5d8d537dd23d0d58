//! The spool API on the admin listener, end to end: deliveries that went dead are listed
//! (metadata, never a body), retried, dropped and redriven, and the app receives what is
//! retried; a state change without `X-Hookwall-Admin: 1`, or naming a foreign `Host`, is
//! refused before it changes anything.

use hookwall_testkit::fs::TempDir;
use hookwall_testkit::wait::eventually;
use serde_json::Value;

use crate::spool::{body, spooling};
use crate::support::{post_signed, Behaviour, Hookwall, Upstream};

const ADMIN: (&str, &str) = ("x-hookwall-admin", "1");
/// Ends `[spool]` and opens the admin listener.
const ADMIN_TABLE: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n";

async fn json(
    hookwall: &Hookwall,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let res = hookwall.admin_request(method, path, headers).await;
    let value = serde_json::from_slice(&res.body)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", res.text()));
    (res.status(), value)
}

/// The ids the API lists in `state`, once it lists `n` of them (within 10 s).
async fn listed(hookwall: &Hookwall, state: &str, n: usize) -> Vec<String> {
    let path = format!("/spool?state={state}&route=github");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, list) = json(hookwall, "GET", &path, &[]).await;
        assert_eq!(status, 200, "{list}");
        let ids: Vec<String> = list["deliveries"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|d| d["id"].as_str().expect("an id").to_owned())
            .collect();
        if ids.len() == n {
            return ids;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} {state} wanted: {list}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn dead_deliveries_are_listed_retried_dropped_and_redriven_through_the_admin_api() {
    let dir = TempDir::new();
    // Two attempts each (one wait), every one of the first six refused: three dead.
    let app = Upstream::start_with(Behaviour {
        fail_first: 6,
        ..Behaviour::default()
    })
    .await;
    let hookwall = spooling(app.addr, &dir, "retry_schedule = [\"30ms\"]", ADMIN_TABLE).await;
    for n in 0..3 {
        assert_eq!(post_signed(&hookwall, &body(n), &[]).await.status(), 200);
    }
    eventually(10.0, "three deliveries dead", || app.hits() == 6).await;
    let mut dead = listed(&hookwall, "dead", 3).await;
    dead.reverse(); // newest first: oldest first now

    let (status, one) = json(&hookwall, "GET", &format!("/spool/{}", dead[0]), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(one["state"], "dead");
    assert_eq!(one["attempts"], 2);
    assert_eq!(one["last_status"], 500);
    assert_eq!(one["dead_reason"], "retries_exhausted");
    assert_eq!(one["route"], "github");
    assert!(
        one["received_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{one}"
    );
    let listing = hookwall.admin_get("/spool?limit=10").await.text();
    for n in 0..3 {
        let sent = String::from_utf8(body(n)).unwrap();
        assert!(!listing.contains(&sent), "a body in the listing: {listing}");
    }
    assert_eq!(json(&hookwall, "GET", "/spool/sp_nope", &[]).await.0, 404);
    assert_eq!(
        json(&hookwall, "GET", "/spool?state=lost", &[]).await.0,
        400
    );

    // Refused: no admin header; a foreign Host (DNS rebinding) even with it.
    let retry = format!("/spool/{}/retry", dead[0]);
    let res = hookwall.admin_request("POST", &retry, &[]).await;
    assert_eq!(res.status(), 403, "{}", res.text());
    let rebound = [ADMIN, ("host", "evil.example:80")];
    assert_eq!(
        hookwall
            .admin_request("POST", &retry, &rebound)
            .await
            .status(),
        403
    );
    assert_eq!(
        hookwall
            .admin_request("GET", "/spool", &rebound[1..])
            .await
            .status(),
        403
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.hits(), 6, "nothing was retried by a refused request");

    let (status, answer) = json(&hookwall, "POST", &retry, &[ADMIN]).await;
    assert_eq!(
        (status, &answer["retried"]),
        (200, &Value::Bool(true)),
        "{answer}"
    );
    eventually(10.0, "the retried delivery", || app.hits() == 7).await;
    let seen = app.last();
    assert_eq!(seen.header("x-hookwall-spool-id"), Some(dead[0].as_str()));
    assert_eq!(seen.header("x-hookwall-attempt"), Some("3"));

    let drop = format!("/spool/{}/drop", dead[1]);
    assert_eq!(json(&hookwall, "POST", &drop, &[ADMIN]).await.0, 200);
    assert_eq!(json(&hookwall, "POST", &drop, &[ADMIN]).await.0, 404);

    let (status, answer) = json(&hookwall, "POST", "/spool/redrive?route=github", &[ADMIN]).await;
    assert_eq!(
        (status, &answer["redriven"]),
        (200, &Value::from(1)),
        "{answer}"
    );
    eventually(10.0, "the redriven delivery", || app.hits() == 8).await;
    assert_eq!(
        app.last().header("x-hookwall-spool-id"),
        Some(dead[2].as_str())
    );
    let scrape = hookwall.scrape().await;
    let dead_total = [("route", "github"), ("reason", "retries_exhausted")];
    assert_eq!(
        scrape.get("hookwall_spool_dead_total", &dead_total),
        Some(3.0)
    );
    let failed = [("route", "github"), ("result", "status_5xx")];
    assert_eq!(
        scrape.get("hookwall_spool_attempts_total", &failed),
        Some(6.0)
    );
    let delivered = listed(&hookwall, "delivered", 2).await;
    assert!(delivered.contains(&dead[0]) && delivered.contains(&dead[2]));
    assert_eq!(listed(&hookwall, "dead", 0).await.len(), 0);
}

#[tokio::test]
async fn the_spool_gauges_and_readyz_follow_what_the_store_holds() {
    let dir = TempDir::new();
    let down = Upstream::dead_addr().await;
    let spool = format!("max_deliveries = 10\n{ADMIN_TABLE}");
    let hookwall = spooling(down, &dir, "retry_schedule = [\"1h\"]", &spool).await;
    for n in 0..9 {
        assert_eq!(post_signed(&hookwall, &body(n), &[]).await.status(), 200);
    }
    // Attempts fail (nothing listens); after five failures in a row (and the attempts
    // already under way then, at most max_in_flight = 4 of them) the route waits for its
    // probe, an hour away, and the deliveries not yet tried wait with it.
    let pending = [("route", "github"), ("state", "pending")];
    let unreachable = [("route", "github"), ("result", "unreachable")];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let scrape = loop {
        let scrape = hookwall.scrape().await;
        let attempts = scrape.get("hookwall_spool_attempts_total", &unreachable);
        let waiting = scrape.get("hookwall_spool_deliveries", &pending);
        if attempts.is_some_and(|a| a >= 5.0) && waiting == Some(9.0) {
            break scrape;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{attempts:?} {waiting:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let later = hookwall.scrape().await;
    let attempts = later.get("hookwall_spool_attempts_total", &unreachable);
    assert_eq!(
        attempts,
        scrape.get("hookwall_spool_attempts_total", &unreachable),
        "no attempt while the route waits for its probe"
    );
    assert!(attempts.is_some_and(|a| a <= 8.0), "{attempts:?}");
    let ready = hookwall.admin_get("/readyz").await;
    assert_eq!(
        ready.status(),
        200,
        "9 of 10 is not above 90 %: {}",
        ready.text()
    );
    assert_eq!(
        scrape.get("hookwall_spool_commit_seconds_count", &[]),
        Some(9.0)
    );
    let bytes = scrape
        .get("hookwall_spool_bytes", &[])
        .expect("spool bytes");
    let bodies: usize = (0..9).map(|n| body(n).len()).sum();
    assert!(
        bytes > bodies as f64,
        "{bytes} bytes kept for {bodies} bytes of bodies"
    );
    let oldest = [("route", "github")];
    let age = scrape.get("hookwall_spool_oldest_pending_seconds", &oldest);
    assert!(age.is_some_and(|a| (0.0..60.0).contains(&a)), "{age:?}");

    assert_eq!(post_signed(&hookwall, &body(9), &[]).await.status(), 200);
    let ready = hookwall.admin_get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert!(ready.text().contains("max_deliveries"), "{}", ready.text());
}

#[tokio::test]
async fn an_operators_retry_lifts_the_pause_of_a_route_that_failed_five_times() {
    let dir = TempDir::new();
    let app = Upstream::start_with(Behaviour {
        fail_first: 5,
        ..Behaviour::default()
    })
    .await;
    // Five quick failures trip the route; its delivery's next attempt is an hour away.
    let schedule = "retry_schedule = [\"30ms\", \"30ms\", \"30ms\", \"30ms\", \"1h\"]";
    let hookwall = spooling(app.addr, &dir, schedule, ADMIN_TABLE).await;
    assert_eq!(post_signed(&hookwall, &body(0), &[]).await.status(), 200);
    eventually(10.0, "five failed attempts", || app.hits() == 5).await;
    let pending = listed(&hookwall, "pending", 1).await;
    // The app is fixed; the operator retries now.
    let retry = format!("/spool/{}/retry", pending[0]);
    let (status, answer) = json(&hookwall, "POST", &retry, &[ADMIN]).await;
    assert_eq!(status, 200, "{answer}");
    eventually(5.0, "the retried delivery to arrive", || app.hits() == 6).await;
    assert_eq!(app.last().header("x-hookwall-attempt"), Some("6"));
    assert_eq!(app.last().body, body(0));
}
