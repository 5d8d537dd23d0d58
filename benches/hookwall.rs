//! Criterion micro-benchmarks: signature verification per scheme family and body size, route
//! lookup with few and many routes, the replay store, and the whole in-process request path
//! (route, read, verify, forward to an in-process upstream, answer).
//!
//! Run with `cargo bench --bench hookwall`; `docs/BENCHMARKS.md` has the figures and how
//! they compare with the load runs in `bench/`.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use hookwall::scheme::{self, Options, Scheme, Signed};
use hookwall::secret::{Secret, SecretSource};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};

const SECRET: &str = "bench-secret-3c9f1e77a0";
const SIZES: [usize; 3] = [1 << 10, 64 << 10, 1 << 20];

fn body(len: usize) -> Vec<u8> {
    // JSON-ish bytes, like a push event.
    let unit = br#"{"ref":"refs/heads/main","commits":[{"id":"8c2f","message":"bench"}]},"#;
    unit.iter().copied().cycle().take(len).collect()
}

fn secret() -> Vec<Secret> {
    vec![Secret::from_bytes(
        SECRET,
        SecretSource::Env("BENCH".into()),
    )]
}

fn mac256(parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// A scheme and the headers of a valid delivery of `body`.
fn case(provider: &'static str, body: &[u8], now: u64) -> (Arc<dyn Scheme>, HeaderMap) {
    let mut h = HeaderMap::new();
    let t = now.to_string();
    let scheme = match provider {
        "github" => {
            h.insert(
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(mac256(&[body])))
                    .parse()
                    .unwrap(),
            );
            scheme::build(
                &Options {
                    provider,
                    ..Options::default()
                },
                secret(),
            )
            .unwrap()
        }
        "stripe" => {
            let sig = hex::encode(mac256(&[t.as_bytes(), b".", body]));
            h.insert(
                "stripe-signature",
                format!("t={t},v0=00,v1={sig}").parse().unwrap(),
            );
            scheme::build(
                &Options {
                    provider,
                    ..Options::default()
                },
                secret(),
            )
            .unwrap()
        }
        "standard-webhooks" => {
            let key = b"standard-webhooks-bench-key-0123";
            let whsec = format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(key)
            );
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            m.update(b"msg_1.");
            m.update(t.as_bytes());
            m.update(b".");
            m.update(body);
            let sig = base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes());
            h.insert("webhook-id", HeaderValue::from_static("msg_1"));
            h.insert("webhook-timestamp", t.parse().unwrap());
            h.insert("webhook-signature", format!("v1,{sig}").parse().unwrap());
            let secrets = vec![Secret::from_bytes(whsec, SecretSource::Env("BENCH".into()))];
            scheme::build(
                &Options {
                    provider,
                    ..Options::default()
                },
                secrets,
            )
            .unwrap()
        }
        "discord" => {
            use ed25519_dalek::Signer;
            let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
            let sig = key.sign(&[t.as_bytes(), body].concat());
            h.insert(
                "x-signature-ed25519",
                hex::encode(sig.to_bytes()).parse().unwrap(),
            );
            h.insert("x-signature-timestamp", t.parse().unwrap());
            let opts = Options {
                provider,
                public_keys: vec![hex::encode(key.verifying_key().as_bytes())],
                ..Options::default()
            };
            scheme::build(&opts, Vec::new()).unwrap()
        }
        other => panic!("no bench case for {other}"),
    };
    (scheme, h)
}

fn verification(c: &mut Criterion) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let uri = Uri::from_static("/hooks");
    for provider in ["github", "stripe", "standard-webhooks", "discord"] {
        let mut group = c.benchmark_group(format!("verify/{provider}"));
        for size in SIZES {
            let body = body(size);
            let (scheme, headers) = case(provider, &body, secs);
            let signed = Signed {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            assert!(
                scheme.verify(&signed, now).is_ok(),
                "{provider} bench case must verify"
            );
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::from_parameter(size), &signed, |b, signed| {
                b.iter(|| black_box(scheme.verify(black_box(signed), now)).is_ok())
            });
        }
        group.finish();
    }
}

fn env(_: &str) -> Option<String> {
    Some(SECRET.to_owned())
}

