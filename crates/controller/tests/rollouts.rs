//! Deployment → ReplicaSets → Pods on the real apiserver and etcd, driven
//! with kubectl 1.32's own rollout commands (it reads the ReplicaSets and
//! patches the Deployment client-side): `get rs`, `rollout history`,
//! `undo [--to-revision]`, `pause`/`resume`, `restart`, `status`,
//! `describe deployment`, the revision history limit and garbage collection.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use e2e::{eventually_async, kubectl_ok, table_rows, Kubeconfig};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use std::path::Path;
use std::time::Duration;

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).to_string_lossy().into_owned()
}

/// (name, desired, current, ready) of each ReplicaSet, as `kubectl get rs` prints them.
fn get_rs(kc: &Kubeconfig) -> Vec<Vec<String>> {
    let rows = table_rows(&kubectl_ok(kc, &["get", "rs"]));
    rows.iter().skip(1).map(|r| r[..4].to_vec()).collect()
}

/// The images of the live pods, and whether each is controlled by a ReplicaSet named like its prefix.
async fn pod_images(pods: &Api<Pod>) -> Vec<String> {
    let list = pods.list(&ListParams::default().labels("app=myapp")).await.unwrap().items;
    let mut images: Vec<String> = list
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| p.spec.as_ref().unwrap().containers[0].image.clone().unwrap_or_default())
        .collect();
    images.sort();
    images
}

