//! Where an SSH `exec` is checked and a channel relayed: one task per session channel.
//!
//! The server handler answers the client's requests at once and hands them to this task as
//! [`Request`]s; the task checks `exec`, `shell` and `subsystem` with the gate before they
//! reach the host, relays data both ways, masks the host's output, and records the session.

use crate::to_client::ToClient;
use hoop_core::action::Action;
use hoop_core::action::archive::TarGuard;
use hoop_core::action::typed::{Typed, TypedLines};
use hoop_core::event::{Event, Stream};
use hoop_core::gate::{Checked, Outcome, SessionHandle};
use hoop_core::usage::ResultSoFar;
use hoop_core::mask::StreamStyle;
use hoop_core::mask::archive::{ArchiveMasker, OutputMasker};
use russh::ChannelId;
use russh::client::Msg as ClientMsg;
use russh::{Channel, ChannelMsg, Pty, Sig};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the client asked of a channel.
#[derive(Debug)]
pub enum Request {
    /// A pseudo-terminal.
    Pty {
        /// `TERM`.
        term: String,
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
        /// Terminal modes.
        modes: Vec<(Pty, u32)>,
    },
    /// An environment variable.
    Env(String, String),
    /// Run a command.
    Exec(String),
    /// An interactive shell.
    Shell,
    /// A subsystem (`sftp`).
    Subsystem(String),
    /// The terminal was resized.
    WindowChange(u32, u32),
    /// Bytes for the remote side's stdin.
    Data(bytes::Bytes),
    /// A signal for the remote process.
    Signal(Sig),
    /// No more input.
    Eof,
    /// The client closed the channel.
    Close,
}

/// The action an exec command amounts to: the shell's reading of it ([`Action::exec`]),
/// which also makes scp's and rsync's server modes file transfers and interpreters shells.
pub fn exec_action(target: &str, command: &str) -> Action {
    Action::exec(target, command)
}

/// What goes to the host, in order, from a task of its own: writes wait for the host's
/// window while the relay keeps reading the host's output, so neither direction can stall
/// the other.
enum Up {
    Pty { term: String, cols: u32, rows: u32, modes: Vec<(Pty, u32)> },
    Env(String, String),
    WindowChange(u32, u32),
    Exec(Vec<u8>),
    Shell,
    Subsystem(String),
    Data(bytes::Bytes),
    Signal(Sig),
    /// A signal, then word on `.1` once it has gone to the host's connection.
    SignalTold(Sig, tokio::sync::oneshot::Sender<()>),
    Eof,
    Close,
}

/// Most writes queued for the host before the relay stops taking client input.
const UP_BACKLOG: usize = 64;

fn spawn_writer(up: russh::ChannelWriteHalf<ClientMsg>, backlog: Arc<std::sync::atomic::AtomicUsize>) -> mpsc::UnboundedSender<Up> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Up>();
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            let done = match cmd {
                Up::Pty { term, cols, rows, modes } => up.request_pty(false, &term, cols, rows, 0, 0, &modes).await.is_err(),
                Up::Env(k, v) => up.set_env(false, k, v).await.is_err(),
                Up::WindowChange(c, r) => up.window_change(c, r, 0, 0).await.is_err(),
                Up::Exec(c) => up.exec(false, c).await.is_err(),
                Up::Shell => up.request_shell(false).await.is_err(),
                Up::Subsystem(n) => up.request_subsystem(false, n).await.is_err(),
                Up::Data(d) => up.data(&d[..]).await.is_err(),
                Up::Signal(s) => up.signal(s).await.is_err(),
                Up::SignalTold(s, told) => {
                    let failed = up.signal(s).await.is_err();
                    let _ = told.send(());
                    failed
                }
                Up::Eof => up.eof().await.is_err(),
                Up::Close => {
                    let _ = up.close().await;
                    true
                }
            };
            backlog.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            if done {
                break;
            }
        }
    });
    tx
}

/// How a channel's bytes are treated.
enum Mode {
    /// Commands and shells: output masked and recorded.
    Terminal,
    /// `scp -O`: file contents pass untouched and are not recorded (policy governs transfers).
    Raw,
    /// `scp -t`, a legacy scp upload: each file or directory its stream names is checked and
    /// recorded before the sink sees it; contents pass untouched.
    ScpSink(Box<crate::scp::Sink>),
    /// The sftp subsystem: requests parsed and checked by path; contents untouched.
    Sftp {
        framer: crate::sftp::Framer,
        boundaries: crate::sftp::Boundaries,
        /// Refusals waiting for a packet boundary in the server's stream.
        pending: Vec<u8>,
        /// The login directory relative paths are read against.
        home: String,
        /// Follows the server's replies: the login directory, the paths of open handles.
        replies: Box<crate::sftp::Replies>,
    },
}

/// Runs one channel until either side closes it.
pub struct ChannelRelay {
    pub(crate) id: ChannelId,
    pub(crate) client: ToClient,
    pub(crate) upstream: Channel<ClientMsg>,
    /// The gateway's connection to the host, for reading what a held command runs.
    pub(crate) host: Arc<russh::client::Handle<crate::upstream::Verifier>>,
    pub(crate) session: Arc<SessionHandle>,
    pub(crate) target: String,
    /// The host user's home directory, as guessed from its name until the server says.
    pub(crate) home: String,
}

