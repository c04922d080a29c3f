//! A statement's result as it streams: rows and bytes counted against budgets, checkpoints
//! that may pause it for review, rows of masked values held back until it ends, and the
//! record of how it ended.

use super::*;

/// The status recorded for a statement the server skipped after an error in its batch.
const SKIPPED: &str = "SKIPPED";

/// Why the statements of a text or batch after a write over the written-rows ceiling have no
/// answer: the server may have run them (they were sent before the count was in), and hoop's
/// refusal of the write undid them.
pub(super) const UNDONE_WITH_CEILING: &str = "not answered: an earlier write of its text or batch went over the written-rows ceiling, and whatever this ran was undone with it";

/// Portals of one transaction block whose capped writes may wait for their count; past it, a
/// suspended capped write is refused at once.
const MAX_UNCOUNTED: usize = 64;

/// Who failed a statement, which decides what becomes of the rest of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FailedBy {
    /// The server: it skips the rest of the batch, and its transaction is failed.
    Server,
    /// hoop, midway through the statement's result (a cancel is in flight).
    Gateway,
    /// hoop, at a capped write's count over the ceiling: the server ran the write and fails
    /// nothing until hoop's refusal runs before the batch's Sync.
    Ceiling,
}

/// Result rows being counted and sampled for the recording.
pub(super) struct ResultAcc {
    pub(super) action_id: Option<u64>,
    pub(super) started: Instant,
    pub(super) plan: Option<Arc<RowPlan>>,
    pub(super) rows: u64,
    /// Bytes of rows sent to the client, and values masked in them.
    pub(super) bytes: u64,
    pub(super) masked_values: u64,
    /// Its rows went out past what is held back for a statement reading masked values.
    pub(super) streams_masked: bool,
    /// The masked values by column and detector, not yet counted into usage.
    pub(super) masked_by: crate::mask::MaskTally,
    /// Bytes and masked values already added to the server loop's [`Tally`].
    pub(super) counted_bytes: u64,
    pub(super) counted_masked: u64,
    pub(super) sample: Vec<Vec<Option<String>>>,
    pub(super) sample_bytes: usize,
}

/// Rows and bytes one action's results returned since its last checkpoint.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) action: u64,
    pub(super) rows: u64,
    pub(super) bytes: u64,
    pub(super) masked: u64,
}

/// A result that ended in the output not yet written to the client: recorded once that output
/// is written, so the recording stays off the client's latency path.
pub(super) struct Finished {
    pub(super) acc: ResultAcc,
    pub(super) tag: String,
    pub(super) error: Option<String>,
    pub(super) duration_us: u64,
}

impl ResultAcc {
    pub(super) fn new(action_id: Option<u64>, started: Instant, plan: Option<Arc<RowPlan>>) -> Self {
        ResultAcc { action_id, started, plan, rows: 0, bytes: 0, masked_values: 0, streams_masked: false, masked_by: Default::default(), counted_bytes: 0, counted_masked: 0, sample: Vec::new(), sample_bytes: 0 }
    }

    pub(super) fn so_far(&self) -> ResultSoFar {
        ResultSoFar { rows: self.rows, bytes: self.bytes, masked_values: self.masked_values, seconds: self.started.elapsed().as_secs(), streams_masked: self.streams_masked }
    }
}

impl Relay {
    /// Whether `out` is held back for a statement reading masked values (see
    /// [`HOLD_MASKED_ROWS`]); past the bound, or once its rows went anyway (a checkpoint
    /// released them), it is not, and this statement's rows are no longer held.
    ///
    /// Past the bound, rows stream and an error after them would say at which row the statement
    /// failed (a row as large as the bound first, then one row per value of a character: the
    /// fourteenth red-team round): the result is marked `streams_masked` and its next row meets
    /// a checkpoint, where the default agent rules hold it for review.
    pub(super) fn holding(&self, held: &mut Option<(usize, u64)>, spent: &mut bool, len: usize, acc: &mut Option<ResultAcc>, tally: &mut Tally) -> bool {
        let Some((_, at)) = *held else { return false };
        let unreleased = at == self.releases.load(std::sync::atomic::Ordering::Relaxed);
        if len < HOLD_MASKED_ROWS && unreleased {
            return true;
        }
        if unreleased && let Some(a) = acc.as_mut() {
            a.streams_masked = true;
            if let Some(id) = a.action_id {
                *tally = Tally { action: id, rows: hoop_core::usage::CHECKPOINT_ROWS, ..Tally::default() };
            }
        }
        (*held, *spent) = (None, true);
        false
    }

