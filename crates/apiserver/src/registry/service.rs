//! The Service strategy: a Service write, top to bottom. This is where a
//! Service gets its ClusterIP and NodePorts, and why it can never leak them.
//!
//! ```text
//!  prepare ──▶ allocate ──▶ one etcd txn: the Service + a "key absent" claim per new value
//!  (defaults,   (pick the       │            + a delete per value it lets go
//!   validation)  dynamic        ├─ committed: the bitmaps learn at once
//!                values)        └─ a claimed key was taken: claim_taken ─┬─ our pick: learn it, allocate again
//!                  ▲                                                     └─ the user's value: 422 already allocated
//!                  └── "range is full": reload the bitmaps once, then believe it
//!  delete ──▶ the Service's delete txn also deletes every value it holds (releases)
//! ```
//!
//! 1. [`ServiceStrategy::prepare`]: keep the values the Service already
//!    holds, drop the fields its new type no longer allows, default, validate.
//! 2. [`ServiceStrategy::claims`] ([`allocate`]): pick a ClusterIP and
//!    NodePorts for what the user left empty, and say which values the
//!    write claims and which it releases. The bitmaps only propose
//!    candidates. When they say "range is full" they may just be stale
//!    (another apiserver released a value a moment ago): the registry
//!    reloads them from etcd once before the user hears it.
//! 3. The registry commits the Service and its claims in one transaction
//!    ([`Allocation::into_txn`]): two apiservers can never hand out one value.
//! 4. [`ServiceStrategy::claim_taken`]: a claimed key already existed.
//!    Learning from it is what makes the retry converge; only a value the
//!    user asked for by number is their error.
//! 5. [`ServiceStrategy::releases`]: a delete lets go of everything the
//!    Service holds, in the delete's own transaction.

use super::strategy::Strategy;
use crate::allocation::range::AllocationError;
use crate::allocation::{AllocateError, Allocation, Allocators, Claims, IP_PREFIX, PORT_PREFIX};
use crate::error::ApiError;
use api::field_errors::{quote_list, FieldError};
use api::json::str_at;
use api::resources::{ResourceType, SERVICES};
use api::service::{needs_cluster_ip, needs_node_ports};
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

pub struct ServiceStrategy;

/// `--service-external-ip-cidrs`, set once at start: which new externalIPs
/// a write may name (unset: all, as before the flag existed).
pub static EXTERNAL_IPS: std::sync::OnceLock<api::addresses::ExternalIps> = std::sync::OnceLock::new();

/// The apiserver's own Service: `default/kubernetes`, on the first ClusterIP.
pub const KUBERNETES: (&str, &str) = ("default", "kubernetes");

fn is_the_kubernetes_service(obj: &Value) -> bool {
    (str_at(obj, "/metadata/namespace"), str_at(obj, "/metadata/name")) == KUBERNETES
}

