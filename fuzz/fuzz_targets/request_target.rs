//! The request-target check: `check_path` on the input as text, and `check_target` on the
//! input as a URI over HTTP/1.0, HTTP/1.1 and HTTP/2. Whatever is accepted must have no dot
//! segment, no `//`, no backslash, no encoded `/ . \ %` or NUL and no bad escape, be in
//! origin form over HTTP/1, and have a query without NUL or bytes outside printable ASCII.
#![no_main]

use hookwall::target::{check_path, check_target};
use hookwall_fuzz::path_keeps_its_promises;
use http::{Uri, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if check_path(text).is_ok() {
            if let Err(why) = path_keeps_its_promises(text) {
                panic!("check_path accepted {text:?}, which {why}");
            }
        }
    }
    let Ok(uri) = Uri::try_from(data) else {
        return;
    };
    for version in [Version::HTTP_10, Version::HTTP_11, Version::HTTP_2] {
        if check_target(&uri, version).is_err() {
            continue;
        }
        if let Err(why) = path_keeps_its_promises(uri.path()) {
            panic!("check_target accepted {uri:?} over {version:?}, whose path {why}");
        }
        if version < Version::HTTP_2 {
            assert!(
                uri.scheme().is_none() && uri.authority().is_none(),
                "{uri:?}"
            );
        }
        if let Some(q) = uri.query() {
            assert!(!q.to_ascii_lowercase().contains("%00"), "{uri:?}");
            assert!(
                !q.bytes().any(|b| b <= b' ' || b == 0x7f || !b.is_ascii()),
                "{uri:?}"
            );
        }
    }
});
