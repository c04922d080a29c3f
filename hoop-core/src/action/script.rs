//! A script file a held command runs: what its reviewer is shown, and the command that runs
//! exactly that text once approved.
//!
//! A ticket for `sh /tmp/x.sh` that showed only the path let the agent rewrite the file after
//! the reviewer read it (red-team round 66). Each protocol reads the file through the
//! gateway's own connection (SSH: a channel of its own; Kubernetes: an exec of its own in the
//! same container) into a [`Script`]; on approval it reads it again and refuses if it changed,
//! and a command that is one shell running one script runs the reviewed text itself
//! ([`pinned_argv`]), so a change made after that read does not run either. Any other shape
//! runs the file from disk, which can change while it runs, and is refused as unreviewable.

/// Bytes of one script a reviewer is shown; a longer one is not read for review (and the
/// command is refused: a reviewer must see what they approve whole).
pub const MAX_SCRIPT: usize = 64 << 10;

/// Shells whose `SHELL SCRIPT ARGS…` runs the same as `SHELL -c -- TEXT SCRIPT ARGS…`.
const PINNABLE: &[&str] = &["sh", "bash", "dash", "ksh", "mksh", "zsh", "ash", "posh"];

/// Runs the reviewed text (`sys.argv[1]`) as python runs a script file: `sys.argv` the path
/// and its arguments, `__file__` the path, `sys.path[0]` its directory, in `__main__`'s
/// namespace with no name of its own left behind.
const PYTHON_BOOT: &str = "def _hoop_run():\n import sys, os\n text = sys.argv.pop(1)\n del sys.argv[0]\n path = sys.argv[0]\n sys.path[0] = os.path.dirname(os.path.realpath(path))\n g = sys.modules['__main__'].__dict__\n g['__file__'] = path\n del g['_hoop_run']\n return compile(text, path, 'exec'), g\nexec(*_hoop_run())\n";

/// How a ticket tells why a held command with scripts is refused rather than held.
pub const UNPINNABLE: &str = "as it will run: hoop runs a reviewed script only as `SHELL SCRIPT ARGS` or `python3 SCRIPT ARGS` (no options, nothing else on the line), the text the reviewer read";

/// Whether `p` is Python 3 by its name (`python3`, `python3.11`).
fn python3(p: &str) -> bool {
    p.strip_prefix("python3").is_some_and(|v| v.is_empty() || v.strip_prefix('.').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
}

/// One script as the gateway read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The path, as the command names it (relative to the working directory, or `~/…`).
    pub path: String,
    /// SHA-256 of its bytes, hex.
    pub digest: String,
    /// Its text.
    pub text: String,
}

impl Script {
    /// The script at `path` from the bytes read of it; `Err` says why it cannot be shown.
    pub fn from_bytes(path: &str, bytes: Vec<u8>) -> Result<Script, String> {
        if bytes.len() > MAX_SCRIPT {
            return Err(format!("it is longer than {} KiB", MAX_SCRIPT >> 10));
        }
        // A NUL cannot ride in `sh -c TEXT` (an argument ends at it): a ticket for what cannot
        // run as shown is refused up front (red-team round 69: approved, it failed at the host).
        if bytes.contains(&0) {
            return Err("it holds a NUL byte".to_string());
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let text = String::from_utf8(bytes).map_err(|_| "it is not text".to_string())?;
        Ok(Script { path: path.to_string(), digest: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(), text })
    }

    /// How the ticket and the recording show it.
    pub fn shown(&self) -> String {
        format!("{} (sha256 {}, {} bytes):\n{}", self.path, self.digest, self.text.len(), self.text)
    }
}

/// Adds the scripts read for `action`'s review (one result per path in `action.exec.scripts`,
/// in order) to what its ticket shows; one that could not be read whole makes the action
/// unshown (refused rather than held), and nothing is returned.
pub fn show(action: &mut super::Action, reads: Vec<(String, Result<Script, String>)>) -> Vec<Script> {
    let mut shown = Vec::new();
    for (path, read) in reads {
        match read {
            Ok(script) => {
                action.exec.shown.push(script.shown());
                shown.push(script);
            }
            Err(why) => {
                action.unshown = Some(format!("without {path}, which it runs: {why}"));
                return Vec::new();
            }
        }
    }
    shown
}

/// Why the approved command does not run when `now`, the script read again after approval,
/// is not the `reviewed` one; `None` when it is the same.
pub fn changed(reviewed: &Script, now: &Result<Script, String>) -> Option<String> {
    if now.as_ref().map(|s| &s.digest) == Ok(&reviewed.digest) {
        return None;
    }
    Some(format!("{} changed after it was reviewed (sha256 {} then), so the approved command did not run", reviewed.path, reviewed.digest))
}

/// The argv that runs the reviewed text of `script` instead of reading the file again, when
/// `commands` is one shell or Python 3 running it with no options (`sh x.sh a b`, `python3
/// x.py a`); `None` otherwise.
pub fn pinned_argv(commands: &[Vec<String>], script: &Script) -> Option<Vec<String>> {
    let [argv] = commands else { return None };
    let [program, path, args @ ..] = argv.as_slice() else { return None };
    if super::normalise_path(path) != script.path {
        return None;
    }
    let mut out = if PINNABLE.contains(&program.as_str()) {
        // `--` first: a text that starts with `-` (`-e`) would be read as the shell's options,
        // and the path run as the command (red-team round 69).
        vec![program.clone(), "-c".into(), "--".into(), script.text.clone(), path.clone()]
    } else if python3(program) {
        vec![program.clone(), "-c".into(), PYTHON_BOOT.into(), script.text.clone(), path.clone()]
    } else {
        return None;
    };
    out.extend(args.iter().cloned());
    Some(out)
}

/// `s` as one word of POSIX shell, single-quoted.
pub fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command line (for a POSIX shell) that prints the file at `path` and nothing else: `~/`
/// stays the home directory, the rest is quoted.
pub fn read_command(path: &str) -> String {
    let word = match path.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", quoted(rest)),
        None => quoted(path),
    };
    format!("exec cat -- {word}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(path: &str, text: &str) -> Script {
        Script { path: path.into(), digest: String::new(), text: text.into() }
    }