impl ChannelRelay {
    /// Relays until the channel closes.
    pub async fn run(self, mut requests: mpsc::Receiver<Request>) {
        let ChannelRelay { id, client, upstream, host, session, target, home } = self;
        let (mut upstream, up_write) = upstream.split();
        let backlog = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let up_tx = spawn_writer(up_write, backlog.clone());
        let up = |cmd: Up| {
            // Nothing starts on the host once the session ended: a start let through just
            // before a kill (its script read again meanwhile, or its check slow on a loaded
            // gateway) could reach the host after the kill's stop had looked for what to end.
            if matches!(cmd, Up::Exec(_) | Up::Shell | Up::Subsystem(_)) && session.end_reason().is_some() {
                return false;
            }
            backlog.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            up_tx.send(cmd).is_ok()
        };
        let masker = session.masker();
        let mut style = StreamStyle::Pipe;
        let mut out: Option<OutputMasker> = None;
        let mut err: Option<OutputMasker> = None;
        // The command prints an archive (`tar cf - dir`): its stdout masked member by member,
        // so that it stays one.
        let mut archive_out = false;
        let mut interactive = false;
        let mut started = false;
        let mut mode = Mode::Terminal;
        let mut eof_held = false;
        // The client's end of input, held while a legacy upload's bytes wait for the host's
        // answers (sent before them, the host's scp would stop reading).
        let mut client_eof_held = false;
        let agent = session.session().identity.kind == hoop_core::identity::IdentityKind::Agent;
        // An agent's shell: each typed line is checked before the host sees it.
        let mut typed: Option<TypedLines> = None;
        // An agent's approved extractor: its input read as the archive it is (no links made).
        let mut archive: Option<TarGuard> = None;
        // The command or shell running (its action id and start) and the output bytes it sent,
        // for its result record.
        let mut running: Option<(u64, std::time::Instant)> = None;
        let mut sent: u64 = 0;
        // What the output had reached at its last checkpoint.
        let mut checkpoint = ResultSoFar::default();
        // The file contents an sftp subsystem sent, and how much of it usage has counted: its
        // requests are actions of their own, so its bytes count without one result to carry them.
        let mut counted: u64 = 0;
        // The command's exit status, once the host sent it: its result is recorded when the
        // channel closes, and output sent after it (a background job's: `(sleep 1; yes) &`)
        // still meets the checkpoints that pause output (red-team SSH round 101: 100 MB went
        // past the byte budget after the exit status).
        let mut exited: Option<String> = None;
        // Its place among the identity's commands streaming output, held while it runs.
        let mut _slot: Option<hoop_core::gate::StreamSlot> = None;
        loop {
            let deadline = [out.as_ref(), err.as_ref()].into_iter().flatten().filter_map(|m| m.deadline()).min();
            let flush_at = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                req = requests.recv(), if backlog.load(std::sync::atomic::Ordering::Relaxed) < UP_BACKLOG => {
                    let Some(req) = req else { break };
                    match req {
                        // A terminal asked for once the command runs is not its terminal.
                        Request::Pty { .. } if started => {}
                        Request::Pty { term, cols, rows, modes } => {
                            style = StreamStyle::Terminal;
                            let _ = session.record_later(&Event::Resize { t: session.elapsed(), cols, rows });
                            // An agent's terminal gets the host's default modes: typed lines are
                            // read with ^C, ^U and DEL as the only special keys, and modes the
                            // client chose (kill `@`, erase `Q`, intr, ISTRIP, IGNCR) would make
                            // the shell run another line than hoop checked (red-team round 72:
                            // with kill set to `@`, `echo '@cat ~/.env | cut …'Q` ran the `cat`).
                            let modes = if agent { Vec::new() } else { modes };
                            up(Up::Pty { term, cols, rows, modes });
                        }
                        Request::Env(k, v) => {
                            // What the host's programs run with is checked and recorded like a
                            // command: LD_PRELOAD or BASH_ENV would run code the recording
                            // never shows.
                            if let Err(msg) = decide(&session, &client, id, Action::env(&target, &k, &v)).await {
                                refuse(&client, id, &msg).await;
                                return;
                            }
                            up(Up::Env(k, v));
                        }
                        Request::WindowChange(cols, rows) => {
                            let _ = session.record_later(&Event::Resize { t: session.elapsed(), cols, rows });
                            up(Up::WindowChange(cols, rows));
                        }
                        Request::Exec(command) | Request::Subsystem(command) if started => {
                            tracing::debug!(%command, "second start request on a channel ignored");
                        }
                        Request::Shell if started => {}
                        Request::Exec(command) => {
                            started = true;
                            let Some(s) = open_stream(&session, &client, id).await else { return };
                            _slot = Some(s);
                            let mut action = exec_action(&target, &command);
                            if style == StreamStyle::Terminal {
                                action = action.on_terminal();
                            }
                            interactive = action.input_is_commands();
                            let extractor = action.input_is_archive();
                            archive_out = action.output_is_archive() && style == StreamStyle::Pipe;
                            // Held output is released on a timer only where someone may type
                            // and read: a command of programs hoop knows is masked as a pipe
                            // is, terminal or not (red-team round 58: `ssh -tt host 'head -c 30
                            // .env; sleep 1; tail -c +31 .env'` sent a password in two halves).
                            if action.known_commands_only() {
                                style = StreamStyle::Pipe;
                            }
                            if action.kind == hoop_core::action::ActionKind::FileTransfer {
                                let t = &action.file_transfer;
                                mode = if t.protocol == "scp" && t.direction == "upload" { Mode::ScpSink(Box::new(crate::scp::Sink::new(&t.path))) } else { Mode::Raw };
                            }
                            // A held command that runs script files: the reviewer is shown them.
                            let commands = action.exec.commands.clone();
                            let scripts = if action.exec.scripts.is_empty() || !session.would_review(&action) {
                                Vec::new()
                            } else {
                                show_scripts(&host, &mut action).await
                            };
                            // Run as read only in the one shape hoop can pin: any other shape
                            // runs the file from disk, which can change while it runs (round 69:
                            // `bash -e x.sh`, `nice sh x.sh`, `sh a.sh; sh b.sh` rewritten once
                            // their first line had come back).
                            let pin = match scripts.as_slice() {
                                [one] => crate::scripts::pinned(&commands, one).map(|line| (one, line)),
                                _ => None,
                            };
                            if !scripts.is_empty() && pin.is_none() {
                                action.unshown.get_or_insert_with(|| hoop_core::action::script::UNPINNABLE.into());
                            }
                            match decide(&session, &client, id, action).await {
                                Ok(action_id) => running = Some((action_id, std::time::Instant::now())),
                                Err(msg) => {
                                    refuse(&client, id, &msg).await;
                                    return;
                                }
                            }
                            // Approved: what runs is what was reviewed.
                            let command = match pin {
                                None => command,
                                Some((script, line)) => match unchanged(&host, &session, script).await {
                                    Ok(()) => line,
                                    Err(msg) => {
                                        refuse(&client, id, &msg).await;
                                        return;
                                    }
                                },
                            };
                            // (A command on a terminal is a shell: held for agents, then its
                            // typed lines checked as the shell text they may become.)
                            if agent && interactive {
                                typed = Some(TypedLines::new(style == StreamStyle::Terminal));
                            }
                            if agent && extractor {
                                archive = Some(TarGuard::default());
                            }
                            up(Up::Exec(command.into_bytes()));
                        }
                        Request::Shell => {
                            started = true;
                            let Some(s) = open_stream(&session, &client, id).await else { return };
                            _slot = Some(s);
                            interactive = true;
                            match decide(&session, &client, id, Action::shell(&target)).await {
                                Ok(action_id) => running = Some((action_id, std::time::Instant::now())),
                                Err(msg) => {
                                    refuse(&client, id, &msg).await;
                                    return;
                                }
                            }
                            if agent {
                                typed = Some(TypedLines::new(style == StreamStyle::Terminal));
                            }
                            up(Up::Shell);
                        }
                        Request::Subsystem(name) if name == "sftp" => {
                            // Checked request by request, with their paths.
                            started = true;
                            let Some(s) = open_stream(&session, &client, id).await else { return };
                            _slot = Some(s);
                            mode = Mode::Sftp {
                                framer: Default::default(),
                                boundaries: Default::default(),
                                pending: Vec::new(),
                                home: home.clone(),
                                replies: Default::default(),
                            };
                            let _ = session.record_later(&Event::Note { message: "sftp session".into() });
                            up(Up::Subsystem(name));
                        }
                        Request::Subsystem(name) => {
                            started = true;
                            let Some(s) = open_stream(&session, &client, id).await else { return };
                            _slot = Some(s);
                            mode = Mode::Raw;
                            let action = Action::file_transfer(&target, "", "", "session", &name);
                            if let Err(msg) = decide(&session, &client, id, action).await {
                                refuse(&client, id, &msg).await;
                                return;
                            }
                            up(Up::Subsystem(name));
                        }
                        Request::Data(data) if matches!(mode, Mode::Sftp { .. }) => {
                            if !sftp_requests(&session, &client, id, &target, &mut mode, &data, &up).await {
                                break;
                            }
                        }
                        Request::Data(data) if matches!(mode, Mode::ScpSink(_)) => {
                            session.touch();
                            let Mode::ScpSink(sink) = &mut mode else { continue };
                            let approved = running.map(|(action_id, _)| action_id).unwrap_or_default();
                            if let Err(msg) = scp_records(&session, &target, approved, sink.push(&data), &up) {
                                return end_upload(&session, &client, id, &up, (running.take(), (sent, masked_of(&out, &err))), &msg).await;
                            }
                        }
                        Request::Data(data) if typed.is_some() => {
                            session.touch();
                            let Some(t) = typed.as_mut() else { continue };
                            let ready = t.push(&data);
                            if !typed_lines(&session, &client, id, &target, ready, t, &up).await {
                                break;
                            }
                        }
                        Request::Data(data) if archive.is_some() => {
                            session.touch();
                            let Some(guard) = archive.as_mut() else { continue };
                            let mut pass = Vec::with_capacity(data.len());
                            let checked = guard.feed(&data, &mut pass);
                            if !pass.is_empty() && !up(Up::Data(pass.into())) {
                                break;
                            }
                            if let Err(e) = checked {
                                let msg = format!("hoop: {e} (rule {})", hoop_core::action::archive::RULE);
                                let _ = session.record_later(&Event::Note { message: msg.clone() });
                                return end_midway(&session, &client, id, &up, (running.take(), (sent, masked_of(&out, &err))), &msg).await;
                            }
                        }
                        Request::Data(data) => {
                            session.touch();
                            // A command's input is recorded as its output is (red-team SSH round
                            // 101: `cat > file` wrote what it was sent with no trace of it); a
                            // transfer's contents are the transfer's, governed by policy.
                            if interactive || matches!(mode, Mode::Terminal) {
                                let _ = session.record_later(&Event::terminal(session.elapsed(), Stream::Stdin, &masker.mask_bytes(&data)));
                            }
                            if !up(Up::Data(data)) {
                                break;
                            }
                        }
                        Request::Signal(sig) => {
                            up(Up::Signal(sig));
                        }
                        Request::Eof if matches!(&mode, Mode::ScpSink(sink) if sink.holding()) => client_eof_held = true,
                        Request::Eof => {
                            up(Up::Eof);
                        }
                        Request::Close => {
                            up(Up::Close);
                            unfinished(&session, &mut running, (sent, masked_of(&out, &err)));
                            // The client closed it: closing again could hit a new channel that
                            // reuses the id.
                            return;
                        }
                    }
                }
                msg = upstream.wait() => {
                    let Some(msg) = msg else { break };
                    match msg {
                        ChannelMsg::Data { data } if !matches!(mode, Mode::Terminal) => {
                            sent += data.len() as u64;
                            if client.data(id, data.clone()).await.is_err() {
                                break;
                            }
                            // File contents read off the host count like output: `scp -O`'s
                            // against its command (checkpoints and all), sftp's every MiB.
                            if matches!(mode, Mode::Raw)
                                && let Err(msg) = output_checkpoint(&session, &client, id, running, (sent, masked_of(&out, &err)), &mut checkpoint).await
                            {
                                return end_midway(&session, &client, id, &up, (running.take(), (sent, masked_of(&out, &err))), &msg).await;
                            }
                            // The host's answers decide how a legacy upload's next bytes are read.
                            if let Mode::ScpSink(sink) = &mut mode {
                                let approved = running.map(|(action_id, _)| action_id).unwrap_or_default();
                                if let Err(msg) = scp_records(&session, &target, approved, sink.answered(&data), &up) {
                                    return end_upload(&session, &client, id, &up, (running.take(), (sent, masked_of(&out, &err))), &msg).await;
                                }
                                if client_eof_held && !sink.holding() {
                                    client_eof_held = false;
                                    up(Up::Eof);
                                }
                            }
                            if matches!(mode, Mode::Sftp { .. }) && sent >= counted + hoop_core::usage::CHECKPOINT_BYTES {
                                session.count_received(sent - counted, 0);
                                counted = sent;
                            }
                            if let Mode::Sftp { boundaries, pending, home, replies, .. } = &mut mode {
                                match replies.server_bytes(&data) {
                                    Ok(Some(h)) => *home = h,
                                    Ok(None) => {}
                                    Err(e) => {
                                        let _ = session.record_later(&Event::Note { message: format!("sftp: {e}; the channel ends") });
                                        break;
                                    }
                                }
                                boundaries.advance(&data);
                                if boundaries.at_boundary() && !pending.is_empty() {
                                    let _ = client.data(id, std::mem::take(pending)).await;
                                }
                            }
                        }
                        ChannelMsg::Data { .. } | ChannelMsg::ExtendedData { .. } => {
                            let (data, ext) = match msg {
                                ChannelMsg::ExtendedData { data, ext } => (data, Some(ext)),
                                ChannelMsg::Data { data } => (data, None),
                                _ => continue,
                            };
                            sent += data.len() as u64;
                            let (stream, other) = if ext.is_some() { (&mut err, &mut out) } else { (&mut out, &mut err) };
                            // A value the other stream's held line began may end here.
                            let mut data = data.to_vec();
                            if let Some(o) = other.as_mut() {
                                o.mask_across(&mut data);
                                session.count_masked(&o.take_masked_by());
                            }
                            let archive = ext.is_none() && archive_out;
                            let m = stream.get_or_insert_with(|| if archive { OutputMasker::Archive(ArchiveMasker::new(masker.clone())) } else { OutputMasker::Stream(masker.stream(style)) });
                            let masked = m.feed(&data);
                            session.count_masked(&m.take_masked_by());
                            if !forward(&client, &session, id, ext, masked).await {
                                break;
                            }
                            // Both streams: stderr is output as much as stdout (red-team round
                            // 30: `seq … >&2` went out whole past the byte budget).
                            if let Err(msg) = output_checkpoint(&session, &client, id, running, (sent, masked_of(&out, &err)), &mut checkpoint).await {
                                flush_all(&client, &session, id, &mut out, &mut err).await;
                                return end_midway(&session, &client, id, &up, (running.take(), (sent, masked_of(&out, &err))), &msg).await;
                            }
                        }
                        // Held output is not released at the exit status: sshd may still send
                        // output after it (what the command wrote just before it ended), and a
                        // line held there may be the first half of a value. EOF or Close
                        // releases it.
                        ChannelMsg::ExitStatus { exit_status } => {
                            exit(&session, running, &mut exited, format!("exit-status {exit_status}"));
                            let _ = client.exit_status_request(id, exit_status).await;
                            if std::mem::take(&mut eof_held) {
                                let _ = client.eof(id).await;
                            }
                        }
                        ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, lang_tag } => {
                            exit(&session, running, &mut exited, format!("exit-signal {signal_name:?}"));
                            let _ = client.exit_signal_request(id, signal_name, core_dumped, error_message, lang_tag).await;
                            if std::mem::take(&mut eof_held) {
                                let _ = client.eof(id).await;
                            }
                        }
                        ChannelMsg::Eof => {
                            // Held until the exit status: OpenSSH closes a channel once EOF has
                            // gone both ways, and an exit status sent after that close is lost
                            // (the command would end with 255). sshd may send EOF first.
                            flush_all(&client, &session, id, &mut out, &mut err).await;
                            eof_held = true;
                        }
                        ChannelMsg::Close => {
                            flush_all(&client, &session, id, &mut out, &mut err).await;
                            if eof_held {
                                let _ = client.eof(id).await;
                            }
                            break;
                        }
                        _ => {}
                    }
                }
                _ = flush_at => {
                    flush_all(&client, &session, id, &mut out, &mut err).await;
                }
                end = session.ended() => {
                    // Killed by an operator, revoked, idle, too long, or the token expired: what
                    // runs on the host is stopped (as far as the host's sshd passes signals on),
                    // the client is told why and the connection ends.
                    if matches!(mode, Mode::Sftp { .. }) {
                        session.count_received(sent - counted, 0);
                    }
                    ended(&session, &mut running, exited.take(), (sent, masked_of(&out, &err)));
                    // The signal goes before the channel closes, and the host's connection is
                    // kept a moment after, so the host gets it: dropped with the client's
                    // connection at once, it raced the signal, and a command with no terminal
                    // ran on (red-team identity round 85: a loop ran 15 s past its revocation).
                    let (told, sent) = tokio::sync::oneshot::channel();
                    up(Up::SignalTold(russh::Sig::KILL, told));
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), sent).await;
                    up(Up::Close);
                    let keep = host.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                        drop(keep);
                    });
                    // (Bounded: a client that stopped reading gives no window for them.)
                    let msg = format!("hoop: session ended: {}", end.as_str());
                    let telling = async {
                        flush_all(&client, &session, id, &mut out, &mut err).await;
                        let _ = client.extended_data(id, 1, format!("\r\n{msg}\r\n").into_bytes()).await;
                    };
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), telling).await;
                    let _ = client.close(id).await;
                    let _ = client.disconnect(russh::Disconnect::ByApplication, msg, String::new()).await;
                    return;
                }
            }
        }
        if matches!(mode, Mode::Sftp { .. }) {
            session.count_received(sent - counted, 0);
        }
        ended(&session, &mut running, exited, (sent, masked_of(&out, &err)));
        // Closed exactly once, here: the refusal paths close it themselves and return.
        let _ = client.close(id).await;
    }
}

