//! The gate: the one object a protocol adapter talks to.
//!
//! An adapter opens a session ([`Gate::open_session`]: authenticate, check the connect
//! action, start the recording), checks each action ([`SessionHandle::check`]: record the
//! action and verdict before anything reaches the upstream, wait for review when asked),
//! masks responses through [`SessionHandle::masker`], records output, and closes the session.
//! It never reaches past the gate to a policy, masker or recorder of its own choosing.

mod results;

pub use results::Checkpoint;

use crate::action::Action;
use crate::approvals::{Broker, Decision, PendingReview};
use crate::auth::revocation::RevocationError;
use crate::auth::{AuthError, Authenticator, Credential, Revocation, Revocations};
use crate::event::Event;
use crate::mask::Masker;
use crate::policy::{Policy, SwappablePolicy};
use crate::record::{RecordError, Recorder, SessionLog};
use crate::session::{Protocol, Session, SessionId, TargetInfo};
use crate::verdict::Verdict;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Why the gate refused something. Adapters turn it into their protocol's error.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The credential was refused.
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    /// No target of that name.
    #[error("unknown target {0:?}")]
    UnknownTarget(String),
    /// Policy refused (also used for a review that was denied, timed out or cancelled).
    #[error("{reason} (rule {rule})")]
    Denied {
        /// The rule.
        rule: String,
        /// The reason shown to the client.
        reason: String,
    },
    /// The identity has too many sessions open.
    #[error("too many concurrent sessions for {0}")]
    Limit(String),
    /// The identity has too many commands streaming output at once, over all its sessions.
    #[error("too many commands running at once for {0} (limits.max_sessions_per_identity counts them too)")]
    Streams(String),
    /// The recording could not be written: the operation is refused (fail closed).
    #[error("recording failed, operation refused: {0}")]
    Record(#[from] RecordError),
    /// The session was ended (killed, revoked, its recording budget spent): nothing more is
    /// checked or recorded for it.
    #[error("the session has ended: {}", .0.as_str())]
    Ended(EndReason),
}

/// Session limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Concurrent sessions per identity subject.
    pub max_sessions_per_identity: usize,
    /// A session with no activity this long ends.
    pub idle_timeout: Duration,
    /// No session lasts longer than this.
    pub max_session: Duration,
    /// Bytes of records an agent identity may have had written in an hour, whatever their
    /// verdict (0: no bound); past it the gate refuses its actions and ends its sessions.
    pub agent_recorded_bytes_1h: u64,
    /// Bytes all sessions together may hold for messages over [`crate::buffers::SMALL`]
    /// (0: no bound); one identity at most a quarter of it.
    pub large_messages_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions_per_identity: 32,
            idle_timeout: Duration::from_secs(3600),
            max_session: Duration::from_secs(12 * 3600),
            agent_recorded_bytes_1h: 1 << 30,
            large_messages_bytes: 1 << 30,
        }
    }
}

/// Why a session ended on the gate's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller's token expired.
    TokenExpired,
    /// No activity within the idle timeout.
    Idle,
    /// The maximum session duration passed.
    MaxDuration,
    /// An operator killed it.
    Killed,
    /// A credential it stands on, or its subject, was revoked.
    Revoked,
    /// Its recording could not be written.
    RecordingFailed,
    /// Its identity had more recorded in the last hour than `limits.agent_recorded_bytes_1h`.
    RecordingBudget,
}

impl EndReason {
    /// Human-readable reason.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::TokenExpired => "token expired",
            EndReason::Idle => "idle timeout",
            EndReason::MaxDuration => "maximum session duration reached",
            EndReason::Killed => "killed by an operator",
            EndReason::Revoked => "credential revoked",
            EndReason::RecordingFailed => "the recording could not be written (disk full or data dir unwritable); nothing runs unrecorded",
            EndReason::RecordingBudget => "this identity had more recorded in the last hour than limits.agent_recorded_bytes_1h allows (rule hoop-recording-budget)",
        }
    }
}

/// The result of checking one action.
pub enum Checked {
    /// It may run.
    Allow {
        /// Per-session action number (for results).
        action_id: u64,
    },
    /// It is refused.
    Deny {
        /// Per-session action number.
        action_id: u64,
        /// The rule.
        rule: String,
        /// The reason shown to the client.
        reason: String,
    },
    /// It waits for a reviewer: tell the client the ticket, then [`SessionHandle::wait_review`].
    Review {
        /// Per-session action number.
        action_id: u64,
        /// The wait; dropping it cancels the ticket.
        pending: PendingReview,
    },
}

/// A final outcome, after any review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Run it.
    Allow {
        /// Per-session action number.
        action_id: u64,
    },
    /// Refuse it.
    Deny {
        /// Per-session action number.
        action_id: u64,
        /// The rule.
        rule: String,
        /// The reason shown to the client.
        reason: String,
    },
}

struct Live {
    /// Whose session limit it counts against ([`Identity::budget_subject`](crate::identity::Identity::budget_subject)).
    subject: String,
    /// What a revocation may name to end it (see [`Identity::revocation_ids`](crate::identity::Identity::revocation_ids)).
    revocation_ids: Vec<String>,
    protocol: Protocol,
    kill: Arc<KillSwitch>,
    /// Commands of the session streaming output (SSH channels), counted with the identity's
    /// other sessions' against its session limit.
    streams: Arc<std::sync::atomic::AtomicUsize>,
}

/// How a kill reaches a session: a flag for whoever looks, a wake-up for whoever waits.
#[derive(Default)]
struct KillSwitch {
    /// Set once the session is killed, for every waiter of [`SessionHandle::ended`].
    latch: crate::latch::Latch,
    /// 0: live; otherwise why it ended (1 killed, 2 revoked, 3 recording failed, 4 recording
    /// budget spent).
    killed: std::sync::atomic::AtomicU8,
}

impl KillSwitch {
    fn kill(&self, reason: EndReason) {
        let code = match reason {
            EndReason::Revoked => 2,
            EndReason::RecordingFailed => 3,
            EndReason::RecordingBudget => 4,
            _ => 1,
        };
        let _ = self.killed.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        self.latch.set();
    }

    fn reason(&self) -> Option<EndReason> {
        match self.killed.load(Ordering::SeqCst) {
            0 => None,
            2 => Some(EndReason::Revoked),
            3 => Some(EndReason::RecordingFailed),
            4 => Some(EndReason::RecordingBudget),
            _ => Some(EndReason::Killed),
        }
    }

    fn is_killed(&self) -> bool {
        self.reason().is_some()
    }
}

struct Inner {
    /// Replaced at a reload (OIDC issuers and their mappings); read once per login.
    auth: RwLock<Arc<dyn Authenticator>>,
    policy: SwappablePolicy,
    /// Read on every action (masking its record); see [`SwappablePolicy`](crate::policy::SwappablePolicy) for why `ArcSwap`.
    masker: arc_swap::ArcSwap<Masker>,
    recorder: Arc<dyn Recorder>,
    approvals: Broker,
    targets: RwLock<HashMap<String, TargetInfo>>,
    limits: Limits,
    live: Mutex<HashMap<SessionId, Live>>,
    metrics: crate::metrics::Metrics,
    /// Recent actions per identity and session, for `usage` in rules.
    ledger: crate::usage::Ledger,
    /// What identities read and did, by window, for `usage` in rules.
    usage: Arc<dyn crate::usage::UsageStore>,
    /// Budget rules a reviewer waived, per identity and target, until when.
    waivers: results::Waivers,
    revocations: Arc<Revocations>,
    admission: crate::admission::Admission,
    /// Memory for large messages, shared by every session (`limits.large_messages_bytes`).
    buffers: crate::buffers::LargeBuffers,
    /// Move whenever an identity's usage moves, one counter per bucket of identities (by hash):
    /// a judgment made before its counter moved may rest on usage that is no longer so.
    usage_epochs: [AtomicU64; results::EPOCH_BUCKETS],
}

/// The composed pipeline; cheap to clone and share between adapters.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

/// Builds a [`Gate`] from its parts; each part is a trait object an embedder may replace.
pub struct GateBuilder {
    auth: Arc<dyn Authenticator>,
    policy: Arc<dyn Policy>,
    masker: Arc<Masker>,
    recorder: Arc<dyn Recorder>,
    approvals: Broker,
    targets: HashMap<String, TargetInfo>,
    limits: Limits,
    revocations: Arc<Revocations>,
    admission: crate::admission::Admission,
    usage: Arc<dyn crate::usage::UsageStore>,
}

