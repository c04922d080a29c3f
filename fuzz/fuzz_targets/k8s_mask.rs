//! Kubernetes JSON responses (objects, lists, Tables) through the document masker.
#![no_main]
use std::sync::OnceLock;

fn masker() -> &'static hoop_core::mask::Masker {
    static M: OnceLock<hoop_core::mask::Masker> = OnceLock::new();
    M.get_or_init(|| hoop_core::mask::Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap())
}

libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| {
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    for resource in ["secrets", "pods", "configmaps"] {
        let scope = hoop_k8s::mask::Scope { target: "t", group: "", resource };
        let _ = hoop_k8s::mask::may_need_masking(masker(), scope, data);
        let _ = hoop_k8s::mask::mask_document(masker(), scope, &mut doc);
    }
});
