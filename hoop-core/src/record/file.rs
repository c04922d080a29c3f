//! The default store: one JSON-lines file per session under the data directory.

use super::format::{Hash, encode_into};
use super::index::SealIndex;
use super::{Body, Control, Ending, RecordError, Recorder, SessionLog, StoredEvent, Summary, VerifyReport, signed_message};
use crate::event::Event;
use crate::keys::{KeyPurpose, KeyStore, SigningKey, VerifyingKey};
use crate::session::{Session, SessionId};
use base64::Engine;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Settings of the file store.
#[derive(Debug, Clone)]
pub struct FileRecorderConfig {
    /// Directory holding `<session>.jsonl` files.
    pub dir: PathBuf,
    /// How often written records are fsynced (group commit); sessions also fsync at close.
    pub fsync_interval: Duration,
}

struct LogState {
    file: File,
    /// Encoded records not yet written (deferred events); also the buffer every record is
    /// encoded into, so it keeps its capacity from record to record.
    pending: Vec<u8>,
    seq: u64,
    prev: Hash,
    dirty: bool,
    /// When the oldest record not yet fsynced was written (recorder lag).
    dirty_since: Option<std::time::Instant>,
    sealed: bool,
    broken: bool,
}

struct Shared {
    session: String,
    key: Arc<SigningKey>,
    state: Mutex<LogState>,
    /// The same file (a second descriptor), fsynced without holding `state`: a slow disk must
    /// not stall the session's own records, which on a single-threaded runtime would stall
    /// every session on it.
    sync: File,
    /// Bytes of records appended so far, written or deferred.
    appended: std::sync::atomic::AtomicU64,
    /// Where the seal is entered.
    index: Arc<SealIndex>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one record under the lock; the write happens on the caller's thread, together
    /// with any deferred records before it, unless `defer`.
    fn append(&self, st: &mut LogState, body: &impl serde::Serialize) -> Result<u64, RecordError> {
        self.append_with(st, body, false)
    }

    fn append_with(&self, st: &mut LogState, body: &impl serde::Serialize, defer: bool) -> Result<u64, RecordError> {
        if st.broken {
            return Err(RecordError::Broken);
        }
        if st.sealed {
            return Err(RecordError::Sealed);
        }
        let seq = st.seq + 1;
        let before = st.pending.len();
        let hash = encode_into(&mut st.pending, seq, &st.prev, body).map_err(|e| RecordError::Io(e.into()))?;
        self.appended.fetch_add((st.pending.len() - before) as u64, std::sync::atomic::Ordering::Relaxed);
        if !defer {
            let result = st.file.write_all(&st.pending);
            st.pending.clear();
            // One large record (a sample of wide rows) must not pin its buffer for the session.
            st.pending.shrink_to(64 * 1024);
            if let Err(e) = result {
                // A torn line would break the chain for every later record: stop here.
                st.broken = true;
                return Err(RecordError::Io(e));
            }
        }
        st.seq = seq;
        st.prev = hash;
        if !st.dirty {
            st.dirty_since = Some(std::time::Instant::now());
        }
        st.dirty = true;
        Ok(seq)
    }

    fn control(&self, st: &LogState, seal: bool) -> Body {
        let kind = if seal { "seal" } else { "checkpoint" };
        let msg = signed_message(kind, &self.session, st.seq + 1, st.prev.as_str());
        let sig = base64::engine::general_purpose::STANDARD.encode(self.key.sign(&msg));
        let kid = self.key.kid.clone();
        Body::Control(if seal { Control::Seal { kid, sig } } else { Control::Checkpoint { kid, sig } })
    }

