//! Masking: sensitive values in responses are redacted or tokenised before the client sees them.
//!
//! Two levels: [`Masker::mask_value`] for one typed value of a known column (a Postgres
//! `DataRow` cell, a JSON field), and [`StreamMasker`] for byte streams (terminal output),
//! stateful across chunk boundaries. Content detectors ([`Detector`]) scan text only: bytes
//! that are not text pass untouched, so binary data is never corrupted.

pub mod archive;
mod columns;
pub mod detect;
pub mod known;
mod stream;

use crate::keys::SecretKey;
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use columns::{ColumnMask, ColumnRef, ColumnRule};
pub use detect::{Detector, DetectorSet, Hit};
pub use known::{KnownValues, KnownValuesError};
pub use stream::{StreamMasker, StreamStyle};
mod visible;

/// How a detected value is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A fixed marker naming what was removed, e.g. `[REDACTED:email]`.
    #[default]
    Redact,
    /// A stable keyed token, e.g. `tok_email_3f2a…`: equal inputs give equal tokens, so joins still work.
    Tokenise,
}

/// Masking configuration (`[masking]` in the config file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskConfig {
    /// Master switch.
    pub enabled: bool,
    /// Replacement mode for content detectors and columns without their own mode.
    pub mode: Mode,
    /// Content detectors to run; phone and ip are opt-in.
    pub detectors: Vec<Detector>,
    /// Columns or fields masked whole: `column`, `table.column`, `schema.table.column`,
    /// each optionally prefixed by `target:`; `*` matches any part.
    pub columns: Vec<String>,
    /// Columns with a mode of their own.
    pub column_rules: Vec<ColumnRule>,
    /// How long a terminal's stream masker may hold bytes that could be the start of a match
    /// (a pipe holds them until the line ends).
    pub stream_hold_ms: u64,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            enabled: true,
            mode: Mode::Redact,
            detectors: Detector::DEFAULT.to_vec(),
            columns: vec!["password".into(), "password_hash".into(), "secret".into(), "api_key".into()],
            column_rules: Vec::new(),
            stream_hold_ms: 5,
        }
    }
}

/// Why a masking config was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// The detector set failed to compile.
    #[error("masking detectors: {0}")]
    Detectors(String),
    /// Tokenise mode needs a key.
    #[error("masking mode tokenise needs a tokenisation key")]
    NoKey,
    /// A column pattern is malformed.
    #[error("masking column {0:?}: {1}")]
    Column(String, String),
}

/// The type of a value, so a masked value stays valid for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Character data (text, varchar, char, name, citext...).
    Text,
    /// JSON text (json, jsonb in text form).
    Json,
    /// A UUID.
    Uuid,
    /// A date.
    Date,
    /// A timestamp (with or without time zone).
    Timestamp,
    /// A time of day.
    Time,
    /// An integer.
    Integer,
    /// A decimal or float.
    Numeric,
    /// A boolean.
    Bool,
    /// Anything else (bytea, arrays, geometric, ...): replaced by NULL when masked whole.
    Other,
}

impl ValueKind {
    /// Whether content detectors apply to values of this kind.
    pub fn is_text_like(self) -> bool {
        matches!(self, ValueKind::Text | ValueKind::Json)
    }
}

/// The outcome of masking one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Masked<'a> {
    /// The value, changed or not.
    Value(Cow<'a, [u8]>),
    /// The value must become NULL (no valid masked value exists for its type).
    Null,
}

/// The text a reader sees in `bytes`, as masking searches it (escape sequences, NULs, control
/// and invisible characters skipped): a value known to be secret is searched in this form too,
/// since a copy of it is read so (red-team round 93: a value holding a tab was never found).
pub fn as_seen(bytes: &[u8]) -> Vec<u8> {
    visible::Visible::of(bytes).text(bytes).to_vec()
}

