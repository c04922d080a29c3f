//! Response bodies: whole, or streamed from a channel that a relay task fills (watch, logs,
//! passthrough), so no body is held whole unless it must be masked as one document.

use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame};

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
pub fn channel(mut rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let frames = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))));
    http_body_util::StreamBody::new(frames).boxed()
}
