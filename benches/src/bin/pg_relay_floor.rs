//! A byte relay with no gateway in it: the floor any tokio proxy pays on this machine.
//!
//! Usage: `pg_relay_floor <listen addr> <upstream addr>`. Connections are spread over one
//! single-threaded runtime per core as hoop-pg spreads them (`hoop_core::serve::on_threads`),
//! and each is copied both ways untouched, with Nagle off on both sockets as hoop-pg sets
//! it. `benches/pg.sh` runs it beside pgbouncer and hoop, so the gap between hoop and
//! pgbouncer splits into what the runtime and sockets cost and what hoop's own work costs.

use tokio::net::{TcpListener, TcpStream};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(upstream)) = (args.get(1).cloned(), args.get(2).cloned()) else {
        eprintln!("usage: pg_relay_floor <listen addr> <upstream addr>");
        std::process::exit(2);
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pg_relay_floor: runtime: {e}");
            std::process::exit(1);
        }
    };
    let served = rt.block_on(async move {
        let listener = TcpListener::bind(&listen).await?;
        hoop_core::serve::on_threads(listener, 0, move |mut client: TcpStream, _peer| {
            let upstream = upstream.clone();
            async move {
                let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        })
        .await
    });
    if let Err(e) = served {
        eprintln!("pg_relay_floor: {e}");
        std::process::exit(1);
    }
}
