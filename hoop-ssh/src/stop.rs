//! Stopping what a session's commands run on the host when the session ends (revoked, killed,
//! expired), through a channel of the gateway's own on the same connection.
//!
//! The SSH `signal` request is not enough: OpenSSH's sshd refuses it ("session signalling
//! requires privilege separation") for a root login, and a command with no terminal does not
//! notice its channel closing, so a revoked agent's loop ran on as root (red-team identity
//! round 86). Every session sshd starts for one connection is a child of that connection's
//! sshd process and leads a Unix session of its own (sshd calls `setsid`), so a shell started
//! on another channel of the same connection finds them as its siblings, and kills every
//! process of their Unix sessions: the command, its children, its background jobs.

use crate::upstream::Verifier;
use russh::ChannelMsg;
use russh::client::Handle;
use std::time::Duration;

/// Longest the gateway waits for the host to stop a session's processes.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// The command, run on a channel of the gateway's own, that kills every process of the Unix
/// sessions of its siblings (the other sessions its sshd started), and prints how many it
/// killed. `exec sh` replaces the login shell (whatever it is: zsh would not split the fields
/// below) and keeps its process, so `$PPID` is sshd's; POSIX `sh` builtins only, reading the
/// `PPid:` and `NSsid:` lines of `/proc/PID/status` (Linux ≥ 4.1), where a process's name is
/// escaped (in `/proc/PID/stat` a name holding a line break cut the line: red-team identity
/// round 87's loop named `a\nb` outlived its kill). A process forked while a pass ran may be
/// missed, so the pass repeats while it kills something. (No `'` in the text: it is quoted
/// whole.)
const STOP_SIBLINGS: &str = r#"exec sh -c 'me=$$; parent=$PPID; sids=; n=0
info() { ppid=; sid=; while read -r k v rest; do case $k in PPid:) ppid=$v;; NSsid:) sid=$v;; esac; done 2>/dev/null < "$1"; }
for d in /proc/[0-9]*; do
  info "$d/status"; pid=${d#/proc/}
  [ "$ppid" = "$parent" ] && [ "$pid" != "$me" ] && sids="$sids $pid"
done
if [ -n "$sids" ]; then
  for pass in 1 2 3; do
    k=0
    for d in /proc/[0-9]*; do
      info "$d/status"; pid=${d#/proc/}
      for s in $sids; do
        if [ "$sid" = "$s" ] || [ "$pid" = "$s" ]; then kill -KILL "$pid" 2>/dev/null && k=$((k+1)); break; fi
      done
    done
    n=$((n+k)); [ "$k" -eq 0 ] && break
  done
fi
echo "$n"'
"#;

/// Kills, on the host, every process of the other sessions this connection's sshd started;
/// `Ok` holds how many processes were killed, `Err` why the host could not be asked.
pub async fn stop_sessions(up: &Handle<Verifier>) -> Result<u32, String> {
    let work = async {
        let mut channel = up.channel_open_session().await.map_err(|e| format!("the host refused a channel: {e}"))?;
        channel.exec(true, STOP_SIBLINGS).await.map_err(|e| format!("the host refused the command: {e}"))?;
        let mut said = Vec::new();
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } if said.len() < 64 => said.extend_from_slice(&data),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        String::from_utf8_lossy(&said).trim().parse::<u32>().map_err(|_| format!("the host answered {:?}", String::from_utf8_lossy(&said)))
    };
    tokio::time::timeout(STOP_TIMEOUT, work).await.unwrap_or_else(|_| Err("the host took too long".into()))
}
