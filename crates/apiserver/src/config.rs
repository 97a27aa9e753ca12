//! The apiserver's flags, named as upstream's kube-apiserver names them.

use crate::allocation::range::PortRange;
use clap::Parser;
use ipnet::Ipv4Net;
use std::net::IpAddr;

/// A Kubernetes-compatible apiserver for the Service lifecycle, on etcd.
#[derive(Debug, Clone, Parser)]
#[command(name = "apiserver", version)]
pub struct Config {
    /// etcd endpoints, comma-separated.
    #[arg(long, env = "ETCD_SERVERS", default_value = "http://127.0.0.1:2379", value_delimiter = ',')]
    pub etcd_servers: Vec<String>,

    /// The address to listen on (plain HTTP).
    #[arg(long, env = "APISERVER_BIND_ADDRESS", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// The port to listen on; 0 picks a free one (printed on start).
    #[arg(long, visible_alias = "secure-port", env = "APISERVER_PORT", default_value_t = 6443)]
    pub port: u16,

    /// The address other components reach this apiserver at: the endpoint of
    /// the `kubernetes` Service. Defaults to the bind address, or 127.0.0.1.
    #[arg(long, env = "APISERVER_ADVERTISE_ADDRESS")]
    pub advertise_address: Option<IpAddr>,

    /// The range ClusterIPs are allocated from.
    #[arg(long, env = "SERVICE_CLUSTER_IP_RANGE", default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: Ipv4Net,

    /// The range NodePorts are allocated from, inclusive.
    #[arg(long, env = "SERVICE_NODE_PORT_RANGE", default_value = "30000-32767")]
    pub service_node_port_range: PortRange,

    /// Events kept per resource for watches that resume from a resourceVersion;
    /// older resumes get 410 Expired and relist.
    #[arg(long, default_value_t = 1000)]
    pub watch_cache_size: usize,

    /// Seconds between refreshes of this apiserver's lease and of the
    /// `kubernetes` Endpoints (the lease lives 1.5 times as long).
    #[arg(long, default_value_t = 10)]
    pub endpoint_reconciler_interval: u64,

    /// Seconds between BOOKMARK events on watches that allow them.
    #[arg(long, default_value_t = 60)]
    pub watch_bookmark_interval: u64,
}

impl Config {
    pub fn advertised_ip(&self) -> IpAddr {
        self.advertise_address.unwrap_or(if self.bind_address.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            self.bind_address
        })
    }
}
