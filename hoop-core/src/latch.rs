//! A one-way flag tasks can wait on: once set, every waiter sees it, now or later.

use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// A flag that goes from unset to set once; [`wait`](Latch::wait) resolves once it is set.
///
/// A plain `Notify` misses a signal sent before its waiter registered, and an `AtomicBool`
/// cannot be awaited; the two together, with the waiter registered before the flag is read,
/// cannot miss the moment the flag goes up.
///
/// ```
/// use hoop_core::latch::Latch;
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let gone = Arc::new(Latch::default());
/// let waiter = tokio::spawn({
///     let gone = gone.clone();
///     async move { gone.wait().await }
/// });
/// assert!(!gone.set());
/// waiter.await.unwrap();
/// assert!(gone.is_set());
/// gone.wait().await; // already set: resolves at once
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Latch {
    set: AtomicBool,
    signal: Notify,
}

impl Latch {
    /// Sets the flag and wakes every waiter; returns whether it was set already.
    pub fn set(&self) -> bool {
        let was = self.set.swap(true, Ordering::SeqCst);
        if !was {
            self.signal.notify_waiters();
        }
        was
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Resolves once the flag is set.
    pub async fn wait(&self) {
        loop {
            let wait = self.signal.notified();
            tokio::pin!(wait);
            // Registered before the flag is read: a `set` between the read and the await
            // still wakes this waiter.
            wait.as_mut().enable();
            if self.is_set() {
                return;
            }
            wait.await;
        }
    }
}
