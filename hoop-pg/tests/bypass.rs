//! The gate against an agent that tries to walk around it: every test sends what an attacker
//! would through psql or raw protocol, then checks PostgreSQL's own state (or the bytes the
//! client received), never hoop's verdict alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod common;

use common::{Gw, messages, pg};
use hoop_core::identity::IdentityKind;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn text(o: &std::process::Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A table of its own for each test, so tests that run in parallel cannot mask each other.
fn victim(name: &str) {
    pg().psql(&format!("DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int primary key, v text); INSERT INTO {name} VALUES (1, 'a'), (2, 'b')"))
        .unwrap();
}

fn rows(table: &str) -> String {
    pg().psql(&format!("SELECT count(*) FROM {table}")).unwrap_or_else(|e| format!("gone: {e}")).trim().to_string()
}

fn agent(gw: &Gw, args: &[&str], stdin: Option<&str>) -> (String, String) {
    let t = gw.token("agent-1", IdentityKind::Agent);
    text(&gw.psql_with("agent-1", &t, "", args, stdin))
}

/// A reviewer who approves the statements held as choosing by a masked value (one may judge
/// such a statement harmless) and denies the others, or leaves them to time out: what the
/// layers after that hold keep back. Stops on drop.
struct FilterApprover(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl FilterApprover {
    fn start(gw: &Gw, deny_others: bool) -> FilterApprover {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let decide = move |t: &hoop_core::approvals::Ticket| if t.rule == "agent-review-masked-filters" { Some(true) } else { deny_others.then_some(false) };
        hoop_harness::review::decide_matching(gw.gate.approvals(), "alice", decide, stop.clone());
        FilterApprover(stop)
    }
}

impl Drop for FilterApprover {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The server's notices in psql's stderr: hoop's own (a hold's) left out.
fn server_notices(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.contains("NOTICE") && !l.contains("hoop:")).collect()
}

/// Red-team Postgres round 82: the same `U&''` statement was read, then refused as unreadable,
/// by turns (a failed parse the other way left the parser thread lexing with
/// standard_conforming_strings off). One text, one reading, every time.
#[test]
fn the_same_statement_gets_the_same_verdict_every_time() {
    let gw = Gw::start("");
    for i in 0..8 {
        let (out, err) = agent(&gw, &["-A", "-t", "-c", r"select U&'d\0061ta'"], None);
        assert_eq!(out.trim(), "data", "run {i}: {err}");
    }
}

/// COPY data never comes from the statement text: what follows `COPY … FROM STDIN;` in the
/// same Query is a statement, read and refused like any other.
#[test]
fn a_statement_after_copy_from_stdin_is_read() {
    let gw = Gw::start("");
    victim("v_copy");
    let (_, err) = agent(&gw, &["-c", "create temp table t(x int); copy t from stdin;\ndrop table v_copy;"], Some("1\n\\.\n"));
    assert!(err.contains("agent-no-destructive-ddl"), "{err}");
    assert_eq!(rows("v_copy"), "2");
    // Three more spellings: comment between, lower-case and a CTE-wrapped delete.
    for s in [
        "copy t from stdin /* data */; drop table v_copy",
        "COPY t FROM STDIN WITH (FORMAT csv);\n\n  DROP TABLE IF EXISTS v_copy CASCADE",
        "create temp table t(x int); copy t from stdin; with d as (delete from v_copy returning 1) select 1",
    ] {
        let (_, err) = agent(&gw, &["-c", s], Some("1\n\\.\n"));
        assert!(err.contains("hoop:"), "{s}: {err}");
        assert_eq!(rows("v_copy"), "2", "{s}");
    }
}

/// The settings that change how PostgreSQL splits text are pinned: no startup option, SET,
/// set_config or ALTER … SET changes them, for agents and humans alike.
#[test]
fn lexing_settings_cannot_be_changed() {
    let gw = Gw::start("");
    victim("v_lex");
    let t = gw.token("agent-1", IdentityKind::Agent);
    // (Red-team round 112: a vertical tab, which the server splits `options` on, hid a second
    // setting inside an allowed one's value.)
    for opt in ["options='-c standard_conforming_strings=off'", "options='-cclient_encoding=SJIS'", "options='--backslash_quote=on'", "options='-c role=postgres'", "options='-c enable_seqscan=off\u{b}-c\u{b}transform_null_equals=on'"] {
        let o = gw.psql_with("agent-1", &t, opt, &["-c", "SELECT 1"], None);
        let (out, err) = text(&o);
        assert!(err.contains("not allowed at startup") && out.trim().is_empty(), "{opt}: {out} {err}");
    }
    // The planner's settings change how a statement runs, not how it reads (compatibility
    // round 3: `PGOPTIONS="-c random_page_cost=1.1"` refused the connection).
    let o = gw.psql_with("agent-1", &t, "options='-c random_page_cost=1.1 -c enable_seqscan=off'", &["-c", "SHOW random_page_cost", "-c", "SHOW enable_seqscan"], None);
    assert_eq!(text(&o).0.split_whitespace().collect::<Vec<_>>(), ["1.1", "off"], "{}", text(&o).1);
    // A client_encoding asked for at startup is replaced by UTF8, and the client is told so.
    let o = gw.psql_with("agent-1", &t, "client_encoding=SJIS", &["-c", "SHOW client_encoding", "-c", "SHOW standard_conforming_strings"], None);
    assert_eq!(text(&o).0.split_whitespace().collect::<Vec<_>>(), ["UTF8", "on"], "{}", text(&o).1);
    let human = gw.token("alice", IdentityKind::Human);
    for (who, pw) in [("agent-1", &t), ("alice", &human)] {
        for s in [
            "SET standard_conforming_strings = off",
            "SET client_encoding = 'SJIS'",
            "SET NAMES 'GBK'",
            "SELECT set_config('standard_conforming_strings', 'off', false)",
            "SELECT pg_catalog.set_config(lower('STANDARD_conforming_strings'), 'off', false)",
            "ALTER ROLE CURRENT_USER SET standard_conforming_strings = off",
            "BEGIN; SET LOCAL standard_conforming_strings = off; COMMIT",
        ] {
            // The smuggled statement after it would be read differently under the new setting.
            let o = gw.psql_with(who, pw, "", &["-c", s, "-c", "SHOW standard_conforming_strings", "-c", "SHOW client_encoding"], None);
            let (out, err) = text(&o);
            assert!(err.contains("hoop-pinned-settings"), "{who} {s}: {err}");
            assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["on", "UTF8"], "{who} {s}: {out}");
        }
    }
    // A text that splits differently with the setting off is refused whatever the setting is.
    let (_, err) = agent(&gw, &["-c", "SELECT 'a\\'; DROP TABLE v_lex; --'"], None);
    assert!(err.contains("different lexing settings"), "{err}");
    assert_eq!(rows("v_lex"), "2");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_db_role_setting").unwrap().trim(), "0", "no ALTER ROLE … SET went through");
}

/// Whatever route changes a pinned setting on the server (here a function an administrator
/// wrote), the server's ParameterStatus ends the session before another statement runs.
#[test]
fn a_server_side_change_of_a_pinned_setting_ends_the_session() {
    let gw = Gw::start("[policy]\ndefault_rules = false\n");
    pg().psql(
        "CREATE OR REPLACE FUNCTION sneaky() RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); RETURN 'x'; END $$",
    )
    .unwrap();
    let t = gw.token("agent-1", IdentityKind::Agent);
    let o = gw.psql_with("agent-1", &t, "", &["-c", "SELECT sneaky()", "-c", "SELECT 'still here'"], None);
    let (out, err) = text(&o);
    assert!(err.contains("standard_conforming_strings = off"), "{out} {err}");
    assert!(!out.contains("still here"), "{out}");
}

/// Agents run only code the gateway can read: no functions, procedures, triggers, rules,
/// event triggers, languages or extensions, and no FunctionCall messages.
#[test]
fn stored_code_and_function_calls_are_refused() {
    let gw = Gw::start("");
    victim("v_code");
    for s in [
        "CREATE FUNCTION f_evil() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE v_code; END $$",
        "CREATE FUNCTION f_evil() RETURNS void LANGUAGE sql AS 'DELETE FROM v_code'",
        "CREATE PROCEDURE f_evil() LANGUAGE sql BEGIN ATOMIC DELETE FROM v_code; END",
        "CREATE RULE r_evil AS ON INSERT TO v_code DO ALSO DELETE FROM v_code",
        "CREATE TRIGGER t_evil AFTER INSERT ON v_code FOR EACH ROW EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger()",
        "CREATE EXTENSION IF NOT EXISTS plpgsql",
        "LOAD 'plpgsql'",
    ] {
        let (_, err) = agent(&gw, &["-c", s], None);
        // A body that holds an unfiltered DELETE may meet that rule first.
        assert!(err.contains("agent-no-stored-code") || err.contains("agent-no-unfiltered-writes"), "{s}: {err}");
    }
    let made = pg()
        .psql("SELECT (SELECT count(*) FROM pg_proc WHERE proname = 'f_evil') + (SELECT count(*) FROM pg_rewrite WHERE rulename = 'r_evil') + (SELECT count(*) FROM pg_trigger WHERE tgname = 't_evil')")
        .unwrap();
    assert_eq!(made.trim(), "0");
    assert_eq!(rows("v_code"), "2");
    // psql's \lo_import runs lo_creat/lo_open/lowrite as FunctionCall messages.
    let before = pg().psql("SELECT count(*) FROM pg_largeobject_metadata").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x");
    std::fs::write(&f, b"data").unwrap();
    let (_, err) = agent(&gw, &["-c", &format!("\\lo_import {}", f.display())], None);
    assert!(err.contains("agent-no-function-call"), "{err}");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_largeobject_metadata").unwrap(), before);
    // Red-team Postgres round 96: the same changes through SQL functions, which the server
    // answers with the statement's row count (`SELECT 1`), ran as plain selects.
    let oid = pg().psql("SELECT lo_from_bytea(0, 'original')").unwrap().trim().to_string();
    pg().psql("CREATE SEQUENCE IF NOT EXISTS v_seq; SELECT setval('v_seq', 5)").unwrap();
    let before = pg().psql("SELECT count(*) FROM pg_largeobject_metadata").unwrap();
    for s in [
        "select count(lo_unlink(oid)) from pg_largeobject_metadata".to_string(),
        format!("select lo_put({oid}, 0, '\\x50574e4544')"),
        format!("select pg_catalog.lo_truncate(lo_open({oid}, 131072), 0)"),
        "select setval('v_seq', 1000)".to_string(),
    ] {
        let (_, err) = agent(&gw, &["-c", &s], None);
        assert!(err.contains("agent-no-function-writes"), "{s}: {err}");
    }
    assert_eq!(pg().psql("SELECT count(*) FROM pg_largeobject_metadata").unwrap(), before);
    assert_eq!(pg().psql(&format!("SELECT convert_from(lo_get({oid}), 'UTF8')")).unwrap().trim(), "original");
    assert_eq!(pg().psql("SELECT last_value FROM v_seq").unwrap().trim(), "5");
    pg().psql(&format!("SELECT lo_unlink({oid})")).unwrap();
}

/// Reads of a sensitive table are reads however they are spelled: held for review (which times
/// out here), and nothing of the table reaches the client or another table.
#[test]
fn sensitive_reads_in_every_spelling_are_reviewed() {
    let gw = Gw::start_with("", 1, &["customers", "billing.payments"]);
    pg().psql(
        "CREATE SCHEMA IF NOT EXISTS billing; CREATE TABLE IF NOT EXISTS billing.payments (card text); \
         TRUNCATE billing.payments; INSERT INTO billing.payments VALUES ('4111 1111 1111 1111'); \
         CREATE OR REPLACE VIEW public.cust_view AS SELECT * FROM customers;",
    )
    .unwrap();
    for s in [
        "TABLE customers",
        "CREATE TABLE stolen1 AS SELECT * FROM customers",
        "CREATE TEMP VIEW v AS SELECT email FROM customers; SELECT * FROM v",
        "SELECT 1 UNION ALL SELECT (SELECT count(*) FROM customers)::int",
        "SELECT * FROM cust_view",
        "SET search_path = billing; SELECT * FROM payments",
        "SELECT * FROM \"billing\".\"payments\"",
        "WITH x AS MATERIALIZED (SELECT * FROM customers) SELECT * FROM x",
        "INSERT INTO v_read SELECT 1, email FROM customers",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        // Copying the table's masked columns elsewhere is refused outright.
        assert!(err.contains("agent-review-sensitive-sql") || err.contains("review timed out") || err.contains("hoop-masked-lineage"), "{s}: {out} {err}");
        assert!(!out.contains("vip@") && !out.contains("4111"), "{s}: {out}");
    }
    assert_eq!(pg().psql("SELECT count(*) FROM pg_class WHERE relname = 'stolen1'").unwrap().trim(), "0");
}

/// Writes that touch every row are refused however the WHERE is spelled.
#[test]
fn unfiltered_writes_in_every_spelling_are_refused() {
    let gw = Gw::start("");
    victim("v_write");
    for s in [
        "DELETE FROM v_write WHERE true",
        "DELETE FROM v_write WHERE 1 = 1",
        "UPDATE v_write SET v = 'x' WHERE id = 1 OR true",
        "MERGE INTO v_write t USING (SELECT 1 AS id) s ON true WHEN MATCHED THEN DELETE",
        "INSERT INTO v_write SELECT id, 'x' FROM v_write ON CONFLICT (id) DO UPDATE SET v = 'owned'",
        "WITH d AS (DELETE FROM v_write RETURNING 1) SELECT count(*) FROM d",
        "PREPARE p AS DELETE FROM v_write; EXECUTE p",
    ] {
        let (_, err) = agent(&gw, &["-c", s], None);
        // An EXECUTE in the same text as its PREPARE runs a statement not yet confirmed: refused too.
        assert!(err.contains("agent-no-unfiltered-writes") || err.contains("hoop-unknown-statement"), "{s}: {err}");
    }
    assert_eq!(pg().psql("SELECT string_agg(v, ',' ORDER BY id) FROM v_write").unwrap().trim(), "a,b");
}

/// SQL-level prepared statements and cursors are checked as what they hold, and hoop keeps
/// them only once the server confirmed them.
#[test]
fn execute_and_fetch_are_checked_as_what_they_run() {
    let rule = "[[policy.rules]]\nname = \"no-run-delete\"\nwhen = 'action.kind == \"sql\" && action.sql.kinds.exists(k, k in [\"execute\"]) && \"delete\" in action.sql.kinds'\nthen = \"deny\"\n";
    let gw = Gw::start(rule);
    victim("v_exec");
    let script = "PREPARE p AS DELETE FROM v_exec WHERE id = 1;\nEXECUTE p;\nEXECUTE nosuch;\nSELECT 'after';\n";
    let (out, err) = agent(&gw, &[], Some(script));
    assert!(err.contains("no-run-delete"), "{err}");
    assert!(err.contains("not seen prepared"), "{err}");
    assert!(out.contains("after"), "{out}");
    assert_eq!(rows("v_exec"), "2");
    // A cursor over a sensitive table: the FETCH is reviewed (and times out), DECLARE too.
    let gw = Gw::start_with("", 1, &["customers"]);
    let (out, err) = agent(&gw, &[], Some("BEGIN;\nDECLARE c CURSOR FOR SELECT email FROM customers;\nFETCH 10 FROM c;\nFETCH 1 FROM nosuch;\nCOMMIT;\n"));
    assert!(!out.contains("vip@"), "{out}");
    assert!(err.contains("review timed out"), "{err}");
}

/// Raw extended-protocol sessions: what a driver could send that psql never would.
mod raw {
    use super::*;

    pub struct Raw {
        pub s: tokio::net::TcpStream,
    }

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn cstr(b: &mut Vec<u8>, s: &[u8]) {
        b.extend_from_slice(s);
        b.push(0);
    }

    pub fn parse(name: &str, sql: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        cstr(&mut b, name.as_bytes());
        cstr(&mut b, sql);
        b.extend_from_slice(&0i16.to_be_bytes());
        msg(b'P', &b)
    }

    pub fn bind(portal: &str, statement: &str) -> Vec<u8> {
        let mut b = Vec::new();
        cstr(&mut b, portal.as_bytes());
        cstr(&mut b, statement.as_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        msg(b'B', &b)
    }

    /// A Bind of text parameters.
    pub fn bind_text(portal: &str, statement: &str, params: &[&str]) -> Vec<u8> {
        let mut b = Vec::new();
        cstr(&mut b, portal.as_bytes());
        cstr(&mut b, statement.as_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(params.len() as i16).to_be_bytes());
        for p in params {
            b.extend_from_slice(&(p.len() as i32).to_be_bytes());
            b.extend_from_slice(p.as_bytes());
        }
        b.extend_from_slice(&0i16.to_be_bytes());
        msg(b'B', &b)
    }

    /// A Bind with no parameters and every result column in binary.
    pub fn bind_binary(portal: &str, statement: &str) -> Vec<u8> {
        let mut b = Vec::new();
        cstr(&mut b, portal.as_bytes());
        cstr(&mut b, statement.as_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1]);
        msg(b'B', &b)
    }

