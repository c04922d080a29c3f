//! The values of the cluster's Secrets, read through the gateway's own credentials, so that a
//! response masks them wherever they were copied (mask by lineage, not only by shape).
//!
//! A Secret is masked whole when read as a Secret; its values also reach plain env entries,
//! annotations and ConfigMaps (an operator or a chart copies them, into any namespace), a
//! container's output and its logs, where they have no name or shape to tell them by (red-team
//! round 90: a Secret's password in a plain `APP_SETTING` env entry came back in clear). The
//! masker of every response searches for every namespace's values (red-team round 91: a copy
//! in another namespace than its Secret's), in the spellings copies take (see `spellings`). Where the gateway may list Secrets only per
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
            let worth = |v: &[u8]| searchable(v, named);
            let trimmed = value.trim_ascii();
            let before = out.len();
            // As written, trimmed, and as a reader sees it (control and invisible characters
            // skipped, as masking reads what it searches: red-team round 93).
            if worth(&value) {
                crate::spellings::spellings(&value, &mut out, MIN_UNNAMED);
            }
            // Trimmed: as text in full; encoded only when short (a file's encodings are made
            // from its bytes, trailing line break included, and a long value's would double
            // its share of the search).
            if trimmed.len() != value.len() && worth(trimmed) {
                if trimmed.len() > crate::spellings::MAX_ENCODED {
                    crate::spellings::text_spellings(trimmed, &mut out);
                } else {
                    crate::spellings::spellings(trimmed, &mut out, MIN_UNNAMED);
                }
            }
            // (Only as it is: a copy is encoded from the bytes, not from what a reader sees.)
            let seen = hoop_core::mask::as_seen(trimmed);
            if worth(&seen) {
                out.push(seen);
            }
            // The credentials inside a structured value: a Docker config's password and
            // `auth`, a JSON credentials file's named fields, an env file's `PASSWORD=` lines
            // (red-team round 95: a `.dockerconfigjson`'s password copied alone came back in
            // clear).
            for (name, inner) in inner_values(&value) {
                if crate::mask::is_credential_name(m, &name) && searchable(&inner, true) {
                    crate::spellings::spellings(&inner, &mut out, MIN_UNNAMED);
                }
            }
            // And the pieces of a structured value that look like credentials, whatever names
            // them (red-team round 97: `requirepass …` in a redis.conf, `psk="…"`, a .pgpass or
            // .netrc line, a URL's user token, a webhook's path).
            // (As they are: each spelling of every piece would crowd the search. Not of a PEM
            // block, whose lines are searched whole above.)
            if memchr::memmem::find(&value, b"-----BEGIN ").is_none() {
                out.extend(credential_tokens(&value));
            }
            if trimmed.contains(&b'\n') {
                let lines: Vec<&[u8]> = trimmed.split(|b| *b == b'\n').map(<[u8]>::trim_ascii).collect();
                // Lines shaped like a key's or a token's (no blank, `=` or `:`): a config file's
                // ordinary lines would mask that text in every file (round 96); its named
                // settings are searched above.
                let token_like = |l: &[u8]| !l.iter().any(|b| b.is_ascii_whitespace() || matches!(b, b'=' | b':'));
                out.extend(lines.iter().filter(|l| token_like(l) && searchable(l, false)).map(|l| l.to_vec()));
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

/// Whether a Secret's value (`named` like a credential or not) is worth searching for wherever
/// it was copied: long enough (every value from 16 bytes, a named one from 6), and not shaped
/// like an ordinary word or a public address (red-team round 96: `password`, `kubernetes`,
/// `production`, `localhost:5432`, a service's host name and an API's URL, under credential
/// names or long, were masked in every object, log and file of the cluster, label keys
/// included). A short value of letters only, in one case or capitalised, is a word; an address
/// is a host name (with a port) or a URL with no user, query or token-like path segment.
fn searchable(v: &[u8], named: bool) -> bool {
    let long = v.len() >= MIN_UNNAMED;
    if !(long || (named && v.len() >= hoop_core::mask::known::MIN_LEN)) {
        return false;
    }
    let Ok(t) = std::str::from_utf8(v) else { return true };
    let t = t.trim();
    // A word: letters only, in one case or capitalised, as words are written, with a vowel in
    // every four letters or so (red-team round 97: mixed-case random letters and
    // `qzxwvkjmplrtyhg` are passwords). A number of digits only is searched, found only where no
    // digit touches it (see `KnownValues`).
    let letters = t.chars().count();
    let vowels = t.chars().filter(|c| "aeiouyAEIOUY".contains(*c)).count();
    let word = t.chars().all(char::is_alphabetic) && vowels * 4 >= letters && {
        let rest = t.chars().skip(1);
        t.chars().all(char::is_lowercase) || t.chars().all(char::is_uppercase) || (t.starts_with(char::is_uppercase) && rest.clone().all(char::is_lowercase))
    };
    if !long && word {
        return false;
    }
    !is_public_address(t, named)
}

/// A host name with a port (`localhost:5432`), a dotted host name when not `named` like a
/// credential (`db.internal.example.com`; a named one may be a passphrase of dotted words), or
/// a URL with no user, query or fragment whose path segments are words or API versions
/// (`https://api.example.com/v1/`, `https://oauth2.googleapis.com/token`; not a webhook's
/// `…/T0/B0/XXXXXXXXXXXXXXXXXXXXXXXX`).
fn is_public_address(t: &str, named: bool) -> bool {
    let host = |h: &str, bare: bool| {
        let port = h.rsplit_once(':').filter(|(_, port)| !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()));
        let name = port.map_or(h, |(n, _)| n);
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')) && (port.is_some() || (bare && name.contains('.')))
    };
    let Some((scheme, rest)) = t.split_once("://") else { return host(t, !named) };
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-')) || rest.contains(['@', '?', '#']) {
        return false;
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    // A word (letters and `.-_`, maybe one digit at its end: `oauth2`), or an API version (`v1`,
    // `v2beta1`): a segment with digits otherwise may be a hook's id or token
    // (`…/hooks/catch/123456/…`).
    let version = |seg: &str| seg.len() <= 8 && seg.strip_prefix('v').is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    let word = |seg: &str| {
        let letters = seg.strip_suffix(|c: char| c.is_ascii_digit()).unwrap_or(seg);
        seg.len() <= 24 && (seg.is_empty() || !letters.is_empty()) && letters.bytes().all(|b| b.is_ascii_alphabetic() || matches!(b, b'.' | b'-' | b'_'))
    };
    let wordy = |seg: &str| version(seg) || word(seg);
    host(authority, true) && path.split('/').all(wordy)
}

