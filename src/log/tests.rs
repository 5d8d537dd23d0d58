//! The contract of the fast path (the request line rendered by hand is, but for the time,
//! the bytes tracing-subscriber prints for the same event, in text and in JSON) and the
//! writer's batching, bound and flush.

use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::*;

// ------------------------------------------------------------------ the request line

/// Bytes written, shared with the test.
#[derive(Clone, Default)]
struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    writes: Arc<Mutex<usize>>,
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.lock().unwrap().extend_from_slice(buf);
        *self.writes.lock().unwrap() += 1;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
    }

    fn writes(&self) -> usize {
        *self.writes.lock().unwrap()
    }
}

/// The line as tracing-subscriber prints it, set up as `init` sets it up (ANSI off).
fn by_tracing(format: Format, line: &Request<'_>) -> String {
    let capture = Capture::default();
    let sink = capture.clone();
    let filter = EnvFilter::new("trace");
    let dispatch = subscriber(format, filter, false, move || sink.clone());
    tracing::dispatcher::with_default(&dispatch, || line::emit(line));
    capture.text()
}

/// The line as the fast path renders it.
fn by_hand(format: Format, line: &Request<'_>) -> String {
    let mut out = Vec::new();
    match format {
        Format::Text => line.text(&mut out),
        Format::Json => line.json(&mut out),
    }
    String::from_utf8(out).unwrap()
}

/// The line with its timestamp, checked for shape, replaced by `<time>`.
fn untimed(format: Format, line: &str) -> String {
    let at = match format {
        Format::Text => 0,
        Format::Json => "{\"timestamp\":\"".len(),
    };
    let time = &line[at..at + 27];
    let shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    let fits = time.bytes().zip(shape.bytes()).all(|(c, s)| match s {
        b'd' => c.is_ascii_digit(),
        _ => c == s,
    });
    assert!(fits, "timestamp {time:?} in {line:?}");
    format!("{}<time>{}", &line[..at], &line[at + 27..])
}

/// Asserts both renderings are the same in both formats; the text one.
fn same(line: &Request<'_>) -> String {
    for format in [Format::Text, Format::Json] {
        let theirs = untimed(format, &by_tracing(format, line));
        let ours = untimed(format, &by_hand(format, line));
        assert_eq!(ours, theirs, "{format:?}");
        assert!(ours.ends_with('\n'), "{ours}");
        if format == Format::Json {
            assert_eq!(ours.matches('\n').count(), 1, "{ours}");
            let parsed: serde_json::Value = serde_json::from_str(&ours).unwrap();
            assert_eq!(parsed["target"], "hookwall::request");
        }
    }
    untimed(Format::Text, &by_hand(Format::Text, line))
}

const AWKWARD: &str = "a \"quoted\" back\\slash\ttab\nnewline\r\u{0}\u{1b}[31mred\u{7f} \
     é ☃ 日本 \u{85}\u{200b}\u{301}'single' {brace} =eq";

fn every_event<'a>(
    delivery: Option<&'a str>,
    slot: Option<usize>,
    up: Option<u16>,
) -> Vec<Event<'a>> {
    vec![
        Event::Forwarded {
            upstream_status: up.unwrap_or(200),
            delivery_id: delivery,
            secret_slot: slot,
        },
        Event::Handshake {
            upstream_status: up,
        },
        Event::Shadow {
            reason: "bad_signature",
            upstream_status: up.unwrap_or(204),
        },
        Event::Duplicate {
            reason: "replayed",
            delivery_id: delivery,
        },
        Event::Spooled {
            upstream_status: up,
            delivery_id: delivery,
            spool_id: "01J\"spool\\id",
            secret_slot: slot,
        },
        Event::Rejected {
            reason: "missing_signature",
        },
        Event::Rejected { reason: "" },
        Event::UpstreamFailed {
            reason: "upstream_timeout",
            delivery_id: delivery,
        },
    ]
}

