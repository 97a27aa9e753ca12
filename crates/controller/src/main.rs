//! `controller`: the controller-manager binary.

use clap::Parser;
use std::path::PathBuf;

const ALL: [&str; 5] = ["endpoints", "deployment", "scheduler", "serviceaccount", "service-lb"];

/// Runs the controllers: Endpoints and EndpointSlices from selectors,
/// Deployments (with pod garbage collection), the scheduler, and the
/// service account controller.
#[derive(Debug, Parser)]
#[command(name = "controller", version)]
struct Flags {
    /// The apiserver's URL (otherwise from --kubeconfig, KUBECONFIG or ~/.kube/config).
    #[arg(long, env = "KUBE_SERVER")]
    server: Option<String>,

    /// A kubeconfig file.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,

    /// The controllers to run, comma-separated: `endpoints` (Endpoints and
    /// EndpointSlices), `deployment` (with pod garbage collection), `scheduler`,
    /// `serviceaccount` (a `default` ServiceAccount in every namespace),
    /// `service-lb` (LoadBalancer addresses from --lb-pool; not run by default).
    #[arg(long, default_value = "endpoints,deployment,scheduler,serviceaccount", value_delimiter = ',')]
    controllers: Vec<String>,

    /// The service-lb controller's addresses: ranges and CIDRs, comma-separated
    /// (`172.28.0.200-172.28.0.250`, `192.168.10.0/28`), as MetalLB's IPAddressPool.
    #[arg(long)]
    lb_pool: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    informer::process::init_logging();
    let flags = Flags::parse();
    for c in &flags.controllers {
        anyhow::ensure!(ALL.contains(&c.as_str()), "unknown controller {c:?}: choose from {}", ALL.join(", "));
    }
    let lb_pool: controller::servicelb::pool::Pool =
        flags.lb_pool.as_deref().unwrap_or("").parse().map_err(|e| anyhow::anyhow!("--lb-pool: {e}"))?;
    if flags.controllers.iter().any(|c| c == "service-lb") {
        anyhow::ensure!(!lb_pool.is_empty(), "the service-lb controller needs --lb-pool");
    }
    let config = informer::client::config(flags.server.as_deref(), flags.kubeconfig.as_deref()).await?;
    let client = kube::Client::try_from(config)?;

    // One shutdown story: SIGINT or SIGTERM ends every loop.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        informer::process::terminated().await;
        let _ = stop.send(true);
    });
    let shutdown = || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut loops = Vec::new();
    for c in &flags.controllers {
        let client = client.clone();
        let done = shutdown();
        loops.push(match c.as_str() {
            "endpoints" => tokio::spawn(controller::endpoints::controller::run(client, done)),
            "deployment" => tokio::spawn(controller::deployment::controller::run(client, done)),
            "serviceaccount" => tokio::spawn(controller::serviceaccount::controller::run(client, done)),
            "service-lb" => tokio::spawn(controller::servicelb::controller::run(client, lb_pool.clone(), done)),
            _ => tokio::spawn(controller::scheduler::controller::run(client, done)),
        });
        tracing::info!("{c} controller running");
    }
    for l in loops {
        l.await?;
    }
    Ok(())
}
