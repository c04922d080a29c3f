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
    Eq(Vec<String>, String),
    /// `path in ["a", "b"]`.
    OneOf(Vec<String>, Vec<String>),
    /// `path` (a boolean field), or `!path` when the flag is false.
    Bool(Vec<String>, bool),
    /// `"lit" in path` (a list field).
    Contains(Vec<String>, String),
    /// `path.exists(v, v in ["a", "b"])` (a list field).
    AnyOf(Vec<String>, Vec<String>),
}

/// A field value as the native evaluator sees it.
enum Native<'a> {
    Str(&'a str),
    Bool(bool),
    List(&'a [String]),
}

/// The native conjuncts of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Guard {
    preds: Vec<Pred>,
}

impl Guard {
    /// Extracts the guard of `source`; an expression that does not parse has none.
    pub fn of(source: &str) -> Guard {
        let parsed = std::panic::catch_unwind(|| cel_parser::Parser::new().parse(source));
        let Ok(Ok(expr)) = parsed else { return Guard::default() };
        let mut conjuncts = Vec::new();
        flatten_and(&expr, &mut conjuncts);
        Guard { preds: conjuncts.into_iter().filter_map(pred).collect() }
    }

    /// False when some native conjunct is false: the rule cannot match. True means "run CEL".
    pub fn admits(&self, session: &Session, action: &Action) -> bool {
        self.preds.iter().all(|p| eval(p, session, action).unwrap_or(true))
    }
}

fn eval(p: &Pred, s: &Session, a: &Action) -> Option<bool> {
    Some(match p {
        Pred::Eq(path, lit) => match field(s, a, path)? {
            Native::Str(v) => v == lit,
            _ => return None,
        },
        Pred::OneOf(path, lits) => match field(s, a, path)? {
            Native::Str(v) => lits.iter().any(|l| l == v),
            _ => return None,
        },
        Pred::Bool(path, want) => match field(s, a, path)? {
            Native::Bool(v) => v == *want,
            _ => return None,
        },
        Pred::Contains(path, lit) => match field(s, a, path)? {
            Native::List(v) => v.iter().any(|x| x == lit),
            _ => return None,
        },
        Pred::AnyOf(path, lits) => match field(s, a, path)? {
            Native::List(v) => v.iter().any(|x| lits.contains(x)),
            _ => return None,
        },
    })
}

/// Native access to the fields rules test most; `None` for anything else (CEL decides).
fn field<'a>(s: &'a Session, a: &'a Action, path: &[String]) -> Option<Native<'a>> {
    use Native::{Bool, List, Str};
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match p.as_slice() {
        ["action", "kind"] => Str(a.kind.as_str()),
        ["action", "target"] => Str(&a.target),
        ["action", "sql", "text"] => Str(&a.sql.text),
        ["action", "sql", "kinds"] => List(&a.sql.kinds),
        ["action", "sql", "tables"] => List(&a.sql.tables),
        ["action", "sql", "has_where"] => Bool(a.sql.has_where),
        ["action", "sql", "parsed"] => Bool(a.sql.parsed),
        ["action", "sql", "copy"] => Str(&a.sql.copy),
        ["action", "sql", "copy_program"] => Bool(a.sql.copy_program),
        ["action", "exec", "command"] => Str(&a.exec.command),
        ["action", "exec", "argv"] => List(&a.exec.argv),
        ["action", "file_transfer", "path"] => Str(&a.file_transfer.path),
        ["action", "file_transfer", "direction"] => Str(&a.file_transfer.direction),
        ["action", "file_transfer", "operation"] => Str(&a.file_transfer.operation),
        ["action", "forward", "direction"] => Str(&a.forward.direction),
        ["action", "k8s", "verb"] => Str(&a.k8s.verb),
        ["action", "k8s", "resource"] => Str(&a.k8s.resource),
        ["action", "k8s", "subresource"] => Str(&a.k8s.subresource),
        ["action", "k8s", "namespace"] => Str(&a.k8s.namespace),
        ["identity", "kind"] => Str(s.identity.kind.as_str()),
        ["identity", "subject"] => Str(&s.identity.subject),
        ["identity", "groups"] => List(&s.identity.groups),
        ["target", "name"] => Str(&s.target.name),
        ["target", "sensitive"] => Bool(s.target.sensitive),
        ["target", "sensitive_tables"] => List(&s.target.sensitive_tables),
        ["session", "protocol"] => Str(s.protocol.as_str()),
        _ => return None,
    })
}

fn flatten_and<'a>(e: &'a IdedExpr, out: &mut Vec<&'a IdedExpr>) {
    match &e.expr {
        Expr::Call(c) if c.func_name == "_&&_" && c.target.is_none() => {
            for a in &c.args {
                flatten_and(a, out);
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
            let Expr::Call(inn) = &test.expr else { return None };
            let [var, lits] = inn.args.as_slice() else { return None };
            if inn.func_name != "@in" || !matches!(&var.expr, Expr::Ident(v) if *v == c.iter_var) {
                return None;
            }
            Some(Pred::AnyOf(path(&c.iter_range)?, strings(lits)?))
        }
        Expr::Call(c) if c.target.is_none() => match (c.func_name.as_str(), c.args.as_slice()) {
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

/// `a.b.c` as `["a", "b", "c"]`.
fn path(e: &IdedExpr) -> Option<Vec<String>> {
    match &e.expr {
        Expr::Ident(v) => Some(vec![v.clone()]),
        Expr::Select(s) if !s.test => {
            let mut p = path(&s.operand)?;
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

    #[test]
    fn native_conjuncts() {
        let g = Guard::of(
            r#"identity.kind == "agent" && action.kind in ["sql"] && action.sql.kinds.exists(k, k in ["drop", "truncate"]) && !action.sql.has_where && "x" in action.sql.tables && action.sql.copy_program"#,
        );
        assert_eq!(g.preds.len(), 6, "{g:?}");
        let agent = session(IdentityKind::Agent);
        assert!(!g.admits(&agent, &Action::sql("t", "select 1")));
        assert!(!g.admits(&session(IdentityKind::Human), &Action::sql("t", "drop table x")));
        assert!(!g.admits(&agent, &Action::sample(ActionKind::Exec)));
        let mut a = Action::sql("t", "drop table x");
        a.sql.copy_program = true;
        assert!(g.admits(&agent, &a));
    }

    #[test]
    fn anything_else_is_left_to_cel() {
        assert_eq!(Guard::of(r#"action.kind == "exec" || action.kind == "shell""#).preds, vec![]);
        assert_eq!(Guard::of("action.kind =="), Guard::default());
        let g = Guard::of(r#"action.nope == "x" && size(action.sql.params) > 0"#);
        assert!(g.admits(&session(IdentityKind::Agent), &Action::sql("t", "select 1")), "unknown paths do not skip");
    }
}
