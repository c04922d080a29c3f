//! OIDC tokens verified against a JWKS fetched over real HTTPS from a local server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use base64::Engine;
use hoop_core::auth::{AuthError, Authenticator, Credential, OidcConfig, OidcVerifier, TokenAuthenticator, TokenVerifier};
use hoop_core::identity::IdentityKind;
use hoop_core::keys::KeyStore;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

struct Issuer {
    url: String,
    ca_file: tempfile::NamedTempFile,
    jwks: Arc<Mutex<serde_json::Value>>,
    fetches: Arc<AtomicUsize>,
}

struct SigningKey {
    kid: String,
    der: Vec<u8>,
    jwk: serde_json::Value,
}

fn signing_key(kid: &str) -> SigningKey {
    let k = rcgen::KeyPair::generate().unwrap();
    let raw = k.public_key_raw();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    SigningKey {
        kid: kid.into(),
        der: k.serialize_der(),
        jwk: serde_json::json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": b64.encode(&raw[1..33]), "y": b64.encode(&raw[33..65]),
        }),
    }
}

/// Starts an HTTPS server on a free loopback port serving discovery and JWKS documents.
async fn start_issuer(keys: &[&SigningKey]) -> Issuer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert_key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&cert_key).unwrap();
    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut ca_file, cert.pem().as_bytes()).unwrap();
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(cert_key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("https://localhost:{port}");
    let jwks = Arc::new(Mutex::new(serde_json::json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (j, f, u) = (jwks.clone(), fetches.clone(), url.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            let (j, f, u) = (j.clone(), f.clone(), u.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let body = match req.uri().path() {
                        "/.well-known/openid-configuration" => {
                            serde_json::json!({ "issuer": u, "jwks_uri": format!("{u}/jwks") }).to_string()
                        }
                        "/jwks" => {
                            f.fetch_add(1, Ordering::SeqCst);
                            j.lock().unwrap().to_string()
                        }
                        _ => "{}".into(),
                    };
                    async move { Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), svc).await;
            });
        }
    });
    Issuer { url, ca_file, jwks, fetches }
}

fn sign(key: &SigningKey, claims: serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ec_der(&key.der)).unwrap()
}

fn claims(iss: &str, aud: &str, exp_in: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({
        "iss": iss, "aud": aud, "sub": "alice@corp.example", "exp": now + exp_in, "iat": now, "nbf": now - 5,
        "jti": "j-1", "realm_access": { "roles": ["review", "dba"] }
    })
}

fn authenticator(issuer: &Issuer) -> TokenAuthenticator {
    let dir = tempfile::tempdir().unwrap();
    let gateway = TokenVerifier::from_store(&KeyStore::open(dir.path()).unwrap()).unwrap();
    let mut cfg = OidcConfig::new(issuer.url.clone(), "hoop");
    cfg.groups_claim = "realm_access.roles".into();
    cfg.ca_file = Some(issuer.ca_file.path().to_path_buf());
    cfg.min_refresh_secs = 0;
    cfg.leeway_secs = 0;
    cfg.map = vec![hoop_core::auth::oidc::ClaimMapping {
        require: [("realm_access.roles".to_string(), "dba".to_string())].into(),
        kind: IdentityKind::Human,
        pass_groups: vec!["review".into(), "dba".into()],
        targets: vec!["*".into()],
        ..Default::default()
    }];
    TokenAuthenticator::new(gateway).with_oidc(OidcVerifier::new(cfg).unwrap())
}

