//! Objects in memory, with resource versions, a watch event log, Tables and pod logs.

use super::body::{Body, channel};
use hyper::Response;
use hyper::body::Bytes;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// One served resource type.
#[derive(Debug)]
pub(crate) struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static [&'static str],
}

impl Resource {
    fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
}

/// Every resource type this server knows.
pub(crate) static RESOURCES: &[Resource] = &[
    Resource { group: "", version: "v1", plural: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, short: &["ns"] },
    Resource { group: "", version: "v1", plural: "pods", singular: "pod", kind: "Pod", namespaced: true, short: &["po"] },
    Resource { group: "", version: "v1", plural: "secrets", singular: "secret", kind: "Secret", namespaced: true, short: &[] },
    Resource { group: "", version: "v1", plural: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, short: &["cm"] },
    Resource { group: "apps", version: "v1", plural: "deployments", singular: "deployment", kind: "Deployment", namespaced: true, short: &["deploy"] },
    Resource { group: "", version: "v1", plural: "services", singular: "service", kind: "Service", namespaced: true, short: &["svc"] },
    Resource {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short: &[],
    },
];

type Key = (&'static str, String, String);

#[derive(Clone, Debug)]
struct WatchEvent {
    rv: u64,
    plural: &'static str,
    namespace: String,
    name: String,
    kind: &'static str,
    object: Value,
}

struct Inner {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    log: Vec<WatchEvent>,
    impersonated: Vec<String>,
}

/// The object store.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<WatchEvent>,
}

