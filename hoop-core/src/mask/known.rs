//! Values known to be secret, masked wherever they appear byte for byte.
//!
//! Content detectors find what has a shape (a card number, `DB_PASSWORD=…`); a Secret's value
//! copied into a plain env entry, an annotation or a program's output has none (red-team round
//! 90: `APP_SETTING` held a Secret's password in clear). An adapter that can read the values
//! themselves (Kubernetes: the namespace's Secrets) adds them to the masker of the responses it
//! masks, and every path through the detectors (documents, streams, terminals) finds them.

use aho_corasick::{AhoCorasick, MatchKind};

/// At most this many values in one set (an adapter may search a dozen spellings of each
/// secret, and a long value's base64 wrapped line by line: [`MAX_BYTES`] is what binds for
/// those; red-team round 98 met this bound first with 800 Secrets of 1–3 KB).
pub const MAX_VALUES: usize = 1 << 18;
/// At most this many bytes of values in one set.
pub const MAX_BYTES: usize = 16 << 20;
/// The shortest value searched: shorter ones (`true`, `admin`) would mask ordinary words.
pub const MIN_LEN: usize = 6;

/// Why a set of known values was not built.
#[derive(Debug, thiserror::Error)]
pub enum KnownValuesError {
    /// More values, or more bytes of them, than one set holds.
    #[error("{values} spellings of {bytes} bytes to search: over the {MAX_VALUES} or {MAX_BYTES} bytes one search holds")]
    TooMany {
        /// Values offered.
        values: usize,
        /// Their bytes.
        bytes: usize,
    },
    /// The automaton could not be built.
    #[error("building the search for known values: {0}")]
    Build(String),
}

/// A set of secret values, searched in one pass (leftmost-longest).
#[derive(Debug, Clone)]
pub struct KnownValues {
    search: AhoCorasick,
    count: usize,
}

impl KnownValues {
    /// The set of `values` at least [`MIN_LEN`] bytes long (shorter ones, and duplicates, are
    /// left out).
    pub fn new(values: impl IntoIterator<Item = Vec<u8>>) -> Result<Self, KnownValuesError> {
        let mut kept: Vec<Vec<u8>> = values.into_iter().filter(|v| v.len() >= MIN_LEN).collect();
        kept.sort_unstable();
        kept.dedup();
        let bytes: usize = kept.iter().map(Vec::len).sum();
        if kept.len() > MAX_VALUES || bytes > MAX_BYTES {
            return Err(KnownValuesError::TooMany { values: kept.len(), bytes });
        }
        let search = AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&kept).map_err(|e| KnownValuesError::Build(e.to_string()))?;
        Ok(KnownValues { search, count: kept.len() })
    }

    /// How many values it searches for.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it searches for none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Each occurrence in `text` as `(start, end)`, in order, non-overlapping. A value of digits
    /// only is not found inside a longer number (a PIN's digits in a timestamp or an id).
    pub(crate) fn find_all(&self, text: &[u8]) -> Vec<(usize, usize)> {
        if self.count == 0 {
            return Vec::new();
        }
        let digit_at = |i: Option<usize>| i.and_then(|i| text.get(i)).is_some_and(u8::is_ascii_digit);
        self.search
            .find_iter(text)
            .filter(|m| {
                let digits = text.get(m.start()..m.end()).is_some_and(|h| h.iter().all(u8::is_ascii_digit));
                !(digits && (digit_at(m.start().checked_sub(1)) || digit_at(Some(m.end()))))
            })
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_not_found_inside_a_longer_one() {
        let k = KnownValues::new([b"482917".to_vec()]).unwrap();
        assert_eq!(k.find_all(b"pin 482917, ts 1482917000 and 482917"), [(4, 10), (30, 36)]);
    }

    #[test]
    fn values_are_found_longest_first_short_ones_left_out() {
        let k = KnownValues::new([b"s3cr3tValue".to_vec(), b"s3cr3tValue90".to_vec(), b"admin".to_vec(), b"s3cr3tValue".to_vec()]).unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k.find_all(b"x s3cr3tValue90 y s3cr3tValue admin"), [(2, 15), (18, 29)]);
        assert!(KnownValues::new((0..MAX_VALUES + 1).map(|i| format!("value-{i:08}").into_bytes())).is_err());
    }
}
