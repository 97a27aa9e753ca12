//! The loop around [`super::desired`]: watch ReplicaSets and Pods; for each
//! ReplicaSet that changed (or whose pods did), create and delete pods
//! towards its replicas and report status. Also the garbage collector for
//! pods whose ReplicaSet is gone (background propagation), including after
//! a controller restart.

use super::desired::{new_pod, plan};
use crate::deployment::replicasets::controlled_by;
use crate::events::{record, reference};
use crate::garbage;
use futures_util::stream;
use informer::cache::{key_of, watch, Cache, Key};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::time::SystemTime;

const COMPONENT: &str = "replicaset-controller";

enum Watched {
    ReplicaSet(Box<watcher::Event<ReplicaSet>>),
    Pod(Box<watcher::Event<Pod>>),
}

/// Orphans sort first: garbage goes before the ReplicaSets of the same pass.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// A pod whose ReplicaSet may be gone.
    Orphan(Key),
    ReplicaSet(Key),
}

struct State {
    client: Client,
    replica_sets: Cache<ReplicaSet>,
    pods: Cache<Pod>,
}

impl State {
    fn pods_of(&self, rs: &ReplicaSet) -> Vec<Pod> {
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        self.pods
            .in_namespace(&ns)
            .filter(|p| controlled_by(&p.metadata, rs.metadata.uid.as_deref()))
            .map(|p| p.as_ref().clone())
            .collect()
    }
}

impl Reconciler for State {
    type Event = Watched;
    type Key = Work;
    type Error = kube::Error;
    const NAME: &'static str = "replicaset";

    fn on_event(&mut self, event: Watched) -> Vec<Work> {
        let mut touched = Vec::new();
        match event {
            Watched::ReplicaSet(ev) => {
                for (old, new) in self.replica_sets.apply(*ev) {
                    match (old, new) {
                        (_, Some(rs)) => touched.push(Work::ReplicaSet(key_of(rs.as_ref()))),
                        (Some(rs), None) => touched.extend(self.pods_of(&rs).iter().map(|p| Work::Orphan(key_of(p)))),
                        (None, None) => {}
                    }
                }
            }
            Watched::Pod(ev) => {
                for (old, new) in self.pods.apply(*ev) {
                    for pod in [old, new].into_iter().flatten() {
                        if let Some(owner) = garbage::owner_key(&pod.metadata, "ReplicaSet") {
                            touched.push(Work::ReplicaSet(owner));
                            touched.push(Work::Orphan(key_of(pod.as_ref())));
                        }
                    }
                }
            }
        }
        touched
    }

    fn synced(&self) -> bool {
        self.replica_sets.synced && self.pods.synced
    }

    async fn reconcile(&mut self, work: &Work, _since: SystemTime) -> Result<Action, kube::Error> {
        let client = self.client.clone();
        match work {
            Work::Orphan(key) => garbage::collect(&client, &mut self.pods, &self.replica_sets, "ReplicaSet", key)
                .await
                .map(|()| Action::await_change()),
            Work::ReplicaSet(key) => reconcile(&client, self, key).await,
        }
    }
}

/// Runs the ReplicaSet controller and the pod garbage collector.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let events = stream::select_all([
        watch(Api::<ReplicaSet>::all(client.clone()), watcher::Config::default(), Watched::ReplicaSet),
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
    ]);
    let mut state = State { client, replica_sets: Cache::default(), pods: Cache::default() };
    informer::reconcile::run(&mut state, events, DEFAULT_BACKOFF, shutdown).await;
}

async fn reconcile(client: &Client, state: &mut State, key: &Key) -> Result<Action, kube::Error> {
    let Some(rs) = state.replica_sets.get(key).cloned() else { return Ok(Action::await_change()) };
    if rs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let pods = state.pods_of(&rs);
    let refs: Vec<&Pod> = pods.iter().collect();
    let step = plan(&rs, &refs, jiff::Timestamp::now().as_second());
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
    let event = |reason: &'static str, message: String| {
        record(client, reference(rs.as_ref()), false, reason, message, COMPONENT)
    };
    for _ in 0..step.create {
        let made = pods_api.create(&PostParams::default(), &new_pod(&rs)).await?;
        event("SuccessfulCreate", format!("Created pod: {}", made.metadata.name.clone().unwrap_or_default())).await;
        // Seen at once, so the next decision counts it (no duplicate pods).
        state.pods.write_through(made);
    }
    for name in &step.delete {
        match pods_api.delete(name, &DeleteParams::default()).await {
            Ok(either) => {
                match either.left() {
                    Some(p) => state.pods.write_through(p),
                    None => state.pods.forget(&(key.0.clone(), name.clone())),
                }
                event("SuccessfulDelete", format!("Deleted pod: {name}")).await;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => state.pods.forget(&(key.0.clone(), name.clone())),
            Err(e) => return Err(e),
        }
    }
    // Report what the pods are now (after this step's writes).
    let pods = state.pods_of(&rs);
    let refs: Vec<&Pod> = pods.iter().collect();
    let now = plan(&rs, &refs, jiff::Timestamp::now().as_second());
    if rs.status.as_ref() != Some(&now.status) {
        let mut updated = rs.as_ref().clone();
        updated.status = Some(now.status);
        let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &key.0);
        match api.replace_status(&key.1, &PostParams::default(), &updated).await {
            Ok(r) => state.replica_sets.write_through(r),
            // Stale or gone: the watch brings the news and another pass.
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(now.recheck.map_or_else(Action::await_change, Action::requeue))
}
