//! scp's legacy protocol as its sink reads it (`scp -t TARGET`, what `scp -O` runs on the
//! host): the names of the files and directories it creates come inside the stream, not on
//! its command line.
//!
//! An approved `scp -t /home/u` showed the reviewer only the directory; the stream then named
//! `.bash_login`, which ran at the next login, and the recording never named it (red-team
//! round 72). Each `C` (file) and `D` (directory) record is read here into the path the sink
//! will create, which the channel checks and records as a transfer of its own before the
//! record goes on.
//!
//! The protocol is lockstep, and so is this reader: the source sends a record (`C0644 6
//! name\n`, `D0755 0 dir\n`, `E\n` ending a directory, `T… \n` times for the next record) and
//! waits for the sink's answer (`\0`, or `\x01`/`\x02` and a message), then, after a `C`
//! record the sink accepted, the file's contents and a status byte, and waits again. What the
//! sink does next depends on its answer: a `C` it could not open takes no contents, and a `D`
//! it could not make is not entered (red-team round 73: bytes sent as the contents of a file
//! the host refused were read there as records, and wrote `.bash_login` unchecked). So the
//! client's bytes are read only up to the next answer, and held until it comes; state follows
//! the host's answers, not the client's.

/// Longest record or status line passed on, newline included. scp's sink reads a line into a
/// buffer of 2048 bytes and, at 2047 without a newline, takes what follows as the next line
/// (red-team round 74 hid a record behind a 2047-byte error line after a file's contents);
/// names are at most 255 bytes, so hoop stays well below that.
const MAX_RECORD: usize = 1024;

/// Directories deeper than this are refused.
const MAX_DEPTH: usize = 64;

/// Bytes a client may send ahead of the host's answer (a source waits for each answer).
const MAX_AHEAD: usize = 1 << 20;

/// What the client's bytes are, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes to pass on as they are (contents, times, ends of directories, error lines).
    Pass(Vec<u8>),
    /// A record that creates `path` (a directory when `dir`): pass `record` on only if a
    /// transfer of `path` is allowed.
    Create {
        /// The path the sink will write, as a transfer names it.
        path: String,
        /// A directory (`D`) rather than a file (`C`).
        dir: bool,
        /// The record's bytes.
        record: Vec<u8>,
    },
    /// The stream is not scp's protocol as the sink reads it: end the transfer.
    Invalid(String),
}

/// What the sink does once it has answered the step sent last.
#[derive(Debug, Clone)]
enum Then {
    /// Reads the next record.
    Record,
    /// Reads this many bytes of contents, then the source's status (if it accepted the file).
    Contents(u64),
    /// Enters this directory (if it made it).
    Enter(String),
    /// Leaves the directory it is in.
    Leave,
}

/// Where the reader is in the client's stream.
#[derive(Debug)]
enum Step {
    /// Waiting for the host's answer to what went last.
    Answer(Then),
    /// Reading a record line.
    Record,
    /// Passing a file's contents: this many bytes are left.
    Contents(u64),
    /// The source's status after contents: a byte, or a `\x01`/`\x02` line.
    Status,
    /// The rest of the source's error line after contents: this many bytes of it so far.
    StatusLine(usize),
    /// After an invalid stream or the sink's fatal answer: nothing more is read.
    Over,
}

/// The sink's side of one `scp -t` transfer.
#[derive(Debug)]
pub struct Sink {
    step: Step,
    /// Client bytes not read yet (held while the host has not answered).
    ahead: Vec<u8>,
    line: Vec<u8>,
    /// The target, then each directory a `D` record entered.
    dirs: Vec<String>,
    /// The host's answer being read (a `\x01`/`\x02` message), if one has begun.
    answer: Option<Vec<u8>>,
}

impl Sink {
    /// A sink writing into (or as) `target`, the operand of `scp -t`; it answers first.
    pub fn new(target: &str) -> Self {
        Sink { step: Step::Answer(Then::Record), ahead: Vec::new(), line: Vec::new(), dirs: vec![target.to_string()], answer: None }
    }

    /// Whether client bytes wait for the host's answers (the client's end of input waits too).
    pub fn holding(&self) -> bool {
        !self.ahead.is_empty() && !matches!(self.step, Step::Over)
    }

