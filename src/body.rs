//! The body type of every response hookwall sends (its own answers and the upstream's,
//! streamed back), and the error type bodies carry.

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

/// Errors a body may yield, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response hookwall sends.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body of `bytes`, whole.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}
