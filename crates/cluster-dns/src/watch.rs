//! The API side: watch Services, EndpointSlices and Namespaces (informer's
//! reflector) and run the shared loop (`informer::reconcile`) over them.
//!
//! The index is the cache: it keeps only what DNS needs, so the objects
//! themselves are not held (informer's `Cache` would hold every Service
//! whole: most of the memory at 10,000 Services). A relist (after a restart
//! or a 410) is diffed against the index's own keys, so an object deleted
//! while the watch was down is removed too. The index counts as synced
//! once all three resources have been listed: until then a name not found
//! is SERVFAIL, and `/ready` says 503.
//!
//! How DNS fits the loop: the index is level-triggered state, and the
//! answers read it directly, so *programming is `on_event`*: an event is
//! folded into the index under the write lock the moment it arrives, and
//! the next question sees it (no reconcile stands between a Service's
//! creation and its answer). `on_event` names the Services whose answers
//! may have changed, and `reconcile` only does the bookkeeping that
//! follows: whether the name now resolves, since when and after what
//! ([`crate::programmed`], served as `/programmed`). It cannot fail.

use crate::answer::State;
use crate::index::{Index, Resource, ServiceEntry, ServiceKind, SliceEntry};
use crate::programmed::{self, Pending, Programmed};
use crate::status::{Metrics, ServiceKindLabel};
use futures_util::stream;
use informer::cache::watch;
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::Client;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

pub enum Watched {
    Service(Box<Event<Service>>),
    Slice(Box<Event<EndpointSlice>>),
    Namespace(Box<Event<Namespace>>),
}

/// One resource's relist bookkeeping.
#[derive(Default)]
struct Listing {
    /// Keys seen by the relist in progress.
    seen: Option<HashSet<(String, String)>>,
    synced: bool,
}

/// A Service: `(namespace, name)`.
pub type Key = (String, String);

/// The loop's state: the index (shared with the listeners), the relists,
/// and the triggers not yet reconciled.
pub struct Dns {
    state: Arc<RwLock<State>>,
    metrics: Arc<Metrics>,
    programmed: Programmed,
    listings: [Listing; 3],
    pending: HashMap<Key, Pending>,
}

impl Dns {
    pub fn new(state: Arc<RwLock<State>>, metrics: Arc<Metrics>, programmed: Programmed) -> Self {
        Dns { state, metrics, programmed, listings: Default::default(), pending: HashMap::new() }
    }
}

impl Reconciler for Dns {
    type Event = Watched;
    type Key = Key;
    type Error = std::convert::Infallible;
    const NAME: &'static str = "cluster-dns";

    fn on_event(&mut self, event: Watched) -> Vec<Key> {
        // One object's entries per hold of the write lock: the listeners
        // wait at most that long, and the change is answered from now on.
        let mut guard = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut touched = Touched::default();
        apply(&mut guard.index, &mut self.listings, event, &self.metrics, &mut touched);
        guard.index.synced = self.synced();
        self.metrics.ready.store(guard.index.synced, Ordering::Relaxed);
        for (key, pending) in &touched.0 {
            let p = self.pending.entry(key.clone()).or_default();
            p.created = pending.created.or(p.created);
            p.endpoints = pending.endpoints.or(p.endpoints);
        }
        touched.0.into_iter().map(|(k, _)| k).collect()
    }

    fn synced(&self) -> bool {
        self.listings.iter().all(|l| l.synced)
    }

    async fn reconcile(&mut self, key: &Key, since: SystemTime) -> Result<Action, Self::Error> {
        let (resolvable, headless) = {
            let guard = self.state.read().unwrap_or_else(|e| e.into_inner());
            let headless = guard.index.service(&key.0, &key.1).is_some_and(|s| s.kind == ServiceKind::Headless);
            (programmed::resolvable(&guard, &key.0, &key.1), headless)
        };
        let pending = self.pending.remove(key).unwrap_or_default();
        let trigger = programmed::trigger(headless, pending);
        self.programmed.record(&format!("{}/{}", key.0, key.1), resolvable, since, trigger);
        Ok(Action::await_change())
    }
}

/// The Services one event touched, with the triggers it carried.
#[derive(Default)]
struct Touched(Vec<(Key, Pending)>);

pub async fn run(
    client: Client,
    state: Arc<RwLock<State>>,
    metrics: Arc<Metrics>,
    programmed: Programmed,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let config = watcher::Config::default;
    let events = stream::select_all([
        watch(Api::<Service>::all(client.clone()), config(), Watched::Service),
        watch(Api::<EndpointSlice>::all(client.clone()), config(), Watched::Slice),
        watch(Api::<Namespace>::all(client), config(), Watched::Namespace),
    ]);
    let mut dns = Dns::new(state, metrics, programmed);
    informer::reconcile::run(&mut dns, events, DEFAULT_BACKOFF, shutdown).await;
}

