//! Guards: conjuncts of a rule that can be decided natively, without the CEL interpreter.
//!
//! Most rules read `identity.kind == "agent" && action.kind == "sql" && <something>`. When a
//! rule is a conjunction and one of its conjuncts is a simple test on a field (equality with
//! a literal, membership in a literal list, a boolean field, `"x" in list`,
//! `list.exists(v, v in [...])`), that test is evaluated natively first; if it is false the
//! whole rule is false (CEL's `&&` is false when any operand is false, errors included) and
//! the interpreter never runs. Anything not recognised simply leaves the rule to CEL, so this
//! changes speed, never results.

use crate::action::Action;
use crate::session::Session;
use cel_parser::ast::{Expr, IdedExpr};
use cel_parser::reference::Val;

/// A natively decidable conjunct.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pred {
    /// `path == "lit"` (either side).
    Eq(FieldId, String),
    /// `path in ["a", "b"]`.
    OneOf(FieldId, Vec<String>),
    /// `path` (a boolean field), or `!path` when the flag is false.
    Bool(FieldId, bool),
    /// `"lit" in path` (a list field).
    Contains(FieldId, String),
    /// `path.exists(v, v in ["a", "b"])` (a list field).
    AnyOf(FieldId, Vec<String>),
    /// `path.exists(v, v in set || baseName(v) in set)` (two list fields; either test alone too).
    AnyIn { list: FieldId, set: FieldId, plain: bool, base: bool },
    /// `size(path) > 0` (a list field).
    NonEmpty(FieldId),
    /// `path > n` or `path >= n` (an integer field: a usage window, a result count).
    Above(FieldId, u64, bool),
    /// `a || b || ...`: true if one is, false if all are, else undecided.
    Either(Vec<Pred>),
    /// `a && b && ...` inside a larger test: false if one is, true if all are, else undecided.
    All(Vec<Pred>),
    /// Anything else, inside an `Either` or `All`: undecided.
    Unknown,
}

/// A field value as the native evaluator sees it.
enum Native<'a> {
    Str(&'a str),
    Bool(bool),
    List(&'a [String]),
    Int(u64),
}

/// One conjunct of a rule: its source, and the native test for it when there is one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Conjunct {
    /// CEL source of this conjunct.
    pub source: String,
    pred: Option<Pred>,
}

impl Conjunct {
    /// A conjunct always left to CEL.
    pub fn opaque(source: &str) -> Self {
        Conjunct { source: source.to_string(), pred: None }
    }

    /// `Some(value)` when decided natively, `None` when CEL must evaluate it.
    pub fn check(&self, session: &Session, action: &Action) -> Option<bool> {
        self.pred.as_ref().and_then(|p| eval(p, session, action))
    }

    /// The action kind and the identity kind this conjunct requires (`action.kind == "sql"`,
    /// `identity.kind == "agent"`), if it is such a test: a rule with it is false for any other.
    pub fn requires(&self) -> (Option<&str>, Option<&str>) {
        match &self.pred {
            Some(Pred::Eq(FieldId::ActionKind, lit)) => (Some(lit), None),
            Some(Pred::Eq(FieldId::IdentityKind, lit)) => (None, Some(lit)),
            _ => (None, None),
        }
    }
}

/// Splits a rule into conjuncts, in order; an expression that is not a top-level
/// conjunction is one conjunct.
pub(crate) fn conjuncts(source: &str) -> Vec<Conjunct> {
    let parts = split_conjuncts(source).unwrap_or_else(|| vec![source]);
    parts
        .into_iter()
        .map(|part| {
            let parsed = std::panic::catch_unwind(|| cel_parser::Parser::new().parse(part));
            let pred = parsed.ok().and_then(Result::ok).as_ref().and_then(pred).filter(|p| *p != Pred::Unknown);
            Conjunct { source: part.trim().to_string(), pred }
        })
        .collect()
}

