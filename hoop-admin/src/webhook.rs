//! Tells a chat channel when a ticket opens: a POST with a Slack incoming-webhook body
//! (`{"text": ...}`, which Mattermost and others accept too).

use hoop_core::approvals::{Broker, BrokerEvent, Ticket};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// The message for `ticket`, with the command that approves it.
pub fn message(ticket: &Ticket) -> serde_json::Value {
    let what = ticket.action.summary();
    serde_json::json!({
        "text": format!(
            "hoop: {} asks to run on {} (rule {}): `{}`\nApprove: `hoop approvals approve {}`  Deny: `hoop approvals deny {}`",
            ticket.requester, ticket.action.target, ticket.rule, what, ticket.id, ticket.id
        )
    })
}

/// Posts every newly opened ticket of `broker` to `url` (http or https, trusting `tls`).
pub fn spawn(broker: &Broker, url: String, tls: Arc<rustls::ClientConfig>) {
    let mut events = broker.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(BrokerEvent::Opened(t)) => {
                    if let Err(e) = post(&url, &tls, message(&t)).await {
                        // The URL is a secret (a Slack webhook is its own credential): only its host is logged.
                        tracing::warn!(host = %host_of(&url), error = %e, "approval webhook failed");
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
}

async fn post(url: &str, tls: &Arc<rustls::ClientConfig>, body: serde_json::Value) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{e}"))?;
    let host = uri.host().ok_or("no host")?.trim_matches(['[', ']']).to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| e.to_string())?;
    let req = hyper::Request::post(path)
        .header(hyper::header::HOST, host.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let status = if https {
        let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
        let s = tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp).await.map_err(|e| e.to_string())?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        send.send_request(req).await.map_err(|e| e.to_string())?.status()
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        send.send_request(req).await.map_err(|e| e.to_string())?.status()
    };
    if status.is_success() { Ok(()) } else { Err(format!("HTTP {status}")) }
}

/// The host of `url`, the only part of a webhook URL that may be logged.
pub fn host_of(url: &str) -> String {
    url.parse::<hyper::Uri>().ok().and_then(|u| u.host().map(str::to_string)).unwrap_or_else(|| "(unparsable URL)".into())
}
