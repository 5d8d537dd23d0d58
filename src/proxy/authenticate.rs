//! The `authenticate` phase: the route's scheme judges the request on the exact bytes
//! received, and the verdict becomes a [`Mark`]: how the request goes on (forwarded as
//! verified, as a setup handshake, unverified in shadow mode) or hookwall's own answer.

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::Rejection;
use crate::body::{full, ResponseBody};
use crate::config::Route;
use crate::scheme::handshake::Handshake;
use crate::scheme::{Signed, Unverified, Verified};

/// What authentication made of a request.
#[derive(Debug)]
pub enum Mark {
    /// The signature holds: forwarded, marked `X-Hookwall-Verified`.
    Verified(Verified),
    /// An unsigned setup handshake the route opted in to forward, marked
    /// `X-Hookwall-Handshake`.
    Handshake,
    /// Did not verify, forwarded because the route is in shadow mode: no verified header.
    Shadow(Unverified),
    /// A setup handshake hookwall answers itself; nothing is forwarded. `verified` where the
    /// handshake was signed and its signature held.
    Answer {
        answer: Answer,
        verified: Option<Verified>,
    },
}

/// hookwall's own answer to a setup handshake.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
}

impl Answer {
    /// The response the sender gets.
    pub fn response(self) -> Response<ResponseBody> {
        let mut response = Response::new(full(self.body));
        *response.status_mut() = self.status;
        if let Some(ct) = self.content_type {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        response
    }
}

impl Mark {
    /// The verdict, where the signature held.
    pub fn verified(&self) -> Option<&Verified> {
        match self {
            Mark::Verified(v) => Some(v),
            Mark::Answer { verified, .. } => verified.as_ref(),
            Mark::Handshake | Mark::Shadow(_) => None,
        }
    }
}

/// Judges `signed` by `route`'s scheme at `now`: an unsigned handshake first, then the
/// signature, then a signed handshake.
///
/// # Errors
/// [`Rejection::Unverified`] on an enforcing route, [`Rejection::HandshakeRefused`] for a
/// handshake that does not hold.
pub fn authenticate(
    route: &Route,
    signed: &Signed<'_>,
    now: SystemTime,
) -> Result<Mark, Rejection> {
    if let Some(handshake) = route.scheme.before_verify(signed) {
        return handshake_mark(handshake, None);
    }
    match route.scheme.verify(signed, now) {
        Ok(verified) => match route.scheme.after_verify(signed, &verified) {
            Some(handshake) => handshake_mark(handshake, Some(verified)),
            None => Ok(Mark::Verified(verified)),
        },
        // Shadow mode: the verdict is logged and counted, the request goes on.
        Err(why) if !route.enforce => Ok(Mark::Shadow(why)),
        Err(why) => Err(Rejection::Unverified(why)),
    }
}

/// The mark of a handshake; `verified` where it came after a held signature.
fn handshake_mark(handshake: Handshake, verified: Option<Verified>) -> Result<Mark, Rejection> {
    match (handshake, verified) {
        (
            Handshake::Answer {
                status,
                content_type,
                body,
            },
            verified,
        ) => Ok(Mark::Answer {
            answer: Answer {
                status,
                content_type,
                body,
            },
            verified,
        }),
        (Handshake::Forward, None) => Ok(Mark::Handshake),
        // No scheme forwards a handshake after verifying it; should one, the safe answer is
        // a refusal rather than a verified mark on a handshake.
        (Handshake::Forward, Some(_)) | (Handshake::Refuse, _) => Err(Rejection::HandshakeRefused),
    }
}
