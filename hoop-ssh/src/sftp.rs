//! Where SFTP requests are read: the paths of every open, remove, rename and mkdir, so that
//! path rules apply to every transfer (OpenSSH 9 `scp` speaks SFTP too).
//!
//! Client packets are framed and parsed; a refused request never reaches the server and the
//! client gets `SSH_FXP_STATUS` permission-denied for it, injected between whole server
//! packets. File contents are never rewritten.

use bytes::{Buf, Bytes, BytesMut};

/// Largest SFTP packet accepted from a client (OpenSSH sends at most 256 KiB of data).
pub const MAX_PACKET: usize = 1 << 20;

const FXP_OPEN: u8 = 3;
const FXP_SETSTAT: u8 = 9;
const FXP_OPENDIR: u8 = 11;
const FXP_REMOVE: u8 = 13;
const FXP_MKDIR: u8 = 14;
const FXP_RMDIR: u8 = 15;
const FXP_RENAME: u8 = 18;
const FXP_SYMLINK: u8 = 20;
const FXP_STATUS: u8 = 101;
const FX_PERMISSION_DENIED: u32 = 3;

const FXF_READ: u32 = 0x01;
const FXF_WRITE: u32 = 0x02;
const FXF_APPEND: u32 = 0x04;
const FXF_CREAT: u32 = 0x08;
const FXF_TRUNC: u32 = 0x10;

/// A request that names a path: what policy sees of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRequest {
    /// Request id, for the refusal.
    pub id: u32,
    /// The path (for rename and symlink: the source; `to` holds the other).
    pub path: String,
    /// For rename and symlink, the second path.
    pub to: String,
    /// `open`, `opendir`, `remove`, `rename`, `mkdir`, `rmdir`, `setstat`, `symlink`.
    pub operation: &'static str,
    /// `download`, `upload`, or `modify`.
    pub direction: &'static str,
}

/// Why a stream is not SFTP.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SftpError {
    /// A packet length over the limit.
    #[error("sftp packet of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

/// Splits a byte stream into whole SFTP packets (length word included).
#[derive(Default)]
pub struct Framer {
    buf: BytesMut,
}

impl Framer {
    /// Adds bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole packet, if buffered.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, SftpError> {
        let Some(&[a, b, c, d]) = self.buf.get(..4) else { return Ok(None) };
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        if len > MAX_PACKET {
            return Err(SftpError::TooLarge(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(4 + len).freeze()))
    }
}

fn string(b: &mut &[u8]) -> Option<String> {
    if b.len() < 4 {
        return None;
    }
    let n = b.get_u32() as usize;
    let s = b.get(..n)?;
    let out = String::from_utf8_lossy(s).into_owned();
    b.advance(n);
    Some(out)
}

/// The path request in `packet` (length word included), or `None` for requests without paths
/// that policy need not see (reads and writes on handles already opened, stats, init).
pub fn path_request(packet: &[u8]) -> Option<PathRequest> {
    let mut b = packet.get(4..)?;
    if b.len() < 5 {
        return None;
    }
    let kind = b.get_u8();
    let id = b.get_u32();
    let req = |operation, direction, path: String, to: String| Some(PathRequest { id, path, to, operation, direction });
    match kind {
        FXP_OPEN => {
            let path = string(&mut b)?;
            if b.len() < 4 {
                return None;
            }
            let flags = b.get_u32();
            let writes = flags & (FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC) != 0;
            let direction = if writes { "upload" } else if flags & FXF_READ != 0 { "download" } else { "modify" };
            req("open", direction, path, String::new())
        }
        FXP_OPENDIR => req("opendir", "download", string(&mut b)?, String::new()),
        FXP_REMOVE => req("remove", "modify", string(&mut b)?, String::new()),
        FXP_MKDIR => req("mkdir", "modify", string(&mut b)?, String::new()),
        FXP_RMDIR => req("rmdir", "modify", string(&mut b)?, String::new()),
        FXP_SETSTAT => req("setstat", "modify", string(&mut b)?, String::new()),
        FXP_RENAME => {
            let from = string(&mut b)?;
            req("rename", "modify", from, string(&mut b)?)
        }
        FXP_SYMLINK => {
            let a = string(&mut b)?;
            req("symlink", "modify", a, string(&mut b)?)
        }
        _ => None,
    }
}

/// An `SSH_FXP_STATUS` permission-denied reply to request `id`.
pub fn denied(id: u32, message: &str) -> Vec<u8> {
    let mut body = vec![FXP_STATUS];
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&FX_PERMISSION_DENIED.to_be_bytes());
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message.as_bytes());
    body.extend_from_slice(&0u32.to_be_bytes());
    let mut p = (body.len() as u32).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

/// Tracks packet boundaries in the server's stream, so replies can be injected between packets.
#[derive(Default)]
pub struct Boundaries {
    /// Bytes left of the current packet's body.
    remaining: usize,
    /// Bytes of a length word seen so far.
    header: Vec<u8>,
}

impl Boundaries {
    /// Accounts for `data` forwarded to the client.
    pub fn advance(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = data.get(n..).unwrap_or_default();
                continue;
            }
            let need = 4 - self.header.len();
            let n = need.min(data.len());
            self.header.extend_from_slice(data.get(..n).unwrap_or_default());
            data = data.get(n..).unwrap_or_default();
            if let &[a, b, c, d] = self.header.as_slice() {
                self.remaining = u32::from_be_bytes([a, b, c, d]) as usize;
                self.header.clear();
            }
        }
    }

    /// Whether the stream is between packets.
    pub fn at_boundary(&self) -> bool {
        self.remaining == 0 && self.header.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: u8, id: u32, fields: &[&[u8]]) -> Vec<u8> {
        let mut body = vec![kind];
        body.extend_from_slice(&id.to_be_bytes());
        for f in fields {
            body.extend_from_slice(f);
        }
        let mut p = (body.len() as u32).to_be_bytes().to_vec();
        p.extend_from_slice(&body);
        p
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = (v.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(v.as_bytes());
        b
    }

    #[test]
    fn parses_paths_and_frames() {
        let open = packet(FXP_OPEN, 7, &[&s("/etc/passwd"), &FXF_READ.to_be_bytes(), &0u32.to_be_bytes()]);
        let r = path_request(&open).unwrap();
        assert_eq!((r.id, r.path.as_str(), r.operation, r.direction), (7, "/etc/passwd", "open", "download"));
        let up = packet(FXP_OPEN, 8, &[&s("/tmp/x"), &(FXF_WRITE | FXF_CREAT).to_be_bytes(), &0u32.to_be_bytes()]);
        assert_eq!(path_request(&up).unwrap().direction, "upload");
        let mv = packet(FXP_RENAME, 9, &[&s("/a"), &s("/b")]);
        assert_eq!(path_request(&mv).unwrap().to, "/b");
        assert_eq!(path_request(&[0, 0, 0, 5, 3, 0]), None, "truncated: no panic");

        let mut f = Framer::default();
        let both = [open.clone(), mv.clone()].concat();
        f.push(&both[..10]);
        assert_eq!(f.next_packet(), Ok(None));
        f.push(&both[10..]);
        assert_eq!(f.next_packet().unwrap().unwrap().to_vec(), open);
        assert_eq!(f.next_packet().unwrap().unwrap().to_vec(), mv);
        f.push(&[0xff, 0xff, 0xff, 0xff]);
        assert!(f.next_packet().is_err());

        let mut b = Boundaries::default();
        let st = denied(1, "no");
        b.advance(&st[..3]);
        assert!(!b.at_boundary());
        b.advance(&st[3..]);
        assert!(b.at_boundary());
    }
}
