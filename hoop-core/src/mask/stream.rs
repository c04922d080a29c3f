//! Stream masking: terminal and pipe output, masked correctly across chunk boundaries.
//!
//! A match can straddle two reads (`4111 1111` then ` 1111 1111`), so the masker holds back
//! the unfinished last line and scans it once it is complete. Held bytes are released after
//! a short deadline ([`StreamMasker::deadline`]) so interactive echo never stalls. Escape
//! sequences are never scanned or split, incomplete UTF-8 is held until complete, and chunks
//! that are not text (NULs, invalid UTF-8) pass through untouched.

use super::Masker;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest unfinished line held back before it is scanned anyway.
const MAX_HOLD: usize = 4096;
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
}

impl StreamMasker {
    pub(crate) fn new(masker: Arc<Masker>, style: StreamStyle, hold: Duration) -> Self {
        StreamMasker { masker, style, hold, pending: Vec::new(), since: None }
    }

    /// Bytes currently held back.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// When held bytes must be released with [`flush`](Self::flush), if any are held.
    pub fn deadline(&self) -> Option<Instant> {
        self.since.map(|t| t + self.hold)
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
        let held = buf.len();
        buf.extend_from_slice(chunk);
        let valid = match std::str::from_utf8(&buf) {
            Ok(_) => buf.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => usize::MAX,
        };
        if valid == usize::MAX || chunk.contains(&0) {
            // Binary: scan what was held (it was text), pass the chunk through untouched.
            let (text, bin) = buf.split_at(held);
            let mut out = Vec::with_capacity(buf.len());
            self.mask_segments(text, &mut out);
            out.extend_from_slice(bin);
            self.since = None;
            return out;
        }
        let cut = split_point(&buf, valid);
        let mut out = Vec::with_capacity(cut + 16);
        self.mask_segments(buf.get(..cut).unwrap_or_default(), &mut out);
        self.pending = buf.get(cut..).unwrap_or_default().to_vec();
        if self.pending.is_empty() {
            self.since = None;
        } else if self.since.is_none() {
            self.since = Some(Instant::now());
        }
        out
    }

    /// Releases everything held, masked as far as it goes.
    pub fn flush(&mut self) -> Vec<u8> {
        let buf = std::mem::take(&mut self.pending);
        self.since = None;
        let mut out = Vec::with_capacity(buf.len());
        if super::is_text(&buf) {
            self.mask_segments(&buf, &mut out);
        } else {
            out.extend_from_slice(&buf);
        }
        out
    }

    /// Masks the text between escape sequences; the sequences pass as they are.
    fn mask_segments(&self, mut bytes: &[u8], out: &mut Vec<u8>) {
        let same_len = self.style == StreamStyle::Terminal;
        while !bytes.is_empty() {
            let esc = bytes.iter().position(|b| *b == 0x1b).unwrap_or(bytes.len());
            let (text, rest) = bytes.split_at(esc);
            if !text.is_empty() {
                self.masker.mask_into(text, same_len, true, out);
            }
            let n = escape_len(rest).unwrap_or(rest.len());
            out.extend_from_slice(rest.get(..n).unwrap_or(rest));
            bytes = rest.get(n..).unwrap_or_default();
        }
    }
}

/// Length of the escape sequence at the start of `b` (which starts with ESC), or `None` if it is incomplete.
fn escape_len(b: &[u8]) -> Option<usize> {
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
        // Charset selection takes one more byte.
        b'(' | b')' | b'*' | b'+' => b.get(2).map(|_| 3),
        _ => Some(2),
    }
}

/// Where to cut `buf` so that nothing after the cut can still be part of a match that is
/// completed by later bytes: after the last newline, never inside an incomplete UTF-8
/// character (`valid`), an incomplete escape sequence, or an unterminated PEM block.
fn split_point(buf: &[u8], valid: usize) -> usize {
    let mut limit = valid.min(buf.len());
    // An escape sequence still open at the end must stay whole.
    if let Some(esc) = buf.get(..limit).and_then(|b| b.iter().rposition(|c| *c == 0x1b))
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
    let head = buf.get(..limit).unwrap_or_default();
    let cut = head.iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
    if limit - cut > MAX_HOLD { limit } else { cut }
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::super::{MaskConfig, Masker};
    use super::*;

    fn stream(style: StreamStyle) -> StreamMasker {
        Arc::new(Masker::new(&MaskConfig::default(), None).unwrap()).stream(style)
    }

    fn run(s: &mut StreamMasker, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.feed(c));
        }
        out.extend(s.flush());
        out
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
        assert_eq!(run(&mut s, &chunks), data);
    }

    #[test]
    fn pem_block_spanning_chunks_is_masked() {
        let mut s = stream(StreamStyle::Pipe);
        let out = run(&mut s, &[b"-----BEGIN PRIVATE KEY-----\nMIIE\n", b"abcd\n-----END PRIVATE KEY-----\n"]);
        assert_eq!(out, b"[REDACTED:private_key]\n");
    }

    #[test]
    fn long_lines_are_not_held_forever() {
        let mut s = stream(StreamStyle::Pipe);
        let out = s.feed(&vec![b'x'; MAX_HOLD + 10]);
        assert_eq!(out.len(), MAX_HOLD + 10);
        assert_eq!(s.pending(), 0);
    }
}
