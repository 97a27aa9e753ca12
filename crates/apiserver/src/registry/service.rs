//! The Service strategy's allocation step: which ClusterIP and NodePorts a
//! Service holds after a write, and the etcd operations that claim and
//! release them in the same transaction as the Service itself.

use crate::allocation::range::AllocationError;
use crate::allocation::{claim_record, ip_key, port_key, Allocators};
use crate::error::ApiError;
use crate::storage::{Guard, Txn};
use api::field_errors::{quote_list, FieldError};
use api::resources::SERVICES;
use api::service::{needs_cluster_ip, needs_node_ports};
use k8s_openapi::api::core::v1::Service;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// The values one Service holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub ips: BTreeSet<Ipv4Addr>,
    pub ports: BTreeSet<i32>,
}

pub fn claims_of(svc: &Service) -> Claims {
    let spec = svc.spec.as_ref();
    Claims {
        ips: spec.and_then(|s| s.cluster_ips.as_ref()).into_iter().flatten().filter_map(|ip| ip.parse().ok()).collect(),
        ports: spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| p.node_port)
            .filter(|p| *p != 0)
            .collect(),
    }
}

/// The outcome of allocating for one write: the claims to take (and which of
/// them the user asked for by value), the claims to let go, and what this
/// process reserved in its bitmaps (to undo if the write fails).
#[derive(Debug, Default)]
pub struct Allocation {
    pub claim: Claims,
    pub release: Claims,
    pub static_ips: BTreeSet<Ipv4Addr>,
    pub static_ports: BTreeSet<i32>,
    pub picked: Claims,
}

impl Allocation {
    /// Adds the claims and releases to the Service's transaction.
    pub fn into_txn(&self, mut txn: Txn, namespace: &str, name: &str) -> Txn {
        for ip in &self.claim.ips {
            txn = txn
                .guard(Guard::Absent(ip_key(*ip)))
                .put(ip_key(*ip), claim_record("IPAddress", &ip.to_string(), namespace, name));
        }
        for port in &self.claim.ports {
            txn = txn
                .guard(Guard::Absent(port_key(*port)))
                .put(port_key(*port), claim_record("ServiceNodePort", &port.to_string(), namespace, name));
        }
        for ip in &self.release.ips {
            txn = txn.delete(ip_key(*ip));
        }
        for port in &self.release.ports {
            txn = txn.delete(port_key(*port));
        }
        txn
    }

    /// Gives back what this process reserved, after a failed or dry-run write.
    pub fn undo_reservations(&self, allocators: &Allocators) {
        self.picked.ips.iter().for_each(|ip| allocators.mark_ip(*ip, false));
        self.picked.ports.iter().for_each(|p| allocators.mark_port(*p, false));
    }

    /// After a commit: the bitmaps learn at once, before the watch says so.
    pub fn committed(&self, allocators: &Allocators) {
        self.claim.ips.iter().for_each(|ip| allocators.mark_ip(*ip, true));
        self.claim.ports.iter().for_each(|p| allocators.mark_port(*p, true));
        self.release.ips.iter().for_each(|ip| allocators.mark_ip(*ip, false));
        self.release.ports.iter().for_each(|p| allocators.mark_port(*p, false));
    }
}

/// Why [`allocate`] failed.
#[derive(Debug)]
pub enum AllocateError {
    /// This process's bitmap has no free value for a dynamic request. It may
    /// be stale (another apiserver just released one): reload and retry
    /// before telling the user.
    RangeFull(&'static str),
    Invalid(ApiError),
}

impl From<AllocateError> for ApiError {
    fn from(e: AllocateError) -> Self {
        match e {
            AllocateError::RangeFull(what) => ApiError::internal(format!("failed to allocate a {what}: range is full")),
            AllocateError::Invalid(e) => e,
        }
    }
}

/// Fills in the dynamic ClusterIP and NodePorts of `svc` (already defaulted
/// and validated) and says what to claim and release against `old`.
pub fn allocate(
    allocators: &Allocators,
    svc: &mut Service,
    old: Option<&Service>,
) -> Result<Allocation, AllocateError> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let old_claims = old.map(claims_of).unwrap_or_default();
    let mut alloc = Allocation::default();
    let wants_ip = needs_cluster_ip(svc);
    let wants_ports = needs_node_ports(svc);
    let spec = svc.spec.get_or_insert_with(Default::default);

