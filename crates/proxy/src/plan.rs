//! The difference between what the kernel has and what it should have, as
//! a list of operations: [`plan`]; and what the kernel does with them:
//! [`apply`], refusing what it refuses. Both pure, so plans are tested
//! against an in-memory kernel ([`crate::fake`]) with any tables at all.
//!
//! A real server that goes away is removed gracefully: with open
//! connections it is first drained (weight 0) and deleted once idle or once
//! its grace period is over; with none (or over UDP, which has no
//! connections to finish) it goes at once.

use crate::model::{Protocol, RealServer, RealServerKey, Table, VirtualServer, VirtualServerKey};
use std::collections::BTreeSet;
use std::fmt;

/// One change to the kernel's table. `Display` shows the `ipvsadm` command
/// that does the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddVirtualServer { vs: VirtualServerKey, scheduler: String, persistence_timeout: Option<u32> },
    EditVirtualServer { vs: VirtualServerKey, scheduler: String, persistence_timeout: Option<u32> },
    DeleteVirtualServer { vs: VirtualServerKey },
    AddRealServer { vs: VirtualServerKey, rs: RealServerKey, weight: u32 },
    EditRealServer { vs: VirtualServerKey, rs: RealServerKey, weight: u32 },
    DeleteRealServer { vs: VirtualServerKey, rs: RealServerKey },
}

fn flag(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
        Protocol::Sctp => "--sctp-service",
    }
}

fn service(vs: &VirtualServerKey) -> String {
    format!("{} {}:{}", flag(vs.protocol), vs.address, vs.port)
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let persistent = |p: &Option<u32>| p.map(|t| format!(" -p {t}")).unwrap_or_default();
        match self {
            Op::AddVirtualServer { vs, scheduler, persistence_timeout } => {
                write!(f, "ipvsadm -A {} -s {scheduler}{}", service(vs), persistent(persistence_timeout))
            }
            Op::EditVirtualServer { vs, scheduler, persistence_timeout } => {
                write!(f, "ipvsadm -E {} -s {scheduler}{}", service(vs), persistent(persistence_timeout))
            }
            Op::DeleteVirtualServer { vs } => write!(f, "ipvsadm -D {}", service(vs)),
            Op::AddRealServer { vs, rs, weight } => {
                write!(f, "ipvsadm -a {} -r {}:{} -m -w {weight}", service(vs), rs.address, rs.port)
            }
            Op::EditRealServer { vs, rs, weight } => {
                write!(f, "ipvsadm -e {} -r {}:{} -m -w {weight}", service(vs), rs.address, rs.port)
            }
            Op::DeleteRealServer { vs, rs } => write!(f, "ipvsadm -d {} -r {}:{}", service(vs), rs.address, rs.port),
        }
    }
}

/// Plans the operations that turn `current` (the part of the kernel's
/// table this proxy owns) into `desired`. `grace_expired` names draining
/// real servers whose grace period is over.
pub fn plan(current: &Table, desired: &Table, grace_expired: &BTreeSet<(VirtualServerKey, RealServerKey)>) -> Vec<Op> {
    let mut ops = Vec::new();
    for (key, want) in desired {
        match current.get(key) {
            None => {
                ops.push(Op::AddVirtualServer {
                    vs: *key,
                    scheduler: want.scheduler.clone(),
                    persistence_timeout: want.persistence_timeout,
                });
                for (rs, r) in &want.real_servers {
                    ops.push(Op::AddRealServer { vs: *key, rs: *rs, weight: r.weight });
                }
            }
            Some(have) => {
                if have.scheduler != want.scheduler || have.persistence_timeout != want.persistence_timeout {
                    ops.push(Op::EditVirtualServer {
                        vs: *key,
                        scheduler: want.scheduler.clone(),
                        persistence_timeout: want.persistence_timeout,
                    });
                }
                for (rs, r) in &want.real_servers {
                    match have.real_servers.get(rs) {
                        None => ops.push(Op::AddRealServer { vs: *key, rs: *rs, weight: r.weight }),
                        Some(h) if h.weight != r.weight => {
                            ops.push(Op::EditRealServer { vs: *key, rs: *rs, weight: r.weight })
                        }
                        Some(_) => {}
                    }
                }
                for (rs, h) in &have.real_servers {
                    if want.real_servers.contains_key(rs) {
                        continue;
                    }
                    let idle = h.active_connections == 0 || key.protocol == Protocol::Udp;
                    if idle || grace_expired.contains(&(*key, *rs)) {
                        ops.push(Op::DeleteRealServer { vs: *key, rs: *rs });
                    } else if h.weight != 0 {
                        ops.push(Op::EditRealServer { vs: *key, rs: *rs, weight: 0 });
                    }
                }
            }
        }
    }
    for key in current.keys().filter(|k| !desired.contains_key(k)) {
        ops.push(Op::DeleteVirtualServer { vs: *key });
    }
    ops
}

/// The kernel's refusal, as `ipvsadm` words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError(pub String);

/// Applies `ops` to `table` in order as the kernel would, stopping at the
/// first it would refuse: what the kernel holds after a plan is applied.
pub fn apply(table: &mut Table, ops: &[Op]) -> Result<(), KernelError> {
    for op in ops {
        apply_one(table, op).map_err(|e| KernelError(format!("{op}: {e}")))?;
    }
    Ok(())
}

fn apply_one(table: &mut Table, op: &Op) -> Result<(), &'static str> {
    const NO_SERVICE: &str = "No such service";
    match op {
        Op::AddVirtualServer { vs, scheduler, persistence_timeout } => {
            if table.contains_key(vs) {
                return Err("Service already exists");
            }
            let v = VirtualServer {
                scheduler: scheduler.clone(),
                persistence_timeout: *persistence_timeout,
                real_servers: Default::default(),
            };
            table.insert(*vs, v);
        }
        Op::EditVirtualServer { vs, scheduler, persistence_timeout } => {
            let v = table.get_mut(vs).ok_or(NO_SERVICE)?;
            v.scheduler = scheduler.clone();
            v.persistence_timeout = *persistence_timeout;
        }
        Op::DeleteVirtualServer { vs } => {
            table.remove(vs).ok_or(NO_SERVICE)?;
        }
        Op::AddRealServer { vs, rs, weight } => {
            let v = table.get_mut(vs).ok_or(NO_SERVICE)?;
            if v.real_servers.contains_key(rs) {
                return Err("Destination already exists");
            }
            v.real_servers.insert(*rs, RealServer::with_weight(*weight));
        }
        Op::EditRealServer { vs, rs, weight } => {
            let v = table.get_mut(vs).ok_or(NO_SERVICE)?;
            v.real_servers.get_mut(rs).ok_or("No such destination")?.weight = *weight;
        }
        Op::DeleteRealServer { vs, rs } => {
            let v = table.get_mut(vs).ok_or(NO_SERVICE)?;
            v.real_servers.remove(rs).ok_or("No such destination")?;
        }
    }
    Ok(())
}
