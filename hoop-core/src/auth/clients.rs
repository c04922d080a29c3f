//! Client credentials: the one long-lived, narrowly scoped, revocable secret an agent holds.
//!
//! An operator registers a client for a subject, kind, groups, targets and a longest token
//! lifetime; the agent gets `hoopc_<id>_<secret>` once, and exchanges it over the admin API for
//! short-lived gateway tokens that can never exceed the registration. The gateway keeps only
//! the secret's SHA-256, so reading the registry does not let anyone exchange.

use super::{AuthError, TokenSpec, grant, now_secs};
use crate::identity::IdentityKind;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Prefix of a client credential.
pub const PREFIX: &str = "hoopc_";
/// Most clients one gateway keeps.
pub const MAX_CLIENTS: usize = 10_000;

/// What a client may be exchanged for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSpec {
    /// Subject of the tokens it obtains.
    pub subject: String,
    /// Human or agent.
    #[serde(default)]
    pub kind: IdentityKind,
    /// Groups of the tokens.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Targets the tokens may reach.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Longest lifetime of one token, seconds.
    #[serde(default = "default_max_ttl")]
    pub max_ttl_secs: i64,
    /// Subject patterns its tokens may issue for (with the `token-issuer` group).
    #[serde(default)]
    pub issue_subjects: Vec<String>,
}

fn default_max_ttl() -> i64 {
    3600
}

/// How a client's tokens name who registered it (and their lineage): a revocation of
/// `subject:<name>` ends them, but a registrant is not an issuer when it comes to who may
/// review their tickets (the operator who onboards an agent may approve what it asks).
pub const REGISTERED: &str = "registered:";

/// A registered client, as kept and listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Client id (`c_` and 12 hex digits).
    pub id: String,
    /// What it may be exchanged for.
    #[serde(flatten)]
    pub spec: ClientSpec,
    /// Who registered it.
    pub created_by: String,
    /// What the registrant stood on when it registered the client, as revocation ids: its
    /// subject and issuers as `registered:<subject>` (ended by revoking `subject:<subject>`,
    /// but no issuer of the client's tokens for who may review them) and its clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registered_under: Vec<String>,
    /// When, seconds since the epoch.
    pub created_at: i64,
    /// SHA-256 of the secret, hex.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    secret_sha256: String,
}

impl Client {
    /// The same client without its secret's hash, for listings.
    pub fn public(&self) -> Client {
        Client { secret_sha256: String::new(), ..self.clone() }
    }

    /// What the client's tokens stand on, as revocation ids: the client, and the subject that
    /// registered it, so that revoking a person ends the clients they made (red-team identity
    /// round 82: a revoked human's clients went on minting reviewers for a day at a time).
    pub fn lineage(&self) -> Vec<String> {
        let mut from = vec![format!("client:{}", self.id)];
        if !self.created_by.is_empty() && self.created_by != self.spec.subject {
            from.push(format!("{REGISTERED}{}", self.created_by));
        }
        // The registrant's own lineage too (red-team identity round 83: a client registered by
        // a client of `eve` outlived `revoke subject:eve`).
        for id in &self.registered_under {
            if !from.contains(id) {
                from.push(id.clone());
            }
        }
        from
    }

    /// The token an exchange yields: the registration, narrowed to `targets` if given and to
    /// `ttl_secs` (at most the registration's longest lifetime).
    pub fn token_spec(&self, targets: Option<&[String]>, ttl_secs: Option<i64>) -> Result<TokenSpec, AuthError> {
        let targets = match targets {
            None => self.spec.targets.clone(),
            Some(asked) => {
                let mut me = crate::identity::Identity::new(&self.spec.subject, self.spec.kind);
                me.targets = self.spec.targets.clone();
                if let Some(t) = asked.iter().find(|t| !me.may_grant(t)) {
                    return Err(AuthError::Permission(format!("client {} may not reach target {t:?}", self.id)));
                }
                asked.to_vec()
            }
        };
        let ttl = ttl_secs.unwrap_or(self.spec.max_ttl_secs).min(self.spec.max_ttl_secs);
        Ok(TokenSpec { subject: self.spec.subject.clone(), kind: self.spec.kind, groups: self.spec.groups.clone(), targets, ttl_secs: ttl })
    }
}

/// Why a client could not be registered or exchanged.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry file could not be read or written.
    #[error("client registry {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The registration is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

/// The registered clients, in memory and in a file of the data dir.
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<HashMap<String, Client>>,
    path: Option<PathBuf>,
}

