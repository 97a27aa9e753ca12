//! The HA lab's one address for the API (`proxy::front`): TCP to whichever
//! apiservers answer `/readyz` (over HTTPS, verified with the cluster's CA,
//! given `--check-ca-file`).
//!   apiserver-lb --listen 0.0.0.0:6443 --backend 172.28.0.31:6443 --backend 172.28.0.32:6443 \
//!     --check-ca-file /etc/kubernetes/pki/ca.crt

use clap::Parser;
use proxy::front::Check;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
struct Flags {
    /// Where clients connect.
    #[arg(long, default_value = "0.0.0.0:6443")]
    listen: SocketAddr,
    /// An apiserver (repeat for each).
    #[arg(long = "backend", required = true)]
    backends: Vec<SocketAddr>,
    /// The health check's path: ready means it answers 200.
    #[arg(long, default_value = "/readyz")]
    health_path: String,
    /// Check over HTTPS, trusting only this CA (PEM) for the backends'
    /// serving certificates; unset, the check is plain HTTP.
    #[arg(long)]
    check_ca_file: Option<PathBuf>,
    /// Seconds between checks (and each check's timeout).
    #[arg(long, default_value_t = 1)]
    check_interval: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    informer::process::init_logging();
    let flags = Flags::parse();
    let listener = tokio::net::TcpListener::bind(flags.listen).await?;
    tracing::info!(listen = %flags.listen, backends = ?flags.backends, "forwarding to the ready apiservers");
    let interval = Duration::from_secs(flags.check_interval.max(1));
    let how = match &flags.check_ca_file {
        Some(ca) => Check::https(&flags.health_path, ca)?,
        None => Check::plain(&flags.health_path),
    };
    tokio::select! {
        _ = proxy::front::serve(listener, flags.backends, how, interval) => {}
        _ = informer::process::terminated() => {}
    }
    Ok(())
}
