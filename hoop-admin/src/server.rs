//! The admin listener: every request authenticated by a hoop token, then routed.

use crate::AUDIT_GROUP;
use hoop_core::approvals::{ApprovalError, BrokerEvent, REVIEW_GROUP};
use hoop_core::auth::{Clients, Credential};
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
use std::net::SocketAddr;
use std::sync::Arc;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Credentials one subject may be issued in a minute unless configured (`limits.issued_per_minute`).
pub const DEFAULT_ISSUED_PER_MINUTE: u32 = 600;

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

/// The group whose members may read `/metrics` (so may `audit`).
pub const METRICS_GROUP: &str = "metrics";

/// The bearer credential of a request.
fn bearer(req: &Request<Incoming>) -> Option<&str> {
    req.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// How long a request body may take to arrive: a body sent a byte at a time must not hold a
/// connection (and a slot of the admin listener) for ever.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The request body, at most [`MAX_BODY`] bytes within [`BODY_TIMEOUT`]; None otherwise.
async fn read_body(req: Request<Incoming>) -> Option<Bytes> {
    let collect = http_body_util::Limited::new(req.into_body(), MAX_BODY).collect();
    match tokio::time::timeout(BODY_TIMEOUT, collect).await {
        Ok(Ok(b)) => Some(b.to_bytes()),
        _ => None,
    }
}

/// The request body as JSON (`null` when empty, too large, too slow or not JSON).
async fn read_json(req: Request<Incoming>) -> serde_json::Value {
    read_body(req).await.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(serde_json::Value::Null)
}

/// A request body read strictly: an object with only the `allowed` keys, each of the right
/// type (`{}` when empty). A field the caller meant to narrow its grant with must never be
/// dropped silently, or the grant would come back wider than asked.
async fn read_strict<T: serde::de::DeserializeOwned>(req: Request<Incoming>, allowed: &[&str]) -> Result<T, Response<Body>> {
    let Some(bytes) = read_body(req).await else {
        return Err(error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large or too slow"));
    };
    let v: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")))?
    };
    let Some(obj) = v.as_object() else { return Err(error(StatusCode::BAD_REQUEST, "body must be a JSON object")) };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(error(StatusCode::BAD_REQUEST, &format!("unknown field {k:?} (allowed: {})", allowed.join(", "))));
    }
    serde_json::from_value(v).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("body: {e}")))
}

/// Who asks for an exchange.
enum Caller {
    /// A registered client credential.
    Client(hoop_core::auth::Client),
    /// An identity from an outside issuer (OIDC).
    Outside(Identity),
}

/// `POST /v1/exchange`: what to narrow the token to.
#[derive(serde::Deserialize, Default)]
struct ExchangeRequest {
    targets: Option<Vec<String>>,
    ttl_secs: Option<i64>,
}

/// `POST /v1/ssh/certificates`.
#[derive(serde::Deserialize)]
struct CertificateRequest {
    public_key: String,
    ttl_secs: Option<i64>,
    targets: Option<Vec<String>>,
}

/// `POST /v1/tokens`.
#[derive(serde::Deserialize)]
struct TokenRequest {
    subject: String,
    #[serde(default)]
    kind: hoop_core::identity::IdentityKind,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    targets: Vec<String>,
    ttl_secs: Option<i64>,
}

