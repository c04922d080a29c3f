//! Sliding-window usage counters per key, cheap enough for every statement.
//!
//! Each key keeps, for each window width (a minute, an hour, a day), the counts of the current
//! fixed window and of the one before; the sliding count is the previous window's share still
//! inside the slide plus the current one (`prev × (1 − elapsed/width) + cur`), the usual
//! two-bucket estimate. It is exact when traffic is even across the previous window and never
//! off by more than that window's count; an update is a few additions under one lock, and a key
//! is a few hundred bytes whatever the traffic.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// What is counted, per window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// Actions let through (or held for review).
    pub actions: u64,
    /// Rows or objects returned.
    pub rows: u64,
    /// Bytes returned (results, command output, file contents).
    pub bytes: u64,
    /// Values masked in what was returned.
    pub masked_values: u64,
    /// Deletes (Kubernetes objects, SQL DELETE statements).
    pub deletes: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.actions = self.actions.saturating_add(o.actions);
        self.rows = self.rows.saturating_add(o.rows);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.masked_values = self.masked_values.saturating_add(o.masked_values);
        self.deletes = self.deletes.saturating_add(o.deletes);
    }

    fn scaled(&self, f: f64) -> Counts {
        let s = |v: u64| (v as f64 * f) as u64;
        Counts { actions: s(self.actions), rows: s(self.rows), bytes: s(self.bytes), masked_values: s(self.masked_values), deletes: s(self.deletes) }
    }

    /// Whether every count is zero.
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// A key's sliding counts over the last minute, hour and day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windows {
    /// The last 60 seconds.
    #[serde(rename = "1m")]
    pub m1: Counts,
    /// The last hour.
    #[serde(rename = "1h")]
    pub h1: Counts,
    /// The last day.
    #[serde(rename = "1d")]
    pub d1: Counts,
}

/// Why usage could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// Reading or writing the file failed.
    #[error("usage file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not a usage snapshot.
    #[error("usage file {path} is damaged ({message}); move it away to start the counts afresh")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Where usage counts live: in-process ([`UsageBook`]) or a store shared by several gateways.
pub trait UsageStore: Send + Sync + 'static {
    /// Adds `delta` to `key`'s windows at `now` (seconds since the Unix epoch).
    fn add(&self, key: &str, delta: &Counts, now: u64);
    /// `key`'s windows at `now`.
    fn windows(&self, key: &str, now: u64) -> Windows;
    /// Adds `delta` to each of `keys` (a statement counts into several at once).
    fn add_all(&self, keys: &[&str], delta: &Counts, now: u64) {
        for key in keys {
            self.add(key, delta, now);
        }
    }
    /// The windows of each of `keys`, in order.
    fn windows_all(&self, keys: &[&str], now: u64) -> Vec<Windows> {
        keys.iter().map(|key| self.windows(key, now)).collect()
    }
    /// Every key with its windows at `now`.
    fn list(&self, now: u64) -> Vec<(String, Windows)>;
    /// Every key that starts with `prefix`, whose first part (up to its first NUL) is an
    /// identity, with its windows at `now`; stores index them by identity (at most
    /// [`MAX_TABLES_PER_IDENTITY`] such keys per identity).
    fn list_under(&self, prefix: &str, now: u64) -> Vec<(String, Windows)> {
        self.list(now).into_iter().filter(|(k, _)| k.starts_with(prefix)).collect()
    }
    /// Makes the counts durable; called every few seconds and at shutdown.
    fn persist(&self) -> Result<(), UsageError> {
        Ok(())
    }
}

/// Window widths, seconds: a minute, an hour, a day.
const WIDTHS: [u64; 3] = [60, 3600, 86_400];

/// Most keys kept; past it the idlest per-table keys go (their counts are lost, which only
/// lowers them), and identities' own keys only when no per-table key is left.
pub const MAX_KEYS: usize = 65_536;

/// Most per-table keys one identity holds: past it, its own least-read table goes, so that
/// naming thousands of tables (real or not) can neither push out other identities' counts
/// nor its own tables that were actually read.
pub const MAX_TABLES_PER_IDENTITY: usize = 256;

/// One window width's two fixed windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    /// Which fixed window `cur` is (`now / width`).
    epoch: u64,
    cur: Counts,
    prev: Counts,
}

