//! hoop-admin: the control surface for reviewers and auditors.
//!
//! An HTTPS API (hyper over rustls) authenticated by hoop tokens: the `review` group decides
//! approvals, kills sessions and revokes tokens; the `audit` group reads sessions, verifies
//! recordings and exports them. `/healthz` and `/metrics` (Prometheus) need no token.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /healthz` | anyone | `ok` |
//! | `GET /metrics` | anyone | Prometheus counters |
//! | `GET /v1/sessions` | audit | recorded sessions, live ones marked |
//! | `GET /v1/sessions/{id}` | audit | a session's records |
//! | `GET /v1/sessions/{id}/verify` | audit | chain, signatures and seal |
//! | `GET /v1/sessions/{id}/asciicast` | audit | terminal output as asciicast v2 |
//! | `POST /v1/sessions/{id}/kill` | review | end a live session |
//! | `POST /v1/tokens` | token-issuer | issue a token (only groups the caller holds) |
//! | `POST /v1/tokens/{jti}/revoke` | review | refuse a token until it expires |
//! | `GET /v1/approvals` | review | open tickets |
//! | `GET /v1/approvals/stream` | review | server-sent events of tickets opening and closing |
//! | `POST /v1/approvals/{id}/approve` | review | approve (never one's own ticket) |
//! | `POST /v1/approvals/{id}/deny` | review | deny, with `{"reason": "..."}` |
//!
//! | file | what happens there |
//! |---|---|
//! | `server.rs` | the listener, authentication and the routes |
//! | `webhook.rs` | a Slack-compatible webhook for each opened ticket |
//! | `client.rs` | the client the CLI uses |

pub mod client;
mod server;
pub mod webhook;

pub use client::{AdminClient, ClientError};
pub use server::{AdminApi, METRICS_GROUP, SshCertifier};

/// The group whose members may read sessions and recordings.
pub const AUDIT_GROUP: &str = "audit";