impl GateBuilder {
    /// Starts from the required parts; masking off, 5-minute reviews, default limits, no targets.
    pub fn new(auth: Arc<dyn Authenticator>, policy: Arc<dyn Policy>, recorder: Arc<dyn Recorder>) -> Self {
        GateBuilder {
            auth,
            policy,
            masker: Arc::new(Masker::disabled()),
            recorder,
            approvals: Broker::new(Duration::from_secs(300)),
            targets: HashMap::new(),
            limits: Limits::default(),
            revocations: Arc::new(Revocations::in_memory()),
            admission: Default::default(),
            usage: Arc::new(crate::usage::UsageBook::in_memory()),
        }
    }

    /// Sets where usage counts live (in memory by default).
    pub fn usage(mut self, usage: Arc<dyn crate::usage::UsageStore>) -> Self {
        self.usage = usage;
        self
    }

    /// Sets the connection caps and the pre-authentication deadline listeners apply.
    pub fn admission(mut self, limits: crate::admission::AdmissionLimits) -> Self {
        self.admission = crate::admission::Admission::new(limits);
        self
    }

    /// Sets the revocation list (in memory and empty by default).
    pub fn revocations(mut self, revocations: Arc<Revocations>) -> Self {
        self.revocations = revocations;
        self
    }

    /// Sets the masker.
    pub fn masker(mut self, masker: Arc<Masker>) -> Self {
        self.masker = masker;
        self
    }

    /// Sets the approval broker.
    pub fn approvals(mut self, broker: Broker) -> Self {
        self.approvals = broker;
        self
    }

    /// Adds a target callers may name.
    pub fn target(mut self, target: TargetInfo) -> Self {
        self.targets.insert(target.name.clone(), target);
        self
    }

    /// Sets session limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Builds the gate.
    pub fn build(self) -> Gate {
        Gate {
            inner: Arc::new(Inner {
                auth: RwLock::new(self.auth),
                policy: SwappablePolicy::new(self.policy),
                masker: arc_swap::ArcSwap::new(self.masker),
                recorder: self.recorder,
                approvals: self.approvals,
                targets: RwLock::new(self.targets),
                buffers: crate::buffers::LargeBuffers::new(self.limits.large_messages_bytes),
                usage_epochs: std::array::from_fn(|_| AtomicU64::new(0)),
                limits: self.limits,
                live: Mutex::new(HashMap::new()),
                metrics: Default::default(),
                ledger: Default::default(),
                usage: self.usage,
                waivers: Default::default(),
                revocations: self.revocations,
                admission: self.admission,
            }),
        }
    }
}

impl Gate {
    /// Bytes the identity with budget subject `subject` had recorded in the last hour.
    fn recorded_1h(&self, subject: &str) -> u64 {
        let now = crate::auth::now_secs().max(0) as u64;
        self.inner.usage.windows_all(&[subject], now).first().map_or(0, |w| w.h1.recorded)
    }

    /// Whether `identity` is an agent whose `recorded` bytes in the last hour reached
    /// `limits.agent_recorded_bytes_1h` (people are not bounded; 0 turns the bound off).
    fn recording_spent(&self, identity: &crate::identity::Identity, recorded: impl FnOnce() -> u64) -> bool {
        let limit = self.inner.limits.agent_recorded_bytes_1h;
        limit > 0 && identity.kind == crate::identity::IdentityKind::Agent && recorded() >= limit
    }

    /// Authenticates `credential`, checks that the identity may reach `target` from `client_addr`,
    /// starts the recording and returns the session. A connection a rule holds for review waits
    /// here for the reviewer.
    pub async fn open_session(
        &self,
        credential: Credential<'_>,
        protocol: Protocol,
        target: &str,
        client_addr: Option<SocketAddr>,
        params: BTreeMap<String, String>,
    ) -> Result<SessionHandle, GateError> {
        self.open(credential, protocol, target, client_addr, params, true).await
    }

    /// [`Gate::open_session`] for a protocol that cannot tell a client anything before it has
    /// logged in (SSH): a connection a budget rule holds is refused at once, saying so and naming
    /// its ticket, and the ticket waits for its reviewer on its own; its approval waives the
    /// rule, so the next login goes through (red-team SSH rounds 100 and 102: a held login waited
    /// silently until the login deadline ended it). Another rule's hold waits, as it must for
    /// its approval to let this login through.
    pub async fn open_session_or_refuse_held(
        &self,
        credential: Credential<'_>,
        protocol: Protocol,
        target: &str,
        client_addr: Option<SocketAddr>,
        params: BTreeMap<String, String>,
    ) -> Result<SessionHandle, GateError> {
        self.open(credential, protocol, target, client_addr, params, false).await
    }

    async fn open(
        &self,
        credential: Credential<'_>,
        protocol: Protocol,
        target: &str,
        client_addr: Option<SocketAddr>,
        params: BTreeMap<String, String>,
        wait: bool,
    ) -> Result<SessionHandle, GateError> {
        // A refused login leaves a trace in the log (red-team identity round 81: none did); it
        // has no session to be recorded in.
        // (The error cut short: it may quote what the client sent, a token's issuer of 30 KB.)
        // (At most so many lines a minute: a client failing thousands of logins a second grew
        // the log by 1 MB/s, red-team tenants round.)
        static LINES: crate::lograte::LogRate = crate::lograte::LogRate::new(120);
        let refused = |e: &dyn std::fmt::Display| {
            self.inner.metrics.sessionless(crate::metrics::Sessionless::LoginRefused);
            let Some(left_out) = LINES.admit() else { return };
            let error: String = e.to_string().chars().take(200).collect();
            let target: String = target.chars().take(64).collect();
            tracing::warn!(protocol = protocol.as_str(), target = %crate::display::escaped(&target), client = ?client_addr, error = %crate::display::escaped(&error), left_out, "login refused")
        };
        let identity = self.authenticate(credential).await.inspect_err(|e| refused(e))?;
        let target_info = self
            .inner
            .targets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(target)
            .cloned()
            .ok_or_else(|| GateError::UnknownTarget(target.to_string()))?;
        if !identity.may_reach(target) {
            let e = AuthError::TargetNotAllowed { subject: identity.subject, target: target.into() };
            refused(&e);
            return Err(e.into());
        }
        // A login held already waits for its reviewer: another attempt is pointed at its ticket
        // rather than opening one more for the reviewers (and one more session) each time.
        if !wait
            && let Some(t) = self.inner.approvals.list().into_iter().find(|t| {
                t.requester == identity.subject && t.action.kind == crate::action::ActionKind::Connect && t.action.target == target && self.inner.policy.is_budget_rule(&t.rule)
            })
        {
            return Err(GateError::Denied { rule: t.rule, reason: held_login(&t.id) });
        }
        // Past its recording budget an agent gets no session, and no recording either: a refused
        // connection's own records (its start, its refusal, its seal) made 2,000 files a second
        // for a client that only logged in (red-team round 68).
        if self.recording_spent(&identity, || self.recorded_1h(identity.budget_subject())) {
            tracing::info!(subject = %identity.subject, "session refused: recording budget spent");
            return Err(GateError::Denied { rule: RECORDING_BUDGET_RULE.to_string(), reason: EndReason::RecordingBudget.as_str().to_string() });
        }
        let session = Session {
            id: SessionId::generate(),
            identity,
            protocol,
            target: target_info,
            client_addr,
            started_at: crate::auth::now_secs(),
        };
        let kill = Arc::new(KillSwitch::default());
        let streams = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        {
            let mut live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            // Sub-identities an issuer minted share its limit, as they share its budgets.
            let owner = session.identity.budget_subject();
            let n = live.values().filter(|l| l.subject == owner).count();
            if n >= self.inner.limits.max_sessions_per_identity {
                return Err(GateError::Limit(owner.to_string()));
            }
            live.insert(
                session.id.clone(),
                Live { subject: owner.to_string(), revocation_ids: session.identity.revocation_ids().collect(), protocol, kill: kill.clone(), streams: streams.clone() },
            );
        }
        let log = match self.inner.recorder.open(&session) {
            Ok(l) => l,
            Err(e) => {
                self.forget(&session.id);
                return Err(e.into());
            }
        };
        let usage_keys = results::usage_keys(session.identity.budget_subject(), &session.target.name);
        let epoch_bucket = results::epoch_bucket(&usage_keys[0]);
        let handle = SessionHandle {
            gate: self.clone(),
            session,
            log,
            next_action: AtomicU64::new(0),
            started: Instant::now(),
            last_activity_ms: AtomicI64::new(0),
            kill,
            closed: Default::default(),
            results: Default::default(),
            recorded_counted: AtomicU64::new(0),
            usage_keys,
            epoch_bucket,
            table_key_cache: Default::default(),
            streams,
            open_reviews: Default::default(),
        };
        let mut connect = Action::connect(target, client_addr.map(|a| a.to_string()).unwrap_or_default());
        connect.connect.params = params;
        let outcome = match handle.check(connect)? {
            Checked::Allow { action_id } => Outcome::Allow { action_id },
            Checked::Deny { action_id, rule, reason } => Outcome::Deny { action_id, rule, reason },
            // Only a budget's hold is refused at once: its approval waives it for the next login.
            // Another rule's approval lets only the login that waits for it through.
            Checked::Review { action_id, pending } if wait || !self.inner.policy.is_budget_rule(&pending.ticket().rule) => handle.wait_review(action_id, pending).await?,
            Checked::Review { action_id, pending } => {
                let (ticket, rule) = (pending.ticket().id.clone(), pending.ticket().rule.clone());
                // The session lives on until the reviewer decides (its recording says how), then
                // closes; the client has gone by then.
                tokio::spawn(async move {
                    let end = match handle.wait_review(action_id, pending).await {
                        Ok(Outcome::Allow { .. }) => "held login approved; the client logs in again".to_string(),
                        Ok(Outcome::Deny { reason, .. }) => format!("held login refused: {reason}"),
                        Err(e) => format!("held login: {e}"),
                    };
                    handle.close(&end);
                });
                return Err(GateError::Denied { rule, reason: held_login(&ticket) });
            }
        };
        match outcome {
            Outcome::Allow { .. } => {
                self.inner.metrics.session_opened(protocol);
                Ok(handle)
            }
            Outcome::Deny { rule, reason, .. } => {
                handle.close("connection refused by policy");
                Err(GateError::Denied { rule, reason })
            }
        }
    }

