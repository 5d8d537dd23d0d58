//! Adversarial tests: raw bytes over a socket, and hand-written HTTP/2 frames, against
//! hookwall in-process, in front of a recording upstream that parses the wire itself.
//!
//! Every test asserts what the sender got (a status, or the connection closing, within a
//! bound) and what the upstream saw. The invariants: (1) the upstream only ever receives
//! requests that verify, on exactly the configured path, never one hidden in a body and never
//! a partial one; (2) a verified request arrives exactly once, byte for byte; (3) time and
//! memory stay bounded, and an unverified request causes no upstream contact at all.
//!
//! Every request a test expects to be forwarded carries a body of its own ([`body`]), so that
//! no two are the same signed delivery.

#![allow(clippy::unwrap_used)]

mod frames;
mod recorder;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookwall_testkit::client::{raw_head, raw_post};
use hookwall_testkit::reference::{github_sha1_signature, github_signature, mac512};
use hookwall_testkit::wait::within;
use hookwall_testkit::wire::{
    chunked, parse_responses, read_response, read_until_close, Exchange, RawResponse,
};
use http_body_util::Full;
use hyper::client::conn::http2::SendRequest;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The body of a request that must never reach the upstream.
const SMUGGLED: &[u8] = br#"{"smuggled":true}"#;

/// Two gzip streams (made with `gzip -n -9`), and the text of the first.
const GZIP: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0xaa, 0xca, 0x2c, 0x28,
    0x48, 0x4d, 0x51, 0xb2, 0x2a, 0x29, 0x2a, 0x4d, 0xd5, 0x51, 0xca, 0xc8, 0xcf, 0xcf, 0x8e, 0xcf,
    0x04, 0x72, 0xcd, 0x6b, 0x01, 0x41, 0xf8, 0x4f, 0xe4, 0x1b, 0x00, 0x00, 0x00,
];
const GZIP_PLAIN: &[u8] = br#"{"zipped":true,"hook_id":7}"#;
const GZIP_2: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0xaa, 0xca, 0x2c, 0x28,
    0x48, 0x4d, 0x51, 0xb2, 0x52, 0x2a, 0x4e, 0x4d, 0xce, 0xcf, 0x4b, 0x51, 0xd2, 0x51, 0xca, 0xc8,
    0xcf, 0xcf, 0x8e, 0xcf, 0x04, 0x0a, 0x59, 0xd4, 0x02, 0x00, 0xe1, 0x34, 0xb9, 0xe1, 0x1f, 0x00,
    0x00, 0x00,
];

/// A request head: `POST target`, `Host`, the case marker, a signature over `signed_body`,
/// then `lines` (each ending in CRLF) and the blank line.
fn post(target: &str, marker: &str, lines: &str, signed_body: &[u8]) -> String {
    let sig = github_signature(SECRET, signed_body);
    format!("POST {target} HTTP/1.1\r\nHost: {HOST}\r\nX-Case: {marker}\r\n{SIGNATURE}: {sig}\r\n{lines}\r\n")
}

/// `head` followed by `body`.
fn with_body(head: String, body: &[u8]) -> Vec<u8> {
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A signed request for `marker` to `target` with [`body`]`(marker)` as it is, and the
/// header lines `lines` makes from the body's length.
fn framed(target: &str, marker: &str, lines: impl FnOnce(usize) -> String) -> Vec<u8> {
    let b = body(marker);
    with_body(post(target, marker, &lines(b.len()), &b), &b)
}

/// A signed request for `marker` with [`body`]`(marker)`, `lines`, then a `Content-Length`.
fn plain(target: &str, marker: &str, lines: &str) -> Vec<u8> {
    framed(target, marker, |n| {
        format!("{lines}Content-Length: {n}\r\n")
    })
}

/// A signed request for `marker` with [`body`]`(marker)` in chunked coding, as the text
/// `chunks` makes from the body's length and text.
fn chunked_as(marker: &str, chunks: impl FnOnce(usize, &str) -> String) -> Vec<u8> {
    let b = body(marker);
    let text = chunks(b.len(), std::str::from_utf8(&b).unwrap());
    let head = post(GITHUB, marker, "Transfer-Encoding: chunked\r\n", &b);
    with_body(head, text.as_bytes())
}

/// `request` with the first `from` in it spelled `to`.
fn respell(request: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(request).unwrap();
    text.replacen(from, to, 1).into_bytes()
}

/// A well-formed GitHub signature that never verifies: all zeros.
fn wrong_signature() -> String {
    format!("sha256={}", "0".repeat(64))
}

/// A complete, validly signed request marked `smuggled`: if it ever reaches the upstream,
/// hookwall parsed bytes it should not have.
fn smuggled_request() -> Vec<u8> {
    signed_request(GITHUB, SMUGGLED, &[("X-Case", "smuggled")])
}

/// `request`, then a whole [`smuggled_request`] on the same connection.
fn then_smuggled(mut request: Vec<u8>) -> Vec<u8> {
    request.extend(smuggled_request());
    request
}

/// Sends each request on its own connection, all at once; the exchanges in order.
async fn exchange_all(addr: SocketAddr, requests: Vec<Vec<u8>>) -> Vec<Exchange> {
    let n = requests.len();
    let mut set = JoinSet::new();
    for (i, r) in requests.into_iter().enumerate() {
        set.spawn(async move { (i, exchange(addr, &r).await) });
    }
    let mut out: Vec<Option<Exchange>> = (0..n).map(|_| None).collect();
    while let Some(done) = set.join_next().await {
        let (i, ex) = done.unwrap();
        out[i] = Some(ex);
    }
    out.into_iter().map(Option::unwrap).collect()
}

/// What a case must come to.
#[derive(Clone, Debug)]
enum Expect {
    /// hookwall (or hyper) answers this status, the connection ends, and nothing with this
    /// case's marker reaches the upstream.
    Refused(u16),
    /// Verified: one answer, the upstream's 200, and the upstream has exactly one copy of
    /// the request with [`body`]`(marker)`, byte for byte, with hookwall's own framing.
    Forwarded,
    /// As `Forwarded`, with this body.
    ForwardedBody(Vec<u8>),
}

/// A table of raw requests, each on its own connection, each carrying an `X-Case` marker.
struct Cases {
    list: Vec<(String, String, Vec<u8>, Expect)>,
}

impl Cases {
    fn new() -> Cases {
        Cases { list: Vec::new() }
    }

    /// Adds a case; `build` gets the marker to put in `X-Case`. Returns the marker.
    fn add(
        &mut self,
        name: impl Into<String>,
        expect: Expect,
        build: impl FnOnce(&str) -> Vec<u8>,
    ) -> String {
        let marker = format!("case-{}", self.list.len());
        let bytes = build(&marker);
        self.list.push((name.into(), marker.clone(), bytes, expect));
        marker
    }

    /// Runs every case concurrently, then checks each answer and the upstream's log: exactly
    /// the forwarded cases arrived, once each, and nothing smuggled or malformed ever did.
    async fn check(self, rig: &Rig) {
        let requests = self.list.iter().map(|c| c.2.clone()).collect();
        let exchanges = exchange_all(rig.addr(), requests).await;
        let mut forwarded = 0;
        for ((name, marker, _, expect), ex) in self.list.iter().zip(&exchanges) {
            assert!(
                ex.closed,
                "{name}: the connection was still open after {BOUND:?}: {ex:?}"
            );
            let seen = rig.upstream.for_case(marker);
            let expected_body = match expect {
                Expect::Refused(status) => {
                    assert_eq!(ex.final_statuses(), [*status], "{name}: {ex:?}");
                    assert!(seen.is_empty(), "{name}: reached the upstream: {seen:#?}");
                    continue;
                }
                Expect::Forwarded => body(marker),
                Expect::ForwardedBody(b) => b.clone(),
            };
            assert_eq!(ex.final_statuses(), [200], "{name}: {ex:?}");
            assert_eq!(
                ex.responses.last().unwrap().body,
                b"upstream ok\n",
                "{name}: the answer is the upstream's"
            );
            assert_eq!(seen.len(), 1, "{name}: {seen:#?}");
            assert_delivery(&seen[0], &expected_body);
            forwarded += 1;
        }
        assert_nothing_smuggled(rig);
        assert_eq!(
            rig.upstream.hits(),
            forwarded,
            "only the forwarded cases reached the upstream: {:#?}",
            rig.upstream.seen()
        );
        if forwarded == 0 {
            rig.upstream.assert_untouched("no case verifies");
        }
    }
}

/// No request marked `smuggled`, and no `SMUGGLED` body, ever reached the upstream; nothing
/// but well-framed requests did.
fn assert_nothing_smuggled(rig: &Rig) {
    let seen = rig.upstream.seen();
    assert!(
        !seen
            .iter()
            .any(|s| s.body == SMUGGLED || s.all("x-case").contains(&&b"smuggled"[..])),
        "a smuggled request reached the upstream: {seen:#?}"
    );
    rig.upstream.assert_no_anomalies();
}

// =============================================================================================
// Smuggling and desync

/// hyper resolves `Content-Length` + `Transfer-Encoding` as RFC 9112 section 6.1 allows: it
/// reads chunked, drops the length, and closes the connection after the answer. Whatever the
/// spelling of a final `chunked` and the order of the two headers, the upstream sees one
/// request with hookwall's own length, and the request pipelined after it is never read.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_read_as_chunked_once_in_every_spelling() {
    let rig = Rig::start().await;
    let mut cases = Cases::new();
    let te_spellings = [
        "chunked",
        "Chunked",
        "CHUNKED",
        "chunked ",
        "\tchunked",
        "x, chunked",
        "identity, chunked",
        "gzip, chunked",
    ];
    let mut framings = Vec::new();
    for te in te_spellings {
        let name = |order: &str| format!("Transfer-Encoding {te:?} with a length, {order}");
        let length_first = format!("Content-Length: 4\r\nTransfer-Encoding: {te}\r\n");
        let encoding_first = format!("Transfer-Encoding: {te}\r\nContent-Length: 4\r\n");
        framings.push((name("length first"), length_first));
        framings.push((name("encoding first"), encoding_first));
    }
    framings.push((
        "two Transfer-Encoding lines ending in chunked, with a length".into(),
        "Transfer-Encoding: identity\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n".into(),
    ));
    for (name, framing) in framings {
        cases.add(name, Expect::Forwarded, |m| {
            let b = body(m);
            then_smuggled(with_body(post(GITHUB, m, &framing, &b), &chunked(&b, 16)))
        });
    }
    // The length covers four bytes; the chunked body is a whole request. Verified as a body
    // (the signature covers those bytes), it arrives as one body, never as a request.
    let inner = smuggled_request();
    cases.add(
        "a request hidden in a chunked body behind a short length",
        Expect::ForwardedBody(inner.clone()),
        |m| {
            let framing = "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n";
            with_body(post(GITHUB, m, framing, &inner), &chunked(&inner, 50))
        },
    );
    cases.check(&rig).await;
}

