//! HTML for the inspector page: escaping (every value on the page goes through [`esc`], for
//! delivery ids, paths and client addresses of refused requests come from attackers) and the
//! headers every admin answer carries (no script, no frame, no sniffing, no referrer).

use std::fmt::Write as _;

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// `text` with `&`, `<`, `>`, `"` and `'` escaped: safe as element text and as a quoted
/// attribute value.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A table: `head` cells, then `rows` whose cells are already HTML.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(out, "<tr><td colspan=\"{}\">none</td></tr>", head.len());
    }
    out.push_str("</tbody></table>");
    out
}

/// The page's content security policy: nothing but its own style sheet and same-origin
/// forms; no script at all.
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the headers every admin answer carries.
pub fn secure(headers: &mut HeaderMap) {
    let set: [(&str, &str); 4] = [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ];
    for (name, value) in set {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// The style sheet, served at `/style.css` (the policy allows no inline style).
pub const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.25em .5em;\
text-align:left;vertical-align:top;font-size:13px}th{background:#f3f3f3}\
td.num{text-align:right}.bad{color:#a40000}.ok{color:#116611}.muted{color:#777}\
form.inline{display:inline;margin:0}button{font-size:12px}code{font-size:12px}\
.shadow{background:#fff3cd}nav a{margin-right:1em}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            esc("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(esc(r#"a"b'c&d"#), "a&quot;b&#39;c&amp;d");
        assert_eq!(esc("line\nbreak\u{0}"), "line&#10;break&#0;");
        assert_eq!(esc("gh-1234 /webhooks/ü"), "gh-1234 /webhooks/ü");
    }

    #[test]
    fn tables_escape_their_heads_and_say_none_when_empty() {
        let t = table(&["<a>"], &[]);
        assert!(
            t.contains("<th>&lt;a&gt;</th>") && t.contains("none"),
            "{t}"
        );
    }
}
