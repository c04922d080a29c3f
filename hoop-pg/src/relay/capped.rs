//! Agents' writes under the written-rows ceiling (`limits.max_rows_written`): run so that a
//! write over it is never committed (see [`crate::rowcap`]).

use super::*;

impl Relay {
    /// Runs a simple query under the written-rows ceiling (see [`rowcap`]): inside hoop's own
    /// transaction when the client has none, with the client's ReadyForQuery held until the
    /// counts are in.
    pub(super) async fn capped_query(
        &self,
        frame: &Frame,
        head: Expect,
        (limit, checked, written): (u64, &[String], &Sql),
        server: &mut ConnWrite,
        out: &mut BytesMut,
        client: &mut FrameReader<ConnRead>,
    ) -> Result<(), RelayError> {
        self.send(server, out).await?;
        tokio::select! {
            _ = self.idle() => {}
            e = client.closed(MAX_BUFFERED_DURING_REVIEW) => return Err(e.into()),
        }
        let status = self.shared().status;
        let Expect::Query { action_id, started, copy, names, lineage, read, copies, rollbacks, .. } = head else { return Ok(()) };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let cap = Box::new(rowcap::Cap { limit, over: None, done: Some(tx), told: false });
        if status == b'I' {
            self.expect(Expect::Internal);
            proto::query("BEGIN").write_to(out);
        }
        self.expect(Expect::Query { action_id, started, copy, names, failed: false, lineage, results: 0, cap: Some(cap), read, copies, rollbacks });
        frame.write_to(out);
        self.send(server, out).await?;
        let outcome = tokio::select! {
            o = rx => o.map_err(|_| RelayError::Protocol("the server's answer to a capped write was lost".into()))?,
            e = client.closed(MAX_BUFFERED_DURING_REVIEW) => return Err(e.into()),
        };
        // Relations changed while it ran (it may have waited for a lock, after which the server
        // resolves its names again): if what its names denote now is not what was checked, it
        // is not committed (red-team round 21: a table renamed and a view of its name made over
        // `customers` while the agent's DELETE waited). Asked of the server after every capped
        // write, not only when this gateway saw a change: round 72 replaced a view in an open
        // transaction of another session and committed it while the write waited on its lock,
        // so the write ran through an INSTEAD OF trigger the check never saw.
        let moved = self.relations_moved(checked).await;
        // And what it wrote may now reach further than its count: a key that cascades, a
        // trigger or a rule another session committed while the write waited for its lock
        // (red-team round 100: the DELETE of one row cascaded over 3,000).
        let further = !moved && outcome.over.is_none() && self.reaches_further_now(written).await;
        // Over the ceiling, the client has its error already, in place of the write's tag (see
        // the server loop): the write is undone without a second one. (Not when the write's
        // tag came after hoop stopped its result: the client was told of the stop only.)
        let told = outcome.told;
        let refusal = match outcome.over {
            Some((tag, n)) => Some(rowcap::message(&tag, n, limit)),
            None if moved => Some(moved_message()),
            None if further => Some(further_message()),
            None => None,
        };
        if let Some(message) = &refusal {
            // The recording says why the write was undone, not only that it was.
            let _ = self.handle.record_later(&Event::Note { message: message.clone() });
        }
        match (status, refusal) {
            (b'I', Some(_)) if told => {
                self.expect(Expect::Quiet);
                proto::query("ROLLBACK").write_to(out);
            }
            (_, Some(message)) if told => {
                // Inside the client's transaction: failing it keeps the write from committing.
                self.expect(Expect::Quiet);
                proto::query(&refuse::raising_statement(&message)).write_to(out);
            }
            (b'I', Some(message)) => {
                self.expect(Expect::Internal);
                proto::query("ROLLBACK").write_to(out);
                self.expect(Expect::own_text());
                proto::query(&refuse::raising_statement(&message)).write_to(out);
            }
            (b'I', None) => {
                self.expect(Expect::Tail);
                proto::query(if outcome.failed { "ROLLBACK" } else { "COMMIT" }).write_to(out);
            }
            (_, Some(message)) => {
                // Inside the client's transaction: failing it keeps the write from committing.
                self.expect(Expect::own_text());
                proto::query(&refuse::raising_statement(&message)).write_to(out);
            }
            (_, None) => self.to_client(&[outcome.ready]).await?,
        }
        self.send(server, out).await
    }

