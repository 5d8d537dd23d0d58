//! The strict checks a request target must pass before it is matched at all, and the paths
//! a route may be configured with.
//!
//! A target is matched as received, never normalised: a path with dot segments, empty
//! segments, a backslash, or an encoded `/`, `.`, `\`, `%` or NUL is refused, so the app
//! behind can never route a request to another handler than the one it was verified for.

use http::{Uri, Version};

/// Why a request target is refused (400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// `http://host/path` (HTTP/1 absolute form), `host:port` (authority form) or `*`.
    NotOriginForm,
    /// The path does not start with `/`.
    NotAbsolutePath,
    /// A `.` or `..` segment, also with `;params` (`..;`).
    DotSegment,
    /// `//` inside the path.
    EmptySegment,
    /// A backslash, which some servers treat as `/`.
    Backslash,
    /// `%2F`, `%2E`, `%5C`, `%25`, `%3B` or `%00`: a separator or escape the app might decode.
    EncodedSeparator,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// A control character, space, `#` or a non-ASCII byte.
    BadCharacter,
}

impl TargetError {
    /// Reason code for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            TargetError::NotOriginForm => "target_not_origin_form",
            TargetError::NotAbsolutePath => "target_not_absolute_path",
            TargetError::DotSegment => "target_dot_segment",
            TargetError::EmptySegment => "target_empty_segment",
            TargetError::Backslash => "target_backslash",
            TargetError::EncodedSeparator => "target_encoded_separator",
            TargetError::BadEscape => "target_bad_escape",
            TargetError::BadCharacter => "target_bad_character",
        }
    }
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TargetError::NotOriginForm => "not an origin-form target",
            TargetError::NotAbsolutePath => "does not start with `/`",
            TargetError::DotSegment => "holds a `.` or `..` segment",
            TargetError::EmptySegment => "holds an empty segment (`//`)",
            TargetError::Backslash => "holds a backslash",
            TargetError::EncodedSeparator => "holds an encoded `/`, `.`, `\\`, `%`, `;` or NUL",
            TargetError::BadEscape => "holds a `%` not followed by two hex digits",
            TargetError::BadCharacter => "holds a space, control character, `#` or non-ASCII byte",
        })
    }
}

/// Checks a request's target. HTTP/1 requests must use the origin form (`/path?query`);
/// HTTP/2 requests carry scheme and authority as pseudo-headers, so only their path counts.
///
/// # Errors
/// The first [`TargetError`] found.
pub fn check_target(uri: &Uri, version: Version) -> Result<(), TargetError> {
    let origin_form = uri.scheme().is_none() && uri.authority().is_none();
    if !origin_form && version < Version::HTTP_2 {
        return Err(TargetError::NotOriginForm);
    }
    if uri.path() == "*" {
        return Err(TargetError::NotOriginForm);
    }
    check_path(uri.path())?;
    match uri.query() {
        Some(q) => check_escapes(q, false),
        None => Ok(()),
    }
}

/// Checks a path (without query): see [`TargetError`]. Also used on configured paths, which
/// must be paths a request could have.
///
/// # Errors
/// The first [`TargetError`] found.
pub fn check_path(path: &str) -> Result<(), TargetError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(TargetError::NotAbsolutePath);
    };
    check_escapes(path, true)?;
    if path.contains('\\') {
        return Err(TargetError::Backslash);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        // A trailing slash is an empty last segment and is fine; `//` elsewhere is not.
        if seg.is_empty() && i != last {
            return Err(TargetError::EmptySegment);
        }
        let bare = seg.split(';').next().unwrap_or("");
        if bare == "." || bare == ".." {
            return Err(TargetError::DotSegment);
        }
    }
    Ok(())
}

/// Checks characters and percent-escapes. In a path, escapes of separators are refused too.
fn check_escapes(text: &str, is_path: bool) -> Result<(), TargetError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b <= b' ' || b == 0x7f || b == b'#' || !b.is_ascii() {
            return Err(TargetError::BadCharacter);
        }
        if b == b'%' {
            let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                return Err(TargetError::BadEscape);
            };
            let (Some(h), Some(l)) = ((*h as char).to_digit(16), (*l as char).to_digit(16)) else {
                return Err(TargetError::BadEscape);
            };
            let decoded = (h * 16 + l) as u8;
            // `;` too: a server that decodes before stripping `;params` would read
            // `..%3B` as the dot segment `..;`.
            if decoded == 0 || (is_path && matches!(decoded, b'/' | b'.' | b'\\' | b'%' | b';')) {
                return Err(TargetError::EncodedSeparator);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_targets() {
        for t in [
            "/",
            "/webhooks/github",
            "/hooks/",
            "/a/b?x=1&y=%20z",
            "/a%20b",
            "/a;v=1",
            "/.well-known/x",
        ] {
            assert_eq!(
                check_target(&t.parse().unwrap(), Version::HTTP_11),
                Ok(()),
                "{t}"
            );
        }
    }

    #[test]
    fn refuses_dot_segments_in_every_spelling() {
        for t in [
            "/a/../admin",
            "/a/./b",
            "/..",
            "/a/..",
            "/a/..;/admin",
            "/a/.;x/b",
            "/a/../",
        ] {
            assert_eq!(
                check_target(&t.parse().unwrap(), Version::HTTP_11),
                Err(TargetError::DotSegment),
                "{t}"
            );
        }
    }

    #[test]
    fn refuses_encoded_separators_and_double_encoding() {
        for t in [
            "/a/..%3B/b",
            "/a%3bb",
            "/a%2fb",
            "/a%2Fb",
            "/a/%2e%2e/b",
            "/a%2E",
            "/a%5cb",
            "/a%00",
            "/a%252e%252e/b",
            "/x?y=%00",
        ] {
            assert_eq!(
                check_target(&t.parse().unwrap(), Version::HTTP_11),
                Err(TargetError::EncodedSeparator),
                "{t}"
            );
        }
        // In the query, an encoded slash is ordinary data.
        assert_eq!(
            check_target(&"/x?next=%2Fhome".parse().unwrap(), Version::HTTP_11),
            Ok(())
        );
    }

    #[test]
    fn refuses_other_confusing_paths() {
        assert_eq!(check_path("/a//b"), Err(TargetError::EmptySegment));
        assert_eq!(check_path("//a"), Err(TargetError::EmptySegment));
        assert_eq!(check_path("/a\\..\\b"), Err(TargetError::Backslash));
        assert_eq!(check_path("/a%zz"), Err(TargetError::BadEscape));
        assert_eq!(check_path("/a%2"), Err(TargetError::BadEscape));
        assert_eq!(check_path("a/b"), Err(TargetError::NotAbsolutePath));
        assert_eq!(check_path("/a b"), Err(TargetError::BadCharacter));
        assert_eq!(check_path("/a#b"), Err(TargetError::BadCharacter));
        assert_eq!(check_path("/caf\u{e9}"), Err(TargetError::BadCharacter));
    }

    #[test]
    fn refuses_absolute_authority_and_asterisk_forms_over_http1() {
        for t in ["http://example.com/webhooks/github", "example.com:443", "*"] {
            let uri: Uri = t.parse().unwrap();
            assert_eq!(
                check_target(&uri, Version::HTTP_11),
                Err(TargetError::NotOriginForm),
                "{t}"
            );
        }
        // HTTP/2 always carries scheme and authority.
        let uri: Uri = "http://example.com/webhooks/github".parse().unwrap();
        assert_eq!(check_target(&uri, Version::HTTP_2), Ok(()));
    }
}