    pub fn execute(portal: &str) -> Vec<u8> {
        let mut b = Vec::new();
        cstr(&mut b, portal.as_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        msg(b'E', &b)
    }

    pub fn sync() -> Vec<u8> {
        msg(b'S', &[])
    }

    pub fn describe_portal(portal: &str) -> Vec<u8> {
        let mut b = vec![b'P'];
        cstr(&mut b, portal.as_bytes());
        msg(b'D', &b)
    }

    pub fn flush() -> Vec<u8> {
        msg(b'H', &[])
    }

    pub fn query(sql: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        cstr(&mut b, sql);
        msg(b'Q', &b)
    }

    impl Raw {
        pub async fn login(gw: &Gw) -> Raw {
            Raw::login_as(gw, "agent-1").await
        }

        /// A session of the agent `subject`.
        pub async fn login_as(gw: &Gw, subject: &str) -> Raw {
            let t = gw.token(subject, IdentityKind::Agent);
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
            s.write_all(&hoop_harness::pg_startup_packet(&[("user", subject), ("database", "app")])).await.unwrap();
            let mut buf = vec![0u8; 9];
            s.read_exact(&mut buf).await.unwrap();
            let mut pw = Vec::new();
            cstr(&mut pw, t.as_bytes());
            s.write_all(&msg(b'p', &pw)).await.unwrap();
            let mut r = Raw { s };
            r.until_ready().await;
            r
        }

        /// Everything up to and including the next ReadyForQuery.
        pub async fn until_ready(&mut self) -> Vec<u8> {
            let mut all = Vec::new();
            loop {
                let mut head = [0u8; 5];
                if tokio::time::timeout(Duration::from_secs(20), self.s.read_exact(&mut head)).await.is_err() {
                    return all;
                }
                let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
                let mut body = vec![0u8; len - 4];
                self.s.read_exact(&mut body).await.unwrap();
                all.extend_from_slice(&head);
                all.extend_from_slice(&body);
                if head[0] == b'Z' {
                    return all;
                }
            }
        }

        /// Everything read until `done` holds of it (within 30 s, or the test fails on `what`).
        pub async fn read_until(&mut self, what: &str, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
            let mut got = Vec::new();
            while !done(&got) {
                let mut buf = vec![0u8; 65536];
                let n = tokio::time::timeout(Duration::from_secs(30), self.s.read(&mut buf)).await.expect(what).unwrap();
                assert!(n > 0, "{what}: {}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            got
        }

        pub async fn send(&mut self, parts: &[Vec<u8>]) {
            self.s.write_all(&parts.concat()).await.unwrap();
        }
    }
}

/// Compatibility round 5: psycopg's pipeline mode sends each Sync on its own. A write hoop
/// refuses at Parse (an UPDATE without WHERE) fails there on the server, which skips its Bind
/// and Execute; hoop still held the Sync for the write's row count, answered the next
/// pipeline's Sync with it, and the next write was lost with the client hung.
#[tokio::test]
async fn a_write_refused_at_parse_holds_no_sync() {
    pg().psql("DROP TABLE IF EXISTS pipe5; CREATE TABLE pipe5 (id int, note text); INSERT INTO pipe5 VALUES (1, 'a'); GRANT ALL ON pipe5 TO PUBLIC").unwrap();
    // (Under the written-rows ceiling, as agents are by default.)
    let gw = Gw::start_with_row_ceiling(1000);
    let mut c = raw::Raw::login(&gw).await;
    // The Sync in a write of its own right behind the batch (as libpq's `PQpipelineSync`), a
    // while after it, or in the same write.
    for (write, sync_after) in [(&b"UPDATE pipe5 SET note = 'x'"[..], Some(0)), (b"UPDATE pipe5 SET note = 'x'", Some(300)), (b"DELETE FROM pipe5", None)] {
        let batch = [raw::parse("", write), raw::bind("", ""), raw::describe_portal(""), raw::execute("")];
        match sync_after {
            Some(ms) => {
                c.send(&batch).await;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                c.send(&[raw::sync()]).await;
            }
            None => c.send(&[&batch[..], &[raw::sync()]].concat()).await,
        }
        let got = c.until_ready().await;
        assert!(got.windows(6).any(|w| w == b"C42501") && got.ends_with(b"Z\0\0\0\x05I"), "{}", String::from_utf8_lossy(&got));
        c.send(&[raw::parse("", b"INSERT INTO pipe5 VALUES (7, 'g')"), raw::bind("", ""), raw::execute("")]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.send(&[raw::sync()]).await;
        let got = c.until_ready().await;
        assert!(String::from_utf8_lossy(&got).contains("INSERT 0 1"), "{}", String::from_utf8_lossy(&got));
    }
    // A write the server itself fails while the Sync waits for its count, the same way.
    c.send(&[raw::parse("", b"UPDATE pipe5 SET id = 1 / (id - id) WHERE id = 1"), raw::bind("", ""), raw::describe_portal(""), raw::execute("")]).await;
    c.send(&[raw::sync()]).await;
    let got = c.until_ready().await;
    assert!(got.windows(6).any(|w| w == b"C22012"), "{}", String::from_utf8_lossy(&got));
    c.send(&[raw::parse("", b"INSERT INTO pipe5 VALUES (7, 'g')"), raw::bind("", ""), raw::execute("")]).await;
    c.send(&[raw::sync()]).await;
    let got = c.until_ready().await;
    assert!(String::from_utf8_lossy(&got).contains("INSERT 0 1"), "{}", String::from_utf8_lossy(&got));
    assert_eq!(pg().psql("SELECT count(*) FILTER (WHERE id = 7), count(*) FILTER (WHERE note = 'x'), count(*) FROM pipe5").unwrap().trim(), "4|0|5");
}

/// PG red-team round 120: a text of empty comments (`/**//**/…`) cost the scanner time
/// quadratic in its length, on a parser thread every session shares, and went on after the
/// client left. It is refused before the scanner runs, and the gateway goes on. (Sent raw:
/// psql's own scanner is as slow over it.)
#[tokio::test]
async fn texts_the_scanner_would_read_again_and_again_are_refused() {
    let gw = Gw::start("");
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(format!("SELECT 1 {};", "/**/".repeat(200_000)).as_bytes())]).await;
    let got = c.until_ready().await;
    assert!(String::from_utf8_lossy(&got).contains("agent-no-unreadable-sql"), "{}", String::from_utf8_lossy(&got));
    c.send(&[raw::query(b"SELECT 41 + 1")]).await;
    let got = c.until_ready().await;
    assert!(String::from_utf8_lossy(&got).contains("42"), "{}", String::from_utf8_lossy(&got));
}

/// A second Parse of a live name (which the server rejects) does not change what hoop thinks
/// the name holds; a Bind to a name the server never confirmed is refused.
#[tokio::test]
async fn prepared_state_follows_the_server() {
    let gw = Gw::start_with("", 1, &["customers"]);
    let mut r = raw::Raw::login(&gw).await;
    // s1 holds a sensitive read (reviewed at Bind); the attacker re-Parses s1 as something harmless.
    r.send(&[raw::parse("s1", b"SELECT email FROM customers"), raw::sync()]).await;
    let out = r.until_ready().await;
    assert!(out.starts_with(b"1"), "ParseComplete: {}", String::from_utf8_lossy(&out));
    r.send(&[raw::parse("s1", b"SELECT 1"), raw::sync()]).await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(out.contains("already exists"), "the server rejects the second Parse: {out}");
    r.send(&[raw::bind("", "s1"), raw::execute(""), raw::sync()]).await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(!out.contains("vip@corp.example"), "the sensitive read ran unreviewed: {out}");
    assert!(out.contains("review timed out"), "{out}");
    // A Bind to a statement that never existed.
    r.send(&[raw::bind("", "never"), raw::execute(""), raw::sync()]).await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(out.contains("not seen prepared"), "{out}");
    // Statement text that is not UTF-8 is refused, and the session carries on.
    r.send(&[raw::query(b"SELECT '\xff\xfe'")]).await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(out.contains("not valid UTF-8"), "{out}");
    r.send(&[raw::query(b"SELECT 'alive'")]).await;
    assert!(String::from_utf8_lossy(&r.until_ready().await).contains("alive"));
}

/// A client that goes away while its statement waits for review takes its ticket with it.
#[test]
fn a_ticket_is_cancelled_when_its_client_goes_away() {
    let gw = Gw::start_with("", 120, &["customers"]);
    let t = gw.token("agent-1", IdentityKind::Agent);
    let mut child = std::process::Command::new("psql")
        .args(["-X", "-c", "SELECT email FROM customers"])
        .arg(gw.conninfo("agent-1"))
        .env("PGPASSWORD", &t)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |want: usize| {
        for _ in 0..200 {
            if gw.gate.approvals().list().len() == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    assert!(wait_for(1), "the statement is held");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(wait_for(0), "the ticket went with its client: {:?}", gw.gate.approvals().list());
}

/// Least privilege upstream: on a superuser role agents are refused before they reach the
/// server (whose files such a role reads); humans are not.
#[test]
fn agents_are_refused_on_a_privileged_upstream_role() {
    let gw = Gw::start_refusing_privileged_roles();
    let (out, err) = agent(&gw, &["-c", "SELECT pg_read_file('/etc/passwd')"], None);
    assert!(err.contains("privileged (superuser") && err.contains("allow_privileged_role"), "{err}");
    assert!(!out.contains("root:"), "{out}");
    let human = gw.token("alice", IdentityKind::Human);
    let o = gw.psql_with("alice", &human, "", &["-c", "SELECT 'human ok'"], None);
    assert!(text(&o).0.contains("human ok"), "{}", text(&o).1);
}

/// Masking by lineage: a value derived from a masked column (configured, or discovered by
/// sampling before the first read) is masked whole, through any function, subquery, CTE,
/// set operation or row constructor, on the first read already.
#[test]
fn derived_values_of_masked_columns_are_masked() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS lin_people; CREATE TABLE lin_people (id int, contact text, card text); INSERT INTO lin_people VALUES (1, 'zed@corp.example', '4111 1111 1111 1111')").unwrap();
    for s in [
        "SELECT replace(contact, '@', ' at ') FROM lin_people",
        "SELECT translate(contact, '@.', '#,') AS x FROM lin_people",
        "SELECT reverse(contact) FROM lin_people",
        "SELECT md5(contact) || to_hex(length(contact)) FROM lin_people",
        "SELECT substr(contact, 2, 3) FROM lin_people",
        "SELECT row_to_json(p) FROM lin_people p",
        "SELECT ARRAY[contact]::text FROM lin_people",
        "WITH x AS (SELECT upper(contact) AS u FROM lin_people) SELECT lower(u) FROM x",
        "SELECT * FROM (SELECT overlay(contact placing '' from 4 for 1) AS o FROM lin_people) s",
        "SELECT 'nothing' UNION ALL SELECT split_part(contact, '@', 1) || '/' || split_part(contact, '@', 2) FROM lin_people",
        "SELECT regexp_replace(card, ' ', '', 'g') FROM lin_people",
        "SELECT ascii(substr(contact, 1, 1)) FROM lin_people",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.is_empty(), "{s}: {err}");
        // Text is redacted; a number derived from a masked value becomes 0.
        assert!(out.contains("[REDACTED") || out.trim() == "0", "{s}: {out}");
        for leak in ["zed", "corp", "ZED", "4111", "moc", "emVk", "122"] {
            assert!(!out.contains(leak), "{s}: {out}");
        }
    }
    // What does not derive from a masked column is left alone.
    let (out, _) = agent(&gw, &["-c", "SELECT id, length('abc') FROM lin_people"], None);
    assert_eq!(out.trim(), "1|3");
}

/// Tables and columns whose names need quotes (what ORMs create: `"User"`, `"ssnNumber"`) are
/// masked by lineage like any other: hoop reads identifiers in lowercase and matches the
/// catalog without regard to case (red-team finding: derived values of them came out clear).
#[test]
fn quoted_mixed_case_names_are_masked_by_lineage() {
    let gw = Gw::start("[[masking.column_rules]]\ntable = \"CaseConf\"\ncolumn = \"Secret\"\n");
    pg().psql(
        r#"DROP TABLE IF EXISTS "CaseUser", "caseLow", "CaseConf";
           CREATE TABLE "CaseUser" (id int, email text, "ssnNumber" text);
           INSERT INTO "CaseUser" VALUES (1, 'quinn@corp.example', '123-45-6789'), (2, 'rae@corp.example', '234-56-7890');
           CREATE TABLE "caseLow" (id int, "Email" text);
           INSERT INTO "caseLow" VALUES (1, 'sol@corp.example');
           CREATE TABLE "CaseConf" (id int, "Secret" text);
           INSERT INTO "CaseConf" VALUES (1, 'hunter2');
           DROP TABLE IF EXISTS "KÜNDÉN"; CREATE TABLE "KÜNDÉN" (id int, "ÉMAIL" text);
           INSERT INTO "KÜNDÉN" VALUES (1, 'tove@corp.example');"#,
    )
    .unwrap();
    for s in [
        r#"SELECT replace(email, '@', ' at ') AS e, translate("ssnNumber", '-', '.') AS s FROM "CaseUser""#,
        r#"SELECT reverse("ssnNumber") FROM "CaseUser""#,
        r#"SELECT replace("Email", '@', '#') FROM "caseLow""#,
        r#"SELECT upper("Email") FROM public."caseLow""#,
        r#"SELECT reverse("Secret") FROM "CaseConf""#,
        r#"SELECT "Secret" || '' FROM "CaseConf""#,
        // Letters past ASCII are compared as the server's lexer folds names (ASCII only), so
        // the match does not depend on the database's locale.
        r#"SELECT replace("ÉMAIL", '@', ' at ') FROM "KÜNDÉN""#,
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.is_empty(), "{s}: {err}");
        for leak in ["quinn", "rae", "corp", "123", "6789", "sol", "hunter", "2retnuh", "tove"] {
            assert!(!out.contains(leak), "{s}: {out}");
        }
    }
    // A schema or table name holding a dot cannot be told apart from `schema.table`: agents'
    // statements naming one are refused (red-team: lineage and discovery lost such tables).
    pg().psql(r#"DROP TABLE IF EXISTS "dot.tab"; CREATE TABLE "dot.tab" (id int, email text); INSERT INTO "dot.tab" VALUES (1, 'una@corp.example');"#).unwrap();
    for s in [r#"SELECT replace(email, '@', ' at ') FROM "dot.tab""#, r#"SELECT id FROM public."dot.tab" WHERE email LIKE 'u%'"#, r#"COPY "dot.tab" TO STDOUT"#] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("agent-no-unreadable-sql") && !out.contains("una"), "{s}: {out} {err}");
    }
    // Nor reached by an unqualified name that resolves to one (a search path set to a dotted
    // schema), nor through a view over one (the relations behind a view are resolved too).
    pg().psql(r#"DROP SCHEMA IF EXISTS "sch.ema" CASCADE; CREATE SCHEMA "sch.ema"; CREATE TABLE "sch.ema".plainrel (c text); INSERT INTO "sch.ema".plainrel VALUES ('vera@corp.example');
                 DROP VIEW IF EXISTS dotview; CREATE VIEW dotview AS SELECT id, email AS k FROM "dot.tab";"#).unwrap();
    let (out, err) = agent(&gw, &["-c", r#"SET search_path TO "sch.ema", public"#, "-c", "SELECT 'x' || c FROM plainrel"], None);
    assert!(err.contains("agent-no-unreadable-sql") && !out.contains("vera"), "{out} {err}");
    let (out, err) = agent(&gw, &["-c", "SELECT 'x' || k FROM dotview"], None);
    assert!(err.contains("agent-no-unreadable-sql") && !out.contains("una"), "{out} {err}");
    // Filtering on one is reviewed like any masked column, not run at once.
    let (_, err) = agent(&gw, &["-c", r#"SELECT id FROM "CaseUser" WHERE email LIKE 'q%'"#], None);
    assert!(err.contains("masked"), "{err}");
}

/// A view that renames a configured column, or computes from it, masks it: the view's
/// definition is read by lineage like a statement (red-team round 2: `CREATE VIEW v AS SELECT
/// apikey AS k` returned the key in clear, and no detector knows a key's shape).
#[test]
fn a_view_that_renames_a_masked_column_masks_it() {
    let gw = Gw::start("[[masking.column_rules]]\ntable = \"vkeys\"\ncolumn = \"apikey\"\n");
    pg().psql(
        "DROP VIEW IF EXISTS vk_v3, vk_v2, vk_chain, vk_rename, vk_expr, vk_cte, vk_unnest, vk_lat, vk_starsub, vk_mail CASCADE;
         DROP TABLE IF EXISTS vkeys;
         CREATE TABLE vkeys (id int, apikey text, note text);
         INSERT INTO vkeys VALUES (1, 'k9c4ca4238a0b9238', 'first'), (2, 'k7d1a2b3c4d5e6f70', 'second');
         CREATE VIEW vk_rename AS SELECT id, apikey AS k, note FROM vkeys;
         CREATE VIEW vk_expr AS SELECT id, upper(apikey) AS u FROM vkeys;
         CREATE VIEW vk_chain AS SELECT k AS kk, note FROM vk_rename;
         CREATE VIEW vk_v2 AS SELECT kk AS k3 FROM vk_chain;
         CREATE VIEW vk_v3 AS SELECT upper(k3) AS k4 FROM vk_v2;
         CREATE VIEW vk_cte AS WITH c AS (SELECT id, apikey AS z FROM vkeys) SELECT id, z AS k FROM c;
         CREATE VIEW vk_unnest AS SELECT u AS k FROM vkeys, unnest(array[apikey]) u;
         CREATE VIEW vk_lat AS SELECT id, l.k FROM vkeys, LATERAL (SELECT apikey AS k) l;
         CREATE VIEW vk_starsub AS SELECT * FROM (SELECT id, apikey AS k FROM vkeys) s;
         CREATE VIEW vk_mail AS SELECT id, reverse(email) AS m FROM users;",
    )
    .unwrap();
    for s in [
        "SELECT k FROM vk_rename",
        "SELECT 'x' || k FROM vk_rename",
        "SELECT * FROM vk_rename",
        "SELECT u FROM vk_expr",
        "SELECT kk, note FROM vk_chain",
        "SELECT reverse(kk) FROM vk_chain",
        // Views of views of views, CTEs, functions and subqueries in FROM inside the view
        // (red-team round 3), and a view over a discovered column (users.email).
        "SELECT k3 FROM vk_v2",
        "SELECT k4 FROM vk_v3",
        "SELECT k FROM vk_cte",
        "SELECT k FROM vk_unnest",
        "SELECT k FROM vk_lat",
        "SELECT * FROM vk_starsub",
        "SELECT m FROM vk_mail",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.is_empty(), "{s}: {err}");
        for leak in ["9c4ca", "7d1a2", "9C4CA", "ac4c9", "elpmaxe", "proc"] {
            assert!(!out.contains(leak), "{s}: {out}");
        }
    }
    // The view's other columns are left alone.
    let (out, _) = agent(&gw, &["-c", "SELECT id, note FROM vk_rename ORDER BY id"], None);
    assert_eq!(out.trim(), "1|first\n2|second");
}

/// Parse, Bind, Execute without Describe: hoop asks for the row shape itself.
#[tokio::test]
async fn masking_does_not_depend_on_describe() {
    let gw = Gw::start("");
    let mut r = raw::Raw::login(&gw).await;
    r.send(&[raw::parse("", b"SELECT card, replace(email, '@', '#') FROM users WHERE id = 1"), raw::bind("", ""), raw::execute(""), raw::sync()]).await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(!out.contains("4111") && !out.contains("ann#corp"), "{out}");
    assert!(out.contains("[REDACTED:card]"), "{out}");
    assert!(!out.contains("T\0"), "hoop's own Describe is not shown to the client: {out:?}");
}

/// Found by red-teaming: a lexing setting changed where hoop cannot see it (a function run in
/// the same pipeline) must not let a text mean something else to the server. Texts that read
/// differently under another setting are refused, however the setting was reached.
#[tokio::test]
async fn a_pipelined_setting_change_cannot_smuggle_a_statement() {
    let gw = Gw::start("[policy]\ndefault_rules = true\n");
    victim("v_pipe");
    pg().psql(
        "CREATE OR REPLACE FUNCTION flip() RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); RETURN 1; END $$",
    )
    .unwrap();
    let mut r = raw::Raw::login(&gw).await;
    r.send(&[
        raw::parse("", b"SELECT flip()"),
        raw::bind("", ""),
        raw::execute(""),
        raw::parse("", b"with x as (select 'a\\'') delete from v_pipe --') select 1"),
        raw::bind("", ""),
        raw::execute(""),
        raw::sync(),
    ])
    .await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(out.contains("lexing settings"), "{out}");
    assert_eq!(rows("v_pipe"), "2");
    // The same as one simple query, and functions that run SQL given as text.
    let gw = Gw::start("");
    for s in [
        "select flip(); select 'a\\''; drop table v_pipe; --'",
        "select query_to_xml('select set_config(''standard_conforming_strings'', ''off'', false)', true, false, '')",
        "update pg_settings set setting = 'off' where name = 'standard_conforming_strings'",
    ] {
        let (_, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("hoop:"), "{s}: {err}");
    }
    assert_eq!(rows("v_pipe"), "2");
}

/// Found by red-teaming: functions that run SQL given as a string read sensitive tables unseen.
#[test]
fn functions_that_run_sql_text_are_refused() {
    let gw = Gw::start("");
    for s in [
        "SELECT query_to_xml('select email from cust'||'omers', true, false, '')",
        "SELECT table_to_xml('customers', true, false, '')",
        "SELECT * FROM ts_stat('select to_tsvector(email) from customers')",
        "SELECT schema_to_xml('public', true, false, '')",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("agent-no-unreadable-sql"), "{s}: {err}");
        assert!(!out.contains("vip"), "{s}: {out}");
    }
    // Column statistics hold sample values: reviewed where a target has sensitive tables.
    let gw = Gw::start_with("", 1, &["customers"]);
    let (out, err) = agent(&gw, &["-c", "SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'customers'"], None);
    assert!(err.contains("review timed out"), "{out} {err}");
}

/// Found by red-teaming: nesting that exhausted a connection thread's stack aborted the
/// gateway. Now the statement is unreadable, and every other session carries on.
#[test]
fn deep_nesting_cannot_take_the_gateway_down() {
    let gw = Gw::start("");
    for depth in [60, 500] {
        let s = format!("select {}1{}", "array[".repeat(depth), "]".repeat(depth));
        let (_, err) = agent(&gw, &["-c", &s], None);
        assert!(err.contains("hoop:") || err.contains("ERROR"), "{depth}: {err}");
    }
    // Nested calls in a branch over a masked value: read once each, not once per way down
    // (the check of whether they may fail once doubled its work per level).
    let nested = (0..40).fold("email".to_string(), |e, _| format!("lower({e})"));
    let (out, err) = agent(&gw, &["-At", "-c", &format!("SELECT CASE WHEN email LIKE 'a%' THEN {nested} END FROM users WHERE id = 1")], None);
    assert!(out.contains("REDACTED") || err.contains("hoop:"), "{out} {err}");
    let (out, err) = agent(&gw, &["-c", "SELECT 'alive'"], None);
    assert_eq!(out.trim(), "alive", "{err}");
}

/// Found by red-teaming: an agent changed the gateway role's defaults for every later session.
#[test]
fn agents_cannot_change_roles_or_grants() {
    let gw = Gw::start("");
    for s in [
        "ALTER ROLE CURRENT_USER SET statement_timeout = 1",
        "ALTER ROLE postgres SET default_transaction_read_only = on",
        "ALTER DATABASE postgres SET search_path = evil",
        "GRANT SELECT ON customers TO PUBLIC",
        "CREATE ROLE sneaky LOGIN PASSWORD 'x'",
        "ALTER TABLE users OWNER TO postgres",
    ] {
        let (_, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("agent-no-privilege-changes"), "{s}: {err}");
    }
    assert_eq!(pg().psql("SELECT count(*) FROM pg_db_role_setting").unwrap().trim(), "0");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_roles WHERE rolname = 'sneaky'").unwrap().trim(), "0");
    // PG red-team round 116: taking another role's rights, which only the server refused for a
    // login role that belongs to none (this cluster's does: the session stays its own).
    pg().psql("DROP ROLE IF EXISTS r116; CREATE ROLE r116").unwrap();
    for s in ["SET ROLE r116", "SET SESSION AUTHORIZATION r116", "SELECT set_config('role', 'r116', false)"] {
        let (out, err) = agent(&gw, &["-At", "-c", s, "-c", "SELECT current_user, session_user"], None);
        assert!(err.contains("agent-no-privilege-changes") && out.trim() == "postgres|postgres", "{s}: {out} {err}");
    }
    let (out, err) = agent(&gw, &["-At", "-c", "SET ROLE NONE", "-c", "RESET ROLE", "-c", "SELECT current_user"], None);
    assert_eq!(out.lines().last().unwrap_or_default(), "postgres", "{err}");
}

/// A message type hoop does not know is refused, not forwarded.
#[tokio::test]
async fn unknown_message_types_are_refused() {
    let gw = Gw::start("");
    let mut r = raw::Raw::login(&gw).await;
    r.s.write_all(&[b'?', 0, 0, 0, 4]).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), r.s.read_to_end(&mut rest)).await;
    assert!(String::from_utf8_lossy(&rest).contains("unknown message type"), "{}", String::from_utf8_lossy(&rest));
    let mut other = raw::Raw::login(&gw).await;
    other.send(&[raw::query(b"SELECT 'alive'")]).await;
    assert!(String::from_utf8_lossy(&other.until_ready().await).contains("alive"));
}

fn ten_rows(name: &str) {
    pg().psql(&format!("DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int primary key, v text); INSERT INTO {name} SELECT g, 'a' FROM generate_series(1, 10) g")).unwrap();
}

/// The written-rows ceiling: a write that touches more rows than an agent may is not
/// committed, however its WHERE is spelled, in autocommit, in a transaction and in the
/// extended protocol; writes under the ceiling commit as usual.
#[test]
fn writes_over_the_row_ceiling_are_not_committed() {
    let gw = Gw::start_with_row_ceiling(3);
    ten_rows("v_cap");
    for s in ["DELETE FROM v_cap WHERE id > 0", "UPDATE v_cap SET v = 'x' WHERE id = id", "DELETE FROM v_cap WHERE id IN (SELECT id FROM v_cap)"] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("hoop-max-rows-written") && err.contains("10 rows"), "{s}: {out} {err}");
        assert_eq!(pg().psql("SELECT count(*) FILTER (WHERE v = 'a') FROM v_cap").unwrap().trim(), "10", "{s}");
    }
    // Under the ceiling: committed, and the client sees the usual tag.
    let (out, err) = agent(&gw, &["-c", "DELETE FROM v_cap WHERE id <= 2"], None);
    assert!(err.is_empty() && out.trim() == "DELETE 2", "{out} {err}");
    assert_eq!(rows("v_cap"), "8");
    // Inside the client's transaction: the transaction fails, its COMMIT rolls back.
    let script = "BEGIN;\nUPDATE v_cap SET v = 'y' WHERE id > 2;\nCOMMIT;\nSELECT 'after';\n";
    let (out, err) = agent(&gw, &[], Some(script));
    assert!(err.contains("hoop-max-rows-written"), "{err}");
    assert!(out.contains("ROLLBACK") && out.contains("after"), "{out}");
    assert_eq!(pg().psql("SELECT count(*) FROM v_cap WHERE v = 'y'").unwrap().trim(), "0");
    // Transaction control in the same text as a capped write is refused outright.
    let (_, err) = agent(&gw, &["-c", "BEGIN; DELETE FROM v_cap WHERE id > 0; COMMIT"], None);
    assert!(err.contains("send them separately"), "{err}");
    assert_eq!(rows("v_cap"), "8");
    // So is a COPY … FROM STDIN: the text's counts are read at its end, which waited for the
    // COPY's rows, which waited for it (the session hung, under the ceiling too).
    let (_, err) = agent(&gw, &["-c", "UPDATE v_cap SET v = 'c' WHERE id = 5; COPY v_cap FROM STDIN"], Some("50\tq\n\\.\n"));
    assert!(err.contains("COPY … FROM STDIN") && err.contains("send them separately"), "{err}");
    assert_eq!(pg().psql("SELECT count(*) FROM v_cap WHERE v = 'c' OR id = 50").unwrap().trim(), "0");
    // Red-team round 71: a write inside COPY … TO (whose tag counts the rows copied out) ran
    // once its export was approved; an upsert inside a CTE passed uncounted. Both are refused
    // before any review, and nothing is written.
    for s in [
        "COPY (UPDATE v_cap SET v = 'z' WHERE id > 0 RETURNING id) TO STDOUT",
        "WITH x AS (INSERT INTO v_cap VALUES (3, 'z'), (4, 'z') ON CONFLICT (id) DO UPDATE SET v = 'z' RETURNING 1) SELECT count(*) FROM x",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("hoop-max-rows-written") && err.contains("reports no row count"), "{s}: {out} {err}");
        assert!(gw.gate.approvals().list().is_empty(), "no ticket for what the ceiling refuses: {s}");
        assert_eq!(pg().psql("SELECT count(*) FROM v_cap WHERE v = 'z'").unwrap().trim(), "0", "{s}");
    }
    // People are not limited.
    let human = gw.token("alice", IdentityKind::Human);
    let o = gw.psql_with("alice", &human, "", &["-c", "UPDATE v_cap SET v = 'h' WHERE id > 0"], None);
    assert_eq!(text(&o).0.trim(), "UPDATE 8", "{}", text(&o).1);
}

/// The same ceiling in the extended protocol (a driver's prepared statements).
#[tokio::test]
async fn the_row_ceiling_holds_in_the_extended_protocol() {
    let gw = Gw::start_with_row_ceiling(3);
    ten_rows("v_cap_x");
    let t = gw.token("agent-1", IdentityKind::Agent);
    let (c, conn) = tokio_postgres::connect(&format!("{} password={t}", gw.conninfo("agent-1")), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let e = c.execute("DELETE FROM v_cap_x WHERE id > $1", &[&0i32]).await.unwrap_err();
    assert!(format!("{e:?}").contains("hoop-max-rows-written"), "{e:?}");
    assert_eq!(rows("v_cap_x"), "10");
    assert_eq!(c.execute("DELETE FROM v_cap_x WHERE id <= $1", &[&2i32]).await.unwrap(), 2);
    assert_eq!(rows("v_cap_x"), "8");
    // In a transaction: the excess fails it, nothing commits.
    c.batch_execute("BEGIN").await.unwrap();
    assert!(c.execute("UPDATE v_cap_x SET v = 'z' WHERE id > $1", &[&0i32]).await.is_err());
    let _ = c.batch_execute("COMMIT").await;
    assert_eq!(pg().psql("SELECT count(*) FROM v_cap_x WHERE v = 'z'").unwrap().trim(), "0");
    assert_eq!(c.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0), 1);
    // Red-team round 71: a portal bound to a write, never executed, run whole by a SQL `FETCH 1`
    // (whose tag counts one row fetched) or `MOVE`: refused, nothing written.
    for fetch in [&b"FETCH 1 FROM c"[..], b"MOVE FORWARD ALL IN c"] {
        let mut r = raw::Raw::login(&gw).await;
        r.send(&[raw::query(b"BEGIN")]).await;
        r.until_ready().await;
        r.send(&[raw::parse("", b"UPDATE v_cap_x SET v = 'f' WHERE id > 0 RETURNING id"), raw::bind("c", ""), raw::sync()]).await;
        r.until_ready().await;
        r.send(&[raw::query(fetch)]).await;
        let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
        assert!(out.contains("hoop-max-rows-written") && out.contains("FETCH or MOVE"), "{out}");
        r.send(&[raw::query(b"COMMIT")]).await;
        r.until_ready().await;
        assert_eq!(pg().psql("SELECT count(*) FROM v_cap_x WHERE v = 'f'").unwrap().trim(), "0", "{}", String::from_utf8_lossy(fetch));
    }
}

/// Red-team round 72: another session replaced a view in an open transaction and committed
/// while the agent's capped write to it waited on its lock; the server then ran the write
/// through the new definition, whose INSTEAD OF trigger updated every row. What a capped
/// write's names denote is asked of the server after it ran: moved, it is not committed.
#[tokio::test]
async fn a_capped_write_through_a_name_replaced_while_it_waited_is_not_committed() {
    let gw = Gw::start_with_row_ceiling(3);
    pg().psql(
        "DROP VIEW IF EXISTS pv72, evt72; DROP TABLE IF EXISTS ev72; DROP FUNCTION IF EXISTS evt72_all();
         CREATE TABLE ev72 (id int primary key, v text); INSERT INTO ev72 SELECT g, 'a' FROM generate_series(1, 10) g;
         CREATE VIEW evt72 AS SELECT * FROM ev72;
         CREATE FUNCTION evt72_all() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE ev72 SET v = NEW.v; RETURN NEW; END $$;
         CREATE TRIGGER evt72_all INSTEAD OF UPDATE ON evt72 FOR EACH ROW EXECUTE FUNCTION evt72_all();
         CREATE VIEW pv72 AS SELECT * FROM ev72;",
    )
    .unwrap();
    let (other, conn) = tokio_postgres::connect(&pg().url("postgres"), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    other.batch_execute("BEGIN; CREATE OR REPLACE VIEW pv72 AS SELECT * FROM evt72").await.unwrap();
    let mut r = raw::Raw::login(&gw).await;
    r.send(&[raw::query(b"UPDATE pv72 SET v = 'x' WHERE id = 1")]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    other.batch_execute("COMMIT").await.unwrap();
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(out.contains("changed while it ran"), "{out}");
    assert_eq!(pg().psql("SELECT count(*) FROM ev72 WHERE v = 'x'").unwrap().trim(), "0", "nothing was committed");
}

/// The reviewer sees the statement that will run: literals masked, structure intact (a
/// detector never hides code), and approval applies to exactly that statement.
#[test]
fn reviewers_see_the_structure_with_literals_masked() {
    let gw = Gw::start_with("", 30, &["customers"]);
    let t = gw.token("agent-1", IdentityKind::Agent);
    // (Round 51: a credential detector took the `*/` after `password=` into its masked value,
    // and the condition after it read as part of the comment.)
    let sql = "SELECT id, \"note-AKIAIOSFODNN7EXAMPLE\" FROM (SELECT id, 'x' AS \"note-AKIAIOSFODNN7EXAMPLE\" FROM customers WHERE email = 'vip@corp.example' OR 'vip@corp.example' = E'vip2\\x40corp.example' /*password=hunter2*/AND id > 0) s -- card 4111 1111 1111 1111";
    let child = std::process::Command::new("psql")
        .args(["-X", "-A", "-t", "-c", sql])
        .arg(gw.conninfo("agent-1"))
        .env("PGPASSWORD", &t)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut shown = None;
    for _ in 0..200 {
        if let Some(ticket) = gw.gate.approvals().list().into_iter().next() {
            shown = Some(ticket);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let ticket = shown.expect("the statement is held");
    let text = &ticket.action.sql.text;
    assert!(text.contains("-- card [REDACTED:card]"), "{text}");
    // Masked values are numbered by value: the reviewer tells `'a' = 'a'` (always true) from
    // `'a' = 'b'` (red-team identity round 84: both read `'[REDACTED:email]' = '[REDACTED:email]'`).
    // An escape string's value is masked as the server reads it (identity round 85:
    // `E'a\x40example.com'` went unmasked).
    assert!(text.contains("email = '[REDACTED:email]#1' OR '[REDACTED:email]#1' = E'[REDACTED:email]#2'") && !text.contains("vip2"), "{text}");
    assert!(text.contains("\"note-AKIAIOSFODNN7EXAMPLE\" FROM (SELECT id"), "code is shown as written: {text}");
    assert!(text.contains("*/AND id > 0)") && !text.contains("hunter2"), "a comment's end is never masked: {text}");
    assert!(!text.contains("vip@corp"), "{text}");
    let mut reviewer = hoop_core::identity::Identity::new("rev", IdentityKind::Human);
    reviewer.groups = vec!["review".into()];
    gw.gate.approvals().decide(&ticket.id, &reviewer, true, "ok").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1|x", "{}", String::from_utf8_lossy(&o.stderr));
}

/// Red-team round 53: a statement past the 1 MiB a ticket shows was held with its start shown,
/// and ` or id > 0` after a long comment ran on approval. An agent's statement a reviewer
/// would see cut is refused, never held; the table is as it was.
#[test]
fn a_statement_too_long_to_show_whole_is_refused_not_held() {
    victim("v_cut53");
    let gw = Gw::start_with_limits("max_message_bytes = 4194304");
    let padding = "x".repeat(1_500_000);
    // (Reading `customers`, a sensitive table, holds it for review by the default rules.)
    let sql = format!("UPDATE v_cut53 SET v = 'z' WHERE id IN (SELECT id FROM customers WHERE id = 1) /* {padding} */ OR id > 0;\n");
    let (out, err) = agent(&gw, &["-f", "-"], Some(&sql));
    assert!(err.contains("hoop-unreviewable-command") && err.contains("cut"), "{out} {}", &err[..err.len().min(400)]);
    assert!(gw.gate.approvals().list().is_empty(), "no ticket was opened");
    assert_eq!(pg().psql("SELECT count(*) FROM v_cut53 WHERE v = 'z'").unwrap().trim(), "0");
}

/// Red-team round 53: an approved `COPY … FROM STDIN` left no result in the recording, and
/// neither did a write through a simple Query: their command tags are recorded as results, and
/// the start of the rows copied in (masked) with their size.
#[test]
fn a_copy_from_stdin_and_a_write_leave_their_result_in_the_recording() {
    victim("v_copy53");
    let gw = Gw::start_with_limits("max_message_bytes = 4194304");
    let t = gw.token("alice", IdentityKind::Human);
    let o = gw.psql_with("alice", &t, "", &["-c", "COPY v_copy53 FROM STDIN", "-c", "UPDATE v_copy53 SET v = 'u' WHERE id = 1"], Some("3\tc\n4\td\n\\.\n"));
    let (out, err) = text(&o);
    assert!(out.contains("COPY 2") && out.contains("UPDATE 1"), "{out} {err}");
    assert_eq!(rows("v_copy53"), "4");
    // Round 55: every statement of a text is in its result, not the last one's tag alone.
    let o = gw.psql_with("alice", &t, "", &["-c", "DELETE FROM v_copy53 WHERE id > 2; SELECT 1 AS harmless"], None);
    assert!(text(&o).0.contains('1'), "{:?}", text(&o));
    // Round 55: what runs is recorded whole, past the 1 MiB a ticket shows.
    let long = format!("SELECT 1 /* {} */ AS tail55;\n", "x".repeat(1_200_000));
    let o = gw.psql_with("alice", &t, "", &["-f", "-"], Some(&long));
    assert!(text(&o).0.contains('1'), "{:?}", text(&o).1);
    std::thread::sleep(Duration::from_millis(300));
    let mut recorded = String::new();
    for f in std::fs::read_dir(gw.dir.path().join("recordings")).unwrap() {
        recorded.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap_or_default());
    }
    for status in ["\"status\":\"COPY 2\",\"rows\":2", "\"status\":\"UPDATE 1\",\"rows\":1", "\"status\":\"DELETE 2\",\"rows\":2"] {
        assert!(recorded.contains(status), "{status} in {recorded}");
    }
    assert!(recorded.contains("*/ AS tail55"), "recorded whole");
    // The rows copied in: their start, masked, and their size.
    assert!(recorded.contains("COPY FROM STDIN data sent: 11 bytes") && recorded.contains("3\\tc\\n4\\td"), "{recorded}");
}

/// pg_dump through hoop as an agent: everything it sends is read (catalog queries with
/// `OPERATOR(pg_catalog.=)`, its `set_config` of `restrict_nonsystem_relation_kind`), and the
/// data it copies out is held for review as the bulk export it is, then masked.
#[test]
fn pg_dump_is_held_as_a_bulk_export_and_masked() {
    let gw = Gw::start_with("", 30, &["customers"]);
    let t = gw.token("agent-1", IdentityKind::Agent);
    let child = std::process::Command::new("pg_dump")
        .args(["-t", "users", "--no-owner"])
        .arg(format!("host=127.0.0.1 port={} user=agent-1 dbname=app sslmode=disable", gw.port))
        .env("PGPASSWORD", &t)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reviewer = hoop_core::identity::Identity::new("rev", IdentityKind::Human);
    reviewer.groups = vec!["review".into()];
    let mut approved = Vec::new();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        for ticket in gw.gate.approvals().list() {
            if !approved.contains(&ticket.id) {
                assert_eq!(ticket.rule, "agent-review-copy-out", "{:?}", ticket.action.sql.text);
                gw.gate.approvals().decide(&ticket.id, &reviewer, true, "export ok").unwrap();
                approved.push(ticket.id);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = waiter.join().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{err}");
    assert_eq!(approved.len(), 1, "one COPY, one review");
    assert!(out.contains("COPY public.users") && out.contains("[REDACTED:email]"), "{out}");
    assert!(!out.contains("ann@corp.example") && !out.contains("4111 1111"), "{out}");
}

/// Found by the second red-team round: channels out of a statement that result masking did
/// not see — settings, error messages, RETURNING, renamed columns, storage, side-effect
/// functions — and choosing rows by a masked value.
#[test]
fn masked_values_do_not_leave_by_side_channels() {
    let gw = Gw::start_with("", 1, &["customers"]);
    // (A failing cast is held as choosing by the value since round 112; approved, its error
    // message is still withheld.)
    let reviewer = FilterApprover::start(&gw, false);
    let clear = ["ann@corp", "ann#corp", "ann at corp", "corp,example", "4111", "bob@corp"];
    let leaks = |s: &str, out: &str, err: &str| {
        for c in clear {
            assert!(!out.contains(c) && !err.contains(c), "{s}: {out} {err}");
        }
    };
    // Values that come back: masked whole, or the statement refused.
    for s in [
        "SELECT string_agg(replace(email, '@', ' at '), ' | ')::int FROM users",
        "SELECT (email || 'x')::regclass FROM users",
        "UPDATE users SET name = name WHERE id = 1 RETURNING translate(email, '@.', '#,')",
        "WITH x AS (UPDATE users SET name = name WHERE id = 1 RETURNING *) SELECT translate(email, '@.', '#,') FROM x",
        "SELECT translate(e, '@.', '#,') FROM users AS t(i, n, e)",
        "SELECT replace(c, ' ', '/') FROM (TABLE users) t(i, n, e, c)",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        leaks(s, &out, &err);
    }
    let (_, err) = agent(&gw, &["-c", "SELECT string_agg(email, ',')::int FROM users"], None);
    assert!(err.contains("error message is withheld"), "{err}");
    drop(reviewer);
    // Values carried elsewhere: refused, and nothing changed.
    for s in [
        "SELECT set_config('application_name', (SELECT string_agg(email, ',') FROM users), false) IS NULL",
        "SELECT set_config('my.x', translate(email, '@', '#'), false) FROM users",
        "CREATE TABLE laundered AS SELECT translate(email, '@', '#') AS e FROM users",
        "CREATE VIEW laundered_v AS SELECT email FROM users",
        "UPDATE users SET note = translate(email, '@', '#') WHERE id = 1",
        "INSERT INTO users (id, note) SELECT id + 100, replace(email, '@', '#') FROM users",
        "SELECT pg_notify('x', translate(email, '@.', '#,')) FROM users",
        "SELECT lo_from_bytea(424242, convert_to(email, 'UTF8')) FROM users WHERE id = 1",
        "SELECT pg_advisory_lock(ascii(email)) FROM users WHERE id = 1",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(
            err.contains("hoop-masked-lineage") || err.contains("agent-no-computed-settings") || err.contains("agent-no-computed-notifications"),
            "{s}: {out} {err}"
        );
        leaks(s, &out, &err);
    }
    assert_eq!(pg().psql("SELECT count(*) FROM pg_class WHERE relname IN ('laundered', 'laundered_v')").unwrap().trim(), "0");
    assert_eq!(pg().psql("SELECT count(*) FROM users WHERE id > 100 OR note LIKE '%#%'").unwrap().trim(), "0");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_largeobject_metadata WHERE oid = 424242").unwrap().trim(), "0");
    // Choosing rows by a masked value rebuilds it without a WHERE: held for review (times out).
    let s = "SELECT DISTINCT ON (u.id, i) u.id, i, h FROM users u, generate_series(1, 20) i, generate_series(0, 127) h ORDER BY u.id, i, h = ascii(substr(u.email, i, 1)) DESC";
    let (out, err) = agent(&gw, &["-c", s], None);
    assert!(err.contains("review timed out"), "{out} {err}");
    let (out, err) = agent(&gw, &["-c", "SELECT id FROM users WHERE email LIKE 'a%'"], None);
    assert!(err.contains("review timed out") && out.trim().is_empty(), "{out} {err}");
    // A statement that would cost gigabytes to parse is refused, and the gateway carries on.
    let chain = format!("SELECT 1 FROM users WHERE {}", vec!["id = id"; 20000].join(" AND "));
    let (_, err) = agent(&gw, &[], Some(&format!("{chain};\n")));
    assert!(err.contains("agent-no-unreadable-sql"), "{}", &err[..err.len().min(300)]);
    assert_eq!(agent(&gw, &["-c", "SELECT 'alive'"], None).0.trim(), "alive");
}

/// Found by the third red-team round: protocol state that drifted from the server's (a name
/// prepared and deallocated in one text, a portal whose statement name was reused, a Query
/// inside an unsynchronised batch), writes the ceiling could not count, and more ways around
/// lineage and review.
#[tokio::test]
async fn third_round_state_and_lineage() {
    let gw = Gw::start_with_row_ceiling(3);
    let evil = b"SELECT translate(email, '@.', '#,') AS e FROM users";
    let clear = |out: &str| !out.contains("ann#corp") && !out.contains("bob#corp");
    // PREPARE and DEALLOCATE of one name in one text: hoop must not keep the name.
    let mut r = raw::Raw::login(&gw).await;
    r.send(&[raw::query(b"PREPARE p AS SELECT 1, 2; DEALLOCATE p")]).await;
    r.until_ready().await;
    r.send(&[raw::parse("p", evil), raw::sync()]).await;
    r.until_ready().await;
    r.send(&[raw::query(b"EXECUTE p")]).await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(clear(&out), "{out}");
    // A named portal keeps the statement it was bound to, whatever the name holds later.
    let mut r = raw::Raw::login(&gw).await;
    r.send(&[raw::parse("", evil), raw::bind("p1", ""), raw::parse("", b"SELECT 1"), raw::execute("p1"), raw::sync()]).await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(clear(&out) && out.contains("[REDACTED"), "{out}");
    // A simple Query inside an unsynchronised batch that failed is discarded by the server, and
    // so by hoop (it once ended the session: compatibility round 1, asyncpg); the Sync answers.
    let mut r = raw::Raw::login(&gw).await;
    r.send(&[raw::parse("", b"SELECT 1/0"), raw::bind("", ""), raw::execute(""), raw::query(b"SELECT 'q' || 'ran'"), raw::sync()]).await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(out.contains("22012") && !out.contains("qran"), "{out}");
    // The ceiling: a plain P/B/E/S write, a CTE write and EXPLAIN ANALYZE are not committed.
    ten_rows("v_cap3");
    let mut r = raw::Raw::login(&gw).await;
    r.send(&[raw::parse("", b"DELETE FROM v_cap3 WHERE id > 0"), raw::bind("", ""), raw::execute(""), raw::sync()]).await;
    let out = String::from_utf8_lossy(&r.until_ready().await).into_owned();
    assert!(out.contains("hoop-max-rows-written"), "{out}");
    assert_eq!(rows("v_cap3"), "10");
    for s in ["WITH d AS (DELETE FROM v_cap3 WHERE id > 0 RETURNING 1) SELECT count(*) FROM d", "EXPLAIN ANALYZE DELETE FROM v_cap3 WHERE id > 0"] {
        let (_, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("hoop-max-rows-written"), "{s}: {err}");
    }
    assert_eq!(rows("v_cap3"), "10");
    // Lineage through functions in FROM; other sessions are out of reach.
    for s in [
        "SELECT key, translate(value, '@.', '#,') FROM users u, jsonb_each_text(to_jsonb(u)) WHERE key = 'email'",
        "SELECT translate(x.e, '@.', '#,') FROM users u, xmltable('/r' PASSING xmlelement(name r, u.email) COLUMNS e text PATH '.') x",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(clear(&out), "{s}: {out} {err}");
    }
    for s in ["SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()", "SELECT query FROM pg_stat_activity", "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"] {
        let (_, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("agent-no-other-sessions"), "{s}: {err}");
    }
    // UPDATE … FROM a sensitive table reads it: reviewed.
    let (_, err) = agent(&gw, &["-c", "UPDATE users SET name = c.email FROM customers c WHERE c.id = users.id AND users.id = 99"], None);
    assert!(err.contains("review timed out") || err.contains("hoop-masked-lineage"), "{err}");
}

/// Found by the fourth red-team round: portals bound while the hourly budget was far off ran
/// long after it was spent (150 portals of 999 rows read 149,850 rows against 50,000), and a
/// cursor declared in SQL was read through a protocol Execute, unchecked. A portal executed
/// after results have ended since it was judged is judged again with the usage of then; an
/// Execute of a portal hoop never saw bound is refused.
#[tokio::test]
async fn portals_bound_early_cannot_run_past_the_budget() {
    let gw = Gw::start("[policy.budgets]\ntarget_rows_1h = 2500\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reviewer = hoop_harness::review::decide_all(gw.gate.approvals(), "alice", false, stop.clone());
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"BEGIN")]).await;
    c.until_ready().await;
    let mut batch = vec![raw::parse("s", b"SELECT x FROM generate_series(1, 900) x")];
    for k in 0..10 {
        batch.push(raw::bind(&format!("p{k}"), "s"));
    }
    batch.push(raw::sync());
    c.send(&batch).await;
    let bound = c.until_ready().await;
    assert_eq!(messages(&bound).iter().filter(|(t, _)| *t == b'2').count(), 10, "{}", String::from_utf8_lossy(&bound));
    let (mut rows, mut refused) = (0, 0);
    for k in 0..10 {
        c.send(&[raw::execute(&format!("p{k}")), raw::sync()]).await;
        let got = c.until_ready().await;
        rows += messages(&got).iter().filter(|(t, _)| *t == b'D').count();
        refused += usize::from(String::from_utf8_lossy(&got).contains("42501"));
    }
    c.send(&[raw::query(b"ROLLBACK")]).await;
    c.until_ready().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let denied = reviewer.join().unwrap();
    // Two results fit the budget, the third is judged at 1,800 and goes, the fourth is held.
    assert_eq!(rows, 2700, "rows delivered past a 2,500-row budget");
    assert!(refused >= 1 && denied >= 1, "{refused} refused, {denied} tickets denied");

    // A cursor declared in SQL is read with FETCH, checked as what it runs; a protocol Execute
    // of its name is refused and returns nothing.
    let gw = Gw::start("");
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"DECLARE hc CURSOR WITH HOLD FOR SELECT translate(email, '@', '#') FROM users")]).await;
    let declared = c.until_ready().await;
    assert!(String::from_utf8_lossy(&declared).contains("DECLARE CURSOR"), "{}", String::from_utf8_lossy(&declared));
    c.send(&[raw::execute("hc"), raw::sync()]).await;
    let got = c.until_ready().await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("has not seen bound"), "{text}");
    assert!(!messages(&got).iter().any(|(t, _)| *t == b'D'), "{text}");
    c.send(&[raw::query(b"FETCH 2 FROM hc")]).await;
    let fetched = c.until_ready().await;
    let text = String::from_utf8_lossy(&fetched);
    assert_eq!(messages(&fetched).iter().filter(|(t, _)| *t == b'D').count(), 2, "{text}");
    assert!(!text.contains("#corp") && !text.contains("#example"), "masked by lineage: {text}");
}

