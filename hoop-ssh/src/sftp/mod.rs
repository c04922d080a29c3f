//! Where SFTP requests are read: the paths of every open, remove, rename, mkdir, setstat and
//! symlink, and of OpenSSH's extensions (`posix-rename`, `hardlink`, `lsetstat`, …), so that
//! path rules apply to every transfer (OpenSSH 9 `scp` speaks SFTP too). Paths are made
//! absolute against the session's home directory (the server's own answer to the client's
//! first `realpath "."` once seen, see `replies.rs`) and normalised, so `/etc/../etc/shadow` is
//! `/etc/shadow`. Attributes set through a handle (`fsetstat`) are checked as a `setstat` of
//! the path the handle was opened for.
//! Extensions hoop does not know are actions of their own (`extension:<name>`), which rules
//! refuse for agents.
//!
//! Client packets are framed and parsed; a refused request never reaches the server and the
//! client gets `SSH_FXP_STATUS` permission-denied for it, injected between whole server
//! packets. File contents are never rewritten.

use bytes::{Buf, Bytes, BytesMut};

mod replies;

pub use replies::Replies;

/// Largest SFTP packet accepted from a client (OpenSSH sends at most 256 KiB of data).
pub const MAX_PACKET: usize = 1 << 20;

const FXP_OPEN: u8 = 3;
const FXP_CLOSE: u8 = 4;
const FXP_FSETSTAT: u8 = 10;
const FXP_SETSTAT: u8 = 9;
const FXP_OPENDIR: u8 = 11;
const FXP_REMOVE: u8 = 13;
const FXP_MKDIR: u8 = 14;
const FXP_RMDIR: u8 = 15;
const FXP_RENAME: u8 = 18;
const FXP_REALPATH: u8 = 16;
const FXP_SYMLINK: u8 = 20;
const FXP_STATUS: u8 = 101;
const FXP_NAME: u8 = 104;
const FXP_EXTENDED: u8 = 200;

/// Extensions that name no path and change nothing a path rule governs: they act on handles
/// already opened (and checked), or report limits and users.
const HANDLE_EXTENSIONS: &[&str] = &[
    "fsync@openssh.com",
    "fstatvfs@openssh.com",
    "limits@openssh.com",
    "copy-data",
    "home-directory",
    "users-groups-by-id@openssh.com",
];
const FX_PERMISSION_DENIED: u32 = 3;

const FXF_READ: u32 = 0x01;
const FXF_WRITE: u32 = 0x02;
#[cfg(test)]
const FXF_APPEND: u32 = 0x04;
const FXF_CREAT: u32 = 0x08;
const FXF_TRUNC: u32 = 0x10;

/// A request that names a path: what policy sees of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRequest {
    /// Request id, for the refusal.
    pub id: u32,
    /// The path (for rename and symlink: the source; `to` holds the other).
    pub path: String,
    /// For rename and symlink, the second path.
    pub to: String,
    /// `open`, `opendir`, `remove`, `rename`, `mkdir`, `rmdir`, `setstat`, `symlink`,
    /// `hardlink`, `statvfs`, `expand-path`, or `extension:<name>` for an unknown extension.
    pub operation: String,
    /// `download`, `upload`, `modify`, or `metadata`.
    pub direction: &'static str,
    /// Why the host may act on another path than `path` and `to` say, if it may (refused
    /// for agents, as an unreadable command is).
    pub unreadable: String,
    /// The set-user-ID or set-group-ID mode the request's attributes give, if they do
    /// (`sftp mode 4755`): denied to agents as `chmod u+s` is.
    pub set_id: String,
}

/// Why a stream is not SFTP.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SftpError {
    /// A packet length over the limit.
    #[error("sftp packet of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

/// Splits a byte stream into whole SFTP packets (length word included).
#[derive(Default)]
pub struct Framer {
    buf: BytesMut,
}

impl Framer {
    /// Adds bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole packet, if buffered.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, SftpError> {
        let Some(&[a, b, c, d]) = self.buf.get(..4) else { return Ok(None) };
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        if len > MAX_PACKET {
            return Err(SftpError::TooLarge(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(4 + len).freeze()))
    }
}

