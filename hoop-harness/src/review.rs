//! A reviewer for tests: waits for the first open ticket and decides it, from a thread of its
//! own so the statement, command or request under review can block meanwhile.

use hoop_core::approvals::{Broker, REVIEW_GROUP};
use hoop_core::identity::{Identity, IdentityKind};
use std::time::Duration;

/// Decides the first ticket that opens within 5 s, as human reviewer `reviewer`; joining the
/// handle fails if none opened or the decision was refused.
pub fn decide_first(broker: &Broker, reviewer: &str, approve: bool, reason: &str) -> std::thread::JoinHandle<()> {
    let (broker, reason) = (broker.clone(), reason.to_string());
    let mut who = Identity::new(reviewer, IdentityKind::Human);
    who.groups.push(REVIEW_GROUP.into());
    std::thread::spawn(move || {
        for _ in 0..500 {
            if let Some(t) = broker.list().first() {
                if let Err(e) = broker.decide(&t.id, &who, approve, &reason) {
                    panic!("deciding ticket {}: {e}", t.id);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no ticket opened within 5 s");
    })
}
