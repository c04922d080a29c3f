//! Text that older servers read differently from hoop's grammar, widened to cover both readings.
//!
//! hoop parses with PostgreSQL 18's grammar (libpg_query); the server behind it may be older.
//! Where one text is valid for both with different meanings, the tree is widened before
//! anything walks it, so that every walk (tables, filters, lineage) sees what either reading
//! reads. Red-team round 27: `SYSTEM_USER` is a function from PostgreSQL 16 on and an ordinary
//! column name before it, so `select system_user from (select replace(email, …) as system_user
//! from customers) s` was read as a call that reads nothing, and a PostgreSQL 15 server
//! returned the addresses in clear.
//!
//! The other words PostgreSQL 16–18 added either need parentheses where they mean something
//! new (`json_value(…)`, `merge_action()`; their arguments are read either way) or make older
//! text a syntax error for hoop (refused as unreadable), so `SYSTEM_USER` is the one reading to
//! widen. Numbers like `0x1F` or `1_000`, new in 16, are errors on 15 ("trailing junk").

use serde_json::{Map, Value};

/// Widens every node of `v` whose reading depends on the server's version (see the module).
pub(crate) fn widen(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Object(f)) = o.get_mut("FuncCall") {
                widen_call(f);
            }
            o.values_mut().for_each(widen);
        }
        Value::Array(a) => a.iter_mut().for_each(widen),
        _ => {}
    }
}

/// `SYSTEM_USER` (the keyword, not an explicit call) reads as itself and as the column
/// `system_user`: the call gets that column as an argument, which no server passes it.
fn widen_call(f: &mut Map<String, Value>) {
    let sql_syntax = f.get("funcformat").and_then(Value::as_i64) == Some(pg_query::protobuf::CoercionForm::CoerceSqlSyntax as i64);
    let name = f.get("funcname").and_then(Value::as_array).and_then(|n| n.last()).and_then(|n| n.pointer("/node/String/sval")).and_then(Value::as_str);
    let no_args = f.get("args").and_then(Value::as_array).is_none_or(Vec::is_empty);
    if sql_syntax && name == Some("system_user") && no_args {
        let location = f.get("location").cloned().unwrap_or(Value::from(-1));
        let column = serde_json::json!({"node": {"ColumnRef": {"fields": [{"node": {"String": {"sval": "system_user"}}}], "location": location}}});
        f.insert("args".into(), Value::Array(vec![column]));
    }
}

#[cfg(test)]
mod tests {
    use crate::action::lineage::{Output, Outputs, derive};

    #[test]
    fn system_user_is_also_read_as_a_column() {
        let masked = |rel: &str| if rel.ends_with("customers") { vec!["email".to_string(), "ssn".to_string()] } else { vec![] };
        // What a PostgreSQL 15 server runs: the inner column, under the outer name.
        let d = derive("select system_user as x from (select replace(email, '@', ' at ') as system_user from customers) s").unwrap();
        let t = d.taint(masked);
        assert!(matches!(d.statements.last(), Some(Outputs::Rows(o)) if matches!(o.first(), Some(Output::Expr { refs, .. }) if t.reads(refs))), "{d:?}");
        // A filter on it is a filter on that column, as a 15 server reads it.
        let d = derive("select id from (select id, ssn as system_user from customers) s where system_user like '1%'").unwrap();
        let t = d.taint(masked);
        assert!(d.filters.iter().any(|r| t.reads(r)), "{d:?}");
        // An explicit call is only a call; a quoted name only a column.
        let d = derive("select pg_catalog.system_user() as a, \"system_user\" as b from customers").unwrap();
        let t = d.taint(|_| vec!["system_user".to_string()]);
        let Some(Outputs::Rows(o)) = d.statements.last() else { panic!("{d:?}") };
        let read: Vec<bool> = o.iter().map(|o| matches!(o, Output::Expr { refs, .. } if t.reads(refs))).collect();
        assert_eq!(read, [false, true], "{d:?}");
    }
}
