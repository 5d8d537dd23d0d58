//! What the e2e tests add to the kit (`hookwall_testkit`): their secrets and the lookup that
//! reads them (never `set_var`), a GitHub route, and hookwall started from config text.

#![allow(dead_code)]

use std::net::SocketAddr;

pub use hookwall_testkit::client::{build, raw_status, read_all, Reply};
pub use hookwall_testkit::harness::Hookwall;
pub use hookwall_testkit::reference::github_signature;
pub use hookwall_testkit::upstream::{Behaviour, Upstream};

pub const GITHUB_SECRET: &str = "e2e-github-secret-5b1d0c";
pub const CUSTOM_SECRET: &str = "e2e-custom-secret-77ae41";
pub const OLD_SECRET: &str = "e2e-old-secret-0f3e2d";

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

/// A GitHub route at `/webhooks/github` in front of `upstream`.
pub fn github_config(upstream: SocketAddr) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body = "64KiB"

[[route]]
name = "github"
path = "/webhooks/github"
upstream = "http://{upstream}"
provider = "github"
secret = {{ env = "GITHUB_SECRET" }}
"#
    )
}