    /// Replaces the policy; running sessions use the new one for their next action.
    pub fn set_policy(&self, policy: Arc<dyn Policy>) {
        self.inner.policy.swap(policy);
    }

    /// Replaces the masker; running stream maskers keep the old one until they are recreated.
    pub fn set_masker(&self, masker: Arc<Masker>) {
        self.inner.masker.store(masker);
    }

    /// Adds or replaces a target.
    pub fn set_target(&self, target: TargetInfo) {
        self.inner.targets.write().unwrap_or_else(|p| p.into_inner()).insert(target.name.clone(), target);
    }

    /// The approval broker, for reviewers' interfaces.
    pub fn approvals(&self) -> &Broker {
        &self.inner.approvals
    }

    /// The recorder, for replay and verification.
    pub fn recorder(&self) -> &Arc<dyn Recorder> {
        &self.inner.recorder
    }

    /// Checks a credential (a token through the authenticator; an identity an adapter proved
    /// itself as it is) against the revocation list; also for the admin API's callers.
    pub async fn authenticate(&self, credential: Credential<'_>) -> Result<crate::identity::Identity, AuthError> {
        let identity = match credential {
            Credential::Verified(id) => id.clone(),
            other => {
                let auth = self.inner.auth.read().unwrap_or_else(|p| p.into_inner()).clone();
                auth.authenticate(other).await?
            }
        };
        self.inner.revocations.check(&identity)?;
        Ok(identity)
    }

    /// Revokes a credential or subject, keeps the revocation, and ends at once every live
    /// session standing on it; returns the id as kept (canonical) and how many sessions ended.
    pub fn revoke(&self, mut revocation: Revocation) -> Result<(String, usize), RevocationError> {
        let id = crate::auth::revocation::canonical(&revocation.id)?;
        revocation.id = id.clone();
        let kept = self.inner.revocations.revoke(revocation);
        // Not written to the file, it is in force in memory all the same: its sessions end now
        // (red-team identity round 85: they went on, and new ones opened).
        if let Err(e) = kept {
            if matches!(e, RevocationError::Io { .. }) {
                self.end_sessions_on(std::slice::from_ref(&id));
            }
            return Err(e);
        }
        let ended = self.end_sessions_on(std::slice::from_ref(&id));
        Ok((id, ended))
    }

    /// Ends every live session standing on one of the revocation ids `ids` (a revocation, an
    /// identity taken out of the config); returns how many.
    pub fn end_sessions_on(&self, ids: &[String]) -> usize {
        let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        let mut ended = 0;
        for l in live.values().filter(|l| l.revocation_ids.iter().any(|id| ids.contains(id))) {
            l.kill.kill(EndReason::Revoked);
            ended += 1;
        }
        ended
    }

    /// Takes in revocations another process wrote to the list (an operator's local `hoop
    /// revoke` when the admin API cannot be reached) and ends the sessions standing on them;
    /// returns how many sessions ended. `hoop serve` calls it every half second.
    pub fn refresh_revocations(&self) -> Result<usize, RevocationError> {
        let added = self.inner.revocations.refresh()?;
        if added.is_empty() {
            return Ok(0);
        }
        let ended = self.end_sessions_on(&added);
        tracing::info!(revocations = added.len(), ended, "revocations taken in from the data dir");
        Ok(ended)
    }

    /// The revocations in force.
    pub fn revocations(&self) -> Vec<Revocation> {
        self.inner.revocations.list()
    }

    /// Whether `identity` (its subject or any of its credentials) is revoked now.
    pub fn is_revoked(&self, identity: &crate::identity::Identity) -> bool {
        self.inner.revocations.check(identity).is_err()
    }

    /// Replaces rules, masking and the authenticator (OIDC issuers and their mappings) from
    /// `cfg` (SIGHUP): all build first, or none changes. (Identity red-team round 113: a
    /// mapping narrowed and reloaded went on granting `review` to new OIDC tokens.)
    pub fn reload(&self, cfg: &crate::config::Config) -> Result<(), crate::config::ConfigError> {
        let (policy, masker) = cfg.compile_rules_and_masking()?;
        let auth = cfg.authenticator()?;
        self.set_policy(Arc::new(policy));
        self.set_masker(Arc::new(masker));
        *self.inner.auth.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(auth);
        Ok(())
    }

    /// Counts a request answered outside any session, for `/metrics`.
    pub fn count_sessionless(&self, kind: crate::metrics::Sessionless) {
        self.inner.metrics.sessionless(kind);
    }

    /// Prometheus text for the gate's counters.
    pub fn metrics_text(&self) -> String {
        let open: Vec<(Protocol, u64)> = self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).values().map(|l| (l.protocol, 1)).collect();
        let masked = self.inner.masker.load().masked_bytes();
        let mut text = self.inner.metrics.render(&open, masked, self.inner.approvals.list().len(), self.inner.recorder.lag());
        self.inner.admission.render(&mut text);
        self.inner.buffers.render(&mut text);
        text
    }

    /// Connection admission, which every listener asks before it serves a connection.
    pub fn admission(&self) -> &crate::admission::Admission {
        &self.inner.admission
    }

    /// Ids of live sessions.
    pub fn live_sessions(&self) -> Vec<SessionId> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    /// Ends a live session; returns whether it existed.
    pub fn kill(&self, id: &SessionId) -> bool {
        match self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            Some(l) => {
                l.kill.kill(EndReason::Killed);
                true
            }
            None => false,
        }
    }

    /// Saves usage counts where their store keeps them (the data dir's `usage.json`).
    pub fn persist_usage(&self) -> Result<(), crate::usage::UsageError> {
        self.inner.usage.persist()
    }

    /// Every usage scope with its windows now: an identity (`subject`), an identity on a target
    /// (`subject`, `target`), or on one table, masked column or detector of a target.
    pub fn usage(&self) -> Vec<UsageScope> {
        let now = crate::auth::now_secs().max(0) as u64;
        self.inner
            .usage
            .list(now)
            .into_iter()
            .map(|(k, windows)| {
                let mut parts = k.splitn(3, '\u{0}');
                let (subject, target) = (parts.next().unwrap_or_default().to_string(), parts.next().map(str::to_string));
                let mut scope = UsageScope { subject, target, table: None, column: None, detector: None, windows };
                match parts.next().map(results::key_detail) {
                    Some(Some(results::KeyDetail::Table(t))) => scope.table = Some(t.to_string()),
                    Some(Some(results::KeyDetail::Column(c))) => scope.column = Some(c.to_string()),
                    Some(Some(results::KeyDetail::Detector(d))) => scope.detector = Some(d.to_string()),
                    _ => {}
                }
                scope
            })
            .collect()
    }

    fn forget(&self, id: &SessionId) {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// Whose usage, and its windows (`hoop usage`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UsageScope {
    /// The identity's subject.
    pub subject: String,
    /// The target, unless this is the identity's usage over every target.
    pub target: Option<String>,
    /// The table, for a table's usage on the target.
    pub table: Option<String>,
    /// The masked source column (`schema.table.column`), for its masked values on the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The content detector, for the values it masked on the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    /// The counts.
    pub windows: crate::usage::Windows,
}

