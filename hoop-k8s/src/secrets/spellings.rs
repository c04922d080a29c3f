//! The spellings a copy of a secret value takes where it was copied: quoted, escaped, encoded
//! as the everyday tools that copy it write it (red-team rounds 91, 94 and 95 each found one
//! served in clear). What a value's maker deliberately reshaped (upper case, reversed, base32)
//! is not among them.

/// Values longer than this are not searched percent-encoded or inside longer base64.
pub(crate) const MAX_ENCODED: usize = 1024;
/// Values longer than this are not searched in hex or `\u`-escaped: those spellings are two
/// to six times the value, and a service account token's (about 900 bytes) in six hex forms
/// took as many bytes of the search as 40 short passwords in every spelling.
const MAX_HEXED: usize = 256;

/// `v` and the spellings a copy of it takes (red-team rounds 91 and 94 found each served in
/// clear): as text, quoted or escaped as serialisers write it (see `textual`), each also as it
/// stands inside a JSON string; base64 on one line, wrapped at 76 or 64 columns (each line, and
/// the end across its last line break), and inside a longer encoded text (see
/// `base64_inside`); hex in either case and every character a `\u` escape (values up to
/// [`MAX_HEXED`]); percent-encoding (a password in a connection string).
pub(crate) fn spellings(v: &[u8], out: &mut Vec<Vec<u8>>, min_line: usize) {
    text_spellings(v, out);
    encoded(v, out, min_line);
}

/// `v` as text only, quoted and escaped (see `textual`), without its encoded forms: the same
/// value trimmed of a line break, whose encodings are copied from the bytes as stored.
pub(crate) fn text_spellings(v: &[u8], out: &mut Vec<Vec<u8>>) {
    for form in textual(v) {
        // A form holding `\u` escapes already is parsed wherever it sits in a JSON document
        // (see `mask::may_need_masking`): its JSON-escaped spelling is not searched.
        if memchr::memmem::find(&form, b"\\u").is_none() {
            out.extend(json_escaped(&form));
        }
        out.push(form);
    }
}

/// `v`'s encoded forms (see [`spellings`]). A long value's are bounded so that a cluster of a
/// thousand Secrets of a few KB stays within one search's bytes (red-team round 97: 500 of
/// them passed it, and every request to the target was refused): its base64 only without
/// padding (the `=` that stays says nothing) and wrapped in the standard alphabet only.
fn encoded(v: &[u8], out: &mut Vec<Vec<u8>>, min_line: usize) {
    use base64::Engine;
    let long = v.len() > MAX_ENCODED;
    let encoded = base64::engine::general_purpose::STANDARD.encode(v);
    // Wrapped lines, in either alphabet; the last line with the one before it and its line
    // break (a match starting inside the line before never won against that line's own, so a
    // short last line stayed in clear: red-team round 95).
    let url = encoded.replace('+', "-").replace('/', "_");
    let alphabets: &[&String] = if long { &[&encoded] } else { &[&encoded, &url] };
    for alphabet in alphabets {
        for width in [76, 64] {
            if alphabet.len() > width {
                let lines: Vec<&[u8]> = alphabet.as_bytes().chunks(width).collect();
                out.extend(lines.iter().filter(|l| l.len() >= min_line).map(|l| l.to_vec()));
                if let [.., prev, last] = lines.as_slice() {
                    for eol in [&b"\n"[..], b"\r\n"] {
                        out.push([*prev, eol, *last].concat());
                    }
                }
            }
        }
    }
    if !long {
        out.push(encoded.into_bytes());
    }
    base64_inside(v, out);
    if v.len() <= MAX_HEXED {
        // Hex plain, and byte by byte with `:` or a blank between (`xxd`-less dumps, MACs).
        for sep in ["", ":", " "] {
            let lower = v.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(sep);
            out.push(lower.to_ascii_uppercase().into_bytes());
            out.push(lower.into_bytes());
        }
        if let Ok(text) = std::str::from_utf8(v) {
            out.push(text.encode_utf16().map(|u| format!("\\u{u:04x}")).collect::<String>().into_bytes());
        }
    }
    if v.len() <= MAX_ENCODED {
        // Percent-encoding as each encoder writes it (red-team round 92): every reserved byte
        // (RFC 3986, Go), `/` kept (Python's `quote`), `!*'()` kept (`encodeURIComponent`), and a
        // blank as `+` (forms, Go's `QueryEscape`); hex digits in either case.
        for keep in [&b""[..], b"/", b"!*'()"] {
            let percent = percent_encoded(v, keep);
            let plus = String::from_utf8_lossy(&percent).replace("%20", "+").into_bytes();
            for form in [percent, plus] {
                if form.as_slice() != v {
                    out.push(lowercase_escapes(&form));
                    out.push(form);
                }
            }
        }
        // Java's `URLEncoder` (red-team round 96): letters, digits and `.-*_` kept, a blank as
        // `+`, everything else (`~` too) escaped. (Within MAX_ENCODED, like the other
        // percent-encodings.)
        let java: Vec<u8> = v
            .iter()
            .flat_map(|&b| match b {
                b' ' => vec![b'+'],
                b if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_') => vec![b],
                b => format!("%{b:02X}").into_bytes(),
            })
            .collect();
        if java.as_slice() != v {
            out.push(java);
        }
    }
}

