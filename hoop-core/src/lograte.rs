//! A bound on the log lines one kind of event writes: a flood of refusals (a client sending
//! thousands of bad requests a second) must not fill the disk with one line each (red-team
//! tenants round, 2026-12-07: refused admin requests and logins grew the log by 1–2 MB/s per
//! client connection, unauthenticated).
//!
//! ```
//! use hoop_core::lograte::LogRate;
//!
//! static REFUSED: LogRate = LogRate::new(2);
//! let lines: Vec<_> = (0..5).filter_map(|_| REFUSED.admit()).collect();
//! // Two lines this minute; the next minute's first line says how many were left out.
//! assert_eq!(lines, [0, 0]);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

/// At most so many lines a minute for one kind of event; see the module docs.
pub struct LogRate {
    per_minute: u64,
    minute: AtomicU64,
    count: AtomicU64,
}

impl LogRate {
    /// A bound of `per_minute` lines.
    pub const fn new(per_minute: u64) -> Self {
        LogRate { per_minute, minute: AtomicU64::new(0), count: AtomicU64::new(0) }
    }

    /// `Some(n)` when this event gets its line, `n` being how many events of the minute before
    /// had none (to be said in the line); `None` when it is left out.
    pub fn admit(&self) -> Option<u64> {
        let now = u64::try_from(crate::auth::now_secs()).unwrap_or(0) / 60;
        let seen = self.minute.load(Ordering::Acquire);
        if seen != now && self.minute.compare_exchange(seen, now, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            let before = self.count.swap(1, Ordering::AcqRel);
            return Some(before.saturating_sub(self.per_minute));
        }
        let n = self.count.fetch_add(1, Ordering::AcqRel);
        (n < self.per_minute).then_some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_minute_says_how_many_were_left_out() {
        let r = LogRate::new(3);
        assert_eq!((0..10).filter(|_| r.admit().is_some()).count(), 3);
        // As if the minute turned: the first line of the next one counts the seven left out.
        r.minute.store(0, Ordering::Release);
        assert_eq!(r.admit(), Some(7));
        assert_eq!(r.admit(), Some(0));
    }
}
