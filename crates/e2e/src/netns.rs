//! Test hosts as network namespaces: a "node" and its "pods", joined by a
//! bridge, like a lab node's pod network, all made and removed by the test.
//!
//! ```text
//!  host (apiserver) 169.254.N.1 ──veth── 169.254.N.2  node ns
//!                                                      br0 10.244.1.1/24
//!                                          ┌──veth──┴──veth──┐
//!                                    pod ns 10.244.1.2   pod ns 10.244.1.3
//! ```

use crate::{spawn, Proc};
use std::path::Path;
use std::process::{Command, Output};

fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip").args(args).output().expect("the ip command (iproute2) is not installed");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs a command inside a namespace: `ip netns exec NAME ...`.
pub fn exec(ns: &str, cmd: &[&str]) -> Output {
    Command::new("ip").args(["netns", "exec", ns]).args(cmd).output().expect("ip netns exec")
}

/// A network namespace, deleted on drop (its interfaces go with it).
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Self {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        ip(&["netns", "add", name]);
        ip(&["-n", name, "link", "set", "lo", "up"]);
        Self { name: name.to_string() }
    }

    pub fn run(&self, cmd: &[&str]) -> Output {
        let out = exec(&self.name, cmd);
        assert!(out.status.success(), "{cmd:?} in {}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        out
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// A test killed before its `Drop` leaves its host link behind, holding
/// the address a later run (whose process id lands on the same subnet)
/// needs: that run's node would never reach the apiserver. Such a link is
/// removed, and said so.
fn remove_leftover_holder(host_ip: &str) {
    let Ok(out) = Command::new("ip").args(["-br", "-4", "addr", "show"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split_whitespace();
        let Some(link) = fields.next() else { continue };
        if fields.skip(1).any(|a| a.split('/').next() == Some(host_ip)) {
            let link = link.split('@').next().unwrap_or(link);
            eprintln!(
                "netns: removing {link}, a leftover link holding {host_ip} (a test run killed before its cleanup)"
            );
            let _ = Command::new("ip").args(["link", "del", link]).output();
        }
    }
}

/// A node namespace reachable from the host, with a pod bridge.
pub struct NodeNet {
    pub node: Netns,
    pub pods: Vec<Netns>,
    /// The host's end of the node link: where the host's apiserver listens.
    pub host_ip: String,
    /// The node's own address (its InternalIP).
    pub node_ip: String,
    host_link: String,
}

impl NodeNet {
    /// `tag` keeps names unique (and short: interface names have 15 bytes).
    pub fn new(tag: &str, link_subnet: u8, pods: usize) -> Self {
        let node = Netns::new(&format!("{tag}n"));
        let (host_link, node_link) = (format!("{tag}h"), format!("{tag}x"));
        let _ = Command::new("ip").args(["link", "del", &host_link]).output();
        let (host_ip, node_ip) = (format!("169.254.{link_subnet}.1"), format!("169.254.{link_subnet}.2"));
        remove_leftover_holder(&host_ip);
        ip(&["link", "add", &host_link, "type", "veth", "peer", "name", &node_link]);
        ip(&["link", "set", &node_link, "netns", &node.name]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link]);
        ip(&["link", "set", &host_link, "up"]);
        ip(&["-n", &node.name, "addr", "add", &format!("{node_ip}/30"), "dev", &node_link]);
        ip(&["-n", &node.name, "link", "set", &node_link, "up"]);
        // Like a real node's: without a route, a connect to a ClusterIP
        // fails before the proxy's NAT rules ever see the packet.
        ip(&["-n", &node.name, "route", "add", "default", "via", &host_ip]);
        ip(&["-n", &node.name, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &node.name, "addr", "add", "10.244.1.1/24", "dev", "br0"]);
        ip(&["-n", &node.name, "link", "set", "br0", "up"]);
        let mut pod_nets = Vec::new();
        for i in 0..pods {
            let pod = Netns::new(&format!("{tag}p{i}"));
            let (outer, inner) = (format!("{tag}v{i}"), format!("{tag}e{i}"));
            ip(&["-n", &node.name, "link", "add", &outer, "type", "veth", "peer", "name", &inner]);
            ip(&["-n", &node.name, "link", "set", &inner, "netns", &pod.name]);
            ip(&["-n", &node.name, "link", "set", &outer, "master", "br0", "up"]);
            ip(&["-n", &pod.name, "addr", "add", &format!("10.244.1.{}/24", i + 2), "dev", &inner]);
            ip(&["-n", &pod.name, "link", "set", &inner, "up"]);
            ip(&["-n", &pod.name, "route", "add", "default", "via", "10.244.1.1"]);
            pod_nets.push(pod);
        }
        Self { node, pods: pod_nets, host_ip, node_ip, host_link }
    }

    /// Starts `binary` in the node's network namespace only (`nsenter
    /// --net`): `ip netns exec` would also give it a mount namespace of its
    /// own, and the pod namespaces kubelet-lite mounts would die with it (a
    /// real node has one).
    pub fn spawn(&self, binary: &Path, args: &[&str]) -> Proc {
        let netns = format!("--net=/run/netns/{}", self.node.name);
        let mut all = vec![netns.as_str(), binary.to_str().expect("a UTF-8 path")];
        all.extend_from_slice(args);
        spawn(Path::new("nsenter"), &all)
    }

    /// kubelet-lite's flags for this namespace as `node1`: its address, the
    /// pod CIDR of `br0`, and the apiserver at `server`.
    pub fn kubelet_args<'a>(&'a self, server: &'a str) -> Vec<&'a str> {
        let node = ["--hostname-override", "node1", "--node-ip", &self.node_ip];
        [["--server", server].as_slice(), &node, &["--pod-cidr", "10.244.1.0/24", "--bridge", "br0"]].concat()
    }

    /// The IP of pod `i`.
    pub fn pod_ip(i: usize) -> String {
        format!("10.244.1.{}", i + 2)
    }
}

impl Drop for NodeNet {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_link]).output();
    }
}