/// `v` as text and as serialisers quote it when it holds a quote or a backslash (red-team
/// round 94): `'` doubled (SQL literals, YAML single-quoted scalars), `"` doubled (CSV), shell
/// single-quoting (`'\''`, `'"'"'`), backslash escapes (Python's `repr`, shell double quotes,
/// `printf %q`); and in each Unicode normal form (a value typed on one system, copied on
/// another: NFD from macOS file names, NFKC from form input).
fn textual(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![v.to_vec()];
    let mut add = |form: Vec<u8>| {
        if !out.contains(&form) {
            out.push(form);
        }
    };
    let replaced = |pairs: &[(u8, &[u8])]| {
        let mut form = Vec::with_capacity(v.len() + 8);
        for &b in v {
            match pairs.iter().find(|(from, _)| *from == b) {
                Some((_, to)) => form.extend_from_slice(to),
                None => form.push(b),
            }
        }
        form
    };
    add(replaced(&[(b'\'', b"''")]));
    add(replaced(&[(b'"', b"\"\"")]));
    add(replaced(&[(b'\'', b"'\\''")]));
    add(replaced(&[(b'\'', b"'\"'\"'")]));
    add(replaced(&[(b'\\', b"\\\\")]));
    add(replaced(&[(b'\\', b"\\\\"), (b'\'', b"\\'")]));
    add(replaced(&[(b'\\', b"\\\\"), (b'"', b"\\\""), (b'$', b"\\$"), (b'`', b"\\`")]));
    // `printf %q` and `shlex`-less quoting: a backslash before each byte the shell treats
    // specially (a setting's value, not a file: a private key's every blank would bring it).
    let special: &[u8] = b" \t!\"#$&'()*;<>?[\\]`{|}~";
    if v.len() <= MAX_HEXED {
        add(v.iter().flat_map(|&b| if special.contains(&b) { vec![b'\\', b] } else { vec![b] }).collect());
    }
    if let Ok(text) = std::str::from_utf8(v)
        && !text.is_ascii()
    {
        use unicode_normalization::UnicodeNormalization;
        for form in [text.nfc().collect::<String>(), text.nfd().collect(), text.nfkc().collect(), text.nfkd().collect()] {
            add(form.into_bytes());
        }
    }
    // Escaped where a byte is not printable ASCII (red-team round 95). Tabs and line breaks
    // alone are escaped alike by all (`\t`, `\n`: the JSON form), so a private key's lines do not
    // bring nine forms of it.
    let printable = |b: &u8| (b' '..=b'~').contains(b) || matches!(b, b'\t' | b'\n' | b'\r');
    if !v.iter().all(printable) {
        for style in Escape::ALL {
            if let Some(form) = escaped(v, style) {
                add(form);
            }
        }
    }
    // .NET's `System.Text.Json` (red-team round 96) escapes HTML-sensitive characters and
    // quotes as `\u00XX` in upper case; relaxed, only `"`.
    // These three families only for values up to MAX_HEXED: a token's every `+` or `=` would
    // bring them, each as long as the value, and a cluster of tokens past one search's bytes.
    let short = v.len() <= MAX_HEXED;
    if short && v.iter().any(|b| b"\"'<>&+`".contains(b) || !printable(b)) {
        for style in [Escape::DotNet { relaxed: false }, Escape::DotNet { relaxed: true }] {
            let Some(form) = escaped(v, style) else { continue };
            // Newtonsoft's HTML escaping: the same in lower case, `"` as `\"`.
            let text = String::from_utf8_lossy(&form).into_owned();
            let quoted = text.replace("\\u0022", "\\\"");
            for t in [&text, &quoted] {
                add(lowercase_u_escapes(t).into_bytes());
            }
            add(quoted.into_bytes());
            add(form);
        }
    }
    // HTML and XML entities, as templates write them (Go's html/template, Python's
    // `html.escape`, XML serialisers).
    if short && v.iter().any(|b| b"&'<>\"+".contains(b)) {
        let common: [(u8, &[u8]); 3] = [(b'&', b"&amp;"), (b'<', b"&lt;"), (b'>', b"&gt;")];
        add(replaced(&[&common[..], &[(b'\'', b"&#39;"), (b'"', b"&#34;"), (b'+', b"&#43;")]].concat()));
        add(replaced(&[&common[..], &[(b'\'', b"&#x27;"), (b'"', b"&quot;")]].concat()));
        add(replaced(&[&common[..], &[(b'\'', b"&apos;"), (b'"', b"&quot;")]].concat()));
    }
    // Quoted-printable (mail, MIME parts): `=` and bytes past printable ASCII as `=XX`.
    if short && v.iter().any(|b| *b == b'=' || !printable(b)) {
        add(v.iter().flat_map(|&b| if b == b'=' || !printable(&b) { format!("={b:02X}").into_bytes() } else { vec![b] }).collect());
    }
    out
}

