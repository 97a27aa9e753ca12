//! Where the desired state goes: the only code that changes the kernel.
//!
//! - `nftables`: the ruleset of [`crate::nftables`], loaded with `nft -f -`.
//! - `dry-run`: prints what it would do and touches nothing.
//! - `ipvs`: the dummy interface `kube-ipvs0` holds the ClusterIPs; the
//!   IPVS table is read over netlink, diffed with [`crate::plan::plan`],
//!   and the difference applied (only virtual servers this proxy owns).

use crate::desired::DesiredState;
use crate::ipvs::kernel::IpvsKernel;
use crate::model::{RealServerKey, Table, VirtualServerKey};
use crate::nftables::{ruleset, TABLE};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The dummy interface whose addresses make the node accept ClusterIP traffic.
pub const DUMMY: &str = "kube-ipvs0";
/// How long a drained real server with open connections is kept.
pub const GRACE: Duration = Duration::from_secs(30);
/// NodePort virtual servers on node addresses are the proxy's in this range.
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

pub struct IpvsState {
    kernel: IpvsKernel,
    draining_since: BTreeMap<(VirtualServerKey, RealServerKey), Instant>,
}

pub enum Backend {
    Nftables,
    DryRun,
    Ipvs(Mutex<IpvsState>),
}

/// Whether the running kernel has IPVS (loaded or built in).
pub fn kernel_has_ipvs() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists()
}

impl Backend {
    /// Chooses the backend for `--proxy-mode`, or says why it cannot.
    pub fn for_mode(mode: &str, dry_run: bool) -> anyhow::Result<Self> {
        if dry_run {
            return Ok(Self::DryRun);
        }
        match mode {
            "nftables" => Ok(Self::Nftables),
            "ipvs" if !kernel_has_ipvs() => anyhow::bail!(
                "the kernel has no IPVS (/proc/net/ip_vs is missing; CONFIG_IP_VS is not set or ip_vs is not loaded): run with --proxy-mode nftables"
            ),
            "ipvs" => Ok(Self::Ipvs(Mutex::new(IpvsState { kernel: IpvsKernel::open()?, draining_since: BTreeMap::new() }))),
            "userspace" => anyhow::bail!("the userspace mode is not built yet: run with --proxy-mode nftables"),
            other => anyhow::bail!("unknown --proxy-mode {other:?}: choose ipvs, nftables or userspace"),
        }
    }

    /// Makes the kernel match `state`.
    pub fn sync(&self, state: &DesiredState) -> anyhow::Result<()> {
        match self {
            Self::Nftables => nft(&ruleset(state)),
            Self::DryRun => {
                print!("{}", crate::render::ipvsadm_ln(&state.table));
                Ok(())
            }
            Self::Ipvs(s) => sync_ipvs(&mut s.lock().unwrap_or_else(|e| e.into_inner()), state),
        }
    }

    /// `--cleanup` and shutdown: removes everything this proxy created.
    pub fn cleanup(&self) -> anyhow::Result<()> {
        match self {
            Self::Nftables => nft(&format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\n")),
            Self::DryRun => Ok(()),
            Self::Ipvs(s) => {
                let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
                let bound = dummy_addresses();
                let current = s.kernel.read()?;
                let mine = owned(&current, &bound, &BTreeSet::new());
                s.kernel.apply(&crate::plan::plan(
                    &mine,
                    &Table::new(),
                    &mine.iter().flat_map(|(k, vs)| vs.real_servers.keys().map(move |r| (*k, *r))).collect(),
                ))?;
                let _ = ip(&["link", "del", DUMMY]);
                Ok(())
            }
        }
    }
}

/// Runs `nft -f -` with `script` as one transaction.
fn nft(script: &str) -> anyhow::Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("running nft: {e} (is the nftables package installed?)"))?;
    child.stdin.take().map(|mut stdin| stdin.write_all(script.as_bytes())).transpose()?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "nft -f - failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

fn ip(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ip").args(args).output().map_err(|e| anyhow::anyhow!("running ip: {e}"))?;
    anyhow::ensure!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The addresses on `kube-ipvs0` now.
fn dummy_addresses() -> BTreeSet<IpAddr> {
    ip(&["-o", "addr", "show", "dev", DUMMY])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet" && *w != "inet6").nth(1))
        .filter_map(|a| a.split('/').next()?.parse().ok())
        // The kernel's own IPv6 link-local address (fe80::/10) is not ours.
        .filter(|a: &IpAddr| !matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
        .collect()
}

/// The part of the kernel's table this proxy owns: virtual servers on its
/// dummy interface's addresses, and NodePorts on the node's addresses.
/// Anything else on the host is left alone.
fn owned(table: &Table, bound: &BTreeSet<IpAddr>, node: &BTreeSet<IpAddr>) -> Table {
    table
        .iter()
        .filter(|(k, _)| bound.contains(&k.address) || (node.contains(&k.address) && NODE_PORTS.contains(&k.port)))
        .map(|(k, v)| (*k, v.clone()))
        .collect()
}

/// `ip link add kube-ipvs0 type dummy`, then its addresses to match.
fn sync_dummy(want: &BTreeSet<IpAddr>) -> anyhow::Result<BTreeSet<IpAddr>> {
    if ip(&["link", "show", DUMMY]).is_err() {
        ip(&["link", "add", DUMMY, "type", "dummy"])?;
    }
    ip(&["link", "set", DUMMY, "up"])?;
    let have = dummy_addresses();
    for a in want.difference(&have) {
        let prefix = if a.is_ipv4() { 32 } else { 128 };
        ip(&["addr", "add", &format!("{a}/{prefix}"), "dev", DUMMY])?;
    }
    for a in have.difference(want) {
        let prefix = if a.is_ipv4() { 32 } else { 128 };
        ip(&["addr", "del", &format!("{a}/{prefix}"), "dev", DUMMY])?;
    }
    Ok(have)
}

fn sync_ipvs(s: &mut IpvsState, state: &DesiredState) -> anyhow::Result<()> {
    let before = sync_dummy(&state.bound_addresses)?;
    let bound: BTreeSet<IpAddr> = before.union(&state.bound_addresses).copied().collect();
    let current = owned(&s.kernel.read()?, &bound, &state.node_addresses);
    // Real servers being drained: when did each start, and whose grace is over?
    let now = Instant::now();
    let mut draining = BTreeMap::new();
    for (vk, vs) in &current {
        for rk in vs.real_servers.keys() {
            let gone = state.table.get(vk).is_none_or(|d| !d.real_servers.contains_key(rk));
            if gone {
                draining.insert((*vk, *rk), s.draining_since.get(&(*vk, *rk)).copied().unwrap_or(now));
            }
        }
    }
    let expired = draining.iter().filter(|(_, since)| now.duration_since(**since) >= GRACE).map(|(k, _)| *k).collect();
    s.draining_since = draining;
    s.kernel.apply(&crate::plan::plan(&current, &state.table, &expired))
}