/// Checks the lines an agent typed into its shell, forwarding those allowed and telling the
/// client about the others. False when the channel must end.
async fn typed_lines(
    session: &SessionHandle,
    client: &ToClient,
    id: ChannelId,
    target: &str,
    ready: Vec<Typed>,
    lines: &mut TypedLines,
    up: &impl Fn(Up) -> bool,
) -> bool {
    let cwd = &mut lines.cwd;
    for t in ready {
        let raw = match t {
            Typed::Pass(bytes) => bytes,
            Typed::TooLong(limit) => {
                let msg = format!("\r\nhoop: line longer than {limit} bytes refused\r\n");
                forward(client, session, id, None, msg.into_bytes()).await;
                continue;
            }
            Typed::Line { line, raw, edited } => {
                let _ = session.record_later(&Event::terminal(session.elapsed(), Stream::Stdin, &session.masker().mask_bytes(&raw)));
                // An edited line is refused even when it looks empty: Ctrl-U then Ctrl-Y brings
                // back what was erased (red-team round 28).
                if line.trim().is_empty() && !edited {
                    raw
                } else if edited {
                    let _ = session.refuse(Action::exec_in(target, &line, cwd), "hoop-edited-line", "line editing keys cannot be checked");
                    let msg = "\r\nhoop: a line typed with editing keys (tab, arrows, history), or on a terminal with a comment, cannot be checked; type it whole, without the comment\r\n";
                    forward(client, session, id, None, msg.as_bytes().to_vec()).await;
                    continue;
                } else {
                    let action = Action::exec_in(target, &line, cwd);
                    let action = if lines.terminal { action.on_terminal() } else { action };
                    let moves = action.clone();
                    match decide(session, client, id, action).await {
                        // A typed line's output is the shell's: it has no result of its own.
                        Ok(line_id) => {
                            session.result_done(line_id, ResultSoFar::default());
                            cwd.follow(&moves);
                            raw
                        }
                        Err(msg) => {
                            forward(client, session, id, None, format!("\r\n{msg}\r\n").into_bytes()).await;
                            continue;
                        }
                    }
                }
            }
        };
        if !up(Up::Data(raw.into())) {
            return false;
        }
    }
    true
}

