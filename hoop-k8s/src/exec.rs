//! `exec` and `attach` over WebSocket (`v5.channel.k8s.io`, falling back to `v4` and older
//! `channel.k8s.io` versions, which frame the same way): relayed frame by frame, stdin, stdout,
//! stderr and resizes recorded as terminal events, stdout and stderr through the stream masker.
//!
//! Each binary frame starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 the exit
//! `Status`, 4 resize (`{"Width":..,"Height":..}`), 255 close of a stream (v5).

use crate::body::{Body, empty};
use crate::front::Ongoing;
use crate::status;
use futures_util::{SinkExt, StreamExt};
use hoop_core::event::{Event, Stream};
use hoop_core::usage::ResultSoFar;
use hoop_core::mask::StreamStyle;
use hoop_core::mask::archive::{ArchiveMasker, OutputMasker};
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// Sub-protocols hoop understands, preferred first; `base64.channel.k8s.io` is not relayed.
const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"];

/// Largest WebSocket message relayed.
const MAX_MESSAGE: usize = 16 << 20;

/// Opens the upstream WebSocket for `req` and, once the API server has switched protocols,
/// switches the client too and relays between them.
pub(crate) async fn relay(
    mut req: Request<()>,
    target: &crate::upstream::K8sTarget,
    api_path: &str,
    query: &str,
    ongoing: Ongoing,
) -> Response<Body> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let offered: Vec<&'static str> = {
        let h = header("sec-websocket-protocol");
        let list: Vec<String> = h.split(',').map(|p| p.trim().to_string()).collect();
        PROTOCOLS.iter().copied().filter(|p| list.iter().any(|o| o == p)).collect()
    };
    if offered.is_empty() {
        let msg = "hoop relays exec over the channel.k8s.io WebSocket sub-protocols only";
        ongoing.finish(StatusCode::BAD_REQUEST, 0, 0, Some(msg.into()));
        return status::failure(StatusCode::BAD_REQUEST, "BadRequest", msg);
    }
    let client_key = header("sec-websocket-key");
    let tty = crate::classify::query_flag(query, "tty");

    let path_and_query = if query.is_empty() { api_path.to_string() } else { format!("{api_path}?{query}") };
    let (up_upgrade, chosen) = match open(target, &path_and_query, req.headers(), &ongoing.session.session().identity, &offered).await {
        Ok(opened) => opened,
        Err(Unopened::Answer(code, body)) => {
            // An error from the API server (pod not found, forbidden): its Status goes back as is.
            let masked = ongoing.masker.mask_bytes(&body).into_owned();
            ongoing.finish(code, 0, masked.len() as u64, Some(String::from_utf8_lossy(&masked).into_owned()));
            let mut r = Response::new(crate::body::full(masked));
            *r.status_mut() = code;
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return r;
        }
        Err(Unopened::Failed(reason, why)) => {
            ongoing.finish(StatusCode::BAD_GATEWAY, 0, 0, Some(why.clone()));
            return status::failure(StatusCode::BAD_GATEWAY, reason, &why);
        }
    };
    let client_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let (Ok(up), Ok(client)) = (up_upgrade.await, client_upgrade.await) else {
            ongoing.finish(StatusCode::BAD_GATEWAY, 0, 0, Some("upgrade failed".into()));
            return;
        };
        let up = upstream_socket(up).await;
        let cfg = Some(WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE)));
        let client = WebSocketStream::from_raw_socket(TokioIo::new(client), Role::Server, cfg).await;
        frames(client, up, ongoing, tty).await;
    });
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(hyper::header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(hyper::header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&tokio_tungstenite::tungstenite::handshake::derive_accept_key(client_key.as_bytes())) {
        h.insert("sec-websocket-accept", v);
    }
    h.insert("sec-websocket-protocol", HeaderValue::from_static(chosen));
    resp
}

