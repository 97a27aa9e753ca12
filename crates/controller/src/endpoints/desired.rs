//! Which pods a Service sends traffic to, as pure functions: the decision
//! of upstream's endpoints and EndpointSlice controllers, with no IO.
//!
//! A pod is an endpoint of a Service when it is in the same namespace,
//! matches the selector, has an IP, and is not finished. It is *ready* when
//! its `Ready` condition is true (or the Service publishes not-ready
//! addresses). A terminating pod leaves the Endpoints but stays in the
//! EndpointSlices with `terminating: true`, so proxies can drain it. Each
//! Service port is resolved per pod: a named `targetPort` is looked up
//! among the pod's container ports (name and protocol must match); a pod
//! without a match is left out of that port only.

use api::readiness::pod_ready;
use api::selectors::LabelSelector;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service, ServicePort,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort as SlicePort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// Upstream's cap on addresses in one Endpoints object.
pub const MAX_ENDPOINTS_ADDRESSES: usize = 1000;
/// Upstream's default cap on endpoints in one EndpointSlice.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
pub use api::well_known::{
    LAST_CHANGE_TRIGGER_TIME as TRIGGER_TIME, MANAGED_BY_LABEL, OVER_CAPACITY, SERVICE_NAME_LABEL,
};
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// One pod as an endpoint of one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct PodEndpoint {
    pub ip: String,
    pub node_name: Option<String>,
    pub target: ObjectReference,
    pub ready: bool,
    /// The pod's own readiness, whatever the Service publishes.
    pub serving: bool,
    pub terminating: bool,
    /// The pod's `spec.hostname`, when DNS should name the endpoint by it
    /// ([`should_set_hostname`]): `<hostname>.<svc>.<ns>.svc.<zone>`.
    pub hostname: Option<String>,
    /// The Service's ports this pod serves, resolved to its container ports.
    pub ports: Vec<EndpointPort>,
}

/// Whether an endpoint of `svc` carries the pod's hostname: only when the
/// pod asks for one (`spec.hostname`) *and* names this Service as its
/// `spec.subdomain`, in the same namespace (upstream's
/// `ShouldSetHostname`). A pod with a hostname behind some other Service
/// is, there, just its dashed IP.
pub fn should_set_hostname(pod: &Pod, svc: &Service) -> bool {
    let spec = pod.spec.as_ref();
    let hostname = spec.and_then(|s| s.hostname.as_deref()).unwrap_or("");
    let subdomain = spec.and_then(|s| s.subdomain.as_deref()).unwrap_or("");
    !hostname.is_empty()
        && subdomain == svc.metadata.name.as_deref().unwrap_or("")
        && pod.metadata.namespace == svc.metadata.namespace
}

/// `spec.selector` as a selector; None for a Service without one (its
/// Endpoints belong to the user).
pub fn service_selector(svc: &Service) -> Option<LabelSelector> {
    svc.spec.as_ref()?.selector.as_ref().map(LabelSelector::from_map)
}

/// Resolves a Service port against a pod: a number is taken as is, a name
/// must match a container port with the same protocol.
pub fn resolve_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()) && p.protocol.as_deref().unwrap_or("TCP") == protocol)
            .map(|p| p.container_port),
    }
}