/// How an escaper writes a byte that is not printable ASCII.
#[derive(Clone, Copy)]
enum Escape {
    /// JSON with `ensure_ascii` (Python's `json.dumps`): `\u00e9`, `\u0001`, `\ud83d\ude00`.
    JsonAscii { upper: bool },
    /// Python's `ascii()` and YAML's double quotes (upper case): `\xe9`, `\u20ac`, `\U0001f600`.
    CharHex { upper: bool },
    /// Byte by byte: Python's `repr` of bytes, `\xc3\xa9`.
    ByteHex { upper: bool },
    /// Byte by byte in octal: bash's `$'…'` and `printf %q`, `ls`: `\303\251`.
    Octal,
    /// Go's `%q`: control bytes `\x01`, other characters as they are.
    GoQuote,
    /// Go's `%+q`: control bytes `\x01`, other characters `\u00e9`.
    GoAscii,
    /// Perl's `\x{e9}` (and `Data::Dumper`) or, not `perl`, Rust's and JavaScript's `\u{e9}`.
    Braced { perl: bool },
    /// .NET's `System.Text.Json`: `"'<>&+`, the backquote, control bytes and characters past
    /// ASCII as `\u00XX` (upper case); `relaxed`, only `"` and control bytes.
    DotNet { relaxed: bool },
}

