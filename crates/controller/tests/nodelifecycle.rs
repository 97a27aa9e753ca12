//! The node lifecycle controller against the real apiserver and etcd: two
//! nodes whose heartbeats (Lease and status) the test writes, as
//! kubelet-lite does; one goes silent, turns Ready Unknown after the grace
//! period, is tainted, and its pod leaves the Service's endpoints; it
//! heartbeats again and recovers. Deleted, its Lease is collected.

use e2e::{eventually_async, kubectl_ok, spawn, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).to_string_lossy().into_owned()
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One heartbeat, as the kubelet's: the Lease renewed, and the status
/// posted Ready with a fresh heartbeat time.
async fn heartbeat(client: &kube::Client, name: &str) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renew = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    // Owned by its Node, as the kubelet's: it goes when the Node goes.
    let node_uid = Api::<Node>::all(client.clone()).get(name).await.unwrap().metadata.uid.unwrap();
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": name,
        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": renew}}))
    .unwrap();
    match leases.get_opt(name).await.unwrap() {
        None => drop(leases.create(&PostParams::default(), &lease).await.unwrap()),
        Some(mut cur) => {
            cur.spec = lease.spec;
            leases.replace(name, &PostParams::default(), &cur).await.unwrap();
        }
    }
    let nodes: Api<Node> = Api::all(client.clone());
    // The controller writes the node too: the helper retries on a conflict.
    let status = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "kubelet is posting ready status", "lastHeartbeatTime": now(), "lastTransitionTime": now()}]});
    e2e::replace_status(&nodes, name, status).await;
}

async fn make_pod(pods: &Api<Pod>, name: &str, node: &str, ip: &str) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "myapp", "release": "stabel", "env": "test"}},
        "spec": {"nodeName": node, "containers": [{"name": "myapp", "image": "myapp:v2", "ports": [{"name": "http", "containerPort": 80}]}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    set_ready(pods, name, ip).await;
}

/// The pod Running and Ready at `ip`, as its kubelet reports it.
async fn set_ready(pods: &Api<Pod>, name: &str, ip: &str) {
    let status = json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now()}]});
    e2e::replace_status(pods, name, status).await;
}

/// (ready, not ready) addresses of the Service's Endpoints.
async fn endpoints(api: &Api<Endpoints>) -> (Vec<String>, Vec<String>) {
    let Ok(Some(ep)) = api.get_opt("myapp").await else { return Default::default() };
    let subsets = ep.subsets.unwrap_or_default();
    let mut ready: Vec<String> =
        subsets.iter().flat_map(|s| s.addresses.clone().unwrap_or_default()).map(|a| a.ip).collect();
    let mut not_ready: Vec<String> =
        subsets.iter().flat_map(|s| s.not_ready_addresses.clone().unwrap_or_default()).map(|a| a.ip).collect();
    ready.sort();
    not_ready.sort();
    (ready, not_ready)
}

