//! hoop-ssh: hoop's SSH adapter.
//!
//! An SSH gateway that the OpenSSH client uses unchanged: the SSH user names the target
//! (`ssh -p 2222 web-01@gateway`), the caller logs in with a public key mapped to an identity
//! or with a hoop token as password, and hoop logs in to the host with credentials only it
//! holds, verifying the host's key. `exec`, `shell` and `subsystem` requests are checked by
//! the gate before they reach the host; output is masked (same-length on a terminal) and the
//! session recorded. Port and agent forwarding are refused.
//!
//! | file | what happens there |
//! |---|---|
//! | `server.rs` | the SSH server: logins, channel requests |
//! | `channel.rs` | where an `exec` is checked; the per-channel relay with masking and recording |
//! | `upstream.rs` | logging in to the host, host-key verification |
//! | `to_client.rs` | a channel's output to the client, within the window the client gives |
//! | `stop.rs` | what a session's commands run on the host, killed when the session ends |
//! | `sftp.rs` | SFTP requests framed and read for their paths (path rules for every transfer) |
//! | `scp.rs` | a legacy scp upload's stream read for the names it creates, each checked and recorded |
//! | `ca.rs` | hoop's SSH certificate authority: short-lived user certificates for identities |
//! | `hostkey.rs` | the gateway's own keys |

pub mod ca;
mod channel;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod hostkey;
mod scp;
mod scripts;
mod server;
mod sftp;
mod stop;
mod to_client;
mod upstream;

pub use ca::{CertSpec, SshCa, key_fingerprint};
pub use channel::exec_action;
pub use server::MAX_CHANNELS;
pub use upstream::{SshTarget, UpstreamError};

use hoop_core::config::Config;
use hoop_core::gate::Gate;
use hoop_core::identity::Identity;
use hoop_core::session::Protocol;
use russh::keys::PublicKey;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Why the SSH gateway could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// A configuration value is unusable.
    #[error("config key {key}: {message}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A secret reference could not be resolved.
    #[error(transparent)]
    Secret(#[from] hoop_core::config::ConfigError),
    /// The host key could not be loaded or created.
    #[error("host key: {0}")]
    HostKey(String),
}

fn config_err(key: impl Into<String>, message: impl ToString) -> SshError {
    SshError::Config { key: key.into(), message: message.to_string() }
}

/// The SSH gateway.
pub struct SshGateway {
    gate: Gate,
    targets: HashMap<String, SshTarget>,
    /// `[[ssh_keys]]`, replaced on reload.
    keys: std::sync::RwLock<Arc<Vec<(PublicKey, Identity)>>>,
    ca: SshCa,
    config: Arc<russh::server::Config>,
}

impl SshGateway {
    /// A gateway for the `ssh` targets and `ssh_keys` of `cfg`, deciding through `gate`.
    pub fn from_config(cfg: &Config, gate: Gate) -> Result<Self, SshError> {
        let mut targets = HashMap::new();
        for (name, t) in &cfg.targets {
            if t.protocol != Protocol::Ssh {
                continue;
            }
            let key = match &t.key_file {
                Some(p) => Some(Arc::new(
                    russh::keys::load_secret_key(p, None).map_err(|e| config_err(format!("targets.{name}.key_file"), e))?,
                )),
                None => None,
            };
            let password = match &t.password {
                Some(p) => Some(p.resolve(&format!("targets.{name}.password"))?),
                None => None,
            };
            let mut host_keys = Vec::new();
            for (i, line) in t.host_keys.iter().enumerate() {
                host_keys.push(parse_key_line(line).map_err(|e| config_err(format!("targets.{name}.host_keys[{i}]"), e))?);
            }
            if host_keys.is_empty() {
                return Err(config_err(format!("targets.{name}.host_keys"), "at least one host key is required (no trust on first use)"));
            }
            targets.insert(
                name.clone(),
                SshTarget { addr: t.address.clone(), user: t.user.clone().unwrap_or_else(|| "root".into()), key, password, host_keys },
            );
        }
        let keys = std::sync::RwLock::new(Arc::new(keys_of(cfg)?));
        let host_key = hostkey::load_or_create(&cfg.data_dir.join("ssh"), "host_ed25519")?;
        let ca = SshCa::load_or_create(&cfg.data_dir)?;
        let config = russh::server::Config {
            // The gateway names itself, not the library it is built on and its version
            // (`SSH-2.0-russh_0.65.1`), and offers the login methods it has (not `hostbased`:
            // compatibility round 1).
            server_id: russh::SshId::Standard(std::borrow::Cow::Borrowed("SSH-2.0-hoop")),
            methods: russh::MethodSet::from(&[russh::MethodKind::PublicKey, russh::MethodKind::Password, russh::MethodKind::KeyboardInteractive][..]),
            keys: vec![host_key],
            auth_rejection_time: Duration::from_millis(300),
            auth_rejection_time_initial: Some(Duration::from_millis(0)),
            inactivity_timeout: Some(Duration::from_secs(cfg.limits.idle_timeout_secs.max(1))),
            nodelay: true,
            ..russh::server::Config::default()
        };
        Ok(SshGateway { gate, targets, keys, ca, config: Arc::new(config) })
    }

