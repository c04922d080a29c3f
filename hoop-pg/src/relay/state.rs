//! Protocol state that follows the server: what it will answer next, and the prepared
//! statements, portals and cursors it confirmed.

use super::*;

/// What the server will answer next, in order.
#[derive(Debug)]
pub(super) enum Expect {
    /// ParseComplete; `internal` ones are hoop's own and not shown to the client. The statement
    /// enters the session's map only when the server confirms it.
    Parse { internal: bool, name: String, statement: Option<Statement> },
    /// BindComplete; `internal` ones are hoop's own. The portal enters the session's map only
    /// when the server confirms it (portals also end with their transaction).
    Bind { internal: bool, portal: Option<Box<(String, Portal)>> },
    /// CloseComplete.
    Close { internal: bool },
    /// ParameterDescription then RowDescription/NoData for a statement.
    DescribeStatement { name: String },
    /// RowDescription/NoData for a portal; `internal` ones are hoop's own (so that masking
    /// never depends on the client having asked) and not shown to the client.
    DescribePortal { name: String, internal: bool },
    /// Rows, then CommandComplete/EmptyQuery/PortalSuspended/Error; `capped` writes count
    /// against `limits.max_rows_written`.
    Execute { portal: String, action_id: Option<u64>, started: Instant, capped: bool },
    /// hoop's own simple query (`BEGIN`, `ROLLBACK`): nothing of it reaches the client.
    Internal,
    /// hoop's own simple query that ends the client's (`COMMIT`): its errors and ReadyForQuery
    /// reach the client, its command tag does not.
    Tail,
    /// hoop's own query asked in the client's session, whose answer hoop reads and the client
    /// never sees: its first column's values, or `None` if it failed. Only ever sent with
    /// nothing else in flight, and written not to fail where the session's transaction is
    /// sound (see `reading.rs`).
    Probe { values: Vec<Option<String>>, failed: bool, done: Option<tokio::sync::oneshot::Sender<Option<Vec<Option<String>>>>> },
    /// hoop's own simple query that undoes a text the client was already told failed (its
    /// `ROLLBACK`, or the refusal that fails the client's transaction): only its ReadyForQuery
    /// reaches the client.
    Quiet,
    /// A simple query: any number of results, then ReadyForQuery. `names` are the prepared
    /// statements and cursors it creates, kept once the server ran the whole text without error.
    Query {
        action_id: Option<u64>,
        started: Instant,
        copy: Option<Arc<CopyPlan>>,
        names: Option<Box<Names>>,
        failed: bool,
        /// Lineage masks of the text's results, and how many results began so far.
        lineage: Option<Arc<TextLineage>>,
        results: usize,
        /// Set when the text runs under the written-rows ceiling.
        cap: Option<Box<rowcap::Cap>>,
        /// When the text was read (`None` for hoop's own texts and texts naming no relation):
        /// relations it names that changed before it was answered may be other relations
        /// than it was checked against, so its answer is then masked as if it read anything.
        read: Option<ReadIn>,
        /// It writes rows it reads from other relations: those rows count as read
        /// ([`super::results::copies_rows`]).
        copies: bool,
        /// What a `ROLLBACK` tag of it undoes.
        rollbacks: super::transaction::Rollbacks,
    },
    /// FunctionCallResponse, then ReadyForQuery.
    FunctionCall,
    /// ReadyForQuery after Sync.
    Sync,
    /// A Sync sent behind the Execute of a `COPY … FROM STDIN` before its rows ended: the
    /// server ignores it if the COPY started (it reads only rows then), and answers it as a
    /// Sync if the COPY failed first; gone from the queue once the server starts copying in.
    CopySync,
}

/// The catalog generation a text was read in, and the relations it names (as spelt and as
/// resolved): a change of one of those before it is answered makes what it was checked
/// against stale.
#[derive(Debug, Clone)]
pub(super) struct ReadIn {
    pub(super) generation: u64,
    pub(super) tables: Arc<[String]>,
}

