//! Gateway keys, created on first start and persisted in the data dir.
//!
//! Three purposes, each its own directory of keys named by key id: the token signing key
//! (Ed25519), the recording seal key (Ed25519), and the tokenisation key (HMAC-SHA-256).
//! `current` names the key in use; older keys stay to verify what they signed, so keys can
//! rotate. Files are mode 0600: whoever can read them can mint tokens, so holding the data
//! dir is the token-issuing permission for local commands.

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key directory or file could not be read or written.
    #[error("key store {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A key file holds something that is not a key of its purpose.
    #[error("key file {0} is corrupt")]
    Corrupt(PathBuf),
    /// The system random source failed.
    #[error("system random source failed")]
    Random,
}

/// What a key is for; each purpose has its own directory and rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Signs gateway-issued tokens.
    Token,
    /// Signs recording checkpoints and seals.
    Seal,
    /// Keys the HMAC for stable tokenisation of masked values.
    Tokenise,
}

impl KeyPurpose {
    fn dir(self) -> &'static str {
        match self {
            KeyPurpose::Token => "token",
            KeyPurpose::Seal => "seal",
            KeyPurpose::Tokenise => "tokenise",
        }
    }
}

/// An Ed25519 signing key with its id.
pub struct SigningKey {
    /// Key id: the first 16 hex digits of the public key's SHA-256.
    pub kid: String,
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, KeyError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Random)?;
        Self::from_pkcs8(doc.as_ref()).ok_or(KeyError::Random)
    }

    /// Loads a PKCS#8 Ed25519 key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Option<Self> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).ok()?;
        let kid = kid_of(pair.public_key().as_ref());
        Some(SigningKey { kid, pair, pkcs8: pkcs8.to_vec() })
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// The PKCS#8 document (for JWT libraries).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
}

/// A public key with its id, to verify what a [`SigningKey`] signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    /// Key id.
    pub kid: String,
    /// Raw 32-byte Ed25519 public key.
    pub public: Vec<u8>,
}

impl VerifyingKey {
    /// Whether `sig` is this key's signature over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.public).verify(msg, sig).is_ok()
    }
}

/// A symmetric secret with its id.
#[derive(Clone)]
pub struct SecretKey {
    /// Key id.
    pub kid: String,
    /// The secret bytes.
    pub bytes: Arc<[u8]>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The directory holding the gateway's keys.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// Opens (creating if needed, mode 0700) the key store under `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyError> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        Ok(KeyStore { dir })
    }

    /// The directory itself (for state kept with the keys: the seal index's anchor).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The current signing key of `purpose` (Token or Seal), created if none exists.
    pub fn signing_key(&self, purpose: KeyPurpose) -> Result<SigningKey, KeyError> {
        let (path, bytes) = self.current(purpose, || {
            SigningKey::generate().map(|k| (k.kid.clone(), k.pkcs8().to_vec()))
        })?;
        SigningKey::from_pkcs8(&bytes).ok_or(KeyError::Corrupt(path))
    }

    /// Every public key of `purpose`, current and rotated-out, to verify older signatures.
    pub fn verifying_keys(&self, purpose: KeyPurpose) -> Result<Vec<VerifyingKey>, KeyError> {
        self.signing_key(purpose)?;
        let dir = self.dir.join(purpose.dir());
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let path = entry.map_err(|e| io(&dir, e))?.path();
            if path.extension().is_some_and(|e| e == "key") {
                let bytes = fs::read(&path).map_err(|e| io(&path, e))?;
                let k = SigningKey::from_pkcs8(&bytes).ok_or_else(|| KeyError::Corrupt(path.clone()))?;
                out.push(VerifyingKey { kid: k.kid.clone(), public: k.public_key() });
            }
        }
        Ok(out)
    }

    /// The current tokenisation secret, created if none exists.
    pub fn secret(&self, purpose: KeyPurpose) -> Result<SecretKey, KeyError> {
        let (path, bytes) = self.current(purpose, || {
            let mut b = vec![0u8; 32];
            SystemRandom::new().fill(&mut b).map_err(|_| KeyError::Random)?;
            Ok((kid_of(&b), b))
        })?;
        if bytes.len() < 16 {
            return Err(KeyError::Corrupt(path));
        }
        Ok(SecretKey { kid: kid_of(&bytes), bytes: bytes.into() })
    }

    /// Makes a new key current for `purpose`; old keys stay for verification. Returns the new id.
    pub fn rotate(&self, purpose: KeyPurpose) -> Result<String, KeyError> {
        let (kid, bytes) = match purpose {
            KeyPurpose::Tokenise => {
                let mut b = vec![0u8; 32];
                SystemRandom::new().fill(&mut b).map_err(|_| KeyError::Random)?;
                (kid_of(&b), b)
            }
            _ => {
                let k = SigningKey::generate()?;
                (k.kid.clone(), k.pkcs8().to_vec())
            }
        };
        let dir = self.dir.join(purpose.dir());
        create_private_dir(&dir)?;
        write_private(&dir.join(format!("{kid}.key")), &bytes)?;
        let tmp = dir.join(format!(".current.{}", random_hex(4)));
        write_private(&tmp, kid.as_bytes())?;
        let cur = dir.join("current");
        fs::rename(&tmp, &cur).map_err(|e| io(&cur, e))?;
        Ok(kid)
    }

    /// Loads the current key of `purpose`, or creates one with `make` (race-safe across processes).
    fn current(
        &self,
        purpose: KeyPurpose,
        make: impl FnOnce() -> Result<(String, Vec<u8>), KeyError>,
    ) -> Result<(PathBuf, Vec<u8>), KeyError> {
        let dir = self.dir.join(purpose.dir());
        create_private_dir(&dir)?;
        if let Some(found) = read_current(&dir)? {
            return Ok(found);
        }
        let cur = dir.join("current");
        let (kid, bytes) = make()?;
        let path = dir.join(format!("{kid}.key"));
        write_private(&path, &bytes)?;
        // Link rather than rename: if another process won the race, use its key.
        let tmp = dir.join(format!(".current.{}", random_hex(4)));
        write_private(&tmp, kid.as_bytes())?;
        let linked = fs::hard_link(&tmp, &cur);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok((path, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&path);
                read_current(&dir)?.ok_or(KeyError::Corrupt(cur))
            }
            Err(e) => Err(io(&cur, e)),
        }
    }
}

