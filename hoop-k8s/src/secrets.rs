//! The values of a namespace's Secrets, read through the gateway's own credentials, so that a
//! response masks them wherever they were copied (mask by lineage, not only by shape).
//!
//! A Secret is masked whole when read as a Secret; its values also reach plain env entries,
//! annotations and ConfigMaps (an operator or a chart copies them), a container's output and
//! its logs, where they have no name or shape to tell them by (red-team round 90: a Secret's
//! password in a plain `APP_SETTING` env entry came back in clear). The masker of every
//! response in a namespace searches for that namespace's values (every namespace's, for
//! cluster-wide requests). The list is cached a few seconds per namespace; when it cannot be
//! read, the request is refused: hoop would not know what to mask.

use hoop_core::mask::{KnownValues, Masker};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a namespace's values are used before they are read again.
const FRESH: Duration = Duration::from_secs(10);
/// Namespaces (per target) whose values are kept.
const MAX_CACHED: usize = 256;
/// The Secret list read at most.
const MAX_LIST: usize = 64 << 20;
/// Values shorter than this are masked only under a name that says they are credentials: a
/// Secret's `username: postgres` or `port: 5432` would otherwise mask ordinary words.
const MIN_UNNAMED: usize = 16;

/// The rule name of a refusal for want of the Secrets' values.
pub(crate) const RULE: &str = "hoop-secret-values";

/// One namespace's values, and the masker made with them from the gateway's.
struct Entry {
    read_at: Instant,
    known: Arc<KnownValues>,
    /// `(base, with the values)`: a masker is made once per base and reading (its automata's
    /// caches warm up across requests), again when the configuration is reloaded.
    masker: (Arc<Masker>, Arc<Masker>),
}

/// Recently read Secret values, per target and namespace (`""`: every namespace).
#[derive(Default)]
pub(crate) struct SecretValues {
    cached: Mutex<HashMap<(String, String), Entry>>,
}

