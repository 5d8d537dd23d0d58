//! The background log writer: request threads append whole lines to one shared buffer, and
//! one thread takes the buffer and writes it to stderr in a single `write_all`.
//!
//! Wake-ups are rare: a line wakes the writer only when it is parked on an empty buffer, and
//! once woken it lingers a moment before taking the buffer, so a burst of lines is one
//! write. It never spins and never wakes while idle. The buffer is bounded: a line that
//! would take it past `CAP` (1 MiB) is dropped (never does a request wait on stderr),
//! counted, and the count reported once the writer has caught up. The [`Guard`] flushes what
//! is queued when it is dropped, at process exit; a line that comes after is written directly.

use std::io::{self, Write};
use std::mem;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Most bytes queued; a line that would go past it is dropped.
pub(super) const CAP: usize = 1 << 20;

/// How long the writer waits, once woken, for more lines to join the batch.
const LINGER: Duration = Duration::from_millis(2);

/// How long the guard waits at exit for the queue to reach stderr.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// What the writer says about lines it dropped: their number.
type Notice = Box<dyn Fn(u64) + Send + Sync>;

/// A handle that appends lines to the queue; cheap to clone. Also tracing-subscriber's
/// [`MakeWriter`](tracing_subscriber::fmt::MakeWriter), so every tracing event takes the
/// same queue, in order with the request lines.
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
}

/// Flushes the queue when dropped: keep it until the process exits.
#[must_use = "dropping the guard stops the writer"]
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// The writer thread parks here while the queue is empty.
    wake: Condvar,
    /// The guard waits here for the writer thread to finish.
    finished: Condvar,
    sink: Mutex<Box<dyn Write + Send>>,
    notice: Notice,
}

#[derive(Default)]
struct State {
    queued: Vec<u8>,
    /// Lines dropped since the last report.
    dropped: u64,
    /// The writer thread is parked on `wake`: the next line must notify it.
    parked: bool,
    /// The guard was dropped: write what is queued, then stop.
    closing: bool,
    /// The writer thread has stopped (or never started): lines go straight to the sink.
    done: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("log::Writer")
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("log::Guard")
    }
}

impl Writer {
    /// Starts the writer thread on `sink`; dropped lines are reported as a warning event.
    pub fn start(sink: impl Write + Send + 'static) -> (Writer, Guard) {
        Writer::start_with(sink, Box::new(report_dropped))
    }

    /// Starts the writer thread on `sink`, saying `notice` about dropped lines. Should the
    /// thread not start, every line is written directly.
    pub(super) fn start_with(sink: impl Write + Send + 'static, notice: Notice) -> (Writer, Guard) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            finished: Condvar::new(),
            sink: Mutex::new(Box::new(sink)),
            notice,
        });
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("hookwall-log".to_owned())
            .spawn(move || worker.run());
        if let Err(e) = &thread {
            eprintln!("hookwall: log writer not started ({e}): writing log lines directly");
            shared.lock().done = true;
        }
        let guard = Guard {
            shared: Arc::clone(&shared),
            thread: thread.ok(),
        };
        (Writer { shared }, guard)
    }

    /// Queues one or more whole lines. Never blocks on the sink while the writer runs.
    pub fn append(&self, lines: &[u8]) {
        let mut state = self.shared.lock();
        if state.done {
            drop(state);
            return self.shared.write(lines);
        }
        if state.queued.len() + lines.len() > CAP {
            state.dropped += 1;
            return;
        }
        state.queued.extend_from_slice(lines);
        let wake = mem::take(&mut state.parked);
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
    }
}

/// The dropped-lines report: a warning through tracing, so it is formatted as every line is.
fn report_dropped(count: u64) {
    tracing::warn!(target: "hookwall::log", "{count} log lines dropped");
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer thread: batch after batch until the guard is dropped and the queue empty.
    fn run(&self) {
        let mut batch = Vec::new();
        while let Some(closing) = self.wait() {
            if !closing {
                thread::sleep(LINGER);
            }
            let dropped = self.take(&mut batch);
            self.write(&batch);
            batch.clear();
            if dropped > 0 {
                (self.notice)(dropped);
            }
        }
        self.lock().done = true;
        self.finished.notify_all();
    }

    /// Parks until there is something to write; whether closing, or `None` when closing with
    /// nothing left.
    fn wait(&self) -> Option<bool> {
        let mut state = self.lock();
        loop {
            if !state.queued.is_empty() || state.dropped > 0 {
                return Some(state.closing);
            }
            if state.closing {
                return None;
            }
            state.parked = true;
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.parked = false;
        }
    }

    /// Swaps the queue into `batch` (empty, its allocation reused); the lines dropped since
    /// the last take.
    fn take(&self, batch: &mut Vec<u8>) -> u64 {
        let mut state = self.lock();
        mem::swap(&mut state.queued, batch);
        mem::take(&mut state.dropped)
    }

    /// Writes to the sink; an error (a closed stderr) loses the lines and nothing else.
    fn write(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = sink.write_all(bytes).and_then(|()| sink.flush());
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closing = true;
        drop(state);
        self.shared.wake.notify_one();
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        let mut state = self.shared.lock();
        while !state.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // A stalled stderr: give up on the queue rather than hang the exit.
                state.done = true;
                return;
            }
            state = match self.shared.finished.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        drop(state);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The per-event writer tracing-subscriber asks for: one `write_all` per event, one append.
#[derive(Debug)]
pub struct Append<'a> {
    writer: &'a Writer,
}

impl Write for Append<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Writer {
    type Writer = Append<'a>;

    fn make_writer(&'a self) -> Append<'a> {
        Append { writer: self }
    }
}
