//! Kubernetes `Status` objects: how refusals reach kubectl, which prints their message.

use crate::body::{Body, full};
use hyper::{Response, StatusCode};

/// The `Status` object of a failure.
fn object(code: StatusCode, reason: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    })
}

/// The watch event that ends a watch the gate ended (revoked, killed, expired): an `ERROR`
/// event carrying a `Status`, which kubectl prints before it stops.
pub fn watch_ended(end: hoop_core::gate::EndReason) -> Vec<u8> {
    let (code, reason) = match end {
        hoop_core::gate::EndReason::Revoked | hoop_core::gate::EndReason::TokenExpired => (StatusCode::UNAUTHORIZED, "Unauthorized"),
        _ => (StatusCode::FORBIDDEN, "Forbidden"),
    };
    watch_error(code, reason, &format!("hoop: session ended: {}", end.as_str()))
}

/// A watch `ERROR` event line carrying a `Status` with `code`, `reason` and `message`.
pub fn watch_error(code: StatusCode, reason: &str, message: &str) -> Vec<u8> {
    let mut line = serde_json::json!({ "type": "ERROR", "object": object(code, reason, message) }).to_string().into_bytes();
    line.push(b'\n');
    line
}

/// A `Status` failure response with `code`, `reason` (e.g. `Forbidden`) and `message`.
pub fn failure(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let mut r = Response::new(full(object(code, reason, message).to_string()));
    *r.status_mut() = code;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

/// 403 `Forbidden` naming the rule, as kubectl prints: `Error from server (Forbidden): ...`.
pub fn forbidden(message: &str) -> Response<Body> {
    failure(StatusCode::FORBIDDEN, "Forbidden", message)
}

/// 401 `Unauthorized`: kubectl then asks its credential plugin for a fresh token.
pub fn unauthorized(message: &str) -> Response<Body> {
    failure(StatusCode::UNAUTHORIZED, "Unauthorized", message)
}
