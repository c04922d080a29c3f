//! SCRAM-SHA-256 (RFC 5802/7677), both sides, on ring.
//!
//! The client side logs in to the upstream server with the gateway's credentials; the server
//! side lets non-human identities with a configured static secret log in to hoop itself.
//! Channel binding is not used: hoop declares `n` (no support), which servers accept.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use std::num::NonZeroU32;

/// The mechanism name.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// Iterations for secrets hoop derives itself.
const ITERATIONS: u32 = 4096;

/// Why a SCRAM exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// A message does not follow the grammar.
    #[error("malformed SCRAM message")]
    Malformed,
    /// Nonces do not match.
    #[error("SCRAM nonce mismatch")]
    Nonce,
    /// The proof or the server signature is wrong.
    #[error("SCRAM authentication failed")]
    Failed,
    /// Channel binding was asked for but not offered.
    #[error("SCRAM channel binding is not supported here")]
    ChannelBinding,
}

fn nonce() -> String {
    let mut b = [0u8; 18];
    // A failing system RNG leaves zeros: the exchange then fails its proof rather than panicking.
    let _ = SystemRandom::new().fill(&mut b);
    B64.encode(b)
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg).as_ref().to_vec()
}

fn sha256(b: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, b).as_ref().to_vec()
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let iters = NonZeroU32::new(iterations.max(1)).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iters, salt, password.as_bytes(), &mut out);
    out
}

fn attr(msg: &str, key: char) -> Option<&str> {
    msg.split(',').find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Equality that takes the same time wherever the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// The client side of one exchange.
pub struct ScramClient {
    password: String,
    client_nonce: String,
    client_first_bare: String,
    server_signature: Vec<u8>,
}

impl ScramClient {
    /// Starts an exchange for `password`.
    pub fn new(password: &str) -> Self {
        let client_nonce = nonce();
        let client_first_bare = format!("n=,r={client_nonce}");
        ScramClient { password: password.into(), client_nonce, client_first_bare, server_signature: Vec::new() }
    }

    /// The client-first message (with the `n,,` header).
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Takes the server-first message and returns the client-final message.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, ScramError> {
        let nonce = attr(server_first, 'r').ok_or(ScramError::Malformed)?;
        if !nonce.starts_with(&self.client_nonce) {
            return Err(ScramError::Nonce);
        }
        let salt = B64.decode(attr(server_first, 's').ok_or(ScramError::Malformed)?).map_err(|_| ScramError::Malformed)?;
        let iterations: u32 = attr(server_first, 'i').and_then(|i| i.parse().ok()).ok_or(ScramError::Malformed)?;
        let salted = salted_password(&self.password, &salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key = sha256(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac_sha256(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &signature);
        let server_key = hmac_sha256(&salted, b"Server Key");
        self.server_signature = hmac_sha256(&server_key, auth_message.as_bytes());
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server-final message.
    pub fn verify_server(&self, server_final: &str) -> Result<(), ScramError> {
        let v = attr(server_final, 'v').ok_or(ScramError::Failed)?;
        let v = B64.decode(v).map_err(|_| ScramError::Malformed)?;
        if !self.server_signature.is_empty() && ct_eq(&v, &self.server_signature) {
            Ok(())
        } else {
            Err(ScramError::Failed)
        }
    }
}

/// What the server keeps of a secret: never the secret itself.
#[derive(Clone)]
pub struct ScramVerifier {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramVerifier(<redacted>)")
    }
}

impl ScramVerifier {
    /// Derives the verifier of `secret` with a fresh salt.
    pub fn new(secret: &str) -> Self {
        let mut salt = vec![0u8; 16];
        let _ = SystemRandom::new().fill(&mut salt);
        let salted = salted_password(secret, &salt, ITERATIONS);
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramVerifier {
            salt,
            iterations: ITERATIONS,
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }
}

/// The server side of one exchange.
pub struct ScramServer {
    verifier: ScramVerifier,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ScramServer {
    /// Takes the client-first message; returns the exchange and the server-first message.
    pub fn start(verifier: ScramVerifier, client_first: &str) -> Result<(Self, String), ScramError> {
        let (header, bare) = match client_first.get(..3) {
            Some("n,,") | Some("y,,") => (client_first.get(..3).unwrap_or_default(), client_first.get(3..).unwrap_or_default()),
            _ if client_first.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed),
        };
        let _ = header;
        let client_nonce = attr(bare, 'r').ok_or(ScramError::Malformed)?;
        let nonce = format!("{client_nonce}{}", nonce());
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&verifier.salt), verifier.iterations);
        Ok((ScramServer { verifier, client_first_bare: bare.to_string(), server_first: server_first.clone(), nonce }, server_first))
    }

    /// Takes the client-final message; on a valid proof returns the server-final message.
    pub fn finish(&self, client_final: &str) -> Result<String, ScramError> {
        let nonce = attr(client_final, 'r').ok_or(ScramError::Malformed)?;
        if nonce != self.nonce {
            return Err(ScramError::Nonce);
        }
        let binding = attr(client_final, 'c').ok_or(ScramError::Malformed)?;
        if binding != "biws" && binding != "eSws" {
            return Err(ScramError::ChannelBinding);
        }
        let proof = B64.decode(attr(client_final, 'p').ok_or(ScramError::Malformed)?).map_err(|_| ScramError::Malformed)?;
        let without_proof = client_final.rsplit_once(",p=").map(|(w, _)| w).ok_or(ScramError::Malformed)?;
        let auth_message = format!("{},{},{without_proof}", self.client_first_bare, self.server_first);
        let signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(ScramError::Failed);
        }
        let client_key = xor(&proof, &signature);
        if !ct_eq(&sha256(&client_key), &self.verifier.stored_key) {
            return Err(ScramError::Failed);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

/// The md5 password response: `md5` + md5(md5(password + user) + salt), hex.
pub fn md5_response(user: &str, password: &str, salt: &[u8]) -> String {
    use md5::{Digest, Md5};
    let inner = hex_lower(&Md5::digest(format!("{password}{user}").as_bytes()));
    let mut h = Md5::new();
    h.update(inner.as_bytes());
    h.update(salt);
    format!("md5{}", hex_lower(&h.finalize()))
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_server_agree() {
        let v = ScramVerifier::new("correct horse battery staple");
        let mut c = ScramClient::new("correct horse battery staple");
        let (s, server_first) = ScramServer::start(v.clone(), &c.client_first()).unwrap();
        let client_final = c.client_final(&server_first).unwrap();
        let server_final = s.finish(&client_final).unwrap();
        c.verify_server(&server_final).unwrap();

        let mut wrong = ScramClient::new("wrong");
        let (s, server_first) = ScramServer::start(v, &wrong.client_first()).unwrap();
        assert_eq!(s.finish(&wrong.client_final(&server_first).unwrap()), Err(ScramError::Failed));
        assert!(ScramServer::start(ScramVerifier::new("x"), "garbage").is_err());
    }

    #[test]
    fn md5_matches_postgres() {
        // md5('secret' || 'postgres') = 'fa3a2d5d3e3a1b3e...' is what Postgres stores; here we
        // only check the shape and determinism.
        let a = md5_response("postgres", "secret", b"abcd");
        assert!(a.starts_with("md5") && a.len() == 35);
        assert_eq!(a, md5_response("postgres", "secret", b"abcd"));
    }
}