/// Frames, checks and forwards sftp requests; refusals are answered to the client. False when
/// the channel must end (malformed stream, upstream gone).
async fn sftp_requests(
    session: &SessionHandle,
    client: &ToClient,
    id: ChannelId,
    target: &str,
    mode: &mut Mode,
    data: &[u8],
    up: &impl Fn(Up) -> bool,
) -> bool {
    let Mode::Sftp { framer, boundaries, pending, home, replies } = mode else { return true };
    framer.push(data);
    loop {
        let packet = match framer.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return true,
            Err(e) => {
                let _ = session.record_later(&Event::Note { message: format!("sftp: {e}") });
                return false;
            }
        };
        // Attributes set through a handle are a setstat of the path it was opened for
        // (red-team round 58: `fsetstat` on a handle approved as a download made the file
        // setuid and world-writable, unchecked and unrecorded).
        // The action that let the handle open: a review it held for is taken to cover the
        // attributes the client then sets through that handle (OpenSSH's scp, over sftp, sets
        // an upload's mode after its data: compatibility round 1 had the agent approve each
        // upload twice). A rule that denies them (a set-ID mode) still denies.
        let mut under = None;
        let request = match crate::sftp::fsetstat(&packet) {
            Some((req_id, handle, set_id)) => match replies.handle_path(&handle) {
                Some((path, opened_as)) => {
                    under = (opened_as != 0).then_some(opened_as);
                    Ok(crate::sftp::setstat(Some(crate::sftp::PathRequest { id: req_id, path: path.to_string(), to: String::new(), operation: "setstat".into(), direction: "modify", unreadable: String::new(), set_id })))
                }
                None => Err((req_id, "hoop: fsetstat of a handle the gateway did not see opened".to_string())),
            },
            None => Ok(crate::sftp::path_request(&packet, home)),
        };
        let opened = match &request {
            Ok(Some(r)) if matches!(r.operation.as_str(), "open" | "opendir") => Some(r.path.clone()),
            _ => None,
        };
        let mut let_through = 0;
        let refusal = match request {
            Err(refused) => Some(refused),
            Ok(None) => None,
            Ok(Some(req)) => {
                let mut paths = vec![req.path.clone()];
                if !req.to.is_empty() {
                    paths.push(req.to.clone());
                }
                let mut refused = None;
                for path in paths {
                    let mut action = Action::file_transfer(target, path, req.direction, &req.operation, "sftp");
                    action.exec.unreadable.clone_from(&req.unreadable);
                    if !req.set_id.is_empty() {
                        action.exec.set_id = vec![req.set_id.clone()];
                    }
                    let decided = match under {
                        Some(approved) => match session.check_under(action, approved) {
                            Ok(Checked::Allow { action_id }) => Ok(action_id),
                            Ok(Checked::Deny { rule, reason, .. }) => Err(format!("hoop: {reason} (rule {rule})")),
                            Ok(Checked::Review { .. }) => Err("hoop: this change of attributes needs a review of its own".to_string()),
                            Err(e) => Err(format!("hoop: {e}")),
                        },
                        None => decide(session, client, id, action).await,
                    };
                    match decided {
                        // Only an open for writing covers what is set through its handle:
                        // one approved as a download does not make the file executable or
                        // writable by all (red-team round 58).
                        Ok(action_id) => let_through = if req.direction == "upload" { action_id } else { 0 },
                        Err(msg) => {
                            refused = Some((req.id, msg));
                            break;
                        }
                    }
                }
                refused
            }
        };
        match refusal {
            None => {
                if let Err(e) = replies.forwarded(&packet, opened.as_deref().map(|p| (p, let_through))) {
                    let _ = session.record_later(&Event::Note { message: format!("sftp: {e}; the channel ends") });
                    return false;
                }
                if !up(Up::Data(packet)) {
                    return false;
                }
            }
            Some((req_id, msg)) => {
                pending.extend_from_slice(&crate::sftp::denied(req_id, &msg));
                if boundaries.at_boundary() {
                    let _ = client.data(id, std::mem::take(pending)).await;
                }
            }
        }
    }
}

