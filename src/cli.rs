//! The command line: `run` (the default), `check` and `sign`; tracing set-up; and how an
//! error reaches the operator (`hookwall: ` and the cause chain on stderr, exit 1).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use http::{HeaderMap, Uri};

use crate::config::{self, duration, size, Config};
use crate::scheme::{self, Signed};
use crate::secret;

/// A reverse proxy that verifies webhook signatures before the app ever sees a request.
#[derive(Debug, Parser)]
#[command(name = "hookwall", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The config file (TOML).
    #[arg(long, short, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter (`info`, `debug`, `hookwall=debug,hyper=info`); default: `RUST_LOG`, else `info`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the config's routes (the default).
    Run,
    /// Validate the config and its secrets, print the route table; exit 0 if valid, else 1.
    Check,
    /// Print the headers a sender would add for the body on stdin.
    Sign(Box<SignArgs>),
    /// Explain, step by step, why a captured raw HTTP request passes or which check fails.
    Verify(VerifyArgs),
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `hookwall sign`: either `--config` and `--route`, or `--provider` and `--secret-env`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Sign as this configured route does (with `--config`).
    #[arg(long, conflicts_with_all = ["provider", "secret_env"])]
    pub route: Option<String>,
    /// The provider, as in config (`github`, `stripe`, `standard-webhooks`, …, or `hmac`).
    #[arg(long, required_unless_present = "route")]
    pub provider: Option<String>,
    /// The environment variable that holds the secret.
    #[arg(long, value_name = "NAME", required_unless_present = "route")]
    pub secret_env: Option<String>,
    /// The hash (`sha1`, `sha256`, `sha512`) for `hmac`; `sha1` for GitHub's legacy header or
    /// `sha256` for Twilio's shared keys.
    #[arg(long)]
    pub algorithm: Option<String>,
    #[arg(long)]
    pub encoding: Option<String>,
    #[arg(long)]
    pub signature_header: Option<String>,
    #[arg(long)]
    pub signature_prefix: Option<String>,
    #[arg(long)]
    pub signed_payload: Option<String>,
    #[arg(long)]
    pub timestamp_header: Option<String>,
    #[arg(long)]
    pub timestamp_format: Option<String>,
    #[arg(long)]
    pub id_header: Option<String>,
    #[arg(long)]
    pub secret_encoding: Option<String>,
    /// The URL the provider signs (URL-signed schemes: twilio, square, trello, hubspot).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Unix seconds to sign with (default: now).
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub timestamp: Option<u64>,
    /// The request target the signature is for (its query is signed by URL-signed schemes).
    #[arg(long, default_value = "/", value_name = "PATH_AND_QUERY")]
    pub target: String,
    /// The request method.
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// A request header the signature depends on, as `Name: value`: a delivery id such as
    /// `webhook-id: msg_1`, or `Content-Type: application/x-www-form-urlencoded` for Twilio
    /// form parameters. Repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
}

/// Sets up tracing on stderr from `--log-level`, else `RUST_LOG`, else `info`.
///
/// Lines are written by a background thread through a buffer that is flushed whenever the
/// queue runs empty: a request never waits on a write to stderr, and a burst of log lines is
/// one system call rather than one each. Keep the returned guard until the process exits: it
/// flushes what is queued. If stderr cannot keep up, lines are dropped rather than requests
/// slowed.
pub fn init_tracing(cli: &Cli) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let filter = match &cli.log_level {
        Some(level) => EnvFilter::try_new(level)
            .map_err(|e| eprintln!("hookwall: --log-level `{level}`: {e}; logging at info"))
            .ok(),
        None => EnvFilter::try_from_default_env().ok(),
    }
    .unwrap_or_else(|| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) =
        tracing_appender::non_blocking(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // A closed stderr must not turn every log line into a panic.
        .log_internal_errors(false)
        .with_ansi(ansi);
    let result = match cli.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(e) = result {
        eprintln!("hookwall: logging not set up: {e}");
        return None;
    }
    Some(guard)
}

