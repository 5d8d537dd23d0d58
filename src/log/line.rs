//! The request log line (target `hookwall::request`): its fields, the tracing events that
//! carry them, and the same line rendered by hand, byte for byte as tracing-subscriber's fmt
//! layer prints those events in text and in flattened JSON (ANSI off). The unit tests in
//! `log/tests.rs` hold the two to that.
//!
//! Fields in text are `name=value`: a string quoted and escaped as Rust's `Debug` does, a
//! `%`-field (method, client) as it is, numbers as `Debug`; in JSON they follow
//! `timestamp`, `level` and `message`, before `target`. An absent optional field is omitted.

use std::io::Write;

use tracing::Level;

/// The target of the request lines.
pub(super) const TARGET: &str = "hookwall::request";

/// One request's log line. Never a header value, a secret, a signature or a body.
pub struct Request<'a> {
    /// The route's name, `-` when none matched.
    pub route: &'a str,
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The client's address, `unparsable` or `unix`.
    pub client: &'a str,
    pub request_id: &'a str,
    pub status: u16,
    pub elapsed_ms: f64,
    pub event: Event<'a>,
}

/// What the request came to, with the fields that outcome's line carries.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// Verified and forwarded.
    Forwarded {
        upstream_status: u16,
        delivery_id: Option<&'a str>,
        secret_slot: Option<usize>,
    },
    /// A setup handshake.
    Handshake { upstream_status: Option<u16> },
    /// Forwarded unverified: the route is in shadow mode.
    Shadow {
        reason: &'a str,
        upstream_status: u16,
    },
    /// A copy of a delivery already delivered.
    Duplicate {
        reason: &'a str,
        delivery_id: Option<&'a str>,
    },
    /// Committed to the spool.
    Spooled {
        upstream_status: Option<u16>,
        delivery_id: Option<&'a str>,
        spool_id: &'a str,
        secret_slot: Option<usize>,
    },
    /// Refused by hookwall.
    Rejected { reason: &'a str },
    /// The upstream failed (502 / 503 / 504).
    UpstreamFailed {
        reason: &'a str,
        delivery_id: Option<&'a str>,
    },
}

/// The fields after `status` that an event carries, each `None` where it carries none.
#[derive(Default)]
struct Tail<'a> {
    reason: Option<&'a str>,
    upstream_status: Option<u16>,
    delivery_id: Option<&'a str>,
    spool_id: Option<&'a str>,
    secret_slot: Option<usize>,
}

impl<'a> Event<'a> {
    /// The line's level: warn for a shadow forward and a failed upstream, else info.
    pub(super) fn level(&self) -> Level {
        match self {
            Event::Shadow { .. } | Event::UpstreamFailed { .. } => Level::WARN,
            _ => Level::INFO,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Event::Forwarded { .. } => "forwarded",
            Event::Handshake { .. } => "handshake",
            Event::Shadow { .. } => "forwarded unverified (shadow mode)",
            Event::Duplicate { .. } => "duplicate",
            Event::Spooled { .. } => "spooled",
            Event::Rejected { .. } => "rejected",
            Event::UpstreamFailed { .. } => "upstream failed",
        }
    }

    fn tail(self) -> Tail<'a> {
        match self {
            Event::Forwarded {
                upstream_status,
                delivery_id,
                secret_slot,
            } => Tail {
                upstream_status: Some(upstream_status),
                delivery_id,
                secret_slot,
                ..Tail::default()
            },
            Event::Handshake { upstream_status } => Tail {
                upstream_status,
                ..Tail::default()
            },
            Event::Shadow {
                reason,
                upstream_status,
            } => Tail {
                reason: Some(reason),
                upstream_status: Some(upstream_status),
                ..Tail::default()
            },
            Event::Duplicate {
                reason,
                delivery_id,
            }
            | Event::UpstreamFailed {
                reason,
                delivery_id,
            } => Tail {
                reason: Some(reason),
                delivery_id,
                ..Tail::default()
            },
            Event::Spooled {
                upstream_status,
                delivery_id,
                spool_id,
                secret_slot,
            } => Tail {
                upstream_status,
                delivery_id,
                spool_id: Some(spool_id),
                secret_slot,
                ..Tail::default()
            },
            Event::Rejected { reason } => Tail {
                reason: Some(reason),
                ..Tail::default()
            },
        }
    }
}

/// Where the fields go: text or JSON.
trait Fields {
    /// A string field (quoted).
    fn str(&mut self, name: &str, value: &str);
    /// A `%` field of a string: the string itself.
    fn plain(&mut self, name: &str, value: &str);
    fn u64(&mut self, name: &str, value: u64);
    fn f64(&mut self, name: &str, value: f64);
}