fn string(b: &mut &[u8]) -> Option<String> {
    if b.len() < 4 {
        return None;
    }
    let n = b.get_u32() as usize;
    let s = b.get(..n)?;
    let out = String::from_utf8_lossy(s).into_owned();
    b.advance(n);
    Some(out)
}

/// The path request in `packet` (length word included), its paths made absolute against
/// `home` and normalised; `None` for requests without paths that policy need not see (reads
/// and writes on handles already opened, stats, init).
pub fn path_request(packet: &[u8], home: &str) -> Option<PathRequest> {
    let mut b = packet.get(4..)?;
    if b.len() < 5 {
        return None;
    }
    let kind = b.get_u8();
    let id = b.get_u32();
    let abs = |p: String| absolute(home, &p);
    let req = |operation: &str, direction, path: String, to: String| {
        let unreadable = unreadable_path(&path).or_else(|| unreadable_path(&to)).unwrap_or_default().to_string();
        Some(PathRequest { id, path: abs(path), to: if to.is_empty() { to } else { abs(to) }, operation: operation.to_string(), direction, unreadable, set_id: String::new() })
    };
    match kind {
        FXP_OPEN => {
            let path = string(&mut b)?;
            if b.len() < 4 {
                return None;
            }
            let flags = b.get_u32();
            // As OpenSSH's sftp-server opens it: without WRITE the file is opened read-only
            // (`O_RDONLY` is 0), whatever else is set; TRUNC empties it even then (red-team
            // round 28: an open without READ, or with APPEND alone, was shown as a change and read
            // the file), and CREAT makes it even then (round 78: READ|CREAT made a home dot-file
            // its reviewer was shown as a download).
            let reads = flags & FXF_READ != 0 || flags & FXF_WRITE == 0;
            let writes = flags & (FXF_WRITE | FXF_TRUNC | FXF_CREAT) != 0;
            let direction = match (reads, writes) {
                (true, false) => "download",
                (false, _) => "upload",
                (true, true) => "modify",
            };
            // The mode a created file gets (red-team SSH round 93: an open asking for 0104755).
            let set_id = set_id_of(b);
            req("open", direction, path, String::new()).map(|r| PathRequest { set_id, ..r })
        }
        FXP_OPENDIR => req("opendir", "download", string(&mut b)?, String::new()),
        FXP_REMOVE => req("remove", "modify", string(&mut b)?, String::new()),
        FXP_MKDIR => {
            let path = string(&mut b)?;
            let set_id = set_id_of(b);
            req("mkdir", "modify", path, String::new()).map(|r| PathRequest { set_id, ..r })
        }
        FXP_RMDIR => req("rmdir", "modify", string(&mut b)?, String::new()),
        FXP_SETSTAT => {
            let path = string(&mut b)?;
            let set_id = set_id_of(b);
            setstat(req("setstat", "modify", path, String::new()).map(|r| PathRequest { set_id, ..r }))
        }
        FXP_RENAME => {
            let from = string(&mut b)?;
            req("rename", "modify", from, string(&mut b)?)
        }
        // OpenSSH's order: the link's target, then the link. A relative target is the link's
        // directory's, not the login directory's (red-team round 75: `../home/u/.x` was read
        // as `/home/home/u/.x`); a link to a home directory or above makes every later path
        // through it one hoop cannot see (round 75 wrote `~/.popt` through one).
        FXP_SYMLINK => {
            let target = string(&mut b)?;
            let link = string(&mut b)?;
            let at = abs(link.clone());
            let dir = at.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
            let pointed = if target.starts_with('/') { target.clone() } else { format!("{dir}/{target}") };
            let mut r = req("symlink", "modify", pointed.clone(), link)?;
            if r.unreadable.is_empty() && hoop_core::action::home_or_above(&pointed) {
                r.unreadable = "a link to a home directory or above".into();
            }
            // A relative target points elsewhere once the link is renamed (round 76: `.`
            // made in /tmp and renamed into the home directory).
            if r.unreadable.is_empty() && !target.starts_with('/') {
                r.unreadable = "a link with a relative target, which points elsewhere once the link is moved".into();
            }
            Some(r)
        }
        // An extended request that cannot be read is refused like an unknown one.
        FXP_EXTENDED => extended(id, &mut b, home).unwrap_or_else(|| {
            Some(PathRequest { id, path: String::new(), to: String::new(), operation: "extension:malformed".into(), direction: "modify", unreadable: String::new(), set_id: String::new() })
        }),
        _ => None,
    }
}

