//! An extended-protocol driver (tokio-postgres) through hoop: prepared statements, binary
//! results, pipelining, Bind-time checks, cancel, reviews, and hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod common;

use common::{Gw, messages, pg};
use hoop_core::identity::IdentityKind;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn connect(gw: &Gw, kind: IdentityKind) -> tokio_postgres::Client {
    let t = gw.token("agent-1", kind);
    let (client, conn) = tokio_postgres::connect(&format!("{} password={t}", gw.conninfo("agent-1")), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Default agent rules.
#[tokio::test]
async fn prepared_statements_binary_results_and_pipelines() {
    let gw = Gw::start("");
    let c = connect(&gw, IdentityKind::Agent).await;
    // Binary results: tokio-postgres asks for binary for every column.
    let st = c.prepare("SELECT id, email, card, name FROM users WHERE id = $1").await.unwrap();
    let row = c.query_one(&st, &[&1i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    assert_eq!(row.get::<_, String>(1), "[REDACTED:email]");
    assert_eq!(row.get::<_, String>(2), "[REDACTED:card]");
    assert_eq!(row.get::<_, String>(3), "Ann");
    // The same statement again, then several pipelined at once.
    let rows = c.query(&st, &[&2i32]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(3), "Bob");
    let (a, b, d) = tokio::join!(c.query_one(&st, &[&1i32]), c.query_one("SELECT $1::int + 1", &[&41i32]), c.query_one(&st, &[&2i32]));
    assert_eq!(a.unwrap().get::<_, String>(3), "Ann");
    assert_eq!(b.unwrap().get::<_, i32>(0), 42);
    assert_eq!(d.unwrap().get::<_, String>(3), "Bob");
    // A refused statement fails with 42501 at Parse time; the connection carries on.
    let e = c.prepare("DROP TABLE users").await.err().or(c.execute("DROP TABLE users", &[]).await.err()).unwrap();
    assert_eq!(e.code().map(|c| c.code()), Some("42501"), "{e}");
    assert!(e.to_string().contains("agent-no-destructive-ddl") || format!("{e:?}").contains("agent-no-destructive-ddl"));
    assert_eq!(c.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get::<_, i64>(0), 2);
}

/// A rule on bound parameters, checked at Bind.
#[tokio::test]
async fn parameters_are_checked_at_bind() {
    let gw = Gw::start(
        "[[policy.rules]]\nname = \"no-user-2\"\nwhen = 'action.kind == \"sql\" && action.sql.params.exists(p, p == \"2\")'\nthen = \"deny\"\n",
    );
    let c = connect(&gw, IdentityKind::Agent).await;
    let st = c.prepare("SELECT name FROM users WHERE id = $1::int").await.unwrap();
    // tokio-postgres sends int parameters in binary; text parameters show the rule at work.
    let st_text = c.prepare("SELECT name FROM users WHERE id::text = $1").await.unwrap();
    assert_eq!(c.query_one(&st_text, &[&"1"]).await.unwrap().get::<_, String>(0), "Ann");
    let e = c.query_one(&st_text, &[&"2"]).await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("42501"), "{e:?}");
    // Inside a transaction the refusal aborts it, as a server error would.
    c.batch_execute("BEGIN").await.unwrap();
    assert!(c.query(&st_text, &[&"2"]).await.is_err());
    let e = c.query_one(&st, &[&1i32]).await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("25P02"), "transaction is aborted: {e:?}");
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(c.query_one(&st, &[&1i32]).await.unwrap().get::<_, String>(0), "Ann");
}

/// Permissive rules: cancel through the client's cancel token reaches the real backend.
#[tokio::test]
async fn cancel_while_pg_sleep_runs() {
    let gw = Gw::start("[policy]\ndefault_rules = false\n");
    let c = connect(&gw, IdentityKind::Agent).await;
    let token = c.cancel_token();
    let started = std::time::Instant::now();
    let sleeper = tokio::spawn(async move { c.simple_query("SELECT pg_sleep(20)").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let e = sleeper.await.unwrap().unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "query_canceled: {e:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Default agent rules: reads of a sensitive table wait for review.
#[tokio::test]
async fn reviews_approve_deny_and_time_out() {
    let gw = Gw::start("");
    let c = connect(&gw, IdentityKind::Agent).await;
    let decide = |approve: bool| hoop_harness::review::decide_first(gw.gate.approvals(), "alice", approve, "not today");
    let d = decide(true);
    let rows = c.query("SELECT id, email FROM customers", &[]).await.unwrap();
    d.join().unwrap();
    assert_eq!(rows[0].get::<_, String>(1), "[REDACTED:email]");
    let d = decide(false);
    let e = c.query("SELECT id FROM customers", &[]).await.unwrap_err();
    d.join().unwrap();
    assert_eq!(e.code().map(|c| c.code()), Some("42501"));
    assert!(format!("{e:?}").contains("denied by reviewer alice"), "{e:?}");
    // Nobody decides: the review times out (3 s in this config) and the statement is refused.
    let e = c.query("SELECT id FROM customers", &[]).await.unwrap_err();
    assert!(format!("{e:?}").contains("timed out"), "{e:?}");
    // The connection is healthy throughout.
    assert_eq!(c.query_one("SELECT 7", &[]).await.unwrap().get::<_, i32>(0), 7);
}

async fn raw(gw: &Gw, bytes: &[u8]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

/// Hostile input ends that session only.
#[tokio::test]
async fn bad_input_ends_only_that_session() {
    let gw = Gw::start("");
    let c = connect(&gw, IdentityKind::Agent).await;
    // Garbage, a huge startup length, a truncated startup.
    raw(&gw, b"GET / HTTP/1.1\r\n\r\n").await;
    raw(&gw, &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]).await;
    raw(&gw, &[0, 0, 0, 9, 0, 3]).await;
    // A logged-in session that sends a message over the configured limit (1 MiB here).
    let t = gw.token("agent-2", IdentityKind::Agent);
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(&hoop_harness::pg_startup_packet(&[("user", "agent-2"), ("database", "app")])).await.unwrap();
    let mut buf = vec![0u8; 9];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf[0], b'R');
    let mut pw = vec![b'p'];
    pw.extend_from_slice(&((t.len() + 5) as i32).to_be_bytes());
    pw.extend_from_slice(t.as_bytes());
    pw.push(0);
    s.write_all(&pw).await.unwrap();
    let mut big = vec![b'Q'];
    big.extend_from_slice(&(64 * 1024 * 1024i32).to_be_bytes());
    big.extend_from_slice(&[b'x'; 1024]);
    s.write_all(&big).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("exceeds the limit"), "{text}");
    // A client that vanishes mid-query.
    let c2 = connect(&gw, IdentityKind::Agent).await;
    let q = tokio::spawn(async move { c2.simple_query("SELECT pg_sleep(1)").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    q.abort();
    // The other session, and new ones, carry on.
    assert_eq!(c.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0), 1);
    let c3 = connect(&gw, IdentityKind::Agent).await;
    assert_eq!(c3.query_one("SELECT 2", &[]).await.unwrap().get::<_, i32>(0), 2);
    let _ = pg();
}

/// Budgets through a driver (extended protocol, binary results): a large result pauses midway
/// and, approved, returns every row exactly once; denied, the statement fails with 42501 and
/// the connection goes on.
#[tokio::test]
async fn a_large_result_pauses_midway_for_review() {
    let gw = Gw::start("[policy.budgets]\nresult_rows = 2500\n");
    let c = connect(&gw, IdentityKind::Agent).await;
    let d = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", true, "");
    let rows = c.query("SELECT x FROM generate_series(1, 20000) x", &[]).await.unwrap();
    d.join().unwrap();
    let ids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, (1..=20000).collect::<Vec<i32>>(), "every row once, in order");
    c.batch_execute("BEGIN").await.unwrap();
    let d = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", false, "");
    let e = c.query("SELECT x FROM generate_series(1, 20000) x", &[]).await.unwrap_err();
    d.join().unwrap();
    assert_eq!(e.code().map(|c| c.code()), Some("42501"), "{e:?}");
    assert!(format!("{e:?}").contains("did not let this result go on"), "{e:?}");
    // The connection goes on in the transaction state PostgreSQL reports (the server may have
    // finished the statement before the cancel arrived).
    // tokio-postgres sends ROLLBACK as soon as it has the error: the cancel hoop sent for the
    // denied statement must not land on it.
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(c.query_one("SELECT 7", &[]).await.unwrap().get::<_, i32>(0), 7);
    // Pipelined: the next statement is at the server before the denial, so hoop lets the
    // denied one finish unseen rather than cancel whatever runs next.
    for _ in 0..3 {
        let d = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", false, "");
        let (denied, next) = tokio::join!(c.query("SELECT x FROM generate_series(1, 20000) x", &[]), c.query_one("SELECT 8", &[]));
        d.join().unwrap();
        assert_eq!(denied.unwrap_err().code().map(|c| c.code()), Some("42501"));
        assert_eq!(next.unwrap().get::<_, i32>(0), 8);
    }
    assert_eq!(c.query_one("SELECT 9", &[]).await.unwrap().get::<_, i32>(0), 9);
}

/// Red-team Postgres round 95: an extended-protocol write over the written-rows ceiling whose
/// `RETURNING` rows paused for review, then stopped (denied, or cancelled by its client),
/// left the session waiting for a Sync hoop held for the write's count: the client hung in a
/// transaction, or its connection ended 30 s later. Now the stop ends the statement, the
/// write is not committed, and the session goes on.
#[tokio::test]
async fn a_stopped_write_over_the_ceiling_ends_and_the_session_goes_on() {
    let gw = Gw::start("[policy.budgets]\nresult_rows = 2500\n");
    pg().psql("DROP TABLE IF EXISTS capped_stop; CREATE TABLE capped_stop AS SELECT x FROM generate_series(1, 6000) x; GRANT ALL ON capped_stop TO PUBLIC").unwrap();
    let c = connect(&gw, IdentityKind::Agent).await;
    let delete = "DELETE FROM capped_stop WHERE x <= 5000 RETURNING x";
    // Denied, on its own.
    let d = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", false, "");
    let e = tokio::time::timeout(Duration::from_secs(20), c.query(delete, &[])).await.expect("the denied write's answer came").unwrap_err();
    d.join().unwrap();
    assert_eq!(e.code().map(|c| c.code()), Some("42501"), "{e:?}");
    assert_eq!(c.query_one("SELECT 7", &[]).await.unwrap().get::<_, i32>(0), 7);
    // Cancelled by its client, inside its transaction: the COMMIT does not keep it.
    c.batch_execute("BEGIN").await.unwrap();
    let token = c.cancel_token();
    // Once its ticket is open (the result paused), the client cancels.
    let broker = gw.gate.approvals().clone();
    let canceller = tokio::spawn(async move {
        let paused = tokio::task::spawn_blocking(move || (0..1500).any(|_| !broker.list().is_empty() || { std::thread::sleep(Duration::from_millis(10)); false }));
        assert!(paused.await.unwrap(), "no ticket opened");
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let e = tokio::time::timeout(Duration::from_secs(20), c.query(delete, &[])).await.expect("the stopped write's answer came").unwrap_err();
    canceller.await.unwrap();
    assert!(matches!(e.code().map(|c| c.code()), Some("42501" | "57014")), "{e:?}");
    let _ = c.batch_execute("COMMIT").await;
    assert_eq!(c.query_one("SELECT 8", &[]).await.unwrap().get::<_, i32>(0), 8);
    assert_eq!(pg().psql("SELECT count(*) FROM capped_stop").unwrap().trim(), "6000", "no write over the ceiling was committed");
}

/// Found by a red-team run: a driver that pipelines many reads had them all checked before any
/// of their rows were counted, and read ten times the hourly budget unheld. Now each statement
/// is checked once those before it have returned, and a result that crosses the budget as it
/// streams is held there: six pipelined reads of 1,000 rows against a 2,500-row budget, every
/// ticket denied, deliver at most three results' worth.
#[tokio::test]
async fn pipelined_reads_cannot_outrun_the_hourly_budget() {
    let gw = Gw::start("[policy.budgets]\ntarget_rows_1h = 2500\n");
    let c = connect(&gw, IdentityKind::Agent).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reviewer = hoop_harness::review::decide_all(gw.gate.approvals(), "alice", false, stop.clone());
    let q = "SELECT x FROM generate_series(1, 1000) x";
    let (a, b, c3, d, e, f) = tokio::join!(c.query(q, &[]), c.query(q, &[]), c.query(q, &[]), c.query(q, &[]), c.query(q, &[]), c.query(q, &[]));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let denied = reviewer.join().unwrap();
    let results = [a, b, c3, d, e, f];
    let rows: usize = results.iter().filter_map(|r| r.as_ref().ok()).map(Vec::len).sum();
    let refused = results.iter().filter(|r| r.as_ref().is_err_and(|e| e.code().map(|c| c.code()) == Some("42501"))).count();
    assert!(rows <= 3000, "{rows} rows delivered past a 2,500-row budget");
    assert!(refused >= 3 && denied >= 3, "{refused} refused, {denied} tickets denied");
    // What the server returned was counted, and the connection goes on.
    let on_target = gw.gate.usage().into_iter().find(|u| u.target.is_some() && u.table.is_none()).expect("usage");
    assert!(on_target.windows.h1.rows <= 4000, "{:?}", on_target.windows.h1);
    assert_eq!(c.query_one("SELECT 5", &[]).await.unwrap_err().code().map(|c| c.code()), Some("42501"), "held again (the review times out)");
}

/// Found by a red-team run: one row carrying a table folded into one value went out whole
/// before any checkpoint. A row of a megabyte or more now meets its checkpoint before it goes:
/// denied, the client gets the refusal and never the value, and the connection goes on.
#[tokio::test]
async fn a_single_large_row_is_judged_before_it_goes() {
    // (Its rows count toward the hour too: that budget set not to hold the next statement.)
    let gw = Gw::start("[policy.budgets]\nresult_bytes = 1000000\ntarget_rows_1h = 1000000000\n");
    let c = connect(&gw, IdentityKind::Agent).await;
    // The bytes the client got, read off the wire: the refusal, never the value.
    let t = gw.token("agent-1", IdentityKind::Agent);
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(&hoop_harness::pg_startup_packet(&[("user", "agent-1"), ("database", "app")])).await.unwrap();
    let mut buf = vec![0u8; 9];
    s.read_exact(&mut buf).await.unwrap();
    let mut pw = vec![b'p'];
    pw.extend_from_slice(&((t.len() + 5) as i32).to_be_bytes());
    pw.extend_from_slice(t.as_bytes());
    pw.push(0);
    s.write_all(&pw).await.unwrap();
    let d = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", false, "");
    let sql = b"SELECT repeat('z', 3000000)\0";
    let mut q = vec![b'Q'];
    q.extend_from_slice(&((sql.len() + 4) as i32).to_be_bytes());
    q.extend_from_slice(sql);
    s.write_all(&q).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 65536];
    while !got.windows(5).any(|w| w == b"42501") && got.len() < 10_000_000 {
        match tokio::time::timeout(Duration::from_secs(20), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    d.join().unwrap();
    assert!(String::from_utf8_lossy(&got).contains("42501"), "refused");
    assert!(!got.windows(1000).any(|w| w.iter().all(|b| *b == b'z')), "the value went out: {} bytes", got.len());
    let d = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", false, "");
    let e = c.query_one("SELECT repeat('x', 3000000)", &[]).await.unwrap_err();
    d.join().unwrap();
    assert_eq!(e.code().map(|c| c.code()), Some("42501"), "{e:?}");
    // (One row of 3 MB counts as the rows it may hold, one per 16 bytes.)
    assert!(format!("{e:?}").contains("after 187500 rows"), "{e:?}");
    let d = hoop_harness::review::decide_first(gw.gate.approvals(), "alice", true, "");
    let row = c.query_one("SELECT repeat('y', 3000000)", &[]).await.unwrap();
    d.join().unwrap();
    assert_eq!(row.get::<_, String>(0).len(), 3_000_000, "approved, it arrives whole");
}

/// A COPY run through the extended protocol (tokio-postgres's `copy_out` sends Parse, Bind and
/// Execute) is masked as one sent as a simple Query: by column for a table, every field whole
/// for a query over masked columns; binary COPY of masked data is refused at Parse.
#[tokio::test]
async fn copy_out_through_the_extended_protocol_is_masked() {
    use futures_util::TryStreamExt;
    let gw = Gw::start("[policy]\ndefault_rules = false\n");
    let c = connect(&gw, IdentityKind::Agent).await;
    let read = |sql: &'static str| {
        let c = &c;
        async move {
            let stream = c.copy_out(sql).await?;
            let chunks: Vec<bytes::Bytes> = stream.try_collect().await?;
            Ok::<String, tokio_postgres::Error>(chunks.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect())
        }
    };
    let table = read("COPY users TO STDOUT").await.unwrap();
    assert!(table.contains("1\tAnn\t[REDACTED:email]\t[REDACTED:card]\tplain"), "{table}");
    let query = read("COPY (SELECT id, reverse(email) FROM users ORDER BY id) TO STDOUT").await.unwrap();
    assert!(query.contains("[REDACTED:copy]\t[REDACTED:copy]") && !query.contains("elpmaxe"), "{query}");
    let binary = read("COPY users TO STDOUT (FORMAT binary)").await.err().unwrap();
    assert!(format!("{binary:?}").contains("binary COPY of a masked column"), "{binary:?}");
    assert_eq!(c.query_one("SELECT 41 + 1", &[]).await.unwrap().get::<_, i32>(0), 42, "the session goes on");
}

/// One protocol message: its tag, length and body.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// Reads messages until a ReadyForQuery (or the end); returns the bytes read.
async fn until_ready(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        let mut head = [0u8; 5];
        if tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut head)).await.map_or(true, |r| r.is_err()) {
            return all;
        }
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        if s.read_exact(&mut body).await.is_err() {
            return all;
        }
        all.extend_from_slice(&head);
        all.extend_from_slice(&body);
        if head[0] == b'Z' {
            return all;
        }
    }
}

/// Red-team round 98: a COMMIT prepared under a name in one batch, then run right after a
/// write over the ceiling in the next (`Execute` of the write, `Bind cm`, `Execute`, `Sync`),
/// committed the write before the Sync hoop holds for its count, and hoop reported it not
/// committed. Transaction control after a capped write in one pipeline ends the session, as
/// a literal COMMIT there does, unless the write's count came first; the rows stay.
#[tokio::test]
async fn a_named_commit_after_a_capped_write_does_not_commit_it() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS capped_named_commit; CREATE TABLE capped_named_commit AS SELECT x FROM generate_series(1, 3000) x; GRANT ALL ON capped_named_commit TO PUBLIC").unwrap();
    let mut s = agent_wire(&gw, "agent-98").await;
    s.write_all(&[message(b'P', b"cm\0commit\0\0\0"), message(b'S', b"")].concat()).await.unwrap();
    let prepared = until_ready(&mut s).await;
    assert!(prepared.contains(&b'1'), "ParseComplete: {prepared:?}");
    let batch = [
        message(b'P', b"\0DELETE FROM capped_named_commit WHERE x <= 1500\0\0\0"),
        message(b'B', b"\0\0\0\0\0\0\0\0"),
        message(b'E', b"\0\0\0\0\0"),
        message(b'B', b"\0cm\0\0\0\0\0\0\0"),
        message(b'E', b"\0\0\0\0\0"),
        message(b'S', b""),
    ]
    .concat();
    s.write_all(&batch).await.unwrap();
    let answer = until_ready(&mut s).await;
    let text = String::from_utf8_lossy(&answer);
    // Which comes first decides the answer: the write's count (then the COMMIT is skipped
    // with the rest of the batch, as after a server error) or the Bind of the COMMIT.
    assert!(text.contains("transaction control after a capped write") || (tags(&answer) == "12EZ" && text.contains("touched 1500 rows")), "{text}");
    assert_eq!(pg().psql("SELECT count(*) FROM capped_named_commit").unwrap().trim(), "3000", "nothing was committed: {text}");
}

/// A raw protocol connection of agent `name` through the gateway, logged in and ready.
async fn agent_wire(gw: &Gw, name: &str) -> tokio::net::TcpStream {
    let t = gw.token(name, IdentityKind::Agent);
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(&hoop_harness::pg_startup_packet(&[("user", name), ("database", "app")])).await.unwrap();
    let mut auth = vec![0u8; 9];
    s.read_exact(&mut auth).await.unwrap();
    assert_eq!(auth[0], b'R');
    s.write_all(&message(b'p', format!("{t}\0").as_bytes())).await.unwrap();
    assert!(until_ready(&mut s).await.last().is_some(), "logged in");
    s
}

/// Red-team round 99: a capped write whose RETURNING rows were fetched through a row-limited
/// Execute (its portal suspended, so the server never reports its count) was refused, rightly,
/// but told the client and the recording "DELETE 18446744073709551615" of a 5-row UPDATE. It
/// says that the write reports no count, and nothing is written.
#[tokio::test]
async fn a_suspended_write_is_refused_for_what_it_is() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS capped_suspended; CREATE TABLE capped_suspended AS SELECT x FROM generate_series(1, 100) x; GRANT ALL ON capped_suspended TO PUBLIC").unwrap();
    let mut s = agent_wire(&gw, "agent-99").await;
    let batch = [
        message(b'P', b"\0UPDATE capped_suspended SET x = x + 1000 WHERE x <= 5 RETURNING x\0\0\0"),
        message(b'B', b"w\0\0\0\0\0\0\0\0"),
        message(b'E', b"w\0\0\0\0\x01"),
        message(b'S', b""),
    ]
    .concat();
    s.write_all(&batch).await.unwrap();
    let text = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(text.contains("reports no row count") && !text.contains("18446744073709551615"), "{text}");
    assert_eq!(pg().psql("SELECT count(*) FROM capped_suspended WHERE x > 1000").unwrap().trim(), "0", "nothing was written: {text}");
}

