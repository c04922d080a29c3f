//! One client connection: every request authenticated, classified, checked, forwarded with the
//! gateway's credentials, and its response masked and recorded.
//!
//! A connection carries one session per bearer token (kubectl sends the same token on every
//! request of a connection); the session's recording holds every request made on it.

use crate::K8sGateway;
use crate::body::{Body, full};
use crate::classify::{classify, query_flag};
use crate::mask::Scope;
use crate::status;
use crate::stream;
use hoop_core::action::{Action, K8s};
use hoop_core::auth::Credential;
use hoop_core::event::Event;
use hoop_core::gate::{Checkpoint, GateError, Outcome, SessionHandle};
use hoop_core::usage::ResultSoFar;
use hoop_core::session::Protocol;
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use crate::refusal::{Refusal, RetryMemo, Retried, WEBSOCKET_ONLY, WEBSOCKET_ONLY_RULE};

/// Per-connection state.
pub(crate) struct Conn {
    pub gw: Arc<K8sGateway>,
    pub peer: SocketAddr,
    pub state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    /// The session for (token, target).
    session: Option<(String, String, Arc<SessionHandle>)>,
    upstream: Option<SendRequest<Body>>,
}

impl State {
    /// Ends the connection's session (unless a stream still holds it).
    pub(crate) fn close(&mut self) {
        if let Some((_, _, s)) = self.session.take()
            && let Ok(s) = Arc::try_unwrap(s)
        {
            s.close("client closed");
        }
    }
}

/// What a forwarded request needs to finish: its record and the scope to mask with.
pub(crate) struct Ongoing {
    pub session: Arc<SessionHandle>,
    pub action_id: u64,
    pub started: Instant,
    pub target: String,
    pub k8s: K8s,
    /// An agent's shell: each line it types on stdin is checked before the container sees it.
    pub check_stdin: bool,
    /// An agent's approved extractor: its stdin read as the archive it is (see
    /// [`hoop_core::action::archive`]).
    pub check_archive: bool,
    /// The command prints an archive (`tar cf -`, `kubectl cp` out of a pod): its output is
    /// masked member by member so that it stays one (see [`hoop_core::mask::archive`]).
    pub archive_out: bool,
    /// On a terminal, output held back to mask it is released after a short wait (someone may
    /// type and read); a command of programs hoop knows is masked as a pipe's instead.
    pub timed_release: bool,
    /// Where the container mounts Secrets (see `mounts.rs`): a typed line naming a path under
    /// one is refused like the exec would be.
    pub secret_mounts: crate::mounts::Mounts,
    /// The response's masker: the gateway's, also searching for the values of Secrets (see
    /// `secrets/`).
    pub masker: Arc<hoop_core::mask::Masker>,
    /// Where that masker comes from when it searches for Secret values: asked again as a
    /// stream goes on.
    pub live: Option<(Arc<K8sGateway>, Arc<crate::upstream::K8sTarget>)>,
    /// An exec's or attach's pod exec path and query: where the files a typed line names are
    /// read, to know whether they hold copies of Secret values (see `copies.rs`).
    pub exec_place: Option<(String, String)>,
}

impl Ongoing {
    /// The paths among `paths` that hold copies of Secret values, read in the exec's container
    /// (see `copies.rs`); none where no values are searched.
    pub(crate) async fn copies_among(&self, paths: &[String]) -> Result<Vec<String>, String> {
        let (Some((_, target)), Some((api_path, query))) = (&self.live, &self.exec_place) else { return Ok(Vec::new()) };
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let masker = self.current_masker().await?;
        let place = crate::scripts::Place { target, api_path, query };
        Ok(crate::copies::find(&place, &self.session, &masker, paths).await)
    }

    /// The masker for what the response carries now: the one it started with, or, when it
    /// searches for Secret values, one with the values as last read (red-team round 91: a watch
    /// or an exec that lasts showed a Secret made after it started in clear). An error says why
    /// they could not be read: the stream ends.
    pub(crate) async fn current_masker(&self) -> Result<Arc<hoop_core::mask::Masker>, String> {
        match &self.live {
            None => Ok(self.masker.clone()),
            Some((gw, target)) => gw.secret_values.masker(&self.target, target, &self.k8s.namespace, &self.session.masker()).await.map_err(|e| format!("hoop: {e} (rule {})", crate::secrets::RULE)),
        }
    }

