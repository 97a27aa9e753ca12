//! StatefulSets on the real apiserver and etcd, driven with kubectl 1.32:
//! ordinal pods (`web-0`, `web-1`) whose hostname and subdomain give each a
//! DNS name through the headless Service (its Endpoints carry the
//! hostnames), OrderedReady start (a namespace where the test plays the
//! kubelet by hand: `web-1` waits for `web-0` to be Running and Ready),
//! reverse-ordered scale down, a rolling update in reverse ordinal order
//! that `kubectl rollout status` follows, its ControllerRevisions (`kubectl
//! rollout history`, `rollout undo`), and garbage collection. In
//! `default`, a stand-in kubelet reports bound pods Running and Ready.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use e2e::{eventually_async, kubectl_ok, table_rows, Kubeconfig, ScratchDir};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Endpoints, Event, Pod};
use kube::api::{Api, ListParams};
use serde_json::json;
use std::time::Duration;

fn manifest(namespace: &str, replicas: i32) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: nginx
  namespace: {namespace}
spec:
  clusterIP: None
  selector:
    app: nginx
  ports:
  - port: 80
    name: web
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: {namespace}
spec:
  serviceName: nginx
  replicas: {replicas}
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
          name: web
"#
    )
}

/// The set's live pods: (name, image, revision label), by name.
async fn live_pods(pods: &Api<Pod>) -> Vec<(String, String, String)> {
    let list = pods.list(&ListParams::default().labels("app=nginx")).await.unwrap().items;
    let mut v: Vec<_> = list
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let image = p.spec.as_ref().unwrap().containers[0].image.clone().unwrap_or_default();
            let revision = p.metadata.labels.as_ref().unwrap()["controller-revision-hash"].clone();
            (p.metadata.name.unwrap_or_default(), image, revision)
        })
        .collect();
    v.sort();
    v
}

fn names(pods: &[(String, String, String)]) -> Vec<&str> {
    pods.iter().map(|p| p.0.as_str()).collect()
}

/// The pods deleted, in the order the controller's events say.
async fn deleted_in_order(events: &Api<Event>) -> Vec<String> {
    let mut list = events.list(&ListParams::default().fields("reason=SuccessfulDelete")).await.unwrap().items;
    list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    list.into_iter().filter_map(|e| e.message).collect()
}

fn apply(kc: &Kubeconfig, text: &str) -> String {
    let dir = ScratchDir::new("sts");
    let path = dir.0.join("sts.yaml");
    std::fs::write(&path, text).unwrap();
    kubectl_ok(kc, &["apply", "-f", path.to_str().unwrap()])
}

