//! What hoop makes of a statement's text: its relations resolved through the catalog, the
//! lineage of masked values in its results, and how a `COPY ... TO` of it is masked.

use super::*;

/// The rule an agent's lossy change of a column's type is refused under.
const DESTRUCTIVE_DDL_RULE: &str = "agent-no-destructive-ddl";

/// Types whose values convert to text the same under any session setting: text, varchar,
/// char, name, int2/4/8, numeric, boolean, uuid, json, jsonb.
const PRINTS_THE_SAME: &[u32] = &[25, 1043, 1042, 19, 21, 23, 20, 1700, 16, 2950, 114, 3802];

impl Relay {
    /// Reads a statement's text as the server will run it now: the names it runs, the
    /// relations it touches (through the catalog), its COPY plan and its lineage.
    pub(super) async fn read_statement(&self, text: &str) -> Reading {
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

    /// An agent's `ALTER COLUMN … TYPE text` of a column whose values the conversion may rewrite
    /// (they print as the session's settings say: a `float8` under `extra_float_digits = -15`
    /// keeps one digit, red-team Postgres round 124): refused as destructive, also when its
    /// type cannot be told. The type is asked in the client's own session when `session` is
    /// given (the caller has nothing in flight), so that what its transaction made or renamed
    /// counts (compatibility round 9: alembic's one-transaction upgrade made a table in one
    /// revision and widened its column in the next); else of the catalog, which reads what
    /// is committed.
    pub(super) async fn lossy_retype(&self, sql: &Sql, session: Option<(&mut ConnWrite, &mut BytesMut, &mut FrameReader<ConnRead>)>) -> Result<Option<(&'static str, String)>, RelayError> {
        if !sql.kinds.iter().any(|k| k == hoop_core::action::sql::RETYPE_TEXT) || self.handle.session().identity.kind != hoop_core::identity::IdentityKind::Agent {
            return Ok(None);
        }
        // Renamed in the same text (which runs after any question asked now), or earlier in
        // the transaction with only the catalog to ask, a column is not where the answer says
        // (red-team Postgres round 125: a float column renamed to an integer one's name, then
        // changed to text).
        let renamed_here = sql.kinds.iter().any(|k| matches!(k.as_str(), "rename" | "alter_object_schema"));
        if renamed_here || (session.is_none() && self.shared().renamed_in_tx) {
            return Ok(Some((
                DESTRUCTIVE_DDL_RULE,
                "hoop: a column's type cannot change to text in a text (or, through a pipeline, a transaction) that renamed or moved relations or columns: hoop could not read the column's type as it runs; send the rename on its own first".to_string(),
            )));
        }
        let mut session = session;
        for (relation, column) in hoop_core::action::sql::retyped_columns(&sql.text) {
            let oid = match session.as_mut() {
                Some((server, out, client)) => {
                    let regclass: Vec<String> = relation.split('.').map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect();
                    // With the transaction's isolation and how floats print: a snapshot older
                    // than the catalog the ALTER reads (REPEATABLE READ) answers for columns
                    // since renamed, and a name another session swaps while the ALTER waits for
                    // its lock is beyond any answer given before it (red-team Postgres round
                    // 126), so the answer counts only in READ COMMITTED, and floats must print
                    // exactly (`extra_float_digits` of 1 or more), whatever column the ALTER
                    // finds under the name.
                    let question = format!(
                        "SELECT a.atttypid::pg_catalog.text || '|' || pg_catalog.current_setting('transaction_isolation') || '|' || pg_catalog.current_setting('extra_float_digits') FROM pg_catalog.pg_attribute a WHERE a.attrelid = pg_catalog.to_regclass('{}') AND a.attname = '{}' AND NOT a.attisdropped",
                        regclass.join(".").replace('\'', "''"),
                        column.replace('\'', "''")
                    );
                    let answer = self.probe(&question, server, out, client).await?;
                    match answer.as_deref() {
                        Some([Some(v)]) => match v.split('|').collect::<Vec<_>>().as_slice() {
                            [oid, "read committed", digits] if digits.parse::<i32>().is_ok_and(|d| d >= 1) => oid.parse::<u32>().ok(),
                            _ => None,
                        },
                        _ => None,
                    }
                }
                None => {
                    let columns = self.catalog.columns_of(&relation).await.ok().unwrap_or_default();
                    match columns.as_slice() {
                        [(_, _, cols)] => cols.iter().find(|(c, _)| *c == column).map(|(_, oid)| *oid),
                        _ => None,
                    }
                }
            };
            if !oid.is_some_and(|o| PRINTS_THE_SAME.contains(&o)) {
                return Ok(Some((
                    DESTRUCTIVE_DDL_RULE,
                    format!("hoop: changing {relation}.{column} to text rewrites every value as the session's settings print it (or its type could not be read, or read only in a READ COMMITTED transaction with extra_float_digits of 1 or more), so agents may not; only text, character, integer, numeric, boolean, uuid and JSON columns change to text unchanged"),
                )));
            }
        }
        Ok(None)
    }

    /// Asks `question` (hoop's own query, of one column, that does not fail in a sound
    /// transaction) in the client's session once everything in flight is answered; the
    /// client never sees it. `None` if it failed.
    async fn probe(&self, question: &str, server: &mut ConnWrite, out: &mut BytesMut, client: &mut FrameReader<ConnRead>) -> Result<Option<Vec<Option<String>>>, RelayError> {
        self.send(server, out).await?;
        tokio::select! {
            _ = self.idle() => {}
            e = client.closed(MAX_BUFFERED_DURING_REVIEW) => return Err(e.into()),
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.probing.store(true, std::sync::atomic::Ordering::Release);
        self.expect(Expect::Probe { values: Vec::new(), failed: false, done: Some(tx) });
        proto::query(question).write_to(out);
        self.send(server, out).await?;
        tokio::select! {
            answer = rx => Ok(answer.ok().flatten()),
            e = client.closed(MAX_BUFFERED_DURING_REVIEW) => Err(e.into()),
        }
    }

    /// The session names a statement uses, read only for the kinds that have any.
    pub(super) fn names_of(&self, sql: &Sql) -> Names {
        let named = sql.kinds.iter().any(|k| matches!(k.as_str(), "prepare" | "execute" | "deallocate" | "declare" | "fetch" | "move" | "close_portal" | "discard"));
        if named { hoop_core::action::sql::names(&sql.text) } else { Names::default() }
    }

    pub(super) async fn resolve_tables(&self, sql: &mut Sql) -> Arc<crate::memo::Facts> {
        if changes_relations(sql) {
            self.forget_relations();
            let mut sh = self.shared();
            (sh.relations_changing, sh.changed_in_tx) = (true, true);
            sh.renamed_in_tx |= sql.kinds.iter().any(|k| matches!(k.as_str(), "rename" | "alter_object_schema"));
            // A change that keeps what writes reach (a column widened, a default, an index:
            // what migrations do before writing their version row) leaves capped writes after
            // it in the same transaction checked as usual (compatibility round 8: alembic's
            // `UPDATE alembic_version` after every migration was refused).
            sh.reach_changing |= !sql.parsed || sql.kinds.iter().any(|k| k == hoop_core::action::sql::REACH_CHANGE);
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

    /// Adds to `sql.tables` every `schema.relation` its table names may denote, and the tables
    /// behind views (see [`Catalog::resolve`]); a statement that changes relations makes the
    /// gateway forget what it resolved.
    /// Adds to a write's tables those a foreign key ties to the relations it writes, either
    /// way; how many tables it had before (its own).
    pub(super) async fn add_key_linked(&self, sql: &mut Sql) -> usize {
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

    /// The lineage masks of `sql`'s results, with the statements and cursors it runs.
    pub(super) async fn lineage(&self, sql: &Sql, names: &Names, facts: &crate::memo::Facts) -> Option<Arc<TextLineage>> {
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

    /// What lineage says of `sql` beyond its results: an agent's statement that would carry a
    /// value derived from a masked column out of the result (into storage, a setting, a
    /// notification, a large object, a lock) is refused; one that chooses rows by a masked
    /// column gets the kind `masked_filter`, for rules.
    pub(super) fn lineage_refusal(&self, sql: &mut Sql, lineage: Option<&TextLineage>) -> Option<(&'static str, String)> {
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

    /// How rows of a `COPY ... TO` would be masked, if `sql` is one (`named`: its tables as it
    /// names them). Columns are masked as a SELECT of them would be: a configured column, or
    /// one discovery found mostly sensitive, whole. Where hoop cannot tell which field is which
    /// column (a query, a custom delimiter) and the tables have masked columns, every field is
    /// masked whole: COPY escaping can hide a value from the content detectors.
    pub(super) async fn copy_plan(&self, sql: &Sql, named: &[String], facts: &crate::memo::Facts) -> Option<Arc<CopyPlan>> {
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
    pub(super) async fn copy_columns(&self, list: Option<Vec<String>>, table: &str, masked: Option<&HashMap<String, Arc<Vec<crate::discover::MaskedColumn>>>>) -> Option<Vec<(Option<hoop_core::mask::ColumnMask>, hoop_core::mask::ValueKind)>> {
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

    /// Before a statement is checked: if one that changes relations may not have run yet,
    /// waits until the server answered everything sent (a batch is flushed for it), then
    /// forgets what the catalog said, so the check reads relations as they are when the
    /// statement runs (red-team round 20: `DELETE FROM v` checked with `v` resolved before
    /// `CREATE VIEW v` ran, as naming no table).
    pub(super) async fn settle_relations(&self, in_batch: bool, server: &mut ConnWrite, out: &mut BytesMut, client: &mut FrameReader<ConnRead>) -> Result<(), RelayError> {
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
        let mut sh = self.shared();
        sh.relations_changing = false;
        // What changed them has not committed while a batch's implicit transaction or the
        // client's is open: its keys, triggers and rules are not in the catalog hoop reads
        // (red-team round 101: `ALTER TABLE … ON DELETE CASCADE` and the DELETE in one batch).
        if std::mem::take(&mut sh.reach_changing) && (in_batch || sh.status != b'I') {
            sh.schema_uncommitted = true;
        }
        Ok(())
    }

    /// Forgets what the catalog and discovery said of relations, here and for every session.
    pub(super) fn forget_relations(&self) {
        self.catalog.forget_resolved();
        self.discovery.forget();
        self.memo.clear();
    }
}
