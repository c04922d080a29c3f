//! Configuration: one TOML file, with defaults that make a zero-config start work.
//!
//! Secrets (upstream passwords, static agent secrets) may be given literally, as
//! `env:NAME`, or as `file:PATH`; they never appear in `Debug` output or logs.

use crate::auth::{OidcConfig, OidcVerifier, Revocations, TokenAuthenticator, TokenVerifier};
use crate::gate::{Gate, GateBuilder, Limits};
use crate::keys::{KeyPurpose, KeyStore};
use crate::mask::{MaskConfig, Masker};
use crate::policy::{CelPolicy, Rule, Then, defaults};
use crate::record::{FileRecorder, FileRecorderConfig};
use crate::session::{Protocol, TargetInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why a configuration was refused. One line, naming the key (and line, for syntax errors).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML is malformed or a value has the wrong type.
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, with line and key.
        message: String,
    },
    /// A value is present but unusable.
    #[error("config key {key}: {message}")]
    Invalid {
        /// The key, dotted.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(key: impl Into<String>, message: impl ToString) -> ConfigError {
    ConfigError::Invalid { key: key.into(), message: message.to_string() }
}

/// A secret value: literal, `env:NAME` or `file:PATH`, resolved at load.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct Secret {
    spec: String,
}

impl From<String> for Secret {
    fn from(spec: String) -> Self {
        Secret { spec }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A literal secret.
    pub fn literal(value: impl Into<String>) -> Self {
        Secret { spec: value.into() }
    }

    /// The secret's value, read from the environment or a file when referenced.
    pub fn resolve(&self, key: &str) -> Result<String, ConfigError> {
        if let Some(name) = self.spec.strip_prefix("env:") {
            std::env::var(name).map_err(|_| invalid(key, format!("environment variable {name} is not set")))
        } else if let Some(path) = self.spec.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| invalid(key, format!("{path}: {e}")))
        } else {
            Ok(self.spec.clone())
        }
    }
}

/// Where each protocol listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listeners {
    /// Postgres listener.
    pub postgres: Option<String>,
    /// SSH listener.
    pub ssh: Option<String>,
    /// Kubernetes API listener.
    pub kubernetes: Option<String>,
    /// Admin API listener.
    pub admin: Option<String>,
    /// Connection threads behind the Postgres and Kubernetes listeners (0: one per core; 1:
    /// the runtime that serves them).
    pub threads: usize,
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            postgres: Some("127.0.0.1:15432".into()),
            ssh: Some("127.0.0.1:2222".into()),
            kubernetes: Some("127.0.0.1:16443".into()),
            admin: Some("127.0.0.1:8099".into()),
            threads: 0,
        }
    }
}