/// Compatibility round 1 (asyncpg's `copy_records_to_table`: Parse and Describe with a Flush,
/// then `COPY … FROM STDIN` as a simple Query, then Sync): a Query before the batch's Sync
/// ended the session. PostgreSQL runs it when the batch went well, and skips it, as everything
/// up to the Sync, after an error: hoop does the same, and the session goes on.
#[tokio::test]
async fn a_query_inside_a_batch_runs_as_the_server_runs_it() {
    let gw = Gw::start("");
    let mut s = agent_wire(&gw, "agent-batch-query").await;
    s.write_all(&[message(b'P', b"\0select 1 as one\0\0\0"), message(b'D', b"S\0"), message(b'H', b"")].concat()).await.unwrap();
    s.write_all(&message(b'Q', b"select 'ran-' || (41 + 1)\0")).await.unwrap();
    let text = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(text.contains("ran-42") && !text.contains("protocol violation"), "{text}");
    s.write_all(&message(b'S', b"")).await.unwrap();
    assert_eq!(until_ready(&mut s).await.get(..1), Some(&b"Z"[..]), "the batch's Sync is answered");
    // After an error in the batch the server skips the Query: so does hoop (nothing checked
    // or answered for it), and the Sync brings the batch's ReadyForQuery.
    s.write_all(&[message(b'P', b"\0select 1/0\0\0\0"), message(b'B', b"\0\0\0\0\0\0\0\0"), message(b'E', b"\0\0\0\0\0"), message(b'H', b"")].concat()).await.unwrap();
    s.write_all(&[message(b'Q', b"select 'skipped-marker'\0"), message(b'S', b"")].concat()).await.unwrap();
    let text = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(text.contains("22012") && !text.contains("skipped-marker"), "{text}");
    s.write_all(&message(b'Q', b"select 'after-' || 1\0")).await.unwrap();
    let text = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(text.contains("after-1"), "the session goes on: {text}");
}

