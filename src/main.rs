//! The `hookwall` binary: parse the command line, set up logging, run, map to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hookwall::cli::Cli::parse();
    // Held to the end: dropping it flushes the log lines still queued.
    let _logging = hookwall::cli::init_tracing(&cli);
    hookwall::cli::run(cli).unwrap_or_else(|err| hookwall::cli::report(&*err))
}
