//! Which parts of an expression may make it fail at run time depending on their values: a
//! division, arithmetic that overflows, a cast to a type that parses text, a pattern that does
//! not compile, most functions.
//!
//! Whether a statement fails is a bit its client sees whatever masking does to the values:
//! `SELECT 1/(ascii(email) - 97)` fails only when the first letter is `a` (red-team PG round
//! 112), and `CASE WHEN email LIKE 'a%' THEN 1/(id - id) END` fails only when the condition
//! holds. So where a masked value decides whether an expression fails, the statement chooses
//! by that value, as a WHERE clause does ([`super::lineage`] counts such operands as filters).
//! A function or operator not listed here as unable to fail is taken as able to (fail closed).

use super::lineage::{arr, sval};
use pg_query::protobuf::AExprKind;
use serde_json::Value;

/// Which arguments of a function cannot make it fail, whatever their values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Safe {
    /// None of them (`lower(x)`, `count(x)`).
    All,
    /// The first (`substr(x, 1, n)` fails for a negative `n`, never for any `x`).
    First,
    /// All but the first (`date_trunc(unit, ts)`, `format(fmt, …)`).
    AllButFirst,
}

/// Functions known not to fail on some argument values of their types, and which arguments.
const FUNCTIONS: &[(&str, Safe)] = &[
    ("lower", Safe::All),
    ("upper", Safe::All),
    ("initcap", Safe::All),
    ("length", Safe::All),
    ("char_length", Safe::All),
    ("character_length", Safe::All),
    ("octet_length", Safe::All),
    ("bit_length", Safe::All),
    ("md5", Safe::All),
    ("sha224", Safe::All),
    ("sha256", Safe::All),
    ("sha384", Safe::All),
    ("sha512", Safe::All),
    ("concat", Safe::All),
    ("concat_ws", Safe::All),
    ("reverse", Safe::All),
    ("btrim", Safe::All),
    ("ltrim", Safe::All),
    ("rtrim", Safe::All),
    ("ascii", Safe::All),
    ("strpos", Safe::All),
    ("position", Safe::All),
    ("starts_with", Safe::All),
    ("replace", Safe::All),
    ("translate", Safe::All),
    ("left", Safe::All),
    ("right", Safe::All),
    ("quote_literal", Safe::All),
    ("quote_ident", Safe::All),
    ("quote_nullable", Safe::All),
    ("to_hex", Safe::All),
    ("to_json", Safe::All),
    ("to_jsonb", Safe::All),
    ("row_to_json", Safe::All),
    ("array_to_json", Safe::All),
    ("array_to_string", Safe::All),
    ("sign", Safe::All),
    // (Given the column of that name as an argument where an older server reads one: see
    // `versions.rs`.)
    ("system_user", Safe::All),
    ("array_length", Safe::All),
    ("cardinality", Safe::All),
    ("jsonb_typeof", Safe::All),
    ("json_typeof", Safe::All),
    ("floor", Safe::All),
    ("ceil", Safe::All),
    ("ceiling", Safe::All),
    ("count", Safe::All),
    ("min", Safe::All),
    ("max", Safe::All),
    ("sum", Safe::All),
    ("avg", Safe::All),
    ("string_agg", Safe::All),
    ("array_agg", Safe::All),
    ("json_agg", Safe::All),
    ("jsonb_agg", Safe::All),
    ("bool_and", Safe::All),
    ("bool_or", Safe::All),
    ("every", Safe::All),
    ("substr", Safe::First),
    ("substring", Safe::First),
    ("overlay", Safe::First),
    ("lpad", Safe::First),
    ("rpad", Safe::First),
    ("split_part", Safe::First),
    ("regexp_replace", Safe::First),
    ("regexp_match", Safe::First),
    ("regexp_like", Safe::First),
    ("regexp_count", Safe::First),
    ("to_char", Safe::First),
    ("round", Safe::First),
    ("trunc", Safe::First),
    ("encode", Safe::First),
    ("date_trunc", Safe::AllButFirst),
    ("date_part", Safe::AllButFirst),
    ("extract", Safe::AllButFirst),
    ("format", Safe::AllButFirst),
];

/// Functions whose text result grows with their arguments: past 1 GB the server fails, so a
/// masked value's length (or its count of a letter `replace` multiplies) decides whether
/// `concat(email, repeat('x', 1073741800))` fails. They cannot fail only when every argument is
/// bounded (see [`bounded`]).
const GROWING: &[&str] = &["concat", "concat_ws", "replace", "overlay", "format", "lpad", "rpad"];

/// Operators that cannot fail on any values of their operands' types.
const OPERATORS: &[&str] = &["=", "<>", "!=", "<", ">", "<=", ">=", "||", "->", "->>", "#>", "#>>", "@>", "<@", "?", "?|", "?&"];

/// Pattern matches: a pattern that does not compile fails, the text matched never does.
const PATTERN_OPERATORS: &[&str] = &["~", "~*", "!~", "!~*", "~~", "~~*", "!~~", "!~~*"];

/// Types a cast to which cannot fail: text (a cast to `varchar(n)` cuts, it does not fail).
const TEXT_TYPES: &[&str] = &["text", "varchar", "bpchar", "char", "name"];

