//! Raw HTTP/1.1 on the wire, for tests that write bytes no polite client sends: a body in
//! chunked coding, a connection read until the server closes it (bounded), and the responses
//! in what was read. Responses are parsed here by hand, strictly: they are the CRLF-framed
//! answers a server writes, not input to be lenient with.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `body` in chunked coding, one chunk per `piece` bytes, then the last chunk (no trailers).
pub fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// One response read off a raw connection.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    /// In arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of `name` (given in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the response says the connection closes after it.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// What came back on one connection.
#[derive(Debug)]
pub struct Exchange {
    pub responses: Vec<RawResponse>,
    /// Everything read.
    pub raw: Vec<u8>,
    /// Bytes after the last complete response (a response cut short, or garbage).
    pub rest: Vec<u8>,
    /// The server closed (or reset) the connection before the bound ran out.
    pub closed: bool,
    /// From the start until the connection closed (or the bound ran out).
    pub elapsed: Duration,
}

impl Exchange {
    /// Every response's status, interim ones included.
    pub fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }

    /// The statuses without the interim (1xx) responses.
    pub fn final_statuses(&self) -> Vec<u16> {
        self.statuses().into_iter().filter(|s| *s >= 200).collect()
    }

    /// The status of the first status line read, even for a response without its body (an
    /// answer to HEAD).
    pub fn first_status(&self) -> Option<u16> {
        let text = String::from_utf8_lossy(&self.raw);
        let line = text.lines().next()?;
        let mut words = line.split(' ');
        (words.next()? == "HTTP/1.1")
            .then(|| words.next()?.parse().ok())
            .flatten()
    }
}

/// Writes `request` on a fresh connection to `addr` (ignoring write errors: the server may
/// close first), then reads as [`finish`] does, for at most `bound` from the first byte.
pub async fn exchange(addr: SocketAddr, request: &[u8], bound: Duration) -> Exchange {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("the server accepts");
    let _ = stream.write_all(request).await;
    finish(&mut stream, start, bound).await
}

/// Reads until the server closes the connection or `bound` (counted from `start`) passes,
/// and parses what came back.
pub async fn finish<R: AsyncRead + Unpin>(
    stream: &mut R,
    start: Instant,
    bound: Duration,
) -> Exchange {
    let (raw, closed) = read_until_close(stream, start + bound).await;
    let elapsed = start.elapsed();
    let (responses, rest) = parse_responses(&raw);
    Exchange {
        responses,
        raw,
        rest,
        closed,
        elapsed,
    }
}

/// Reads until end of stream, a reset, or `deadline`: the bytes, and whether the connection
/// ended before the deadline.
pub async fn read_until_close<R: AsyncRead + Unpin>(
    stream: &mut R,
    deadline: Instant,
) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Err(_) => return (out, false),
            Ok(Ok(0) | Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads one response (an interim one too) from `stream`, keeping what follows it in `buf`
/// for the next call; `None` if the connection ends or `deadline` passes first.
pub async fn read_response<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Option<RawResponse> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((res, used)) = parse_response(buf) {
            buf.drain(..used);
            return Some(res);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Err(_) | Ok(Ok(0) | Err(_)) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Every complete response in `raw`, and what follows the last one.
pub fn parse_responses(raw: &[u8]) -> (Vec<RawResponse>, Vec<u8>) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((res, used)) = parse_response(&raw[at..]) {
        out.push(res);
        at += used;
    }
    (out, raw[at..].to_vec())
}

/// One complete response at the start of `raw`, and how many bytes it took. The body is
/// framed by `Content-Length` or chunked coding; 1xx, 204 and 304 answers have none.
pub fn parse_response(raw: &[u8]) -> Option<(RawResponse, usize)> {
    let (mut res, head) = parse_head(raw)?;
    let rest = &raw[head..];
    let status = res.status;
    let (body, used) = if status < 200 || status == 204 || status == 304 {
        (Vec::new(), 0)
    } else if res
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        dechunk(rest)?
    } else {
        let len: usize = res
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        (rest.get(..len)?.to_vec(), len)
    };
    res.body = body;
    Some((res, head + used))
}

/// A response head at the start of `raw`: `HTTP/1.x`, a three-digit status, `name: value`
/// lines (names lowercased, values trimmed), every line ended by CRLF. The response without
/// its body, and the head's length; `None` for a head that is cut short or malformed.
fn parse_head(raw: &[u8]) -> Option<(RawResponse, usize)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut lines = text.split("\r\n");
    let mut words = lines.next()?.splitn(3, ' ');
    if !matches!(words.next()?, "HTTP/1.0" | "HTTP/1.1") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace()) {
            return None;
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let res = RawResponse {
        status: code.parse().ok()?,
        headers,
        body: Vec::new(),
    };
    Some((res, end + 4))
}

/// A chunked body at the start of `raw` (no trailers expected): the body, and how many bytes
/// its coding took; `None` while it is incomplete.
pub fn dechunk(raw: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = raw[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let size_text = std::str::from_utf8(&raw[at..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            if raw.len() < at + 2 {
                return None;
            }
            return Some((body, at + 2));
        }
        if raw.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&raw[at..at + size]);
        at += size + 2;
    }
}
