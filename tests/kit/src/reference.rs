//! Reference computations, independent of hookwall: HMACs over the pieces a provider
//! documents, their encodings, and what an accepted request path must never hold.

use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use std::time::{SystemTime, UNIX_EPOCH};

/// The MAC `M` (an `Hmac<hash>`) of the concatenated `parts` under `key`.
pub fn mac<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn mac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    mac::<Hmac<sha2::Sha256>>(key, parts)
}

/// HMAC-SHA1 of the concatenated `parts` under `key`.
pub fn mac1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    mac::<Hmac<sha1::Sha1>>(key, parts)
}

/// HMAC-SHA512 of the concatenated `parts` under `key`.
pub fn mac512(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    mac::<Hmac<sha2::Sha512>>(key, parts)
}

/// Standard base64, padded.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Standard base64 decoded (panics on bad input: the tests' own constants).
pub fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

/// GitHub's `X-Hub-Signature-256` value: `sha256=` and the hex HMAC-SHA256 of `body`.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac256(secret.as_bytes(), &[body])))
}

/// GitHub's legacy `X-Hub-Signature` value: `sha1=` and the hex HMAC-SHA1 of `body`.
pub fn github_sha1_signature(secret: &str, body: &[u8]) -> String {
    format!("sha1={}", hex::encode(mac1(secret.as_bytes(), &[body])))
}

/// Checked without the implementation: what a path hookwall accepts must never hold.
///
/// # Errors
/// The first promise the path breaks.
pub fn path_keeps_its_promises(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("does not start with /".into());
    }
    if path.contains("//") {
        return Err("holds //".into());
    }
    if path.contains('\\') {
        return Err("holds a backslash".into());
    }
    let lower = path.to_ascii_lowercase();
    for encoded in ["%2f", "%2e", "%5c", "%25", "%00"] {
        if lower.contains(encoded) {
            return Err(format!("holds {encoded}"));
        }
    }
    if path
        .bytes()
        .any(|b| b <= b' ' || b == 0x7f || b == b'#' || !b.is_ascii())
    {
        return Err("holds a space, control, # or non-ASCII byte".into());
    }
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
        if !(hex(i + 1) && hex(i + 2)) {
            return Err("holds a bad escape".into());
        }
    }
    for segment in path.split('/') {
        let bare = segment.split(';').next().unwrap_or("");
        if bare == "." || bare == ".." {
            return Err(format!("holds the dot segment {segment:?}"));
        }
    }
    Ok(())
}
