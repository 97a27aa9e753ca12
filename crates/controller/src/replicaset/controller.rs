//! One reconcile of a [`Replicated`] owner on the shared loop
//! ([`crate::owned`]): create and delete pods towards its replicas, then
//! report status.

use super::desired::{new_pod, plan};
use super::kind::Replicated;
use crate::owned::Owned;
use informer::cache::Key;
use informer::reconcile::Action;
use k8s_openapi::api::core::v1::Pod;

pub async fn reconcile<K: Replicated>(state: &mut Owned<K>, key: &Key) -> Result<Action, kube::Error> {
    let Some(rs) = state.owners.get(key).cloned() else { return Ok(Action::await_change()) };
    let pods = state.pods_of(&rs);
    let refs: Vec<&Pod> = pods.iter().collect();
    let step = plan(rs.as_ref(), &refs, jiff::Timestamp::now().as_second());
    for _ in 0..step.create {
        state.create_pod(&rs, &new_pod(rs.as_ref()), |name| format!("Created pod: {name}")).await?;
    }
    for name in &step.delete {
        state.delete_pod(&rs, name, format!("Deleted pod: {name}")).await?;
    }
    // Report what the pods are now (after this step's writes).
    let pods = state.pods_of(&rs);
    let refs: Vec<&Pod> = pods.iter().collect();
    let now = plan(rs.as_ref(), &refs, jiff::Timestamp::now().as_second());
    let mut updated = rs.as_ref().clone();
    updated.set_replica_status(now.status);
    state.write_status(&rs, updated).await?;
    Ok(now.recheck.map_or_else(Action::await_change, Action::requeue))
}
