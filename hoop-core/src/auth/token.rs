//! Gateway-issued tokens: short-lived EdDSA JWTs naming subject, kind, groups and targets.

use super::{AuthError, grant, map_jwt_error, now_secs, peek};
use crate::identity::{Identity, IdentityKind};
use crate::keys::{KeyError, KeyPurpose, KeyStore, SigningKey, VerifyingKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The `iss` of gateway tokens.
pub const ISSUER: &str = "hoop";
/// The `aud` of gateway tokens.
pub const AUDIENCE: &str = "hoop";
/// Group that may issue tokens through the gateway's API.
pub const ISSUE_GROUP: &str = "token-issuer";
/// Longest lifetime a token may be issued for.
pub const MAX_TTL_SECS: i64 = 24 * 3600;

/// The claims of a gateway token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
    kind: IdentityKind,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    targets: Vec<String>,
    /// Credentials this token was obtained with (`client:<id>`), so revoking them ends it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    from: Vec<String>,
    /// Subject patterns it may issue for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    may_issue: Vec<String>,
}

/// What to put in a new token.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// Subject.
    pub subject: String,
    /// Human or agent.
    pub kind: IdentityKind,
    /// Groups.
    pub groups: Vec<String>,
    /// Targets it may reach (`*` for all).
    pub targets: Vec<String>,
    /// Lifetime in seconds (at most [`MAX_TTL_SECS`]).
    pub ttl_secs: i64,
}

/// Signs gateway tokens with the data dir's current token key.
pub struct TokenIssuer {
    key: SigningKey,
}

impl TokenIssuer {
    /// An issuer using the key store's current token key (creating it on first use).
    pub fn from_store(store: &KeyStore) -> Result<Self, KeyError> {
        Ok(TokenIssuer { key: store.signing_key(KeyPurpose::Token)? })
    }

    /// Issues a token on behalf of `requester`, within its grant (see [`grant::bound`]); the
    /// token is also ended when the requester's credentials are revoked.
    pub fn issue_for(&self, requester: &Identity, spec: &TokenSpec) -> Result<String, AuthError> {
        let mut spec = spec.clone();
        grant::bound(requester, &mut spec, now_secs())?;
        self.issue_with(&spec, &grant::lineage(requester), &[])
    }

    /// Issues a token. Holding the signing key is the permission, so only local tools call this.
    pub fn issue(&self, spec: &TokenSpec) -> Result<String, AuthError> {
        self.issue_with(spec, &[], &[])
    }

    /// Issues a token obtained with the credentials `from` (revoking one ends the token),
    /// allowed to issue for the subject patterns `may_issue`.
    pub fn issue_with(&self, spec: &TokenSpec, from: &[String], may_issue: &[String]) -> Result<String, AuthError> {
        grant::invariants(spec)?;
        if spec.ttl_secs <= 0 || spec.ttl_secs > MAX_TTL_SECS {
            return Err(AuthError::Claim(format!("ttl must be 1..={MAX_TTL_SECS} seconds")));
        }
        let now = now_secs();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: spec.subject.clone(),
            iat: now,
            nbf: now,
            exp: now + spec.ttl_secs,
            jti: crate::keys::random_hex(12),
            kind: spec.kind,
            groups: spec.groups.clone(),
            targets: spec.targets.clone(),
            from: from.to_vec(),
            may_issue: may_issue.to_vec(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(self.key.pkcs8()))
            .map_err(|e| AuthError::Malformed(e.to_string()))
    }
}

impl TokenVerifier {
    /// The `exp` of a token this gateway just issued (unverified: for telling the caller).
    pub fn expiry_of(token: &str) -> i64 {
        use base64::Engine;
        token
            .split('.')
            .nth(1)
            .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|c| c.get("exp").and_then(|e| e.as_i64()))
            .unwrap_or_default()
    }
}

