//! The loop around [`super::desired`]: watch Deployments and ReplicaSets;
//! for each Deployment that changed (or whose ReplicaSets did), write one
//! pass of the plan: create, scale and prune ReplicaSets, record
//! `ScalingReplicaSet` events, set the revision, report status. Also the
//! garbage collector for ReplicaSets whose Deployment is gone.

use super::desired::{plan, same_status};
use super::replicasets::controlled_by;
use crate::events::{record, reference};
use crate::garbage;
use api::well_known::REVISION_ANNOTATION;
use futures_util::stream;
use informer::cache::{key_of, watch, Cache, Key};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::time::SystemTime;

const COMPONENT: &str = "deployment-controller";

enum Watched {
    Deployment(Box<watcher::Event<Deployment>>),
    ReplicaSet(Box<watcher::Event<ReplicaSet>>),
}

/// What one reconcile looks at. Orphans sort first: garbage is collected
/// before the Deployments of the same pass are reconciled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// A ReplicaSet whose Deployment may be gone.
    Orphan(Key),
    Deployment(Key),
}

struct State {
    client: Client,
    deployments: Cache<Deployment>,
    replica_sets: Cache<ReplicaSet>,
}

impl State {
    fn owned(&self, d: &Deployment) -> Vec<ReplicaSet> {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        self.replica_sets
            .in_namespace(&ns)
            .filter(|rs| controlled_by(&rs.metadata, d.metadata.uid.as_deref()))
            .map(|rs| rs.as_ref().clone())
            .collect()
    }
}

impl Reconciler for State {
    type Event = Watched;
    type Key = Work;
    type Error = kube::Error;
    const NAME: &'static str = "deployment";

    fn on_event(&mut self, event: Watched) -> Vec<Work> {
        let mut touched = Vec::new();
        match event {
            Watched::Deployment(ev) => {
                for (old, new) in self.deployments.apply(*ev) {
                    match (old, new) {
                        (_, Some(d)) => touched.push(Work::Deployment(key_of(d.as_ref()))),
                        // Gone: its ReplicaSets are now garbage.
                        (Some(d), None) => touched.extend(self.owned(&d).iter().map(|rs| Work::Orphan(key_of(rs)))),
                        (None, None) => {}
                    }
                }
            }
            Watched::ReplicaSet(ev) => {
                for (old, new) in self.replica_sets.apply(*ev) {
                    for rs in [old, new].into_iter().flatten() {
                        if let Some(owner) = garbage::owner_key(&rs.metadata, "Deployment") {
                            touched.push(Work::Deployment(owner));
                            touched.push(Work::Orphan(key_of(rs.as_ref())));
                        }
                    }
                }
            }
        }
        touched
    }

    fn synced(&self) -> bool {
        self.deployments.synced && self.replica_sets.synced
    }

    async fn reconcile(&mut self, work: &Work, _since: SystemTime) -> Result<Action, kube::Error> {
        let client = self.client.clone();
        match work {
            Work::Orphan(key) => {
                garbage::collect(&client, &mut self.replica_sets, &self.deployments, "Deployment", key).await
            }
            Work::Deployment(key) => reconcile(&client, self, key).await,
        }
        .map(|()| Action::await_change())
    }
}

/// Runs the deployment controller and the ReplicaSet garbage collector.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let events = stream::select_all([
        watch(Api::<Deployment>::all(client.clone()), watcher::Config::default(), Watched::Deployment),
        watch(Api::<ReplicaSet>::all(client.clone()), watcher::Config::default(), Watched::ReplicaSet),
    ]);
    let mut state = State { client, deployments: Cache::default(), replica_sets: Cache::default() };
    informer::reconcile::run(&mut state, events, DEFAULT_BACKOFF, shutdown).await;
}

/// Now, to the second (what the API keeps of a condition's time).
fn now() -> Time {
    let t = jiff::Timestamp::now();
    Time(jiff::Timestamp::from_second(t.as_second()).unwrap_or(t))
}

async fn reconcile(client: &Client, state: &mut State, key: &Key) -> Result<(), kube::Error> {
    let Some(deploy) = state.deployments.get(key).cloned() else { return Ok(()) };
    let owned = state.owned(&deploy);
    let refs: Vec<&ReplicaSet> = owned.iter().collect();
    let taken = |name: &str| state.replica_sets.get(&(key.0.clone(), name.to_string())).is_some();
    let step = plan(&deploy, &refs, taken, &now());
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), &key.0);
    let say =
        |message: String| record(client, reference(deploy.as_ref()), false, "ScalingReplicaSet", message, COMPONENT);

    if let Some(rs) = &step.create {
        match rs_api.create(&PostParams::default(), rs).await {
            // Seen at once, so the next decision counts it (never created twice).
            Ok(made) => state.replica_sets.write_through(made),
            // Our cache is behind: its watch event brings it, and another pass.
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    for rs in &step.update {
        let name = rs.metadata.name.clone().unwrap_or_default();
        match rs_api.replace(&name, &PostParams::default(), rs).await {
            Ok(rs) => state.replica_sets.write_through(rs),
            // Stale: the watch brings the newer ReplicaSet and another pass.
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    for message in &step.events {
        say(message.clone()).await;
    }
    for name in &step.delete {
        match rs_api.delete(name, &DeleteParams::background()).await {
            Ok(_) => state.replica_sets.forget(&(key.0.clone(), name.clone())),
            Err(kube::Error::Api(s)) if s.code == 404 => state.replica_sets.forget(&(key.0.clone(), name.clone())),
            Err(e) => return Err(e),
        }
    }
    let api: Api<Deployment> = Api::namespaced(client.clone(), &key.0);
    let mut current = deploy.as_ref().clone();
    if let Some(revision) = &step.revision {
        // Metadata only: no new generation, so `rollout status` is not reset.
        let patch = serde_json::json!({ "metadata": { "annotations": { REVISION_ANNOTATION: revision } } });
        match api.patch(&key.1, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(d) => current = d,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    if !same_status(deploy.status.as_ref(), &step.status) {
        current.status = Some(step.status);
        match api.replace_status(&key.1, &PostParams::default(), &current).await {
            Ok(d) => state.deployments.write_through(d),
            // Stale: the watch brings the newer Deployment and marks it dirty again.
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
            Err(e) => return Err(e),
        }
    } else if step.revision.is_some() {
        state.deployments.write_through(current);
    }
    Ok(())
}
