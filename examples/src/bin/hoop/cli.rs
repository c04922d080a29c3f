//! The operator's CLI: local bootstrap commands (tokens, certificates, kubeconfigs, signed with
//! the data dir's keys) and commands that talk to the admin API.

use hoop_admin::AdminClient;
use hoop_core::approvals::REVIEW_GROUP;
use hoop_core::auth::TokenSpec;
use hoop_core::config::Config;
use hoop_core::event::{Event, Stream};
use hoop_core::record::{Body, StoredEvent};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Issue a token. Operator's tool on the gateway's host: signed with the data dir's key,
    /// which mints every identity. With `--token`, asks the admin API instead (within that
    /// token's grant).
    Issue {
        #[command(flatten)]
        who: examples::IdentityArgs,
        /// Print a kubectl `ExecCredential` instead of the bare token.
        #[arg(long)]
        exec_credential: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Exchange a client credential (or an OIDC token) for a short-lived token over the admin
    /// API: what agents run. Needs only the gateway's URL, its CA and the credential.
    Exchange {
        #[command(flatten)]
        own: ExchangeArgs,
        /// Print a kubectl `ExecCredential` instead of the bare token.
        #[arg(long)]
        exec_credential: bool,
    },
}

/// An agent's own credential and what to ask for with it.
#[derive(clap::Args, Clone)]
pub struct ExchangeArgs {
    /// File holding the client credential (`hoopc_…`) or an OIDC token.
    #[arg(long, env = "HOOP_CREDENTIAL_FILE")]
    pub credential_file: PathBuf,
    /// Narrow the token to these targets (default: all the credential allows).
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<String>,
    /// Lifetime in seconds (at most what the credential allows).
    #[arg(long)]
    pub ttl: Option<i64>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

impl ExchangeArgs {
    /// The same flags as arguments (for a credential plugin's command line).
    fn to_args(&self, url: &str, ca: &Path) -> Vec<String> {
        let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or(p.to_path_buf()).display().to_string();
        let mut a = vec!["--admin-url".into(), url.to_string(), "--ca-file".into(), abs(ca), "--credential-file".into(), abs(&self.credential_file)];
        if !self.targets.is_empty() {
            a.extend(["--targets".into(), self.targets.join(",")]);
        }
        if let Some(t) = self.ttl {
            a.extend(["--ttl".into(), t.to_string()]);
        }
        a
    }

