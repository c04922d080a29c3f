//! hoop-pg: hoop's PostgreSQL adapter.
//!
//! A wire-level proxy that any native client (`psql`, `pgbench`, libpq, JDBC, asyncpg,
//! `tokio-postgres`) uses unchanged. The caller logs in with a hoop token (or, for agents
//! with a static secret, SCRAM); hoop logs in upstream with credentials only it holds. Every
//! statement becomes an [`Action`](hoop_core::action::Action) checked by the gate, every
//! `DataRow` passes the masker, and the session is recorded.
//!
//! | file | what happens there |
//! |---|---|
//! | `front.rs` | SSL/GSS negotiation, direct TLS, startup packet |
//! | `proxy.rs` | login of the caller, upstream connection, session lifecycle |
//! | `upstream.rs` | the back side: TLS, SCRAM/md5/cleartext login to the server |
//! | `relay.rs` | the two loops: statements checked, responses tracked |
//! | `mask.rs` | where a `DataRow` is masked |
//! | `lineage.rs` | which result columns derive from masked columns (masked whole) |
//! | `explain.rs` | the widths in plans of statements that read masked columns, hidden |
//! | `discover.rs` | which columns are masked: configured, or found by sampling |
//! | `sampler.rs` | the side connections samples run on, one at a time per identity |
//! | `memo.rs` | a session's memo of table resolutions and masked columns |
//! | `copy.rs` | where `COPY ... TO STDOUT` rows are masked |
//! | `refuse.rs` | how a refused statement aborts the transaction server-side |
//! | `rowcap.rs` | the ceiling on rows an agent's statement may write |
//! | `catalog.rs` | table/column names for RowDescription OIDs, relation and function names, role privileges |
//! | `changes.rs` | what changed in the server's catalog since a snapshot: the poll that moves the catalog's generation, one statement's relations checked |
//! | `cancel.rs` | cancel-request key mapping |
//! | `scram.rs` | SCRAM-SHA-256, both sides |

mod binary;
mod cancel;
mod catalog;
mod changes;
mod conn;
mod copy;
mod discover;
mod explain;
mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod front;
mod lineage;
mod mask;
mod memo;
mod proto;
mod proxy;
mod refuse;
mod relay;
mod rowcap;
mod sampler;
mod scram;
mod upstream;

pub use proxy::{PgError, PgProxy};
pub use upstream::Upstream;
