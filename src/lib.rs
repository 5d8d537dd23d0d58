//! hookwall: a reverse proxy that verifies webhook signatures on the exact bytes received,
//! forwards only verified requests upstream, byte for byte, and answers the rest itself.
//!
//! The request path is in [`proxy`]; see `docs/ARCHITECTURE.md` for how the modules fit.

pub mod admin;
pub mod app;
pub mod body;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod headers;
pub mod history;
pub mod listener;
pub mod log;
pub mod metrics;
pub mod proxy;
pub mod reload;
pub mod replay;
pub mod routing;
pub mod scheme;
pub mod secret;
pub mod server;
pub mod spool;
pub mod target;
pub mod unique;
pub mod upstream;
pub mod watch;
