//! Postgres backend messages: framing, row descriptions, DataRow masking, error masking.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hoop_pg::fuzz::backend(data));
