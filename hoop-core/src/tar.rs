//! Tar stream framing: which bytes of a stream are header blocks, extended headers (GNU long
//! names, pax records) and members' data, read block by block as GNU tar and Go's
//! `archive/tar` (kubectl's) read them.
//!
//! One reading serves both directions: an approved extractor's input checked member by member
//! ([`crate::action::archive`]) and an archive a command prints, masked member by member
//! ([`crate::mask::archive`]). Where the two readers agree the framing follows them (a pax
//! `size` overrides the header's, base-256 sizes, directories carry no data, signed
//! checksums); what they lay out differently (sparse members, a global pax size) or what is
//! not tar at all is an error, and each user fails closed on it.

/// Bytes of one tar block.
pub const BLOCK: usize = 512;

/// Longest extended name or pax header a member may carry (GNU tar's own names stay far below:
/// `PATH_MAX` is 4096); a longer one is not framed.
pub const MAX_EXTENDED: usize = 64 << 10;

/// Why a stream could not be framed as tar.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct FrameError(pub String);

/// One header block, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The type flag (`b'0'` a file, `b'5'` a directory, `b'2'` a symbolic link, …).
    pub typeflag: u8,
    /// The header's own name (ustar prefix joined); a long name or pax `path` comes separately.
    pub name: String,
    /// The mode field.
    pub mode: u64,
    /// Bytes of data that follow it (a pax `size` applied), before padding.
    pub size: u64,
}

/// What the next bytes of the stream are.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A whole header block ([`Frame::block`] holds it); `None` for a block of zeros (the end
    /// of an archive, which tar with `-i` reads past).
    Header(Option<Header>),
    /// Bytes of a member's data or of its padding.
    Data(&'a [u8]),
    /// A member's data and padding ended.
    DataEnd,
    /// Bytes of an extended header's data or padding.
    Extended(&'a [u8]),
    /// Bytes of an old GNU sparse member's map (offsets and sizes, passed as they are).
    Map(&'a [u8]),
    /// An extended header ended: its kind (`b'L'` a GNU long name, `b'x'` pax, `b'g'` global
    /// pax) and its data; what it says applies to the next member.
    ExtendedEnd(u8, Vec<u8>),
    /// Part of a header block; nothing to do yet.
    Partial,
}

#[derive(Debug)]
enum State {
    Header,
    /// An old GNU sparse member's extension blocks (`held` bytes of the current one in
    /// `block`), then its data.
    SparseMap { data: u64 },
    Data { left: u64 },
    Extended { kind: u8, size: usize, padding: usize },
}

/// A tar stream's framing, fed in pieces of any size.
#[derive(Debug)]
pub struct Frame {
    state: State,
    block: Box<[u8; BLOCK]>,
    held: usize,
    extended: Vec<u8>,
    pax_size: Option<u64>,
    zeros: usize,
}

impl Default for Frame {
    fn default() -> Self {
        Frame { state: State::Header, block: Box::new([0; BLOCK]), held: 0, extended: Vec::new(), pax_size: None, zeros: 0 }
    }
}

impl Frame {
    /// The last whole header block read.
    pub fn block(&self) -> &[u8; BLOCK] {
        &self.block
    }

    /// Zero blocks read in a row just before this point.
    pub fn zeros(&self) -> usize {
        self.zeros
    }

    /// Bytes taken but not framed yet: a header block still partial, or one that was no header.
    pub fn unframed(&self) -> &[u8] {
        match self.state {
            State::Header => self.block.get(..self.held).unwrap_or_default(),
            _ => &[],
        }
    }

    /// Reads from the front of `input`: how many bytes were taken, and what they were.
    pub fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Event<'a>), FrameError> {
        match &mut self.state {
            State::Data { left } => {
                let n = input.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= n as u64;
                if n == 0 {
                    self.state = State::Header;
                    return Ok((0, Event::DataEnd));
                }
                Ok((n, Event::Data(input.get(..n).unwrap_or_default())))
            }
            State::Extended { size, padding, kind } => {
                let (size, kind) = (*size, *kind);
                if self.extended.len() < size {
                    let n = input.len().min(size - self.extended.len());
                    let now = input.get(..n).unwrap_or_default();
                    self.extended.extend_from_slice(now);
                    return Ok((n, Event::Extended(now)));
                }
                if *padding > 0 {
                    let n = input.len().min(*padding);
                    *padding -= n;
                    return Ok((n, Event::Extended(input.get(..n).unwrap_or_default())));
                }
                self.state = State::Header;
                let data = std::mem::take(&mut self.extended);
                // (GNU long names and link targets are text, not records.)
                if matches!(kind, b'x' | b'g') {
                    for (key, value) in pax_records(&data)? {
                        match key.as_str() {
                            "size" if kind == b'x' => self.pax_size = Some(value.parse().map_err(|_| FrameError("a pax size that is not a number".into()))?),
                            // A global size would apply to every member. (A pax sparse
                            // member's stored size is its size: it frames as any file.)
                            "size" => return Err(FrameError("a global pax header with a size".into())),
                            _ => {}
                        }
                    }
                }
                Ok((0, Event::ExtendedEnd(kind, data)))
            }
            State::SparseMap { data } => {
                let data = *data;
                let n = input.len().min(BLOCK - self.held);
                if let Some(slot) = self.block.get_mut(self.held..self.held + n) {
                    slot.copy_from_slice(input.get(..n).unwrap_or_default());
                }
                self.held += n;
                if self.held == BLOCK {
                    self.held = 0;
                    // Each extension block says at its byte 504 whether another follows.
                    if self.block.get(504).copied().unwrap_or(0) == 0 {
                        let left = data.div_ceil(BLOCK as u64) * BLOCK as u64;
                        self.state = if left == 0 { State::Header } else { State::Data { left } };
                    }
                }
                Ok((n, Event::Map(input.get(..n).unwrap_or_default())))
            }
            State::Header => {
                let n = input.len().min(BLOCK - self.held);
                if let Some(slot) = self.block.get_mut(self.held..self.held + n) {
                    slot.copy_from_slice(input.get(..n).unwrap_or_default());
                }
                self.held += n;
                if self.held < BLOCK {
                    return Ok((n, Event::Partial));
                }
                // (A block that is no header stays held: see `unframed`.)
                let header = self.header()?;
                self.held = 0;
                Ok((n, Event::Header(header)))
            }
        }
    }

    /// Reads the whole header block just taken and moves to what follows it.
    fn header(&mut self) -> Result<Option<Header>, FrameError> {
        let b = &self.block[..];
        if b.iter().all(|&c| c == 0) {
            self.zeros += 1;
            return Ok(None);
        }
        let recorded = octal(field(b, 148, 8)).ok_or_else(|| FrameError("a header's checksum is not a number".into()))?;
        let sum: u64 = b.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { u64::from(b' ') } else { u64::from(c) }).sum();
        let signed: i64 = b.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { i64::from(b' ') } else { i64::from(c as i8) }).sum();
        if recorded != sum && i64::try_from(recorded).ok() != Some(signed) {
            let what = if self.zeros > 0 { "data after the archive's end" } else { "a header's checksum does not match; a compressed archive must be sent uncompressed" };
            return Err(FrameError(what.into()));
        }
        self.zeros = 0;
        // (A volume label's header has no size or mode at all: it carries no data.)
        let blank = |f: &[u8]| f.iter().all(|&c| c == 0 || c == b' ');
        let size_field = field(b, 124, 12);
        let size = if blank(size_field) { Some(0) } else { number(size_field) };
        let size = size.ok_or_else(|| FrameError("a header's size is not a number".into()))?;
        let mode_field = field(b, 100, 8);
        let mode = if blank(mode_field) { Some(0) } else { number(mode_field) };
        let mode = mode.ok_or_else(|| FrameError("a header's mode is not a number".into()))?;
        let ustar = field(b, 257, 6) == b"ustar\0";
        let typeflag = b.get(156).copied().unwrap_or(0);
        let name = {
            let base = text(field(b, 0, 100));
            let prefix = if ustar { text(field(b, 345, 155)) } else { String::new() };
            if prefix.is_empty() { base } else { format!("{prefix}/{base}") }
        };
        // An extended header's own size is its header's; a member's may come from a pax record.
        let size = if matches!(typeflag, b'L' | b'K' | b'x' | b'g') { size } else { self.pax_size.take().unwrap_or(size) };
        match typeflag {
            b'L' | b'K' | b'x' | b'g' => {
                let size = usize::try_from(size).ok().filter(|&s| s <= MAX_EXTENDED).ok_or_else(|| FrameError(format!("an extended header of more than {MAX_EXTENDED} bytes")))?;
                self.extended.clear();
                let padding = (BLOCK - size % BLOCK) % BLOCK;
                self.state = State::Extended { kind: typeflag, size, padding };
            }
            // An old GNU sparse member: its map's extension blocks, if its header says there
            // are any (byte 482), then the data it stores.
            b'S' if b.get(482).copied().unwrap_or(0) != 0 => self.state = State::SparseMap { data: size },
            // Directories, links, devices and FIFOs carry no data: Go's reader skips none
            // whatever the size says, where other tars may skip it.
            b'1'..=b'6' if size != 0 => return Err(FrameError(format!("the member {name:?} of type {:?} carries data", char::from(typeflag)))),
            b'1'..=b'6' => self.state = State::Header,
            _ => {
                let left = size.div_ceil(BLOCK as u64) * BLOCK as u64;
                self.state = if left == 0 { State::Header } else { State::Data { left } };
            }
        }
        Ok(Some(Header { typeflag, name, mode, size }))
    }
}

