//! A cheap lower bound on the tokens PostgreSQL's scanner makes of a text, to refuse a text of
//! too many tokens before the scanner itself runs.
//!
//! The scanner returns every token at once, at a few hundred bytes each: a 4 MiB text of
//! `1,1,1,…` cost about a second of CPU and 400 MB of memory to count (red-team round 24), only
//! to be refused for having too many. Counted here in one pass without allocating, the same
//! text is refused at once. The count never exceeds the scanner's on the texts hoop reads (one
//! token here is at least one token there), so a text let through is still counted exactly by
//! the scanner, and a text refused here would have been refused there: this is not what
//! decides what a statement is, only how soon a hopeless one is turned away.
//!
//! The scanner also backtracks over runs of operator characters (it takes the longest run,
//! then gives back what may not end an operator or opens a comment), so a long run, and
//! deeply nested comments (`/*/*/*…*/*/*/`), cost it time quadratic in their length: 48 KB took
//! 6 s and 4 MB held a parser thread for minutes (red-team round 25). No statement needs either:
//! a run of more than [`MAX_OPERATOR_RUN`] operator characters outside comments, or comments
//! nested deeper than [`MAX_COMMENT_DEPTH`], are refused here too.

/// Longest run of operator characters outside comments and literals (`->>`, `||-`, `<=`…).
pub(crate) const MAX_OPERATOR_RUN: usize = 64;

/// Deepest nesting of `/* … */` comments.
pub(crate) const MAX_COMMENT_DEPTH: usize = 32;

/// Bytes the scanner may read again after a comment's start, over the whole text (a few tens
/// of milliseconds). It reads `/*` with every operator character after it, then backs up to
/// just past the `/*`: `/**//**//**/…` made it read the rest of the run at each comment,
/// quadratic in the text (PG red-team round 120: 40,000 empty comments took 10 s of a parser
/// thread, and 4 MB would have taken hours, after the client had gone).
pub(crate) const MAX_RESCANNED: usize = 4 << 20;

/// Whether the scanner would make more than `limit` tokens of `text`, or its cost would grow
/// faster than its length (see the module's docs); `false` when unsure.
pub(crate) fn more_than(text: &str, limit: usize) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let mut n = 0usize;
    let mut rescanned = 0usize;
    while let Some(&c) = b.get(i) {
        if n > limit {
            return true;
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b.iter().skip(i).position(|&c| c == b'\n').map_or(b.len(), |p| i + p + 1);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => match block_comment_end(b, i, &mut rescanned) {
                Some(end) => i = end,
                None => return true,
            },
            b'\'' => {
                i = quoted_end(b, i, b'\'', false);
                n += 1;
            }
            b'"' => {
                i = quoted_end(b, i, b'"', false);
                n += 1;
            }
            b'$' => {
                i = dollar_end(b, i);
                n += 1;
            }
            c if is_word(c) => {
                let start = i;
                // `$` continues a word (`a$b` is one identifier) but does not start one.
                while b.get(i).is_some_and(|&c| is_word(c) || c == b'$') {
                    i += 1;
                }
                // A prefixed literal (`E'…'`, `X'…'`, `U&'…'`) is one token with its quote.
                let word = b.get(start..i).unwrap_or_default();
                match (b.get(i), b.get(i + 1)) {
                    (Some(b'\''), _) => i = quoted_end(b, i, b'\'', word.eq_ignore_ascii_case(b"e")),
                    (Some(b'&'), Some(&q @ (b'\'' | b'"'))) if word.eq_ignore_ascii_case(b"u") => i = quoted_end(b, i + 1, q, false),
                    _ => {}
                }
                n += 1;
            }
            // A run of operator characters is at least one token.
            c if is_operator(c) => {
                let start = i;
                while b.get(i).is_some_and(|&c| is_operator(c)) {
                    i += 1;
                }
                if i - start > MAX_OPERATOR_RUN {
                    return true;
                }
                n += 1;
            }
            // `(`, `)`, `,`, `;`, `[`, `]` and anything else: one token each.
            _ => {
                i += 1;
                n += 1;
            }
        }
    }
    n > limit
}

/// Letters, digits, `_`, `.` and every non-ASCII byte: identifiers, keywords and numbers (a
/// qualified name counts once here, several times there).
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c >= 0x80
}

fn is_operator(c: u8) -> bool {
    matches!(c, b'+' | b'-' | b'*' | b'/' | b'<' | b'>' | b'=' | b'~' | b'!' | b'@' | b'#' | b'%' | b'^' | b'&' | b'|' | b'`' | b'?' | b':')
}

