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
}