fn key<K: kube::Resource>(obj: &K) -> (String, String) {
    (obj.meta().namespace.clone().unwrap_or_default(), obj.meta().name.clone().unwrap_or_default())
}

fn apply(index: &mut Index, listings: &mut [Listing; 3], event: Watched, metrics: &Metrics, touched: &mut Touched) {
    match event {
        Watched::Service(ev) => on_event(index, &mut listings[0], Resource::Services, *ev, touched, |index, obj, _| {
            let (ns, name) = key(obj);
            let changed = index.set_service(&ns, &name, Some(ServiceEntry::from_service(obj)));
            let created = obj.metadata.creation_timestamp.as_ref().map(|t| t.0);
            changed.then_some(((ns, name), Pending { created, endpoints: None }))
        }),
        Watched::Slice(ev) => on_event(index, &mut listings[1], Resource::Slices, *ev, touched, |index, obj, live| {
            let (ns, name) = key(obj);
            // A slice without the service-name label belongs to no Service.
            let entry = SliceEntry::from_slice(obj);
            let service = entry.as_ref().map(|e| e.service.to_string());
            if !index.set_slice(&ns, &name, entry) {
                return None;
            }
            let service = service?;
            let trigger = trigger_time(obj);
            if live {
                programmed(index, metrics, trigger, &ns, &service);
            }
            Some(((ns, service), Pending { created: None, endpoints: trigger }))
        }),
        Watched::Namespace(ev) => {
            on_event(index, &mut listings[2], Resource::Namespaces, *ev, touched, |index, obj, _| {
                index.set_namespace(&key(obj).1, true);
                None
            })
        }
    }
}

/// Applies one watcher event: `put` an object (with whether the change is
/// live, not part of a list), or remove one. Both say which Service's
/// answers they changed, into `touched`.
fn on_event<K: kube::Resource>(
    index: &mut Index,
    listing: &mut Listing,
    what: Resource,
    event: Event<K>,
    touched: &mut Touched,
    mut put: impl FnMut(&mut Index, &K, bool) -> Option<(Key, Pending)>,
) {
    match event {
        Event::Apply(obj) => touched.0.extend(put(index, &obj, listing.synced)),
        Event::Delete(obj) => touched.0.extend(remove(index, what, key(&obj))),
        Event::Init => listing.seen = Some(HashSet::new()),
        Event::InitApply(obj) => {
            if let Some(seen) = listing.seen.as_mut() {
                seen.insert(key(&obj));
            }
            touched.0.extend(put(index, &obj, false));
        }
        Event::InitDone => {
            if let Some(seen) = listing.seen.take() {
                for k in index.keys(what) {
                    if !seen.contains(&k) {
                        touched.0.extend(remove(index, what, k));
                    }
                }
            }
            listing.synced = true;
        }
    }
}

/// Removes one object; returns the Service whose answers that changed.
fn remove(index: &mut Index, what: Resource, (ns, name): Key) -> Option<(Key, Pending)> {
    match what {
        Resource::Services => index.set_service(&ns, &name, None).then(|| ((ns, name), Pending::default())),
        Resource::Slices => {
            let service = index.slice(&ns, &name).map(|s| s.service.to_string());
            index.set_slice(&ns, &name, None);
            service.map(|s| ((ns, s), Pending::default()))
        }
        Resource::Namespaces => {
            index.set_namespace(&name, false);
            None
        }
    }
}

/// The slice's `last-change-trigger-time`: when the pod or Service change
/// the endpoints controller reacted to happened.
fn trigger_time(slice: &EndpointSlice) -> Option<jiff::Timestamp> {
    let annotations = slice.metadata.annotations.as_ref()?;
    annotations.get(api::well_known::LAST_CHANGE_TRIGGER_TIME)?.parse().ok()
}

/// CoreDNS's `dns_programming_duration`: from the slice's
/// `last-change-trigger-time` (the pod or Service change the controller
/// reacted to) to now, when DNS answers with it.
fn programmed(index: &Index, metrics: &Metrics, trigger: Option<jiff::Timestamp>, ns: &str, service: &str) {
    let Some(trigger) = trigger else { return };
    let Ok(latency) = Duration::try_from(jiff::Timestamp::now().duration_since(trigger)) else { return };
    let kind = match index.service(ns, service) {
        Some(s) if s.kind == ServiceKind::Headless && s.has_selector => ServiceKindLabel::HeadlessWithSelector,
        Some(s) if s.kind == ServiceKind::Headless => ServiceKindLabel::HeadlessWithoutSelector,
        _ => ServiceKindLabel::ClusterIp,
    };
    metrics.programmed(kind, latency);
}
