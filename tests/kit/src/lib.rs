//! The one test kit of hookwall's test binaries (`tests/*`) and its fuzz crate: what they
//! share, so each test says only what it checks.
//!
//! - [`reference`]: signatures computed from the providers' documented formulas with `hmac`
//!   and `sha2` directly, never with hookwall's code (a test must not check the code against
//!   itself), and promises checked without the implementation.
//! - [`fs`]: a temporary folder that cleans up after itself.
//! - [`schemes`]: one scheme of every provider and the variants with more to parse, built
//!   with keys the caller picks (what property tests and fuzz targets feed every input to).
//! - With the `harness` feature (the default): [`wait`] (bounded waits), [`upstream`] (a real
//!   HTTP/1.1 server that records what the app received), [`client`] (requests and whole
//!   replies) and [`harness`] (hookwall in-process on `127.0.0.1:0`, through
//!   `hookwall::app::App`; the only module that touches hookwall's server API).
//! - [`metrics`]: the Prometheus text exposition parsed, and expected families built.
//! - [`tls`] (`harness`): a test CA, its leaf certificates, TLS clients and servers.
//! - [`process`] (`harness`): child processes (the binary, a shell, gunicorn), stopped on drop.
//! - [`redis`] (`harness`): a `redis-server` of the test's own on a free port, with or without
//!   an append-only file, stopped, restarted on the same port and folder, killed on drop.
//! - [`wire`] (`harness`): raw HTTP/1.1: chunked bodies, connections read until they close.

pub mod fs;
pub mod metrics;
pub mod reference;
pub mod schemes;

#[cfg(feature = "harness")]
pub mod client;
#[cfg(feature = "harness")]
pub mod harness;
#[cfg(feature = "harness")]
pub mod process;
#[cfg(feature = "harness")]
pub mod redis;
#[cfg(feature = "harness")]
pub mod tls;
#[cfg(feature = "harness")]
pub mod upstream;
#[cfg(feature = "harness")]
pub mod wait;
#[cfg(feature = "harness")]
pub mod wire;
