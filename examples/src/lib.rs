//! What hoop's binaries share: loading config, reading flags, logging, reporting errors.

use hoop_core::config::Config;
use hoop_core::identity::IdentityKind;
use std::path::{Path, PathBuf};

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
