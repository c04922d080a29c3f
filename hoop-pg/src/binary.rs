//! Where the numbers inside a binary-format value are read out for the content detectors: a
//! card number stored as a `bigint` or `numeric` is no text in binary, and neither is one in an
//! array, a range, a multirange, a record or a domain of them (red-team rounds 20 and 21).

use std::collections::HashMap;
use std::fmt::Write;

/// What a type is, as far as reading its binary form goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeShape {
    /// `bigint` or `numeric`: digits.
    Number,
    /// An array (its element type is in each value's header).
    Array,
    /// A record or composite (each field's type is in the value).
    Record,
    /// A range of this subtype.
    Range(u32),
    /// A multirange of this range type.
    Multirange(u32),
    /// A domain over this type.
    Domain(u32),
    /// Anything else: no number to read.
    Other,
}

/// The shape of a built-in type, or `None` for one the catalog must tell.
pub fn builtin(oid: u32) -> Option<TypeShape> {
    Some(match oid {
        // `double precision` holds every integer below 2^53 exactly and `money` is whole cents:
        // both carry a card number as well (red-team round 25).
        20 | 1700 | FLOAT8 | MONEY => TypeShape::Number,
        // bigint[], numeric[], float8[], money[], record[], and the other built-in arrays of
        // them are arrays
        1016 | 1231 | 1022 | 791 | 2287 | 3927 | 3907 | 6157 | 6151 => TypeShape::Array,
        2249 => TypeShape::Record,
        3926 => TypeShape::Range(20),
        3906 => TypeShape::Range(1700),
        4536 => TypeShape::Multirange(3926),
        4532 => TypeShape::Multirange(3906),
        o if o >= 16384 => return None,
        _ => TypeShape::Other,
    })
}

/// The shape of `oid`: built in, or as `user` (the catalog's answers) says.
fn shape(oid: u32, user: &HashMap<u32, TypeShape>) -> TypeShape {
    builtin(oid).or_else(|| user.get(&oid).copied()).unwrap_or(TypeShape::Other)
}

/// Whether a value of `oid` can hold a number in binary.
pub fn holds_numbers(oid: u32, user: &HashMap<u32, TypeShape>) -> bool {
    !matches!(shape(oid, user), TypeShape::Other)
}

/// Nesting read at most (arrays of records of ranges...).
const MAX_DEPTH: usize = 8;

/// Numbers read at most from one value (past it, what was read decides).
const MAX_NUMBERS: usize = 4096;

/// The decimal digits of every `bigint` and `numeric` inside the binary value `v` of type
/// `oid`, as far as its structure can be read.
pub fn numbers_in(oid: u32, v: &[u8], user: &HashMap<u32, TypeShape>) -> Vec<String> {
    let mut out = Vec::new();
    walk(oid, v, user, 0, &mut out);
    out
}

fn walk(oid: u32, v: &[u8], user: &HashMap<u32, TypeShape>, depth: usize, out: &mut Vec<String>) -> Option<()> {
    if depth > MAX_DEPTH || out.len() >= MAX_NUMBERS {
        return None;
    }
    let int = |at: usize| Some(i32::from_be_bytes(v.get(at..at + 4)?.try_into().ok()?));
    // `len` then that many bytes (none for -1, NULL), from `at`; the next offset.
    let item = |at: usize| -> Option<(Option<&[u8]>, usize)> {
        let len = int(at)?;
        if len < 0 {
            return Some((None, at + 4));
        }
        let end = (at + 4).checked_add(usize::try_from(len).ok()?)?;
        Some((Some(v.get(at + 4..end)?), end))
    };
    match shape(oid, user) {
        TypeShape::Number if could_match(oid, v) => out.extend(digits_of(oid, v)),
        TypeShape::Number => {}
        TypeShape::Domain(base) => walk(base, v, user, depth + 1, out)?,
        TypeShape::Array => {
            let (ndim, elem) = (usize::try_from(int(0)?).ok()?, u32::try_from(int(8)?).ok()?);
            let mut count = 1usize;
            for d in 0..ndim.min(6) {
                count = count.saturating_mul(usize::try_from(int(12 + 8 * d)?).ok()?);
            }
            let mut at = 12 + 8 * ndim;
            for _ in 0..count.min(MAX_NUMBERS) {
                let (value, next) = item(at)?;
                if let Some(value) = value {
                    walk(elem, value, user, depth + 1, out)?;
                }
                at = next;
            }
        }
        TypeShape::Record => {
            let mut at = 4;
            for _ in 0..int(0)?.clamp(0, 1600) {
                let field = u32::try_from(int(at)?).ok()?;
                let (value, next) = item(at + 4)?;
                if let Some(value) = value {
                    walk(field, value, user, depth + 1, out)?;
                }
                at = next;
            }
        }
        TypeShape::Range(sub) => {
            let flags = *v.first()?;
            // Empty, or an infinite bound, carries no value for that bound.
            let (lower, upper) = (flags & 0x01 == 0 && flags & 0x08 == 0, flags & 0x01 == 0 && flags & 0x10 == 0);
            let mut at = 1;
            for present in [lower, upper] {
                if present {
                    let (value, next) = item(at)?;
                    if let Some(value) = value {
                        walk(sub, value, user, depth + 1, out)?;
                    }
                    at = next;
                }
            }
        }
        TypeShape::Multirange(range) => {
            let mut at = 4;
            for _ in 0..int(0)?.clamp(0, 1 << 20) {
                let (value, next) = item(at)?;
                if let Some(value) = value {
                    walk(range, value, user, depth + 1, out)?;
                }
                at = next;
            }
        }
        TypeShape::Other => {}
    }
    Some(())
}

