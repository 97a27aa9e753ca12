//! Pods as network namespaces: the node agent's container runtime and CNI
//! in one, done with the `ip` command so each step reads like the shell.
//!
//! ```text
//! node: bridge cni0 10.244.1.1/24 ── veth klhXXXXXXXX ──┐
//! pod netns kl-XXXXXXXX: eth0 10.244.1.5/24, default via 10.244.1.1
//!                        its processes (the image table: `images`)
//! /etc/netns/kl-XXXXXXXX/{resolv.conf,hosts,hostname}
//! ```
//!
//! The pod's `/etc` files need no mount namespace of our own: `ip netns
//! exec NAME` gives the command one and bind-mounts each file of
//! `/etc/netns/NAME/` over `/etc/`, so every process started that way sees them.

use crate::images::{Process, Program};
use ipnet::Ipv4Net;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn ip(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("running ip: {e} (is iproute2 installed?)"))?;
    anyhow::ensure!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A running pod: its namespace, address and server processes.
pub struct Sandbox {
    pub netns: String,
    pub ip: Ipv4Addr,
    pub servers: Vec<Child>,
}

impl Sandbox {
    /// Whether every port answers a TCP connect.
    pub fn listening(&self, ports: &[u16]) -> bool {
        ports
            .iter()
            .all(|p| TcpStream::connect_timeout(&SocketAddr::from((self.ip, *p)), Duration::from_millis(200)).is_ok())
    }
}

pub struct Runtime {
    pub bridge: String,
    pub pod_cidr: Ipv4Net,
    /// This binary: the demo app runs as `kubelet-lite demo-app`.
    pub self_exe: PathBuf,
    /// The `cluster-dns` binary, for CoreDNS's image.
    pub cluster_dns_exe: PathBuf,
    /// Where `ip netns exec` finds each namespace's `/etc` files: `/etc/netns`.
    pub etc_netns: PathBuf,
}

/// The namespace of a pod: `kl-` and the first 8 characters of its uid.
pub fn netns_name(uid: &str) -> String {
    format!("kl-{}", &uid.chars().filter(char::is_ascii_alphanumeric).take(8).collect::<String>())
}

impl Runtime {
    pub fn gateway(&self) -> Ipv4Addr {
        self.pod_cidr.hosts().next().unwrap_or(self.pod_cidr.network())
    }

    /// Creates the node's pod bridge if missing, holding the gateway address.
    pub fn ensure_bridge(&self) -> anyhow::Result<()> {
        if ip(&["link", "show", &self.bridge]).is_err() {
            ip(&["link", "add", &self.bridge, "type", "bridge"])?;
        }
        let cidr = format!("{}/{}", self.gateway(), self.pod_cidr.prefix_len());
        if !ip(&["-4", "addr", "show", "dev", &self.bridge])?.contains(&cidr) {
            ip(&["addr", "add", &cidr, "dev", &self.bridge])?;
        }
        ip(&["link", "set", &self.bridge, "up"])?;
        Ok(())
    }

    /// The first free pod address (the gateway and `taken` excluded).
    pub fn allocate(&self, taken: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        self.pod_cidr.hosts().skip(1).find(|a| !taken.contains(a))
    }

    /// `ip netns add`, a veth into the bridge, the address and the route.
    pub fn create(&self, netns: &str, addr: Ipv4Addr) -> anyhow::Result<()> {
        let suffix = netns.trim_start_matches("kl-");
        let (outer, inner) = (format!("klh{suffix}"), format!("klp{suffix}"));
        let _ = ip(&["netns", "del", netns]);
        let _ = ip(&["link", "del", &outer]);
        ip(&["netns", "add", netns])?;
        ip(&["link", "add", &outer, "type", "veth", "peer", "name", &inner])?;
        ip(&["link", "set", &inner, "netns", netns])?;
        ip(&["link", "set", &outer, "master", &self.bridge, "up"])?;
        ip(&["-n", netns, "link", "set", &inner, "name", "eth0"])?;
        ip(&["-n", netns, "addr", "add", &format!("{addr}/{}", self.pod_cidr.prefix_len()), "dev", "eth0"])?;
        ip(&["-n", netns, "link", "set", "eth0", "up"])?;
        ip(&["-n", netns, "link", "set", "lo", "up"])?;
        ip(&["-n", netns, "route", "add", "default", "via", &self.gateway().to_string()])?;
        Ok(())
    }

