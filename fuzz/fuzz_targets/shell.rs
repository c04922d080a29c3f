//! Exec command lines read as the shell will run them.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = hoop_core::action::Action::exec("t", line);
    }
});
