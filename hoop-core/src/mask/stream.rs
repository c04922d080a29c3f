//! Stream masking: terminal and pipe output, masked correctly across chunk boundaries.
//!
//! A match can straddle two reads (`4111 1111` then ` 1111 1111`), so the masker holds back
//! the unfinished last line and scans it once it is complete. On a pipe it is held until its
//! line ends, it grows past [`MAX_HOLD`] (then all but its last [`TAIL`] bytes go, never
//! cutting a match), or the stream ends: never released by a timer, so a writer that pauses
//! mid-value gains nothing. On a terminal, held bytes are also released after a short
//! deadline ([`StreamMasker::deadline`]) so echo and prompts never stall; a value typed out
//! slower than that can pass in pieces, which docs/masking.md states.
//!
//! Detectors read the *visible* text: escape sequences (colour in `grep --color` output) and
//! NULs (UTF-16 text) are skipped over, and a byte that is not UTF-8 ends one run of text and
//! starts the next, so a stray binary byte no longer hides a whole chunk. A match is replaced
//! with everything interleaved in it; all other bytes pass as they came. Content detectors
//! stay best effort against a command chosen to defeat them (`base64 file`).

use super::{Detector, Masker};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest unfinished line held back before most of it is scanned and sent.
pub const MAX_HOLD: usize = 4096;
/// What stays held of a line cut at [`MAX_HOLD`]: longer than any value a detector matches
/// (an email is at most 254 bytes), so a value is never sent in two halves.
pub const TAIL: usize = 320;
/// Longest escape sequence kept together while waiting for its end.
const MAX_ESCAPE: usize = 256;
/// Longest PEM block kept together while waiting for its END line.
const MAX_PEM: usize = 16 * 1024;

/// How replacements look in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStyle {
    /// A terminal: same-length `*` redaction so screen layout survives.
    Terminal,
    /// A pipe: the masker's usual replacement (redact or tokenise).
    Pipe,
}

/// Masks one output stream; feed it chunks in order.
#[derive(Debug)]
pub struct StreamMasker {
    masker: Arc<Masker>,
    style: StreamStyle,
    hold: Duration,
    pending: Vec<u8>,
    since: Option<Instant>,
    /// Values replaced so far.
    masked: u64,
    /// Values replaced per detector (by [`Detector::index`]) not yet taken for usage.
    uncounted: [u64; Detector::ALL.len()],
    /// A credential's value ran on past what was sent (its name went, masked value with it):
    /// the rest of its line is masked as it comes (red-team round 79: the value of
    /// `DB_PASSWORD=…` padded past the held tail went out in clear once its name had gone).
    open: bool,
    /// Each match is replaced by as many `*` as it has bytes (not visible characters): an
    /// archive member's size must hold (see [`byte_exact`](Self::byte_exact)).
    byte_exact: bool,
}

impl StreamMasker {
    pub(crate) fn new(masker: Arc<Masker>, style: StreamStyle, hold: Duration) -> Self {
        StreamMasker { masker, style, hold, pending: Vec::new(), since: None, masked: 0, uncounted: [0; Detector::ALL.len()], open: false, byte_exact: false }
    }

    /// This masker, replacing each match by one `*` per byte it spans, escape sequences,
    /// controls and bytes that are not UTF-8 inside it included: what it sends is exactly as
    /// long as what it took (a tar member's size stays true; compatibility round 1: a `*` per
    /// visible character shifted a binary member's bytes after its first match).
    pub(crate) fn byte_exact(mut self) -> Self {
        self.style = StreamStyle::Terminal;
        self.byte_exact = true;
        self
    }

    /// Values masked in what this stream has sent so far (usage counts them).
    pub fn masked_values(&self) -> u64 {
        self.masked
    }

    /// Values masked since the last call, by detector (usage counts them per detector).
    pub fn take_masked_by(&mut self) -> Vec<(crate::usage::MaskedBy, u64)> {
        let mut out = Vec::new();
        for (d, n) in Detector::ALL.iter().zip(self.uncounted.iter_mut()) {
            if *n > 0 {
                out.push((crate::usage::MaskedBy::Detector(d.label()), std::mem::take(n)));
            }
        }
        out
    }

