//! The proxy's loop: watch Services, EndpointSlices and this Node; after the
//! first full list of each, compute the desired state, and whenever it
//! changes (or at each resync, to repair drift) hand it to the backend.
//! A burst of changes is coalesced into one sync.

use crate::backend::Backend;
use crate::desired::{desired_state, DesiredState, Node};
use crate::status::Status;
use futures_util::{stream, FutureExt, StreamExt};
use informer::cache::{watch, Cache};
use k8s_openapi::api::core::v1::{Node as NodeObject, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher;
use kube::Client;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

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
    let mut applied: Option<DesiredState> = None;
    // Trigger times of the slice changes not yet in the kernel.
    let mut pending_triggers: Vec<jiff::Timestamp> = Vec::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut resync = tokio::time::interval(opts.resync);
    loop {
        let mut force = false;
        tokio::select! {
            ev = events.next() => {
                let Some(mut event) = ev else { return Ok(()) };
                loop {
                    match event {
                        Watched::Service(ev) => {
                            services.apply(*ev);
                        }
                        Watched::Slice(ev) => {
                            // Only changes seen live count towards the latency: a
                            // (re)list brings objects whose trigger time may be old.
                            let live = slices.synced && matches!(*ev, watcher::Event::Apply(_) | watcher::Event::Delete(_));
                            for (_, new) in slices.apply(*ev) {
                                if !live {
                                    continue;
                                }
                                let trigger: Option<jiff::Timestamp> = new.as_ref().and_then(|s| s.metadata.annotations.as_ref()?.get(TRIGGER_TIME)?.parse().ok());
                                pending_triggers.extend(trigger);
                            }
                        }
                        Watched::Node(ev) => {
                            nodes.apply(*ev);
                        }
                    }
                    match events.next().now_or_never() {
                        Some(Some(next)) => event = next,
                        _ => break,
                    }
                }
            }
            _ = resync.tick() => force = true,
            _ = &mut shutdown => return Ok(()),
        }
        if !(services.synced && slices.synced) {
            continue;
        }
        let node = Node {
            name: opts.node_name.clone(),
            addresses: node_addresses(&opts, nodes.values().next().map(|n| n.as_ref())),
            scheduler: opts.scheduler.clone(),
        };
        let all_services: Vec<Service> = services.values().map(|s| s.as_ref().clone()).collect();
        let all_slices: Vec<EndpointSlice> = slices.values().map(|s| s.as_ref().clone()).collect();
        let desired = desired_state(&all_services, &all_slices, &node);
        if !force && applied.as_ref() == Some(&desired) {
            pending_triggers.clear();
            continue;
        }
        let started = Instant::now();
        match backend.sync(&desired) {
            Ok(()) => {
                let now = jiff::Timestamp::now();
                let programming: Vec<Duration> =
                    pending_triggers.drain(..).filter_map(|t| Duration::try_from(now.duration_since(t)).ok()).collect();
                status.synced(crate::render::ipvsadm_ln(&desired.table), started.elapsed(), &programming);
                applied = Some(desired);
            }
            // The next event or resync tries again.
            Err(e) => tracing::error!("sync failed: {e:#}"),
        }
    }
}
