//! Shared inputs for hoop's benchmarks, so every benchmark measures the same workload.
#![allow(clippy::indexing_slicing)]

/// Bytes of mixed text the masking benchmark scans per iteration.
pub const MIXED_TEXT_BYTES: usize = 1 << 20;

/// Log- and result-like text: mostly ordinary words, numbers and timestamps, with an email,
/// a card number, a JWT and an IBAN sprinkled in (about one sensitive value per 600 bytes).
pub fn mixed_text() -> Vec<u8> {
    let lines = [
        "2026-11-25T10:00:01.123Z INFO request handled path=/api/v1/orders status=200 duration_ms=12\n",
        "order 48213 shipped to customer 1182 (bob.smith@example.com) total 129.95 EUR\n",
        "SELECT id, name, created_at FROM orders WHERE customer_id = 1182 ORDER BY created_at DESC LIMIT 50;\n",
        "payment accepted card 4111 1111 1111 1111 exp 12/29 auth code 77812\n",
        "user agent Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 session 9f8e7d6c5b4a\n",
        "refund to DE89 3704 0044 0532 0130 00 requested by finance team, ticket FIN-2231\n",
        "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt\n",
        "auth header Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl ok\n",
        "metrics cpu=0.42 mem=1834MiB gc_pause_ms=3 threads=18 queue_depth=0 version=1.24.7\n",
        "ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip\n",
    ];
    let mut out = Vec::with_capacity(MIXED_TEXT_BYTES + 200);
    let mut i = 0;
    while out.len() < MIXED_TEXT_BYTES {
        out.extend_from_slice(lines[i % lines.len()].as_bytes());
        // Mostly plain lines: the sensitive ones recur less often than the ordinary ones.
        i += if i % 3 == 0 { 1 } else { 2 };
    }
    out.truncate(MIXED_TEXT_BYTES);
    // Keep the buffer valid UTF-8 text (truncation cut inside ASCII, so it is).
    out
}

/// Base64 of pseudo-random bytes, one line of [`MIXED_TEXT_BYTES`] (`base64 -w0` of a file):
/// the text that made one automaton of all detectors fall back to its slow engine.
pub fn base64_text() -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..MIXED_TEXT_BYTES)
        .map(|_| {
            // xorshift64: deterministic, so every run scans the same text.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x >> 58) as usize]
        })
        .collect()
}
