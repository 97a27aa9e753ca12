//! The desired state, kept up to date one Service at a time (upstream's
//! "change trackers"). A watch event dirties the Service it concerns (a
//! slice, by its `kubernetes.io/service-name` label); [`ChangeTracker::update`]
//! recomputes only the dirty Services' parts ([`service_state`]) and says
//! which virtual servers changed, so that one endpoint change costs the
//! same with ten Services or ten thousand.
//!
//! Invariant (property-tested): the merged state always equals
//! [`desired_state`](crate::desired::desired_state) of everything seen.

use crate::desired::{service_of, service_state, set_member, DesiredState, Node};
use crate::model::{VirtualServer, VirtualServerKey};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

/// `namespace/name` of a Service (or of a slice).
pub type ObjectKey = (String, String);

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> ObjectKey {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

fn owner(slice: &EndpointSlice) -> Option<ObjectKey> {
    service_of(slice).map(|(ns, name)| (ns.to_string(), name.to_string()))
}

pub struct ChangeTracker {
    node: Node,
    services: HashMap<ObjectKey, Arc<Service>>,
    /// Each Service's slices, by slice key.
    slices: HashMap<ObjectKey, BTreeMap<ObjectKey, Arc<EndpointSlice>>>,
    /// Each Service's part of the state.
    parts: HashMap<ObjectKey, DesiredState>,
    /// Which Services claim each virtual server (normally one; if several,
    /// the greatest key wins, as in `desired_state` over sorted Services).
    claims: BTreeMap<VirtualServerKey, BTreeSet<ObjectKey>>,
    /// How many Services bind each address to the dummy interface.
    bound: BTreeMap<IpAddr, usize>,
    state: DesiredState,
    dirty: BTreeSet<ObjectKey>,
    /// The Services whose part changed in the last `update`.
    updated_services: Vec<ObjectKey>,
}

impl ChangeTracker {
    pub fn new(node: Node) -> Self {
        let state = DesiredState { node_addresses: node.addresses.iter().copied().collect(), ..Default::default() };
        Self {
            node,
            services: HashMap::new(),
            slices: HashMap::new(),
            parts: HashMap::new(),
            claims: BTreeMap::new(),
            bound: BTreeMap::new(),
            state,
            dirty: BTreeSet::new(),
            updated_services: Vec::new(),
        }
    }

    pub fn service_changed(&mut self, old: Option<&Arc<Service>>, new: Option<&Arc<Service>>) {
        if let Some(old) = old {
            let k = key(&old.metadata);
            self.services.remove(&k);
            self.dirty.insert(k);
        }
        if let Some(new) = new {
            let k = key(&new.metadata);
            self.services.insert(k.clone(), new.clone());
            self.dirty.insert(k);
        }
    }

    pub fn slice_changed(&mut self, old: Option<&Arc<EndpointSlice>>, new: Option<&Arc<EndpointSlice>>) {
        if let Some(old) = old {
            if let Some(svc) = owner(old) {
                if let Some(of_svc) = self.slices.get_mut(&svc) {
                    of_svc.remove(&key(&old.metadata));
                    if of_svc.is_empty() {
                        self.slices.remove(&svc);
                    }
                }
                self.dirty.insert(svc);
            }
        }
        if let Some(new) = new {
            if let Some(svc) = owner(new) {
                self.slices.entry(svc.clone()).or_default().insert(key(&new.metadata), new.clone());
                self.dirty.insert(svc);
            }
        }
    }

    /// A new node address or default scheduler changes every Service.
    pub fn set_node(&mut self, node: Node) {
        if node.addresses != self.node.addresses || node.scheduler != self.node.scheduler || node.name != self.node.name
        {
            self.state.node_addresses = node.addresses.iter().copied().collect();
            self.node = node;
            self.dirty.extend(self.services.keys().cloned());
        }
    }

    /// Recomputes the dirty Services; returns the virtual servers whose
    /// desired value changed (added, removed or different).
    pub fn update(&mut self) -> BTreeSet<VirtualServerKey> {
        let mut changed = BTreeSet::new();
        self.updated_services.clear();
        for svc in std::mem::take(&mut self.dirty) {
            let new = match self.services.get(&svc) {
                Some(s) => {
                    let slices: Vec<&EndpointSlice> =
                        self.slices.get(&svc).into_iter().flat_map(|m| m.values().map(|s| s.as_ref())).collect();
                    service_state(s, &slices, &self.node)
                }
                None => DesiredState::default(),
            };
            let old = self.parts.remove(&svc).unwrap_or_default();
            if old != new {
                self.updated_services.push(svc.clone());
            }
            for a in &old.bound_addresses {
                if let Some(n) = self.bound.get_mut(a) {
                    *n -= 1;
                    if *n == 0 {
                        self.bound.remove(a);
                        self.state.bound_addresses.remove(a);
                    }
                }
            }
            for a in &new.bound_addresses {
                *self.bound.entry(*a).or_default() += 1;
                self.state.bound_addresses.insert(*a);
            }
            for vs in old.table.keys().filter(|k| !new.table.contains_key(k)) {
                if let Some(c) = self.claims.get_mut(vs) {
                    c.remove(&svc);
                    if c.is_empty() {
                        self.claims.remove(vs);
                    }
                }
            }
            for vs in new.table.keys() {
                self.claims.entry(*vs).or_default().insert(svc.clone());
            }
            let touched: BTreeSet<VirtualServerKey> = old.table.keys().chain(new.table.keys()).copied().collect();
            if !new.table.is_empty() || !new.bound_addresses.is_empty() {
                self.parts.insert(svc.clone(), new);
            }
            for vs in touched {
                let ranges = self
                    .claims
                    .get(&vs)
                    .and_then(|c| c.last())
                    .and_then(|w| self.parts.get(w)?.source_ranges.get(&vs).cloned());
                if self.state.source_ranges.get(&vs) != ranges.as_ref() {
                    match ranges {
                        Some(r) => self.state.source_ranges.insert(vs, r),
                        None => self.state.source_ranges.remove(&vs),
                    };
                    changed.insert(vs);
                }
                // So do its external and source-preserving marks.
                let winner = self.claims.get(&vs).and_then(|c| c.last()).and_then(|w| self.parts.get(w));
                let external = winner.is_some_and(|p| p.external.contains(&vs));
                let preserve = winner.is_some_and(|p| p.preserve_source.contains(&vs));
                if set_member(&mut self.state.external, vs, external)
                    | set_member(&mut self.state.preserve_source, vs, preserve)
                {
                    changed.insert(vs);
                }
                let value = self.winner(&vs);
                if self.state.table.get(&vs) != value.as_ref() {
                    match value {
                        Some(v) => self.state.table.insert(vs, v),
                        None => self.state.table.remove(&vs),
                    };
                    changed.insert(vs);
                }
            }
        }
        changed
    }

    fn winner(&self, vs: &VirtualServerKey) -> Option<VirtualServer> {
        let svc = self.claims.get(vs)?.last()?;
        self.parts.get(svc)?.table.get(vs).cloned()
    }

    /// The whole desired state.
    pub fn state(&self) -> &DesiredState {
        &self.state
    }

    /// The Services whose part the last `update` changed.
    pub fn updated_services(&self) -> &[ObjectKey] {
        &self.updated_services
    }

    /// One Service's part (its virtual servers), if it has any.
    pub fn part(&self, service: &ObjectKey) -> Option<&DesiredState> {
        self.parts.get(service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::desired_state;
    use proptest::prelude::*;
    use serde_json::json;

    fn node(addr: &str) -> Node {
        Node { name: "n1".into(), addresses: vec![addr.parse().unwrap()], scheduler: "rr".into() }
    }

    fn service(i: u8, node_port: bool, external: bool) -> Arc<Service> {
        let mut spec = json!({"clusterIP": format!("10.96.0.{}", 10 + i),
            "ports":[{"name":"http","port":80,"protocol":"TCP"},{"name":"dns","port":53,"protocol":"UDP"}]});
        if node_port {
            spec["type"] = json!("NodePort");
            spec["ports"][0]["nodePort"] = json!(30000 + u16::from(i));
        }
        if external {
            // Shared by every Service that has it: claims and bound counts matter.
            spec["externalIPs"] = json!(["203.0.113.7"]);
        }
        if i % 2 == 1 {
            // Local and Cluster Services share the external IP: whose
            // policy (masquerade or not) wins must follow the claim.
            spec["externalTrafficPolicy"] = json!("Local");
        }
        Arc::new(
            serde_json::from_value(json!({"metadata":{"name":format!("s{i}"),"namespace":"default"},"spec":spec}))
                .unwrap(),
        )
    }

    fn slice(svc: u8, n: u8, ips: &[u8], ready: bool) -> Arc<EndpointSlice> {
        let endpoints: Vec<_> = ips
            .iter()
            .map(|ip| json!({"addresses":[format!("10.244.{svc}.{ip}")],"conditions":{"ready":ready}}))
            .collect();
        Arc::new(
            serde_json::from_value(json!({"metadata":{"name":format!("s{svc}-{n}"),"namespace":"default",
            "labels":{"kubernetes.io/service-name":format!("s{svc}")}},"addressType":"IPv4",
            "ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"dns","port":53,"protocol":"UDP"}],
            "endpoints":endpoints}))
            .unwrap(),
        )
    }

    #[derive(Debug, Clone)]
    enum Event {
        Service(u8, Option<(bool, bool)>),
        Slice(u8, u8, Option<(Vec<u8>, bool)>),
        NodeAddress(u8),
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (0..4u8, proptest::option::of((any::<bool>(), any::<bool>()))).prop_map(|(i, s)| Event::Service(i, s)),
            (0..5u8, 0..2u8, proptest::option::of((proptest::collection::vec(1..6u8, 0..4), any::<bool>())))
                .prop_map(|(s, n, e)| Event::Slice(s, n, e)),
            (1..3u8).prop_map(Event::NodeAddress),
        ]
    }

    proptest! {
        /// After any sequence of events, updated in any grouping, the
        /// tracker holds exactly what `desired_state` computes from scratch,
        /// and reports every virtual server that changed.
        #[test]
        fn the_tracker_equals_the_state_computed_from_scratch(
            events in proptest::collection::vec((event(), any::<bool>()), 1..40)
        ) {
            let mut tracker = ChangeTracker::new(node("192.168.66.1"));
            let mut services: BTreeMap<String, Arc<Service>> = BTreeMap::new();
            let mut slices: BTreeMap<String, Arc<EndpointSlice>> = BTreeMap::new();
            let mut current = node("192.168.66.1");
            let mut seen = tracker.state().table.clone();
            for (ev, update_now) in events {
                match ev {
                    Event::Service(i, spec) => {
                        let new = spec.map(|(np, ext)| service(i, np, ext));
                        let old = match &new { Some(n) => services.insert(format!("s{i}"), n.clone()), None => services.remove(&format!("s{i}")) };
                        tracker.service_changed(old.as_ref(), new.as_ref());
                    }
                    Event::Slice(s, n, eps) => {
                        let new = eps.map(|(ips, ready)| slice(s, n, &ips, ready));
                        let k = format!("s{s}-{n}");
                        let old = match &new { Some(x) => slices.insert(k, x.clone()), None => slices.remove(&k) };
                        tracker.slice_changed(old.as_ref(), new.as_ref());
                    }
                    Event::NodeAddress(a) => {
                        current = node(&format!("192.168.66.{a}"));
                        tracker.set_node(current.clone());
                    }
                }
                if update_now {
                    let changed = tracker.update();
                    let now = tracker.state().table.clone();
                    let really: BTreeSet<_> = seen.keys().chain(now.keys()).filter(|k| seen.get(k) != now.get(k)).copied().collect();
                    prop_assert!(really.is_subset(&changed), "unreported changes: {:?}", really.difference(&changed).collect::<Vec<_>>());
                    seen = now;
                }
            }
            tracker.update();
            let all_services: Vec<Service> = services.values().map(|s| s.as_ref().clone()).collect();
            let all_slices: Vec<EndpointSlice> = slices.values().map(|s| s.as_ref().clone()).collect();
            let want = desired_state(&all_services, &all_slices, &current);
            prop_assert_eq!(tracker.state(), &want);
        }
    }

    #[test]
    fn one_endpoint_change_touches_one_virtual_server() {
        let mut tracker = ChangeTracker::new(node("192.168.66.1"));
        for i in 0..50 {
            tracker.service_changed(None, Some(&service(i, false, false)));
            tracker.slice_changed(None, Some(&slice(i, 0, &[1, 2, 3], true)));
        }
        assert_eq!(tracker.update().len(), 100, "two ports each");
        let old = slice(7, 0, &[1, 2, 3], true);
        let new = slice(7, 0, &[1, 2, 4], true);
        tracker.slice_changed(Some(&old), Some(&new));
        // Both ports of s7 have the new endpoint.
        let changed = tracker.update();
        assert_eq!(changed.len(), 2);
        assert!(changed.iter().all(|k| k.address.to_string() == "10.96.0.17"));
        // Nothing changed, nothing reported.
        tracker.slice_changed(Some(&new), Some(&new));
        assert!(tracker.update().is_empty());
    }
}