/// Splits a CEL expression at its top-level `&&`s; `None` if the text is not balanced.
fn split_conjuncts(src: &str) -> Option<Vec<&str>> {
    let b = src.as_bytes();
    let mut parts = Vec::new();
    let (mut depth, mut start, mut i) = (0i32, 0usize, 0usize);
    while i < b.len() {
        match b.get(i).copied()? {
            q @ (b'"' | b'\'') => {
                // Skip a string literal (triple-quoted or not), honouring escapes.
                let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
                let delim_len = if triple { 3 } else { 1 };
                i += delim_len;
                loop {
                    let c = *b.get(i)?;
                    if c == b'\\' {
                        i += 2;
                        continue;
                    }
                    if c == q && (!triple || (b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q))) {
                        i += delim_len;
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            b'&' if depth == 0 && b.get(i + 1) == Some(&b'&') => {
                parts.push(src.get(start..i)?);
                i += 2;
                start = i;
                continue;
            }
            b'|' | b'?' if depth == 0 => return None, // a top-level || or ?: is not a conjunction
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return None;
    }
    parts.push(src.get(start..)?);
    Some(parts)
}

fn eval(p: &Pred, s: &Session, a: &Action) -> Option<bool> {
    Some(match p {
        Pred::Eq(path, lit) => match field(s, a, *path) {
            Native::Str(v) => v == lit,
            _ => return None,
        },
        Pred::OneOf(path, lits) => match field(s, a, *path) {
            Native::Str(v) => lits.iter().any(|l| l == v),
            _ => return None,
        },
        Pred::Bool(path, want) => match field(s, a, *path) {
            Native::Bool(v) => v == *want,
            _ => return None,
        },
        Pred::Contains(path, lit) => match field(s, a, *path) {
            Native::List(v) => v.iter().any(|x| x == lit),
            _ => return None,
        },
        Pred::AnyOf(path, lits) => match field(s, a, *path) {
            Native::List(v) => v.iter().any(|x| lits.contains(x)),
            _ => return None,
        },
        Pred::AnyIn { list, set, plain, base } => match (field(s, a, *list), field(s, a, *set)) {
            (Native::List(list), Native::List(set)) => list.iter().any(|v| {
                (*plain && set.iter().any(|x| x == v)) || (*base && set.iter().any(|x| x == super::functions::base_name_of(v)))
            }),
            _ => return None,
        },
        Pred::NonEmpty(path) => match field(s, a, *path) {
            Native::List(v) => !v.is_empty(),
            _ => return None,
        },
        Pred::Above(path, n, or_equal) => match field(s, a, *path) {
            Native::Int(v) => v > *n || (*or_equal && v == *n),
            _ => return None,
        },
        Pred::Either(preds) => return combine(preds, s, a, true),
        Pred::All(preds) => return combine(preds, s, a, false),
        Pred::Unknown => return None,
    })
}

/// Three-valued `||` (`decisive = true`) or `&&` (`decisive = false`): the first operand equal
/// to `decisive` decides; otherwise any undecided operand leaves the whole undecided.
fn combine(preds: &[Pred], s: &Session, a: &Action, decisive: bool) -> Option<bool> {
    let mut undecided = false;
    for p in preds {
        match eval(p, s, a) {
            Some(v) if v == decisive => return Some(decisive),
            Some(_) => {}
            None => undecided = true,
        }
    }
    (!undecided).then_some(!decisive)
}

/// The fields rules test most, resolved from their CEL path once at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldId {
    ActionKind,
    ActionTarget,
    SqlText,
    SqlKinds,
    SqlTables,
    SqlFunctions,
    SqlHasWhere,
    SqlParsed,
    SqlCopy,
    SqlCopyProgram,
    ExecCommand,
    ExecArgv,
    FilePath,
    FileDirection,
    FileOperation,
    ForwardDirection,
    K8sVerb,
    K8sResource,
    K8sSubresource,
    K8sNamespace,
    IdentityKind,
    IdentitySubject,
    IdentityGroups,
    TargetName,
    TargetSensitive,
    TargetSensitiveTables,
    SessionProtocol,
    /// `usage.<identity|target>.<counter>_<window>`: scope (0 identity, 1 target), window
    /// (0 minute, 1 hour, 2 day), counter (as [`COUNTERS`]).
    Usage(u8, u8, u8),
    /// `result.<counter>` (as [`RESULT_FIELDS`]).
    Result(u8),
    /// `result.streams_masked`.
    ResultStreamsMasked,
}

/// The counters of a usage window, as CEL names them.
const COUNTERS: [&str; 5] = ["actions", "rows", "bytes", "masked_values", "deletes"];
/// The fields of `result`.
const RESULT_FIELDS: [&str; 4] = ["rows", "bytes", "masked_values", "seconds"];

/// `rows_1h` as (counter, window).
fn usage_name(name: &str) -> Option<(u8, u8)> {
    let (counter, window) = name.rsplit_once('_')?;
    let c = COUNTERS.iter().position(|x| *x == counter)?;
    let w = ["1m", "1h", "1d"].iter().position(|x| *x == window)?;
    Some((c as u8, w as u8))
}

fn field_id(path: &[String]) -> Option<FieldId> {
    use FieldId::*;
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match p.as_slice() {
        ["action", "kind"] => ActionKind,
        ["action", "target"] => ActionTarget,
        ["action", "sql", "text"] => SqlText,
        ["action", "sql", "kinds"] => SqlKinds,
        ["action", "sql", "tables"] => SqlTables,
        ["action", "sql", "functions"] => SqlFunctions,
        ["action", "sql", "has_where"] => SqlHasWhere,
        ["action", "sql", "parsed"] => SqlParsed,
        ["action", "sql", "copy"] => SqlCopy,
        ["action", "sql", "copy_program"] => SqlCopyProgram,
        ["action", "exec", "command"] => ExecCommand,
        ["action", "exec", "argv"] => ExecArgv,
        ["action", "file_transfer", "path"] => FilePath,
        ["action", "file_transfer", "direction"] => FileDirection,
        ["action", "file_transfer", "operation"] => FileOperation,
        ["action", "forward", "direction"] => ForwardDirection,
        ["action", "k8s", "verb"] => K8sVerb,
        ["action", "k8s", "resource"] => K8sResource,
        ["action", "k8s", "subresource"] => K8sSubresource,
        ["action", "k8s", "namespace"] => K8sNamespace,
        ["identity", "kind"] => IdentityKind,
        ["identity", "subject"] => IdentitySubject,
        ["identity", "groups"] => IdentityGroups,
        ["target", "name"] => TargetName,
        ["target", "sensitive"] => TargetSensitive,
        ["target", "sensitive_tables"] => TargetSensitiveTables,
        ["session", "protocol"] => SessionProtocol,
        ["usage", scope @ ("identity" | "target"), name] => {
            let (c, w) = usage_name(name)?;
            Usage(u8::from(*scope == "target"), w, c)
        }
        ["result", "streams_masked"] => ResultStreamsMasked,
        ["result", name] => Result(RESULT_FIELDS.iter().position(|x| x == name)? as u8),
        _ => return None,
    })
}

/// A field's value, without copying.
fn field<'a>(s: &'a Session, a: &'a Action, f: FieldId) -> Native<'a> {
    use FieldId::*;
    use Native::{Bool, Int, List, Str};
    match f {
        ActionKind => Str(a.kind.as_str()),
        ActionTarget => Str(&a.target),
        SqlText => Str(&a.sql.text),
        SqlKinds => List(&a.sql.kinds),
        SqlTables => List(&a.sql.tables),
        SqlFunctions => List(&a.sql.functions),
        SqlHasWhere => Bool(a.sql.has_where),
        SqlParsed => Bool(a.sql.parsed),
        SqlCopy => Str(&a.sql.copy),
        SqlCopyProgram => Bool(a.sql.copy_program),
        ExecCommand => Str(&a.exec.command),
        ExecArgv => List(&a.exec.argv),
        FilePath => Str(&a.file_transfer.path),
        FileDirection => Str(&a.file_transfer.direction),
        FileOperation => Str(&a.file_transfer.operation),
        ForwardDirection => Str(&a.forward.direction),
        K8sVerb => Str(&a.k8s.verb),
        K8sResource => Str(&a.k8s.resource),
        K8sSubresource => Str(&a.k8s.subresource),
        K8sNamespace => Str(&a.k8s.namespace),
        IdentityKind => Str(s.identity.kind.as_str()),
        IdentitySubject => Str(&s.identity.subject),
        IdentityGroups => List(&s.identity.groups),
        TargetName => Str(&s.target.name),
        TargetSensitive => Bool(s.target.sensitive),
        TargetSensitiveTables => List(&s.target.sensitive_tables),
        SessionProtocol => Str(s.protocol.as_str()),
        Usage(scope, window, counter) => {
            let w = if scope == 0 { &a.usage.identity } else { &a.usage.target };
            let c = match window {
                0 => &w.m1,
                1 => &w.h1,
                _ => &w.d1,
            };
            Int(match counter {
                0 => c.actions,
                1 => c.rows,
                2 => c.bytes,
                3 => c.masked_values,
                _ => c.deletes,
            })
        }
        ResultStreamsMasked => Bool(a.result.streams_masked),
        Result(i) => Int(match i {
            0 => a.result.rows,
            1 => a.result.bytes,
            2 => a.result.masked_values,
            _ => a.result.seconds,
        }),
    }
}

/// Operands of a chain of the same logical operator.
fn flatten<'a>(e: &'a IdedExpr, op: &str, out: &mut Vec<&'a IdedExpr>) {
    match &e.expr {
        Expr::Call(c) if c.func_name == op && c.target.is_none() => {
            for a in &c.args {
                flatten(a, op, out);
            }
        }
        _ => out.push(e),
    }
}

