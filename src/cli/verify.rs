//! `hookwall verify`: a captured request through the same phases the proxy runs (target,
//! route, method, size, then `authenticate`), one line per step, so an operator sees which
//! check fails and why.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;

use super::capture::{parse_capture, Captured};
use crate::config::{self, size, Route};
use crate::proxy::{self, Mark, Rejection};
use crate::routing::RouteTable;
use crate::scheme::{Signed, Verified};

/// `hookwall verify --config F [--route NAME] FILE`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Check against this route (default: the route the request's path selects).
    #[arg(long)]
    pub route: Option<String>,
    /// Evaluate timestamps as of these Unix seconds (default: now), e.g. when the capture was made.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub at: Option<u64>,
    /// The captured request: request line, headers, blank line, body, as sent on the wire
    /// (`-` for stdin).
    pub file: PathBuf,
}

/// The report on stdout: `ok  ` or `FAIL`, the step, what was found.
struct Report<W: Write>(W);

impl<W: Write> Report<W> {
    /// Writes one step; returns whether it passed.
    fn step(&mut self, ok: bool, what: &str, detail: &str) -> std::io::Result<bool> {
        let mark = if ok { "ok  " } else { "FAIL" };
        writeln!(self.0, "{mark} {what}: {detail}")?;
        Ok(ok)
    }
}

/// Runs `hookwall verify`: exit 0 when the request would be forwarded or answered, 1 when a
/// check fails.
///
/// # Errors
/// The config does not load, or the capture cannot be read or parsed.
pub(super) fn verify(
    config_path: &Path,
    args: &VerifyArgs,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = config::load(config_path)?;
    let req = read_capture(&args.file)?;
    let now = args
        .at
        .map_or_else(SystemTime::now, |t| UNIX_EPOCH + Duration::from_secs(t));
    let mut out = Report(std::io::stdout().lock());
    let request = format!(
        "{} {} ({} bytes of body)",
        req.method,
        req.uri,
        req.body.len()
    );
    out.step(true, "request", &request)?;
    let table = RouteTable::new(config.routes);
    let Some(route) = admit(&mut out, &table, &req, args.route.as_deref())? else {
        return Ok(ExitCode::FAILURE);
    };
    for name in route.scheme.signed_headers() {
        let state = match req.headers.get_all(name).iter().count() {
            0 => "absent".to_owned(),
            1 => "present".to_owned(),
            n => format!("present {n} times"),
        };
        writeln!(out.0, "     header {name}: {state}")?;
    }
    let signed = Signed {
        method: &req.method,
        uri: &req.uri,
        headers: &req.headers,
        body: &req.body,
    };
    let passed = judge(&mut out, route, proxy::authenticate(route, &signed, now))?;
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The capture in `file` (`-`: stdin), parsed.
fn read_capture(file: &Path) -> Result<Captured, Box<dyn std::error::Error>> {
    let bytes = if file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b)?;
        b
    } else {
        std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?
    };
    Ok(parse_capture(&bytes).map_err(|e| format!("{}: {e}", file.display()))?)
}

/// The head's steps, as the proxy's `admit` takes them: target, route (or the one named),
/// method, size. Returns the route if every step passed.
fn admit<'t, W: Write>(
    out: &mut Report<W>,
    table: &'t RouteTable,
    req: &Captured,
    named: Option<&str>,
) -> std::io::Result<Option<&'t Route>> {
    if let Err(e) = crate::target::check_target(&req.uri, req.version) {
        out.step(
            false,
            "target",
            &format!("{e} (400, reason {})", e.reason()),
        )?;
        return Ok(None);
    }
    let route = match named {
        Some(name) => table.routes().iter().find(|r| r.name == name),
        None => table.lookup(req.uri.path()),
    };
    let Some(route) = route else {
        let what = named.map_or_else(
            || format!("no route matches {} (404, reason no_route)", req.uri.path()),
            |n| format!("no route named `{n}`"),
        );
        out.step(false, "route", &what)?;
        return Ok(None);
    };
    let provider = route.scheme.provider();
    out.step(
        true,
        "route",
        &format!("{} ({}), provider {provider}", route.name, route.path),
    )?;
    let methods: Vec<&str> = route.methods.iter().map(http::Method::as_str).collect();
    let method = proxy::check_method(route, &req.method).is_ok();
    let detail = format!("{} (allowed: {})", req.method, methods.join(", "));
    if !out.step(method, "method", &detail)? {
        return Ok(None);
    }
    let len = req.body.len() as u64;
    let fits = proxy::check_size(route, len).is_ok();
    let detail = format!("{len} bytes, limit {}", size::Display(route.max_body));
    Ok(out.step(fits, "size", &detail)?.then_some(route))
}

/// The `authenticate` phase's verdict, as a step; returns whether it passed.
fn judge<W: Write>(
    out: &mut Report<W>,
    route: &Route,
    verdict: Result<Mark, Rejection>,
) -> std::io::Result<bool> {
    match verdict {
        Ok(
            Mark::Verified(v)
            | Mark::Answer {
                verified: Some(v), ..
            },
        ) => out.step(true, "signature", &verified(route, &v)),
        Ok(Mark::Answer { answer, .. }) => out.step(
            true,
            "handshake",
            &format!("answered by hookwall ({})", answer.status),
        ),
        Ok(Mark::Handshake) => out.step(
            true,
            "handshake",
            "forwarded unverified, marked X-Hookwall-Handshake",
        ),
        Err(Rejection::HandshakeRefused) => out.step(
            false,
            "handshake",
            "refused (403, reason handshake_refused)",
        ),
        Ok(Mark::Shadow(why)) | Err(Rejection::Unverified(why)) => out.step(
            false,
            "signature",
            &format!("{} — {}", why.reason(), why.hint()),
        ),
        Err(other) => out.step(false, "signature", other.reason()),
    }
}

/// Which secret verified, by its source (never its value), and the delivery id.
fn verified(route: &Route, v: &Verified) -> String {
    let source = route
        .secret_sources
        .get(v.secret_slot)
        .map_or_else(|| format!("key {}", v.secret_slot), ToString::to_string);
    let id = v
        .delivery_id
        .as_ref()
        .map(|id| format!(", delivery id {id}"))
        .unwrap_or_default();
    format!("verified with slot {} ({source}){id}", v.secret_slot)
}
