//! The CEL rule engine: named rules, first match wins, errors deny.

use super::guard::{Conjunct, conjuncts};
use super::{Policy, PolicyError, functions, values};
use crate::action::{Action, ActionKind};
use crate::identity::{Identity, IdentityKind};
use crate::session::{Protocol, Session, SessionId, TargetInfo};
use crate::verdict::Verdict;
use cel_interpreter::{Context, Program, Value};
use serde::{Deserialize, Serialize};

/// What a matching rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Then {
    /// Let the action through.
    Allow,
    /// Refuse it.
    #[default]
    Deny,
    /// Hold it for a reviewer.
    Review,
}

/// One named rule, as written in config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name, shown to clients and in recordings.
    pub name: String,
    /// A CEL expression over `session`, `identity`, `target`, `action`, `usage`, `result` and `now`.
    pub when: String,
    /// What to do when `when` is true.
    pub then: Then,
    /// Message shown to the client on deny (defaults to the rule's name).
    #[serde(default)]
    pub reason: Option<String>,
}

impl Rule {
    /// A rule with no custom reason.
    pub fn new(name: &str, when: &str, then: Then) -> Self {
        Rule { name: name.into(), when: when.into(), then, reason: None }
    }
}

struct Compiled {
    rule: Rule,
    /// The whole expression (tried against samples at load).
    program: Program,
    /// The expression's conjuncts in order, each with its own program (and the variables that
    /// program reads) for when it cannot be decided natively.
    conjuncts: Vec<(Conjunct, Program, Vars)>,
    /// The variables the whole expression reads: a rule reading `result` is also asked at
    /// result checkpoints, one reading `usage` is a budget.
    reads: Vars,
    /// The action kind and identity kind a conjunct requires, if any: the rule is skipped
    /// for others without looking further (a third of the default rules are not SQL's).
    requires: (Option<String>, Option<String>),
}

impl Compiled {
    /// Whether the action and identity kinds its requirements name are these (if not, the
    /// rule is false).
    fn applies(&self, session: &Session, action: &Action) -> bool {
        self.requires.0.as_deref().is_none_or(|k| k == action.kind.as_str()) && self.requires.1.as_deref().is_none_or(|k| k == session.identity.kind.as_str())
    }
}

/// The rule variables a program reads: a decision gives the interpreter only those, since
/// building each one (the action above all) is most of what an interpreted rule costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Vars(u8);

impl Vars {
    /// Every variable a rule can read, in bit order.
    const NAMES: [&'static str; 7] = ["session", "identity", "target", "action", "now", "usage", "result"];
    /// `session`, `identity` and `target`: built together from one cached value.
    const SESSION: u8 = 0b111;
    const ACTION: u8 = 0b1000;
    const NOW: u8 = 0b1_0000;
    const USAGE: u8 = 0b10_0000;
    const RESULT: u8 = 0b100_0000;

    fn has(self, bits: u8) -> bool {
        self.0 & bits != 0
    }

    fn of(program: &Program) -> Vars {
        let refs = program.references();
        let mut bits = 0u8;
        for (i, name) in Self::NAMES.iter().enumerate() {
            if refs.has_variable(name) {
                bits |= 1 << i;
            }
        }
        Vars(bits)
    }
}

/// An interpreter context filled in as rules need its variables.
struct LazyContext<'a> {
    ctx: Context<'a>,
    have: Vars,
}

/// A compiled rule set. Build once at load; evaluate from any thread.
pub struct CelPolicy {
    rules: Vec<Compiled>,
    /// Whether a rule may read `usage.tables` (asked on every statement: decided at load).
    usage_tables: bool,
    /// Whether a rule may read `usage.columns`, `usage.detectors` or `usage.sensitive`.
    usage_details: bool,
    /// Whether a rule reads `result` or `usage` (asked on every statement: decided at load).
    watches: bool,
    default: Then,
    root: Context<'static>,
}

impl std::fmt::Debug for CelPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CelPolicy")
            .field("rules", &self.rules.iter().map(|r| &r.rule.name).collect::<Vec<_>>())
            .field("default", &self.default)
            .finish()
    }
}

