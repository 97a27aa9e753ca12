//! One reconcile of a [`Replicated`] owner on the shared loop
//! ([`crate::owned`]): create and delete pods towards its replicas, then
//! report status.

use super::desired::{new_pod, plan};
use super::kind::Replicated;
use crate::owned::{Owned, Owner};
use informer::cache::Key;
use informer::reconcile::Action;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};

impl Owner for ReplicaSet {
    type Child = Pod;
    const CONTROLLER: &'static str = "replicaset";
    const COMPONENT: &'static str = "replicaset-controller";

    async fn reconcile(state: &mut Owned<Self>, key: &Key) -> Result<Action, kube::Error> {
        reconcile(state, key).await
    }
}

impl Owner for ReplicationController {
    type Child = Pod;
    const CONTROLLER: &'static str = "replicationcontroller";
    const COMPONENT: &'static str = "replication-controller";

    async fn reconcile(state: &mut Owned<Self>, key: &Key) -> Result<Action, kube::Error> {
        reconcile(state, key).await
    }
}

pub async fn reconcile<K: Replicated>(state: &mut Owned<K>, key: &Key) -> Result<Action, kube::Error> {
    let Some(rs) = state.owners.get(key).cloned() else { return Ok(Action::await_change()) };
    let pods = state.children_of(&rs);
    let refs: Vec<&Pod> = pods.iter().collect();
    let step = plan(rs.as_ref(), &refs, jiff::Timestamp::now().as_second());
    for _ in 0..step.create {
        state.create(&rs, &new_pod(rs.as_ref()), |name| format!("Created pod: {name}")).await?;
    }
    for name in &step.delete {
        state.delete(&rs, name, format!("Deleted pod: {name}")).await?;
    }
    // Report what the pods are now (after this step's writes).
    let pods = state.children_of(&rs);
    let refs: Vec<&Pod> = pods.iter().collect();
    let now = plan(rs.as_ref(), &refs, jiff::Timestamp::now().as_second());
    let mut updated = rs.as_ref().clone();
    updated.set_replica_status(now.status);
    state.write_status(&rs, updated).await?;
    Ok(now.recheck.map_or_else(Action::await_change, Action::requeue))
}
