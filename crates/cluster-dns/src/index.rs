//! What the DNS answers from: an index of Services, EndpointSlices and
//! Namespaces, kept up to date one object at a time (a watch event costs
//! the object's own entries, never a rebuild), and shaped for the lookups
//! `answer` makes: by namespace then name, by ClusterIP, by endpoint IP.
//!
//! Only what DNS needs is kept (names, IPs, ports, readiness, hostnames),
//! not the objects, so 10,000 Services cost a few megabytes.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::HashMap;
use std::net::IpAddr;

/// A port as DNS sees it: SRV names it `_<name>._<protocol>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// "" for an unnamed port.
    pub name: Box<str>,
    /// Lowercase (`tcp`, `udp`, `sctp`), as it appears in `_tcp`.
    pub protocol: Box<str>,
    /// `None`: the sentinel CoreDNS adds for an object without ports, so
    /// it still has addresses (but no SRV).
    pub port: Option<u16>,
}

impl Port {
    fn none() -> Port {
        Port { name: "".into(), protocol: "".into(), port: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// A ClusterIP (or NodePort, LoadBalancer) Service: its ClusterIPs.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: DNS answers with the endpoints.
    Headless,
    /// `type: ExternalName`: a CNAME to this name.
    ExternalName(Box<str>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub kind: ServiceKind,
    pub ports: Vec<Port>,
    pub publish_not_ready: bool,
    pub has_selector: bool,
}

impl ServiceEntry {
    pub fn from_service(svc: &Service) -> Self {
        let spec = svc.spec.clone().unwrap_or_default();
        let ips: Vec<IpAddr> = match &spec.cluster_ips {
            Some(ips) if !ips.is_empty() => ips.iter().filter_map(|i| i.parse().ok()).collect(),
            _ => spec.cluster_ip.iter().filter_map(|i| i.parse().ok()).collect(),
        };
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            ServiceKind::ExternalName(spec.external_name.unwrap_or_default().to_ascii_lowercase().into())
        } else if spec.cluster_ip.as_deref() == Some("None") {
            ServiceKind::Headless
        } else {
            ServiceKind::ClusterIp(ips)
        };
        let ports = spec
            .ports
            .unwrap_or_default()
            .iter()
            .map(|p| port(p.name.as_deref(), p.protocol.as_deref(), Some(p.port)))
            .collect();
        ServiceEntry {
            kind,
            ports: with_sentinel(ports),
            publish_not_ready: spec.publish_not_ready_addresses.unwrap_or(false),
            has_selector: spec.selector.is_some_and(|s| !s.is_empty()),
        }
    }
}

fn port(name: Option<&str>, protocol: Option<&str>, number: Option<i32>) -> Port {
    Port {
        name: name.unwrap_or("").to_ascii_lowercase().into(),
        protocol: protocol.unwrap_or("TCP").to_ascii_lowercase().into(),
        port: number.and_then(|n| u16::try_from(n).ok()),
    }
}

fn with_sentinel(ports: Vec<Port>) -> Vec<Port> {
    if ports.is_empty() {
        vec![Port::none()]
    } else {
        ports
    }
}

/// One address of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    /// `endpoints[].hostname` (set from a pod's `hostname` + `subdomain`).
    pub hostname: Option<Box<str>>,
    /// `conditions.ready`, unset counting as ready (CoreDNS's `endpointsliceReady`).
    pub ready: bool,
}

impl Endpoint {
    /// The endpoint's label below its Service: the hostname, else the dashed IP.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        match &self.hostname {
            Some(h) => std::borrow::Cow::Borrowed(h),
            None => std::borrow::Cow::Owned(crate::names::dashed(self.ip)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceEntry {
    /// From the `kubernetes.io/service-name` label.
    pub service: Box<str>,
    pub ports: Vec<Port>,
    pub endpoints: Vec<Endpoint>,
}

impl SliceEntry {
    /// `None` for a slice that belongs to no Service.
    pub fn from_slice(slice: &EndpointSlice) -> Option<Self> {
        let service = slice.metadata.labels.as_ref()?.get(api::well_known::SERVICE_NAME_LABEL)?;
        let ports =
            slice.ports.iter().flatten().map(|p| port(p.name.as_deref(), p.protocol.as_deref(), p.port)).collect();
        let endpoints = slice
            .endpoints
            .iter()
            .flat_map(|e| {
                let ready = e.conditions.as_ref().and_then(|c| c.ready) != Some(false);
                let hostname: Option<Box<str>> = e.hostname.as_deref().map(|h| h.to_ascii_lowercase().into());
                e.addresses
                    .iter()
                    .filter_map(move |a| Some(Endpoint { ip: a.parse().ok()?, hostname: hostname.clone(), ready }))
            })
            .collect();
        Some(SliceEntry { service: service.as_str().into(), ports: with_sentinel(ports), endpoints })
    }
}

#[derive(Debug, Default)]
struct Namespace {
    /// The Namespace object exists (CoreDNS answers only in namespaces that do).
    exists: bool,
    services: HashMap<Box<str>, ServiceEntry>,
    slices: HashMap<Box<str>, SliceEntry>,
    /// Service name → its slices' names.
    slices_of: HashMap<Box<str>, Vec<Box<str>>>,
}

impl Namespace {
    fn is_empty(&self) -> bool {
        !self.exists && self.services.is_empty() && self.slices.is_empty()
    }
}

/// IP → the (namespace, name) pairs of the objects that have it.
type ByIp = HashMap<IpAddr, Vec<(Box<str>, Box<str>)>>;

/// The DNS server's whole view of the cluster.
#[derive(Debug, Default)]
pub struct Index {
    namespaces: HashMap<Box<str>, Namespace>,
    by_cluster_ip: ByIp,
    /// Endpoint IP → (namespace, slice name).
    by_endpoint_ip: ByIp,
    /// Unix time of the last change: the SOA serial, as CoreDNS's.
    pub serial: u32,
    /// Whether the first full list of every watched resource has arrived.
    /// Until then a name that is not found may yet exist: SERVFAIL, not NXDOMAIN.
    pub synced: bool,
}

/// A Service with its name, as the lookups return it.
pub struct ServiceRef<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub entry: &'a ServiceEntry,
}

impl Index {
    fn touch(&mut self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.serial = u32::try_from(now).unwrap_or(u32::MAX);
    }

