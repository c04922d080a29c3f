//! Refusing a statement so that Postgres itself aborts the transaction.
//!
//! When policy refuses a statement, hoop sends the server, in its place, a statement that
//! raises SQLSTATE 42501 with hoop's message. The server then fails exactly as if the
//! statement had failed: an open transaction is aborted, later pipelined statements are
//! skipped until Sync, and nothing earlier in an implicit transaction commits behind the
//! client's back. The client sees an ordinary `ErrorResponse`.

/// The statement that raises hoop's refusal `message`.
pub fn raising_statement(message: &str) -> String {
    // Dollar quoting with a tag the message cannot contain.
    let clean: String = message.chars().filter(|c| *c != '$' && !c.is_control()).collect();
    format!(
        "DO $hoop$ BEGIN RAISE EXCEPTION USING ERRCODE = '{code}', MESSAGE = $msg${clean}$msg$; END $hoop$",
        code = crate::proto::DENIED
    )
}

/// The message clients see for a refusal by `rule`.
pub fn message(rule: &str, reason: &str) -> String {
    format!("hoop: {reason} (rule {rule})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_cannot_escape_the_quoting() {
        let s = raising_statement("x$msg$; DROP TABLE t; --\n");
        assert!(s.contains("$msg$xmsg; DROP TABLE t; --$msg$"), "{s}");
    }
}