    /// Writes a signed checkpoint and fsyncs, if anything was written since the last one.
    fn checkpoint(&self) -> Result<(), RecordError> {
        let mut st = self.lock();
        if (!st.dirty && st.pending.is_empty()) || st.sealed || st.broken {
            return Ok(());
        }
        let body = self.control(&st, false);
        self.append(&mut st, &body)?;
        // Records written from here on count as not yet synced: the next checkpoint takes them.
        st.dirty = false;
        st.dirty_since = None;
        drop(st);
        if let Err(e) = self.sync.sync_data() {
            // Not synced after all: the next checkpoint tries again.
            let mut st = self.lock();
            st.dirty = true;
            st.dirty_since.get_or_insert_with(std::time::Instant::now);
            return Err(e.into());
        }
        Ok(())
    }

    fn seal(&self) -> Result<(), RecordError> {
        let mut st = self.lock();
        if st.sealed {
            return Ok(());
        }
        let body = self.control(&st, true);
        self.append(&mut st, &body)?;
        st.sealed = true;
        st.file.sync_data()?;
        st.dirty = false;
        st.dirty_since = None;
        let (seq, hash) = (st.seq, st.prev.as_str().to_string());
        drop(st);
        // Sealed all the same: the index is what tells a later cut of it from a crash.
        if let Err(e) = self.index.sealed_at(&self.session, seq, &hash) {
            tracing::error!(session = %self.session, error = %e, "the seal index could not be written: a later cut of this recording would look like a crash");
        }
        Ok(())
    }
}

struct FileLog {
    shared: Arc<Shared>,
}

impl SessionLog for FileLog {
    fn record(&self, event: &Event) -> Result<u64, RecordError> {
        let mut st = self.shared.lock();
        self.shared.append(&mut st, event)
    }

    fn record_deferred(&self, event: &Event) -> Result<u64, RecordError> {
        let mut st = self.shared.lock();
        self.shared.append_with(&mut st, event, true)
    }

    fn close(&self) -> Result<(), RecordError> {
        self.shared.seal()
    }

    fn appended_bytes(&self) -> u64 {
        self.shared.appended.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for FileLog {
    fn drop(&mut self) {
        // A log dropped without close (task aborted, panic) still gets sealed if it can be.
        let _ = self.shared.seal();
    }
}

/// JSON-lines recordings in a directory, hash-chained and signed with the data dir's seal key.
pub struct FileRecorder {
    cfg: FileRecorderConfig,
    key: Arc<SigningKey>,
    verify_keys: Vec<VerifyingKey>,
    live: Arc<Mutex<Vec<Weak<Shared>>>>,
    index: Arc<SealIndex>,
}

impl FileRecorder {
    /// Opens the store (creating the directory) and starts its group-commit thread.
    pub fn new(cfg: FileRecorderConfig, keys: &KeyStore) -> Result<Self, RecordError> {
        crate::keys::create_private_dir(&cfg.dir)?;
        let key = Arc::new(keys.signing_key(KeyPurpose::Seal)?);
        let verify_keys = keys.verifying_keys(KeyPurpose::Seal)?;
        let index = Arc::new(SealIndex::open(&cfg.dir, keys.dir().join("seal-index.head"), key.clone(), verify_keys.clone())?);
        let live: Arc<Mutex<Vec<Weak<Shared>>>> = Arc::new(Mutex::new(Vec::new()));
        let weak = Arc::downgrade(&live);
        let interval = cfg.fsync_interval.max(Duration::from_millis(1));
        std::thread::Builder::new()
            .name("hoop-recorder-sync".into())
            .spawn(move || sync_loop(weak, interval))?;
        Ok(FileRecorder { cfg, key, verify_keys, live, index })
    }

    fn path(&self, id: &SessionId) -> Result<PathBuf, RecordError> {
        if !id.is_valid() {
            return Err(RecordError::NotFound(id.0.clone()));
        }
        Ok(self.cfg.dir.join(format!("{}.jsonl", id.0)))
    }
}

/// The sequence number of the last complete record, read from the end of the file (a listing
/// of many long recordings must not read them whole); `None` if that line has none. A live
/// session's last line may still be partly written: it is skipped.
fn last_record(file: &File) -> std::io::Result<(Option<u64>, Ending)> {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 64 * 1024;
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; CHUNK as usize];
    // Newlines seen so far, scanning backwards: the first ends the last complete line, the
    // second comes right before its start.
    let mut ends: Vec<u64> = Vec::with_capacity(2);
    let mut pos = len;
    while pos > 0 && ends.len() < 2 {
        let start = pos.saturating_sub(CHUNK);
        let chunk = buf.get_mut(..(pos - start) as usize).unwrap_or_default();
        file.read_exact_at(chunk, start)?;
        for (i, b) in chunk.iter().enumerate().rev() {
            if *b == b'\n' {
                ends.push(start + i as u64);
                if ends.len() == 2 {
                    break;
                }
            }
        }
        pos = start;
    }
    let line_start = match ends.as_slice() {
        [] => return Ok((Some(0), Ending::Open)),
        [_] => 0,
        [_, before, ..] => before + 1,
    };
    // Every line starts `{"seq":N,"ts":…,"prev":…,"body":` (format.rs writes it so); a seal's
    // body starts with its type, and inside a JSON string a quote is always escaped, so the
    // pattern cannot come from recorded data.
    let mut head = [0u8; 256];
    let n = file.read_at(&mut head, line_start)?;
    let head = head.get(..n).unwrap_or_default();
    let has = |pat: &[u8]| head.windows(pat.len()).any(|w| w == pat);
    let ending = if has(b"\"body\":{\"type\":\"crash_seal\"") {
        Ending::CrashEnded
    } else if has(b"\"body\":{\"type\":\"seal\"") {
        Ending::Sealed
    } else {
        Ending::Open
    };
    let digits = head.strip_prefix(b"{\"seq\":").unwrap_or_default();
    let digits: Vec<u8> = digits.iter().copied().take_while(u8::is_ascii_digit).collect();
    Ok((std::str::from_utf8(&digits).ok().and_then(|d| d.parse().ok()), ending))
}

/// Complete lines in the file, from its start whatever the descriptor's offset.
fn count_lines(file: &File) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut count, mut offset) = (0u64, 0u64);
    loop {
        let n = file.read_at(&mut buf, offset)?;
        if n == 0 {
            return Ok(count);
        }
        offset += n as u64;
        count += buf.get(..n).unwrap_or_default().iter().filter(|b| **b == b'\n').count() as u64;
    }
}