/// A fresh `Sec-WebSocket-Key`.
fn websocket_key() -> String {
    use base64::Engine;
    let mut b = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Why the API server did not open an exec or attach WebSocket.
pub(crate) enum Unopened {
    /// It answered with this status and body (a `Status`: pod not found, forbidden).
    Answer(StatusCode, bytes::Bytes),
    /// It could not be reached or broke the handshake: the `Status` reason and why.
    Failed(&'static str, String),
}

/// Asks the API server for the exec or attach WebSocket at `path_and_query` (one of
/// `offered`, preferred first) as `identity`; once it switched protocols, the upgrade to
/// await and the sub-protocol it chose.
pub(crate) async fn open(
    target: &crate::upstream::K8sTarget,
    path_and_query: &str,
    headers: &hyper::HeaderMap,
    identity: &hoop_core::identity::Identity,
    offered: &[&'static str],
) -> Result<(hyper::upgrade::OnUpgrade, &'static str), Unopened> {
    let mut upstream = target.connect().await.map_err(|e| Unopened::Failed("ServiceUnavailable", format!("hoop could not reach the API server: {e}")))?;
    let mut up_req = target.request(&hyper::Method::GET, path_and_query, headers, identity, empty());
    let key = websocket_key();
    let h = up_req.headers_mut();
    h.remove("sec-websocket-protocol");
    h.remove("sec-websocket-key");
    h.remove("sec-websocket-extensions");
    h.insert(hyper::header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(hyper::header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert("sec-websocket-version", HeaderValue::from_static("13"));
    if let Ok(v) = HeaderValue::from_str(&key) {
        h.insert("sec-websocket-key", v);
    }
    if let Ok(v) = HeaderValue::from_str(&offered.join(", ")) {
        h.insert("sec-websocket-protocol", v);
    }
    let mut up_resp = upstream.send_request(up_req).await.map_err(|e| Unopened::Failed("ServiceUnavailable", format!("hoop: API server: {e}")))?;
    if up_resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        use http_body_util::BodyExt;
        let code = up_resp.status();
        let body = http_body_util::Limited::new(up_resp.into_body(), 1 << 20).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Err(Unopened::Answer(code, body));
    }
    let chosen = up_resp.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let Some(chosen) = PROTOCOLS.iter().copied().find(|p| *p == chosen) else {
        return Err(Unopened::Failed("InternalError", format!("the API server chose a WebSocket sub-protocol hoop cannot read ({chosen:?})")));
    };
    let expected = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    if up_resp.headers().get("sec-websocket-accept").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(Unopened::Failed("InternalError", "the API server's WebSocket handshake is invalid (bad Sec-WebSocket-Accept)".into()));
    }
    Ok((hyper::upgrade::on(&mut up_resp), chosen))
}

/// The API server's end of an opened exec WebSocket, framed.
pub(crate) async fn upstream_socket(upgraded: hyper::upgrade::Upgraded) -> WebSocketStream<TokioIo<hyper::upgrade::Upgraded>> {
    let cfg = Some(WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE)));
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, cfg).await
}