/// The fewest digits a number must have for a detector to match it: the card number's 13 (no
/// other detector matches digits alone).
const MIN_MATCHING_DIGITS: u32 = 13;

/// Whether a binary `bigint` or `numeric` has the digits a detector needs, read from its bytes
/// without writing them out (most are ids and amounts far shorter).
fn could_match(oid: u32, v: &[u8]) -> bool {
    let min = 10u64.pow(MIN_MATCHING_DIGITS - 1);
    match oid {
        FLOAT8 => return v.try_into().map(f64::from_be_bytes).is_ok_and(|x| x.abs() >= min as f64),
        MONEY => return v.try_into().map(i64::from_be_bytes).is_ok_and(|c| c.unsigned_abs() / 100 >= min),
        20 => return v.try_into().map(i64::from_be_bytes).is_ok_and(|n| n.unsigned_abs() >= min),
        _ => {}
    }
    // A numeric's weight counts its base-10,000 digits before the point, less one: 13 decimal
    // digits need a weight of 3.
    v.get(2..4).and_then(|w| w.try_into().ok()).is_some_and(|w: [u8; 2]| i16::from_be_bytes(w) >= 3)
}

/// The decimal digits of a binary `bigint`, or of a binary `numeric`'s integer part (its
/// base-10,000 digits after a header of four words).
pub fn digits_of(oid: u32, v: &[u8]) -> Option<String> {
    match oid {
        FLOAT8 => return float_digits(f64::from_be_bytes(v.try_into().ok()?)),
        MONEY => return Some((i64::from_be_bytes(v.try_into().ok()?) / 100).to_string()),
        _ => {}
    }
    if oid == 20 {
        return Some(i64::from_be_bytes(v.try_into().ok()?).to_string());
    }
    let word = |i: usize| Some(i16::from_be_bytes([*v.get(i)?, *v.get(i + 1)?]));
    let (ndigits, weight) = (word(0)?, word(2)?);
    // Beyond a few hundred digits no detector matches a whole number anyway.
    let weight = usize::try_from(weight).ok()?.min(100);
    let mut s = String::new();
    for k in 0..=weight {
        let d = if k < usize::try_from(ndigits).unwrap_or(0) { word(8 + 2 * k)? } else { 0 };
        let _ = if k == 0 { write!(s, "{d}") } else { write!(s, "{d:04}") };
    }
    Some(s)
}

/// The bytes of every `bytea` written inside a text value: `\x` and hex digits after any
/// number of backslashes, as arrays and records quote it (`{"\\x6164…"}`,
/// `(email,"\\x6164…")`). Red-team round 25: a `bytea[]` and a record holding a `bytea`
/// carried addresses as hex in text format.
fn hex_runs(text: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(p) = text.get(at..).and_then(|rest| rest.windows(2).position(|w| w == b"\\x")) {
            let start = at + p + 2;
            let len = text.get(start..).map_or(0, |rest| rest.iter().take_while(|c| c.is_ascii_hexdigit()).count());
            at = start + len;
            if len >= 2 {
                return unhex(text.get(start..start + len - len % 2).unwrap_or_default());
            }
        }
        None
    })
}

/// The bytes of hex digits two a byte; `None` for anything else.
fn unhex(digits: &[u8]) -> Option<Vec<u8>> {
    let nibble = |c: u8| (c as char).to_digit(16);
    digits.chunks(2).map(|p| match p {
        [a, b] => Some((nibble(*a)? * 16 + nibble(*b)?) as u8),
        _ => None,
    }).collect()
}

