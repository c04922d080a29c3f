//! Where a Postgres `DataRow` is masked: column plans from RowDescription, cells through the masker.

use crate::catalog::Catalog;
use crate::frame::Frame;
use crate::lineage::ResultMask;
use crate::proto::{self, Field};
use hoop_core::mask::{ColumnMask, ColumnRef, Detector, Masked, Masker, Mode, ValueKind};
use hoop_core::usage::MaskedBy;
use crate::binary::TypeShape;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// How one result column is masked.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    /// Column label.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Value kind, for valid replacements.
    pub kind: ValueKind,
    /// 0 text, 1 binary.
    pub format: i16,
    /// Whole-value rule, if the column is configured.
    pub rule: Option<ColumnMask>,
    /// What its masked values count under in usage: `schema.table.column` when the server
    /// names its table; for a derived value, the masked source columns lineage says it reads
    /// (each counts it), else the rule's label.
    pub sources: Vec<String>,
    /// How the content detectors apply to its cells.
    pub scan: Scan,
    /// The length in characters its text values have at most (`varchar(n)`), and whether they
    /// are padded to it (`char(n)`): a masked value is cut (and padded) to fit.
    pub fits: Option<(usize, bool)>,
}

/// How the content detectors apply to a column's cells, by type and format. A value must not
/// slip past the net because of the type it is stored as or the format the client asked for
/// (red-team round 20: card numbers in `bigint` columns, addresses in `tsvector`s and in
/// binary `text[]` came back in clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Not at all: no value of the type can hold a match (small numbers, dates, binary
    /// fixed-width values).
    Skip,
    /// A match is replaced where it is: the value is text (in text format, or a type whose
    /// binary form is its text).
    InPlace,
    /// A match anywhere in the cell replaces the whole cell with a valid stand-in: a
    /// replacement inside would not parse (a number's digits, a binary array's or record's
    /// inner length words).
    Whole,
    /// A binary value that can hold a `bigint` or `numeric` (one, or an array, range,
    /// multirange, record or domain of them), whose digits are not its bytes: its numbers are
    /// read out ([`crate::binary`]), and a match in them, or in its bytes, replaces the whole
    /// cell.
    Decode,
    /// A `bytea` in text format (`\x` and hex digits), whose bytes are not its text: they are
    /// decoded, and a match in them replaces the whole cell (red-team round 24: addresses kept
    /// as bytes left as `\x616461…`, one decode away).
    Hex,
}

/// How the detectors apply to a column of type `oid` (value kind `kind`) sent in `format`;
/// `types` are the user-defined types the catalog described.
pub fn scan_of(kind: ValueKind, format: i16, oid: u32, types: &HashMap<u32, TypeShape>) -> Scan {
    // bigint and numeric hold card numbers; smaller integers cannot (13 digits or more).
    let long_number = matches!(oid, 20 | 1700);
    match (format, kind) {
        (0, _) if oid == crate::binary::BYTEA => Scan::Hex,
        (0, _) if matches!(oid, crate::binary::FLOAT8 | crate::binary::MONEY) => Scan::Decode,
        (0, ValueKind::Text | ValueKind::Json | ValueKind::Other) => Scan::InPlace,
        (0, ValueKind::Integer | ValueKind::Numeric) if long_number => Scan::Whole,
        (0, _) => Scan::Skip,
        _ if BINARY_AS_TEXT.contains(&oid) || oid == 3802 => Scan::InPlace,
        _ if crate::binary::holds_numbers(oid, types) => Scan::Decode,
        (_, ValueKind::Text | ValueKind::Json | ValueKind::Other) => Scan::Whole,
        _ => Scan::Skip,
    }
}

/// Values masked in one result so far, by what masked them: a result column's rule, or a
/// content detector. Drained into usage at the result's checkpoints and end.
#[derive(Debug, Clone, Default)]
pub struct MaskTally {
    columns: Vec<u64>,
    detectors: [u64; Detector::ALL.len()],
    /// The first detector that matched in each result column, by index.
    hits: Vec<Option<&'static str>>,
}

