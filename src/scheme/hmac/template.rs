//! The signed-payload template: literal text with `{body}`, `{timestamp}`, `{id}`, `{method}`
//! and `{url}`, parsed once from config, and filled per request with the bytes exactly as
//! received (the URL being the route's `public_url` and the request's query).

use http::Uri;

/// At most this many pieces in a signed-payload template.
pub(super) const MAX_PARTS: usize = 16;

/// One piece of a signed-payload template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Literal(Vec<u8>),
    /// The raw body, exactly as received.
    Body,
    /// The timestamp, exactly as received (not re-formatted).
    Timestamp,
    /// The delivery id header, exactly as received.
    Id,
    /// The request method (`POST`).
    Method,
    /// The route's `public_url`, plus `?` and the request's query string when it has one.
    Url,
}

/// Parses a `signed_payload` template: literal text with `{body}`, `{timestamp}`, `{id}`,
/// `{method}` and `{url}`; `{{` and `}}` stand for literal braces.
///
/// # Errors
/// An unknown placeholder, a stray brace, a template without `{body}` or with it twice, or
/// more than 16 pieces.
pub fn parse_template(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut literal = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("{{") {
            literal.push(b'{');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("}}") {
            literal.push(b'}');
            rest = after;
        } else if c == '{' {
            let end = rest.find('}').ok_or_else(|| {
                format!("`{text}`: unclosed `{{` (write `{{{{` for a literal brace)")
            })?;
            let part = match &rest[1..end] {
                "body" => Part::Body,
                "timestamp" => Part::Timestamp,
                "id" => Part::Id,
                "method" => Part::Method,
                "url" => Part::Url,
                other => {
                    return Err(format!(
                        "`{text}`: unknown placeholder `{{{other}}}` (use {{body}}, {{timestamp}}, {{id}}, {{method}} and {{url}})"
                    ))
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = &rest[end + 1..];
        } else if c == '}' {
            return Err(format!(
                "`{text}`: stray `}}` (write `}}}}` for a literal brace)"
            ));
        } else {
            let mut buf = [0u8; 4];
            literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &rest[c.len_utf8()..];
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    if parts.len() > MAX_PARTS {
        return Err(format!("`{text}` has more than {MAX_PARTS} pieces"));
    }
    match parts.iter().filter(|p| **p == Part::Body).count() {
        0 => Err(format!(
            "`{text}` does not contain {{body}}: the signature would not cover the body"
        )),
        1 => Ok(parts),
        _ => Err(format!("`{text}` contains {{body}} more than once")),
    }
}

/// What a template's placeholders stand for in one request.
pub(super) struct PayloadInput<'a> {
    pub(super) body: &'a [u8],
    pub(super) timestamp: &'a [u8],
    pub(super) id: &'a [u8],
    pub(super) method: &'a [u8],
    pub(super) url: &'a [u8],
}

/// Fills `out` with the template's pieces for one request; returns how many.
pub(super) fn fill<'a>(
    out: &mut [&'a [u8]; MAX_PARTS],
    template: &'a [Part],
    input: &PayloadInput<'a>,
) -> usize {
    for (slot, part) in out.iter_mut().zip(template) {
        *slot = match part {
            Part::Literal(text) => text.as_slice(),
            Part::Body => input.body,
            Part::Timestamp => input.timestamp,
            Part::Id => input.id,
            Part::Method => input.method,
            Part::Url => input.url,
        };
    }
    template.len()
}

/// The signed URL: `public_url`, plus `?` and the query when the request has one.
pub(super) fn signed_url(public_url: Option<&str>, uri: &Uri) -> String {
    let base = public_url.unwrap_or("");
    match uri.query() {
        Some(q) => format!("{base}?{q}"),
        None => base.to_owned(),
    }
}

/// HubSpot's v3 URL form: these escapes decoded, every other byte as it is.
pub(super) fn hubspot_decode(url: &str) -> String {
    const ESCAPES: [(&str, char); 12] = [
        ("%3A", ':'),
        ("%2F", '/'),
        ("%3F", '?'),
        ("%40", '@'),
        ("%21", '!'),
        ("%24", '$'),
        ("%27", '\''),
        ("%28", '('),
        ("%29", ')'),
        ("%2A", '*'),
        ("%2C", ','),
        ("%3B", ';'),
    ];
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i..i + 3).unwrap_or("");
        match ESCAPES.iter().find(|(e, _)| e.eq_ignore_ascii_case(escape)) {
            Some((_, c)) => {
                out.push(*c);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}
