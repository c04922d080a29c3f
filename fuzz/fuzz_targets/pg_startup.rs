//! Startup-phase packets: SSLRequest, GSSENCRequest, CancelRequest, StartupMessage.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| hoop_pg::fuzz::startup(data));