/// Sends masked output to the client and records it; false when the client is gone.
async fn forward(client: &ToClient, session: &SessionHandle, id: ChannelId, ext: Option<u32>, data: Vec<u8>) -> bool {
    if data.is_empty() {
        return true;
    }
    session.touch();
    let stream = if ext.is_some() { Stream::Stderr } else { Stream::Stdout };
    let _ = session.record_later(&Event::terminal(session.elapsed(), stream, &data));
    match ext {
        None => client.data(id, data).await.is_ok(),
        Some(code) => client.extended_data(id, code, data).await.is_ok(),
    }
}

async fn flush_all(
    client: &ToClient,
    session: &SessionHandle,
    id: ChannelId,
    out: &mut Option<OutputMasker>,
    err: &mut Option<OutputMasker>,
) {
    if let Some(m) = out.as_mut() {
        let rest = m.flush();
        session.count_masked(&m.take_masked_by());
        forward(client, session, id, None, rest).await;
    }
    if let Some(m) = err.as_mut() {
        let rest = m.flush();
        session.count_masked(&m.take_masked_by());
        forward(client, session, id, Some(1), rest).await;
    }
}

/// Passes on what a legacy scp upload's stream holds, each file or directory it creates
/// checked and recorded as a transfer of its own first, under the upload's approval
/// (`approved`: a rule that would hold it is covered, one that denies it denies); `Err` with
/// the refusal, and nothing after it sent.
fn scp_records(session: &SessionHandle, target: &str, approved: u64, pieces: Vec<crate::scp::Piece>, up: &impl Fn(Up) -> bool) -> Result<(), String> {
    for piece in pieces {
        let bytes = match piece {
            crate::scp::Piece::Pass(bytes) => bytes,
            crate::scp::Piece::Invalid(why) => {
                let _ = session.record_later(&Event::Note { message: why.clone() });
                return Err(format!("hoop: {why}"));
            }
            crate::scp::Piece::Create { path, dir, record } => {
                let action = Action::file_transfer(target, path, "upload", if dir { "mkdir" } else { "write" }, "scp");
                match session.check_under(action, approved) {
                    Ok(Checked::Allow { .. }) => record,
                    Ok(Checked::Deny { rule, reason, .. }) => return Err(format!("hoop: {reason} (rule {rule})")),
                    Ok(Checked::Review { .. }) => return Err("hoop: a file of the upload needs a review of its own".into()),
                    Err(e) => return Err(format!("hoop: {e}")),
                }
            }
        };
        if !up(Up::Data(bytes.into())) {
            return Err("hoop: the host's side of the transfer is gone".into());
        }
    }
    Ok(())
}