impl ReadIn {
    /// `sql` read in `generation`; `None` if it names no relation (nothing of it can go stale).
    pub(super) fn of(generation: u64, sql: &Sql) -> Option<ReadIn> {
        (!sql.tables.is_empty()).then(|| ReadIn { generation, tables: sql.tables.as_slice().into() })
    }
}

#[derive(Debug, Default, Clone)]
pub(super) struct Statement {
    /// Which Parse made it: a name can be reused, and a portal must not follow the new one.
    pub(super) id: u64,
    pub(super) sql: Arc<Sql>,
    /// Lineage masks of its result.
    pub(super) lineage: Option<Arc<TextLineage>>,
    pub(super) fields: Option<Arc<Vec<Field>>>,
    /// hoop's refusal of it, if it refused it: its Parse fails on the server, and the client
    /// sees this message in the server's error.
    pub(super) refusal: Option<Arc<str>>,
    /// Parameter types, from Parse or the server's ParameterDescription.
    pub(super) param_types: Vec<u32>,
    /// How its rows are masked if it is a `COPY ... TO`.
    pub(super) copy: Option<Arc<CopyPlan>>,
    /// Made by SQL `PREPARE`: run with `EXECUTE` (checked and masked as what it holds), never
    /// bound through the protocol, whose rows hoop would have no lineage for.
    pub(super) from_sql: bool,
    /// The catalog generation it was read in: the server reads a prepared statement's text
    /// again when relations it names changed, and so does hoop at Bind.
    pub(super) generation: u64,
    /// The action its Parse was recorded as: a Parse the server rejects has its error there.
    pub(super) action_id: Option<u64>,
}

