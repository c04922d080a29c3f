//! Masking by lineage: which result columns of a statement derive from a masked source
//! column, through any expression, function, subquery, CTE, view or set operation, so that
//! they are masked whole, whatever the value looks like by then.
//!
//! The derivation comes from the statement text (`hoop_core::action::lineage`); the masked
//! source columns from configuration and discovery ([`crate::discover`]).

use crate::discover::MaskedColumn;
use hoop_core::action::lineage::{Output, Outputs, Taint, derive};
use hoop_core::mask::{ColumnMask, Masker};
use std::collections::HashMap;
use std::sync::Arc;

/// How the columns of one result are masked by lineage.
#[derive(Debug, Clone, Default)]
pub struct ResultMask {
    /// Rules by position, up to the first `*` (whose columns cannot be counted from the text).
    positional: Vec<Option<ColumnMask>>,
    /// After the only `*` of a select list, rules by position counted from the result's end:
    /// the server's column count tells where the `*`'s columns stop.
    tail: Option<Vec<Option<ColumnMask>>>,
    /// Rules by column label, for the columns of a `*` and results hoop cannot tie to the text.
    by_name: HashMap<String, ColumnMask>,
    /// Whether every position is known (no `*`, and the result is tied to its statement).
    exact: bool,
    /// By position, the masked source columns (`schema.table.column`) a derived value reads,
    /// for counting what it exposed: those it names, or when it names none of them (an alias,
    /// a whole row), every masked column of the relations the statement reads.
    sources: Vec<Vec<String>>,
    /// The same for the positions of `tail`.
    tail_sources: Vec<Vec<String>>,
    /// Every label, when any expression of the text may carry a masked value (an opaque
    /// function in FROM, a `*` in a set operation): what a label cannot be tied to is masked.
    every_label: Option<ColumnMask>,
    /// The rule of a value tied to no one masked column: for every column hoop cannot place
    /// (the server sent more or fewer columns than the text has).
    any: Option<ColumnMask>,
    /// Whether a `*`'s columns are stored values passed through unchanged (no subquery, CTE or
    /// set operation in the text), which alone keep a tokenising rule: anything else is
    /// redacted (see [`of_text`]).
    tokens: bool,
    /// The text shows a plan (`EXPLAIN`) of what reads a masked column: its widths are hidden
    /// (see [`crate::explain`]).
    plans: bool,
}

/// `rule` for a value that may not be a stored one: redacted, never tokenised.
fn redacted(rule: ColumnMask) -> ColumnMask {
    ColumnMask { mode: hoop_core::mask::Mode::Redact, ..rule }
}

/// Where result column `i` of `n` stands in the text's select list.
enum Place {
    /// Before the first `*`, or in a list without one: this position of it.
    Head(usize),
    /// After the only `*`: this position of what follows it.
    Tail(usize),
    /// One of a `*`'s columns.
    Star,
    /// Not where the text says it can be: the server's columns are not the text's.
    Lost,
}

impl ResultMask {
    /// Every column masked by `rule`, whatever it is (a result hoop cannot tie to what it
    /// checked).
    pub fn every(rule: ColumnMask) -> ResultMask {
        ResultMask { every_label: Some(rule.clone()), any: Some(rule), ..ResultMask::default() }
    }

    fn place(&self, i: usize, n: usize) -> Place {
        let head = self.positional.len();
        if self.exact {
            return if n != head { Place::Lost } else { Place::Head(i) };
        }
        if i < head {
            return Place::Head(i);
        }
        let Some(tail) = &self.tail else { return Place::Star };
        match n.checked_sub(tail.len()).filter(|start| *start >= head) {
            Some(start) if i >= start => Place::Tail(i - start),
            Some(_) => Place::Star,
            None => Place::Lost,
        }
    }

    /// Whether this result's columns of stored values pass through unchanged (no subquery, CTE,
    /// set operation or rows its statement wrote itself): only then may a column keep a
    /// tokenising rule.
    pub fn tokens(&self) -> bool {
        self.tokens
    }

    /// Whether a plan in this result shows widths and costs that follow masked values (see [`crate::explain`]).
    pub fn plans(&self) -> bool {
        self.plans
    }

    /// The masked source columns result column `i` (of `n`) derives from, when lineage named
    /// them.
    pub fn sources(&self, i: usize, n: usize) -> &[String] {
        let at = match self.place(i, n) {
            Place::Head(k) => self.sources.get(k),
            Place::Tail(k) => self.tail_sources.get(k),
            Place::Star | Place::Lost => None,
        };
        at.map_or(&[], Vec::as_slice)
    }