/// A `Transfer-Encoding` whose last coding is not `chunked` is refused, even when the
/// `Content-Length` next to it frames a body that would verify: hookwall never falls back to
/// the length. Malformed header lines around the framing are refused too.
#[tokio::test]
async fn transfer_encodings_not_ending_in_chunked_are_400_even_when_the_length_would_verify() {
    let rig = Rig::start().await;
    let mut cases = Cases::new();
    for te in [
        "chunked, identity",
        "identity",
        "gzip",
        "chunked\u{b}",
        "\"chunked\"",
        "chunk",
        "xchunked",
        "chunked;q=1",
        "chunked chunked",
        "",
    ] {
        cases.add(
            format!("Transfer-Encoding {te:?} with a valid length"),
            Expect::Refused(400),
            |m| plain(GITHUB, m, &format!("Transfer-Encoding: {te}\r\n")),
        );
    }
    for (what, lines) in [
        (
            "chunked then identity on two lines",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        ),
        ("space before the colon", "Transfer-Encoding : chunked\r\n"),
        ("tab before the colon", "Transfer-Encoding\t: chunked\r\n"),
        (
            "folded onto the previous line",
            " Transfer-Encoding: chunked\r\n",
        ),
    ] {
        cases.add(
            format!("Transfer-Encoding {what}"),
            Expect::Refused(400),
            |m| plain(GITHUB, m, lines),
        );
    }
    // HTTP/1.0 has no chunked coding.
    let te = "Transfer-Encoding: chunked\r\n";
    cases.add(
        "HTTP/1.0 with Transfer-Encoding",
        Expect::Refused(400),
        |m| {
            let b = body(m);
            let request = with_body(post(GITHUB, m, te, &b), &chunked(&b, 16));
            respell(request, "HTTP/1.1", "HTTP/1.0")
        },
    );
    cases.add(
        "HTTP/1.0 with Transfer-Encoding and a length",
        Expect::Refused(400),
        |m| respell(plain(GITHUB, m, te), "HTTP/1.1", "HTTP/1.0"),
    );
    // Not a framing header at all: the length frames the body, the upstream sees a length.
    cases.add(
        "Transfer_Encoding (underscore) is an ordinary header",
        Expect::Forwarded,
        |m| plain(GITHUB, m, "Transfer_Encoding: chunked\r\n"),
    );
    cases.check(&rig).await;
}

/// A `Content-Length` that is not one plain decimal number (or two equal ones) is refused
/// before anything is read as a body.
#[tokio::test]
async fn malformed_or_conflicting_content_lengths_are_400_and_never_forwarded() {
    let rig = Rig::start().await;
    let mut cases = Cases::new();
    // Each spelling, made from the body's real length.
    type Spell = fn(usize) -> String;
    let spellings: [(&str, Spell); 13] = [
        ("plus sign", |n| format!("+{n}")),
        ("minus one", |_| "-1".into()),
        ("negative", |n| format!("-{n}")),
        ("hex", |n| format!("0x{n:x}")),
        ("a list of equal values", |n| format!("{n}, {n}")),
        ("a list of differing values", |n| format!("{n},{}", n + 1)),
        ("two numbers", |n| format!("{n} {n}")),
        ("empty", |_| String::new()),
        ("a decimal point", |n| format!("{n}.0")),
        ("an exponent", |_| "6.2e1".into()),
        ("a trailing vertical tab", |n| format!("{n}\u{b}")),
        ("30 digits", |_| "123456789012345678901234567890".into()),
        ("2^64", |_| "18446744073709551616".into()),
    ];
    for (what, spell) in spellings {
        cases.add(
            format!("Content-Length: {what}"),
            Expect::Refused(400),
            |m| framed(GITHUB, m, |n| format!("Content-Length: {}\r\n", spell(n))),
        );
    }
    // Each framing, made from the body's real length.
    type Lines = fn(usize) -> String;
    let framings: [(&str, Lines, Expect); 4] = [
        (
            "two differing Content-Length lines",
            |n| format!("Content-Length: {n}\r\nContent-Length: {}\r\n", n + 1),
            Expect::Refused(400),
        ),
        (
            "Content-Length folded onto two lines",
            |n| format!("Content-Length:\r\n {n}\r\n"),
            Expect::Refused(400),
        ),
        // Equal lengths agree, and a leading zero is still a decimal number.
        (
            "two equal Content-Length lines",
            |n| format!("Content-Length: {n}\r\nContent-Length: {n}\r\n"),
            Expect::Forwarded,
        ),
        (
            "Content-Length with a leading zero",
            |n| format!("Content-Length: 0{n}\r\n"),
            Expect::Forwarded,
        ),
    ];
    for (what, lines, expect) in framings {
        cases.add(what, expect, |m| framed(GITHUB, m, lines));
    }
    cases.check(&rig).await;
}

/// Chunk sizes are strict hex with optional extensions; anything else ends the body with 400
/// (a size bigger than the data waits for the rest, until `body_timeout`: 408). The accepted
/// spellings forward exactly the verified bytes, with a length.
#[tokio::test]
async fn chunk_size_tricks_are_refused_or_forwarded_as_the_exact_verified_bytes() {
    let rig = Rig::start().await;
    // The size line of one chunk holding the whole body, from the body's length.
    type Size = fn(usize) -> String;
    let refused: [(&str, Size); 8] = [
        ("0x prefix", |n| format!("0x{n:x}")),
        ("negative size", |n| format!("-{n:x}")),
        ("size overflowing 64 bits", |n| {
            format!("1{}{n:x}", "0".repeat(16))
        }),
        ("non-hex size", |_| "zz".into()),
        ("empty size line", |_| String::new()),
        ("space inside the size", |n| {
            format!("{:x} {:x}", n / 16, n % 16)
        }),
        ("a 20 KB chunk extension", |n| {
            format!("{n:x};{}", "e".repeat(20_000))
        }),
        ("size smaller than the data, then a request", |n| {
            format!("{:x}", n - 1)
        }),
    ];
    let forwarded: [(&str, Size); 6] = [
        ("an extension", |n| format!("{n:x};ext=1")),
        ("a quoted extension holding ; and =", |n| {
            format!("{n:x};name=\"v;a=l\"")
        }),
        ("a 1 KB chunk extension", |n| {
            format!("{n:x};{}", "e".repeat(1_000))
        }),
        ("upper-case hex", |n| format!("{n:X}")),
        ("leading zeros", |n| format!("000{n:x}")),
        ("whitespace after the size", |n| format!("{n:x} \t")),
    ];
    // Whole chunked bodies, from the body's length and text.
    type Chunks = fn(usize, &str) -> String;
    let misframed: [(&str, Chunks); 3] = [
        ("size line ended by a bare LF", |n, b| {
            format!("{n:x}\n{b}\r\n0\r\n\r\n")
        }),
        ("data not followed by CRLF, then a request", |n, b| {
            format!("{n:x}\r\n{b}XX0\r\n\r\n")
        }),
        ("a request line in the trailer section", |n, b| {
            format!("{n:x}\r\n{b}\r\n0\r\nPOST {GITHUB} HTTP/1.1\r\nHost: a\r\n\r\n")
        }),
    ];
    let one_chunk = |size: String, b: &str| format!("{size}\r\n{b}\r\n0\r\n\r\n");
    let mut cases = Cases::new();
    for (sizes, expect) in [
        (&refused[..], Expect::Refused(400)),
        (&forwarded[..], Expect::Forwarded),
    ] {
        for (what, size) in sizes {
            add_chunked(&mut cases, what, expect.clone(), |n, b| {
                one_chunk(size(n), b)
            });
        }
    }
    for (what, chunks) in misframed {
        add_chunked(&mut cases, what, Expect::Refused(400), chunks);
    }
    // A size bigger than the data waits for the rest, until `body_timeout`.
    add_chunked(
        &mut cases,
        "size bigger than the data",
        Expect::Refused(408),
        |n, b| one_chunk(format!("{:x}", n + 10), b),
    );
    add_chunked(&mut cases, "one-byte chunks", Expect::Forwarded, |_, b| {
        String::from_utf8(chunked(b.as_bytes(), 1)).unwrap()
    });
    cases.check(&rig).await;
}

/// Adds the case `chunked: what`, its body in the chunked text `chunks` makes (see
/// [`chunked_as`]). A case named `..., then a request` is followed by a whole
/// [`smuggled_request`]: misframed data followed by a request must not be read as one.
fn add_chunked(
    cases: &mut Cases,
    what: &str,
    expect: Expect,
    chunks: impl FnOnce(usize, &str) -> String,
) {
    cases.add(format!("chunked: {what}"), expect, |m| {
        let request = chunked_as(m, chunks);
        if what.ends_with("then a request") {
            then_smuggled(request)
        } else {
            request
        }
    });
}

/// httparse accepts a head whose lines end in a bare LF (RFC 9112 section 2.2 allows it);
/// hookwall forwards it re-framed with CRLF and its own length. Folded lines, NUL, bare CR
/// and malformed request lines are refused by hyper with 400.
#[tokio::test]
async fn malformed_heads_are_400_and_a_bare_lf_head_is_forwarded_reframed() {
    let rig = Rig::start().await;
    let mut cases = Cases::new();
    cases.add("bare LF line ends", Expect::Forwarded, |m| {
        let text = String::from_utf8(plain(GITHUB, m, "")).unwrap();
        text.replace("\r\n", "\n").into_bytes()
    });
    for (what, lines) in [
        ("an obs-fold continuation line", "X-A: b\r\n c\r\n"),
        ("a tab-folded continuation line", "X-A: b\r\n\tc\r\n"),
        ("NUL in a header value", "X-A: b\0c\r\n"),
        ("bare CR in a header value", "X-A: b\rc\r\n"),
        ("a line ended by a bare CR", "X-A: b\rX-B: c\r\n"),
        ("a header line without a colon", "X-A b\r\n"),
        ("a space before a colon", "X-A : b\r\n"),
        ("an empty header name", ": b\r\n"),
        ("a non-token header name", "X(A): b\r\n"),
    ] {
        cases.add(what, Expect::Refused(400), |m| plain(GITHUB, m, lines));
    }
    for (what, from, to) in [
        ("two spaces in the request line", "POST /", "POST  /"),
        ("lower-case version", "HTTP/1.1\r\n", "http/1.1\r\n"),
        ("HTTP/1.2", "HTTP/1.1\r\n", "HTTP/1.2\r\n"),
        (
            "HTTP/2.0 in an HTTP/1 request line",
            "HTTP/1.1\r\n",
            "HTTP/2.0\r\n",
        ),
        ("no version", " HTTP/1.1\r\n", "\r\n"),
        (
            "a space in the target",
            "/webhooks/github",
            "/webhooks/ github",
        ),
        (
            "a NUL in the target",
            "/webhooks/github",
            "/webhooks/github\0",
        ),
    ] {
        cases.add(what, Expect::Refused(400), |m| {
            respell(plain(GITHUB, m, ""), from, to)
        });
    }
    cases.check(&rig).await;
}

