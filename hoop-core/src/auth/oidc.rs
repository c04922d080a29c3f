//! OIDC tokens from an external issuer, verified against its JWKS.

use super::{AuthError, Peek, https, map_jwt_error};
use crate::identity::{Identity, IdentityKind};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// One trusted OIDC issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL, exactly as in the tokens' `iss`.
    pub issuer: String,
    /// Accepted audiences (`aud`); at least one.
    pub audience: Vec<String>,
    /// JWKS URL; discovered from `<issuer>/.well-known/openid-configuration` when absent.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Claim holding groups; dots descend into objects (`realm_access.roles`).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Claim holding the subject.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Kind of the identities this issuer vouches for.
    #[serde(default = "default_kind")]
    pub kind: IdentityKind,
    /// Targets these identities may reach.
    #[serde(default = "default_targets")]
    pub targets: Vec<String>,
    /// PEM CA bundle to trust for the issuer's HTTPS, instead of the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Shortest interval between JWKS refreshes caused by unknown key ids.
    #[serde(default = "default_refresh")]
    pub min_refresh_secs: u64,
    /// Clock skew tolerated on `exp`/`nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_groups_claim() -> String {
    "groups".into()
}
fn default_subject_claim() -> String {
    "sub".into()
}
fn default_kind() -> IdentityKind {
    IdentityKind::Human
}
fn default_targets() -> Vec<String> {
    vec!["*".into()]
}
fn default_refresh() -> u64 {
    30
}
fn default_leeway() -> u64 {
    30
}

impl OidcConfig {
    /// A config with defaults for everything but issuer and audience.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        OidcConfig {
            issuer: issuer.into(),
            audience: vec![audience.into()],
            jwks_uri: None,
            groups_claim: default_groups_claim(),
            subject_claim: default_subject_claim(),
            kind: default_kind(),
            targets: default_targets(),
            ca_file: None,
            min_refresh_secs: default_refresh(),
            leeway_secs: default_leeway(),
        }
    }
}

struct Cache {
    keys: JwkSet,
    fetched: Option<Instant>,
}

/// Verifies tokens of one OIDC issuer; keys are cached and refetched on an unknown `kid`.
pub struct OidcVerifier {
    cfg: OidcConfig,
    tls: Arc<rustls::ClientConfig>,
    cache: Mutex<Cache>,
}

const ALGS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl OidcVerifier {
    /// A verifier for `cfg`; keys are fetched on first use.
    pub fn new(cfg: OidcConfig) -> Result<Self, AuthError> {
        let ca = match &cfg.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| AuthError::Jwks(format!("{}: {e}", p.display())))?),
            None => None,
        };
        let tls = https::client_config(ca.as_deref()).map_err(AuthError::Jwks)?;
        Ok(OidcVerifier { cfg, tls, cache: Mutex::new(Cache { keys: JwkSet { keys: vec![] }, fetched: None }) })
    }

    /// The issuer URL this verifier trusts.
    pub fn issuer(&self) -> &str {
        &self.cfg.issuer
    }

    async fn jwks_uri(&self) -> Result<String, AuthError> {
        if let Some(u) = &self.cfg.jwks_uri {
            return Ok(u.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.cfg.issuer.trim_end_matches('/'));
        let doc = https::get_json(&url, self.tls.clone()).await.map_err(AuthError::Jwks)?;
        doc.get("jwks_uri")
            .and_then(|u| u.as_str())
            .map(str::to_string)
            .ok_or_else(|| AuthError::Jwks(format!("{url}: no jwks_uri")))
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let mut cache = self.cache.lock().await;
        let find = |set: &JwkSet| match kid {
            Some(k) => set.find(k).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let mut jwk = find(&cache.keys);
        let may_refresh = cache
            .fetched
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(self.cfg.min_refresh_secs));
        if jwk.is_none() && may_refresh {
            let url = self.jwks_uri().await?;
            let doc = https::get_json(&url, self.tls.clone()).await.map_err(AuthError::Jwks)?;
            let set: JwkSet = serde_json::from_value(doc).map_err(|e| AuthError::Jwks(format!("{url}: {e}")))?;
            cache.keys = set;
            cache.fetched = Some(Instant::now());
            jwk = find(&cache.keys);
        }
        let jwk = jwk.ok_or_else(|| AuthError::UnknownKey(kid.unwrap_or_default().to_string()))?;
        DecodingKey::from_jwk(&jwk).map_err(|e| AuthError::Jwks(e.to_string()))
    }

    /// Verifies `token` (already peeked) and maps its claims to an identity.
    pub(crate) async fn verify(&self, token: &str, peek: &Peek) -> Result<Identity, AuthError> {
        let alg: Algorithm = peek.alg.parse().map_err(|_| AuthError::Algorithm(peek.alg.clone()))?;
        if !ALGS.contains(&alg) {
            return Err(AuthError::Algorithm(peek.alg.clone()));
        }
        let key = self.key_for(peek.kid.as_deref()).await?;
        let mut v = Validation::new(alg);
        v.leeway = self.cfg.leeway_secs;
        v.validate_nbf = true;
        v.set_audience(&self.cfg.audience);
        v.set_issuer(&[&self.cfg.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).map_err(|e| match map_jwt_error(e) {
            AuthError::WrongIssuer(_) => AuthError::WrongIssuer(peek.iss.clone()),
            other => other,
        })?;
        let claims = data.claims;
        let subject = claim(&claims, &self.cfg.subject_claim)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::Claim(self.cfg.subject_claim.clone()))?
            .to_string();
        let groups = match claim(&claims, &self.cfg.groups_claim) {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect(),
            Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            _ => Vec::new(),
        };
        Ok(Identity {
            subject,
            groups,
            issuer: self.cfg.issuer.clone(),
            kind: self.cfg.kind,
            targets: self.cfg.targets.clone(),
            token_id: claims.get("jti").and_then(|j| j.as_str()).unwrap_or_default().to_string(),
            expires_at: claims.get("exp").and_then(|e| e.as_i64()).unwrap_or_default(),
        })
    }
}

/// Looks up a dot-separated claim path.
fn claim<'a>(claims: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(claims, |v, k| v.get(k))
}
