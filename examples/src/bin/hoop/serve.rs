//! `hoop serve`: every adapter the config names over one gate, the admin API, and signals —
//! SIGHUP reloads rules, masking and the identities the config defines, SIGTERM/SIGINT drain sessions and seal their recordings.

use hoop_core::config::Config;
use hoop_core::session::Protocol;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Flags of `hoop serve`.
#[derive(clap::Args, Default)]
pub struct ServeArgs {
    /// Seconds sessions get to finish after SIGTERM before they are ended.
    #[arg(long, default_value_t = 10)]
    pub grace_secs: u64,
}

/// What a running gateway listens on.
pub struct Running {
    /// `(protocol, address)` of each listener.
    pub listeners: Vec<(&'static str, std::net::SocketAddr)>,
    tasks: Vec<JoinHandle<()>>,
    pub gate: hoop_core::gate::Gate,
    /// The adapters whose identities the config defines (reloaded on SIGHUP).
    pg: Option<Arc<hoop_pg::PgProxy>>,
    ssh: Option<Arc<hoop_ssh::SshGateway>>,
}

/// Binds and starts every adapter with targets in `cfg`, and the admin API.
pub async fn start(cfg: &Config) -> Result<Running, String> {
    let gate = cfg.build_gate().map_err(|e| e.to_string())?;
    // Before any session opens: recordings a crash left open get their signed end.
    let closed = gate.recorder().recover().map_err(|e| format!("recordings: {e}"))?;
    if !closed.is_empty() {
        tracing::warn!(count = closed.len(), "closed recordings left open by the last run (it crashed or was killed)");
    }
    // Revocations written to the data dir by an operator on this host (`hoop revoke --local`)
    // work even when the admin API cannot be reached (flooded, down).
    let watcher = gate.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        for n in 0u64.. {
            tick.tick().await;
            if let Err(e) = watcher.refresh_revocations() {
                tracing::error!(error = %e, "the revocation list could not be read");
            }
            // Budgets hold across restarts: usage is saved every few seconds (and at shutdown).
            if n % 10 == 9
                && let Err(e) = watcher.persist_usage()
            {
                tracing::error!(error = %e, "usage counts could not be saved");
            }
        }
    });
    let has = |p: Protocol| cfg.targets.values().any(|t| t.protocol == p);
    let mut running = Running { listeners: Vec::new(), tasks: Vec::new(), gate: gate.clone(), pg: None, ssh: None };
    if has(Protocol::Postgres) {
        let proxy = Arc::new(hoop_pg::PgProxy::from_config(cfg, gate.clone()).map_err(|e| e.to_string())?);
        running.pg = Some(proxy.clone());
        running.listen("postgres", &cfg.listeners.postgres, |l| proxy.serve(l)).await?;
    }
    if has(Protocol::Ssh) {
        let gw = Arc::new(hoop_ssh::SshGateway::from_config(cfg, gate.clone()).map_err(|e| e.to_string())?);
        running.ssh = Some(gw.clone());
        running.listen("ssh", &cfg.listeners.ssh, |l| gw.serve(l)).await?;
    }
    if has(Protocol::Kubernetes) {
        let gw = Arc::new(hoop_k8s::K8sGateway::from_config(cfg, gate.clone()).map_err(|e| e.to_string())?);
        running.listen("kubernetes", &cfg.listeners.kubernetes, |l| gw.serve(l)).await?;
    }
    let tls = hoop_core::tls::server_config(&cfg.tls, &cfg.data_dir, &[b"http/1.1"]).map_err(|e| e.to_string())?;
    let keys = hoop_core::keys::KeyStore::open(cfg.data_dir.join("keys")).map_err(|e| e.to_string())?;
    let issuer = hoop_core::auth::TokenIssuer::from_store(&keys).map_err(|e| e.to_string())?;
    let clients = hoop_core::auth::Clients::open(cfg.data_dir.join("keys").join("clients.json")).map_err(|e| e.to_string())?;
    let ca = hoop_ssh::SshCa::load_or_create(&cfg.data_dir).map_err(|e| e.to_string())?;
    let admin = Arc::new(
        hoop_admin::AdminApi::new(gate.clone(), tls)
            .with_issuer(issuer)
            .with_clients(Arc::new(clients))
            .with_certifier(Arc::new(examples::Certifier(ca)))
            .metrics_public(cfg.admin.metrics_public)
            .with_issue_rate(cfg.limits.issued_per_minute),
    );
    running.listen("admin", &cfg.listeners.admin, |l| admin.serve(l)).await?;
    if let Some(url) = &cfg.approvals.webhook_url {
        let url = url.resolve("approvals.webhook_url").map_err(|e| e.to_string())?;
        let tls = hoop_core::tls::client_config(None).map_err(|e| e.to_string())?;
        tracing::info!(host = %hoop_admin::webhook::host_of(&url), "approval webhook on");
        hoop_admin::webhook::spawn(gate.approvals(), url, tls);
    }
    Ok(running)
}