impl Request<'_> {
    /// The fields after the message, in the order the events declare them.
    fn fields(&self, out: &mut impl Fields) {
        out.str("route", self.route);
        out.plain("method", self.method);
        out.str("path", self.path);
        out.plain("client", self.client);
        out.str("request_id", self.request_id);
        out.u64("status", u64::from(self.status));
        let tail = self.event.tail();
        if let Some(reason) = tail.reason {
            out.str("reason", reason);
        }
        if let Some(status) = tail.upstream_status {
            out.u64("upstream_status", u64::from(status));
        }
        if let Some(id) = tail.delivery_id {
            out.str("delivery_id", id);
        }
        if let Some(id) = tail.spool_id {
            out.str("spool_id", id);
        }
        if let Some(slot) = tail.secret_slot {
            out.u64("secret_slot", slot as u64);
        }
        out.f64("elapsed_ms", self.elapsed_ms);
    }

    /// Appends the text line: `{time} {LEVEL:>5} hookwall::request: {message} k=v…\n`.
    pub(super) fn text(&self, out: &mut Vec<u8>) {
        super::clock::now(out);
        let level: &[u8] = match self.event.level() {
            Level::WARN => b"  WARN ",
            _ => b"  INFO ",
        };
        out.extend_from_slice(level);
        out.extend_from_slice(TARGET.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(self.event.message().as_bytes());
        self.fields(&mut Text(out));
        out.push(b'\n');
    }

    /// Appends the JSON line: `{"timestamp":…,"level":…,"message":…,…,"target":…}\n`.
    pub(super) fn json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        super::clock::now(out);
        let level: &[u8] = match self.event.level() {
            Level::WARN => b"\",\"level\":\"WARN\",\"message\":",
            _ => b"\",\"level\":\"INFO\",\"message\":",
        };
        out.extend_from_slice(level);
        json_str(out, self.event.message());
        self.fields(&mut Json(out));
        out.extend_from_slice(b",\"target\":\"");
        out.extend_from_slice(TARGET.as_bytes());
        out.extend_from_slice(b"\"}\n");
    }
}

/// Text fields: ` name=value`.
struct Text<'b>(&'b mut Vec<u8>);

impl Text<'_> {
    fn name(&mut self, name: &str) {
        self.0.push(b' ');
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(b'=');
    }
}

impl Fields for Text<'_> {
    fn str(&mut self, name: &str, value: &str) {
        self.name(name);
        debug_str(self.0, value);
    }

    fn plain(&mut self, name: &str, value: &str) {
        self.name(name);
        self.0.extend_from_slice(value.as_bytes());
    }

    fn u64(&mut self, name: &str, value: u64) {
        self.name(name);
        let _ = write!(self.0, "{value}");
    }

    fn f64(&mut self, name: &str, value: f64) {
        self.name(name);
        let _ = write!(self.0, "{value:?}");
    }
}

/// `value` as Rust's `Debug` writes a string: quoted, with `"`, `\`, controls and the like
/// escaped. Printable ASCII without a quote or backslash (the usual case) is copied as is.
fn debug_str(out: &mut Vec<u8>, value: &str) {
    let plain = value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        let _ = write!(out, "{value:?}");
    }
}

/// JSON members: `,"name":value`, as serde_json writes them.
struct Json<'b>(&'b mut Vec<u8>);

impl Json<'_> {
    fn name(&mut self, name: &str) {
        self.0.extend_from_slice(b",\"");
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b"\":");
    }
}

impl Fields for Json<'_> {
    fn str(&mut self, name: &str, value: &str) {
        self.name(name);
        json_str(self.0, value);
    }

    fn plain(&mut self, name: &str, value: &str) {
        self.name(name);
        json_str(self.0, value);
    }

    fn u64(&mut self, name: &str, value: u64) {
        self.name(name);
        let _ = serde_json::to_writer(&mut *self.0, &value);
    }

    fn f64(&mut self, name: &str, value: f64) {
        self.name(name);
        let _ = serde_json::to_writer(&mut *self.0, &value);
    }
}

/// A JSON string, escaped by serde_json (as tracing-subscriber's JSON is).
fn json_str(out: &mut Vec<u8>, value: &str) {
    let _ = serde_json::to_writer(out, value);
}

/// The line as a tracing event, for a subscriber of any kind: the path when the fast one
/// cannot be sure of writing what the subscriber would. One event per level carries every
/// optional field; an absent one (`None`) is left out of the line, as the fast path does.
pub(super) fn emit(line: &Request<'_>) {
    let Request {
        route,
        method,
        path,
        client,
        request_id,
        status,
        elapsed_ms,
        event,
    } = *line;
    let message = event.message();
    let Tail {
        reason,
        upstream_status,
        delivery_id,
        spool_id,
        secret_slot,
    } = event.tail();
    if event.level() == Level::WARN {
        tracing::warn!(
            target: TARGET,
            route, method = %method, path, %client, request_id, status, reason, upstream_status,
            delivery_id, spool_id, secret_slot, elapsed_ms, "{message}"
        );
    } else {
        tracing::info!(
            target: TARGET,
            route, method = %method, path, %client, request_id, status, reason, upstream_status,
            delivery_id, spool_id, secret_slot, elapsed_ms, "{message}"
        );
    }
}
