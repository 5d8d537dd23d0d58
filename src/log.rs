//! Logging: tracing-subscriber's fmt layer (text, or one JSON object a line) writing through
//! hookwall's own background [`Writer`], and the one line per request ([`Request`]).
//!
//! The request line has a fast path. When this process set up logging with [`init`] and
//! ANSI off, and the line would be logged (its level enabled for `hookwall::request`, no span
//! around it), it is rendered by hand into a reused buffer, byte for byte as the fmt layer
//! would print it, and queued with one call. Otherwise (a terminal's colours, a test's or a
//! library user's own subscriber) it goes through the tracing macros as any event does.

mod clock;
mod line;
mod writer;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::sync::OnceLock;

use tracing::{Dispatch, Level};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

pub use self::line::{Event, Request};
pub use self::writer::{Append, Guard, Writer};

/// The log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Set by [`init`] when request lines may skip tracing: the format and the subscriber's writer.
static FAST: OnceLock<(Format, Writer)> = OnceLock::new();

/// The largest buffer a thread keeps for its next line.
const KEPT_LINE_BUFFER: usize = 16 * 1024;

thread_local! {
    /// Where this thread renders its request lines, reused line after line.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Sets up tracing on stderr, through a [`Writer`] thread, filtered by `filter`. Keep the
/// guard until the process exits: dropping it flushes what is queued. `None` (and a word on
/// stderr) if a subscriber was already set.
pub fn init(format: Format, filter: EnvFilter, ansi: bool) -> Option<Guard> {
    let (writer, guard) = Writer::start(std::io::stderr());
    if let Err(e) = subscriber(format, filter, ansi, writer.clone()).try_init() {
        eprintln!("hookwall: logging not set up: {e}");
        return None;
    }
    if !ansi {
        let _ = FAST.set((format, writer));
    }
    Some(guard)
}

/// tracing-subscriber's fmt subscriber as hookwall sets it up, writing to `writer`.
pub fn subscriber<W>(format: Format, filter: EnvFilter, ansi: bool, writer: W) -> Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // A closed stderr must not turn every log line into a panic.
        .log_internal_errors(false)
        .with_ansi(ansi);
    match format {
        Format::Text => Dispatch::new(builder.finish()),
        Format::Json => Dispatch::new(builder.json().flatten_event(true).finish()),
    }
}

/// Logs one request's line, under the `hookwall::request` target.
pub fn request(line: &Request<'_>) {
    match FAST.get() {
        Some((format, writer)) if wanted(line.event.level()) => fast(*format, writer, line),
        _ => line::emit(line),
    }
}

/// Whether the subscriber would log a request line at `level` just as the fast path writes
/// it: the level is enabled for the target, and no span is entered (it would prefix one).
fn wanted(level: Level) -> bool {
    use tracing::metadata::Kind;
    let enabled = if level == Level::WARN {
        tracing::enabled!(kind: Kind::EVENT, target: line::TARGET, Level::WARN)
    } else {
        tracing::enabled!(kind: Kind::EVENT, target: line::TARGET, Level::INFO)
    };
    enabled && tracing::dispatcher::get_default(|d| d.current_span().id().is_none())
}

/// Renders the line into this thread's buffer and queues it.
fn fast(format: Format, writer: &Writer, line: &Request<'_>) {
    LINE.with(|cell| {
        let Ok(mut out) = cell.try_borrow_mut() else {
            return line::emit(line);
        };
        out.clear();
        match format {
            Format::Text => line.text(&mut out),
            Format::Json => line.json(&mut out),
        }
        writer.append(&out);
        if out.capacity() > KEPT_LINE_BUFFER {
            *out = Vec::new();
        }
    });
}