#[tokio::test]
async fn jwks_over_https_with_claim_mapping_and_refusals() {
    let k1 = signing_key("k1");
    let issuer = start_issuer(&[&k1]).await;
    let auth = authenticator(&issuer);
    let ok = sign(&k1, claims(&issuer.url, "hoop", 300));
    let id = auth.authenticate(Credential::Token(&ok)).await.unwrap();
    assert_eq!(id.subject, "alice@corp.example");
    assert_eq!(id.groups, ["review", "dba"]);
    assert_eq!(id.kind, IdentityKind::Human);
    assert_eq!(id.issuer, issuer.url);
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1, "discovery, then one JWKS fetch");
    auth.authenticate(Credential::Token(&ok)).await.unwrap();
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1, "keys are cached");

    let check = |t: String| {
        let auth = &auth;
        async move { auth.authenticate(Credential::Token(&t)).await }
    };
    assert_eq!(check(sign(&k1, claims(&issuer.url, "hoop", -120))).await, Err(AuthError::Expired));
    assert_eq!(check(sign(&k1, claims(&issuer.url, "other-app", 300))).await, Err(AuthError::WrongAudience));
    let mut future = claims(&issuer.url, "hoop", 600);
    future["nbf"] = serde_json::json!(chrono::Utc::now().timestamp() + 300);
    assert_eq!(check(sign(&k1, future)).await, Err(AuthError::NotYetValid));
    assert!(matches!(
        check(sign(&k1, claims("https://evil.example", "hoop", 300))).await,
        Err(AuthError::WrongIssuer(_))
    ));
    // A token lives at most 24 h from its `iat`, wherever in its life it is shown, so that a
    // revocation of its id need last no longer: a 30-day token in its last hour, one with no
    // `iat`, and one issued in the future are refused.
    let now = chrono::Utc::now().timestamp();
    let mut month = claims(&issuer.url, "hoop", 3600);
    month["iat"] = serde_json::json!(now - 30 * 86_400 + 3600);
    assert!(matches!(check(sign(&k1, month)).await, Err(AuthError::Claim(c)) if c.starts_with("exp")));
    let mut no_iat = claims(&issuer.url, "hoop", 300);
    no_iat.as_object_mut().unwrap().remove("iat");
    assert_eq!(check(sign(&k1, no_iat)).await, Err(AuthError::Claim("iat".into())));
    // Read as numbers whatever their spelling (red-team identity round 84: `"exp": 1e10` was
    // taken for no `exp` and a token issued two days before logged in).
    for exp in [serde_json::json!(1e10), serde_json::json!((now + 30 * 86_400) as f64 + 0.5)] {
        let mut float = claims(&issuer.url, "hoop", 300);
        float["exp"] = exp.clone();
        assert!(matches!(check(sign(&k1, float)).await, Err(AuthError::Claim(c)) if c.starts_with("exp")), "{exp}");
    }
    let mut old = claims(&issuer.url, "hoop", 300);
    (old["iat"], old["exp"]) = (serde_json::json!(now - 2 * 86_400), serde_json::json!(1e10));
    assert!(check(sign(&k1, old)).await.is_err());
    let mut fine = claims(&issuer.url, "hoop", 300);
    fine["exp"] = serde_json::json!((now + 300) as f64 + 0.25);
    assert!(check(sign(&k1, fine)).await.is_ok(), "a fraction of a second is still a date");
    // A `jti` a revocation could not name is refused (round 84: `"a b"` logged in, and
    // `hoop revoke "token:a b"` was refused as matching no credential).
    for jti in [serde_json::json!("a b"), serde_json::json!(7), serde_json::json!("x\u{7}")] {
        let mut odd = claims(&issuer.url, "hoop", 300);
        odd["jti"] = jti.clone();
        assert_eq!(check(sign(&k1, odd)).await, Err(AuthError::Claim("jti".into())), "{jti}");
    }
    let mut later = claims(&issuer.url, "hoop", 600);
    later["iat"] = serde_json::json!(now + 300);
    assert_eq!(check(sign(&k1, later)).await, Err(AuthError::NotYetValid));
    // Signed by the issuer, but no mapping takes it: refused.
    let mut outsider = claims(&issuer.url, "hoop", 300);
    outsider["realm_access"]["roles"] = serde_json::json!(["guest"]);
    assert!(matches!(check(sign(&k1, outsider)).await, Err(AuthError::Permission(_))));
    // Forged: another key claiming kid k1.
    let impostor = SigningKey { kid: "k1".into(), ..signing_key("x") };
    assert_eq!(check(sign(&impostor, claims(&issuer.url, "hoop", 300))).await, Err(AuthError::BadSignature));
    // alg: none.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = ok.split('.').collect();
    let none = format!("{}.{}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    assert_eq!(check(none).await, Err(AuthError::AlgNone));
}

#[tokio::test]
async fn unknown_kid_refreshes_the_key_set() {
    let k1 = signing_key("k1");
    let k2 = signing_key("k2");
    let issuer = start_issuer(&[&k1]).await;
    let auth = authenticator(&issuer);
    auth.authenticate(Credential::Token(&sign(&k1, claims(&issuer.url, "hoop", 300)))).await.unwrap();
    // The issuer rotates to k2.
    *issuer.jwks.lock().unwrap() = serde_json::json!({ "keys": [k1.jwk, k2.jwk] });
    let id = auth.authenticate(Credential::Token(&sign(&k2, claims(&issuer.url, "hoop", 300)))).await.unwrap();
    assert_eq!(id.subject, "alice@corp.example");
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    let k3 = signing_key("k3");
    assert_eq!(
        auth.authenticate(Credential::Token(&sign(&k3, claims(&issuer.url, "hoop", 300)))).await,
        Err(AuthError::UnknownKey("k3".into()))
    );
}
