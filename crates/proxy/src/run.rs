//! The proxy's loop: watch Services, EndpointSlices and this Node; after the
//! first full list of each, keep the desired state up to date
//! ([`ChangeTracker`]) and hand what changed to the backend; at each resync,
//! the whole state, to repair drift. The loop is the shared
//! [`informer::reconcile`] with one key, `()`: a burst of changes is
//! coalesced into one sync, a failed sync is retried in full (backing off),
//! and each sync asks to come back at the next resync.

use crate::backend::Backend;
use crate::changes::{ChangeTracker, ObjectKey};
use crate::desired::{service_of, Node};
use crate::healthcheck::HealthServers;
use crate::status::Status;
use futures_util::stream;
use informer::cache::{watch, Cache};
use informer::reconcile::{Action, Backoff, Reconciler};
use k8s_openapi::api::core::v1::{Node as NodeObject, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher;
use kube::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

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
    /// `--lb-announce-interface`: where this node holds the LoadBalancer
    /// addresses it wins ([`crate::announce`]).
    pub announce_interface: Option<String>,
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

struct Proxy {
    /// For the Events of the addresses this node takes over.
    client: Client,
    opts: Options,
    backend: Backend,
    status: Status,
    services: Cache<Service>,
    slices: Cache<EndpointSlice>,
    nodes: Cache<NodeObject>,
    tracker: ChangeTracker,
    /// When the kernel was last synced in full; `None`: never, or the last
    /// sync failed, so the next one is full.
    last_full: Option<Instant>,
    /// Trigger times of the slice changes not yet in the kernel.
    pending_triggers: Vec<(ObjectKey, jiff::Timestamp)>,
    /// Services whose rules changed and are not yet reported as programmed.
    unreported: BTreeSet<ObjectKey>,
    /// The health check node ports of Local LoadBalancers.
    health: HealthServers,
    /// The LoadBalancer addresses this node announces, if it announces.
    announced: Option<crate::backend::HeldAddresses>,
    handover: crate::handover::Handover,
}

impl Proxy {
    fn this_node(&self) -> Node {
        Node {
            name: self.opts.node_name.clone(),
            addresses: node_addresses(
                &self.opts,
                self.nodes.get(&(String::new(), self.opts.node_name.clone())).map(|n| n.as_ref()),
            ),
            scheduler: self.opts.scheduler.clone(),
        }
    }
}

impl Reconciler for Proxy {
    type Event = Watched;
    type Key = ();
    type Error = anyhow::Error;
    const NAME: &'static str = "proxy";

    fn on_event(&mut self, event: Watched) -> Vec<()> {
        match event {
            Watched::Service(ev) => {
                for (old, new) in self.services.apply(*ev) {
                    self.tracker.service_changed(old.as_ref(), new.as_ref());
                }
            }
            Watched::Slice(ev) => {
                // Only changes seen live count towards the latency: a
                // (re)list brings objects whose trigger time may be old.
                let live = self.slices.synced && matches!(*ev, watcher::Event::Apply(_) | watcher::Event::Delete(_));
                for (old, new) in self.slices.apply(*ev) {
                    if live {
                        let trigger: Option<jiff::Timestamp> =
                            new.as_ref().and_then(|s| s.metadata.annotations.as_ref()?.get(TRIGGER_TIME)?.parse().ok());
                        let service =
                            new.as_deref().and_then(service_of).map(|(ns, n)| (ns.to_string(), n.to_string()));
                        self.pending_triggers.extend(service.zip(trigger));
                    }
                    self.tracker.slice_changed(old.as_ref(), new.as_ref());
                }
            }
            Watched::Node(ev) => {
                self.nodes.apply(*ev);
                let node = self.this_node();
                self.tracker.set_node(node);
            }
        }
        vec![()]
    }

    /// The Node's list too (one object, or none), so that the first sync
    /// already has the node's addresses for the NodePorts.
    fn synced(&self) -> bool {
        self.services.synced && self.slices.synced && self.nodes.synced
    }

    /// One sync: incremental with what changed, or in full (the first, at
    /// each resync, and after a failure).
    async fn reconcile(&mut self, _: &(), _since: SystemTime) -> anyhow::Result<Action> {
        let started = Instant::now();
        let full = self.last_full.is_none_or(|t| started.duration_since(t) >= self.opts.resync);
        let changed = self.tracker.update();
        self.update_health_checks();
        let handover = self.announce(full);
        self.unreported.extend(self.tracker.updated_services().iter().cloned());
        if !full && changed.is_empty() {
            self.pending_triggers.clear();
            return Ok(self.next_resync(started, handover));
        }
        let operations = match self.backend.sync(self.tracker.state(), (!full).then_some(&changed)) {
            Ok(operations) => operations,
            // The retry (backing off), or the next event, tries again in full.
            Err(e) => {
                self.last_full = None;
                return Err(e.context("sync failed"));
            }
        };
        let now = jiff::Timestamp::now();
        let mut triggers: BTreeMap<ObjectKey, jiff::Timestamp> = BTreeMap::new();
        for (service, t) in self.pending_triggers.drain(..) {
            let first = triggers.entry(service).or_insert(t);
            *first = (*first).min(t);
        }
        let programming: Vec<Duration> =
            triggers.values().filter_map(|t| Duration::try_from(now.duration_since(*t)).ok()).collect();
        let table = &self.tracker.state().table;
        self.status.synced(table, (!full).then_some(&changed), operations, started.elapsed(), &programming);
        for service in std::mem::take(&mut self.unreported) {
            let part = self.tracker.part(&service);
            self.status.programmed(&service, now, triggers.get(&service).copied(), part.map(|p| &p.table));
        }
        if full {
            self.last_full = Some(started);
        }
        Ok(self.next_resync(Instant::now(), handover))
    }
}

impl Proxy {
    /// Holds exactly the LoadBalancer addresses this node wins, once the
    /// handover allows (`handover.rs`); returns when to look again if an
    /// address waits. A failure is logged and retried at the next sync; it
    /// never fails the rules.
    fn announce(&mut self, full: bool) -> Option<Duration> {
        let held = self.announced.as_mut()?;
        let nodes: Vec<crate::announce::Candidate> =
            self.nodes.values().map(|n| crate::announce::candidate(n)).collect();
        let services: Vec<&Service> = self.services.values().map(|s| s.as_ref()).collect();
        let slices = &self.slices;
        let slices_of = |svc: &Service| -> Vec<&EndpointSlice> {
            let key = (svc.metadata.namespace.as_deref().unwrap_or(""), svc.metadata.name.as_deref().unwrap_or(""));
            slices.values().filter(|s| service_of(s) == Some(key)).map(|s| s.as_ref()).collect()
        };
        let winners = crate::announce::announcements(&services, slices_of, &nodes);
        let ready: BTreeSet<String> = nodes.iter().filter(|n| n.ready).map(|n| n.name.clone()).collect();
        let now_held = match held.held() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("reading the announced addresses: {e}");
                return None;
            }
        };
        let decision = self.handover.decide(&self.opts.node_name, &winners, &ready, &now_held, Instant::now());
        tracing::debug!(node = %self.opts.node_name, ?winners, ?ready, held = ?now_held, ?decision, "announcer election");
        let mine = decision.hold;
        match held.sync(&mine, full) {
            Ok(before) if before != mine => {
                tracing::info!(node = %self.opts.node_name, ?mine, "announcing");
                // Taken over: tell the neighbours now (MetalLB's gratuitous
                // ARP), and the Service's Events (its speaker's nodeAssigned).
                let taken: BTreeSet<IpAddr> = mine.difference(&before).copied().collect();
                if let Some(device) = self.opts.announce_interface.as_deref() {
                    crate::arp::announce_taken(device, taken.iter().copied());
                }
                for svc in
                    services.iter().filter(|s| crate::announce::vip_addresses(s).iter().any(|ip| taken.contains(ip)))
                {
                    let (client, involved) = (self.client.clone(), informer::events::reference(*svc));
                    let message = crate::announce::assigned_message(&self.opts.node_name);
                    tokio::spawn(async move {
                        let reason = crate::announce::NODE_ASSIGNED;
                        informer::events::record(&client, involved, false, reason, message, "proxy").await;
                    });
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("announcing {mine:?}: {e}"),
        }
        decision.again_in
    }

    fn update_health_checks(&mut self) {
        let services: Vec<&Service> = self.services.values().map(|s| s.as_ref()).collect();
        let slices: Vec<&EndpointSlice> = self.slices.values().map(|s| s.as_ref()).collect();
        let want = crate::healthcheck::desired(&services, &slices, &self.opts.node_name);
        let addresses = self.this_node().addresses;
        self.health.update(want, &addresses);
    }

    /// Come back for the next full sync, which repairs drift, or sooner
    /// when an address waits for its handover.
    fn next_resync(&self, now: Instant, handover: Option<Duration>) -> Action {
        let due = self.last_full.map_or(now, |t| t + self.opts.resync);
        let wait = due.saturating_duration_since(now);
        Action::requeue(handover.map_or(wait, |h| h.min(wait)))
    }
}

pub async fn run(
    client: Client,
    opts: Options,
    backend: Backend,
    status: Status,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    // Every Node, not only this one: the announcer election needs them all.
    let events = stream::select_all([
        watch(Api::<Service>::all(client.clone()), watcher::Config::default(), Watched::Service),
        watch(Api::<EndpointSlice>::all(client.clone()), watcher::Config::default(), Watched::Slice),
        watch(Api::<NodeObject>::all(client.clone()), watcher::Config::default(), Watched::Node),
    ]);
    // A failed sync is retried in full after 1 s, doubling up to the resync period.
    let backoff = Backoff { first: Duration::from_secs(1), max: opts.resync };
    let node = Node {
        name: opts.node_name.clone(),
        addresses: node_addresses(&opts, None),
        scheduler: opts.scheduler.clone(),
    };
    let health = HealthServers::new(status.clone());
    let announced = opts.announce_interface.as_deref().map(crate::backend::announce_holder);
    let mut proxy = Proxy {
        client: client.clone(),
        health,
        announced,
        handover: Default::default(),
        tracker: ChangeTracker::new(node),
        opts,
        backend,
        status,
        services: Cache::default(),
        slices: Cache::default(),
        nodes: Cache::default(),

        last_full: None,
        pending_triggers: Vec::new(),
        unreported: BTreeSet::new(),
    };
    informer::reconcile::run(&mut proxy, events, backoff, shutdown).await;
    // A stopped proxy announces nothing: another node's must take over.
    if let Some(held) = proxy.announced.as_mut() {
        if let Err(e) = held.sync(&BTreeSet::new(), true) {
            tracing::warn!("releasing the announced addresses: {e}");
        }
    }
    Ok(())
}
