//! SFTP packets from a client, decoded for the paths they name.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| hoop_ssh::fuzz::sftp(data));