    /// Bytes currently held back.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// When held bytes must be released with [`flush`](Self::flush), if any are held: only
    /// on a terminal, where echo cannot wait for the line to end.
    pub fn deadline(&self) -> Option<Instant> {
        match self.style {
            StreamStyle::Terminal => self.since.map(|t| t + self.hold),
            StreamStyle::Pipe => None,
        }
    }

    /// Masks what comes next, and what is held, with `masker` (the same one searching more
    /// values, say, once a stream's adapter learned of them).
    pub fn set_masker(&mut self, masker: Arc<Masker>) {
        self.masker = masker;
    }

    /// Takes the next chunk and returns what can be sent now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        if !self.masker.is_enabled() || self.masker.detectors.is_empty() {
            let mut out = std::mem::take(&mut self.pending);
            out.extend_from_slice(chunk);
            self.since = None;
            return out;
        }
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(chunk);
        let mut out = self.close_open_value(&mut buf);
        let Split { at: cut, starred } = split_point(&buf, buf.len() - incomplete_utf8_tail(&buf));
        if let Some(from) = starred {
            for b in buf.get_mut(from..cut).into_iter().flatten() {
                if b.is_ascii_alphanumeric() {
                    *b = b'*';
                }
            }
        }
        out.reserve(cut + 16);
        let sent = self.mask_prefix(&buf, cut, &mut out);
        self.pending = buf.get(sent..).unwrap_or_default().to_vec();
        if self.pending.is_empty() {
            self.since = None;
        } else if self.since.is_none() {
            self.since = Some(Instant::now());
        }
        out
    }

    /// Masks a value that this stream's held, unfinished line begins and `chunk`, written next
    /// by the same program on its other stream (stderr after stdout), ends: both parts are
    /// starred before either goes out. The client reads the two streams side by side (SSH
    /// red-team round 108: `head -c 53 customers.csv; tail -c +54 customers.csv >&2` cut a card
    /// number between them, and each half alone matched nothing).
    pub fn mask_across(&mut self, chunk: &mut [u8]) {
        if self.pending.is_empty() || !self.masker.is_enabled() {
            return;
        }
        // A value does not run past a line's end.
        let line = memchr::memchr(b'\n', chunk).unwrap_or(chunk.len());
        let held = self.pending.len();
        let mut joint = self.pending.clone();
        joint.extend_from_slice(chunk.get(..line).unwrap_or_default());
        let star = |b: &mut u8| {
            if b.is_ascii_alphanumeric() {
                *b = b'*';
            }
        };
        for h in super::visible::found(&self.masker.detectors, &joint) {
            if h.start < held && h.end > held {
                self.pending.get_mut(h.start..).into_iter().flatten().for_each(star);
                chunk.get_mut(..h.end - held).into_iter().flatten().for_each(star);
                self.masked += 1;
                if let Some(n) = self.uncounted.get_mut(h.detector.index()) {
                    *n += 1;
                }
            }
        }
    }

    /// Releases everything held, masked as far as it goes.
    pub fn flush(&mut self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.pending);
        self.since = None;
        let mut out = self.close_open_value(&mut buf);
        self.mask_prefix(&buf, buf.len(), &mut out);
        out
    }

    /// Takes from the front of `buf` the rest of a value's line that ran on past what was
    /// sent, masked (stars on a terminal; nothing more on a pipe, whose replacement went out).
    fn close_open_value(&mut self, buf: &mut Vec<u8>) -> Vec<u8> {
        if !self.open {
            return Vec::new();
        }
        let end = match memchr::memchr(b'\n', buf) {
            Some(n) => {
                self.open = false;
                n
            }
            None => buf.len(),
        };
        let taken: Vec<u8> = buf.drain(..end).collect();
        match self.style {
            StreamStyle::Terminal => vec![b'*'; taken.len()],
            StreamStyle::Pipe => Vec::new(),
        }
    }

    /// Appends `bytes[..limit]` with every match in its visible text replaced, moving `limit`
    /// back to the start of a match it would cut; returns the limit used.
    fn mask_prefix(&mut self, bytes: &[u8], limit: usize, out: &mut Vec<u8>) -> usize {
        let same_len = self.style == StreamStyle::Terminal;
        let hits = super::visible::found(&self.masker.detectors, bytes);
        let mut limit = limit.min(bytes.len());
        // A credential's value has no bound: one that runs past the cut is masked up to it,
        // and the rest of its line as it comes; one whose name would go without it is held
        // with its name. Any other match the cut would split is held whole.
        let mut open_from = None;
        for h in &hits {
            let (start, end, from) = (h.start, h.end, h.from);
            if end > limit && matches!(h.detector, Detector::NamedCredential | Detector::Bearer) {
                if start < limit && open_from.is_none() {
                    open_from = Some(start);
                } else if from < limit {
                    limit = from;
                }
            } else if start < limit && end > limit {
                limit = start;
            }
        }
        // (A match held back above moved the cut before the open value: it waits too.)
        let open_from = open_from.filter(|s| *s < limit);
        let mut last = 0;
        let mut replaced = 0u64;
        for h in &hits {
            let (start, end) = (h.start, h.end);
            if Some(start) == open_from && start >= last {
                out.extend_from_slice(bytes.get(last..start).unwrap_or_default());
                let matched = bytes.get(start..limit).unwrap_or_default();
                self.masker.replacement(h.detector.label(), matched, self.masker.mode, same_len, out);
                replaced += (limit - start) as u64;
                self.masked += 1;
                if let Some(n) = self.uncounted.get_mut(h.detector.index()) {
                    *n += 1;
                }
                last = limit;
                self.open = true;
                break;
            }
            if end > limit || start < last {
                continue;
            }
            out.extend_from_slice(bytes.get(last..start).unwrap_or_default());
            let matched: &[u8] = if self.byte_exact { bytes.get(start..end).unwrap_or_default() } else { &h.text };
            self.masker.replacement(h.detector.label(), matched, self.masker.mode, same_len, out);
            replaced += (end - start) as u64;
            self.masked += 1;
            if let Some(n) = self.uncounted.get_mut(h.detector.index()) {
                *n += 1;
            }
            last = end;
        }
        out.extend_from_slice(bytes.get(last..limit).unwrap_or_default());
        if replaced > 0 {
            self.masker.masked_bytes.fetch_add(replaced, std::sync::atomic::Ordering::Relaxed);
        }
        limit
    }
}

