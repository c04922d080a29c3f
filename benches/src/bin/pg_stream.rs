//! Streams a large generated result from a Postgres URL and prints `bytes seconds`.
//!
//! Usage: `pg_stream <conninfo> <rows>`. Rows carry an id, an email (masked by hoop) and
//! 100 bytes of filler, so about 150 bytes each on the wire.

use futures_util::TryStreamExt;
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(conninfo), Some(rows)) = (args.get(1), args.get(2).and_then(|r| r.parse::<u64>().ok())) else {
        eprintln!("usage: pg_stream <conninfo> <rows>");
        std::process::exit(2);
    };
    let (client, conn) = match tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pg_stream: connect: {e}");
            std::process::exit(1);
        }
    };
    tokio::spawn(conn);
    let sql = format!("SELECT i, 'user' || i || '@example.com' AS email, repeat('x', 100) AS filler FROM generate_series(1, {rows}) i");
    let started = Instant::now();
    let stream = match client.query_raw(sql.as_str(), std::iter::empty::<i32>()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pg_stream: query: {e}");
            std::process::exit(1);
        }
    };
    futures_util::pin_mut!(stream);
    let mut bytes = 0u64;
    let mut n = 0u64;
    loop {
        match stream.try_next().await {
            Ok(Some(row)) => {
                let email: &str = row.get(1);
                let filler: &str = row.get(2);
                bytes += 4 + email.len() as u64 + filler.len() as u64;
                n += 1;
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("pg_stream: {e}");
                std::process::exit(1);
            }
        }
    }
    if n != rows {
        eprintln!("pg_stream: got {n} rows, expected {rows}");
        std::process::exit(1);
    }
    println!("{bytes} {:.3}", started.elapsed().as_secs_f64());
}