/// Reads the key that `dir/current` names, if there is one.
fn read_current(dir: &Path) -> Result<Option<(PathBuf, Vec<u8>)>, KeyError> {
    let cur = dir.join("current");
    match fs::read_to_string(&cur) {
        Ok(kid) => {
            let kid = kid.trim();
            if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(KeyError::Corrupt(cur));
            }
            let path = dir.join(format!("{kid}.key"));
            let bytes = fs::read(&path).map_err(|e| io(&path, e))?;
            Ok(Some((path, bytes)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&cur, e)),
    }
}

fn io(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io { path: path.to_path_buf(), source }
}

/// Creates `dir` (and parents) with mode 0700 when new.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io(dir, e))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io(path, e))
}

/// The first 16 hex digits of SHA-256 over `bytes`: a short, stable key id.
fn kid_of(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    hex::encode(d.as_ref().get(..8).unwrap_or_default())
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    // SystemRandom only fails when the OS has no entropy source at all; ids then fall
    // back to the clock, which keeps them unique enough for names (never for keys).
    if SystemRandom::new().fill(&mut b).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("{nanos:x}");
    }
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_shared_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = KeyStore::open(dir.path()).unwrap();
        let k1 = a.signing_key(KeyPurpose::Token).unwrap();
        let b = KeyStore::open(dir.path()).unwrap();
        let k2 = b.signing_key(KeyPurpose::Token).unwrap();
        assert_eq!(k1.kid, k2.kid, "a second process sees the same key");
        let path = dir.path().join("token").join(format!("{}.key", k1.kid));
        assert_eq!(fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600);
        let s = a.secret(KeyPurpose::Tokenise).unwrap();
        assert_eq!(s.bytes.len(), 32);
        assert_ne!(a.signing_key(KeyPurpose::Seal).unwrap().kid, k1.kid);
    }

    #[test]
    fn rotation_keeps_old_keys_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(dir.path()).unwrap();
        let old = ks.signing_key(KeyPurpose::Seal).unwrap();
        let sig = old.sign(b"x");
        let new_kid = ks.rotate(KeyPurpose::Seal).unwrap();
        assert_ne!(new_kid, old.kid);
        assert_eq!(ks.signing_key(KeyPurpose::Seal).unwrap().kid, new_kid);
        let keys = ks.verifying_keys(KeyPurpose::Seal).unwrap();
        assert!(keys.iter().any(|k| k.kid == old.kid && k.verify(b"x", &sig)));
    }
}
