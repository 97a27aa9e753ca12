//! The node's heartbeat Lease, for real: kubelet-lite in a node's network
//! namespace against the apiserver and etcd on the host, read with kubectl
//! as a user would (`get lease`, `describe node`).

use e2e::netns::NodeNet;
use e2e::{eventually, kubectl, kubectl_ok, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn lease(kc: &Kubeconfig) -> Option<Value> {
    let out = kubectl(kc, &["-n", "kube-node-lease", "get", "lease", "node1", "-o", "json"]);
    out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
}

fn renew_time(lease: &Value) -> jiff::Timestamp {
    let t = lease["spec"]["renewTime"].as_str().unwrap();
    // MicroTime: six fractional digits, UTC.
    assert!(t.len() == 27 && t.as_bytes()[19] == b'.' && t.ends_with('Z'), "{t}");
    t.parse().unwrap()
}

#[test]
fn the_node_lease_is_created_renewed_and_recreated() {
    let tag = format!("nl{}", std::process::id() % 10000);
    let net = NodeNet::new(&tag, (std::process::id() % 200) as u8 + 20, 0);
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &["--bind-address", &net.host_ip]);
    let kc = Kubeconfig::new(&api.url);
    let args = net.kubelet_args(&api.url);
    let kubelet = Path::new(env!("CARGO_BIN_EXE_kubelet-lite"));
    let _kubelet = net.spawn(kubelet, &args);

    let first = eventually("the node Lease exists", || lease(&kc), Option::is_some).unwrap();
    let created = Instant::now();
    let node: Value = serde_json::from_str(&kubectl_ok(&kc, &["get", "node", "node1", "-o", "json"])).unwrap();
    assert_eq!(first["spec"]["holderIdentity"], "node1");
    assert_eq!(first["spec"]["leaseDurationSeconds"], 40);
    assert!(first["spec"].get("acquireTime").is_none() && first["spec"].get("leaseTransitions").is_none());
    assert_eq!(
        first["metadata"]["ownerReferences"],
        serde_json::json!([{"apiVersion": "v1", "kind": "Node", "name": "node1", "uid": node["metadata"]["uid"]}])
    );
    let rows = table_rows(&kubectl_ok(&kc, &["-n", "kube-node-lease", "get", "lease"]));
    assert_eq!(rows[1][..2], ["node1", "node1"]);

    // Renewed every 10 s (the agent checks twice a second).
    let t1 = renew_time(&first);
    let second = eventually(
        "the Lease renewed",
        || {
            std::thread::sleep(Duration::from_millis(400));
            lease(&kc)
        },
        |l| l.as_ref().is_some_and(|l| renew_time(l) != t1),
    )
    .unwrap();
    let gap = renew_time(&second).duration_since(t1).as_secs_f64();
    assert!((9.5..=13.0).contains(&gap), "renewed {gap:.1} s after the last renewal");
    assert!(created.elapsed() >= Duration::from_secs(8), "renewed too soon: {:?}", created.elapsed());

    // kubectl describe node shows it.
    let describe = kubectl_ok(&kc, &["describe", "node", "node1"]);
    let block = describe.split("Lease:\n").nth(1).unwrap_or_default().lines().take(3).collect::<Vec<_>>();
    assert_eq!(block[..2], ["  HolderIdentity:  node1", "  AcquireTime:     <unset>"], "{describe}");
    assert!(block[2].starts_with("  RenewTime:       ") && block[2].ends_with(" +0000"), "{describe}");

    // Deleted, it comes back at the next renewal.
    kubectl_ok(&kc, &["-n", "kube-node-lease", "delete", "lease", "node1"]);
    let back = eventually("the Lease recreated", || lease(&kc), Option::is_some).unwrap();
    assert_ne!(back["metadata"]["uid"], second["metadata"]["uid"]);
    assert_eq!(back["spec"]["holderIdentity"], "node1");
}
