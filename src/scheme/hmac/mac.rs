//! The MAC itself: the hash under the HMAC (fixed by config, never by the request), how a
//! tag is written in a header, a key scheduled once per secret, and the tag it computes.

use base64::Engine as _;
use hmac::{Hmac, Mac};

use crate::scheme::common::BASE64_LENIENT_PADDING;

/// The longest tag any algorithm here produces (SHA-512).
pub(crate) const MAX_TAG: usize = 64;

/// The hash under the HMAC; fixed by config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// Parses the config spelling (`sha1`, `sha256`, `sha512`).
    pub fn parse(text: &str) -> Option<Algorithm> {
        match text {
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// The tag length in bytes.
    pub fn tag_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

/// How the tag is written in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal; either case is accepted, lowercase is produced.
    Hex,
    /// Standard base64 (`+/`), padded or not.
    Base64,
}

impl Encoding {
    /// Parses the config spelling (`hex`, `base64`).
    pub fn parse(text: &str) -> Option<Encoding> {
        match text {
            "hex" => Some(Encoding::Hex),
            "base64" => Some(Encoding::Base64),
            _ => None,
        }
    }

    pub(crate) fn encode(self, tag: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(tag),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
        }
    }

    /// Decodes into `out`, or `None` for anything that is not a well-formed encoding of
    /// exactly `want` bytes.
    pub(crate) fn decode(self, text: &[u8], want: usize, out: &mut [u8; MAX_TAG]) -> Option<()> {
        match self {
            Encoding::Hex => {
                if text.len() != want * 2 {
                    return None;
                }
                hex::decode_to_slice(text, &mut out[..want]).ok()
            }
            Encoding::Base64 => {
                // Decode into a scratch buffer one block larger than any tag, so that an
                // over-long value fails on length rather than on buffer space.
                let mut scratch = [0u8; MAX_TAG + 3];
                let n = BASE64_LENIENT_PADDING
                    .decode_slice(text, &mut scratch)
                    .ok()?;
                if n != want {
                    return None;
                }
                out[..want].copy_from_slice(&scratch[..want]);
                Some(())
            }
        }
    }
}

/// An HMAC already keyed with one secret; cloned per check, which saves the key schedule.
#[derive(Clone)]
pub(crate) enum Key {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

/// A computed or claimed tag; `len` bytes of `buf` are used.
#[derive(Clone, Copy)]
pub(crate) struct Tag {
    pub(crate) buf: [u8; MAX_TAG],
    pub(crate) len: usize,
}

impl Tag {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Key {
    pub(crate) fn new(algorithm: Algorithm, secret: &[u8]) -> Key {
        // HMAC accepts keys of every length, so these cannot fail.
        match algorithm {
            Algorithm::Sha1 => {
                Key::Sha1(Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"))
            }
            Algorithm::Sha256 => {
                Key::Sha256(Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"))
            }
            Algorithm::Sha512 => {
                Key::Sha512(Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"))
            }
        }
    }

    /// The tag of `pieces`, in order, as one message.
    pub(crate) fn tag(&self, pieces: &[&[u8]]) -> Tag {
        fn run<M: Mac + Clone>(key: &M, pieces: &[&[u8]], out: &mut [u8; MAX_TAG]) -> usize {
            let mut mac = key.clone();
            for piece in pieces {
                mac.update(piece);
            }
            let bytes = mac.finalize().into_bytes();
            out[..bytes.len()].copy_from_slice(&bytes);
            bytes.len()
        }
        let mut buf = [0u8; MAX_TAG];
        let len = match self {
            Key::Sha1(k) => run(k, pieces, &mut buf),
            Key::Sha256(k) => run(k, pieces, &mut buf),
            Key::Sha512(k) => run(k, pieces, &mut buf),
        };
        Tag { buf, len }
    }
}
