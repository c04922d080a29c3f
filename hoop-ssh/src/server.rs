//! The front side: the SSH server clients connect to, one handler per connection.
//!
//! The SSH user names the target (`ssh -p 2222 web-01@gateway`; `agent-1%web-01` also works,
//! the part before `%` is ignored). Callers log in with a public key mapped to an identity in
//! config, or with a hoop token as password.

use crate::channel::{ChannelRelay, Request};
use crate::upstream::{SshTarget, Verifier};
use crate::SshGateway;
use hoop_core::action::Action;
use hoop_core::auth::Credential;
use hoop_core::gate::SessionHandle;
use hoop_core::session::Protocol;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, Pty, Sig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Most channels open at once on one connection: each is an upstream channel with its own
/// windows and buffers. Two fewer than OpenSSH's `MaxSessions` default (10): the gateway keeps
/// one channel of its own on the host connection for stopping what the session runs when it
/// ends (see `stop.rs`; red-team identity round 87: an agent holding ten channels made sshd
/// refuse the stop, and its root loops ran on), and opens one more to read a held script.
pub const MAX_CHANNELS: usize = 8;

/// One client connection.
pub struct Connection {
    pub(crate) gw: Arc<SshGateway>,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) session: Option<Arc<SessionHandle>>,
    pub(crate) target: Option<(String, SshTarget)>,
    /// The gateway's connection to the host, once a channel needed it (shared with the
    /// session watcher, which stops what runs there when the session ends).
    pub(crate) upstream: Arc<std::sync::OnceLock<Arc<russh::client::Handle<Verifier>>>>,
    /// A channel of the gateway's own on that connection, opened with it and kept idle, so that
    /// stopping what the session runs has a slot whatever the host's `MaxSessions` (see
    /// `stop.rs`).
    pub(crate) reserve: crate::stop::Reserve,
    pub(crate) channels: HashMap<ChannelId, mpsc::Sender<Request>>,
    /// Dropped with the connection, which stops the session watcher.
    pub(crate) watching: Option<tokio::sync::oneshot::Sender<()>>,
    /// Why a caller who authenticated was refused its session (a rule denied the connection):
    /// told on the channels it opens, which reach nothing, rather than as a bare "Permission
    /// denied" that says nothing of why.
    pub(crate) refused: Option<String>,
    /// Channels opened on a refused connection (bounded like any connection's).
    pub(crate) refused_channels: usize,
    /// Told when the client has authenticated (the pre-authentication deadline stops).
    pub(crate) authed: Arc<tokio::sync::Notify>,
    /// Taken by whichever comes first, the session watcher (the gate ended the session) or
    /// the connection's end: that one stops what the session runs on the host, records it,
    /// and closes the recording (both at once raced: one sealed it before the other's note).
    pub(crate) watcher_closes: Arc<std::sync::atomic::AtomicBool>,
    /// Set when the connection is dropped: channel relays waiting to write to it stop.
    pub(crate) gone: tokio::sync::watch::Sender<bool>,
    /// Told by the session watcher when the gate ended the session and the connection did not
    /// end when asked: the connection's socket is shut.
    pub(crate) hard_end: Arc<tokio::sync::Notify>,
    /// Set by the session watcher when the gate ended the session: the handler stops waiting
    /// on channel relays.
    pub(crate) ending: Arc<tokio::sync::watch::Sender<bool>>,
}

/// The target named by an SSH user name.
fn target_of(user: &str) -> &str {
    user.rsplit_once('%').map_or(user, |(_, t)| t)
}

