//! A `COPY … FROM STDIN` that a rule holds for review: its rows are what it writes, so hoop
//! gathers them before the reviewer is asked (red-team round 53: a reviewer approved `COPY
//! payments FROM STDIN`, and the rows that followed were never shown to anyone).
//!
//! The statement goes to the server first, recorded before it goes as a Parse is: the server
//! enters copy-in mode and answers CopyInResponse (whose formats the client needs and only the
//! server knows) and writes nothing until the rows end. hoop keeps the client's rows, up to
//! what a ticket shows, and asks the reviewer with them; on approval the rows go on, otherwise
//! a CopyFail ends the COPY with nothing written and the reason as its error.

use super::*;

/// Bytes of rows a reviewer is shown whole: past this the COPY is refused as unreviewable.
const MAX_SHOWN_ROWS: usize = 1 << 20;

/// Longest hoop waits for the server to start (or refuse) the COPY.
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How a statement that copies rows in from the client is run when a rule would hold it.
pub(super) enum CopyIn {
    /// Not a `COPY … FROM STDIN` a rule holds: checked as any statement.
    Checked,
    /// Alone in its text: its rows are gathered and shown ([`Relay::copy_in_reviewed`]).
    Gather,
    /// Held, but its rows could not be gathered before the reviewer is asked: refused, why.
    Refuse(String),
}

impl Relay {
    /// How `action` (a simple query's text, or an extended-protocol statement when
    /// `extended`) runs if it copies rows in from the client.
    pub(super) fn copy_in_for_review(&self, action: &Action, extended: bool) -> CopyIn {
        let sql = &action.sql;
        if !copies_from_client(sql) || !self.handle.would_review(action) {
            return CopyIn::Checked;
        }
        // Red-team round 59: through the extended protocol, or with other statements in its
        // text, the COPY was held and approved before its rows were chosen.
        if extended || !hoop_core::action::sql::single_statement(&sql.text) {
            return CopyIn::Refuse(
                "hoop: a COPY … FROM STDIN held for review runs only alone in a simple query (as psql sends it), so that its rows are shown to the reviewer".to_string(),
            );
        }
        // Round 59: rows in another encoding were shown decoded as UTF-8.
        if sql.text.to_ascii_lowercase().contains("encoding") {
            return CopyIn::Refuse("hoop: a COPY held for review shows its rows in UTF-8 only; send them without the ENCODING option".to_string());
        }
        CopyIn::Gather
    }

