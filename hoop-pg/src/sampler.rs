//! The side connections discovery samples relations on: a few per target, at most one at a time
//! per identity, each sample bounded in time and size.
//!
//! What a sample costs is up to whoever named the relation: a view's sample runs the view's
//! query (red-team round 24: `CREATE VIEW … ORDER BY random()` over forty million rows held the
//! one shared side connection for its whole timeout, twice, per view named, and every other
//! identity's first reads waited behind it). So an identity waits only for its own samples and
//! for the pool, never for another identity's slow one: one caller cannot take discovery away
//! from the others.

use crate::conn::Conn;
use crate::upstream::{Upstream, UpstreamError, simple_query};
use bytes::BytesMut;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Samples running at once on one target (one connection each).
const POOL: usize = 4;

/// Idle sampling connections kept open.
const MAX_IDLE: usize = POOL;

/// Bounds of a sampling connection: a lock held by a caller's own open transaction is not
/// waited for (the relation is then masked whole), and a relation slow to read is given up
/// on (the same).
const SAMPLE_TIMEOUTS: &str = "SET lock_timeout = '500ms'; SET statement_timeout = '2s'";

/// Identities whose turn is tracked at once; past it the idle ones are forgotten.
const MAX_IDENTITIES: usize = 4096;

/// A target's sampling connections.
pub struct Samplers {
    slots: Semaphore,
    idle: Mutex<Vec<(Conn, BytesMut)>>,
    /// One turn per identity: its samples run one after another.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Default for Samplers {
    fn default() -> Self {
        Samplers { slots: Semaphore::new(POOL), idle: Mutex::new(Vec::new()), turns: Mutex::new(HashMap::new()) }
    }
}

impl Samplers {
    /// Runs the sampling query `sql` for identity `who`: after `who`'s samples before it, on one
    /// of the pool's connections (opened on `upstream` when none is idle).
    pub async fn query(&self, upstream: &Upstream, who: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, UpstreamError> {
        let turn = self.turn(who);
        let _mine = turn.lock().await;
        let _slot = self.slots.acquire().await.map_err(|_| UpstreamError::Protocol("sampling closed".into()))?;
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let (mut conn, mut leftover) = match taken {
            Some(c) => c,
            None => {
                let mut est = upstream.connect(&BTreeMap::from([("application_name".to_string(), "hoop-discovery".to_string())])).await?;
                simple_query(&mut est.conn, &mut est.leftover, SAMPLE_TIMEOUTS).await?;
                (est.conn, est.leftover)
            }
        };
        let result = simple_query(&mut conn, &mut leftover, sql).await;
        // A connection that only had a query refused (a timeout, a lock not granted) goes on; a
        // broken one, or one left mid-answer, is closed.
        if matches!(result, Ok(_) | Err(UpstreamError::Refused(_))) {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push((conn, leftover));
            }
        }
        result
    }

    /// `who`'s turn, made if new.
    fn turn(&self, who: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = turns.get(who) {
            return t.clone();
        }
        if turns.len() >= MAX_IDENTITIES {
            // Only turns nobody holds or waits for go: one in use stays one turn.
            turns.retain(|_, t| Arc::strong_count(t) > 1);
        }
        let t = Arc::new(tokio::sync::Mutex::new(()));
        turns.insert(who.to_string(), t.clone());
        t
    }
}
