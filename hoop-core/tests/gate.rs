//! The gate end to end: authenticate, check, review, record, mask, limits, fail closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hoop_core::action::Action;
use hoop_core::approvals::{Broker, REVIEW_GROUP};
use hoop_core::auth::{AuthError, Credential, TokenIssuer, TokenSpec};
use hoop_core::config::Config;
use hoop_core::event::Event;
use hoop_core::gate::{Checked, EndReason, GateBuilder, GateError, Outcome};
use hoop_core::identity::{Identity, IdentityKind};
use hoop_core::keys::KeyStore;
use hoop_core::policy::{CelPolicy, Then};
use hoop_core::record::{Body, RecordError, Recorder, SessionLog, VerifyReport};
use hoop_core::session::{Protocol, Session, SessionId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

struct Setup {
    _dir: tempfile::TempDir,
    cfg: Config,
    issuer: TokenIssuer,
}

fn setup(extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "data_dir = {:?}\n[limits]\nreview_timeout_secs = 2\nmax_sessions_per_identity = 2\n[targets.db]\nprotocol = \"postgres\"\naddress = \"127.0.0.1:5432\"\nsensitive_tables = [\"customers\"]\n{extra}",
        dir.path().display().to_string()
    );
    let cfg = Config::parse(&text, "test").unwrap();
    let issuer = TokenIssuer::from_store(&KeyStore::open(dir.path().join("keys")).unwrap()).unwrap();
    Setup { _dir: dir, cfg, issuer }
}

fn token(s: &Setup, subject: &str, kind: IdentityKind, targets: &[&str], ttl: i64) -> String {
    s.issuer
        .issue(&TokenSpec {
            subject: subject.into(),
            kind,
            groups: vec![],
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ttl_secs: ttl,
        })
        .unwrap()
}

fn reviewer() -> Identity {
    let mut r = Identity::new("alice", IdentityKind::Human);
    r.groups.push(REVIEW_GROUP.into());
    r
}

#[tokio::test]
async fn allow_deny_review_and_a_faithful_masked_recording() {
    let s = setup("");
    let gate = s.cfg.build_gate().unwrap();
    let t = token(&s, "agent-1", IdentityKind::Agent, &["db"], 60);
    let h = gate
        .open_session(Credential::Token(&t), Protocol::Postgres, "db", None, BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(h.session().identity.subject, "agent-1");

    let ok = h.check_and_wait(Action::sql("db", "SELECT email FROM users WHERE email = 'bob@corp.example'")).await.unwrap();
    assert!(matches!(ok, Outcome::Allow { .. }));
    let denied = h.check_and_wait(Action::sql("db", "DROP TABLE users")).await.unwrap();
    assert!(matches!(&denied, Outcome::Deny { rule, .. } if rule == "agent-no-destructive-ddl"), "{denied:?}");

    // Review: approved from another task.
    let Checked::Review { action_id, pending } = h.check(Action::sql("db", "SELECT * FROM customers WHERE id = 1")).unwrap() else {
        panic!("expected review")
    };
    let ticket = pending.ticket().id.clone();
    let broker = gate.approvals().clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        broker.decide(&ticket, &reviewer(), true, "").unwrap();
    });
    assert_eq!(h.wait_review(action_id, pending).await.unwrap(), Outcome::Allow { action_id });

    // Review that times out denies.
    let timed = h.check_and_wait(Action::sql("db", "COPY users TO STDOUT")).await.unwrap();
    assert!(matches!(&timed, Outcome::Deny { reason, .. } if reason.contains("timed out")), "{timed:?}");

    let id = h.session().id.clone();
    h.close("client closed");
    drop(h);
    let report: VerifyReport = gate.recorder().verify(&id).unwrap();
    assert!(report.is_ok(), "{report:?}");
    let text = serde_json::to_string(&gate.recorder().read(&id).unwrap()).unwrap();
    assert!(!text.contains("bob@corp.example"), "recordings hold masked values only");
    assert!(text.contains("[REDACTED:email]"));
    assert!(text.contains("review_decided") && text.contains("alice"));
    assert!(text.contains("\"reviewer\":\"timeout\""));

    // Red-team identity round 85: an approval that reaches a session revoked meanwhile does
    // not let the action run (a reviewer approved 35 ms after the revocation returned).
    let h = gate.open_session(Credential::Token(&t), Protocol::Postgres, "db", None, BTreeMap::new()).await.unwrap();
    let Checked::Review { action_id, pending } = h.check(Action::sql("db", "SELECT * FROM customers WHERE id = 2")).unwrap() else {
        panic!("expected review")
    };
    let ticket = pending.ticket().id.clone();
    let second = gate.open_session(Credential::Token(&t), Protocol::Postgres, "db", None, BTreeMap::new()).await.unwrap();
    let Checked::Review { action_id: second_id, pending: second_pending } = second.check(Action::sql("db", "SELECT * FROM customers WHERE id = 3")).unwrap() else {
        panic!("expected review")
    };
    gate.approvals().decide(&ticket, &reviewer(), true, "").unwrap();
    let revoked = hoop_core::auth::Revocation { id: "subject:agent-1".into(), until: 0, by: "op".into(), at: hoop_core::auth::now_secs(), reason: "t".into() };
    gate.revoke(revoked).unwrap();
    assert!(matches!(h.wait_review(action_id, pending).await.unwrap(), Outcome::Deny { .. }), "approved before the wait, revoked since");
    assert!(matches!(second.wait_review(second_id, second_pending).await.unwrap(), Outcome::Deny { .. }), "revoked while it waits: the ticket goes");
    assert!(gate.open_session(Credential::Token(&t), Protocol::Postgres, "db", None, BTreeMap::new()).await.is_err(), "revoked");
}

