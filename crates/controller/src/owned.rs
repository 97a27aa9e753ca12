//! The one loop of the controllers that own pods (ReplicaSets,
//! ReplicationControllers, StatefulSets, DaemonSets, Jobs) or Jobs
//! (CronJobs): watch the owners and what they own (and the Nodes, for a
//! DaemonSet); an owner that changed, or whose children did, is reconciled
//! by its kind's [`Owner::reconcile`]; a child whose owner is gone is
//! collected ([`crate::garbage`]), also after a controller restart. The
//! kinds differ only in that one function.

use crate::deployment::replicasets::controlled_by;
use crate::events::{record, reference};
use crate::garbage;
use futures_util::stream::{self, BoxStream};
use informer::cache::{key_of, watch, Cache, Key};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::future::Future;
use std::time::SystemTime;

/// What an owner's controller makes (a Pod, a Job).
pub trait Child:
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
}

impl<K> Child for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + PartialEq
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static
{
}

/// A kind whose controller makes children (pods, or Jobs).
pub trait Owner: Child {
    type Child: Child;

    /// The name in `--controllers` and in logs.
    const CONTROLLER: &'static str;
    /// The events' source, as upstream's.
    const COMPONENT: &'static str;
    /// Whether the owners follow the Nodes too (a DaemonSet: one pod per node).
    const WATCHES_NODES: bool = false;

    /// Brings the owner at `key` (in `state.owners`) to its desired state.
    fn reconcile(state: &mut Owned<Self>, key: &Key) -> impl Future<Output = Result<Action, kube::Error>> + Send;
}

pub enum Watched<K: Owner> {
    Owner(Box<watcher::Event<K>>),
    Child(Box<watcher::Event<K::Child>>),
    Node(Box<watcher::Event<Node>>),
}

/// Orphans sort first: garbage goes before the owners of the same pass.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Work {
    /// A child whose owner may be gone.
    Orphan(Key),
    Owner(Key),
}

/// The caches and the client one reconcile works from.
pub struct Owned<K: Owner> {
    pub client: Client,
    pub owners: Cache<K>,
    pub children: Cache<K::Child>,
    /// Empty (and synced) unless [`PodOwner::WATCHES_NODES`].
    pub nodes: Cache<Node>,
}

impl<K: Owner> Owned<K> {
    /// The children `owner` controls (by uid: a namesake's are not its own).
    pub fn children_of(&self, owner: &K) -> Vec<K::Child> {
        let ns = owner.meta().namespace.clone().unwrap_or_default();
        self.children
            .in_namespace(&ns)
            .filter(|p| controlled_by(p.meta(), owner.meta().uid.as_deref()))
            .map(|p| p.as_ref().clone())
            .collect()
    }

    /// Creates `child` for `owner` and records `SuccessfulCreate` with the
    /// message `message` makes of the new child's name. The cache sees it at
    /// once, so the next decision counts it (no duplicate pods).
    pub async fn create(
        &mut self,
        owner: &K,
        child: &K::Child,
        message: impl Fn(&str) -> String,
    ) -> Result<(), kube::Error> {
        let ns = owner.meta().namespace.clone().unwrap_or_default();
        let made = Api::<K::Child>::namespaced(self.client.clone(), &ns).create(&PostParams::default(), child).await?;
        let name = made.meta().name.clone().unwrap_or_default();
        self.event(owner, false, "SuccessfulCreate", message(&name)).await;
        self.children.write_through(made);
        Ok(())
    }

    /// Deletes the child `name` of `owner` (its own children in the
    /// background), recording `SuccessfulDelete` with `message`.
    pub async fn delete(&mut self, owner: &K, name: &str, message: String) -> Result<(), kube::Error> {
        let ns = owner.meta().namespace.clone().unwrap_or_default();
        match Api::<K::Child>::namespaced(self.client.clone(), &ns).delete(name, &DeleteParams::background()).await {
            Ok(either) => {
                match either.left() {
                    Some(p) => self.children.write_through(p),
                    None => self.children.forget(&(ns, name.to_string())),
                }
                self.event(owner, false, "SuccessfulDelete", message).await;
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                self.children.forget(&(ns, name.to_string()));
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

impl<K: Owner> Reconciler for Owned<K> {
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
                        (Some(o), None) => touched.extend(self.children_of(&o).iter().map(|p| Work::Orphan(key_of(p)))),
                        (None, None) => {}
                    }
                }
            }
            Watched::Child(ev) => {
                for (old, new) in self.children.apply(*ev) {
                    for pod in [old, new].into_iter().flatten() {
                        if let Some(owner) = garbage::owner_key(pod.meta(), &K::kind(&())) {
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
        self.owners.synced && self.children.synced && self.nodes.synced
    }

    async fn reconcile(&mut self, work: &Work, _since: SystemTime) -> Result<Action, kube::Error> {
        match work {
            Work::Orphan(key) => {
                let client = self.client.clone();
                garbage::collect(&client, &mut self.children, &self.owners, &K::kind(&()), key).await?;
                Ok(Action::await_change())
            }
            Work::Owner(key) => match self.owners.get(key) {
                Some(o) if o.meta().deletion_timestamp.is_none() => K::reconcile(self, key).await,
                _ => Ok(Action::await_change()),
            },
        }
    }
}

/// Runs the controller of `K` and the garbage collector of its children.
pub async fn run<K: Owner>(client: Client, shutdown: impl Future<Output = ()>) {
    let mut watches: Vec<BoxStream<'static, Watched<K>>> = vec![
        watch(Api::<K>::all(client.clone()), watcher::Config::default(), Watched::Owner),
        watch(Api::<K::Child>::all(client.clone()), watcher::Config::default(), Watched::Child),
    ];
    let mut nodes = Cache::default();
    if K::WATCHES_NODES {
        watches.push(watch(Api::<Node>::all(client.clone()), watcher::Config::default(), Watched::Node));
    } else {
        nodes.synced = true;
    }
    let mut state = Owned::<K> { client, owners: Cache::default(), children: Cache::default(), nodes };
    informer::reconcile::run(&mut state, stream::select_all(watches), DEFAULT_BACKOFF, shutdown).await;
}