impl Slot {
    fn roll(&mut self, now: u64, width: u64) {
        let e = now / width;
        if e == self.epoch {
            return;
        }
        self.prev = if e == self.epoch + 1 { self.cur } else { Counts::default() };
        self.cur = Counts::default();
        self.epoch = e;
    }

    fn estimate(&self, now: u64, width: u64) -> Counts {
        let e = now / width;
        let (cur, prev) = match e.checked_sub(self.epoch) {
            Some(0) => (self.cur, self.prev),
            Some(1) => (Counts::default(), self.cur),
            _ => return Counts::default(),
        };
        let left = 1.0 - (now % width) as f64 / width as f64;
        let mut c = prev.scaled(left);
        c.add(&cur);
        c
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Entry {
    slots: [Slot; 3],
    /// Last update (seconds since the epoch), for eviction.
    last: u64,
}

/// The on-disk form.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    entries: Vec<(String, Entry)>,
}

/// The keys and, per identity, its per-table keys (so that its cap is kept without a scan);
/// per-column and per-detector keys (`subject\0target\0\0column\0name`) count as per-table
/// keys for the cap and the eviction.
#[derive(Debug, Default)]
struct Book {
    keys: HashMap<String, Entry>,
    tables: HashMap<String, Vec<String>>,
}

/// The identity a per-table key (`subject\0target\0table`) belongs to, if it is one.
fn table_owner(key: &str) -> Option<&str> {
    let mut parts = key.splitn(3, '\u{0}');
    let subject = parts.next()?;
    parts.next()?;
    parts.next().map(|_| subject)
}

impl Book {
    fn from_keys(keys: HashMap<String, Entry>) -> Self {
        let mut tables: HashMap<String, Vec<String>> = HashMap::new();
        for k in keys.keys() {
            if let Some(owner) = table_owner(k) {
                tables.entry(owner.to_string()).or_default().push(k.clone());
            }
        }
        Book { keys, tables }
    }

    /// `key`'s entry, made if new (evicting as the bounds say).
    fn entry(&mut self, key: &str, now: u64) -> &mut Entry {
        if !self.keys.contains_key(key) {
            if self.keys.len() >= MAX_KEYS {
                self.evict(now);
            }
            if let Some(owner) = table_owner(key) {
                let owned = self.tables.entry(owner.to_string()).or_default();
                if owned.len() >= MAX_TABLES_PER_IDENTITY {
                    // Its least-read table goes (rows and masked values in the day's two fixed
                    // windows, then the idlest): junk names never outweigh a table that was read.
                    let keys = &self.keys;
                    let weight = |k: &String| {
                        keys.get(k).map_or((0, 0), |e| {
                            let d = &e.slots[2];
                            (d.cur.rows.saturating_add(d.prev.rows).saturating_add(d.cur.masked_values).saturating_add(d.prev.masked_values), e.last)
                        })
                    };
                    if let Some(i) = (0..owned.len()).min_by_key(|i| owned.get(*i).map(weight)) {
                        let gone = owned.swap_remove(i);
                        self.keys.remove(&gone);
                    }
                }
                owned.push(key.to_string());
            }
        }
        self.keys.entry(key.to_string()).or_default()
    }

    /// At the global bound: keys idle for two days go; then the idlest half of the per-table
    /// keys; identities' own keys only if that was not enough.
    fn evict(&mut self, now: u64) {
        self.keys.retain(|_, e| now.saturating_sub(e.last) < WIDTHS[2] * 2);
        if self.keys.len() >= MAX_KEYS {
            let mut idle: Vec<(u64, String)> = self.keys.iter().filter(|(k, _)| table_owner(k).is_some()).map(|(k, e)| (e.last, k.clone())).collect();
            if idle.len() < MAX_KEYS / 4 {
                idle = self.keys.iter().map(|(k, e)| (e.last, k.clone())).collect();
            }
            idle.sort_unstable();
            let n = idle.len() / 2;
            for (_, k) in idle.into_iter().take(n.max(1)) {
                self.keys.remove(&k);
            }
        }
        *self = Book::from_keys(std::mem::take(&mut self.keys));
    }
}

/// In-process usage counters, bounded, optionally persisted to a file.
#[derive(Debug, Default)]
pub struct UsageBook {
    keys: Mutex<Book>,
    path: Option<PathBuf>,
    /// Whether anything changed since the last save.
    dirty: std::sync::atomic::AtomicBool,
}

impl UsageBook {
    /// Counters kept in memory only.
    pub fn in_memory() -> Self {
        UsageBook::default()
    }

