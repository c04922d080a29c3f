//! Exfiltration budgets, end to end through `hoop serve` with psql and the real PostgreSQL: a
//! large result pauses midway (the server is left waiting to write) and resumes on approval
//! with every row exactly once, or ends cleanly on denial with the session still usable; a
//! paging loop across sessions is held once the hourly budget is spent, an approval lets it go
//! on, and the counts survive a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

/// The first open ticket of `rule`: its id and its `hoop approvals list` line.
fn wait_ticket(s: &Serve, rule: &str) -> (String, String) {
    for _ in 0..200 {
        let list = out(&s.hoop(&["approvals", "list"]));
        if let Some(line) = list.lines().find(|l| l.contains(&format!("rule {rule}"))) {
            return (line.split_whitespace().next().unwrap_or_default().to_string(), line.to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no ticket of rule {rule} opened\n{}", s.log());
}

fn spawn(s: &Serve, token: &str, statements: &[&str]) -> Child {
    let mut c = s.psql_cmd("agent", token, "prefer", statements[0]);
    for st in &statements[1..] {
        c.args(["-c", st]);
    }
    c.args(["-v", "ON_ERROR_STOP=0"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn wait(c: Child) -> Output {
    c.wait_with_output().unwrap()
}

/// The wait event of the server backend running `like`, as PostgreSQL reports it.
fn backend_wait(like: &str) -> String {
    pg().psql(&format!("select coalesce(wait_event, '-') from pg_stat_activity where query like '{like}%' and pid <> pg_backend_pid()")).unwrap_or_default().trim().to_string()
}

#[test]
fn a_large_result_pauses_midway_and_resumes_on_approval_with_every_row_once() {
    let s = serve("[policy.budgets]\nresult_rows = 2500\ntarget_rows_1h = 1000000000\ntarget_bytes_1h = 1000000000\n");
    let token = s.token("agent-1", "agent", "", 600);
    let big = "select x, repeat('y', 500) from generate_series(1, 100000) x";
    let child = spawn(&s, &token, &[big]);
    let (ticket, line) = wait_ticket(&s, "agent-budget-result");
    assert!(line.contains("paused after 3000 rows"), "{line}");
    // hoop stopped reading: the server is left waiting to write the rest to its client.
    let mut waiting = String::new();
    for _ in 0..100 {
        waiting = backend_wait("select x, repeat");
        if waiting == "ClientWrite" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(waiting, "ClientWrite", "the server blocks on the paused stream");
    let approved = s.hoop(&["approvals", "approve", &ticket]);
    assert!(approved.status.success(), "{}", err(&approved));
    let o = wait(child);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    let ids: Vec<u64> = text.lines().filter_map(|l| l.split('|').next()?.parse().ok()).collect();
    assert_eq!(ids.len(), 100_000, "every row, once");
    assert!(ids.iter().enumerate().all(|(i, x)| *x == i as u64 + 1), "in order, none twice");
    assert!(err(&o).contains("paused after 3000 rows"), "the client was told: {}", err(&o));
    // The recording carries the checkpoints and the decision; /metrics the reads and the ticket.
    let shown = s.recorded_text();
    assert!(shown.contains("\"result_checkpoint\"") && shown.contains("agent-budget-result"), "checkpoints recorded");
    assert!(shown.contains(r#""usage":{"identity""#), "each checkpoint carries the usage the rules saw");
    let metrics_token = s.token("prometheus", "human", "metrics", 600);
    let m = std::process::Command::new("curl").args(["-sk", "-H", &format!("Authorization: Bearer {metrics_token}"), &format!("{}/metrics", s.admin)]).output().unwrap();
    let m = out(&m);
    assert!(m.contains("hoop_budget_tickets_total 1") && m.contains("hoop_rows_read_total{target=\"db\"} 1000"), "{m}");
}

#[test]
fn a_large_result_denied_midway_ends_and_the_session_goes_on() {
    let s = serve("[policy.budgets]\nresult_rows = 2500\ntarget_rows_1h = 1000000000\ntarget_bytes_1h = 1000000000\n");
    let token = s.token("agent-1", "agent", "", 600);
    let child = spawn(
        &s,
        &token,
        &["select 'pid:' || pg_backend_pid()", "select x from generate_series(1, 10000) x", "select 'pid:' || pg_backend_pid()", "select 'after' || 1"],
    );
    let (ticket, _) = wait_ticket(&s, "agent-budget-result");
    let denied = s.hoop(&["approvals", "deny", &ticket, "--reason", "too much"]);
    assert!(denied.status.success(), "{}", err(&denied));
    let o = wait(child);
    let text = out(&o);
    assert!(err(&o).contains("did not let this result go on") && err(&o).contains("agent-budget-result"), "{}", err(&o));
    let pids: Vec<&str> = text.lines().filter(|l| l.starts_with("pid:")).collect();
    assert!(pids.len() == 2 && pids[0] == pids[1], "the same session went on: {text}");
    assert!(text.lines().any(|l| l == "after1"), "{text}");
    assert!(text.lines().filter(|l| l.parse::<u64>().is_ok()).count() < 10_000, "the result was cut short");

    // One text whose first result is paused and denied after the server had already run the
    // rest of it (the answers were waiting in the socket): the client is told what the
    // server finished, which the server's state confirms, not only "cancelled" (red-team
    // round 7).
    pg().psql("DROP TABLE IF EXISTS budget_after; CREATE TABLE budget_after (x int); GRANT ALL ON budget_after TO PUBLIC").unwrap();
    let child = spawn(&s, &token, &["select x from generate_series(1, 4000) x; insert into budget_after values (42); select 'tail'"]);
    let (ticket, _) = wait_ticket(&s, "agent-budget-result");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = wait(child);
    assert!(err(&o).contains("did not let this result go on"), "{}", err(&o));
    assert_eq!(pg().psql("SELECT count(*) FROM budget_after").unwrap().trim(), "1", "the server ran the insert");
    assert!(err(&o).contains("already finished") && err(&o).contains("INSERT 0 1"), "the client was told: {}", err(&o));
    assert!(!out(&o).contains("tail"), "no row after the stop: {}", out(&o));
}

#[test]
fn a_paging_loop_across_sessions_is_held_once_the_hourly_budget_is_spent_and_counts_survive_a_restart() {
    let mut s = serve("[policy.budgets]\ntarget_rows_1h = 2500\n");
    let token = s.token("agent-1", "agent", "", 3600);
    let page = |n: u64| format!("select x from generate_series({}, {}) x", n * 1000 + 1, n * 1000 + 1000);
    // Pages in sessions of their own: 1000 rows each, harmless alone.
    for n in 0..2 {
        let o = s.psql(&token, &page(n));
        assert!(o.status.success() && out(&o).lines().count() == 1000, "page {n}: {}", err(&o));
    }
    // The third page passes the hourly budget as it streams (3000 rows read this hour): it
    // is held there, at its checkpoint.
    let held = spawn(&s, &token, &[&page(2)]);
    let (ticket, line) = wait_ticket(&s, "agent-budget-target-rows");
    // The reviewer is told what the approval also grants (red-team round 81: a ticket showing
    // a harmless statement waived the budget for an hour unsaid).
    assert!(line.contains("approving also waives budget rule agent-budget-target-rows for agent-1 on target db for 60 minutes"), "{line}");
    // Identity red-team round 112: a reviewer whose credential reaches another target neither
    // sees, nor decides (nor waives a budget on), nor audits this one's.
    let o = s.hoop(&["token", "issue", "--subject", "ozzie", "--kind", "human", "--groups", "review,audit", "--ttl", "600", "--targets", "other"]);
    let ozzie = out(&o).trim().to_string();
    assert!(o.status.success() && !out(&s.hoop(&["approvals", "list", "--token", &ozzie])).contains(&ticket));
    let o = s.hoop(&["approvals", "approve", &ticket, "--token", &ozzie]);
    assert!(!o.status.success() && err(&o).contains("does not reach target \"db\""), "{}", err(&o));
    assert!(!out(&s.hoop(&["sessions", "list", "--token", &ozzie])).contains("agent-1"));
    let rita = s.token("rita", "human", "review", 600);
    assert!(s.hoop(&["approvals", "approve", &ticket, "--token", &rita]).status.success());
    let o = wait(held);
    assert!(o.status.success() && out(&o).lines().count() == 1000, "{}", err(&o));
    assert!(err(&o).contains("paused after 1000 rows"), "{}", err(&o));
    let o = s.psql(&token, &page(3));
    assert!(o.status.success() && out(&o).lines().count() == 1000, "{}", err(&o));
    // The recording carries the usage the budget judged, and the timeline shows it.
    let listing = out(&s.hoop(&["sessions", "list"]));
    let held_id = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .find(|id| out(&s.hoop(&["sessions", "show", id])).contains("agent-budget-target-rows"))
        .expect("the held session's recording");
    let shown = out(&s.hoop(&["sessions", "show", held_id]));
    assert!(shown.contains(r#""usage":{"identity""#), "{shown}");
    let timeline = out(&s.hoop(&["replay", held_id]));
    assert!(timeline.contains("checkpoint: 1000 rows") && timeline.contains("usage: last hour on this target: 3000 rows"), "{timeline}");
    // The approval lets the loop go on (for an hour), in new sessions too.
    let o = s.psql(&token, &page(4));
    assert!(o.status.success() && out(&o).lines().count() == 1000, "{}", err(&o));
    // The waiver ends with its reviewer (red-team identity round 84: rita revoked, the agent
    // read on past its budget on her approval): the next page is held again.
    assert!(s.hoop(&["revoke", "subject:rita", "--reason", "left"]).status.success());
    let held = spawn(&s, &token, &[&page(5)]);
    let (ticket, _) = wait_ticket(&s, "agent-budget-target-rows");
    assert!(s.hoop(&["approvals", "approve", &ticket]).status.success());
    let o = wait(held);
    assert!(o.status.success() && err(&o).contains("agent-budget-target-rows"), "held again: {}", err(&o));
    // The waiver is the approved credential's (red-team identity round 88: a token minted anew
    // for the same name after the approved one was revoked read on unheld): waived for this
    // token, then revoked, a new one is held again.
    let o = s.psql(&token, &page(7));
    assert!(o.status.success() && out(&o).lines().count() == 1000 && !err(&o).contains("paused"), "waived: {}", err(&o));
    let jti = std::process::Command::new("python3")
        .args(["-c", "import sys,base64,json; p=sys.argv[1].split('.')[1]; p+='='*(-len(p)%4); print(json.loads(base64.urlsafe_b64decode(p))['jti'])", &token])
        .output()
        .unwrap();
    let jti = out(&jti).trim().to_string();
    assert!(s.hoop(&["revoke", &jti, "--reason", "rotated"]).status.success());
    let token = s.token("agent-1", "agent", "", 3600);
    let held = spawn(&s, &token, &[&page(8)]);
    let (ticket, _) = wait_ticket(&s, "agent-budget-target-rows");
    assert!(s.hoop(&["approvals", "approve", &ticket]).status.success());
    let o = wait(held);
    assert!(o.status.success() && err(&o).contains("agent-budget-target-rows"), "held again: {}", err(&o));
    // Reads of a table count against it too (rules see `usage.tables`).
    assert!(s.psql(&token, "select id from people limit 3").status.success());
    let usage = out(&s.hoop(&["usage", "--identity", "agent-1"]));
    assert!(usage.contains("agent-1 on db\n") && usage.contains("rows 800"), "{usage}");
    assert!(usage.contains("agent-1 on db, table public.people\n  1m: actions 1  rows "), "{usage}");

    // A restart: the counts are still there (the waiver is not), so the next page is held again.
    assert!(s.stop("TERM").success());
    s.start_again();
    let held = spawn(&s, &token, &[&page(6)]);
    let (ticket, _) = wait_ticket(&s, "agent-budget-target-rows");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = wait(held);
    assert!(!o.status.success() && err(&o).contains("denied"), "{}", err(&o));
}

/// Red-team round 81: a spent budget holds the next connection itself (the bytes budget judges
/// every action, a connect too); a client killed while it waits takes its ticket with it. It
/// stayed open until the review timed out, for a reviewer to grant an hour's waiver to nobody.
#[test]
fn a_connection_held_for_review_goes_with_its_client() {
    let s = serve("[policy.budgets]\ntarget_bytes_1h = 4000\n");
    let token = s.token("agent-1", "agent", "", 3600);
    assert!(s.psql(&token, "select repeat('x', 3000) from generate_series(1, 2)").status.success());
    let mut held = spawn(&s, &token, &["select 1"]);
    let (ticket, line) = wait_ticket(&s, "agent-budget-target-bytes");
    assert!(line.contains("connect"), "held at connect: {line}");
    held.kill().unwrap();
    let _ = held.wait();
    let mut open = true;
    for _ in 0..100 {
        open = out(&s.hoop(&["approvals", "list"])).contains(&ticket);
        if !open {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!open, "the ticket went with its client");
}

/// The same slow dump through a cursor, a page per FETCH in one session and one transaction:
/// each FETCH's rows count, and the FETCH that crosses the hourly budget is held.
#[test]
fn paging_through_a_cursor_counts_every_fetch() {
    let s = serve("[policy.budgets]\ntarget_rows_1h = 2500\n");
    let token = s.token("agent-1", "agent", "", 600);
    let fetch = "fetch 1000 from c";
    let mut c = s.psql_cmd("agent", &token, "prefer", "begin");
    c.args(["-c", "declare c cursor for select x from generate_series(1, 10000) x"]);
    for _ in 0..4 {
        c.args(["-c", fetch]);
    }
    let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (ticket, _) = wait_ticket(&s, "agent-budget-target-rows");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = wait(child);
    assert!(!o.status.success() && err(&o).contains("agent-budget-target-rows"), "{}", err(&o));
    // The third FETCH crosses the budget as it streams: held at its checkpoint and refused,
    // it ends in an error (psql shows no rows of a statement that failed).
    let rows = out(&o).lines().filter(|l| l.parse::<u64>().is_ok()).count();
    assert_eq!(rows, 2000, "two pages read, the third held midway and refused");
}

/// A large read split into many small results of one text is one result to the budget: the
/// results of one action add up, and their checkpoints come as for one large result.
#[test]
fn many_small_results_of_one_text_add_up() {
    let s = serve("[policy.budgets]\nresult_rows = 2500\ntarget_rows_1h = 1000000000\ntarget_bytes_1h = 1000000000\n");
    let token = s.token("agent-1", "agent", "", 600);
    let text: Vec<String> = (0..8).map(|i| format!("select x from generate_series({}, {}) x", i * 900 + 1, i * 900 + 900)).collect();
    let child = spawn(&s, &token, &[&text.join("; ")]);
    let (ticket, line) = wait_ticket(&s, "agent-budget-result");
    assert!(line.contains("paused after"), "{line}");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = wait(child);
    assert!(err(&o).contains("agent-budget-result"), "{}", err(&o));
    assert!(out(&o).lines().count() < 8 * 900, "cut short");
}

/// A table folded into one row (`string_agg`) is one row to the row budgets, but its bytes count:
/// once an hour's bytes from the target pass `target_bytes_1h`, the next statement is held.
#[test]
fn a_table_folded_into_one_row_is_held_by_its_bytes() {
    let s = serve("[policy.budgets]\ntarget_bytes_1h = 200000\n");
    let token = s.token("agent-1", "agent", "", 600);
    let fold = "select string_agg(x::text || repeat('z', 40), ',') from generate_series(1, 10000) x";
    let o = s.psql(&token, fold);
    assert!(o.status.success() && out(&o).len() > 400_000, "one row of the whole table: {}", err(&o));
    let held = spawn(&s, &token, &["select 1"]);
    let (ticket, _) = wait_ticket(&s, "agent-budget-target-bytes");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = wait(held);
    assert!(!o.status.success() && err(&o).contains("denied"), "{}", err(&o));
}

/// What leaves in an error message (a failing cast quoting a whole aggregate) or in
/// notifications (`pg_notify` payloads) counts as bytes read, like rows.
#[test]
fn values_carried_by_errors_and_notifications_count() {
    let s = serve("[policy.budgets]\ntarget_bytes_1h = 100000\n");
    let token = s.token("agent-1", "agent", "", 600);
    let quoted = "select (select string_agg(x::text || repeat('z', 40), ',') from generate_series(1, 5000) x)::int";
    let o = s.psql(&token, quoted);
    assert!(err(&o).contains("invalid input syntax") && err(&o).len() > 200_000, "the error quotes it all: {} bytes", err(&o).len());
    let held = spawn(&s, &token, &["select 1"]);
    let (ticket, _) = wait_ticket(&s, "agent-budget-target-bytes");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    assert!(!wait(held).status.success());

    let token = s.token("agent-2", "agent", "", 600);
    // A computed payload (a notification per row, each up to 8000 bytes) is refused outright.
    let notify = "select count(pg_notify('ch', x || repeat('n', 7000))) from generate_series(1, 20) x";
    let o = s.psql(&token, notify);
    assert!(err(&o).contains("agent-no-computed-notifications"), "{}", err(&o));
    // Constant payloads are one notification per statement (each statement meets the budgets):
    // ten of 7 kB, delivered to the session that sent them, count as bytes it read.
    let notifies: Vec<String> = (0..10).map(|i| format!("notify ch, '{i}{}'", "n".repeat(7000))).collect();
    let mut statements = vec!["listen ch"];
    statements.extend(notifies.iter().map(String::as_str));
    let o = wait(spawn(&s, &token, &statements));
    assert!(out(&o).matches("Asynchronous notification").count() == 10, "{}", err(&o));
    let usage = out(&s.hoop(&["usage", "--identity", "agent-2"]));
    let bytes: u64 = usage
        .lines()
        .skip_while(|l| *l != "agent-2 on db")
        .find_map(|l| l.trim().strip_prefix("1h: ")?.split("bytes ").nth(1)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(bytes >= 70_000, "{usage}");
}

/// Masked values count by what masked them: per source column (a column's rule, discovery, or
/// a value derived from one) and per content detector. `hoop usage` shows both, and rules read
/// them: here, reading a third distinct masked column in an hour (`usage.sensitive`) is held,
/// and so is the next read once the email detector masked more than a few values
/// (`usage.detectors`).
#[test]
fn masked_values_count_by_column_and_detector() {
    let rules = r#"[masking]
columns = ["people.id", "budget_cards.pin"]

[[policy.rules]]
name = "three-sensitive-columns"
when = 'identity.kind == "agent" && usage.sensitive.columns_1h >= 3'
then = "review"

[[policy.rules]]
name = "emails-seen"
when = 'identity.kind == "agent" && usage.detectors.exists(d, d == "email" && usage.detectors[d].masked_values_1h > 3)'
then = "review"
"#;
    let s = serve(rules);
    let token = s.token("agent-1", "agent", "", 600);
    // `people.id` masked whole by its rule.
    let o = s.psql(&token, "select id from people");
    assert!(o.status.success() && out(&o).trim() != "1", "{}", err(&o));
    let usage = out(&s.hoop(&["usage", "--identity", "agent-1"]));
    assert!(usage.contains("agent-1 on db, masked column public.people.id\n  1m: actions 0  rows 0  bytes 0  masked_values 1"), "{usage}");
    // A value derived from it is masked whole and counts under its source column.
    let o = s.psql(&token, "select id::text || '-x' as derived from people");
    assert!(o.status.success() && !out(&o).contains("1-x"), "the derived value is masked: {}", out(&o));
    let usage = out(&s.hoop(&["usage", "--identity", "agent-1"]));
    assert!(usage.contains("agent-1 on db, masked column public.people.id\n  1m: actions 0  rows 0  bytes 0  masked_values 2"), "{usage}");
    // Five computed emails, found by the email detector: the next read is held.
    let o = s.psql(&token, "select 'user' || x || '@corp.example' from generate_series(1, 5) x");
    assert!(o.status.success() && !out(&o).contains("@corp.example"), "{}", err(&o));
    let usage = out(&s.hoop(&["usage", "--identity", "agent-1"]));
    assert!(usage.contains("agent-1 on db, detector email\n  1m: actions 0  rows 0  bytes 0  masked_values 5"), "{usage}");
    let held = spawn(&s, &token, &["select 1"]);
    let (ticket, _) = wait_ticket(&s, "emails-seen");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    assert!(!wait(held).status.success());

    // Another agent reads three distinct masked columns of two tables (the email column is
    // masked by discovery), two of them folded into one derived value, which counts under
    // both: the next read is held.
    pg().psql("CREATE TABLE IF NOT EXISTS budget_cards (holder text, pin int); INSERT INTO budget_cards VALUES ('ann', 1234);").unwrap();
    let token = s.token("agent-2", "agent", "", 600);
    for read in ["select concat_ws(' ', id::text, email) from people", "select pin || '' from budget_cards"] {
        let o = s.psql(&token, read);
        assert!(o.status.success() && !out(&o).contains("1234") && !out(&o).contains("ann@"), "{read}: {}", err(&o));
    }
    let usage = out(&s.hoop(&["usage", "--identity", "agent-2"]));
    for column in ["public.budget_cards.pin", "public.people.email", "public.people.id"] {
        assert!(usage.contains(&format!("masked column {column}\n")), "{column}: {usage}");
    }
    let held = spawn(&s, &token, &["select 3"]);
    let (ticket, _) = wait_ticket(&s, "three-sensitive-columns");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    assert!(!wait(held).status.success());
}

/// An error message of a checkpoint's bytes or more (a cast quoting a whole aggregated table)
/// meets its checkpoint before it goes: past the hourly bytes budget it is held, and on denial
/// the client gets hoop's refusal instead of the quoted table.
#[test]
fn a_large_error_is_judged_before_it_goes() {
    let s = serve("[policy.budgets]\ntarget_bytes_1h = 500000\n");
    let token = s.token("agent-1", "agent", "", 600);
    let quoted = "select (select string_agg(x::text || repeat('z', 40), ',') from generate_series(1, 40000) x)::int";
    let child = spawn(&s, &token, &[quoted, "select 'still here'"]);
    let (ticket, line) = wait_ticket(&s, "agent-budget-target-bytes");
    assert!(line.contains("paused after 0 rows"), "held at the error: {line}");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    // The session goes on: its next statement is checked (and, the budget spent, held too).
    let (next, line) = wait_ticket(&s, "agent-budget-target-bytes");
    assert!(next != ticket && line.contains("still here"), "{line}");
    assert!(s.hoop(&["approvals", "deny", &next]).status.success());
    let o = wait(child);
    assert!(!err(&o).contains("zzzzzzzzzz") && err(&o).len() < 10_000, "the quoted table was withheld: {} bytes", err(&o).len());
    assert!(err(&o).contains("the reviewer did not let this result go on (rule agent-budget-target-bytes)"), "{}", err(&o));
}

/// A reviewer's approval waives the budget rule it was shown, not every budget: after one
/// rule's hold is approved, another budget the identity then passes still holds it (red-team
/// finding: an approved hold of `select 1` by a custom rule let 10 MB out past the bytes budget).
#[test]
fn an_approval_waives_only_the_rule_that_held() {
    let rules = r#"[policy.budgets]
target_bytes_1h = 200000

[[policy.rules]]
name = "third-statement"
when = 'identity.kind == "agent" && action.kind == "sql" && usage.target.rows_1h >= 2'
then = "review"
"#;
    let s = serve(rules);
    let token = s.token("agent-1", "agent", "", 600);
    assert!(s.psql(&token, "select 1").status.success());
    assert!(s.psql(&token, "select 2").status.success());
    let held = spawn(&s, &token, &["select 3"]);
    let (ticket, _) = wait_ticket(&s, "third-statement");
    assert!(s.hoop(&["approvals", "approve", &ticket]).status.success());
    assert!(wait(held).status.success());
    // Waived for the hour: a table folded into one row of 400 kB goes (the bytes budget is not
    // spent yet when it starts) ...
    let fold = "select string_agg(x::text || repeat('z', 40), ',') from generate_series(1, 10000) x";
    let o = s.psql(&token, fold);
    assert!(o.status.success() && out(&o).len() > 400_000, "{}", err(&o));
    // ... and then the bytes budget holds the next statement, waiver or not.
    let held = spawn(&s, &token, &["select 4"]);
    let (ticket, _) = wait_ticket(&s, "agent-budget-target-bytes");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    assert!(!wait(held).status.success());
}

/// Found by the budgets red-team round (13b): an agent that may issue tokens minted
/// sub-identities (`orch/j1`, `orch/j2`, …), each with empty budgets, and read 3.6 times the
/// hourly budget through four. What an issuer mints under its own name spends its budgets and
/// its session limit; a subject that merely holds a `/` is its own.
#[test]
fn identities_an_agent_mints_spend_its_budgets() {
    let s = serve("[policy.budgets]\ntarget_rows_1h = 2500\n");
    let orch = s.token("orch", "agent", "token-issuer", 3600);
    let job = |k: usize| {
        let o = s.hoop(&["token", "issue", "--token", &orch, "--subject", &format!("orch/j{k}"), "--kind", "agent", "--ttl", "600", "--targets", "db"]);
        assert!(o.status.success(), "{}", err(&o));
        out(&o).trim().to_string()
    };
    let page = |n: u64| format!("select x from generate_series({}, {}) x", n * 1000 + 1, n * 1000 + 1000);
    for n in 0..2 {
        let o = s.psql(&job(n as usize), &page(n));
        assert!(o.status.success() && out(&o).lines().count() == 1000, "page {n}: {}", err(&o));
    }
    // A third new identity starts where the first two left the issuer's hour: held.
    let held = spawn(&s, &job(2), &[&page(2)]);
    let (ticket, _) = wait_ticket(&s, "agent-budget-target-rows");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = wait(held);
    assert!(!o.status.success() && err(&o).contains("did not let this result go on"), "{}", err(&o));
    let usage = out(&s.hoop(&["usage", "--identity", "orch"]));
    assert!(usage.contains("orch on db\n"), "{usage}");
    // Names that are not under the issuer's, or that climb out of it, are not minted.
    for subject in ["orch/../admin", "orch//x", "orch/./x"] {
        let o = s.hoop(&["token", "issue", "--token", &orch, "--subject", subject, "--kind", "agent", "--ttl", "600", "--targets", "db"]);
        assert!(!o.status.success(), "{subject}: {}", out(&o));
    }
    // Red-team round 51: a client the operator let mint `ci/*` names minted `ci/job-1`,
    // `ci/job-2`, … each with empty budgets. What an agent mints, under any name, spends its own.
    let cred = s.client_credential("builder", "agent", "token-issuer", "db", &["--issue-subjects", "ci/*"]);
    let dir = tempfile::tempdir().unwrap();
    let as_builder = |args: &[&str]| {
        std::process::Command::new(HOOP)
            .args(args)
            .env("HOME", dir.path())
            .env("HOOP_DATA_DIR", dir.path().join("none"))
            .env("HOOP_ADMIN_URL", &s.admin)
            .env("HOOP_CA_FILE", s.ca_file())
            .env("HOOP_CREDENTIAL_FILE", &cred)
            .env_remove("HOOP_TOKEN")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = as_builder(&["token", "exchange"]);
    assert!(o.status.success(), "{}", err(&o));
    let builder = out(&o).trim().to_string();
    let ci = |k: usize| {
        let o = as_builder(&["token", "issue", "--token", &builder, "--subject", &format!("ci/job-{k}"), "--kind", "agent", "--ttl", "600", "--targets", "db"]);
        assert!(o.status.success(), "{}", err(&o));
        out(&o).trim().to_string()
    };
    for n in 0..2 {
        let o = s.psql(&ci(n as usize), &page(n));
        assert!(o.status.success() && out(&o).lines().count() == 1000, "ci page {n}: {}", err(&o));
    }
    let held = spawn(&s, &ci(2), &[&page(2)]);
    let (ticket, _) = wait_ticket(&s, "agent-budget-target-rows");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = wait(held);
    assert!(!o.status.success(), "the third minted name was held on the issuer's hour: {}", out(&o));
    let usage = out(&s.hoop(&["usage", "--identity", "builder"]));
    assert!(usage.contains("builder on db\n"), "{usage}");
}

/// Red-team Postgres round 95: inside the client's transaction, a DELETE … RETURNING over the
/// written-rows ceiling paused at the result budget, its client cancelled it (the server had
/// finished the write), and the client's COMMIT kept every deleted row deleted. A write the
/// server finished after the stop is under the ceiling all the same: the transaction fails.
#[test]
fn a_paused_write_its_client_cancels_stays_under_the_row_ceiling() {
    let s = serve("[policy.budgets]\nresult_rows = 2500\ntarget_rows_1h = 1000000000\ntarget_bytes_1h = 1000000000\n");
    let token = s.token("agent-1", "agent", "", 600);
    pg().psql("DROP TABLE IF EXISTS capped_pause; CREATE TABLE capped_pause AS SELECT x FROM generate_series(1, 6000) x; GRANT ALL ON capped_pause TO PUBLIC").unwrap();
    let child = spawn(&s, &token, &["begin", "delete from capped_pause where x <= 5000 returning x", "commit"]);
    let (_ticket, _) = wait_ticket(&s, "agent-budget-result");
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = wait(child);
    assert_eq!(pg().psql("SELECT count(*) FROM capped_pause").unwrap().trim(), "6000", "the write over the ceiling was not committed: {}", err(&o));
    assert!(err(&o).contains("hoop-max-rows-written") && out(&o).contains("ROLLBACK"), "{} {}", out(&o), err(&o));
    // The recording says why the write was undone (red-team round 96: only that it was).
    let listing = out(&s.hoop(&["sessions", "list"]));
    let shown = listing.lines().filter_map(|l| l.split_whitespace().next()).map(|id| out(&s.hoop(&["sessions", "show", id]))).find(|t| t.contains("capped_pause"));
    assert!(shown.as_deref().is_some_and(|t| t.contains("hoop-max-rows-written")), "the recording names the rule: {}", shown.unwrap_or_default().lines().rev().take(5).collect::<Vec<_>>().join("\n"));
}

/// Found by the budgets red-team round (13b): a client's cancel request did nothing while its
/// statement waited for review; only disconnecting abandoned it. A cancel (psql's Ctrl-C) ends
/// the wait, the ticket goes, and the client gets an error saying so: for a result paused
/// midway, and for a statement held before it runs.
#[test]
fn a_client_cancel_ends_a_wait_for_review() {
    let s = serve("[policy.budgets]\nresult_rows = 2500\ntarget_rows_1h = 1000000000\ntarget_bytes_1h = 1000000000\n");
    let token = s.token("agent-1", "agent", "", 600);
    for (statement, rule, says) in [
        ("select x from generate_series(1, 100000) x", "agent-budget-result", "the client cancelled it while it was paused for review"),
        ("copy (select 1) to stdout", "agent-review-copy-out", "the client cancelled the statement while it waited for review"),
    ] {
        let child = spawn(&s, &token, &[statement]);
        let (ticket, _) = wait_ticket(&s, rule);
        assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
        let o = wait(child);
        // The cancel also goes to the server, which may stop hoop's refusal in its place.
        assert!(err(&o).contains(says) || err(&o).contains("canceling statement due to user request"), "{statement}: {}", err(&o));
        assert!(out(&o).trim().is_empty(), "nothing ran: {}", out(&o));
        let mut listed = String::new();
        for _ in 0..50 {
            listed = out(&s.hoop(&["approvals", "list"]));
            if !listed.contains(&ticket) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!listed.contains(&ticket), "the ticket went with the wait: {listed}");
    }
}

/// Found by the twentieth red-team round: a statement held for review through the extended
/// protocol was listed by `hoop approvals list` without the values bound to its parameters, so
/// the reviewer could not see what would run. The listing shows them.
#[test]
fn a_held_statement_is_listed_with_its_bound_values() {
    let s = serve(
        "[[policy.rules]]\nname = \"review-bound\"\nwhen = 'identity.kind == \"agent\" && action.kind == \"sql\" && action.sql.params.size() > 0'\nthen = \"review\"\n",
    );
    let token = s.token("agent-1", "agent", "", 600);
    let port = s.pg_port.to_string();
    let script = [
        "import asyncio, sys, asyncpg",
        "async def main():",
        "    c = await asyncpg.connect(host='127.0.0.1', port=int(sys.argv[1]), user='agent-1', password=sys.argv[2], database='db', ssl=False)",
        "    try:",
        "        await c.fetchval('select $1::text', 'bound-value-20')",
        "        print('ran')",
        "    except asyncpg.PostgresError as e:",
        "        print('refused', e.sqlstate)",
        "asyncio.run(main())",
    ]
    .join("\n");
    let child = std::process::Command::new("python3").args(["-c", &script, &port, &token]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (ticket, line) = wait_ticket(&s, "review-bound");
    assert!(line.contains("select $1::text") && line.contains("$1 = 'bound-value-20'"), "{line}");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = wait(child);
    assert!(out(&o).contains("refused"), "{} {}", out(&o), err(&o));
}

/// Found by the twenty-fourth red-team round: `hoop approvals list` printed a held statement raw,
/// so escape sequences in a comment (`ESC[56D ESC[K`) erased an appended `update` on the
/// reviewer's terminal, who approved what looked like a read. The listing and the replay show
/// every control character as an escape; the whole statement stays in view.
#[test]
fn a_held_statement_cannot_hide_part_of_itself_from_the_reviewer() {
    let s = serve("[[policy.rules]]\nname = \"review-all\"\nwhen = 'identity.kind == \"agent\" && action.kind == \"sql\" && action.sql.text.contains(\"hidden24\")'\nthen = \"review\"\n");
    let token = s.token("agent-1", "agent", "", 600);
    let sql = "select 1 as hidden24 /**/; select 'erased-from-view' /*\u{1b}[60D\u{1b}[K\u{202e}*/";
    let child = spawn(&s, &token, &[sql]);
    let (ticket, line) = wait_ticket(&s, "review-all");
    assert!(!line.contains('\u{1b}') && !line.contains('\u{202e}'), "{line:?}");
    assert!(line.contains("erased-from-view") && line.contains("\\u{1b}[60D"), "{line}");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    wait(child);
    let listing = out(&s.hoop(&["sessions", "list"]));
    let id = listing.lines().filter_map(|l| l.split_whitespace().next()).find(|id| out(&s.hoop(&["sessions", "show", id])).contains("hidden24")).expect("the session's recording");
    let replay = s.hoop(&["replay", id]);
    let shown = out(&replay);
    assert!(!shown.contains('\u{1b}') && shown.contains("erased-from-view"), "{shown:?} {}", err(&replay));
}

/// Red-team round 27: the names a statement's `WITH` defines are not tables. Counted as such,
/// one statement of 300 CTEs pushed the tables this agent had actually read out of its
/// per-table counts, and a per-table budget stopped holding.
#[test]
fn names_defined_by_with_are_not_counted_as_tables() {
    let s = serve("");
    let token = s.token("agent-3", "agent", "", 600);
    assert!(s.psql(&token, "select id from people").status.success());
    let ctes = (0..300).map(|i| format!("b{i} as (select {i} as v)")).collect::<Vec<_>>().join(", ");
    let from = (0..300).map(|i| format!("b{i}")).collect::<Vec<_>>().join(", ");
    for _ in 0..3 {
        let o = s.psql(&token, &format!("with {ctes} select b0.v from {from}, generate_series(1, 300)"));
        assert!(o.status.success() && out(&o).lines().count() == 300, "{}", err(&o));
    }
    let usage = out(&s.hoop(&["usage", "--identity", "agent-3"]));
    assert!(usage.contains("agent-3 on db, table public.people\n") && !usage.contains("table b1"), "{usage}");
    // A CTE named like a table it hides reads the CTE; the table's own reads still count.
    let o = s.psql(&token, "with people as (select 1 as id) select id from people");
    assert!(o.status.success() && out(&o).trim() == "1", "{}", err(&o));
    let usage = out(&s.hoop(&["usage", "--identity", "agent-3"]));
    assert!(usage.contains("agent-3 on db, table public.people\n"), "{usage}");
}

/// Red-team round 27: a ticket for `EXECUTE p` or `FETCH … FROM c` showed only that text, so a
/// reviewer approved blind what the name held. The listing shows what runs.
#[test]
fn a_held_execute_or_fetch_shows_what_it_runs() {
    let s = serve("[[policy.rules]]\nname = \"review-by-name\"\nwhen = 'identity.kind == \"agent\" && action.kind == \"sql\" && (action.sql.text.startsWith(\"execute\") || action.sql.text.startsWith(\"fetch\"))'\nthen = \"review\"\n");
    let token = s.token("agent-1", "agent", "", 600);
    let held = spawn(&s, &token, &["prepare p as select email from people where id > 0", "execute p"]);
    let (ticket, line) = wait_ticket(&s, "review-by-name");
    assert!(line.contains("execute p") && line.contains("runs: prepare p as select email from people where id > 0"), "{line}");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    let o = wait(held);
    assert!(err(&o).contains("denied"), "{}", err(&o));
    let held = spawn(&s, &token, &["begin", "declare c cursor for select id, email from people", "fetch 2 from c", "commit"]);
    let (ticket, line) = wait_ticket(&s, "review-by-name");
    assert!(line.contains("runs:") && line.contains("select id, email from people"), "{line}");
    assert!(s.hoop(&["approvals", "deny", &ticket]).status.success());
    wait(held);
}
