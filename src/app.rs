//! The process as a whole: bind a validated [`Config`]'s listeners, report their addresses,
//! serve until a shutdown future resolves. Also reload (SIGHUP, or a caller's own trigger)
//! and the stop signals; the file watcher ([`crate::watch`]) is started from here. `main`
//! and every test harness start hookwall through [`App`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Admin, Config, DeliveryMode};
use crate::delivery::Workers;
use crate::listener::Listener;
use crate::metrics::Metrics;
use crate::proxy::Proxy;
use crate::spool::Spool;
use crate::watch::Watching;

use crate::reload::reload_config;
pub use crate::reload::{reload, Trigger};

/// hookwall with its listeners bound, not yet serving.
pub struct App {
    proxy: Arc<Proxy>,
    listener: Listener,
    admin: Option<(Listener, Admin)>,
    /// The files the config in force names (see [`crate::reload::files`]): a reload by
    /// SIGHUP tells the watcher here.
    named: tokio::sync::watch::Sender<Vec<PathBuf>>,
    /// The file watcher, while it runs.
    watching: Option<Watching>,
}

impl App {
    /// Binds `config`'s public listener and, with an `[admin]` table, the admin listener.
    /// Nothing is served until [`App::run`].
    ///
    /// # Errors
    /// An address or socket path cannot be bound.
    pub async fn bind(config: Config) -> io::Result<App> {
        let listener = Listener::bind(&config.server.listen).await?;
        let admin = match &config.admin {
            Some(a) => Some((Listener::bind(&a.listen).await?, a.clone())),
            None => None,
        };
        let (named, _) = tokio::sync::watch::channel(crate::reload::files(&config));
        let spool = open_spool(&config)?;
        if let Some(spool) = &spool {
            log_durability(spool).await;
        }
        let mut proxy = Proxy::new(config, Metrics::new());
        if let Some(spool) = spool {
            proxy = proxy.with_spool(spool);
        }
        let proxy = Arc::new(proxy);
        Ok(App {
            proxy,
            listener,
            admin,
            named,
            watching: None,
        })
    }

    /// The public listener's address, when it is TCP (the port the kernel chose for `:0`).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, when there is one on TCP.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|(l, _)| l.local_addr())
    }

    /// The request path, shared with the listeners: for reloads and metrics.
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Reloads `path` on every SIGHUP from `hup` (see [`catch_sighup`]) while the app runs.
    #[cfg(unix)]
    pub fn reload_on_sighup(
        self,
        path: PathBuf,
        hup: io::Result<tokio::signal::unix::Signal>,
    ) -> App {
        match hup {
            Ok(hup) => {
                let named = self.named.clone();
                tokio::spawn(reload_on_sighup(hup, path, Arc::clone(&self.proxy), named));
            }
            Err(e) => tracing::warn!(error = %e, "SIGHUP cannot be caught: reload is off"),
        }
        self
    }

    /// Reloads `path` by itself when it or a file it names changes (see [`crate::watch`]),
    /// when `[server] watch` is on (the default). The watcher stops with the app.
    pub fn watch_config(mut self, path: PathBuf) -> App {
        if !self.proxy.snapshot().server().watch {
            tracing::info!("[server] watch = false: reload on SIGHUP only");
            return self;
        }
        let named = self.named.subscribe();
        match Watching::start(path, Arc::clone(&self.proxy), named) {
            Ok(watching) => self.watching = Some(watching),
            Err(e) => {
                tracing::warn!(error = %e, "files cannot be watched: reload on SIGHUP only");
            }
        }
        self
    }

    /// Serves until `shutdown` completes, then drains (see [`crate::server::serve`]). The
    /// admin listener answers through the drain (`/readyz` says 503) and stops with the
    /// public one, or when this future is dropped.
    ///
    /// # Errors
    /// None today: accept errors are logged and serving goes on.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let _admin = self.admin.map(|(listener, admin)| {
            AbortOnDrop(tokio::spawn(crate::admin::serve(
                listener,
                Arc::clone(&self.proxy),
                admin,
            )))
        });
        let workers = self
            .proxy
            .spool()
            .map(|spool| Workers::start(Arc::clone(&self.proxy), Arc::clone(spool)));
        let deadline = self.proxy.snapshot().server().shutdown_timeout;
        let served = crate::server::serve(self.listener, self.proxy, shutdown).await;
        // No reload while the workers finish.
        drop(self.watching);
        if let Some(workers) = workers {
            workers.stop(deadline).await;
        }
        served
    }
}

/// The spool, opened when a route spools.
///
/// # Errors
/// The store cannot be opened (its message names the file).
fn open_spool(config: &Config) -> io::Result<Option<Arc<Spool>>> {
    let spooling = config
        .routes
        .iter()
        .any(|r| r.delivery != DeliveryMode::Forward);
    if !spooling {
        return Ok(None);
    }
    let spool = Spool::open(&config.spool).map_err(io::Error::other)?;
    tracing::info!(store = %config.spool.store, "spool open");
    Ok(Some(Arc::new(spool)))
}

/// Says what an acknowledged delivery is worth in the spool's store. A Redis that does not
/// answer yet is no reason not to start: spooling routes answer 503 until it does.
async fn log_durability(spool: &Spool) {
    let store = &spool.settings().store;
    match spool.store().durability().await {
        Ok(line) => tracing::info!(%store, durability = %line, "spool durability"),
        Err(e) => tracing::warn!(%store, error = %e, "spool store does not answer yet"),
    }
}

/// A background task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Catches SIGHUP, so that from now on a reload request is never taken for the default
/// action (which ends the process). Call it first thing once a runtime exists, before the
/// config is read.
///
/// # Errors
/// The signal cannot be caught.
#[cfg(unix)]
pub fn catch_sighup() -> io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

/// Re-reads the config on every SIGHUP and swaps it in if it is valid; tells the watcher
/// (through `named`) which files the new config names.
#[cfg(unix)]
async fn reload_on_sighup(
    mut hup: tokio::signal::unix::Signal,
    path: PathBuf,
    proxy: Arc<Proxy>,
    named: tokio::sync::watch::Sender<Vec<PathBuf>>,
) {
    while hup.recv().await.is_some() {
        if let Some(files) = reload_config(&path, &proxy, &Trigger::Signal) {
            named.send_replace(files);
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "stop requested"),
        () = term => tracing::info!(signal = "SIGTERM", "stop requested"),
    }
}
