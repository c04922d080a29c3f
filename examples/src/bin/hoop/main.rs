//! `hoop`: the whole gateway in one binary.
//!
//! `hoop serve [--config hoop.toml]` serves every protocol the config names over one gate,
//! recorder and approval broker, with the admin API beside them; `hoop demo` is the one-command
//! first run; the other subcommands are the operator's CLI (tokens, certificates, kubeconfigs,
//! approvals, sessions, replay, verification, export).

mod cli;
mod demo;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hoop", about = "hoop: an access gateway that authenticates, checks, masks and records every session")]
struct Cli {
    #[command(flatten)]
    files: examples::ConfigArgs,
    /// Log format: human or json.
    #[arg(long, global = true, default_value = "human")]
    log_format: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every configured protocol and the admin API (the default).
    Serve(serve::ServeArgs),
    /// A throwaway PostgreSQL with fake PII behind hoop, and what to try; Ctrl-C cleans up.
    Demo(demo::DemoArgs),
    /// Gateway tokens.
    Token {
        #[command(subcommand)]
        command: cli::TokenCommand,
    },
    /// A short-lived SSH user certificate for a public key: over the admin API with the agent's
    /// own credential, or signed locally by the operator.
    SshCert(cli::SshCertArgs),
    /// A kubeconfig whose credential plugin exchanges the agent's own credential for tokens.
    Kubeconfig(cli::KubeconfigArgs),
    /// Client credentials for agents: create, list, delete.
    Clients {
        #[command(subcommand)]
        command: cli::ClientsCommand,
        #[command(flatten)]
        admin: cli::AdminArgs,
    },
    /// Review tickets: list, approve, deny.
    Approvals {
        #[command(subcommand)]
        command: cli::ApprovalsCommand,
        #[command(flatten)]
        admin: cli::AdminArgs,
    },
    /// Recorded and live sessions: list, show, kill.
    Sessions {
        #[command(subcommand)]
        command: cli::SessionsCommand,
        #[command(flatten)]
        admin: cli::AdminArgs,
    },
    /// What identities read and did in the last minute, hour and day (what budgets judge).
    Usage {
        /// Only this identity (its subject).
        #[arg(long)]
        identity: Option<String>,
        #[command(flatten)]
        admin: cli::AdminArgs,
    },
    /// Revoke a token, client, SSH certificate or key, static identity or subject; live
    /// sessions on it end at once. `--list` shows what is revoked.
    Revoke(cli::RevokeArgs),
    /// Play a session back: terminal output with its timing, SQL as a timeline.
    Replay {
        /// Session id.
        id: String,
        /// Speed factor (2 = twice as fast).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        #[command(flatten)]
        admin: cli::AdminArgs,
    },
    /// Verify a recording's hash chain, signatures and seal (exit 1 if it fails).
    Verify {
        /// Session id.
        id: String,
        #[command(flatten)]
        admin: cli::AdminArgs,
    },
    /// Export a terminal session.
    Export {
        /// Session id.
        id: String,
        /// As asciicast v2 (the only format).
        #[arg(long)]
        asciicast: bool,
        #[command(flatten)]
        admin: cli::AdminArgs,
    },
}

async fn run(cli: Cli) -> Result<(), String> {
    let cfg = cli.files.load()?;
    match cli.command.unwrap_or(Command::Serve(serve::ServeArgs::default())) {
        Command::Serve(args) => serve::run(cfg, cli.files.config, args).await,
        Command::Demo(args) => demo::run(cfg, cli.files.data_dir.is_some(), args).await,
        Command::Token { command } => cli::token(&cfg, command).await,
        Command::SshCert(args) => cli::ssh_cert(&cfg, args).await,
        Command::Kubeconfig(args) => cli::kubeconfig(&cfg, args),
        Command::Clients { command, admin } => cli::clients(&cfg, &admin, command).await,
        Command::Approvals { command, admin } => cli::approvals(&cfg, &admin, command).await,
        Command::Sessions { command, admin } => cli::sessions(&cfg, &admin, command).await,
        Command::Usage { identity, admin } => cli::usage(&cfg, &admin, identity.as_deref()).await,
        Command::Revoke(args) => cli::revoke(&cfg, args).await,
        Command::Replay { id, speed, admin } => cli::replay(&cfg, &admin, &id, speed).await,
        Command::Verify { id, admin } => cli::verify(&cfg, &admin, &id).await,
        Command::Export { id, asciicast: _, admin } => cli::export(&cfg, &admin, &id).await,
    }
}

/// Ends the process quietly, as a Unix tool does, when what it prints goes to a reader that
/// has gone (`hoop approvals show … | head`): `println!` panics on the broken pipe, and a
/// backtrace there only buries the output the reader wanted.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>().map(String::as_str).or_else(|| info.payload().downcast_ref::<&str>().copied()).unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    examples::init_logging_as(cli.log_format == "json");
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hoop: {e}");
            std::process::exit(1);
        }
    };
    examples::exit_on_error("hoop", rt.block_on(run(cli)));
}
