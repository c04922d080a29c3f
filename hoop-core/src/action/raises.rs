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

use super::growth::{GROWING, literal_int, literal_text, may_overflow, row_may_overflow};
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
    /// The values of key and value pairs: a key fails when it is NULL, unless it is a string
    /// literal (`json_build_object('email', email)`).
    Values,
}

/// Functions known not to fail on some argument values of their types, and which arguments.
/// (Not `string_agg` and the other aggregates that build one value of every row: a join with
/// `generate_series(1, 50000000)` multiplies a masked value's length past 1 GB. Nor `sum` and
/// `avg`: over `float8` or `interval` they overflow, and whether they do can hang on the order
/// of the rows, which `ORDER BY` inside the call sets: PG red-team round 114.)
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
    // (Compatibility round 4: an ORM's `json_build_object('id', id, 'email', email)` was held,
    // while `row_to_json` of the same came back masked.)
    ("json_build_object", Safe::Values),
    ("jsonb_build_object", Safe::Values),
    ("json_build_array", Safe::All),
    ("jsonb_build_array", Safe::All),
];

/// Operators that cannot fail on any values of their operands' types.
const OPERATORS: &[&str] = &["=", "<>", "!=", "<", ">", "<=", ">=", "||", "->", "->>", "#>", "#>>", "@>", "<@", "?", "?|", "?&"];

/// Pattern matches: a pattern that does not compile fails, the text matched never does.
const PATTERN_OPERATORS: &[&str] = &["~", "~*", "!~", "!~*", "~~", "~~*", "!~~", "!~~*"];

