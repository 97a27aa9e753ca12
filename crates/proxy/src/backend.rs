//! Where the desired state goes: the only code that changes the kernel.
//!
//! - `nftables`: the ruleset of [`crate::nftables`], loaded with `nft -f -`.
//! - `dry-run`: prints what it would do and touches nothing.
//! - `ipvs`: the dummy interface `kube-ipvs0` holds the ClusterIPs; the
//!   IPVS table is kept in step over netlink by [`crate::ipvs::syncer`]
//!   (only virtual servers this proxy owns), and the nftables rules IPVS
//!   needs beside it ([`crate::nftables::ipvs_ruleset`]) are loaded when
//!   virtual servers come or go.
//! - `userspace`: labelled addresses on `lo` hold the ClusterIPs, and the
//!   proxy's own sockets listen on them ([`crate::userspace`]).

use crate::desired::DesiredState;
use crate::ipvs::kernel::IpvsKernel;
use crate::ipvs::rtnetlink::Links;
use crate::ipvs::syncer::TableSyncer;
use crate::model::{Table, VirtualServerKey};
use crate::nftables::{ipvs_ruleset, ruleset, update_marks, CompanionMarks, Masquerade, TABLE};
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

/// `--service-node-port-range`, as the apiserver's flag (`30000-32767` by
/// default): NodePort virtual servers on the node's addresses are the
/// proxy's in this range, and only there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePortRange {
    pub first: u16,
    pub last: u16,
}

impl Default for NodePortRange {
    fn default() -> Self {
        Self { first: 30000, last: 32767 }
    }
}

impl std::str::FromStr for NodePortRange {
    type Err = String;
    /// The apiserver's syntax: `FIRST-LAST`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid port range {s:?}: want FIRST-LAST, e.g. 30000-32767");
        let (first, last) = s.split_once('-').ok_or_else(bad)?;
        let (first, last): (u16, u16) =
            (first.trim().parse().map_err(|_| bad())?, last.trim().parse().map_err(|_| bad())?);
        if first == 0 || last < first {
            return Err(bad());
        }
        Ok(Self { first, last })
    }
}

impl NodePortRange {
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

/// The IPVS mode's state between syncs.
pub struct IpvsState {
    table: TableSyncer<IpvsKernel>,
    addresses: HeldAddresses,
    /// The companion nftables ruleset last loaded, and what it was made of.
    ruleset: Option<String>,
    marks: BTreeMap<VirtualServerKey, CompanionMarks>,
    ruleset_addresses: BTreeSet<IpAddr>,
    masquerade: Masquerade,
    node_ports: NodePortRange,
}

pub enum Backend {
    Nftables,
    DryRun,
    Ipvs(Mutex<IpvsState>),
    Userspace(crate::userspace::Userspace, Mutex<HeldAddresses>),
}

/// Whether the running kernel has IPVS (loaded or built in).
pub fn kernel_has_ipvs() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists()
}

impl Backend {
    /// Chooses the backend for `--proxy-mode`, or says why it cannot.
    pub fn for_mode(
        mode: &str,
        dry_run: bool,
        masquerade: Masquerade,
        node_ports: NodePortRange,
    ) -> anyhow::Result<Self> {
        if dry_run {
            return Ok(Self::DryRun);
        }
        match mode {
            "nftables" => Ok(Self::Nftables),
            "ipvs" if !kernel_has_ipvs() => anyhow::bail!(
                "the kernel has no IPVS (/proc/net/ip_vs is missing; CONFIG_IP_VS is not set or ip_vs is not loaded): run with --proxy-mode nftables"
            ),
            "ipvs" => {
                ipvs_sysctls();
                Ok(Self::Ipvs(Mutex::new(IpvsState {
                    table: TableSyncer::new(IpvsKernel::open()?, GRACE),
                    addresses: HeldAddresses::new(IPVS_ADDRESSES),
                    ruleset: None,
                    marks: BTreeMap::new(),
                    ruleset_addresses: BTreeSet::new(),
                    masquerade,
                    node_ports,
                })))
            }
            "userspace" => Ok(Self::userspace()),
            other => anyhow::bail!("unknown --proxy-mode {other:?}: choose ipvs, nftables or userspace"),
        }
    }

