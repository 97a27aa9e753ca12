//! The API's finer points over plain HTTP, against a real etcd: what the
//! real clients rely on without every test going through one of them.

use e2e::{http, Apiserver, Etcd};
use serde_json::{json, Value};
use std::path::Path;

fn start(extra: &[&str]) -> (Etcd, Apiserver) {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, extra);
    (etcd, api)
}

fn call(api: &Apiserver, method: &str, path: &str, ct: Option<&str>, body: Value) -> (u16, Value) {
    let text = if body.is_null() { String::new() } else { body.to_string() };
    let (code, resp) = http(method, &api.url, path, ct, &text);
    (code, serde_json::from_str(&resp).unwrap_or(Value::String(resp)))
}

/// The JSON lines of a watch response (chunk-size lines skipped).
fn events(raw: &str) -> Vec<Value> {
    raw.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect()
}

const PODS: &str = "/api/v1/namespaces/default/pods";

#[test]
fn status_graceful_deletion_finalizers_and_dry_run() {
    let (_etcd, api) = start(&[]);
    let pod = json!({"metadata":{"generateName":"web-","labels":{"app":"web"}},"spec":{"nodeName":"node1","containers":[{"name":"c","image":"nginx:1.25"}]}});
    let (code, created) = call(&api, "POST", PODS, None, pod);
    assert_eq!(code, 201, "{created}");
    let name = created["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    assert_eq!(created["status"]["phase"], "Pending");
    assert_eq!(created["spec"]["terminationGracePeriodSeconds"], 30);

    // The main resource ignores status; /status changes only status.
    let mut changed = created.clone();
    changed["status"]["phase"] = json!("Running");
    changed["metadata"]["labels"]["app"] = json!("web2");
    let (code, updated) = call(&api, "PUT", &format!("{PODS}/{name}"), None, changed.clone());
    assert_eq!(
        (code, updated["status"]["phase"].as_str(), updated["metadata"]["labels"]["app"].as_str()),
        (200, Some("Pending"), Some("web2"))
    );
    let (code, stale) = call(&api, "PUT", &format!("{PODS}/{name}"), None, changed.clone());
    assert_eq!((code, stale["reason"].as_str()), (409, Some("Conflict")), "{stale}");
    changed["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"].clone();
    changed["spec"]["nodeName"] = json!("elsewhere");
    let (code, status) = call(&api, "PUT", &format!("{PODS}/{name}/status"), None, changed);
    assert_eq!(
        (code, status["status"]["phase"].as_str(), status["spec"]["nodeName"].as_str()),
        (200, Some("Running"), Some("node1"))
    );

    // Dry run: the answer, not the write.
    let (code, _) = call(&api, "DELETE", &format!("{PODS}/{name}?dryRun=All&gracePeriodSeconds=0"), None, Value::Null);
    assert_eq!(code, 200);
    let (code, _) = call(
        &api,
        "POST",
        &format!("{PODS}?dryRun=All"),
        None,
        json!({"metadata":{"name":"ghost"},"spec":{"containers":[{"name":"c","image":"x"}]}}),
    );
    assert_eq!(code, 201);
    assert_eq!(call(&api, "GET", &format!("{PODS}/ghost"), None, Value::Null).0, 404);

    // A scheduled pod is deleted gracefully: marked first, gone with grace 0.
    let (code, marked) =
        call(&api, "DELETE", &format!("{PODS}/{name}"), None, json!({"propagationPolicy":"Background"}));
    assert_eq!(code, 200);
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 30);
    assert_eq!(call(&api, "GET", &format!("{PODS}/{name}"), None, Value::Null).0, 200);
    call(&api, "DELETE", &format!("{PODS}/{name}?gracePeriodSeconds=0"), None, Value::Null);
    assert_eq!(call(&api, "GET", &format!("{PODS}/{name}"), None, Value::Null).0, 404);

    // Finalizers hold an object until the last one is removed.
    let ep = "/api/v1/namespaces/default/endpoints";
    call(&api, "POST", ep, None, json!({"metadata":{"name":"held","finalizers":["example.com/hold"]}}));
    let (code, held) = call(&api, "DELETE", &format!("{ep}/held"), None, Value::Null);
    assert_eq!(code, 200);
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    let (code, _) = call(
        &api,
        "PATCH",
        &format!("{ep}/held"),
        Some("application/merge-patch+json"),
        json!({"metadata":{"finalizers":null}}),
    );
    assert_eq!(code, 200);
    assert_eq!(call(&api, "GET", &format!("{ep}/held"), None, Value::Null).0, 404);

    // Preconditions: a delete of one incarnation, or one version, only.
    let (_, cm) = call(&api, "POST", "/api/v1/namespaces/default/configmaps", None, json!({"metadata":{"name":"pre"}}));
    let (uid, rv) = (cm["metadata"]["uid"].as_str().unwrap(), cm["metadata"]["resourceVersion"].as_str().unwrap());
    let pre = "/api/v1/namespaces/default/configmaps/pre";
    let (code, status) = call(&api, "DELETE", pre, None, json!({"preconditions":{"uid":"not-it"}}));
    assert_eq!((code, status["reason"].as_str()), (409, Some("Conflict")), "{status}");
    assert_eq!(
        status["message"],
        format!("Operation cannot be fulfilled on configmaps \"pre\": Precondition failed: UID in precondition: not-it, UID in object meta: {uid}")
    );
    let (code, status) = call(&api, "DELETE", pre, None, json!({"preconditions":{"resourceVersion":"1"}}));
    assert_eq!(code, 409, "{status}");
    assert_eq!(
        status["message"],
        format!("Operation cannot be fulfilled on configmaps \"pre\": Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: {rv}")
    );
    let (code, _) = call(&api, "DELETE", pre, None, json!({"preconditions":{"uid":uid,"resourceVersion":rv}}));
    assert_eq!(code, 200);
    assert_eq!(call(&api, "GET", pre, None, Value::Null).0, 404);

    // deletecollection with a selector.
    for n in ["a", "b", "c"] {
        let tier = if n == "c" { "db" } else { "web" };
        call(
            &api,
            "POST",
            PODS,
            None,
            json!({"metadata":{"name":n,"labels":{"tier":tier}},"spec":{"containers":[{"name":"c","image":"x"}]}}),
        );
    }
    let (code, gone) = call(&api, "DELETE", &format!("{PODS}?labelSelector=tier%3Dweb"), None, Value::Null);
    assert_eq!((code, gone["items"].as_array().map(Vec::len)), (200, Some(2)));
    let (_, left) = call(&api, "GET", PODS, None, Value::Null);
    assert_eq!(
        left["items"].as_array().unwrap().iter().map(|p| p["metadata"]["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["c"]
    );
}

#[test]
fn bad_input_gets_a_status_never_a_crash() {
    let (_etcd, api) = start(&[]);
    let svcs = "/api/v1/namespaces/default/services";
    // (method, path, content type, body, want code, want reason)
    type Case<'a> = (&'a str, String, Option<&'a str>, String, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("POST", svcs.into(), Some("application/json"), "{not json".into(), 400, "BadRequest"),
        ("POST", svcs.into(), None, r#"{"metadata":{"name":"x"},"spec":{"ports":"eighty"}}"#.into(), 400, "BadRequest"),
        (
            "POST",
            svcs.into(),
            None,
            r#"{"apiVersion":"apps/v1","kind":"Service","metadata":{"name":"x"}}"#.into(),
            400,
            "BadRequest",
        ),
        ("POST", svcs.into(), Some("application/vnd.kubernetes.protobuf"), "garbage".into(), 400, "BadRequest"),
        (
            "POST",
            svcs.into(),
            None,
            r#"{"metadata":{"name":"x","resourceVersion":"5"},"spec":{"ports":[{"port":1}]}}"#.into(),
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/nope/services".into(),
            None,
            r#"{"metadata":{"name":"x"},"spec":{"ports":[{"port":1}]}}"#.into(),
            404,
            "NotFound",
        ),
        ("PATCH", format!("{svcs}/kubernetes"), Some("text/plain"), "{}".into(), 415, "UnsupportedMediaType"),
        ("PATCH", format!("{svcs}/nope"), Some("application/merge-patch+json"), "{}".into(), 404, "NotFound"),
        (
            "PATCH",
            format!("{svcs}/kubernetes"),
            Some("application/json-patch+json"),
            r#"[{"op":"bogus"}]"#.into(),
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            format!("{svcs}/kubernetes"),
            Some("application/apply-patch+yaml"),
            "spec: {}".into(),
            400,
            "BadRequest",
        ),
        ("PUT", format!("{svcs}/kubernetes"), None, r#"{"metadata":{"name":"other"}}"#.into(), 400, "BadRequest"),
        ("GET", "/api/v1/widgets".into(), None, String::new(), 404, "NotFound"),
        ("GET", "/apis/storage.k8s.io/v1/storageclasses".into(), None, String::new(), 404, "NotFound"),
        ("GET", format!("{svcs}?labelSelector=a%20in%20b"), None, String::new(), 400, "BadRequest"),
        ("GET", format!("{svcs}?fieldSelector=spec.nodeName%3Dx"), None, String::new(), 400, "BadRequest"),
        ("GET", format!("{svcs}?watch=1&resourceVersion=abc"), None, String::new(), 400, "BadRequest"),
        (
            "POST",
            format!("{svcs}?fieldValidation=Strict"),
            None,
            r#"{"metadata":{"name":"x"},"spek":{}}"#.into(),
            400,
            "BadRequest",
        ),
        ("DELETE", "/api/v1/namespaces/kube-system".into(), None, String::new(), 403, "Forbidden"),
    ];
    for (method, path, ct, body, code, reason) in cases {
        let (got, resp) = http(method, &api.url, &path, ct, &body);
        let status: Value = serde_json::from_str(&resp).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {resp}"));
        assert_eq!(
            (got, status["kind"].as_str(), status["reason"].as_str()),
            (code, Some("Status"), Some(reason)),
            "{method} {path}: {resp}"
        );
    }
    // An oversize body is refused from its Content-Length, before it is sent.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(api.url.trim_start_matches("http://")).unwrap();
    let head = format!("POST {svcs} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", 4 << 20);
    s.write_all(head.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 413") && out.contains(r#""reason":"RequestEntityTooLarge""#), "{out}");
    // A body that grows past the limit without declaring it is cut off too.
    let huge = format!(r#"{{"metadata":{{"name":"x","annotations":{{"a":"{}"}}}}}}"#, "x".repeat(4 << 20));
    let mut s = std::net::TcpStream::connect(api.url.trim_start_matches("http://")).unwrap();
    let head = format!(
        "POST {svcs} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        huge.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(huge.as_bytes()); // the server may stop reading, and close, first
    let _ = s.write_all(b"\r\n0\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_eq!(call(&api, "GET", &format!("{svcs}/x"), None, Value::Null).0, 404, "nothing was stored");
    // Warn (the default) accepts unknown fields and says so in a header.
    let body = json!({"metadata":{"name":"warned"},"spek":{},"spec":{"ports":[{"port":80}]}}).to_string();
    let mut s = std::net::TcpStream::connect(api.url.trim_start_matches("http://")).unwrap();
    let req =
        format!("POST {svcs} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    assert!(out.to_ascii_lowercase().contains(r#"warning: 299 - "unknown field \"spek\"""#), "{out}");
    assert_eq!(http("GET", &api.url, "/healthz", None, "").0, 200);
}

#[test]
fn watch_filters_bookmarks_initial_events_and_tables() {
    let (_etcd, api) = start(&["--watch-bookmark-interval", "1"]);
    let svcs = "/api/v1/namespaces/default/services";
    let (_, list) = call(&api, "GET", svcs, None, Value::Null);
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    for (name, app) in [("one", "a"), ("two", "b")] {
        call(
            &api,
            "POST",
            svcs,
            None,
            json!({"metadata":{"name":name,"labels":{"app":app}},"spec":{"ports":[{"port":80}]}}),
        );
    }
    call(
        &api,
        "PATCH",
        &format!("{svcs}/two"),
        Some("application/merge-patch+json"),
        json!({"metadata":{"labels":{"app":"a"}}}),
    );
    call(&api, "DELETE", &format!("{svcs}/one"), None, Value::Null);

    // Resume after `rv` with a selector: `two` enters the selector as ADDED.
    let (code, raw) = http(
        "GET",
        &api.url,
        &format!(
            "{svcs}?watch=true&resourceVersion={rv}&labelSelector=app%3Da&timeoutSeconds=2&allowWatchBookmarks=true"
        ),
        None,
        "",
    );
    assert_eq!(code, 200);
    let evs = events(&raw);
    let seen: Vec<(String, String)> = evs
        .iter()
        .filter(|e| e["type"] != "BOOKMARK")
        .map(|e| (e["type"].as_str().unwrap().into(), e["object"]["metadata"]["name"].as_str().unwrap().into()))
        .collect();
    let want: Vec<(String, String)> = [("ADDED", "one"), ("ADDED", "two"), ("DELETED", "one")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, want);
    let bookmark = evs.iter().find(|e| e["type"] == "BOOKMARK").expect("a periodic bookmark within 2s");
    assert_eq!(
        (bookmark["object"]["kind"].as_str(), bookmark["object"]["apiVersion"].as_str()),
        (Some("Service"), Some("v1"))
    );
    let deleted = evs.iter().find(|e| e["type"] == "DELETED").unwrap();
    assert!(
        deleted["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse::<i64>().unwrap()
            > rv.parse::<i64>().unwrap()
    );

    // sendInitialEvents: the current objects, then the initial-events-end bookmark.
    let (_, raw) = http("GET", &api.url, &format!("{svcs}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"), None, "");
    let evs = events(&raw);
    let names: Vec<&str> = evs
        .iter()
        .take_while(|e| e["type"] == "ADDED")
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kubernetes", "two"]);
    assert_eq!(evs[2]["type"], "BOOKMARK");
    assert_eq!(evs[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");

    // A field-selected watch of one name, as a Table (kubectl get -w NAME).
    let path = format!("{svcs}?watch=1&fieldSelector=metadata.name%3Dtwo&timeoutSeconds=1");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: application/json;as=Table;v=v1;g=meta.k8s.io\r\nConnection: close\r\n\r\n");
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(api.url.trim_start_matches("http://")).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.contains("Content-Type: application/json;as=Table;v=v1;g=meta.k8s.io")
            || out.contains("content-type: application/json;as=Table;v=v1;g=meta.k8s.io"),
        "{out}"
    );
    let evs = events(&out);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["object"]["kind"], "Table");
    assert_eq!(evs[0]["object"]["rows"][0]["cells"][0], "two");
    assert_eq!(evs[0]["object"]["columnDefinitions"][0]["name"], "Name");
}

#[test]
fn discovery_metrics_and_the_kubernetes_service() {
    let (_etcd, api) = start(&[]);
    let (code, version) = call(&api, "GET", "/version", None, Value::Null);
    assert_eq!((code, version["major"].as_str(), version["minor"].as_str()), (200, Some("1"), Some("32")));
    let (_, groups) = call(&api, "GET", "/apis", None, Value::Null);
    let names: Vec<&str> = groups["groups"].as_array().unwrap().iter().filter_map(|g| g["name"].as_str()).collect();
    for group in
        ["apps", "discovery.k8s.io", "coordination.k8s.io", "batch", "networking.k8s.io", "rbac.authorization.k8s.io"]
    {
        assert!(names.contains(&group), "{group} not in {names:?}");
    }

    let req = "GET /apis HTTP/1.1\r\nHost: x\r\nAccept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json\r\nConnection: close\r\n\r\n";
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(api.url.trim_start_matches("http://")).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.to_ascii_lowercase()
            .contains("content-type: application/json;g=apidiscovery.k8s.io;v=v2;as=apigroupdiscoverylist"),
        "{out}"
    );

    let (_, ep) = call(&api, "GET", "/api/v1/namespaces/default/endpoints/kubernetes", None, Value::Null);
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], api.port);
    let (_, slice) =
        call(&api, "GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes", None, Value::Null);
    assert_eq!(slice["endpoints"][0]["addresses"][0], "127.0.0.1");

    let (_, metrics) = http("GET", &api.url, "/metrics", None, "");
    assert!(metrics.contains(r#"apiserver_request_total{code="200",resource="endpoints",verb="GET"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"apiserver_request_duration_seconds_count{resource="endpointslices",verb="GET"} 1"#));
}

#[test]
fn kubernetes_endpoints_follow_the_live_apiservers() {
    let etcd = Etcd::start();
    let bin = Path::new(env!("CARGO_BIN_EXE_apiserver"));
    let a = Apiserver::start(bin, &etcd, &["--endpoint-reconciler-interval", "1"]);
    let mut b =
        Apiserver::start(bin, &etcd, &["--endpoint-reconciler-interval", "1", "--advertise-address", "127.0.0.2"]);
    // (Endpoints IPs, EndpointSlice IPs): written one after the other, so
    // they may differ for a moment; both must reach what is expected.
    let addresses = || {
        let (_, ep) = call(&a, "GET", "/api/v1/namespaces/default/endpoints/kubernetes", None, Value::Null);
        let (_, slice) = call(
            &a,
            "GET",
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes",
            None,
            Value::Null,
        );
        let from_ep: Vec<String> = ep["subsets"][0]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["ip"].as_str().unwrap().to_string())
            .collect();
        let from_slice: Vec<String> = slice["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["addresses"][0].as_str().unwrap().to_string())
            .collect();
        (from_ep, from_slice)
    };
    let wait_for = |want: &[&str]| {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        e2e::eventually("the kubernetes endpoints", addresses, |(ep, slice)| *ep == want && *slice == want);
    };
    wait_for(&["127.0.0.1", "127.0.0.2"]);
    // Killed without a goodbye: its lease expires and it leaves the endpoints.
    b.stop();
    wait_for(&["127.0.0.1"]);
}

#[test]
fn the_scheduler_binds_a_pod_once() {
    let (_etcd, api) = start(&[]);
    call(&api, "POST", PODS, None, json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x"}]}}));
    let binding = json!({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"apiVersion":"v1","kind":"Node","name":"node1"}});
    let (code, status) = call(&api, "POST", &format!("{PODS}/p/binding"), None, binding.clone());
    assert_eq!((code, status["status"].as_str()), (201, Some("Success")), "{status}");
    let (_, pod) = call(&api, "GET", &format!("{PODS}/p"), None, Value::Null);
    assert_eq!(pod["spec"]["nodeName"], "node1");
    assert!(pod["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["status"] == "True"));
    let (code, again) = call(&api, "POST", &format!("{PODS}/p/binding"), None, binding);
    assert_eq!(code, 409);
    assert_eq!(
        again["message"],
        r#"Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "node1""#
    );
    // An update cannot move a pod to another node.
    let mut moved = pod.clone();
    moved["spec"]["nodeName"] = json!("node2");
    let (_, after) = call(&api, "PUT", &format!("{PODS}/p"), None, moved);
    assert_eq!(after["spec"]["nodeName"], "node1");
}
