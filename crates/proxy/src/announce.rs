//! Which node announces each load-balancer address, as MetalLB's layer-2
//! speakers decide it: statelessly, every node computing the same answer.
//! The candidates are the Ready nodes (with `externalTrafficPolicy: Local`,
//! only those with a ready local endpoint, since the others would drop the
//! traffic); they are ordered by the SHA-256 of `node#address`, and the
//! first one wins. The order of two nodes never depends on the others, so
//! an address moves only when its winner stops being a candidate or a new
//! candidate sorts before it.

use api::well_known::EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// A node as the election sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    /// `Ready=True`, and not labelled out of external load balancers.
    pub eligible: bool,
    /// `Ready=True`: its proxy is alive and lets go of what it no longer
    /// wins (the handover waits for that, see `handover.rs`).
    pub ready: bool,
}

/// The election's view of `node`.
pub fn candidate(node: &Node) -> Candidate {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let excluded =
        node.metadata.labels.as_ref().is_some_and(|l| l.contains_key(EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL));
    Candidate { name: node.metadata.name.clone().unwrap_or_default(), eligible: ready && !excluded, ready }
}

/// The Event a node records on a Service when it takes its address over
/// (MetalLB's speaker: `nodeAssigned`).
pub const NODE_ASSIGNED: &str = "nodeAssigned";

/// `announcing from node "node1" with protocol "layer2"`, as MetalLB's.
pub fn assigned_message(node: &str) -> String {
    format!("announcing from node {node:?} with protocol \"layer2\"")
}

/// MetalLB's order key: `sha256(node + "#" + ip)`.
fn rank(node: &str, ip: IpAddr) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, format!("{node}#{ip}").as_bytes())
}

/// The node that announces `ip`, among `nodes`; `local`: the nodes that
/// have a ready endpoint of the Service, when its policy is Local.
pub fn announcer<'a>(ip: IpAddr, nodes: &'a [Candidate], local: Option<&BTreeSet<String>>) -> Option<&'a str> {
    nodes
        .iter()
        .filter(|n| n.eligible && local.is_none_or(|l| l.contains(&n.name)))
        .min_by(|a, b| rank(&a.name, ip).as_ref().cmp(rank(&b.name, ip).as_ref()).then(a.name.cmp(&b.name)))
        .map(|n| n.name.as_str())
}

/// The nodes with a ready endpoint in `slices` (the Service's own).
pub fn nodes_with_ready_endpoints(slices: &[&EndpointSlice]) -> BTreeSet<String> {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .filter_map(|e| e.node_name.clone())
        .collect()
}

/// The load-balancer addresses of `svc` that nodes deliver themselves
/// (`ipMode` VIP or unset; `Proxy` means the balancer sends to a node's
/// NodePort, so no node must claim the address).
pub fn vip_addresses(svc: &Service) -> Vec<IpAddr> {
    if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) != Some("LoadBalancer") {
        return Vec::new();
    }
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter(|i| i.ip_mode.as_deref().is_none_or(|m| m == "VIP"))
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect()
}

