//! The lookup: `answer(query, state) -> Answer`, a pure function of one
//! question and the index, deciding as CoreDNS's `kubernetes` plugin does
//! (`plugin/kubernetes/handler.go`, `kubernetes.go`, `plugin/backend_lookup.go`):
//!
//! - A name is looked up as a list of *items* (an address or a name, a
//!   port, and whose it is: the Service, an endpoint, a pod), exactly
//!   CoreDNS's `msg.Service` list; each record type is then a view of it.
//! - No item list at all (unknown Service or namespace, a shape the grammar
//!   does not know, a headless Service without ready endpoints) is a *name
//!   error*: NXDOMAIN, or SERVFAIL while the index has not synced.
//! - A list without records of the asked type is NODATA (NOERROR, empty
//!   answer). Types the zone never holds are decided by a "fake A lookup".
//! - Every answer is authoritative; negative ones carry the zone's SOA.

use crate::index::{Endpoint, Index, ServiceKind};
use crate::names::{self, Kind, Place, Request};
use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::rdata::{self, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::IpAddr;

#[cfg(test)]
mod tests;

/// The schema version `dns-version.<zone>` answers (kubernetes/dns `docs/specification.md`).
pub const DNS_SCHEMA_VERSION: &str = "1.1.0";
/// The TTL of that TXT record, hard-coded in CoreDNS.
const DNS_VERSION_TTL: u32 = 28800;
/// CNAME chains inside the zone are followed this deep (CoreDNS's limit).
const MAX_CNAME_DEPTH: usize = 8;

/// CoreDNS's `pods` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodMode {
    /// `a-b-c-d.<ns>.pod.<zone>` is NXDOMAIN.
    Disabled,
    /// The address in the name is answered without checking a pod has it
    /// (kubeadm's Corefile: `pods insecure`).
    Insecure,
}

/// What the Corefile would say.
#[derive(Debug, Clone)]
pub struct Config {
    /// The cluster domain, lowercase, without the trailing dot.
    pub zone: String,
    pub ttl: u32,
    pub pods: PodMode,
    /// This server's own addresses: the NS record's glue is the ClusterIP
    /// of a Service that has one of them as an endpoint (`kube-dns`), else these.
    pub own_addresses: Vec<IpAddr>,
}

impl Config {
    pub fn new(zone: &str, ttl: u32) -> Self {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        Config { zone, ttl, pods: PodMode::Insecure, own_addresses: Vec::new() }
    }
}

/// The configuration and the index: everything an answer depends on.
#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub index: Index,
}

/// What to do with one question.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The cluster zone answers (authoritatively).
    Zone(Response),
    /// Not ours: ask the upstream resolvers.
    Forward,
    /// Zone transfers are refused, as CoreDNS does.
    Refused,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// An ExternalName's CNAME target outside the zone, whose addresses the
    /// server asks upstream for and appends (CoreDNS's upstream lookup).
    pub chase: Option<Name>,
}

/// The name does not exist (CoreDNS's `errNoItems`, `errInvalidRequest`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameError;

enum Host<'a> {
    Ip(IpAddr),
    /// An ExternalName's target.
    Name(&'a str),
}

/// Whose an item is: what an SRV record's target names.
enum Owner<'a> {
    Service,
    Endpoint(&'a Endpoint),
    /// A `pods insecure` name: its dashed label.
    Pod(&'a str),
    /// `ns.dns.<zone>`.
    Nameserver,
}

/// CoreDNS's `msg.Service`: one address (or name) and port of a name.
struct Item<'a> {
    host: Host<'a>,
    /// `None`: the port sentinel (no SRV).
    port: Option<u16>,
    namespace: &'a str,
    service: &'a str,
    owner: Owner<'a>,
}

pub fn answer(query: &Query, state: &State) -> Answer {
    let lower = query.name().to_ascii().to_ascii_lowercase();
    match names::place(&lower, &state.config.zone) {
        Place::Outside => Answer::Forward,
        // `fallthrough in-addr.arpa ip6.arpa`: what the cluster does not know goes upstream.
        Place::Reverse(ip) => match ip.filter(|_| query.query_type() == RecordType::PTR) {
            Some(ip) => {
                let targets = Lookup { state, lower: &lower }.reverse(ip);
                if targets.is_empty() {
                    return Answer::Forward;
                }
                let ttl = state.config.ttl;
                let answers = targets
                    .iter()
                    .filter_map(|t| Some(record(query.name(), ttl, RData::PTR(rdata::PTR(fqdn(t)?)))))
                    .collect();
                Answer::Zone(Response { rcode: ResponseCode::NoError, answers, ..Response::empty() })
            }
            None => Answer::Forward,
        },
        Place::Zone { base } => Lookup { state, lower: &lower }.zone(query, base),
    }
}