    /// Starts holding the rows that begin at `offset` if the statement answered now reads
    /// masked values and its rows were not already let go; decided once per statement
    /// (`spent` then says: not held, or no longer).
    pub(super) fn hold_from(&self, held: &mut Option<(usize, u64)>, spent: &mut bool, offset: usize) {
        if held.is_some() || *spent {
            return;
        }
        if self.front_reads_masked() {
            *held = Some((offset, self.releases.load(std::sync::atomic::Ordering::Relaxed)));
        } else {
            *spent = true;
        }
    }

    /// A checkpoint of the result in `acc`, when one is due: usage is counted and rules reading
    /// `result` are asked. A hold pauses the stream here (what was read reaches the client,
    /// then nothing more is read from the server) until the reviewer decides; the refusal to
    /// send, when the result must end.
    pub(super) async fn checkpoint(&self, acc: &mut Option<ResultAcc>, tally: &mut Tally, out: &mut BytesMut, done: &mut Vec<Finished>) -> Result<Option<String>, RelayError> {
        let Some(a) = acc.as_mut() else { return Ok(None) };
        let Some(action_id) = a.action_id else { return Ok(None) };
        // Per row: a few additions and comparisons, no clock read. Counted over the action's
        // results, so that many small results of one text meet checkpoints as one large one.
        if tally.action != action_id {
            *tally = Tally { action: action_id, ..Tally::default() };
        }
        tally.rows += 1;
        tally.bytes += a.bytes - a.counted_bytes;
        a.counted_bytes = a.bytes;
        tally.masked += a.masked_values.saturating_sub(a.counted_masked);
        a.counted_masked = a.masked_values;
        use hoop_core::usage::{CHECKPOINT_BYTES, CHECKPOINT_MASKED, CHECKPOINT_ROWS};
        if tally.rows < CHECKPOINT_ROWS && tally.bytes < CHECKPOINT_BYTES && tally.masked < CHECKPOINT_MASKED {
            return Ok(None);
        }
        (tally.rows, tally.bytes, tally.masked) = (0, 0, 0);
        self.handle.count_masked(&a.masked_by.drain(a.plan.as_deref()));
        let so_far = a.so_far();
        let cut = |rule: &str, why: &str| format!("hoop: {why} (rule {rule}); the statement was cancelled after {} rows", so_far.rows);
        match self.handle.result_progress(action_id, so_far) {
            Ok(Checkpoint::Continue) => Ok(None),
            Ok(Checkpoint::Deny { rule, reason }) => Ok(Some(cut(&rule, &reason))),
            Ok(Checkpoint::Review { rule, pending }) => {
                let t = pending.ticket();
                let note = format!(
                    "hoop: this result is paused after {} rows for review (rule {rule}); ticket {} — a reviewer lets it go on with `hoop approvals approve {}`",
                    so_far.rows, t.id, t.id
                );
                proto::notice("01000", &note).write_to(out);
                self.release(out, done).await?;
                // A client gone meanwhile takes its ticket with it (dropping the wait cancels
                // it), and the answers are then read to record what ran (red-team round 57: a
                // write paused, then the client gone, left no result at all).
                let waited = tokio::select! {
                    o = self.reviewed(self.unless_cancelled(self.handle.wait_result_review(action_id, &rule, pending))) => o,
                    () = self.client_gone.wait() => return Ok(Some(cut(&rule, "the client went away while its result was paused for review"))),
                };
                match waited {
                    None => Ok(Some(cut(&rule, "the client cancelled it while it was paused for review"))),
                    Some(Ok(true)) => Ok(None),
                    Some(Ok(false)) => Ok(Some(cut(&rule, "the reviewer did not let this result go on"))),
                    Some(Err(e)) => Ok(Some(cut(&rule, &e.to_string()))),
                }
            }
            Err(e) => Ok(Some(cut("hoop-recording", &e.to_string()))),
        }
    }