/// The gateway's refusal of an agent's command a reviewer could not see whole (masked).
pub const UNREVIEWABLE_COMMAND_RULE: &str = "hoop-unreviewable-command";
/// The gateway's refusal of an agent's Kubernetes write a reviewer could not see whole.
pub const UNREVIEWABLE_WRITE_RULE: &str = "hoop-unreviewable-write";

/// The rule a forward is refused by when no rule of the policy refuses it: the SSH gateway
/// does not relay port or agent forwarding.
pub const NO_FORWARDING_RULE: &str = "hoop-no-forwarding";

/// How an allowed verdict names a budget rule a reviewer waived.
const WAIVED: &str = " (waived by a reviewer)";

/// One open session, owned by the adapter's task.
pub struct SessionHandle {
    gate: Gate,
    session: Session,
    log: Box<dyn SessionLog>,
    next_action: AtomicU64,
    started: Instant,
    last_activity_ms: AtomicI64,
    kill: Arc<KillSwitch>,
    /// Set when the session is closed: reviews still waited for on its behalf end.
    closed: crate::latch::Latch,
    /// Results running now, for their checkpoints and usage.
    results: results::Running,
    /// Bytes of this session's recording already counted against its identity's usage.
    recorded_counted: AtomicU64,
    /// This session's usage keys: its identity, and its identity on its target.
    usage_keys: [String; 2],
    /// Which of the gateway's usage epochs its identity moves.
    epoch_bucket: usize,
    /// Its tables' usage keys, made once.
    table_key_cache: results::KeyCache,
    /// Its commands streaming output now (see [`SessionHandle::open_stream`]).
    streams: Arc<std::sync::atomic::AtomicUsize>,
    /// Reviews waited for now, `(action id, ticket)`: the session's close records them
    /// cancelled before it seals the recording.
    open_reviews: Mutex<Vec<(u64, String)>>,
}

/// A command's place among its identity's commands streaming output; given back on drop.
pub struct StreamSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl SessionHandle {
    /// Takes a place for one more command streaming output (an SSH channel's command, shell or
    /// subsystem), counted over every session of the identity against its session limit.
    /// Each stream meets budget checkpoints only every so many bytes, so budgets overshoot by
    /// up to a checkpoint per stream: bounding streams, not only connections, bounds that
    /// (red-team round 36: 32 connections of 10 channels each, all started while the budget was
    /// empty and each printing just under a checkpoint, read 295 MB past a 16 MiB budget).
    pub fn open_stream(&self) -> Result<StreamSlot, GateError> {
        let live = self.gate.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        let owner = self.session.identity.budget_subject();
        let n: usize = live.values().filter(|l| l.subject == owner).map(|l| l.streams.load(Ordering::Relaxed)).sum();
        if n >= self.gate.inner.limits.max_sessions_per_identity {
            return Err(GateError::Streams(owner.to_string()));
        }
        self.streams.fetch_add(1, Ordering::Relaxed);
        Ok(StreamSlot(self.streams.clone()))
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// This session's identity's share of the memory for large messages.
    pub fn buffer_share(&self) -> crate::buffers::BufferShare {
        self.gate.inner.buffers.share(self.session.identity.budget_subject())
    }

    /// The masker to apply to this session's responses.
    pub fn masker(&self) -> Arc<Masker> {
        self.gate.inner.masker.load_full()
    }

    /// Seconds since the session opened (for terminal event times).
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// `Err` once the session was ended: a client that pipelined more behind the action that
    /// ended it gets no more checks, and no more records (red-team round 67: 20,000 empty
    /// Parses sent at once were each refused and recorded after the first refusal ended it).
    fn not_ended(&self) -> Result<(), GateError> {
        self.kill.reason().map_or(Ok(()), |r| Err(GateError::Ended(r)))
    }

    /// Whether an operator killed this session or revoked its credential.
    pub fn is_killed(&self) -> bool {
        self.kill.is_killed()
    }

    /// Why the gate ended this session (killed, revoked, its recording failed), if it did.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.kill.reason()
    }

    /// Why the session may not go on, if it may not: request-per-call adapters (Kubernetes) ask
    /// on every call, so a revocation, a kill or an expiry stops the next request.
    pub fn still_valid(&self) -> Result<(), EndReason> {
        if let Some(r) = self.kill.reason() {
            return Err(r);
        }
        if self.gate.inner.revocations.check(&self.session.identity).is_err() {
            self.kill.kill(EndReason::Revoked);
            return Err(EndReason::Revoked);
        }
        let expiry = self.session.identity.expires_at;
        if expiry > 0 && crate::auth::now_secs() >= expiry {
            return Err(EndReason::TokenExpired);
        }
        Ok(())
    }

    /// Marks activity, postponing the idle timeout.
    pub fn touch(&self) {
        self.last_activity_ms.store(self.started.elapsed().as_millis() as i64, Ordering::Relaxed);
    }

    /// Checks `action`: evaluates policy, records the (masked) action and verdict, and opens a
    /// review ticket when asked. Returns only after the record was written; an error means refuse.
    pub fn check(&self, action: Action) -> Result<Checked, GateError> {
        self.check_with(action, None)
    }

    /// Checks `action`, a part of the approved action `approved` that its reviewer could not
    /// see (a file a legacy scp upload names inside its stream): a rule that would hold it is
    /// taken as covered by that approval, and recorded so; a rule that denies it still denies.
    pub fn check_under(&self, action: Action, approved: u64) -> Result<Checked, GateError> {
        self.check_with(action, Some(approved))
    }

    fn check_with(&self, mut action: Action, covered: Option<u64>) -> Result<Checked, GateError> {
        self.not_ended()?;
        let now = crate::auth::now_secs().max(0) as u64;
        let table_keys = self.table_keys(&action);
        action.usage = self.usage_of(&action, &table_keys, now);
        if let Some(reason) = self.recording_budget_spent(|| action.usage.identity.h1.recorded) {
            let action_id = self.refuse(action, RECORDING_BUDGET_RULE, &reason)?;
            return Ok(Checked::Deny { action_id, rule: RECORDING_BUDGET_RULE.to_string(), reason });
        }
        if self.session.identity.kind == crate::identity::IdentityKind::Agent && !self.session.target.privileged.is_empty() {
            let reason = format!("{}; agents are refused unless the target sets allow_privileged_role = true", self.session.target.privileged);
            let action_id = self.refuse(action, PRIVILEGED_LOGIN_RULE, &reason)?;
            return Ok(Checked::Deny { action_id, rule: PRIVILEGED_LOGIN_RULE.to_string(), reason });
        }
        self.touch();
        let action_id = self.next_action.fetch_add(1, Ordering::Relaxed) + 1;
        let (subject, session_id) = (&self.session.identity.subject, &self.session.id.0);
        let (mut verdict, waived) = self.policy_verdict(&action, now);
        let also = match &verdict {
            Verdict::Review { rule } => match self.after_review(&action, rule, &waived) {
                (_, Some((denied_by, reason))) => {
                    verdict = Verdict::Deny { reason: format!("{reason} (rule {rule} would hold it for review, but a review does not lift a later rule's denial)"), rule: denied_by };
                    Vec::new()
                }
                (also, None) => also,
            },
            _ => Vec::new(),
        };
        if let (Verdict::Allow { rule: None }, Some(first)) = (&verdict, waived.first()) {
            verdict = Verdict::Allow { rule: Some(format!("{first}{WAIVED}")) };
        }
        if let (Some(approved), Verdict::Review { rule }) = (covered, &verdict) {
            verdict = Verdict::Allow { rule: Some(format!("{rule} (covered by the approval of action #{approved})")) };
        }
        if matches!(verdict, Verdict::Review { .. })
            && self.session.identity.kind == crate::identity::IdentityKind::Agent
            && let Some(refusal) = self.unreviewable(&action)
        {
            verdict = refusal;
        }
        // (A refusal by `unreviewable` above names no other rules.)
        let also = if matches!(verdict, Verdict::Review { .. }) { also } else { Vec::new() };
        if !matches!(verdict, Verdict::Deny { .. }) {
            // Counted when let through or held: a held delete that a reviewer approves ran.
            self.gate.inner.ledger.record(subject, session_id, &action);
            self.count_action(&action, &table_keys, now);
        }
        let denied = matches!(verdict, Verdict::Deny { .. });
        self.gate.inner.metrics.verdict(&verdict);
        // Only a review needs the unmasked action afterwards (an approval covers exactly it).
        let original = matches!(verdict, Verdict::Review { .. }).then(|| action.clone());
        // A budget's decision is recorded with the usage it judged.
        let budget = match &verdict {
            Verdict::Review { rule } | Verdict::Deny { rule, .. } => self.gate.inner.policy.is_budget_rule(rule),
            Verdict::Allow { rule: Some(rule) } => rule.ends_with(WAIVED),
            Verdict::Allow { rule: None } => false,
        };
        let usage = budget.then_some(crate::event::UsageSeen { identity: action.usage.identity, target: action.usage.target });
        let event = Event::Action { action_id, action: self.recorded_as(action, &verdict), verdict: verdict.clone(), usage };
        // What it sent was counted with the action when let through; a denied one is
        // counted here.
        if denied { self.write_action(&event, now)? } else { self.write(&event)? };
        let masked = match event {
            Event::Action { action, .. } => action,
            _ => Action::default(),
        };
        let mut masked = Some(masked);
        if !matches!(verdict, Verdict::Deny { .. }) {
            // The result's checkpoints judge the recorded (masked) action: moved there, not
            // copied, unless a ticket needs it too; without them only its tables are kept.
            let watched = self.gate.inner.policy.watches_results();
            let kept = match (&verdict, watched) {
                (_, false) => None,
                (Verdict::Review { .. }, true) => masked.clone(),
                (_, true) => masked.take(),
            };
            self.results.start(action_id, kept, table_keys);
        }
        Ok(match verdict {
            Verdict::Allow { .. } => Checked::Allow { action_id },
            Verdict::Deny { rule, reason } => Checked::Deny { action_id, rule, reason },
            Verdict::Review { rule } => {
                // Reviewers see the masked action, as the recording holds it.
                let masked = masked.unwrap_or_default();
                let action = original.unwrap_or_else(|| masked.clone());
                // A download is copied as it is (red-team round 36: approved, `scp -O`, `sftp get`
                // and rsync delivered a `.env` that `cat` would have masked): the reviewer is told.
                let mut detail = if action.kind == crate::action::ActionKind::FileTransfer && action.file_transfer.direction == "download" {
                    "file contents are copied as they are: masking does not apply to them".to_string()
                } else {
                    self.waiver_note(&rule)
                };
                if !also.is_empty() {
                    let note = format!("also held by {}: approving lets it past them too", also.join(", "));
                    detail = if detail.is_empty() { note } else { format!("{detail}; {note}") };
                }
                let pending = self.gate.inner.approvals.open(&self.session, &action, masked, &rule, &detail);
                self.write(&Event::ReviewRequested { action_id, ticket: pending.ticket().id.clone() })?;
                Checked::Review { action_id, pending }
            }
        })
    }

