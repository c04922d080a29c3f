//! TLS toward clients: the configured certificate, or a self-signed one made on first start.

use crate::config::TlsConfig;
use std::path::Path;
use std::sync::Arc;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("TLS {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The certificate or key is unusable.
    #[error("TLS: {0}")]
    Invalid(String),
}

fn file_err(path: &Path, e: impl ToString) -> TlsError {
    TlsError::File { path: path.display().to_string(), message: e.to_string() }
}

/// A rustls server config from `cfg`, or from `data_dir/tls/{cert,key}.pem` (created, self-signed
/// for `localhost` and 127.0.0.1, when missing). `alpn` lists the protocols to offer.
pub fn server_config(cfg: &TlsConfig, data_dir: &Path, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (cert_path, key_path) = match (&cfg.cert_file, &cfg.key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => {
            let dir = data_dir.join("tls");
            let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !c.exists() || !k.exists() {
                crate::keys::create_private_dir(&dir).map_err(|e| TlsError::Invalid(e.to_string()))?;
                let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Invalid(e.to_string()))?;
                let params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                    .map_err(|e| TlsError::Invalid(e.to_string()))?;
                let cert = params.self_signed(&key).map_err(|e| TlsError::Invalid(e.to_string()))?;
                write_private(&k, key.serialize_pem().as_bytes())?;
                std::fs::write(&c, cert.pem()).map_err(|e| file_err(&c, e))?;
            }
            (c, k)
        }
        _ => return Err(TlsError::Invalid("tls.cert_file and tls.key_file go together".into())),
    };
    let cert_pem = std::fs::read(&cert_path).map_err(|e| file_err(&cert_path, e))?;
    let key_pem = std::fs::read(&key_path).map_err(|e| file_err(&key_path, e))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(&cert_path, e))?;
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| file_err(&key_path, e))?
        .ok_or_else(|| file_err(&key_path, "no private key found"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut sc = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Invalid(e.to_string()))?;
    sc.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(sc))
}

/// A rustls client config trusting `ca_file` (PEM), or the system roots.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let pem = match ca_file {
        Some(p) => Some(std::fs::read(p).map_err(|e| file_err(p, e))?),
        None => None,
    };
    crate::auth::client_tls(pem.as_deref()).map_err(TlsError::Invalid)
}

/// [`client_config`] that also presents the client certificate `cert_file` (PEM chain) with
/// its key `key_file`, for upstreams that authenticate the gateway by certificate.
pub fn client_config_with_cert(ca_file: Option<&Path>, cert_file: &Path, key_file: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let pem = match ca_file {
        Some(p) => Some(std::fs::read(p).map_err(|e| file_err(p, e))?),
        None => None,
    };
    let cert_pem = std::fs::read(cert_file).map_err(|e| file_err(cert_file, e))?;
    let key_pem = std::fs::read(key_file).map_err(|e| file_err(key_file, e))?;
    let chain: Vec<_> = rustls_pemfile::certs(&mut &cert_pem[..]).collect::<Result<_, _>>().map_err(|e| file_err(cert_file, e))?;
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| file_err(key_file, e))?
        .ok_or_else(|| file_err(key_file, "no private key found"))?;
    crate::auth::https::client_config_with(pem.as_deref(), Some((chain, key))).map_err(TlsError::Invalid)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_err(path, e))?;
    f.write_all(bytes).map_err(|e| file_err(path, e))
}
