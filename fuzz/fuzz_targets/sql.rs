//! The SQL classifier and the literal masker reviewers see.
#![no_main]
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hoop_core::action::sql::analyze(text);
        let _ = hoop_core::action::sql::mask_literals(text, |l| std::borrow::Cow::Owned(l.to_uppercase()));
    }
});
