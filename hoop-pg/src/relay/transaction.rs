//! What the server's open transaction would undo, followed by the server's own answers: the
//! actions whose effects it holds, and, when it ends in a rollback, the record that what they
//! changed did not last (red-team round 55: an insert of a batch whose next statement failed
//! was recorded as `INSERT 0 1`, though the server rolled it back).
//!
//! Only the server's answers move it: command tags, errors and the status of ReadyForQuery.
//! A `ROLLBACK` tag is ambiguous (`ROLLBACK TO SAVEPOINT` has the same tag as `ROLLBACK AND
//! CHAIN`, and both leave a transaction open): what the statement's text holds decides, and
//! when it holds both, the status that follows (`I` for a whole rollback, `T` for a
//! savepoint's, part of the transaction undone, which the recorded `ROLLBACK TO` says itself).

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
    /// One of the actions committed part of its text first (a `COMMIT` inside it): only what
    /// it ran after that was undone (red-team round 57).
    pub(crate) after_commit: Option<u64>,
}

/// What a statement's `ROLLBACK` tag undoes, from the kinds of statement its text holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Rollbacks {
    /// The text holds both kinds, or the statement is not known: the status after it decides.
    #[default]
    Unknown,
    /// `ROLLBACK` (`AND CHAIN` too, `ABORT`): the whole transaction.
    Whole,
    /// `ROLLBACK TO SAVEPOINT`: part of it.
    Savepoint,
}

impl Rollbacks {
    /// How a `ROLLBACK` tag of the statement with these kinds is read.
    pub(crate) fn of(kinds: &[String]) -> Self {
        let has = |k: &str| kinds.iter().any(|x| x == k);
        match (has("rollback"), has("rollback_to")) {
            (true, false) => Rollbacks::Whole,
            (false, true) => Rollbacks::Savepoint,
            _ => Rollbacks::Unknown,
        }
    }
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
    /// A `ROLLBACK` tag whose kind the text did not tell came since the last ReadyForQuery.
    rollback_seen: bool,
    /// The action a `COMMIT` tag came for since the last ReadyForQuery.
    committed_in: Option<u64>,
}

impl Undoable {
    /// Whether an explicit transaction block is surely open, as the server's answers tell: not
    /// after a `ROLLBACK` tag whose kind its text left open (a `COMMIT` of a failed block is
    /// answered `ROLLBACK` and ends it).
    pub(crate) fn in_block(&self) -> bool {
        self.in_block && !self.rollback_seen
    }

