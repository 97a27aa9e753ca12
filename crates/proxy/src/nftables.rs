//! The nftables mode: the desired table as one nftables ruleset, replaced
//! whole in one transaction (`nft -f -`), as upstream's nftables mode does.
//!
//! ```text
//! prerouting/output ─▶ services: ip daddr 10.96.5.5 tcp dport 80 ─▶ svc-0
//! svc-0: mark for masquerade; numgen random mod 2 ─▶ ep-0-0 | ep-0-1
//! ep-0-0: dnat to 10.244.1.2:80          postrouting: marked ─▶ masquerade
//! ```
//!
//! Virtual servers become DNAT rules with an even random choice (IPVS's
//! `rr` in spirit; the other schedulers are IPVS-only). `sessionAffinity:
//! ClientIP` is a dynamic set per endpoint, as upstream: a client address
//! seen within the timeout goes straight to its endpoint.
//!
//! The IPVS mode needs nftables too, for what IPVS does not do
//! ([`ipvs_ruleset`]): marking the traffic to masquerade, refusing
//! connections to a ClusterIP's other ports (the dummy interface makes the
//! node accept *every* port on it), and `loadBalancerSourceRanges` (the
//! same firewall chain as the nftables mode's).

use crate::desired::DesiredState;
use crate::model::{Protocol, VirtualServerKey};
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;

/// The proxy's own table: it never touches any other.
pub const TABLE: &str = "mini-kube-proxy";
/// The packet mark that says "masquerade me" (kube-proxy's bit).
pub const MASQUERADE_MARK: &str = "0x00004000";

fn l4(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// The ruleset for `state`. Loading it replaces the proxy's table atomically
/// (the empty `table` line makes `delete` succeed on a first run).
pub fn ruleset(state: &DesiredState) -> String {
    let mut out = format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n");
    out.push_str("  chain prerouting { type nat hook prerouting priority -100; policy accept; jump services; }\n");
    out.push_str("  chain output { type nat hook output priority -100; policy accept; jump services; }\n");
    let _ = writeln!(
        out,
        "  chain postrouting {{ type nat hook postrouting priority 100; policy accept; meta mark & {MASQUERADE_MARK} == {MASQUERADE_MARK} masquerade; }}"
    );
    let mut services = String::new();
    let mut sets = String::new();
    let mut chains = String::new();
    for (i, (key, vs)) in state.table.iter().enumerate() {
        let IpAddr::V4(address) = key.address else { continue };
        if vs.real_servers.is_empty() {
            continue;
        }
        let proto = l4(key.protocol);
        let _ = writeln!(services, "    ip daddr {address} {proto} dport {} jump svc-{i}", key.port);
        let targets: Vec<String> = (0..vs.real_servers.len()).map(|j| format!("{j} : jump ep-{i}-{j}")).collect();
        let _ = writeln!(chains, "  chain svc-{i} {{");
        // `externalTrafficPolicy: Local` keeps the client's address.
        if !state.preserve_source.contains(key) {
            let _ = writeln!(chains, "    meta mark set meta mark | {MASQUERADE_MARK}");
        }
        if let Some(timeout) = vs.persistence_timeout {
            for j in 0..vs.real_servers.len() {
                let _ = writeln!(
                    sets,
                    "  set affinity-{i}-{j} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}"
                );
                let _ = writeln!(chains, "    ip saddr @affinity-{i}-{j} goto ep-{i}-{j}");
            }
        }
        let _ = writeln!(chains, "    numgen random mod {} vmap {{ {} }}", vs.real_servers.len(), targets.join(", "));
        chains.push_str("  }\n");
        for (j, rs) in vs.real_servers.keys().enumerate() {
            let affinity = match vs.persistence_timeout {
                Some(_) => format!("update @affinity-{i}-{j} {{ ip saddr }} "),
                None => String::new(),
            };
            let _ = writeln!(
                chains,
                "  chain ep-{i}-{j} {{ {affinity}meta l4proto {proto} dnat to {}:{}; }}",
                rs.address, rs.port
            );
        }
    }
    out.push_str(&firewall(state));
    let _ = write!(out, "{sets}  chain services {{\n{services}  }}\n{chains}}}\n");
    out
}

/// `spec.loadBalancerSourceRanges`: a filter chain that runs before the
/// DNAT (priority -110, so the destination is still the LoadBalancer
/// address; in the IPVS mode, before IPVS sees the packet in `input`) and
/// drops what comes from outside the ranges. Nothing when no Service has
/// ranges, so the usual ruleset stays as it was.
fn firewall(state: &DesiredState) -> String {
    let mut rules = String::new();
    for (key, ranges) in &state.source_ranges {
        let IpAddr::V4(address) = key.address else { continue };
        let v4: Vec<String> =
            ranges.iter().filter(|r| matches!(r, ipnet::IpNet::V4(_))).map(|r| r.to_string()).collect();
        if v4.is_empty() || !state.table.contains_key(key) {
            continue;
        }
        let proto = l4(key.protocol);
        let _ = writeln!(
            rules,
            "    ip daddr {address} {proto} dport {} ip saddr != {{ {} }} drop",
            key.port,
            v4.join(", ")
        );
    }
    if rules.is_empty() {
        return rules;
    }
    let mut out = String::new();
    out.push_str(
        "  chain filter-prerouting { type filter hook prerouting priority -110; policy accept; jump firewall; }\n",
    );
    out.push_str("  chain filter-output { type filter hook output priority -110; policy accept; jump firewall; }\n");
    let _ = write!(out, "  chain firewall {{\n{rules}  }}\n");
    out
}

/// Which Service traffic the IPVS mode masquerades, as kube-proxy's flags say.
#[derive(Debug, Clone, Default)]
pub struct Masquerade {
    /// `--masquerade-all`: every connection to a ClusterIP.
    pub all: bool,
    /// `--cluster-cidr`: connections to a ClusterIP from outside the pod network.
    pub cluster_cidr: Option<Ipv4Net>,
}

/// `{ a, b }`, or nothing for an empty set (nft refuses `elements = { }`).
fn elements(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" elements = {{ {} }};", items.join(", "))
    }
}

