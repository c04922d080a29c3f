//! The text a reader sees in a run of bytes, which is what detectors scan: escape sequences
//! (colour in the middle of a match), NULs (UTF-16 text), other control characters and
//! invisible characters (zero-width spaces, soft hyphens) are left out, no-break spaces and tabs
//! read as spaces, and each byte that is not UTF-8 stands as a NUL, which no detector matches
//! across. Every visible byte keeps the offset it came from, so a match is replaced together
//! with everything interleaved in it.
//!
//! There are two readers. A terminal hides an escape sequence whole, the text of an OSC or DCS
//! string and a CSI's parameters included; a program reading the bytes (an agent) sees that
//! text, and only the control bytes are lost on it. Detectors read both ([`found`]): red-team
//! round 80 opened an OSC string before `cat .env`, never closed it, and the terminal's reading
//! hid every value after it.

use super::detect::{Detector, DetectorSet};
use super::stream::escape_len;

/// A view of some bytes, with the way back to their offsets.
pub(crate) struct Visible {
    /// `None` when the bytes are all plain visible text (the common case: no copy, no map).
    skipped: Option<(Vec<u8>, Vec<u32>)>,
}

/// Characters a reader does not see.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}' | '\u{034f}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}'
            | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}' | '\u{e0000}'..='\u{e007f}' | '\u{e0100}'..='\u{e01ef}'
    ) || (c.is_control() && c != '\n' && c != '\t')
}

/// The bytes after a C1 control introducer (`c`, already read) that belong to its sequence:
/// a CSI's parameters and final byte, or an OSC/DCS string up to its terminator (red-team round
/// 37: `\u{9b}31m` inside a card number left `31m` in the text detectors saw).
fn c1_sequence_len(c: char, rest: &[u8]) -> usize {
    match c {
        '\u{9b}' => rest.iter().position(|b| (0x40..=0x7e).contains(b)).map_or(rest.len(), |p| p + 1),
        '\u{90}' | '\u{9d}' | '\u{98}' | '\u{9e}' | '\u{9f}' => {
            // Up to BEL, ST (`\u{9c}`) or ESC \.
            let end = rest.windows(2).position(|w| w == [0xc2, 0x9c] || w == [0x1b, b'\\']).map(|p| p + 2);
            let bel = rest.iter().position(|b| *b == 0x07).map(|p| p + 1);
            match (end, bel) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(rest.len()),
            }
        }
        _ => 0,
    }
}

/// The character `%XX` stands for, when it is one a detector reads inside a value (`@`, `.`,
/// `-`, `_`, `+`, `:`, `/`, `=`, a space); others stay as they are written.
fn percent_decoded(hex: &[u8]) -> Option<u8> {
    let [h, l] = <[u8; 2]>::try_from(hex).ok()?;
    let v = (char::from(h).to_digit(16)? << 4 | char::from(l).to_digit(16)?) as u8;
    matches!(v, b'@' | b'.' | b'-' | b'_' | b'+' | b':' | b'/' | b'=' | b' ').then_some(v)
}

/// Printable ASCII and newlines: read as they are.
fn plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || b == b'\n'
}

/// A detector's match in some bytes, in their own offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Where the match starts.
    pub start: usize,
    /// Where it ends (exclusive).
    pub end: usize,
    /// Where it starts with a credential's name (see [`super::Hit::from`]).
    pub from: usize,
    /// What was found.
    pub detector: Detector,
    /// The text the detector read (what a tokenising replacement is made from).
    pub text: Vec<u8>,
}

/// Every match of `detectors` in `bytes` as either reader sees them, sorted, overlapping ones
/// joined into one.
pub(crate) fn found(detectors: &DetectorSet, bytes: &[u8]) -> Vec<Found> {
    let mut all = Vec::new();
    let mut read = |view: Visible| {
        let text = view.text(bytes);
        detectors.for_each_hit(text, |h| {
            let (start, end) = view.span(bytes, h.start, h.end);
            let from = view.span(bytes, h.from, h.start).0;
            all.push(Found { start, end, from, detector: h.detector, text: text.get(h.start..h.end).unwrap_or_default().to_vec() });
        });
    };
    read(Visible::of(bytes));
    if !readers_differ(bytes) {
        return all;
    }
    read(Visible::read_by(bytes, Reader::Program));
    all.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut joined: Vec<Found> = Vec::with_capacity(all.len());
    for f in all {
        match joined.last_mut() {
            Some(last) if f.start < last.end => {
                last.end = last.end.max(f.end);
                last.from = last.from.min(f.from);
            }
            _ => joined.push(f),
        }
    }
    joined
}

/// Where the last `n` characters of `bytes` begin, for the reader that sees them begin earlier:
/// a value among them is held whole, however either reader spells it.
pub(crate) fn last_chars(bytes: &[u8], n: usize) -> usize {
    let start = |view: Visible| {
        let seen = view.text(bytes).len();
        if seen <= n { 0 } else { view.span(bytes, seen - n, seen).0 }
    };
    let terminal = start(Visible::of(bytes));
    if readers_differ(bytes) { terminal.min(start(Visible::read_by(bytes, Reader::Program))) } else { terminal }
}

/// Whether a terminal and a program may read different text in `bytes`: they hold an escape
/// sequence, a backspace, a NUL or a C1 control character.
fn readers_differ(bytes: &[u8]) -> bool {
    memchr::memchr3(0x1b, 0x08, 0, bytes).is_some() || memchr::memchr_iter(0xc2, bytes).any(|i| bytes.get(i + 1).is_some_and(|b| (0x80..0xa0).contains(b)))
}

