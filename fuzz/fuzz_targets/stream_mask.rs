//! The stream masker (terminal output, logs): values split across chunks at fuzzed points.
#![no_main]
use std::sync::{Arc, OnceLock};

fn masker() -> &'static Arc<hoop_core::mask::Masker> {
    static M: OnceLock<Arc<hoop_core::mask::Masker>> = OnceLock::new();
    M.get_or_init(|| Arc::new(hoop_core::mask::Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap()))
}

libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    for style in [hoop_core::mask::StreamStyle::Pipe, hoop_core::mask::StreamStyle::Terminal] {
        let mut m = masker().stream(style);
        for chunk in rest.chunks(usize::from(split).max(1)) {
            let _ = m.feed(chunk);
        }
        let _ = m.flush();
    }
    let _ = masker().mask_bytes(rest);
});
