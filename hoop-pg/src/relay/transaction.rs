//! What the server's open transaction would undo, followed by the server's own answers: the
//! actions whose effects it holds, and, when it ends in a rollback, the record that what they
//! changed did not last (red-team round 55: an insert of a batch whose next statement failed
//! was recorded as `INSERT 0 1`, though the server rolled it back).
//!
//! Only the server's answers move it: command tags, errors and the status of ReadyForQuery.
//! A `ROLLBACK` tag is ambiguous (`ROLLBACK TO SAVEPOINT` has the same tag): the status that
//! follows decides, `I` for a whole rollback, `T` for a savepoint's (part of the transaction
//! undone, which the recorded `ROLLBACK TO` says itself).

/// Action ids listed per rollback; past it only their number.
const MAX_LISTED: usize = 256;

/// A transaction the server rolled back: the actions that ran in it and why it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RolledBack {
    /// The actions (their first [`MAX_LISTED`]), in the order their results ended.
    pub(crate) action_ids: Vec<u64>,
    /// Actions past the listed ones.
    pub(crate) more: u64,
    /// What ended the transaction.
    pub(crate) reason: &'static str,
}

/// The session's open transaction, as the server's answers tell it.
#[derive(Debug, Default)]
pub(crate) struct Undoable {
    ids: Vec<u64>,
    more: u64,
    /// An explicit transaction block is open (a `BEGIN`, or ReadyForQuery said `T`/`E`).
    in_block: bool,
    /// The block failed: it can only end in a rollback.
    failed: bool,
    /// A `ROLLBACK` tag came since the last ReadyForQuery.
    rollback_seen: bool,
}

impl Undoable {
    /// A command tag the server sent, for `action_id` (`None`: hoop's own transaction control,
    /// or a statement whose answer was dropped).
    pub(crate) fn tag(&mut self, tag: &str, action_id: Option<u64>) {
        let word = |w: &str| tag == w || tag.strip_prefix(w).is_some_and(|r| r.starts_with(' '));
        if word("BEGIN") || word("START TRANSACTION") {
            self.in_block = true;
        } else if tag == "COMMIT" || tag == "PREPARE TRANSACTION" {
            // (A COMMIT of a failed block is answered `ROLLBACK`, so `COMMIT` is a commit; a
            // prepared transaction is no longer the session's to undo.)
            self.clear();
        } else if tag == "ROLLBACK" {
            self.rollback_seen = true;
        } else if !NO_EFFECT.iter().any(|w| word(w))
            && let Some(id) = action_id
            && self.ids.last() != Some(&id)
        {
            if self.ids.len() < MAX_LISTED {
                self.ids.push(id);
            } else {
                self.more += 1;
            }
        }
    }

    /// The server reported an error: outside a block, the implicit transaction it ran in (the
    /// rest of a simple query's text, or of an extended-protocol batch up to Sync) is rolled
    /// back now; inside one, the block has failed.
    pub(crate) fn error(&mut self) -> Option<RolledBack> {
        if self.in_block {
            self.failed = true;
            return None;
        }
        self.take("an error ended the implicit transaction they ran in")
    }

    /// ReadyForQuery with transaction `status`.
    pub(crate) fn ready(&mut self, status: u8) -> Option<RolledBack> {
        match status {
            b'T' => {
                // A `ROLLBACK TO SAVEPOINT`, if a rollback came: the block goes on.
                (self.in_block, self.failed, self.rollback_seen) = (true, false, false);
                None
            }
            b'E' => {
                (self.in_block, self.failed, self.rollback_seen) = (true, true, false);
                None
            }
            _ => {
                let reason = if self.rollback_seen {
                    Some("ROLLBACK")
                } else if self.failed {
                    Some("the transaction had failed")
                } else {
                    None
                };
                let rolled = reason.and_then(|r| self.take(r));
                self.clear();
                rolled
            }
        }
    }

    /// The session ended: a transaction still open is rolled back by the server.
    pub(crate) fn session_end(&mut self) -> Option<RolledBack> {
        if !self.in_block {
            return None;
        }
        self.take("the session ended inside the transaction")
    }

    fn take(&mut self, reason: &'static str) -> Option<RolledBack> {
        let rolled = (!self.ids.is_empty()).then(|| RolledBack { action_ids: std::mem::take(&mut self.ids), more: self.more, reason });
        self.more = 0;
        rolled
    }

    fn clear(&mut self) {
        *self = Undoable::default();
    }
}

/// Command tags of statements that change nothing a rollback would undo.
const NO_EFFECT: &[&str] = &["SHOW", "FETCH", "MOVE", "SAVEPOINT", "RELEASE", "DECLARE CURSOR", "CLOSE CURSOR", "DEALLOCATE", "PREPARE", "COMMIT PREPARED", "ROLLBACK PREPARED"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_outside_a_block_rolls_back_what_ran_before_it() {
        let mut u = Undoable::default();
        u.tag("INSERT 0 1", Some(3));
        u.tag("INSERT 0 5", Some(4));
        let r = u.error().unwrap();
        assert_eq!(r.action_ids, vec![3, 4]);
        assert_eq!(u.ready(b'I'), None);
    }

    #[test]
    fn a_commit_inside_a_text_keeps_what_came_before() {
        let mut u = Undoable::default();
        u.tag("INSERT 0 30", Some(2));
        u.tag("COMMIT", Some(2));
        assert_eq!(u.error(), None);
    }

    #[test]
    fn a_block_ended_by_rollback_or_failure_is_rolled_back_and_a_savepoint_is_not() {
        let mut u = Undoable::default();
        u.tag("BEGIN", Some(1));
        assert_eq!(u.ready(b'T'), None);
        u.tag("DELETE 4", Some(2));
        u.tag("ROLLBACK", Some(3));
        assert_eq!(u.ready(b'T'), None, "ROLLBACK TO SAVEPOINT");
        u.tag("UPDATE 1", Some(4));
        assert_eq!(u.error(), None, "inside a block");
        assert_eq!(u.ready(b'E'), None);
        u.tag("ROLLBACK", Some(5));
        let r = u.ready(b'I').unwrap();
        assert_eq!((r.action_ids, r.reason), (vec![2, 4], "ROLLBACK"));
        u.tag("BEGIN", None);
        u.tag("INSERT 0 1", Some(6));
        assert_eq!(u.ready(b'T'), None);
        assert_eq!(u.session_end().unwrap().action_ids, vec![6]);
    }

    #[test]
    fn a_committed_transaction_leaves_nothing_behind() {
        let mut u = Undoable::default();
        u.tag("INSERT 0 1", Some(1));
        assert_eq!(u.ready(b'I'), None);
        assert_eq!(u.error(), None);
        for id in 0..300 {
            u.tag("INSERT 0 1", Some(id));
        }
        let r = u.error().unwrap();
        assert_eq!((r.action_ids.len(), r.more), (MAX_LISTED, 300 - MAX_LISTED as u64));
    }
}
