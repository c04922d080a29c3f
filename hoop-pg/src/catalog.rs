//! Table and column names for the OIDs a RowDescription carries, looked up once per table.
//!
//! Column masking rules name `schema.table.column`; the wire gives table OID and column
//! number. A side connection (with the gateway's credentials) asks `pg_attribute` for tables
//! not seen before; answers are cached for the life of the proxy.

use crate::conn::Conn;
use crate::upstream::{Upstream, UpstreamError, simple_query};
use bytes::BytesMut;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// A table's qualified name and its columns by number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableInfo {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Column names by attribute number.
    pub columns: HashMap<i16, String>,
}

/// The catalog cache of one target.
pub struct Catalog {
    upstream: Upstream,
    tables: Mutex<HashMap<u32, TableInfo>>,
    conn: tokio::sync::Mutex<Option<(Conn, BytesMut)>>,
}

impl Catalog {
    /// A cache that queries `upstream` on misses.
    pub fn new(upstream: Upstream) -> Self {
        Catalog { upstream, tables: Mutex::new(HashMap::new()), conn: tokio::sync::Mutex::new(None) }
    }

    /// Cached info for `oid`.
    pub fn get(&self, oid: u32) -> Option<TableInfo> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner()).get(&oid).cloned()
    }

    fn has(&self, oid: u32) -> bool {
        self.tables.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&oid)
    }

    /// Makes sure every OID in `oids` is cached (OIDs that are not tables cache as empty).
    pub async fn load(&self, oids: &[u32]) -> Result<(), UpstreamError> {
        let missing: Vec<u32> = oids.iter().copied().filter(|o| *o != 0 && !self.has(*o)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let list = missing.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
             WHERE c.oid IN ({list}) AND a.attnum > 0 AND NOT a.attisdropped"
        );
        let rows = self.query(&sql).await?;
        let mut found: BTreeMap<u32, TableInfo> = missing.iter().map(|o| (*o, TableInfo::default())).collect();
        for r in rows {
            let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            let Ok(oid) = get(0).parse::<u32>() else { continue };
            let Ok(num) = get(3).parse::<i16>() else { continue };
            let t = found.entry(oid).or_default();
            t.schema = get(1);
            t.table = get(2);
            t.columns.insert(num, get(4));
        }
        self.tables.lock().unwrap_or_else(|p| p.into_inner()).extend(found);
        Ok(())
    }

    /// Columns (in order) of the table `name` as a `COPY` names it, with its schema.
    pub async fn columns_of(&self, name: &str) -> Result<Option<(String, String, Vec<(String, u32)>)>, UpstreamError> {
        let lit = name.replace('\'', "''");
        let sql = format!(
            "SELECT n.nspname, c.relname, a.attname, a.atttypid FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
             WHERE c.oid = pg_catalog.to_regclass('{lit}') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        );
        let rows = self.query(&sql).await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let get = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        let (schema, table) = (get(first, 0), get(first, 1));
        Ok(Some((schema, table, rows.iter().map(|r| (get(r, 2), get(r, 3).parse().unwrap_or(0))).collect())))
    }

    async fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, UpstreamError> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let est = self.upstream.connect(&BTreeMap::from([("application_name".to_string(), "hoop-catalog".to_string())])).await?;
            *guard = Some((est.conn, est.leftover));
        }
        let Some((conn, leftover)) = guard.as_mut() else { return Ok(Vec::new()) };
        match simple_query(conn, leftover, sql).await {
            Ok(rows) => Ok(rows),
            Err(e) => {
                // A broken side connection is reopened next time.
                *guard = None;
                Err(e)
            }
        }
    }
}
