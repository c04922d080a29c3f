//! Which columns of a relation are masked: by configuration, or by discovery — hoop samples a
//! relation's text columns through its own upstream connection, before the first statement
//! that reads it is forwarded (remembered per target, refreshed every few minutes).
//!
//! A discovered column where most sampled values match a detector is masked whole, like a
//! configured one. A column where only some do (free text that sometimes holds an address) is
//! left to the content detectors when read as it is, and masked whole when derived from: an
//! expression can reshape a value past every detector.

use crate::catalog::Catalog;
use crate::mask::{Scan, kind_of, scan_of};
use hoop_core::mask::{ColumnMask, ColumnRef, Masker, Mode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rows sampled per relation.
const SAMPLE_ROWS: usize = 200;
/// Columns of one relation promoted at most (PostgreSQL allows 1,600).
const MAX_PROMOTED_COLUMNS: usize = 1600;
/// Rows of a column read for its sample's distinct values.
const SCAN_ROWS: usize = 5000;
/// Characters of each sampled value read.
const SAMPLE_VALUE_CHARS: usize = 4096;
/// How long a relation's masked columns are trusted before they are looked at again.
const TTL: Duration = Duration::from_secs(300);
/// The same for a relation that had fewer rows than a sample: one being loaded shows its
/// values soon (red-team round 21: a table read while empty stayed unmasked for 5 minutes
/// while it filled).
const SHORT_TTL: Duration = Duration::from_secs(5);
/// Relations remembered (then the cache starts over).
const MAX_RELATIONS: usize = 4096;

/// A masked source column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedColumn {
    /// Column name.
    pub name: String,
    /// How its values (and values derived from them) are replaced.
    pub rule: ColumnMask,
    /// Masked whole when read as it is (configured, or mostly detector hits); else only
    /// values derived from it are masked whole.
    pub whole: bool,
}

/// The masked columns of relations, by spelling, for one target.
#[derive(Default)]
pub struct Discovery {
    cache: Mutex<HashMap<(usize, String), Found>>,
    /// What sampling each relation (`schema`, `table`) found: two spellings of one relation
    /// (`t`, `public.t`) share one sample.
    samples: Mutex<HashMap<(usize, String, String), Sample>>,
    /// The last full sample of each relation, with the columns it was taken of: kept when
    /// what was learnt is forgotten, for a relation that cannot be read while a client's own
    /// transaction holds it locked (compatibility round 9: after a migration's `ALTER TABLE`,
    /// its table's ids read as 0 and its text masked whole until the migration committed).
    /// Used for a sample's lifetime ([`TTL`]) at most, as a sample kept in `samples` would be.
    last_read: Mutex<HashMap<(usize, String, String), LastRead>>,
    /// Columns of each relation a detector matched in as they were read, which their sample
    /// had not shown to hold such values (a sample sees only the first values of a column).
    promoted: Mutex<HashMap<(usize, String, String), Promoted>>,
    /// Moves on when a column is promoted: sessions' memos of masked columns follow it.
    epoch: std::sync::atomic::AtomicU64,
}

/// Columns of one relation promoted, each with the label of the detector that matched.
type Promoted = Vec<(String, &'static str)>;

/// What every step of one question to discovery shares: the target's catalog, the masker,
/// the target's name, and the identity whose statement asked.
#[derive(Clone, Copy)]
struct Ask<'a> {
    catalog: &'a Catalog,
    masker: &'a Arc<Masker>,
    target: &'a str,
    who: &'a str,
}

/// Until when a relation's sample is trusted, in which catalog generation it was taken, and
/// what it found.
type Sample = (Instant, u64, Arc<Sampled>);

/// Until when a relation's masked columns are trusted, in which catalog generation they were
/// found, and which they are.
type Found = (Instant, u64, Arc<Vec<MaskedColumn>>);

impl Discovery {
    /// Every masked column (name, rule) of every relation `spelling` may denote (all schemas
    /// for an unqualified name, and the relations behind a view). A catalog failure yields the
    /// columns found so far: content detectors still apply to every output. Samples run on
    /// `who`'s turn (the identity whose statement named the relation).
    pub async fn masked_columns(&self, catalog: &Catalog, masker: &Arc<Masker>, target: &str, who: &str, spelling: &str) -> Arc<Vec<MaskedColumn>> {
        self.masked_columns_at(Ask { catalog, masker, target, who }, spelling, 0).await
    }

