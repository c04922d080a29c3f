//! Cancel requests: they arrive on a new connection with no identity, carrying the key hoop
//! gave the client; hoop maps it to the real server's key and forwards the cancel, and tells
//! the session (a statement waiting for review is one the server is not running: the client's
//! cancel ends the wait).

use crate::upstream::Upstream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Live sessions' cancel keys: the client's `(pid, hoop key)` → upstream and real key.
#[derive(Default)]
pub struct CancelRegistry {
    map: Mutex<HashMap<(i32, i32), Registered>>,
}

/// What a client's cancel key stands for: the upstream, the server's own key, and the count of
/// the session's cancels.
type Registered = (Upstream, i32, Arc<tokio::sync::watch::Sender<u64>>);

/// A session's count of the cancel requests its client sent, to wait on.
pub type ClientCancels = tokio::sync::watch::Receiver<u64>;

impl CancelRegistry {
    /// Registers a session; returns the secret key to give the client, and the count of the
    /// cancels it will send.
    pub fn register(&self, pid: i32, real_key: i32, upstream: Upstream) -> (i32, ClientCancels) {
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        let tx = Arc::new(tx);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let mut b = [0u8; 4];
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
            let key = i32::from_be_bytes(b);
            if let std::collections::hash_map::Entry::Vacant(e) = map.entry((pid, key)) {
                e.insert((upstream, real_key, tx));
                return (key, rx);
            }
        }
    }

    /// Forgets a session.
    pub fn remove(&self, pid: i32, key: i32) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(&(pid, key));
    }

    /// Forwards a cancel for `(pid, key)` if it is a live session's; unknown keys are ignored,
    /// as Postgres does, so a guess reveals nothing.
    pub async fn cancel(&self, pid: i32, key: i32) {
        let found = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(&(pid, key)).cloned();
        if let Some((upstream, real, cancels)) = found {
            cancels.send_modify(|n| *n += 1);
            if let Err(e) = upstream.cancel(pid, real).await {
                tracing::warn!(error = %e, "forwarding a cancel request failed");
            }
        }
    }
}
