//! The API server behind a target: TLS with its CA, the gateway's own bearer token, optional
//! impersonation of the caller, and the headers a request may carry to it.

use crate::body::Body;
use hoop_core::identity::Identity;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// Why the API server could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// TCP connect failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// host:port.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// TLS handshake failed (certificate not trusted, ...).
    #[error("TLS to {addr}: {source}")]
    Tls {
        /// host:port.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// HTTP failed.
    #[error("HTTP to the API server: {0}")]
    Http(#[from] hyper::Error),
}

/// One Kubernetes target.
#[derive(Debug)]
pub struct K8sTarget {
    /// `host:port` of the API server.
    pub addr: String,
    /// Host name for TLS and the Host header.
    pub host: String,
    /// Path prefix of the server URL (usually empty).
    pub base_path: String,
    /// Trust for the API server's certificate.
    pub tls: Arc<rustls::ClientConfig>,
    /// The gateway's bearer token for this cluster.
    pub token: Option<String>,
    /// Send the caller's identity as impersonation headers.
    pub impersonate: bool,
    /// Mask the values of the namespace's Secrets in responses (see `secrets/`).
    pub mask_secret_values: bool,
}

/// The client's request headers passed on to the API server; every other is dropped. An
/// allow-list: the API server reads who the caller is from more headers than `Impersonate-*`
/// (`X-Remote-User`/`-Group`/`-Extra-*` from a front-proxy certificate, which a gateway's
/// client certificate may be; `Audit-ID`, `X-Forwarded-For` in its audit log; a bearer token in
/// `Sec-WebSocket-Protocol`), and hoop decides who the cluster sees (red-team identity round
/// 86: `X-Remote-User: system:admin` reached the upstream). What hoop sets itself (`Host`,
/// `Authorization`, `Accept`, impersonation, a WebSocket's handshake) it sets after.
const FORWARDED: &[&str] = &["content-type", "user-agent", "kubectl-command", "kubectl-session"];

impl K8sTarget {
    /// Parses `https://host:port[/prefix]`.
    pub fn parse_url(url: &str) -> Result<(String, String, String), String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{e}"))?;
        if uri.scheme_str() != Some("https") {
            return Err("the API server URL must be https".into());
        }
        let host = uri.host().ok_or("no host")?.trim_matches(['[', ']']).to_string();
        let port = uri.port_u16().unwrap_or(443);
        let base = uri.path().trim_end_matches('/').to_string();
        Ok((format!("{host}:{port}"), host, base))
    }

    /// A new HTTP/1.1 connection (upgrades allowed) to the API server.
    pub async fn connect(&self) -> Result<SendRequest<Body>, UpstreamError> {
        let tcp = tokio::net::TcpStream::connect(&self.addr).await.map_err(|source| UpstreamError::Connect { addr: self.addr.clone(), source })?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| UpstreamError::Tls {
            addr: self.addr.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
        })?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|source| UpstreamError::Tls { addr: self.addr.clone(), source })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "API server connection ended");
            }
        });
        Ok(sender)
    }

    /// A request the gateway makes for itself, never as a caller: reading what it needs to
    /// mask a caller's responses.
    pub fn own_request(&self, method: &hyper::Method, path_and_query: &str) -> hyper::Request<Body> {
        self.build(method, path_and_query, &HeaderMap::new(), None, crate::body::empty())
    }

    /// The request to send upstream for a client request to `path_and_query` (API path).
    pub fn request(&self, method: &hyper::Method, path_and_query: &str, client: &HeaderMap, identity: &Identity, body: Body) -> hyper::Request<Body> {
        self.build(method, path_and_query, client, Some(identity), body)
    }

    /// A request to the API server, as `identity` when impersonating (else as the gateway).
    fn build(&self, method: &hyper::Method, path_and_query: &str, client: &HeaderMap, identity: Option<&Identity>, body: Body) -> hyper::Request<Body> {
        let mut req = hyper::Request::new(body);
        *req.method_mut() = method.clone();
        let uri = format!("{}{}", self.base_path, path_and_query);
        *req.uri_mut() = uri.parse().unwrap_or_else(|_| hyper::Uri::from_static("/"));
        let h = req.headers_mut();
        for (name, value) in client {
            if FORWARDED.contains(&name.as_str()) {
                h.append(name.clone(), value.clone());
            }
        }
        // Every response hoop relays must be one it can read to mask: JSON (or the plain text
        // of logs), whatever the client asked for.
        let asked: Vec<&str> = client.get_all(hyper::header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect();
        h.insert(hyper::header::ACCEPT, json_only(&asked.join(",")));
        if let Ok(v) = HeaderValue::from_str(&self.addr) {
            h.insert(hyper::header::HOST, v);
        }
        if let Some(t) = &self.token
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer {t}"))
        {
            h.insert(hyper::header::AUTHORIZATION, v);
        }
        if self.impersonate
            && let Some(identity) = identity
        {
            if let Ok(v) = HeaderValue::from_str(&identity.subject) {
                h.insert(HeaderName::from_static("impersonate-user"), v);
            }
            for g in &identity.groups {
                if let Ok(v) = HeaderValue::from_str(g) {
                    h.append(HeaderName::from_static("impersonate-group"), v);
                }
            }
        }
        req
    }
}

/// The client's `Accept` cut down to its JSON choices (`as=Table` ones included), or plain
/// `application/json`: never YAML, protobuf or CBOR, which hoop cannot mask field by field.
fn json_only(text: &str) -> HeaderValue {
    let kept: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|t| t.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")))
        .collect();
    let joined = if kept.is_empty() { "application/json".to_string() } else { kept.join(",") };
    HeaderValue::from_str(&joined).unwrap_or_else(|_| HeaderValue::from_static("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_is_asked_for() {
        assert_eq!(json_only("application/vnd.kubernetes.protobuf, application/json"), "application/json");
        assert_eq!(json_only("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"), "application/json");
        let t = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
        assert_eq!(json_only(t), t);
        assert_eq!(json_only("application/yaml"), "application/json");
        assert_eq!(json_only("application/cbor, */*"), "application/json");
        assert_eq!(json_only(""), "application/json");
        assert_eq!(json_only("application/json-seq"), "application/json");
    }
}
