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
//!
//! Each container is a process tree under its shim (`shim`), in a process
//! group of its own so that stopping it stops everything it started:
//!
//! ```text
//! ip netns exec kl-XXXXXXXX unshare -u kubelet-lite shim --hostname <pod> \
//!     --log /var/log/pods/<ns>_<pod>_<uid>/<c>/0.log -- sh -c '...'
//! ```

use crate::images::{Process, Program};
use crate::which::which;
use ipnet::Ipv4Net;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn ip(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("running ip: {e} (is iproute2 installed?)"))?;
    anyhow::ensure!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A running pod: its namespace and address.
pub struct Sandbox {
    pub netns: String,
    pub ip: Ipv4Addr,
}

/// The image's PATH (Docker's default, which busybox's and alpine's images
/// keep), after the directory of the node's busybox applets.
pub const IMAGE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One container to start: what it runs, with what, and where its output goes.
pub struct ContainerStart<'a> {
    pub process: &'a Process,
    pub env: &'a [(String, String)],
    pub log: &'a Path,
    /// `--bind` flags for its shim: its volume mounts.
    pub binds: &'a [String],
    /// The pod's hostname, set in the container's own UTS namespace.
    pub hostname: &'a str,
    /// Its shim's attach socket, and the spec's `stdin`, `stdinOnce`, `tty`.
    pub attach: &'a Path,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
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
    /// `--pod-logs-dir`: the containers' CRI log files.
    pub pod_logs_dir: PathBuf,
    /// `--root-dir`: the busybox applets (`bin/`) and the pods' volumes (`pods/`).
    pub root_dir: PathBuf,
}

/// The namespace of a pod: `kl-` and the first 8 characters of its uid.
pub fn netns_name(uid: &str) -> String {
    format!("kl-{}", &uid.chars().filter(char::is_ascii_alphanumeric).take(8).collect::<String>())
}

