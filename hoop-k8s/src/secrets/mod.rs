//! The values of the cluster's Secrets, read through the gateway's own credentials, so that a
//! response masks them wherever they were copied (mask by lineage, not only by shape).
//!
//! A Secret is masked whole when read as a Secret; its values also reach plain env entries,
//! annotations and ConfigMaps (an operator or a chart copies them, into any namespace), a
//! container's output and its logs, where they have no name or shape to tell them by (red-team
//! round 90: a Secret's password in a plain `APP_SETTING` env entry came back in clear). The
//! masker of every response searches for every namespace's values (red-team round 91: a copy
//! in another namespace than its Secret's), in the spellings copies take. Where the gateway may list Secrets only per
//! namespace, the request's namespace's are searched. The list is read again every few
//! seconds, and a stream that lasts picks up new values as it goes; when it cannot be read, the
//! request (or the stream) is refused: hoop would not know what to mask.
//!
//! - `values.rs`: which values of a Secret list are searched (whole, their lines, the
//!   credentials inside config files and JSON documents);
//! - `shape.rs`: which values are shaped like ordinary words or public addresses, and not searched;
//! - `spellings.rs`: the spellings a value takes when copied (quoted, escaped, encoded).

use hoop_core::mask::{KnownValues, Masker};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod shape;
mod spellings;
mod values;

use values::values_of;

/// How long a namespace's values are used before they are read again.
const FRESH: Duration = Duration::from_secs(10);
/// Namespaces (per target) whose values are kept.
const MAX_CACHED: usize = 256;
/// The Secret list read at most.
const MAX_LIST: usize = 64 << 20;
/// Values longer than this are not searched (a copy of a value this long is a file, not a
/// setting, and its spellings would fill the search).
pub(super) const MAX_VALUE: usize = 64 << 10;
/// Values shorter than this are masked only under a name that says they are credentials: a
/// Secret's `username: postgres` or `port: 5432` would otherwise mask ordinary words.
pub(super) const MIN_UNNAMED: usize = 16;

/// The rule name of a refusal for want of the Secrets' values.
pub(crate) const RULE: &str = "hoop-secret-values";

/// One namespace's values, and the masker made with them from the gateway's.
struct Entry {
    read_at: Instant,
    /// The values, or why the API server refused to list them.
    known: Result<Arc<KnownValues>, String>,
    /// What the values were read from (see `digest_of`): a read that finds the same Secrets
    /// keeps the search instead of building it again.
    digest: Option<Digest>,
    /// `(base, with the values)`: a masker is made once per base and reading (its automata's
    /// caches warm up across requests), again when the configuration is reloaded.
    masker: (Arc<Masker>, Arc<Masker>),
}

/// Recently read Secret values, per target and namespace (`""`: every namespace).
#[derive(Default, Clone)]
pub(crate) struct SecretValues {
    cached: Arc<Mutex<HashMap<(String, String), Entry>>>,
    /// Held while the Secrets are read (see `scoped`).
    reading: Arc<tokio::sync::Mutex<()>>,
}

/// Values older than this (and younger than [`FRESH`]) are read again in the background while
/// they are used, so that under steady traffic no request waits for a read.
const REFRESH_AHEAD: Duration = Duration::from_secs(5);

impl SecretValues {
    /// `base`, also masking the values of every Secret of `target` (those of `namespace` only,
    /// when the gateway may not list them across namespaces); an error says why they could not
    /// be read.
    pub(crate) async fn masker(&self, target_name: &str, target: &Arc<crate::upstream::K8sTarget>, namespace: &str, base: &Arc<Masker>) -> Result<Arc<Masker>, String> {
        match self.scoped(target_name, target, "", base).await {
            Err(Unread::Forbidden(_)) if !namespace.is_empty() => self.scoped(target_name, target, namespace, base).await.map_err(Unread::into_message),
            r => r.map_err(Unread::into_message),
        }
    }