/// The pods of `pods` that are endpoints of `svc`, in IP order.
pub fn pod_endpoints<'a>(svc: &Service, pods: impl IntoIterator<Item = &'a Pod>) -> Vec<PodEndpoint> {
    let Some(selector) = service_selector(svc) else { return Vec::new() };
    let namespace = svc.metadata.namespace.as_deref();
    let publish_not_ready = svc.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false);
    let service_ports: &[ServicePort] = svc.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or(&[]);
    let mut out: Vec<PodEndpoint> = pods
        .into_iter()
        .filter(|pod| pod.metadata.namespace.as_deref() == namespace)
        .filter(|pod| selector.matches(pod.metadata.labels.as_ref().unwrap_or(&BTreeMap::new())))
        .filter_map(|pod| {
            let status = pod.status.as_ref()?;
            let ip = status.pod_ip.clone().filter(|ip| !ip.is_empty())?;
            if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
                return None;
            }
            let serving = pod_ready(pod);
            let ports = service_ports
                .iter()
                .filter_map(|sp| {
                    Some(EndpointPort {
                        name: sp.name.clone().filter(|n| !n.is_empty()),
                        port: resolve_port(sp, pod)?,
                        protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                        app_protocol: sp.app_protocol.clone(),
                    })
                })
                .collect();
            Some(PodEndpoint {
                ip,
                node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                target: ObjectReference {
                    kind: Some("Pod".into()),
                    namespace: pod.metadata.namespace.clone(),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                    ..Default::default()
                },
                ready: serving || publish_not_ready,
                serving,
                terminating: pod.metadata.deletion_timestamp.is_some(),
                hostname: should_set_hostname(pod, svc)
                    .then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone()))
                    .flatten(),
                ports,
            })
        })
        .collect();
    out.sort_by(|a, b| a.ip.cmp(&b.ip).then_with(|| a.target.name.cmp(&b.target.name)));
    out
}

/// The labels both objects carry: the Service's own, plus `headless` for a
/// headless Service (upstream does the same).
fn inherited_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    }
    labels
}

/// The Endpoints object `svc` should have, or None if it has no selector.
/// `trigger_time` becomes the last-change-trigger-time annotation.
pub fn desired_endpoints<'a>(
    svc: &Service,
    pods: impl IntoIterator<Item = &'a Pod>,
    trigger_time: Option<&str>,
) -> Option<Endpoints> {
    service_selector(svc)?;
    let include_terminating = svc.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false);
    let mut endpoints: Vec<PodEndpoint> =
        pod_endpoints(svc, pods).into_iter().filter(|e| !e.terminating || include_terminating).collect();
    let mut annotations = BTreeMap::new();
    if let Some(t) = trigger_time {
        annotations.insert(TRIGGER_TIME.to_string(), t.to_string());
    }
    if endpoints.len() > MAX_ENDPOINTS_ADDRESSES {
        // Keep the ready ones first, as upstream truncates.
        endpoints.sort_by_key(|e| !e.ready);
        endpoints.truncate(MAX_ENDPOINTS_ADDRESSES);
        endpoints.sort_by(|a, b| a.ip.cmp(&b.ip));
        annotations.insert(OVER_CAPACITY.to_string(), "truncated".to_string());
    }
    // Pods serving the same resolved ports share a subset (upstream's RepackSubsets).
    let mut subsets: Vec<EndpointSubset> = Vec::new();
    for e in endpoints.into_iter().filter(|e| !e.ports.is_empty()) {
        let address = EndpointAddress {
            ip: e.ip.clone(),
            hostname: e.hostname.clone(),
            node_name: e.node_name.clone(),
            target_ref: Some(e.target.clone()),
        };
        let subset = match subsets.iter_mut().find(|s| s.ports.as_deref() == Some(e.ports.as_slice())) {
            Some(s) => s,
            None => {
                subsets.push(EndpointSubset { ports: Some(e.ports.clone()), ..Default::default() });
                subsets.last_mut().expect("just pushed")
            }
        };
        let list = if e.ready { &mut subset.addresses } else { &mut subset.not_ready_addresses };
        list.get_or_insert_with(Vec::new).push(address);
    }
    Some(Endpoints {
        metadata: ObjectMeta {
            name: svc.metadata.name.clone(),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(inherited_labels(svc)).filter(|l| !l.is_empty()),
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            ..Default::default()
        },
        subsets: Some(subsets).filter(|s| !s.is_empty()),
    })
}

