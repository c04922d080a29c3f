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
/// `open(2)`'s flags that refuse a link as the last component and do not wait on a FIFO
/// (Linux's values: hoop runs there).
const O_NOFOLLOW: i32 = 0o400_000;
const O_NONBLOCK: i32 = 0o4000;
/// Longest index line read (a longer one is damage, not an entry).
const MAX_LINE: usize = 4096;
/// An entry for a recording the gateway sealed.
const SEALED: &str = "sealed";
/// An entry for a recording the gateway opened (a session started).
const OPENED: &str = "opened";

fn sealed_kind() -> String {
    SEALED.to_string()
}

/// One entry: a recording opened or sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Position in the index, from 1.
    pub n: u64,
    /// `opened` or `sealed`.
    #[serde(default = "sealed_kind")]
    pub kind: String,
    /// The recording's session id.
    pub session: String,
    /// The sequence number of its seal (0 when opened).
    pub seq: u64,
    /// The hash of its seal record (empty when opened).
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
        let mut m = signed_message(&self.kind, &self.session, self.seq, &self.hash);
        m.extend_from_slice(format!("\n{}\n{}", self.n, self.prev).as_bytes());
        m
    }

    /// This entry's hash, which the next one names.
    fn digest(&self) -> Hash {
        Hash::of(&self.message())
    }
}

/// Where the index stands: entries so far and the last one's hash, and the file appended to
/// (opened once, at the start: a path swapped for another file or a FIFO later is not it).
struct Head {
    count: u64,
    last: Hash,
    file: Option<File>,
}

/// The anchor's content: the index's entries and its last entry's hash, as last written;
/// `broken` once an entry could not be written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Anchor {
    count: u64,
    head: String,
    #[serde(default)]
    broken: bool,
}

/// The index of one recordings directory.
pub(crate) struct SealIndex {
    path: PathBuf,
    anchor: PathBuf,
    key: Arc<SigningKey>,
    keys: Vec<VerifyingKey>,
    head: Mutex<Head>,
    /// Why the index is not trusted, when it is not (it does not reach its anchor, or could
    /// not be written).
    distrust: Mutex<Option<String>>,
    /// No anchor yet (the first start with an index): recordings a crash left open are those
    /// of a gateway that wrote no index, closed as before.
    fresh: std::sync::atomic::AtomicBool,
}

/// What the index says of one recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// The sequence number of its seal.
    pub seq: u64,
    /// The hash of its seal record.
    pub hash: String,
}

/// The device and inode of a file, which tell one file from another at the same path.
fn identity(f: &File) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((m.dev(), m.ino()))
}