    /// The masker for the Secrets of `namespace` (every namespace's when empty).
    async fn scoped(&self, target_name: &str, target: &Arc<crate::upstream::K8sTarget>, namespace: &str, base: &Arc<Masker>) -> Result<Arc<Masker>, Unread> {
        let key = (target_name.to_string(), namespace.to_string());
        if let Some(fresh) = self.usable(&key, base, REFRESH_AHEAD) {
            return fresh;
        }
        // Fresh still, but getting old: used while one read runs in the background (red-team
        // round 96: a cluster's search took seconds to build after a Secret changed, and every
        // request, `/version` included, waited for it). Values are never used past FRESH.
        if let Some(fresh) = self.usable(&key, base, FRESH) {
            if fresh.is_ok()
                && let Ok(reading) = self.reading.clone().try_lock_owned()
            {
                let (this, target, base, namespace) = (self.clone(), target.clone(), base.clone(), namespace.to_string());
                tokio::spawn(async move {
                    if let Err(e) = this.read_again(key, &target, &namespace, &base).await {
                        tracing::warn!(error = %e.into_message(), "reading the Secrets' values again failed");
                    }
                    drop(reading);
                });
            }
            return fresh;
        }
        // None yet, or past FRESH: one read at a time, and the requests that need it together
        // wait for it rather than each list every Secret and build the search again.
        let _reading = self.reading.lock().await;
        if let Some(fresh) = self.usable(&key, base, FRESH) {
            return fresh;
        }
        self.read_again(key, target, namespace, base).await
    }

    /// Reads the Secrets of `key`'s namespace again (the caller holds `reading`) and keeps what
    /// it found; the masker with their values.
    async fn read_again(&self, key: (String, String), target: &crate::upstream::K8sTarget, namespace: &str, base: &Arc<Masker>) -> Result<Arc<Masker>, Unread> {
        // What the last read found, for the same configuration: kept if the Secrets are the same.
        let last = self.lock().get(&key).and_then(|e| match (&e.known, e.digest) {
            (Ok(k), Some(d)) if Arc::ptr_eq(&e.masker.0, base) => Some((d, k.clone(), e.masker.1.clone())),
            _ => None,
        });
        // A refusal to list is remembered as long as values are (the fallback then asks no
        // more); other failures are asked again next time.
        let (known, digest) = match read(target, namespace, base, last.as_ref().map(|(d, k, _)| (*d, k.clone()))).await {
            Ok((d, k)) => (Ok(k), Some(d)),
            Err(Unread::Forbidden(why)) => (Err(why), None),
            Err(e) => return Err(e),
        };
        let masker = match (&known, &last) {
            (Ok(k), Some((_, lk, lm))) if Arc::ptr_eq(k, lk) => lm.clone(),
            (Ok(k), _) => with(base, k),
            (Err(_), _) => base.clone(),
        };
        let mut cached = self.lock();
        if cached.len() >= MAX_CACHED && !cached.contains_key(&key) {
            let oldest = cached.iter().min_by_key(|(_, e)| e.read_at).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                cached.remove(&k);
            }
        }
        let result = known.as_ref().map(|_| masker.clone()).map_err(|why| Unread::Forbidden(why.clone()));
        cached.insert(key, Entry { read_at: Instant::now(), known, digest, masker: (base.clone(), masker) });
        result
    }

    /// The masker for `key` when its values were read less than `age` ago.
    fn usable(&self, key: &(String, String), base: &Arc<Masker>, age: Duration) -> Option<Result<Arc<Masker>, Unread>> {
        let mut cached = self.lock();
        let e = cached.get_mut(key).filter(|e| e.read_at.elapsed() < age)?;
        Some(match &e.known {
            Err(forbidden) => Err(Unread::Forbidden(forbidden.clone())),
            Ok(known) => {
                if !Arc::ptr_eq(&e.masker.0, base) {
                    e.masker = (base.clone(), with(base, known));
                }
                Ok(e.masker.1.clone())
            }
        })
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

/// Why a Secret list was not read.
enum Unread {
    /// The API server refused the gateway (RBAC): a narrower list may be allowed.
    Forbidden(String),
    /// Anything else.
    Failed(String),
}

impl Unread {
    fn into_message(self) -> String {
        match self {
            Unread::Forbidden(m) | Unread::Failed(m) => m,
        }
    }
}

/// The SHA-256 of what a Secret list's values are searched from.
type Digest = [u8; 32];

/// The Secrets of `namespace` (all, when empty), read as the gateway, and the digest of what
/// their values were taken from. `last` is the last read's: when the Secrets are the same, its
/// search is kept (building one for a cluster's values takes seconds, every 10 seconds).
async fn read(target: &crate::upstream::K8sTarget, namespace: &str, m: &Arc<Masker>, last: Option<(Digest, Arc<KnownValues>)>) -> Result<(Digest, Arc<KnownValues>), Unread> {
    let what = if namespace.is_empty() { "every namespace".to_string() } else { format!("namespace {namespace}") };
    let why = |e: String| format!("the Secrets of {what} could not be read to mask their values ({e})");
    // Helm's release records (up to 1 MiB each, the chart's own compressed state) are left to
    // the API server to skip: a cluster's would fill the read.
    let path = if namespace.is_empty() { "/api/v1/secrets".to_string() } else { format!("/api/v1/namespaces/{namespace}/secrets") };
    let path = format!("{path}?fieldSelector=type%21%3Dhelm.sh%2Frelease.v1");
    let mut upstream = target.connect().await.map_err(|e| Unread::Failed(why(e.to_string())))?;
    let resp = upstream.send_request(target.own_request(&hyper::Method::GET, &path)).await.map_err(|e| Unread::Failed(why(e.to_string())))?;
    if resp.status() == hyper::StatusCode::FORBIDDEN {
        return Err(Unread::Forbidden(why("the API server answered 403 Forbidden".into())));
    }
    if !resp.status().is_success() {
        return Err(Unread::Failed(why(format!("the API server answered {}", resp.status()))));
    }
    let body = http_body_util::Limited::new(resp.into_body(), MAX_LIST).collect().await.map_err(|e| Unread::Failed(why(e.to_string())))?.to_bytes();
    let list: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Unread::Failed(why(e.to_string())))?;
    let digest = digest_of(&list);
    if let Some((d, known)) = last
        && d == digest
    {
        return Ok((digest, known));
    }
    // Seconds of work for a large cluster: on a blocking thread, so that the connections
    // sharing this runtime thread go on meanwhile.
    let m = m.clone();
    let built = tokio::task::spawn_blocking(move || {
        let (values, sources) = values_of(&m, &list);
        KnownValues::new(values).map_err(|e| format!("{sources} values: {e}"))
    })
    .await
    .map_err(|e| Unread::Failed(why(e.to_string())))?;
    built.map(|k| (digest, Arc::new(k))).map_err(|e| Unread::Failed(why(e)))
}