/// Red-team round 33: a portal bound while the budget was far off, in one session, ran its
/// first Execute unchecked after another session of the same identity had spent the budget.
/// A portal is judged again when its identity's usage moved anywhere since it was judged.
#[tokio::test]
async fn a_portal_bound_before_another_session_spent_the_budget_is_judged_again() {
    let gw = Gw::start("[policy.budgets]\ntarget_rows_1h = 2500\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reviewer = hoop_harness::review::decide_all(gw.gate.approvals(), "alice", false, stop.clone());
    let mut early = raw::Raw::login(&gw).await;
    early.send(&[raw::query(b"BEGIN")]).await;
    early.until_ready().await;
    early.send(&[raw::parse("s", b"SELECT x FROM generate_series(1, 900) x"), raw::bind("p0", "s"), raw::sync()]).await;
    let bound = early.until_ready().await;
    assert_eq!(messages(&bound).iter().filter(|(t, _)| *t == b'2').count(), 1, "{}", String::from_utf8_lossy(&bound));
    // Another session of the same identity spends the budget: 2,700 rows against 2,500.
    let mut other = raw::Raw::login(&gw).await;
    for _ in 0..3 {
        other.send(&[raw::query(b"SELECT x FROM generate_series(1, 900) x")]).await;
        let got = other.until_ready().await;
        assert_eq!(messages(&got).iter().filter(|(t, _)| *t == b'D').count(), 900, "{}", String::from_utf8_lossy(&got));
    }
    early.send(&[raw::execute("p0"), raw::sync()]).await;
    let got = early.until_ready().await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(messages(&got).iter().filter(|(t, _)| *t == b'D').count(), 0, "rows past a spent budget: {text}");
    assert!(text.contains("42501") && text.contains("agent-budget-target-rows"), "{text}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reviewer.join().unwrap() >= 1);
}

/// Red-team round 33: a table copied with `CREATE TABLE … AS` or `INSERT … SELECT` was counted
/// as no rows of it, and the copy then read under its own name: a per-table budget (cookbook
/// recipe 13) never saw the table's rows go. Rows a write copies count as read from what it
/// read.
#[test]
fn rows_copied_out_of_a_table_count_against_its_budget() {
    pg().psql("DROP TABLE IF EXISTS src33, src33_copy, src33_into; CREATE TABLE src33 AS SELECT g AS id FROM generate_series(1, 300) g").unwrap();
    let rule = r#"
[[policy.rules]]
name = "src33-hourly-rows"
when = 'identity.kind == "agent" && action.kind == "sql" && usage.tables.exists(t, baseName(t) == "src33" && usage.tables[t].rows_1h > 250)'
then = "deny"
reason = "src33 budget"
"#;
    let gw = Gw::start(rule);
    let (out, err) = agent(&gw, &["-c", "CREATE TABLE src33_copy AS SELECT * FROM src33 WHERE id <= 200"], None);
    assert!(out.contains("SELECT 200"), "{out} {err}");
    let (out, err) = agent(&gw, &["-c", "CREATE TABLE src33_into (id int); INSERT INTO src33_into SELECT id FROM src33 WHERE id > 200"], None);
    assert!(out.contains("INSERT 0 100"), "{out} {err}");
    // 300 rows of src33 went into copies: the next read of src33 is refused, whatever it reads.
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT id FROM src33 WHERE id = 1"], None);
    assert!(err.contains("src33-hourly-rows") && out.trim().is_empty(), "{out} {err}");
    // A plain insert copies nothing: it counts no rows read.
    let gw = Gw::start(rule);
    let (out, err) = agent(&gw, &["-c", "INSERT INTO src33_into SELECT g FROM generate_series(1, 300) g"], None);
    assert!(out.contains("INSERT 0 300"), "{out} {err}");
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT id FROM src33 WHERE id = 1"], None);
    assert_eq!(out.trim(), "1", "{err}");
}

/// Found by the fourth red-team round: a set-returning function in a select list multiplied
/// rows by a masked value (`generate_series(1, ascii(substr(email, i, 1)))`), and counting
/// them spelled out every address, card and SSN in clear with no review. Rows multiplied by a
/// masked value are rows chosen by it: held for review like a WHERE on it.
#[test]
fn rows_multiplied_by_a_masked_value_are_held() {
    let gw = Gw::start_with("", 1, &[]);
    for s in [
        "SELECT id, string_agg(n::text, ',' ORDER BY i) FROM (SELECT id, i, count(*)::int AS n FROM (SELECT id, i, generate_series(1, ascii(substr(email, i, 1))) AS g FROM users, generate_series(1, 40) i) x GROUP BY id, i) y GROUP BY id",
        "SELECT count(*) FROM (SELECT unnest(string_to_array(email, NULL)) FROM users WHERE id = 1) x",
        "SELECT count(*) FROM (SELECT regexp_matches(email, '.', 'g') FROM users WHERE id = 1) x",
        "SELECT count(*) FROM (SELECT unnest(array_fill(0, array[ascii(email)])) FROM users WHERE id = 1) x",
        "EXPLAIN ANALYZE SELECT generate_series(1, ascii(email)) FROM users WHERE id = 1",
        // Round 5: rows kept or dropped by comparing derived values, a recursive CTE as deep as
        // a value, a window ordered by one.
        "SELECT count(*) FROM (SELECT DISTINCT u.id, least(ascii(email), g) FROM users u, generate_series(0, 200) g WHERE u.id = 1) x",
        "SELECT count(*) FROM (SELECT ascii(email) FROM users WHERE id = 1 UNION SELECT g FROM generate_series(0, 200) g) x",
        "SELECT count(*) FROM (SELECT g FROM generate_series(0, 200) g INTERSECT SELECT ascii(email) FROM users) x",
        "SELECT count(*) FROM (SELECT g FROM generate_series(0, 200) g EXCEPT SELECT ascii(email) FROM users WHERE id = 1) x",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < (SELECT ascii(email) FROM users WHERE id = 1)) SELECT count(*) FROM r",
        "SELECT name, row_number() OVER (ORDER BY email DESC) FROM users",
        // Round 6: a join by USING or NATURAL on a derived value, a sample sized by one.
        "SELECT b.k FROM (SELECT ascii(email) n FROM users WHERE id = 1) a JOIN (SELECT g n, g k FROM generate_series(1, 255) g) b USING (n)",
        "SELECT x.v FROM users NATURAL JOIN (VALUES ('ann@corp.example', 'hit')) x(email, v)",
        "SELECT count(*) FROM users TABLESAMPLE bernoulli ((SELECT ascii(email) FROM users WHERE id = 1) / 2.56) REPEATABLE (7)",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("review timed out"), "{s}: {out} {err}");
        assert!(out.trim().is_empty(), "{s}: {out}");
    }
    // Time is a channel too: a sleep as long as a masked value is refused.
    for s in [
        "SELECT pg_sleep(ascii(email) / 1000.0) FROM users WHERE id = 1",
        "SELECT CASE ascii(email) WHEN 97 THEN pg_sleep(0.01) ELSE pg_sleep(0.02) END FROM users WHERE id = 1",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("hoop-masked-lineage") && out.trim().is_empty(), "{s}: {out} {err}");
    }
    // A set-returning call over values that are not masked goes as before.
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT count(*) FROM (SELECT generate_series(1, id) FROM users WHERE id <= 2) x"], None);
    assert_eq!(out.trim(), "3", "{err}");
}

/// Red-team round 98: an INSERT (or `COPY … FROM`) into a table whose trigger deleted the
/// rows of another table wrote past the ceiling, uncounted (plain inserts are not under it,
/// but what their triggers do must be countable). While agents' writes are limited, an insert
/// into a relation whose triggers or rules run on insert is refused, in a text, through the
/// extended protocol and as COPY, and the other table keeps its rows; other inserts go on.
#[tokio::test]
async fn inserts_whose_triggers_write_are_refused_under_the_ceiling() {
    let gw = Gw::start_with_row_ceiling(3);
    pg().psql(
        "DROP TABLE IF EXISTS ins_victim, ins_trig, ins_plain; \
         CREATE TABLE ins_victim AS SELECT x FROM generate_series(1, 50) x; CREATE TABLE ins_trig (id int); CREATE TABLE ins_plain (id int); \
         CREATE OR REPLACE FUNCTION ins_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM ins_victim; RETURN NEW; END $$; \
         CREATE TRIGGER ins_x AFTER INSERT ON ins_trig FOR EACH ROW EXECUTE FUNCTION ins_f();",
    )
    .unwrap();
    for s in ["INSERT INTO ins_trig VALUES (1)", "INSERT INTO public.ins_trig SELECT 1"] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("hoop-max-rows-written") && err.contains("run on insert"), "{s}: {out} {err}");
    }
    let (out, err) = agent(&gw, &["-c", "COPY ins_trig FROM STDIN"], Some("1\n\\.\n"));
    assert!(err.contains("run on insert"), "COPY: {out} {err}");
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("", b"INSERT INTO ins_trig VALUES (1)"), raw::bind("", ""), raw::execute(""), raw::sync()]).await;
    let got = c.until_ready().await;
    assert!(String::from_utf8_lossy(&got).contains("run on insert"), "{}", String::from_utf8_lossy(&got));
    assert_eq!(rows("ins_victim"), "50");
    assert_eq!(rows("ins_trig"), "0");
    let (out, err) = agent(&gw, &["-c", "INSERT INTO ins_plain VALUES (1)"], None);
    assert_eq!(out.trim(), "INSERT 0 1", "{err}");
}

/// Found by the fourth red-team round: a DELETE of one parent row reported `DELETE 1` while
/// its foreign key's ON DELETE CASCADE deleted 50,000 child rows past the ceiling, and a SHARE
/// lock (or FOR UPDATE of every row) blocked other sessions' writes. A capped write to a
/// relation whose foreign keys cascade, or that has triggers or rules, is refused (the
/// server's count leaves those rows out); locks that block other sessions' writes are refused.
#[tokio::test]
async fn writes_the_count_leaves_out_and_blocking_locks_are_refused() {
    let gw = Gw::start_with_row_ceiling(3);
    pg().psql(
        "DROP TABLE IF EXISTS casc_child, casc_parent, trig_t; \
         CREATE TABLE casc_parent (id int PRIMARY KEY); \
         CREATE TABLE casc_child (pid int REFERENCES casc_parent (id) ON DELETE CASCADE); \
         INSERT INTO casc_parent VALUES (1); INSERT INTO casc_child SELECT 1 FROM generate_series(1, 10); \
         CREATE TABLE trig_t (id int); INSERT INTO trig_t VALUES (1); \
         DROP TABLE IF EXISTS inh_parent CASCADE; CREATE TABLE inh_parent (id int); CREATE TABLE inh_child () INHERITS (inh_parent); \
         INSERT INTO inh_child VALUES (1); \
         DROP TABLE IF EXISTS part_root; CREATE TABLE part_root (id int) PARTITION BY RANGE (id); \
         CREATE TABLE part_1 PARTITION OF part_root FOR VALUES FROM (0) TO (100); INSERT INTO part_root VALUES (1); \
         CREATE OR REPLACE FUNCTION trig_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM casc_child; RETURN NEW; END $$; \
         CREATE TRIGGER trig_x AFTER UPDATE ON trig_t FOR EACH ROW EXECUTE FUNCTION trig_f(); \
         CREATE TRIGGER trig_y AFTER DELETE ON inh_child FOR EACH ROW EXECUTE FUNCTION trig_f(); \
         CREATE TRIGGER trig_z AFTER DELETE ON part_1 FOR EACH ROW EXECUTE FUNCTION trig_f();",
    )
    .unwrap();
    for s in ["DELETE FROM casc_parent WHERE id = 1", "UPDATE trig_t SET id = 2 WHERE id = 1", "DELETE FROM inh_parent WHERE id = 1", "DELETE FROM part_root WHERE id = 1", "DELETE FROM casc_child WHERE pid = 2; DELETE FROM public.casc_parent WHERE id = 1"] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("hoop-max-rows-written") && err.contains("leaves out"), "{s}: {out} {err}");
    }
    // The same through the extended protocol.
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("", b"DELETE FROM casc_parent WHERE id = 1"), raw::bind("", ""), raw::execute(""), raw::sync()]).await;
    let got = c.until_ready().await;
    assert!(String::from_utf8_lossy(&got).contains("leaves out"), "{}", String::from_utf8_lossy(&got));
    assert_eq!(rows("casc_child"), "10");
    assert_eq!(rows("casc_parent"), "1");
    assert_eq!(rows("inh_child"), "1");
    assert_eq!(rows("part_root"), "1");
    // A write to a table nothing cascades from goes as before, and so does one that does what
    // no cascade, trigger or rule of its table reacts to.
    for (s, tag) in [
        ("DELETE FROM casc_child WHERE pid = 2", "DELETE 0"),
        ("UPDATE casc_parent SET id = id WHERE id = 1", "UPDATE 1"),
        ("DELETE FROM trig_t WHERE id = 99", "DELETE 0"),
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert_eq!(out.trim(), tag, "{s}: {err}");
    }

    let gw = Gw::start("");
    for s in [
        "BEGIN; LOCK TABLE users IN SHARE MODE; COMMIT",
        "BEGIN; LOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE; COMMIT",
        "SELECT id FROM users FOR UPDATE",
        "SELECT id FROM users WHERE true FOR NO KEY UPDATE",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("agent-no-other-sessions"), "{s}: {out} {err}");
    }
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT id FROM users WHERE id = 1 FOR UPDATE"], None);
    assert_eq!(out.trim(), "1", "{err}");
}

/// Red-team round 100: a key that cascades, made where hoop's catalog could not see it yet,
/// let the DELETE of one parent row delete every child row past the ceiling (3,001 rows under
/// 1,000): in the same text as the write, earlier in the same transaction, or committed by
/// another session while the write waited for its lock. Each is refused or not committed, and
/// the child rows stay.
#[tokio::test]
async fn keys_that_cascade_made_out_of_sight_are_caught_under_the_ceiling() {
    let gw = Gw::start_with_row_ceiling(3);
    let _ = pg().psql("DROP TABLE IF EXISTS rc_child, rc_parent");
    // Made by the agent, so that its role owns them (it may add keys to them).
    let (out, err) = agent(&gw, &["-c", "CREATE TABLE rc_parent (id int PRIMARY KEY)"], None);
    assert!(err.is_empty(), "{out} {err}");
    let (out, err) = agent(&gw, &["-c", "CREATE TABLE rc_child (pid int)"], None);
    assert!(err.is_empty(), "{out} {err}");
    pg().psql("INSERT INTO rc_parent VALUES (1), (2); INSERT INTO rc_child SELECT 1 FROM generate_series(1, 10)").unwrap();
    let cascade = "ALTER TABLE rc_child ADD CONSTRAINT rc_f FOREIGN KEY (pid) REFERENCES rc_parent ON DELETE CASCADE";
    // In the write's own text.
    let (out, err) = agent(&gw, &["-c", &format!("{cascade}; DELETE FROM rc_parent WHERE id = 1")], None);
    assert!(err.contains("hoop-max-rows-written"), "{out} {err}");
    assert_eq!(rows("rc_child"), "10");
    // Earlier in the same transaction.
    let (out, err) = agent(&gw, &["-v", "ON_ERROR_STOP=0"], Some(&format!("BEGIN;\n{cascade};\nDELETE FROM rc_parent WHERE id = 1;\nCOMMIT;\n")));
    assert!(err.contains("hoop-max-rows-written"), "{out} {err}");
    assert_eq!(rows("rc_child"), "10");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_constraint WHERE conname = 'rc_f'").unwrap().trim(), "0", "the transaction did not commit");
    // Round 101: the key and the write in one extended-protocol batch (its implicit
    // transaction), and a portal bound before the key and run after it.
    let delete = b"DELETE FROM rc_parent WHERE id = 1";
    for batch in [
        vec![raw::parse("", cascade.as_bytes()), raw::bind("", ""), raw::execute(""), raw::parse("", delete), raw::bind("", ""), raw::execute(""), raw::sync()],
        vec![raw::parse("d", delete), raw::bind("pd", "d"), raw::parse("", cascade.as_bytes()), raw::bind("", ""), raw::execute(""), raw::execute("pd"), raw::sync()],
    ] {
        let mut c = raw::Raw::login(&gw).await;
        c.send(&batch).await;
        let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
        assert!(got.contains("hoop-max-rows-written"), "{got}");
        assert_eq!(rows("rc_child"), "10", "{got}");
    }
    assert_eq!(pg().psql("SELECT count(*) FROM pg_constraint WHERE conname = 'rc_f'").unwrap().trim(), "0", "no batch committed");
    // Round 102: an update that moves a row to another partition deletes it from the one it
    // was in, whose referencing key cascades.
    pg().psql(
        "DROP TABLE IF EXISTS rm_child, rm_parts; \
         CREATE TABLE rm_parts (k int, id int) PARTITION BY LIST (k); \
         CREATE TABLE rm_p1 PARTITION OF rm_parts FOR VALUES IN (1); CREATE TABLE rm_p2 PARTITION OF rm_parts FOR VALUES IN (2); \
         ALTER TABLE rm_p1 ADD PRIMARY KEY (id); \
         CREATE TABLE rm_child (pid int REFERENCES rm_p1 (id) ON DELETE CASCADE); \
         INSERT INTO rm_parts VALUES (1, 1); INSERT INTO rm_child SELECT 1 FROM generate_series(1, 10);",
    )
    .unwrap();
    let (out, err) = agent(&gw, &["-c", "UPDATE rm_parts SET k = 2 WHERE id = 1"], None);
    assert!(err.contains("hoop-max-rows-written"), "{out} {err}");
    assert_eq!(rows("rm_child"), "10");
    assert_eq!(pg().psql("SELECT k FROM rm_parts WHERE id = 1").unwrap().trim(), "1");
    let _ = pg().psql("DROP TABLE IF EXISTS rm_child, rm_parts");
    // Committed by another session while the write waited for its lock.
    let mut other = std::process::Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-p", &pg().port().to_string()])
        .env("PGPASSWORD", pg().password())
        .env("PGSSLMODE", "prefer")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut to_other = other.stdin.take().unwrap();
    {
        use std::io::Write;
        writeln!(to_other, "BEGIN; {cascade};").unwrap();
        to_other.flush().unwrap();
    }
    // The key's lock is taken before the write starts.
    for _ in 0..100 {
        if pg().psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'rc_parent' AND l.mode = 'ShareRowExclusiveLock'").unwrap().trim() == "1" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let write = {
        let gw_token = gw.token("agent-1", IdentityKind::Agent);
        let conn = gw.conninfo("agent-1");
        std::thread::spawn(move || {
            let o = std::process::Command::new("psql").args(["-X", &conn, "-c", "DELETE FROM rc_parent WHERE id = 1"]).env("PGPASSWORD", gw_token).output().unwrap();
            (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    {
        use std::io::Write;
        writeln!(to_other, "COMMIT;").unwrap();
    }
    drop(to_other);
    other.wait().unwrap();
    let (out, err) = write.join().unwrap();
    assert!(err.contains("hoop-max-rows-written") && err.contains("cascades"), "{out} {err}");
    assert_eq!(rows("rc_child"), "10", "not committed");
    assert_eq!(pg().psql("SELECT count(*) FROM rc_parent WHERE id = 1").unwrap().trim(), "1");
    let _ = pg().psql("DROP TABLE IF EXISTS rc_child, rc_parent");
}

/// Found by the fifth red-team round: row locks taken inside an agent's open transaction (a
/// `FOR UPDATE` whose WHERE is true of every row, or any filtered UPDATE) blocked other
/// sessions' writes for as long as the agent kept the transaction open, up to the hour of the
/// idle timeout; a session-level advisory lock outlived the transaction. Whether a condition
/// filters is the data's question, so the bound is time: an agent idle inside a transaction
/// for `limits.agent_idle_in_transaction_secs` loses its session, and the server rolls back.
#[tokio::test]
async fn an_agent_cannot_hold_locks_by_idling_in_a_transaction() {
    let gw = Gw::start_with_limits("agent_idle_in_transaction_secs = 2");
    ten_rows("v_lock");
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"BEGIN")]).await;
    c.until_ready().await;
    c.send(&[raw::query(b"SELECT id FROM v_lock WHERE id IS NOT NULL FOR UPDATE")]).await;
    let locked = c.until_ready().await;
    assert_eq!(messages(&locked).iter().filter(|(t, _)| *t == b'D').count(), 10, "{}", String::from_utf8_lossy(&locked));
    // While the agent holds them, another session's write to those rows waits.
    let blocked = pg().psql("SET lock_timeout = '500ms'; UPDATE v_lock SET v = 'w' WHERE id = 1");
    assert!(blocked.is_err(), "the rows are locked while the transaction is open");
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Past the limit the agent got hoop's FATAL and its session is gone...
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.s.read_to_end(&mut rest)).await;
    assert!(String::from_utf8_lossy(&rest).contains("idle inside a transaction"), "{}", String::from_utf8_lossy(&rest));
    // ...and the server rolled back: the rows are free again.
    pg().psql("SET lock_timeout = '2s'; UPDATE v_lock SET v = 'w' WHERE id = 1").expect("the write goes once the agent's locks are gone");
    // Round 40: a bare Sync or an empty query is not a statement, and does not restart the
    // clock: the session still ends past the limit, and the rows are free again.
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"BEGIN")]).await;
    c.until_ready().await;
    c.send(&[raw::query(b"SELECT id FROM v_lock WHERE id IS NOT NULL FOR UPDATE")]).await;
    c.until_ready().await;
    // A Sync and an empty query every 0.7 s, for 4 s (each used to restart the 2 s clock);
    // the session ends on the way, and later writes may fail.
    let mut rest = Vec::new();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        if c.s.write_all(&[raw::sync(), raw::query(b"")].concat()).await.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), c.s.read_to_end(&mut rest)).await;
    assert!(String::from_utf8_lossy(&rest).contains("idle inside a transaction"), "{}", String::from_utf8_lossy(&rest));
    pg().psql("SET lock_timeout = '2s'; UPDATE v_lock SET v = 'w' WHERE id = 1").expect("the write goes once the agent's locks are gone");
    // Session-level advisory locks outlive transactions: refused.
    let (out, err) = agent(&gw, &["-c", "SELECT pg_advisory_lock(42)"], None);
    assert!(err.contains("agent-no-other-sessions"), "{out} {err}");
    // Round 6: a long statement is not idling, and it ran on after its client left, locks and
    // all. A client that goes away has what runs for it cancelled.
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"BEGIN")]).await;
    c.until_ready().await;
    c.send(&[raw::query(b"SELECT id FROM v_lock WHERE id IS NOT NULL FOR UPDATE")]).await;
    c.until_ready().await;
    c.send(&[raw::query(b"SELECT pg_sleep(600)")]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pg().psql("SET lock_timeout = '300ms'; UPDATE v_lock SET v = 'x' WHERE id = 2").is_err(), "locked while it runs");
    drop(c);
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg().psql("SET lock_timeout = '3s'; UPDATE v_lock SET v = 'x' WHERE id = 2").expect("the statement was cancelled with its client, and its locks went");
}

