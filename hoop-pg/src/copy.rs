//! Where `COPY ... TO STDOUT` rows are masked: by column for text and CSV, by content always.

use hoop_core::mask::{ColumnMask, Masked, Masker, ValueKind};
use std::borrow::Cow;

/// How the rows of one COPY are masked.
#[derive(Debug, Clone, Default)]
pub struct CopyPlan {
    /// CSV (else text).
    pub csv: bool,
    /// Binary format: passed as is (refused up front when columns are masked).
    pub binary: bool,
    /// Rule and kind per column position, when the columns are known.
    pub columns: Vec<(Option<ColumnMask>, ValueKind)>,
    /// The rule for every field past `columns`: set when the COPY reads masked columns at
    /// positions hoop cannot tell (a query, a custom delimiter), so that every field is
    /// masked whole rather than left to the content detectors.
    pub rest: Option<ColumnMask>,
}

/// Masks one COPY row (one CopyData message): the masked row (`None` when unchanged) and how
/// many values were masked in it (fields masked whole, and a field's worth for a row the
/// content detectors changed).
pub fn mask_copy_row(masker: &Masker, plan: &CopyPlan, row: &[u8]) -> (Option<Vec<u8>>, u32) {
    if plan.binary || !masker.is_enabled() {
        return (None, 0);
    }
    let by_column = if plan.rest.is_some() || plan.columns.iter().any(|(r, _)| r.is_some()) { mask_columns(masker, plan, row) } else { None };
    let (base, whole): (Cow<'_, [u8]>, u32) = match &by_column {
        Some((v, n)) => (Cow::Borrowed(v.as_slice()), *n),
        None => (Cow::Borrowed(row), 0),
    };
    match masker.mask_bytes(&base) {
        Cow::Owned(v) => (Some(v), whole + 1),
        Cow::Borrowed(_) => (by_column.map(|(v, _)| v), whole),
    }
}

fn mask_columns(masker: &Masker, plan: &CopyPlan, row: &[u8]) -> Option<(Vec<u8>, u32)> {
    let spans = if plan.csv { csv_spans(row) } else { text_spans(row) };
    let mut out = Vec::with_capacity(row.len());
    let mut last = 0;
    let mut changed = 0u32;
    let mut rewritten = false;
    for (i, (start, end)) in spans.into_iter().enumerate() {
        let (rule, kind) = match (plan.columns.get(i), &plan.rest) {
            (Some((Some(rule), kind)), _) => (rule, *kind),
            (None, Some(rest)) => (rest, ValueKind::Text),
            _ => continue,
        };
        let field = row.get(start..end).unwrap_or_default();
        // A NULL is masked too (whether a derived value is NULL is a bit of what it derives
        // from), but is not a value read.
        let is_null = if plan.csv { field.is_empty() } else { field == b"\\N" };
        let replacement: Vec<u8> = match masker.mask_value(Some(rule), kind, field) {
            Masked::Value(v) => v.into_owned(),
            Masked::Null => if plan.csv { Vec::new() } else { b"\\N".to_vec() },
        };
        out.extend_from_slice(row.get(last..start).unwrap_or_default());
        out.extend_from_slice(&replacement);
        last = end;
        changed += u32::from(!is_null);
        rewritten = true;
    }
    if !rewritten {
        return None;
    }
    out.extend_from_slice(row.get(last..).unwrap_or_default());
    Some((out, changed))
}

/// The column list of `COPY table (a, "B") TO ...`, as the server reads the names (unquoted
/// ones in lowercase); `None` without one, or for `COPY (query)`.
pub fn column_list(text: &str) -> Option<Vec<String>> {
    let lower = text.to_ascii_lowercase();
    let to = lower.rfind(" to ")?;
    let open = text.get(..to)?.find('(')?;
    if lower.get(..open)?.trim_end().ends_with("copy") {
        return None;
    }
    let inner = text.get(open + 1..to)?.trim_end();
    let inner = inner.strip_suffix(')')?;
    let mut names = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut chars) = (false, inner.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => names.push(std::mem::take(&mut cur)),
            c if !quoted && c.is_whitespace() => {}
            c if !quoted => cur.extend(c.to_lowercase()),
            c => cur.push(c),
        }
    }
    names.push(cur);
    (!quoted && names.iter().all(|n| !n.is_empty())).then_some(names)
}

/// Field spans of a text-format row: tab-separated; escapes keep tabs out of values.
fn text_spans(row: &[u8]) -> Vec<(usize, usize)> {
    let end = row.len() - usize::from(row.last() == Some(&b'\n'));
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, b) in row.iter().enumerate().take(end) {
        if *b == b'\t' {
            spans.push((start, i));
            start = i + 1;
        }
    }
    spans.push((start, end));
    spans
}

/// Field spans of a CSV row (quotes included in the span).
fn csv_spans(row: &[u8]) -> Vec<(usize, usize)> {
    let mut end = row.len();
    while end > 0 && matches!(row.get(end - 1), Some(b'\n' | b'\r')) {
        end -= 1;
    }
    let mut spans = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, b) in row.iter().enumerate().take(end) {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                spans.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    spans.push((start, end));
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoop_core::mask::{MaskConfig, Mode};

    #[test]
    fn masks_by_column_and_content() {
        let m = Masker::new(&MaskConfig::default(), None).unwrap();
        let rule = ColumnMask { mode: Mode::Redact, label: "card".into() };
        let plan = CopyPlan { csv: false, binary: false, columns: vec![(None, ValueKind::Integer), (Some(rule.clone()), ValueKind::Text), (None, ValueKind::Text)], rest: None };
        let (out, n) = mask_copy_row(&m, &plan, b"1\t4111\tbob@x.example\n");
        assert_eq!((out.unwrap(), n), (b"1\t[REDACTED:card]\t[REDACTED:email]\n".to_vec(), 2));
        assert_eq!(mask_copy_row(&m, &plan, b"1\t\\N\tplain\n"), (Some(b"1\t[REDACTED:card]\tplain\n".to_vec()), 0));
        let csv = CopyPlan { csv: true, ..plan };
        let out = mask_copy_row(&m, &csv, b"1,\"a,b\",x\n").0.unwrap();
        assert_eq!(out, b"1,[REDACTED:card],x\n");
        // Positions unknown: every field whole, even one that hides from the detectors.
        let blind = CopyPlan { csv: false, binary: false, columns: Vec::new(), rest: Some(rule) };
        let (out, n) = mask_copy_row(&m, &blind, b"2retnuh\tuser1\\@example.com\n");
        assert_eq!((out.unwrap(), n), (b"[REDACTED:card]\t[REDACTED:card]\n".to_vec(), 2));
    }

    #[test]
    fn copy_column_lists_are_read() {
        assert_eq!(column_list(r#"COPY public.users (id, "ssnNumber", "Odd""Name") TO stdout;"#), Some(vec!["id".to_string(), "ssnNumber".into(), "Odd\"Name".into()]));
        assert_eq!(column_list("copy users to stdout"), None);
        assert_eq!(column_list("copy (select 1) to stdout"), None);
    }
}
