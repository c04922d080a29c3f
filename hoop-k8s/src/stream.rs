//! Responses that last: watch events masked one by one as they arrive, and text (pod logs,
//! `logs -f`) through the stream masker, never holding a whole body.

use crate::front::Ongoing;
use hoop_core::mask::{Masker, StreamStyle};
use hoop_core::usage::ResultSoFar;
use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::body::{Bytes, Incoming};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Watch events (one JSON object per line), each masked as a document with the response's
/// current masker (see `Ongoing::current_masker`); a line longer than
/// `max_event` ends the stream rather than pass unmasked.
pub(crate) fn watch_events(mut body: Incoming, ongoing: Ongoing, max_event: usize) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::new();
        let (mut events, mut sent, mut masked) = (0u64, 0u64, 0u64);
        let mut checkpoint = ResultSoFar::default();
        let mut error = None;
        loop {
            let frame = tokio::select! {
                f = body.frame() => f,
                end = ongoing.session.ended() => {
                    let _ = tx.send(Bytes::from(crate::status::watch_ended(end))).await;
                    error = Some(format!("session ended: {}", end.as_str()));
                    break;
                }
                // The client left: what it read is counted now, not when the API server next
                // sends an event (red-team round 44: 32 watches closed early read 31,680
                // ConfigMaps uncounted, and held every session slot).
                () = tx.closed() => break,
            };
            let Some(frame) = frame else { break };
            let Ok(frame) = frame else {
                error = Some("API server stream failed".into());
                break;
            };
            let Ok(data) = frame.into_data() else { continue };
            // (Asked per frame: Secret values made since the watch began are searched too.)
            let masker = match ongoing.current_masker().await {
                Ok(m) => m,
                Err(msg) => {
                    let _ = tx.send(Bytes::from(crate::status::watch_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", &msg))).await;
                    error = Some(msg);
                    break;
                }
            };
            buf.extend_from_slice(&data);
            let mut out = Vec::new();
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = line.get(..line.len().saturating_sub(1)).unwrap_or_default();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                events += 1;
                match serde_json::from_slice::<serde_json::Value>(line) {
                    Ok(mut ev) => {
                        let count = crate::mask::mask_document(&masker, ongoing.scope(), &mut ev);
                        ongoing.session.count_masked(&count.by_detector());
                        masked += count.values;
                        out.extend_from_slice(ev.to_string().as_bytes());
                    }
                    Err(_) => out.extend_from_slice(&masker.mask_bytes(line)),
                }
                out.push(b'\n');
            }
            if buf.len() > max_event {
                let msg = format!("hoop: a watch event is over limits.max_server_message_bytes ({max_event} bytes); hoop does not hold it to mask it");
                let _ = tx.send(Bytes::from(crate::status::watch_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &msg))).await;
                error = Some(msg);
                break;
            }
            // A checkpoint every so many events, bytes or masked values, met before the events
            // that reach it go (as a list's objects do): a hold stops reading the API server here
            // until the reviewer decides; a refusal ends the watch with an ERROR event instead.
            let so_far = ResultSoFar { rows: events, bytes: sent + out.len() as u64, masked_values: masked, seconds: ongoing.started.elapsed().as_secs(), ..ResultSoFar::default() };
            if so_far.checkpoint_due(&checkpoint) {
                checkpoint = so_far;
                if let Some(refusal) = ongoing.checkpoint_message(so_far).await {
                    let _ = tx.send(Bytes::from(crate::status::watch_error(StatusCode::FORBIDDEN, "Forbidden", &refusal))).await;
                    error = Some(refusal);
                    break;
                }
            }
            if !out.is_empty() {
                sent += out.len() as u64;
                if tx.send(Bytes::from(out)).await.is_err() {
                    break;
                }
            }
            ongoing.session.touch();
        }
        ongoing.finish_masked(StatusCode::OK, events, (sent, masked), error);
    });
    rx
}

/// Text through the stream masker (values split across chunks are still caught); held bytes
/// are flushed after the masker's short hold time so `logs -f` stays live. Checkpoints every
/// MiB: a hold stops reading the API server until the reviewer decides; a refusal ends the text
/// with a line saying why. With `limit`, what was masked is cut after that many bytes (the
/// client's `limitBytes`, which hoop does not pass on: see `classify::take_log_limit`).
pub(crate) fn text(mut body: Incoming, ongoing: Ongoing, masker: Arc<Masker>, limit: Option<u64>) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut m = masker.stream(StreamStyle::Pipe);
        let mut sent = 0u64;
        let mut error = None;
        let mut checkpoint = ResultSoFar::default();
        let mut refused = false;
        loop {
            let flush_at = async {
                match m.deadline() {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            let out = tokio::select! {
                f = body.frame() => match f {
                    None => break,
                    Some(Err(_)) => { error = Some("API server stream failed".to_string()); break }
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(d) => {
                            match ongoing.current_masker().await {
                                Ok(now) => m.set_masker(now),
                                Err(msg) => {
                                    let _ = tx.send(Bytes::from(format!("\n{msg}; the rest was withheld\n"))).await;
                                    (error, refused) = (Some(msg), true);
                                    break;
                                }
                            }
                            let out = m.feed(&d);
                            ongoing.session.count_masked(&m.take_masked_by());
                            out
                        }
                        Err(_) => continue,
                    },
                },
                // A follow whose client left ends (and counts) now (round 44, as for watches).
                () = tx.closed() => break,
                _ = flush_at => {
                    let out = m.flush();
                    ongoing.session.count_masked(&m.take_masked_by());
                    out
                }
                _ = ongoing.session.ended() => { error = Some("session ended".to_string()); break }
            };
            // Met before the text that reaches it goes, as for watch events.
            let so_far = ResultSoFar { bytes: sent + out.len() as u64, masked_values: m.masked_values(), seconds: ongoing.started.elapsed().as_secs(), ..ResultSoFar::default() };
            if so_far.checkpoint_due(&checkpoint) {
                checkpoint = so_far;
                if let Some(refusal) = ongoing.checkpoint_message(so_far).await {
                    let _ = tx.send(Bytes::from(format!("\n{refusal}; the rest was withheld\n"))).await;
                    (error, refused) = (Some(refusal), true);
                    break;
                }
            }
            let (out, full) = cut(out, sent, limit);
            if !out.is_empty() {
                sent += out.len() as u64;
                if tx.send(Bytes::from(out)).await.is_err() {
                    break;
                }
            }
            if full {
                refused = true;
                break;
            }
        }
        if !refused {
            let (rest, _) = cut(m.flush(), sent, limit);
            if !rest.is_empty() {
                sent += rest.len() as u64;
                let _ = tx.send(Bytes::from(rest)).await;
            }
        }
        ongoing.finish_masked(StatusCode::OK, 0, (sent, m.masked_values()), error);
    });
    rx
}

/// `out` cut to what `limit` leaves after `sent` bytes, and whether the limit is reached.
fn cut(mut out: Vec<u8>, sent: u64, limit: Option<u64>) -> (Vec<u8>, bool) {
    let Some(limit) = limit else { return (out, false) };
    let room = usize::try_from(limit.saturating_sub(sent)).unwrap_or(usize::MAX);
    if out.len() >= room {
        out.truncate(room);
        return (out, true);
    }
    (out, false)
}
