//! Captured raw HTTP/1.x requests, as `hookwall verify` reads them: the head, then a body
//! framed by `Content-Length` or chunked encoding (or, with neither, the rest of the file).

use http::{HeaderMap, Uri};

/// A request read back from a capture.
pub(super) struct Captured {
    pub(super) method: http::Method,
    pub(super) uri: Uri,
    pub(super) version: http::Version,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// Parses a raw HTTP/1.x request: head, then a body framed by `Content-Length` or chunked
/// encoding (or, with neither, the rest of the capture).
pub(super) fn parse_capture(bytes: &[u8]) -> Result<Captured, String> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut slots);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err("the capture ends inside the request head".into())
        }
        Err(e) => return Err(format!("the request head does not parse: {e}")),
    };
    let method = http::Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| "bad method".to_owned())?;
    let uri: Uri = req
        .path
        .unwrap_or("")
        .parse()
        .map_err(|_| "bad request target".to_owned())?;
    let version = if req.version == Some(0) {
        http::Version::HTTP_10
    } else {
        http::Version::HTTP_11
    };
    let mut headers = HeaderMap::new();
    for h in req.headers.iter() {
        let name = http::HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("bad header name `{}`", h.name))?;
        let value = http::HeaderValue::from_bytes(h.value)
            .map_err(|_| format!("bad value for `{}`", h.name))?;
        headers.append(name, value);
    }
    let rest = &bytes[head_len..];
    let chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = headers.get(http::header::CONTENT_LENGTH) {
        let len: usize = len
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or("Content-Length is not a number")?;
        rest.get(..len)
            .ok_or_else(|| {
                format!(
                    "Content-Length says {len} bytes but the capture holds {}",
                    rest.len()
                )
            })?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Captured {
        method,
        uri,
        version,
        headers,
        body,
    })
}

/// Decodes a chunked body.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line has no CRLF")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size `{size_text}`"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("the capture ends inside a chunk")?;
        body.extend_from_slice(chunk);
        rest = rest
            .get(size + 2..)
            .ok_or("the capture ends inside a chunk")?;
    }
}
