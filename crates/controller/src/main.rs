//! `controller`: the controller-manager binary.

use clap::Parser;
use std::path::PathBuf;

/// Turns Services and Pods into Endpoints and EndpointSlices.
#[derive(Debug, Parser)]
#[command(name = "controller", version)]
struct Flags {
    /// The apiserver's URL (otherwise from --kubeconfig, KUBECONFIG or ~/.kube/config).
    #[arg(long, env = "KUBE_SERVER")]
    server: Option<String>,

    /// A kubeconfig file.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,

    /// The controllers to run, comma-separated. `endpoints` runs the
    /// Endpoints and EndpointSlice controllers (one loop, one view).
    #[arg(long, default_value = "endpoints", value_delimiter = ',')]
    controllers: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let flags = Flags::parse();
    for c in &flags.controllers {
        anyhow::ensure!(
            c == "endpoints" || c == "endpointslice",
            "unknown controller {c:?}: this build runs \"endpoints\" (Endpoints and EndpointSlices)"
        );
    }
    let config = controller::client::config(flags.server.as_deref(), flags.kubeconfig.as_deref()).await?;
    let client = kube::Client::try_from(config)?;
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    tracing::info!("endpoints controller running");
    controller::endpoints::controller::run(client, shutdown).await;
    Ok(())
}
