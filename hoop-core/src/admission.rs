//! Connection admission: caps on open connections (in all and per listener) and the deadline a
//! peer has to authenticate, with counters of every time one trips.
//!
//! One caller opening thousands of connections, or holding them open without ever logging in,
//! must not take the gateway from everyone else: a connection over a cap is refused at once,
//! and one that has not authenticated by the deadline is closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    total: AtomicUsize,
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

/// An admitted connection; its slot is freed when this drops.
#[derive(Debug)]
pub struct Admitted {
    counters: Arc<Counters>,
    listener: Listener,
    /// Whether it holds a slot of the global cap (the admin listener does not).
    counted: bool,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(c) = self.counters.open.get(self.listener.index()) {
            c.fetch_sub(1, Ordering::AcqRel);
        }
        if self.counted {
            self.counters.total.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Admitted {
    /// Counts a connection closed because it had not authenticated in time.
    pub fn preauth_timed_out(&self) {
        if let Some(c) = self.counters.preauth_timeouts.get(self.listener.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(listener = self.listener.as_str(), "connection closed: not authenticated in time");
    }
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
        if counted && c.total.fetch_add(1, Ordering::AcqRel) >= self.limits.max_connections {
            c.total.fetch_sub(1, Ordering::AcqRel);
            return refuse(Refused::Gateway);
        }
        let Some(open) = c.open.get(listener.index()) else { return refuse(Refused::Listener) };
        if open.fetch_add(1, Ordering::AcqRel) >= self.limits.max_connections_per_listener as u64 {
            open.fetch_sub(1, Ordering::AcqRel);
            if counted {
                c.total.fetch_sub(1, Ordering::AcqRel);
            }
            return refuse(Refused::Listener);
        }
        Ok(Admitted { counters: c.clone(), listener, counted })
    }

    /// Prometheus lines: open connections, refusals and pre-authentication timeouts per listener.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let c = &self.counters;
        let series = [
            ("hoop_connections_open", "gauge", "Connections open now.", &c.open),
            ("hoop_connections_refused_total", "counter", "Connections refused by a connection cap.", &c.refused),
            ("hoop_preauth_timeouts_total", "counter", "Connections closed for not authenticating in time.", &c.preauth_timeouts),
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
        let _p2 = a.admit(Listener::Postgres).unwrap();
        assert_eq!(a.admit(Listener::Postgres).unwrap_err(), Refused::Listener);
        let _s = a.admit(Listener::Ssh).unwrap();
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
}