/// The operands of the node `kind` (body `n`) whose values may make it fail: what they read
/// chooses whether the statement fails.
pub(crate) fn failing_operands<'a>(kind: &str, n: &'a Value) -> Vec<&'a Value> {
    match kind {
        "FuncCall" => {
            let name = arr(n, "funcname").filter_map(sval).last().unwrap_or_default().to_ascii_lowercase();
            let args: Vec<&Value> = arr(n, "args").collect();
            // Past 1 GB the result fails (see `growth`).
            if GROWING.contains(&name.as_str()) && may_overflow(kind, n) {
                return args;
            }
            // A width from an argument (`format('%*s', salary, '')`) pads to that many
            // characters: past 1 GB it fails, so a masked number chooses. And `%I` fails on a
            // NULL, which a subscript or a key chooses (PG red-team round 116:
            // `format('%I', ('[97:97]={x}'::text[])[ascii(email)])`).
            if name == "format" && args.first().and_then(|f| literal_text(f)).is_none_or(|f| f.contains('*') || quotes_identifier(f)) {
                return args;
            }
            let safe = FUNCTIONS.iter().find(|(f, _)| *f == name).map(|(_, s)| *s);
            let risky: Vec<&Value> = match safe {
                Some(Safe::All) => Vec::new(),
                Some(Safe::First) => args.iter().enumerate().skip(1).filter(|(i, a)| !safe_literal(&name, *i, a)).map(|(_, a)| *a).collect(),
                Some(Safe::AllButFirst) => args.iter().enumerate().take(1).filter(|(i, a)| !safe_literal(&name, *i, a)).map(|(_, a)| *a).collect(),
                Some(Safe::Values) => args.iter().step_by(2).filter(|a| literal_text(a).is_none()).copied().collect(),
                None => args.clone(),
            };
            // A strict function is not called on a NULL argument, so where it may fail, every
            // argument decides whether it does (PG red-team round 115: `substr(nullif(email,
            // 'a'), 1, -1)` failed unless the email began with `a`).
            let mut out = if risky.is_empty() || NOT_STRICT.contains(&name.as_str()) { risky } else { args.clone() };
            // An aggregate's FILTER decides whether its arguments are evaluated for a row, and its
            // ORDER BY the order it takes them in (`sum(x ORDER BY k)` overflows or not). An
            // argument that is more than a column or a literal may fail: asked of its own node
            // only, since asking `may_fail` here, at every node, walked nested calls
            // exponentially often.
            if !out.is_empty() || !args.iter().all(|a| plain(a)) {
                out.extend(["agg_filter", "agg_order"].iter().filter_map(|k| n.get(*k)).filter(|v| !v.is_null()));
            }
            out
        }
        "AExpr" => {
            let k = n.get("kind").and_then(Value::as_i64).unwrap_or(0);
            let op = arr(n, "name").filter_map(sval).last().unwrap_or_default();
            let (l, r) = (n.get("lexpr").filter(|v| !v.is_null()), n.get("rexpr").filter(|v| !v.is_null()));
            let operator = [AExprKind::AexprOp, AExprKind::AexprOpAny, AExprKind::AexprOpAll].iter().any(|x| *x as i64 == k);
            let pattern = [AExprKind::AexprLike, AExprKind::AexprIlike, AExprKind::AexprSimilar].iter().any(|x| *x as i64 == k);
            let both = || l.into_iter().chain(r).collect::<Vec<_>>();
            // The operands of a comparison, or the list of `IN`/`BETWEEN`, as values.
            let listed: Vec<&Value> = r.and_then(|r| r.get("node").unwrap_or(r).get("List").and_then(|l| l.get("items")).and_then(Value::as_array)).map(|a| a.iter().collect()).unwrap_or_default();
            let values: Vec<&Value> = l.into_iter().chain(if listed.is_empty() { r.into_iter().collect() } else { listed.clone() }).collect();
            if (operator && PATTERN_OPERATORS.contains(&op)) || pattern {
                // (Operators are strict: a NULL text skips a pattern that would fail, so the
                // text chooses too, unless the pattern cannot fail.)
                let safe = r.and_then(|r| literal_text(r)).is_some_and(|p| if pattern || op.contains("~~") { !p.ends_with('\\') } else { simple_pattern(p) });
                if safe { Vec::new() } else { both() }
            } else if operator && (!OPERATORS.contains(&op) || (op == "||" && may_overflow(kind, n))) {
                both()
            } else if values.iter().any(|v| compound(v)) {
                // Rows (and arrays of them, and subqueries' rows) compare column by column and
                // stop at the first that differs: a later column that cannot be compared fails
                // only when the earlier ones are equal (round 115: `row(substr(email, 1, 1),
                // '1'::json) = row('a', '1'::json)`).
                values
            } else if !listed.is_empty() && !listed.iter().all(|v| plain(v)) {
                // `x IN (a, b)` is `x = a OR x = b` and `BETWEEN` two comparisons joined by AND:
                // a later element runs only as the earlier comparisons decide.
                values
            } else {
                Vec::new()
            }
        }
        // `ARRAY(SELECT …)` builds one value of every row: over `generate_series(1, 50000000)`
        // a masked value's length passes 1 GB. `x = ANY (SELECT …)`, `IN`, `ALL` and row
        // comparisons with a subquery read its rows one by one and stop at the first that
        // decides: a later row that fails runs only as `x` says (round 115).
        "SubLink" => {
            use pg_query::protobuf::SubLinkType as L;
            let t = n.get("sub_link_type").and_then(Value::as_i64).unwrap_or(0);
            if t == L::ArraySublink as i64 {
                n.get("subselect").into_iter().collect()
            } else if [L::AnySublink, L::AllSublink, L::RowcompareSublink].iter().any(|x| *x as i64 == t) {
                ["testexpr", "subselect"].iter().filter_map(|k| n.get(*k)).filter(|v| !v.is_null()).collect()
            } else {
                Vec::new()
            }
        }
        // `greatest` and `least` compare their arguments: rows column by column (see above).
        "MinMaxExpr" => {
            let args: Vec<&Value> = arr(n, "args").collect();
            if args.iter().any(|a| compound(a)) { args } else { Vec::new() }
        }
        // A subscript or a slice picks an element (or none: NULL) by its index, as a CASE
        // would: what follows may fail on one and not another (PG red-team round 116: a row
        // with a `json` column compared, a `json[]` slice compared or joined, `format('%I')` of
        // the NULL past the bounds).
        "AIndirection" => arr(n, "indirection")
            .filter_map(|i| i.get("node").unwrap_or(i).get("AIndices"))
            .flat_map(|i| ["lidx", "uidx"].into_iter().filter_map(|k| i.get(k)).filter(|v| !v.is_null()))
            .collect(),
        // One value built of parts fails past 1 GB.
        "AArrayExpr" | "RowExpr" if may_overflow(kind, n) => arr(n, if kind == "RowExpr" { "args" } else { "elements" }).collect(),
        "SelectStmt" | "UpdateStmt" | "returning_clause" => row_may_overflow(kind, n),
        "TypeCast" => {
            // A cast to a text type cannot fail (to `varchar(n)` it cuts): named bare or in
            // `pg_catalog`. A type of that name in another schema is the agent's (PG red-team
            // round 113: a domain `public.text` whose CHECK failed on the value), and agents may
            // not give one a built-in text type's name (`sql::SHADOWING_NAME`).
            let t = n.get("type_name");
            let names: Vec<String> = t.map(|t| arr(t, "names").filter_map(sval).map(str::to_ascii_lowercase).collect()).unwrap_or_default();
            let to = match names.as_slice() {
                [t] => t.as_str(),
                [schema, t] if schema == "pg_catalog" => t.as_str(),
                _ => "",
            };
            // To an array of text: an array's elements become text, a text is parsed as one.
            let array = t.is_some_and(|t| arr(t, "array_bounds").next().is_some());
            let arg = n.get("arg");
            let an_array = arg.map(|a| a.get("node").unwrap_or(a)).is_some_and(|a| {
                a.get("AArrayExpr").is_some()
                    || a.get("SubLink").is_some_and(|l| l.get("sub_link_type").and_then(Value::as_i64) == Some(pg_query::protobuf::SubLinkType::ArraySublink as i64))
            });
            if super::sql::TEXT_TYPE_NAMES.contains(&to) && (!array || an_array) { Vec::new() } else { arg.into_iter().collect() }
        }
        _ => Vec::new(),
    }
}

