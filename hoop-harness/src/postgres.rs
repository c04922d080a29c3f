//! A throwaway PostgreSQL cluster.

use crate::cmd::{HarnessError, chown, free_port, is_root, localhost_cert, run_as, watchdog};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to start the cluster.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Serve TLS (self-signed certificate, see [`Postgres::ca_file`]).
    pub tls: bool,
    /// Password of the superuser `postgres` (SCRAM-SHA-256 over TCP).
    pub password: String,
    /// Extra `-c name=value` server settings.
    pub settings: Vec<(String, String)>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions { tls: false, password: "harness-secret".into(), settings: Vec::new() }
    }
}

/// A running PostgreSQL server; stopped and deleted on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    user: Option<String>,
    password: String,
    tls: bool,
}

/// The directory with `initdb`, `pg_ctl` (`HOOP_PG_BIN`, else the newest of /usr/lib/postgresql/15 and later).
fn pg_bin() -> Result<PathBuf, HarnessError> {
    if let Some(b) = std::env::var_os("HOOP_PG_BIN") {
        return Ok(PathBuf::from(b));
    }
    for v in ["15", "16", "17", "18"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if p.join("initdb").exists() {
            return Ok(p);
        }
    }
    Err(HarnessError::Missing("PostgreSQL server binaries (initdb)".into()))
}

impl Postgres {
    /// Creates and starts a cluster with SCRAM password auth on a free loopback port.
    pub fn start(opts: PgOptions) -> Result<Self, HarnessError> {
        let bin = pg_bin()?;
        let user = is_root().then(|| "postgres".to_string());
        let dir = tempfile::Builder::new().prefix("hoop-pg-").tempdir()?;
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir(&sock)?;
        let pwfile = dir.path().join("pw");
        // Readable by its owner only, and gone once initdb has read it: the superuser's
        // password must not sit in a file an agent on the same host could read.
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&pwfile)?.write_all(opts.password.as_bytes())?;
        }
        if let Some(u) = &user {
            chown(u, dir.path())?;
        }
        let s = |p: &Path| p.display().to_string();
        let initdb = run_as(
            user.as_deref(),
            &bin.join("initdb"),
            &[
                "-D",
                &s(&data),
                "-U",
                "postgres",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                &format!("--pwfile={}", s(&pwfile)),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let _ = std::fs::remove_file(&pwfile);
        initdb?;
        let mut o = format!(
            "-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            port = 0,
            sock = s(&sock)
        );
        if opts.tls {
            let (cert, key) = localhost_cert()?;
            std::fs::write(dir.path().join("server.crt"), cert)?;
            let key_path = dir.path().join("server.key");
            std::fs::write(&key_path, key)?;
            std::fs::set_permissions(&key_path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            if let Some(u) = &user {
                chown(u, dir.path())?;
            }
            o.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                s(&dir.path().join("server.crt")),
                s(&key_path)
            ));
        }
        for (k, v) in &opts.settings {
            o.push_str(&format!(" -c {k}={v}"));
        }
        // The port is chosen as late as possible; a lost race is retried with another.
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let args = o.replacen("-p 0", &format!("-p {port}"), 1);
            let log = s(&dir.path().join("server.log"));
            match run_as(user.as_deref(), &bin.join("pg_ctl"), &["-D", &s(&data), "-w", "-l", &log, "-o", &args, "start"]) {
                Ok(_) => {
                    let pg = Postgres { dir, bin, port, user, password: opts.password, tls: opts.tls };
                    let stop = pg.stop_command();
                    watchdog(&format!("{stop}; rm -rf '{}'", s(pg.dir.path())))?;
                    return Ok(pg);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| HarnessError::Missing("a free port".into())))
    }

    fn stop_command(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let data = self.dir.path().join("data").display().to_string();
        match &self.user {
            Some(u) => format!("runuser -u {u} -- '{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1"),
            None => format!("'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1"),
        }
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's name (`postgres`).
    pub fn user(&self) -> &str {
        "postgres"
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Whether TLS is on.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The PEM certificate clients should trust (TLS clusters only).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    /// A libpq connection string over TCP with SCRAM.
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://postgres:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }

    /// Runs SQL through `psql` over TCP as the superuser; returns unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> Result<String, HarnessError> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
            .args(["-p", &self.port.to_string(), "-c", sql])
            .env("PGPASSWORD", &self.password)
            .env("PGSSLMODE", "prefer")
            .output()
            .map_err(|e| HarnessError::Command { program: "psql".into(), message: e.to_string() })?;
        if !out.status.success() {
            return Err(HarnessError::Command { program: "psql".into(), message: String::from_utf8_lossy(&out.stderr).into() });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates (once) a least-privileged login role `name` with the superuser's password: no
    /// superuser, no server-file roles; it reads and writes the tables of schema `public`,
    /// those created later included. What a gateway's upstream role should look like.
    pub fn least_privileged_role(&self, name: &str) -> Result<(), HarnessError> {
        let pw = self.password.replace('\'', "''");
        self.psql(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN \
               CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD '{pw}'; END IF; END $$; \
             GRANT USAGE, CREATE ON SCHEMA public TO {name}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}; \
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {name}; \
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {name}; \
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO {name};"
        ))
        .map(|_| ())
    }

    /// The server's data directory (for logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("sh").args(["-c", &self.stop_command()]).status();
    }
}
