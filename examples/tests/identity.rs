//! Identity and authority through `hoop serve`: an agent onboarded without the data dir (client
//! credential → kubeconfig, token, SSH certificate over the admin API), every escalation it or
//! an issuer could try, and revocation that ends live psql, ssh and `kubectl get -w` sessions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The agent's machine: a home with the gateway's CA and its own credential, no data dir.
struct AgentHome {
    dir: tempfile::TempDir,
    credential: PathBuf,
    ca: PathBuf,
}

impl AgentHome {
    fn new(s: &Serve, credential: &Path) -> AgentHome {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("gateway-ca.pem");
        std::fs::copy(s.ca_file(), &ca).unwrap();
        let cred = dir.path().join("credential");
        std::fs::copy(credential, &cred).unwrap();
        AgentHome { dir, credential: cred, ca }
    }

    fn no_data_dir(&self) -> PathBuf {
        self.dir.path().join("no-data-dir")
    }

    /// `hoop` as the agent runs it: no data dir, no operator token.
    fn hoop(&self, s: &Serve, args: &[&str]) -> Output {
        Command::new(HOOP)
            .args(args)
            .env("HOME", self.dir.path())
            .env("HOOP_DATA_DIR", self.no_data_dir())
            .env("HOOP_ADMIN_URL", &s.admin)
            .env("HOOP_CA_FILE", &self.ca)
            .env("HOOP_CREDENTIAL_FILE", &self.credential)
            .env_remove("HOOP_TOKEN")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// A token from `hoop token exchange`.
    fn exchange(&self, s: &Serve, extra: &[&str]) -> Result<String, String> {
        let mut args = vec!["token", "exchange"];
        args.extend(extra);
        let o = self.hoop(s, &args);
        if o.status.success() { Ok(out(&o).trim().to_string()) } else { Err(err(&o)) }
    }

    /// An SSH key of the agent's and a certificate for it over the admin API.
    fn ssh_certificate(&self, s: &Serve) -> PathBuf {
        let key = self.dir.path().join("id_ed25519");
        if !key.exists() {
            assert!(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key).status().unwrap().success());
        }
        // Flags for local minting with the agent's own credential are refused, not silently
        // ignored (red-team identity round 110: `--subject alice --kind human` printed a
        // certificate for the agent).
        let o = self.hoop(s, &["ssh-cert", "--public-key", key.with_extension("pub").to_str().unwrap(), "--subject", "alice", "--kind", "human"]);
        assert!(!o.status.success() && err(&o).contains("cannot be used with"), "{}", err(&o));
        let o = self.hoop(s, &["ssh-cert", "--public-key", key.with_extension("pub").to_str().unwrap(), "--ttl", "600"]);
        assert!(o.status.success(), "{}", err(&o));
        std::fs::write(self.dir.path().join("id_ed25519-cert.pub"), out(&o)).unwrap();
        key
    }
}