impl SealIndex {
    /// Opens the index of `dir`, anchored at `anchor`, and reads where it stands. One that does
    /// not reach its anchor (or is not a regular file, or whose last run could not write it) is
    /// reported in the log and not trusted, nor added to; a last line cut short past the anchor
    /// (a power cut as it was written) is cut off.
    pub fn open(dir: &Path, anchor: PathBuf, key: Arc<SigningKey>, keys: Vec<VerifyingKey>) -> Result<Self, RecordError> {
        let path = dir.join(FILE);
        let expected: Option<Anchor> = match std::fs::read(&anchor) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| RecordError::Io(e.into()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let file = OpenOptions::new().read(true).append(true).create(expected.is_none()).custom_flags(O_NOFOLLOW | O_NONBLOCK).open(&path);
        let file = file.and_then(|f| identity(&f).map(|_| f));
        let index = SealIndex {
            path,
            anchor,
            key,
            keys,
            head: Mutex::new(Head { count: 0, last: Hash::ZERO, file: None }),
            distrust: Mutex::new(None),
            fresh: std::sync::atomic::AtomicBool::new(expected.is_none()),
        };
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                index.refuse(format!("it cannot be opened as a file ({e})"));
                return Ok(index);
            }
        };
        index.head.lock().unwrap_or_else(|p| p.into_inner()).file = Some(file);
        let (mut count, mut last, mut good_bytes) = (0, Hash::ZERO, 0u64);
        let mut reached = expected.as_ref().is_none_or(|a| a.count == 0 && a.head == Hash::ZERO.as_str());
        let broken = match index.scan(|e, end| {
            (count, last, good_bytes) = (e.n, e.digest(), end);
            reached |= expected.as_ref().is_some_and(|a| a.count == e.n && a.head == last.as_str());
            false
        }) {
            Ok(b) => b,
            Err(_) => Some((0, "unreadable")),
        };
        if expected.as_ref().is_some_and(|a| a.broken) {
            index.refuse("an entry could not be written in the last run".into());
        } else if !reached {
            let why = match (&expected, broken) {
                (Some(a), Some((line, why))) => format!("{why} at line {line}, before the {} entries its anchor counts", a.count),
                (Some(a), None) => format!("{count} entries where its anchor counts {}, or another last entry", a.count),
                (None, _) => String::new(),
            };
            index.refuse(format!("it does not reach its anchor ({why})"));
        } else if let Some((line, why)) = broken {
            // Past the anchor: the entry being written when the power went. Cut off, so that
            // the next one follows the last good one.
            tracing::warn!(index = %index.path.display(), line, why, "the seal index's last line was cut short: cut off");
            if let Some(f) = &index.head.lock().unwrap_or_else(|p| p.into_inner()).file {
                f.set_len(good_bytes)?;
            }
        }
        tracing::info!(entries = count, head = last.as_str(), "seal index");
        let mut head = index.head.lock().unwrap_or_else(|p| p.into_inner());
        (head.count, head.last) = (count, last);
        drop(head);
        Ok(index)
    }

    /// Stops trusting the index, for `why`, and says so in the log once.
    fn refuse(&self, why: String) {
        let mut d = self.distrust.lock().unwrap_or_else(|p| p.into_inner());
        if d.is_none() {
            tracing::error!(index = %self.path.display(), anchor = %self.anchor.display(), %why, "the seal index is not trusted: it was cut, edited, replaced, deleted or could not be written. No recording is closed as a crash's, and those without their own seal fail verification, until an operator sets the index aside and removes the anchor");
            *d = Some(format!("the seal index is not trusted ({why}): whether this recording was sealed can no longer be told"));
        }
    }

    /// Why the index is not trusted, if it is not.
    pub fn distrust(&self) -> Option<String> {
        self.distrust.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether this is the first start with an index (no anchor was found).
    pub fn fresh(&self) -> bool {
        self.fresh.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds `session`, opened: written, not synced (the next seal's sync takes it).
    pub fn opened(&self, session: &str) -> Result<(), RecordError> {
        self.add(OPENED, session, 0, "", false)
    }

    /// Adds `session`, sealed at `seq` with seal hash `hash`, and moves the anchor past it.
    pub fn sealed_at(&self, session: &str, seq: u64, hash: &str) -> Result<(), RecordError> {
        self.add(SEALED, session, seq, hash, true)
    }

    /// The first start's recovery is over: from now on the anchor is there.
    pub fn recovered(&self) -> Result<(), RecordError> {
        if self.fresh.swap(false, std::sync::atomic::Ordering::Relaxed) && self.distrust().is_none() {
            let head = self.head.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = &head.file {
                f.sync_data()?;
            }
            self.write_anchor(&Anchor { count: head.count, head: head.last.as_str().to_string(), broken: false })?;
        }
        Ok(())
    }

    fn write_anchor(&self, anchor: &Anchor) -> Result<(), RecordError> {
        let bytes = serde_json::to_vec(anchor).map_err(|e| RecordError::Io(e.into()))?;
        let tmp = self.anchor.with_extension("new");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.anchor)?;
        Ok(())
    }

    fn add(&self, kind: &str, session: &str, seq: u64, hash: &str, anchor: bool) -> Result<(), RecordError> {
        if let Some(why) = self.distrust() {
            return Err(RecordError::Io(std::io::Error::other(why)));
        }
        let mut head = self.head.lock().unwrap_or_else(|p| p.into_inner());
        let mut e = Entry {
            n: head.count + 1,
            kind: kind.to_string(),
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
        let written = match &mut head.file {
            Some(f) => f.write_all(&line).and_then(|()| if anchor { f.sync_data() } else { Ok(()) }),
            None => Err(std::io::Error::other("not open")),
        };
        if let Err(e) = written {
            // What the index now holds is not known: the next start must not trust it.
            drop(head);
            let _ = self.write_anchor(&Anchor { count: u64::MAX, head: String::new(), broken: true });
            self.refuse(format!("an entry could not be written: {e}"));
            return Err(e.into());
        }
        (head.count, head.last) = (e.n, e.digest());
        // On disk before the anchor moves past it: an anchor ahead of its index reads as a cut.
        if anchor {
            self.write_anchor(&Anchor { count: head.count, head: head.last.as_str().to_string(), broken: false })?;
        }
        Ok(())
    }

    /// Where the index says `session` was sealed, if it was.
    pub fn sealed(&self, session: &str) -> Result<Option<Sealed>, RecordError> {
        let mut found = None;
        self.scan(|e, _| {
            if e.session == session && e.kind == SEALED {
                found = Some(Sealed { seq: e.seq, hash: e.hash.clone() });
                return true;
            }
            false
        })?;
        Ok(found)
    }

    /// Whether the index says the gateway opened `session`.
    pub fn was_opened(&self, session: &str) -> Result<bool, RecordError> {
        let mut found = false;
        self.scan(|e, _| {
            found = e.session == session && e.kind == OPENED;
            found
        })?;
        Ok(found)
    }

    /// The sealed sessions the index names, in its order (as far as it reads).
    pub fn sessions(&self) -> Result<Vec<String>, RecordError> {
        let mut out = Vec::new();
        self.scan(|e, _| {
            if e.kind == SEALED {
                out.push(e.session.clone());
            }
            false
        })?;
        Ok(out)
    }

    /// Reads the entries in order, each with the offset its line ends at, while `f` returns
    /// false; returns where the chain or a signature first fails, if it does (reading stops
    /// there). Read at its path, never through a link, and only if that is still the file the
    /// gateway opened at its start.
    fn scan(&self, mut f: impl FnMut(&Entry, u64) -> bool) -> Result<Option<(u64, &'static str)>, RecordError> {
        let file = match OpenOptions::new().read(true).custom_flags(O_NOFOLLOW | O_NONBLOCK).open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some((1, "the index is gone"))),
            Err(e) => return Err(e.into()),
        };
        let ours = self.head.lock().unwrap_or_else(|p| p.into_inner()).file.as_ref().map(identity);
        match (identity(&file), ours) {
            (Ok(here), Some(Ok(opened))) if here == opened => {}
            _ => return Ok(Some((1, "the index was replaced"))),
        }
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
        idx.sealed_at("a", 7, "h7").unwrap();
        idx.sealed_at("b", 9, "h9").unwrap();
        assert_eq!(idx.sealed("b").unwrap(), Some(Sealed { seq: 9, hash: "h9".into() }));
        assert_eq!(idx.sealed("c").unwrap(), None);
        // Reopened, it goes on from its head.
        let idx = index(dir.path());
        idx.sealed_at("c", 3, "h3").unwrap();
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
        assert!(idx.distrust().is_some() && idx.sealed_at("d", 1, "h1").is_err());
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
        idx.sealed_at("d", 1, "h1").unwrap();
        assert!(index(dir.path()).distrust().is_none());
        // A FIFO in its place (which would hold a writer until read): not trusted, at once.
        std::fs::rename(dir.path().join(FILE), dir.path().join("kept")).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(dir.path().join(FILE)).status().unwrap().success());
        assert!(index(dir.path()).distrust().is_some());
        // Swapped while running: appends go on into the file opened at the start, and lookups
        // do not read another.
        std::fs::remove_file(dir.path().join(FILE)).unwrap();
        std::fs::rename(dir.path().join("kept"), dir.path().join(FILE)).unwrap();
        let idx = index(dir.path());
        assert!(idx.distrust().is_none());
        std::fs::rename(dir.path().join(FILE), dir.path().join("kept")).unwrap();
        std::fs::write(dir.path().join(FILE), "").unwrap();
        idx.sealed_at("e", 2, "h2").unwrap();
        assert_eq!(idx.sealed("a").unwrap(), None, "the file at the path is not the index");
        std::fs::rename(dir.path().join("kept"), dir.path().join(FILE)).unwrap();
        assert_eq!(idx.sealed("e").unwrap(), Some(Sealed { seq: 2, hash: "h2".into() }));
        assert!(index(dir.path()).distrust().is_none());
    }
}