impl MaskTally {
    fn column(&mut self, i: usize) {
        if self.columns.len() <= i {
            self.columns.resize(i + 1, 0);
        }
        if let Some(c) = self.columns.get_mut(i) {
            *c += 1;
        }
    }

    fn detector(&mut self, d: Detector) {
        if let Some(c) = self.detectors.get_mut(d.index()) {
            *c += 1;
        }
    }

    /// A detector matched in result column `i`.
    fn hit(&mut self, i: usize, d: Detector) {
        if self.hits.len() <= i {
            self.hits.resize(i + 1, None);
        }
        if let Some(h) = self.hits.get_mut(i) {
            h.get_or_insert(d.label());
        }
    }

    /// The table columns (`schema`, `table`, `column`) of `plan` read as they are in which a
    /// detector matched, with its label; forgotten once taken. Discovery learns from them
    /// what its sample missed ([`crate::discover::Discovery::promote`]).
    pub fn take_hits(&mut self, plan: Option<&RowPlan>) -> Vec<(String, String, String, &'static str)> {
        let Some(plan) = plan else { return Vec::new() };
        std::mem::take(&mut self.hits)
            .into_iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let (label, col) = (h?, plan.columns.get(i)?);
                let [source] = col.sources.as_slice() else { return None };
                let mut parts = source.splitn(4, '.');
                let (schema, table, column) = (parts.next()?, parts.next()?, parts.next()?);
                // A name with a dot in it cannot be told apart; a ruled column is masked already.
                (parts.next().is_none() && col.rule.is_none() && !schema.is_empty()).then(|| (schema.to_string(), table.to_string(), column.to_string(), label))
            })
            .collect()
    }

    /// The counts so far by column source and detector label (columns of one source summed),
    /// leaving the tally empty.
    pub fn drain(&mut self, plan: Option<&RowPlan>) -> Vec<(MaskedBy, u64)> {
        let mut out: Vec<(MaskedBy, u64)> = Vec::new();
        for (i, n) in self.columns.drain(..).enumerate().filter(|(_, n)| *n > 0) {
            let Some(col) = plan.and_then(|p| p.columns.get(i)) else { continue };
            for source in &col.sources {
                match out.iter_mut().find(|(by, _)| matches!(by, MaskedBy::Column(s) if s == source)) {
                    Some((_, total)) => *total += n,
                    None => out.push((MaskedBy::Column(source.clone()), n)),
                }
            }
        }
        for (d, n) in Detector::ALL.iter().zip(self.detectors.iter_mut()) {
            if *n > 0 {
                out.push((MaskedBy::Detector(d.label()), std::mem::take(n)));
            }
        }
        out
    }
}

/// How every column of one result is masked.
#[derive(Debug, Clone, Default)]
pub struct RowPlan {
    /// Columns in order.
    pub columns: Vec<ColumnPlan>,
    /// The result is a plan (`EXPLAIN`) of what reads a masked column: its widths and costs are hidden
    /// (see [`crate::explain`]).
    pub sizes_hidden: bool,
    /// The user-defined types the catalog described, for reading binary values.
    pub types: Arc<HashMap<u32, TypeShape>>,
}

/// The value kind of a type OID.
pub fn kind_of(oid: u32) -> ValueKind {
    match oid {
        25 | 1043 | 1042 | 19 | 18 | 142 | 1009 | 1015 | 1003 | 1014 => ValueKind::Text,
        114 | 3802 => ValueKind::Json,
        2950 => ValueKind::Uuid,
        1082 => ValueKind::Date,
        1114 | 1184 => ValueKind::Timestamp,
        1083 | 1266 => ValueKind::Time,
        20 | 21 | 23 | 26 => ValueKind::Integer,
        700 | 701 | 1700 => ValueKind::Numeric,
        16 => ValueKind::Bool,
        // User-defined types (citext, enums, domains) print as text.
        o if o >= 16384 => ValueKind::Text,
        _ => ValueKind::Other,
    }
}

