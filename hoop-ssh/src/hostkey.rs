//! The gateway's SSH keys (host key, certificate authority): generated on first start and
//! kept in the data dir (mode 0600).

use crate::SshError;
use russh::keys::PrivateKey;
use std::path::Path;

/// Loads the Ed25519 key `dir/name`, creating it if absent.
pub fn load_or_create(dir: &Path, name: &str) -> Result<PrivateKey, SshError> {
    let path = dir.join(name);
    if path.exists() {
        return russh::keys::load_secret_key(&path, None).map_err(|e| SshError::HostKey(format!("{}: {e}", path.display())));
    }
    std::fs::create_dir_all(dir).map_err(|e| SshError::HostKey(format!("{}: {e}", dir.display())))?;
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
        .map_err(|_| SshError::HostKey("the system random source failed".into()))?;
    let key = PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed));
    let pem = key.to_openssh(russh::keys::ssh_key::LineEnding::LF).map_err(|e| SshError::HostKey(e.to_string()))?;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| SshError::HostKey(format!("{}: {e}", path.display())))?;
    f.write_all(pem.as_bytes()).map_err(|e| SshError::HostKey(format!("{}: {e}", path.display())))?;
    Ok(key)
}
