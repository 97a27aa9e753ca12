//! Acceptance 4 of issue #12: kopf, the operator framework from PyPI, runs
//! against the apiserver (`kopf run --standalone --all-namespaces`) and
//! reacts to Service events. The operator is `python/kopf_services.py`: on
//! create and on a change of `spec.ports` it writes a ConfigMap
//! `<service>-seen`, annotates the Service and posts an Event; on delete
//! (through kopf's finalizer on the Service) it writes the ConfigMap once
//! more. Any ERROR or traceback in kopf's log fails the test, and so does a
//! panic in the apiserver's (the harness watches its stderr).

use e2e::{eventually, http, Apiserver, Etcd, Kubeconfig, Proc, ScratchDir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FINALIZER: &str = "kopf.zalando.org/KopfFinalizerMarker";

fn get(api: &Apiserver, path: &str) -> (u16, Value) {
    let (status, body) = http("GET", &api.url, path, None, "");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn send(api: &Apiserver, method: &str, path: &str, content_type: &str, body: &str) -> Value {
    let (status, text) = http(method, &api.url, path, Some(content_type), body);
    assert!((200..300).contains(&status), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// `data` of ConfigMap `<service>-seen`, once it says `event`.
fn seen(api: &Apiserver, operator: &Operator, service: &str, event: &str) -> Value {
    let path = format!("/api/v1/namespaces/default/configmaps/{service}-seen");
    let (_, cm) = operator.eventually(
        &format!("{service}-seen says {event}"),
        || get(api, &path),
        |(s, cm)| *s == 200 && cm["data"]["event"] == event,
    );
    cm["data"].clone()
}

/// The messages of the Events about Service `name` with reason `reason`.
fn events(api: &Apiserver, name: &str, reason: &str) -> Vec<String> {
    let (_, list) = get(api, "/api/v1/namespaces/default/events");
    let items = list["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == "Service" && e["involvedObject"]["name"] == name)
        .filter(|e| e["reason"] == reason)
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect()
}

/// `kopf run` of the operator, its stdout and stderr in a log file; killed on drop.
struct Operator {
    _proc: Proc,
    log: PathBuf,
    _dir: ScratchDir,
}

impl Operator {
    fn start(kubeconfig: &Kubeconfig) -> Self {
        let dir = ScratchDir::new("kopf");
        let log = dir.0.join("kopf.log");
        let file = std::fs::File::create(&log).expect("kopf log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kopf_services.py");
        let child = Command::new("python3")
            .args(["-m", "kopf", "run", "--standalone", "--all-namespaces", "--verbose"])
            .arg(&script)
            .env("KUBECONFIG", &kubeconfig.path)
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 -m kopf (scripts/install-deps installs kopf)");
        Self { _proc: Proc::unwatched(child), log, _dir: dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// [`eventually`], printing kopf's log if it fails.
    fn eventually<T: std::fmt::Debug>(&self, what: &str, probe: impl FnMut() -> T, check: impl Fn(&T) -> bool) -> T {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| eventually(what, probe, check)));
        result.unwrap_or_else(|e| {
            eprintln!("--- kopf's log ---\n{}", self.log());
            std::panic::resume_unwind(e)
        })
    }
}

#[test]
fn kopf_operator_reacts_to_service_events() {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let kubeconfig = Kubeconfig::new(&api.url);
    let operator = Operator::start(&kubeconfig);

    // A Service that was there before the operator: kopf lists, then watches.
    let data = seen(&api, &operator, "kubernetes", "created");
    assert_eq!(data["ports"], "443", "{data}");

    // Create: the handler's ConfigMap, annotation and Event, and kopf's
    // finalizer (it has a delete handler) and its diff base.
    let svc = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},
        "spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080}]}}"#;
    send(&api, "POST", "/api/v1/namespaces/default/services", "application/json", svc);
    let data = seen(&api, &operator, "web", "created");
    assert_eq!(data["ports"], "80", "{data}");
    let path = "/api/v1/namespaces/default/services/web";
    let (_, live) = operator.eventually(
        "web annotated created",
        || get(&api, path),
        |(_, s)| s["metadata"]["annotations"]["operator.mink8s.io/seen"] == "created",
    );
    let meta = &live["metadata"];
    assert!(meta["finalizers"].as_array().is_some_and(|f| f.iter().any(|f| f == FINALIZER)), "{meta}");
    let diff_base = meta["annotations"]["kopf.zalando.org/last-handled-configuration"].as_str().unwrap_or_default();
    let diff_base: Value = serde_json::from_str(diff_base).unwrap_or_else(|e| panic!("{e}: {meta}"));
    assert_eq!(diff_base["spec"]["ports"][0]["port"], 80, "{diff_base}");
    let messages = operator.eventually(
        "an Event about web's creation",
        || events(&api, "web", "ServiceSeen"),
        |m| m.iter().any(|m| m == "created with ports 80"),
    );
    assert_eq!(messages.len(), 1, "{messages:?}");

    // A change kopf's update handler does not filter for: no reaction.
    // Then one it does: spec.ports, as a merge patch.
    send(&api, "PATCH", path, "application/merge-patch+json", r#"{"metadata":{"labels":{"tier":"front"}}}"#);
    send(&api, "PATCH", path, "application/merge-patch+json", r#"{"spec":{"ports":[{"port":8080}]}}"#);
    let data = seen(&api, &operator, "web", "updated");
    assert_eq!(data["ports"], "8080", "{data}");
    let messages = operator.eventually(
        "an Event about web's new ports",
        || events(&api, "web", "ServiceSeen"),
        |m| m.iter().any(|m| m == "ports 80 -> 8080"),
    );
    assert_eq!(messages.len(), 2, "one Event per reaction, none for the label change: {messages:?}");
    operator.eventually(
        "web annotated updated",
        || get(&api, path),
        |(_, s)| s["metadata"]["annotations"]["operator.mink8s.io/seen"] == "updated",
    );

    // Delete: the finalizer holds the Service until the delete handler ran
    // and kopf removed it; then the Service is gone.
    send(&api, "DELETE", path, "application/json", "");
    let data = seen(&api, &operator, "web", "deleted");
    assert_eq!(data["ports"], "8080", "{data}");
    operator.eventually("web gone once kopf let go", || get(&api, path).0, |s| *s == 404);

    // kopf's own record of its handlers: each succeeded, none failed
    // (the update handler is named after its field: `.../spec.ports`).
    let log = operator.log();
    for handler in ["service_created", "service_ports_changed/spec.ports", "service_deleted"] {
        assert!(log.contains(&format!("Handler '{handler}' succeeded")), "{handler}:\n{log}");
    }
    assert!(!log.contains("ERROR") && !log.contains("Traceback"), "kopf logged errors:\n{log}");

    // The calls made, from the apiserver's own count (printed for the
    // record): none refused but the operator's ConfigMap creates that it
    // turns into patches (409), none failed. (GETs aside: this test's
    // probes 404 until what they wait for exists.)
    let (_, metrics) = http("GET", &api.url, "/metrics", None, "");
    let calls: Vec<&str> = metrics.lines().filter(|l| l.starts_with("apiserver_request_total{")).collect();
    eprintln!("requests served:\n{}", calls.join("\n"));
    let expected = |l: &str| {
        l.contains("code=\"2")
            || l.contains(r#"verb="GET""#)
            || (l.contains("code=\"409\"") && l.contains("configmaps"))
    };
    let refused: Vec<&&str> = calls.iter().filter(|l| !expected(l)).collect();
    assert!(refused.is_empty(), "{refused:?}");
    for call in [
        r#"resource="events",verb="POST""#,
        r#"resource="services",verb="WATCH""#,
        r#"resource="services",verb="PATCH""#,
    ] {
        assert!(calls.iter().any(|l| l.contains(call)), "no {call}: {calls:?}");
    }
}