    /// The lineage rule of result column `i` of `n`, labelled `name`.
    pub fn rule(&self, i: usize, n: usize, name: &str) -> Option<ColumnMask> {
        let by_label = || self.by_name.get(&name.to_ascii_lowercase()).cloned().or_else(|| self.every_label.clone());
        match self.place(i, n) {
            Place::Head(k) => self.positional.get(k).cloned().flatten(),
            Place::Tail(k) => self.tail.as_ref().and_then(|t| t.get(k)).cloned().flatten(),
            Place::Star => by_label().map(|r| if self.tokens { r } else { redacted(r) }),
            Place::Lost => by_label().or_else(|| self.any.clone()).map(redacted),
        }
    }
}

/// Rules by position and the masked source columns of each.
type Positions = (Vec<Option<ColumnMask>>, Vec<Vec<String>>);

/// How the results of one statement text are masked by lineage.
#[derive(Debug, Clone, Default)]
pub struct TextLineage {
    /// One per result the text returns, in order, when that order is certain.
    results: Option<Vec<ResultMask>>,
    /// By label, for results that cannot be tied to a statement.
    fallback: ResultMask,
    /// The text would write a value derived from a masked column to storage, or pass one to a
    /// function that carries it elsewhere (a setting, a notification, a large object).
    pub carries: bool,
    /// The text chooses or orders rows by a masked column (WHERE, JOIN, ORDER BY, ...).
    pub filters: bool,
    /// Functions it calls with a value derived from a masked column as an argument (bare
    /// names): one that takes an object identifier opens the object the value chose.
    pub tainted_calls: Vec<String>,
}

impl TextLineage {
    /// The mask of the `k`-th result (RowDescription) of the text.
    pub fn result(&self, k: usize) -> &ResultMask {
        self.results.as_ref().and_then(|r| r.get(k)).unwrap_or(&self.fallback)
    }
}

