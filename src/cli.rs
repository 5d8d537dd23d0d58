//! The command line: `run` (the default), `check`, `sign`, `verify` and `spool` (each in a
//! file of its own below); tracing set-up; and how an error reaches the operator
//! (`hookwall: ` and the cause chain on stderr, exit 1).

mod capture;
mod check;
mod sign;
mod spool;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use self::check::route_table;
pub use self::sign::SignArgs;
pub use self::spool::{SpoolArgs, SpoolCommand, StateArg};
pub use self::verify::VerifyArgs;
use crate::config;

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
    /// List, show, retry, drop or redrive spooled deliveries through the admin listener.
    Spool(SpoolArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Sets up tracing on stderr from `--log-level`, else `RUST_LOG`, else `info`.
///
/// Lines are written by a background thread (see [`crate::log`]): a request never waits on
/// a write to stderr, and a burst of log lines is one system call rather than one each. Keep
/// the returned guard until the process exits: it flushes what is queued. If stderr cannot
/// keep up, lines are dropped (and counted) rather than requests slowed.
pub fn init_tracing(cli: &Cli) -> Option<crate::log::Guard> {
    use tracing_subscriber::EnvFilter;
    let filter = match &cli.log_level {
        Some(level) => EnvFilter::try_new(level)
            .map_err(|e| eprintln!("hookwall: --log-level `{level}`: {e}; logging at info"))
            .ok(),
        None => EnvFilter::try_from_default_env().ok(),
    }
    .unwrap_or_else(|| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let format = match cli.log_format {
        LogFormat::Text => crate::log::Format::Text,
        LogFormat::Json => crate::log::Format::Json,
    };
    crate::log::init(format, filter, ansi)
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
                    .watch_config(path.to_owned())
                    .run(crate::app::shutdown_signal())
                    .await?;
                Ok::<_, Box<dyn std::error::Error>>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => Ok(check::check(need_config(cli.config.as_deref())?)),
        Command::Sign(args) => sign::sign(cli.config.as_deref(), &args),
        Command::Verify(args) => verify::verify(need_config(cli.config.as_deref())?, &args),
        Command::Spool(args) => spool::spool(cli.config.as_deref(), &args),
    }
}

/// The `--config` path, which every command but `sign --provider` needs.
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
