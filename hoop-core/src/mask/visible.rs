//! The text a reader sees in a run of bytes, which is what detectors scan: escape sequences
//! (colour in the middle of a match), NULs (UTF-16 text), other control characters and
//! invisible characters (zero-width spaces, soft hyphens) are left out, no-break spaces and tabs
//! read as spaces, and each byte that is not UTF-8 stands as a NUL, which no detector matches
//! across. Every visible byte keeps the original range it came from, so a match is replaced
//! together with everything interleaved in it.

use super::stream::escape_len;

/// A view of some bytes, with the way back to their offsets.
pub(crate) struct Visible {
    /// `None` when the bytes are all plain visible text (the common case: no copy, no map).
    skipped: Option<(Vec<u8>, Vec<(usize, usize)>)>,
}

/// Characters a reader does not see.
fn invisible(c: char) -> bool {
    matches!(c, '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{180e}')
        || (c.is_control() && c != '\n' && c != '\t')
}

impl Visible {
    /// The view of `bytes`.
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let plain = bytes.iter().all(|&b| b >= 0x20 && b < 0x7f || b == b'\n');
        if plain {
            return Visible { skipped: None };
        }
        let mut text = Vec::with_capacity(bytes.len());
        let mut map = Vec::with_capacity(bytes.len());
        let mut offset = 0;
        for chunk in bytes.utf8_chunks() {
            let valid = chunk.valid();
            let mut rest = valid;
            while let Some(c) = rest.chars().next() {
                let at = offset + (valid.len() - rest.len());
                let len = c.len_utf8();
                if c == '\u{1b}' {
                    let n = escape_len(rest.as_bytes()).unwrap_or(rest.len()).max(1);
                    rest = rest.get(n..).unwrap_or_default();
                    continue;
                }
                if c == '\t' || c == '\u{a0}' || c == '\u{202f}' || c == '\u{2007}' {
                    text.push(b' ');
                    map.push((at, at + len));
                } else if !invisible(c) {
                    let mut buf = [0u8; 4];
                    for &b in c.encode_utf8(&mut buf).as_bytes() {
                        text.push(b);
                        map.push((at, at + len));
                    }
                }
                rest = rest.get(len..).unwrap_or_default();
            }
            for (j, _) in chunk.invalid().iter().enumerate() {
                let at = offset + valid.len() + j;
                text.push(0);
                map.push((at, at + 1));
            }
            offset += valid.len() + chunk.invalid().len();
        }
        Visible { skipped: Some((text, map)) }
    }

    /// The visible text.
    pub(crate) fn text<'a>(&'a self, bytes: &'a [u8]) -> &'a [u8] {
        match &self.skipped {
            None => bytes,
            Some((t, _)) => t,
        }
    }

    /// The original byte range of visible range `start..end` (`end > start`).
    pub(crate) fn span(&self, start: usize, end: usize) -> (usize, usize) {
        match &self.skipped {
            None => (start, end),
            Some((_, map)) => {
                let s = map.get(start).map_or(0, |r| r.0);
                let e = map.get(end.saturating_sub(1)).map_or(s, |r| r.1);
                (s, e)
            }
        }
    }
}
