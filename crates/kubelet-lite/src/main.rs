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
    let runtime = kubelet_lite::runtime::Runtime {
        bridge: flags.bridge,
        pod_cidr: flags.pod_cidr,
        self_exe: std::env::current_exe()?,
    };
    let opts =
        kubelet_lite::agent::Options { node_name, node_ip, runtime, drain: Duration::from_secs(flags.drain_seconds) };
    let shutdown = informer::process::terminated();
    kubelet_lite::agent::run(client, opts, shutdown).await
}
