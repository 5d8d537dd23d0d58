//! Source-address allow-lists behind a trusted proxy, end to end, with clients bound to
//! distinct loopback addresses: 127.0.0.2 is the trusted load balancer, 127.0.0.3 the
//! allowed sender, 127.0.0.4 anyone else. Every case asserts what the app saw: the resolved
//! address in `X-Forwarded-For` when allowed, nothing at all when refused.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{
    build, github_config_with, github_signature, start, Hookwall, Reply, Upstream, GITHUB_SECRET,
    MAX_BODY,
};

const PROXY: &str = "127.0.0.2";
const SENDER: &str = "127.0.0.3";
const STRANGER: &str = "127.0.0.4";
const BODY: &[u8] = br#"{"zen":"Practicality beats purity."}"#;

/// A connection to hookwall from `source`.
async fn from(source: &str, hookwall: &Hookwall) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    let ip: IpAddr = source.parse().unwrap();
    socket.bind(SocketAddr::new(ip, 0)).unwrap();
    socket.connect(hookwall.addr()).await.unwrap()
}

/// A signed delivery from `source`, carrying `forwarded_for` as `X-Forwarded-For` if given.
async fn post(hookwall: &Hookwall, source: &str, forwarded_for: Option<&str>) -> Reply {
    let sig = github_signature(GITHUB_SECRET, BODY);
    let mut headers = vec![("x-hub-signature-256", sig.as_str())];
    if let Some(xff) = forwarded_for {
        headers.push(("x-forwarded-for", xff));
    }
    let req = build("POST", "/webhooks/github", BODY, &headers, hookwall.addr());
    hookwall_testkit::client::send(from(source, hookwall).await, req).await
}

async fn allowing(app: &Upstream) -> Hookwall {
    let settings = format!("{MAX_BODY}\ntrusted_proxies = [\"{PROXY}\"]");
    let route = format!("allow_from = [\"{SENDER}/32\"]\nreplay = \"off\"");
    start(&github_config_with(app.addr, &settings, &route)).await
}

#[tokio::test]
async fn only_the_allowed_client_reaches_the_app_with_its_resolved_address() {
    let app = Upstream::start().await;
    let hookwall = allowing(&app).await;

    let res = post(&hookwall, SENDER, None).await;
    assert_eq!(res.status(), 200, "{}", res.text());
    assert_eq!(app.last().header("x-forwarded-for"), Some(SENDER));

    let res = post(&hookwall, STRANGER, None).await;
    assert_eq!(res.status(), 403);
    // From an untrusted peer, a claimed X-Forwarded-For changes nothing.
    assert_eq!(post(&hookwall, STRANGER, Some(SENDER)).await.status(), 403);
    assert_eq!(app.hits(), 1, "the app saw nothing of the refused ones");

    // Behind the trusted proxy: the rightmost untrusted entry decides, a spoofed left entry
    // is ignored, and the app gets the resolved address (never the header as sent).
    assert_eq!(post(&hookwall, PROXY, Some(SENDER)).await.status(), 200);
    assert_eq!(app.last().header("x-forwarded-for"), Some(SENDER));
    let spoofed = format!("198.51.100.66, {SENDER}");
    assert_eq!(post(&hookwall, PROXY, Some(&spoofed)).await.status(), 200);
    assert_eq!(app.last().header("x-forwarded-for"), Some(SENDER));
    let forged = format!("{SENDER}, {STRANGER}");
    assert_eq!(post(&hookwall, PROXY, Some(&forged)).await.status(), 403);
    assert_eq!(
        post(&hookwall, PROXY, Some("not-an-address"))
            .await
            .status(),
        403
    );
    assert_eq!(app.hits(), 3);

    let scrape = hookwall.proxy().metrics().encode();
    assert!(scrape.contains("reason=\"ip_not_allowed\""), "{scrape}");
}

#[tokio::test]
async fn a_refused_client_gets_403_before_its_body_is_read() {
    let app = Upstream::start().await;
    let hookwall = allowing(&app).await;
    let mut stream = from(STRANGER, &hookwall).await;
    // The head promises a body that never comes: the answer must not wait for it.
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nhost: {}\r\ncontent-length: 4096\r\n\r\n",
        hookwall.addr()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert_eq!(app.hits(), 0);
}