/// The lineage masks of `text` (with `held`, the texts of prepared statements and cursors it
/// runs); `None` when nothing it reads is masked.
///
/// `masked` holds the masked columns of each table the text names; a text none of whose tables
/// has any is not read a second time.
pub fn of_text(masker: &Masker, masked: &HashMap<String, Arc<Vec<MaskedColumn>>>, text: &str, held: &[&str]) -> Option<Arc<TextLineage>> {
    if !masker.is_enabled() || masked.values().all(|c| c.is_empty()) {
        return None;
    }
    let own = derive(text).unwrap_or_default();
    let mut unknown_rows = own.statements.is_empty();
    // What an `EXECUTE` or a `FETCH` returns is what its one held statement returns, by
    // position (red-team round 18: by label, `xmlelement(…)` and `nullif(…)` over masked
    // columns came back in clear through a cursor and a prepared statement).
    let held_runs: Option<Outputs> = match held {
        [one] => derive(one).and_then(|h| h.runs.last().cloned()),
        _ => None,
    };
    // The statements and cursors the text runs add their names (rarely: EXECUTE, FETCH).
    let d = if held.is_empty() {
        own
    } else {
        let mut d = (*own).clone();
        for h in held {
            match derive(h) {
                Some(hd) => {
                    d.named.extend(hd.named.iter().cloned());
                    d.derived.extend(hd.derived.iter().cloned());
                    d.relations.extend(hd.relations.iter().cloned());
                }
                None => unknown_rows = true,
            }
        }
        Arc::new(d)
    };
    // Rules by source column name, for labelling.
    let mut rules: HashMap<String, ColumnMask> = HashMap::new();
    // Columns left to the content detectors when read as they are.
    let mut partial: Vec<String> = Vec::new();
    for cols in masked.values() {
        for c in cols.iter() {
            // One name, several relations (a view's and the table behind it): redacted in any,
            // redacted, whichever the map yields first (a token there is a token of whatever
            // the view's column holds, red-team round 37).
            let rule = rules.entry(c.name.clone()).or_insert_with(|| c.rule.clone());
            if c.rule.mode == hoop_core::mask::Mode::Redact {
                rule.mode = hoop_core::mask::Mode::Redact;
            }
            if !c.whole {
                partial.push(c.name.clone());
            }
        }
    }
    // A name masked whole somewhere is masked whole.
    for cols in masked.values() {
        for c in cols.iter().filter(|c| c.whole) {
            partial.retain(|p| p != &c.name);
        }
    }
    let taint = d.taint(|rel| {
        let base = rel.rsplit('.').next().unwrap_or(rel);
        masked.iter().filter(|(t, _)| t.as_str() == rel || t.rsplit('.').next() == Some(base)).flat_map(|(_, c)| c.iter().map(|m| m.name.clone())).collect()
    });
    if taint.is_empty() {
        return None;
    }
    // A value tied to no one masked column (a whole row, an alias past a `*`) is labelled
    // `derived`, the same every time (not whichever column a map yields first).
    let any_rule = masker.rule_for("derived").or_else(|| rules.iter().min_by(|a, b| a.0.cmp(b.0)).map(|(_, r)| r.clone()))?;
    // The masked columns of the relations the statement reads, schema-qualified where the
    // gateway resolved the name (the map holds each spelling and its resolved names).
    let read: Vec<(String, String)> = {
        let mut v: Vec<(String, String)> = Vec::new();
        for (_, rel) in &d.relations {
            let base = rel.rsplit('.').next().unwrap_or(rel);
            for (t, cols) in masked.iter().filter(|(t, _)| t.as_str() == rel || t.rsplit('.').next() == Some(base)) {
                for c in cols.iter() {
                    let qualified = if t.contains('.') { t.clone() } else { masked.keys().find(|k| k.contains('.') && k.rsplit('.').next() == Some(t.as_str())).cloned().unwrap_or_else(|| t.clone()) };
                    let entry = (c.name.clone(), format!("{qualified}.{}", c.name));
                    if !v.contains(&entry) {
                        v.push(entry);
                    }
                }
            }
        }
        v
    };
    let sources_of = |columns: &[String]| -> Vec<String> {
        let named: Vec<String> = read.iter().filter(|(c, _)| columns.contains(c)).map(|(_, q)| q.clone()).collect();
        if named.is_empty() { read.iter().map(|(_, q)| q.clone()).collect() } else { named }
    };
    let rule_of = |refs: &hoop_core::action::lineage::Refs| refs.columns.iter().find_map(|c| rules.get(c).cloned()).unwrap_or_else(|| any_rule.clone());
    // Tokens are for a column's values as they are stored, so that equal values still join. A
    // value computed from one (`left(nid, 0) || 'guess'`, `greatest(nid, 'B7')`), or a column
    // that may hold other values than the stored ones (a subquery's, a CTE's, a set
    // operation's), is redacted instead: tokenised, it would be a token of text the caller
    // chose, equal to the stored value's exactly when the guess is right (red-team round 36).
    // Nor values the statement wrote itself (`INSERT … RETURNING nid`: a dictionary of tokens
    // of values the caller chose, red-team round 37).
    let passes_through = d.derived.is_empty() && !d.setops && !d.returns_written;
    let mut fallback = by_name(&taint, &rules, &any_rule);
    // Widths and costs follow the values of the columns a plan reads (compatibility round 4:
    // `EXPLAIN SELECT count(*) FROM customers` lost every cost).
    let plans = d.explains && d.explained.iter().any(|r| taint.reads(r));
    fallback.plans = plans;
    for p in &partial {
        fallback.by_name.remove(p);
    }
    let mut results = Vec::new();
    let mut certain = !unknown_rows;
    // Whether any result column reads a masked value (a sleep then times it).
    let mut reads_masked = false;
    for st in &d.statements {
        match st {
            Outputs::NoRows => {}
            Outputs::Unknown => certain = false,
            Outputs::Held if !matches!(held_runs, Some(Outputs::Rows(_))) => certain = false,
            Outputs::Held | Outputs::Rows(_) => {
                let outs = match (st, &held_runs) {
                    (Outputs::Rows(outs), _) | (Outputs::Held, Some(Outputs::Rows(outs))) => outs,
                    _ => continue,
                };
                // Positions before the first `*`, and after it when it is the only one.
                let mut lists: [Positions; 2] = Default::default();
                let mut stars = 0;
                for o in outs {
                    let Some((positional, sources)) = lists.get_mut(stars.min(1)) else { break };
                    match o {
                        // A partly-sensitive column read as it is keeps its content detectors.
                        Output::Expr { bare: Some(col), .. } if passes_through && partial.contains(col) => {
                            reads_masked = true;
                            positional.push(None);
                            sources.push(Vec::new());
                        }
                        Output::Expr { refs, bare, .. } => {
                            let tainted = taint.reads(refs);
                            reads_masked |= tainted;
                            let plain = passes_through && bare.is_some();
                            positional.push(tainted.then(|| if plain { rule_of(refs) } else { redacted(rule_of(refs)) }));
                            sources.push(if tainted { sources_of(&refs.columns) } else { Vec::new() });
                        }
                        Output::Star(_) => {
                            reads_masked = true;
                            stars += 1;
                        }
                    }
                }
                let [(positional, sources), (tail, tail_sources)] = lists;
                results.push(ResultMask {
                    positional,
                    tail: (stars == 1).then_some(tail),
                    by_name: fallback.by_name.clone(),
                    exact: stars == 0,
                    sources,
                    tail_sources,
                    every_label: fallback.every_label.clone(),
                    any: Some(any_rule.clone()),
                    tokens: passes_through,
                    plans,
                });
            }
        }
    }
    let filters = d.filters.iter().any(|r| taint.reads(r));
    // A sleep in a text that reads a masked value (in a result, a filter or what it stores):
    // which sleep runs, or for how long, spells the value out.
    let carries = d.stores.iter().chain(&d.sinks).any(|r| taint.reads(r)) || (d.sleeps && (reads_masked || filters || !certain));
    let mut tainted_calls: Vec<String> = d.calls.iter().filter(|(_, r)| taint.reads(r)).map(|(n, _)| n.clone()).collect();
    tainted_calls.sort_unstable();
    tainted_calls.dedup();
    Some(Arc::new(TextLineage { results: certain.then_some(results), fallback, carries, filters, tainted_calls }))
}

