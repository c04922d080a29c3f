//! The front side: SSL/GSS negotiation, direct TLS, the startup packet, and the caller's login.

use crate::conn::{Conn, Tls};
use crate::frame::{Cursor, FrameError, read_startup};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;
const CANCEL_REQUEST: i32 = 80877102;

/// What a new connection turned out to be.
pub enum Opening {
    /// A session startup.
    Startup {
        /// The connection (TLS if negotiated).
        conn: Conn,
        /// Minor protocol version asked for.
        minor: u16,
        /// Startup parameters (`user`, `database`, `options`, ...).
        params: BTreeMap<String, String>,
    },
    /// A cancel request for `(pid, key)`, and the connection it came on (to close cleanly).
    Cancel(i32, i32, Conn),
}

/// Why the opening failed.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    /// Framing or I/O.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// TLS handshake.
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    /// Something that is not a Postgres startup.
    #[error("{0}")]
    Protocol(String),
}

/// Reads the opening of a connection: SSL/GSS negotiation (or PG17 direct TLS), then the
/// startup packet or a cancel request.
pub async fn open(tcp: TcpStream, tls: Option<&Arc<rustls::ServerConfig>>) -> Result<Opening, FrontError> {
    // PG17 `sslnegotiation=direct`: the client starts with a TLS ClientHello.
    let mut first = [0u8; 1];
    let n = tcp.peek(&mut first).await.map_err(FrameError::Io)?;
    if n == 0 {
        return Err(FrameError::Closed.into());
    }
    let mut conn = if first[0] == 0x16 {
        let Some(cfg) = tls else {
            return Err(FrontError::Protocol("direct TLS requested but TLS is not configured".into()));
        };
        let s = tokio_rustls::TlsAcceptor::from(cfg.clone()).accept(tcp).await.map_err(FrontError::Tls)?;
        Conn::Tls(Tls::Server(Box::new(s)))
    } else {
        Conn::Plain(tcp)
    };
    loop {
        let body = read_startup(&mut conn).await?;
        match decode_startup(&body)? {
            Packet::Ssl => match (conn, tls) {
                (Conn::Plain(mut tcp), Some(cfg)) => {
                    tcp.write_all(b"S").await.map_err(FrameError::Io)?;
                    let s = tokio_rustls::TlsAcceptor::from(cfg.clone()).accept(tcp).await.map_err(FrontError::Tls)?;
                    conn = Conn::Tls(Tls::Server(Box::new(s)));
                }
                (mut other, _) => {
                    other.write_all(b"N").await.map_err(FrameError::Io)?;
                    conn = other;
                }
            },
            // hoop does not do GSSAPI encryption; `N` makes clients fall back cleanly.
            Packet::Gss => conn.write_all(b"N").await.map_err(FrameError::Io)?,
            Packet::Cancel(pid, key) => return Ok(Opening::Cancel(pid, key, conn)),
            Packet::Startup { minor, params } => return Ok(Opening::Startup { conn, minor, params }),
        }
    }
}

/// One packet of a connection's opening, decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet {
    /// SSLRequest.
    Ssl,
    /// GSSENCRequest.
    Gss,
    /// CancelRequest for a backend's `(pid, key)`.
    Cancel(i32, i32),
    /// StartupMessage: protocol minor version and parameters.
    Startup {
        /// Minor protocol version (3.x).
        minor: u16,
        /// Parameters, by name.
        params: BTreeMap<String, String>,
    },
}

/// Decodes the body of a startup-phase packet (after its length).
pub fn decode_startup(body: &[u8]) -> Result<Packet, FrontError> {
    let mut c = Cursor::new(body);
    let code = c.i32().ok_or_else(|| FrontError::Protocol("short startup packet".into()))?;
    match code {
        SSL_REQUEST => Ok(Packet::Ssl),
        GSSENC_REQUEST => Ok(Packet::Gss),
        CANCEL_REQUEST => {
            let pid = c.i32().ok_or_else(|| FrontError::Protocol("short cancel request".into()))?;
            let key = c.i32().ok_or_else(|| FrontError::Protocol("short cancel request".into()))?;
            Ok(Packet::Cancel(pid, key))
        }
        v if v >> 16 == 3 => {
            let mut params = BTreeMap::new();
            while let Some(k) = c.cstr() {
                if k.is_empty() {
                    break;
                }
                let v = c.cstr().ok_or_else(|| FrontError::Protocol("startup parameter without value".into()))?;
                params.insert(k, v);
            }
            Ok(Packet::Startup { minor: (v & 0xffff) as u16, params })
        }
        other => Err(FrontError::Protocol(format!("unsupported protocol or request code {other}"))),
    }
}