/// Compatibility round 2: pgjdbc sends every statement through the extended protocol, its SQL
/// `PREPARE` and `DECLARE` too; hoop did not learn those names, and the `EXECUTE` or `FETCH`
/// after them was refused as unknown. The server's CommandComplete of their Execute makes them
/// known, as a simple query's do; what they hold is checked and masked when they are run.
#[tokio::test]
async fn names_made_through_the_extended_protocol_are_known_once_made() {
    let gw = Gw::start("");
    let mut s = agent_wire(&gw, "agent-jdbc-names").await;
    let run = |sql: &str| [message(b'P', format!("\0{sql}\0\0\0").as_bytes()), message(b'B', b"\0\0\0\0\0\0\0\0"), message(b'E', b"\0\0\0\0\0"), message(b'S', b"")].concat();
    s.write_all(&run("PREPARE jp AS SELECT 'prepared-' || (40 + 2), card FROM users ORDER BY id LIMIT 1")).await.unwrap();
    let text = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(!text.contains("hoop"), "{text}");
    s.write_all(&run("EXECUTE jp")).await.unwrap();
    let text = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(text.contains("prepared-42") && !text.contains("4111") && !text.contains("hoop-unknown-statement"), "run and masked: {text}");
    s.write_all(&run("BEGIN")).await.unwrap();
    until_ready(&mut s).await;
    s.write_all(&run("DECLARE jc CURSOR FOR SELECT 'declared-' || x FROM generate_series(1, 3) x")).await.unwrap();
    until_ready(&mut s).await;
    s.write_all(&run("FETCH 2 FROM jc")).await.unwrap();
    let text = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(text.contains("declared-2") && !text.contains("hoop-unknown-statement"), "{text}");
}

