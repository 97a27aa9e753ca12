//! One reconcile of a StatefulSet on the shared loop ([`crate::owned`]):
//! its ControllerRevisions ([`super::revisions`], listed from the apiserver
//! each time rather than watched: one small list per reconcile), the step
//! [`super::desired::plan`] says, then the status. Events in upstream's
//! words: `create Pod web-0 in StatefulSet web successful`.

use super::desired::{new_pod, plan, status, update_revision};
use super::revisions::history;
use crate::deployment::replicasets::controlled_by;
use crate::owned::{Owned, Owner};
use informer::cache::Key;
use informer::reconcile::Action;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

impl Owner for StatefulSet {
    type Child = Pod;
    const CONTROLLER: &'static str = "statefulset";
    const COMPONENT: &'static str = "statefulset-controller";

    async fn reconcile(state: &mut Owned<Self>, key: &Key) -> Result<Action, kube::Error> {
        let Some(set) = state.owners.get(key).cloned() else { return Ok(Action::await_change()) };
        let name = set.metadata.name.clone().unwrap_or_default();
        let pods = state.children_of(&set);
        sync_revisions(state, &set, &pods).await?;
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

/// Creates, renumbers and deletes the set's ControllerRevisions as
/// [`history`] says.
async fn sync_revisions(state: &Owned<StatefulSet>, set: &StatefulSet, pods: &[Pod]) -> Result<(), kube::Error> {
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let api: Api<ControllerRevision> = Api::namespaced(state.client.clone(), &ns);
    let all = api.list(&ListParams::default()).await?.items;
    let mine: Vec<&ControllerRevision> =
        all.iter().filter(|r| controlled_by(&r.metadata, set.metadata.uid.as_deref())).collect();
    let step = history(set, &mine, &pods.iter().collect::<Vec<&Pod>>());
    let ok_if =
        |code: u16| move |e: kube::Error| matches!(&e, kube::Error::Api(s) if s.code == code).then_some(()).ok_or(e);
    if let Some(r) = &step.create {
        api.create(&PostParams::default(), r).await.map(drop).or_else(ok_if(409))?;
    }
    if let Some((name, number)) = &step.renumber {
        let patch = Patch::Merge(serde_json::json!({ "revision": number }));
        api.patch(name, &PatchParams::default(), &patch).await.map(drop).or_else(ok_if(404))?;
    }
    for name in &step.delete {
        api.delete(name, &DeleteParams::default()).await.map(drop).or_else(ok_if(404))?;
    }
    Ok(())
}