    /// Ends the statement whose result is streaming, midway: the server is asked to cancel it,
    /// its result is recorded as failed with `message`, and the client gets that error (code
    /// `code`). The caller drops what the server still sends for it, up to ReadyForQuery, which
    /// waits for the returned cancel to land.
    pub(super) fn cut_short(&self, acc: &mut Option<ResultAcc>, done: &mut Vec<Finished>, out: &mut BytesMut, code: &str, message: String) -> Option<tokio::task::JoinHandle<()>> {
        let cancelling = self.cancel_upstream();
        if cancelling.is_some() {
            let mut sh = self.shared();
            if let Some(Expect::Execute { capped, .. }) = sh.expect.front() {
                sh.stopped_execute = Some(*capped);
            }
        }
        proto::error("ERROR", code, &message).write_to(out);
        self.server_error(acc, done, message, 0, FailedBy::Gateway);
        cancelling
    }

    /// The bookkeeping of a statement that failed (see [`FailedBy`]): its result is recorded
    /// with `message`, and in the extended protocol everything up to Sync is skipped, as the
    /// server does after an error.
    pub(super) fn server_error(&self, acc: &mut Option<ResultAcc>, done: &mut Vec<Finished>, message: String, bytes: u64, by: FailedBy) {
        let by_server = by == FailedBy::Server;
        // The message that failed: a statement's result, or the Parse or Bind before its
        // Execute (`1/0` is folded, and fails, at Bind): that action's result says so (red-team
        // round 55: a failed Bind left its action without a result).
        let mut a = acc.take().or_else(|| {
            let sh = self.shared();
            match sh.expect.front()? {
                Expect::Execute { action_id, started, .. } | Expect::Query { action_id, started, .. } => Some(ResultAcc::new(*action_id, *started, None)),
                Expect::Parse { internal: false, statement: Some(st), .. } => Some(ResultAcc::new(st.action_id, Instant::now(), None)),
                Expect::Bind { internal: false, portal: Some(p) } => Some(ResultAcc::new(p.1.action_id, Instant::now(), None)),
                _ => None,
            }
        });
        let failed_id = a.as_ref().and_then(|a| a.action_id);
        if let Some(a) = a.as_mut() {
            a.bytes += bytes;
        }
        self.finished(done, a, "ERROR".to_string(), Some(message));
        let mut skipped: Vec<u64> = Vec::new();
        {
            let mut sh = self.shared();
            // An error ends a COPY's copying in: the server reads Syncs again.
            sh.copying_in = false;
            if let Some(Expect::Query { failed, cap, .. }) = sh.expect.front_mut() {
                *failed = true;
                if let (FailedBy::Ceiling, Some(cap)) = (by, cap) {
                    cap.told = true;
                }
            }
            let extended = sh.expect.front().is_some_and(|f| !ends_batch(f));
            while let Some(front) = sh.expect.front() {
                if ends_batch(front) {
                    break;
                }
                // What the server skips of the batch: the actions checked at its Parses and Binds.
                let id = match front {
                    Expect::Parse { internal: false, statement: Some(st), .. } => st.action_id,
                    Expect::Bind { internal: false, portal: Some(p) } => p.1.action_id,
                    Expect::Execute { action_id, .. } => *action_id,
                    _ => None,
                };
                if let Some(id) = id.filter(|id| Some(*id) != failed_id && !skipped.contains(id)) {
                    skipped.push(id);
                }
                sh.expect.pop_front();
            }
            // The client has not sent this batch's Sync yet: what it still sends of the batch
            // is skipped by the server, and dropped by hoop.
            // (Unless the client's Sync is here already, held for a capped write's count: that
            // Sync ends the batch. Compatibility round 5: marked skipped, psycopg's next
            // pipeline was dropped.)
            if extended && sh.expect.is_empty() {
                if sh.sync_held {
                    sh.failed_while_held |= by_server;
                } else {
                    sh.batch_failed = true;
                }
            }
            // The server has not failed the batch: its Sync must undo the write first.
            if extended && by == FailedBy::Ceiling {
                sh.cap_told = true;
            }
        }
        if by_server {
            self.server_rolled_back();
        }
        // Statements after a failed one up to Sync never run: recorded as skipped, not left
        // looking as if they ran (red-team round 55). When hoop ended the statement itself,
        // the server may still run what was sent behind it, and the note of what finished
        // after the stop tells.
        let why = match by {
            FailedBy::Server => Some("not run: the server skipped it after an earlier error in its batch"),
            FailedBy::Ceiling => Some(UNDONE_WITH_CEILING),
            FailedBy::Gateway => None,
        };
        if let Some(why) = why {
            for id in skipped {
                let a = ResultAcc::new(Some(id), Instant::now(), None);
                done.push(Finished { acc: a, tag: SKIPPED.to_string(), error: Some(why.into()), duration_us: 0 });
            }
        }
        self.answered.notify_waiters();
    }

