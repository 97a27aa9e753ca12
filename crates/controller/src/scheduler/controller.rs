//! The scheduler's loop: watch Pods and Nodes; bind each pending pod to the
//! node [`super::desired::pick_node`] chooses, through `pods/binding`. A pod
//! that fits nowhere gets a `FailedScheduling` event and is tried again when
//! a node changes.

use super::desired::{pick_node, wants_scheduling, Placement};
use crate::events::{record, reference};
use futures_util::{stream, FutureExt, StreamExt};
use informer::cache::{key_of, watch, Cache, Key};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::Client;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

const COMPONENT: &str = "default-scheduler";

enum Watched {
    Pod(Box<watcher::Event<Pod>>),
    Node(Box<watcher::Event<Node>>),
}

/// Runs the scheduler until `shutdown` resolves.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let mut events = stream::select_all([
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
        watch(Api::<Node>::all(client.clone()), watcher::Config::default(), Watched::Node),
    ]);
    let (mut pods, mut nodes) = (Cache::<Pod>::default(), Cache::<Node>::default());
    // Pods already told they fit nowhere, until a node changes.
    let mut reported: BTreeSet<Key> = BTreeSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let event = tokio::select! {
            ev = events.next() => ev,
            _ = &mut shutdown => return,
        };
        let Some(mut event) = event else { return };
        loop {
            match event {
                Watched::Pod(ev) => {
                    pods.apply(*ev);
                }
                Watched::Node(ev) => {
                    if !nodes.apply(*ev).is_empty() {
                        reported.clear();
                    }
                }
            }
            match events.next().now_or_never() {
                Some(Some(next)) => event = next,
                _ => break,
            }
        }
        if !(pods.synced && nodes.synced) {
            continue;
        }
        schedule(&client, &mut pods, &nodes, &mut reported).await;
    }
}

async fn schedule(client: &Client, pods: &mut Cache<Pod>, nodes: &Cache<Node>, reported: &mut BTreeSet<Key>) {
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    for p in pods.values() {
        if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) {
            *load.entry(node).or_default() += 1;
        }
    }
    let mut pending: Vec<Pod> = pods.values().filter(|p| wants_scheduling(p)).map(|p| p.as_ref().clone()).collect();
    // First come, first served.
    pending.sort_by_key(|p| (p.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()), p.metadata.name.clone()));
    let node_list: Vec<&Node> = nodes.values().map(|n| n.as_ref()).collect();
    for pod in pending {
        let key = key_of(&pod);
        if reported.contains(&key) {
            continue;
        }
        let api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
        match pick_node(&pod, &node_list, &load) {
            Placement::Node(node) => {
                let binding = json!({
                    "apiVersion": "v1", "kind": "Binding",
                    "metadata": { "name": key.1, "namespace": key.0 },
                    "target": { "apiVersion": "v1", "kind": "Node", "name": node },
                });
                let req = http::Request::post(format!("/api/v1/namespaces/{}/pods/{}/binding", key.0, key.1))
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(&binding).unwrap_or_default());
                let Ok(req) = req else { continue };
                match client.request_text(req).await {
                    Ok(_) => {
                        *load.entry(node.clone()).or_default() += 1;
                        let mut bound = pod.clone();
                        if let Some(spec) = bound.spec.as_mut() {
                            spec.node_name = Some(node.clone());
                        }
                        pods.write_through(bound);
                        record(
                            client,
                            reference(&pod),
                            false,
                            "Scheduled",
                            format!("Successfully assigned {}/{} to {node}", key.0, key.1),
                            COMPONENT,
                        )
                        .await;
                    }
                    Err(e) => tracing::debug!(pod = ?key, "binding: {e}"),
                }
            }
            Placement::Unschedulable(why) => {
                reported.insert(key.clone());
                record(client, reference(&pod), true, "FailedScheduling", why.clone(), COMPONENT).await;
                let mut status = pod.clone();
                let condition =
                    json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": why});
                if let Some(s) = status.status.as_mut() {
                    s.conditions = Some(vec![serde_json::from_value(condition).expect("condition")]);
                }
                let _ = api.replace_status(&key.1, &PostParams::default(), &status).await;
            }
        }
    }
}
