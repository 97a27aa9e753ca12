//! A pod's resolver files, as the kubelet writes them: `/etc/resolv.conf`
//! from the pod's `dnsPolicy` and `dnsConfig` (kubelet's
//! `pkg/kubelet/network/dns`), and the kubelet-managed `/etc/hosts` and
//! the hostname (`pkg/kubelet/kubelet_pods.go`). Pure functions: the
//! runtime writes what they return.
//!
//! ```text
//! dnsPolicy                          base                        then
//! ClusterFirst (default), not host   nameserver <--cluster-dns>  + dnsConfig
//!   network; ClusterFirstWithHostNet search <ns>.svc.<domain> svc.<domain> <domain> <node's search>
//!                                    options ndots:5
//! Default; ClusterFirst with         the node's resolv.conf      + dnsConfig
//!   hostNetwork; no --cluster-dns    (none: 127.0.0.1, search .)
//! None                               nothing                     + dnsConfig
//! ```

use k8s_openapi::api::core::v1::Pod;
use std::net::IpAddr;

/// kubelet's `MaxDNSNameservers`: glibc reads no more than three.
const MAX_NAMESERVERS: usize = 3;
/// kubelet's search limits (`ExpandedDNSConfig`, on since 1.28).
const MAX_SEARCH_PATHS: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;
/// A search domain longer than a DNS name makes some resolvers abort.
const MAX_DOMAIN_LEN: usize = 253;

/// The kubelet's DNS flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// `--cluster-dns` (empty: pods asking for the cluster DNS get the node's).
    pub cluster_dns: Vec<IpAddr>,
    /// `--cluster-domain`.
    pub cluster_domain: String,
    /// The text of `--resolv-conf` (the node's resolv.conf); `None` when the
    /// flag is the empty string.
    pub node_resolv_conf: Option<String>,
}

/// What goes into a resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Reads a resolv.conf as the kubelet does: `nameserver` lines add up,
    /// the last `search` and `options` lines win, trailing dots go.
    pub fn parse(text: &str) -> ResolvConf {
        let mut out = ResolvConf::default();
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => out.nameservers.extend(fields.next().map(String::from)),
                Some("search") => out.searches = fields.map(|s| s.trim_end_matches('.').to_string()).collect(),
                Some("options") => out.options = fields.map(String::from).collect(),
                _ => {}
            }
        }
        out
    }

    /// The file, in the order a container runtime writes it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out += &format!("search {}\n", self.searches.join(" "));
        }
        for ns in &self.nameservers {
            out += &format!("nameserver {ns}\n");
        }
        if !self.options.is_empty() {
            out += &format!("options {}\n", self.options.join(" "));
        }
        out
    }
}

/// Keeps the first of each.
fn dedup(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// `dnsConfig.options` merged into the base's by name, the pod's winning;
/// the base's order first (kubelet's map has none; a stable one reads better).
fn merge_options(base: &[String], pod: &[(String, Option<String>)]) -> Vec<String> {
    let mut merged: Vec<(String, Option<String>)> = base
        .iter()
        .map(|o| match o.split_once(':') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (o.clone(), None),
        })
        .collect();
    for (name, value) in pod {
        match merged.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.clone(),
            None => merged.push((name.clone(), value.clone())),
        }
    }
    merged
        .into_iter()
        .map(|(k, v)| match v.filter(|v| !v.is_empty()) {
            Some(v) => format!("{k}:{v}"),
            None => k,
        })
        .collect()
}

