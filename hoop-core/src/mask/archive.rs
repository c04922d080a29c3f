//! Masking of a tar archive a command prints (`kubectl cp` from a pod runs `tar cf -` there;
//! `ssh host tar cf - dir` does the same): every member's data masked as it streams, with
//! replacements of the same length, so each header's size still says where the next header is
//! and the client's tar reads the archive whole.
//!
//! Masked as plain text, an archive breaks: a replacement longer or shorter than its value
//! moves every later header, and one inside a header breaks its checksum (red-team Kubernetes
//! round 101: a copied file holding an e-mail address arrived as an archive tar could not
//! read). So the stream is framed as tar reads it ([`crate::tar`]); members' data (padding
//! included) passes through a same-length [`StreamMasker`], flushed where each member ends, and
//! the names in headers and extended headers are masked the same way, the header's checksum
//! made again. What cannot be framed (a sparse member, a compressed stream, bytes after a bad
//! checksum) is masked from there on as a plain stream: the value is still hidden, and the
//! client's tar says the archive is damaged.
//!
//! ```
//! use hoop_core::mask::{MaskConfig, Masker};
//! use hoop_core::mask::archive::ArchiveMasker;
//! use std::sync::Arc;
//!
//! let masker = Arc::new(Masker::new(&MaskConfig::default(), None).unwrap());
//! let mut m = ArchiveMasker::new(masker);
//! let mut out = m.feed(b"not a tar stream, ada@example.com\n");
//! out.extend(m.flush());
//! assert!(!String::from_utf8_lossy(&out).contains("ada@example.com"));
//! ```

use super::stream::{StreamMasker, StreamStyle};
use super::Masker;
use crate::tar::{BLOCK, Event, Frame};
use std::sync::Arc;

/// Masks one archive stream; feed it chunks in order, then [`flush`](Self::flush) at its end.
#[derive(Debug)]
pub struct ArchiveMasker {
    masker: Arc<Masker>,
    frame: Frame,
    /// The current member's data, masked with same-length replacements.
    data: StreamMasker,
    /// Bytes of the current member taken in and sent out (they must be equal at its end).
    member: (u64, u64),
    /// The stream could not be framed: the rest is masked as a plain stream.
    broken: bool,
    /// An extended header's data (and padding) so far.
    extended: Vec<u8>,
}

impl ArchiveMasker {
    /// A masker for an archive stream, masking with `masker`.
    pub fn new(masker: Arc<Masker>) -> Self {
        let data = same_length(&masker);
        ArchiveMasker { masker, frame: Frame::default(), data, member: (0, 0), broken: false, extended: Vec::new() }
    }

    /// Values masked so far (usage counts them).
    pub fn masked_values(&self) -> u64 {
        self.data.masked_values()
    }

    /// Values masked since the last call, by detector.
    pub fn take_masked_by(&mut self) -> Vec<(crate::usage::MaskedBy, u64)> {
        self.data.take_masked_by()
    }

    /// Masks what comes next with `masker` (one that knows more values, say).
    pub fn set_masker(&mut self, masker: Arc<Masker>) {
        self.data.set_masker(masker.clone());
        self.masker = masker;
    }