/// Whether the node `kind` (body `n`) may build a value near 1 GB from a small text: `repeat`,
/// `lpad`/`rpad` to a width, `array_fill`, unless their count is an integer literal of at
/// most a million. Beside a masked value in any value built from both (an array, a JSON
/// document, a row, text), it is a size a masked value tips past 1 GB
/// (`array_to_json(ARRAY[email, repeat('x', 1073741800)])`), so a statement holding one
/// chooses by every masked value it reads.
pub(crate) fn amplifies(kind: &str, n: &Value) -> bool {
    if kind != "FuncCall" {
        return false;
    }
    let name = arr(n, "funcname").filter_map(sval).last().unwrap_or_default().to_ascii_lowercase();
    let count = match name.as_str() {
        "repeat" | "lpad" | "rpad" => arr(n, "args").nth(1),
        "array_fill" => return true,
        _ => return false,
    };
    count.and_then(literal_int).is_none_or(|v| v > 1_000_000)
}

/// Functions on the list that are called on NULL arguments too (see `failing_operands`).
const NOT_STRICT: &[&str] = &["concat", "concat_ws", "format", "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array"];

/// Field names `date_trunc`, `date_part` and `extract` know.
const DATE_FIELDS: &[&str] = &[
    "microsecond", "microseconds", "millisecond", "milliseconds", "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks",
    "month", "months", "quarter", "year", "years", "decade", "century", "millennium", "epoch", "dow", "doy", "isodow", "isoyear", "julian", "timezone",
    "timezone_hour", "timezone_minute",
];

