//! DaemonSets on the real apiserver and etcd, driven with kubectl 1.32: one
//! pod per eligible node, bound by the controller; a node with an untolerated
//! NoSchedule taint gets none; pods follow nodes as they join and leave;
//! `kubectl get ds` columns; a rolling update `kubectl rollout status`
//! follows; garbage collection. A stand-in kubelet (a task of this test)
//! reports bound pods Running and Ready.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::{register_node, Cluster};
use e2e::{eventually_async, kubectl_ok, table_rows, Kubeconfig, ScratchDir};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

const DS: &str = r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: agent
        image: busybox:1.36
"#;

/// (node, image) of each live pod, by node.
async fn placed(pods: &Api<Pod>) -> Vec<(String, String)> {
    let list = pods.list(&ListParams::default().labels("app=agent")).await.unwrap().items;
    let mut v: Vec<_> = list
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let spec = p.spec.unwrap();
            (spec.node_name.unwrap_or_default(), spec.containers[0].image.clone().unwrap_or_default())
        })
        .collect();
    v.sort();
    v
}

fn nodes_of(v: &[(String, String)]) -> Vec<&str> {
    v.iter().map(|p| p.0.as_str()).collect()
}

/// DESIRED CURRENT READY UP-TO-DATE AVAILABLE of `kubectl get ds agent`.
fn get_ds(kc: &Kubeconfig) -> Vec<String> {
    table_rows(&kubectl_ok(kc, &["get", "ds", "agent"])).get(1).map(|r| r[1..6].to_vec()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_set_runs_one_pod_per_eligible_node() {
    let cluster = Cluster::start().await;
    let (kc, client) = (&cluster.kc, cluster.client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let nodes: Api<Node> = Api::all(client.clone());
    let dir = ScratchDir::new("ds");
    let manifest = dir.0.join("ds.yaml");
    std::fs::write(&manifest, DS).unwrap();

    assert_eq!(kubectl_ok(kc, &["apply", "-f", manifest.to_str().unwrap()]), "daemonset.apps/agent created\n");
    eventually_async("2 2 2 2 2", async || get_ds(kc), |r| *r == ["2", "2", "2", "2", "2"]).await;
    assert_eq!(nodes_of(&placed(&pods).await), ["k8s-node01", "k8s-node02"]);

    // A tainted node gets no daemon; a plain one does.
    let tainted: Node = serde_json::from_value(json!({"metadata":{"name":"k8s-db01"},
        "spec":{"taints":[{"key":"dedicated","value":"db","effect":"NoSchedule"}]}}))
    .unwrap();
    nodes.create(&PostParams::default(), &tainted).await.unwrap();
    register_node(&nodes, "k8s-node03", "192.168.66.22").await;
    eventually_async("3 nodes", async || placed(&pods).await, |p| p.len() == 3).await;
    assert_eq!(nodes_of(&placed(&pods).await), ["k8s-node01", "k8s-node02", "k8s-node03"]);
    eventually_async("desired 3", async || get_ds(kc), |r| *r == ["3", "3", "3", "3", "3"]).await;

    // A node leaves: so does its pod.
    nodes.delete("k8s-node03", &DeleteParams::default()).await.unwrap();
    eventually_async("back to 2", async || placed(&pods).await, |p| nodes_of(p) == ["k8s-node01", "k8s-node02"]).await;
    eventually_async("desired 2", async || get_ds(kc), |r| r[0] == "2").await;

    // A rolling update, followed by kubectl.
    kubectl_ok(kc, &["set", "image", "daemonset/agent", "agent=busybox:1.37"]);
    let out = kubectl_ok(kc, &["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    assert!(out.ends_with("daemon set \"agent\" successfully rolled out\n"), "{out}");
    let now = placed(&pods).await;
    assert_eq!(
        now,
        [("k8s-node01".to_string(), "busybox:1.37".to_string()), ("k8s-node02".into(), "busybox:1.37".into())]
    );

    kubectl_ok(kc, &["delete", "daemonset", "agent"]);
    eventually_async("collected", async || placed(&pods).await, Vec::is_empty).await;
}