impl CelPolicy {
    /// Compiles `rules`, then tries each against a sample action of every kind, for a human
    /// and an agent, so that a rule which errors is rejected now rather than denying at run time.
    pub fn new(rules: Vec<Rule>, default: Then) -> Result<Self, PolicyError> {
        let mut seen = std::collections::HashSet::new();
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            if rule.name.trim().is_empty() || !seen.insert(rule.name.clone()) {
                return Err(PolicyError::Name(rule.name));
            }
            // The CEL parser can panic on some malformed input; that is a compile error too.
            let parsed = std::panic::catch_unwind(|| Program::compile(&rule.when));
            let program = match parsed {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => return Err(PolicyError::Compile { rule: rule.name, message: e.to_string() }),
                Err(_) => {
                    return Err(PolicyError::Compile { rule: rule.name, message: "the expression is malformed".into() });
                }
            };
            let mut parts = Vec::new();
            for c in conjuncts(&rule.when) {
                // A conjunct of an expression that compiled compiles on its own; if one somehow
                // does not, the whole expression is evaluated as one conjunct instead.
                match std::panic::catch_unwind(|| Program::compile(&c.source)) {
                    Ok(Ok(p)) => {
                        let vars = Vars::of(&p);
                        parts.push((c, p, vars));
                    }
                    _ => {
                        parts.clear();
                        break;
                    }
                }
            }
            if parts.is_empty()
                && let Ok(p) = Program::compile(&rule.when) {
                    let vars = Vars::of(&p);
                    parts.push((Conjunct::opaque(&rule.when), p, vars));
                }
            let reads = Vars::of(&program);
            let mut requires = (None, None);
            // A conjunct that became the rule's requirement is decided by the prefilter
            // before the rule is looked at: it is not tested again.
            parts.retain(|(c, _, _)| match c.requires() {
                (Some(k), _) if requires.0.is_none() => {
                    requires.0 = Some(k.to_string());
                    false
                }
                (_, Some(k)) if requires.1.is_none() => {
                    requires.1 = Some(k.to_string());
                    false
                }
                _ => true,
            });
            compiled.push(Compiled { rule, program, conjuncts: parts, reads, requires });
        }
        let mut root = Context::default();
        functions::install(&mut root);
        let usage_tables = compiled.iter().any(|r| r.reads.has(Vars::USAGE) && reads_part(&r.rule.when, "usage.tables"));
        let usage_details = compiled.iter().any(|r| {
            r.reads.has(Vars::USAGE) && ["usage.columns", "usage.detectors", "usage.sensitive"].iter().any(|part| reads_part(&r.rule.when, part))
        });
        let watches = compiled.iter().any(|r| r.reads.has(Vars::RESULT | Vars::USAGE));
        let policy = CelPolicy { rules: compiled, usage_tables, usage_details, watches, default, root };
        policy.try_samples()?;
        Ok(policy)
    }

    /// The rule names in evaluation order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.rule.name.as_str())
    }

    fn try_samples(&self) -> Result<(), PolicyError> {
        for kind in [IdentityKind::Agent, IdentityKind::Human] {
            let session = sample_session(kind);
            for action_kind in ActionKind::ALL {
                let action = Action::sample(action_kind);
                for r in &self.rules {
                    // With only the variables the rule reads, as decisions give them.
                    let ctx = self.context(&session, &action, Vars::of(&r.program)).ctx;
                    let err = match run(&r.program, &ctx) {
                        Ok(Value::Bool(_)) => continue,
                        Ok(other) => format!("yields {other:?}, not a boolean"),
                        Err(e) => e,
                    };
                    return Err(PolicyError::Sample {
                        rule: r.rule.name.clone(),
                        kind: action_kind.as_str().into(),
                        message: err,
                    });
                }
            }
        }
        Ok(())
    }

    /// A context holding the variables in `need`.
    fn context<'a>(&'a self, session: &Session, action: &Action, need: Vars) -> LazyContext<'a> {
        let mut lazy = LazyContext { ctx: self.root.new_inner_scope(), have: Vars::default() };
        lazy.add(session, action, need);
        lazy
    }
}