/// What hoop makes of a statement's text, against relations as they are when it is read.
pub(super) struct Reading {
    pub(super) sql: Sql,
    pub(super) names: Names,
    /// The gateway's own refusal (a name it cannot tie, a masked value carried away).
    pub(super) unknown: Option<(&'static str, String)>,
    /// How many of `sql.tables` are its own (not tied to it by a foreign key).
    pub(super) own: usize,
    pub(super) copy: Option<Arc<CopyPlan>>,
    /// A binary COPY of masked values (refused).
    pub(super) binary_masked: bool,
    pub(super) lineage: Option<Arc<TextLineage>>,
    /// The catalog generation it was read in.
    pub(super) generation: u64,
}

#[derive(Debug, Default, Clone)]
pub(super) struct Portal {
    pub(super) statement: String,
    /// The statement as it was bound: what the portal runs, whatever the name holds later.
    pub(super) stmt: Option<Statement>,
    pub(super) result_formats: Vec<i16>,
    pub(super) fields: Option<Arc<Vec<Field>>>,
    pub(super) action_id: Option<u64>,
    /// What it runs as it was bound (parameters in), kept when rules read usage: an Execute
    /// long after the Bind is judged again with the usage as it is then.
    pub(super) sql: Option<Arc<Sql>>,
    /// [`Shared::results_ended`] and the gateway's usage epoch when it was last judged: results
    /// of this session, or usage counted by any other, since then move what budgets read.
    pub(super) judged_at: (u64, u64),
    /// What its Executes so far returned, together (a portal run in parts is one result).
    pub(super) ran: ResultSoFar,
}

impl Portal {
    /// The row shape: the portal's own description, or its statement's, if that is still the
    /// statement it was bound to; the flag says whether it is the portal's own.
    pub(super) fn fields(&self, statements: &HashMap<String, Statement>) -> Option<(Arc<Vec<Field>>, bool)> {
        if let Some(f) = &self.fields {
            return Some((f.clone(), true));
        }
        let bound = self.stmt.as_ref()?;
        let now = statements.get(&self.statement).filter(|s| s.id == bound.id)?;
        now.fields.clone().map(|f| (f, false))
    }
}

#[derive(Default)]
pub(super) struct Shared {
    pub(super) expect: VecDeque<Expect>,
    /// Prepared statements the server confirmed: protocol-level (Parse) and SQL-level (PREPARE)
    /// share one namespace on the server, and so here.
    pub(super) statements: HashMap<String, Statement>,
    pub(super) portals: HashMap<String, Portal>,
    /// Cursors the server confirmed (`DECLARE`), with what their query reads.
    pub(super) cursors: HashMap<String, (Arc<Sql>, bool)>,
    /// Transaction status of the last ReadyForQuery (`I`, `T` or `E`).
    pub(super) status: u8,
    /// Bytes of text named statements, cursors and portals may hold together.
    pub(super) named_limit: usize,
    /// When the open transaction was first seen open (a ReadyForQuery of `T` or `E`).
    pub(super) tx_since: Option<Instant>,
    /// When the server last finished a statement (a command tag, a suspended portal or an
    /// error): the idle-in-transaction clock runs from it, so a bare Sync or an empty query
    /// does not restart it (red-team round 40 held a row lock 190 s past a 60 s limit so).
    pub(super) ran_at: Option<Instant>,
    /// Ids given to statements as they are parsed.
    pub(super) next_statement: u64,
    /// A capped Execute that wrote too many rows since the last Sync: its tag and count.
    pub(super) cap_over: Option<(String, u64)>,
    /// An Execute hoop stopped (a denied pause, the client's cancel) whose own answer, its
    /// command tag or error, has not come yet: `Some(capped)`. Its bookkeeping was done at the
    /// stop, but a Sync held for its count must wait for that answer, which may show it wrote
    /// past the ceiling (red-team Postgres round 95).
    pub(super) stopped_execute: Option<bool>,
    /// The capped Executes since the last Sync: what each was checked against (its relations
    /// may change while it waits for a lock, and are asked of the server again).
    pub(super) capped_read: Vec<Arc<Sql>>,
    /// Results that ended in this session so far: a portal judged before the last of them
    /// ended is judged again when executed, since they moved the usage budgets read.
    pub(super) results_ended: u64,
    /// A statement of the extended-protocol batch the client is still sending failed (on the
    /// server, or cut short by hoop): the server skips the rest of it up to Sync, so hoop drops
    /// it too, unchecked and unanswered, instead of judging (or asking a reviewer about)
    /// messages that will never run and waiting for answers that will never come. Cleared by
    /// the Sync that ends the batch.
    pub(super) batch_failed: bool,
    /// The client's Sync is held for a capped write's count (see `capped.rs`).
    pub(super) sync_held: bool,
    /// The server failed the batch while its Sync was held: nothing of it commits.
    pub(super) failed_while_held: bool,
    /// Capped writes of the client's transaction block run in parts (a row-limited Execute:
    /// pgjdbc's fetch size) whose last part has not come: the portal (`None` once it is gone
    /// uncounted) and the rows its parts returned so far. The block cannot commit until each
    /// has its count (see `capped.rs`).
    pub(super) uncounted: Vec<Uncounted>,
    /// hoop failed the batch the client is sending at a capped write over the ceiling: the
    /// client has its error, but the server ran the write and fails nothing, so the batch's
    /// Sync runs hoop's refusal first (see `capped.rs`).
    pub(super) cap_told: bool,
    /// A cursor `WITH HOLD` over masked values was declared in this transaction: the server
    /// runs its query when the transaction commits, so what fails then (the `COMMIT`, the Sync
    /// of an implicit transaction) fails on masked values (red-team round 20: a failing cast
    /// quoted every address in the error of the `COMMIT`).
    pub(super) hold_masked: bool,
    /// A statement that may create, change or drop relations was let through and may not have
    /// run yet: what the catalog said before it is stale once it has, so the next statement
    /// is checked after it is answered, and the caches forgotten then.
    pub(super) relations_changing: bool,
    /// A statement that may change relations was let through since the session's transaction
    /// last ended.
    pub(super) changed_in_tx: bool,
    /// A statement renaming relations or columns, or moving relations to another schema, was
    /// let through since the session's transaction last ended with nothing in flight: the
    /// catalog hoop reads names them as they were.
    pub(super) renamed_in_tx: bool,
    /// One of those changes may change what a write reaches beyond its count, or what a name
    /// denotes (see [`hoop_core::action::sql::REACH_CHANGE`]).
    pub(super) reach_changing: bool,
    /// A statement that may change what writes reach ran in the transaction still open: its foreign
    /// keys, triggers and rules are visible only inside it, not to the catalog hoop reads on
    /// its own connection, so writes under the ceiling wait for it to end (red-team round
    /// 100: `ALTER TABLE … ADD … ON DELETE CASCADE`, then `DELETE … WHERE id = 1` in the same
    /// transaction, deleted 3,001 rows under a ceiling of 1,000).
    pub(super) schema_uncommitted: bool,
    /// The format of the CopyInResponse the server sent for the statement being answered, while
    /// hoop gathers a reviewed COPY's rows (see `copy_in.rs`).
    pub(super) copy_in: Option<u8>,
    /// The server is copying rows in and the client has not ended them: it ignores Syncs.
    pub(super) copying_in: bool,
    /// What the server's open transaction would undo.
    pub(super) undo: super::transaction::Undoable,
    /// Rollbacks the server's answers told, recorded once the results before them are.
    pub(super) rolled_back: Vec<super::transaction::RolledBack>,
}

impl Shared {
    /// Whether the statement being answered reads masked values.
    pub(super) fn front_reads_masked(&self) -> bool {
        self.hold_masked
            || match self.expect.front() {
            Some(Expect::Query { lineage, .. }) => lineage.is_some(),
            Some(Expect::Execute { portal, .. }) => self.portal(portal).and_then(|p| p.stmt.as_ref()).is_some_and(|s| s.lineage.is_some()),
            _ => false,
        }
    }