    /// Notes a command tag against the written-rows ceiling of the query or Execute answered;
    /// hoop's refusal when this tag is the first of its text or batch over the ceiling.
    pub(super) fn count_written(&self, tag: &str) -> Option<String> {
        let limit = self.max_rows_written?;
        let mut sh = self.shared();
        let mut n = rowcap::rows_written(tag)?;
        // A portal's last part: the write's count is its parts' rows and this part's (the tag
        // counts this part's only: red-team of compatibility round 7's change, a 1,500-row
        // UPDATE fetched as 1,000 rows then 500 said `UPDATE 500`).
        let mut tag = tag.to_string();
        let part_of = match sh.expect.front() {
            Some(Expect::Execute { capped: true, portal, .. }) => sh.uncounted.iter().position(|e| e.portal.as_deref() == Some(portal.as_str())),
            _ => None,
        };
        if let Some(i) = part_of {
            let earlier = sh.uncounted.remove(i).rows;
            n = n.saturating_add(earlier);
            tag = format!("{tag}, after {earlier} rows in earlier parts");
        }
        if n <= limit {
            return None;
        }
        let first = match sh.expect.front_mut() {
            Some(Expect::Query { cap: Some(cap), .. }) => {
                let first = cap.over.is_none();
                cap.saw(&tag);
                first
            }
            Some(Expect::Execute { capped: true, .. }) => {
                let first = sh.cap_over.is_none();
                sh.cap_over.get_or_insert((tag.clone(), n));
                first
            }
            _ => false,
        };
        first.then(|| rowcap::message(&tag, n, limit))
    }

    /// A capped Execute's portal suspended after returning `rows`: its write reports no count
    /// yet; hoop's refusal when it cannot wait for it and this is the first of its batch over
    /// the ceiling.
    pub(super) fn count_uncounted(&self, rows: u64) -> Option<String> {
        let limit = self.max_rows_written?;
        let mut sh = self.shared();
        let portal = match sh.expect.front() {
            Some(Expect::Execute { capped: true, portal, .. }) if sh.cap_over.is_none() => portal.clone(),
            _ => return None,
        };
        // In the client's transaction block this Sync commits nothing: the count may still
        // come with the portal's last part, and the block's COMMIT waits for it (compatibility
        // round 7: pgjdbc, with a fetch size, runs every `… RETURNING` so, and each was refused).
        if sh.undo.in_block() {
            let at = sh.uncounted.iter().position(|e| e.portal.as_deref() == Some(portal.as_str()));
            let so_far = at.and_then(|i| sh.uncounted.get(i)).map_or(0, |e| e.rows).saturating_add(rows);
            if so_far > limit {
                // Past the ceiling already, whatever the last part says.
                if let Some(i) = at {
                    sh.uncounted.remove(i);
                }
                let tag = format!("at least: {so_far} rows returned in parts so far");
                sh.cap_over = Some((tag.clone(), so_far));
                return Some(rowcap::message(&tag, so_far, limit));
            }
            match at {
                Some(i) => {
                    if let Some(e) = sh.uncounted.get_mut(i) {
                        e.rows = so_far;
                    }
                    return None;
                }
                None if sh.uncounted.len() < MAX_UNCOUNTED => {
                    sh.uncounted.push(Uncounted { portal: Some(portal), rows: so_far });
                    return None;
                }
                None => {}
            }
        }
        sh.cap_over = Some((String::new(), rowcap::UNCOUNTED));
        Some(rowcap::message("", rowcap::UNCOUNTED, limit))
    }

