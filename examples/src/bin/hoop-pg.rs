//! `hoop-pg`: the Postgres gateway on its own.
//!
//! With no flags it listens on 127.0.0.1:15432 and proxies to the database named by the usual
//! `PG*` environment variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`), as
//! target `PGDATABASE` (default `postgres`), with recording, default masking and the default
//! agent rules on. `hoop-pg token --subject agent-1` prints a short-lived token to log in with.

use clap::{Parser, Subcommand};
use hoop_core::config::{Secret, TargetConfig};
use hoop_core::session::Protocol;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "hoop-pg", about = "hoop's Postgres gateway: authenticated, checked, masked, recorded")]
struct Cli {
    #[command(flatten)]
    files: examples::ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
    /// Listen address.
    #[arg(long)]
    listen: Option<String>,
    /// Upstream as postgres://user:password@host:port/database (default: PG* variables).
    #[arg(long, env = "HOOP_PG_UPSTREAM")]
    upstream: Option<String>,
    /// Name clients use as their database to reach the upstream.
    #[arg(long)]
    target: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Issue a short-lived token (needs the data dir's signing key).
    Token(examples::IdentityArgs),
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The upstream target from a URL or the PG* variables.
fn upstream_target(url: Option<&str>) -> Result<(String, TargetConfig), String> {
    let (mut user, mut password, mut host, mut port, mut db) = (
        env("PGUSER").unwrap_or_else(|| "postgres".into()),
        env("PGPASSWORD"),
        env("PGHOST").unwrap_or_else(|| "127.0.0.1".into()),
        env("PGPORT").unwrap_or_else(|| "5432".into()),
        env("PGDATABASE").unwrap_or_else(|| "postgres".into()),
    );
    if let Some(url) = url {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or("upstream must start with postgres://")?;
        let (auth, hostpart) = rest.rsplit_once('@').unwrap_or(("", rest));
        if !auth.is_empty() {
            let (u, p) = auth.split_once(':').map_or((auth, None), |(u, p)| (u, Some(p)));
            user = u.to_string();
            password = p.map(str::to_string);
        }
        let (hp, d) = hostpart.split_once('/').unwrap_or((hostpart, ""));
        if !d.is_empty() {
            db = d.split('?').next().unwrap_or(d).to_string();
        }
        let (h, p) = hp.rsplit_once(':').unwrap_or((hp, "5432"));
        host = h.to_string();
        port = p.to_string();
    }
    if host.starts_with('/') {
        return Err("unix-socket upstreams are not supported; set PGHOST to a TCP host".into());
    }
    let t = TargetConfig {
        user: Some(user),
        password: password.map(Secret::literal),
        database: Some(db.clone()),
        ..TargetConfig::new(Protocol::Postgres, format!("{host}:{port}"))
    };
    Ok((db, t))
}

async fn run(cli: Cli) -> Result<(), String> {
    let mut cfg = cli.files.load()?;
    if let Some(Command::Token(who)) = cli.command {
        let token = examples::issue_token(&cfg.data_dir, &who.spec()?)?;
        println!("{token}");
        return Ok(());
    }
    let has_pg_target = cfg.targets.values().any(|t| t.protocol == Protocol::Postgres);
    if cli.upstream.is_some() || !has_pg_target {
        let (db, t) = upstream_target(cli.upstream.as_deref())?;
        cfg.targets.insert(cli.target.clone().unwrap_or(db), t);
    }
    let listen = cli.listen.or(cfg.listeners.postgres.clone()).unwrap_or_else(|| "127.0.0.1:15432".into());
    let gate = cfg.build_gate().map_err(|e| e.to_string())?;
    let proxy = Arc::new(hoop_pg::PgProxy::from_config(&cfg, gate).map_err(|e| e.to_string())?);
    let (listener, addr) = examples::bind(&listen).await?;
    let targets = examples::target_names(&cfg, Protocol::Postgres);
    println!("hoop-pg listening on {addr}; targets: {targets:?}; data dir {}", cfg.data_dir.display());
    println!("log in with: PGPASSWORD=$(hoop-pg token --subject agent-1) psql \"host={} port={} user=agent-1 dbname={}\"", addr.ip(), addr.port(), targets.first().map(|s| s.as_str()).unwrap_or("TARGET"));
    proxy.serve(listener).await.map_err(|e| e.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    examples::init_logging();
    examples::exit_on_error("hoop-pg", run(Cli::parse()).await);
}