impl Connection {
    async fn open(&mut self, user: &str, credential: Credential<'_>) -> Auth {
        let target = target_of(user).to_string();
        let Some(t) = self.gw.targets.get(&target).cloned() else {
            tracing::info!(%target, "ssh login for an unknown target");
            return Auth::reject();
        };
        // A login held for review is refused at once, saying so: nothing reaches an SSH client
        // before it has logged in, and it would wait silently until the login deadline.
        match self.gw.gate.open_session_or_refuse_held(credential, Protocol::Ssh, &target, self.peer, Default::default()).await {
            Ok(h) => {
                self.session = Some(Arc::new(h));
                self.target = Some((target, t));
                Auth::Accept
            }
            Err(hoop_core::gate::GateError::Denied { rule, reason }) => {
                tracing::info!(%rule, "ssh session refused by a rule");
                self.refused = Some(format!("hoop: {reason} (rule {rule})\r\n"));
                Auth::Accept
            }
            Err(e) => {
                static LINES: hoop_core::lograte::LogRate = hoop_core::lograte::LogRate::new(120);
                if let Some(left_out) = LINES.admit() {
                    tracing::info!(error = %e, left_out, "ssh login refused");
                }
                Auth::reject()
            }
        }
    }

    /// Tells a refused caller why on `channel`, which then closes.
    fn tell_refused(&self, channel: ChannelId, session: &mut Session) -> Result<bool, russh::Error> {
        let Some(msg) = &self.refused else { return Ok(false) };
        session.channel_success(channel)?;
        session.extended_data(channel, 1, msg.clone().into_bytes())?;
        session.exit_status_request(channel, 1)?;
        session.eof(channel)?;
        session.close(channel)?;
        Ok(true)
    }

    /// Hands `req` to its channel's relay, waiting while the relay's queue is full (which is
    /// how the client's input waits for a host that reads slowly), but not past the session's
    /// end: the connection's loop waits here, and a relay held up by its host would otherwise
    /// keep a killed session's connection from ever taking its disconnect (red-team SSH round
    /// 83).
    async fn send(&self, channel: ChannelId, req: Request) {
        if let Some(tx) = self.channels.get(&channel) {
            let mut ending = self.ending.subscribe();
            tokio::select! {
                _ = tx.send(req) => {}
                _ = ending.wait_for(|e| *e) => {}
            }
        }
    }

