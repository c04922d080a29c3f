//! hoop-k8s: hoop's Kubernetes adapter.
//!
//! An HTTPS API gateway that `kubectl` uses unchanged: the kubeconfig's server URL names the
//! target (`https://gateway:16443/k8s/<target>`; a gateway with one Kubernetes target also
//! serves it at the root) and carries a hoop token as bearer token. hoop reaches the cluster
//! with credentials only it holds, checks every request as an `Action::K8s` (exec commands
//! also as `Action::Exec`, under the same rules as SSH), masks Secrets and configured fields in
//! every response shape, streams watches and logs through without buffering, relays `exec`
//! over WebSocket with terminal recording, and refuses what it cannot check or mask
//! (client impersonation headers, SPDY upgrades, non-canonical paths, protobuf).
//!
//! | file | what happens there |
//! |---|---|
//! | `front.rs` | a client connection: auth, checks, forwarding, responses |
//! | `classify.rs` | where a request becomes an action, as the API server classifies it |
//! | `path.rs` | canonical-path checks and `/k8s/<target>` routing |
//! | `strict.rs` | a write's JSON body read as the API server reads it (a field named twice is refused) |
//! | `mask.rs` | where Secrets and configured fields are masked in JSON documents |
//! | `stream.rs` | watch events and logs, masked as they stream |
//! | `exec.rs` | exec/attach over WebSocket, frame by frame, recorded as a terminal |
//! | `scripts.rs` | a held exec's script files, read in the container for the reviewer and pinned |
//! | `mounts.rs` | the Secrets a pod mounts, read before an agent's exec in it is judged |
//! | `upstream.rs` | the API server: TLS, the gateway's token, impersonation, headers |
//! | `status.rs` | `Status` objects for refusals |
//! | `refusal.rs` | a refusal as kubectl sees it, kept for kubectl's SPDY retry of an exec |
//! | `kubeconfig.rs` | kubeconfigs with the exec credential plugin |
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = hoop_core::config::Config::load(std::path::Path::new("hoop.toml"))?;
//! let gate = cfg.build_gate()?;
//! let gw = std::sync::Arc::new(hoop_k8s::K8sGateway::from_config(&cfg, gate)?);
//! gw.serve(tokio::net::TcpListener::bind("127.0.0.1:16443").await?).await?;
//! # Ok(()) }
//! ```

mod body;
pub mod classify;
mod copies;
mod exec;
mod front;
mod mounts;
mod refusal;
mod scripts;
mod secrets;
mod strict;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod kubeconfig;
pub mod mask;
pub mod path;
mod status;
mod stream;
pub mod upstream;

pub use kubeconfig::{KubeUser, KubeconfigSpec, exec_credential, kubeconfig};
pub use upstream::{K8sTarget, UpstreamError};

use hoop_core::config::Config;
use hoop_core::gate::Gate;
use hoop_core::session::Protocol;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Why the Kubernetes gateway could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
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
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] hoop_core::tls::TlsError),
}

/// The Kubernetes gateway.
pub struct K8sGateway {
    gate: Gate,
    targets: HashMap<String, Arc<K8sTarget>>,
    /// The target served at the root, when there is exactly one.
    single_target: Option<String>,
    tls: Arc<rustls::ServerConfig>,
    /// Largest request body accepted (`limits.max_message_bytes`).
    max_body: usize,
    /// Largest response document or watch event held to be masked
    /// (`limits.max_server_message_bytes`).
    max_document: usize,
    /// Connection threads (`listeners.threads`).
    threads: usize,
    /// Exec refusals kept for kubectl's retry of them over SPDY.
    retries: refusal::RetryMemo,
    /// Secret values read lately, masked in responses (see `secrets/`).
    secret_values: secrets::SecretValues,
}

impl K8sGateway {
    /// A gateway for the `kubernetes` targets of `cfg`, deciding through `gate`.
    pub fn from_config(cfg: &Config, gate: Gate) -> Result<Self, K8sError> {
        let mut targets = HashMap::new();
        for (name, t) in &cfg.targets {
            if t.protocol != Protocol::Kubernetes {
                continue;
            }
            let key = |k: &str| format!("targets.{name}.{k}");
            let (addr, host, base_path) =
                K8sTarget::parse_url(&t.address).map_err(|message| K8sError::Config { key: key("address"), message })?;
            let tls = match (&t.cert_file, &t.key_file) {
                (Some(cert), Some(k)) => hoop_core::tls::client_config_with_cert(t.ca_file.as_deref(), cert, k)?,
                (None, None) => hoop_core::tls::client_config(t.ca_file.as_deref())?,
                _ => return Err(K8sError::Config { key: key("cert_file"), message: "cert_file and key_file go together".into() }),
            };
            let token = match &t.password {
                Some(p) => Some(p.resolve(&key("password"))?),
                None => None,
            };
            targets.insert(name.clone(), Arc::new(K8sTarget { addr, host, base_path, tls, token, impersonate: t.impersonate, mask_secret_values: t.mask_secret_values }));
        }
        let single_target = if targets.len() == 1 { targets.keys().next().cloned() } else { None };
        let tls = hoop_core::tls::server_config(&cfg.tls, &cfg.data_dir, &[b"http/1.1"])?;
        let max_body = cfg.limits.max_message_bytes;
        let max_document = cfg.limits.max_server_message_bytes.max(1 << 16);
        Ok(K8sGateway { gate, targets, single_target, tls, max_body, max_document, threads: cfg.listeners.threads, retries: Default::default(), secret_values: Default::default() })
    }

    /// Accepts connections until the listener fails, on the connection threads
    /// (`listeners.threads`).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let threads = self.threads;
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls.clone());
        hoop_core::serve::on_threads(listener, threads, move |tcp, peer| {
            let (gw, acceptor) = (self.clone(), acceptor.clone());
            async move { gw.handle(acceptor, tcp, peer).await }
        })
        .await
    }

    /// Runs one client connection (TLS, then HTTP/1.1 with upgrades) to its end.
    async fn handle(self: Arc<Self>, acceptor: tokio_rustls::TlsAcceptor, tcp: tokio::net::TcpStream, peer: std::net::SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let Ok(admitted) = self.gate.admission().admit(hoop_core::admission::Listener::Kubernetes) else { return };
        let limits = self.gate.admission().limits();
        let deadline = tokio::time::Instant::now() + limits.preauth_timeout;
        let tls = match admitted.before_auth(deadline, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => return,
        };
        let conn = Arc::new(front::Conn { gw: self, peer, state: Default::default() });
        let svc_conn = conn.clone();
        let svc = hyper::service::service_fn(move |req| {
            let c = svc_conn.clone();
            async move { Ok::<_, std::convert::Infallible>(c.handle(req).await) }
        });
        let serve = async {
            if let Err(e) = hoop_core::http::server_builder(&limits).serve_connection(TokioIo::new(tls), svc).with_upgrades().await {
                tracing::debug!(%peer, error = %e, "client connection ended with an error");
            }
        };
        hoop_core::admission::serve_http(std::sync::Arc::new(admitted), serve).await;
        conn.state.lock().await.close();
    }
}