/// A named upstream and the credentials only the gateway holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Protocol spoken to the upstream.
    pub protocol: Protocol,
    /// `host:port` of the upstream (or URL, for Kubernetes).
    pub address: String,
    /// Upstream user.
    #[serde(default)]
    pub user: Option<String>,
    /// Upstream password or token.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Upstream database (Postgres).
    #[serde(default)]
    pub database: Option<String>,
    /// Private key file (SSH) or client certificate key.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Client certificate (PEM chain) the gateway presents to the upstream (Kubernetes), with
    /// `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// CA bundle to verify the upstream's TLS certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// TLS to the upstream, as libpq's `sslmode` (Postgres): `"require"`, `"prefer"` (the
    /// default: TLS when the server offers it) or `"disable"`. Whenever TLS is used the server's
    /// certificate is verified against `ca_file` or the system roots. `true`/`false` mean
    /// require/disable.
    #[serde(default)]
    pub tls: TlsMode,
    /// Postgres: answer a cleartext or MD5 password request from an upstream reached without
    /// TLS (refused by default: whoever is on the path would collect the password).
    #[serde(default)]
    pub allow_plaintext_password: bool,
    /// Every read from this target is sensitive.
    #[serde(default)]
    pub sensitive: bool,
    /// Tables whose reads are sensitive.
    #[serde(default)]
    pub sensitive_tables: Vec<String>,
    /// Labels for rules.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// SSH: the upstream's host keys (`ssh-ed25519 AAAA...` lines); connections to a host
    /// presenting any other key are refused (no trust on first use).
    #[serde(default)]
    pub host_keys: Vec<String>,
    /// Kubernetes: send the caller's identity as `Impersonate-User` / `Impersonate-Group`, so
    /// the cluster's own RBAC also applies per caller (the gateway's credentials need the
    /// `impersonate` verb).
    #[serde(default)]
    pub impersonate: bool,
    /// Kubernetes: mask the values of the namespace's Secrets wherever a response carries them
    /// (an env entry, an annotation, a container's output), reading the Secrets through the
    /// gateway's own credentials (which then need `list` on `secrets`); on by default. A
    /// request whose namespace's Secrets cannot be read is refused.
    #[serde(default = "default_true")]
    pub mask_secret_values: bool,
    /// Let agents through even when the gateway's own login is privileged: a Postgres role that
    /// is a superuser or holds `pg_read_server_files`, `pg_write_server_files` or
    /// `pg_execute_server_program`, an SSH login as `root` (refused by default: such a login
    /// reads and writes the server's files).
    #[serde(default)]
    pub allow_privileged_role: bool,
}

/// `true`, for settings on by default.
fn default_true() -> bool {
    true
}

impl TargetConfig {
    /// A target with every optional setting at its default.
    pub fn new(protocol: Protocol, address: impl Into<String>) -> Self {
        TargetConfig {
            protocol,
            address: address.into(),
            user: None,
            password: None,
            database: None,
            key_file: None,
            cert_file: None,
            ca_file: None,
            tls: TlsMode::default(),
            allow_plaintext_password: false,
            sensitive: false,
            sensitive_tables: Vec::new(),
            labels: BTreeMap::new(),
            host_keys: Vec::new(),
            impersonate: false,
            mask_secret_values: true,
            allow_privileged_role: false,
        }
    }

    /// What rules see of this target.
    pub fn info(&self, name: &str) -> TargetInfo {
        TargetInfo {
            name: name.to_string(),
            sensitive: self.sensitive,
            sensitive_tables: self.sensitive_tables.iter().map(|t| t.to_ascii_lowercase()).collect(),
            labels: self.labels.clone(),
            privileged: self.privileged(),
        }
    }

    /// Why this target's login is privileged and not allowed for agents (see
    /// [`TargetInfo::privileged`]), or nothing. An SSH login as `root` (the default user) reads
    /// and writes every file and loads code wherever programs look for it, more than any rule
    /// can list; a Postgres role is checked on the server instead (hoop-pg).
    fn privileged(&self) -> String {
        let root = self.user.as_deref().is_none_or(|u| u.trim() == "root" || u.trim() == "0");
        if self.protocol == Protocol::Ssh && root && !self.allow_privileged_role {
            return "the gateway logs in to this SSH target as root".into();
        }
        String::new()
    }
}

/// TLS toward an upstream, as libpq's `sslmode` (verification always on when TLS is used).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "TlsModeRepr")]
pub enum TlsMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it; plain when it says no (then only SCRAM logs in).
    #[default]
    Prefer,
    /// TLS or no connection.
    Require,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TlsModeRepr {
    Bool(bool),
    Name(String),
}

impl TryFrom<TlsModeRepr> for TlsMode {
    type Error = String;

    fn try_from(r: TlsModeRepr) -> Result<Self, String> {
        match r {
            TlsModeRepr::Bool(true) => Ok(TlsMode::Require),
            TlsModeRepr::Bool(false) => Ok(TlsMode::Disable),
            TlsModeRepr::Name(n) => match n.as_str() {
                "require" | "verify-full" => Ok(TlsMode::Require),
                "prefer" => Ok(TlsMode::Prefer),
                "disable" => Ok(TlsMode::Disable),
                other => Err(format!("tls must be \"require\", \"prefer\" or \"disable\", not {other:?}")),
            },
        }
    }
}