    /// Holds a Sync until every capped Execute before it has its count, and fails the
    /// transaction first if one wrote too many rows.
    pub(super) async fn hold_sync_for_counts(&self, server: &mut ConnWrite, out: &mut BytesMut, client: &mut FrameReader<ConnRead>) -> Result<(), RelayError> {
        // Held before the Flush: an answer to it marks the batch as failed for this Sync, not
        // for the client's next batch.
        self.shared().sync_held = true;
        // Flush makes the server send what it has without waiting for the Sync.
        proto::raw(b'H', &[]).write_to(out);
        let sent = self.send(server, out).await;
        let waited = match sent {
            Ok(()) => tokio::select! {
                _ = self.answered_until(|sh| sh.stopped_execute.is_none() && !sh.expect.iter().any(|e| matches!(e, Expect::Execute { capped: true, .. }))) => Ok(()),
                e = client.closed(MAX_BUFFERED_DURING_REVIEW) => Err(e.into()),
            },
            Err(e) => Err(e),
        };
        let failed = {
            let mut sh = self.shared();
            sh.sync_held = false;
            // This Sync ends the batch, whatever failed in it before the hold began.
            sh.batch_failed = false;
            sh.cap_told = false;
            std::mem::take(&mut sh.failed_while_held)
        };
        waited?;
        if failed {
            // The server failed the batch: nothing of it commits, and the caller's Sync ends it.
            return Ok(());
        }
        self.refuse_over_ceiling(out).await
    }

    /// Before the Sync of a batch with capped writes: hoop's refusal, run on the server, when
    /// one wrote too many rows or its relations moved while it ran (the client may have its
    /// error already: the server loop drops the refusal's answer then).
    pub(super) async fn refuse_over_ceiling(&self, out: &mut BytesMut) -> Result<(), RelayError> {
        let (over, read) = {
            let mut sh = self.shared();
            (sh.cap_over.take(), std::mem::take(&mut sh.capped_read))
        };
        if let (Some((tag, n)), Some(limit)) = (over, self.max_rows_written) {
            let message = rowcap::message(&tag, n, limit);
            let _ = self.handle.record_later(&Event::Note { message: message.clone() });
            self.run_refusal(out, &message);
            return Ok(());
        }
        // As for a simple query (see `capped_query`): relations that changed while a write ran
        // and now denote others fail the batch before its Sync commits it.
        for sql in read {
            let message = if !sql.tables.is_empty() && self.relations_moved(&sql.tables).await {
                moved_message()
            } else if self.reaches_further_now(&sql).await {
                further_message()
            } else {
                continue;
            };
            let _ = self.handle.record_later(&Event::Note { message: message.clone() });
            self.run_refusal(out, &message);
            break;
        }
        Ok(())
    }

    /// hoop's refusal of a statement that commits the client's transaction block, or takes a
    /// savepoint in it, while a capped write of it, run in parts, has not reported its count.
    pub(super) fn uncounted_tx_control(&self, sql: &Sql) -> Option<String> {
        // (Also in a block the server failed: the status hoop last read may be stale, and a
        // `ROLLBACK TO SAVEPOINT` in the same batch would make the COMMIT commit.)
        if self.shared().uncounted.is_empty() {
            return None;
        }
        if rowcap::commits(sql) {
            return Some(format!(
                "hoop: a write of this transaction returned its rows in parts (a row-limited Execute, as with a JDBC fetch size) and its last part has not come, so how many rows it wrote is not known and the transaction cannot commit while agents' writes are limited; fetch all of its rows first (rule {})",
                rowcap::RULE
            ));
        }
        // The write ran whole at its first part: hoop's refusal of it, when a later part shows
        // it over the ceiling, would fail only what came after a savepoint taken between the
        // parts, and `ROLLBACK TO SAVEPOINT` would undo the refusal, not the write (red-team
        // Postgres round 123 committed 60,000 rows so).
        if sql.kinds.iter().any(|k| k == "savepoint") {
            return Some(format!(
                "hoop: a write of this transaction returned its rows in parts and its last part has not come: no savepoint can be taken until it has (rule {})",
                rowcap::RULE
            ));
        }
        None
    }

    /// Whether what a capped write changed, asked of the server after it ran, reaches rows its
    /// count leaves out (a foreign key that cascades, a trigger, a rule); a catalog that cannot
    /// tell says yes.
    async fn reaches_further_now(&self, sql: &Sql) -> bool {
        if sql.written.is_empty() {
            return false;
        }
        let (deletes, updates) = deletes_and_updates(sql);
        !matches!(self.catalog.writes_reach_further(&sql.written, deletes, updates, rowcap::inserts_rows(sql)).await, Ok(None))
    }