    /// Whether `action`, checked now, would be held for review; nothing is recorded or counted.
    /// An adapter that can show the reviewer more of what will run (the rows of a `COPY … FROM
    /// STDIN`) gathers it first, then checks the action with it.
    pub fn would_review(&self, action: &Action) -> bool {
        let now = crate::auth::now_secs().max(0) as u64;
        let mut action = action.clone();
        let table_keys = self.table_keys(&action);
        action.usage = self.usage_of(&action, &table_keys, now);
        matches!(self.policy_verdict(&action, now).0, Verdict::Review { .. })
    }

    /// The policy's verdict on `action` (its usage filled in), with the budget rules a reviewer
    /// waived for this identity on this target left out, and which were: a reviewer who let
    /// this identity past a budget waived that rule, and the next one that holds decides (an
    /// approval waives what the reviewer was shown, not every budget).
    fn policy_verdict(&self, action: &Action, now: u64) -> (Verdict, Vec<String>) {
        let policy = &self.gate.inner.policy;
        self.without_waived(Vec::new(), now, |w| if w.is_empty() { policy.evaluate(&self.session, action) } else { policy.evaluate_waiving(&self.session, action, w) })
    }

    /// Refuses `action`, which the adapter cannot carry out whatever the rules say (SSH port
    /// and agent forwarding): recorded with the policy's rule when one denies it, else with
    /// the gate's `rule` and `reason` (a forward recorded as allowed that never happened misled
    /// the audit: compatibility round 1). An error means the record failed.
    pub fn refuse_unsupported(&self, action: Action, rule: &str, reason: &str) -> Result<u64, GateError> {
        let now = crate::auth::now_secs().max(0) as u64;
        let mut probe = action.clone();
        let table_keys = self.table_keys(&probe);
        probe.usage = self.usage_of(&probe, &table_keys, now);
        match self.policy_verdict(&probe, now).0 {
            Verdict::Deny { rule, reason } => self.refuse(action, &rule, &reason),
            _ => self.refuse(action, rule, reason),
        }
    }

    /// Refuses `action` by a rule of the gate itself (not of the policy): the adapter could not
    /// check it, or it would change how the adapter reads what follows. Records the action and
    /// the refusal like a policy deny; an error means the record failed (refuse all the same).
    pub fn refuse(&self, action: Action, rule: &str, reason: &str) -> Result<u64, GateError> {
        self.not_ended()?;
        self.touch();
        let action_id = self.next_action.fetch_add(1, Ordering::Relaxed) + 1;
        let verdict = Verdict::Deny { rule: rule.to_string(), reason: reason.to_string() };
        self.gate.inner.metrics.verdict(&verdict);
        // Past the budget only the start of what it sent is kept: the refusal itself must not
        // fill the disk.
        let spent = self.recording_budget_spent(|| self.recorded_1h()).is_some();
        let max = if spent { SPENT_RECORDED_TEXT } else { MAX_RECORDED_TEXT };
        let action = self.record_form(action, (max, max));
        self.write_action(&Event::Action { action_id, action, verdict, usage: None }, crate::auth::now_secs().max(0) as u64)?;
        if spent {
            // Each refusal is a record too (red-team round 67: empty Parses, refused or not,
            // wrote 50 MB/s): past the budget the session ends after this one.
            self.kill.kill(EndReason::RecordingBudget);
        }
        Ok(action_id)
    }

    /// Why this agent may not have more recorded: its statement texts and commands recorded in
    /// the last hour passed `limits.agent_recorded_bytes_1h`. `None` for people, and under it.
    fn recording_budget_spent(&self, recorded: impl FnOnce() -> u64) -> Option<String> {
        let limit = self.gate.inner.limits.agent_recorded_bytes_1h;
        self.gate.recording_spent(&self.session.identity, recorded).then(|| {
            format!(
                "hoop: this identity had more than {} MiB recorded in the last hour (its statements, commands, results and refusals); refused until the hour moves on, and the session ends (limits.agent_recorded_bytes_1h, rule {RECORDING_BUDGET_RULE})",
                limit >> 20
            )
        })
    }

    /// Bytes the recording took since they were last counted (each byte is counted once,
    /// whichever thread counts first).
    fn recorded_since_counted(&self) -> u64 {
        let now = self.log.appended_bytes();
        now.saturating_sub(self.recorded_counted.fetch_max(now, Ordering::Relaxed))
    }

    /// Bytes this identity had recorded in the last hour.
    fn recorded_1h(&self) -> u64 {
        self.gate.recorded_1h(&self.usage_keys[0])
    }

    /// Writes an action's record, and counts what the recording took since the last count
    /// against the identity's recording budget.
    fn write_action(&self, event: &Event, now: u64) -> Result<u64, GateError> {
        let seq = self.write(event)?;
        self.count(&crate::usage::Counts::default(), &[], now);
        Ok(seq)
    }

    /// Checks `action` where the protocol will check it again with more detail before it runs
    /// (a Postgres Parse before its Bind): records the action and verdict like [`check`](Self::check)
    /// but opens no ticket, so a `Review` is decided at the later check, once, for the exact action.
    /// Returns the action's id with the verdict.
    pub fn precheck(&self, action: Action) -> Result<(u64, Verdict), GateError> {
        self.not_ended()?;
        if let Some(reason) = self.recording_budget_spent(|| self.recorded_1h()) {
            let action_id = self.refuse(action, RECORDING_BUDGET_RULE, &reason)?;
            return Ok((action_id, Verdict::Deny { rule: RECORDING_BUDGET_RULE.to_string(), reason }));
        }
        self.touch();
        let action_id = self.next_action.fetch_add(1, Ordering::Relaxed) + 1;
        let verdict = self.gate.inner.policy.evaluate(&self.session, &action);
        self.gate.inner.metrics.verdict(&verdict);
        let action = self.recorded_as(action, &verdict);
        self.write_action(&Event::Action { action_id, action, verdict: verdict.clone(), usage: None }, crate::auth::now_secs().max(0) as u64)?;
        Ok((action_id, verdict))
    }