/// hoop keeps a reading of every named statement and portal: their number per session is
/// bounded (10,000), past which the session ends with a clear error and the gateway carries on.
#[tokio::test]
async fn named_statements_per_session_are_bounded() {
    let gw = Gw::start("");
    let mut c = raw::Raw::login(&gw).await;
    let mut batch: Vec<Vec<u8>> = (0..10_001).map(|i| raw::parse(&format!("s{i}"), b"SELECT 1")).collect();
    batch.push(raw::sync());
    c.send(&batch).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), c.s.read_to_end(&mut got)).await;
    assert!(String::from_utf8_lossy(&got).contains("more than 10000 prepared statements"), "{}", got.len());
    assert_eq!(agent(&gw, &["-At", "-c", "SELECT 'alive'"], None).0.trim(), "alive");
    // And by the bytes of text they hold (twentieth round: 40 statements of 30 MB held 1.2 GB;
    // round 29: what the server keeps is per column of the text, 1.74 GB for 6 MB of text):
    // an agent's session 1 MiB, portals counted with their statement's text.
    let big = |i: usize, kib: usize| format!("SELECT {i} /* {} */", "x".repeat(kib << 10));
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("t0", big(0, 900).as_bytes()), raw::sync()]).await;
    let got = c.until_ready().await;
    assert!(got.starts_with(b"1"), "{}", String::from_utf8_lossy(&got));
    // hoop ends the session once it has read the Parse: the Sync may meet a closed socket.
    let _ = c.s.write_all(&[raw::parse("t1", big(1, 200).as_bytes()), raw::sync()].concat()).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), c.s.read_to_end(&mut got)).await;
    assert!(String::from_utf8_lossy(&got).contains("at most 1024 KiB of text"), "{}", String::from_utf8_lossy(&got));
    // Portals of one statement, each one the server's own copy of its plan.
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"BEGIN"), raw::parse("w", big(0, 400).as_bytes()), raw::bind("p1", "w"), raw::sync()]).await;
    let got = c.until_ready().await;
    let got = [got, c.until_ready().await].concat();
    assert!(!String::from_utf8_lossy(&got).contains("ERROR"), "{}", String::from_utf8_lossy(&got));
    let _ = c.s.write_all(&[raw::bind("p2", "w"), raw::sync()].concat()).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), c.s.read_to_end(&mut got)).await;
    assert!(String::from_utf8_lossy(&got).contains("at most 1024 KiB of text"), "{}", String::from_utf8_lossy(&got));
    // In SQL: a statement past the bound is not kept, so running it is refused.
    let mut c = raw::Raw::login(&gw).await;
    for i in 0..2 {
        c.send(&[raw::query(format!("PREPARE p{i} AS {}", big(i, 900)).as_bytes())]).await;
        let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
        assert!(got.contains("PREPARE"), "{got}");
    }
    c.send(&[raw::query(b"EXECUTE p0")]).await;
    assert!(String::from_utf8_lossy(&c.until_ready().await).contains("SELECT 1"));
    c.send(&[raw::query(b"EXECUTE p1")]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("has not seen prepared"), "{got}");
}

/// Found by the eighth red-team round: a value's characters spelled out by the notices its
/// statement raised (`to_tsquery` of as many spaces as a character's code quotes them back),
/// by whether a derived output was NULL, by which sequence a CASE over it moved, and by which
/// subqueries EXPLAIN ANALYZE reported "never executed". Notices of a statement that reads a
/// masked value are withheld like its errors, a masked column's NULL is masked too, and a
/// branch chosen by a masked value that runs a subquery or a function, or EXPLAIN ANALYZE of a
/// statement that reads one, chooses by it (held for review).
#[test]
fn notices_nulls_and_branches_over_masked_values_do_not_spell_them_out() {
    let gw = Gw::start_with("", 1, &[]);
    // (`to_tsquery` fails on some texts: held as choosing by the value since round 112, and
    // approved here, its notices are still dropped. Branches that run code are not approved.)
    let reviewer = FilterApprover::start(&gw, false);
    pg().psql("DROP SEQUENCE IF EXISTS rt8_s0; CREATE SEQUENCE rt8_s0; DROP TABLE IF EXISTS rt8_t0; CREATE TABLE rt8_t0 (x int);").unwrap();
    // Notices: dropped (their words and, since round 9, their presence).
    for s in [
        "SELECT to_tsquery('simple', repeat(' ', ascii(substr(email, 1, 1)))) FROM users WHERE id = 1",
        "SELECT cast(repeat(' ', ascii(email)) AS tsquery) IS NULL FROM users WHERE id = 1",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(server_notices(&err).is_empty() && !err.contains("lexemes") && !err.contains(&" ".repeat(90)), "{s}: {err}");
        assert_eq!(out.lines().count(), 1, "{s}: {out:?} {err:?}");
    }
    // The same notice of a statement that reads no masked value is the server's.
    let (_, err) = agent(&gw, &["-c", "SELECT to_tsquery('simple', '  ')"], None);
    assert!(err.contains("lexemes"), "{err}");
    // NULL or not: the same masked value either way ('a' is 97).
    for (s, want) in [
        ("SELECT CASE WHEN ascii(email) = 97 THEN 1 END, CASE WHEN ascii(email) = 98 THEN 1 END FROM users WHERE id = 1", "0|0"),
        ("SELECT nullif(ascii(email), 97), nullif(ascii(email), 98) FROM users WHERE id = 1", "0|0"),
    ] {
        let (out, err) = agent(&gw, &["-At", "-c", s], None);
        assert_eq!(out.trim(), want, "{s}: {err}");
    }
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT CASE WHEN ascii(email) = 97 THEN 'yes' END, CASE WHEN ascii(email) = 98 THEN 'yes' END FROM users WHERE id = 1"], None);
    let cells: Vec<&str> = out.trim().split('|').collect();
    assert!(cells.len() == 2 && cells[0] == cells[1] && cells[0].contains("REDACTED"), "{out} {err}");
    // And in COPY, where a NULL is `\N`.
    let (out, err) = agent(&gw, &["-c", "COPY (SELECT CASE WHEN ascii(email) = 97 THEN 1 END, CASE WHEN ascii(email) = 98 THEN 1 END FROM users WHERE id = 1) TO STDOUT"], None);
    assert!(!out.contains("\\N"), "{out} {err}");
    drop(reviewer);
    // Branches that run code, and EXPLAIN ANALYZE: held (the review times out), nothing ran.
    for s in [
        "SELECT CASE WHEN ascii(email) = 97 THEN nextval('rt8_s0') END FROM users WHERE id = 1",
        "SELECT coalesce(nullif(ascii(email), 97), nextval('rt8_s0')) FROM users WHERE id = 1",
        "SELECT ascii(email) = 98 OR nextval('rt8_s0') > 0 FROM users WHERE id = 1",
        "SELECT CASE WHEN ascii(email) = 97 THEN (SELECT count(*) FROM rt8_t0) END FROM users WHERE id = 1",
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT CASE WHEN ascii(email) = 97 THEN (SELECT count(*) FROM rt8_t0) END FROM users WHERE id = 1",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("review timed out"), "{s}: {out} {err}");
        assert!(out.trim().is_empty(), "{s}: {out}");
    }
    assert_eq!(pg().psql("SELECT is_called FROM rt8_s0").unwrap().trim(), "f", "no branch ran nextval");
    assert_eq!(pg().psql("SELECT coalesce(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = 'rt8_t0'").unwrap().trim(), "0", "no subquery ran");
    // A branch over a value that is not masked goes as before.
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT CASE WHEN id = 1 THEN (SELECT count(*) FROM rt8_t0) END FROM users WHERE id = 1"], None);
    assert_eq!(out.trim(), "0", "{err}");
}

/// Red-team PG round 112: whether a statement fails is a bit a masked value can choose
/// (`1/(ascii(card) - 52)` fails only for a card starting with `4`; a cast, a pattern, a
/// branch or an aggregate's FILTER the same). Such statements are held as choosing rows by a
/// masked value: the client gets hoop's hold, never the server's error or its absence.
#[test]
fn failures_a_masked_value_chooses_are_held() {
    let gw = Gw::start_with("", 1, &[]);
    let oracles = [
        "SELECT 1/(ascii(card) - 52) FROM users WHERE id = 1",
        "SELECT translate(substr(card, 1, 1), '4', 'x')::int FROM users WHERE id = 1",
        "SELECT 'x' ~ translate(substr(card, 1, 1), '4', '(') FROM users WHERE id = 1",
        "SELECT CASE WHEN card LIKE '4%' THEN 1/(id - id) END FROM users WHERE id = 1",
        "SELECT card LIKE '4%' AND 1/(id - id) = 1 FROM users WHERE id = 1",
        "SELECT sum(1/(id - id)) FILTER (WHERE card LIKE '4%') FROM users",
        // Round 114: the order an aggregate adds its rows in decides whether it overflows.
        "SELECT sum(x ORDER BY k) FROM (SELECT 1.7e308::float8 x, 0 k UNION ALL SELECT 1.7e308::float8, ascii(card) FROM users WHERE id = 1 UNION ALL SELECT -1.7e308, 53 - 0.5) s",
        // Round 115: a strict function skipped on a NULL, rows compared column by column, a
        // subquery read row by row.
        "SELECT substr(nullif(substr(card, 1, 1), '5'), 1, -1) FROM users WHERE id = 1",
        "SELECT (SELECT row(substr(card, 1, 1), '1'::json) FROM users WHERE id = 1) = (SELECT row('4'::text, '1'::json))",
        "SELECT substr(c.card, 1, 1) <> ALL (SELECT CASE WHEN g = 1 THEN '5' ELSE (1/(g - 2))::text END FROM generate_series(1, 2) g) FROM users c WHERE c.id = 1",
        // Round 116: a subscript picks by the value, and `%I` of the NULL past the bounds, a
        // row with a `json` column compared, a `json[]` slice compared, an `int[]` slice joined
        // to a 2-D array fail only for the one it picks.
        "SELECT format('%I', ('[53:53]={x}'::text[])[ascii(card)]) FROM users WHERE id = 1",
        "SELECT ('[52:52]={\"(a,1)\"}'::rt116[])[ascii(card)] = '(a,1)'::rt116 FROM users WHERE id = 1",
        "SELECT ('[52:52]={1}'::json[])[ascii(card):ascii(card)] = '{1}'::json[] FROM users WHERE id = 1",
        "SELECT ('[52:52]={1}'::int[])[ascii(card):ascii(card)] || '{{1,2}}'::int[] FROM users WHERE id = 1",
    ];
    pg().psql("DROP TYPE IF EXISTS rt116; CREATE TYPE rt116 AS (a text, b json)").unwrap();
    // Straight to the server, each fails for Ann's card and not for Bob's: an answer.
    for s in oracles {
        assert!(pg().psql(s).is_err(), "{s}");
        assert!(pg().psql(&s.replace("id = 1", "id = 2").replace("'4%'", "'9%'").replace("52", "57")).is_ok(), "{s}");
    }
    for s in oracles {
        let (out, err) = agent(&gw, &["-At", "-c", s], None);
        assert!(err.contains("review timed out") && err.contains("agent-review-masked-filters"), "{s}: {out} {err}");
        assert!(out.trim().is_empty() && !err.contains("division by zero") && !err.contains("invalid"), "{s}: {out} {err}");
    }
    // Round 113: a type of the agent's under a text type's name (a domain `public.text` whose
    // CHECK fails on chosen values, a temporary table `text` whose row type is searched before
    // pg_catalog's, a schema put before pg_catalog) is refused; a cast qualified by another
    // schema is held.
    for s in [
        "CREATE DOMAIN public.text AS pg_catalog.text CHECK (value LIKE '4%')",
        "CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (value LIKE '4%')",
        "CREATE TEMP TABLE text (a date)",
        "SET search_path = public, pg_catalog",
        // Round 114: a range type's multirange, named by an option.
        "CREATE TYPE pg_temp.r114 AS RANGE (subtype = pg_catalog.text, multirange_type_name = pg_temp.text)",
    ] {
        let (_, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("agent-no-shadowing-names"), "{s}: {err}");
    }
    assert_eq!(pg().psql("SELECT count(*) FROM pg_type WHERE typname = 'text' AND typnamespace <> 'pg_catalog'::regnamespace").unwrap().trim(), "0");
    pg().psql("DROP DOMAIN IF EXISTS dd113").unwrap();
    let (_, err) = agent(&gw, &["-c", "CREATE DOMAIN dd113 AS text CHECK (value LIKE '4%')", "-c", "SELECT card::public.dd113 FROM users WHERE id = 1"], None);
    assert!(err.contains("review timed out") && err.contains("agent-review-masked-filters"), "{err}");
    // Text past 1 GB fails: a masked value's length (or its count of a letter) chooses then.
    for s in [
        "SELECT card || repeat('x', 1073741800) FROM users WHERE id = 1",
        "SELECT replace(card, '1', repeat('x', 100000000)) FROM users WHERE id = 1",
        "SELECT array_to_json(ARRAY[card, repeat('x', 1073741800)]) FROM users WHERE id = 1",
    ] {
        let (out, err) = agent(&gw, &["-At", "-c", s], None);
        assert!(err.contains("review timed out") && err.contains("agent-review-masked-filters") && out.is_empty(), "{s}: {out} {err}");
    }
    // Round 116's sizes: a literal multiplied until a few bytes of a masked value tip a value,
    // or a row the server sends, past 1 GB (held without running: each probe would have the
    // server build a gigabyte). Under this gateway's 1 MiB messages, the literal is one
    // repeated; a text over 1 MiB is refused once held (a reviewer could not read it whole).
    let big = format!("'{}'", "a".repeat(1_000_000));
    let tip = "translate(substr(card, 1, 1), '4', '')";
    let held = |gw: &Gw, s: &str| {
        let (out, err) = agent(gw, &["-At"], Some(s));
        // (Refused as unreviewable only once a rule holds it.)
        let refused = (err.contains("agent-review-masked-filters") && err.contains("review timed out")) || err.contains("hoop-unreviewable-command");
        assert!(refused && out.is_empty(), "{}: {out} {err}", s.get(..100).unwrap_or(s));
    };
    for s in [
        format!("SELECT format('{}', {big} || {tip}) FROM users WHERE id = 1", "%1$s".repeat(1074)),
        format!("SELECT to_jsonb(replace({big}, 'a', '{}') || {tip}) FROM users WHERE id = 1", "x".repeat(268)),
        format!("SELECT r, r || {tip} FROM (SELECT replace({big}, 'a', '{}') r) s, users WHERE id = 1", "x".repeat(537)),
        // Round 118: a width in the format's text.
        format!("SELECT format('%1073741819s%s', '', {tip}) FROM users WHERE id = 1"),
        // Round 119: a declared length pads (`char(N)`, `bit(N)`), and jsonb's strings end at
        // 256 MB; an agent's own type may be such a `char(N)`.
        format!("SELECT jsonb_typeof(to_jsonb(concat({} {tip}))) FROM users WHERE id = 1", "'x'::char(1048576), ".repeat(260)),
        format!("SELECT concat('x'::pg_temp.pad119, {tip}) FROM users WHERE id = 1"),
        // Round 120: built in a FROM item or a CTE, then repeated.
        // (Each is 2 MiB, which a column is not weighed at elsewhere.)
        format!("SELECT jsonb_typeof(to_jsonb(concat({} {tip}))) FROM (VALUES (concat('x'::char(1048576), 'x'::char(1048576)))) v(c), users WHERE id = 1", "v.c, ".repeat(130)),
        format!("WITH v AS (SELECT repeat('x', 1000000) || repeat('x', 1000000) c) SELECT jsonb_typeof(to_jsonb(concat({} {tip}))) FROM v, users WHERE id = 1", "v.c, ".repeat(130)),
    ] {
        held(&gw, &s);
    }
    // A type padding past a mebibyte is not for agents at all (round 120: their own table's
    // `char(10485760)` column reads as a column of a mebibyte everywhere else).
    for s in [
        format!("SELECT jsonb_typeof(to_jsonb(concat({} {tip}))) FROM users WHERE id = 1", "'x'::char(10485760), ".repeat(26)),
        format!("SELECT concat({} {tip}) FROM users WHERE id = 1", "B'1'::bit(83886080), ".repeat(13)),
        "CREATE TEMP TABLE pad120 (c char(10485760))".to_string(),
    ] {
        let (out, err) = agent(&gw, &["-At", "-c", &s], None);
        assert!(err.contains("agent-no-unreadable-sql") && out.is_empty(), "{}: {out} {err}", s.get(..100).unwrap_or(&s));
    }
    // ... and no agent relation or type takes a built-in type's name, which a cast could
    // then write bare and mean the agent's.
    let (_, err) = agent(&gw, &["-c", "CREATE TEMP TABLE json (c char(10))"], None);
    assert!(err.contains("agent-no-shadowing-names"), "{err}");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_type WHERE typname = 'json' AND typnamespace <> 'pg_catalog'::regnamespace").unwrap().trim(), "0");
    // Literals past a mebibyte where messages may be larger (64 MiB by default).
    let gw = Gw::start_with_limits("max_message_bytes = 8388608");
    let big = format!("'{}'", "a".repeat(2_000_000));
    let times = |n: usize| format!("replace({big}, 'a', '{}')", "x".repeat(n));
    for s in [format!("SELECT concat({}, {tip}) FROM users WHERE id = 1", times(536)), format!("SELECT {}, {} || {tip} FROM users WHERE id = 1", times(300), times(236))] {
        held(&gw, &s);
    }
    // The same functions over values that are not masked, and masked values through
    // functions that cannot fail, go as before.
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT 1/(id + 1), name::text, CASE WHEN id = 1 THEN 1/(id - id + 1) END FROM users WHERE id = 1"], None);
    assert_eq!(out.trim(), "0|Ann|1", "{err}");
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT lower(card), substr(card, 1, 4), card LIKE '4%' FROM users WHERE id = 1"], None);
    assert!(!out.contains("4111") && out.contains("REDACTED"), "{out} {err}");
    // Compatibility round 4: JSON built of a masked value comes back masked, not held; a key
    // that may be NULL (which fails) is held.
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT json_build_object('id', id, 'card', card), jsonb_build_array(card) FROM users WHERE id = 1"], None);
    assert!(!out.contains("4111") && out.contains("REDACTED") && !err.contains("review"), "{out} {err}");
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT json_build_object(nullif(substr(card, 1, 1), '4'), 1) FROM users WHERE id = 1"], None);
    assert!(out.is_empty() && err.contains("agent-review-masked-filters"), "{out} {err}");
    assert!(pg().psql("SELECT json_build_object(nullif(substr(card, 1, 1), '4'), 1) FROM users WHERE id = 1").is_err());
}

/// A ticket names every rule that would hold its action, not only the first that did: a
/// statement held as choosing by a masked value told its reviewer nothing of the hour's
/// masked-values budget its identity had spent, and approving it let it past both.
#[test]
fn a_ticket_names_every_rule_that_holds_its_action() {
    let gw = Gw::start_with("[policy.budgets]\nmasked_values_1h = 1\n", 10, &[]);
    // The hour's budget spent in the session (two masked cards came back), then a statement
    // both hold.
    let reviewer = hoop_harness::review::decide_first_ticket(gw.gate.approvals(), "alice", false, "");
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT card FROM users", "-c", "SELECT 1/(ascii(card) - 52) FROM users WHERE id = 1"], None);
    let ticket = reviewer.join().unwrap();
    assert!(out.contains("REDACTED") && out.lines().count() == 2 && err.contains("denied by reviewer"), "{out} {err}");
    assert_eq!(ticket.rule, "agent-review-masked-filters");
    assert_eq!(ticket.detail, "also held by agent-budget-masked-values: approving lets it past them too");
}

/// Compatibility round 4: asyncpg sets `jit` with a bind parameter when it connects, and hoop
/// refused it as a setting computed from the data, which broke every later array or enum
/// (its type introspection). A bind parameter is the client's own value; a setting it could
/// turn into a masking bypass (`search_path`, `role`) is still refused.
#[tokio::test]
async fn settings_and_notifications_take_bind_parameters() {
    let gw = Gw::start("");
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("", b"SELECT set_config('jit', $1, false)"), raw::bind_text("", "", &["off"]), raw::execute(""), raw::sync()]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("off") && !got.contains("hoop"), "{got}");
    c.send(&[raw::query(b"SHOW jit")]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("off"), "the server took it: {got}");
    c.send(&[raw::parse("", b"SELECT pg_notify($1, $2)"), raw::bind_text("", "", &["jobs", "7"]), raw::execute(""), raw::sync()]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(!got.contains("hoop"), "{got}");
    c.send(&[raw::parse("", b"SELECT set_config('search_path', $1, false)"), raw::bind_text("", "", &["public, pg_catalog"]), raw::execute(""), raw::sync()]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("agent-no-shadowing-names"), "{got}");
    c.send(&[raw::query(b"SHOW search_path")]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(!got.contains("public, pg_catalog"), "{got}");
}

/// Compatibility round 4: a bind parameter in the select list beside a masked column was held
/// as a value of unknown size (pgjdbc's `select ?, id, email` waited without a word). A
/// parameter is no larger than the largest message the listener takes (1 MiB here): it comes
/// back beside the masked value.
#[tokio::test]
async fn a_bind_parameter_beside_a_masked_column_is_not_held() {
    let gw = Gw::start("");
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("", b"SELECT card, $1::int4 + 1, $2 FROM users WHERE id = 1"), raw::bind_text("", "", &["41", "tag"]), raw::execute(""), raw::sync()]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("42") && got.contains("tag") && got.contains("REDACTED") && !got.contains("4111") && !got.contains("hoop:"), "{got}");
}

/// Identity red-team round 112: an operator's rule holding every agent write put an INSERT
/// with a `DO` block behind it before a reviewer, where the default rules deny the block
/// (`agent-no-unreadable-sql`), and masking a "credential" inside it hid its DELETE from the
/// ticket. A review does not lift a later rule's denial: the statement is refused at once, and
/// nothing of it ran; a write only the operator's rule holds is held as before.
#[test]
fn a_review_does_not_lift_a_later_denial() {
    let gw = Gw::start(
        r#"
[[policy.rules]]
name = "review-agent-writes"
when = 'identity.kind == "agent" && action.kind == "sql" && action.sql.kinds.exists(k, k in ["insert", "update", "delete"])'
then = "review"
"#,
    );
    pg().psql("DROP TABLE IF EXISTS pay112; CREATE TABLE pay112 (id int); INSERT INTO pay112 SELECT generate_series(1, 10)").unwrap();
    let smuggled = "insert into pay112 values (20); DO $$ begin /*db_password=*/ delete from pay112 where id <= 5; --*/\nend $$;";
    let (_, err) = agent(&gw, &["-c", smuggled], None);
    assert!(err.contains("agent-no-unreadable-sql") && err.contains("does not lift"), "{err}");
    assert!(gw.gate.approvals().list().is_empty(), "no ticket");
    let (_, err) = agent(&gw, &["-c", "insert into pay112 values (21)"], None);
    assert!(err.contains("review-agent-writes") && err.contains("review timed out"), "{err}");
    assert_eq!(pg().psql("SELECT count(*), min(id), max(id) FROM pay112").unwrap().trim(), "10|1|10");
}

/// Found by the seventh red-team round: a protocol portal's name reused by an SQL cursor
/// (`CLOSE x; DECLARE x CURSOR FOR <derived values>`) was executed through the protocol as
/// the portal hoop had seen bound, masked by that statement's plan; and a statement made by
/// SQL `PREPARE` bound through the protocol ran without its lineage. Every value came back in
/// clear (reversed). Now `CLOSE` and `DECLARE` end hoop's portal of that name, so the Execute is
/// refused as unknown, and a Bind of an SQL-prepared statement is refused (run it with EXECUTE).
#[tokio::test]
async fn cursors_and_sql_prepared_statements_cannot_stand_in_for_protocol_names() {
    let gw = Gw::start("");
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("s", b"SELECT 1 AS a"), raw::sync()]).await;
    c.until_ready().await;
    for text in [&b"CLOSE x; DECLARE x CURSOR FOR SELECT reverse(email) AS a FROM users"[..], b"CLOSE ALL; DECLARE x CURSOR FOR SELECT reverse(email) AS a FROM users"] {
        c.send(&[raw::query(b"BEGIN")]).await;
        c.until_ready().await;
        c.send(&[raw::bind("x", "s"), raw::sync()]).await;
        let bound = c.until_ready().await;
        assert_eq!(messages(&bound).iter().filter(|(t, _)| *t == b'2').count(), 1, "{}", String::from_utf8_lossy(&bound));
        c.send(&[raw::query(text)]).await;
        let declared = c.until_ready().await;
        assert!(String::from_utf8_lossy(&declared).contains("DECLARE CURSOR"), "{}", String::from_utf8_lossy(&declared));
        c.send(&[raw::execute("x"), raw::sync()]).await;
        let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
        assert!(got.contains("has not seen bound"), "{got}");
        assert!(!got.contains("elpmaxe.proc@nna") && !got.contains("@"), "{got}");
        c.send(&[raw::query(b"ROLLBACK")]).await;
        c.until_ready().await;
    }

    c.send(&[raw::query(b"PREPARE ps AS SELECT id, reverse(email) AS a, translate(card, ' ', '.') AS b FROM users")]).await;
    c.until_ready().await;
    // EXECUTE masks it by what it holds.
    c.send(&[raw::query(b"EXECUTE ps")]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("REDACTED") && !got.contains("elpmaxe") && !got.contains("4111.1111"), "{got}");
    // A protocol Bind of it is refused, and nothing of it comes back.
    c.send(&[raw::bind("", "ps"), raw::execute(""), raw::sync()]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("prepared in SQL"), "{got}");
    assert!(!got.contains("elpmaxe") && !got.contains("4111.1111") && !got.contains("5500.0000"), "{got}");
}

/// Found by the ninth red-team round. Notices whose text was withheld still spelled a value
/// by whether one came between two rows; `EXPLAIN ANALYZE EXECUTE p` reported what `p` did
/// (its sort's memory, as large as a value's character code) unheld; and an SQL cursor the
/// server had dropped (a protocol Close, a savepoint rolled back, `BEGIN; DECLARE; COMMIT` in
/// one text) stayed in hoop's map, so a FETCH of a portal bound later under its name was
/// masked as the old cursor's query.
#[tokio::test]
async fn notice_presence_explain_execute_and_dropped_cursors() {
    let gw = Gw::start_with("", 1, &[]);
    // (`to_tsquery` fails on some texts: held as choosing by the value since round 112;
    // approved here, its notices are still dropped.)
    let reviewer = FilterApprover::start(&gw, false);
    // Notices of a statement reading masked values are dropped: none between the rows, and
    // the rows are the same whether the bit is 0 or 1.
    let bits = "SELECT k, s.q FROM generate_series(0, 7) k, LATERAL (SELECT to_tsquery('simple', repeat('a', (ascii(substr(email, 1, 1)) >> k) & 1)) q FROM users WHERE id = 1) s";
    let (out, err) = agent(&gw, &["-At", "-c", bits], None);
    assert!(server_notices(&err).is_empty(), "{err}");
    assert_eq!(out.lines().count(), 8, "{out} {err}");
    drop(reviewer);
    // A statement that reads no masked value keeps its notices.
    let (_, err) = agent(&gw, &["-c", "SELECT to_tsquery('simple', '')"], None);
    assert!(err.contains("NOTICE") && err.contains("lexemes"), "{err}");
    // EXPLAIN ANALYZE of a prepared statement reading a masked value is held like the statement.
    let (out, err) = agent(
        &gw,
        &["-c", "PREPARE m3(int) AS SELECT id, repeat('x', 1024 * ascii(substr(email, 1, 1))) r FROM users WHERE id = $1 ORDER BY name; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE m3(1)"],
        None,
    );
    // (In one text with its PREPARE, the EXECUTE names a statement not yet prepared: refused.)
    assert!(err.contains("review timed out") || err.contains("hoop-unknown-statement"), "{out} {err}");
    assert!(!out.contains("Memory"), "{out}");

    // Dropped cursors: a portal bound later under the name is what FETCH reads, masked by its
    // own statement.
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("sm", b"SELECT id, reverse(email) AS a FROM users"), raw::sync()]).await;
    c.until_ready().await;
    let close_portal = {
        let mut m = vec![b'C', 0, 0, 0, 7, b'P', b'x', 0];
        m[1..5].copy_from_slice(&7i32.to_be_bytes());
        m
    };
    for (how, drop) in [
        ("a protocol Close", vec![close_portal.clone(), raw::sync()]),
        ("a savepoint rolled back", vec![raw::query(b"ROLLBACK TO s")]),
    ] {
        c.send(&[raw::query(b"BEGIN; SAVEPOINT s; DECLARE x CURSOR FOR SELECT 1 AS id, 2 AS a")]).await;
        c.until_ready().await;
        c.send(&drop).await;
        c.until_ready().await;
        c.send(&[raw::bind("x", "sm"), raw::sync()]).await;
        let bound = String::from_utf8_lossy(&c.until_ready().await).into_owned();
        c.send(&[raw::query(b"FETCH ALL FROM x")]).await;
        let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
        assert!(!got.contains("elpmaxe.proc@nna") && !got.contains("elpmaxe.proc@bob"), "{how}: {bound} {got}");
        c.send(&[raw::query(b"ROLLBACK")]).await;
        c.until_ready().await;
    }
    // A cursor declared and committed in one text is gone with the transaction.
    c.send(&[raw::query(b"BEGIN; DECLARE y CURSOR FOR SELECT 1 AS id, 2 AS a; COMMIT")]).await;
    c.until_ready().await;
    c.send(&[raw::query(b"BEGIN")]).await;
    c.until_ready().await;
    c.send(&[raw::bind("y", "sm"), raw::sync()]).await;
    c.until_ready().await;
    c.send(&[raw::query(b"FETCH ALL FROM y")]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(!got.contains("elpmaxe.proc@nna"), "{got}");
}

/// Found by the ninth red-team round: rows stream before an error, so after how many rows a
/// statement failed spelled a value (`1 / (ascii(email) - g)` over `generate_series(0, 255)`
/// fails at row 97, a character per statement). Rows of a statement that reads masked values
/// are held until it ends (up to 1 MiB): failed, the client gets the error and no rows.
#[tokio::test]
async fn rows_before_an_error_do_not_count_out_a_masked_value() {
    let gw = Gw::start("");
    let mut c = raw::Raw::login(&gw).await;
    let rows_then_error = |got: &[u8]| {
        let m = messages(got);
        (m.iter().filter(|(t, _)| *t == b'D').count(), m.iter().any(|(t, _)| *t == b'E'))
    };
    c.send(&[raw::query(b"WITH t AS MATERIALIZED (SELECT g, 1 / (ascii(substr(email, 1, 1)) - g) x FROM users, generate_series(0, 255) g WHERE id = 1) SELECT g FROM t")]).await;
    let got = c.until_ready().await;
    assert_eq!(rows_then_error(&got), (0, true), "{}", String::from_utf8_lossy(&got));
    // Through the extended protocol too.
    c.send(&[raw::parse("", b"SELECT g, 1 / (ascii(substr(email, 1, 1)) - g) FROM users, generate_series(0, 255) g WHERE id = 1"), raw::bind("", ""), raw::execute(""), raw::sync()]).await;
    let got = c.until_ready().await;
    assert_eq!(rows_then_error(&got), (0, true), "{}", String::from_utf8_lossy(&got));
    // A statement that reads no masked value streams its rows up to its error as before.
    c.send(&[raw::query(b"SELECT 1 / (3 - g) FROM generate_series(0, 255) g")]).await;
    let got = c.until_ready().await;
    assert_eq!(rows_then_error(&got), (3, true), "{}", String::from_utf8_lossy(&got));
    // And one that reads masked values and succeeds returns every row.
    c.send(&[raw::query(b"SELECT g, email FROM users, generate_series(1, 1000) g")]).await;
    let got = c.until_ready().await;
    assert_eq!(rows_then_error(&got), (2000, false));
}