    /// A write under the written-rows ceiling to a relation whose foreign keys cascade, or that
    /// has triggers or rules: the server's count leaves out the rows those change, so hoop could
    /// not hold the ceiling. The refusal, also when the catalog cannot tell (fail closed).
    pub(super) async fn uncounted_writes(&self, sql: &Sql, own: usize) -> Option<String> {
        // Keys, triggers and rules not yet committed are not in the catalog hoop reads (red-
        // team round 100: an `ALTER TABLE … ON DELETE CASCADE` in the same text, or earlier in
        // the same transaction, and the DELETE of one row cascaded over 3,000).
        if changes_relations(sql) {
            return Some(format!(
                "hoop: a write cannot share its text with a change of relations while agents' writes are limited (keys, triggers and rules it makes are not committed where hoop reads them); send them separately (rule {})",
                rowcap::RULE
            ));
        }
        if self.shared().schema_uncommitted {
            return Some(schema_uncommitted_message());
        }
        // The statement's own relations, not those its foreign keys tie it to (which its
        // write reads, but does not change unless its own keys cascade).
        let tables = sql.tables.get(..own).unwrap_or(&sql.tables);
        let (deletes, updates) = deletes_and_updates(sql);
        // One catalog query names every relation: past a bound, the write is refused rather
        // than the catalog asked an unbounded question.
        if tables.len() > MAX_CHECKED_RELATIONS {
            return Some(format!(
                "hoop: a write naming more than {MAX_CHECKED_RELATIONS} relations cannot be checked for what its count leaves out while agents' writes are limited (rule {})",
                rowcap::RULE
            ));
        }
        match self.catalog.writes_reach_further(tables, deletes, updates, false).await {
            Ok(None) => None,
            Ok(Some(t)) => Some(format!(
                "hoop: a write to {t} also changes rows its server count leaves out (a foreign key that cascades, a trigger or a rule), so it cannot run while agents' writes are limited (rule {})",
                rowcap::RULE
            )),
            Err(e) => Some(format!("hoop: could not tell whether the write changes more rows than its count: {e} (rule {})", rowcap::RULE)),
        }
    }

    /// An insert (or `COPY … FROM`) while agents' writes are limited into a relation whose
    /// triggers or rules fire on insert: what they change is in no count the ceiling reads (red-
    /// team round 98: an insert trigger deleted rows of another table, uncounted). The
    /// refusal (without its rule's name), also when the catalog cannot tell (fail closed).
    pub(super) async fn uncounted_inserts(&self, sql: &Sql) -> Option<String> {
        if self.max_rows_written.is_none() || !rowcap::inserts_rows(sql) || sql.written.is_empty() {
            return None;
        }
        if sql.written.len() > MAX_CHECKED_RELATIONS {
            return Some(format!("hoop: a write naming more than {MAX_CHECKED_RELATIONS} relations cannot be checked for what its count leaves out while agents' writes are limited"));
        }
        match self.catalog.inserts_reach_further(&sql.written).await {
            Ok(None) => None,
            Ok(Some(t)) => Some(format!(
                "hoop: {t} has triggers or rules that run on insert, and what they change is in no count, so an insert into it cannot run while agents' writes are limited"
            )),
            Err(e) => Some(format!("hoop: could not tell whether the insert changes rows beyond its own: {e}")),
        }
    }

    /// Whether any of `checked` (a write's relations as its check resolved them) now denotes,
    /// asked of the server, a relation that was not among them; a catalog that cannot tell
    /// says yes. When one moved, what was learnt of relations is forgotten.
    pub(super) async fn relations_moved(&self, checked: &[String]) -> bool {
        for t in checked {
            match self.catalog.resolve_now(t).await {
                Ok(now) if now.iter().all(|n| checked.contains(n)) => {}
                _ => {
                    self.forget_relations();
                    return true;
                }
            }
        }
        false
    }
}

/// Whether `sql` deletes and whether it updates rows (a MERGE may do both).
fn deletes_and_updates(sql: &Sql) -> (bool, bool) {
    let does = |k: &[&str]| sql.kinds.iter().any(|x| k.contains(&x.as_str()));
    (does(&["delete", "merge"]), does(&["update", "merge"]))
}

/// hoop's refusal of a capped write in a transaction that changed relations and has not ended.
pub(super) fn schema_uncommitted_message() -> String {
    format!(
        "hoop: this transaction changed relations, and until it commits hoop cannot read their keys, triggers and rules, so no write can run in it while agents' writes are limited; commit the change first (rule {})",
        rowcap::RULE
    )
}
