//! Where API responses are masked: `Secret` values in every response shape (single object,
//! `SecretList`, watch events, `Table` rows, and copies inside the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation), and fields configured by
//! masking rules (e.g. ConfigMap keys, container env values) for any resource.
//!
//! Field rules use the masking column syntax with the API group as schema, the resource
//! (plural) as table and the field's dotted path (list levels skipped) as column, e.g.
//! `{ table = "pods", column = "spec.containers.env.value" }`. A `data.<key>` or
//! `stringData.<key>` field also matches a rule for `<key>` alone, so the default rules for
//! `password` or `api_key` cover ConfigMap keys of those names.

use base64::Engine;
use hoop_core::mask::{ColumnRef, Masker};
use serde_json::Value;

/// The annotation in which `kubectl apply` keeps a full copy of the applied object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What a response is about: the request's target, API group and resource.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// Target name.
    pub target: &'a str,
    /// API group of the request.
    pub group: &'a str,
    /// Resource (plural) of the request.
    pub resource: &'a str,
}

/// Whether `body` (a JSON response for `scope`) could hold anything to mask, decided without
/// parsing it: a Secret, a copy of an applied object, or a field some rule could name. Most
/// responses (pods, deployments, discovery) then pass without a parse.
pub fn may_need_masking(m: &Masker, scope: Scope<'_>, body: &[u8]) -> bool {
    if !m.is_enabled() {
        return false;
    }
    // Built once: a finder's set-up costs more than a search of a typical object.
    static FINDERS: std::sync::OnceLock<[memchr::memmem::Finder<'static>; 5]> = std::sync::OnceLock::new();
    let [secret, applied, data, string_data, binary_data] = FINDERS.get_or_init(|| {
        [b"Secret".as_slice(), LAST_APPLIED.as_bytes(), b"\"data\"", b"\"stringData\"", b"\"binaryData\""].map(memchr::memmem::Finder::new)
    });
    let has = |f: &memchr::memmem::Finder<'static>| f.find(body).is_some();
    if scope.resource == "secrets" || has(secret) || has(applied) {
        return true;
    }
    let rules = m.column_rules().iter().filter(|r| {
        let part = |rule: &str, v: &str| rule == "*" || rule.is_empty() || rule.eq_ignore_ascii_case(v);
        part(&r.target, scope.target) && part(&r.schema, scope.group) && part(&r.table, scope.resource)
    });
    let mut keyed_only = true;
    for r in rules {
        // A bare name matches `data.<name>` keys only; a path can match anywhere.
        if r.column.contains('.') || r.column == "*" {
            keyed_only = false;
        }
        if keyed_only && (has(data) || has(string_data) || has(binary_data)) {
            return true;
        }
    }
    !keyed_only
}

/// Masks one JSON document (object, list, Table, watch event, Status) in place; returns
/// whether anything was replaced.
pub fn mask_document(m: &Masker, scope: Scope<'_>, doc: &mut Value) -> bool {
    if !m.is_enabled() {
        return false;
    }
    let mut changed = false;
    mask_value(m, scope, doc, None, &mut changed);
    changed
}

/// `kind_hint`: the kind of items of a typed list, whose items carry no `kind` of their own.
fn mask_value(m: &Masker, scope: Scope<'_>, v: &mut Value, kind_hint: Option<&str>, changed: &mut bool) {
    let Some(obj) = v.as_object_mut() else { return };
    let kind = obj.get("kind").and_then(Value::as_str).map(str::to_string).or_else(|| kind_hint.map(str::to_string)).unwrap_or_default();
    match kind.as_str() {
        "Table" => {
            if let Some(rows) = obj.get_mut("rows").and_then(Value::as_array_mut) {
                for row in rows {
                    if let Some(o) = row.get_mut("object") {
                        mask_value(m, scope, o, None, changed);
                    }
                }
            }
        }
        k if k.ends_with("List") && obj.contains_key("items") => {
            let item_kind = k.strip_suffix("List").unwrap_or_default().to_string();
            if let Some(items) = obj.get_mut("items").and_then(Value::as_array_mut) {
                for item in items {
                    mask_value(m, scope, item, Some(&item_kind), changed);
                }
            }
        }
        // A watch event: {"type": "ADDED", "object": {...}}.
        "" if obj.contains_key("type") && obj.contains_key("object") => {
            if let Some(o) = obj.get_mut("object") {
                mask_value(m, scope, o, None, changed);
            }
        }
        _ => mask_object(m, scope, obj, &kind, changed),
    }
}

fn mask_object(m: &Masker, scope: Scope<'_>, obj: &mut serde_json::Map<String, Value>, kind: &str, changed: &mut bool) {
    if kind == "Secret" {
        for (field, encoded) in [("data", true), ("stringData", false)] {
            if let Some(map) = obj.get_mut(field).and_then(Value::as_object_mut) {
                for (key, val) in map.iter_mut() {
                    let Some(s) = val.as_str() else { continue };
                    let raw = if encoded { base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_else(|_| s.as_bytes().to_vec()) } else { s.as_bytes().to_vec() };
                    if let Some(r) = m.mask_whole(key, &raw) {
                        // `data` stays valid base64: typed clients decode it.
                        let text = if encoded { base64::engine::general_purpose::STANDARD.encode(&r) } else { String::from_utf8_lossy(&r).into_owned() };
                        *val = Value::String(text);
                        *changed = true;
                    }
                }
            }
        }
    }
    let annotations = obj.get_mut("metadata").and_then(|md| md.get_mut("annotations")).and_then(Value::as_object_mut);
    if let Some(copy) = annotations.and_then(|a| a.get_mut(LAST_APPLIED)) {
        let masked = copy.as_str().and_then(|s| serde_json::from_str::<Value>(s).ok()).map(|mut inner| {
            let mut c = false;
            mask_value(m, scope, &mut inner, Some(kind), &mut c);
            (inner, c)
        });
        match masked {
            Some((inner, true)) => {
                *copy = Value::String(inner.to_string());
                *changed = true;
            }
            Some((_, false)) => {}
            // Unreadable: it may hold anything, so it does not leave whole.
            None => {
                *copy = Value::String(String::from_utf8_lossy(&m.mask_whole("last-applied-configuration", b"").unwrap_or_default()).into_owned());
                *changed = true;
            }
        }
    }
    let mut path = String::new();
    for (key, val) in obj.iter_mut() {
        // A Secret's values are masked whole above, keeping `data` base64.
        if key == "kind" || key == "apiVersion" || (kind == "Secret" && (key == "data" || key == "stringData")) {
            continue;
        }
        fields(m, scope, key, val, &mut path, changed);
    }
}

/// Applies field rules to every string leaf under `key`.
fn fields(m: &Masker, scope: Scope<'_>, key: &str, v: &mut Value, path: &mut String, changed: &mut bool) {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                fields(m, scope, k, child, path, changed);
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                // List levels are skipped: `spec.containers.env.value`.
                let inner_len = path.len();
                if let Value::Object(map) = item {
                    for (k, child) in map.iter_mut() {
                        fields(m, scope, k, child, path, changed);
                    }
                } else if let Value::String(_) = item {
                    mask_leaf(m, scope, path, key, item, changed);
                }
                path.truncate(inner_len);
            }
        }
        Value::String(_) => mask_leaf(m, scope, path, key, v, changed),
        _ => {}
    }
    path.truncate(len);
}

