//! Kubernetes `Status` objects: how refusals reach kubectl, which prints their message.

use crate::body::{Body, full};
use hyper::{Response, StatusCode};

/// A `Status` failure response with `code`, `reason` (e.g. `Forbidden`) and `message`.
pub fn failure(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    let mut r = Response::new(full(body.to_string()));
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