/// The digest of what `values_of` reads in a Secret list: each searched item's namespace, name,
/// and data, in order. Metadata that changes with every write elsewhere (the list's
/// `resourceVersion`) is left out, so an unchanged set of Secrets gives the same digest.
fn digest_of(list: &serde_json::Value) -> Digest {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut feed = |s: &str| {
        ctx.update(&(s.len() as u64).to_le_bytes());
        ctx.update(s.as_bytes());
    };
    let items = list.get("items").and_then(|i| i.as_array()).map(Vec::as_slice).unwrap_or_default();
    for item in items {
        let meta = |k: &str| item.get("metadata").and_then(|m| m.get(k)).and_then(|v| v.as_str()).unwrap_or_default();
        feed(item.get("type").and_then(|t| t.as_str()).unwrap_or_default());
        feed(meta("namespace"));
        feed(meta("name"));
        for (key, v) in item.get("data").and_then(|d| d.as_object()).into_iter().flatten() {
            feed(key);
            feed(v.as_str().unwrap_or("\u{0}not a string"));
        }
        feed("\u{0}end");
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_secrets_give_the_same_digest() {
        let list = |pw: &str, rv: &str| json!({"metadata": {"resourceVersion": rv}, "items": [{"metadata": {"namespace": "a", "name": "s", "resourceVersion": "7"}, "data": {"password": pw}}]});
        assert_eq!(digest_of(&list("aHVudGVyMjI=", "100")), digest_of(&list("aHVudGVyMjI=", "250")), "another object's write elsewhere");
        assert_ne!(digest_of(&list("aHVudGVyMjI=", "100")), digest_of(&list("aHVudGVyMjM=", "100")), "a value changed");
        let moved = json!({"items": [{"metadata": {"namespace": "b", "name": "s"}, "data": {"password": "aHVudGVyMjI="}}]});
        assert_ne!(digest_of(&list("aHVudGVyMjI=", "1")), digest_of(&moved));
    }

    #[test]
    fn a_cluster_of_secrets_builds_one_search() {
        // Five thousand values of 40 bytes in every spelling: within the limits, built at once.
        let mut forms = Vec::new();
        for i in 0..5000 {
            spellings::spellings(format!("value-{i:06}-0123456789abcdefghijklmnopqrstuv").as_bytes(), &mut forms, MIN_UNNAMED);
        }
        let started = std::time::Instant::now();
        let k = KnownValues::new(forms).unwrap();
        eprintln!("{} spellings built in {:?}", k.len(), started.elapsed());
    }
}