/// Bytes at the end of `buf` that start a UTF-8 character still missing its continuation.
fn incomplete_utf8_tail(buf: &[u8]) -> usize {
    for back in 1..=3.min(buf.len()) {
        let Some(&b) = buf.get(buf.len() - back) else { break };
        if b & 0xc0 == 0x80 {
            continue;
        }
        let need = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        return if need > back { back } else { 0 };
    }
    0
}

/// Length of the escape sequence at the start of `b` (which starts with ESC), or `None` if it is incomplete.
pub(super) fn escape_len(b: &[u8]) -> Option<usize> {
    match b.get(1)? {
        // CSI: parameters and intermediates, then one final byte.
        b'[' => b.iter().skip(2).position(|c| (0x40..=0x7e).contains(c)).map(|p| p + 3),
        // OSC, DCS, APC, PM, SOS: until BEL or ST (ESC \).
        b']' | b'P' | b'_' | b'^' | b'X' => {
            let body = b.get(2..)?;
            body.iter().enumerate().find_map(|(i, c)| match c {
                0x07 => Some(i + 3),
                0x1b if body.get(i + 1) == Some(&b'\\') => Some(i + 4),
                _ => None,
            })
        }
        // Charset selection, and `ESC # 8`, `ESC % G`, `ESC SP F`, take one more byte (red-team
        // round 37: the `8` of `ESC # 8` was read as a digit of a card number).
        b'(' | b')' | b'*' | b'+' | b'-' | b'.' | b'/' | b'#' | b'%' | b' ' => b.get(2).map(|_| 3),
        _ => Some(2),
    }
}

