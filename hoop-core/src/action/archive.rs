//! What an approved archive extractor reads from its input: a tar stream, read header by header
//! as it passes, whose members make no links and stay inside the directory they land in.
//!
//! An extractor alone (`tar -x -C dir`, `kubectl cp` into a pod) is held for review as a whole
//! and its input then passes as data. A reviewer cannot see the members, and links are how a
//! later command's path stops meaning what it says (red-team SSH round 84: a member `h` linked
//! to the home directory, and every later `touch h/.popt` wrote the home directory unreviewed;
//! a hardlink member was `~/.bashrc` under a harmless name). So the stream is read as tar reads
//! it, and a member that is a link, a device or a FIFO, or whose name is absolute or climbs
//! with `..`, is refused before its header reaches the extractor; so is anything that does not
//! read as an uncompressed tar archive (unreadable means refused). Members' contents pass
//! untouched; what is kept is one header block and at most [`MAX_EXTENDED`] bytes of extended
//! names.
//!
//! ```
//! use hoop_core::action::archive::TarGuard;
//!
//! let mut guard = TarGuard::default();
//! let mut out = Vec::new();
//! // Not a tar header: refused, nothing passes.
//! assert!(guard.feed(&[0x1f, 0x8b, 8, 0], &mut out).is_ok()); // (a partial block waits)
//! assert!(guard.feed(&[7u8; 508], &mut out).is_err());
//! assert!(out.is_empty());
//! ```

/// The rule name of the gateway's refusal of an archive it cannot pass (recorded and shown).
pub const RULE: &str = "hoop-archive-members";

/// Bytes of one tar block.
const BLOCK: usize = 512;

/// Longest extended name or pax header a member may carry (GNU tar's own names stay far below:
/// `PATH_MAX` is 4096); a longer one is refused rather than held.
pub const MAX_EXTENDED: usize = 64 << 10;

/// Why an extractor's input was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveError {
    /// The bytes are not an uncompressed tar archive (or a header's checksum is wrong).
    #[error("its input is not an uncompressed tar archive hoop can read ({0})")]
    Unreadable(String),
    /// A member makes a link, a device or a FIFO.
    #[error("the archive's member {name:?} is a {what}: links change what later paths mean, so an extraction may not make them")]
    Link {
        /// The member's name.
        name: String,
        /// What kind of member it is.
        what: &'static str,
    },
    /// A member would be made with privileges: set-user-ID or set-group-ID, extended attributes
    /// (file capabilities among them) or ACLs.
    #[error("the archive's member {name:?} {what}: an extraction would give it privileges no review saw")]
    Privileged {
        /// The member's name (or the pax key that carries the attribute).
        name: String,
        /// What it carries.
        what: &'static str,
    },
    /// A member's name leaves the extraction directory.
    #[error("the archive's member {0:?} names a place outside the directory it is extracted into")]
    Outside(String),
}

/// Where the stream is: in a header, in a member's data, or in an extended header's data.
#[derive(Debug)]
enum State {
    /// Reading a header block (`held` bytes of it so far in `block`).
    Header,
    /// Passing a member's data and padding through.
    Data { left: u64 },
    /// Reading an extended header's data (GNU long name, pax), then its padding.
    Extended { kind: u8, size: usize, padding: usize },
}

/// Reads a tar stream as it passes to an extractor; see the module docs.
#[derive(Debug)]
pub struct TarGuard {
    state: State,
    block: Box<[u8; BLOCK]>,
    held: usize,
    extended: Vec<u8>,
    /// Names the next member has besides its header's (GNU long name, pax `path`): tar uses one
    /// of them, so every one is checked.
    names: Vec<String>,
    /// The next member's data size from a pax `size` (which tar uses instead of the header's).
    pax_size: Option<u64>,
    /// Zero blocks seen in a row (tar's end of archive is two).
    zeros: usize,
    failed: bool,
}

