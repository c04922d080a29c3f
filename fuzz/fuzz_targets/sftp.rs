//! SFTP packets from a client, decoded for the paths they name.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hoop_ssh::fuzz::sftp(data));
