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
    /// What an action produced: command tag, row count, duration.
    ActionResult {
        /// The action this result belongs to.
        action_id: u64,
        /// Protocol status (Postgres command tag, exit status, HTTP status).
        status: String,
        /// Rows or items returned.
        rows: u64,
        /// Wall time, microseconds.
        duration_us: u64,
        /// Error text if the upstream refused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Masked result rows of an action (capped per action).
    Rows {
        /// The action the rows belong to.
        action_id: u64,
        /// Column names.
        columns: Vec<String>,
        /// Masked values, NULL as `null`.
        rows: Vec<Vec<Option<String>>>,
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

impl Event {
    /// A terminal event for `bytes`: kept as text when they are text, else base64, so binary
    /// output is recorded exactly and compactly.
    pub fn terminal(t: f64, stream: Stream, bytes: &[u8]) -> Self {
        use base64::Engine;
        // NUL is valid UTF-8 but would cost six bytes of JSON each: such output is binary too.
        match std::str::from_utf8(bytes).ok().filter(|_| !bytes.contains(&0)) {
            Some(text) => Event::Terminal { t, stream, data: text.to_string(), base64: false },
            None => Event::Terminal {
                t,
                stream,
                data: base64::engine::general_purpose::STANDARD.encode(bytes),
                base64: true,
            },
        }
    }

    /// The event's `type` tag as stored.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::SessionStart { .. } => "session_start",
            Event::Action { .. } => "action",
            Event::ReviewRequested { .. } => "review_requested",
            Event::ReviewDecided { .. } => "review_decided",
            Event::ActionResult { .. } => "action_result",
            Event::Rows { .. } => "rows",
            Event::Terminal { .. } => "terminal",
            Event::Resize { .. } => "resize",
            Event::Note { .. } => "note",
            Event::SessionEnd { .. } => "session_end",
        }
    }
}
