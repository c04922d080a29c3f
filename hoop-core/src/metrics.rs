//! Counters the gate keeps for operators, rendered in the Prometheus text format.

use crate::session::Protocol;
use crate::verdict::Verdict;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

const PROTOCOLS: [Protocol; 3] = [Protocol::Postgres, Protocol::Ssh, Protocol::Kubernetes];

/// Requests answered outside any session (no recording holds them): counted here, since their
/// log lines are bounded (see [`crate::lograte`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessionless {
    /// A login refused (bad credential, unknown target, a rule).
    LoginRefused,
    /// An admin API request refused (401, 403, 404, 429, …).
    AdminRefused,
    /// A Postgres CancelRequest.
    Cancel,
}

impl Sessionless {
    const ALL: [Sessionless; 3] = [Sessionless::LoginRefused, Sessionless::AdminRefused, Sessionless::Cancel];

    fn label(self) -> &'static str {
        match self {
            Sessionless::LoginRefused => "login_refused",
            Sessionless::AdminRefused => "admin_refused",
            Sessionless::Cancel => "cancel",
        }
    }
}

fn index(p: Protocol) -> usize {
    match p {
        Protocol::Postgres => 0,
        Protocol::Ssh => 1,
        Protocol::Kubernetes => 2,
    }
}

/// The gate's counters; all relaxed atomics, cheap on the data path.
#[derive(Debug, Default)]
pub struct Metrics {
    sessions_total: [AtomicU64; 3],
    actions: [AtomicU64; 3],
    review_wait_us: AtomicU64,
    reviews: AtomicU64,
    recording_failures: AtomicU64,
    policy_errors: AtomicU64,
    reviews_unreachable: AtomicU64,
    budget_tickets: AtomicU64,
    sessionless: [AtomicU64; 3],
    /// Rows and bytes read per target, and of those withheld at a checkpoint (targets come
    /// from config, so this stays small).
    read: std::sync::Mutex<std::collections::BTreeMap<String, [u64; 4]>>,
}