    /// Whether the statement being answered was read in another catalog generation than `now`
    /// (see [`Relay::front_stale`]).
    pub(super) fn front_stale(&self, now: u64) -> bool {
        self.front_read_before(now).is_some()
    }

    /// The generation the statement being answered was read in, and the relations it names,
    /// if that generation is not `now`.
    pub(super) fn front_read_before(&self, now: u64) -> Option<(u64, Arc<[String]>)> {
        match self.expect.front() {
            Some(Expect::Query { read: Some(r), .. }) => (r.generation != now).then(|| (r.generation, r.tables.clone())),
            Some(Expect::Execute { portal, .. }) => self
                .portal(portal)
                .and_then(|p| p.stmt.as_ref())
                .filter(|s| s.refusal.is_none() && s.generation != now && !s.sql.tables.is_empty())
                .map(|s| (s.generation, s.sql.tables.as_slice().into())),
            _ => None,
        }
    }

    /// Takes the statement being answered, read in generation `then`, as read in `now`: none
    /// of the relations it names changed in between.
    pub(super) fn front_read_in(&mut self, then: u64, now: u64) {
        match self.expect.front_mut() {
            Some(Expect::Query { read: Some(r), .. }) if r.generation == then => r.generation = now,
            Some(Expect::Execute { portal, .. }) => {
                let portal = portal.clone();
                if let Some(s) = self.portal_mut(&portal).and_then(|p| p.stmt.as_mut())
                    && s.generation == then
                {
                    s.generation = now;
                }
            }
            _ => {}
        }
    }

    /// Whether the statement being answered reads masked values and declares a cursor `WITH
    /// HOLD` (asked only when the server says it declared one).
    pub(super) fn front_declares_held_masked(&self) -> bool {
        let holds = |names: &Names| names.declared.iter().any(|(_, _, hold)| *hold);
        match self.expect.front() {
            Some(Expect::Query { lineage: Some(_), names, .. }) => names.as_deref().is_some_and(holds),
            Some(Expect::Execute { portal, .. }) => self
                .portal(portal)
                .and_then(|p| p.stmt.as_ref())
                .is_some_and(|s| s.lineage.is_some() && holds(&hoop_core::action::sql::names(&s.sql.text))),
            _ => false,
        }
    }

    /// The statement a Bind of `name` will run: the last Parse of it still in flight, else the
    /// confirmed one.
    pub(super) fn statement(&self, name: &str) -> Option<Statement> {
        let pending = self.expect.iter().rev().find_map(|e| match e {
            Expect::Parse { internal: false, name: n, statement: Some(st) } if n == name => Some(st.clone()),
            _ => None,
        });
        pending.or_else(|| self.statements.get(name).cloned())
    }