/// A request refused before its body is read (400, 404, 405, 413) leaves that body on the
/// connection; hookwall closes the connection instead of reading the body as the next request.
/// Here each body is itself a complete, validly signed request, and a second signed request is
/// pipelined after it. A 401 reads the whole body first, so the connection stays open and the
/// pipelined request is served as its own verified request, once.
#[tokio::test]
async fn a_body_left_unread_by_an_early_rejection_is_never_parsed_as_a_request() {
    let rig = Rig::start().await;
    let inner = smuggled_request();
    let n = inner.len();
    assert!(n > SMALL_MAX_BODY);
    // `start HTTP/1.1`, `Host`, the header `lines`, then the body `b`.
    let request = |start: &str, lines: &str, b: &[u8]| {
        with_body(
            format!("{start} HTTP/1.1\r\nHost: {HOST}\r\n{lines}\r\n"),
            b,
        )
    };
    let length = format!("Content-Length: {n}\r\n");
    let two_hosts = format!("Host: other.test\r\n{length}");
    let te = "Transfer-Encoding: chunked\r\n";
    let small = format!("POST {SMALL}");
    let early = [
        ("404", request("POST /webhooks/nope", &length, &inner), 404),
        (
            "405",
            request(&format!("PUT {GITHUB}"), &length, &inner),
            405,
        ),
        (
            "413 by the declared length",
            request(&small, &length, &inner),
            413,
        ),
        (
            "413 while reading a chunked body",
            request(&small, te, &chunked(&inner, 40)),
            413,
        ),
        (
            "400 for a dot segment",
            request("POST /webhooks/x/../github", &length, &inner),
            400,
        ),
        (
            "400 for two Hosts",
            request(&format!("POST {GITHUB}"), &two_hosts, &inner),
            400,
        ),
    ];
    let mut requests = Vec::new();
    let mut markers = Vec::new();
    for (i, (_, rejected, _)) in early.iter().enumerate() {
        let marker = format!("next-{i}");
        let mut r = rejected.clone();
        r.extend(signed_request(
            GITHUB,
            &body(&marker),
            &[("X-Case", &marker)],
        ));
        requests.push(r);
        markers.push(marker);
    }
    // 401: the body is read whole (it is data, never a request), then the next request.
    let mut r = raw_post(GITHUB, HOST, &[(SIGNATURE, &wrong_signature())], &inner);
    r.extend(signed_request(
        GITHUB,
        &body("after-401"),
        &[("X-Case", "after-401")],
    ));
    requests.push(r);

    let exchanges = exchange_all(rig.addr(), requests).await;
    for ((what, _, status), (ex, marker)) in early.iter().zip(exchanges.iter().zip(&markers)) {
        assert!(ex.closed, "{what}: {ex:?}");
        assert_eq!(
            ex.statuses(),
            [*status],
            "{what}: only the first request is answered: {ex:?}"
        );
        assert!(
            ex.responses[0].closes(),
            "{what}: the answer announces the close: {ex:?}"
        );
        assert!(
            rig.upstream.for_case(marker).is_empty(),
            "{what}: the pipelined request was read from a connection whose framing was lost"
        );
    }
    let after_401 = exchanges.last().unwrap();
    assert_eq!(after_401.statuses(), [401, 200], "{after_401:?}");
    rig.assert_delivered_once("after-401");
    assert_nothing_smuggled(&rig);
    assert_eq!(rig.upstream.hits(), 1, "{:#?}", rig.upstream.seen());
}

/// A body cut short by the sender closing its side is refused with 400; the part that did
/// arrive is never forwarded, and neither is a head cut short.
#[tokio::test]
async fn a_body_cut_short_by_eof_is_never_forwarded() {
    let rig = Rig::start().await;
    let b = BODY;
    let length = format!("Content-Length: {}\r\n", b.len());
    let te = "Transfer-Encoding: chunked\r\n";
    let c = chunked(b, 16);
    // hyper answers a body cut short with 400 (hookwall's `bad_body`), and closes without an
    // answer on a head cut short.
    let (length_head, te_head) = (post(GITHUB, "cut", &length, b), post(GITHUB, "cut", te, b));
    let cut: [(&str, Vec<u8>, &[u16]); 4] = [
        (
            "a length-framed body",
            with_body(length_head.clone(), &b[..10]),
            &[400],
        ),
        (
            "a chunked body inside a chunk",
            with_body(te_head.clone(), &c[..30]),
            &[400],
        ),
        (
            "a chunked body before the last chunk",
            with_body(te_head, &c[..c.len() - 5]),
            &[400],
        ),
        ("a head", length_head.as_bytes()[..60].to_vec(), &[]),
    ];
    let mut set = JoinSet::new();
    for (i, (_, bytes, _)) in cut.iter().enumerate() {
        let bytes = bytes.clone();
        let addr = rig.addr();
        set.spawn(async move {
            let start = Instant::now();
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(&bytes).await.unwrap();
            stream.shutdown().await.unwrap();
            (i, finish(&mut stream, start).await)
        });
    }
    while let Some(done) = set.join_next().await {
        let (i, ex) = done.unwrap();
        let (what, _, statuses) = cut[i];
        assert!(ex.closed, "{what}: {ex:?}");
        assert_eq!(ex.statuses(), statuses, "{what}: {ex:?}");
    }
    rig.assert_unharmed("bodies cut short").await;
}

// =============================================================================================
// Verify one body, forward another

/// Trailers are neither verified nor forwarded: a signature in a trailer does not count, and
/// a trailer cannot replace the signature, the length or anything else the upstream sees.
#[tokio::test]
async fn trailers_neither_verify_nor_reach_the_upstream() {
    let rig = Rig::start().await;
    let mut cases = Cases::new();
    cases.add("a signature only in a trailer", Expect::Refused(401), |m| {
        let b = body(m);
        let text = std::str::from_utf8(&b).unwrap();
        format!(
            "POST {GITHUB} HTTP/1.1\r\nHost: hookwall.test\r\nX-Case: {m}\r\nTrailer: X-Hub-Signature-256\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{text}\r\n0\r\nX-Hub-Signature-256: {}\r\n\r\n",
            b.len(),
            github_signature(SECRET, &b)
        )
        .into_bytes()
    });
    let forged = cases.add(
        "forged trailers after a good signature",
        Expect::Forwarded,
        |m| {
            let b = body(m);
            let text = std::str::from_utf8(&b).unwrap();
            let head = post(
                GITHUB,
                m,
                "Trailer: X-Hub-Signature-256, X-Trailer, X-Case\r\nTransfer-Encoding: chunked\r\n",
                &b,
            );
            let other = github_signature(SECRET, b"another body");
            let trailers = format!(
                "X-Hub-Signature-256: {other}\r\nX-Trailer: sneaky\r\nX-Case: smuggled\r\nX-Forwarded-For: 10.6.6.6\r\n"
            );
            with_body(
                head,
                format!("{:x}\r\n{text}\r\n0\r\n{trailers}\r\n", b.len()).as_bytes(),
            )
        },
    );
    cases.check(&rig).await;
    let seen = &rig.upstream.for_case(&forged)[0];
    assert!(!seen.has("x-trailer"), "{seen:#?}");
    assert!(!seen.has("trailer"), "{seen:#?}");
    assert_eq!(seen.one("x-case"), forged);
}

/// `Expect: 100-continue`: the sender is asked for the body only once route, method and
/// declared size pass; an over-limit length is refused with no `100 Continue` at all; the
/// upstream never sees `Expect`.
#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_and_refused_early_when_too_large() {
    let rig = Rig::start().await;
    let addr = rig.addr();
    let expect = "Expect: 100-continue\r\n";

    // Legitimate: head, wait for 100, body, 200.
    let b = body("expect-ok");
    let lines = format!("{expect}Content-Length: {}\r\n", b.len());
    let head = post(GITHUB, "expect-ok", &lines, &b);
    let nothing_yet = || {
        let hits = rig.upstream.hits();
        assert_eq!(hits, 0, "nothing is forwarded before the body");
    };
    let statuses = continue_then_send(addr, &head, &b, nothing_yet).await;
    assert_eq!(statuses, [Some(100), Some(200)]);
    let seen = rig.assert_delivered_once("expect-ok");
    assert!(!seen.has("expect"), "{seen:#?}");

    // Over the limit, declared: 413 first, never 100, and the connection closes.
    for (what, target, length) in [
        (
            "a 10 MB length on the 64 KiB route",
            GITHUB,
            10_000_000usize,
        ),
        (
            "one byte over the small route's limit",
            SMALL,
            SMALL_MAX_BODY + 1,
        ),
    ] {
        let lines = format!("{expect}Content-Length: {length}\r\n");
        let ex = exchange(addr, post(target, "expect-big", &lines, BODY).as_bytes()).await;
        assert_eq!(ex.statuses(), [413], "{what}: {ex:?}");
        assert!(ex.closed && ex.responses[0].closes(), "{what}: {ex:?}");
    }

    // A wrong signature: the body is asked for (hookwall cannot know before), then 401.
    let sig = github_signature(OTHER_SECRET, BODY);
    let head = raw_head(
        GITHUB,
        HOST,
        &[("Expect", "100-continue"), (SIGNATURE, &sig)],
        BODY.len(),
    );
    let statuses = continue_then_send(addr, &head, BODY, || {}).await;
    assert_eq!(statuses, [Some(100), Some(401)]);

    assert_eq!(rig.upstream.hits(), 1, "{:#?}", rig.upstream.seen());
    rig.upstream.assert_no_anomalies();
}

/// Sends `head` (which asks for `100 Continue`) on a fresh connection, reads the interim
/// answer, calls `meanwhile`, then sends `body` and reads the final answer: both statuses,
/// `None` for an answer that did not come within [`BOUND`].
async fn continue_then_send(
    addr: SocketAddr,
    head: &str,
    body: &[u8],
    meanwhile: impl FnOnce(),
) -> [Option<u16>; 2] {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let deadline = || Instant::now() + BOUND;
    let interim = read_response(&mut stream, &mut buf, deadline()).await;
    meanwhile();
    stream.write_all(body).await.unwrap();
    let last = read_response(&mut stream, &mut buf, deadline()).await;
    [interim, last].map(|r| r.map(|r| r.status))
}

