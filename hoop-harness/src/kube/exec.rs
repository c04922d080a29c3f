//! `pods/exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`): the command runs as a
//! local process (on a pty through `script` when a tty is asked for), in its container's
//! `workingDir` when the pod names one, its output goes out on
//! channels 1 and 2 and its exit status on channel 3, as the kubelet reports it.

use super::body::{Body, full};
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

pub(crate) fn serve(mut req: Request<Incoming>, query: &[(String, String)], protocols: &[String], workdir: Option<std::path::PathBuf>) -> Response<Body> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if !header("upgrade").eq_ignore_ascii_case("websocket") {
        return super::status(StatusCode::BAD_REQUEST, "BadRequest", "Upgrade request required");
    }
    let offered = header("sec-websocket-protocol");
    let Some(proto) = protocols.iter().find(|p| offered.split(',').any(|o| o.trim() == p.as_str())).cloned() else {
        return super::status(StatusCode::BAD_REQUEST, "BadRequest", "no supported sub-protocol");
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(header("sec-websocket-key").as_bytes());
    let argv: Vec<String> = query.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.clone()).collect();
    // As the API server reads a boolean: the first value, false only when absent, `0` or `false`.
    let flag = |k: &str| query.iter().find(|(n, _)| n == k).is_some_and(|(_, v)| v != "0" && !v.eq_ignore_ascii_case("false"));
    let (tty, stdin) = (flag("tty"), flag("stdin"));
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(up), Role::Server, None).await;
        run(ws, argv, tty, stdin, workdir).await;
    });
    let mut resp = Response::new(full(""));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert("upgrade", hyper::header::HeaderValue::from_static("websocket"));
    h.insert("connection", hyper::header::HeaderValue::from_static("Upgrade"));
    if let Ok(v) = hyper::header::HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    if let Ok(v) = hyper::header::HeaderValue::from_str(&proto) {
        h.insert("sec-websocket-protocol", v);
    }
    resp
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./=:@".contains(&b)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

async fn run<S>(ws: WebSocketStream<S>, argv: Vec<String>, tty: bool, want_stdin: bool, workdir: Option<std::path::PathBuf>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut incoming) = ws.split();
    let mut cmd = if tty {
        let mut c = tokio::process::Command::new("script");
        c.args(["-qfec", &argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" "), "/dev/null"]);
        c
    } else {
        let mut c = tokio::process::Command::new(argv.first().map(String::as_str).unwrap_or("true"));
        c.args(argv.iter().skip(1));
        c
    };
    if let Some(dir) = workdir {
        cmd.current_dir(dir);
    }
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let status = json!({"metadata": {}, "status": "Failure", "message": format!("exec failed: {e}"), "reason": "InternalError"});
            let _ = sink.send(Message::Binary([&[3u8][..], status.to_string().as_bytes()].concat().into())).await;
            close(&mut sink).await;
            return;
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    for (channel, pipe) in [(1u8, child.stdout.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)), (2, child.stderr.take().map(|p| Box::new(p) as _))] {
        let Some(mut pipe) = pipe else { continue };
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match pipe.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let mut frame = Vec::with_capacity(n + 1);
                        frame.push(channel);
                        frame.extend_from_slice(buf.get(..n).unwrap_or_default());
                        if tx.send(frame).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(tx);
    let mut stdin = child.stdin.take().filter(|_| want_stdin);
    let mut client_gone = false;
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                if sink.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
            msg = incoming.next(), if !client_gone => match msg {
                Some(Ok(Message::Binary(d))) => match d.first() {
                    Some(0) => {
                        if let Some(s) = stdin.as_mut() {
                            let _ = s.write_all(d.get(1..).unwrap_or_default()).await;
                        }
                    }
                    // v5: the client closed a stream; 0 is stdin.
                    Some(255) if d.get(1) == Some(&0) => stdin = None,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    client_gone = true;
                    stdin = None;
                }
                Some(Ok(_)) => {}
            }
        }
    }
    let code = match child.wait().await {
        Ok(s) => s.code().unwrap_or(128),
        Err(_) => 128,
    };
    let status = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure", "message": format!("command terminated with non-zero exit code: exit status {code}"),
               "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
    };
    let _ = sink.send(Message::Binary([&[3u8][..], status.to_string().as_bytes()].concat().into())).await;
    close(&mut sink).await;
}

/// A normal-closure Close frame: kubectl's reader treats a close without a code as an error.
async fn close<S>(sink: &mut futures_util::stream::SplitSink<WebSocketStream<S>, Message>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
    let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
    let _ = sink.close().await;
}