/// A simple Query message of `sql`.
fn query(sql: &str) -> Vec<u8> {
    message(b'Q', format!("{sql}\0").as_bytes())
}

/// Parse, Bind and Execute of `sql` as the unnamed statement and portal, with no Sync.
fn extended(sql: &str) -> Vec<u8> {
    [message(b'P', format!("\0{sql}\0\0\0").as_bytes()), message(b'B', b"\0\0\0\0\0\0\0\0"), message(b'E', b"\0\0\0\0\0")].concat()
}

/// The tags of the messages in `bytes`, as a string (`"12EZ"`).
fn tags(bytes: &[u8]) -> String {
    messages(bytes).iter().map(|(t, _)| *t as char).collect()
}

/// Compatibility round 6: a write over the ceiling answered its command tag ("UPDATE 1500"),
/// then hoop's error, which no server does for one Execute, so a pipelining driver took the
/// error for the next statement's. The error comes in the tag's place, the rest of the batch
/// is not answered (the server's own way after an error), and nothing of the batch commits:
/// with the Sync held for the count, and with the error told before the client sent its Sync
/// (after a Flush), when the Sync must not commit what the server ran.
#[tokio::test]
async fn a_write_over_the_ceiling_fails_in_place_of_its_tag() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS capped_place, capped_place_log; CREATE TABLE capped_place AS SELECT g AS id, 0 AS v FROM generate_series(1, 1500) g; CREATE TABLE capped_place_log (id int); GRANT ALL ON capped_place, capped_place_log TO PUBLIC").unwrap();
    let mut s = agent_wire(&gw, "agent-cap").await;
    let batch = [extended("INSERT INTO capped_place_log VALUES (1)"), extended("UPDATE capped_place SET v = 1 WHERE id > 0"), extended("INSERT INTO capped_place_log VALUES (2)"), message(b'S', b"")].concat();
    s.write_all(&batch).await.unwrap();
    let answer = until_ready(&mut s).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(tags(&answer), "12C12EZ", "{text}");
    assert!(text.contains("touched 1500 rows") && !text.contains("UPDATE 1500\0") && !text.contains("INSERT 0 1\0INSERT"), "{text}");
    // A Sync per statement: the next batch is answered as its own.
    let batches = [extended("UPDATE capped_place SET v = 2 WHERE id > 0"), message(b'S', b""), extended("INSERT INTO capped_place_log VALUES (3)"), message(b'S', b"")].concat();
    s.write_all(&batches).await.unwrap();
    let first = until_ready(&mut s).await;
    let second = until_ready(&mut s).await;
    assert_eq!((tags(&first), tags(&second)), ("12EZ".into(), "12CZ".into()), "{}", String::from_utf8_lossy(&first));
    // Told before the Sync: the client asks with a Flush, reads the error, then syncs.
    s.write_all(&[extended("INSERT INTO capped_place_log VALUES (4)"), extended("DELETE FROM capped_place WHERE id > 0"), message(b'H', b"")].concat()).await.unwrap();
    let mut told = Vec::new();
    while !messages(&told).iter().any(|(t, _)| *t == b'E') {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&told));
        told.extend_from_slice(&buf[..n]);
    }
    assert_eq!(tags(&told), "12C12E", "{}", String::from_utf8_lossy(&told));
    s.write_all(&[extended("INSERT INTO capped_place_log VALUES (5)"), message(b'S', b"")].concat()).await.unwrap();
    assert_eq!(tags(&until_ready(&mut s).await), "Z", "the rest of the batch is skipped, as after a server error");
    s.write_all(&[extended("SELECT count(*) FROM capped_place"), message(b'S', b"")].concat()).await.unwrap();
    let after = until_ready(&mut s).await;
    assert_eq!(tags(&after), "12DCZ", "the session goes on: {}", String::from_utf8_lossy(&after));
    // On the server: no update, no delete; only the insert of its own batch.
    assert_eq!(pg().psql("SELECT count(*) FROM capped_place WHERE v = 0").unwrap().trim(), "1500");
    assert_eq!(pg().psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM capped_place_log").unwrap().trim(), "3");
}