/// Rules and the default verdict.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Verdict when no rule matches.
    pub default: Then,
    /// Put the built-in agent rules after the configured ones.
    pub default_rules: bool,
    /// Rules, evaluated in order before the defaults.
    pub rules: Vec<Rule>,
    /// The default agent budgets (part of the default rules).
    pub budgets: BudgetsConfig,
    /// Programs agents may run unreviewed besides those hoop knows (docs/policy.md, "Known
    /// programs"): list only programs that run nothing their arguments do not show.
    pub known_programs: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig { default: Then::Allow, default_rules: true, rules: Vec::new(), budgets: BudgetsConfig::default(), known_programs: Vec::new() }
    }
}

/// The numbers of the default agent budgets (docs/policy.md says why these).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetsConfig {
    /// Whether the default rules include the budgets.
    pub enabled: bool,
    /// One result past this many rows (or objects) pauses for review.
    pub result_rows: u64,
    /// One result past this many bytes pauses for review.
    pub result_bytes: u64,
    /// Past this many rows read from one target in the last hour, the next read is held.
    pub target_rows_1h: u64,
    /// Past this many bytes read from one target in the last hour (rows, output, files), the
    /// next action on it is held.
    pub target_bytes_1h: u64,
    /// Past this many masked values returned in the last hour (every target), the next action is held.
    pub masked_values_1h: u64,
}

impl Default for BudgetsConfig {
    fn default() -> Self {
        BudgetsConfig { enabled: true, result_rows: 10_000, result_bytes: 64 << 20, target_rows_1h: 50_000, target_bytes_1h: 16 << 20, masked_values_1h: 5_000 }
    }
}

impl PolicyConfig {
    /// Compiles the rules.
    pub fn compile(&self) -> Result<CelPolicy, ConfigError> {
        let mut rules = self.rules.clone();
        // Names only: each goes into a rule's text.
        if let Some(bad) = self.known_programs.iter().find(|p| p.is_empty() || p.len() > 64 || !p.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))) {
            return Err(invalid("policy.known_programs", format!("{bad:?} is not a program name (letters, digits, . _ + -)")));
        }
        if self.default_rules {
            rules.extend(defaults::agent_rules_knowing(&self.known_programs));
            if self.budgets.enabled {
                let b = &self.budgets;
                rules.extend(defaults::agent_budgets(b.result_rows, b.result_bytes, b.target_rows_1h, b.target_bytes_1h, b.masked_values_1h));
            }
        }
        CelPolicy::new(rules, self.default).map_err(|e| invalid("policy.rules", e))
    }
}

/// Recording settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    /// Group-commit interval for fsync, milliseconds.
    pub fsync_interval_ms: u64,
    /// Masked result rows kept per statement.
    pub max_rows_per_statement: usize,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig { fsync_interval_ms: 1000, max_rows_per_statement: 1000 }
    }
}

