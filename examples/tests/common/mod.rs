//! The gateway as operators run it (`hoop serve` in a child process), its CLI, and the real
//! servers behind it: shared by the binary's end-to-end tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hoop_harness::{PgOptions, Postgres, Sshd, SshdOptions, free_port};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub const HOOP: &str = env!("CARGO_BIN_EXE_hoop");

pub fn pg() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        let pg = Postgres::start(PgOptions::default()).expect("start postgres");
        pg.least_privileged_role("hoop_gateway").expect("gateway role");
        pg.psql("CREATE TABLE people (id int, email text); INSERT INTO people VALUES (1, 'ann@corp.example');").unwrap();
        pg
    })
}

pub fn kube() -> &'static hoop_harness::KubeApi {
    static K: OnceLock<hoop_harness::KubeApi> = OnceLock::new();
    K.get_or_init(|| hoop_harness::KubeApi::start(Default::default()).expect("start the test API server"))
}

pub fn sshd() -> &'static Sshd {
    static S: OnceLock<Sshd> = OnceLock::new();
    S.get_or_init(|| Sshd::start(SshdOptions::default()).expect("start sshd"))
}

pub struct Serve {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub pg_port: u16,
    pub ssh_port: u16,
    pub k8s_port: u16,
    pub admin: String,
    pub agent_key: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn config_text(s: &Serve, rules: &str) -> String {
    let pg = pg();
    let sshd = sshd();
    let agent_pub = std::fs::read_to_string(s.agent_key.with_extension("pub")).unwrap();
    format!(
        r#"
data_dir = "{dir}"
[listeners]
postgres = "127.0.0.1:{pg_port}"
ssh = "127.0.0.1:{ssh_port}"
kubernetes = "127.0.0.1:{k8s_port}"
admin = "{admin}"
[recording]
fsync_interval_ms = 50
[targets.db]
protocol = "postgres"
address = "127.0.0.1:{pgp}"
user = "{pgu}"
password = "{pgpw}"
database = "postgres"
[targets.web]
protocol = "ssh"
address = "127.0.0.1:{sp}"
user = "{su}"
key_file = "{sk}"
host_keys = ["{hk}"]
[targets.cluster]
protocol = "kubernetes"
address = "{kurl}"
ca_file = "{kca}"
password = "{ktoken}"
[[ssh_keys]]
subject = "agent-1"
kind = "agent"
public_key = "{agent}"
{rules}
"#,
        dir = s.dir.path().join("data").display(),
        pg_port = s.pg_port,
        ssh_port = s.ssh_port,
        k8s_port = s.k8s_port,
        kurl = kube().url(),
        kca = kube().ca_file().display(),
        ktoken = kube().token(),
        admin = s.admin.trim_start_matches("https://"),
        pgp = pg.port(),
        pgu = "hoop_gateway",
        pgpw = pg.password(),
        sp = sshd.port(),
        su = sshd.user(),
        sk = sshd.client_key().display(),
        hk = sshd.host_public_key().unwrap(),
        agent = agent_pub.trim(),
    )
}

pub fn serve(rules: &str) -> Serve {
    serve_logging(rules, "info")
}

/// [`serve`] with `RUST_LOG` set to `log` (e.g. `trace`).
pub fn serve_logging(rules: &str, log_level: &str) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let agent_key = dir.path().join("agent");
    assert!(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&agent_key).status().unwrap().success());
    let mut s = Serve { child: None, config: dir.path().join("hoop.toml"), pg_port: 0, ssh_port: 0, k8s_port: 0, admin: String::new(), agent_key, dir };
    // A port found free can be taken before hoop binds it (other tests run in parallel): hoop
    // then exits with the error, and we try again with other ports.
    for _attempt in 0..5 {
        s.pg_port = free_port().unwrap();
        s.ssh_port = free_port().unwrap();
        s.k8s_port = free_port().unwrap();
        s.admin = format!("https://127.0.0.1:{}", free_port().unwrap());
        std::fs::write(&s.config, config_text(&s, rules)).unwrap();
        let log = std::fs::File::create(s.dir.path().join("hoop.log")).unwrap();
        let mut child = Command::new(HOOP).args(["--config"]).arg(&s.config).arg("serve").env("RUST_LOG", log_level).stdout(Stdio::null()).stderr(log).spawn().unwrap();
        for _ in 0..600 {
            if s.log().contains("hoop started") || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        if child.try_wait().unwrap().is_none() && s.log().contains("hoop started") {
            s.child = Some(child);
            return s;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("hoop serve did not start: {}", s.log());
}

impl Serve {
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The `hoop` CLI against this gateway (its data dir, its admin API).
    pub fn hoop(&self, args: &[&str]) -> Output {
        Command::new(HOOP).arg("--data-dir").arg(self.data()).args(args).env("HOOP_ADMIN_URL", &self.admin).env_remove("HOOP_TOKEN").output().unwrap()
    }

    pub fn token(&self, subject: &str, kind: &str, groups: &str, ttl: u32) -> String {
        let mut args = vec!["token", "issue", "--subject", subject, "--kind", kind];
        let ttl = ttl.to_string();
        args.extend(["--ttl", &ttl]);
        if !groups.is_empty() {
            args.extend(["--groups", groups]);
        }
        let o = self.hoop(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    pub fn psql(&self, token: &str, sql: &str) -> Output {
        self.psql_cmd("agent", token, "prefer", sql).output().unwrap()
    }

    /// psql to the target `db` as `user` with `password` (`sslmode` as libpq's), to run with
    /// `.output()` or to start with `.spawn()` (stdout and stderr as the caller sets them).
    pub fn psql_cmd(&self, user: &str, password: &str, sslmode: &str, sql: &str) -> Command {
        let mut c = Command::new("psql");
        c.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg(format!("host=127.0.0.1 port={} user={user} dbname=db sslmode={sslmode}", self.pg_port))
            .args(["-c", sql])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null());
        c
    }

    pub fn ssh(&self, command: &str) -> Output {
        Command::new("ssh")
            .args(["-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
            .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
            .arg(&self.agent_key)
            .args(["-p", &self.ssh_port.to_string(), "web@127.0.0.1", command])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn stop(&mut self, signal: &str) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        assert!(Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap().success());
        for _ in 0..400 {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("hoop did not stop on SIG{signal}");
    }

    /// Every recording's text, concatenated.
    pub fn recorded_text(&self) -> String {
        let dir = self.data().join("recordings");
        std::fs::read_dir(&dir).map(|d| d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect()).unwrap_or_default()
    }

    /// Starts the gateway again on the same config and data dir (after `stop`).
    pub fn start_again(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("hoop.log")).unwrap();
        self.child = Some(Command::new(HOOP).args(["--config"]).arg(&self.config).arg("serve").stdout(Stdio::null()).stderr(log).spawn().unwrap());
        for _ in 0..400 {
            if self.log().contains("hoop started") {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("hoop did not start again: {}", self.log());
    }

    /// A client credential registered by the operator (`hoop clients create`), in a file.
    pub fn client_credential(&self, subject: &str, kind: &str, groups: &str, targets: &str, extra: &[&str]) -> PathBuf {
        let path = self.dir.path().join(format!("{}.credential", subject.replace('/', "_")));
        let mut args = vec!["clients", "create", "--subject", subject, "--kind", kind, "--targets", targets, "--out", path.to_str().unwrap()];
        if !groups.is_empty() {
            args.extend(["--groups", groups]);
        }
        args.extend(extra);
        let o = self.hoop(&args);
        assert!(o.status.success(), "{}", err(&o));
        path
    }

    /// The gateway's certificate, which clients trust.
    pub fn ca_file(&self) -> PathBuf {
        self.data().join("tls").join("cert.pem")
    }

    /// A kubeconfig from `hoop kubeconfig` whose plugin exchanges `credential`, written as the
    /// agent would on its own machine: no data dir, only URLs, the CA and the credential.
    pub fn kubeconfig_for(&self, credential: &Path, home: &Path) -> PathBuf {
        let server = format!("https://127.0.0.1:{}", self.k8s_port);
        let o = Command::new(HOOP)
            .args(["kubeconfig", "--target", "cluster", "--server", &server, "--admin-url", &self.admin])
            .arg("--ca-file")
            .arg(self.ca_file())
            .arg("--credential-file")
            .arg(credential)
            .env("HOME", home)
            .env("HOOP_DATA_DIR", home.join("no-data-dir"))
            .env_remove("HOOP_TOKEN")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        let path = home.join("kubeconfig");
        std::fs::write(&path, &o.stdout).unwrap();
        path
    }

    /// A kubeconfig for a human (kate), through a client credential.
    pub fn kubeconfig(&self) -> PathBuf {
        let cred = self.client_credential("kate", "human", "", "cluster", &[]);
        self.kubeconfig_for(&cred, self.dir.path())
    }

    /// Waits until no session is live any more (each closed and sealed), up to 10 s.
    pub fn settle(&self) {
        for _ in 0..100 {
            let l = out(&self.hoop(&["sessions", "list"]));
            if !l.is_empty() && !l.contains(" live") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hoop.log")).unwrap_or_default()
    }
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Reads the recordings in `data` directly (after hoop has stopped).
pub fn recorder(data: &Path) -> hoop_core::gate::Gate {
    let cfg = hoop_core::config::Config { data_dir: data.to_path_buf(), ..Default::default() };
    cfg.build_gate().unwrap()
}


/// Decodes base64url (no padding), as JWT parts are written.
pub fn b64url(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut outv = Vec::new();
    for c in s.bytes() {
        let Some(v) = alphabet.iter().position(|a| *a == c) else { continue };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            outv.push((bits >> n) as u8);
        }
    }
    outv
}

/// The claims of a JWT, unverified (what the test asked for, read back).
pub fn claims(token: &str) -> serde_json::Value {
    serde_json::from_slice(&b64url(token.split('.').nth(1).unwrap_or_default())).unwrap_or_default()
}
