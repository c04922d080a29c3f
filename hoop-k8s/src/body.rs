//! Response bodies: whole, or streamed from a channel that a relay task fills (watch, logs,
//! passthrough), so no body is held whole unless it must be masked as one document.

use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Any body hoop sends, to clients or to the API server.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// A whole body.
pub fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into()).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// A body streamed from `rx` until the sender is dropped.
pub fn channel(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    ChannelBody(rx).boxed()
}

struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}
