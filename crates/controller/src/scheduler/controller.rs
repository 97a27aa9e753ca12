//! The scheduler's loop: watch Pods and Nodes; bind each pending pod to the
//! node [`super::desired::pick_node`] chooses, through `pods/binding`. A pod
//! that fits nowhere gets a `FailedScheduling` event and is tried again when
//! a node changes.

use super::desired::{pick_node, wants_scheduling, Placement};
use crate::events::{record, reference};
use api::resources::PODS;
use futures_util::stream;
use informer::cache::{key_of, watch, Cache, Key};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::Client;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

const COMPONENT: &str = "default-scheduler";

enum Watched {
    Pod(Box<watcher::Event<Pod>>),
    Node(Box<watcher::Event<Node>>),
}

struct Scheduler {
    client: Client,
    pods: Cache<Pod>,
    nodes: Cache<Node>,
    /// Pods already told they fit nowhere, until a node changes.
    reported: BTreeSet<Key>,
}

/// One key, `()`: each pass looks at every pending pod, first come first
/// served, since placing one changes the load the next one sees.
impl Reconciler for Scheduler {
    type Event = Watched;
    type Key = ();
    type Error = std::convert::Infallible;
    const NAME: &'static str = "scheduler";

    fn on_event(&mut self, event: Watched) -> Vec<()> {
        match event {
            Watched::Pod(ev) => {
                self.pods.apply(*ev);
            }
            Watched::Node(ev) => {
                if !self.nodes.apply(*ev).is_empty() {
                    self.reported.clear();
                }
            }
        }
        vec![()]
    }

    fn synced(&self) -> bool {
        self.pods.synced && self.nodes.synced
    }

    /// A failed binding is not retried by itself: the next event retries it.
    async fn reconcile(&mut self, _: &(), _since: SystemTime) -> Result<Action, Self::Error> {
        schedule(&self.client, &mut self.pods, &self.nodes, &mut self.reported).await;
        Ok(Action::await_change())
    }
}

/// Runs the scheduler until `shutdown` resolves.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let events = stream::select_all([
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
        watch(Api::<Node>::all(client.clone()), watcher::Config::default(), Watched::Node),
    ]);
    let mut scheduler =
        Scheduler { client, pods: Cache::default(), nodes: Cache::default(), reported: BTreeSet::new() };
    informer::reconcile::run(&mut scheduler, events, DEFAULT_BACKOFF, shutdown).await;
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
                let path = format!("{}/binding", PODS.path(Some(&key.0), &key.1));
                let req = http::Request::post(path)
                    .header("Content-Type", "application/json")
                    .body(binding.to_string().into_bytes());
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
