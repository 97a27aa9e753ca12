//! Second versions over the same stored objects (`api::conversion`):
//! events.k8s.io/v1 Events over core/v1's and autoscaling/v1 HPAs over
//! v2's, with the installed kubectl 1.32, plain HTTP and the Python client,
//! against a real etcd.

use e2e::{http, kubectl_ok, table_rows, Apiserver, Etcd, Kubeconfig};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn start() -> (Etcd, Apiserver, Kubeconfig) {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    (etcd, api, kc)
}

fn get(api: &Apiserver, path: &str) -> Value {
    let (code, body) = http("GET", &api.url, path, None, "");
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn core_events_are_served_as_events_k8s_io_and_back() {
    let (_etcd, api, kc) = start();
    let core = json!({"apiVersion":"v1","kind":"Event","metadata":{"name":"web.1"},
        "involvedObject":{"kind":"Pod","name":"web-0","namespace":"default"},"reason":"Pulled","message":"image pulled",
        "source":{"component":"kubelet","host":"node1"},"count":3,"type":"Normal",
        "firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:05:00Z"});
    let (code, body) =
        http("POST", &api.url, "/api/v1/namespaces/default/events", Some("application/json"), &core.to_string());
    assert_eq!(code, 201, "{body}");
    let v1 = get(&api, "/apis/events.k8s.io/v1/namespaces/default/events/web.1");
    assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
    assert_eq!(v1["regarding"]["name"], "web-0");
    assert_eq!(v1["note"], "image pulled");
    assert_eq!(v1["deprecatedSource"], json!({"component":"kubelet","host":"node1"}));
    assert_eq!(v1["deprecatedCount"], 3);
    assert_eq!(v1["deprecatedLastTimestamp"], "2026-01-01T00:05:00Z");
    assert!(v1.get("message").is_none() && v1.get("involvedObject").is_none(), "{v1}");

    // Written as events.k8s.io, read as core: one object, two views.
    let new = json!({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"web.2"},
        "eventTime":"2026-01-01T00:06:00.000000Z","reportingController":"example.com/scaler","reportingInstance":"s-1",
        "action":"Scale","reason":"Scaled","note":"scaled to 3","type":"Normal",
        "regarding":{"kind":"Deployment","name":"web","namespace":"default"},"series":{"count":2,"lastObservedTime":"2026-01-01T00:07:00.000000Z"}});
    let (code, body) = http(
        "POST",
        &api.url,
        "/apis/events.k8s.io/v1/namespaces/default/events",
        Some("application/json"),
        &new.to_string(),
    );
    assert_eq!(code, 201, "{body}");
    let made: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((made["apiVersion"].as_str(), made["note"].as_str()), (Some("events.k8s.io/v1"), Some("scaled to 3")));
    let old = get(&api, "/api/v1/namespaces/default/events/web.2");
    assert_eq!(old["message"], "scaled to 3");
    assert_eq!(old["involvedObject"]["kind"], "Deployment");
    assert_eq!(old["reportingComponent"], "example.com/scaler");
    assert_eq!(old["series"]["count"], 2);

    // A new Event is held to upstream's strict rules; a core/v1 one is not.
    let (code, body) = http(
        "POST",
        &api.url,
        "/apis/events.k8s.io/v1/namespaces/default/events",
        Some("application/json"),
        r#"{"metadata":{"name":"bad"},"reason":"Scaled","type":"Normal","deprecatedCount":2}"#,
    );
    assert_eq!(code, 422, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["message"],
        r#"Event.events.k8s.io "bad" is invalid: [eventTime: Required value, reportingController: Required value, reportingInstance: Required value, action: Required value, deprecatedCount: Invalid value: "": needs to be unset]"#
    );

    // A merge patch speaks the view's field names.
    let (code, body) = http(
        "PATCH",
        &api.url,
        "/apis/events.k8s.io/v1/namespaces/default/events/web.2",
        Some("application/merge-patch+json"),
        r#"{"note":"scaled to 4"}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(get(&api, "/api/v1/namespaces/default/events/web.2")["message"], "scaled to 4");

    let list = get(&api, "/apis/events.k8s.io/v1/namespaces/default/events");
    assert_eq!(list["kind"], "EventList");
    assert_eq!(list["apiVersion"], "events.k8s.io/v1");
    let notes: Vec<&str> = list["items"].as_array().unwrap().iter().map(|e| e["note"].as_str().unwrap()).collect();
    assert_eq!(notes, ["image pulled", "scaled to 4"]);

    // A watch's events are converted too.
    let (code, body) =
        http("GET", &api.url, "/apis/events.k8s.io/v1/namespaces/default/events?watch=1&timeoutSeconds=1", None, "");
    assert_eq!(code, 200);
    assert!(body.contains(r#""note":"image pulled""#) && !body.contains(r#""message":"#), "{body}");

    // kubectl: the same printer (columns) for both versions, and upstream's not-found.
    let table = kubectl_ok(&kc, &["get", "events.events.k8s.io"]);
    assert!(table.starts_with("LAST SEEN"), "{table}");
    let header: Vec<&str> =
        table.lines().next().unwrap().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    let rows = table_rows(&table);
    assert!(rows.iter().any(|r| r.contains(&"deployment/web".to_string())), "{table}");
    let doc: Value =
        serde_json::from_str(&kubectl_ok(&kc, &["get", "events.v1.events.k8s.io", "web.1", "-o", "json"])).unwrap();
    assert_eq!(doc["note"], "image pulled");
    let (code, body) = http("GET", &api.url, "/apis/events.k8s.io/v1/namespaces/default/events/nope", None, "");
    assert_eq!(code, 404);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["message"], r#"events.events.k8s.io "nope" not found"#);
    assert_eq!(status["details"]["group"], "events.k8s.io");
    let (code, body) = http("DELETE", &api.url, "/apis/events.k8s.io/v1/namespaces/default/events/web.1", None, "");
    assert_eq!(code, 200, "{body}");
    let (code, _) = http("GET", &api.url, "/api/v1/namespaces/default/events/web.1", None, "");
    assert_eq!(code, 404);
}

#[test]
fn kubectl_autoscale_is_served_in_both_autoscaling_versions() {
    let (_etcd, api, kc) = start();
    kubectl_ok(&kc, &["create", "deployment", "web", "--image=nginx:1.27"]);
    let out = kubectl_ok(&kc, &["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=80"]);
    assert!(out.contains("horizontalpodautoscaler.autoscaling/web autoscaled"), "{out}");
    let table = kubectl_ok(&kc, &["get", "hpa"]);
    let header: Vec<&str> =
        table.lines().next().unwrap().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]);
    let rows = table_rows(&table);
    assert_eq!(rows[1][..6], ["web", "Deployment/web", "cpu:", "<unknown>/80%", "2", "5"], "{table}");

    let v1 = get(&api, "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web");
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 80);
    assert_eq!((v1["spec"]["minReplicas"].as_i64(), v1["spec"]["maxReplicas"].as_i64()), (Some(2), Some(5)));
    assert!(v1["spec"].get("metrics").is_none(), "{v1}");
    let one = kubectl_ok(
        &kc,
        &[
            "get",
            "horizontalpodautoscalers.v1.autoscaling",
            "web",
            "-o",
            "jsonpath={.spec.targetCPUUtilizationPercentage}",
        ],
    );
    assert_eq!(one, "80");

    // A v1 write lands in the v2 object; a v1 object without a target gets v2's default.
    let mut edited = v1.clone();
    edited["spec"]["targetCPUUtilizationPercentage"] = json!(60);
    let (code, body) = http(
        "PUT",
        &api.url,
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web",
        Some("application/json"),
        &edited.to_string(),
    );
    assert_eq!(code, 200, "{body}");
    let v2 = get(&api, "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web");
    assert_eq!(
        v2["spec"]["metrics"],
        json!([{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":60}}}])
    );
    let bare = json!({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"bare"},
        "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"maxReplicas":3}});
    let (code, body) = http(
        "POST",
        &api.url,
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers",
        Some("application/json"),
        &bare.to_string(),
    );
    assert_eq!(code, 201, "{body}");
    let bare2 = get(&api, "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/bare");
    assert_eq!(bare2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
    assert_eq!(bare2["spec"]["minReplicas"], 1);

    // Refusals are upstream's, named by the version asked for.
    let invalid = json!({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"bad"},
        "spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":0}});
    let (code, body) = http(
        "POST",
        &api.url,
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers",
        Some("application/json"),
        &invalid.to_string(),
    );
    assert_eq!(code, 422, "{body}");
    assert!(body.contains(r#"HorizontalPodAutoscaler.autoscaling \"bad\" is invalid"#), "{body}");

    // Discovery: one group, v2 preferred, v1 beside it.
    let group = get(&api, "/apis/autoscaling");
    assert_eq!(group["preferredVersion"]["groupVersion"], "autoscaling/v2");
    let versions: Vec<&str> =
        group["versions"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["v2", "v1"]);
    let names = kubectl_ok(&kc, &["api-resources", "--api-group=events.k8s.io", "-o", "name"]);
    assert_eq!(names.trim(), "events.events.k8s.io");
    let gvs = kubectl_ok(&kc, &["api-versions"]);
    assert!(gvs.lines().any(|l| l == "autoscaling/v1") && gvs.lines().any(|l| l == "events.k8s.io/v1"), "{gvs}");
}

#[test]
fn python_client_speaks_events_v1_and_autoscaling_v1() {
    let (_etcd, api, _kc) = start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/second_versions.py");
    let out = Command::new("python3").arg(script).arg(&api.url).output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("python client: events.k8s.io/v1 and autoscaling/v1 ok"), "{stdout}");
}
