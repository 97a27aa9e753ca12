//! Configuration objects (ConfigMaps, Secrets, ServiceAccounts) and the
//! discovery paths the clients that use them ask for first, against a real
//! etcd, over plain HTTP and with the installed kubectl 1.32.

use e2e::{http, Apiserver, Etcd};
use serde_json::Value;
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
    for p in ["/apis/batch", "/apis/batch/", "/apis/batch/v1/"] {
        let (code, status) = get(&api, p);
        assert_eq!((code, status["kind"].as_str()), (404, Some("Status")), "{p}");
    }
}
