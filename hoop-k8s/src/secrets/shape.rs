//! Which Secret values are shaped like ordinary text (words, numbers, public addresses) and
//! so not searched for: masking them would mask that text in every object of the cluster.

use super::MIN_UNNAMED;

/// Whether a Secret's value (`named` like a credential or not) is worth searching for wherever
/// it was copied: long enough (every value from 16 bytes, a named one from 6), and not shaped
/// like an ordinary word or a public address (red-team round 96: `password`, `kubernetes`,
/// `production`, `localhost:5432`, a service's host name and an API's URL, under credential
/// names or long, were masked in every object, log and file of the cluster, label keys
/// included). A short value of letters only, in one case or capitalised, is a word; an address
/// is a host name (with a port) or a URL with no user, query or token-like path segment.
pub(super) fn searchable(v: &[u8], named: bool) -> bool {
    let long = v.len() >= MIN_UNNAMED;
    if !(long || (named && v.len() >= hoop_core::mask::known::MIN_LEN)) {
        return false;
    }
    let Ok(t) = std::str::from_utf8(v) else { return true };
    let t = t.trim();
    // A word: letters only, in one case or capitalised, as words are written, with a vowel in
    // every four letters or so (red-team round 97: mixed-case random letters and
    // `qzxwvkjmplrtyhg` are passwords). A number of digits only is searched, found only where no
    // digit touches it (see `KnownValues`).
    let letters = t.chars().count();
    let vowels = t.chars().filter(|c| "aeiouyAEIOUY".contains(*c)).count();
    let word = t.chars().all(char::is_alphabetic) && vowels * 4 >= letters && {
        let rest = t.chars().skip(1);
        t.chars().all(char::is_lowercase) || t.chars().all(char::is_uppercase) || (t.starts_with(char::is_uppercase) && rest.clone().all(char::is_lowercase))
    };
    if !long && word {
        return false;
    }
    !is_public_address(t, named)
}

/// A host name with a port (`localhost:5432`), a dotted host name when not `named` like a
/// credential (`db.internal.example.com`; a named one may be a passphrase of dotted words), or
/// a URL with no user, query or fragment whose path segments are words or API versions
/// (`https://api.example.com/v1/`, `https://oauth2.googleapis.com/token`; not a webhook's
/// `…/T0/B0/XXXXXXXXXXXXXXXXXXXXXXXX`).
pub(super) fn is_public_address(t: &str, named: bool) -> bool {
    let host = |h: &str, bare: bool| {
        let port = h.rsplit_once(':').filter(|(_, port)| !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()));
        let name = port.map_or(h, |(n, _)| n);
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')) && (port.is_some() || (bare && name.contains('.')))
    };
    let Some((scheme, rest)) = t.split_once("://") else { return host(t, !named) };
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-')) || rest.contains(['@', '?', '#']) {
        return false;
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    // A word (letters and `.-_`, maybe one digit at its end: `oauth2`), or an API version (`v1`,
    // `v2beta1`): a segment with digits otherwise may be a hook's id or token
    // (`…/hooks/catch/123456/…`).
    let version = |seg: &str| seg.len() <= 8 && seg.strip_prefix('v').is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    let word = |seg: &str| {
        let letters = seg.strip_suffix(|c: char| c.is_ascii_digit()).unwrap_or(seg);
        seg.len() <= 24 && (seg.is_empty() || !letters.is_empty()) && letters.bytes().all(|b| b.is_ascii_alphabetic() || matches!(b, b'.' | b'-' | b'_'))
    };
    let wordy = |seg: &str| version(seg) || word(seg);
    host(authority, true) && path.split('/').all(wordy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_numbers_and_public_addresses_are_not_searched() {
        // Red-team round 96: these masked ordinary text across the cluster.
        for (v, named) in [("password", true), ("kubernetes", true), ("Running", true), ("PRODUCTION", true), ("localhost:5432", true), ("db.internal.example.com", false), ("postgres.default.svc.cluster.local", false), ("https://api.example.com/v1/", false), ("https://oauth2.googleapis.com/token", true), ("Authorization", true)] {
            assert!(!searchable(v.as_bytes(), named), "{v}");
        }
        for (v, named) in [("hunter2", true), ("s3cr3tVal90xyz", true), ("correct.horse.battery", true), ("482917", true), ("qzxwvkjmplrtyhg", true), ("qZxWvKjmPl", true), ("Rtk94PlainLongValue1234", false), ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX", false), ("https://hooks.zapier.com/hooks/catch/123456/abcdef1/", false), ("https://user:pw12345@db.example.com/app", false), ("https://api.example.com/hook?token=abc", false), ("Summer2024!", true)] {
            assert!(searchable(v.as_bytes(), named), "{v}");
        }
    }
}