/// The kubelet-lite stream tests' common start: a node namespace, etcd, an
/// apiserver on the host's end of the node link, a kubeconfig for it, and
/// a scratch directory for the node's pod logs and root.
pub struct NodeCluster {
    pub net: NodeNet,
    pub scratch: crate::ScratchDir,
    pub etcd: crate::Etcd,
    pub api: crate::Apiserver,
    pub kc: crate::Kubeconfig,
}

impl NodeCluster {
    /// `tag` names the namespaces (with this process's id), `scratch` the directory.
    pub fn start(tag: &str, scratch: &str) -> Self {
        let tag = format!("{tag}{}", std::process::id() % 10000);
        let net = NodeNet::new(&tag, (std::process::id() % 200) as u8 + 20, 0);
        let scratch = crate::ScratchDir::new(scratch);
        let etcd = crate::Etcd::start();
        let api =
            crate::Apiserver::start(&crate::workspace_binary("apiserver"), &etcd, &["--bind-address", &net.host_ip]);
        let kc = crate::Kubeconfig::new(&api.url);
        NodeCluster { net, scratch, etcd, api, kc }
    }

    /// kubelet-lite (`binary`) on the node as node1, its pod logs and root
    /// in the scratch directory, the kubelet API on 10250, and `extra`
    /// flags; returned once node1 is Ready.
    pub fn kubelet(&self, binary: &Path, extra: &[&str]) -> Proc {
        let (logs, root) = (self.scratch.0.join("pod-logs"), self.scratch.0.join("root"));
        let dirs = ["--pod-logs-dir", logs.to_str().unwrap(), "--root-dir", root.to_str().unwrap(), "--port", "10250"];
        let args = [self.net.kubelet_args(&self.api.url).as_slice(), &dirs, extra].concat();
        let kubelet = self.net.spawn(binary, &args);
        crate::eventually(
            "node1 Ready",
            || crate::table_rows(&crate::kubectl_ok(&self.kc, &["get", "nodes"])),
            |r| r.len() == 2 && r[1][..2] == ["node1", "Ready"],
        );
        kubelet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_link_holding_the_address_is_removed() {
        let link = format!("lo{}h", std::process::id() % 100000);
        ip(&["link", "add", &link, "type", "veth", "peer", "name", &format!("lo{}x", std::process::id() % 100000)]);
        ip(&["addr", "add", "169.254.251.1/30", "dev", &link]);
        remove_leftover_holder("169.254.251.1");
        let left = Command::new("ip").args(["link", "show", &link]).output().unwrap();
        assert!(!left.status.success(), "{link} is still there");
    }
}
