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

use crate::tar::{Event, Frame, Header};

pub use crate::tar::MAX_EXTENDED;

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

/// Reads a tar stream as it passes to an extractor; see the module docs.
#[derive(Debug, Default)]
pub struct TarGuard {
    frame: Frame,
    /// Names the next member has besides its header's (GNU long name, pax `path`): tar uses one
    /// of them, so every one is checked.
    names: Vec<String>,
    failed: bool,
}

impl TarGuard {
    /// Reads `input`, appending to `out` what may go on to the extractor; after an error
    /// nothing more passes (the caller ends the command).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), ArchiveError> {
        if self.failed {
            return Err(ArchiveError::Unreadable("an earlier member was refused".into()));
        }
        self.read(input, out).inspect_err(|_| self.failed = true)
    }

    fn read(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), ArchiveError> {
        while !input.is_empty() {
            let (n, event) = self.frame.step(input).map_err(|e| ArchiveError::Unreadable(e.0))?;
            match event {
                Event::Partial | Event::DataEnd => {}
                Event::Data(bytes) | Event::Extended(bytes) | Event::Map(bytes) => out.extend_from_slice(bytes),
                Event::ExtendedEnd(kind, data) => self.extended(kind, &data)?,
                Event::Header(None) => out.extend_from_slice(self.frame.block()),
                Event::Header(Some(header)) => {
                    self.check(header)?;
                    out.extend_from_slice(self.frame.block());
                }
            }
            input = input.get(n..).unwrap_or_default();
        }
        Ok(())
    }

    /// A member's header: what it makes, with what mode, and where.
    fn check(&mut self, h: Header) -> Result<(), ArchiveError> {
        let Header { typeflag, name, mode, .. } = h;
        match typeflag {
            // Extended headers name the next member.
            b'L' | b'x' | b'g' => return Ok(()),
            b'1' => return Err(ArchiveError::Link { name, what: "hard link" }),
            b'K' => return Err(ArchiveError::Link { name, what: "link (a long link target)" }),
            b'2' => return Err(ArchiveError::Link { name, what: "symbolic link" }),
            b'3' | b'4' => return Err(ArchiveError::Link { name, what: "device" }),
            b'6' => return Err(ArchiveError::Link { name, what: "FIFO" }),
            b'0' | b'\0' | b'7' | b'5' => {}
            other => return Err(ArchiveError::Unreadable(format!("a member of type {:?} (only files and directories are read)", char::from(other)))),
        }
        // tar run as root keeps a member's set-ID bits (and its owner): a set-user-ID shell
        // extracted into a scratch directory is a way back in as that owner for any later
        // login, whoever it is (red-team Kubernetes round 101). Directories' set-group-ID bit
        // only passes a group on to new names.
        if typeflag != b'5' && mode & 0o6000 != 0 {
            return Err(ArchiveError::Privileged { name, what: "is set-user-ID or set-group-ID" });
        }
        check_name(&name)?;
        for other in &std::mem::take(&mut self.names) {
            check_name(other)?;
        }
        Ok(())
    }

    /// An extended header's data is complete: its name (or pax records) apply to the next member.
    fn extended(&mut self, kind: u8, data: &[u8]) -> Result<(), ArchiveError> {
        if kind == b'L' {
            self.names.push(crate::tar::text(data));
            return Ok(());
        }
        for (key, value) in crate::tar::pax_records(data).map_err(|e| ArchiveError::Unreadable(e.0))? {
            match key.as_str() {
                "linkpath" => return Err(ArchiveError::Link { name: value, what: "link (its pax header names a target)" }),
                // A global header's name would apply to every member after it.
                "path" if kind == b'g' => return Err(ArchiveError::Unreadable("a global pax header that names members".into())),
                "path" => self.names.push(value),
                // Sparse members lay their data out in ways tar reads apart from their size.
                k if k.starts_with("GNU.sparse.") => return Err(ArchiveError::Unreadable(format!("a pax header with {k:?} (a sparse member)"))),
                // Extended attributes and ACLs are restored by `tar --xattrs`/`--acls`
                // (and by default by some tars): `security.capability` is a file
                // capability, as strong as set-user-ID.
                k if ["SCHILY.xattr.", "LIBARCHIVE.xattr.", "SCHILY.acl.", "RHT.security.", "SCHILY.fflags"].iter().any(|p| k.starts_with(p)) => {
                    return Err(ArchiveError::Privileged { name: key, what: "carries extended attributes or ACLs (file capabilities among them)" });
                }
                _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::BLOCK;

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
}
