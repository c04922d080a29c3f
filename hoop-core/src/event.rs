//! What a recording holds: the events of one session.

use crate::action::Action;
use crate::session::Session;
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// Which terminal stream bytes belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Bytes from the client (keystrokes, stdin).
    Stdin,
    /// Standard output, or the pty's output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One thing that happened in a session. Values in events are already masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The session opened.
    SessionStart {
        /// Who, where, which target.
        session: Session,
    },
    /// An action was checked; `verdict` is what policy said.
    Action {
        /// Per-session action number, to tie later events to this action.
        action_id: u64,
        /// The action, with masked parameters.
        action: Action,
        /// The policy's verdict.
        verdict: Verdict,
        /// The usage a budget rule judged, when one decided.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<UsageSeen>,
    },
    /// A review ticket was opened for an action.
    ReviewRequested {
        /// The action under review.
        action_id: u64,
        /// Ticket id.
        ticket: String,
    },
    /// A reviewer decided (or the ticket timed out / was abandoned).
    ReviewDecided {
        /// The action under review.
        action_id: u64,
        /// Ticket id.
        ticket: String,
        /// Whether the action may run.
        approved: bool,
        /// The reviewer's subject, or `timeout` / `cancelled`.
        reviewer: String,
    },
    /// A checkpoint of a result while it streamed: what it had returned, and what a rule reading
    /// `result` decided if it held or ended it.
    ResultCheckpoint {
        /// The action whose result it is.
        action_id: u64,
        /// Rows (or objects) so far.
        rows: u64,
        /// Bytes so far.
        bytes: u64,
        /// Values masked so far.
        masked_values: u64,
        /// The verdict, when not to go on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verdict: Option<Verdict>,
        /// The usage the rules saw at this checkpoint (this result's rows already counted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<UsageSeen>,
    },
    /// What an action produced: command tag, row count, duration, and a sample of its rows.
    ActionResult {
        /// The action this result belongs to.
        action_id: u64,
        /// Protocol status (Postgres command tag, exit status, HTTP status).
        status: String,
        /// Rows or items returned.
        rows: u64,
        /// Wall time, microseconds.
        duration_us: u64,
        /// Response bytes sent to the client (HTTP), when known.
        #[serde(default, skip_serializing_if = "is_zero")]
        bytes: u64,
        /// Error text if the upstream refused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Column names of `sample`.
        // Kept with the result rather than in an event of their own: one record per result
        // instead of two, on the path of every statement.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        columns: Vec<String>,
        /// The first rows returned, masked (capped per action), NULL as `null`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sample: Vec<Vec<Option<String>>>,
    },
    /// Terminal bytes (masked output, input), with their time offset from session start.
    Terminal {
        /// Seconds since session start.
        t: f64,
        /// Which stream.
        stream: Stream,
        /// The bytes: as text, or base64 when `base64` is set (output that is not UTF-8 text).
        data: String,
        /// Whether `data` is base64 of bytes that are not text.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        base64: bool,
        /// Whether the base64 bytes are an LZ4 block (size-prepended) of the output; binary
        /// output that compresses well is stored so, which keeps bulk transfers cheap to record.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lz4: bool,
    },
    /// The terminal was resized.
    Resize {
        /// Seconds since session start.
        t: f64,
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
    },
    /// The server rolled back the transaction these actions ran in: what they changed did not
    /// last, whatever their results said.
    RolledBack {
        /// The actions, in the order their results ended.
        action_ids: Vec<u64>,
        /// Actions past the listed ones (a long transaction is listed in part).
        #[serde(default, skip_serializing_if = "is_zero")]
        more: u64,
        /// What ended the transaction.
        reason: String,
        /// One of the actions committed part of its text first (a `COMMIT` inside it): only
        /// what it ran after that was undone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_commit: Option<u64>,
    },
    /// A free-form note from an adapter (e.g. protocol errors).
    Note {
        /// The note.
        message: String,
    },
    /// The session ended.
    SessionEnd {
        /// Why: `client closed`, `token expired`, `idle timeout`, `killed`, ...
        reason: String,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The usage a budget decision saw: the identity's windows everywhere and on the session's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSeen {
    /// The identity's windows, every target (`usage.identity`).
    pub identity: crate::usage::Windows,
    /// The identity's windows on this target (`usage.target`).
    pub target: crate::usage::Windows,
}

impl UsageSeen {
    /// One line: the hour's counts on the target and everywhere.
    pub fn summary(&self) -> String {
        let h = |w: &crate::usage::Windows| format!("{} rows, {} bytes, {} masked values, {} actions", w.h1.rows, w.h1.bytes, w.h1.masked_values, w.h1.actions);
        format!("last hour on this target: {}; everywhere: {}", h(&self.target), h(&self.identity))
    }
}

impl Event {
    /// A terminal event for `bytes`: kept as text when they are text, else base64, so binary
    /// output is recorded exactly and compactly.
    pub fn terminal(t: f64, stream: Stream, bytes: &[u8]) -> Self {
        use base64::Engine;
        // NUL is valid UTF-8 but would cost six bytes of JSON each: such output is binary too.
        match std::str::from_utf8(bytes).ok().filter(|_| !bytes.contains(&0)) {
            Some(text) => Event::Terminal { t, stream, data: text.to_string(), base64: false, lz4: false },
            None => {
                let packed = lz4_flex::block::compress_prepend_size(bytes);
                // Incompressible output (already compressed, random) is stored as it is.
                let lz4 = packed.len() < bytes.len() / 10 * 9;
                let stored = if lz4 { &packed[..] } else { bytes };
                Event::Terminal { t, stream, data: base64::engine::general_purpose::STANDARD.encode(stored), base64: true, lz4 }
            }
        }
    }

    /// The output bytes of a terminal event, decoded from how they were stored; `None` for other
    /// events or undecodable data.
    pub fn terminal_bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        let Event::Terminal { data, base64, lz4, .. } = self else { return None };
        if !*base64 {
            return Some(data.clone().into_bytes());
        }
        let raw = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
        if *lz4 { lz4_flex::block::decompress_size_prepended(&raw).ok() } else { Some(raw) }
    }

    /// The event's `type` tag as stored.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::SessionStart { .. } => "session_start",
            Event::Action { .. } => "action",
            Event::ReviewRequested { .. } => "review_requested",
            Event::ReviewDecided { .. } => "review_decided",
            Event::ActionResult { .. } => "action_result",
            Event::ResultCheckpoint { .. } => "result_checkpoint",
            Event::Terminal { .. } => "terminal",
            Event::Resize { .. } => "resize",
            Event::RolledBack { .. } => "rolled_back",
            Event::Note { .. } => "note",
            Event::SessionEnd { .. } => "session_end",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_bytes_round_trip_in_every_encoding() {
        let random: Vec<u8> = (0u32..4096).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for bytes in [b"hello \xe2\x82\xac\n".to_vec(), vec![0u8; 32 * 1024], random, b"a\0b".to_vec()] {
            let ev = Event::terminal(1.0, Stream::Stdout, &bytes);
            let line = serde_json::to_string(&ev).unwrap();
            let back: Event = serde_json::from_str(&line).unwrap();
            assert_eq!(back.terminal_bytes().unwrap(), bytes);
        }
        let zeros = serde_json::to_string(&Event::terminal(0.0, Stream::Stdout, &[0u8; 32 * 1024])).unwrap();
        assert!(zeros.contains("\"lz4\":true") && zeros.len() < 1024, "{}", zeros.len());
    }
}
