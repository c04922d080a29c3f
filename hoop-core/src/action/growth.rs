//! How large a value may grow: the size oracle.
//!
//! The server fails to build a text, a row it sends or a tuple it sorts past 1 GB, and a
//! `jsonb` string past 256 MB. A statement that builds a value near that size from its own
//! text, with a masked value's length (or its count of some letter) added, fails or not as
//! that value says: `concat(<a value of 1 GB less 20 bytes>, translate(substr(email, 1, 1),
//! 'abc', ''))` fails unless the first letter is one of `abc` (PG red-team rounds 114-116).
//!
//! [`may_overflow`] bounds a value's size: a column or a literal of up to a mebibyte weighs a
//! mebibyte, a longer literal a mebibyte per mebibyte begun, and each function or operator
//! multiplies or adds as it may. A value (or a row) that may pass [`MAX_GROWTH`] is one a
//! masked value of a few bytes could tip over; below it, the masked value would itself have to
//! be a mebibyte long. A bind parameter weighs the largest client message the listener takes.
//! `None` is unbounded: an aggregate over rows, a function not listed here (for a row, only
//! those that multiply).
//! [`builds_large`] sees a statement build 64 MiB or more from its own text, which a CTE or a
//! subquery would hide from the rest: such a statement chooses by every masked value it reads.
//! (A column of a table the agent filled with a value near 1 GB, or one a subquery joins from
//! many rows, weighs a mebibyte all the same: see docs/masking.md.)

use super::lineage::{arr, sval};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest a bind parameter may be: the largest client message a listener of this process
/// accepts (`limits.max_message_bytes`, 64 MiB by default). Only grows: several listeners with
/// their own limits share the analyses, which keep the largest.
static PARAMETER_BOUND: AtomicU64 = AtomicU64::new(64 << 20);

/// Takes a listener's largest client message as a bound of the parameters it may bind.
pub(crate) fn bound_parameters(bytes: u64) {
    PARAMETER_BOUND.fetch_max(bytes, Ordering::Relaxed);
}

/// The largest message from the server a listener of this process passes on
/// (`limits.max_server_message_bytes`, 16 MiB by default): past it, the statement fails at the
/// gateway, so a row near it is one a masked value's few bytes could tip over (PG red-team
/// round 121). Only shrinks: the tightest listener decides.
static SERVER_MESSAGE_BOUND: AtomicU64 = AtomicU64::new(16 << 20);

/// Takes a listener's largest server message as the size past which a row fails.
pub(crate) fn bound_server_messages(bytes: u64) {
    SERVER_MESSAGE_BOUND.fetch_min(bytes, Ordering::Relaxed);
}

/// What a value (or a row) may reach and still be read as bounded: a masked value would have
/// to be a mebibyte long to pass 1 GB.
const MAX_GROWTH: u64 = 1024 * UNIT;

/// One unit, in bytes.
const UNIT: u64 = 1 << 20;

/// Nodes nested deeper are unbounded.
const MAX_DEPTH: usize = 100;

/// Functions whose result may be larger than their arguments together: each is checked on its
/// own (see [`call_may_overflow`]).
pub(crate) const GROWING: &[&str] = &[
    "concat", "concat_ws", "replace", "overlay", "format", "lpad", "rpad", "regexp_replace", "lower", "upper", "initcap", "translate",
    "quote_literal", "quote_ident", "quote_nullable", "encode", "to_json", "to_jsonb", "row_to_json", "array_to_json", "array_to_string", "to_char",
    "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array",
];

/// Their text is no longer than their first argument's.
const KEEPING: &[&str] = &[
    "substr", "substring", "left", "right", "btrim", "ltrim", "rtrim", "split_part", "reverse", "min", "max", "floor", "ceil", "ceiling", "round",
    "trunc", "regexp_match",
];

/// Whatever their arguments, a few bytes.
const SMALL: &[&str] = &[
    "md5", "sha224", "sha256", "sha384", "sha512", "length", "char_length", "character_length", "octet_length", "bit_length", "ascii", "to_hex", "strpos",
    "position", "starts_with", "sign", "count", "random", "now", "date_part", "extract", "date_trunc", "array_length", "cardinality", "jsonb_typeof",
    "json_typeof", "bool_and", "bool_or", "every", "regexp_like", "regexp_count", "system_user",
];

