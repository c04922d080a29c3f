//! Other drivers than libpq through hoop with the default agent rules: asyncpg (Python) and
//! pgjdbc (Java), as an agent's code would use them. Each runs its ordinary work unchanged
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
    assert!(out.contains("after:42\n"), "the connection goes on: {out}");
    users_still_there();
}
