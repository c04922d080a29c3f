//! `hoop-k8s`: the Kubernetes API gateway on its own.
//!
//! `hoop-k8s --upstream https://api.example:6443 --ca-file ca.crt --upstream-token env:KUBE_TOKEN`
//! listens on 127.0.0.1:16443 and reaches that cluster as target `cluster` (or `--target NAME`),
//! with recording, default masking and the default agent rules on.
//! `hoop-k8s kubeconfig --subject agent-1 --ttl 3600 > agent.kubeconfig` gives an agent a working
//! kubectl for an hour: the kubeconfig holds one short-lived token and no key.

use clap::{Parser, Subcommand};
use hoop_core::config::{Secret, TargetConfig};
use hoop_core::session::Protocol;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "hoop-k8s", about = "hoop's Kubernetes API gateway: authenticated, checked, masked, recorded")]
struct Cli {
    #[command(flatten)]
    files: examples::ConfigArgs,
    /// Listen address.
    #[arg(long, global = true)]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
    /// The API server URL (https).
    #[arg(long)]
    upstream: Option<String>,
    /// CA bundle for the API server's certificate (default: system roots).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// The gateway's bearer token for the cluster; `env:NAME` and `file:PATH` work.
    #[arg(long)]
    upstream_token: Option<String>,
    /// Target name for the cluster.
    #[arg(long, default_value = "cluster")]
    target: String,
    /// Forward each caller's identity with impersonation headers.
    #[arg(long)]
    impersonate: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Issue a short-lived token (needs the data dir's signing key).
    Token {
        #[command(flatten)]
        who: examples::IdentityArgs,
        /// Print a kubectl `ExecCredential` instead of the bare token.
        #[arg(long)]
        exec_credential: bool,
    },
    /// Print a kubeconfig holding one short-lived token for an identity (minted with the data
    /// dir's key, here; the kubeconfig itself holds no key). For agents that need tokens for
    /// longer, run `hoop serve` and its `hoop kubeconfig`, which exchanges a client credential.
    Kubeconfig {
        #[command(flatten)]
        who: examples::IdentityArgs,
        /// Target the kubeconfig points at.
        #[arg(long, default_value = "cluster")]
        target: String,
        /// The gateway's URL as clients reach it (default: `https://` and the listen address).
        #[arg(long)]
        server: Option<String>,
        /// Default namespace.
        #[arg(long, default_value = "default")]
        namespace: String,
    },
}

async fn run(cli: Cli) -> Result<(), String> {
    let mut cfg = cli.files.load()?;
    let listen = cli.listen.clone().or(cfg.listeners.kubernetes.clone()).unwrap_or_else(|| "127.0.0.1:16443".into());
    match &cli.command {
        Some(Command::Token { who, exec_credential }) => {
            let spec = who.spec()?;
            let token = examples::issue_token(&cfg.data_dir, &spec)?;
            if *exec_credential {
                println!("{}", hoop_k8s::exec_credential(&token, hoop_core::auth::now_secs() + spec.ttl_secs));
            } else {
                println!("{token}");
            }
            return Ok(());
        }
        Some(Command::Kubeconfig { who, target, server, namespace }) => {
            who.spec()?;
            // The gateway's certificate: made on first start if absent, so make it now.
            hoop_core::tls::server_config(&cfg.tls, &cfg.data_dir, &[]).map_err(|e| e.to_string())?;
            let cert = cfg.tls.cert_file.clone().unwrap_or_else(|| cfg.data_dir.join("tls").join("cert.pem"));
            let ca_pem = std::fs::read_to_string(&cert).map_err(|e| format!("{}: {e}", cert.display()))?;
            let token = examples::issue_token(&cfg.data_dir, &who.spec()?)?;
            let base = server.clone().unwrap_or_else(|| format!("https://{listen}"));
            let spec = hoop_k8s::KubeconfigSpec {
                name: target.clone(),
                server: format!("{}/k8s/{target}", base.trim_end_matches('/')),
                ca_pem,
                namespace: namespace.clone(),
                user: hoop_k8s::KubeUser::Token(token),
            };
            println!("{}", hoop_k8s::kubeconfig(&spec));
            return Ok(());
        }
        None => {}
    }
    if let Some(url) = &cli.upstream {
        cfg.targets.insert(
            cli.target.clone(),
            TargetConfig {
                password: cli.upstream_token.clone().map(Secret::from),
                ca_file: cli.ca_file.clone(),
                tls: hoop_core::config::TlsMode::Require,
                impersonate: cli.impersonate,
                ..TargetConfig::new(Protocol::Kubernetes, url.clone())
            },
        );
    }
    let gate = cfg.build_gate().map_err(|e| e.to_string())?;
    let gw = Arc::new(hoop_k8s::K8sGateway::from_config(&cfg, gate).map_err(|e| e.to_string())?);
    let (listener, addr) = examples::bind(&listen).await?;
    let targets = examples::target_names(&cfg, Protocol::Kubernetes);
    println!("hoop-k8s listening on https://{addr}; targets: {targets:?}; data dir {}", cfg.data_dir.display());
    if targets.is_empty() {
        println!("no Kubernetes target yet: pass --upstream https://host:6443 --ca-file FILE --upstream-token env:NAME, or a config file");
    } else {
        println!("kubectl with: hoop-k8s kubeconfig --subject agent-1 > agent.kubeconfig; KUBECONFIG=agent.kubeconfig kubectl get pods");
    }
    gw.serve(listener).await.map_err(|e| e.to_string())
}

// One thread: on a small machine shared with the API server and clients, cross-thread wakeups
// cost more than they give (as measured for hoop-pg).
#[tokio::main(flavor = "current_thread")]
async fn main() {
    examples::init_logging();
    examples::exit_on_error("hoop-k8s", run(Cli::parse()).await);
}
