//! `hoop serve` as operators run it: one process for Postgres and SSH, the admin API and its
//! CLI, signals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One process serves psql and ssh; both sessions are recorded under one data dir, verify,
/// and `hoop replay` of the SSH session reproduces its output bytes.
#[test]
fn serves_postgres_and_ssh_with_one_recorder() {
    let s = serve("");
    let token = s.token("agent-9", "agent", "", 600);
    let o = s.psql(&token, "select email from people");
    assert_eq!(out(&o).trim(), "[REDACTED:email]", "{}", err(&o));
    let o = s.ssh("printf 'line one\\nmail bob@corp.example\\n'; printf 'no newline'");
    assert_eq!(out(&o), "line one\nmail [REDACTED:email]\nno newline", "{}", err(&o));
    let ssh_bytes = o.stdout.clone();
    // A transaction the server rolls back is said so in the timeline.
    let o = s.psql(&token, "begin; select 'undone' from people limit 1; rollback");
    assert!(o.status.success(), "{}", err(&o));

    // kubectl through the same process, with a kubeconfig from `hoop kubeconfig` whose credential
    // plugin is the hoop binary itself.
    let kc = s.kubeconfig();
    let o = Command::new("kubectl").env("KUBECONFIG", &kc).env("HOME", s.dir.path()).args(["get", "pods"]).output().unwrap();
    assert!(out(&o).contains("pod-1"), "{}{}", out(&o), err(&o));

    s.settle();
    let list = s.hoop(&["sessions", "list"]);
    let listing = out(&list);
    assert!(listing.contains("postgres") && listing.contains("ssh") && listing.contains("kubernetes"), "{listing}{}", err(&list));
    let ids: Vec<String> = listing.lines().map(|l| l.split_whitespace().next().unwrap().to_string()).collect();
    for id in &ids {
        // A session is sealed once hoop has seen its client go; allow it a moment under load.
        let mut v = s.hoop(&["verify", id]);
        for _ in 0..50 {
            if v.status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            v = s.hoop(&["verify", id]);
        }
        assert!(v.status.success() && out(&v).starts_with("OK"), "{id}: {}{}", out(&v), err(&v));
    }
    let ssh_id = listing.lines().find(|l| l.contains(" ssh ")).unwrap().split_whitespace().next().unwrap();
    let replay = s.hoop(&["replay", ssh_id, "--speed", "100"]);
    assert!(replay.stdout == ssh_bytes, "replay: {:?}", out(&replay));
    let timeline: String = listing.lines().filter(|l| l.contains("postgres")).map(|l| out(&s.hoop(&["replay", l.split_whitespace().next().unwrap()]))).collect();
    assert!(timeline.contains("select email from people") && timeline.contains("SELECT 1"), "{timeline}");
    assert!(timeline.contains("rolled back (ROLLBACK): #") && timeline.contains("did not last"), "{timeline}");
    let metrics = s.hoop(&["sessions", "list"]);
    assert!(metrics.status.success());
}

