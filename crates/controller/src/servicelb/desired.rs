//! Which address each LoadBalancer Service holds, as MetalLB's controller
//! decides it, but as one pure function over every Service: the pool's
//! state is whatever the Services' `status.loadBalancer` says (level
//! triggered), so a restarted controller reads the same answer back and
//! never hands one address to two Services, nor moves one that is in use.
//!
//! The rules, in order:
//! 1. A Service that is ours keeps the address its status shows if that is
//!    in the pool, is what it asks for (if it asks), and no older Service
//!    holds it too.
//! 2. Addresses any other Service shows (another class's, one about to be
//!    released) are taken too: nothing is shared, even for a moment.
//! 3. The others, oldest first, get what they ask for if it is free and in
//!    the pool, else the lowest free address; or stay `<pending>` with the
//!    reason, which the controller records as an Event.

use super::pool::Pool;
use api::well_known::{LOAD_BALANCER_CLASS, LOAD_BALANCER_IPS_ANNOTATION};
use informer::cache::Key;
use k8s_openapi::api::core::v1::Service;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

/// One Service as the allocator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub key: Key,
    pub role: Role,
    /// `spec.loadBalancerIP` or the annotation, parsed.
    pub request: Request,
    /// The addresses its `status.loadBalancer.ingress` shows now.
    pub held: Vec<IpAddr>,
    /// Who came first: creation time (seconds), then the key.
    pub order: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A LoadBalancer Service with no class or ours, not being deleted.
    Ours,
    /// A LoadBalancer Service of another class: its status is its owner's.
    OtherClass,
    /// Not a LoadBalancer (any more): what its status shows is released.
    NotLoadBalancer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Any,
    Ip(Ipv4Addr),
    /// Unparsable, both ways at once, or not IPv4: the Event's message.
    Invalid(String),
}

/// What the controller makes of one Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its status must say exactly this address (`new`: it did not before).
    Address { ip: Ipv4Addr, new: bool },
    /// No address: its status must be empty, and the Event says why.
    Pending { reason: &'static str, message: String },
    /// Not a LoadBalancer: its status must be empty.
    Release,
    /// Another class's: leave it alone.
    Untouched,
}

/// The Event reasons, as MetalLB's controller records them.
pub const ALLOCATED: &str = "IPAllocated";
pub const ALLOCATION_FAILED: &str = "AllocationFailed";
pub const INVALID_REQUEST: &str = "LoadBalancerFailed";

/// The allocator's view of `svc`.
pub fn claim_of(svc: &Service) -> Claim {
    let key = (svc.metadata.namespace.clone().unwrap_or_default(), svc.metadata.name.clone().unwrap_or_default());
    let spec = svc.spec.clone().unwrap_or_default();
    let role = if spec.type_.as_deref() != Some("LoadBalancer") || svc.metadata.deletion_timestamp.is_some() {
        Role::NotLoadBalancer
    } else if spec.load_balancer_class.as_deref().is_none_or(|c| c == LOAD_BALANCER_CLASS) {
        Role::Ours
    } else {
        Role::OtherClass
    };
    let annotation = svc.metadata.annotations.as_ref().and_then(|a| a.get(LOAD_BALANCER_IPS_ANNOTATION));
    let request =
        request_of(spec.load_balancer_ip.as_deref().filter(|s| !s.is_empty()), annotation.map(String::as_str));
    let held = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect();
    let order = svc.metadata.creation_timestamp.as_ref().map_or(i64::MAX, |t| t.0.as_second());
    Claim { key, role, request, held, order }
}

/// MetalLB's rules for what a Service asks for (`getDesiredLbIPs`), one
/// IPv4 address at most: our Services are single-stack IPv4.
fn request_of(load_balancer_ip: Option<&str>, annotation: Option<&str>) -> Request {
    let (field, value) = match (load_balancer_ip, annotation) {
        (None, None) => return Request::Any,
        (Some(_), Some(_)) => {
            return Request::Invalid(format!(
                "service can not have both {LOAD_BALANCER_IPS_ANNOTATION} and svc.Spec.LoadBalancerIP"
            ))
        }
        (Some(ip), None) => ("spec.loadBalancerIP", ip),
        (None, Some(ips)) => (LOAD_BALANCER_IPS_ANNOTATION, ips),
    };
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [one] => match one.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => Request::Ip(ip),
            Ok(IpAddr::V6(_)) => Request::Invalid(format!(
                "requested loadBalancer IP(s) {value:?} does not match the ipFamily of the service"
            )),
            Err(_) => Request::Invalid(format!("invalid {field} {value:?}")),
        },
        _ if parts.iter().any(|p| p.parse::<IpAddr>().is_err()) => {
            Request::Invalid(format!("invalid {field} {value:?}"))
        }
        _ => Request::Invalid(format!(
            "requested loadBalancer IP(s) {value:?} does not match the ipFamily of the service"
        )),
    }
}