/// The IPVS mode's companion ruleset. IPVS balances; these rules
/// - refuse a new connection to an address on `kube-ipvs0` unless it is for a
///   virtual server (the filter chain runs before IPVS's LOCAL_IN hook);
/// - mark for masquerading: NodePort traffic always (the reply must come back
///   through this node), ClusterIP traffic if `--masquerade-all`, or if it
///   comes from outside `--cluster-cidr`;
/// - masquerade what is marked (IPVS's connections are visible to conntrack
///   because the proxy sets `net.ipv4.vs.conntrack=1`).
///
/// It changes only with a virtual server's [`CompanionMarks`] (it comes or
/// goes, turns Local, gets source ranges), never for an endpoint.
pub fn ipvs_ruleset(state: &DesiredState, masquerade: &Masquerade) -> String {
    let (mut cluster, mut node_ports, mut bound) = (vec![], vec![], vec![]);
    let (mut external, mut local) = (vec![], vec![]);
    for key in state.table.keys() {
        let IpAddr::V4(address) = key.address else { continue };
        let entry = format!("{address} . {} . {}", l4(key.protocol), key.port);
        // Under `externalTrafficPolicy: Local`, external traffic keeps its
        // source (kube-proxy's KUBE-LOAD-BALANCER-LOCAL and
        // KUBE-NODE-PORT-LOCAL sets); under Cluster it is masqueraded.
        let masquerade = !state.preserve_source.contains(key);
        match (state.external.contains(key), masquerade) {
            (true, true) => external.push(entry.clone()),
            (true, false) => local.push(entry.clone()),
            (false, _) => {}
        }
        if state.bound_addresses.contains(&key.address) {
            cluster.push(entry);
        } else if masquerade {
            node_ports.push(entry);
        }
    }
    for a in &state.bound_addresses {
        if let IpAddr::V4(a) = a {
            bound.push(a.to_string());
        }
    }
    let vs_set = "type ipv4_addr . inet_proto . inet_service;";
    let mut out = format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n");
    let _ = writeln!(out, "  set cluster-ips {{ {vs_set}{} }}", elements(&cluster));
    let _ = writeln!(out, "  set node-ports {{ {vs_set}{} }}", elements(&node_ports));
    let _ = writeln!(out, "  set ipvs-ips {{ type ipv4_addr;{} }}", elements(&bound));
    for (name, entries) in [("external-ips", &external), ("external-local", &local)] {
        if !entries.is_empty() {
            let _ = writeln!(out, "  set {name} {{ {vs_set}{} }}", elements(entries));
        }
    }
    out.push_str(&firewall(state));
    out.push_str("  chain filter-input {\n    type filter hook input priority filter; policy accept;\n");
    out.push_str(
        "    ct state new ip daddr @ipvs-ips ip daddr . meta l4proto . th dport != @cluster-ips reject\n  }\n",
    );
    out.push_str(
        "  chain prerouting { type nat hook prerouting priority -100; policy accept; jump mark-for-masquerade; }\n",
    );
    out.push_str("  chain output { type nat hook output priority -100; policy accept; jump mark-for-masquerade; }\n");
    let _ = writeln!(
        out,
        "  chain postrouting {{ type nat hook postrouting priority 100; policy accept; meta mark & {MASQUERADE_MARK} == {MASQUERADE_MARK} masquerade; }}"
    );
    let mark = format!("meta mark set meta mark | {MASQUERADE_MARK}");
    out.push_str("  chain mark-for-masquerade {\n");
    if !local.is_empty() {
        out.push_str("    ip daddr . meta l4proto . th dport @external-local return\n");
    }
    let _ = writeln!(out, "    ip daddr . meta l4proto . th dport @node-ports {mark}");
    if !external.is_empty() {
        let _ = writeln!(out, "    ip daddr . meta l4proto . th dport @external-ips {mark}");
    }
    match (masquerade.all, masquerade.cluster_cidr) {
        (true, _) => {
            let _ = writeln!(out, "    ip daddr . meta l4proto . th dport @cluster-ips {mark}");
        }
        (false, Some(cidr)) => {
            let _ = writeln!(out, "    ip saddr != {cidr} ip daddr . meta l4proto . th dport @cluster-ips {mark}");
        }
        (false, None) => {}
    }
    out.push_str("  }\n}\n");
    out
}

