//! Connection admission: caps on open connections (in all and per listener) and the deadline a
//! peer has to authenticate, with counters of every time one trips.
//!
//! One caller opening thousands of connections, or holding them open without ever logging in,
//! must not take the gateway from everyone else: one that has not authenticated by the deadline
//! is closed, and when a cap is full the oldest connection still not authenticated is closed to
//! make room (red-team round 24: 2,100 idle sockets, reopened as the deadline closed them, kept
//! every identity out of the Postgres listener without a credential). Only when every slot is
//! held by an authenticated session is a newcomer refused, and authenticated sessions are
//! bounded per identity by the gate.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The listeners hoop runs, each with its own cap and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The Postgres listener.
    Postgres,
    /// The SSH listener.
    Ssh,
    /// The Kubernetes API listener.
    Kubernetes,
    /// The admin API listener.
    Admin,
}

impl Listener {
    const ALL: [Listener; 4] = [Listener::Postgres, Listener::Ssh, Listener::Kubernetes, Listener::Admin];

    /// The listener's name, as in config keys and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Postgres => "postgres",
            Listener::Ssh => "ssh",
            Listener::Kubernetes => "kubernetes",
            Listener::Admin => "admin",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The caps and deadline (`[limits]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct AdmissionLimits {
    /// Open connections on all listeners together.
    pub max_connections: usize,
    /// Open connections on one listener.
    pub max_connections_per_listener: usize,
    /// Time from accept to authenticated (TLS handshake, startup, SSH key exchange and auth,
    /// HTTP headers).
    pub preauth_timeout: Duration,
    /// Largest HTTP request head (Kubernetes and admin listeners).
    pub max_header_bytes: usize,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits { max_connections: 4096, max_connections_per_listener: 2048, preauth_timeout: Duration::from_secs(10), max_header_bytes: 64 << 10 }
    }
}

#[derive(Debug, Default)]
struct Counters {
    open: [AtomicU64; 4],
    refused: [AtomicU64; 4],
    preauth_timeouts: [AtomicU64; 4],
    evicted: [AtomicU64; 4],
    total: AtomicUsize,
    /// Connections not authenticated yet, oldest first.
    preauth: Mutex<VecDeque<Waiting>>,
    next_id: AtomicU64,
}

/// A connection not authenticated yet.
#[derive(Debug)]
struct Waiting {
    id: u64,
    listener: Listener,
    slot: Arc<Slot>,
}

/// What an admitted connection and the admission that may evict it share.
#[derive(Debug, Default)]
struct Slot {
    /// Its counts were given back (by its drop or by an eviction): never twice.
    released: AtomicBool,
    /// Told when it is evicted.
    evict: tokio::sync::Notify,
}

impl Counters {
    /// Gives `listener`'s slot (and the gateway's, if `counted`) back, once.
    fn release(&self, slot: &Slot, listener: Listener) {
        if slot.released.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(c) = self.open.get(listener.index()) {
            c.fetch_sub(1, Ordering::AcqRel);
        }
        if listener != Listener::Admin {
            self.total.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn forget_waiting(&self, id: u64) {
        let mut q = self.preauth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = q.iter().position(|w| w.id == id) {
            q.remove(i);
        }
    }

    /// Closes the oldest connection not authenticated yet on `listener` (any data listener if
    /// `None`), giving its slot back; whether there was one.
    fn evict_oldest(&self, listener: Option<Listener>) -> bool {
        let gone = {
            let mut q = self.preauth.lock().unwrap_or_else(|p| p.into_inner());
            let i = q.iter().position(|w| listener.map_or(w.listener != Listener::Admin, |l| w.listener == l));
            i.and_then(|i| q.remove(i))
        };
        let Some(w) = gone else { return false };
        self.release(&w.slot, w.listener);
        if let Some(c) = self.evicted.get(w.listener.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        w.slot.evict.notify_one();
        true
    }
}

/// Admits connections within the caps; shared by every listener of a gateway.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    limits: AdmissionLimits,
    counters: Arc<Counters>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The gateway has `max_connections` open.
    #[error("the gateway has too many connections open")]
    Gateway,
    /// This listener has `max_connections_per_listener` open.
    #[error("this listener has too many connections open")]
    Listener,
}

/// An admitted connection; its slot is freed when this drops. Until it is
/// [`authenticated`](Self::authenticated) a newcomer may evict it when the caps are full.
#[derive(Debug)]
pub struct Admitted {
    counters: Arc<Counters>,
    listener: Listener,
    id: u64,
    slot: Arc<Slot>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.counters.forget_waiting(self.id);
        self.counters.release(&self.slot, self.listener);
    }
}

/// Why a connection's time before authentication ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PreauthEnd {
    /// It did not authenticate by the deadline.
    #[error("not authenticated in time (limits.preauth_timeout_secs)")]
    TimedOut,
    /// A newcomer needed its slot while the caps were full.
    #[error("closed to make room: the gateway's connections are full and this one had not authenticated")]
    Evicted,
}

impl Admitted {
    /// The peer authenticated: from now on the connection keeps its slot until it closes.
    pub fn authenticated(&self) {
        self.counters.forget_waiting(self.id);
    }

    /// Resolves when a newcomer evicts this connection (never, once authenticated).
    pub async fn evicted(&self) {
        // A live connection's slot is given back only by an eviction; the flag keeps telling
        // after the notification was taken.
        while !self.slot.released.load(Ordering::Acquire) {
            self.slot.evict.notified().await;
        }
    }

    /// Runs `f`, a step before authentication, until `deadline`, unless this connection is
    /// evicted first; a timeout is counted.
    pub async fn before_auth<F: std::future::Future>(&self, deadline: tokio::time::Instant, f: F) -> Result<F::Output, PreauthEnd> {
        tokio::select! {
            r = tokio::time::timeout_at(deadline, f) => r.map_err(|_| {
                self.preauth_timed_out();
                PreauthEnd::TimedOut
            }),
            _ = self.evicted() => {
                tracing::info!(listener = self.listener.as_str(), "connection closed before authenticating: its slot went to a newcomer");
                Err(PreauthEnd::Evicted)
            }
        }
    }

    /// Counts a connection closed because it had not authenticated in time.
    pub fn preauth_timed_out(&self) {
        if let Some(c) = self.counters.preauth_timeouts.get(self.listener.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(listener = self.listener.as_str(), "connection closed: not authenticated in time");
    }
}

tokio::task_local! {
    /// The connection an HTTP listener's task serves, for the request that authenticates on it.
    static SERVING: Arc<Admitted>;
}

/// Serves an HTTP listener's connection `admitted` with `serve` (its whole life after the TLS
/// handshake), ending it early if it is evicted before a request on it authenticated (see
/// [`authenticated_here`]).
pub async fn serve_http<F: std::future::Future>(admitted: Arc<Admitted>, serve: F) {
    let watch = admitted.clone();
    tokio::select! {
        _ = SERVING.scope(admitted, serve) => {}
        _ = watch.evicted() => tracing::info!(listener = watch.listener.as_str(), "connection closed before authenticating: its slot went to a newcomer"),
    }
}

/// A request authenticated on the connection this task serves ([`serve_http`]): the connection
/// keeps its slot from now on.
pub fn authenticated_here() {
    let _ = SERVING.try_with(|a| a.authenticated());
}

impl Admission {
    /// Admission with `limits`.
    pub fn new(limits: AdmissionLimits) -> Self {
        Admission { limits, counters: Arc::default() }
    }

    /// The caps and deadline.
    pub fn limits(&self) -> AdmissionLimits {
        self.limits
    }

    /// Takes a slot on `listener`, or says which cap is full (and counts the refusal).
    pub fn admit(&self, listener: Listener) -> Result<Admitted, Refused> {
        let c = &self.counters;
        let refuse = |why: Refused| {
            let n = c.refused.get(listener.index()).map_or(0, |r| r.fetch_add(1, Ordering::Relaxed));
            // A flood must not fill the disk with log lines: the first, then every thousandth.
            if n.is_multiple_of(1000) {
                tracing::warn!(listener = listener.as_str(), %why, refused_so_far = n + 1, "connection refused");
            }
            Err(why)
        };
        // The admin listener has its own slots only: a flood of the data listeners must never
        // keep an operator from revoking or killing what floods them.
        let counted = listener != Listener::Admin;
        // A full cap makes room by closing the oldest connection that has not authenticated.
        while counted && c.total.fetch_add(1, Ordering::AcqRel) >= self.limits.max_connections {
            c.total.fetch_sub(1, Ordering::AcqRel);
            if !c.evict_oldest(None) {
                return refuse(Refused::Gateway);
            }
        }
        let Some(open) = c.open.get(listener.index()) else { return refuse(Refused::Listener) };
        while open.fetch_add(1, Ordering::AcqRel) >= self.limits.max_connections_per_listener as u64 {
            open.fetch_sub(1, Ordering::AcqRel);
            if !c.evict_oldest(Some(listener)) {
                if counted {
                    c.total.fetch_sub(1, Ordering::AcqRel);
                }
                return refuse(Refused::Listener);
            }
        }
        let id = c.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        c.preauth.lock().unwrap_or_else(|p| p.into_inner()).push_back(Waiting { id, listener, slot: slot.clone() });
        Ok(Admitted { counters: c.clone(), listener, id, slot })
    }

    /// Prometheus lines: open connections, refusals and pre-authentication timeouts per listener.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let c = &self.counters;
        let series = [
            ("hoop_connections_open", "gauge", "Connections open now.", &c.open),
            ("hoop_connections_refused_total", "counter", "Connections refused by a connection cap.", &c.refused),
            ("hoop_preauth_timeouts_total", "counter", "Connections closed for not authenticating in time.", &c.preauth_timeouts),
            ("hoop_preauth_evicted_total", "counter", "Connections not authenticated yet closed to make room for a newcomer at a full cap.", &c.evicted),
        ];
        for (name, kind, help, values) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for l in Listener::ALL {
                let n = values.get(l.index()).map_or(0, |a| a.load(Ordering::Relaxed));
                let _ = writeln!(out, "{name}{{listener=\"{}\"}} {n}", l.as_str());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_slots_come_back() {
        let a = Admission::new(AdmissionLimits { max_connections: 3, max_connections_per_listener: 2, ..Default::default() });
        let p1 = a.admit(Listener::Postgres).unwrap();
        let p2 = a.admit(Listener::Postgres).unwrap();
        p1.authenticated();
        p2.authenticated();
        assert_eq!(a.admit(Listener::Postgres).unwrap_err(), Refused::Listener);
        let s = a.admit(Listener::Ssh).unwrap();
        s.authenticated();
        assert_eq!(a.admit(Listener::Kubernetes).unwrap_err(), Refused::Gateway);
        let _admin = a.admit(Listener::Admin).expect("the admin listener has slots of its own");
        drop(p1);
        assert!(a.admit(Listener::Kubernetes).is_ok());
        let mut text = String::new();
        a.render(&mut text);
        assert!(text.contains("hoop_connections_refused_total{listener=\"postgres\"} 1"), "{text}");
        assert!(text.contains("hoop_connections_refused_total{listener=\"kubernetes\"} 1"), "{text}");
        assert!(text.contains("hoop_connections_open{listener=\"ssh\"} 1"), "{text}");
    }

    #[tokio::test]
    async fn a_newcomer_at_a_full_cap_evicts_the_oldest_connection_not_authenticated() {
        let a = Admission::new(AdmissionLimits { max_connections: 10, max_connections_per_listener: 2, ..Default::default() });
        let authed = a.admit(Listener::Postgres).unwrap();
        authed.authenticated();
        let idle = a.admit(Listener::Postgres).unwrap();
        let newcomer = a.admit(Listener::Postgres).expect("room made");
        tokio::time::timeout(Duration::from_secs(1), idle.evicted()).await.expect("the idle one was told");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        assert_eq!(idle.before_auth(deadline, std::future::pending::<()>()).await.unwrap_err(), PreauthEnd::Evicted);
        drop(idle);
        // Its slot was given back once: two open, and the next newcomer evicts the last one
        // still waiting, never the authenticated one.
        let mut text = String::new();
        a.render(&mut text);
        assert!(text.contains("hoop_connections_open{listener=\"postgres\"} 2"), "{text}");
        assert!(text.contains("hoop_preauth_evicted_total{listener=\"postgres\"} 1"), "{text}");
        newcomer.authenticated();
        assert_eq!(a.admit(Listener::Postgres).unwrap_err(), Refused::Listener);
        drop(authed);
    }
}