    if wants_ip {
        match spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty()) {
            Some(ip) => {
                let requested: Ipv4Addr =
                    ip.parse().map_err(|_| AllocateError::Invalid(ApiError::invalid(&SERVICES, &name, &[])))?;
                if !old_claims.ips.contains(&requested) {
                    if let Err(e) = allocators.ip_range.offset(requested) {
                        return Err(AllocateError::Invalid(ip_error(&name, ip, e)));
                    }
                    alloc.static_ips.insert(requested);
                }
            }
            None => {
                let ip = allocators.pick_ip().map_err(|_| AllocateError::RangeFull("serviceIP"))?;
                alloc.picked.ips.insert(ip);
                spec.cluster_ip = Some(ip.to_string());
                spec.cluster_ips = Some(vec![ip.to_string()]);
            }
        }
    } else if spec.cluster_ip.as_deref() != Some("None") {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }

    if wants_ports {
        // Ports with the same number (TCP and UDP 53, say) share one NodePort.
        let mut by_number: BTreeMap<i32, i32> = BTreeMap::new();
        for (i, port) in spec.ports.iter().flatten().enumerate() {
            if let Some(np) = port.node_port.filter(|p| *p != 0) {
                if !old_claims.ports.contains(&np) {
                    allocators
                        .port_range
                        .offset(np)
                        .map_err(|e| AllocateError::Invalid(port_error(&name, i, np, e)))?;
                    alloc.static_ports.insert(np);
                }
                by_number.entry(port.port).or_insert(np);
            }
        }
        for port in spec.ports.iter_mut().flatten() {
            if port.node_port.unwrap_or(0) == 0 {
                let np = match by_number.get(&port.port) {
                    Some(np) => *np,
                    None => {
                        let np = allocators.pick_port().map_err(|_| {
                            alloc.undo_reservations(allocators);
                            AllocateError::RangeFull("nodePort")
                        })?;
                        alloc.picked.ports.insert(np);
                        by_number.insert(port.port, np);
                        np
                    }
                };
                port.node_port = Some(np);
            }
        }
    } else {
        spec.ports.iter_mut().flatten().for_each(|p| p.node_port = None);
    }

    let new_claims = claims_of(svc);
    alloc.claim = Claims {
        ips: new_claims.ips.difference(&old_claims.ips).copied().collect(),
        ports: new_claims.ports.difference(&old_claims.ports).copied().collect(),
    };
    alloc.release = Claims {
        ips: old_claims.ips.difference(&new_claims.ips).copied().collect(),
        ports: old_claims.ports.difference(&new_claims.ports).copied().collect(),
    };
    Ok(alloc)
}

/// `spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate IP 10.0.0.1: ...`
pub fn ip_error(service: &str, ip: &str, err: AllocationError) -> ApiError {
    ApiError::invalid(
        &SERVICES,
        service,
        &[FieldError::invalid(
            "spec.clusterIPs",
            quote_list(&[ip.to_string()]),
            format!("failed to allocate IP {ip}: {err}"),
        )],
    )
}

/// `spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`
pub fn port_error(service: &str, index: usize, port: i32, err: AllocationError) -> ApiError {
    ApiError::invalid(
        &SERVICES,
        service,
        &[FieldError::invalid(format!("spec.ports[{index}].nodePort"), port.to_string(), err.to_string())],
    )
}