fn pred(e: &IdedExpr) -> Option<Pred> {
    match &e.expr {
        Expr::Select(_) => Some(Pred::Bool(path(e)?, true)),
        Expr::Comprehension(c) => {
            // `list.exists(v, v in [lits])`, as the parser expands the macro.
            let Expr::Call(step) = &c.loop_step.expr else { return None };
            let [acc, test] = step.args.as_slice() else { return None };
            if step.func_name != "_||_" || !matches!(&acc.expr, Expr::Ident(v) if *v == c.accu_var) {
                return None;
            }
            if !matches!(&c.accu_init.expr, Expr::Literal(Val::Boolean(false))) || c.iter_var2.is_some() {
                return None;
            }
            let is_var = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(v) if *v == c.iter_var);
            // `v in [literals]`.
            if let Expr::Call(inn) = &test.expr
                && let ("@in", [var, lits]) = (inn.func_name.as_str(), inn.args.as_slice())
                && is_var(var)
                && let Some(lits) = strings(lits)
            {
                return Some(Pred::AnyOf(path(&c.iter_range)?, lits));
            }
            // `v in set`, `baseName(v) in set`, or both joined by `||`, all against one list field.
            let mut tests = Vec::new();
            flatten(test, "_||_", &mut tests);
            let (mut set, mut plain, mut base) = (None, false, false);
            for t in tests {
                let Expr::Call(inn) = &t.expr else { return None };
                let ("@in", [x, y]) = (inn.func_name.as_str(), inn.args.as_slice()) else { return None };
                let field = path(y)?;
                if set.replace(field).is_some_and(|f| f != field) {
                    return None;
                }
                match &x.expr {
                    _ if is_var(x) => plain = true,
                    Expr::Call(f) if f.func_name == "baseName" && f.target.is_none() && matches!(f.args.as_slice(), [v] if is_var(v)) => base = true,
                    _ => return None,
                }
            }
            Some(Pred::AnyIn { list: path(&c.iter_range)?, set: set?, plain, base })
        }
        Expr::Call(c) if c.target.is_none() => match (c.func_name.as_str(), c.args.as_slice()) {
            ("_||_" | "_&&_", _) => {
                let mut operands = Vec::new();
                flatten(e, &c.func_name, &mut operands);
                let parts: Vec<Pred> = operands.into_iter().map(|o| pred(o).unwrap_or(Pred::Unknown)).collect();
                if parts.iter().all(|p| *p == Pred::Unknown) {
                    return None;
                }
                Some(if c.func_name == "_||_" { Pred::Either(parts) } else { Pred::All(parts) })
            }
            ("_>_", [x, y]) if matches!(&y.expr, Expr::Literal(Val::Int(0))) => match &x.expr {
                Expr::Call(sz) if sz.func_name == "size" && sz.target.is_none() => match sz.args.as_slice() {
                    [p] => Some(Pred::NonEmpty(path(p)?)),
                    _ => None,
                },
                _ => Some(Pred::Above(path(x)?, 0, false)),
            },
            (op @ ("_>_" | "_>=_"), [x, y]) => match &y.expr {
                Expr::Literal(Val::Int(n)) if *n >= 0 => Some(Pred::Above(path(x)?, *n as u64, op == "_>=_")),
                _ => None,
            },
            ("!_", [x]) => Some(Pred::Bool(path(x)?, false)),
            ("_==_", [x, y]) => match (path(x), string(y)) {
                (Some(p), Some(l)) => Some(Pred::Eq(p, l)),
                _ => Some(Pred::Eq(path(y)?, string(x)?)),
            },
            ("@in", [x, y]) => match (string(x), path(y)) {
                (Some(l), Some(p)) => Some(Pred::Contains(p, l)),
                _ => Some(Pred::OneOf(path(x)?, strings(y)?)),
            },
            _ => None,
        },
        _ => None,
    }
}