    /// Takes the next chunk and returns what can be sent now.
    pub fn feed(&mut self, mut input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        while !input.is_empty() && !self.broken {
            let before = self.frame.unframed().len();
            let Ok((n, event)) = self.frame.step(input) else {
                // From here the stream is text to mask, not an archive: the block that was no
                // header first, then the rest of the input after what it took.
                self.broken = true;
                let taken = self.frame.unframed().len().saturating_sub(before);
                let held = std::mem::take(&mut self.extended);
                out.extend(self.data.feed(&held));
                out.extend(self.data.feed(self.frame.unframed()));
                input = input.get(taken..).unwrap_or_default();
                break;
            };
            match event {
                Event::Partial => {}
                Event::Data(bytes) => {
                    self.member.0 += bytes.len() as u64;
                    let masked = self.data.feed(bytes);
                    self.member.1 += masked.len() as u64;
                    out.extend(masked);
                }
                Event::DataEnd => self.end_member(&mut out),
                // A long name or pax records, held whole (at most `MAX_EXTENDED` and its
                // padding) so that a value is never masked in two halves, then masked in
                // place: same length, so each record's length still holds.
                Event::Extended(bytes) => self.extended.extend_from_slice(bytes),
                Event::ExtendedEnd(..) => {
                    let held = std::mem::take(&mut self.extended);
                    out.extend(self.same(&held));
                }
                Event::Header(named) => {
                    let mut block = *self.frame.block();
                    if named.is_some() {
                        self.mask_names(&mut block);
                    }
                    out.extend_from_slice(&block);
                }
            }
            input = input.get(n..).unwrap_or_default();
        }
        if self.broken && !input.is_empty() {
            out.extend(self.data.feed(input));
        }
        out
    }

    /// The stream ended: releases everything held.
    pub fn flush(&mut self) -> Vec<u8> {
        if self.broken {
            return self.data.flush();
        }
        let mut out = Vec::new();
        self.end_member(&mut out);
        // A stream cut inside a header or an extended header: its bytes, masked as text.
        let held = std::mem::take(&mut self.extended);
        let mut tail = self.data.feed(&held);
        tail.extend(self.data.feed(self.frame.unframed()));
        tail.extend(self.data.flush());
        out.extend(tail);
        out
    }

    /// A member's data ended: what is held goes, made exactly as long as what came in.
    fn end_member(&mut self, out: &mut Vec<u8>) {
        let mut rest = self.data.flush();
        let (taken, sent) = self.member;
        let want = usize::try_from(taken.saturating_sub(sent)).unwrap_or(usize::MAX);
        // Replacements keep lengths; should one not, the member is cut or filled rather than
        // the framing of every later header moved.
        rest.resize(want, b'*');
        out.extend(rest);
        self.member = (0, 0);
    }

    /// `bytes` masked with same-length replacements, whole.
    fn same(&self, bytes: &[u8]) -> Vec<u8> {
        let mut m = same_length(&self.masker);
        let mut out = m.feed(bytes);
        out.extend(m.flush());
        out.resize(bytes.len(), b'*');
        out
    }

    /// Masks a header's name, link name and prefix fields in place and seals it again.
    fn mask_names(&self, block: &mut [u8; BLOCK]) {
        let mut changed = false;
        for (at, len) in [(0, 100), (157, 100), (345, 155)] {
            let Some(field) = block.get_mut(at..at + len) else { continue };
            let end = field.iter().position(|&c| c == 0).unwrap_or(len);
            let Some(name) = field.get_mut(..end) else { continue };
            let masked = self.same(name);
            if masked[..] != name[..] {
                name.copy_from_slice(&masked);
                changed = true;
            }
        }
        if changed {
            crate::tar::seal(block);
        }
    }
}

/// What masks one output stream of a command: as text, or as the archive tar writes.
#[derive(Debug)]
pub enum OutputMasker {
    /// Text (see [`StreamMasker`]).
    Stream(StreamMasker),
    /// An archive (see [`ArchiveMasker`]).
    Archive(ArchiveMasker),
}

