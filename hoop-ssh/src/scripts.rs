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
use hoop_core::action::script::{MAX_SCRIPT, Script, pinned_argv, quoted, read_command};
use russh::ChannelMsg;
use russh::client::Handle;
use std::time::Duration;

/// Longest a read of a script on the host may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads `path` on the host with `cat` on a channel of the gateway's own; `Err` says why it
/// cannot be shown (missing, unreadable, too long, not text).
pub async fn read(up: &Handle<Verifier>, path: &str) -> Result<Script, String> {
    let work = async {
        let mut channel = up.channel_open_session().await.map_err(|e| format!("the host refused a channel: {e}"))?;
        channel.exec(true, read_command(path)).await.map_err(|e| format!("the host refused the read: {e}"))?;
        let mut text = Vec::new();
        let mut status = None;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => {
                    text.extend_from_slice(&data);
                    if text.len() > MAX_SCRIPT {
                        let _ = channel.close().await;
                        break;
                    }
                }
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        if status != Some(0) && text.len() <= MAX_SCRIPT {
            return Err("it could not be read".to_string());
        }
        Script::from_bytes(path, text)
    };
    tokio::time::timeout(READ_TIMEOUT, work).await.unwrap_or_else(|_| Err("reading it took too long".into()))
}

/// The command line that runs the reviewed text of `script` instead of reading the file
/// again, when `commands` is one shell running it with no options; `None` otherwise.
pub fn pinned(commands: &[Vec<String>], script: &Script) -> Option<String> {
    let argv = pinned_argv(commands, script)?;
    // The login shell reads this line: every word quoted, and `exec` so nothing follows.
    let words: Vec<String> = argv.iter().map(|w| quoted(w)).collect();
    Some(format!("exec {}", words.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(path: &str, text: &str) -> Script {
        Script { path: path.into(), digest: String::new(), text: text.into() }
    }

    #[test]
    fn the_pinned_text_is_one_quoted_word_of_the_login_shell() {
        let s = script("/tmp/x.sh", "echo 'hi'\n");
        let argv = |a: &[&str]| vec![a.iter().map(|x| x.to_string()).collect::<Vec<_>>()];
        assert_eq!(pinned(&argv(&["sh", "/tmp/x.sh", "a b"]), &s).as_deref(), Some(r"exec 'sh' '-c' '--' 'echo '\''hi'\''
' '/tmp/x.sh' 'a b'"));
        assert_eq!(pinned(&argv(&["perl", "/tmp/x.sh"]), &s), None);
    }
}
