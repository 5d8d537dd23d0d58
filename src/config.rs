//! The TOML config, in two stages: `raw.rs` mirrors the file ([`RawConfig`]: every table
//! denies unknown keys, so a typo fails with its line), then `validate.rs` turns it into a
//! [`Config`] of typed values (`model.rs`: socket addresses, byte counts, durations, loaded
//! secrets and built schemes). Past this module nothing parses a string from the config.
//!
//! Every problem names the file, the route and the key, with a line and column where the
//! TOML parser gives a position (`error.rs`); stage two reports all the problems it finds,
//! not just the first. Secrets are loaded here, so `hookwall check` catches a missing
//! variable or file. Single values are parsed in `values.rs`, TLS material in `tls.rs`.

pub mod addrs;
pub mod duration;
mod error;
mod model;
mod raw;
pub mod size;
mod spool;
mod tls;
mod validate;
mod values;

use std::path::Path;

pub use error::{ConfigError, Problem};
pub use model::{
    redact, AddrList, Admin, Config, DeliveryMode, Listen, PathMatch, RedisUrl, ReplayStore, Route,
    RouteSpool, Server, Spool, SpoolStore, Tls, Upstream,
};
pub use raw::{
    RawAdmin, RawConfig, RawReplay, RawRoute, RawServer, RawSignatureList, RawSpool, RawTls,
};
pub use tls::load_tls;

use crate::secret::{self, EnvLookup};
use error::{line_col, route_at};

/// Defaults, with their units, as documented in `proxy.toml.example`.
pub mod defaults {
    use std::time::Duration;

    pub const LISTEN: &str = "127.0.0.1:8080";
    /// 1 MiB.
    pub const MAX_BODY: u64 = 1 << 20;
    /// GitHub counts a delivery that takes over 10 s as failed.
    pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(9);
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);
    pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const MAX_CONNECTIONS: usize = 10_000;
    pub const MAX_UPSTREAM_CONNECTIONS: usize = 256;
    pub const H2_MAX_STREAMS: u32 = 128;
    pub const REPLAY_MAX_ENTRIES: usize = 100_000;
    /// The replay window of a route whose scheme signs no timestamp.
    pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);
    /// `[spool] store`, next to the config file.
    pub const SPOOL_FILE: &str = "hookwall-spool.db";
    pub const SPOOL_MAX_DELIVERIES: u64 = 100_000;
    /// 1 GiB.
    pub const SPOOL_MAX_BYTES: u64 = 1 << 30;
    /// About 27 h of waits after the first, immediate attempt.
    pub const SPOOL_RETRY_SCHEDULE: [Duration; 7] = [
        Duration::from_secs(5),
        Duration::from_secs(5 * 60),
        Duration::from_secs(30 * 60),
        Duration::from_secs(2 * 3600),
        Duration::from_secs(5 * 3600),
        Duration::from_secs(10 * 3600),
        Duration::from_secs(10 * 3600),
    ];
    pub const SPOOL_MAX_AGE: Duration = Duration::from_secs(3 * 24 * 3600);
    pub const SPOOL_CLAIM_AFTER: Duration = Duration::from_secs(30);
    pub const SPOOL_RETENTION: Duration = Duration::from_secs(72 * 3600);
    pub const SPOOL_DEAD_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
    pub const SPOOL_NO_RETRY_STATUS: [u16; 1] = [410];
    /// A legacy app has few workers.
    pub const SPOOL_MAX_IN_FLIGHT: usize = 4;
    pub const SPOOL_STATUS: u16 = 200;
    /// `[admin] history`: requests the inspector page keeps.
    pub const ADMIN_HISTORY: usize = 1000;
}

/// Loads and validates `path`, reading secrets from the process environment.
///
/// # Errors
/// The file cannot be read, or any problem stage one or two finds.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &secret::process_env)
}

/// Loads and validates `path`, reading secrets through `env`.
///
/// # Errors
/// As [`load`].
pub fn load_with(path: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
    parse(&read(path)?, path, env)
}

/// The text of the config file at `path`.
fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        problems: vec![Problem {
            position: None,
            route: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        }],
    })
}

/// Reads `[admin] listen` from the file at `path`, or `None` when it has no `[admin]` table:
/// where a command such as `hookwall spool` finds the admin listener. Only stage one runs
/// besides that key, so no secret is loaded: the caller needs neither the routes' secrets
/// nor their files.
///
/// # Errors
/// The file cannot be read, does not parse, or its `listen` is not an address.
pub fn admin_listen(path: &Path) -> Result<Option<Listen>, ConfigError> {
    let text = read(path)?;
    let raw = stage_one(&text, path)?;
    let Some(admin) = raw.admin else {
        return Ok(None);
    };
    values::parse_listen(admin.listen.get_ref())
        .map(Some)
        .map_err(|message| ConfigError {
            file: path.to_owned(),
            problems: vec![Problem {
                position: Some(line_col(&text, admin.listen.span().start)),
                route: Some("[admin]".into()),
                key: Some("listen".into()),
                message,
            }],
        })
}

/// Validates config `text` as if read from `path` (relative secret files resolve against its
/// folder), reading secrets through `env`.
///
/// # Errors
/// Every problem found: a stage-one (syntax, unknown key, wrong type) problem alone, or all
/// the stage-two problems.
pub fn parse(text: &str, path: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
    let raw = stage_one(text, path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    validate::Ctx::new(text, base, env)
        .config(&raw, path)
        .map_err(|problems| ConfigError {
            file: path.to_owned(),
            problems,
        })
}

/// Stage one: `text` as the file's tables, every unknown key refused.
fn stage_one(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError {
        file: path.to_owned(),
        // The message only, never toml's rendering of the source line: that line could
        // hold a secret someone wrote inline.
        problems: vec![Problem {
            position: e.span().map(|s| line_col(text, s.start)),
            route: e.span().and_then(|s| route_at(text, s.start)),
            key: None,
            message: e.message().trim_end().to_owned(),
        }],
    })
}

#[cfg(test)]
mod tests;