/// Words that make a line of a config file a credential's (`requirepass`, `psk=`, `password`,
/// a webhook's URL), lower case.
const CREDENTIAL_CONTEXT: &[&str] = &["pass", "pwd", "secret", "token", "psk", "auth", "credential", "hook", "dsn", "apikey", "api_key", "api-key", "private"];

/// The credentials inside a structured value, whatever names them: on each line that speaks of
/// one (see [`CREDENTIAL_CONTEXT`]), the pieces (split at blanks, quotes, `=`, `:` and angle
/// brackets) of 6 bytes or more that are neither words nor addresses nor letters only (a
/// Helm values file's `topologyKey`); a URL's password (`https://user:PASSWORD@host`); a
/// `.pgpass` line's last field. Lines that speak of no credential give none (red-team round
/// 98: every 16-byte word of a manifest in a Secret, `creationTimestamp` included, was masked
/// in every object).
fn credential_tokens(value: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(value) else { return Vec::new() };
    let whole = text.trim();
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut add = |t: &str| {
        if out.len() < MAX_INNER && t != whole && t.len() >= hoop_core::mask::known::MIN_LEN && !out.iter().any(|o| o == t.as_bytes()) {
            out.push(t.as_bytes().to_vec());
        }
    };
    for line in text.lines().take(MAX_INNER * 4) {
        let line = line.trim();
        let lower = line.to_ascii_lowercase();
        let context = CREDENTIAL_CONTEXT.iter().any(|w| lower.contains(w));
        // A URL's user password; on a line that speaks of a credential, its path and query
        // pieces shaped like tokens (a webhook's `…/T0/B0/TOKEN`).
        let mut rest = line;
        while let Some(at) = rest.find("://") {
            let after = rest.get(at + 3..).unwrap_or_default();
            let url = after.split([' ', '"', '\'']).next().unwrap_or_default();
            let authority = url.split('/').next().unwrap_or_default();
            if let Some((userinfo, _)) = authority.rsplit_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
            {
                add(password);
            }
            if context {
                for piece in url.get(authority.len()..).unwrap_or_default().split(['/', '?', '&', '=', '#']) {
                    let mixed = piece.chars().any(char::is_alphabetic) && piece.chars().any(|c| c.is_ascii_digit());
                    if (piece.len() >= 12 && mixed) || (piece.len() >= 20 && searchable(piece.as_bytes(), false)) {
                        add(piece);
                    }
                }
            }
            rest = after;
        }
        // A .pgpass line: host:port:database:user:password.
        let fields: Vec<&str> = line.splitn(5, ':').collect();
        if let [_, port, _, _, password] = fields.as_slice()
            && (port.is_empty() || *port == "*" || port.bytes().all(|b| b.is_ascii_digit()))
            && !line.contains(' ')
        {
            // As written, and as libpq reads it (`\:` and `\\` escaped: red-team round 99).
            add(password);
            add(&password.replace("\\:", ":").replace("\\\\", "\\"));
        }
        if !context {
            continue;
        }
        // (A URL's rest after its scheme's `:` was read above.)
        for token in line.split(|c: char| c.is_whitespace() || "=:\"'<>`".contains(c)).filter(|t| !t.starts_with("//")) {
            // (A setting's name, `api_key`, `secretKeyRef`, or a path, `/password` of an XML
            // closing tag, is letters and separators only: red-team round 99.)
            let name_like = token.chars().all(|c| c.is_alphabetic() || matches!(c, '_' | '-' | '.' | '/'));
            if !name_like && searchable(token.as_bytes(), true) && !is_public_address(token, false) && !token.contains("://") {
                add(token);
            }
        }
    }
    out
}

