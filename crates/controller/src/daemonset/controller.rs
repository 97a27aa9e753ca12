//! One reconcile of a DaemonSet on the shared loop ([`crate::owned`], which
//! also watches the Nodes for it): the pods [`super::desired::plan`] says,
//! then the status.

use super::desired::{new_pod, plan};
use crate::owned::{Owned, Owner};
use informer::cache::Key;
use informer::reconcile::Action;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};

impl Owner for DaemonSet {
    type Child = Pod;
    const CONTROLLER: &'static str = "daemonset";
    const COMPONENT: &'static str = "daemonset-controller";
    const WATCHES_NODES: bool = true;

    async fn reconcile(state: &mut Owned<Self>, key: &Key) -> Result<Action, kube::Error> {
        let Some(ds) = state.owners.get(key).cloned() else { return Ok(Action::await_change()) };
        let nodes: Vec<Node> = state.nodes.values().map(|n| n.as_ref().clone()).collect();
        let node_refs: Vec<&Node> = nodes.iter().collect();
        let pods = state.children_of(&ds);
        let step = plan(&ds, &node_refs, &pods.iter().collect::<Vec<&Pod>>());
        for node in &step.create {
            state.create(&ds, &new_pod(&ds, node), |pod| format!("Created pod: {pod}")).await?;
        }
        for pod in &step.delete {
            state.delete(&ds, pod, format!("Deleted pod: {pod}")).await?;
        }
        let pods = state.children_of(&ds);
        let mut updated = ds.as_ref().clone();
        updated.status = Some(plan(&ds, &node_refs, &pods.iter().collect::<Vec<&Pod>>()).status);
        state.write_status(&ds, updated).await?;
        Ok(Action::await_change())
    }
}