/// Masks by label: every tainted name, and the labels the server gives unnamed expressions.
fn by_name(taint: &Taint, rules: &HashMap<String, ColumnMask>, any: &ColumnMask) -> ResultMask {
    let mut by_name: HashMap<String, ColumnMask> = taint.columns.iter().map(|c| (c.clone(), rules.get(c).cloned().unwrap_or_else(|| any.clone()))).collect();
    by_name.entry("?column?".into()).or_insert_with(|| any.clone());
    // When anything may carry a masked value, a label hoop cannot tie to an expression is
    // masked too (red-team round 19: `TABLE customers UNION ALL SELECT …, translate(ssn, …)`
    // labelled the recoded value `city`, from the first branch's `*`).
    let every_label = taint.everything.then(|| any.clone());
    ResultMask { by_name, every_label, ..ResultMask::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_then_names() {
        let rule = ColumnMask { mode: hoop_core::mask::Mode::Redact, label: "email".into() };
        let m = ResultMask {
            positional: vec![None, Some(rule.clone())],
            by_name: HashMap::from([("e".to_string(), rule.clone())]),
            ..ResultMask::default()
        };
        assert_eq!(m.rule(0, 4, "id"), None);
        assert_eq!(m.rule(1, 4, "upper"), Some(rule.clone()));
        assert_eq!(m.rule(2, 4, "E"), Some(rule.clone()), "in a star: by label");
        assert_eq!(m.rule(3, 4, "city"), None);
        let every = ResultMask { every_label: Some(rule.clone()), ..m.clone() };
        assert_eq!(every.rule(3, 4, "city"), Some(rule.clone()), "when anything may carry a masked value, so may any label");
        let exact = ResultMask { exact: true, ..m.clone() };
        assert_eq!(exact.rule(0, 2, "e"), None, "a known position is not overridden by its label");
        let any = ResultMask { exact: true, any: Some(rule.clone()), ..m.clone() };
        assert_eq!(any.rule(0, 3, "id"), Some(rule.clone()), "the server sent columns the text does not have: none is known");
        // `SELECT id, e, u.*, translate(…) AS city, 1 AS k`: after the only star, by position
        // from the end.
        let tail = ResultMask { tail: Some(vec![Some(rule.clone()), None]), tail_sources: vec![vec!["t.email".into()], vec![]], any: Some(rule.clone()), ..m };
        assert_eq!(tail.rule(5, 7, "city"), Some(rule.clone()), "the label does not matter");
        assert_eq!(tail.sources(5, 7), ["t.email".to_string()]);
        assert_eq!(tail.rule(6, 7, "e"), None, "nor here");
        assert_eq!(tail.rule(4, 7, "e"), Some(rule.clone()), "a star's column: by label");
        assert_eq!(tail.rule(2, 4, "zz"), Some(rule.clone()), "a star of no columns");
        assert_eq!(tail.rule(3, 4, "k"), None);
        assert_eq!(tail.rule(2, 3, "k"), Some(rule), "fewer columns than the text has");
    }
}
