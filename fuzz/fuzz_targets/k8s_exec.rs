//! Kubernetes exec WebSocket frames as the gateway reads them (channel byte, stdin as typed
//! lines, resize and status JSON); frames separated by 0xff.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| {
    hoop_k8s::fuzz::exec_frames(data);
});
