//! The seal index: one signed line per recording the gateway sealed, each chained to the one
//! before, in `sealed.log` beside the recordings.
//!
//! A recording's own seal proves it was not cut, but only while the seal is there: cut back to
//! an earlier checkpoint, seal and all, a recording looks like one a crash left open, and the
//! next start would close it as such (red-team identity round 109). The index says which
//! recordings were sealed, where and with what hash, so a start leaves such a recording open
//! and verification reports it cut; a recording deleted whole is reported missing rather than
//! unknown.
//!
//! The index's own end is anchored in the key directory (`keys/seal-index.head`: how many
//! entries and the last one's hash), which those who can reach the recordings need not reach:
//! an index cut, edited, replaced, deleted or made a link no longer reaches its anchor (red-team
//! identity round 110 dropped the entry of the recording it then cut). Such an index is not
//! trusted: a start closes no recording as a crash's, and verification fails every recording
//! without its own seal, since whether it had one can no longer be told.

use super::format::Hash;
use super::{RecordError, signed_message};
use crate::keys::{SigningKey, VerifyingKey};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The index's file name in the recordings directory (not `*.jsonl`: not a recording).
pub(crate) const FILE: &str = "sealed.log";
/// `open(2)`'s flag that refuses a link as the last component (Linux's value: hoop runs there).
const O_NOFOLLOW: i32 = 0o400_000;
/// Longest index line read (a longer one is damage, not an entry).
const MAX_LINE: usize = 4096;

/// One sealed recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Position in the index, from 1.
    pub n: u64,
    /// The recording's session id.
    pub session: String,
    /// The sequence number of its seal.
    pub seq: u64,
    /// The hash of its seal record.
    pub hash: String,
    /// The hash of the index entry before this one.
    pub prev: String,
    /// Key id of the seal key.
    pub kid: String,
    /// Signature over all of the above.
    pub sig: String,
}

impl Entry {
    fn message(&self) -> Vec<u8> {
        let mut m = signed_message("sealed", &self.session, self.seq, &self.hash);
        m.extend_from_slice(format!("\n{}\n{}", self.n, self.prev).as_bytes());
        m
    }

    /// This entry's hash, which the next one names.
    fn digest(&self) -> Hash {
        Hash::of(&self.message())
    }
}

/// Where the index stands: entries so far and the last one's hash, and the file to append to.
struct Head {
    count: u64,
    last: Hash,
    file: Option<File>,
}

/// The anchor's content: the index's entries and its last entry's hash, as last written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Anchor {
    count: u64,
    head: String,
}

/// The index of one recordings directory.
pub(crate) struct SealIndex {
    path: PathBuf,
    anchor: PathBuf,
    key: Arc<SigningKey>,
    keys: Vec<VerifyingKey>,
    head: Mutex<Head>,
    /// Why the index is not trusted, when it is not (it does not reach its anchor).
    distrust: Option<String>,
}

/// What the index says of one recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// The sequence number of its seal.
    pub seq: u64,
    /// The hash of its seal record.
    pub hash: String,
}