/// hookwall verifies and forwards the bytes as they came: a gzip body arrives compressed,
/// with its `Content-Encoding`, and a signature over the decompressed text does not verify.
#[tokio::test]
async fn a_gzip_body_is_verified_and_forwarded_compressed_and_untouched() {
    let rig = Rig::start().await;
    let mut cases = Cases::new();
    let sized = cases.add(
        "gzip, signed as sent",
        Expect::ForwardedBody(GZIP.to_vec()),
        |m| {
            let lines = format!(
                "Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n",
                GZIP.len()
            );
            with_body(post(GITHUB, m, &lines, GZIP), GZIP)
        },
    );
    let chunky = cases.add(
        "gzip, chunked",
        Expect::ForwardedBody(GZIP_2.to_vec()),
        |m| {
            let lines = "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n";
            with_body(post(GITHUB, m, lines, GZIP_2), &chunked(GZIP_2, 10))
        },
    );
    cases.add(
        "gzip, signed over the decompressed text",
        Expect::Refused(401),
        |m| {
            let lines = format!(
                "Content-Encoding: gzip\r\nContent-Length: {}\r\n",
                GZIP.len()
            );
            with_body(post(GITHUB, m, &lines, GZIP_PLAIN), GZIP)
        },
    );
    cases.check(&rig).await;
    for (marker, bytes) in [(sized, GZIP), (chunky, GZIP_2)] {
        let seen = &rig.upstream.for_case(&marker)[0];
        assert_eq!(seen.one("content-encoding"), "gzip");
        assert_eq!(seen.body, bytes);
    }
}

/// How a sender goes away in the middle of a forward.
#[derive(Clone, Copy, Debug)]
enum GoAway {
    /// HTTP/1.1: the sender closes its connection.
    Close,
    /// HTTP/2: the sender resets the stream (`RST_STREAM CANCEL`) and stays connected.
    Reset,
    /// HTTP/2: the sender closes the connection.
    Disconnect,
}