/// Found by the tenth red-team round: a prepared statement run inside another one was not
/// read as run. `CREATE TABLE … AS EXECUTE p` stored `p`'s derived values (reversibly) in a
/// table a plain SELECT returned, `EXPLAIN ANALYZE EXECUTE p` (prepared in an earlier text)
/// reported its sort's memory unheld, and the statistics views counted the work a value made
/// the server do (a sort's spill in `pg_stat_database.temp_bytes`).
#[test]
fn statements_run_inside_others_and_statistics_do_not_carry_masked_values() {
    let gw = Gw::start_with("", 1, &[]);
    let prepare = "PREPARE m4 AS SELECT id, replace(reverse(email), '@', ' ') e, replace(card, ' ', '/') k FROM users";
    for s in ["CREATE TABLE rt10_pub AS EXECUTE m4", "CREATE TEMP TABLE t4 AS EXECUTE m4", "CREATE TABLE IF NOT EXISTS rt10_pub (a, b, c) AS EXECUTE m4 WITH DATA"] {
        let (out, err) = agent(&gw, &["-c", prepare, "-c", s, "-c", "SELECT * FROM t4"], None);
        assert!(err.contains("hoop-masked-lineage"), "{s}: {out} {err}");
        assert!(!out.contains("elpmaxe") && !out.contains("4111/1111"), "{s}: {out}");
    }
    assert_eq!(pg().psql("SELECT to_regclass('rt10_pub') IS NULL").unwrap().trim(), "t", "no table was made");
    let (out, err) = agent(
        &gw,
        &["-c", "PREPARE m3(int) AS SELECT id, repeat('x', 1024 * ascii(substr(email, 1, 1))) r FROM users WHERE id = $1 ORDER BY name", "-c", "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE m3(1)"],
        None,
    );
    assert!(err.contains("review timed out"), "{out} {err}");
    assert!(!out.contains("Memory"), "{out}");
    for s in ["SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()", "SELECT pg_stat_force_next_flush()", "SELECT heap_blks_read FROM pg_statio_user_tables"] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("agent-no-other-sessions") && out.trim().is_empty(), "{s}: {out} {err}");
    }
}

/// Found by the eleventh red-team round: `pg_sequence_last_value` of a sequence named by a
/// masked value's bits kept each chosen sequence locked, and `pg_locks` listed them (every
/// value in clear, 168 bits a statement); and the SQLSTATE of a failing statement named which
/// of a dozen tests (each failing at its own threshold over a masked character) failed first.
/// Functions that keep the sequence they open locked are sinks, `pg_locks` is other sessions',
/// and the SQLSTATEs of data errors in statements reading masked values become one.
#[tokio::test]
async fn locks_and_error_codes_do_not_carry_masked_values() {
    let gw = Gw::start_with("", 1, &[]);
    let (out, err) = agent(
        &gw,
        &[
            "-c", "CREATE TEMP SEQUENCE s_0; CREATE TEMP SEQUENCE s_1",
            "-c", "SELECT pg_sequence_last_value(('s_' || (ascii(email) & 1))::regclass) FROM users WHERE id = 1",
            "-c", "SELECT relation::regclass FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'",
            "-c", "SELECT * FROM pg_lock_status()",
        ],
        None,
    );
    assert!(err.contains("hoop-masked-lineage"), "{out} {err}");
    assert!(err.matches("agent-no-other-sessions").count() >= 2, "{out} {err}");
    assert!(!out.contains("s_1") && !out.contains("s_0"), "{out}");
    // Round 12: large-object descriptors opened by an oid a value chose, read back by number.
    let (out, err) = agent(
        &gw,
        &[
            "-c", "SELECT lo_from_bytea(424200, '0'), lo_from_bytea(424201, '1')",
            "-c", "BEGIN; SELECT lo_open(424200 + (ascii(email) & 1), 262144) FROM users WHERE id = 1; SELECT encode(loread(0, 1), 'escape'); COMMIT",
            "-c", "SELECT encode(lo_get(424200 + (ascii(email) & 1)), 'escape') FROM users WHERE id = 1",
        ],
        None,
    );
    assert!(err.matches("hoop-masked-lineage").count() >= 2, "{out} {err}");
    assert!(!out.lines().any(|l| l.trim() == "1" || l.trim() == "0"), "{out} {err}");
    // The class, not only its names: any function that takes an object identifier (as the
    // catalog says), given a value derived from a masked column, opens what the value chose.
    for s in [
        "SELECT pg_relation_filenode((16384 + (ascii(email) & 1))::oid::regclass) FROM users WHERE id = 1",
        "SELECT format_type(ascii(email), NULL) FROM users WHERE id = 1",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("hoop-masked-lineage") && out.trim().is_empty(), "{s}: {out} {err}");
    }
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT upper(email) FROM users WHERE id = 1"], None);
    assert!(out.contains("REDACTED") && !err.contains("hoop-masked-lineage"), "{out} {err}");

    // (Held as choosing by the value since round 112; approved, the error still says nothing.)
    let _reviewer = FilterApprover::start(&gw, false);
    let mut c = raw::Raw::login(&gw).await;
    for q in [
        &b"SELECT 1 / greatest(sign(ascii(email) - 200), 0) FROM users WHERE id = 1"[..],
        b"SELECT make_date(2000, 1, least(ascii(email) - 200, 0)) FROM users WHERE id = 1",
        b"SELECT regexp_match('a', repeat('(', greatest(200 - ascii(email), 0))) FROM users WHERE id = 1",
    ] {
        c.send(&[raw::query(q)]).await;
        let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
        assert!(got.contains("C22000\0") && !got.contains("C22012") && !got.contains("C22008") && !got.contains("C2201B"), "{}: {got}", String::from_utf8_lossy(q));
        // Nor does the server's routine, file or line name the function that failed.
        assert!(!got.contains("int4div") && !got.contains("Rmake_date") && !got.contains(".c\0"), "{}: {got}", String::from_utf8_lossy(q));
    }
    // A statement reading no masked value keeps the server's code.
    c.send(&[raw::query(b"SELECT 1 / 0")]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("C22012\0"), "{got}");
}

/// Found by the thirteenth red-team round, each a whole table in clear or a sensitive table
/// read unreviewed: a masked column renamed to a quoted upper-case alias (`email AS "E"`, then
/// `s."E"`) lost its lineage; `ORDER BY 2` and `GROUP BY 2` chose rows by a masked value
/// unreviewed; `setseed` of a masked value left the seed that two `random()` values give back;
/// a domain's CHECK ran a large-object writer on every value cast to it; the row count of a
/// filtered UPDATE answered questions about a sensitive table; and an error's position field,
/// present for some failures only, told which one it was.
#[tokio::test]
async fn quoted_names_output_numbers_seeds_domains_and_write_counts() {
    let gw = Gw::start_with("", 1, &["pay13"]);
    pg().psql(
        "DROP TABLE IF EXISTS pay13, st13; CREATE TABLE pay13 (id int primary key, amount int); INSERT INTO pay13 VALUES (1, 12500), (2, 9900);
         CREATE TABLE st13 (v text); GRANT ALL ON st13 TO PUBLIC",
    )
    .unwrap();
    let quoted = r#"SELECT s."I", replace(replace(s."E", '@', '#'), '.', ','), translate(s."C", '0123456789', 'abcdefghij') FROM (SELECT id AS "I", email AS "E", card AS "C" FROM users) s ORDER BY 1"#;
    let (out, err) = agent(&gw, &["-At", "-c", quoted], None);
    assert!(out.contains("REDACTED") && !out.contains("ann#corp") && !out.contains("ebbb bbbb"), "{out} {err}");
    let (out, err) = agent(&gw, &["-c", r#"INSERT INTO st13 SELECT reverse("E") FROM (SELECT email AS "E" FROM users) s"#], None);
    assert!(err.contains("hoop-masked-lineage"), "{out} {err}");
    assert_eq!(rows("st13"), "0");
    for s in [
        r#"SELECT id FROM (SELECT id, email AS "E" FROM users) s WHERE "E" LIKE 'a%'"#,
        "SELECT id, email FROM users ORDER BY 2",
        "SELECT count(*), ascii(email) > 97 FROM users GROUP BY 2",
        r#"SELECT id, card AS "K" FROM users ORDER BY "K" DESC LIMIT 1"#,
    ] {
        let (out, err) = agent(&gw, &["-At", "-c", s], None);
        assert!(err.contains("review timed out") && out.trim().is_empty(), "{s}: {out} {err}");
    }
    // The seed: refused, so the session's generator is not the one `setseed(97 / 256.0)` makes.
    let seeded = pg().psql("SELECT setseed(97 / 256.0); SELECT random()").unwrap();
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT setseed(ascii(email) / 256.0) FROM users WHERE id = 1", "-c", "SELECT random()"], None);
    assert!(err.contains("hoop-masked-lineage"), "{out} {err}");
    let after = out.lines().last().unwrap_or_default().trim().to_string();
    // (Compared line by line: a masked number comes back as `0`, which is in every float.)
    assert!(!after.is_empty() && !seeded.lines().any(|l| l.trim() == after), "{seeded} / {out}");
    // Code in a domain's CHECK: never created, so no large object was written.
    let objects = pg().psql("SELECT count(*) FROM pg_largeobject_metadata").unwrap();
    for s in ["CREATE DOMAIN lodom13 AS text CHECK (lo_from_bytea(0, value::bytea) > 0)", "CREATE DOMAIN seed13 AS text CHECK (setseed(ascii(value) / 256.0) IS NULL)"] {
        let (out, err) = agent(&gw, &["-c", s, "-c", "SELECT email::lodom13 FROM users"], None);
        assert!(err.contains("agent-no-stored-code"), "{s}: {out} {err}");
    }
    assert_eq!(pg().psql("SELECT count(*) FROM pg_type WHERE typname IN ('lodom13', 'seed13')").unwrap().trim(), "0");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_largeobject_metadata").unwrap(), objects);
    // A filtered write's count on a sensitive table is a read of it.
    for s in ["BEGIN; UPDATE pay13 SET amount = amount WHERE id = 1 AND amount >= 10000; ROLLBACK", "DELETE FROM pay13 WHERE amount > 5000"] {
        let (out, err) = agent(&gw, &["-c", s], None);
        let refused = err.contains("review timed out") || (s.starts_with("BEGIN") && err.contains("hoop-max-rows-written"));
        assert!(refused && !out.contains("UPDATE 1") && !out.contains("DELETE"), "{s}: {out} {err}");
    }
    assert_eq!(rows("pay13"), "2");
    // No position field in a withheld error, whichever failure it was.
    let mut c = raw::Raw::login(&gw).await;
    // A whole row in binary: a masked record is NULL, not a replacement text no client decodes.
    c.send(&[raw::parse("", b"SELECT u, u.id FROM users u WHERE id = 1"), raw::bind_binary("", ""), raw::execute(""), raw::sync()]).await;
    let got = c.until_ready().await;
    let data: Vec<&[u8]> = messages(&got).into_iter().filter(|(t, _)| *t == b'D').map(|(_, b)| b).collect();
    assert_eq!(data.len(), 1, "{}", String::from_utf8_lossy(&got));
    assert_eq!(&data[0][..6], &[0, 2, 0xff, 0xff, 0xff, 0xff], "the record is NULL: {:?}", data[0]);
    assert_eq!(&data[0][6..], &[0, 0, 0, 4, 0, 0, 0, 1], "the id is itself: {:?}", data[0]);
    // (A misspelt name is the server's own error, raised reading the text before any row,
    // position and all: compatibility round 4.)
    c.send(&[raw::query(b"SELECT nosuchcolumn, email FROM users")]).await;
    let got = c.until_ready().await;
    assert!(got.windows(6).any(|w| w == b"C42703") && got.windows(3).any(|w| w == b"\0P8"), "{}", String::from_utf8_lossy(&got));
    for q in [&b"SELECT 1 / (ascii(email) - 97) FROM users WHERE id = 1"[..], b"SELECT email::regclass FROM users WHERE id = 1"] {
        c.send(&[raw::query(q)]).await;
        let got = c.until_ready().await;
        let errors: Vec<&[u8]> = messages(&got).into_iter().filter(|(t, _)| *t == b'E').map(|(_, b)| b).collect();
        assert_eq!(errors.len(), 1, "{}", String::from_utf8_lossy(&got));
        for field in errors[0].split(|b| *b == 0).filter(|f| !f.is_empty()) {
            assert!(!matches!(field[0], b'P' | b'p'), "{}: {}", String::from_utf8_lossy(q), String::from_utf8_lossy(&got));
        }
    }
}

/// Found by the fourteenth red-team round: a `*` in the first branch of a set operation names
/// the columns while the second branch's masked values fill them, so lineage lost them (every
/// value in clear in one statement, unreviewed filters and stores); and a write to a table
/// that a sensitive table's foreign key points at failed or not by the sensitive table's rows
/// (`DELETE FROM customers WHERE id = 4` said which customers have payments).
#[test]
fn set_operations_with_a_star_and_writes_checked_by_foreign_keys() {
    let gw = Gw::start_with("", 1, &["pay14"]);
    pg().psql(
        "DROP TABLE IF EXISTS pay14, cust14; CREATE TABLE cust14 (id int primary key); INSERT INTO cust14 VALUES (1), (2), (3), (4);
         CREATE TABLE pay14 (id int primary key, customer_id int REFERENCES cust14 (id)); INSERT INTO pay14 VALUES (1, 1), (2, 2), (3, 3)",
    )
    .unwrap();
    let from = "FROM (SELECT * FROM (SELECT 0 i, ''::text e, ''::text c) a WHERE false UNION ALL SELECT id, email, card FROM users) u";
    let (out, err) = agent(&gw, &["-At", "-c", &format!("SELECT i, translate(e, '@.', '#,'), translate(c, '0123456789', 'abcdefghij') {from}")], None);
    assert!(out.contains("REDACTED") && !out.contains("ann#corp") && !out.contains("ebbb bbbb"), "{out} {err}");
    let (out, err) = agent(&gw, &["-At", "-c", &format!("SELECT i {from} WHERE e LIKE 'a%'")], None);
    assert!(err.contains("review timed out") && out.trim().is_empty(), "{out} {err}");
    let (out, err) = agent(&gw, &["-c", &format!("CREATE TABLE rt14_store AS SELECT reverse(e) r {from}")], None);
    assert!(err.contains("hoop-masked-lineage"), "{out} {err}");
    assert_eq!(pg().psql("SELECT to_regclass('rt14_store') IS NULL").unwrap().trim(), "t");
    // Whether a delete from the table the key points at fails tells which ids the sensitive
    // table holds: reviewed as a read of it.
    // (With transaction control in the text, the written-rows ceiling refuses it before any review.)
    for s in ["BEGIN; DELETE FROM cust14 WHERE id = 4; ROLLBACK", "DELETE FROM cust14 WHERE id = 1", "INSERT INTO cust14 VALUES (5)"] {
        let (out, err) = agent(&gw, &["-c", s], None);
        let refused = err.contains("review timed out") || (s.starts_with("BEGIN") && err.contains("hoop-max-rows-written"));
        assert!(refused && !out.contains("DELETE") && !out.contains("INSERT"), "{s}: {out} {err}");
    }
    assert_eq!(rows("cust14"), "4");
    // A table a write only reads checks no key: not reviewed.
    pg().psql("DROP TABLE IF EXISTS out14; CREATE TABLE out14 (id int)").unwrap();
    let (out, err) = agent(&gw, &["-c", "INSERT INTO out14 SELECT id FROM cust14"], None);
    assert!(out.contains("INSERT 0 4"), "{out} {err}");
}

/// Found by the fourteenth red-team round: rows of a statement reading masked values are held
/// until it ends only up to 1 MiB; a first row that large let the rest stream, and the row the
/// statement then failed at (`1 / (ascii(email) - g)` fails at row 97) spelled a character per
/// statement. Past the bound the result is `streams_masked` and held for review.
#[tokio::test]
async fn rows_streaming_past_the_hold_are_reviewed_before_an_error_can_count_them() {
    // (A 1 MiB row counts as the rows it may hold: the result budget set not to hold it first.)
    let gw = Gw::start_with("[policy.budgets]\nresult_rows = 100000000\ntarget_rows_1h = 1000000000\n", 1, &[]);
    // (The division is held as choosing by the value since round 112; approved, the streaming
    // hold still comes before the failing row.)
    let _reviewer = FilterApprover::start(&gw, false);
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"SELECT g, CASE WHEN g = 1 THEN repeat('x', 1100000) ELSE '' END AS pad, 1 / (ascii(u.email) - g) AS z FROM users u, generate_series(1, 200) g WHERE u.id = 1")])
        .await;
    let got = c.until_ready().await;
    let msgs = messages(&got);
    let rows = msgs.iter().filter(|(t, _)| *t == b'D').count();
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("agent-review-masked-results-streaming"), "{}", text.chars().filter(|c| *c != 'x').collect::<String>());
    assert!((1..=2).contains(&rows), "rows before the review: {rows}");
    // A statement whose rows stay within the bound is not asked about.
    c.send(&[raw::query(b"SELECT g, upper(u.email) FROM users u, generate_series(1, 50) g WHERE u.id = 1")]).await;
    let got = c.until_ready().await;
    assert_eq!(messages(&got).iter().filter(|(t, _)| *t == b'D').count(), 50, "{}", String::from_utf8_lossy(&got));
}

/// Found by the thirteenth red-team round (budgets): a result denied midway inside an
/// extended-protocol batch (`Execute p0; Execute p0; Sync`, or two portals) left hoop judging
/// the batch's next Execute, asking a reviewer about it, and never sending the Sync: the client
/// waited for ReadyForQuery forever and the server's backend sat in its transaction, holding
/// its locks and snapshot. The server skips the rest of a failed batch to its Sync; hoop drops
/// it too, unjudged, and the session goes on.
#[tokio::test]
async fn a_denial_inside_a_batch_ends_the_batch_and_the_session_goes_on() {
    let gw = Gw::start("[policy.budgets]\nresult_rows = 1500\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reviewer = hoop_harness::review::decide_all(gw.gate.approvals(), "alice", false, stop.clone());
    let mut c = raw::Raw::login(&gw).await;
    let mut limited = raw::execute("p0");
    let n = limited.len();
    limited[n - 4..].copy_from_slice(&3000i32.to_be_bytes());
    c.send(&[raw::parse("s", b"SELECT x FROM generate_series(1, 20000) x"), raw::bind("p0", "s"), limited.clone(), limited, raw::sync()]).await;
    let got = tokio::time::timeout(Duration::from_secs(60), c.until_ready()).await.expect("ReadyForQuery after the denial");
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(got.last().is_some_and(|_| messages(&got).last().is_some_and(|(t, _)| *t == b'Z')), "{text}");
    assert!(text.contains("42501"), "{text}");
    assert!(!text.contains("next rows need approval"), "no ticket for an Execute the server skips: {text}");
    // Round 15: the batch ends with Flush, not Sync; the client sends more of it after the
    // error, then the Sync.
    c.send(&[raw::parse("", b"SELECT x FROM generate_series(1, 20000) x"), raw::bind("f0", ""), raw::execute("f0"), raw::flush()]).await;
    c.read_until("the denial", |got| String::from_utf8_lossy(got).contains("42501")).await;
    c.send(&[raw::parse("s2", b"SELECT 42"), raw::bind("f2", "s2"), raw::execute("f2"), raw::flush()]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.send(&[raw::sync()]).await;
    let got = tokio::time::timeout(Duration::from_secs(30), c.until_ready()).await.expect("ReadyForQuery after Flush, more, then Sync");
    assert!(messages(&got).last().is_some_and(|(t, _)| *t == b'Z'), "{}", String::from_utf8_lossy(&got));
    // Two portals, the second bound in the same batch.
    c.send(&[raw::bind("p1", "s"), raw::bind("p2", "s"), raw::execute("p1"), raw::execute("p2"), raw::sync()]).await;
    let got = tokio::time::timeout(Duration::from_secs(60), c.until_ready()).await.expect("ReadyForQuery after the second denial");
    assert!(messages(&got).last().is_some_and(|(t, _)| *t == b'Z'), "{}", String::from_utf8_lossy(&got));
    // The session answers, and the server's backend is not left inside the batch.
    c.send(&[raw::query(b"SELECT 'still here'")]).await;
    let got = tokio::time::timeout(Duration::from_secs(20), c.until_ready()).await.expect("an answer");
    assert!(String::from_utf8_lossy(&got).contains("still here"));
    let stuck = pg().psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 20000)%' AND state <> 'idle' AND pid <> pg_backend_pid()").unwrap();
    assert_eq!(stuck.trim(), "0");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reviewer.join().unwrap() >= 1);

    // Held before it runs (the hour's budget spent): the first statement of a batch is denied,
    // and no reviewer is asked about the two the server then skips.
    let gw = Gw::start("[policy.budgets]\ntarget_rows_1h = 10\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reviewer = hoop_harness::review::decide_all(gw.gate.approvals(), "alice", false, stop.clone());
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"SELECT x FROM generate_series(1, 20) x")]).await;
    c.until_ready().await;
    let mut batch = Vec::new();
    for (k, q) in [&b"SELECT 'first'"[..], b"SELECT 'second'", b"SELECT 'third'"].into_iter().enumerate() {
        batch.extend([raw::parse(&format!("q{k}"), q), raw::bind(&format!("b{k}"), &format!("q{k}")), raw::execute(&format!("b{k}"))]);
    }
    batch.push(raw::sync());
    c.send(&batch).await;
    let got = tokio::time::timeout(Duration::from_secs(60), c.until_ready()).await.expect("ReadyForQuery");
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(messages(&got).last().is_some_and(|(t, _)| *t == b'Z'), "{text}");
    assert!(text.contains("42501") && !text.contains("second") && !text.contains("third"), "{text}");
    c.send(&[raw::query(b"SELECT 1")]).await;
    tokio::time::timeout(Duration::from_secs(60), c.until_ready()).await.expect("the session goes on");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(reviewer.join().unwrap(), 2, "one ticket for the batch, one for the statement after it");
}

/// Found by the fifteenth red-team round: rows of one statement reading masked values were
/// held until it ended, but a text of 96 such statements let each go as it finished, and the
/// number that finished before the withheld error was a character's code (every value in
/// clear, none counted as masked: the statements returned a constant). The statements of a
/// text after one reading masked values are held to its end, and every statement reading
/// masked values counts as at least one masked value, so the budget bounds the oracle.
#[tokio::test]
async fn statements_finished_before_an_error_do_not_count_out_a_masked_value() {
    let gw = Gw::start("[policy.budgets]\nmasked_values_1h = 6\n");
    // (Each division is held as choosing by the value since round 112: approved here, the
    // layers after it are what this checks; the budget's holds are denied.)
    let reviewer = FilterApprover::start(&gw, true);
    let mut c = raw::Raw::login(&gw).await;
    // 'a' is 97: the third statement divides by zero.
    let text: String = (0..5).map(|g| format!("SELECT 1 FROM users u, LATERAL (SELECT 1 / (ascii(u.email) - 95 - {g}) + random() * 0 v OFFSET 0) x WHERE u.id = 1;")).collect();
    c.send(&[raw::query(text.as_bytes())]).await;
    let got = c.until_ready().await;
    let msgs = messages(&got);
    assert!(msgs.iter().any(|(t, _)| *t == b'E'), "{}", String::from_utf8_lossy(&got));
    assert!(!msgs.iter().any(|(t, _)| matches!(*t, b'D' | b'C')), "nothing of the statements before the error: {}", String::from_utf8_lossy(&got));
    // A text that reads none goes as before, statement by statement.
    c.send(&[raw::query(b"SELECT 1; SELECT 2; SELECT 1 / 0")]).await;
    let got = c.until_ready().await;
    assert_eq!(messages(&got).iter().filter(|(t, _)| *t == b'C').count(), 2, "{}", String::from_utf8_lossy(&got));
    // Each counted as a masked value: the budget (6 an hour) holds the next ones.
    let mut held = false;
    for _ in 0..6 {
        c.send(&[raw::query(b"SELECT 1 FROM users u, LATERAL (SELECT md5(u.email) || random() v OFFSET 0) x WHERE u.id = 1")]).await;
        let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
        held |= got.contains("agent-budget-masked-values");
    }
    assert!(held, "the masked-values budget held statements that returned no masked value");
    drop(reviewer);
}

/// Found by the sixteenth red-team round: a text paused past the 1 MiB hold, then stopped (the
/// agent's own cancel, or a denial), got hoop's notice listing every statement the server had
/// finished meanwhile: one `SELECT 1` per statement before the one that divided by zero, a
/// character's code. For a text reading masked values the notice says which kinds ran, not
/// how many; each such statement counts as a masked value.
#[tokio::test]
async fn the_statements_finished_after_a_stop_are_not_counted_out() {
    // (A 1 MiB row counts as the rows it may hold: the result budget set not to hold it first.)
    let gw = Gw::start("[policy.budgets]\nresult_rows = 100000000\ntarget_rows_1h = 1000000000\n");
    // (The divisions are held as choosing by the value since round 112: approved here; the
    // streaming hold is denied.)
    let reviewer = FilterApprover::start(&gw, true);
    let mut c = raw::Raw::login(&gw).await;
    let mut text = String::from("SELECT repeat('x', 1100000) AS pad, email FROM users WHERE id = 1;");
    for g in 0..12 {
        text.push_str(&format!("SELECT 1 FROM users u, LATERAL (SELECT 1 / (ascii(u.email) - 90 - {g}) + random() * 0 v OFFSET 0) x WHERE u.id = 1;"));
    }
    c.send(&[raw::query(text.as_bytes())]).await;
    let got = c.until_ready().await;
    let shown: String = String::from_utf8_lossy(&got).chars().filter(|ch| *ch != 'x').collect();
    assert!(shown.contains("agent-review-masked-results-streaming"), "{shown}");
    assert!(!shown.contains("SELECT 1, SELECT 1"), "no list of what finished: {shown}");
    drop(reviewer);
}

/// Found by the eighteenth red-team round: rows of a cursor (`FETCH`) or a prepared statement
/// (`EXECUTE`) were masked by label, and hoop named `xmlelement(…)`, `nullif(…)` and a `CASE`
/// whose `ELSE` has a name otherwise than the server does: every masked value came back,
/// recoded past the detectors, in one statement. They are masked by the held statement's
/// positions now, and labels follow the server's rules where labels are all there is (past a `*`).
#[test]
fn cursors_prepared_statements_and_labels_keep_masking() {
    let gw = Gw::start("");
    let select = "SELECT id, xmlelement(name a, translate(card, '0123456789', 'abcdefghij')), nullif(replace(email, '@', ' at '), ''), CASE WHEN id < 0 THEN '' ELSE translate(card, '0123456789', 'abcdefghij') END FROM users ORDER BY id";
    for run in [
        vec!["BEGIN".to_string(), format!("DECLARE g CURSOR FOR {select}"), "FETCH ALL FROM g".into(), "COMMIT".into()],
        vec![format!("PREPARE p18 AS {select}"), "EXECUTE p18".into()],
        vec!["SELECT u.*, xmlelement(name a, translate(u.card, '0123456789', 'abcdefghij')), nullif(replace(u.email, '@', ' at '), '') FROM users u".into()],
        // Round 19: `TABLE t` first in a set operation names the columns (`note` here).
        vec!["TABLE users UNION ALL SELECT id, name, name, name, translate(card, '0123456789', 'abcdefghij') FROM users".into()],
        vec!["TABLE users UNION ALL SELECT id, name, name, name, replace(email, '@', ' at ') FROM users".into()],
    ] {
        let mut args = vec!["-At".to_string()];
        for s in &run {
            args.extend(["-c".to_string(), s.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, err) = agent(&gw, &args, None);
        assert!(!out.contains("ebbb bbbb") && !out.contains("ann at corp") && !out.contains("bob at corp"), "{run:?}: {out} {err}");
        assert!(out.contains("REDACTED"), "{run:?}: {out} {err}");
    }
}

/// Found by the twentieth round: `(expr).*` expands a composite into its fields, labelled by
/// its type, and was one output to hoop: `(row(0, translate(email, …))::t).*` came back in
/// clear as `b`, and a type with no fields moved every later output one place.
#[test]
fn composites_expanded_in_a_select_list_keep_masking() {
    let gw = Gw::start("");
    // (A cast to a composite type is held as choosing by the value since round 112: a field of
    // `varchar(n)` fails on a longer value. Approved, the fields are still masked.)
    let _reviewer = FilterApprover::start(&gw, false);
    for s in [
        "SELECT (row(0, translate(email, '@', '#'))::rt20_pair).* FROM users",
        "SELECT (null::rt20_none).*, translate(email, '@', '#'), id FROM users",
        "SELECT u.*, (row(id, translate(u.email, '@', '#'))::rt20_pair).*, 1 AS k FROM users u",
        "SELECT id, (p).* FROM (SELECT id, row(1, replace(email, '@', ' at '))::rt20_pair AS p FROM users) s",
    ] {
        let (out, err) = agent(&gw, &["-At", "-c", "CREATE TEMP TABLE rt20_pair (a int, b text); CREATE TEMP TABLE rt20_none ()", "-c", s], None);
        assert!(out.contains("REDACTED") && !out.contains("ann#corp") && !out.contains("ann at corp"), "{s}: {out} {err}");
    }
}

/// Found by the twentieth round: the server runs a `WITH HOLD` cursor's query when its
/// transaction commits, so a failing cast in it failed the `COMMIT`, which reads nothing, and
/// its message quoted every recoded address. The errors that end such a transaction are
/// withheld: a `COMMIT` of its own, and the Sync of an implicit transaction.
#[tokio::test]
async fn a_held_cursor_run_at_commit_keeps_its_errors_withheld() {
    let gw = Gw::start("");
    // (The cast is held as choosing by the value since round 112; approved, its error is
    // still withheld.)
    let _reviewer = FilterApprover::start(&gw, false);
    let declare = "DECLARE c20 CURSOR WITH HOLD FOR SELECT (SELECT string_agg(replace(email, '@', ' at '), ' ') FROM users)::int";
    let (out, err) = agent(&gw, &["-c", "BEGIN", "-c", declare, "-c", "COMMIT"], None);
    assert!(err.contains("ERROR") && !err.contains("ann at corp") && !out.contains("ann at corp"), "{out} {err}");
    let (out, err) = agent(&gw, &["-c", "BEGIN", "-c", declare, "-c", "END"], None);
    assert!(err.contains("ERROR") && !err.contains("ann at corp"), "{out} {err}");
    // Through the extended protocol, outside a transaction block: it runs at the Sync.
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("", declare.as_bytes()), raw::bind("", ""), raw::execute(""), raw::sync()]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("22000") && !got.contains("ann at corp"), "{got}");
    // Once the transaction ended, errors are the server's again.
    c.send(&[raw::query(b"SELECT 1 / 0")]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("division by zero"), "{got}");
}

