//! The harness starts real servers and cleans up after them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hoop_harness::{PgOptions, Postgres, Sshd, SshdOptions};
use std::process::Command;

#[test]
fn postgres_with_scram_and_tls_starts_and_is_removed() {
    let pg = Postgres::start(PgOptions { tls: true, ..PgOptions::default() }).unwrap();
    assert_eq!(pg.psql("select 40 + 2").unwrap().trim(), "42");
    // SCRAM over TCP: a wrong password is refused.
    let bad = Command::new("psql")
        .args(["-X", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", "select 1"])
        .args(["-p", &pg.port().to_string()])
        .env("PGPASSWORD", "wrong")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("password authentication failed"));
    // TLS with certificate verification against the harness's certificate.
    let url = format!("{}?sslmode=verify-full&sslrootcert={}", pg.url("postgres"), pg.ca_file().display());
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", &url, "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t", "{}", String::from_utf8_lossy(&out.stderr));
    let dir = pg.dir().to_path_buf();
    let port = pg.port();
    drop(pg);
    assert!(!dir.exists(), "data dir removed");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "server stopped");
}

#[test]
fn sshd_runs_commands_for_the_openssh_client() {
    let sshd = Sshd::start(SshdOptions::default()).unwrap();
    let (code, out) = sshd.ssh("echo hi; exit 3").unwrap();
    assert_eq!(out, "hi\n", "sshd log: {}", sshd.log());
    assert_eq!(code, 3);
    assert!(sshd.host_public_key().unwrap().starts_with("ssh-ed25519 "));
}
