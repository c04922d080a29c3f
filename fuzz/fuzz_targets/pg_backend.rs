//! Postgres backend messages: framing, row descriptions, DataRow masking, error masking.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| hoop_pg::fuzz::backend(data));
