//! HTTPS as the apiserver serves it by default: its generated CA and
//! serving certificate, the admin kubeconfig it writes (kubectl, the kube
//! crate and the Python client use it unchanged), client certificates as
//! credentials (CN the user, O the groups, judged by RBAC), and what is
//! refused: anonymous requests, certificates of another CA, expired or
//! tampered tokens. Raw requests are the installed curl's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use e2e::{eventually, kubectl, kubectl_ok, Apiserver, Etcd, Kubeconfig, ScratchDir};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_apiserver"))
}

fn unauthorized() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
}

/// curl's (exit code, HTTP status, body as JSON or text); status 0 when
/// no HTTP answer came (the TLS handshake failed, say).
fn curl(url: &str, path: &str, args: &[&str]) -> (i32, u16, Value) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .arg(format!("{url}{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    (out.status.code().unwrap_or(-1), code.trim().parse().unwrap_or(0), body)
}

/// A client certificate and key in files, as curl takes them.
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    _dir: ScratchDir,
}

fn cert_files(ca: &apiserver::pki::Ca, user: &str, groups: &[&str]) -> CertFiles {
    let dir = ScratchDir::new("client-cert");
    let issued = ca.client(user, groups).unwrap();
    let (cert, key) = (dir.0.join("client.crt"), dir.0.join("client.key"));
    std::fs::write(&cert, issued.cert_pem).unwrap();
    std::fs::write(&key, issued.key_pem).unwrap();
    CertFiles { cert, key, _dir: dir }
}

fn ca_file(api: &Apiserver) -> String {
    api.cert_dir().unwrap().join("ca.crt").display().to_string()
}

#[test]
fn anonymous_gets_401_or_only_the_public_info() {
    let etcd = Etcd::start();
    let api = Apiserver::start_tls(binary(), &etcd, &["--anonymous-auth=false"]);
    assert!(api.url.starts_with("https://"), "{}", api.url);
    let (_, code, body) = curl(&api.url, "/api/v1/services", &["-k"]);
    assert_eq!((code, body), (401, unauthorized()));
    // Plain HTTP on the secure port is no request at all.
    let plain = api.url.replacen("https://", "http://", 1);
    assert_ne!(curl(&plain, "/api/v1/services", &[]).1, 200);
    drop(api);

    let api = Apiserver::start_tls(binary(), &etcd, &["--authorization-mode=RBAC"]);
    let ca = ca_file(&api);
    // Verified against the generated CA (no -k): the serving certificate names 127.0.0.1.
    for path in ["/version", "/readyz", "/healthz", "/livez"] {
        let (exit, code, body) = curl(&api.url, path, &["--cacert", &ca]);
        assert_eq!((exit, code), (0, 200), "{path}: {body}");
    }
    let localhost = api.url.replacen("127.0.0.1", "localhost", 1);
    assert_eq!(curl(&localhost, "/version", &["--cacert", &ca]).1, 200, "localhost is a SAN too");
    for path in ["/api/v1/services", "/api", "/apis", "/api/v1/namespaces/default/services/kubernetes"] {
        let (_, code, body) = curl(&api.url, path, &["--cacert", &ca]);
        assert_eq!(code, 403, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains(r#"User "system:anonymous""#), "{body}");
    }
}

#[test]
fn client_certificates_of_our_ca_authenticate_and_others_fail_the_handshake() {
    let etcd = Etcd::start();
    let api = Apiserver::start_tls(binary(), &etcd, &["--authorization-mode=RBAC"]);
    let ca = ca_file(&api);
    let ours = apiserver::pki::Ca::load(api.cert_dir().unwrap()).unwrap();
    let alice = cert_files(&ours, "alice", &["devs"]);
    let with = |c: &CertFiles| {
        let (cert, key) = (c.cert.display().to_string(), c.key.display().to_string());
        curl(&api.url, "/api/v1/namespaces/default/services", &["--cacert", &ca, "--cert", &cert, "--key", &key])
    };
    let (_, code, body) = with(&alice);
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body["message"],
        r#"services is forbidden: User "alice" cannot list resource "services" in API group "" in the namespace "default""#
    );
    let admin = cert_files(&ours, "kubernetes-admin", &["system:masters"]);
    assert_eq!(with(&admin).1, 200);
    // Same names, another CA: no TLS session, so no HTTP answer at all.
    let other = apiserver::pki::Ca::generate().unwrap();
    let (exit, code, body) = with(&cert_files(&other, "kubernetes-admin", &["system:masters"]));
    assert_eq!(code, 0, "{body}");
    assert_ne!(exit, 0);
    // The server survives it and goes on serving.
    assert_eq!(with(&admin).1, 200);
}

#[test]
fn expired_and_tampered_tokens_are_401() {
    let etcd = Etcd::start();
    let dir = ScratchDir::new("sa-key");
    let key = rcgen::KeyPair::generate().unwrap();
    let key_file = dir.0.join("sa.key");
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let key_flag = key_file.display().to_string();
    let args = ["--authorization-mode=RBAC", "--service-account-signing-key-file", &key_flag];
    let api = Apiserver::start_tls(binary(), &etcd, &args);
    let admin = api.admin_kubeconfig();
    kubectl_ok(&admin, &["create", "serviceaccount", "x"]);
    let token = kubectl_ok(&admin, &["create", "token", "x"]).trim().to_string();
    let ca = ca_file(&api);
    let with = |token: &str| {
        let header = format!("Authorization: Bearer {token}");
        curl(&api.url, "/api/v1/namespaces/default/services", &["--cacert", &ca, "-H", &header])
    };
    let (_, code, body) = with(&token);
    assert_eq!(code, 403, "a valid token: authenticated, not allowed: {body}");
    assert!(body["message"].as_str().unwrap().contains(r#"User "system:serviceaccount:default:x""#), "{body}");

    // Tampered: one character of the signature changed.
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let (_, code, body) = with(std::str::from_utf8(&tampered).unwrap());
    assert_eq!((code, body), (401, unauthorized()));

    // Expired: the same claims, an hour old, signed with the right key.
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    claims["iat"] = json!(now - 7200);
    claims["nbf"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let expired =
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der())).unwrap();
    let (_, code, body) = with(&expired);
    assert_eq!((code, body), (401, unauthorized()));
    // The control: the same re-signing, not expired, is accepted.
    claims["exp"] = json!(now + 3600);
    let fresh =
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der())).unwrap();
    assert_eq!(with(&fresh).1, 403);
}

