//! An HTTPS GET load: `k8s_load <https://host:port/path> <token> <ca.pem> <connections> <seconds>`
//! keeps `connections` keep-alive HTTP/1.1 connections busy with sequential GETs and prints
//! `requests seconds` (every response must be 200).

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fail(msg: String) -> ! {
    eprintln!("k8s_load: {msg}");
    std::process::exit(1);
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (Some(url), Some(token), Some(ca), Some(conns), Some(secs)) =
        (a.get(1), a.get(2), a.get(3), a.get(4).and_then(|c| c.parse::<usize>().ok()), a.get(5).and_then(|s| s.parse::<u64>().ok()))
    else {
        fail("usage: k8s_load <url> <token> <ca.pem> <connections> <seconds>".into())
    };
    let uri: hyper::Uri = url.parse().unwrap_or_else(|e| fail(format!("{url}: {e}")));
    let host = uri.host().unwrap_or("127.0.0.1").to_string();
    let addr = format!("{host}:{}", uri.port_u16().unwrap_or(443));
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let pem = std::fs::read(ca).unwrap_or_else(|e| fail(format!("{ca}: {e}")));
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem).flatten() {
        let _ = roots.add(c);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fail(e.to_string()))
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = Arc::new(tls);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (tls, addr, host, path, token) = (tls.clone(), addr.clone(), host.clone(), path.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap_or_else(|e| fail(format!("{addr}: {e}")));
            let _ = tcp.set_nodelay(true);
            let name = rustls::pki_types::ServerName::try_from(host.clone()).unwrap_or_else(|e| fail(e.to_string()));
            let stream = tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await.unwrap_or_else(|e| fail(format!("TLS: {e}")));
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap_or_else(|e| fail(e.to_string()));
            tokio::spawn(conn);
            let mut n = 0u64;
            while Instant::now() < deadline {
                let req = hyper::Request::get(path.as_str())
                    .header("host", host.as_str())
                    .header("authorization", format!("Bearer {token}"))
                    .header("accept", "application/json")
                    .body(Empty::<Bytes>::new())
                    .unwrap_or_else(|e| fail(e.to_string()));
                let resp = send.send_request(req).await.unwrap_or_else(|e| fail(e.to_string()));
                if resp.status() != 200 {
                    fail(format!("HTTP {}", resp.status()));
                }
                let _ = resp.into_body().collect().await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    println!("{total} {:.3}", start.elapsed().as_secs_f64());
}
