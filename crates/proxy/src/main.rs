//! `proxy`: the per-node service proxy binary.

use clap::Parser;
use proxy::backend::{Backend, NodePortRange};
use proxy::nftables::Masquerade;
use proxy::run::Options;
use proxy::status::Status;
use std::future::IntoFuture;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Programs this node's kernel so that Services reach their pods.
#[derive(Debug, Parser)]
#[command(name = "proxy", version)]
struct Flags {
    /// The apiserver's URL (otherwise from --kubeconfig, KUBECONFIG or ~/.kube/config).
    #[arg(long, env = "KUBE_SERVER")]
    server: Option<String>,

    /// A kubeconfig file.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,

    /// This node's name (default: the hostname).
    #[arg(long)]
    hostname_override: Option<String>,

    /// `ipvs`, `nftables` or `userspace`.
    #[arg(long, default_value = "ipvs")]
    proxy_mode: String,

    /// The IPVS scheduler for Services that do not choose one by annotation.
    #[arg(long, default_value = "rr", value_parser = clap::builder::PossibleValuesParser::new(proxy::model::SCHEDULERS))]
    ipvs_scheduler: String,

    /// The addresses NodePorts listen on, comma-separated (default: the Node's InternalIPs).
    #[arg(long, value_delimiter = ',')]
    nodeport_addresses: Vec<IpAddr>,

    /// The NodePort range, as the apiserver's flag: the IPVS mode owns the
    /// NodePort virtual servers on the node's addresses in this range.
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: NodePortRange,

    /// The pod network: the IPVS mode masquerades ClusterIP traffic from
    /// outside it (the nftables mode masquerades all Service traffic).
    #[arg(long)]
    cluster_cidr: Option<ipnet::Ipv4Net>,

    /// The IPVS mode masquerades all ClusterIP traffic (the nftables mode
    /// always does).
    #[arg(long)]
    masquerade_all: bool,

    /// Where `/healthz` and `/rules` are served.
    #[arg(long, default_value = "0.0.0.0:10256")]
    healthz_bind_address: SocketAddr,

    /// Where `/metrics` is served.
    #[arg(long, default_value = "127.0.0.1:10249")]
    metrics_bind_address: SocketAddr,

    /// Seconds between full syncs that repair drift.
    #[arg(long, default_value_t = 30)]
    sync_period: u64,

    /// Remove everything this proxy created, and exit.
    #[arg(long)]
    cleanup: bool,

    /// Compute and print the table (as `ipvsadm -Ln`), touch nothing.
    #[arg(long)]
    dry_run: bool,

    /// kube-proxy's `ipvs.strictARP`: in the IPVS mode, answer ARP only for
    /// the addresses of the interface asked (`arp_ignore=1`,
    /// `arp_announce=2`), so that `kube-ipvs0`'s addresses are not claimed
    /// by every node (needed with --lb-announce-interface).
    #[arg(long)]
    ipvs_strict_arp: bool,

    /// Announce the LoadBalancer addresses this node wins (MetalLB's
    /// layer-2 election) by holding them on this interface, so the kernel
    /// answers ARP for them there. Unset: announce nothing.
    #[arg(long)]
    lb_announce_interface: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    informer::process::init_logging();
    let flags = Flags::parse();
    if flags.cleanup {
        // Whatever ran before, remove what either kernel mode leaves.
        if proxy::backend::kernel_has_ipvs() {
            Backend::for_mode("ipvs", false, Masquerade::default(), flags.service_node_port_range)?.cleanup()?;
        }
        Backend::userspace().cleanup()?;
        return Backend::Nftables.cleanup();
    }
    let masquerade = Masquerade { all: flags.masquerade_all, cluster_cidr: flags.cluster_cidr };
    if flags.ipvs_strict_arp && flags.proxy_mode == "ipvs" && !flags.dry_run {
        proxy::arp::set_strict_arp();
    }
    let backend = Backend::for_mode(&flags.proxy_mode, flags.dry_run, masquerade, flags.service_node_port_range)?;
    let node_name = informer::process::node_name(flags.hostname_override)?;
    let config = informer::client::config(flags.server.as_deref(), flags.kubeconfig.as_deref()).await?;
    let client = kube::Client::try_from(config)?;
    let resync = Duration::from_secs(flags.sync_period.max(1));
    let status = Status::new(resync * 2 + Duration::from_secs(10), backend.mode());

    let healthz = tokio::net::TcpListener::bind(flags.healthz_bind_address).await?;
    let metrics = tokio::net::TcpListener::bind(flags.metrics_bind_address).await?;
    tokio::spawn(axum::serve(healthz, proxy::status::healthz_app(status.clone())).into_future());
    tokio::spawn(axum::serve(metrics, proxy::status::metrics_app(status.clone())).into_future());

    let shutdown = informer::process::terminated();
    tracing::info!(node = node_name, mode = flags.proxy_mode, dry_run = flags.dry_run, "proxy running");
    // A dry run touches no kernel: it announces nothing either.
    let announce_interface = flags.lb_announce_interface.filter(|_| !flags.dry_run);
    let opts = Options {
        node_name,
        scheduler: flags.ipvs_scheduler,
        nodeport_addresses: flags.nodeport_addresses,
        resync,
        announce_interface,
    };
    proxy::run::run(client, opts, backend, status, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_port_range_flag() {
        let flags = Flags::try_parse_from(["proxy"]).unwrap();
        assert_eq!(flags.service_node_port_range, NodePortRange::default());
        let flags = Flags::try_parse_from(["proxy", "--service-node-port-range", "31000-31999"]).unwrap();
        assert_eq!(flags.service_node_port_range, NodePortRange { first: 31000, last: 31999 });
        let err = Flags::try_parse_from(["proxy", "--service-node-port-range", "31999-31000"]).unwrap_err();
        assert!(err.to_string().contains("want FIRST-LAST"), "{err}");
    }
}
