//! Response bodies: whole, or streamed from a channel that a relay task fills (watch, logs,
//! passthrough), so no body is held whole unless it must be masked as one document.

use hoop_core::buffers::{BufferError, BufferShare, Reservation, SMALL};
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

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum Whole {
    /// Over the limit.
    TooLarge,
    /// Past [`SMALL`], and the gateway's memory for large messages has no room for it now.
    Busy(BufferError),
    /// Reading failed.
    Failed(String),
}

/// Reads `body` whole, at most `limit` bytes; past [`SMALL`] its room is taken from `share` as it
/// grows (in steps of [`SMALL`]), and held by the returned reservations while the caller keeps it.
pub(crate) async fn whole<B>(mut body: B, limit: usize, share: &BufferShare) -> Result<(Bytes, Vec<Reservation>), Whole>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut buf = bytes::BytesMut::new();
    let mut held = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Whole::Failed(e.to_string()))?;
        let Ok(data) = frame.into_data() else { continue };
        let len = buf.len().saturating_add(data.len());
        if len > limit {
            return Err(Whole::TooLarge);
        }
        // Room for everything past the first SMALL bytes, taken a step ahead of the data.
        while len > SMALL * (held.len() + 1) {
            match share.reserve(SMALL) {
                Ok(r) => held.push(r),
                Err(e) => {
                    // The rest is read and dropped (up to the limit), so that the peer gets the
                    // refusal as an answer rather than a connection closed under its upload.
                    drop((buf, held));
                    let mut seen = len;
                    while let Some(Ok(frame)) = body.frame().await {
                        seen = seen.saturating_add(frame.data_ref().map_or(0, |d| d.len()));
                        if seen > limit {
                            break;
                        }
                    }
                    return Err(Whole::Busy(e));
                }
            }
        }
        buf.extend_from_slice(&data);
    }
    Ok((buf.freeze(), held))
}