impl LazyContext<'_> {
    /// Adds the variables in `need` that are not there yet.
    fn add(&mut self, session: &Session, action: &Action, need: Vars) {
        let missing = need.0 & !self.have.0;
        if missing & Vars::SESSION != 0 {
            let [s, i, t] = values::session_values(session);
            self.ctx.add_variable_from_value("session", s);
            self.ctx.add_variable_from_value("identity", i);
            self.ctx.add_variable_from_value("target", t);
            self.have.0 |= Vars::SESSION;
        }
        if missing & Vars::ACTION != 0 {
            self.ctx.add_variable_from_value("action", values::action(action));
            self.have.0 |= Vars::ACTION;
        }
        if missing & Vars::USAGE != 0 {
            self.ctx.add_variable_from_value("usage", values::usage(&action.usage));
            self.have.0 |= Vars::USAGE;
        }
        if missing & Vars::RESULT != 0 {
            self.ctx.add_variable_from_value("result", values::result(&action.result));
            self.have.0 |= Vars::RESULT;
        }
        if missing & Vars::NOW != 0 {
            self.ctx.add_variable_from_value("now", Value::Timestamp(chrono::Utc::now().fixed_offset()));
            self.have.0 |= Vars::NOW;
        }
    }
}

impl Policy for CelPolicy {
    fn evaluate(&self, session: &Session, action: &Action) -> Verdict {
        self.first_match(session, action, |_| true).unwrap_or_else(|| self.default_verdict())
    }

    fn evaluate_waiving(&self, session: &Session, action: &Action, waived: &[String]) -> Verdict {
        self.first_match(session, action, |r| !waived.contains(&r.rule.name)).unwrap_or_else(|| self.default_verdict())
    }

    fn evaluate_result(&self, session: &Session, action: &Action, waived: &[String]) -> Verdict {
        // Budgets too: the usage they read grows while results stream (several at once, from
        // pipelined statements or parallel sessions), so they are asked again midway.
        self.first_match(session, action, |r| r.reads.has(Vars::RESULT | Vars::USAGE) && !waived.contains(&r.rule.name)).unwrap_or(Verdict::Allow { rule: None })
    }

    fn watches_results(&self) -> bool {
        self.watches
    }

    fn is_budget_rule(&self, rule: &str) -> bool {
        self.rules.iter().any(|r| r.rule.name == rule && r.reads.has(Vars::USAGE))
    }

    fn reads_usage_tables(&self) -> bool {
        self.usage_tables
    }

    fn reads_usage_details(&self) -> bool {
        self.usage_details
    }
}

/// The fields of `usage` that rules name.
const USAGE_PARTS: [&str; 8] = [
    "usage.identity",
    "usage.target",
    "usage.session_deletes",
    "usage.deletes",
    "usage.tables",
    "usage.columns",
    "usage.detectors",
    "usage.sensitive",
];

/// Whether a rule that reads `usage` may read its field `part` (`usage.tables`, say): yes if
/// it names it, or if some mention of `usage` is none of its fields by name (a rule that
/// reaches `usage` any other way, say by `usage[k]`, counts as reading everything).
fn reads_part(when: &str, part: &str) -> bool {
    if when.contains(part) {
        return true;
    }
    let mut rest = when.to_string();
    for field in USAGE_PARTS {
        rest = rest.replace(field, "");
    }
    rest.contains("usage")
}

impl CelPolicy {
    /// The verdict when no rule holds.
    fn default_verdict(&self) -> Verdict {
        match self.default {
            Then::Allow => Verdict::Allow { rule: None },
            Then::Review => Verdict::Review { rule: "default".into() },
            Then::Deny => Verdict::Deny { rule: "default".into(), reason: "no rule allows this".into() },
        }
    }

    /// The verdict of the first rule among those `asked` whose expression holds, if any.
    fn first_match(&self, session: &Session, action: &Action, asked: impl Fn(&Compiled) -> bool) -> Option<Verdict> {
        let mut ctx = None;
        'rules: for r in self.rules.iter().filter(|r| r.applies(session, action) && asked(r)) {
            // Conjuncts in order, short-circuiting on the first false: simple field tests are
            // decided natively, the rest by the interpreter.
            for (c, program, vars) in &r.conjuncts {
                let value = match c.check(session, action) {
                    Some(v) => Ok(Value::Bool(v)),
                    None => {
                        // Built only once a rule needs the interpreter, with what it reads.
                        let lazy = ctx.get_or_insert_with(|| self.context(session, action, Vars::default()));
                        lazy.add(session, action, *vars);
                        run(program, &lazy.ctx)
                    }
                };
                match value {
                    Ok(Value::Bool(true)) => {}
                    Ok(Value::Bool(false)) => continue 'rules,
                    // Fail closed: a rule that cannot be evaluated refuses the action.
                    Ok(other) => {
                        return Some(Verdict::Deny {
                            rule: r.rule.name.clone(),
                            reason: format!("rule {} yielded {other:?}, not a boolean: it {}", r.rule.name, crate::verdict::POLICY_ERROR),
                        });
                    }
                    Err(e) => {
                        tracing::warn!(rule = %r.rule.name, error = %e, "a rule failed to evaluate; the action is refused");
                        return Some(Verdict::Deny {
                            rule: r.rule.name.clone(),
                            reason: format!("rule {} failed ({e}): it {}", r.rule.name, crate::verdict::POLICY_ERROR),
                        });
                    }
                }
            }
            return Some(verdict_of(&r.rule));
        }
        None
    }
}

