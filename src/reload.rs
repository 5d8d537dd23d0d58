//! Reloading a running proxy: what asked for it ([`Trigger`]), the reload itself (the same
//! validation as `hookwall check`; a config that fails is not applied and the old one keeps
//! serving), the warnings for what a reload cannot change, and the files a config names
//! (what a reload re-reads, and what the watcher watches). SIGHUP ([`crate::app`]) and the
//! file watcher ([`crate::watch`]) both reload through here.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, DeliveryMode, Upstream};
use crate::proxy::Proxy;
use crate::secret::SecretSource;

/// What asked for a reload, for its log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP, or a caller's own request.
    Signal,
    /// The watcher saw these files change (see [`crate::watch`]).
    Files(Vec<PathBuf>),
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Signal => f.write_str("signal"),
            Trigger::Files(paths) => {
                for (i, path) in paths.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", path.display())?;
                }
                Ok(())
            }
        }
    }
}

/// Reloads `path` into `proxy`: the same validation as `hookwall check`. A config that fails
/// is not applied; the old one keeps serving. Returns whether the new config is in force.
/// `trigger` goes into the log line.
pub fn reload(path: &Path, proxy: &Proxy, trigger: &Trigger) -> bool {
    reload_config(path, proxy, trigger).is_some()
}

/// [`reload`], returning the files the new config names (see [`files`]), or
/// `None` when it failed.
pub(crate) fn reload_config(path: &Path, proxy: &Proxy, trigger: &Trigger) -> Option<Vec<PathBuf>> {
    match config::load(path) {
        Ok(config) => {
            let old = proxy.snapshot();
            let before = old.server();
            if before.listen != config.server.listen
                || before.max_connections != config.server.max_connections
                || before.tls.is_some() != config.server.tls.is_some()
            {
                tracing::warn!(
                    "reload: listen, max_connections and turning TLS on or off take effect at the next restart (a new certificate applies now)"
                );
            }
            if !proxy.same_admin(&config) {
                tracing::warn!("reload: a change to [admin] takes effect at the next restart");
            }
            if !proxy.same_replay_store(&config) {
                tracing::warn!("reload: a change to [replay] takes effect at the next restart");
            }
            if before.watch != config.server.watch {
                tracing::warn!(
                    "reload: a change to [server] watch takes effect at the next restart"
                );
            }
            warn_of_spool_changes(proxy, &config);
            let files = files(&config);
            let routes = config.routes.len();
            // Where each secret was read from: names and paths, never a value.
            let secrets: Vec<String> = config
                .routes
                .iter()
                .flat_map(|r| {
                    r.secret_sources
                        .iter()
                        .map(move |s| format!("{}: {s}", r.name))
                })
                .collect();
            let shadow: Vec<String> = config
                .routes
                .iter()
                .filter(|r| !r.enforce)
                .map(|r| r.name.clone())
                .collect();
            proxy.reload(config);
            proxy.metrics().reload(true);
            tracing::info!(%trigger, routes, shadow = ?shadow, secrets = ?secrets, "config reloaded");
            Some(files)
        }
        Err(e) => {
            proxy.metrics().reload(false);
            // A ConfigError names files, routes and keys, never secret values.
            tracing::error!(%trigger, error = %e, "config reload failed; the previous config keeps serving");
            None
        }
    }
}

/// What a reload cannot change of the spool: `[spool]` itself, and whether one is open.
/// Route keys (`delivery`, `retry_schedule`, `max_in_flight`, `ordered`, `spool_status`)
/// apply at once.
fn warn_of_spool_changes(proxy: &Proxy, config: &Config) {
    let spools = config
        .routes
        .iter()
        .any(|r| r.delivery != DeliveryMode::Forward);
    match proxy.spool() {
        Some(spool) if *spool.settings() != config.spool => tracing::warn!(
            "reload: a change to [spool] takes effect at the next restart (route keys apply now)"
        ),
        None if spools => tracing::warn!(
            "reload: no spool was opened at start, so spooling routes answer 503 spool_unavailable until the next restart"
        ),
        _ => {}
    }
}

/// The files `config` names, the config file itself first: whatever a reload re-reads
/// (secrets, the admin token, TLS, upstream CAs, the allow-list and trusted-proxy files).
/// Relative paths are as the config resolved them (against its folder); the watcher makes
/// them absolute. A new kind of file the config names is one more line here.
///
/// Public keys and `verify_token` files are not in the validated
/// config, so they are not listed: a change to one of them alone is seen only when it
/// comes with a `..data` swap in a watched folder (as in a Kubernetes volume), or on SIGHUP.
pub fn files(config: &Config) -> Vec<PathBuf> {
    let mut files = vec![config.source.clone()];
    let secrets = config.routes.iter().flat_map(|r| &r.secret_sources).chain(
        config
            .admin
            .iter()
            .filter_map(|a| a.token.as_ref())
            .map(|t| t.source()),
    );
    files.extend(secrets.filter_map(|s| match s {
        SecretSource::File(path) => Some(path.clone()),
        SecretSource::Env(_) => None,
    }));
    if let Some(tls) = &config.server.tls {
        files.extend([tls.cert.clone(), tls.key.clone()]);
    }
    files.extend(config.routes.iter().filter_map(|r| match &r.upstream {
        Upstream::Https { ca: Some(ca), .. } => Some(ca.clone()),
        _ => None,
    }));
    let lists = std::iter::once(&config.server.trusted_proxies)
        .chain(config.routes.iter().filter_map(|r| r.allow_from.as_ref()));
    files.extend(lists.filter_map(|l| l.file().map(Path::to_path_buf)));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_lists_the_config_and_its_secret_files_but_no_env_var() {
        let dir = std::env::temp_dir().join(format!("hookwall-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp folder");
        std::fs::write(dir.join("github.secret"), "watch-test-secret-4c1d9e\n").expect("write");
        let text = "[[route]]\npath = \"/a\"\nupstream = \"http://127.0.0.1:1\"\n\
                    provider = \"github\"\nsecret = [{ file = \"github.secret\" }, { env = \"OLD\" }]\n";
        let env = |name: &str| (name == "OLD").then(|| "watch-test-old-77ab20".to_owned());
        let config =
            crate::config::parse(text, &dir.join("proxy.toml"), &env).expect("a valid config");
        assert_eq!(
            files(&config),
            [dir.join("proxy.toml"), dir.join("github.secret")]
        );
        assert!(config.server.watch, "watching is the default");
        let off = format!("[server]\nwatch = false\n{text}");
        let config =
            crate::config::parse(&off, &dir.join("proxy.toml"), &env).expect("a valid config");
        assert!(!config.server.watch);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
