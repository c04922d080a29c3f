//! Shared test setup: one real PostgreSQL per test binary, and gateways in front of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hoop_core::auth::{TokenIssuer, TokenSpec};
use hoop_core::config::Config;
use hoop_core::gate::Gate;
use hoop_core::identity::IdentityKind;
use hoop_core::keys::KeyStore;
use hoop_harness::{PgOptions, Postgres};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};


/// The cluster every test of this binary shares, with the sample schema loaded.
pub fn pg() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        let pg = Postgres::start(PgOptions::default()).expect("start postgres");
        pg.psql(
            "CREATE TABLE users (id int primary key, name text, email text, card text, note text);
             INSERT INTO users VALUES
               (1, 'Ann', 'ann@corp.example', '4111 1111 1111 1111', 'plain'),
               (2, 'Bob', 'bob@corp.example', '5500 0000 0000 0004', 'call me at bob.alt@mail.example');
             CREATE TABLE customers (id int, email text);
             INSERT INTO customers VALUES (1, 'vip@corp.example');
             CREATE SCHEMA other; CREATE TABLE other.marker (v text); INSERT INTO other.marker VALUES ('in-other');",
        )
        .expect("load schema");
        pg
    })
}

/// A running gateway.
pub struct Gw {
    pub port: u16,
    pub gate: Gate,
    pub cfg: Config,
    pub dir: tempfile::TempDir,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Gw {
    fn drop(&mut self) {
        // Tests may end inside their own runtime, where a blocking shutdown is not allowed.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Gw {
    /// Starts a gateway in front of [`pg`] with `extra` TOML appended to the base config.
    pub fn start(extra: &str) -> Gw {
        Gw::start_with(extra, 3, &["customers"])
    }

    /// [`start`](Self::start) with this review timeout and these sensitive tables.
    pub fn start_with(extra: &str, review_timeout_secs: u64, sensitive_tables: &[&str]) -> Gw {
        Gw::start_full(extra, review_timeout_secs, sensitive_tables, true, 1000, "")
    }

    /// [`start`](Self::start) with agents' statements limited to `rows` rows written.
    pub fn start_with_row_ceiling(rows: u64) -> Gw {
        Gw::start_full("", 3, &["customers"], true, rows, "")
    }

    /// A gateway whose target does not allow a privileged upstream role (the default): the
    /// shared cluster's role is its superuser, so agents are refused.
    pub fn start_refusing_privileged_roles() -> Gw {
        Gw::start_full("", 3, &["customers"], false, 1000, "")
    }

    /// [`start`](Self::start) with `limits` (TOML lines) added to its `[limits]` table.
    pub fn start_with_limits(limits: &str) -> Gw {
        Gw::start_full("", 3, &["customers"], true, 1000, limits)
    }

    /// [`start_with_limits`](Self::start_with_limits) with these sensitive tables and a review
    /// timeout of 30 s.
    pub fn start_with_limits_and_sensitive(limits: &str, sensitive_tables: &[&str]) -> Gw {
        Gw::start_full("", 30, sensitive_tables, true, 1000, limits)
    }

    fn start_full(extra: &str, review_timeout_secs: u64, sensitive_tables: &[&str], allow_privileged_role: bool, max_rows_written: u64, limits: &str) -> Gw {
        let pg = pg();
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            r#"
data_dir = "{dir}"
[recording]
fsync_interval_ms = 50
[limits]
review_timeout_secs = {review_timeout_secs}
{max_message}
max_rows_written = {max_rows_written}
{limits}
[targets.app]
protocol = "postgres"
address = "127.0.0.1:{port}"
user = "postgres"
password = "{pw}"
database = "postgres"
sensitive_tables = {sensitive:?}
allow_privileged_role = {privileged}
[masking]
columns = ["users.card"]
{extra}
"#,
            dir = dir.path().display(),
            max_message = if limits.contains("max_message_bytes") { "" } else { "max_message_bytes = 1048576" },
            port = pg.port(),
            pw = pg.password(),
            sensitive = sensitive_tables,
            privileged = allow_privileged_role,
        );
        let cfg = Config::parse(&text, "test").unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let gate = cfg.build_gate().unwrap();
        let proxy = Arc::new(hoop_pg::PgProxy::from_config(&cfg, gate.clone()).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(async move { proxy.serve(tokio::net::TcpListener::from_std(listener).unwrap()).await });
        Gw { port, gate, cfg, dir, rt: Some(rt) }
    }

    /// A token for `subject` of `kind`.
    pub fn token(&self, subject: &str, kind: IdentityKind) -> String {
        let keys = KeyStore::open(self.cfg.data_dir.join("keys")).unwrap();
        TokenIssuer::from_store(&keys)
            .unwrap()
            .issue(&TokenSpec { subject: subject.into(), kind, groups: vec![], targets: vec!["*".into()], ttl_secs: 600 })
            .unwrap()
    }

    /// A libpq connection string for `user` to target `app`.
    pub fn conninfo(&self, user: &str) -> String {
        format!("host=127.0.0.1 port={} user={user} dbname=app sslmode=disable", self.port)
    }

    /// Runs psql with `args` as `user` logging in with `password`; returns the whole output.
    pub fn psql_with(&self, user: &str, password: &str, extra_conn: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new("psql");
        c.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=0"])
            .arg(format!("{} {extra_conn}", self.conninfo(user)))
            .args(args)
            .env("PGPASSWORD", password)
            .env_remove("PGOPTIONS")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match stdin {
            Some(input) => {
                c.stdin(Stdio::piped());
                let mut child = c.spawn().unwrap();
                use std::io::Write;
                child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
                child.wait_with_output().unwrap()
            }
            None => c.stdin(Stdio::null()).output().unwrap(),
        }
    }

    /// Runs `sql` through psql as an agent; returns (stdout, stderr).
    pub fn agent_psql(&self, sql: &str) -> (String, String) {
        let t = self.token("agent-1", IdentityKind::Agent);
        let o = self.psql_with("agent-1", &t, "", &["-c", sql], None);
        (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// The messages in `bytes` (as the client read them): tag and body each.
pub fn messages(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = i32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(body) = rest.get(5..1 + len) else { break };
        out.push((rest[0], body));
        rest = &rest[1 + len..];
    }
    out
}
