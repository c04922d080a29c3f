//! Framing: splitting a byte stream into Postgres messages, with size limits.
//!
//! Regular messages are a type byte and a big-endian i32 length that counts itself; the
//! startup phase has no type byte. Every length is checked before anything is buffered, so a
//! hostile length costs the sender its connection, not the gateway its memory.

use bytes::{Buf, Bytes, BytesMut};
use hoop_core::buffers::{BufferShare, Reservation, SMALL};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a stream could not be framed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection.
    #[error("connection closed")]
    Closed,
    /// A length field is impossible (below its own size) or above the limit.
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A large message does not fit in the gateway's memory for large messages now.
    #[error(transparent)]
    Busy(#[from] hoop_core::buffers::BufferError),
    /// A length field is smaller than the length field itself.
    #[error("malformed message length {0}")]
    BadLength(i32),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Longest startup-phase packet (startup, SSL/GSS request, cancel), as Postgres itself allows.
pub const MAX_STARTUP: usize = 10_000;

/// One regular message: type byte and body (without the length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The type byte (`Q`, `P`, `D`, ...).
    pub tag: u8,
    /// The body.
    pub body: Bytes,
}

impl Frame {
    /// Appends the wire form to `out`.
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(5 + self.body.len());
        out.extend_from_slice(&[self.tag]);
        out.extend_from_slice(&((self.body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&self.body);
    }
}

/// Reads frames from one side of a connection through a reusable buffer.
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    limit: usize,
    /// Where a message over [`SMALL`] takes its room from (none: not bounded beyond `limit`).
    share: Option<BufferShare>,
    /// The room taken for the large message being read, or last returned.
    held: Option<Reservation>,
    /// Whether `held` belongs to a message already returned (given back at the next read).
    returned: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader enforcing `limit` bytes per message.
    pub fn new(io: R, limit: usize) -> Self {
        FrameReader::with_buffer(io, limit, BytesMut::with_capacity(16 * 1024))
    }

    /// A reader that continues with bytes already read.
    pub fn with_buffer(io: R, limit: usize, buf: BytesMut) -> Self {
        FrameReader { io, buf, limit, share: None, held: None, returned: false }
    }

    /// Takes the room for each message over [`SMALL`] from `share` before buffering it; one that
    /// does not fit fails with [`FrameError::Busy`] (its bytes can be dropped with
    /// [`Self::skip_oversized`]).
    pub fn with_share(mut self, share: BufferShare) -> Self {
        self.share = Some(share);
        self
    }

    /// The next complete frame already buffered, without reading.
    pub fn try_next(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.returned {
            // The caller is done with the large message it was given: its room goes back.
            (self.held, self.returned) = (None, false);
        }
        let Some(&[tag, a, b, c, d]) = self.buf.get(..5) else { return Ok(None) };
        let len = i32::from_be_bytes([a, b, c, d]);
        if len < 4 {
            return Err(FrameError::BadLength(len));
        }
        let len = len as usize;
        if len > self.limit {
            return Err(FrameError::TooLarge { len, limit: self.limit });
        }
        if self.buf.len() < 1 + len {
            if len > SMALL && self.held.is_none()
                && let Some(share) = &self.share
            {
                self.held = Some(share.reserve(len)?);
            }
            // Grown with what arrives (at most doubling), never to the announced length up
            // front: a peer announcing a large message holds only what it has sent.
            let missing = 1 + len - self.buf.len();
            self.buf.reserve(missing.min(self.buf.len().max(64 * 1024)));
            return Ok(None);
        }
        self.buf.advance(5);
        let body = self.buf.split_to(len - 4).freeze();
        if len > SMALL {
            // What follows moves to a buffer of its own, so that the large one is freed when the
            // caller drops this message rather than kept as this reader's capacity.
            let rest = std::mem::take(&mut self.buf);
            self.buf = BytesMut::with_capacity((16 * 1024).max(rest.len()));
            self.buf.extend_from_slice(&rest);
            self.returned = self.held.is_some();
        }
        Ok(Some(Frame { tag, body }))
    }

    /// Drops the message at the front (one whose announced length [`Self::try_next`] refused as
    /// over the limit, or as not fitting in the memory for large messages), reading its bytes as they arrive and keeping none; returns its type byte.
    pub async fn skip_oversized(&mut self) -> Result<u8, FrameError> {
        let Some(&[tag, a, b, c, d]) = self.buf.get(..5) else { return Err(FrameError::BadLength(0)) };
        let len = i32::from_be_bytes([a, b, c, d]);
        let mut left = 1 + usize::try_from(len).map_err(|_| FrameError::BadLength(len))?;
        loop {
            let n = left.min(self.buf.len());
            self.buf.advance(n);
            left -= n;
            if left == 0 {
                return Ok(tag);
            }
            self.fill().await?;
        }
    }