/// Compatibility round 6, in a simple query: the write's RETURNING rows were followed by its
/// tag "UPDATE 1500" and by the tags of the statements after it, and the error came last. The
/// error comes in the write's tag's place and nothing after it is answered, as when a
/// statement fails on the server; nothing of the text commits; in the client's transaction
/// the transaction is failed.
#[tokio::test]
async fn a_text_stops_at_its_write_over_the_ceiling() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS capped_text, capped_text_log; CREATE TABLE capped_text AS SELECT g AS id, 0 AS v FROM generate_series(1, 1500) g; CREATE TABLE capped_text_log (id int); GRANT ALL ON capped_text, capped_text_log TO PUBLIC").unwrap();
    let mut s = agent_wire(&gw, "agent-text").await;
    s.write_all(&query("INSERT INTO capped_text_log VALUES (1); UPDATE capped_text SET v = 1 WHERE id > 0; INSERT INTO capped_text_log VALUES (2)")).await.unwrap();
    let answer = until_ready(&mut s).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(tags(&answer), "CEZ", "{text}");
    assert!(text.contains("INSERT 0 1") && text.contains("touched 1500 rows") && !text.contains("UPDATE 1500\0"), "{text}");
    assert_eq!(messages(&answer).last().map(|(_, b)| b.to_vec()), Some(b"I".to_vec()), "idle, as after a failed implicit transaction");
    s.write_all(&[query("BEGIN"), query("UPDATE capped_text SET v = 2 WHERE id > 0"), query("SELECT 1")].concat()).await.unwrap();
    let (begun, failed, next) = (until_ready(&mut s).await, until_ready(&mut s).await, until_ready(&mut s).await);
    assert_eq!((tags(&begun), tags(&failed)), ("CZ".into(), "EZ".into()), "{}", String::from_utf8_lossy(&failed));
    assert_eq!(messages(&failed).last().map(|(_, b)| b.to_vec()), Some(b"E".to_vec()), "the client's transaction is failed");
    assert!(String::from_utf8_lossy(&next).contains("25P02"), "{}", String::from_utf8_lossy(&next));
    s.write_all(&query("ROLLBACK")).await.unwrap();
    until_ready(&mut s).await;
    assert_eq!(pg().psql("SELECT count(*) FROM capped_text WHERE v = 0").unwrap().trim(), "1500");
    assert_eq!(pg().psql("SELECT count(*) FROM capped_text_log").unwrap().trim(), "0");
}

