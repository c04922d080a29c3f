//! Tar streams: the extractor check reading an agent's stdin (`TarGuard`), and the archive
//! masker reading what `tar cf -` prints (`ArchiveMasker`), each fed in fuzzed chunk sizes.
#![no_main]
use std::sync::{Arc, OnceLock};

fn masker() -> &'static Arc<hoop_core::mask::Masker> {
    static M: OnceLock<Arc<hoop_core::mask::Masker>> = OnceLock::new();
    M.get_or_init(|| Arc::new(hoop_core::mask::Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap()))
}

libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let size = usize::from(split).max(1) * 7;
    let mut guard = hoop_core::action::archive::TarGuard::default();
    let mut out = Vec::new();
    for chunk in rest.chunks(size) {
        if guard.feed(chunk, &mut out).is_err() {
            break;
        }
    }
    // What passes is a prefix of what came.
    assert!(rest.starts_with(&out));
    let mut m = hoop_core::mask::archive::ArchiveMasker::new(masker().clone());
    for chunk in rest.chunks(size) {
        let _ = m.feed(chunk);
    }
    let _ = m.flush();
});