fn rolled_out(kc: &Kubeconfig) {
    let out = kubectl_ok(kc, &["rollout", "status", "deployment/myapp-deploy", "--timeout=60s"]);
    assert!(out.contains(r#"deployment "myapp-deploy" successfully rolled out"#), "{out}");
}

fn image(tag: &str) -> String {
    format!("hub.xiaosha.com/library/myapp:{tag}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rolls_deployments_through_replica_sets() {
    let cluster = Cluster::start().await;
    let (kc, client) = (&cluster.kc, cluster.client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());

    kubectl_ok(kc, &["apply", "-f", &example("svc-deployment.yaml")]);
    rolled_out(kc);
    let rows = get_rs(kc);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let first = rows[0][0].clone();
    assert_eq!(rows[0][1..], ["3", "3", "3"], "DESIRED CURRENT READY");
    assert!(first.starts_with("myapp-deploy-") && first.len() > "myapp-deploy-".len() + 6, "{first}");
    let rows = table_rows(&kubectl_ok(kc, &["get", "rs", "-o", "wide"]));
    assert_eq!(rows[0], ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]);
    let hash = first.rsplit('-').next().unwrap();
    assert_eq!(rows[1][7], format!("app=myapp,pod-template-hash={hash},release=stabel"));

    // The pods are the ReplicaSet's: `<rs>-xxxxx`, controlled by it, with its hash label.
    let rs = rss.get(&first).await.unwrap();
    let a = rs.metadata.annotations.clone().unwrap();
    assert_eq!(
        (a["deployment.kubernetes.io/revision"].as_str(), a["deployment.kubernetes.io/desired-replicas"].as_str()),
        ("1", "3")
    );
    assert_eq!(a["deployment.kubernetes.io/max-replicas"], "4");
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Deployment", "myapp-deploy", Some(true))
    );
    for p in pods.list(&ListParams::default().labels("app=myapp")).await.unwrap().items {
        let name = p.metadata.name.clone().unwrap();
        assert_eq!(name.len(), first.len() + 6, "{name}");
        assert!(name.starts_with(&format!("{first}-")), "{name}");
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("ReplicaSet", rs.metadata.uid.as_deref().unwrap()));
        assert_eq!(p.metadata.labels.as_ref().unwrap()["pod-template-hash"], hash);
    }

    // A new image: a second ReplicaSet takes over, the first is kept at 0.
    kubectl_ok(kc, &["set", "image", "deployment/myapp-deploy", &format!("myapp={}", image("v3"))]);
    rolled_out(kc);
    let rows = eventually_async(
        "two replica sets",
        async || get_rs(kc),
        |r| r.len() == 2 && r.iter().any(|r| r[0] == first && r[2] == "0"),
    )
    .await;
    let second = rows.iter().find(|r| r[0] != first).unwrap().clone();
    assert_eq!(second[1..], ["3", "3", "3"]);
    eventually_async("v3 pods", async || pod_images(&pods).await, |i| *i == vec![image("v3"); 3]).await;
    let history = kubectl_ok(kc, &["rollout", "history", "deployment/myapp-deploy"]);
    assert_eq!(
        history,
        "deployment.apps/myapp-deploy \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n"
    );
    let detail = kubectl_ok(kc, &["rollout", "history", "deployment/myapp-deploy", "--revision=1"]);
    assert!(detail.contains(&format!("Image:\t{}", image("v2"))) || detail.contains(&image("v2")), "{detail}");

    // The events a learner reads, in upstream's words.
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let scaling: Vec<String> = events
        .list(&ListParams::default().fields("reason=ScalingReplicaSet"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.message)
        .collect();
    assert!(scaling.contains(&format!("Scaled up replica set {first} from 0 to 3")), "{scaling:?}");
    assert!(
        scaling.iter().any(|m| m.starts_with(&format!("Scaled down replica set {first} from 3 to "))),
        "{scaling:?}"
    );
    let describe = kubectl_ok(kc, &["describe", "deployment", "myapp-deploy"]);
    assert!(describe.contains(&format!("OldReplicaSets:  {first} (0/0 replicas created)\n")), "{describe}");
    assert!(describe.contains(&format!("NewReplicaSet:   {} (3/3 replicas created)\n", second[0])), "{describe}");
    assert!(describe.contains("Progressing    True    NewReplicaSetAvailable"), "{describe}");
    assert!(
        describe.contains(&format!("deployment-controller  Scaled up replica set {} from 0 to 1\n", second[0])),
        "{describe}"
    );

    // undo: back to revision 1's template, which becomes revision 3.
    assert_eq!(
        kubectl_ok(kc, &["rollout", "undo", "deployment/myapp-deploy"]),
        "deployment.apps/myapp-deploy rolled back\n"
    );
    rolled_out(kc);
    eventually_async("v2 pods again", async || pod_images(&pods).await, |i| *i == vec![image("v2"); 3]).await;
    let rows = get_rs(kc);
    assert_eq!(rows.len(), 2, "the old ReplicaSet is reused: {rows:?}");
    assert!(rows.iter().any(|r| r[0] == first && r[1] == "3"), "{rows:?}");
    let history = kubectl_ok(kc, &["rollout", "history", "deployment/myapp-deploy"]);
    assert_eq!(
        history,
        "deployment.apps/myapp-deploy \nREVISION  CHANGE-CAUSE\n2         <none>\n3         <none>\n\n"
    );
    let a = rss.get(&first).await.unwrap().metadata.annotations.unwrap();
    assert_eq!(a["deployment.kubernetes.io/revision-history"], "1");
    kubectl_ok(kc, &["rollout", "undo", "deployment/myapp-deploy", "--to-revision=2"]);
    rolled_out(kc);
    eventually_async("v3 pods again", async || pod_images(&pods).await, |i| *i == vec![image("v3"); 3]).await;

    // pause: template changes wait; resume: they roll.
    assert_eq!(
        kubectl_ok(kc, &["rollout", "pause", "deployment/myapp-deploy"]),
        "deployment.apps/myapp-deploy paused\n"
    );
    kubectl_ok(kc, &["set", "image", "deployment/myapp-deploy", &format!("myapp={}", image("v4"))]);
    eventually_async(
        "the Progressing condition says paused",
        async || {
            kubectl_ok(
                kc,
                &[
                    "get",
                    "deploy",
                    "myapp-deploy",
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
                ],
            )
        },
        |r| r == "DeploymentPaused",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get_rs(kc).len(), 2, "no new ReplicaSet while paused");
    assert_eq!(
        kubectl_ok(kc, &["rollout", "resume", "deployment/myapp-deploy"]),
        "deployment.apps/myapp-deploy resumed\n"
    );
    rolled_out(kc);
    eventually_async("v4 pods", async || pod_images(&pods).await, |i| *i == vec![image("v4"); 3]).await;
    assert_eq!(get_rs(kc).len(), 3);

    // restart: the same image, a new template (its restartedAt annotation), new pods.
    let before: Vec<String> = pods
        .list(&ListParams::default().labels("app=myapp"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(
        kubectl_ok(kc, &["rollout", "restart", "deployment/myapp-deploy"]),
        "deployment.apps/myapp-deploy restarted\n"
    );
    rolled_out(kc);
    let fresh = eventually_async(
        "restarted pods",
        async || {
            let list = pods.list(&ListParams::default().labels("app=myapp")).await.unwrap().items;
            list.into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter_map(|p| p.metadata.name)
                .collect::<Vec<_>>()
        },
        |names| names.len() == 3 && names.iter().all(|n| !before.contains(n)),
    )
    .await;
    assert_eq!(fresh.len(), 3);
    assert_eq!(get_rs(kc).len(), 4);

    // revisionHistoryLimit: old ReplicaSets at 0 beyond it are pruned.
    kubectl_ok(
        kc,
        &["patch", "deployment", "myapp-deploy", "--type=merge", "-p", r#"{"spec":{"revisionHistoryLimit":1}}"#],
    );
    eventually_async("pruned to one old ReplicaSet", async || get_rs(kc), |r| r.len() == 2).await;

    // Deleting the Deployment takes its ReplicaSets, and theirs pods, along.
    kubectl_ok(kc, &["delete", "deployment", "myapp-deploy"]);
    eventually_async("replica sets collected", async || get_rs(kc), Vec::is_empty).await;
    eventually_async("pods collected", async || pod_images(&pods).await, Vec::is_empty).await;
}
