//! The proxy's loop: watch Services, EndpointSlices and this Node; after the
//! first full list of each, keep the desired state up to date
//! ([`ChangeTracker`]) and hand what changed to the backend; at each resync,
//! the whole state, to repair drift. A burst of changes is coalesced into
//! one sync.

use crate::backend::Backend;
use crate::changes::{ChangeTracker, ObjectKey};
use crate::desired::{service_of, Node};
use crate::status::Status;
use futures_util::{stream, FutureExt, StreamExt};
use informer::cache::{watch, Cache};
use k8s_openapi::api::core::v1::{Node as NodeObject, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher;
use kube::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use api::well_known::LAST_CHANGE_TRIGGER_TIME as TRIGGER_TIME;

enum Watched {
    Service(Box<watcher::Event<Service>>),
    Slice(Box<watcher::Event<EndpointSlice>>),
    Node(Box<watcher::Event<NodeObject>>),
}

pub struct Options {
    pub node_name: String,
    pub scheduler: String,
    /// `--nodeport-addresses`; empty: the Node's InternalIPs.
    pub nodeport_addresses: Vec<IpAddr>,
    pub resync: Duration,
}

/// The addresses NodePorts listen on: the flag's, or the Node's InternalIPs.
fn node_addresses(opts: &Options, node: Option<&NodeObject>) -> Vec<IpAddr> {
    if !opts.nodeport_addresses.is_empty() {
        return opts.nodeport_addresses.clone();
    }
    node.and_then(|n| n.status.as_ref())
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect()
}

pub async fn run(
    client: Client,
    opts: Options,
    backend: Backend,
    status: Status,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let by_name = watcher::Config::default().fields(&format!("metadata.name={}", opts.node_name));
    let mut events = stream::select_all([
        watch(Api::<Service>::all(client.clone()), watcher::Config::default(), Watched::Service),
        watch(Api::<EndpointSlice>::all(client.clone()), watcher::Config::default(), Watched::Slice),
        watch(Api::<NodeObject>::all(client.clone()), by_name, Watched::Node),
    ]);
    let (mut services, mut slices, mut nodes) =
        (Cache::<Service>::default(), Cache::<EndpointSlice>::default(), Cache::<NodeObject>::default());
    let this_node = |nodes: &Cache<NodeObject>| Node {
        name: opts.node_name.clone(),
        addresses: node_addresses(&opts, nodes.values().next().map(|n| n.as_ref())),
        scheduler: opts.scheduler.clone(),
    };
    let mut tracker = ChangeTracker::new(this_node(&nodes));
    let mut synced_once = false;
    // Trigger times of the slice changes not yet in the kernel.
    let mut pending_triggers: Vec<(ObjectKey, jiff::Timestamp)> = Vec::new();
    // Services whose rules changed and are not yet reported as programmed.
    let mut unreported: BTreeSet<ObjectKey> = BTreeSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut resync = tokio::time::interval(opts.resync);
    // After a failed sync, a full one is retried, sooner than the resync.
    let mut retry: Option<(tokio::time::Instant, Duration)> = None;
    loop {
        let mut full = false;
        tokio::select! {
            ev = events.next() => {
                let Some(mut event) = ev else { return Ok(()) };
                loop {
                    match event {
                        Watched::Service(ev) => {
                            for (old, new) in services.apply(*ev) {
                                tracker.service_changed(old.as_ref(), new.as_ref());
                            }
                        }
                        Watched::Slice(ev) => {
                            // Only changes seen live count towards the latency: a
                            // (re)list brings objects whose trigger time may be old.
                            let live = slices.synced && matches!(*ev, watcher::Event::Apply(_) | watcher::Event::Delete(_));
                            for (old, new) in slices.apply(*ev) {
                                if live {
                                    let trigger: Option<jiff::Timestamp> = new.as_ref().and_then(|s| s.metadata.annotations.as_ref()?.get(TRIGGER_TIME)?.parse().ok());
                                    let service = new.as_deref().and_then(service_of).map(|(ns, n)| (ns.to_string(), n.to_string()));
                                    pending_triggers.extend(service.zip(trigger));
                                }
                                tracker.slice_changed(old.as_ref(), new.as_ref());
                            }
                        }
                        Watched::Node(ev) => {
                            nodes.apply(*ev);
                            tracker.set_node(this_node(&nodes));
                        }
                    }
                    match events.next().now_or_never() {
                        Some(Some(next)) => event = next,
                        _ => break,
                    }
                }
            }
            _ = resync.tick() => full = true,
            _ = tokio::time::sleep_until(retry.map_or_else(tokio::time::Instant::now, |r| r.0)), if retry.is_some() => full = true,
            _ = &mut shutdown => return Ok(()),
        }
        if !(services.synced && slices.synced) {
            continue;
        }
        let changed = tracker.update();
        unreported.extend(tracker.updated_services().iter().cloned());
        let full = full || !synced_once;
        if !full && changed.is_empty() {
            pending_triggers.clear();
            continue;
        }
        let started = Instant::now();
        match backend.sync(tracker.state(), (!full).then_some(&changed)) {
            Ok(operations) => {
                let now = jiff::Timestamp::now();
                let mut triggers: BTreeMap<ObjectKey, jiff::Timestamp> = BTreeMap::new();
                for (service, t) in pending_triggers.drain(..) {
                    let first = triggers.entry(service).or_insert(t);
                    *first = (*first).min(t);
                }
                let programming: Vec<Duration> =
                    triggers.values().filter_map(|t| Duration::try_from(now.duration_since(*t)).ok()).collect();
                let table = &tracker.state().table;
                status.synced(table, (!full).then_some(&changed), operations, started.elapsed(), &programming);
                for service in std::mem::take(&mut unreported) {
                    let part = tracker.part(&service);
                    status.programmed(&service, now, triggers.get(&service).copied(), part.map(|p| &p.table));
                }
                synced_once = true;
                retry = None;
            }
            // The next event, or the retry (backing off), tries again in full.
            Err(e) => {
                let backoff = retry.map_or(Duration::from_secs(1), |r| (r.1 * 2).min(opts.resync));
                tracing::error!("sync failed (retrying in {backoff:?}): {e:#}");
                synced_once = false;
                retry = Some((tokio::time::Instant::now() + backoff, backoff));
            }
        }
    }
}
