//! Which columns of a relation are masked: by configuration, or by discovery — hoop samples a
//! relation's text columns through its own upstream connection, before the first statement
//! that reads it is forwarded (remembered per target, refreshed every few minutes).
//!
//! A discovered column where most sampled values match a detector is masked whole, like a
//! configured one. A column where only some do (free text that sometimes holds an address) is
//! left to the content detectors when read as it is, and masked whole when derived from: an
//! expression can reshape a value past every detector.

use crate::catalog::Catalog;
use crate::mask::kind_of;
use hoop_core::mask::{ColumnMask, ColumnRef, Masker};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rows sampled per relation.
const SAMPLE_ROWS: usize = 200;
/// How long a relation's masked columns are trusted before they are looked at again.
const TTL: Duration = Duration::from_secs(300);
/// Relations remembered (then the cache starts over).
const MAX_RELATIONS: usize = 4096;

/// A masked source column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedColumn {
    /// Column name.
    pub name: String,
    /// How its values (and values derived from them) are replaced.
    pub rule: ColumnMask,
    /// Masked whole when read as it is (configured, or mostly detector hits); else only
    /// values derived from it are masked whole.
    pub whole: bool,
}

/// The masked columns of relations, by spelling, for one target.
#[derive(Default)]
pub struct Discovery {
    cache: Mutex<HashMap<(usize, String), (Instant, Arc<Vec<MaskedColumn>>)>>,
}

impl Discovery {
    /// Every masked column (name, rule) of every relation `spelling` may denote (all schemas
    /// for an unqualified name, and the relations behind a view). A catalog failure yields the
    /// columns found so far: content detectors still apply to every output.
    pub async fn masked_columns(&self, catalog: &Catalog, masker: &Arc<Masker>, target: &str, spelling: &str) -> Arc<Vec<MaskedColumn>> {
        if !masker.is_enabled() {
            return Arc::new(Vec::new());
        }
        // A reloaded masker (new rules) starts its own entries.
        let key = (Arc::as_ptr(masker) as usize, spelling.to_string());
        if let Some((at, cols)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && at.elapsed() < TTL
        {
            return cols.clone();
        }
        let mut found: Vec<MaskedColumn> = Vec::new();
        let mut exists = false;
        let mut candidates = vec![spelling.to_string()];
        if let Ok(names) = catalog.resolve(spelling).await {
            candidates.extend(names.iter().cloned());
        }
        let mut seen: Vec<crate::catalog::RelationColumns> = Vec::new();
        for rel in candidates {
            let Ok(relations) = catalog.columns_of(&rel).await else { continue };
            // Lineage reads identifiers in lowercase: masked columns are named so too.
            for (schema, table, cols) in relations {
                exists = true;
                seen.push((schema.clone(), table.clone(), cols.clone()));
                for (col, _) in &cols {
                    if let Some(rule) = masker.column_rule(&ColumnRef { target, schema: &schema, table: &table, column: col }) {
                        push(&mut found, MaskedColumn { name: col.to_ascii_lowercase(), rule, whole: true });
                    }
                }
                for (col, label, whole) in sample(catalog, masker, &schema, &table, &cols).await {
                    if let Some(rule) = masker.rule_for(label) {
                        push(&mut found, MaskedColumn { name: col.to_ascii_lowercase(), rule, whole });
                    }
                }
            }
        }
        // A view's columns take their values from its relations' through its definition: one
        // that reads a masked column is masked whole under its own name (`CREATE VIEW v AS
        // SELECT apikey AS k ...`), whatever it is called.
        if !found.is_empty() {
            for (schema, table, cols) in &seen {
                let Ok(Some(def)) = catalog.view_definition(schema, table).await else { continue };
                for (col, rule) in view_columns_reading(&def, cols, &found) {
                    push(&mut found, MaskedColumn { name: col, rule, whole: true });
                }
            }
        }
        let found = Arc::new(found);
        // A relation that does not exist yet (a statement creating it) is asked about again.
        if !exists {
            return found;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_RELATIONS {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), found.clone()));
        found
    }
}