/// The veth pair of a pod's namespace: the node's end (in the bridge) and
/// the pod's (renamed `eth0` once inside).
fn veth_names(netns: &str) -> (String, String) {
    let suffix = netns.trim_start_matches("kl-");
    (format!("klh{suffix}"), format!("klp{suffix}"))
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
        let (outer, inner) = veth_names(netns);
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

    fn program(&self, p: &Program) -> PathBuf {
        match p {
            Program::SelfExe => self.self_exe.clone(),
            Program::ClusterDns => self.cluster_dns_exe.clone(),
            Program::Named(name) => name.into(),
        }
    }

    /// The directory of busybox applets on the containers' PATH.
    pub fn applets_dir(&self) -> PathBuf {
        self.root_dir.join("bin")
    }

    /// Links every applet of the node's busybox into [`Runtime::applets_dir`]
    /// (`busybox --list`), so `sh`, `wget`, `nslookup` in a container are
    /// busybox's, as in the busybox image. Without busybox, the node's own.
    pub fn ensure_applets(&self) -> anyhow::Result<()> {
        let dir = self.applets_dir();
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        let Ok(list) = Command::new("busybox").arg("--list").output() else {
            tracing::warn!("no busybox on this node: containers run the node's own sh and tools");
            return Ok(());
        };
        let busybox = which("busybox");
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            let link = dir.join(applet);
            if link.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(&busybox, &link)
                    .map_err(|e| anyhow::anyhow!("linking {}: {e}", link.display()))?;
            }
        }
        Ok(())
    }

    /// A container's PATH: the busybox applets, then the image's.
    pub fn container_path(&self) -> String {
        format!("{}:{IMAGE_PATH}", self.applets_dir().display())
    }

    /// Starts one container inside the pod's namespaces, under its shim,
    /// as the leader of a new process group.
    pub fn start_container(&self, netns: &str, c: &ContainerStart) -> anyhow::Result<tokio::process::Child> {
        let path = self.container_path();
        // `ip` and `unshare` from the node's PATH: the container's (busybox first) is for its command.
        let mut cmd = tokio::process::Command::new(which("ip"));
        // `unshare -u`: a UTS namespace, so `hostname` is the pod's, as in a container.
        cmd.args(["netns", "exec", netns])
            .arg(which("unshare"))
            .arg("-u")
            .arg(&self.self_exe)
            .arg("shim")
            .args(["--hostname", c.hostname])
            .arg("--log")
            .arg(c.log)
            .args(c.binds.iter().flat_map(|b| ["--bind", b]))
            .args(crate::shim::flags(c.attach, c.stdin, c.stdin_once, c.tty))
            .arg("--")
            .arg(self.program(&c.process.program))
            .args(&c.process.args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", "/root")
            .envs(c.env.iter().map(|(k, v)| (k, v)))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // The shim's own complaints join the node agent's log.
            .stderr(Stdio::inherit());
        cmd.spawn()
            .map_err(|e| anyhow::anyhow!("starting the shim of {}: {e}", self.program(&c.process.program).display()))
    }

    /// Stops what is left of a container's process group (its shim has
    /// exited, or is to be stopped): `killpg(pgid, SIGKILL)`. A system call,
    /// not the `kill` command: `kill -<n>` parsed the wrong way, or a pgid
    /// of 0 or 1, signals far more than one group (the whole machine, once).
    pub fn stop_group(&self, pgid: u32) {
        match i32::try_from(pgid).ok().filter(|&p| p > 1).and_then(rustix::process::Pid::from_raw) {
            Some(group) => drop(rustix::process::kill_process_group(group, rustix::process::Signal::KILL)),
            None => tracing::warn!(pgid, "not a container's process group: nothing signalled"),
        }
    }

    /// Stops every process in the pod (its servers, also those an earlier
    /// run of the agent started and this one adopted) and removes the
    /// namespace (its veth goes with it) and its `/etc` files.
    pub fn destroy(&self, sandbox: &mut Sandbox) {
        // The pod leaves the network first: deleting the node's end of the
        // veth deletes the pod's too. A namespace lives on while any process
        // is in it (one forked as the others were killed, say), and with it
        // an eth0 answering ARP for an address the next pod may be given.
        let _ = ip(&["link", "del", &veth_names(&sandbox.netns).0]);
        // Killed until none is left: a process may fork while the others die.
        for _ in 0..5 {
            let pids = ip(&["netns", "pids", &sandbox.netns]).unwrap_or_default();
            let pids: Vec<&str> = pids.split_whitespace().collect();
            if pids.is_empty() {
                break;
            }
            let _ = Command::new("kill").arg("-KILL").args(&pids).status();
            std::thread::sleep(Duration::from_millis(20));
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
            pod_logs_dir: PathBuf::new(),
            root_dir: PathBuf::new(),
        };
        let rt = runtime("cni0", "10.244.1.0/24");
        assert_eq!(rt.gateway(), Ipv4Addr::new(10, 244, 1, 1));
        let taken: BTreeSet<Ipv4Addr> = [Ipv4Addr::new(10, 244, 1, 2)].into();
        assert_eq!(rt.allocate(&taken), Some(Ipv4Addr::new(10, 244, 1, 3)));
        let tiny = runtime("b", "10.0.0.0/30");
        assert_eq!(tiny.allocate(&[Ipv4Addr::new(10, 0, 0, 2)].into()), None);
    }

    /// A pod's namespace can outlive its deletion (here a bind mount holds
    /// it, as a process forked while the others were killed would): its
    /// eth0 must not stay on the bridge, answering for an address the next
    /// pod may be given. (Real bridge and namespaces, on this host: root.)
    #[test]
    fn a_destroyed_pod_leaves_the_bridge_even_if_its_namespace_lives_on() {
        let tag = std::process::id() % 100_000;
        let (bridge, netns) = (format!("kltst{tag}"), format!("kl-t{tag}"));
        let rt = Runtime {
            bridge: bridge.clone(),
            pod_cidr: "10.250.77.0/24".parse().unwrap(),
            self_exe: PathBuf::new(),
            cluster_dns_exe: PathBuf::new(),
            etc_netns: std::env::temp_dir().join(format!("kltst-etc-{tag}")),
            pod_logs_dir: PathBuf::new(),
            root_dir: PathBuf::new(),
        };
        rt.ensure_bridge().unwrap();
        rt.create(&netns, Ipv4Addr::new(10, 250, 77, 2)).unwrap();
        let holder = std::env::temp_dir().join(format!("kltst-hold-{tag}"));
        std::fs::write(&holder, "").unwrap();
        let held = Command::new("mount").arg("--bind").arg(format!("/run/netns/{netns}")).arg(&holder).status();
        assert!(held.is_ok_and(|s| s.success()), "mount --bind the namespace");
        rt.destroy(&mut Sandbox { netns: netns.clone(), ip: Ipv4Addr::new(10, 250, 77, 2) });
        let ports = ip(&["link", "show", "master", &bridge]);
        let veth = ip(&["link", "show", &veth_names(&netns).0]);
        let _ = Command::new("umount").arg(&holder).status();
        let _ = std::fs::remove_file(&holder);
        let _ = ip(&["link", "del", &bridge]);
        assert_eq!(ports.unwrap().trim(), "", "the bridge still has a port");
        assert!(veth.is_err(), "the node's end of the pod's veth is still there");
    }
}
