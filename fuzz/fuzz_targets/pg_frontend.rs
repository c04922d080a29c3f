//! Postgres frontend messages (after login): framing, decoding, SQL analysis.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| hoop_pg::fuzz::frontend(data));