impl Clients {
    /// An empty registry kept in memory only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The registry kept in `path` (mode 0600), loading what is there.
    pub fn open(path: PathBuf) -> Result<Self, ClientError> {
        let list: Vec<Client> = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| ClientError::Io { path: path.clone(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, e) })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(ClientError::Io { path, source }),
        };
        Ok(Clients { map: Mutex::new(list.into_iter().map(|c| (c.id.clone(), c)).collect()), path: Some(path) })
    }

    /// Registers `spec` for `who`, keeping what `who` stands on (see [`Client::lineage`]);
    /// returns the client and its credential, shown only now.
    pub fn register_by(&self, spec: ClientSpec, who: &crate::identity::Identity) -> Result<(Client, String), ClientError> {
        let under: Vec<String> = who
            .credentials
            .iter()
            .filter_map(|c| match c.strip_prefix("subject:") {
                Some(s) => Some(format!("{REGISTERED}{s}")),
                None => (c.starts_with("client:") || c.starts_with(REGISTERED)).then(|| c.clone()),
            })
            .collect();
        self.register_under(spec, &who.subject, under)
    }

    /// Registers `spec` for `by`; returns the client and its credential, shown only now.
    pub fn register(&self, spec: ClientSpec, by: &str) -> Result<(Client, String), ClientError> {
        self.register_under(spec, by, Vec::new())
    }

    fn register_under(&self, spec: ClientSpec, by: &str, registered_under: Vec<String>) -> Result<(Client, String), ClientError> {
        grant::invariants(&TokenSpec { subject: spec.subject.clone(), kind: spec.kind, groups: spec.groups.clone(), targets: vec![], ttl_secs: 1 })
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        if spec.max_ttl_secs <= 0 || spec.max_ttl_secs > super::token::MAX_TTL_SECS {
            return Err(ClientError::Invalid(format!("max_ttl_secs must be 1..={}", super::token::MAX_TTL_SECS)));
        }
        if let Some(p) = spec.issue_subjects.iter().find(|p| !grant::valid_pattern(p)) {
            return Err(ClientError::Invalid(format!("issue_subjects: {p:?} is not a name or a name ending in one *")));
        }
        let id = format!("c_{}", crate::keys::random_hex(6));
        let secret = crate::keys::random_hex(32);
        let client = Client { id: id.clone(), spec, created_by: by.to_string(), registered_under, created_at: now_secs(), secret_sha256: sha256_hex(&secret) };
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_CLIENTS {
            return Err(ClientError::Invalid(format!("this gateway already has {MAX_CLIENTS} clients")));
        }
        map.insert(id.clone(), client.clone());
        self.save(&map)?;
        Ok((client.public(), format!("{PREFIX}{id}_{secret}")))
    }

    /// Removes a client; its tokens are ended by revoking `client:<id>` as well.
    pub fn remove(&self, id: &str) -> Result<bool, ClientError> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let found = map.remove(id).is_some();
        if found {
            self.save(&map)?;
        }
        Ok(found)
    }

    /// The client with exactly this id, without its secret.
    pub fn get(&self, id: &str) -> Option<Client> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).get(id).map(Client::public)
    }

    /// Whether a client with this id is registered.
    pub fn contains(&self, id: &str) -> bool {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).contains_key(id)
    }

    /// Every client, without secrets.
    pub fn list(&self) -> Vec<Client> {
        let mut l: Vec<Client> = self.map.lock().unwrap_or_else(|p| p.into_inner()).values().map(Client::public).collect();
        l.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        l
    }

    /// The client whose credential this is.
    pub fn verify(&self, credential: &str) -> Result<Client, AuthError> {
        let bad = || AuthError::Malformed("not a hoop client credential".into());
        let rest = credential.trim().strip_prefix(PREFIX).ok_or_else(bad)?;
        let (id, secret) = rest.rsplit_once('_').ok_or_else(bad)?;
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let client = map.get(id).ok_or(AuthError::BadSignature)?;
        // Digests are compared, not secrets: timing can only tell a digest's prefix.
        if client.secret_sha256.is_empty() || sha256_hex(secret) != client.secret_sha256 {
            return Err(AuthError::BadSignature);
        }
        Ok(client.clone())
    }

    fn save(&self, map: &HashMap<String, Client>) -> Result<(), ClientError> {
        let Some(path) = &self.path else { return Ok(()) };
        let io = |source| ClientError::Io { path: path.clone(), source };
        let mut list: Vec<&Client> = map.values().collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
            f.write_all(&serde_json::to_vec_pretty(&list).unwrap_or_default()).and_then(|_| f.sync_all()).map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClientSpec {
        ClientSpec {
            subject: "etl-agent".into(),
            kind: IdentityKind::Agent,
            groups: vec!["etl".into()],
            targets: vec!["pg".into(), "k8s".into()],
            max_ttl_secs: 900,
            issue_subjects: vec![],
        }
    }

    #[test]
    fn registered_exchanged_narrowed_removed() {
        let dir = tempfile::tempdir().unwrap();
        let c = Clients::open(dir.path().join("clients.json")).unwrap();
        let (client, cred) = c.register(spec(), "op").unwrap();
        assert!(cred.starts_with("hoopc_c_"));
        let text = std::fs::read_to_string(dir.path().join("clients.json")).unwrap();
        assert!(!text.contains(cred.rsplit('_').next().unwrap()), "only the digest is kept");
        let again = Clients::open(dir.path().join("clients.json")).unwrap();
        let found = again.verify(&cred).unwrap();
        assert_eq!(found.id, client.id);
        let t = found.token_spec(None, Some(99_999)).unwrap();
        assert_eq!((t.ttl_secs, t.targets.len()), (900, 2));
        let t = found.token_spec(Some(&["pg".into()]), Some(60)).unwrap();
        assert_eq!((t.ttl_secs, t.targets), (60, vec!["pg".to_string()]));
        assert!(found.token_spec(Some(&["prod".into()]), None).is_err());
        assert!(found.token_spec(Some(&["*".into()]), None).is_err());
        let wrong = format!("{}x", &cred[..cred.len() - 1]);
        assert_eq!(again.verify(&wrong), Err(AuthError::BadSignature));
        assert!(again.verify("hoopc_nope").is_err());
        assert!(again.remove(&client.id).unwrap());
        assert_eq!(again.verify(&cred), Err(AuthError::BadSignature));
        let mut bad = spec();
        bad.groups.push("review".into());
        assert!(c.register(bad, "op").is_err(), "agents never review");
    }
}
