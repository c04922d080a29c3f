//! Refusing a statement so that Postgres itself aborts the transaction.
//!
//! When policy refuses a statement, hoop sends the server, in its place, a statement that
//! raises SQLSTATE 42501 with hoop's message. The server then fails exactly as if the
//! statement had failed: an open transaction is aborted, later pipelined statements are
//! skipped until Sync, and nothing earlier in an implicit transaction commits behind the
//! client's back. The client sees an ordinary `ErrorResponse`.

/// The statement that raises hoop's refusal `message`, with [`sqlstate_of`] it.
pub fn raising_statement(message: &str) -> String {
    // Dollar quoting with a tag the message cannot contain.
    let clean: String = message.chars().filter(|c| *c != '$' && !c.is_control()).collect();
    format!("DO $hoop$ BEGIN RAISE EXCEPTION USING ERRCODE = '{code}', MESSAGE = $msg${clean}$msg$; END $hoop$", code = sqlstate_of(message))
}

/// The SQLSTATE a refusal is raised with: `insufficient_privilege`, but for a prepared
/// statement, cursor or portal the gateway has not seen made (rule `hoop-unknown-statement`),
/// the server's own code for a name that does not exist, `invalid_sql_statement_name` (26000)
/// or `invalid_cursor_name` (34000): a driver recovers from those (pgjdbc prepares its
/// statement again), and not from 42501 (compatibility round 2: after a `DEALLOCATE ALL`
/// every later execution of pgjdbc's `S_1` failed for the life of the connection).
pub fn sqlstate_of(message: &str) -> &'static str {
    if !message.ends_with("(rule hoop-unknown-statement)") {
        return crate::proto::DENIED;
    }
    if message.contains("a cursor ") || message.contains("a portal ") { "34000" } else { "26000" }
}

/// The message clients see for a refusal by `rule`.
pub fn message(rule: &str, reason: &str) -> String {
    format!("hoop: {reason} (rule {rule})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_fail_with_the_servers_codes() {
        assert_eq!(sqlstate_of("hoop: no (rule agent-no-destructive-ddl)"), "42501");
        assert_eq!(sqlstate_of("hoop: EXECUTE of \"p\", a statement the gateway has not seen prepared (rule hoop-unknown-statement)"), "26000");
        assert_eq!(sqlstate_of("hoop: FETCH or MOVE from \"c\", a cursor the gateway has not seen declared (rule hoop-unknown-statement)"), "34000");
        assert!(raising_statement("hoop: Execute of \"x\", a portal the gateway has not seen bound (rule hoop-unknown-statement)").contains("ERRCODE = '34000'"));
    }

    #[test]
    fn message_cannot_escape_the_quoting() {
        let s = raising_statement("x$msg$; DROP TABLE t; --\n");
        assert!(s.contains("$msg$xmsg; DROP TABLE t; --$msg$"), "{s}");
    }
}