/// Every Service's outcome. Pure, and deterministic in the claims' order.
pub fn allocate(pool: &Pool, claims: &[Claim]) -> BTreeMap<Key, Outcome> {
    let mut sorted: Vec<&Claim> = claims.iter().collect();
    sorted.sort_by(|a, b| (a.order, &a.key).cmp(&(b.order, &b.key)));
    let mut out = BTreeMap::new();
    // Who holds what after rule 1, and what nobody may be given (rule 2).
    let mut holder: BTreeMap<Ipv4Addr, &Key> = BTreeMap::new();
    let mut taken: BTreeSet<Ipv4Addr> = BTreeSet::new();
    for c in &sorted {
        let v4 = c.held.iter().filter_map(|ip| match ip {
            IpAddr::V4(ip) => Some(*ip),
            IpAddr::V6(_) => None,
        });
        match c.role {
            Role::OtherClass => {
                taken.extend(v4);
                out.insert(c.key.clone(), Outcome::Untouched);
            }
            Role::NotLoadBalancer => {
                taken.extend(v4);
                out.insert(c.key.clone(), Outcome::Release);
            }
            Role::Ours => {
                let keep = v4.clone().find(|ip| {
                    pool.contains(*ip)
                        && !holder.contains_key(ip)
                        && match &c.request {
                            Request::Any => true,
                            Request::Ip(want) => want == ip,
                            Request::Invalid(_) => false,
                        }
                });
                if let Some(ip) = keep {
                    holder.insert(ip, &c.key);
                    out.insert(c.key.clone(), Outcome::Address { ip, new: false });
                }
                // What it shows and does not keep stays taken until its
                // status is rewritten, so no one else gets it in this pass.
                taken.extend(v4.filter(|ip| Some(*ip) != keep));
            }
        }
    }
    let mut free = pool.iter().filter(|ip| !holder.contains_key(ip) && !taken.contains(ip)).peekable();
    let mut given: BTreeSet<Ipv4Addr> = BTreeSet::new();
    let waiting: Vec<&Claim> =
        sorted.iter().copied().filter(|c| c.role == Role::Ours && !out.contains_key(&c.key)).collect();
    for c in waiting {
        let name = format!("{}/{}", c.key.0, c.key.1);
        let outcome = match &c.request {
            Request::Invalid(why) => Outcome::Pending {
                reason: INVALID_REQUEST,
                message: format!("invalid requested loadbalancer IPs: {why}"),
            },
            Request::Ip(ip) if !pool.contains(*ip) => {
                failed(&name, format!("{:?} is not allowed in config", ip.to_string()))
            }
            Request::Ip(ip) => match holder.get(ip) {
                Some(other) => {
                    failed(&name, format!("{:?} is already in use by {}/{}", ip.to_string(), other.0, other.1))
                }
                None if taken.contains(ip) || given.contains(ip) => {
                    failed(&name, format!("{:?} is already in use", ip.to_string()))
                }
                None => {
                    given.insert(*ip);
                    Outcome::Address { ip: *ip, new: true }
                }
            },
            Request::Any => loop {
                match free.next() {
                    // A requested address given out in this pass is not free.
                    Some(ip) if given.contains(&ip) => continue,
                    Some(ip) => {
                        given.insert(ip);
                        break Outcome::Address { ip, new: true };
                    }
                    None => break failed(&name, "no available IPs".into()),
                }
            },
        };
        out.insert(c.key.clone(), outcome);
    }
    out
}

fn failed(name: &str, why: String) -> Outcome {
    Outcome::Pending { reason: ALLOCATION_FAILED, message: format!("Failed to allocate IP for {name:?}: {why}") }
}

/// MetalLB's `Assigned IP %q` (Go's %q of a list of addresses).
pub fn assigned_message(ip: Ipv4Addr) -> String {
    format!("Assigned IP [\"{ip}\"]")
}
