//! What the workload tests share: a control plane with two registered
//! Nodes and a stand-in kubelet.

use e2e::{spawn, workspace_binary, Apiserver, Etcd, Kubeconfig, Proc};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// Real etcd and apiserver, the controller binary (default controllers),
/// nodes `k8s-node01` and `k8s-node02`, and [`fake_kubelet`] for the
/// `default` namespace. Dropped in field order: the kubelet first, etcd last.
pub struct Cluster {
    kubelet: tokio::task::JoinHandle<()>,
    _controller: Proc,
    _api: Apiserver,
    _etcd: Etcd,
    pub kc: Kubeconfig,
    pub client: kube::Client,
}

impl Cluster {
    pub async fn start() -> Self {
        let etcd = Etcd::start();
        let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
        let kc = Kubeconfig::new(&api.url);
        let controller = spawn(std::path::Path::new(env!("CARGO_BIN_EXE_controller")), &["--server", &api.url]);
        let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
        register_node(&Api::all(client.clone()), "k8s-node01", "192.168.66.20").await;
        register_node(&Api::all(client.clone()), "k8s-node02", "192.168.66.21").await;
        let kubelet = tokio::spawn(fake_kubelet(Api::default_namespaced(client.clone())));
        Self { kubelet, _controller: controller, _api: api, _etcd: etcd, kc, client }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kubelet.abort();
    }
}

pub async fn register_node(nodes: &Api<Node>, name: &str, ip: &str) {
    let node: Node =
        serde_json::from_value(json!({"metadata":{"name":name,"labels":{"kubernetes.io/hostname":name}}})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let mut node = nodes.get(name).await.unwrap();
    node.status = Some(
        serde_json::from_value(json!({
            "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}],
            "addresses":[{"type":"InternalIP","address":ip},{"type":"Hostname","address":name}],
            "nodeInfo":{"kubeletVersion":"v1.32.0-lite","osImage":"test","kernelVersion":"test","containerRuntimeVersion":"lite://0",
                        "architecture":"amd64","bootID":"","machineID":"","operatingSystem":"linux","systemUUID":"","kubeProxyVersion":""}
        }))
        .unwrap(),
    );
    nodes.replace_status(name, &PostParams::default(), &node).await.unwrap();
}

/// Plays the kubelet: bound pods get an IP from their node's range and turn
/// Running and Ready; terminating ones are stopped (deleted with grace 0).
pub async fn fake_kubelet(pods: Api<Pod>) {
    let mut next_ip: BTreeMap<String, u8> = BTreeMap::new();
    loop {
        for pod in pods.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default() {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else { continue };
            if pod.metadata.deletion_timestamp.is_some() {
                let _ = pods.delete(&name, &DeleteParams::default().grace_period(0)).await;
                continue;
            }
            if pod.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some() {
                continue;
            }
            let n = next_ip.entry(node.clone()).or_insert(30);
            *n += 1;
            let ip = format!("10.244.{}.{n}", if node == "k8s-node01" { 1 } else { 2 });
            let mut running = pod.clone();
            running.status = Some(
                serde_json::from_value(json!({
                    "phase":"Running","podIP":ip,"podIPs":[{"ip":ip}],"hostIP":"192.168.66.20",
                    "conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}],
                    "containerStatuses":[{"name":"myapp","ready":true,"restartCount":0,"image":"myapp","imageID":"","started":true}]
                }))
                .unwrap(),
            );
            let _ = pods.replace_status(&name, &PostParams::default(), &running).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
