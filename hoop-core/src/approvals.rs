//! Just-in-time approval: `Review` verdicts become tickets a human reviewer decides.
//!
//! The in-process [`Broker`] holds open tickets; a CLI, an HTTP API or a web page lists them,
//! subscribes to new ones and decides. A ticket covers exactly the action it was opened for
//! (its fingerprint is shown to the reviewer); the waiting request is the only thing it releases.

use crate::action::Action;
use crate::identity::{Identity, IdentityKind};
use crate::session::{Session, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};

/// Group a reviewer must belong to.
pub const REVIEW_GROUP: &str = "review";

/// An open request for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Ticket id, e.g. `t_3f9a…`.
    pub id: String,
    /// The session that asked.
    pub session: SessionId,
    /// The requester's subject.
    pub requester: String,
    /// The subjects that issued the requester's credential, nearest the root first: none of
    /// them may decide the ticket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issued_by: Vec<String>,
    /// The action under review (masked for display).
    pub action: Action,
    /// SHA-256 over the exact action (text and parameters) the approval covers.
    pub fingerprint: String,
    /// The rule that asked for review.
    pub rule: String,
    /// More for the reviewer, e.g. how much a result had returned when it paused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// When the ticket opened (seconds since epoch).
    pub requested_at: i64,
    /// When it times out (seconds since epoch).
    pub expires_at: i64,
}

/// How a review ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// A reviewer approved.
    Approved {
        /// The reviewer's subject.
        reviewer: String,
        /// The reviewer's revocation ids (credentials and subject): what the approval grants
        /// beyond the one action (a budget's waiver) lasts only while none is revoked.
        #[serde(default, skip_serializing)]
        credentials: Vec<String>,
    },
    /// A reviewer denied.
    Denied {
        /// The reviewer's subject.
        reviewer: String,
        /// Why, if they said.
        reason: String,
    },
    /// Nobody decided in time.
    TimedOut,
    /// The requester went away first.
    Cancelled,
    /// No reviewer could be told (the notification route failed): refused now, not left to time out.
    Unreachable {
        /// What failed.
        reason: String,
    },
}

/// Something reviewers may want to hear about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BrokerEvent {
    /// A ticket opened.
    Opened(Ticket),
    /// A ticket closed.
    Closed {
        /// Ticket id.
        id: String,
        /// How.
        decision: Decision,
    },
}

/// Why a decision was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// No open ticket with that id (decided, timed out or never existed).
    #[error("no open ticket {0}")]
    NoSuchTicket(String),
    /// The reviewer is not a human.
    #[error("only human identities may review")]
    NotHuman,
    /// The reviewer lacks the review group.
    #[error("reviewer is not in group {REVIEW_GROUP:?}")]
    NotReviewer,
    /// The reviewer asked for the action themselves.
    #[error("reviewers cannot decide their own tickets, or those of identities they issued")]
    OwnTicket,
    /// The ticket is for a target the reviewer's credential does not reach.
    #[error("this reviewer's credential does not reach target {0:?}, whose ticket this is")]
    NotYourTarget(String),
}

struct Open {
    ticket: Ticket,
    tx: oneshot::Sender<Decision>,
}

struct Inner {
    open: Mutex<HashMap<String, Open>>,
    events: broadcast::Sender<BrokerEvent>,
    timeout: Duration,
}

/// The in-process approval broker.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

