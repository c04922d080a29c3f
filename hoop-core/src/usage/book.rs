//! Sliding-window usage counters per key, cheap enough for every statement.
//!
//! Each key keeps, for each window width (a minute, an hour, a day), its counts in six
//! sub-windows of a sixth of the width and the one before them; a window's count is the sum of
//! the sub-windows it touches, the oldest counted whole. So it is never below the true count of
//! the last minute, hour or day (a budget cannot be read past by timing reads around a fixed
//! window's edge, as the two-bucket estimate allowed, up to twice over) and above it by at most
//! what the oldest sub-window holds. An update is a few additions under one lock, and a key is
//! under a kilobyte whatever the traffic.

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
    /// Bytes of what the caller sent that the recording kept (statement texts, commands),
    /// whatever the verdict: what one identity may write to the gateway's disk.
    pub recorded: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.actions = self.actions.saturating_add(o.actions);
        self.rows = self.rows.saturating_add(o.rows);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.masked_values = self.masked_values.saturating_add(o.masked_values);
        self.deletes = self.deletes.saturating_add(o.deletes);
        self.recorded = self.recorded.saturating_add(o.recorded);
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

/// The on-disk form's version (1: two fixed windows per width, read and upgraded).
const VERSION: u32 = 2;

/// Window widths, seconds: a minute, an hour, a day.
const WIDTHS: [u64; 3] = [60, 3600, 86_400];

/// Most keys kept; past it the idlest per-table keys go (their counts are lost, which only
/// lowers them), and identities' own keys only when no per-table key is left.
pub const MAX_KEYS: usize = 65_536;

/// Most per-table keys one identity holds: past it, its own least-read table goes, so that
/// naming thousands of tables (real or not) can neither push out other identities' counts
/// nor its own tables that were actually read.
pub const MAX_TABLES_PER_IDENTITY: usize = 256;

/// Sub-windows per window width. The oldest of the [`SUBS`] + 1 kept is only partly inside the
/// window and counts whole: the error, always upward, is at most a sixth of a window's traffic.
const SUBS: u64 = 6;
const BUCKETS: usize = SUBS as usize + 1;

/// One window width's sub-windows, a ring indexed by sub-window number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SlotRepr", into = "SlotRepr")]
struct Slot {
    /// The newest sub-window counted (`now / (width / SUBS)`); the ring holds it and the
    /// [`SUBS`] before it.
    epoch: u64,
    buckets: [Counts; BUCKETS],
    /// The sum of `buckets`: what the window holds while `now` is in sub-window `epoch`, read
    /// on every check, so it is kept rather than summed each time.
    sum: Counts,
}

/// A slot as stored: its non-empty sub-windows by number.
#[derive(Serialize, Deserialize)]
struct SlotRepr {
    epoch: u64,
    subs: Vec<(u64, Counts)>,
}

impl From<Slot> for SlotRepr {
    fn from(s: Slot) -> Self {
        let subs = (s.epoch.saturating_sub(SUBS)..=s.epoch).filter_map(|e| Some((e, *s.buckets.get(ring(e))?))).filter(|(_, c)| !c.is_zero()).collect();
        SlotRepr { epoch: s.epoch, subs }
    }
}

impl From<SlotRepr> for Slot {
    fn from(r: SlotRepr) -> Self {
        let mut s = Slot { epoch: r.epoch, ..Slot::default() };
        for (e, c) in r.subs {
            if e <= r.epoch && e.saturating_add(SUBS) >= r.epoch
                && let Some(b) = s.buckets.get_mut(ring(e))
            {
                b.add(&c);
            }
        }
        s.sum = s.total();
        s
    }
}

/// The ring position of sub-window `e`.
fn ring(e: u64) -> usize {
    (e % BUCKETS as u64) as usize
}

impl Slot {
    /// Moves the ring on to `now`'s sub-window, emptying those that fell out.
    fn roll(&mut self, now: u64, width: u64) {
        let e = now / (width / SUBS);
        if e <= self.epoch {
            return;
        }
        if e - self.epoch >= BUCKETS as u64 {
            self.buckets = [Counts::default(); BUCKETS];
        } else {
            for x in self.epoch.saturating_add(1)..=e {
                if let Some(b) = self.buckets.get_mut(ring(x)) {
                    *b = Counts::default();
                }
            }
        }
        self.epoch = e;
        self.sum = self.total();
    }

