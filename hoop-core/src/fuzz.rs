//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, not part of the API).

/// A stored recording's bytes, verified (no keys: signatures fail, nothing may panic).
pub fn verify_recording(bytes: &[u8]) {
    let _ = crate::record::verify::verify_bytes("s_fuzz", bytes, &[]);
}