impl Running {
    /// Replaces rules, masking, `[[oidc]]`, `[[static_identities]]` and `[[ssh_keys]]` from `cfg`; returns
    /// how many sessions of identities taken out or changed ended. Targets and listeners
    /// change at a restart.
    fn reload(&self, cfg: &Config) -> Result<usize, String> {
        self.gate.reload(cfg).map_err(|e| e.to_string())?;
        let mut ended = 0;
        if let Some(pg) = &self.pg {
            ended += pg.reload_identities(cfg).map_err(|e| e.to_string())?;
        }
        if let Some(ssh) = &self.ssh {
            ended += ssh.reload_identities(cfg).map_err(|e| e.to_string())?;
        }
        Ok(ended)
    }

    /// Binds `listeners.<what>` and serves it with `serve` on a task of its own.
    async fn listen<F, Fut>(&mut self, what: &'static str, addr: &Option<String>, serve: F) -> Result<(), String>
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut,
        Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let addr = addr.clone().ok_or_else(|| format!("listeners.{what} is not set"))?;
        let l = tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("listeners.{what} {addr}: {e}"))?;
        self.listeners.push((what, l.local_addr().map_err(|e| e.to_string())?));
        let serving = serve(l);
        self.tasks.push(tokio::spawn(async move {
            if let Err(e) = serving.await {
                tracing::error!(listener = what, error = %e, "listener failed");
            }
        }));
        Ok(())
    }

    /// Stops accepting, gives live sessions `grace` to end, then ends the rest the way each
    /// protocol expects (the adapters see the kill) and waits for their recordings to seal.
    pub async fn shutdown(self, grace: Duration) {
        for t in &self.tasks {
            t.abort();
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !self.gate.live_sessions().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = self.gate.live_sessions();
        if !left.is_empty() {
            tracing::info!(sessions = left.len(), "ending sessions still open");
            for id in &left {
                self.gate.kill(id);
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while !self.gate.live_sessions().is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if let Err(e) = self.gate.persist_usage() {
            tracing::error!(error = %e, "usage counts could not be saved");
        }
    }
}

/// Prints where everything listens and how to use it.
pub fn describe(cfg: &Config, running: &Running) {
    println!("hoop serving; data dir {}", cfg.data_dir.display());
    for (what, addr) in &running.listeners {
        println!("  {what}: {addr}");
    }
    if running.listeners.len() == 1 {
        println!("no targets configured yet: add [targets.<name>] to a config file (docs/configuration.md), or try `hoop demo`");
    }
}

pub async fn run(cfg: Config, path: Option<PathBuf>, args: ServeArgs) -> Result<(), String> {
    let running = start(&cfg).await?;
    describe(&cfg, &running);
    tracing::info!(listeners = ?running.listeners, "hoop started");
    wait_for_signals(&running, path.as_deref(), &cfg).await?;
    running.shutdown(Duration::from_secs(args.grace_secs)).await;
    tracing::info!("hoop stopped; recordings sealed");
    Ok(())
}

/// Returns on SIGTERM or SIGINT; reloads on SIGHUP (a broken config is refused, the old one stays).
pub async fn wait_for_signals(running: &Running, path: Option<&std::path::Path>, cfg: &Config) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); return Ok(()) }
            _ = int.recv() => { tracing::info!("SIGINT: draining"); return Ok(()) }
            _ = hup.recv() => {
                let Some(path) = path else {
                    tracing::warn!("SIGHUP: no config file to reload (started without --config)");
                    continue;
                };
                match examples::load_config(Some(path), Some(cfg.data_dir.clone())).and_then(|c| running.reload(&c)) {
                    Ok(ended) => tracing::info!(config = %path.display(), ended, "SIGHUP: rules, masking, OIDC mappings and configured identities reloaded (sessions of identities taken out or changed ended; gateway tokens exchanged before keep their groups until they expire or are revoked)"),
                    Err(e) => tracing::error!(config = %path.display(), error = %e, "SIGHUP: new config refused, the old one stays"),
                }
            }
        }
    }
}
