//! What policy decides about an action.

use serde::{Deserialize, Serialize};

/// How a refusal's reason ends when a rule could not be evaluated (so metrics can tell).
pub const POLICY_ERROR: &str = "could not be evaluated; refused";

/// A policy's decision on one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// Let it through; `rule` is the matching rule, or `None` for the default.
    Allow {
        /// Matching rule, if any.
        rule: Option<String>,
    },
    /// Refuse it.
    Deny {
        /// The rule that refused it (`default` for the default verdict).
        rule: String,
        /// Why, in words a client can be shown.
        reason: String,
    },
    /// Hold it until a human reviewer decides.
    Review {
        /// The rule that asked for review.
        rule: String,
    },
}

impl Verdict {
    /// The verdict's name: `allow`, `deny` or `review`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Allow { .. } => "allow",
            Verdict::Deny { .. } => "deny",
            Verdict::Review { .. } => "review",
        }
    }

    /// The rule behind the verdict, if any.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Verdict::Allow { rule } => rule.as_deref(),
            Verdict::Deny { rule, .. } | Verdict::Review { rule } => Some(rule),
        }
    }

    /// Whether this is a refusal because a rule could not be evaluated (fail closed).
    pub fn is_policy_error(&self) -> bool {
        matches!(self, Verdict::Deny { reason, .. } if reason.ends_with(POLICY_ERROR))
    }
}