/// The verdict of a matching rule.
fn verdict_of(rule: &Rule) -> Verdict {
    let name = rule.name.clone();
    match rule.then {
        Then::Allow => Verdict::Allow { rule: Some(name) },
        Then::Review => Verdict::Review { rule: name },
        Then::Deny => Verdict::Deny {
            reason: rule.reason.clone().unwrap_or_else(|| format!("blocked by rule {name}")),
            rule: name,
        },
    }
}

/// Executes `program`, turning an interpreter panic into an error so that it denies.
fn run(program: &Program, ctx: &Context<'_>) -> Result<Value, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.execute(ctx))) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the interpreter failed".into()),
    }
}

fn sample_session(kind: IdentityKind) -> Session {
    Session {
        id: SessionId("sample".into()),
        identity: Identity::new("sample", kind),
        protocol: Protocol::Postgres,
        target: TargetInfo { name: "sample".into(), ..TargetInfo::default() },
        client_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 5000))),
        started_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-table windows are skipped only for rules that name every `usage` field they read.
    #[test]
    fn rules_that_may_read_usage_tables() {
        let reads_tables = |w: &str| reads_part(w, "usage.tables");
        assert!(!reads_tables("usage.target.rows_1h > 5 && usage.identity.bytes_1d > 1"));
        assert!(!reads_tables("usage.deletes > 2 || usage.session_deletes > 1"));
        assert!(!reads_tables("usage.sensitive.columns_1h > 3 && usage.columns.size() > 0"));
        assert!(reads_tables("usage.tables.exists(t, usage.tables[t].rows_1d > 20000)"));
        assert!(reads_tables(r#"usage["tables"].size() > 0"#));
        assert!(reads_tables("usage.target.rows_1h > 5 && size(usage) > 0"));
        assert!(reads_part("usage.sensitive.columns_1h > 3", "usage.sensitive"));
        assert!(!reads_part("usage.tables.size() > 3", "usage.detectors"));
        let rules = |when: &str| CelPolicy::new(vec![Rule::new("r", when, Then::Review)], Then::Allow).unwrap();
        assert!(!rules("usage.target.rows_1h > 5").reads_usage_tables());
        assert!(rules(r#"usage.tables.exists(t, t == "x")"#).reads_usage_tables());
        assert!(!rules(r#"action.sql.tables.exists(t, t == "x")"#).reads_usage_tables());
        assert!(rules("usage.detectors.exists(d, usage.detectors[d].masked_values_1h > 10)").reads_usage_details());
        assert!(!rules("usage.target.rows_1h > 5").reads_usage_details());
    }

    /// Found by the `config` fuzz target: an unterminated string makes the CEL grammar panic;
    /// loading the rule reports it instead.
    #[test]
    fn a_rule_that_panics_the_grammar_is_refused() {
        let rule = Rule { name: "r".into(), when: r#"action.kind == "sql" && "delete? in action.sql.kinds"#.into(), then: Then::Review, reason: None };
        match CelPolicy::new(vec![rule], Then::Allow) {
            Err(PolicyError::Compile { message, .. }) => assert!(message.contains("malformed"), "{message}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
    use std::sync::Arc;

    fn session(kind: IdentityKind) -> Session {
        sample_session(kind)
    }

    #[test]
    fn first_match_wins_and_default_applies() {
        let p = CelPolicy::new(
            vec![
                Rule::new("allow-select", r#""select" in action.sql.kinds"#, Then::Allow),
                Rule::new("deny-sql", r#"action.kind == "sql""#, Then::Deny),
            ],
            Then::Review,
        )
        .unwrap();
        let s = session(IdentityKind::Agent);
        assert_eq!(p.evaluate(&s, &Action::sql("t", "select 1")), Verdict::Allow { rule: Some("allow-select".into()) });
        assert!(matches!(p.evaluate(&s, &Action::sql("t", "delete from x")), Verdict::Deny { rule, .. } if rule == "deny-sql"));
        assert_eq!(p.evaluate(&s, &Action::shell("t")), Verdict::Review { rule: "default".into() });
    }

    /// Rules whose evaluation of `action` would need the interpreter.
    fn interpreted<'p>(p: &'p CelPolicy, s: &Session, a: &Action) -> Vec<&'p str> {
        let mut out = Vec::new();
        for r in p.rules.iter().filter(|r| r.applies(s, a)) {
            for (c, _, _) in &r.conjuncts {
                match c.check(s, a) {
                    Some(true) => {}
                    Some(false) => break,
                    None => {
                        out.push(r.rule.name.as_str());
                        break;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn default_rules_decide_everyday_statements_natively() {
        // The interpreter needs a context of every field built per evaluation: on the hot path
        // of every statement, that would cost more than the rest of the policy check.
        let p = CelPolicy::new(super::super::defaults::agent_rules(), Then::Allow).unwrap();
        let agent = session(IdentityKind::Agent);
        let mut with_sensitive_tables = agent.clone();
        with_sensitive_tables.target.sensitive_tables = vec!["customers".into()];
        for s in [&agent, &with_sensitive_tables] {
            for sql in ["SELECT abalance FROM pgbench_accounts WHERE aid = 1", "SELECT * FROM public.customers", "UPDATE t SET a = 1 WHERE id = 2", "INSERT INTO t VALUES (1)", "BEGIN"] {
                let a = Action::sql("sample", sql);
                assert_eq!(interpreted(&p, s, &a), Vec::<&str>::new(), "{sql}");
            }
        }
    }

    #[test]
    fn native_decisions_agree_with_the_interpreter() {
        // Every conjunct of the default rules that is decided natively must give what CEL gives.
        let p = CelPolicy::new(super::super::defaults::agent_rules(), Then::Allow).unwrap();
        let mut sessions = vec![session(IdentityKind::Agent), session(IdentityKind::Human)];
        let mut sensitive = session(IdentityKind::Agent);
        sensitive.target.sensitive_tables = vec!["customers".into(), "billing.cards".into()];
        sessions.push(sensitive.clone());
        sensitive.target.sensitive = true;
        sessions.push(sensitive);
        let mut actions: Vec<Action> = ActionKind::ALL.iter().map(|k| Action::sample(*k)).collect();
        for sql in ["select * from customers", "select * from public.customers", "select * from other.cards", "select * from billing.cards", "drop table x", "delete from t", "copy t to stdout", "do $$ begin end $$"] {
            actions.push(Action::sql("sample", sql));
        }
        let mut decided = 0;
        for s in &sessions {
            for a in &actions {
                for r in &p.rules {
                    for (c, program, vars) in &r.conjuncts {
                        if let Some(native) = c.check(s, a) {
                            decided += 1;
                            // With only the variables the conjunct reads, as decisions give them.
                            let ctx = p.context(s, a, *vars).ctx;
                            assert_eq!(run(program, &ctx), Ok(Value::Bool(native)), "{} on {a:?}", c.source);
                        }
                    }
                }
            }
        }
        assert!(decided > 500, "{decided}");
    }

    #[test]
    fn interpreted_rules_get_the_variables_they_read() {
        let vars = |e: &str| Vars::of(&Program::compile(e).unwrap());
        assert_eq!(vars(r#"action.sql.text.matches("x")"#), Vars(0b1000));
        assert_eq!(vars(r#"[1].exists(x, identity.subject == "a") || now > timestamp("2020-01-01T00:00:00Z")"#), Vars(0b1_0010));
        // Each variable is there when a rule needs it, whichever conjunct first needs the
        // interpreter.
        let rules = vec![
            Rule::new("a", r#"action.sql.text.matches("(?i)sleep") && identity.subject.matches("^agent")"#, Then::Deny),
            Rule::new("b", r#"target.name.matches("^db") && session.protocol.matches("postgres") && now > timestamp("2020-01-01T00:00:00Z")"#, Then::Review),
        ];
        let p = CelPolicy::new(rules, Then::Allow).unwrap();
        let mut s = session(IdentityKind::Agent);
        s.identity = Identity::new("agent-7", IdentityKind::Agent);
        s.target.name = "db1".into();
        let v = p.evaluate(&s, &Action::sql("db1", "select pg_sleep(1)"));
        assert!(matches!(&v, Verdict::Deny { rule, .. } if rule == "a"), "{v:?}");
        assert!(matches!(p.evaluate(&s, &Action::sql("db1", "select 1")), Verdict::Review { rule } if rule == "b"));
    }

    #[test]
    fn compile_error_names_rule() {
        let e = CelPolicy::new(vec![Rule::new("broken", "action.kind ==", Then::Deny)], Then::Allow).unwrap_err();
        assert!(matches!(&e, PolicyError::Compile { rule, .. } if rule == "broken"), "{e}");
        assert!(e.to_string().contains("broken"));
    }

    #[test]
    fn rule_that_errors_on_a_sample_is_rejected_at_load() {
        // `action.nope` does not exist on any action: caught at load, not at run time.
        let e = CelPolicy::new(vec![Rule::new("typo", r#"action.nope == "x""#, Then::Deny)], Then::Allow).unwrap_err();
        assert!(matches!(&e, PolicyError::Sample { rule, .. } if rule == "typo"), "{e}");
        // Non-boolean results too.
        let e = CelPolicy::new(vec![Rule::new("num", "1 + 1", Then::Deny)], Then::Allow).unwrap_err();
        assert!(matches!(e, PolicyError::Sample { .. }));
        // Duplicate names.
        let r = Rule::new("a", "true", Then::Allow);
        assert!(matches!(CelPolicy::new(vec![r.clone(), r], Then::Allow), Err(PolicyError::Name(_))));
    }

    #[test]
    fn sql_rule_evaluates_cleanly_on_other_protocols() {
        let p = CelPolicy::new(
            vec![Rule::new("no-drop", r#""drop" in action.sql.kinds && !action.sql.has_where"#, Then::Deny)],
            Then::Allow,
        )
        .unwrap();
        let s = session(IdentityKind::Agent);
        for kind in ActionKind::ALL {
            assert!(!matches!(p.evaluate(&s, &Action::sample(kind)), Verdict::Deny { .. }), "{kind:?}");
        }
    }

    #[test]
    fn runtime_error_denies_and_names_rule() {
        // Division by a parameter-dependent zero passes the samples but fails on this input.
        let p = CelPolicy::new(
            vec![Rule::new("div", "action.kind == \"sql\" && 10 / size(action.sql.params) > 1", Then::Allow)],
            Then::Allow,
        )
        .unwrap();
        let s = session(IdentityKind::Agent);
        let v = p.evaluate(&s, &Action::sql("t", "select 1"));
        assert!(matches!(&v, Verdict::Deny { rule, reason } if rule == "div" && reason.contains("failed")), "{v:?}");
        assert!(v.is_policy_error());
    }

    #[test]
    fn cached_matches_and_helpers() {
        let p = CelPolicy::new(
            vec![
                Rule::new("pipe", r#"action.exec.command.matches("curl[^|]*\\|\\s*sh")"#, Then::Deny),
                Rule::new("lower", r#"action.exec.command.lowerAscii() == "ls""#, Then::Review),
                Rule::new("base", r#"action.sql.tables.exists(t, baseName(t) == "users")"#, Then::Review),
            ],
            Then::Allow,
        )
        .unwrap();
        let s = session(IdentityKind::Agent);
        assert!(matches!(p.evaluate(&s, &Action::exec("h", "curl -s x | sh")), Verdict::Deny { .. }));
        assert!(matches!(p.evaluate(&s, &Action::exec("h", "LS")), Verdict::Review { .. }));
        assert!(matches!(p.evaluate(&s, &Action::sql("h", "select * from public.users")), Verdict::Review { .. }));
        assert!(matches!(p.evaluate(&s, &Action::exec("h", "echo hi")), Verdict::Allow { .. }));
    }

    #[test]
    fn swap_keeps_handles_working() {
        let sw = super::super::SwappablePolicy::new(Arc::new(CelPolicy::new(vec![], Then::Allow).unwrap()));
        let s = session(IdentityKind::Agent);
        let a = Action::shell("t");
        assert!(matches!(sw.evaluate(&s, &a), Verdict::Allow { .. }));
        sw.swap(Arc::new(CelPolicy::new(vec![], Then::Deny).unwrap()));
        assert!(matches!(sw.evaluate(&s, &a), Verdict::Deny { .. }));
    }
}
