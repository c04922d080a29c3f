//! The session relay: client → server checks every statement; server → client masks every row.
//!
//! Two loops share one [`Shared`] state. The client loop decodes what the client sends,
//! turns statements into actions, asks the gate, and forwards (or substitutes a refusal), and
//! for every message forwarded it queues what the server will answer ([`Expect`]). The server
//! loop reads answers in the same order, so it always knows which statement and which result
//! shape a `DataRow` belongs to, masks it, and records results.

use crate::catalog::Catalog;
use crate::conn::{ConnRead, ConnWrite};
use crate::copy::{CopyPlan, mask_copy_row};
use crate::frame::{Frame, FrameError, FrameReader};
use crate::discover::Discovery;
use crate::lineage::TextLineage;
use crate::mask::{RowPlan, kind_of, mask_fields, mask_row};
use crate::proto::{self, BindMsg, Field};
use crate::refuse;
use crate::rowcap;
use bytes::BytesMut;
use hoop_core::action::sql::{AMBIGUOUS, Names, PINNED_SETTING};
use hoop_core::action::{Action, Sql};
use hoop_core::event::Event;
use hoop_core::gate::{Checked, Checkpoint, GateError, Outcome, SessionHandle};
use hoop_core::usage::ResultSoFar;
use hoop_core::mask::{ColumnRef, Masker};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Bytes a client may send ahead while its statement waits for review; then hoop stops reading.
const MAX_BUFFERED_DURING_REVIEW: usize = 1 << 20;

/// hoop's refusal of a binary COPY of masked values (it cannot mask fields it cannot read).
const BINARY_COPY_REFUSAL: &str = "hoop: binary COPY of a masked column is refused; use text or CSV";

/// A result that took this long to start may have waited for a lock, and so run against
/// relations changed meanwhile: the catalog is compared with the server's before it is masked.
const CHANGE_CHECK_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

/// Named prepared statements, portals and cursors one session may hold at once: hoop keeps
/// each one's reading, so their number is bounded like every other per-session state.
const MAX_NAMED: usize = 10_000;

/// Bytes of text the named statements and cursors of one session may hold together (drivers'
/// statement caches stay far below: pgjdbc's is 5 MiB): each one's text is kept, so a count
/// alone let one session hold gigabytes (red-team round 20: 40 statements of 30 MB).
const MAX_NAMED_TEXT_BYTES: usize = 32 << 20;

/// The same for an agent's session, portals counted with the text of the statement they run:
/// what the server keeps for each is its plan and executor state, per column of the text, far
/// more than the text (red-team round 29: 3,000 named statements of 2 KB, a thousand columns
/// each, held 1.74 GB in the server's backend; 2,000 portals 2 GB). About 300 (statements) to 500 (portals)
/// times the text at worst, so this bounds one agent session's share of the server's memory to
/// some 300–500 MB.
const AGENT_NAMED_TEXT_BYTES: usize = 1 << 20;

/// Relations a capped write may name and still be checked for cascades, triggers and rules.
const MAX_CHECKED_RELATIONS: usize = 256;

/// The rule name of the gateway's own refusal of statements that change a lexing setting.
const PINNED_RULE: &str = "hoop-pinned-settings";

/// The rule name of the gateway's own refusal of statements it cannot tie to what they run.
const UNKNOWN_NAME_RULE: &str = "hoop-unknown-statement";

/// The rule name of the gateway's own refusal of statements that carry masked values away.
const LINEAGE_RULE: &str = "hoop-masked-lineage";

/// The kind given to statements that choose or order rows by a masked column.
const MASKED_FILTER: &str = "masked_filter";

/// The internal statement a Bind-time refusal binds to.
const REFUSED_STATEMENT: &str = "hoop_refused";

/// What the server will answer next, in order.
#[derive(Debug)]
enum Expect {
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
        /// The catalog generation the text was read in (`None` for hoop's own texts): relations
        /// that changed before it was answered may be other relations than it was checked
        /// against, so its answer is masked as if it read anything.
        generation: Option<u64>,
    },
    /// FunctionCallResponse, then ReadyForQuery.
    FunctionCall,
    /// ReadyForQuery after Sync.
    Sync,
}

#[derive(Debug, Default, Clone)]
struct Statement {
    /// Which Parse made it: a name can be reused, and a portal must not follow the new one.
    id: u64,
    sql: Arc<Sql>,
    /// Lineage masks of its result.
    lineage: Option<Arc<TextLineage>>,
    fields: Option<Arc<Vec<Field>>>,
    refused: bool,
    /// Parameter types, from Parse or the server's ParameterDescription.
    param_types: Vec<u32>,
    /// How its rows are masked if it is a `COPY ... TO`.
    copy: Option<Arc<CopyPlan>>,
    /// Made by SQL `PREPARE`: run with `EXECUTE` (checked and masked as what it holds), never
    /// bound through the protocol, whose rows hoop would have no lineage for.
    from_sql: bool,
    /// The catalog generation it was read in: the server reads a prepared statement's text
    /// again when relations it names changed, and so does hoop at Bind.
    generation: u64,
}

/// What hoop makes of a statement's text, against relations as they are when it is read.
struct Reading {
    sql: Sql,
    names: Names,
    /// The gateway's own refusal (a name it cannot tie, a masked value carried away).
    unknown: Option<(&'static str, String)>,
    /// How many of `sql.tables` are its own (not tied to it by a foreign key).
    own: usize,
    copy: Option<Arc<CopyPlan>>,
    /// A binary COPY of masked values (refused).
    binary_masked: bool,
    lineage: Option<Arc<TextLineage>>,
    /// The catalog generation it was read in.
    generation: u64,
}

#[derive(Debug, Default, Clone)]
struct Portal {
    statement: String,
    /// The statement as it was bound: what the portal runs, whatever the name holds later.
    stmt: Option<Statement>,
    result_formats: Vec<i16>,
    fields: Option<Arc<Vec<Field>>>,
    action_id: Option<u64>,
    /// What it runs as it was bound (parameters in), kept when rules read usage: an Execute
    /// long after the Bind is judged again with the usage as it is then.
    sql: Option<Arc<Sql>>,
    /// [`Shared::results_ended`] when it was last judged.
    judged_at: u64,
    /// What its Executes so far returned, together (a portal run in parts is one result).
    ran: ResultSoFar,
}

impl Portal {
    /// The row shape: the portal's own description, or its statement's, if that is still the
    /// statement it was bound to; the flag says whether it is the portal's own.
    fn fields(&self, statements: &HashMap<String, Statement>) -> Option<(Arc<Vec<Field>>, bool)> {
        if let Some(f) = &self.fields {
            return Some((f.clone(), true));
        }
        let bound = self.stmt.as_ref()?;
        let now = statements.get(&self.statement).filter(|s| s.id == bound.id)?;
        now.fields.clone().map(|f| (f, false))
    }
}

#[derive(Default)]
struct Shared {
    expect: VecDeque<Expect>,
    /// Prepared statements the server confirmed: protocol-level (Parse) and SQL-level (PREPARE)
    /// share one namespace on the server, and so here.
    statements: HashMap<String, Statement>,
    portals: HashMap<String, Portal>,
    /// Cursors the server confirmed (`DECLARE`), with what their query reads.
    cursors: HashMap<String, (Arc<Sql>, bool)>,
    /// Transaction status of the last ReadyForQuery (`I`, `T` or `E`).
    status: u8,
    /// Bytes of text named statements, cursors and portals may hold together.
    named_limit: usize,
    /// When the open transaction was first seen open (a ReadyForQuery of `T` or `E`).
    tx_since: Option<Instant>,
    /// Ids given to statements as they are parsed.
    next_statement: u64,
    /// A capped Execute that wrote too many rows since the last Sync: its tag and count.
    cap_over: Option<(String, u64)>,
    /// The capped Executes since the last Sync: the catalog generation each was read in, and
    /// what it was checked against (its relations may change while it waits for a lock).
    capped_read: Vec<(u64, Arc<Sql>)>,
    /// Results that ended in this session so far: a portal judged before the last of them
    /// ended is judged again when executed, since they moved the usage budgets read.
    results_ended: u64,
    /// A statement of the extended-protocol batch the client is still sending failed (on the
    /// server, or cut short by hoop): the server skips the rest of it up to Sync, so hoop drops
    /// it too, unchecked and unanswered, instead of judging (or asking a reviewer about)
    /// messages that will never run and waiting for answers that will never come. Cleared by
    /// the Sync that ends the batch.
    batch_failed: bool,
    /// A cursor `WITH HOLD` over masked values was declared in this transaction: the server
    /// runs its query when the transaction commits, so what fails then (the `COMMIT`, the Sync
    /// of an implicit transaction) fails on masked values (red-team round 20: a failing cast
    /// quoted every address in the error of the `COMMIT`).
    hold_masked: bool,
    /// A statement that may create, change or drop relations was let through and may not have
    /// run yet: what the catalog said before it is stale once it has, so the next statement
    /// is checked after it is answered, and the caches forgotten then.
    relations_changing: bool,
}

impl Shared {
    /// Whether the statement being answered reads masked values.
    fn front_reads_masked(&self) -> bool {
        self.hold_masked
            || match self.expect.front() {
            Some(Expect::Query { lineage, .. }) => lineage.is_some(),
            Some(Expect::Execute { portal, .. }) => self.portal(portal).and_then(|p| p.stmt.as_ref()).is_some_and(|s| s.lineage.is_some()),
            _ => false,
        }
    }