    /// Counters persisted at `path`: loaded now if the file exists (a damaged file is an error:
    /// budgets must not silently restart from zero), saved by [`UsageStore::persist`].
    pub fn open(path: PathBuf) -> Result<Self, UsageError> {
        let mut keys = HashMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| UsageError::Corrupt { path: path.clone(), message: e.to_string() })?;
                if snap.version != 1 {
                    return Err(UsageError::Corrupt { path, message: format!("version {}", snap.version) });
                }
                keys.extend(snap.entries.into_iter().take(MAX_KEYS));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(UsageError::Io { path, source }),
        }
        Ok(UsageBook { keys: Mutex::new(Book::from_keys(keys)), path: Some(path), dirty: Default::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn windows_of(e: &Entry, now: u64) -> Windows {
    let [m, h, d] = &e.slots;
    Windows { m1: m.estimate(now, WIDTHS[0]), h1: h.estimate(now, WIDTHS[1]), d1: d.estimate(now, WIDTHS[2]) }
}

impl UsageStore for UsageBook {
    fn add(&self, key: &str, delta: &Counts, now: u64) {
        self.add_all(&[key], delta, now);
    }

    fn windows(&self, key: &str, now: u64) -> Windows {
        self.lock().keys.get(key).map(|e| windows_of(e, now)).unwrap_or_default()
    }

    // Under one lock: a statement's keys are counted together, and its reads see one moment.
    fn add_all(&self, keys: &[&str], delta: &Counts, now: u64) {
        let mut book = self.lock();
        for &key in keys {
            // One hash for a key already kept (nearly always); the bounds only for a new one.
            let e = match book.keys.get_mut(key) {
                Some(e) => e,
                None => book.entry(key, now),
            };
            for (slot, width) in e.slots.iter_mut().zip(WIDTHS) {
                slot.roll(now, width);
                slot.cur.add(delta);
            }
            e.last = now;
        }
        self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn windows_all(&self, keys: &[&str], now: u64) -> Vec<Windows> {
        let book = self.lock();
        keys.iter().map(|key| book.keys.get(*key).map(|e| windows_of(e, now)).unwrap_or_default()).collect()
    }

    fn list(&self, now: u64) -> Vec<(String, Windows)> {
        let mut out: Vec<(String, Windows)> = self.lock().keys.iter().map(|(k, e)| (k.clone(), windows_of(e, now))).filter(|(_, w)| !w.d1.is_zero()).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn list_under(&self, prefix: &str, now: u64) -> Vec<(String, Windows)> {
        let book = self.lock();
        let owner = prefix.split('\u{0}').next().unwrap_or_default();
        let Some(keys) = book.tables.get(owner) else { return Vec::new() };
        keys.iter()
            .filter(|k| k.starts_with(prefix))
            .filter_map(|k| book.keys.get(k).map(|e| (k.clone(), windows_of(e, now))))
            .collect()
    }

    fn persist(&self) -> Result<(), UsageError> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty.swap(false, std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let snap = Snapshot { version: 1, entries: self.lock().keys.iter().map(|(k, e)| (k.clone(), *e)).collect() };
        let bytes = serde_json::to_vec(&snap).map_err(|e| UsageError::Corrupt { path: path.clone(), message: e.to_string() })?;
        // Written aside and renamed: a crash leaves the old snapshot or the new one, never half.
        let tmp = path.with_extension("json.tmp");
        let io = |source| UsageError::Io { path: path.clone(), source };
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(|source| {
            self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
            io(source)
        })
    }
}

/// Makes room: keys idle for a day go, then the idlest half.
#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: u64) -> Counts {
        Counts { rows: n, ..Counts::default() }
    }

    #[test]
    fn windows_slide() {
        let b = UsageBook::in_memory();
        let t0 = 1_000_000 * 86_400; // the start of a day, an hour and a minute
        b.add("a", &rows(100), t0);
        b.add("a", &rows(50), t0 + 30);
        let w = b.windows("a", t0 + 30);
        assert_eq!((w.m1.rows, w.h1.rows, w.d1.rows), (150, 150, 150));
        // Half a minute into the next minute: half of the previous minute still counts.
        let w = b.windows("a", t0 + 90);
        assert_eq!(w.m1.rows, 75);
        assert_eq!(w.h1.rows, 150);
        // Two minutes on: the minute window is empty, the hour still holds it all.
        assert_eq!(b.windows("a", t0 + 150).m1.rows, 0);
        assert_eq!(b.windows("a", t0 + 3599).h1.rows, 150);
        assert_eq!(b.windows("a", t0 + 2 * 86_400).d1.rows, 0);
        assert_eq!(b.windows("other", t0).d1, Counts::default());
    }

    #[test]
    fn persisted_and_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let now = 1_700_000_000;
        let b = UsageBook::open(path.clone()).unwrap();
        b.add("agent\u{0}db", &rows(42), now);
        b.persist().unwrap();
        let again = UsageBook::open(path.clone()).unwrap();
        assert_eq!(again.windows("agent\u{0}db", now + 1).h1.rows, 42);
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(UsageBook::open(path), Err(UsageError::Corrupt { .. })));
    }

    #[test]
    fn bounded_however_many_keys() {
        let b = UsageBook::in_memory();
        for i in 0..(MAX_KEYS + 10) {
            b.add(&format!("id{i}"), &rows(1), 1_700_000_000 + i as u64);
        }
        assert!(b.lock().keys.len() <= MAX_KEYS);
    }

    /// Found by a red-team run: statements naming thousands of (missing) tables made per-table
    /// keys until the global bound pushed out every other identity's counts. Now one identity's
    /// tables are capped, its least-read go first, and others' keys stay.
    #[test]
    fn one_identity_naming_many_tables_pushes_out_nobody_else() {
        let b = UsageBook::in_memory();
        let now = 1_700_000_000;
        b.add_all(&["victim", "victim\u{0}db", "victim\u{0}db\u{0}public.orders"], &rows(40_000), now);
        b.add("flooder\u{0}db\u{0}public.customers", &rows(9_000), now);
        for i in 0..(4 * MAX_TABLES_PER_IDENTITY) {
            b.add_all(&["flooder", "flooder\u{0}db", &format!("flooder\u{0}db\u{0}junk{i}")], &Counts { actions: 1, ..Counts::default() }, now + 1);
        }
        assert_eq!(b.windows("victim\u{0}db", now + 1).h1.rows, 40_000);
        assert_eq!(b.windows("victim\u{0}db\u{0}public.orders", now + 1).h1.rows, 40_000);
        // Its own table that was read stays too: only junk made way for junk.
        assert_eq!(b.windows("flooder\u{0}db\u{0}public.customers", now + 1).h1.rows, 9_000);
        let book = b.lock();
        assert!(book.tables.get("flooder").is_some_and(|t| t.len() <= MAX_TABLES_PER_IDENTITY));
        assert_eq!(book.keys.len(), MAX_TABLES_PER_IDENTITY + 5, "the flooder's 256 tables, its two keys, the victim's three");
    }

    /// The keys under one identity's prefix, and only those, are listed from its index.
    #[test]
    fn list_under_reads_one_identitys_detail_keys() {
        let b = UsageBook::in_memory();
        let now = 1_000_000;
        let masked = Counts { masked_values: 3, ..Counts::default() };
        b.add("ann\u{0}db\u{0}\u{0}column\u{0}public.people.email", &masked, now);
        b.add("ann\u{0}db\u{0}\u{0}detector\u{0}email", &masked, now);
        b.add("ann\u{0}db2\u{0}\u{0}column\u{0}public.x.y", &masked, now);
        b.add("bob\u{0}db\u{0}\u{0}column\u{0}public.people.email", &masked, now);
        let got = b.list_under("ann\u{0}db\u{0}\u{0}column\u{0}", now);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "ann\u{0}db\u{0}\u{0}column\u{0}public.people.email");
        assert_eq!(got[0].1.h1.masked_values, 3);
    }
}