/// Just past the quoted text opening at `start` with `q` (a doubled `q` is inside it; with
/// `escapes`, a backslash takes the next byte too); the text's end if it never closes.
fn quoted_end(b: &[u8], start: usize, q: u8, escapes: bool) -> usize {
    let mut i = start + 1;
    while let Some(&c) = b.get(i) {
        if escapes && c == b'\\' {
            i += 2;
        } else if c == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// Just past a `/* … */` comment (they nest) opening at `start`; `None` when nested deeper
/// than [`MAX_COMMENT_DEPTH`], or when the scanner would read again more than
/// [`MAX_RESCANNED`] bytes after comment starts (`rescanned` carries the count over the text).
fn block_comment_end(b: &[u8], start: usize, rescanned: &mut usize) -> Option<usize> {
    let mut rescan = |at: usize| {
        // The scanner's own operator characters (`:` is not one).
        let run = b.iter().skip(at).take_while(|&&c| c != b':' && is_operator(c)).take(MAX_RESCANNED + 1).count();
        *rescanned = rescanned.saturating_add(run);
        *rescanned <= MAX_RESCANNED
    };
    if !rescan(start) {
        return None;
    }
    let (mut i, mut depth) = (start + 2, 1usize);
    while i < b.len() {
        match (b.get(i), b.get(i + 1)) {
            (Some(b'/'), Some(b'*')) => {
                depth += 1;
                if depth > MAX_COMMENT_DEPTH || !rescan(i) {
                    return None;
                }
                i += 2;
            }
            (Some(b'*'), Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    Some(b.len())
}

/// Just past the token starting with `$` at `start`: a dollar-quoted string (`$$…$$`,
/// `$tag$…$tag$`) or a parameter (`$1`).
fn dollar_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while b.get(i).is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80) {
        i += 1;
    }
    let Some(tag) = b.get(start..=i).filter(|_| b.get(i) == Some(&b'$')) else { return i };
    // A tag does not start with a digit: `$1$` is a parameter, then a `$`.
    if b.get(start + 1).is_some_and(u8::is_ascii_digit) {
        return i;
    }
    let body = i + 1;
    b.get(body..).and_then(|rest| rest.windows(tag.len()).position(|w| w == tag)).map_or(b.len(), |p| body + p + tag.len())
}

#[cfg(test)]
mod tests {
    use super::more_than;

    /// Never more than the scanner's own count, on ordinary and hostile texts.
    #[test]
    fn the_count_is_a_lower_bound_of_the_scanners() {
        let texts = [
            "select 1",
            "SELECT a.b, c::text, d <= e FROM s.t WHERE x = 'it''s' AND y = E'a\\'b' -- c\n",
            "select $$ a, b, c $$, $tag$ 'x' $notag$ $tag$, $1, U&'\\0041', X'ff', B'01' /* a /* b */ c */",
            "insert into t values ('a,b,c,d,e,f'), ('g'), (\"q\"\"q\")",
            "select 1e10, .5, 1.2.3, a->>'k', a #> '{x}', @- 1, |/ 4",
            "select 'unterminated",
            "select /* unterminated",
            "select $x$ unterminated",
            "select é, ü, 日本, a$b, a$1, x$y$z",
        ];
        for t in texts {
            let exact = pg_query::scan(t).map(|s| s.tokens.len()).unwrap_or(usize::MAX);
            assert!(!more_than(t, exact), "{t}: counted more than the scanner's {exact}");
        }
    }

    #[test]
    fn long_chains_of_small_tokens_are_seen_at_once() {
        let text = format!("select {}1", "1,".repeat(2_000_000));
        assert!(more_than(&text, 10_000));
        // One large literal is one token.
        let text = format!("select '{}'", "1,".repeat(2_000_000));
        assert!(!more_than(&text, 10));
    }

    /// Red-team round 25: texts the scanner takes quadratic time over, refused before it runs.
    #[test]
    fn texts_the_scanner_backtracks_over_are_seen_at_once() {
        // Round 120: empty comments, one after another, each read to the end of the run.
        assert!(more_than(&format!("select 1 {};", "/**/".repeat(1_000_000)), 10_000));
        assert!(more_than(&format!("select 1 {};", "/*/**/*/".repeat(500_000)), 10_000));
        // A few comments, banners included, are read.
        assert!(!more_than(&format!("select 1 /* a */ {} /***/ /**/ + 2", format!("/*{}*/", "*".repeat(200)).repeat(20)), 10_000));
        assert!(more_than(&format!("select 1 {}{}", "/*".repeat(4000), "*/".repeat(4000)), 10_000));
        assert!(more_than(&format!("select 1 {}1", "+-".repeat(4000)), 10_000));
        // What statements hold is not: a banner of stars, a separator in a comment, a few levels.
        assert!(!more_than(&format!("/*{}*/ select 1 /* {} */ -- {}\n", "*".repeat(200), "=".repeat(200), "-".repeat(200)), 10_000));
        assert!(!more_than("select 1 /* a /* b /* c */ */ */ ->> '{}'", 10_000));
    }
}
