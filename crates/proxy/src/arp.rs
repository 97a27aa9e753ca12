//! ARP for the announced LoadBalancer addresses, as MetalLB's layer-2
//! speaker and kube-proxy's IPVS mode need it.
//!
//! - Gratuitous ARP: a node that takes an address over tells the network at
//!   once ("172.28.0.200 is at my MAC"), so that the neighbours' caches,
//!   the host's among them, follow a handover instead of probing the old
//!   node's MAC for seconds. The proxy runs `arping -U` (iputils', or
//!   busybox's applet), as it runs `nft` for its rules.
//! - Strict ARP (`--ipvs-strict-arp`, kube-proxy's `ipvs.strictARP`): the
//!   IPVS mode holds every Service address on `kube-ipvs0`, and by default
//!   Linux answers ARP on any interface for any local address, so every
//!   node would claim every LoadBalancer address. `arp_ignore=1` answers
//!   only for addresses of the interface asked; `arp_announce=2` picks the
//!   source of the node's own requests from that interface.

use std::net::IpAddr;
use std::process::{Command, Stdio};

/// The command that announces `ip` on `device`: one unsolicited ARP
/// (sender and target both `ip`), which updates existing cache entries.
pub fn gratuitous_arp_command(device: &str, ip: IpAddr) -> Option<Vec<String>> {
    // IPv6 would be an unsolicited neighbour advertisement: not done here.
    let IpAddr::V4(v4) = ip else { return None };
    Some(
        ["arping", "-U", "-c", "1", "-w", "1", "-I", device, "-s"]
            .map(String::from)
            .into_iter()
            .chain([v4.to_string(), v4.to_string()])
            .collect(),
    )
}

/// Sends the gratuitous ARP for each of `taken` on `device`, without
/// waiting (arping may take its timeout); a failure is logged, never fatal:
/// the caches still learn the address by asking, only later.
pub fn announce_taken(device: &str, taken: impl IntoIterator<Item = IpAddr>) {
    let commands: Vec<Vec<String>> = taken.into_iter().filter_map(|ip| gratuitous_arp_command(device, ip)).collect();
    if commands.is_empty() {
        return;
    }
    std::thread::spawn(move || {
        for argv in commands {
            let run = |program: &str, pre: &[&str]| {
                Command::new(program).args(pre).args(&argv[1..]).stdin(Stdio::null()).output()
            };
            // Busybox's applet where no `arping` is linked (this machine's busybox-static).
            let out = match run(&argv[0], &[]) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => run("busybox", &["arping"]),
                other => other,
            };
            match out {
                Ok(o) if o.status.success() => tracing::debug!(?argv, "gratuitous ARP sent"),
                Ok(o) => tracing::warn!(?argv, "gratuitous ARP: {}", String::from_utf8_lossy(&o.stderr).trim()),
                Err(e) => tracing::warn!(?argv, "gratuitous ARP: {e}"),
            }
        }
    });
}

/// The sysctls of strict ARP, as kube-proxy writes them.
pub const STRICT_ARP: [(&str, &str); 2] =
    [("/proc/sys/net/ipv4/conf/all/arp_ignore", "1"), ("/proc/sys/net/ipv4/conf/all/arp_announce", "2")];

/// Sets strict ARP; where `/proc/sys` is read-only (a container), the
/// values already there are checked instead, and a difference is logged.
pub fn set_strict_arp() {
    for (path, value) in STRICT_ARP {
        if std::fs::write(path, value).is_err() {
            let now = std::fs::read_to_string(path).unwrap_or_default();
            if now.trim() != value {
                tracing::warn!("cannot set {path} to {value} (it is {:?}): other nodes may answer ARP for this node's Service addresses", now.trim());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_unsolicited_arp_per_taken_ipv4_address() {
        let argv = gratuitous_arp_command("eth0", "172.28.0.200".parse().unwrap()).unwrap();
        assert_eq!(argv.join(" "), "arping -U -c 1 -w 1 -I eth0 -s 172.28.0.200 172.28.0.200");
        assert_eq!(gratuitous_arp_command("eth0", "fd00::200".parse().unwrap()), None);
    }
}