/// Found by the twentieth round: a write through an updatable view was checked as a write to
/// the view alone. The view's name had been resolved while `CREATE VIEW` was being checked,
/// before it existed, and that answer was kept: `DELETE FROM v` then named no table, so the
/// foreign key to a sensitive table went unreviewed, and a cascading key under the row ceiling
/// went unchecked. Writes through views reach the tables behind them, and what the catalog
/// said is forgotten once a statement that changes relations has run.
#[test]
fn writes_through_views_reach_the_tables_behind_them() {
    let gw = Gw::start_with("", 1, &["pay20"]);
    pg().psql(
        "DROP TABLE IF EXISTS pay20, cust20 CASCADE; CREATE TABLE cust20 (id int primary key, city text); INSERT INTO cust20 VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
         CREATE TABLE pay20 (id int primary key, customer_id int REFERENCES cust20 (id)); INSERT INTO pay20 VALUES (1, 1), (2, 2), (3, 3)",
    )
    .unwrap();
    let (out, err) = agent(&gw, &["-c", "CREATE VIEW cust20_v AS SELECT id, city FROM cust20", "-c", "DELETE FROM cust20_v WHERE id = 4"], None);
    assert!(out.contains("CREATE VIEW") && err.contains("review timed out") && !out.contains("DELETE"), "{out} {err}");
    let (out, err) = agent(&gw, &["-c", "UPDATE cust20_v SET city = 'x' WHERE id = 2"], None);
    assert!(err.contains("review timed out") && !out.contains("UPDATE"), "{out} {err}");
    // In one text, before the view exists.
    let (out, err) = agent(&gw, &["-c", "CREATE VIEW cust20_w AS SELECT id FROM cust20; DELETE FROM cust20_w WHERE id = 4"], None);
    assert!(err.contains("review timed out") && !out.contains("DELETE"), "{out} {err}");
    assert_eq!(pg().psql("SELECT count(*) FILTER (WHERE city = 'x') || '/' || count(*) FROM cust20").unwrap().trim(), "0/4");

    // Under the row ceiling: a cascading key behind the view.
    let gw = Gw::start_with_row_ceiling(1000);
    pg().psql(
        "DROP TABLE IF EXISTS chi20, par20 CASCADE; CREATE TABLE par20 (id int primary key); INSERT INTO par20 SELECT generate_series(1, 5);
         CREATE TABLE chi20 (pid int REFERENCES par20 (id) ON DELETE CASCADE); INSERT INTO chi20 SELECT 1 + g % 5 FROM generate_series(1, 3000) g",
    )
    .unwrap();
    let (out, err) = agent(&gw, &["-c", "CREATE VIEW par20_v AS SELECT id FROM par20", "-c", "DELETE FROM par20_v WHERE id > 0"], None);
    assert!(err.contains("hoop-max-rows-written") && !out.contains("DELETE"), "{out} {err}");
    assert_eq!(rows("chi20"), "3000");
}

/// The server reads a prepared statement's text again when a relation it names changed: a
/// table dropped and a view of the same name made over another table turns a harmless
/// prepared write into a write through that view. hoop reads it again too (twentieth round).
#[tokio::test]
async fn prepared_writes_are_read_again_when_relations_change() {
    let gw = Gw::start_with("", 1, &["pay20p"]);
    pg().psql(
        "DROP TABLE IF EXISTS pay20p, cust20p CASCADE; CREATE TABLE cust20p (id int primary key); INSERT INTO cust20p VALUES (1), (2), (3), (4);
         CREATE TABLE pay20p (id int primary key, customer_id int REFERENCES cust20p (id)); INSERT INTO pay20p VALUES (1, 1);
         DROP VIEW IF EXISTS v20p, w20p; DROP TABLE IF EXISTS v20p, w20p, v20p_old, w20p_old CASCADE",
    )
    .unwrap();
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"CREATE TABLE v20p (id int); CREATE TABLE w20p (id int)")]).await;
    c.until_ready().await;
    c.send(&[raw::parse("s20", b"DELETE FROM v20p WHERE id = 4"), raw::sync()]).await;
    c.until_ready().await;
    c.send(&[raw::query(b"PREPARE p20 AS DELETE FROM w20p WHERE id = 4")]).await;
    c.until_ready().await;
    c.send(&[raw::query(b"ALTER TABLE v20p RENAME TO v20p_old; ALTER TABLE w20p RENAME TO w20p_old; CREATE VIEW v20p AS SELECT id FROM cust20p; CREATE VIEW w20p AS SELECT id FROM cust20p")]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("CREATE VIEW"), "{got}");
    c.send(&[raw::bind("", "s20"), raw::execute(""), raw::sync()]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("review timed out") && !got.contains("DELETE 1"), "{got}");
    c.send(&[raw::query(b"EXECUTE p20")]).await;
    let got = String::from_utf8_lossy(&c.until_ready().await).into_owned();
    assert!(got.contains("review timed out") && !got.contains("DELETE 1"), "{got}");
    assert_eq!(rows("cust20p"), "4");
}

/// Found by the twentieth round: card numbers in `bigint` and `numeric` columns, and addresses
/// in a `tsvector` or a binary `text[]`, came back in clear: discovery sampled text columns
/// only, and the detectors read only text cells.
#[tokio::test]
async fn numbers_documents_and_binary_arrays_pass_the_detectors() {
    let gw = Gw::start("");
    // (Arithmetic on a masked number is held as choosing by the value since round 112: it
    // can overflow. Approved, its results are still masked.)
    let _reviewer = FilterApprover::start(&gw, false);
    pg().psql(
        "DROP TABLE IF EXISTS cards20; CREATE TABLE cards20 (id int, pan bigint, pan_n numeric(19), doc tsvector, tags text[]);
         INSERT INTO cards20 VALUES (1, 4111111111111111, 5500000000000004, to_tsvector('simple', 'mail ann@corp.example'), ARRAY['contact zed@corp.example now']),
                                    (2, 6011000000000004, 4111111111111111, to_tsvector('simple', 'plain'), ARRAY['plain'])",
    )
    .unwrap();
    for s in ["SELECT * FROM cards20", "SELECT pan + 1, pan_n * 2, pan::text FROM cards20"] {
        let (out, err) = agent(&gw, &["-At", "-c", s], None);
        for clear in ["4111111111111111", "5500000000000004", "6011000000000004", "4111111111111112", "11000000000000008", "ann@corp", "zed@corp"] {
            assert!(!out.contains(clear), "{s}: {clear} in {out} {err}");
        }
        assert!(out.contains('|'), "{s}: {out} {err}");
    }
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("", b"SELECT pan, pan_n, tags, doc FROM cards20"), raw::bind_binary("", ""), raw::execute(""), raw::sync()]).await;
    let got = c.until_ready().await;
    assert!(got.windows(8).all(|w| w != 4111111111111111i64.to_be_bytes()), "{got:?}");
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("SELECT 2") && !text.contains("zed@corp") && !text.contains("ann@corp"), "{text}");
    // Twenty-first round: in arrays, ranges, multiranges and domains of them, in binary.
    pg().psql(
        "DROP TABLE IF EXISTS cardsarr21; DROP DOMAIN IF EXISTS card21; CREATE DOMAIN card21 AS bigint;
         DROP DOMAIN IF EXISTS num22; CREATE DOMAIN num22 AS numeric;
         CREATE TABLE cardsarr21 (id int, cards bigint[], nums numeric[], r int8range, mr int8multirange, d card21[], dn num22[]);
         INSERT INTO cardsarr21 VALUES (1, '{4111111111111111}', '{5500000000000004}', '[4111111111111111,4111111111111112)', '{[4111111111111111,4111111111111112)}', '{4111111111111111}', '{5500000000000004}')",
    )
    .unwrap();
    for col in ["cards", "nums", "r", "mr", "d", "row(id, cards)", "array[d[1]]", "dn"] {
        let q = format!("SELECT {col} FROM cardsarr21");
        c.send(&[raw::parse("", q.as_bytes()), raw::bind_binary("", ""), raw::execute(""), raw::sync()]).await;
        let got = c.until_ready().await;
        let numeric_digits: Vec<u8> = [0x157ci16, 0, 0, 4].iter().flat_map(|w| w.to_be_bytes()).collect();
        assert!(got.windows(8).all(|w| w != 4111111111111111i64.to_be_bytes() && w != numeric_digits.as_slice()), "{q}: {got:?}");
        assert!(String::from_utf8_lossy(&got).contains("SELECT 1"), "{q}: {}", String::from_utf8_lossy(&got));
    }
    // Twenty-second round: an array of a domain over numeric, read before discovery saw a
    // value (the table was empty), is walked by the detectors all the same.
    pg().psql("DROP TABLE IF EXISTS dn22; CREATE TABLE dn22 (id int, dn num22[])").unwrap();
    let q = "SELECT id, dn FROM dn22";
    c.send(&[raw::parse("", q.as_bytes()), raw::bind_binary("", ""), raw::execute(""), raw::sync()]).await;
    c.until_ready().await;
    pg().psql("INSERT INTO dn22 VALUES (1, '{5500000000000004}')").unwrap();
    c.send(&[raw::parse("", q.as_bytes()), raw::bind_binary("", ""), raw::execute(""), raw::sync()]).await;
    let got = c.until_ready().await;
    let numeric_digits: Vec<u8> = [0x157ci16, 0, 0, 4].iter().flat_map(|w| w.to_be_bytes()).collect();
    assert!(got.windows(8).all(|w| w != numeric_digits.as_slice()), "{got:?}");
    assert!(String::from_utf8_lossy(&got).contains("SELECT 1"), "{}", String::from_utf8_lossy(&got));
}

/// Found by the twentieth round: statements hoop refused were recorded whole, at no cost to the
/// agent, so 20 MB texts filled the gateway's disk at 80 MB/s (and a full disk stops every
/// session). What an agent identity has recorded counts against
/// `limits.agent_recorded_bytes_1h`, allowed or refused; past it its actions are refused and
/// recorded only in part. Round 67: the budget counted statement texts, so empty Parses (a
/// 420-byte record each, no text) wrote 50 MB/s unbounded, and refusals past the budget were
/// records too: the records' own bytes count now, and the refusal past the budget ends the
/// session.
#[tokio::test]
async fn what_an_agent_has_recorded_is_bounded_and_ends_its_sessions() {
    let gw = Gw::start_with_limits("agent_recorded_bytes_1h = 3000000");
    let recorded = |gw: &Gw| -> u64 {
        std::fs::read_dir(gw.dir.path().join("recordings")).unwrap().filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()
    };
    // Reads until a ReadyForQuery ends what came, or the connection ends (within 10 s): what
    // came, and whether the connection ended.
    async fn answer(c: &mut raw::Raw, to_end: bool) -> (String, bool) {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut buf = vec![0u8; 65536];
        loop {
            let ready = got.len() >= 6 && got[got.len() - 6] == b'Z' && got[got.len() - 5..got.len() - 1] == [0, 0, 0, 5];
            if ready && !to_end {
                return (String::from_utf8_lossy(&got).into_owned(), false);
            }
            match tokio::time::timeout_at(deadline, c.s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
            }
        }
    }
    let mut c = raw::Raw::login(&gw).await;
    let mut refusals = Vec::new();
    for i in 0..10 {
        c.send(&[raw::query(format!("DROP TABLE users /* {i} {} */", "x".repeat(900 << 10)).as_bytes())]).await;
        let (got, _) = answer(&mut c, false).await;
        let spent = got.contains("hoop-recording-budget");
        refusals.push(got);
        if spent {
            break;
        }
    }
    assert!(refusals[0].contains("agent-no-destructive-ddl"), "{}", refusals[0]);
    let last = refusals.last().unwrap();
    assert!(last.contains("hoop-recording-budget") && refusals.len() < 10, "{last}");
    // The refusal was the session's last answer: the connection is closed.
    let (_, ended) = answer(&mut c, true).await;
    assert!(ended, "the session ends past the budget");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(recorded(&gw) < 5 << 20, "{} bytes recorded", recorded(&gw));
    // A new session of the same identity is refused at its start, with no recording of its own
    // (round 68: each refused login wrote a 2 KB file, 2,000 a second).
    let files = || std::fs::read_dir(gw.dir.path().join("recordings")).unwrap().count();
    let before = files();
    for _ in 0..5 {
        let o = gw.psql_with("agent-1", &gw.token("agent-1", IdentityKind::Agent), "", &["-At", "-c", "SELECT 1"], None);
        assert!(text(&o).1.contains("hoop-recording-budget"), "{:?}", text(&o));
    }
    assert_eq!(files(), before, "refused logins are not recorded");
    // Empty Parses carry no text; their records count all the same.
    let before = recorded(&gw);
    let mut f = raw::Raw::login_as(&gw, "agent-2").await;
    let batch: Vec<u8> = std::iter::repeat_n([raw::parse("", b""), raw::sync()].concat(), 500).flatten().collect();
    let mut sent = 0;
    for _ in 0..40 {
        if f.s.write_all(&batch).await.is_err() {
            break;
        }
        sent += 500;
    }
    let (answers, ended) = answer(&mut f, true).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = recorded(&gw) - before;
    assert!(ended && answers.contains("hoop-recording-budget"), "sent {sent}: ended {ended}");
    assert!(written < 3_500_000, "{written} bytes recorded for {sent} empty Parses");
    // People are not bounded by it.
    let human = gw.token("alice", IdentityKind::Human);
    let o = gw.psql_with("alice", &human, "", &["-At", "-c", "SELECT 'alive'"], None);
    assert_eq!(text(&o).0.trim(), "alive");
}

/// Red-team round 67: a value made of one-digit groups (`repeat('1-', 4000000)`) cost the card
/// detector 1.3 µs a byte on the connection's thread, holding every session on it for 12 s.
/// Rejected candidates are weighed by their digit groups: past the bound the rest of such a
/// value is masked whole (it is noise), the client gets its answer and the session goes on.
/// (The time it takes is measured by the detector's unit bound, not here.)
#[test]
fn a_value_of_digit_groups_is_masked_past_a_bound_and_the_session_goes_on() {
    let gw = Gw::start("");
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT repeat('1-', 200000)", "-c", "SELECT 'next'"], None);
    let first = out.lines().next().unwrap_or_default();
    assert!(first.contains("[REDACTED:card]") && first.len() < 100_000, "{} bytes: {err}", first.len());
    assert!(out.lines().any(|l| l == "next"), "{err}");
}

/// Found by the twenty-first round: discovery samples a relation through hoop's one side
/// connection per target. An agent that locked its own table in an open transaction and then
/// read it left the sample waiting on the agent, and the agent on hoop, for every identity of
/// the target; and a relation read while empty stayed undiscovered for five minutes while it
/// filled. The side connection waits on no lock for long (what it cannot read is masked whole),
/// and a short sample is taken again soon.
#[test]
fn discovery_neither_waits_on_a_callers_lock_nor_trusts_an_empty_table() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS w21, late21; CREATE TABLE late21 (id int, e text)").unwrap();
    let (out, err) = agent(&gw, &["-c", "CREATE TABLE w21 (id int, name text); INSERT INTO w21 VALUES (1, 'ann@corp.example')"], None);
    assert!(out.contains("INSERT"), "{out} {err}");
    let started = std::time::Instant::now();
    let (out, err) = agent(&gw, &["-At", "-c", "BEGIN", "-c", "ALTER TABLE w21 ADD COLUMN z int", "-c", "SELECT id, name, replace(name, '@', ' at ') FROM w21", "-c", "COMMIT"], None);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(out.contains("1|") && out.contains("COMMIT") && !out.contains("ann at corp") && !out.contains("ann@corp"), "{out} {err}");
    // Read while empty, then filled: derived values are masked once it has rows.
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT * FROM late21"], None);
    assert!(out.trim().is_empty() && err.is_empty(), "{out} {err}");
    pg().psql("INSERT INTO late21 SELECT i, 'user' || i || '@corp.example' FROM generate_series(1, 5) i").unwrap();
    std::thread::sleep(Duration::from_secs(16));
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT id, replace(e, '@', ' at ') FROM late21"], None);
    assert!(out.contains("REDACTED") && !out.contains(" at corp"), "{out} {err}");
}