/// Who reads the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// A terminal: escape sequences are hidden whole, a backspace erases.
    Terminal,
    /// A program: it sees every byte; only control bytes carry no text.
    Program,
}

impl Visible {
    /// The view of `bytes` a terminal shows (at most 4 GiB: callers hand it one buffered chunk).
    pub(crate) fn of(bytes: &[u8]) -> Self {
        Self::read_by(bytes, Reader::Terminal)
    }

    fn read_by(bytes: &[u8], reader: Reader) -> Self {
        let terminal = reader == Reader::Terminal;
        // A `%` may start a percent-encoded character (access logs: `email=ann%40corp.example`),
        // read as the character it stands for.
        if bytes.iter().all(|&b| plain(b) && b != b'%') {
            return Visible { skipped: None };
        }
        let mut text = Vec::with_capacity(bytes.len().min(1 << 16));
        let mut map: Vec<u32> = Vec::with_capacity(bytes.len().min(1 << 16));
        let mut i = 0;
        // A program's reading: where the sequence a terminal would hide ends. Its text is read
        // between two boundaries, so that a sequence's parameters (`[1m`) join no neighbour.
        let mut sequence_end: Option<usize> = None;
        while let Some(&b) = bytes.get(i) {
            let at = u32::try_from(i).unwrap_or(u32::MAX);
            if sequence_end.is_some_and(|end| i >= end) {
                sequence_end = None;
                text.push(0);
                map.push(at);
            }
            if let Some(c) = (b == b'%').then(|| percent_decoded(bytes.get(i + 1..i + 3).unwrap_or_default())).flatten() {
                // Red-team round 39: an address or a card in a URL's query came back in clear.
                text.push(c);
                map.push(at);
                i += 3;
            } else if plain(b) {
                text.push(b);
                map.push(at);
                i += 1;
            } else if b == 0 {
                // Runs of NULs (padding, UTF-16's high bytes) are skipped eight at a time. A
                // program reads one as where a word ends (`find -printf '%f\0%s'`, a tar
                // header's fields): skipped, a value and the digits after it read as one run
                // no detector matched (red-team Kubernetes round 103), so that reader keeps a
                // boundary there.
                let rest = bytes.get(i..).unwrap_or_default();
                let zeros = rest.chunks_exact(8).take_while(|c| c.iter().all(|&z| z == 0)).count() * 8;
                if !terminal && text.last() != Some(&0) {
                    text.push(0);
                    map.push(at);
                }
                i += zeros.max(1);
            } else if b == b'\t' {
                text.push(b' ');
                map.push(at);
                i += 1;
            } else if b == 0x1b {
                let len = escape_len(bytes.get(i..).unwrap_or_default()).unwrap_or(bytes.len() - i).max(1);
                if terminal {
                    i += len;
                } else {
                    text.push(0);
                    map.push(at);
                    sequence_end = sequence_end.max(Some(i + len));
                    i += 1;
                }
            } else if b == 0x08 && terminal {
                // A backspace erases the character before it on screen (`4\b4111…` shows one 4):
                // it leaves the text a reader sees too (red-team round 37).
                while text.last().is_some_and(|&c| (0x80..0xc0).contains(&c)) {
                    text.pop();
                    map.pop();
                }
                text.pop();
                map.pop();
                i += 1;
            } else if b < 0x80 {
                // Other control characters.
                i += 1;
            } else {
                let tail = bytes.get(i..(i + 4).min(bytes.len())).unwrap_or_default();
                let c = match std::str::from_utf8(tail) {
                    Ok(s) => s.chars().next(),
                    Err(e) => std::str::from_utf8(tail.get(..e.valid_up_to()).unwrap_or_default()).ok().and_then(|s| s.chars().next()),
                };
                match c {
                    None => {
                        // Not UTF-8: a boundary no match crosses.
                        text.push(0);
                        map.push(at);
                        i += 1;
                    }
                    Some(c) => {
                        let sequence = c1_sequence_len(c, bytes.get(i + c.len_utf8()..).unwrap_or_default());
                        if !terminal && sequence > 0 {
                            text.push(0);
                            map.push(at);
                            sequence_end = sequence_end.max(Some(i + c.len_utf8() + sequence));
                        }
                        let len = c.len_utf8() + if terminal { sequence } else { 0 };
                        if matches!(c, '\u{a0}' | '\u{202f}' | '\u{2000}'..='\u{200a}' | '\u{205f}' | '\u{3000}') {
                            text.push(b' ');
                            map.push(at);
                        } else if !invisible(c) {
                            let mut buf = [0u8; 4];
                            for &x in c.encode_utf8(&mut buf).as_bytes() {
                                text.push(x);
                                map.push(at);
                            }
                        }
                        i += len;
                    }
                }
            }
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

    /// The original byte range of visible range `start..end` (`end > start`), for `bytes`.
    pub(crate) fn span(&self, bytes: &[u8], start: usize, end: usize) -> (usize, usize) {
        match &self.skipped {
            None => (start, end),
            Some((_, map)) => {
                let s = map.get(start).map_or(0, |&r| r as usize);
                let last = map.get(end.saturating_sub(1)).map_or(s, |&r| r as usize);
                // The last visible byte's whole character.
                let len = match bytes.get(last) {
                    Some(&b) if b >= 0xf0 => 4,
                    Some(&b) if b >= 0xe0 => 3,
                    Some(&b) if b >= 0xc0 => 2,
                    _ => 1,
                };
                (s, (last + len).min(bytes.len()))
            }
        }
    }
}
