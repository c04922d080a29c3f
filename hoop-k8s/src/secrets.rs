//! The values of the cluster's Secrets, read through the gateway's own credentials, so that a
//! response masks them wherever they were copied (mask by lineage, not only by shape).
//!
//! A Secret is masked whole when read as a Secret; its values also reach plain env entries,
//! annotations and ConfigMaps (an operator or a chart copies them, into any namespace), a
//! container's output and its logs, where they have no name or shape to tell them by (red-team
//! round 90: a Secret's password in a plain `APP_SETTING` env entry came back in clear). The
//! masker of every response searches for every namespace's values (red-team round 91: a copy
//! in another namespace than its Secret's), in the spellings copies take (base64 whole or
//! wrapped, hex, percent-encoding, JSON escapes). Where the gateway may list Secrets only per
//! namespace, the request's namespace's are searched. The list is read again every few
//! seconds, and a stream that lasts picks up new values as it goes; when it cannot be read, the
//! request (or the stream) is refused: hoop would not know what to mask.

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
/// Values longer than this are not searched (a copy of a value this long is a file, not a
/// setting, and its spellings would fill the search).
const MAX_VALUE: usize = 64 << 10;
/// Values longer than this are not searched percent-encoded or inside longer base64.
const MAX_ENCODED: usize = 1024;
/// Values longer than this are not searched in hex or `\u`-escaped: those spellings are two
/// to six times the value, and a service account token's (about 900 bytes) in six hex forms
/// took as many bytes of the search as 40 short passwords in every spelling.
const MAX_HEXED: usize = 256;
/// Values shorter than this are masked only under a name that says they are credentials: a
/// Secret's `username: postgres` or `port: 5432` would otherwise mask ordinary words.
const MIN_UNNAMED: usize = 16;

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
#[derive(Default)]
pub(crate) struct SecretValues {
    cached: Mutex<HashMap<(String, String), Entry>>,
    /// Held while the Secrets are read (see `scoped`).
    reading: tokio::sync::Mutex<()>,
}

impl SecretValues {
    /// `base`, also masking the values of every Secret of `target` (those of `namespace` only,
    /// when the gateway may not list them across namespaces); an error says why they could not
    /// be read.
    pub(crate) async fn masker(&self, target_name: &str, target: &crate::upstream::K8sTarget, namespace: &str, base: &Arc<Masker>) -> Result<Arc<Masker>, String> {
        match self.scoped(target_name, target, "", base).await {
            Err(Unread::Forbidden(_)) if !namespace.is_empty() => self.scoped(target_name, target, namespace, base).await.map_err(Unread::into_message),
            r => r.map_err(Unread::into_message),
        }
    }

