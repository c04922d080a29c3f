//! What changed in the server's catalog since a snapshot of its transactions: the poll that
//! moves the catalog's generation, and the check of one statement's relations.
//!
//! A change is a catalog row (of a relation, its columns, rules, constraints, row type or
//! triggers) written by a transaction the snapshot did not see committed. Comparing snapshots
//! rather than the newest transaction ids also catches a transaction that began before the
//! last look and committed after it: its rows carry an older id than the newest one seen.

/// The catalogs whose rows say what a relation is, each with the column naming the relation
/// (a column renamed writes only its `pg_attribute` row: red-team round 23 swapped
/// `card_number` and `city` by name unnoticed).
const CATALOGS: [(&str, &str); 6] = [
    ("pg_class", "oid"),
    ("pg_attribute", "attrelid"),
    ("pg_rewrite", "ev_class"),
    ("pg_constraint", "conrelid"),
    ("pg_type", "typrelid"),
    ("pg_trigger", "tgrelid"),
];

/// Transactions running when a snapshot was taken that are listed at most; a snapshot with
/// more is not kept (what it would say is taken as "changed").
const MAX_RUNNING: usize = 1024;

/// What the server had committed when `pg_current_snapshot()` was read: every transaction
/// before `xmax` except those then `running`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    xmax: u32,
    running: Vec<u32>,
}

impl Snapshot {
    /// Reads `pg_current_snapshot()`'s text (`xmin:xmax:xip,…`, 64-bit ids); `None` if it is
    /// not one.
    pub fn parse(text: &str) -> Option<Snapshot> {
        let mut parts = text.split(':');
        let (_xmin, xmax, xip) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        // Catalog rows carry 32-bit ids: the epoch goes.
        let low = |s: &str| s.parse::<u64>().ok().map(|x| x as u32);
        let xmax = low(xmax)?;
        let running = if xip.is_empty() { Vec::new() } else { xip.split(',').map(low).collect::<Option<Vec<u32>>>()? };
        (running.len() <= MAX_RUNNING).then_some(Snapshot { xmax, running })
    }

    /// SQL true where the transaction id in `column` (an `xid`) is one this snapshot did not
    /// see committed. `age` compares ids around wraparound; frozen ids are the oldest.
    fn unseen(&self, column: &str) -> String {
        let mut sql = format!("(pg_catalog.age({column}) <= pg_catalog.age('{}'::xid)", self.xmax);
        if !self.running.is_empty() {
            let ids: Vec<String> = self.running.iter().map(|x| format!("'{x}'::xid")).collect();
            sql.push_str(&format!(" OR {column} IN ({})", ids.join(", ")));
        }
        sql.push(')');
        sql
    }

    /// SQL true if a catalog row was written unseen by this snapshot: of any relation, or,
    /// with `relations` (a subquery of OIDs), of those only.
    pub fn changed_sql(&self, relations: Option<&str>) -> String {
        CATALOGS
            .iter()
            .map(|(catalog, rel)| {
                let scope = relations.map(|r| format!(" AND x.{rel} IN ({r})")).unwrap_or_default();
                format!("EXISTS (SELECT 1 FROM pg_catalog.{catalog} x WHERE {}{scope})", self.unseen("x.xmin"))
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    }
}

/// The poll: the current snapshot, and whether anything changed since `since` (`false`
/// without one).
pub fn poll_sql(since: Option<&Snapshot>) -> String {
    let changed = since.map_or_else(|| "false".to_string(), |s| s.changed_sql(None));
    format!("SELECT pg_catalog.pg_current_snapshot()::text, ({changed})::text")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_read_as_the_server_writes_them() {
        assert_eq!(Snapshot::parse("740:744:740,742"), Some(Snapshot { xmax: 744, running: vec![740, 742] }));
        assert_eq!(Snapshot::parse("744:744:"), Some(Snapshot { xmax: 744, running: vec![] }));
        // A 64-bit id past the first epoch keeps its low 32 bits, as catalog rows do.
        assert_eq!(Snapshot::parse("4294967396:4294967400:"), Some(Snapshot { xmax: 104, running: vec![] }));
        assert_eq!(Snapshot::parse("garbage"), None);
        assert_eq!(Snapshot::parse("1:2:x"), None);
        assert_eq!(Snapshot::parse("1:2:3:4"), None);
    }

    #[test]
    fn a_change_is_a_row_the_snapshot_did_not_see() {
        let s = Snapshot::parse("740:744:741").unwrap();
        assert_eq!(s.unseen("x.xmin"), "(pg_catalog.age(x.xmin) <= pg_catalog.age('744'::xid) OR x.xmin IN ('741'::xid))");
        let scoped = s.changed_sql(Some("SELECT oid FROM r"));
        assert_eq!(scoped.matches("EXISTS").count(), CATALOGS.len());
        assert!(scoped.contains("x.attrelid IN (SELECT oid FROM r)"));
        assert!(poll_sql(None).ends_with("(false)::text"));
    }
}
