//! The loop around [`super::desired`]: watch Deployments and Pods; for each
//! Deployment that changed (or whose pods did), create and delete pods one
//! step towards the plan and report status. Also the garbage collector for
//! pods: a pod whose owning Deployment is gone is deleted (background
//! propagation), including after a controller restart.

use super::desired::{new_pod, owned_by, plan, same_status};
use crate::events::{record, reference};
use futures_util::stream;
use informer::cache::{key_of, watch, Cache, Key};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::time::SystemTime;

const COMPONENT: &str = "deployment-controller";

enum Watched {
    Deployment(Box<watcher::Event<Deployment>>),
    Pod(Box<watcher::Event<Pod>>),
}

/// What one reconcile looks at. Orphans sort first: garbage is collected
/// before the Deployments of the same pass are reconciled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// A pod whose owner may be gone: the garbage collector looks at it.
    Orphan(Key),
    Deployment(Key),
}

struct State {
    client: Client,
    deployments: Cache<Deployment>,
    pods: Cache<Pod>,
}

/// The Deployment controlling `pod`, by owner reference.
fn owner_key(pod: &Pod) -> Option<Key> {
    let owner = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "Deployment")?;
    Some((pod.metadata.namespace.clone().unwrap_or_default(), owner.name.clone()))
}

impl State {
    fn pods_of(&self, deploy: &Deployment) -> Vec<Pod> {
        let ns = deploy.metadata.namespace.clone().unwrap_or_default();
        self.pods.in_namespace(&ns).filter(|p| owned_by(p, deploy)).map(|p| p.as_ref().clone()).collect()
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
                        // Gone: its pods are now garbage.
                        (Some(d), None) => touched.extend(self.pods_of(&d).iter().map(|p| Work::Orphan(key_of(p)))),
                        (None, None) => {}
                    }
                }
            }
            Watched::Pod(ev) => {
                for (old, new) in self.pods.apply(*ev) {
                    for pod in [old, new].into_iter().flatten() {
                        if let Some(owner) = owner_key(&pod) {
                            touched.push(Work::Deployment(owner));
                            touched.push(Work::Orphan(key_of(pod.as_ref())));
                        }
                    }
                }
            }
        }
        touched
    }

    fn synced(&self) -> bool {
        self.deployments.synced && self.pods.synced
    }

    async fn reconcile(&mut self, work: &Work, _since: SystemTime) -> Result<Action, kube::Error> {
        let client = self.client.clone();
        match work {
            Work::Orphan(key) => collect_garbage(&client, self, key).await,
            Work::Deployment(key) => reconcile(&client, self, key).await,
        }
        .map(|()| Action::await_change())
    }
}

/// Runs the deployment controller and the pod garbage collector.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let events = stream::select_all([
        watch(Api::<Deployment>::all(client.clone()), watcher::Config::default(), Watched::Deployment),
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
    ]);
    let mut state = State { client, deployments: Cache::default(), pods: Cache::default() };
    informer::reconcile::run(&mut state, events, DEFAULT_BACKOFF, shutdown).await;
}

/// Deletes the pod `key` if its owning Deployment no longer exists (by
/// uid: a new Deployment of the same name does not adopt it).
async fn collect_garbage(client: &Client, state: &mut State, key: &Key) -> Result<(), kube::Error> {
    let Some(pod) = state.pods.get(key).cloned() else { return Ok(()) };
    let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "Deployment")
        .cloned()
    else {
        return Ok(());
    };
    let alive = state
        .deployments
        .get(&(key.0.clone(), owner.name.clone()))
        .is_some_and(|d| d.metadata.uid.as_deref() == Some(owner.uid.as_str()));
    if alive || pod.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
    match api.delete(&key.1, &DeleteParams::background()).await {
        Ok(either) => {
            if let Some(p) = either.left() {
                state.pods.write_through(p);
            } else {
                state.pods.forget(key);
            }
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => {
            state.pods.forget(key);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

async fn reconcile(client: &Client, state: &mut State, key: &Key) -> Result<(), kube::Error> {
    let Some(deploy) = state.deployments.get(key).cloned() else { return Ok(()) };
    let pods = state.pods_of(&deploy);
    let refs: Vec<&Pod> = pods.iter().collect();
    let step = plan(&deploy, &refs);
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
    for _ in 0..step.create {
        let made = pods_api.create(&PostParams::default(), &new_pod(&deploy)).await?;
        record(
            client,
            reference(deploy.as_ref()),
            false,
            "SuccessfulCreate",
            format!("Created pod: {}", made.metadata.name.clone().unwrap_or_default()),
            COMPONENT,
        )
        .await;
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
                record(
                    client,
                    reference(deploy.as_ref()),
                    false,
                    "SuccessfulDelete",
                    format!("Deleted pod: {name}"),
                    COMPONENT,
                )
                .await;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => state.pods.forget(&(key.0.clone(), name.clone())),
            Err(e) => return Err(e),
        }
    }
    if !same_status(deploy.status.as_ref(), &step.status) {
        // Report what the pods are now (after this step's writes).
        let pods = state.pods_of(&deploy);
        let refs: Vec<&Pod> = pods.iter().collect();
        let mut status = plan(&deploy, &refs).status;
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
        for c in status.conditions.iter_mut().flatten() {
            c.last_update_time = Some(now.clone());
            c.last_transition_time = Some(now.clone());
        }
        let mut updated = deploy.as_ref().clone();
        updated.status = Some(status);
        let api: Api<Deployment> = Api::namespaced(client.clone(), &key.0);
        match api.replace_status(&key.1, &PostParams::default(), &updated).await {
            Ok(d) => state.deployments.write_through(d),
            // Stale: the watch brings the newer Deployment and marks it dirty again.
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