/// What [`ipvs_ruleset`] says of one virtual server besides the kernel's
/// table: the IPVS mode reloads the ruleset only when these change for
/// some virtual server (`None`: the virtual server is not there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanionMarks {
    external: bool,
    preserve_source: bool,
    source_ranges: Option<Vec<ipnet::IpNet>>,
}

impl CompanionMarks {
    pub fn of(state: &DesiredState, key: &VirtualServerKey) -> Option<Self> {
        state.table.contains_key(key).then(|| CompanionMarks {
            external: state.external.contains(key),
            preserve_source: state.preserve_source.contains(key),
            source_ranges: state.source_ranges.get(key).cloned(),
        })
    }
}

/// Keeps `marks` equal to `state`'s for the `changed` virtual servers
/// (every one for `None`); true when any of them differed.
pub fn update_marks(
    marks: &mut BTreeMap<VirtualServerKey, CompanionMarks>,
    state: &DesiredState,
    changed: Option<&BTreeSet<VirtualServerKey>>,
) -> bool {
    let Some(keys) = changed else {
        let now: BTreeMap<_, _> =
            state.table.keys().filter_map(|k| Some((*k, CompanionMarks::of(state, k)?))).collect();
        return std::mem::replace(marks, now) != *marks;
    };
    let mut differed = false;
    for key in keys {
        let now = CompanionMarks::of(state, key);
        let before = match &now {
            Some(m) => marks.insert(*key, m.clone()),
            None => marks.remove(key),
        };
        differed |= before != now;
    }
    differed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RealServer, RealServerKey, VirtualServer, VirtualServerKey};

    #[test]
    fn one_service_two_endpoints() {
        let mut state = DesiredState::default();
        let vs = VirtualServerKey { protocol: Protocol::Tcp, address: "10.96.5.5".parse().unwrap(), port: 80 };
        let real_servers = ["10.244.1.2", "10.244.1.3"]
            .iter()
            .map(|ip| (RealServerKey { address: ip.parse().unwrap(), port: 8080 }, RealServer::with_weight(1)))
            .collect();
        state.table.insert(vs, VirtualServer { scheduler: "rr".into(), persistence_timeout: None, real_servers });
        let empty = VirtualServerKey { protocol: Protocol::Udp, address: "10.96.5.6".parse().unwrap(), port: 53 };
        state.table.insert(
            empty,
            VirtualServer { scheduler: "rr".into(), persistence_timeout: None, real_servers: Default::default() },
        );
        let want = "\
table ip mini-kube-proxy {}
delete table ip mini-kube-proxy
table ip mini-kube-proxy {
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump services; }
  chain output { type nat hook output priority -100; policy accept; jump services; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; meta mark & 0x00004000 == 0x00004000 masquerade; }
  chain services {
    ip daddr 10.96.5.5 tcp dport 80 jump svc-0
  }
  chain svc-0 {
    meta mark set meta mark | 0x00004000
    numgen random mod 2 vmap { 0 : jump ep-0-0, 1 : jump ep-0-1 }
  }
  chain ep-0-0 { meta l4proto tcp dnat to 10.244.1.2:8080; }
  chain ep-0-1 { meta l4proto tcp dnat to 10.244.1.3:8080; }
}
";
        assert_eq!(ruleset(&state), want);
    }

    fn web_state(persistence: Option<u32>) -> DesiredState {
        let mut state = DesiredState::default();
        let cluster_ip: IpAddr = "10.96.5.5".parse().unwrap();
        let real_servers: std::collections::BTreeMap<_, _> = ["10.244.1.2", "10.244.1.3"]
            .iter()
            .map(|ip| (RealServerKey { address: ip.parse().unwrap(), port: 8080 }, RealServer::with_weight(1)))
            .collect();
        let vs = VirtualServer { scheduler: "rr".into(), persistence_timeout: persistence, real_servers };
        state.table.insert(VirtualServerKey { protocol: Protocol::Tcp, address: cluster_ip, port: 80 }, vs.clone());
        let node_ip: IpAddr = "192.168.66.20".parse().unwrap();
        state.table.insert(VirtualServerKey { protocol: Protocol::Tcp, address: node_ip, port: 30080 }, vs);
        state.bound_addresses.insert(cluster_ip);
        state.node_addresses.insert(node_ip);
        state
    }

    /// A LoadBalancer `web` at 172.28.0.200 with `spec` merged into its
    /// spec, and its slice: one ready endpoint on node `n`.
    fn web_lb(
        spec: serde_json::Value,
    ) -> (k8s_openapi::api::core::v1::Service, k8s_openapi::api::discovery::v1::EndpointSlice) {
        let mut svc = serde_json::json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.5.5", "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "172.28.0.200", "ipMode": "VIP"}]}},
        });
        for (k, v) in spec.as_object().unwrap() {
            svc["spec"][k] = v.clone();
        }
        let slice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"port": 8080}],
            "endpoints": [{"addresses": ["10.244.1.2"], "conditions": {"ready": true}, "nodeName": "n"}],
        }))
        .unwrap();
        (serde_json::from_value(svc).unwrap(), slice)
    }

    #[test]
    fn source_ranges_drop_other_clients_before_the_dnat() {
        let (svc, slice) =
            web_lb(serde_json::json!({"loadBalancerSourceRanges": ["10.1.0.0/24", " 192.168.0.0/16", "nonsense"]}));
        let node = crate::desired::Node { name: "n".into(), addresses: vec![], scheduler: "rr".into() };
        let state = crate::desired::desired_state(std::slice::from_ref(&svc), std::slice::from_ref(&slice), &node);
        let rules = ruleset(&state);
        let want =
            "  chain filter-prerouting { type filter hook prerouting priority -110; policy accept; jump firewall; }
  chain filter-output { type filter hook output priority -110; policy accept; jump firewall; }
  chain firewall {
    ip daddr 172.28.0.200 tcp dport 80 ip saddr != { 10.1.0.0/24, 192.168.0.0/16 } drop
  }
";
        assert!(rules.contains(want), "{rules}");
        // Only the LoadBalancer address is filtered, not the ClusterIP.
        assert_eq!(rules.matches(" drop").count(), 1);
        // The IPVS mode's companion rules filter the same way.
        let ipvs = ipvs_ruleset(&state, &Masquerade::default());
        assert!(ipvs.contains(want), "{ipvs}");
        // Without ranges, the ruleset has no firewall at all.
        let mut open = svc;
        open.spec.as_mut().unwrap().load_balancer_source_ranges = None;
        let open = crate::desired::desired_state(&[open], std::slice::from_ref(&slice), &node);
        assert!(!ruleset(&open).contains("firewall"));
        assert!(!ipvs_ruleset(&open, &Masquerade::default()).contains("firewall"));
        // Dropping the ranges changes the LoadBalancer address's marks and
        // nothing else: the IPVS mode reloads its rules for that alone.
        let lb = VirtualServerKey { protocol: Protocol::Tcp, address: [172, 28, 0, 200].into(), port: 80 };
        let cluster_ip = *state.table.keys().find(|k| k.address != lb.address).unwrap();
        let mut marks = BTreeMap::new();
        assert!(update_marks(&mut marks, &state, None), "the first full sync");
        assert!(!update_marks(&mut marks, &state, None), "nothing changed");
        assert!(!update_marks(&mut marks, &open, Some(&[cluster_ip].into())), "the ClusterIP's marks are the same");
        assert!(update_marks(&mut marks, &open, Some(&[lb].into())), "the ranges are gone");
        assert!(!update_marks(&mut marks, &open, None), "and the marks say so");
        let empty = DesiredState::default();
        assert!(update_marks(&mut marks, &empty, Some(&[lb, cluster_ip].into())), "the Service is deleted");
        assert!(marks.is_empty());
    }

    /// The "Source IP" tutorial's rule: a LoadBalancer with
    /// `externalTrafficPolicy: Local` keeps its clients' addresses, and
    /// with Cluster they are masqueraded, in both kernel modes.
    #[test]
    fn local_external_traffic_is_not_masqueraded() {
        let state = |policy: &str| {
            let (svc, slice) = web_lb(serde_json::json!({"externalTrafficPolicy": policy}));
            let node = crate::desired::Node {
                name: "n".into(),
                addresses: vec!["172.28.0.11".parse().unwrap()],
                scheduler: "rr".into(),
            };
            crate::desired::desired_state(&[svc], &[slice], &node)
        };
        // nftables: one chain per virtual server, in key order: the
        // ClusterIP (10.96.5.5:80), the NodePort (172.28.0.11:30080), the
        // LoadBalancer address (172.28.0.200:80).
        let marks = |rules: &str| -> Vec<bool> {
            rules
                .split("  chain svc-")
                .skip(1)
                .map(|c| c.split("  }").next().unwrap().contains("meta mark set"))
                .collect()
        };
        assert_eq!(marks(&ruleset(&state("Local"))), [true, false, false]);
        assert_eq!(marks(&ruleset(&state("Cluster"))), [true, true, true]);
        // IPVS: Local's external addresses skip the marking, Cluster's are marked.
        let cidr = Masquerade { all: false, cluster_cidr: Some("10.244.0.0/16".parse().unwrap()) };
        let local = ipvs_ruleset(&state("Local"), &cidr);
        assert!(local.contains("  set external-local { type ipv4_addr . inet_proto . inet_service; elements = { 172.28.0.200 . tcp . 80 }; }"), "{local}");
        assert!(
            local.contains(
                "  chain mark-for-masquerade {\n    ip daddr . meta l4proto . th dport @external-local return\n"
            ),
            "{local}"
        );
        assert!(local.contains("  set node-ports { type ipv4_addr . inet_proto . inet_service; }"), "{local}");
        let cluster = ipvs_ruleset(&state("Cluster"), &cidr);
        assert!(!cluster.contains("external-local"), "{cluster}");
        assert!(cluster.contains("    ip daddr . meta l4proto . th dport @external-ips meta mark set"), "{cluster}");
        assert!(cluster.contains("elements = { 172.28.0.11 . tcp . 30080 }"), "{cluster}");
    }

    #[test]
    fn client_ip_affinity_is_a_set_per_endpoint() {
        let rules = ruleset(&web_state(Some(600)));
        assert!(
            rules.contains("  set affinity-0-1 { type ipv4_addr; flags dynamic,timeout; timeout 600s; }\n"),
            "{rules}"
        );
        let svc = "  chain svc-0 {\n    meta mark set meta mark | 0x00004000\n    ip saddr @affinity-0-0 goto ep-0-0\n    ip saddr @affinity-0-1 goto ep-0-1\n    numgen random mod 2";
        assert!(rules.contains(svc), "{rules}");
        assert!(
            rules.contains(
                "  chain ep-0-1 { update @affinity-0-1 { ip saddr } meta l4proto tcp dnat to 10.244.1.3:8080; }"
            ),
            "{rules}"
        );
    }

    #[test]
    fn the_ipvs_modes_filter_and_masquerade_rules() {
        let state = web_state(None);
        let want = "\
table ip mini-kube-proxy {}
delete table ip mini-kube-proxy
table ip mini-kube-proxy {
  set cluster-ips { type ipv4_addr . inet_proto . inet_service; elements = { 10.96.5.5 . tcp . 80 }; }
  set node-ports { type ipv4_addr . inet_proto . inet_service; elements = { 192.168.66.20 . tcp . 30080 }; }
  set ipvs-ips { type ipv4_addr; elements = { 10.96.5.5 }; }
  chain filter-input {
    type filter hook input priority filter; policy accept;
    ct state new ip daddr @ipvs-ips ip daddr . meta l4proto . th dport != @cluster-ips reject
  }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump mark-for-masquerade; }
  chain output { type nat hook output priority -100; policy accept; jump mark-for-masquerade; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; meta mark & 0x00004000 == 0x00004000 masquerade; }
  chain mark-for-masquerade {
    ip daddr . meta l4proto . th dport @node-ports meta mark set meta mark | 0x00004000
  }
}
";
        assert_eq!(ipvs_ruleset(&state, &Masquerade::default()), want);
        let all = ipvs_ruleset(&state, &Masquerade { all: true, cluster_cidr: None });
        assert!(all.contains("    ip daddr . meta l4proto . th dport @cluster-ips meta mark set"), "{all}");
        let cidr =
            ipvs_ruleset(&state, &Masquerade { all: false, cluster_cidr: Some("10.244.0.0/16".parse().unwrap()) });
        assert!(cidr
            .contains("    ip saddr != 10.244.0.0/16 ip daddr . meta l4proto . th dport @cluster-ips meta mark set"));
        // An endpoint change leaves the ruleset alone (no nft run for it).
        let mut moved = state.clone();
        moved.table.values_mut().for_each(|vs| vs.real_servers.clear());
        assert_eq!(ipvs_ruleset(&moved, &Masquerade::default()), want);
        // No Services: empty sets are written without elements.
        assert!(
            ipvs_ruleset(&DesiredState::default(), &Masquerade::default()).contains("set ipvs-ips { type ipv4_addr; }")
        );
    }
}
