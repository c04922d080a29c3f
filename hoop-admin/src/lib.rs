//! hoop-admin: the control surface for reviewers and auditors.
//!
//! An HTTPS API (hyper over rustls) authenticated by hoop tokens: the `review` group decides
//! approvals, kills sessions and revokes credentials; the `audit` group reads sessions, verifies
//! recordings and exports them; agents exchange their own credential for short-lived tokens and
//! SSH certificates, never wider than it. `/healthz` needs no token; `/metrics` (Prometheus)
//! needs the `metrics` or `audit` group unless configured public.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /healthz` | anyone | `ok` |
//! | `GET /metrics` | metrics, audit (anyone if `metrics_public`) | Prometheus counters |
//! | `POST /v1/exchange` | a client credential or a mapped OIDC token | a short-lived token, never wider |
//! | `POST /v1/ssh/certificates` | any token | an SSH certificate for the caller, no longer-lived than its token |
//! | `GET`, `POST /v1/clients` | token-issuer (register: humans, within their grant) | client credentials |
//! | `DELETE /v1/clients/{id}` | humans: review (any), token-issuer (those it registered) | remove and revoke a client |
//! | `GET`, `POST /v1/revocations` | review (list: also audit) | revoke any credential or subject; ends live sessions |
//! | `GET /v1/sessions` | audit | recorded sessions, live ones marked |
//! | `GET /v1/sessions/{id}` | audit | a session's records |
//! | `GET /v1/sessions/{id}/verify` | audit | chain, signatures and seal |
//! | `GET /v1/sessions/{id}/asciicast` | audit | terminal output as asciicast v2 |
//! | `POST /v1/sessions/{id}/kill` | review | end a live session |
//! | `POST /v1/tokens` | token-issuer | issue a token within the caller's grant |
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
mod issuance;
mod server;
pub mod webhook;

pub use client::{AdminClient, ClientError};
pub use server::{AdminApi, METRICS_GROUP, SshCertifier};

/// The group whose members may read sessions and recordings.
pub const AUDIT_GROUP: &str = hoop_core::identity::AUDIT_GROUP;
