//! What hoop's binaries share: loading config, reading flags, logging, reporting errors.

use hoop_core::config::Config;
use hoop_core::identity::IdentityKind;
use std::path::{Path, PathBuf};

/// `--config` and `--data-dir`, which every binary takes (also as `HOOP_CONFIG`, `HOOP_DATA_DIR`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Config file (TOML); built-in defaults without it, and flags override it.
    #[arg(long, global = true, env = "HOOP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (keys, recordings, certificates).
    #[arg(long, global = true, env = "HOOP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    /// The config these flags name (see [`load_config`]).
    pub fn load(&self) -> Result<Config, String> {
        load_config(self.config.as_deref(), self.data_dir.clone())
    }
}

/// Binds `listen`, naming the address in the error.
pub async fn bind(listen: &str) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), String> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("listen {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, addr))
}

/// Names of the targets of `cfg` spoken to in `protocol`.
pub fn target_names(cfg: &Config, protocol: hoop_core::session::Protocol) -> Vec<&String> {
    cfg.targets.iter().filter(|(_, t)| t.protocol == protocol).map(|(n, _)| n).collect()
}

/// The config file if given (else the built-in defaults), with `--data-dir` applied.
pub fn load_config(path: Option<&Path>, data_dir: Option<PathBuf>) -> Result<Config, String> {
    let mut cfg = match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    Ok(cfg)
}

/// Who a token or certificate is for: the flags every binary's `token`/`cert` command shares.
#[derive(clap::Args, Debug, Clone)]
pub struct IdentityArgs {
    /// Subject, e.g. agent-1.
    #[arg(long)]
    pub subject: String,
    /// agent or human.
    #[arg(long, default_value = "agent")]
    pub kind: String,
    /// Groups, comma-separated (`review`, `audit` for operators).
    #[arg(long, value_delimiter = ',')]
    pub groups: Vec<String>,
    /// Targets it may reach, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub targets: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
}

impl IdentityArgs {
    /// The token these flags describe.
    pub fn spec(&self) -> Result<hoop_core::auth::TokenSpec, String> {
        Ok(hoop_core::auth::TokenSpec {
            subject: self.subject.clone(),
            kind: parse_kind(&self.kind)?,
            groups: self.groups.clone(),
            targets: self.targets.clone(),
            ttl_secs: self.ttl,
        })
    }

    /// The same flags as arguments (for a credential plugin's command line).
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec!["--subject".into(), self.subject.clone(), "--kind".into(), self.kind.clone(), "--ttl".into(), self.ttl.to_string()];
        if !self.groups.is_empty() {
            a.extend(["--groups".into(), self.groups.join(",")]);
        }
        a.extend(["--targets".into(), self.targets.join(",")]);
        a
    }
}

/// A `--kind` flag: `agent` or `human`.
pub fn parse_kind(kind: &str) -> Result<IdentityKind, String> {
    match kind {
        "agent" => Ok(IdentityKind::Agent),
        "human" => Ok(IdentityKind::Human),
        other => Err(format!("--kind must be agent or human, not {other}")),
    }
}

/// Issues a gateway token with the data dir's signing key (local bootstrap: whoever can read
/// the data dir holds the issuing key).
pub fn issue_token(data_dir: &Path, spec: &hoop_core::auth::TokenSpec) -> Result<String, String> {
    let keys = hoop_core::keys::KeyStore::open(data_dir.join("keys")).map_err(|e| e.to_string())?;
    let issuer = hoop_core::auth::TokenIssuer::from_store(&keys).map_err(|e| e.to_string())?;
    issuer.issue(spec).map_err(|e| e.to_string())
}

/// The operator's own token on the gateway's host: [`issue_token`], allowed to issue for any
/// subject over the admin API (reading the data dir already is every grant).
pub fn issue_operator_token(data_dir: &Path, spec: &hoop_core::auth::TokenSpec) -> Result<String, String> {
    let keys = hoop_core::keys::KeyStore::open(data_dir.join("keys")).map_err(|e| e.to_string())?;
    let issuer = hoop_core::auth::TokenIssuer::from_store(&keys).map_err(|e| e.to_string())?;
    issuer.issue_with(spec, &[], &["*".to_string()]).map_err(|e| e.to_string())
}

/// A short-lived OpenSSH user certificate from the data dir's SSH CA for the key in `public_key`.
pub fn ssh_certificate(data_dir: &Path, who: &IdentityArgs, public_key: &Path) -> Result<String, String> {
    let key = std::fs::read_to_string(public_key).map_err(|e| format!("{}: {e}", public_key.display()))?;
    let ca = hoop_ssh::SshCa::load_or_create(data_dir).map_err(|e| e.to_string())?;
    let spec = who.spec()?;
    let ttl = u64::try_from(spec.ttl_secs).map_err(|_| "--ttl must be positive".to_string())?;
    let cert = ca
        .issue(&key, &hoop_ssh::CertSpec { subject: spec.subject, kind: spec.kind, groups: spec.groups, targets: spec.targets, ttl_secs: ttl, from: vec![] })
        .map_err(|e| e.to_string())?;
    cert.to_openssh().map_err(|e| e.to_string())
}

/// The SSH CA as the admin API's certificate issuer.
pub struct Certifier(pub hoop_ssh::SshCa);

impl hoop_admin::SshCertifier for Certifier {
    fn certify(&self, public_key: &str, who: &hoop_core::identity::Identity, ttl_secs: u64) -> Result<(String, u64), String> {
        let spec = hoop_ssh::CertSpec {
            subject: who.subject.clone(),
            kind: who.kind,
            groups: who.groups.clone(),
            targets: who.targets.clone(),
            ttl_secs,
            from: who.credentials.clone(),
        };
        let cert = self.0.issue(public_key, &spec).map_err(|e| e.to_string())?;
        Ok((cert.to_openssh().map_err(|e| e.to_string())?, cert.serial()))
    }

    fn fingerprint(&self, public_key: &str) -> Option<String> {
        hoop_ssh::key_fingerprint(public_key)
    }
}

/// Logs to stderr, filtered by `RUST_LOG`.
pub fn init_logging() {
    init_logging_as(false);
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`): human-readable, or one JSON object
/// per line.
pub fn init_logging_as(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

/// Reports a fatal error as one line and exits 1.
pub fn exit_on_error(program: &str, result: Result<(), String>) {
    if let Err(e) = result {
        eprintln!("{program}: {e}");
        std::process::exit(1);
    }
}
