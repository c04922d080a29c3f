//! Kubernetes request paths: decoded once as the API server decodes them, then classified.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| {
    if let Ok(raw) = std::str::from_utf8(data) {
        if let Ok(path) = hoop_k8s::path::canonical(raw) {
            let _ = hoop_k8s::path::route(&path, Some("t"), |_| true);
        }
    }
});