/// Ends a legacy scp upload refused midway: scp's fatal error line to the client (the source
/// prints it and stops), the host's scp ended before it reads more, the upload's result
/// recorded with what it sent so far, and the channel closed with the refusal.
async fn end_upload(
    session: &SessionHandle,
    client: &ToClient,
    id: ChannelId,
    up: &impl Fn(Up) -> bool,
    (running, so_far): (Option<(u64, std::time::Instant)>, (u64, u64)),
    msg: &str,
) {
    let _ = client.data(id, format!("\x02{msg}\n").into_bytes()).await;
    end_midway(session, client, id, up, (running, so_far), msg).await;
}

/// Ends a command refused midway: the host's command killed and its channel closed, its
/// result recorded with what it sent so far, and the client told why.
async fn end_midway(
    session: &SessionHandle,
    client: &ToClient,
    id: ChannelId,
    up: &impl Fn(Up) -> bool,
    (running, so_far): (Option<(u64, std::time::Instant)>, (u64, u64)),
    msg: &str,
) {
    up(Up::Signal(russh::Sig::KILL));
    up(Up::Close);
    finished(session, running, "ended midway".into(), so_far);
    refuse(client, id, msg).await;
}

/// Reads the scripts `action` runs for its review and adds them to what the ticket shows; one
/// that cannot be read whole makes the action unshown (refused rather than held).
async fn show_scripts(host: &russh::client::Handle<crate::upstream::Verifier>, action: &mut Action) -> Vec<hoop_core::action::script::Script> {
    let mut reads = Vec::new();
    for path in action.exec.scripts.clone() {
        let read = crate::scripts::read(host, &path).await;
        let failed = read.is_err();
        reads.push((path, read));
        if failed {
            break;
        }
    }
    hoop_core::action::script::show(action, reads)
}