/// Closes one recording a previous run left open: a torn last line (half written when the
/// process died) is cut, then a `SessionEnd` saying why and a signed crash seal are appended.
/// A recording broken anywhere else is left as it is, for verification to report.
fn recover_file(path: &std::path::Path, session: &str, key: &SigningKey, keys: &[VerifyingKey], index: &SealIndex) -> Result<bool, RecordError> {
    let bytes = std::fs::read(path)?;
    let report = super::verify::verify_bytes(session, &bytes, keys);
    if report.sealed || report.records == 0 {
        return Ok(false);
    }
    // Sealed once and open now: cut after its seal, not left open by a crash. Closed as a
    // crash's, it would verify (red-team identity round 109); left open, it is reported cut.
    // A recording the gateway never opened (one dropped among them by whoever can write
    // there: red-team identity round 111 had a forged session crash-sealed and verified) is
    // not the gateway's to close. (At the first start with an index, none was entered.)
    if !index.fresh() && !index.was_opened(session)? {
        tracing::error!(session, "a recording the gateway never opened is left open: not closed as a crash's");
        return Ok(false);
    }
    if let Some(sealed) = index.sealed(session)? {
        tracing::error!(session, sealed_at = sealed.seq, ends_at = report.records, "a sealed recording has been cut or added to: left as it is");
        return Ok(false);
    }
    // Where the intact records end: after the newline of record `report.records`.
    let mut end = 0usize;
    for _ in 0..report.records {
        let Some(nl) = bytes.get(end..).and_then(|rest| rest.iter().position(|b| *b == b'\n')) else { return Ok(false) };
        end += nl + 1;
    }
    let rest = bytes.get(end..).unwrap_or_default();
    // Only a last line with no newline is a torn write; a complete bad line is tampering.
    if report.first_error.is_some() && rest.contains(&b'\n') {
        return Ok(false);
    }
    let last = bytes.get(..end.saturating_sub(1)).unwrap_or_default();
    let last = last.rsplit(|b| *b == b'\n').next().unwrap_or_default();
    let Some(prev) = serde_json::from_slice::<StoredEvent>(last).ok().and_then(|ev| Hash::parse(&ev.hash)) else { return Ok(false) };
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(end as u64)?;
    let mut out = Vec::new();
    let seq = report.records + 1;
    let end_event = Body::Event(Event::SessionEnd {
        reason: format!(
            "the gateway stopped without closing this session (crash or kill); closed at the next start. Records after {} were not yet covered by a signed checkpoint{}",
            report.last_signed,
            if rest.is_empty() { "" } else { "; a half-written last record was cut" }
        ),
    });
    let hash = encode_into(&mut out, seq, &prev, &end_event).map_err(|e| RecordError::Io(e.into()))?;
    let msg = signed_message("crash-seal", session, seq + 1, hash.as_str());
    let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(&msg));
    let sealed = encode_into(&mut out, seq + 1, &hash, &Body::Control(Control::CrashSeal { kid: key.kid.clone(), sig })).map_err(|e| RecordError::Io(e.into()))?;
    let mut file = OpenOptions::new().append(true).open(path)?;
    file.write_all(&out)?;
    file.sync_all()?;
    index.sealed_at(session, seq + 1, sealed.as_str())?;
    tracing::warn!(session, records = report.records, "recording left open by a crash closed");
    Ok(true)
}

