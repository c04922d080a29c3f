//! Results while they stream: usage counted as rows and bytes go by, and checkpoints where
//! rules reading `result` may hold or end a result midway.

use super::{GateError, SessionHandle};
use crate::action::{Action, ActionKind};
use crate::approvals::{Decision, PendingReview};
use crate::event::Event;
use crate::policy::Policy;
use crate::usage::{Counts, ResultSoFar, Usage};
use crate::verdict::Verdict;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How long a reviewer's approval of what a budget rule held lets the identity past that rule on
/// that target.
pub const WAIVER_SECS: u64 = 3600;

/// Rules a ticket names besides the one that held its action (see `after_review`).
const MAX_ALSO_HOLDING: usize = 4;

/// Rules asked after the one that holds an action, at most (see `after_review`).
const MAX_RULES_AFTER_REVIEW: usize = 256;

/// Most results one session tracks at once (pipelined statements); past it the oldest goes
/// (its remaining rows are not counted, and it meets no more checkpoints).
const MAX_RUNNING: usize = 256;

/// Most waivers kept; past it the ones that expired go, then the oldest.
const MAX_WAIVERS: usize = 4096;

/// What a checkpoint decided.
pub enum Checkpoint {
    /// Go on.
    Continue,
    /// Pause: stop reading the result until the reviewer decides ([`SessionHandle::wait_result_review`]).
    Review {
        /// The rule that held it.
        rule: String,
        /// The ticket to wait on.
        pending: PendingReview,
    },
    /// End the result now, the way its protocol allows.
    Deny {
        /// The rule that ended it.
        rule: String,
        /// Why, to show the client.
        reason: String,
    },
}

struct Run {
    /// The (masked) action, kept when rules read `result`.
    action: Option<Action>,
    /// The usage keys of the tables a SQL statement reads: its rows count into them too.
    table_keys: Vec<Arc<str>>,
    /// What the result streaming now had returned when last counted into usage.
    counted: ResultSoFar,
    /// What the action's results that ended returned (a text of several statements, a portal
    /// run in parts): `result` is the action's whole, not one piece's.
    before: ResultSoFar,
    /// Its last result ended; it goes at the session's next check unless another begins.
    ended: bool,
    /// Rules a reviewer let this result go past.
    waived: Vec<String>,
}

/// Results running in one session.
#[derive(Default)]
pub(super) struct Running(Mutex<HashMap<u64, Run>>);

impl Run {
    fn new(action: Option<Action>, table_keys: Vec<Arc<str>>, before: ResultSoFar) -> Self {
        Run { action, table_keys, counted: ResultSoFar::default(), before, ended: false, waived: Vec::new() }
    }
}

impl Running {
    pub(super) fn start(&self, action_id: u64, action: Option<Action>, table_keys: Vec<Arc<str>>) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, r| !r.ended);
        insert_bounded(&mut m, action_id, Run::new(action, table_keys, ResultSoFar::default()));
    }
}

/// Adds a run, the oldest going first past [`MAX_RUNNING`].
fn insert_bounded(m: &mut HashMap<u64, Run>, action_id: u64, run: Run) {
    if m.len() >= MAX_RUNNING
        && let Some(oldest) = m.keys().min().copied()
    {
        m.remove(&oldest);
    }
    m.insert(action_id, run);
}

/// Budget rules waived per identity, target and rule: until a time (seconds since the epoch),
/// while none of the revocation ids of the reviewer who waived it, nor of the credential it was
/// waived for, is revoked.
#[derive(Default)]
pub(super) struct Waivers(Mutex<HashMap<WaiverKey, Waiver>>);

/// A waiver's identity (its subject and whose budgets it spends: two agents may mint the same
/// name), target and rule.
type WaiverKey = (String, String, String);

/// One waiver: until when, the revocation ids of the reviewer who granted it, and those of
/// the credential whose hold was approved.
struct Waiver {
    until: u64,
    by: Arc<[String]>,
    requester: Arc<[String]>,
}