impl RowPlan {
    /// Builds the plan for `fields`, with `formats` from Bind overriding theirs when given, and
    /// `lineage` masking whole the columns derived from masked ones.
    pub async fn build(fields: &[Field], formats: Option<&[i16]>, target: &str, masker: &Masker, catalog: &Catalog, lineage: Option<&ResultMask>) -> RowPlan {
        let oids: Vec<u32> = fields.iter().map(|f| f.table_oid).filter(|o| *o != 0).collect();
        // A catalog failure leaves tables unnamed: content detectors still apply, and rules
        // that name bare column labels still match below.
        let _ = catalog.load(&oids).await;
        // User-defined types in binary may be built on numbers (a domain over bigint); what the
        // catalog cannot say holds nothing.
        // In text too: a masked composite, array or range is NULL, as a record is (see below).
        let user: Vec<u32> = fields.iter().filter(|f| f.type_oid >= 16384).map(|f| f.type_oid).collect();
        if !user.is_empty() {
            let _ = catalog.load_types(&user).await;
        }
        let types = if user.is_empty() { Arc::default() } else { catalog.type_shapes() };
        let columns = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let info = (f.table_oid != 0).then(|| catalog.get(f.table_oid)).flatten();
                let (schema, table, column) = match &info {
                    Some(t) => (
                        t.schema.as_str(),
                        t.table.as_str(),
                        t.columns.get(&f.column).map(String::as_str).unwrap_or(f.name.as_str()),
                    ),
                    None => ("", "", f.name.as_str()),
                };
                let by_lineage = || lineage.and_then(|l| l.rule(i, fields.len(), &f.name));
                let rule = match masker.column_rule(&ColumnRef { target, schema, table, column }) {
                    // A token only for a stored value passed through as it is, from a relation
                    // that is not the caller's own (red-team round 37: `INSERT … RETURNING nid`
                    // and a temporary table named like the tokenised one tokenised values the
                    // caller chose, a dictionary of the stored values' tokens).
                    Some(r) if r.mode == Mode::Tokenise => {
                        let stored = !schema.starts_with("pg_temp") && lineage.is_some_and(|l| l.tokens()) && by_lineage().is_none_or(|l| l.mode == Mode::Tokenise);
                        Some(if stored { r } else { ColumnMask { mode: Mode::Redact, ..r } })
                    }
                    Some(r) => Some(r),
                    None => by_lineage(),
                };
                let derived_from = lineage.map(|l| l.sources(i, fields.len())).unwrap_or_default();
                let sources = match (&info, &rule) {
                    (Some(_), _) => vec![format!("{schema}.{table}.{column}")],
                    (None, _) if !derived_from.is_empty() => derived_from.to_vec(),
                    (None, Some(r)) => vec![r.label.clone()],
                    (None, None) => vec![f.name.clone()],
                };
                let (kind, format) = (kind_of(f.type_oid), formats.map_or(f.format, |fm| proto::format_at(fm, i)));
                // A user-defined composite, array or range masked whole has no text stand-in
                // (compatibility round 4: `[REDACTED:derived]` for a row of `customers` broke
                // psycopg's reading of the registered type, and the whole fetch): NULL, as for
                // an anonymous record.
                let kind = match (types.get(&f.type_oid), &rule) {
                    (Some(TypeShape::Record | TypeShape::Array | TypeShape::Range(_) | TypeShape::Multirange(_)), Some(_)) => ValueKind::Other,
                    _ => kind,
                };
                // (Compatibility round 4: `[REDACTED:email]` in a `varchar(12)` broke clients that
                // size buffers or validate by the declared length.)
                let fits = match (format, f.type_oid) {
                    (0, 1043 | 1042) if f.modifier >= 4 => Some(((f.modifier - 4) as usize, f.type_oid == 1042)),
                    _ => None,
                };
                ColumnPlan { name: f.name.clone(), type_oid: f.type_oid, kind, format, rule, sources, scan: scan_of(kind, format, f.type_oid, &types), fits }
            })
            .collect();
        let sizes_hidden = lineage.is_some_and(ResultMask::plans) && matches!(fields, [f] if f.name == crate::explain::PLAN_COLUMN);
        RowPlan { columns, types, sizes_hidden }
    }

    /// Whether no cell of this shape can change.
    pub fn is_noop(&self, masker: &Masker) -> bool {
        !masker.is_enabled() || (!self.sizes_hidden && self.columns.iter().all(|c| c.rule.is_none() && c.scan == Scan::Skip))
    }
}