/// How a value is read: how deep, and whether a function this module does not know is
/// unbounded (a call of a growing function, a `||`) or as large as its arguments (a row of
/// a query beside them, which only the functions that multiply rows or counts make large).
/// Sizes are in bytes: to bound a value, a column (or a few bytes of anything) weighs a unit
/// and a literal a unit per mebibyte begun; to see what the statement's own text builds, a
/// column weighs nothing and a literal its length.
#[derive(Clone, Copy)]
struct At {
    depth: usize,
    strict: bool,
    column: u64,
    floor: bool,
}

impl At {
    /// Bounding a value a call or an operator builds.
    const CALL: At = At { depth: 0, strict: true, column: UNIT, floor: true };
    /// Bounding a row.
    const ROW: At = At { depth: 0, strict: false, column: UNIT, floor: true };
    /// What the text builds.
    const BUILT: At = At { depth: 0, strict: false, column: 0, floor: false };

    fn deeper(self) -> At {
        At { depth: self.depth + 1, ..self }
    }

    /// A size made from the statement's text.
    fn size(self, bytes: u64) -> u64 {
        if self.floor { bytes.div_ceil(UNIT).max(1) * UNIT } else { bytes }
    }
}

/// Functions that build a large value from small arguments, by a count or from
/// many rows (the aggregates that join them), or read one from elsewhere (a file, a large
/// object), or indent a nested document (`jsonb_pretty`): unbounded however they are read.
const AMPLIFYING: &[&str] = &[
    "array_fill", "string_agg", "array_agg", "json_agg", "jsonb_agg", "json_agg_strict", "jsonb_agg_strict", "xmlagg", "json_object_agg",
    "jsonb_object_agg", "json_objectagg", "json_arrayagg", "range_agg", "lo_get", "pg_read_file", "pg_read_binary_file", "jsonb_pretty",
];

/// The size `v` (a node, tagged or wrapped in `node`) may reach.
fn growth_at(v: &Value, at: At) -> Option<u64> {
    if at.depth > MAX_DEPTH {
        return None;
    }
    let (kind, n) = v.get("node").unwrap_or(v).as_object().and_then(|o| o.iter().next())?;
    node_growth(kind, n, at)
}

/// The length of a literal's text.
fn literal_len(n: &Value) -> u64 {
    let val = n.get("val");
    let text = ["Sval", "Fval", "Bsval"].iter().find_map(|k| val.and_then(|v| v.get(*k)).and_then(|v| v.as_object()).and_then(|o| o.values().next()).and_then(Value::as_str));
    text.map_or(0, str::len) as u64
}

/// The text of a string literal.
pub(crate) fn literal_text(v: &Value) -> Option<&str> {
    v.get("node").unwrap_or(v).get("AConst")?.get("val")?.get("Sval")?.get("sval")?.as_str()
}