    /// The mode's name, as kube-proxy's `/proxyMode` says it (`dry-run`
    /// for a proxy that programs nothing).
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Nftables => "nftables",
            Self::DryRun => "dry-run",
            Self::Ipvs(_) => "ipvs",
            Self::Userspace(..) => "userspace",
        }
    }

    /// The userspace mode, with no address held yet.
    pub fn userspace() -> Self {
        Self::Userspace(Default::default(), Mutex::new(HeldAddresses::new(USERSPACE_ADDRESSES)))
    }

    /// Makes the kernel match `state`. `changed` names the virtual servers
    /// that changed since the last sync (`None`: check everything). Returns
    /// how many changes the kernel was asked to make.
    pub fn sync(&self, state: &DesiredState, changed: Option<&BTreeSet<VirtualServerKey>>) -> anyhow::Result<usize> {
        match self {
            Self::Nftables => nft(&ruleset(state)).map(|()| 1),
            Self::DryRun => {
                print!("{}", crate::render::ipvsadm_ln(&state.table));
                Ok(0)
            }
            Self::Ipvs(s) => sync_ipvs(&mut s.lock().unwrap_or_else(|e| e.into_inner()), state, changed),
            Self::Userspace(u, held) => {
                held.lock().unwrap_or_else(|e| e.into_inner()).sync(&state.bound_addresses, changed.is_none())?;
                u.sync(&state.table, &state.source_ranges).map(|()| 0)
            }
        }
    }

    /// `--cleanup` and shutdown: removes everything this proxy created.
    pub fn cleanup(&self) -> anyhow::Result<()> {
        match self {
            // Without nft there can be no table to remove.
            Self::Nftables if Command::new("nft").arg("--version").output().is_err() => Ok(()),
            Self::Nftables => nft(&format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\n")),
            Self::DryRun => Ok(()),
            Self::Ipvs(s) => {
                let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
                let bound = IPVS_ADDRESSES.addresses()?;
                s.table.sync(&Table::new(), None, |k| bound.contains(&k.address), Instant::now())?;
                IPVS_ADDRESSES.remove_all()?;
                Self::Nftables.cleanup()
            }
            Self::Userspace(u, _) => {
                u.close_all();
                USERSPACE_ADDRESSES.remove_all()
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

/// Whether a virtual server of the kernel's is this proxy's: on its dummy
/// interface's addresses, or a NodePort on the node's addresses. Anything
/// else on the host is left alone.
fn owned(key: &VirtualServerKey, bound: &BTreeSet<IpAddr>, node: &BTreeSet<IpAddr>, node_ports: NodePortRange) -> bool {
    bound.contains(&key.address) || (node.contains(&key.address) && node_ports.contains(key.port))
}

/// What kube-proxy's IPVS mode sets: conntrack sees IPVS's connections (so
/// marked ones can be masqueraded), and the node forwards to pods.
fn ipvs_sysctls() {
    for (path, value) in [
        ("/proc/sys/net/ipv4/vs/conntrack", "1"),
        ("/proc/sys/net/ipv4/vs/expire_nodest_conn", "1"),
        ("/proc/sys/net/ipv4/vs/expire_quiescent_template", "1"),
        ("/proc/sys/net/ipv4/ip_forward", "1"),
    ] {
        if let Err(e) = std::fs::write(path, value) {
            tracing::warn!("cannot set {path} to {value}: {e}");
        }
    }
}

/// Where the Service addresses are put so that the node accepts their
/// traffic: the IPVS mode's dummy interface `kube-ipvs0` (as kube-proxy),
/// or, for the userspace mode, labelled addresses on `lo` (every kernel has
/// a loopback; not every kernel has the dummy driver, this machine's among
/// them). Either way, the proxy's own addresses are exactly those listed
/// here, and only they are ever removed.
#[derive(Debug, Clone, Copy)]
pub struct AddressHolder {
    device: &'static str,
    /// The dummy interface is created if missing.
    dummy: bool,
    /// The IPv4 label that marks our addresses on a shared device.
    label: Option<&'static str>,
}

pub const IPVS_ADDRESSES: AddressHolder = AddressHolder { device: DUMMY, dummy: true, label: None };
pub const USERSPACE_ADDRESSES: AddressHolder =
    AddressHolder { device: "lo", dummy: false, label: Some("lo:kube-proxy") };

/// Where a node announces the LoadBalancer addresses it wins: labelled
/// addresses (`<device>:lb`) on its network interface, so the kernel answers
/// ARP for them there, as MetalLB's speaker does for its own. Made once at
/// start-up from the flag, so leaking the two short strings is fine.
pub fn announce_holder(device: &str) -> HeldAddresses {
    let label: String = format!("{device}:lb").chars().take(15).collect();
    let holder = AddressHolder {
        device: Box::leak(device.to_string().into_boxed_str()),
        dummy: false,
        label: Some(Box::leak(label.into_boxed_str())),
    };
    HeldAddresses::new(holder)
}

impl AddressHolder {
    fn index(&self, links: &mut Links) -> anyhow::Result<Option<u32>> {
        links.index(self.device)
    }

    /// The proxy's addresses there now.
    pub fn addresses(&self) -> anyhow::Result<BTreeSet<IpAddr>> {
        let mut links = Links::open()?;
        match self.index(&mut links)? {
            Some(index) => self.addresses_on(&mut links, index),
            None => Ok(BTreeSet::new()),
        }
    }

    fn addresses_on(&self, links: &mut Links, index: u32) -> anyhow::Result<BTreeSet<IpAddr>> {
        Ok(links
            .addresses(index, self.label)?
            .into_iter()
            // The kernel's own IPv6 link-local address (fe80::/10) is not ours.
            .filter(|a| !matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
            .collect())
    }

    /// Adds and removes addresses to hold exactly `want`; returns what was
    /// there before.
    pub fn sync(&self, want: &BTreeSet<IpAddr>) -> anyhow::Result<BTreeSet<IpAddr>> {
        let mut links = Links::open()?;
        let index = match self.dummy {
            true => links.ensure_dummy(self.device)?,
            false => self.index(&mut links)?.ok_or_else(|| anyhow::anyhow!("no interface {}", self.device))?,
        };
        let have = self.addresses_on(&mut links, index)?;
        for a in want.difference(&have) {
            links.add_address(index, *a, self.label)?;
        }
        for a in have.difference(want) {
            links.del_address(index, *a)?;
        }
        Ok(have)
    }

    /// Removes everything the proxy put here.
    pub fn remove_all(&self) -> anyhow::Result<()> {
        if self.dummy {
            let mut links = Links::open()?;
            return match self.index(&mut links)? {
                Some(index) => links.delete(index),
                None => Ok(()),
            };
        }
        self.sync(&BTreeSet::new()).map(drop)
    }
}

/// An [`AddressHolder`] and what it held after the last sync, so that a
/// sync whose addresses did not change costs no netlink request.
pub struct HeldAddresses {
    holder: AddressHolder,
    /// `None`: unknown (at first, and after a failure): ask the kernel.
    held: Option<BTreeSet<IpAddr>>,
}

impl HeldAddresses {
    pub fn new(holder: AddressHolder) -> Self {
        Self { holder, held: None }
    }

    /// What is held now (the kernel asked, if not known).
    pub fn held(&mut self) -> anyhow::Result<BTreeSet<IpAddr>> {
        if let Some(held) = &self.held {
            return Ok(held.clone());
        }
        let held = self.holder.addresses()?;
        self.held = Some(held.clone());
        Ok(held)
    }

    /// Holds exactly `want` (`full`: check the kernel even if nothing
    /// changed); returns what was held before.
    pub fn sync(&mut self, want: &BTreeSet<IpAddr>, full: bool) -> anyhow::Result<BTreeSet<IpAddr>> {
        if let (false, Some(held)) = (full, &self.held) {
            if held == want {
                return Ok(held.clone());
            }
        }
        self.held = None;
        let before = self.holder.sync(want)?;
        self.held = Some(want.clone());
        Ok(before)
    }
}

fn sync_ipvs(
    s: &mut IpvsState,
    state: &DesiredState,
    changed: Option<&BTreeSet<VirtualServerKey>>,
) -> anyhow::Result<usize> {
    let full = changed.is_none();
    // The dummy interface's addresses: those it had count as ours too, so
    // the virtual servers of a Service deleted while we were down are found.
    let mut bound = s.addresses.sync(&state.bound_addresses, full)?;
    bound.extend(state.bound_addresses.iter().copied());
    let ops = s.table.sync(
        &state.table,
        changed,
        |k| owned(k, &bound, &state.node_addresses, s.node_ports),
        Instant::now(),
    )?;
    // The companion rules change only with the changed virtual servers'
    // marks (or the bound addresses): rendering them for every endpoint
    // change would cost as much as the sync itself at 10,000 Services.
    let marks_changed = update_marks(&mut s.marks, state, changed);
    let reload = marks_changed || full || s.ruleset.is_none() || s.ruleset_addresses != state.bound_addresses;
    if reload {
        s.ruleset_addresses.clone_from(&state.bound_addresses);
        let rules = ipvs_ruleset(state, &s.masquerade);
        if s.ruleset.as_ref() != Some(&rules) {
            s.ruleset = None;
            nft(&rules)?;
            s.ruleset = Some(rules);
        }
    }
    Ok(ops.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeIpvs;
    use crate::model::{Protocol, RealServer, RealServerKey, VirtualServer};

    fn vs(address: [u8; 4], port: u16) -> (VirtualServerKey, VirtualServer) {
        let key = VirtualServerKey { protocol: Protocol::Tcp, address: IpAddr::from(address), port };
        let rs = RealServerKey { address: IpAddr::from([10, 244, 1, 5]), port: 80 };
        let vs = VirtualServer {
            scheduler: "rr".into(),
            persistence_timeout: None,
            real_servers: [(rs, RealServer::with_weight(1))].into(),
        };
        (key, vs)
    }

    /// A full sync to an empty table removes exactly what the range says is ours.
    fn left_after_full_sync(node_ports: NodePortRange) -> Vec<u16> {
        let node: BTreeSet<IpAddr> = [IpAddr::from([192, 168, 66, 20])].into();
        let bound: BTreeSet<IpAddr> = [IpAddr::from([10, 96, 0, 10])].into();
        let kernel: Table = [
            vs([10, 96, 0, 10], 80),       // a ClusterIP on kube-ipvs0: ours
            vs([192, 168, 66, 20], 30080), // a NodePort in the default range
            vs([192, 168, 66, 20], 33500), // a NodePort in 33000-33999
            vs([192, 168, 66, 20], 8080),  // someone else's, on the node's address
        ]
        .into();
        let mut syncer = TableSyncer::new(FakeIpvs { table: kernel }, GRACE);
        syncer.sync(&Table::new(), None, |k| owned(k, &bound, &node, node_ports), Instant::now()).unwrap();
        syncer.kernel.table.keys().map(|k| k.port).collect()
    }

    #[test]
    fn the_ipvs_backend_owns_the_node_ports_of_its_range() {
        assert_eq!(left_after_full_sync(NodePortRange::default()), [8080, 33500]);
        let range: NodePortRange = "33000-33999".parse().unwrap();
        assert_eq!(left_after_full_sync(range), [8080, 30080], "30080 is outside 33000-33999: not ours");
    }

    #[test]
    fn node_port_ranges_parse_as_the_apiservers() {
        assert_eq!("30000-32767".parse(), Ok(NodePortRange::default()));
        assert_eq!("31000-31999".parse(), Ok(NodePortRange { first: 31000, last: 31999 }));
        for bad in ["", "1", "5-1", "0-10", "a-b", "30000-70000"] {
            assert!(bad.parse::<NodePortRange>().is_err(), "{bad}");
        }
        assert_eq!(
            "5-1".parse::<NodePortRange>().unwrap_err(),
            "invalid port range \"5-1\": want FIRST-LAST, e.g. 30000-32767"
        );
    }
}
