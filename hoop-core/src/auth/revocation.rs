//! The revocation list: credentials and subjects refused from now on, kept across restarts.
//!
//! A revocation names a credential by its revocation id (see
//! [`Identity::credentials`](crate::identity::Identity::credentials)): `token:<jti>`,
//! `client:<id>`, `ssh-cert:<serial>`, `ssh-key:<fingerprint>`, `static:<subject>`, or a whole
//! `subject:<name>`. Every identity is checked against the list when a session opens and, by
//! the gate, while it runs; the gate also ends live sessions the moment a revocation lands.

use super::{AuthError, now_secs};
use crate::identity::Identity;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The kinds of revocation id, as their prefixes.
pub const KINDS: [&str; 6] = ["token", "client", "ssh-cert", "ssh-key", "static", "subject"];

/// Most revocations kept; beyond it new ones are refused rather than old ones dropped.
pub const MAX_REVOCATIONS: usize = 100_000;

/// One revoked credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The revocation id, e.g. `token:3f9a…` or `client:c_12ab…`.
    pub id: String,
    /// Refused until then, in seconds since the epoch (0: for ever).
    pub until: i64,
    /// Who revoked it.
    #[serde(default)]
    pub by: String,
    /// When, in seconds since the epoch.
    #[serde(default)]
    pub at: i64,
    /// Why, as the revoker said.
    #[serde(default)]
    pub reason: String,
}

impl Revocation {
    fn in_force(&self, now: i64) -> bool {
        self.until == 0 || self.until > now
    }
}

/// Why a revocation was not taken.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// The id does not start with a known kind, or names nothing.
    #[error("revocation id {0:?} must be one of token:, client:, ssh-cert:, ssh-key:, static:, subject: followed by a name")]
    Malformed(String),
    /// The list is full.
    #[error("the revocation list is full ({MAX_REVOCATIONS} entries)")]
    Full,
    /// The list could not be written: the revocation holds until restart only.
    #[error("revocation list {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The revocation list, in memory and (when given a file) on disk.
#[derive(Debug, Default)]
pub struct Revocations {
    entries: Mutex<HashMap<String, Revocation>>,
    /// Entries in force or not yet pruned; lets the common case (nothing revoked) skip the lock.
    len: AtomicUsize,
    path: Option<PathBuf>,
}

/// The file format before revocations had kinds: a map of token id to until.
#[derive(Deserialize)]
#[serde(untagged)]
enum OnDisk {
    List(Vec<Revocation>),
    Legacy(HashMap<String, i64>),
}

impl Revocations {
    /// An empty list kept in memory only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The list kept in `path`, loading what is there. A file that cannot be read as a list
    /// is an error: starting with an empty list would let revoked credentials back in.
    pub fn open(path: PathBuf) -> Result<Self, RevocationError> {
        let loaded: Vec<Revocation> = match std::fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Vec::new(),
            Ok(bytes) => match serde_json::from_slice::<OnDisk>(&bytes) {
                Ok(OnDisk::List(l)) => l,
                Ok(OnDisk::Legacy(m)) => m
                    .into_iter()
                    .map(|(jti, until)| Revocation { id: format!("token:{jti}"), until, by: String::new(), at: 0, reason: String::new() })
                    .collect(),
                Err(e) => return Err(RevocationError::Io { path, source: std::io::Error::new(std::io::ErrorKind::InvalidData, e) }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(RevocationError::Io { path, source }),
        };
        let now = now_secs();
        let entries: HashMap<String, Revocation> = loaded.into_iter().filter(|r| r.in_force(now)).map(|r| (r.id.clone(), r)).collect();
        Ok(Revocations { len: AtomicUsize::new(entries.len()), entries: Mutex::new(entries), path: Some(path) })
    }

    /// Adds `r` (replacing an earlier revocation of the same id) and writes the list.
    pub fn revoke(&self, r: Revocation) -> Result<(), RevocationError> {
        let (kind, name) = r.id.split_once(':').unwrap_or(("", ""));
        if !KINDS.contains(&kind) || name.is_empty() || name.chars().any(char::is_control) {
            return Err(RevocationError::Malformed(r.id));
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_secs();
        entries.retain(|_, e| e.in_force(now));
        if entries.len() >= MAX_REVOCATIONS && !entries.contains_key(&r.id) {
            return Err(RevocationError::Full);
        }
        entries.insert(r.id.clone(), r);
        self.len.store(entries.len(), Ordering::Release);
        let Some(path) = &self.path else { return Ok(()) };
        // Written whole and renamed into place, under the lock, so no revocation is lost.
        let mut list: Vec<&Revocation> = entries.values().collect();
        list.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        let tmp = path.with_extension("tmp");
        let io = |source| RevocationError::Io { path: path.clone(), source };
        std::fs::write(&tmp, serde_json::to_vec_pretty(&list).unwrap_or_default()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The revocations in force, oldest first.
    pub fn list(&self) -> Vec<Revocation> {
        let now = now_secs();
        let mut l: Vec<Revocation> =
            self.entries.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|r| r.in_force(now)).cloned().collect();
        l.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        l
    }

    /// Refuses `identity` if any of its credentials, or its subject, is revoked.
    pub fn check(&self, identity: &Identity) -> Result<(), AuthError> {
        if self.len.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_secs();
        for id in identity.revocation_ids() {
            if entries.get(&id).is_some_and(|r| r.in_force(now)) {
                return Err(AuthError::Revoked);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKind;

    fn revocation(id: &str, until: i64) -> Revocation {
        Revocation { id: id.into(), until, by: "op".into(), at: now_secs(), reason: "test".into() }
    }

    #[test]
    fn every_credential_and_the_subject_can_be_revoked() {
        let r = Revocations::in_memory();
        let mut id = Identity::new("agent-1", IdentityKind::Agent);
        id.credentials = vec!["ssh-cert:42".into(), "token:abc".into(), "client:c1".into()];
        assert!(r.check(&id).is_ok());
        for key in ["ssh-cert:42", "token:abc", "client:c1", "subject:agent-1"] {
            let r = Revocations::in_memory();
            r.revoke(revocation(key, 0)).unwrap();
            assert_eq!(r.check(&id), Err(AuthError::Revoked), "{key}");
        }
        r.revoke(revocation("token:other", 0)).unwrap();
        assert!(r.check(&id).is_ok());
        // Expired revocations no longer refuse.
        r.revoke(revocation("token:abc", now_secs() - 1)).unwrap();
        assert!(r.check(&id).is_ok());
        assert!(matches!(r.revoke(revocation("tokens:abc", 0)), Err(RevocationError::Malformed(_))));
        assert!(matches!(r.revoke(revocation("token:", 0)), Err(RevocationError::Malformed(_))));
    }

    #[test]
    fn kept_across_restarts_and_read_from_the_old_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.json");
        std::fs::write(&path, format!("{{\"old-jti\": {}}}", now_secs() + 600)).unwrap();
        let r = Revocations::open(path.clone()).unwrap();
        assert_eq!(r.list()[0].id, "token:old-jti");
        r.revoke(revocation("ssh-key:SHA256:abc", 0)).unwrap();
        let again = Revocations::open(path.clone()).unwrap();
        assert_eq!(again.list().len(), 2);
        std::fs::write(&path, "not json").unwrap();
        assert!(Revocations::open(path).is_err(), "an unreadable list must not start empty");
    }
}