    pub fn namespace_exists(&self, namespace: &str) -> bool {
        self.namespaces.get(namespace).is_some_and(|n| n.exists)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceEntry> {
        self.namespaces.get(namespace)?.services.get(name)
    }

    pub fn slice(&self, namespace: &str, name: &str) -> Option<&SliceEntry> {
        self.namespaces.get(namespace)?.slices.get(name)
    }

    /// The slices of one Service.
    pub fn slices_of<'a>(&'a self, namespace: &str, service: &str) -> impl Iterator<Item = &'a SliceEntry> + 'a {
        let ns = self.namespaces.get(namespace);
        let names = ns.and_then(|n| n.slices_of.get(service)).map(|v| v.as_slice()).unwrap_or_default();
        names.iter().filter_map(move |s| ns?.slices.get(s))
    }

    /// The Services whose ClusterIP this is.
    pub fn services_by_cluster_ip(&self, ip: IpAddr) -> impl Iterator<Item = ServiceRef<'_>> {
        self.by_cluster_ip.get(&ip).into_iter().flatten().filter_map(|(ns, name)| {
            let entry = self.service(ns, name)?;
            Some(ServiceRef { namespace: ns, name, entry })
        })
    }

    /// The slices with an endpoint at this IP: (namespace, slice).
    pub fn slices_by_endpoint_ip(&self, ip: IpAddr) -> impl Iterator<Item = (&str, &SliceEntry)> {
        self.by_endpoint_ip.get(&ip).into_iter().flatten().filter_map(|(ns, slice)| {
            let entry = self.namespaces.get(ns)?.slices.get(slice)?;
            Some((&**ns, entry))
        })
    }

