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
//! `rr` in spirit; schedulers and ClientIP persistence are IPVS-only).

use crate::desired::DesiredState;
use crate::model::Protocol;
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
        let _ = writeln!(chains, "    meta mark set meta mark | {MASQUERADE_MARK}");
        let _ = writeln!(chains, "    numgen random mod {} vmap {{ {} }}", vs.real_servers.len(), targets.join(", "));
        chains.push_str("  }\n");
        for (j, rs) in vs.real_servers.keys().enumerate() {
            let _ =
                writeln!(chains, "  chain ep-{i}-{j} {{ meta l4proto {proto} dnat to {}:{}; }}", rs.address, rs.port);
        }
    }
    let _ = write!(out, "  chain services {{\n{services}  }}\n{chains}}}\n");
    out
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
}
