//! One reconcile of a StatefulSet on the shared loop ([`crate::owned`]):
//! the step [`super::desired::plan`] says, then the status. Events in
//! upstream's words: `create Pod web-0 in StatefulSet web successful`.

use super::desired::{new_pod, plan, status, update_revision};
use crate::owned::{Owned, Owner};
use informer::cache::Key;
use informer::reconcile::Action;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

impl Owner for StatefulSet {
    type Child = Pod;
    const CONTROLLER: &'static str = "statefulset";
    const COMPONENT: &'static str = "statefulset-controller";

    async fn reconcile(state: &mut Owned<Self>, key: &Key) -> Result<Action, kube::Error> {
        let Some(set) = state.owners.get(key).cloned() else { return Ok(Action::await_change()) };
        let name = set.metadata.name.clone().unwrap_or_default();
        let pods = state.children_of(&set);
        let step = plan(&set, &pods.iter().collect::<Vec<&Pod>>());
        let revision = update_revision(&set);
        for n in step.create {
            let message = |pod: &str| format!("create Pod {pod} in StatefulSet {name} successful");
            state.create(&set, &new_pod(&set, n, &revision), message).await?;
        }
        for pod in step.delete {
            state.delete(&set, &pod, format!("delete Pod {pod} in StatefulSet {name} successful")).await?;
        }
        let pods = state.children_of(&set);
        let mut updated = set.as_ref().clone();
        updated.status = Some(status(&set, &pods.iter().collect::<Vec<&Pod>>()));
        state.write_status(&set, updated).await?;
        Ok(Action::await_change())
    }
}
