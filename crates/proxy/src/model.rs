//! The kernel's load-balancing table in IPVS's own vocabulary: a *virtual
//! server* is an (address, port, protocol) that clients connect to; its
//! *real servers* are where IPVS sends them (here: pods, by masquerading).
//!
//! The same value describes what the kernel has and what it should have, so
//! the two can be compared and the difference planned ([`crate::plan`]).

use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }
}

/// What identifies a virtual server: `TCP 10.96.0.10:53`. Ordered as
/// `ipvsadm -Ln` lists the tutorial's table: protocol, then address, then port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VirtualServerKey {
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
}

/// What identifies a real server within its virtual server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RealServerKey {
    pub address: IpAddr,
    pub port: u16,
}

/// A real server as configured, and what the kernel counts for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealServer {
    /// 0 drains it: no new connections, existing ones finish.
    pub weight: u32,
    /// Reported by the kernel; always 0 in a desired table.
    pub active_connections: u32,
    pub inactive_connections: u32,
}

impl RealServer {
    pub fn with_weight(weight: u32) -> Self {
        Self { weight, active_connections: 0, inactive_connections: 0 }
    }
}

/// A virtual server's settings and its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    /// `rr`, `wrr`, `lc`, `wlc`, `lblc`, `lblcr`, `sh`, `dh`, `sed`, `nq`.
    pub scheduler: String,
    /// ClientIP session affinity: a client sticks to its real server this long.
    pub persistence_timeout: Option<u32>,
    pub real_servers: BTreeMap<RealServerKey, RealServer>,
}

/// A whole table.
pub type Table = BTreeMap<VirtualServerKey, VirtualServer>;

/// The schedulers IPVS offers, by the names `ipvsadm -s` takes.
pub const SCHEDULERS: [&str; 10] = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq"];

/// Whether two tables configure the same thing (the kernel's connection
/// counters aside).
pub fn same_config(a: &Table, b: &Table) -> bool {
    let strip = |t: &Table| -> Table {
        t.iter()
            .map(|(k, vs)| {
                let mut vs = vs.clone();
                vs.real_servers.values_mut().for_each(|rs| *rs = RealServer::with_weight(rs.weight));
                (*k, vs)
            })
            .collect()
    };
    strip(a) == strip(b)
}