    /// Trades the credential for a token: `(token, expires_at)`.
    async fn exchange(&self, cfg: &Config) -> Result<(String, i64), String> {
        let credential = std::fs::read_to_string(&self.credential_file).map_err(|e| format!("{}: {e}", self.credential_file.display()))?;
        let client = self.admin.client_with(cfg, credential.trim().to_string())?;
        let mut body = serde_json::Map::new();
        if !self.targets.is_empty() {
            body.insert("targets".into(), serde_json::json!(self.targets));
        }
        if let Some(t) = self.ttl {
            body.insert("ttl_secs".into(), serde_json::json!(t));
        }
        let v = json(&client.post("/v1/exchange", serde_json::Value::Object(body)).await.map_err(|e| e.to_string())?)?;
        Ok((at(&v, "/token").to_string(), v.pointer("/expires_at").and_then(|e| e.as_i64()).unwrap_or_default()))
    }
}

pub async fn token(cfg: &Config, c: TokenCommand) -> Result<(), String> {
    let (token, expires_at, exec_credential) = match c {
        TokenCommand::Issue { who, exec_credential, admin } => {
            let spec = who.spec()?;
            let token = if admin.token.is_some() {
                let body = serde_json::json!({ "subject": spec.subject, "kind": who.kind, "groups": spec.groups, "targets": spec.targets, "ttl_secs": spec.ttl_secs });
                let v = json(&client(cfg, &admin)?.post("/v1/tokens", body).await.map_err(|e| e.to_string())?)?;
                at(&v, "/token").to_string()
            } else {
                examples::issue_token(&cfg.data_dir, &spec)?
            };
            (token, hoop_core::auth::now_secs() + spec.ttl_secs, exec_credential)
        }
        TokenCommand::Exchange { own, exec_credential } => {
            let (token, expires_at) = own.exchange(cfg).await?;
            (token, expires_at, exec_credential)
        }
    };
    if exec_credential {
        println!("{}", hoop_k8s::exec_credential(&token, expires_at));
    } else {
        println!("{token}");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct SshCertArgs {
    /// The public key file to certify (`id_ed25519.pub`).
    #[arg(long)]
    public_key: PathBuf,
    /// Over the admin API, with this credential (what agents run); without it, the operator's
    /// local tool signing with the data dir's CA key for `--subject`.
    #[arg(long, env = "HOOP_CREDENTIAL_FILE")]
    credential_file: Option<PathBuf>,
    /// Narrow the certificate to these targets.
    #[arg(long, value_delimiter = ',')]
    cert_targets: Vec<String>,
    /// Subject (local minting only: refused with `--credential-file`, whose identity the
    /// certificate carries, rather than silently ignored).
    #[arg(long, conflicts_with = "credential_file")]
    subject: Option<String>,
    /// agent or human (local minting only).
    #[arg(long, default_value = "agent", conflicts_with = "credential_file")]
    kind: String,
    /// Groups (local minting only).
    #[arg(long, value_delimiter = ',', conflicts_with = "credential_file")]
    groups: Vec<String>,
    /// Targets (local minting only; `--cert-targets` narrows one asked over the admin API).
    #[arg(long, value_delimiter = ',', default_value = "*", conflicts_with = "credential_file")]
    targets: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: i64,
    #[command(flatten)]
    admin: AdminArgs,
}

pub async fn ssh_cert(cfg: &Config, a: SshCertArgs) -> Result<(), String> {
    let Some(credential_file) = a.credential_file.clone() else {
        let subject = a.subject.clone().ok_or("--subject (local minting) or --credential-file (over the admin API) is required")?;
        let who = examples::IdentityArgs { subject, kind: a.kind.clone(), groups: a.groups.clone(), targets: a.targets.clone(), ttl: a.ttl };
        println!("{}", examples::ssh_certificate(&cfg.data_dir, &who, &a.public_key)?);
        return Ok(());
    };
    let own = ExchangeArgs { credential_file, targets: a.cert_targets.clone(), ttl: Some(a.ttl), admin: a.admin.clone() };
    let (token, _) = own.exchange(cfg).await?;
    let key = std::fs::read_to_string(&a.public_key).map_err(|e| format!("{}: {e}", a.public_key.display()))?;
    let mut body = serde_json::json!({ "public_key": key.trim(), "ttl_secs": a.ttl });
    if !a.cert_targets.is_empty()
        && let Some(o) = body.as_object_mut()
    {
        o.insert("targets".into(), serde_json::json!(a.cert_targets));
    }
    let v = json(&a.admin.client_with(cfg, token)?.post("/v1/ssh/certificates", body).await.map_err(|e| e.to_string())?)?;
    println!("{}", at(&v, "/certificate"));
    Ok(())
}

#[derive(clap::Args)]
pub struct KubeconfigArgs {
    /// Target the kubeconfig points at.
    #[arg(long)]
    target: String,
    /// The gateway's Kubernetes URL as clients reach it (default: `https://` + listeners.kubernetes).
    #[arg(long)]
    server: Option<String>,
    /// Default namespace.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// The credential kubectl's plugin exchanges for tokens (`hoop token exchange`).
    #[command(flatten)]
    own: ExchangeArgs,
}

/// A kubeconfig whose credential plugin exchanges the agent's own credential; it holds no key
/// and needs no data dir, only the gateway's URLs and CA.
pub fn kubeconfig(cfg: &Config, a: KubeconfigArgs) -> Result<(), String> {
    let ca = a.own.admin.ca_file(cfg);
    let ca_pem = std::fs::read_to_string(&ca).map_err(|e| format!("{}: {e} (pass --ca-file)", ca.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut args = vec!["token".to_string(), "exchange".into(), "--exec-credential".into()];
    let mut own = a.own.clone();
    if own.targets.is_empty() {
        own.targets = vec![a.target.clone()];
    }
    args.extend(own.to_args(&a.own.admin.url(cfg), &ca));
    let base = a.server.unwrap_or_else(|| format!("https://{}", cfg.listeners.kubernetes.clone().unwrap_or_default()));
    let spec = hoop_k8s::KubeconfigSpec {
        name: a.target.clone(),
        server: format!("{}/k8s/{}", base.trim_end_matches('/'), a.target),
        ca_pem,
        namespace: a.namespace,
        user: hoop_k8s::KubeUser::Exec { command: exe.display().to_string(), args },
    };
    println!("{}", hoop_k8s::kubeconfig(&spec));
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum ClientsCommand {
    /// Register a client credential for an agent; prints it once.
    Create {
        /// Subject of its tokens.
        #[arg(long)]
        subject: String,
        /// agent or human.
        #[arg(long, default_value = "agent")]
        kind: String,
        /// Groups of its tokens.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Targets its tokens may reach.
        #[arg(long, value_delimiter = ',')]
        targets: Vec<String>,
        /// Longest lifetime of one token, seconds.
        #[arg(long, default_value_t = 3600)]
        max_ttl: i64,
        /// Subject patterns its tokens may issue for (with the token-issuer group).
        #[arg(long, value_delimiter = ',')]
        issue_subjects: Vec<String>,
        /// Write the credential to this file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Registered clients (never their secrets).
    List,
    /// Remove a client and revoke it: its tokens and sessions end at once.
    Delete {
        /// Client id.
        id: String,
    },
}

pub async fn clients(cfg: &Config, a: &AdminArgs, c: ClientsCommand) -> Result<(), String> {
    let client = client(cfg, a)?;
    match c {
        ClientsCommand::Create { subject, kind, groups, targets, max_ttl, issue_subjects, out } => {
            examples::parse_kind(&kind)?;
            let body = serde_json::json!({ "subject": subject, "kind": kind, "groups": groups, "targets": targets, "max_ttl_secs": max_ttl, "issue_subjects": issue_subjects });
            let v = json(&client.post("/v1/clients", body).await.map_err(|e| e.to_string())?)?;
            let credential = at(&v, "/credential");
            match out {
                Some(path) => {
                    use std::os::unix::fs::OpenOptionsExt;
                    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    writeln!(f, "{credential}").map_err(|e| format!("{}: {e}", path.display()))?;
                    println!("client {} for {subject}: credential written to {}", at(&v, "/client/id"), path.display());
                }
                None => println!("{credential}"),
            }
        }
        ClientsCommand::List => {
            let v = json(&client.get("/v1/clients").await.map_err(|e| e.to_string())?)?;
            for c in v.as_array().cloned().unwrap_or_default() {
                println!("{}  {:<16} {:<6} groups {}  targets {}  max_ttl {}s  by {}", at(&c, "/id"), at(&c, "/subject"), at(&c, "/kind"), shown(&c, "/groups"), shown(&c, "/targets"), shown(&c, "/max_ttl_secs"), at(&c, "/created_by"));
            }
        }
        ClientsCommand::Delete { id } => {
            let v = json(&client.delete(&format!("/v1/clients/{id}")).await.map_err(|e| e.to_string())?)?;
            println!("deleted and revoked {id}; {} live sessions ended", shown(&v, "/ended_sessions"));
        }
    }
    Ok(())
}

/// How to reach the admin API.
#[derive(clap::Args, Clone)]
pub struct AdminArgs {
    /// Admin API URL (default: `https://` + listeners.admin).
    #[arg(long, global = true, env = "HOOP_ADMIN_URL")]
    admin_url: Option<String>,
    /// The gateway's CA or certificate (PEM) to trust (default: the data dir's certificate).
    #[arg(long, global = true, env = "HOOP_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// A token with the `review` or `audit` group (default: one minted for `$USER` from the data
    /// dir's key, for operators on the gateway's host).
    #[arg(long, global = true, env = "HOOP_TOKEN")]
    token: Option<String>,
}

impl AdminArgs {
    fn url(&self, cfg: &Config) -> String {
        self.admin_url.clone().unwrap_or_else(|| format!("https://{}", cfg.listeners.admin.clone().unwrap_or_default()))
    }

    fn ca_file(&self, cfg: &Config) -> PathBuf {
        self.ca_file.clone().or_else(|| cfg.tls.cert_file.clone()).unwrap_or_else(|| cfg.data_dir.join("tls").join("cert.pem"))
    }

    /// A client presenting `credential`.
    fn client_with(&self, cfg: &Config, credential: String) -> Result<AdminClient, String> {
        let ca = self.ca_file(cfg);
        if !ca.exists() {
            return Err(format!("{}: no such file (pass --ca-file with the gateway's CA)", ca.display()));
        }
        let tls = hoop_core::tls::client_config(Some(&ca)).map_err(|e| e.to_string())?;
        AdminClient::new(&self.url(cfg), tls, credential).map_err(|e| e.to_string())
    }
}

fn client(cfg: &Config, a: &AdminArgs) -> Result<AdminClient, String> {
    let token = match &a.token {
        Some(t) => t.clone(),
        None => {
            // The operator on the gateway's host: whoever reads the data dir holds every grant.
            let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "operator".into());
            let spec = TokenSpec {
                subject: user,
                kind: hoop_core::identity::IdentityKind::Human,
                groups: vec![
                    REVIEW_GROUP.into(),
                    hoop_admin::AUDIT_GROUP.into(),
                    hoop_core::auth::token::ISSUE_GROUP.into(),
                    hoop_core::auth::grant::ANY_GROUP.into(),
                ],
                targets: vec!["*".into()],
                ttl_secs: 300,
            };
            examples::issue_operator_token(&cfg.data_dir, &spec).map_err(|e| format!("no --token and none could be minted from the data dir: {e}"))?
        }
    };
    a.client_with(cfg, token)
}

/// The text at `pointer` (`/action/sql/text`) in an API answer, or "".
fn at<'a>(v: &'a serde_json::Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(|x| x.as_str()).unwrap_or("")
}

/// The value at `pointer` as shown to a person.
fn shown(v: &serde_json::Value, pointer: &str) -> String {
    v.pointer(pointer).map(|x| x.to_string()).unwrap_or_default()
}

fn json(bytes: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("admin API answered with something else than JSON: {e}"))
}

#[derive(clap::Subcommand)]
pub enum ApprovalsCommand {
    /// Open tickets.
    List,
    /// One open ticket whole: the action as the reviewer decides it, a Kubernetes write's body
    /// laid out.
    Show {
        /// Ticket id.
        id: String,
    },
    /// Approve a ticket.
    Approve {
        /// Ticket id.
        id: String,
    },
    /// Deny a ticket.
    Deny {
        /// Ticket id.
        id: String,
        /// Why, shown to the requester.
        #[arg(long, default_value = "denied")]
        reason: String,
    },
}

pub async fn approvals(cfg: &Config, a: &AdminArgs, c: ApprovalsCommand) -> Result<(), String> {
    let client = client(cfg, a)?;
    match c {
        ApprovalsCommand::List => {
            let v = json(&client.get("/v1/approvals").await.map_err(|e| e.to_string())?)?;
            let tickets = v.as_array().cloned().unwrap_or_default();
            if tickets.is_empty() {
                println!("no open tickets");
            }
            for t in tickets {
                let what = t.get("action").cloned().and_then(|a| serde_json::from_value::<hoop_core::action::Action>(a).ok()).map(|a| a.summary()).unwrap_or_default();
                let mut detail = t.get("detail").and_then(|d| d.as_str()).filter(|d| !d.is_empty()).map(|d| format!("  ({d})")).unwrap_or_default();
                // A write's body does not fit a line: said, and `show` lays it out.
                if t.pointer("/action/k8s/body").and_then(|b| b.as_str()).is_some_and(|b| !b.is_empty()) {
                    detail.push_str(&format!("  [body: hoop approvals show {}]", at(&t, "/id")));
                }
                // Shown as escapes: a terminal must not obey what an agent wrote (red-team round 24).
                let line = format!("{}  {}  {} on {}  rule {}  {}{detail}", at(&t, "/id"), at(&t, "/requester"), at(&t, "/action/kind"), at(&t, "/action/target"), at(&t, "/rule"), what);
                println!("{}", hoop_core::display::escaped(&line));
            }
        }
        ApprovalsCommand::Show { id } => {
            let v = json(&client.get("/v1/approvals").await.map_err(|e| e.to_string())?)?;
            let t = v.as_array().into_iter().flatten().find(|t| t.get("id").and_then(|i| i.as_str()) == Some(id.as_str())).ok_or_else(|| format!("no open ticket {id}"))?;
            // Every line escaped: a terminal must not obey what an agent wrote, nor a bidi
            // override reorder it (red-team round 37: a write's body is the agent's text).
            let print = |text: &str| {
                for line in text.lines() {
                    println!("{}", hoop_core::display::escaped(line));
                }
            };
            // The action as JSON, whose own escapes show its strings' newlines and controls.
            let print_json = |json: &str| {
                for line in json.lines() {
                    println!("{}", hoop_core::display::escaped_json(line));
                }
            };
            let mut action = t.get("action").cloned().unwrap_or_default();
            // A Kubernetes write's body is JSON text: shown laid out, after the rest.
            let body = action.pointer_mut("/k8s/body").map(serde_json::Value::take).and_then(|b| b.as_str().map(str::to_string)).filter(|b| !b.is_empty());
            print(&format!("ticket {}  requester {}  rule {}", at(t, "/id"), at(t, "/requester"), at(t, "/rule")));
            if let Some(detail) = t.get("detail").and_then(|d| d.as_str()).filter(|d| !d.is_empty()) {
                print(&format!("note: {detail}"));
            }
            print_json(&serde_json::to_string_pretty(&action).unwrap_or_default());
            if let Some(body) = body {
                println!("body:");
                match serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|b| serde_json::to_string_pretty(&b).ok()) {
                    Some(laid) => print_json(&laid),
                    None => print(&body),
                }
            }
        }
        ApprovalsCommand::Approve { id } => {
            client.post(&format!("/v1/approvals/{id}/approve"), serde_json::json!({})).await.map_err(|e| e.to_string())?;
            println!("approved {id}");
        }
        ApprovalsCommand::Deny { id, reason } => {
            client.post(&format!("/v1/approvals/{id}/deny"), serde_json::json!({ "reason": reason })).await.map_err(|e| e.to_string())?;
            println!("denied {id}");
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum SessionsCommand {
    /// Recorded sessions, live ones marked.
    List,
    /// A session's records as JSON lines.
    Show {
        /// Session id.
        id: String,
    },
    /// End a live session.
    Kill {
        /// Session id.
        id: String,
    },
}

pub async fn sessions(cfg: &Config, a: &AdminArgs, c: SessionsCommand) -> Result<(), String> {
    let client = client(cfg, a)?;
    match c {
        SessionsCommand::List => {
            let v = json(&client.get("/v1/sessions").await.map_err(|e| e.to_string())?)?;
            for s in v.as_array().cloned().unwrap_or_default() {
                let line = format!(
                    "{}  {:<10} {:<12} {:<12} {}{}",
                    at(&s, "/id"),
                    at(&s, "/protocol"),
                    at(&s, "/target"),
                    at(&s, "/subject"),
                    shown(&s, "/records"),
                    match (s.pointer("/live").and_then(|l| l.as_bool()), s.pointer("/ending").and_then(|e| e.as_str())) {
                        (Some(true), _) => "  live",
                        (_, Some("crash_ended")) => "  crash-ended",
                        (_, Some("open")) => "  unsealed",
                        (_, Some("missing")) => "  missing (sealed, file gone)",
                        _ => "",
                    }
                );
                println!("{}", hoop_core::display::escaped(&line));
            }
        }
        SessionsCommand::Show { id } => {
            let v = json(&client.get(&format!("/v1/sessions/{id}")).await.map_err(|e| e.to_string())?)?;
            for e in v.as_array().cloned().unwrap_or_default() {
                println!("{e}");
            }
        }
        SessionsCommand::Kill { id } => {
            client.post(&format!("/v1/sessions/{id}/kill"), serde_json::json!({})).await.map_err(|e| e.to_string())?;
            println!("killed {id}");
        }
    }
    Ok(())
}

/// Prints usage windows: one line per identity, and per identity on a target.
pub async fn usage(cfg: &Config, a: &AdminArgs, identity: Option<&str>) -> Result<(), String> {
    let client = client(cfg, a)?;
    let v = json(&client.get("/v1/usage").await.map_err(|e| e.to_string())?)?;
    // Written line by line and stopped at the first failed write: `hoop usage | head` ends
    // quietly when head has read enough (println! would panic on the closed pipe).
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let mut shown = 0;
    for u in v.as_array().cloned().unwrap_or_default() {
        if identity.is_some_and(|i| u.pointer("/subject").and_then(|s| s.as_str()) != Some(i)) {
            continue;
        }
        shown += 1;
        let named = |k: &str| u.pointer(k).and_then(|t| t.as_str());
        let scope = match (named("/target"), named("/table"), named("/column"), named("/detector")) {
            (Some(t), Some(table), _, _) => format!("{} on {t}, table {table}", at(&u, "/subject")),
            (Some(t), None, Some(column), _) => format!("{} on {t}, masked column {column}", at(&u, "/subject")),
            (Some(t), None, None, Some(detector)) => format!("{} on {t}, detector {detector}", at(&u, "/subject")),
            (Some(t), None, None, None) => format!("{} on {t}", at(&u, "/subject")),
            _ => format!("{} (every target)", at(&u, "/subject")),
        };
        if writeln!(out, "{scope}").is_err() {
            return Ok(());
        }
        for w in ["1m", "1h", "1d"] {
            let c = |k: &str| u.pointer(&format!("/windows/{w}/{k}")).and_then(|x| x.as_u64()).unwrap_or(0);
            let line = format!(
                "  {w:>2}: actions {}  rows {}  bytes {}  masked_values {}  deletes {}",
                c("actions"),
                c("rows"),
                c("bytes"),
                c("masked_values"),
                c("deletes")
            );
            if writeln!(out, "{line}").is_err() {
                return Ok(());
            }
        }
    }
    if shown == 0 {
        let _ = writeln!(out, "no usage recorded in the last day");
    }
    Ok(())
}

/// What `hoop revoke` names.
#[derive(clap::Args)]
pub struct RevokeArgs {
    /// A token id (`jti`), or a revocation id: `token:`, `client:`, `ssh-cert:<serial>`,
    /// `ssh-key:<SHA256:fingerprint>`, `static:<subject>`, `subject:<name>`.
    id: Option<String>,
    /// Why (kept with the revocation).
    #[arg(long, default_value = "")]
    reason: String,
    /// List the revocations in force instead.
    #[arg(long)]
    list: bool,
    /// Write the revocation to the data dir's list directly, for a gateway on this host whose
    /// admin API cannot be reached; it takes it in within a second. Used on its own when the
    /// admin API does not answer and the data dir is here.
    #[arg(long)]
    local: bool,
    #[command(flatten)]
    admin: AdminArgs,
}

pub async fn revoke(cfg: &Config, a: RevokeArgs) -> Result<(), String> {
    if a.list && a.local {
        let list = hoop_core::auth::Revocations::open(cfg.data_dir.join("keys").join("revoked.json")).map_err(|e| e.to_string())?;
        let esc = |s: &str| hoop_core::display::escaped(s).into_owned();
        for r in list.list() {
            println!("{}  by {}  {}", esc(&r.id), esc(&r.by), esc(&r.reason));
        }
        return Ok(());
    }
    if a.list {
        let client = client(cfg, &a.admin)?;
        let v = json(&client.get("/v1/revocations").await.map_err(|e| e.to_string())?)?;
        for r in v.as_array().cloned().unwrap_or_default() {
            let until = match r.pointer("/until").and_then(|u| u.as_i64()) {
                Some(0) | None => "for ever".to_string(),
                Some(t) => format!("until {t} (epoch seconds)"),
            };
            // Subjects and reasons are chosen by whoever revoked (an agent's minted subject
            // may hold a right-to-left override: red-team identity round 81).
            let esc = |p: &str| hoop_core::display::escaped(at(&r, p)).into_owned();
            println!("{}  {until}  by {}  {}", esc("/id"), esc("/by"), esc("/reason"));
        }
        return Ok(());
    }
    let id = a.id.ok_or("name what to revoke, or pass --list")?;
    let id = match id.contains(':') {
        true => id,
        // A bare id is a gateway token's jti (24 hex digits); anything else names nothing.
        false if id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()) => format!("token:{id}"),
        false => return Err(format!("{id:?} is not a token id (24 hex digits); name the kind: token:, client:, ssh-cert:, ssh-key:, static:, subject:")),
    };
    let list = cfg.data_dir.join("keys").join("revoked.json");
    if !a.local {
        match client(cfg, &a.admin)?.post("/v1/revocations", serde_json::json!({ "id": id, "reason": a.reason })).await {
            Ok(body) => {
                let v = json(&body)?;
                println!("revoked {}; {} live sessions ended", at(&v, "/revoked"), shown(&v, "/ended_sessions"));
                return Ok(());
            }
            Err(e @ hoop_admin::ClientError::Connect(..)) if cfg.data_dir.join("keys").join("seal").is_dir() => eprintln!("hoop: {e}; writing the revocation to {} instead", list.display()),
            Err(e) => return Err(e.to_string()),
        }
    }
    // A data dir no gateway made (another user's default, a typo) would take the revocation
    // and tell nobody (red-team identity round 110: `revoke --local` as another user said
    // "revoked" into a new data dir of its own).
    if !cfg.data_dir.join("keys").join("seal").is_dir() {
        return Err(format!("no gateway's data dir at {} (no gateway has recorded there: no keys/seal): nothing revoked; pass --data-dir", cfg.data_dir.display()));
    }
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "operator".into());
    let r = hoop_core::auth::Revocation { id, until: 0, by: user, at: hoop_core::auth::now_secs(), reason: a.reason };
    let revocations = hoop_core::auth::Revocations::open(list.clone()).map_err(|e| e.to_string())?;
    let id = hoop_core::auth::revocation::canonical(&r.id).map_err(|e| e.to_string())?;
    revocations.revoke(r).map_err(|e| e.to_string())?;
    println!("revoked {id} in {}; a gateway running on this data dir ends its sessions within a second", list.display());
    Ok(())
}

pub async fn verify(cfg: &Config, a: &AdminArgs, id: &str) -> Result<(), String> {
    let v = json(&client(cfg, a)?.get(&format!("/v1/sessions/{id}/verify")).await.map_err(|e| e.to_string())?)?;
    let intact = v.pointer("/report/first_error").is_none_or(|e| e.is_null());
    if v.pointer("/ok").and_then(|o| o.as_bool()) == Some(true) {
        if v.pointer("/report/crash_ended").and_then(|c| c.as_bool()) == Some(true) {
            println!(
                "OK: {id}: {} records, chain intact; closed after a crash at the next start (records after {} were not signed while it ran)",
                shown(&v, "/report/records"),
                shown(&v, "/report/last_signed")
            );
        } else {
            println!("OK: {id}: {} records, chain intact, signed and sealed", shown(&v, "/report/records"));
        }
        Ok(())
    } else if intact {
        // Not tampered with: live, or left open by a gateway that has not started again.
        println!(
            "UNSEALED: {id}: {} records, chain intact, not closed (live, or left open by a crash; the next start closes it); last signed at {}",
            shown(&v, "/report/records"),
            shown(&v, "/report/last_signed")
        );
        std::process::exit(2);
    } else {
        Err(format!(
            "FAILED: {id}: {} records verified; first problem: {}; sealed: {}",
            shown(&v, "/report/records"),
            shown(&v, "/report/first_error"),
            shown(&v, "/report/sealed")
        ))
    }
}

pub async fn export(cfg: &Config, a: &AdminArgs, id: &str) -> Result<(), String> {
    let cast = client(cfg, a)?.get(&format!("/v1/sessions/{id}/asciicast")).await.map_err(|e| e.to_string())?;
    std::io::stdout().write_all(&cast).map_err(|e| e.to_string())
}

/// Terminal sessions: the output bytes with their timing (divided by `speed`). Others: a
/// timeline of actions, verdicts, results and masked rows.
pub async fn replay(cfg: &Config, a: &AdminArgs, id: &str, speed: f64) -> Result<(), String> {
    let bytes = client(cfg, a)?.get(&format!("/v1/sessions/{id}")).await.map_err(|e| e.to_string())?;
    let events: Vec<StoredEvent> = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let speed = if speed > 0.0 { speed } else { 1.0 };
    let terminal = events.iter().any(|e| matches!(e.body, Body::Event(Event::Terminal { .. })));
    let mut out = std::io::stdout();
    if terminal {
        let mut last = 0.0;
        for e in &events {
            if let Body::Event(ev @ Event::Terminal { t, stream, .. }) = &e.body {
                if *stream == Stream::Stdin {
                    continue;
                }
                let wait = ((t - last) / speed).clamp(0.0, 5.0);
                last = *t;
                if wait > 0.0 {
                    tokio::time::sleep(std::time::Duration::from_secs_f64(wait)).await;
                }
                let _ = out.write_all(&ev.terminal_bytes().unwrap_or_default());
                let _ = out.flush();
            }
        }
        return Ok(());
    }
    // What an agent or a server wrote is shown as escapes; the layout's own line breaks stay.
    let esc = |s: &str| hoop_core::display::escaped(s).into_owned();
    for e in &events {
        let Body::Event(ev) = &e.body else { continue };
        let line = match ev {
            Event::SessionStart { session } => format!("session {} by {} ({}) to {}", session.id, esc(&session.identity.subject), session.protocol.as_str(), esc(&session.target.name)),
            Event::Action { action_id, action, verdict, usage } => {
                let what = action.summary();
                let usage = usage.map(|u| format!("\n    usage judged: {}", u.summary())).unwrap_or_default();
                format!("#{action_id} {} {what}  -> {}{usage}", action.kind.as_str(), serde_json::to_string(verdict).unwrap_or_default())
            }
            Event::ResultCheckpoint { action_id, rows, bytes, masked_values, verdict, usage } => {
                let verdict = verdict.as_ref().map(|v| format!("  -> {}", serde_json::to_string(v).unwrap_or_default())).unwrap_or_default();
                let usage = usage.map(|u| format!("\n    usage: {}", u.summary())).unwrap_or_default();
                format!("#{action_id} checkpoint: {rows} rows, {bytes} bytes, {masked_values} masked values so far{verdict}{usage}")
            }
            Event::ReviewRequested { action_id, ticket } => format!("#{action_id} waiting for review (ticket {ticket})"),
            Event::ReviewDecided { action_id, approved, reviewer, .. } => format!("#{action_id} {} by {}", if *approved { "approved" } else { "denied" }, esc(reviewer)),
            Event::ActionResult { action_id, status, rows, duration_us, error, columns, sample, .. } => {
                let mut s = format!("#{action_id} {}, {rows} rows, {:.3} ms{}", esc(status), *duration_us as f64 / 1000.0, error.as_ref().map(|e| format!(", error: {}", esc(e))).unwrap_or_default());
                if !sample.is_empty() {
                    s.push_str(&format!("\n    ({})", esc(&columns.join(", "))));
                }
                for r in sample.iter().take(5) {
                    s.push_str(&format!("\n    {}", serde_json::to_string(r).unwrap_or_default()));
                }
                s
            }
            Event::RolledBack { action_ids, more, reason, after_commit } => {
                let ids: Vec<String> = action_ids.iter().map(|id| if Some(*id) == *after_commit { format!("#{id} (what it ran after its COMMIT)") } else { format!("#{id}") }).collect();
                let more = if *more > 0 { format!(" and {more} more") } else { String::new() };
                format!("rolled back ({}): {}{more} did not last", esc(reason), ids.join(", "))
            }
            Event::Note { message } => format!("note: {}", esc(message)),
            Event::SessionEnd { reason } => format!("session ended: {}", esc(reason)),
            _ => continue,
        };
        println!("{}  {line}", e.ts);
    }
    Ok(())
}