    fn argv(a: &[&str]) -> Vec<Vec<String>> {
        vec![a.iter().map(|x| x.to_string()).collect()]
    }

    #[test]
    fn one_shell_running_one_script_runs_the_reviewed_text() {
        let s = script("/tmp/x.sh", "echo 'hi'\n");
        let v = |a: &[&str]| Some(a.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(pinned_argv(&argv(&["sh", "/tmp/x.sh", "a b"]), &s), v(&["sh", "-c", "--", "echo 'hi'\n", "/tmp/x.sh", "a b"]));
        assert_eq!(pinned_argv(&argv(&["bash", "/tmp/../tmp/x.sh"]), &s), v(&["bash", "-c", "--", "echo 'hi'\n", "/tmp/../tmp/x.sh"]));
        // A text that looks like an option is still the text.
        assert_eq!(pinned_argv(&argv(&["bash", "/tmp/x.sh"]), &script("/tmp/x.sh", "-e")), v(&["bash", "-c", "--", "-e", "/tmp/x.sh"]));
        assert_eq!(pinned_argv(&argv(&["python3", "-u", "/tmp/x.sh"]), &s), None);
        assert_eq!(pinned_argv(&argv(&["perl", "/tmp/x.sh"]), &s), None);
        assert_eq!(pinned_argv(&argv(&["python3.11", "/tmp/x.sh", "a"]), &s), v(&["python3.11", "-c", PYTHON_BOOT, "echo 'hi'\n", "/tmp/x.sh", "a"]));
        assert!(!python3("python3.") && !python3("python31") && !python3("python"));
        assert_eq!(pinned_argv(&argv(&["sh", "-e", "/tmp/x.sh"]), &s), None);
        assert_eq!(pinned_argv(&argv(&["sh", "/tmp/y.sh"]), &s), None);
        assert_eq!(pinned_argv(&[vec!["sh".into(), "/tmp/x.sh".into()], vec!["id".into()]], &s), None);
    }

    #[test]
    fn only_text_that_can_run_as_shown_is_read() {
        assert!(Script::from_bytes("x", b"echo \0".to_vec()).unwrap_err().contains("NUL"));
        assert!(Script::from_bytes("x", vec![0xff, b'a']).unwrap_err().contains("not text"));
        assert!(Script::from_bytes("x", vec![b'a'; MAX_SCRIPT + 1]).unwrap_err().contains("longer"));
        let s = Script::from_bytes("x", b"id\n".to_vec()).unwrap();
        let want: String = ring::digest::digest(&ring::digest::SHA256, b"id\n").as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!((s.digest.as_str(), s.text.as_str()), (want.as_str(), "id\n"));
    }

    #[test]
    fn what_is_shown_and_what_changed() {
        let mut a = super::super::Action::exec("h", "sh a.sh; sh b.sh");
        let shown = show(&mut a, vec![("a.sh".into(), Ok(script("a.sh", "id")))]);
        assert_eq!((shown.len(), a.exec.shown.len(), a.unshown.is_none()), (1, 1, true));
        let none = show(&mut a, vec![("a.sh".into(), Ok(script("a.sh", "id"))), ("b.sh".into(), Err("missing".into()))]);
        assert!(none.is_empty() && a.unshown.as_deref().is_some_and(|u| u.contains("b.sh") && u.contains("missing")));
        let reviewed = Script::from_bytes("x", b"id\n".to_vec()).unwrap();
        assert_eq!(changed(&reviewed, &Ok(reviewed.clone())), None);
        assert!(changed(&reviewed, &Script::from_bytes("x", b"rm\n".to_vec())).is_some_and(|m| m.contains("changed after it was reviewed")));
        assert!(changed(&reviewed, &Err("gone".into())).is_some());
    }

    #[test]
    fn paths_are_quoted_for_the_login_shell() {
        assert_eq!(read_command("~/a b/c'd"), r#"exec cat -- "$HOME"/'a b/c'\''d'"#);
        assert_eq!(read_command("x.sh"), "exec cat -- 'x.sh'");
    }
}