/// Compatibility round 7: pgjdbc with a fetch size runs a write's `RETURNING` through a
/// row-limited Execute, and every such write was refused in a transaction, even of one row.
/// In the client's transaction block the count may still come, with the portal's last part:
/// the write runs, and the block's COMMIT waits for the count. A portal bound anew, or closed,
/// before its count came leaves the write uncounted for good: the COMMIT is refused, and the
/// server keeps nothing.
#[tokio::test]
async fn a_write_fetched_in_parts_commits_once_counted() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS capped_parts; CREATE TABLE capped_parts AS SELECT g AS id, 0 AS v FROM generate_series(1, 1500) g; GRANT ALL ON capped_parts TO PUBLIC").unwrap();
    let mut s = agent_wire(&gw, "agent-parts").await;
    let parse_bind = |portal: &str, sql: &str| [message(b'P', format!("\0{sql}\0\0\0").as_bytes()), message(b'B', format!("{portal}\0\0\0\0\0\0\0\0").as_bytes())].concat();
    let execute = |portal: &str, rows: u32| message(b'E', &[format!("{portal}\0").as_bytes(), &rows.to_be_bytes()].concat());
    // Two rows, fetched one at a time, then COMMIT: written.
    s.write_all(&query("BEGIN")).await.unwrap();
    until_ready(&mut s).await;
    s.write_all(&[parse_bind("w", "UPDATE capped_parts SET v = 1 WHERE id <= 2 RETURNING id"), execute("w", 1), message(b'S', b"")].concat()).await.unwrap();
    let first = until_ready(&mut s).await;
    assert_eq!(tags(&first), "12DsZ", "{}", String::from_utf8_lossy(&first));
    s.write_all(&[execute("w", 1), message(b'S', b"")].concat()).await.unwrap();
    assert_eq!(tags(&until_ready(&mut s).await), "DsZ");
    s.write_all(&[execute("w", 1), message(b'S', b"")].concat()).await.unwrap();
    assert_eq!(tags(&until_ready(&mut s).await), "CZ", "the count came");
    s.write_all(&query("COMMIT")).await.unwrap();
    let committed = until_ready(&mut s).await;
    assert!(String::from_utf8_lossy(&committed).contains("COMMIT"), "{}", String::from_utf8_lossy(&committed));
    assert_eq!(pg().psql("SELECT count(*) FROM capped_parts WHERE v = 1").unwrap().trim(), "2");
    // All 1,500 rows in parts: PostgreSQL's tag at the last part counts that part's rows only
    // (`UPDATE 500` after 1,000), so the parts' rows are added; past the ceiling within the
    // parts, the write is refused there.
    for (first, then, total) in [(1, 0, 1500), (1000, 0, 1500), (1001, 0, 1001), (600, 600, 1200)] {
        s.write_all(&query("BEGIN")).await.unwrap();
        until_ready(&mut s).await;
        s.write_all(&[parse_bind("w", "UPDATE capped_parts SET v = 2 WHERE id > 0 RETURNING id"), execute("w", first), message(b'S', b"")].concat()).await.unwrap();
        let mut answer = until_ready(&mut s).await;
        if total > first {
            assert!(tags(&answer).ends_with("sZ"), "{first}: {}", tags(&answer));
            s.write_all(&[execute("w", then), message(b'S', b"")].concat()).await.unwrap();
            answer = until_ready(&mut s).await;
        }
        let said = String::from_utf8_lossy(messages(&answer).iter().rev().nth(1).map_or(&[][..], |m| m.1)).into_owned();
        assert!(tags(&answer).ends_with("EZ") && said.contains(&format!("touched {total} rows")), "{first}: {said}");
        s.write_all(&query("COMMIT")).await.unwrap();
        let ended = until_ready(&mut s).await;
        assert!(String::from_utf8_lossy(&ended).contains("ROLLBACK"), "the failed block's COMMIT rolls back: {}", String::from_utf8_lossy(&ended));
        assert_eq!(pg().psql("SELECT count(*) FROM capped_parts WHERE v = 2").unwrap().trim(), "0", "{first}");
    }
    // One part, then the portal bound anew to a one-row write that counts: the first stays
    // uncounted, and the COMMIT is refused.
    for rebind in [true, false] {
        s.write_all(&query("BEGIN")).await.unwrap();
        until_ready(&mut s).await;
        // (Only the unnamed portal is bound anew over a live one; a named one is closed first.)
        let portal = if rebind { "" } else { "w" };
        s.write_all(&[parse_bind(portal, "DELETE FROM capped_parts WHERE id > 0 RETURNING id"), execute(portal, 1), message(b'S', b"")].concat()).await.unwrap();
        let part = until_ready(&mut s).await;
        assert_eq!(tags(&part), "12DsZ", "{}", String::from_utf8_lossy(&part));
        let next = if rebind {
            [parse_bind("", "UPDATE capped_parts SET v = 3 WHERE id = 1 RETURNING id"), execute("", 0), message(b'S', b"")].concat()
        } else {
            [message(b'C', b"Pw\0"), message(b'S', b"")].concat()
        };
        s.write_all(&next).await.unwrap();
        let between = until_ready(&mut s).await;
        assert_eq!(tags(&between), if rebind { "12CZ" } else { "3Z" }, "{}", String::from_utf8_lossy(&between));
        s.write_all(&query("COMMIT")).await.unwrap();
        let commit = until_ready(&mut s).await;
        assert!(String::from_utf8_lossy(&commit).contains("its last part has not come"), "{}", String::from_utf8_lossy(&commit));
        s.write_all(&query("ROLLBACK")).await.unwrap();
        until_ready(&mut s).await;
        assert_eq!(pg().psql("SELECT count(*) || ' ' || count(*) FILTER (WHERE v = 1) FROM capped_parts").unwrap().trim(), "1500 2", "nothing of it kept (rebind {rebind})");
    }
    // Red-team Postgres round 123: a savepoint between the parts, then the part over the
    // ceiling (refused), then `ROLLBACK TO SAVEPOINT` undid the refusal, not the write, and the
    // COMMIT committed 60,000 rows. No savepoint is taken while a part is still to come.
    s.write_all(&query("BEGIN")).await.unwrap();
    until_ready(&mut s).await;
    s.write_all(&[parse_bind("w", "UPDATE capped_parts SET v = 4 WHERE id > 0 RETURNING id"), execute("w", 1), message(b'S', b"")].concat()).await.unwrap();
    assert_eq!(tags(&until_ready(&mut s).await), "12DsZ");
    s.write_all(&query("SAVEPOINT between")).await.unwrap();
    let refused = until_ready(&mut s).await;
    assert!(String::from_utf8_lossy(&refused).contains("no savepoint can be taken"), "{}", String::from_utf8_lossy(&refused));
    for sql in ["ROLLBACK TO SAVEPOINT between", "COMMIT"] {
        s.write_all(&query(sql)).await.unwrap();
        until_ready(&mut s).await;
    }
    // A write in parts undone by `ROLLBACK AND CHAIN`: the next block commits.
    s.write_all(&query("BEGIN")).await.unwrap();
    until_ready(&mut s).await;
    s.write_all(&[parse_bind("w", "UPDATE capped_parts SET v = 5 WHERE id > 0 RETURNING id"), execute("w", 1), message(b'S', b"")].concat()).await.unwrap();
    assert_eq!(tags(&until_ready(&mut s).await), "12DsZ");
    for sql in ["ROLLBACK AND CHAIN", "COMMIT"] {
        s.write_all(&query(sql)).await.unwrap();
        let answer = until_ready(&mut s).await;
        assert_eq!(tags(&answer), "CZ", "{sql}: {}", String::from_utf8_lossy(&answer));
    }
    assert_eq!(pg().psql("SELECT count(*) FROM capped_parts WHERE v = 5").unwrap().trim(), "0");
    // (The refused COMMIT ended the block, as a COMMIT the server fails does.)
    s.write_all(&query("SELECT 1")).await.unwrap();
    assert_eq!(tags(&until_ready(&mut s).await), "TDCZ");
    assert_eq!(pg().psql("SELECT count(*) FROM capped_parts WHERE v = 4").unwrap().trim(), "0", "nothing updated");
    // A failed block ended by a COMMIT (answered `ROLLBACK`) in the batch of a write run in
    // parts: the write runs in the batch's implicit transaction, which its Sync commits, so it
    // is refused at its first part.
    for sql in ["BEGIN", "SELECT 1/0"] {
        s.write_all(&query(sql)).await.unwrap();
        until_ready(&mut s).await;
    }
    s.write_all(&[extended("COMMIT"), parse_bind("w", "DELETE FROM capped_parts WHERE id > 0 RETURNING id"), execute("w", 1), message(b'S', b"")].concat()).await.unwrap();
    let ended = until_ready(&mut s).await;
    assert!(String::from_utf8_lossy(&ended).contains("reports no row count"), "{}", String::from_utf8_lossy(&ended));
    assert_eq!(pg().psql("SELECT count(*) FROM capped_parts").unwrap().trim(), "1500", "nothing deleted");
    // A block the server failed after the part, recovered by a `ROLLBACK TO SAVEPOINT` in the
    // COMMIT's own batch: the COMMIT is still refused (the status last read says failed; and
    // hoop does not tell whether the savepoint was taken before the write).
    for sql in ["BEGIN", "SAVEPOINT before"] {
        s.write_all(&query(sql)).await.unwrap();
        until_ready(&mut s).await;
    }
    s.write_all(&[parse_bind("w", "DELETE FROM capped_parts WHERE id > 0 RETURNING id"), execute("w", 1), message(b'S', b"")].concat()).await.unwrap();
    assert_eq!(tags(&until_ready(&mut s).await), "12DsZ");
    for sql in ["SELECT 1/0"] {
        s.write_all(&query(sql)).await.unwrap();
        until_ready(&mut s).await;
    }
    s.write_all(&[extended("ROLLBACK TO SAVEPOINT before"), extended("COMMIT"), message(b'S', b"")].concat()).await.unwrap();
    let commit = until_ready(&mut s).await;
    assert!(String::from_utf8_lossy(&commit).contains("its last part has not come"), "{}", String::from_utf8_lossy(&commit));
    s.write_all(&query("ROLLBACK")).await.unwrap();
    until_ready(&mut s).await;
    assert_eq!(pg().psql("SELECT count(*) FROM capped_parts").unwrap().trim(), "1500", "nothing deleted");
}