/// Masks one cell of `plan` (or by content only when the shape is unknown).
fn mask_cell<'a>(masker: &Masker, col: Option<&ColumnPlan>, v: &'a [u8]) -> Masked<'a> {
    let Some(c) = col else { return Masked::Value(masker.mask_bytes(v)) };
    if c.format == 0 {
        return match masker.mask_value(c.rule.as_ref(), c.kind, v) {
            // A text array masked whole is NULL, as every other array is: the marker is no
            // array literal (`[` starts its dimensions), and a driver failed to read the row
            // (red-team Postgres round 106, psycopg: "malformed array").
            Masked::Value(_) if c.rule.is_some() && TEXT_ARRAYS.contains(&c.type_oid) => Masked::Null,
            m => m,
        };
    }
    // Binary format: text-like values are their UTF-8 bytes (jsonb has a version byte first).
    match (c.kind, c.type_oid) {
        (ValueKind::Json, 3802) if c.rule.is_none() => match v.split_first() {
            Some((ver, rest)) => match masker.mask_value(None, ValueKind::Json, rest) {
                Masked::Value(Cow::Borrowed(_)) => Masked::Value(Cow::Borrowed(v)),
                Masked::Value(m) => Masked::Value(Cow::Owned([&[*ver], &m[..]].concat())),
                Masked::Null => Masked::Null,
            },
            None => Masked::Value(Cow::Borrowed(v)),
        },
        (ValueKind::Text | ValueKind::Json, oid) if BINARY_AS_TEXT.contains(&oid) => masker.mask_value(c.rule.as_ref(), ValueKind::Text, v),
        _ => match &c.rule {
            None => Masked::Value(Cow::Borrowed(v)),
            Some(_) => binary_stand_in(c.type_oid),
        },
    }
}

/// Types whose binary form is their text's UTF-8 bytes (text, varchar, bpchar, name, json,
/// xml): a replacement text is a valid value of them. Any other type in binary (a record, a
/// composite, an array, a domain hoop cannot see through, `"char"`, whose binary form is one
/// byte: red-team round 97 got a 14-byte marker) gets [`binary_stand_in`], so that the client
/// can still decode the row.
const BINARY_AS_TEXT: &[u32] = &[25, 1043, 1042, 19, 114, 142];

/// Arrays of text types (`text[]`, `varchar[]`, `name[]`, `bpchar[]`) that are read as text
/// for the content detectors.
const TEXT_ARRAYS: &[u32] = &[1009, 1015, 1003, 1014];

/// A valid binary value for a masked column of a fixed-width type, else NULL.
fn binary_stand_in(oid: u32) -> Masked<'static> {
    let zeros = |n: usize| Masked::Value(Cow::Owned(vec![0u8; n]));
    match oid {
        16 | 18 => zeros(1),
        21 => zeros(2),
        23 | 26 | 1082 | 700 => zeros(4),
        20 | 1114 | 1184 | 1083 | 701 => zeros(8),
        2950 => zeros(16),
        _ => Masked::Null,
    }
}

/// The first detector that matches in any of `forms` (what a value holds, decoded).
fn first_detector(masker: &Masker, forms: &[Vec<u8>]) -> Option<Detector> {
    forms.iter().find_map(|f| {
        let mut first = None;
        masker.scan(f, |h| {
            first.get_or_insert(h.detector);
        });
        first
    })
}

/// Masks a `DataRow`; `None` when nothing changed (forward the original bytes).
///
/// The row is scanned by the content detectors in one pass over its whole body; a match that
/// does not lie within one cell (a length word's low byte, right before its cell, can be a
/// character a pattern takes: `.` is 46, `A` is 65) is dropped and the cells it overlaps are
/// scanned again on their own. Hits outside text-like cells are ignored. Only cells with a hit or a column rule are rewritten.
/// The masked row (if anything changed) and how many values were masked in it; `tally`
/// counts them by column and detector.
pub fn mask_row(masker: &Masker, plan: Option<&RowPlan>, body: &[u8], tally: &mut MaskTally) -> Result<Option<(Frame, u32)>, ()> {
    if !masker.is_enabled() || plan.is_some_and(|p| p.is_noop(masker)) {
        return Ok(None);
    }
    if plan.is_some_and(|p| p.sizes_hidden)
        && let Some(hidden) = plan_sizes_hidden(body)?
    {
        let masked = mask_cells(masker, plan, &hidden, tally)?;
        return Ok(Some(masked.unwrap_or_else(|| (Frame { tag: b'D', body: hidden.into() }, 0))));
    }
    mask_cells(masker, plan, body, tally)
}

