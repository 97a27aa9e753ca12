//! A seeded fuzz test of the authentication path, over HTTPS against one
//! real apiserver (RBAC, a token file, a known ServiceAccount signing key):
//! random and mutated bearer tokens (JWT-shaped ones too, some re-signed
//! with the real key), malformed `Authorization` and `Impersonate-*`
//! headers, on connections with no client certificate, the admin's, or
//! alice's; and a few handshakes with certificates of another CA.
//!
//! What must hold: every request answered on its keep-alive connection
//! (none dropped), only 2xx where allowed, 400 for a malformed
//! impersonation, 401, 403 or 404, never a 5xx; a foreign certificate
//! never gets a session; no panic in the apiserver's log afterwards.
//! `FUZZ_SEED=<n>` replays a run, `FUZZ_REQUESTS=<n>` changes the count.

use axum::body::Body;
use axum::http;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use e2e::{kubectl_ok, Apiserver, Etcd, ScratchDir};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

const CONNECTIONS: usize = 8;
const PATHS: &[&str] = &[
    "/api/v1/namespaces/default/services",
    "/api/v1/services",
    "/api/v1/namespaces/kube-system/secrets",
    "/apis/apps/v1/deployments",
    "/api",
    "/apis",
    "/version",
    "/api/v1/nodes/n1",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
];

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn client_config(ca_pem: &str, identity: Option<&apiserver::pki::Issued>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(id.cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

type Sender = hyper::client::conn::http1::SendRequest<Body>;

async fn connect(addr: &str, config: Arc<ClientConfig>) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| e.to_string())?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(send)
}

/// Up to `max` bytes a header value may hold: visible ASCII, spaces, obs-text (0x80-0xff).
fn random_text(rng: &mut fastrand::Rng, max: usize) -> Vec<u8> {
    let len = rng.usize(0..=max);
    (0..len)
        .map(|_| match rng.u8(..10) {
            0 => rng.u8(0x80..=0xff),
            1 => b' ',
            _ => rng.u8(0x21..0x7f),
        })
        .collect()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A token: random, JWT-shaped, or a mutation of a real one.
fn token(rng: &mut fastrand::Rng, real: &str, resign: &dyn Fn(&Value) -> String) -> Vec<u8> {
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(real.split('.').nth(1).unwrap()).unwrap()).unwrap();
    match rng.u8(..9) {
        0 => random_text(rng, 300),
        1 => {
            let header =
                json!({"alg": (["ES256", "none", "HS256", "RS256"][rng.usize(..4)]), "kid": rng.u64(..).to_string()});
            let sig = URL_SAFE_NO_PAD.encode(random_text(rng, 64));
            format!("{}.{}.{sig}", b64(&header), b64(&claims)).into_bytes()
        }
        2 => {
            let mut t = real.as_bytes().to_vec();
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..t.len());
                t[i] = rng.u8(0x21..0x7f);
            }
            t
        }
        3 => real.as_bytes()[..rng.usize(..real.len())].to_vec(),
        4 => {
            // Re-signed with the real key, claims bent: another account, expired, wrong audience or issuer.
            let mut c = claims.clone();
            match rng.u8(..5) {
                0 => c["sub"] = json!("system:serviceaccount:kube-system:admin"),
                1 => c["exp"] = json!(1),
                2 => c["aud"] = json!(["elsewhere"]),
                3 => c["iss"] = json!("https://evil"),
                _ => c["kubernetes.io"]["serviceaccount"]["uid"] = json!("00000000-0000-0000-0000-000000000000"),
            }
            resign(&c).into_bytes()
        }
        5 => format!("{real}.{real}").into_bytes(),
        6 => "a".repeat(rng.usize(1000..8000)).into_bytes(),
        7 => real.as_bytes().to_vec(),
        _ => ["admin-token", "alice-token", "", " ", "."][rng.usize(..5)].as_bytes().to_vec(),
    }
}

fn authorization(rng: &mut fastrand::Rng, token: Vec<u8>) -> Option<Vec<u8>> {
    let scheme: &[u8] = match rng.u8(..8) {
        0 => return None,
        1 => b"bearer ",
        2 => b"Basic ",
        3 => b"Bearer  ",
        4 => b"",
        _ => b"Bearer ",
    };
    Some([scheme, &token].concat())
}