/// Red-team Postgres round 122: a simple Query after extended-protocol messages with no Sync
/// runs in the transaction the batch left, which the last ReadyForQuery does not tell. An
/// extended `COMMIT` (or `ROLLBACK`), then an UPDATE of every row as a Query: hoop took the
/// session for still in the client's transaction, added no transaction of its own, and the
/// write committed while the client was told it was not. An `ALTER … ON DELETE CASCADE` so,
/// then a one-row DELETE as a Query: hoop's own COMMIT committed the cascade. A capped write
/// there ends the session (as after a capped write in a batch); nothing is written.
#[tokio::test]
async fn a_capped_query_after_an_unsynced_batch_runs_nowhere() {
    let gw = Gw::start("");
    pg().psql(
        "DROP TABLE IF EXISTS unsynced_big, unsynced_child, unsynced_parent; CREATE TABLE unsynced_big AS SELECT g AS id, 0 AS v FROM generate_series(1, 1500) g; \
         CREATE TABLE unsynced_parent (id int PRIMARY KEY); INSERT INTO unsynced_parent VALUES (1); CREATE TABLE unsynced_child (pid int, n int); \
         INSERT INTO unsynced_child SELECT 1, g FROM generate_series(1, 2000) g; GRANT ALL ON unsynced_big, unsynced_parent, unsynced_child TO PUBLIC",
    )
    .unwrap();
    for end in ["commit", "rollback"] {
        let mut s = agent_wire(&gw, "agent-unsynced").await;
        s.write_all(&query("BEGIN")).await.unwrap();
        until_ready(&mut s).await;
        s.write_all(&[extended(end), query("UPDATE unsynced_big SET v = 1 WHERE id > 0")].concat()).await.unwrap();
        let answer = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
        assert!(answer.contains("no Sync cannot run while agents' writes are limited"), "{end}: {answer}");
        drop(s);
        assert_eq!(pg().psql("SELECT count(*) FROM unsynced_big WHERE v = 1").unwrap().trim(), "0", "{end}: {answer}");
    }
    let mut s = agent_wire(&gw, "agent-unsynced").await;
    s.write_all(&[extended("ALTER TABLE unsynced_child ADD FOREIGN KEY (pid) REFERENCES unsynced_parent (id) ON DELETE CASCADE"), query("DELETE FROM unsynced_parent WHERE id = 1")].concat())
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(answer.contains("no Sync cannot run"), "{answer}");
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pg().psql("SELECT count(*) FROM unsynced_child").unwrap().trim(), "2000", "{answer}");
    assert_eq!(pg().psql("SELECT count(*) FROM unsynced_parent").unwrap().trim(), "1");
}

