//! Hand-written HTTP/2, for the attacks no polite client sends: frames built byte by byte,
//! HPACK literals that touch no dynamic table, frames read back under a deadline, and a
//! request body sent within the flow-control windows the server grants.

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types (RFC 9113 section 6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

// Flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// The RST_STREAM error code a client sends when it gives up on a stream.
pub const CANCEL: u32 = 0x8;

/// One frame: 9-byte header, then the payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len < 1 << 24);
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The client preface, an empty SETTINGS, and an ACK of the server's SETTINGS.
pub fn client_start() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(SETTINGS, ACK, 0, &[]));
    out
}

/// An RST_STREAM frame for `stream` with error `code`.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 section 5.1).
fn integer(out: &mut Vec<u8>, n: u32, flags: u8, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// Header fields as HPACK literals without indexing, names and values as plain strings:
/// nothing in the dynamic table, so any slice of it decodes the same.
pub fn hpack(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        integer(&mut out, 7, 0, name.len());
        out.extend_from_slice(name.as_bytes());
        integer(&mut out, 7, 0, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// A request header block: `method path` on `hookwall.test`, plus `extra`.
pub fn request_block(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut fields = vec![
        (":method", method),
        (":scheme", "http"),
        (":authority", "hookwall.test"),
        (":path", path),
    ];
    fields.extend_from_slice(extra);
    hpack(&fields)
}

/// A frame read back from the server.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A GOAWAY's error code.
    pub fn goaway_code(&self) -> Option<u32> {
        (self.kind == GOAWAY && self.payload.len() >= 8).then(|| {
            u32::from_be_bytes([
                self.payload[4],
                self.payload[5],
                self.payload[6],
                self.payload[7],
            ])
        })
    }
}

/// How reading frames ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The server closed or reset the connection.
    Closed,
    /// The deadline passed with the connection open.
    TimedOut,
}

/// Fills `buf` from `stream`; `Err` says how reading ended instead.
async fn read_exact_by<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<(), End> {
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, stream.read_exact(buf)).await {
        Err(_) => Err(End::TimedOut),
        Ok(Err(_)) => Err(End::Closed),
        Ok(Ok(_)) => Ok(()),
    }
}

/// Reads one frame; `Err` says how reading ended instead.
pub async fn read_frame<R: AsyncRead + Unpin>(
    stream: &mut R,
    deadline: Instant,
) -> Result<Frame, End> {
    let mut head = [0u8; 9];
    read_exact_by(stream, &mut head, deadline).await?;
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    read_exact_by(stream, &mut payload, deadline).await?;
    Ok(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// Reads frames until `stop` says so (returns `None` as the end), the connection ends,
/// or `deadline` passes.
pub async fn read_frames<R: AsyncRead + Unpin>(
    stream: &mut R,
    deadline: Instant,
    mut stop: impl FnMut(&Frame) -> bool,
) -> (Vec<Frame>, Option<End>) {
    let mut frames = Vec::new();
    loop {
        let frame = match read_frame(stream, deadline).await {
            Ok(f) => f,
            Err(end) => return (frames, Some(end)),
        };
        let done = stop(&frame);
        frames.push(frame);
        if done {
            return (frames, None);
        }
    }
}

/// Flow-control windows (RFC 9113 section 6.9) for one stream and the connection.
pub struct Windows {
    pub connection: i64,
    pub stream: i64,
}

impl Windows {
    /// Applies a frame from the server: WINDOW_UPDATE, or SETTINGS_INITIAL_WINDOW_SIZE
    /// (taken as the stream's window: call this before the stream has sent anything).
    pub fn apply(&mut self, f: &Frame, stream: u32) {
        if f.kind == WINDOW_UPDATE && f.payload.len() == 4 {
            let inc = i64::from(
                u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]])
                    & 0x7fff_ffff,
            );
            if f.stream == 0 {
                self.connection += inc;
            } else if f.stream == stream {
                self.stream += inc;
            }
        }
        if f.kind == SETTINGS && f.flags & ACK == 0 {
            for entry in f.payload.chunks_exact(6) {
                if entry[..2] == [0, 4] {
                    self.stream =
                        i64::from(u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]));
                }
            }
        }
    }
}

/// Opens a connection: the client preface, then the server's SETTINGS read, which gives
/// the initial stream window.
pub async fn open<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
    deadline: Instant,
) -> Windows {
    w.write_all(&client_start())
        .await
        .expect("the preface is written");
    let mut windows = Windows {
        connection: 65_535,
        stream: 65_535,
    };
    loop {
        let f = read_frame(r, deadline)
            .await
            .expect("the server's SETTINGS");
        windows.apply(&f, 1);
        if f.kind == SETTINGS && f.flags & ACK == 0 {
            return windows;
        }
    }
}

/// Sends `body` as DATA on `stream`, END_STREAM on the last frame, within the windows the
/// server grants, reading its frames whenever a window is spent.
pub async fn send_body<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
    stream: u32,
    mut windows: Windows,
    body: &[u8],
    deadline: Instant,
) {
    let mut rest = body;
    while !rest.is_empty() {
        let room = windows.connection.min(windows.stream).min(16_384);
        if room <= 0 {
            let f = read_frame(r, deadline).await.expect("a WINDOW_UPDATE");
            windows.apply(&f, stream);
            continue;
        }
        let n = rest.len().min(room as usize);
        let last = n == rest.len();
        let flags = if last { END_STREAM } else { 0 };
        w.write_all(&frame(DATA, flags, stream, &rest[..n]))
            .await
            .expect("a DATA frame is written");
        windows.connection -= n as i64;
        windows.stream -= n as i64;
        rest = &rest[n..];
    }
}