/// Verifies gateway tokens against every token key in the data dir (so rotation keeps old tokens valid).
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Vec<VerifyingKey>,
    leeway_secs: u64,
}

impl TokenVerifier {
    /// A verifier for the key store's token keys.
    pub fn from_store(store: &KeyStore) -> Result<Self, KeyError> {
        Ok(TokenVerifier { keys: store.verifying_keys(KeyPurpose::Token)?, leeway_secs: 5 })
    }

    /// Verifies `token` and returns its identity.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let p = peek(token)?;
        if p.alg != "EdDSA" {
            return Err(AuthError::Algorithm(p.alg));
        }
        let kid = p.kid.unwrap_or_default();
        let key = self.keys.iter().find(|k| k.kid == kid).ok_or(AuthError::UnknownKey(kid))?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.leeway = self.leeway_secs;
        v.validate_nbf = true;
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_ed_der(&key.public), &v)
            .map_err(map_jwt_error)?;
        let c = data.claims;
        // What `issue` never makes is refused too, whoever signed it (red-team identity round
        // 81 signed such tokens with the data dir's key): a token that cannot be revoked by its
        // id, one issued in the future, or one that lives longer than a gateway token can.
        let now = super::now_secs();
        let skew = self.leeway_secs as i64;
        if c.jti.is_empty() {
            return Err(AuthError::Claim("jti".into()));
        }
        if c.iat > now + skew {
            return Err(AuthError::NotYetValid);
        }
        if c.exp - c.iat > MAX_TTL_SECS || c.exp > now + MAX_TTL_SECS + skew {
            return Err(AuthError::Claim("exp (a gateway token lives at most 24 h)".into()));
        }
        let mut credentials = vec![format!("token:{}", c.jti)];
        credentials.extend(c.from);
        Ok(Identity {
            subject: c.sub,
            groups: c.groups,
            issuer: ISSUER.into(),
            kind: c.kind,
            targets: c.targets,
            token_id: c.jti,
            expires_at: c.exp,
            credentials,
            issue_subjects: c.may_issue,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn spec(ttl: i64) -> TokenSpec {
        TokenSpec {
            subject: "agent-1".into(),
            kind: IdentityKind::Agent,
            groups: vec!["etl".into()],
            targets: vec!["pg".into()],
            ttl_secs: ttl,
        }
    }

    fn setup() -> (tempfile::TempDir, TokenIssuer, TokenVerifier) {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(dir.path()).unwrap();
        let issuer = TokenIssuer::from_store(&ks).unwrap();
        let verifier = TokenVerifier::from_store(&ks).unwrap();
        (dir, issuer, verifier)
    }

    fn reencode(token: &str, f: impl FnOnce(&mut serde_json::Value, &mut serde_json::Value)) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = token.split('.').collect();
        let mut h: serde_json::Value = serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
        let mut p: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        f(&mut h, &mut p);
        format!(
            "{}.{}.{}",
            b64.encode(h.to_string()),
            b64.encode(p.to_string()),
            parts[2]
        )
    }

    #[test]
    fn round_trip() {
        let (_d, i, v) = setup();
        let t = i.issue(&spec(60)).unwrap();
        let id = v.verify(&t).unwrap();
        assert_eq!(id.subject, "agent-1");
        assert_eq!(id.kind, IdentityKind::Agent);
        assert_eq!(id.groups, ["etl"]);
        assert_eq!(id.targets, ["pg"]);
        assert!(!id.token_id.is_empty());
    }

    #[test]
    fn refusals() {
        let (_d, i, v) = setup();
        let t = i.issue(&spec(60)).unwrap();
        // Expired and not-yet-valid, re-signed with the real key so only the times are wrong.
        let claims = |exp: i64, nbf: i64| Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "a".into(),
            iat: nbf,
            nbf,
            exp,
            jti: "j".into(),
            kind: IdentityKind::Agent,
            groups: vec![],
            targets: vec![],
            from: vec![],
            may_issue: vec![],
        };
        let sign = |c: &Claims| {
            let mut h = Header::new(Algorithm::EdDSA);
            h.kid = Some(i.key.kid.clone());
            jsonwebtoken::encode(&h, c, &EncodingKey::from_ed_der(i.key.pkcs8())).unwrap()
        };
        let now = now_secs();
        assert_eq!(v.verify(&sign(&claims(now - 100, now - 200))), Err(AuthError::Expired));
        assert_eq!(v.verify(&sign(&claims(now + 500, now + 100))), Err(AuthError::NotYetValid));
        let mut wrong_aud = claims(now + 60, now);
        wrong_aud.aud = "someone-else".into();
        assert_eq!(v.verify(&sign(&wrong_aud)), Err(AuthError::WrongAudience));
        // Forged: payload changed after signing.
        let forged = reencode(&t, |_, p| p["sub"] = "admin".into());
        assert_eq!(v.verify(&forged), Err(AuthError::BadSignature));
        // alg: none.
        let none = reencode(&t, |h, _| h["alg"] = "none".into());
        assert_eq!(v.verify(&none), Err(AuthError::AlgNone));
        let hs = reencode(&t, |h, _| h["alg"] = "HS256".into());
        assert!(matches!(v.verify(&hs), Err(AuthError::Algorithm(_))));
        // A key this gateway never had.
        let other_dir = tempfile::tempdir().unwrap();
        let other = TokenIssuer::from_store(&KeyStore::open(other_dir.path()).unwrap()).unwrap();
        assert!(matches!(v.verify(&other.issue(&spec(60)).unwrap()), Err(AuthError::UnknownKey(_))));
        assert!(matches!(v.verify("garbage"), Err(AuthError::Malformed(_))));
        assert!(i.issue(&spec(MAX_TTL_SECS + 1)).is_err());
        // Red-team identity round 81: signed with the real key, what `issue` never makes.
        let ten_years = claims(now + 10 * 365 * 86_400, now);
        assert!(matches!(v.verify(&sign(&ten_years)), Err(AuthError::Claim(_))));
        let mut no_jti = claims(now + 60, now);
        no_jti.jti = String::new();
        assert_eq!(v.verify(&sign(&no_jti)), Err(AuthError::Claim("jti".into())));
        let mut future = claims(now + 600, now - 10);
        future.iat = now + 300;
        assert_eq!(v.verify(&sign(&future)), Err(AuthError::NotYetValid));
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(i.key.kid.clone());
        let crit = reencode(&jsonwebtoken::encode(&h, &claims(now + 60, now), &EncodingKey::from_ed_der(i.key.pkcs8())).unwrap(), |h, _| h["crit"] = serde_json::json!(["x-hoop"]));
        assert!(matches!(v.verify(&crit), Err(AuthError::Malformed(_))));
        assert!(v.verify(&sign(&claims(now + 60, now))).is_ok(), "a token issue would make");
    }

    #[test]
    fn issuing_is_a_permission() {
        let (_d, i, _v) = setup();
        let plain = Identity::new("bob", IdentityKind::Human);
        assert!(matches!(i.issue_for(&plain, &spec(60)), Err(AuthError::Permission(_))));
        let mut admin = Identity::new("root", IdentityKind::Human);
        admin.groups.extend([ISSUE_GROUP.into(), "etl".into()]);
        admin.issue_subjects = vec!["agent-*".into()];
        admin.credentials = vec!["client:c_1".into()];
        let t = i.issue_for(&admin, &spec(60)).unwrap();
        let id = _v.verify(&t).unwrap();
        assert_eq!(
            id.credentials,
            [format!("token:{}", id.token_id), "client:c_1".into(), "subject:root".into()],
            "revoking the issuer's client or subject ends it"
        );
        let mut review = spec(60);
        review.groups = vec!["review".into()];
        assert!(i.issue(&review).is_err(), "not even the data dir's key makes an agent a reviewer");
    }
}