/// Red-team Postgres round 125: a protocol statement `EXECUTE p` was read once, at Parse, with
/// what `p` then held; the server looks `p` up each time. `p` prepared again as an UPDATE of
/// every row ran unchecked (read as `SELECT 1`), and as `SELECT reverse(email) …` returned the
/// values in clear. It is read again at each Bind, and a portal bound before `p` changed is
/// refused at its Execute.
#[tokio::test]
async fn a_statement_executing_a_name_follows_what_the_name_holds() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS named_again; CREATE TABLE named_again AS SELECT g AS id FROM generate_series(1, 1500) g; GRANT ALL ON named_again TO PUBLIC").unwrap();
    let mut s = agent_wire(&gw, "agent-named").await;
    let bind_run = |portal: &str| [message(b'B', format!("{portal}\0y\0\0\0\0\0\0\0").as_bytes()), message(b'E', format!("{portal}\0\0\0\0\0").as_bytes())].concat();
    s.write_all(&query("PREPARE pw AS SELECT 1")).await.unwrap();
    until_ready(&mut s).await;
    s.write_all(&[message(b'P', b"y\0EXECUTE pw\0\0\0"), message(b'S', b"")].concat()).await.unwrap();
    assert_eq!(tags(&until_ready(&mut s).await), "1Z");
    for sql in ["DEALLOCATE pw", "PREPARE pw AS DELETE FROM named_again WHERE id IS NOT NULL"] {
        s.write_all(&query(sql)).await.unwrap();
        until_ready(&mut s).await;
    }
    s.write_all(&[bind_run(""), message(b'S', b"")].concat()).await.unwrap();
    let answer = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(answer.contains("hoop-max-rows-written"), "{answer}");
    assert_eq!(pg().psql("SELECT count(*) FROM named_again").unwrap().trim(), "1500", "nothing deleted: {answer}");
    // A masked column through the name prepared again: masked.
    for sql in ["DEALLOCATE pw", "PREPARE pw AS SELECT reverse(email) FROM users WHERE id = 1"] {
        s.write_all(&query(sql)).await.unwrap();
        until_ready(&mut s).await;
    }
    s.write_all(&[bind_run(""), message(b'S', b"")].concat()).await.unwrap();
    let rows = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(rows.contains("REDACTED") && !rows.contains("elpmaxe"), "{rows}");
    // A portal bound while `pw` read one thing, executed after it was made again: refused.
    s.write_all(&query("BEGIN")).await.unwrap();
    until_ready(&mut s).await;
    for sql in ["DEALLOCATE pw", "PREPARE pw AS SELECT 1"] {
        s.write_all(&query(sql)).await.unwrap();
        until_ready(&mut s).await;
    }
    s.write_all(&[message(b'B', b"early\0y\0\0\0\0\0\0\0"), message(b'S', b"")].concat()).await.unwrap();
    assert_eq!(tags(&until_ready(&mut s).await), "2Z");
    for sql in ["DEALLOCATE pw", "PREPARE pw AS DELETE FROM named_again WHERE id IS NOT NULL"] {
        s.write_all(&query(sql)).await.unwrap();
        until_ready(&mut s).await;
    }
    s.write_all(&[message(b'E', b"early\0\0\0\0\0"), message(b'S', b"")].concat()).await.unwrap();
    let answer = String::from_utf8_lossy(&until_ready(&mut s).await).into_owned();
    assert!(answer.contains("made again since it was bound"), "{answer}");
    s.write_all(&query("COMMIT")).await.unwrap();
    until_ready(&mut s).await;
    assert_eq!(pg().psql("SELECT count(*) FROM named_again").unwrap().trim(), "1500");
}

/// Compatibility round 9, through the extended protocol (as psycopg and pgjdbc send a
/// migration's statements): a column made earlier in the same transaction is widened to text,
/// its type asked in the session; a float column is refused, as its values would be rewritten.
#[tokio::test]
async fn a_column_made_in_the_transaction_is_widened() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS ext_mig").unwrap();
    let c = connect(&gw, IdentityKind::Agent).await;
    c.batch_execute("BEGIN").await.unwrap();
    c.execute("CREATE TABLE ext_mig (id int PRIMARY KEY, name varchar(20), f float8)", &[]).await.unwrap();
    c.execute("ALTER TABLE ext_mig ALTER COLUMN name TYPE varchar(50)", &[]).await.unwrap();
    let e = c.execute("ALTER TABLE ext_mig ALTER COLUMN f TYPE text", &[]).await.unwrap_err();
    assert!(format!("{e:?}").contains("agent-no-destructive-ddl"), "{e:?}");
    c.batch_execute("ROLLBACK").await.unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    c.execute("CREATE TABLE ext_mig (id int PRIMARY KEY, name varchar(20))", &[]).await.unwrap();
    c.execute("ALTER TABLE ext_mig ALTER COLUMN name TYPE varchar(50)", &[]).await.unwrap();
    c.batch_execute("COMMIT").await.unwrap();
    let len = "SELECT character_maximum_length FROM information_schema.columns WHERE table_name = 'ext_mig' AND column_name = 'name'";
    assert_eq!(pg().psql(len).unwrap().trim(), "50");
}
