//! `cluster-dns`: the cluster's DNS server, in CoreDNS's place.

use clap::Parser;
use cluster_dns::answer::{Config, PodMode, State};
use cluster_dns::forward::{self, Forwarder};
use cluster_dns::index::Index;
use cluster_dns::server::{self, Server};
use cluster_dns::status::{self, Metrics};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Serves `<svc>.<ns>.svc.<zone>` and friends from the API, as CoreDNS with
/// kubeadm's Corefile does, and forwards everything else to the node's resolvers.
#[derive(Debug, Parser)]
#[command(name = "cluster-dns", version)]
struct Flags {
    /// The cluster's DNS domain (kubelet's `--cluster-domain`).
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,

    /// Where to serve DNS, UDP and TCP (`:53` is every address).
    #[arg(long, default_value = ":53")]
    listen: String,

    /// The TTL of the answers (kubeadm's Corefile: `ttl 30`).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=3600))]
    ttl: u32,

    /// Pod records `a-b-c-d.<ns>.pod.<zone>`: `insecure` (kubeadm's) or `disabled`.
    #[arg(long, default_value = "insecure", value_parser = ["insecure", "disabled"])]
    pods: String,

    /// Upstream resolvers for names outside the zone (comma-separated
    /// `ip[:port]`); default: the `nameserver`s of --resolv-conf.
    #[arg(long, value_delimiter = ',')]
    upstream: Vec<String>,

    /// The resolv.conf whose nameservers get the names outside the zone.
    #[arg(long, default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,

    /// How long each upstream is given, in milliseconds, before the next (then SERVFAIL).
    #[arg(long, default_value_t = 2000)]
    forward_timeout_ms: u64,

    /// The apiserver's URL (otherwise --kubeconfig, KUBECONFIG, the in-cluster environment or ~/.kube/config).
    #[arg(long, env = "KUBE_SERVER")]
    server: Option<String>,

    /// A kubeconfig file.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,

    /// The `health` plugin's address: `GET /health` → `OK`; also `GET /programmed`
    /// (when each Service's name became resolvable here: `kubectl-lite trace`).
    #[arg(long, default_value = ":8080")]
    health_address: String,

    /// The `ready` plugin's address: `GET /ready` → 200 once the API is synced.
    #[arg(long, default_value = ":8181")]
    ready_address: String,

    /// The `prometheus` plugin's address: `GET /metrics`.
    #[arg(long, default_value = ":9153")]
    metrics_address: String,

    /// Tasks reading the UDP socket (default: one per core).
    #[arg(long)]
    udp_workers: Option<usize>,
}

/// `:53` → `0.0.0.0:53`, as Go's listeners read it.
fn address(text: &str) -> anyhow::Result<SocketAddr> {
    let full = if text.starts_with(':') { format!("0.0.0.0{text}") } else { text.to_string() };
    full.parse().map_err(|e| anyhow::anyhow!("invalid address {text:?}: {e}"))
}

async fn serve_http(
    addr: SocketAddr,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => {
            let _ = axum::serve(l, app).with_graceful_shutdown(shutdown).await;
        }
        Err(e) => tracing::error!("cannot listen on {addr}: {e}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    informer::process::init_logging();
    let flags = Flags::parse();
    let listen = address(&flags.listen)?;
    let mut config = Config::new(&flags.cluster_domain, flags.ttl);
    config.pods = if flags.pods == "disabled" { PodMode::Disabled } else { PodMode::Insecure };
    if !listen.ip().is_unspecified() {
        config.own_addresses = vec![listen.ip()];
    } else if let Some(ip) = std::env::var("POD_IP").ok().and_then(|v| v.parse::<IpAddr>().ok()) {
        config.own_addresses = vec![ip];
    }
    let upstreams: Vec<SocketAddr> = if flags.upstream.is_empty() {
        let text = std::fs::read_to_string(&flags.resolv_conf).unwrap_or_default();
        forward::resolv_conf_nameservers(&text)
    } else {
        flags
            .upstream
            .iter()
            .map(|u| forward::parse_upstream(u).ok_or_else(|| anyhow::anyhow!("invalid --upstream {u:?}")))
            .collect::<anyhow::Result<_>>()?
    };
    let kube_config = informer::client::config(flags.server.as_deref(), flags.kubeconfig.as_deref()).await?;
    let client = kube::Client::try_from(kube_config)?;

    let state = Arc::new(RwLock::new(State { config, index: Index::default() }));
    let metrics = Arc::new(Metrics::new(format!("dns://{}", flags.listen)));
    let forwarder = Forwarder::new(upstreams.clone(), Duration::from_millis(flags.forward_timeout_ms), 1000);
    let server = Arc::new(Server { state: state.clone(), forwarder, metrics: metrics.clone() });

    let programmed = cluster_dns::programmed::Programmed::default();
    let udp = Arc::new(tokio::net::UdpSocket::bind(listen).await?);
    let tcp = tokio::net::TcpListener::bind(listen).await?;

    // One shutdown story: SIGINT or SIGTERM ends every loop.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = move || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let workers = flags.udp_workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let tasks = vec![
        tokio::spawn(cluster_dns::watch::run(client, state, metrics.clone(), programmed.clone(), shutdown())),
        tokio::spawn(server::serve_udp(server.clone(), udp, workers, shutdown())),
        tokio::spawn(server::serve_tcp(server, tcp, shutdown())),
        tokio::spawn(serve_http(address(&flags.health_address)?, status::health_app(programmed), shutdown())),
        tokio::spawn(serve_http(address(&flags.ready_address)?, status::ready_app(metrics.clone()), shutdown())),
        tokio::spawn(serve_http(address(&flags.metrics_address)?, status::metrics_app(metrics), shutdown())),
    ];
    // Tests and scripts wait for this line: the sockets are bound.
    println!("cluster-dns listening on {listen} (udp, tcp); zone {}; upstreams {upstreams:?}", flags.cluster_domain);
    informer::process::terminated().await;
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