/// The compiled masker shared by every session of a gateway.
#[derive(Debug)]
pub struct Masker {
    enabled: bool,
    mode: Mode,
    detectors: DetectorSet,
    columns: Vec<ColumnRule>,
    key: Option<hmac::Key>,
    hold: std::time::Duration,
    /// Shared with the maskers [`with_known`](Self::with_known) makes, so metrics count theirs.
    masked_bytes: Arc<AtomicU64>,
}

impl Masker {
    /// Compiles `cfg`; `key` is required when any rule tokenises.
    pub fn new(cfg: &MaskConfig, key: Option<&SecretKey>) -> Result<Self, MaskError> {
        let detectors = if cfg.enabled {
            DetectorSet::new(&cfg.detectors).map_err(MaskError::Detectors)?
        } else {
            DetectorSet::empty()
        };
        let mut columns = Vec::new();
        for c in &cfg.columns {
            columns.push(ColumnRule::parse(c, None).map_err(|e| MaskError::Column(c.clone(), e))?);
        }
        columns.extend(cfg.column_rules.iter().cloned());
        let key = key.map(|k| hmac::Key::new(hmac::HMAC_SHA256, &k.bytes));
        let tokenises = cfg.mode == Mode::Tokenise || columns.iter().any(|c| c.mode == Some(Mode::Tokenise));
        if cfg.enabled && tokenises && key.is_none() {
            return Err(MaskError::NoKey);
        }
        Ok(Masker {
            enabled: cfg.enabled,
            mode: cfg.mode,
            detectors,
            columns,
            key,
            hold: std::time::Duration::from_millis(cfg.stream_hold_ms),
            masked_bytes: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A masker that changes nothing.
    pub fn disabled() -> Self {
        Masker {
            enabled: false,
            mode: Mode::Redact,
            detectors: DetectorSet::empty(),
            columns: Vec::new(),
            key: None,
            hold: std::time::Duration::from_millis(5),
            masked_bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// This masker, also masking each of `known`'s values wherever it appears (as `secret`):
    /// for the responses of one request, whose adapter read what is secret there.
    ///
    /// ```
    /// use hoop_core::mask::{KnownValues, MaskConfig, Masker};
    /// use std::sync::Arc;
    /// let base = Masker::new(&MaskConfig::default(), None).unwrap();
    /// let known = Arc::new(KnownValues::new([b"s3cr3t-value".to_vec()]).unwrap());
    /// let m = base.with_known(known);
    /// assert_eq!(m.mask_text("APP_SETTING s3cr3t-value"), "APP_SETTING [REDACTED:secret]");
    /// assert_eq!(base.mask_text("APP_SETTING s3cr3t-value"), "APP_SETTING s3cr3t-value");
    /// ```
    pub fn with_known(&self, known: Arc<KnownValues>) -> Masker {
        Masker {
            enabled: self.enabled,
            mode: self.mode,
            detectors: if self.enabled { self.detectors.with_known(known) } else { self.detectors.clone() },
            columns: self.columns.clone(),
            key: self.key.clone(),
            hold: self.hold,
            masked_bytes: self.masked_bytes.clone(),
        }
    }

    /// Whether it searches for values known to be secret (see [`with_known`](Self::with_known)).
    pub fn knows_values(&self) -> bool {
        self.enabled && self.detectors.knows_values()
    }

    /// Whether `text` holds a value known to be secret, as written or as a reader sees it,
    /// whatever surrounds it (see [`with_known`](Self::with_known)).
    pub fn holds_known_value(&self, text: &[u8]) -> bool {
        self.enabled && (self.detectors.holds_known(text) || self.detectors.holds_known(&as_seen(text)))
    }

    /// Whether masking is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Bytes replaced so far (for metrics).
    pub fn masked_bytes(&self) -> u64 {
        self.masked_bytes.load(Ordering::Relaxed)
    }

    /// The whole-value rule for `column`, if configured. Resolve once per result shape, not per row.
    pub fn column_rule(&self, column: &ColumnRef<'_>) -> Option<ColumnMask> {
        if !self.enabled {
            return None;
        }
        self.columns
            .iter()
            .find(|r| r.matches(column))
            .map(|r| ColumnMask { mode: r.mode.unwrap_or(self.mode), label: column.column.to_ascii_lowercase() })
    }

    /// A whole-value rule labelled `label` in the default mode, for values masked by what they
    /// derive from rather than by configuration; `None` when masking is off.
    pub fn rule_for(&self, label: &str) -> Option<ColumnMask> {
        self.enabled.then(|| ColumnMask { mode: self.mode, label: label.to_string() })
    }

    /// The label of the first content detector that matches `value`, if any.
    pub fn detect(&self, value: &[u8]) -> Option<&'static str> {
        let mut found = None;
        self.scan(value, |h| {
            found.get_or_insert(h.detector.label());
        });
        found
    }

    /// Masks one value of kind `kind`: whole when `rule` is set, else by content detectors
    /// if the value is text. The result is always valid for the kind.
    pub fn mask_value<'a>(&self, rule: Option<&ColumnMask>, kind: ValueKind, value: &'a [u8]) -> Masked<'a> {
        if !self.enabled {
            return Masked::Value(Cow::Borrowed(value));
        }
        if let Some(rule) = rule {
            self.masked_bytes.fetch_add(value.len() as u64, Ordering::Relaxed);
            return self.replace_whole(rule, kind, value);
        }
        if kind.is_text_like() {
            Masked::Value(self.mask_bytes(value))
        } else {
            Masked::Value(Cow::Borrowed(value))
        }
    }

    /// The configured whole-value rules (adapters use them to skip documents no rule can touch).
    pub fn column_rules(&self) -> &[ColumnRule] {
        if self.enabled { &self.columns } else { &[] }
    }

    /// The whole-value replacement of `value` under `label` in the default mode (a Kubernetes
    /// Secret's values, always masked whole); `None` when masking is off.
    pub fn mask_whole(&self, label: &str, value: &[u8]) -> Option<Vec<u8>> {
        let rule = ColumnMask { mode: self.mode, label: label.to_string() };
        match self.mask_value(Some(&rule), ValueKind::Text, value) {
            Masked::Value(v) if self.enabled => Some(v.into_owned()),
            _ => None,
        }
    }

    /// Masks detected content in `text`.
    pub fn mask_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.mask_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Replacements are ASCII and cut at match boundaries, so the result is UTF-8.
            Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
        }
    }

