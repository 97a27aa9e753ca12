//! The service-lb controller on the real apiserver and etcd: LoadBalancer
//! Services get addresses from `--lb-pool` through `services/status`,
//! kubectl shows them as EXTERNAL-IP, refusals and a full pool are Events,
//! a freed address goes to the one waiting, and a restart moves nothing.

use e2e::{eventually_async, kubectl_ok, spawn, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig};
use k8s_openapi::api::core::v1::{Event, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::path::Path;

const POOL: &str = "10.99.0.1-10.99.0.2";

fn controller(url: &str) -> e2e::Proc {
    spawn(
        Path::new(env!("CARGO_BIN_EXE_controller")),
        &["--server", url, "--controllers", "service-lb", "--lb-pool", POOL],
    )
}

async fn create(api: &Api<Service>, name: &str, spec: serde_json::Value) {
    let mut spec = spec;
    spec["selector"] = json!({"app": "myapp"});
    spec["ports"] = json!([{"port": 80, "targetPort": 80}]);
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
    api.create(&PostParams::default(), &svc).await.unwrap();
}

/// The ingress as `(ip, ipMode)` pairs.
async fn ingress(api: &Api<Service>, name: &str) -> Vec<(String, String)> {
    let Ok(svc) = api.get(name).await else { return vec![] };
    svc.status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.ip.unwrap_or_default(), i.ip_mode.unwrap_or_default()))
        .collect()
}

/// The `(reason, message)` of the Events about `name`, oldest first.
async fn events(api: &Api<Event>, name: &str) -> Vec<(String, String)> {
    let list = api.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    let mut about: Vec<_> = list.into_iter().filter(|e| e.involved_object.name.as_deref() == Some(name)).collect();
    about.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    about.into_iter().map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default())).collect()
}

fn vip(ip: &str) -> Vec<(String, String)> {
    vec![(ip.to_string(), "VIP".to_string())]
}

#[tokio::test]
async fn load_balancer_services_get_addresses_from_the_pool() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let event_api: Api<Event> = Api::namespaced(client.clone(), "default");
    let mut lb = controller(&api.url);

    create(&services, "web", json!({"type": "LoadBalancer"})).await;
    eventually_async("web's address", async || ingress(&services, "web").await, |i| *i == vip("10.99.0.1")).await;
    let rows = table_rows(&kubectl_ok(&kc, &["get", "svc", "web"]));
    assert_eq!(rows[0][..5], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"]);
    assert_eq!(rows[1][3], "10.99.0.1");
    assert!(rows[1][4].starts_with("80:3"), "{:?}", rows[1]);
    let assigned = eventually_async("IPAllocated", async || events(&event_api, "web").await, |e| !e.is_empty()).await;
    assert_eq!(assigned, [("IPAllocated".to_string(), "Assigned IP [\"10.99.0.1\"]".to_string())]);

    // Refused requests: outside the pool, malformed. Both stay <pending>.
    create(&services, "outside", json!({"type": "LoadBalancer", "loadBalancerIP": "10.98.0.1"})).await;
    let refused =
        eventually_async("outside refused", async || events(&event_api, "outside").await, |e| !e.is_empty()).await;
    assert_eq!(
        refused,
        [(
            "AllocationFailed".to_string(),
            "Failed to allocate IP for \"default/outside\": \"10.98.0.1\" is not allowed in config".to_string()
        )]
    );
    let annotated: Service = serde_json::from_value(json!({
        "metadata": {"name": "malformed", "annotations": {"metallb.io/loadBalancerIPs": "10.99.0.x"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }))
    .unwrap();
    services.create(&PostParams::default(), &annotated).await.unwrap();
    let malformed =
        eventually_async("malformed refused", async || events(&event_api, "malformed").await, |e| !e.is_empty()).await;
    assert_eq!(malformed[0].0, "LoadBalancerFailed");
    assert_eq!(malformed[0].1, "invalid requested loadbalancer IPs: invalid metallb.io/loadBalancerIPs \"10.99.0.x\"");

    // Another class is not ours: no address, no Event.
    create(&services, "other", json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/other"})).await;

    // The pool's last address, then a full pool.
    create(&services, "second", json!({"type": "LoadBalancer"})).await;
    eventually_async("second's address", async || ingress(&services, "second").await, |i| *i == vip("10.99.0.2")).await;
    create(&services, "third", json!({"type": "LoadBalancer"})).await;
    let full = eventually_async("pool full", async || events(&event_api, "third").await, |e| !e.is_empty()).await;
    assert_eq!(
        full,
        [("AllocationFailed".to_string(), "Failed to allocate IP for \"default/third\": no available IPs".to_string())]
    );
    for name in ["outside", "malformed", "other", "third"] {
        let rows = table_rows(&kubectl_ok(&kc, &["get", "svc", name]));
        assert_eq!(rows[1][3], "<pending>", "{name}");
    }
    assert!(events(&event_api, "other").await.is_empty());

    // A restarted controller reads the pool back from the statuses: nothing moves.
    drop(lb);
    lb = controller(&api.url);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(ingress(&services, "web").await, vip("10.99.0.1"));
    assert_eq!(ingress(&services, "second").await, vip("10.99.0.2"));
    assert!(ingress(&services, "third").await.is_empty());
    // One Event per refusal, not one per pass or per restart... per process:
    // the restarted controller tells "third" once more, at most.
    assert!(events(&event_api, "third").await.len() <= 2);

    // Deleting web frees its address, and the one waiting gets it.
    services.delete("web", &DeleteParams::default()).await.unwrap();
    eventually_async("third's address", async || ingress(&services, "third").await, |i| *i == vip("10.99.0.1")).await;

    // A type change releases the address; back to LoadBalancer, it gets one again.
    let to_cluster_ip = json!({"spec": {"type": "ClusterIP"}});
    services.patch("second", &PatchParams::default(), &Patch::Merge(&to_cluster_ip)).await.unwrap();
    eventually_async("second released", async || ingress(&services, "second").await, Vec::is_empty).await;
    let rows = table_rows(&kubectl_ok(&kc, &["get", "svc", "second"]));
    assert_eq!(rows[1][3], "<none>");
    let to_lb = json!({"spec": {"type": "LoadBalancer"}});
    services.patch("second", &PatchParams::default(), &Patch::Merge(&to_lb)).await.unwrap();
    eventually_async("second's address again", async || ingress(&services, "second").await, |i| *i == vip("10.99.0.2"))
        .await;
    assert!(ingress(&services, "other").await.is_empty());
    drop(lb);
}