/// Reports `name` Running and Ready, as its kubelet would.
async fn start(pods: &Api<Pod>, name: &str, ip: &str) {
    let status =
        json!({"phase":"Running","podIP":ip,"podIPs":[{"ip":ip}],"conditions":[{"type":"Ready","status":"True"}]});
    e2e::replace_status(pods, name, status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateful_set_starts_in_order_rolls_in_reverse_and_names_its_pods() {
    let cluster = Cluster::start().await;
    let (kc, client) = (&cluster.kc, cluster.client.clone());

    // OrderedReady, with the test as the kubelet: web-1 waits for web-0.
    kubectl_ok(kc, &["create", "namespace", "ordered"]);
    apply(kc, &manifest("ordered", 2));
    let ordered: Api<Pod> = Api::namespaced(client.clone(), "ordered");
    eventually_async("web-0", async || live_pods(&ordered).await, |p| names(p) == ["web-0"]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(names(&live_pods(&ordered).await), ["web-0"], "web-1 waits while web-0 is not Ready");
    let web0 = ordered.get("web-0").await.unwrap();
    let spec = web0.spec.clone().unwrap();
    assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("web-0"), Some("nginx")));
    let labels = web0.metadata.labels.clone().unwrap();
    assert_eq!(
        (labels["statefulset.kubernetes.io/pod-name"].as_str(), labels["apps.kubernetes.io/pod-index"].as_str()),
        ("web-0", "0")
    );
    start(&ordered, "web-0", "10.244.9.10").await;
    eventually_async("web-1 after web-0", async || live_pods(&ordered).await, |p| names(p) == ["web-0", "web-1"]).await;
    start(&ordered, "web-1", "10.244.9.11").await;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "ordered");
    let status = eventually_async(
        "ordered status",
        async || sts.get("web").await.unwrap().status.unwrap_or_default(),
        |s| s.ready_replicas == Some(2),
    )
    .await;
    assert_eq!((status.replicas, status.current_replicas, status.updated_replicas), (2, Some(2), Some(2)));
    assert_eq!(status.current_revision, status.update_revision);
    // Each pod's DNS name: the headless Service's endpoints carry the hostnames.
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "ordered");
    let hosts = eventually_async(
        "hostnames in the endpoints",
        async || {
            let Ok(ep) = eps.get("nginx").await else { return Vec::new() };
            let mut h: Vec<(String, String)> = ep
                .subsets
                .unwrap_or_default()
                .into_iter()
                .flat_map(|s| s.addresses.unwrap_or_default())
                .map(|a| (a.hostname.unwrap_or_default(), a.ip))
                .collect();
            h.sort();
            h
        },
        |h| h.len() == 2,
    )
    .await;
    assert_eq!(hosts, [("web-0".to_string(), "10.244.9.10".to_string()), ("web-1".into(), "10.244.9.11".into())]);

    // In default, with the stand-in kubelet: three pods, `kubectl get sts`.
    apply(kc, &manifest("default", 3));
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let events: Api<Event> = Api::default_namespaced(client.clone());
    eventually_async("3/3", async || table_rows(&kubectl_ok(kc, &["get", "sts", "web"])), |r| r[1][1] == "3/3").await;
    assert_eq!(names(&live_pods(&pods).await), ["web-0", "web-1", "web-2"]);
    let created: Vec<String> = {
        let mut list = events.list(&ListParams::default().fields("reason=SuccessfulCreate")).await.unwrap().items;
        list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
        list.into_iter().filter_map(|e| e.message).collect()
    };
    assert_eq!(
        created,
        (0..3).map(|n| format!("create Pod web-{n} in StatefulSet web successful")).collect::<Vec<_>>()
    );

    // A rolling update, highest ordinal first, followed by kubectl.
    kubectl_ok(kc, &["set", "image", "statefulset/web", "nginx=nginx:1.28"]);
    let out = kubectl_ok(kc, &["rollout", "status", "statefulset/web", "--timeout=60s"]);
    // kubectl's words when `rollingUpdate.partition` is set, as the default (0) is.
    assert!(out.ends_with("partitioned roll out complete: 3 new pods have been updated...\n"), "{out}");
    let now = eventually_async(
        "all at 1.28",
        async || live_pods(&pods).await,
        |p| p.len() == 3 && p.iter().all(|p| p.1 == "nginx:1.28"),
    )
    .await;
    let status = Api::<StatefulSet>::default_namespaced(client.clone()).get("web").await.unwrap().status.unwrap();
    assert!(now.iter().all(|p| Some(&p.2) == status.update_revision.as_ref()), "{now:?} {status:?}");
    assert_eq!(
        deleted_in_order(&events).await,
        ["web-2", "web-1", "web-0"].map(|p| format!("delete Pod {p} in StatefulSet web successful"))
    );

    // The two templates are two ControllerRevisions, which kubectl lists.
    assert_eq!(
        kubectl_ok(kc, &["rollout", "history", "statefulset/web"]),
        "statefulset.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n"
    );
    let rows = table_rows(&kubectl_ok(kc, &["get", "controllerrevisions"]));
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows[1..].iter().all(|r| r[1] == "statefulset.apps/web"), "{rows:?}");
    // undo: kubectl patches the set with revision 1's template; it becomes revision 3.
    kubectl_ok(kc, &["rollout", "undo", "statefulset/web"]);
    kubectl_ok(kc, &["rollout", "status", "statefulset/web", "--timeout=60s"]);
    eventually_async(
        "back at 1.27",
        async || live_pods(&pods).await,
        |p| p.len() == 3 && p.iter().all(|p| p.1 == "nginx:1.27"),
    )
    .await;
    assert_eq!(
        kubectl_ok(kc, &["rollout", "history", "statefulset/web"]),
        "statefulset.apps/web \nREVISION  CHANGE-CAUSE\n2         <none>\n3         <none>\n\n"
    );

    // Scale down: the highest ordinals go, in reverse order.
    kubectl_ok(kc, &["scale", "statefulset", "web", "--replicas=1"]);
    eventually_async("web-0 alone", async || live_pods(&pods).await, |p| names(p) == ["web-0"]).await;
    // (Events are best effort and may land late: wait for the last two.)
    let scale_down = ["web-2", "web-1"].map(|p| format!("delete Pod {p} in StatefulSet web successful"));
    eventually_async("scale-down events", async || deleted_in_order(&events).await, |d| d.ends_with(&scale_down)).await;

    // Its pods go with it.
    kubectl_ok(kc, &["delete", "statefulset", "web"]);
    eventually_async("collected", async || live_pods(&pods).await, Vec::is_empty).await;
}
