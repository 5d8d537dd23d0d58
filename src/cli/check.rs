//! `hookwall check`: load the config as `run` would, and print the route table (secrets by
//! source, never by value), whether a Redis replay store answers and what a Redis spool store
//! makes of an acknowledged delivery; or every problem found.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, duration, size, Config, DeliveryMode, Route};

/// Runs `hookwall check` on `path`: exit 0 if the config is valid, else 1.
pub(super) fn check(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok(config) => {
            print!("{}", route_table(&config));
            if let config::ReplayStore::Redis(url) = &config.replay {
                println!("replay store {}: {}", url, redis_answers(url));
            }
            if let Some(line) = spool_durability(&config) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            let n = e.problems.len();
            eprintln!(
                "{}: {n} problem{}",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}

/// `future`'s output on a runtime of its own, or `None` when none can be built.
fn block_on<F: std::future::Future>(future: F) -> Option<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    Some(runtime.block_on(future))
}

/// Whether the Redis replay store answers `PING`, as a phrase for `check`.
fn redis_answers(url: &config::RedisUrl) -> String {
    block_on(async {
        match crate::replay::RedisStore::new(url).ping().await {
            Ok(()) => "answers".to_owned(),
            Err(e) => format!(
                "DOES NOT ANSWER ({e}); routes with replay protection will answer 503 until it does"
            ),
        }
    })
    .unwrap_or_else(|| "not checked (no runtime)".into())
}

/// For a Redis spool store that a route spools to: what an acknowledged delivery is worth
/// there, or that Redis does not answer.
fn spool_durability(config: &Config) -> Option<String> {
    let config::SpoolStore::Redis(url) = &config.spool.store else {
        return None;
    };
    if config
        .routes
        .iter()
        .all(|r| r.delivery == DeliveryMode::Forward)
    {
        return None;
    }
    let said = block_on(async {
        let spool = crate::spool::Spool::open(&config.spool)?;
        spool.store().durability().await
    });
    Some(match said {
        None => format!("spool store {url}: not checked (no runtime)"),
        Some(Ok(line)) => format!("spool store {url}: {line}"),
        Some(Err(e)) => format!(
            "spool store {url}: DOES NOT ANSWER ({e}); spooling routes will answer 503 until it does"
        ),
    })
}

/// The table `check` prints: a summary line, one line per route (secrets by source only),
/// and the routes in shadow mode.
pub fn route_table(config: &Config) -> String {
    let mut out = summary(config);
    let mut rows = vec![[
        "ROUTE", "MATCH", "METHODS", "PROVIDER", "UPSTREAM", "MAX BODY", "SECRETS",
    ]
    .map(str::to_owned)];
    rows.extend(config.routes.iter().map(row));
    out.push_str(&columns(&rows));
    let shadow: Vec<&str> = config
        .routes
        .iter()
        .filter(|r| !r.enforce)
        .map(|r| r.name.as_str())
        .collect();
    if !shadow.is_empty() {
        let _ = writeln!(
            out,
            "shadow mode (enforce = false: verified, logged and counted, but forwarded even when \
             verification fails): {}",
            shadow.join(", ")
        );
    }
    out.push_str(&spooling(config));
    out.push_str(&allow_lists(config));
    out
}

/// The trusted proxies and each route's `allow_from`, by size and source.
fn allow_lists(config: &Config) -> String {
    let mut out = String::new();
    let trusted = &config.server.trusted_proxies;
    if !trusted.is_empty() {
        let _ = writeln!(
            out,
            "trusted proxies: {trusted} (their X-Forwarded-For names the client)"
        );
    }
    for r in &config.routes {
        if let Some(allowed) = &r.allow_from {
            let _ = writeln!(
                out,
                "route {}: allow_from {allowed}; other clients get 403",
                r.name
            );
        }
    }
    out
}

/// The spool line: its store and limits, then each spooling route's settings.
fn spooling(config: &Config) -> String {
    let routes: Vec<String> = config
        .routes
        .iter()
        .filter(|r| r.delivery != DeliveryMode::Forward)
        .map(|r| {
            let waits: Vec<String> = r
                .spool
                .retry_schedule
                .iter()
                .map(|d| duration::display(*d))
                .collect();
            format!(
                "{} ({}, {} in flight{}, answers {}, retries after {})",
                r.name,
                r.delivery.as_str(),
                r.spool.max_in_flight,
                if r.spool.ordered { ", ordered" } else { "" },
                r.spool.status,
                if waits.is_empty() {
                    "none".to_owned()
                } else {
                    waits.join(", ")
                },
            )
        })
        .collect();
    if routes.is_empty() {
        return String::new();
    }
    let s = &config.spool;
    format!(
        "spool {} (at most {} deliveries and {}, dead after {}): {}\n",
        s.store,
        s.max_deliveries,
        size::Display(s.max_bytes),
        duration::display(s.max_age),
        routes.join("; ")
    )
}

/// The first line: the file, the route count, the listeners and the server's deadlines.
fn summary(config: &Config) -> String {
    let s = &config.server;
    format!(
        "{}: ok: {} route{}, listen {}{}, upstream timeout {}, header timeout {}, body timeout {}{}\n",
        config.source.display(),
        config.routes.len(),
        if config.routes.len() == 1 { "" } else { "s" },
        s.listen,
        if s.tls.is_some() { " (TLS)" } else { "" },
        duration::display(s.upstream_timeout),
        duration::display(s.header_timeout),
        duration::display(s.body_timeout),
        config
            .admin
            .as_ref()
            .map(|a| format!(", admin {}", a.listen))
            .unwrap_or_default(),
    )
}

/// One route's cells.
fn row(r: &Route) -> [String; 7] {
    let mut credentials: Vec<String> = r.secret_sources.iter().map(ToString::to_string).collect();
    match r.public_keys {
        0 => {}
        1 => credentials.push("public key".into()),
        n => credentials.push(format!("{n} public keys")),
    }
    let provider = if r.handshake {
        format!("{}+handshake", r.scheme.provider())
    } else {
        r.scheme.provider().to_owned()
    };
    let methods: Vec<&str> = r.methods.iter().map(http::Method::as_str).collect();
    [
        r.name.clone(),
        r.path.to_string(),
        methods.join(","),
        provider,
        r.upstream.to_string(),
        size::Display(r.max_body).to_string(),
        credentials.join(", "),
    ]
}

/// The rows in aligned columns, the last one unpadded (also `spool list`'s table).
pub(super) fn columns(rows: &[[String; 7]]) -> String {
    let mut widths = [0usize; 7];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