    fn identity_for_key(&self, key: &PublicKey) -> Option<Identity> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        keys.iter().find(|(k, _)| k.key_data() == key.key_data()).map(|(_, id)| id.clone())
    }

    /// Takes in the `[[ssh_keys]]` of `cfg` (SIGHUP) and ends the live sessions of keys taken
    /// out or given another identity: a session keeps the authority it logged in with, and a
    /// key the operator removed must have none (red-team identity round 109). Returns how many
    /// sessions ended.
    pub fn reload_identities(&self, cfg: &Config) -> Result<usize, SshError> {
        let new = Arc::new(keys_of(cfg)?);
        let old = std::mem::replace(&mut *self.keys.write().unwrap_or_else(|p| p.into_inner()), new.clone());
        let gone: Vec<String> = old
            .iter()
            .filter(|(key, identity)| !new.iter().any(|(k, i)| k.key_data() == key.key_data() && i == identity))
            .flat_map(|(_, identity)| identity.credentials.iter().cloned())
            .collect();
        Ok(if gone.is_empty() { 0 } else { self.gate.end_sessions_on(&gone) })
    }

    /// The gateway's host public key, in OpenSSH format (for clients' known_hosts).
    pub fn host_public_key(&self) -> String {
        self.config.keys.first().and_then(|k| k.public_key().to_openssh().ok()).unwrap_or_default()
    }

    /// Accepts connections until the listener fails.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (tcp, peer) = listener.accept().await?;
            let Ok(admitted) = self.gate.admission().admit(hoop_core::admission::Listener::Ssh) else {
                // Closed before the version exchange: the client reports the connection closed.
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            // A second handle on the socket: shut down, it ends a session whose loop is held up
            // (dropping russh's running session only detaches its task).
            let Some((tcp, cutter)) = tcp.into_std().ok().and_then(|s| Some((s.try_clone().ok()?, s))).and_then(|(a, b)| Some((tokio::net::TcpStream::from_std(a).ok()?, b))) else {
                continue;
            };
            let authed = Arc::new(tokio::sync::Notify::new());
            let hard_end = Arc::new(tokio::sync::Notify::new());
            let handler = server::Connection {
                gw: self.clone(),
                peer: Some(peer),
                session: None,
                target: None,
                upstream: Arc::default(),
                reserve: Default::default(),
                channels: HashMap::new(),
                watching: None,
                refused: None,
                refused_channels: 0,
                authed: authed.clone(),
                watcher_closes: Arc::default(),
                gone: tokio::sync::watch::channel(false).0,
                hard_end: hard_end.clone(),
                ending: Arc::new(tokio::sync::watch::channel(false).0),
            };
            let config = self.config.clone();
            let deadline = tokio::time::Instant::now() + self.gate.admission().limits().preauth_timeout;
            tokio::spawn(async move {
                // Version exchange, key exchange and authentication, all before one deadline.
                let mut running = match admitted.before_auth(deadline, russh::server::run_stream(config, tcp, handler)).await {
                    Ok(Ok(running)) => running,
                    Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "ssh handshake failed"),
                    Err(_) => return,
                };
                let ended = tokio::select! {
                    r = &mut running => Some(r),
                    _ = authed.notified() => None,
                    end = admitted.before_auth(deadline, std::future::pending::<()>()) => {
                        let why = end.err().map_or_else(String::new, |e| e.to_string());
                        let _ = running.handle().disconnect(russh::Disconnect::ByApplication, format!("hoop: {why}"), String::new()).await;
                        return;
                    }
                };
                // Authenticated: the connection keeps its slot (sessions are bounded per identity).
                admitted.authenticated();
                let result = match ended {
                    Some(r) => r,
                    None => tokio::select! {
                        r = &mut running => r,
                        () = hard_end.notified() => {
                            let _ = cutter.shutdown(std::net::Shutdown::Both);
                            tokio::time::timeout(std::time::Duration::from_secs(5), &mut running).await.unwrap_or(Ok(()))
                        }
                    },
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "ssh connection ended with an error");
                }
                drop(admitted);
            });
        }
    }
}

/// The `[[ssh_keys]]` of `cfg`, each with the identity it logs in as.
fn keys_of(cfg: &Config) -> Result<Vec<(PublicKey, Identity)>, SshError> {
    let mut keys = Vec::new();
    for (i, k) in cfg.ssh_keys.iter().enumerate() {
        let public = parse_key_line(&k.public_key).map_err(|e| config_err(format!("ssh_keys[{i}].public_key"), e))?;
        let identity = Identity {
            subject: k.subject.clone(),
            groups: k.groups.clone(),
            issuer: "hoop-ssh-key".into(),
            kind: k.kind,
            targets: k.targets.clone(),
            token_id: String::new(),
            expires_at: 0,
            credentials: vec![format!("ssh-key:{}", public.fingerprint(russh::keys::HashAlg::Sha256))],
            issue_subjects: Vec::new(),
        };
        keys.push((public, identity));
    }
    Ok(keys)
}

/// Parses an `authorized_keys`-style line (`type base64 [comment]`).
fn parse_key_line(line: &str) -> Result<PublicKey, String> {
    let mut parts = line.split_whitespace();
    let (Some(_kind), Some(b64)) = (parts.next(), parts.next()) else {
        return Err("expected `type base64 [comment]`".into());
    };
    russh::keys::parse_public_key_base64(b64).map_err(|e| e.to_string())
}
