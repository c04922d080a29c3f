//! The back side: logging in to the target host with credentials only the gateway holds,
//! verifying its host key against the configured keys.

use russh::client;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use std::sync::Arc;

/// Why the target host could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// SSH protocol or network failure (including an unknown host key).
    #[error("cannot reach the host: {0}")]
    Ssh(#[from] russh::Error),
    /// The host refused the gateway's credentials.
    #[error("the host refused the gateway's credentials")]
    Refused,
    /// No credentials are configured.
    #[error("no key or password is configured for this target")]
    NoCredentials,
}

/// One SSH target: address, login, and the host keys it must present.
#[derive(Clone)]
pub struct SshTarget {
    /// `host:port`.
    pub addr: String,
    /// Login user on the host.
    pub user: String,
    /// Private key to log in with.
    pub key: Option<Arc<PrivateKey>>,
    /// Password, when no key is configured.
    pub password: Option<String>,
    /// Acceptable host keys.
    pub host_keys: Vec<PublicKey>,
}

impl std::fmt::Debug for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTarget").field("addr", &self.addr).field("user", &self.user).finish_non_exhaustive()
    }
}

/// Verifies the host's key against the configured ones.
pub struct Verifier {
    host_keys: Vec<PublicKey>,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let presented = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data().clone(),
            PublicKeyOrCertificate::Certificate(c) => c.public_key().clone(),
        };
        Ok(self.host_keys.iter().any(|k| *k.key_data() == presented))
    }
}

impl SshTarget {
    /// Connects and logs in.
    pub async fn connect(&self) -> Result<client::Handle<Verifier>, UpstreamError> {
        // Bigger packets and window than the defaults: the host sends bulk output in fewer packets,
        // so less per-packet work on this hop. AES-GCM first: with AES-NI it costs a fraction of
        // ChaCha20-Poly1305, and this hop is hoop's own choice.
        let preferred = russh::Preferred {
            cipher: std::borrow::Cow::Owned(
                [russh::cipher::AES_256_GCM, russh::cipher::CHACHA20_POLY1305, russh::cipher::AES_256_CTR].to_vec(),
            ),
            ..russh::Preferred::default()
        };
        let config = Arc::new(client::Config {
            nodelay: true,
            maximum_packet_size: 65535,
            window_size: 8 << 20,
            preferred,
            ..client::Config::default()
        });
        let verifier = Verifier { host_keys: self.host_keys.clone() };
        let mut handle = client::connect(config, self.addr.as_str(), verifier).await?;
        let result = match (&self.key, &self.password) {
            (Some(key), _) => {
                let hash = handle.best_supported_rsa_hash().await?.flatten();
                handle.authenticate_publickey(&self.user, PrivateKeyWithHashAlg::new(key.clone(), hash)).await?
            }
            (None, Some(pw)) => handle.authenticate_password(&self.user, pw).await?,
            (None, None) => return Err(UpstreamError::NoCredentials),
        };
        if !result.success() {
            return Err(UpstreamError::Refused);
        }
        Ok(handle)
    }
}