/// Runs the command.
///
/// # Errors
/// Whatever stops it; `main` prints it with [`report`].
pub fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let path = need_config(cli.config.as_deref())?;
            // One core (a sidecar's CPU limit, or `taskset`): a single-threaded runtime,
            // which skips the work-stealing machinery a lone worker has no use for.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut builder = if cores == 1 {
                tokio::runtime::Builder::new_current_thread()
            } else {
                tokio::runtime::Builder::new_multi_thread()
            };
            let runtime = builder.enable_all().build()?;
            runtime.block_on(async {
                // Before anything slow (reading the config and its secrets): a SIGHUP from
                // here on reloads rather than ends the process.
                let hup = crate::app::catch_sighup();
                let config = config::load(path)?;
                crate::app::App::bind(config)
                    .await?
                    .reload_on_sighup(path.to_owned(), hup)
                    .run(crate::app::shutdown_signal())
                    .await?;
                Ok::<_, Box<dyn std::error::Error>>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let path = need_config(cli.config.as_deref())?;
            match config::load(path) {
                Ok(config) => {
                    print!("{}", route_table(&config));
                    if let config::ReplayStore::Redis(url) = &config.replay {
                        println!("replay store {}: {}", url, redis_answers(url));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    let n = e.problems.len();
                    eprintln!(
                        "{}: {n} problem{}",
                        path.display(),
                        if n == 1 { "" } else { "s" }
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Sign(args) => sign(cli.config.as_deref(), &args),
        Command::Verify(args) => verify(need_config(cli.config.as_deref())?, &args),
    }
}

/// Whether the Redis replay store answers `PING`, as a phrase for `check`.
fn redis_answers(url: &config::RedisUrl) -> String {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return "not checked (no runtime)".into();
    };
    runtime.block_on(async {
        match crate::replay::RedisStore::new(url).ping().await {
            Ok(()) => "answers".to_owned(),
            Err(e) => format!(
                "DOES NOT ANSWER ({e}); routes with replay protection will answer 503 until it does"
            ),
        }
    })
}

fn need_config(path: Option<&Path>) -> Result<&Path, String> {
    path.ok_or_else(|| "no config file: pass --config PATH".to_owned())
}

/// Prints `hookwall: ` and the error with its causes; the failure exit code.
pub fn report(err: &dyn std::error::Error) -> ExitCode {
    for line in err.to_string().lines() {
        eprintln!("hookwall: {line}");
    }
    let mut source = err.source();
    while let Some(cause) = source {
        eprintln!("hookwall:   caused by: {cause}");
        source = cause.source();
    }
    ExitCode::FAILURE
}

/// The table `check` prints: one line per route, secrets by source only.
pub fn route_table(config: &Config) -> String {
    let mut rows = vec![[
        "ROUTE".to_owned(),
        "MATCH".into(),
        "METHODS".into(),
        "PROVIDER".into(),
        "UPSTREAM".into(),
        "MAX BODY".into(),
        "SECRETS".into(),
    ]];
    for r in &config.routes {
        let mut credentials: Vec<String> =
            r.secret_sources.iter().map(ToString::to_string).collect();
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
        rows.push([
            r.name.clone(),
            r.path.to_string(),
            r.methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(","),
            provider,
            r.upstream.to_string(),
            size::Display(r.max_body).to_string(),
            credentials.join(", "),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let s = &config.server;
    let mut out = format!(
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
    );
    for row in &rows {
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
    out
}

fn sign(
    config_path: Option<&Path>,
    args: &SignArgs,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let scheme = match &args.route {
        Some(name) => {
            let config = config::load(need_config(config_path)?)?;
            let route = config
                .routes
                .iter()
                .find(|r| &r.name == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
                    format!("no route named `{name}`; routes: {}", names.join(", "))
                })?;
            route.scheme.clone()
        }
        None => {
            if let Some(p) = args
                .provider
                .as_deref()
                .filter(|p| matches!(*p, "discord" | "sendgrid"))
            {
                return Err(format!(
                    "provider `{p}` checks signatures with the sender's public key; only the sender, who holds the private key, can sign"
                )
                .into());
            }
            let (Some(provider), Some(var)) = (&args.provider, &args.secret_env) else {
                return Err("give --route, or --provider and --secret-env".into());
            };
            let mut table = toml::Table::new();
            table.insert("env".into(), toml::Value::String(var.clone()));
            let value = toml::Value::Table(table);
            let secrets = secret::load(&value, Path::new("."), &secret::process_env)
                .map_err(|e| format!("secret: {e}"))?;
            let opts = scheme::Options {
                provider,
                algorithm: args.algorithm.as_deref(),
                encoding: args.encoding.as_deref(),
                signature_header: args.signature_header.as_deref(),
                signature_prefix: args.signature_prefix.as_deref(),
                signed_payload: args.signed_payload.as_deref(),
                timestamp_header: args.timestamp_header.as_deref(),
                timestamp_format: args.timestamp_format.as_deref(),
                id_header: args.id_header.as_deref(),
                secret_encoding: args.secret_encoding.as_deref(),
                public_url: args.public_url.as_deref(),
                ..scheme::Options::default()
            };
            scheme::build(&opts, secrets).map_err(|e| {
                let flag = if e.key == "secret" {
                    "secret-env".to_owned()
                } else {
                    e.key.replace('_', "-")
                };
                format!("--{flag}: {}", e.message)
            })?
        }
    };
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body)?;
    let now = args
        .timestamp
        .map_or_else(SystemTime::now, |t| UNIX_EPOCH + Duration::from_secs(t));
    let uri: Uri = args
        .target
        .parse()
        .map_err(|_| format!("--target `{}` is not a request target", args.target))?;
    let method = http::Method::from_bytes(args.method.as_bytes())
        .map_err(|_| format!("--method `{}` is not an HTTP method", args.method))?;
    let mut request_headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("--header `{h}` is not `Name: value`"))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("--header `{h}`: bad header name"))?;
        let value = http::HeaderValue::from_str(value.trim())
            .map_err(|_| format!("--header `{h}`: bad header value"))?;
        request_headers.append(name, value);
    }
    let headers = scheme.sign(
        &Signed {
            method: &method,
            uri: &uri,
            headers: &request_headers,
            body: &body,
        },
        now,
    );
    if headers.is_empty() {
        return Err(format!(
            "provider `{}` checks signatures with the sender's public key; only the sender can sign",
            scheme.provider()
        )
        .into());
    }
    let mut out = std::io::stdout().lock();
    for (name, value) in &headers {
        writeln!(out, "{}: {}", title_case(name.as_str()), value.to_str()?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A request read back from a capture.
struct Captured {
    method: http::Method,
    uri: Uri,
    version: http::Version,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Parses a raw HTTP/1.x request: head, then a body framed by `Content-Length` or chunked
/// encoding (or, with neither, the rest of the capture).
fn parse_capture(bytes: &[u8]) -> Result<Captured, String> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut slots);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err("the capture ends inside the request head".into())
        }
        Err(e) => return Err(format!("the request head does not parse: {e}")),
    };
    let method = http::Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| "bad method".to_owned())?;
    let uri: Uri = req
        .path
        .unwrap_or("")
        .parse()
        .map_err(|_| "bad request target".to_owned())?;
    let version = if req.version == Some(0) {
        http::Version::HTTP_10
    } else {
        http::Version::HTTP_11
    };
    let mut headers = HeaderMap::new();
    for h in req.headers.iter() {
        let name = http::HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("bad header name `{}`", h.name))?;
        let value = http::HeaderValue::from_bytes(h.value)
            .map_err(|_| format!("bad value for `{}`", h.name))?;
        headers.append(name, value);
    }
    let rest = &bytes[head_len..];
    let chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = headers.get(http::header::CONTENT_LENGTH) {
        let len: usize = len
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or("Content-Length is not a number")?;
        rest.get(..len)
            .ok_or_else(|| {
                format!(
                    "Content-Length says {len} bytes but the capture holds {}",
                    rest.len()
                )
            })?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Captured {
        method,
        uri,
        version,
        headers,
        body,
    })
}

