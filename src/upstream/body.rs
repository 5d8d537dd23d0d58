//! The upstream's response body as hookwall streams it on: the app's bytes, unchanged, and
//! the connection they came on, which goes back to its pool once the body has been read to
//! its end, or is closed if the body is dropped before.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use super::pool::{Conn, Pool};

/// A response body that returns its connection to the pool when done.
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    lease: Option<(Conn, Arc<Pool>)>,
    /// Read to its end (a chunked body says so only by ending).
    ended: bool,
}

impl UpstreamBody {
    pub(super) fn new(inner: Incoming, conn: Conn, pool: Arc<Pool>) -> UpstreamBody {
        UpstreamBody {
            inner,
            lease: Some((conn, pool)),
            ended: false,
        }
    }

    /// Gives the connection back if the body has been read to its end.
    fn settle(&mut self) {
        if self.ended || self.inner.is_end_stream() {
            if let Some((conn, pool)) = self.lease.take() {
                pool.put_back(conn);
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match polled {
            Poll::Ready(None) => {
                this.ended = true;
                this.settle();
            }
            Poll::Ready(Some(Ok(_))) => this.settle(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // Read to its end: the connection serves the next request. Otherwise dropping the
        // lease closes it.
        self.settle();
    }
}
