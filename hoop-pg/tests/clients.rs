//! Other drivers than libpq through hoop with the default agent rules: asyncpg and psycopg
//! (Python) and pgjdbc (Java), as an agent's code would use them. Each runs its ordinary work unchanged
//! (prepared statements, cursors, portals run in parts, batches), gets masked values, has a
//! destructive statement refused with a clear error, and goes on; the table is checked on the
//! server afterwards. The client programs are in `tests/clients/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use hoop_core::identity::IdentityKind;
use std::process::Command;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");

fn users_still_there() {
    assert_eq!(pg().psql("select count(*) from users").unwrap().trim(), "2", "the table is still on the server");
}

#[test]
fn asyncpg_works_unchanged_and_is_gated() {
    let gw = Gw::start("");
    let token = gw.token("agent-1", IdentityKind::Agent);
    let o = Command::new("python3").arg(format!("{DIR}/asyncpg_client.py")).arg(gw.port.to_string()).arg(&token).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    // Masked: the card column by configuration, emails by discovery and detectors.
    let rows = v["rows"].to_string();
    assert!(rows.contains("Ann") && !rows.contains("4111") && !rows.contains("ann@corp.example") && !rows.contains("bob.alt@"), "{rows}");
    assert_eq!(v["prepared"], serde_json::json!(["Ann", "Bob"]));
    assert_eq!(v["cursor"], serde_json::json!([1200, 1, 1200]), "every row of the cursor, once");
    assert_eq!((v["moved"].clone(), v["after_move"].clone()), (serde_json::json!(50), serde_json::json!(51)), "MOVE on asyncpg's own portal");
    assert!(!v["emails"].to_string().contains("@corp.example"), "rows fetched through a cursor are masked: {}", v["emails"]);
    let drop = v["drop"].as_str().unwrap_or_default();
    assert!(drop.starts_with("42501") && drop.contains("agent-no-destructive-ddl"), "{drop}");
    // Refused when prepared, with hoop's reason, not described as taking no parameters.
    let prepared = v["prepared_refused"].as_str().unwrap_or_default();
    assert!(prepared.starts_with("42501") && prepared.contains("(rule agent-"), "{prepared}");
    assert_eq!(pg().psql("select count(*) from users where name = 'x'").unwrap().trim(), "0", "the refused update did not run");
    assert_eq!(v["after"], 42, "the connection goes on");
    // Compatibility round 1: `copy_records_to_table` sends its COPY inside an open batch.
    assert_eq!((v["copied"].clone(), v["copied_back"].clone()), (serde_json::json!("COPY 2"), serde_json::json!(2)));
    users_still_there();
}

#[test]
fn jdbc_works_unchanged_and_is_gated() {
    let gw = Gw::start("");
    pg().psql("DROP TABLE IF EXISTS jdbc_capped; CREATE TABLE jdbc_capped AS SELECT g AS id, 0 AS v FROM generate_series(1, 1500) g; GRANT ALL ON jdbc_capped TO PUBLIC").unwrap();
    let token = gw.token("agent-1", IdentityKind::Agent);
    let o = Command::new("java")
        .args(["-cp", "/usr/share/java/postgresql.jar"])
        .arg(format!("{DIR}/HoopJdbc.java"))
        .arg(gw.port.to_string())
        .arg(&token)
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{err}\n{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("row:")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].starts_with("row:1|Ann|") && !out.contains("4111") && !out.contains("ann@corp.example") && !out.contains("bob.alt@"), "{out}");
    let prepared: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("prepared:")).collect();
    assert_eq!(prepared, ["Ann", "Bob", "Ann", "Bob", "Ann", "Bob", "Ann"], "before and after pgjdbc prepares it on the server");
    assert!(out.contains("cursor:1200,1200\n"), "a portal run 100 rows at a time: {out}");
    assert!(out.contains("batch:20\n") && out.contains("batch_count:20\n"), "{out}");
    let drop = out.lines().find_map(|l| l.strip_prefix("drop:")).unwrap_or_default();
    assert!(drop.starts_with("42501") && drop.contains("agent-no-destructive-ddl"), "{drop}");
    // Compatibility round 6: the batch entry named is the one over the ceiling (it was the
    // third, when hoop's error followed the write's command tag), and nothing of the batch ran.
    let capped = out.lines().find_map(|l| l.strip_prefix("capped:")).unwrap_or_default();
    assert!(capped.starts_with("42501") && capped.contains("Batch entry 1 ") && capped.contains("1500 rows"), "{capped}");
    assert_eq!(pg().psql("SELECT count(*) FROM jdbc_capped WHERE v <> 0").unwrap().trim(), "0");
    // Compatibility round 7: a fetch size in a transaction (a write's RETURNING run in parts)
    // was refused for every write; one row is written, and over the ceiling nothing is.
    assert!(out.contains("returning:1\n"), "{out}");
    let over = out.lines().find_map(|l| l.strip_prefix("returning_over:")).unwrap_or_default();
    assert!(over.starts_with("42501") && over.contains("hoop-max-rows-written"), "{over}");
    assert_eq!(pg().psql("SELECT count(*) || ' ' || count(*) FILTER (WHERE v = 2) FROM jdbc_capped").unwrap().trim(), "1499 0");
    assert!(out.contains("after:42\n"), "the connection goes on: {out}");
    users_still_there();
}

/// Compatibility round 6: a write over the written-rows ceiling in a pipeline answered its
/// command tag, then hoop's error, so every pipelining driver took the error for the next
/// statement's: psycopg's `executemany` lost its connection, and with a Sync per statement the
/// next insert was committed while psycopg was told it failed. The error now comes in the
/// tag's place, as a server's would: the driver names the right statement and goes on.
#[test]
fn psycopg_pipelines_meet_the_row_ceiling_as_a_server_error() {
    let gw = Gw::start("");
    pg().psql(
        "DROP TABLE IF EXISTS psy_capped, psy_pipe; CREATE TABLE psy_capped AS SELECT g AS id, 0 AS v FROM generate_series(1, 1500) g; \
         CREATE TABLE psy_pipe (id int); GRANT ALL ON psy_capped, psy_pipe TO PUBLIC",
    )
    .unwrap();
    let token = gw.token("agent-1", IdentityKind::Agent);
    let o = Command::new("python3").arg(format!("{DIR}/psycopg_client.py")).arg(gw.port.to_string()).arg(&token).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let refused = |k: &str| v[k].as_str().is_some_and(|s| s.starts_with("42501") && s.contains("1500 rows") && s.contains("hoop-max-rows-written"));
    assert!(refused("executemany"), "{v}");
    assert_eq!(v["after_executemany"], 42, "the connection goes on: {v}");
    let steps = v["pipeline"].as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 4, "{v}");
    assert!(steps[0] == "ok" && steps[1].as_str().is_some_and(|s| s.starts_with("42501")) && steps[2] == "ok" && steps[3] == 2, "the refusal is the update's, the inserts around it ran: {v}");
    assert_eq!(v["after_pipeline"], 42, "{v}");
    assert!(refused("in_tx") && v["in_tx_next"].as_str().is_some_and(|s| s.starts_with("25P02")), "the transaction is failed: {v}");
    assert_eq!(v["after_tx"], 42, "{v}");
    // On the server: no update of any entry, the pipeline's two inserts, nothing of the
    // failed transaction.
    assert_eq!(pg().psql("SELECT count(*) FROM psy_capped WHERE v <> 0").unwrap().trim(), "0");
    assert_eq!(pg().psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM psy_pipe").unwrap().trim(), "3,4");
}
