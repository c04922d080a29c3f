//! Policy: deciding [`Verdict`]s for actions.
//!
//! [`CelPolicy`] is the built-in engine (named CEL rules, first match wins);
//! [`SwappablePolicy`] lets a running gateway replace its rules without dropping sessions.

pub mod cel;
pub mod defaults;
mod functions;
mod guard;
mod values;

use crate::action::Action;
use crate::session::Session;
use crate::verdict::Verdict;
use arc_swap::ArcSwap;
use std::sync::Arc;

pub use cel::{CelPolicy, Rule, Then};

/// Why a policy could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A rule's expression does not parse.
    #[error("rule {rule:?}: does not compile: {message}")]
    Compile {
        /// The rule's name.
        rule: String,
        /// The parser's message.
        message: String,
    },
    /// A rule errors (or yields a non-boolean) on a sample action.
    #[error("rule {rule:?}: fails on a sample {kind} action: {message}")]
    Sample {
        /// The rule's name.
        rule: String,
        /// The sample action kind it failed on.
        kind: String,
        /// What went wrong.
        message: String,
    },
    /// Two rules share a name, or a name is empty.
    #[error("rule names must be unique and non-empty: {0:?}")]
    Name(String),
}

/// Decides what happens to an action. Must not fail: an engine error is a `Deny`.
pub trait Policy: Send + Sync + 'static {
    /// The verdict for `action` in `session`.
    fn evaluate(&self, session: &Session, action: &Action) -> Verdict;

    /// The verdict for `action` with the rules in `waived` left out (budgets a reviewer let
    /// this identity past on this target): the next rule that holds decides. A policy that
    /// cannot leave rules out evaluates them all.
    fn evaluate_waiving(&self, session: &Session, action: &Action, _waived: &[String]) -> Verdict {
        self.evaluate(session, action)
    }

    /// The verdict at a checkpoint of `action`'s result (`action.result` and `action.usage`
    /// filled in): only rules that read `result` or `usage` are asked, except those in `waived`
    /// (a reviewer let this result, or this identity on this target, past them); `Allow` when
    /// none holds.
    fn evaluate_result(&self, _session: &Session, _action: &Action, _waived: &[String]) -> Verdict {
        Verdict::Allow { rule: None }
    }

    /// Whether any rule reads `result` or `usage`, so that adapters' results need checkpoints.
    fn watches_results(&self) -> bool {
        false
    }

    /// Whether a rule may read `usage.tables`, so that the gate reads each table's windows.
    fn reads_usage_tables(&self) -> bool {
        true
    }

    /// Whether a rule may read `usage.columns`, `usage.detectors` or `usage.sensitive`, so that
    /// the gate reads the identity's per-column and per-detector windows.
    fn reads_usage_details(&self) -> bool {
        true
    }

    /// Whether rule `rule` is a budget (it reads `usage`): a reviewer's approval of
    /// what it held waives it for the identity on that target for a while.
    fn is_budget_rule(&self, _rule: &str) -> bool {
        false
    }
}

/// A policy that can be replaced while sessions keep running (for reload).
#[derive(Clone)]
pub struct SwappablePolicy {
    // Read on every action from every connection thread: `ArcSwap` loads touch no shared
    // counter or lock, where an `RwLock<Arc<_>>` bounced its cache lines between the threads.
    inner: Arc<ArcSwap<Current>>,
}

/// The policy in force (`ArcSwap` holds sized values).
struct Current(Arc<dyn Policy>);

impl SwappablePolicy {
    /// Wraps `policy`.
    pub fn new(policy: Arc<dyn Policy>) -> Self {
        SwappablePolicy { inner: Arc::new(ArcSwap::from_pointee(Current(policy))) }
    }

    /// Replaces the policy; checks already running finish under the old one.
    pub fn swap(&self, policy: Arc<dyn Policy>) {
        self.inner.store(Arc::new(Current(policy)));
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<dyn Policy> {
        self.inner.load().0.clone()
    }
}

impl Policy for SwappablePolicy {
    fn evaluate(&self, session: &Session, action: &Action) -> Verdict {
        self.inner.load().0.evaluate(session, action)
    }

    fn evaluate_waiving(&self, session: &Session, action: &Action, waived: &[String]) -> Verdict {
        self.inner.load().0.evaluate_waiving(session, action, waived)
    }

    fn evaluate_result(&self, session: &Session, action: &Action, waived: &[String]) -> Verdict {
        self.inner.load().0.evaluate_result(session, action, waived)
    }

    fn watches_results(&self) -> bool {
        self.inner.load().0.watches_results()
    }

    fn is_budget_rule(&self, rule: &str) -> bool {
        self.inner.load().0.is_budget_rule(rule)
    }

    fn reads_usage_tables(&self) -> bool {
        self.inner.load().0.reads_usage_tables()
    }

    fn reads_usage_details(&self) -> bool {
        self.inner.load().0.reads_usage_details()
    }
}