/// Where to cut `buf` so that nothing after the cut can still be part of a match that is
/// completed by later bytes: after the last newline, never inside an incomplete UTF-8
/// character (`valid`), an incomplete escape sequence, or an unterminated PEM block.
fn split_point(buf: &[u8], valid: usize) -> Split {
    let mut limit = valid.min(buf.len());
    // An escape sequence still open at the end must stay whole.
    // (Within reason: in binary data an ESC may start a "sequence" that never ends.)
    if let Some(esc) = buf.get(..limit).and_then(|b| memchr::memrchr(0x1b, b))
        && limit - esc <= MAX_ESCAPE
        && escape_len(buf.get(esc..limit).unwrap_or_default()).is_none() {
            limit = esc;
        }
    // A PEM private key spans lines: keep it together until its END line, within reason.
    let head = buf.get(..limit).unwrap_or_default();
    if let Some(begin) = rfind(head, b"-----BEGIN ") {
        let after = head.get(begin..).unwrap_or_default();
        if rfind(after, b"-----END ").is_none() && after.len() <= MAX_PEM {
            limit = begin;
        }
    }
    // So is a key's body printed without its BEGIN line while its lines continue (SSH red-team
    // round 98: `sed 1d id_rsa` went out a line at a time, before anything could tell).
    if let Some(start) = open_key_body(buf.get(..limit).unwrap_or_default()) {
        limit = start;
    }
    let head = buf.get(..limit).unwrap_or_default();
    let cut = memchr::memrchr(b'\n', head).map_or(0, |p| p + 1);
    // A line too long to hold goes out but for its tail, which could start a value: the last
    // `TAIL` characters a reader sees, however many bytes the detectors skip between them
    // (red-team round 62: 5,000 NULs inside a card number put its first half out alone).
    if limit - cut <= MAX_HOLD {
        return Split { at: cut, starred: None };
    }
    let line = buf.get(cut..limit).unwrap_or_default();
    let tail = super::visible::last_chars(line, TAIL);
    let at = cut + tail;
    // Past `MAX_TAIL_RAW` held bytes (a value padded with that much the reader does not see),
    // the oldest go out anyway, their letters and digits starred: they could start a value.
    if limit - at > MAX_TAIL_RAW {
        return Split { at: limit - MAX_TAIL_RAW, starred: Some(at) };
    }
    Split { at, starred: None }
}

/// Where a stream's buffer is cut: what goes out now ends at `at`; from `starred` to `at`,
/// letters and digits are starred first.
struct Split {
    at: usize,
    starred: Option<usize>,
}

/// Raw bytes a held tail may take before its oldest go out starred.
const MAX_TAIL_RAW: usize = 64 * 1024;

