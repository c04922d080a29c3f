//! Stored recordings read back and verified.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| hoop_core::fuzz::verify_recording(data));