    /// Takes bytes the client sent; what can be read of them before the host's next answer.
    pub fn push(&mut self, data: &[u8]) -> Vec<Piece> {
        if matches!(self.step, Step::Over) {
            return Vec::new();
        }
        self.ahead.extend_from_slice(data);
        if self.ahead.len() > MAX_AHEAD {
            return self.over(Vec::new(), "the source sent more than a megabyte ahead of the sink's answers");
        }
        self.read()
    }

    /// Takes bytes the host sent (its answers, passed on to the client as they are); what of
    /// the client's held bytes can be read now.
    pub fn answered(&mut self, data: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        for &b in data {
            if matches!(self.step, Step::Over) {
                return out;
            }
            let ok = match self.answer.as_mut() {
                None if b == 0 => Some(true),
                None if b == 1 || b == 2 => {
                    self.answer = Some(vec![b]);
                    None
                }
                // Not an answer scp gives: nothing more is read.
                None => return self.over(out, "the sink answered outside its protocol"),
                Some(msg) if b == b'\n' => {
                    let fatal = msg.first() == Some(&2);
                    self.answer = None;
                    if fatal {
                        // The sink exits.
                        self.step = Step::Over;
                        return out;
                    }
                    Some(false)
                }
                Some(msg) => {
                    msg.push(b);
                    if msg.len() > MAX_RECORD {
                        return self.over(out, "the sink's answer is longer than scp writes");
                    }
                    None
                }
            };
            let Some(ok) = ok else { continue };
            let Step::Answer(then) = std::mem::replace(&mut self.step, Step::Record) else {
                return self.over(out, "the sink answered a step the source had not taken");
            };
            match (then, ok) {
                (Then::Contents(n), true) => self.step = Step::Contents(n),
                (Then::Enter(dir), true) => self.dirs.push(dir),
                (Then::Leave, true) => {
                    self.dirs.pop();
                }
                // Refused: no contents follow, the directory is not entered; the sink reads
                // the next record.
                _ => {}
            }
            out.extend(self.read());
        }
        out
    }

    /// Reads the held client bytes up to the next step the host must answer.
    fn read(&mut self) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut pass = Vec::new();
        let mut at = 0;
        while at < self.ahead.len() {
            let rest = self.ahead.get(at..).unwrap_or_default();
            match self.step {
                Step::Answer(_) | Step::Over => break,
                Step::Contents(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    pass.extend_from_slice(rest.get(..n).unwrap_or_default());
                    at += n;
                    let left = left - n as u64;
                    self.step = if left == 0 { Step::Status } else { Step::Contents(left) };
                }
                Step::Status => {
                    let b = rest.first().copied().unwrap_or_default();
                    pass.push(b);
                    at += 1;
                    self.step = if b == 0 { Step::Answer(Then::Record) } else { Step::StatusLine(1) };
                }
                Step::StatusLine(so_far) => {
                    let end = rest.iter().position(|b| *b == b'\n');
                    let take = end.map_or(rest.len(), |e| e + 1);
                    if so_far + take > MAX_RECORD {
                        self.ahead.clear();
                        return self.over(out_with(out, pass), "a status line longer than scp reads");
                    }
                    pass.extend_from_slice(rest.get(..take).unwrap_or_default());
                    at += take;
                    self.step = if end.is_some() { Step::Answer(Then::Record) } else { Step::StatusLine(so_far + take) };
                }
                Step::Record => {
                    let end = rest.iter().position(|b| *b == b'\n');
                    let take = end.map_or(rest.len(), |e| e + 1);
                    self.line.extend_from_slice(rest.get(..take).unwrap_or_default());
                    at += take;
                    if self.line.len() > MAX_RECORD {
                        self.ahead.clear();
                        return self.over(out_with(out, pass), "a record longer than scp reads");
                    }
                    if end.is_none() {
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    match self.record(&line) {
                        Ok(Some(piece)) => {
                            out = out_with(out, std::mem::take(&mut pass));
                            out.push(piece);
                        }
                        Ok(None) => pass.extend_from_slice(&line),
                        Err(why) => {
                            self.ahead.clear();
                            return self.over(out_with(out, pass), why);
                        }
                    }
                }
            }
        }
        self.ahead.drain(..at.min(self.ahead.len()));
        out_with(out, pass)
    }

    fn over(&mut self, mut out: Vec<Piece>, why: &str) -> Vec<Piece> {
        self.step = Step::Over;
        self.ahead.clear();
        out.push(Piece::Invalid(format!("scp: {why}")));
        out
    }

