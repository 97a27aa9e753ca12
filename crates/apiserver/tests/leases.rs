//! `coordination.k8s.io/v1` Leases with the installed kubectl (1.32) against
//! the apiserver and a real etcd: what a kubelet's heartbeat and a leader
//! elector write, as a user inspects it.

use e2e::{eventually, http, kubectl, kubectl_ok, table_rows, Apiserver, Etcd, Kubeconfig, ScratchDir};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const LEASE: &str = "\
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: node1
  namespace: kube-node-lease
spec:
  holderIdentity: node1
  leaseDurationSeconds: 40
  renewTime: \"2026-12-01T10:00:00.000000Z\"
";

fn start() -> (Etcd, Apiserver, Kubeconfig) {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    (etcd, api, kc)
}

/// `kubectl ... -w` with its output lines on a channel.
fn watch(kc: &Kubeconfig, args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let cache = kc.path.with_file_name("cache");
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", &kc.path)
        .args(["--cache-dir", cache.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

#[test]
fn create_get_watch_patch_delete_a_node_lease() {
    let (_etcd, _api, kc) = start();
    // The bootstrap keeps the heartbeat namespace.
    let ns = eventually(
        "kube-node-lease exists",
        || kubectl(&kc, &["get", "ns", "kube-node-lease", "-o", "jsonpath={.status.phase}"]),
        |o| o.status.success(),
    );
    assert_eq!(String::from_utf8_lossy(&ns.stdout), "Active");

    let dir = ScratchDir::new("lease");
    let file = dir.0.join("lease.yaml");
    std::fs::write(&file, LEASE).unwrap();
    assert_eq!(
        kubectl_ok(&kc, &["create", "-f", file.to_str().unwrap()]).trim(),
        "lease.coordination.k8s.io/node1 created"
    );

    let rows = table_rows(&kubectl_ok(&kc, &["-n", "kube-node-lease", "get", "leases"]));
    assert_eq!(rows[0], ["NAME", "HOLDER", "AGE"]);
    assert_eq!(rows[1][..2], ["node1", "node1"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    // Discovery: the kind is found by its name and group.
    let by_group =
        table_rows(&kubectl_ok(&kc, &["-n", "kube-node-lease", "get", "lease.coordination.k8s.io", "node1"]));
    assert_eq!(by_group[1][..2], ["node1", "node1"]);
    let resources = kubectl_ok(&kc, &["api-resources", "--api-group=coordination.k8s.io", "--no-headers"]);
    let cells: Vec<&str> = resources.split_whitespace().collect();
    assert_eq!(cells, ["leases", "coordination.k8s.io/v1", "true", "Lease"]);

    let (mut child, rx) = watch(&kc, &["-n", "kube-node-lease", "get", "leases", "-w"]);
    assert!(rx.recv_timeout(Duration::from_secs(20)).expect("watch header").starts_with("NAME"));
    assert!(rx.recv_timeout(Duration::from_secs(20)).expect("the lease").starts_with("node1"));

    // A renewal, as the kubelet's: a merge patch of renewTime, kept to the microsecond.
    let renew = r#"{"spec":{"renewTime":"2026-12-01T10:00:10.123456Z","holderIdentity":"node1-renewed"}}"#;
    kubectl_ok(&kc, &["-n", "kube-node-lease", "patch", "lease", "node1", "--type=merge", "-p", renew]);
    let line = rx.recv_timeout(Duration::from_secs(20)).expect("the watch shows the renewal");
    assert_eq!(line.split_whitespace().take(2).collect::<Vec<_>>(), ["node1", "node1-renewed"]);
    let _ = child.kill();
    let _ = child.wait();
    let spec = |path: &str| {
        kubectl_ok(
            &kc,
            &["-n", "kube-node-lease", "get", "lease", "node1", "-o", &format!("jsonpath={{.spec.{path}}}")],
        )
    };
    assert_eq!(spec("renewTime"), "2026-12-01T10:00:10.123456Z");
    assert_eq!(spec("leaseDurationSeconds"), "40");

    assert_eq!(
        kubectl_ok(&kc, &["-n", "kube-node-lease", "delete", "lease", "node1"]).trim(),
        "lease.coordination.k8s.io \"node1\" deleted"
    );
    let out = kubectl(&kc, &["-n", "kube-node-lease", "get", "lease", "node1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("leases.coordination.k8s.io \"node1\" not found"), "{stderr}");

    // And the declarative way.
    let file = file.to_str().unwrap();
    assert_eq!(kubectl_ok(&kc, &["apply", "-f", file]).trim(), "lease.coordination.k8s.io/node1 created");
    assert_eq!(kubectl_ok(&kc, &["apply", "-f", file]).trim(), "lease.coordination.k8s.io/node1 unchanged");
    std::fs::write(dir.0.join("lease.yaml"), LEASE.replace("leaseDurationSeconds: 40", "leaseDurationSeconds: 30"))
        .unwrap();
    assert_eq!(kubectl_ok(&kc, &["apply", "-f", file]).trim(), "lease.coordination.k8s.io/node1 configured");
    assert_eq!(spec("leaseDurationSeconds"), "30");
}

#[test]
fn leases_are_typed_and_put_creates_them() {
    let (_etcd, api, _kc) = start();
    let path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
    // A wrong type is refused, as upstream's decoding does.
    let bad = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"ctrl"},"spec":{"leaseDurationSeconds":"forty"}}"#;
    let (code, body) = http("POST", &api.url, path, Some("application/json"), bad);
    assert_eq!(code, 400, "{body}");
    // A leader elector's first write: PUT creates (upstream's Lease storage allows it).
    let lease = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"ctrl"},"spec":{"holderIdentity":"a_1","leaseDurationSeconds":15,"leaseTransitions":0,"acquireTime":"2026-12-01T10:00:00Z"}}"#;
    let (code, body) = http("PUT", &api.url, &format!("{path}/ctrl"), Some("application/json"), lease);
    assert_eq!(code, 201, "{body}");
    let stored: serde_json::Value = serde_json::from_str(&body).unwrap();
    // MicroTime is written with six fractional digits.
    assert_eq!(stored["spec"]["acquireTime"], "2026-12-01T10:00:00.000000Z");
    assert_eq!(stored["spec"]["holderIdentity"], "a_1");
    // A renewal is checked as a create is, and the message is upstream's.
    let zero = lease.replace(r#""leaseDurationSeconds":15"#, r#""leaseDurationSeconds":0"#);
    let (code, body) = http("PUT", &api.url, &format!("{path}/ctrl"), Some("application/json"), &zero);
    assert_eq!(code, 422, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["message"],
        r#"Lease.coordination.k8s.io "ctrl" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"#
    );
    assert_eq!(status["details"]["group"], "coordination.k8s.io");
    // The alpha Coordinated Leader Election fields are dropped, as with default feature gates.
    let alpha = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"cle"},"spec":{"holderIdentity":"b","strategy":"OldestEmulationVersion","preferredHolder":"c"}}"#;
    let (code, body) = http("POST", &api.url, path, Some("application/json"), alpha);
    assert_eq!(code, 201, "{body}");
    let stored: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stored["spec"], serde_json::json!({"holderIdentity": "b"}));
}
