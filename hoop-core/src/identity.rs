//! Who is calling: the identity an [`Authenticator`](crate::auth::Authenticator) produces.

use serde::{Deserialize, Serialize};

/// Whether an identity is a person or automation; rules usually differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    /// A person, e.g. an engineer or a reviewer.
    Human,
    /// An AI agent, a script or any other automation.
    #[default]
    Agent,
}

impl IdentityKind {
    /// The lowercase name CEL rules compare against (`"human"`, `"agent"`).
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Human => "human",
            IdentityKind::Agent => "agent",
        }
    }
}

/// An authenticated caller, scoped to the targets it may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Stable subject name, e.g. `agent-1` or `alice@example.com`.
    pub subject: String,
    /// Groups, used by rules and for permissions such as `review`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Who vouched for this identity: `hoop` for gateway tokens, the OIDC issuer URL otherwise.
    pub issuer: String,
    /// Human or agent.
    pub kind: IdentityKind,
    /// Targets this identity may reach; `*` allows all.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Token id (`jti`), so a single token can be revoked and traced.
    #[serde(default)]
    pub token_id: String,
    /// When the credential stops being valid, in seconds since the Unix epoch (0: never).
    #[serde(default)]
    pub expires_at: i64,
}

impl Identity {
    /// An identity with no groups, no target scope and no expiry (for tests and embedders).
    pub fn new(subject: impl Into<String>, kind: IdentityKind) -> Self {
        Identity {
            subject: subject.into(),
            groups: Vec::new(),
            issuer: "hoop".into(),
            kind,
            targets: vec!["*".into()],
            token_id: String::new(),
            expires_at: 0,
        }
    }

    /// Whether the identity's scope includes `target`.
    pub fn may_reach(&self, target: &str) -> bool {
        self.targets.iter().any(|t| t == "*" || t == target)
    }

    /// Whether the identity belongs to `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}
