//! OIDC tokens from an external issuer, verified against its JWKS, and mapped to identities
//! only through the mappings an operator wrote.
//!
//! A verified token says who the issuer vouches for, not what they may do here: a multi-tenant
//! issuer (a CI provider where anyone picks the audience) vouches for everyone. So each
//! `[[oidc.map]]` requires claims (exact or pattern) and names the kind, groups and targets that
//! follow; the first mapping whose requirements hold decides, and a token no mapping takes is
//! refused. Defaults are narrow: an agent, no groups, no targets.

use super::{AuthError, Peek, https, map_jwt_error};
use crate::identity::{Identity, IdentityKind};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Claim holding the subject (a mapping may name another).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// How tokens become identities, tried in order; no mapping: every token is refused.
    #[serde(default)]
    pub map: Vec<ClaimMapping>,
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
fn default_refresh() -> u64 {
    30
}
/// The NumericDate claim `name` (seconds since the epoch, possibly with a fraction) in whole
/// seconds, `round` choosing which way; absent, not a number or out of range is refused.
fn numeric_date(claims: &serde_json::Value, name: &str, round: fn(f64) -> f64) -> Result<i64, AuthError> {
    let bad = || AuthError::Claim(name.to_string());
    let n = claims.get(name).and_then(|v| v.as_number()).ok_or_else(bad)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    let f = n.as_f64().filter(|f| f.is_finite()).map(round).ok_or_else(bad)?;
    // (An i64 holds every date a token can carry; one past it is refused, not clamped.)
    if !(-9.0e15..=9.0e15).contains(&f) {
        return Err(bad());
    }
    Ok(f as i64)
}

/// Most clock skew an issuer may be given (`leeway_secs`).
pub const MAX_LEEWAY_SECS: i64 = 600;

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
            map: Vec::new(),
            ca_file: None,
            min_refresh_secs: default_refresh(),
            leeway_secs: default_leeway(),
        }
    }
}

/// One way an issuer's tokens become identities (`[[oidc.map]]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    /// Claims that must equal these values (a list claim must contain the value).
    #[serde(default)]
    pub require: BTreeMap<String, String>,
    /// Claims that must match these regular expressions, whole (a list claim: one element).
    #[serde(default)]
    pub require_pattern: BTreeMap<String, String>,
    /// Claim holding the subject (default: the issuer's `subject_claim`).
    #[serde(default)]
    pub subject_claim: Option<String>,
    /// Put before the subject, to keep an issuer's names apart from others (`gh:`).
    #[serde(default)]
    pub subject_prefix: String,
    /// Kind of the identity (default: agent).
    #[serde(default)]
    pub kind: IdentityKind,
    /// Groups the identity gets.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Groups taken from the token's groups claim, if it holds them (others are dropped).
    #[serde(default)]
    pub pass_groups: Vec<String>,
    /// Targets it may reach (default: none).
    #[serde(default)]
    pub targets: Vec<String>,
}

/// A mapping with its patterns compiled.
struct Mapping {
    spec: ClaimMapping,
    patterns: Vec<(String, regex::Regex)>,
}

impl Mapping {
    fn compile(spec: ClaimMapping) -> Result<Self, String> {
        if spec.kind == IdentityKind::Agent && spec.groups.iter().chain(&spec.pass_groups).any(|g| crate::identity::PEOPLE_ONLY_GROUPS.contains(&g.as_str())) {
            return Err("an agent mapping may not grant the review or audit group".into());
        }
        if spec.require.is_empty() && spec.require_pattern.is_empty() {
            return Err("a mapping must require at least one claim".into());
        }
        let mut patterns = Vec::new();
        for (claim, p) in &spec.require_pattern {
            let re = regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| format!("require_pattern.{claim}: {e}"))?;
            patterns.push((claim.clone(), re));
        }
        Ok(Mapping { spec, patterns })
    }

    /// Whether every requirement holds for `claims`.
    fn takes(&self, claims: &serde_json::Value) -> bool {
        self.spec.require.iter().all(|(c, want)| values(claim(claims, c)).iter().any(|v| v == want))
            && self.patterns.iter().all(|(c, re)| values(claim(claims, c)).iter().any(|v| re.is_match(v)))
    }
}