    /// Writes the pod's `/etc` files where `ip netns exec` mounts them from.
    pub fn write_etc(&self, netns: &str, files: &[(&str, String)]) -> anyhow::Result<()> {
        let dir = self.etc_netns.join(netns);
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        for (name, content) in files {
            let path = dir.join(name);
            std::fs::write(&path, content).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        }
        Ok(())
    }

    fn program(&self, p: Program) -> &Path {
        match p {
            Program::SelfExe => &self.self_exe,
            Program::ClusterDns => &self.cluster_dns_exe,
        }
    }

    /// Starts the pod's processes inside its namespaces: `ip netns exec
    /// kl-XXXXXXXX cluster-dns --listen :53 ...`, each with `env`.
    pub fn start(&self, netns: &str, processes: &[Process], env: &[(String, String)]) -> anyhow::Result<Vec<Child>> {
        processes
            .iter()
            .map(|p| {
                Command::new("ip")
                    .args(["netns", "exec", netns])
                    .arg(self.program(p.program))
                    .args(&p.args)
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .stdout(Stdio::null())
                    // The DNS server's log joins the node agent's (`docker compose logs node1`).
                    .stderr(if p.program == Program::ClusterDns { Stdio::inherit() } else { Stdio::null() })
                    .spawn()
                    .map_err(|e| anyhow::anyhow!("starting {}: {e}", self.program(p.program).display()))
            })
            .collect()
    }

    /// Stops every process in the pod (its servers, also those an earlier
    /// run of the agent started and this one adopted) and removes the
    /// namespace (its veth goes with it) and its `/etc` files.
    pub fn destroy(&self, sandbox: &mut Sandbox) {
        for child in &mut sandbox.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
        let pids = ip(&["netns", "pids", &sandbox.netns]).unwrap_or_default();
        let pids: Vec<&str> = pids.split_whitespace().collect();
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-KILL").args(&pids).status();
        }
        let _ = ip(&["netns", "del", &sandbox.netns]);
        let _ = std::fs::remove_dir_all(self.etc_netns.join(&sandbox.netns));
    }

    /// Routes another node's pods through that node: `ip route replace
    /// 10.244.2.0/24 via 172.28.0.12`.
    pub fn route(&self, cidr: &str, via: &str) -> anyhow::Result<()> {
        ip(&["route", "replace", cidr, "via", via])?;
        Ok(())
    }

    /// Pods from an earlier run of the agent: namespace and address, so they
    /// are adopted instead of made again.
    pub fn existing(&self) -> Vec<(String, Ipv4Addr)> {
        let list = ip(&["netns", "list"]).unwrap_or_default();
        list.lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with("kl-"))
            .filter_map(|n| {
                let out = ip(&["-n", n, "-4", "-o", "addr", "show", "dev", "eth0"]).ok()?;
                let addr =
                    out.split_whitespace().skip_while(|w| *w != "inet").nth(1)?.split('/').next()?.parse().ok()?;
                Some((n.to_string(), addr))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses() {
        assert_eq!(netns_name("9164349e-a8a1-4cca-b0ef-2913acd52a2a"), "kl-9164349e");
        let runtime = |bridge: &str, cidr: &str| Runtime {
            bridge: bridge.into(),
            pod_cidr: cidr.parse().unwrap(),
            self_exe: PathBuf::new(),
            cluster_dns_exe: PathBuf::new(),
            etc_netns: PathBuf::new(),
        };
        let rt = runtime("cni0", "10.244.1.0/24");
        assert_eq!(rt.gateway(), Ipv4Addr::new(10, 244, 1, 1));
        let taken: BTreeSet<Ipv4Addr> = [Ipv4Addr::new(10, 244, 1, 2)].into();
        assert_eq!(rt.allocate(&taken), Some(Ipv4Addr::new(10, 244, 1, 3)));
        let tiny = runtime("b", "10.0.0.0/30");
        assert_eq!(tiny.allocate(&[Ipv4Addr::new(10, 0, 0, 2)].into()), None);
    }
}