/// Where a private key's body begins in the base64 lines that end `head` (within
/// [`MAX_PEM`]), if one does: more of it may follow.
fn open_key_body(head: &[u8]) -> Option<usize> {
    // (The detector's own pattern: had it not compiled, no masker would have been built.)
    static START: std::sync::LazyLock<Option<regex::bytes::Regex>> = std::sync::LazyLock::new(|| regex::bytes::Regex::new(super::detect::key_body_start!()).ok());
    let base64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n');
    let from = head.len().saturating_sub(MAX_PEM);
    let tail = head.get(from..)?;
    let run = tail.iter().rposition(|b| !base64(b)).map_or(0, |p| p + 1);
    START.as_ref()?.find(tail.get(run..)?).map(|m| from + run + m.start())
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::rfind(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::super::{MaskConfig, Masker};
    use super::*;

    fn stream(style: StreamStyle) -> StreamMasker {
        Arc::new(Masker::new(&MaskConfig::default(), None).unwrap()).stream(style)
    }

    /// SSH red-team round 108: a card number and an address cut between stdout and stderr.
    #[test]
    fn a_value_cut_between_two_streams_is_masked_in_both() {
        for (first, second, whole) in [
            (&b"1,Alice,x,41111111"[..], &b"11111111,ok\n2,Bob\n"[..], "4111111111111111"),
            (b"1,Alice,alice@exam", b"ple.com,x\n", "alice@example.com"),
        ] {
            let (mut out, mut err) = (stream(StreamStyle::Pipe), stream(StreamStyle::Pipe));
            let mut sent = out.feed(first);
            let mut chunk = second.to_vec();
            out.mask_across(&mut chunk);
            let to_err = [err.feed(&chunk), err.flush()].concat();
            sent.extend(out.flush());
            let (a, b) = (String::from_utf8_lossy(&sent), String::from_utf8_lossy(&to_err));
            assert!(!format!("{a}{b}").contains(whole), "{a} | {b}");
            assert!(b.ends_with("\n") && b.contains("ok") || b.contains(",x"), "{b}");
            assert_eq!(out.masked_values(), 1);
        }
        // Nothing held, or nothing that ends a value: untouched.
        let (mut out, mut chunk) = (stream(StreamStyle::Pipe), b"11111111\n".to_vec());
        out.feed(b"done\n");
        out.mask_across(&mut chunk);
        assert_eq!(chunk, b"11111111\n");
    }

    fn run(s: &mut StreamMasker, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.feed(c));
        }
        out.extend(s.flush());
        out
    }

    /// Red-team round 79: a credential's value padded on one line past the held tail went out
    /// in clear once its name had gone (`paste sec.conf pad`). However the line is cut into
    /// reads, the value and the rest of its line are masked, and the next line is not.
    #[test]
    fn a_credential_value_longer_than_the_hold_is_masked_to_its_line_end() {
        let pad: String = (1..4000).map(|i| format!("{i}x")).collect();
        let line = format!("DB_PASSWORD=ShortRealSecret42{pad}\nnext line\n");
        for style in [StreamStyle::Pipe, StreamStyle::Terminal] {
            for size in [1usize, 7, 100, 4096, 5000, 16 * 1024, line.len()] {
                let chunks: Vec<&[u8]> = line.as_bytes().chunks(size).collect();
                let out = String::from_utf8(run(&mut stream(style), &chunks)).unwrap();
                assert!(!out.contains("ShortReal") && !out.contains("3999x") && !out.contains("42x43x"), "{style:?} {size}: {}", &out[..out.len().min(200)]);
                assert!(out.contains("DB_PASSWORD=") && out.ends_with("\nnext line\n"), "{style:?} {size}");
            }
        }
        // The name at the end of one read, the value in later ones.
        let out = String::from_utf8(run(&mut stream(StreamStyle::Pipe), &[format!("{}api_key=", "a ".repeat(3000)).as_bytes(), format!("Env66{pad}\n").as_bytes()])).unwrap();
        assert!(!out.contains("Env66") && !out.contains("3999x"), "{}", &out[out.len().saturating_sub(200)..]);
    }

    /// Red-team round 62: a value padded with NULs past the hold (`head -c 8 F; head -c 5000
    /// /dev/zero; tail -c +9 F`) went out in halves: the held tail counts the characters a
    /// reader sees; padded past what a tail may hold, the oldest go out starred.
    #[test]
    fn padding_the_reader_does_not_see_does_not_split_a_value() {
        for pad in [5_000usize, 200_000] {
            let mut p = stream(StreamStyle::Pipe);
            let mut chunks: Vec<Vec<u8>> = vec![b"card 41111111".to_vec()];
            chunks.extend(std::iter::repeat_n(vec![0u8; 1000], pad / 1000));
            chunks.push(b"11111111 end\n".to_vec());
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let mut out = run(&mut p, &refs);
            out.extend(p.flush());
            let seen: String = String::from_utf8_lossy(&out).chars().filter(|c| *c != '\0').collect();
            assert!(!seen.contains("41111111") && seen.contains("end"), "{pad}: {seen}");
        }
    }

    /// Red-team Kubernetes round 103: a NUL between a value and the digits after it (`find
    /// -printf '%f\0%s'`, a tar header's fields) joined them into one run no detector matched.
    /// A program reads a NUL as where a word ends: the value is masked.
    #[test]
    fn values_before_a_nul_and_digits_are_masked() {
        for text in [&b"card 4111 1111 1111 1111\x0022\n"[..], b"ada@example.com\0\0\x0015305473624\n", b"x\0bob@corp.example\x0042\n"] {
            let out = run(&mut stream(StreamStyle::Pipe), &[text]);
            let seen = String::from_utf8_lossy(&out).replace('\0', "");
            assert!(!seen.contains("4111 1111") && !seen.contains("ada@") && !seen.contains("bob@"), "{seen}");
        }
        // UTF-16 text is still read with its NULs skipped.
        let utf16: Vec<u8> = "mail ann@corp.example\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let out = run(&mut stream(StreamStyle::Pipe), &[&utf16]);
        assert!(!String::from_utf8_lossy(&out).replace('\0', "").contains("ann@corp"));
    }

    #[test]
    fn card_split_over_two_reads_is_masked() {
        let mut s = stream(StreamStyle::Terminal);
        let out = run(&mut s, &[b"pay 4111 1111", b" 1111 1111 now\r\nok\r\n"]);
        assert_eq!(out, b"pay ******************* now\r\nok\r\n");
        let mut p = stream(StreamStyle::Pipe);
        assert_eq!(run(&mut p, &[b"to a@b.ex", b"ample\n"]), b"to [REDACTED:email]\n");
    }

    #[test]
    fn complete_lines_go_out_at_once_and_the_rest_after_the_deadline() {
        let mut s = stream(StreamStyle::Terminal);
        assert_eq!(s.feed(b"line\nprompt$ "), b"line\n");
        assert!(s.deadline().is_some());
        assert_eq!(s.flush(), b"prompt$ ");
        assert!(s.deadline().is_none());
    }

    #[test]
    fn escapes_and_utf8_survive() {
        let mut s = stream(StreamStyle::Terminal);
        let input = "\x1b[1mbob@mail.example\x1b[0m caf\u{e9} \x1b]0;title\x07\n".as_bytes();
        // Split inside the escape sequence and inside the two-byte é.
        let (a, rest) = input.split_at(2);
        let (b, c) = rest.split_at(24);
        let out = run(&mut s, &[a, b, c]);
        assert_eq!(String::from_utf8(out).unwrap(), "\x1b[1m****************\x1b[0m caf\u{e9} \x1b]0;title\x07\n");
    }

    /// Red-team round 37: sequences a terminal hides, or characters it overstrikes, inside a
    /// value kept it from the detectors.
    #[test]
    fn hidden_sequences_inside_a_value_do_not_hide_it() {
        for input in [
            "card 4111 11\u{9b}31m11 1111 1111\n",
            "card 4111 11\x1b#811 1111 1111\n",
            "card 4111 11\x1b%G11 1111 1111\n",
            "card 4111 117\x0811 1111 1111\n",
            "card 4111 11\u{34f}11 1111 1111\n",
            "card 4111 11\u{e0041}11 1111 1111\n",
        ] {
            let mut p = stream(StreamStyle::Pipe);
            let out = String::from_utf8(run(&mut p, &[input.as_bytes()])).unwrap();
            assert!(out.contains("[REDACTED:card]") && !out.contains("1111 1111"), "{input:?}: {out:?}");
        }
        let mut p = stream(StreamStyle::Pipe);
        let out = String::from_utf8(run(&mut p, &[b"DB_PASS\x08\x08\x08\x08PASSWORD=Hunter2x\n"])).unwrap();
        assert!(!out.contains("Hunter2x"), "{out:?}");
        // Round 39: percent-encoded and thin-spaced values in logs; headers' credentials.
        for (input, gone) in [
            ("GET /signup?email=ann%40corp.example&x=1\n", "ann%40corp"),
            ("card 4111\u{2009}1111\u{2009}1111\u{2009}1111\n", "1111\u{2009}1111"),
            ("> Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\n", "YWxhZGRpbjpvcGVuc2VzYW1l"),
            ("X-Api-Key: k3y-Value-9\n", "k3y-Value-9"),
        ] {
            let mut p = stream(StreamStyle::Pipe);
            let out = String::from_utf8(run(&mut p, &[input.as_bytes()])).unwrap();
            assert!(out.contains("[REDACTED") && !out.contains(gone), "{input:?}: {out:?}");
        }
        let mut p = stream(StreamStyle::Pipe);
        assert_eq!(run(&mut p, &[b"load 100%20 done, 50% left\n"]), b"load 100%20 done, 50% left\n");
    }

    #[test]
    fn binary_is_byte_identical() {
        let mut s = stream(StreamStyle::Terminal);
        let mut data = Vec::new();
        let mut x: u32 = 1;
        for _ in 0..100_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            data.push((x >> 16) as u8);
        }
        let chunks: Vec<&[u8]> = data.chunks(3000).collect();
        let out = run(&mut s, &chunks);
        let first = out.iter().zip(&data).position(|(a, b)| a != b);
        assert!(out == data, "lengths {} {}, first difference at {first:?}: {:?} vs {:?}", out.len(), data.len(),
            first.map(|i| String::from_utf8_lossy(&out[i.saturating_sub(20)..(i + 40).min(out.len())]).into_owned()),
            first.map(|i| String::from_utf8_lossy(&data[i.saturating_sub(20)..(i + 40).min(data.len())]).into_owned()));
    }

    #[test]
    fn pem_block_spanning_chunks_is_masked() {
        let mut s = stream(StreamStyle::Pipe);
        let out = run(&mut s, &[b"-----BEGIN PRIVATE KEY-----\nMIIE\n", b"abcd\n-----END PRIVATE KEY-----\n"]);
        assert_eq!(out, b"[REDACTED:private_key]\n");
    }

    /// SSH red-team round 98: a key's body without its BEGIN line, a line at a time.
    #[test]
    fn a_key_body_without_its_armour_is_held_and_masked() {
        let mut s = stream(StreamStyle::Pipe);
        let out = run(
            &mut s,
            &[b"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n", b"QyNTUxOQAAACDq0VSWcUh6T1s8d9rFq0y1u2w3v4x5y6z7A8B9C0D1EA==\n", b"-----END OPENSSH PRIVATE KEY-----\nbye\n"],
        );
        assert_eq!(out, b"[REDACTED:private_key]\nbye\n");
        // The BEGIN line and the body, the END never coming (`head -n -1`).
        let mut s = stream(StreamStyle::Pipe);
        let mut out = s.feed(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9u\n");
        out.extend(s.feed(b"ZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"));
        out.extend(s.flush());
        assert_eq!(out, b"[REDACTED:private_key]\n");
        // Base64 that is not a key goes as it comes.
        let mut s = stream(StreamStyle::Pipe);
        assert_eq!(s.feed(b"aGVsbG8gd29ybGQ=\nU29tZSBtb3Jl\n"), b"aGVsbG8gd29ybGQ=\nU29tZSBtb3Jl\n");
    }

    #[test]
    fn long_lines_are_not_held_forever() {
        let mut s = stream(StreamStyle::Pipe);
        let out = s.feed(&vec![b'x'; MAX_HOLD + 10]);
        assert_eq!(out.len(), MAX_HOLD + 10 - TAIL);
        assert_eq!(s.pending(), TAIL);
        // A value across the cut is held whole and masked.
        let mut s = stream(StreamStyle::Pipe);
        let mut line = vec![b'x'; MAX_HOLD - 5];
        line.extend_from_slice(b" bob@mail.example and on");
        let mut out = s.feed(&line);
        out.extend(s.feed(b" and on\n"));
        assert!(!String::from_utf8_lossy(&out).contains("bob@"), "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn bytes_between_characters_do_not_hide_a_value() {
        for style in [StreamStyle::Pipe, StreamStyle::Terminal] {
            // An invalid UTF-8 byte after each line (`sed 's/$/\xff/'`), a NUL in a chunk,
            // UTF-16 text, an invalid byte and an escape sequence inside a value.
            for input in [
                &b"card 4111 1111 1111 1111\xff\nssn 078-05-1120\xff\n"[..],
                b"\x00\x01bin \xfe\xff bob@mail.example\xc3\n",
                b"b\x00o\x00b\x00@\x00m\x00a\x00i\x00l\x00.\x00e\x00x\x00a\x00m\x00p\x00l\x00e\x00\n\x00",
                b"4111 \x1b[01;31m1111\x1b[m 1111\x00 1111\n",
            ] {
                let mut s = stream(style);
                let out = run(&mut s, &[input]);
                let shown: Vec<u8> = out.iter().copied().filter(|b| b.is_ascii_alphanumeric() || b"@.-".contains(b)).collect();
                let shown = String::from_utf8_lossy(&shown);
                for secret in ["4111111111111111", "078-05-1120", "bob@mail.example"] {
                    assert!(!shown.contains(secret), "{style:?} {input:?}: {}", String::from_utf8_lossy(&out));
                }
            }
        }
    }

    #[test]
    fn a_pipe_holds_a_partial_line_without_a_timer() {
        let mut s = stream(StreamStyle::Pipe);
        assert_eq!(s.feed(b"4111 1111"), b"");
        assert_eq!(s.deadline(), None, "no timer releases a pipe's partial line");
        assert_eq!(run(&mut s, &[b" 1111 1111\n"]), b"[REDACTED:card]\n");
    }

    #[test]
    fn any_chunking_masks_a_pipe_like_one_read() {
        // The `cat` of a file whose values straddle read boundaries (hoop-ssh's openssh test),
        // cut into chunks at every size and offset a host's reads and SSH packets could give.
        let mut data = Vec::new();
        for (i, b) in [4096usize, 16384, 32768, 65536].iter().enumerate() {
            let value = if i % 2 == 0 { "4111 1111 1111 1111".to_string() } else { format!("user{i}@corp.example") };
            while data.len() + 40 < b - value.len() / 2 {
                data.extend_from_slice(b"lorem ipsum dolor sit amet consectetur\n");
            }
            data.resize(b - value.len() / 2 - 1, b'x');
            data.push(b' ');
            data.extend_from_slice(value.as_bytes());
            data.push(b'\n');
        }
        let whole = run(&mut stream(StreamStyle::Pipe), &[&data]);
        assert!(!String::from_utf8_lossy(&whole).contains("4111") && !String::from_utf8_lossy(&whole).contains("@corp"));
        let mut x: u32 = 7;
        for round in 0..400 {
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < data.len() {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let len = match round % 4 {
                    0 => 1 + (x >> 16) as usize % 64,
                    1 => 1 + (x >> 16) as usize % 4096,
                    2 => 1 + (x >> 16) as usize % 40_000,
                    _ => [1, 2, 3, 5, 8, 13, 21, 32_768][(x >> 16) as usize % 8],
                };
                let end = (at + len).min(data.len());
                chunks.push(&data[at..end]);
                at = end;
            }
            let out = run(&mut stream(StreamStyle::Pipe), &chunks);
            assert_eq!(out, whole, "round {round}");
        }
    }

    /// Red-team round 80: an escape string a terminal hides (OSC, DCS, APC, PM, SOS, in ESC or
    /// C1 form), opened before a file and never closed, or closed after it, hid every value in
    /// it from the detectors; a CSI opener hides digits the same way. The agent reads the bytes.
    #[test]
    fn text_inside_escape_strings_is_masked() {
        let secrets = "DB_PASSWORD=Hunter2secret\ncard 4111 1111 1111 1111\nssn 078-05-1120\n";
        for opener in ["\x1b]", "\x1bP", "\x1b_", "\x1b^", "\x1bX", "\u{9d}", "\u{90}", "\u{98}", "\x1b[", "\u{9b}"] {
            for closer in ["", "\x07", "\x1b\\", "\u{9c}"] {
                let input = format!("{opener}{secrets}{closer}tail\n");
                for style in [StreamStyle::Pipe, StreamStyle::Terminal] {
                    // Whole, and byte by byte.
                    let whole = run(&mut stream(style), &[input.as_bytes()]);
                    let bytes: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
                    let split = run(&mut stream(style), &bytes);
                    for out in [whole, split] {
                        let out = String::from_utf8_lossy(&out);
                        assert!(!out.contains("Hunter2") && !out.contains("1111 1111") && !out.contains("078-05"), "{opener:?} {closer:?} {style:?}: {out:?}");
                    }
                }
            }
        }
        // Past what a stream holds of a line: a credential 100 KB into an unclosed string.
        let mut input = b"\x1b]".to_vec();
        input.extend(std::iter::repeat_n(b'z', 100_000));
        input.extend_from_slice(b" DB_PASSWORD=Hunter2secret more text\n");
        let chunks: Vec<&[u8]> = input.chunks(4096).collect();
        let out = run(&mut stream(StreamStyle::Pipe), &chunks);
        assert!(!String::from_utf8_lossy(&out).contains("Hunter2"));
        // Colour inside a value is still read as a terminal shows it.
        let out = run(&mut stream(StreamStyle::Pipe), &[b"card 4111 \x1b[01;31m1111\x1b[m 1111 1111\n"]);
        assert!(!String::from_utf8_lossy(&out).contains("1111"), "{:?}", String::from_utf8_lossy(&out));
    }
}