fn node_growth(kind: &str, n: &Value, at: At) -> Option<u64> {
    let g = |v: &Value| growth_at(v, at.deeper());
    let sum = |vs: &mut dyn Iterator<Item = &Value>| sum_of(vs, at.deeper());
    let max = |vs: &mut dyn Iterator<Item = &Value>| max_of(vs, at.deeper());
    let field = |k: &str| n.get(k).filter(|x| !x.is_null());
    match kind {
        "AConst" => Some(at.size(literal_len(n))),
        "ColumnRef" | "SQLValueFunction" | "BoolExpr" | "NullTest" | "BooleanTest" => Some(at.column),
        // A literal cast keeps its text; anything else may print longer than it is stored (an
        // array's elements quoted and escaped). A type may pad what it is given to its
        // declared length (see [`cast_padding`]).
        "TypeCast" => {
            let arg = field("arg")?;
            let literal = arg.get("node").unwrap_or(arg).get("AConst").is_some();
            let x = g(arg).map(|x| if literal { x } else { x.saturating_mul(2) })?;
            match cast_padding(field("type_name")) {
                Padding::Kept => Some(x),
                Padding::To { width, array: false } => Some(x.saturating_add(at.size(width))),
                // Each element padded, and there are at most as many as the text has bytes.
                Padding::To { width, array: true } => Some(x.saturating_add(at.size(width).saturating_mul(x.max(1)))),
                Padding::Unknown if at.floor => None,
                Padding::Unknown => Some(x),
            }
        }
        // (An element or a slice of an array is no longer than the array.)
        "CollateClause" | "AIndirection" => g(field("arg")?),
        // `||` adds; other operators compare, compute a number or take part of a document.
        "AExpr" => {
            let parts = &mut ["lexpr", "rexpr"].into_iter().filter_map(field);
            if arr(n, "name").filter_map(sval).last() == Some("||") { sum(parts) } else { max(parts) }
        }
        "CoalesceExpr" | "MinMaxExpr" => max(&mut arr(n, "args")),
        // The list of an `IN` or a `BETWEEN`.
        "List" => max(&mut arr(n, "items")),
        "CaseExpr" => max(&mut arr(n, "args").filter_map(|w| w.get("node").unwrap_or(w).get("CaseWhen")?.get("result")).chain(field("defresult"))),
        "RowExpr" => sum(&mut arr(n, "args")),
        "AArrayExpr" => sum(&mut arr(n, "elements")),
        "SubLink" => {
            use pg_query::protobuf::SubLinkType as L;
            let t = n.get("sub_link_type").and_then(Value::as_i64).unwrap_or(0);
            if [L::ExistsSublink, L::AnySublink, L::AllSublink, L::RowcompareSublink].iter().any(|x| *x as i64 == t) {
                Some(at.column)
            } else if t == L::ExprSublink as i64 {
                // One row's one column.
                select_growth(field("subselect")?, at.deeper())
            } else {
                None
            }
        }
        "FuncCall" => call_growth(n, at),
        // As large as a client's message may be (compatibility round 4: `$1::int4` beside a
        // masked column was held as if it could be 1 GB); not built by the statement's text.
        "ParamRef" => Some(if at.floor { PARAMETER_BOUND.load(Ordering::Relaxed) } else { 0 }),
        _ if at.strict => None,
        // (Beside the rest of a row: grouping sets, XML, JSON constructors as their parts.)
        _ => n.as_object().map_or(Some(at.column), |o| sum(&mut o.values().filter(|v| v.get("node").is_some() || v.is_array()).flat_map(|v| v.as_array().map_or_else(|| vec![v], |a| a.iter().collect())))).map(|x| x.max(at.column)),
    }
}

/// What a cast does to the length of what it is given.
enum Padding {
    /// No longer (or longer only as a type's output is: a number's digits, a date).
    Kept,
    /// Padded to `width` bytes: `char(N)`, `bit(N)` (PG red-team round 119:
    /// `'x'::char(10485760)` is ten million bytes, which `concat` keeps).
    To { width: u64, array: bool },
    /// A type this module does not know: the agent's own domain may be `char(10485760)`.
    Unknown,
}

/// The longest a type pads its values to, in bytes, that a statement may name: a `char(N)`
/// or `bit(N)` past it is refused to agents (PG red-team round 120: a column of their own
/// table, a CTE's or a subquery's of that type reads as a column of a mebibyte everywhere
/// else, where 26 of `char(10485760)` beside a masked value pass jsonb's 256 MB).
pub(crate) const MAX_PADDED: u64 = UNIT;

/// Whether `type_name` (a `TypeName` node) pads its values past [`MAX_PADDED`].
pub(crate) fn pads_too_wide(type_name: &Value) -> bool {
    matches!(cast_padding(Some(type_name)), Padding::To { width, .. } if width > MAX_PADDED)
}

/// What a cast to `type_name` (a `TypeName` node) does to the length of its value.
fn cast_padding(type_name: Option<&Value>) -> Padding {
    let Some(t) = type_name else { return Padding::Unknown };
    let names: Vec<&str> = arr(t, "names").filter_map(sval).collect();
    let base = match names.as_slice() {
        ["pg_catalog", n] | [n] => n.to_ascii_lowercase(),
        _ => return Padding::Unknown,
    };
    let array = arr(t, "array_bounds").next().is_some();
    if base == "bpchar" || base == "bit" {
        // `char` alone is `char(1)`; a length that is not a number written out is unknown.
        let mut mods = arr(t, "typmods");
        let width = match mods.next() {
            None => Some(1),
            Some(m) => m.get("node").unwrap_or(m).get("AConst").and_then(|c| c.get("val")?.get("Ival")?.get("ival")).and_then(Value::as_u64),
        };
        return match width {
            Some(width) => Padding::To { width, array },
            None => Padding::Unknown,
        };
    }
    // (Qualified with `pg_catalog` or not: an agent's relation or type cannot take one of these
    // names, agent-no-shadowing-names.)
    if super::sql::BUILT_IN_TYPE_NAMES.contains(&base.as_str()) { Padding::Kept } else { Padding::Unknown }
}