/// A claim's value as strings: a string, number or boolean is one; a list, its scalar elements.
fn values(v: Option<&serde_json::Value>) -> Vec<String> {
    fn scalar(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match v {
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(scalar).collect(),
        Some(other) => scalar(other).into_iter().collect(),
        None => Vec::new(),
    }
}

impl OidcConfig {
    /// Checks what types cannot: mappings compile and grant nothing an agent may never hold.
    pub fn check(&self) -> Result<(), String> {
        for (i, m) in self.map.iter().enumerate() {
            Mapping::compile(m.clone()).map_err(|e| format!("map[{i}]: {e}"))?;
        }
        Ok(())
    }
}

/// With more than one issuer, each issuer's subjects must be told apart from the others': at
/// most one issuer leaves names bare (an empty `subject_prefix`), and no prefix of one issuer
/// starts another's. A subject is who an approval, a revocation, a budget and a client's
/// registrant are; the same name from two issuers would be one person to all of them (red-team
/// identity round 82: with no prefixes, a second issuer's tenant could take a person's subject
/// of the first). The index of the issuer at fault, and why.
pub fn separate_issuers(issuers: &[OidcConfig]) -> Result<(), (usize, String)> {
    let mut bare: Option<usize> = None;
    let mut seen: Vec<(usize, &str)> = Vec::new();
    for (i, o) in issuers.iter().enumerate() {
        for (j, m) in o.map.iter().enumerate() {
            if m.subject_prefix.is_empty() {
                if let Some(k) = bare.filter(|k| *k != i) {
                    return Err((i, format!("map[{j}].subject_prefix is required: oidc[{k}] already leaves its names bare, and the same subject from two issuers would be one identity")));
                }
                bare = Some(i);
                continue;
            }
            if let Some((k, other)) = seen.iter().find(|(k, p)| *k != i && (p.starts_with(m.subject_prefix.as_str()) || m.subject_prefix.starts_with(*p))) {
                return Err((i, format!("map[{j}].subject_prefix {:?} overlaps {other:?} of oidc[{k}]: each issuer needs a prefix of its own", m.subject_prefix)));
            }
        }
        seen.extend(o.map.iter().filter(|m| !m.subject_prefix.is_empty()).map(|m| (i, m.subject_prefix.as_str())));
    }
    Ok(())
}

struct Cache {
    keys: JwkSet,
    fetched: Option<Instant>,
}

/// Verifies tokens of one OIDC issuer; keys are cached and refetched on an unknown `kid`.
pub struct OidcVerifier {
    cfg: OidcConfig,
    map: Vec<Mapping>,
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
        if cfg.leeway_secs > MAX_LEEWAY_SECS as u64 {
            return Err(AuthError::Claim(format!("leeway_secs {} is over {MAX_LEEWAY_SECS}: clocks that far apart are a configuration to fix", cfg.leeway_secs)));
        }
        let map = cfg.map.iter().cloned().map(Mapping::compile).collect::<Result<Vec<_>, _>>().map_err(AuthError::Claim)?;
        Ok(OidcVerifier { cfg, map, tls, cache: Mutex::new(Cache { keys: JwkSet { keys: vec![] }, fetched: None }) })
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
        let doc = https::get_json(&url, self.tls.clone()).await.map_err(fetch_failed)?;
        doc.get("jwks_uri")
            .and_then(|u| u.as_str())
            .map(str::to_string)
            .ok_or_else(|| fetch_failed(format!("{url}: no jwks_uri")))
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
            let doc = https::get_json(&url, self.tls.clone()).await.map_err(fetch_failed)?;
            let set: JwkSet = serde_json::from_value(doc).map_err(|e| fetch_failed(format!("{url}: {e}")))?;
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
        // No longer-lived than a gateway token (red-team identity round 82: a 30-day token with
        // no `jti` logged in directly, and could be stopped only by revoking its subject).
        // Measured from `iat`, which OIDC requires, so that a token lives at most that long
        // wherever in its life it is shown, and a revocation of its id need outlast it by no
        // more (see `revocation::TOKEN_REVOCATION_SECS`).
        // Numbers as the token library read them, fractions and exponents included (red-team
        // identity round 84: `"exp": 1e10` was read as no `exp` here, and a token the library
        // took lived until 2286); `exp` rounded up and `iat` down, the longer life.
        let exp = numeric_date(&claims, "exp", f64::ceil)?;
        let iat = numeric_date(&claims, "iat", f64::floor)?;
        let (now, skew) = (crate::auth::now_secs(), self.cfg.leeway_secs as i64);
        if iat > now + skew {
            return Err(AuthError::NotYetValid);
        }
        // Past a day from `iat` it is refused whatever `exp` says, so that a revocation of its
        // id never needs to outlast that.
        if exp - iat > crate::auth::token::MAX_TTL_SECS || exp > now + crate::auth::token::MAX_TTL_SECS + skew || now > iat + crate::auth::token::MAX_TTL_SECS + skew {
            return Err(AuthError::Claim("exp (hoop takes tokens that live at most 24 h)".into()));
        }
        // A `jti` is what a revocation names this token by: one the list could not hold (a
        // space, a control character, not a string) would make a token that only `subject:`
        // can stop (red-team identity round 84: `"jti": "a b"`). Tokens without one are taken
        // (many issuers' ID tokens carry none) and stopped by their subject.
        if let Some(j) = claims.get("jti") {
            let ok = j.as_str().is_some_and(|j| crate::auth::revocation::canonical(&format!("token:{j}")).is_ok());
            if !ok {
                return Err(AuthError::Claim("jti".into()));
            }
        }
        let Some(mapping) = self.map.iter().find(|m| m.takes(&claims)) else {
            return Err(AuthError::Permission(format!("no mapping of issuer {} takes this token", self.cfg.issuer)));
        };
        let m = &mapping.spec;
        let subject_claim = m.subject_claim.as_deref().unwrap_or(&self.cfg.subject_claim);
        let subject = claim(&claims, subject_claim)
            .and_then(|v| v.as_str())
            .filter(|s| super::grant::printable_name(s))
            .ok_or_else(|| AuthError::Claim(subject_claim.to_string()))?;
        let presented: Vec<String> = match claim(&claims, &self.cfg.groups_claim) {
            Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            other => values(other),
        };
        let mut groups = m.groups.clone();
        groups.extend(presented.into_iter().filter(|g| m.pass_groups.contains(g) && !m.groups.contains(g)));
        Ok(Identity {
            subject: format!("{}{subject}", m.subject_prefix),
            groups,
            issuer: self.cfg.issuer.clone(),
            kind: m.kind,
            targets: m.targets.clone(),
            token_id: claims.get("jti").and_then(|j| j.as_str()).unwrap_or_default().to_string(),
            expires_at: exp,
            credentials: claims.get("jti").and_then(|j| j.as_str()).map(|j| format!("token:{j}")).into_iter().collect(),
            issue_subjects: Vec::new(),
        })
    }
}