fn typed(obj: &Value) -> Result<Service, ApiError> {
    Service::deserialize(obj).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// What allocation reads and writes of a Service: its name and spec (not its
/// metadata's managedFields, nor its status: decoding those was a third of
/// the claims' time on a create).
fn allocation_view(obj: &Value) -> Result<Service, ApiError> {
    let spec = obj.get("spec").map(ServiceSpec::deserialize).transpose();
    let metadata = ObjectMeta { name: Some(str_at(obj, "/metadata/name").to_string()), ..Default::default() };
    Ok(Service { metadata, spec: spec.map_err(|e| ApiError::bad_request(e.to_string()))?, status: None })
}

fn untyped(svc: &Service) -> Result<Value, ApiError> {
    serde_json::to_value(svc).map_err(|e| ApiError::internal(e.to_string()))
}

impl Strategy for ServiceStrategy {
    fn prepare(&self, resource: &ResourceType, obj: Value, old: Option<&Value>) -> Result<Value, ApiError> {
        let mut svc = typed(&obj)?;
        let old_svc: Option<Service> = old.and_then(|o| Service::deserialize(o).ok());
        if let Some(old_svc) = &old_svc {
            api::service::keep_allocated_values(&mut svc, old_svc);
            api::service::drop_type_dependent_fields(&mut svc, old_svc);
        }
        api::service::set_defaults(&mut svc);
        let errors = api::service::validate(&svc, old_svc.as_ref());
        if !errors.is_empty() {
            return Err(ApiError::invalid(resource, str_at(&obj, "/metadata/name"), &errors));
        }
        // Admission runs after validation, as upstream's validating plugins do.
        let external = |s: Option<&Service>| s.and_then(|s| s.spec.as_ref()?.external_ips.clone()).unwrap_or_default();
        if let Some(policy) = EXTERNAL_IPS.get() {
            policy
                .admit(&external(Some(&svc)), &external(old_svc.as_ref()))
                .map_err(|why| ApiError::forbidden(resource, str_at(&obj, "/metadata/name"), &why))?;
        }
        untyped(&svc)
    }

    fn allocates(&self) -> bool {
        true
    }

    fn claims(
        &self,
        allocators: &Allocators,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<Allocation, AllocateError> {
        let old_svc: Option<Service> = old.and_then(|o| allocation_view(o).ok());
        let first = allocators.ip_range.first();
        let is_kubernetes = is_the_kubernetes_service(obj);
        loop {
            let mut svc = allocation_view(obj).map_err(AllocateError::Invalid)?;
            let alloc = allocate(allocators, &mut svc, old_svc.as_ref())?;
            // The first ClusterIP is the kubernetes Service's: until authorization exists, nobody else takes it.
            if !is_kubernetes && alloc.static_ips.contains(&first) {
                alloc.undo_reservations(allocators);
                let why = AllocationError::Reserved(first.to_string());
                return Err(AllocateError::Invalid(ip_error(str_at(obj, "/metadata/name"), &first.to_string(), why)));
            }
            if !is_kubernetes && alloc.picked.ips.contains(&first) {
                // Picked because it looked free: leave it marked taken here, and pick again.
                let mut others = alloc;
                others.picked.ips.remove(&first);
                others.undo_reservations(allocators);
                continue;
            }
            // Allocation changed the spec only (ClusterIPs, NodePorts): the rest stays as prepared.
            match serde_json::to_value(&svc.spec) {
                Ok(spec) => {
                    if let Some(o) = obj.as_object_mut() {
                        o.insert("spec".into(), spec);
                    }
                }
                Err(e) => {
                    alloc.undo_reservations(allocators);
                    return Err(AllocateError::Invalid(ApiError::internal(e.to_string())));
                }
            }
            return Ok(alloc);
        }
    }

    fn claim_taken(&self, allocators: &Allocators, alloc: &Allocation, key: &str, obj: &Value) -> Result<(), ApiError> {
        let name = str_at(obj, "/metadata/name");
        if let Some(ip) = key.strip_prefix(IP_PREFIX).and_then(|s| s.parse().ok()) {
            allocators.mark_ip(ip, true);
            if alloc.static_ips.contains(&ip) {
                return Err(ip_error(name, &ip.to_string(), AllocationError::Allocated("IP")));
            }
        } else if let Some(port) = key.strip_prefix(PORT_PREFIX).and_then(|s| s.parse().ok()) {
            allocators.mark_port(port, true);
            if alloc.static_ports.contains(&port) {
                let svc = allocation_view(obj).unwrap_or_default();
                let taken = AllocationError::Allocated("port");
                if api::service_lb::health_check_node_port(&svc) == port {
                    let field = FieldError::invalid("spec.healthCheckNodePort", port.to_string(), taken.to_string());
                    return Err(ApiError::invalid(&SERVICES, name, &[field]));
                }
                return Err(port_error(name, port_index(&svc, port), port, taken));
            }
        }
        Ok(())
    }

    // Deleting `default/kubernetes` is anyone's whom RBAC lets delete
    // Services (cluster-admin), as upstream: the bootstrap controller makes
    // it again on the first ClusterIP, which no other Service may take.

    fn releases(&self, obj: &Value) -> Claims {
        allocation_view(obj).map(|svc| claims_of(&svc)).unwrap_or_default()
    }
}

/// The values one Service holds.
pub fn claims_of(svc: &Service) -> Claims {
    let spec = svc.spec.as_ref();
    Claims {
        ips: spec.and_then(|s| s.cluster_ips.as_ref()).into_iter().flatten().filter_map(|ip| ip.parse().ok()).collect(),
        ports: spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| p.node_port)
            .chain(spec.and_then(|s| s.health_check_node_port))
            .filter(|p| *p != 0)
            .collect(),
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

    health_check_node_port(allocators, svc, &old_claims, &mut alloc, &name)?;

    let new_claims = claims_of(svc);
    if new_claims.ports.len() > MAX_NODE_PORTS {
        alloc.undo_reservations(allocators);
        return Err(AllocateError::Invalid(too_many_node_ports(&name, new_claims.ports.len())));
    }
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

/// `healthCheckNodePort`, for a LoadBalancer with `externalTrafficPolicy:
/// Local` only (validation refused it elsewhere): the user's, checked
/// against the range and the Service's own NodePorts, or one picked from
/// the NodePort range. It is one more claimed NodePort key.
fn health_check_node_port(
    allocators: &Allocators,
    svc: &mut Service,
    old_claims: &Claims,
    alloc: &mut Allocation,
    name: &str,
) -> Result<(), AllocateError> {
    if !api::service_lb::needs_health_check_node_port(svc) {
        return Ok(());
    }
    let spec = svc.spec.get_or_insert_with(Default::default);
    let own: BTreeSet<i32> = spec.ports.iter().flatten().filter_map(|p| p.node_port).collect();
    let invalid = |port: i32, err: AllocationError| {
        let field = FieldError::invalid("spec.healthCheckNodePort", port.to_string(), err.to_string());
        AllocateError::Invalid(ApiError::invalid(&SERVICES, name, &[field]))
    };
    match spec.health_check_node_port.filter(|p| *p != 0) {
        Some(port) if own.contains(&port) => {
            alloc.undo_reservations(allocators);
            return Err(invalid(port, AllocationError::Allocated("port")));
        }
        Some(port) if !old_claims.ports.contains(&port) => {
            if let Err(e) = allocators.port_range.offset(port) {
                alloc.undo_reservations(allocators);
                return Err(invalid(port, e));
            }
            alloc.static_ports.insert(port);
        }
        Some(_) => {}
        None => {
            let port = allocators.pick_port().map_err(|_| {
                alloc.undo_reservations(allocators);
                AllocateError::RangeFull("nodePort")
            })?;
            alloc.picked.ports.insert(port);
            spec.health_check_node_port = Some(port);
        }
    }
    Ok(())
}

/// The most distinct NodePorts one Service may hold. Each new value is a
/// guard and a put in the Service's etcd transaction, each dropped one a
/// delete, and etcd refuses a transaction of more than 128 operations
/// (`--max-txn-ops`). An update that moves every NodePort at once claims
/// 63 and releases 63: with the Service's own put, 127. So any write of a
/// Service within this limit fits, by construction (see ARCHITECTURE.md).
pub const MAX_NODE_PORTS: usize = 63;

/// `spec.ports: Too many: 64: must have at most 63 distinct NodePorts ...`
fn too_many_node_ports(service: &str, count: usize) -> ApiError {
    let detail = format!(
        "must have at most {MAX_NODE_PORTS} distinct NodePorts (each is claimed in the Service's etcd transaction)"
    );
    ApiError::invalid(&SERVICES, service, &[FieldError::too_many("spec.ports", count, detail)])
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
    use std::collections::BTreeSet;

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
    fn health_check_node_port_for_local_load_balancers_only() {
        let a = allocators();
        let local = |extra: serde_json::Value| {
            let mut spec = json!({"type":"LoadBalancer","externalTrafficPolicy":"Local","ports":[{"port":80}]});
            spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            svc(json!({"metadata":{"name":"a"},"spec":spec}))
        };
        let mut picked = local(json!({"allocateLoadBalancerNodePorts": false}));
        let alloc = allocate(&a, &mut picked, None).unwrap();
        let hc = picked.spec.as_ref().unwrap().health_check_node_port.unwrap();
        assert_eq!(alloc.claim.ports, BTreeSet::from([hc]), "no NodePorts, but a health check port");
        let mut given = local(json!({"healthCheckNodePort": 30005}));
        let alloc = allocate(&a, &mut given, None).unwrap();
        assert!(alloc.static_ports.contains(&30005) && alloc.claim.ports.len() == 2);
        // To Cluster: released with the policy.
        let mut cluster = given.clone();
        cluster.spec.as_mut().unwrap().external_traffic_policy = Some("Cluster".into());
        api::service_lb::carry_over(&mut cluster, &given);
        let change = allocate(&a, &mut cluster, Some(&given)).unwrap();
        assert_eq!(change.release.ports, BTreeSet::from([30005]));
        // Out of range, or one of its own NodePorts: upstream's words.
        let mut outside = local(json!({"healthCheckNodePort": 8080}));
        let err = ApiError::from(allocate(&a, &mut outside, None).unwrap_err());
        assert_eq!(
            err.message,
            r#"Service "a" is invalid: spec.healthCheckNodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-30099"#
        );
        let mut own = local(json!({"healthCheckNodePort": 30007, "ports": [{"port": 80, "nodePort": 30007}]}));
        let err = ApiError::from(allocate(&a, &mut own, None).unwrap_err());
        assert_eq!(
            err.message,
            r#"Service "a" is invalid: spec.healthCheckNodePort: Invalid value: 30007: provided port is already allocated"#
        );
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
