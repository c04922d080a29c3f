//! The stored line format: JSON with its own hash spliced in last.
//!
//! A line is `{"seq":N,"ts":"…","prev":"<hex>","body":{…},"hash":"<hex>"}`. The hash is the
//! SHA-256 of the same line without `,"hash":"…"` (i.e. ending in `}`), so it covers exactly the
//! stored bytes and verification never depends on re-serialising.

use serde::Serialize;
use std::cell::Cell;

/// Bytes of the `,"hash":"<64 hex>"}` suffix.
pub(crate) const SUFFIX_LEN: usize = 9 + 64 + 2;

/// Appends the stored line (with trailing newline) to `out` and returns its hash; on error `out`
/// is left as it was. Appending lets a log reuse one buffer instead of allocating per record.
pub(crate) fn encode_into(out: &mut Vec<u8>, seq: u64, prev: &Hash, body: &impl Serialize) -> Result<Hash, serde_json::Error> {
    let start = out.len();
    let result = write_line(out, seq, prev, body);
    if result.is_err() {
        out.truncate(start);
    }
    result.map(|()| {
        let hash = Hash::of(out.get(start..).unwrap_or_default());
        out.pop();
        out.extend_from_slice(b",\"hash\":\"");
        out.extend_from_slice(hash.as_str().as_bytes());
        out.extend_from_slice(b"\"}\n");
        hash
    })
}

/// The line up to and including the closing brace the hash covers.
fn write_line(out: &mut Vec<u8>, seq: u64, prev: &Hash, body: &impl Serialize) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    out.extend_from_slice(b",\"ts\":\"");
    write_timestamp(out);
    out.extend_from_slice(b"\",\"prev\":\"");
    out.extend_from_slice(prev.as_str().as_bytes());
    out.extend_from_slice(b"\",\"body\":");
    serde_json::to_writer(&mut *out, body)?;
    out.push(b'}');
    Ok(())
}

/// A record hash as stored: SHA-256, lowercase hex, kept inline (one per record, no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hash([u8; 64]);

impl Hash {
    /// The hash before the first record.
    pub(crate) const ZERO: Hash = Hash([b'0'; 64]);

    /// The hash of `bytes`.
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0u8; 64];
        // `encode_to_slice` is a table lookup per byte; `hex::encode` goes through a char
        // iterator and costs several times more, once per record. It only fails on a length
        // mismatch, which SHA-256's fixed 32 bytes rule out.
        let _ = hex::encode_to_slice(digest.as_ref(), &mut out);
        Hash(out)
    }

    /// A stored hash read back (64 lowercase hex digits).
    pub(crate) fn parse(hex: &str) -> Option<Self> {
        let bytes: [u8; 64] = hex.as_bytes().try_into().ok()?;
        bytes.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)).then_some(Hash(bytes))
    }

    /// The hash as hex text.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The hash a stored line (without newline) should carry, recomputed from its bytes.
pub(crate) fn recompute(line: &[u8]) -> Option<String> {
    let cut = line.len().checked_sub(SUFFIX_LEN)?;
    let (head, tail) = line.split_at(cut);
    if !tail.starts_with(b",\"hash\":\"") || !tail.ends_with(b"\"}") {
        return None;
    }
    let mut v = head.to_vec();
    v.push(b'}');
    Some(sha256_hex(&v))
}

/// Appends the current time as a record stores it, RFC 3339 in UTC with microseconds
/// (`2026-11-26T05:26:12.902280Z`), without quotes.
fn write_timestamp(out: &mut Vec<u8>) {
    thread_local! {
        // The formatted date and time of the last second seen: formatting a full timestamp per
        // record showed in profiles, and consecutive records almost always share the second.
        static SECOND: Cell<(i64, [u8; 19])> = const { Cell::new((i64::MIN, [0; 19])) };
    }
    // The clock read once, without chrono's calendar arithmetic unless the second changed.
    let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) else {
        out.extend_from_slice(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).as_bytes());
        return;
    };
    let secs = since.as_secs() as i64;
    let (cached, mut prefix) = SECOND.get();
    if cached != secs {
        let at = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
        match <[u8; 19]>::try_from(at.format("%Y-%m-%dT%H:%M:%S").to_string().as_bytes()) {
            Ok(p) => prefix = p,
            // A year past 9999 does not fit the cache: formatted in full each time.
            Err(_) => {
                let at = chrono::DateTime::from_timestamp(secs, since.subsec_nanos()).unwrap_or_default();
                out.extend_from_slice(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).as_bytes());
                return;
            }
        }
        SECOND.set((secs, prefix));
    }
    out.extend_from_slice(&prefix);
    let micros = since.subsec_micros().min(999_999);
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.push(b'.');
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Hash::of(bytes).as_str().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SubsecRound;

    #[test]
    fn timestamp_matches_chrono_rfc3339() {
        let before = chrono::Utc::now();
        let stamp = || {
            let mut out = Vec::new();
            write_timestamp(&mut out);
            String::from_utf8(out).unwrap()
        };
        let (first, second) = (stamp(), stamp());
        let after = chrono::Utc::now();
        // The same shape as chrono's own RFC 3339 with microseconds, and the right time; the
        // second one reuses the cached date and time.
        assert_eq!(first.len(), before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).len());
        let (a, b) = (chrono::DateTime::parse_from_rfc3339(&first).unwrap(), chrono::DateTime::parse_from_rfc3339(&second).unwrap());
        assert!(a >= before.trunc_subsecs(6) && a <= b && b <= after, "{first} {second}");
    }
}
