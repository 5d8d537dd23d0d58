//! Requests to hookwall and its answers: a request built from parts, sent over any stream
//! with hyper's HTTP/1.1 client, and the reply read whole; raw requests as text for a test
//! to spell (their answers are read with [`crate::wire`]).

use std::fmt::Display;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::wire::read_until_close;

/// A request with `Host: host` and `headers`, its body `body`.
pub fn build(
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    host: impl Display,
) -> Request<Full<Bytes>> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a valid request")
}

/// Sends one request over `io` with hyper's HTTP/1.1 client and reads the whole answer.
pub async fn send<S>(io: S, req: Request<Full<Bytes>>) -> Reply
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("an HTTP/1.1 handshake");
    tokio::spawn(conn);
    let res = sender.send_request(req).await.expect("an answer");
    Reply::read(res).await
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub async fn read(res: Response<Incoming>) -> Reply {
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("a whole body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("a text header"))
    }
}

/// Reads until EOF, an error, or 5 s without the connection closing.
pub async fn read_all<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let (bytes, _closed) = read_until_close(stream, deadline).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The head of a raw HTTP/1.1 POST: the request line, `Host`, `Content-Length: length`,
/// `headers` as spelled, and the blank line. For a test that sends the body later, or not.
pub fn raw_head(target: &str, host: &str, headers: &[(&str, &str)], length: usize) -> String {
    let mut out = format!("POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out
}

/// A raw HTTP/1.1 POST: the request line, `Host`, `Content-Length`, `headers` as spelled,
/// then `body`.
pub fn raw_post(target: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut bytes = raw_head(target, host, headers, body.len()).into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// The status code of a raw HTTP/1.1 response text.
pub fn raw_status(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}
