//! The script files a held `exec` runs, read for the reviewer by an exec of the gateway's own
//! in the same container, and pinned to what was reviewed when it runs.
//!
//! What a reviewer is shown and how a command is pinned to it is `hoop_core::action::script`'s,
//! shared with SSH; this file only reads a file in a pod and rewrites the exec's `command`.

use crate::exec::{Unopened, open, upstream_socket};
use futures_util::StreamExt;
use hoop_core::action::Action;
use hoop_core::action::script::{MAX_SCRIPT, Script, UNPINNABLE, pinned_argv, read_command};
use hoop_core::gate::SessionHandle;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Longest a read of a script in a container may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an exec runs: the API server, the exec path and the container its query names.
pub(crate) struct Place<'a> {
    /// The cluster.
    pub target: &'a crate::upstream::K8sTarget,
    /// `/api/v1/namespaces/NS/pods/POD/exec`.
    pub api_path: &'a str,
    /// The exec's query, as the client sent it.
    pub query: &'a str,
}

/// `query` (an exec's) with `argv` as its command: its other parameters kept, or only its
/// container with stdout alone (`stdout_only`, for the gateway's own reads).
fn query_for(query: &str, argv: &[String], stdout_only: bool) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let keep = if stdout_only { name == "container" } else { name != "command" };
        if keep {
            out.append_pair(&name, &value);
        }
    }
    for a in argv {
        out.append_pair("command", a);
    }
    if stdout_only {
        out.append_pair("stdout", "true");
    }
    out.finish()
}

impl Place<'_> {
    /// Reads `path` in the container with `cat`, as `session`'s identity: up to `limit` bytes
    /// (more means it was cut there) and `cat`'s exit status (`None` when none came); `Err`
    /// when the exec could not run. Bounded by [`READ_TIMEOUT`].
    pub(crate) async fn read_bytes(&self, session: &SessionHandle, path: &str, limit: usize) -> Result<(Vec<u8>, Option<i64>), String> {
        let argv = ["sh".to_string(), "-c".to_string(), read_command(path)];
        let path_and_query = format!("{}?{}", self.api_path, query_for(self.query, &argv, true));
        let work = async {
            let identity = &session.session().identity;
            let (upgrade, _) = match open(self.target, &path_and_query, &hyper::HeaderMap::new(), identity, &["v5.channel.k8s.io", "v4.channel.k8s.io"]).await {
                Ok(o) => o,
                Err(Unopened::Answer(code, _)) => return Err(format!("the API server refused the read ({code})")),
                Err(Unopened::Failed(_, why)) => return Err(why),
            };
            let up = upgrade.await.map_err(|e| format!("the read's WebSocket failed: {e}"))?;
            let mut ws = upstream_socket(up).await;
            let (mut text, mut exit) = (Vec::new(), None);
            while let Some(msg) = ws.next().await {
                let Ok(Message::Binary(frame)) = msg else {
                    match msg {
                        Ok(Message::Close(_)) | Err(_) => break,
                        _ => continue,
                    }
                };
                match frame.split_first() {
                    Some((1, data)) => {
                        text.extend_from_slice(data);
                        if text.len() > limit {
                            break;
                        }
                    }
                    Some((3, status)) => exit = Some(crate::exec::exit_code(status)),
                    _ => {}
                }
            }
            Ok((text, exit))
        };
        tokio::time::timeout(READ_TIMEOUT, work).await.unwrap_or_else(|_| Err("reading it took too long".into()))
    }

    /// Reads `path` in the container with `cat`, as `session`'s identity; `Err` says why it
    /// cannot be shown (missing, unreadable, too long, not text).
    pub async fn read(&self, session: &SessionHandle, path: &str) -> Result<Script, String> {
        let (text, exit) = self.read_bytes(session, path, MAX_SCRIPT).await?;
        if exit != Some(0) && text.len() <= MAX_SCRIPT {
            return Err("it could not be read".to_string());
        }
        Script::from_bytes(path, text)
    }
}

/// Reads the scripts a held `action` runs into what its ticket shows, and returns the query
/// that runs the reviewed text, with the script it pins; the action is left unshown (refused
/// rather than held) when a script cannot be read whole or the command is not one shell
/// running one script.
pub(crate) async fn show(place: &Place<'_>, session: &SessionHandle, action: &mut Action) -> Option<(Script, String)> {
    let mut reads = Vec::new();
    for path in action.exec.scripts.clone() {
        let read = place.read(session, &path).await;
        let failed = read.is_err();
        reads.push((path, read));
        if failed {
            break;
        }
    }
    let read = hoop_core::action::script::show(action, reads);
    if read.is_empty() {
        return None;
    }
    let pin = match read.as_slice() {
        [one] => pinned_argv(&action.exec.commands, one).map(|argv| (one.clone(), query_for(place.query, &argv, false))),
        _ => None,
    };
    if pin.is_none() {
        action.unshown.get_or_insert_with(|| UNPINNABLE.into());
    }
    pin
}

/// After approval: the script read for the review is read again and must not have changed
/// (`Err` with the refusal, recorded); the exec then runs the reviewed text itself, so a change
/// after this read does not run either.
pub(crate) async fn unchanged(place: &Place<'_>, session: &SessionHandle, reviewed: &Script) -> Result<(), String> {
    let now = place.read(session, &reviewed.path).await;
    let Some(message) = hoop_core::action::script::changed(reviewed, &now) else { return Ok(()) };
    let _ = session.record(&hoop_core::event::Event::Note { message: message.clone() });
    Err(format!("hoop: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_exec_keeps_the_container_and_streams_and_replaces_the_command() {
        let query = "command=sh&command=%2Ftmp%2Fx.sh&container=c&stdin=true&stdout=true";
        let argv: Vec<String> = ["sh", "-c", "--", "echo a&b=c\n", "/tmp/x.sh"].iter().map(|s| s.to_string()).collect();
        let q = query_for(query, &argv, false);
        assert_eq!(q, "container=c&stdin=true&stdout=true&command=sh&command=-c&command=--&command=echo+a%26b%3Dc%0A&command=%2Ftmp%2Fx.sh");
        let back: Vec<String> = form_urlencoded::parse(q.as_bytes()).filter(|(n, _)| n == "command").map(|(_, v)| v.into_owned()).collect();
        assert_eq!(back, argv);
        assert_eq!(query_for(query, &["cat".into()], true), "container=c&command=cat&stdout=true");
    }
}
