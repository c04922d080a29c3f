//! Recording: every session's events in an append-only, hash-chained, signed log.
//!
//! Each stored record carries a sequence number, a timestamp, the previous record's hash and
//! its own hash over its stored bytes, so any edit, gap or reordering is detectable. At every
//! fsync a signed checkpoint is appended, and closing a session seals its final hash with the
//! gateway's seal key, so truncation is detectable too ([`verify`]).

pub mod asciicast;
mod file;
mod format;
mod index;
pub mod verify;

use crate::event::Event;
use crate::session::{Session, SessionId};
use serde::{Deserialize, Serialize};

pub use file::{FileRecorder, FileRecorderConfig};
pub use verify::VerifyReport;
pub(crate) use format::sha256_hex;

/// Why the recorder could not do what was asked. A failed `record` means: refuse the operation.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The store could not be written or read (disk full, permission, ...).
    #[error("recording store: {0}")]
    Io(#[from] std::io::Error),
    /// The session's log failed earlier; its chain cannot continue.
    #[error("recording of this session failed earlier; refusing further events")]
    Broken,
    /// The log is already sealed.
    #[error("recording is sealed")]
    Sealed,
    /// No recording with that id.
    #[error("no recording {0}")]
    NotFound(String),
    /// A stored record does not parse.
    #[error("corrupt record at line {line}: {message}")]
    Corrupt {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The seal key could not be loaded.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

/// What a stored record holds: a session event, or the recorder's own checkpoint/seal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Body {
    /// A signed checkpoint or the final seal.
    Control(Control),
    /// A session event.
    Event(Event),
}

/// The recorder's own records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// Everything before this record was flushed to disk; signed.
    Checkpoint {
        /// Key id of the seal key.
        kid: String,
        /// Base64 signature over the session id, this record's seq and the previous hash.
        sig: String,
    },
    /// The session ended; nothing may follow. Signed like a checkpoint.
    Seal {
        /// Key id of the seal key.
        kid: String,
        /// Base64 signature.
        sig: String,
    },
    /// The gateway stopped without closing the session (a crash, `kill -9`, a power cut); the
    /// next start closed it. Nothing may follow. Signed like a seal; records after the last
    /// checkpoint before it were not signed while the session ran.
    CrashSeal {
        /// Key id of the seal key.
        kid: String,
        /// Base64 signature.
        sig: String,
    },
}

/// How a recording ended, as its last record says (a listing's hint; `verify` is the proof).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Not closed: the session is live, or a crash left it open and the next start closes it.
    Open,
    /// Closed with its seal.
    Sealed,
    /// Closed at a start after the gateway crashed or was killed while it ran.
    CrashEnded,
    /// Sealed, says the seal index, and its file is gone.
    Missing,
}

/// A recording's listing line.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The first record (the session's start), if any.
    pub head: Option<StoredEvent>,
    /// How many records there are (the last record's sequence number).
    pub records: u64,
    /// How it ended.
    pub ending: Ending,
}

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// 1-based position in the session's log.
    pub seq: u64,
    /// When it was recorded (RFC 3339, UTC).
    pub ts: String,
    /// Hash of the previous record (hex), or 64 zeros for the first.
    pub prev: String,
    /// The content.
    pub body: Body,
    /// This record's hash (hex).
    pub hash: String,
}

/// Writes one session's events. `record` returns once the bytes were handed to the OS.
pub trait SessionLog: Send + Sync {
    /// Appends `event`; returns its sequence number once its bytes (and any deferred ones
    /// before it) were handed to the OS. An error means the action must be refused.
    fn record(&self, event: &Event) -> Result<u64, RecordError>;
    /// Appends `event` to the chain now but lets its bytes ride along with the next write
    /// (the next `record`, checkpoint or seal, at most one fsync interval later). For events
    /// that nothing waits on, such as results; actions always use [`record`](Self::record).
    fn record_deferred(&self, event: &Event) -> Result<u64, RecordError> {
        self.record(event)
    }
    /// Flushes to disk and seals the log. Further `record`s fail.
    fn close(&self) -> Result<(), RecordError>;
    /// Bytes of records this log has taken so far (what a recording budget counts); a store
    /// that cannot tell says 0.
    fn appended_bytes(&self) -> u64 {
        0
    }
}

/// A store of session recordings. Implement it to keep recordings elsewhere.
pub trait Recorder: Send + Sync + 'static {
    /// Starts the recording of `session`.
    fn open(&self, session: &Session) -> Result<Box<dyn SessionLog>, RecordError>;
    /// Ids of every stored recording, oldest first.
    fn list(&self) -> Result<Vec<SessionId>, RecordError>;
    /// Recordings known to have existed whose files are gone (none, for a store that cannot
    /// tell).
    fn missing(&self) -> Result<Vec<SessionId>, RecordError> {
        Ok(Vec::new())
    }
    /// Every record of a session, in order (for replay and export).
    fn read(&self, id: &SessionId) -> Result<Vec<StoredEvent>, RecordError>;
    /// Checks a recording's chain, signatures and seal.
    fn verify(&self, id: &SessionId) -> Result<VerifyReport, RecordError>;
    /// The first record (the session's start), how many records there are (the last
    /// record's sequence number) and how the recording ended, for listings; stores should
    /// answer without reading every record.
    fn summary(&self, id: &SessionId) -> Result<Summary, RecordError> {
        let all = self.read(id)?;
        let ending = match all.last().map(|e| &e.body) {
            Some(Body::Control(Control::Seal { .. })) => Ending::Sealed,
            Some(Body::Control(Control::CrashSeal { .. })) => Ending::CrashEnded,
            _ => Ending::Open,
        };
        let records = all.len() as u64;
        Ok(Summary { head: all.into_iter().next(), records, ending })
    }
    /// Closes recordings a previous run left open (it crashed or was killed): each gets a
    /// signed end record saying so. Called once at start, before any session opens; returns
    /// the sessions closed.
    fn recover(&self) -> Result<Vec<SessionId>, RecordError> {
        Ok(Vec::new())
    }
    /// Age of the oldest record not yet durable (fsynced); zero when all are.
    fn lag(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// The message a checkpoint or seal signs.
pub(crate) fn signed_message(kind: &str, session: &str, seq: u64, prev: &str) -> Vec<u8> {
    format!("hoop-recording-v1\0{kind}\0{session}\0{seq}\0{prev}").into_bytes()
}