    /// A checkpoint of the response (`items` objects, `bytes` long, `masked_values` masked)
    /// before it is sent: usage is counted and rules reading `result` are asked; a hold keeps
    /// the response here until the reviewer decides. The refusal to send instead, when it must
    /// not go out.
    pub(crate) async fn checkpoint(&self, items: u64, bytes: u64, masked_values: u64) -> Option<Response<Body>> {
        let so_far = ResultSoFar { rows: items, bytes, masked_values, seconds: self.started.elapsed().as_secs(), ..ResultSoFar::default() };
        let refusal = self.checkpoint_message(so_far).await?;
        Some(status::forbidden(&format!("{refusal}; {items} objects withheld")))
    }

    /// A checkpoint of what the response returned `so_far`: `None` to go on (after any review),
    /// or why it must end.
    pub(crate) async fn checkpoint_message(&self, so_far: ResultSoFar) -> Option<String> {
        let refused = |rule: &str, why: &str| Some(format!("hoop: {why} (rule {rule})"));
        match self.session.result_progress(self.action_id, so_far) {
            Ok(Checkpoint::Continue) => None,
            Ok(Checkpoint::Deny { rule, reason }) => refused(&rule, &reason),
            Ok(Checkpoint::Review { rule, pending }) => match self.session.wait_result_review(self.action_id, &rule, pending).await {
                Ok(true) => None,
                Ok(false) => refused(&rule, "the reviewer did not let this result go out"),
                Err(e) => refused(&rule, &e.to_string()),
            },
            Err(e) => Some(format!("hoop: {e}")),
        }
    }

    /// Records the result of the request.
    pub(crate) fn finish(&self, code: StatusCode, items: u64, bytes: u64, error: Option<String>) {
        self.finish_masked(code, items, (bytes, 0), error);
    }

    /// Records the result of the request, `bytes` long with `masked_values` in it.
    pub(crate) fn finish_masked(&self, code: StatusCode, items: u64, (bytes, masked_values): (u64, u64), error: Option<String>) {
        self.session.result_done(self.action_id, ResultSoFar { rows: items, bytes, masked_values, ..ResultSoFar::default() });
        let ev = Event::ActionResult {
            action_id: self.action_id,
            status: code.as_u16().to_string(),
            rows: items,
            duration_us: self.started.elapsed().as_micros() as u64,
            bytes,
            error,
            columns: Vec::new(),
            sample: Vec::new(),
        };
        if let Err(e) = self.session.record_later(&ev) {
            tracing::error!(error = %e, "recording a result failed");
        }
    }

    pub(crate) fn scope(&self) -> Scope<'_> {
        Scope { target: &self.target, group: &self.k8s.group, resource: &self.k8s.resource }
    }
}

impl Conn {
    pub(crate) async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        // Classified, checked and forwarded in the one form the API server will act on.
        let raw_path = match crate::path::canonical(req.uri().path()) {
            Ok(p) => p,
            Err(e) => return status::failure(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string()),
        };
        let mut query = req.uri().query().unwrap_or("").to_string();
        // Go's query reading, the API server's, drops a pair that holds a raw `;`
        // (`watch=true;`); hoop's would keep it. One reading: such a query is refused.
        if query.contains(';') {
            return status::failure(StatusCode::BAD_REQUEST, "BadRequest", "hoop: a query holding a raw `;` is read differently by the API server, which drops that pair: percent-encode it (%3B)");
        }
        if req.headers().keys().any(|k| k.as_str().starts_with("impersonate-")) {
            return status::forbidden("impersonation headers are not accepted through hoop: the gateway decides who the cluster sees");
        }
        let gw = self.gw.clone();
        let single = gw.single_target.as_deref();
        let token = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let (target_name, api_path) = match crate::path::route(&raw_path, single, |t| gw.targets.contains_key(t)) {
            Ok((t, p)) => (t.to_string(), p.to_string()),
            // A path without `/k8s/<target>/`: kubectl drops the server URL's path for `get
            // --raw` and `kubectl proxy` (compatibility round 1). The one target of this
            // gateway the caller may reach, if there is exactly one, is meant.
            Err(crate::path::PathError::UnknownTarget(t)) if t.is_empty() => match self.only_target(token.as_deref()).await {
                Some(t) => (t, raw_path.clone()),
                None => return status::failure(StatusCode::NOT_FOUND, "NotFound", "unknown target \"\": name it in the path (/k8s/<target>/…), or use a credential that reaches one Kubernetes target of this gateway"),
            },
            Err(e) => return status::failure(StatusCode::NOT_FOUND, "NotFound", &e.to_string()),
        };
        let Some(target) = gw.targets.get(&target_name).cloned() else {
            return status::failure(StatusCode::NOT_FOUND, "NotFound", "unknown target");
        };
        let Some(token) = token else {
            return status::unauthorized("a hoop token is required (Authorization: Bearer)");
        };
        let session = match self.session(&token, &target_name, &req).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        session.touch();