/// The issuer's keys could not be fetched: the detail (URLs, TLS errors) goes to the log, the
/// caller, who is not authenticated yet, learns only that.
fn fetch_failed(detail: String) -> AuthError {
    tracing::warn!(%detail, "OIDC issuer keys could not be fetched");
    AuthError::Jwks("the issuer's keys could not be fetched (see the gateway log)".into())
}

/// Looks up a dot-separated claim path.
fn claim<'a>(claims: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(claims, |v, k| v.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(require: &[(&str, &str)], patterns: &[(&str, &str)]) -> Mapping {
        Mapping::compile(ClaimMapping {
            require: require.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            require_pattern: patterns.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn requirements_are_whole_and_all_hold() {
        let claims = serde_json::json!({"repository": "acme/etl", "ref": "refs/heads/main", "groups": ["dba", "x"], "n": 7, "org": {"id": "42"}});
        assert!(mapping(&[("repository", "acme/etl")], &[]).takes(&claims));
        assert!(!mapping(&[("repository", "acme/et")], &[]).takes(&claims));
        assert!(mapping(&[("groups", "dba")], &[]).takes(&claims), "a list holds the value");
        assert!(mapping(&[("n", "7"), ("org.id", "42")], &[]).takes(&claims));
        assert!(mapping(&[], &[("ref", "refs/heads/(main|release)")]).takes(&claims));
        assert!(!mapping(&[], &[("ref", "refs/heads/mai")]).takes(&claims), "patterns match whole");
        assert!(!mapping(&[], &[("repository", "acme/.*"), ("missing", ".*")]).takes(&claims), "a missing claim fails");
        assert!(Mapping::compile(ClaimMapping { groups: vec!["review".into()], require: [("a".into(), "b".into())].into(), ..Default::default() }).is_err());
        // Several issuers: each with prefixes of its own.
        let issuer = |url: &str, prefixes: &[&str]| {
            let mut c = OidcConfig::new(url, "hoop");
            c.map = prefixes.iter().map(|p| ClaimMapping { subject_prefix: p.to_string(), ..Default::default() }).collect();
            c
        };
        assert!(separate_issuers(&[issuer("https://a", &["", ""]), issuer("https://b", &["gh:"])]).is_ok(), "one issuer may keep its names bare");
        assert!(separate_issuers(&[issuer("https://a", &["a:", "a-ci:"]), issuer("https://b", &["b:"])]).is_ok());
        assert_eq!(separate_issuers(&[issuer("https://a", &[""]), issuer("https://b", &["b:"]), issuer("https://c", &[""])]).unwrap_err().0, 2);
        assert!(separate_issuers(&[issuer("https://a", &["corp"]), issuer("https://b", &["corp:"])]).is_err());
        assert!(Mapping::compile(ClaimMapping::default()).is_err(), "a mapping without requirements takes everyone");
    }
}