    /// [`masked_columns`](Self::masked_columns) of a relation `depth` views below the one asked
    /// about.
    async fn masked_columns_at(&self, ask: Ask<'_>, spelling: &str, depth: usize) -> Arc<Vec<MaskedColumn>> {
        let Ask { catalog, masker, target, .. } = ask;
        if !masker.is_enabled() {
            return Arc::new(Vec::new());
        }
        // A reloaded masker (new rules) starts its own entries.
        let key = (Arc::as_ptr(masker) as usize, spelling.to_string());
        let generation = catalog.generation();
        if let Some((until, at, cols)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && Instant::now() < *until
            && *at == generation
        {
            return cols.clone();
        }
        let mut found: Vec<MaskedColumn> = Vec::new();
        let mut exists = false;
        // Whether every relation sampled had a full sample, and none failed.
        let (mut full, mut failed) = (true, false);
        let mut candidates = vec![spelling.to_string()];
        if let Ok(names) = catalog.resolve(spelling).await {
            candidates.extend(names.iter().cloned());
        }
        let mut seen: Vec<crate::catalog::RelationColumns> = Vec::new();
        for rel in candidates {
            let Ok(relations) = catalog.columns_of(&rel).await else {
                failed = true;
                continue;
            };
            // Lineage reads identifiers in lowercase: masked columns are named so too.
            for (schema, table, cols) in relations {
                exists = true;
                if seen.iter().any(|(s, t, _)| *s == schema && *t == table) {
                    continue;
                }
                seen.push((schema.clone(), table.clone(), cols.clone()));
                // Tokens are for values stored in the relation the name denotes. One behind a
                // view (whose column of that name may be anything: `'N919'::text AS nid`), or a
                // temporary one (the caller's own values, under the name of a tokenised table),
                // is redacted instead, and so is the name (red-team round 37).
                let own = spelling.rsplit('.').next().is_some_and(|n| n.eq_ignore_ascii_case(&table)) && !schema.starts_with("pg_temp");
                let stored = |rule: ColumnMask| if own { rule } else { ColumnMask { mode: Mode::Redact, ..rule } };
                for (col, _) in &cols {
                    if let Some(rule) = masker.column_rule(&ColumnRef { target, schema: &schema, table: &table, column: col }) {
                        push(&mut found, MaskedColumn { name: col.to_ascii_lowercase(), rule: stored(rule), whole: true });
                    }
                }
                let sampled = self.sampled(ask, &schema, &table, &cols).await;
                full &= sampled.full;
                failed |= sampled.failed;
                let key = (Arc::as_ptr(masker) as usize, schema.clone(), table.clone());
                let promoted = self.promoted.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned().unwrap_or_default();
                for (col, label) in promoted {
                    if let Some(rule) = masker.rule_for(label) {
                        push(&mut found, MaskedColumn { name: col.to_ascii_lowercase(), rule, whole: false });
                    }
                }
                for (col, label, whole) in &sampled.found {
                    if let Some(rule) = masker.rule_for(label) {
                        push(&mut found, MaskedColumn { name: col.to_ascii_lowercase(), rule, whole: *whole });
                    }
                }
                let (rel_full, rel_failed) = self.relatives_masked(ask, &schema, &table, &cols, &mut found).await;
                full &= rel_full;
                failed |= rel_failed;
            }
        }
        // A view's columns take their values from its relations' through its definition, read
        // by lineage like a statement over the masked columns of the relations it names (views
        // of views in turn): one that reads a masked column is masked whole under its own name
        // (`CREATE VIEW v AS SELECT apikey AS k ...`), whatever it is called.
        for (schema, table, cols) in &seen {
            let Ok(Some(def)) = catalog.view_definition(schema, table).await else { continue };
            for (col, rule) in self.view_columns(ask, &def, cols, depth).await {
                push(&mut found, MaskedColumn { name: col, rule, whole: true });
            }
        }
        let found = Arc::new(found);
        // A relation that does not exist yet (a statement creating it), or that could not be
        // read, is asked about again.
        if !exists || failed {
            return found;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_RELATIONS {
            cache.clear();
        }
        cache.insert(key, (Instant::now() + if full { TTL } else { SHORT_TTL }, generation, found.clone()));
        found
    }
}

impl Discovery {
    /// Adds the masked columns `schema.table` (columns `cols`) takes from its inheritance tree
    /// (red-team round 36): a column configured on a parent is configured on every partition
    /// and child, which PostgreSQL lets anyone read directly; and a parent's rows are its
    /// partitions' and children's, so a column masked in any of them (configured, sampled or
    /// learnt) is masked in the parent, whose own sample sees only the first rows of the
    /// first partition. A parent with more partitions than are sampled, or a tree that cannot
    /// be read, has its text columns masked when derived from (unread means masked). Returns
    /// whether the samples were full and whether any failed.
    async fn relatives_masked(&self, ask: Ask<'_>, schema: &str, table: &str, cols: &[(String, u32)], found: &mut Vec<MaskedColumn>) -> (bool, bool) {
        let Ask { catalog, masker, target, .. } = ask;
        let mine = |c: &str| cols.iter().any(|(m, _)| m.eq_ignore_ascii_case(c));
        let relatives = match catalog.relatives(schema, table).await {
            Ok(r) => r,
            Err(_) => {
                self.unsampled(masker, cols, found);
                return (false, true);
            }
        };
        let below = relatives.iter().filter(|r| !r.ancestor).count();
        let (mut full, mut failed) = (true, false);
        for rel in &relatives {
            let (rs, rt, rcols) = &rel.columns;
            for (col, _) in rcols.iter().filter(|(c, _)| mine(c)) {
                if let Some(rule) = masker.column_rule(&ColumnRef { target, schema: rs, table: rt, column: col }) {
                    push(found, MaskedColumn { name: col.to_ascii_lowercase(), rule, whole: true });
                }
            }
            let key = (Arc::as_ptr(masker) as usize, rs.clone(), rt.clone());
            let promoted = self.promoted.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned().unwrap_or_default();
            for (col, label) in promoted.iter().filter(|(c, _)| mine(c)) {
                if let Some(rule) = masker.rule_for(label) {
                    push(found, MaskedColumn { name: col.to_ascii_lowercase(), rule, whole: false });
                }
            }
            // A parent's sample holds its other children's rows: only what is below is sampled.
            if rel.ancestor || below > crate::catalog::MAX_RELATIVES {
                continue;
            }
            let sampled = self.sampled(ask, rs, rt, rcols).await;
            full &= sampled.full;
            failed |= sampled.failed;
            for (col, label, whole) in sampled.found.iter().filter(|(c, _, _)| mine(c)) {
                if let Some(rule) = masker.rule_for(label) {
                    push(found, MaskedColumn { name: col.to_ascii_lowercase(), rule, whole: *whole });
                }
            }
        }
        if below > crate::catalog::MAX_RELATIVES {
            self.unsampled(masker, cols, found);
        }
        (full, failed)
    }

    /// Masks the text columns of `cols` when derived from, as columns that could not be
    /// sampled.
    fn unsampled(&self, masker: &Masker, cols: &[(String, u32)], found: &mut Vec<MaskedColumn>) {
        let Some(rule) = masker.rule_for(UNSAMPLED) else { return };
        for (col, oid) in cols {
            if scan_of(kind_of(*oid), 0, *oid, &HashMap::new()) != Scan::Skip {
                push(found, MaskedColumn { name: col.to_ascii_lowercase(), rule: rule.clone(), whole: false });
            }
        }
    }
}

impl Discovery {
    /// Forgets every relation's columns: a statement may have created or redefined one.
    pub fn forget(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Learns from a result that detectors matched in these table columns (`schema`, `table`,
    /// `column`, label) read as they are: values derived from them are masked whole from now
    /// on, as if their sample had shown it (red-team rounds 25 and 26: addresses past what the
    /// sample read came back reshaped right after hoop had masked them read plainly).
    pub fn promote(&self, masker: &Arc<Masker>, hits: Vec<(String, String, String, &'static str)>) {
        let mut promoted = self.promoted.lock().unwrap_or_else(|p| p.into_inner());
        let mut new = false;
        for (schema, table, column, label) in hits {
            if promoted.len() >= MAX_RELATIONS {
                promoted.clear();
            }
            let cols = promoted.entry((Arc::as_ptr(masker) as usize, schema, table)).or_default();
            if !cols.iter().any(|(c, _)| *c == column) && cols.len() < MAX_PROMOTED_COLUMNS {
                cols.push((column, label));
                new = true;
            }
        }
        drop(promoted);
        if new {
            // Only what was derived from samples is asked again, not the samples themselves:
            // promoting columns must not make every session sample its tables again.
            self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// How many times columns were promoted: memos of masked columns made before are stale.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What sampling `schema.table` (columns `cols`) finds, sampled on `who`'s turn unless a
    /// recent sample in this catalog generation tells. One that could not be read is kept
    /// briefly too: naming a relation slow to read again and again does not sample it again
    /// and again (it stays masked whole meanwhile).
    async fn sampled(&self, ask: Ask<'_>, schema: &str, table: &str, cols: &[(String, u32)]) -> Arc<Sampled> {
        let Ask { catalog, masker, who, .. } = ask;
        let key = (Arc::as_ptr(masker) as usize, schema.to_string(), table.to_string());
        let generation = catalog.generation();
        if let Some((until, at, s)) = self.samples.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && Instant::now() < *until
            && *at == generation
        {
            return s.clone();
        }
        let mut s = Arc::new(sample(catalog, masker, who, schema, table, cols).await);
        {
            let mut last = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
            if !s.failed {
                if last.len() >= MAX_RELATIONS {
                    last.clear();
                }
                last.insert(key.clone(), (Instant::now(), cols.to_vec(), s.clone()));
            } else if let Some((at, seen, read)) = last.get(&key)
                && seen.as_slice() == cols
                && at.elapsed() < TTL
            {
                // Unreadable now (locked), the same columns as when last read: as they were.
                // Other sessions cannot change them while the lock holds; the locking session's
                // own writes are checked for the masked values they carry.
                s = Arc::new(Sampled { found: read.found.clone(), full: false, failed: false });
            }
        }
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() >= MAX_RELATIONS {
            samples.clear();
        }
        samples.insert(key, (Instant::now() + if s.full && !s.failed { TTL } else { SHORT_TTL }, generation, s.clone()));
        s
    }
}

impl Discovery {
    /// The columns of a view defined by `def` (its columns `cols`, in order) whose values read a
    /// masked column of the relations it names, each with its rule. A definition hoop cannot
    /// read, or one naming a relation it cannot tell apart (a dot in its name), or views nested
    /// past [`MAX_VIEW_DEPTH`], mask every column.
    async fn view_columns(&self, ask: Ask<'_>, def: &str, cols: &[(String, u32)], depth: usize) -> Vec<(String, ColumnMask)> {
        let masker = ask.masker;
        let every = || cols.iter().filter_map(|(c, _)| Some((c.to_ascii_lowercase(), masker.rule_for("view")?))).collect();
        let sql = hoop_core::action::sql::analyze(def);
        if depth >= MAX_VIEW_DEPTH || !sql.parsed || sql.kinds.iter().any(|k| k == hoop_core::action::sql::DOTTED_NAME) {
            return every();
        }
        let mut masked: HashMap<String, Arc<Vec<MaskedColumn>>> = HashMap::new();
        for t in &sql.tables {
            let cols = Box::pin(self.masked_columns_at(ask, t, depth + 1)).await;
            masked.insert(t.clone(), cols);
        }
        let Some(lineage) = crate::lineage::of_text(masker, &masked, def, &[]) else { return Vec::new() };
        let result = lineage.result(0);
        cols.iter()
            .enumerate()
            .filter_map(|(i, (c, _))| {
                let name = c.to_ascii_lowercase();
                result.rule(i, cols.len(), &name).map(|r| (name, r))
            })
            .collect()
    }
}

/// Views nested deeper than this (each reading the next) mask every column.
const MAX_VIEW_DEPTH: usize = 8;

/// Adds `col` to `found`; a column already there is masked whole if either says so (a rule
/// found later, configuration on a parent say, never leaves it masked less).
fn push(found: &mut Vec<MaskedColumn>, col: MaskedColumn) {
    match found.iter_mut().find(|c| c.name == col.name) {
        Some(c) => {
            let redact = c.rule.mode == Mode::Redact || col.rule.mode == Mode::Redact;
            if col.whole && !c.whole {
                *c = col;
            }
            // Redacted anywhere, redacted: a token of a name that may denote a relation of the
            // caller's own values is a token of values it chose.
            if redact {
                c.rule.mode = Mode::Redact;
            }
        }
        None => found.push(col),
    }
}

/// Columns of `schema.table` where a content detector matches a sampled value, with the
/// detector's label and whether most sampled values matched.
async fn sample(catalog: &Catalog, masker: &Masker, who: &str, schema: &str, table: &str, cols: &[(String, u32)]) -> Sampled {
    let text: Vec<(&String, u32)> = cols
        .iter()
        // Every type whose text a detector may match in, as results are scanned (arrays and
        // records too: red-team round 25 kept addresses in a `bytea[]`).
        .filter(|(_, oid)| scan_of(kind_of(*oid), 0, *oid, &HashMap::new()) != Scan::Skip)
        .map(|(c, oid)| (c, *oid))
        .collect();
    if text.is_empty() || system_catalog(schema, table) {
        return Sampled { found: Vec::new(), full: true, failed: false };
    }
    let ident = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let rel = format!("{}.{}", ident(schema), ident(table));
    // Per column, its first values that are not NULL (red-team round 24: a column NULL in the
    // first 200 rows, as one added to a table that had rows, was never seen to hold addresses),
    // and whether the relation has as many rows as a sample. The start of each value is enough
    // to tell what it holds, and keeps a sample of huge values small. (`IS DISTINCT FROM`
    // needs an equality operator, which `json`, `xml` and `pg_node_tree` lack; a row of only
    // NULL fields holds nothing to see.)
    // Distinct values among the first rows: a placeholder a table starts with ('unknown'
    // for its legacy rows, red-team round 25) is one value, not the whole sample.
    let columns = |from: &str, order: &str| -> Vec<String> {
        text.iter()
            .enumerate()
            .map(|(i, (c, oid))| {
                let v = if *oid == crate::binary::BYTEA {
                    // In the text form results have (`\x` and hex), whatever `bytea_output` says.
                    format!("'\\x' || pg_catalog.encode(pg_catalog.substring({}, 1, {SAMPLE_VALUE_CHARS}), 'hex')", ident(c))
                } else {
                    format!("pg_catalog.left({}::text, {SAMPLE_VALUE_CHARS})", ident(c))
                };
                format!(
                    "SELECT {i}, v FROM (SELECT DISTINCT v FROM (SELECT {v} AS v FROM {from} WHERE NOT ({} IS NULL) {order} LIMIT {SCAN_ROWS}) d LIMIT {SAMPLE_ROWS}) s{i}",
                    ident(c)
                )
            })
            .collect()
    };
    let mut parts = vec![format!("SELECT -1, NULL::text FROM (SELECT FROM {rel} LIMIT {SAMPLE_ROWS}) n")];
    parts.extend(columns(&rel, ""));
    let sql = parts.join(" UNION ALL ");
    let Ok(mut rows) = catalog.sample(who, &sql).await else {
        // Unreadable means masked: a relation locked past the catalog's lock timeout (by the
        // caller itself, in its own transaction), or slower to read than the sample's timeout,
        // has every sampled column masked whole.
        return Sampled { found: text.iter().map(|(c, _)| ((*c).clone(), UNSAMPLED, true)).collect(), full: false, failed: true };
    };
    // The first rows may all hold a placeholder (`''` for the rows a table had when the
    // column was added, red-team round 36): values from across the whole relation are
    // sampled too, in random order, from about 64 pages chosen at random (every page of a
    // smaller relation). A parent's rows are sampled in its partitions and children instead
    // (see `relatives_masked`).
    let regclass = format!("'{}'::pg_catalog.regclass", rel.replace('\'', "''"));
    let pages = format!(
        "(SELECT CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE inhparent = {regclass}) THEN 0 \
         ELSE LEAST(100, 100.0 * 64 / GREATEST(1, pg_catalog.pg_relation_size({regclass}) / 8192)) END)"
    );
    let spread = columns(&format!("{rel} TABLESAMPLE SYSTEM ({pages})"), "ORDER BY pg_catalog.random()").join(" UNION ALL ");
    match catalog.sample(who, &spread).await {
        Ok(more) => rows.extend(more),
        // A view or a foreign table cannot be sampled by pages (red-team round 37: a foreign
        // table's addresses after 6,000 notes came back reshaped): the rows after the first
        // sample's are read instead, up to ten times as many, a bound on what one sample costs.
        Err(_) => {
            let further = columns(&format!("(SELECT * FROM {rel} OFFSET {SCAN_ROWS} LIMIT {}) f", SCAN_ROWS * 10), "").join(" UNION ALL ");
            if let Ok(more) = catalog.sample(who, &further).await {
                rows.extend(more);
            }
        }
    }
    let mut relation_rows = 0;
    // Per column: first label found, values with a hit, values, and whether a value was longer
    // than what was read of it.
    let mut seen: Vec<(Option<&'static str>, usize, usize, bool)> = vec![(None, 0, 0, false); text.len()];
    for row in rows {
        let (Some(Some(i)), v) = (row.first(), row.get(1).cloned().flatten()) else { continue };
        let Ok(i) = i.parse::<i64>() else { continue };
        let Some(v) = v else {
            relation_rows += 1;
            continue;
        };
        let Some(i) = usize::try_from(i).ok() else { continue };
        let (Some(s), Some((_, oid))) = (seen.get_mut(i), text.get(i)) else { continue };
        s.2 += 1;
        s.3 |= v.chars().count() >= if *oid == crate::binary::BYTEA { 2 + 2 * SAMPLE_VALUE_CHARS } else { SAMPLE_VALUE_CHARS };
        // Read as results are: its text, and what the text holds decoded (bytes, a float's or
        // money's whole number, bytes quoted inside arrays and records).
        let label = masker.detect(v.as_bytes()).or_else(|| crate::binary::text_forms(*oid, v.as_bytes()).iter().find_map(|f| masker.detect(f)));
        if let Some(label) = label {
            s.0.get_or_insert(label);
            s.1 += 1;
        }
    }
    // A column whose values were longer than what was read of them may hold a match past it
    // (red-team round 25: addresses after 5,000 characters of a note): unread means masked, so
    // values derived from it are masked whole; read as it is, the detectors see all of it.
    let found = text
        .iter()
        .zip(seen)
        .filter_map(|((c, _), (label, hits, n, cut))| match (label, cut) {
            (Some(l), _) => Some(((*c).clone(), l, hits * 2 > n)),
            (None, true) => Some(((*c).clone(), UNSAMPLED, false)),
            (None, false) => None,
        })
        .collect();
    Sampled { found, full: relation_rows >= SAMPLE_ROWS, failed: false }
}

/// Whether `schema.table` is one of the server's catalogs that hold what it says of its
/// objects (names, owners, privileges, settings) rather than rows a statement fills from
/// other relations: not sampled. Several cannot be read by a least-privileged gateway role
/// (`pg_authid`, behind `pg_roles`), and sampled they failed, which masked every role name in
/// `\du` and every owner in a `pg_dump` (compatibility round 1). Statistics (their sample
/// values are other relations' values) and large objects are sampled as any relation.
fn system_catalog(schema: &str, table: &str) -> bool {
    matches!(schema, "pg_catalog" | "information_schema")
        && !matches!(table, "pg_statistic" | "pg_statistic_ext" | "pg_statistic_ext_data" | "pg_stats" | "pg_stats_ext" | "pg_stats_ext_exprs" | "pg_largeobject")
}

/// What sampling a relation found: its columns with a detector's label and whether most
/// values matched; whether the sample was full (the relation had as many rows); whether it
/// could not be read (then every sampled column is in `found`, masked whole).
struct Sampled {
    found: Vec<(String, &'static str, bool)>,
    full: bool,
    failed: bool,
}

/// When a relation was last read in full, the columns it was read with, and what was found.
type LastRead = (Instant, Vec<(String, u32)>, Arc<Sampled>);

/// The label of columns masked because they could not be sampled.
const UNSAMPLED: &str = "unsampled";