    /// The portal an Execute of `name` will run: the last Bind of it still in flight, else the
    /// confirmed one.
    pub(super) fn portal(&self, name: &str) -> Option<&Portal> {
        let pending = self.expect.iter().rev().find_map(|e| match e {
            Expect::Bind { portal: Some(p), .. } if p.0 == name => Some(&p.1),
            _ => None,
        });
        pending.or_else(|| self.portals.get(name))
    }

    /// What a `ROLLBACK` tag of the statement being answered undoes.
    pub(super) fn front_rollbacks(&self) -> super::transaction::Rollbacks {
        match self.expect.front() {
            Some(Expect::Query { rollbacks, .. }) => *rollbacks,
            Some(Expect::Execute { portal, .. }) => self.portal(portal).and_then(|p| p.stmt.as_ref()).map(|s| super::transaction::Rollbacks::of(&s.sql.kinds)).unwrap_or_default(),
            Some(Expect::Internal | Expect::Tail | Expect::Quiet | Expect::Probe { .. }) => super::transaction::Rollbacks::Whole,
            _ => Default::default(),
        }
    }

    /// Whether the portal being answered runs a statement that changes rows.
    pub(super) fn front_writes(&self) -> bool {
        let Some(Expect::Execute { portal, .. }) = self.expect.front() else { return false };
        self.portal(portal).and_then(|p| p.stmt.as_ref()).is_some_and(|s| s.sql.kinds.iter().any(|k| matches!(k.as_str(), "insert" | "update" | "delete" | "merge")))
    }

    /// Whether the statement being answered writes rows it reads from other relations.
    pub(super) fn front_copies(&self) -> bool {
        match self.expect.front() {
            Some(Expect::Query { copies, .. }) => *copies,
            Some(Expect::Execute { portal, .. }) => self.portal(portal).and_then(|p| p.stmt.as_ref()).is_some_and(|s| super::results::copies_rows(&s.sql)),
            _ => false,
        }
    }

    /// hoop's refusal of the statement whose Parse the server answers next.
    pub(super) fn front_refusal(&self) -> Option<Arc<str>> {
        match self.expect.front() {
            Some(Expect::Parse { internal: false, statement: Some(st), .. }) => st.refusal.clone(),
            _ => None,
        }
    }

    /// What the reply the server sends next answers.
    pub(super) fn front(&self) -> Front {
        match self.expect.front() {
            Some(Expect::Internal | Expect::Tail | Expect::Quiet | Expect::Probe { .. }) => Front::Own,
            Some(Expect::DescribeStatement { name }) => Front::DescribeStatement(name.clone()),
            Some(Expect::DescribePortal { name, internal }) => Front::DescribePortal(name.clone(), *internal),
            Some(Expect::Execute { portal, action_id, started, .. }) => Front::Execute(portal.clone(), *action_id, *started),
            Some(Expect::Query { action_id, started, copy, .. }) => Front::Query(*action_id, *started, copy.clone()),
            _ => Front::Other,
        }
    }

    /// [`portal`](Self::portal), to change.
    pub(super) fn portal_mut(&mut self, name: &str) -> Option<&mut Portal> {
        let pending = self.expect.iter_mut().rev().find_map(|e| match e {
            Expect::Bind { portal: Some(p), .. } if p.0 == name => Some(&mut p.1),
            _ => None,
        });
        match pending {
            Some(p) => Some(p),
            None => self.portals.get_mut(name),
        }
    }

    /// Bytes of text the session's named statements and cursors hold, those the server has
    /// yet to confirm included.
    pub(super) fn named_text_bytes(&self) -> usize {
        let pending: usize = self
            .expect
            .iter()
            .map(|e| match e {
                Expect::Parse { statement: Some(st), .. } => st.sql.text.len(),
                _ => 0,
            })
            .sum();
        pending
            + self.statements.values().map(|s| s.sql.text.len()).sum::<usize>()
            + self.cursors.values().map(|c| c.0.text.len()).sum::<usize>()
            + self.portals.values().filter_map(|p| p.stmt.as_ref()).map(|s| s.sql.text.len()).sum::<usize>()
    }

