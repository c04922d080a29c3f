//! A test Kubernetes API server, written against the Kubernetes API reference, for driving the
//! real `kubectl` in tests where no kube-apiserver can be installed.
//!
//! It serves HTTPS (HTTP/1.1, as kubectl needs for WebSocket upgrades) with a bearer token it
//! validates, and covers what kubectl uses for everyday work: discovery (`/version`, `/api`,
//! `/apis`, resource lists), `/openapi/v2` and `/openapi/v3`, namespaces, pods, secrets,
//! configmaps, deployments, services and clusterrolebindings with create/get/list/update/patch/
//! delete, `Table` output, watch
//! (with `fieldSelector=metadata.name=...`), pod logs with `follow`, and exec over WebSocket
//! (`v5.channel.k8s.io`, `v4.channel.k8s.io`) running the command as a local process, so output
//! and exit codes are real. Objects live in memory.

// A dev-only server whose input is kubectl's in tests: serde_json's `Value` indexing is the
// clearest way to build API objects, and a panic would end only that request's task.
#![allow(clippy::indexing_slicing)]

mod body;
mod discovery;
mod exec;
mod store;
mod yaml;

use crate::HarnessError;
use body::{Body, full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::{RESOURCES, Resource, Store};

/// How to start the test API server.
#[derive(Debug, Clone)]
pub struct KubeApiOptions {
    /// The bearer token it accepts.
    pub token: String,
    /// Pods created in `default` at start (`pod-0`, `pod-1`, ...).
    pub pods: usize,
    /// Port to listen on (0: a free one).
    pub port: u16,
    /// Exec WebSocket sub-protocols served, preferred first.
    pub exec_protocols: Vec<String>,
}

impl Default for KubeApiOptions {
    fn default() -> Self {
        KubeApiOptions {
            token: "harness-admin-token".into(),
            pods: 2,
            port: 0,
            exec_protocols: vec!["v5.channel.k8s.io".into(), "v4.channel.k8s.io".into()],
        }
    }
}

/// A running test API server; stopped when dropped.
pub struct KubeApi {
    port: u16,
    token: String,
    dir: tempfile::TempDir,
    state: Arc<State>,
    rt: Option<tokio::runtime::Runtime>,
}

impl KubeApi {
    /// Starts the server on a loopback port with a fresh CA and serving certificate.
    pub fn start(opts: KubeApiOptions) -> Result<Self, HarnessError> {
        let dir = tempfile::tempdir()?;
        let tls = tls_config(dir.path())?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State { token: opts.token.clone(), store: Store::new(opts.pods), exec_protocols: opts.exec_protocols });
        let serving = state.clone();
        rt.spawn(async move {
            let state = serving;
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    // A client certificate, verified by rustls against the CA, authenticates too.
                    let by_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                    let svc = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(state.handle(req, by_cert).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Ok(KubeApi { port, token: opts.token, dir, state, rt: Some(rt) })
    }

    /// A client certificate (PEM) and key the server accepts instead of the token.
    pub fn client_cert(&self) -> (PathBuf, PathBuf) {
        (self.dir.path().join("client.crt"), self.dir.path().join("client.key"))
    }

    /// The identities requests asked to act as, in order: `Impersonate-User` values, and
    /// `X-Remote-User` ones on client-certificate connections as `x-remote-user:NAME`.
    pub fn impersonated(&self) -> Vec<String> {
        self.state.store.impersonated()
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate (PEM) that signed its serving certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The bearer token it accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Writes a kubeconfig that talks to this server directly and returns its path.
    pub fn kubeconfig(&self) -> Result<PathBuf, HarnessError> {
        let path = self.dir.path().join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: direct\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
             users:\n- name: admin\n  user:\n    token: {}\ncontexts:\n- name: direct\n  context:\n    cluster: direct\n    user: admin\n    namespace: default\n\
             current-context: direct\n",
            self.url(),
            self.ca_file().display(),
            self.token
        );
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A CA and a serving certificate for 127.0.0.1/localhost, written under `dir`.
fn tls_config(dir: &Path) -> Result<Arc<rustls::ServerConfig>, HarnessError> {
    let cert_err = |e: rcgen::Error| HarnessError::Cert(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(cert_err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "harness-kube-ca");
    let ca = ca_params.self_signed(&ca_key).map_err(cert_err)?;
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let key = rcgen::KeyPair::generate().map_err(cert_err)?;
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).map_err(cert_err)?;
    let cert = params.signed_by(&key, &issuer).map_err(cert_err)?;
    std::fs::write(dir.join("ca.crt"), ca.pem())?;
    let client_key = rcgen::KeyPair::generate().map_err(cert_err)?;
    let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    client_params.distinguished_name.push(rcgen::DnType::CommonName, "hoop-gateway");
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &issuer).map_err(cert_err)?;
    std::fs::write(dir.join("client.crt"), client.pem())?;
    std::fs::write(dir.join("client.key"), client_key.serialize_pem())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).map_err(|e| HarnessError::Cert(e.to_string()))?;
    let chain = vec![cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| HarnessError::Cert(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| HarnessError::Cert(e.to_string()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HarnessError::Cert(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| HarnessError::Cert(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

struct State {
    token: String,
    store: Store,
    exec_protocols: Vec<String>,
}

/// A parsed resource path: `/api/v1/...` or `/apis/<group>/<version>/...`.
#[derive(Debug)]
struct Target {
    res: &'static Resource,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl State {
    /// Serves one request; like kube-apiserver, answers in YAML when the client's first
    /// choice in `Accept` is `application/yaml`.
    async fn handle(&self, req: Request<hyper::body::Incoming>, by_cert: bool) -> Response<Body> {
        let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let yaml = accept.split(',').next().is_some_and(|first| first.trim().starts_with("application/yaml"));
        let resp = self.route(req, by_cert).await;
        let is_json = resp.headers().get(hyper::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if !yaml || !is_json {
            return resp;
        }
        use http_body_util::BodyExt;
        let (mut parts, body) = resp.into_parts();
        let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else { return Response::from_parts(parts, full(bytes)) };
        let mut out = String::new();
        yaml::emit(&v, 0, &mut out);
        parts.headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/yaml"));
        Response::from_parts(parts, full(out))
    }

    /// Whether namespace `ns` (any namespace, for `None`) denies its Secrets (see `route`).
    fn secrets_denied(&self, ns: Option<&str>) -> bool {
        let Some(namespaces) = store::RESOURCES.iter().find(|r| r.plural == "namespaces") else { return false };
        let denies = |n: &Value| n["metadata"]["labels"]["harness/deny-secrets"] == "true";
        match ns {
            Some(ns) => self.store.get(namespaces, None, ns).is_some_and(|n| denies(&n)),
            None => self
                .store
                .list(namespaces, None, None, false, store::Page { limit: None, continue_from: None })
                .is_ok_and(|l| l["items"].as_array().is_some_and(|items| items.iter().any(denies))),
        }
    }

    async fn route(&self, req: Request<hyper::body::Incoming>, by_cert: bool) -> Response<Body> {
        let auth = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        if auth != format!("Bearer {}", self.token) && !by_cert {
            return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
        }
        if req.headers().keys().any(|k| k.as_str().starts_with("impersonate-")) {
            // Record impersonation so tests can see what reached the server.
            let user = req.headers().get("impersonate-user").and_then(|v| v.to_str().ok()).unwrap_or("");
            self.store.note_impersonation(user);
        }
        // With request-header authentication (`--requestheader-client-ca-file`), the real API
        // server takes the user from `X-Remote-User` on a connection that presents the
        // front-proxy client certificate: recorded as an identity the request asked to be.
        if by_cert && let Some(user) = req.headers().get("x-remote-user").and_then(|v| v.to_str().ok()) {
            self.store.note_impersonation(&format!("x-remote-user:{user}"));
        }
        // The real API server routes on the percent-decoded path (Go's `URL.Path`).
        let Some(path) = percent_decode(req.uri().path()) else {
            return status(StatusCode::BAD_REQUEST, "BadRequest", "invalid URL escape");
        };
        // As Go reads a query (`url.ParseQuery`): a pair holding a raw `;` is dropped.
        let query: Vec<(String, String)> = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.contains(';'))
            .flat_map(|pair| form_urlencoded::parse(pair.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect::<Vec<_>>())
            .collect();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if let Some(r) = discovery::serve(&segs, &req) {
            return r;
        }
        let Some(target) = parse_target(&segs) else {
            return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource");
        };
        // RBAC, as far as tests need it: a namespace labelled `harness/deny-secrets: "true"`
        // denies its Secrets to every caller, as a role that does not cover them would; RBAC
        // only adds, so a caller that may not read one namespace's Secrets may not list every
        // namespace's either.
        if target.res.plural == "secrets" && self.secrets_denied(target.namespace.as_deref()) {
            let place = target.namespace.as_deref().map_or("at the cluster scope".to_string(), |ns| format!("in the namespace \"{ns}\""));
            let msg = format!("secrets is forbidden: User \"hoop-gateway\" cannot list resource \"secrets\" in API group \"\" {place}");
            return status(StatusCode::FORBIDDEN, "Forbidden", &msg);
        }
        let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let table = accept.contains("as=Table");
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        // A boolean as the API server reads it (`Convert_Slice_string_To_bool`): the first
        // value, false only when absent, `0` or `false` in any case.
        let flag = |k: &str| q(k).is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"));
        match (req.method().clone(), target.name.as_deref(), target.sub.as_deref()) {
            (Method::GET, Some(name), Some("log")) => {
                let follow = flag("follow");
                // `limitBytes`, as the kubelet applies it: the log cut after that many bytes.
                let limit = q("limitBytes").and_then(|v| v.parse::<usize>().ok());
                self.store.logs(target.namespace.as_deref().unwrap_or(""), name, follow, limit)
            }
            (Method::GET | Method::POST, Some(name), Some("exec" | "attach")) => {
                let Some(pod) = self.store.get(target.res, target.namespace.as_deref(), name) else {
                    return status(StatusCode::NOT_FOUND, "NotFound", &format!("pods \"{name}\" not found"));
                };
                // The command runs in its container's `workingDir`, as the kubelet starts it.
                let container = q("container");
                let workdir = pod["spec"]["containers"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| container.is_none_or(|n| c["name"].as_str() == Some(n))))
                    .and_then(|c| c["workingDir"].as_str())
                    .map(std::path::PathBuf::from);
                exec::serve(req, &query, &self.exec_protocols, workdir)
            }
            // An eviction deletes the pod (no disruption budgets here), as `kubectl drain` uses it.
            (Method::POST, Some(name), Some("eviction")) if target.res.plural == "pods" => {
                match self.store.delete(target.res, target.namespace.as_deref(), name) {
                    Some(_) => json_response(StatusCode::CREATED, serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201})),
                    None => not_found(target.res, name),
                }
            }
            // A deployment's `scale` (`kubectl scale` patches it): its replicas, read and written.
            (Method::GET | Method::PUT | Method::PATCH, Some(name), Some("scale")) if target.res.plural == "deployments" => {
                let ns = target.namespace.as_deref();
                let scale = |obj: &Value| {
                    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": name, "namespace": ns.unwrap_or("")},
                        "spec": {"replicas": obj["spec"]["replicas"]}, "status": {"replicas": obj["status"]["replicas"]}})
                };
                if req.method() == Method::GET {
                    return match self.store.get(target.res, ns, name) {
                        Some(obj) => json_response(StatusCode::OK, scale(&obj)),
                        None => not_found(target.res, name),
                    };
                }
                let Some(replicas) = read_json(req).await.and_then(|b| b["spec"]["replicas"].as_u64()) else {
                    return status(StatusCode::BAD_REQUEST, "BadRequest", "a Scale needs spec.replicas");
                };
                match self.store.update(target.res, ns, name, |old| {
                    let mut new = old.clone();
                    new["spec"]["replicas"] = json!(replicas);
                    Some(new)
                }) {
                    Some(obj) => json_response(StatusCode::OK, scale(&obj)),
                    None => not_found(target.res, name),
                }
            }
            (_, _, Some(sub)) if sub != "status" => status(StatusCode::NOT_FOUND, "NotFound", "unsupported subresource"),
            (Method::GET, None, _) if flag("watch") => {
                self.store.watch(target.res, target.namespace.as_deref(), q("fieldSelector"), q("resourceVersion"), table)
            }
            (Method::GET, None, _) => {
                let page = store::Page { limit: q("limit").and_then(|l| l.parse().ok()), continue_from: q("continue") };
                match self.store.list(target.res, target.namespace.as_deref(), q("fieldSelector"), table, page) {
                    Ok(list) => json_response(StatusCode::OK, list),
                    Err(e) => status(StatusCode::BAD_REQUEST, "BadRequest", &e),
                }
            }
            (Method::GET, Some(name), _) => match self.store.get(target.res, target.namespace.as_deref(), name) {
                Some(obj) if table => json_response(StatusCode::OK, store::table(target.res, &[obj])),
                Some(obj) => json_response(StatusCode::OK, obj),
                None => not_found(target.res, name),
            },
            (Method::POST, None, _) => {
                let Some(body) = read_json(req).await else { return status(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON") };
                match self.store.create(target.res, target.namespace.as_deref(), body) {
                    Ok(obj) => json_response(StatusCode::CREATED, obj),
                    Err(name) => status(StatusCode::CONFLICT, "AlreadyExists", &format!("{} \"{name}\" already exists", target.res.plural)),
                }
            }
            (Method::PUT, Some(name), _) => {
                let Some(body) = read_json(req).await else { return status(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON") };
                match self.store.update(target.res, target.namespace.as_deref(), name, |_| Some(body)) {
                    Some(obj) => json_response(StatusCode::OK, obj),
                    None => not_found(target.res, name),
                }
            }
            (Method::PATCH, Some(name), _) => {
                let ctype = req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let json_patch = ctype.contains("json-patch+json");
                if !ctype.contains("merge-patch") && !json_patch {
                    return status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {ctype})"));
                }
                let Some(patch) = read_json(req).await else { return status(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON") };
                let mut failed = None;
                let updated = self.store.update(target.res, target.namespace.as_deref(), name, |old| {
                    let mut new = old.clone();
                    if json_patch {
                        if let Err(e) = store::json_patch(&mut new, &patch) {
                            failed = Some(e);
                            return None;
                        }
                    } else {
                        store::merge_patch(&mut new, &patch);
                    }
                    Some(new)
                });
                if let Some(e) = failed {
                    return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &e);
                }
                match updated {
                    Some(obj) => json_response(StatusCode::OK, obj),
                    None => not_found(target.res, name),
                }
            }
            (Method::DELETE, Some(name), _) => {
                // `dryRun=All`, in the query or in the DeleteOptions body kubectl sends
                // (`kubectl delete --dry-run=server`): answered as a delete, nothing deleted.
                let in_query = query.iter().any(|(k, v)| k == "dryRun" && v == "All");
                let options = read_json(req).await.unwrap_or_default();
                let in_body = options.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|x| x == "All"));
                if in_query || in_body {
                    return match self.store.get(target.res, target.namespace.as_deref(), name) {
                        Some(obj) => json_response(StatusCode::OK, obj),
                        None => not_found(target.res, name),
                    };
                }
                match self.store.delete(target.res, target.namespace.as_deref(), name) {
                    Some(obj) => json_response(StatusCode::OK, obj),
                    None => not_found(target.res, name),
                }
            }
            _ => status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "the server does not allow this method on the requested resource"),
        }
    }
}

/// `%XX` escapes decoded, as Go's `url.PathUnescape` does; `None` for a malformed escape or
/// a result that is not UTF-8. Written apart from hoop-k8s's own decoder on purpose: this
/// server stands for the real API server in tests, so it must not share the code it checks.
fn percent_decode(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn parse_target(segs: &[&str]) -> Option<Target> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let find = |plural: &str| RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural);
    let owned = |s: &&str| s.to_string();
    match rest {
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.namespaced) => {
            Some(Target { res: find(plural)?, namespace: Some(ns.to_string()), name: tail.first().map(owned), sub: tail.get(1).map(owned) })
        }
        [plural, tail @ ..] => {
            Some(Target { res: find(plural)?, namespace: None, name: tail.first().map(owned), sub: tail.get(1).map(owned) })
        }
        _ => None,
    }
}

async fn read_json(req: Request<hyper::body::Incoming>) -> Option<Value> {
    use http_body_util::BodyExt;
    let bytes = http_body_util::Limited::new(req.into_body(), 8 << 20).collect().await.ok()?.to_bytes();
    serde_json::from_slice(&bytes).ok()
}

fn json_response(code: StatusCode, v: Value) -> Response<Body> {
    let mut r = Response::new(full(v.to_string()));
    *r.status_mut() = code;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

fn not_found(res: &Resource, name: &str) -> Response<Body> {
    let mut v = status_value(StatusCode::NOT_FOUND, "NotFound", &format!("{} \"{name}\" not found", res.plural));
    v["details"] = json!({"name": name, "group": res.group, "kind": res.plural});
    json_response(StatusCode::NOT_FOUND, v)
}

fn status_value(code: StatusCode, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code.as_u16()})
}

/// A Kubernetes `Status` failure response.
fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    json_response(code, status_value(code, reason, message))
}
