//! One client connection through the gateway, from open to close.

use crate::identity::Identity;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;

/// Unique, sortable id of a session; also the name of its recording.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub String);

impl SessionId {
    /// A fresh id: UTC start time plus random bits, so ids sort by start.
    pub fn generate() -> Self {
        let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        SessionId(format!("{now}-{}", crate::keys::random_hex(6)))
    }

    /// Whether the id is safe to use as a file name (no separators, no dots first).
    pub fn is_valid(&self) -> bool {
        !self.0.is_empty()
            && self.0.len() <= 128
            && !self.0.starts_with('.')
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The wire protocol a session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// PostgreSQL v3.
    Postgres,
    /// SSH.
    Ssh,
    /// The Kubernetes API over HTTPS.
    Kubernetes,
}

impl Protocol {
    /// Lowercase name as CEL sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Postgres => "postgres",
            Protocol::Ssh => "ssh",
            Protocol::Kubernetes => "kubernetes",
        }
    }
}

/// What rules know about the named upstream a session reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The target's name in config (what clients ask for).
    pub name: String,
    /// Whether every read from this target counts as sensitive.
    #[serde(default)]
    pub sensitive: bool,
    /// Tables (`table` or `schema.table`) whose reads count as sensitive.
    #[serde(default)]
    pub sensitive_tables: Vec<String>,
    /// Free-form labels for rules, e.g. `env = "prod"`.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Why the gateway's own login on this target can do more than any agent may (an SSH
    /// login as `root`), unless the target allows it; empty when it cannot. Agents are refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub privileged: String,
}

/// A live session: who, to which target, from where, since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Unique id, also the recording's name.
    pub id: SessionId,
    /// The authenticated caller.
    pub identity: Identity,
    /// Wire protocol.
    pub protocol: Protocol,
    /// The upstream the session reaches.
    pub target: TargetInfo,
    /// The client's address as the gateway saw it.
    pub client_addr: Option<SocketAddr>,
    /// Start, in seconds since the Unix epoch.
    pub started_at: i64,
}