/// The size of values together.
fn sum_of(vs: &mut dyn Iterator<Item = &Value>, at: At) -> Option<u64> {
    let mut total = 0u64;
    for v in vs {
        total = total.saturating_add(growth_at(v, at)?);
    }
    Some(total)
}

/// The size of the largest of values (a column's if there are none).
fn max_of(vs: &mut dyn Iterator<Item = &Value>, at: At) -> Option<u64> {
    let mut most = at.column;
    for v in vs {
        most = most.max(growth_at(v, at)?);
    }
    Some(most)
}

/// The size of the first column of a subquery's rows.
fn select_growth(v: &Value, at: At) -> Option<u64> {
    if at.depth > MAX_DEPTH {
        return None;
    }
    let s = v.get("node").unwrap_or(v).get("SelectStmt")?;
    if let (Some(l), Some(r)) = (s.get("larg").filter(|x| !x.is_null()), s.get("rarg").filter(|x| !x.is_null())) {
        return Some(select_growth(l, at.deeper())?.max(select_growth(r, at.deeper())?));
    }
    let first = arr(s, "target_list").next()?;
    growth_at(first.get("node").unwrap_or(first).get("ResTarget")?.get("val")?, at.deeper())
}

/// The size of a call's result, by what its function does with its arguments.
fn call_growth(n: &Value, at: At) -> Option<u64> {
    let name = arr(n, "funcname").filter_map(sval).last().unwrap_or_default().to_ascii_lowercase();
    let args: Vec<&Value> = arr(n, "args").collect();
    let g = |v: &Value| growth_at(v, at.deeper());
    let first = || args.first().and_then(|a| g(a));
    let text_len = |i: usize| args.get(i).and_then(|a| literal_text(a)).map(str::len);
    let sum = |vs: &[&Value]| sum_of(&mut vs.iter().copied(), at.deeper());
    let max_of = |vs: &[&Value]| max_of(&mut vs.iter().copied(), at.deeper());
    match name.as_str() {
        n if SMALL.contains(&n) => Some(at.column),
        n if KEEPING.contains(&n) => first(),
        // Case mapping may take a letter to a longer one (`Ⱥ` → `ⱥ`, 2 → 3 bytes).
        "lower" | "upper" | "initcap" => first().map(|x| x.saturating_mul(2)),
        // Each letter may become one of up to 4 bytes.
        "translate" => {
            let widest = args.get(2).and_then(|a| literal_text(a)).map_or(4, |t| t.chars().map(char::len_utf8).max().unwrap_or(1));
            first().map(|x| x.saturating_mul(widest as u64))
        }
        "replace" => {
            let (from, to) = (text_len(1)?, text_len(2)?);
            first().map(|x| x.saturating_mul(to.div_ceil(from.max(1)).max(1) as u64))
        }
        // Each match (an empty one at every place) becomes the replacement, whose `\&` may
        // repeat what matched.
        "regexp_replace" => {
            let replacement = text_len(2)? as u64;
            first().map(|x| x.saturating_mul(replacement + 1))
        }
        "concat" => sum(&args),
        // The separator between each two of the rest.
        "concat_ws" => {
            let (sep, rest) = args.split_first()?;
            let between = (rest.len() as u64).saturating_sub(1);
            g(sep)?.saturating_mul(between).checked_add(sum(rest)?)
        }
        "overlay" => sum(args.get(..2)?),
        // So many copies: of a literal, by its length.
        "repeat" => {
            let count = args.get(1).and_then(|a| literal_int(a)).filter(|c| (0..=1_000_000).contains(c))? as u64;
            match args.first().and_then(|a| literal_text(a)) {
                Some(t) => Some(at.size((t.len() as u64).saturating_mul(count))),
                None => first().map(|x| x.saturating_mul(count)),
            }
        }
        // Cut or padded to exactly so many characters.
        "lpad" | "rpad" => {
            let width = args.get(1).and_then(|a| literal_int(a)).filter(|w| (0..=1_000_000).contains(w))?;
            Some(at.size(width as u64 * 4))
        }
        // Each conversion prints one argument, `%I` and `%L` quoted (doubled at most), padded
        // to its width: every number the text holds counts as one (PG red-team round 118:
        // `format('%1073741804s%s', '', email)` failed by the email's length).
        "format" => {
            let fmt = args.first().and_then(|a| literal_text(a))?;
            let conversions = fmt.matches('%').count() as u64;
            let widths = fmt.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u64>().ok().or((!n.is_empty()).then_some(u64::MAX))).fold(0u64, u64::saturating_add);
            max_of(args.get(1..)?).map(|m| at.size(fmt.len() as u64).saturating_add(widths).saturating_add(conversions.saturating_mul(m).saturating_mul(2)))
        }
        "quote_literal" | "quote_ident" | "quote_nullable" => first().map(|x| x.saturating_mul(2).saturating_add(1)),
        "encode" => first().map(|x| x.saturating_mul(4)),
        // A control character is escaped as six (`\u0001`); a `jsonb` string stops at 256 MB,
        // a quarter of the text's limit, which six times covers too.
        "to_json" | "to_jsonb" | "row_to_json" | "array_to_json" => first().map(|x| x.saturating_mul(6)),
        "json_build_object" | "jsonb_build_object" | "json_build_array" | "jsonb_build_array" => sum(&args).map(|x| x.saturating_mul(6)),
        // The delimiter between each two elements, the NULL string for each NULL; elements of
        // an `ARRAY[…]` are counted, others (up to eight a byte, as NULLs) are not.
        "array_to_string" => {
            let (array, rest) = args.split_first()?;
            // (A literal delimiter by its length: it multiplies.)
            let part = |i: usize| rest.get(i).map_or(Some(0), |d| literal_text(d).map(|t| t.len() as u64).or_else(|| g(d)));
            let (delim, nulls) = (part(0)?, part(1)?);
            match array.get("node").unwrap_or(array).get("AArrayExpr") {
                Some(a) => {
                    let elements: Vec<&Value> = arr(a, "elements").collect();
                    let count = elements.len() as u64;
                    sum(&elements)?.checked_add(delim.saturating_add(nulls).saturating_mul(count))
                }
                None => g(array)?.checked_mul(8u64.saturating_mul(delim.saturating_add(nulls).saturating_add(1))),
            }
        }
        // A pattern prints a few characters (`RN` fifteen), literal text as it is.
        "to_char" => args.get(1).and_then(|a| literal_text(a)).map(|f| at.size(f.len() as u64 * 16)),
        n if at.strict || AMPLIFYING.contains(&n) => None,
        _ => sum(&args).map(|x| x.max(at.column)),
    }
}

