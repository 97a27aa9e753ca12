//! The API side: watch Services, EndpointSlices and Namespaces (informer's
//! reflector), and fold each event into the index under the write lock.
//!
//! The index is the cache: it keeps only what DNS needs, so the objects
//! themselves are not held (informer's `Cache` would hold every Service
//! whole: most of the memory at 10,000 Services). A relist (after a restart
//! or a 410) is diffed against the index's own keys, so an object deleted
//! while the watch was down is removed too. The index counts as synced
//! once all three resources have been listed: until then a name not found
//! is SERVFAIL, and `/ready` says 503.

use crate::answer::State;
use crate::index::{Index, Resource, ServiceEntry, ServiceKind, SliceEntry};
use crate::status::{Metrics, ServiceKindLabel};
use futures_util::{stream, FutureExt, StreamExt};
use informer::cache::watch;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::Client;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

enum Watched {
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

pub async fn run(
    client: Client,
    state: Arc<RwLock<State>>,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let config = watcher::Config::default;
    let mut events = stream::select_all([
        watch(Api::<Service>::all(client.clone()), config(), Watched::Service),
        watch(Api::<EndpointSlice>::all(client.clone()), config(), Watched::Slice),
        watch(Api::<Namespace>::all(client), config(), Watched::Namespace),
    ]);
    let mut listings: [Listing; 3] = Default::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let first = tokio::select! {
            e = events.next() => e,
            _ = &mut shutdown => return,
        };
        let Some(mut event) = first else { return };
        // A burst of events is applied under one write lock.
        let mut guard = state.write().unwrap_or_else(|e| e.into_inner());
        loop {
            apply(&mut guard.index, &mut listings, event, &metrics);
            match events.next().now_or_never() {
                Some(Some(next)) => event = next,
                _ => break,
            }
        }
        guard.index.synced = listings.iter().all(|l| l.synced);
        metrics.ready.store(guard.index.synced, Ordering::Relaxed);
    }
}

fn key<K: kube::Resource>(obj: &K) -> (String, String) {
    (obj.meta().namespace.clone().unwrap_or_default(), obj.meta().name.clone().unwrap_or_default())
}

fn apply(index: &mut Index, listings: &mut [Listing; 3], event: Watched, metrics: &Metrics) {
    match event {
        Watched::Service(ev) => on_event(index, &mut listings[0], Resource::Services, *ev, |index, obj, _| {
            let (ns, name) = key(obj);
            index.set_service(&ns, &name, Some(ServiceEntry::from_service(obj)));
        }),
        Watched::Slice(ev) => on_event(index, &mut listings[1], Resource::Slices, *ev, |index, obj, live| {
            let (ns, name) = key(obj);
            // A slice without the service-name label belongs to no Service.
            let entry = SliceEntry::from_slice(obj);
            let service = entry.as_ref().map(|e| e.service.clone());
            if index.set_slice(&ns, &name, entry) && live {
                if let Some(service) = service {
                    programmed(index, metrics, obj, &ns, &service);
                }
            }
        }),
        Watched::Namespace(ev) => on_event(index, &mut listings[2], Resource::Namespaces, *ev, |index, obj, _| {
            index.set_namespace(&key(obj).1, true);
        }),
    }
}

/// Applies one watcher event: `put` an object (with whether the change is
/// live, not part of a list), or remove one.
fn on_event<K: kube::Resource>(
    index: &mut Index,
    listing: &mut Listing,
    what: Resource,
    event: Event<K>,
    mut put: impl FnMut(&mut Index, &K, bool),
) {
    match event {
        Event::Apply(obj) => put(index, &obj, listing.synced),
        Event::Delete(obj) => remove(index, what, key(&obj)),
        Event::Init => listing.seen = Some(HashSet::new()),
        Event::InitApply(obj) => {
            if let Some(seen) = listing.seen.as_mut() {
                seen.insert(key(&obj));
            }
            put(index, &obj, false);
        }
        Event::InitDone => {
            if let Some(seen) = listing.seen.take() {
                for k in index.keys(what) {
                    if !seen.contains(&k) {
                        remove(index, what, k);
                    }
                }
            }
            listing.synced = true;
        }
    }
}

fn remove(index: &mut Index, what: Resource, (ns, name): (String, String)) {
    match what {
        Resource::Services => {
            index.set_service(&ns, &name, None);
        }
        Resource::Slices => {
            index.set_slice(&ns, &name, None);
        }
        Resource::Namespaces => index.set_namespace(&name, false),
    }
}

/// CoreDNS's `dns_programming_duration`: from the slice's
/// `last-change-trigger-time` (the pod or Service change the controller
/// reacted to) to now, when DNS answers with it.
fn programmed(index: &Index, metrics: &Metrics, slice: &EndpointSlice, ns: &str, service: &str) {
    let Some(trigger) =
        slice.metadata.annotations.as_ref().and_then(|a| a.get(api::well_known::LAST_CHANGE_TRIGGER_TIME))
    else {
        return;
    };
    let Ok(trigger) = trigger.parse::<jiff::Timestamp>() else { return };
    let Ok(latency) = Duration::try_from(jiff::Timestamp::now().duration_since(trigger)) else { return };
    let kind = match index.service(ns, service) {
        Some(s) if s.kind == ServiceKind::Headless && s.has_selector => ServiceKindLabel::HeadlessWithSelector,
        Some(s) if s.kind == ServiceKind::Headless => ServiceKindLabel::HeadlessWithoutSelector,
        _ => ServiceKindLabel::ClusterIp,
    };
    metrics.programmed(kind, latency);
}
