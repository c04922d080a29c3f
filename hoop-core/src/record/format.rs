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
pub(crate) fn encode_into(out: &mut Vec<u8>, seq: u64, ts: &str, prev: &Hash, body: &impl Serialize) -> Result<Hash, serde_json::Error> {
    let start = out.len();
    let result = write_line(out, seq, ts, prev, body);
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
fn write_line(out: &mut Vec<u8>, seq: u64, ts: &str, prev: &Hash, body: &impl Serialize) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    out.extend_from_slice(b",\"ts\":");
    serde_json::to_writer(&mut *out, ts)?;
    out.extend_from_slice(b",\"prev\":\"");
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

/// Bytes of a record timestamp, `2026-11-26T05:26:12.902280Z`.
const TS_LEN: usize = 27;

/// A record timestamp: RFC 3339, UTC, microseconds.
pub(crate) struct Timestamp([u8; TS_LEN]);

impl Timestamp {
    /// The current time.
    pub(crate) fn now() -> Self {
        thread_local! {
            // The formatted date and time of the last second seen: formatting a full timestamp
            // per record showed in profiles, and consecutive records almost always share it.
            static SECOND: Cell<(i64, [u8; 19])> = const { Cell::new((i64::MIN, [0; 19])) };
        }
        let now = chrono::Utc::now();
        let secs = now.timestamp();
        let (cached, mut prefix) = SECOND.get();
        if cached != secs {
            let text = now.format("%Y-%m-%dT%H:%M:%S").to_string();
            match <[u8; 19]>::try_from(text.as_bytes()) {
                Ok(p) => prefix = p,
                // Years past 9999 do not fit; never cached, formatted in full below.
                Err(_) => return Timestamp::slow(now),
            }
            SECOND.set((secs, prefix));
        }
        let mut out = [0u8; TS_LEN];
        out[..19].copy_from_slice(&prefix);
        out[19] = b'.';
        // A leap second reports 1_000_000 or more: held at the last microsecond of the second.
        let mut micros = now.timestamp_subsec_micros().min(999_999);
        for digit in out[20..26].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        out[26] = b'Z';
        Timestamp(out)
    }

    fn slow(now: chrono::DateTime<chrono::Utc>) -> Self {
        let text = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut out = [b'0'; TS_LEN];
        out.iter_mut().zip(text.bytes()).for_each(|(o, b)| *o = b);
        Timestamp(out)
    }

    /// The timestamp as text.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
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
        let ts = Timestamp::now();
        let after = chrono::Utc::now();
        let parsed = chrono::DateTime::parse_from_rfc3339(ts.as_str()).unwrap();
        assert!(parsed >= before.trunc_subsecs(6) && parsed <= after, "{}", ts.as_str());
        assert_eq!(ts.as_str().len(), before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).len());
        // Within one second the cached prefix is reused and stays right.
        let again = Timestamp::now();
        assert!(chrono::DateTime::parse_from_rfc3339(again.as_str()).unwrap() >= parsed);
    }
}
