//! psql through hoop against a real PostgreSQL 15.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod common;

use common::{Gw, pg};
use hoop_core::identity::IdentityKind;

#[test]
fn select_is_masked_by_column_and_content_even_under_an_alias() {
    let gw = Gw::start("");
    let (out, err) = gw.agent_psql("SELECT id, email AS e, card AS c, note FROM users ORDER BY id");
    assert!(err.is_empty(), "{err}");
    assert!(!out.contains("@corp.example"), "{out}");
    assert!(!out.contains("4111"), "{out}");
    assert!(out.contains("1|[REDACTED:email]|[REDACTED:card]|plain"), "{out}");
    assert!(out.contains("call me at [REDACTED:email]"), "{out}");
}