/// Whether argument `i` of `name` (of those a function's entry in [`FUNCTIONS`] leaves to
/// check) is a literal with which the function cannot fail: `substr(x, 1, 3)`, not
/// `substr(x, 1, -1)`; `split_part(x, '@', 2)`, not `… 0)`; a pattern that compiles.
fn safe_literal(name: &str, i: usize, v: &Value) -> bool {
    let int = literal_int(v);
    let text = literal_text(v);
    match (name, i) {
        ("substr" | "substring", 1) => int.is_some(),
        ("substr" | "substring", 2) => int.is_some_and(|n| n >= 0),
        ("lpad" | "rpad", 1) => int.is_some_and(|n| (0..=1_000_000).contains(&n)),
        ("lpad" | "rpad", 2) | ("split_part", 1) | ("to_char", 1) => text.is_some(),
        ("split_part", 2) => int.is_some_and(|n| n != 0),
        ("overlay", 1) => text.is_some(),
        ("overlay", 2) => int.is_some_and(|n| n >= 1),
        ("overlay", 3) => int.is_some_and(|n| n >= 0),
        ("round" | "trunc", 1) => int.is_some_and(|n| n.abs() <= 1000),
        ("encode", 1) => text.is_some_and(|t| matches!(t.to_ascii_lowercase().as_str(), "base64" | "hex" | "escape")),
        ("date_trunc" | "date_part" | "extract", 0) => text.is_some_and(|t| DATE_FIELDS.contains(&t.to_ascii_lowercase().as_str())),
        ("format", 0) => text.is_some_and(|t| !t.contains('*')),
        ("regexp_replace" | "regexp_match" | "regexp_like" | "regexp_count", 1) => text.is_some_and(simple_pattern),
        ("regexp_replace", 2) => text.is_some(),
        ("regexp_replace" | "regexp_match" | "regexp_like", 3) | ("regexp_match" | "regexp_like", 2) => text.is_some_and(|f| f.chars().all(|c| "gimnpqswx".contains(c))),
        _ => false,
    }
}

/// Whether a regular expression is of the few forms known to compile: letters, digits and
/// plain punctuation, `.`, a quantifier after one of those, `^` first and `$` last.
fn simple_pattern(p: &str) -> bool {
    let body = p.strip_prefix('^').unwrap_or(p);
    let body = body.strip_suffix('$').unwrap_or(body);
    let mut quantifiable = false;
    for c in body.chars() {
        if c.is_ascii_alphanumeric() || " _@%,:/=-.".contains(c) {
            quantifiable = true;
        } else if "*+?".contains(c) && quantifiable {
            quantifiable = false;
        } else {
            return false;
        }
    }
    true
}

/// Whether a `format` string has a `%I` conversion (`%I`, `%2$I`, `%-10I`): it fails on a NULL.
fn quotes_identifier(fmt: &str) -> bool {
    fmt.split('%').skip(1).any(|spec| spec.trim_start_matches(|c: char| c.is_ascii_digit() || matches!(c, '$' | '-' | '*')).starts_with('I'))
}

/// Whether `v` is a column, a literal or a parameter: nothing that runs when evaluated.
fn plain(v: &Value) -> bool {
    let v = v.get("node").unwrap_or(v);
    let v = v.get("TypeCast").and_then(|t| t.get("arg")).map_or(v, |a| a.get("node").unwrap_or(a));
    v.as_object().and_then(|o| o.keys().next()).is_some_and(|k| matches!(k.as_str(), "ColumnRef" | "AConst" | "ParamRef"))
}

/// Whether `v` is a row, an array, or a subquery (which may yield a row): values compared
/// part by part.
fn compound(v: &Value) -> bool {
    let v = v.get("node").unwrap_or(v);
    let v = v.get("TypeCast").or_else(|| v.get("CollateClause")).and_then(|t| t.get("arg")).map_or(v, |a| a.get("node").unwrap_or(a));
    match v.as_object().and_then(|o| o.iter().next()) {
        Some((k, _)) if k == "RowExpr" || k == "SubLink" => true,
        // (An array of scalars is built whole before any comparison.)
        Some((k, a)) if k == "AArrayExpr" => arr(a, "elements").any(compound),
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

