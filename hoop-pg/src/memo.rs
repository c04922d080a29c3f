//! A session's memo of what the target's shared caches said about each table spelling: how it
//! resolves through the catalog and which of its columns are masked.
//!
//! A session's statements name the same tables again and again, and the shared caches sit
//! behind locks that every connection thread would otherwise take for every statement (at 8
//! clients on 2 cores that contention cost more than the lookups). Entries live a few seconds,
//! and a statement that changes relations clears the memo with the shared caches.

use crate::catalog::Catalog;
use crate::discover::{Discovery, MaskedColumn};
use hoop_core::mask::Masker;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a session trusts its memo before asking the shared caches again.
const TTL: Duration = Duration::from_secs(10);
/// Spellings remembered per session (then the memo starts over).
const MAX_ENTRIES: usize = 512;

#[derive(Default)]
struct Entry {
    at: Option<Instant>,
    /// The catalog's generation it was learnt in (another session's change of relations
    /// makes it stale).
    generation: u64,
    resolved: Option<Arc<Vec<String>>>,
    /// The masker it was computed for (a reload brings new rules) and discovery's epoch (a
    /// column promoted since), and the columns.
    masked: Option<(Asked, Arc<Vec<MaskedColumn>>)>,
}

/// What a statement's table list resolves to, remembered per list: a session's statements
/// repeat their lists, so one lookup answers both questions.
#[derive(Debug, Default)]
pub struct Facts {
    /// Relations to add to the statement's tables (schema-qualified, behind views).
    pub extra: Vec<String>,
    /// Masked columns of every table (the statement's and the added), when any has one.
    pub masked: Option<HashMap<String, Arc<Vec<MaskedColumn>>>>,
}

/// One session's memo.
#[derive(Default)]
pub struct TableMemo {
    entries: Mutex<HashMap<String, Entry>>,
    lists: Mutex<HashMap<Vec<String>, Listed>>,
}

/// When a table list's facts were found (and in which catalog generation), for which masker,
/// and the facts.
type Listed = (Instant, u64, Asked, Arc<Facts>);

/// Under what masked columns were asked for: the masker (a reload brings new rules) and
/// discovery's epoch (columns promoted since).
type Asked = (usize, u64);

impl TableMemo {
    /// What the memo holds of `t`, learnt in generation `generation` and in time.
    fn get<T>(&self, t: &str, generation: u64, f: impl FnOnce(&Entry) -> Option<T>) -> Option<T> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.get(t)?;
        if e.at.is_none_or(|at| at.elapsed() > TTL) || e.generation != generation {
            return None;
        }
        f(e)
    }

    /// Remembers of `t` what was learnt in `generation` (asked before the catalog was: an
    /// answer that raced a change is stale at once).
    fn put(&self, t: &str, generation: u64, f: impl FnOnce(&mut Entry)) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(t) {
            map.clear();
        }
        let e = map.entry(t.to_string()).or_default();
        if e.at.is_none_or(|at| at.elapsed() > TTL) || e.generation != generation {
            *e = Entry { at: Some(Instant::now()), generation, ..Entry::default() };
        }
        f(e);
    }

    /// The relations `t` may denote (see [`Catalog::resolve`]); empty when the catalog failed.
    async fn resolved(&self, catalog: &Catalog, t: &str) -> Arc<Vec<String>> {
        let generation = catalog.generation();
        if let Some(r) = self.get(t, generation, |e| e.resolved.clone()) {
            return r;
        }
        match catalog.resolve(t).await {
            Ok(r) => {
                self.put(t, generation, |e| e.resolved = Some(r.clone()));
                r
            }
            Err(e) => {
                tracing::warn!(table = %t, error = %e, "resolving a table through the catalog failed");
                Arc::new(Vec::new())
            }
        }
    }

    /// The masked columns of `t` (see [`Discovery::masked_columns`]).
    async fn masked(&self, discovery: &Discovery, catalog: &Catalog, masker: &Arc<Masker>, target: &str, who: &str, t: &str) -> Arc<Vec<MaskedColumn>> {
        let id = (Arc::as_ptr(masker) as usize, discovery.epoch());
        let generation = catalog.generation();
        if let Some(m) = self.get(t, generation, |e| e.masked.as_ref().filter(|(m, _)| *m == id).map(|(_, c)| c.clone())) {
            return m;
        }
        let cols = discovery.masked_columns(catalog, masker, target, who, t).await;
        self.put(t, generation, |e| e.masked = Some((id, cols.clone())));
        cols
    }

    /// The facts of a statement's `tables` (see [`Facts`]), for identity `who`.
    pub async fn facts(&self, discovery: &Discovery, catalog: &Catalog, masker: &Arc<Masker>, target: &str, who: &str, tables: &[String]) -> Arc<Facts> {
        let id = (Arc::as_ptr(masker) as usize, discovery.epoch());
        let generation = catalog.generation();
        if let Some((at, g, m, f)) = self.lists.lock().unwrap_or_else(|p| p.into_inner()).get(tables)
            && at.elapsed() <= TTL
            && *g == generation
            && *m == id
        {
            return f.clone();
        }
        let mut extra: Vec<String> = Vec::new();
        for t in tables {
            let names = self.resolved(catalog, t).await;
            for n in names.iter() {
                if !tables.contains(n) && !extra.contains(n) {
                    extra.push(n.clone());
                }
            }
        }
        let mut masked = HashMap::new();
        let mut any = false;
        if masker.is_enabled() {
            for t in tables.iter().chain(&extra) {
                let cols = self.masked(discovery, catalog, masker, target, who, t).await;
                any |= !cols.is_empty();
                masked.insert(t.clone(), cols);
            }
        }
        let facts = Arc::new(Facts { extra, masked: any.then_some(masked) });
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        if lists.len() >= MAX_ENTRIES {
            lists.clear();
        }
        lists.insert(tables.to_vec(), (Instant::now(), generation, id, facts.clone()));
        facts
    }

    /// Forgets everything (relations changed).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.lists.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