    /// Refuses a forwarding request, and records it refused: by the rule that denies it, or,
    /// as this gateway does not relay forwarding at all, by its own rule.
    fn forward_refused(&self, host: &str, port: u32, direction: &str) -> bool {
        if let (Some(s), Some((target, _))) = (&self.session, &self.target) {
            let a = Action::forward(target.as_str(), host, u16::try_from(port).unwrap_or(0), direction);
            let _ = s.refuse_unsupported(a, hoop_core::gate::NO_FORWARDING_RULE, "this gateway does not relay port or agent forwarding");
        }
        false
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    /// Watches the session for the whole connection: a revocation, a kill or an expiry ends
    /// it even when no channel is open (channels also tell their client why).
    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        self.authed.notify_one();
        if let Some(msg) = self.refused.clone() {
            // Long enough to open a channel and read why; then the connection ends.
            let handle = session.handle();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                let _ = handle.disconnect(russh::Disconnect::ByApplication, msg.trim_end().to_string(), String::new()).await;
            });
        }
        if let Some(s) = self.session.clone() {
            let handle = session.handle();
            let (tx, gone) = tokio::sync::oneshot::channel::<()>();
            self.watching = Some(tx);
            let (host, reserve, closes, hard_end, ending) = (self.upstream.clone(), self.reserve.clone(), self.watcher_closes.clone(), self.hard_end.clone(), self.ending.clone());
            tokio::spawn(async move {
                let end = tokio::select! {
                    end = s.ended() => end,
                    _ = gone => return,
                };
                let mine = !closes.swap(true, std::sync::atomic::Ordering::SeqCst);
                let _ = ending.send(true);
                // Channels send the host a KILL for their command and tell their clients the
                // reason themselves (a moment for that); then the client's connection ends,
                // however its loop is held up (a handler waiting on a relay that waits on a host
                // that reads nothing): told to disconnect, then, if it has not ended a moment
                // later, its socket shut.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let telling = handle.disconnect(russh::Disconnect::ByApplication, format!("hoop: session ended: {}", end.as_str()), String::new());
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), telling).await;
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    hard_end.notify_one();
                });
                // sshd does not pass signals on for a root login, and a command with no
                // terminal outlives its channel, so what the connection's commands run is also
                // killed from a channel of the gateway's own (the host connection lives on in
                // `host` meanwhile), and the recording says so, then closes (red-team identity
                // round 86).
                if mine {
                    if let Some(host) = host.get() {
                        stop_on_host(host, &reserve, &s, end.as_str()).await;
                    }
                    s.close(end.as_str());
                }
            });
        }
        Ok(())
    }

    async fn auth_openssh_certificate(&mut self, user: &str, certificate: &russh::keys::Certificate) -> Result<Auth, Self::Error> {
        match self.gw.ca.identity(certificate) {
            Ok(identity) => Ok(self.open(user, Credential::Verified(&identity)).await),
            Err(e) => {
                static LINES: hoop_core::lograte::LogRate = hoop_core::lograte::LogRate::new(120);
                if let Some(left_out) = LINES.admit() {
                    tracing::info!(error = %e, left_out, "ssh certificate refused");
                }
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_publickey(&mut self, user: &str, key: russh::server::VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        let Some(identity) = self.gw.identity_for_key(key.public_key) else { return Ok(Auth::reject()) };
        Ok(self.open(user, Credential::Verified(&identity)).await)
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(self.open(user, Credential::Token(password)).await)
    }

    /// The token asked for in one prompt: clients that only offer keyboard-interactive (or
    /// prefer it, as OpenSSH does by default) can still log in with a token.
    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: "hoop".into(),
                instructions: "Log in with a hoop token.".into(),
                prompts: std::borrow::Cow::Owned(vec![("hoop token: ".into(), false)]),
            });
        };
        let answer = response.next().unwrap_or_default();
        let Ok(token) = std::str::from_utf8(&answer) else { return Ok(Auth::reject()) };
        Ok(self.open(user, Credential::Token(token.trim())).await)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let id = channel.id();
        // The handler gets every request itself; the channel's writing half sends its output
        // within the client's window (see `to_client.rs`).
        let (reading, out) = channel.split();
        drop(reading);
        // A channel whose relay ended is gone, whoever closed it (a close the gateway started
        // is confirmed without a `channel_close` call).
        self.channels.retain(|_, tx| !tx.is_closed());
        if self.refused.is_some() {
            // Opened so that its first request is told why; it reaches nothing upstream.
            self.refused_channels += 1;
            if self.refused_channels > MAX_CHANNELS {
                reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
            } else {
                reply.accept().await;
            }
            return Ok(());
        }
        if self.channels.len() >= MAX_CHANNELS {
            tracing::info!(open = self.channels.len(), "ssh channel refused: too many open on this connection");
            reply.reject(russh::ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        let (Some(handle), Some((target, t))) = (self.session.clone(), self.target.clone()) else { return Ok(()) };
        if handle.still_valid().is_err() {
            return Ok(());
        }
        if self.upstream.get().is_none() {
            match t.connect().await {
                Ok(u) => {
                    // The stop's slot first, before the agent's channels can take them all
                    // (red-team identity round 87 with sshd's default of 10; a host may allow
                    // fewer).
                    self.reserve.keep(&u).await;
                    let _ = self.upstream.set(Arc::new(u));
                }
                Err(e) => {
                    let _ = handle.record(&hoop_core::event::Event::Note { message: format!("upstream: {e}") });
                    tracing::warn!(error = %e, "ssh upstream connection failed");
                    return Ok(());
                }
            }
        }
        let Some(up) = self.upstream.get() else { return Ok(()) };
        let upstream = match up.channel_open_session().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "ssh upstream channel failed");
                return Ok(());
            }
        };
        reply.accept().await;
        let (tx, rx) = mpsc::channel(64);
        self.channels.insert(id, tx);
        let home = if t.user == "root" { "/root".to_string() } else { format!("/home/{}", t.user) };
        let relay = ChannelRelay { id, client: crate::to_client::ToClient::new(session.handle(), out, self.gone.subscribe()), upstream, host: up.clone(), session: handle, target, home };
        tokio::spawn(relay.run(rx));
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        self.send(channel, Request::Pty { term: term.into(), cols: col_width, rows: row_height, modes: modes.to_vec() }).await;
        Ok(())
    }

    async fn env_request(&mut self, channel: ChannelId, name: &str, value: &str, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        self.send(channel, Request::Env(name.into(), value.into())).await;
        Ok(())
    }

    async fn exec_request(&mut self, channel: ChannelId, data: &[u8], session: &mut Session) -> Result<(), Self::Error> {
        if self.tell_refused(channel, session)? {
            return Ok(());
        }
        session.channel_success(channel)?;
        self.send(channel, Request::Exec(String::from_utf8_lossy(data).into_owned())).await;
        Ok(())
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        if self.tell_refused(channel, session)? {
            return Ok(());
        }
        session.channel_success(channel)?;
        self.send(channel, Request::Shell).await;
        Ok(())
    }

    async fn subsystem_request(&mut self, channel: ChannelId, name: &str, session: &mut Session) -> Result<(), Self::Error> {
        if self.tell_refused(channel, session)? {
            return Ok(());
        }
        session.channel_success(channel)?;
        self.send(channel, Request::Subsystem(name.into())).await;
        Ok(())
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.send(channel, Request::WindowChange(col_width, row_height)).await;
        Ok(())
    }

    async fn data(&mut self, channel: ChannelId, data: &[u8], _session: &mut Session) -> Result<(), Self::Error> {
        self.send(channel, Request::Data(bytes::Bytes::copy_from_slice(data))).await;
        Ok(())
    }

    async fn signal(&mut self, channel: ChannelId, signal: Sig, _session: &mut Session) -> Result<(), Self::Error> {
        self.send(channel, Request::Signal(signal)).await;
        Ok(())
    }

    async fn channel_eof(&mut self, channel: ChannelId, _session: &mut Session) -> Result<(), Self::Error> {
        self.send(channel, Request::Eof).await;
        Ok(())
    }

    async fn channel_close(&mut self, channel: ChannelId, _session: &mut Session) -> Result<(), Self::Error> {
        self.send(channel, Request::Close).await;
        self.channels.remove(&channel);
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        host: &str,
        port: u32,
        _originator_address: &str,
        _originator_port: u32,
        _reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Dropping the reply handle rejects the channel.
        self.forward_refused(host, port, "local");
        Ok(())
    }

    async fn tcpip_forward(&mut self, address: &str, port: &mut u32, _session: &mut Session) -> Result<bool, Self::Error> {
        Ok(self.forward_refused(address, *port, "remote"))
    }

    async fn agent_request(&mut self, _channel: ChannelId, _session: &mut Session) -> Result<bool, Self::Error> {
        Ok(self.forward_refused("", 0, "agent"))
    }
}

