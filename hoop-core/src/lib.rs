//! hoop-core: the protocol-neutral pipeline of the hoop access gateway.
//!
//! Every protocol adapter (Postgres, SSH, Kubernetes) translates its wire traffic into
//! [`Action`](action::Action)s and hands them to one [`Gate`](gate::Gate), which
//! authenticates callers, decides with [`policy`] (CEL rules), holds risky actions for
//! [`approvals`], masks responses ([`mask`]) and records everything to a tamper-evident log
//! ([`record`]). Adapters only translate and obey.
//!
//! | module | concept |
//! |---|---|
//! | [`identity`], [`session`] | who is calling, to which target, from where |
//! | [`auth`] | gateway tokens (EdDSA JWTs) and OIDC tokens (JWKS) into identities; client credentials, issuing bounds, revocation |
//! | [`action`] | what the caller wants, one shape for every protocol; [`action::sql`] analyses SQL |
//! | [`policy`] | CEL rules → [`Verdict`](verdict::Verdict); default agent rules in [`policy::defaults`] |
//! | [`mask`] | content detectors, column rules, redaction and tokenisation, stream masking |
//! | [`record`] | hash-chained, signed session recordings; verification; asciicast export |
//! | [`approvals`] | review tickets and reviewers' decisions |
//! | [`gate`] | the composed pipeline adapters call |
//! | [`buffers`] | the gateway-wide bound on memory held for large messages |
//! | [`latch`] | a one-way flag tasks wait on (a session closed, a client gone) |
//! | [`lograte`] | a bound on the log lines one kind of event writes |
//! | [`config`], [`keys`] | the TOML config and the keys kept in the data dir |
//!
//! # Embedding
//!
//! An embedding service builds a gate, opens a session for each client with the token it
//! presented, and checks each action before forwarding it upstream:
//!
//! ```
//! use hoop_core::action::Action;
//! use hoop_core::auth::{Credential, TokenIssuer, TokenSpec};
//! use hoop_core::config::Config;
//! use hoop_core::gate::Outcome;
//! use hoop_core::identity::IdentityKind;
//! use hoop_core::keys::KeyStore;
//! use hoop_core::session::Protocol;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! // Zero-config defaults plus one target; keys are created in the data dir on first start.
//! let mut config = Config::parse(
//!     r#"
//!     [targets.orders-db]
//!     protocol = "postgres"
//!     address = "127.0.0.1:5432"
//!     "#,
//!     "inline",
//! )?;
//! config.data_dir = dir.path().to_path_buf();
//! let gate = config.build_gate()?;
//!
//! // A short-lived token for an agent (normally issued by `hoop token issue`).
//! let issuer = TokenIssuer::from_store(&KeyStore::open(config.data_dir.join("keys"))?)?;
//! let token = issuer.issue(&TokenSpec {
//!     subject: "agent-1".into(),
//!     kind: IdentityKind::Agent,
//!     groups: vec![],
//!     targets: vec!["orders-db".into()],
//!     ttl_secs: 600,
//! })?;
//!
//! let session = gate
//!     .open_session(Credential::Token(&token), Protocol::Postgres, "orders-db", None, Default::default())
//!     .await?;
//!
//! // The default agent rules refuse destructive statements...
//! let drop = session.check_and_wait(Action::sql("orders-db", "DROP TABLE orders")).await?;
//! assert!(matches!(drop, Outcome::Deny { .. }));
//! // ...and let ordinary reads through, with results masked before the client sees them.
//! let read = session.check_and_wait(Action::sql("orders-db", "SELECT email FROM orders WHERE id = 1")).await?;
//! assert!(matches!(read, Outcome::Allow { .. }));
//! assert_eq!(session.masker().mask_text("bob@corp.example"), "[REDACTED:email]");
//!
//! session.close("client closed");
//! assert!(gate.recorder().verify(&session.session().id)?.is_ok());
//! # Ok(())
//! # }
//! ```

// Events and verdicts are built once per action and moved, never stored in bulk in memory;
// boxing their large variants would cost an allocation on the hot path for no gain.
#![allow(clippy::large_enum_variant)]

pub mod action;
pub mod admission;
pub mod approvals;
pub mod auth;
pub mod buffers;
pub mod config;
pub mod display;
pub mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod gate;
pub mod http;
pub mod identity;
pub mod keys;
pub mod latch;
pub mod lograte;
pub mod mask;
pub mod metrics;
pub mod policy;
pub mod record;
pub mod serve;
pub mod session;
pub mod tar;
pub mod tls;
pub mod usage;
pub mod verdict;
