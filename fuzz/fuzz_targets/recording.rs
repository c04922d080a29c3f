//! Stored recordings read back and verified.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hoop_core::fuzz::verify_recording(data));
