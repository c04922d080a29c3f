//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, not part of the API).

/// Decoded exec WebSocket frames from either side, as the gateway reads them: a channel byte,
/// then stdin (read as typed lines for an agent's shell), a resize (JSON), or a status (JSON).
pub fn exec_frames(data: &[u8]) {
    let mut typed = hoop_core::action::typed::TypedLines::default();
    for frame in data.split(|b| *b == 0xff) {
        match frame.split_first() {
            Some((0, input)) => {
                let _ = typed.push(input);
            }
            Some((3, status)) => {
                let _ = crate::exec::exit_code(status);
            }
            Some((4, size)) => {
                let _ = serde_json::from_slice::<serde_json::Value>(size);
            }
            _ => {}
        }
    }
}