/// After approval: the script read for the review is read again and must not have changed
/// (`Err` with the refusal, recorded); the command then runs the reviewed text itself, so a
/// change after this read does not run either.
async fn unchanged(host: &russh::client::Handle<crate::upstream::Verifier>, session: &SessionHandle, reviewed: &hoop_core::action::script::Script) -> Result<(), String> {
    let now = crate::scripts::read(host, &reviewed.path).await;
    let Some(message) = hoop_core::action::script::changed(reviewed, &now) else { return Ok(()) };
    let _ = session.record(&Event::Note { message: message.clone() });
    Err(format!("hoop: {message}"))
}

/// Checks an action; on review tells the client on stderr and waits. `Err` is the refusal text.
/// The action's id once let through, or the refusal to show.
async fn decide(session: &SessionHandle, client: &ToClient, id: ChannelId, action: Action) -> Result<u64, String> {
    match session.check(action) {
        Ok(Checked::Allow { action_id }) => Ok(action_id),
        Ok(Checked::Deny { rule, reason, .. }) => Err(format!("hoop: {reason} (rule {rule})")),
        Ok(Checked::Review { action_id, pending }) => {
            let t = pending.ticket();
            // What hoop could not read, when that is why: the agent learns the spelling that
            // would not need a reviewer (`curl -q`, SSH red-team round 104).
            let why = match t.action.exec.interpreter.as_str() {
                "" => String::new(),
                w => format!(" ({w})"),
            };
            let note = format!(
                "hoop: this command needs approval (rule {}){why}; ticket {} — a reviewer approves it with `hoop approvals approve {}`; waiting\r\n",
                t.rule, t.id, t.id
            );
            // Recorded with the output: the replay shows what the client saw.
            forward(client, session, id, Some(1), note.into_bytes()).await;
            match session.wait_review(action_id, pending).await {
                Ok(Outcome::Allow { action_id }) => Ok(action_id),
                Ok(Outcome::Deny { rule, reason, .. }) => Err(format!("hoop: {reason} (rule {rule})")),
                Err(e) => Err(format!("hoop: {e}")),
            }
        }
        Err(e) => Err(format!("hoop: {e}")),
    }
}

