//! Response bodies: whole, or streamed from a channel (watch, logs).

use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame};

/// Any response body of this server.
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// A whole body.
pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into()).boxed()
}

/// A body streamed from `rx` until the sender is dropped.
pub(crate) fn channel(mut rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let frames = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))));
    http_body_util::StreamBody::new(frames).boxed()
}
