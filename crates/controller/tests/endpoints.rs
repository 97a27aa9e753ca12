//! The endpoints controller against the real apiserver and etcd: the
//! tutorial's Service applied with kubectl, pods whose readiness the test
//! sets (as the node agent will), and the Endpoints and EndpointSlices the
//! controller keeps, as kubectl shows them.

use e2e::{eventually_async, kubectl_ok, spawn, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig};
use k8s_openapi::api::core::v1::{EndpointAddress, EndpointSubset, Endpoints, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use std::path::Path;

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).to_string_lossy().into_owned()
}

/// Creates a pod of the tutorial's Deployment, then reports it Running at
/// `ip`, ready or not, as a kubelet would.
async fn make_pod(pods: &Api<Pod>, name: &str, node: &str, ip: &str, ready: bool) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "myapp", "release": "stabel", "env": "test"}},
        "spec": {"nodeName": node, "containers": [{"name": "myapp", "image": "myapp:v2", "ports": [{"name": "http", "containerPort": 80}]}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    set_ready(pods, name, ip, ready).await;
}

async fn set_ready(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let status = json!({
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
    });
    e2e::replace_status(pods, name, status).await;
}

type Addresses = (Vec<String>, Vec<String>, Vec<i32>);

/// (ready IPs, not-ready IPs, ports) of the Endpoints.
fn addresses(ep: &Endpoints) -> Addresses {
    let subsets = ep.subsets.clone().unwrap_or_default();
    let ips = |f: fn(&EndpointSubset) -> Option<&Vec<EndpointAddress>>| {
        subsets.iter().flat_map(|s| f(s).cloned().unwrap_or_default()).map(|a| a.ip).collect::<Vec<_>>()
    };
    let ports = subsets.iter().flat_map(|s| s.ports.clone().unwrap_or_default()).map(|p| p.port).collect();
    (ips(|s| s.addresses.as_ref()), ips(|s| s.not_ready_addresses.as_ref()), ports)
}

/// (ready, not-ready) IPs across the Service's slices.
fn slice_addresses(slices: &[EndpointSlice]) -> (Vec<String>, Vec<String>) {
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for e in slices.iter().flat_map(|s| s.endpoints.iter()) {
        let list = if e.conditions.as_ref().and_then(|c| c.ready) == Some(true) { &mut ready } else { &mut not_ready };
        list.extend(e.addresses.iter().cloned());
    }
    ready.sort();
    not_ready.sort();
    (ready, not_ready)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_follow_pods_through_readiness_deletion_and_restarts() {
    let etcd = Etcd::start();
    let mut api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    let controller_bin = Path::new(env!("CARGO_BIN_EXE_controller"));
    let controller = spawn(controller_bin, &["--server", &api.url]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let of_myapp = ListParams::default().labels("kubernetes.io/service-name=myapp");

    assert_eq!(kubectl_ok(&kc, &["apply", "-f", &example("svc.yaml")]).trim(), "service/myapp created");
    make_pod(&pods, "myapp-deploy-77b578b6d-8jc6t", "k8s-node01", "10.244.1.31", true).await;
    make_pod(&pods, "myapp-deploy-77b578b6d-d98c2", "k8s-node01", "10.244.1.32", true).await;
    make_pod(&pods, "myapp-deploy-77b578b6d-q6zlv", "k8s-node02", "10.244.2.41", true).await;

    let all3 = |v: &Addresses| v.0 == ["10.244.1.31", "10.244.1.32", "10.244.2.41"] && v.1.is_empty() && v.2 == [80];
    eventually_async(
        "3 ready addresses on port 80",
        async || eps.get("myapp").await.map(|e| addresses(&e)).unwrap_or_default(),
        all3,
    )
    .await;
    let ready3 = eventually_async(
        "3 ready endpoints in the slices",
        async || slice_addresses(&slices.list(&of_myapp).await.unwrap().items),
        |v| v.0.len() == 3,
    )
    .await;
    assert_eq!(ready3.0, ["10.244.1.31", "10.244.1.32", "10.244.2.41"]);
    let slice = slices.list(&of_myapp).await.unwrap().items.remove(0);
    assert_eq!(slice.ports.unwrap()[0].port, Some(80));
    assert_eq!(slice.metadata.owner_references.unwrap()[0].name, "myapp");
    let ep = eps.get("myapp").await.unwrap();
    let trigger = &ep.metadata.annotations.unwrap()["endpoints.kubernetes.io/last-change-trigger-time"];
    assert!(trigger.parse::<jiff::Timestamp>().is_ok(), "{trigger}");

    // What kubectl shows.
    let rows = table_rows(&kubectl_ok(&kc, &["get", "endpoints", "myapp"]));
    assert_eq!(rows[1][1], "10.244.1.31:80,10.244.1.32:80,10.244.2.41:80");
    let rows = table_rows(&kubectl_ok(&kc, &["get", "endpointslices", "-l", "kubernetes.io/service-name=myapp"]));
    assert_eq!(rows[1][1..4], ["IPv4", "80", "10.244.1.31,10.244.1.32,10.244.2.41"]);
    let describe = kubectl_ok(&kc, &["describe", "svc", "myapp"]);
    assert!(describe.contains("10.244.1.31:80,10.244.1.32:80,10.244.2.41:80"), "{describe}");

    // The learner sees it happen.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::default_namespaced(client.clone());
    let updated = eventually_async(
        "an EndpointsUpdated event",
        async || {
            events
                .list(&ListParams::default().fields("involvedObject.name=myapp"))
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("EndpointsUpdated"))
                .filter_map(|e| e.message)
                .collect::<Vec<_>>()
        },
        |v| v.iter().any(|m| m.contains("10.244.2.41:80")),
    )
    .await;
    assert!(
        updated.iter().any(|m| m == "Endpoints: 10.244.1.31:80, 10.244.1.32:80, 10.244.2.41:80 ready"),
        "{updated:?}"
    );

    // A pod turns not-ready.
    set_ready(&pods, "myapp-deploy-77b578b6d-d98c2", "10.244.1.32", false).await;
    let one_down = |v: &Addresses| v.0 == ["10.244.1.31", "10.244.2.41"] && v.1 == ["10.244.1.32"];
    eventually_async("10.244.1.32 not ready", async || addresses(&eps.get("myapp").await.unwrap()), one_down).await;
    eventually_async(
        "ready: false in the slice",
        async || slice_addresses(&slices.list(&of_myapp).await.unwrap().items),
        |v| v.1 == ["10.244.1.32"],
    )
    .await;

    // A pod is deleted.
    pods.delete("myapp-deploy-77b578b6d-q6zlv", &DeleteParams::default().grace_period(0)).await.unwrap();
    eventually_async(
        "10.244.2.41 gone",
        async || addresses(&eps.get("myapp").await.unwrap()),
        |v| v.0 == ["10.244.1.31"],
    )
    .await;

    // The controller is down while pods come and go: it converges when back.
    drop(controller);
    pods.delete("myapp-deploy-77b578b6d-8jc6t", &DeleteParams::default().grace_period(0)).await.unwrap();
    make_pod(&pods, "myapp-deploy-77b578b6d-x4k2p", "k8s-node02", "10.244.2.42", true).await;
    let _controller = spawn(controller_bin, &["--server", &api.url]);
    let converged = |v: &Addresses| v.0 == ["10.244.2.42"] && v.1 == ["10.244.1.32"];
    eventually_async("converged after restart", async || addresses(&eps.get("myapp").await.unwrap()), converged).await;
    let both = |v: &(Vec<String>, Vec<String>)| v.0 == ["10.244.2.42"] && v.1 == ["10.244.1.32"];
    eventually_async("slices converged", async || slice_addresses(&slices.list(&of_myapp).await.unwrap().items), both)
        .await;
    assert_eq!(slices.list(&of_myapp).await.unwrap().items.len(), 1, "no duplicate slices");

    // The apiserver restarts: the controller's watches resume from revisions
    // the new apiserver does not hold (410), relist, and carry on.
    api.stop();
    api.restart();
    set_ready(&pods, "myapp-deploy-77b578b6d-d98c2", "10.244.1.32", true).await;
    let both_ready = |v: &Addresses| v.0 == ["10.244.1.32", "10.244.2.42"] && v.1.is_empty();
    eventually_async(
        "converged after an apiserver restart",
        async || addresses(&eps.get("myapp").await.unwrap()),
        both_ready,
    )
    .await;

    // The Service goes while the controller is down: its Endpoints and
    // slices go when the controller is back.
    drop(_controller);
    kubectl_ok(&kc, &["delete", "svc", "myapp"]);
    let _controller = spawn(controller_bin, &["--server", &api.url]);
    eventually_async("Endpoints deleted", async || eps.get_opt("myapp").await.unwrap().is_none(), |gone| *gone).await;
    eventually_async("slices deleted", async || slices.list(&of_myapp).await.unwrap().items.len(), |n| *n == 0).await;
    // The apiserver's own Endpoints are left alone.
    assert!(eps.get_opt("kubernetes").await.unwrap().is_some());
}
