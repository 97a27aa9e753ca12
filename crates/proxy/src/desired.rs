//! What the kernel should hold, as a pure function of Services,
//! EndpointSlices and this node: [`desired_state`].
//!
//! For every Service with a ClusterIP, and every port of it, one virtual
//! server at the ClusterIP, one at each node IP on the NodePort (if any),
//! one per external IP and per LoadBalancer ingress IP. Its real servers are
//! the Service's ready endpoints on that port; if none is ready, the serving
//! terminating ones (so connections drain instead of failing), as kube-proxy.
//! `trafficPolicy: Local` keeps only this node's endpoints.

use crate::model::{Protocol, RealServer, RealServerKey, Table, VirtualServer, VirtualServerKey, SCHEDULERS};
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// A Service may pick its own IPVS scheduler: `proxy.mini-k8s.io/ipvs-scheduler: wrr`.
pub use api::well_known::IPVS_SCHEDULER_ANNOTATION as SCHEDULER_ANNOTATION;

/// Who and where this proxy is.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    /// The addresses NodePorts listen on.
    pub addresses: Vec<IpAddr>,
    /// `--ipvs-scheduler`: the default scheduler.
    pub scheduler: String,
}

/// The whole desired state: the table, and the addresses the dummy
/// interface `kube-ipvs0` must hold so the node accepts their traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    pub table: Table,
    pub bound_addresses: BTreeSet<IpAddr>,
    /// The node's own addresses, where NodePorts listen (the IPVS mode owns
    /// the virtual servers on them in the NodePort range).
    pub node_addresses: BTreeSet<IpAddr>,
    /// `spec.loadBalancerSourceRanges`: for a LoadBalancer address's virtual
    /// servers, the only clients let through (every mode).
    pub source_ranges: BTreeMap<VirtualServerKey, Vec<ipnet::IpNet>>,
    /// The virtual servers of traffic from outside the cluster: external
    /// IPs and LoadBalancer addresses (NodePorts are the node's addresses).
    pub external: BTreeSet<VirtualServerKey>,
    /// `externalTrafficPolicy: Local`: the external virtual servers and
    /// NodePorts whose traffic keeps its client's address (no masquerade;
    /// the endpoints are this node's, so the replies pass back through it).
    pub preserve_source: BTreeSet<VirtualServerKey>,
}

fn endpoint_ready(e: &k8s_openapi::api::discovery::v1::Endpoint) -> bool {
    // An unset `ready` means ready (the API's own rule).
    e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true)
}

fn endpoint_serving_terminating(e: &k8s_openapi::api::discovery::v1::Endpoint) -> bool {
    let c = e.conditions.as_ref();
    c.and_then(|c| c.serving).unwrap_or(false) && c.and_then(|c| c.terminating).unwrap_or(false)
}

/// The real servers of one Service port: from every slice of the Service,
/// the port of the same name and protocol, on the ready endpoints.
fn real_servers(
    port: &ServicePort,
    slices: &[&EndpointSlice],
    node: &Node,
    local_only: bool,
) -> BTreeMap<RealServerKey, RealServer> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    let mut ready = BTreeMap::new();
    let mut terminating = BTreeMap::new();
    for slice in slices {
        let Some(number) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| {
                p.name.as_deref().unwrap_or("") == port.name.as_deref().unwrap_or("")
                    && p.protocol.as_deref().unwrap_or("TCP") == protocol
            })
            .and_then(|p| p.port)
        else {
            continue;
        };
        let Ok(number) = u16::try_from(number) else { continue };
        for e in &slice.endpoints {
            if local_only && e.node_name.as_deref() != Some(node.name.as_str()) {
                continue;
            }
            let target = if endpoint_ready(e) {
                &mut ready
            } else if endpoint_serving_terminating(e) {
                &mut terminating
            } else {
                continue;
            };
            for a in e.addresses.iter().filter_map(|a| a.parse::<IpAddr>().ok()) {
                target.insert(RealServerKey { address: a, port: number }, RealServer::with_weight(1));
            }
        }
    }
    if ready.is_empty() {
        terminating
    } else {
        ready
    }
}

/// The Service an EndpointSlice belongs to, by its `kubernetes.io/service-name` label.
pub fn service_of(slice: &EndpointSlice) -> Option<(&str, &str)> {
    let name = slice.metadata.labels.as_ref()?.get(api::well_known::SERVICE_NAME_LABEL)?;
    Some((slice.metadata.namespace.as_deref().unwrap_or(""), name.as_str()))
}