impl Metrics {
    pub(crate) fn session_opened(&self, p: Protocol) {
        if let Some(c) = self.sessions_total.get(index(p)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn verdict(&self, v: &Verdict) {
        if v.is_policy_error() {
            self.policy_errors.fetch_add(1, Ordering::Relaxed);
        }
        let i = match v {
            Verdict::Allow { .. } => 0,
            Verdict::Deny { .. } => 1,
            Verdict::Review { .. } => 2,
        };
        if let Some(c) = self.actions.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn recording_failed(&self) {
        self.recording_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sessionless(&self, kind: Sessionless) {
        if let Some(c) = self.sessionless.get(kind as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn budget_ticket(&self) {
        self.budget_tickets.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, target: &str, rows: u64, bytes: u64) {
        self.add_read(target, [rows, bytes, 0, 0]);
    }

    /// Rows and bytes counted as read at a checkpoint that never reached the client (the
    /// result was withheld there).
    pub(crate) fn withheld(&self, target: &str, rows: u64, bytes: u64) {
        self.add_read(target, [0, 0, rows, bytes]);
    }

    fn add_read(&self, target: &str, add: [u64; 4]) {
        if add == [0; 4] {
            return;
        }
        let mut m = self.read.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(target) {
            Some(c) => {
                for (n, a) in c.iter_mut().zip(add) {
                    *n = n.saturating_add(a);
                }
            }
            None => {
                m.insert(target.to_string(), add);
            }
        }
    }

    pub(crate) fn review_unreachable(&self) {
        self.reviews_unreachable.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn review_waited(&self, waited: std::time::Duration) {
        self.review_wait_us.fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
        self.reviews.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition; `open` counts live sessions per protocol.
    pub fn render(&self, open: &[(Protocol, u64)], masked_bytes: u64, pending_reviews: usize, recorder_lag: std::time::Duration) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP hoop_sessions_open Sessions open now.\n# TYPE hoop_sessions_open gauge");
        for p in PROTOCOLS {
            let n: u64 = open.iter().filter(|(q, _)| *q == p).map(|(_, n)| n).sum();
            let _ = writeln!(out, "hoop_sessions_open{{protocol=\"{}\"}} {n}", p.as_str());
        }
        let _ = writeln!(out, "# HELP hoop_sessions_total Sessions opened.\n# TYPE hoop_sessions_total counter");
        for p in PROTOCOLS {
            let n = self.sessions_total.get(index(p)).map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(out, "hoop_sessions_total{{protocol=\"{}\"}} {n}", p.as_str());
        }
        let _ = writeln!(out, "# HELP hoop_actions_total Actions checked, by verdict.\n# TYPE hoop_actions_total counter");
        for (i, v) in ["allow", "deny", "review"].iter().enumerate() {
            let n = self.actions.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(out, "hoop_actions_total{{verdict=\"{v}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP hoop_review_wait_seconds Time actions waited for a reviewer.\n# TYPE hoop_review_wait_seconds summary");
        let _ = writeln!(out, "hoop_review_wait_seconds_sum {:.6}", self.review_wait_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "hoop_review_wait_seconds_count {}", self.reviews.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP hoop_reviews_pending Review tickets waiting for a decision.\n# TYPE hoop_reviews_pending gauge");
        let _ = writeln!(out, "hoop_reviews_pending {pending_reviews}");
        let _ = writeln!(out, "# HELP hoop_masked_bytes_total Bytes replaced by masking.\n# TYPE hoop_masked_bytes_total counter");
        let _ = writeln!(out, "hoop_masked_bytes_total {masked_bytes}");
        let _ = writeln!(out, "# HELP hoop_recorder_lag_seconds Age of the oldest record not yet fsynced.\n# TYPE hoop_recorder_lag_seconds gauge");
        let _ = writeln!(out, "hoop_recorder_lag_seconds {:.6}", recorder_lag.as_secs_f64());
        let _ = writeln!(out, "# HELP hoop_recording_failures_total Sessions ended because their recording could not be written.\n# TYPE hoop_recording_failures_total counter");
        let _ = writeln!(out, "hoop_recording_failures_total {}", self.recording_failures.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP hoop_policy_errors_total Actions refused because a rule failed to evaluate.\n# TYPE hoop_policy_errors_total counter");
        let _ = writeln!(out, "hoop_policy_errors_total {}", self.policy_errors.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP hoop_reviews_unreachable_total Reviews refused because no reviewer could be told.\n# TYPE hoop_reviews_unreachable_total counter");
        let _ = writeln!(out, "hoop_reviews_unreachable_total {}", self.reviews_unreachable.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP hoop_budget_tickets_total Review tickets opened by rules reading result (a result paused midway).\n# TYPE hoop_budget_tickets_total counter");
        let _ = writeln!(out, "hoop_budget_tickets_total {}", self.budget_tickets.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP hoop_sessionless_requests_total Requests answered outside any session: refused logins, refused admin requests, Postgres cancel requests.\n# TYPE hoop_sessionless_requests_total counter");
        for k in Sessionless::ALL {
            let n = self.sessionless.get(k as usize).map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(out, "hoop_sessionless_requests_total{{kind=\"{}\"}} {n}", k.label());
        }
        let read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let series = [
            ("hoop_rows_read_total", "Rows and objects read from each target for its clients, counted at result checkpoints (results then withheld included).", 0),
            ("hoop_bytes_read_total", "Bytes read from each target for its clients, counted at result checkpoints (results then withheld included).", 1),
            ("hoop_rows_withheld_total", "Of hoop_rows_read_total, rows and objects withheld at a checkpoint (denied, or not approved): never sent to the client.", 2),
            ("hoop_bytes_withheld_total", "Of hoop_bytes_read_total, bytes withheld at a checkpoint: never sent to the client.", 3),
        ];
        for (name, help, i) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (t, n) in read.iter() {
                let _ = writeln!(out, "{name}{{target=\"{}\"}} {}", t.replace(['"', '\\', '\n'], "_"), n.get(i).copied().unwrap_or(0));
            }
        }
        out
    }
}