        let method = req.method().as_str().to_string();
        let mut k8s = classify(&method, &api_path, &query);
        let upgrade = req.headers().get(hyper::header::UPGRADE).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
        let exec_like = matches!(k8s.subresource.as_str(), "exec" | "attach");
        if exec_like {
            query = crate::classify::stream_query(&k8s.subresource, &query);
        }
        let mut log_limit = None;
        if k8s.subresource == "log" {
            match crate::classify::take_log_limit(&query) {
                Ok((q, limit)) => (query, log_limit) = (q, limit),
                Err(why) => return status::failure(StatusCode::BAD_REQUEST, "BadRequest", &format!("hoop: {why}")),
            }
        }
        // (Only an exec or attach is kept for kubectl's retry: other requests make no key.)
        let memo_key = exec_like.then(|| RetryMemo::key(&session.session().identity.subject, &target_name, &format!("{api_path}?{query}")));
        if exec_like && upgrade.as_deref().is_some_and(|u| u != "websocket") {
            // kubectl's retry over SPDY of an exec refused over WebSocket gets that refusal
            // again; any other is refused for what it is, before a ticket could open for it.
            let refusal = memo_key.as_deref().and_then(|k| gw.retries.take(k)).unwrap_or_else(|| Refusal::forbidden(format!("hoop: {WEBSOCKET_ONLY} (rule {WEBSOCKET_ONLY_RULE})")));
            let _ = session.refuse(subresource_action(&target_name, &k8s), WEBSOCKET_ONLY_RULE, &refusal.message);
            return refusal.response();
        }
        let retried = Retried { memo: &gw.retries, key: memo_key.filter(|_| upgrade.is_some()) };
        let (parts, incoming) = req.into_parts();
        // Writes are read whole (bounded) so their object kind is known to rules and the body
        // is recorded, masked, before it is sent. A delete's body too: its DeleteOptions carry
        // `dryRun`, `propagationPolicy` and `preconditions`, and dropping them turned
        // `kubectl delete --dry-run=server` into a delete.
        let mut body = Bytes::new();
        // The body read once as JSON (`None` when it is not), for the fields below.
        let mut doc: Option<serde_json::Value> = None;
        let agent = session.session().identity.kind == hoop_core::identity::IdentityKind::Agent;
        // The room a large body takes in the gateway's memory, until this request is done.
        let mut _room = Vec::new();
        if matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
            match crate::body::whole(incoming, gw.max_body, &session.buffer_share()).await {
                Ok((b, room)) => (body, _room) = (b, room),
                Err(crate::body::Whole::Busy(e)) => return status::failure(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", &format!("hoop: {e}")),
                Err(_) => return status::failure(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", "request body too large"),
            }
            k8s.object_kind = crate::classify::object_kind(&body);
            // A document read through hoop and written back whole (`kubectl get -o yaml | …
            // | kubectl replace -f -`) holds hoop's markers where values were masked: sent, they
            // would replace the values (compatibility round 1). Refused, for everyone.
            if method != "DELETE" && session.masker().holds_replacement(&body) {
                let reason = "the request body holds values hoop masked when they were read ([REDACTED:…] or a token): written back they would replace the real values; change the object with patch, edit or apply, which send only what changed";
                let _ = session.refuse(subresource_action(&target_name, &k8s), MASKED_WRITE_BACK_RULE, reason);
                return status::failure(StatusCode::BAD_REQUEST, "BadRequest", &format!("hoop: {reason} (rule {MASKED_WRITE_BACK_RULE})"));
            }
            doc = match crate::strict::document(&body) {
                Ok(d) => Some(d),
                Err(crate::strict::Unread::NotJson) => None,
                Err(crate::strict::Unread::Duplicate(why)) => {
                    let reason = format!("the request body is JSON that kube-apiserver reads otherwise than hoop: {why}");
                    let _ = session.refuse(subresource_action(&target_name, &k8s), DUPLICATE_FIELD_RULE, &reason);
                    return status::failure(StatusCode::BAD_REQUEST, "BadRequest", &format!("hoop: {reason} (rule {DUPLICATE_FIELD_RULE})"));
                }
            };
            // The namespace the server files the object in: a write on a path without one takes
            // the body's (red-team round 34: a server that serves creates on the all-namespaces
            // path put a ConfigMap in kube-system while rules saw no namespace); a body naming
            // another namespace than its path is refused, as kube-apiserver refuses it.
            if let Some(ns) = doc.as_ref().and_then(|d| crate::classify::body_metadata(d, "namespace")) {
                if k8s.namespace.is_empty() {
                    k8s.namespace = ns;
                } else if k8s.namespace != ns && k8s.resource != "namespaces" {
                    return status::failure(StatusCode::BAD_REQUEST, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
                }
            }
            // A namespaced object created on the all-namespaces path with no namespace of its
            // own: kube-apiserver answers 405; a server that files it in `default` would put it
            // where rules did not look (red-team round 35).
            let namespaced = WORKLOADS.contains(&k8s.resource.as_str()) || NAMESPACED.contains(&k8s.resource.as_str());
            if k8s.namespace.is_empty() && k8s.verb == "create" && k8s.subresource.is_empty() && namespaced {
                return status::failure(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "create a namespaced object under /namespaces/<namespace>/, or name its namespace in metadata.namespace");
            }
            k8s.secret_refs = crate::classify::secret_refs(&body, &k8s.object_kind);
            let ctype = parts.headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if method == "PATCH" && ctype.to_ascii_lowercase().starts_with("application/json-patch+json") {
                k8s.patch_ops = crate::classify::patch_ops(&body);
            }
        }
        let mut hidden = None;
        if !body.is_empty() {
            // What a held write will do is in the ticket and the record before it is decided
            // (red-team round 34: the reviewer saw `create pods`, not the spec): the name the
            // server gives a created object, and the body, masked.
            if k8s.name.is_empty() && k8s.verb == "create" && k8s.subresource.is_empty() {
                k8s.name = doc.as_ref().and_then(|d| crate::classify::body_metadata(d, "name")).unwrap_or_default();
            }
            let (shown, why) = shown_body(&session, Scope { target: &target_name, group: &k8s.group, resource: &k8s.resource }, doc, body.len());
            k8s.body = shown;
            // Held, such a write is refused by the gate (`hoop-unreviewable-write`): the reviewer
            // would not see it whole.
            hidden = why;
        }
        let mut action = subresource_action(&target_name, &k8s);
        action.unshown = hidden;
        let started = Instant::now();
        let action_id = match decide(&session, action).await {
            Ok(id) => id,
            Err(refusal) => return retried.refused(refusal),
        };
        let mut interactive = k8s.subresource == "attach";
        let mut extractor = false;
        let mut archive_out = false;
        let mut timed_release = true;
        // A read of a Secret mounted in the pod (see `mounts.rs`), by the exec's command or a
        // line typed into an exec or attach; a pod hoop cannot read is refused, as what it
        // mounts cannot be known.
        let mut secret_mounts = crate::mounts::Mounts::default();
        let mut unreadable = None;
        if agent && matches!(k8s.subresource.as_str(), "exec" | "attach") {
            match crate::mounts::secret_mounts(&target, &api_path, &query, &session.session().identity).await {
                Ok(m) => secret_mounts = m,
                Err(e) => unreadable = Some(format!("the pod's Secret mounts cannot be read ({e})")),
            }
        }
        if let (Some(why), "attach") = (&unreadable, k8s.subresource.as_str()) {
            let _ = session.refuse(subresource_action(&target_name, &k8s), crate::mounts::RULE, why);
            return retried.refused(Refusal::forbidden(format!("hoop: {why} (rule {})", crate::mounts::RULE)));
        }
        if k8s.subresource == "exec" {
            // The command itself, under the same exec rules as SSH.
            let mut command = crate::classify::exec_action_at(&target_name, &query, secret_mounts.workdir.clone());
            crate::mounts::home_aliases(&mut command, &secret_mounts);
            if query_flag(&query, "tty") {
                command = command.on_terminal();
            }
            interactive = command.input_is_commands();
            extractor = command.input_is_archive();
            archive_out = command.output_is_archive() && !query_flag(&query, "tty");
            timed_release = !command.known_commands_only();
            // A held command that runs a script file: the reviewer is shown its text, and the
            // approval runs that text (see `scripts.rs`).
            if let Some(why) = unreadable.or_else(|| crate::mounts::refusal(&command, &secret_mounts)) {
                let _ = session.refuse(command, crate::mounts::RULE, &why);
                return retried.refused(Refusal::forbidden(format!("hoop: {why} (rule {})", crate::mounts::RULE)));
            }
            let place = crate::scripts::Place { target: &target, api_path: &api_path, query: &query };
            // The files it reads that hold copies of Secret values, read first (see `copies.rs`).
            let base = session.masker();
            if agent && target.mask_secret_values && base.is_enabled() && !command.exec.paths.is_empty() {
                match gw.secret_values.masker(&target_name, &target, &k8s.namespace, &base).await {
                    Ok(m) => command.exec.copies = crate::copies::find(&place, &session, &m, &command.exec.paths).await,
                    Err(why) => {
                        let _ = session.refuse(command, crate::secrets::RULE, &why);
                        return retried.refused(Refusal { code: StatusCode::SERVICE_UNAVAILABLE, reason: "ServiceUnavailable", message: format!("hoop: {why} (rule {})", crate::secrets::RULE) });
                    }
                }
            }
            let pin = if command.exec.scripts.is_empty() || !session.would_review(&command) {
                None
            } else {
                crate::scripts::show(&place, &session, &mut command).await
            };
            if let Err(refusal) = decide(&session, command).await {
                return retried.refused(refusal);
            }
            if let Some((script, pinned)) = pin {
                if let Err(msg) = crate::scripts::unchanged(&place, &session, &script).await {
                    return retried.refused(Refusal::forbidden(msg));
                }
                query = pinned;
            }
        }
        let check_stdin = agent && interactive && query_flag(&query, "stdin");
        let check_archive = agent && extractor && query_flag(&query, "stdin");
        let masker = session.masker();
        let mut ongoing = Ongoing { session: session.clone(), action_id, started, target: target_name.clone(), k8s, check_stdin, check_archive, archive_out, timed_release, secret_mounts, masker, live: None, exec_place: None };
        if agent && matches!(ongoing.k8s.subresource.as_str(), "exec" | "attach") {
            let pod = api_path.strip_suffix("/attach").map_or_else(|| api_path.clone(), |p| format!("{p}/exec"));
            ongoing.exec_place = Some((pod, query.clone()));
        }
        if target.mask_secret_values && ongoing.masker.is_enabled() && crate::secrets::applies(&ongoing.k8s) {
            match gw.secret_values.masker(&target_name, &target, &ongoing.k8s.namespace, &ongoing.masker).await {
                Ok(m) => (ongoing.masker, ongoing.live) = (m, Some((gw.clone(), target.clone()))),
                Err(why) => {
                    let msg = format!("hoop: {why}; the gateway's credentials need list on secrets, or the target sets mask_secret_values = false (rule {})", crate::secrets::RULE);
                    ongoing.finish(StatusCode::SERVICE_UNAVAILABLE, 0, 0, Some(msg.clone()));
                    return status::failure(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", &msg);
                }
            }
        }
        match upgrade.as_deref() {
            Some("websocket") if matches!(ongoing.k8s.subresource.as_str(), "exec" | "attach") => {
                let req = Request::from_parts(parts, ());
                return crate::exec::relay(req, &target, &api_path, &query, ongoing).await;
            }
            Some(_) => {
                let msg = "this upgrade is not relayed by hoop";
                ongoing.finish(StatusCode::FORBIDDEN, 0, 0, Some(msg.into()));
                return status::forbidden(msg);
            }
            None => {}
        }
        let path_and_query = if query.is_empty() { api_path.clone() } else { format!("{api_path}?{query}") };
        let upstream_req = |body: Bytes| target.request(&parts.method, &path_and_query, &parts.headers, &session.session().identity, full(body));
        let resp = match self.send(&target, upstream_req(body.clone())).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(target = %target_name, error = %e, "API server request failed");
                ongoing.finish(StatusCode::BAD_GATEWAY, 0, 0, Some(e.to_string()));
                return status::failure(StatusCode::BAD_GATEWAY, "ServiceUnavailable", &format!("hoop could not reach the API server: {e}"));
            }
        };
        respond(resp, ongoing, &query, log_limit, &gw).await
    }