/// A config of `n` routes: half exact paths, half prefixes, all GitHub.
fn config_text(n: usize, upstream: SocketAddr) -> String {
    let mut text =
        String::from("[server]\nlisten = \"127.0.0.1:0\"\n[replay]\nmax_entries = 1000\n");
    for i in 0..n {
        let key = if i % 2 == 0 { "path" } else { "path_prefix" };
        let slash = if i % 2 == 0 { "" } else { "/" };
        text.push_str(&format!(
            "[[route]]\n{key} = \"/hooks/r{i}{slash}\"\nupstream = \"http://{upstream}\"\nprovider = \"github\"\nsecret = {{ env = \"S\" }}\nreplay = \"off\"\n"
        ));
    }
    text
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup");
    for n in [10usize, 10_000] {
        let config = hookwall::config::parse(
            &config_text(n, "127.0.0.1:9".parse().unwrap()),
            Path::new("b.toml"),
            &env,
        )
        .unwrap();
        let table = hookwall::routing::RouteTable::new(config.routes);
        let exact = format!("/hooks/r{}", (n / 2) & !1);
        let prefixed = format!("/hooks/r{}/deep/path", ((n / 2) & !1) + 1);
        group.bench_with_input(BenchmarkId::new("exact", n), &exact, |b, p| {
            b.iter(|| table.find(black_box(p)))
        });
        group.bench_with_input(BenchmarkId::new("prefix", n), &prefixed, |b, p| {
            b.iter(|| table.find(black_box(p)))
        });
        group.bench_with_input(
            BenchmarkId::new("miss", n),
            &"/nowhere/at/all".to_owned(),
            |b, p| b.iter(|| table.find(black_box(p))),
        );
    }
    group.finish();
}

fn replay_store(c: &mut Criterion) {
    let store = hookwall::replay::MemoryStore::new(100_000);
    let mut group = c.benchmark_group("replay");
    let mut i = 0u64;
    group.bench_function("memory_claim_deliver", |b| {
        b.iter(|| {
            i += 1;
            let key = format!("hookwall:bench:sig:{i:016x}");
            let now = tokio::time::Instant::now();
            store.claim(&key, Duration::from_secs(20), now);
            store.deliver(&key, Duration::from_secs(300), now);
        })
    });
    group.finish();
}

/// An in-process upstream answering 200 to everything.
async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from_static(b"ok\n"),
                        )))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn request_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(upstream());
    let config = hookwall::config::parse(&config_text(2, addr), Path::new("b.toml"), &env).unwrap();
    let proxy = Arc::new(hookwall::proxy::Proxy::new(
        config,
        hookwall::metrics::Metrics::new(),
    ));
    let peer = hookwall::listener::Peer::Tcp("127.0.0.1:50000".parse().unwrap());
    let mut group = c.benchmark_group("request_path");
    for size in [1usize << 10, 16 << 10] {
        let body = Bytes::from(body(size));
        let sig = format!("sha256={}", hex::encode(mac256(&[&body])));
        group.throughput(Throughput::Bytes(size as u64));
        let make = |sig: &str| {
            Request::post("/hooks/r0")
                .header("host", "bench.example")
                .header("x-hub-signature-256", sig)
                .body(Full::new(body.clone()))
                .unwrap()
        };
        group.bench_function(BenchmarkId::new("verified_forwarded", size), |b| {
            b.to_async(&rt).iter(|| {
                let proxy = Arc::clone(&proxy);
                let req = make(&sig);
                async move {
                    let res = proxy.handle(req, peer).await;
                    assert_eq!(res.status(), 200);
                    let _ = res.into_body().collect().await;
                }
            })
        });
        let bad = format!("sha256={}", "0".repeat(64));
        group.bench_function(BenchmarkId::new("rejected", size), |b| {
            b.to_async(&rt).iter(|| {
                let proxy = Arc::clone(&proxy);
                let req = make(&bad);
                async move {
                    let res = proxy.handle(req, peer).await;
                    assert_eq!(res.status(), 401);
                }
            })
        });
    }
    group.finish();
}

/// What the inspector's history costs a request: one `History::record` into a full ring of
/// 1000, the entry built as the request path builds it (its strings copied).
fn history(c: &mut Criterion) {
    use hookwall::history::{Entry, History};
    use hookwall::metrics::Kind;
    let history = History::new(1000);
    let template = Entry {
        at_ms: 1_796_000_000_000,
        route: "github".into(),
        provider: "github",
        method: http::Method::POST,
        path: "/webhooks/github".into(),
        outcome: Kind::Forwarded,
        reason: "",
        status: 200,
        upstream_status: Some(200),
        delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958".into()),
        verified: true,
        request_id: "0161e0fecc0e18a98bb0a4d456b34df0".into(),
        client: Some("192.0.2.10".into()),
        elapsed_us: 850,
        slot: Some(0),
    };
    for n in 0..1000u64 {
        history.record(Entry {
            at_ms: template.at_ms + n,
            ..template.clone()
        });
    }
    c.bench_function("history/record", |b| {
        b.iter(|| history.record(template.clone()));
    });
}

criterion_group!(
    benches,
    verification,
    routing,
    replay_store,
    request_path,
    history
);
criterion_main!(benches);
