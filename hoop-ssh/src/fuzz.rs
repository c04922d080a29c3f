//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, not part of the API).

/// One SFTP packet from a client, as the gateway decodes it to check its paths.
pub fn sftp(packet: &[u8]) {
    let _ = crate::sftp::path_request(packet, "/home/agent");
}