/// Kills what the session's commands run on `host` (see `stop.rs`), and records it with why
/// the session ended (when anything was left running, or the host could not be asked).
async fn stop_on_host(host: &russh::client::Handle<Verifier>, reserve: &crate::stop::Reserve, s: &SessionHandle, why: &str) {
    let message = match crate::stop::stop_sessions(host, reserve).await {
        Ok(0) => return,
        Ok(n) => format!("session ended ({why}): {n} processes of its commands stopped on the host"),
        Err(e) => {
            tracing::warn!(session = %s.session().id, error = %e, "the ended session's commands could not be stopped on the host beyond the KILL signal");
            format!("session ended ({why}): its commands could not be stopped on the host beyond the KILL signal: {e}")
        }
    };
    let _ = s.record_later(&hoop_core::event::Event::Note { message });
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.gone.send(true);
        let Some(s) = self.session.clone() else { return };
        if self.watcher_closes.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let why = s.end_reason().map_or("connection closed", |r| r.as_str());
        // What the session's commands run ends with it, however it ended: a command with no
        // terminal outlives its channel, and ran on unrecorded after its client left (red-team
        // SSH round 83).
        match (self.upstream.get().cloned(), tokio::runtime::Handle::try_current()) {
            (Some(host), Ok(rt)) => {
                let reserve = self.reserve.clone();
                rt.spawn(async move {
                    stop_on_host(&host, &reserve, &s, why).await;
                    s.close(why);
                });
            }
            _ => s.close("connection closed"),
        }
    }
}

