//! TLS on both sides: verified TLS to an upstream that requires it, PG17 direct TLS from a
//! client, and the GSSAPI-encryption refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hoop_core::auth::{TokenIssuer, TokenSpec};
use hoop_core::config::Config;
use hoop_core::identity::IdentityKind;
use hoop_core::keys::KeyStore;
use hoop_harness::{PgOptions, Postgres};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn gateway(pg: &Postgres, dir: &std::path::Path) -> (u16, String) {
    let text = format!(
        "data_dir = \"{}\"\n[policy]\ndefault_rules = false\n[targets.secure]\nprotocol = \"postgres\"\naddress = \"localhost:{}\"\nuser = \"postgres\"\npassword = \"{}\"\ndatabase = \"postgres\"\nallow_privileged_role = true\ntls = true\nca_file = \"{}\"\n",
        dir.display(),
        pg.port(),
        pg.password(),
        pg.ca_file().display()
    );
    let cfg = Config::parse(&text, "test").unwrap();
    let proxy = Arc::new(hoop_pg::PgProxy::from_config(&cfg, cfg.build_gate().unwrap()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(proxy.serve(listener));
    let token = TokenIssuer::from_store(&KeyStore::open(dir.join("keys")).unwrap())
        .unwrap()
        .issue(&TokenSpec { subject: "a".into(), kind: IdentityKind::Agent, groups: vec![], targets: vec!["*".into()], ttl_secs: 60 })
        .unwrap();
    (port, token)
}

fn startup(user: &str, db: &str) -> Vec<u8> {
    hoop_harness::pg_startup_packet(&[("user", user), ("database", db)])
}

#[tokio::test]
async fn verified_tls_upstream_direct_tls_and_gssenc_refusal() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pg = Postgres::start(PgOptions { tls: true, settings: vec![], ..PgOptions::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (port, token) = gateway(&pg, dir.path()).await;

    // A client through hoop to the TLS upstream, checking the upstream session is encrypted.
    let (c, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=a dbname=secure password={token} sslmode=disable"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let ssl: bool = c.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0);
    assert!(ssl, "hoop reached the upstream over verified TLS");

    // PG17 direct TLS: ClientHello first, ALPN "postgresql", then the startup inside TLS.
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
    for cert in rustls_pemfile::certs(&mut &ca[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut cc = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    cc.alpn_protocols = vec![b"postgresql".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cc)).connect(name, tcp).await.unwrap();
    tls.write_all(&startup("a", "secure")).await.unwrap();
    let mut head = [0u8; 9];
    tls.read_exact(&mut head).await.unwrap();
    assert_eq!(head[0], b'R', "authentication request over direct TLS");
    assert_eq!(&head[5..9], &3i32.to_be_bytes(), "cleartext password (inside TLS)");

    // GSSENCRequest is refused with 'N', and the same connection goes on with a startup.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(&[0, 0, 0, 8, 4, 0xd2, 0x16, 0x30]).await.unwrap();
    let mut n = [0u8; 1];
    s.read_exact(&mut n).await.unwrap();
    assert_eq!(&n, b"N");
    s.write_all(&startup("a", "secure")).await.unwrap();
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(head[0], b'R');

    // A CancelRequest inside TLS (as libpq 18's PQcancelConn sends it) is answered with a TLS
    // close_notify: the client reads a clean end of stream, not "unexpected eof".
    let mut cc = rustls::ClientConfig::builder().with_root_certificates(roots_of(dir.path())).with_no_client_auth();
    cc.alpn_protocols = vec![b"postgresql".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cc)).connect(name, tcp).await.unwrap();
    let mut cancel = vec![0, 0, 0, 16, 4, 0xd2, 0x16, 0x2e];
    cancel.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
    tls.write_all(&cancel).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), tls.read_to_end(&mut rest)).await.unwrap();
    assert!(read.is_ok(), "clean TLS close after a cancel request: {read:?}");
}

fn roots_of(dir: &std::path::Path) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.join("tls/cert.pem")).unwrap();
    for cert in rustls_pemfile::certs(&mut &ca[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}
