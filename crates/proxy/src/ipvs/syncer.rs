//! Keeps the kernel's IPVS table equal to the desired table.
//!
//! A full sync (the first, and each periodic resync that repairs drift)
//! reads the whole table and plans against it. In between, the syncer
//! trusts what it last wrote and plans only the virtual servers that
//! changed: one endpoint change is one or two netlink messages whatever
//! the number of Services. It still asks the kernel before removing real
//! servers, because only the kernel knows which have connections to drain.

use crate::model::{RealServer, RealServerKey, Table, VirtualServerKey};
use crate::plan::{apply, plan, Op};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What the syncer needs from IPVS: the kernel ([`super::kernel`]), or the
/// in-memory fake in tests and benchmarks.
pub trait IpvsApi {
    /// The whole table.
    fn read(&mut self) -> anyhow::Result<Table>;
    /// One virtual server's real servers, with their connection counts.
    fn read_real_servers(&mut self, vs: &VirtualServerKey) -> anyhow::Result<BTreeMap<RealServerKey, RealServer>>;
    /// Applies operations in order; stops at the first refused.
    fn apply(&mut self, ops: &[Op]) -> anyhow::Result<()>;
}

pub struct TableSyncer<K> {
    pub kernel: K,
    /// The owned part of the kernel's table after the last sync; `None`
    /// (at first, and after an error) means read it before planning.
    known: Option<Table>,
    /// Real servers being drained (weight 0), since when.
    draining_since: BTreeMap<(VirtualServerKey, RealServerKey), Instant>,
    /// How long a drained real server with open connections is kept.
    pub grace: Duration,
}

impl<K: IpvsApi> TableSyncer<K> {
    pub fn new(kernel: K, grace: Duration) -> Self {
        Self { kernel, known: None, draining_since: BTreeMap::new(), grace }
    }

    /// Makes the kernel's owned virtual servers equal `desired`. `changed`
    /// names the virtual servers that may differ from the last sync; `None`
    /// asks for a full sync. `owned` says which of the kernel's virtual
    /// servers are this proxy's (a full sync leaves the others alone).
    /// Returns the operations applied.
    pub fn sync(
        &mut self,
        desired: &Table,
        changed: Option<&BTreeSet<VirtualServerKey>>,
        owned: impl Fn(&VirtualServerKey) -> bool,
        now: Instant,
    ) -> anyhow::Result<Vec<Op>> {
        let result = self
            .current(desired, changed, owned)
            .and_then(|(current, keys)| self.plan_and_apply(desired, current, keys, now));
        if result.is_err() {
            // What the kernel holds now is unknown: read it next time.
            self.known = None;
        }
        result
    }

    /// What the kernel holds of the virtual servers in play (all of its
    /// owned ones for a full sync, else the changed and the draining ones),
    /// and which those are (`None`: all).
    fn current(
        &mut self,
        desired: &Table,
        changed: Option<&BTreeSet<VirtualServerKey>>,
        owned: impl Fn(&VirtualServerKey) -> bool,
    ) -> anyhow::Result<(Table, Option<BTreeSet<VirtualServerKey>>)> {
        Ok(match (changed, &self.known) {
            (Some(changed), Some(known)) => {
                // The changed virtual servers, and those still draining.
                let keys: BTreeSet<VirtualServerKey> =
                    changed.iter().chain(self.draining_since.keys().map(|(vs, _)| vs)).copied().collect();
                let mut current = Table::new();
                for key in &keys {
                    let Some(have) = known.get(key) else { continue };
                    let mut have = have.clone();
                    let removing = desired
                        .get(key)
                        .is_some_and(|want| have.real_servers.keys().any(|r| !want.real_servers.contains_key(r)));
                    if removing {
                        have.real_servers = self.kernel.read_real_servers(key)?;
                    }
                    current.insert(*key, have);
                }
                (current, Some(keys))
            }
            _ => (self.kernel.read()?.into_iter().filter(|(k, _)| owned(k)).collect::<Table>(), None),
        })
    }