    /// Waits for the review of `action_id` and records the decision.
    pub async fn wait_review(&self, action_id: u64, pending: PendingReview) -> Result<Outcome, GateError> {
        let rule = pending.ticket().rule.clone();
        let waiting = Instant::now();
        let decision = self.decision(action_id, pending).await?;
        self.gate.inner.metrics.review_waited(waiting.elapsed());
        let reason = match &decision {
            Decision::Approved { .. } => String::new(),
            Decision::Denied { reviewer, reason } => format!("denied by reviewer {reviewer}: {reason}"),
            Decision::TimedOut => "review timed out".into(),
            Decision::Cancelled => "review cancelled".into(),
            Decision::Unreachable { reason } => format!("no reviewer could be reached ({reason}); refused"),
        };
        if let Decision::Approved { credentials, .. } = &decision {
            self.waive_budget(&rule, credentials);
            return Ok(Outcome::Allow { action_id });
        }
        Ok(Outcome::Deny { action_id, rule, reason })
    }

    /// Waits for the decision on `pending` and records it. A wait dropped before the decision
    /// (its client went away, which withdraws the ticket) is recorded too, as cancelled: the
    /// recording never leaves a review open that nobody can decide any more.
    pub(crate) async fn decision(&self, action_id: u64, pending: PendingReview) -> Result<Decision, GateError> {
        /// Records the withdrawal if the wait is dropped unanswered.
        struct Unanswered<'a> {
            handle: &'a SessionHandle,
            action_id: u64,
            ticket: Option<String>,
        }
        impl Drop for Unanswered<'_> {
            fn drop(&mut self) {
                // (Unless the session's close recorded it already, with the recording sealed.)
                if let Some(ticket) = self.ticket.take()
                    && self.handle.review_done(&ticket)
                {
                    let event = Event::ReviewDecided { action_id: self.action_id, ticket, approved: false, reviewer: "cancelled".into() };
                    let _ = self.handle.write(&event);
                }
            }
        }
        self.open_reviews.lock().unwrap_or_else(|p| p.into_inner()).push((action_id, pending.ticket().id.clone()));
        let mut guard = Unanswered { handle: self, action_id, ticket: Some(pending.ticket().id.clone()) };
        let decision = tokio::select! {
            d = pending.wait() => d,
            // The session's client is gone: nobody waits for the decision, and its ticket goes
            // (red-team round 58: an SSH command's ticket stayed listed after its client left,
            // and approving it did nothing).
            () = self.closed() => return Ok(Decision::Cancelled),
            // Revoked or killed while it waits: the ticket goes with the session (red-team
            // identity round 85: a revoked agent's held command was approved 35 ms after the
            // revocation returned, and ran).
            () = self.kill.latch.wait() => return Ok(Decision::Cancelled),
        };
        // An approval that crossed a revocation or a kill on its way does not run either.
        let decision = match decision {
            Decision::Approved { .. } if self.still_valid().is_err() => Decision::Cancelled,
            d => d,
        };
        let ticket = guard.ticket.take().unwrap_or_default();
        if !self.review_done(&ticket) {
            // The session closed meanwhile and recorded it cancelled.
            return Ok(Decision::Cancelled);
        }
        self.touch();
        let (approved, reviewer) = match &decision {
            Decision::Approved { reviewer, .. } => (true, reviewer.clone()),
            Decision::Denied { reviewer, .. } => (false, reviewer.clone()),
            Decision::TimedOut => (false, "timeout".into()),
            Decision::Cancelled => (false, "cancelled".into()),
            Decision::Unreachable { .. } => {
                self.gate.inner.metrics.review_unreachable();
                (false, "unreachable".into())
            }
        };
        self.write(&Event::ReviewDecided { action_id, ticket, approved, reviewer })?;
        Ok(decision)
    }

    /// [`check`](Self::check), then wait for any review.
    pub async fn check_and_wait(&self, action: Action) -> Result<Outcome, GateError> {
        match self.check(action)? {
            Checked::Allow { action_id } => Ok(Outcome::Allow { action_id }),
            Checked::Deny { action_id, rule, reason } => Ok(Outcome::Deny { action_id, rule, reason }),
            Checked::Review { action_id, pending } => self.wait_review(action_id, pending).await,
        }
    }

    /// The refusal of an agent's action a rule holds, when the reviewer would not see it
    /// whole. A reviewer decides on what the ticket shows, which is masked and cut: an agent
    /// that chooses what is hidden hides code behind a credential's name (red-team round 38:
    /// `python3 -c 'DB_PASSWORD=exec(bytes([…]))'` was approved unseen; round 35: a pod's
    /// command after `DB_PASSWORD=`, or pushed past the 64 KiB shown). Refused, never held.
    fn unreviewable(&self, action: &Action) -> Option<Verdict> {
        use crate::action::ActionKind;
        if let Some(why) = &action.unshown {
            let rule = if action.k8s.verb.is_empty() { UNREVIEWABLE_COMMAND_RULE } else { UNREVIEWABLE_WRITE_RULE };
            return Some(Verdict::Deny { rule: rule.into(), reason: format!("a reviewer must see what they approve whole, and this would be shown {why}") });
        }
        // A text the ticket and the recording would show cut (red-team round 53: ` or id > 0`
        // after a 1.5 MB comment, approved as the 1 MiB shown, updated every row).
        let long = |t: &String| t.len() > MAX_RECORDED_TEXT;
        if long(&action.sql.text) || long(&action.exec.command) || action.sql.runs.iter().any(long) || action.sql.params.iter().flatten().any(long) || action.sql.copy_rows.iter().any(long) {
            return Some(Verdict::Deny {
                rule: UNREVIEWABLE_COMMAND_RULE.to_string(),
                reason: format!("a reviewer must see what they approve whole, and this would be shown cut at {} MiB", MAX_RECORDED_TEXT >> 20),
            });
        }
        let masker = self.gate.inner.masker.load();
        let hides = |t: &str| matches!(masker.mask_text(t), std::borrow::Cow::Owned(_));
        if action.exec.shown.iter().any(|t| t.split_inclusive('\n').any(hides)) {
            return Some(Verdict::Deny {
                rule: UNREVIEWABLE_COMMAND_RULE.to_string(),
                reason: "the script this command runs holds text masking hides (a credential, an address), so a reviewer could not see it whole".into(),
            });
        }
        let command = matches!(action.kind, ActionKind::Exec | ActionKind::Shell) && hides(&action.exec.command);
        command.then(|| Verdict::Deny {
            rule: UNREVIEWABLE_COMMAND_RULE.to_string(),
            reason: "this command holds text masking hides (a credential, an address), so a reviewer could not see it whole; send it without the value (a file, an environment the host already has)".into(),
        })
    }

    /// Records an event (output, results, notes). Values must already be masked.
    pub fn record(&self, event: &Event) -> Result<u64, GateError> {
        let seq = self.write(event)?;
        self.within_recording_budget();
        Ok(seq)
    }

    /// Records an event nothing waits on (results, rows): chained now, written with the next
    /// record or within the fsync interval. Values must already be masked.
    pub fn record_later(&self, event: &Event) -> Result<u64, GateError> {
        let seq = self.log.record_deferred(event).map_err(|e| self.recording_failed(e))?;
        self.within_recording_budget();
        Ok(seq)
    }

    /// Counts what the recording took inside a running action (a command's input and output,
    /// frame after frame) once it has grown by [`RECORDED_CHECK_EVERY`], and ends the session
    /// when that spends the recording budget: checked only when actions start, one `kubectl
    /// exec` wrote 1.2 GB of the agent's stdin past a 1 GiB budget (red-team round 69).
    fn within_recording_budget(&self) {
        let uncounted = self.log.appended_bytes().saturating_sub(self.recorded_counted.load(Ordering::Relaxed));
        if uncounted < RECORDED_CHECK_EVERY {
            return;
        }
        self.count(&crate::usage::Counts::default(), &[], crate::auth::now_secs().max(0) as u64);
        if self.recording_budget_spent(|| self.recorded_1h()).is_some() {
            tracing::info!(session = %self.session.id, "recording budget spent inside an action: the session ends");
            self.kill.kill(EndReason::RecordingBudget);
        }
    }

    /// Resolves when the gate ends the session: token expiry, idle, maximum duration, or a kill.
    pub async fn ended(&self) -> EndReason {
        loop {
            if let Some(r) = self.kill.reason() {
                return r;
            }
            let limits = self.gate.inner.limits;
            let now_wall = crate::auth::now_secs();
            let expiry = self.session.identity.expires_at;
            if expiry > 0 && now_wall >= expiry {
                return EndReason::TokenExpired;
            }
            let elapsed = self.started.elapsed();
            if elapsed >= limits.max_session {
                return EndReason::MaxDuration;
            }
            let idle_for = elapsed.saturating_sub(Duration::from_millis(
                self.last_activity_ms.load(Ordering::Relaxed).max(0) as u64,
            ));
            if idle_for >= limits.idle_timeout {
                return EndReason::Idle;
            }
            let mut wait = (limits.max_session - elapsed).min(limits.idle_timeout - idle_for);
            if expiry > 0 {
                wait = wait.min(Duration::from_secs((expiry - now_wall).max(0) as u64));
            }
            tokio::select! {
                () = self.kill.latch.wait() => return self.kill.reason().unwrap_or(EndReason::Killed),
                _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
            }
        }
    }

    /// Writes `event` now; a failure ends the session (nothing more runs unrecorded).
    fn write(&self, event: &Event) -> Result<u64, GateError> {
        self.log.record(event).map_err(|e| self.recording_failed(e))
    }

    /// The recording cannot be written (a full disk, an unwritable data dir): the session ends
    /// at once, the way its protocol allows, and operators see why in the log and `/metrics`.
    fn recording_failed(&self, e: crate::record::RecordError) -> GateError {
        if !self.kill.is_killed() {
            self.gate.inner.metrics.recording_failed();
            tracing::error!(session = %self.session.id, error = %e, "recording failed: the session ends");
        }
        self.kill.kill(EndReason::RecordingFailed);
        GateError::Record(e)
    }

    /// Resolves once the session was closed (see [`close`](Self::close)).
    pub async fn closed(&self) {
        self.closed.wait().await
    }

    /// Takes `ticket` off the reviews waited for; false when it was not among them (the
    /// session's close recorded it).
    fn review_done(&self, ticket: &str) -> bool {
        let mut open = self.open_reviews.lock().unwrap_or_else(|p| p.into_inner());
        let before = open.len();
        open.retain(|(_, t)| t != ticket);
        open.len() < before
    }

    /// Records the end, seals the recording and releases the session's slot. Reviews still
    /// waited for are recorded cancelled first (red-team identity round 87: an SSH command's
    /// ticket withdrawn when its client left was in no record, and its late write logged a
    /// recording failure).
    pub fn close(&self, reason: &str) {
        let open = std::mem::take(&mut *self.open_reviews.lock().unwrap_or_else(|p| p.into_inner()));
        if self.closed.set() {
            return;
        }
        for (action_id, ticket) in open {
            let _ = self.log.record(&Event::ReviewDecided { action_id, ticket, approved: false, reviewer: "cancelled".into() });
        }
        // A session the gate ended says why, not what its protocol saw last (the client's
        // connection closes after a revocation too: red-team identity round 86).
        let reason = self.kill.reason().map_or(reason, |r| r.as_str());
        let _ = self.log.record(&Event::SessionEnd { reason: reason.to_string() });
        if let Err(e) = self.log.close() {
            tracing::error!(session = %self.session.id, error = %e, "sealing the recording failed");
        }
        // The end and the seal count against the recording budget too (a loop of logins that
        // run nothing writes little else).
        self.count(&crate::usage::Counts::default(), &[], crate::auth::now_secs().max(0) as u64);
        self.gate.forget(&self.session.id);
    }

    /// The action as recordings may hold it: text fields passed through the masker.
    fn mask_action(&self, a: Action) -> Action {
        self.record_form(a, (MAX_RECORDED_TEXT, MAX_RECORDED_TEXT))
    }

    /// The action as its record holds it under `verdict`: what runs is recorded whole (red-team
    /// round 55: a delete after 1.2 MB of padding ran with only the first MiB and a hash on
    /// record), under the hourly recording budget; what is refused is cut, so that refusals
    /// cannot fill the disk (red-team round 20).
    fn recorded_as(&self, a: Action, verdict: &Verdict) -> Action {
        match verdict {
            Verdict::Deny { .. } => self.mask_action(a),
            // What runs is recorded whole; the values it runs with to their first MiB, as
            // rows copied in are (red-team tenants round 2: a 60 MB parameter of an allowed
            // statement was masked whole on the connection thread, 800 MB of memory).
            _ => self.record_form(a, (usize::MAX, MAX_RECORDED_TEXT)),
        }
    }

    /// `a` masked, with each text cut to at most `max` bytes (red-team round 20: refused
    /// statements of 20 MB each, recorded whole, filled the disk at 80 MB/s): the start, its
    /// length and the SHA-256 of the whole (masked) text.
    fn record_form(&self, a: Action, bounds: (usize, usize)) -> Action {
        bounded_form(a, bounds, |a| self.mask_action_text(a))
    }


    fn mask_action_text(&self, mut a: Action) -> Action {
        let m = self.gate.inner.masker.load();
        if !m.is_enabled() {
            return a;
        }
        let mask = |s: &mut String| {
            if let std::borrow::Cow::Owned(masked) = m.mask_text(s) {
                *s = masked;
            }
        };
        // A statement's masked literals and parameters are numbered, so that what runs differs
        // from what else would wherever it is shown (see `Numbering`).
        let numbers = Numbering::default();
        // Literals only: a detector must never hide code from a reviewer. Most statements have
        // nothing to mask at all, and scanning their tokens would cost more than the check.
        // (A backslash may spell a value in an escape string, `E'a\x40b.c'`, which the text as
        // written does not show.)
        let worth = |t: &str| t.contains('\\') || matches!(m.mask_text(t), std::borrow::Cow::Owned(_));
        if worth(&a.sql.text)
            && let std::borrow::Cow::Owned(shown) = crate::action::sql::mask_literals(&a.sql.text, |lit| numbers.mark(lit, m.mask_text(lit)))
        {
            a.sql.text = shown;
        }
        for t in &mut a.sql.runs {
            if worth(t)
                && let std::borrow::Cow::Owned(shown) = crate::action::sql::mask_literals(t, |lit| numbers.mark(lit, m.mask_text(lit)))
            {
                *t = shown;
            }
        }
        for p in a.sql.params.iter_mut().flatten() {
            if let std::borrow::Cow::Owned(shown) = numbers.mark(p, m.mask_text(p)) {
                *p = shown;
            }
        }
        // Row by row: a match across rows (a PEM block from one row's BEGIN to another's END)
        // would hide the rows between from the reviewer (red-team round 59).
        if let Some(rows) = &mut a.sql.copy_rows {
            *rows = rows.split_inclusive('\n').map(|line| m.mask_text(line)).collect();
        }
        if let Some(shown) = numbers.text(&m, &a.exec.command) {
            a.exec.command = shown;
        }
        // Line by line, as rows of a COPY are (a match across lines would hide those between).
        for shown in &mut a.exec.shown {
            *shown = shown.split_inclusive('\n').map(|line| m.mask_text(line)).collect();
        }
        a.exec.argv.iter_mut().for_each(mask);
        a.exec.commands.iter_mut().flatten().for_each(mask);
        // Every list of paths, as the paths themselves (a file named after a value).
        for paths in [&mut a.exec.paths, &mut a.exec.writes, &mut a.exec.plants, &mut a.exec.key_files, &mut a.exec.env_files] {
            paths.iter_mut().for_each(mask);
        }
        mask(&mut a.exec.unreadable);
        mask(&mut a.env.value);
        a.connect.params.values_mut().for_each(mask);
        a
    }
}