/// A checkpoint of the running command's output (`sent` bytes so far), when one is due: usage is
/// counted and rules reading `result` are asked. A hold pauses the output here (nothing more is
/// read from the host, whose writes then wait on the SSH window) until the reviewer decides;
/// `Err` with what to tell the client when the command must end.
async fn output_checkpoint(
    session: &SessionHandle,
    client: &ToClient,
    id: ChannelId,
    running: Option<(u64, std::time::Instant)>,
    (sent, masked_values): (u64, u64),
    last: &mut ResultSoFar,
) -> Result<(), String> {
    let Some((action_id, started)) = running else { return Ok(()) };
    let so_far = ResultSoFar { bytes: sent, masked_values, seconds: started.elapsed().as_secs(), ..ResultSoFar::default() };
    if !so_far.checkpoint_due(last) {
        return Ok(());
    }
    *last = so_far;
    session
        .output_checkpoint(action_id, so_far, async |note| {
            forward(client, session, id, Some(1), note.into_bytes()).await;
        })
        .await
}

/// A place for the channel's command among its identity's streams, or `None` once the client
/// was told there is none (the channel is refused).
async fn open_stream(session: &SessionHandle, client: &ToClient, id: ChannelId) -> Option<hoop_core::gate::StreamSlot> {
    match session.open_stream() {
        Ok(slot) => Some(slot),
        Err(e) => {
            refuse(client, id, &format!("hoop: {e}")).await;
            None
        }
    }
}

/// Values masked in a command's output so far, both streams.
fn masked_of(out: &Option<OutputMasker>, err: &Option<OutputMasker>) -> u64 {
    [out, err].into_iter().flatten().map(OutputMasker::masked_values).sum()
}

/// Records how the command or shell `running` ended (`status`), the output bytes it sent and
/// the values masked in them.
fn finished(session: &SessionHandle, running: Option<(u64, std::time::Instant)>, status: String, (bytes, masked_values): (u64, u64)) {
    match running {
        Some((action_id, started)) => {
            let duration_us = started.elapsed().as_micros() as u64;
            session.result_done(action_id, ResultSoFar { bytes, masked_values, ..ResultSoFar::default() });
            let _ = session.record_later(&Event::ActionResult { action_id, status, rows: 0, duration_us, bytes, error: None, columns: Vec::new(), sample: Vec::new() });
        }
        None => {
            let _ = session.record_later(&Event::Note { message: status });
        }
    }
}

/// The channel ends: the command's result is recorded with the exit status the host sent, or
/// as ended before the command did.
fn ended(session: &SessionHandle, running: &mut Option<(u64, std::time::Instant)>, exited: Option<String>, sent: (u64, u64)) {
    match exited {
        Some(status) if running.is_some() => finished(session, running.take(), status, sent),
        _ => unfinished(session, running, sent),
    }
}

/// The host sent the command's exit status (or signal): kept for the result, which is recorded
/// when the channel closes; with no command running, noted now.
fn exit(session: &SessionHandle, running: Option<(u64, std::time::Instant)>, exited: &mut Option<String>, status: String) {
    if running.is_none() {
        let _ = session.record_later(&Event::Note { message: status });
    } else if exited.is_none() {
        *exited = Some(status);
    }
}

/// The channel ends (its client left or closed it, the host went away, the session was ended)
/// while its command still runs: what it sent since its last checkpoint counts all the same,
/// and its result is recorded (red-team SSH round 97: a client that left before the command
/// ended took up to 1 MiB a connection uncounted).
fn unfinished(session: &SessionHandle, running: &mut Option<(u64, std::time::Instant)>, sent: (u64, u64)) {
    if running.is_some() {
        finished(session, running.take(), "the channel ended before the command did".into(), sent);
    }
}

/// Refuses the channel's command: a message on stderr, exit status 1, then EOF and close.
async fn refuse(client: &ToClient, id: ChannelId, msg: &str) {
    let _ = client.extended_data(id, 1, format!("{msg}\r\n").into_bytes()).await;
    let _ = client.exit_status_request(id, 1).await;
    let _ = client.eof(id).await;
    let _ = client.close(id).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoop_core::action::ActionKind;

    #[test]
    fn exec_kinds() {
        assert_eq!(exec_action("h", "ls -la").kind, ActionKind::Exec);
        assert_eq!(exec_action("h", "bash").kind, ActionKind::Shell);
        assert_eq!(exec_action("h", "/bin/sh").kind, ActionKind::Shell);
        let scp = exec_action("h", "scp -t /srv/in.csv");
        assert_eq!(scp.kind, ActionKind::FileTransfer);
        assert_eq!(scp.file_transfer.direction, "upload");
        assert_eq!(scp.file_transfer.path, "/srv/in.csv");
    }
}