/// An integer literal's value.
pub(crate) fn literal_int(v: &Value) -> Option<i64> {
    let c = v.get("node").unwrap_or(v).get("AConst")?.get("val")?.get("Ival")?;
    // (An `ival` of 0 is left out of the JSON.)
    Some(c.get("ival").and_then(Value::as_i64).unwrap_or(0))
}

/// Whether the node `kind` (body `n`) may pass the bound: a call of a function that may grow
/// its arguments, a `||`, an array or a row built of parts.
pub(crate) fn may_overflow(kind: &str, n: &Value) -> bool {
    node_growth(kind, n, At::CALL).is_none_or(|g| g > MAX_GROWTH)
}

/// From which a value counts as built large on purpose.
const LARGE: u64 = 64 * UNIT;

/// Whether the node `kind` (body `n`) builds a value of 64 MiB or more (a literal, a
/// multiplication of one): kept in a CTE or a subquery, such a value reads as one column of
/// one unit outside it, so a statement that builds one chooses by every masked value it reads
/// (see `lineage`). Parameters and functions of unknown size do not count here: the checks of
/// each call and row hold those where they meet a masked value.
pub(crate) fn builds_large(kind: &str, n: &Value) -> bool {
    // (Casts too: each level of `array[…]::text` doubles what it prints, PG red-team round 117.)
    matches!(kind, "AConst" | "FuncCall" | "AExpr" | "AArrayExpr" | "RowExpr" | "TypeCast" | "CollateClause" | "CoalesceExpr" | "MinMaxExpr" | "CaseExpr" | "AIndirection")
        && node_growth(kind, n, At::BUILT).is_some_and(|g| g >= LARGE)
}