/// Computes the desired state from everything the proxy watches. Where two
/// Services claim the same virtual server, the later one in `services` wins.
pub fn desired_state(services: &[Service], slices: &[EndpointSlice], node: &Node) -> DesiredState {
    let mut state = DesiredState { node_addresses: node.addresses.iter().copied().collect(), ..Default::default() };
    let mut by_service: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in slices {
        if let Some(key) = service_of(slice) {
            by_service.entry(key).or_default().push(slice);
        }
    }
    for svc in services {
        let key = (svc.metadata.namespace.as_deref().unwrap_or(""), svc.metadata.name.as_deref().unwrap_or(""));
        let part = service_state(svc, by_service.get(&key).map(Vec::as_slice).unwrap_or_default(), node);
        // The later Service wins a virtual server, its source ranges with it.
        for key in part.table.keys() {
            match part.source_ranges.get(key) {
                Some(r) => state.source_ranges.insert(*key, r.clone()),
                None => state.source_ranges.remove(key),
            };
        }
        for key in part.table.keys() {
            set_member(&mut state.external, *key, part.external.contains(key));
            set_member(&mut state.preserve_source, *key, part.preserve_source.contains(key));
        }
        state.table.extend(part.table);
        state.bound_addresses.extend(part.bound_addresses);
    }
    state
}

/// Puts `key` in `set`, or takes it out.
pub(crate) fn set_member(set: &mut BTreeSet<VirtualServerKey>, key: VirtualServerKey, member: bool) -> bool {
    if member {
        set.insert(key)
    } else {
        set.remove(&key)
    }
}

