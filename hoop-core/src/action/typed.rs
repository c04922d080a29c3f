//! Where what an agent types into a shell is cut into command lines, so each line can be
//! checked as an `Exec` action before it reaches the host.
//!
//! Best effort by nature: the gateway sees keystrokes, not what the remote shell makes of them.
//! Bytes are held until the line ends. Only what every reader agrees on is followed, and any
//! byte whose meaning depends on the reader makes the line *edited*, which is not something a
//! rule can read, even when what is left of it looks empty:
//! - on a terminal, Ctrl-U erases the line and DEL an ASCII character (a line editor such as
//!   readline erases a character, the kernel's line editing without `IUTF8` a byte: they agree
//!   on ASCII only); CR or LF ends it; Ctrl-C, Ctrl-D, Ctrl-Z and Ctrl-\ pass at once
//!   (dropping a held line), so a stuck program can always be interrupted. Backspace (Ctrl-H) is
//!   an erase to readline and a plain byte to the kernel's editing (`erase` is DEL): edited.
//! - down a pipe (`kubectl exec -i`, `ssh host sh` with no terminal) nothing edits: LF alone
//!   ends a line, and every control byte but TAB, CR included, is part of what the shell reads
//!   (red-team round 72: `head -1 /etc/shadow #^Uecho ok` was checked as `echo ok`).
//! - any other editing key (arrows, tab completion, history search, yank, undo) and any history
//!   expansion (`!!`, `^old^new`) is edited.
//!
//! Lines typed into a program that reads its input (an editor, `cat > file`) are checked as
//! commands too.

/// Longest line held before it is refused whole.
pub const MAX_LINE: usize = 64 * 1024;

/// Longest line typed on a terminal: the kernel's line editing passes on at most 4095 bytes of
/// a line and drops the rest, so a longer line is not what the shell reads (red-team round 73:
/// a 4,096-byte `echo '…' ok` lost its closing quote, and dash read the next checked line
/// inside the quote, where it ran `touch` and `head /etc/shadow`).
pub const MAX_TERMINAL_LINE: usize = 4000;

/// What to do with the bytes typed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// Pass these bytes to the host now (interrupts and end-of-input).
    Pass(Vec<u8>),
    /// A whole line: check `line`, then send `raw` (the bytes as typed, terminator included)
    /// if it is allowed.
    Line {
        /// The line as the shell will read it, editing applied.
        line: String,
        /// The bytes as typed.
        raw: Vec<u8>,
        /// Editing keys the gateway cannot follow were used.
        edited: bool,
    },
    /// The line grew past this many bytes ([`MAX_LINE`], on a terminal
    /// [`MAX_TERMINAL_LINE`]); it was dropped.
    TooLong(usize),
}

/// Accumulates typed bytes into lines.
#[derive(Debug, Default)]
pub struct TypedLines {
    raw: Vec<u8>,
    line: Vec<u8>,
    edited: bool,
    too_long: bool,
    /// An interrupt passed since the last line: the next one goes out behind a space.
    interrupted: bool,
    /// Where the shell reads relative paths, as the lines let through so far moved it.
    pub cwd: Cwd,
    /// The lines are typed on a terminal, where a program a line starts may read keys as
    /// commands (see [`crate::action::Action::on_terminal`]).
    pub terminal: bool,
}

impl TypedLines {
    /// Lines typed on a terminal (`true`) or sent down a pipe.
    pub fn new(terminal: bool) -> Self {
        TypedLines { terminal, ..TypedLines::default() }
    }

    /// Bytes held back (not yet sent to the host).
    pub fn held(&self) -> usize {
        self.raw.len()
    }

