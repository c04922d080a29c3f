//! Text made safe to show a person: what an agent wrote (a statement, a command, an error it
//! provoked) printed on a reviewer's terminal or sent to a chat channel.
//!
//! A terminal obeys escape sequences in what it prints, and bidirectional overrides reorder what
//! it shows: red-team round 24 hid `; update payments … where id > 0` behind `ESC[56D ESC[K`
//! inside a comment, so `hoop approvals list` showed a harmless select and the reviewer approved
//! the write. Every control character, and every invisible or direction-changing one, is shown
//! as an escape (`\n`, `\u{1b}`), so what is shown is what will run, on one line. A backslash
//! that would start one of those escapes (before `\`, `n`, `t`, `r` or `u`) is shown doubled, so
//! an escape shown is never one the text spelled out (red-team round 53: `-- note\r or id > 0`
//! with the two characters `\r` read the same as with a carriage return, which ends a `--`
//! comment in PostgreSQL); any other stays as written, so `E'a\x40b'` reads as the statement
//! runs (red-team identity round 85: shown `E'a\\x40b'`, it read as another string).

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with control, invisible and direction-changing characters written as escapes.
///
/// ```
/// assert_eq!(hoop_core::display::escaped("select 1 /*\u{1b}[2K*/"), "select 1 /*\\u{1b}[2K*/");
/// assert_eq!(hoop_core::display::escaped("select\n1"), "select\\n1");
/// assert_eq!(hoop_core::display::escaped("plain é"), "plain é");
/// assert_eq!(hoop_core::display::escaped("a\\rb"), "a\\\\rb");
/// assert_eq!(hoop_core::display::escaped("E'a\\x40b'"), "E'a\\x40b'");
/// ```
pub fn escaped(s: &str) -> Cow<'_, str> {
    let starts_escape = |next: Option<char>| matches!(next, Some('\\' | 'n' | 't' | 'r' | 'u'));
    let mut chars = s.chars().peekable();
    let mut plain = true;
    while let Some(c) = chars.next() {
        if hidden(c) || (c == '\\' && starts_escape(chars.peek().copied())) {
            plain = false;
            break;
        }
    }
    if plain {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if starts_escape(chars.peek().copied()) => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `c` would act on a terminal, or not show as itself: C0 and C1 controls, DEL, zero
/// widths, direction marks and overrides, line and paragraph separators, the byte-order mark.
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Text serde_json wrote (which escapes controls below U+0020, quotes and backslashes in its
/// strings already) with the characters it leaves as they are, controls above it and invisible
/// or direction-changing ones, written as [`escaped`] writes them (`\u{202e}`, which JSON's
/// doubled backslashes never spell): a ticket's action laid out as JSON,
/// where a newline reads `\n` as JSON has it (identity red-team round 112: escaped again, it
/// read `\\n`).
///
/// ```
/// let json = serde_json::to_string(&"a\n\u{202e}b\\n").unwrap();
/// assert_eq!(hoop_core::display::escaped_json(&json), r#""a\n\u{202e}b\\n""#);
/// ```
pub fn escaped_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(hidden) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn escapes_and_overrides_are_shown_not_obeyed() {
        let hiding = "select 1 /**/; update payments set amount = 1 where id > 0 /*\u{1b}[56D\u{1b}[K*/";
        let shown = escaped(hiding);
        assert!(!shown.contains('\u{1b}') && shown.contains("update payments") && shown.contains("\\u{1b}[56D"), "{shown}");
        assert_eq!(escaped("a\u{202e}b\u{9b}c\u{7f}"), "a\\u{202e}b\\u{9b}c\\u{7f}");
        // Round 53: the two characters `\r` and a carriage return never show alike.
        assert_ne!(escaped("-- x\\r or id > 0"), escaped("-- x\r or id > 0"));
        // Unambiguous both ways: every text shows as no other does.
        let texts = ["a\\b", "a\\\\b", "a\\\\\\nb", "a\\nb", "a\nb", "\\u{1b}", "\u{1b}", "\\x40", "\\\\x40", "end\\"];
        for (i, a) in texts.iter().enumerate() {
            for b in texts.iter().skip(i + 1) {
                assert_ne!(escaped(a), escaped(b), "{a:?} and {b:?}");
            }
        }
    }
}