impl Default for TarGuard {
    fn default() -> Self {
        Self { state: State::Header, block: Box::new([0; BLOCK]), held: 0, extended: Vec::new(), names: Vec::new(), pax_size: None, zeros: 0, failed: false }
    }
}

impl TarGuard {
    /// Reads `input`, appending to `out` what may go on to the extractor; after an error
    /// nothing more passes (the caller ends the command).
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), ArchiveError> {
        if self.failed {
            return Err(ArchiveError::Unreadable("an earlier member was refused".into()));
        }
        while !input.is_empty() {
            match &mut self.state {
                State::Data { left } => {
                    let n = input.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let (now, rest) = input.split_at(n);
                    out.extend_from_slice(now);
                    *left -= n as u64;
                    input = rest;
                    if *left == 0 {
                        self.state = State::Header;
                    }
                }
                State::Extended { size, padding, .. } if self.extended.len() < *size => {
                    let n = input.len().min(*size - self.extended.len());
                    let (now, rest) = input.split_at(n);
                    self.extended.extend_from_slice(now);
                    out.extend_from_slice(now);
                    input = rest;
                    if self.extended.len() == *size && *padding == 0 {
                        self.end_extended().inspect_err(|_| self.failed = true)?;
                    }
                }
                State::Extended { padding, .. } => {
                    let n = input.len().min(*padding);
                    let (now, rest) = input.split_at(n);
                    out.extend_from_slice(now);
                    *padding -= n;
                    input = rest;
                    if *padding == 0 {
                        self.end_extended().inspect_err(|_| self.failed = true)?;
                    }
                }
                State::Header => {
                    let n = input.len().min(BLOCK - self.held);
                    let (now, rest) = input.split_at(n);
                    if let Some(slot) = self.block.get_mut(self.held..self.held + n) {
                        slot.copy_from_slice(now);
                    }
                    self.held += n;
                    input = rest;
                    if self.held == BLOCK {
                        self.held = 0;
                        self.header().inspect_err(|_| self.failed = true)?;
                        out.extend_from_slice(&self.block[..]);
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads one whole header block and moves to what follows it.
    fn header(&mut self) -> Result<(), ArchiveError> {
        let b = &self.block[..];
        if b.iter().all(|&c| c == 0) {
            // End of the archive; tar with `-i` reads on past it, and so does the check.
            self.zeros += 1;
            return Ok(());
        }
        let recorded = octal(field(b, 148, 8)).ok_or_else(|| ArchiveError::Unreadable("a header's checksum is not a number".into()))?;
        let sum: u64 = b.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { u64::from(b' ') } else { u64::from(c) }).sum();
        let signed: i64 = b.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { i64::from(b' ') } else { i64::from(c as i8) }).sum();
        if recorded != sum && i64::try_from(recorded).ok() != Some(signed) {
            let what = if self.zeros > 0 { "data after the archive's end" } else { "a header's checksum does not match; a compressed archive must be sent uncompressed" };
            return Err(ArchiveError::Unreadable(what.into()));
        }
        self.zeros = 0;
        let size = size(field(b, 124, 12)).ok_or_else(|| ArchiveError::Unreadable("a header's size is not a number".into()))?;
        let ustar = field(b, 257, 6) == b"ustar\0";
        let typeflag = b.get(156).copied().unwrap_or(0);
        let name = {
            let base = text(field(b, 0, 100));
            let prefix = if ustar { text(field(b, 345, 155)) } else { String::new() };
            if prefix.is_empty() { base } else { format!("{prefix}/{base}") }
        };
        // An extended header's own size is its header's; a member's may come from a pax record.
        let size = if matches!(typeflag, b'L' | b'x' | b'g') { size } else { self.pax_size.take().unwrap_or(size) };
        match typeflag {
            b'L' | b'x' | b'g' => {
                let size = usize::try_from(size).ok().filter(|&s| s <= MAX_EXTENDED).ok_or_else(|| ArchiveError::Unreadable(format!("an extended header of more than {MAX_EXTENDED} bytes")))?;
                self.extended.clear();
                let padding = (BLOCK - size % BLOCK) % BLOCK;
                self.state = State::Extended { kind: typeflag, size, padding };
                if size == 0 {
                    return self.end_extended();
                }
                return Ok(());
            }
            b'1' => return Err(ArchiveError::Link { name, what: "hard link" }),
            b'K' => return Err(ArchiveError::Link { name, what: "link (a long link target)" }),
            b'2' => return Err(ArchiveError::Link { name, what: "symbolic link" }),
            b'3' | b'4' => return Err(ArchiveError::Link { name, what: "device" }),
            b'6' => return Err(ArchiveError::Link { name, what: "FIFO" }),
            b'5' if size != 0 => return Err(ArchiveError::Unreadable(format!("the directory {name:?} carries data"))),
            b'0' | b'\0' | b'7' | b'5' => {}
            other => return Err(ArchiveError::Unreadable(format!("a member of type {:?} (only files and directories are read)", char::from(other)))),
        }
        // tar run as root keeps a member's set-ID bits (and its owner): a set-user-ID shell
        // extracted into a scratch directory is a way back in as that owner for any later
        // login, whoever it is (red-team Kubernetes round 101). Directories' set-group-ID bit
        // only passes a group on to new names.
        let mode = self::size(field(b, 100, 8)).ok_or_else(|| ArchiveError::Unreadable("a header's mode is not a number".into()))?;
        if typeflag != b'5' && mode & 0o6000 != 0 {
            return Err(ArchiveError::Privileged { name, what: "is set-user-ID or set-group-ID" });
        }
        check_name(&name)?;
        for other in &std::mem::take(&mut self.names) {
            check_name(other)?;
        }
        // A directory's size is ignored by tar (no data follows); a file's data is padded to
        // whole blocks.
        let left = if typeflag == b'5' { 0 } else { size.div_ceil(BLOCK as u64) * BLOCK as u64 };
        self.state = if left == 0 { State::Header } else { State::Data { left } };
        Ok(())
    }

    /// An extended header's data is complete: its name (or pax records) apply to the next member.
    fn end_extended(&mut self) -> Result<(), ArchiveError> {
        let State::Extended { kind, .. } = self.state else { return Ok(()) };
        self.state = State::Header;
        let data = std::mem::take(&mut self.extended);
        match kind {
            b'L' => self.names.push(text(&data)),
            _ => {
                for (key, value) in pax_records(&data)? {
                    match key.as_str() {
                        "linkpath" => return Err(ArchiveError::Link { name: value, what: "link (its pax header names a target)" }),
                        // A global header's name would apply to every member after it.
                        "path" if kind == b'g' => return Err(ArchiveError::Unreadable("a global pax header that names members".into())),
                        "path" => self.names.push(value),
                        "size" if kind == b'x' => {
                            self.pax_size = Some(value.parse().map_err(|_| ArchiveError::Unreadable("a pax size that is not a number".into()))?);
                        }
                        // Extended attributes and ACLs are restored by `tar --xattrs`/`--acls`
                        // (and by default by some tars): `security.capability` is a file
                        // capability, as strong as set-user-ID.
                        k if ["SCHILY.xattr.", "LIBARCHIVE.xattr.", "SCHILY.acl.", "RHT.security.", "SCHILY.fflags"].iter().any(|p| k.starts_with(p)) => {
                            return Err(ArchiveError::Privileged { name: key, what: "carries extended attributes or ACLs (file capabilities among them)" });
                        }
                        // Sparse files lay their data out in ways not read here; a global size
                        // would apply to every member.
                        k if k.starts_with("GNU.sparse.") || k == "size" => {
                            return Err(ArchiveError::Unreadable(format!("a pax header with {k:?}")));
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// A member's name may not be empty, absolute or climb out with `..` (tar strips those by
/// default, with a warning; `-P` keeps them and is refused with its command).
fn check_name(name: &str) -> Result<(), ArchiveError> {
    if name.is_empty() {
        return Err(ArchiveError::Unreadable("a member without a name".into()));
    }
    if name.starts_with('/') || name.split('/').any(|part| part == "..") {
        return Err(ArchiveError::Outside(name.to_string()));
    }
    Ok(())
}

/// The pax records `LEN key=value\n` of an extended header.
fn pax_records(mut data: &[u8]) -> Result<Vec<(String, String)>, ArchiveError> {
    let bad = || ArchiveError::Unreadable("a pax header that does not read as records".into());
    let mut records = Vec::new();
    while !data.is_empty() {
        let space = data.iter().position(|&c| c == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(data.get(..space).ok_or_else(bad)?).ok().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let record = data.get(space + 1..len).ok_or_else(bad)?;
        let record = record.strip_suffix(b"\n").ok_or_else(bad)?;
        let eq = record.iter().position(|&c| c == b'=').ok_or_else(bad)?;
        let (key, value) = record.split_at(eq);
        records.push((text(key), text(value.get(1..).unwrap_or_default())));
        data = data.get(len..).ok_or_else(bad)?;
    }
    Ok(records)
}

/// `len` bytes of a header from `at`.
fn field(block: &[u8], at: usize, len: usize) -> &[u8] {
    block.get(at..at + len).unwrap_or_default()
}

/// A NUL-terminated name field as text (lossily: tar writes bytes).
fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// An octal field, spaces and NULs around it allowed.
fn octal(bytes: &[u8]) -> Option<u64> {
    let digits: &[u8] = {
        let start = bytes.iter().position(|&c| c != b' ' && c != 0)?;
        let rest = bytes.get(start..)?;
        let end = rest.iter().position(|&c| c == b' ' || c == 0).unwrap_or(rest.len());
        rest.get(..end)?
    };
    if digits.is_empty() || digits.len() > 21 || !digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| n.checked_mul(8)?.checked_add(u64::from(d - b'0')))
}

/// A size field: octal, or GNU's base-256 (first byte's high bit set) for sizes of 8 GiB and up.
fn size(bytes: &[u8]) -> Option<u64> {
    match bytes.first() {
        Some(&first) if first & 0x80 != 0 => {
            if first & 0x40 != 0 {
                return None; // negative
            }
            let mut n = u64::from(first & 0x3f);
            for &b in bytes.get(1..)? {
                n = n.checked_mul(256)?.checked_add(u64::from(b))?;
            }
            Some(n)
        }
        _ => octal(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tar header block as GNU tar writes it (ustar, with checksum).
    fn header(name: &str, typeflag: u8, size: u64, link: &str) -> Vec<u8> {
        header_mode(name, typeflag, size, link, 0o644)
    }

    fn header_mode(name: &str, typeflag: u8, size: u64, link: &str, mode: u32) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK];
        b[..name.len()].copy_from_slice(name.as_bytes());
        b[100..107].copy_from_slice(format!("{mode:07o}").as_bytes());
        b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        b[156] = typeflag;
        b[157..157 + link.len()].copy_from_slice(link.as_bytes());
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        b[148..156].copy_from_slice(b"        ");
        let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
        b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        b
    }

    fn file(name: &str, data: &[u8]) -> Vec<u8> {
        let mut v = header(name, b'0', data.len() as u64, "");
        v.extend_from_slice(data);
        v.resize(v.len().div_ceil(BLOCK) * BLOCK, 0);
        v
    }

    fn pax(records: &[(&str, &str)]) -> Vec<u8> {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            let mut len = body.len() + 1;
            while format!("{len}{body}").len() != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len}{body}").as_bytes());
        }
        let mut v = header("PaxHeaders/x", b'x', data.len() as u64, "");
        v.extend_from_slice(&data);
        v.resize(v.len().div_ceil(BLOCK) * BLOCK, 0);
        v
    }

    /// Feeds `stream` in pieces of `step` bytes; what passed, and the error if any.
    fn run(stream: &[u8], step: usize) -> (Vec<u8>, Option<ArchiveError>) {
        let mut g = TarGuard::default();
        let mut out = Vec::new();
        for piece in stream.chunks(step) {
            if let Err(e) = g.feed(piece, &mut out) {
                return (out, Some(e));
            }
        }
        (out, None)
    }

    #[test]
    fn files_and_directories_pass_whole_in_any_pieces() {
        let mut tar = header("d/", b'5', 0, "");
        tar.extend(file("d/a.txt", b"hello"));
        tar.extend(file("d/big", &vec![b'x'; 5000]));
        tar.extend(vec![0u8; BLOCK * 2]);
        for step in [1, 7, 511, 512, 513, 4096, tar.len()] {
            let (out, err) = run(&tar, step);
            assert_eq!(err, None, "step {step}");
            assert_eq!(out, tar, "step {step}");
        }
    }

    #[test]
    fn links_devices_and_fifos_are_refused_before_their_header_passes() {
        for (t, what) in [(b'2', "symbolic link"), (b'1', "hard link"), (b'3', "device"), (b'4', "device"), (b'6', "FIFO")] {
            let mut tar = file("ok.txt", b"fine");
            let before = tar.len();
            tar.extend(header("h", t, 0, "/home/u"));
            let (out, err) = run(&tar, 100);
            assert_eq!(err, Some(ArchiveError::Link { name: "h".into(), what }));
            assert_eq!(out.len(), before, "the link's header never passes");
        }
    }

    #[test]
    fn set_id_members_and_extended_attributes_are_refused() {
        for mode in [0o4755, 0o2755, 0o6711] {
            let (out, err) = run(&header_mode("sh", b'0', 0, "", mode), 100);
            assert!(matches!(err, Some(ArchiveError::Privileged { .. })), "{mode:o}");
            assert!(out.is_empty());
        }
        // A directory's set-group-ID bit passes; so do ordinary modes.
        let mut ok = header_mode("d/", b'5', 0, "", 0o2775);
        ok.extend(header_mode("d/x", b'0', 0, "", 0o1777));
        ok.extend(file("d/y", b"y"));
        assert_eq!(run(&ok, 7), (ok.clone(), None));
        for key in ["SCHILY.xattr.security.capability", "LIBARCHIVE.xattr.user.x", "SCHILY.acl.access", "RHT.security.selinux"] {
            let mut stream = pax(&[(key, "x")]);
            stream.extend(file("bin", b"x"));
            let (out, err) = run(&stream, 512);
            assert!(matches!(err, Some(ArchiveError::Privileged { .. })), "{key}");
            assert!(out.len() <= stream.len() - BLOCK * 2, "{key}: the member's header did not pass");
        }
        // A mode tar cannot read is not guessed at.
        let mut bad = header("f", b'0', 0, "");
        bad[100..107].copy_from_slice(b"0009644");
        let sum: u32 = bad.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { 32 } else { u32::from(c) }).sum();
        bad[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        assert!(matches!(run(&bad, 512).1, Some(ArchiveError::Unreadable(_))));
    }

    #[test]
    fn names_outside_the_directory_are_refused() {
        for name in ["/etc/passwd", "../x", "a/../../b", "a/.."] {
            let (out, err) = run(&file(name, b"x"), 512);
            assert_eq!(err, Some(ArchiveError::Outside(name.into())), "{name}");
            assert!(out.is_empty());
        }
        // Dots that do not climb are names.
        assert_eq!(run(&file("a/..b/.c", b"x"), 512).1, None);
    }

    #[test]
    fn long_names_and_pax_headers_name_the_next_member() {
        let long = format!("{}/../../.bashrc", "d".repeat(120));
        let mut tar = header("././@LongLink", b'L', long.len() as u64 + 1, "");
        let mut data = long.clone().into_bytes();
        data.push(0);
        data.resize(BLOCK, 0);
        tar.extend(data);
        tar.extend(file("harmless", b"x"));
        assert_eq!(run(&tar, 64).1, Some(ArchiveError::Outside(long.clone())));

        let mut tar = pax(&[("path", "../.profile")]);
        tar.extend(file("harmless", b"x"));
        assert_eq!(run(&tar, 64).1, Some(ArchiveError::Outside("../.profile".into())));

        let mut tar = pax(&[("linkpath", "/home/u/.bashrc")]);
        tar.extend(file("harmless", b"x"));
        assert!(matches!(run(&tar, 64).1, Some(ArchiveError::Link { .. })));

        let mut tar = pax(&[("path", "fine/name"), ("mtime", "1.5")]);
        tar.extend(file("harmless", b"x"));
        assert_eq!(run(&tar, 64).1, None);

        // Each of a member's names is checked, whichever tar would take.
        let mut tar = pax(&[("path", "../.profile")]);
        let mut long = header("././@LongLink", b'L', 3, "");
        long.extend(b"ok\0");
        long.resize(BLOCK * 2, 0);
        tar.extend(long);
        tar.extend(file("harmless", b"x"));
        assert_eq!(run(&tar, 64).1, Some(ArchiveError::Outside("../.profile".into())));
    }

    #[test]
    fn a_pax_size_decides_where_the_next_header_is() {
        // The header says 0 bytes and pax says 1,024: tar reads the next header after them, so
        // a link hidden in what the header's size would call the next header is data, and the
        // link after that data is a header.
        let mut tar = pax(&[("size", "1024")]);
        tar.extend(header("f", b'0', 0, ""));
        tar.extend(vec![b'd'; 1024]);
        tar.extend(header("h", b'2', 0, "/"));
        assert!(matches!(run(&tar, 100).1, Some(ArchiveError::Link { .. })));
        let mut tar = pax(&[("size", "1024")]);
        tar.extend(header("f", b'0', 0, ""));
        tar.extend(header("h", b'2', 0, "/"));
        tar.extend(vec![b'd'; 512]);
        tar.extend(vec![0u8; 1024]);
        assert_eq!(run(&tar, 100).1, None, "inside the file's data, the link header is data");
        // Sparse layouts and directories with data are not read.
        let mut tar = pax(&[("GNU.sparse.major", "1")]);
        tar.extend(file("f", b"x"));
        assert!(matches!(run(&tar, 100).1, Some(ArchiveError::Unreadable(_))));
        assert!(matches!(run(&header("d/", b'5', 512, ""), 512).1, Some(ArchiveError::Unreadable(_))));
    }

    #[test]
    fn what_is_not_plain_tar_is_refused() {
        // gzip's magic and anything else without a valid header.
        let mut gz = vec![0x1f, 0x8b, 8, 0];
        gz.resize(BLOCK, 1);
        assert!(matches!(run(&gz, 512).1, Some(ArchiveError::Unreadable(_))));
        // A header whose checksum was not updated.
        let mut tar = file("a", b"x");
        tar[0] = b'b';
        assert!(matches!(run(&tar, 512).1, Some(ArchiveError::Unreadable(_))));
        // After the end, only more members (tar -i) or zeros.
        let mut tar = file("a", b"x");
        tar.extend(vec![0u8; BLOCK * 2]);
        tar.extend(header("h", b'2', 0, "/"));
        assert!(matches!(run(&tar, 512).1, Some(ArchiveError::Link { .. })));
        let mut tar = file("a", b"x");
        tar.extend(vec![0u8; BLOCK]);
        tar.extend(vec![b'z'; BLOCK]);
        assert!(matches!(run(&tar, 512).1, Some(ArchiveError::Unreadable(_))));
        // Oversized extended headers are not held.
        let big = header("x", b'x', (MAX_EXTENDED + 1) as u64, "");
        assert!(matches!(run(&big, 512).1, Some(ArchiveError::Unreadable(_))));
    }

    #[test]
    fn sizes_read_as_tar_reads_them() {
        assert_eq!(size(b"00000000012\0"), Some(10));
        assert_eq!(size(b"   12 \0\0\0\0\0\0"), Some(10));
        assert_eq!(size(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(size(b"0000000009\0\0"), None);
        assert_eq!(size(&[0xff; 12]), None);
    }
}
