//! Refusals as kubectl sees them, and the memo that answers kubectl's retry of a refused exec.
//!
//! kubectl runs `exec` over WebSocket and, when that upgrade fails (a 403 included), retries
//! it at once over SPDY, which hoop does not relay. That retry asked a reviewer again (a
//! reviewer who denied an exec got a second ticket for it), and its answer hid why the first
//! was refused. The refusal of an exec over WebSocket is kept a minute, per identity, target
//! and request, and given to the SPDY retry instead.

use crate::body::Body;
use crate::status;
use hyper::{Response, StatusCode};
use std::time::Instant;

/// A refusal, as the `Status` kubectl prints.
#[derive(Clone)]
pub(crate) struct Refusal {
    /// The HTTP status.
    pub code: StatusCode,
    /// The `Status` reason (`Forbidden`).
    pub reason: &'static str,
    /// What kubectl prints.
    pub message: String,
}

impl Refusal {
    /// A 403 `Forbidden` saying `message`.
    pub fn forbidden(message: String) -> Self {
        Refusal { code: StatusCode::FORBIDDEN, reason: "Forbidden", message }
    }

    /// The response that carries it.
    pub fn response(&self) -> Response<Body> {
        status::failure(self.code, self.reason, &self.message)
    }
}

/// A request's refusals, kept for kubectl's retry when it is an exec over WebSocket.
pub(crate) struct Retried<'a> {
    /// Where refusals are kept.
    pub memo: &'a RetryMemo,
    /// The request's key in it, when kubectl may retry it.
    pub key: Option<String>,
}

impl Retried<'_> {
    /// The response for `refusal`, kept for a retry first.
    pub fn refused(self, refusal: Refusal) -> Response<Body> {
        if let Some(key) = self.key {
            self.memo.keep(key, &refusal);
        }
        refusal.response()
    }
}

/// The rule name of the gateway's refusal of exec and attach over SPDY.
pub(crate) const WEBSOCKET_ONLY_RULE: &str = "hoop-websocket-only";

/// Why exec and attach over SPDY are refused.
pub(crate) const WEBSOCKET_ONLY: &str =
    "hoop relays exec and attach over WebSocket only, where it records and masks them; SPDY streams would bypass both (unset KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false)";

/// How long a refused exec's answer is kept for kubectl's retry of it over SPDY.
const RETRY_MEMO: std::time::Duration = std::time::Duration::from_secs(60);

/// Refused execs kept for their retry, at most.
const RETRY_MEMO_ENTRIES: usize = 256;

/// The refusals of exec and attach requests over WebSocket, for the moment after.
#[derive(Default)]
pub(crate) struct RetryMemo(std::sync::Mutex<std::collections::VecDeque<(Instant, String, Refusal)>>);

impl RetryMemo {
    /// The key of one identity's request to one target.
    pub fn key(subject: &str, target: &str, path_and_query: &str) -> String {
        format!("{subject}\0{target}\0{path_and_query}")
    }

    fn keep(&self, key: String, refusal: &Refusal) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        while q.len() >= RETRY_MEMO_ENTRIES || q.front().is_some_and(|(at, _, _)| at.elapsed() > RETRY_MEMO) {
            q.pop_front();
        }
        q.push_back((Instant::now(), key, refusal.clone()));
    }

    /// The refusal kept for `key` within the last minute, taken out.
    pub fn take(&self, key: &str) -> Option<Refusal> {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let i = q.iter().rposition(|(at, k, _)| k == key && at.elapsed() <= RETRY_MEMO)?;
        q.remove(i).map(|(_, _, r)| r)
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_taken_once_by_the_same_request_of_the_same_identity() {
        let memo = RetryMemo::default();
        let (a, b) = (RetryMemo::key("agent-a", "dev", "/x?command=id"), RetryMemo::key("agent-b", "dev", "/x?command=id"));
        memo.keep(a.clone(), &Refusal::forbidden("no".into()));
        assert!(memo.take(&b).is_none(), "another identity's retry gets nothing");
        assert_eq!(memo.take(&a).map(|r| r.message), Some("no".into()));
        assert!(memo.take(&a).is_none(), "taken once");
        for i in 0..RETRY_MEMO_ENTRIES + 10 {
            memo.keep(format!("k{i}"), &Refusal::forbidden(String::new()));
        }
        assert_eq!(memo.0.lock().unwrap().len(), RETRY_MEMO_ENTRIES, "bounded");
    }
}
