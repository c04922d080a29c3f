//! `hoop-ssh`: the SSH gateway on its own.
//!
//! `hoop-ssh --upstream user@host:port --key ~/.ssh/gateway_key --host-key "ssh-ed25519 AAAA..."`
//! listens on 127.0.0.1:2222 and reaches that host as target `host` (or `--target NAME`), with
//! recording, default masking and the default agent rules on. Agents log in with a certificate
//! from `hoop-ssh cert`, a key listed in the config's `[[ssh_keys]]`, or a hoop token as password.

use clap::{Parser, Subcommand};
use hoop_core::config::{Secret, TargetConfig};
use hoop_core::session::Protocol;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "hoop-ssh", about = "hoop's SSH gateway: authenticated, checked, masked, recorded")]
struct Cli {
    #[command(flatten)]
    files: examples::ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
    /// Listen address.
    #[arg(long)]
    listen: Option<String>,
    /// Upstream as user@host:port.
    #[arg(long)]
    upstream: Option<String>,
    /// Private key the gateway logs in to the upstream with.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Password the gateway logs in with (instead of a key); `env:NAME` and `file:PATH` work.
    #[arg(long)]
    password: Option<String>,
    /// The upstream's host key (`ssh-ed25519 AAAA...`); required, nothing is trusted on first use.
    #[arg(long)]
    host_key: Vec<String>,
    /// Name agents use (the SSH user) to reach the upstream.
    #[arg(long)]
    target: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Issue a short-lived SSH user certificate for a public key (prints `*-cert.pub` content).
    Cert {
        #[command(flatten)]
        who: examples::IdentityArgs,
        /// The public key file to certify (`id_ed25519.pub`).
        #[arg(long)]
        public_key: PathBuf,
    },
}

async fn run(cli: Cli) -> Result<(), String> {
    let mut cfg = cli.files.load()?;
    if let Some(Command::Cert { who, public_key }) = cli.command {
        println!("{}", examples::ssh_certificate(&cfg.data_dir, &who, &public_key)?);
        return Ok(());
    }
    if let Some(up) = &cli.upstream {
        let (user, hostport) = up.split_once('@').ok_or("--upstream must be user@host:port")?;
        let hostport = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:22") };
        let name = cli.target.clone().unwrap_or_else(|| hostport.rsplit_once(':').map_or(hostport.clone(), |(h, _)| h.to_string()));
        if cli.host_key.is_empty() {
            return Err("--host-key is required: hoop does not trust a host key on first use".into());
        }
        cfg.targets.insert(
            name,
            TargetConfig {
                user: Some(user.to_string()),
                password: cli.password.map(Secret::from),
                key_file: cli.key,
                host_keys: cli.host_key,
                ..TargetConfig::new(Protocol::Ssh, hostport)
            },
        );
    }
    let listen = cli.listen.or(cfg.listeners.ssh.clone()).unwrap_or_else(|| "127.0.0.1:2222".into());
    let gate = cfg.build_gate().map_err(|e| e.to_string())?;
    let gw = Arc::new(hoop_ssh::SshGateway::from_config(&cfg, gate).map_err(|e| e.to_string())?);
    let (listener, addr) = examples::bind(&listen).await?;
    let targets = examples::target_names(&cfg, Protocol::Ssh);
    println!("hoop-ssh listening on {addr}; targets: {targets:?}; data dir {}", cfg.data_dir.display());
    println!("host key: {}", gw.host_public_key());
    if targets.is_empty() {
        println!("no SSH target yet: pass --upstream user@host:port --key FILE --host-key '...' or a config file");
    } else {
        println!("log in with: ssh -p {} {}@{}", addr.port(), targets.first().map(|s| s.as_str()).unwrap_or("TARGET"), addr.ip());
    }
    gw.serve(listener).await.map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    examples::exit_on_error("hoop-ssh", run(Cli::parse()).await);
}
