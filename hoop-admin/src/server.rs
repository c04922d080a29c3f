//! The admin listener: every request authenticated by a hoop token, then routed.

use crate::AUDIT_GROUP;
use hoop_core::approvals::{ApprovalError, BrokerEvent, REVIEW_GROUP};
use hoop_core::auth::Credential;
use hoop_core::gate::Gate;
use hoop_core::identity::Identity;
use hoop_core::record::Body as RecordBody;
use hoop_core::session::SessionId;
use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Largest request body read (a reason, a token request).
const MAX_BODY: usize = 64 * 1024;

fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into()).boxed()
}

fn reply(code: StatusCode, ctype: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = code;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(ctype));
    r
}

fn json_reply(code: StatusCode, v: serde_json::Value) -> Response<Body> {
    reply(code, "application/json", v.to_string())
}

fn error(code: StatusCode, message: &str) -> Response<Body> {
    json_reply(code, json!({ "error": message }))
}

/// The admin API over one gate.
pub struct AdminApi {
    gate: Gate,
    tls: Arc<rustls::ServerConfig>,
    issuer: Option<hoop_core::auth::TokenIssuer>,
}

impl AdminApi {
    /// An admin API for `gate`, serving TLS with `tls`.
    pub fn new(gate: Gate, tls: Arc<rustls::ServerConfig>) -> Self {
        AdminApi { gate, tls, issuer: None }
    }

    /// Also issues tokens (`POST /v1/tokens`) to callers in the `token-issuer` group.
    pub fn with_issuer(mut self, issuer: hoop_core::auth::TokenIssuer) -> Self {
        self.issuer = Some(issuer);
        self
    }