/// Relays frames until either side closes; output masked and everything recorded.
async fn frames<C, U>(client: WebSocketStream<C>, up: WebSocketStream<U>, ongoing: Ongoing, tty: bool)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let session = ongoing.session.clone();
    let mut masker = ongoing.masker.clone();
    // Released on a timer only where someone types and reads (red-team round 58: on SSH, a
    // command on a terminal sent a value in two halves around a `sleep`).
    let style = if tty && ongoing.timed_release { StreamStyle::Terminal } else { StreamStyle::Pipe };
    let (mut to_client, mut from_client) = client.split();
    let (mut to_up, mut from_up) = up.split();
    let mut out: [Option<OutputMasker>; 2] = [None, None];
    let mut exit = None;
    let mut sent = 0u64;
    let mut checkpoint = ResultSoFar::default();
    let mut client_open = true;
    // What the client sent while a typed line waited for its review, in order (see below).
    let mut backlog: std::collections::VecDeque<Message> = std::collections::VecDeque::new();
    let mut typed = ongoing.check_stdin.then(|| {
        let mut lines = hoop_core::action::typed::TypedLines::new(tty);
        lines.cwd = hoop_core::action::typed::Cwd::Container(ongoing.secret_mounts.workdir.clone());
        lines
    });
    let mut archive = ongoing.check_archive.then(hoop_core::action::archive::TarGuard::default);
    loop {
        let deadline = out.iter().flatten().filter_map(|m| m.deadline()).min();
        let flush_at = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = async { match backlog.pop_front() { Some(m) => Some(Ok(m)), None => from_client.next().await } }, if client_open => match msg {
                Some(Ok(Message::Binary(data))) if data.first() == Some(&0) && typed.is_some() => {
                    session.touch();
                    let Some(t) = typed.as_mut() else { continue };
                    let ready = t.push(data.get(1..).unwrap_or_default());
                    // The client is watched while a line waits for its review: gone, the wait
                    // is dropped and its ticket with it (red-team round 88: approved minutes
                    // after kubectl was killed, a typed line ran). What it sends meanwhile is
                    // kept, in order, for after.
                    let checked = typed_lines(&mut to_client, &mut to_up, &ongoing, ready, t);
                    tokio::pin!(checked);
                    let done = loop {
                        tokio::select! {
                            r = &mut checked => break r,
                            m = from_client.next(), if backlog.len() < MAX_BACKLOG => match m {
                                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                                Some(Ok(m)) => backlog.push_back(m),
                            },
                        }
                    };
                    match done {
                        Some(n) => sent += n,
                        None => break,
                    }
                }
                Some(Ok(Message::Binary(data))) if data.first() == Some(&0) && archive.is_some() => {
                    session.touch();
                    let Some(guard) = archive.as_mut() else { continue };
                    let mut pass = vec![0u8];
                    let checked = guard.feed(data.get(1..).unwrap_or_default(), &mut pass);
                    if pass.len() > 1 && to_up.send(Message::Binary(pass.into())).await.is_err() {
                        // The command ended without reading all its input: what it printed
                        // and its status are still to come (see below).
                        client_open = false;
                        continue;
                    }
                    if let Err(e) = checked {
                        let msg = format!("hoop: {e} (rule {})", hoop_core::action::archive::RULE);
                        let _ = forward(&mut to_client, &session, 2, format!("{msg}\n").into_bytes()).await;
                        let _ = session.record_later(&Event::Note { message: msg });
                        break;
                    }
                }
                Some(Ok(Message::Binary(data))) => {
                    match data.first() {
                        Some(0) => {
                            let input = data.get(1..).unwrap_or_default();
                            let _ = session.record_later(&Event::terminal(session.elapsed(), Stream::Stdin, &masker.mask_bytes(input)));
                        }
                        Some(4) => {
                            if let Ok(size) = serde_json::from_slice::<serde_json::Value>(data.get(1..).unwrap_or_default()) {
                                let dim = |k: &str| size.get(k).and_then(|v| v.as_u64()).and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
                                let _ = session.record_later(&Event::Resize { t: session.elapsed(), cols: dim("Width"), rows: dim("Height") });
                            }
                        }
                        _ => {}
                    }
                    session.touch();
                    if to_up.send(Message::Binary(data)).await.is_err() {
                        // The command ended without reading all of its input (`head -c 20M
                        // /dev/zero | kubectl exec -i … -- sh -c 'echo done; exit 3'`): its
                        // output and exit status are still on their way from the API server,
                        // and were lost when hoop stopped here (compatibility round 1). The
                        // client's input stops; the server's answer is read to its end.
                        client_open = false;
                        continue;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = to_up.send(Message::Close(frame)).await;
                    client_open = false;
                }
                Some(Ok(Message::Text(t))) => {
                    if to_up.send(Message::Text(t)).await.is_err() {
                        client_open = false;
                        continue;
                    }
                }
                // Pings are answered by each side's own WebSocket layer.
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break,
            },
            msg = from_up.next() => match msg {
                Some(Ok(Message::Binary(data))) => {
                    let channel = data.first().copied();
                    match channel {
                        Some(c @ (1 | 2)) => {
                            let idx = usize::from(c - 1);
                            // A value the other stream's held line began may end here (see
                            // `StreamMasker::mask_across`).
                            let mut chunk = data.get(1..).unwrap_or_default().to_vec();
                            if let Some(Some(o)) = out.get_mut(idx ^ 1) {
                                o.mask_across(&mut chunk);
                                session.count_masked(&o.take_masked_by());
                            }
                            let Some(slot) = out.get_mut(idx) else { continue };
                            // Values of Secrets made since the exec began are searched too.
                            match ongoing.current_masker().await {
                                Ok(now) => masker = now,
                                Err(msg) => {
                                    let _ = forward(&mut to_client, &session, 2, format!("\r\n{msg}; the rest was withheld\r\n").into_bytes()).await;
                                    let _ = session.record_later(&Event::Note { message: msg });
                                    break;
                                }
                            }
                            let m = slot.get_or_insert_with(|| {
                                // An archive on stdout (`kubectl cp` out of the pod) stays one.
                                if idx == 0 && ongoing.archive_out { OutputMasker::Archive(ArchiveMasker::new(masker.clone())) } else { OutputMasker::Stream(masker.stream(style)) }
                            });
                            m.set_masker(masker.clone());
                            let masked = m.feed(&chunk);
                            session.count_masked(&m.take_masked_by());
                            match forward(&mut to_client, &session, c, masked).await {
                                Some(n) => sent += n,
                                None => break,
                            }
                            // A checkpoint every so many bytes, as for SSH output: a hold stops
                            // reading from the container until the reviewer decides (red-team
                            // round 28: 97 MB went out in one exec past every byte budget).
                            let masked_values = out.iter().flatten().map(OutputMasker::masked_values).sum();
                            if let Err(msg) = output_checkpoint(&ongoing, &mut to_client, (sent, masked_values), &mut checkpoint).await {
                                let _ = forward(&mut to_client, &session, 2, format!("\r\n{msg}\r\n").into_bytes()).await;
                                let _ = session.record_later(&Event::Note { message: msg });
                                break;
                            }
                        }
                        _ => {
                            if channel == Some(3) {
                                // The exit status: output first, so nothing is held behind it.
                                for (i, slot) in out.iter_mut().enumerate() {
                                    if let Some(m) = slot.as_mut() {
                                        let rest = m.flush();
                                        session.count_masked(&m.take_masked_by());
                                        match forward(&mut to_client, &session, (i + 1) as u8, rest).await {
                                            Some(n) => sent += n,
                                            None => break,
                                        }
                                    }
                                }
                                exit = Some(exit_code(data.get(1..).unwrap_or_default()));
                                let _ = session.record_later(&Event::Note { message: format!("exec status: {}", String::from_utf8_lossy(data.get(1..).unwrap_or_default())) });
                            }
                            if to_client.send(Message::Binary(data)).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    for (i, slot) in out.iter_mut().enumerate() {
                        if let Some(m) = slot.as_mut() {
                            let rest = m.flush();
                            session.count_masked(&m.take_masked_by());
                            let _ = forward(&mut to_client, &session, (i + 1) as u8, rest).await;
                        }
                    }
                    let _ = to_client.send(Message::Close(frame)).await;
                    break;
                }
                Some(Ok(Message::Text(t))) => {
                    let masked = masker.mask_text(t.as_str()).into_owned();
                    if to_client.send(Message::Text(masked.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break,
            },
            _ = flush_at => {
                for (i, slot) in out.iter_mut().enumerate() {
                    if let Some(m) = slot.as_mut() {
                        let rest = m.flush();
                        session.count_masked(&m.take_masked_by());
                        if let Some(n) = forward(&mut to_client, &session, (i + 1) as u8, rest).await {
                            sent += n;
                        }
                    }
                }
            }
            reason = session.ended() => {
                let _ = session.record_later(&Event::Note { message: format!("exec ended by the gateway: {reason:?}") });
                break;
            }
        }
    }
    let _ = to_client.close().await;
    let _ = to_up.close().await;
    // The values masked since the last checkpoint count too, as the bytes do (red-team SSH
    // round 97 found them uncounted there).
    let masked_values = out.iter().flatten().map(OutputMasker::masked_values).sum();
    ongoing.finish_masked(StatusCode::SWITCHING_PROTOCOLS, 0, (sent, masked_values), exit.filter(|c| *c != 0).map(|c| format!("exit code {c}")));
}

/// A checkpoint of the exec's output (`sent` bytes so far), when one is due: usage is counted
/// and rules reading `result` are asked. A hold pauses here (nothing more is read from the
/// container) until the reviewer decides; `Err` with what to tell the client when it must end.
async fn output_checkpoint<S>(
    ongoing: &Ongoing,
    to_client: &mut futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    (sent, masked_values): (u64, u64),
    last: &mut ResultSoFar,
) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let so_far = ResultSoFar { bytes: sent, masked_values, seconds: ongoing.started.elapsed().as_secs(), ..ResultSoFar::default() };
    if !so_far.checkpoint_due(last) {
        return Ok(());
    }
    *last = so_far;
    let session = &ongoing.session;
    session
        .output_checkpoint(ongoing.action_id, so_far, async |note| {
            let _ = forward(to_client, session, 2, note.into_bytes()).await;
        })
        .await
}

/// Most client messages kept while a typed line waits for its review; past it the client is
/// not read until the review ends.
const MAX_BACKLOG: usize = 256;

/// Checks the lines an agent typed into its shell: those allowed go to the container, the
/// others are answered on stdout. The bytes sent to the client, or `None` when a side is gone.
async fn typed_lines<C, U>(
    to_client: &mut futures_util::stream::SplitSink<WebSocketStream<C>, Message>,
    to_up: &mut futures_util::stream::SplitSink<WebSocketStream<U>, Message>,
    ongoing: &Ongoing,
    ready: Vec<hoop_core::action::typed::Typed>,
    lines: &mut hoop_core::action::typed::TypedLines,
) -> Option<u64>
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use hoop_core::action::typed::Typed;
    use hoop_core::gate::Outcome;
    let session = &ongoing.session;
    let mut sent = 0;
    for t in ready {
        let (raw, refusal) = match t {
            Typed::Pass(bytes) => (bytes, None),
            Typed::TooLong(limit) => (Vec::new(), Some(format!("hoop: line longer than {limit} bytes refused"))),
            Typed::Line { line, raw, edited } => {
                let _ = session.record_later(&Event::terminal(session.elapsed(), Stream::Stdin, &session.masker().mask_bytes(&raw)));
                let action = hoop_core::action::Action::exec_in(ongoing.target.as_str(), &line, &lines.cwd);
                let mut action = if lines.terminal { action.on_terminal() } else { action };
                // The files it names that hold copies of Secret values (see `copies.rs`).
                let copies = ongoing.copies_among(&action.exec.paths).await;
                match copies {
                    Ok(c) => action.exec.copies = c,
                    Err(_) => action.exec.copies.clone_from(&action.exec.paths),
                }
                // An edited line is refused even when it looks empty (Ctrl-U then Ctrl-Y).
                if line.trim().is_empty() && !edited {
                    (raw, None)
                } else if let Some(why) = crate::mounts::refusal(&action, &ongoing.secret_mounts) {
                    let _ = session.refuse(action, crate::mounts::RULE, &why);
                    (Vec::new(), Some(format!("hoop: {why} (rule {})", crate::mounts::RULE)))
                } else if edited {
                    let _ = session.refuse(action, "hoop-edited-line", "line editing keys cannot be checked");
                    (Vec::new(), Some("hoop: a line typed with editing keys (tab, arrows, history), or on a terminal with a comment, cannot be checked; type it whole, without the comment".into()))
                } else {
                    let moves = action.clone();
                    match session.check_and_wait(action).await {
                        // A typed line's output is the shell's: it has no result of its own.
                        Ok(Outcome::Allow { action_id }) => {
                            session.result_done(action_id, hoop_core::usage::ResultSoFar::default());
                            lines.cwd.follow(&moves);
                            (raw, None)
                        }
                        Ok(Outcome::Deny { rule, reason, .. }) => (Vec::new(), Some(format!("hoop: {reason} (rule {rule})"))),
                        Err(e) => (Vec::new(), Some(format!("hoop: {e}"))),
                    }
                }
            }
        };
        if let Some(msg) = refusal {
            sent += forward(to_client, session, 1, format!("{msg}\r\n").into_bytes()).await?;
            continue;
        }
        let mut frame = Vec::with_capacity(raw.len() + 1);
        frame.push(0);
        frame.extend_from_slice(&raw);
        to_up.send(Message::Binary(frame.into())).await.ok()?;
    }
    Some(sent)
}

/// Sends masked output on `channel` and records it; the bytes sent, or `None` when the client is gone.
async fn forward<S>(
    to_client: &mut futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    session: &hoop_core::gate::SessionHandle,
    channel: u8,
    data: Vec<u8>,
) -> Option<u64>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if data.is_empty() {
        return Some(0);
    }
    let stream = if channel == 2 { Stream::Stderr } else { Stream::Stdout };
    let _ = session.record_later(&Event::terminal(session.elapsed(), stream, &data));
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(channel);
    frame.extend_from_slice(&data);
    let n = frame.len() as u64;
    to_client.send(Message::Binary(frame.into())).await.ok().map(|_| n)
}

/// The exit code in a channel-3 `Status`: 0 on success, the `ExitCode` cause otherwise.
pub(crate) fn exit_code(status: &[u8]) -> i64 {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(status) else { return -1 };
    if v.get("status").and_then(|s| s.as_str()) == Some("Success") {
        return 0;
    }
    v.pointer("/details/causes")
        .and_then(|c| c.as_array())
        .and_then(|c| c.iter().find(|c| c.get("reason").and_then(|r| r.as_str()) == Some("ExitCode")))
        .and_then(|c| c.get("message").and_then(|m| m.as_str()))
        .and_then(|m| m.parse().ok())
        .unwrap_or(-1)
}
