//! Config files, rules (CEL) and masking compiled as at load.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| {
    // Secret references read the environment and files (`file:/dev/zero` never ends): what
    // they name is the operator's, not a peer's, so they are left out.
    if let Ok(text) = std::str::from_utf8(data)
        && !text.contains("file:")
        && !text.contains("env:")
    {
        let _ = hoop_core::config::Config::parse(text, "fuzz");
    }
});