/// An `SSH_FXP_EXTENDED` request: `None` when malformed, `Some(None)` when it names no path
/// a rule governs.
fn extended(id: u32, b: &mut &[u8], home: &str) -> Option<Option<PathRequest>> {
    let name = string(b)?;
    let req = |operation: &str, direction, path: String, to: String| PathRequest {
        id,
        unreadable: unreadable_path(&path).or_else(|| unreadable_path(&to)).unwrap_or_default().to_string(),
        path: absolute(home, &path),
        to: if to.is_empty() { to } else { absolute(home, &to) },
        operation: operation.to_string(),
        direction,
        set_id: String::new(),
    };
    Some(Some(match name.as_str() {
        "posix-rename@openssh.com" => {
            let from = string(b)?;
            req("rename", "modify", from, string(b)?)
        }
        "hardlink@openssh.com" => {
            let from = string(b)?;
            req("hardlink", "modify", from, string(b)?)
        }
        "lsetstat@openssh.com" => {
            let path = string(b)?;
            let set_id = set_id_of(b);
            setstat(Some(PathRequest { set_id, ..req("setstat", "modify", path, String::new()) }))?
        }
        "statvfs@openssh.com" => req("statvfs", "metadata", string(b)?, String::new()),
        "expand-path@openssh.com" => req("expand-path", "metadata", string(b)?, String::new()),
        n if HANDLE_EXTENSIONS.contains(&n) => return Some(None),
        other => PathRequest { id, path: String::new(), to: String::new(), operation: format!("extension:{other}"), direction: "modify", unreadable: String::new(), set_id: String::new() },
    }))
}

/// The request id and handle of an `SSH_FXP_FSETSTAT` (attributes set through an open handle),
/// and the set-ID mode its attributes give, if any (see [`PathRequest::set_id`]).
pub fn fsetstat(packet: &[u8]) -> Option<(u32, Vec<u8>, String)> {
    let mut b = packet.get(4..)?;
    if b.len() < 5 || b.first() != Some(&FXP_FSETSTAT) {
        return None;
    }
    b.advance(1);
    let id = b.get_u32();
    if b.len() < 4 {
        return Some((id, Vec::new(), String::new()));
    }
    let n = b.get_u32() as usize;
    let handle = b.get(..n).unwrap_or_default().to_vec();
    Some((id, handle, set_id_of(b.get(n..).unwrap_or_default())))
}

/// The permissions an `ATTRS` block sets, if it sets them (SFTP v3: flags, then size, uid and
/// gid, permissions, … each present when its flag is).
fn attrs_permissions(mut b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let flags = b.get_u32();
    for (flag, len) in [(0x1, 8), (0x2, 8)] {
        if flags & flag != 0 {
            if b.len() < len {
                return None;
            }
            b.advance(len);
        }
    }
    (flags & 0x4 != 0 && b.len() >= 4).then(|| b.get_u32())
}

/// `sftp mode NNNN` when an `ATTRS` block gives a set-user-ID or set-group-ID mode, else empty.
fn set_id_of(attrs: &[u8]) -> String {
    match attrs_permissions(attrs) {
        Some(m) if m & 0o6000 != 0 => format!("sftp mode {:o}", m & 0o7777),
        _ => String::new(),
    }
}