/// Limits, in config units.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Concurrent sessions per identity.
    pub max_sessions_per_identity: usize,
    /// Idle timeout, seconds.
    pub idle_timeout_secs: u64,
    /// Maximum session duration, seconds.
    pub max_session_secs: u64,
    /// How long a review waits before it denies, seconds.
    pub review_timeout_secs: u64,
    /// Largest protocol message accepted from a client, bytes.
    pub max_message_bytes: usize,
    /// Largest protocol message accepted from a server (a Postgres row), bytes; a larger one is
    /// dropped unread, and its statement cancelled and failed with an error naming this limit.
    pub max_server_message_bytes: usize,
    /// Rows one statement of an agent may delete, update or merge (0: no ceiling); a statement
    /// that touches more is not committed.
    pub max_rows_written: u64,
    /// Seconds an agent's session may sit idle inside a transaction (the client silent, the
    /// server done) before hoop ends it and the server rolls the transaction back, releasing
    /// its locks (0: no limit). Time held for review does not count.
    pub agent_idle_in_transaction_secs: u64,
    /// Seconds one reply to an agent's statement may be awaited with nothing coming back (no
    /// row, no answer) before hoop cancels the statement on the server (0: no ceiling): a bound
    /// on how long one statement holds its locks that the agent cannot `SET` away, as it can
    /// `statement_timeout`. Time held for review does not count.
    pub agent_statement_secs: u64,
    /// Seconds one transaction of an agent may stay open, whatever it runs (0: no ceiling):
    /// past it the session ends and the server rolls the transaction back, releasing its locks.
    /// Time held for review does not count.
    pub agent_transaction_secs: u64,
    /// Upstream sessions all agents together may hold on one Postgres target (0: half of the
    /// server's `max_connections`, asked once): the rest stay for people and applications.
    pub agent_upstream_sessions: usize,
    /// Open connections on all listeners together; more are refused at once.
    pub max_connections: usize,
    /// Open connections on one listener.
    pub max_connections_per_listener: usize,
    /// Seconds from accept to authenticated (TLS, startup, SSH key exchange and auth, HTTP headers).
    pub preauth_timeout_secs: u64,
    /// Largest HTTP request head on the Kubernetes and admin listeners, bytes.
    pub max_header_bytes: usize,
    /// Bytes of statement texts and commands one agent identity may have recorded in an hour,
    /// allowed or refused (0: no bound); past it the gateway refuses its actions, so that one
    /// caller cannot fill the recording's disk for everyone.
    pub agent_recorded_bytes_1h: u64,
    /// Bytes all sessions together may hold for messages over 256 KiB (0: no bound); one
    /// identity's sessions at most a quarter of it. A message that does not fit is refused.
    pub large_messages_bytes: usize,
    /// Tokens, exchanged tokens and SSH certificates the admin API issues to (or by) one
    /// identity with the subjects it minted, in a minute (0: no bound); past it, 429 until the
    /// next minute.
    pub issued_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        let a = crate::admission::AdmissionLimits::default();
        LimitsConfig {
            max_sessions_per_identity: l.max_sessions_per_identity,
            idle_timeout_secs: l.idle_timeout.as_secs(),
            max_session_secs: l.max_session.as_secs(),
            review_timeout_secs: 300,
            max_message_bytes: 64 << 20,
            max_server_message_bytes: 16 << 20,
            max_rows_written: 1000,
            agent_idle_in_transaction_secs: 60,
            agent_statement_secs: 300,
            agent_transaction_secs: 600,
            agent_upstream_sessions: 0,
            max_connections: a.max_connections,
            max_connections_per_listener: a.max_connections_per_listener,
            preauth_timeout_secs: a.preauth_timeout.as_secs(),
            max_header_bytes: a.max_header_bytes,
            agent_recorded_bytes_1h: l.agent_recorded_bytes_1h,
            large_messages_bytes: l.large_messages_bytes,
            issued_per_minute: 600,
        }
    }
}

/// An SSH public key that logs in as an identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshKeyIdentity {
    /// Subject.
    pub subject: String,
    /// The public key, as in `authorized_keys` (`ssh-ed25519 AAAA... comment`).
    pub public_key: String,
    /// Human or agent.
    #[serde(default)]
    pub kind: crate::identity::IdentityKind,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Targets it may reach.
    #[serde(default = "all_targets")]
    pub targets: Vec<String>,
}

