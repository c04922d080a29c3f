//! hoop's SSH certificate authority: short-lived OpenSSH user certificates carrying an identity.
//!
//! This is how agents should log in: `ssh-keygen -L` shows the certificate, OpenSSH presents it
//! automatically next to its key, and it expires on its own. The identity travels in the
//! certificate: key id and principal are the subject; kind, groups and targets are extensions.

use crate::SshError;
use hoop_core::identity::{Identity, IdentityKind};
use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::{Certificate, HashAlg};
use russh::keys::{PrivateKey, PublicKey};
use std::path::Path;

/// Extension naming the identity's kind.
const EXT_KIND: &str = "hoop-kind@hoop";
/// Extension listing the identity's groups, comma-separated.
const EXT_GROUPS: &str = "hoop-groups@hoop";
/// Extension listing the targets, comma-separated.
const EXT_TARGETS: &str = "hoop-targets@hoop";
/// Extension listing the credentials the certificate was obtained with (`token:<jti>`,
/// `client:<id>`), comma-separated: revoking one of them ends sessions on the certificate too.
const EXT_FROM: &str = "hoop-from@hoop";
/// Longest certificate lifetime.
pub const MAX_TTL_SECS: u64 = 24 * 3600;

/// What to put in a certificate.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Subject (key id and principal).
    pub subject: String,
    /// Human or agent.
    pub kind: IdentityKind,
    /// Groups.
    pub groups: Vec<String>,
    /// Targets (`*` for all).
    pub targets: Vec<String>,
    /// Lifetime in seconds.
    pub ttl_secs: u64,
    /// Credentials it was obtained with (revocation ids), empty when minted locally.
    pub from: Vec<String>,
}

/// The CA key, kept at `data_dir/ssh/ca_ed25519`.
pub struct SshCa {
    key: PrivateKey,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl SshCa {
    /// Loads the CA key, creating it on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SshError> {
        Ok(SshCa { key: crate::hostkey::load_or_create(&data_dir.join("ssh"), "ca_ed25519")? })
    }

    /// The CA's public key (for `TrustedUserCAKeys` elsewhere, if wanted).
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key().clone()
    }

    /// Issues a user certificate for `key` (an OpenSSH public key line) carrying `spec`.
    pub fn issue(&self, key: &str, spec: &CertSpec) -> Result<Certificate, SshError> {
        let err = |e: &dyn std::fmt::Display| SshError::Config { key: "certificate".into(), message: e.to_string() };
        if spec.subject.is_empty() || spec.subject.contains(',') || spec.from.iter().any(|f| f.contains(',')) {
            return Err(err(&"subject and credentials must be non-empty and free of commas"));
        }
        // What no credential may be, whoever issues it, as for tokens (red-team identity round
        // 89: the operator's local `hoop ssh-cert` signed an agent with `audit`, and `y*`).
        let as_token = hoop_core::auth::token::TokenSpec { subject: spec.subject.clone(), kind: spec.kind, groups: spec.groups.clone(), targets: Vec::new(), ttl_secs: 1 };
        hoop_core::auth::grant::invariants(&as_token).map_err(|e| err(&e))?;
        if spec.ttl_secs == 0 || spec.ttl_secs > MAX_TTL_SECS {
            return Err(err(&format!("ttl must be 1..={MAX_TTL_SECS} seconds")));
        }
        let public = PublicKey::from_openssh(key.trim()).map_err(|e| err(&e))?;
        let mut nonce = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).map_err(|_| err(&"random source failed"))?;
        // A minute of slack for clock skew between gateway and client.
        let start = now().saturating_sub(60);
        let mut b = Builder::new(nonce.to_vec(), public.key_data().clone(), start, now() + spec.ttl_secs).map_err(|e| err(&e))?;
        b.cert_type(CertType::User).map_err(|e| err(&e))?;
        b.key_id(&spec.subject).map_err(|e| err(&e))?;
        b.valid_principal(&spec.subject).map_err(|e| err(&e))?;
        b.serial(u64::from_be_bytes([nonce[0], nonce[1], nonce[2], nonce[3], nonce[4], nonce[5], nonce[6], nonce[7]])).map_err(|e| err(&e))?;
        b.extension("permit-pty", "").map_err(|e| err(&e))?;
        b.extension(EXT_KIND, spec.kind.as_str()).map_err(|e| err(&e))?;
        b.extension(EXT_GROUPS, spec.groups.join(",")).map_err(|e| err(&e))?;
        b.extension(EXT_TARGETS, spec.targets.join(",")).map_err(|e| err(&e))?;
        if !spec.from.is_empty() {
            b.extension(EXT_FROM, spec.from.join(",")).map_err(|e| err(&e))?;
        }
        b.comment(format!("hoop:{}", spec.subject)).map_err(|e| err(&e))?;
        b.sign(&self.key).map_err(|e| err(&e))
    }

    /// The identity a presented certificate carries, if this CA signed it and it is valid now.
    pub fn identity(&self, cert: &Certificate) -> Result<Identity, String> {
        let fp = self.key.public_key().fingerprint(HashAlg::Sha256);
        cert.validate_at(now(), [&fp]).map_err(|e| format!("certificate not valid: {e}"))?;
        if cert.cert_type() != CertType::User {
            return Err("not a user certificate".into());
        }
        if !cert.critical_options().is_empty() {
            return Err("certificate has critical options hoop does not enforce".into());
        }
        let subject = cert.key_id().to_string();
        if subject.is_empty() || !cert.valid_principals().contains(&subject) {
            return Err("certificate principal does not match its key id".into());
        }
        let ext = |k: &str| cert.extensions().get(k).cloned().unwrap_or_default();
        let list = |v: String| v.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>();
        let kind = if ext(EXT_KIND) == "human" { IdentityKind::Human } else { IdentityKind::Agent };
        // Checked again as it is presented: a certificate signed before a rule was added, or
        // by a path that skipped it, still gives an agent none of a person's groups.
        let groups = list(ext(EXT_GROUPS));
        if kind == IdentityKind::Agent && groups.iter().any(|g| hoop_core::identity::PEOPLE_ONLY_GROUPS.contains(&g.as_str())) {
            return Err("an agent's certificate carries a group agents never hold".into());
        }
        if subject.contains('*') {
            return Err("a certificate's subject may not hold `*`".into());
        }
        Ok(Identity {
            subject,
            groups,
            issuer: "hoop-ssh-ca".into(),
            kind,
            targets: list(ext(EXT_TARGETS)),
            token_id: cert.serial().to_string(),
            expires_at: i64::try_from(cert.valid_before()).unwrap_or(i64::MAX),
            // The key is a credential of its own: a revoked key logs in with no certificate.
            credentials: [format!("ssh-cert:{}", cert.serial()), format!("ssh-key:{}", cert.public_key().fingerprint(HashAlg::Sha256))]
                .into_iter()
                .chain(list(ext(EXT_FROM)))
                .collect(),
            issue_subjects: Vec::new(),
        })
    }
}

/// The SHA-256 fingerprint (`SHA256:…`) of an OpenSSH public key line, as revocations name keys.
pub fn key_fingerprint(line: &str) -> Option<String> {
    PublicKey::from_openssh(line.trim()).ok().map(|k| k.fingerprint(HashAlg::Sha256).to_string())
}