    /// One record line (its `\n` included): a creation to check, or bytes to pass; the step
    /// after it is set.
    fn record(&mut self, line: &[u8]) -> Result<Option<Piece>, &'static str> {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        // scp reads a name as a C string: it ends at a NUL (red-team round 75: `D0755 0 bin\0`
        // was checked as `bin\0x` and made `~/bin`).
        if text.contains(&0) {
            return Err("a record holding a NUL byte");
        }
        match text.first() {
            // The source's error lines: the sink reports them and reads on (a `\x02` ends it).
            Some(1) => Ok(None),
            Some(2) => {
                self.step = Step::Over;
                Ok(None)
            }
            Some(b'T') => {
                self.step = Step::Answer(Then::Record);
                Ok(None)
            }
            Some(b'E') if text.len() == 1 => {
                if self.dirs.len() == 1 {
                    return Err("an end of directory outside any");
                }
                self.step = Step::Answer(Then::Leave);
                Ok(None)
            }
            Some(kind @ (b'C' | b'D')) => {
                let text = std::str::from_utf8(text.get(1..).unwrap_or_default()).map_err(|_| "a record that is not text")?;
                // `C%04o %llu %s`, as scp's sink parses it.
                let (mode, rest) = text.split_once(' ').ok_or("a record without a size")?;
                let (size, name) = rest.split_once(' ').ok_or("a record without a name")?;
                if mode.len() < 4 || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    return Err("a record with a bad mode");
                }
                let size: u64 = size.parse().map_err(|_| "a record with a bad size")?;
                // The sink refuses these itself; hoop refuses them first.
                if name.is_empty() || name.contains('/') || name == ".." || name == "." {
                    return Err("a record naming a path, not a file");
                }
                let parent = self.dirs.last().map(String::as_str).unwrap_or_default();
                let path = match parent {
                    "" | "." => name.to_string(),
                    p => format!("{}/{name}", p.trim_end_matches('/')),
                };
                let path = hoop_core::action::normalise_path(&path);
                // `/proc/self/cwd`, `/proc/<pid>/root`: links the host follows to anywhere
                // (red-team round 73 wrote `~/.popt` as `/proc/self/cwd/.popt`).
                if path == "/proc" || path.starts_with("/proc/") {
                    return Err("a path under /proc, whose links lead anywhere");
                }
                let dir = *kind == b'D';
                // A directory record naming a home directory or above: with `-p` scp sets the
                // mode of the existing directory (round 75 made a home directory 0777).
                if dir && hoop_core::action::home_or_above(&path) {
                    return Err("a directory record naming a home directory or above");
                }
                if dir {
                    if self.dirs.len() > MAX_DEPTH {
                        return Err("directories nested too deep");
                    }
                    self.step = Step::Answer(Then::Enter(path.clone()));
                } else {
                    self.step = Step::Answer(Then::Contents(size));
                }
                Ok(Some(Piece::Create { path, dir, record: line.to_vec() }))
            }
            _ => Err("a record scp does not know"),
        }
    }
}