/// `ssh` with `key` (and its certificate, next to it) to the `web` target.
fn ssh_with(s: &Serve, key: &Path, command: &str) -> Command {
    let mut c = Command::new("ssh");
    c.args(["-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
        .arg(key)
        .args(["-p", &s.ssh_port.to_string(), "web@127.0.0.1", command])
        .stdin(Stdio::null());
    c
}

fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("kubectl");
    c.env("KUBECONFIG", kubeconfig).env("HOME", home).env_remove("HOOP_TOKEN").args(args).stdin(Stdio::null());
    c
}

/// An agent gets kubectl, psql and ssh working from nothing but its own client credential, the
/// gateway's URL and CA; nothing on its machine can mint an identity, and every attempt to get
/// more than it was given is refused.
#[test]
fn agent_onboarding_without_the_data_dir_and_every_escalation() {
    let s = serve("");
    let cred = s.client_credential("etl-bot", "agent", "", "db,web,cluster", &["--max-ttl", "600"]);
    let home = AgentHome::new(&s, &cred);

    // kubectl with the generated kubeconfig: the plugin exchanges the credential.
    let kc = s.kubeconfig_for(&home.credential, home.dir.path());
    let text = std::fs::read_to_string(&kc).unwrap();
    assert!(text.contains("\"exchange\"") && !text.contains("--data-dir") && !text.contains("hoopc_"), "{text}");
    let o = kubectl(&kc, home.dir.path(), &["get", "pods"]).output().unwrap();
    assert!(o.status.success() && out(&o).contains("pod-1"), "{}{}", out(&o), err(&o));

    // psql with an exchanged token.
    let token = home.exchange(&s, &["--targets", "db"]).unwrap();
    let c = claims(&token);
    assert_eq!((c["sub"].as_str(), c["kind"].as_str()), (Some("etl-bot"), Some("agent")));
    assert_eq!(c["targets"], serde_json::json!(["db"]));
    let o = s.psql(&token, "select 40 + 2");
    assert!(o.status.success() && out(&o).trim() == "42", "{}", err(&o));

    // ssh with a certificate obtained over the API.
    let key = home.ssh_certificate(&s);
    let o = ssh_with(&s, &key, "echo certified").output().unwrap();
    assert!(o.status.success() && out(&o).contains("certified"), "{}", err(&o));
    assert!(!home.no_data_dir().exists(), "nothing on the agent's machine touched a data dir");

    // Escalations, each refused by the gateway, with the agent's own credential or token.
    let long = home.exchange(&s, &["--ttl", "86400"]).unwrap();
    let c = claims(&long);
    assert!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap() <= 600, "capped at the client's max ttl: {c}");
    let e = home.exchange(&s, &["--targets", "prod"]).unwrap_err();
    assert!(e.contains("may not reach target"), "{e}");
    let e = home.exchange(&s, &["--targets", "*"]).unwrap_err();
    assert!(e.contains("may not reach target"), "{e}");
    let as_token = |t: &str, args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--token", t]);
        home.hoop(&s, &a)
    };
    for (what, args) in [
        ("a human token", vec!["token", "issue", "--subject", "etl-bot", "--kind", "human"]),
        ("a reviewer", vec!["token", "issue", "--subject", "etl-bot/x", "--groups", "review"]),
        ("another subject", vec!["token", "issue", "--subject", "admin"]),
        ("approvals", vec!["approvals", "list"]),
        ("sessions", vec!["sessions", "list"]),
        ("revocations", vec!["revoke", "--list"]),
        ("a client of its own", vec!["clients", "create", "--subject", "etl-bot/x", "--targets", "db"]),
    ] {
        let o = as_token(&token, &args);
        assert!(!o.status.success() && err(&o).contains("HTTP 403"), "{what}: {}", err(&o));
    }
    // A gateway token is not exchanged for another (it would never expire).
    let o = Command::new(HOOP).args(["token", "exchange", "--credential-file"]).arg(write(&home, "tok", &token)).args(["--ca-file"]).arg(&home.ca).env("HOOP_ADMIN_URL", &s.admin).output().unwrap();
    assert!(err(&o).contains("cannot be exchanged"), "{}", err(&o));
    // A narrowing field of the wrong type or name is refused, never dropped.
    for body in [r#"{"targets":"db"}"#, r#"{"target":["db"]}"#, r#"{"ttl_secs":"60"}"#, "not json"] {
        let o = Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(&home.ca)
            .args(["-H", &format!("Authorization: Bearer {}", std::fs::read_to_string(&home.credential).unwrap().trim()), "-d", body, &format!("{}/v1/exchange", s.admin)])
            .output()
            .unwrap();
        assert!(out(&o).contains("\"error\"") && !out(&o).contains("token\""), "{body}: {}", out(&o));
    }
    // Certificates are never wider than the token asking for them.
    let o = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&home.ca)
        .args(["-H", &format!("Authorization: Bearer {token}"), "-d", r#"{"public_key":"x","targets":["*"]}"#, &format!("{}/v1/ssh/certificates", s.admin)])
        .output()
        .unwrap();
    assert!(out(&o).contains("may not reach target"), "{}", out(&o));
    // The client credential is not a token: not a Postgres password, not an admin API token.
    let secret = std::fs::read_to_string(&home.credential).unwrap();
    let o = s.psql(secret.trim(), "select 1");
    assert!(!o.status.success(), "{}", out(&o));
    let o = as_token(secret.trim(), &["approvals", "list"]);
    assert!(err(&o).contains("only good for POST /v1/exchange"), "{}", err(&o));
    // A wrong secret for a real client id.
    let forged = format!("{}x", &secret.trim()[..secret.trim().len() - 1]);
    let e = home.exchange(&s, &["--credential-file", write(&home, "forged", &forged).to_str().unwrap()]).unwrap_err();
    assert!(e.contains("HTTP 401"), "{e}");
    // The operator cannot register an agent client that reviews, either.
    let o = s.hoop(&["clients", "create", "--subject", "bad-bot", "--kind", "agent", "--groups", "review", "--targets", "db"]);
    assert!(!o.status.success() && err(&o).contains("agents never hold"), "{}", err(&o));
    // Nor one that reads every session (red-team identity round 88: an agent created with
    // `audit` read another agent's recording), nor a token under a name that reads as a pattern.
    let o = s.hoop(&["clients", "create", "--subject", "audit-bot", "--kind", "agent", "--groups", "audit", "--targets", "db"]);
    assert!(!o.status.success() && err(&o).contains("agents never hold the \"audit\" group"), "{}", err(&o));
    let o = s.hoop(&["token", "issue", "--subject", "ci/*", "--kind", "agent"]);
    assert!(!o.status.success() && err(&o).contains("may not hold `*`"), "{}", err(&o));
    // Nor the operator's local SSH certificates (red-team identity round 89: `hoop ssh-cert`
    // signed an agent with `audit`, and a subject `y*`).
    let key = s.agent_key.with_extension("pub");
    for (subject, groups, says) in [("audit-bot", "audit", "agents never hold"), ("y*", "", "may not hold `*`")] {
        let o = s.hoop(&["ssh-cert", "--public-key", key.to_str().unwrap(), "--subject", subject, "--kind", "agent", "--groups", groups]);
        assert!(!o.status.success() && err(&o).contains(says), "{subject}: {}", err(&o));
    }
}

fn write(home: &AgentHome, name: &str, text: &str) -> PathBuf {
    let p = home.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// An agent allowed to issue (an orchestrator) hands out only narrower agents under its own
/// name; deleting its client ends what it issued.
#[test]
fn delegated_issuing_stays_within_the_issuer() {
    let s = serve("");
    let cred = s.client_credential("orchestrator", "agent", "token-issuer,etl", "db", &["--issue-subjects", "orchestrator/*", "--max-ttl", "600"]);
    let home = AgentHome::new(&s, &cred);
    let token = home.exchange(&s, &[]).unwrap();
    let issue = |args: &[&str]| {
        let mut a = vec!["token", "issue", "--ttl", "3600", "--token", &token];
        a.extend(args);
        home.hoop(&s, &a)
    };
    let o = issue(&["--subject", "orchestrator/job-1", "--groups", "etl", "--targets", "db"]);
    assert!(o.status.success(), "{}", err(&o));
    let job = out(&o).trim().to_string();
    let c = claims(&job);
    assert!(c["exp"].as_i64().unwrap() <= claims(&token)["exp"].as_i64().unwrap(), "never outlives its issuer: {c}");
    assert!(s.psql(&job, "select 1").status.success());
    for (what, args) in [
        ("human", vec!["--subject", "orchestrator/job-2", "--kind", "human", "--targets", "db"]),
        ("review", vec!["--subject", "orchestrator/job-2", "--groups", "review", "--targets", "db"]),
        ("a group it lacks", vec!["--subject", "orchestrator/job-2", "--groups", "audit", "--targets", "db"]),
        ("a target it lacks", vec!["--subject", "orchestrator/job-2", "--targets", "web"]),
        ("every target", vec!["--subject", "orchestrator/job-2", "--targets", "*"]),
        ("a subject outside its pattern", vec!["--subject", "root", "--targets", "db"]),
        ("a lookalike prefix", vec!["--subject", "orchestrator-admin", "--targets", "db"]),
        // Red-team identity round 81: a subject a terminal reads as another.
        ("a direction override", vec!["--subject", "orchestrator/\u{202e}rotarepo", "--targets", "db"]),
        // Round 89: a name that reads as another (a fullwidth digit).
        ("a look-alike", vec!["--subject", "orchestrator/job-\u{ff11}", "--targets", "db"]),
    ] {
        let o = issue(&args);
        assert!(!o.status.success() && (err(&o).contains("HTTP 403") || err(&o).contains("HTTP 400")), "{what}: {}", err(&o));
    }
    // Round 89: a revoked subject gets no token (it would be refused at every login).
    let o = s.hoop(&["revoke", "subject:orchestrator/job-3"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = issue(&["--subject", "orchestrator/job-3", "--targets", "db"]);
    assert!(!o.status.success() && err(&o).contains("HTTP 403") && err(&o).contains("revoked"), "{}", err(&o));
    // Red-team identity round 81: an issuer agent removed another agent's client, revoking it
    // for ever and ending its sessions. Only humans remove clients (an issuer those it
    // registered, a reviewer any), by their exact id; the other agent still exchanges.
    let other = s.client_credential("etl-bot", "agent", "", "db", &[]);
    let other_home = AgentHome::new(&s, &other);
    let other_token = other_home.exchange(&s, &[]).unwrap();
    let other_id = claims(&other_token)["from"][0].as_str().unwrap().trim_start_matches("client:").to_string();
    for id in [other_id.clone(), other_id.to_uppercase(), "c_000000000000".to_string()] {
        let o = home.hoop(&s, &["clients", "delete", &id, "--token", &token]);
        assert!(!o.status.success() && err(&o).contains("HTTP 403"), "{id}: {}", err(&o));
    }
    assert!(other_home.exchange(&s, &[]).is_ok(), "the other agent's client still works");
    assert!(!out(&s.hoop(&["revoke", "--list"])).contains("c_000000000000"), "nothing revoked");
    // Revoking the orchestrator's subject ends what it issued too: the job's live session and
    // its next login.
    let mut running = s.psql_cmd("a", &job, "prefer", "select pg_sleep(20)").stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let o = s.hoop(&["revoke", "subject:orchestrator"]);
    assert!(o.status.success() && out(&o).contains("1 live sessions ended"), "{}{}", out(&o), err(&o));
    assert!(!running.wait().unwrap().success());
    assert!(err(&s.psql(&job, "select 1")).contains("revoked"));
    // Deleting the orchestrator's client revokes it, the token it exchanged, and the job's token.
    let id = claims(&token)["from"][0].as_str().unwrap().trim_start_matches("client:").to_string();
    let o = s.hoop(&["clients", "delete", &id]);
    assert!(o.status.success(), "{}", err(&o));
    let o = s.psql(&job, "select 1");
    assert!(err(&o).contains("revoked"), "{}", err(&o));
    assert!(home.exchange(&s, &[]).unwrap_err().contains("HTTP 401"));
}

/// Red-team identity round 82: a human's short-lived token registered clients that outlived a
/// revocation of that human: they stand on who registered them, so revoking the person ends
/// their clients' exchanges and the tokens those gave.
#[test]
fn clients_stand_on_who_registered_them() {
    let s = serve("");
    let bob = s.token("bob", "human", "token-issuer", 600);
    let cred = s.dir.path().join("bob-bot.credential");
    let o = s.hoop(&["clients", "create", "--subject", "bob/bot", "--kind", "agent", "--targets", "db", "--out", cred.to_str().unwrap(), "--token", &bob]);
    assert!(o.status.success(), "{}", err(&o));
    let home = AgentHome::new(&s, &cred);
    let token = home.exchange(&s, &[]).unwrap();
    assert!(s.psql(&token, "select 1").status.success());
    // Round 83: and a client registered by one of bob's clients stands on bob too.
    let human = s.dir.path().join("bob-h.credential");
    let o = s.hoop(&["clients", "create", "--subject", "bob/h", "--kind", "human", "--groups", "token-issuer", "--targets", "db", "--out", human.to_str().unwrap(), "--token", &bob]);
    assert!(o.status.success(), "{}", err(&o));
    let h_token = AgentHome::new(&s, &human).exchange(&s, &[]).unwrap();
    let grand = s.dir.path().join("bob-h-bot.credential");
    let o = s.hoop(&["clients", "create", "--subject", "bob/h/bot", "--kind", "agent", "--targets", "db", "--out", grand.to_str().unwrap(), "--token", &h_token]);
    assert!(o.status.success(), "{}", err(&o));
    let grand_home = AgentHome::new(&s, &grand);
    assert!(grand_home.exchange(&s, &[]).is_ok());
    let o = s.hoop(&["revoke", "subject:bob", "--reason", "left the company"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&s.psql(&token, "select 1")).contains("revoked"));
    assert!(home.exchange(&s, &[]).unwrap_err().contains("HTTP 401"));
    assert!(grand_home.exchange(&s, &[]).unwrap_err().contains("HTTP 401"), "two levels down");
    // The record stays the operator's: a reviewer posting it again changes nothing (round 83).
    let rev = s.token("carol", "human", "review", 600);
    let o = s.hoop(&["revoke", "subject:bob", "--reason", "false alarm", "--token", &rev]);
    assert!(o.status.success(), "{}", err(&o));
    let listed = out(&s.hoop(&["revoke", "--list"]));
    assert!(listed.contains("left the company") && !listed.contains("false alarm"), "{listed}");
}

/// Revoking ends live sessions on every protocol within a second, with the reason the client
/// can show; revocations are listed and survive a restart.
#[test]
fn revocation_ends_live_psql_ssh_and_kubectl_watch_within_a_second() {
    let mut s = serve("[policy]\ndefault_rules = false\n[[static_identities]]\nsubject = \"static-bot\"\nsecret = \"static-secret-0123456789\"\n");
    let cred = s.client_credential("runner", "agent", "", "db,web,cluster", &["--max-ttl", "600"]);
    let home = AgentHome::new(&s, &cred);

    // Runs `revoke` and waits for `child` to exit; returns how long that took from the moment
    // the operator's command started (its own process start included).
    let ended = |child: &mut std::process::Child, revoke: &[&str]| -> (Duration, String) {
        std::thread::sleep(Duration::from_millis(1500));
        assert!(child.try_wait().unwrap().is_none(), "still running before the revocation");
        let at = Instant::now();
        let o = s.hoop(revoke);
        assert!(o.status.success(), "{}", err(&o));
        loop {
            if child.try_wait().unwrap().is_some() {
                let took = at.elapsed();
                let mut e = String::new();
                let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut e);
                return (took, e);
            }
            assert!(at.elapsed() < Duration::from_secs(10), "{revoke:?}: the session did not end");
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    // psql in a long write; its token is revoked: the session ends and the write never lands.
    let token = home.exchange(&s, &[]).unwrap();
    let jti = claims(&token)["jti"].as_str().unwrap().to_string();
    let mut psql = s.psql_cmd("agent", &token, "prefer", "insert into people select 9031, 'late' from pg_sleep(4)").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (psql_took, e) = ended(&mut psql, &["revoke", &jti, "--reason", "leaked in a log"]);
    assert!(e.contains("credential revoked"), "{e}");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(pg().psql("select count(*) from people where id = 9031").unwrap().trim(), "0", "the statement in flight was cancelled");

    // psql as a static identity (SCRAM against its configured secret), revoked by name.
    let mut psql = s.psql_cmd("static-bot", "static-secret-0123456789", "prefer", "select pg_sleep(30)").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (static_took, e) = ended(&mut psql, &["revoke", "static:static-bot"]);
    assert!(e.contains("credential revoked"), "{e}");
    let o = s.psql_cmd("static-bot", "static-secret-0123456789", "prefer", "select 1").output().unwrap();
    assert!(err(&o).contains("revoked"), "a revoked static identity cannot log in again: {}", err(&o));

    // ssh with a configured key ([[ssh_keys]] agent-1); the key is revoked by fingerprint.
    let fp = Command::new("ssh-keygen").args(["-l", "-E", "sha256", "-f"]).arg(s.agent_key.with_extension("pub")).output().unwrap();
    let fp = out(&fp).split_whitespace().nth(1).unwrap().to_string();
    let o = s.hoop(&["revoke", "garbage"]);
    assert!(!o.status.success() && err(&o).contains("is not a token id"), "{}", err(&o));
    let o = s.hoop(&["revoke", "client:garbage"]);
    assert!(!o.status.success() && err(&o).contains("would match no credential"), "{}", err(&o));
    let o = s.hoop(&["revoke", "ssh-key:MD5:00:11"]);
    assert!(!o.status.success(), "an id no credential carries is refused, not listed");
    let mut ssh = ssh_with(&s, &s.agent_key, "sleep 30").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Spelled loosely (kind in capitals, padding): made canonical, so it still matches.
    let loose = format!("SSH-KEY:{}=", fp.replacen("SHA256:", "sha256:", 1));
    let (ssh_key_took, e) = ended(&mut ssh, &["revoke", &loose]);
    assert!(e.contains("credential revoked"), "{e}");

    // The revoked key cannot be certified again for another identity.
    let o = home.hoop(&s, &["ssh-cert", "--public-key", s.agent_key.with_extension("pub").to_str().unwrap()]);
    assert!(!o.status.success() && err(&o).contains("revoked"), "{}", err(&o));

    // ssh with a certificate from the API; the certificate is revoked by serial.
    let key = home.ssh_certificate(&s);
    let serial = Command::new("ssh-keygen").args(["-L", "-f"]).arg(home.dir.path().join("id_ed25519-cert.pub")).output().unwrap();
    let serial = out(&serial).lines().find_map(|l| l.trim().strip_prefix("Serial: ").map(str::to_string)).unwrap();
    // What the command would still do on the host after the revocation is stopped with it.
    let marker = format!("/tmp/hoop-inflight-{}", std::process::id());
    let _ = std::fs::remove_file(&marker);
    let mut ssh = ssh_with(&s, &key, &format!("sleep 4; touch {marker}")).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (ssh_cert_took, e) = ended(&mut ssh, &["revoke", &format!("ssh-cert:{serial}")]);
    assert!(e.contains("credential revoked"), "{e}");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!std::path::Path::new(&marker).exists(), "the command in flight on the host was stopped");

    // kubectl get -w on a kept-alive connection; the client credential is deleted, so the
    // plugin cannot get another token either.
    let kc = s.kubeconfig_for(&home.credential, home.dir.path());
    let mut watch = kubectl(&kc, home.dir.path(), &["get", "pods", "-w"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let client = claims(&home.exchange(&s, &[]).unwrap())["from"][0].as_str().unwrap().to_string();
    // The watch ends with an ERROR event carrying the Status (kubectl stops on it, silently);
    // kubectl's next request tells why.
    let (watch_took, _) = ended(&mut watch, &["revoke", &client, "--reason", "agent retired"]);
    let o = kubectl(&kc, home.dir.path(), &["get", "pods"]).output().unwrap();
    assert!(!o.status.success() && err(&o).contains("credential revoked"), "{}", err(&o));

    println!("revoke_psql_ms: {}", psql_took.as_millis());
    println!("revoke_psql_static_ms: {}", static_took.as_millis());
    println!("revoke_ssh_key_ms: {}", ssh_key_took.as_millis());
    println!("revoke_ssh_cert_ms: {}", ssh_cert_took.as_millis());
    println!("revoke_kubectl_watch_ms: {}", watch_took.as_millis());
    for (what, took) in [("psql", psql_took), ("psql static", static_took), ("ssh key", ssh_key_took), ("ssh cert", ssh_cert_took), ("kubectl -w", watch_took)] {
        assert!(took < Duration::from_secs(1), "{what}: {took:?}");
    }

    // A subject or reason holding a direction override is listed escaped (red-team identity
    // round 81: `ci/\u{202e}rotarepo` read as `ci/operator` on a terminal).
    let o = s.hoop(&["revoke", "subject:ci/\u{202e}rotarepo\u{202c}", "--reason", "gone \u{202e}sdrawkcab"]);
    assert!(o.status.success(), "{}", err(&o));
    let listed = out(&s.hoop(&["revoke", "--list"]));
    assert!(listed.contains("ci/\\u{202e}rotarepo") && !listed.contains('\u{202e}'), "{listed}");
    // A revocation is never shortened or lifted over the API (red-team identity round 82: a
    // reviewer posted the operator's for-ever revocation again with an `until` in the past, and
    // the revoked token logged in again).
    let rev = s.token("rev", "human", "review", 600);
    for until in [1, -5] {
        let body = format!(r#"{{"id": "token:{jti}", "until": {until}}}"#);
        let o = Command::new("curl")
            .args(["-sk", "-X", "POST", "-H", &format!("Authorization: Bearer {rev}"), "-H", "Content-Type: application/json", "-d", &body, &format!("{}/v1/revocations", s.admin)])
            .output()
            .unwrap();
        assert!(out(&o).contains("never shortened"), "{until}: {}", out(&o));
    }
    assert!(err(&s.psql(&token, "select 1")).contains("revoked"), "still revoked");
    for id in [format!("token:{jti}"), format!("ssh-key:{fp}"), format!("ssh-cert:{serial}"), client.clone()] {
        assert!(listed.contains(&id), "{id} in {listed}");
    }
    assert!(listed.contains("leaked in a log"), "{listed}");

    // After a restart, every revoked credential is still refused; others are not.
    s.stop("TERM");
    s.start_again();
    assert!(err(&s.psql(&token, "select 1")).contains("revoked"));
    assert!(!s.ssh("echo hi").status.success(), "the revoked key stays refused");
    assert!(!ssh_with(&s, &key, "echo hi").output().unwrap().status.success(), "the revoked certificate stays refused");
    let other = s.token("someone-else", "agent", "", 600);
    assert!(s.psql(&other, "select 1").status.success());
}

/// `/metrics` needs a token unless configured public; secrets never reach the log (at any
/// level), errors returned to clients, recordings or metrics; tokens without TLS come only
/// from the listed networks.
#[test]
fn trust_decisions_are_explicit_and_secrets_stay_out_of_logs() {
    let hook = "https://hooks.slack.example/services/T000/B000/SECRETPATH0123456789";
    let s = serve_logging(
        &format!(
            "[approvals]\nwebhook_url = \"{hook}\"\n[admin]\nmetrics_public = true\n[tls]\nplaintext_from = []\n[[static_identities]]\nsubject = \"static-bot\"\nsecret = \"static-secret-NEVER-LOGGED\"\n"
        ),
        "trace",
    );
    let metrics = Command::new("curl").args(["-sk", &format!("{}/metrics", s.admin)]).output().unwrap();
    assert!(out(&metrics).contains("hoop_sessions_open"), "{}", out(&metrics));

    // From loopback, but loopback is not listed: cleartext is refused, TLS works.
    let token = s.token("agent-7", "agent", "", 600);
    let o = s.psql_cmd("agent", &token, "disable", "select 7").output().unwrap();
    assert!(err(&o).contains("only accepted over TLS"), "{}", err(&o));
    let o = s.psql_cmd("agent", &token, "require", "select 7").output().unwrap();
    assert!(o.status.success() && out(&o).trim() == "7", "{}", err(&o));

    // A failed login with a wrong token and a client credential exchange: neither reaches the log.
    let cred = s.client_credential("logged-bot", "agent", "", "db,cluster", &[]);
    let secret = std::fs::read_to_string(&cred).unwrap();
    let home = AgentHome::new(&s, &cred);
    let exchanged = home.exchange(&s, &[]).unwrap();
    let refused = s.psql_cmd("agent", "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJob29wIn0.c2lnbmF0dXJl", "require", "select 1").output().unwrap();
    // A whole session's worth of traffic on every protocol, at trace level.
    let tls_psql = |user: &str, pw: &str, sql: &str| s.psql_cmd(user, pw, "require", sql).output().unwrap();
    assert!(tls_psql("agent", &exchanged, "select 'by token'").status.success());
    assert!(tls_psql("static-bot", "static-secret-NEVER-LOGGED", "select 'by scram'").status.success());
    let wrong_static = tls_psql("static-bot", "static-secret-WRONG-ONE", "select 1");
    assert!(s.ssh("echo over ssh").status.success());
    let kc = s.kubeconfig_for(&home.credential, home.dir.path());
    let k = Command::new("kubectl").env("KUBECONFIG", &kc).env("HOME", home.dir.path()).args(["get", "pods"]).output().unwrap();
    assert!(k.status.success(), "{}", err(&k));
    s.settle();
    let log = s.log();
    assert!(log.contains("approval webhook on") && log.contains("hooks.slack.example"), "{log}");
    assert!(log.contains("TRACE"), "the log is at trace level");
    let mut outputs = vec![("log", log.clone()), ("metrics", out(&metrics))];
    for o in [&refused, &wrong_static, &k] {
        outputs.push(("client error", err(o)));
    }
    for e in std::fs::read_dir(s.data().join("recordings")).unwrap() {
        outputs.push(("recording", std::fs::read_to_string(e.unwrap().path()).unwrap()));
    }
    let gateway_key = std::fs::read_to_string(sshd().client_key()).unwrap();
    let key_body = gateway_key.lines().nth(1).unwrap().to_string();
    let secrets = [
        "SECRETPATH0123456789",
        secret.trim(),
        &exchanged,
        "c2lnbmF0dXJl",
        pg().password(),
        kube().token(),
        "static-secret-NEVER-LOGGED",
        "static-secret-WRONG-ONE",
        &key_body,
    ];
    for (what, text) in &outputs {
        for secret in &secrets {
            assert!(!text.contains(secret), "a secret ({}…) leaked into a {what}", &secret[..secret.len().min(12)]);
        }
    }
}

/// OIDC is explicit: a real provider's tokens become identities only through the mappings
/// written for them; another tenant of the same issuer, or a person no mapping names, is refused.
#[test]
fn oidc_tokens_map_only_through_written_rules() {
    let idp = hoop_harness::OidcProvider::start().unwrap();
    let s = serve(&format!(
        r#"
[[oidc]]
issuer = "{iss}"
audience = ["https://hoop.test", "human-app"]
ca_file = "{ca}"
[[oidc.map]]
require = {{ repository = "acme/etl", client_id = "agent-ci" }}
subject_prefix = "ci:"
targets = ["db"]
[[oidc.map]]
require_pattern = {{ email = '[a-z]+@example\.com' }}
subject_claim = "email"
kind = "human"
pass_groups = ["dba"]
targets = ["db", "cluster"]
"#,
        iss = idp.issuer(),
        ca = idp.ca_file().display()
    ));
    // Workload identity (client credentials): an agent, with only the mapping's targets.
    let agent = idp.client_credentials("agent-ci", "agent-ci-secret-0123456789abcdef").unwrap();
    let o = s.psql(&agent, "select 'ci-ok'");
    assert!(o.status.success() && out(&o).contains("ci-ok"), "{}", err(&o));
    // Another tenant of the same issuer, same audience, signed by the same keys: no mapping.
    let other = idp.client_credentials("other-tenant", "other-tenant-secret-0123456789abcd").unwrap();
    let o = s.psql(&other, "select 1");
    assert!(!o.status.success() && err(&o).contains("no mapping"), "{}", err(&o));
    // A person's authorization-code login: a human, with the groups the mapping passes.
    let alice = idp.login("alice").unwrap();
    let o = s.psql(&alice, "select 'alice-ok'");
    assert!(o.status.success() && out(&o).contains("alice-ok"), "{}", err(&o));
    let mallory = idp.login("mallory").unwrap();
    let o = s.psql(&mallory, "select 1");
    assert!(!o.status.success() && err(&o).contains("no mapping"), "{}", err(&o));
    s.settle();
    let sessions = out(&s.hoop(&["sessions", "list"]));
    assert!(sessions.contains("ci:agent-ci") && sessions.contains("alice@example.com"), "{sessions}");

    // The agent's OIDC token exchanged for a gateway token: never wider, never longer-lived.
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("oidc-token");
    std::fs::write(&file, &agent).unwrap();
    let exchange = |extra: &[&str]| {
        Command::new(HOOP)
            .args(["token", "exchange", "--credential-file"])
            .arg(&file)
            .arg("--ca-file")
            .arg(s.ca_file())
            .args(extra)
            .env("HOOP_ADMIN_URL", &s.admin)
            .env("HOOP_DATA_DIR", home.path().join("none"))
            .output()
            .unwrap()
    };
    let o = exchange(&[]);
    assert!(o.status.success(), "{}", err(&o));
    let c = claims(out(&o).trim());
    assert_eq!((c["sub"].as_str(), c["kind"].as_str()), (Some("ci:agent-ci"), Some("agent")));
    assert_eq!(c["targets"], serde_json::json!(["db"]));
    assert!(c["exp"].as_i64() <= claims(&agent)["exp"].as_i64(), "{c}");
    let o = exchange(&["--targets", "cluster"]);
    assert!(err(&o).contains("may not reach target"), "{}", err(&o));
    assert!(s.psql(out(&exchange(&[])).trim(), "select 1").status.success());

    // Red-team identity round 113: a reload takes in the OIDC mappings too (a person's mapping
    // narrowed and reloaded went on mapping new tokens).
    let text = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(&s.config, text.replace("[a-z]+@example", "[a-z]+@elsewhere")).unwrap();
    reload(&s);
    let o = s.psql(&idp.login("alice").unwrap(), "select 1");
    assert!(!o.status.success() && err(&o).contains("no mapping"), "{}", err(&o));
    assert!(s.psql(&agent, "select 'ci-still'").status.success(), "the agent's mapping stays");
}

/// Red-team identity round 86: one agent's client credential minted 6,831 tokens in 10 s,
/// each a signature, a log line and a credential alive until it expires. Issuing to one subject
/// is bounded per minute (`limits.issued_per_minute`, 60): the rest get 429 with when to retry,
/// while another agent still exchanges; the refusal is logged once, not per request.
#[test]
fn credential_issuance_is_bounded_per_subject() {
    let s = serve("[limits]\nissued_per_minute = 60\n");
    let flood = s.client_credential("flood-bot", "agent", "", "db", &[]);
    let secret = std::fs::read_to_string(&flood).unwrap().trim().to_string();
    let url = format!("{}/v1/exchange", s.admin);
    let mut args = vec!["-sk".to_string(), "-o".into(), "/dev/null".into(), "-w".into(), "%{http_code}\\n".into()];
    for i in 0..130 {
        if i > 0 {
            args.push("--next".into());
            args.extend(["-sk".to_string(), "-o".into(), "/dev/null".into(), "-w".into(), "%{http_code}\\n".into()]);
        }
        args.extend(["-X".to_string(), "POST".into(), "-H".into(), format!("Authorization: Bearer {secret}"), "-d".into(), "{}".into(), url.clone()]);
    }
    let o = Command::new("curl").args(&args).output().unwrap();
    let codes: Vec<String> = out(&o).lines().map(str::to_string).collect();
    let ok = codes.iter().filter(|c| *c == "200").count();
    let limited = codes.iter().filter(|c| *c == "429").count();
    assert!((1..=120).contains(&ok) && limited >= 10 && ok + limited == 130, "{codes:?}");
    let o = Command::new("curl").args(["-sk", "-i", "-X", "POST", "-H", &format!("Authorization: Bearer {secret}"), "-d", "{}", &url]).output().unwrap();
    let answer = out(&o).to_lowercase();
    assert!(answer.contains("429") && answer.contains("retry-after:") && answer.contains("limits.issued_per_minute"), "{answer}");
    // Others are not held by it.
    let other = s.client_credential("calm-bot", "agent", "", "db", &[]);
    let calm = AgentHome::new(&s, &other).exchange(&s, &[]).unwrap();
    // (A lifetime out of range is said to be, not "token expired" as it was.)
    let o = Command::new("curl")
        .args(["-sk", "-X", "POST", "-H", &format!("Authorization: Bearer {calm}"), "-d", r#"{"public_key":"ssh-ed25519 AAAA","ttl_secs":0}"#, &format!("{}/v1/ssh/certificates", s.admin)])
        .output()
        .unwrap();
    assert!(out(&o).contains("ttl_secs must be 1..=86400"), "{}", out(&o));
    // Red-team identity round 87: an issuer's minted subjects each had their own bound. What
    // an agent mints counts with it: the orchestrator, its 30 minted issuers and their own
    // mints share one bound.
    let cred = s.client_credential("orchestrator", "agent", "token-issuer", "db", &["--issue-subjects", "orchestrator/*", "--max-ttl", "600"]);
    // The bound is per wall-clock minute: the 90 issues below start early in one, so that a
    // loaded machine does not see the minute turn halfway (it did, once, with red-team helpers
    // running beside the tests).
    let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    if second > 15 {
        std::thread::sleep(Duration::from_secs(61 - second));
    }
    let root = AgentHome::new(&s, &cred).exchange(&s, &[]).unwrap();
    let mint = |token: &str, subject: &str| -> (String, String) {
        let body = format!(r#"{{"subject":"{subject}","groups":["token-issuer"],"targets":["db"],"ttl_secs":300}}"#);
        let o = Command::new("curl")
            .args(["-sk", "-w", "\n%{http_code}", "-X", "POST", "-H", &format!("Authorization: Bearer {token}"), "-d", &body, &format!("{}/v1/tokens", s.admin)])
            .output()
            .unwrap();
        let text = out(&o);
        let (json, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
        let token = serde_json::from_str::<serde_json::Value>(json).ok().and_then(|v| v["token"].as_str().map(str::to_string)).unwrap_or_default();
        (code.to_string(), token)
    };
    let children: Vec<String> = (0..30).map(|i| mint(&root, &format!("orchestrator/job-{i}"))).filter(|(c, _)| c == "200").map(|(_, t)| t).collect();
    assert_eq!(children.len(), 30);
    let codes: Vec<String> = children.iter().enumerate().flat_map(|(i, t)| (0..2).map(move |k| (i, k, t))).map(|(i, k, t)| mint(t, &format!("orchestrator/job-{i}/step-{k}")).0).collect();
    let limited = codes.iter().filter(|c| *c == "429").count();
    assert!(limited >= 20, "the minted issuers share their root's bound: {codes:?}");
    // (The log's fields, without its colours.)
    let log: String = s.log().split('\x1b').enumerate().map(|(i, p)| if i == 0 { p } else { p.split_once('m').map_or(p, |(_, rest)| rest) }).collect();
    assert_eq!(log.matches("past limits.issued_per_minute").count().min(3), log.matches("past limits.issued_per_minute").count(), "at most one line a minute each: {log}");
    assert!(log.contains("budget=orchestrator"), "the refusal names whose bound it is: {log}");
    assert!(log.matches("credential exchanged for a token").count() <= 121, "one line per issue only");
}

/// Sends the gateway SIGHUP and waits until it has reloaded its config.
fn reload(s: &Serve) {
    let pid = s.child.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let reloaded = (0..100).any(|_| s.log().contains("configured identities reloaded") || {
        std::thread::sleep(Duration::from_millis(50));
        false
    });
    assert!(reloaded, "{}", s.log());
}

/// Red-team identity round 109: a static identity taken out of the config and reloaded with
/// SIGHUP went on logging in, and its open session went on running statements. A reload takes
/// in the identities the config defines: a static identity and an SSH key taken out log in no
/// more, and their live sessions end.
#[test]
fn an_identity_taken_out_of_the_config_is_gone_at_the_reload() {
    let rules = "[policy]\ndefault_rules = false\n";
    let secret = "static-secret-0123456789";
    let s = serve(&format!("{rules}[[static_identities]]\nsubject = \"static-bot\"\nsecret = \"{secret}\"\n"));
    let psql = |sql: &str| s.psql_cmd("static-bot", secret, "prefer", sql);
    assert!(psql("select 1").output().unwrap().status.success());
    assert_eq!(out(&s.ssh("echo before")).trim(), "before");
    let open = psql("select 1; select pg_sleep(8); insert into people values (9109, 'after the reload')").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));

    // Both taken out: the static identity, and the `[[ssh_keys]]` entry of the agent's key.
    let text = config_text(&s, rules);
    let at = text.find("[[ssh_keys]]").unwrap();
    let end = text[at..].find("public_key").map(|p| at + p).unwrap();
    let end = end + text[end..].find('\n').unwrap() + 1;
    std::fs::write(&s.config, format!("{}{}", &text[..at], &text[end..])).unwrap();
    reload(&s);

    let o = open.wait_with_output().unwrap();
    assert!(!o.status.success(), "the open session ended");
    assert!(!psql("select 1").output().unwrap().status.success(), "no more logins");
    assert!(!s.ssh("echo after").status.success(), "the key logs in no more");
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(pg().psql("select count(*) from people where id = 9109").unwrap().trim(), "0", "nothing after the reload ran");
}

/// Red-team identity round 110: a static identity's SCRAM exchange paused across a reload
/// that changed its secret finished on the old one, and the session lived on (it was not live
/// yet when the reload ended the identity's sessions). It is refused when it completes.
#[test]
fn a_login_in_flight_across_a_reload_of_its_identity_is_refused() {
    let rules = "[policy]\ndefault_rules = false\n";
    let old = "static-secret-0123456789";
    let s = serve(&format!("{rules}[[static_identities]]\nsubject = \"static-bot\"\nsecret = \"{old}\"\n"));
    // A SCRAM client by hand: it stops after the server's first message until told to go on.
    let client = r#"
import base64, hashlib, hmac, os, socket, struct, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
def send(tag, body): s.sendall(tag + struct.pack("!I", len(body) + 4) + body)
def recv():
    head = b""
    while len(head) < 5: head += s.recv(5 - len(head))
    n = struct.unpack("!I", head[1:])[0] - 4
    body = b""
    while len(body) < n: body += s.recv(n - len(body))
    return head[:1], body
params = b"user\0" + user.encode() + b"\0database\0db\0\0"
body = struct.pack("!I", 196608) + params
s.sendall(struct.pack("!I", len(body) + 4) + body)
tag, body = recv()
assert tag == b"R" and struct.unpack("!I", body[:4])[0] == 10, (tag, body)
nonce = base64.b64encode(os.urandom(18)).decode()
first_bare = "n=,r=" + nonce
msg = ("n,," + first_bare).encode()
send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(msg)) + msg)
tag, body = recv()
server_first = body[4:].decode()
print("paused", flush=True)
sys.stdin.readline()
attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
ckey = hmac.new(salted, b"Client Key", "sha256").digest()
without = "c=biws,r=" + attrs["r"]
auth = (first_bare + "," + server_first + "," + without).encode()
sig = hmac.new(hashlib.sha256(ckey).digest(), auth, "sha256").digest()
proof = bytes(a ^ b for a, b in zip(ckey, sig))
send(b"p", (without + ",p=" + base64.b64encode(proof).decode()).encode())
while True:
    tag, body = recv()
    if tag == b"E": print("refused", body.decode(errors="replace")); break
    if tag == b"Z":
        send(b"Q", b"select 'logged-in-after-the-reload'\0")
        while True:
            tag, body = recv()
            if tag == b"D": print("ran", body.decode(errors="replace"))
            if tag == b"E": print("error", body.decode(errors="replace"))
            if tag == b"Z": break
        break
"#;
    let mut child = Command::new("python3")
        .args(["-c", client, &s.pg_port.to_string(), "static-bot", old])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out_pipe = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out_pipe, &mut line).unwrap();
    assert_eq!(line.trim(), "paused");
    std::fs::write(&s.config, config_text(&s, &format!("{rules}[[static_identities]]\nsubject = \"static-bot\"\nsecret = \"static-secret-NEW-0123456789\"\n"))).unwrap();
    reload(&s);
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out_pipe, &mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(rest.contains("refused") && !rest.contains("logged-in-after-the-reload"), "{rest}{}", err(&o));
    assert!(rest.contains("changed or removed while it logged in"), "{rest}");
}
