//! The one loop of the controllers that own pods (ReplicaSets,
//! ReplicationControllers, StatefulSets, DaemonSets, Jobs): watch the owners
//! and the Pods (and the Nodes, for a DaemonSet); an owner that changed, or
//! whose pods did, is reconciled by its kind's [`PodOwner::reconcile`]; a pod
//! whose owner is gone is collected ([`crate::garbage`]), also after a
//! controller restart. The kinds differ only in that one function.

use crate::deployment::replicasets::controlled_by;
use crate::events::{record, reference};
use crate::garbage;
use futures_util::stream::{self, BoxStream};
use informer::cache::{key_of, watch, Cache, Key};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::future::Future;
use std::time::SystemTime;

/// A kind whose controller makes pods.
pub trait PodOwner:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + PartialEq
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The name in `--controllers` and in logs.
    const CONTROLLER: &'static str;
    /// The events' source, as upstream's.
    const COMPONENT: &'static str;
    /// Whether the owners follow the Nodes too (a DaemonSet: one pod per node).
    const WATCHES_NODES: bool = false;

    /// Brings the owner at `key` (in `state.owners`) to its desired state.
    fn reconcile(state: &mut Owned<Self>, key: &Key) -> impl Future<Output = Result<Action, kube::Error>> + Send;
}

pub enum Watched<K> {
    Owner(Box<watcher::Event<K>>),
    Pod(Box<watcher::Event<Pod>>),
    Node(Box<watcher::Event<Node>>),
}

/// Orphans sort first: garbage goes before the owners of the same pass.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Work {
    /// A pod whose owner may be gone.
    Orphan(Key),
    Owner(Key),
}

/// The caches and the client one reconcile works from.
pub struct Owned<K> {
    pub client: Client,
    pub owners: Cache<K>,
    pub pods: Cache<Pod>,
    /// Empty (and synced) unless [`PodOwner::WATCHES_NODES`].
    pub nodes: Cache<Node>,
}

impl<K: PodOwner> Owned<K> {
    /// The pods `owner` controls (by uid: a namesake's pods are not its own).
    pub fn pods_of(&self, owner: &K) -> Vec<Pod> {
        let ns = owner.meta().namespace.clone().unwrap_or_default();
        self.pods
            .in_namespace(&ns)
            .filter(|p| controlled_by(&p.metadata, owner.meta().uid.as_deref()))
            .map(|p| p.as_ref().clone())
            .collect()
    }

    /// Creates `pod` for `owner` and records `SuccessfulCreate` with the
    /// message `message` makes of the new pod's name. The cache sees the pod at
    /// once, so the next decision counts it (no duplicate pods).
    pub async fn create_pod(
        &mut self,
        owner: &K,
        pod: &Pod,
        message: impl Fn(&str) -> String,
    ) -> Result<(), kube::Error> {
        let ns = owner.meta().namespace.clone().unwrap_or_default();
        let made = Api::<Pod>::namespaced(self.client.clone(), &ns).create(&PostParams::default(), pod).await?;
        let name = made.metadata.name.clone().unwrap_or_default();
        self.event(owner, false, "SuccessfulCreate", message(&name)).await;
        self.pods.write_through(made);
        Ok(())
    }

    /// Deletes the pod `name` of `owner`, recording `SuccessfulDelete` with `message`.
    pub async fn delete_pod(&mut self, owner: &K, name: &str, message: String) -> Result<(), kube::Error> {
        let ns = owner.meta().namespace.clone().unwrap_or_default();
        match Api::<Pod>::namespaced(self.client.clone(), &ns).delete(name, &DeleteParams::default()).await {
            Ok(either) => {
                match either.left() {
                    Some(p) => self.pods.write_through(p),
                    None => self.pods.forget(&(ns, name.to_string())),
                }
                self.event(owner, false, "SuccessfulDelete", message).await;
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                self.pods.forget(&(ns, name.to_string()));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `updated`'s status if it differs from `current`'s copy.
    pub async fn write_status(&mut self, current: &K, updated: K) -> Result<(), kube::Error> {
        if serde_json::to_value(current).ok() == serde_json::to_value(&updated).ok() {
            return Ok(());
        }
        let (ns, name) = key_of(current);
        let api: Api<K> = Api::namespaced(self.client.clone(), &ns);
        match api.replace_status(&name, &PostParams::default(), &updated).await {
            Ok(r) => self.owners.write_through(r),
            // Stale or gone: the watch brings the news and another pass.
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Records an event about `owner`, from its controller.
    pub async fn event(&self, owner: &K, warning: bool, reason: &str, message: String) {
        record(&self.client, reference(owner), warning, reason, message, K::COMPONENT).await;
    }
}

impl<K: PodOwner> Reconciler for Owned<K> {
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
                        (_, Some(o)) => touched.push(Work::Owner(key_of(o.as_ref()))),
                        (Some(o), None) => touched.extend(self.pods_of(&o).iter().map(|p| Work::Orphan(key_of(p)))),
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
            // A node joined, left or changed: every owner may want a pod there.
            Watched::Node(ev) => {
                if !self.nodes.apply(*ev).is_empty() {
                    touched.extend(self.owners.values().map(|o| Work::Owner(key_of(o.as_ref()))));
                }
            }
        }
        touched
    }

    fn synced(&self) -> bool {
        self.owners.synced && self.pods.synced && self.nodes.synced
    }

    async fn reconcile(&mut self, work: &Work, _since: SystemTime) -> Result<Action, kube::Error> {
        match work {
            Work::Orphan(key) => {
                let client = self.client.clone();
                garbage::collect(&client, &mut self.pods, &self.owners, &K::kind(&()), key).await?;
                Ok(Action::await_change())
            }
            Work::Owner(key) => match self.owners.get(key) {
                Some(o) if o.meta().deletion_timestamp.is_none() => K::reconcile(self, key).await,
                _ => Ok(Action::await_change()),
            },
        }
    }
}

/// Runs the controller of `K` and the garbage collector of its pods.
pub async fn run<K: PodOwner>(client: Client, shutdown: impl Future<Output = ()>) {
    let mut watches: Vec<BoxStream<'static, Watched<K>>> = vec![
        watch(Api::<K>::all(client.clone()), watcher::Config::default(), Watched::Owner),
        watch(Api::<Pod>::all(client.clone()), watcher::Config::default(), Watched::Pod),
    ];
    let mut nodes = Cache::default();
    if K::WATCHES_NODES {
        watches.push(watch(Api::<Node>::all(client.clone()), watcher::Config::default(), Watched::Node));
    } else {
        nodes.synced = true;
    }
    let mut state = Owned::<K> { client, owners: Cache::default(), pods: Cache::default(), nodes };
    informer::reconcile::run(&mut state, stream::select_all(watches), DEFAULT_BACKOFF, shutdown).await;
}