    /// Keeps what a simple query created, now that the server ran it. Past [`MAX_NAMED`] names
    /// or [`MAX_NAMED_TEXT_BYTES`] a name is not kept: its later use is refused as unknown.
    pub(super) fn confirm(&mut self, names: &Names) {
        let mut room = self.named_limit.saturating_sub(self.named_text_bytes());
        let mut fits = |sql: &Sql| {
            let fits = sql.text.len() <= room;
            if fits {
                room -= sql.text.len();
            }
            fits
        };
        for (name, sql) in &names.prepared {
            self.next_statement += 1;
            let id = self.next_statement;
            if !fits(sql) {
                self.statements.remove(name);
                continue;
            }
            if self.statements.len() < MAX_NAMED || self.statements.contains_key(name) {
                self.statements.insert(name.clone(), Statement { id, sql: Arc::new(sql.clone()), from_sql: true, ..Statement::default() });
            }
        }
        for (name, sql, hold) in &names.declared {
            // Cursors and protocol portals share one namespace on the server: a cursor of this
            // name is what an Execute of it would now run, not the portal hoop saw bound.
            self.portals.remove(name);
            if !fits(sql) {
                self.cursors.remove(name);
                continue;
            }
            if self.cursors.len() < MAX_NAMED || self.cursors.contains_key(name) {
                self.cursors.insert(name.clone(), (Arc::new(sql.clone()), *hold));
            }
        }
        // A name the same text also dropped is gone, whichever came first: hoop does not know
        // the order they ran in, and forgetting only refuses more.
        self.forget(names);
    }

    /// The transaction ended (ReadyForQuery `I`): portals and cursors without HOLD are gone.
    pub(super) fn transaction_ended(&mut self) {
        self.hold_masked = false;
        self.uncounted.clear();
        self.schema_uncommitted = false;
        self.portals.clear();
        self.cursors.retain(|_, (_, hold)| *hold);
    }

    /// Whether a statement that runs prepared statements or cursors by name (`EXECUTE p`, `EXPLAIN
    /// ANALYZE EXECUTE p`, `FETCH c`) would now run other texts than it was read with: the
    /// server looks the names up each time it runs it (red-team Postgres round 125: `p`
    /// prepared again after a protocol Parse of `EXECUTE p` ran an UPDATE read as `SELECT 1`,
    /// and a masked column in clear). A name no longer known counts as changed.
    pub(super) fn runs_changed(&self, sql: &Sql) -> bool {
        if sql.runs.is_empty() {
            return false;
        }
        let names = hoop_core::action::sql::names(&sql.text);
        let now = names.executed.iter().map(|n| self.statements.get(n).map(|st| st.sql.text.clone())).chain(
            names.fetched.iter().map(|n| self.cursors.get(n).map(|c| c.0.text.clone()).or_else(|| Some(self.portal(n)?.stmt.as_ref()?.sql.text.clone()))),
        );
        now.into_iter().any(|t| t.is_none_or(|t| !sql.runs.contains(&t)))
    }

    /// The portal `name` is gone or bound anew: a write of it still uncounted can never be.
    pub(super) fn portal_replaced(&mut self, name: &str) {
        for e in self.uncounted.iter_mut().filter(|e| e.portal.as_deref() == Some(name)) {
            e.portal = None;
        }
    }

    /// Forgets what a simple query may drop, before it runs (forgetting early only refuses more).
    pub(super) fn forget(&mut self, names: &Names) {
        for d in &names.deallocated {
            match d {
                Some(n) => {
                    self.statements.remove(n);
                }
                None => self.statements.clear(),
            }
        }
        // `CLOSE` closes a protocol portal of that name as well as a cursor.
        for c in &names.closed {
            match c {
                Some(n) => {
                    self.cursors.remove(n);
                    self.portals.remove(n);
                }
                None => {
                    self.cursors.clear();
                    self.portals.clear();
                }
            }
        }
    }