/// Whether two Endpoints say the same thing (the trigger time aside, which
/// changes with every computation).
pub fn same_endpoints(a: &Endpoints, b: &Endpoints) -> bool {
    let strip = |e: &Endpoints| {
        let mut annotations = e.metadata.annotations.clone().unwrap_or_default();
        annotations.remove(TRIGGER_TIME);
        (e.metadata.labels.clone().unwrap_or_default(), annotations, e.subsets.clone().unwrap_or_default())
    };
    strip(a) == strip(b)
}

/// What the slice controller must write for one Service.
#[derive(Debug, Default, PartialEq)]
pub struct SlicePlan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<EndpointSlice>,
}

impl SlicePlan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

fn slice_ports(ports: &[EndpointPort]) -> Vec<SlicePort> {
    ports
        .iter()
        .map(|p| SlicePort {
            name: p.name.clone(),
            port: Some(p.port),
            protocol: p.protocol.clone(),
            app_protocol: p.app_protocol.clone(),
        })
        .collect()
}

fn slice_endpoint(e: &PodEndpoint) -> Endpoint {
    Endpoint {
        addresses: vec![e.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(e.ready && !e.terminating),
            serving: Some(e.serving),
            terminating: Some(e.terminating),
        }),
        hostname: e.hostname.clone(),
        node_name: e.node_name.clone(),
        target_ref: Some(e.target.clone()),
        ..Default::default()
    }
}

/// A new slice for `svc` (the apiserver names it from `generateName`).
fn new_slice(
    svc: &Service,
    ports: Vec<SlicePort>,
    endpoints: Vec<Endpoint>,
    trigger_time: Option<&str>,
) -> EndpointSlice {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut labels = inherited_labels(svc);
    labels.insert(SERVICE_NAME_LABEL.into(), name.clone());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: trigger_time.map(|t| BTreeMap::from([(TRIGGER_TIME.to_string(), t.to_string())])),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name,
                uid: svc.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints,
        ports: Some(ports),
    }
}

/// Plans the slices of `svc` given its pods and its current slices: an
/// endpoint stays in the slice it is in, a slice is rewritten only if what
/// it holds changed, new endpoints fill free room before new slices are
/// made, and a Service with no endpoints keeps one empty slice.
pub fn plan_slices<'a>(
    svc: &Service,
    pods: impl IntoIterator<Item = &'a Pod>,
    existing: &[EndpointSlice],
    trigger_time: Option<&str>,
) -> SlicePlan {
    let mut plan = SlicePlan::default();
    if service_selector(svc).is_none() {
        return plan;
    }
    // Desired endpoints grouped by their port set: one family of slices each.
    let mut by_ports: Vec<(Vec<SlicePort>, Vec<Endpoint>)> = Vec::new();
    for e in pod_endpoints(svc, pods).iter().filter(|e| !e.ports.is_empty()) {
        let ports = slice_ports(&e.ports);
        match by_ports.iter_mut().find(|(p, _)| *p == ports) {
            Some((_, list)) => list.push(slice_endpoint(e)),
            None => by_ports.push((ports, vec![slice_endpoint(e)])),
        }
    }
    let mut unused: Vec<&EndpointSlice> = existing.iter().collect();
    for (ports, wanted) in by_ports {
        let mut pending: Vec<Endpoint> = wanted;
        // First pass: existing slices with these ports keep what is still wanted.
        let mut kept: Vec<(EndpointSlice, bool)> = Vec::new();
        unused.retain(|slice| {
            if slice.ports.clone().unwrap_or_default() != ports {
                return true;
            }
            let mut updated = (*slice).clone();
            let before = updated.endpoints.clone();
            updated.endpoints = before
                .iter()
                .filter_map(|old| {
                    let pos = pending.iter().position(|w| w.addresses == old.addresses)?;
                    Some(pending.remove(pos))
                })
                .collect();
            let changed = updated.endpoints != before;
            kept.push((updated, changed));
            false
        });
        // Second pass: fill free room, then make new slices.
        for (slice, changed) in kept.iter_mut() {
            while slice.endpoints.len() < MAX_ENDPOINTS_PER_SLICE && !pending.is_empty() {
                slice.endpoints.push(pending.remove(0));
                *changed = true;
            }
        }
        for (mut slice, changed) in kept {
            if slice.endpoints.is_empty() {
                plan.delete.push(slice);
            } else if changed {
                set_trigger_time(&mut slice, trigger_time);
                plan.update.push(slice);
            }
        }
        for chunk in pending.chunks(MAX_ENDPOINTS_PER_SLICE) {
            plan.create.push(new_slice(svc, ports.clone(), chunk.to_vec(), trigger_time));
        }
    }
    plan.delete.extend(unused.into_iter().cloned());
    // No endpoints at all: keep (or make) one empty placeholder slice.
    let remaining = existing.len() + plan.create.len() - plan.delete.len();
    if remaining == 0 {
        match plan.delete.iter().position(|s| s.ports.as_ref().is_none_or(Vec::is_empty) && s.endpoints.is_empty()) {
            Some(i) => {
                plan.delete.remove(i);
            }
            None => plan.create.push(new_slice(svc, Vec::new(), Vec::new(), trigger_time)),
        }
    }
    plan
}