    /// Takes the next bytes typed and returns what is ready, in order.
    pub fn push(&mut self, data: &[u8]) -> Vec<Typed> {
        let mut out = Vec::new();
        for &b in data {
            match b {
                // Interrupt, end of input, suspend, quit: at once, and the held line is gone
                // (the remote never saw it). Down a pipe they are bytes of the line.
                0x03 | 0x04 | 0x1a | 0x1c if self.terminal => {
                    self.reset();
                    // bash 5.2's readline, given a line right after an interrupt, runs it
                    // without its first character, whatever was typed and erased before it
                    // (red-team round 70: a line checked as `sed -s F` ran as `ed -s F`). The
                    // next line goes out as hoop read it, behind a space: dropped, or kept as a
                    // leading blank, the shell runs the line hoop checked. Only on a terminal,
                    // where Ctrl-C is an interrupt.
                    self.interrupted |= self.terminal && b == 0x03;
                    out.push(Typed::Pass(vec![b]));
                }
                // A terminal ends a line at CR too (`ICRNL`); a pipe only at LF.
                b'\n' | b'\r' if b == b'\n' || self.terminal => {
                    self.raw.push(b);
                    if self.too_long {
                        out.push(Typed::TooLong(self.max_line()));
                    } else {
                        let line = String::from_utf8_lossy(&self.line).into_owned();
                        // On a terminal, a comment is text the shell would skip and a program
                        // reading keys would not (red-team round 44: `true #E/etc/shadow` made an
                        // approved less open the file).
                        let edited = self.edited || expands_history(&line) || (self.terminal && has_comment(&line));
                        let mut raw = std::mem::take(&mut self.raw);
                        if std::mem::take(&mut self.interrupted) {
                            // The line as read, not as typed: an erasing key typed first would
                            // erase the space too.
                            let end = raw.last().copied().unwrap_or(b'\r');
                            raw = [&b" "[..], &self.line, &[end]].concat();
                        }
                        out.push(Typed::Line { line, raw, edited });
                    }
                    self.reset();
                }
                _ if self.too_long => {}
                // DEL on a terminal: one ASCII character back. Before a character of several
                // bytes, the kernel's editing without `IUTF8` erases one byte of it and a line
                // editor the whole character (red-team round 72: `c é DEL DEL` left `c` to dash
                // and nothing to hoop): edited.
                0x7f if self.terminal => {
                    self.raw.push(b);
                    match self.line.last() {
                        Some(c) if c.is_ascii() => {
                            self.line.pop();
                        }
                        Some(_) => self.edited = true,
                        None => {}
                    }
                }
                // Ctrl-U on a terminal: the line so far is erased.
                0x15 if self.terminal => {
                    self.raw.push(b);
                    self.line.clear();
                }
                // TAB down a pipe is a blank.
                b'\t' if !self.terminal => {
                    self.raw.push(b);
                    self.line.push(b);
                }
                0x00..=0x1f | 0x7f => {
                    self.raw.push(b);
                    self.edited = true;
                }
                _ => {
                    self.raw.push(b);
                    self.line.push(b);
                }
            }
            if self.raw.len() > self.max_line() && !self.too_long {
                self.too_long = true;
                self.raw.clear();
                self.line.clear();
            }
        }
        out
    }

    /// The longest line held before it is refused whole.
    fn max_line(&self) -> usize {
        if self.terminal { MAX_TERMINAL_LINE } else { MAX_LINE }
    }

    fn reset(&mut self) {
        self.raw.clear();
        self.line.clear();
        self.edited = false;
        self.too_long = false;
    }
}

/// Where the shell reads relative paths, as the lines typed so far moved it: typed lines are
/// checked one at a time, so after `cd /etc` on a line of its own, `cat shadow` on the next is
/// not `~/shadow` (red-team round 30: it was read against the login directory and ran).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cwd {
    /// The login directory (relative paths are read as written).
    #[default]
    Login,
    /// Wherever a `cd` took it, or left it: relative paths cannot be read, for the rest of the
    /// session.
    Unknown,
    /// A container's working directory (Kubernetes exec): the one its spec names (`workingDir`),
    /// else its image's, `/` unless the image names another, which hoop cannot know. A relative
    /// path is read from `/`, as the login directory's, and from the spec's directory when it
    /// names one (found beside red-team round 80: `tee etc/cron.d/x` in a container working in
    /// `/`; round 87: `cat shadow` in one working in `/etc`); so is a bare name, which a
    /// container's program reads as a file there as much as `./name`.
    Container(Option<String>),
}

impl Cwd {
    /// Follows the directory changes of a line the shell was let run (`cd`, `pushd`, `popd`,
    /// however wrapped). The shell may have moved, or stayed where it was when the directory
    /// does not exist or cannot be entered, and hoop cannot tell which (red-team round 70:
    /// after `cd /tmp/nope` failed, `echo … > .popt` was read as `/tmp/nope/.popt` and wrote
    /// `~/.popt`): relative paths are then unreadable. Only `cd` and `cd ~` leave the login
    /// directory where it is, and nothing brings hoop back to it: a line hoop read as `cd` may
    /// have been read by a program instead (red-team round 74: `head -n1` took the `cd`, and the
    /// shell stayed in `/etc`), and `command cd /etc` moves the shell as `cd` does.
    pub fn follow(&mut self, action: &super::Action) {
        for argv in &action.exec.commands {
            let home = matches!(argv.as_slice(), [p] if p == "cd") || matches!(argv.as_slice(), [p, d] if (p == "cd" || p == "pushd") && d == "~");
            let moves = argv.iter().any(|w| matches!(super::shell_program_name(w), "cd" | "pushd" | "popd"));
            if moves && !home {
                *self = Cwd::Unknown;
            }
        }
    }
}

