//! Stopping what a session's commands run on the host when the session ends (revoked, killed,
//! expired), through a channel of the gateway's own on the same connection, opened with it and
//! kept idle until then ([`Reserve`]).
//!
//! The SSH `signal` request is not enough: OpenSSH's sshd refuses it ("session signalling
//! requires privilege separation") for a root login, and a command with no terminal does not
//! notice its channel closing, so a revoked agent's loop ran on as root (red-team identity
//! round 86). Every session sshd starts for one connection is a child of that connection's
//! sshd process and leads a Unix session of its own (sshd calls `setsid`), and carries the
//! connection in its environment (`SSH_CONNECTION`), so a shell started on another channel of
//! the same connection finds them, and kills every process of theirs: the command, its
//! children, its background jobs, what left their Unix session. Only what clears its
//! environment and leaves its session escapes.

use crate::upstream::Verifier;
use russh::client::{Handle, Msg};
use russh::{Channel, ChannelMsg};
use std::sync::Arc;
use std::time::Duration;

/// Longest the gateway waits for the host to stop a session's processes.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The command, run on a channel of the gateway's own, that kills what the connection's
/// sessions run, and prints how many processes it killed: every process of the Unix sessions
/// of its siblings (the other sessions its sshd started), and every process whose environment
/// holds this connection's `SSH_CONNECTION` (which sshd sets for each session of it, and which
/// a command keeps when it leaves its Unix session or outlives its channel: red-team SSH round
/// 83's `cmd &` after its channel returned, `setsid`, `nohup` and double forks). Its own Unix
/// session (what it starts) is spared.
///
/// `exec sh` replaces the login shell (whatever it is: zsh would not split the fields below)
/// and keeps its process, so `$PPID` is sshd's; it reads each process's parent and Unix session
/// from one `ps` where procps is there (a scan of `/proc` in `sh` took about 1 s of the host's
/// CPU with 1,200 processes), else from the `PPid:` and `NSsid:` lines of `/proc/PID/status`
/// (Linux ≥ 4.1), where a process's name is escaped (in `/proc/PID/stat` a
/// name holding a line break cut the line: red-team identity round 87's loop named `a\nb`
/// outlived its kill), and finds environments with one `grep -z` over `/proc/*/environ`. Each
/// process found is stopped (`SIGSTOP`) as the search names it, so that it forks no more, then
/// all are killed; passes repeat, up to 30, until three in a row find nothing once anything was
/// found (a session that left nothing running costs one pass) (red-team SSH
/// round 84: a chain of `setsid -f`, each starting the next and leaving within milliseconds,
/// outran three passes). Its own Unix session (the search's `grep`, which carries the same
/// environment) is spared. It stops as soon as its connection's sshd is gone, and lets go
/// (`SIGCONT`) what its last pass stopped: the connection's address and port can then be
/// another connection's, whose processes carry the same `SSH_CONNECTION` (a stop that ran on
/// past its connection killed another test's background job, a session of its own).
/// (No `'` in the text: it is quoted whole.)
const STOP_SIBLINGS: &str = r#"exec sh -c 'me=$$; parent=$PPID; sids=; n=0
info() { ppid=; sid=; while read -r field value more; do case $field in PPid:) ppid=$value;; NSsid:) sid=$value;; esac; done 2>/dev/null < "$1"; }
useps=; ps -p "$me" -o sid= >/dev/null 2>&1 && useps=1
table() {
  if [ -n "$useps" ]; then ps -e -o pid= -o ppid= -o sid= 2>/dev/null
  else for d in /proc/[0-9]*; do info "$d/status"; [ -n "$sid" ] && echo "${d#/proc/} $ppid $sid"; done; fi
}
sids=" $(table | while read -r pid ppid sid; do [ "$ppid" = "$parent" ] && [ "$pid" != "$me" ] && printf "%s " "$pid"; done)"
pass=0; idle=0; enough=1
while [ "$pass" -lt 30 ] && [ "$idle" -lt "$enough" ] && kill -0 "$parent" 2>/dev/null; do
  pass=$((pass+1)); env=" "
  if [ -n "$SSH_CONNECTION" ]; then
    env=" $(grep -l -s -a -z -x -F "SSH_CONNECTION=$SSH_CONNECTION" /proc/[0-9]*/environ 2>/dev/null | while read -r f; do f=${f#/proc/}; f=${f%/environ}; info "/proc/$f/status"; [ -n "$sid" ] && [ "$sid" != "$me" ] && kill -STOP "$f" 2>/dev/null && printf "%s " "$f"; done)"
  fi
  hits=$(table | while read -r pid ppid sid; do
    [ -z "$sid" ] || [ "$sid" = "$me" ] && continue
    case "$sids" in *" $sid "*|*" $pid "*) ;; *) case "$env" in *" $pid "*) ;; *) continue;; esac;; esac
    kill -STOP "$pid" 2>/dev/null && printf "%s " "$pid"
  done)
  if ! kill -0 "$parent" 2>/dev/null; then for pid in $hits $env; do kill -CONT "$pid" 2>/dev/null; done; break; fi
  if [ -z "$hits" ]; then idle=$((idle+1)); continue; fi
  idle=0; enough=3
  for pid in $hits; do kill -KILL "$pid" 2>/dev/null && n=$((n+1)); done
done
echo "$n"'
"#;

/// The channel the gateway keeps idle on a host connection for its stop: opened with the
/// connection, before any of the agent's, so that an agent holding every session the host
/// allows (sshd's `MaxSessions`, 10 by default, fewer on hardened hosts) cannot leave the stop
/// without one (red-team identity round 87: ten channels made sshd refuse it, and a revoked
/// root login's loops ran on). An idle session channel starts nothing on the host.
#[derive(Clone, Default)]
pub(crate) struct Reserve(Arc<tokio::sync::Mutex<Option<Channel<Msg>>>>);

impl Reserve {
    /// Opens the kept channel on `up` (a host that refuses it leaves none: the stop then opens
    /// one when it runs).
    pub(crate) async fn keep(&self, up: &Handle<Verifier>) {
        match up.channel_open_session().await {
            Ok(c) => *self.0.lock().await = Some(c),
            Err(e) => tracing::info!(error = %e, "the host refused the channel kept for stopping sessions"),
        }
    }

    /// The kept channel, once.
    async fn take(&self) -> Option<Channel<Msg>> {
        self.0.lock().await.take()
    }
}

/// Kills, on the host, every process of the other sessions this connection's sshd started,
/// from the kept channel (or a new one); `Ok` holds how many processes were killed, `Err` why
/// the host could not be asked.
pub(crate) async fn stop_sessions(up: &Handle<Verifier>, reserve: &Reserve) -> Result<u32, String> {
    let work = async {
        let mut channel = match reserve.take().await {
            Some(c) => c,
            None => up.channel_open_session().await.map_err(|e| format!("the host refused a channel: {e}"))?,
        };
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
