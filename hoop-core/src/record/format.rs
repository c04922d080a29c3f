//! The stored line format: JSON with its own hash spliced in last.
//!
//! A line is `{"seq":N,"ts":"…","prev":"<hex>","body":{…},"hash":"<hex>"}`. The hash is the
//! SHA-256 of the same line without `,"hash":"…"` (i.e. ending in `}`), so it covers exactly the
//! stored bytes and verification never depends on re-serialising.

use serde::Serialize;

/// Bytes of the `,"hash":"<64 hex>"}` suffix.
pub(crate) const SUFFIX_LEN: usize = 9 + 64 + 2;
/// The hash before the first record.
pub(crate) const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Builds the stored line (with trailing newline) and returns it with its hash.
pub(crate) fn encode(seq: u64, ts: &str, prev: &str, body: &impl Serialize) -> Result<(Vec<u8>, String), serde_json::Error> {
    let mut line = Vec::with_capacity(256);
    line.extend_from_slice(b"{\"seq\":");
    line.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    line.extend_from_slice(b",\"ts\":");
    serde_json::to_writer(&mut line, ts)?;
    line.extend_from_slice(b",\"prev\":\"");
    line.extend_from_slice(prev.as_bytes());
    line.extend_from_slice(b"\",\"body\":");
    serde_json::to_writer(&mut line, body)?;
    line.push(b'}');
    let hash = sha256_hex(&line);
    line.pop();
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    Ok((line, hash))
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

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    // `encode_to_slice` is a table lookup per byte; `hex::encode` goes through a char iterator
    // and costs several times more, once per record.
    let mut out = [0u8; 64];
    match hex::encode_to_slice(digest.as_ref(), &mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => hex::encode(digest.as_ref()),
    }
}