/// TLS toward clients, shared by every listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; a self-signed certificate is made in the data dir when absent.
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    pub key_file: Option<PathBuf>,
    /// Refuse tokens sent as cleartext passwords over unencrypted connections, except from
    /// the addresses in `plaintext_from`.
    pub require_for_tokens: bool,
    /// Client networks (CIDR) from which tokens may come without TLS. The TCP peer address is
    /// what is compared: a proxy or sidecar on the gateway's host makes every client it relays
    /// look like loopback, so with one in front, set this to `[]`.
    pub plaintext_from: Vec<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            require_for_tokens: true,
            plaintext_from: vec!["127.0.0.1/32".into(), "::1/128".into()],
        }
    }
}

impl TlsConfig {
    /// Whether a token may arrive without TLS from `peer`.
    pub fn plaintext_allowed(&self, peer: std::net::IpAddr) -> bool {
        !self.require_for_tokens || self.plaintext_from.iter().any(|c| Cidr::parse(c).is_some_and(|c| c.contains(peer)))
    }
}

/// An address block, `10.0.0.0/8` or `::1/128` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: std::net::IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `addr/bits`; None if either part is malformed.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, b) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let addr: std::net::IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = if b.is_empty() { max } else { b.parse().ok().filter(|n| *n <= max)? };
        Some(Cidr { addr, bits })
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let ip = match ip {
            V6(v6) => v6.to_ipv4_mapped().map(V4).unwrap_or(ip),
            v4 => v4,
        };
        let (net, ip, width): (u128, u128, u32) = match (self.addr, ip) {
            (V4(n), V4(i)) => (u32::from(n).into(), u32::from(i).into(), 32),
            (V6(n), V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let shift = width - u32::from(self.bits);
        shift >= width || (net >> shift) == (ip >> shift)
    }
}

/// A non-human identity that logs in with a static secret (e.g. SCRAM for Postgres clients).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticIdentity {
    /// Subject.
    pub subject: String,
    /// The secret.
    pub secret: Secret,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Targets it may reach.
    #[serde(default = "all_targets")]
    pub targets: Vec<String>,
}

fn all_targets() -> Vec<String> {
    vec!["*".into()]
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Data directory: keys, recordings. Defaults to the user's data dir + `/hoop`.
    pub data_dir: PathBuf,
    /// Listeners.
    pub listeners: Listeners,
    /// Targets by name.
    pub targets: BTreeMap<String, TargetConfig>,
    /// Trusted OIDC issuers.
    pub oidc: Vec<OidcConfig>,
    /// Static-secret agent identities.
    pub static_identities: Vec<StaticIdentity>,
    /// TLS toward clients.
    pub tls: TlsConfig,
    /// SSH public keys mapped to identities.
    pub ssh_keys: Vec<SshKeyIdentity>,
    /// Rules.
    pub policy: PolicyConfig,
    /// Masking.
    pub masking: MaskConfig,
    /// Recording.
    pub recording: RecordingConfig,
    /// Limits.
    pub limits: LimitsConfig,
    /// Approvals.
    pub approvals: ApprovalsConfig,
    /// The admin API.
    pub admin: AdminConfig,
}

/// Approvals (`[approvals]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// URL that gets a Slack-compatible `{"text": ...}` POST when a ticket opens. A secret
    /// (a Slack webhook URL is its own credential): literal, `env:NAME` or `file:PATH`, never logged.
    pub webhook_url: Option<Secret>,
}

/// The admin API (`[admin]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve `/metrics` without a token (otherwise a token in the `metrics` or `audit` group).
    pub metrics_public: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            listeners: Listeners::default(),
            targets: BTreeMap::new(),
            oidc: Vec::new(),
            static_identities: Vec::new(),
            tls: TlsConfig::default(),
            ssh_keys: Vec::new(),
            policy: PolicyConfig::default(),
            masking: MaskConfig::default(),
            recording: RecordingConfig::default(),
            limits: LimitsConfig::default(),
            approvals: ApprovalsConfig::default(),
            admin: AdminConfig::default(),
        }
    }
}