/// Why the host may act on another path than `raw` says once it is normalised as text: a
/// `..` after a link (red-team round 75: `/dev/fd/../cwd/.popt`, `/dev/fd` being a link to
/// sftp-server's own `/proc/self/fd`, was read as `/dev/cwd/.popt` and wrote `~/.popt`), and
/// the links of `/proc` and `/dev/fd` themselves.
fn unreadable_path(raw: &str) -> Option<&'static str> {
    if raw.split('/').any(|s| s == "..") {
        return Some("a path through `..`, which the host takes after the links before it");
    }
    let p = hoop_core::action::normalise_path(raw);
    let under = |d: &str| p == d || p.strip_prefix(d).is_some_and(|r| r.starts_with('/'));
    if ["/proc", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"].iter().any(|d| under(d)) {
        return Some("a path under /proc or /dev/fd, whose links lead anywhere");
    }
    None
}

/// A setstat of a home directory or above (its mode or owner: `chmod 777 ~` is refused on a
/// command line, red-team round 75 did it over SFTP) is unreadable.
pub(crate) fn setstat(r: Option<PathRequest>) -> Option<PathRequest> {
    let mut r = r?;
    if r.unreadable.is_empty() && hoop_core::action::home_or_above(&r.path) {
        r.unreadable = "a mode or owner change of a home directory or above".into();
    }
    Some(r)
}

/// `path` made absolute against `home` (SFTP paths are relative to the login directory) and
/// lexically normalised.
pub fn absolute(home: &str, path: &str) -> String {
    if path.starts_with('/') {
        // sftp-server's working directory is the login directory: `/proc/self/cwd/…` is there.
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        if let ["proc", _, "cwd", rest @ ..] = segs.as_slice() {
            return hoop_core::action::normalise_path(&format!("{home}/{}", rest.join("/")));
        }
        hoop_core::action::normalise_path(path)
    } else {
        hoop_core::action::normalise_path(&format!("{home}/{path}"))
    }
}

/// An `SSH_FXP_STATUS` permission-denied reply to request `id`.
pub fn denied(id: u32, message: &str) -> Vec<u8> {
    let mut body = vec![FXP_STATUS];
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&FX_PERMISSION_DENIED.to_be_bytes());
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message.as_bytes());
    body.extend_from_slice(&0u32.to_be_bytes());
    let mut p = (body.len() as u32).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

/// Tracks packet boundaries in the server's stream, so replies can be injected between packets.
#[derive(Default)]
pub struct Boundaries {
    /// Bytes left of the current packet's body.
    remaining: usize,
    /// Bytes of a length word seen so far.
    header: Vec<u8>,
}