/// The admin API refuses missing, expired, revoked and under-privileged tokens; a reviewer
/// cannot approve their own ticket and an agent cannot approve anything.
#[test]
fn admin_api_authorisation() {
    let s = serve(
        "[[policy.rules]]\nname = \"review-marked\"\nwhen = 'action.kind == \"sql\" && action.sql.text.contains(\"review_me\")'\nthen = \"review\"\n",
    );
    let as_token = |t: &str, args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--token", t]);
        s.hoop(&a)
    };
    // Missing: no Authorization header at all.
    let o = Command::new("curl").args(["-sk", &format!("{}/v1/approvals", s.admin)]).output().unwrap();
    assert!(out(&o).contains("a hoop token is required"), "{}", out(&o));
    let health = Command::new("curl").args(["-sk", &format!("{}/healthz", s.admin)]).output().unwrap();
    assert_eq!(out(&health), "ok\n");
    let metrics = Command::new("curl").args(["-sk", &format!("{}/metrics", s.admin)]).output().unwrap();
    assert!(out(&metrics).contains("a hoop token is required"), "metrics need a token: {}", out(&metrics));
    let auditor = s.token("mona", "human", "metrics", 600);
    let metrics = Command::new("curl").args(["-sk", "-H", &format!("Authorization: Bearer {auditor}"), &format!("{}/metrics", s.admin)]).output().unwrap();
    for m in ["hoop_sessions_open{protocol=\"postgres\"}", "hoop_actions_total{verdict=\"deny\"}", "hoop_review_wait_seconds_count", "hoop_recorder_lag_seconds", "hoop_masked_bytes_total"] {
        assert!(out(&metrics).contains(m), "{m}: {}", out(&metrics));
    }

    // Issuing over the API needs the token-issuer group, and grants only what one holds
    // (examples/tests/identity.rs tries every escalation).
    let issuer = s.token("ci-bootstrap", "agent", "token-issuer", 600);
    let o = as_token(&issuer, &["token", "issue", "--subject", "ci-bootstrap/job-7", "--ttl", "60", "--targets", "db"]);
    assert!(o.status.success() && out(&o).starts_with("eyJ"), "{}", err(&o));
    let o = as_token(&issuer, &["token", "issue", "--subject", "ci-bootstrap/job-8", "--groups", "deployers"]);
    assert!(err(&o).contains("may not grant group"), "{}", err(&o));
    let plain = s.token("plain", "agent", "", 600);
    let o = as_token(&plain, &["token", "issue", "--subject", "job-9"]);
    assert!(err(&o).contains("HTTP 403"), "{}", err(&o));

    let nobody = s.token("mallory", "human", "", 600);
    let o = as_token(&nobody, &["approvals", "list"]);
    assert!(!o.status.success() && err(&o).contains("HTTP 403"), "{}", err(&o));
    let reviewer = s.token("carol", "human", "review,audit", 600);
    assert!(as_token(&reviewer, &["approvals", "list"]).status.success());

    let short = s.token("carol", "human", "review,audit", 1);
    std::thread::sleep(Duration::from_millis(7200));
    let o = as_token(&short, &["approvals", "list"]);
    assert!(err(&o).contains("HTTP 401") && err(&o).contains("expired"), "{}", err(&o));

    let doomed = s.token("dave", "human", "review,audit", 600);
    let payload = doomed.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&b64url(payload)).unwrap();
    let jti = claims["jti"].as_str().unwrap();
    let o = as_token(&reviewer, &["revoke", jti]);
    assert!(o.status.success(), "{}", err(&o));
    let o = as_token(&doomed, &["approvals", "list"]);
    assert!(err(&o).contains("HTTP 401") && err(&o).contains("revoked"), "{}", err(&o));

    // carol (a reviewer) asks for something that needs review, then tries to approve it herself.
    let carol_sql = s.token("carol", "human", "review,audit", 600);
    let held = |user: &'static str, token: String| {
        let pg_port = s.pg_port;
        let waiting = std::thread::spawn(move || {
            Command::new("psql")
                .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p", &pg_port.to_string(), "-U", user, "-d", "db", "-c", "select 'review_me'"])
                .env("PGPASSWORD", token)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        });
        // The first open ticket, as a reviewer lists it.
        let ticket = (0..200)
            .find_map(|_| {
                let l = out(&as_token(&reviewer, &["approvals", "list"]));
                let t = l.split_whitespace().next().filter(|t| t.starts_with("t_")).map(str::to_string);
                if t.is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                t
            })
            .expect("no ticket");
        (waiting, ticket)
    };
    let (waiting, ticket) = held("carol", carol_sql);
    let o = as_token(&reviewer, &["approvals", "approve", &ticket]);
    assert!(err(&o).contains("cannot decide their own tickets"), "{}", err(&o));
    // No token makes an agent a reviewer, not even one from the data dir's key.
    let o = s.hoop(&["token", "issue", "--subject", "bot", "--kind", "agent", "--groups", "review"]);
    assert!(!o.status.success() && err(&o).contains("agents never hold"), "{}", err(&o));
    // (Nor `audit`: red-team identity round 88.)
    let o = s.hoop(&["token", "issue", "--subject", "bot", "--kind", "agent", "--groups", "audit"]);
    assert!(!o.status.success() && err(&o).contains("agents never hold"), "{}", err(&o));
    let agent = s.token("bot", "agent", "", 600);
    let o = as_token(&agent, &["approvals", "approve", &ticket]);
    assert!(err(&o).contains("HTTP 403"), "{}", err(&o));
    // Refusals leave a trace (red-team identity round 81: none did): the admin API's, and a
    // login's, which has no session to be recorded in.
    assert!(!s.psql("not-a-token", "select 1").status.success());
    let log = s.log();
    assert!(log.contains("admin request refused") && log.contains("/v1/approvals/") && log.contains("login refused"), "{log}");
    // Red-team identity round 86: the refusal says who asked, from where and why (it said
    // none of these).
    let line = log.lines().find(|l| l.contains("admin request refused") && l.contains("bot (agent, token ")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("127.0.0.1:") && line.contains("only human identities may review"), "{line}");
    let erin = s.token("erin", "human", "review", 600);
    let o = as_token(&erin, &["approvals", "approve", &ticket]);
    assert!(o.status.success(), "{}", err(&o));
    let done = waiting.join().unwrap();
    assert_eq!(out(&done).trim(), "review_me", "{}", err(&done));

    // Red-team identity round 81: a reviewer who may issue minted `…/bot` under her own name
    // and approved what it asked. Neither an identity she issued nor one named under her own
    // subject (here minted by the operator) is hers to decide; another reviewer's is.
    let frank = s.token("frank", "human", "review,token-issuer", 600);
    let o = as_token(&frank, &["token", "issue", "--subject", "frank/bot", "--kind", "agent", "--targets", "db", "--ttl", "600"]);
    assert!(o.status.success(), "{}", err(&o));
    let minted = out(&o).trim().to_string();
    // Round 82: nor a second reviewer she mints.
    let o = as_token(&frank, &["token", "issue", "--subject", "frank/rev2", "--kind", "human", "--groups", "review", "--ttl", "600"]);
    assert!(o.status.success(), "{}", err(&o));
    let frank_rev = out(&o).trim().to_string();
    for (bot, token) in [("frank/bot", minted), ("frank/other", s.token("frank/other", "agent", "", 600))] {
        let (waiting, ticket) = held(bot, token);
        for who in [&frank, &frank_rev] {
            let o = as_token(who, &["approvals", "approve", &ticket]);
            assert!(err(&o).contains("cannot decide their own tickets"), "{bot}: {}", err(&o));
        }
        let o = as_token(&erin, &["approvals", "approve", &ticket]);
        assert!(o.status.success(), "{bot}: {}", err(&o));
        let done = waiting.join().unwrap();
        assert_eq!(out(&done).trim(), "review_me", "{bot}: {}", err(&done));
    }
}