/// What the detectors must see of a text-format value of type `oid` besides its text, where
/// its text is not what it holds: a `bytea`'s bytes, the whole number of a `double precision`
/// or `money`, the bytes quoted inside an array's or a record's text. Results and discovery's
/// samples are read alike.
pub fn text_forms(oid: u32, text: &[u8]) -> Vec<Vec<u8>> {
    match oid {
        BYTEA => bytea_hex(text).into_iter().collect(),
        FLOAT8 | MONEY => text_number_digits(oid, text).map(String::into_bytes).into_iter().collect(),
        _ => hex_runs(text).collect(),
    }
}

/// The type OID of `double precision`.
pub const FLOAT8: u32 = 701;
/// The type OID of `money`.
pub const MONEY: u32 = 790;

/// The digits of a whole number a `double precision` holds (`4.111111111111111e+15` is the
/// card number 4111111111111111), if it is one large enough to be anything a detector knows.
fn float_digits(x: f64) -> Option<String> {
    (x.is_finite() && x.abs() >= 1e12 && x.abs() < 1e20).then(|| format!("{:.0}", x.trunc().abs()))
}

/// The digits of the whole number in the text form of a `double precision` or `money` value
/// (`4.111111111111111e+15`, `$4,111,111,111,111,111.00`), for the detectors.
fn text_number_digits(oid: u32, text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    match oid {
        FLOAT8 => float_digits(text.trim().parse().ok()?),
        // The currency's symbol and separators are the locale's; the cents come last.
        MONEY => {
            let whole = text.rsplit_once(['.', ',']).filter(|(_, cents)| cents.len() == 2).map_or(text, |(w, _)| w);
            Some(whole.chars().filter(char::is_ascii_digit).collect())
        }
        _ => None,
    }
}

/// The type OID of `bytea`.
pub const BYTEA: u32 = 17;

/// The bytes of a `bytea` value in text format: `\x` then two hex digits a byte (the server's
/// `bytea_output = hex`, its default); `None` for another form.
fn bytea_hex(text: &[u8]) -> Option<Vec<u8>> {
    unhex(text.strip_prefix(b"\\x")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(words: &[i32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn numbers_are_read_out_of_containers() {
        let card = 4111111111111111i64.to_be_bytes();
        let none = HashMap::new();
        // bigint[]: one dimension of one element.
        let mut arr = be(&[1, 0, 20, 1, 1, 8]);
        arr.extend_from_slice(&card);
        assert_eq!(numbers_in(1016, &arr, &none), ["4111111111111111"]);
        // int8range [card, card + 1).
        let mut range = vec![0x02];
        range.extend(be(&[8]));
        range.extend_from_slice(&card);
        range.extend(be(&[8]));
        range.extend_from_slice(&4111111111111112i64.to_be_bytes());
        assert_eq!(numbers_in(3926, &range, &none), ["4111111111111111", "4111111111111112"]);
        // int8multirange of it, and a record holding the array.
        let mut multi = be(&[1, range.len() as i32]);
        multi.extend_from_slice(&range);
        assert_eq!(numbers_in(4536, &multi, &none).len(), 2);
        let mut record = be(&[1, 1016, arr.len() as i32]);
        record.extend_from_slice(&arr);
        assert_eq!(numbers_in(2249, &record, &none), ["4111111111111111"]);
        // A domain over bigint, as the catalog says.
        let user = HashMap::from([(16_400, TypeShape::Domain(20))]);
        assert_eq!(numbers_in(16_400, &card, &user), ["4111111111111111"]);
        assert!(numbers_in(16_400, &card, &none).is_empty());
        // Truncated or hostile bytes read what they can, and never panic.
        for cut in 0..arr.len() {
            let _ = numbers_in(1016, &arr[..cut], &none);
        }
        let _ = numbers_in(1016, &be(&[6, 0, 20, i32::MAX, 1, i32::MAX, 1]), &none);
        let numeric: Vec<u8> = [4i16, 3, 0, 0, 4111, 1111, 1111, 1111].iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(digits_of(1700, &numeric).as_deref(), Some("4111111111111111"));
        assert_eq!(digits_of(20, &(-42i64).to_be_bytes()).as_deref(), Some("-42"));
        // Numbers too short for any detector are not written out.
        assert!(numbers_in(20, &999_999_999_999i64.to_be_bytes(), &none).is_empty());
        assert_eq!(numbers_in(20, &(-1_000_000_000_000i64).to_be_bytes(), &none), ["-1000000000000"]);
        let short: Vec<u8> = [2i16, 2, 0, 0, 4111, 1111].iter().flat_map(|w| w.to_be_bytes()).collect();
        assert!(numbers_in(1700, &short, &none).is_empty());
        assert_eq!(numbers_in(1700, &numeric, &none), ["4111111111111111"]);
    }
}