impl Boundaries {
    /// Accounts for `data` forwarded to the client.
    pub fn advance(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = data.get(n..).unwrap_or_default();
                continue;
            }
            let need = 4 - self.header.len();
            let n = need.min(data.len());
            self.header.extend_from_slice(data.get(..n).unwrap_or_default());
            data = data.get(n..).unwrap_or_default();
            if let &[a, b, c, d] = self.header.as_slice() {
                self.remaining = u32::from_be_bytes([a, b, c, d]) as usize;
                self.header.clear();
            }
        }
    }

    /// Whether the stream is between packets.
    pub fn at_boundary(&self) -> bool {
        self.remaining == 0 && self.header.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet of `kind` and `id` with `fields` after them, length word first.
    pub(super) fn packet(kind: u8, id: u32, fields: &[&[u8]]) -> Vec<u8> {
        let mut body = vec![kind];
        body.extend_from_slice(&id.to_be_bytes());
        for f in fields {
            body.extend_from_slice(f);
        }
        let mut p = (body.len() as u32).to_be_bytes().to_vec();
        p.extend_from_slice(&body);
        p
    }

    /// An SFTP string.
    pub(super) fn s(v: &str) -> Vec<u8> {
        let mut b = (v.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(v.as_bytes());
        b
    }

    #[test]
    fn paths_the_host_reads_otherwise_are_unreadable() {
        let home = "/home/u";
        let req = |kind: u8, fields: &[&[u8]]| path_request(&packet(kind, 1, fields), home).unwrap();
        // Round 75: a relative link target is the link's directory's.
        let r = req(FXP_SYMLINK, &[&s("../home/u/.x"), &s("/tmp/l")]);
        assert_eq!((r.path.as_str(), r.to.as_str()), ("/home/u/.x", "/tmp/l"));
        assert!(!r.unreadable.is_empty(), "through `..`");
        let r = req(FXP_SYMLINK, &[&s("x.txt"), &s("/tmp/d/l")]);
        assert_eq!(r.path, "/tmp/d/x.txt");
        assert!(!r.unreadable.is_empty(), "round 76: a relative target moves with the link");
        assert!(req(FXP_SYMLINK, &[&s("/srv/x.txt"), &s("/tmp/d/l")]).unreadable.is_empty());
        for target in ["/home/u", "/", "/home", "/root"] {
            assert!(!req(FXP_SYMLINK, &[&s(target), &s("/tmp/h")]).unreadable.is_empty(), "{target}");
        }
        // `/dev/fd` is a link to sftp-server's own `/proc/self/fd`.
        for path in ["/dev/fd/../cwd/.popt", "/dev/fd/3/.popt", "/proc/self/fd/3/x", "x/../.popt"] {
            assert!(!req(FXP_MKDIR, &[&s(path), &0u32.to_be_bytes()]).unreadable.is_empty(), "{path}");
        }
        assert!(req(FXP_MKDIR, &[&s("/tmp/a.b/c"), &0u32.to_be_bytes()]).unreadable.is_empty());
        // A home directory's mode or owner.
        assert!(!req(FXP_SETSTAT, &[&s("/home/u"), &0u32.to_be_bytes()]).unreadable.is_empty());
        assert!(req(FXP_SETSTAT, &[&s("/home/u/notes"), &0u32.to_be_bytes()]).unreadable.is_empty());
    }

    /// Red-team SSH round 93: modes that make set-user-ID or set-group-ID files, however sent.
    #[test]
    fn set_id_modes_are_seen() {
        let req = |kind: u8, fields: &[&[u8]]| path_request(&packet(kind, 1, fields), "/home/u").unwrap();
        let perms = |m: u32| [&4u32.to_be_bytes()[..], &m.to_be_bytes()].concat();
        let sized = |m: u32| [&5u32.to_be_bytes()[..], &9u64.to_be_bytes(), &m.to_be_bytes()].concat();
        let set = req(FXP_SETSTAT, &[&s("/tmp/x"), &perms(0o104755)]);
        assert_eq!(set.set_id, "sftp mode 4755");
        assert_eq!(req(FXP_SETSTAT, &[&s("/tmp/x"), &sized(0o2755)]).set_id, "sftp mode 2755");
        assert_eq!(req(FXP_SETSTAT, &[&s("/tmp/x"), &perms(0o755)]).set_id, "");
        assert_eq!(req(FXP_OPEN, &[&s("/tmp/x"), &(FXF_WRITE | FXF_CREAT).to_be_bytes(), &perms(0o4755)]).set_id, "sftp mode 4755");
        assert_eq!(req(FXP_MKDIR, &[&s("/tmp/d"), &perms(0o2775)]).set_id, "sftp mode 2775");
        let handle = packet(FXP_FSETSTAT, 3, &[&s("h1"), &perms(0o4711)]);
        assert_eq!(fsetstat(&handle).map(|(_, _, m)| m), Some("sftp mode 4711".to_string()));
    }

    #[test]
    fn extensions_are_decoded_or_named() {
        let ext = |name: &str, fields: &[&[u8]]| {
            let mut all: Vec<&[u8]> = Vec::new();
            let n = s(name);
            all.push(&n);
            all.extend_from_slice(fields);
            packet(FXP_EXTENDED, 3, &all)
        };
        let r = path_request(&ext("posix-rename@openssh.com", &[&s("x"), &s("/etc/cron.d/x")]), "/home/u").unwrap();
        assert_eq!((r.operation.as_str(), r.path.as_str(), r.to.as_str()), ("rename", "/home/u/x", "/etc/cron.d/x"));
        let r = path_request(&ext("hardlink@openssh.com", &[&s("/etc/shadow"), &s("s")]), "/home/u").unwrap();
        assert_eq!((r.operation.as_str(), r.to.as_str()), ("hardlink", "/home/u/s"));
        let r = path_request(&ext("lsetstat@openssh.com", &[&s("/etc/x"), &0u32.to_be_bytes()]), "/").unwrap();
        assert_eq!(r.operation, "setstat");
        assert_eq!(path_request(&ext("fsync@openssh.com", &[&s("h")]), "/"), None);
        assert_eq!(path_request(&ext("evil@example.com", &[]), "/").unwrap().operation, "extension:evil@example.com");
        let truncated = packet(FXP_EXTENDED, 4, &[&s("posix-rename@openssh.com"), &s("x")]);
        assert_eq!(path_request(&truncated, "/").unwrap().operation, "extension:malformed");

    }

    #[test]
    fn parses_paths_and_frames() {
        let open = packet(FXP_OPEN, 7, &[&s("/etc/passwd"), &FXF_READ.to_be_bytes(), &0u32.to_be_bytes()]);
        let r = path_request(&open, "/home/u").unwrap();
        assert_eq!((r.id, r.path.as_str(), r.operation.as_str(), r.direction), (7, "/etc/passwd", "open", "download"));
        let up = packet(FXP_OPEN, 8, &[&s("/tmp/x"), &(FXF_WRITE | FXF_CREAT).to_be_bytes(), &0u32.to_be_bytes()]);
        assert_eq!(path_request(&up, "/home/u").unwrap().direction, "upload");
        // Red-team round 28: the server opens without WRITE as read-only.
        for (flags, direction) in [(0, "download"), (FXF_APPEND, "download"), (FXF_APPEND | FXF_CREAT, "modify"), (FXF_READ | FXF_CREAT, "modify"), (FXF_READ | FXF_WRITE, "modify"), (FXF_TRUNC, "modify"), (FXF_WRITE | FXF_APPEND, "upload")] {
            let p = packet(FXP_OPEN, 8, &[&s("/tmp/x"), &flags.to_be_bytes(), &0u32.to_be_bytes()]);
            assert_eq!(path_request(&p, "/home/u").unwrap().direction, direction, "{flags:#x}");
        }
        let mv = packet(FXP_RENAME, 9, &[&s("/a"), &s("/b")]);
        assert_eq!(path_request(&mv, "/home/u").unwrap().to, "/b");
        assert_eq!(path_request(&[0, 0, 0, 5, 3, 0], "/"), None, "truncated: no panic");
        let rel = packet(FXP_OPEN, 10, &[&s("../../etc/./shadow"), &FXF_READ.to_be_bytes(), &0u32.to_be_bytes()]);
        assert_eq!(path_request(&rel, "/home/u").unwrap().path, "/etc/shadow");
        let dots = packet(FXP_OPEN, 11, &[&s("/etc/../etc//shadow"), &FXF_READ.to_be_bytes(), &0u32.to_be_bytes()]);
        assert_eq!(path_request(&dots, "/home/u").unwrap().path, "/etc/shadow");
        let cwd = packet(FXP_OPEN, 12, &[&s("/proc/self/cwd/../../etc/gshadow"), &FXF_READ.to_be_bytes(), &0u32.to_be_bytes()]);
        assert_eq!(path_request(&cwd, "/home/u").unwrap().path, "/etc/gshadow");

        let mut f = Framer::default();
        let both = [open.clone(), mv.clone()].concat();
        f.push(&both[..10]);
        assert_eq!(f.next_packet(), Ok(None));
        f.push(&both[10..]);
        assert_eq!(f.next_packet().unwrap().unwrap().to_vec(), open);
        assert_eq!(f.next_packet().unwrap().unwrap().to_vec(), mv);
        f.push(&[0xff, 0xff, 0xff, 0xff]);
        assert!(f.next_packet().is_err());

        let mut b = Boundaries::default();
        let st = denied(1, "no");
        b.advance(&st[..3]);
        assert!(!b.at_boundary());
        b.advance(&st[3..]);
        assert!(b.at_boundary());
    }
}