/// The pax records `LEN key=value\n` of an extended header.
pub fn pax_records(mut data: &[u8]) -> Result<Vec<(String, String)>, FrameError> {
    let bad = || FrameError("a pax header that does not read as records".into());
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

/// A header's text field up to its first NUL.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(until_nul(bytes)).into_owned()
}

/// `bytes` up to their first NUL (a header field's or a long name's value).
pub fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.get(..bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len())).unwrap_or_default()
}

/// `len` bytes of a header from `at`.
fn field(block: &[u8], at: usize, len: usize) -> &[u8] {
    block.get(at..at + len).unwrap_or_default()
}

/// Recomputes a header block's checksum (after a field in it was rewritten).
pub fn seal(block: &mut [u8; BLOCK]) {
    let sum: u32 = block.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { u32::from(b' ') } else { u32::from(c) }).sum();
    for (slot, b) in block.iter_mut().skip(148).zip(format!("{sum:06o}\0 ").bytes()) {
        *slot = b;
    }
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

/// A numeric field: octal, or GNU's base-256 (first byte's high bit set) for sizes of 8 GiB and up.
fn number(bytes: &[u8]) -> Option<u64> {
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

    #[test]
    fn numbers_read_as_tar_reads_them() {
        assert_eq!(number(b"00000000012\0"), Some(10));
        assert_eq!(number(b"   12 \0\0\0\0\0\0"), Some(10));
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(b"0000000009\0\0"), None);
        assert_eq!(number(&[0xff; 12]), None);
    }
}