/// `$XDG_DATA_HOME/hoop`, else `~/.local/share/hoop`, else `./hoop-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("hoop");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => PathBuf::from(h).join(".local/share/hoop"),
        None => PathBuf::from("hoop-data"),
    }
}

impl Config {
    /// Parses TOML text; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: one_line(&e),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.into(), source: e })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Checks what types cannot: rules compile, secrets resolve, masking compiles.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.policy.compile()?;
        Masker::new(&self.masking, None).or_else(|e| match e {
            crate::mask::MaskError::NoKey => Ok(Masker::disabled()),
            other => Err(invalid("masking", other)),
        })?;
        for (name, t) in &self.targets {
            if let Some(p) = &t.password {
                p.resolve(&format!("targets.{name}.password"))?;
            }
            if t.address.trim().is_empty() {
                return Err(invalid(format!("targets.{name}.address"), "must not be empty"));
            }
        }
        for (i, s) in self.static_identities.iter().enumerate() {
            let secret = s.secret.resolve(&format!("static_identities[{i}].secret"))?;
            if secret.len() < 16 {
                return Err(invalid(format!("static_identities[{i}].secret"), "must be at least 16 characters"));
            }
        }
        for (i, c) in self.tls.plaintext_from.iter().enumerate() {
            if Cidr::parse(c).is_none() {
                return Err(invalid(format!("tls.plaintext_from[{i}]"), format!("{c:?} is not an address or CIDR block")));
            }
        }
        if let Some(w) = &self.approvals.webhook_url {
            w.resolve("approvals.webhook_url")?;
        }
        for (i, o) in self.oidc.iter().enumerate() {
            if o.audience.is_empty() {
                return Err(invalid(format!("oidc[{i}].audience"), "at least one audience is required"));
            }
            o.check().map_err(|e| invalid(format!("oidc[{i}]"), e))?;
        }
        crate::auth::oidc::separate_issuers(&self.oidc).map_err(|(i, e)| invalid(format!("oidc[{i}]"), e))?;
        Ok(())
    }

    /// Session limits as the gate uses them.
    pub fn gate_limits(&self) -> Limits {
        Limits {
            max_sessions_per_identity: self.limits.max_sessions_per_identity.max(1),
            idle_timeout: Duration::from_secs(self.limits.idle_timeout_secs.max(1)),
            max_session: Duration::from_secs(self.limits.max_session_secs.max(1)),
            agent_recorded_bytes_1h: self.limits.agent_recorded_bytes_1h,
            large_messages_bytes: self.limits.large_messages_bytes,
        }
    }

    /// Connection caps and the pre-authentication deadline as listeners apply them.
    pub fn admission_limits(&self) -> crate::admission::AdmissionLimits {
        crate::admission::AdmissionLimits {
            max_connections: self.limits.max_connections.max(1),
            max_connections_per_listener: self.limits.max_connections_per_listener.max(1),
            preauth_timeout: Duration::from_secs(self.limits.preauth_timeout_secs.max(1)),
            max_header_bytes: self.limits.max_header_bytes.max(8192),
        }
    }

    /// The rules and the masker this config describes (what a reload replaces).
    pub fn compile_rules_and_masking(&self) -> Result<(CelPolicy, Masker), ConfigError> {
        let keys = KeyStore::open(self.data_dir.join("keys")).map_err(|e| invalid("data_dir", e))?;
        let tok_key = keys.secret(KeyPurpose::Tokenise).map_err(|e| invalid("data_dir", e))?;
        let masker = Masker::new(&self.masking, Some(&tok_key)).map_err(|e| invalid("masking", e))?;
        Ok((self.policy.compile()?, masker))
    }

    /// The authenticator this config describes: gateway tokens signed by the data dir's key,
    /// and OIDC tokens of its issuers, through their mappings.
    pub fn authenticator(&self) -> Result<TokenAuthenticator, ConfigError> {
        let keys = KeyStore::open(self.data_dir.join("keys")).map_err(|e| invalid("data_dir", e))?;
        let verifier = TokenVerifier::from_store(&keys).map_err(|e| invalid("data_dir", e))?;
        let mut auth = TokenAuthenticator::new(verifier);
        for (i, o) in self.oidc.iter().enumerate() {
            auth = auth.with_oidc(OidcVerifier::new(o.clone()).map_err(|e| invalid(format!("oidc[{i}]"), e))?);
        }
        Ok(auth)
    }

    /// Builds the gate this config describes: keys from the data dir (created on first
    /// start), gateway and OIDC tokens, rules, masking, file recordings, approvals, targets.
    pub fn build_gate(&self) -> Result<Gate, ConfigError> {
        let keys = KeyStore::open(self.data_dir.join("keys")).map_err(|e| invalid("data_dir", e))?;
        let auth = self.authenticator()?;
        let revocations = Revocations::open(self.data_dir.join("keys").join("revoked.json")).map_err(|e| invalid("data_dir", e))?;
        let (policy, masker) = self.compile_rules_and_masking()?;
        let recorder = FileRecorder::new(
            FileRecorderConfig {
                dir: self.data_dir.join("recordings"),
                fsync_interval: Duration::from_millis(self.recording.fsync_interval_ms),
            },
            &keys,
        )
        .map_err(|e| invalid("data_dir", e))?;
        let mut b = GateBuilder::new(Arc::new(auth), Arc::new(policy), Arc::new(recorder))
            .masker(Arc::new(masker))
            .approvals(crate::approvals::Broker::new(Duration::from_secs(self.limits.review_timeout_secs.max(1))))
            .limits(self.gate_limits())
            .revocations(Arc::new(revocations))
            .usage(Arc::new(crate::usage::UsageBook::open(self.data_dir.join("usage.json")).map_err(|e| invalid("data_dir", e))?))
            .admission(self.admission_limits());
        for (name, t) in &self.targets {
            b = b.target(t.info(name));
        }
        Ok(b.build())
    }
}