/// `out` with `pass` appended as one piece, if there is any.
fn out_with(mut out: Vec<Piece>, pass: Vec<u8>) -> Vec<Piece> {
    if !pass.is_empty() {
        out.push(Piece::Pass(pass));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(path: &str, dir: bool, record: &[u8]) -> Piece {
        Piece::Create { path: path.into(), dir, record: record.to_vec() }
    }

    fn pass(b: &[u8]) -> Piece {
        Piece::Pass(b.to_vec())
    }

    #[test]
    fn names_come_from_the_records_and_contents_pass_once_accepted() {
        let mut s = Sink::new("/home/u");
        // Nothing is read before the sink's first answer.
        assert_eq!(s.push(b"C0644 6 .bash_login\n"), vec![]);
        assert_eq!(s.answered(b"\0"), vec![create("/home/u/.bash_login", false, b"C0644 6 .bash_login\n")]);
        // Contents sent ahead of the answer wait for it.
        assert_eq!(s.push(b"id; x\n\0T1 0 1 0\n"), vec![]);
        assert!(s.holding());
        assert_eq!(s.answered(b"\0"), vec![pass(b"id; x\n\0")]);
        assert_eq!(s.answered(b"\0"), vec![pass(b"T1 0 1 0\n")]);
        assert_eq!(s.push(b"C0600 2 b"), vec![]);
        assert_eq!(s.answered(b"\0"), vec![]);
        assert_eq!(s.push(b"\nC\n"), vec![create("/home/u/b", false, b"C0600 2 b\n")]);
        assert_eq!(s.answered(b"\0"), vec![pass(b"C\n")]);
    }

    #[test]
    fn a_file_the_sink_refused_takes_no_contents() {
        // Round 73: the "contents" of a file the host could not open are its next records.
        let mut s = Sink::new("/home/u");
        s.answered(b"\0");
        assert_eq!(s.push(b"C0644 74 app\nC0644 3 .bash_login\nid\n\0"), vec![create("/home/u/app", false, b"C0644 74 app\n")]);
        assert_eq!(s.answered(b"\x01scp: /home/u/app: Is a directory\n"), vec![create("/home/u/.bash_login", false, b"C0644 3 .bash_login\n")]);
    }

    #[test]
    fn directories_are_entered_only_once_made() {
        let mut s = Sink::new(".");
        s.answered(b"\0");
        assert_eq!(s.push(b"D0755 0 customers.csv\n"), vec![create("customers.csv", true, b"D0755 0 customers.csv\n")]);
        // Round 73: the host could not make it; the next name is the target's, not inside it.
        assert_eq!(s.answered(b"\x01scp: customers.csv: Not a directory\n"), vec![]);
        assert_eq!(s.push(b"C0644 1 .popt\n"), vec![create(".popt", false, b"C0644 1 .popt\n")]);
        let mut s = Sink::new(".");
        s.answered(b"\0");
        s.push(b"D0700 0 .ssh\nC0600 3 authorized_keys\nabc\0E\n");
        assert_eq!(s.answered(b"\0"), vec![create(".ssh/authorized_keys", false, b"C0600 3 authorized_keys\n")]);
        assert_eq!(s.answered(b"\0"), vec![pass(b"abc\0")]);
        assert_eq!(s.answered(b"\0"), vec![pass(b"E\n")]);
        s.answered(b"\0");
        assert_eq!(s.push(b"C0644 0 top\n"), vec![create("top", false, b"C0644 0 top\n")]);
    }

    #[test]
    fn what_the_sink_would_refuse_ends_the_transfer() {
        for bad in [&b"C0644 1 ../x\n"[..], b"C0644 1 a/b\n", b"C0644 x y\n", b"Cabc 1 y\n", b"E\n", b"X\n", b"C0644 1 ..\n"] {
            let mut s = Sink::new("/tmp");
            s.answered(b"\0");
            let out = s.push(bad);
            assert!(matches!(out.last(), Some(Piece::Invalid(_))), "{bad:?}: {out:?}");
        }
        for bad in [&b"D0755 0 bin\0\n"[..], b"C0644 1 .git\0x\n"] {
            let mut s = Sink::new("/home/u");
            s.answered(b"\0");
            assert!(matches!(s.push(bad).last(), Some(Piece::Invalid(_))), "{bad:?}");
        }
        let mut s = Sink::new("/home");
        s.answered(b"\0");
        assert!(matches!(s.push(b"D0777 0 u\n").last(), Some(Piece::Invalid(_))));
        let mut s = Sink::new("/proc/self");
        s.answered(b"\0");
        assert!(matches!(s.push(b"D0755 0 cwd\n").last(), Some(Piece::Invalid(_))));
        let mut s = Sink::new("/tmp");
        s.answered(b"\0");
        assert!(matches!(s.push(&vec![b'T'; MAX_RECORD + 2]).last(), Some(Piece::Invalid(_))));
        // Round 74: an error line after a file's contents that scp would cut, a record behind it.
        let mut s = Sink::new("/home/u");
        s.answered(b"\0");
        s.push(b"C0644 3 a\n");
        s.answered(b"\0");
        let mut tail = b"hi\n\x01".to_vec();
        tail.extend(vec![b'A'; 2046]);
        tail.extend_from_slice(b"C0644 3 .bash_login\n");
        assert!(matches!(s.push(&tail).last(), Some(Piece::Invalid(_))));
        assert!(matches!(Sink::new("/tmp").push(&vec![0; MAX_AHEAD + 1]).last(), Some(Piece::Invalid(_))));
        // The sink's fatal answer ends it.
        let mut s = Sink::new("/tmp");
        s.answered(b"\0");
        s.push(b"C0644 1 a\n");
        assert_eq!(s.answered(b"\x02scp: no\n"), vec![]);
        assert_eq!(s.push(b"x\0C0644 1 b\n"), vec![]);
    }
}
