//! hoop-core: the protocol-neutral pipeline of the hoop access gateway.
pub mod action;
pub mod auth;
pub mod event;
pub mod identity;
pub mod keys;
pub mod mask;
pub mod policy;
pub mod session;
pub mod verdict;