/// One Service's part of the desired state, from its own EndpointSlices.
pub fn service_state(svc: &Service, slices: &[&EndpointSlice], node: &Node) -> DesiredState {
    let mut state = DesiredState { node_addresses: node.addresses.iter().copied().collect(), ..Default::default() };
    {
        let Some(spec) = svc.spec.as_ref() else { return state };
        let cluster_ip = match spec.cluster_ip.as_deref().map(str::parse::<IpAddr>) {
            Some(Ok(ip)) => ip, // "None" (headless) and ExternalName (no IP) have no virtual server
            _ => return state,
        };
        let scheduler = svc
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SCHEDULER_ANNOTATION))
            .filter(|s| SCHEDULERS.contains(&s.as_str()))
            .cloned()
            .unwrap_or_else(|| node.scheduler.clone());
        let persistence_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .map_or(api::well_known::DEFAULT_AFFINITY_TIMEOUT_SECONDS as u32, |t| t as u32)
        });
        let internal_local = spec.internal_traffic_policy.as_deref() == Some("Local");
        let external_local = spec.external_traffic_policy.as_deref() == Some("Local");
        let external_ips: Vec<IpAddr> = spec.external_ips.iter().flatten().filter_map(|ip| ip.parse().ok()).collect();
        let lb_ips: Vec<IpAddr> = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.as_deref()?.parse().ok())
            .collect();
        // Malformed ranges are skipped (kube-proxy logs and ignores them too).
        let source_ranges: Vec<ipnet::IpNet> =
            spec.load_balancer_source_ranges.iter().flatten().filter_map(|r| r.trim().parse().ok()).collect();
        for port in spec.ports.iter().flatten() {
            let Some(protocol) = Protocol::parse(port.protocol.as_deref().unwrap_or("TCP")) else { continue };
            let Ok(number) = u16::try_from(port.port) else { continue };
            let vs = |local: bool| VirtualServer {
                scheduler: scheduler.clone(),
                persistence_timeout,
                real_servers: real_servers(port, slices, node, local),
            };
            state.table.insert(VirtualServerKey { protocol, address: cluster_ip, port: number }, vs(internal_local));
            state.bound_addresses.insert(cluster_ip);
            for ip in external_ips.iter().chain(&lb_ips) {
                let key = VirtualServerKey { protocol, address: *ip, port: number };
                state.table.insert(key, vs(external_local));
                state.bound_addresses.insert(*ip);
                state.external.insert(key);
                set_member(&mut state.preserve_source, key, external_local);
            }
            if !source_ranges.is_empty() {
                for ip in &lb_ips {
                    state
                        .source_ranges
                        .insert(VirtualServerKey { protocol, address: *ip, port: number }, source_ranges.clone());
                }
            }
            if let Some(node_port) = port.node_port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0) {
                for ip in &node.addresses {
                    let key = VirtualServerKey { protocol, address: *ip, port: node_port };
                    state.table.insert(key, vs(external_local));
                    set_member(&mut state.preserve_source, key, external_local);
                }
            }
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::ipvsadm_ln;
    use serde_json::json;

    fn node() -> Node {
        Node { name: "k8s-node01".into(), addresses: vec!["192.168.66.20".parse().unwrap()], scheduler: "rr".into() }
    }

    fn svc(name: &str, spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata":{"name":name,"namespace":"default"},"spec":spec})).unwrap()
    }

    fn slice(svc: &str, port: serde_json::Value, endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({"metadata":{"name":format!("{svc}-abc"),"namespace":"default","labels":{"kubernetes.io/service-name":svc}},
            "addressType":"IPv4","ports":[port],"endpoints":endpoints}))
        .unwrap()
    }

    fn ep(ip: &str, node: &str, ready: bool) -> serde_json::Value {
        json!({"addresses":[ip],"nodeName":node,"conditions":{"ready":ready,"serving":ready,"terminating":false}})
    }

    /// The tutorial's own `ipvsadm -Ln`, from its Services and endpoints.
    #[test]
    fn the_tutorials_table() {
        let services = [
            svc("kubernetes", json!({"clusterIP":"10.96.0.1","ports":[{"name":"https","port":443,"protocol":"TCP"}]})),
            svc(
                "kube-dns",
                json!({"clusterIP":"10.96.0.10","ports":[
                {"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53,"protocol":"TCP"},{"name":"metrics","port":9153,"protocol":"TCP"}]}),
            ),
            svc("myapp", json!({"clusterIP":"10.108.46.110","ports":[{"name":"http","port":80,"protocol":"TCP"}]})),
        ];
        let slices = [
            slice("kubernetes", json!({"name":"https","port":6443,"protocol":"TCP"}), json!([ep("192.168.66.10", "master", true)])),
            serde_json::from_value(json!({"metadata":{"name":"kube-dns-x","namespace":"default","labels":{"kubernetes.io/service-name":"kube-dns"}},
                "addressType":"IPv4",
                "ports":[{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53,"protocol":"TCP"},{"name":"metrics","port":9153,"protocol":"TCP"}],
                "endpoints":[ep("10.244.0.16", "master", true), ep("10.244.0.17", "master", true)]})).unwrap(),
            slice("myapp", json!({"name":"http","port":80,"protocol":"TCP"}), json!([ep("10.244.2.41", "n2", true), ep("10.244.1.31", "n1", true), ep("10.244.1.32", "n1", true)])),
        ];
        let state = desired_state(&services, &slices, &node());
        // The tutorial printed exactly this (see the snapshot).
        insta::assert_snapshot!(ipvsadm_ln(&state.table));
        assert_eq!(state.bound_addresses.len(), 3);
    }

    #[test]
    fn node_ports_external_ips_affinity_and_schedulers() {
        let mut s = svc(
            "web",
            json!({"type":"NodePort","clusterIP":"10.96.5.5","externalIPs":["203.0.113.7"],
            "sessionAffinity":"ClientIP","ports":[{"name":"http","port":80,"nodePort":30080,"protocol":"TCP"}]}),
        );
        s.metadata.annotations = Some([(SCHEDULER_ANNOTATION.to_string(), "wlc".to_string())].into());
        let slices = [slice(
            "web",
            json!({"name":"http","port":8080,"protocol":"TCP"}),
            json!([ep("10.244.1.5", "k8s-node01", true)]),
        )];
        let state = desired_state(&[s], &slices, &node());
        let text = ipvsadm_ln(&state.table);
        assert!(text.contains("TCP  10.96.5.5:80 wlc persistent 10800\n  -> 10.244.1.5:8080"), "{text}");
        assert!(text.contains("TCP  192.168.66.20:30080 wlc persistent 10800"), "{text}");
        assert!(text.contains("TCP  203.0.113.7:80 wlc"), "{text}");
        assert_eq!(state.bound_addresses, ["10.96.5.5".parse().unwrap(), "203.0.113.7".parse().unwrap()].into());
    }

    #[test]
    fn readiness_terminating_and_local_policies() {
        let s = svc(
            "web",
            json!({"clusterIP":"10.96.5.5","externalTrafficPolicy":"Local","type":"NodePort",
            "ports":[{"name":"http","port":80,"nodePort":30080,"protocol":"TCP"}]}),
        );
        let one = |eps| {
            desired_state(
                std::slice::from_ref(&s),
                &[slice("web", json!({"name":"http","port":80,"protocol":"TCP"}), eps)],
                &node(),
            )
        };
        let ips = |st: &DesiredState, port: u16| -> Vec<String> {
            st.table
                .iter()
                .find(|(k, _)| k.port == port)
                .unwrap()
                .1
                .real_servers
                .keys()
                .map(|k| k.address.to_string())
                .collect()
        };
        let st = one(json!([
            ep("10.0.0.1", "k8s-node01", true),
            ep("10.0.0.2", "k8s-node02", true),
            ep("10.0.0.3", "k8s-node01", false)
        ]));
        assert_eq!(ips(&st, 80), ["10.0.0.1", "10.0.0.2"], "ClusterIP: every ready endpoint");
        assert_eq!(ips(&st, 30080), ["10.0.0.1"], "NodePort with Local: this node's only");
        // Only terminating endpoints left: they keep serving until gone.
        let st = one(
            json!([{"addresses":["10.0.0.9"],"nodeName":"k8s-node01","conditions":{"ready":false,"serving":true,"terminating":true}}]),
        );
        assert_eq!(ips(&st, 80), ["10.0.0.9"]);
        // Headless and ExternalName Services have no virtual server.
        let headless = svc("h", json!({"clusterIP":"None","ports":[{"port":80}]}));
        let external = svc("e", json!({"type":"ExternalName","externalName":"example.com"}));
        assert!(desired_state(&[headless, external], &[], &node()).table.is_empty());
    }
}
