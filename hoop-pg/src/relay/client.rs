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
                // After an error the server discards everything up to the Sync, a Query too,
                // so hoop could no longer tell which answer belongs to which message.
                return Err(RelayError::Protocol("a simple Query or FunctionCall inside an extended-protocol batch (send a Sync first)".into()));
            }
            match frame.tag {
                b'Q' => {
                    let Some(text) = proto::decode_query(&frame.body) else {
                        // Not UTF-8 (the pinned client_encoding): hoop cannot read it as the server would.
                        self.expect(Expect::Query { action_id: None, started: Instant::now(), copy: None, names: None, failed: false, lineage: None, results: 0, cap: None, generation: None });
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
                    let binary_masked = copy.as_ref().is_some_and(|c| c.binary && (c.rest.is_some() || c.columns.iter().any(|(r, _)| r.is_some())));
                    self.send(&mut server, &mut out).await?;
                    self.settle_results(false, &mut server, &mut out, &mut client).await?;
                    let (writes, tx_control) = (rowcap::writes_rows(&action.sql), rowcap::controls_transactions(&action.sql));
                    let nested = action.sql.kinds.iter().any(|k| k == hoop_core::action::sql::NESTED_WRITE);
                    let written = (writes && self.max_rows_written.is_some()).then(|| action.sql.clone());
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
                    let verdict = match (limit, verdict) {
                        (Some(_), Ok(())) if nested => Err(format!(
                            "hoop: a write inside a CTE or EXPLAIN reports no row count, so it cannot run while agents' writes are limited; run it as its own statement (rule {})",
                            rowcap::RULE
                        )),
                        (Some(_), Ok(())) if tx_control => Err(format!(
                            "hoop: a statement that writes rows cannot share its text with BEGIN/COMMIT/ROLLBACK while agents' writes are limited; send them separately (rule {})",
                            rowcap::RULE
                        )),
                        (_, v) => v,
                    };
                    if let (Some(limit), Ok(())) = (limit, &verdict) {
                        let head = Expect::Query { action_id, started: Instant::now(), copy, names, failed: false, lineage, results: 0, cap: None, generation: Some(read_in) };
                        let checked = written.as_ref().map(|w| w.tables.get(..own).unwrap_or(&w.tables).to_vec()).unwrap_or_default();
                        self.capped_query(&frame, head, (limit, &checked), &mut server, &mut out, &mut client).await?;
                        continue;
                    }
                    // A refused text runs hoop's refusal, whose message is hoop's own.
                    let lineage = lineage.filter(|_| verdict.is_ok());
                    let generation = verdict.is_ok().then_some(read_in);
                    self.expect(Expect::Query { action_id, started: Instant::now(), copy, names, failed: false, lineage, results: 0, cap: None, generation });
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
                    let sql = Arc::new(sql);
                    let action = Action { kind: hoop_core::action::ActionKind::Sql, target: self.target.clone(), sql: (*sql).clone(), ..Action::default() };
                    // Checked again at Bind with its parameters: a review waits for that check.
                    let verdict = match self.own_refusal(&action.sql, unknown) {
                        Some((rule, msg)) => {
                            let _ = self.handle.refuse(action, rule, &msg);
                            Err(msg)
                        }
                        None => match self.handle.precheck(action) {
                            Ok(hoop_core::verdict::Verdict::Deny { rule, reason }) => Err(refuse::message(&rule, &reason)),
                            Ok(_) => Ok(()),
                            Err(e) => Err(format!("hoop: {e}")),
                        },
                    };
                    let verdict = match verdict {
                        Ok(()) if binary_masked => Err(BINARY_COPY_REFUSAL.to_string()),
                        v => v,
                    };
                    let verdict = match verdict {
                        Ok(()) if self.max_rows_written.is_some() && rowcap::writes_rows(&sql) => self.uncounted_writes(&sql, own).await.map_or(Ok(()), Err),
                        v => v,
                    };
                    let refused = verdict.is_err();
                    let param_types = p.types.clone();
                    // Recorded whatever hoop expects of it: only the server's ParseComplete makes it
                    // the statement the name holds (a rejected re-Parse of a live name changes
                    // nothing).
                    let lineage = lineage.filter(|_| !refused);
                    let id = {
                        let mut sh = self.shared();
                        sh.next_statement += 1;
                        // PREPARE or DECLARE through the extended protocol: hoop does not learn
                        // whether they ran, so their names are forgotten (later use is refused).
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
                    let statement = Some(Statement { id, sql, lineage, fields: None, refused, param_types, copy, from_sql: false, generation });
                    self.expect(Expect::Parse { internal: false, name: p.name.clone(), statement });
                    match verdict {
                        Ok(()) => frame.write_to(&mut out),
                        Err(msg) => proto::parse(&p.name, &refuse::raising_statement(&msg), &[]).write_to(&mut out),
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
                    if stmt.refused {
                        // The statement already raises hoop's refusal; bind it without parameters.
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
                    let (stmt, unknown, reread) = if unknown.is_none() && !stmt.sql.tables.is_empty() && stmt.generation != self.catalog.generation() {
                        self.settle_relations(in_batch, &mut server, &mut out, &mut client).await?;
                        let r = self.read_statement(&stmt.sql.text).await;
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
                        (v, _) => v,
                    };
                    let portal = Portal {
                        statement: b.statement.clone(),
                        stmt: Some(stmt.clone()),
                        result_formats: b.result_formats.clone(),
                        fields: None,
                        action_id,
                        sql: kept,
                        judged_at: self.shared().results_ended,
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
                    let refusal = self.judge_again(&portal, in_batch, &mut server, &mut out, &mut client).await?;
                    if self.shared().batch_failed {
                        continue;
                    }
                    if let Some(msg) = refusal {
                        self.run_refusal(&mut out, &msg);
                        continue;
                    }
                    let (action_id, described, writes, nested, read) = {
                        let sh = self.shared();
                        let p = sh.portal(&portal);
                        let st = p.and_then(|p| p.stmt.as_ref());
                        let described = p.is_some_and(|p| p.fields(&sh.statements).is_some());
                        let writes = st.is_some_and(|s| rowcap::writes_rows(&s.sql));
                        let nested = st.is_some_and(|s| s.sql.kinds.iter().any(|k| k == hoop_core::action::sql::NESTED_WRITE));
                        (p.and_then(|p| p.action_id), described, writes, nested, st.map(|s| (s.generation, s.sql.clone())))
                    };
                    let capped = writes && self.max_rows_written.is_some();
                    if let (true, Some(read)) = (capped, read) {
                        let mut sh = self.shared();
                        if sh.capped_read.len() < MAX_NAMED {
                            sh.capped_read.push(read);
                        }
                    }
                    if capped && nested {
                        return Err(RelayError::Protocol(format!(
                            "a write inside a CTE or EXPLAIN reports no row count, so it cannot run under the written-rows ceiling (rule {})",
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
                            sh.cursors.remove(&name);
                        }
                    }
                    self.expect(Expect::Close { internal: false });
                    frame.write_to(&mut out);
                }
                b'S' => {
                    in_batch = false;
                    let failed = std::mem::take(&mut self.shared().batch_failed);
                    if failed {
                        self.shared().capped_read.clear();
                    }
                    if std::mem::take(&mut capped_pending) && !failed {
                        self.hold_sync_for_counts(&mut server, &mut out, &mut client).await?;
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
                            self.expect(Expect::Query { action_id: None, started: Instant::now(), copy: None, names: None, failed: false, lineage: None, results: 0, cap: None, generation: None });
                            proto::query(&refuse::raising_statement(&msg)).write_to(&mut out);
                        }
                    }
                }
                b'X' => {
                    frame.write_to(&mut out);
                    self.send(&mut server, &mut out).await?;
                    return Ok(());
                }
                // Flush and the COPY sub-protocol pass through as they are.
                b'H' | b'd' | b'c' | b'f' => frame.write_to(&mut out),
                // Anything else is a message hoop cannot check: refused, not forwarded.
                other => return Err(RelayError::Protocol(format!("unknown message type {:?}", other as char))),
            }
            if out.len() > 64 * 1024 {
                self.send(&mut server, &mut out).await?;
            }
        }
    }

    /// Runs a simple query under the written-rows ceiling (see [`rowcap`]): inside hoop's own
    /// transaction when the client has none, with the client's ReadyForQuery held until the
    /// counts are in.
    async fn capped_query(
        &self,
        frame: &Frame,
        head: Expect,
        (limit, checked): (u64, &[String]),
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
        let Expect::Query { action_id, started, copy, names, lineage, generation, .. } = head else { return Ok(()) };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let cap = Box::new(rowcap::Cap { limit, over: None, done: Some(tx) });
        if status == b'I' {
            self.expect(Expect::Internal);
            proto::query("BEGIN").write_to(out);
        }
        self.expect(Expect::Query { action_id, started, copy, names, failed: false, lineage, results: 0, cap: Some(cap), generation });
        frame.write_to(out);
        self.send(server, out).await?;
        let outcome = tokio::select! {
            o = rx => o.map_err(|_| RelayError::Protocol("the server's answer to a capped write was lost".into()))?,
            e = client.closed(MAX_BUFFERED_DURING_REVIEW) => return Err(e.into()),
        };
        // Relations changed while it ran (it may have waited for a lock, after which the server
        // resolves its names again): if what its names denote now is not what was checked, it
        // is not committed (red-team round 21: a table renamed and a view of its name made over
        // `customers` while the agent's DELETE waited).
        let moved = match generation {
            Some(g) if g != self.catalog.generation() => self.relations_moved(checked).await,
            _ => false,
        };
        let refusal = match outcome.over {
            Some((tag, n)) => Some(rowcap::message(&tag, n, limit)),
            None if moved => Some(moved_message()),
            None => None,
        };
        match (status, refusal) {
            (b'I', Some(message)) => {
                self.expect(Expect::Internal);
                proto::query("ROLLBACK").write_to(out);
                self.expect(Expect::Query { action_id: None, started: Instant::now(), copy: None, names: None, failed: false, lineage: None, results: 0, cap: None, generation: None });
                proto::query(&refuse::raising_statement(&message)).write_to(out);
            }
            (b'I', None) => {
                self.expect(Expect::Tail);
                proto::query(if outcome.failed { "ROLLBACK" } else { "COMMIT" }).write_to(out);
            }
            (_, Some(message)) => {
                // Inside the client's transaction: failing it keeps the write from committing.
                self.expect(Expect::Query { action_id: None, started: Instant::now(), copy: None, names: None, failed: false, lineage: None, results: 0, cap: None, generation: None });
                proto::query(&refuse::raising_statement(&message)).write_to(out);
            }
            (_, None) => self.to_client(&[outcome.ready]).await?,
        }
        self.send(server, out).await
    }

    /// Whether any of `checked` (a write's relations as its check resolved them) now denotes
    /// a relation that was not among them; a catalog that cannot tell says yes.
    async fn relations_moved(&self, checked: &[String]) -> bool {
        self.forget_relations();
        for t in checked {
            match self.catalog.resolve(t).await {
                Ok(now) if now.iter().all(|n| checked.contains(n)) => {}
                _ => return true,
            }
        }
        false
    }

    /// Holds a Sync until every capped Execute before it has its count, and fails the
    /// transaction first if one wrote too many rows.
    async fn hold_sync_for_counts(&self, server: &mut ConnWrite, out: &mut BytesMut, client: &mut FrameReader<ConnRead>) -> Result<(), RelayError> {
        // Flush makes the server send what it has without waiting for the Sync.
        proto::raw(b'H', &[]).write_to(out);
        self.send(server, out).await?;
        tokio::select! {
            _ = self.answered_until(|expect| !expect.iter().any(|e| matches!(e, Expect::Execute { capped: true, .. }))) => {}
            e = client.closed(MAX_BUFFERED_DURING_REVIEW) => return Err(e.into()),
        }
        let (over, read) = {
            let mut sh = self.shared();
            (sh.cap_over.take(), std::mem::take(&mut sh.capped_read))
        };
        if let (Some((tag, n)), Some(limit)) = (over, self.max_rows_written) {
            self.run_refusal(out, &rowcap::message(&tag, n, limit));
            return Ok(());
        }
        // As for a simple query (see `capped_query`): relations that changed while a write ran
        // and now denote others fail the batch before its Sync commits it.
        let now = self.catalog.generation();
        for (generation, sql) in read {
            if generation != now && !sql.tables.is_empty() && self.relations_moved(&sql.tables).await {
                self.run_refusal(out, &moved_message());
                break;
            }
        }
        Ok(())
    }

    /// A write under the written-rows ceiling to a relation whose foreign keys cascade, or that
    /// has triggers or rules: the server's count leaves out the rows those change, so hoop could
    /// not hold the ceiling. The refusal, also when the catalog cannot tell (fail closed).
    async fn uncounted_writes(&self, sql: &Sql, own: usize) -> Option<String> {
        // The statement's own relations, not those its foreign keys tie it to (which its
        // write reads, but does not change unless its own keys cascade).
        let tables = sql.tables.get(..own).unwrap_or(&sql.tables);
        let does = |k: &[&str]| sql.kinds.iter().any(|x| k.contains(&x.as_str()));
        let (deletes, updates) = (does(&["delete", "merge"]), does(&["update", "merge"]));
        // One catalog query names every relation: past a bound, the write is refused rather
        // than the catalog asked an unbounded question.
        if tables.len() > MAX_CHECKED_RELATIONS {
            return Some(format!(
                "hoop: a write naming more than {MAX_CHECKED_RELATIONS} relations cannot be checked for what its count leaves out while agents' writes are limited (rule {})",
                rowcap::RULE
            ));
        }
        match self.catalog.writes_reach_further(tables, deletes, updates).await {
            Ok(None) => None,
            Ok(Some(t)) => Some(format!(
                "hoop: a write to {t} also changes rows its server count leaves out (a foreign key that cascades, a trigger or a rule), so it cannot run while agents' writes are limited (rule {})",
                rowcap::RULE
            )),
            Err(e) => Some(format!("hoop: could not tell whether the write changes more rows than its count: {e} (rule {})", rowcap::RULE)),
        }
    }

    /// Runs hoop's refusal `msg` where an Execute's answer goes: the unnamed portal is bound to
    /// a statement raising it and executed, so the client gets the error in its place and the
    /// server skips what follows up to Sync, as after any error.
    fn run_refusal(&self, out: &mut BytesMut, msg: &str) {
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
            if p.judged_at == sh.results_ended {
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
            let now = sh.results_ended;
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
            let idle = {
                let sh = self.shared();
                matches!(sh.status, b'T' | b'E') && sh.expect.is_empty()
            };
            if idle {
                return match tokio::time::timeout(limit, client.fill()).await {
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
    async fn idle(&self) {
        self.answered_until(|expect| expect.is_empty()).await
    }

    /// Waits until what hoop still expects from the server meets `done` (checked again each time
    /// the server's answers end an expected reply).
    pub(super) async fn answered_until(&self, done: impl Fn(&VecDeque<Expect>) -> bool) {
        loop {
            let wait = self.answered.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            if done(&self.shared().expect) {
                return;
            }
            wait.await;
        }
    }

    /// What lineage says of `sql` beyond its results: an agent's statement that would carry a
    /// value derived from a masked column out of the result (into storage, a setting, a
    /// notification, a large object, a lock) is refused; one that chooses rows by a masked
    /// column gets the kind `masked_filter`, for rules.
    fn lineage_refusal(&self, sql: &mut Sql, lineage: Option<&TextLineage>) -> Option<(&'static str, String)> {
        let l = lineage?;
        if l.filters && !sql.kinds.iter().any(|k| k == MASKED_FILTER) {
            sql.kinds.push(MASKED_FILTER.into());
        }
        let agent = self.handle.session().identity.kind == hoop_core::identity::IdentityKind::Agent;
        (agent && l.carries).then(|| {
            (
                LINEAGE_RULE,
                "hoop: this statement would carry values derived from masked columns out of its result (into a table, a view, a setting, a notification, a large object, a sequence or a lock)".to_string(),
            )
        })
    }

    /// The lineage masks of `sql`'s results, with the statements and cursors it runs.
    async fn lineage(&self, sql: &Sql, names: &Names, facts: &crate::memo::Facts) -> Option<Arc<TextLineage>> {
        let masked = facts.masked.as_ref()?;
        let held: Vec<String> = {
            let sh = self.shared();
            let executed = names.executed.iter().filter_map(|n| sh.statements.get(n).map(|s| s.sql.text.clone()));
            let fetched = names.fetched.iter().filter_map(|n| {
                sh.cursors.get(n).map(|c| c.0.text.clone()).or_else(|| sh.portal(n).and_then(|p| p.stmt.as_ref()).map(|s| s.sql.text.clone()))
            });
            executed.chain(fetched).collect()
        };
        let held: Vec<&str> = held.iter().map(String::as_str).collect();
        let lineage = crate::lineage::of_text(&self.masker, masked, &sql.text, &held)?;
        if lineage.carries || lineage.tainted_calls.is_empty() {
            return Some(lineage);
        }
        // A value derived from a masked column given to a function that takes an object
        // identifier chooses which object it opens (a large object's descriptor, a sequence's
        // lock), which a later statement can see: carried out like a store. Unknown (the
        // catalog could not be read) counts as such a function.
        let opens = match self.catalog.object_functions().await {
            Ok(set) => lineage.tainted_calls.iter().any(|f| set.contains(f)),
            Err(_) => true,
        };
        if !opens {
            return Some(lineage);
        }
        let mut l = (*lineage).clone();
        l.carries = true;
        Some(Arc::new(l))
    }

    /// The lineage mask of the result that begins now in the simple query at the front.
    pub(super) fn next_result_lineage(&self) -> Option<crate::lineage::ResultMask> {
        if self.front_stale() {
            let mut sh = self.shared();
            if let Some(Expect::Query { results, .. }) = sh.expect.front_mut() {
                *results += 1;
            }
            return self.masker.rule_for("derived").map(crate::lineage::ResultMask::every);
        }
        let mut sh = self.shared();
        let Some(Expect::Query { lineage: Some(l), results, .. }) = sh.expect.front_mut() else { return None };
        let mask = l.result(*results).clone();
        *results += 1;
        Some(mask)
    }

    /// The session names a statement uses, read only for the kinds that have any.
    fn names_of(&self, sql: &Sql) -> Names {
        let named = sql.kinds.iter().any(|k| matches!(k.as_str(), "prepare" | "execute" | "deallocate" | "declare" | "fetch" | "move" | "close_portal" | "discard"));
        if named { hoop_core::action::sql::names(&sql.text) } else { Names::default() }
    }

    /// Adds to `sql.tables` every `schema.relation` its table names may denote, and the tables
    /// behind views (see [`Catalog::resolve`]); a statement that changes relations makes the
    /// gateway forget what it resolved.
    /// Adds to a write's tables those a foreign key ties to the relations it writes, either
    /// way; how many tables it had before (its own).
    async fn add_key_linked(&self, sql: &mut Sql) -> usize {
        let own = sql.tables.len();
        // A write reads the tables its foreign keys tie to its own: whether it failed, or how
        // many rows it wrote, says which keys they hold (red-team round 14: `DELETE FROM
        // customers WHERE id = 4` went through where a payment pointed at 1 to 3, unreviewed).
        if sql.kinds.iter().any(|k| matches!(k.as_str(), "insert" | "update" | "delete" | "merge")) || sql.copy == "from" {
            let mut linked: Vec<String> = Vec::new();
            // Only what it writes: a table it reads (`INSERT INTO r SELECT … FROM customers`)
            // checks no key.
            // A text that also changes relations may write through a view it defines, which
            // the catalog cannot resolve yet: every relation it names counts as written.
            let written = if changes_relations(sql) { sql.tables.clone() } else { sql.written.clone() };
            for t in &written {
                match self.catalog.key_linked(t).await {
                    Ok(names) => {
                        for n in names.iter() {
                            if !sql.tables.contains(n) && !linked.contains(n) {
                                linked.push(n.clone());
                            }
                        }
                    }
                    Err(e) => {
                        // Unreadable means refused: without the list the rules cannot tell.
                        tracing::warn!(table = %t, error = %e, "reading foreign keys through the catalog failed");
                        sql.kinds.push("unknown".into());
                        break;
                    }
                }
            }
            sql.tables.extend(linked);
        }
        own
    }

    async fn resolve_tables(&self, sql: &mut Sql) -> Arc<crate::memo::Facts> {
        if changes_relations(sql) {
            self.forget_relations();
            self.shared().relations_changing = true;
        }
        let facts = self.memo.facts(&self.discovery, &self.catalog, &self.masker, &self.target, &self.handle.session().identity.subject, &sql.tables).await;
        sql.tables.extend(facts.extra.iter().cloned());
        // A name that resolves to a relation whose schema or name holds a dot (`plain` on a
        // search path that reaches `"sch.ema".plain`): hoop could not tell which one it is.
        if facts.extra.iter().any(|t| t.matches('.').count() >= 2) && !sql.kinds.iter().any(|k| k == hoop_core::action::sql::DOTTED_NAME) {
            sql.kinds.push(hoop_core::action::sql::DOTTED_NAME.to_string());
        }
        facts
    }

    /// Reads a statement's text as the server will run it now: the names it runs, the
    /// relations it touches (through the catalog), its COPY plan and its lineage.
    async fn read_statement(&self, text: &str) -> Reading {
        let mut sql = hoop_core::action::sql::analyze(text);
        if !sql.tables.is_empty() {
            self.catalog.notice_changes().await;
        }
        let generation = self.catalog.generation();
        let names = self.names_of(&sql);
        let unknown = self.shared().resolve_names(&mut sql, &names).err().map(|m| (UNKNOWN_NAME_RULE, m));
        let named = if sql.copy == "to" { sql.tables.clone() } else { Vec::new() };
        let facts = self.resolve_tables(&mut sql).await;
        // A statement that changes relations itself moved the generation on purpose.
        let generation = if changes_relations(&sql) { self.catalog.generation() } else { generation };
        let own = self.add_key_linked(&mut sql).await;
        // A COPY run through the extended protocol is masked as one sent as a Query.
        let copy = self.copy_plan(&sql, &named, &facts).await;
        let binary_masked = copy.as_ref().is_some_and(|c| c.binary && (c.rest.is_some() || c.columns.iter().any(|(r, _)| r.is_some())));
        let lineage = self.lineage(&sql, &names, &facts).await;
        let unknown = unknown.or_else(|| self.lineage_refusal(&mut sql, lineage.as_deref()));
        Reading { sql, names, unknown, own, copy, binary_masked, lineage, generation }
    }

    /// Forgets what the catalog and discovery said of relations, here and for every session.
    pub(super) fn forget_relations(&self) {
        self.catalog.forget_resolved();
        self.discovery.forget();
        self.memo.clear();
    }

    /// Before a statement is checked: if one that changes relations may not have run yet,
    /// waits until the server answered everything sent (a batch is flushed for it), then
    /// forgets what the catalog said, so the check reads relations as they are when the
    /// statement runs (red-team round 20: `DELETE FROM v` checked with `v` resolved before
    /// `CREATE VIEW v` ran, as naming no table).
    async fn settle_relations(&self, in_batch: bool, server: &mut ConnWrite, out: &mut BytesMut, client: &mut FrameReader<ConnRead>) -> Result<(), RelayError> {
        if !self.shared().relations_changing {
            return Ok(());
        }
        if in_batch {
            proto::raw(b'H', &[]).write_to(out);
        }
        self.send(server, out).await?;
        tokio::select! {
            _ = self.idle() => {}
            e = client.closed(MAX_BUFFERED_DURING_REVIEW) => return Err(e.into()),
        }
        self.forget_relations();
        self.shared().relations_changing = false;
        Ok(())
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

    /// How rows of a `COPY ... TO` would be masked, if `sql` is one (`named`: its tables as it
    /// names them). Columns are masked as a SELECT of them would be: a configured column, or
    /// one discovery found mostly sensitive, whole. Where hoop cannot tell which field is which
    /// column (a query, a custom delimiter) and the tables have masked columns, every field is
    /// masked whole: COPY escaping can hide a value from the content detectors.
    async fn copy_plan(&self, sql: &Sql, named: &[String], facts: &crate::memo::Facts) -> Option<Arc<CopyPlan>> {
        if sql.copy != "to" {
            return None;
        }
        let lower = sql.text.to_ascii_lowercase();
        let mut plan = CopyPlan { csv: lower.contains("csv"), binary: lower.contains("binary"), columns: Vec::new(), rest: None };
        let masked = facts.masked.as_ref().filter(|m| m.values().any(|c| !c.is_empty()));
        // `COPY (query) TO` or a column list: a parenthesis before the TO. Only a list hoop can
        // read names fields; anything else is a query to it (fields masked whole).
        let before_to = lower.rfind(" to ").and_then(|t| lower.get(..t)).unwrap_or(&lower);
        let list = crate::copy::column_list(&sql.text);
        let query = before_to.contains('(') && list.is_none();
        let custom = ["delimiter", "quote", "escape", "force_quote", "force quote"].iter().any(|o| lower.contains(o));
        let mapped = match (query, custom, named) {
            (false, false, [table]) => self.copy_columns(list, table, masked).await,
            _ => None,
        };
        match mapped {
            Some(columns) => plan.columns = columns,
            None if masked.is_some() => plan.rest = self.masker.rule_for("copy"),
            None => {}
        }
        Some(Arc::new(plan))
    }

    /// The rule and kind of each field a `COPY table [(columns)] TO` sends, or `None` when the
    /// table's columns cannot be told (it names several relations, or a column it lists is
    /// not one of them).
    async fn copy_columns(&self, list: Option<Vec<String>>, table: &str, masked: Option<&HashMap<String, Arc<Vec<crate::discover::MaskedColumn>>>>) -> Option<Vec<(Option<hoop_core::mask::ColumnMask>, hoop_core::mask::ValueKind)>> {
        let relations = self.catalog.columns_of(table).await.ok()?;
        let [(schema, tname, cols)] = relations.as_slice() else { return None };
        let discovered = masked.and_then(|m| m.get(table));
        let rule_of = |c: &str| {
            self.masker.column_rule(&ColumnRef { target: &self.target, schema, table: tname, column: c }).or_else(|| {
                discovered.and_then(|d| d.iter().find(|m| m.whole && m.name == c.to_lowercase())).map(|m| m.rule.clone())
            })
        };
        let listed: Vec<&(String, u32)> = match list {
            Some(names) => names.iter().map(|n| cols.iter().find(|(c, _)| c == n)).collect::<Option<Vec<_>>>()?,
            None => cols.iter().collect(),
        };
        Some(listed.into_iter().map(|(c, oid)| (rule_of(c), kind_of(*oid))).collect())
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