/// Which port index of `svc` asks for NodePort `port` (for error paths).
pub fn port_index(svc: &Service, port: i32) -> usize {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|ps| ps.iter().position(|p| p.node_port == Some(port)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation::range::{IpRange, PortRange};
    use serde_json::json;

    fn allocators() -> Allocators {
        Allocators::new(
            IpRange::new("10.0.0.0/24".parse().unwrap()).unwrap(),
            "30000-30099".parse::<PortRange>().unwrap(),
        )
    }

    fn svc(v: serde_json::Value) -> Service {
        let mut s: Service = serde_json::from_value(v).unwrap();
        api::service::set_defaults(&mut s);
        s
    }

    #[test]
    fn create_picks_from_the_upper_bands_and_shares_ports_across_protocols() {
        let a = allocators();
        let mut s = svc(
            json!({"metadata":{"name":"dns"},"spec":{"type":"NodePort","ports":[{"name":"udp","port":53,"protocol":"UDP"},{"name":"tcp","port":53}]}}),
        );
        let alloc = allocate(&a, &mut s, None).unwrap();
        assert_eq!(alloc.claim.ips.len(), 1);
        let ip = *alloc.claim.ips.iter().next().unwrap();
        assert!(a.ip_range.offset(ip).unwrap() >= a.ip_range.static_band());
        assert_eq!(alloc.claim.ports.len(), 1, "one NodePort for 53/UDP and 53/TCP");
        let ports = s.spec.as_ref().unwrap().ports.as_ref().unwrap();
        assert_eq!(ports[0].node_port, ports[1].node_port);
        assert!(ports[0].node_port.unwrap() >= 30016, "dynamic ports avoid the static band");
    }

    #[test]
    fn type_changes_claim_and_release() {
        let a = allocators();
        let mut old = svc(
            json!({"metadata":{"name":"a"},"spec":{"type":"NodePort","clusterIP":"10.0.0.5","ports":[{"port":80,"nodePort":30007}]}}),
        );
        let first = allocate(&a, &mut old, None).unwrap();
        assert_eq!(first.static_ips.len(), 1);
        assert_eq!(first.static_ports, BTreeSet::from([30007]));
        let mut to_cluster_ip = svc(
            json!({"metadata":{"name":"a"},"spec":{"type":"ClusterIP","clusterIP":"10.0.0.5","ports":[{"port":80}]}}),
        );
        let change = allocate(&a, &mut to_cluster_ip, Some(&old)).unwrap();
        assert!(change.claim.ips.is_empty() && change.claim.ports.is_empty());
        assert_eq!(change.release.ports, BTreeSet::from([30007]));
        let mut to_external =
            svc(json!({"metadata":{"name":"a"},"spec":{"type":"ExternalName","externalName":"example.com"}}));
        let change = allocate(&a, &mut to_external, Some(&old)).unwrap();
        assert_eq!(change.release.ips.len(), 1);
        assert_eq!(to_external.spec.unwrap().cluster_ip, None);
    }

    #[test]
    fn out_of_range_requests_read_like_upstream() {
        let a = allocators();
        let mut s = svc(json!({"metadata":{"name":"a"},"spec":{"clusterIP":"10.1.0.5","ports":[{"port":80}]}}));
        let err = ApiError::from(allocate(&a, &mut s, None).unwrap_err());
        assert_eq!(
            err.message,
            r#"Service "a" is invalid: spec.clusterIPs: Invalid value: []string{"10.1.0.5"}: failed to allocate IP 10.1.0.5: provided IP 10.1.0.5 is not in the valid range. The range of valid IPs is 10.0.0.0/24"#
        );
        let mut s =
            svc(json!({"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":8444}]}}));
        let err = ApiError::from(allocate(&a, &mut s, None).unwrap_err());
        assert_eq!(
            err.message,
            r#"Service "a" is invalid: spec.ports[0].nodePort: Invalid value: 8444: provided port is not in the valid range. The range of valid ports is 30000-30099"#
        );
    }

    #[test]
    fn a_full_range_says_so() {
        let a = Allocators::new(IpRange::new("10.0.0.0/30".parse().unwrap()).unwrap(), "30000-30001".parse().unwrap());
        for _ in 0..2 {
            allocate(&a, &mut svc(json!({"metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}})), None).unwrap();
        }
        let err =
            allocate(&a, &mut svc(json!({"metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}})), None).unwrap_err();
        assert!(matches!(err, AllocateError::RangeFull("serviceIP")));
        assert_eq!(
            ApiError::from(err).message,
            "Internal error occurred: failed to allocate a serviceIP: range is full"
        );
    }
}