impl Discovery {
    /// Forgets every relation's columns: a statement may have created or redefined one.
    pub fn forget(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The columns of a view defined by `def` (its columns `cols`, in order) whose values read one
/// of `masked`, each with the rule of a masked column it reads. A definition hoop cannot read,
/// or whose columns it cannot count (a `*`), masks every column.
fn view_columns_reading(def: &str, cols: &[(String, u32)], masked: &[MaskedColumn]) -> Vec<(String, ColumnMask)> {
    use hoop_core::action::lineage::{Output, Outputs};
    let Some(any) = masked.first().map(|m| m.rule.clone()) else { return Vec::new() };
    let every = || cols.iter().map(|(c, _)| (c.to_ascii_lowercase(), any.clone())).collect();
    let Some(d) = hoop_core::action::lineage::derive(def) else { return every() };
    let Some(Outputs::Rows(outs)) = d.statements.first() else { return every() };
    let mut out = Vec::new();
    for (o, (col, _)) in outs.iter().zip(cols) {
        let Output::Expr { refs, .. } = o else { return every() };
        let read = masked.iter().find(|m| refs.columns.contains(&m.name));
        // A whole row (`row_to_json(t)`: a one-part name that is one of its relations) reads
        // every column of it.
        let whole_row = refs.star || refs.rows.iter().any(|r| d.relations.iter().any(|(alias, rel)| alias == r || rel.rsplit('.').next() == Some(r.as_str())));
        let rule = read.map(|m| m.rule.clone()).or_else(|| whole_row.then(|| any.clone()));
        if let Some(rule) = rule {
            out.push((col.to_ascii_lowercase(), rule));
        }
    }
    out
}

fn push(found: &mut Vec<MaskedColumn>, col: MaskedColumn) {
    if !found.iter().any(|c| c.name == col.name) {
        found.push(col);
    }
}

/// Text columns of `schema.table` where a content detector matches a sampled value, with the
/// detector's label and whether most sampled values matched.
async fn sample(catalog: &Catalog, masker: &Masker, schema: &str, table: &str, cols: &[(String, u32)]) -> Vec<(String, &'static str, bool)> {
    let text: Vec<&String> = cols.iter().filter(|(_, oid)| kind_of(*oid).is_text_like()).map(|(c, _)| c).collect();
    if text.is_empty() {
        return Vec::new();
    }
    let ident = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let list = text.iter().map(|c| format!("{}::text", ident(c))).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {list} FROM {}.{} LIMIT {SAMPLE_ROWS}", ident(schema), ident(table));
    let Ok(rows) = catalog.query(&sql).await else { return Vec::new() };
    // Per column: first label found, values with a hit, non-null values.
    let mut seen: Vec<(Option<&'static str>, usize, usize)> = vec![(None, 0, 0); text.len()];
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            let (Some(v), Some(s)) = (v, seen.get_mut(i)) else { continue };
            s.2 += 1;
            if let Some(label) = masker.detect(v.as_bytes()) {
                s.0.get_or_insert(label);
                s.1 += 1;
            }
        }
    }
    text.iter()
        .zip(seen)
        .filter_map(|(c, (label, hits, n))| label.map(|l| ((*c).clone(), l, hits * 2 > n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(name: &str) -> MaskedColumn {
        MaskedColumn { name: name.into(), rule: ColumnMask { mode: hoop_core::mask::Mode::Redact, label: name.into() }, whole: true }
    }

    #[test]
    fn a_view_column_that_reads_a_masked_one_is_masked() {
        let cols = vec![("id".to_string(), 23), ("K".to_string(), 25), ("j".to_string(), 114), ("n".to_string(), 25)];
        // As `pg_get_viewdef` prints it.
        let def = " SELECT lowkeys.id,\n    (lowkeys.apikey || ''::text) AS \"K\",\n    row_to_json(lowkeys.*) AS j,\n    lowkeys.note AS n\n   FROM lowkeys;";
        let got: Vec<String> = view_columns_reading(def, &cols, &[masked("apikey")]).into_iter().map(|(c, _)| c).collect();
        assert_eq!(got, ["k", "j"]);
        // Unreadable, or columns that cannot be counted: all of them.
        assert_eq!(view_columns_reading("not sql at all", &cols, &[masked("apikey")]).len(), 4);
        assert_eq!(view_columns_reading(" SELECT * FROM lowkeys;", &cols, &[masked("apikey")]).len(), 4);
        assert!(view_columns_reading(def, &cols, &[]).is_empty(), "nothing masked behind it");
    }
}