    /// Adds `delta` at `now` (a clock that went back counts into the newest sub-window).
    fn add(&mut self, now: u64, width: u64, delta: &Counts) {
        self.roll(now, width);
        if let Some(b) = self.buckets.get_mut(ring(self.epoch)) {
            b.add(delta);
            self.sum.add(delta);
        }
    }

    /// The window's count at `now`: every sub-window it touches, the oldest whole.
    fn estimate(&self, now: u64, width: u64) -> Counts {
        let e = (now / (width / SUBS)).max(self.epoch);
        if e == self.epoch {
            // Every sub-window the ring holds is inside the window.
            return self.sum;
        }
        let mut c = Counts::default();
        for x in e.saturating_sub(SUBS).max(self.epoch.saturating_sub(SUBS))..=self.epoch {
            if let Some(b) = self.buckets.get(ring(x)) {
                c.add(b);
            }
        }
        c
    }

    /// Everything it holds (for eviction weights).
    fn total(&self) -> Counts {
        let mut c = Counts::default();
        for b in &self.buckets {
            c.add(b);
        }
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

/// The first on-disk form (version 1: each width's current and previous fixed window).
#[derive(Deserialize)]
struct SnapshotV1 {
    entries: Vec<(String, EntryV1)>,
}

#[derive(Deserialize)]
struct EntryV1 {
    slots: [SlotV1; 3],
    last: u64,
}

#[derive(Deserialize)]
struct SlotV1 {
    epoch: u64,
    cur: Counts,
    prev: Counts,
}

impl EntryV1 {
    /// The entry as sub-windows at `now`: what a width's two fixed windows held that may still
    /// be inside it counts in its current sub-window, so it stays a whole window longer than it
    /// should (an upgrade over-counts rather than forgets).
    fn upgrade(self, now: u64) -> Entry {
        let mut e = Entry { last: self.last, ..Entry::default() };
        for ((old, slot), width) in self.slots.iter().zip(e.slots.iter_mut()).zip(WIDTHS) {
            if old.epoch + 1 >= now / width {
                let mut total = old.cur;
                total.add(&old.prev);
                slot.add(now, width, &total);
            }
        }
        e
    }
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
                            let d = e.slots[2].total();
                            (d.rows.saturating_add(d.masked_values), e.last)
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
                let corrupt = |e: serde_json::Error| UsageError::Corrupt { path: path.clone(), message: e.to_string() };
                #[derive(Deserialize)]
                struct Version {
                    version: u32,
                }
                match serde_json::from_slice::<Version>(&bytes).map_err(corrupt)?.version {
                    1 => {
                        let now = crate::auth::now_secs().max(0) as u64;
                        let snap: SnapshotV1 = serde_json::from_slice(&bytes).map_err(corrupt)?;
                        keys.extend(snap.entries.into_iter().take(MAX_KEYS).map(|(k, e)| (k, e.upgrade(now))));
                    }
                    VERSION => {
                        let snap: Snapshot = serde_json::from_slice(&bytes).map_err(corrupt)?;
                        keys.extend(snap.entries.into_iter().take(MAX_KEYS));
                    }
                    v => return Err(UsageError::Corrupt { path, message: format!("version {v}") }),
                }
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
                slot.add(now, width, delta);
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
        let snap = Snapshot { version: VERSION, entries: self.lock().keys.iter().map(|(k, e)| (k.clone(), *e)).collect() };
        let bytes = serde_json::to_vec(&snap).map_err(|e| UsageError::Corrupt { path: path.clone(), message: e.to_string() })?;
        // Written aside and renamed: a crash leaves the old snapshot or the new one, never half.
        let tmp = path.with_extension("json.tmp");
        let io = |source| UsageError::Io { path: path.clone(), source };
        // Owner-only: it names every identity and what each read.
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(&bytes)
        };
        write().map_err(io)?;
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
        // 65 s on, the window [5 s, 65 s] touches the sub-window of 30 s and the one of 0–10 s
        // partly: that one counts whole (upward, never below the truth).
        assert_eq!(b.windows("a", t0 + 65).m1.rows, 150);
        // 75 s on: the 0–10 s sub-window is out, the one of 30 s is in.
        assert_eq!(b.windows("a", t0 + 75).m1.rows, 50);
        assert_eq!(b.windows("a", t0 + 90).h1.rows, 150);
        // Past a minute and a sub-window: the minute window is empty, the hour holds it all.
        assert_eq!(b.windows("a", t0 + 100).m1.rows, 0);
        assert_eq!(b.windows("a", t0 + 3599).h1.rows, 150);
        assert_eq!(b.windows("a", t0 + 2 * 86_400).d1.rows, 0);
        assert_eq!(b.windows("other", t0).d1, Counts::default());
    }

