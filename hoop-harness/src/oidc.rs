//! A real OpenID Connect provider (npm `oidc-provider`, under node) on loopback HTTPS, and the
//! token flows tests need from it: client credentials for agents, an authorization-code login
//! for people. See `oidc/README.md` for its clients and accounts.

use crate::cmd::HarnessError;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// The directory of the provider's scripts and `package.json`.
fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// Installs the provider's npm package once (`npm ci`), when it is not there yet.
fn install() -> Result<(), HarnessError> {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if *done || scripts().join("node_modules/oidc-provider/package.json").exists() {
        *done = true;
        return Ok(());
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(scripts())
        .stdin(Stdio::null())
        .output()
        .map_err(|_| HarnessError::Missing("npm (Node.js)".into()))?;
    if !out.status.success() {
        return Err(HarnessError::Command { program: "npm ci".into(), message: String::from_utf8_lossy(&out.stderr).into_owned() });
    }
    *done = true;
    Ok(())
}

/// A running provider; stopped (its stdin closed, then killed) when dropped.
pub struct OidcProvider {
    child: Child,
    stdin: Option<ChildStdin>,
    _dir: tempfile::TempDir,
    issuer: String,
    ca: PathBuf,
}

impl OidcProvider {
    /// Starts the provider with a fresh certificate for `localhost` on a free port.
    pub fn start() -> Result<Self, HarnessError> {
        install()?;
        let dir = tempfile::tempdir()?;
        let cert_err = |e: rcgen::Error| HarnessError::Cert(e.to_string());
        let key = rcgen::KeyPair::generate().map_err(cert_err)?;
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).map_err(cert_err)?.self_signed(&key).map_err(cert_err)?;
        let (ca, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&ca, cert.pem())?;
        std::fs::write(&key_file, key.serialize_pem())?;
        let mut child = Command::new("node")
            .arg(scripts().join("provider.mjs"))
            .arg("--cert")
            .arg(&ca)
            .arg("--key")
            .arg(&key_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|_| HarnessError::Missing("node (Node.js)".into()))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            std::io::BufReader::new(out).read_line(&mut line)?;
        }
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let Some(issuer) = ready.get("issuer").and_then(|i| i.as_str()).map(str::to_string) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HarnessError::Command { program: "node provider.mjs".into(), message: format!("did not start: {line:?}") });
        };
        let stdin = child.stdin.take();
        Ok(OidcProvider { child, stdin, _dir: dir, issuer, ca })
    }

    /// The issuer URL (`https://localhost:<port>`), as in its tokens' `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The PEM certificate to trust for its HTTPS.
    pub fn ca_file(&self) -> &Path {
        &self.ca
    }

    /// A JWT access token for `client` (audience `https://hoop.test`), by client credentials.
    pub fn client_credentials(&self, client: &str, secret: &str) -> Result<String, HarnessError> {
        self.flow(&["client-credentials", "--client-id", client, "--secret", secret])
    }

    /// An ID token for `user` of the `human-app` client, by a browser-like authorization-code login.
    pub fn login(&self, user: &str) -> Result<String, HarnessError> {
        self.flow(&["login", "--client-id", "human-app", "--secret", "human-app-secret-0123456789abcdef", "--user", user])
    }

    fn flow(&self, args: &[&str]) -> Result<String, HarnessError> {
        let out = Command::new("node")
            .arg(scripts().join("flows.mjs"))
            .args(args)
            .args(["--issuer", &self.issuer, "--ca"])
            .arg(&self.ca)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(HarnessError::Command { program: "node flows.mjs".into(), message: String::from_utf8_lossy(&out.stderr).into_owned() });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
