//! Who is calling: the identity an [`Authenticator`](crate::auth::Authenticator) produces.

use serde::{Deserialize, Serialize};

/// The group whose members may read sessions and recordings (people: operators and auditors).
pub const AUDIT_GROUP: &str = "audit";

/// Groups no agent holds, however it is issued: reviewing is a person's, and so is reading
/// other sessions (red-team identity round 88: an agent created with `audit` read another
/// agent's SSH recording).
pub const PEOPLE_ONLY_GROUPS: &[&str] = &[crate::approvals::REVIEW_GROUP, AUDIT_GROUP];

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
    /// The credentials this identity stands on, as revocation ids: the one presented first
    /// (`token:<jti>`, `ssh-cert:<serial>`, `ssh-key:<fingerprint>`, `static:<subject>`), then
    /// those it was obtained with (`token:<jti>` of the token that asked for a certificate,
    /// `client:<id>` of an exchanged client credential). Revoking any of them ends it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
    /// Subject patterns this identity may issue credentials for (`agent-*`); empty: its own
    /// subject and `<subject>/*`. Only with the `token-issuer` group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issue_subjects: Vec<String>,
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
            credentials: Vec::new(),
            issue_subjects: Vec::new(),
        }
    }

    /// Whether the identity's scope includes `target`.
    pub fn may_reach(&self, target: &str) -> bool {
        self.targets.iter().any(|t| t == "*" || t == target)
    }

    /// Whether the identity may hand `target` on (to a token, certificate or client it asks
    /// for): a target it reaches, and `*` only if it holds `*` itself.
    pub fn may_grant(&self, target: &str) -> bool {
        if target == "*" { self.targets.iter().any(|t| t == "*") } else { self.may_reach(target) }
    }

    /// Whether the identity belongs to `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The ids a revocation may name to end this identity: its credentials and its subject.
    pub fn revocation_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.credentials.iter().cloned().chain(std::iter::once(format!("subject:{}", self.subject)))
    }

    /// Whose budgets and session limit this identity spends: the first agent in its
    /// credential chain (whatever name it minted), else the first issuer whose subject it was
    /// minted under (`orch` for `orch/job-7/step-2`, when `orch` issued `orch/job-7`), else its
    /// own subject. An agent that may issue tokens
    /// names sub-identities at will; were each counted apart, every new one would start with
    /// empty budgets (red-team round 13b read 3.6 times the hourly budget through four). Only
    /// an issuer the chain proves counts: a subject that merely holds a `/` is its own.
    pub fn budget_subject(&self) -> &str {
        // An agent in the chain marked what it minted as spending its own budgets
        // (`grant::lineage`): the first such mark is the agent nearest the chain's root.
        if let Some(agent) = self.credentials.iter().find_map(|c| c.strip_prefix("budget:")) {
            return agent;
        }
        self.credentials
            .iter()
            .filter_map(|c| c.strip_prefix("subject:"))
            .find(|a| self.subject.strip_prefix(a).is_some_and(|rest| rest.starts_with('/')))
            .unwrap_or(&self.subject)
    }

    /// The client credential this identity was exchanged from, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.credentials.iter().find_map(|c| c.strip_prefix("client:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_identities_spend_their_issuers_budgets() {
        let mut id = Identity::new("orch/j9/k1", IdentityKind::Agent);
        assert_eq!(id.budget_subject(), "orch/j9/k1", "a slash alone proves no issuer");
        id.credentials = vec!["token:a".into(), "subject:orch".into(), "token:b".into(), "subject:orch/j9".into()];
        assert_eq!(id.budget_subject(), "orch");
        // Minted by an agent under another name (`ci/*`), it spends the agent's.
        let mut ci = Identity::new("ci/job-1", IdentityKind::Agent);
        ci.credentials = vec!["token:c".into(), "client:c_1".into(), "budget:builder".into(), "subject:builder".into()];
        assert_eq!(ci.budget_subject(), "builder");
        id.credentials = vec!["subject:alice".into()];
        assert_eq!(id.budget_subject(), "orch/j9/k1", "issued by someone whose name it is not under");
        id.credentials = vec!["subject:orc".into()];
        assert_eq!(id.budget_subject(), "orch/j9/k1", "a prefix of a part is not an issuer's name");
    }
}