fn mask_leaf(m: &Masker, scope: Scope<'_>, path: &str, key: &str, v: &mut Value, changed: &mut bool) {
    fn column<'c>(scope: &Scope<'c>, c: &'c str) -> ColumnRef<'c> {
        ColumnRef { target: scope.target, schema: scope.group, table: scope.resource, column: c }
    }
    let parent_star = path.rsplit_once('.').map(|(p, _)| format!("{p}.*"));
    let keyed = path.starts_with("data.") || path.starts_with("stringData.") || path.starts_with("binaryData.");
    let rule = m
        .column_rule(&column(&scope, path))
        .or_else(|| parent_star.as_deref().and_then(|p| m.column_rule(&column(&scope, p))))
        .or_else(|| if keyed { m.column_rule(&column(&scope, key)) } else { None });
    let (Some(rule), Some(s)) = (rule, v.as_str()) else { return };
    if let hoop_core::mask::Masked::Value(r) = m.mask_value(Some(&rule), hoop_core::mask::ValueKind::Text, s.as_bytes()) {
        // `binaryData` must stay base64.
        let text = if path.starts_with("binaryData.") { base64::engine::general_purpose::STANDARD.encode(&r) } else { String::from_utf8_lossy(&r).into_owned() };
        *v = Value::String(text);
        *changed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoop_core::mask::MaskConfig;
    use serde_json::json;

    fn masker() -> Masker {
        let mut cfg = MaskConfig::default();
        cfg.column_rules.push(hoop_core::mask::ColumnRule {
            target: "*".into(),
            schema: "*".into(),
            table: "pods".into(),
            column: "spec.containers.env.value".into(),
            mode: None,
        });
        Masker::new(&cfg, None).unwrap()
    }

    const SCOPE: Scope<'static> = Scope { target: "k", group: "", resource: "secrets" };

    fn secret() -> Value {
        let applied = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "hunter2"}});
        json!({"kind": "Secret", "apiVersion": "v1",
               "metadata": {"name": "db", "annotations": {LAST_APPLIED: applied.to_string()}},
               "data": {"password": "aHVudGVyMg=="}})
    }

    fn leaks(v: &Value) -> bool {
        let s = v.to_string();
        s.contains("hunter2") || s.contains("aHVudGVyMg")
    }

    #[test]
    fn secrets_in_every_shape() {
        let m = masker();
        let mut one = secret();
        assert!(mask_document(&m, SCOPE, &mut one));
        assert!(!leaks(&one), "{one}");
        let decoded = base64::engine::general_purpose::STANDARD.decode(one["data"]["password"].as_str().unwrap()).unwrap();
        assert_eq!(decoded, b"[REDACTED:password]");

        let mut item = secret();
        item.as_object_mut().unwrap().remove("kind");
        let mut list = json!({"kind": "SecretList", "apiVersion": "v1", "items": [item]});
        mask_document(&m, SCOPE, &mut list);
        assert!(!leaks(&list), "{list}");

        let mut event = json!({"type": "MODIFIED", "object": secret()});
        mask_document(&m, SCOPE, &mut event);
        assert!(!leaks(&event), "{event}");

        let mut table = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "rows": [{"cells": ["db"], "object": secret()}]});
        mask_document(&m, SCOPE, &mut table);
        assert!(!leaks(&table), "{table}");
    }

    #[test]
    fn parse_skipped_only_when_nothing_can_match() {
        let m = masker();
        let pods = Scope { target: "k", group: "", resource: "pods" };
        let cms = Scope { target: "k", group: "", resource: "configmaps" };
        let deploys = Scope { target: "k", group: "apps", resource: "deployments" };
        // A path rule for pods: pods are always parsed.
        assert!(may_need_masking(&m, pods, br#"{"kind":"Pod"}"#));
        assert!(!may_need_masking(&m, deploys, br#"{"kind":"Deployment","spec":{}}"#));
        assert!(may_need_masking(&m, deploys, br#"{"kind":"List","items":[{"kind":"Secret"}]}"#));
        assert!(may_need_masking(&m, cms, br#"{"kind":"ConfigMap","data":{"password":"x"}}"#));
        assert!(!may_need_masking(&m, cms, br#"{"kind":"ConfigMap","metadata":{}}"#));
        assert!(may_need_masking(&m, SCOPE, br#"{"kind":"Status"}"#));
    }

    #[test]
    fn configured_fields_and_keyed_data() {
        let m = masker();
        let scope = Scope { target: "k", group: "", resource: "pods" };
        let mut pod = json!({"kind": "Pod", "spec": {"containers": [{"name": "app", "env": [{"name": "DB_PASS", "value": "s3cret"}]}]}});
        assert!(mask_document(&m, scope, &mut pod));
        assert!(!pod.to_string().contains("s3cret"), "{pod}");
        assert_eq!(pod["spec"]["containers"][0]["name"], "app");

        let scope = Scope { target: "k", group: "", resource: "configmaps" };
        let mut cm = json!({"kind": "ConfigMap", "metadata": {"name": "password"}, "data": {"password": "pw1", "mode": "fast"}});
        mask_document(&m, scope, &mut cm);
        assert!(!cm.to_string().contains("pw1"), "{cm}");
        assert_eq!(cm["data"]["mode"], "fast");
        assert_eq!(cm["metadata"]["name"], "password", "only data keys match bare names");

        let mut plain = json!({"kind": "Pod", "metadata": {"name": "web"}});
        assert!(!mask_document(&m, scope, &mut plain));
    }
}