#[tokio::test]
async fn refusals_at_open() {
    let s = setup("");
    let gate = s.cfg.build_gate().unwrap();
    let open = |t: String, target: &'static str| {
        let gate = gate.clone();
        async move { gate.open_session(Credential::Token(&t), Protocol::Postgres, target, None, BTreeMap::new()).await }
    };
    let other = token(&s, "agent-1", IdentityKind::Agent, &["other"], 60);
    assert!(matches!(open(other, "db").await, Err(GateError::Auth(AuthError::TargetNotAllowed { .. }))));
    let any = token(&s, "agent-1", IdentityKind::Agent, &["*"], 60);
    assert!(matches!(open(any.clone(), "nope").await, Err(GateError::UnknownTarget(_))));
    assert!(matches!(open("x.y.z".into(), "db").await, Err(GateError::Auth(AuthError::Malformed(_)))));
    // Per-identity concurrency limit (2 in this config).
    let a = open(any.clone(), "db").await.unwrap();
    let _b = open(any.clone(), "db").await.unwrap();
    assert!(matches!(open(any.clone(), "db").await, Err(GateError::Limit(_))));
    drop(a);
    assert!(open(any, "db").await.is_ok(), "a closed session frees its slot");
}

#[tokio::test]
async fn connect_rules_apply() {
    let s = setup(
        "[[policy.rules]]\nname = \"office-only\"\nwhen = 'action.kind == \"connect\" && !action.connect.client_addr.startsWith(\"10.\")'\nthen = \"deny\"\n",
    );
    let gate = s.cfg.build_gate().unwrap();
    let t = token(&s, "agent-1", IdentityKind::Agent, &["db"], 60);
    let from = Some("127.0.0.1:4000".parse().unwrap());
    let r = gate.open_session(Credential::Token(&t), Protocol::Postgres, "db", from, BTreeMap::new()).await;
    assert!(matches!(r, Err(GateError::Denied { rule, .. }) if rule == "office-only"));
}