    /// A command tag the server sent, for `action_id` (`None`: hoop's own transaction control,
    /// or a statement whose answer was dropped), whose text's rollbacks are `rollbacks`.
    pub(crate) fn tag(&mut self, tag: &str, action_id: Option<u64>, rollbacks: Rollbacks) -> Option<RolledBack> {
        let word = |w: &str| tag == w || tag.strip_prefix(w).is_some_and(|r| r.starts_with(' '));
        if word("BEGIN") || word("START TRANSACTION") {
            self.in_block = true;
        } else if tag == "COMMIT" || tag == "PREPARE TRANSACTION" {
            // (A COMMIT of a failed block is answered `ROLLBACK`, so `COMMIT` is a commit; a
            // prepared transaction is no longer the session's to undo.)
            self.clear();
            self.committed_in = action_id;
        } else if tag == "ROLLBACK" {
            match rollbacks {
                Rollbacks::Whole => {
                    // (`AND CHAIN` opens the next one at once: the status after it says so.)
                    let rolled = self.take("ROLLBACK");
                    let committed_in = self.committed_in;
                    self.clear();
                    self.committed_in = committed_in;
                    return rolled;
                }
                Rollbacks::Savepoint => {}
                Rollbacks::Unknown => self.rollback_seen = true,
            }
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
        None
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
                (self.in_block, self.failed, self.rollback_seen, self.committed_in) = (true, false, false, None);
                None
            }
            b'E' => {
                (self.in_block, self.failed, self.rollback_seen, self.committed_in) = (true, true, false, None);
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

    /// The session ended: what ran since the transaction last committed never will (an open
    /// block, or an extended-protocol batch never synced), and the server rolls it back.
    pub(crate) fn session_end(&mut self) -> Option<RolledBack> {
        self.take("the session ended before its transaction committed")
    }

    /// The actions a rollback would undo now, and none are left.
    pub(crate) fn pending(&mut self) -> (Vec<u64>, u64) {
        let ids = std::mem::take(&mut self.ids);
        (ids, std::mem::take(&mut self.more))
    }

    fn take(&mut self, reason: &'static str) -> Option<RolledBack> {
        let after_commit = self.committed_in.filter(|id| self.ids.contains(id));
        let rolled = (!self.ids.is_empty()).then(|| RolledBack { action_ids: std::mem::take(&mut self.ids), more: self.more, reason, after_commit });
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
        u.tag("INSERT 0 1", Some(3), Rollbacks::Unknown);
        u.tag("INSERT 0 5", Some(4), Rollbacks::Unknown);
        let r = u.error().unwrap();
        assert_eq!(r.action_ids, vec![3, 4]);
        assert_eq!(u.ready(b'I'), None);
    }

    #[test]
    fn a_commit_inside_a_text_keeps_what_came_before() {
        let mut u = Undoable::default();
        u.tag("INSERT 0 30", Some(2), Rollbacks::Unknown);
        u.tag("COMMIT", Some(2), Rollbacks::Unknown);
        assert_eq!(u.error(), None);
    }

    #[test]
    fn a_block_ended_by_rollback_or_failure_is_rolled_back_and_a_savepoint_is_not() {
        let mut u = Undoable::default();
        u.tag("BEGIN", Some(1), Rollbacks::Unknown);
        assert_eq!(u.ready(b'T'), None);
        u.tag("DELETE 4", Some(2), Rollbacks::Unknown);
        u.tag("ROLLBACK", Some(3), Rollbacks::Unknown);
        assert_eq!(u.ready(b'T'), None, "ROLLBACK TO SAVEPOINT");
        u.tag("UPDATE 1", Some(4), Rollbacks::Unknown);
        assert_eq!(u.error(), None, "inside a block");
        assert_eq!(u.ready(b'E'), None);
        u.tag("ROLLBACK", Some(5), Rollbacks::Unknown);
        let r = u.ready(b'I').unwrap();
        assert_eq!((r.action_ids, r.reason), (vec![2, 4], "ROLLBACK"));
        u.tag("BEGIN", None, Rollbacks::Unknown);
        u.tag("INSERT 0 1", Some(6), Rollbacks::Unknown);
        assert_eq!(u.ready(b'T'), None);
        assert_eq!(u.session_end().unwrap().action_ids, vec![6]);
    }

    #[test]
    fn a_rollback_and_chain_is_a_rollback_and_a_commit_inside_a_text_is_said() {
        let mut u = Undoable::default();
        u.tag("BEGIN", Some(1), Rollbacks::Unknown);
        u.tag("INSERT 0 1", Some(2), Rollbacks::Unknown);
        let r = u.tag("ROLLBACK", Some(3), Rollbacks::Whole).unwrap();
        assert_eq!(r.action_ids, vec![2]);
        assert_eq!(u.ready(b'T'), None, "AND CHAIN: the next transaction is open");
        u.tag("INSERT 0 1", Some(4), Rollbacks::Unknown);
        u.tag("COMMIT", Some(5), Rollbacks::Unknown);
        assert_eq!(u.ready(b'I'), None);
        // `insert; commit; insert; select 1/0` in one text (action 6).
        u.tag("INSERT 0 1", Some(6), Rollbacks::Unknown);
        u.tag("COMMIT", Some(6), Rollbacks::Unknown);
        u.tag("INSERT 0 1", Some(6), Rollbacks::Unknown);
        let r = u.error().unwrap();
        assert_eq!((r.action_ids, r.after_commit), (vec![6], Some(6)));
        // A batch never synced: rolled back when the session ends.
        assert_eq!(u.ready(b'I'), None);
        u.tag("INSERT 0 1", Some(7), Rollbacks::Unknown);
        assert_eq!(u.session_end().unwrap().action_ids, vec![7]);
    }

    #[test]
    fn a_committed_transaction_leaves_nothing_behind() {
        let mut u = Undoable::default();
        u.tag("INSERT 0 1", Some(1), Rollbacks::Unknown);
        assert_eq!(u.ready(b'I'), None);
        assert_eq!(u.error(), None);
        for id in 0..300 {
            u.tag("INSERT 0 1", Some(id), Rollbacks::Unknown);
        }
        let r = u.error().unwrap();
        assert_eq!((r.action_ids.len(), r.more), (MAX_LISTED, 300 - MAX_LISTED as u64));
    }
}