/// The field `e` names, if it is one hoop decides natively.
fn path(e: &IdedExpr) -> Option<FieldId> {
    field_id(&dotted(e)?)
}

/// `a.b.c` as `["a", "b", "c"]`.
fn dotted(e: &IdedExpr) -> Option<Vec<String>> {
    match &e.expr {
        Expr::Ident(v) => Some(vec![v.clone()]),
        Expr::Select(s) if !s.test => {
            let mut p = dotted(&s.operand)?;
            p.push(s.field.clone());
            Some(p)
        }
        _ => None,
    }
}

fn string(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Expr::Literal(Val::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn strings(e: &IdedExpr) -> Option<Vec<String>> {
    let Expr::List(l) = &e.expr else { return None };
    l.elements.iter().map(string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ActionKind;
    use crate::identity::{Identity, IdentityKind};
    use crate::session::{Protocol, SessionId, TargetInfo};

    fn session(kind: IdentityKind) -> Session {
        Session {
            id: SessionId("s".into()),
            identity: Identity::new("x", kind),
            protocol: Protocol::Postgres,
            target: TargetInfo::default(),
            client_addr: None,
            started_at: 0,
        }
    }

    fn checks(src: &str, s: &Session, a: &Action) -> Vec<Option<bool>> {
        conjuncts(src).iter().map(|c| c.check(s, a)).collect()
    }

    #[test]
    fn native_conjuncts() {
        let src = r#"identity.kind == "agent" && action.kind in ["sql"] && action.sql.kinds.exists(k, k in ["drop", "truncate"]) && !action.sql.has_where && "x" in action.sql.tables && action.sql.copy_program"#;
        let agent = session(IdentityKind::Agent);
        let mut a = Action::sql("t", "drop table x");
        a.sql.copy_program = true;
        assert_eq!(checks(src, &agent, &a), vec![Some(true); 6]);
        assert_eq!(checks(src, &agent, &Action::sql("t", "select 1"))[2], Some(false));
        assert_eq!(checks(src, &session(IdentityKind::Human), &a)[0], Some(false));
        assert_eq!(checks(src, &agent, &Action::sample(ActionKind::Exec))[1], Some(false));
    }

    #[test]
    fn conjuncts_split_outside_strings_and_brackets() {
        let c = conjuncts(r#"identity.kind == "agent" && action.exec.command.matches("a && b") && (true && false)"#);
        let sources: Vec<&str> = c.iter().map(|c| c.source.as_str()).collect();
        assert_eq!(sources, [r#"identity.kind == "agent""#, r#"action.exec.command.matches("a && b")"#, "(true && false)"]);
        assert_eq!(conjuncts(r#"action.kind == "sql" || true"#).len(), 1, "not a conjunction");
    }

    #[test]
    fn three_valued_disjunctions() {
        let src = r#"(target.sensitive || (size(target.sensitive_tables) > 0 && action.sql.tables.exists(t, t in target.sensitive_tables)))"#;
        let mut s = session(IdentityKind::Agent);
        let a = Action::sql("t", "select * from x");
        assert_eq!(checks(src, &s, &a), [Some(false)], "no sensitive target or tables: decided");
        s.target.sensitive_tables.push("x".into());
        assert_eq!(checks(src, &s, &a), [Some(true)], "a sensitive table read");
        assert_eq!(checks(src, &s, &Action::sql("t", "select * from y")), [Some(false)]);
        s.target.sensitive = true;
        assert_eq!(checks(src, &s, &a), [Some(true)]);
    }

    #[test]
    fn list_fields_against_list_fields() {
        // The default sensitive-read rule's test, decided natively on every SELECT.
        let src = r#"action.sql.tables.exists(t, t in target.sensitive_tables || baseName(t) in target.sensitive_tables)"#;
        let mut s = session(IdentityKind::Agent);
        s.target.sensitive_tables = vec!["customers".into(), "billing.cards".into()];
        for (sql, want) in [
            ("select * from customers", true),
            ("select * from public.customers", true),
            ("select * from billing.cards", true),
            ("select * from other.cards", false),
            ("select * from orders join items on true", false),
            ("select 1", false),
        ] {
            assert_eq!(checks(src, &s, &Action::sql("t", sql)), [Some(want)], "{sql}");
        }
        let plain = r#"action.sql.tables.exists(t, t in target.sensitive_tables)"#;
        assert_eq!(checks(plain, &s, &Action::sql("t", "select * from public.customers")), [Some(false)]);
        assert_eq!(checks(plain, &s, &Action::sql("t", "select * from customers")), [Some(true)]);
        // Two different sets, or anything else inside, stays with CEL.
        let mixed = r#"action.sql.tables.exists(t, t in target.sensitive_tables || t in identity.groups)"#;
        assert_eq!(checks(mixed, &s, &Action::sql("t", "select 1")), [None]);
        let other = r#"action.sql.tables.exists(t, t.startsWith("x") || t in target.sensitive_tables)"#;
        assert_eq!(checks(other, &s, &Action::sql("t", "select 1")), [None]);
    }

    #[test]
    fn usage_and_result_counts_natively() {
        let s = session(IdentityKind::Agent);
        let mut a = Action::sql("t", "select 1");
        a.usage.target.h1.rows = 50_001;
        a.usage.identity.d1.masked_values = 7;
        a.result.rows = 10_000;
        let src = r#"usage.target.rows_1h > 50000 && usage.identity.masked_values_1d >= 7 && result.rows > 10000 && (result.bytes > 0 || result.rows >= 10000)"#;
        assert_eq!(checks(src, &s, &a), [Some(true), Some(true), Some(false), Some(true)]);
        // Names that are not counters stay with CEL.
        assert_eq!(checks("usage.target.rows_2h > 1", &s, &a), [None]);
        assert_eq!(checks("usage.deletes >= 5", &s, &a), [None]);
    }

    #[test]
    fn anything_else_is_left_to_cel() {
        let s = session(IdentityKind::Agent);
        let a = Action::sql("t", "select 1");
        assert_eq!(checks(r#"action.nope == "x" && size(action.sql.params) > 2"#, &s, &a), [None, None]);
        assert_eq!(checks("action.kind ==", &s, &a), [None]);
    }
}
