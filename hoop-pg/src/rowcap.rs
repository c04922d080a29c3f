//! The ceiling on rows an agent's statement may write (`limits.max_rows_written`): a DELETE,
//! UPDATE or MERGE that touches more rows is not committed, however its WHERE is spelled.
//!
//! hoop cannot know beforehand how many rows a statement touches, so it lets the server run it
//! inside a transaction it controls and reads the count from the server's CommandComplete:
//! - a simple query outside a transaction runs between hoop's own `BEGIN` and a `COMMIT` (or
//!   `ROLLBACK`) that hoop sends once it has seen the counts;
//! - inside the client's transaction, an excess makes hoop fail the transaction (the client's
//!   later COMMIT rolls back);
//! - in the extended protocol, hoop holds the client's Sync until the counts are in, and on
//!   an excess fails the implicit or explicit transaction before passing the Sync on.
//!
//! The client sees the statement's own result, then hoop's error naming the count and the limit.

use hoop_core::action::Sql;

/// The gateway's rule name for the ceiling.
pub const RULE: &str = "hoop-max-rows-written";

/// Whether `sql` writes existing rows (and so falls under the ceiling).
pub fn writes_rows(sql: &Sql) -> bool {
    sql.kinds.iter().any(|k| matches!(k.as_str(), "delete" | "update" | "merge"))
}

/// Whether `sql` inserts rows (`INSERT`, `COPY … FROM`) without writing existing ones: not
/// under the ceiling itself, but what its triggers and rules do must be countable.
pub fn inserts_rows(sql: &Sql) -> bool {
    !writes_rows(sql) && (sql.kinds.iter().any(|k| k == "insert") || sql.copy == "from")
}

/// Whether `sql` commits the session's transaction block (`COMMIT`, `END`, `COMMIT AND
/// CHAIN`, `PREPARE TRANSACTION`).
pub fn commits(sql: &Sql) -> bool {
    sql.kinds.iter().any(|k| matches!(k.as_str(), "commit" | "prepare_transaction"))
}

/// Whether `sql` controls transactions itself: hoop could not keep the write uncommitted.
pub fn controls_transactions(sql: &Sql) -> bool {
    sql.kinds.iter().any(|k| {
        matches!(
            k.as_str(),
            "begin" | "commit" | "rollback" | "savepoint" | "release" | "rollback_to" | "prepare_transaction" | "commit_prepared" | "rollback_prepared"
        )
    })
}

/// Rows written according to a CommandComplete tag (`DELETE 5`, `UPDATE 5`, `MERGE 5`,
/// `INSERT 0 5` — an upsert counts the rows it updated among them), if it is a write.
pub fn rows_written(tag: &str) -> Option<u64> {
    tag_count(tag).filter(|(verb, _)| matches!(*verb, "DELETE" | "UPDATE" | "MERGE" | "INSERT")).map(|(_, n)| n)
}

/// A CommandComplete tag's command and the row count it ends with (`INSERT 0 5` is
/// `("INSERT", 5)`), if it has one.
pub fn tag_count(tag: &str) -> Option<(&str, u64)> {
    let mut words = tag.split_ascii_whitespace();
    let verb = words.next()?;
    Some((verb, words.last()?.parse().ok()?))
}

/// The count of a write that reports none: run through a row-limited Execute, its portal
/// suspended before the CommandComplete that carries the count.
pub const UNCOUNTED: u64 = u64::MAX;

/// The refusal message for `rows` written by `tag` over `limit`.
pub fn message(tag: &str, rows: u64, limit: u64) -> String {
    if rows == UNCOUNTED {
        // (Red-team round 99: this said "DELETE 18446744073709551615" of a 5-row UPDATE.)
        return format!(
            "hoop: a write run through a row-limited Execute reports no row count (its portal was suspended), so it may have touched more than the {limit} rows an agent may write in one statement; it was not committed. Fetch a write's RETURNING rows in one Execute (rule {RULE})"
        );
    }
    format!(
        "hoop: the statement touched {rows} rows ({tag}), more than the {limit} an agent may write in one statement; it was not committed (rule {RULE})"
    )
}

/// What the server answered to a capped simple query.
#[derive(Debug)]
pub struct Outcome {
    /// The first write that went over the limit: its tag and count.
    pub over: Option<(String, u64)>,
    /// Whether the text failed on the server.
    pub failed: bool,
    /// Whether the client got hoop's refusal already, in place of the write's command tag.
    pub told: bool,
    /// The ReadyForQuery hoop held back.
    pub ready: crate::frame::Frame,
}

/// A simple query running under the ceiling.
#[derive(Debug)]
pub struct Cap {
    /// Rows one statement may write.
    pub limit: u64,
    /// The first write over the limit.
    pub over: Option<(String, u64)>,
    /// Where the outcome goes when the query's ReadyForQuery arrives.
    pub done: Option<tokio::sync::oneshot::Sender<Outcome>>,
    /// The client got hoop's refusal in place of the tag of the write over the limit.
    pub told: bool,
}

impl Cap {
    /// Notes a CommandComplete tag.
    pub fn saw(&mut self, tag: &str) {
        if self.over.is_none()
            && let Some(n) = rows_written(tag).filter(|n| *n > self.limit)
        {
            self.over = Some((tag.to_string(), n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(rows_written("DELETE 12"), Some(12));
        assert_eq!(rows_written("INSERT 0 3"), Some(3));
        assert_eq!(rows_written("MERGE 7"), Some(7));
        assert_eq!(rows_written("SELECT 9"), None);
        assert_eq!(rows_written("COMMIT"), None);
        let (tx, _rx) = tokio::sync::oneshot::channel();
        let mut c = Cap { limit: 5, over: None, done: Some(tx), told: false };
        c.saw("UPDATE 5");
        assert!(c.over.is_none());
        c.saw("DELETE 6");
        c.saw("DELETE 60");
        assert_eq!(c.over, Some(("DELETE 6".into(), 6)));
        assert!(controls_transactions(&hoop_core::action::sql::analyze("BEGIN; DELETE FROM t; COMMIT")));
        assert!(writes_rows(&hoop_core::action::sql::analyze("WITH d AS (DELETE FROM t RETURNING 1) SELECT 1")));
    }
}