    /// Masks detected content in `bytes` if they are text (UTF-8 without NUL); other bytes pass untouched.
    pub fn mask_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if !self.enabled || self.detectors.is_empty() || !is_text(bytes) {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::new();
        if self.mask_into(bytes, false, false, &mut out) { Cow::Owned(out) } else { Cow::Borrowed(bytes) }
    }

    /// Masks detected content in the text a reader sees in `bytes` (escape sequences, NULs,
    /// control and invisible characters skipped over; see the `visible` module), replacing each
    /// match with whatever is interleaved in it. For strings that may hold such characters on
    /// purpose (a Kubernetes object's values).
    pub fn mask_visible<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        self.mask_visible_counted(bytes, &mut [0; Detector::ALL.len()])
    }

    /// [`mask_visible`](Self::mask_visible), adding each replacement to `by_detector` (indexed
    /// by [`Detector::index`]), for per-detector usage.
    pub fn mask_visible_counted<'a>(&self, bytes: &'a [u8], by_detector: &mut [u64; Detector::ALL.len()]) -> Cow<'a, [u8]> {
        if !self.enabled || self.detectors.is_empty() {
            return Cow::Borrowed(bytes);
        }
        let hits = visible::found(&self.detectors, bytes);
        if hits.is_empty() {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut last = 0;
        for h in &hits {
            let (start, end) = (h.start, h.end);
            if start < last {
                continue;
            }
            out.extend_from_slice(bytes.get(last..start).unwrap_or_default());
            self.masked_bytes.fetch_add((end - start) as u64, Ordering::Relaxed);
            self.replacement(h.detector.label(), &h.text, self.mode, false, &mut out);
            if let Some(n) = by_detector.get_mut(h.detector.index()) {
                *n += 1;
            }
            last = end;
        }
        out.extend_from_slice(bytes.get(last..).unwrap_or_default());
        Cow::Owned(out)
    }

    /// Appends `text` with detected content replaced to `out`; returns whether anything was replaced.
    /// `same_len` replaces with `*` of equal length (terminals). `text` must already be known to be text.
    /// Unchanged text is appended only if `copy_unchanged`.
    pub(crate) fn mask_into(&self, text: &[u8], same_len: bool, copy_unchanged: bool, out: &mut Vec<u8>) -> bool {
        let mut last = 0;
        let mut replaced = 0usize;
        self.detectors.for_each_hit(text, |h| {
            out.extend_from_slice(text.get(last..h.start).unwrap_or_default());
            self.replacement(h.detector.label(), text.get(h.start..h.end).unwrap_or_default(), self.mode, same_len, out);
            replaced += h.end.saturating_sub(h.start);
            last = h.end;
        });
        if replaced == 0 {
            if copy_unchanged {
                out.extend_from_slice(text);
            }
            return false;
        }
        out.extend_from_slice(text.get(last..).unwrap_or_default());
        self.masked_bytes.fetch_add(replaced as u64, Ordering::Relaxed);
        true
    }

    /// Calls `f` for every validated detector hit in `bytes`, without the text check: for
    /// callers that know which parts of a larger buffer are text (a Postgres `DataRow`).
    pub fn scan(&self, bytes: &[u8], f: impl FnMut(Hit)) {
        if self.enabled {
            self.detectors.for_each_hit(bytes, f);
        }
    }

    /// Appends the replacement for a `hit` whose matched bytes are `matched`.
    pub fn write_replacement(&self, hit: &Hit, matched: &[u8], out: &mut Vec<u8>) {
        self.masked_bytes.fetch_add(matched.len() as u64, Ordering::Relaxed);
        self.replacement(hit.detector.label(), matched, self.mode, false, out);
    }

    /// A stream masker for one output stream (terminal or pipe).
    pub fn stream(self: &Arc<Self>, style: StreamStyle) -> StreamMasker {
        // Only a terminal releases held bytes on a timer (echo needs it); a pipe holds its
        // partial line until the line ends.
        StreamMasker::new(self.clone(), style, self.hold)
    }

    /// The stable token of `value` under `label`: `tok_<label>_<16 hex>`.
    pub fn token(&self, label: &str, value: &[u8]) -> Option<String> {
        let key = self.key.as_ref()?;
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(value);
        let tag = ctx.sign();
        Some(format!("tok_{label}_{}", hex::encode(tag.as_ref().get(..8).unwrap_or_default())))
    }

    /// Whether `bytes` hold a replacement this masker writes (`[REDACTED:<label>]`, or a token
    /// `tok_<label>_<16 hex>`): a document read through the gateway and written back would
    /// store the marker in place of the value (compatibility round 1: `kubectl get -o yaml |
    /// kubectl replace -f -` stored `[REDACTED:email]` in a ConfigMap).
    pub fn holds_replacement(&self, bytes: &[u8]) -> bool {
        let label = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-';
        let redacted = memchr::memmem::find_iter(bytes, b"[REDACTED:").any(|at| {
            let rest = bytes.get(at + 10..).unwrap_or_default();
            let n = rest.iter().take_while(|b| label(b)).count();
            n > 0 && rest.get(n) == Some(&b']')
        });
        redacted
            || memchr::memmem::find_iter(bytes, b"tok_").any(|at| {
                let rest = bytes.get(at + 4..).unwrap_or_default();
                let n = rest.iter().take_while(|b| label(b)).count();
                // `<label>_<16 hex>`: the label's own `_`s taken with it, the last 17 bytes are
                // `_` and the hex.
                n >= 18 && rest.get(n - 17) == Some(&b'_') && rest.get(n - 16..n).is_some_and(|h| h.iter().all(|c| c.is_ascii_hexdigit()))
            })
    }

    /// Appends the replacement of `value` to `out`. `same_len` keeps the byte length (terminals).
    fn replacement(&self, label: &str, value: &[u8], mode: Mode, same_len: bool, out: &mut Vec<u8>) {
        if same_len {
            out.extend(std::iter::repeat_n(b'*', value.len()));
            return;
        }
        // The keyed hash is only computed when it is the replacement.
        match (mode == Mode::Tokenise).then(|| self.token(label, value)).flatten() {
            Some(t) => out.extend_from_slice(t.as_bytes()),
            None => {
                out.extend_from_slice(b"[REDACTED:");
                out.extend_from_slice(label.as_bytes());
                out.push(b']');
            }
        }
    }

    fn replace_whole<'a>(&self, rule: &ColumnMask, kind: ValueKind, value: &[u8]) -> Masked<'a> {
        let tokenised = if rule.mode == Mode::Tokenise { self.key.as_ref() } else { None };
        let digest = |v: &[u8]| -> Vec<u8> {
            tokenised
                .map(|k| hmac::sign(k, v).as_ref().to_vec())
                .unwrap_or_else(|| vec![0; 32])
        };
        let owned = |s: String| Masked::Value(Cow::Owned(s.into_bytes()));
        match kind {
            ValueKind::Text => {
                let mut o = Vec::new();
                self.replacement(&rule.label, value, rule.mode, false, &mut o);
                Masked::Value(Cow::Owned(o))
            }
            ValueKind::Json => {
                let mut o = vec![b'"'];
                self.replacement(&rule.label, value, rule.mode, false, &mut o);
                o.push(b'"');
                Masked::Value(Cow::Owned(o))
            }
            ValueKind::Uuid => {
                let mut b = [0u8; 16];
                for (dst, src) in b.iter_mut().zip(digest(value)) {
                    *dst = src;
                }
                if tokenised.is_some() {
                    // A syntactically valid v4-style UUID derived from the value.
                    b[6] = (b[6] & 0x0f) | 0x40;
                    b[8] = (b[8] & 0x3f) | 0x80;
                }
                let [a, b2, c, d, e] = [&b[0..4], &b[4..6], &b[6..8], &b[8..10], &b[10..16]].map(hex::encode);
                owned(format!("{a}-{b2}-{c}-{d}-{e}"))
            }
            ValueKind::Integer => {
                let d = digest(value);
                let mut four = [0u8; 4];
                for (dst, src) in four.iter_mut().zip(d) {
                    *dst = src;
                }
                let n = u32::from_be_bytes(four) & 0x7fff_ffff;
                owned(if tokenised.is_some() { n.to_string() } else { "0".into() })
            }
            ValueKind::Numeric => owned("0".into()),
            ValueKind::Date => owned("1970-01-01".into()),
            ValueKind::Timestamp => owned("1970-01-01 00:00:00".into()),
            ValueKind::Time => owned("00:00:00".into()),
            ValueKind::Bool => owned("f".into()),
            ValueKind::Other => Masked::Null,
        }
    }
}