/// Decodes a chunked body.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line has no CRLF")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size `{size_text}`"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("the capture ends inside a chunk")?;
        body.extend_from_slice(chunk);
        rest = rest
            .get(size + 2..)
            .ok_or("the capture ends inside a chunk")?;
    }
}

fn verify(config_path: &Path, args: &VerifyArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = config::load(config_path)?;
    let bytes = if args.file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b)?;
        b
    } else {
        std::fs::read(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?
    };
    let req = parse_capture(&bytes).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let now = args
        .at
        .map_or_else(SystemTime::now, |t| UNIX_EPOCH + Duration::from_secs(t));
    let mut out = std::io::stdout().lock();
    let mut step = |ok: bool, what: &str, detail: String| -> std::io::Result<bool> {
        writeln!(out, "{} {what}: {detail}", if ok { "ok  " } else { "FAIL" })?;
        Ok(ok)
    };
    step(
        true,
        "request",
        format!(
            "{} {} ({} bytes of body)",
            req.method,
            req.uri,
            req.body.len()
        ),
    )?;
    if let Err(e) = crate::target::check_target(&req.uri, req.version) {
        step(false, "target", format!("{e} (400, reason {})", e.reason()))?;
        return Ok(ExitCode::FAILURE);
    }
    let table = crate::routing::RouteTable::new(config.routes);
    let route = match &args.route {
        Some(name) => table.routes().iter().find(|r| &r.name == name),
        None => table.lookup(req.uri.path()),
    };
    let Some(route) = route else {
        let what = args.route.as_ref().map_or_else(
            || format!("no route matches {} (404, reason no_route)", req.uri.path()),
            |n| format!("no route named `{n}`"),
        );
        step(false, "route", what)?;
        return Ok(ExitCode::FAILURE);
    };
    step(
        true,
        "route",
        format!(
            "{} ({}), provider {}",
            route.name,
            route.path,
            route.scheme.provider()
        ),
    )?;
    let methods: Vec<&str> = route.methods.iter().map(http::Method::as_str).collect();
    let allowed = route.methods.contains(&req.method)
        || route.scheme.handshake_methods().contains(&req.method);
    if !step(
        allowed,
        "method",
        format!("{} (allowed: {})", req.method, methods.join(", ")),
    )? {
        return Ok(ExitCode::FAILURE);
    }
    let fits = req.body.len() as u64 <= route.max_body;
    if !step(
        fits,
        "size",
        format!(
            "{} bytes, limit {}",
            req.body.len(),
            size::Display(route.max_body)
        ),
    )? {
        return Ok(ExitCode::FAILURE);
    }
    for name in route.scheme.signed_headers() {
        let n = req.headers.get_all(name).iter().count();
        let state = match n {
            0 => "absent".to_owned(),
            1 => "present".to_owned(),
            n => format!("present {n} times"),
        };
        writeln!(out, "     header {name}: {state}")?;
    }
    let signed = Signed {
        method: &req.method,
        uri: &req.uri,
        headers: &req.headers,
        body: &req.body,
    };
    if let Some(h) = route.scheme.before_verify(&signed) {
        use crate::scheme::handshake::Handshake;
        let (ok, what) = match h {
            Handshake::Answer { status, .. } => (true, format!("answered by hookwall ({status})")),
            Handshake::Forward => (
                true,
                "forwarded unverified, marked X-Hookwall-Handshake".to_owned(),
            ),
            Handshake::Refuse => (false, "refused (403, reason handshake_refused)".to_owned()),
        };
        writeln!(
            out,
            "{} handshake: {what}",
            if ok { "ok  " } else { "FAIL" }
        )?;
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    match route.scheme.verify(&signed, now) {
        Ok(v) => {
            let source = route
                .secret_sources
                .get(v.secret_slot)
                .map_or_else(|| format!("key {}", v.secret_slot), ToString::to_string);
            let id = v
                .delivery_id
                .map(|id| format!(", delivery id {id}"))
                .unwrap_or_default();
            writeln!(
                out,
                "ok   signature: verified with slot {} ({source}){id}",
                v.secret_slot
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            writeln!(out, "FAIL signature: {} — {}", why.reason(), why.hint())?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `x-hub-signature-256` -> `X-Hub-Signature-256`, for readable output.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}
