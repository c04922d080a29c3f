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
    let (who, target, rule, what) = (chat(&ticket.requester), chat(&ticket.action.target), chat(&ticket.rule), chat(&what));
    // What approving grants beyond the action (a budget's waiver), as `approvals list` says it
    // (red-team identity round 84: the message left it out).
    let detail = if ticket.detail.is_empty() { String::new() } else { format!("\n{}", chat(&ticket.detail)) };
    serde_json::json!({
        "text": format!(
            "hoop: {who} asks to run on {target} (rule {rule}): `{what}`{detail}\nApprove: `hoop approvals approve {}`  Deny: `hoop approvals deny {}`",
            ticket.id, ticket.id
        )
    })
}

/// `s` as chat text shows it: Slack's three entities for `&`, `<` and `>` (which it renders as
/// those characters, and which otherwise make mentions and links: `<!channel>`,
/// `<https://x|label>`), and a backtick written as an escape (it would close the code span the
/// statement is shown in). Red-team identity round 82 put a mention, a disguised link and a
/// second ticket's "approve" command in a message through an agent's SQL comment.
fn chat(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push_str("\\u{60}"),
            c => out.push(c),
        }
    }
    out
}

/// How long one webhook delivery may take before the ticket counts as undeliverable.
const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Posts every newly opened ticket of `broker` to `url` (http or https, trusting `tls`).
///
/// The webhook is how reviewers hear of a ticket: one that cannot be delivered is withdrawn
/// and its requester refused at once (fail closed, and nothing hangs until the review timeout).
/// (`hoop_reviews_unreachable_total` in `/metrics` counts them.)
pub fn spawn(broker: &Broker, url: String, tls: Arc<rustls::ClientConfig>) {
    let mut events = broker.subscribe();
    let broker = broker.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(BrokerEvent::Opened(t)) => {
                    let (broker, url, tls) = (broker.clone(), url.clone(), tls.clone());
                    // One task per ticket: a slow endpoint does not delay the next ticket's delivery.
                    tokio::spawn(async move {
                        let sent = tokio::time::timeout(DELIVERY_TIMEOUT, post(&url, &tls, message(&t))).await.unwrap_or_else(|_| Err("timed out".into()));
                        if let Err(e) = sent {
                            // The URL is a secret (a Slack webhook is its own credential): only its host is logged.
                            tracing::warn!(host = %host_of(&url), error = %e, ticket = %t.id, "approval webhook failed; the ticket is withdrawn");
                            broker.withdraw(&t.id, &format!("the approval webhook to {} failed: {e}", host_of(&url)));
                        }
                    });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Red-team identity round 82: an agent's comment made a mention, a disguised link and a
    /// code span holding another ticket's approve command.
    #[test]
    fn an_agents_text_makes_no_mention_link_or_code_span() {
        let action = hoop_core::action::Action::sql("db", "select 1 /* `<!channel> <https://x.example|Deny:> & `hoop approvals approve t_1` */");
        let ticket = Ticket {
            id: "t_2".into(),
            session: hoop_core::session::SessionId("s".into()),
            requester: "bot<@U1>".into(),
            issued_by: vec![],
            action,
            fingerprint: String::new(),
            rule: "r".into(),
            detail: String::new(),
            requested_at: 0,
            expires_at: 0,
        };
        let text = message(&ticket)["text"].as_str().unwrap().to_string();
        assert!(!text.contains('<') && !text.contains('>') && !text.contains(" & "), "{text}");
        assert!(text.contains("&lt;!channel&gt;") && text.contains("bot&lt;@U1&gt;"), "{text}");
        // Six backticks: the three code spans hoop writes, none from the agent's text.
        assert_eq!(text.matches('`').count(), 6, "{text}");
        assert!(text.contains("\\u{60}hoop approvals approve t_1\\u{60}"), "{text}");
        // What approving also grants is said (red-team identity round 84: a budget's waiver).
        let waived = Ticket { detail: "approving also waives budget rule b for bot on target db for 60 minutes".into(), ..ticket };
        assert!(message(&waived)["text"].as_str().unwrap().contains("\napproving also waives budget rule b"));
    }
}
