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
/// Values masked between two result checkpoints: a result dense in masked values (a watch of
/// ConfigMaps holding hundreds of credentials each) meets the masked-values budget well before
/// its rows or bytes would bring a checkpoint (red-team round 56: one watch delivered 20,400
/// masked values past a 5,000 budget).
pub const CHECKPOINT_MASKED: u64 = 1000;

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
    /// This identity's windows on this target per masked source column, `schema.table.column`
    /// (`usage.columns`). Read only when a rule reads them, like the three below.
    pub columns: Vec<(String, Windows)>,
    /// This identity's windows on this target per content detector, by label (`usage.detectors`).
    pub detectors: Vec<(String, Windows)>,
    /// Distinct masked columns, and their tables, that had values masked in each window
    /// (`usage.sensitive`).
    pub sensitive: Sensitive,
}

/// How many distinct sensitive columns and tables an identity read on a target, per window:
/// a dump spread over many columns shows here even when each column's own count stays low.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sensitive {
    /// Masked columns, for the last minute, hour and day (`columns_1m`, `columns_1h`, `columns_1d`).
    pub columns: [u64; 3],
    /// Their tables (`tables_1m`, ...).
    pub tables: [u64; 3],
}

impl Sensitive {
    /// The distinct counts of `columns` (each `schema.table.column` with its windows).
    pub fn of(columns: &[(String, Windows)]) -> Sensitive {
        let mut out = Sensitive::default();
        for (w, (c, t)) in out.columns.iter_mut().zip(out.tables.iter_mut()).enumerate() {
            let window = |win: &Windows| [win.m1, win.h1, win.d1].get(w).copied().unwrap_or_default();
            let read: Vec<&str> = columns.iter().filter(|(_, win)| window(win).masked_values > 0).map(|(c, _)| c.as_str()).collect();
            // A bare label (a derived value whose table hoop could not name) counts no table.
            let mut tables: Vec<&str> = read.iter().filter_map(|c| c.rsplit_once('.').map(|(t, _)| t)).collect();
            tables.sort_unstable();
            tables.dedup();
            (*c, *t) = (read.len() as u64, tables.len() as u64);
        }
        out
    }
}

/// What masked a value, for the per-column and per-detector counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MaskedBy {
    /// A whole value masked by its column's rule or lineage: the source column as
    /// `schema.table.column`, or the result column's label when its table is unknown.
    Column(String),
    /// Content found by a detector, by its label (`email`, `card`, ...).
    Detector(&'static str),
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
    /// Its rows read masked values and went to the client before it ended, past what hoop holds
    /// back: an error after them would say at which row the statement failed, which a value can
    /// choose.
    pub streams_masked: bool,
}

impl ResultSoFar {
    /// Whether a checkpoint is due, the last one having been at `last`.
    pub fn checkpoint_due(&self, last: &ResultSoFar) -> bool {
        self.rows >= last.rows + CHECKPOINT_ROWS || self.bytes >= last.bytes + CHECKPOINT_BYTES || self.masked_values >= last.masked_values + CHECKPOINT_MASKED
    }

    /// This and `other` together (two results of one action).
    pub fn plus(&self, other: &ResultSoFar) -> ResultSoFar {
        ResultSoFar {
            rows: self.rows.saturating_add(other.rows),
            bytes: self.bytes.saturating_add(other.bytes),
            masked_values: self.masked_values.saturating_add(other.masked_values),
            seconds: self.seconds.max(other.seconds),
            streams_masked: self.streams_masked || other.streams_masked,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_counts_distinct_columns_and_their_tables_per_window() {
        let w = |m1: u64, h1: u64| Windows {
            m1: Counts { masked_values: m1, ..Counts::default() },
            h1: Counts { masked_values: h1, ..Counts::default() },
            d1: Counts { masked_values: h1, ..Counts::default() },
        };
        let columns = vec![
            ("public.people.email".to_string(), w(1, 1)),
            ("public.people.id".to_string(), w(0, 4)),
            ("public.cards.pin".to_string(), w(0, 2)),
            // A derived value named by its source column only: a column, no table.
            ("ssn".to_string(), w(0, 1)),
            ("public.old.gone".to_string(), w(0, 0)),
        ];
        let s = Sensitive::of(&columns);
        assert_eq!(s.columns, [1, 4, 4]);
        assert_eq!(s.tables, [1, 2, 2]);
    }
}