/// A plan's row (one cell) with its widths and costs hidden (see [`crate::explain`]); `None` when it
/// shows none.
fn plan_sizes_hidden(body: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    let cells = cell_spans(body).ok_or(())?;
    let [(_, Some((s, e)))] = cells.as_slice() else { return Ok(None) };
    let Some(hidden) = body.get(*s..*e).and_then(crate::explain::sizes_hidden) else { return Ok(None) };
    let mut out = Vec::with_capacity(hidden.len() + 6);
    out.extend_from_slice(&1i16.to_be_bytes());
    push_cell(&mut out, &hidden);
    Ok(Some(out))
}

/// [`mask_row`] once a plan's widths are hidden: the cells masked by rule and content.
fn mask_cells(masker: &Masker, plan: Option<&RowPlan>, body: &[u8], tally: &mut MaskTally) -> Result<Option<(Frame, u32)>, ()> {
    let cells = cell_spans(body).ok_or(())?;
    let scan = |i: usize| match plan {
        None => Scan::InPlace,
        Some(p) => p.columns.get(i).map_or(Scan::Skip, |c| c.scan),
    };
    let ruled = |i: usize| plan.and_then(|p| p.columns.get(i)).is_some_and(|c| c.rule.is_some());
    let mut hits = Vec::new();
    masker.scan(body, |h| hits.push(h));
    let within = |h: &hoop_core::mask::Hit, (s, e): (usize, usize)| h.start >= s && h.end <= e;
    if hits.iter().any(|h| !cells.iter().any(|c| c.1.is_some_and(|span| within(h, span)))) {
        let across: Vec<hoop_core::mask::Hit> = hits.iter().copied().filter(|h| !cells.iter().any(|c| c.1.is_some_and(|span| within(h, span)))).collect();
        hits.retain(|h| cells.iter().any(|c| c.1.is_some_and(|span| within(h, span))));
        for (s, e) in cells.iter().filter_map(|c| c.1) {
            if across.iter().any(|h| h.start < e && h.end > s) {
                hits.retain(|h| !within(h, (s, e)));
                masker.scan(body.get(s..e).unwrap_or_default(), |h| hits.push(hoop_core::mask::Hit { start: h.start + s, end: h.end + s, from: h.from + s, ..h }));
            }
        }
        hits.sort_by_key(|h| h.start);
    }
    let mut cell_of_hit = hits.iter().map(|h| cells.iter().position(|c| c.1.is_some_and(|(s, e)| h.start >= s && h.end <= e)));
    let any_text_hit = cell_of_hit.any(|c| c.is_some_and(|i| matches!(scan(i), Scan::InPlace | Scan::Whole) && !ruled(i)));
    let any_rule = (0..cells.len()).any(ruled);
    let any_digits = (0..cells.len()).any(|i| matches!(scan(i), Scan::Decode | Scan::Hex) && !ruled(i));
    let holds_hex = |(s, e): (usize, usize)| body.get(s..e).is_some_and(|v| v.windows(2).any(|w| w == b"\\x"));
    let any_hex = body.contains(&b'\\') && cells.iter().enumerate().any(|(i, (_, span))| scan(i) == Scan::InPlace && !ruled(i) && span.is_some_and(holds_hex));
    if !any_text_hit && !any_rule && !any_digits && !any_hex {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(body.len() + 32);
    out.extend_from_slice(&(cells.len() as i16).to_be_bytes());
    let mut hit_iter = hits.iter().peekable();
    let mut values = 0u32;
    for (i, (_, span)) in cells.iter().enumerate() {
        let Some((s, e)) = *span else {
            // A masked column's NULL is masked too: whether a value derived from a masked one
            // is NULL (`CASE WHEN <bit of email> THEN 1 END`) is a bit of it. Not counted as
            // a value read.
            let col = plan.and_then(|p| p.columns.get(i)).filter(|_| ruled(i));
            match col.map(|c| mask_cell(masker, Some(c), b"")) {
                Some(Masked::Value(v)) => push_cell(&mut out, &v),
                Some(Masked::Null) | None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            continue;
        };
        let value = body.get(s..e).unwrap_or_default();
        // Hits before this cell belong to earlier (non-text) cells.
        while hit_iter.peek().is_some_and(|h| h.start < s) {
            hit_iter.next();
        }
        if ruled(i) {
            values += 1;
            tally.column(i);
            let col = plan.and_then(|p| p.columns.get(i));
            match mask_cell(masker, col, value) {
                Masked::Value(v) => push_cell(&mut out, &fitted(col, &v)),
                Masked::Null => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            continue;
        }
        let col = plan.and_then(|p| p.columns.get(i));
        let in_bytes = |c| hit_iter.clone().peek().filter(|h| h.end <= e).map(|h| (h.detector, c));
        let whole = match (scan(i), col, plan) {
            (Scan::Whole, Some(c), _) => in_bytes(c),
            (Scan::Decode, Some(c), Some(p)) => in_bytes(c).or_else(|| {
                let forms = match c.format {
                    0 => crate::binary::text_forms(c.type_oid, value),
                    _ => crate::binary::numbers_in(c.type_oid, value, &p.types).into_iter().map(String::into_bytes).collect(),
                };
                first_detector(masker, &forms).map(|d| (d, c))
            }),
            // Bytes quoted inside an array's or a record's text (`{"\\x6164…"}`): looked at
            // decoded; a match masks the whole cell.
            (Scan::InPlace, Some(c), _) if holds_hex((s, e)) => first_detector(masker, &crate::binary::text_forms(c.type_oid, value)).map(|d| (d, c)),
            // The escape form (`bytea_output = escape`) shows printable bytes as themselves.
            (Scan::Hex, Some(c), _) => in_bytes(c).or_else(|| first_detector(masker, &crate::binary::text_forms(c.type_oid, value)).map(|d| (d, c))),
            _ => None,
        };
        if let Some((detector, c)) = whole {
            values += 1;
            tally.detector(detector);
            tally.hit(i, detector);
            let stand_in = if c.format == 0 {
                masker.mask_value(masker.rule_for(detector.label()).as_ref(), c.kind, value)
            } else {
                binary_stand_in(c.type_oid)
            };
            match stand_in {
                Masked::Value(v) => push_cell(&mut out, &fitted(Some(c), &v)),
                Masked::Null => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            while hit_iter.peek().is_some_and(|h| h.end <= e) {
                hit_iter.next();
            }
            continue;
        }
        let mut masked: Option<Vec<u8>> = None;
        let mut last = s;
        while let Some(h) = hit_iter.peek().filter(|h| h.end <= e) {
            if scan(i) == Scan::InPlace {
                let m = masked.get_or_insert_with(|| Vec::with_capacity(value.len() + 16));
                m.extend_from_slice(body.get(last..h.start).unwrap_or_default());
                masker.write_replacement(h, body.get(h.start..h.end).unwrap_or_default(), m);
                last = h.end;
                values += 1;
                tally.detector(h.detector);
                tally.hit(i, h.detector);
            }
            hit_iter.next();
        }
        match masked {
            Some(mut m) => {
                m.extend_from_slice(body.get(last..e).unwrap_or_default());
                push_cell(&mut out, &fitted(col, &m));
            }
            None => push_cell(&mut out, value),
        }
    }
    Ok(Some((Frame { tag: b'D', body: out.into() }, values)))
}

/// A masked text value cut to the characters its column's type holds, and padded with
/// spaces for `char(n)`, as the server would send a value of that type.
fn fitted<'a>(col: Option<&ColumnPlan>, v: &'a [u8]) -> Cow<'a, [u8]> {
    let Some((n, pad)) = col.and_then(|c| c.fits) else { return Cow::Borrowed(v) };
    let Ok(text) = std::str::from_utf8(v) else { return Cow::Borrowed(v) };
    let chars = text.chars().count();
    if chars == n || (chars < n && !pad) {
        return Cow::Borrowed(v);
    }
    let cut = text.char_indices().nth(n).map_or(text.len(), |(at, _)| at);
    let mut out = text.get(..cut).unwrap_or(text).as_bytes().to_vec();
    out.resize(out.len() + n.saturating_sub(chars), b' ');
    Cow::Owned(out)
}

fn push_cell(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
    out.extend_from_slice(v);
}

/// A cell: offset of its length word, and its value's span (`None` for NULL).
type CellSpan = (usize, Option<(usize, usize)>);

/// `(length-word offset, value span)` of each cell of a `DataRow` body; `None` span for NULL.
fn cell_spans(body: &[u8]) -> Option<Vec<CellSpan>> {
    let n = i16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let mut pos = 2usize;
    let mut out = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n {
        let len = i32::from_be_bytes(body.get(pos..pos + 4)?.try_into().ok()?);
        let start = pos + 4;
        if len < 0 {
            out.push((pos, None));
            pos = start;
        } else {
            let end = start.checked_add(len as usize)?;
            if end > body.len() {
                return None;
            }
            out.push((pos, Some((start, end))));
            pos = end;
        }
    }
    Some(out)
}

/// Masks the text of error, notice and notification fields in place.
pub fn mask_fields(masker: &Masker, fields: &mut [(u8, String)]) -> bool {
    let mut changed = false;
    for (t, v) in fields.iter_mut() {
        // Message, detail, hint, where, and the internal query.
        if matches!(t, b'M' | b'D' | b'H' | b'W' | b'q')
            && let Cow::Owned(m) = masker.mask_text(v) {
                *v = m;
                changed = true;
            }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<u8> {
        let mut b = (cells.len() as i16).to_be_bytes().to_vec();
        for c in cells {
            b.extend_from_slice(&(c.len() as i32).to_be_bytes());
            b.extend_from_slice(c.as_bytes());
        }
        b
    }

    /// Found by the thirteenth red-team round: a masked whole-row value asked for in binary came
    /// back as the replacement's text, which no client can decode as a record. Only types
    /// whose binary form is text get text; the others a stand-in or NULL.
    #[test]
    fn masked_binary_values_stay_decodable() {
        let masker = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let rule = Some(ColumnMask { mode: hoop_core::mask::Mode::Redact, label: "derived".into() });
        let col = |type_oid: u32, kind: ValueKind| ColumnPlan { name: "c".into(), type_oid, kind, format: 1, rule: rule.clone(), sources: Vec::new(), scan: scan_of(kind, 1, type_oid, &HashMap::new()), fits: None };
        for (oid, kind) in [(2249, ValueKind::Text), (16_500, ValueKind::Text), (1009, ValueKind::Text), (3802, ValueKind::Json), (17, ValueKind::Text)] {
            assert!(matches!(mask_cell(&masker, Some(&col(oid, kind)), b"\x00\x00\x00\x01ann@corp.example"), Masked::Null), "{oid}");
        }
        assert!(matches!(mask_cell(&masker, Some(&col(23, ValueKind::Text)), &[0, 0, 0, 7]), Masked::Value(v) if v.as_ref() == [0, 0, 0, 0]));
        // `"char"` is one byte in binary, whatever masks it.
        assert!(matches!(mask_cell(&masker, Some(&col(18, ValueKind::Text)), b"6"), Masked::Value(v) if v.len() == 1));
        match mask_cell(&masker, Some(&col(25, ValueKind::Text)), b"ann@corp.example") {
            Masked::Value(v) => assert!(!String::from_utf8_lossy(&v).contains("ann@"), "{v:?}"),
            Masked::Null => panic!("text gets a replacement text"),
        }
    }

    /// Found by the fourth red-team round: a cell of 46 bytes has `.` as its length word's low
    /// byte, and an address at the cell's start was matched from there, across the edge, and
    /// dropped. Every length whose low byte a pattern takes, with the address first.
    #[test]
    fn a_match_from_the_length_word_is_found_in_its_cell() {
        let masker = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        for len in 20..=200usize {
            let mut v = "ewd@example.nl 4111 1111 1111 1111 123-45-6789 ".to_string();
            v.truncate(len.min(v.len()));
            while v.len() < len {
                v.push('x');
            }
            for cells in [vec![v.as_str()], vec!["id", v.as_str()], vec![v.as_str(), v.as_str()]] {
                let body = row(&cells);
                let masked = mask_row(&masker, None, &body, &mut MaskTally::default()).unwrap().map(|(f, _)| f.body.to_vec()).unwrap_or(body);
                let text = String::from_utf8_lossy(&masked);
                assert!(!text.contains("ewd@") && !text.contains("4111 1111 1111 1111") && !text.contains("45-6789"), "{len}: {text}");
            }
        }
    }

    /// Found by the twentieth red-team round: card numbers stored as `bigint` or `numeric`, and
    /// addresses in a `tsvector` or a binary `text[]`, passed the detectors, which read only
    /// text. Each type is read as it can hold a match, and replaced so the client can decode it.
    #[test]
    fn detectors_read_numbers_documents_and_binary_arrays() {
        let masker = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let plan = |cols: &[(u32, i16)]| RowPlan {
            types: Arc::default(),
            sizes_hidden: false,
            columns: cols
                .iter()
                .map(|&(oid, format)| {
                    let kind = kind_of(oid);
                    ColumnPlan { name: "c".into(), type_oid: oid, kind, format, rule: None, sources: Vec::new(), scan: scan_of(kind, format, oid, &HashMap::new()), fits: None }
                })
                .collect(),
        };
        let cells = |body: &[u8]| -> Vec<Option<Vec<u8>>> {
            cell_spans(body).unwrap().into_iter().map(|(_, span)| span.map(|(s, e)| body[s..e].to_vec())).collect()
        };
        let masked = |p: &RowPlan, row: Vec<u8>| mask_row(&masker, Some(p), &row, &mut MaskTally::default()).unwrap().map(|(f, n)| (cells(&f.body), n));
        // Text format: bigint, numeric, a tsvector.
        let p = plan(&[(20, 0), (1700, 0), (3614, 0), (23, 0)]);
        assert!(!p.is_noop(&masker));
        let (got, n) = masked(&p, row(&["4111111111111111", "5500000000000004", "'ann@corp.example':2 'mail':1", "7"])).unwrap();
        assert_eq!(n, 3);
        assert_eq!(got[0].as_deref(), Some(&b"0"[..]));
        assert_eq!(got[1].as_deref(), Some(&b"0"[..]));
        assert!(!String::from_utf8_lossy(got[2].as_ref().unwrap()).contains("ann@"));
        assert_eq!(got[3].as_deref(), Some(&b"7"[..]));
        assert!(masked(&p, row(&["12", "3.5", "'mail':1", "7"])).is_none(), "nothing to mask");
        assert!(plan(&[(23, 0), (1082, 0)]).is_noop(&masker), "small numbers and dates are never scanned");
        // Binary format: bigint and numeric read as digits; a text[] with an address.
        let mut body = 3i16.to_be_bytes().to_vec();
        let mut cell = |v: &[u8]| {
            body.extend_from_slice(&(v.len() as i32).to_be_bytes());
            body.extend_from_slice(v);
        };
        cell(&4111111111111111i64.to_be_bytes());
        let numeric: Vec<u8> = [4i16, 3, 0, 0, 4111, 1111, 1111, 1111].iter().flat_map(|w| w.to_be_bytes()).collect();
        cell(&numeric);
        let mut arr = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, 1, 0, 0, 0, 1];
        arr.extend_from_slice(&16i32.to_be_bytes());
        arr.extend_from_slice(b"ann@corp.example");
        cell(&arr);
        let p = plan(&[(20, 1), (1700, 1), (1009, 1)]);
        let (got, n) = masked(&p, body).unwrap();
        assert_eq!(n, 3);
        assert_eq!(got, [Some(vec![0; 8]), None, None]);
    }
}
