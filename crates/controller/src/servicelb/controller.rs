//! The service-lb loop: watch Services; one key `()`, since one Service's
//! release is another's address. Each pass asks [`allocate`] for every
//! Service's outcome and writes the statuses that differ through
//! `services/<name>/status`, with MetalLB's Events.

use super::desired::{allocate, assigned_message, claim_of, Claim, Outcome, ALLOCATED};
use super::pool::Pool;
use crate::events::{record, reference};
use informer::cache::{watch, Cache, Key};
use informer::reconcile::{Action, Reconciler, DEFAULT_BACKOFF};
use k8s_openapi::api::core::v1::{LoadBalancerIngress, ObjectReference, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use kube::Client;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::SystemTime;

/// MetalLB's controller reports as `metallb-controller`.
pub const COMPONENT: &str = "service-lb";

struct ServiceLb {
    client: Client,
    pool: Pool,
    services: Cache<Service>,
    /// The pending message each Service was last told, so a full pool is
    /// one Event per Service, not one per pass.
    reported: BTreeMap<Key, String>,
}

impl Reconciler for ServiceLb {
    type Event = Box<watcher::Event<Service>>;
    type Key = ();
    type Error = kube::Error;
    const NAME: &'static str = "service-lb";

    fn on_event(&mut self, event: Self::Event) -> Vec<()> {
        if self.services.apply(*event).is_empty() {
            Vec::new()
        } else {
            vec![()]
        }
    }

    fn synced(&self) -> bool {
        self.services.synced
    }

    async fn reconcile(&mut self, _: &(), _since: SystemTime) -> Result<Action, kube::Error> {
        let claims: Vec<Claim> = self.services.values().map(|s| claim_of(s)).collect();
        let outcomes = allocate(&self.pool, &claims);
        let mut first_error = None;
        for (key, outcome) in outcomes {
            let Some(svc) = self.services.get(&key).map(|s| s.as_ref().clone()) else { continue };
            let want = match &outcome {
                Outcome::Untouched => continue,
                Outcome::Address { ip, .. } => vec![ingress(*ip)],
                Outcome::Pending { .. } | Outcome::Release => Vec::new(),
            };
            if let Err(e) = self.write(&svc, want).await {
                first_error.get_or_insert(e);
                continue;
            }
            match outcome {
                Outcome::Address { ip, new } => {
                    self.reported.remove(&key);
                    if new {
                        self.tell(reference(&svc), false, ALLOCATED, assigned_message(ip));
                    }
                }
                Outcome::Pending { reason, message } => {
                    if self.reported.get(&key) != Some(&message) {
                        self.tell(reference(&svc), true, reason, message.clone());
                        self.reported.insert(key, message);
                    }
                }
                Outcome::Release | Outcome::Untouched => {
                    self.reported.remove(&key);
                }
            }
        }
        // Forget what was told to Services that are gone.
        let services = &self.services;
        self.reported.retain(|k, _| services.get(k).is_some());
        match first_error {
            Some(e) => Err(e),
            None => Ok(Action::await_change()),
        }
    }
}

impl ServiceLb {
    /// An Event, written beside the loop: the next Service's address must
    /// not wait for this one's Event to reach the apiserver.
    fn tell(&self, involved: ObjectReference, warning: bool, reason: &'static str, message: String) {
        let client = self.client.clone();
        tokio::spawn(async move { record(&client, involved, warning, reason, message, COMPONENT).await });
    }

    /// Writes `status.loadBalancer.ingress` if it differs, through the
    /// status subresource, and into the cache at once (the next pass must
    /// see the address as taken even before the watch says so).
    async fn write(&mut self, svc: &Service, want: Vec<LoadBalancerIngress>) -> Result<(), kube::Error> {
        let now = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|lb| lb.ingress.clone());
        if now.unwrap_or_default() == want {
            return Ok(());
        }
        let (namespace, name) = (svc.metadata.namespace.clone().unwrap_or_default(), svc.metadata.name.clone());
        let api: Api<Service> = Api::namespaced(self.client.clone(), &namespace);
        // A merge patch replaces the list whole; `null` removes it.
        let ingress = if want.is_empty() { serde_json::Value::Null } else { json!(want) };
        let patch = json!({"status": {"loadBalancer": {"ingress": ingress}}});
        let written =
            api.patch_status(name.as_deref().unwrap_or(""), &PatchParams::default(), &Patch::Merge(&patch)).await;
        match written {
            Ok(s) => self.services.write_through(s),
            // Deleted meanwhile: its address is free already.
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// One ingress point: the address itself, reached as a VIP (the node that
/// announces it delivers packets addressed to it, as MetalLB's do).
fn ingress(ip: Ipv4Addr) -> LoadBalancerIngress {
    LoadBalancerIngress { ip: Some(ip.to_string()), ip_mode: Some("VIP".into()), ..Default::default() }
}

/// Runs the service-lb controller on `pool` until `shutdown` resolves.
pub async fn run(client: Client, pool: Pool, shutdown: impl std::future::Future<Output = ()>) {
    let events = watch(Api::<Service>::all(client.clone()), watcher::Config::default(), |e| e);
    let mut controller = ServiceLb { client, pool, services: Cache::default(), reported: BTreeMap::new() };
    informer::reconcile::run(&mut controller, events, DEFAULT_BACKOFF, shutdown).await;
}
