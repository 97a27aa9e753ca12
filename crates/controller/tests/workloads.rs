//! The tutorial's Deployment end to end on the real apiserver and etcd,
//! with two registered Nodes and a stand-in kubelet (a task of this test
//! that reports bound pods Running and Ready, as kubelet-lite will):
//! scheduling, endpoints, scaling, a rolling update, an unschedulable pod,
//! and garbage collection, driven with kubectl.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use e2e::{eventually_async, kubectl, kubectl_ok, table_rows};
use k8s_openapi::api::core::v1::{Endpoints, Event, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).to_string_lossy().into_owned()
}

/// (name, node, ip, ready) of every live pod of the Deployment.
async fn deployment_pods(pods: &Api<Pod>) -> Vec<(String, String, String, bool)> {
    let list = pods.list(&ListParams::default().labels("app=myapp")).await.unwrap().items;
    list.into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let ready = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            (
                p.metadata.name.clone().unwrap_or_default(),
                p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
                p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
                ready,
            )
        })
        .collect()
}

fn all_ready(n: usize) -> impl Fn(&Vec<(String, String, String, bool)>) -> bool {
    move |v| v.len() == n && v.iter().all(|p| p.3)
}

async fn endpoint_ips(eps: &Api<Endpoints>) -> Vec<String> {
    let Ok(ep) = eps.get("myapp").await else { return Vec::new() };
    let mut ips: Vec<String> = ep
        .subsets
        .unwrap_or_default()
        .into_iter()
        .flat_map(|s| s.addresses.unwrap_or_default())
        .map(|a| a.ip)
        .collect();
    ips.sort();
    ips
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tutorial_deployment_is_scheduled_scaled_rolled_and_collected() {
    let cluster = Cluster::start().await;
    let (kc, client) = (&cluster.kc, cluster.client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let eps: Api<Endpoints> = Api::default_namespaced(client.clone());

    assert_eq!(
        kubectl_ok(kc, &["apply", "-f", &example("svc-deployment.yaml")]).trim(),
        "deployment.apps/myapp-deploy created"
    );
    assert_eq!(kubectl_ok(kc, &["apply", "-f", &example("svc.yaml")]).trim(), "service/myapp created");

    let three = eventually_async("3 pods running", async || deployment_pods(&pods).await, all_ready(3)).await;
    for (name, _, ip, _) in &three {
        let parts: Vec<&str> = name.rsplitn(3, '-').collect();
        assert_eq!((parts.len(), parts[0].len(), parts[2]), (3, 5, "myapp-deploy"), "{name}");
        assert!(ip.starts_with("10.244."), "{ip}");
    }
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    three.iter().for_each(|p| *per_node.entry(p.1.clone()).or_default() += 1);
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), [2, 1], "spread over both nodes: {per_node:?}");
    eventually_async("3 endpoints", async || endpoint_ips(&eps).await, |v| v.len() == 3).await;

    let out = kubectl_ok(kc, &["rollout", "status", "deployment/myapp-deploy", "--timeout=30s"]);
    assert!(out.contains(r#"deployment "myapp-deploy" successfully rolled out"#), "{out}");
    let rows = table_rows(&kubectl_ok(kc, &["get", "deploy"]));
    assert_eq!(rows[1][..4], ["myapp-deploy", "3/3", "3", "3"]);
    let rows = table_rows(&kubectl_ok(kc, &["get", "pod", "-o", "wide"]));
    assert_eq!(rows[0][..7], ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]);
    assert!(rows[1..].iter().all(|r| r[1] == "1/1" && r[2] == "Running"), "{rows:?}");

    // Scale to 5 and back to 2.
    kubectl_ok(kc, &["scale", "deployment", "myapp-deploy", "--replicas=5"]);
    eventually_async("5 pods", async || deployment_pods(&pods).await, all_ready(5)).await;
    eventually_async("5 endpoints", async || endpoint_ips(&eps).await, |v| v.len() == 5).await;
    kubectl_ok(kc, &["scale", "deployment", "myapp-deploy", "--replicas=2"]);
    let two = eventually_async("2 pods", async || deployment_pods(&pods).await, all_ready(2)).await;
    let mut two_ips: Vec<String> = two.iter().map(|p| p.2.clone()).collect();
    two_ips.sort();
    eventually_async("2 endpoints", async || endpoint_ips(&eps).await, |v| *v == two_ips).await;

    // A new image: a rolling update replaces every pod.
    let before: Vec<String> = two.iter().map(|p| p.0.clone()).collect();
    kubectl_ok(kc, &["set", "image", "deployment/myapp-deploy", "myapp=hub.xiaosha.com/library/myapp:v3"]);
    let out = kubectl_ok(kc, &["rollout", "status", "deployment/myapp-deploy", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let after = eventually_async(
        "2 new pods",
        async || deployment_pods(&pods).await,
        |v| all_ready(2)(v) && v.iter().all(|p| !before.contains(&p.0)),
    )
    .await;
    let hash = |name: &str| name.rsplit('-').nth(1).unwrap().to_string();
    assert_ne!(hash(&after[0].0), hash(&before[0]), "a new template hash");
    let images: Vec<String> = pods
        .list(&ListParams::default().labels("app=myapp"))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| p.spec.as_ref().unwrap().containers[0].image.clone().unwrap_or_default())
        .collect();
    assert!(images.iter().all(|i| i.ends_with(":v3")), "{images:?}");
    let mut new_ips: Vec<String> = after.iter().map(|p| p.2.clone()).collect();
    new_ips.sort();
    eventually_async("endpoints follow the rollout", async || endpoint_ips(&eps).await, |v| *v == new_ips).await;

    // A pod that fits nowhere stays Pending, with an event saying why.
    let picky: Pod = serde_json::from_value(json!({"metadata":{"name":"picky"},"spec":{"nodeSelector":{"disk":"nvme"},"containers":[{"name":"c","image":"x"}]}})).unwrap();
    pods.create(&PostParams::default(), &picky).await.unwrap();
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let why = eventually_async(
        "FailedScheduling",
        async || {
            events
                .list(&ListParams::default().fields("involvedObject.name=picky"))
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
                .and_then(|e| e.message)
        },
        Option::is_some,
    )
    .await;
    assert_eq!(why.unwrap(), "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.");
    let rows = table_rows(&kubectl_ok(kc, &["get", "events"]));
    assert!(rows.iter().any(|r| r.contains(&"Scheduled".to_string())), "{rows:?}");
    assert!(rows.iter().any(|r| r.contains(&"SuccessfulCreate".to_string())), "{rows:?}");

    // Deleting the Deployment takes its pods along.
    kubectl_ok(kc, &["delete", "deployment", "myapp-deploy"]);
    eventually_async("pods collected", async || deployment_pods(&pods).await, Vec::is_empty).await;
    eventually_async("no endpoints", async || endpoint_ips(&eps).await, Vec::is_empty).await;
    assert!(kubectl(kc, &["get", "pod", "picky"]).status.success(), "pods of nobody are left alone");
}