/// Whether `bytes` are text: valid UTF-8 with no NUL.
pub fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyPurpose, KeyStore};

    fn masker(mode: Mode) -> (tempfile::TempDir, Masker) {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyStore::open(dir.path()).unwrap().secret(KeyPurpose::Tokenise).unwrap();
        let cfg = MaskConfig { mode, columns: vec!["users.email".into(), "ssn".into()], ..MaskConfig::default() };
        (dir, Masker::new(&cfg, Some(&key)).unwrap())
    }

    #[test]
    fn an_address_before_two_numbers_is_masked() {
        let m = Masker::new(&MaskConfig::default(), None).unwrap();
        for text in [
            "ewd@example.nl 4111 1111 1111 1111 123-45-6789",
            "alan.turing@example.org|5500 0000 0000 0004|234-56-7890",
            "aaaaaaa@ex.com 4111 1111 1111 1111 4111 1111 1111 1111",
        ] {
            let masked = m.mask_text(text);
            assert!(!masked.contains('@') && !masked.contains("1111") && !masked.contains("-45-"), "{text} -> {masked}");
            let masked = String::from_utf8(m.mask_bytes(text.as_bytes()).into_owned()).unwrap();
            assert!(!masked.contains('@') && !masked.contains("1111") && !masked.contains("-45-"), "{text} -> {masked}");
        }
    }

    #[test]
    fn redacts_and_tokenises_text() {
        let (_d, m) = masker(Mode::Redact);
        assert_eq!(m.mask_text("mail a@b.example now"), "mail [REDACTED:email] now");
        assert!(m.holds_replacement(br#"{"mail":"[REDACTED:email]"}"#) && m.holds_replacement(b"x tok_email_0123456789abcdef y"));
        assert!(!m.holds_replacement(b"[REDACTED] tok_x [REDACTED:] tok_email_0123"));
        let (_d, t) = masker(Mode::Tokenise);
        let a = t.mask_text("a@b.example").into_owned();
        let b = t.mask_text("x a@b.example y").into_owned();
        assert!(a.starts_with("tok_email_"), "{a}");
        assert_eq!(format!("x {a} y"), b, "tokens are stable");
        assert_ne!(a, t.mask_text("c@b.example"));
    }

    #[test]
    fn binary_passes_untouched() {
        let (_d, m) = masker(Mode::Redact);
        let mut bin = b"a@b.example\0".to_vec();
        assert_eq!(m.mask_bytes(&bin), &bin[..]);
        bin = vec![0xff, b'a', b'@', b'b', b'.', b'c', b'o'];
        assert_eq!(m.mask_bytes(&bin), &bin[..]);
        assert!(matches!(m.mask_value(None, ValueKind::Other, b"a@b.example"), Masked::Value(Cow::Borrowed(_))));
    }

    #[test]
    fn columns_are_masked_whole_and_stay_valid_for_their_type() {
        let (_d, m) = masker(Mode::Tokenise);
        let col = ColumnRef { target: "db", schema: "public", table: "users", column: "email" };
        let rule = m.column_rule(&col).unwrap();
        assert!(m.column_rule(&ColumnRef { table: "orders", ..col }).is_none());
        let text = |v: Masked<'_>| match v {
            Masked::Value(c) => String::from_utf8(c.into_owned()).unwrap(),
            Masked::Null => "NULL".into(),
        };
        assert!(text(m.mask_value(Some(&rule), ValueKind::Text, b"someone")).starts_with("tok_email_"));
        let u = text(m.mask_value(Some(&rule), ValueKind::Uuid, b"550e8400-e29b-41d4-a716-446655440000"));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(text(m.mask_value(Some(&rule), ValueKind::Date, b"2001-02-03")), "1970-01-01");
        assert!(text(m.mask_value(Some(&rule), ValueKind::Integer, b"42")).parse::<i64>().is_ok());
        let j = text(m.mask_value(Some(&rule), ValueKind::Json, b"{\"a\":1}"));
        assert!(serde_json::from_str::<serde_json::Value>(&j).is_ok(), "{j}");
        assert_eq!(text(m.mask_value(Some(&rule), ValueKind::Other, b"\\x00")), "NULL");
        let any = ColumnRef { target: "x", schema: "s", table: "t", column: "SSN" };
        assert!(m.column_rule(&any).is_some());
        let json = text(m.mask_value(None, ValueKind::Json, br#"{"email":"a@b.example"}"#));
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{json}");
    }

    #[test]
    fn tokenise_needs_a_key_and_disabled_changes_nothing() {
        let cfg = MaskConfig { mode: Mode::Tokenise, ..MaskConfig::default() };
        assert_eq!(Masker::new(&cfg, None).unwrap_err(), MaskError::NoKey);
        let off = Masker::disabled();
        assert_eq!(off.mask_text("a@b.example"), "a@b.example");
    }
}
