//! What the e2e tests add to the kit (`hookwall_testkit`): their secrets and the lookup that
//! reads them (never `set_var`), config text built from small pieces, the GitHub route most
//! tests stand behind, and the programs some of them run.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

pub use hookwall_testkit::client::{build, raw_status, read_all, Reply};
pub use hookwall_testkit::harness::Hookwall;
pub use hookwall_testkit::reference::github_signature;
pub use hookwall_testkit::upstream::{Behaviour, Upstream};

pub const GITHUB_SECRET: &str = "e2e-github-secret-5b1d0c";
pub const CUSTOM_SECRET: &str = "e2e-custom-secret-77ae41";
pub const OLD_SECRET: &str = "e2e-old-secret-0f3e2d";

/// The e2e secrets by variable name: hookwall's secret lookup in these tests.
pub fn env(name: &str) -> Option<String> {
    match name {
        "GITHUB_SECRET" => Some(GITHUB_SECRET.into()),
        "CUSTOM_SECRET" => Some(CUSTOM_SECRET.into()),
        "OLD_SECRET" => Some(OLD_SECRET.into()),
        _ => None,
    }
}

/// hookwall from `config_text` (read with [`env`]) on `127.0.0.1:0`.
pub async fn start(config_text: &str) -> Hookwall {
    Hookwall::from_text(config_text, "e2e.toml", &env).await
}

/// The route key that reads [`GITHUB_SECRET`].
pub const GITHUB_SECRET_LINE: &str = "secret = { env = \"GITHUB_SECRET\" }";
/// The `[server]` setting of [`github_config`].
pub const MAX_BODY: &str = "max_body = \"64KiB\"";

/// A `[server]` table on `127.0.0.1:0` with `settings` (TOML lines).
pub fn server(settings: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:0\"\n{settings}\n\n")
}

/// A `[[route]]` table for `provider` at the exact `path` in front of `upstream`, then `extra`
/// (TOML lines: its name, secret, options).
pub fn route(path: &str, upstream: SocketAddr, provider: &str, extra: &str) -> String {
    route_table(&format!("path = \"{path}\""), upstream, provider, extra)
}

/// [`route`] for every path under `prefix`.
pub fn prefix_route(prefix: &str, upstream: SocketAddr, provider: &str, extra: &str) -> String {
    route_table(
        &format!("path_prefix = \"{prefix}\""),
        upstream,
        provider,
        extra,
    )
}

/// A `[[route]]` table that matches as `matcher` says.
fn route_table(matcher: &str, upstream: SocketAddr, provider: &str, extra: &str) -> String {
    format!(
        "[[route]]\n{matcher}\nupstream = \"http://{upstream}\"\nprovider = \"{provider}\"\n\
         {extra}\n\n"
    )
}

/// A GitHub route at `/webhooks/github` in front of `upstream`, behind a 64 KiB body limit.
pub fn github_config(upstream: SocketAddr) -> String {
    github_config_with(upstream, MAX_BODY, "")
}

/// The GitHub route with `route_extra` added, behind a server with `settings`.
pub fn github_config_with(upstream: SocketAddr, settings: &str, route_extra: &str) -> String {
    let extra = format!("name = \"github\"\n{GITHUB_SECRET_LINE}\n{route_extra}");
    server(settings) + &route("/webhooks/github", upstream, "github", &extra)
}

/// A recording upstream, and hookwall in front of it on [`github_config`].
pub async fn github_proxy() -> (Upstream, Hookwall) {
    github_proxy_with(Behaviour::default(), MAX_BODY).await
}

/// An upstream that behaves as told, and hookwall in front of it on the GitHub route behind
/// a server with `settings`.
pub async fn github_proxy_with(behaviour: Behaviour, settings: &str) -> (Upstream, Hookwall) {
    let upstream = Upstream::start_with(behaviour).await;
    let hookwall = start(&github_config_with(upstream.addr, settings, "")).await;
    (upstream, hookwall)
}

/// POSTs `body` with `headers` to the GitHub route.
pub async fn post_github(hookwall: &Hookwall, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    hookwall.post("/webhooks/github", body, headers).await
}

/// POSTs `body` to the GitHub route, signed with [`GITHUB_SECRET`], with `headers` after the
/// signature.
pub async fn post_signed(hookwall: &Hookwall, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    let signature = github_signature(GITHUB_SECRET, body);
    let mut all = vec![("x-hub-signature-256", signature.as_str())];
    all.extend_from_slice(headers);
    post_github(hookwall, body, &all).await
}

/// The crate's folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python to run: `HOOKWALL_TEST_PYTHON`, else the project's `.venv`. Panics when it is
/// not there, saying `how` to make it.
pub fn python(how: &str) -> PathBuf {
    let python = std::env::var_os("HOOKWALL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(python.exists(), "{} not found: {how}", python.display());
    python
}

/// `program` in a folder on `PATH`, if there is one.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
