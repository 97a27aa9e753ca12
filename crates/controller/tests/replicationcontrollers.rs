//! A ReplicationController on the real apiserver and etcd, driven with
//! kubectl 1.32: its pods (`<rc>-xxxxx`, controlled by it), `kubectl get rc`
//! columns from the status the controller writes, `kubectl scale rc` through
//! the `scale` subresource, and its pods collected when it is deleted. Two
//! registered Nodes and a stand-in kubelet (a task of this test that reports
//! bound pods Running and Ready) play the nodes.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use e2e::{eventually_async, kubectl_ok, table_rows, Kubeconfig, ScratchDir};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, ListParams};

const RC: &str = r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: legacy
spec:
  replicas: 3
  selector:
    app: legacy
  template:
    metadata:
      labels:
        app: legacy
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
"#;

/// The names of the RC's live pods.
async fn live_pods(pods: &Api<Pod>) -> Vec<String> {
    let list = pods.list(&ListParams::default().labels("app=legacy")).await.unwrap().items;
    list.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).filter_map(|p| p.metadata.name).collect()
}

/// NAME DESIRED CURRENT READY of `kubectl get rc`.
fn get_rc(kc: &Kubeconfig) -> Vec<String> {
    table_rows(&kubectl_ok(kc, &["get", "rc", "legacy"])).get(1).map(|r| r[..4].to_vec()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replication_controller_keeps_its_replicas_and_scales_with_kubectl() {
    let cluster = Cluster::start().await;
    let (kc, client) = (&cluster.kc, cluster.client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let rcs: Api<ReplicationController> = Api::default_namespaced(client.clone());
    let dir = ScratchDir::new("rc");
    let manifest = dir.0.join("rc.yaml");
    std::fs::write(&manifest, RC).unwrap();

    assert_eq!(kubectl_ok(kc, &["apply", "-f", manifest.to_str().unwrap()]), "replicationcontroller/legacy created\n");
    eventually_async("3/3 ready", async || get_rc(kc), |r| r[1..] == ["3", "3", "3"]).await;
    let rc = rcs.get("legacy").await.unwrap();
    let status = rc.status.clone().unwrap();
    assert_eq!(
        (status.replicas, status.ready_replicas, status.available_replicas, status.fully_labeled_replicas),
        (3, Some(3), Some(3), Some(3))
    );
    assert_eq!(status.observed_generation, rc.metadata.generation);
    for p in pods.list(&ListParams::default().labels("app=legacy")).await.unwrap().items {
        let name = p.metadata.name.clone().unwrap();
        assert!(name.starts_with("legacy-") && name.len() == "legacy-".len() + 5, "{name}");
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("v1", "ReplicationController", rc.metadata.uid.as_deref().unwrap(), Some(true))
        );
    }

    // A pod deleted by hand is replaced.
    let first = live_pods(&pods).await[0].clone();
    kubectl_ok(kc, &["delete", "pod", &first, "--wait=false"]);
    eventually_async("replaced", async || live_pods(&pods).await, |p| p.len() == 3 && !p.contains(&first)).await;

    assert_eq!(kubectl_ok(kc, &["scale", "rc", "legacy", "--replicas=1"]), "replicationcontroller/legacy scaled\n");
    eventually_async("1 pod", async || live_pods(&pods).await, |p| p.len() == 1).await;
    eventually_async("1/1", async || get_rc(kc), |r| r[1..] == ["1", "1", "1"]).await;
    kubectl_ok(kc, &["scale", "rc", "legacy", "--replicas=2"]);
    eventually_async("2/2", async || get_rc(kc), |r| r[1..] == ["2", "2", "2"]).await;

    // The RC's pods go with it (background propagation, by the garbage collector).
    kubectl_ok(kc, &["delete", "rc", "legacy"]);
    eventually_async("pods collected", async || live_pods(&pods).await, Vec::is_empty).await;
}