/// An authentication refusal as its HTTP answer.
fn auth_refusal(e: &hoop_core::auth::AuthError) -> Response<Body> {
    use hoop_core::auth::AuthError as E;
    match e {
        E::Permission(_) | E::TargetNotAllowed { .. } => error(StatusCode::FORBIDDEN, &e.to_string()),
        E::Expired | E::Revoked => error(StatusCode::UNAUTHORIZED, &e.to_string()),
        _ => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// Issues SSH user certificates for the admin API (`POST /v1/ssh/certificates`).
pub trait SshCertifier: Send + Sync + 'static {
    /// A certificate for `public_key` (an OpenSSH public key line) carrying `who`, valid for
    /// `ttl_secs`; returns the certificate line and its serial.
    fn certify(&self, public_key: &str, who: &Identity, ttl_secs: u64) -> Result<(String, u64), String>;

    /// The SHA-256 fingerprint (`SHA256:…`) of an OpenSSH public key line, if it is one.
    fn fingerprint(&self, public_key: &str) -> Option<String>;
}

/// The admin API over one gate.
pub struct AdminApi {
    gate: Gate,
    tls: Arc<rustls::ServerConfig>,
    issuer: Option<hoop_core::auth::TokenIssuer>,
    clients: Option<Arc<Clients>>,
    certifier: Option<Arc<dyn SshCertifier>>,
    metrics_public: bool,
    /// Credentials issued per subject per minute (see `issuance.rs`).
    issue_rate: crate::issuance::IssueRate,
}

impl AdminApi {
    /// An admin API for `gate`, serving TLS with `tls`.
    pub fn new(gate: Gate, tls: Arc<rustls::ServerConfig>) -> Self {
        AdminApi { gate, tls, issuer: None, clients: None, certifier: None, metrics_public: false, issue_rate: crate::issuance::IssueRate::new(DEFAULT_ISSUED_PER_MINUTE) }
    }

    /// At most `per_minute` tokens, exchanges and SSH certificates issued to (or by) one
    /// subject in a minute (0: no bound; `limits.issued_per_minute`).
    pub fn with_issue_rate(mut self, per_minute: u32) -> Self {
        self.issue_rate = crate::issuance::IssueRate::new(per_minute);
        self
    }

    /// `None` when `subject` may be issued one more credential this minute, else the 429.
    /// Counted to the identity whose budgets `subject` spends (the agent at the root of what
    /// minted it): each subject an issuer mints counted apart multiplied the bound by the
    /// subjects it chose to mint (red-team identity round 87: 1,243 credentials in 5 s through
    /// 20 minted issuers).
    fn over_issue_rate(&self, subject: &str, budget: &str) -> Option<Response<Body>> {
        let refused = self.issue_rate.take(budget, hoop_core::auth::now_secs().max(0) as u64).err()?;
        if refused.first {
            tracing::warn!(subject = %hoop_core::display::escaped(subject), budget = %hoop_core::display::escaped(budget), "credential issuance past limits.issued_per_minute: refused until the next minute");
        }
        let mut resp = error(StatusCode::TOO_MANY_REQUESTS, &refused.message);
        resp.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from(refused.retry_after));
        Some(resp)
    }

    /// Also issues tokens (`POST /v1/tokens`) within the caller's grant, and exchanges
    /// client credentials and OIDC tokens for tokens (`POST /v1/exchange`).
    pub fn with_issuer(mut self, issuer: hoop_core::auth::TokenIssuer) -> Self {
        self.issuer = Some(issuer);
        self
    }

    /// Registers and exchanges client credentials kept in `clients` (`/v1/clients`).
    pub fn with_clients(mut self, clients: Arc<Clients>) -> Self {
        self.clients = Some(clients);
        self
    }

    /// Issues SSH certificates to token holders (`POST /v1/ssh/certificates`).
    pub fn with_certifier(mut self, certifier: Arc<dyn SshCertifier>) -> Self {
        self.certifier = Some(certifier);
        self
    }

    /// Serves `/metrics` without a token (`admin.metrics_public`).
    pub fn metrics_public(mut self, public: bool) -> Self {
        self.metrics_public = public;
        self
    }

    /// Accepts connections until the listener fails.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls.clone());
        loop {
            let (tcp, peer) = listener.accept().await?;
            let Ok(admitted) = self.gate.admission().admit(hoop_core::admission::Listener::Admin) else { continue };
            let acceptor = acceptor.clone();
            let api = self.clone();
            let limits = self.gate.admission().limits();
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + limits.preauth_timeout;
                let tls = match admitted.before_auth(deadline, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(_)) => return tracing::debug!(%peer, "admin TLS handshake failed"),
                    Err(_) => return,
                };
                let svc = hyper::service::service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(api.handle(req, peer).await) }
                });
                let serve = async {
                    let _ = hoop_core::http::server_builder(&limits).serve_connection(TokioIo::new(tls), svc).await;
                };
                hoop_core::admission::serve_http(std::sync::Arc::new(admitted), serve).await;
            });
        }
    }

    async fn identity(&self, req: &Request<Incoming>) -> Result<Identity, Response<Body>> {
        let Some(token) = bearer(req) else { return Err(error(StatusCode::UNAUTHORIZED, "a hoop token is required")) };
        if token.starts_with(hoop_core::auth::clients::PREFIX) {
            return Err(error(StatusCode::UNAUTHORIZED, "a client credential is only good for POST /v1/exchange"));
        }
        let id = self.gate.authenticate(Credential::Token(token)).await.map_err(|e| error(StatusCode::UNAUTHORIZED, &e.to_string()))?;
        hoop_core::admission::authenticated_here();
        Ok(id)
    }

    /// Answers one request; a refusal (400, 401, 403, 409) is logged, so that an agent probing the API
    /// leaves a trace (red-team identity round 81: refused approvals, wider token requests and
    /// forged tokens left none).
    /// The log line names who asked (subject, kind and token, when the token was good), from
    /// where, and why it was refused (red-team identity round 86: an agent's attempts to approve
    /// its own ticket were logged as anonymous lines).
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let mut caller = None;
        let resp = self.route(req, &mut caller).await;
        // (The path cut short: refused requests come without a token, and a 64 KB path each
        // grew the log by megabytes a second; red-team identity round 83.)
        if matches!(resp.status(), StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::CONFLICT) {
            let shown: String = path.chars().take(160).collect();
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let why: String = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(|e| e.chars().take(200).collect()))
                .unwrap_or_default();
            let caller = caller.unwrap_or_else(|| "unauthenticated".into());
            // (At most so many lines a minute: a client sending thousands of refused requests a
            // second, unauthenticated, grew the log by 2 MB/s.)
            self.gate.count_sessionless(hoop_core::metrics::Sessionless::AdminRefused);
            static LINES: hoop_core::lograte::LogRate = hoop_core::lograte::LogRate::new(120);
            if let Some(left_out) = LINES.admit() {
                tracing::warn!(%method, path = %hoop_core::display::escaped(&shown), status = parts.status.as_u16(), caller = %hoop_core::display::escaped(&caller), %peer, reason = %hoop_core::display::escaped(&why), left_out, "admin request refused");
            }
            return Response::from_parts(parts, full(body));
        }
        resp
    }

    /// Answers one request; `caller` is set to who asked once its token is verified.
    async fn route(&self, req: Request<Incoming>, caller: &mut Option<String>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let method = req.method().clone();
        match (&method, parts.as_slice()) {
            (&Method::GET, ["healthz"]) => return reply(StatusCode::OK, "text/plain", "ok\n"),
            (&Method::GET, ["metrics"]) if self.metrics_public => {
                return reply(StatusCode::OK, "text/plain; version=0.0.4", self.gate.metrics_text());
            }
            (&Method::POST, ["v1", "exchange"]) => return self.exchange(req).await,
            _ => {}
        }
        let who = match self.identity(&req).await {
            Ok(i) => i,
            Err(r) => return r,
        };
        *caller = Some(format!("{} ({}, token {})", who.subject, who.kind.as_str(), if who.token_id.is_empty() { "-" } else { who.token_id.as_str() }));
        // `Some(refusal)` unless the caller is in `group`.
        let needs = |group: &str| -> Option<Response<Body>> {
            (!who.in_group(group)).then(|| error(StatusCode::FORBIDDEN, &format!("{} is not in group {group:?}", who.subject)))
        };
        match (&method, parts.as_slice()) {
            (&Method::GET, ["metrics"]) => match needs(METRICS_GROUP).and(needs(AUDIT_GROUP)) {
                Some(refusal) => refusal,
                None => reply(StatusCode::OK, "text/plain; version=0.0.4", self.gate.metrics_text()),
            },
            (&Method::GET, ["v1", "sessions"]) => needs(AUDIT_GROUP).unwrap_or_else(|| self.sessions(&who)),
            (&Method::GET, ["v1", "usage"]) => needs(AUDIT_GROUP).unwrap_or_else(|| self.usage()),
            (&Method::GET, ["v1", "sessions", id]) => needs(AUDIT_GROUP).or_else(|| self.not_theirs(&who, id)).unwrap_or_else(|| self.session(id)),
            (&Method::GET, ["v1", "sessions", id, "verify"]) => needs(AUDIT_GROUP).or_else(|| self.not_theirs(&who, id)).unwrap_or_else(|| self.verify(id)),
            (&Method::GET, ["v1", "sessions", id, "asciicast"]) => needs(AUDIT_GROUP).or_else(|| self.not_theirs(&who, id)).unwrap_or_else(|| self.asciicast(id)),
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
                self.revoke(&who, format!("token:{jti}"), until, "")
            }),
            (&Method::GET, ["v1", "revocations"]) => {
                needs(REVIEW_GROUP).and(needs(AUDIT_GROUP)).unwrap_or_else(|| json_reply(StatusCode::OK, json!(self.gate.revocations())))
            }
            (&Method::POST, ["v1", "revocations"]) => match needs(REVIEW_GROUP) {
                Some(refusal) => refusal,
                None => {
                    let body = read_json(req).await;
                    let id = body.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_string();
                    let reason = body.get("reason").and_then(|v| v.as_str()).unwrap_or_default().to_string();
                    let until = body.get("until").and_then(|v| v.as_i64()).unwrap_or(0);
                    let canonical = hoop_core::auth::revocation::canonical(&id).unwrap_or_default();
                    match (&self.clients, canonical.strip_prefix("client:")) {
                        (Some(c), Some(cid)) if !c.contains(cid) => {
                            error(StatusCode::NOT_FOUND, &format!("no client {cid} is registered (a deleted client is revoked already)"))
                        }
                        _ => self.revoke(&who, id, until, &reason),
                    }
                }
            },
            (&Method::POST, ["v1", "tokens"]) => match read_strict::<TokenRequest>(req, &["subject", "kind", "groups", "targets", "ttl_secs"]).await {
                Ok(body) => self.issue(&who, body),
                Err(r) => r,
            },
            (&Method::GET, ["v1", "clients"]) => match (&self.clients, needs(hoop_core::auth::token::ISSUE_GROUP)) {
                (_, Some(refusal)) => refusal,
                _ if who.kind != hoop_core::identity::IdentityKind::Human => error(StatusCode::FORBIDDEN, "only humans list client credentials"),
                (None, _) => error(StatusCode::NOT_IMPLEMENTED, "this gateway keeps no client credentials"),
                (Some(c), None) => json_reply(StatusCode::OK, json!(c.list())),
            },
            (&Method::POST, ["v1", "clients"]) => {
                let allowed = ["subject", "kind", "groups", "targets", "max_ttl_secs", "issue_subjects"];
                match read_strict::<hoop_core::auth::ClientSpec>(req, &allowed).await {
                    Ok(spec) => self.register(&who, spec),
                    Err(r) => r,
                }
            }
            (&Method::DELETE, ["v1", "clients", id]) => match needs(REVIEW_GROUP).and(needs(hoop_core::auth::token::ISSUE_GROUP)) {
                Some(refusal) => refusal,
                None => self.remove_client(&who, id),
            },
            (&Method::POST, ["v1", "ssh", "certificates"]) => match read_strict::<CertificateRequest>(req, &["public_key", "ttl_secs", "targets"]).await {
                Ok(body) => self.certificate(&who, body).await,
                Err(r) => r,
            },
            // A reviewer sees (and decides, and audits) the targets their credential reaches.
            (&Method::GET, ["v1", "approvals"]) => needs(REVIEW_GROUP).unwrap_or_else(|| {
                let open: Vec<_> = self.gate.approvals().list().into_iter().filter(|t| who.may_reach(&t.action.target)).collect();
                json_reply(StatusCode::OK, json!(open))
            }),
            (&Method::GET, ["v1", "approvals", "stream"]) => needs(REVIEW_GROUP).unwrap_or_else(|| self.stream(&who)),
            (&Method::POST, ["v1", "approvals", id, verb @ ("approve" | "deny")]) => {
                let approve = *verb == "approve";
                let (id, verb) = (id.to_string(), verb.to_string());
                let reason = read_json(req).await.get("reason").and_then(|r| r.as_str()).map(str::to_string).unwrap_or_default();
                self.decide(&who, &id, approve, &reason, &verb)
            }
            _ => error(StatusCode::NOT_FOUND, "no such route"),
        }
    }

    /// Issues a token for `{subject, kind, groups, targets, ttl_secs}` within the caller's
    /// grant (see [`hoop_core::auth::grant`]).
    fn issue(&self, who: &Identity, req: TokenRequest) -> Response<Body> {
        let Some(issuer) = &self.issuer else { return error(StatusCode::NOT_IMPLEMENTED, "this gateway does not issue tokens over its API") };
        if let Some(refusal) = self.over_issue_rate(&who.subject, who.budget_subject()) {
            return refusal;
        }
        let spec = hoop_core::auth::TokenSpec { subject: req.subject, kind: req.kind, groups: req.groups, targets: req.targets, ttl_secs: req.ttl_secs.unwrap_or(3600) };
        match issuer.issue_for(who, &spec) {
            // A token for a revoked subject would be refused at every login: the caller is told
            // (once the grant allowed the request), not handed it (red-team identity round 89).
            Ok(_) if self.gate.is_revoked(&hoop_core::identity::Identity::new(&spec.subject, spec.kind)) => {
                error(StatusCode::FORBIDDEN, &format!("subject {:?} is revoked", spec.subject))
            }
            Ok(token) => {
                tracing::info!(subject = %spec.subject, by = %who.subject, "token issued");
                let expires_at = hoop_core::auth::token::TokenVerifier::expiry_of(&token);
                json_reply(StatusCode::OK, json!({ "token": token, "expires_at": expires_at }))
            }
            Err(e) => auth_refusal(&e),
        }
    }

    /// `POST /v1/exchange`: a client credential, or an OIDC token of a configured issuer, in
    /// the Authorization header, for a short-lived gateway token no wider than it.
    async fn exchange(&self, req: Request<Incoming>) -> Response<Body> {
        let Some(issuer) = &self.issuer else { return error(StatusCode::NOT_IMPLEMENTED, "this gateway does not issue tokens over its API") };
        let Some(presented) = bearer(&req).map(str::to_string) else {
            return error(StatusCode::UNAUTHORIZED, "present a client credential or an OIDC token as Authorization: Bearer");
        };
        // Who asks is known before their body is read: strangers get no time on this listener.
        let caller = match self.exchange_caller(&presented).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let body = match read_strict::<ExchangeRequest>(req, &["targets", "ttl_secs"]).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let (targets, ttl) = (body.targets, body.ttl_secs);
        let now = hoop_core::auth::now_secs();
        let (spec, from, may_issue) = match caller {
            Caller::Client(client) => match client.token_spec(targets.as_deref(), ttl) {
                Ok(spec) => (spec, client.lineage(), client.spec.issue_subjects.clone()),
                Err(e) => return auth_refusal(&e),
            },
            Caller::Outside(id) => {
                let targets = targets.unwrap_or_else(|| id.targets.clone());
                if let Some(t) = targets.iter().find(|t| !id.may_grant(t)) {
                    return error(StatusCode::FORBIDDEN, &format!("{} may not reach target {t:?}", id.subject));
                }
                let left = if id.expires_at > 0 { id.expires_at - now } else { hoop_core::auth::token::MAX_TTL_SECS };
                let ttl = ttl.unwrap_or(3600).min(left).min(hoop_core::auth::token::MAX_TTL_SECS);
                let spec = hoop_core::auth::TokenSpec { subject: id.subject.clone(), kind: id.kind, groups: id.groups.clone(), targets, ttl_secs: ttl };
                (spec, id.credentials, Vec::new())
            }
        };
        let mut holder = Identity::new(&spec.subject, spec.kind);
        holder.credentials.clone_from(&from);
        if let Some(refusal) = self.over_issue_rate(&spec.subject, holder.budget_subject()) {
            return refusal;
        }
        match issuer.issue_with(&spec, &from, &may_issue) {
            Ok(token) => {
                tracing::info!(subject = %spec.subject, via = %from.join(","), "credential exchanged for a token");
                json_reply(StatusCode::OK, json!({ "token": token, "expires_at": now + spec.ttl_secs }))
            }
            Err(e) => auth_refusal(&e),
        }
    }

    /// Who asks for an exchange, from the credential alone (before its body is read): a
    /// registered client that is not revoked, or an outside (OIDC) identity.
    async fn exchange_caller(&self, presented: &str) -> Result<Caller, Response<Body>> {
        if presented.starts_with(hoop_core::auth::clients::PREFIX) {
            let Some(clients) = &self.clients else { return Err(error(StatusCode::NOT_IMPLEMENTED, "this gateway keeps no client credentials")) };
            let client = clients.verify(presented).map_err(|e| {
                static LINES: hoop_core::lograte::LogRate = hoop_core::lograte::LogRate::new(120);
                if let Some(left_out) = LINES.admit() {
                    tracing::info!(error = %e, left_out, "client credential refused");
                }
                error(StatusCode::UNAUTHORIZED, "unknown or wrong client credential")
            })?;
            // The client itself, and its subject, may have been revoked.
            let mut me = Identity::new(&client.spec.subject, client.spec.kind);
            me.credentials = client.lineage();
            self.gate.authenticate(Credential::Verified(&me)).await.map_err(|e| error(StatusCode::UNAUTHORIZED, &e.to_string()))?;
            return Ok(Caller::Client(client));
        }
        let id = self.gate.authenticate(Credential::Token(presented)).await.map_err(|e| error(StatusCode::UNAUTHORIZED, &e.to_string()))?;
        // A gateway token renewing itself would never expire: only outside identities exchange.
        if id.issuer == hoop_core::auth::token::ISSUER {
            return Err(error(StatusCode::FORBIDDEN, "a hoop token cannot be exchanged for another; exchange the credential it came from"));
        }
        Ok(Caller::Outside(id))
    }

    /// `POST /v1/clients`: registers a client credential within the caller's grant; only
    /// humans register (a client is long-lived).
    fn register(&self, who: &Identity, spec: hoop_core::auth::ClientSpec) -> Response<Body> {
        let Some(clients) = &self.clients else { return error(StatusCode::NOT_IMPLEMENTED, "this gateway keeps no client credentials") };
        if who.kind != hoop_core::identity::IdentityKind::Human {
            return error(StatusCode::FORBIDDEN, &format!("{} is an agent; only humans register client credentials", who.subject));
        }
        let mut as_token = hoop_core::auth::TokenSpec {
            subject: spec.subject.clone(),
            kind: spec.kind,
            groups: spec.groups.clone(),
            targets: spec.targets.clone(),
            ttl_secs: spec.max_ttl_secs.clamp(1, hoop_core::auth::token::MAX_TTL_SECS),
        };
        // The lifetime is the client's tokens', not the client's: only the other bounds apply.
        let unbounded = Identity { expires_at: 0, ..who.clone() };
        if let Err(e) = hoop_core::auth::grant::bound(&unbounded, &mut as_token, hoop_core::auth::now_secs()) {
            return auth_refusal(&e);
        }
        if let Some(p) = spec.issue_subjects.iter().find(|p| !hoop_core::auth::grant::may_delegate(who, p)) {
            return error(StatusCode::FORBIDDEN, &format!("{} may not delegate issuing for {p:?}", who.subject));
        }
        match clients.register_by(spec, who) {
            Ok((client, credential)) => {
                tracing::info!(client = %client.id, subject = %client.spec.subject, by = %who.subject, "client registered");
                json_reply(StatusCode::OK, json!({ "client": client, "credential": credential }))
            }
            Err(e @ hoop_core::auth::clients::ClientError::Invalid(_)) => error(StatusCode::BAD_REQUEST, &e.to_string()),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    }

    /// `DELETE /v1/clients/{id}`: the client is removed and revoked, ending its tokens and sessions.
    /// A human only, and of the clients an issuer registered itself unless it reviews (red-team
    /// identity round 81: an issuer agent removed, and so revoked for ever, another agent's
    /// client, ending its sessions). The id is the registered one exactly: revocation reads
    /// ids case-blind, and a revocation of an id nobody holds would be kept for ever.
    fn remove_client(&self, who: &Identity, id: &str) -> Response<Body> {
        let Some(clients) = &self.clients else { return error(StatusCode::NOT_IMPLEMENTED, "this gateway keeps no client credentials") };
        if who.kind != hoop_core::identity::IdentityKind::Human {
            return error(StatusCode::FORBIDDEN, &format!("{} is an agent; only humans remove client credentials", who.subject));
        }
        let Some(client) = clients.get(id) else { return error(StatusCode::NOT_FOUND, "no client with that id") };
        if !who.in_group(REVIEW_GROUP) && client.created_by != who.subject {
            return error(StatusCode::FORBIDDEN, &format!("{} may remove only the clients it registered (the review group removes any)", who.subject));
        }
        let revoked = self.revoke(who, format!("client:{id}"), 0, "client removed");
        if !revoked.status().is_success() {
            return revoked;
        }
        match clients.remove(id) {
            Ok(true) => revoked,
            Ok(false) => error(StatusCode::NOT_FOUND, "no client with that id (removed meanwhile; revoked)"),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    }

    /// `POST /v1/ssh/certificates` `{public_key, ttl_secs?, targets?}`: a certificate for the
    /// caller's own identity, never longer-lived than the caller's token; revoking that token
    /// (or the client it came from) ends sessions on the certificate.
    async fn certificate(&self, who: &Identity, req: CertificateRequest) -> Response<Body> {
        let Some(ca) = &self.certifier else { return error(StatusCode::NOT_IMPLEMENTED, "this gateway issues no SSH certificates") };
        if let Some(refusal) = self.over_issue_rate(&who.subject, who.budget_subject()) {
            return refusal;
        }
        let key = req.public_key.as_str();
        let mut me = who.clone();
        if let Some(asked) = req.targets {
            if let Some(t) = asked.iter().find(|t| !who.may_grant(t)) {
                return error(StatusCode::FORBIDDEN, &format!("{} may not reach target {t:?}", who.subject));
            }
            me.targets = asked;
        }
        let now = hoop_core::auth::now_secs();
        if req.ttl_secs.is_some_and(|t| !(1..=hoop_core::auth::token::MAX_TTL_SECS).contains(&t)) {
            return error(StatusCode::BAD_REQUEST, &format!("ttl_secs must be 1..={}", hoop_core::auth::token::MAX_TTL_SECS));
        }
        let left = if who.expires_at > 0 { who.expires_at - now } else { 3600 };
        let ttl = req.ttl_secs.unwrap_or(3600).min(left);
        if ttl <= 0 {
            return error(StatusCode::UNAUTHORIZED, "token expired");
        }
        // A revoked key is not certified again (it would log in with no certificate either).
        let Some(fingerprint) = ca.fingerprint(key) else { return error(StatusCode::BAD_REQUEST, "public_key is not an OpenSSH public key") };
        let mut holder = Identity::new(&who.subject, who.kind);
        holder.credentials = vec![format!("ssh-key:{fingerprint}")];
        if self.gate.authenticate(Credential::Verified(&holder)).await.is_err() {
            return error(StatusCode::FORBIDDEN, "this key is revoked");
        }
        match ca.certify(key, &me, ttl as u64) {
            Ok((cert, serial)) => {
                tracing::info!(subject = %who.subject, %serial, "ssh certificate issued");
                json_reply(StatusCode::OK, json!({ "certificate": cert, "serial": serial.to_string(), "expires_at": now + ttl }))
            }
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        }
    }

    /// Revokes `id` and ends the sessions standing on it.
    fn revoke(&self, who: &Identity, id: String, until: i64, reason: &str) -> Response<Body> {
        let r = hoop_core::auth::Revocation { id: id.clone(), until, by: who.subject.clone(), at: hoop_core::auth::now_secs(), reason: reason.to_string() };
        match self.gate.revoke(r) {
            Ok((id, ended)) => {
                tracing::info!(%id, by = %who.subject, ended, "revoked");
                json_reply(StatusCode::OK, json!({ "revoked": id, "until": until, "ended_sessions": ended }))
            }
            Err(e @ hoop_core::auth::revocation::RevocationError::Malformed(_)) => error(StatusCode::BAD_REQUEST, &e.to_string()),
            Err(e @ hoop_core::auth::revocation::RevocationError::Shortens(_)) => error(StatusCode::CONFLICT, &e.to_string()),
            Err(e) => {
                tracing::error!(%id, error = %e, "revocation could not be kept");
                error(StatusCode::INTERNAL_SERVER_ERROR, &format!("revoked now and its sessions ended, but not yet written to the list, so only until a restart unless a later attempt writes it: {e}"))
            }
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

    /// A refusal, as if there were no such session, of one whose target `who`'s credential
    /// does not reach (see [`reaches_session`]).
    fn not_theirs(&self, who: &Identity, id: &str) -> Option<Response<Body>> {
        let summary = self.gate.recorder().summary(&SessionId(id.to_string())).ok();
        (!reaches_session(who, summary.as_ref())).then(|| error(StatusCode::NOT_FOUND, &format!("no session {id} on the targets this credential reaches")))
    }

    fn sessions(&self, who: &Identity) -> Response<Body> {
        let rec = self.gate.recorder();
        let live = self.gate.live_sessions();
        let (Ok(mut ids), Ok(missing)) = (rec.list(), rec.missing()) else { return error(StatusCode::INTERNAL_SERVER_ERROR, "recordings could not be listed") };
        ids.extend(missing);
        let mut out = Vec::new();
        for id in ids {
            let mut entry = serde_json::Map::new();
            let summary = rec.summary(&id).ok();
            if !reaches_session(who, summary.as_ref()) {
                continue;
            }
            entry.insert("live".into(), json!(live.contains(&id)));
            if let Some(summary) = summary {
                if let Some(RecordBody::Event(hoop_core::event::Event::SessionStart { session })) = summary.head.as_ref().map(|e| &e.body) {
                    entry.insert("protocol".into(), json!(session.protocol.as_str()));
                    entry.insert("target".into(), json!(session.target.name));
                    entry.insert("subject".into(), json!(session.identity.subject));
                    entry.insert("started_at".into(), json!(session.started_at));
                }
                entry.insert("records".into(), json!(summary.records));
                entry.insert("ending".into(), json!(summary.ending));
            }
            entry.insert("id".into(), json!(id));
            out.push(serde_json::Value::Object(entry));
        }
        json_reply(StatusCode::OK, json!(out))
    }

    /// `GET /v1/usage`: every identity's (and identity on a target's) usage windows.
    fn usage(&self) -> Response<Body> {
        json_reply(StatusCode::OK, json!(self.gate.usage()))
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
    fn stream(&self, who: &Identity) -> Response<Body> {
        let mut events = self.gate.approvals().subscribe();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let who = who.clone();
        let open: Vec<_> = self.gate.approvals().list().into_iter().filter(|t| who.may_reach(&t.action.target)).collect();
        // The tickets this stream showed opened: only theirs are shown closed.
        let mut shown: std::collections::HashSet<String> = open.iter().map(|t| t.id.clone()).collect();
        tokio::spawn(async move {
            for t in open {
                if tx.send(Bytes::from(format!("event: opened\ndata: {}\n\n", json!(t)))).await.is_err() {
                    return;
                }
            }
            loop {
                let msg = match events.recv().await {
                    Ok(BrokerEvent::Opened(t)) if who.may_reach(&t.action.target) => {
                        shown.insert(t.id.clone());
                        format!("event: opened\ndata: {}\n\n", json!(t))
                    }
                    Ok(BrokerEvent::Opened(_)) => continue,
                    Ok(BrokerEvent::Closed { id, decision }) if shown.remove(&id) => format!("event: closed\ndata: {}\n\n", json!({ "id": id, "decision": decision })),
                    Ok(BrokerEvent::Closed { .. }) => continue,
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

/// Whether `who`'s credential reaches the target of the session `summary` describes: one whose
/// start is gone (its target unknown) only a credential reaching every target does.
fn reaches_session(who: &Identity, summary: Option<&hoop_core::record::Summary>) -> bool {
    match summary.and_then(|s| s.head.as_ref()).map(|e| &e.body) {
        Some(RecordBody::Event(hoop_core::event::Event::SessionStart { session })) => who.may_reach(&session.target.name),
        _ => who.targets.iter().any(|t| t == "*"),
    }
}
