//! Client → server: every message the client sends is decoded, checked and forwarded (or
//! replaced by hoop's refusal).

use super::*;

impl Relay {
    /// The client → server loop. Returns when the client terminates or disconnects.
    pub async fn client_loop(&self, mut client: FrameReader<ConnRead>, mut server: ConnWrite) -> Result<(), RelayError> {
        let mut out = BytesMut::with_capacity(16 * 1024);
        // A capped write was executed since the last Sync: the Sync waits for its count.
        let mut capped_pending = false;
        // Extended-protocol messages were sent since the last Sync.
        let mut in_batch = false;
        // What the client sends of a `COPY … FROM STDIN`: its start (masked, bounded by the
        // recording's limit per statement) and its size, recorded when it ends (red-team round
        // 53: an approved COPY's rows were in no record).
        let mut copy_in: Option<(Vec<u8>, u64)> = None;
        // An Execute of a `COPY … FROM STDIN` went to the server and the client has not ended
        // its rows: a Sync now may be one the server ignores (see [`Expect::CopySync`]).
        let mut copy_pending = false;
        loop {
            let frame = match client.try_next() {
                Ok(Some(f)) => f,
                Err(FrameError::Busy(e)) => {
                    // Read to its end and dropped before the session ends, so that the client
                    // reads the reason rather than a connection closed under its upload.
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), client.skip_oversized()).await;
                    return Err(FrameError::Busy(e).into());
                }
                Err(e) => return Err(e.into()),
                Ok(None) => {
                    self.send(&mut server, &mut out).await?;
                    self.fill_or_idle_out(&mut client).await?;
                    continue;
                }
            };
            self.handle.touch();
            // Nothing of an extended-protocol batch was sent before this message: the server
            // has no implicit transaction of it open, and hoop may ask its own question first.
            let fresh_batch = !in_batch;
            if matches!(frame.tag, b'P' | b'B' | b'D' | b'E' | b'C') {
                in_batch = true;
                if self.shared().batch_failed {
                    continue;
                }
            } else if frame.tag == b'H' && self.shared().batch_failed {
                // The server skips a Flush of a failed batch too; sent, it would wait behind the
                // cancel's fence for a ReadyForQuery that only the batch's Sync brings.
                continue;
            } else if matches!(frame.tag, b'Q' | b'F') && in_batch {
                // A Query before the batch's Sync (asyncpg's `copy_records_to_table`: Parse and
                // Describe with a Flush, then `COPY … FROM STDIN` as a Query). The server runs
                // it, unless an error earlier in the batch has it discarding everything up to
                // the Sync, this too. Which of the two hoop knows once the batch's answers are
                // in: it waits for them (a Flush asks the server for them), then drops the
                // message as the server would, or reads it as any other. After a capped write
                // the Query would commit what hoop holds back until its count is in, and inside
                // a COPY it is not a command: refused as before.
                if capped_pending || copy_pending || self.shared().copying_in {
                    return Err(RelayError::Protocol("a simple Query or FunctionCall after a capped write or a COPY in an extended-protocol batch (send a Sync first)".into()));
                }
                if !self.shared().batch_failed {
                    proto::raw(b'H', &[]).write_to(&mut out);
                }
                self.send(&mut server, &mut out).await?;
                tokio::select! {
                    _ = self.answered_until(|sh| sh.batch_failed || sh.expect.is_empty()) => {}
                    e = client.closed(MAX_BUFFERED_DURING_REVIEW) => return Err(e.into()),
                }
                if self.shared().batch_failed {
                    continue;
                }
            }
            match frame.tag {
                b'Q' => {
                    let Some(text) = proto::decode_query(&frame.body) else {
                        // Not UTF-8 (the pinned client_encoding): hoop cannot read it as the server would.
                        self.expect(Expect::own_text());
                        let msg = "hoop: statement text is not valid UTF-8 (the session's client_encoding is UTF8)";
                        proto::query(&refuse::raising_statement(msg)).write_to(&mut out);
                        continue;
                    };
                    let mut action = Action::sql(&self.target, &text);
                    let names = self.names_of(&action.sql);
                    let unknown = self.shared().resolve_names(&mut action.sql, &names).err().map(|m| (UNKNOWN_NAME_RULE, m));
                    // The COPY plan reads the table as the statement names it, before resolution adds more.
                    let named = if action.sql.copy == "to" { action.sql.tables.clone() } else { Vec::new() };
                    self.settle_relations(false, &mut server, &mut out, &mut client).await?;
                    if !action.sql.tables.is_empty() {
                        self.catalog.notice_changes().await;
                    }
                    let read_in = self.catalog.generation();
                    let facts = self.resolve_tables(&mut action.sql).await;
                    // A text that changes relations itself moved the generation on purpose.
                    let read_in = if changes_relations(&action.sql) { self.catalog.generation() } else { read_in };
                    let own = self.add_key_linked(&mut action.sql).await;
                    let copy = self.copy_plan(&action.sql, &named, &facts).await;
                    let lineage = self.lineage(&action.sql, &names, &facts).await;
                    let unknown = unknown.or_else(|| self.lineage_refusal(&mut action.sql, lineage.as_deref()));
                    let unknown = match unknown {
                        None => self.lossy_retype(&action.sql, (!in_batch).then_some((&mut server, &mut out, &mut client))).await?,
                        unknown => unknown,
                    };
                    let binary_masked = copy.as_ref().is_some_and(|c| c.binary && (c.rest.is_some() || c.columns.iter().any(|(r, _)| r.is_some())));
                    self.send(&mut server, &mut out).await?;
                    self.settle_results(false, &mut server, &mut out, &mut client).await?;
                    let (writes, tx_control) = (rowcap::writes_rows(&action.sql), rowcap::controls_transactions(&action.sql));
                    if in_batch && writes && self.max_rows_written.is_some() {
                        // The server runs it in the transaction the unsynced batch left (its
                        // implicit one, or whatever its BEGIN/COMMIT/ROLLBACK made it), which
                        // the last ReadyForQuery does not tell: hoop could neither keep the
                        // write uncommitted nor read what the batch changed (red-team Postgres
                        // round 122: an extended COMMIT with no Sync, then an UPDATE of 60,000
                        // rows as a Query, committed; an ALTER … ON DELETE CASCADE so, then a
                        // DELETE of one row, cascaded over 5,000, committed by hoop's own COMMIT).
                        return Err(RelayError::Protocol(format!(
                            "a write as a simple Query after extended-protocol messages with no Sync cannot run while agents' writes are limited (send a Sync first) (rule {})",
                            rowcap::RULE
                        )));
                    }
                    let copies = super::results::copies_rows(&action.sql);
                    let nested = action.sql.kinds.iter().any(|k| k == hoop_core::action::sql::NESTED_WRITE);
                    let rollbacks = super::transaction::Rollbacks::of(&action.sql.kinds);
                    let written = (writes && self.max_rows_written.is_some()).then(|| action.sql.clone());
                    // A capped write the ceiling cannot count is refused, and before any review
                    // when a rule would hold it: an approval would not make it countable
                    // (red-team round 71's `COPY (UPDATE … RETURNING …) TO` ran once its export
                    // was approved). A rule that denies it still says why first.
                    // And a write sharing its text with a `COPY … FROM STDIN`: the text's end,
                    // where its counts are read, waits for the COPY's rows, which wait for it
                    // (the session hung, over the ceiling or not).
                    let copies_in = super::copy_in::copies_from_client(&action.sql);
                    let uncountable = match (written.is_some(), nested, tx_control, copies_in) {
                        (true, true, _, _) => Some("hoop: a write inside a CTE, EXPLAIN or COPY, or run by a FETCH or MOVE, reports no row count of its own, so it cannot run while agents' writes are limited; run it as its own statement"),
                        (true, false, true, _) => Some("hoop: a statement that writes rows cannot share its text with BEGIN/COMMIT/ROLLBACK while agents' writes are limited; send them separately"),
                        (true, false, false, true) => Some("hoop: a statement that writes rows cannot share its text with COPY … FROM STDIN while agents' writes are limited; send them separately"),
                        _ => None,
                    };
                    let unknown = match (unknown, uncountable) {
                        (None, Some(why)) if self.handle.would_review(&action) => Some((rowcap::RULE, why.to_string())),
                        (unknown, _) => unknown,
                    };
                    let unknown = match unknown {
                        None => self.uncounted_inserts(&action.sql).await.map(|why| (rowcap::RULE, why)),
                        unknown => unknown,
                    };
                    let uncounted_tx = self.uncounted_tx_control(&action.sql);
                    // A COMMIT so refused ends the block as a COMMIT the server fails does.
                    let rolls_back = uncounted_tx.is_some() && rowcap::commits(&action.sql);
                    let unknown = unknown.or_else(|| uncounted_tx.map(|why| (rowcap::RULE, why)));
                    let copy_in = match (&unknown, binary_masked) {
                        (None, false) if self.own_refusal(&action.sql, None).is_none() => self.copy_in_for_review(&action, false),
                        _ => super::copy_in::CopyIn::Checked,
                    };
                    let unknown = match copy_in {
                        super::copy_in::CopyIn::Gather => {
                            let head = Expect::Query { action_id: None, started: Instant::now(), copy, names: None, failed: false, lineage: None, results: 0, cap: None, read: ReadIn::of(read_in, &action.sql), copies, rollbacks };
                            Box::pin(self.copy_in_reviewed(&frame, action, head, &mut server, &mut out, &mut client)).await?;
                            continue;
                        }
                        super::copy_in::CopyIn::Refuse(msg) => Some((hoop_core::gate::UNREVIEWABLE_COMMAND_RULE, msg)),
                        super::copy_in::CopyIn::Checked => unknown,
                    };
                    let read = ReadIn::of(read_in, &action.sql);
                    let (action_id, verdict) = self.gatekeep(action, unknown, &mut client).await;
                    let verdict = if binary_masked && verdict.is_ok() {
                        Err(BINARY_COPY_REFUSAL.to_string())
                    } else {
                        verdict
                    };
                    if verdict.is_ok() {
                        self.shared().forget(&names);
                    }
                    let names = (!names.is_empty()).then(|| Box::new(names));
                    let limit = self.max_rows_written.filter(|_| verdict.is_ok() && writes);
                    let uncounted = match (&written, limit) {
                        (Some(sql), Some(_)) => self.uncounted_writes(sql, own).await,
                        _ => None,
                    };
                    let verdict = uncounted.map_or(verdict, Err);
                    let verdict = match (limit, verdict, uncountable) {
                        (Some(_), Ok(()), Some(why)) => Err(format!("{why} (rule {})", rowcap::RULE)),
                        (_, v, _) => v,
                    };
                    if let (Some(limit), Ok(())) = (limit, &verdict) {
                        let head = Expect::Query { action_id, started: Instant::now(), copy, names, failed: false, lineage, results: 0, cap: None, read, copies, rollbacks };
                        let checked = written.as_ref().map(|w| w.tables.get(..own).unwrap_or(&w.tables).to_vec()).unwrap_or_default();
                        let written = written.unwrap_or_default();
                        self.capped_query(&frame, head, (limit, &checked, &written), &mut server, &mut out, &mut client).await?;
                        continue;
                    }
                    // A refused text runs hoop's refusal, whose message is hoop's own.
                    if rolls_back && verdict.is_err() {
                        self.expect(Expect::Internal);
                        proto::query("ROLLBACK").write_to(&mut out);
                    }
                    let lineage = lineage.filter(|_| verdict.is_ok());
                    let read = read.filter(|_| verdict.is_ok());
                    self.expect(Expect::Query { action_id, started: Instant::now(), copy, names, failed: false, lineage, results: 0, cap: None, read, copies: copies && verdict.is_ok(), rollbacks });
                    match verdict {
                        Ok(()) => frame.write_to(&mut out),
                        Err(msg) => proto::query(&refuse::raising_statement(&msg)).write_to(&mut out),
                    }
                }
                b'P' => {
                    let p = proto::decode_parse(&frame.body).ok_or_else(|| RelayError::Protocol("malformed Parse (or its text is not valid UTF-8)".into()))?;
                    {
                        let sh = self.shared();
                        if !p.name.is_empty() && !sh.statements.contains_key(&p.name) && sh.statements.len() + sh.expect.len() >= MAX_NAMED {
                            return Err(RelayError::Protocol(format!("more than {MAX_NAMED} prepared statements in one session")));
                        }
                        if !p.name.is_empty() && sh.named_text_bytes() + p.query.len() > sh.named_limit {
                            return Err(RelayError::Protocol(format!(
                                "the named statements, portals and cursors of one session may hold at most {} KiB of text (close some first)",
                                sh.named_limit >> 10
                            )));
                        }
                    }
                    self.settle_relations(true, &mut server, &mut out, &mut client).await?;
                    let Reading { sql, names, unknown, own, copy, binary_masked, lineage, generation } = self.read_statement(&p.query).await;
                    // (hoop's question is a simple Query, which drops the unnamed statement: not
                    // asked while the client may still bind it. It drops the unnamed portal too,
                    // which a client reads in parts through a named one in practice.)
                    let may_ask = fresh_batch && (p.name.is_empty() || !self.shared().statements.contains_key(""));
                    let unknown = match unknown {
                        None => self.lossy_retype(&sql, may_ask.then_some((&mut server, &mut out, &mut client))).await?,
                        unknown => unknown,
                    };
                    let sql = Arc::new(sql);
                    let action = Action { kind: hoop_core::action::ActionKind::Sql, target: self.target.clone(), sql: (*sql).clone(), ..Action::default() };
                    // Checked again at Bind with its parameters: a review waits for that check.
                    let (action_id, verdict) = match self.own_refusal(&action.sql, unknown) {
                        Some((rule, msg)) => (self.handle.refuse(action, rule, &msg).ok(), Err(msg)),
                        None => match self.handle.precheck(action) {
                            Ok((id, hoop_core::verdict::Verdict::Deny { rule, reason })) => (Some(id), Err(refuse::message(&rule, &reason))),
                            Ok((id, _)) => (Some(id), Ok(())),
                            Err(e) => (None, Err(format!("hoop: {e}"))),
                        },
                    };
                    let verdict = match verdict {
                        Ok(()) if binary_masked => Err(BINARY_COPY_REFUSAL.to_string()),
                        v => v,
                    };
                    let verdict = match verdict {
                        Ok(()) if self.max_rows_written.is_some() && rowcap::writes_rows(&sql) => self.uncounted_writes(&sql, own).await.map_or(Ok(()), Err),
                        Ok(()) => self.uncounted_inserts(&sql).await.map_or(Ok(()), |why| Err(format!("{why} (rule {})", rowcap::RULE))),
                        v => v,
                    };
                    let refusal: Option<Arc<str>> = verdict.as_ref().err().map(|m| Arc::from(m.as_str()));
                    let refused = refusal.is_some();
                    let param_types = p.types.clone();
                    // Recorded whatever hoop expects of it: only the server's ParseComplete makes it
                    // the statement the name holds (a rejected re-Parse of a live name changes
                    // nothing).
                    let lineage = lineage.filter(|_| !refused);
                    let id = {
                        let mut sh = self.shared();
                        sh.next_statement += 1;
                        // PREPARE or DECLARE through the extended protocol: their names are
                        // forgotten until the server's CommandComplete of their Execute says
                        // they were made (see the server side).
                        sh.forget(&Names {
                            deallocated: names.prepared.iter().map(|(n, _)| Some(n.clone())).collect(),
                            closed: names.declared.iter().map(|(n, _, _)| Some(n.clone())).collect(),
                            ..Names::default()
                        });
                        sh.forget(&names);
                        sh.next_statement
                    };
                    if capped_pending && rowcap::controls_transactions(&sql) {
                        // A savepoint between a capped write and its Sync could undo hoop's refusal.
                        return Err(RelayError::Protocol("transaction control after a capped write in the same pipeline (send a Sync first)".into()));
                    }
                    let statement = Some(Statement { id, sql, lineage, fields: None, refusal, param_types, copy, from_sql: false, generation, action_id });
                    self.expect(Expect::Parse { internal: false, name: p.name.clone(), statement });
                    // A refused statement fails its Parse on the server, as a statement the
                    // server cannot read does: the server drops what follows up to the Sync and
                    // ends the transaction as for any error, and the client learns of the
                    // refusal when it prepares or describes it rather than from a made-up
                    // description (compatibility round 4: asyncpg and pgjdbc read a refused
                    // statement's description as "no parameters, no rows" and failed on it).
                    // hoop puts its message in the server's error (see the server side).
                    match verdict {
                        Ok(()) => frame.write_to(&mut out),
                        Err(_) => proto::parse(&p.name, REFUSED_AT_PARSE, &[]).write_to(&mut out),
                    }
                }
                b'B' => {
                    let mut b = proto::decode_bind(&frame.body).ok_or_else(|| RelayError::Protocol("malformed Bind".into()))?;
                    {
                        let sh = self.shared();
                        if !b.portal.is_empty() && !sh.portals.contains_key(&b.portal) && sh.portals.len() + sh.expect.len() >= MAX_NAMED {
                            return Err(RelayError::Protocol(format!("more than {MAX_NAMED} open portals in one session")));
                        }
                        let text = sh.statement(&b.statement).map_or(0, |st| st.sql.text.len());
                        if !b.portal.is_empty() && !sh.portals.contains_key(&b.portal) && sh.named_text_bytes() + text > sh.named_limit {
                            return Err(RelayError::Protocol(format!(
                                "the named statements, portals and cursors of one session may hold at most {} KiB of text (close some first)",
                                sh.named_limit >> 10
                            )));
                        }
                    }
                    let known = self.shared().statement(&b.statement);
                    // A Bind to a statement hoop never saw confirmed is refused like a denied one:
                    // hoop cannot tell what it would run. One made by SQL `PREPARE` is run with
                    // `EXECUTE`, where its rows are masked by what it holds.
                    let unknown = match &known {
                        None => Some((UNKNOWN_NAME_RULE, format!("hoop: Bind to \"{}\", a statement the gateway has not seen prepared", b.statement))),
                        Some(st) if st.from_sql => Some((UNKNOWN_NAME_RULE, format!("hoop: Bind to \"{}\", a statement prepared in SQL (run it with EXECUTE)", b.statement))),
                        Some(_) => None,
                    };
                    let known = known.filter(|st| !st.from_sql);
                    let stmt = known.unwrap_or_default();
                    if stmt.refusal.is_some() {
                        // Its Parse fails on the server, which drops this Bind with the rest of
                        // the pipeline; bound without parameters all the same.
                        b.params.clear();
                        b.param_formats.clear();
                        b.result_formats.clear();
                        let portal = Portal { statement: b.statement.clone(), stmt: Some(stmt), ..Portal::default() };
                        self.expect(Expect::Bind { internal: false, portal: Some(Box::new((b.portal.clone(), portal))) });
                        proto::bind(&b).write_to(&mut out);
                        continue;
                    }
                    // Relations changed since the statement was read: the server reads its text
                    // again at this Bind (a table dropped and a view of that name made over a
                    // sensitive one), so hoop does too.
                    // So does a statement that runs a prepared statement or cursor by name, which
                    // the server looks up again (red-team Postgres round 125).
                    let stale = !stmt.sql.tables.is_empty() && stmt.generation != self.catalog.generation();
                    let (stmt, unknown, reread) = if unknown.is_none() && (stale || !stmt.sql.runs.is_empty()) {
                        self.settle_relations(in_batch, &mut server, &mut out, &mut client).await?;
                        let r = self.read_statement(&stmt.sql.text).await;
                        let may_ask = fresh_batch && !b.statement.is_empty() && !self.shared().statements.contains_key("");
                        let unknown = match r.unknown {
                            None => self.lossy_retype(&r.sql, may_ask.then_some((&mut server, &mut out, &mut client))).await?,
                            unknown => unknown,
                        };
                        let r = Reading { unknown, ..r };
                        let stmt = Statement { sql: Arc::new(r.sql), lineage: r.lineage, copy: r.copy, generation: r.generation, ..stmt };
                        if let Some(st) = self.shared().statements.get_mut(&b.statement).filter(|st| st.id == stmt.id) {
                            *st = stmt.clone();
                        }
                        (stmt, r.unknown, Some((r.own, r.binary_masked)))
                    } else {
                        (stmt, unknown, None)
                    };
                    let mut sql = (*stmt.sql).clone();
                    sql.params = bind_params(&b, &stmt.param_types);
                    let kept = self.handle.watches_results().then(|| Arc::new(sql.clone()));
                    let action = Action { kind: hoop_core::action::ActionKind::Sql, target: self.target.clone(), sql, ..Action::default() };
                    // A held COPY … FROM STDIN shows its rows only as a simple query.
                    let unknown = match (unknown, self.copy_in_for_review(&action, true)) {
                        (None, super::copy_in::CopyIn::Refuse(msg)) => Some((hoop_core::gate::UNREVIEWABLE_COMMAND_RULE, msg)),
                        (u, _) => u,
                    };
                    self.send(&mut server, &mut out).await?;
                    self.settle_results(in_batch, &mut server, &mut out, &mut client).await?;
                    if self.shared().batch_failed {
                        continue;
                    }
                    let (action_id, verdict) = self.gatekeep(action, unknown, &mut client).await;
                    let verdict = match (verdict, reread) {
                        (Ok(()), Some((_, true))) => Err(BINARY_COPY_REFUSAL.to_string()),
                        (Ok(()), Some((own, false))) if self.max_rows_written.is_some() && rowcap::writes_rows(&stmt.sql) => {
                            self.uncounted_writes(&stmt.sql, own).await.map_or(Ok(()), Err)
                        }
                        (Ok(()), Some((_, false))) => self.uncounted_inserts(&stmt.sql).await.map_or(Ok(()), |why| Err(format!("{why} (rule {})", rowcap::RULE))),
                        (v, _) => v,
                    };
                    let portal = Portal {
                        statement: b.statement.clone(),
                        stmt: Some(stmt.clone()),
                        result_formats: b.result_formats.clone(),
                        fields: None,
                        action_id,
                        sql: kept,
                        judged_at: (self.shared().results_ended, self.handle.usage_epoch()),
                        ran: ResultSoFar::default(),
                    };
                    match verdict {
                        Ok(()) => {
                            self.expect(Expect::Bind { internal: false, portal: Some(Box::new((b.portal.clone(), portal))) });
                            frame.write_to(&mut out);
                        }
                        Err(msg) => {
                            // Bind the portal to a statement that raises the refusal instead.
                            let refused_portal = Portal { statement: REFUSED_STATEMENT.into(), action_id, ..Portal::default() };
                            self.expect(Expect::Close { internal: true });
                            self.expect(Expect::Parse { internal: true, name: REFUSED_STATEMENT.into(), statement: None });
                            self.expect(Expect::Bind { internal: false, portal: Some(Box::new((b.portal.clone(), refused_portal))) });
                            let mut c = BytesMut::new();
                            proto::close_statement(REFUSED_STATEMENT).write_to(&mut c);
                            proto::parse(REFUSED_STATEMENT, &refuse::raising_statement(&msg), &[]).write_to(&mut c);
                            let refused = BindMsg {
                                portal: b.portal.clone(),
                                statement: REFUSED_STATEMENT.into(),
                                param_formats: vec![],
                                params: vec![],
                                result_formats: vec![],
                            };
                            proto::bind(&refused).write_to(&mut c);
                            out.extend_from_slice(&c);
                        }
                    }
                }
                b'E' => {
                    let (portal, _max) = proto::decode_execute(&frame.body).ok_or_else(|| RelayError::Protocol("malformed Execute".into()))?;
                    // A portal hoop never saw bound (a cursor declared in SQL is one on the
                    // server too): hoop cannot tell what it runs, nor mask it by lineage.
                    if self.shared().portal(&portal).is_none() {
                        let msg = format!("hoop: Execute of \"{portal}\", a portal the gateway has not seen bound (read a cursor declared in SQL with FETCH)");
                        let sql = Sql { text: format!("-- protocol Execute of portal \"{portal}\""), ..Sql::default() };
                        let action = Action { kind: hoop_core::action::ActionKind::Sql, target: self.target.clone(), sql, ..Action::default() };
                        if let Err(e) = self.handle.refuse(action, UNKNOWN_NAME_RULE, &msg) {
                            tracing::warn!(error = %e, "recording a refused Execute failed");
                        }
                        self.run_refusal(&mut out, &msg);
                        continue;
                    }
                    // A portal that runs a prepared statement or cursor by name runs what the name
                    // holds when it is executed: another text than it was bound with is refused.
                    let moved = {
                        let sh = self.shared();
                        sh.portal(&portal).and_then(|p| p.stmt.as_ref()).is_some_and(|st| sh.runs_changed(&st.sql))
                    };
                    if moved {
                        let msg = format!("hoop: the portal \"{portal}\" runs a prepared statement or cursor by name that was made again since it was bound; bind it again (rule {UNKNOWN_NAME_RULE})");
                        let _ = self.handle.record_later(&Event::Note { message: msg.clone() });
                        self.run_refusal(&mut out, &msg);
                        continue;
                    }
                    let refusal = self.judge_again(&portal, in_batch, &mut server, &mut out, &mut client).await?;
                    if self.shared().batch_failed {
                        continue;
                    }
                    if let Some(msg) = refusal {
                        self.run_refusal(&mut out, &msg);
                        continue;
                    }
                    let (action_id, described, writes, nested, read, tx_control) = {
                        let sh = self.shared();
                        let p = sh.portal(&portal);
                        // A statement refused at Parse never runs: the server failed its Parse
                        // and skips this Execute with the rest of the batch, so nothing here
                        // waits for its row count or its copy (compatibility round 5: the Sync
                        // held for the count of a refused UPDATE answered, and the next
                        // pipeline of psycopg was dropped).
                        let st = p.and_then(|p| p.stmt.as_ref()).filter(|s| s.refusal.is_none());
                        let described = p.is_some_and(|p| p.fields(&sh.statements).is_some());
                        let writes = st.is_some_and(|s| rowcap::writes_rows(&s.sql));
                        let nested = st.is_some_and(|s| s.sql.kinds.iter().any(|k| k == hoop_core::action::sql::NESTED_WRITE));
                        let tx_control = st.is_some_and(|s| rowcap::controls_transactions(&s.sql));
                        (p.and_then(|p| p.action_id), described, writes, nested, st.map(|s| s.sql.clone()), tx_control)
                    };
                    if capped_pending && tx_control {
                        // A COMMIT prepared earlier under a name, run after a capped write of the
                        // same pipeline, commits it before the Sync hoop holds for its count
                        // (red-team round 98: `Parse cm = commit`, Sync; then the DELETE of 1,500
                        // rows, `Execute cm`, Sync: committed, and reported as not committed).
                        return Err(RelayError::Protocol("transaction control after a capped write in the same pipeline (send a Sync first)".into()));
                    }
                    if let Some(message) = read.as_deref().filter(|_| tx_control).and_then(|sql| self.uncounted_tx_control(sql)) {
                        let _ = self.handle.record_later(&Event::Note { message: message.clone() });
                        self.run_refusal(&mut out, &message);
                        continue;
                    }
                    let capped = writes && self.max_rows_written.is_some();
                    // A portal bound before a change of relations in the same transaction runs
                    // after it (red-team round 101: Bind of the DELETE, then `ALTER TABLE … ON
                    // DELETE CASCADE`, then Execute of the DELETE, in one batch).
                    if capped && {
                        let sh = self.shared();
                        sh.schema_uncommitted || (sh.relations_changing && sh.reach_changing)
                    } {
                        let message = super::capped::schema_uncommitted_message();
                        let _ = self.handle.record_later(&Event::Note { message: message.clone() });
                        self.run_refusal(&mut out, &message);
                        continue;
                    }
                    if let (true, Some(read)) = (capped, read) {
                        let mut sh = self.shared();
                        if sh.capped_read.len() < MAX_NAMED {
                            sh.capped_read.push(read);
                        }
                    }
                    if capped && nested {
                        return Err(RelayError::Protocol(format!(
                            "a write inside a CTE, EXPLAIN or COPY, or run by a FETCH or MOVE, reports no row count of its own, so it cannot run under the written-rows ceiling (rule {})",
                            rowcap::RULE
                        )));
                    }
                    capped_pending |= capped;
                    if !described {
                        // The client did not ask for the row shape: hoop asks for itself, so the
                        // rows are masked by column (and lineage) all the same.
                        self.expect(Expect::DescribePortal { name: portal.clone(), internal: true });
                        proto::describe_portal(&portal).write_to(&mut out);
                    }
                    copy_pending |= {
                        let sh = self.shared();
                        sh.portal(&portal).and_then(|p| p.stmt.as_ref()).is_some_and(|s| s.refusal.is_none() && super::copy_in::copies_from_client(&s.sql))
                    };
                    self.expect(Expect::Execute { portal, action_id, started: Instant::now(), capped });
                    frame.write_to(&mut out);
                }
                b'D' => {
                    let (kind, name) = proto::decode_target(&frame.body).ok_or_else(|| RelayError::Protocol("malformed Describe".into()))?;
                    self.expect(if kind == b'S' { Expect::DescribeStatement { name } } else { Expect::DescribePortal { name, internal: false } });
                    frame.write_to(&mut out);
                }
                b'C' => {
                    let (kind, name) = proto::decode_target(&frame.body).ok_or_else(|| RelayError::Protocol("malformed Close".into()))?;
                    {
                        let mut sh = self.shared();
                        if kind == b'S' {
                            sh.statements.remove(&name);
                        } else {
                            // A protocol Close of a portal closes a cursor of that name too.
                            sh.portals.remove(&name);
                            sh.portal_replaced(&name);
                            sh.cursors.remove(&name);
                        }
                    }
                    self.expect(Expect::Close { internal: false });
                    frame.write_to(&mut out);
                }
                b'S' => {
                    in_batch = false;
                    let (failed, told) = {
                        let mut sh = self.shared();
                        (std::mem::take(&mut sh.batch_failed), std::mem::take(&mut sh.cap_told))
                    };
                    if told {
                        // A capped write went over the ceiling before this Sync came: the client
                        // has its error, the server has failed nothing yet. The refusal runs
                        // first (its answer dropped), then the Sync ends the batch.
                        capped_pending = false;
                        self.refuse_over_ceiling(&mut out).await?;
                        self.expect(Expect::Sync);
                        frame.write_to(&mut out);
                        continue;
                    }
                    if failed {
                        self.shared().capped_read.clear();
                    }
                    if std::mem::take(&mut capped_pending) && !failed {
                        self.hold_sync_for_counts(&mut server, &mut out, &mut client).await?;
                    }
                    if !failed && (copy_pending || self.shared().copying_in) {
                        // Ignored by the server if it copies rows in by the time it reads it.
                        let copying = self.shared().copying_in;
                        if !copying {
                            self.expect(Expect::CopySync);
                        }
                        frame.write_to(&mut out);
                        continue;
                    }
                    self.expect(Expect::Sync);
                    if failed {
                        // The server skips to this Sync, and the ReadyForQuery that ends hoop's
                        // cancel of the failed statement comes only after it: it goes now, past
                        // the fence that holds statements back while a cancel is in flight (a
                        // Sync runs no statement a late cancel could stop, and the server
                        // ignores a cancel while it waits for the client). What was gathered of
                        // the failed batch is skipped by the server: not sent at all.
                        out.clear();
                        frame.write_to(&mut out);
                        server.write_flushed(&out).await?;
                        out.clear();
                        continue;
                    }
                    frame.write_to(&mut out);
                }
                b'F' => {
                    // FunctionCall: decoded, named through the catalog, checked and recorded like
                    // any statement; its result is masked (FunctionCallResponse).
                    let call = proto::decode_function_call(&frame.body).ok_or_else(|| RelayError::Protocol("malformed FunctionCall".into()))?;
                    let name = self.catalog.function_name(call.oid).await.ok().flatten().unwrap_or_else(|| format!("oid {}", call.oid));
                    let mut sql = Sql { text: format!("-- FunctionCall {name}"), parsed: true, ..Sql::default() };
                    sql.kinds = vec!["function_call".into()];
                    sql.functions = vec![name];
                    sql.params = call.args.iter().map(|a| a.as_ref().map(|v| String::from_utf8(v.to_vec()).unwrap_or_else(|_| format!("\\x{}", hex_of(v))))).collect();
                    let action = Action { kind: hoop_core::action::ActionKind::Sql, target: self.target.clone(), sql, ..Action::default() };
                    self.send(&mut server, &mut out).await?;
                    let (_, verdict) = self.decide(action, &mut client).await;
                    match verdict {
                        Ok(()) => {
                            self.expect(Expect::FunctionCall);
                            frame.write_to(&mut out);
                        }
                        Err(msg) => {
                            self.expect(Expect::own_text());
                            proto::query(&refuse::raising_statement(&msg)).write_to(&mut out);
                        }
                    }
                }
                b'X' => {
                    frame.write_to(&mut out);
                    self.send(&mut server, &mut out).await?;
                    return Ok(());
                }
                b'd' => {
                    let (kept, total) = copy_in.get_or_insert_with(|| (Vec::new(), 0));
                    *total += frame.body.len() as u64;
                    let room = self.limits.max_bytes.saturating_sub(kept.len());
                    kept.extend_from_slice(frame.body.get(..room.min(frame.body.len())).unwrap_or_default());
                    frame.write_to(&mut out);
                }
                b'c' | b'f' => {
                    copy_pending = false;
                    self.shared().copying_in = false;
                    if let Some((kept, total)) = copy_in.take() {
                        let shown = self.masker.mask_text(&String::from_utf8_lossy(&kept)).into_owned();
                        let ended = if frame.tag == b'c' { "sent" } else { "abandoned (CopyFail)" };
                        let message = format!("COPY FROM STDIN data {ended}: {total} bytes; the first {} bytes, masked:\n{shown}", kept.len());
                        let _ = self.handle.record_later(&Event::Note { message });
                    }
                    frame.write_to(&mut out);
                }
                // Flush passes through as it is.
                b'H' => frame.write_to(&mut out),
                // Anything else is a message hoop cannot check: refused, not forwarded.
                other => return Err(RelayError::Protocol(format!("unknown message type {:?}", other as char))),
            }
            if out.len() > 64 * 1024 {
                self.send(&mut server, &mut out).await?;
            }
        }
    }

    /// Runs hoop's refusal `msg` where an Execute's answer goes: the unnamed portal is bound to
    /// a statement raising it and executed, so the client gets the error in its place and the
    /// server skips what follows up to Sync, as after any error.
    pub(super) fn run_refusal(&self, out: &mut BytesMut, msg: &str) {
        let refused_portal = Portal { statement: REFUSED_STATEMENT.into(), ..Portal::default() };
        self.expect(Expect::Close { internal: true });
        self.expect(Expect::Parse { internal: true, name: REFUSED_STATEMENT.into(), statement: None });
        self.expect(Expect::Bind { internal: true, portal: Some(Box::new((String::new(), refused_portal))) });
        self.expect(Expect::Execute { portal: String::new(), action_id: None, started: Instant::now(), capped: false });
        proto::close_statement(REFUSED_STATEMENT).write_to(out);
        proto::parse(REFUSED_STATEMENT, &refuse::raising_statement(msg), &[]).write_to(out);
        let b = BindMsg { portal: String::new(), statement: REFUSED_STATEMENT.into(), param_formats: vec![], params: vec![], result_formats: vec![] };
        proto::bind(&b).write_to(out);
        proto::execute("").write_to(out);
    }

    /// Before an Execute of a portal judged before results that ended since (other portals',
    /// or its own earlier part): the rules reading usage are asked again with the usage as it
    /// is now, as at a result checkpoint, so that portals bound early cannot run past a budget
    /// later. `Some(refusal)` when it must not run.
    async fn judge_again(&self, portal: &str, in_batch: bool, server: &mut ConnWrite, out: &mut BytesMut, client: &mut FrameReader<ConnRead>) -> Result<Option<String>, RelayError> {
        if !self.handle.watches_results() {
            return Ok(None);
        }
        // What is still streaming ends first: its rows count.
        self.settle_results(in_batch, server, out, client).await?;
        let (action_id, sql, before) = {
            let sh = self.shared();
            if sh.batch_failed {
                return Ok(None);
            }
            let Some(p) = sh.portal(portal) else { return Ok(None) };
            let (Some(id), Some(sql)) = (p.action_id, p.sql.clone()) else { return Ok(None) };
            if p.judged_at == (sh.results_ended, self.handle.usage_epoch()) {
                return Ok(None);
            }
            (id, sql, p.ran)
        };
        let action = Action { kind: hoop_core::action::ActionKind::Sql, target: self.target.clone(), sql: (*sql).clone(), ..Action::default() };
        let refusal = match self.handle.resume_result(action_id, &action, before) {
            Ok(Checkpoint::Continue) => None,
            Ok(Checkpoint::Deny { rule, reason }) => Some(refuse::message(&rule, &reason)),
            Ok(Checkpoint::Review { rule, pending }) => {
                let t = pending.ticket();
                let note = format!(
                    "hoop: this portal's next rows need approval (rule {rule}); ticket {} — a reviewer lets them go with `hoop approvals approve {}`; waiting",
                    t.id, t.id
                );
                let _ = self.to_client(&[proto::notice("01000", &note)]).await;
                let decided = tokio::select! {
                    d = self.reviewed(self.unless_cancelled(self.handle.wait_result_review(action_id, &rule, pending))) => d,
                    e = client.closed(MAX_BUFFERED_DURING_REVIEW) => return Err(e.into()),
                };
                match decided {
                    None => Some(refuse::message(&rule, "the client cancelled the portal while it waited for review")),
                    Some(Ok(true)) => None,
                    Some(Ok(false)) => Some(refuse::message(&rule, "the reviewer did not let this portal run on")),
                    Some(Err(e)) => Some(format!("hoop: {e}")),
                }
            }
            Err(e) => Some(format!("hoop: {e}")),
        };
        if refusal.is_none() {
            let mut sh = self.shared();
            let now = (sh.results_ended, self.handle.usage_epoch());
            if let Some(p) = sh.portal_mut(portal) {
                p.judged_at = now;
            }
        }
        Ok(refusal)
    }

    /// Reads more from the client; once the session sits inside a transaction with nothing
    /// left to answer, for no longer than the idle-in-transaction limit: past it, the client
    /// gets hoop's FATAL error and the session ends (the server rolls the transaction back
    /// when hoop disconnects, and its locks go).
    async fn fill_or_idle_out(&self, client: &mut FrameReader<ConnRead>) -> Result<(), RelayError> {
        let Some(limit) = self.idle_in_transaction else { return Ok(client.fill().await?) };
        loop {
            // Idle since the last statement the server finished: a bare Sync or an empty query
            // is not a statement, and does not restart the clock.
            let idle = {
                let sh = self.shared();
                (matches!(sh.status, b'T' | b'E') && sh.expect.is_empty()).then(|| limit.saturating_sub(sh.ran_at.map(|t| t.elapsed()).unwrap_or_default()))
            };
            if let Some(left) = idle {
                return match tokio::time::timeout(left, client.fill()).await {
                    Ok(filled) => Ok(filled?),
                    Err(_) => {
                        let message = format!(
                            "hoop: idle inside a transaction for more than {} s; the session ends and the transaction is rolled back (limits.agent_idle_in_transaction_secs)",
                            limit.as_secs()
                        );
                        let _ = self.to_client(&[proto::error("FATAL", "25P03", &message)]).await;
                        Err(RelayError::Protocol(message))
                    }
                };
            }
            // The server still answers: the clock starts when it is done (reading from the
            // client is cancel-safe, so it is raced, then resumed).
            tokio::select! {
                filled = client.fill() => return Ok(filled?),
                _ = self.idle_in_tx.notified() => {}
            }
        }
    }

    /// Waits until every reply the client's messages asked for has been answered.
    pub(super) async fn idle(&self) {
        self.answered_until(|sh| sh.expect.is_empty()).await
    }

    /// Waits until the session's protocol state (what hoop still expects from the server, a
    /// COPY it started) meets `done`, checked again each time the server's answers end an
    /// expected reply.
    pub(super) async fn answered_until(&self, done: impl Fn(&Shared) -> bool) {
        loop {
            let wait = self.answered.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            if done(&self.shared()) {
                return;
            }
            wait.await;
        }
    }

    /// The gateway's own refusal of `sql`, before any policy: a change of a pinned lexing
    /// setting, or a prepared statement or cursor hoop cannot tie to what it runs.
    fn own_refusal(&self, sql: &Sql, refusal: Option<(&'static str, String)>) -> Option<(&'static str, String)> {
        if sql.kinds.iter().any(|k| k == AMBIGUOUS) {
            let msg = "hoop: this text means different statements under different lexing settings (a backslash in a string literal); the gateway cannot tell which will run — use E'' strings or dollar quoting";
            return Some((PINNED_RULE, format!("{msg} (rule {PINNED_RULE})")));
        }
        if sql.kinds.iter().any(|k| k == PINNED_SETTING) {
            let msg = "hoop: statements may not change standard_conforming_strings, client_encoding or backslash_quote: the gateway reads every statement as the server does only under the values it pinned";
            return Some((PINNED_RULE, format!("{msg} (rule {PINNED_RULE})")));
        }
        refusal.map(|(rule, m)| (rule, format!("{m} (rule {rule})")))
    }

    /// [`own_refusal`](Self::own_refusal), then the policy ([`decide`](Self::decide)).
    async fn gatekeep(&self, action: Action, refusal: Option<(&'static str, String)>, client: &mut FrameReader<ConnRead>) -> (Option<u64>, Result<(), String>) {
        match self.own_refusal(&action.sql, refusal) {
            Some((rule, msg)) => match self.handle.refuse(action, rule, &msg) {
                Ok(id) => (Some(id), Err(msg)),
                Err(e) => (None, Err(format!("hoop: {e}"))),
            },
            None => self.decide(action, client).await,
        }
    }

}

/// Bound parameters as text for policy and (masked) recording: text as is, binary decoded
/// by type where the type is known (integers, floats, booleans, text), else hex.
fn bind_params(b: &BindMsg, types: &[u32]) -> Vec<Option<String>> {
    b.params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.as_ref().map(|v| {
                if b.param_format(i) == 0 {
                    return String::from_utf8_lossy(v).into_owned();
                }
                binary_param_text(types.get(i).copied().unwrap_or(0), v).unwrap_or_else(|| format!("\\x{}", hex_of(v)))
            })
        })
        .collect()
}

fn binary_param_text(oid: u32, v: &[u8]) -> Option<String> {
    let arr = |n: usize| -> Option<Vec<u8>> { (v.len() == n).then(|| v.to_vec()) };
    Some(match oid {
        16 => (v.first()? != &0).to_string(),
        21 => i16::from_be_bytes(arr(2)?.try_into().ok()?).to_string(),
        23 => i32::from_be_bytes(arr(4)?.try_into().ok()?).to_string(),
        20 => i64::from_be_bytes(arr(8)?.try_into().ok()?).to_string(),
        700 => f32::from_be_bytes(arr(4)?.try_into().ok()?).to_string(),
        701 => f64::from_be_bytes(arr(8)?.try_into().ok()?).to_string(),
        25 | 1043 | 1042 | 19 | 114 => String::from_utf8(v.to_vec()).ok()?,
        _ => return None,
    })
}