/// The key a waiver of `identity`'s budgets is kept under (red-team identity round 88: a
/// waiver kept by subject alone served another agent's `ci/w1`, minted under the same name).
fn waiver_identity(identity: &crate::identity::Identity) -> String {
    format!("{}\0{}", identity.subject, identity.budget_subject())
}

impl Waivers {
    /// Whether the waiver holds now; `revoked` says whether any of its reviewer's ids, or of
    /// the credential it was granted for, is.
    pub(super) fn holds(&self, identity: &crate::identity::Identity, target: &str, rule: &str, now: u64, revoked: impl Fn(&[String]) -> bool) -> bool {
        let (by, requester) = {
            let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
            match m.get(&(waiver_identity(identity), target.to_string(), rule.to_string())) {
                Some(w) if now < w.until => (w.by.clone(), w.requester.clone()),
                _ => return false,
            }
        };
        // (Asked outside the lock: the revocation list has its own.) A waiver also ends with
        // the credential it was granted for (round 88: a token minted anew after the approved
        // one was revoked kept it).
        !revoked(&by) && !revoked(&requester)
    }

    fn grant(&self, identity: &crate::identity::Identity, target: &str, rule: &str, until: u64, by: &[String]) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_WAIVERS {
            let now = crate::auth::now_secs().max(0) as u64;
            m.retain(|_, w| w.until > now);
            if m.len() >= MAX_WAIVERS
                && let Some(k) = m.iter().min_by_key(|(_, w)| w.until).map(|(k, _)| k.clone())
            {
                m.remove(&k);
            }
        }
        let requester: Vec<String> = identity.revocation_ids().collect();
        m.insert((waiver_identity(identity), target.to_string(), rule.to_string()), Waiver { until, by: by.into(), requester: requester.into() });
    }
}

/// Table keys a session keeps for reuse.
const KEY_CACHE: usize = 32;

/// The usage keys of the tables a session's statements read lately, by table name: most
/// statements read the tables the ones before did, and making a key is a format and an
/// allocation.
#[derive(Default)]
pub(super) struct KeyCache(Mutex<Vec<(String, Arc<str>)>>);

/// Usage epochs kept per gateway: identities share one by hash, which only judges a portal
/// again more often than it must.
pub(super) const EPOCH_BUCKETS: usize = 64;

/// The usage epoch an identity's key moves.
pub(super) fn epoch_bucket(identity_key: &str) -> usize {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let h = BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(identity_key);
    (h % EPOCH_BUCKETS as u64) as usize
}

/// The usage keys: per identity, and per identity on a target.
pub(crate) fn usage_keys(subject: &str, target: &str) -> [String; 2] {
    [subject.to_string(), format!("{subject}\u{0}{target}")]
}

/// The usage key of one table on the session's target (`on_target` is the second usage key).
fn table_key(on_target: &str, table: &str) -> String {
    format!("{on_target}\u{0}{table}")
}

/// The prefix of the per-column (`kind` "column") or per-detector ("detector") keys on the
/// session's target. A table name never starts with NUL (PostgreSQL identifiers cannot hold
/// one), so these never meet a table's key.
fn detail_prefix(on_target: &str, kind: &str) -> String {
    format!("{on_target}\u{0}\u{0}{kind}\u{0}")
}

