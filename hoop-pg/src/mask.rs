//! Where a Postgres `DataRow` is masked: column plans from RowDescription, cells through the masker.

use crate::catalog::Catalog;
use crate::frame::Frame;
use crate::proto::{self, Field};
use hoop_core::mask::{ColumnMask, ColumnRef, Masked, Masker, ValueKind};
use std::borrow::Cow;

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
}

/// How every column of one result is masked.
#[derive(Debug, Clone, Default)]
pub struct RowPlan {
    /// Columns in order.
    pub columns: Vec<ColumnPlan>,
}

/// The value kind of a type OID.
pub fn kind_of(oid: u32) -> ValueKind {
    match oid {
        25 | 1043 | 1042 | 19 | 18 | 142 | 1009 | 1015 => ValueKind::Text,
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
    /// Builds the plan for `fields`, with `formats` from Bind overriding theirs when given.
    pub async fn build(fields: &[Field], formats: Option<&[i16]>, target: &str, masker: &Masker, catalog: &Catalog) -> RowPlan {
        let oids: Vec<u32> = fields.iter().map(|f| f.table_oid).filter(|o| *o != 0).collect();
        // A catalog failure leaves tables unnamed: content detectors still apply, and rules
        // that name bare column labels still match below.
        let _ = catalog.load(&oids).await;
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
                let rule = masker.column_rule(&ColumnRef { target, schema, table, column });
                ColumnPlan {
                    name: f.name.clone(),
                    type_oid: f.type_oid,
                    kind: kind_of(f.type_oid),
                    format: formats.map_or(f.format, |fm| proto::format_at(fm, i)),
                    rule,
                }
            })
            .collect();
        RowPlan { columns }
    }

    /// Whether no cell of this shape can change.
    pub fn is_noop(&self, masker: &Masker) -> bool {
        !masker.is_enabled() || self.columns.iter().all(|c| c.rule.is_none() && !c.kind.is_text_like())
    }
}

/// Masks one cell of `plan` (or by content only when the shape is unknown).
fn mask_cell<'a>(masker: &Masker, col: Option<&ColumnPlan>, v: &'a [u8]) -> Masked<'a> {
    let Some(c) = col else { return Masked::Value(masker.mask_bytes(v)) };
    if c.format == 0 {
        return masker.mask_value(c.rule.as_ref(), c.kind, v);
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
        (ValueKind::Text | ValueKind::Json, oid) if oid != 3802 && oid != 1009 && oid != 1015 => {
            masker.mask_value(c.rule.as_ref(), ValueKind::Text, v)
        }
        _ => match &c.rule {
            None => Masked::Value(Cow::Borrowed(v)),
            Some(_) => binary_stand_in(c.type_oid),
        },
    }
}

/// A valid binary value for a masked column of a fixed-width type, else NULL.
fn binary_stand_in(oid: u32) -> Masked<'static> {
    let zeros = |n: usize| Masked::Value(Cow::Owned(vec![0u8; n]));
    match oid {
        16 => zeros(1),
        21 => zeros(2),
        23 | 26 | 1082 | 700 => zeros(4),
        20 | 1114 | 1184 | 1083 | 701 => zeros(8),
        2950 => zeros(16),
        _ => Masked::Null,
    }
}

/// Masks a `DataRow`; `None` when nothing changed (forward the original bytes).
pub fn mask_row(masker: &Masker, plan: Option<&RowPlan>, body: &[u8]) -> Result<Option<Frame>, ()> {
    if !masker.is_enabled() || plan.is_some_and(|p| p.is_noop(masker)) {
        return Ok(None);
    }
    let cells = proto::decode_data_row(body).ok_or(())?;
    let mut changed = false;
    let mut out: Vec<Option<Cow<'_, [u8]>>> = Vec::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        let col = plan.and_then(|p| p.columns.get(i));
        let m = match cell {
            None => None,
            Some(v) => match mask_cell(masker, col, v) {
                Masked::Value(Cow::Borrowed(b)) => Some(Cow::Borrowed(b)),
                Masked::Value(Cow::Owned(o)) => {
                    changed = true;
                    Some(Cow::Owned(o))
                }
                Masked::Null => {
                    changed = true;
                    None
                }
            },
        };
        out.push(m);
    }
    if !changed {
        return Ok(None);
    }
    Ok(Some(proto::encode_data_row(out.iter().map(|c| c.as_deref()), body.len())))
}

/// Masks the text of error, notice and notification fields in place.
pub fn mask_fields(masker: &Masker, fields: &mut [(u8, String)]) -> bool {
    let mut changed = false;
    for (t, v) in fields.iter_mut() {
        // Message, detail, hint, where, and the internal query.
        if matches!(t, b'M' | b'D' | b'H' | b'W' | b'q') {
            if let Cow::Owned(m) = masker.mask_text(v) {
                *v = m;
                changed = true;
            }
        }
    }
    changed
}