impl Response {
    fn empty() -> Self {
        Response {
            rcode: ResponseCode::NoError,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            chase: None,
        }
    }
}

struct Lookup<'a> {
    state: &'a State,
    /// The question's name, lowercase.
    lower: &'a str,
}

impl<'a> Lookup<'a> {
    fn index(&self) -> &'a Index {
        &self.state.index
    }

    fn zone(&self, query: &Query, base: &str) -> Answer {
        let qname = query.name();
        let ttl = self.state.config.ttl;
        let mut additionals = Vec::new();
        let mut chase = None;
        let result: Result<Vec<Record>, NameError> = match query.query_type() {
            RecordType::A | RecordType::AAAA => {
                self.addresses(qname, self.lower, base, query.query_type(), 0, &mut chase)
            }
            RecordType::TXT => Ok(if base == "dns-version" {
                vec![record(qname, DNS_VERSION_TTL, RData::TXT(TXT::new(vec![DNS_SCHEMA_VERSION.into()])))]
            } else {
                Vec::new()
            }),
            RecordType::CNAME => self.items(base).map(|items| match items.first().map(|i| &i.host) {
                Some(Host::Name(target)) => {
                    fqdn(target).map(|t| record(qname, ttl, RData::CNAME(rdata::CNAME(t)))).into_iter().collect()
                }
                _ => Vec::new(),
            }),
            RecordType::SRV => self.srv(qname, base, &mut additionals),
            RecordType::SOA if base.is_empty() => Ok(vec![self.soa()]),
            RecordType::SOA => Ok(Vec::new()),
            RecordType::AXFR | RecordType::IXFR => return Answer::Refused,
            RecordType::NS if base.is_empty() => Ok(self.ns(qname, &mut additionals)),
            // PTR, MX and every other type: the name exists or not ("fake A lookup").
            _ => self.items(base).map(|_| Vec::new()),
        };
        let mut response = Response { chase, ..Response::empty() };
        match result {
            Err(NameError) => {
                // Not found may only mean "not listed yet" before the first sync.
                response.rcode = if self.index().synced { ResponseCode::NXDomain } else { ResponseCode::ServFail };
                response.authorities.push(self.soa());
            }
            Ok(answers) if answers.is_empty() => response.authorities.push(self.soa()),
            Ok(answers) => {
                response.answers = answers;
                response.additionals = additionals;
            }
        }
        Answer::Zone(response)
    }

    /// CoreDNS's `Services` → `Records` → `findServices`/`findPods`.
    fn items(&self, base: &'a str) -> Result<Vec<Item<'a>>, NameError> {
        if base == "ns.dns" {
            let ips = self.nameserver_addresses();
            let item =
                |ip| Item { host: Host::Ip(ip), port: None, namespace: "", service: "", owner: Owner::Nameserver };
            return Ok(ips.into_iter().map(item).collect());
        }
        let (kind, namespace, service, endpoint, port) = match names::parse(base) {
            Request::Apex => return Ok(Vec::new()),
            Request::Invalid => return Err(NameError),
            Request::Name { kind, namespace, service, endpoint, port } => (kind, namespace, service, endpoint, port),
        };
        if !self.index().namespace_exists(namespace) {
            return Err(NameError);
        }
        // `<ns>.svc.<zone>` of an existing namespace: NODATA.
        let Some(service) = service else { return Ok(Vec::new()) };
        if kind == Kind::Pod {
            let ip = match self.state.config.pods {
                PodMode::Disabled => None,
                PodMode::Insecure => names::pod_address(service),
            };
            let ip = ip.ok_or(NameError)?;
            return Ok(vec![Item {
                host: Host::Ip(ip),
                port: Some(0),
                namespace,
                service,
                owner: Owner::Pod(service),
            }]);
        }
        let entry = self.index().service(namespace, service).ok_or(NameError)?;
        let port_matches = |p: &crate::index::Port| match port {
            None => true,
            Some((name, proto)) => *p.name == *name && *p.protocol == *proto,
        };
        let mut found = false;
        let mut items = Vec::new();
        match &entry.kind {
            ServiceKind::ExternalName(target) => {
                // An ExternalName has no endpoints and no ports below it.
                if endpoint.is_none() && port.is_none() && target.parse::<IpAddr>().is_err() {
                    found = true;
                    items.push(Item {
                        host: Host::Name(target),
                        port: None,
                        namespace,
                        service,
                        owner: Owner::Service,
                    });
                }
            }
            // A headless Service answers with its endpoints; so does any
            // Service asked for one endpoint by name.
            _ if matches!(entry.kind, ServiceKind::Headless) || endpoint.is_some() => {
                for slice in self.index().slices_of(namespace, service) {
                    for ep in slice.endpoints.iter().filter(|e| e.ready || entry.publish_not_ready) {
                        if endpoint.is_some_and(|want| ep.name() != want) {
                            continue;
                        }
                        for p in slice.ports.iter().filter(|p| port_matches(p)) {
                            found = true;
                            let owner = Owner::Endpoint(ep);
                            items.push(Item { host: Host::Ip(ep.ip), port: p.port, namespace, service, owner });
                        }
                    }
                }
            }
            ServiceKind::ClusterIp(ips) => {
                for p in entry.ports.iter().filter(|p| port_matches(p)) {
                    found = true;
                    for ip in ips {
                        items.push(Item {
                            host: Host::Ip(*ip),
                            port: p.port,
                            namespace,
                            service,
                            owner: Owner::Service,
                        });
                    }
                }
            }
            ServiceKind::Headless => {}
        }
        if found {
            Ok(items)
        } else {
            Err(NameError)
        }
    }

    /// A or AAAA records of a name (`plugin.A`/`plugin.AAAA`), following
    /// CNAMEs that stay in the zone.
    fn addresses(
        &self,
        owner: &Name,
        lower: &str,
        base: &'a str,
        qtype: RecordType,
        depth: usize,
        chase: &mut Option<Name>,
    ) -> Result<Vec<Record>, NameError> {
        let ttl = self.state.config.ttl;
        let mut records = Vec::new();
        let mut seen: Vec<IpAddr> = Vec::new();
        for item in self.items(base)? {
            match item.host {
                Host::Ip(ip) => {
                    let data = match ip {
                        IpAddr::V4(v4) if qtype == RecordType::A => RData::A(rdata::A(v4)),
                        IpAddr::V6(v6) if qtype == RecordType::AAAA => RData::AAAA(rdata::AAAA(v6)),
                        _ => continue,
                    };
                    if !seen.contains(&ip) {
                        seen.push(ip);
                        records.push(record(owner, ttl, data));
                    }
                }
                Host::Name(target) => {
                    // `x CNAME x` is a loop; so is a chain longer than CoreDNS follows.
                    if target == lower.trim_end_matches('.') || depth >= MAX_CNAME_DEPTH {
                        continue;
                    }
                    let Some(target_name) = fqdn(target) else { continue };
                    let cname = record(owner, ttl, RData::CNAME(rdata::CNAME(target_name.clone())));
                    match names::place(target, &self.state.config.zone) {
                        Place::Zone { base } => {
                            let next = self.addresses(&target_name, target, base, qtype, depth + 1, chase);
                            if let Some(next) = next.ok().filter(|n| !n.is_empty()) {
                                records.push(cname);
                                records.extend(next);
                            }
                        }
                        _ => {
                            records.push(cname);
                            *chase = Some(target_name);
                        }
                    }
                }
            }
        }
        Ok(records)
    }

    /// `plugin.SRV`: priority 0, weight 100 / (number of items), at least 1;
    /// the target's address as glue in the additional section.
    fn srv(&self, owner: &Name, base: &'a str, additionals: &mut Vec<Record>) -> Result<Vec<Record>, NameError> {
        let ttl = self.state.config.ttl;
        // ExternalNames get no SRV (CoreDNS drops CNAME items for SRV).
        let items: Vec<Item> = self.items(base)?.into_iter().filter(|i| matches!(i.host, Host::Ip(_))).collect();
        let weight = u16::try_from(100 / items.len().max(1)).unwrap_or(1).max(1);
        let mut records = Vec::new();
        let mut seen_srv: Vec<(String, u16)> = Vec::new();
        let mut seen_glue: Vec<(String, IpAddr)> = Vec::new();
        for item in &items {
            let (Host::Ip(ip), Some(port)) = (&item.host, item.port) else { continue };
            let target = self.target(item);
            let Some(target_name) = fqdn(&target) else { continue };
            if !seen_srv.contains(&(target.clone(), port)) {
                seen_srv.push((target.clone(), port));
                records.push(record(owner, ttl, RData::SRV(SRV::new(0, weight, port, target_name.clone()))));
            }
            if !seen_glue.contains(&(target.clone(), *ip)) {
                seen_glue.push((target, *ip));
                additionals.push(record(&target_name, ttl, address_data(*ip)));
            }
        }
        Ok(records)
    }

    /// The name an item's SRV record points at.
    fn target(&self, item: &Item) -> String {
        let zone = &self.state.config.zone;
        let (ns, svc) = (item.namespace, item.service);
        match &item.owner {
            Owner::Service => format!("{svc}.{ns}.svc.{zone}"),
            Owner::Endpoint(ep) => format!("{}.{svc}.{ns}.svc.{zone}", ep.name()),
            Owner::Pod(label) => format!("{label}.{ns}.pod.{zone}"),
            Owner::Nameserver => format!("ns.dns.{zone}"),
        }
    }

    /// PTR targets of an address: the Service whose ClusterIP it is, else
    /// every ready endpoint with it (CoreDNS's `serviceRecordForIP`).
    fn reverse(&self, ip: IpAddr) -> Vec<String> {
        let zone = &self.state.config.zone;
        if let Some(svc) = self.index().services_by_cluster_ip(ip).next() {
            return vec![format!("{}.{}.svc.{zone}", svc.name, svc.namespace)];
        }
        let mut targets: Vec<String> = Vec::new();
        for (ns, slice) in self.index().slices_by_endpoint_ip(ip) {
            let publish = self.index().service(ns, &slice.service).is_some_and(|s| s.publish_not_ready);
            for ep in slice.endpoints.iter().filter(|e| e.ip == ip && (e.ready || publish)) {
                let t = format!("{}.{}.{ns}.svc.{zone}", ep.name(), slice.service);
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        targets
    }

    /// The addresses `ns.dns.<zone>` has: the ClusterIPs of the Services
    /// this server is an endpoint of (kube-dns), else its own.
    fn nameserver_addresses(&self) -> Vec<IpAddr> {
        let own = &self.state.config.own_addresses;
        let mut ips = Vec::new();
        for ip in own {
            for (ns, slice) in self.index().slices_by_endpoint_ip(*ip) {
                if let Some(ServiceKind::ClusterIp(cips)) = self.index().service(ns, &slice.service).map(|s| &s.kind) {
                    ips.extend(cips.iter().filter(|c| !ips.contains(*c)).copied().collect::<Vec<_>>());
                }
            }
        }
        if ips.is_empty() {
            own.clone()
        } else {
            ips
        }
    }

    fn ns(&self, owner: &Name, additionals: &mut Vec<Record>) -> Vec<Record> {
        let ttl = self.state.config.ttl;
        let Some(ns) = fqdn(&format!("ns.dns.{}", self.state.config.zone)) else { return Vec::new() };
        let addresses = self.nameserver_addresses();
        additionals.extend(addresses.iter().map(|ip| record(&ns, ttl, address_data(*ip))));
        vec![record(owner, ttl, RData::NS(rdata::NS(ns)))]
    }

    /// `<zone>. SOA ns.dns.<zone>. hostmaster.<zone>. <serial> 7200 1800 86400 <ttl>`,
    /// its own TTL min(ttl, 300) (CoreDNS's `plugin.SOA`).
    fn soa(&self) -> Record {
        let config = &self.state.config;
        let zone = fqdn(&config.zone).unwrap_or_else(Name::root);
        let mname = fqdn(&format!("ns.dns.{}", config.zone)).unwrap_or_else(Name::root);
        let rname = fqdn(&format!("hostmaster.{}", config.zone)).unwrap_or_else(Name::root);
        let soa = SOA::new(mname, rname, self.index().serial, 7200, 1800, 86400, config.ttl);
        record(&zone, config.ttl.min(300), RData::SOA(soa))
    }
}

fn address_data(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(rdata::A(v4)),
        IpAddr::V6(v6) => RData::AAAA(rdata::AAAA(v6)),
    }
}

fn record(name: &Name, ttl: u32, data: RData) -> Record {
    Record::from_rdata(name.clone(), ttl, data)
}

/// `text` as a fully qualified name (`None` if it is not a valid one).
fn fqdn(text: &str) -> Option<Name> {
    let mut name = Name::from_ascii(text).ok()?;
    name.set_fqdn(true);
    Some(name)
}
