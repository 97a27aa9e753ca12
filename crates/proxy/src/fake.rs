//! An IPVS table in memory that answers like the kernel: adding what exists
//! or changing what does not is an error ([`crate::plan::apply`]). The
//! proxy's plans are tested against it, and the table syncer's tests and
//! the benchmark sync it as they would the kernel.

use crate::ipvs::syncer::IpvsApi;
use crate::model::{RealServer, RealServerKey, Table, VirtualServerKey};
pub use crate::plan::KernelError;
use crate::plan::Op;
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct FakeIpvs {
    pub table: Table,
}

impl FakeIpvs {
    pub fn apply(&mut self, ops: &[Op]) -> Result<(), KernelError> {
        crate::plan::apply(&mut self.table, ops)
    }
}

impl IpvsApi for FakeIpvs {
    fn read(&mut self) -> anyhow::Result<Table> {
        Ok(self.table.clone())
    }

    fn read_real_servers(&mut self, vs: &VirtualServerKey) -> anyhow::Result<BTreeMap<RealServerKey, RealServer>> {
        Ok(self.table.get(vs).map(|v| v.real_servers.clone()).unwrap_or_default())
    }

    fn apply(&mut self, ops: &[Op]) -> anyhow::Result<()> {
        FakeIpvs::apply(self, ops).map_err(|e| anyhow::anyhow!(e.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{same_config, Protocol, VirtualServer};
    use crate::plan::plan;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::net::{IpAddr, Ipv4Addr};

    fn vs_key(proto: u8, ip: u8, port: u16) -> VirtualServerKey {
        let protocol = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][proto as usize % 3];
        VirtualServerKey { protocol, address: IpAddr::V4(Ipv4Addr::new(10, 96, 0, ip)), port }
    }

    /// Small random tables, so that current and desired overlap often.
    fn table(conns: bool) -> impl Strategy<Value = Table> {
        let rs = (0u8..6, 78u16..82, 0u32..3, if conns { 0u32..3 } else { 0u32..1 });
        let vs = (
            (0u8..3, 0u8..4, 79u16..81),
            prop_oneof!["rr", "wrr", "lc"],
            proptest::option::of(1u32..3),
            proptest::collection::vec(rs, 0..5),
        );
        proptest::collection::vec(vs, 0..6).prop_map(|list| {
            let mut t = Table::new();
            for ((proto, ip, port), scheduler, persistence_timeout, servers) in list {
                let real_servers: BTreeMap<_, _> = servers
                    .into_iter()
                    .map(|(ip, port, weight, active)| {
                        (
                            RealServerKey { address: IpAddr::V4(Ipv4Addr::new(10, 244, 1, ip)), port },
                            RealServer { weight, active_connections: active, inactive_connections: 0 },
                        )
                    })
                    .collect();
                t.insert(
                    vs_key(proto, ip, port),
                    VirtualServer { scheduler: scheduler.to_string(), persistence_timeout, real_servers },
                );
            }
            t
        })
    }

    proptest! {
        /// Applying plan(current, desired) to a kernel holding `current`
        /// never fails and yields `desired`, when nothing is connected.
        #[test]
        fn the_plan_reaches_the_desired_table(current in table(false), desired in table(false)) {
            let mut kernel = FakeIpvs { table: current.clone() };
            kernel.apply(&plan(&current, &desired, &BTreeSet::new())).map_err(|e| TestCaseError::fail(e.0))?;
            prop_assert!(same_config(&kernel.table, &desired), "{:?}\n!=\n{:?}", kernel.table, desired);
            // And planning again finds nothing to do.
            prop_assert!(plan(&kernel.table, &desired, &BTreeSet::new()).is_empty());
        }

        /// With connections open, a removed TCP real server drains (weight 0)
        /// instead of going, and everything else is as desired.
        #[test]
        fn connected_real_servers_drain(current in table(true), desired in table(false)) {
            let mut kernel = FakeIpvs { table: current.clone() };
            kernel.apply(&plan(&current, &desired, &BTreeSet::new())).map_err(|e| TestCaseError::fail(e.0))?;
            for (key, vs) in &kernel.table {
                let want = desired.get(key).expect("no extra virtual servers");
                for (rs, r) in &vs.real_servers {
                    match want.real_servers.get(rs) {
                        Some(w) => prop_assert_eq!(w.weight, r.weight),
                        None => {
                            prop_assert_eq!(r.weight, 0, "a removed real server only drains");
                            prop_assert!(r.active_connections > 0 && key.protocol != Protocol::Udp);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn drained_servers_go_once_idle_or_expired() {
        let vs = vs_key(0, 10, 80);
        let rs = RealServerKey { address: "10.244.1.5".parse().unwrap(), port: 80 };
        let mut current = Table::new();
        current.insert(
            vs,
            VirtualServer {
                scheduler: "rr".into(),
                persistence_timeout: None,
                real_servers: [(rs, RealServer { weight: 1, active_connections: 2, inactive_connections: 0 })].into(),
            },
        );
        let mut desired = current.clone();
        desired.get_mut(&vs).unwrap().real_servers.clear();
        let ops = plan(&current, &desired, &BTreeSet::new());
        assert_eq!(
            ops.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["ipvsadm -e -t 10.96.0.10:80 -r 10.244.1.5:80 -m -w 0"]
        );
        current.get_mut(&vs).unwrap().real_servers.get_mut(&rs).unwrap().weight = 0;
        assert!(plan(&current, &desired, &BTreeSet::new()).is_empty(), "still connected: keep draining");
        let ops = plan(&current, &desired, &[(vs, rs)].into());
        assert_eq!(
            ops.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["ipvsadm -d -t 10.96.0.10:80 -r 10.244.1.5:80"]
        );
    }

    #[test]
    fn the_kernel_refuses_what_it_would_refuse() {
        let mut k = FakeIpvs::default();
        let vs = vs_key(1, 10, 53);
        let add = Op::AddVirtualServer { vs, scheduler: "rr".into(), persistence_timeout: None };
        k.apply(std::slice::from_ref(&add)).unwrap();
        assert_eq!(k.apply(&[add]).unwrap_err().0, "ipvsadm -A -u 10.96.0.10:53 -s rr: Service already exists");
        assert!(k.apply(&[Op::DeleteVirtualServer { vs: vs_key(0, 1, 1) }]).is_err());
    }
}
