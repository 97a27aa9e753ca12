//! `kubelet-lite`: the node agent, and (`demo-app`) the app it runs in pods.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "kubelet-lite", version)]
struct Flags {
    #[command(subcommand)]
    command: Option<Cmd>,

    /// The apiserver's URL (otherwise from --kubeconfig, KUBECONFIG or ~/.kube/config).
    #[arg(long, env = "KUBE_SERVER", global = true)]
    server: Option<String>,

    /// A kubeconfig file.
    #[arg(long, env = "KUBECONFIG", global = true)]
    kubeconfig: Option<PathBuf>,

    /// This node's name (default: the hostname).
    #[arg(long, global = true)]
    hostname_override: Option<String>,

    /// This node's InternalIP.
    #[arg(long, global = true)]
    node_ip: Option<String>,

    /// The pods' addresses, e.g. 10.244.1.0/24.
    #[arg(long, global = true, default_value = "10.244.1.0/24")]
    pod_cidr: ipnet::Ipv4Net,

    /// The node's pod bridge.
    #[arg(long, global = true, default_value = "cni0")]
    bridge: String,

    /// Seconds a deleted pod stays not-ready (and out of the endpoints) before it stops.
    #[arg(long, global = true, default_value_t = 2)]
    drain_seconds: u64,

    /// The cluster DNS Service's addresses (comma-separated), the pods' nameservers.
    #[arg(long, global = true, value_delimiter = ',', default_value = api::well_known::DEFAULT_CLUSTER_DNS)]
    cluster_dns: Vec<std::net::IpAddr>,

    /// The cluster's DNS domain: the pods' search path.
    #[arg(long, global = true, default_value = api::well_known::DEFAULT_CLUSTER_DOMAIN)]
    cluster_domain: String,

    /// The node's resolv.conf, for pods with `dnsPolicy: Default` (empty: none).
    #[arg(long, global = true, default_value = "/etc/resolv.conf")]
    resolv_conf: String,

    /// The `cluster-dns` binary run for CoreDNS's image (default: next to
    /// this one if it is there, else from PATH).
    #[arg(long, global = true)]
    cluster_dns_binary: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The demo app (run by the agent inside each pod).
    DemoApp {
        #[arg(long)]
        pod: String,
        #[arg(long)]
        version: String,
        #[arg(long, default_value_t = 80)]
        port: u16,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    informer::process::init_logging();
    let flags = Flags::parse();
    if let Some(Cmd::DemoApp { pod, version, port }) = flags.command {
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
        return Ok(kubelet_lite::demo_app::serve(listener, pod, version).await?);
    }
    let node_name = informer::process::node_name(flags.hostname_override)?;
    let node_ip = flags.node_ip.ok_or_else(|| {
        anyhow::anyhow!("--node-ip is required: the address other nodes and the proxy reach this node at")
    })?;
    let config = informer::client::config(flags.server.as_deref(), flags.kubeconfig.as_deref()).await?;
    let client = kube::Client::try_from(config)?;
    let self_exe = std::env::current_exe()?;
    let cluster_dns_exe = flags.cluster_dns_binary.unwrap_or_else(|| {
        let beside = self_exe.with_file_name("cluster-dns");
        if beside.exists() {
            beside
        } else {
            "cluster-dns".into()
        }
    });
    let runtime = kubelet_lite::runtime::Runtime {
        bridge: flags.bridge,
        pod_cidr: flags.pod_cidr,
        self_exe,
        cluster_dns_exe,
        etc_netns: "/etc/netns".into(),
    };
    // The kubelet reads the node's resolv.conf once; so does this agent.
    let node_resolv_conf = match flags.resolv_conf.as_str() {
        "" => None,
        path => Some(std::fs::read_to_string(path).unwrap_or_else(|e| {
            tracing::warn!("--resolv-conf {path}: {e}; pods with dnsPolicy Default get no nameservers");
            String::new()
        })),
    };
    let dns = kubelet_lite::dns::DnsSettings {
        cluster_dns: flags.cluster_dns,
        cluster_domain: flags.cluster_domain,
        node_resolv_conf,
    };
    let opts = kubelet_lite::agent::Options {
        node_name,
        node_ip,
        runtime,
        drain: Duration::from_secs(flags.drain_seconds),
        dns,
    };
    let shutdown = informer::process::terminated();
    kubelet_lite::agent::run(client, opts, shutdown).await
}
