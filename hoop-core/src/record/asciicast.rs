//! Export of terminal events as asciicast v2, so existing players replay a session.

use super::{Body, StoredEvent};
use crate::event::{Event, Stream};

/// Renders the terminal events of a recording as an asciicast v2 document.
pub fn export(events: &[StoredEvent]) -> String {
    let (mut width, mut height) = (80u32, 24u32);
    let mut start = 0i64;
    for e in events {
        match &e.body {
            Body::Event(Event::SessionStart { session }) => start = session.started_at,
            Body::Event(Event::Resize { cols, rows, .. }) => {
                width = *cols;
                height = *rows;
                break;
            }
            _ => {}
        }
    }
    let header = serde_json::json!({ "version": 2, "width": width, "height": height, "timestamp": start });
    let mut out = header.to_string();
    out.push('\n');
    for e in events {
        let line = match &e.body {
            Body::Event(ev @ Event::Terminal { t, stream, .. }) => {
                let code = if *stream == Stream::Stdin { "i" } else { "o" };
                let bytes = ev.terminal_bytes().unwrap_or_default();
                serde_json::json!([t, code, String::from_utf8_lossy(&bytes)])
            }
            Body::Event(Event::Resize { t, cols, rows }) => serde_json::json!([t, "r", format!("{cols}x{rows}")]),
            _ => continue,
        };
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}