fn res(plural: &str) -> &'static Resource {
    RESOURCES.iter().find(|r| r.plural == plural).unwrap_or(&RESOURCES[0])
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Store {
    /// A store with the `default` and `kube-system` namespaces and `pods` pods in `default`.
    pub(crate) fn new(pods: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let store = Store { inner: Mutex::new(Inner { objects: BTreeMap::new(), rv: 1, log: Vec::new(), impersonated: Vec::new() }), tx };
        let ns = res("namespaces");
        for name in ["default", "kube-system"] {
            let _ = store.create(ns, None, json!({"metadata": {"name": name}}));
        }
        let pod = res("pods");
        for i in 0..pods {
            let _ = store.create(
                pod,
                Some("default"),
                json!({"metadata": {"name": format!("pod-{i}"), "labels": {"app": "web"}},
                       "spec": {"containers": [{"name": "app", "image": "registry.example/web:1.0"}]}}),
            );
        }
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn note_impersonation(&self, user: &str) {
        self.lock().impersonated.push(user.to_string());
    }

    pub(crate) fn impersonated(&self) -> Vec<String> {
        self.lock().impersonated.clone()
    }

    fn emit(&self, inner: &mut Inner, kind: &'static str, r: &'static Resource, ns: &str, name: &str, object: Value) {
        let e = WatchEvent { rv: inner.rv, plural: r.plural, namespace: ns.into(), name: name.into(), kind, object };
        inner.log.push(e.clone());
        let _ = self.tx.send(e);
    }

    pub(crate) fn get(&self, r: &'static Resource, ns: Option<&str>, name: &str) -> Option<Value> {
        self.lock().objects.get(&(r.plural, ns.unwrap_or("").to_string(), name.to_string())).cloned()
    }

    pub(crate) fn create(&self, r: &'static Resource, ns: Option<&str>, mut obj: Value) -> Result<Value, String> {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = if r.namespaced { ns.or(obj["metadata"]["namespace"].as_str()).unwrap_or("default").to_string() } else { String::new() };
        let mut inner = self.lock();
        let key = (r.plural, ns.clone(), name.clone());
        if inner.objects.contains_key(&key) {
            return Err(name);
        }
        inner.rv += 1;
        obj["kind"] = json!(r.kind);
        obj["apiVersion"] = json!(r.api_version());
        let md = &mut obj["metadata"];
        if r.namespaced {
            md["namespace"] = json!(ns);
        }
        md["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", inner.rv));
        md["resourceVersion"] = json!(inner.rv.to_string());
        md["creationTimestamp"] = json!(now());
        defaults(r, &mut obj);
        inner.objects.insert(key, obj.clone());
        self.emit(&mut inner, "ADDED", r, &ns, &name, obj.clone());
        Ok(obj)
    }

    pub(crate) fn update(&self, r: &'static Resource, ns: Option<&str>, name: &str, f: impl FnOnce(&Value) -> Option<Value>) -> Option<Value> {
        let ns = ns.unwrap_or("").to_string();
        let mut inner = self.lock();
        let key = (r.plural, ns.clone(), name.to_string());
        let old = inner.objects.get(&key)?.clone();
        let mut obj = f(&old)?;
        inner.rv += 1;
        // Identity and server-owned fields stay the server's.
        obj["kind"] = json!(r.kind);
        obj["apiVersion"] = json!(r.api_version());
        for k in ["name", "namespace", "uid", "creationTimestamp"] {
            if !old["metadata"][k].is_null() {
                obj["metadata"][k] = old["metadata"][k].clone();
            }
        }
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        defaults(r, &mut obj);
        inner.objects.insert(key, obj.clone());
        self.emit(&mut inner, "MODIFIED", r, &ns, name, obj.clone());
        Some(obj)
    }

    pub(crate) fn delete(&self, r: &'static Resource, ns: Option<&str>, name: &str) -> Option<Value> {
        let ns = ns.unwrap_or("").to_string();
        let mut inner = self.lock();
        let obj = inner.objects.remove(&(r.plural, ns.clone(), name.to_string()))?;
        inner.rv += 1;
        if r.plural == "namespaces" {
            let doomed: Vec<Key> = inner.objects.keys().filter(|k| k.1 == name).cloned().collect();
            for k in doomed {
                if let Some(o) = inner.objects.remove(&k) {
                    let (plural, kns, kname) = k;
                    self.emit(&mut inner, "DELETED", res(plural), &kns, &kname, o);
                }
            }
        }
        self.emit(&mut inner, "DELETED", r, &ns, name, obj.clone());
        Some(obj)
    }

    fn matching(&self, inner: &Inner, r: &'static Resource, ns: Option<&str>, selector: Option<&str>) -> Vec<Value> {
        inner
            .objects
            .iter()
            .filter(|((p, kns, kname), _)| *p == r.plural && ns.is_none_or(|n| n == kns) && selects(selector, kname, kns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A list, or one page of it: as the API server does, at most `limit` objects, and a
    /// `metadata.continue` token (the last key returned) to ask for the next page with.
    /// `Err` for a token this store did not issue.
    pub(crate) fn list(&self, r: &'static Resource, ns: Option<&str>, selector: Option<&str>, as_table: bool, page: Page<'_>) -> Result<Value, String> {
        use base64::Engine;
        let after = match page.continue_from {
            None | Some("") => None,
            Some(token) => {
                let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok().and_then(|k| String::from_utf8(k).ok());
                Some(key.ok_or("the continue token is not valid")?)
            }
        };
        let inner = self.lock();
        let mut items = self.matching(&inner, r, ns, selector);
        let rv = inner.rv.to_string();
        drop(inner);
        if let Some(after) = &after {
            // Keys are (namespace, name) in order, the order `matching` returns them in.
            items.retain(|o| key_of(o).as_str() > after.as_str());
        }
        let mut meta = json!({"resourceVersion": rv});
        if let Some(limit) = page.limit.filter(|l| *l > 0 && *l < items.len()) {
            let remaining = items.len() - limit;
            items.truncate(limit);
            let last = items.last().map(key_of).unwrap_or_default();
            meta["continue"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last));
            meta["remainingItemCount"] = json!(remaining);
        }
        if as_table {
            let mut t = table(r, &items);
            t["metadata"] = meta;
            return Ok(t);
        }
        // As the API server does, list items carry no kind or apiVersion of their own.
        let items: Vec<Value> = items
            .into_iter()
            .map(|mut o| {
                if let Some(m) = o.as_object_mut() {
                    m.remove("kind");
                    m.remove("apiVersion");
                }
                o
            })
            .collect();
        Ok(json!({"kind": format!("{}List", r.kind), "apiVersion": r.api_version(), "metadata": meta, "items": items}))
    }

    pub(crate) fn watch(&self, r: &'static Resource, ns: Option<&str>, selector: Option<&str>, since: Option<&str>, as_table: bool) -> Response<Body> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
        let ns = ns.map(str::to_string);
        let selector = selector.map(str::to_string);
        let inner = self.lock();
        let mut live = self.tx.subscribe();
        let since: u64 = since.and_then(|s| s.parse().ok()).unwrap_or(0);
        let backlog: Vec<(String, Value)> = if since > 0 {
            inner
                .log
                .iter()
                .filter(|e| e.rv > since && e.plural == r.plural && ns.as_deref().is_none_or(|n| n == e.namespace) && selects(selector.as_deref(), &e.name, &e.namespace))
                .map(|e| (e.kind.to_string(), e.object.clone()))
                .collect()
        } else {
            self.matching(&inner, r, ns.as_deref(), selector.as_deref()).into_iter().map(|o| ("ADDED".to_string(), o)).collect()
        };
        drop(inner);
        let line = move |kind: &str, obj: Value| {
            let object = if as_table { table(r, &[obj]) } else { obj };
            let mut s = json!({"type": kind, "object": object}).to_string();
            s.push('\n');
            Bytes::from(s)
        };
        tokio::spawn(async move {
            for (kind, obj) in backlog {
                if tx.send(line(&kind, obj)).await.is_err() {
                    return;
                }
            }
            loop {
                match live.recv().await {
                    Ok(e) => {
                        if e.plural == r.plural
                            && ns.as_deref().is_none_or(|n| n == e.namespace)
                            && selects(selector.as_deref(), &e.name, &e.namespace)
                            && tx.send(line(e.kind, e.object)).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        });
        let mut resp = Response::new(channel(rx));
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
        resp
    }

    /// A pod's log: its `harness/log` annotation (or a default line), then, when following,
    /// three more lines 200 ms apart, as a container that writes and exits; with `limit`, its
    /// first that many bytes only.
    pub(crate) fn logs(&self, ns: &str, name: &str, follow: bool, limit: Option<usize>) -> Response<Body> {
        let Some(pod) = self.get(res("pods"), Some(ns), name) else {
            return super::status(hyper::StatusCode::NOT_FOUND, "NotFound", &format!("pods \"{name}\" not found"));
        };
        let mut text = pod["metadata"]["annotations"]["harness/log"].as_str().map(str::to_string).unwrap_or_else(|| format!("started {name}\n")).into_bytes();
        if let Some(limit) = limit {
            text.truncate(limit);
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        tokio::spawn(async move {
            if tx.send(Bytes::from(text)).await.is_err() || !follow || limit.is_some() {
                return;
            }
            for i in 0..3 {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                if tx.send(Bytes::from(format!("follow {i}: contact ops{i}@corp.example\n"))).await.is_err() {
                    return;
                }
            }
        });
        let mut resp = Response::new(channel(rx));
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
        resp
    }
}

/// Which page of a list: `limit` and `continue` as the client sent them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Page<'a> {
    pub(crate) limit: Option<usize>,
    pub(crate) continue_from: Option<&'a str>,
}

/// An object's place in a list: its namespace and name, NUL-separated (neither holds a NUL).
fn key_of(o: &Value) -> String {
    format!("{}\0{}", o["metadata"]["namespace"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""))
}

fn selects(selector: Option<&str>, name: &str, ns: &str) -> bool {
    let Some(sel) = selector.filter(|s| !s.is_empty()) else { return true };
    sel.split(',').all(|term| {
        let (k, v) = term.split_once("==").or_else(|| term.split_once('=')).unwrap_or((term, ""));
        match k {
            "metadata.name" => v == name,
            "metadata.namespace" => v == ns,
            _ => true,
        }
    })
}

/// Server-side defaults and conversions: status for pods, deployments and namespaces, and
/// `stringData` folded into `data` for Secrets.
fn defaults(r: &Resource, obj: &mut Value) {
    match r.kind {
        "Pod" => {
            let containers: Vec<Value> = obj["spec"]["containers"]
                .as_array()
                .map(|cs| cs.iter().map(|c| json!({"name": c["name"], "image": c["image"], "ready": true, "restartCount": 0, "started": true, "state": {"running": {"startedAt": now()}}})).collect())
                .unwrap_or_default();
            obj["status"] = json!({"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": containers});
        }
        "Deployment" => {
            let n = obj["spec"]["replicas"].as_u64().unwrap_or(1);
            obj["status"] = json!({"replicas": n, "readyReplicas": n, "updatedReplicas": n, "availableReplicas": n});
        }
        "Namespace" => obj["status"] = json!({"phase": "Active"}),
        "Secret" => {
            use base64::Engine;
            if let Some(sd) = obj.get("stringData").and_then(Value::as_object).cloned() {
                for (k, v) in sd {
                    obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or("")));
                }
                if let Some(m) = obj.as_object_mut() {
                    m.remove("stringData");
                }
            }
            if obj["type"].is_null() {
                obj["type"] = json!("Opaque");
            }
        }
        _ => {}
    }
}

/// A `meta.k8s.io/v1` Table of `objects`, as `kubectl get` asks for.
pub(crate) fn table(r: &Resource, objects: &[Value]) -> Value {
    let col = |name: &str, ty: &str| json!({"name": name, "type": ty, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": 0});
    type Cells = Box<dyn Fn(&Value) -> Vec<Value>>;
    let (columns, cells): (Vec<Value>, Cells) = match r.kind {
        "Pod" => (
            vec![col("Name", "string"), col("Ready", "string"), col("Status", "string"), col("Restarts", "string"), col("Age", "string")],
            Box::new(|o: &Value| vec![o["metadata"]["name"].clone(), json!("1/1"), o["status"]["phase"].clone(), json!("0"), json!("1m")]),
        ),
        "Secret" => (
            vec![col("Name", "string"), col("Type", "string"), col("Data", "integer"), col("Age", "string")],
            Box::new(|o: &Value| vec![o["metadata"]["name"].clone(), o["type"].clone(), json!(o["data"].as_object().map_or(0, |m| m.len())), json!("1m")]),
        ),
        "ConfigMap" => (
            vec![col("Name", "string"), col("Data", "integer"), col("Age", "string")],
            Box::new(|o: &Value| vec![o["metadata"]["name"].clone(), json!(o["data"].as_object().map_or(0, |m| m.len())), json!("1m")]),
        ),
        "Deployment" => (
            vec![col("Name", "string"), col("Ready", "string"), col("Up-to-date", "integer"), col("Available", "integer"), col("Age", "string")],
            Box::new(|o: &Value| {
                let n = o["status"]["replicas"].as_u64().unwrap_or(0);
                vec![o["metadata"]["name"].clone(), json!(format!("{n}/{n}")), json!(n), json!(n), json!("1m")]
            }),
        ),
        _ => (
            vec![col("Name", "string"), col("Status", "string"), col("Age", "string")],
            Box::new(|o: &Value| vec![o["metadata"]["name"].clone(), o["status"]["phase"].clone(), json!("1m")]),
        ),
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({"cells": cells(o), "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows})
}

/// Applies a JSON merge patch (RFC 7386); strategic-merge directives (`$...` keys) are dropped
/// and lists replaced whole, which is what kubectl's patches for these kinds need here.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Some(t) = target.as_object_mut() else { return };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Applies a JSON patch (RFC 6902: add, remove, replace, move, copy, test), as the API server
/// does for `application/json-patch+json`; `Err` names the first operation that fails.
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("a JSON patch is an array of operations")?;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).ok_or("an operation without op")?;
        let path = op.get("path").and_then(Value::as_str).ok_or("an operation without path")?;
        let from = op.get("from").and_then(Value::as_str);
        match kind {
            "add" | "replace" => put(target, path, op.get("value").cloned().ok_or("no value")?, kind == "add")?,
            "remove" => {
                take(target, path)?;
            }
            "copy" => {
                let v = target.pointer(from.ok_or("no from")?).cloned().ok_or("from does not exist")?;
                put(target, path, v, true)?;
            }
            "move" => {
                let v = take(target, from.ok_or("no from")?)?;
                put(target, path, v, true)?;
            }
            "test" => {
                if target.pointer(path) != op.get("value") {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unknown operation {other}")),
        }
    }
    Ok(())
}

fn split(path: &str) -> Result<(&str, String), String> {
    let (parent, last) = path.rsplit_once('/').ok_or(format!("bad path {path}"))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn put(target: &mut Value, path: &str, v: Value, add: bool) -> Result<(), String> {
    let (parent, key) = split(path)?;
    match target.pointer_mut(parent).ok_or(format!("{parent} does not exist"))? {
        Value::Object(m) => {
            if !add && !m.contains_key(&key) {
                return Err(format!("{path} does not exist"));
            }
            m.insert(key, v);
        }
        Value::Array(a) if key == "-" => a.push(v),
        Value::Array(a) => {
            let i: usize = key.parse().map_err(|_| format!("bad index {key}"))?;
            if i > a.len() {
                return Err(format!("{path} is out of range"));
            }
            if add { a.insert(i, v) } else if let Some(x) = a.get_mut(i) { *x = v }
        }
        _ => return Err(format!("{parent} holds no fields")),
    }
    Ok(())
}

fn take(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = split(path)?;
    match target.pointer_mut(parent).ok_or(format!("{parent} does not exist"))? {
        Value::Object(m) => m.remove(&key).ok_or(format!("{path} does not exist")),
        Value::Array(a) => {
            let i: usize = key.parse().map_err(|_| format!("bad index {key}"))?;
            (i < a.len()).then(|| a.remove(i)).ok_or(format!("{path} is out of range"))
        }
        _ => Err(format!("{parent} holds no fields")),
    }
}
