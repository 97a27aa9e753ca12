//! The node lifecycle controller's loop: watch Nodes, node Leases (in
//! `kube-node-lease`) and Pods; a node's name is the key. Its reconcile
//! notes the node's signals ([`observe`]), asks [`decide`] what to write,
//! and writes it: the node's status (through `nodes/status`), its taints,
//! and each of its pods' status (through `pods/status`). A node that is
//! still within its grace period comes back by itself when the period ends
//! (a requeue): silence produces no event to wake on. A node Lease whose
//! Node is gone is deleted ([`lease_orphaned`]).

use super::desired::{decide, lease_orphaned, observe, ready_status, Grace, Health};
use crate::events::{record, reference};
use api::well_known::NODE_LEASE_NAMESPACE;
use futures_util::stream;
use informer::cache::{watch, Cache};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::Client;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

/// The events' source, as upstream's.
const COMPONENT: &str = "node-controller";

enum Watched {
    Node(Box<watcher::Event<Node>>),
    Lease(Box<watcher::Event<Lease>>),
    Pod(Box<watcher::Event<Pod>>),
}

struct NodeLifecycle {
    client: Client,
    grace: Grace,
    nodes: Cache<Node>,
    leases: Cache<Lease>,
    pods: Cache<Pod>,
    /// What was last seen of each node, and when (upstream's nodeHealthMap).
    health: BTreeMap<String, Health>,
}

fn node_of(pod: &Arc<Pod>) -> Option<String> {
    pod.spec.as_ref()?.node_name.clone()
}

impl Reconciler for NodeLifecycle {
    type Event = Watched;
    /// A node's name.
    type Key = String;
    type Error = kube::Error;
    const NAME: &'static str = "nodelifecycle";

    /// A Node or its Lease touches that node; a pod touches the node it is
    /// bound to (a pod newly bound to an unreachable node is marked too).
    fn on_event(&mut self, event: Watched) -> Vec<String> {
        let changes: Vec<Option<String>> = match event {
            Watched::Node(ev) => {
                self.nodes.apply(*ev).into_iter().map(|(b, a)| a.or(b).and_then(|n| n.metadata.name.clone())).collect()
            }
            Watched::Lease(ev) => {
                self.leases.apply(*ev).into_iter().map(|(b, a)| a.or(b).and_then(|l| l.metadata.name.clone())).collect()
            }
            Watched::Pod(ev) => {
                self.pods.apply(*ev).into_iter().flat_map(|(b, a)| [b, a]).flatten().map(|p| node_of(&p)).collect()
            }
        };
        let mut keys: Vec<String> = changes.into_iter().flatten().collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn synced(&self) -> bool {
        self.nodes.synced && self.leases.synced && self.pods.synced
    }

    async fn reconcile(&mut self, name: &String, _since: SystemTime) -> Result<Action, kube::Error> {
        let node = self.nodes.get(&(String::new(), name.clone())).cloned();
        let lease_key = (NODE_LEASE_NAMESPACE.to_string(), name.clone());
        if let Some(lease) = self.leases.get(&lease_key).filter(|l| lease_orphaned(l, node.as_deref())).cloned() {
            // The uid precondition: a Lease the node's next kubelet has
            // just made again is not this one.
            let uid = lease.metadata.uid.clone();
            let params = DeleteParams {
                preconditions: Some(Preconditions { uid, resource_version: None }),
                ..Default::default()
            };
            let leases: Api<Lease> = Api::namespaced(self.client.clone(), NODE_LEASE_NAMESPACE);
            match leases.delete(name, &params).await {
                Ok(_) => tracing::info!(node = %name, "deleted the Lease of a Node that is gone"),
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        let Some(node) = node else {
            self.health.remove(name);
            return Ok(Action::await_change());
        };
        let now = jiff::Timestamp::now();
        let lease = self.leases.get(&lease_key);
        let health = observe(self.health.get(name), &node, lease.map(|l| l.as_ref()), now);
        self.health.insert(name.clone(), health.clone());
        let on_node: Vec<&Pod> =
            self.pods.values().filter(|p| node_of(p).as_ref() == Some(name)).map(|p| p.as_ref()).collect();
        let decision = decide(&node, &health, on_node, self.grace, now);

        let nodes: Api<Node> = Api::all(self.client.clone());
        let mut current = node.as_ref().clone();
        if let Some(status) = decision.status {
            let was = ready_status(&current).to_string();
            current.status = Some(status);
            current = nodes.replace_status(name, &PostParams::default(), &current).await?;
            self.nodes.write_through(current.clone());
            tracing::info!(node = %name, "node stopped posting status for {:?}: Ready Unknown", self.grace.monitor);
            if was == "True" {
                let message = format!("Node {name} status is now: NodeNotReady");
                record(&self.client, reference(&current), false, "NodeNotReady", message, COMPONENT).await;
            }
        }
        if let Some(taints) = decision.taints {
            current.spec.get_or_insert_with(Default::default).taints = Some(taints).filter(|t| !t.is_empty());
            current = nodes.replace(name, &PostParams::default(), &current).await?;
            self.nodes.write_through(current);
        }
        for pod in decision.pods_not_ready {
            let (namespace, pod_name) =
                (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
            match api.replace_status(&pod_name, &PostParams::default(), &pod).await {
                Ok(written) => {
                    record(
                        &self.client,
                        reference(&written),
                        true,
                        "NodeNotReady",
                        "Node is not ready".into(),
                        COMPONENT,
                    )
                    .await;
                    self.pods.write_through(written);
                }
                // Deleted meanwhile: nothing left to mark.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(decision.recheck.map_or(Action::await_change(), Action::requeue))
    }
}

/// Runs the node lifecycle controller until `shutdown` resolves.
pub async fn run(client: Client, grace: Grace, shutdown: impl std::future::Future<Output = ()>) {
    let events = stream::select_all([
        watch(Api::<Node>::all(client.clone()), watcher::Config::default(), Watched::Node),
        watch(
            Api::<Lease>::namespaced(client.clone(), NODE_LEASE_NAMESPACE),
            watcher::Config::default(),
            Watched::Lease,
        ),
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
    ]);
    let mut controller = NodeLifecycle {
        client,
        grace,
        nodes: Cache::default(),
        leases: Cache::default(),
        pods: Cache::default(),
        health: BTreeMap::new(),
    };
    informer::reconcile::run(&mut controller, events, DEFAULT_BACKOFF, shutdown).await;
}