/// What a client whose login is held is told.
fn held_login(ticket: &str) -> String {
    format!("this login is held for review (ticket {ticket}); once a reviewer approves, log in again")
}

/// Numbers for the values masked in one statement: each distinct value gets `#n` after its
/// replacement, the same value the same number. Redacted alike, `'a@x' = 'a@x'` (always true)
/// and `'a@x' = 'b@x'` read the same to a reviewer, who approved one thinking it the other
/// (red-team identity round 84: both showed `'[REDACTED:email]' = '[REDACTED:email]'`). The
/// numbers say only which values are equal, which the statement's author knows already.
#[derive(Default)]
struct Numbering(std::cell::RefCell<HashMap<String, usize>>);

impl Numbering {
    /// The number of the masked value `original`.
    fn number(&self, original: &[u8]) -> usize {
        let mut seen = self.0.borrow_mut();
        let next = seen.len() + 1;
        *seen.entry(String::from_utf8_lossy(original).into_owned()).or_insert(next)
    }

    /// `masked` (the masking of `original`, a literal or parameter masked whole) with its
    /// number, when masking changed it.
    fn mark<'a>(&self, original: &str, masked: std::borrow::Cow<'a, str>) -> std::borrow::Cow<'a, str> {
        match masked {
            std::borrow::Cow::Borrowed(b) => std::borrow::Cow::Borrowed(b),
            std::borrow::Cow::Owned(shown) => std::borrow::Cow::Owned(format!("{shown}#{}", self.number(original.as_bytes()))),
        }
    }

    /// `text` (a command line) with each value `m` masks in it numbered, or `None` when it
    /// masks none: `[ a@x = a@x ] && …` and `[ a@x = b@x ] && …` differ as SQL's do.
    fn text(&self, m: &crate::mask::Masker, text: &str) -> Option<String> {
        let bytes = text.as_bytes();
        if !m.is_enabled() || !crate::mask::is_text(bytes) {
            return None;
        }
        let (mut out, mut last) = (Vec::with_capacity(bytes.len()), 0);
        m.scan(bytes, |hit| {
            let matched = bytes.get(hit.start..hit.end).unwrap_or_default();
            out.extend_from_slice(bytes.get(last..hit.start).unwrap_or_default());
            m.write_replacement(&hit, matched, &mut out);
            out.extend_from_slice(format!("#{}", self.number(matched)).as_bytes());
            last = hit.end;
        });
        if last == 0 && out.is_empty() {
            return None;
        }
        out.extend_from_slice(bytes.get(last..).unwrap_or_default());
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Bytes a session's recording may grow by inside one action before they are counted against
/// its identity's recording budget.
const RECORDED_CHECK_EVERY: u64 = 256 << 10;

/// The gate's own refusal of an agent whose recorded statements and commands passed
/// `limits.agent_recorded_bytes_1h` in the last hour.
pub const RECORDING_BUDGET_RULE: &str = "hoop-recording-budget";

/// The gate's rule refusing agents on a target whose gateway login is privileged (see
/// [`TargetInfo::privileged`](crate::session::TargetInfo::privileged)).
pub const PRIVILEGED_LOGIN_RULE: &str = "hoop-privileged-login";

/// The longest statement text, parameter or command one record keeps whole.
const MAX_RECORDED_TEXT: usize = 1 << 20;

/// The same once the identity's recording budget is spent.
const SPENT_RECORDED_TEXT: usize = 4096;

/// `a` with its texts masked by `mask`, its statement's and command's cut to at most `code`
/// bytes together and its parameters' and copied rows' to `values` together (see
/// [`SessionHandle::record_form`]).
fn bounded_form(mut a: Action, (code, values): (usize, usize), mask: impl FnOnce(Action) -> Action) -> Action {
    // A bounded record's texts are cut before they are masked, to about their bound: masking a
    // refused 60 MB statement to keep its first MiB took seconds of the connection thread,
    // stalling every session on it, and ten times the message in memory (red-team tenants
    // round, 2026-12-07); so did a 60 MB parameter of a statement that ran (round 2).
    let max = [code, values];
    let mut left = max.map(|m| if m == usize::MAX { usize::MAX } else { m.saturating_add(MASK_SLACK) });
    let mut precut: Vec<Option<usize>> = Vec::new();
    for (kind, t) in bounded_texts(&mut a) {
        let total = t.len();
        let pool = left.get(kind).copied().unwrap_or(usize::MAX);
        let cut = if pool == usize::MAX { total } else { cut_at(t, pool.min(total)) };
        if let Some(l) = left.get_mut(kind).filter(|l| **l != usize::MAX) {
            *l -= cut;
        }
        precut.push((cut < total).then_some(total));
    }
    let mut a = mask(a);
    for (i, (kind, t)) in bounded_texts(&mut a).enumerate() {
        let max = max.get(kind).copied().unwrap_or(usize::MAX);
        match precut.get(i).copied().flatten() {
            // The end of what was masked may hold the start of a value the masker could not
            // see whole: it goes too.
            Some(total) => {
                let keep = max.min(t.len().saturating_sub(MASK_SLACK / 2));
                cut_at(t, keep);
                t.push_str(&format!("… [hoop: {total} bytes in all, not recorded past here]"));
            }
            None => bound_text(t, max),
        }
    }
    a
}

/// The texts of `a` a bounded record cuts, in the order their bound is shared out: `0` for
/// what runs (the statement, what it runs by name, the command), `1` for the values it runs
/// with (parameters, rows copied in).
fn bounded_texts(a: &mut Action) -> impl Iterator<Item = (usize, &mut String)> {
    std::iter::once((0, &mut a.sql.text))
        .chain(a.sql.runs.iter_mut().map(|t| (0, t)))
        .chain(a.sql.params.iter_mut().flatten().map(|t| (1, t)))
        .chain(a.sql.copy_rows.iter_mut().map(|t| (1, t)))
        .chain(std::iter::once((0, &mut a.exec.command)))
}

/// What a bounded record masks past its bound, so that a value at the bound is seen whole (the
/// longest a detector matches, a PEM block, is 16 KiB); the last half of it is cut again after
/// masking.
const MASK_SLACK: usize = 64 << 10;

/// Cuts `s` to at most `max` bytes, at a character boundary; how many bytes it keeps.
fn cut_at(s: &mut String, max: usize) -> usize {
    let mut cut = max.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    cut
}

/// Cuts `s` to at most `max` bytes (at a character boundary), noting its whole length and the
/// SHA-256 of the whole.
fn bound_text(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let total = s.len();
    cut_at(s, max);
    s.push_str(&format!("… [hoop: {total} bytes in all, sha256 {}]", hex::encode(digest)));
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.close("session dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_values_of_a_statement_are_numbered_by_value() {
        let m = crate::mask::Masker::new(&crate::mask::MaskConfig::default(), None).unwrap();
        let shown = |sql: &str| {
            let numbers = Numbering::default();
            crate::action::sql::mask_literals(sql, |lit| numbers.mark(lit, m.mask_text(lit))).into_owned()
        };
        let same = shown("select * from c where e = 'a@example.com' or 'a@example.com' = 'a@example.com'");
        let other = shown("select * from c where e = 'a@example.com' or 'a@example.com' = 'b@example.com'");
        assert!(same.ends_with("'[REDACTED:email]#1' = '[REDACTED:email]#1'") && !same.contains("a@example"), "{same}");
        assert!(other.ends_with("'[REDACTED:email]#1' = '[REDACTED:email]#2'"), "{other}");
        assert_eq!(shown("select 1"), "select 1");
        let numbers = Numbering::default();
        assert_eq!(numbers.text(&m, "[ a@example.com = b@example.com ] && echo a@example.com").unwrap(), "[ [REDACTED:email]#1 = [REDACTED:email]#2 ] && echo [REDACTED:email]#1");
        assert!(numbers.text(&m, "ls -la").is_none());
    }

    #[test]
    fn a_bounded_record_masks_about_its_bound_not_the_whole() {
        // Red-team tenants round: a refused 60 MB statement was masked whole (seconds of the
        // connection thread) to keep its first MiB. What the masker is given is cut first, to
        // the bound and its slack shared by every text; the slack's end goes after masking.
        let big = "x@corp.example ".repeat(300_000);
        let mut a = Action::sql("db", &big);
        a.sql.params = vec![Some(big.clone()), Some("small".into())];
        let seen = std::cell::Cell::new(0usize);
        let out = bounded_form(a, (1 << 20, 1 << 20), |mut a| {
            seen.set(bounded_texts(&mut a).map(|(_, t)| t.len()).sum());
            for (_, t) in bounded_texts(&mut a) {
                *t = t.replace("x@corp.example", "[e]");
            }
            a
        });
        assert!(seen.get() <= 2 * ((1 << 20) + MASK_SLACK), "masked {} bytes", seen.get());
        assert!(out.sql.text.len() < (1 << 20) + 100 && out.sql.text.ends_with("… [hoop: 4500000 bytes in all, not recorded past here]"), "{}", &out.sql.text[out.sql.text.len() - 80..]);
        assert!(!out.sql.text.contains("x@corp") && !out.sql.text.contains("corp.example"));
        let first = out.sql.params.first().cloned().flatten().unwrap_or_default();
        assert!(first.len() < (1 << 20) + 100 && first.starts_with("[e] [e]") && first.ends_with("… [hoop: 4500000 bytes in all, not recorded past here]"), "{}", &first[first.len() - 80..]);
        assert_eq!(out.sql.params.get(1), Some(&Some("… [hoop: 5 bytes in all, not recorded past here]".into())));
        // What runs: its text whole, its parameters to their bound (round 2: a 60 MB parameter
        // of an allowed statement was masked whole).
        let mut a = Action::sql("db", "select 'x@corp.example', length($1)");
        a.sql.params = vec![Some(big.clone())];
        let out = bounded_form(a, (usize::MAX, 1 << 20), |mut a| {
            for (_, t) in bounded_texts(&mut a) {
                *t = t.replace("x@corp.example", "[e]");
            }
            a
        });
        assert_eq!(out.sql.text, "select '[e]', length($1)");
        assert!(out.sql.params.first().cloned().flatten().unwrap_or_default().ends_with("… [hoop: 4500000 bytes in all, not recorded past here]"));
    }

    #[test]
    fn a_long_text_is_recorded_in_part_with_its_length_and_digest() {
        let mut s = "é".repeat(10);
        bound_text(&mut s, 100);
        assert_eq!(s, "é".repeat(10), "short texts are whole");
        bound_text(&mut s, 5);
        assert!(s.starts_with("éé… [hoop: 20 bytes in all, sha256 "), "{s}");
    }
}
