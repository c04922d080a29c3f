//! Postgres frontend messages (after login): framing, decoding, SQL analysis.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hoop_pg::fuzz::frontend(data));
