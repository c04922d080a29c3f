//! What callers have read and done lately, counted where the data flows, so that rules can
//! judge an action by what came before it (`usage`) and a result while it streams (`result`).
//!
//! - [`book`]: sliding-window counters (a minute, an hour, a day) per identity and per identity
//!   and target, behind the [`UsageStore`] trait; the in-process [`UsageBook`] is bounded and
//!   persisted to a file so that budgets hold across restarts.
//! - [`ledger`]: recent deletes by resource and namespace (the Kubernetes bulk-delete count).
//!
//! Adapters never touch either: the gate fills [`Usage`] into an action before rules see it,
//! counts the action once it is let through, and adds what its result returned at each
//! checkpoint and at its end.

pub mod book;
pub mod ledger;

pub use book::{Counts, UsageBook, UsageError, UsageStore, Windows};
pub use ledger::{Ledger, WINDOW};

/// Rows (or objects) returned between two result checkpoints.
pub const CHECKPOINT_ROWS: u64 = 1000;
/// Bytes returned between two result checkpoints.
pub const CHECKPOINT_BYTES: u64 = 1 << 20;

/// Counts visible to rules as `usage` when an action is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Deletes of the same Kubernetes resource in the same namespace by this identity on this
    /// target within [`WINDOW`] (`usage.deletes`), this one not included.
    pub deletes: u64,
    /// The same, within this session (`usage.session_deletes`).
    pub session_deletes: u64,
    /// This identity's windows, every target (`usage.identity`).
    pub identity: Windows,
    /// This identity's windows on this target (`usage.target`).
    pub target: Windows,
    /// This identity's windows per table this SQL statement reads, by the names in
    /// `action.sql.tables` (`usage.tables`).
    pub tables: Vec<(String, Windows)>,
}

/// What a result has returned so far, visible to rules as `result` at its checkpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultSoFar {
    /// Rows, objects or (for a command) zero.
    pub rows: u64,
    /// Bytes sent to the client.
    pub bytes: u64,
    /// Values masked in it.
    pub masked_values: u64,
    /// Seconds since it started.
    pub seconds: u64,
}

impl ResultSoFar {
    /// Whether a checkpoint is due, the last one having been at `last`.
    pub fn checkpoint_due(&self, last: &ResultSoFar) -> bool {
        self.rows >= last.rows + CHECKPOINT_ROWS || self.bytes >= last.bytes + CHECKPOINT_BYTES
    }

    /// This and `other` together (two results of one action).
    pub fn plus(&self, other: &ResultSoFar) -> ResultSoFar {
        ResultSoFar {
            rows: self.rows.saturating_add(other.rows),
            bytes: self.bytes.saturating_add(other.bytes),
            masked_values: self.masked_values.saturating_add(other.masked_values),
            seconds: self.seconds.max(other.seconds),
        }
    }

    /// What was added since `earlier`, as counts.
    pub fn since(&self, earlier: &ResultSoFar) -> Counts {
        Counts {
            rows: self.rows.saturating_sub(earlier.rows),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            masked_values: self.masked_values.saturating_sub(earlier.masked_values),
            ..Counts::default()
        }
    }
}