impl Escape {
    const ALL: [Escape; 11] = [
        Escape::JsonAscii { upper: false },
        Escape::JsonAscii { upper: true },
        Escape::CharHex { upper: false },
        Escape::CharHex { upper: true },
        Escape::ByteHex { upper: false },
        Escape::ByteHex { upper: true },
        Escape::Octal,
        Escape::GoQuote,
        Escape::GoAscii,
        Escape::Braced { perl: true },
        Escape::Braced { perl: false },
    ];
}

/// `v` escaped in `style` (a backslash doubled, tabs and line breaks as `\t`, `\n`, `\r`; JSON
/// and Go escape `"` too); `None` where the style reads characters and `v` is not UTF-8.
fn escaped(v: &[u8], style: Escape) -> Option<Vec<u8>> {
    let hex = |n: u32, width: usize, upper: bool| if upper { format!("{n:0width$X}") } else { format!("{n:0width$x}") };
    let mut out = String::with_capacity(v.len() * 2);
    let short = |c: u32| match c {
        0x09 => Some("\\t"),
        0x0a => Some("\\n"),
        0x0d => Some("\\r"),
        0x5c => Some("\\\\"),
        _ => None,
    };
    match style {
        Escape::ByteHex { .. } | Escape::Octal => {
            let upper = matches!(style, Escape::ByteHex { upper: true });
            for &b in v {
                match short(u32::from(b)) {
                    Some(s) => out.push_str(s),
                    None if (b' '..=b'~').contains(&b) => out.push(char::from(b)),
                    None if matches!(style, Escape::Octal) => out.push_str(&format!("\\{b:03o}")),
                    None => out.push_str(&format!("\\x{}", hex(u32::from(b), 2, upper))),
                }
            }
        }
        Escape::JsonAscii { upper } | Escape::CharHex { upper } => {
            let json = matches!(style, Escape::JsonAscii { .. });
            for c in std::str::from_utf8(v).ok()?.chars() {
                let n = u32::from(c);
                match short(n) {
                    Some(s) => out.push_str(s),
                    None if c == '"' && json => out.push_str("\\\""),
                    None if (0x20..0x7f).contains(&n) => out.push(c),
                    None if json && n > 0xffff => {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{}", hex(u32::from(*u), 4, upper)));
                        }
                    }
                    None if json => out.push_str(&format!("\\u{}", hex(n, 4, upper))),
                    None if n < 0x100 => out.push_str(&format!("\\x{}", hex(n, 2, upper))),
                    None if n < 0x10000 => out.push_str(&format!("\\u{}", hex(n, 4, upper))),
                    None => out.push_str(&format!("\\U{}", hex(n, 8, upper))),
                }
            }
        }
        Escape::Braced { perl } => {
            for c in std::str::from_utf8(v).ok()?.chars() {
                let n = u32::from(c);
                match short(n) {
                    Some(s) => out.push_str(s),
                    None if c == '"' => out.push_str("\\\""),
                    None if (0x20..0x7f).contains(&n) => out.push(c),
                    None => out.push_str(&format!("\\{}{{{n:x}}}", if perl { 'x' } else { 'u' })),
                }
            }
        }
        Escape::DotNet { relaxed } => {
            for c in std::str::from_utf8(v).ok()?.chars() {
                let n = u32::from(c);
                let escape = n < 0x20 || n == 0x7f || c == '"' || (!relaxed && (n > 0x7e || "'<>&+`".contains(c)));
                match short(n) {
                    Some(s) => out.push_str(s),
                    None if escape && n > 0xffff => {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{:04X}", *u));
                        }
                    }
                    None if escape => out.push_str(&format!("\\u{n:04X}")),
                    None => out.push(c),
                }
            }
        }
        Escape::GoQuote | Escape::GoAscii => {
            for c in std::str::from_utf8(v).ok()?.chars() {
                let n = u32::from(c);
                match short(n) {
                    Some(s) => out.push_str(s),
                    None if c == '"' => out.push_str("\\\""),
                    None if n < 0x20 || n == 0x7f => out.push_str(&format!("\\x{n:02x}")),
                    None if n < 0x7f || matches!(style, Escape::GoQuote) => out.push(c),
                    None if n < 0x10000 => out.push_str(&format!("\\u{n:04x}")),
                    None => out.push_str(&format!("\\U{n:08x}")),
                }
            }
        }
    }
    Some(out.into_bytes())
}