    /// Accepts connections until the listener fails.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls.clone());
        loop {
            let (tcp, peer) = listener.accept().await?;
            let acceptor = acceptor.clone();
            let api = self.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) = tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await else {
                    return tracing::debug!(%peer, "admin TLS handshake failed");
                };
                let svc = hyper::service::service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(api.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), svc).await;
            });
        }
    }

    async fn identity(&self, req: &Request<Incoming>) -> Result<Identity, Response<Body>> {
        let token = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else { return Err(error(StatusCode::UNAUTHORIZED, "a hoop token is required")) };
        self.gate.authenticate(Credential::Token(token)).await.map_err(|e| error(StatusCode::UNAUTHORIZED, &e.to_string()))
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let method = req.method().clone();
        match (&method, parts.as_slice()) {
            (&Method::GET, ["healthz"]) => return reply(StatusCode::OK, "text/plain", "ok\n"),
            (&Method::GET, ["metrics"]) => return reply(StatusCode::OK, "text/plain; version=0.0.4", self.gate.metrics_text()),
            _ => {}
        }
        let who = match self.identity(&req).await {
            Ok(i) => i,
            Err(r) => return r,
        };
        // `Some(refusal)` unless the caller is in `group`.
        let needs = |group: &str| -> Option<Response<Body>> {
            (!who.in_group(group)).then(|| error(StatusCode::FORBIDDEN, &format!("{} is not in group {group:?}", who.subject)))
        };
        match (&method, parts.as_slice()) {
            (&Method::GET, ["v1", "sessions"]) => needs(AUDIT_GROUP).unwrap_or_else(|| self.sessions()),
            (&Method::GET, ["v1", "sessions", id]) => needs(AUDIT_GROUP).unwrap_or_else(|| self.session(id)),
            (&Method::GET, ["v1", "sessions", id, "verify"]) => needs(AUDIT_GROUP).unwrap_or_else(|| self.verify(id)),
            (&Method::GET, ["v1", "sessions", id, "asciicast"]) => needs(AUDIT_GROUP).unwrap_or_else(|| self.asciicast(id)),
            (&Method::POST, ["v1", "sessions", id, "kill"]) => needs(REVIEW_GROUP).unwrap_or_else(|| {
                let id = SessionId(id.to_string());
                if self.gate.kill(&id) {
                    tracing::info!(session = %id, by = %who.subject, "session killed");
                    json_reply(StatusCode::OK, json!({ "killed": id }))
                } else {
                    error(StatusCode::NOT_FOUND, "no live session with that id")
                }
            }),
            (&Method::POST, ["v1", "tokens", jti, "revoke"]) => needs(REVIEW_GROUP).unwrap_or_else(|| {
                let until = hoop_core::auth::now_secs() + hoop_core::auth::token::MAX_TTL_SECS;
                if self.gate.revoke(jti, until) {
                    tracing::info!(%jti, by = %who.subject, "token revoked");
                    json_reply(StatusCode::OK, json!({ "revoked": jti, "until": until }))
                } else {
                    error(StatusCode::INTERNAL_SERVER_ERROR, "the revocation could not be kept (no revocation list, or it could not be written; see the gateway log)")
                }
            }),
            (&Method::POST, ["v1", "tokens"]) => {
                let body = http_body_util::Limited::new(req.into_body(), MAX_BODY).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                self.issue(&who, &body)
            }
            (&Method::GET, ["v1", "approvals"]) => needs(REVIEW_GROUP).unwrap_or_else(|| json_reply(StatusCode::OK, json!(self.gate.approvals().list()))),
            (&Method::GET, ["v1", "approvals", "stream"]) => needs(REVIEW_GROUP).unwrap_or_else(|| self.stream()),
            (&Method::POST, ["v1", "approvals", id, verb @ ("approve" | "deny")]) => {
                let approve = *verb == "approve";
                let (id, verb) = (id.to_string(), verb.to_string());
                let reason = match http_body_util::Limited::new(req.into_body(), MAX_BODY).collect().await {
                    Ok(b) => serde_json::from_slice::<serde_json::Value>(&b.to_bytes())
                        .ok()
                        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_string))
                        .unwrap_or_default(),
                    Err(_) => String::new(),
                };
                self.decide(&who, &id, approve, &reason, &verb)
            }
            _ => error(StatusCode::NOT_FOUND, "no such route"),
        }
    }

    /// Issues a token for `{subject, kind, groups, targets, ttl_secs}`: the caller needs the
    /// token-issuing group and may only grant groups it holds itself.
    fn issue(&self, who: &Identity, body: &[u8]) -> Response<Body> {
        let Some(issuer) = &self.issuer else { return error(StatusCode::NOT_IMPLEMENTED, "this gateway does not issue tokens over its API") };
        let Ok(req) = serde_json::from_slice::<serde_json::Value>(body) else { return error(StatusCode::BAD_REQUEST, "body must be JSON") };
        let strings = |k: &str| -> Vec<String> { req.get(k).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default() };
        let kind = match req.get("kind").and_then(|k| k.as_str()).unwrap_or("agent") {
            "human" => hoop_core::identity::IdentityKind::Human,
            "agent" => hoop_core::identity::IdentityKind::Agent,
            other => return error(StatusCode::BAD_REQUEST, &format!("kind must be agent or human, not {other}")),
        };
        let groups = strings("groups");
        if let Some(g) = groups.iter().find(|g| !who.in_group(g)) {
            return error(StatusCode::FORBIDDEN, &format!("{} may not grant group {g:?}, which it does not hold", who.subject));
        }
        let spec = hoop_core::auth::TokenSpec {
            subject: req.get("subject").and_then(|s| s.as_str()).unwrap_or_default().to_string(),
            kind,
            groups,
            targets: strings("targets"),
            ttl_secs: req.get("ttl_secs").and_then(|t| t.as_i64()).unwrap_or(3600),
        };
        if spec.subject.is_empty() {
            return error(StatusCode::BAD_REQUEST, "subject is required");
        }
        match issuer.issue_for(who, &spec) {
            Ok(token) => {
                tracing::info!(subject = %spec.subject, by = %who.subject, "token issued");
                json_reply(StatusCode::OK, json!({ "token": token }))
            }
            Err(e @ hoop_core::auth::AuthError::Permission(_)) => error(StatusCode::FORBIDDEN, &e.to_string()),
            Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }

    fn decide(&self, who: &Identity, id: &str, approve: bool, reason: &str, verb: &str) -> Response<Body> {
        match self.gate.approvals().decide(id, who, approve, reason) {
            Ok(()) => {
                tracing::info!(ticket = %id, by = %who.subject, %verb, "review decided");
                json_reply(StatusCode::OK, json!({ "ticket": id, "decision": verb }))
            }
            Err(e @ ApprovalError::NoSuchTicket(_)) => error(StatusCode::NOT_FOUND, &e.to_string()),
            Err(e) => error(StatusCode::FORBIDDEN, &e.to_string()),
        }
    }

    fn sessions(&self) -> Response<Body> {
        let rec = self.gate.recorder();
        let live = self.gate.live_sessions();
        let Ok(ids) = rec.list() else { return error(StatusCode::INTERNAL_SERVER_ERROR, "recordings could not be listed") };
        let mut out = Vec::new();
        for id in ids {
            let mut entry = serde_json::Map::new();
            entry.insert("live".into(), json!(live.contains(&id)));
            if let Ok((head, records)) = rec.summary(&id) {
                if let Some(RecordBody::Event(hoop_core::event::Event::SessionStart { session })) = head.as_ref().map(|e| &e.body) {
                    entry.insert("protocol".into(), json!(session.protocol.as_str()));
                    entry.insert("target".into(), json!(session.target.name));
                    entry.insert("subject".into(), json!(session.identity.subject));
                    entry.insert("started_at".into(), json!(session.started_at));
                }
                entry.insert("records".into(), json!(records));
            }
            entry.insert("id".into(), json!(id));
            out.push(serde_json::Value::Object(entry));
        }
        json_reply(StatusCode::OK, json!(out))
    }

    fn session(&self, id: &str) -> Response<Body> {
        match self.gate.recorder().read(&SessionId(id.to_string())) {
            Ok(events) => json_reply(StatusCode::OK, json!(events)),
            Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
        }
    }

    fn verify(&self, id: &str) -> Response<Body> {
        match self.gate.recorder().verify(&SessionId(id.to_string())) {
            Ok(report) => json_reply(StatusCode::OK, json!({ "ok": report.is_ok(), "report": report })),
            Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
        }
    }

    fn asciicast(&self, id: &str) -> Response<Body> {
        match self.gate.recorder().read(&SessionId(id.to_string())) {
            Ok(events) => reply(StatusCode::OK, "application/x-asciicast", hoop_core::record::asciicast::export(&events)),
            Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
        }
    }

    /// Server-sent events: `opened` with the ticket, `closed` with its decision.
    fn stream(&self) -> Response<Body> {
        let mut events = self.gate.approvals().subscribe();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let open = self.gate.approvals().list();
        tokio::spawn(async move {
            for t in open {
                if tx.send(Bytes::from(format!("event: opened\ndata: {}\n\n", json!(t)))).await.is_err() {
                    return;
                }
            }
            loop {
                let msg = match events.recv().await {
                    Ok(BrokerEvent::Opened(t)) => format!("event: opened\ndata: {}\n\n", json!(t)),
                    Ok(BrokerEvent::Closed { id, decision }) => format!("event: closed\ndata: {}\n\n", json!({ "id": id, "decision": decision })),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                if tx.send(Bytes::from(msg)).await.is_err() {
                    return;
                }
            }
        });
        let frames = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))));
        let mut r = Response::new(http_body_util::StreamBody::new(frames).boxed());
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/event-stream"));
        r.headers_mut().insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-cache"));
        r
    }
}