/// (Ready status, reason, taint keys and effects) of a node.
async fn health(nodes: &Api<Node>, name: &str) -> (String, String, Vec<String>) {
    let node = nodes.get(name).await.unwrap();
    let ready = node.status.and_then(|s| s.conditions).unwrap_or_default().into_iter().find(|c| c.type_ == "Ready");
    let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
    (
        ready.as_ref().map(|c| c.status.clone()).unwrap_or_default(),
        ready.and_then(|c| c.reason).unwrap_or_default(),
        taints.into_iter().map(|t| format!("{}:{}", t.key, t.effect)).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_node_turns_unknown_and_its_pods_leave_the_endpoints() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let nodes: Api<Node> = Api::all(client.clone());
    for name in ["node1", "node2"] {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        heartbeat(&client, name).await;
    }
    // Both nodes beat every second; node1's stops when told.
    let (silence, silenced) = tokio::sync::watch::channel(false);
    // When node1's last heartbeat began: the grace period counts from its
    // renewTime, which can be a second or more before it is silenced on a
    // loaded machine.
    let last_beat = std::sync::Arc::new(std::sync::Mutex::new(Instant::now()));
    let beats = {
        let (client, last_beat) = (client.clone(), last_beat.clone());
        tokio::spawn(async move {
            loop {
                heartbeat(&client, "node2").await;
                if !*silenced.borrow() {
                    let began = Instant::now();
                    heartbeat(&client, "node1").await;
                    *last_beat.lock().unwrap() = began;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    const GRACE: Duration = Duration::from_secs(4);
    let _controller = spawn(
        Path::new(env!("CARGO_BIN_EXE_controller")),
        &["--server", &api.url, "--controllers", "endpoints,nodelifecycle", "--node-monitor-grace-period", "4s"],
    );
    kubectl_ok(&kc, &["apply", "-f", &example("svc.yaml")]);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    make_pod(&pods, "myapp-1", "node1", "10.244.1.31").await;
    make_pod(&pods, "myapp-2", "node2", "10.244.2.41").await;
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let both = vec!["10.244.1.31".to_string(), "10.244.2.41".to_string()];
    eventually_async("both pods are endpoints", async || endpoints(&eps).await, |e| e.0 == both).await;

    // Beating nodes stay Ready and untainted past the grace period.
    tokio::time::sleep(GRACE + Duration::from_secs(1)).await;
    assert_eq!(health(&nodes, "node1").await, ("True".into(), "KubeletReady".into(), vec![]));

    // node1's agent stops.
    silence.send(true).unwrap();
    let unknown = eventually_async("node1 Unknown", async || health(&nodes, "node1").await, |h| h.0 == "Unknown").await;
    let took = last_beat.lock().unwrap().elapsed();
    eprintln!("node1 turned Unknown {took:?} after its last heartbeat (grace period {GRACE:?})");
    assert!(took >= GRACE - Duration::from_secs(1), "not before the grace period: {took:?}");
    assert_eq!(unknown.1, "NodeStatusUnknown");
    let tainted = eventually_async("tainted", async || health(&nodes, "node1").await, |h| h.2.len() == 2).await;
    assert_eq!(tainted.2, ["node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"]);
    let node = nodes.get("node1").await.unwrap();
    let ready = node.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.message.as_deref(), Some("Kubelet stopped posting node status."));
    assert!(ready.last_heartbeat_time.is_some(), "the last heartbeat is kept");

    // Its pod is no longer Ready, so the Service answers from node2 only.
    let e = eventually_async(
        "node1's pod leaves the endpoints",
        async || endpoints(&eps).await,
        |e| e.0 == ["10.244.2.41"],
    )
    .await;
    assert_eq!(e.1, ["10.244.1.31"], "listed as not ready, as upstream");
    let pod = pods.get("myapp-1").await.unwrap();
    assert!(!api::readiness::pod_ready(&pod));
    assert_eq!(health(&nodes, "node2").await, ("True".into(), "KubeletReady".into(), vec![]));
    // kubectl says what it says of a dead node.
    let rows = table_rows(&kubectl_ok(&kc, &["get", "nodes"]));
    assert_eq!(rows[1][..2], ["node1", "NotReady"]);
    assert_eq!(rows[2][..2], ["node2", "Ready"]);
    let described = kubectl_ok(&kc, &["describe", "node", "node1"]);
    let taints: Vec<&str> = described.lines().filter(|l| l.contains("node.kubernetes.io/unreachable")).collect();
    assert_eq!(taints.len(), 2, "{described}");
    // kubectl sorts taints by effect, then key.
    assert!(
        taints[0].starts_with("Taints:") && taints[0].ends_with("node.kubernetes.io/unreachable:NoExecute"),
        "{taints:?}"
    );
    assert!(taints[1].ends_with("node.kubernetes.io/unreachable:NoSchedule"), "{taints:?}");
    let ready_row = described.lines().find(|l| l.trim_start().starts_with("Ready ")).unwrap();
    assert!(ready_row.contains("Unknown") && ready_row.contains("NodeStatusUnknown"), "{ready_row}");
    assert!(ready_row.ends_with("Kubelet stopped posting node status."), "{ready_row}");

    // node1's agent comes back: its next status write makes it Ready, the
    // taints go, and once it reports its pod Ready again, so do the endpoints.
    silence.send(false).unwrap();
    eventually_async("node1 recovers", async || health(&nodes, "node1").await, |h| h.0 == "True" && h.2.is_empty())
        .await;
    set_ready(&pods, "myapp-1", "10.244.1.31").await;
    eventually_async("node1's pod is back", async || endpoints(&eps).await, |e| e.0 == both).await;
    // And stays: a Ready node's pods are left alone.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(api::readiness::pod_ready(&pods.get("myapp-1").await.unwrap()));
    beats.abort();

    // A Node deleted for good: its Lease goes with it (owner gone), the
    // other node's stays.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    nodes.delete("node1", &Default::default()).await.unwrap();
    eventually_async("node1's Lease collected", async || leases.get_opt("node1").await.unwrap(), |l| l.is_none()).await;
    assert!(leases.get_opt("node2").await.unwrap().is_some());
}
