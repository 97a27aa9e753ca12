//! Configuration objects (ConfigMaps, Secrets, ServiceAccounts) and the
//! discovery paths the clients that use them ask for first, against a real
//! etcd, over plain HTTP and with the installed kubectl 1.32.

use e2e::{http, kubectl, kubectl_ok, table_rows, Apiserver, Etcd, Kubeconfig, ScratchDir};
use serde_json::{json, Value};
use std::path::Path;

fn start() -> (Etcd, Apiserver) {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    (etcd, api)
}

fn get(api: &Apiserver, path: &str) -> (u16, Value) {
    let (code, text) = http("GET", &api.url, path, None, "");
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// kr8s and pykube-ng ask for `/version/` first: every discovery path
/// answers with a trailing slash exactly as without, as kube-apiserver does.
#[test]
fn discovery_paths_answer_with_a_trailing_slash() {
    let (_etcd, api) = start();
    for bare in ["/version", "/api", "/apis", "/apis/apps", "/api/v1", "/apis/apps/v1", "/apis/discovery.k8s.io/v1"] {
        let (code, plain) = get(&api, bare);
        assert_eq!(code, 200, "{bare}: {plain}");
        let slashed = format!("{bare}/");
        let (code, with_slash) = get(&api, &slashed);
        assert_eq!((code, &with_slash), (200, &plain), "{slashed}");
    }
    let (_, version) = get(&api, "/version/");
    assert_eq!(version["major"], "1");
    let (_, group) = get(&api, "/apis/apps/");
    assert_eq!(group["kind"], "APIGroup");
    assert_eq!(group["name"], "apps");
    assert_eq!(group["preferredVersion"]["groupVersion"], "apps/v1");
    let (_, core) = get(&api, "/api/v1/");
    assert_eq!(core["kind"], "APIResourceList");
    // A group not served is still a 404 Status, slash or not.
    for p in ["/apis/storage.k8s.io", "/apis/storage.k8s.io/", "/apis/storage.k8s.io/v1/"] {
        let (code, status) = get(&api, p);
        assert_eq!((code, status["kind"].as_str()), (404, Some("Status")), "{p}");
    }
}

fn call(api: &Apiserver, method: &str, path: &str, body: Value) -> (u16, Value) {
    let text = if body.is_null() { String::new() } else { body.to_string() };
    let (code, resp) = http(method, &api.url, path, None, &text);
    (code, serde_json::from_str(&resp).unwrap_or(Value::String(resp)))
}

fn kubectl_err(kc: &Kubeconfig, args: &[&str]) -> String {
    let out = kubectl(kc, args);
    assert!(!out.status.success(), "kubectl {args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_of(kc: &Kubeconfig, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&kubectl_ok(kc, &all)).unwrap()
}

/// kubectl's typed `create configmap` and `create secret generic` (protobuf
/// bodies), its tables, and upstream's refusals in upstream's words.
#[test]
fn kubectl_creates_config_maps_and_secrets() {
    let (_etcd, api) = start();
    let kc = Kubeconfig::new(&api.url);
    let dir = ScratchDir::new("config-files");
    let props = dir.0.join("app.properties");
    std::fs::write(&props, "color=blue\nsize=3\n").unwrap();
    let from_file = format!("--from-file={}", props.display());
    let out = kubectl_ok(&kc, &["create", "configmap", "x", "--from-literal=a=b", &from_file]);
    assert_eq!(out.trim(), "configmap/x created");
    let cm = json_of(&kc, &["get", "configmap", "x"]);
    assert_eq!(cm["data"], json!({"a": "b", "app.properties": "color=blue\nsize=3\n"}));

    // Bytes that are not UTF-8 go to binaryData, base64 on the wire.
    let blob = dir.0.join("blob");
    std::fs::write(&blob, [0xff, 0x00, 0xfe]).unwrap();
    kubectl_ok(&kc, &["create", "configmap", "bin", &format!("--from-file={}", blob.display())]);
    assert_eq!(json_of(&kc, &["get", "cm", "bin"])["binaryData"], json!({"blob": "/wD+"}));

    let out = kubectl_ok(
        &kc,
        &["create", "secret", "generic", "s", "--from-literal=user=admin", "--from-literal=pass=s3cret"],
    );
    assert_eq!(out.trim(), "secret/s created");
    let secret = json_of(&kc, &["get", "secret", "s"]);
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["data"], json!({"pass": "czNjcmV0", "user": "YWRtaW4="}));
    assert_eq!(kubectl_ok(&kc, &["create", "serviceaccount", "robot"]).trim(), "serviceaccount/robot created");

    let rows = table_rows(&kubectl_ok(&kc, &["get", "cm,secret,sa"]));
    // One table per kind, each with its own header row.
    let header = |first: &str| rows.windows(2).position(|w| w[0][0] == "NAME" && w[1][0].starts_with(first)).unwrap();
    let cm_at = header("configmap/");
    assert_eq!(rows[cm_at], ["NAME", "DATA", "AGE"]);
    assert_eq!(rows[cm_at + 1][..2], ["configmap/bin", "1"]);
    assert_eq!(rows[cm_at + 2][..2], ["configmap/x", "2"]);
    let secret_at = header("secret/");
    assert_eq!(rows[secret_at], ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(rows[secret_at + 1][..3], ["secret/s", "Opaque", "2"]);
    let sa_at = header("serviceaccount/");
    assert_eq!(rows[sa_at], ["NAME", "SECRETS", "AGE"]);
    assert_eq!(rows[sa_at + 1][..2], ["serviceaccount/robot", "0"]);

    // Over 1 MiB of data: refused by the server, not by etcd's limit.
    let big = dir.0.join("big");
    std::fs::write(&big, vec![b'x'; 1024 * 1024 + 1]).unwrap();
    let err = kubectl_err(&kc, &["create", "configmap", "big", &format!("--from-file={}", big.display())]);
    assert!(err.contains(r#"ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes"#), "{err}");
    let err = kubectl_err(&kc, &["create", "secret", "generic", "bigs", &format!("--from-file={}", big.display())]);
    assert!(err.contains(r#"Secret "bigs" is invalid: data: Too long: may not be more than 1048576 bytes"#), "{err}");

    // kubectl checks keys of `create configmap` itself; a manifest reaches the server.
    let bad = dir.0.join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: {\"bad key\": v, \"..\": w}\n")
        .unwrap();
    let err = kubectl_err(&kc, &["create", "-f", bad.to_str().unwrap()]);
    assert!(err.contains(r#"The ConfigMap "bad" is invalid: "#), "{err}");
    assert!(err.contains(r#"data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"#), "{err}");
    assert!(err.contains(r#"data[..]: Invalid value: "..": must not be '..'"#), "{err}");

    // Immutable: data stays, metadata may change.
    let imm = dir.0.join("imm.yaml");
    std::fs::write(&imm, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: imm}\nimmutable: true\ndata: {a: b}\n")
        .unwrap();
    kubectl_ok(&kc, &["create", "-f", imm.to_str().unwrap()]);
    let err = kubectl_err(&kc, &["patch", "cm", "imm", "-p", r#"{"data":{"a":"c"}}"#]);
    assert!(
        err.contains("The ConfigMap \"imm\" is invalid: data: Forbidden: field is immutable when `immutable` is set"),
        "{err}"
    );
    kubectl_ok(&kc, &["label", "cm", "imm", "tier=web"]);
    assert_eq!(json_of(&kc, &["get", "cm", "imm"])["data"], json!({"a": "b"}));
}

/// Over plain HTTP: `stringData` folded into `data`, a Secret's type kept,
/// the Status of a bad key with its cause.
#[test]
fn secrets_fold_string_data_and_keep_their_type() {
    let (_etcd, api) = start();
    let secrets = "/api/v1/namespaces/default/secrets";
    let body = json!({"metadata":{"name":"s"},"data":{"a":"b2xk"},"stringData":{"a":"new","b":"plain"}});
    let (code, created) = call(&api, "POST", secrets, body);
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["data"], json!({"a": "bmV3", "b": "cGxhaW4="}));
    assert!(created.get("stringData").is_none(), "{created}");
    assert_eq!(created["type"], "Opaque");

    let mut retyped = created.clone();
    retyped["type"] = json!("kubernetes.io/tls");
    let (code, status) = call(&api, "PUT", &format!("{secrets}/s"), retyped);
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")), "{status}");
    assert_eq!(
        status["message"],
        r#"Secret "s" is invalid: type: Invalid value: "kubernetes.io/tls": field is immutable"#
    );

    let (code, status) = call(
        &api,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        json!({"metadata":{"name":"c"},"data":{"a/b":"x"}}),
    );
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "data[a/b]");
    assert_eq!(status["details"]["causes"][0]["reason"], "FieldValueInvalid");
    let (code, status) = call(&api, "POST", secrets, json!({"metadata":{"name":"t"},"data":{"a":"not base64!"}}));
    assert_eq!((code, status["kind"].as_str()), (400, Some("Status")), "{status}");
}