fn set_trigger_time(slice: &mut EndpointSlice, trigger_time: Option<&str>) {
    if let Some(t) = trigger_time {
        slice.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(TRIGGER_TIME.into(), t.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata":{"name":"myapp","namespace":"default","uid":"svc-uid"},"spec":spec}))
            .unwrap()
    }

    fn pod(name: &str, ip: &str, ready: bool, labels: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata":{"name":name,"namespace":"default","uid":format!("{name}-uid"),"labels":labels},
            "spec":{"nodeName":"node1","containers":[{"name":"myapp","image":"myapp:v2","ports":[{"name":"http","containerPort":8080}]}]},
            "status":{"phase":"Running","podIP":ip,"conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}
        }))
        .unwrap()
    }

    fn tutorial() -> Service {
        svc(
            json!({"selector":{"app":"myapp","release":"stabel"},"ports":[{"name":"http","port":80,"targetPort":80,"protocol":"TCP"}]}),
        )
    }

    fn labels() -> serde_json::Value {
        json!({"app":"myapp","release":"stabel","env":"test"})
    }

    fn ips(addrs: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        addrs.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_not_ready_addresses() {
        let pods = [
            pod("c", "10.244.2.41", true, labels()),
            pod("a", "10.244.1.31", true, labels()),
            pod("b", "10.244.1.32", false, labels()),
            pod("other", "10.244.1.33", true, json!({"app":"other"})),
            pod("no-ip", "", true, labels()),
        ];
        let ep = desired_endpoints(&tutorial(), &pods, Some("2026-11-25T12:00:00Z")).unwrap();
        let subsets = ep.subsets.unwrap();
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.244.1.31", "10.244.2.41"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.244.1.32"]);
        let a = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(
            (a.node_name.as_deref(), a.target_ref.as_ref().unwrap().name.as_deref()),
            (Some("node1"), Some("a"))
        );
        assert_eq!(subsets[0].ports.as_ref().unwrap()[0].port, 80);
        assert_eq!(ep.metadata.annotations.unwrap()[TRIGGER_TIME], "2026-11-25T12:00:00Z");
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let s = svc(json!({"selector":{"app":"myapp"},"ports":[
            {"name":"web","port":80,"targetPort":"http"},
            {"name":"dns","port":53,"targetPort":"http","protocol":"UDP"}]}));
        let pods = [pod("a", "10.0.0.1", true, json!({"app":"myapp"}))];
        let ep = desired_endpoints(&s, &pods, None).unwrap();
        let subsets = ep.subsets.unwrap();
        // The UDP port finds no UDP container port named http: left out for that port only.
        assert_eq!(
            subsets[0].ports.as_ref().unwrap().iter().map(|p| (p.name.clone().unwrap(), p.port)).collect::<Vec<_>>(),
            [("web".into(), 8080)]
        );
    }

    #[test]
    fn terminating_finished_and_selectorless() {
        let mut terminating = pod("t", "10.0.0.2", true, labels());
        terminating.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        let mut finished = pod("f", "10.0.0.3", false, labels());
        finished.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let pods = [pod("a", "10.0.0.1", true, labels()), terminating, finished];
        let ep = desired_endpoints(&tutorial(), &pods, None).unwrap();
        assert_eq!(ips(&ep.subsets.as_ref().unwrap()[0].addresses), ["10.0.0.1"]);
        assert!(ep.subsets.unwrap()[0].not_ready_addresses.is_none());
        // Slices keep the terminating pod, marked so.
        let plan = plan_slices(&tutorial(), &pods, &[], None);
        let t = plan.create[0].endpoints.iter().find(|e| e.addresses == ["10.0.0.2"]).unwrap();
        assert_eq!(
            t.conditions,
            Some(EndpointConditions { ready: Some(false), serving: Some(true), terminating: Some(true) })
        );
        assert!(desired_endpoints(&svc(json!({"ports":[{"port":80}]})), &pods, None).is_none());
        assert!(plan_slices(&svc(json!({"ports":[{"port":80}]})), &pods, &[], None).is_empty());
    }

    #[test]
    fn publish_not_ready_addresses() {
        let s = svc(json!({"selector":{"app":"myapp"},"publishNotReadyAddresses":true,"ports":[{"port":80}]}));
        let ep = desired_endpoints(&s, &[pod("b", "10.0.0.9", false, json!({"app":"myapp"}))], None).unwrap();
        assert_eq!(ips(&ep.subsets.unwrap()[0].addresses), ["10.0.0.9"]);
    }

    #[test]
    fn over_a_thousand_addresses_are_truncated() {
        let pods: Vec<Pod> = (0..1005)
            .map(|i| pod(&format!("p{i}"), &format!("10.1.{}.{}", i / 250, i % 250), i % 2 == 0, labels()))
            .collect();
        let ep = desired_endpoints(&tutorial(), &pods, None).unwrap();
        let s = &ep.subsets.unwrap()[0];
        assert_eq!(ips(&s.addresses).len() + ips(&s.not_ready_addresses).len(), 1000);
        assert_eq!(ips(&s.addresses).len(), 503, "every ready address is kept");
        assert_eq!(ep.metadata.annotations.unwrap()[OVER_CAPACITY], "truncated");
    }

    #[test]
    fn slices_hold_at_most_a_hundred_and_carry_their_labels() {
        let pods: Vec<Pod> = (0..250).map(|i| pod(&format!("p{i}"), &format!("10.1.0.{i}"), true, labels())).collect();
        let plan = plan_slices(&tutorial(), &pods, &[], Some("t0"));
        assert_eq!(plan.create.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(), [100, 100, 50]);
        let s = &plan.create[0];
        let labels = s.metadata.labels.as_ref().unwrap();
        assert_eq!((labels[SERVICE_NAME_LABEL].as_str(), labels[MANAGED_BY_LABEL].as_str()), ("myapp", MANAGED_BY));
        assert_eq!(s.metadata.owner_references.as_ref().unwrap()[0].uid, "svc-uid");
        assert_eq!(s.metadata.generate_name.as_deref(), Some("myapp-"));
        assert_eq!(s.ports.as_ref().unwrap()[0].port, Some(80));
    }

    fn named(mut slice: EndpointSlice, name: &str) -> EndpointSlice {
        slice.metadata.name = Some(name.into());
        slice
    }

    #[test]
    fn an_update_rewrites_only_the_slices_that_changed() {
        let mut pods: Vec<Pod> =
            (0..150).map(|i| pod(&format!("p{i}"), &format!("10.1.0.{i}"), true, labels())).collect();
        let first = plan_slices(&tutorial(), &pods, &[], None);
        let existing: Vec<EndpointSlice> =
            first.create.into_iter().enumerate().map(|(i, s)| named(s, &format!("myapp-{i}"))).collect();
        assert!(plan_slices(&tutorial(), &pods, &existing, None).is_empty(), "nothing changed, nothing written");

        // One pod in the second slice turns not-ready: only that slice is rewritten.
        let moved = existing[1].endpoints[7].addresses[0].clone();
        let i = pods.iter().position(|p| p.status.as_ref().unwrap().pod_ip.as_ref() == Some(&moved)).unwrap();
        pods[i].status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
        let plan = plan_slices(&tutorial(), &pods, &existing, Some("t1"));
        assert_eq!(plan.update.iter().map(|s| s.metadata.name.clone().unwrap()).collect::<Vec<_>>(), ["myapp-1"]);
        assert!(plan.create.is_empty() && plan.delete.is_empty());
        assert_eq!(plan.update[0].metadata.annotations.as_ref().unwrap()[TRIGGER_TIME], "t1");

        // A new pod fills the free room of an existing slice rather than making a new one.
        pods.push(pod("new", "10.1.1.1", true, labels()));
        let plan = plan_slices(&tutorial(), &pods, &existing, None);
        assert_eq!((plan.create.len(), plan.update.len()), (0, 1));
        assert_eq!(plan.update[0].metadata.name.as_deref(), Some("myapp-1"));
        assert!(plan.update[0].endpoints.iter().any(|e| e.addresses == ["10.1.1.1"]));
    }

    #[test]
    fn no_endpoints_keeps_one_placeholder() {
        let plan = plan_slices(&tutorial(), &[], &[], None);
        assert_eq!(plan.create.len(), 1);
        assert!(plan.create[0].endpoints.is_empty());
        let placeholder = named(plan.create.into_iter().next().unwrap(), "myapp-x");
        assert!(plan_slices(&tutorial(), &[], std::slice::from_ref(&placeholder), None).is_empty());
        // Pods arrive: a real slice is made and the placeholder goes.
        let pods = [pod("a", "10.0.0.1", true, labels())];
        let plan = plan_slices(&tutorial(), &pods, &[placeholder], None);
        assert_eq!((plan.create.len(), plan.delete.len()), (1, 1));
    }

    /// Upstream's `ShouldSetHostname`, case by case: (hostname, subdomain,
    /// namespace) of the pod, against the headless `myapp` in `default`.
    #[test]
    fn the_hostname_is_set_only_for_the_service_the_pod_names_as_its_subdomain() {
        let s = svc(json!({"clusterIP":"None","selector":{"app":"myapp"},"ports":[{"port":80}]}));
        for (hostname, subdomain, namespace, want) in [
            ("web-0", "myapp", "default", Some("web-0")),
            ("web-0", "other", "default", None),
            ("web-0", "", "default", None),
            ("", "myapp", "default", None),
            ("web-0", "myapp", "elsewhere", None),
        ] {
            let mut p = pod("p", "10.0.0.1", true, json!({"app":"myapp"}));
            p.metadata.namespace = Some(namespace.into());
            let spec = p.spec.as_mut().unwrap();
            (spec.hostname, spec.subdomain) = (Some(hostname.into()), Some(subdomain.into()));
            // A pod in another namespace is never an endpoint: ask the rule itself.
            assert_eq!(should_set_hostname(&p, &s), want.is_some(), "{hostname}/{subdomain}/{namespace}");
            if namespace == "default" {
                let slice = &plan_slices(&s, [&p], &[], None).create[0];
                assert_eq!(slice.endpoints[0].hostname.as_deref(), want, "{hostname}/{subdomain}");
                let ep = desired_endpoints(&s, [&p], None).unwrap();
                let subsets = ep.subsets.unwrap();
                let address = &subsets[0].addresses.as_ref().unwrap()[0];
                assert_eq!(address.hostname.as_deref(), want, "Endpoints too");
            }
        }
    }
}