impl SealIndex {
    /// Opens the index of `dir`, anchored at `anchor`, and reads where it stands. One that does
    /// not reach its anchor is reported in the log and not trusted (nor added to); a last line
    /// cut short past the anchor (a power cut as it was written) is cut off.
    pub fn open(dir: &Path, anchor: PathBuf, key: Arc<SigningKey>, keys: Vec<VerifyingKey>) -> Result<Self, RecordError> {
        let path = dir.join(FILE);
        let mut index = SealIndex { path, anchor, key, keys, head: Mutex::new(Head { count: 0, last: Hash::ZERO, file: None }), distrust: None };
        let expected: Option<Anchor> = match std::fs::read(&index.anchor) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| RecordError::Io(e.into()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let (mut count, mut last, mut good_bytes) = (0, Hash::ZERO, 0u64);
        let mut reached = expected.as_ref().is_none_or(|a| a.count == 0 && a.head == Hash::ZERO.as_str());
        let broken = match index.scan(|e, end| {
            (count, last, good_bytes) = (e.n, e.digest(), end);
            reached |= expected.as_ref().is_some_and(|a| a.count == e.n && a.head == last.as_str());
            false
        }) {
            Ok(b) => b,
            Err(e) => Some((0, if matches!(&e, RecordError::Io(io) if io.raw_os_error() == Some(40)) { "a link, not a file" } else { "unreadable" })),
        };
        if !reached {
            let why = match (&expected, broken) {
                (Some(a), Some((line, why))) => format!("{why} at line {line}, before the {} entries its anchor counts", a.count),
                (Some(a), None) => format!("{count} entries where its anchor counts {}, or another last entry", a.count),
                (None, _) => String::new(),
            };
            tracing::error!(index = %index.path.display(), anchor = %index.anchor.display(), %why, "the seal index does not reach its anchor: it was cut, edited, replaced or deleted. No recording is closed as a crash's, and those without their own seal fail verification, until an operator sets the index aside and removes the anchor");
            index.distrust = Some(format!("the seal index does not reach its anchor ({why}): whether this recording was sealed can no longer be told"));
        } else if let Some((line, why)) = broken {
            // Past the anchor: the entry being written when the power went. Cut off, so that
            // the next one follows the last good one.
            tracing::warn!(index = %index.path.display(), line, why, "the seal index's last line was cut short: cut off");
            OpenOptions::new().write(true).open(&index.path)?.set_len(good_bytes)?;
        }
        tracing::info!(entries = count, head = last.as_str(), "seal index");
        *index.head.lock().unwrap_or_else(|p| p.into_inner()) = Head { count, last, file: None };
        Ok(index)
    }

    /// Why the index is not trusted, if it is not.
    pub fn distrust(&self) -> Option<&str> {
        self.distrust.as_deref()
    }

    /// Adds `session`, sealed at `seq` with seal hash `hash`.
    pub fn add(&self, session: &str, seq: u64, hash: &str) -> Result<(), RecordError> {
        if let Some(why) = &self.distrust {
            return Err(RecordError::Io(std::io::Error::other(why.clone())));
        }
        let mut head = self.head.lock().unwrap_or_else(|p| p.into_inner());
        let mut e = Entry {
            n: head.count + 1,
            session: session.to_string(),
            seq,
            hash: hash.to_string(),
            prev: head.last.as_str().to_string(),
            kid: self.key.kid.clone(),
            sig: String::new(),
        };
        e.sig = base64::engine::general_purpose::STANDARD.encode(self.key.sign(&e.message()));
        let mut line = serde_json::to_vec(&e).map_err(|e| RecordError::Io(e.into()))?;
        line.push(b'\n');
        let file = match &mut head.file {
            Some(f) => f,
            None => head.file.insert(OpenOptions::new().create(true).append(true).custom_flags(O_NOFOLLOW).open(&self.path)?),
        };
        file.write_all(&line)?;
        // On disk before the anchor moves past it: an anchor ahead of its index would read as
        // an index cut.
        file.sync_data()?;
        (head.count, head.last) = (e.n, e.digest());
        let anchor = serde_json::to_vec(&Anchor { count: head.count, head: head.last.as_str().to_string() }).map_err(|e| RecordError::Io(e.into()))?;
        let tmp = self.anchor.with_extension("new");
        std::fs::write(&tmp, anchor)?;
        std::fs::rename(&tmp, &self.anchor)?;
        Ok(())
    }

    /// Where the index says `session` was sealed, if it was.
    pub fn sealed(&self, session: &str) -> Result<Option<Sealed>, RecordError> {
        let mut found = None;
        self.scan(|e, _| {
            if e.session == session {
                found = Some(Sealed { seq: e.seq, hash: e.hash.clone() });
                return true;
            }
            false
        })?;
        Ok(found)
    }

    /// The sessions the index names, in its order (as far as it reads).
    pub fn sessions(&self) -> Result<Vec<String>, RecordError> {
        let mut out = Vec::new();
        self.scan(|e, _| {
            out.push(e.session.clone());
            false
        })?;
        Ok(out)
    }

    /// Reads the entries in order, each with the offset its line ends at, while `f` returns
    /// false; returns where the chain or a signature first fails, if it does (reading stops
    /// there). The index is never read through a link.
    fn scan(&self, mut f: impl FnMut(&Entry, u64) -> bool) -> Result<Option<(u64, &'static str)>, RecordError> {
        let file = match OpenOptions::new().read(true).custom_flags(O_NOFOLLOW).open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut reader = BufReader::new(file);
        let mut prev = Hash::ZERO;
        let mut buf = Vec::new();
        let (mut n, mut end) = (0u64, 0u64);
        loop {
            buf.clear();
            // At most one line past the limit is read: `take` bounds a line with no newline.
            let read = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
            if read == 0 {
                return Ok(None);
            }
            end += read as u64;
            n += 1;
            let Some(line) = buf.strip_suffix(b"\n") else { return Ok(Some((n, "a line cut short or too long"))) };
            let Ok(e) = serde_json::from_slice::<Entry>(line) else { return Ok(Some((n, "an unreadable line"))) };
            if e.n != n || e.prev != prev.as_str() {
                return Ok(Some((n, "an entry missing, added or moved")));
            }
            let sig = base64::engine::general_purpose::STANDARD.decode(&e.sig).unwrap_or_default();
            if !self.keys.iter().any(|k| k.kid == e.kid && k.verify(&e.message(), &sig)) {
                return Ok(Some((n, "a signature that does not verify")));
            }
            if f(&e, end) {
                return Ok(None);
            }
            prev = e.digest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(dir: &Path) -> SealIndex {
        let keys = crate::keys::KeyStore::open(dir.join("keys")).unwrap();
        let key = Arc::new(keys.signing_key(crate::keys::KeyPurpose::Seal).unwrap());
        SealIndex::open(dir, dir.join("keys").join("seal-index.head"), key, keys.verifying_keys(crate::keys::KeyPurpose::Seal).unwrap()).unwrap()
    }

    #[test]
    fn sealed_recordings_are_found_and_a_removed_entry_breaks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let idx = index(dir.path());
        idx.add("a", 7, "h7").unwrap();
        idx.add("b", 9, "h9").unwrap();
        assert_eq!(idx.sealed("b").unwrap(), Some(Sealed { seq: 9, hash: "h9".into() }));
        assert_eq!(idx.sealed("c").unwrap(), None);
        // Reopened, it goes on from its head.
        let idx = index(dir.path());
        idx.add("c", 3, "h3").unwrap();
        assert_eq!(idx.scan(|_, _| false).unwrap(), None);
        assert!(index(dir.path()).distrust().is_none());
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        // The first entry taken out: the rest no longer chains.
        let rest: String = text.split_inclusive('\n').skip(1).collect();
        std::fs::write(dir.path().join(FILE), rest).unwrap();
        assert_eq!(idx.scan(|_, _| false).unwrap(), Some((1, "an entry missing, added or moved")));
        assert!(index(dir.path()).distrust().is_some());
        // The last one taken out: the chain holds, but no longer reaches its anchor.
        let cut: String = text.split_inclusive('\n').take(2).collect();
        std::fs::write(dir.path().join(FILE), &cut).unwrap();
        let idx = index(dir.path());
        assert!(idx.distrust().is_some() && idx.add("d", 1, "h1").is_err());
        // Deleted, or a link: the same.
        std::fs::remove_file(dir.path().join(FILE)).unwrap();
        assert!(index(dir.path()).distrust().is_some());
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join(FILE)).unwrap();
        std::fs::write(dir.path().join("elsewhere"), &text).unwrap();
        assert!(index(dir.path()).distrust().is_some());
        // Whole again, with a torn line after it (a power cut mid-write): trusted, the line cut.
        std::fs::remove_file(dir.path().join(FILE)).unwrap();
        std::fs::write(dir.path().join(FILE), format!("{text}{{\"n\":4,")).unwrap();
        let idx = index(dir.path());
        assert!(idx.distrust().is_none(), "{:?}", idx.distrust());
        assert_eq!(std::fs::read_to_string(dir.path().join(FILE)).unwrap(), text);
        idx.add("d", 1, "h1").unwrap();
        assert!(index(dir.path()).distrust().is_none());
    }
}