#[test]
fn the_fast_line_is_tracing_subscribers_line_for_every_event() {
    let clients = ["2001:db8::7", "unparsable", AWKWARD];
    let strings = ["github", "-", "", AWKWARD];
    let elapsed = [
        0.0,
        0.001,
        1.234,
        12_345.678,
        1e-7,
        3e17,
        f64::NAN,
        f64::INFINITY,
    ];
    let mut checked = 0;
    for (i, text) in strings.iter().enumerate() {
        for delivery in [None, Some("d-1"), Some(*text)] {
            for (slot, up) in [
                (None, None),
                (Some(0), Some(502)),
                (Some(usize::MAX), Some(0)),
            ] {
                for event in every_event(delivery, slot, up) {
                    let line = Request {
                        route: text,
                        method: ["POST", "PATCH", "X\"ODD\\"][i % 3],
                        path: strings[(i + 1) % strings.len()],
                        client: clients[i % clients.len()],
                        request_id: strings[(i + 2) % strings.len()],
                        status: [200, 0, u16::MAX][i % 3],
                        elapsed_ms: elapsed[checked % elapsed.len()],
                        event,
                    };
                    same(&line);
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * 3 * 3 * 8);
}

#[test]
fn the_text_and_json_lines_read_as_documented() {
    let line = Request {
        route: "github",
        method: "POST",
        path: "/hooks/gh",
        client: "192.0.2.7",
        request_id: "req-1",
        status: 200,
        elapsed_ms: 1.5,
        event: Event::Forwarded {
            upstream_status: 202,
            delivery_id: Some("d\"1"),
            secret_slot: Some(1),
        },
    };
    assert_eq!(
        same(&line),
        "<time>  INFO hookwall::request: forwarded route=\"github\" method=POST \
         path=\"/hooks/gh\" client=192.0.2.7 request_id=\"req-1\" status=200 \
         upstream_status=202 delivery_id=\"d\\\"1\" secret_slot=1 elapsed_ms=1.5\n"
    );
    assert_eq!(
        untimed(Format::Json, &by_hand(Format::Json, &line)),
        "{\"timestamp\":\"<time>\",\"level\":\"INFO\",\"message\":\"forwarded\",\
         \"route\":\"github\",\"method\":\"POST\",\"path\":\"/hooks/gh\",\"client\":\"192.0.2.7\",\
         \"request_id\":\"req-1\",\"status\":200,\"upstream_status\":202,\"delivery_id\":\"d\\\"1\",\
         \"secret_slot\":1,\"elapsed_ms\":1.5,\"target\":\"hookwall::request\"}\n"
    );
    let failed = Request {
        event: Event::UpstreamFailed {
            reason: "upstream_unreachable",
            delivery_id: None,
        },
        status: 502,
        ..line
    };
    assert!(same(&failed).starts_with("<time>  WARN hookwall::request: upstream failed route="));
}

#[test]
fn only_a_line_the_subscriber_would_log_outside_any_span_takes_the_fast_path() {
    let filter = EnvFilter::new("info,hookwall::request=warn");
    let dispatch = subscriber(Format::Text, filter, false, io::sink);
    tracing::dispatcher::with_default(&dispatch, || {
        assert!(!wanted(Level::INFO));
        assert!(wanted(Level::WARN));
        let span = tracing::warn_span!("around");
        let _entered = span.enter();
        assert!(!wanted(Level::WARN));
    });
    // No subscriber at all: nothing is logged.
    let none = Dispatch::none();
    tracing::dispatcher::with_default(&none, || assert!(!wanted(Level::WARN)));
}

// ------------------------------------------------------------------------- the writer

/// A writer on a fresh capture; the dropped counts it reported.
fn started() -> (Writer, Guard, Capture, Arc<Mutex<Vec<u64>>>) {
    let capture = Capture::default();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let notes = Arc::clone(&reported);
    let notice = Box::new(move |n| notes.lock().unwrap().push(n));
    let (writer, guard) = Writer::start_with(capture.clone(), notice);
    (writer, guard, capture, reported)
}

#[test]
fn lines_from_many_threads_arrive_whole_in_order_and_in_few_writes() {
    let (writer, guard, capture, reported) = started();
    std::thread::scope(|s| {
        for t in 0..4 {
            let writer = writer.clone();
            s.spawn(move || {
                for i in 0..2000 {
                    writer.append(format!("thread {t} line {i}\n").as_bytes());
                }
            });
        }
    });
    drop(guard);
    let text = capture.text();
    for t in 0..4 {
        let prefix = format!("thread {t} line ");
        let mine: Vec<usize> = text
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(mine, (0..2000).collect::<Vec<_>>());
    }
    assert_eq!(text.lines().count(), 8000);
    assert!(capture.writes() < 800, "{} writes", capture.writes());
    assert!(reported.lock().unwrap().is_empty());
}

#[test]
fn an_idle_writer_writes_nothing_and_after_the_guard_lines_go_straight_out() {
    let (writer, guard, capture, _) = started();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(capture.writes(), 0);
    writer.append(b"one\n");
    drop(guard);
    assert_eq!(capture.text(), "one\n");
    writer.append(b"two\n");
    assert_eq!(capture.text(), "one\ntwo\n");
}

/// A sink whose first write says it started, then waits for the gate to open.
struct Gated {
    inner: Capture,
    started: Option<mpsc::Sender<()>>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Write for Gated {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(started) = self.started.take() {
            started.send(()).unwrap();
            let (open, cv) = &*self.gate;
            let _open = cv.wait_while(open.lock().unwrap(), |o| !*o).unwrap();
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_queue_drops_lines_without_blocking_and_reports_how_many() {
    let capture = Capture::default();
    let (started_tx, started_rx) = mpsc::channel();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let sink = Gated {
        inner: capture.clone(),
        started: Some(started_tx),
        gate: Arc::clone(&gate),
    };
    let reported = Arc::new(Mutex::new(Vec::new()));
    let notes = Arc::clone(&reported);
    let notice = Box::new(move |n| notes.lock().unwrap().push(n));
    let (writer, guard) = Writer::start_with(sink, notice);
    writer.append(b"first\n");
    // The writer is now stuck in its write: whatever comes queues, up to the cap.
    started_rx.recv().unwrap();
    let line = [b'x'; 999];
    let fit = writer::CAP / 1000;
    for _ in 0..fit + 52 {
        writer.append(&[&line[..], b"\n"].concat());
    }
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    drop(guard);
    assert_eq!(*reported.lock().unwrap(), [52]);
    let text = capture.text();
    assert!(text.starts_with("first\nxxx"));
    assert_eq!(text.lines().count(), 1 + fit);
}

#[test]
fn tracing_events_go_through_the_writer_as_whole_lines() {
    let (writer, guard, capture, _) = started();
    let dispatch = subscriber(Format::Json, EnvFilter::new("info"), false, writer);
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(target: "hookwall::test", n = 1, "one");
        tracing::debug!("not at info");
        tracing::warn!(target: "hookwall::test", "two");
    });
    drop(guard);
    let lines: Vec<serde_json::Value> = capture
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["message"], "one");
    assert_eq!(lines[0]["n"], 1);
    assert_eq!(lines[1]["level"], "WARN");
}
