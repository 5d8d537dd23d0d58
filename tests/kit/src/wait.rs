//! Bounded waits: a test that waits for something says what, and fails instead of hanging.

use std::future::Future;
use std::time::Duration;

/// Awaits `fut` for at most `secs` seconds, else panics naming `what`.
pub async fn within<T>(secs: f64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs_f64(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s waiting for {what}"),
    }
}

/// Polls `cond` every 10 ms for at most `secs` seconds, else panics naming `what`.
pub async fn eventually(secs: f64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
