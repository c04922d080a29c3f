//! Where what an agent types into a shell is cut into command lines, so each line can be
//! checked as an `Exec` action before it reaches the host.
//!
//! Best effort by nature: the gateway sees keystrokes, not what the remote shell makes of them.
//! Bytes are held until the line ends; backspace and Ctrl-U are applied; any other editing key
//! (arrows, tab completion, history search, yank, undo) and any history expansion (`!!`,
//! `^old^new`) makes the line *edited*, and an edited line is not something a rule can read,
//! even when what is left of it looks empty. Ctrl-C, Ctrl-D and Ctrl-Z pass at once (dropping a held line), so
//! a stuck program can always be interrupted. Lines typed into a program that reads its input
//! (an editor, `cat > file`) are checked as commands too.

/// Longest line held before it is refused whole.
pub const MAX_LINE: usize = 64 * 1024;

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
    /// The line grew past [`MAX_LINE`]; it was dropped.
    TooLong,
}

/// Accumulates typed bytes into lines.
#[derive(Debug, Default)]
pub struct TypedLines {
    raw: Vec<u8>,
    line: Vec<u8>,
    edited: bool,
    too_long: bool,
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
                // (the remote never saw it).
                0x03 | 0x04 | 0x1a | 0x1c => {
                    self.reset();
                    out.push(Typed::Pass(vec![b]));
                }
                b'\r' | b'\n' => {
                    self.raw.push(b);
                    if self.too_long {
                        out.push(Typed::TooLong);
                    } else {
                        let line = String::from_utf8_lossy(&self.line).into_owned();
                        // On a terminal, a comment is text the shell would skip and a program
                        // reading keys would not (red-team round 44: `true #E/etc/shadow` made an
                        // approved less open the file).
                        let edited = self.edited || expands_history(&line) || (self.terminal && has_comment(&line));
                        out.push(Typed::Line { line, raw: std::mem::take(&mut self.raw), edited });
                    }
                    self.reset();
                }
                _ if self.too_long => {}
                0x7f | 0x08 => {
                    self.raw.push(b);
                    // One character back, UTF-8 aware.
                    while let Some(c) = self.line.pop() {
                        if c & 0xc0 != 0x80 {
                            break;
                        }
                    }
                }
                // Ctrl-U: the line so far is erased.
                0x15 => {
                    self.raw.push(b);
                    self.line.clear();
                }
                0x00..=0x1f => {
                    self.raw.push(b);
                    self.edited = true;
                }
                _ => {
                    self.raw.push(b);
                    self.line.push(b);
                }
            }
            if self.raw.len() > MAX_LINE && !self.too_long {
                self.too_long = true;
                self.raw.clear();
                self.line.clear();
            }
        }
        out
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
    /// Wherever a `cd` took it, or left it: relative paths cannot be read.
    Unknown,
}

impl Cwd {
    /// Follows the directory changes of a line the shell was let run (`cd`, `pushd`, `popd`).
    pub fn follow(&mut self, action: &super::Action) {
        for argv in &action.exec.commands {
            let (Some(program), args) = (argv.first(), argv.get(1..).unwrap_or_default()) else { continue };
            let dirs: Vec<&String> = args.iter().filter(|a| !(a.starts_with('-') && a.len() > 1)).collect();
            *self = match (program.as_str(), dirs.as_slice()) {
                ("cd", []) => Cwd::Login,
                ("cd" | "pushd", [d]) if d.as_str() == "~" => Cwd::Login,
                // Anywhere else: the shell may have moved there, or stayed where it was when the
                // directory does not exist or cannot be entered, and hoop cannot tell which
                // (red-team round 70: after `cd /tmp/nope` failed, `echo … > .popt` was read as
                // `/tmp/nope/.popt` and wrote `~/.popt`). Relative paths are then unreadable.
                ("cd" | "pushd" | "popd", _) => Cwd::Unknown,
                _ => continue,
            };
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
        assert!(matches!(t.push(b"true #x\r").first(), Some(Typed::Line { edited: false, .. })));
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
        cwd.follow(&crate::action::Action::exec("h", "cd /etc"));
        cwd.follow(&crate::action::Action::exec("h", "cd"));
        assert_eq!(cwd, Cwd::Login);
        cwd.follow(&crate::action::Action::exec("h", "cd /etc"));
        cwd.follow(&crate::action::Action::exec("h", "cd ~"));
        assert_eq!(cwd, Cwd::Login);
        assert!(reads(&cwd, "cat shadow").paths.is_empty() && reads(&cwd, "cat shadow").unreadable.is_empty());
        // What would make `cd name` go elsewhere than `./name` (a directory search path, a
        // variable holding a directory, a bare directory name run as `cd`) cannot be set by a
        // line that runs: assignments and `shopt` are unreadable.
        for line in ["CDPATH=/etc", "CDPATH=/etc cd ssh", "export CDPATH=/etc", "declare CDPATH=/etc", "shopt -s autocd", "shopt -s cdable_vars"] {
            assert!(!reads(&Cwd::Login, line).unreadable.is_empty(), "{line}");
        }
    }

    #[test]
    fn lines_editing_and_interrupts() {
        let mut t = TypedLines::default();
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
        let big = vec![b'a'; MAX_LINE + 5];
        assert!(t.push(&big).is_empty());
        assert_eq!(t.push(b"\r"), vec![Typed::TooLong]);
        assert_eq!(t.held(), 0);
    }
}
