//! The script files a held command runs, read for the reviewer through the gateway's own
//! connection to the host, and pinned to what was reviewed when it runs.
//!
//! A ticket for `sh /tmp/x.sh` showed only the path; the reviewer read the file, the agent
//! rewrote it from another session, and the approval ran the new text (red-team round 66).
//! Now the ticket holds the text and its SHA-256; on approval the file is read again and
//! must not have changed, and a command that is one shell running one script runs the
//! reviewed text itself (`sh -c TEXT SCRIPT ARGS…`), so a change made after that read is
//! not run either.

use crate::upstream::Verifier;
use russh::ChannelMsg;
use russh::client::Handle;
use std::time::Duration;

/// Bytes of one script a reviewer is shown; a longer one is not read for review (and the
/// command is refused: a reviewer must see what they approve whole).
pub const MAX_SCRIPT: usize = 64 << 10;

/// Longest a read of a script on the host may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Shells whose `SHELL SCRIPT ARGS…` runs the same as `SHELL -c TEXT SCRIPT ARGS…`.
const PINNABLE: &[&str] = &["sh", "bash", "dash", "ksh", "mksh", "zsh", "ash", "posh"];

/// One script as the gateway read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The path, as the command names it (relative to the login directory, or `~/…`).
    pub path: String,
    /// SHA-256 of its bytes, hex.
    pub digest: String,
    /// Its text.
    pub text: String,
}

impl Script {
    /// How the ticket and the recording show it.
    pub fn shown(&self) -> String {
        format!("{} (sha256 {}, {} bytes):\n{}", self.path, self.digest, self.text.len(), self.text)
    }
}

/// Reads `path` on the host with `cat` on a channel of the gateway's own; `Err` says why it
/// cannot be shown (missing, unreadable, too long, not text).
pub async fn read(up: &Handle<Verifier>, path: &str) -> Result<Script, String> {
    let work = async {
        let mut channel = up.channel_open_session().await.map_err(|e| format!("the host refused a channel: {e}"))?;
        channel.exec(true, format!("cat -- {}", quoted_path(path))).await.map_err(|e| format!("the host refused the read: {e}"))?;
        let mut text = Vec::new();
        let mut status = None;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => {
                    text.extend_from_slice(&data);
                    if text.len() > MAX_SCRIPT {
                        let _ = channel.close().await;
                        return Err(format!("it is longer than {} KiB", MAX_SCRIPT >> 10));
                    }
                }
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        if status != Some(0) {
            return Err("it could not be read".to_string());
        }
        // A NUL cannot ride in `sh -c TEXT`: a ticket for what cannot run as shown is refused
        // up front (round 69: approved, it failed at the host).
        if text.contains(&0) {
            return Err("it holds a NUL byte".to_string());
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &text);
        let text = String::from_utf8(text).map_err(|_| "it is not text".to_string())?;
        Ok(Script { path: path.to_string(), digest: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(), text })
    };
    tokio::time::timeout(READ_TIMEOUT, work).await.unwrap_or_else(|_| Err("reading it took too long".into()))
}

/// The command that runs the reviewed text of `script` instead of reading the file again,
/// when `commands` is one shell running it with no options (`sh x.sh a b`); `None` otherwise.
pub fn pinned(commands: &[Vec<String>], script: &Script) -> Option<String> {
    let [argv] = commands else { return None };
    let [shell, path, args @ ..] = argv.as_slice() else { return None };
    if !PINNABLE.contains(&shell.as_str()) || normalised(path) != script.path {
        return None;
    }
    // `--` first: a text that starts with `-` (`-e`) would be read as the shell's options, and
    // the path run as the command (red-team round 69).
    let mut line = format!("exec {shell} -c -- {} {}", quoted(&script.text), quoted(path));
    for a in args {
        line.push(' ');
        line.push_str(&quoted(a));
    }
    Some(line)
}

fn normalised(path: &str) -> String {
    hoop_core::action::normalise_path(path)
}

/// `s` as one word of POSIX shell, single-quoted.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A path as a word of the login shell: `~/` stays the home directory, the rest is quoted.
fn quoted_path(path: &str) -> String {
    match path.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", quoted(rest)),
        None => quoted(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(path: &str, text: &str) -> Script {
        Script { path: path.into(), digest: String::new(), text: text.into() }
    }

    #[test]
    fn one_shell_running_one_script_runs_the_reviewed_text() {
        let s = script("/tmp/x.sh", "echo 'hi'\n");
        let argv = |a: &[&str]| vec![a.iter().map(|x| x.to_string()).collect::<Vec<_>>()];
        assert_eq!(pinned(&argv(&["sh", "/tmp/x.sh", "a b"]), &s).as_deref(), Some(r"exec sh -c -- 'echo '\''hi'\''
' '/tmp/x.sh' 'a b'"));
        assert_eq!(pinned(&argv(&["bash", "/tmp/../tmp/x.sh"]), &s).as_deref(), Some(r"exec bash -c -- 'echo '\''hi'\''
' '/tmp/../tmp/x.sh'"));
        // A text that looks like an option is still the text.
        assert_eq!(pinned(&argv(&["bash", "/tmp/x.sh"]), &script("/tmp/x.sh", "-e")).as_deref(), Some("exec bash -c -- '-e' '/tmp/x.sh'"));
        assert_eq!(pinned(&argv(&["python3", "/tmp/x.sh"]), &s), None);
        assert_eq!(pinned(&argv(&["sh", "/tmp/y.sh"]), &s), None);
        assert_eq!(pinned(&[vec!["sh".into(), "/tmp/x.sh".into()], vec!["id".into()]], &s), None);
    }

    #[test]
    fn paths_are_quoted_for_the_login_shell() {
        assert_eq!(quoted_path("~/a b/c'd"), r#""$HOME"/'a b/c'\''d'"#);
        assert_eq!(quoted_path("x.sh"), "'x.sh'");
    }
}
