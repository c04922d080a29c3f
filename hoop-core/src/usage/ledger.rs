//! Recent events per identity and session, by time: `kubectl delete pods --all` is one delete
//! per pod, harmless alone, a bulk delete together.
//!
//! A [`Ledger`] keeps, per key (an identity or a session, with what was counted and where),
//! the times of recent events within a window. It is bounded however many identities come
//! and go: each key keeps at most [`MAX_EVENTS`] times, and past [`MAX_KEYS`] keys the idlest
//! are dropped.

use crate::action::{Action, ActionKind};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far back counts reach.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Most events kept per key: counts saturate there, far above any threshold.
pub const MAX_EVENTS: usize = 1024;
/// Most keys kept; past it the idlest go.
pub const MAX_KEYS: usize = 16_384;

/// Sliding-window event counts per key.
#[derive(Debug, Default)]
pub struct Ledger {
    keys: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Ledger {
    /// The deletes like `action` by `subject` on its target and in `session` within the window
    /// (zero for actions that are not counted).
    pub fn recent(&self, subject: &str, session: &str, action: &Action) -> (u64, u64) {
        let Some(what) = counted(action) else { return (0, 0) };
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let mut count = |key: String| keys.get_mut(&key).map_or(0, |q| live(q, now) as u64);
        (count(identity_key(subject, &action.target, &what)), count(session_key(session, &what)))
    }

    /// Counts `action` (once it has been let through).
    pub fn record(&self, subject: &str, session: &str, action: &Action) {
        let Some(what) = counted(action) else { return };
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_KEYS {
            evict(&mut keys, now);
        }
        for key in [identity_key(subject, &action.target, &what), session_key(session, &what)] {
            let q = keys.entry(key).or_default();
            live(q, now);
            if q.len() >= MAX_EVENTS {
                q.pop_front();
            }
            q.push_back(now);
        }
    }
}

/// What an action counts as, if anything: a Kubernetes delete of one object counts against its
/// resource and namespace.
fn counted(action: &Action) -> Option<String> {
    (action.kind == ActionKind::K8s && is_delete(&action.k8s))
        .then(|| format!("k8s.delete:{}/{}/{}", action.k8s.group, action.k8s.resource, action.k8s.namespace))
}

/// Whether a Kubernetes request deletes an object: a DELETE, or a pod's eviction (a create on
/// `pods/…/eviction` that removes the pod, how `kubectl drain` deletes).
pub fn is_delete(k: &crate::action::K8s) -> bool {
    k.verb == "delete" || (k.verb == "create" && k.subresource == "eviction")
}

fn identity_key(subject: &str, target: &str, what: &str) -> String {
    format!("i\u{0}{subject}\u{0}{target}\u{0}{what}")
}

fn session_key(session: &str, what: &str) -> String {
    format!("s\u{0}{session}\u{0}{what}")
}

/// Drops the times older than the window; the number left.
fn live(q: &mut VecDeque<Instant>, now: Instant) -> usize {
    while q.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
        q.pop_front();
    }
    q.len()
}

/// Makes room: keys with nothing in the window go, then the idlest half.
fn evict(keys: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
    keys.retain(|_, q| live(q, now) > 0);
    if keys.len() < MAX_KEYS {
        return;
    }
    let mut last: Vec<(Instant, String)> = keys.iter().map(|(k, q)| (q.back().copied().unwrap_or(now), k.clone())).collect();
    last.sort_unstable();
    for (_, k) in last.into_iter().take(MAX_KEYS / 2) {
        keys.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::K8s;

    fn delete(ns: &str, name: &str) -> Action {
        Action::k8s("k", K8s { verb: "delete".into(), resource: "pods".into(), namespace: ns.into(), name: name.into(), ..K8s::default() })
    }

    #[test]
    fn deletes_counted_per_resource_namespace_identity_and_session() {
        let l = Ledger::default();
        for i in 0..3 {
            assert_eq!(l.recent("a", "s1", &delete("x", &format!("p{i}"))).0, i);
            l.record("a", "s1", &delete("x", &format!("p{i}")));
        }
        assert_eq!(l.recent("a", "s2", &delete("x", "p9")), (3, 0), "identity-wide across sessions");
        assert_eq!(l.recent("a", "s1", &delete("y", "p")).0, 0, "another namespace");
        assert_eq!(l.recent("b", "s1", &delete("x", "p")).0, 0, "another identity");
        let get = Action::k8s("k", K8s { verb: "get".into(), resource: "pods".into(), ..K8s::default() });
        l.record("a", "s1", &get);
        assert_eq!(l.recent("a", "s1", &get), (0, 0));
    }

    #[test]
    fn bounded_however_many_keys() {
        let l = Ledger::default();
        for i in 0..(MAX_KEYS + 10) {
            l.record(&format!("id{i}"), "s", &delete("x", "p"));
        }
        assert!(l.keys.lock().unwrap().len() <= MAX_KEYS + 1);
        for _ in 0..(MAX_EVENTS + 5) {
            l.record("busy", "s2", &delete("x", "p"));
        }
        assert_eq!(l.recent("busy", "s2", &delete("x", "p")).1, MAX_EVENTS as u64);
    }
}
