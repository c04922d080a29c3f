//! The admin API's client, as the `hoop` CLI uses it.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// Why a call to the admin API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is unusable.
    #[error("admin URL {0}: {1}")]
    Url(String, String),
    /// Connecting or TLS failed.
    #[error("admin API at {0}: {1}")]
    Connect(String, String),
    /// The API answered with an error.
    #[error("admin API: HTTP {0}: {1}")]
    Status(u16, String),
}

/// A client for one admin API with one token.
pub struct AdminClient {
    addr: String,
    host: String,
    tls: Arc<rustls::ClientConfig>,
    token: String,
}

impl AdminClient {
    /// A client for `url` (`https://host:port`) trusting `tls`, presenting `token`.
    pub fn new(url: &str, tls: Arc<rustls::ClientConfig>, token: String) -> Result<Self, ClientError> {
        let uri: hyper::Uri = url.parse().map_err(|e| ClientError::Url(url.into(), format!("{e}")))?;
        if uri.scheme_str() != Some("https") {
            return Err(ClientError::Url(url.into(), "must be https".into()));
        }
        let host = uri.host().ok_or_else(|| ClientError::Url(url.into(), "no host".into()))?.trim_matches(['[', ']']).to_string();
        let addr = format!("{host}:{}", uri.port_u16().unwrap_or(443));
        Ok(AdminClient { addr, host, tls, token })
    }

    /// `GET path`: the body on 2xx.
    pub async fn get(&self, path: &str) -> Result<Bytes, ClientError> {
        self.call(hyper::Method::GET, path, Bytes::new()).await
    }

    /// `DELETE path`: the body on 2xx.
    pub async fn delete(&self, path: &str) -> Result<Bytes, ClientError> {
        self.call(hyper::Method::DELETE, path, Bytes::new()).await
    }

    /// `POST path` with a JSON body: the body on 2xx.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> Result<Bytes, ClientError> {
        self.call(hyper::Method::POST, path, Bytes::from(body.to_string())).await
    }

    async fn call(&self, method: hyper::Method, path: &str, body: Bytes) -> Result<Bytes, ClientError> {
        let conn_err = |e: &dyn std::fmt::Display| ClientError::Connect(self.addr.clone(), e.to_string());
        let tcp = tokio::net::TcpStream::connect(&self.addr).await.map_err(|e| conn_err(&e))?;
        let name = rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| conn_err(&e))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone()).connect(name, tcp).await.map_err(|e| conn_err(&e))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| conn_err(&e))?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.as_str())
            .header(hyper::header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| conn_err(&e))?;
        let resp = send.send_request(req).await.map_err(|e| conn_err(&e))?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map_err(|e| conn_err(&e))?.to_bytes();
        if !status.is_success() {
            let msg = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ClientError::Status(status.as_u16(), msg));
        }
        Ok(bytes)
    }
}
