//! A gateway-wide bound on the memory held for large messages, shared between identities.
//!
//! Each session's buffers are bounded by the per-message limits (`limits.max_message_bytes`,
//! `limits.max_server_message_bytes`), but many sessions of many identities together are not:
//! 32 sessions of one agent each sending half of a 64 MiB message held 2 GiB. A message over
//! [`SMALL`] therefore draws its size from one pool (`limits.large_messages_bytes`) before it is
//! buffered, and one identity may hold at most a quarter of that pool, so that one caller's large
//! messages cannot take every other caller's room. What does not fit is refused at once, not
//! waited for: a caller holding its share with half-sent messages must not stall the others.
//!
//! ```
//! use hoop_core::buffers::LargeBuffers;
//!
//! let pool = LargeBuffers::new(64 << 20);
//! let share = pool.share("agent-1");
//! let held = share.reserve(10 << 20).expect("a quarter of the pool fits");
//! assert!(share.reserve(10 << 20).is_err(), "past this identity's quarter");
//! assert!(pool.share("agent-2").reserve(10 << 20).is_ok(), "another identity still has room");
//! drop(held);
//! assert!(share.reserve(10 << 20).is_ok(), "given back when dropped");
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Messages up to this size are not counted: the per-session limits bound them well enough.
pub const SMALL: usize = 256 << 10;

/// Why a large message does not fit now.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BufferError {
    /// The pool is in use by other sessions.
    #[error(
        "a message of {bytes} bytes does not fit in the gateway's memory for large messages now ({held} of {total} bytes in use; limits.large_messages_bytes); try again later"
    )]
    Busy {
        /// The message's size.
        bytes: usize,
        /// Bytes already held.
        held: usize,
        /// The pool's size.
        total: usize,
    },
    /// This identity holds its share already.
    #[error(
        "a message of {bytes} bytes is over this identity's share of the gateway's memory for large messages ({held} of {share} bytes in use by its sessions; a quarter of limits.large_messages_bytes)"
    )]
    Share {
        /// The message's size.
        bytes: usize,
        /// Bytes this identity's sessions already hold.
        held: usize,
        /// One identity's share.
        share: usize,
    },
}

/// The pool: cheap to clone, one per gateway.
#[derive(Clone, Debug)]
pub struct LargeBuffers {
    pool: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    /// 0: no bound.
    total: usize,
    held: Mutex<Held>,
    /// Messages refused for want of room.
    refused: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by: HashMap<Arc<str>, usize>,
}

impl LargeBuffers {
    /// A pool of `total` bytes (0: unbounded).
    pub fn new(total: usize) -> Self {
        LargeBuffers { pool: Arc::new(Pool { total, held: Mutex::default(), refused: Default::default() }) }
    }

    /// What `identity`'s sessions draw from.
    pub fn share(&self, identity: &str) -> BufferShare {
        BufferShare { pool: self.pool.clone(), who: Arc::from(identity) }
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.pool.lock().total
    }

    /// Appends the pool's metrics (Prometheus text) to `out`.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP hoop_large_messages_bytes Bytes held for messages over 256 KiB now.\n# TYPE hoop_large_messages_bytes gauge");
        let _ = writeln!(out, "hoop_large_messages_bytes {}", self.held());
        let _ = writeln!(out, "# HELP hoop_large_messages_refused_total Messages refused for want of room (limits.large_messages_bytes).\n# TYPE hoop_large_messages_refused_total counter");
        let _ = writeln!(out, "hoop_large_messages_refused_total {}", self.pool.refused.load(std::sync::atomic::Ordering::Relaxed));
    }
}

impl Default for LargeBuffers {
    fn default() -> Self {
        LargeBuffers::new(0)
    }
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One identity's handle on the pool.
#[derive(Clone, Debug)]
pub struct BufferShare {
    pool: Arc<Pool>,
    who: Arc<str>,
}

impl BufferShare {
    /// A share of an unbounded pool (for tools and tests).
    pub fn unbounded() -> Self {
        LargeBuffers::new(0).share("")
    }

    /// Takes `bytes` from the pool until the returned reservation is dropped.
    pub fn reserve(&self, bytes: usize) -> Result<Reservation, BufferError> {
        let total = self.pool.total;
        if total == 0 {
            return Ok(Reservation { pool: self.pool.clone(), who: self.who.clone(), bytes: 0 });
        }
        let share = total / 4;
        let mut held = self.pool.lock();
        let mine = held.by.get(&self.who).copied().unwrap_or(0);
        let refused = if mine.saturating_add(bytes) > share {
            Some(BufferError::Share { bytes, held: mine, share })
        } else if held.total.saturating_add(bytes) > total {
            Some(BufferError::Busy { bytes, held: held.total, total })
        } else {
            None
        };
        if let Some(e) = refused {
            self.pool.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(e);
        }
        held.total += bytes;
        *held.by.entry(self.who.clone()).or_insert(0) += bytes;
        Ok(Reservation { pool: self.pool.clone(), who: self.who.clone(), bytes })
    }
}

/// Bytes taken from the pool, given back on drop.
#[derive(Debug)]
pub struct Reservation {
    pool: Arc<Pool>,
    who: Arc<str>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut held = self.pool.lock();
        held.total = held.total.saturating_sub(self.bytes);
        if let Some(n) = held.by.get_mut(&self.who) {
            *n = n.saturating_sub(self.bytes);
            if *n == 0 {
                held.by.remove(&self.who);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_and_each_share_bound_what_is_held() {
        let pool = LargeBuffers::new(100);
        let (a, b, c, d) = (pool.share("a"), pool.share("b"), pool.share("c"), pool.share("d"));
        let a1 = a.reserve(25).unwrap();
        assert!(matches!(a.reserve(1), Err(BufferError::Share { held: 25, share: 25, .. })));
        let _held = [b.reserve(25).unwrap(), c.reserve(25).unwrap(), d.reserve(20).unwrap()];
        assert!(matches!(pool.share("e").reserve(10), Err(BufferError::Busy { held: 95, total: 100, .. })));
        assert_eq!(pool.held(), 95);
        drop(a1);
        assert_eq!(pool.held(), 70);
        assert!(pool.share("e").reserve(10).is_ok());
        assert!(BufferShare::unbounded().reserve(usize::MAX).is_ok());
    }
}
