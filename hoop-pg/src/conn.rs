//! A connection that is plain TCP or TLS, split into read and write halves without a lock
//! in the plain case (the benchmarked path).

use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A TLS stream, server or client side.
pub enum Tls {
    /// hoop terminated the client's TLS.
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// hoop's TLS to the upstream.
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Either side's connection.
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Tls),
}

/// The read half of a [`Conn`].
pub enum ConnRead {
    /// Plain.
    Plain(OwnedReadHalf),
    /// TLS.
    Tls(ReadHalf<Tls>),
}

/// The write half of a [`Conn`].
pub enum ConnWrite {
    /// Plain.
    Plain(OwnedWriteHalf),
    /// TLS.
    Tls(WriteHalf<Tls>),
}

impl Conn {
    /// Splits into halves that can live in different tasks.
    pub fn into_split(self) -> (ConnRead, ConnWrite) {
        match self {
            Conn::Plain(s) => {
                let (r, w) = s.into_split();
                (ConnRead::Plain(r), ConnWrite::Plain(w))
            }
            Conn::Tls(t) => {
                let (r, w) = tokio::io::split(t);
                (ConnRead::Tls(r), ConnWrite::Tls(w))
            }
        }
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }
}

macro_rules! delegate_read {
    ($t:ty { $($v:path),* }) => {
        impl AsyncRead for $t {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
                match self.get_mut() { $($v(s) => Pin::new(s).poll_read(cx, buf)),* }
            }
        }
    };
}

macro_rules! delegate_write {
    ($t:ty { $($v:path),* }) => {
        impl AsyncWrite for $t {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
                match self.get_mut() { $($v(s) => Pin::new(s).poll_write(cx, buf)),* }
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
                match self.get_mut() { $($v(s) => Pin::new(s).poll_flush(cx)),* }
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
                match self.get_mut() { $($v(s) => Pin::new(s).poll_shutdown(cx)),* }
            }
        }
    };
}

delegate_read!(Tls { Tls::Server, Tls::Client });
delegate_write!(Tls { Tls::Server, Tls::Client });
delegate_read!(Conn { Conn::Plain, Conn::Tls });
delegate_write!(Conn { Conn::Plain, Conn::Tls });
delegate_read!(ConnRead { ConnRead::Plain, ConnRead::Tls });
delegate_write!(ConnWrite { ConnWrite::Plain, ConnWrite::Tls });

/// Writes all of `buf` to `w` and flushes it. Over TLS a write that meets a full socket leaves
/// its last records in rustls's buffer, to go out with the next write or a flush: without the
/// flush, the end of a large result (its last rows and ReadyForQuery) waited inside hoop until
/// the client sent something (found by red-team round 13b).
pub async fn write_flushed<W: AsyncWrite + Unpin + ?Sized>(w: &mut W, buf: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    w.write_all(buf).await?;
    w.flush().await
}

impl ConnWrite {
    /// [`write_flushed`] to this half.
    pub async fn write_flushed(&mut self, buf: &[u8]) -> std::io::Result<()> {
        write_flushed(self, buf).await
    }
}