/// The operands of the node `kind` (body `n`) whose values may make it fail: what they read
/// chooses whether the statement fails.
pub(crate) fn failing_operands<'a>(kind: &str, n: &'a Value) -> Vec<&'a Value> {
    match kind {
        "FuncCall" => {
            let name = arr(n, "funcname").filter_map(sval).last().unwrap_or_default().to_ascii_lowercase();
            let args: Vec<&Value> = arr(n, "args").collect();
            if GROWING.contains(&name.as_str()) && !args.iter().all(|a| bounded(a, 0)) {
                return args;
            }
            let mut out: Vec<&Value> = match FUNCTIONS.iter().find(|(f, _)| *f == name).map(|(_, s)| *s) {
                Some(Safe::All) => Vec::new(),
                Some(Safe::First) => args.iter().skip(1).copied().collect(),
                Some(Safe::AllButFirst) => args.iter().take(1).copied().collect(),
                None => args.clone(),
            };
            // An aggregate's FILTER decides whether its arguments are evaluated for a row.
            if args.iter().any(|a| may_fail(a))
                && let Some(f) = n.get("agg_filter").filter(|f| !f.is_null())
            {
                out.push(f);
            }
            out
        }
        "AExpr" => {
            let k = n.get("kind").and_then(Value::as_i64).unwrap_or(0);
            let op = arr(n, "name").filter_map(sval).last().unwrap_or_default();
            let (l, r) = (n.get("lexpr").filter(|v| !v.is_null()), n.get("rexpr").filter(|v| !v.is_null()));
            let operator = [AExprKind::AexprOp, AExprKind::AexprOpAny, AExprKind::AexprOpAll].iter().any(|x| *x as i64 == k);
            let pattern = [AExprKind::AexprLike, AExprKind::AexprIlike, AExprKind::AexprSimilar].iter().any(|x| *x as i64 == k);
            if (operator && PATTERN_OPERATORS.contains(&op)) || pattern {
                r.into_iter().collect()
            } else if operator && (!OPERATORS.contains(&op) || (op == "||" && !(l.is_none_or(|l| bounded(l, 0)) && r.is_none_or(|r| bounded(r, 0))))) {
                l.into_iter().chain(r).collect()
            } else {
                Vec::new()
            }
        }
        "TypeCast" => {
            let t = n.get("type_name");
            let to = t.map(|t| arr(t, "names").filter_map(sval).last().unwrap_or_default().to_ascii_lowercase()).unwrap_or_default();
            // To an array of text: an array's elements become text, a text is parsed as one.
            let array = t.is_some_and(|t| arr(t, "array_bounds").next().is_some());
            let arg = n.get("arg");
            let an_array = arg.map(|a| a.get("node").unwrap_or(a)).is_some_and(|a| {
                a.get("AArrayExpr").is_some()
                    || a.get("SubLink").is_some_and(|l| l.get("sub_link_type").and_then(Value::as_i64) == Some(pg_query::protobuf::SubLinkType::ArraySublink as i64))
            });
            if TEXT_TYPES.contains(&to.as_str()) && (!array || an_array) { Vec::new() } else { arg.into_iter().collect() }
        }
        _ => Vec::new(),
    }
}

/// Whether `v` is bounded in size by what the statement's text and the columns it reads hold: a
/// literal, a column, text functions over such that do not multiply it (`replace` does: each
/// match becomes the replacement, so two nested ones square a literal). A parameter (up to 1 GB
/// from the client), a `repeat`, a subquery are not. (A column of a table the agent filled with
/// a value near 1 GB is read as bounded: see docs/masking.md.)
fn bounded(v: &Value, depth: usize) -> bool {
    const KEEPING: &[&str] = &["lower", "upper", "initcap", "btrim", "ltrim", "rtrim", "substr", "substring", "left", "right", "reverse", "translate", "concat", "concat_ws", "split_part"];
    // Whatever their arguments, a few bytes.
    const SMALL: &[&str] = &["md5", "sha224", "sha256", "sha384", "sha512", "length", "char_length", "character_length", "octet_length", "bit_length", "ascii", "to_hex", "strpos", "position", "starts_with", "sign", "count"];
    if depth > 100 {
        return false;
    }
    let Some((kind, n)) = v.get("node").unwrap_or(v).as_object().and_then(|o| o.iter().next()) else { return false };
    match kind.as_str() {
        "AConst" | "ColumnRef" => true,
        "TypeCast" | "CollateClause" => n.get("arg").is_some_and(|a| bounded(a, depth + 1)),
        "AExpr" => arr(n, "name").filter_map(sval).last() == Some("||") && ["lexpr", "rexpr"].iter().all(|k| n.get(*k).is_none_or(|x| x.is_null() || bounded(x, depth + 1))),
        "FuncCall" => {
            let name = arr(n, "funcname").filter_map(sval).last().unwrap_or_default().to_ascii_lowercase();
            SMALL.contains(&name.as_str()) || (KEEPING.contains(&name.as_str()) && arr(n, "args").all(|a| bounded(a, depth + 1)))
        }
        _ => false,
    }
}

/// Whether evaluating `v` may fail on some values: it holds a node with an operand that may
/// make it fail, or a function not known never to fail.
pub(crate) fn may_fail(v: &Value) -> bool {
    fn walk(v: &Value, depth: usize) -> bool {
        if depth > 1000 {
            return true;
        }
        match v {
            Value::Object(o) => {
                for (k, n) in o {
                    let listed = k != "FuncCall" || {
                        let name = arr(n, "funcname").filter_map(sval).last().unwrap_or_default().to_ascii_lowercase();
                        FUNCTIONS.iter().any(|(f, s)| *f == name && *s == Safe::All)
                    };
                    if !listed || !failing_operands(k, n).is_empty() {
                        return true;
                    }
                }
                o.values().any(|x| walk(x, depth + 1))
            }
            Value::Array(a) => a.iter().any(|x| walk(x, depth + 1)),
            _ => false,
        }
    }
    walk(v, 0)
}