    pub(super) fn sample(&self, acc: &mut Option<ResultAcc>, body: &[u8]) {
        let Some(a) = acc.as_mut() else { return };
        a.rows += 1;
        a.bytes += body.len() as u64;
        if a.sample.len() >= self.limits.max_rows || a.sample_bytes >= self.limits.max_bytes {
            return;
        }
        let Some(cells) = proto::decode_data_row(body) else { return };
        let binary = |i: usize| a.plan.as_ref().and_then(|p| p.columns.get(i)).is_some_and(|c| c.format == 1);
        let row: Vec<Option<String>> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| c.map(|v| if binary(i) { format!("\\x{}", hex_of(v)) } else { String::from_utf8_lossy(v).into_owned() }))
            .collect();
        a.sample_bytes += body.len();
        a.sample.push(row);
    }

    pub(super) fn sample_copy(&self, acc: &mut Option<ResultAcc>, row: &[u8]) {
        let Some(a) = acc.as_mut() else { return };
        a.rows += 1;
        a.bytes += row.len() as u64;
        if a.sample.len() < self.limits.max_rows && a.sample_bytes < self.limits.max_bytes {
            a.sample_bytes += row.len();
            a.sample.push(vec![Some(String::from_utf8_lossy(row).trim_end_matches('\n').to_string())]);
        }
    }

    /// A result that ended now: counted into usage at once, recorded once the output that
    /// ends it is written (see [`Relay::release`]).
    ///
    /// A statement that read masked values counts as at least one masked value, rows or none:
    /// whether it failed, and where, is about them (a division by a character's code minus a
    /// guess), so the masked-values budget bounds that oracle too (red-team round 15 read every
    /// value through statements that returned only a constant).
    pub(super) fn finished(&self, done: &mut Vec<Finished>, acc: Option<ResultAcc>, tag: String, error: Option<String>) {
        if let Some(mut acc) = acc {
            let Some(action_id) = acc.action_id else { return };
            self.handle.count_masked(&acc.masked_by.drain(acc.plan.as_deref()));
            let hits = acc.masked_by.take_hits(acc.plan.as_deref());
            if !hits.is_empty() {
                // Sessions' memos of masked columns follow discovery's epoch.
                self.discovery.promote(&self.masker, hits);
            }
            let so_far = {
                let mut sh = self.shared();
                if acc.masked_values == 0 && sh.front_reads_masked() {
                    acc.masked_values = 1;
                }
                let so_far = acc.so_far();
                sh.results_ended += 1;
                if let Front::Execute(portal, ..) = sh.front()
                    && let Some(p) = sh.portals.get_mut(&portal)
                {
                    p.ran = p.ran.plus(&so_far);
                }
                so_far
            };
            self.handle.result_done(action_id, so_far);
            let duration_us = acc.started.elapsed().as_micros() as u64;
            done.push(Finished { acc, tag, error, duration_us });
        }
    }

    /// Records a finished result: tag, count, duration and the sampled (masked) rows (its usage
    /// was counted when it ended).
    pub(super) fn finish(&self, f: Finished) {
        let Finished { acc: a, tag, error, duration_us } = f;
        let Some(action_id) = a.action_id else { return };
        let columns = match (&a.plan, a.sample.is_empty()) {
            (Some(p), false) => p.columns.iter().map(|c| c.name.clone()).collect(),
            _ => Vec::new(),
        };
        // (Several statements' tags, joined, carry their summed count in `a.rows`.)
        let rows = if tag.contains("; ") { a.rows } else { rowcap::tag_count(&tag).map_or(a.rows, |(_, n)| n) };
        let ev = Event::ActionResult {
            action_id,
            status: tag,
            rows,
            duration_us,
            bytes: 0,
            error,
            columns,
            sample: a.sample,
        };
        if let Err(e) = self.handle.record_later(&ev) {
            tracing::error!(error = %e, "recording a result failed");
        }
    }
}

/// Whether `sql` writes rows it reads from relations other than those it writes (`CREATE
/// TABLE … AS`, `SELECT … INTO`, `INSERT … SELECT`, `UPDATE … FROM`, `MERGE … USING`): the
/// rows it copies are counted as read, on every table it names, as if it had returned them.
pub(super) fn copies_rows(sql: &Sql) -> bool {
    let writes = sql.kinds.iter().any(|k| matches!(k.as_str(), "create" | "select_into" | "insert" | "update" | "merge"));
    // The gateway adds the schema-qualified name of a relation written bare (`t` and
    // `public.t`): one relation.
    let same = |a: &str, b: &str| a == b || a.strip_suffix(b).is_some_and(|s| s.ends_with('.')) || b.strip_suffix(a).is_some_and(|s| s.ends_with('.'));
    writes && sql.tables.iter().any(|t| !sql.written.iter().any(|w| same(w, t)) && !sql.ctes.contains(t))
}