/// Collapses a multi-line parser message (with its source excerpt) into one line.
fn one_line(e: &toml::de::Error) -> String {
    let full = e.to_string();
    let location = full.lines().next().unwrap_or_default().trim().trim_start_matches("TOML parse error ");
    let excerpt = full.lines().find(|l| l.contains(" | ") && !l.trim_end().ends_with('|')).map(|l| {
        l.split_once(" | ").map(|(_, code)| code.trim().to_string()).unwrap_or_default()
    });
    match excerpt {
        Some(code) if !code.is_empty() => format!("{location}: {} (in `{code}`)", e.message()),
        _ => format!("{location}: {}", e.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_config_defaults() {
        let c = Config::parse("", "test").unwrap();
        assert!(c.masking.enabled);
        assert!(c.policy.default_rules);
        assert_eq!(c.listeners.postgres.as_deref(), Some("127.0.0.1:15432"));
        assert!(c.policy.compile().unwrap().rule_names().count() >= 10);
    }

    #[test]
    fn full_config_and_secret_references() {
        // PATH is always set; it stands in for an upstream password held in the environment.
        let path_var = std::env::var("PATH").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pw_file = dir.path().join("pw");
        std::fs::write(&pw_file, "from-file\n").unwrap();
        let text = format!(
            r#"
data_dir = "{d}"
[listeners]
postgres = "127.0.0.1:6000"
[targets.prod]
protocol = "postgres"
address = "127.0.0.1:5432"
user = "app"
password = "env:PATH"
sensitive_tables = ["Customers"]
[targets.web]
protocol = "ssh"
address = "127.0.0.1:22"
password = "file:{p}"
[policy]
default = "deny"
[[policy.rules]]
name = "humans"
when = 'identity.kind == "human"'
then = "allow"
[masking]
mode = "redact"
columns = ["users.email"]
"#,
            d = dir.path().display(),
            p = pw_file.display()
        );
        let c = Config::parse(&text, "hoop.toml").unwrap();
        let prod = &c.targets["prod"];
        assert_eq!(prod.password.as_ref().unwrap().resolve("k").unwrap(), path_var);
        assert_eq!(c.targets["web"].password.as_ref().unwrap().resolve("k").unwrap(), "from-file");
        assert_eq!(prod.info("prod").sensitive_tables, ["customers"]);
        assert!(!format!("{c:?}").contains("env:PATH"), "Debug never shows secrets");
        let gate = c.build_gate().unwrap();
        assert!(gate.live_sessions().is_empty());
        assert!(dir.path().join("keys/token/current").exists());
    }

    #[test]
    fn plaintext_from_is_a_list_of_blocks() {
        let t = TlsConfig::default();
        assert!(t.plaintext_allowed("127.0.0.1".parse().unwrap()));
        assert!(t.plaintext_allowed("::1".parse().unwrap()));
        assert!(t.plaintext_allowed("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!t.plaintext_allowed("127.0.0.2".parse().unwrap()));
        assert!(!t.plaintext_allowed("10.1.2.3".parse().unwrap()));
        let t = TlsConfig { plaintext_from: vec!["10.0.0.0/8".into()], ..TlsConfig::default() };
        assert!(t.plaintext_allowed("10.1.2.3".parse().unwrap()));
        assert!(!t.plaintext_allowed("127.0.0.1".parse().unwrap()));
        let none = TlsConfig { plaintext_from: vec![], ..TlsConfig::default() };
        assert!(!none.plaintext_allowed("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Config::parse("[tls]\nplaintext_from = [\"localhost\"]\n", "t").unwrap_err().to_string().contains("plaintext_from"));
    }

    #[test]
    fn errors_name_key_and_line() {
        let e = Config::parse("[limits]\nidle_timeout_secs = \"soon\"\n", "hoop.toml").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("idle_timeout_secs"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        let e = Config::parse("[limitz]\n", "hoop.toml").unwrap_err().to_string();
        assert!(e.contains("limitz"), "{e}");
        let e = Config::parse(
            "[[policy.rules]]\nname = \"bad\"\nwhen = \"action.kind ==\"\nthen = \"deny\"\n",
            "hoop.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bad") && e.contains("policy.rules"), "{e}");
        let e = Config::parse(
            "[targets.x]\nprotocol = \"postgres\"\naddress = \"h:1\"\npassword = \"env:HOOP_SURELY_UNSET_VAR\"\n",
            "hoop.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("targets.x.password") && e.contains("HOOP_SURELY_UNSET_VAR"), "{e}");
    }
}

#[cfg(test)]
mod doc_examples {
    use super::*;

    /// The rules shown in README.md and docs/policy.md load.
    #[test]
    fn documented_rules_compile() {
        let text = r#"
[[policy.rules]]
name = "dba-may-do-anything"
when = 'identity.kind == "human" && "dba" in identity.groups'
then = "allow"

[[policy.rules]]
name = "no-writes-to-prod-at-night"
when = '"env" in target.labels && target.labels.env == "prod" && action.kind == "sql" && action.sql.kinds.exists(k, k in ["insert", "update", "delete"]) && now.getHours() < 6'
then = "review"
reason = "writes to prod outside business hours need a second pair of eyes"

[masking]
mode = "redact"
detectors = ["email", "card", "iban", "ssn", "jwt", "bearer", "cloud_key", "private_key", "url_credentials"]
columns = ["users.email", "prod:public.customers.phone"]
[[masking.column_rules]]
table = "customers"
column = "national_id"
mode = "tokenise"
"#;
        let c = Config::parse(text, "docs").unwrap();
        assert_eq!(c.policy.compile().unwrap().rule_names().next(), Some("dba-may-do-anything"));
    }
}