    /// What `EXECUTE`/`FETCH`/`MOVE` in `names` will really run, merged into `sql`; `Err` names
    /// one hoop has not seen created (refused: hoop cannot tell what it holds).
    pub(super) fn resolve_names(&self, sql: &mut Sql, names: &Names) -> Result<(), String> {
        if names.executed.is_empty() && names.fetched.is_empty() {
            return Ok(());
        }
        // `EXECUTE p` is as filtered as what `p` holds (and as the text around it).
        if !sql.kinds.iter().any(|k| matches!(k.as_str(), "delete" | "update")) {
            sql.has_where = true;
        }
        for n in &names.executed {
            let st = self.statements.get(n).ok_or_else(|| format!("hoop: EXECUTE of \"{n}\", a statement the gateway has not seen prepared"))?;
            merge(sql, &st.sql);
            runs(sql, &st.sql);
        }
        for n in &names.fetched {
            let held = self.cursors.get(n).map(|c| c.0.clone()).or_else(|| Some(self.portal(n)?.stmt.as_ref()?.sql.clone()));
            let held = held.ok_or_else(|| format!("hoop: FETCH or MOVE from \"{n}\", a cursor the gateway has not seen declared"))?;
            merge(sql, &held);
            runs(sql, &held);
            // A portal bound to a write runs it whole at its first FETCH or MOVE, whose tag
            // counts the rows fetched, not written (red-team round 71: `FETCH 1` updated 60,000
            // rows under a 1,000-row ceiling).
            if crate::rowcap::writes_rows(&held) {
                hoop_core::action::extend_unique(&mut sql.kinds, &[hoop_core::action::sql::NESTED_WRITE.to_string()]);
            }
        }
        Ok(())
    }
}

/// Notes in `sql` the text of `held`, which it runs by name, for the reviewer and the record.
pub(super) fn runs(sql: &mut Sql, held: &Sql) {
    hoop_core::action::extend_unique(&mut sql.runs, std::slice::from_ref(&held.text));
    // What it runs may itself run a name (`DECLARE c CURSOR FOR EXECUTE p`).
    hoop_core::action::extend_unique(&mut sql.runs, &held.runs);
}

/// Adds what `held` (a prepared statement or cursor) reads and writes to `sql`, which runs it.
pub(super) fn merge(sql: &mut Sql, held: &Sql) {
    use hoop_core::action::extend_unique;
    extend_unique(&mut sql.kinds, &held.kinds);
    extend_unique(&mut sql.tables, &held.tables);
    extend_unique(&mut sql.written, &held.written);
    extend_unique(&mut sql.functions, &held.functions);
    sql.has_where &= held.has_where;
    sql.copy_program |= held.copy_program;
    if sql.copy.is_empty() {
        sql.copy.clone_from(&held.copy);
    }
}

impl Expect {
    /// A text of hoop's own (a refusal) in place of the client's: its answer is the client's.
    pub(super) fn own_text() -> Self {
        Expect::Query { action_id: None, started: Instant::now(), copy: None, names: None, failed: false, lineage: None, results: 0, cap: None, read: None, copies: false, rollbacks: Default::default() }
    }
}

/// A capped write run in parts whose count has not come (see [`Shared::uncounted`]).
#[derive(Debug)]
pub(super) struct Uncounted {
    /// Its portal; `None` once the portal is gone or bound anew, so the count never comes.
    pub(super) portal: Option<String>,
    /// Rows its parts returned so far: PostgreSQL's tag at the last part counts only that
    /// part's rows, and each row a write returns is a row it wrote.
    pub(super) rows: u64,
}

/// What the reply the server sends next answers, as the server loop needs it.
pub(super) enum Front {
    /// hoop's own BEGIN/COMMIT/ROLLBACK.
    Own,
    DescribeStatement(String),
    DescribePortal(String, bool),
    Execute(String, Option<u64>, Instant),
    Query(Option<u64>, Instant, Option<Arc<CopyPlan>>),
    Other,
}