/// How many rows the values of a big row may hold (`json_agg`, `ARRAY(SELECT …)`,
/// `string_agg`): the elements of its largest value, read as the text of a JSON array or
/// object, a PostgreSQL array, or separated text (lines, or commas, bars, semicolons or tabs,
/// whichever there are more of). Nesting and quoted text are skipped, so
/// a JSON array of rows counts its rows, not their fields. Whatever its separators (a letter,
/// `translate()`d away) or format (a binary array), a value holds at least one row per
/// [`MIN_FOLDED_ROW`] bytes (red-team round 40: 60,000 rows joined by `Q` counted as one).
pub(super) fn folded_rows(values: &[&[u8]]) -> u64 {
    values.iter().map(|v| elements(v).max(v.len() as u64 / MIN_FOLDED_ROW)).max().unwrap_or(1).max(1)
}

/// The fewest bytes a folded row is counted by: a binary `int4` array spends 8 bytes an
/// element, a separated list of short numbers a few more.
const MIN_FOLDED_ROW: u64 = 16;

fn elements(v: &[u8]) -> u64 {
    let (mut depth, mut count, mut lines, mut in_str, mut esc) = (0i64, 0u64, 0u64, false, false);
    let bracketed = matches!(v.first(), Some(b'[' | b'{'));
    for &b in v {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' | b'(' => depth += 1,
            b']' | b'}' | b')' => depth -= 1,
            b',' | b'|' | b';' | b'\t' if depth <= i64::from(bracketed) => count += 1,
            b'\n' => lines += 1,
            _ => {}
        }
    }
    count.max(lines) + 1
}

/// The rows a CommandComplete tag says a statement copied or returned (`SELECT 5`, `INSERT 0
/// 5`, `UPDATE 5`, `MERGE 5`).
pub(super) fn rows_moved(tag: &str) -> Option<u64> {
    rowcap::tag_count(tag).filter(|(verb, _)| matches!(*verb, "SELECT" | "INSERT" | "UPDATE" | "MERGE")).map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_rows_are_counted_by_their_elements() {
        assert_eq!(folded_rows(&[b"a | b | c"]), 3);
        assert_eq!(folded_rows(&[br#"[{"id":1,"what":"a,b"}, {"id":2,"what":"c"}, {"id":3}]"#]), 3);
        assert_eq!(folded_rows(&[b"{1,2,3,4}", b"x"]), 4);
        assert_eq!(folded_rows(&[br#"{"a": 1, "b": [1,2,3]}"#]), 2);
        assert_eq!(folded_rows(&[b"a@x.com,b@x.com,c@x.com"]), 3);
        assert_eq!(folded_rows(&[b"line1\nline2"]), 2);
        assert_eq!(folded_rows(&[]), 1);
        // Separators hoop does not know, or none: at least one row per 16 bytes.
        assert_eq!(folded_rows(&[&b"event 1Qevent 2Q".repeat(65536)]), 65536);
    }

    #[test]
    fn copies_are_writes_that_read_other_relations() {
        let sql = |text: &str, tables: &[&str], written: &[&str]| {
            let mut s = hoop_core::action::Action::sql("t", text).sql;
            s.tables = tables.iter().map(|t| t.to_string()).collect();
            s.written = written.iter().map(|t| t.to_string()).collect();
            s
        };
        assert!(copies_rows(&sql("CREATE TABLE c AS SELECT * FROM events", &["c", "events"], &[])));
        assert!(copies_rows(&sql("INSERT INTO c SELECT * FROM events", &["c", "events", "public.c", "public.events"], &["c"])));
        assert!(copies_rows(&sql("SELECT * INTO c FROM events", &["c", "events"], &[])));
        assert!(!copies_rows(&sql("INSERT INTO c VALUES (1)", &["c", "public.c"], &["c"])));
        assert!(!copies_rows(&sql("UPDATE c SET v = 1 WHERE id = 2", &["public.c"], &["public.c"])));
        assert!(!copies_rows(&sql("SELECT * FROM events", &["events"], &[])));
        assert_eq!(rows_moved("SELECT 6000"), Some(6000));
        assert_eq!(rows_moved("INSERT 0 12"), Some(12));
        assert_eq!(rows_moved("DELETE 3"), None);
        assert_eq!(rows_moved("CREATE TABLE"), None);
    }
}