    pub fn service_count(&self) -> usize {
        self.namespaces.values().map(|n| n.services.len()).sum()
    }

    pub fn set_namespace(&mut self, name: &str, exists: bool) {
        let ns = self.namespaces.entry(name.into()).or_default();
        if ns.exists != exists {
            ns.exists = exists;
            self.touch();
        }
        if self.namespaces.get(name).is_some_and(Namespace::is_empty) {
            self.namespaces.remove(name);
        }
    }

    /// Puts (or, with `None`, removes) one Service. Returns whether anything changed.
    pub fn set_service(&mut self, namespace: &str, name: &str, entry: Option<ServiceEntry>) -> bool {
        let ns = self.namespaces.entry(namespace.into()).or_default();
        if ns.services.get(name) == entry.as_ref() {
            return false;
        }
        let old = match entry {
            Some(e) => ns.services.insert(name.into(), e),
            None => ns.services.remove(name),
        };
        if let Some(ServiceKind::ClusterIp(ips)) = old.map(|o| o.kind) {
            for ip in ips {
                remove_pair(&mut self.by_cluster_ip, ip, namespace, name);
            }
        }
        let ns = self.namespaces.get(namespace);
        if let Some(ServiceKind::ClusterIp(ips)) = ns.and_then(|n| n.services.get(name)).map(|e| &e.kind) {
            for ip in ips {
                self.by_cluster_ip.entry(*ip).or_default().push((namespace.into(), name.into()));
            }
        }
        if ns.is_some_and(Namespace::is_empty) {
            self.namespaces.remove(namespace);
        }
        self.touch();
        true
    }

    /// Puts (or removes) one EndpointSlice. Returns whether anything changed.
    pub fn set_slice(&mut self, namespace: &str, name: &str, entry: Option<SliceEntry>) -> bool {
        let ns = self.namespaces.entry(namespace.into()).or_default();
        if ns.slices.get(name) == entry.as_ref() {
            return false;
        }
        if let Some(old) = ns.slices.remove(name) {
            if let Some(list) = ns.slices_of.get_mut(&old.service) {
                list.retain(|s| &**s != name);
                if list.is_empty() {
                    ns.slices_of.remove(&old.service);
                }
            }
            for e in &old.endpoints {
                remove_pair(&mut self.by_endpoint_ip, e.ip, namespace, name);
            }
        }
        if let Some(new) = entry {
            ns.slices_of.entry(new.service.clone()).or_default().push(name.into());
            for e in &new.endpoints {
                let list = self.by_endpoint_ip.entry(e.ip).or_default();
                if !list.iter().any(|(n, s)| &**n == namespace && &**s == name) {
                    list.push((namespace.into(), name.into()));
                }
            }
            ns.slices.insert(name.into(), new);
        }
        if self.namespaces.get(namespace).is_some_and(Namespace::is_empty) {
            self.namespaces.remove(namespace);
        }
        self.touch();
        true
    }

    /// Every (namespace, name) of the Services, the slices or the
    /// Namespaces ("", name) held: what a relist diffs against.
    pub fn keys(&self, what: Resource) -> Vec<(String, String)> {
        let mut keys = Vec::new();
        for (ns, n) in &self.namespaces {
            match what {
                Resource::Services => keys.extend(n.services.keys().map(|k| (ns.to_string(), k.to_string()))),
                Resource::Slices => keys.extend(n.slices.keys().map(|k| (ns.to_string(), k.to_string()))),
                Resource::Namespaces if n.exists => keys.push((String::new(), ns.to_string())),
                Resource::Namespaces => {}
            }
        }
        keys
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Services,
    Slices,
    Namespaces,
}

fn remove_pair(map: &mut ByIp, ip: IpAddr, a: &str, b: &str) {
    if let Some(list) = map.get_mut(&ip) {
        list.retain(|(x, y)| !(&**x == a && &**y == b));
        if list.is_empty() {
            map.remove(&ip);
        }
    }
}