/// Red-team tenants round (2026-12-07): refused requests wrote one log line each, even
/// unauthenticated, at thousands a second from one keep-alive connection (2 MB/s of log). At
/// most 120 lines a minute are written for them; the next says how many were left out.
#[test]
fn refused_requests_do_not_flood_the_log() {
    let s = serve("");
    let o = Command::new("curl").args(["-sk", &format!("{}/v1/sessions?n=[1-400]", s.admin)]).output().unwrap();
    assert!(o.status.success() && out(&o).matches("error").count() >= 400, "{}", err(&o));
    let log = s.log();
    let lines = log.lines().filter(|l| l.contains("admin request refused")).count();
    assert!(lines > 0 && lines <= 120, "{lines} lines");
    // What the log leaves out, `/metrics` counts.
    let auditor = s.token("mona", "human", "metrics", 600);
    let m = Command::new("curl").args(["-sk", "-H", &format!("Authorization: Bearer {auditor}"), &format!("{}/metrics", s.admin)]).output().unwrap();
    let refused: u64 = out(&m)
        .lines()
        .find_map(|l| l.strip_prefix("hoop_sessionless_requests_total{kind=\"admin_refused\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_default();
    assert!(refused >= 400, "{}", out(&m));
}

/// SIGHUP applies a good config and refuses a broken one; SIGTERM ends an open session, whose
/// recording is sealed and verifies; a tampered recording fails verification.
#[test]
fn sighup_reload_and_sigterm_drain() {
    let mut s = serve("");
    let token = s.token("agent-3", "agent", "", 600);
    assert_eq!(out(&s.psql(&token, "select 'allowed_now'")).trim(), "allowed_now");
    let deny = "[[policy.rules]]\nname = \"no-marker\"\nwhen = 'action.kind == \"sql\" && action.sql.text.contains(\"allowed_now\")'\nthen = \"deny\"\n";
    std::fs::write(&s.config, config_text(&s, deny)).unwrap();
    let pid = s.child.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let mut denied = String::new();
    for _ in 0..100 {
        denied = err(&s.psql(&token, "select 'allowed_now'"));
        if denied.contains("no-marker") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(denied.contains("no-marker"), "{denied}\n{}", s.log());
    // A broken config: refused, the rules in force stay.
    std::fs::write(&s.config, config_text(&s, "[[policy.rules]]\nname = \"broken\"\nwhen = 'action.kind ==='\nthen = \"deny\"\n")).unwrap();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    for _ in 0..100 {
        if s.log().contains("new config refused") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.log().contains("new config refused"), "{}", s.log());
    assert!(err(&s.psql(&token, "select 'allowed_now'")).contains("no-marker"));
    assert!(out(&s.psql(&token, "select 'other'")).contains("other"));

    // An open session when SIGTERM arrives.
    let pg_port = s.pg_port;
    let t2 = token.clone();
    let open = std::thread::spawn(move || {
        Command::new("psql")
            .args(["-X", "-h", "127.0.0.1", "-p", &pg_port.to_string(), "-U", "agent", "-d", "db", "-c", "select pg_sleep(60)"])
            .env("PGPASSWORD", t2)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    });
    let kc = s.kubeconfig();
    let mut watch = Command::new("kubectl")
        .env("KUBECONFIG", &kc)
        .env("HOME", s.dir.path())
        .args(["get", "pods", "--watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let st = s.stop("TERM");
    assert!(st.success(), "{st:?}\n{}", s.log());
    assert!(started.elapsed() < Duration::from_secs(30));
    let mut watch_ended = false;
    for _ in 0..100 {
        if watch.try_wait().unwrap().is_some() {
            watch_ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(watch_ended, "the kubectl watch ends when hoop stops");
    let killed = open.join().unwrap();
    assert!(err(&killed).contains("terminating connection"), "{}", err(&killed));
    let gate = recorder(&s.data());
    let rec = gate.recorder();
    let ids = rec.list().unwrap();
    assert!(ids.len() >= 4);
    for id in &ids {
        let r = rec.verify(id).unwrap();
        assert!(r.is_ok(), "{id:?}: {r:?}");
    }
    // Tamper with one recording: verification fails.
    let dir = s.data().join("recordings");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl") && std::fs::read_to_string(p).unwrap().contains("allowed_now"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("allowed_now", "allowed_new", 1)).unwrap();
    let tampered = ids.iter().find(|id| !rec.verify(id).unwrap().is_ok());
    assert!(tampered.is_some(), "a tampered recording must fail verification");
}

/// A new ticket reaches the webhook (Slack-compatible body) and the admin event stream.
#[test]
fn webhook_and_event_stream_hear_new_tickets() {
    use std::io::{BufRead, BufReader, Read, Write};
    let hook = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook_port = hook.local_addr().unwrap().port();
    let s = serve(&format!(
        "[[policy.rules]]\nname = \"review-marked\"\nwhen = 'action.kind == \"sql\" && action.sql.text.contains(\"review_me\")'\nthen = \"review\"\n[approvals]\nwebhook_url = \"http://127.0.0.1:{hook_port}/hooks/abc\"\n"
    ));
    let reviewer = s.token("erin", "human", "review", 600);
    let mut stream = Command::new("curl")
        .args(["-skN", "-H", &format!("Authorization: Bearer {reviewer}"), &format!("{}/v1/approvals/stream", s.admin)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let token = s.token("agent-5", "agent", "", 600);
    let pg_port = s.pg_port;
    let waiting = std::thread::spawn(move || {
        Command::new("psql")
            .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p", &pg_port.to_string(), "-U", "a", "-d", "db", "-c", "select 'review_me'"])
            .env("PGPASSWORD", token)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    });
    hook.set_nonblocking(false).unwrap();
    let (mut conn, _) = hook.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = vec![0u8; 8192];
    let n = conn.read(&mut req).unwrap();
    let req = String::from_utf8_lossy(&req[..n]).into_owned();
    conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").unwrap();
    assert!(req.starts_with("POST /hooks/abc"), "{req}");
    assert!(req.contains("\"text\":") && req.contains("agent-5") && req.contains("hoop approvals approve t_"), "{req}");

    let mut lines = BufReader::new(stream.stdout.take().unwrap()).lines();
    let mut opened = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("data:") && line.contains("review-marked") {
            opened = line;
            break;
        }
    }
    let _ = stream.kill();
    let _ = stream.wait();
    let ticket: serde_json::Value = serde_json::from_str(opened.trim_start_matches("data:").trim()).unwrap();
    let id = ticket["id"].as_str().unwrap();
    let o = s.hoop(&["approvals", "deny", id, "--reason", "not today", "--token", &reviewer]);
    assert!(o.status.success(), "{}", err(&o));
    let done = waiting.join().unwrap();
    assert!(err(&done).contains("denied by reviewer erin: not today"), "{}", err(&done));
}

/// An interactive shell through `hoop serve` on a real pty: `hoop replay` reproduces the bytes
/// the terminal showed.
#[test]
fn replay_of_a_shell_reproduces_the_screen() {
    let s = serve("[policy]\ndefault_rules = false\n");
    let script = s.dir.path().join("pty-script");
    std::fs::write(&script, "expect $ \nsend PS1='rea''dy> '\\r\nexpect ready> \nsend printf 'one\\\\ntwo\\\\n'; echo ann@corp.example\\r\nexpect ready> \nsend exit 0\\r\n").unwrap();
    let o = Command::new("python3")
        .arg(hoop_harness::pty_driver())
        .arg(&script)
        .args(["--", "ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
        .arg(&s.agent_key)
        .args(["-tt", "-p", &s.ssh_port.to_string(), "web@127.0.0.1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", out(&o), err(&o));
    let screen = o.stdout;
    assert!(String::from_utf8_lossy(&screen).contains("one\r\ntwo"), "{}", String::from_utf8_lossy(&screen));
    s.settle();
    let listing = out(&s.hoop(&["sessions", "list"]));
    let id = listing.lines().find(|l| l.contains(" ssh ")).unwrap().split_whitespace().next().unwrap().to_string();
    let replay = s.hoop(&["replay", &id, "--speed", "1000"]);
    assert!(replay.stdout == screen, "replay:\n{}\nscreen:\n{}", out(&replay), String::from_utf8_lossy(&screen));
    assert!(!out(&replay).contains("ann@corp.example"));
}

/// `kill -9` mid-session: the statement that reached the server has its action on disk; the
/// recording verifies as intact but unsealed (not as tampered), and the next start closes it
/// with a signed end that says so; a recording edited while hoop was down stays FAILED.
#[test]
fn a_crash_leaves_recordings_intact_and_the_next_start_closes_them() {
    let mut s = serve("[policy]\ndefault_rules = false\n");
    let token = s.token("agent-1", "agent", "", 600);
    assert!(s.psql(&token, "select 'finished first'").status.success());
    let mut running = s.psql_cmd("a", &token, "prefer", "select 'in flight', pg_sleep(30)").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    s.stop("KILL");
    let _ = running.wait();

    let rec = recorder(&s.data());
    let ids = rec.recorder().list().unwrap();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let events = |id| rec.recorder().read(id).unwrap();
    let crashed = ids.iter().find(|id| !events(id).iter().any(|e| matches!(e.body, hoop_core::record::Body::Control(hoop_core::record::Control::Seal { .. })))).unwrap().clone();
    let finished = ids.iter().find(|id| **id != crashed).unwrap().clone();
    // Audit before act: the statement the server was running is on disk.
    assert!(events(&crashed).iter().any(|e| serde_json::to_string(e).unwrap().contains("in flight")));
    let report = rec.recorder().verify(&crashed).unwrap();
    assert!(report.first_error.is_none() && !report.sealed, "{report:?}");
    // A half-written record, as a crash mid-write leaves, and an edit of the other recording.
    let dir = s.data().join("recordings");
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(format!("{}.jsonl", crashed.0))).unwrap();
    std::io::Write::write_all(&mut f, b"{\"seq\":99,\"ts\":\"2026").unwrap();
    let edited = dir.join(format!("{}.jsonl", finished.0));
    let text = std::fs::read_to_string(&edited).unwrap().replacen("finished first", "finished twice", 1);
    std::fs::write(&edited, text).unwrap();
    drop(rec);

    s.start_again();
    let o = s.hoop(&["verify", &crashed.0]);
    assert!(o.status.success() && out(&o).contains("closed after a crash"), "{}{}", out(&o), err(&o));
    let o = s.hoop(&["verify", &finished.0]);
    assert_eq!(o.status.code(), Some(1), "tampering stays a failure: {}", out(&o));
    let shown = out(&s.hoop(&["sessions", "show", &crashed.0]));
    assert!(shown.contains("stopped without closing") && shown.contains("half-written"), "{shown}");
    let listed = out(&s.hoop(&["sessions", "list"]));
    let line = listed.lines().find(|l| l.starts_with(&crashed.0)).unwrap_or_default();
    assert!(line.ends_with("crash-ended"), "{listed}");
    // A session opened after the restart closes normally.
    assert!(s.psql(&token, "select 1").status.success());
}

/// Red-team identity round 109: a sealed recording cut back to an earlier record, seal and
/// all, while hoop was down looked like one a crash left open; the next start closed it as
/// such and `hoop verify` passed, the statement's result gone. The seal index remembers it was
/// sealed: it stays open and fails verification, and a recording deleted whole is missing.
#[test]
fn a_sealed_recording_cut_back_is_not_taken_for_a_crash() {
    let mut s = serve("[policy]\ndefault_rules = false\n");
    let token = s.token("agent-1", "agent", "", 600);
    assert!(s.psql(&token, "select 'the first session'").status.success());
    assert!(s.psql(&token, "select 'the second session'").status.success());
    s.settle();
    s.stop("TERM");
    let rec = recorder(&s.data());
    let ids = rec.recorder().list().unwrap();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let holds = |id: &hoop_core::session::SessionId, what: &str| rec.recorder().read(id).unwrap().iter().any(|e| serde_json::to_string(e).unwrap().contains(what));
    let cut = ids.iter().find(|id| holds(id, "the first session")).unwrap().clone();
    let gone = ids.iter().find(|id| **id != cut).unwrap().clone();
    for id in [&cut, &gone] {
        assert!(rec.recorder().verify(id).unwrap().is_ok());
    }
    drop(rec);
    // The first record kept (the session's start): the statement, its result and the seal go.
    let dir = s.data().join("recordings");
    let path = dir.join(format!("{}.jsonl", cut.0));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.split_inclusive('\n').next().unwrap()).unwrap();
    std::fs::remove_file(dir.join(format!("{}.jsonl", gone.0))).unwrap();

    s.start_again();
    let o = s.hoop(&["verify", &cut.0]);
    assert_eq!(o.status.code(), Some(1), "a cut sealed recording fails: {}{}", out(&o), err(&o));
    assert!((out(&o) + &err(&o)).contains("cut after its seal"), "{}{}", out(&o), err(&o));
    assert!(!std::fs::read_to_string(&path).unwrap().contains("crash_seal"), "left as it was found");
    let o = s.hoop(&["verify", &gone.0]);
    assert_eq!(o.status.code(), Some(1), "a deleted recording fails: {}{}", out(&o), err(&o));
    assert!((out(&o) + &err(&o)).contains("missing"), "{}{}", out(&o), err(&o));
    let listed = out(&s.hoop(&["sessions", "list"]));
    assert!(listed.lines().any(|l| l.starts_with(&gone.0) && l.contains("missing")), "listed as missing: {listed}");
    assert!(s.log().contains("a sealed recording has been cut"), "{}", s.log());

    // Round 110: the recording's entry dropped from the index as well. The index no longer
    // reaches its anchor (kept with the keys): nothing is closed as a crash's, and the cut
    // recording fails.
    assert!(s.psql(&token, "select 'the third session'").status.success());
    s.settle();
    s.stop("TERM");
    let rec = recorder(&s.data());
    let third = rec.recorder().list().unwrap().into_iter().find(|id| holds_in(&rec, id, "the third session")).unwrap();
    drop(rec);
    let path = dir.join(format!("{}.jsonl", third.0));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.split_inclusive('\n').next().unwrap()).unwrap();
    let index = dir.join("sealed.log");
    let entries = std::fs::read_to_string(&index).unwrap();
    let kept: Vec<&str> = entries.split_inclusive('\n').collect();
    std::fs::write(&index, kept[..kept.len() - 1].concat()).unwrap();
    s.start_again();
    let o = s.hoop(&["verify", &third.0]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!((out(&o) + &err(&o)).contains("does not reach its anchor"), "{}{}", out(&o), err(&o));
    assert!(!std::fs::read_to_string(&path).unwrap().contains("crash_seal"), "left as it was found");
    assert!(s.log().contains("the seal index is not trusted"), "{}", s.log());
}

/// Red-team identity round 111: a recording the gateway never opened, dropped among the
/// recordings while it was down (a copy of a real one under a new id, chain recomputed), was
/// closed as a crash's at the next start and verified, attributed to whoever it named. Only
/// recordings the seal index says were opened are closed so; this one stays unsealed.
#[test]
fn a_recording_the_gateway_never_opened_is_not_closed_as_a_crashs() {
    let mut s = serve("[policy]\ndefault_rules = false\n");
    let token = s.token("agent-1", "agent", "", 600);
    assert!(s.psql(&token, "select 'a real session'").status.success());
    s.settle();
    s.stop("TERM");
    let dir = s.data().join("recordings");
    let real = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "jsonl")).unwrap();
    // The session start and connect, under a new id, their chain recomputed as the format is
    // public: `hash` is SHA-256 of the line without it.
    let forged_id = "20261207T170600.000Z-f0f0f0f0f0f0";
    let old_id = real.file_stem().unwrap().to_string_lossy().to_string();
    let mut prev = "0".repeat(64);
    let mut forged_text = String::new();
    // (Signed checkpoints left out: their signature covers the old id, and whether one falls
    // among the first records depends on the flush timer.)
    // Numbered again from 1: a checkpoint left out from among them would leave a gap.
    for (i, line) in std::fs::read_to_string(&real).unwrap().lines().filter(|l| !l.contains("\"sig\"")).take(2).enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(&line.replace(&old_id, forged_id)).unwrap();
        v["seq"] = serde_json::json!(i + 1);
        v["prev"] = serde_json::json!(prev);
        let obj = v.as_object_mut().unwrap();
        obj.remove("hash");
        let body = serde_json::to_string(&obj).unwrap();
        let hash = hoop_core_sha256(body.as_bytes());
        let line = format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]);
        prev = hash;
        forged_text.push_str(&line);
        forged_text.push('\n');
    }
    let forged = dir.join(format!("{forged_id}.jsonl"));
    std::fs::write(&forged, &forged_text).unwrap();
    let rec = recorder(&s.data());
    let report = rec.recorder().verify(&hoop_core::session::SessionId(forged_id.into())).unwrap();
    assert!(report.first_error.is_none() && !report.sealed, "the forged chain holds: {report:?}");
    drop(rec);
    s.start_again();
    assert!(!std::fs::read_to_string(&forged).unwrap().contains("crash_seal"), "left open");
    let o = s.hoop(&["verify", forged_id]);
    assert_ne!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(s.log().contains("never opened"), "{}", s.log());
}

/// SHA-256 in hex, as coreutils prints it.
fn hoop_core_sha256(bytes: &[u8]) -> String {
    let mut c = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), bytes).unwrap();
    drop(c.stdin.take());
    out(&c.wait_with_output().unwrap()).split_whitespace().next().unwrap().to_string()
}

fn holds_in(rec: &hoop_core::gate::Gate, id: &hoop_core::session::SessionId, what: &str) -> bool {
    rec.recorder().read(id).unwrap().iter().any(|e| serde_json::to_string(e).unwrap().contains(what))
}

/// Red-team round 37: `hoop approvals list` showed an agent's pod create as its verb and path
/// only, so a reviewer approved a spec unseen. The list says where the body is, and
/// `hoop approvals show` lays it out (masked, and escaped: an agent's bidi override does not
/// reorder what the reviewer reads).
#[test]
fn a_reviewer_sees_a_kubernetes_write_whole() {
    let s = serve("");
    let home = s.dir.path().join("agent-home");
    std::fs::create_dir_all(&home).unwrap();
    let cred = s.client_credential("agent-k", "agent", "", "cluster", &[]);
    let kc = s.kubeconfig_for(&cred, &home);
    let kubectl = Command::new("kubectl")
        .env("KUBECONFIG", &kc)
        .env("HOME", &home)
        .args(["run", "probe37", "--image=busybox:1.36", "--request-timeout=30s", "--", "sh", "-c", "echo \u{202e}hs|x lruc"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    for _ in 0..200 {
        let list = out(&s.hoop(&["approvals", "list"]));
        if let Some(l) = list.lines().find(|l| l.contains("agent-review-k8s-workloads")) {
            line = l.to_string();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ticket = line.split_whitespace().next().unwrap_or_default().to_string();
    assert!(line.contains(&format!("[body: hoop approvals show {ticket}]")), "{line}\n{}", s.log());
    let shown = out(&s.hoop(&["approvals", "show", &ticket]));
    assert!(shown.contains("probe37") && shown.contains("\"image\": \"busybox:1.36\""), "{shown}");
    assert!(shown.contains("\\u{202e}") && !shown.contains('\u{202e}'), "the override is shown as an escape: {shown}");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = kubectl.wait_with_output().unwrap();
    assert!(!o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Red-team identity round 82: the approval webhook passed an agent's text to Slack as markup:
/// a comment made a `<!channel>` mention, a disguised `<url|label>` link, or closed the code
/// span to show another ticket's approve command as hoop's own. The body the chat receives
/// holds them as text.
#[test]
fn the_approval_webhook_shows_an_agents_text_as_text() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
        while let Ok(n) = c.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))).unwrap_or(0);
                if body.len() >= len {
                    break;
                }
            }
        }
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        String::from_utf8_lossy(&buf).to_string()
    });
    let s = serve(&format!(
        "[approvals]\nwebhook_url = \"http://127.0.0.1:{port}/hook\"\n[[policy.rules]]\nname = \"review-marked\"\nwhen = 'action.kind == \"sql\" && action.sql.text.contains(\"review_me\")'\nthen = \"review\"\n"
    ));
    let token = s.token("bot", "agent", "", 600);
    let mut held = s.psql_cmd("a", &token, "prefer", "select 'review_me' /* `<!channel> <https://x.example|Deny:> `hoop approvals approve t_x` */").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let body = received.join().unwrap();
    let _ = held.kill();
    let _ = held.wait();
    assert!(body.contains("review_me") && body.contains("&lt;!channel&gt;"), "{body}");
    assert!(!body.contains("<!channel>") && !body.contains("<https://") && !body.contains("`hoop approvals approve t_x`"), "{body}");
}
