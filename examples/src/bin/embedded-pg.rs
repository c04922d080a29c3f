//! Embedding hoop-pg in a service of your own: your process owns the listener and the runtime,
//! hoop checks, masks and records every session of the connections you hand it.
//!
//! Run: `embedded-pg <config.toml>`; the config names a `postgres` target (docs/embedding.md).

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: embedded-pg <config.toml>")?;
    // One gate: authentication, rules, masking, recording and approvals, shared by adapters.
    let cfg = hoop_core::config::Config::load(path.as_ref())?;
    let gate = cfg.build_gate()?;
    let proxy = Arc::new(hoop_pg::PgProxy::from_config(&cfg, gate.clone())?);

    // Your own listener, next to whatever else the service serves.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("postgres gateway on {}", listener.local_addr()?);
    let serving = tokio::spawn(proxy.serve(listener));

    // Your own control: here, print who is connected every ten seconds until Ctrl-C.
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {
                println!("live sessions: {}", gate.live_sessions().len());
            }
        }
    }
    serving.abort();
    for id in gate.live_sessions() {
        gate.kill(&id); // each session ends with 57P01 and its recording is sealed
    }
    Ok(())
}