/// Sends a verified 6 MiB delivery to the big route; once its head is at the upstream (which
/// holds it there, so hookwall is still writing the body), the sender goes away. Then the
/// upstream reads on. It must receive the whole verified request, exactly once: never a head
/// with part of a body, never nothing. Returns whether hookwall dropped its upstream
/// connection meanwhile.
async fn sender_goes_away_mid_forward(how: GoAway, payload: &[u8], sig: &str) -> bool {
    let (rig, hold) = Rig::holding(BIG).await;
    let addr = rig.addr();
    let deadline = Instant::now() + BOUND * 4;
    // The sender, in a task of its own, goes away when told to.
    let (go, gone) = tokio::sync::oneshot::channel::<()>();
    let sender = {
        let payload = payload.to_vec();
        let sig = sig.to_string();
        tokio::spawn(async move {
            let (mut r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
            match how {
                GoAway::Close => {
                    let head = raw_head(BIG, HOST, &[(SIGNATURE, &sig)], payload.len());
                    w.write_all(head.as_bytes()).await.unwrap();
                    w.write_all(&payload).await.unwrap();
                }
                GoAway::Reset | GoAway::Disconnect => {
                    let windows = frames::open(&mut r, &mut w, deadline).await;
                    let len = payload.len().to_string();
                    let block = frames::request_block(
                        "POST",
                        BIG,
                        &[("x-hub-signature-256", &sig), ("content-length", &len)],
                    );
                    let headers = frames::frame(frames::HEADERS, frames::END_HEADERS, 1, &block);
                    w.write_all(&headers).await.unwrap();
                    frames::send_body(&mut r, &mut w, 1, windows, &payload, deadline).await;
                }
            }
            let _ = gone.await;
            if let GoAway::Reset = how {
                w.write_all(&frames::rst_stream(1, frames::CANCEL))
                    .await
                    .unwrap();
                // Stay connected (and keep reading) until the test ends.
                let _ = read_until_close(&mut r, deadline).await;
            }
        })
    };
    let head_seen = hold.head_seen.notified();
    within(
        (BOUND * 4).as_secs_f64(),
        "the verified head at the upstream",
        head_seen,
    )
    .await;
    let hookwall_port = hold.peer_port.lock().unwrap().unwrap();
    go.send(()).unwrap();
    if !matches!(how, GoAway::Reset) {
        sender.await.unwrap();
    }
    // Does hookwall drop its upstream connection when the sender goes away? Watch its socket
    // for 300 ms (a bounded wait on socket state, not a sleep standing in for an event).
    let start = Instant::now();
    let mut dropped = false;
    while start.elapsed() < Duration::from_millis(300) {
        if tcp_state(hookwall_port, rig.upstream.addr.port()) != Some(1) {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    hold.release.notify_one();
    let settled = format!("{how:?}: the upstream to settle");
    rig.upstream
        .wait_until(
            (BOUND * 2).as_secs_f64(),
            &settled,
            |requests, anomalies, ended| requests + anomalies > 0 || ended > 0,
        )
        .await;
    assert_eq!(
        rig.upstream.anomalies(),
        Vec::<String>::new(),
        "{how:?}: the upstream received part of a verified request (hookwall dropped its \
         upstream connection: {dropped})"
    );
    let seen = rig.upstream.seen();
    assert_eq!(seen.len(), 1, "{how:?}: the verified delivery was lost");
    assert_eq!(seen[0].target, BIG);
    assert_eq!(seen[0].body.len(), payload.len());
    assert!(seen[0].body == payload, "{how:?}: body altered");
    assert_eq!(seen[0].one("x-hub-signature-256"), sig);
    assert_eq!(seen[0].one("content-length"), payload.len().to_string());
    dropped
}

/// A sender that goes away while its verified delivery is being forwarded (an HTTP/1.1
/// sender closing, an HTTP/2 sender resetting the stream or closing): the upstream gets the
/// whole request, never a cut one, and it is not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_delivery_is_forwarded_whole_when_its_sender_goes_away() {
    let payload: Arc<Vec<u8>> = Arc::new((0..6u32 << 20).map(|i| b'a' + (i % 26) as u8).collect());
    let sig = Arc::new(github_signature(SECRET, &payload));
    let mut set = JoinSet::new();
    for how in [GoAway::Close, GoAway::Reset, GoAway::Disconnect] {
        let (payload, sig) = (Arc::clone(&payload), Arc::clone(&sig));
        set.spawn(async move { (how, sender_goes_away_mid_forward(how, &payload, &sig).await) });
    }
    while let Some(done) = set.join_next().await {
        let (how, dropped) = done.unwrap();
        eprintln!("{how:?}: hookwall dropped its upstream connection: {dropped}");
    }
}

// =============================================================================================
// Hop-by-hop abuse

/// Headers named in `Connection` are dropped, but never one verification used, nor the
/// framing, `Host` or hookwall's own headers, which hookwall sets itself.
#[tokio::test]
async fn connection_cannot_strip_the_signature_the_length_or_hookwalls_headers() {
    let rig = Rig::start().await;
    let mut cases = Cases::new();
    let mut markers = Vec::new();
    for connection in [
        "Connection: X-Hub-Signature-256\r\n",
        "Connection: x-hub-signature-256\r\n",
        "Connection: Content-Length\r\n",
        "Connection: close, X-Hub-Signature-256, Content-Length, Host, X-Hookwall-Verified, X-Forwarded-For, X-Custom\r\n",
        "Connection: keep-alive\r\nConnection: X-Hub-Signature-256, X-Custom\r\n",
    ] {
        let m = cases.add(connection.trim_end(), Expect::Forwarded, |m| {
            plain(GITHUB, m, &format!("{connection}X-Custom: 1\r\n"))
        });
        markers.push((m, connection.contains("X-Custom")));
    }
    cases.check(&rig).await;
    for (m, names_custom) in markers {
        let seen = &rig.upstream.for_case(&m)[0];
        // `check` saw the signature, the length and hookwall's mark arrive.
        assert_eq!(seen.one("host"), "hookwall.test");
        assert!(!seen.has("connection"), "{seen:#?}");
        assert_eq!(
            seen.has("x-custom"),
            !names_custom,
            "X-Custom goes upstream unless Connection names it: {seen:#?}"
        );
    }
}

/// `Upgrade` on a webhook route: hookwall never switches protocols, the upstream sees no
/// `Upgrade`, `Connection` or `HTTP2-Settings`, and whatever follows on the connection is
/// read as HTTP/1.1 (a pipelined request is served as its own; websocket bytes get 400).
#[tokio::test]
async fn upgrade_requests_get_no_upgrade_and_the_upstream_sees_no_upgrade() {
    let rig = Rig::start().await;
    let h2c = {
        let lines = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n";
        let mut r = plain(GITHUB, "h2c", lines);
        r.extend(plain(GITHUB, "after-h2c", ""));
        r
    };
    let ws = {
        let lines = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        let mut r = plain(GITHUB, "websocket", lines);
        // A masked websocket text frame, as a client would send after a 101.
        r.extend_from_slice(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        r
    };
    let exchanges = exchange_all(rig.addr(), vec![h2c, ws]).await;
    assert_eq!(exchanges[0].statuses(), [200, 200], "{:?}", exchanges[0]);
    assert_eq!(exchanges[1].statuses(), [200, 400], "{:?}", exchanges[1]);
    for ex in &exchanges {
        assert!(ex.closed, "{ex:?}");
    }
    for marker in ["h2c", "after-h2c", "websocket"] {
        let seen = rig.assert_delivered_once(marker);
        for gone in ["upgrade", "connection", "http2-settings"] {
            assert!(!seen.has(gone), "{marker}: {gone} reached the upstream");
        }
    }
    assert_eq!(rig.upstream.hits(), 3);
    rig.upstream.assert_no_anomalies();
}

/// Forwarding information and routing overrides a sender could forge never reach the
/// upstream; hookwall's own values replace them, once each.
#[tokio::test]
async fn forged_forwarding_and_override_headers_never_reach_the_upstream() {
    let rig = Rig::start().await;
    // Forged header lines hookwall replaces, and the one value the upstream sees instead.
    let replaced = [
        ("X-Forwarded-For: 10.6.6.6", "127.0.0.1"),
        ("x-forwarded-for: 10.7.7.7, 10.8.8.8", "127.0.0.1"),
        ("X-Forwarded-Host: evil.test", "hookwall.test"),
        ("X-Forwarded-Proto: https", "http"),
        ("X-Hookwall-Verified: forged", "github"),
        // hookwall's delivery id is the provider's (`X-GitHub-Delivery`, below).
        ("X-Hookwall-Delivery-Id: forged", "d-42"),
    ];
    // Forged header lines the upstream never sees at all.
    let dropped = [
        "X-Forwarded-Port: 443",
        "X-Forwarded-Prefix: /admin",
        "Forwarded: for=10.6.6.6;host=evil.test;proto=https",
        "X-Real-IP: 10.6.6.6",
        "X-Original-URL: /admin/delete",
        "X-Rewrite-URL: /admin/delete",
        "X-HTTP-Method-Override: DELETE",
        "X-HTTP-Method: DELETE",
        "X-Method-Override: DELETE",
        "Proxy-Authorization: Basic Zm9vOmJhcg==",
        "Proxy-Connection: keep-alive",
        "Keep-Alive: timeout=99",
        "TE: trailers",
    ];
    let forged = replaced.iter().map(|(line, _)| line).chain(&dropped);
    let lines: String = forged.map(|line| format!("{line}\r\n")).collect();
    let lines = format!("{lines}X-GitHub-Delivery: d-42\r\n");
    let mut cases = Cases::new();
    let marker = cases.add("every forged header at once", Expect::Forwarded, |m| {
        plain(GITHUB, m, &lines)
    });
    cases.check(&rig).await;
    let seen = &rig.upstream.for_case(&marker)[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, GITHUB);
    let name = |line: &str| line.split_once(':').unwrap().0.to_owned();
    for (line, value) in replaced {
        assert_eq!(seen.one(&name(line)), value, "{line}: {seen:#?}");
    }
    for gone in dropped.map(name) {
        assert!(!seen.has(&gone), "{gone} reached the upstream: {seen:#?}");
    }
}

// =============================================================================================
// Path, host and method confusion

/// A signed body replayed to any other spelling of the route's path is refused (400 for
/// spellings an app could normalise to another handler, 404 for other paths): the upstream
/// only ever sees exactly `/webhooks/github`.
#[tokio::test]
async fn a_signed_body_replayed_to_any_other_spelling_of_the_path_never_reaches_the_upstream() {
    let rig = Rig::start().await;
    let targets: &[(&str, u16)] = &[
        ("/webhooks/x/../admin", 400),
        ("/webhooks/x/../github", 400),
        ("/webhooks/github/..", 400),
        ("/webhooks/github/.", 400),
        ("/./webhooks/github", 400),
        ("/webhooks/..;/webhooks/github", 400),
        ("/webhooks/%2e%2e/webhooks/github", 400),
        ("/webhooks/%2E%2E/admin", 400),
        ("/webhooks/.%2e/admin", 400),
        ("/webhooks%2fgithub", 400),
        ("/webhooks%2Fgithub", 400),
        ("/webhooks/%252e%252e/admin", 400),
        ("/webhooks%252fgithub", 400),
        ("/webhooks/github%00", 400),
        ("/webhooks/github%5c..%5cadmin", 400),
        ("/webhooks/github%", 400),
        ("/webhooks/github%zz", 400),
        ("//webhooks/github", 400),
        ("/webhooks//github", 400),
        ("/webhooks\\github", 400),
        ("/webhooks/github\\..\\admin", 400),
        ("/webhooks/github;x=1", 404),
        ("/webhooks/github;", 404),
        ("/webhooks/github/", 404),
        ("/webhooks/github.", 404),
        ("/webhooks/github..", 404),
        ("/webhooks/github%20", 404),
        ("/webhooks/gith%75b", 404),
        ("/Webhooks/github", 404),
        ("/webhooks/GitHub", 404),
        ("/WEBHOOKS/GITHUB", 404),
        ("/webhooks/github/admin", 404),
        ("/webhooks", 404),
        ("/", 404),
        ("/admin", 404),
    ];
    let mut cases = Cases::new();
    for (target, status) in targets {
        cases.add(format!("target {target}"), Expect::Refused(*status), |m| {
            plain(target, m, "")
        });
    }
    cases.check(&rig).await;

    // A fragment is not part of an HTTP/1 target (RFC 9112 section 3.2). `http::Uri` drops
    // it, so hookwall routes and forwards the bare path: either way the upstream sees exactly
    // the route's path, and nothing after the `#`.
    let request = plain(
        "/webhooks/github#/../admin",
        "fragment",
        "Connection: close\r\n",
    );
    let ex = exchange(rig.addr(), &request).await;
    assert!(ex.closed, "{ex:?}");
    let seen = rig.upstream.for_case("fragment");
    if ex.statuses() == [200] {
        assert_eq!(seen.len(), 1);
        assert_delivery(&seen[0], &body("fragment"));
    } else {
        assert_eq!(ex.statuses(), [400], "{ex:?}");
        assert!(seen.is_empty());
    }
    rig.assert_still_serving("after-paths").await;
}

/// Other methods get 405 with `Allow`; other target forms (absolute, authority, `*`) and a
/// missing or doubled `Host` get 400; none of them reach the upstream.
#[tokio::test]
async fn other_methods_target_forms_and_hosts_never_reach_the_upstream() {
    let rig = Rig::start().await;
    let sig = github_signature(SECRET, BODY);
    let len = BODY.len();
    let request = |line: &str, hosts: &str, m: &str| {
        let lines = format!("X-Case: {m}\r\n{SIGNATURE}: {sig}\r\nContent-Length: {len}\r\n");
        with_body(format!("{line}\r\n{hosts}{lines}\r\n"), BODY)
    };
    let host = "Host: hookwall.test\r\n";
    let table: Vec<(String, &str, u16)> = vec![
        (format!("PUT {GITHUB} HTTP/1.1"), host, 405),
        (format!("GET {GITHUB} HTTP/1.1"), host, 405),
        (format!("DELETE {GITHUB} HTTP/1.1"), host, 405),
        (format!("PATCH {GITHUB} HTTP/1.1"), host, 405),
        (format!("OPTIONS {GITHUB} HTTP/1.1"), host, 405),
        (format!("TRACE {GITHUB} HTTP/1.1"), host, 405),
        (format!("post {GITHUB} HTTP/1.1"), host, 405),
        (format!("P0ST {GITHUB} HTTP/1.1"), host, 405),
        (format!("CONNECT {GITHUB} HTTP/1.1"), host, 405),
        ("CONNECT hookwall.test:443 HTTP/1.1".to_string(), host, 400),
        ("OPTIONS * HTTP/1.1".to_string(), host, 400),
        ("POST * HTTP/1.1".to_string(), host, 400),
        (
            format!("POST http://hookwall.test{GITHUB} HTTP/1.1"),
            host,
            400,
        ),
        (
            format!("POST HTTP://HOOKWALL.TEST{GITHUB} HTTP/1.1"),
            host,
            400,
        ),
        (
            format!("POST https://evil.test{GITHUB} HTTP/1.1"),
            host,
            400,
        ),
        ("POST hookwall.test:80 HTTP/1.1".to_string(), host, 400),
        (format!("POST {GITHUB} HTTP/1.1"), "", 400),
        (
            format!("POST {GITHUB} HTTP/1.1"),
            "Host: hookwall.test\r\nHost: evil.test\r\n",
            400,
        ),
        (
            format!("POST {GITHUB} HTTP/1.1"),
            "Host: hookwall.test\r\nhost: hookwall.test\r\n",
            400,
        ),
        (format!("POST {GITHUB} HTTP/1.0"), "", 400),
    ];
    let mut cases = Cases::new();
    for (line, hosts, status) in &table {
        cases.add(
            format!("{line} with {hosts:?}"),
            Expect::Refused(*status),
            |m| request(line, hosts, m),
        );
    }
    cases.check(&rig).await;

    // `Allow` on a 405.
    let put = request(&format!("PUT {GITHUB} HTTP/1.1"), host, "allow");
    let ex = exchange(rig.addr(), &put).await;
    assert_eq!(ex.responses[0].header("allow"), Some("POST"), "{ex:?}");
    // HEAD: the answer has no body, so only its status line is read.
    let head = request(&format!("HEAD {GITHUB} HTTP/1.1"), host, "head");
    let ex = exchange(rig.addr(), &head).await;
    assert!(ex.closed, "{ex:?}");
    assert_eq!(ex.first_status(), Some(405), "{ex:?}");
    rig.assert_unharmed("methods, forms and hosts").await;
}

/// A header block: a POST to the GitHub route with the signature `sig`, marked `marker`,
/// with a `content-length` if given.
fn signed_block(sig: &str, marker: &str, length: Option<usize>) -> Vec<u8> {
    let length = length.map(|n| n.to_string());
    let mut fields = vec![("x-hub-signature-256", sig), ("x-case", marker)];
    if let Some(n) = &length {
        fields.push(("content-length", n));
    }
    frames::request_block("POST", GITHUB, &fields)
}

/// [`signed_block`] for [`BODY`], marked `smuggled`: a stream that must never reach the
/// upstream.
fn smuggled_block(length: Option<usize>) -> Vec<u8> {
    signed_block(&github_signature(SECRET, BODY), "smuggled", length)
}

/// A HEADERS frame (END_HEADERS, not END_STREAM) on stream 1 holding [`signed_block`].
fn h2_head(sig: &str, marker: &str, length: Option<usize>) -> Vec<u8> {
    let block = signed_block(sig, marker, length);
    frames::frame(frames::HEADERS, frames::END_HEADERS, 1, &block)
}

/// DATA frames on stream 1, one for each of `parts`, END_STREAM on the last.
fn data_frames(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let flags = if i + 1 == parts.len() {
            frames::END_STREAM
        } else {
            0
        };
        out.extend(frames::frame(frames::DATA, flags, 1, part));
    }
    out
}

/// HTTP/2 framing: a `content-length` that disagrees with the DATA sent (RFC 9113 section
/// 8.1.1), or DATA after END_STREAM, ends the stream with a reset or an error and never
/// reaches the upstream; a body split over one-byte frames arrives whole, once.
#[tokio::test]
async fn http2_bodies_that_disagree_with_their_length_never_reach_the_upstream() {
    let rig = Rig::start().await;
    // From the body: the `content-length` to declare, and the DATA frames that carry it.
    type Frames = fn(&[u8]) -> (Option<usize>, Vec<u8>);
    let cases: [(&str, Frames, bool); 4] = [
        (
            "content-length shorter than the data",
            |b| (Some(b.len() - 10), data_frames(&[b])),
            false,
        ),
        (
            "content-length longer than the data",
            |b| (Some(b.len() + 10), data_frames(&[b])),
            false,
        ),
        (
            "DATA after END_STREAM",
            |b| {
                let (first, rest) = b.split_at(20);
                (None, [data_frames(&[first]), data_frames(&[rest])].concat())
            },
            false,
        ),
        (
            "one-byte DATA frames, with a matching length",
            |b| (Some(b.len()), data_frames(&b.chunks(1).collect::<Vec<_>>())),
            true,
        ),
    ];
    for (i, (what, make, forwarded)) in cases.into_iter().enumerate() {
        let m = format!("h2-len-{i}");
        let b = body(&m);
        let sig = github_signature(SECRET, &b);
        let (length, data) = make(&b);
        let start = Instant::now();
        let (mut r, mut w) = TcpStream::connect(rig.addr()).await.unwrap().into_split();
        w.write_all(&frames::client_start()).await.unwrap();
        w.write_all(&[h2_head(&sig, &m, length), data].concat())
            .await
            .unwrap();
        // The stream ends: an answer with END_STREAM, a reset, or the connection going.
        let (got, end) = frames::read_frames(&mut r, start + BOUND, |f| {
            (f.stream == 1 && (f.kind == frames::RST_STREAM || f.flags & frames::END_STREAM != 0))
                || f.kind == frames::GOAWAY
        })
        .await;
        assert_ne!(end, Some(frames::End::TimedOut), "{what}: {got:?}");
        let seen = rig.upstream.for_case(&m);
        if forwarded {
            assert_eq!(seen.len(), 1, "{what}: {seen:#?}");
            assert_delivery(&seen[0], &b);
        } else {
            assert!(seen.is_empty(), "{what}: reached the upstream: {seen:#?}");
        }
    }
    assert_eq!(rig.upstream.hits(), 1);
    rig.upstream.assert_no_anomalies();
}

/// HTTP/2 requests get the same checks: `:path` is matched as received, methods as on HTTP/1.
#[tokio::test]
async fn http2_paths_and_methods_are_checked_like_http1() {
    let rig = Rig::start().await;
    let sig = github_signature(SECRET, BODY);
    let mut h2 = rig.hookwall.connect_h2().await;
    for (method, target, status) in [
        ("POST", "/webhooks/x/../github", 400),
        ("POST", "/webhooks/%2e%2e/admin", 400),
        ("POST", "/webhooks%2fgithub", 400),
        ("POST", "/webhooks/%252e/github", 400),
        ("POST", "//webhooks/github", 400),
        ("POST", "/webhooks/github;x", 404),
        ("POST", "/webhooks/github/", 404),
        ("POST", "/Webhooks/github", 404),
        ("PUT", GITHUB, 405),
        ("GET", GITHUB, 405),
    ] {
        let headers = [("x-hub-signature-256", sig.as_str())];
        let got = h2_send(&mut h2, method, target, &headers, BODY).await;
        assert_eq!(got, status, "{method} {target}");
    }
    rig.upstream.assert_untouched("HTTP/2 paths");
    assert_h2_delivers(&rig, &mut h2, "h2-ok").await;
}

// =============================================================================================
// Resource exhaustion

/// Writes `bytes` one at a time, `gap` apart, until done or the server closes; returns how
/// many were written. (The sleep paces the attack; it synchronises nothing.)
async fn trickle(mut w: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>, gap: Duration) -> usize {
    for (i, b) in bytes.iter().enumerate() {
        if w.write_all(&[*b]).await.is_err() {
            return i;
        }
        tokio::time::sleep(gap).await;
    }
    bytes.len()
}

/// A head sent a byte every 100 ms is cut off by `header_timeout` (300 ms, plus the protocol
/// sniff): the connection closes without an answer, well within the bound. The same for a
/// slow HTTP/2 preface.
#[tokio::test]
async fn slow_heads_are_cut_off_by_the_header_timeout() {
    let rig = Rig::start().await;
    let gap = Duration::from_millis(100);
    let mut set = JoinSet::new();
    for (what, bytes) in [
        ("an HTTP/1 head", plain(GITHUB, "slow-head", "")),
        ("an HTTP/2 preface", frames::client_start()),
    ] {
        let addr = rig.addr();
        set.spawn(async move {
            let start = Instant::now();
            let (mut r, w) = TcpStream::connect(addr).await.unwrap().into_split();
            let writer = tokio::spawn(trickle(w, bytes, gap));
            let ex = finish(&mut r, start).await;
            drop(r);
            let written = writer.await.unwrap();
            (what, ex, written)
        });
    }
    while let Some(done) = set.join_next().await {
        let (what, ex, written) = done.unwrap();
        assert!(ex.closed, "{what}: still open after {BOUND:?}");
        assert!(
            ex.elapsed < Duration::from_millis(1500),
            "{what}: took {:?}",
            ex.elapsed
        );
        assert!(ex.statuses().iter().all(|s| *s >= 400), "{what}: {ex:?}");
        assert!(written < 20, "{what}: {written} bytes accepted");
    }
    rig.upstream.assert_untouched("slow heads");
}

/// A body sent a byte every 100 ms, or declared and never sent, is answered 408 once
/// `body_timeout` (300 ms) passes, and the connection closes; a declared body over
/// `max_body` is refused at once with 413 (hyper itself answers 431 for a length it cannot
/// represent). Over HTTP/2, a stream whose body never comes is answered within the same bound.
#[tokio::test]
async fn slow_or_missing_bodies_are_408_and_huge_declared_bodies_413_at_once() {
    let rig = Rig::start().await;
    let len = BODY.len();
    let addr = rig.addr();

    let start = Instant::now();
    let (mut r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let head = post(
        GITHUB,
        "slow-body",
        &format!("Content-Length: {len}\r\n"),
        BODY,
    );
    w.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(trickle(w, BODY.to_vec(), Duration::from_millis(100)));
    let ex = finish(&mut r, start).await;
    assert_eq!(ex.statuses(), [408], "{ex:?}");
    assert!(
        ex.closed && ex.elapsed < Duration::from_millis(1500),
        "{ex:?}"
    );
    drop(r);
    assert!(writer.await.unwrap() < len, "the slow body was cut off");

    for (what, declared, status, within_ms) in [
        (
            "a declared body that never comes",
            len.to_string(),
            408,
            1500,
        ),
        (
            "a declared body of 10^15 bytes",
            "1000000000000000".to_string(),
            413,
            500,
        ),
        (
            "a declared body of 2^64-1 bytes",
            u64::MAX.to_string(),
            431,
            500,
        ),
    ] {
        let lines = format!("Content-Length: {declared}\r\n");
        let ex = exchange(addr, post(GITHUB, "declared", &lines, BODY).as_bytes()).await;
        assert_eq!(ex.statuses(), [status], "{what}: {ex:?}");
        assert!(
            ex.closed && ex.elapsed < Duration::from_millis(within_ms),
            "{what}: {ex:?}"
        );
    }

    // HTTP/2: the head, and no DATA. The answer (a HEADERS frame on stream 1) comes within
    // the body timeout.
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = frames::frame(
        frames::HEADERS,
        frames::END_HEADERS,
        1,
        &smuggled_block(None),
    );
    stream
        .write_all(&[frames::client_start(), head].concat())
        .await
        .unwrap();
    let (got, end) = frames::read_frames(&mut stream, start + BOUND, |f| {
        f.kind == frames::HEADERS && f.stream == 1
    })
    .await;
    assert_eq!(end, None, "no answer on stream 1: {got:?}");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );

    rig.assert_unharmed("slow bodies").await;
}

/// Heads over the limits (64 KiB, 100 headers; a URI over 64 KiB) get 431 and the connection
/// closes; a head that never ends is cut off once the read buffer is full.
#[tokio::test]
async fn oversized_heads_are_refused_with_bounded_reads() {
    let rig = Rig::start().await;
    let mut cases = Cases::new();
    let big = format!("X-Big: {}\r\n", "a".repeat(70 * 1024));
    cases.add("one 70 KiB header", Expect::Refused(431), |m| {
        plain(GITHUB, m, &big)
    });
    let many: String = (0..150).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    cases.add("150 headers", Expect::Refused(431), |m| {
        plain(GITHUB, m, &many)
    });
    let target = format!("{GITHUB}?{}", "q".repeat(70 * 1024));
    cases.add("a 70 KiB URI", Expect::Refused(431), |m| {
        plain(&target, m, "")
    });
    cases.add(
        "a head of 1 MiB that never ends",
        Expect::Refused(431),
        |m| {
            let mut r = post(GITHUB, m, "X-Endless: ", BODY)
                .trim_end()
                .to_string()
                .into_bytes();
            r.extend(vec![b'a'; 1 << 20]);
            r
        },
    );
    // Just under the limits, a signed request still goes through.
    let fits: String = (0..90)
        .map(|i| format!("X-H{i}: {}\r\n", "v".repeat(500)))
        .collect();
    cases.add("90 headers, 45 KB", Expect::Forwarded, |m| {
        plain(GITHUB, m, &fits)
    });
    cases.check(&rig).await;
}

/// A chunked body that never ends stops at `max_body`: 413, the connection closes, and the
/// sender's writes fail soon after.
#[tokio::test]
async fn an_endless_chunked_body_stops_at_max_body_with_413() {
    let rig = Rig::start().await;
    let start = Instant::now();
    let (mut r, mut w) = TcpStream::connect(rig.addr()).await.unwrap().into_split();
    let head = post(GITHUB, "endless", "Transfer-Encoding: chunked\r\n", BODY);
    let writer = tokio::spawn(async move {
        let mut chunk = b"2000\r\n".to_vec();
        chunk.extend(vec![b'a'; 0x2000]);
        chunk.extend_from_slice(b"\r\n");
        let mut sent = 0usize;
        if w.write_all(head.as_bytes()).await.is_err() {
            return sent;
        }
        // Stop on the first failed write, or after 64 MiB (hookwall never stopped us).
        while sent < 64 << 20 {
            if w.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let ex = finish(&mut r, start).await;
    assert_eq!(ex.statuses(), [413], "{ex:?}");
    assert!(ex.closed && ex.elapsed < BOUND, "{ex:?}");
    drop(r);
    let sent = within(BOUND.as_secs_f64(), "the sender to be cut off", writer)
        .await
        .unwrap();
    assert!(
        sent < 16 << 20,
        "{sent} bytes were accepted for a 64 KiB limit"
    );
    rig.assert_unharmed("endless body").await;
}

/// 200 connections that send nothing, and 200 that send half a head, do not keep a
/// legitimate delivery from being served; all of them are closed by the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_starve_a_delivery_and_are_closed() {
    let rig = Rig::start().await;
    let addr = rig.addr();
    let start = Instant::now();
    let mut idle = Vec::new();
    for i in 0..400 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            let half = format!("POST {GITHUB} HTTP/1.1\r\nHost: hookwall.test\r\n");
            s.write_all(half.as_bytes()).await.unwrap();
        }
        idle.push(s);
    }
    rig.assert_still_serving("beside-idle").await;
    let mut set = JoinSet::new();
    for mut s in idle {
        set.spawn(async move { read_until_close(&mut s, start + BOUND).await });
    }
    let mut open = 0;
    while let Some(done) = set.join_next().await {
        let (bytes, closed) = done.unwrap();
        if !closed {
            open += 1;
        }
        let (responses, _) = parse_responses(&bytes);
        assert!(responses.iter().all(|r| r.status >= 400), "{responses:?}");
    }
    assert_eq!(
        open, 0,
        "{open} idle connections still open after {BOUND:?}"
    );
    assert_eq!(rig.upstream.hits(), 1);
}

/// 500 unsigned requests pipelined on one connection each get 401, in order, while a
/// delivery on another connection is served; only the delivery reaches the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_flood_of_unsigned_requests_gets_401s_while_a_delivery_succeeds() {
    let rig = Rig::start().await;
    let addr = rig.addr();
    let wrong = wrong_signature();
    let flood: Vec<u8> = (0..500)
        .flat_map(|i| {
            let b = format!(r#"{{"flood":{i}}}"#);
            raw_post(GITHUB, HOST, &[(SIGNATURE, &wrong)], b.as_bytes())
        })
        .collect();
    let start = Instant::now();
    let (mut r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let writer = tokio::spawn(async move { w.write_all(&flood).await.map(|()| w) });
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut statuses = Vec::new();
        while statuses.len() < 500 {
            match read_response(&mut r, &mut buf, start + BOUND).await {
                Some(res) => statuses.push(res.status),
                None => break,
            }
        }
        statuses
    });
    rig.assert_still_serving("beside-flood").await;
    let statuses = reader.await.unwrap();
    let _w = writer.await.unwrap().unwrap();
    assert_eq!(statuses.len(), 500, "answers: {}", statuses.len());
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert!(start.elapsed() < BOUND);
    assert_eq!(rig.upstream.hits(), 1, "only the delivery");
}

/// 100 distinct signed deliveries pipelined on one connection each reach the upstream exactly
/// once, in order, byte for byte.
#[tokio::test]
async fn pipelined_signed_deliveries_each_arrive_exactly_once_in_order() {
    let rig = Rig::start().await;
    let markers: Vec<String> = (0..100).map(|i| format!("seq-{i}")).collect();
    let all: Vec<u8> = markers.iter().flat_map(|m| plain(GITHUB, m, "")).collect();
    let start = Instant::now();
    let mut stream = TcpStream::connect(rig.addr()).await.unwrap();
    stream.write_all(&all).await.unwrap();
    let mut buf = Vec::new();
    for m in &markers {
        let res = read_response(&mut stream, &mut buf, start + BOUND).await;
        assert_eq!(res.map(|r| r.status), Some(200), "{m}");
    }
    let seen = rig.upstream.seen();
    assert_eq!(seen.len(), 100);
    for (s, m) in seen.iter().zip(&markers) {
        assert_eq!(&s.one("x-case"), m, "in order");
        assert_delivery(s, &body(m));
    }
}

/// 200 connections at once, each declaring and sending a 64 KiB body (with a wrong
/// signature, so the upstream stays out of it): the process's resident memory grows by less
/// than 64 MiB. hookwall runs in this process, so its memory is what is measured. The test
/// runs alone (it holds the gate for writing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_200_concurrent_64_kib_bodies() {
    const LIMIT: u64 = 64 << 20;
    const CONNECTIONS: usize = 200;
    // A generous body timeout: the point is memory, not the deadline.
    let rig = Rig::exclusive("5s").await;
    let addr = rig.addr();
    let payload = Arc::new(vec![b'x'; 64 * 1024]);
    let wrong = wrong_signature();
    let headers = [(SIGNATURE, wrong.as_str()), ("Connection", "close")];
    let head = Arc::new(raw_head(GITHUB, HOST, &headers, payload.len()));
    // Warm up (lazy statics, the runtime's first allocations) before the baseline.
    let ex = exchange(addr, &[head.as_bytes(), &payload[..]].concat()).await;
    assert_eq!(ex.statuses(), [401]);
    let (rss_before, hwm_before) = rss();
    let start = Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(CONNECTIONS));
    let mut set = JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (payload, head, barrier) = (
            Arc::clone(&payload),
            Arc::clone(&head),
            Arc::clone(&barrier),
        );
        set.spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(&payload[..payload.len() - 1]).await.unwrap();
            // Every body is in flight before any completes.
            barrier.wait().await;
            s.write_all(&payload[payload.len() - 1..]).await.unwrap();
            finish(&mut s, Instant::now()).await
        });
    }
    while let Some(done) = set.join_next().await {
        let ex = done.unwrap();
        assert_eq!(ex.statuses(), [401], "{ex:?}");
    }
    let (rss_after, hwm_after) = rss();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "memory: RSS {:.1} -> {:.1} MiB, peak {:.1} -> {:.1} MiB, {CONNECTIONS} x 64 KiB in {:?}",
        mib(rss_before),
        mib(rss_after),
        mib(hwm_before),
        mib(hwm_after),
        start.elapsed()
    );
    assert!(
        rss_after.saturating_sub(rss_before) < LIMIT,
        "RSS grew by {:.1} MiB",
        mib(rss_after.saturating_sub(rss_before))
    );
    // The peak during the flood: if it rose past the earlier peak, it is this flood's.
    assert!(
        hwm_after <= hwm_before.max(rss_before + LIMIT),
        "peak RSS grew by {:.1} MiB",
        mib(hwm_after.saturating_sub(rss_before))
    );
    rig.upstream.assert_untouched("memory flood");
}

