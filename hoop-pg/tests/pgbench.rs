//! pgbench through hoop: initialisation and a short run, zero errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod common;

use common::Gw;
use hoop_core::identity::IdentityKind;
use std::process::Command;

/// Permissive rules (pgbench -i drops and creates tables); the run itself logs in with SCRAM
/// as a static-secret agent, as the benchmark does.
#[test]
fn pgbench_init_and_run() {
    let gw = Gw::start(
        "[policy]\ndefault_rules = false\n[[static_identities]]\nsubject = \"bench\"\nsecret = \"bench-secret-0123456789\"\n",
    );
    let t = gw.token("agent-1", IdentityKind::Agent);
    let init = Command::new("pgbench")
        .args(["-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", &gw.port.to_string(), "-U", "agent-1", "app"])
        .env("PGPASSWORD", &t)
        .env("PGSSLMODE", "disable")
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    for mode in [&["-S"][..], &["-M", "extended"][..], &["-M", "prepared", "-S"][..]] {
        let run = Command::new("pgbench")
            .args(["-c", "4", "-j", "2", "-t", "50", "-h", "127.0.0.1", "-p", &gw.port.to_string(), "-U", "bench", "app"])
            .args(mode)
            .env("PGPASSWORD", "bench-secret-0123456789")
            .env("PGSSLMODE", "disable")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{mode:?}: {out}\n{}", String::from_utf8_lossy(&run.stderr));
        assert!(out.contains("number of failed transactions: 0"), "{mode:?}: {out}");
        assert!(out.contains("number of transactions actually processed: 200/200"), "{mode:?}: {out}");
    }
    // A wrong static secret is refused.
    let bad = Command::new("psql")
        .args(["-X", "-c", "select 1", "host=127.0.0.1 user=bench dbname=app sslmode=disable"])
        .args(["-p", &gw.port.to_string()])
        .env("PGPASSWORD", "wrong-secret-0123456789")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("password authentication failed"));
}