    /// Whether the statement being answered was read in another catalog generation than `now`
    /// (see [`Relay::front_stale`]).
    fn front_stale(&self, now: u64) -> bool {
        match self.expect.front() {
            Some(Expect::Query { generation: Some(at), .. }) => *at != now,
            Some(Expect::Execute { portal, .. }) => self.portal(portal).and_then(|p| p.stmt.as_ref()).is_some_and(|s| !s.refused && s.generation != now && !s.sql.tables.is_empty()),
            _ => false,
        }
    }

    /// Whether the statement being answered reads masked values and declares a cursor `WITH
    /// HOLD` (asked only when the server says it declared one).
    fn front_declares_held_masked(&self) -> bool {
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
    fn statement(&self, name: &str) -> Option<Statement> {
        let pending = self.expect.iter().rev().find_map(|e| match e {
            Expect::Parse { internal: false, name: n, statement: Some(st) } if n == name => Some(st.clone()),
            _ => None,
        });
        pending.or_else(|| self.statements.get(name).cloned())
    }

    /// The portal an Execute of `name` will run: the last Bind of it still in flight, else the
    /// confirmed one.
    fn portal(&self, name: &str) -> Option<&Portal> {
        let pending = self.expect.iter().rev().find_map(|e| match e {
            Expect::Bind { portal: Some(p), .. } if p.0 == name => Some(&p.1),
            _ => None,
        });
        pending.or_else(|| self.portals.get(name))
    }

    /// What the reply the server sends next answers.
    fn front(&self) -> Front {
        match self.expect.front() {
            Some(Expect::Internal | Expect::Tail) => Front::Own,
            Some(Expect::DescribeStatement { name }) => Front::DescribeStatement(name.clone()),
            Some(Expect::DescribePortal { name, internal }) => Front::DescribePortal(name.clone(), *internal),
            Some(Expect::Execute { portal, action_id, started, .. }) => Front::Execute(portal.clone(), *action_id, *started),
            Some(Expect::Query { action_id, started, copy, .. }) => Front::Query(*action_id, *started, copy.clone()),
            _ => Front::Other,
        }
    }

    /// [`portal`](Self::portal), to change.
    fn portal_mut(&mut self, name: &str) -> Option<&mut Portal> {
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
    fn named_text_bytes(&self) -> usize {
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
    fn confirm(&mut self, names: &Names) {
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
    fn transaction_ended(&mut self) {
        self.hold_masked = false;
        self.portals.clear();
        self.cursors.retain(|_, (_, hold)| *hold);
    }

    /// Forgets what a simple query may drop, before it runs (forgetting early only refuses more).
    fn forget(&mut self, names: &Names) {
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
    fn resolve_names(&self, sql: &mut Sql, names: &Names) -> Result<(), String> {
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
        }
        Ok(())
    }
}

/// Notes in `sql` the text of `held`, which it runs by name, for the reviewer and the record.
fn runs(sql: &mut Sql, held: &Sql) {
    hoop_core::action::extend_unique(&mut sql.runs, std::slice::from_ref(&held.text));
    // What it runs may itself run a name (`DECLARE c CURSOR FOR EXECUTE p`).
    hoop_core::action::extend_unique(&mut sql.runs, &held.runs);
}

/// Adds what `held` (a prepared statement or cursor) reads and writes to `sql`, which runs it.
fn merge(sql: &mut Sql, held: &Sql) {
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

/// Result rows being counted and sampled for the recording.
struct ResultAcc {
    action_id: Option<u64>,
    started: Instant,
    plan: Option<Arc<RowPlan>>,
    rows: u64,
    /// Bytes of rows sent to the client, and values masked in them.
    bytes: u64,
    masked_values: u64,
    /// Its rows went out past what is held back for a statement reading masked values.
    streams_masked: bool,
    /// The masked values by column and detector, not yet counted into usage.
    masked_by: crate::mask::MaskTally,
    /// Bytes already added to the server loop's [`Tally`].
    counted_bytes: u64,
    sample: Vec<Vec<Option<String>>>,
    sample_bytes: usize,
}

/// Rows and bytes one action's results returned since its last checkpoint.
#[derive(Default)]
struct Tally {
    action: u64,
    rows: u64,
    bytes: u64,
}

/// A result that ended in the output not yet written to the client: recorded once that output
/// is written, so the recording stays off the client's latency path.
struct Finished {
    acc: ResultAcc,
    tag: String,
    error: Option<String>,
    duration_us: u64,
}

/// Limits of the recording of results.
#[derive(Debug, Clone, Copy)]
pub struct RecordLimits {
    /// Masked rows kept per statement.
    pub max_rows: usize,
    /// Bytes of masked rows kept per statement.
    pub max_bytes: usize,
}

/// Everything one session's loops share.
pub struct Relay {
    pub(crate) handle: Arc<SessionHandle>,
    pub(crate) masker: Arc<Masker>,
    pub(crate) target: String,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) discovery: Arc<Discovery>,
    /// This session's memo of the two caches above.
    memo: crate::memo::TableMemo,
    pub(crate) client: tokio::sync::Mutex<ConnWrite>,
    pub(crate) limits: RecordLimits,
    /// Rows one statement of this session may write (agents), if limited.
    max_rows_written: Option<u64>,
    shared: Mutex<Shared>,
    /// Signalled whenever the server's answers end an expected reply (client-side waits).
    answered: tokio::sync::Notify,
    /// Plans by RowDescription bytes: the same query shape recurs on every execution.
    plans: Mutex<HashMap<bytes::Bytes, Arc<RowPlan>>>,
    /// How to cancel what the server runs for this session (its address and backend key).
    cancel: Option<(crate::upstream::Upstream, (i32, i32))>,
    /// The cancel requests the client sent: one ends a wait for review.
    client_cancels: Option<crate::cancel::ClientCancels>,
    /// True while a cancel is in flight: the client's next messages wait for it to land, so
    /// that it cannot cancel them instead (PostgreSQL cancels whatever runs when it arrives).
    fence: tokio::sync::watch::Sender<bool>,
    /// How long an agent's client may sit idle inside a transaction.
    idle_in_transaction: Option<std::time::Duration>,
    /// Signalled when the server has answered everything and the session is inside a
    /// transaction: the client's silence from then on is idling in it.
    idle_in_tx: tokio::sync::Notify,
    /// How many times output was written to the client: a row held back is known to be still
    /// unsent while this has not moved.
    releases: std::sync::atomic::AtomicU64,
    /// Reviews being waited for: a statement held or paused is not overrunning.
    reviewing: std::sync::atomic::AtomicUsize,
    /// The cancel the statement ceiling sent, until the server loop sees it land.
    ceiling_cancel: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Rows of a statement that reads masked values are held back until it ends, up to this many
/// bytes: after how many rows it failed would otherwise spell a value (a division by zero at
/// the row a masked character chooses). A result past it streams on, and meets the result
/// budget's review long before it could spell anything that way.
const HOLD_MASKED_ROWS: usize = 1 << 20;

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Framing or I/O on either side.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The client sent something malformed.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Relay {
    /// A relay for an established session.
    pub fn new(
        handle: Arc<SessionHandle>,
        target: String,
        catalog: Arc<Catalog>,
        discovery: Arc<Discovery>,
        client: ConnWrite,
        limits: RecordLimits,
        max_rows_written: Option<u64>,
    ) -> Self {
        let masker = handle.masker();
        Relay {
            handle,
            masker,
            target,
            catalog,
            discovery,
            memo: Default::default(),
            client: tokio::sync::Mutex::new(client),
            limits,
            max_rows_written,
            shared: Mutex::new(Shared { status: b'I', named_limit: MAX_NAMED_TEXT_BYTES, ..Shared::default() }),
            answered: tokio::sync::Notify::new(),
            plans: Mutex::new(HashMap::new()),
            cancel: None,
            client_cancels: None,
            fence: tokio::sync::watch::Sender::new(false),
            idle_in_transaction: None,
            idle_in_tx: tokio::sync::Notify::new(),
            releases: Default::default(),
            reviewing: Default::default(),
            ceiling_cancel: Mutex::new(None),
        }
    }

    /// The same relay, bounding named state as for an agent ([`AGENT_NAMED_TEXT_BYTES`]).
    pub fn for_agent(self) -> Self {
        self.shared().named_limit = AGENT_NAMED_TEXT_BYTES;
        self
    }

    /// The same relay, ending the session when its client sits idle inside a transaction for
    /// longer than `limit` (the server then rolls it back and its locks go).
    pub fn with_idle_in_transaction(mut self, limit: Option<std::time::Duration>) -> Self {
        self.idle_in_transaction = limit;
        self
    }

    /// The same relay, able to cancel the server's statement (by a CancelRequest for `key`),
    /// and ending a wait for review when the client sends a cancel (`cancels`).
    pub fn with_cancel(mut self, upstream: crate::upstream::Upstream, key: (i32, i32), cancels: crate::cancel::ClientCancels) -> Self {
        self.cancel = Some((upstream, key));
        self.client_cancels = Some(cancels);
        self
    }

    /// `wait`, unless the client sends a cancel request first (`None`): a statement held for
    /// review is the client's to abandon, as a running one is.
    async fn unless_cancelled<T>(&self, wait: impl std::future::Future<Output = T>) -> Option<T> {
        let Some(mut rx) = self.client_cancels.clone() else { return Some(wait.await) };
        rx.borrow_and_update();
        tokio::select! {
            v = wait => Some(v),
            _ = rx.changed() => None,
        }
    }

    /// Whether the server still owes answers (a statement may be running).
    pub fn busy(&self) -> bool {
        !self.shared().expect.is_empty()
    }

    /// Cancels the statement the server runs once nothing has come back for it in `limit`
    /// (an agent's `limits.agent_statement_secs`), however the session set `statement_timeout`
    /// (red-team round 24: `SET statement_timeout = 0`, then rows locked `FOR UPDATE` and a
    /// sleep, held an application's write for as long as the agent liked). Resolves, with the
    /// reason to end the session, only when a cancel cannot be sent alone (more is queued behind
    /// the statement) or does not take; never without a limit.
    pub async fn statement_ceiling(&self, limit: Option<std::time::Duration>) -> String {
        let Some(limit) = limit else { return std::future::pending().await };
        let tick = limit.min(std::time::Duration::from_secs(1));
        let mut quiet_since = (self.releases.load(std::sync::atomic::Ordering::Relaxed), Instant::now());
        let mut cancelled: Option<Instant> = None;
        loop {
            tokio::time::sleep(tick).await;
            let released = self.releases.load(std::sync::atomic::Ordering::Relaxed);
            let reviewing = self.reviewing.load(std::sync::atomic::Ordering::Relaxed) > 0;
            if !self.busy() || reviewing || released != quiet_since.0 {
                quiet_since = (released, Instant::now());
                cancelled = None;
                continue;
            }
            if quiet_since.1.elapsed() < limit {
                continue;
            }
            let why = format!("an agent's statement ran more than {} s with nothing coming back (limits.agent_statement_secs)", limit.as_secs());
            match cancelled {
                None => match self.cancel_upstream() {
                    Some(task) => {
                        // The server loop lowers the fence once the cancel landed.
                        *self.ceiling_cancel.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
                        tracing::info!(session = %self.handle.session().id, "{why}: cancelled");
                        cancelled = Some(Instant::now());
                    }
                    None => return format!("{why}, and more was queued behind it; the session ends"),
                },
                Some(at) if at.elapsed() > std::time::Duration::from_secs(10) => return format!("{why}, and the cancel did not stop it; the session ends"),
                Some(_) => {}
            }
        }
    }

    /// Resolves, with the reason to end the session, once one transaction has stayed open for
    /// `limit` (an agent's `limits.agent_transaction_secs`), time held for review not counted;
    /// never without a limit. Ending the session is how its transaction ends: the server rolls it
    /// back when hoop disconnects, and its locks go (red-team round 29: capped UPDATEs over a
    /// whole table in one transaction, kept busy with `pg_sleep`, held every other writer for as
    /// long as the session lived, each statement short and the transaction never idle).
    pub async fn transaction_ceiling(&self, limit: Option<std::time::Duration>) -> String {
        let Some(limit) = limit else { return std::future::pending().await };
        let tick = limit.min(std::time::Duration::from_secs(1));
        let (mut which, mut open) = (None, std::time::Duration::ZERO);
        loop {
            tokio::time::sleep(tick).await;
            let since = self.shared().tx_since;
            if since.is_none() || since != which {
                (which, open) = (since, std::time::Duration::ZERO);
                continue;
            }
            if self.reviewing.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                open += tick;
            }
            if open >= limit {
                return format!(
                    "an agent's transaction stayed open for more than {} s (limits.agent_transaction_secs); the session ends and the transaction is rolled back",
                    limit.as_secs()
                );
            }
        }
    }

    /// Counts a review being waited for while `wait` runs.
    async fn reviewed<T>(&self, wait: impl std::future::Future<Output = T>) -> T {
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.reviewing.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _w = Waiting(&self.reviewing);
        wait.await
    }

    /// Asks the server to cancel the statement being answered; the task ends once the cancel
    /// landed. Only when nothing the client sent after that statement has gone to the server
    /// (a pipelining driver may have sent more): PostgreSQL cancels whatever runs when the
    /// signal arrives, so hoop then lets the statement finish and drops its answers instead.
    /// Until the cancel lands, the client's next messages wait behind the fence.
    fn cancel_upstream(&self) -> Option<tokio::task::JoinHandle<()>> {
        let (upstream, (pid, key)) = self.cancel.clone()?;
        {
            let sh = self.shared();
            let mut rest = sh.expect.iter().skip(1);
            let alone = match sh.expect.front() {
                Some(Expect::Query { .. } | Expect::FunctionCall) => rest.next().is_none(),
                Some(Expect::Execute { .. }) => matches!((rest.next(), rest.next()), (None, _) | (Some(Expect::Sync), None)),
                _ => false,
            };
            if !alone {
                return None;
            }
            // Raised under the same lock the client loop takes to queue a message: anything it
            // queues from now on is sent only once the fence is down.
            self.fence.send_replace(true);
        }
        Some(tokio::spawn(async move {
            if let Err(e) = upstream.cancel(pid, key).await {
                tracing::warn!(error = %e, "cancel request to the server failed");
            }
        }))
    }

    /// Sends what the client loop gathered to the server, once no cancel is in flight.
    async fn send(&self, server: &mut ConnWrite, out: &mut BytesMut) -> Result<(), RelayError> {
        if out.is_empty() {
            return Ok(());
        }
        let mut fence = self.fence.subscribe();
        // The fence drops at the ReadyForQuery that ends the cancelled statement. Should that
        // never come (a protocol state hoop did not foresee), the session ends rather than
        // waiting with its backend inside a transaction.
        if tokio::time::timeout(FENCE_WAIT, fence.wait_for(|up| !*up)).await.is_err() {
            return Err(RelayError::Protocol("the server did not finish a cancelled statement in time".into()));
        }
        server.write_flushed(out).await?;
        out.clear();
        Ok(())
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expect(&self, e: Expect) {
        self.shared().expect.push_back(e);
    }

    /// Sends frames straight to the client.
    pub async fn to_client(&self, frames: &[Frame]) -> Result<(), RelayError> {
        let mut out = BytesMut::new();
        for f in frames {
            f.write_to(&mut out);
        }
        self.client.lock().await.write_flushed(&out).await?;
        Ok(())
    }

    /// Checks `action`, telling the client about a review and waiting for it. `Err` carries the
    /// refusal message: a deny, a denied/expired review, or a recording failure (fail closed).
    async fn decide(&self, action: Action, client: &mut FrameReader<ConnRead>) -> (Option<u64>, Result<(), String>) {
        match self.handle.check(action) {
            Ok(Checked::Allow { action_id }) => (Some(action_id), Ok(())),
            Ok(Checked::Deny { action_id, rule, reason }) => (Some(action_id), Err(refuse::message(&rule, &reason))),
            Ok(Checked::Review { action_id, pending }) => {
                let t = pending.ticket();
                let note = format!(
                    "hoop: this statement needs approval (rule {}); ticket {} — a reviewer approves it with `hoop approvals approve {}`; waiting",
                    t.rule, t.id, t.id
                );
                let rule = t.rule.clone();
                let _ = self.to_client(&[proto::notice("01000", &note)]).await;
                // A client that goes away while it waits takes its ticket with it: dropping the
                // wait cancels the ticket, so nobody approves a statement for nobody.
                let outcome = tokio::select! {
                    o = self.reviewed(self.unless_cancelled(self.handle.wait_review(action_id, pending))) => match o {
                        Some(o) => o,
                        None => return (Some(action_id), Err(refuse::message(&rule, "the client cancelled the statement while it waited for review"))),
                    },
                    _ = client.closed(MAX_BUFFERED_DURING_REVIEW) => {
                        return (Some(action_id), Err("hoop: client went away during the review".into()));
                    }
                };
                match outcome {
                    Ok(Outcome::Allow { .. }) => (Some(action_id), Ok(())),
                    Ok(Outcome::Deny { rule, reason, .. }) => (Some(action_id), Err(refuse::message(&rule, &reason))),
                    Err(e) => (Some(action_id), Err(format!("hoop: {e}"))),
                }
            }
            Err(e @ GateError::Record(_)) => (None, Err(format!("hoop: {e}"))),
            Err(e) => (None, Err(format!("hoop: {e}"))),
        }
    }

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
    async fn answered_until(&self, done: impl Fn(&VecDeque<Expect>) -> bool) {
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
    fn next_result_lineage(&self) -> Option<crate::lineage::ResultMask> {
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
    fn forget_relations(&self) {
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

    /// The server → client loop.
    pub async fn server_loop(&self, mut server: FrameReader<ConnRead>) -> Result<(), RelayError> {
        let mut out = BytesMut::with_capacity(64 * 1024);
        let mut acc: Option<ResultAcc> = None;
        let mut copy: Option<Arc<CopyPlan>> = None;
        let mut done: Vec<Finished> = Vec::new();
        // Set once a message over the size limit was dropped: the rest of that statement's
        // answers are dropped too, up to ReadyForQuery (the client already has its error).
        let mut dropping = false;
        // Command tags the server sent after hoop stopped a result: statements it had finished
        // before the stop reached it (the rest of a simple query's text). The client is told.
        let mut ran_after_stop: Vec<String> = Vec::new();
        // Whether those statements read masked values: then how many finished is not said.
        let mut ran_after_stop_masked = false;
        // Notices of statements reading masked values dropped since the last ReadyForQuery.
        let mut notices_dropped: u64 = 0;
        // Where in `out` the rows of a statement reading masked values begin, while they are
        // held back (see HOLD_MASKED_ROWS), and the release count they are unsent under; and
        // whether this statement's rows already went (past the bound: not held again).
        let mut held: Option<(usize, u64)> = None;
        let mut hold_spent = false;
        let mut tally = Tally::default();
        let mut cancelling: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let frame = match server.try_next() {
                Ok(Some(f)) => f,
                Ok(None) => {
                    if !self.holding(&mut held, &mut hold_spent, out.len(), &mut acc, &mut tally) {
                        self.release(&mut out, &mut done).await?;
                    }
                    server.fill().await?;
                    continue;
                }
                Err(e @ (FrameError::TooLarge { .. } | FrameError::Busy(_))) => {
                    // Never held: its bytes are read and dropped as they arrive. The statement
                    // that produced it is cancelled and fails for the client; the session goes on.
                    let tag = server.skip_oversized().await?;
                    if matches!(tag, b'Z' | b'S' | b'R' | b'K') || self.internal_front() {
                        return Err(e.into());
                    }
                    if !dropping {
                        (dropping, copy) = (true, None);
                        let (code, message) = match e {
                            FrameError::TooLarge { len, limit } => (
                                proto::PROGRAM_LIMIT_EXCEEDED,
                                format!("hoop: the server sent a message of {len} bytes, over limits.max_server_message_bytes ({limit}); the statement was cancelled and its result withheld"),
                            ),
                            e => (proto::OUT_OF_MEMORY, format!("hoop: the statement was cancelled and its result withheld: {e}")),
                        };
                        cancelling = self.cut_short(&mut acc, &mut done, &mut out, code, message);
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if dropping && !matches!(frame.tag, b'Z' | b'S' | b'A') {
                if frame.tag == b'C' {
                    // A statement that read masked values counts, as every one does, though
                    // its answer is dropped.
                    if self.front_reads_masked() {
                        ran_after_stop_masked = true;
                        self.handle.count_received(0, 1);
                    }
                    if ran_after_stop.len() < 64 {
                        let tag = frame.body.split(|b| *b == 0).next().unwrap_or_default();
                        ran_after_stop.push(String::from_utf8_lossy(tag).into_owned());
                    }
                }
                continue;
            }
            match frame.tag {
                b'D' => {
                    self.hold_from(&mut held, &mut hold_spent, out.len());
                    if acc.is_none() {
                        // An Execute's rows start without a RowDescription: find its shape now.
                        if let Front::Execute(portal, action_id, started) = self.front_kind() {
                            let plan = self.portal_plan(&portal).await;
                            acc = Some(ResultAcc::new(action_id, started, plan));
                        }
                    }
                    let plan = acc.as_ref().and_then(|a| a.plan.clone());
                    let mut spare;
                    let masked_by = match acc.as_mut() {
                        Some(a) => &mut a.masked_by,
                        None => {
                            spare = crate::mask::MaskTally::default();
                            &mut spare
                        }
                    };
                    let row = match mask_row(&self.masker, plan.as_deref(), &frame.body, masked_by) {
                        Ok(Some((masked, values))) => {
                            self.sample(&mut acc, &masked.body);
                            if let Some(a) = acc.as_mut() {
                                a.masked_values += u64::from(values);
                            }
                            masked
                        }
                        Ok(None) => {
                            self.sample(&mut acc, &frame.body);
                            frame.clone()
                        }
                        Err(()) => return Err(RelayError::Protocol("malformed DataRow from the server".into())),
                    };
                    // A row of a checkpoint's bytes or more meets its checkpoint before it goes:
                    // one row (a table folded into one value) cannot carry a budget's worth past it.
                    let big = row.body.len() as u64 >= hoop_core::usage::CHECKPOINT_BYTES;
                    if !big {
                        row.write_to(&mut out);
                    }
                    if let Some(refusal) = self.checkpoint(&mut acc, &mut tally, &mut out, &mut done).await? {
                        (dropping, copy) = (true, None);
                        cancelling = self.cut_short(&mut acc, &mut done, &mut out, proto::DENIED, refusal);
                        continue;
                    }
                    if big {
                        row.write_to(&mut out);
                    }
                }
                b'T' => {
                    // Decoded only when needed: a simple query's shape is usually a cached plan,
                    // whose key is a description that was decoded (and so checked) before.
                    let decode = || proto::decode_row_description(&frame.body).map(Arc::new).ok_or_else(|| RelayError::Protocol("malformed RowDescription".into()));
                    let front = self.front_kind();
                    match front {
                        Front::DescribeStatement(name) => {
                            let fields = decode()?;
                            if let Some(s) = self.shared().statements.get_mut(&name) {
                                s.fields = Some(fields);
                            }
                            self.pop();
                        }
                        Front::DescribePortal(name, internal) => {
                            let fields = decode()?;
                            if let Some(p) = self.shared().portals.get_mut(&name) {
                                p.fields = Some(fields);
                            }
                            self.pop();
                            if internal {
                                continue;
                            }
                        }
                        Front::Query(action_id, started, _) => {
                            // A statement that waited (for a lock) may have run against
                            // relations changed meanwhile by another route than hoop.
                            if started.elapsed() >= CHANGE_CHECK_AFTER {
                                self.catalog.notice_changes().await;
                            }
                            let lineage = self.next_result_lineage();
                            let cached = match &lineage {
                                Some(_) => None,
                                None => self.plans.lock().unwrap_or_else(|p| p.into_inner()).get(&frame.body).cloned(),
                            };
                            let plan = match (cached, lineage) {
                                (Some(p), _) => p,
                                (None, Some(l)) => Arc::new(RowPlan::build(&decode()?, None, &self.target, &self.masker, &self.catalog, Some(&l)).await),
                                (None, None) => {
                                    let fields = decode()?;
                                    let p = Arc::new(RowPlan::build(&fields, None, &self.target, &self.masker, &self.catalog, None).await);
                                    let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
                                    if plans.len() >= 256 {
                                        plans.clear();
                                    }
                                    plans.insert(frame.body.clone(), p.clone());
                                    p
                                }
                            };
                            acc = Some(ResultAcc::new(action_id, started, Some(plan)));
                            self.hold_from(&mut held, &mut hold_spent, out.len());
                        }
                        // Nothing uses it, but a malformed one still ends the session as before.
                        _ => {
                            decode()?;
                        }
                    }
                    frame.write_to(&mut out);
                }
                b'n' => {
                    match self.front_kind() {
                        Front::DescribeStatement(_) | Front::DescribePortal(_, false) => {
                            self.pop();
                        }
                        Front::DescribePortal(_, true) => {
                            self.pop();
                            continue;
                        }
                        _ => {}
                    }
                    frame.write_to(&mut out);
                }
                b't' => {
                    if let Front::DescribeStatement(name) = self.front_kind() {
                        let types = proto::decode_parameter_description(&frame.body).unwrap_or_default();
                        if let Some(s) = self.shared().statements.get_mut(&name) {
                            s.param_types = types;
                        }
                    }
                    frame.write_to(&mut out);
                }
                b'1' | b'2' | b'3' => {
                    let internal = match self.pop() {
                        Some(Expect::Parse { internal: false, name, statement: Some(st) }) => {
                            // The server confirmed the statement: only now does a Bind run it.
                            self.shared().statements.insert(name, st);
                            false
                        }
                        Some(Expect::Bind { internal, portal: Some(p) }) => {
                            let (name, portal) = *p;
                            let mut sh = self.shared();
                            // Portals and cursors share one namespace on the server: a portal
                            // bound under a name means no cursor of it is left (whatever dropped
                            // it: a savepoint rolled back, DISCARD ALL, a protocol Close), so a
                            // FETCH of it runs this portal.
                            sh.cursors.remove(&name);
                            sh.portals.insert(name, portal);
                            internal
                        }
                        Some(Expect::Parse { internal, .. } | Expect::Close { internal } | Expect::Bind { internal, .. }) => internal,
                        _ => false,
                    };
                    if !internal {
                        frame.write_to(&mut out);
                    }
                }
                b'S' => {
                    // State follows the server: whatever route changed a pinned lexing setting,
                    // the session ends before another statement is read under the wrong rules.
                    let mut c = crate::frame::Cursor::new(&frame.body);
                    let (name, value) = (c.cstr().unwrap_or_default(), c.cstr().unwrap_or_default());
                    if let Some(pinned) = crate::upstream::PINNED.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name))
                        && !value.eq_ignore_ascii_case(pinned.1)
                    {
                        return Err(RelayError::Protocol(format!(
                            "the server now reads statements with {name} = {value}; the gateway reads them only with {} = {}",
                            pinned.0, pinned.1
                        )));
                    }
                    // A setting's value can carry data (`application_name`): detectors apply.
                    match self.masker.mask_text(&value) {
                        std::borrow::Cow::Owned(masked) => {
                            let mut b = name.into_bytes();
                            b.push(0);
                            b.extend_from_slice(masked.as_bytes());
                            b.push(0);
                            Frame { tag: b'S', body: b.into() }.write_to(&mut out);
                        }
                        std::borrow::Cow::Borrowed(_) => frame.write_to(&mut out),
                    }
                }
                b'V' => {
                    // FunctionCallResponse: the result, masked as text.
                    match mask_function_result(&self.masker, &frame.body) {
                        Some(masked) => masked.write_to(&mut out),
                        None => frame.write_to(&mut out),
                    }
                }
                b'C' | b'I' | b's' => {
                    if matches!(self.front_kind(), Front::Own) {
                        // hoop's own BEGIN/COMMIT/ROLLBACK: the client did not send them.
                        continue;
                    }
                    if frame.tag == b'C' {
                        let tag = String::from_utf8_lossy(frame.body.strip_suffix(&[0]).unwrap_or(&frame.body)).into_owned();
                        self.count_written(&tag);
                        if tag == "DECLARE CURSOR" {
                            let mut sh = self.shared();
                            if sh.front_declares_held_masked() {
                                sh.hold_masked = true;
                            }
                        }
                    } else if frame.tag == b's' {
                        // A capped write stopped by a row limit never reports its count: it
                        // counts as over the ceiling.
                        self.count_written("DELETE 18446744073709551615");
                    }
                    if acc.is_none() {
                        match self.front_kind() {
                            Front::Execute(_, action_id, started) => acc = Some(ResultAcc::new(action_id, started, None)),
                            // One that read masked values counts, rows or not (see `finished`).
                            Front::Query(action_id, started, _) if self.front_reads_masked() => acc = Some(ResultAcc::new(action_id, started, None)),
                            _ => {}
                        }
                    }
                    let tag = if frame.tag == b'C' { String::from_utf8_lossy(frame.body.strip_suffix(&[0]).unwrap_or(&frame.body)).into_owned() } else { String::new() };
                    // The statements of a text after one that read masked values stay held with
                    // it to the text's end: were each let go as it finished, the number that
                    // finished before a withheld error would count out a value, one statement
                    // per step (red-team round 15: 96 statements, the character's code). Not past
                    // a COMMIT, which makes what came before it durable, so the client is told.
                    let text_goes_on = held.is_some() && matches!(self.front_kind(), Front::Query(..)) && !tag.starts_with("COMMIT") && !tag.starts_with("PREPARE TRANSACTION");
                    self.finished(&mut done, acc.take(), tag, None);
                    if matches!(self.front_kind(), Front::Execute(..)) {
                        self.pop();
                    }
                    copy = None;
                    frame.write_to(&mut out);
                    if !text_goes_on {
                        (held, hold_spent) = (None, false);
                    }
                }
                b'E' if self.internal_front() => {
                    // An error of hoop's own BEGIN/ROLLBACK: the client's statement reports its own.
                    tracing::warn!("hoop's own transaction control failed on the server");
                }
                b'E' => {
                    // Rows of a statement reading masked values held back: dropped, so that the
                    // client learns that it failed, not after how many rows.
                    if let Some((offset, at)) = held.take()
                        && at == self.releases.load(std::sync::atomic::Ordering::Relaxed)
                    {
                        out.truncate(offset);
                    }
                    hold_spent = false;
                    let mut fields = proto::decode_fields(&frame.body).unwrap_or_default();
                    let message = fields.iter().find(|(t, _)| *t == b'M').map(|(_, m)| m.clone()).unwrap_or_default();
                    let mut changed = mask_fields(&self.masker, &mut fields);
                    if self.front_reads_masked() {
                        // The server quotes values in its errors ("invalid input syntax for type
                        // integer: ..."): a statement that reads masked columns has them withheld.
                        changed |= withhold_quotes(&mut fields);
                    }
                    let error = if changed { proto::encode_fields(b'E', &fields) } else { frame };
                    // What an error quotes leaves with it (a failing cast can quote a whole
                    // aggregated table): its bytes count as the result's. One of a checkpoint's
                    // bytes or more meets that checkpoint before it goes, like a large row.
                    let sent = error.body.len() as u64 + 5;
                    let mut message = self.masker.mask_text(&message).into_owned();
                    if sent >= hoop_core::usage::CHECKPOINT_BYTES && self.handle.watches_results() {
                        if acc.is_none() {
                            acc = match self.front_kind() {
                                Front::Execute(_, id, started) | Front::Query(id, started, _) => Some(ResultAcc::new(id, started, None)),
                                _ => None,
                            };
                        }
                        if let Some(a) = acc.as_mut() {
                            a.bytes += sent;
                        }
                        match self.checkpoint(&mut acc, &mut tally, &mut out, &mut done).await? {
                            // The statement already failed on the server: only its message is
                            // withheld, replaced by the refusal.
                            Some(refusal) => {
                                proto::error("ERROR", proto::DENIED, &refusal).write_to(&mut out);
                                message = refusal;
                            }
                            None => error.write_to(&mut out),
                        }
                        self.server_error(&mut acc, &mut done, message, 0);
                    } else {
                        error.write_to(&mut out);
                        self.server_error(&mut acc, &mut done, message, sent);
                    }
                    copy = None;
                }
                b'Z' => {
                    // ReadyForQuery ends a Sync, a simple Query or a FunctionCall; anything still
                    // queued before it was answered (or skipped after an error) on the way.
                    let ceiling = self.ceiling_cancel.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(c) = cancelling.take().or(ceiling) {
                        // Not before the cancel has landed: a cancel still in flight when the
                        // client sends its next statement would cancel that one.
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), c).await;
                        self.fence.send_replace(false);
                    }
                    dropping = false;
                    (held, hold_spent) = (None, false);
                    if notices_dropped > 0 {
                        let message = format!("{} notices of statements reading masked values were dropped", std::mem::take(&mut notices_dropped));
                        let _ = self.handle.record_later(&Event::Note { message });
                    }
                    if !ran_after_stop.is_empty() {
                        // A denied pause cancels the statement, but the server may have run the
                        // rest of the text already (its answers were waiting in the socket):
                        // what it finished is said, not hidden behind "cancelled".
                        let finished = std::mem::take(&mut ran_after_stop);
                        let done = finished.join(", ");
                        let note = format!("hoop: the server had already finished these statements of the text before the stop reached it (their rows were withheld): {done}");
                        let _ = self.handle.record_later(&Event::Note { message: note.clone() });
                        // For a text reading masked values, how many finished before one failed
                        // is about the values (red-team round 16: a pause, then the agent's own
                        // cancel, and the list counted out a character): the client learns only
                        // which kinds of statement ran; the recording has the list.
                        let note = if std::mem::take(&mut ran_after_stop_masked) {
                            let mut kinds: Vec<&str> = finished.iter().filter_map(|t| t.split_whitespace().next()).collect();
                            kinds.sort_unstable();
                            kinds.dedup();
                            format!("hoop: the server had already finished some statements of the text before the stop reached it ({}; their answers were withheld, and how many is not said: the text reads masked values)", kinds.join(", "))
                        } else {
                            note
                        };
                        proto::notice("01000", &note).write_to(&mut out);
                    }
                    let ended = {
                        let mut sh = self.shared();
                        sh.status = frame.body.first().copied().unwrap_or(b'I');
                        sh.tx_since = if sh.status == b'I' { None } else { sh.tx_since.or_else(|| Some(Instant::now())) };
                        let mut ended = None;
                        while let Some(e) = sh.expect.pop_front() {
                            if let Expect::Query { names: Some(names), failed: false, .. } = &e {
                                sh.confirm(names);
                            }
                            if ends_batch(&e) {
                                ended = Some(e);
                                break;
                            }
                        }
                        // After what the text created is kept: `BEGIN; DECLARE x …; COMMIT` in
                        // one text leaves no cursor behind.
                        if sh.status == b'I' {
                            sh.transaction_ended();
                        }
                        // Relations changed: other sessions learn it now, not at this one's
                        // next statement.
                        let changed = sh.relations_changing && sh.expect.is_empty();
                        if changed {
                            sh.relations_changing = false;
                        }
                        drop(sh);
                        if changed {
                            self.forget_relations();
                        }
                        ended
                    };
                    acc = None;
                    {
                        let sh = self.shared();
                        if matches!(sh.status, b'T' | b'E') && sh.expect.is_empty() {
                            self.idle_in_tx.notify_one();
                        }
                    }
                    match ended {
                        Some(Expect::Internal) => {}
                        Some(Expect::Query { cap: Some(mut cap), failed, .. }) => {
                            // A capped query's ReadyForQuery waits for hoop's decision, which
                            // comes after everything the query returned.
                            self.release(&mut out, &mut done).await?;
                            if let Some(tx) = cap.done.take() {
                                let _ = tx.send(rowcap::Outcome { over: cap.over.take(), failed, ready: frame });
                            }
                        }
                        _ => frame.write_to(&mut out),
                    }
                    self.answered.notify_waiters();
                }
                b'H' => {
                    // COPY TO STDOUT begins.
                    let front = self.front_kind();
                    let planned = match &front {
                        Front::Query(_, _, plan) => plan.clone(),
                        Front::Execute(portal, _, _) => self.shared().portal(portal).and_then(|p| p.stmt.as_ref()).and_then(|s| s.copy.clone()),
                        _ => None,
                    };
                    copy = planned.or_else(|| Some(Arc::new(CopyPlan { binary: frame.body.first() == Some(&1), ..CopyPlan::default() })));
                    if let Front::Query(id, started, _) | Front::Execute(_, id, started) = front {
                        acc = Some(ResultAcc::new(id, started, None));
                    }
                    frame.write_to(&mut out);
                }
                b'd' => {
                    let (masked, values) = copy.as_deref().map_or((None, 0), |plan| mask_copy_row(&self.masker, plan, &frame.body));
                    if let Some(a) = acc.as_mut() {
                        a.masked_values += u64::from(values);
                    }
                    match masked {
                        Some(masked) => {
                            self.sample_copy(&mut acc, &masked);
                            Frame { tag: b'd', body: masked.into() }.write_to(&mut out);
                        }
                        None => {
                            self.sample_copy(&mut acc, &frame.body);
                            frame.write_to(&mut out);
                        }
                    }
                    if let Some(refusal) = self.checkpoint(&mut acc, &mut tally, &mut out, &mut done).await? {
                        (dropping, copy) = (true, None);
                        cancelling = self.cut_short(&mut acc, &mut done, &mut out, proto::DENIED, refusal);
                    }
                }
                b'N' if self.internal_front() => {}
                b'N' | b'A' => {
                    if frame.tag == b'N' && self.front_reads_masked() {
                        // Notices quote values ("text-search query doesn't contain lexemes:
                        // \"   \"", a value's length in spaces), and whether one is raised at all,
                        // and between which rows, depends on the values: a statement that reads
                        // masked values has its notices dropped, counted in the recording.
                        notices_dropped += 1;
                        continue;
                    }
                    let masked = if frame.tag == b'N' {
                        let mut f = proto::decode_fields(&frame.body).unwrap_or_default();
                        mask_fields(&self.masker, &mut f).then(|| proto::encode_fields(b'N', &f))
                    } else {
                        mask_notification(&self.masker, &frame.body)
                    };
                    let before = out.len();
                    masked.as_ref().unwrap_or(&frame).write_to(&mut out);
                    // Notices and notifications carry what a statement put in them (a payload
                    // of `pg_notify` can be a table's worth): their bytes count in usage.
                    self.handle.count_received((out.len() - before) as u64, 0);
                }

                _ => frame.write_to(&mut out),
            }
            if out.len() > 256 * 1024 && !self.holding(&mut held, &mut hold_spent, out.len(), &mut acc, &mut tally) {
                self.release(&mut out, &mut done).await?;
            }
        }
    }

    /// Whether `out` is held back for a statement reading masked values (see
    /// [`HOLD_MASKED_ROWS`]); past the bound, or once its rows went anyway (a checkpoint
    /// released them), it is not, and this statement's rows are no longer held.
    ///
    /// Past the bound, rows stream and an error after them would say at which row the statement
    /// failed (a row as large as the bound first, then one row per value of a character: the
    /// fourteenth red-team round): the result is marked `streams_masked` and its next row meets
    /// a checkpoint, where the default agent rules hold it for review.
    fn holding(&self, held: &mut Option<(usize, u64)>, spent: &mut bool, len: usize, acc: &mut Option<ResultAcc>, tally: &mut Tally) -> bool {
        let Some((_, at)) = *held else { return false };
        let unreleased = at == self.releases.load(std::sync::atomic::Ordering::Relaxed);
        if len < HOLD_MASKED_ROWS && unreleased {
            return true;
        }
        if unreleased && let Some(a) = acc.as_mut() {
            a.streams_masked = true;
            if let Some(id) = a.action_id {
                *tally = Tally { action: id, rows: hoop_core::usage::CHECKPOINT_ROWS, bytes: 0 };
            }
        }
        (*held, *spent) = (None, true);
        false
    }

    /// Starts holding the rows that begin at `offset` if the statement answered now reads
    /// masked values and its rows were not already let go; decided once per statement
    /// (`spent` then says: not held, or no longer).
    fn hold_from(&self, held: &mut Option<(usize, u64)>, spent: &mut bool, offset: usize) {
        if held.is_some() || *spent {
            return;
        }
        if self.front_reads_masked() {
            *held = Some((offset, self.releases.load(std::sync::atomic::Ordering::Relaxed)));
        } else {
            *spent = true;
        }
    }

    /// Ends the statement whose result is streaming, midway: the server is asked to cancel it,
    /// its result is recorded as failed with `message`, and the client gets that error (code
    /// `code`). The caller drops what the server still sends for it, up to ReadyForQuery, which
    /// waits for the returned cancel to land.
    fn cut_short(&self, acc: &mut Option<ResultAcc>, done: &mut Vec<Finished>, out: &mut BytesMut, code: &str, message: String) -> Option<tokio::task::JoinHandle<()>> {
        let cancelling = self.cancel_upstream();
        proto::error("ERROR", code, &message).write_to(out);
        self.server_error(acc, done, message, 0);
        cancelling
    }

    /// The bookkeeping of a statement that failed on the server: its result is recorded with
    /// `message`, and in the extended protocol everything up to Sync is skipped, as the server does.
    fn server_error(&self, acc: &mut Option<ResultAcc>, done: &mut Vec<Finished>, message: String, bytes: u64) {
        let mut a = acc.take().or_else(|| match self.front_kind() {
            Front::Execute(_, id, started) | Front::Query(id, started, _) => Some(ResultAcc::new(id, started, None)),
            _ => None,
        });
        if let Some(a) = a.as_mut() {
            a.bytes += bytes;
        }
        self.finished(done, a, "ERROR".to_string(), Some(message));
        {
            let mut sh = self.shared();
            if let Some(Expect::Query { failed, .. }) = sh.expect.front_mut() {
                *failed = true;
            }
            let extended = sh.expect.front().is_some_and(|f| !ends_batch(f));
            while let Some(front) = sh.expect.front() {
                if ends_batch(front) {
                    break;
                }
                sh.expect.pop_front();
            }
            // The client has not sent this batch's Sync yet: what it still sends of the batch
            // is skipped by the server, and dropped by hoop.
            if extended && sh.expect.is_empty() {
                sh.batch_failed = true;
            }
        }
        self.answered.notify_waiters();
    }

    /// Writes `out` to the client, then records the results that ended in it (also when the
    /// write failed: the server did run them).
    async fn release(&self, out: &mut BytesMut, done: &mut Vec<Finished>) -> Result<(), RelayError> {
        if !out.is_empty() {
            self.releases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let written = if out.is_empty() { Ok(()) } else { self.client.lock().await.write_flushed(out).await };
        out.clear();
        for f in done.drain(..) {
            self.finish(f);
        }
        Ok(written?)
    }

    fn pop(&self) -> Option<Expect> {
        let e = self.shared().expect.pop_front();
        // Whoever waits for answers (a check waiting for a change of relations to run) asks again.
        self.answered.notify_waiters();
        e
    }

    /// Whether the statement being answered reads a masked column (its errors may quote one).
    fn front_reads_masked(&self) -> bool {
        let now = self.catalog.generation();
        let sh = self.shared();
        sh.front_reads_masked() || sh.front_stale(now)
    }

    /// Whether relations changed between the check of the statement being answered and now:
    /// the server resolves names again after waiting for a lock, so what ran may read other
    /// relations than hoop checked (red-team round 21: a table renamed and a view of that name
    /// made over `accounts` while the agent's UPDATE waited, whose error then quoted a masked
    /// row). Its answer is masked as if it read anything.
    fn front_stale(&self) -> bool {
        let now = self.catalog.generation();
        self.shared().front_stale(now)
    }

    /// Whether the reply being answered is hoop's own transaction control.
    fn internal_front(&self) -> bool {
        matches!(self.shared().expect.front(), Some(Expect::Internal))
    }

    /// Notes a command tag against the written-rows ceiling of the query or Execute answered.
    fn count_written(&self, tag: &str) {
        let Some(limit) = self.max_rows_written else { return };
        let mut sh = self.shared();
        match sh.expect.front_mut() {
            Some(Expect::Query { cap: Some(cap), .. }) => cap.saw(tag),
            Some(Expect::Execute { capped: true, .. }) => {
                if let Some(n) = rowcap::rows_written(tag).filter(|n| *n > limit) {
                    sh.cap_over.get_or_insert((tag.to_string(), n));
                }
            }
            _ => {}
        }
    }

    fn front_kind(&self) -> Front {
        self.shared().front()
    }

    /// The row shape of a portal's Execute: its own description, or its statement's with Bind's formats.
    async fn portal_plan(&self, portal: &str) -> Option<Arc<RowPlan>> {
        if matches!(self.front_kind(), Front::Execute(_, _, started) if started.elapsed() >= CHANGE_CHECK_AFTER) {
            self.catalog.notice_changes().await;
        }
        let (fields, formats, lineage) = {
            let sh = self.shared();
            let p = sh.portals.get(portal)?;
            let lineage = p.stmt.as_ref().and_then(|s| s.lineage.clone());
            let (fields, own) = p.fields(&sh.statements)?;
            (fields, (!own).then(|| p.result_formats.clone()), lineage)
        };
        let every = if self.front_stale() { self.masker.rule_for("derived").map(crate::lineage::ResultMask::every) } else { None };
        let mask = every.as_ref().or_else(|| lineage.as_ref().map(|l| l.result(0)));
        Some(Arc::new(RowPlan::build(&fields, formats.as_deref(), &self.target, &self.masker, &self.catalog, mask).await))
    }

    fn sample(&self, acc: &mut Option<ResultAcc>, body: &[u8]) {
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

    fn sample_copy(&self, acc: &mut Option<ResultAcc>, row: &[u8]) {
        let Some(a) = acc.as_mut() else { return };
        a.rows += 1;
        a.bytes += row.len() as u64;
        if a.sample.len() < self.limits.max_rows && a.sample_bytes < self.limits.max_bytes {
            a.sample_bytes += row.len();
            a.sample.push(vec![Some(String::from_utf8_lossy(row).trim_end_matches('\n').to_string())]);
        }
    }

    /// A checkpoint of the result in `acc`, when one is due: usage is counted and rules reading
    /// `result` are asked. A hold pauses the stream here (what was read reaches the client,
    /// then nothing more is read from the server) until the reviewer decides; the refusal to
    /// send, when the result must end.
    async fn checkpoint(&self, acc: &mut Option<ResultAcc>, tally: &mut Tally, out: &mut BytesMut, done: &mut Vec<Finished>) -> Result<Option<String>, RelayError> {
        let Some(a) = acc.as_mut() else { return Ok(None) };
        let Some(action_id) = a.action_id else { return Ok(None) };
        // Per row: a few additions and comparisons, no clock read. Counted over the action's
        // results, so that many small results of one text meet checkpoints as one large one.
        if tally.action != action_id {
            *tally = Tally { action: action_id, rows: 0, bytes: 0 };
        }
        tally.rows += 1;
        tally.bytes += a.bytes - a.counted_bytes;
        a.counted_bytes = a.bytes;
        if tally.rows < hoop_core::usage::CHECKPOINT_ROWS && tally.bytes < hoop_core::usage::CHECKPOINT_BYTES {
            return Ok(None);
        }
        (tally.rows, tally.bytes) = (0, 0);
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
                match self.reviewed(self.unless_cancelled(self.handle.wait_result_review(action_id, &rule, pending))).await {
                    None => Ok(Some(cut(&rule, "the client cancelled it while it was paused for review"))),
                    Some(Ok(true)) => Ok(None),
                    Some(Ok(false)) => Ok(Some(cut(&rule, "the reviewer did not let this result go on"))),
                    Some(Err(e)) => Ok(Some(cut(&rule, &e.to_string()))),
                }
            }
            Err(e) => Ok(Some(cut("hoop-recording", &e.to_string()))),
        }
    }

    /// A result that ended now: counted into usage at once, recorded once the output that
    /// ends it is written (see [`Relay::release`]).
    ///
    /// A statement that read masked values counts as at least one masked value, rows or none:
    /// whether it failed, and where, is about them (a division by a character's code minus a
    /// guess), so the masked-values budget bounds that oracle too (red-team round 15 read every
    /// value through statements that returned only a constant).
    fn finished(&self, done: &mut Vec<Finished>, acc: Option<ResultAcc>, tag: String, error: Option<String>) {
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

    /// Whether a statement sent before still returns its result.
    fn result_in_flight(&self) -> bool {
        self.shared().expect.iter().any(returns_result)
    }

    /// Before a pipelining client's next statement is checked: the results of those sent before
    /// it end first (a Flush makes the server send what it holds back within a batch), so that
    /// budgets judge it with their rows counted. Only when rules read usage or results.
    async fn settle_results(&self, in_batch: bool, server: &mut ConnWrite, out: &mut BytesMut, client: &mut FrameReader<ConnRead>) -> Result<(), RelayError> {
        if !self.handle.watches_results() || !self.result_in_flight() {
            return Ok(());
        }
        if in_batch {
            proto::raw(b'H', &[]).write_to(out);
        }
        self.send(server, out).await?;
        tokio::select! {
            _ = self.answered_until(|expect| !expect.iter().any(returns_result)) => Ok(()),
            e = client.closed(MAX_BUFFERED_DURING_REVIEW) => Err(e.into()),
        }
    }

    /// Records a finished result: tag, count, duration and the sampled (masked) rows (its usage
    /// was counted when it ended).
    fn finish(&self, f: Finished) {
        let Finished { acc: a, tag, error, duration_us } = f;
        let Some(action_id) = a.action_id else { return };
        let columns = match (&a.plan, a.sample.is_empty()) {
            (Some(p), false) => p.columns.iter().map(|c| c.name.clone()).collect(),
            _ => Vec::new(),
        };
        let rows = tag.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(a.rows);
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

/// Replaces what an error of a statement reading masked columns may quote (its
/// message, detail, hint, context, internal query and positions) with hoop's own words, and
/// its SQLSTATE with `data_exception` unless it is [`operational_sqlstate`]; the severity
/// stays. Whether anything changed.
fn withhold_quotes(fields: &mut Vec<(u8, String)>) -> bool {
    let mut changed = false;
    for (t, v) in fields.iter_mut() {
        // Which data error it was says which of a dozen tests a value failed (a division by
        // zero, an invalid date, a bad regular expression, each at its own threshold over a
        // masked character): codes of errors that depend on data become one. Those a client
        // acts on (a serialization failure, a cancel, a lost connection, an aborted
        // transaction) stay.
        if *t == b'C' && !operational_sqlstate(v) && v != GENERIC_DATA_ERROR {
            *v = GENERIC_DATA_ERROR.to_string();
            changed = true;
            continue;
        }
        if *t == b'M' || DROPPED_ERROR_FIELDS.contains(t) {
            *v = match t {
                b'M' => "hoop: the server's error message is withheld: it may quote values of masked columns".into(),
                _ => String::new(),
            };
            changed = true;
        }
    }
    fields.retain(|(t, v)| !DROPPED_ERROR_FIELDS.contains(t) || !v.is_empty());
    changed
}

/// Longest the client's next messages wait for a cancelled statement to end.
const FENCE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Error fields a statement reading masked values does not pass on: detail, hint, context,
/// internal query, and what names the failure (the server's file, line and routine, which say
/// which function failed as surely as its SQLSTATE; the schema, table, column, type and
/// constraint; the position, which points at the failing expression and is present for some
/// failures only).
const DROPPED_ERROR_FIELDS: &[u8] = b"DHWqFLRstcdnPp";

/// The SQLSTATE errors that depend on data are reported as, for statements reading masked
/// values: `data_exception`.
const GENERIC_DATA_ERROR: &str = "22000";

/// Whether a SQLSTATE is of a class clients act on that a value cannot choose: connection,
/// transaction state, rollback (serialization, deadlock), insufficient resources, operator
/// intervention (cancel, shutdown), system errors. (Even "undefined table" can be chosen by a
/// value, cast to `regclass`.)
fn operational_sqlstate(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "25" | "40" | "53" | "57" | "58"))
}

/// Whether an expected reply is a statement's result (rows, a command tag, an error).
/// Whether `e` ends what the server skips after an error: a Sync, or a message that is not
/// part of an extended-protocol batch.
/// The refusal of a write whose relations changed while it ran.
fn moved_message() -> String {
    format!(
        "hoop: the relations this write names changed while it ran, so what it wrote is not what was checked; it was not committed — send it again (rule {})",
        rowcap::RULE
    )
}

/// Whether `sql` may create, change or drop relations (or what is behind them).
fn changes_relations(sql: &Sql) -> bool {
    sql.kinds.iter().any(|k| matches!(k.as_str(), "create" | "create_view" | "alter" | "alter_drop" | "drop" | "rename" | "create_rule"))
}

fn ends_batch(e: &Expect) -> bool {
    matches!(e, Expect::Sync | Expect::Query { .. } | Expect::FunctionCall | Expect::Internal | Expect::Tail)
}

fn returns_result(e: &Expect) -> bool {
    matches!(e, Expect::Execute { .. } | Expect::Query { .. } | Expect::FunctionCall)
}

enum Front {
    /// hoop's own BEGIN/COMMIT/ROLLBACK.
    Own,
    DescribeStatement(String),
    DescribePortal(String, bool),
    Execute(String, Option<u64>, Instant),
    Query(Option<u64>, Instant, Option<Arc<CopyPlan>>),
    Other,
}

impl ResultAcc {
    fn new(action_id: Option<u64>, started: Instant, plan: Option<Arc<RowPlan>>) -> Self {
        ResultAcc { action_id, started, plan, rows: 0, bytes: 0, masked_values: 0, streams_masked: false, masked_by: Default::default(), counted_bytes: 0, sample: Vec::new(), sample_bytes: 0 }
    }

    fn so_far(&self) -> ResultSoFar {
        ResultSoFar { rows: self.rows, bytes: self.bytes, masked_values: self.masked_values, seconds: self.started.elapsed().as_secs(), streams_masked: self.streams_masked }
    }
}

/// Masks the result of a `FunctionCallResponse` (length, then the value) as text.
fn mask_function_result(masker: &Masker, body: &[u8]) -> Option<Frame> {
    let (len, value) = body.split_first_chunk::<4>()?;
    if i32::from_be_bytes(*len) < 0 {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?;
    let std::borrow::Cow::Owned(masked) = masker.mask_text(text) else { return None };
    let mut b = (masked.len() as i32).to_be_bytes().to_vec();
    b.extend_from_slice(masked.as_bytes());
    Some(Frame { tag: b'V', body: b.into() })
}

/// Masks the payload of a `NotificationResponse` (pid, channel, payload).
fn mask_notification(masker: &Masker, body: &[u8]) -> Option<Frame> {
    let mut c = crate::frame::Cursor::new(body);
    let pid = c.i32()?;
    let channel = c.cstr()?;
    let payload = c.cstr()?;
    let std::borrow::Cow::Owned(masked) = masker.mask_text(&payload) else { return None };
    let mut b = pid.to_be_bytes().to_vec();
    for s in [channel.as_str(), masked.as_str()] {
        b.extend_from_slice(s.as_bytes());
        b.push(0);
    }
    Some(Frame { tag: b'A', body: b.into() })
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

fn hex_of(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}