    /// Plans `current` → `desired` over `keys`, applies it, and remembers
    /// what the kernel then holds.
    fn plan_and_apply(
        &mut self,
        desired: &Table,
        current: Table,
        keys: Option<BTreeSet<VirtualServerKey>>,
        now: Instant,
    ) -> anyhow::Result<Vec<Op>> {
        let want: Cow<Table> = match &keys {
            Some(keys) => Cow::Owned(keys.iter().filter_map(|k| Some((*k, desired.get(k)?.clone()))).collect()),
            None => Cow::Borrowed(desired),
        };

        // Real servers on their way out: since when, and whose grace is over?
        let mut draining = BTreeMap::new();
        for (vk, vs) in &current {
            for rk in vs.real_servers.keys() {
                if want.get(vk).is_none_or(|d| !d.real_servers.contains_key(rk)) {
                    draining.insert((*vk, *rk), self.draining_since.get(&(*vk, *rk)).copied().unwrap_or(now));
                }
            }
        }
        let expired =
            draining.iter().filter(|(_, since)| now.duration_since(**since) >= self.grace).map(|(k, _)| *k).collect();
        let ops = plan(&current, &want, &expired);
        self.kernel.apply(&ops)?;

        // What the kernel holds now: `current` with `ops` applied.
        let mut after = current;
        apply(&mut after, &ops).map_err(|e| anyhow::anyhow!("planned an impossible operation: {}", e.0))?;
        draining.retain(|(vk, rk), _| after.get(vk).is_some_and(|vs| vs.real_servers.contains_key(rk)));
        self.draining_since = draining;
        match (keys, self.known.as_mut()) {
            (Some(keys), Some(known)) => {
                for key in keys {
                    match after.remove(&key) {
                        Some(vs) => known.insert(key, vs),
                        None => known.remove(&key),
                    };
                }
            }
            _ => self.known = Some(after),
        }
        Ok(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeIpvs;
    use crate::model::{Protocol, VirtualServer};
    use std::net::IpAddr;

    fn vs_key(last: u8) -> VirtualServerKey {
        VirtualServerKey { protocol: Protocol::Tcp, address: IpAddr::from([10, 96, 0, last]), port: 80 }
    }

    fn vs(reals: &[u8]) -> VirtualServer {
        VirtualServer {
            scheduler: "rr".into(),
            persistence_timeout: None,
            real_servers: reals
                .iter()
                .map(|r| {
                    (RealServerKey { address: IpAddr::from([10, 244, 0, *r]), port: 80 }, RealServer::with_weight(1))
                })
                .collect(),
        }
    }

    fn mine(k: &VirtualServerKey) -> bool {
        k.address.to_string().starts_with("10.96.")
    }

    #[test]
    fn an_incremental_sync_touches_only_what_changed_and_leaves_others_alone() {
        let mut fake = FakeIpvs::default();
        // Someone else's virtual server on the same host.
        let foreign = VirtualServerKey { protocol: Protocol::Tcp, address: IpAddr::from([192, 0, 2, 1]), port: 80 };
        fake.table.insert(foreign, vs(&[9]));
        let mut syncer = TableSyncer::new(fake, Duration::from_secs(30));
        let mut desired: Table = (1..=100).map(|i| (vs_key(i), vs(&[1, 2, 3]))).collect();
        let t0 = Instant::now();
        let ops = syncer.sync(&desired, None, mine, t0).unwrap();
        assert_eq!(ops.len(), 400, "100 virtual servers with 3 real servers each");

        desired.get_mut(&vs_key(42)).unwrap().real_servers = vs(&[1, 2, 3, 4]).real_servers;
        let ops = syncer.sync(&desired, Some(&[vs_key(42)].into()), mine, t0).unwrap();
        assert_eq!(ops.len(), 1, "{ops:?}");
        assert_eq!(ops[0].to_string(), "ipvsadm -a -t 10.96.0.42:80 -r 10.244.0.4:80 -m -w 1");

        // An endpoint leaves while it has a connection: drained, then deleted after the grace.
        syncer
            .kernel
            .table
            .get_mut(&vs_key(42))
            .unwrap()
            .real_servers
            .values_mut()
            .for_each(|r| r.active_connections = 1);
        desired.get_mut(&vs_key(42)).unwrap().real_servers = vs(&[1, 2, 3]).real_servers;
        let ops = syncer.sync(&desired, Some(&[vs_key(42)].into()), mine, t0).unwrap();
        assert_eq!(
            ops.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["ipvsadm -e -t 10.96.0.42:80 -r 10.244.0.4:80 -m -w 0"]
        );
        // Another change elsewhere, before the grace is over: the drained one stays.
        let ops = syncer.sync(&desired, Some(&[vs_key(7)].into()), mine, t0 + Duration::from_secs(5)).unwrap();
        assert!(ops.is_empty(), "{ops:?}");
        let ops = syncer.sync(&desired, Some(&BTreeSet::new()), mine, t0 + Duration::from_secs(31)).unwrap();
        assert_eq!(
            ops.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["ipvsadm -d -t 10.96.0.42:80 -r 10.244.0.4:80"]
        );

        // A full resync finds nothing to do, and never touches the foreign server.
        let ops = syncer.sync(&desired, None, mine, t0 + Duration::from_secs(32)).unwrap();
        assert!(ops.is_empty(), "{ops:?}");
        assert_eq!(syncer.kernel.table.get(&foreign), Some(&vs(&[9])));
        let mut with_foreign = desired.clone();
        with_foreign.insert(foreign, vs(&[9]));
        assert!(crate::model::same_config(&syncer.kernel.table, &with_foreign));
    }

    #[test]
    fn drift_is_repaired_by_a_full_sync_and_an_error_forces_one() {
        let mut syncer = TableSyncer::new(FakeIpvs::default(), Duration::from_secs(30));
        let desired: Table = (1..=3).map(|i| (vs_key(i), vs(&[1]))).collect();
        let now = Instant::now();
        syncer.sync(&desired, None, mine, now).unwrap();
        // Someone deletes one of ours behind the proxy's back.
        syncer.kernel.table.remove(&vs_key(2));
        // An incremental sync of vs 2 believes it exists and fails...
        let mut changed_desired = desired.clone();
        changed_desired.get_mut(&vs_key(2)).unwrap().real_servers = vs(&[1, 5]).real_servers;
        assert!(syncer.sync(&changed_desired, Some(&[vs_key(2)].into()), mine, now).is_err());
        // ...so the next one reads the kernel and repairs it.
        syncer.sync(&changed_desired, Some(&[vs_key(2)].into()), mine, now).unwrap();
        assert!(crate::model::same_config(&syncer.kernel.table, &changed_desired));
    }
}