impl SecretValues {
    /// `base`, also masking the values of the Secrets in `namespace` (every namespace's when
    /// empty) of `target`; an error says why they could not be read.
    pub(crate) async fn masker(&self, target_name: &str, target: &crate::upstream::K8sTarget, namespace: &str, base: &Arc<Masker>) -> Result<Arc<Masker>, String> {
        let key = (target_name.to_string(), namespace.to_string());
        {
            let mut cached = self.lock();
            if let Some(e) = cached.get_mut(&key).filter(|e| e.read_at.elapsed() < FRESH) {
                if !Arc::ptr_eq(&e.masker.0, base) {
                    e.masker = (base.clone(), with(base, &e.known));
                }
                return Ok(e.masker.1.clone());
            }
        }
        let known = Arc::new(read(target, namespace, base).await?);
        let masker = with(base, &known);
        let mut cached = self.lock();
        if cached.len() >= MAX_CACHED && !cached.contains_key(&key) {
            let oldest = cached.iter().min_by_key(|(_, e)| e.read_at).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                cached.remove(&k);
            }
        }
        cached.insert(key, Entry { read_at: Instant::now(), known, masker: (base.clone(), masker.clone()) });
        Ok(masker)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `base` searching for `known` too (itself when there are none).
fn with(base: &Arc<Masker>, known: &Arc<KnownValues>) -> Arc<Masker> {
    if known.is_empty() { base.clone() } else { Arc::new(base.with_known(known.clone())) }
}

/// Whether a request's response may carry values copied from Secrets: everything but a Secret
/// itself (masked whole) and discovery (`/api`, `/version`), which names no resource.
pub(crate) fn applies(k8s: &hoop_core::action::K8s) -> bool {
    let secret_itself = k8s.group.is_empty() && k8s.resource == "secrets" && k8s.subresource.is_empty();
    !k8s.resource.is_empty() && !secret_itself
}

/// The Secrets of `namespace` (all, when empty), read as the gateway.
async fn read(target: &crate::upstream::K8sTarget, namespace: &str, m: &Masker) -> Result<KnownValues, String> {
    let what = if namespace.is_empty() { "every namespace".to_string() } else { format!("namespace {namespace}") };
    let why = |e: String| format!("the Secrets of {what} could not be read to mask their values ({e})");
    let path = if namespace.is_empty() { "/api/v1/secrets".to_string() } else { format!("/api/v1/namespaces/{namespace}/secrets") };
    let mut upstream = target.connect().await.map_err(|e| why(e.to_string()))?;
    let resp = upstream.send_request(target.own_request(&hyper::Method::GET, &path)).await.map_err(|e| why(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(why(format!("the API server answered {}", resp.status())));
    }
    let body = http_body_util::Limited::new(resp.into_body(), MAX_LIST).collect().await.map_err(|e| why(e.to_string()))?.to_bytes();
    let list: serde_json::Value = serde_json::from_slice(&body).map_err(|e| why(e.to_string()))?;
    KnownValues::new(values_of(m, &list)).map_err(|e| why(e.to_string()))
}

/// The values of a Secret list worth searching for: each value named like a credential, or
/// long enough not to be an ordinary word, whole, trimmed, line by line and in base64;
/// certificates (public) left out.
fn values_of(m: &Masker, list: &serde_json::Value) -> Vec<Vec<u8>> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    let items = list.get("items").and_then(|i| i.as_array()).map(Vec::as_slice).unwrap_or_default();
    for item in items {
        let Some(data) = item.get("data").and_then(|d| d.as_object()) else { continue };
        for (key, v) in data {
            let Some(value) = v.as_str().and_then(|s| b64.decode(s).ok()) else { continue };
            if is_certificate(key, &value) {
                continue;
            }
            let named = crate::mask::is_credential_name(m, key);
            let worth = |v: &[u8]| v.len() >= MIN_UNNAMED || (named && v.len() >= hoop_core::mask::known::MIN_LEN);
            let trimmed = value.trim_ascii();
            for v in [&value[..], trimmed] {
                if worth(v) {
                    out.push(v.to_vec());
                    out.push(b64.encode(v).into_bytes());
                    out.extend(json_escaped(v));
                }
            }
            if trimmed.contains(&b'\n') {
                out.extend(trimmed.split(|b| *b == b'\n').map(<[u8]>::trim_ascii).filter(|l| l.len() >= MIN_UNNAMED).map(<[u8]>::to_vec));
            }
        }
    }
    out
}

/// `value` as it stands inside a JSON string when escaping changes it (`"`, `\\`, control
/// characters; Go's API server also escapes `<`, `>` and `&`): a response whose raw bytes hold
/// only the escaped form is then still parsed and masked (see `mask::may_need_masking`).
fn json_escaped(value: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(value) else { return Vec::new() };
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    let plain = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_string();
    let go = plain.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    let mut out = Vec::new();
    for e in [plain, go] {
        if e.as_bytes() != value && !out.contains(&e.clone().into_bytes()) {
            out.push(e.into_bytes());
        }
    }
    out
}

/// A public certificate (a TLS Secret's `tls.crt`, a token's `ca.crt`): the same in every
/// namespace's `kube-root-ca.crt` ConfigMap, and nobody's secret.
fn is_certificate(key: &str, value: &[u8]) -> bool {
    let pem = |marker: &[u8]| memchr::memmem::find(value, marker).is_some();
    (key.ends_with(".crt") || key.ends_with("ca-bundle") || pem(b"-----BEGIN CERTIFICATE-----")) && !pem(b"PRIVATE KEY")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_worth_masking() {
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let list = json!({"items": [
            {"data": {"password": e("hunter22"), "username": e("postgres"), "port": e("5432"), "dsn": e("host=db user=app dbname=shop\n")}},
            {"type": "kubernetes.io/tls", "data": {"tls.crt": e("-----BEGIN CERTIFICATE-----\nMIIBxzCCAW2gAwIBAgIUabcdefghijklmnop\n-----END CERTIFICATE-----\n"), "tls.key": e("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n")}},
            {"data": {"broken": "not base64!"}}]});
        let values = values_of(&m, &list);
        let has = |v: &str| values.iter().any(|x| x == v.as_bytes());
        assert!(has("hunter22") && has(&e("hunter22")), "named: masked from 6 bytes");
        assert!(!has("postgres") && !has("5432"), "short and unnamed: ordinary words");
        assert!(has("host=db user=app dbname=shop") && has("host=db user=app dbname=shop\n"));
        assert!(has("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "a private key, line by line");
        assert!(!has("MIIBxzCCAW2gAwIBAgIUabcdefghijklmnop"), "a certificate is public");
        assert_eq!(json_escaped(br#"p"w<d&1"#), [br#"p\"w<d&1"#.to_vec(), br#"p\"w\u003cd\u00261"#.to_vec()]);
        assert!(json_escaped(b"plain-value").is_empty());
        let k = Arc::new(KnownValues::new(values).unwrap());
        let masked = m.with_known(k);
        assert_eq!(masked.mask_text("APP_SETTING=x hunter22 postgres"), "APP_SETTING=x [REDACTED:secret] postgres");
    }
}
