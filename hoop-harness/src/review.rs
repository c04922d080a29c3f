//! A reviewer for tests: waits for open tickets and decides them, from a thread of its own so
//! the statement, command or request under review can block meanwhile.

use hoop_core::approvals::{Broker, REVIEW_GROUP};
use hoop_core::identity::{Identity, IdentityKind};
use std::time::Duration;

/// Decides the first ticket that opens within 15 s, as human reviewer `reviewer`; joining the
/// handle fails if none opened or the decision was refused.
pub fn decide_first(broker: &Broker, reviewer: &str, approve: bool, reason: &str) -> std::thread::JoinHandle<()> {
    decide_in_turn(broker, reviewer, &[approve], reason)
}

/// Decides the first ticket that opens within 15 s, as [`decide_first`] does, and returns it
/// (what rule held what) when the handle is joined.
pub fn decide_first_ticket(broker: &Broker, reviewer: &str, approve: bool, reason: &str) -> std::thread::JoinHandle<hoop_core::approvals::Ticket> {
    let (broker, reason) = (broker.clone(), reason.to_string());
    let mut who = Identity::new(reviewer, IdentityKind::Human);
    who.groups.push(REVIEW_GROUP.into());
    std::thread::spawn(move || {
        for _ in 0..1500 {
            if let Some(t) = broker.list().into_iter().next() {
                if let Err(e) = broker.decide(&t.id, &who, approve, &reason) {
                    panic!("deciding ticket {}: {e}", t.id);
                }
                return t;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no ticket opened within 15 s");
    })
}

/// Decides tickets as they open, each once, in the order given by `decisions` (a request held
/// twice, say, once whole and once midway through its result), as human reviewer `reviewer`.
/// Each must open within 15 s of the one before (a loaded CI machine runs debug builds
/// slowly); joining the handle fails otherwise.
pub fn decide_in_turn(broker: &Broker, reviewer: &str, decisions: &[bool], reason: &str) -> std::thread::JoinHandle<()> {
    let (broker, reason, decisions) = (broker.clone(), reason.to_string(), decisions.to_vec());
    let mut who = Identity::new(reviewer, IdentityKind::Human);
    who.groups.push(REVIEW_GROUP.into());
    std::thread::spawn(move || {
        // A decided ticket may stay listed a moment, until its waiter takes the decision.
        let mut decided: Vec<String> = Vec::new();
        for approve in decisions {
            let mut found = false;
            for _ in 0..1500 {
                if let Some(t) = broker.list().into_iter().find(|t| !decided.contains(&t.id)) {
                    if let Err(e) = broker.decide(&t.id, &who, approve, &reason) {
                        panic!("deciding ticket {}: {e}", t.id);
                    }
                    decided.push(t.id);
                    found = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(found, "no ticket opened within 15 s");
        }
    })
}

/// Decides every ticket that opens, as human reviewer `reviewer`, until `stop` is set; the
/// handle returns how many it decided.
pub fn decide_all(broker: &Broker, reviewer: &str, approve: bool, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<usize> {
    decide_matching(broker, reviewer, move |_| Some(approve), stop)
}

/// Decides the tickets that `decide` answers for (`Some(approve)`) as they open, as human
/// reviewer `reviewer`, until `stop` is set; the others are left to time out. The handle
/// returns how many it decided.
pub fn decide_matching(
    broker: &Broker,
    reviewer: &str,
    decide: impl Fn(&hoop_core::approvals::Ticket) -> Option<bool> + Send + 'static,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    let broker = broker.clone();
    let mut who = Identity::new(reviewer, IdentityKind::Human);
    who.groups.push(REVIEW_GROUP.into());
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for t in broker.list() {
                if let Some(approve) = decide(&t)
                    && broker.decide(&t.id, &who, approve, "").is_ok()
                {
                    n += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        n
    })
}