/// Whether an interactive bash would replace part of `line` from its history before running
/// it: `^old^new`, or `!` followed by anything but a blank, `=` or `(` (bash's own exceptions),
/// quoted or not (red-team round 28: `^XX^rc` ran the previous line with `.bashrc` in it).
/// Whether `line` holds a shell comment: a `#` starting a word outside quotes.
fn has_comment(line: &str) -> bool {
    let (mut quote, mut escaped, mut word_start) = (None::<char>, false, true);
    for c in line.chars() {
        if escaped {
            escaped = false;
            word_start = false;
            continue;
        }
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => escaped = true,
            (Some(_), _) => {}
            (None, '\\') => escaped = true,
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if word_start => return true,
            _ => {}
        }
        word_start = quote.is_none() && (c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'));
    }
    false
}

fn expands_history(line: &str) -> bool {
    let b = line.trim_start().as_bytes();
    b.first() == Some(&b'^')
        || b.iter().enumerate().any(|(i, c)| *c == b'!' && !matches!(b.get(i + 1), None | Some(b' ' | b'\t' | b'=' | b'(')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_seen() {
        for (line, comment) in [("true #E/etc/shadow", true), ("# x", true), ("ls; #x", true), ("echo 'a #b'", false), ("echo a#b", false), (r"echo \#x", false), ("ls -la", false)] {
            assert_eq!(has_comment(line), comment, "{line}");
        }
        let mut t = TypedLines::new(true);
        assert!(matches!(t.push(b"true #E/etc/shadow\r").first(), Some(Typed::Line { edited: true, .. })));
        let mut t = TypedLines::new(false);
        assert!(matches!(t.push(b"true #x\n").first(), Some(Typed::Line { edited: false, .. })));
    }

    #[test]
    fn the_directory_follows_cd() {
        let mut cwd = Cwd::default();
        let reads = |cwd: &Cwd, line: &str| crate::action::Action::exec_in("h", line, cwd).exec;
        assert!(reads(&cwd, "cat shadow").paths.is_empty());
        // Round 70: a `cd` may fail and leave the shell where it was, so after one relative
        // paths cannot be read either way; absolute ones can.
        for line in ["cd /etc", "cd ../root/.ssh", "cd .ssh", "cd -", "pushd /tmp", "popd"] {
            let mut cwd = Cwd::default();
            cwd.follow(&crate::action::Action::exec("h", line));
            assert_eq!(cwd, Cwd::Unknown, "{line}");
            assert!(!reads(&cwd, "cat shadow").unreadable.is_empty());
            assert!(!reads(&cwd, "printf x > .popt").unreadable.is_empty());
            assert!(reads(&cwd, "cat /etc/hostname").unreadable.is_empty());
        }
        cwd.follow(&crate::action::Action::exec("h", "cd"));
        cwd.follow(&crate::action::Action::exec("h", "cd ~"));
        assert_eq!(cwd, Cwd::Login, "staying home");
        assert!(reads(&cwd, "cat shadow").paths.is_empty() && reads(&cwd, "cat shadow").unreadable.is_empty());
        // Round 74: once moved, nothing brings hoop back (a program may have read the `cd`);
        // wrapped spellings move too.
        cwd.follow(&crate::action::Action::exec("h", "cd /etc"));
        cwd.follow(&crate::action::Action::exec("h", "cd"));
        assert_eq!(cwd, Cwd::Unknown);
        for line in ["command cd /etc", "builtin cd /etc", "command pushd /etc", "command cd -"] {
            let mut cwd = Cwd::default();
            cwd.follow(&crate::action::Action::exec("h", line));
            assert_eq!(cwd, Cwd::Unknown, "{line}");
        }
        // What would make `cd name` go elsewhere than `./name` (a directory search path, a
        // variable holding a directory, a bare directory name run as `cd`) cannot be set by a
        // line that runs: assignments and `shopt` are unreadable.
        for line in ["CDPATH=/etc", "CDPATH=/etc cd ssh", "export CDPATH=/etc", "declare CDPATH=/etc", "shopt -s autocd", "shopt -s cdable_vars"] {
            assert!(!reads(&Cwd::Login, line).unreadable.is_empty(), "{line}");
        }
    }

    #[test]
    fn lines_editing_and_interrupts() {
        let mut t = TypedLines::new(true);
        assert!(t.push(b"cat /etc/sha").is_empty());
        assert_eq!(t.held(), 12);
        let out = t.push(b"dow\r");
        assert_eq!(out, vec![Typed::Line { line: "cat /etc/shadow".into(), raw: b"cat /etc/shadow\r".to_vec(), edited: false }]);
        let out = t.push(b"lx\x7fs\n");
        assert!(matches!(&out[..], [Typed::Line { line, edited: false, .. }] if line == "ls"));
        let out = t.push(b"rm -rf /\x15ls\r");
        assert!(matches!(&out[..], [Typed::Line { line, .. }] if line == "ls"));
        let out = t.push(b"cat /etc/sh\t\r");
        assert!(matches!(&out[..], [Typed::Line { edited: true, .. }]));
        // Red-team round 28: a line erased, then yanked back (or undone), is edited however
        // empty it looks; so is a line bash fills from its history.
        for keys in [&b"echo x >> .bashrc\x15\x19\r"[..], b"cat /etc/shadow\x15\x1f\r", b"^XX^rc\r", b"!!\r", b"echo !-2\r", b"cat !$\r"] {
            let out = t.push(keys);
            assert!(matches!(&out[..], [Typed::Line { edited: true, .. }]), "{keys:?}: {out:?}");
        }
        for keys in [&b"[ a != b ]\r"[..], b"echo hi!\r"] {
            let out = t.push(keys);
            assert!(matches!(&out[..], [Typed::Line { edited: false, .. }]), "{keys:?}: {out:?}");
        }
        assert_eq!(t.push(b"sleep 100\x03"), vec![Typed::Pass(vec![3])]);
        assert_eq!(t.held(), 0);
        let big = vec![b'a'; MAX_TERMINAL_LINE + 5];
        assert!(t.push(&big).is_empty());
        assert_eq!(t.push(b"\r"), vec![Typed::TooLong(MAX_TERMINAL_LINE)]);
        assert_eq!(t.held(), 0);
        // Down a pipe lines are not cut, up to the gateway's own bound.
        let mut p = TypedLines::new(false);
        assert!(matches!(&p.push(&[&big[..], b"\n"].concat())[..], [Typed::Line { .. }]));
        let big = vec![b'a'; MAX_LINE + 5];
        assert!(p.push(&big).is_empty());
        assert_eq!(p.push(b"\n"), vec![Typed::TooLong(MAX_LINE)]);
        // On a terminal the first line after an interrupt goes out as read, behind a space
        // (the character readline drops then); down a pipe nothing is added.
        let mut t = TypedLines::new(true);
        assert_eq!(t.push(b"\x03sed -s f\r")[1], Typed::Line { line: "sed -s f".into(), raw: b" sed -s f\r".to_vec(), edited: false });
        assert_eq!(t.push(b"\x03\x15x\x7fsed -s f\r")[1], Typed::Line { line: "sed -s f".into(), raw: b" sed -s f\r".to_vec(), edited: false });
        assert_eq!(t.push(b"ls\r"), vec![Typed::Line { line: "ls".into(), raw: b"ls\r".to_vec(), edited: false }]);
        // On a terminal, DEL takes back an ASCII character only; Ctrl-H is edited.
        let mut t = TypedLines::new(true);
        assert_eq!(t.push(b"lx\x7fs\r"), vec![Typed::Line { line: "ls".into(), raw: b"lx\x7fs\r".to_vec(), edited: false }]);
        assert!(matches!(&t.push("c\u{e9}\x7f\x7fid\r".as_bytes())[..], [Typed::Line { edited: true, .. }]));
        assert!(matches!(&t.push(b"cat x\x08\x08id\r")[..], [Typed::Line { edited: true, .. }]));
        // Down a pipe (round 72) nothing edits and only LF ends a line: every control byte
        // but TAB is part of it, and the line is refused.
        let mut t = TypedLines::new(false);
        for keys in [&b"head -1 /etc/shadow #\x15echo ok\n"[..], b"cat /etc/shadow #\x7f\x7fecho\n", b"\x03ls\n", b"echo A\r#; touch x\n", b"ls \x04\n"] {
            assert!(matches!(&t.push(keys)[..], [Typed::Line { edited: true, .. }]), "{keys:?}");
        }
        assert_eq!(t.push(b"printf '%s\\n'\tx\n"), vec![Typed::Line { line: "printf '%s\\n'\tx".into(), raw: b"printf '%s\\n'\tx\n".to_vec(), edited: false }]);
        assert!(t.push(b"echo a\r").is_empty(), "CR does not end a line down a pipe");
    }
}
