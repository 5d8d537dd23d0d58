//! The command line: `run` (the default), `check` and `sign`; tracing set-up; and how an
//! error reaches the operator (`hookwall: ` and the cause chain on stderr, exit 1).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use http::{HeaderMap, Uri};

use crate::config::{self, duration, secret, size, Config};
use crate::scheme::{self, Signed};

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
    /// The scheme: `github` or `hmac`.
    #[arg(long, required_unless_present = "route")]
    pub provider: Option<String>,
    /// The environment variable that holds the secret.
    #[arg(long, value_name = "NAME", required_unless_present = "route")]
    pub secret_env: Option<String>,
    /// `hmac`, or `sha1` for GitHub's legacy header.
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
    /// Unix seconds to sign with (default: now).
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub timestamp: Option<u64>,
}

/// Sets up tracing on stderr from `--log-level`, else `RUST_LOG`, else `info`.
pub fn init_tracing(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let filter = match &cli.log_level {
        Some(level) => EnvFilter::try_new(level)
            .map_err(|e| eprintln!("hookwall: --log-level `{level}`: {e}; logging at info"))
            .ok(),
        None => EnvFilter::try_from_default_env().ok(),
    }
    .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = match cli.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(e) = result {
        eprintln!("hookwall: logging not set up: {e}");
    }
}

/// Runs the command.
///
/// # Errors
/// Whatever stops it; `main` prints it with [`report`].
pub fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = config::load(need_config(cli.config.as_deref())?)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(crate::server::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let path = need_config(cli.config.as_deref())?;
            match config::load(path) {
                Ok(config) => {
                    print!("{}", route_table(&config));
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
    }
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
        rows.push([
            r.name.clone(),
            r.path.to_string(),
            r.methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(","),
            r.scheme.provider().to_owned(),
            r.upstream.to_string(),
            size::Display(r.max_body).to_string(),
            r.secret_sources
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
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
        "{}: ok: {} route{}, listen {}, upstream timeout {}, header timeout {}, body timeout {}\n",
        config.source.display(),
        config.routes.len(),
        if config.routes.len() == 1 { "" } else { "s" },
        s.listen,
        duration::display(s.upstream_timeout),
        duration::display(s.header_timeout),
        duration::display(s.body_timeout),
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
                ..scheme::Options::default()
            };
            scheme::build(&opts, secrets)
                .map_err(|e| format!("--{}: {}", e.key.replace('_', "-"), e.message))?
        }
    };
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body)?;
    let now = args
        .timestamp
        .map_or_else(SystemTime::now, |t| UNIX_EPOCH + Duration::from_secs(t));
    let uri = Uri::from_static("/");
    let headers = scheme.sign(
        &Signed {
            method: &http::Method::POST,
            uri: &uri,
            headers: &HeaderMap::new(),
            body: &body,
        },
        now,
    );
    let mut out = std::io::stdout().lock();
    for (name, value) in &headers {
        writeln!(out, "{}: {}", title_case(name.as_str()), value.to_str()?)?;
    }
    Ok(ExitCode::SUCCESS)
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
