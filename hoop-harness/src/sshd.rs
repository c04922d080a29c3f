//! A throwaway OpenSSH server.

use crate::cmd::{HarnessError, chown, free_port, is_root, run_as, watchdog};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start sshd.
#[derive(Debug, Clone)]
#[derive(Default)]
pub struct SshdOptions {
    /// Login user; created with `useradd -m` when the tests run as root and it is missing.
    /// Defaults to `hooptest` as root, else the current user.
    pub user: Option<String>,
    /// Variables every session on the host starts with (sshd's `SetEnv`): the host's own
    /// environment, such as its default locale.
    pub env: Vec<(String, String)>,
    /// sshd's `MaxSessions` (sessions one connection may hold), when not OpenSSH's default 10.
    pub max_sessions: Option<u32>,
}


/// A running sshd with a client key authorised for its user; stopped and deleted on drop.
pub struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
    user: String,
}

fn sshd_bin() -> Result<PathBuf, HarnessError> {
    let p = PathBuf::from("/usr/sbin/sshd");
    if p.exists() { Ok(p) } else { Err(HarnessError::Missing("/usr/sbin/sshd (Debian openssh-server)".into())) }
}

impl Sshd {
    /// Starts sshd on a free loopback port with its own host key and config.
    pub fn start(opts: SshdOptions) -> Result<Self, HarnessError> {
        let bin = sshd_bin()?;
        let root = is_root();
        let user = match opts.user {
            Some(u) => u,
            None if root => "hooptest".into(),
            None => std::env::var("USER").unwrap_or_else(|_| "nobody".into()),
        };
        if root && Command::new("id").arg(&user).output().map(|o| !o.status.success()).unwrap_or(true) {
            run_as(None, Path::new("useradd"), &["-m", "-s", "/bin/bash", &user])?;
        }
        if root {
            // useradd leaves the password locked ("!"), and without PAM sshd refuses locked
            // accounts even for key logins; "*" means no password, not locked.
            run_as(None, Path::new("usermod"), &["-p", "*", &user])?;
        }
        if root {
            std::fs::create_dir_all("/run/sshd")?;
        }
        let dir = tempfile::Builder::new().prefix("hoop-sshd-").tempdir()?;
        let d = dir.path();
        let s = |p: &Path| p.display().to_string();
        let keygen = Path::new("ssh-keygen");
        run_as(None, keygen, &["-q", "-t", "ed25519", "-N", "", "-f", &s(&d.join("host_key"))])?;
        run_as(None, keygen, &["-q", "-t", "ed25519", "-N", "", "-C", "hoop-harness", "-f", &s(&d.join("client_key"))])?;
        let auth_dir = d.join("authorized");
        std::fs::create_dir(&auth_dir)?;
        std::fs::copy(d.join("client_key.pub"), auth_dir.join(&user))?;
        if root {
            chown(&user, &auth_dir.join(&user))?;
        }
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let set_env: String = opts.env.iter().map(|(k, v)| format!(" {k}={v}")).collect();
            let set_env = if set_env.is_empty() { String::new() } else { format!("SetEnv{set_env}\n") };
            let set_env = match opts.max_sessions {
                Some(n) => format!("{set_env}MaxSessions {n}\n"),
                None => set_env,
            };
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}/%u\n\
                 UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin yes\nSubsystem sftp /usr/lib/openssh/sftp-server\nLogLevel VERBOSE\nMaxStartups 100\n\
                 AcceptEnv LANG LC_* HOOP_* LD_PRELOAD BASH_ENV\n{set_env}",
                hk = s(&d.join("host_key")),
                pid = s(&d.join("sshd.pid")),
                ak = s(&auth_dir),
            );
            let cfg_path = d.join("sshd_config");
            std::fs::write(&cfg_path, config)?;
            let log = std::fs::File::create(d.join("sshd.log"))?;
            let mut child = Command::new(&bin)
                .args(["-D", "-e", "-f", &s(&cfg_path)])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    up = true;
                    break;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last = Some(HarnessError::Command {
                        program: "sshd".into(),
                        message: format!("{status}: {}", std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()),
                    });
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if up {
                watchdog(&format!("kill {} 2>/dev/null; rm -rf '{}'", child.id(), s(d)))?;
                return Ok(Sshd { dir, child, port, user });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        Err(last.unwrap_or_else(|| HarnessError::Missing("a free port for sshd".into())))
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The private key authorised for the user (OpenSSH format).
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// The server's public host key line (`ssh-ed25519 AAAA...`), for known-hosts checks.
    pub fn host_public_key(&self) -> Result<String, HarnessError> {
        Ok(std::fs::read_to_string(self.dir.path().join("host_key.pub"))?.trim().to_string())
    }

    /// The server's log so far (for test failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Runs `command` on the server with the OpenSSH client; returns (exit code, stdout).
    pub fn ssh(&self, command: &str) -> Result<(i32, String), HarnessError> {
        let out = Command::new("ssh")
            .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "LogLevel=ERROR", "-i"])
            .arg(self.client_key())
            .args(["-p", &self.port.to_string(), &format!("{}@127.0.0.1", self.user), command])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| HarnessError::Command { program: "ssh".into(), message: e.to_string() })?;
        Ok((out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned()))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
