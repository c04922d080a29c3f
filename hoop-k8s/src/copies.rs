//! Which files an agent's exec names hold copies of Secret values, read in the container by an
//! exec of the gateway's own (as the scripts a held exec runs are, see `scripts.rs`).
//!
//! Masking finds a Secret's values wherever they were copied, as they are written (see
//! `secrets/`). A program that prints such a file with its bytes rewritten, cut inside its
//! lines or taken apart at a delimiter (`fold -w3`, `cut -d a -f1 --output-delimiter=_`,
//! `column -t -s a`, `jq '.pw / "a"'`: red-team rounds 91 and 92) prints the value past that.
//! There are too many such programs and options to list, so the files are read first: a file
//! holding a copy is then judged as a credentials file is (`agent-review-secret-copies` holds
//! any program but those printing its lines as they are), and other files are not held at all.

use crate::scripts::Place;
use hoop_core::gate::SessionHandle;
use hoop_core::mask::Masker;

/// Bytes of a file read to look for copies; a longer file is taken to hold one.
const MAX_READ: usize = 4 << 20;
/// Files of one command read at most; past them, the rest are taken to hold copies.
const MAX_FILES: usize = 8;

/// What one read found.
enum Found {
    /// The file holds a Secret value (or could not be read whole, which counts the same).
    Copy,
    /// It holds none.
    Clean,
    /// There is no such file to read (missing, a directory, a device): the command reads none.
    Nothing,
}

/// The paths among `paths` (an agent's exec's, as the reader normalised them) that hold a
/// copy of a value `masker` knows to be secret, or may: a recursive read (`DIR/**`) of a
/// directory, a file hoop could not read whole, and every path past [`MAX_FILES`]. Empty when
/// `masker` knows no values.
pub(crate) async fn find(place: &Place<'_>, session: &SessionHandle, masker: &Masker, paths: &[String]) -> Vec<String> {
    if !masker.knows_values() {
        return Vec::new();
    }
    let mut copies = Vec::new();
    let mut read = 0;
    for path in paths {
        // Written, not read (`<new>`), the kernel's own files (judged by their own rules), the
        // terminal and the null device.
        if path.contains("<new>") || path.starts_with("/proc/") || path.starts_with("/dev/") || path.starts_with("/sys/") {
            continue;
        }
        if path.ends_with("/**") || read >= MAX_FILES {
            copies.push(path.clone());
            continue;
        }
        read += 1;
        match one(place, session, masker, path).await {
            Found::Copy => copies.push(path.clone()),
            Found::Clean | Found::Nothing => {}
        }
    }
    copies
}

/// Reads `path` in the container and searches it.
async fn one(place: &Place<'_>, session: &SessionHandle, masker: &Masker, path: &str) -> Found {
    match place.read_bytes(session, path, MAX_READ).await {
        // Not read whole, or not read at all: taken to hold one.
        Err(_) => Found::Copy,
        Ok((text, _)) if text.len() > MAX_READ => Found::Copy,
        Ok((text, Some(0))) => {
            if holds_a_value(masker, &text) { Found::Copy } else { Found::Clean }
        }
        // `cat` failed: no such file, a directory, or one it may not read (nor may the
        // command, which runs as the same user).
        Ok((text, Some(_))) if text.is_empty() => Found::Nothing,
        Ok(_) => Found::Copy,
    }
}

/// Whether `text` holds a value `masker` knows, as written or as a reader sees it (escapes and
/// invisible characters skipped, as masking reads output), whatever surrounds it: red-team
/// round 99's `redis://:PASSWORD@host` in a file was masked as a URL's credentials, not as the
/// value, and `fold` of it was not held.
fn holds_a_value(masker: &Masker, text: &[u8]) -> bool {
    masker.holds_known_value(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoop_core::mask::{KnownValues, MaskConfig};
    use std::sync::Arc;

    #[test]
    fn a_file_holds_a_value_in_any_spelling_masking_knows() {
        let base = Masker::new(&MaskConfig::default(), None).unwrap();
        let m = base.with_known(Arc::new(KnownValues::new([b"Rtk92SecretPassValue".to_vec(), b"UnRrOTJTZWNyZXRQYXNzVmFsdWU=".to_vec()]).unwrap()));
        assert!(holds_a_value(&m, b"setting Rtk92SecretPassValue\n"));
        assert!(holds_a_value(&m, b"b64 UnRrOTJTZWNyZXRQYXNzVmFsdWU=\n"));
        assert!(holds_a_value(&m, b"Rtk92Secret\x1b[0mPassValue"), "an escape inside it");
        assert!(holds_a_value(&m, b"REDIS_URL=redis://:Rtk92SecretPassValue@redis:6379/0\n"), "inside another detector's hit");
        assert!(!holds_a_value(&m, b"GET /health 200\n"));
        assert!(!base.knows_values() && m.knows_values());
    }
}