impl OutputMasker {
    /// Takes the next chunk and returns what can be sent now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        match self {
            OutputMasker::Stream(m) => m.feed(chunk),
            OutputMasker::Archive(m) => m.feed(chunk),
        }
    }

    /// Releases what is held (at the stream's end, or a terminal's deadline: an archive holds
    /// nothing past its members, so it releases only at its end).
    pub fn flush(&mut self) -> Vec<u8> {
        match self {
            OutputMasker::Stream(m) => m.flush(),
            OutputMasker::Archive(m) => m.flush(),
        }
    }

    /// When held bytes must be released with [`flush`](Self::flush), if ever.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        match self {
            OutputMasker::Stream(m) => m.deadline(),
            OutputMasker::Archive(_) => None,
        }
    }

    /// Masks what comes next with `masker`.
    pub fn set_masker(&mut self, masker: Arc<Masker>) {
        match self {
            OutputMasker::Stream(m) => m.set_masker(masker),
            OutputMasker::Archive(m) => m.set_masker(masker),
        }
    }

    /// Values masked so far.
    pub fn masked_values(&self) -> u64 {
        match self {
            OutputMasker::Stream(m) => m.masked_values(),
            OutputMasker::Archive(m) => m.masked_values(),
        }
    }

    /// Values masked since the last call, by detector.
    pub fn take_masked_by(&mut self) -> Vec<(crate::usage::MaskedBy, u64)> {
        match self {
            OutputMasker::Stream(m) => m.take_masked_by(),
            OutputMasker::Archive(m) => m.take_masked_by(),
        }
    }
}

/// A stream masker whose replacements keep the length of what they replace.
fn same_length(masker: &Arc<Masker>) -> StreamMasker {
    masker.stream(StreamStyle::Terminal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::MaskConfig;

    fn masker() -> Arc<Masker> {
        Arc::new(Masker::new(&MaskConfig::default(), None).unwrap())
    }

    /// An archive made by the system's tar of `files`, each `(name, contents)`.
    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        for (name, data) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        let o = std::process::Command::new("tar").arg("-cf").arg("-").arg("-C").arg(dir.path()).args(&names).output().unwrap();
        assert!(o.status.success());
        o.stdout
    }

    /// What the system's tar lists and prints of an archive: `(ok, contents)`.
    fn untar(archive: &[u8]) -> (bool, String) {
        use std::io::Write;
        let mut child = std::process::Command::new("tar")
            .args(["-xOf", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(archive).unwrap();
        let o = child.wait_with_output().unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
    }

    fn mask(archive: &[u8], step: usize) -> Vec<u8> {
        let mut m = ArchiveMasker::new(masker());
        let mut out = Vec::new();
        for piece in archive.chunks(step) {
            out.extend(m.feed(piece));
        }
        out.extend(m.flush());
        out
    }

    #[test]
    fn masked_archives_stay_archives() {
        let long = format!("{}\nmail ada@example.com then\n", "x".repeat(9000));
        let archive = tar_of(&[("a.txt", b"contact: ada@example.com\ncard 4111 1111 1111 1111\n"), ("b/long.txt", long.as_bytes()), ("c.bin", &[0u8, 1, 2, 255])]);
        for step in [1, 7, 512, 100_000] {
            let out = mask(&archive, step);
            assert_eq!(out.len(), archive.len(), "step {step}");
            let (ok, text) = untar(&out);
            assert!(ok, "step {step}: tar reads it");
            assert!(!text.contains("ada@example.com") && !text.contains("4111 1111"), "{text}");
            assert!(text.contains("contact: ") && text.contains("xxxx"), "{text}");
        }
    }

    #[test]
    fn names_are_masked_and_headers_sealed_again() {
        let archive = tar_of(&[("ada@example.com.txt", b"fine\n")]);
        let out = mask(&archive, 300);
        assert!(!String::from_utf8_lossy(&out).contains("ada@example.com"));
        let (ok, text) = untar(&out);
        assert!(ok && text == "fine\n", "{text}");
    }

    #[test]
    fn long_names_are_masked_whole_in_any_pieces() {
        let name = format!("{}/ada@example.com.txt", "d".repeat(120));
        let archive = tar_of(&[(&name, b"fine\n")]);
        for step in [1, 3, 511] {
            let out = mask(&archive, step);
            assert!(!String::from_utf8_lossy(&out).contains("ada@example.com"), "step {step}");
            let (ok, text) = untar(&out);
            assert!(ok && text == "fine\n", "step {step}: {text}");
        }
    }

    #[test]
    fn what_is_not_an_archive_is_masked_as_text() {
        let out = mask(b"gzip? no: ada@example.com and more\n", 5);
        assert!(!String::from_utf8_lossy(&out).contains("ada@example.com"));
    }
}
