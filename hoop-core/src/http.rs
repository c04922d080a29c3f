//! The HTTP/1.1 server settings every hoop HTTP listener shares (Kubernetes API, admin API):
//! bounded request heads, read before a deadline.

use crate::admission::AdmissionLimits;

/// An HTTP/1.1 connection builder that refuses request heads over `max_header_bytes` and
/// closes a connection whose request head has not arrived within the pre-authentication deadline.
pub fn server_builder(limits: &AdmissionLimits) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.preauth_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    b
}