/// A usage key's scope beyond its target: a table, or a column or detector of masked values.
pub(crate) enum KeyDetail<'a> {
    Table(&'a str),
    Column(&'a str),
    Detector(&'a str),
}

/// What the third part of a usage key (after subject and target) names.
pub(crate) fn key_detail(third: &str) -> Option<KeyDetail<'_>> {
    match third.strip_prefix('\u{0}') {
        None => Some(KeyDetail::Table(third)),
        Some(rest) => match rest.split_once('\u{0}')? {
            ("column", name) => Some(KeyDetail::Column(name)),
            ("detector", name) => Some(KeyDetail::Detector(name)),
            _ => None,
        },
    }
}

impl SessionHandle {
    /// The usage keys of the tables a SQL `action` reads (in [`counted_tables`] order), made
    /// once per statement: its check, its count and its result's counts all use them.
    /// A bare name the gateway also resolved (`people` beside `public.people`) shares the
    /// resolved name's key, so each table is counted once, under its schema-qualified name.
    pub(super) fn table_keys(&self, action: &Action) -> Vec<Arc<str>> {
        if action.kind != ActionKind::Sql {
            return Vec::new();
        }
        let mut seen = self.table_key_cache.0.lock().unwrap_or_else(|p| p.into_inner());
        counted_tables(&action.sql)
            .map(|(_, name)| {
                if let Some((_, key)) = seen.iter().find(|(n, _)| n == name) {
                    return key.clone();
                }
                let key: Arc<str> = table_key(&self.usage_keys[1], name).into();
                if seen.len() >= KEY_CACHE {
                    seen.remove(0);
                }
                seen.push((name.clone(), key.clone()));
                key
            })
            .collect()
    }

    /// What rules see as `usage` for `action` at `now` (`table_keys` are its tables' keys).
    /// Per-table windows are read only when a rule reads them.
    pub(super) fn usage_of(&self, action: &Action, table_keys: &[Arc<str>], now: u64) -> Usage {
        let inner = &self.gate.inner;
        let (deletes, session_deletes) = inner.ledger.recent(&self.session.identity.subject, &self.session.id.0, action);
        let mut keys: Vec<&str> = Vec::with_capacity(2 + table_keys.len());
        keys.extend(self.usage_keys.iter().map(String::as_str));
        let per_table = action.kind == ActionKind::Sql && !table_keys.is_empty() && inner.policy.reads_usage_tables();
        if per_table {
            keys.extend(table_keys.iter().map(|k| &**k));
        }
        let mut windows = inner.usage.windows_all(&keys, now).into_iter();
        let (identity, target) = (windows.next().unwrap_or_default(), windows.next().unwrap_or_default());
        let tables = if per_table { counted_tables(&action.sql).map(|(t, _)| t.clone()).zip(windows).collect() } else { Vec::new() };
        let (mut columns, mut detectors) = (Vec::new(), Vec::new());
        if inner.policy.reads_usage_details() {
            let named = |kind: &str| {
                let prefix = detail_prefix(&self.usage_keys[1], kind);
                let mut v: Vec<(String, crate::usage::Windows)> =
                    inner.usage.list_under(&prefix, now).into_iter().filter_map(|(k, w)| Some((k.strip_prefix(&prefix)?.to_string(), w))).collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            };
            (columns, detectors) = (named("column"), named("detector"));
        }
        let sensitive = crate::usage::Sensitive::of(&columns);
        Usage { deletes, session_deletes, identity, target, tables, columns, detectors, sensitive }
    }

    /// The verdict of `evaluate`, asked again without each budget rule a reviewer waived for
    /// this identity on this target (within the hour) while it holds one, so that the next rule
    /// decides; with the rules left out (`waived` are those already left out).
    pub(super) fn without_waived(&self, mut waived: Vec<String>, now: u64, evaluate: impl Fn(&[String]) -> Verdict) -> (Verdict, Vec<String>) {
        let (identity, target) = (&self.session.identity, &self.session.target.name);
        loop {
            let v = evaluate(&waived);
            match &v {
                // A waiver ends with its reviewer's revocation (red-team identity round 84: an
                // agent read past its hourly budget on a revoked reviewer's approval).
                Verdict::Review { rule } if !waived.contains(rule) && self.gate.inner.waivers.holds(identity, target, rule, now, |by| self.gate.inner.revocations.revoked_any(by)) => waived.push(rule.clone()),
                _ => return (v, waived),
            }
        }
    }

    /// Counts values masked in what the client received by what masked them (a column's rule
    /// or lineage, a content detector) into this identity's per-column and per-detector usage
    /// on the target. Their total is counted with the result (or output) that carried them.
    pub fn count_masked(&self, by: &[(crate::usage::MaskedBy, u64)]) {
        if by.is_empty() {
            return;
        }
        let now = crate::auth::now_secs().max(0) as u64;
        for (what, n) in by {
            let key = match what {
                crate::usage::MaskedBy::Column(c) => format!("{}{c}", detail_prefix(&self.usage_keys[1], "column")),
                crate::usage::MaskedBy::Detector(d) => format!("{}{d}", detail_prefix(&self.usage_keys[1], "detector")),
            };
            self.gate.inner.usage.add_all(&[&key], &Counts { masked_values: *n, ..Counts::default() }, now);
        }
        self.moved_usage();
    }

    /// How many times the usage of this session's identity (and of the others sharing its
    /// bucket) moved, in any session: a portal judged before it last moved is judged again
    /// before it runs (red-team round 33: a portal bound before another session spent the
    /// budget ran its first Execute unchecked).
    pub fn usage_epoch(&self) -> u64 {
        self.gate.inner.usage_epochs.get(self.epoch_bucket).map_or(0, |e| e.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn moved_usage(&self) {
        if let Some(e) = self.gate.inner.usage_epochs.get(self.epoch_bucket) {
            e.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Counts an action let through (or held) into usage.
    pub(super) fn count_action(&self, action: &Action, table_keys: &[Arc<str>], now: u64) {
        let deletes = match action.kind {
            ActionKind::K8s => u64::from(crate::usage::ledger::is_delete(&action.k8s) || action.k8s.verb == "deletecollection"),
            ActionKind::Sql => u64::from(action.sql.kinds.iter().any(|k| k == "delete" || k == "truncate")),
            _ => 0,
        };
        self.count(&Counts { actions: 1, deletes, ..Counts::default() }, table_keys, now);
    }

    /// Adds `delta` to this identity's usage, on the target and on each table of `table_keys`.
    /// What the recording took since it was last counted is counted with it, so the identity's
    /// recording budget sees every byte written, records of results and refusals included.
    pub(super) fn count(&self, delta: &Counts, table_keys: &[Arc<str>], now: u64) {
        let delta = &Counts { recorded: delta.recorded + self.recorded_since_counted(), ..*delta };
        if delta.is_zero() {
            return;
        }
        let mut keys: Vec<&str> = Vec::with_capacity(2 + table_keys.len());
        keys.extend(self.usage_keys.iter().map(String::as_str));
        keys.extend(table_keys.iter().map(|k| &**k));
        // Two spellings of one table share a key (see `table_keys`): counted once.
        keys.sort_unstable();
        keys.dedup();
        self.gate.inner.usage.add_all(&keys, delta, now);
        self.moved_usage();
        if delta.rows > 0 || delta.bytes > 0 {
            self.gate.inner.metrics.read(&self.session.target.name, delta.rows, delta.bytes);
        }
    }

    /// What approving a ticket of `rule` also grants, for the reviewer to read: a budget rule's
    /// approval waives it for an hour (red-team round 81: a ticket showing only `select 1`
    /// let an identity read two million rows past a 50,000-row budget). Empty for other rules.
    pub(super) fn waiver_note(&self, rule: &str) -> String {
        if !self.gate.inner.policy.is_budget_rule(rule) {
            return String::new();
        }
        let identity = &self.session.identity;
        let whose = if identity.budget_subject() == identity.subject { String::new() } else { format!(" (minted by {}, whose budgets it spends)", identity.budget_subject()) };
        format!(
            "approving also waives budget rule {rule} for {}{whose} on target {} for {} minutes, for every credential of that subject, until this one is revoked: what it would hold meanwhile runs unheld",
            identity.subject,
            self.session.target.name,
            WAIVER_SECS / 60
        )
    }

    /// What the rules after `rule` (with `waived` left out) say of `action`: those that would
    /// hold it too, a few at most, for the reviewer (approving lets the action past them all, a
    /// budget spent included: a statement held as choosing by a masked value hid that its
    /// identity was past its hour's masked-values budget); and the first that denies it, if one
    /// does. A review is a second pair of eyes on what the rest of the policy allows, never a way
    /// past what it denies (identity red-team round 112: an operator's rule holding every agent
    /// write put a `DO` block, which `agent-no-unreadable-sql` denies, before a reviewer, with its
    /// code hidden by masking). The policy's default is not a rule: a default of `deny` does not
    /// undo the rules that hold.
    pub(super) fn after_review(&self, action: &Action, rule: &str, waived: &[String]) -> (Vec<String>, Option<(String, String)>) {
        let mut left_out = waived.to_vec();
        left_out.push(rule.to_string());
        let mut also = Vec::new();
        // (Each step leaves one more rule out: at most as many steps as there are rules.)
        for _ in 0..MAX_RULES_AFTER_REVIEW {
            match self.gate.inner.policy.evaluate_waiving(&self.session, action, &left_out) {
                Verdict::Review { rule } if !left_out.contains(&rule) => {
                    if also.len() < MAX_ALSO_HOLDING {
                        also.push(rule.clone());
                    }
                    left_out.push(rule);
                }
                Verdict::Deny { rule, reason } if rule != "default" => return (also, Some((rule, reason))),
                _ => break,
            }
        }
        (also, None)
    }

    /// After a reviewer (whose revocation ids are `by`) approved what `rule` held: a budget rule
    /// is waived for this identity on this target for [`WAIVER_SECS`], so that the work it let go
    /// on is not held at once again, while the reviewer is not revoked.
    pub(super) fn waive_budget(&self, rule: &str, by: &[String]) {
        if self.gate.inner.policy.is_budget_rule(rule) {
            let until = crate::auth::now_secs().max(0) as u64 + WAIVER_SECS;
            self.gate.inner.waivers.grant(&self.session.identity, &self.session.target.name, rule, until, by);
        }
    }

    /// A checkpoint of `action_id`'s result streaming now, which has returned `so_far`: what it
    /// returned since the last one is counted into usage, and rules reading `result` are asked
    /// (with the action's results so far, this one included). Adapters call it when
    /// [`ResultSoFar::checkpoint_due`] says so; an error means refuse (it could not be recorded).
    pub fn result_progress(&self, action_id: u64, so_far: ResultSoFar) -> Result<Checkpoint, GateError> {
        let now = crate::auth::now_secs().max(0) as u64;
        let (delta, action, waived, table_keys, whole) = {
            let mut m = self.results.0.lock().unwrap_or_else(|p| p.into_inner());
            // Gone already (its session checked more since): counted still, judged no more.
            let run = m.entry(action_id).or_insert_with(|| Run::new(None, Vec::new(), ResultSoFar::default()));
            let delta = so_far.since(&run.counted);
            run.counted = so_far;
            run.ended = false;
            (delta, run.action.clone(), run.waived.clone(), run.table_keys.clone(), run.before.plus(&so_far))
        };
        self.count(&delta, &table_keys, now);
        let Some(mut action) = action else { return Ok(Checkpoint::Continue) };
        let so_far = whole;
        action.result = so_far;
        action.usage = self.usage_of(&action, &table_keys, now);
        // `deletes` counts the others, not this one (as at its check): this action was counted
        // when it was let through, and a delete that ran must not have its answer withheld by
        // the rule that let it run (an eviction's 201 came back as a 403).
        if crate::usage::ledger::is_delete(&action.k8s) && action.kind == crate::action::ActionKind::K8s {
            action.usage.deletes = action.usage.deletes.saturating_sub(1);
            action.usage.session_deletes = action.usage.session_deletes.saturating_sub(1);
        }
        // A budget a reviewer waived for this identity on this target (within the hour) is not
        // asked again, here as at checks.
        let policy = &self.gate.inner.policy;
        let (verdict, _) = self.without_waived(waived, now, |w| policy.evaluate_result(&self.session, &action, w));
        self.write(&Event::ResultCheckpoint {
            action_id,
            rows: so_far.rows,
            bytes: so_far.bytes,
            masked_values: so_far.masked_values,
            verdict: (!matches!(verdict, Verdict::Allow { .. })).then(|| verdict.clone()),
            usage: Some(crate::event::UsageSeen { identity: action.usage.identity, target: action.usage.target }),
        })?;
        Ok(match verdict {
            Verdict::Allow { .. } => Checkpoint::Continue,
            Verdict::Deny { rule, reason } => {
                self.gate.inner.metrics.verdict(&Verdict::Deny { rule: rule.clone(), reason: reason.clone() });
                Checkpoint::Deny { rule, reason }
            }
            Verdict::Review { rule } => {
                self.gate.inner.metrics.budget_ticket();
                let mut detail = format!("paused after {} rows, {} bytes, {} masked values so far", so_far.rows, so_far.bytes, so_far.masked_values);
                let note = self.waiver_note(&rule);
                if !note.is_empty() {
                    detail.push_str("; ");
                    detail.push_str(&note);
                }
                let pending = self.gate.inner.approvals.open(&self.session, &action, action.clone(), &rule, &detail);
                self.write(&Event::ReviewRequested { action_id, ticket: pending.ticket().id.clone() })?;
                Checkpoint::Review { rule, pending }
            }
        })
    }

    /// A checkpoint at the start of another run of `action_id` (a portal executed again, or
    /// long after it was checked, when other results have ended since): rules reading `result`
    /// or `usage` are asked with the usage as it is now, as at any checkpoint. `action` is what
    /// runs, for when the result was already let go (its session checked more since);
    /// `before` is what its earlier runs returned, then.
    pub fn resume_result(&self, action_id: u64, action: &Action, before: ResultSoFar) -> Result<Checkpoint, GateError> {
        if !self.watches_results() {
            return Ok(Checkpoint::Continue);
        }
        {
            let mut m = self.results.0.lock().unwrap_or_else(|p| p.into_inner());
            match m.get_mut(&action_id) {
                Some(run) => {
                    if run.action.is_none() {
                        run.action = Some(self.mask_action(action.clone()));
                    }
                    if run.table_keys.is_empty() {
                        run.table_keys = self.table_keys(action);
                    }
                }
                None => insert_bounded(&mut m, action_id, Run::new(Some(self.mask_action(action.clone())), self.table_keys(action), before)),
            }
        }
        self.result_progress(action_id, ResultSoFar::default())
    }

    /// A checkpoint of a command's output (SSH, Kubernetes exec), `so_far.bytes` sent: `Ok` to go
    /// on (after a reviewer let it, when a rule held it), `Err` with what to tell the client when
    /// the command must end. A hold is announced with `tell` before the wait, so the client sees
    /// why its output stopped; the caller reads nothing more from the command meanwhile.
    pub async fn output_checkpoint(&self, action_id: u64, so_far: ResultSoFar, tell: impl AsyncFnOnce(String)) -> Result<(), String> {
        let sent = so_far.bytes;
        let cut = |rule: &str, why: &str| format!("hoop: {why} (rule {rule}); the command was ended after {sent} bytes of output");
        match self.result_progress(action_id, so_far) {
            Ok(Checkpoint::Continue) => Ok(()),
            Ok(Checkpoint::Deny { rule, reason }) => Err(cut(&rule, &reason)),
            Ok(Checkpoint::Review { rule, pending }) => {
                let t = pending.ticket();
                tell(format!(
                    "\r\nhoop: this command's output is paused after {sent} bytes for review (rule {rule}); ticket {} — a reviewer lets it go on with `hoop approvals approve {}`\r\n",
                    t.id, t.id
                ))
                .await;
                match self.wait_result_review(action_id, &rule, pending).await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(cut(&rule, "the reviewer did not let this output go on")),
                    Err(e) => Err(cut(&rule, &e.to_string())),
                }
            }
            Err(e) => Err(format!("hoop: {e}")),
        }
    }

    /// Waits for the review of a result paused at a checkpoint; `Ok(true)` when approved (the
    /// result goes on, past `rule`, to its end), `Ok(false)` when it must end.
    pub async fn wait_result_review(&self, action_id: u64, rule: &str, pending: PendingReview) -> Result<bool, GateError> {
        let Decision::Approved { credentials, .. } = self.decision(action_id, pending).await? else { return Ok(false) };
        if let Some(run) = self.results.0.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&action_id) {
            run.waived.push(rule.to_string());
        }
        self.waive_budget(rule, &credentials);
        Ok(true)
    }

    /// The end of one of `action_id`'s results, which returned `so_far` in all: the rest is
    /// counted. The action's next result, if any, carries on from there.
    pub fn result_done(&self, action_id: u64, so_far: ResultSoFar) {
        let now = crate::auth::now_secs().max(0) as u64;
        let mut m = self.results.0.lock().unwrap_or_else(|p| p.into_inner());
        let (delta, table_keys) = match m.get_mut(&action_id) {
            Some(run) => {
                let delta = so_far.since(&run.counted);
                // Counted at a checkpoint, then not sent (a document withheld whole): usage
                // keeps it (a refused read still spends the budget it asked for), `/metrics`
                // says it was withheld (red-team Kubernetes round 107).
                let withheld = run.counted.since(&so_far);
                self.gate.inner.metrics.withheld(&self.session.target.name, withheld.rows, withheld.bytes);
                run.before = run.before.plus(&so_far);
                run.counted = ResultSoFar::default();
                run.ended = true;
                // Its last count: the keys go with it (the run itself goes at the next start).
                (delta, std::mem::take(&mut run.table_keys))
            }
            None => (so_far.since(&ResultSoFar::default()), Vec::new()),
        };
        drop(m);
        self.count(&delta, &table_keys, now);
    }

    /// Counts `bytes` the client received (with `masked_values` masked in them) outside any
    /// one action's result into usage: the file contents an sftp subsystem returns, whose
    /// requests are actions of their own; notices; output a host sent after the exit status.
    pub fn count_received(&self, bytes: u64, masked_values: u64) {
        let now = crate::auth::now_secs().max(0) as u64;
        self.count(&Counts { bytes, masked_values, ..Counts::default() }, &[], now);
    }

    /// Whether rules read `result`, so that results need checkpoints at all.
    pub fn watches_results(&self) -> bool {
        self.gate.inner.policy.watches_results()
    }
}

/// The tables of `sql` that usage is counted under, in order: each as spelled, with the name
/// it is counted as (its schema-qualified name when the gateway resolved one). A CTE's name that
/// no stored relation answers to is not a table: counting rows under it let one statement of
/// 300 CTEs push the tables actually read out of the per-table counts (red-team round 27).
fn counted_tables(sql: &crate::action::Sql) -> impl Iterator<Item = (&String, &String)> {
    let tables = &sql.tables;
    tables.iter().filter_map(move |t| {
        let resolved = (!t.contains('.')).then(|| tables.iter().find(|q| q.strip_suffix(t.as_str()).is_some_and(|s| s.ends_with('.')))).flatten();
        match resolved {
            None if sql.ctes.contains(t) => None,
            r => Some((t, r.unwrap_or(t))),
        }
    })
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Identity, IdentityKind};

    fn minted(subject: &str, credentials: &[&str]) -> Identity {
        let mut i = Identity::new(subject, IdentityKind::Agent);
        i.credentials = credentials.iter().map(|c| c.to_string()).collect();
        i
    }

    /// Red-team identity round 88: a waiver kept by subject alone served another agent's
    /// identity of the same name, and outlived the credential it was granted for.
    #[test]
    fn a_waiver_is_the_approved_credentials() {
        let w = Waivers::default();
        let approved = minted("ci/w1", &["token:t1", "budget:ag1", "subject:ag1"]);
        w.grant(&approved, "db", "agent-budget-target-rows", 100, &["subject:rita".to_string()]);
        let none_revoked = |_: &[String]| false;
        assert!(w.holds(&approved, "db", "agent-budget-target-rows", 50, none_revoked));
        let same_issuer_new_token = minted("ci/w1", &["token:t2", "budget:ag1", "subject:ag1"]);
        assert!(w.holds(&same_issuer_new_token, "db", "agent-budget-target-rows", 50, none_revoked));
        let other_agent = minted("ci/w1", &["token:t9", "budget:ag5", "subject:ag5"]);
        assert!(!w.holds(&other_agent, "db", "agent-budget-target-rows", 50, none_revoked));
        for revoked in ["token:t1", "subject:ag1", "subject:rita"] {
            let is_revoked = |ids: &[String]| ids.iter().any(|i| i == revoked);
            assert!(!w.holds(&same_issuer_new_token, "db", "agent-budget-target-rows", 50, is_revoked), "{revoked}");
        }
        assert!(!w.holds(&approved, "db", "agent-budget-target-rows", 100, none_revoked), "expired");
    }
}
