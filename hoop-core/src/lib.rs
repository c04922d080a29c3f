//! hoop-core: the protocol-neutral pipeline of the hoop access gateway.
pub mod action;
pub mod approvals;
pub mod auth;
pub mod config;
pub mod event;
pub mod gate;
pub mod identity;
pub mod keys;
pub mod mask;
pub mod policy;
pub mod record;
pub mod session;
pub mod verdict;
