//! The server's replies, followed in the order of the requests they answer: what `realpath
//! "."` says the login directory is, and which path each open handle stands for.
//!
//! OpenSSH's sftp-server answers every request exactly once, in the order it got them, so a
//! reply is matched to its request by position; the request id, which the client chooses and
//! may repeat, must only agree (red-team round 58: a `realpath "/tmp/x"` and a `realpath "."`
//! sent under one id made hoop read every relative path, in tickets and in the recording,
//! against `/tmp/x`, while the server read them against the real login directory).

use std::collections::{HashMap, VecDeque};

/// Requests forwarded and not yet answered, at most: OpenSSH's clients keep 64 in flight.
const MAX_IN_FLIGHT: usize = 4096;
/// Open handles followed, at most (sftp-server itself allows 512).
const MAX_HANDLES: usize = 1024;
/// Bytes of a reply kept to read it: its kind, id and first string (a handle, a path).
const KEPT: usize = 9 + 4 + 4096;

const FXP_INIT: u8 = 1;
const FXP_HANDLE: u8 = 102;

/// What a forwarded request expects of its reply.
#[derive(Debug)]
enum Asked {
    /// `SSH_FXP_INIT`: its reply (VERSION) carries a version, not an id.
    Init,
    /// The first `realpath "."`: the login directory.
    Home(u32),
    /// An open or opendir of this path, let through as this action: a handle that stands for it.
    Open(u32, String, u64),
    Other(u32),
}

/// Why the replies can no longer be followed: the channel ends rather than guess.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RepliesError {
    /// More requests in flight than any client keeps.
    #[error("more than {MAX_IN_FLIGHT} sftp requests in flight")]
    TooMany,
    /// A reply that answers no request, or another request than the one it follows.
    #[error("an sftp reply out of order (id {0})")]
    OutOfOrder(u32),
}

/// Follows the server's replies to the requests hoop forwarded.
#[derive(Debug, Default)]
pub struct Replies {
    asked: VecDeque<Asked>,
    home_asked: bool,
    /// The reply being read: the start of it, and how many of its bytes are still to come.
    head: Vec<u8>,
    remaining: usize,
    /// Each open handle: the path it was opened for, and the action that let it open for
    /// writing (0 for one opened otherwise).
    handles: HashMap<Vec<u8>, (String, u64)>,
}

impl Replies {
    /// Notes a request forwarded to the server (`packet`, length word included); `opened` is
    /// the absolute path of an open or opendir, with the action that let it open.
    pub fn forwarded(&mut self, packet: &[u8], opened: Option<(&str, u64)>) -> Result<(), RepliesError> {
        if self.asked.len() >= MAX_IN_FLIGHT {
            return Err(RepliesError::TooMany);
        }
        let kind = packet.get(4).copied().unwrap_or_default();
        let id = id_of(packet);
        let asked = match (kind, opened) {
            (FXP_INIT, _) => Asked::Init,
            (_, Some((path, action))) => Asked::Open(id, path.to_string(), action),
            (super::FXP_REALPATH, _) if !self.home_asked && first_string(packet).as_deref() == Some(&b"."[..]) => {
                self.home_asked = true;
                Asked::Home(id)
            }
            (super::FXP_CLOSE, _) => {
                // Forgotten when asked: a request on it after this is refused, which only refuses more.
                if let Some(h) = first_string(packet) {
                    self.handles.remove(&h);
                }
                Asked::Other(id)
            }
            _ => Asked::Other(id),
        };
        self.asked.push_back(asked);
        Ok(())
    }

    /// Reads server bytes as they go to the client; the login directory once its reply came.
    pub fn server_bytes(&mut self, mut data: &[u8]) -> Result<Option<String>, RepliesError> {
        let mut home = None;
        while !data.is_empty() {
            if self.head.len() < 4 {
                let n = (4 - self.head.len()).min(data.len());
                self.head.extend_from_slice(data.get(..n).unwrap_or_default());
                data = data.get(n..).unwrap_or_default();
                if let &[a, b, c, d] = self.head.as_slice() {
                    self.remaining = u32::from_be_bytes([a, b, c, d]) as usize;
                } else {
                    continue;
                }
            }
            let n = self.remaining.min(data.len());
            let keep = KEPT.saturating_sub(self.head.len()).min(n);
            self.head.extend_from_slice(data.get(..keep).unwrap_or_default());
            self.remaining -= n;
            data = data.get(n..).unwrap_or_default();
            if self.remaining == 0 {
                let reply = std::mem::take(&mut self.head);
                if let Some(h) = self.answered(&reply)? {
                    home = Some(h);
                }
            }
        }
        Ok(home)
    }

