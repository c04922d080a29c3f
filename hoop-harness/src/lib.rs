//! Dev-only test harness: real PostgreSQL and OpenSSH servers on loopback, in temp dirs, and a
//! test Kubernetes API server (no kube-apiserver can be installed here).
//!
//! Servers run as an unprivileged user when the tests run as root (PostgreSQL refuses root),
//! listen on free loopback ports, and are stopped, with their directories removed, when the
//! handle drops. A watchdog process also stops them if the test process dies without
//! unwinding, so a panicking or aborted test never leaves a server behind.
//!
//! ```no_run
//! let pg = hoop_harness::Postgres::start(hoop_harness::PgOptions::default()).unwrap();
//! let out = pg.psql("select 1").unwrap();
//! assert_eq!(out.trim(), "1");
//! ```

mod cmd;
#[cfg(feature = "kube")]
mod kube;
mod oidc;
mod postgres;
pub mod review;
mod sshd;

pub use cmd::{HarnessError, free_port, is_root};
#[cfg(feature = "kube")]
pub use kube::{KubeApi, KubeApiOptions};
pub use oidc::OidcProvider;
pub use postgres::{PgOptions, Postgres};
pub use sshd::{Sshd, SshdOptions};

/// `pty_drive.py`: runs a command on a real pty and scripts it like a person at a terminal
/// (`size ROWS COLS`, `send TEXT`, `expect TEXT` lines); run as
/// `python3 <this> SCRIPT -- argv...`, it prints every byte the terminal showed.
pub fn pty_driver() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/pty_drive.py"))
}

/// A Postgres v3.0 startup packet with `params` (e.g. `user`, `database`), for raw-protocol tests.
pub fn pg_startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut b = vec![0, 3, 0, 0];
    for (k, v) in params {
        b.extend_from_slice(k.as_bytes());
        b.push(0);
        b.extend_from_slice(v.as_bytes());
        b.push(0);
    }
    b.push(0);
    let mut m = ((b.len() + 4) as i32).to_be_bytes().to_vec();
    m.extend_from_slice(&b);
    m
}