/// Fsyncs and checkpoints every live log each interval, until the recorder is dropped.
fn sync_loop(live: Weak<Mutex<Vec<Weak<Shared>>>>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(live) = live.upgrade() else { return };
        let logs: Vec<Arc<Shared>> = {
            let mut l = live.lock().unwrap_or_else(|p| p.into_inner());
            l.retain(|w| w.strong_count() > 0);
            l.iter().filter_map(Weak::upgrade).collect()
        };
        drop(live);
        for log in logs {
            if let Err(e) = log.checkpoint() {
                tracing::error!(session = %log.session, error = %e, "recording checkpoint failed");
            }
        }
    }
}

impl Recorder for FileRecorder {
    fn lag(&self) -> Duration {
        let logs: Vec<Arc<Shared>> = self.live.lock().unwrap_or_else(|p| p.into_inner()).iter().filter_map(Weak::upgrade).collect();
        logs.iter().filter_map(|l| l.lock().dirty_since.map(|t| t.elapsed())).max().unwrap_or_default()
    }

    fn open(&self, session: &Session) -> Result<Box<dyn SessionLog>, RecordError> {
        let path = self.path(&session.id)?;
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let sync = file.try_clone()?;
        let shared = Arc::new(Shared {
            session: session.id.0.clone(),
            key: self.key.clone(),
            sync,
            appended: Default::default(),
            index: self.index.clone(),
            state: Mutex::new(LogState {
                file,
                pending: Vec::new(),
                seq: 0,
                prev: Hash::ZERO,
                dirty: false,
                dirty_since: None,
                sealed: false,
                broken: false,
            }),
        });
        // Entered as opened, so that a crash's recording is told from one dropped among them
        // (a failure is the index's to report: it is then distrusted, and says so once).
        let _ = self.index.opened(&session.id.0);
        self.live.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::downgrade(&shared));
        let log = FileLog { shared };
        log.record(&Event::SessionStart { session: session.clone() })?;
        Ok(Box::new(log))
    }

    fn list(&self) -> Result<Vec<SessionId>, RecordError> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.cfg.dir)? {
            let name = entry?.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) {
                ids.push(SessionId(id.to_string()));
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The recordings the seal index names whose files are gone (red-team identity round 110:
    /// a deleted recording left the listing unseen).
    fn missing(&self) -> Result<Vec<SessionId>, RecordError> {
        let mut ids: Vec<SessionId> = self.index.sessions()?.into_iter().map(SessionId).filter(|id| self.path(id).is_ok_and(|p| !p.exists())).collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    fn read(&self, id: &SessionId) -> Result<Vec<StoredEvent>, RecordError> {
        let path = self.path(id)?;
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RecordError::NotFound(id.0.clone()),
            _ => RecordError::Io(e),
        })?;
        let mut out = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line?;
            let ev: StoredEvent = serde_json::from_str(&line)
                .map_err(|e| RecordError::Corrupt { line: i as u64 + 1, message: e.to_string() })?;
            out.push(ev);
        }
        Ok(out)
    }

    fn summary(&self, id: &SessionId) -> Result<Summary, RecordError> {
        let path = self.path(id)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(sealed) = self.index.sealed(&id.0)? else { return Err(RecordError::NotFound(id.0.clone())) };
                return Ok(Summary { head: None, records: sealed.seq, ending: Ending::Missing });
            }
            Err(e) => return Err(RecordError::Io(e)),
        };
        let mut first = String::new();
        if BufReader::new(&file).read_line(&mut first)? == 0 {
            return Ok(Summary { head: None, records: 0, ending: Ending::Open });
        }
        let head = serde_json::from_str(&first).map_err(|e| RecordError::Corrupt { line: 1, message: e.to_string() })?;
        let (last, ending) = last_record(&file)?;
        // A last line that does not start like a record (a damaged file): counted line by line.
        let records = match last {
            Some(n) => n,
            None => count_lines(&file)?,
        };
        Ok(Summary { head: Some(head), records, ending })
    }

    fn recover(&self) -> Result<Vec<SessionId>, RecordError> {
        let mut closed = Vec::new();
        // Which were sealed can no longer be told: none is closed as a crash's.
        if self.index.distrust().is_some() {
            return Ok(closed);
        }
        for id in self.list()? {
            let path = self.path(&id)?;
            match recover_file(&path, &id.0, &self.key, &self.verify_keys, &self.index) {
                Ok(true) => closed.push(id),
                Ok(false) => {}
                Err(e) => tracing::error!(session = %id, error = %e, "a recording left open could not be closed"),
            }
        }
        // The first start with an index ends its recovery with the anchor written: from now
        // on only recordings the index says were opened are closed as a crash's.
        self.index.recovered()?;
        Ok(closed)
    }

    /// Verifies the recording's own chain and signatures, then that it has not lost a seal
    /// the index says it had, or been deleted after it.
    fn verify(&self, id: &SessionId) -> Result<VerifyReport, RecordError> {
        let path = self.path(id)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(sealed) = self.index.sealed(&id.0)? else { return Err(RecordError::NotFound(id.0.clone())) };
                let why = format!("the recording is missing: the seal index says it was sealed at record {}", sealed.seq);
                return Ok(VerifyReport { records: 0, first_error: Some((1, why)), sealed: false, last_signed: 0, crash_ended: false });
            }
            Err(e) => return Err(RecordError::Io(e)),
        };
        let mut report = super::verify::verify_bytes(&id.0, &bytes, &self.verify_keys);
        if let Some(why) = self.index.distrust()
            && report.first_error.is_none()
            && (!report.sealed || report.crash_ended)
        {
            report.first_error = Some((report.records + 1, why.to_string()));
            report.sealed = false;
            report.crash_ended = false;
        }
        if report.first_error.is_none() && (!report.sealed || report.crash_ended) {
            // A recording cut after its seal, closed since by a forged crash or still open.
            if let Some(sealed) = self.index.sealed(&id.0)?
                && !(report.crash_ended && sealed.seq == report.records)
            {
                let why = format!("the recording was sealed at record {} and ends at record {}: cut after its seal", sealed.seq, report.records);
                report.first_error = Some((report.records + 1, why));
                report.sealed = false;
                report.crash_ended = false;
            }
        }
        Ok(report)
    }
}
