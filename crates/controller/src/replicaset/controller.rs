//! The loop around [`super::desired`], for either [`Replicated`] kind: watch
//! the owners and Pods; for each owner that changed (or whose pods did),
//! create and delete pods towards its replicas and report status. Also the
//! garbage collector for pods whose owner is gone (background propagation),
//! including after a controller restart.

use super::desired::{new_pod, plan};
use super::kind::Replicated;
use crate::deployment::replicasets::controlled_by;
use crate::events::{record, reference};
use crate::garbage;
use futures_util::stream;
use informer::cache::{key_of, watch, Cache, Key};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::time::SystemTime;

enum Watched<K> {
    Owner(Box<watcher::Event<K>>),
    Pod(Box<watcher::Event<Pod>>),
}

/// Orphans sort first: garbage goes before the owners of the same pass.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// A pod whose owner may be gone.
    Orphan(Key),
    Owner(Key),
}

struct State<K> {
    client: Client,
    owners: Cache<K>,
    pods: Cache<Pod>,
}

impl<K: Replicated> State<K> {
    fn pods_of(&self, rs: &K) -> Vec<Pod> {
        let ns = rs.meta().namespace.clone().unwrap_or_default();
        self.pods
            .in_namespace(&ns)
            .filter(|p| controlled_by(&p.metadata, rs.meta().uid.as_deref()))
            .map(|p| p.as_ref().clone())
            .collect()
    }
}

impl<K: Replicated> Reconciler for State<K> {
    type Event = Watched<K>;
    type Key = Work;
    type Error = kube::Error;
    const NAME: &'static str = K::CONTROLLER;

    fn on_event(&mut self, event: Watched<K>) -> Vec<Work> {
        let mut touched = Vec::new();
        match event {
            Watched::Owner(ev) => {
                for (old, new) in self.owners.apply(*ev) {
                    match (old, new) {
                        (_, Some(rs)) => touched.push(Work::Owner(key_of(rs.as_ref()))),
                        (Some(rs), None) => touched.extend(self.pods_of(&rs).iter().map(|p| Work::Orphan(key_of(p)))),
                        (None, None) => {}
                    }
                }
            }
            Watched::Pod(ev) => {
                for (old, new) in self.pods.apply(*ev) {
                    for pod in [old, new].into_iter().flatten() {
                        if let Some(owner) = garbage::owner_key(&pod.metadata, &K::kind(&())) {
                            touched.push(Work::Owner(owner));
                            touched.push(Work::Orphan(key_of(pod.as_ref())));
                        }
                    }
                }
            }
        }
        touched
    }

    fn synced(&self) -> bool {
        self.owners.synced && self.pods.synced
    }

    async fn reconcile(&mut self, work: &Work, _since: SystemTime) -> Result<Action, kube::Error> {
        let client = self.client.clone();
        match work {
            Work::Orphan(key) => garbage::collect(&client, &mut self.pods, &self.owners, &K::kind(&()), key)
                .await
                .map(|()| Action::await_change()),
            Work::Owner(key) => reconcile(&client, self, key).await,
        }
    }
}

/// Runs the controller of `K` (ReplicaSets, or ReplicationControllers) and
/// the garbage collector of their pods.
pub async fn run<K: Replicated>(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let events = stream::select_all([
        watch(Api::<K>::all(client.clone()), watcher::Config::default(), Watched::Owner),
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
    ]);
    let mut state = State::<K> { client, owners: Cache::default(), pods: Cache::default() };
    informer::reconcile::run(&mut state, events, DEFAULT_BACKOFF, shutdown).await;
}

async fn reconcile<K: Replicated>(client: &Client, state: &mut State<K>, key: &Key) -> Result<Action, kube::Error> {
    let Some(rs) = state.owners.get(key).cloned() else { return Ok(Action::await_change()) };
    if rs.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let pods = state.pods_of(&rs);
    let refs: Vec<&Pod> = pods.iter().collect();
    let step = plan(rs.as_ref(), &refs, jiff::Timestamp::now().as_second());
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
    let event = |reason: &'static str, message: String| {
        record(client, reference(rs.as_ref()), false, reason, message, K::COMPONENT)
    };
    for _ in 0..step.create {
        let made = pods_api.create(&PostParams::default(), &new_pod(rs.as_ref())).await?;
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
    let now = plan(rs.as_ref(), &refs, jiff::Timestamp::now().as_second());
    if rs.replica_status().as_ref() != Some(&now.status) {
        let mut updated = rs.as_ref().clone();
        updated.set_replica_status(now.status);
        let api: Api<K> = Api::namespaced(client.clone(), &key.0);
        match api.replace_status(&key.1, &PostParams::default(), &updated).await {
            Ok(r) => state.owners.write_through(r),
            // Stale or gone: the watch brings the news and another pass.
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(now.recheck.map_or_else(Action::await_change, Action::requeue))
}