    /// The path an open handle stands for, and the action that let it open for writing (0 if
    /// it was opened otherwise).
    pub fn handle_path(&self, handle: &[u8]) -> Option<(&str, u64)> {
        self.handles.get(handle).map(|(p, a)| (p.as_str(), *a))
    }

    fn answered(&mut self, reply: &[u8]) -> Result<Option<String>, RepliesError> {
        let kind = reply.get(4).copied().unwrap_or_default();
        let id = id_of(reply);
        let asked = self.asked.pop_front().ok_or(RepliesError::OutOfOrder(id))?;
        match asked {
            Asked::Init => Ok(None),
            Asked::Home(want) | Asked::Other(want) | Asked::Open(want, _, _) if want != id => Err(RepliesError::OutOfOrder(id)),
            Asked::Home(_) if kind == super::FXP_NAME => {
                // NAME: count, then the first name.
                let name = reply.get(13..).and_then(string_at).map(|n| String::from_utf8_lossy(&n).into_owned());
                Ok(name.filter(|h| h.starts_with('/')))
            }
            Asked::Open(_, path, action) if kind == FXP_HANDLE => {
                if let Some(h) = first_string(reply)
                    && self.handles.len() < MAX_HANDLES
                {
                    self.handles.insert(h, (path, action));
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// The id of a packet (length word included): the word after its kind.
fn id_of(packet: &[u8]) -> u32 {
    packet.get(5..9).and_then(|b| <[u8; 4]>::try_from(b).ok()).map_or(0, u32::from_be_bytes)
}

/// The first string after a packet's id.
fn first_string(packet: &[u8]) -> Option<Vec<u8>> {
    string_at(packet.get(9..)?)
}

fn string_at(b: &[u8]) -> Option<Vec<u8>> {
    let n = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    b.get(4..4 + n).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{packet, s};
    use super::*;

    fn name(id: u32, path: &str) -> Vec<u8> {
        packet(super::super::FXP_NAME, id, &[&1u32.to_be_bytes(), &s(path), &s("x"), &0u32.to_be_bytes()])
    }

    #[test]
    fn the_login_directory_is_the_answer_to_realpath_dot_by_position() {
        let mut r = Replies::default();
        r.forwarded(&packet(FXP_INIT, 3, &[]), None).unwrap();
        // Round 58: another realpath under the same id first.
        r.forwarded(&packet(super::super::FXP_REALPATH, 7, &[&s("/tmp/x")]), None).unwrap();
        r.forwarded(&packet(super::super::FXP_REALPATH, 7, &[&s(".")]), None).unwrap();
        let version = packet(2, 3, &[]);
        assert_eq!(r.server_bytes(&version), Ok(None));
        assert_eq!(r.server_bytes(&name(7, "/tmp/x")), Ok(None));
        let home = name(7, "/home/alice");
        assert_eq!(r.server_bytes(&home[..6]), Ok(None));
        assert_eq!(r.server_bytes(&home[6..]), Ok(Some("/home/alice".into())));
    }

    #[test]
    fn handles_stand_for_the_paths_opened_and_replies_must_follow_requests() {
        let mut r = Replies::default();
        r.forwarded(&packet(3, 1, &[&s("app/x")]), Some(("/home/u/app/x", 7))).unwrap();
        r.forwarded(&packet(5, 2, &[&s("h")]), None).unwrap();
        // A data reply larger than what is kept, then the handle.
        let data = packet(103, 9, &[&s(&"d".repeat(20_000))]);
        let handle = packet(FXP_HANDLE, 1, &[&s("\0\0\0\x01")]);
        assert_eq!(r.server_bytes(&handle), Ok(None));
        assert_eq!(r.handle_path(b"\0\0\0\x01"), Some(("/home/u/app/x", 7)));
        assert_eq!(r.server_bytes(&data), Err(RepliesError::OutOfOrder(9)));
        let mut r = Replies::default();
        assert!(r.server_bytes(&packet(101, 1, &[])).is_err(), "a reply to nothing");
    }
}