/// `v`'s base64 inside a longer encoded text (red-team round 94: HTTP Basic's `user:VALUE`, a
/// Docker `auth`, a base64'd JSON document holding the value, a JWT segment): the value may
/// start at any of the three byte offsets of a base64 group, and the characters its bytes alone
/// decide are searched for each, in the standard and the URL-safe alphabets. The one or two
/// characters at each end that share bits with the text around it stay as they are. Also whole
/// without `=` padding (base64url, JWT). The offsets only for values up to [`MAX_ENCODED`]:
/// they are the credentials such texts carry, and six spellings of every private key would
/// bring a cluster of a few hundred TLS Secrets past what one search holds (refusing every
/// request).
fn base64_inside(v: &[u8], out: &mut Vec<Vec<u8>>) {
    use base64::Engine;
    let (std, url) = (base64::engine::general_purpose::STANDARD_NO_PAD, base64::engine::general_purpose::URL_SAFE_NO_PAD);
    out.push(std.encode(v).into_bytes());
    if v.len() > MAX_ENCODED {
        return;
    }
    out.push(url.encode(v).into_bytes());
    for offset in 0..3usize {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(v);
        // Characters are 6 bits: the value's bits run from 8·offset to 8·(offset + len).
        let (first, end) = ((8 * offset).div_ceil(6), 8 * (offset + v.len()) / 6);
        for engine in [&std, &url] {
            let encoded = engine.encode(&shifted);
            if let Some(inside) = encoded.as_bytes().get(first..end) {
                out.push(inside.to_vec());
            }
        }
    }
}

/// `text` with the hex digits of its `\uXXXX` escapes in lower case.
fn lowercase_u_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\\u") {
        let (before, escape) = rest.split_at(at);
        out.push_str(before);
        let end = escape.char_indices().nth(6).map_or(escape.len(), |(i, _)| i);
        out.push_str(&escape[..end].to_ascii_lowercase());
        rest = &escape[end..];
    }
    out.push_str(rest);
    out
}