/// Every announced address and its node: what `me` must hold is the
/// addresses mapped to `me`.
pub fn announcements<'s>(
    services: &[&Service],
    slices_of: impl Fn(&Service) -> Vec<&'s EndpointSlice>,
    nodes: &[Candidate],
) -> BTreeMap<IpAddr, String> {
    let mut out = BTreeMap::new();
    for svc in services {
        let local = svc.spec.as_ref().and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local");
        let with_endpoints = local.then(|| nodes_with_ready_endpoints(&slices_of(svc)));
        for ip in vip_addresses(svc) {
            if let Some(node) = announcer(ip, nodes, with_endpoints.as_ref()) {
                out.insert(ip, node.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[(&str, bool)]) -> Vec<Candidate> {
        names.iter().map(|(n, e)| Candidate { name: n.to_string(), eligible: *e, ready: *e }).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_by_hash_among_the_eligible() {
        let all = nodes(&[("node1", true), ("node2", true), ("node3", true)]);
        // MetalLB's order (computed apart with Python's hashlib).
        let golden =
            [("172.28.0.200", "node1"), ("172.28.0.201", "node2"), ("172.28.0.202", "node1"), ("10.0.0.1", "node2")];
        for (a, want) in golden {
            assert_eq!(announcer(ip(a), &all, None), Some(want), "{a}");
        }
        // The runner-up takes over when the winner is not eligible.
        let without_node1 = nodes(&[("node1", false), ("node2", true), ("node3", true)]);
        assert_eq!(announcer(ip("172.28.0.200"), &without_node1, None), Some("node3"));
        // Different addresses spread over the nodes.
        let spread: BTreeSet<&str> =
            (0..20).filter_map(|i| announcer(ip(&format!("172.28.0.{}", 200 + i)), &all, None)).collect();
        assert_eq!(spread.len(), 3);
        // Nobody eligible: nobody announces.
        assert_eq!(announcer(ip("10.0.0.1"), &nodes(&[("node1", false)]), None), None);
        assert_eq!(announcer(ip("10.0.0.1"), &all, Some(&BTreeSet::new())), None);
        assert_eq!(assigned_message("node1"), r#"announcing from node "node1" with protocol "layer2""#);
    }

    #[test]
    fn moves_only_when_its_node_or_endpoints_change() {
        let names = ["node1", "node2", "node3", "node4"];
        for i in 0..30 {
            let a = ip(&format!("172.28.0.{}", 200 + i));
            let all = nodes(&names.map(|n| (n, true)));
            let winner = announcer(a, &all, None).unwrap().to_string();
            for other in names.iter().filter(|n| **n != winner) {
                // Another node going away, or not Ready, changes nothing.
                let fewer: Vec<Candidate> = all.iter().filter(|n| n.name != *other).cloned().collect();
                assert_eq!(announcer(a, &fewer, None), Some(winner.as_str()));
                let unready: Vec<Candidate> =
                    all.iter().map(|n| Candidate { eligible: n.name != *other, ..n.clone() }).collect();
                assert_eq!(announcer(a, &unready, None), Some(winner.as_str()));
                // Nor another node losing its local endpoint.
                let local: BTreeSet<String> = names.iter().filter(|n| *n != other).map(|n| n.to_string()).collect();
                assert_eq!(announcer(a, &all, Some(&local)), Some(winner.as_str()));
            }
            // Its own node failing moves it to a node still eligible.
            let failed: Vec<Candidate> =
                all.iter().map(|n| Candidate { eligible: n.name != winner, ..n.clone() }).collect();
            let next = announcer(a, &failed, None).unwrap();
            assert_ne!(next, winner);
            // ... and back once it recovers.
            assert_eq!(announcer(a, &all, None), Some(winner.as_str()));
        }
    }

    #[test]
    fn local_policy_and_ip_mode() {
        let svc = |policy: &str, mode: Option<&str>| -> Service {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy},
                "status": {"loadBalancer": {"ingress": [{"ip": "172.28.0.200", "ipMode": mode}]}},
            }))
            .unwrap()
        };
        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1"}, "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.1.2.5"], "conditions": {"ready": true}, "nodeName": "node2"},
                {"addresses": ["10.1.1.5"], "conditions": {"ready": false}, "nodeName": "node1"},
            ],
        }))
        .unwrap();
        let all = nodes(&[("node1", true), ("node2", true), ("node3", true)]);
        let local = svc("Local", Some("VIP"));
        let got = announcements(&[&local], |_| vec![&slice], &all);
        assert_eq!(got, BTreeMap::from([(ip("172.28.0.200"), "node2".to_string())]));
        let cluster = svc("Cluster", None);
        assert_eq!(announcements(&[&cluster], |_| vec![&slice], &all).len(), 1);
        // ipMode Proxy: the balancer targets NodePorts; nobody claims the address.
        let proxied = svc("Cluster", Some("Proxy"));
        assert!(announcements(&[&proxied], |_| vec![&slice], &all).is_empty());
    }
}