    /// Runs the client's `query` (a `COPY … FROM STDIN`, see [`copy_in_for_review`](Self::copy_in_for_review))
    /// with its rows shown to the reviewer. `head` is what the server will answer to it.
    pub(super) async fn copy_in_reviewed(&self, query: &Frame, action: Action, head: Expect, server: &mut ConnWrite, out: &mut BytesMut, client: &mut FrameReader<ConnRead>) -> Result<(), RelayError> {
        let first = match self.handle.precheck(action.clone()) {
            Ok((id, hoop_core::verdict::Verdict::Deny { rule, reason })) => Err((Some(id), refuse::message(&rule, &reason))),
            Ok((id, _)) => Ok(id),
            Err(e) => Err((None, format!("hoop: {e}"))),
        };
        let first = match first {
            Ok(id) => id,
            Err((id, msg)) => {
                self.expect(Expect::Query { action_id: id, started: Instant::now(), copy: None, names: None, failed: false, lineage: None, results: 0, cap: None, read: None, copies: false, rollbacks: Default::default() });
                proto::query(&refuse::raising_statement(&msg)).write_to(out);
                return Ok(());
            }
        };
        self.shared().copy_in = None;
        self.expect(match head {
            Expect::Query { started, copy, names, failed, lineage, results, cap, read, copies, rollbacks, .. } => {
                Expect::Query { action_id: Some(first), started, copy, names, failed, lineage, results, cap, read, copies, rollbacks }
            }
            other => other,
        });
        query.write_to(out);
        self.send(server, out).await?;
        let Some(format) = self.copy_in_started(first).await? else {
            // The server refused the COPY before it began (no such table, no privilege): its
            // error reached the client, which sends no rows.
            return Ok(());
        };
        let (mut rows, mut total, mut over) = (Vec::new(), 0u64, false);
        let done = loop {
            let frame = match client.try_next() {
                Ok(Some(f)) => f,
                Ok(None) => {
                    client.fill().await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            match frame.tag {
                b'd' => {
                    total += frame.body.len() as u64;
                    if rows.len() + frame.body.len() <= MAX_SHOWN_ROWS {
                        rows.extend_from_slice(&frame.body);
                    } else {
                        over = true;
                    }
                }
                b'c' => break None,
                // The client gave up: its CopyFail ends the COPY as it would have.
                b'f' => break Some(frame),
                // The server ignores these in copy-in mode.
                b'H' | b'S' => {}
                t => return Err(RelayError::Protocol(format!("message {:?} inside a COPY FROM STDIN", t as char))),
            }
        };
        if let Some(fail) = done {
            fail.write_to(out);
            return self.send(server, out).await;
        }
        let mut action = action;
        let shown = String::from_utf8(rows.clone()).ok().and_then(|text| shown_rows(&self.masker, &text));
        let refusal = if format != 0 {
            Some("hoop: the rows of a binary COPY cannot be shown to a reviewer; send them as text or CSV".to_string())
        } else if over {
            Some(format!("hoop: the rows of this COPY ({total} bytes) are more than a reviewer is shown whole ({} MiB); send them in smaller COPYs", MAX_SHOWN_ROWS >> 20))
        } else if shown.is_none() {
            Some("hoop: the rows of this COPY cannot be shown to a reviewer whole (text that is not UTF-8, or values masking would join across fields or rows)".to_string())
        } else {
            None
        };
        let (id, verdict) = match refusal {
            Some(msg) => {
                let rule = hoop_core::gate::UNREVIEWABLE_COMMAND_RULE;
                let msg = format!("{msg} (rule {rule})");
                (self.handle.refuse(action, rule, &msg).ok(), Err(msg))
            }
            None => {
                action.sql.copy_rows = shown;
                self.decide(action, client).await
            }
        };
        // The result belongs to the action the reviewer decided on.
        for e in self.shared().expect.iter_mut() {
            if let Expect::Query { action_id, .. } = e
                && *action_id == Some(first)
            {
                *action_id = id.or(Some(first));
            }
        }
        match verdict {
            Ok(()) => {
                proto::raw(b'd', &rows).write_to(out);
                proto::raw(b'c', &[]).write_to(out);
            }
            Err(msg) => {
                let mut body = msg.into_bytes();
                body.retain(|b| *b != 0);
                body.push(0);
                proto::raw(b'f', &body).write_to(out);
            }
        }
        self.send(server, out).await
    }

    /// Waits for the server's first answer to the COPY of action `id`: its CopyInResponse's
    /// format (`0` text, `1` binary), or `None` when it answered otherwise (an error: the COPY
    /// never began).
    async fn copy_in_started(&self, id: u64) -> Result<Option<u8>, RelayError> {
        let answered = |sh: &Shared| sh.copy_in.is_some() || !sh.expect.iter().any(|e| matches!(e, Expect::Query { action_id: Some(a), .. } if *a == id));
        tokio::time::timeout(START_WAIT, self.answered_until(answered))
            .await
            .map_err(|_| RelayError::Protocol("the server neither started nor refused a COPY FROM STDIN in time".into()))?;
        // (Still set: the COPY ends only with the rows the client has not sent yet.)
        Ok(self.shared().copy_in)
    }
}

/// Whether `sql` copies rows in from the client (`COPY … FROM STDIN`, not a file or a program).
pub(super) fn copies_from_client(sql: &Sql) -> bool {
    sql.copy == "from" && !sql.copy_program && !sql.kinds.iter().any(|k| k == "copy_file")
}

/// The rows as a reviewer is shown them: each line masked on its own, so that a value the
/// detectors match (a PEM block from one row's `BEGIN` to another's `END`) never hides whole
/// rows (red-team round 59: rows between two key lines were masked away and written unseen);
/// `None` when masking would change a line's fields (a match across a tab or a comma).
fn shown_rows(masker: &Masker, rows: &str) -> Option<String> {
    let mut shown = String::with_capacity(rows.len());
    for line in rows.split_inclusive('\n') {
        let masked = masker.mask_text(line);
        let separators = |s: &str| (s.matches('\t').count(), s.matches(',').count(), s.matches('\n').count());
        if separators(&masked) != separators(line) {
            return None;
        }
        shown.push_str(&masked);
    }
    Some(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_masked_line_by_line_and_fields_never_merge() {
        let masker = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let key = "-----BEGIN RSA PRIVATE KEY-----\t1\nEVIL\t999\n-----END RSA PRIVATE KEY-----\t2\n";
        let shown = shown_rows(&masker, key).unwrap();
        assert!(shown.contains("EVIL\t999"), "{shown}");
        assert_eq!(shown.lines().count(), 3);
        let shown = shown_rows(&masker, "1\tann@corp.example\n").unwrap();
        assert!(!shown.contains("ann@corp"), "{shown}");
    }
}