impl Broker {
    /// A broker whose tickets time out (deny) after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let (events, _) = broadcast::channel(256);
        Broker { inner: Arc::new(Inner { open: Mutex::new(HashMap::new()), events, timeout }) }
    }

    /// Opens a ticket for `action` and returns the handle the requester waits on.
    /// `detail` tells the reviewer more (empty for none).
    pub fn open(&self, session: &Session, action: &Action, display: Action, rule: &str, detail: &str) -> PendingReview {
        let now = crate::auth::now_secs();
        let fingerprint = serde_json::to_vec(action)
            .map(|b| crate::record::sha256_hex(&b))
            .unwrap_or_default();
        let ticket = Ticket {
            id: format!("t_{}", crate::keys::random_hex(8)),
            session: session.id.clone(),
            requester: session.identity.subject.clone(),
            issued_by: session.identity.credentials.iter().filter_map(|c| c.strip_prefix("subject:")).map(str::to_string).collect(),
            action: display,
            fingerprint,
            rule: rule.to_string(),
            detail: detail.to_string(),
            requested_at: now,
            expires_at: now + self.inner.timeout.as_secs() as i64,
        };
        let (tx, rx) = oneshot::channel();
        self.lock().insert(ticket.id.clone(), Open { ticket: ticket.clone(), tx });
        let _ = self.inner.events.send(BrokerEvent::Opened(ticket.clone()));
        PendingReview { broker: self.clone(), ticket, rx: Some(rx) }
    }

    /// Open tickets, oldest first.
    pub fn list(&self) -> Vec<Ticket> {
        let mut v: Vec<Ticket> = self.lock().values().map(|o| o.ticket.clone()).collect();
        v.sort_by(|a, b| a.requested_at.cmp(&b.requested_at).then_with(|| a.id.cmp(&b.id)));
        v
    }

    /// New and closed tickets as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<BrokerEvent> {
        self.inner.events.subscribe()
    }

    /// Approves or denies ticket `id` as `reviewer`.
    pub fn decide(&self, id: &str, reviewer: &Identity, approve: bool, reason: &str) -> Result<(), ApprovalError> {
        if reviewer.kind != IdentityKind::Human {
            return Err(ApprovalError::NotHuman);
        }
        if !reviewer.in_group(REVIEW_GROUP) {
            return Err(ApprovalError::NotReviewer);
        }
        let mut open = self.lock();
        let entry = open.get(id).ok_or_else(|| ApprovalError::NoSuchTicket(id.to_string()))?;
        // Nor one whose requester and reviewer share an issuer, or where one is named under
        // the other's subject (red-team identity round 81: `alice` minted `alice/bot` and
        // approved what it asked for; round 82: `bob` minted a reviewer `bob/rev2`, who did).
        if related(&entry.ticket, reviewer) {
            return Err(ApprovalError::OwnTicket);
        }
        // A reviewer's authority is as wide as their credential's targets (identity red-team
        // round 112: a reviewer of `other-db` approved a write on `orders-db`, and waived its
        // budget there).
        if !reviewer.may_reach(&entry.ticket.action.target) {
            return Err(ApprovalError::NotYourTarget(entry.ticket.action.target.clone()));
        }
        let Some(entry) = open.remove(id) else {
            return Err(ApprovalError::NoSuchTicket(id.to_string()));
        };
        drop(open);
        let decision = if approve {
            Decision::Approved { reviewer: reviewer.subject.clone(), credentials: reviewer.revocation_ids().collect() }
        } else {
            Decision::Denied { reviewer: reviewer.subject.clone(), reason: reason.to_string() }
        };
        let _ = entry.tx.send(decision.clone());
        let _ = self.inner.events.send(BrokerEvent::Closed { id: id.to_string(), decision });
        Ok(())
    }

    /// Withdraws ticket `id` because no reviewer can be reached: its requester is refused now.
    pub fn withdraw(&self, id: &str, reason: &str) {
        let Some(entry) = self.lock().remove(id) else { return };
        let decision = Decision::Unreachable { reason: reason.to_string() };
        let _ = entry.tx.send(decision.clone());
        let _ = self.inner.events.send(BrokerEvent::Closed { id: id.to_string(), decision });
    }

    fn close(&self, id: &str, decision: Decision) {
        if self.lock().remove(id).is_some() {
            let _ = self.inner.events.send(BrokerEvent::Closed { id: id.to_string(), decision });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Open>> {
        self.inner.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `reviewer` and the ticket's requester are one person's: the same subject, a shared
/// issuer in their lineages, or one subject named under another (`alice/bot` under `alice`).
fn related(ticket: &Ticket, reviewer: &Identity) -> bool {
    let theirs: Vec<&str> = std::iter::once(ticket.requester.as_str()).chain(ticket.issued_by.iter().map(String::as_str)).collect();
    let mine: Vec<&str> = std::iter::once(reviewer.subject.as_str()).chain(reviewer.credentials.iter().filter_map(|c| c.strip_prefix("subject:"))).collect();
    let under = |a: &str, b: &str| a.strip_prefix(b).is_some_and(|rest| rest.starts_with('/'));
    theirs.iter().any(|q| mine.iter().any(|r| q == r || under(q, r) || under(r, q)))
}

/// A requester's wait on one ticket. Dropping it (the client went away) cancels the ticket.
pub struct PendingReview {
    broker: Broker,
    ticket: Ticket,
    rx: Option<oneshot::Receiver<Decision>>,
}

impl PendingReview {
    /// The ticket, to tell the client its id.
    pub fn ticket(&self) -> &Ticket {
        &self.ticket
    }

    /// Waits for a decision, or the broker's timeout.
    pub async fn wait(mut self) -> Decision {
        let Some(rx) = self.rx.take() else { return Decision::Cancelled };
        let d = match tokio::time::timeout(self.broker.inner.timeout, rx).await {
            Ok(Ok(d)) => d,
            Ok(Err(_)) => Decision::Cancelled,
            Err(_) => {
                self.broker.close(&self.ticket.id, Decision::TimedOut);
                Decision::TimedOut
            }
        };
        // Decided: nothing left to cancel on drop.
        self.ticket.id.clear();
        d
    }
}

impl Drop for PendingReview {
    fn drop(&mut self) {
        if !self.ticket.id.is_empty() {
            self.broker.close(&self.ticket.id, Decision::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Protocol, TargetInfo};

    fn session() -> Session {
        Session {
            id: SessionId("s1".into()),
            identity: Identity::new("agent-1", IdentityKind::Agent),
            protocol: Protocol::Postgres,
            target: TargetInfo::default(),
            client_addr: None,
            started_at: 0,
        }
    }

    fn reviewer(name: &str) -> Identity {
        let mut r = Identity::new(name, IdentityKind::Human);
        r.groups.push(REVIEW_GROUP.into());
        r
    }

    #[tokio::test]
    async fn approve_deny_timeout_cancel() {
        let b = Broker::new(Duration::from_secs(5));
        let a = Action::sql("db", "select 1");
        let mut sub = b.subscribe();
        let p = b.open(&session(), &a, a.clone(), "r", "");
        let id = p.ticket().id.clone();
        assert!(matches!(sub.recv().await.unwrap(), BrokerEvent::Opened(t) if t.id == id));
        assert_eq!(b.list().len(), 1);
        let b2 = b.clone();
        let id2 = id.clone();
        tokio::spawn(async move { b2.decide(&id2, &reviewer("alice"), true, "").unwrap() });
        assert!(matches!(p.wait().await, Decision::Approved { reviewer, .. } if reviewer == "alice"));
        assert!(b.list().is_empty());
        assert!(b.decide(&id, &reviewer("alice"), true, "").is_err(), "a ticket is decided once");

        let p = b.open(&session(), &a, a.clone(), "r", "");
        b.decide(&p.ticket().id.clone(), &reviewer("bob"), false, "no").unwrap();
        assert!(matches!(p.wait().await, Decision::Denied { .. }));

        let short = Broker::new(Duration::from_millis(20));
        let p = short.open(&session(), &a, a.clone(), "r", "");
        assert_eq!(p.wait().await, Decision::TimedOut);
        assert!(short.list().is_empty());

        let p = b.open(&session(), &a, a.clone(), "r", "");
        drop(p);
        assert!(b.list().is_empty(), "client gone: ticket cancelled");
    }

    #[tokio::test]
    async fn who_may_review() {
        let b = Broker::new(Duration::from_secs(5));
        let a = Action::sql("db", "select 1");
        let p = b.open(&session(), &a, a.clone(), "r", "");
        let id = p.ticket().id.clone();
        let mut agent = Identity::new("bot", IdentityKind::Agent);
        agent.groups.push(REVIEW_GROUP.into());
        assert_eq!(b.decide(&id, &agent, true, ""), Err(ApprovalError::NotHuman));
        assert_eq!(b.decide(&id, &Identity::new("carol", IdentityKind::Human), true, ""), Err(ApprovalError::NotReviewer));
        let mut own = reviewer("agent-1");
        own.kind = IdentityKind::Human;
        assert_eq!(b.decide(&id, &own, true, ""), Err(ApprovalError::OwnTicket));
        assert_eq!(b.list().len(), 1);
        // Nor the issuer of the requester's credential, or the subject it is named under.
        let mut delegated = session();
        delegated.identity = Identity::new("alice/bot", IdentityKind::Agent);
        delegated.identity.credentials = vec!["token:t1".into(), "subject:ops".into()];
        let pending = b.open(&delegated, &a, a.clone(), "r", "");
        let id = pending.ticket().id.clone();
        // Round 82: nor a reviewer the same issuer minted, or one named under the requester.
        let mut minted = reviewer("ops/rev2");
        minted.credentials = vec!["token:t2".into(), "subject:ops".into()];
        assert_eq!(b.decide(&id, &minted, true, ""), Err(ApprovalError::OwnTicket));
        for (who, refused) in [("ops", true), ("alice", true), ("alice/bot/rev", true), ("alic", false)] {
            let r = b.decide(&id, &reviewer(who), true, "");
            assert_eq!(r == Err(ApprovalError::OwnTicket), refused, "{who}: {r:?}");
        }
    }
}