fn impersonation(rng: &mut fastrand::Rng, req: &mut http::request::Builder) {
    let pick = |rng: &mut fastrand::Rng, xs: &[&'static str]| xs[rng.usize(..xs.len())];
    for _ in 0..rng.usize(0..3) {
        let name = pick(
            rng,
            &[
                "Impersonate-User",
                "Impersonate-Group",
                "Impersonate-Uid",
                "Impersonate-Extra-scopes",
                "Impersonate-Extra-%zz%",
            ],
        );
        let value = match rng.u8(..3) {
            0 => pick(
                rng,
                &["system:admin", "system:masters", "system:serviceaccount:kube-system:x", "system:anonymous", ""],
            )
            .as_bytes()
            .to_vec(),
            _ => random_text(rng, 40),
        };
        if let Ok(v) = http::HeaderValue::from_bytes(&value) {
            *req = std::mem::take(req).header(name, v);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authentication_path_survives_random_and_mutated_credentials() {
    let seed = env_or("FUZZ_SEED", fastrand::u64(..));
    let total: usize = env_or("FUZZ_REQUESTS", 10_000);
    println!("auth fuzz: seed {seed}, {total} requests (FUZZ_SEED={seed} replays)");
    let etcd = Etcd::start();
    let dir = ScratchDir::new("auth-fuzz");
    let key = rcgen::KeyPair::generate().unwrap();
    let (key_file, tokens) = (dir.0.join("sa.key"), dir.0.join("tokens.csv"));
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    std::fs::write(&tokens, "admin-token,admin,1,system:masters\nalice-token,alice,2\n").unwrap();
    let (key_flag, tokens_flag) = (key_file.display().to_string(), tokens.display().to_string());
    let args = [
        "--authorization-mode=RBAC",
        "--service-account-signing-key-file",
        &key_flag,
        "--token-auth-file",
        &tokens_flag,
    ];
    let api = Apiserver::start_tls(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &args);
    let admin = api.admin_kubeconfig();
    kubectl_ok(&admin, &["create", "serviceaccount", "x"]);
    let real = kubectl_ok(&admin, &["create", "token", "x"]).trim().to_string();
    let header = jsonwebtoken::decode_header(&real).unwrap();
    let signing = jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der());
    let resign = Arc::new(move |claims: &Value| jsonwebtoken::encode(&header, claims, &signing).unwrap());

    let ca = apiserver::pki::Ca::load(api.cert_dir().unwrap()).unwrap();
    let admin_cert = ca.client("kubernetes-admin", &["system:masters"]).unwrap();
    let alice_cert = ca.client("alice", &["devs"]).unwrap();
    let identities = [None, Some(&admin_cert), Some(&alice_cert)];
    let configs: Vec<_> = identities.iter().map(|id| client_config(&ca.cert_pem, *id)).collect();
    let addr = api.url.trim_start_matches("https://").to_string();

    // Certificates of another CA: never a session, and the server goes on.
    let other = apiserver::pki::Ca::generate().unwrap();
    for (user, groups) in [("kubernetes-admin", &["system:masters"][..]), ("alice", &[])] {
        let foreign = client_config(&ca.cert_pem, Some(&other.client(user, groups).unwrap()));
        let sent = async {
            let mut send = connect(&addr, foreign).await?;
            let req = http::Request::get("/api/v1/services").header("host", "localhost").body(Body::empty()).unwrap();
            send.send_request(req).await.map_err(|e| e.to_string())
        };
        assert!(sent.await.is_err(), "a certificate of another CA was served");
    }

    let counts: Arc<Mutex<BTreeMap<(String, u16), usize>>> = Arc::default();
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Instant::now();
    let workers = (0..CONNECTIONS).map(|w| {
        let (addr, configs, counts, problems, real, resign) =
            (addr.clone(), configs.clone(), counts.clone(), problems.clone(), real.clone(), resign.clone());
        tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(w as u64));
            let identity = w % configs.len();
            let who = ["none", "admin-cert", "alice-cert"][identity].to_string();
            let mut send = connect(&addr, configs[identity].clone()).await.expect("TLS connection");
            for i in (w..total).step_by(CONNECTIONS) {
                let path = PATHS[rng.usize(..PATHS.len())];
                // No writes to the RBAC objects: the admin's certificate would
                // delete the bindings everyone else's answers depend on.
                let method =
                    if path.contains("rbac") { "GET" } else { ["GET", "GET", "GET", "DELETE", "POST"][rng.usize(..5)] };
                let mut req = http::Request::builder().method(method).uri(path).header("host", "localhost");
                let token = token(&mut rng, &real, &*resign);
                let auth = authorization(&mut rng, token);
                if let Some(value) = auth.and_then(|a| http::HeaderValue::from_bytes(&a).ok()) {
                    req = req.header("authorization", value);
                }
                if rng.u8(..4) == 0 {
                    impersonation(&mut rng, &mut req);
                }
                let body = if method == "POST" { Body::from("{\"metadata\":{\"name\":\"x\"}}") } else { Body::empty() };
                let req = req.header("content-type", "application/json").body(body).unwrap();
                let answer = match tokio::time::timeout(Duration::from_secs(20), send.send_request(req)).await {
                    Ok(Ok(resp)) => resp,
                    Ok(Err(e)) => {
                        problems.lock().unwrap().push(format!("request {i} ({who}, {method} {path}): connection: {e}"));
                        return;
                    }
                    Err(_) => {
                        problems
                            .lock()
                            .unwrap()
                            .push(format!("request {i} ({who}, {method} {path}): no answer in 20 s"));
                        return;
                    }
                };
                let code = answer.status().as_u16();
                let body = axum::body::to_bytes(Body::new(answer.into_body()), 1 << 24).await;
                if !matches!(code, 200 | 201 | 400 | 401 | 403 | 404 | 405 | 409 | 422) || body.is_err() {
                    let text = body.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                    problems.lock().unwrap().push(format!("request {i} ({who}, {method} {path}): {code} {text}"));
                }
                *counts.lock().unwrap().entry((who.clone(), code)).or_default() += 1;
            }
        })
    });
    for w in futures_util::future::join_all(workers).await {
        w.unwrap();
    }
    let elapsed = started.elapsed();
    let counts = counts.lock().unwrap().clone();
    println!("auth fuzz: {total} requests in {elapsed:?}: {counts:?}");
    let problems = problems.lock().unwrap().clone();
    assert!(
        problems.is_empty(),
        "seed {seed}: {} problems, first: {:#?}",
        problems.len(),
        &problems[..problems.len().min(5)]
    );
    assert_eq!(counts.values().sum::<usize>(), total, "every request answered");
    // Each kind of answer happened: the test exercised what it claims to.
    for code in [200, 401, 403] {
        assert!(counts.keys().any(|(_, c)| *c == code), "no {code} in {counts:?}");
    }
    assert!(api.admin_kubeconfig().path.exists());
    assert!(kubectl_ok(&admin, &["get", "ns", "-o", "name"]).contains("namespace/default"), "still serving");
}
