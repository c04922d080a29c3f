//! Whole-value masking rules for configured columns and fields.

use super::Mode;
use serde::{Deserialize, Serialize};

/// Where a value comes from: target, schema, table, column (empty parts are unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnRef<'a> {
    /// Target name.
    pub target: &'a str,
    /// Schema (Postgres) or API group (Kubernetes).
    pub schema: &'a str,
    /// Table (Postgres) or kind (Kubernetes).
    pub table: &'a str,
    /// Column or field name.
    pub column: &'a str,
}

/// A configured column to mask whole; `*` (or empty) matches any value of a part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    /// Target name or `*`.
    #[serde(default = "star")]
    pub target: String,
    /// Schema or `*`.
    #[serde(default = "star")]
    pub schema: String,
    /// Table or `*`.
    #[serde(default = "star")]
    pub table: String,
    /// Column name (case-insensitive).
    pub column: String,
    /// Mode for this column; the masking default when absent.
    #[serde(default)]
    pub mode: Option<Mode>,
}

fn star() -> String {
    "*".into()
}

/// The resolved whole-value rule for one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMask {
    /// Redact or tokenise.
    pub mode: Mode,
    /// Label used in the replacement (the column name).
    pub label: String,
}

impl ColumnRule {
    /// Parses `[target:][[schema.]table.]column`.
    pub fn parse(spec: &str, mode: Option<Mode>) -> Result<Self, String> {
        let (target, rest) = match spec.split_once(':') {
            Some((t, r)) => (t.trim(), r.trim()),
            None => ("*", spec.trim()),
        };
        let parts: Vec<&str> = rest.split('.').map(str::trim).collect();
        let (schema, table, column) = match parts.as_slice() {
            [c] => ("*", "*", *c),
            [t, c] => ("*", *t, *c),
            [s, t, c] => (*s, *t, *c),
            _ => return Err("expected [target:][[schema.]table.]column".into()),
        };
        if column.is_empty() || target.is_empty() {
            return Err("empty column or target".into());
        }
        Ok(ColumnRule {
            target: target.into(),
            schema: schema.into(),
            table: table.into(),
            column: column.into(),
            mode,
        })
    }

    /// Whether this rule covers `c`.
    pub fn matches(&self, c: &ColumnRef<'_>) -> bool {
        part(&self.column, c.column) && part(&self.table, c.table) && part(&self.schema, c.schema) && part(&self.target, c.target)
    }
}

fn part(rule: &str, value: &str) -> bool {
    rule == "*" || rule.is_empty() || rule.eq_ignore_ascii_case(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let c = ColumnRef { target: "prod", schema: "public", table: "users", column: "Email" };
        assert!(ColumnRule::parse("email", None).unwrap().matches(&c));
        assert!(ColumnRule::parse("users.email", None).unwrap().matches(&c));
        assert!(ColumnRule::parse("prod:public.users.email", None).unwrap().matches(&c));
        assert!(!ColumnRule::parse("staging:email", None).unwrap().matches(&c));
        assert!(!ColumnRule::parse("orders.email", None).unwrap().matches(&c));
        assert!(ColumnRule::parse("a.b.c.d", None).is_err());
        assert!(ColumnRule::parse("x:", None).is_err());
    }
}
