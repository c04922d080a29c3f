//! Running programs, possibly as another user, and finding free ports.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Why a server could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A program could not be run or failed.
    #[error("{program}: {message}")]
    Command {
        /// The program.
        program: String,
        /// Its error output or the OS error.
        message: String,
    },
    /// A file operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A required program is not installed.
    #[error("{0} not found; install it (see README)")]
    Missing(String),
    /// Certificate generation failed.
    #[error("certificate: {0}")]
    Cert(String),
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> Result<u16, HarnessError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs `program args` as `user` (via runuser, when root and a user is given), failing on a non-zero exit.
pub(crate) fn run_as(user: Option<&str>, program: &Path, args: &[&str]) -> Result<Output, HarnessError> {
    let mut c = match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    };
    c.args(args).stdin(Stdio::null());
    let out = c.output().map_err(|e| HarnessError::Command { program: program.display().to_string(), message: e.to_string() })?;
    if !out.status.success() {
        return Err(HarnessError::Command {
            program: program.display().to_string(),
            message: format!(
                "{} {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(out)
}

/// Makes `path` owned by `user` (recursively).
pub(crate) fn chown(user: &str, path: &Path) -> Result<(), HarnessError> {
    run_as(None, Path::new("chown"), &["-R", user, &path.display().to_string()]).map(|_| ())
}

/// Starts a detached watchdog that runs `cleanup` (a shell snippet) once this process is gone.
pub(crate) fn watchdog(cleanup: &str) -> Result<(), HarnessError> {
    let pid = std::process::id();
    let script = format!("while kill -0 {pid} 2>/dev/null; do sleep 1; done; {cleanup}");
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| HarnessError::Command { program: "setsid".into(), message: e.to_string() })?;
    Ok(())
}

/// Self-signed certificate and key (PEM) for `localhost` and 127.0.0.1.
pub(crate) fn localhost_cert() -> Result<(String, String), HarnessError> {
    let key = rcgen::KeyPair::generate().map_err(|e| HarnessError::Cert(e.to_string()))?;
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(|e| HarnessError::Cert(e.to_string()))?;
    let cert = params.self_signed(&key).map_err(|e| HarnessError::Cert(e.to_string()))?;
    Ok((cert.pem(), key.serialize_pem()))
}
