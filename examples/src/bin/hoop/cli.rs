//! The operator's CLI: local bootstrap commands (tokens, certificates, kubeconfigs, signed with
//! the data dir's keys) and commands that talk to the admin API.

use hoop_admin::AdminClient;
use hoop_core::approvals::REVIEW_GROUP;
use hoop_core::auth::TokenSpec;
use hoop_core::config::Config;
use hoop_core::event::{Event, Stream};
use hoop_core::record::{Body, StoredEvent};
use std::io::Write;
use std::path::Path;

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Issue a token (signed with the data dir's key: whoever can read it may issue).
    ///
    /// With `--token` (a token in the `token-issuer` group) it asks the admin API instead.
    Issue {
        #[command(flatten)]
        who: examples::IdentityArgs,
        /// Print a kubectl `ExecCredential` instead of the bare token.
        #[arg(long)]
        exec_credential: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

pub async fn token(cfg: &Config, c: TokenCommand) -> Result<(), String> {
    let TokenCommand::Issue { who, exec_credential, admin } = c;
    let spec = who.spec()?;
    let token = if admin.token.is_some() {
        let body = serde_json::json!({ "subject": spec.subject, "kind": who.kind, "groups": spec.groups, "targets": spec.targets, "ttl_secs": spec.ttl_secs });
        let v = json(&client(cfg, &admin)?.post("/v1/tokens", body).await.map_err(|e| e.to_string())?)?;
        at(&v, "/token").to_string()
    } else {
        examples::issue_token(&cfg.data_dir, &spec)?
    };
    if exec_credential {
        println!("{}", hoop_k8s::exec_credential(&token, hoop_core::auth::now_secs() + spec.ttl_secs));
    } else {
        println!("{token}");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct SshCertArgs {
    #[command(flatten)]
    who: examples::IdentityArgs,
    /// The public key file to certify (`id_ed25519.pub`).
    #[arg(long)]
    public_key: std::path::PathBuf,
}

pub fn ssh_cert(cfg: &Config, a: SshCertArgs) -> Result<(), String> {
    println!("{}", examples::ssh_certificate(&cfg.data_dir, &a.who, &a.public_key)?);
    Ok(())
}

#[derive(clap::Args)]
pub struct KubeconfigArgs {
    #[command(flatten)]
    who: examples::IdentityArgs,
    /// Target the kubeconfig points at.
    #[arg(long)]
    target: String,
    /// The gateway's Kubernetes URL as clients reach it (default: `https://` + listeners.kubernetes).
    #[arg(long)]
    server: Option<String>,
    /// Default namespace.
    #[arg(long, default_value = "default")]
    namespace: String,
}

pub fn kubeconfig(cfg: &Config, data_dir: Option<&Path>, a: KubeconfigArgs) -> Result<(), String> {
    a.who.spec()?;
    hoop_core::tls::server_config(&cfg.tls, &cfg.data_dir, &[]).map_err(|e| e.to_string())?;
    let cert = cfg.tls.cert_file.clone().unwrap_or_else(|| cfg.data_dir.join("tls").join("cert.pem"));
    let ca_pem = std::fs::read_to_string(&cert).map_err(|e| format!("{}: {e}", cert.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut args = Vec::new();
    if let Some(d) = data_dir {
        args.extend(["--data-dir".to_string(), std::fs::canonicalize(d).unwrap_or(d.to_path_buf()).display().to_string()]);
    }
    args.extend(["token".into(), "issue".into(), "--exec-credential".into()]);
    args.extend(a.who.to_args());
    let base = a.server.unwrap_or_else(|| format!("https://{}", cfg.listeners.kubernetes.clone().unwrap_or_default()));
    let spec = hoop_k8s::KubeconfigSpec {
        name: a.target.clone(),
        server: format!("{}/k8s/{}", base.trim_end_matches('/'), a.target),
        ca_pem,
        namespace: a.namespace,
        exec_command: exe.display().to_string(),
        exec_args: args,
    };
    println!("{}", hoop_k8s::kubeconfig(&spec));
    Ok(())
}

/// How to reach the admin API.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// Admin API URL (default: `https://` + listeners.admin).
    #[arg(long, global = true, env = "HOOP_ADMIN_URL")]
    admin_url: Option<String>,
    /// A token with the `review` or `audit` group (default: one minted for `$USER` from the data
    /// dir's key, for operators on the gateway's host).
    #[arg(long, global = true, env = "HOOP_TOKEN")]
    token: Option<String>,
}

fn client(cfg: &Config, a: &AdminArgs) -> Result<AdminClient, String> {
    let url = a.admin_url.clone().unwrap_or_else(|| format!("https://{}", cfg.listeners.admin.clone().unwrap_or_default()));
    let token = match &a.token {
        Some(t) => t.clone(),
        None => {
            let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "operator".into());
            let spec = TokenSpec {
                subject: user,
                kind: hoop_core::identity::IdentityKind::Human,
                groups: vec![REVIEW_GROUP.into(), hoop_admin::AUDIT_GROUP.into()],
                targets: vec![],
                ttl_secs: 300,
            };
            examples::issue_token(&cfg.data_dir, &spec).map_err(|e| format!("no --token and none could be minted from the data dir: {e}"))?
        }
    };
    let cert = cfg.tls.cert_file.clone().unwrap_or_else(|| cfg.data_dir.join("tls").join("cert.pem"));
    let tls = hoop_core::tls::client_config(Some(&cert)).map_err(|e| e.to_string())?;
    AdminClient::new(&url, tls, token).map_err(|e| e.to_string())
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
                println!("{}  {}  {} on {}  rule {}  {}", at(&t, "/id"), at(&t, "/requester"), at(&t, "/action/kind"), at(&t, "/action/target"), at(&t, "/rule"), what);
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
                println!(
                    "{}  {:<10} {:<12} {:<12} {}{}",
                    at(&s, "/id"),
                    at(&s, "/protocol"),
                    at(&s, "/target"),
                    at(&s, "/subject"),
                    shown(&s, "/records"),
                    if s.pointer("/live").and_then(|l| l.as_bool()) == Some(true) { "  live" } else { "" }
                );
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

pub async fn revoke(cfg: &Config, a: &AdminArgs, jti: &str) -> Result<(), String> {
    let v = json(&client(cfg, a)?.post(&format!("/v1/tokens/{jti}/revoke"), serde_json::json!({})).await.map_err(|e| e.to_string())?)?;
    println!("revoked {jti} until {}", shown(&v, "/until"));
    Ok(())
}

pub async fn verify(cfg: &Config, a: &AdminArgs, id: &str) -> Result<(), String> {
    let v = json(&client(cfg, a)?.get(&format!("/v1/sessions/{id}/verify")).await.map_err(|e| e.to_string())?)?;
    if v.pointer("/ok").and_then(|o| o.as_bool()) == Some(true) {
        println!("OK: {id}: {} records, chain intact, signed and sealed", shown(&v, "/report/records"));
        Ok(())
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
    for e in &events {
        let Body::Event(ev) = &e.body else { continue };
        let line = match ev {
            Event::SessionStart { session } => format!("session {} by {} ({}) to {}", session.id, session.identity.subject, session.protocol.as_str(), session.target.name),
            Event::Action { action_id, action, verdict } => {
                let what = action.summary();
                format!("#{action_id} {} {what}  -> {}", action.kind.as_str(), serde_json::to_string(verdict).unwrap_or_default())
            }
            Event::ReviewRequested { action_id, ticket } => format!("#{action_id} waiting for review (ticket {ticket})"),
            Event::ReviewDecided { action_id, approved, reviewer, .. } => format!("#{action_id} {} by {reviewer}", if *approved { "approved" } else { "denied" }),
            Event::ActionResult { action_id, status, rows, duration_us, error, columns, sample, .. } => {
                let mut s = format!("#{action_id} {status}, {rows} rows, {:.3} ms{}", *duration_us as f64 / 1000.0, error.as_ref().map(|e| format!(", error: {e}")).unwrap_or_default());
                if !sample.is_empty() {
                    s.push_str(&format!("\n    ({})", columns.join(", ")));
                }
                for r in sample.iter().take(5) {
                    s.push_str(&format!("\n    {}", serde_json::to_string(r).unwrap_or_default()));
                }
                s
            }
            Event::Note { message } => format!("note: {message}"),
            Event::SessionEnd { reason } => format!("session ended: {reason}"),
            _ => continue,
        };
        println!("{}  {line}", e.ts);
    }
    Ok(())
}