/// Most fields read inside one structured value.
const MAX_INNER: usize = 256;

/// The named values inside a Secret's value, each with its name: the string fields of a JSON
/// document at any depth (a Docker config's `auths.*.password`, a cloud credentials file), a
/// Docker `auth` field's `user:password` and its password, and the `NAME=value` or `name: value`
/// lines of an env or properties file (quotes and `export` taken off). Only those named like
/// credentials are searched (see `values_of`): other fields of such files are public
/// addresses and ids.
fn inner_values(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let mut out = Vec::new();
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(value) {
        let mut stack: Vec<(String, &serde_json::Value, usize)> = vec![(String::new(), &doc, 0)];
        while let Some((name, v, depth)) = stack.pop() {
            if out.len() >= MAX_INNER {
                break;
            }
            match v {
                serde_json::Value::String(s) => {
                    if name.eq_ignore_ascii_case("auth")
                        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(s.trim())
                        && let Some(colon) = decoded.iter().position(|b| *b == b':')
                    {
                        out.push(("password".to_string(), decoded.get(colon + 1..).unwrap_or_default().to_vec()));
                        out.push(("auth".to_string(), decoded));
                    }
                    out.push((name, s.clone().into_bytes()));
                }
                serde_json::Value::Object(o) if depth < 16 => stack.extend(o.iter().map(|(k, v)| (k.clone(), v, depth + 1))),
                serde_json::Value::Array(a) if depth < 16 => stack.extend(a.iter().map(|v| (name.clone(), v, depth + 1))),
                _ => {}
            }
        }
        return out;
    }
    for line in value.split(|b| *b == b'\n').take(MAX_INNER * 4) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some(at) = line.find(['=', ':']) else { continue };
        let (name, rest) = line.split_at(at);
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) || name.starts_with('#') {
            continue;
        }
        let v = rest.get(1..).unwrap_or_default().trim();
        let v = ['"', '\''].iter().find_map(|q| v.strip_prefix(*q).and_then(|x| x.strip_suffix(*q))).unwrap_or(v);
        if !v.is_empty() && out.len() < MAX_INNER {
            out.push((name.to_string(), v.as_bytes().to_vec()));
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
        let k = Arc::new(KnownValues::new(values).unwrap());
        let masked = m.with_known(k);
        assert_eq!(masked.mask_text("APP_SETTING=x hunter22 postgres"), "APP_SETTING=x [REDACTED:secret] postgres");
    }

    #[test]
    fn credentials_inside_structured_values_are_found() {
        // Red-team round 95: a `.dockerconfigjson`'s password and `auth`, copied alone.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let docker = format!(r#"{{"auths":{{"registry.example.com":{{"username":"robot","password":"Rtk95DockerRegPw55","auth":"{}"}}}}}}"#, e("robot:Rtk95DockerRegPw55"));
        let env = "# app\nexport DB_PASSWORD='Rtk95EnvPw1'\nDB_HOST=db.internal.example.com\napi_key: Rtk95Key42\n";
        let list = json!({"items": [{"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": e(&docker)}}, {"data": {"app.env": e(env)}}]});
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &list).0).unwrap()));
        for (copy, clear) in [
            ("REGISTRY_PASSWORD_COPY=x Rtk95DockerRegPw55".to_string(), "DockerRegPw"),
            (format!("auth {}", e("robot:Rtk95DockerRegPw55")), "cm9ib3Q6"),
            ("pw Rtk95EnvPw1 end".into(), "EnvPw"),
            ("k Rtk95Key42 end".into(), "Key42"),
        ] {
            let out = masked.mask_text(&copy).into_owned();
            assert!(out.contains("[REDACTED:secret]") && !out.contains(clear), "{copy}: {out}");
        }
        // Public fields of such files are not values to mask.
        assert_eq!(masked.mask_text("host db.internal.example.com user robot"), "host db.internal.example.com user robot");
    }

    #[test]
    fn words_numbers_and_public_addresses_are_not_searched() {
        // Red-team round 96: these masked ordinary text across the cluster.
        for (v, named) in [("password", true), ("kubernetes", true), ("Running", true), ("PRODUCTION", true), ("localhost:5432", true), ("db.internal.example.com", false), ("postgres.default.svc.cluster.local", false), ("https://api.example.com/v1/", false), ("https://oauth2.googleapis.com/token", true), ("Authorization", true)] {
            assert!(!searchable(v.as_bytes(), named), "{v}");
        }
        for (v, named) in [("hunter2", true), ("s3cr3tVal90xyz", true), ("correct.horse.battery", true), ("482917", true), ("qzxwvkjmplrtyhg", true), ("qZxWvKjmPl", true), ("Rtk94PlainLongValue1234", false), ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX", false), ("https://hooks.zapier.com/hooks/catch/123456/abcdef1/", false), ("https://user:pw12345@db.example.com/app", false), ("https://api.example.com/hook?token=abc", false), ("Summer2024!", true)] {
            assert!(searchable(v.as_bytes(), named), "{v}");
        }
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let list = json!({"items": [{"data": {"password": e("password"), "secret": e("kubernetes"), "api_key": e("localhost:5432"), "host": e("postgres.default.svc.cluster.local"),
            "app.env": e("AUTH_URL=https://accounts.google.com/o/oauth2/auth\nAPI_TOKEN_HEADER=Authorization\nDB_PASSWORD=Rtk96Pw77\n"), "nginx": e("server {\n  # production config server\n  listen 80;\n}\n")}}]});
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &list).0).unwrap()));
        let text = "app.kubernetes.io/name: web; the password field; listen localhost:5432; postgres.default.svc.cluster.local; https://accounts.google.com/o/oauth2/auth Authorization; # production config server";
        assert_eq!(masked.mask_text(text), text);
        assert_eq!(masked.mask_text("pw Rtk96Pw77"), "pw [REDACTED:secret]");
    }

    #[test]
    fn credentials_in_config_files_are_found() {
        // Red-team round 97: pieces of config files stored in Secrets came back in clear.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let files = [
            ("redis.conf", "bind 127.0.0.1\nrequirepass RedisConfPw8Qz\nport 6379\n"),
            ("wpa.conf", "network={\n  ssid=\"home\"\n  psk=\"WpaPskQz8XrWm\"\n}\n"),
            (".pgpass", "db.internal:5432:app:appuser:Pgpass9WordX\n"),
            (".git-credentials", "https://bot:ghp_Rtk97TokenValue0123456789@github.com\n"),
            ("hook", "url: https://hooks.slack.com/services/T0001/B0002/Rtk97SlackHookTokenXyz\n"),
        ];
        let data: serde_json::Map<String, serde_json::Value> = files.iter().map(|(k, v)| (k.to_string(), json!(e(v)))).collect();
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &json!({"items": [{"data": data}]})).0).unwrap()));
        for (copy, clear) in [
            ("auth RedisConfPw8Qz ok", "RedisConf"),
            ("psk=\"WpaPskQz8XrWm\"", "WpaPsk"),
            ("password Pgpass9WordX", "Pgpass9"),
            ("token ghp_Rtk97TokenValue0123456789", "Rtk97Token"),
            ("POST /services/T0001/B0002/Rtk97SlackHookTokenXyz 200", "SlackHook"),
        ] {
            let out = masked.mask_text(copy).into_owned();
            assert!(out.contains("[REDACTED:secret]") && !out.contains(clear), "{copy}: {out}");
        }
        // Their ordinary pieces are not values.
        let plain = "bind 127.0.0.1 port 6379 ssid home db.internal:5432 github.com network";
        assert_eq!(masked.mask_text(plain), plain);
    }

    #[test]
    fn config_files_in_secrets_give_their_credentials_only() {
        // Red-team round 98: a manifest's and a config file's ordinary words were masked in
        // every object; credentials with punctuation were not found.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let manifest = "metadata:\n  creationTimestamp: null\nspec:\n  serviceAccountName: default\n  terminationGracePeriodSeconds: 30\n  affinity:\n    topologyKey: kubernetes.io/hostname\n  uid: 6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b\n";
        let conf = "lang=en_US.UTF-8\narch x86_64-linux-gnu\ncharset ISO8859-1\npassword = Zk8+Qm3/Xp7w\npsk=\"Ps98Qz7\"\n<server><password>Xm98PwQz7Rt</password></server>\n";
        let pgpass = "db.internal:5432:app:user:Pg@98/Qz7xK\nother:5432:app:user:Ab\\:9/cd@Ef\n";
        let list = json!({"items": [{"data": {"values.yaml": e(manifest), "app.conf": e(conf), ".pgpass": e(pgpass)}}]});
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &list).0).unwrap()));
        let ordinary = r#"{"path":"/usr/lib/app/password","get":"GET /password/status","creationTimestamp":"2026","serviceAccountName":"default","terminationGracePeriodSeconds":30,"topologyKey":"kubernetes.io/hostname","uid":"6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","lang":"en_US.UTF-8","arch":"x86_64-linux-gnu","cs":"ISO8859-1"}"#;
        assert_eq!(masked.mask_text(ordinary), ordinary);
        for (copy, clear) in [("pw Zk8+Qm3/Xp7w", "Qm3"), ("psk Ps98Qz7", "Ps98"), ("pg Pg@98/Qz7xK", "Qz7"), ("pg Ab:9/cd@Ef", "cd@Ef")] {
            let out = masked.mask_text(copy).into_owned();
            assert!(out.contains("[REDACTED:secret]") && !out.contains(clear), "{copy}: {out}");
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
            crate::spellings::spellings(format!("value-{i:06}-0123456789abcdefghijklmnopqrstuv").as_bytes(), &mut forms, MIN_UNNAMED);
        }
        let started = std::time::Instant::now();
        let k = KnownValues::new(forms).unwrap();
        eprintln!("{} spellings built in {:?}", k.len(), started.elapsed());
    }
}
