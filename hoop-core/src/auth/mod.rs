//! Authentication: turning a presented credential into an [`Identity`].
//!
//! Two token families are accepted: tokens the gateway issued itself ([`token`], EdDSA JWTs)
//! and tokens from an external OIDC issuer ([`oidc`], verified against its JWKS). The
//! [`TokenAuthenticator`] picks the verifier by the token's `iss` claim.

pub mod clients;
pub mod grant;
pub(crate) mod https;
pub mod oidc;
pub mod revocation;
pub mod token;

use crate::identity::Identity;
use base64::Engine;
use std::sync::Arc;

pub use clients::{Client, ClientSpec, Clients};
pub use oidc::{OidcConfig, OidcVerifier};
pub use revocation::{Revocation, Revocations};
pub use token::{TokenIssuer, TokenSpec, TokenVerifier};

/// Why a credential was refused. The message is safe to show the caller: it never echoes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a JWT at all, or its parts do not decode.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The token asks for no signature.
    #[error("unsigned tokens (alg: none) are refused")]
    AlgNone,
    /// The token uses an algorithm this issuer does not allow.
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    /// The signature does not verify: forged or altered.
    #[error("bad signature")]
    BadSignature,
    /// No key with the token's key id.
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `aud` does not name this gateway.
    #[error("wrong audience")]
    WrongAudience,
    /// `iss` is not a configured issuer.
    #[error("untrusted issuer {0:?}")]
    WrongIssuer(String),
    /// A required claim is missing or has the wrong type.
    #[error("missing or invalid claim {0}")]
    Claim(String),
    /// The credential, or its subject, was revoked.
    #[error("credential revoked")]
    Revoked,
    /// The issuer's keys could not be fetched.
    #[error("cannot fetch issuer keys: {0}")]
    Jwks(String),
    /// The identity may not reach the requested target.
    #[error("identity {subject} may not reach target {target}")]
    TargetNotAllowed {
        /// The identity.
        subject: String,
        /// The target asked for.
        target: String,
    },
    /// The caller lacks a permission (e.g. issuing tokens).
    #[error("permission denied: {0}")]
    Permission(String),
}

/// A credential as presented on the wire.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// A bearer token (JWT): a Postgres password, a Kubernetes bearer token, an SSH password.
    Token(&'a str),
    /// An identity the adapter proved itself, e.g. by a SCRAM exchange against a configured
    /// static secret or an SSH certificate signed by hoop's CA. Authenticators are not asked.
    Verified(&'a Identity),
}

/// Turns credentials into identities. Implement it to plug in another identity source.
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Verifies `credential` and returns who presented it.
    async fn authenticate(&self, credential: Credential<'_>) -> Result<Identity, AuthError>;
}

/// Verifies gateway tokens and OIDC tokens. Revocation is the gate's: see [`Revocations`].
#[derive(Default)]
pub struct TokenAuthenticator {
    gateway: Option<TokenVerifier>,
    oidc: Vec<OidcVerifier>,
}

impl TokenAuthenticator {
    /// An authenticator accepting gateway tokens verified by `gateway`.
    pub fn new(gateway: TokenVerifier) -> Self {
        TokenAuthenticator { gateway: Some(gateway), ..Default::default() }
    }

    /// Also accept tokens from an OIDC issuer.
    pub fn with_oidc(mut self, verifier: OidcVerifier) -> Self {
        self.oidc.push(verifier);
        self
    }
}

#[async_trait::async_trait]
impl Authenticator for TokenAuthenticator {
    async fn authenticate(&self, credential: Credential<'_>) -> Result<Identity, AuthError> {
        let token = match credential {
            Credential::Token(t) => t,
            Credential::Verified(id) => return Ok(id.clone()),
        };
        let peek = peek(token)?;
        let identity = match (&self.gateway, peek.iss.as_str()) {
            (Some(g), token::ISSUER) => g.verify(token)?,
            (_, iss) => match self.oidc.iter().find(|o| o.issuer() == iss) {
                Some(o) => o.verify(token, &peek).await?,
                None => return Err(AuthError::WrongIssuer(iss.to_string())),
            },
        };
        Ok(identity)
    }
}

/// The unverified header and issuer of a JWT: enough to choose a verifier, never to trust.
#[derive(Debug, Clone)]
pub(crate) struct Peek {
    pub alg: String,
    pub kid: Option<String>,
    pub iss: String,
}

/// Reads a JWT's header and `iss` without verifying, refusing `alg: none` up front.
pub(crate) fn peek(token: &str) -> Result<Peek, AuthError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(AuthError::Malformed("expected three dot-separated parts".into()));
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: serde_json::Value = b64
        .decode(h.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| AuthError::Malformed("header is not base64url JSON".into()))?;
    let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or_default().to_string();
    if alg.is_empty() || alg.eq_ignore_ascii_case("none") {
        return Err(AuthError::AlgNone);
    }
    // RFC 7515 §4.1.11: a header naming extensions the recipient must understand, and hoop
    // understands none, is refused.
    if header.get("crit").is_some() {
        return Err(AuthError::Malformed("the header names critical extensions (crit), which hoop does not understand".into()));
    }
    let kid = header.get("kid").and_then(|k| k.as_str()).map(str::to_string);
    let payload: serde_json::Value = b64
        .decode(p.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| AuthError::Malformed("payload is not base64url JSON".into()))?;
    let iss = payload.get("iss").and_then(|i| i.as_str()).unwrap_or_default().to_string();
    Ok(Peek { alg, kid, iss })
}

/// Maps the JWT library's refusals to ours.
pub(crate) fn map_jwt_error(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidAudience => AuthError::WrongAudience,
        K::InvalidIssuer => AuthError::WrongIssuer(String::new()),
        K::InvalidSignature => AuthError::BadSignature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName => AuthError::Algorithm("of this token".into()),
        K::MissingRequiredClaim(c) => AuthError::Claim(c.clone()),
        K::Json(_) => AuthError::Claim("(claims do not match the expected types)".into()),
        _ => AuthError::Malformed(e.to_string()),
    }
}

/// A TLS client config trusting `ca_pem` (PEM bundle) if given, else the system's roots.
pub fn client_tls(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    https::client_config(ca_pem)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    // Not chrono's `Utc::now`: it builds a calendar date, and this runs several times per
    // statement (profiles showed it).
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    }
}

/// Shared handle to an authenticator.
pub type SharedAuthenticator = Arc<dyn Authenticator>;