/// Opens an HTTP/2 connection with raw frames, writes `attack` from a separate task (the
/// server may stop reading), and reads frames until a GOAWAY or the end of the connection.
/// The server must end things within [`BOUND`], with a GOAWAY whose code is an error
/// (ENHANCE_YOUR_CALM 0xb or PROTOCOL_ERROR 0x1, never NO_ERROR).
async fn assert_h2_attack_refused(addr: SocketAddr, what: &str, attack: Vec<u8>) {
    let start = Instant::now();
    let (mut r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let writer = tokio::spawn(async move {
        let _ = w.write_all(&frames::client_start()).await;
        let _ = w.write_all(&attack).await;
        w
    });
    let (got, end) = frames::read_frames(&mut r, start + BOUND, |f| f.kind == frames::GOAWAY).await;
    let goaway = got.iter().find_map(frames::Frame::goaway_code);
    writer.abort();
    let ended = end != Some(frames::End::TimedOut);
    assert!(ended, "{what}: no GOAWAY and no close within {BOUND:?}");
    assert!(
        goaway.is_some_and(|code| code != 0),
        "{what}: refused without an error GOAWAY: {goaway:?}"
    );
}

/// A signed HTTP/2 delivery of [`body`]`(marker)` over `h2` is answered 200 and arrives
/// exactly once.
async fn assert_h2_delivers(rig: &Rig, h2: &mut SendRequest<Full<Bytes>>, marker: &str) {
    let b = body(marker);
    let sig = github_signature(SECRET, &b);
    let headers = [("x-hub-signature-256", sig.as_str()), ("x-case", marker)];
    let status = h2_send(h2, "POST", GITHUB, &headers, &b).await;
    assert_eq!(status, 200);
    rig.assert_delivered_once(marker);
}

/// A signed HTTP/2 delivery on a fresh connection must arrive exactly once.
async fn assert_h2_still_serving(rig: &Rig, marker: &str) {
    let mut h2 = rig.hookwall.connect_h2().await;
    assert_h2_delivers(rig, &mut h2, marker).await;
}

/// Rapid reset (CVE-2023-44487): thousands of streams opened with a signed head and body and
/// reset before the body ends. And its mirror, streams hookwall itself must reset for a
/// protocol error. hookwall answers with GOAWAY (or closes), serves other connections, and the
/// upstream sees none of those streams.
#[tokio::test]
async fn http2_rapid_reset_is_refused_and_other_connections_keep_working() {
    let rig = Rig::start().await;
    let block = smuggled_block(Some(BODY.len()));
    let mut rapid = Vec::new();
    for i in 0..2000u32 {
        let id = 2 * i + 1;
        rapid.extend(frames::frame(
            frames::HEADERS,
            frames::END_HEADERS,
            id,
            &block,
        ));
        rapid.extend(frames::frame(frames::DATA, 0, id, BODY));
        rapid.extend(frames::rst_stream(id, frames::CANCEL));
    }
    // Upper-case header names are malformed in HTTP/2 (RFC 9113 section 8.2.1): the server
    // resets each such stream itself.
    let bad_block =
        frames::request_block("POST", GITHUB, &[("X-Upper", "1"), ("x-case", "smuggled")]);
    let mut provoked = Vec::new();
    for i in 0..2000u32 {
        let flags = frames::END_HEADERS | frames::END_STREAM;
        provoked.extend(frames::frame(frames::HEADERS, flags, 2 * i + 1, &bad_block));
    }
    for (what, attack) in [("rapid reset", rapid), ("server-side resets", provoked)] {
        assert_h2_attack_refused(rig.addr(), what, attack).await;
    }
    rig.upstream.assert_untouched("rapid reset");
    assert_h2_still_serving(&rig, "h2-after").await;
    rig.assert_still_serving("h1-after").await;
    assert_nothing_smuggled(&rig);
}

/// CONTINUATION flood (CVE-2024-27316 and kin): a HEADERS frame without END_HEADERS, then
/// CONTINUATION frames without end, full or empty. hookwall stops reading with GOAWAY (or
/// closes) long before the attack is sent, keeps serving others, and the upstream sees
/// nothing.
#[tokio::test]
async fn http2_continuation_flood_is_refused_and_other_connections_keep_working() {
    let rig = Rig::start().await;
    let first = smuggled_block(None);
    let pad = "a".repeat(1000);
    let mut full = frames::frame(frames::HEADERS, 0, 1, &first);
    for k in 0..4000 {
        let name = format!("x-pad-{k}");
        let block = frames::hpack(&[(&name, &pad)]);
        full.extend(frames::frame(frames::CONTINUATION, 0, 1, &block));
    }
    let mut empty = frames::frame(frames::HEADERS, 0, 1, &first);
    for _ in 0..100_000 {
        empty.extend(frames::frame(frames::CONTINUATION, 0, 1, &[]));
    }
    for (what, attack) in [
        ("4 MB of CONTINUATION", full),
        ("100000 empty CONTINUATION", empty),
    ] {
        assert_h2_attack_refused(rig.addr(), what, attack).await;
    }
    rig.upstream.assert_untouched("continuation flood");
    assert_h2_still_serving(&rig, "h2-after").await;
}

/// The HTTP/2 twin of the slow head: a HEADERS frame whose bytes arrive one every 100 ms.
/// An HTTP/1 head in the same state is cut off by `header_timeout`; this one must be too.
#[tokio::test]
async fn http2_head_trickled_slowly_is_cut_off() {
    let rig = Rig::start().await;
    let flags = frames::END_HEADERS | frames::END_STREAM;
    let frame = frames::frame(frames::HEADERS, flags, 1, &smuggled_block(None));
    let start = Instant::now();
    let (mut r, mut w) = TcpStream::connect(rig.addr()).await.unwrap().into_split();
    w.write_all(&frames::client_start()).await.unwrap();
    let writer = tokio::spawn(trickle(w, frame, Duration::from_millis(100)));
    let (got, end) = frames::read_frames(&mut r, start + BOUND, |f| f.kind == frames::GOAWAY).await;
    writer.abort();
    assert_ne!(
        end,
        Some(frames::End::TimedOut),
        "still open after {BOUND:?}: {got:?}"
    );
    rig.upstream.assert_untouched("trickled HTTP/2 head");
}

// =============================================================================================
// Replays

/// A delivery a replay attacker captured (`b`, signed `sig`), re-sent to `target` on a
/// fresh connection with `extra` headers, marked `marker` (the marker header is not signed).
fn replay(target: &str, marker: &str, b: &[u8], sig: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = vec![("X-Case", marker), (SIGNATURE, sig)];
    headers.extend_from_slice(extra);
    headers.push(("Connection", "close"));
    raw_post(target, HOST, &headers, b)
}

/// Whether an answer is hookwall's "already delivered" 200 rather than the upstream's.
fn is_duplicate(r: &RawResponse) -> bool {
    r.status == 200 && r.header("x-hookwall-duplicate") == Some("true")
}

/// Replay protection is on by default for GitHub routes: a verified delivery reaches the
/// upstream once, however it is replayed afterwards (new delivery id, other query, other
/// `Host`, extra headers) or raced (copies sent at once get 409 while the first is in flight,
/// or the duplicate answer).
#[tokio::test]
async fn a_replayed_delivery_reaches_the_upstream_once() {
    let rig = Rig::start().await;
    let b = body("original");
    let sig = github_signature(SECRET, &b);
    let first = replay(
        GITHUB,
        "original",
        &b,
        &sig,
        &[("X-GitHub-Delivery", "d-1")],
    );
    let ex = exchange(rig.addr(), &first).await;
    assert_eq!(ex.statuses(), [200], "{ex:?}");
    assert!(!is_duplicate(&ex.responses[0]));
    assert_eq!(rig.upstream.hits(), 1);

    let target_with_query = format!("{GITHUB}?replayed=1");
    let extra = [("X-Hub-Signature", "sha1=00"), ("X-Extra", "1")];
    let other_host = respell(replay(GITHUB, "r-host", &b, &sig, &[]), HOST, "other.test");
    let replays = vec![
        replay(GITHUB, "r-same", &b, &sig, &[]),
        replay(GITHUB, "r-id", &b, &sig, &[("X-GitHub-Delivery", "d-2")]),
        replay(&target_with_query, "r-query", &b, &sig, &[]),
        replay(GITHUB, "r-extra", &b, &sig, &extra),
        other_host,
    ];
    for ex in exchange_all(rig.addr(), replays).await {
        assert_eq!(ex.statuses(), [200], "{ex:?}");
        assert!(is_duplicate(&ex.responses[0]), "{ex:?}");
    }
    assert_eq!(rig.upstream.hits(), 1, "{:#?}", rig.upstream.seen());

    // A fresh delivery raced by copies of itself: one reaches the upstream.
    let b = body("raced");
    let sig = github_signature(SECRET, &b);
    let copies = (0..8)
        .map(|i| replay(GITHUB, &format!("raced-{i}"), &b, &sig, &[]))
        .collect();
    let mut from_upstream = 0;
    for ex in exchange_all(rig.addr(), copies).await {
        let [r] = ex.responses.as_slice() else {
            panic!("one answer each: {ex:?}");
        };
        match r.status {
            200 if is_duplicate(r) => {}
            200 => from_upstream += 1,
            409 => assert!(r.header("retry-after").is_some(), "{r:?}"),
            _ => panic!("{r:?}"),
        }
    }
    assert_eq!(from_upstream, 1);
    assert_eq!(rig.upstream.hits(), 2, "{:#?}", rig.upstream.seen());
    rig.upstream.assert_no_anomalies();
}

/// hookwall decodes the hex of `X-Hub-Signature-256` case-insensitively, so a captured
/// delivery still verifies with its signature's letters re-cased. The replay key must not
/// depend on that spelling (it should be the decoded signature, or the body), or each
/// re-spelling is a new delivery to the app.
#[tokio::test]
async fn a_replay_with_the_signature_re_cased_reaches_the_upstream_once() {
    let rig = Rig::start().await;
    let b = body("re-cased");
    let sig = github_signature(SECRET, &b);
    let hex_part = sig.strip_prefix("sha256=").unwrap();
    assert!(hex_part.bytes().any(|c| c.is_ascii_alphabetic()));
    let upper = format!("sha256={}", hex_part.to_ascii_uppercase());
    let mut mixed = String::from("sha256=");
    for (i, c) in hex_part.chars().enumerate() {
        mixed.push(if i % 2 == 0 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    for (i, spelling) in [sig.as_str(), upper.as_str(), mixed.as_str()]
        .into_iter()
        .enumerate()
    {
        let ex = exchange(
            rig.addr(),
            &replay(GITHUB, &format!("re-cased-{i}"), &b, spelling, &[]),
        )
        .await;
        assert_eq!(ex.statuses(), [200], "{spelling}: {ex:?}");
        assert_eq!(is_duplicate(&ex.responses[0]), i > 0, "{spelling}: {ex:?}");
    }
    assert_eq!(
        rig.upstream.hits(),
        1,
        "one delivery, {} copies at the app: {:#?}",
        rig.upstream.hits(),
        rig.upstream.seen()
    );
}

// =============================================================================================
// Signatures end to end

/// Every wrong, partial, duplicated or downgraded signature is 401, and the upstream is never
/// even connected to. The algorithm is fixed by the route, never by the request.
#[tokio::test]
async fn every_wrong_signature_is_401_with_no_upstream_contact() {
    let rig = Rig::start().await;
    let good = github_signature(SECRET, BODY);
    let hex_part = good.strip_prefix("sha256=").unwrap().to_string();
    let mut non_hex = good.clone();
    non_hex.replace_range(good.len() - 1.., "g");
    let unkeyed = {
        use sha2::Digest;
        format!("sha256={}", hex::encode(sha2::Sha256::digest(BODY)))
    };
    let mut other_body = BODY.to_vec();
    other_body.extend_from_slice(b" ");
    let sha1 = github_sha1_signature(SECRET, BODY);
    let sha512 = format!("sha512={}", hex::encode(mac512(SECRET.as_bytes(), &[BODY])));
    let other_key = github_signature(OTHER_SECRET, BODY);
    let empty_key = github_signature("", BODY);
    let of_other_body = github_signature(SECRET, &other_body);
    // Each: what, and the one `X-Hub-Signature-256` value sent.
    let values: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("prefix only", "sha256=".into()),
        ("one hex character", "sha256=a".into()),
        ("truncated by two", good[..good.len() - 2].into()),
        ("truncated by one", good[..good.len() - 1].into()),
        ("extended by two", format!("{good}00")),
        ("extended by one", format!("{good}0")),
        ("non-hex", non_hex.clone()),
        ("all z", format!("sha256={}", "z".repeat(64))),
        ("hex without the prefix", hex_part.clone()),
        ("upper-case prefix", format!("SHA256={hex_part}")),
        ("colon instead of =", format!("sha256:{hex_part}")),
        ("doubled prefix", format!("sha256=sha256={hex_part}")),
        ("space inside", format!("sha256= {hex_part}")),
        ("two values in one line", format!("{good}, {good}")),
        ("a valid sha1 in the sha256 header", sha1.clone()),
        ("a valid sha512 in the sha256 header", sha512),
        ("the other route's key", other_key),
        ("an unkeyed SHA-256 of the body", unkeyed),
        ("an empty key", empty_key),
        ("the signature of another body", of_other_body),
    ];
    // Each: what, and the signature header lines sent (none, several, or others).
    let line = |name: &str, value: &str| format!("{name}: {value}\r\n");
    let (good_line, bad_line) = (line(SIGNATURE, &good), line(SIGNATURE, &non_hex));
    let sha1_as_sha256 = line(SIGNATURE, &sha1.replace("sha1=", "sha256="));
    let lines: Vec<(&str, String)> = vec![
        ("no signature", String::new()),
        ("the same good value twice", good_line.repeat(2)),
        ("good then bad", format!("{good_line}{bad_line}")),
        ("bad then good", format!("{bad_line}{good_line}")),
        (
            "sha1 downgrade: a valid legacy X-Hub-Signature only",
            line("X-Hub-Signature", &sha1),
        ),
        (
            "an algorithm named by the request",
            "X-Hub-Signature-Algorithm: sha1\r\nX-Signature-Algorithm: sha1\r\n".to_string()
                + &sha1_as_sha256,
        ),
        (
            "algorithm none",
            "X-Hub-Signature-Algorithm: none\r\n".to_string() + &line(SIGNATURE, "sha256="),
        ),
        (
            "the signature in a look-alike header",
            line("X-Hub-Signature-256-Fake", &good),
        ),
    ];
    let len = BODY.len();
    let mut cases = Cases::new();
    let values = values
        .into_iter()
        .map(|(what, v)| (what, line(SIGNATURE, &v)));
    for (what, lines) in values.chain(lines) {
        cases.add(what, Expect::Refused(401), |m| {
            let head = format!("POST {GITHUB} HTTP/1.1\r\nHost: {HOST}\r\nX-Case: {m}\r\nContent-Length: {len}\r\n{lines}\r\n");
            with_body(head, BODY)
        });
    }
    // The GitHub route's valid signature, on the other route, whose key differs.
    cases.add("a key from another route", Expect::Refused(401), |m| {
        raw_post(OTHER, HOST, &[("X-Case", m), (SIGNATURE, &good)], BODY)
    });
    cases.check(&rig).await;

    // Each route's own key does verify there.
    rig.assert_still_serving("github-key").await;
    let b = body("other-key");
    let other = replay(
        OTHER,
        "other-key",
        &b,
        &github_signature(OTHER_SECRET, &b),
        &[],
    );
    let ex = exchange(rig.addr(), &other).await;
    assert_eq!(ex.statuses(), [200], "{ex:?}");
    let seen = rig.upstream.for_case("other-key");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, OTHER);
    assert_eq!(seen[0].body, b);
    assert_eq!(rig.upstream.hits(), 2);
}