    /// The session for `token` on `target`, opened on first use.
    /// The one Kubernetes target of this gateway the holder of `token` may reach, if there is
    /// exactly one (the session opened on it checks the token again).
    async fn only_target(&self, token: Option<&str>) -> Option<String> {
        let identity = self.gw.gate.authenticate(Credential::Token(token?)).await.ok()?;
        let mut reachable = self.gw.targets.keys().filter(|t| identity.may_reach(t));
        match (reachable.next(), reachable.next()) {
            (Some(one), None) => Some(one.clone()),
            _ => None,
        }
    }

    async fn session(&self, token: &str, target: &str, req: &Request<Incoming>) -> Result<Arc<SessionHandle>, Response<Body>> {
        let mut st = self.state.lock().await;
        // Every request is checked again: a kept-alive connection does not outlive a revocation.
        if let Some((t, tg, s)) = &st.session {
            match s.still_valid() {
                Err(hoop_core::gate::EndReason::Revoked) => return Err(status::unauthorized("hoop: credential revoked")),
                Err(hoop_core::gate::EndReason::Killed) => return Err(status::forbidden("hoop: this session was ended by an operator")),
                Ok(()) if t == token && tg == target => return Ok(s.clone()),
                _ => {}
            }
        }
        st.close();
        let mut params = std::collections::BTreeMap::new();
        if let Some(ua) = req.headers().get(hyper::header::USER_AGENT).and_then(|v| v.to_str().ok()) {
            params.insert("user_agent".to_string(), ua.to_string());
        }
        match self.gw.gate.open_session(Credential::Token(token), Protocol::Kubernetes, target, Some(self.peer), params).await {
            Ok(s) => {
                // The connection keeps its slot from now on (sessions are bounded per identity).
                hoop_core::admission::authenticated_here();
                let s = Arc::new(s);
                st.session = Some((token.to_string(), target.to_string(), s.clone()));
                Ok(s)
            }
            Err(GateError::Auth(e)) => {
                static LINES: hoop_core::lograte::LogRate = hoop_core::lograte::LogRate::new(120);
                if let Some(left_out) = LINES.admit() {
                    tracing::info!(error = %e, left_out, "kubernetes login refused");
                }
                Err(status::unauthorized(&format!("hoop: {e}")))
            }
            Err(GateError::Denied { rule, reason }) => Err(status::forbidden(&format!("hoop: {reason} (rule {rule})"))),
            Err(GateError::Limit(who)) => {
                Err(status::failure(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", &format!("hoop: too many sessions for {who}")))
            }
            Err(e) => Err(status::failure(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", &format!("hoop: {e}"))),
        }
    }

    /// Sends on the connection's upstream connection, reconnecting once if it was closed.
    async fn send(&self, target: &crate::upstream::K8sTarget, req: Request<Body>) -> Result<Response<Incoming>, crate::upstream::UpstreamError> {
        let mut st = self.state.lock().await;
        let reusable = st.upstream.as_mut().is_some_and(|s| !s.is_closed());
        if !reusable {
            st.upstream = Some(target.connect().await?);
        }
        let Some(sender) = st.upstream.as_mut() else { return Err(crate::upstream::UpstreamError::Connect { addr: target.addr.clone(), source: std::io::ErrorKind::NotConnected.into() }) };
        if sender.ready().await.is_err() {
            *sender = target.connect().await?;
        }
        Ok(sender.send_request(req).await?)
    }
}

/// A request through the API server to a pod, service or node (`…/proxy`, or the deprecated
/// `/proxy/…` form).
fn is_proxy(k8s: &K8s) -> bool {
    k8s.subresource == "proxy" || k8s.verb == "proxy"
}

/// The action a request amounts to: subresources that reach into pods, nodes and services
/// are forwards, attaching and ephemeral containers are shells, token requests mint a
/// credential; everything else is a Kubernetes request.
fn subresource_action(target: &str, k8s: &K8s) -> Action {
    let within = || format!("{}/{}", k8s.resource, k8s.name);
    match k8s.subresource.as_str() {
        "portforward" => Action::forward(target, within(), 0, "kubernetes"),
        _ if is_proxy(k8s) => {
            // `name:port` or `scheme:name:port` picks the port the proxy connects to.
            let port = k8s.name.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
            Action::forward(target, within(), port, "kubernetes-proxy")
        }
        "attach" | "ephemeralcontainers" => {
            let mut a = Action::shell(target);
            a.exec.command = format!("{} {}", k8s.subresource, within());
            a.exec.interpreter = match k8s.subresource.as_str() {
                "attach" => "attach: the console of a running container".into(),
                _ => "ephemeralcontainers: a new container, any image and command, in a running pod".into(),
            };
            a.k8s = k8s.clone();
            a
        }
        "token" if k8s.resource == "serviceaccounts" => Action::token(target, k8s.clone()),
        _ => Action::k8s(target, k8s.clone()),
    }
}

/// Checks an action; a denial becomes the Status kubectl prints.
async fn decide(session: &SessionHandle, action: Action) -> Result<u64, Refusal> {
    match session.check_and_wait(action).await {
        Ok(Outcome::Allow { action_id }) => Ok(action_id),
        Ok(Outcome::Deny { rule, reason, .. }) => Err(Refusal::forbidden(format!("hoop: {reason} (rule {rule})"))),
        Err(GateError::Denied { rule, reason }) => Err(Refusal::forbidden(format!("hoop: {reason} (rule {rule})"))),
        Err(e) => Err(Refusal { code: StatusCode::SERVICE_UNAVAILABLE, reason: "ServiceUnavailable", message: format!("hoop refused the request: {e}") }),
    }
}

/// The rule name of the gateway's refusal of a body naming a field twice (see `strict.rs`).
const DUPLICATE_FIELD_RULE: &str = "hoop-duplicate-field";

/// The rule a write is refused by when its body holds hoop's masking markers.
const MASKED_WRITE_BACK_RULE: &str = "hoop-masked-write-back";

/// Longest body a ticket and a record show.
const SHOWN_BODY: usize = 64 * 1024;

/// The resources whose writes run commands (as `agent-review-k8s-workloads` names them).
const WORKLOADS: &[&str] = &["pods", "deployments", "statefulsets", "daemonsets", "replicasets", "replicationcontrollers", "jobs", "cronjobs", "podtemplates"];

/// Resources besides [`WORKLOADS`] that live in a namespace (the core kinds an agent writes).
const NAMESPACED: &[&str] = &[
    "configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims", "endpoints", "events", "limitranges",
    "resourcequotas", "roles", "rolebindings", "ingresses", "networkpolicies", "poddisruptionbudgets", "horizontalpodautoscalers", "leases",
];

/// A write's body as the reviewer and the recording see it: masked like a response, cut to
/// [`SHOWN_BODY`] with a note of what was cut; and why it is not shown whole, if it is not
/// (values masked, cut, or not JSON). `doc` is the body read as JSON, if it is JSON.
fn shown_body(session: &SessionHandle, scope: Scope<'_>, doc: Option<serde_json::Value>, len: usize) -> (String, Option<String>) {
    let (text, mut hidden) = match doc {
        Some(mut v) => {
            let n = crate::mask::mask_document(&session.masker(), scope, &mut v).values;
            (v.to_string(), (n > 0).then(|| format!("with {n} values masked")))
        }
        // Protobuf (typed clients) or YAML: its values cannot be masked field by field, so only
        // its size is kept; a Secret must never reach a recording unmasked.
        None => (format!("({len} bytes, not JSON: content not recorded)"), Some("without its content (not JSON)".to_string())),
    };
    let chars = text.chars().count();
    if chars <= SHOWN_BODY {
        return (text, hidden);
    }
    hidden.get_or_insert_with(|| format!("cut at {SHOWN_BODY} of its {chars} characters"));
    let mut shown: String = text.chars().take(SHOWN_BODY).collect();
    shown.push_str(&format!(" … [hoop: {} more characters not shown]", chars - SHOWN_BODY));
    (shown, hidden)
}

/// Masks and relays the API server's response.
async fn respond(resp: Response<Incoming>, ongoing: Ongoing, query: &str, log_limit: Option<u64>, gw: &K8sGateway) -> Response<Body> {
    let (mut parts, incoming) = resp.into_parts();
    let ctype = parts.headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    for h in ["content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"] {
        parts.headers.remove(h);
    }
    let code = parts.status;
    let masker = ongoing.masker.clone();
    // hoop asked for JSON; anything else (YAML, protobuf, CBOR, HTML) is never relayed, since
    // it could carry what masking would have hidden.
    let json = ctype.is_empty() || ctype.starts_with("application/json");
    if is_proxy(&ongoing.k8s) && code.is_success() {
        // What a pod or service answers is not an API object: its text passes the detectors.
        let rx = stream::text(incoming, ongoing, masker, None);
        return Response::from_parts(parts, crate::body::channel(rx));
    }
    if !json && !ctype.starts_with("text/plain") {
        let msg = format!("the API server answered in {ctype}, which hoop cannot mask; only JSON is relayed");
        ongoing.finish(StatusCode::BAD_GATEWAY, 0, 0, Some(msg.clone()));
        return status::failure(StatusCode::BAD_GATEWAY, "InternalError", &format!("hoop: {msg}"));
    }
    let watch = ongoing.k8s.verb == "watch" || query_flag(query, "watch");
    if watch && code.is_success() && json {
        let rx = stream::watch_events(incoming, ongoing, gw.max_document);
        return Response::from_parts(parts, crate::body::channel(rx));
    }
    if ongoing.k8s.subresource == "log" && code.is_success() {
        let rx = stream::text(incoming, ongoing, masker, log_limit);
        return Response::from_parts(parts, crate::body::channel(rx));
    }
    if json {
        // A document is masked whole (lists, single objects), so it is held whole: up to the
        // limit, and refused past it rather than passed unmasked.
        let (bytes, _room) = match crate::body::whole(incoming, gw.max_document, &ongoing.session.buffer_share()).await {
            Ok(b) => b,
            Err(e) => {
                let msg = match e {
                    crate::body::Whole::TooLarge => format!(
                        "the API server's response is over limits.max_server_message_bytes ({} bytes); hoop does not hold it to mask it (a list can be read in pages: kubectl --chunk-size)",
                        gw.max_document
                    ),
                    crate::body::Whole::Busy(e) => format!("the API server's response was not held to mask it: {e}"),
                    crate::body::Whole::Failed(e) => format!("hoop could not read the API server's response whole to mask it: {e}"),
                };
                ongoing.finish(StatusCode::BAD_GATEWAY, 0, 0, Some(msg.clone()));
                return status::failure(StatusCode::BAD_GATEWAY, "InternalError", &format!("hoop: {msg}"));
            }
        };
        // A list is parsed to count its items (what budgets count); other documents only when
        // they may need masking.
        let list = ongoing.k8s.verb == "list";
        if code.is_success() && !list && !crate::mask::may_need_masking(&masker, ongoing.scope(), &bytes) {
            if let Some(refusal) = ongoing.checkpoint(1, bytes.len() as u64, 0).await {
                ongoing.finish(StatusCode::FORBIDDEN, 0, 0, Some(format!("withheld at a result checkpoint: 1 object, {} bytes", bytes.len())));
                return refusal;
            }
            ongoing.finish(code, 1, bytes.len() as u64, None);
            return Response::from_parts(parts, full(bytes));
        }
        let (out, items, error, masked) = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(mut doc) => {
                let items = objects_in(&doc);
                let error = (!code.is_success()).then(|| doc.get("message").and_then(|m| m.as_str()).unwrap_or("").to_string());
                let count = crate::mask::mask_document(&masker, ongoing.scope(), &mut doc);
                ongoing.session.count_masked(&count.by_detector());
                match count.values {
                    0 => (bytes, items, error, 0),
                    masked => (Bytes::from(doc.to_string()), items, error, masked),
                }
            }
            // Not JSON after all: content detectors only.
            Err(_) => (Bytes::from(masker.mask_bytes(&bytes).into_owned()), 0, None, 0),
        };
        if code.is_success()
            && let Some(refusal) = ongoing.checkpoint(items.max(u64::from(!list)), out.len() as u64, masked).await
        {
            ongoing.finish(StatusCode::FORBIDDEN, 0, 0, Some(format!("withheld at a result checkpoint: {items} objects, {} bytes", out.len())));
            return refusal;
        }
        ongoing.finish_masked(code, items, (out.len() as u64, masked), error);
        return Response::from_parts(parts, full(out));
    }
    // Plain text streams through the content detectors.
    let rx = stream::text(incoming, ongoing, masker, None);
    Response::from_parts(parts, crate::body::channel(rx))
}

/// The objects a response document carries: a list's `items`, or a `Table`'s `rows` (what
/// `kubectl get` asks for: red-team round 37 read 12,500 ConfigMaps as one Table, counted as
/// no rows, past the result budget that paused the same list as JSON).
fn objects_in(doc: &serde_json::Value) -> u64 {
    let count = |k: &str| doc.get(k).and_then(|i| i.as_array()).map(|a| a.len() as u64);
    count("items").or_else(|| count("rows").filter(|_| doc.get("kind").and_then(|k| k.as_str()) == Some("Table"))).unwrap_or(0)
}