    /// Reads more bytes; fails with `Closed` at end of stream.
    pub async fn fill(&mut self) -> Result<(), FrameError> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        if self.io.read_buf(&mut self.buf).await? == 0 {
            return Err(FrameError::Closed);
        }
        Ok(())
    }

    /// Reads (and keeps) what the peer sends until it closes the connection, and returns why it
    /// stopped; once `max_buffered` bytes wait unread it stops reading and waits forever.
    /// Raced against a wait (a review) so that a peer that goes away is noticed at once.
    pub async fn closed(&mut self, max_buffered: usize) -> FrameError {
        loop {
            if self.buf.len() >= max_buffered {
                return std::future::pending().await;
            }
            if let Err(e) = self.fill().await {
                return e;
            }
        }
    }

    /// The next frame, reading as needed.
    pub async fn next(&mut self) -> Result<Frame, FrameError> {
        loop {
            if let Some(f) = self.try_next()? {
                return Ok(f);
            }
            self.fill().await?;
        }
    }

    /// The underlying stream and any bytes read but not yet framed.
    pub fn into_parts(self) -> (R, BytesMut) {
        (self.io, self.buf)
    }

    /// The underlying stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }
}

/// Reads one startup-phase packet (length-prefixed, no type byte), at most [`MAX_STARTUP`] bytes.
pub async fn read_startup<R: AsyncRead + Unpin>(io: &mut R) -> Result<Bytes, FrameError> {
    let mut len = [0u8; 4];
    read_exact(io, &mut len).await?;
    let len = i32::from_be_bytes(len);
    if len < 8 {
        return Err(FrameError::BadLength(len));
    }
    let len = len as usize;
    if len > MAX_STARTUP {
        return Err(FrameError::TooLarge { len, limit: MAX_STARTUP });
    }
    let mut body = vec![0u8; len - 4];
    read_exact(io, &mut body).await?;
    Ok(Bytes::from(body))
}

async fn read_exact<R: AsyncRead + Unpin>(io: &mut R, buf: &mut [u8]) -> Result<(), FrameError> {
    match io.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Closed),
        Err(e) => Err(FrameError::Io(e)),
    }
}

/// A bounds-checked reader over a message body: every accessor returns `None` past the end.
pub struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor over `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Cursor { b }
    }

    /// Bytes left.
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        let (&x, rest) = self.b.split_first()?;
        self.b = rest;
        Some(x)
    }

    /// A big-endian i16.
    pub fn i16(&mut self) -> Option<i16> {
        let v = self.take(2)?;
        Some(i16::from_be_bytes([*v.first()?, *v.get(1)?]))
    }

    /// A big-endian i32.
    pub fn i32(&mut self) -> Option<i32> {
        let v = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(v);
        Some(i32::from_be_bytes(a))
    }

    /// `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Some(a)
    }

    /// A NUL-terminated string that must be valid UTF-8 (statement text hoop classifies).
    pub fn cstr_utf8(&mut self) -> Option<String> {
        let end = self.b.iter().position(|c| *c == 0)?;
        let s = String::from_utf8(self.b.get(..end)?.to_vec()).ok()?;
        self.b = self.b.get(end + 1..)?;
        Some(s)
    }

    /// A NUL-terminated string; invalid UTF-8 is replaced (for text hoop only displays).
    pub fn cstr(&mut self) -> Option<String> {
        let end = self.b.iter().position(|c| *c == 0)?;
        let s = String::from_utf8_lossy(self.b.get(..end)?).into_owned();
        self.b = self.b.get(end + 1..)?;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_and_limits() {
        let mut data = BytesMut::new();
        Frame { tag: b'Q', body: Bytes::from_static(b"select 1\0") }.write_to(&mut data);
        data.extend_from_slice(&[b'Q', 0, 0, 0x10, 0]); // 4096 bytes announced, limit 100
        let mut r = FrameReader::new(&data[..], 100);
        assert_eq!(r.next().await.unwrap().body, Bytes::from_static(b"select 1\0"));
        assert!(matches!(r.next().await, Err(FrameError::TooLarge { len: 4096, .. })));
        let mut big = BytesMut::new();
        big.extend_from_slice(&[b'D', 0, 0, 0x10, 4]);
        big.extend_from_slice(&[7u8; 4096]);
        Frame { tag: b'Z', body: Bytes::from_static(b"I") }.write_to(&mut big);
        let mut r = FrameReader::new(&big[..], 100);
        assert!(matches!(r.next().await, Err(FrameError::TooLarge { .. })));
        assert_eq!(r.skip_oversized().await.unwrap(), b'D', "skipped without being held");
        assert_eq!(r.next().await.unwrap().tag, b'Z', "the stream goes on after it");
        let bad = [b'Q', 0, 0, 0, 1];
        assert!(matches!(FrameReader::new(&bad[..], 100).next().await, Err(FrameError::BadLength(1))));
        let huge = [0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(read_startup(&mut &huge[..]).await, Err(FrameError::TooLarge { .. })));
        let mut c = Cursor::new(b"ab\0\x00\x01");
        assert_eq!(c.cstr().as_deref(), Some("ab"));
        assert_eq!(c.i16(), Some(1));
        assert_eq!(c.i32(), None);
    }
}