/// `v` percent-encoded as a URL's parts are (RFC 3986: letters, digits and `-._~` kept, and
/// the bytes of `keep`).
fn percent_encoded(v: &[u8], keep: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 3);
    for &b in v {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// `form` with the hex digits of its `%XX` escapes in lower case.
fn lowercase_escapes(form: &[u8]) -> Vec<u8> {
    let mut out = form.to_vec();
    for i in 0..out.len() {
        if out.get(i) == Some(&b'%') {
            for j in [i + 1, i + 2] {
                if let Some(c) = out.get_mut(j) {
                    c.make_ascii_lowercase();
                }
            }
        }
    }
    out
}

/// `value` as it stands inside a JSON string when escaping changes it (`"`, `\\`, control
/// characters; Go's API server also escapes `<`, `>` and `&`): a response whose raw bytes hold
/// only the escaped form is then still parsed and masked (see `mask::may_need_masking`).
fn json_escaped(value: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(value) else { return Vec::new() };
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    let plain = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_string();
    let go = plain.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    // PHP's `json_encode` escapes `/` too (red-team round 96).
    let php = plain.replace('/', "\\/");
    let mut out = Vec::new();
    for e in [plain, go, php] {
        if e.as_bytes() != value && !out.contains(&e.clone().into_bytes()) {
            out.push(e.into_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoop_core::mask::{KnownValues, Masker};
    use std::sync::Arc;

    #[test]
    fn json_escapes() {
        assert_eq!(json_escaped(br#"p"w<d&1"#), [br#"p\"w<d&1"#.to_vec(), br#"p\"w\u003cd\u00261"#.to_vec()]);
        assert!(json_escaped(b"plain-value").is_empty());
    }

    #[test]
    fn copies_in_other_spellings_are_found() {
        // Red-team round 91: wrapped base64, hex, percent-encoding and `\u` escapes of a value
        // came back in clear.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let value = "Rtk91 url/value+with?chars&x=1-and-some-more-text-to-pass-76-columns-of-base64-output";
        let mut forms = Vec::new();
        spellings(value.as_bytes(), &mut forms, 16);
        let masked = m.with_known(Arc::new(KnownValues::new(forms).unwrap()));
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, value);
        let wrapped: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
        let escaped: String = value.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
        for copy in [
            format!("b64: {}\n{}\n", wrapped[0], wrapped[1]),
            format!("hex={hex} HEX={}", hex.to_ascii_uppercase()),
            format!("https://h/?p={}&y=2", String::from_utf8(percent_encoded(value.as_bytes(), b"")).unwrap()),
            format!("q={}", String::from_utf8(percent_encoded(value.as_bytes(), b"/")).unwrap().replace("%20", "+")),
            format!("mac {}", value.bytes().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")),
            format!("{{\"v\": \"{escaped}\"}}"),
        ] {
            let out = masked.mask_text(&copy).into_owned();
            assert!(out.contains("[REDACTED:secret]"), "{copy}: {out}");
            for piece in [&wrapped[0][..20], &wrapped[1][wrapped[1].len() - 8..], &hex[..20], "url%2Fvalue", &escaped[..30]] {
                assert!(!out.contains(piece), "{piece} in {out}");
            }
        }
    }

    #[test]
    fn quoted_copies_and_base64_inside_longer_texts_are_found() {
        // Red-team round 94: each of these reached the agent in clear.
        use base64::Engine;
        let (b64, url) = (base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE_NO_PAD);
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let (quote, slash, accents, plain) = ("Rtk94'Quote'Val!x", "Rtk94Back\\slash$Dollar\"Q", "Rtk94Caf\u{e9}Z\u{fc}richX", "Rtk94PlainLongValue1234");
        let mut forms = Vec::new();
        for v in [quote, slash, accents, plain] {
            spellings(v.as_bytes(), &mut forms, 16);
        }
        let masked = m.with_known(Arc::new(KnownValues::new(forms).unwrap()));
        for (copy, clear) in [
            (format!("'{}'", quote.replace('\'', "''")), "Quote".to_string()),
            (format!("K='{}'", quote.replace('\'', "'\\''")), "Quote".into()),
            (format!("K='{}'", quote.replace('\'', "'\"'\"'")), "Quote".into()),
            (format!("\"{}\"", slash.replace('"', "\"\"")), "Dollar".into()),
            (format!("'{}'", slash.replace('\\', "\\\\")), "Dollar".into()),
            (format!("K=\"{}\"", slash.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$")), "Dollar".into()),
            (slash.bytes().flat_map(|b| if b"\\$\"".contains(&b) { vec![b'\\', b] } else { vec![b] }).map(char::from).collect(), "Dollar".into()),
            ("Rtk94Cafe\u{301}Zu\u{308}richX".into(), "richX".into()),
            // Inside a JSON string, as an API server's raw bytes hold it.
            (format!("{{\"c\":\"{}\"}}", slash.replace('"', "\"\"").replace('\\', "\\\\").replace('"', "\\\"")), "Dollar".into()),
        ] {
            let out = masked.mask_text(&copy).into_owned();
            assert!(out.contains("[REDACTED:secret]") && !out.contains(&clear), "{copy}: {out}");
        }
        for prefix in ["", "u:", "usr:", "{\"pw\":\"", "x"] {
            let inside = format!("{prefix}{plain}\",\"n\":1}}");
            for encoded in [b64.encode(&inside), url.encode(&inside)] {
                let out = masked.mask_text(&format!("auth {encoded} end")).into_owned();
                // At most the two characters at each end that share bits with the text around.
                let middle = &b64.encode(plain)[4..20];
                assert!(out.contains("[REDACTED:secret]") && !out.contains(middle), "{prefix:?} {encoded}: {out}");
            }
        }
    }


    #[test]
    fn escaped_entities_and_wrapped_copies_are_found() {
        // Red-team round 95: each came back in clear, in objects, logs and files.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let (accents, ctl, quote, long) = ("Rtk95Caf\u{e9}Z\u{fc}richPw", "Rtk95Ctl\u{1}Byte\u{7f}ValueX", "Rtk94'Quote'Val!x", "Rtk95 a long value of some sixty bytes, wrapped at 76 columns");
        let mut forms = Vec::new();
        for v in [accents, ctl, quote, long, "Rtk96/Slash/Token+Value==", "Rtk96 Java~Tilde*Star!Pw", "Rtk96'Quote\"Dbl<Lt"] {
            spellings(v.as_bytes(), &mut forms, 16);
        }
        let masked = m.with_known(Arc::new(KnownValues::new(forms).unwrap()));
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(long);
        let url = b64.replace('+', "-").replace('/', "_");
        let (first, last) = b64.split_at(76);
        assert!(last.len() < 16, "a short last line: {last}");
        for (copy, clear) in [
            (r#"{"msg": "login with Rtk95Caf\u00e9Z\u00fcrichPw"}"#.to_string(), "richPw"),
            (r#"msg="Rtk95Caf\u00E9Z\u00FCrichPw""#.into(), "richPw"),
            (r"'Rtk95Caf\xe9Z\xfcrichPw'".into(), "richPw"),
            (r"b'Rtk95Caf\xc3\xa9Z\xc3\xbcrichPw'".into(), "richPw"),
            (r#"k: "Rtk95Caf\xE9Z\xFCrichPw""#.into(), "richPw"),
            (r"$'Rtk95Caf\303\251Z\303\274richPw'".into(), "richPw"),
            (r"Rtk95Caf=C3=A9Z=C3=BCrichPw".into(), "richPw"),
            (r#""Rtk95Ctl\x01Byte\x7fValueX""#.into(), "ValueX"),
            (r#"{"msg": "ctl Rtk95Ctl\u0001Byte\u007fValueX"}"#.into(), "ValueX"),
            ("<p>Rtk94&#39;Quote&#39;Val!x</p>".into(), "Quote"),
            ("Rtk94&#x27;Quote&#x27;Val!x".into(), "Quote"),
            ("<v>Rtk94&apos;Quote&apos;Val!x</v>".into(), "Quote"),
            (format!("b64:\n{first}\n{last}\n"), last),
            (format!("b64:\r\n{first}\r\n{last}\r\n"), last),
            (format!("{}\n{}\n", &url[..76], &url[76..]), &url[76..]),
            // Red-team round 96.
            (r#"{"value":"Rtk96\/Slash\/Token+Value=="}"#.into(), "Slash"),
            ("v=Rtk96+Java%7ETilde*Star%21Pw&z=1".into(), "Tilde"),
            (r#"{"v":"Rtk96\u0027Quote\"Dbl\u003CLt"}"#.into(), "Quote"),
            (r#"{"v":"Rtk96'Quote\u0022Dbl<Lt"}"#.into(), "Quote"),
            (r#"{"v":"Rtk96\u0027Quote\u0022Dbl\u003CLt"}"#.into(), "Quote"),
            (r#"{"v":"Rtk96\u0027Quote\"Dbl\u003cLt"}"#.into(), "Quote"),
            (r#"$VAR1 = "Rtk95Caf\x{e9}Z\x{fc}richPw";"#.into(), "richPw"),
            (r#"v="Rtk95Caf\u{e9}Z\u{fc}richPw""#.into(), "richPw"),
        ] {
            let out = masked.mask_text(&copy).into_owned();
            assert!(out.contains("[REDACTED:secret]") && !out.contains(clear), "{copy}: {out}");
        }
    }
}
