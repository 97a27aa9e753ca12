//! The loop around [`super::desired`]: watch Deployments and Pods; for each
//! Deployment that changed (or whose pods did), create and delete pods one
//! step towards the plan and report status. Also the garbage collector for
//! pods: a pod whose owning Deployment is gone is deleted (background
//! propagation), including after a controller restart.

use super::desired::{new_pod, owned_by, plan, same_status};
use crate::events::{record, reference};
use futures_util::{stream, FutureExt, StreamExt};
use informer::cache::{key_of, watch, Cache, Key};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::collections::BTreeSet;
use std::time::Duration;

const COMPONENT: &str = "deployment-controller";

enum Watched {
    Deployment(Box<watcher::Event<Deployment>>),
    Pod(Box<watcher::Event<Pod>>),
}

#[derive(Default)]
struct State {
    deployments: Cache<Deployment>,
    pods: Cache<Pod>,
    dirty: BTreeSet<Key>,
    /// Pods whose owner may be gone: the garbage collector looks at them.
    orphans: BTreeSet<Key>,
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
    fn on_event(&mut self, event: Watched) {
        match event {
            Watched::Deployment(ev) => {
                for (old, new) in self.deployments.apply(*ev) {
                    match (old, new) {
                        (_, Some(d)) => {
                            self.dirty.insert(key_of(d.as_ref()));
                        }
                        // Gone: its pods are now garbage.
                        (Some(d), None) => {
                            let pods: Vec<Key> = self.pods_of(&d).iter().map(key_of).collect();
                            self.orphans.extend(pods);
                        }
                        (None, None) => {}
                    }
                }
            }
            Watched::Pod(ev) => {
                for (old, new) in self.pods.apply(*ev) {
                    for pod in [old, new].into_iter().flatten() {
                        if let Some(owner) = owner_key(&pod) {
                            self.dirty.insert(owner);
                            self.orphans.insert(key_of(pod.as_ref()));
                        }
                    }
                }
            }
        }
    }

    fn pods_of(&self, deploy: &Deployment) -> Vec<Pod> {
        let ns = deploy.metadata.namespace.clone().unwrap_or_default();
        self.pods.in_namespace(&ns).filter(|p| owned_by(p, deploy)).map(|p| p.as_ref().clone()).collect()
    }
}

/// Runs the deployment controller and the pod garbage collector.
pub async fn run(client: Client, shutdown: impl std::future::Future<Output = ()>) {
    let mut events = stream::select_all([
        watch(Api::<Deployment>::all(client.clone()), watcher::Config::default(), Watched::Deployment),
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
    ]);
    let mut state = State::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let event = tokio::select! {
            ev = events.next() => ev,
            _ = &mut shutdown => return,
        };
        let Some(event) = event else { return };
        state.on_event(event);
        while let Some(Some(event)) = events.next().now_or_never() {
            state.on_event(event);
        }
        if !(state.deployments.synced && state.pods.synced) {
            continue;
        }
        collect_garbage(&client, &mut state).await;
        let mut failed = false;
        for key in std::mem::take(&mut state.dirty) {
            if let Err(e) = reconcile(&client, &mut state, &key).await {
                tracing::warn!(deployment = ?key, "reconcile failed, will retry: {e}");
                state.dirty.insert(key);
                failed = true;
            }
        }
        if failed {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = &mut shutdown => return,
            }
        }
    }
}

/// Deletes pods whose owning Deployment no longer exists (by uid: a new
/// Deployment of the same name does not adopt them).
async fn collect_garbage(client: &Client, state: &mut State) {
    for key in std::mem::take(&mut state.orphans) {
        let Some(pod) = state.pods.get(&key).cloned() else { continue };
        let Some(owner) = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true) && o.kind == "Deployment")
            .cloned()
        else {
            continue;
        };
        let alive = state
            .deployments
            .get(&(key.0.clone(), owner.name.clone()))
            .is_some_and(|d| d.metadata.uid.as_deref() == Some(owner.uid.as_str()));
        if alive || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
        match api.delete(&key.1, &DeleteParams::background()).await {
            Ok(either) => {
                if let Some(p) = either.left() {
                    state.pods.write_through(p);
                } else {
                    state.pods.forget(&key);
                }
            }
            Err(kube::Error::Api(s)) if s.code == 404 => state.pods.forget(&key),
            Err(e) => {
                tracing::warn!(pod = ?key, "garbage collection: {e}");
                state.orphans.insert(key);
            }
        }
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