/// Found by the twenty-first round: a write checked against the agent's own table waited for a
/// lock held by another of its sessions, which meanwhile renamed the table and made a view of
/// its name over a table tied to a sensitive one; the server resolved the name again after the
/// wait and deleted a customer, unreviewed. A write whose relations changed while it ran is
/// not committed, and the answer of a statement whose relations changed is masked whole.
#[tokio::test]
async fn relations_swapped_while_a_statement_waits_do_not_change_what_was_checked() {
    let gw = Gw::start_with("", 1, &["pay21r"]);
    pg().psql(
        "DROP VIEW IF EXISTS w21r; DROP TABLE IF EXISTS w21r, w21r_old, pay21r, cust21r CASCADE;
         CREATE TABLE cust21r (id int primary key, name text); INSERT INTO cust21r SELECT g, 'c' || g FROM generate_series(1, 5) g;
         CREATE TABLE pay21r (id int primary key, customer_id int REFERENCES cust21r (id)); INSERT INTO pay21r VALUES (1, 1)",
    )
    .unwrap();
    let mut b = raw::Raw::login(&gw).await;
    b.send(&[raw::query(b"CREATE TABLE w21r (id int, k int); INSERT INTO w21r VALUES (5, 0)")]).await;
    b.until_ready().await;
    b.send(&[raw::query(b"BEGIN")]).await;
    b.until_ready().await;
    b.send(&[raw::query(b"ALTER TABLE w21r ADD COLUMN z int")]).await;
    b.until_ready().await;
    let mut a = raw::Raw::login(&gw).await;
    a.send(&[raw::query(b"DELETE FROM w21r WHERE id = 5")]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for q in ["ALTER TABLE w21r RENAME TO w21r_old", "CREATE VIEW w21r AS SELECT id, id AS k FROM cust21r", "COMMIT"] {
        b.send(&[raw::query(q.as_bytes())]).await;
        let got = String::from_utf8_lossy(&b.until_ready().await).into_owned();
        assert!(!got.contains("ERROR"), "{q}: {got}");
    }
    let got = String::from_utf8_lossy(&a.until_ready().await).into_owned();
    assert!(got.contains("changed while it ran"), "{got}");
    assert_eq!(rows("cust21r"), "5", "the delete through the swapped-in view was not committed");
    assert_eq!(rows("w21r_old"), "1");
    // The same through the extended protocol (a driver's prepared statement).
    pg().psql("DROP VIEW IF EXISTS w21x; DROP TABLE IF EXISTS w21x, w21x_old").unwrap();
    b.send(&[raw::query(b"CREATE TABLE w21x (id int, k int); INSERT INTO w21x VALUES (5, 0)")]).await;
    b.until_ready().await;
    b.send(&[raw::query(b"BEGIN; ALTER TABLE w21x ADD COLUMN z int")]).await;
    b.until_ready().await;
    a.send(&[raw::parse("", b"DELETE FROM w21x WHERE id = 5"), raw::bind("", ""), raw::execute(""), raw::sync()]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    b.send(&[raw::query(b"ALTER TABLE w21x RENAME TO w21x_old; CREATE VIEW w21x AS SELECT id, id AS k FROM cust21r; COMMIT")]).await;
    let got = String::from_utf8_lossy(&b.until_ready().await).into_owned();
    assert!(!got.contains("ERROR"), "{got}");
    let got = String::from_utf8_lossy(&a.until_ready().await).into_owned();
    assert!(got.contains("changed while it ran"), "{got}");
    assert_eq!(rows("cust21r"), "5", "the extended-protocol delete was not committed");
}

/// Compatibility round 3: any change of any relation while a statement ran masked its whole
/// answer (`select pg_sleep(1.5), 42` answered 0, rows of a plain table came back redacted, a
/// statement timeout's message was withheld). Only a change of a relation the statement names,
/// or reads through a view, does now; the rename-and-view swap under a waiting SELECT is still
/// masked whole.
#[tokio::test]
async fn only_a_change_of_its_own_relations_masks_a_statement_in_flight() {
    let gw = Gw::start("");
    pg().psql(
        "DROP VIEW IF EXISTS sw3; DROP TABLE IF EXISTS sw3, sw3_old, other3, plain3;
         CREATE TABLE other3 (id int); CREATE TABLE plain3 (id int, x text); INSERT INTO plain3 VALUES (1, 'plain words');
         CREATE TABLE sw3 (id int, x text); INSERT INTO sw3 VALUES (1, 'nothing here');
         GRANT SELECT ON sw3, plain3, other3 TO PUBLIC",
    )
    .unwrap();
    let mut a = raw::Raw::login(&gw).await;
    // Sampled before the lock below (a sample would wait for it, and time out masked).
    for q in ["SELECT x FROM plain3", "SELECT x FROM sw3"] {
        a.send(&[raw::query(q.as_bytes())]).await;
        a.until_ready().await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The swap this masking is for: a SELECT waits for a lock on `sw3` while the table is
    // renamed and a view of its name made over a masked column (spelt so that no detector
    // knows it); the server then reads the view.
    let dsn = format!("host=127.0.0.1 port={} user=postgres password={} dbname=postgres", pg().port(), pg().password());
    let (admin, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    admin.batch_execute("BEGIN; LOCK TABLE sw3 IN ACCESS EXCLUSIVE MODE").await.unwrap();
    a.send(&[raw::query(b"SELECT x FROM sw3")]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    admin
        .batch_execute("ALTER TABLE sw3 RENAME TO sw3_old; CREATE VIEW sw3 AS SELECT id, replace(email, '@', ' at ') AS x FROM users; GRANT SELECT ON sw3 TO PUBLIC; COMMIT")
        .await
        .unwrap();
    let got = String::from_utf8_lossy(&a.until_ready().await).into_owned();
    assert!(got.contains("REDACTED") && !got.contains(" at corp"), "{got}");
    // A change of a relation the statement does not read leaves its answer alone.
    for (q, expect) in [("SELECT 42 AS v, pg_sleep(1.5)", "42"), ("SELECT x, pg_sleep(1.5) FROM plain3", "plain words")] {
        a.send(&[raw::query(q.as_bytes())]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        pg().psql("ALTER TABLE other3 ADD COLUMN y int; GRANT INSERT ON other3 TO PUBLIC").unwrap();
        let got = String::from_utf8_lossy(&a.until_ready().await).into_owned();
        assert!(got.contains(expect) && !got.contains("REDACTED"), "{q}: {got}");
        pg().psql("ALTER TABLE other3 DROP COLUMN y; REVOKE INSERT ON other3 FROM PUBLIC").unwrap();
    }
    a.send(&[raw::query(b"SET statement_timeout = 700; SELECT x, pg_sleep(3) FROM plain3")]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg().psql("ALTER TABLE other3 ADD COLUMN y int").unwrap();
    // Another session's statement has the gateway notice the change before the error comes.
    std::thread::sleep(Duration::from_millis(300));
    agent(&gw, &["-c", "SELECT 1 FROM plain3"], None);
    let got = String::from_utf8_lossy(&a.until_ready().await).into_owned();
    assert!(got.contains("canceling statement due to statement timeout"), "{got}");
}

/// Found by the twenty-second round: a table an administrator renamed on the server, and
/// replaced by a view of the same name over `users.email`, was still read through the old
/// table's discovery (kept five minutes): derived addresses came back in clear. hoop compares
/// the server's catalog with what it learnt at most once a second and forgets on a change.
#[test]
fn relations_changed_on_the_server_are_noticed() {
    let gw = Gw::start("");
    pg().psql(
        "DROP VIEW IF EXISTS t22; DROP TABLE IF EXISTS t22, t22_old; CREATE TABLE t22 (id int, x text);
         INSERT INTO t22 SELECT g, 'plain' FROM generate_series(1, 250) g",
    )
    .unwrap();
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT replace(x, '@', ' at ') FROM t22 LIMIT 1"], None);
    assert_eq!(out.trim(), "plain", "{err}");
    pg().psql("ALTER TABLE t22 RENAME TO t22_old; CREATE VIEW t22 AS SELECT id, email AS x FROM users").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT replace(x, '@', ' at ') FROM t22"], None);
    assert!(out.contains("REDACTED") && !out.contains("ann at corp") && !out.contains("bob at corp"), "{out} {err}");
    // Twenty-third round: a column renamed writes only its pg_attribute row.
    pg().psql("DROP TABLE IF EXISTS c23; CREATE TABLE c23 (id int, mail text, city text); INSERT INTO c23 SELECT g, 'u' || g || '@corp.example', 'town' FROM generate_series(1, 250) g").unwrap();
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT reverse(city) FROM c23 LIMIT 1"], None);
    assert_eq!(out.trim(), "nwot", "{err}");
    pg().psql("ALTER TABLE c23 RENAME COLUMN mail TO tmp; ALTER TABLE c23 RENAME COLUMN city TO mail; ALTER TABLE c23 RENAME COLUMN tmp TO city").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT reverse(city) FROM c23 LIMIT 1"], None);
    assert!(out.contains("REDACTED") && !out.contains("elpmaxe.proc@"), "{out} {err}");
}

/// Red-team round 106: a text array derived from a masked column came back as the bare marker
/// (`[REDACTED:email]`), which is no array literal: a typed driver could not read the row.
/// Masked whole, it is NULL, as every other array is.
#[test]
fn a_masked_text_array_is_null() {
    let gw = Gw::start("");
    // (`ARRAY(SELECT …)` is held as choosing by the value since round 113: over many rows it
    // passes 1 GB by a masked value's length. Approved, the array is still masked.)
    let _reviewer = FilterApprover::start(&gw, false);
    for q in ["SELECT array[email] AS b FROM users ORDER BY id", "SELECT array(SELECT reverse(u2.email) FROM users u2 WHERE u2.id = u.id)::varchar[] FROM users u ORDER BY id"] {
        let (out, err) = agent(&gw, &["-At", "-c", q], None);
        assert!(out.lines().count() == 2 && out.lines().all(str::is_empty), "{q}: {out:?} {err}");
    }
}

/// A change committed by a transaction that began before the gateway's last look at the
/// catalog carries an older transaction id than changes it had already seen, so the newest id
/// the gateway compared did not move and the swap went unnoticed. Changes are told by snapshot.
#[tokio::test]
async fn a_change_committed_by_an_older_transaction_is_noticed() {
    let gw = Gw::start("");
    pg().psql(
        "DROP TABLE IF EXISTS old25, bump25; CREATE TABLE bump25 (id int);
         CREATE TABLE old25 (id int, mail text, city text); INSERT INTO old25 SELECT g, 'u' || g || '@corp.example', 'town' FROM generate_series(1, 250) g",
    )
    .unwrap();
    let dsn = format!("host=127.0.0.1 port={} user=postgres password={} dbname=postgres", pg().port(), pg().password());
    let (early, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    // Takes its transaction id now; a newer one then writes the catalog.
    early.batch_execute("BEGIN; SELECT txid_current()").await.unwrap();
    pg().psql("ALTER TABLE bump25 ADD COLUMN y int").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT reverse(city) FROM old25 LIMIT 1"], None);
    assert_eq!(out.trim(), "nwot", "{err}");
    early
        .batch_execute("ALTER TABLE old25 RENAME COLUMN mail TO tmp; ALTER TABLE old25 RENAME COLUMN city TO mail; ALTER TABLE old25 RENAME COLUMN tmp TO city; COMMIT")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT reverse(city) FROM old25 LIMIT 1"], None);
    assert!(out.contains("REDACTED") && !out.contains("elpmaxe.proc@"), "{out} {err}");
}

/// Found by the twenty-fourth round: discovery sampled every relation on one side connection,
/// and a view's sample runs the view's query. One agent naming a view slow to read (sorting
/// millions of rows) held it for the side connection's whole timeout, twice, and every other
/// identity's first read of a table waited behind it. Samples now run on a pool, one at a time
/// per identity: another identity is answered (and masked) while the slow sample still runs.
#[tokio::test]
async fn a_slow_sample_for_one_identity_does_not_hold_up_another() {
    let gw = Gw::start("");
    pg().psql(
        "DROP VIEW IF EXISTS slow24; DROP TABLE IF EXISTS fresh24;
         CREATE VIEW slow24 AS SELECT g::text AS s FROM generate_series(1, 60000000) g ORDER BY random();
         CREATE TABLE fresh24 (id int, e text); INSERT INTO fresh24 VALUES (1, 'ann@corp.example')",
    )
    .unwrap();
    // The backend and start of the slow sample now running, if one is.
    let sampling = || {
        pg().psql("SELECT pid || '@' || query_start FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%slow24%LIMIT%' AND pid <> pg_backend_pid()")
            .unwrap()
            .trim()
            .to_string()
    };
    let mut victim = raw::Raw::login_as(&gw, "agent-2").await;
    let mut attacker = raw::Raw::login_as(&gw, "agent-1").await;
    attacker.send(&[raw::query(b"SELECT s FROM slow24 LIMIT 0")]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let first = loop {
        let s = sampling();
        if !s.is_empty() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "the slow view's sample never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    victim.send(&[raw::query(b"SELECT id, replace(e, '@', ' at ') FROM fresh24")]).await;
    let got = String::from_utf8_lossy(&victim.until_ready().await).into_owned();
    assert_eq!(sampling(), first, "the other identity was answered while the slow sample ran");
    assert!(got.contains("REDACTED") && !got.contains("ann at corp") && !got.contains("ERROR"), "{got}");
    let got = String::from_utf8_lossy(&attacker.until_ready().await).into_owned();
    assert!(got.contains("SELECT 0"), "{got}");
}

/// Found by the twenty-fourth round: discovery sampled the first 200 rows, NULLs included, so a
/// column empty in those rows (one added to a table that had rows) was never seen to hold
/// addresses and every derivation of it came back in clear; and a `bytea` column was never
/// sampled, its addresses leaving as `\x616461…` (one decode away) and through
/// `convert_from`. Discovery samples each column's values that are not NULL, reads bytes
/// decoded, and a text-format `bytea` cell is looked at decoded.
#[test]
fn columns_empty_at_first_and_bytes_are_discovered() {
    let gw = Gw::start("");
    pg().psql(
        "DROP TABLE IF EXISTS members24, profiles24;
         CREATE TABLE members24 (id int, name text, email text);
         INSERT INTO members24 SELECT g, 'm' || g, NULL FROM generate_series(1, 300) g;
         INSERT INTO members24 SELECT g, 'm' || g, 'member' || g || '@corp.example' FROM generate_series(301, 600) g;
         CREATE TABLE profiles24 (id int, email_b bytea, note_b bytea);
         INSERT INTO profiles24 VALUES (1, convert_to('ada@example.com', 'UTF8'), 'hello'), (2, convert_to('alan.turing@example.org', 'UTF8'), 'hello')",
    )
    .unwrap();
    let (out, err) = agent(
        &gw,
        &[
            "-At",
            "-c",
            "SELECT id, replace(email, '@', ' at ') FROM members24 WHERE id BETWEEN 301 AND 303",
            "-c",
            "SELECT 'plain', id, email_b, note_b FROM profiles24 ORDER BY id",
            "-c",
            "SELECT replace(convert_from(email_b, 'UTF8'), '@', ' at ') FROM profiles24",
            "-c",
            "SELECT encode(email_b, 'base64') FROM profiles24",
        ],
        None,
    );
    assert!(out.contains("301|") && !out.contains(" at corp"), "{out} {err}");
    assert!(out.contains("plain|1|") && !out.contains("\\x6164") && !out.contains("616461406578"), "{out} {err}");
    // Bytes that hold nothing a detector knows pass as they are: the column was sampled.
    assert!(out.contains("|\\x68656c6c6f"), "{out} {err}");
    assert!(!out.contains("ada at") && !out.contains("YWRhQGV4") && !out.contains("alan.turing"), "{out} {err}");
}

/// Found by the twenty-fourth round: an agent's view, default or check could call any function
/// not on a deny-list, to run later as whoever reads the view or writes the table: a superuser
/// reading `event_summary` made a WAL-retaining replication slot and read a server file into a
/// slot name. What an agent stores may call only functions that compute a value; the server
/// holds none of the refused objects.
#[test]
fn stored_expressions_call_only_functions_that_compute() {
    let gw = Gw::start("");
    pg().psql("DROP VIEW IF EXISTS trap24, fine24; DROP TABLE IF EXISTS tdef24, tchk24").unwrap();
    let (_, err) = agent(
        &gw,
        &[
            "-c",
            "CREATE VIEW trap24 AS SELECT count(*) AS events, (SELECT slot_name FROM pg_create_physical_replication_slot('trap24')) AS note FROM users",
            "-c",
            "CREATE TABLE tdef24 (x text DEFAULT (pg_read_file('postgresql.auto.conf')))",
            "-c",
            "CREATE TABLE tchk24 (x text, CHECK (pg_promote() OR true))",
            "-c",
            "CREATE VIEW fine24 AS SELECT lower(name) AS n, count(*) AS c FROM users GROUP BY 1",
        ],
        None,
    );
    assert_eq!(err.matches("agent-no-stored-code").count(), 3, "{err}");
    let present = pg()
        .psql("SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relname IN ('trap24', 'tdef24', 'tchk24', 'fine24')")
        .unwrap();
    assert_eq!(present.trim(), "fine24", "only the view that computes was made");
    let slots = pg().psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'trap24'").unwrap();
    assert_eq!(slots.trim(), "0");
}

/// Found by the twenty-fourth round: the bound on how long an agent's statement holds its locks
/// was the role's `statement_timeout`, which the agent may `SET` to 0; rows locked `FOR UPDATE`
/// and a sleep then held an application's write for as long as it liked. hoop cancels an
/// agent's statement once nothing has come back for `limits.agent_statement_secs`.
#[test]
fn an_agent_cannot_set_away_the_bound_on_a_statement() {
    let gw = Gw::start_with_limits("agent_statement_secs = 2");
    victim("lock24");
    let started = std::time::Instant::now();
    let (out, err) = agent(
        &gw,
        &["-c", "SET statement_timeout = 0; BEGIN; SELECT id FROM lock24 WHERE id > 0 FOR UPDATE; SELECT pg_sleep(30); COMMIT", "-c", "ROLLBACK", "-c", "SELECT 'after'"],
        None,
    );
    assert!(err.contains("canceling statement"), "{out} {err}");
    assert!(out.contains("after"), "the session goes on: {out} {err}");
    assert!(started.elapsed() < Duration::from_secs(25), "took {:?}", started.elapsed());
    let sleeping = pg().psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND state = 'active' AND pid <> pg_backend_pid()").unwrap();
    assert_eq!(sleeping.trim(), "0");
    // The rows are free: an application's write does not wait.
    pg().psql("SET lock_timeout = '1s'; UPDATE lock24 SET v = v WHERE id = 1").unwrap();
}

/// Found by the twenty-fifth round: addresses kept in a `bytea[]` or a record holding a
/// `bytea` came back as hex inside the array's or record's text; a column whose first rows all
/// held one placeholder, or whose values held an address only after their first 4,096
/// characters, was never seen to hold one, and its derived values came back in clear.
#[test]
fn bytes_in_arrays_placeholders_and_long_values_keep_masking() {
    let gw = Gw::start("");
    pg().psql(
        "DROP TABLE IF EXISTS blobs25, legacy25, notes25; DROP TYPE IF EXISTS kv25;
         CREATE TYPE kv25 AS (kind text, val bytea);
         CREATE TABLE blobs25 (id int, ba bytea[], c kv25);
         INSERT INTO blobs25 SELECT g, ARRAY[convert_to('bob' || g || '@corp.example.com', 'UTF8')], ROW('email', convert_to('carol' || g || '@corp.example.com', 'UTF8'))::kv25 FROM generate_series(1, 3) g;
         CREATE TABLE legacy25 (id int, email text);
         INSERT INTO legacy25 SELECT g, 'unknown' FROM generate_series(1, 250) g;
         INSERT INTO legacy25 SELECT g, 'user' || g || '@mail.example.com' FROM generate_series(251, 300) g;
         CREATE TABLE notes25 (id int, body text);
         INSERT INTO notes25 SELECT g, repeat('lorem ipsum ', 420) || 'contact alice' || g || '@corp.example.com now' FROM generate_series(1, 3) g",
    )
    .unwrap();
    let (out, err) = agent(
        &gw,
        &[
            "-At",
            "-c",
            "SELECT 'arr', id, ba, c FROM blobs25 ORDER BY id",
            "-c",
            "SELECT 'esc', replace(encode(ba[1], 'escape'), '@', ' AT ') FROM blobs25",
            "-c",
            "SELECT 'legacy', id, replace(email, '@', ' AT ') FROM legacy25 WHERE id > 295",
            "-c",
            "SELECT 'note', id, replace(right(body, 40), '@', ' AT ') FROM notes25",
        ],
        None,
    );
    assert!(out.contains("arr|1|") && !out.contains("626f6231") && !out.contains("6361726f6c31"), "{out} {err}");
    assert!(out.contains("esc|") && !out.contains("bob1 AT"), "{out} {err}");
    assert!(out.contains("legacy|296|") && !out.contains("user296 AT"), "{out} {err}");
    assert!(out.contains("note|1|") && !out.contains("alice1 AT"), "{out} {err}");
}

/// Found by the twenty-fifth round: seven agent identities, each within its own session cap,
/// held every connection slot of the server, and people and other agents were refused by the
/// server itself. Agents together hold at most `limits.agent_upstream_sessions` of a target's
/// connections (by default half of the server's `max_connections`); people still get in.
#[tokio::test]
async fn agents_together_hold_at_most_their_share_of_the_servers_connections() {
    let gw = Gw::start_with_limits("agent_upstream_sessions = 2");
    let a = raw::Raw::login_as(&gw, "agent-a").await;
    let b = raw::Raw::login_as(&gw, "agent-b").await;
    let t = gw.token("agent-c", IdentityKind::Agent);
    let (out, err) = text(&gw.psql_with("agent-c", &t, "", &["-At", "-c", "SELECT 'agent in'"], None));
    assert!(!out.contains("agent in") && err.contains("their share (2)"), "{out} {err}");
    let t = gw.token("alice", IdentityKind::Human);
    let (out, err) = text(&gw.psql_with("alice", &t, "", &["-At", "-c", "SELECT 'person in'"], None));
    assert!(out.contains("person in"), "{out} {err}");
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = gw.token("agent-c", IdentityKind::Agent);
    let (out, err) = text(&gw.psql_with("agent-c", &t, "", &["-At", "-c", "SELECT 'agent in'"], None));
    assert!(out.contains("agent in"), "a slot given back is taken again: {out} {err}");
    drop(b);
}

/// Found by the twenty-fifth round: a card number kept as `double precision` came back as
/// `4.111111111111111e+15` and as `money` as `$4,111,111,111,111,111.00`, both one conversion
/// from the number. Their whole numbers are looked at as digits, in text and binary results,
/// and in discovery's samples.
#[tokio::test]
async fn card_numbers_kept_as_floats_or_money_are_masked() {
    let gw = Gw::start("");
    pg().psql(
        "DROP TABLE IF EXISTS cards25; CREATE TABLE cards25 (id int, f float8, m money, small float8);
         INSERT INTO cards25 VALUES (1, 4111111111111111, 4111111111111111, 12.5)",
    )
    .unwrap();
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT 'row', id, f, m, small FROM cards25", "-c", "SELECT 'derived', f::bigint + 0 FROM cards25"], None);
    assert!(out.contains("row|1|") && out.contains("|12.5"), "{out} {err}");
    assert!(!out.contains("4.111111111111111e+15") && !out.contains("4,111,111") && !out.contains("4111111111111111"), "{out} {err}");
    // Binary results: the values a driver decodes are not the card number.
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::parse("", b"SELECT f, m FROM cards25"), raw::bind_binary("", ""), raw::execute(""), raw::sync()]).await;
    let got = c.until_ready().await;
    assert!(!got.windows(8).any(|w| w == 4111111111111111f64.to_be_bytes()) && !got.windows(8).any(|w| w == 411111111111111100i64.to_be_bytes()), "{got:?}");
}

/// Found by the twenty-sixth round: a sample sees only a column's first values, so a column
/// with 300 distinct harmless notes before its first address was not seen to hold addresses,
/// and a reshaped read of it came back in clear, right after hoop had masked the same
/// addresses read plainly. What the detectors match in a column read as it is now teaches
/// discovery: values derived from that column are masked whole from then on.
#[test]
fn a_column_seen_to_hold_addresses_masks_what_is_derived_from_it() {
    let gw = Gw::start("");
    pg().psql(
        "DROP TABLE IF EXISTS notes26; CREATE TABLE notes26 (id int, body text);
         INSERT INTO notes26 SELECT g, 'note number ' || g FROM generate_series(1, 300) g;
         INSERT INTO notes26 VALUES (301, 'write to zed.quux@example.com'), (302, 'or lin.pao@example.org')",
    )
    .unwrap();
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT 'plain', body FROM notes26 WHERE id > 300", "-c", "SELECT 'derived', replace(body, '@', ' AT ') FROM notes26 WHERE id > 300"], None);
    assert!(out.contains("plain|write to [REDACTED:email]"), "{out} {err}");
    assert!(out.contains("derived|") && !out.contains("zed.quux AT") && !out.contains("lin.pao AT"), "{out} {err}");
}

/// Red-team round 27: `SYSTEM_USER` is a function to hoop's grammar (PostgreSQL 18's) and a
/// column name to a PostgreSQL 15 server, so a masked column renamed `system_user` came back in
/// clear, chose rows unreviewed, and was stored. hoop reads it both ways.
#[test]
fn a_word_older_servers_read_as_a_column_keeps_masking() {
    let gw = Gw::start_with("", 1, &["customers"]);
    let clear = ["@corp", " at corp", "4111", "eaaa"];
    for s in [
        "SELECT system_user AS x FROM (SELECT replace(email, '@', ' at ') AS system_user FROM users) s",
        "SELECT system_user FROM (SELECT translate(card, '0123456789', 'abcdefghij') AS system_user FROM users) s",
        "SELECT upper(system_user) FROM (SELECT email AS system_user FROM users) s",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(out.contains("[REDACTED") && clear.iter().all(|c| !out.contains(c) && !err.contains(c)), "{s}: {out} {err}");
    }
    // Choosing rows by it is choosing rows by the masked column: held (and timed out here).
    let (out, err) = agent(&gw, &["-c", "SELECT id FROM (SELECT id, card AS system_user FROM users) s WHERE system_user LIKE '4%'"], None);
    assert!(err.contains("review timed out") && out.trim().is_empty(), "{out} {err}");
    // Storing it is storing the masked column: refused, nothing made.
    let (out, err) = agent(&gw, &["-c", "CREATE TABLE ver_copy AS SELECT system_user FROM (SELECT replace(email, '@', ' at ') AS system_user FROM users) s"], None);
    assert!(err.contains("hoop-masked-lineage"), "{out} {err}");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_class WHERE relname = 'ver_copy'").unwrap().trim(), "0");
    // On this server the keyword is a column: without one in scope it is the server's error.
    let (_, err) = agent(&gw, &["-c", "SELECT system_user"], None);
    assert!(err.contains("system_user") && err.contains("does not exist"), "{err}");
}

/// Red-team round 32: a join's alias names rows holding every column of the join, renamed
/// (`AS j(a, b, c)`) or whole (`j`, `row_to_json(j)`), and a recursive CTE's `SEARCH`/`CYCLE`
/// columns hold the listed columns' values: each came back in clear behind a `translate`.
#[test]
fn a_join_alias_or_a_cycle_path_keeps_masking() {
    let gw = Gw::start_with("", 1, &["customers"]);
    let clear = ["@corp", "#corp", "4111", "eaaa", "ebbb"];
    for s in [
        "SELECT translate(j.c, '@.', '#!') AS e, translate(j.d, '0123456789', 'abcdefghij') AS k FROM (users CROSS JOIN (VALUES (1)) v) AS j(a, b, c, d)",
        "SELECT k.z FROM ((users u2 LEFT JOIN (VALUES (1)) v ON true) AS j(a, b, c) CROSS JOIN (VALUES (2)) w) AS k(x, y, z)",
        "SELECT translate(translate(j::text, '@.', '#!'), '0123456789', 'abcdefghij') FROM (users CROSS JOIN (VALUES (1)) v) AS j",
        "SELECT translate(row_to_json(j)::text, '@', '#') FROM (users JOIN (SELECT 1 AS id) s USING (id)) j",
        "WITH RECURSIVE w(i, e) AS (SELECT id, email FROM users UNION ALL SELECT i, e FROM w WHERE false) SEARCH BREADTH FIRST BY i SET ord SELECT i, translate(ord::text, '@.', '#!') FROM w",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(out.contains("[REDACTED") && clear.iter().all(|c| !out.contains(c) && !err.contains(c)), "{s}: {out} {err}");
    }
    // Storing through the alias is storing the masked column: refused, nothing made.
    let (out, err) = agent(&gw, &["-c", "CREATE TABLE join_copy AS SELECT j.a, j.c FROM (users CROSS JOIN (VALUES (1)) v) AS j(a, b, c)"], None);
    assert!(err.contains("hoop-masked-lineage"), "{out} {err}");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_class WHERE relname = 'join_copy'").unwrap().trim(), "0");
    // Choosing rows by it is choosing rows by the masked column: held (and timed out here);
    // so is a recursion stopped by comparing masked values (`CYCLE e, k`).
    for s in [
        "SELECT j.a FROM (users CROSS JOIN (VALUES (1)) v) AS j(a, b, c) WHERE j.c LIKE 'a%'",
        "WITH RECURSIVE w(i, e, k) AS (SELECT id, email, card FROM users UNION ALL SELECT i, e, k FROM w WHERE false) CYCLE e, k SET cyc USING pth SELECT i, translate(translate(pth::text, '@.', '#!'), '0123456789', 'abcdefghij') FROM w",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(err.contains("review timed out") && out.trim().is_empty() && clear.iter().all(|c| !err.contains(c)), "{s}: {out} {err}");
    }
}

/// Red-team round 34: PostgreSQL names a cast of `ROW(…)` or `ARRAY[…]` `row` or `array`, hoop
/// named it after the type, so `s.row` was tied to nothing and came back in clear; and an
/// upsert's `DO UPDATE … WHERE` on a masked value answered by its command tag, unreviewed.
#[test]
fn a_cast_row_keeps_its_name_and_an_upsert_condition_is_a_filter() {
    let gw = Gw::start_with("", 1, &["customers"]);
    let clear = ["@corp", "#corp", "4111", "ebbb"];
    for s in [
        "SELECT translate(s.row, '@.0123456789', '#!abcdefghij') FROM (SELECT row(email, card)::text FROM users) s",
        "SELECT translate(s.\"array\"::text, '@.', '#!') FROM (SELECT array[email]::text[] FROM users) s",
        "SELECT translate(s.\"row\"::text, '@.', '#!') FROM (SELECT (email, id)::text FROM users) s",
        "SELECT translate(s.\"array\", '@.', '#!') FROM (SELECT (array[email]::text[])[1] FROM users) s",
    ] {
        let (out, err) = agent(&gw, &["-c", s], None);
        assert!(out.contains("[REDACTED") && clear.iter().all(|c| !out.contains(c) && !err.contains(c)), "{s}: {out} {err}");
    }
    let (out, err) = agent(&gw, &["-c", "CREATE TABLE cast_copy AS SELECT s.row FROM (SELECT row(email)::text FROM users) s"], None);
    assert!(err.contains("hoop-masked-lineage"), "{out} {err}");
    assert_eq!(pg().psql("SELECT count(*) FROM pg_class WHERE relname = 'cast_copy'").unwrap().trim(), "0");
    pg().psql("DROP TABLE IF EXISTS upsert34; CREATE TABLE upsert34 (id int PRIMARY KEY, e text); INSERT INTO upsert34 VALUES (1, 'a'); GRANT ALL ON upsert34 TO PUBLIC").unwrap();
    let (out, err) = agent(&gw, &["-c", "INSERT INTO upsert34 VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET e = 'hit' WHERE (SELECT email FROM users WHERE id = 1) LIKE 'a%'"], None);
    assert!(err.contains("review timed out") && !out.contains("INSERT"), "{out} {err}");
    assert_eq!(pg().psql("SELECT e FROM upsert34 WHERE id = 1").unwrap().trim(), "a", "the upsert ran unreviewed");
}

/// Red-team round 29: capped UPDATEs over a whole table in one transaction, kept busy with
/// short sleeps (never idle, no statement long), held every other writer for as long as the
/// session lived. One agent transaction stays open at most `limits.agent_transaction_secs`:
/// past it the session ends and the server rolls back, and the rows are free again.
#[tokio::test]
async fn an_agent_transaction_kept_busy_cannot_hold_locks() {
    let gw = Gw::start_with_limits("agent_idle_in_transaction_secs = 60\nagent_transaction_secs = 3");
    ten_rows("v_txn");
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"BEGIN")]).await;
    c.until_ready().await;
    c.send(&[raw::query(b"UPDATE v_txn SET v = 'agent' WHERE id BETWEEN 1 AND 10")]).await;
    c.until_ready().await;
    assert!(pg().psql("SET lock_timeout = '300ms'; UPDATE v_txn SET v = 'w' WHERE id = 1").is_err(), "locked while the transaction is open");
    // Busy, never idle: short statements one after another, until the session is ended.
    let mut all = Vec::new();
    'busy: for _ in 0..8 {
        c.send(&[raw::query(b"SELECT pg_sleep(0.9)")]).await;
        let start = all.len();
        loop {
            match tokio::time::timeout(Duration::from_secs(3), c.s.read_buf(&mut all)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break 'busy,
                Ok(Ok(_)) if all[start..].contains(&b'Z') => break,
                Ok(Ok(_)) => {}
            }
        }
    }
    let ended = String::from_utf8_lossy(&all).into_owned();
    assert!(ended.contains("limits.agent_transaction_secs"), "{ended}");
    pg().psql("SET lock_timeout = '3s'; UPDATE v_txn SET v = 'w' WHERE id = 1").expect("the write goes once the agent's transaction is gone");
    assert_eq!(pg().psql("SELECT count(*) FROM v_txn WHERE v = 'agent'").unwrap().trim(), "0", "rolled back");
}

/// Red-team round 35: a credential written as config files write it (`.env`, YAML, INI, JSON;
/// quoted or not) came back in clear in a result, where only shapes the detectors knew were
/// masked. The value after a credential's name is masked.
#[test]
fn credentials_named_in_stored_config_text_are_masked() {
    let gw = Gw::start("");
    pg().psql(
        "DROP TABLE IF EXISTS cfg35; CREATE TABLE cfg35 (id int, body text, doc jsonb); GRANT SELECT ON cfg35 TO PUBLIC;
         INSERT INTO cfg35 VALUES (1, E'DB_HOST=db1\\nDB_PASSWORD=\"Pr0d-Secr3t-1\"\\nAPI_TOKEN=tok_live_abcdef', '{\"db\": {\"password\": \"Pr0d-Secr3t-2\"}}'),
                                  (2, E'[db]\\npassword = ''Pr0d-Secr3t-3''', NULL);",
    )
    .unwrap();
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT body, doc FROM cfg35 ORDER BY id"], None);
    // (Every sampled value holds one, so discovery masks these columns whole.)
    assert!(out.lines().count() == 2 && out.contains("[REDACTED"), "{out} {err}");
    for leak in ["Pr0d-Secr3t-1", "Pr0d-Secr3t-2", "Pr0d-Secr3t-3", "tok_live_abcdef"] {
        assert!(!out.contains(leak), "{leak}: {out}");
    }
}

/// Found by the thirty-sixth round: a partitioned or inheritance parent was sampled as a
/// relation of its own (its first rows, from its first partition), so addresses kept in a
/// later partition came back reshaped through the parent; a column configured on a parent came
/// back in clear read through a partition, an inheritance child or a view over a partition;
/// and a column whose first 5,000 values were a placeholder (`''` for the rows a table had when
/// the column was added) was never seen to hold addresses.
#[test]
fn partitions_children_and_placeholder_runs_keep_masking() {
    let gw = Gw::start("");
    pg().psql(
        "DROP SCHEMA IF EXISTS r36 CASCADE; DROP SCHEMA IF EXISTS r36b CASCADE; CREATE SCHEMA r36; CREATE SCHEMA r36b;
         CREATE TABLE r36.contacts (id int, kind text, value text) PARTITION BY LIST (kind);
         CREATE TABLE r36.contacts_note PARTITION OF r36.contacts FOR VALUES IN ('note');
         CREATE TABLE r36.contacts_email PARTITION OF r36.contacts FOR VALUES IN ('email');
         INSERT INTO r36.contacts SELECT g, 'note', 'called customer, ticket ' || g FROM generate_series(1, 6000) g;
         INSERT INTO r36.contacts VALUES (90001, 'email', 'zoe.secret@corp-example.com'), (90002, 'email', 'yan.hidden@corp-example.com');
         CREATE TABLE r36.d_par (id int, s text);
         CREATE TABLE r36.d_chi () INHERITS (r36.d_par);
         INSERT INTO r36.d_par SELECT g, 'note ' || g FROM generate_series(1, 6000) g;
         INSERT INTO r36.d_chi VALUES (9001, 'kim.child@corp-example.com');
         CREATE TABLE r36.members (id int, name text);
         INSERT INTO r36.members SELECT g, 'member ' || g FROM generate_series(1, 6000) g;
         ALTER TABLE r36.members ADD COLUMN contact text NOT NULL DEFAULT '';
         INSERT INTO r36.members SELECT g, 'member ' || g, 'member' || g || '@corp-example.com' FROM generate_series(6001, 9000) g;
         CREATE TABLE r36.users (id int, card text) PARTITION BY RANGE (id);
         CREATE TABLE r36.users_a PARTITION OF r36.users FOR VALUES FROM (0) TO (100);
         CREATE TABLE r36.users_b PARTITION OF r36.users FOR VALUES FROM (100) TO (200);
         INSERT INTO r36.users VALUES (1, 'Mr Secret Alpha'), (150, 'Ms Hidden Beta');
         CREATE VIEW r36.v_b AS SELECT id, card FROM r36.users_b;
         CREATE TABLE r36b.users (id int, card text);
         CREATE TABLE r36b.ukid () INHERITS (r36b.users);
         INSERT INTO r36b.ukid VALUES (7, 'Kid Secret Gamma')",
    )
    .unwrap();
    let (out, err) = agent(
        &gw,
        &[
            "-At",
            "-c",
            "SELECT 'part', id, translate(value, '@.', '#,') FROM r36.contacts WHERE kind = 'email' ORDER BY id",
            "-c",
            "SELECT 'inh', id, translate(s, '@.', '#,') FROM r36.d_par WHERE id > 9000",
            "-c",
            "SELECT 'placeholder', id, translate(contact, '@.', '#,') FROM r36.members WHERE id > 8997 ORDER BY id",
            "-c",
            "SELECT 'leaf', id, card FROM r36.users_a",
            "-c",
            "SELECT 'view', id, card FROM r36.v_b",
            "-c",
            "SELECT 'kid', id, card FROM r36b.ukid",
        ],
        None,
    );
    for shown in ["part|90001|", "inh|9001|", "placeholder|8998|", "leaf|1|", "view|150|", "kid|7|"] {
        assert!(out.contains(shown), "{shown} missing: {out} {err}");
    }
    for leak in ["zoe", "kim,child", "member8998#", "Secret Alpha", "Hidden Beta", "Secret Gamma"] {
        assert!(!out.contains(leak), "{leak} in clear: {out} {err}");
    }
    pg().psql("DROP SCHEMA r36 CASCADE; DROP SCHEMA r36b CASCADE").unwrap();
}

/// Found by the thirty-sixth round: a value computed from a tokenised column was tokenised
/// under the column's key, so `left(nid, 0) || 'guess'` gave the stored value's token exactly
/// when the guess was right, and `greatest(nid, g)` ordered a guess against it: an identifier
/// came back character by character. Only stored values passed through unchanged keep their
/// tokens (equal values still join); anything computed is redacted.
#[test]
fn tokens_are_only_for_stored_values() {
    let gw = Gw::start("[[masking.column_rules]]\ntable = \"tk36\"\ncolumn = \"nid\"\nmode = \"tokenise\"\n");
    pg().psql(
        "DROP TABLE IF EXISTS tk36; CREATE TABLE tk36 (id int, nid text);
         INSERT INTO tk36 VALUES (1, 'A1234567'), (2, 'B7654321'), (3, 'A1234567')",
    )
    .unwrap();
    let (out, err) = agent(
        &gw,
        &[
            "-At",
            "-c",
            "SELECT 'plain', id, nid FROM tk36 ORDER BY id",
            "-c",
            "SELECT 'star', * FROM tk36 WHERE id = 2",
            "-c",
            "SELECT 'guess', left(nid, 0) || 'B7654321' FROM tk36 WHERE id = 2",
            "-c",
            "SELECT 'greatest', greatest(nid, 'B70') FROM tk36 WHERE id = 2",
            "-c",
            "SELECT 'union', nid FROM tk36 UNION ALL SELECT 'union', 'B7654321'",
            "-c",
            "SELECT 'sub', * FROM (SELECT id, greatest(nid, 'B70') AS nid FROM tk36) s WHERE id = 2",
        ],
        None,
    );
    let token_of = |prefix: &str| -> Vec<String> { out.lines().filter(|l| l.starts_with(prefix)).map(|l| l.rsplit('|').next().unwrap().to_string()).collect() };
    let plain = token_of("plain|");
    assert!(plain.len() == 3 && plain[0].starts_with("tok_") && plain[0] == plain[2] && plain[0] != plain[1], "{out} {err}");
    assert_eq!(token_of("star|"), [plain[1].clone()], "{out} {err}");
    for derived in ["guess|", "greatest|", "union|", "sub|"] {
        let got = token_of(derived);
        assert!(!got.is_empty() && got.iter().all(|t| !t.starts_with("tok_") && !t.contains("B7") && !t.contains("A1")), "{derived} {got:?}: {out} {err}");
    }
    // Round 37: values the caller wrote itself, returned by the write, read from a temporary
    // table of the tokenised table's name, or from a view whose column of that name is a
    // literal, are no tokens either.
    let (out, err) = agent(
        &gw,
        &[
            "-At",
            "-c",
            "BEGIN",
            "-c",
            "INSERT INTO tk36 VALUES (9, 'B7654321') RETURNING 'returning', nid",
            "-c",
            "ROLLBACK",
            "-c",
            "CREATE TEMP VIEW v36 AS SELECT id, 'B7654321'::text AS nid FROM tk36",
            "-c",
            "SELECT 'view', nid FROM v36 WHERE id = 1",
            "-c",
            "CREATE TEMP TABLE tk36 (id int, nid text)",
            "-c",
            "INSERT INTO tk36 VALUES (1, 'B7654321')",
            "-c",
            "SELECT 'temp', nid FROM tk36",
        ],
        None,
    );
    let token_of = |prefix: &str| -> Vec<String> { out.lines().filter(|l| l.starts_with(prefix)).map(|l| l.rsplit('|').next().unwrap().to_string()).collect() };
    for chosen in ["returning|", "view|", "temp|"] {
        let got = token_of(chosen);
        assert!(got.len() == 1 && got[0] != plain[1] && !got[0].starts_with("tok_") && !got[0].contains("B7"), "{chosen} {got:?}: {out} {err}");
    }
    pg().psql("DROP TABLE tk36").unwrap();
}

/// Found by the thirty-sixth round: `SELECT json_agg(e) FROM events e` returned 60,000 rows in
/// one value with no review, counted as one row. A big row of a statement folding rows into a
/// value counts the rows it holds, at the checkpoint it meets before it goes: past the
/// result budget it is held (denied here: nothing of it reaches psql), and it counts in usage.
#[test]
fn rows_folded_into_one_value_count_as_rows() {
    // (The hourly budget set high: the held rows count as read, and would hold the next.)
    let gw = Gw::start("[policy.budgets]\nresult_rows = 5000\ntarget_rows_1h = 100000000\ntarget_bytes_1h = 100000000000\n");
    pg().psql(
        "DROP TABLE IF EXISTS fold36; CREATE TABLE fold36 (id int, what text);
         INSERT INTO fold36 SELECT g, 'event number ' || g || ' of the fold36 table, padded to a realistic width' FROM generate_series(1, 20000) g",
    )
    .unwrap();
    let reviewer = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", false, "too much at once");
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT json_agg(f) FROM fold36 f", "-c", "SELECT 'after', count(*) FROM fold36"], None);
    reviewer.join().unwrap();
    assert!(!out.contains("event number 19999") && !out.contains("\"id\":2"), "the folded rows reached psql: {}", &out[..out.len().min(300)]);
    // (Counted by its elements, or by its size when that says more: here its 1.8 MB.)
    let counted: u64 = err.split("paused after ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(err.contains("agent-budget-result") && counted >= 20000, "{err}");
    assert!(out.contains("after|20000"), "the session goes on: {out} {err}");
    let on_target = gw.gate.usage().into_iter().find(|u| u.target.as_deref() == Some("app") && u.table.is_none()).expect("usage on app");
    assert!(on_target.windows.h1.rows >= 20000, "{:?}", on_target.windows.h1);
    // Round 38: however the statement folds them (no aggregate named, another separator).
    let reviewer = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", false, "too much at once");
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT array_to_string(ARRAY(SELECT what FROM fold36), ' | ')"], None);
    reviewer.join().unwrap();
    assert!(!out.contains("event number 19999") && err.contains("agent-budget-result"), "{err}");
    // Round 40: a separator hoop does not read (a letter), or none left (`translate()`), or a
    // binary array count by their size.
    let reviewer = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", false, "too much at once");
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT translate(string_agg(what, ','), ',', 'Q') FROM fold36"], None);
    reviewer.join().unwrap();
    assert!(!out.contains("event number 19999") && err.contains("agent-budget-result"), "{err}");
    pg().psql("DROP TABLE fold36").unwrap();
}

/// Found by the thirty-seventh round: a view (or a foreign table), which cannot be sampled by
/// pages, was sampled by its first rows only, so addresses it gives after a run of other values
/// came back reshaped. The rows after the first sample's are read too.
#[test]
fn views_are_sampled_past_their_first_rows() {
    let gw = Gw::start("");
    pg().psql(
        "DROP VIEW IF EXISTS vq37; DROP TABLE IF EXISTS tq37;
         CREATE TABLE tq37 (id int);
         INSERT INTO tq37 SELECT g FROM generate_series(1, 9000) g;
         CREATE VIEW vq37 AS SELECT id, CASE WHEN id > 6000 THEN 'user' || id || '@corp-example.com' ELSE 'note ' || id END AS contact FROM tq37",
    )
    .unwrap();
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT 'v', id, translate(contact, '@.', '#,') FROM vq37 WHERE id > 8997 ORDER BY id"], None);
    assert!(out.contains("v|8998|"), "{out} {err}");
    assert!(!out.contains("user8998#"), "reshaped address in clear: {out}");
    pg().psql("DROP VIEW vq37; DROP TABLE tq37").unwrap();
}

/// Found by the thirty-eighth round: a `bytea` of a few hundred KB (its hex text, one long run
/// of letters and digits) took the detectors time quadratic in its length, pinning a
/// connection thread for minutes and every session on it. The detectors' patterns are bounded
/// now: the value comes back, and is what the server sent.
#[test]
fn long_hex_values_are_scanned_in_linear_time() {
    // (A value of 1 MiB or more counts as the rows it may hold: budgets set not to hold it.)
    let gw = Gw::start("[policy.budgets]\nresult_rows = 100000000\ntarget_rows_1h = 1000000000\n");
    let (out, err) = agent(&gw, &["-At", "-c", "SELECT length(encode(decode(repeat('6576656e742031', 40000), 'hex'), 'hex')), md5(decode(repeat('6576656e742031', 40000), 'hex'))", "-c", "SELECT decode(repeat('6576656e742031', 40000), 'hex')"], None);
    let mut lines = out.lines();
    assert!(lines.next().is_some_and(|l| l.starts_with("560000|")), "{out:.200} {err}");
    let value = lines.next().unwrap_or_default();
    assert_eq!(value, format!("\\x{}", "6576656e742031".repeat(40000)), "{err}");
}

/// Every recorded event of the gateway's sessions, as JSON bodies, one list per session.
fn recorded_sessions(gw: &Gw) -> Vec<Vec<serde_json::Value>> {
    let mut sessions = Vec::new();
    for f in std::fs::read_dir(gw.dir.path().join("recordings")).unwrap() {
        let path = f.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            let lines = std::fs::read_to_string(&path).unwrap_or_default();
            sessions.push(lines.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).map(|v| v["body"].clone()).collect());
        }
    }
    sessions
}

/// The recorded events of the one session that has an action whose text holds `needle`.
fn session_of(sessions: &[Vec<serde_json::Value>], needle: &str) -> Vec<serde_json::Value> {
    let has = |e: &serde_json::Value| e["type"] == "action" && e["action"]["sql"]["text"].as_str().is_some_and(|t| t.contains(needle));
    let found: Vec<&Vec<serde_json::Value>> = sessions.iter().filter(|s| s.iter().any(has)).collect();
    assert_eq!(found.len(), 1, "one session runs {needle}");
    found[0].clone()
}


/// Red-team round 55: the recording misstated what ran. A Bind that failed (`1/0` folds
/// there) left its action without a result; statements the server skipped after an error in
/// their batch looked as if they ran; an insert of a batch, a text or a transaction the server
/// then rolled back was recorded as `INSERT 0 1` and nothing more; a write through a
/// row-limited portal was recorded with no status; a Query sent just before the client closed
/// ran with no result recorded. Each now has its own result or rollback record, checked
/// against what the server holds.
#[tokio::test]
async fn the_recording_tells_failed_skipped_and_rolled_back_statements() {
    victim("v_tx55");
    let gw = Gw::start("");
    let mut c = raw::Raw::login(&gw).await;
    let batch = |sqls: &[&str]| {
        let mut m = Vec::new();
        for s in sqls {
            m.extend([raw::parse("", s.as_bytes()), raw::bind("", ""), raw::execute("")]);
        }
        m.push(raw::sync());
        m
    };
    c.send(&batch(&["INSERT INTO v_tx55 VALUES (10, (1/0)::text)"])).await;
    assert!(String::from_utf8_lossy(&c.until_ready().await).contains("22012"));
    c.send(&batch(&["INSERT INTO v_tx55 VALUES (11, 'pipe1')", "SELECT 1/0", "INSERT INTO v_tx55 VALUES (12, 'pipe3')"])).await;
    assert!(String::from_utf8_lossy(&c.until_ready().await).contains("22012"));
    c.send(&[raw::query(b"INSERT INTO v_tx55 VALUES (13, 'text'); SELECT 1/0")]).await;
    c.until_ready().await;
    for q in ["BEGIN", "INSERT INTO v_tx55 VALUES (14, 'block')", "ROLLBACK", "BEGIN", "INSERT INTO v_tx55 VALUES (15, 'kept')", "SAVEPOINT s", "INSERT INTO v_tx55 VALUES (16, 'undone')", "ROLLBACK TO s", "COMMIT"] {
        c.send(&[raw::query(q.as_bytes())]).await;
        c.until_ready().await;
    }
    let mut limited = raw::execute("p");
    let n = limited.len();
    limited[n - 4..].copy_from_slice(&1i32.to_be_bytes());
    c.send(&[raw::parse("w", b"INSERT INTO v_tx55 SELECT g, 'portal' FROM generate_series(20, 29) g RETURNING id"), raw::bind("p", "w"), limited, raw::sync()]).await;
    let got = c.until_ready().await;
    assert!(messages(&got).iter().any(|(t, _)| *t == b's'), "{}", String::from_utf8_lossy(&got));
    for q in ["BEGIN", "INSERT INTO v_tx55 VALUES (17, 'open')"] {
        c.send(&[raw::query(q.as_bytes())]).await;
        c.until_ready().await;
    }
    drop(c);
    // A Query, then the connection closed at once.
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"INSERT INTO v_tx55 SELECT g, 'closed' FROM generate_series(30, 49) g")]).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let on_server = pg().psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM v_tx55 WHERE id < 30").unwrap();
    assert_eq!(on_server.trim(), "1,2,15,20,21,22,23,24,25,26,27,28,29");
    let closed = pg().psql("SELECT count(*) FROM v_tx55 WHERE v = 'closed'").unwrap().trim().to_string();

    let sessions = recorded_sessions(&gw);
    let ids_in = |events: &[serde_json::Value], needle: &str| -> Vec<u64> {
        events.iter().filter(|e| e["type"] == "action" && e["action"]["sql"]["text"].as_str().is_some_and(|t| t.contains(needle))).filter_map(|e| e["action_id"].as_u64()).collect()
    };
    // (Action ids count per session: each needle is looked up in its own session.)
    let results_of = |needle: &str| -> Vec<(String, String)> {
        let events = session_of(&sessions, needle);
        let ids = ids_in(&events, needle);
        events
            .iter()
            .filter(|e| e["type"] == "action_result" && e["action_id"].as_u64().is_some_and(|id| ids.contains(&id)))
            .map(|e| (e["status"].as_str().unwrap_or_default().to_string(), e["error"].as_str().unwrap_or_default().to_string()))
            .collect()
    };
    let was_rolled_back = |needle: &str, reason: &str| {
        let events = session_of(&sessions, needle);
        let ids = ids_in(&events, needle);
        events.iter().filter(|e| e["type"] == "rolled_back" && e["reason"].as_str().is_some_and(|r| r.contains(reason))).any(|e| e["action_ids"].as_array().unwrap().iter().any(|v| v.as_u64().is_some_and(|id| ids.contains(&id))))
    };
    let events: Vec<serde_json::Value> = sessions.iter().flatten().cloned().collect();
    let all: String = events
        .iter()
        .filter(|e| e["type"] != "session_start")
        .map(|e| format!("\n{} {} {} {} {} {}", e["type"], e["action_id"], e["action"]["sql"]["text"], e["status"], e["error"], e["action_ids"]))
        .collect();
    assert!(results_of("(1/0)::text").iter().any(|(s, e)| s == "ERROR" && e.contains("division by zero")), "a failed Bind's result: {all}");
    assert!(results_of("'pipe1'").iter().any(|(s, _)| s == "INSERT 0 1") && was_rolled_back("'pipe1'", "implicit transaction"), "{all}");
    assert!(results_of("'pipe3'").iter().any(|(s, e)| s == "SKIPPED" && e.contains("skipped")), "{all}");
    assert!(was_rolled_back("(13, 'text')", "implicit transaction"), "{all}");
    assert!(was_rolled_back("(14, 'block')", "ROLLBACK"), "{all}");
    assert!(!was_rolled_back("(15, 'kept')", "") && !was_rolled_back("(16, 'undone')", ""), "a savepoint's rollback is the ROLLBACK TO action's to tell: {all}");
    assert!(results_of("'portal'").iter().any(|(s, e)| s == "SUSPENDED" && e.contains("row-limited portal")), "{all}");
    assert!(was_rolled_back("(17, 'open')", "session ended"), "{all}");
    let tags: Vec<String> = results_of("'closed'").into_iter().map(|(s, _)| s).collect();
    match closed.as_str() {
        "20" => assert!(tags.contains(&"INSERT 0 20".to_string()), "ran, and recorded so: {tags:?}"),
        _ => assert!(tags.contains(&"ERROR".to_string()), "cancelled, and recorded so: {closed} {tags:?}"),
    }
}