    /// Found by the seventh red-team round: with two fixed windows, 49,950 rows read just
    /// before the top of the hour had decayed to 39,751 thirteen minutes later, and 10,989 more
    /// went before the 50,000-row hourly budget held (60,939 in 13 minutes). The hour's count
    /// is now never below what the last hour read, at any second.
    #[test]
    fn a_window_never_counts_less_than_it_holds() {
        let b = UsageBook::in_memory();
        let t0 = 1_000_000 * 86_400;
        let mut x: u64 = 3;
        let mut reads: Vec<(u64, u64)> = Vec::new();
        let mut t = t0 - 7200;
        while t < t0 + 3 * 3600 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            t += 1 + (x >> 33) % 400;
            let n = 1 + (x >> 20) % 5000;
            b.add("k", &rows(n), t);
            reads.push((t, n));
            for (now, width, got) in [(t, 3600, b.windows("k", t).h1.rows), (t + 1799, 3600, b.windows("k", t + 1799).h1.rows), (t, 60, b.windows("k", t).m1.rows)] {
                let truth: u64 = reads.iter().filter(|(at, _)| *at + width > now && *at <= now).map(|(_, n)| n).sum();
                let sub: u64 = reads.iter().filter(|(at, _)| *at + width + width / SUBS > now && *at <= now).map(|(_, n)| n).sum();
                assert!(got >= truth && got <= sub, "at {now} over {width}s: {got} against {truth} (at most {sub})");
            }
            // The kept sum is what the ring holds.
            let e = b.lock().keys.get("k").copied().unwrap();
            assert!(e.slots.iter().all(|s| s.sum == s.total()));
        }
    }

    #[test]
    fn persisted_and_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let now = 1_700_000_000;
        let b = UsageBook::open(path.clone()).unwrap();
        b.add("agent\u{0}db", &rows(42), now);
        b.persist().unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "owner-only");
        let again = UsageBook::open(path.clone()).unwrap();
        assert_eq!(again.windows("agent\u{0}db", now + 1).h1.rows, 42);
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(UsageBook::open(path.clone()), Err(UsageError::Corrupt { .. })));
        // A version 1 file (two fixed windows per width) is read and upgraded, over-counting
        // rather than forgetting: what it held still counts for the hour.
        let now = crate::auth::now_secs() as u64;
        let v1 = format!(
            r#"{{"version":1,"entries":[["agent\u0000db",{{"slots":[{{"epoch":{m},"cur":{{"rows":5}},"prev":{{}}}},{{"epoch":{h},"cur":{{"rows":7}},"prev":{{"rows":3}}}},{{"epoch":{d},"cur":{{"rows":10}},"prev":{{}}}}],"last":{now}}}]]}}"#,
            m = now / 60,
            h = now / 3600,
            d = now / 86_400
        );
        std::fs::write(&path, v1).unwrap();
        let upgraded = UsageBook::open(path.clone()).unwrap();
        let w = upgraded.windows("agent\u{0}db", now);
        assert_eq!((w.m1.rows, w.h1.rows, w.d1.rows), (5, 10, 10));
        // A file with sub-window numbers at the end of the range (damaged, or hand-edited)
        // loads and counts without overflowing.
        let max = u64::MAX;
        let edge = format!(r#"{{"version":2,"entries":[["k",{{"slots":[{{"epoch":{max},"subs":[[{max},{{"rows":1}}]]}},{{"epoch":{max},"subs":[]}},{{"epoch":0,"subs":[]}}],"last":0}}]]}}"#);
        std::fs::write(&path, edge).unwrap();
        let b = UsageBook::open(path).unwrap();
        b.add("k", &rows(1), now);
        let _ = b.windows("k", now);
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