/// Whether the node `kind` (body `n`) is a query in a FROM item or a CTE whose rows hold a value
/// the statement's text builds to a mebibyte or more: read outside it, such a column weighs a
/// unit, and repeated beside a masked value it passes a bound the unit count never reaches
/// (PG red-team round 120: 26 references to a 10 MiB column of `VALUES`, a CTE or a `LATERAL`
/// subquery passed jsonb's 256 MB by a masked value's length). Such a statement chooses by
/// every masked value it reads, as one that builds [`LARGE`] does.
pub(crate) fn derives_large(kind: &str, n: &Value) -> bool {
    let query = match kind {
        "RangeSubselect" => n.get("subquery"),
        "CommonTableExpr" => n.get("ctequery"),
        _ => None,
    };
    query.is_some_and(|q| outputs_built(q, 0) >= UNIT)
}

/// The largest value the outputs of a query (a `SelectStmt`, its set operations' branches,
/// its `VALUES` rows, or a `RETURNING` list) build from the text.
fn outputs_built(q: &Value, depth: usize) -> u64 {
    if depth > MAX_DEPTH {
        return 0;
    }
    let Some((kind, n)) = q.get("node").unwrap_or(q).as_object().and_then(|o| o.iter().next()) else { return 0 };
    match kind.as_str() {
        "SelectStmt" => select_built(n, depth),
        "InsertStmt" | "UpdateStmt" | "DeleteStmt" => n.get("returning_clause").map_or(0, |r| targets_built(r, "exprs")),
        _ => 0,
    }
}

/// [`outputs_built`] of a `SelectStmt`'s body (its set operations' branches are bodies too).
fn select_built(n: &Value, depth: usize) -> u64 {
    if depth > MAX_DEPTH {
        return 0;
    }
    let built = |v: &Value| growth_at(v, At::BUILT).unwrap_or(0);
    let values = arr(n, "values_lists").flat_map(|l| arr(l.get("node").unwrap_or(l).get("List").unwrap_or(&Value::Null), "items")).map(built).max().unwrap_or(0);
    let branches = ["larg", "rarg"].iter().filter_map(|k| n.get(*k).filter(|v| !v.is_null())).map(|b| select_built(b, depth + 1)).max().unwrap_or(0);
    targets_built(n, "target_list").max(values).max(branches)
}

/// The largest value the `ResTarget`s under `key` of `n` build from the text.
fn targets_built(n: &Value, key: &str) -> u64 {
    arr(n, key).filter_map(|t| t.get("node").unwrap_or(t).get("ResTarget").and_then(|r| r.get("val"))).map(|v| growth_at(v, At::BUILT).unwrap_or(0)).max().unwrap_or(0)
}

/// The values of a row the server builds whole, whose size together may pass the bound: a
/// query's output columns with its sort and group keys (a row it sends or sorts fails past 1 GB
/// however its columns divide it), an UPDATE's new values, a RETURNING list, each row of a
/// VALUES list. Empty when they stay within it.
pub(crate) fn row_may_overflow<'a>(kind: &str, n: &'a Value) -> Vec<&'a Value> {
    let targets = |k: &'static str| arr(n, k).filter_map(|t| t.get("node").unwrap_or(t).get("ResTarget").and_then(|r| r.get("val")));
    let mut rows: Vec<Vec<&Value>> = Vec::new();
    match kind {
        "SelectStmt" => {
            let sort = arr(n, "sort_clause").filter_map(|s| s.get("node").unwrap_or(s).get("SortBy").and_then(|b| b.get("node")));
            rows.push(targets("target_list").chain(sort).chain(arr(n, "group_clause")).collect());
            for list in arr(n, "values_lists") {
                rows.push(arr(list.get("node").unwrap_or(list).get("List").unwrap_or(&Value::Null), "items").collect());
            }
        }
        "UpdateStmt" => rows.push(targets("target_list").collect()),
        "returning_clause" => rows.push(targets("exprs").collect()),
        _ => {}
    }
    // (A row the text itself builds to within a unit of the largest server message the
    // gateway passes on fails there by a masked value's length, as one near 1 GB does at the
    // server: seventeen `repeat('x', 1000000)` beside `replace(substr(email, 1, 1), 'e', …)`,
    // round 121.)
    let message = SERVER_MESSAGE_BOUND.load(Ordering::Relaxed).saturating_sub(UNIT);
    rows.into_iter()
        .filter(|r| sum_of(&mut r.iter().copied(), At::ROW).is_none_or(|g| g > MAX_GROWTH) || sum_of(&mut r.iter().copied(), At::BUILT).is_some_and(|g| g >= message))
        .flatten()
        .collect()
}