/// Red-team round 56 (found on Kubernetes watches, the same here): a result dense in masked
/// values met no checkpoint before 1,000 rows or 1 MiB, so 600 rows of four masked values each
/// went out whole past a 1,500 masked-values budget. Masked values bring a checkpoint too.
#[test]
fn a_result_dense_in_masked_values_meets_the_masked_values_budget() {
    let gw = Gw::start("[policy.budgets]\nmasked_values_1h = 1500\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reviewer = hoop_harness::review::decide_all(gw.gate.approvals(), "alice", false, stop.clone());
    let (out, err) = agent(&gw, &["-c", "SELECT u.card, u.email, u.card AS c2, u.email AS e2 FROM users u, generate_series(1, 300) g WHERE u.id IN (1, 2)"], None);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reviewer.join().unwrap() >= 1, "held midway: {err}");
    assert!(err.contains("agent-budget-masked-values"), "{err}");
    assert!(out.lines().count() < 600 && !out.contains("4111 1111"), "{} rows delivered", out.lines().count());
    // Round 57: one value the detectors match 1,600 times went out whole before the pause. A
    // row of a checkpoint's masked values meets it before it goes.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reviewer = hoop_harness::review::decide_all(gw.gate.approvals(), "alice", false, stop.clone());
    // (psql drops the rows of a result that ends in an error: the bytes are read raw.)
    let got = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut c = raw::Raw::login_as(&gw, "agent-2").await;
        c.send(&[raw::query(b"SELECT repeat('mail ann@corp.example ', 1600) AS dense")]).await;
        c.until_ready().await
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let shown = String::from_utf8_lossy(&got).into_owned();
    assert!(reviewer.join().unwrap() >= 1 && shown.contains("agent-budget-masked-values"), "{shown:.300}");
    assert!(!messages(&got).iter().any(|(t, _)| *t == b'D'), "the row did not go: {shown:.300}");
}

/// Red-team round 53: a reviewer approved `COPY … FROM STDIN` into a sensitive table and the
/// rows that followed were never shown. The rows are gathered before the reviewer is asked and
/// shown in the ticket; approved, exactly they are written; denied, nothing is; rows too many
/// to show whole are refused without a ticket.
#[test]
fn the_rows_of_a_reviewed_copy_from_stdin_are_shown_before_they_are_written() {
    victim("v_copyin");
    let gw = Gw::start_with_limits_and_sensitive("max_message_bytes = 4194304", &["v_copyin"]);
    let mut reviewer = hoop_core::identity::Identity::new("rev", IdentityKind::Human);
    reviewer.groups = vec!["review".into()];
    let review = |approve: bool| {
        let approvals = gw.gate.approvals().clone();
        let reviewer = reviewer.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                if let Some(t) = approvals.list().into_iter().next() {
                    let shown = t.action.summary();
                    approvals.decide(&t.id, &reviewer, approve, "seen").unwrap();
                    return shown;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!("no ticket");
        })
    };
    let t = review(true);
    let (out, err) = agent(&gw, &["-c", "COPY v_copyin FROM STDIN"], Some("5\tfive\n6\tsix\n\\.\n"));
    let shown = t.join().unwrap();
    assert!(shown.contains("rows sent (3 lines): 5\\tfive\\n6\\tsix"), "{shown}");
    assert!(out.contains("COPY 2") || err.is_empty(), "{out} {err}");
    assert_eq!(pg().psql("SELECT string_agg(v, ',' ORDER BY id) FROM v_copyin").unwrap().trim(), "a,b,five,six");
    // Denied: nothing written, the reviewer's refusal is the client's error.
    let t = review(false);
    let (_, err) = agent(&gw, &["-c", "COPY v_copyin FROM STDIN"], Some("7\tseven\n\\.\n"));
    assert!(t.join().unwrap().contains("7\\tseven"));
    assert!(err.contains("denied by reviewer"), "{err}");
    assert_eq!(rows("v_copyin"), "4");
    // More rows than a ticket shows whole: refused, no ticket.
    let many: String = (100..80_000).map(|i| format!("{i}\tvalue-{i}\n")).collect::<String>() + "\\.\n";
    let (_, err) = agent(&gw, &["-c", "COPY v_copyin FROM STDIN"], Some(&many));
    assert!(err.contains("hoop-unreviewable-command"), "{err}");
    assert!(gw.gate.approvals().list().is_empty());
    assert_eq!(rows("v_copyin"), "4");
    // The session goes on after each: a COPY then a statement in one psql run.
    let t = review(true);
    let (out, err) = agent(&gw, &["-c", "COPY v_copyin FROM STDIN", "-c", "SELECT 'after'"], Some("8\teight\n\\.\n"));
    t.join().unwrap();
    assert!(out.contains("after") && rows("v_copyin") == "5", "{out} {err}");
    // Round 59: rows between two key lines were masked away as one value, and written unseen;
    // each row is masked on its own.
    let t = review(false);
    let (_, err) = agent(&gw, &["-c", "COPY v_copyin FROM STDIN"], Some("-----BEGIN RSA PRIVATE KEY-----\t9\n10\thidden-row\n-----END RSA PRIVATE KEY-----\t11\n\\.\n"));
    let shown = t.join().unwrap();
    assert!(shown.contains("10\\thidden-row"), "{shown} {err}");
    // Round 59: a held COPY not alone in its text, through the extended protocol, or in another
    // encoding is refused, never held without its rows.
    for (sql, input) in [("COPY v_copyin FROM STDIN; COPY v_copyin FROM STDIN", "12\tx\n\\.\n13\ty\n\\.\n"), ("COPY v_copyin FROM STDIN WITH (ENCODING 'LATIN1')", "14\tz\n\\.\n")] {
        let (_, err) = agent(&gw, &["-c", sql], Some(input));
        assert!(err.contains("hoop-unreviewable-command"), "{sql}: {err}");
    }
    let got = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut c = raw::Raw::login(&gw).await;
        c.send(&[raw::parse("", b"COPY v_copyin FROM STDIN"), raw::bind("", ""), raw::execute(""), raw::sync()]).await;
        c.until_ready().await
    });
    assert!(String::from_utf8_lossy(&got).contains("hoop-unreviewable-command"), "{}", String::from_utf8_lossy(&got));
    assert!(gw.gate.approvals().list().is_empty());
    assert_eq!(rows("v_copyin"), "5");
}

/// Red-team round 57, against round 55's records: a text that committed part of itself then
/// failed was recorded as rolled back whole; a batch never synced (Flush, then the client
/// gone) was recorded as done though the server rolled it back; `ROLLBACK AND CHAIN` was read
/// as a savepoint's rollback; a write whose result was paused for review, the client then
/// gone, had no result at all. Each is checked against what the server holds.
#[tokio::test]
async fn the_recording_follows_commits_inside_texts_unsynced_batches_chains_and_paused_writes() {
    victim("v_tx57");
    let gw = Gw::start("[policy.budgets]\nmasked_values_1h = 1500\n");
    let mut c = raw::Raw::login(&gw).await;
    c.send(&[raw::query(b"INSERT INTO v_tx57 VALUES (10, 'kept'); COMMIT; INSERT INTO v_tx57 VALUES (11, 'undone'); SELECT 1/0")]).await;
    c.until_ready().await;
    for q in ["BEGIN", "INSERT INTO v_tx57 VALUES (12, 'chained-undone')", "ROLLBACK AND CHAIN", "INSERT INTO v_tx57 VALUES (13, 'chained-kept')", "COMMIT"] {
        c.send(&[raw::query(q.as_bytes())]).await;
        c.until_ready().await;
    }
    // Executed and flushed, never synced: the client goes.
    c.send(&[raw::parse("", b"INSERT INTO v_tx57 VALUES (14, 'unsynced')"), raw::bind("", ""), raw::execute(""), raw::flush()]).await;
    c.read_until("the insert's tag", |got| messages(got).iter().any(|(t, _)| *t == b'C')).await;
    drop(c);
    // A write whose masked result is paused for review (the masked-values budget), the client
    // then gone.
    let mut c = raw::Raw::login_as(&gw, "agent-57").await;
    c.send(&[raw::query(b"WITH w AS (INSERT INTO v_tx57 VALUES (15, 'paused-write') RETURNING id) SELECT u.card, u.email, u.card AS c2 FROM users u, generate_series(1, 400) g WHERE u.id IN (1, 2)")]).await;
    c.read_until("the pause", |got| String::from_utf8_lossy(got).contains("paused after")).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(gw.gate.approvals().list().is_empty(), "the paused result's ticket went with its client");

    let on_server = pg().psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM v_tx57 WHERE id >= 10").unwrap();
    assert_eq!(on_server.trim(), "10,13,15");
    let sessions = recorded_sessions(&gw);
    let ids_of = |events: &[serde_json::Value], needle: &str| -> Vec<u64> {
        events.iter().filter(|e| e["type"] == "action" && e["action"]["sql"]["text"].as_str().is_some_and(|t| t.contains(needle))).filter_map(|e| e["action_id"].as_u64()).collect()
    };
    let rolled_back = |needle: &str| -> Vec<serde_json::Value> {
        let events = session_of(&sessions, needle);
        let ids = ids_of(&events, needle);
        events.iter().filter(|e| e["type"] == "rolled_back" && e["action_ids"].as_array().unwrap().iter().any(|v| v.as_u64().is_some_and(|id| ids.contains(&id)))).cloned().collect()
    };
    let all: String = sessions.iter().flatten().filter(|e| e["type"] != "session_start").map(|e| format!("\n{e}")).collect();
    let events = session_of(&sessions, "'paused-write'");
    let ids_of = |needle: &str| ids_of(&events, needle);
    let text = rolled_back("'kept'); COMMIT");
    assert!(text.len() == 1 && text[0]["after_commit"].as_u64().is_some(), "only what ran after its COMMIT: {all}");
    assert!(!rolled_back("'chained-undone'").is_empty() && rolled_back("'chained-kept'").is_empty(), "{all}");
    assert!(rolled_back("'unsynced'").iter().any(|r| r["reason"].as_str().unwrap().contains("session ended")), "{all}");
    let paused = ids_of("'paused-write'");
    let results: Vec<&serde_json::Value> = events.iter().filter(|e| e["type"] == "action_result" && e["action_id"].as_u64().is_some_and(|id| paused.contains(&id))).collect();
    assert!(results.iter().any(|r| r["status"] == "SELECT 800" && r["error"].as_str().is_some_and(|e| e.contains("finished"))), "{all}");
    assert!(rolled_back("'paused-write'").is_empty(), "{all}");
}

/// Red-team round 59: a COPY … FROM STDIN through the extended protocol, as libpq sends it
/// (Parse, Bind, Execute, Sync; the rows, CopyDone, Sync), is answered by one ReadyForQuery:
/// the server ignores the Sync that arrives while it copies rows in. hoop waited for two, and
/// the session's next statements went unrecorded or were never forwarded.
#[tokio::test]
async fn an_extended_protocol_copy_keeps_answers_in_step() {
    victim("v_xcopy59");
    let gw = Gw::start("");
    let mut c = raw::Raw::login(&gw).await;
    let data = |d: &[u8]| {
        let mut m = vec![b'd'];
        m.extend_from_slice(&((d.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(d);
        m
    };
    let done = vec![b'c', 0, 0, 0, 4];
    c.send(&[raw::parse("", b"COPY v_xcopy59 FROM STDIN"), raw::bind("", ""), raw::execute(""), raw::sync()]).await;
    // The CopyInResponse, then the rows.
    c.read_until("CopyInResponse", |got| messages(got).iter().any(|(t, _)| *t == b'G')).await;
    c.send(&[data(b"10\tten\n"), done, raw::sync()]).await;
    let got = c.until_ready().await;
    assert!(String::from_utf8_lossy(&got).contains("COPY 1"), "{}", String::from_utf8_lossy(&got));
    // The session answers in step afterwards, and records what ran.
    for q in ["INSERT INTO v_xcopy59 VALUES (11, 'after-copy')", "BEGIN", "INSERT INTO v_xcopy59 VALUES (12, 'in-tx')", "COMMIT"] {
        c.send(&[raw::query(q.as_bytes())]).await;
        let got = tokio::time::timeout(Duration::from_secs(20), c.until_ready()).await.expect("an answer");
        assert!(messages(&got).iter().any(|(t, _)| *t == b'C'), "{q}: {}", String::from_utf8_lossy(&got));
    }
    drop(c);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(pg().psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM v_xcopy59 WHERE id >= 10").unwrap().trim(), "10,11,12");
    let events = session_of(&recorded_sessions(&gw), "'after-copy'");
    let statuses: Vec<&str> = events.iter().filter(|e| e["type"] == "action_result").filter_map(|e| e["status"].as_str()).collect();
    for s in ["COPY 1", "INSERT 0 1", "BEGIN", "COMMIT"] {
        assert!(statuses.contains(&s), "{s} recorded: {statuses:?}");
    }
    assert!(!events.iter().any(|e| e["type"] == "note" && e["message"].as_str().is_some_and(|m| m.contains("still owed"))), "{events:?}");
}

/// Red-team round 97: a plain EXPLAIN of a statement reading a masked column showed its
/// average width (`width=18` for `email`: `pg_stats.avg_width`, the exact length on a table of
/// one row) without a review, where reading `pg_stats` is held. Plans of statements that read
/// masked columns show every width as 0, in text and JSON; others keep theirs. Round 98: costs
/// too (a Sort that would spill costs by its rows' bytes).
#[test]
fn plans_do_not_show_the_widths_or_costs_of_masked_columns() {
    let gw = Gw::start_with("", 1, &[]);
    pg().psql("ANALYZE users").unwrap();
    let direct = pg().psql("EXPLAIN SELECT email FROM users").unwrap();
    assert!(direct.contains("width=") && !direct.contains("width=0"), "the server shows a width: {direct}");
    for s in ["EXPLAIN SELECT email FROM users", "EXPLAIN SELECT lower(email) AS e FROM users", "EXPLAIN SELECT * FROM users"] {
        let (out, err) = agent(&gw, &["-At", "-c", s], None);
        assert!(out.contains("width=0") && !out.contains("width=1") && !out.contains("width=2") && !out.contains("width=3"), "{s}: {out} {err}");
    }
    let (out, err) = agent(&gw, &["-At", "-c", "EXPLAIN (FORMAT JSON) SELECT email FROM users"], None);
    assert!(out.contains("\"Plan Width\": 0") && out.contains("\"Total Cost\": 0.00") && out.contains("\"Node Type\""), "{out} {err}");
    // Red-team round 98: a Sort that would spill costs by its rows' bytes, so padding the
    // target list with constants until the cost steps gave the average width. Costs are hidden
    // with the widths.
    let spill = "SET work_mem = '64kB'; EXPLAIN SELECT u.email, g FROM users u, generate_series(1, 100000) g ORDER BY g";
    let direct = pg().psql(spill).unwrap();
    assert!(direct.contains("Sort  (cost=") && !direct.contains("Sort  (cost=0.00..0.00"), "the server's plan has costs: {direct}");
    let (out, err) = agent(&gw, &["-At", "-c", spill], None);
    assert!(out.contains("Sort  (cost=0.00..0.00 rows=") && !out.lines().any(|l| l.contains("cost=") && !l.contains("cost=0.00..0.00")), "{out} {err}");
    // A plan of what reads no table with masked columns is the server's.
    victim("rt97_plain");
    let (out, err) = agent(&gw, &["-At", "-c", "EXPLAIN SELECT id FROM rt97_plain"], None);
    assert!(out.contains("width=4"), "{out} {err}");
    // ... and so is one that reads no masked column of a table that has some (compatibility
    // round 4: an agent tuning a count over such a table saw every cost as 0).
    for s in ["EXPLAIN SELECT count(*) FROM users", "EXPLAIN SELECT id, name FROM users WHERE id > 1 ORDER BY name"] {
        let (out, err) = agent(&gw, &["-At", "-c", s], None);
        assert!(out.contains("cost=") && !out.contains("cost=0.00..0.00"), "{s}: {out} {err}");
    }
}

/// Red-team Postgres round 124: `EXPLAIN ANALYZE EXECUTE` of a prepared UPDATE ran it whole,
/// with no row count in its answer, and committed 60,000 rows past the ceiling; and `ALTER
/// COLUMN … TYPE text` (let through as lossless) rewrote every float of a column to one digit
/// under `extra_float_digits = -15`. Both are refused, and the server keeps its rows.
#[test]
fn wrapped_and_retyping_rewrites_are_refused() {
    let gw = Gw::start("");
    pg().psql(
        "DROP TABLE IF EXISTS r124_big, r124_fl; CREATE TABLE r124_big AS SELECT g AS id, 0 AS v FROM generate_series(1, 1500) g; \
         CREATE TABLE r124_fl AS SELECT g AS id, g + 0.123456789::float8 AS f FROM generate_series(1, 10) g; GRANT ALL ON r124_big, r124_fl TO PUBLIC",
    )
    .unwrap();
    for explain in ["explain analyze execute pw", "explain (analyse, costs off) execute pw"] {
        let (out, err) = agent(&gw, &["-c", "prepare pw as update r124_big set v = 1 where id is not null", "-c", explain], None);
        assert!(err.contains("hoop-max-rows-written") && err.contains("reports no row count"), "{explain}: {out} {err}");
        assert_eq!(pg().psql("SELECT count(*) FROM r124_big WHERE v = 1").unwrap().trim(), "0", "{explain}");
    }
    let (out, err) = agent(&gw, &["-c", "set extra_float_digits = -15", "-c", "alter table r124_fl alter column f type text"], None);
    assert!(err.contains("agent-no-destructive-ddl") && err.contains("r124_fl.f"), "{out} {err}");
    assert_eq!(pg().psql("SELECT data_type FROM information_schema.columns WHERE table_name = 'r124_fl' AND column_name = 'f'").unwrap().trim(), "double precision");
    assert_eq!(pg().psql("SELECT f FROM r124_fl WHERE id = 1").unwrap().trim(), "1.123456789");
    // Round 125: the float column renamed to the integer column's name first, in the same
    // transaction (its type is asked in the session) or text (refused: it runs after any
    // question), where the catalog hoop reads still has the old names.
    let script = "BEGIN;\nSET LOCAL extra_float_digits = -15;\nALTER TABLE r124_fl RENAME COLUMN id TO id2;\nALTER TABLE r124_fl RENAME COLUMN f TO id;\nALTER TABLE r124_fl ALTER COLUMN id TYPE text;\nROLLBACK;\n";
    let (out, err) = agent(&gw, &[], Some(script));
    assert!(err.contains("agent-no-destructive-ddl") && err.contains("r124_fl.id to text rewrites"), "the type asked in the session: {out} {err}");
    // Round 126: in REPEATABLE READ the question sees columns as they were when the
    // transaction began; under a low `extra_float_digits` a float swapped in under the name by
    // another session while the ALTER waits would lose digits: refused, even for an integer.
    for script in [
        "BEGIN ISOLATION LEVEL REPEATABLE READ;\nALTER TABLE r124_fl ALTER COLUMN id TYPE text;\nROLLBACK;\n",
        "SET extra_float_digits = -15;\nALTER TABLE r124_fl ALTER COLUMN id TYPE text;\n",
    ] {
        let (out, err) = agent(&gw, &[], Some(script));
        assert!(err.contains("agent-no-destructive-ddl") && err.contains("READ COMMITTED"), "{script}: {out} {err}");
    }
    let (out, err) = agent(&gw, &[], Some("BEGIN;\nALTER TABLE r124_fl ALTER COLUMN id TYPE text;\nROLLBACK;\n"));
    assert!(err.is_empty() && out.contains("ALTER TABLE"), "an integer column, read committed: {out} {err}");
    let (out, err) = agent(&gw, &["-c", "ALTER TABLE r124_fl RENAME COLUMN f TO g; ALTER TABLE r124_fl ALTER COLUMN g TYPE text"], None);
    assert!(err.contains("agent-no-destructive-ddl") && err.contains("renamed"), "{out} {err}");
    assert_eq!(pg().psql("SELECT f FROM r124_fl WHERE id = 1").unwrap().trim(), "1.123456789");
}