#[tokio::test]
async fn sessions_end_on_kill_idle_and_token_expiry() {
    let s = setup("");
    let gate = s.cfg.build_gate().unwrap();
    let t = token(&s, "agent-1", IdentityKind::Agent, &["db"], 60);
    let h = gate.open_session(Credential::Token(&t), Protocol::Postgres, "db", None, BTreeMap::new()).await.unwrap();
    let id = h.session().id.clone();
    let g2 = gate.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        g2.kill(&id);
    });
    assert_eq!(h.ended().await, EndReason::Killed);

    let short = token(&s, "agent-2", IdentityKind::Agent, &["db"], 1);
    let h = gate.open_session(Credential::Token(&short), Protocol::Postgres, "db", None, BTreeMap::new()).await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), h.ended()).await.unwrap(), EndReason::TokenExpired);

    let mut cfg = s.cfg.clone();
    cfg.limits.idle_timeout_secs = 1;
    let gate = cfg.build_gate().unwrap();
    let h = gate.open_session(Credential::Token(&t), Protocol::Postgres, "db", None, BTreeMap::new()).await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), h.ended()).await.unwrap(), EndReason::Idle);
}

/// A recorder whose writes fail after the session starts, like a disk filling up.
struct FailingRecorder;
struct FailingLog;

impl SessionLog for FailingLog {
    fn record(&self, event: &Event) -> Result<u64, RecordError> {
        match event {
            Event::SessionStart { .. } => Ok(1),
            _ => Err(RecordError::Io(std::io::Error::other("disk full"))),
        }
    }
    fn close(&self) -> Result<(), RecordError> {
        Ok(())
    }
}

impl Recorder for FailingRecorder {
    fn open(&self, _: &Session) -> Result<Box<dyn SessionLog>, RecordError> {
        Ok(Box::new(FailingLog))
    }
    fn list(&self) -> Result<Vec<SessionId>, RecordError> {
        Ok(vec![])
    }
    fn read(&self, id: &SessionId) -> Result<Vec<hoop_core::record::StoredEvent>, RecordError> {
        Err(RecordError::NotFound(id.0.clone()))
    }
    fn verify(&self, id: &SessionId) -> Result<VerifyReport, RecordError> {
        Err(RecordError::NotFound(id.0.clone()))
    }
}

#[tokio::test]
async fn recorder_failure_refuses_the_operation() {
    let s = setup("");
    let keys = KeyStore::open(s.cfg.data_dir.join("keys")).unwrap();
    let auth = hoop_core::auth::TokenAuthenticator::new(hoop_core::auth::TokenVerifier::from_store(&keys).unwrap());
    let policy = CelPolicy::new(vec![], Then::Allow).unwrap();
    let gate = GateBuilder::new(Arc::new(auth), Arc::new(policy), Arc::new(FailingRecorder))
        .target(s.cfg.targets["db"].info("db"))
        .approvals(Broker::new(Duration::from_secs(1)))
        .build();
    let t = token(&s, "agent-1", IdentityKind::Agent, &["db"], 60);
    // The connect action itself cannot be recorded: the session is refused.
    let r = gate.open_session(Credential::Token(&t), Protocol::Postgres, "db", None, BTreeMap::new()).await;
    assert!(matches!(r, Err(GateError::Record(_))), "fail closed");
}

#[test]
fn recordings_are_readable_as_bodies() {
    // Body is untagged: events and control records round-trip through JSON.
    let b = Body::Event(Event::Note { message: "x".into() });
    let s = serde_json::to_string(&b).unwrap();
    assert_eq!(serde_json::from_str::<Body>(&s).unwrap(), b);
}

/// A revoked token is refused, and still refused by a gate built again on the same data dir
/// (a restart).
#[tokio::test]
async fn revocations_survive_a_restart() {
    let s = setup("");
    let t = token(&s, "agent-1", IdentityKind::Agent, &["db"], 600);
    let gate = s.cfg.build_gate().unwrap();
    let id = gate.authenticate(Credential::Token(&t)).await.unwrap();
    let r = hoop_core::auth::Revocation { id: format!("token:{}", id.token_id), until: id.expires_at, by: "op".into(), at: 0, reason: String::new() };
    assert_eq!(gate.revoke(r).unwrap().1, 0);
    assert!(gate.authenticate(Credential::Token(&t)).await.is_err());
    let again = s.cfg.build_gate().unwrap();
    let refused = again.authenticate(Credential::Token(&t)).await;
    assert!(matches!(refused, Err(AuthError::Revoked)), "{refused:?}");
    let other = token(&s, "agent-2", IdentityKind::Agent, &["db"], 600);
    assert!(again.authenticate(Credential::Token(&other)).await.is_ok());
}