/// The pod's resolv.conf, and the warnings the kubelet would send as
/// events (`MissingClusterDNS`, `DNSConfigForming`).
pub fn resolv_conf(pod: &Pod, s: &DnsSettings) -> (ResolvConf, Vec<String>) {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut warnings = Vec::new();
    let node = s.node_resolv_conf.as_deref().map(ResolvConf::parse).unwrap_or_default();
    // What the node's resolv.conf gives, or "the nameserver on this machine"
    // when the kubelet was told to read none.
    let host = || match s.node_resolv_conf {
        Some(_) => node.clone(),
        None => ResolvConf { nameservers: vec!["127.0.0.1".into()], searches: vec![".".into()], options: Vec::new() },
    };
    let wants_cluster = match policy {
        "None" => None,
        "ClusterFirstWithHostNet" => Some(true),
        "Default" => Some(false),
        // ClusterFirst, and (as the kubelet does) anything unknown.
        _ => Some(!host_network),
    };
    let mut conf = match wants_cluster {
        None => ResolvConf::default(),
        Some(true) if !s.cluster_dns.is_empty() => {
            let d = &s.cluster_domain;
            let cluster = [format!("{namespace}.svc.{d}"), format!("svc.{d}"), d.clone()];
            ResolvConf {
                nameservers: s.cluster_dns.iter().map(IpAddr::to_string).collect(),
                searches: if d.is_empty() {
                    node.searches.clone()
                } else {
                    dedup(cluster.into_iter().chain(node.searches.iter().cloned()))
                },
                // The node's options are replaced, not merged.
                options: vec!["ndots:5".into()],
            }
        }
        Some(true) => {
            warnings.push(format!(
                "MissingClusterDNS: kubelet does not have ClusterDNS IP configured and cannot create Pod using {policy:?} policy. Falling back to \"Default\" policy."
            ));
            host()
        }
        Some(false) => host(),
    };
    if let Some(c) = spec.and_then(|s| s.dns_config.as_ref()) {
        conf.nameservers = dedup(conf.nameservers.into_iter().chain(c.nameservers.iter().flatten().cloned()));
        conf.searches = dedup(conf.searches.into_iter().chain(c.searches.iter().flatten().cloned()));
        let pod_options: Vec<(String, Option<String>)> =
            c.options.iter().flatten().map(|o| (o.name.clone().unwrap_or_default(), o.value.clone())).collect();
        conf.options = merge_options(&conf.options, &pod_options);
    }
    fit_limits(&mut conf, &mut warnings);
    (conf, warnings)
}

/// Drops what a resolver could not use, as the kubelet does, with its warning.
fn fit_limits(conf: &mut ResolvConf, warnings: &mut Vec<String>) {
    if conf.nameservers.len() > MAX_NAMESERVERS {
        conf.nameservers.truncate(MAX_NAMESERVERS);
        warnings.push(format!(
            "DNSConfigForming: Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
            conf.nameservers.join(" ")
        ));
    }
    let before = conf.searches.clone();
    conf.searches.truncate(MAX_SEARCH_PATHS);
    conf.searches.retain(|s| s.len() <= MAX_DOMAIN_LEN);
    while conf.searches.join(" ").len() > MAX_SEARCH_CHARS {
        conf.searches.pop();
    }
    if conf.searches != before {
        warnings.push(format!(
            "DNSConfigForming: Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
            conf.searches.join(" ")
        ));
    }
}

/// A hostname cut to 63 characters, never ending in `-` or `.`.
fn truncate_hostname(name: &str) -> String {
    if name.len() <= 63 {
        return name.to_string();
    }
    name[..63].trim_end_matches(['-', '.']).to_string()
}

/// The pod's hostname (`spec.hostname`, else its name) and, with a
/// `spec.subdomain`, its domain `<subdomain>.<ns>.svc.<cluster-domain>`.
pub fn hostname_and_domain(pod: &Pod, cluster_domain: &str) -> (String, Option<String>) {
    let spec = pod.spec.as_ref();
    let name = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let domain = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}.{namespace}.svc.{cluster_domain}"));
    (truncate_hostname(&name), domain)
}

/// The kubelet-managed `/etc/hosts` of a pod with its own network.
pub fn hosts_file(pod: &Pod, pod_ips: &[String], cluster_domain: &str) -> String {
    let (hostname, domain) = hostname_and_domain(pod, cluster_domain);
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    for ip in pod_ips {
        match &domain {
            Some(d) => out += &format!("{ip}\t{hostname}.{d}\t{hostname}\n"),
            None => out += &format!("{ip}\t{hostname}\n"),
        }
    }
    let aliases = pod.spec.as_ref().and_then(|s| s.host_aliases.as_ref()).filter(|a| !a.is_empty());
    if let Some(aliases) = aliases {
        out += "\n# Entries added by HostAliases.\n";
        for a in aliases {
            out += &format!("{}\t{}\n", a.ip, a.hostnames.iter().flatten().cloned().collect::<Vec<_>>().join("\t"));
        }
    }
    out
}

/// The three files, by their name under `/etc`.
pub fn pod_files(pod: &Pod, pod_ip: &str, s: &DnsSettings) -> (Vec<(&'static str, String)>, Vec<String>) {
    let (resolv, warnings) = resolv_conf(pod, s);
    let (hostname, _) = hostname_and_domain(pod, &s.cluster_domain);
    let files = vec![
        ("resolv.conf", resolv.render()),
        ("hosts", hosts_file(pod, &[pod_ip.to_string()], &s.cluster_domain)),
        ("hostname", format!("{hostname}\n")),
    ];
    (files, warnings)
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
