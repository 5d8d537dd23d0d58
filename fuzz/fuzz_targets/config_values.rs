//! The config's value parsers: sizes, durations, `signed_payload` templates and
//! `signature_list` tables. Input: `[which]` then the text.
//!
//! What they accept must hold: a size is at least one byte and reads back from its display
//! form; so does a duration (longer than zero) while its milliseconds fit in 64 bits; a
//! template holds `{body}` exactly once and at most sixteen pieces; a list format's separator
//! and pair differ and appear in neither its version nor its timestamp key.
#![no_main]

use std::time::Duration;

use hookwall::config::{duration, size, RawSignatureList};
use hookwall::scheme::hmac::{parse_template, Part};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [which, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 4 {
        0 => {
            if let Ok(n) = size::parse(text) {
                assert!(n >= 1);
                assert_eq!(
                    size::parse(&size::Display(n).to_string()),
                    Ok(n),
                    "{text:?}"
                );
            }
        }
        1 => {
            if let Ok(d) = duration::parse(text) {
                assert!(d > Duration::ZERO);
                if d.as_millis() <= u128::from(u64::MAX) {
                    assert_eq!(duration::parse(&duration::display(d)), Ok(d), "{text:?}");
                }
            }
        }
        2 => {
            if let Ok(parts) = parse_template(text) {
                assert_eq!(parts.iter().filter(|p| **p == Part::Body).count(), 1);
                assert!(parts.len() <= 16);
            }
        }
        _ => {
            let mut fields = text.splitn(4, '\n');
            let mut next = || fields.next().unwrap_or("").to_owned();
            let raw = RawSignatureList {
                separator: next(),
                pair: next(),
                version: next(),
                timestamp: Some(next()).filter(|t| !t.is_empty()),
            };
            if let Ok(format) = raw.to_format() {
                assert_ne!(format.separator, format.pair);
                assert!(!format.version.is_empty());
                for key in std::iter::once(&format.version).chain(format.timestamp_key.as_ref()) {
                    assert!(!key.contains([format.separator, format.pair]), "{raw:?}");
                }
            }
        }
    }
});
