//! Issue #11's registry-level findings, each as the request that found it,
//! against a real etcd: a clean Status where a handler used to panic, the
//! `kubernetes` Service protected, etcd's transaction limit never reached,
//! and allocation races that end in an answer, not a 500.

use e2e::{http, Apiserver, Etcd};
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::path::Path;

fn start(etcd: &Etcd, extra: &[&str]) -> Apiserver {
    Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), etcd, extra)
}

fn call(api: &Apiserver, method: &str, path: &str, ct: Option<&str>, body: &str) -> (u16, Value) {
    let (code, resp) = http(method, &api.url, path, ct, body);
    (code, serde_json::from_str(&resp).unwrap_or(Value::String(resp)))
}

const PODS: &str = "/api/v1/namespaces/default/pods";
const SVCS: &str = "/api/v1/namespaces/default/services";

#[test]
fn huge_grace_periods_are_clamped_and_delete_collection_still_works() {
    let etcd = Etcd::start();
    let api = start(&etcd, &[]);
    let huge = i64::MAX;
    // A scheduled pod whose own grace period is huge, and one asked for a huge one.
    for (name, own) in [("own", huge), ("asked", 30)] {
        let pod = json!({"metadata":{"name":name},"spec":{"nodeName":"node1","terminationGracePeriodSeconds":own,"containers":[{"name":"c","image":"x"}]}});
        let (code, body) = call(&api, "POST", PODS, None, &pod.to_string());
        assert_eq!(code, 201, "{body}");
    }
    let (code, marked) = call(&api, "DELETE", &format!("{PODS}/asked?gracePeriodSeconds={huge}"), None, "");
    assert_eq!(code, 200, "{marked}");
    assert!(marked["metadata"]["deletionTimestamp"].is_string(), "{marked}");
    let grace = marked["metadata"]["deletionGracePeriodSeconds"].as_i64().unwrap();
    assert!(grace > 0 && grace < huge, "clamped: {grace}");
    // The same through a DeleteOptions body, and the pod's own value.
    let (code, body) =
        call(&api, "DELETE", &format!("{PODS}/own"), None, &json!({"gracePeriodSeconds": huge}).to_string());
    assert_eq!(code, 200, "{body}");
    let (code, body) = call(&api, "DELETE", PODS, None, "");
    assert_eq!(code, 200, "delete-collection after the huge ones: {body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
    // Grace 0 still removes them at once.
    for name in ["own", "asked"] {
        call(&api, "DELETE", &format!("{PODS}/{name}?gracePeriodSeconds=0"), None, "");
        assert_eq!(call(&api, "GET", &format!("{PODS}/{name}"), None, "").0, 404);
    }
}

#[test]
fn apply_creating_from_a_body_that_is_not_an_object_is_a_bad_request() {
    let etcd = Etcd::start();
    let api = start(&etcd, &[]);
    for body in ["[]", r#"{"metadata":[]}"#, r#"{"metadata":"x"}"#] {
        let (code, status) = call(
            &api,
            "PATCH",
            &format!("{SVCS}/made-by-apply?fieldManager=test"),
            Some("application/apply-patch+yaml"),
            body,
        );
        assert_eq!(
            (code, status["kind"].as_str(), status["reason"].as_str()),
            (400, Some("Status"), Some("BadRequest")),
            "{body}: {status}"
        );
    }
    assert_eq!(call(&api, "GET", "/healthz", None, "").0, 200);
}

#[test]
fn the_kubernetes_service_and_its_address_are_protected() {
    let etcd = Etcd::start();
    let api = start(&etcd, &["--endpoint-reconciler-interval", "1"]);
    // Whoever may delete Services may delete it (upstream: cluster-admin;
    // RBAC refuses the others), and the apiserver makes it again.
    let (_, before) = call(&api, "GET", &format!("{SVCS}/kubernetes"), None, "");
    let (code, status) = call(&api, "DELETE", &format!("{SVCS}/kubernetes"), None, "");
    assert_eq!(code, 200, "{status}");
    let again = e2e::eventually(
        "the kubernetes Service back",
        || call(&api, "GET", &format!("{SVCS}/kubernetes"), None, ""),
        |(code, svc)| *code == 200 && svc["metadata"]["uid"] != before["metadata"]["uid"],
    );
    assert_eq!(again.1["spec"]["clusterIP"], "10.96.0.1");
    let thief = json!({"metadata":{"name":"thief"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":80}]}});
    let (code, status) = call(&api, "POST", SVCS, None, &thief.to_string());
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")), "{status}");
    assert!(
        status["message"].as_str().unwrap().ends_with("10.96.0.1 is reserved for the kubernetes Service"),
        "{status}"
    );
    // Elsewhere, a `kubernetes` Service is an ordinary one.
    call(&api, "POST", "/api/v1/namespaces", None, r#"{"metadata":{"name":"other"}}"#);
    let other = json!({"metadata":{"name":"kubernetes"},"spec":{"ports":[{"port":80}]}});
    assert_eq!(call(&api, "POST", "/api/v1/namespaces/other/services", None, &other.to_string()).0, 201);
    assert_eq!(call(&api, "DELETE", "/api/v1/namespaces/other/services/kubernetes", None, "").0, 200);
}

fn node_port_service(name: &str, ports: impl Iterator<Item = (i32, Option<i32>)>) -> Value {
    let ports: Vec<Value> = ports
        .map(|(port, node_port)| match node_port {
            Some(np) => json!({"name": format!("p{port}"), "port": port, "nodePort": np}),
            None => json!({"name": format!("p{port}"), "port": port}),
        })
        .collect();
    json!({"metadata":{"name":name},"spec":{"type":"NodePort","ports":ports}})
}

#[test]
fn the_most_node_ports_a_service_may_hold_fit_in_one_etcd_transaction() {
    let etcd = Etcd::start();
    let api = start(&etcd, &[]);
    // 63 NodePorts: created, then every one replaced in one update (63 claims
    // and 63 releases in one transaction, under etcd's 128 operations).
    let max = node_port_service("wide", (1..=63).map(|p| (p, None)));
    let (code, created) = call(&api, "POST", SVCS, None, &max.to_string());
    assert_eq!(code, 201, "{created}");
    let held: Vec<i64> =
        created["spec"]["ports"].as_array().unwrap().iter().map(|p| p["nodePort"].as_i64().unwrap()).collect();
    assert_eq!(held.len(), 63);
    let mut moved = node_port_service("wide", (1..=63).map(|p| (p, Some(30000 + p))));
    moved["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"].clone();
    let (code, updated) = call(&api, "PUT", &format!("{SVCS}/wide"), None, &moved.to_string());
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["spec"]["ports"][62]["nodePort"], 30063);
    // One more is refused with a Status, not etcd's 503.
    let (code, status) =
        call(&api, "POST", SVCS, None, &node_port_service("wider", (1..=64).map(|p| (p, None))).to_string());
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")), "{status}");
    assert_eq!(
        status["message"],
        r#"Service "wider" is invalid: spec.ports: Too many: 64: must have at most 63 distinct NodePorts (each is claimed in the Service's etcd transaction)"#
    );
    // Ports sharing a number share a NodePort, so 126 ports fit too.
    let both: Vec<Value> = (1..=63)
        .flat_map(|p| {
            [
                json!({"name": format!("t{p}"), "port": p}),
                json!({"name": format!("u{p}"), "port": p, "protocol": "UDP"}),
            ]
        })
        .collect();
    let dual = json!({"metadata":{"name":"dual"},"spec":{"type":"NodePort","ports":both}});
    assert_eq!(call(&api, "POST", SVCS, None, &dual.to_string()).0, 201);
    for name in ["wide", "dual"] {
        assert_eq!(call(&api, "DELETE", &format!("{SVCS}/{name}"), None, "").0, 200);
    }
    let (_, left) = call(&api, "GET", SVCS, None, "");
    assert_eq!(left["items"].as_array().unwrap().len(), 1, "only kubernetes is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_races_near_a_full_range_end_in_a_create_or_range_is_full() {
    let etcd = Etcd::start();
    // 14 usable ClusterIPs, one of them the kubernetes Service's.
    let flags = ["--service-cluster-ip-range", "10.0.0.0/28"];
    let apis = [start(&etcd, &flags), start(&etcd, &flags)];
    let urls: Vec<String> = apis.iter().map(|a| a.url.clone()).collect();
    let creates = (0..40).map(|n| {
        let url = urls[n % 2].clone();
        tokio::task::spawn_blocking(move || {
            let svc = json!({"metadata":{"name":format!("s{n}")},"spec":{"ports":[{"port":80}]}});
            let (code, body) = http("POST", &url, SVCS, None, &svc.to_string());
            let status: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            (code, status["message"].as_str().unwrap_or("").to_string())
        })
    });
    let answers: Vec<(u16, String)> = join_all(creates).await.into_iter().map(Result::unwrap).collect();
    let created = answers.iter().filter(|(code, _)| *code == 201).count();
    assert_eq!(created, 13, "{answers:?}");
    for (code, message) in answers.iter().filter(|(code, _)| *code != 201) {
        assert_eq!(
            (*code, message.as_str()),
            (500, "Internal error occurred: failed to allocate a serviceIP: range is full"),
            "{answers:?}"
        );
    }
}

/// etcd's count of served Range requests (its gRPC metrics).
fn etcd_ranges(etcd: &Etcd) -> u64 {
    let (_, text) = http("GET", &etcd.url, "/metrics", None, "");
    let range = text.lines().find(|l| {
        l.starts_with("grpc_server_handled_total")
            && l.contains(r#"grpc_code="OK""#)
            && l.contains(r#"grpc_method="Range""#)
    });
    range.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).unwrap_or(0.0) as u64
}

/// A namespace known to be active costs a create no read (its commit is
/// guarded on the namespace's revision instead), yet a namespace marked
/// Terminating, or deleted, since takes nothing new: the guard fails, the
/// namespace is read again, and the create is refused as upstream refuses it.
#[test]
fn creates_in_a_known_namespace_read_nothing_and_never_land_in_a_terminating_one() {
    let etcd = Etcd::start();
    let api = start(&etcd, &[]);
    let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}).to_string();
    let held = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]}});
    assert_eq!(call(&api, "POST", "/api/v1/namespaces", Some("application/json"), &held.to_string()).0, 201);
    let cms = "/api/v1/namespaces/held/configmaps";
    assert_eq!(call(&api, "POST", cms, Some("application/json"), &cm("first")).0, 201);
    let before = etcd_ranges(&etcd);
    assert!(before > 0, "etcd's metrics name no Range served");
    for i in 0..20 {
        assert_eq!(call(&api, "POST", cms, Some("application/json"), &cm(&format!("cm-{i}"))).0, 201);
    }
    assert_eq!(etcd_ranges(&etcd) - before, 0, "20 creates in a known namespace read etcd");

    // Deleting it marks it Terminating (its finalizer holds it there).
    assert_eq!(call(&api, "DELETE", "/api/v1/namespaces/held", None, "").0, 200);
    let (code, status) = call(&api, "POST", cms, Some("application/json"), &cm("late"));
    assert_eq!(
        (code, status["message"].as_str()),
        (
            403,
            Some(
                r#"configmaps "late" is forbidden: unable to create new content in namespace held because it is being terminated"#
            )
        )
    );

    // A namespace deleted for good, once known active.
    let gone = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}}).to_string();
    assert_eq!(call(&api, "POST", "/api/v1/namespaces", Some("application/json"), &gone).0, 201);
    let gone_cms = "/api/v1/namespaces/gone/configmaps";
    assert_eq!(call(&api, "POST", gone_cms, Some("application/json"), &cm("a")).0, 201);
    assert_eq!(call(&api, "DELETE", "/api/v1/namespaces/gone", None, "").0, 200);
    let (code, status) = call(&api, "POST", gone_cms, Some("application/json"), &cm("b"));
    assert_eq!((code, status["message"].as_str()), (404, Some(r#"namespaces "gone" not found"#)));
}