/// `kubectl auth whoami -o json`'s user.
fn whoami(kc: &Kubeconfig) -> (String, Vec<String>) {
    let review: Value = serde_json::from_str(&kubectl_ok(kc, &["auth", "whoami", "-o", "json"])).unwrap();
    let info = &review["status"]["userInfo"];
    let groups = info["groups"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect();
    (info["username"].as_str().unwrap().to_string(), groups)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_kubeconfig_serves_kubectl_the_kube_crate_and_python() {
    use futures_util::StreamExt;
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};

    let etcd = Etcd::start();
    let api = Apiserver::start_tls(binary(), &etcd, &["--authorization-mode=RBAC", "--anonymous-auth=false"]);
    let admin = api.admin_kubeconfig();
    let text = std::fs::read_to_string(&admin.path).unwrap();
    assert!(text.contains(&format!("server: {}", api.url)), "{text}");

    // kubectl.
    assert_eq!(
        whoami(&admin),
        ("kubernetes-admin".to_string(), vec!["system:masters".to_string(), "system:authenticated".to_string()])
    );
    kubectl_ok(&admin, &["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    assert!(kubectl_ok(&admin, &["get", "svc", "web", "-o", "name"]).contains("service/web"));
    let all = kubectl_ok(&admin, &["get", "svc", "-o", "name"]);
    assert!(all.contains("service/kubernetes") && all.contains("service/web"), "{all}");
    kubectl_ok(&admin, &["delete", "svc", "web"]);

    // The kube crate, with the same file.
    let services: Api<Service> = Api::default_namespaced(admin.client().await);
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "kube-tls", "labels": {"app": "kube-tls"}},
        "spec": {"selector": {"app": "kube-tls"}, "ports": [{"port": 80}]}}))
    .unwrap();
    let created = services.create(&PostParams::default(), &svc).await.unwrap();
    assert_eq!(services.get("kube-tls").await.unwrap().metadata.uid, created.metadata.uid);
    let listed = services.list(&ListParams::default().labels("app=kube-tls")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let rv = listed.metadata.resource_version.unwrap();
    let mut events = services.watch(&WatchParams::default().labels("app=kube-tls"), &rv).await.unwrap().boxed();
    services.delete("kube-tls", &DeleteParams::default()).await.unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(20), events.next()).await.unwrap();
    assert!(matches!(event, Some(Ok(WatchEvent::Deleted(s))) if s.metadata.name.as_deref() == Some("kube-tls")));

    // The Python client, with the same file.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tls_admin.py");
    let out = Command::new("python3").arg(script).arg(&admin.path).output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("python client over TLS: create, get, list, watch, delete, whoami ok"), "{stdout}");

    // Restarted: the same CA, so the same kubeconfig still works.
    let mut api = api;
    api.restart();
    assert_eq!(whoami(&admin).0, "kubernetes-admin");
}

#[test]
fn a_certificates_cn_and_o_are_the_user_and_groups_rbac_judges() {
    let etcd = Etcd::start();
    let api = Apiserver::start_tls(binary(), &etcd, &["--authorization-mode=RBAC"]);
    let admin = api.admin_kubeconfig();
    let alice = api.kubeconfig_for("alice", &["devs"]);
    assert_eq!(whoami(&alice), ("alice".to_string(), vec!["devs".to_string(), "system:authenticated".to_string()]));
    let refused = kubectl(&alice, &["get", "svc"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(
            r#"services is forbidden: User "alice" cannot list resource "services" in API group "" in the namespace "default""#
        ),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    kubectl_ok(&admin, &["create", "rolebinding", "devs-edit", "--clusterrole=edit", "--group=devs"]);
    eventually("alice may list services", || kubectl(&alice, &["get", "svc"]).status.success(), |ok| *ok);
    kubectl_ok(&alice, &["create", "service", "clusterip", "alices", "--tcp=80:80"]);
    let out = kubectl(&alice, &["create", "namespace", "alices"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(r#"User "alice" cannot create resource "namespaces""#));
    // Not in devs: nothing.
    let bob = api.kubeconfig_for("bob", &["qa"]);
    assert!(!kubectl(&bob, &["get", "svc"]).status.success());

    // A component's kubeconfig, minted by `apiserver kubeconfig`: the proxy reads Services, never writes them.
    let out = Command::new(binary())
        .args(["kubeconfig", "--cert-dir", api.cert_dir().unwrap().to_str().unwrap(), "--server", &api.url])
        .args(["--component", "proxy"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let proxy = Kubeconfig::from_text(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(whoami(&proxy).0, "system:kube-proxy");
    assert!(kubectl(&proxy, &["get", "svc", "-A"]).status.success());
    let out = kubectl(&proxy, &["create", "service", "clusterip", "hijack", "--tcp=80:80"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(r#"User "system:kube-proxy" cannot create resource "services""#)
    );
}