    /// The masker for the Secrets of `namespace` (every namespace's when empty).
    async fn scoped(&self, target_name: &str, target: &crate::upstream::K8sTarget, namespace: &str, base: &Arc<Masker>) -> Result<Arc<Masker>, Unread> {
        let key = (target_name.to_string(), namespace.to_string());
        if let Some(fresh) = self.fresh(&key, base) {
            return fresh;
        }
        // One read at a time: the requests that found the values stale together wait for it
        // rather than each list every Secret and build the search again.
        let _reading = self.reading.lock().await;
        if let Some(fresh) = self.fresh(&key, base) {
            return fresh;
        }
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

    /// The masker for `key` when its values are fresh.
    fn fresh(&self, key: &(String, String), base: &Arc<Masker>) -> Option<Result<Arc<Masker>, Unread>> {
        let mut cached = self.lock();
        let e = cached.get_mut(key).filter(|e| e.read_at.elapsed() < FRESH)?;
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

/// The values of a Secret list worth searching for, in every spelling searched, and how many
/// values they come from: each value named like a credential, or long enough not to be an
/// ordinary word, whole, trimmed, line by line and encoded (see `spellings`); certificates
/// (public), Helm's release records (the chart's own compressed state) and values over
/// [`MAX_VALUE`] left out.
fn values_of(m: &Masker, list: &serde_json::Value) -> (Vec<Vec<u8>>, usize) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    let mut sources = 0;
    let items = list.get("items").and_then(|i| i.as_array()).map(Vec::as_slice).unwrap_or_default();
    for item in items {
        if item.get("type").and_then(|t| t.as_str()).is_some_and(|t| t.starts_with("helm.sh/release")) {
            continue;
        }
        let Some(data) = item.get("data").and_then(|d| d.as_object()) else { continue };
        for (key, v) in data {
            let Some(value) = v.as_str().and_then(|s| b64.decode(s).ok()) else { continue };
            if is_certificate(key, &value) || value.len() > MAX_VALUE {
                continue;
            }
            let named = crate::mask::is_credential_name(m, key);
            let worth = |v: &[u8]| v.len() >= MIN_UNNAMED || (named && v.len() >= hoop_core::mask::known::MIN_LEN);
            let trimmed = value.trim_ascii();
            let before = out.len();
            // As written, trimmed, and as a reader sees it (control and invisible characters
            // skipped, as masking reads what it searches: red-team round 93).
            let seen = hoop_core::mask::as_seen(trimmed);
            for v in [&value[..], trimmed, &seen[..]] {
                if worth(v) {
                    spellings(v, &mut out);
                }
            }
            if trimmed.contains(&b'\n') {
                let lines: Vec<&[u8]> = trimmed.split(|b| *b == b'\n').map(<[u8]>::trim_ascii).collect();
                out.extend(lines.iter().filter(|l| l.len() >= MIN_UNNAMED).map(|l| l.to_vec()));
                // A short line (a PEM body's last) with the line before it (round 93).
                for pair in lines.windows(2) {
                    if let [before, short] = pair
                        && short.len() < MIN_UNNAMED
                        && !short.is_empty()
                        && before.len() >= MIN_UNNAMED
                    {
                        let mut joined = before.to_vec();
                        joined.push(b'\n');
                        joined.extend_from_slice(short);
                        out.push(joined);
                    }
                }
            }
            sources += usize::from(out.len() > before);
        }
    }
    (out, sources)
}

/// `v` and the spellings a copy of it takes (red-team rounds 91 and 94 found each served in
/// clear): as text, quoted or escaped as serialisers write it (see `textual`), each also as it
/// stands inside a JSON string; base64 on one line, wrapped at 76 or 64 columns (each line, and
/// the end across its last line break), and inside a longer encoded text (see
/// `base64_inside`); hex in either case and every character a `\u` escape (values up to
/// [`MAX_HEXED`]); percent-encoding (a password in a connection string).
fn spellings(v: &[u8], out: &mut Vec<Vec<u8>>) {
    use base64::Engine;
    for form in textual(v) {
        out.extend(json_escaped(&form));
        out.push(form);
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(v);
    for width in [76, 64] {
        if encoded.len() > width {
            let lines: Vec<&[u8]> = encoded.as_bytes().chunks(width).collect();
            out.extend(lines.iter().filter(|l| l.len() >= MIN_UNNAMED).map(|l| l.to_vec()));
            if let [.., prev, last] = lines.as_slice() {
                let mut end = prev.get(prev.len().saturating_sub(MIN_UNNAMED)..).unwrap_or_default().to_vec();
                end.push(b'\n');
                end.extend_from_slice(last);
                out.push(end);
            }
        }
    }
    out.push(encoded.into_bytes());
    base64_inside(v, out);
    if v.len() <= MAX_HEXED {
        // Hex plain, and byte by byte with `:` or a blank between (`xxd`-less dumps, MACs).
        for sep in ["", ":", " "] {
            let lower = v.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(sep);
            out.push(lower.to_ascii_uppercase().into_bytes());
            out.push(lower.into_bytes());
        }
        if let Ok(text) = std::str::from_utf8(v) {
            out.push(text.encode_utf16().map(|u| format!("\\u{u:04x}")).collect::<String>().into_bytes());
        }
    }
    if v.len() <= MAX_ENCODED {
        // Percent-encoding as each encoder writes it (red-team round 92): every reserved byte
        // (RFC 3986, Go), `/` kept (Python's `quote`), `!*'()` kept (`encodeURIComponent`), and a
        // blank as `+` (forms, Go's `QueryEscape`); hex digits in either case.
        for keep in [&b""[..], b"/", b"!*'()"] {
            let percent = percent_encoded(v, keep);
            let plus = String::from_utf8_lossy(&percent).replace("%20", "+").into_bytes();
            for form in [percent, plus] {
                if form.as_slice() != v {
                    out.push(lowercase_escapes(&form));
                    out.push(form);
                }
            }
        }
    }
}

/// `v` as text and as serialisers quote it when it holds a quote or a backslash (red-team
/// round 94): `'` doubled (SQL literals, YAML single-quoted scalars), `"` doubled (CSV), shell
/// single-quoting (`'\''`, `'"'"'`), backslash escapes (Python's `repr`, shell double quotes,
/// `printf %q`); and in each Unicode normal form (a value typed on one system, copied on
/// another: NFD from macOS file names, NFKC from form input).
fn textual(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![v.to_vec()];
    let mut add = |form: Vec<u8>| {
        if !out.contains(&form) {
            out.push(form);
        }
    };
    let replaced = |pairs: &[(u8, &[u8])]| {
        let mut form = Vec::with_capacity(v.len() + 8);
        for &b in v {
            match pairs.iter().find(|(from, _)| *from == b) {
                Some((_, to)) => form.extend_from_slice(to),
                None => form.push(b),
            }
        }
        form
    };
    add(replaced(&[(b'\'', b"''")]));
    add(replaced(&[(b'"', b"\"\"")]));
    add(replaced(&[(b'\'', b"'\\''")]));
    add(replaced(&[(b'\'', b"'\"'\"'")]));
    add(replaced(&[(b'\\', b"\\\\")]));
    add(replaced(&[(b'\\', b"\\\\"), (b'\'', b"\\'")]));
    add(replaced(&[(b'\\', b"\\\\"), (b'"', b"\\\""), (b'$', b"\\$"), (b'`', b"\\`")]));
    // `printf %q` and `shlex`-less quoting: a backslash before each byte the shell treats
    // specially.
    let special: &[u8] = b" \t!\"#$&'()*;<>?[\\]`{|}~";
    add(v.iter().flat_map(|&b| if special.contains(&b) { vec![b'\\', b] } else { vec![b] }).collect());
    if let Ok(text) = std::str::from_utf8(v)
        && !text.is_ascii()
    {
        use unicode_normalization::UnicodeNormalization;
        for form in [text.nfc().collect::<String>(), text.nfd().collect(), text.nfkc().collect(), text.nfkd().collect()] {
            add(form.into_bytes());
        }
    }
    out
}

/// `v`'s base64 inside a longer encoded text (red-team round 94: HTTP Basic's `user:VALUE`, a
/// Docker `auth`, a base64'd JSON document holding the value, a JWT segment): the value may
/// start at any of the three byte offsets of a base64 group, and the characters its bytes alone
/// decide are searched for each, in the standard and the URL-safe alphabets. The one or two
/// characters at each end that share bits with the text around it stay as they are. Also whole
/// without `=` padding (base64url, JWT). The offsets only for values up to [`MAX_ENCODED`]:
/// they are the credentials such texts carry, and six spellings of every private key would
/// bring a cluster of a few hundred TLS Secrets past what one search holds (refusing every
/// request).
fn base64_inside(v: &[u8], out: &mut Vec<Vec<u8>>) {
    use base64::Engine;
    let (std, url) = (base64::engine::general_purpose::STANDARD_NO_PAD, base64::engine::general_purpose::URL_SAFE_NO_PAD);
    out.push(std.encode(v).into_bytes());
    out.push(url.encode(v).into_bytes());
    if v.len() > MAX_ENCODED {
        return;
    }
    for offset in 0..3usize {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(v);
        // Characters are 6 bits: the value's bits run from 8·offset to 8·(offset + len).
        let (first, end) = ((8 * offset).div_ceil(6), 8 * (offset + v.len()) / 6);
        for engine in [&std, &url] {
            let encoded = engine.encode(&shifted);
            if let Some(inside) = encoded.as_bytes().get(first..end) {
                out.push(inside.to_vec());
            }
        }
    }
}

/// `v` percent-encoded as a URL's parts are (RFC 3986: letters, digits and `-._~` kept, and
/// the bytes of `keep`).
fn percent_encoded(v: &[u8], keep: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 3);
    for &b in v {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// `form` with the hex digits of its `%XX` escapes in lower case.
fn lowercase_escapes(form: &[u8]) -> Vec<u8> {
    let mut out = form.to_vec();
    for i in 0..out.len() {
        if out.get(i) == Some(&b'%') {
            for j in [i + 1, i + 2] {
                if let Some(c) = out.get_mut(j) {
                    c.make_ascii_lowercase();
                }
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
        let (values, sources) = values_of(&m, &list);
        assert_eq!(sources, 3, "password, dsn, tls.key");
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

    #[test]
    fn copies_in_other_spellings_are_found() {
        // Red-team round 91: wrapped base64, hex, percent-encoding and `\u` escapes of a value
        // came back in clear.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let value = "Rtk91 url/value+with?chars&x=1-and-some-more-text-to-pass-76-columns-of-base64-output";
        let mut forms = Vec::new();
        spellings(value.as_bytes(), &mut forms);
        let masked = m.with_known(Arc::new(KnownValues::new(forms).unwrap()));
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, value);
        let wrapped: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
        let escaped: String = value.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
        for copy in [
            format!("b64: {}\n{}\n", wrapped[0], wrapped[1]),
            format!("hex={hex} HEX={}", hex.to_ascii_uppercase()),
            format!("https://h/?p={}&y=2", String::from_utf8(percent_encoded(value.as_bytes(), b"")).unwrap()),
            format!("q={}", String::from_utf8(percent_encoded(value.as_bytes(), b"/")).unwrap().replace("%20", "+")),
            format!("mac {}", value.bytes().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")),
            format!("{{\"v\": \"{escaped}\"}}"),
        ] {
            let out = masked.mask_text(&copy).into_owned();
            assert!(out.contains("[REDACTED:secret]"), "{copy}: {out}");
            for piece in [&wrapped[0][..20], &wrapped[1][wrapped[1].len() - 8..], &hex[..20], "url%2Fvalue", &escaped[..30]] {
                assert!(!out.contains(piece), "{piece} in {out}");
            }
        }
    }

    #[test]
    fn quoted_copies_and_base64_inside_longer_texts_are_found() {
        // Red-team round 94: each of these reached the agent in clear.
        use base64::Engine;
        let (b64, url) = (base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE_NO_PAD);
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let (quote, slash, accents, plain) = ("Rtk94'Quote'Val!x", "Rtk94Back\\slash$Dollar\"Q", "Rtk94Caf\u{e9}Z\u{fc}richX", "Rtk94PlainLongValue1234");
        let mut forms = Vec::new();
        for v in [quote, slash, accents, plain] {
            spellings(v.as_bytes(), &mut forms);
        }
        let masked = m.with_known(Arc::new(KnownValues::new(forms).unwrap()));
        for (copy, clear) in [
            (format!("'{}'", quote.replace('\'', "''")), "Quote".to_string()),
            (format!("K='{}'", quote.replace('\'', "'\\''")), "Quote".into()),
            (format!("K='{}'", quote.replace('\'', "'\"'\"'")), "Quote".into()),
            (format!("\"{}\"", slash.replace('"', "\"\"")), "Dollar".into()),
            (format!("'{}'", slash.replace('\\', "\\\\")), "Dollar".into()),
            (format!("K=\"{}\"", slash.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$")), "Dollar".into()),
            (slash.bytes().flat_map(|b| if b"\\$\"".contains(&b) { vec![b'\\', b] } else { vec![b] }).map(char::from).collect(), "Dollar".into()),
            ("Rtk94Cafe\u{301}Zu\u{308}richX".into(), "richX".into()),
            // Inside a JSON string, as an API server's raw bytes hold it.
            (format!("{{\"c\":\"{}\"}}", slash.replace('"', "\"\"").replace('\\', "\\\\").replace('"', "\\\"")), "Dollar".into()),
        ] {
            let out = masked.mask_text(&copy).into_owned();
            assert!(out.contains("[REDACTED:secret]") && !out.contains(&clear), "{copy}: {out}");
        }
        for prefix in ["", "u:", "usr:", "{\"pw\":\"", "x"] {
            let inside = format!("{prefix}{plain}\",\"n\":1}}");
            for encoded in [b64.encode(&inside), url.encode(&inside)] {
                let out = masked.mask_text(&format!("auth {encoded} end")).into_owned();
                // At most the two characters at each end that share bits with the text around.
                let middle = &b64.encode(plain)[4..20];
                assert!(out.contains("[REDACTED:secret]") && !out.contains(middle), "{prefix:?} {encoded}: {out}");
            }
        }
    }

    #[test]
    fn values_as_a_reader_sees_them_and_a_short_last_line() {
        // Red-team round 93: a value holding a tab was never found (masking reads text with
        // control characters skipped), nor a PEM body's short last line.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let list = json!({"items": [{"data": {"password": e("Rtk93\tTabbedValue"), "tls.key": e("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCabcdefgh\nshortRtk93end==\n-----END PRIVATE KEY-----\n")}}]});
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &list).0).unwrap()));
        // (As objects' strings and streams are read: the visible text.)
        let out = masked.mask_visible(b"x Rtk93\tTabbedValue y").into_owned();
        assert!(!String::from_utf8_lossy(&out).contains("TabbedValue"), "{}", String::from_utf8_lossy(&out));
        let out = masked.mask_text("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCabcdefgh\nshortRtk93end==\n").into_owned();
        assert!(!out.contains("shortRtk93end"), "{out}");
    }

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
            spellings(format!("value-{i:06}-0123456789abcdefghijklmnopqrstuv").as_bytes(), &mut forms);
        }
        let started = std::time::Instant::now();
        let k = KnownValues::new(forms).unwrap();
        eprintln!("{} spellings built in {:?}", k.len(), started.elapsed());
    }
}
