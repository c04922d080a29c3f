//! The seal index: one signed line per recording the gateway sealed, each chained to the one
//! before, in `sealed.log` beside the recordings.
//!
//! A recording's own seal proves it was not cut, but only while the seal is there: cut back to
//! an earlier checkpoint, seal and all, a recording looks like one a crash left open, and the
//! next start would close it as such (red-team identity round 109). The index says which
//! recordings were sealed, where and with what hash, so a start leaves such a recording open
//! and verification reports it cut; a recording deleted whole is reported missing rather than
//! unknown. Removing an entry from the index breaks its chain; cutting the index's tail is
//! seen against the head the gateway logs when it starts.

use super::format::Hash;
use super::{RecordError, signed_message};
use crate::keys::{SigningKey, VerifyingKey};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The index's file name in the recordings directory (not `*.jsonl`: not a recording).
pub(crate) const FILE: &str = "sealed.log";
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

/// The index of one recordings directory.
pub(crate) struct SealIndex {
    path: PathBuf,
    key: Arc<SigningKey>,
    keys: Vec<VerifyingKey>,
    head: Mutex<Head>,
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
    /// Opens the index of `dir` and reads where it stands; a damaged index is reported in the
    /// log and appended to from its last good entry.
    pub fn open(dir: &Path, key: Arc<SigningKey>, keys: Vec<VerifyingKey>) -> Result<Self, RecordError> {
        let path = dir.join(FILE);
        let index = SealIndex { path, key, keys, head: Mutex::new(Head { count: 0, last: Hash::ZERO, file: None }) };
        let (mut count, mut last) = (0, Hash::ZERO);
        let broken = index.scan(|e| {
            (count, last) = (e.n, e.digest());
            false
        })?;
        if let Some((line, why)) = broken {
            tracing::error!(index = %index.path.display(), line, why, "the seal index is damaged: recordings sealed before the damage may have been cut unseen");
        }
        tracing::info!(entries = count, head = last.as_str(), "seal index");
        *index.head.lock().unwrap_or_else(|p| p.into_inner()) = Head { count, last, file: None };
        Ok(index)
    }

    /// Adds `session`, sealed at `seq` with seal hash `hash`.
    pub fn add(&self, session: &str, seq: u64, hash: &str) -> Result<(), RecordError> {
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
        // Written, not fsynced: the seal it names is, and a line lost with the page cache is
        // a power cut's doing, not an attacker's.
        let file = match &mut head.file {
            Some(f) => f,
            None => head.file.insert(OpenOptions::new().create(true).append(true).open(&self.path)?),
        };
        file.write_all(&line)?;
        (head.count, head.last) = (e.n, e.digest());
        Ok(())
    }

    /// Where the index says `session` was sealed, if it was.
    pub fn sealed(&self, session: &str) -> Result<Option<Sealed>, RecordError> {
        let mut found = None;
        self.scan(|e| {
            if e.session == session {
                found = Some(Sealed { seq: e.seq, hash: e.hash.clone() });
                return true;
            }
            false
        })?;
        Ok(found)
    }

    /// Reads the entries in order while `f` returns false; returns where the chain or a
    /// signature first fails, if it does (reading stops there).
    fn scan(&self, mut f: impl FnMut(&Entry) -> bool) -> Result<Option<(u64, &'static str)>, RecordError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut reader = BufReader::new(file);
        let mut prev = Hash::ZERO;
        let mut buf = Vec::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            // At most one line past the limit is read: `take` bounds a line with no newline.
            let read = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
            if read == 0 {
                return Ok(None);
            }
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
            if f(&e) {
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
        SealIndex::open(dir, key, keys.verifying_keys(crate::keys::KeyPurpose::Seal).unwrap()).unwrap()
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
        assert_eq!(idx.scan(|_| false).unwrap(), None);
        // The first entry taken out: the rest no longer chains.
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let rest: String = text.split_inclusive('\n').skip(1).collect();
        std::fs::write(dir.path().join(FILE), rest).unwrap();
        assert_eq!(idx.scan(|_| false).unwrap(), Some((1, "an entry missing, added or moved")));
    }
}
