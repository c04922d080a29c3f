//! The session relay: client → server checks every statement; server → client masks every row.
//!
//! Two loops share one [`Shared`] state. The client loop decodes what the client sends,
//! turns statements into actions, asks the gate, and forwards (or substitutes a refusal), and
//! for every message forwarded it queues what the server will answer ([`Expect`]). The server
//! loop reads answers in the same order, so it always knows which statement and which result
//! shape a `DataRow` belongs to, masks it, and records results.
//!
//! - `state.rs`: what the server will answer next, and the names (statements, portals,
//!   cursors) it confirmed: hoop's map changes on the server's answers, not the client's asks;
//! - `client.rs`: the client loop, where a `Query`, `Parse`, `Bind`, `Execute` or
//!   `FunctionCall` is read and checked;
//! - `reading.rs`: what a statement's text reads, through the catalog, and the lineage of
//!   masked values in its results;
//! - `capped.rs`: agents' writes run under the written-rows ceiling;
//! - `server.rs`: the server loop, where each answer is matched to what it answers and a
//!   `DataRow` is masked;
//! - `results.rs`: a result as it streams: counted against budgets, paused at checkpoints,
//!   recorded when it ends.

mod capped;
mod client;
mod copy_in;
mod reading;
mod results;
mod server;
mod state;
mod transaction;

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
use results::{FailedBy, Finished, ResultAcc, Tally};
use state::{Expect, Front, Portal, ReadIn, Reading, Shared, Statement, Uncounted};

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

/// Longest the client's next messages wait for a cancelled statement to end.
const FENCE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

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
/// The text a refused statement's Parse carries instead of its own: a syntax error in any
/// setting, so the server fails the Parse without reading any relation.
const REFUSED_AT_PARSE: &str = "hoop refused this statement";

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
    /// hoop's own question is out in the session (see `reading.rs`): the server loop reads
    /// its answers instead of passing them on. Kept apart from the queue of what the server
    /// will answer so that every other message is not checked against it under its lock.
    probing: std::sync::atomic::AtomicBool,
    /// Reviews being waited for: a statement held or paused is not overrunning.
    reviewing: std::sync::atomic::AtomicUsize,
    /// The cancel the statement ceiling sent, until the server loop sees it land.
    ceiling_cancel: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set when the client went away while the server still owed answers: they are read and
    /// recorded, and no longer written anywhere; a result paused for review stops waiting.
    client_gone: hoop_core::latch::Latch,
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
            probing: Default::default(),
            reviewing: Default::default(),
            ceiling_cancel: Mutex::new(None),
            client_gone: Default::default(),
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

    /// The client is gone: from now on the server loop reads the answers still owed for what
    /// was forwarded (run, or cancelled) and records them, writing nothing to the client.
    /// Resolves once nothing is owed; the caller bounds the wait.
    pub async fn drain_after_client(&self) {
        self.client_gone.set();
        self.answered_until(|sh| sh.expect.is_empty()).await
    }

    /// Records, as the session ends, a transaction it leaves open: the server rolls it back
    /// when hoop disconnects. With answers still owed (they did not come in time), whether
    /// what ran last committed is not known, and the recording says that instead.
    pub fn record_session_end(&self) {
        let mut sh = self.shared();
        if sh.expect.is_empty() {
            let rolled = sh.undo.session_end();
            drop(sh);
            if let Some(r) = rolled {
                self.record_rollback(r);
            }
            return;
        }
        let (ids, more) = sh.undo.pending();
        drop(sh);
        let ids: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let message = format!("the session ended with the server's answers still owed: whether what ran since its transaction last committed ({}{more}) committed is not known", ids.join(", "));
        if let Err(e) = self.handle.record_later(&Event::Note { message }) {
            tracing::warn!(error = %e, "recording the end of a session failed");
        }
    }

    fn record_rollback(&self, r: transaction::RolledBack) {
        let event = Event::RolledBack { action_ids: r.action_ids, more: r.more, reason: r.reason.to_string(), after_commit: r.after_commit };
        if let Err(e) = self.handle.record_later(&event) {
            tracing::warn!(error = %e, "recording a rollback failed");
        }
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
                Some(Expect::Execute { .. }) => matches!((rest.next(), rest.next()), (None, _) | (Some(Expect::Sync | Expect::CopySync), None)),
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
}

/// The refusal of a write whose relations changed while it ran.
fn moved_message() -> String {
    format!(
        "hoop: the relations this write names changed while it ran, so what it wrote is not what was checked; it was not committed — send it again (rule {})",
        rowcap::RULE
    )
}

/// hoop's refusal of a capped write whose relations gained, while it ran, what changes rows
/// its count leaves out.
fn further_message() -> String {
    format!(
        "hoop: while this write ran, its relations gained a foreign key that cascades, a trigger or a rule (committed by another session), so it may have changed rows its count leaves out; it was not committed (rule {})",
        rowcap::RULE
    )
}

/// Whether `sql` may create, change or drop relations (or what is behind them).
fn changes_relations(sql: &Sql) -> bool {
    sql.kinds.iter().any(|k| matches!(k.as_str(), "create" | "create_view" | "alter" | "alter_drop" | "drop" | "rename" | "alter_object_schema" | "create_rule"))
}

/// Whether `e` ends what the server skips after an error: a Sync, or a message that is not
/// part of an extended-protocol batch.
fn ends_batch(e: &Expect) -> bool {
    matches!(e, Expect::Sync | Expect::CopySync | Expect::Query { .. } | Expect::FunctionCall | Expect::Internal | Expect::Tail | Expect::Quiet | Expect::Probe { .. })
}

/// Whether an expected reply is a statement's result (rows, a command tag, an error).
fn returns_result(e: &Expect) -> bool {
    matches!(e, Expect::Execute { .. } | Expect::Query { .. } | Expect::FunctionCall)
}

/// Bytes as lowercase hex.
fn hex_of(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}
