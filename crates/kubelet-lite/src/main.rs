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

    /// Where containers' logs are kept (CRI format, one directory per pod).
    #[arg(long, global = true, default_value = kubelet_lite::cri_log::DEFAULT_POD_LOGS_DIR)]
    pod_logs_dir: PathBuf,

    /// The node agent's state: busybox applets for the shell images, the pods' volumes.
    #[arg(long, global = true, default_value = "/var/lib/kubelet")]
    root_dir: PathBuf,

    /// The crash-loop back-off's first delay, in milliseconds (doubling at
    /// each restart up to 30 times this: the kubelet's 10 s and 5 min).
    #[arg(long, global = true, default_value_t = 10_000)]
    crash_loop_backoff_ms: u64,

    /// The kubelet API's port (container logs, exec), on --node-ip; 0: any free one.
    #[arg(long, global = true, default_value_t = 10250)]
    port: u16,

    /// The CA (PEM) whose client certificates the kubelet API accepts:
    /// then it serves HTTPS, and only to the apiserver's identity
    /// (`kubelet_auth`). Unset: plain HTTP, anyone who reaches the port.
    #[arg(long, global = true)]
    client_ca_file: Option<PathBuf>,

    /// The kubelet API's serving certificate (PEM), with
    /// `--tls-private-key-file`. Unset: one made at start, self-signed.
    #[arg(long, global = true, requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,

    #[arg(long, global = true, requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,

    /// Seconds after which a projected ServiceAccount token is replaced
    /// whatever its expiry: the kubelet's fixed 24 h (tokens are renewed at
    /// 80% of their life long before); shorter only to watch a rotation.
    #[arg(long, global = true, default_value_t = 86_400)]
    service_account_token_max_age_seconds: u64,

    /// The `cluster-dns` binary run for CoreDNS's image (default: next to
    /// this one if it is there, else from PATH).
    #[arg(long, global = true)]
    cluster_dns_binary: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The built-in servers (run by the agent inside each pod).
    DemoApp {
        /// Which image it answers like.
        #[arg(long, value_enum, default_value = "myapp")]
        mode: kubelet_lite::demo_app::Mode,
        #[arg(long)]
        pod: String,
        #[arg(long)]
        version: String,
        /// A port to serve on (repeatable).
        #[arg(long, default_values_t = [80])]
        port: Vec<u16>,
    },
    /// A container's shim (run by the agent in the pod's namespaces): bind
    /// its volumes, start its command, keep its output in the CRI log file,
    /// exit with its exit code.
    Shim {
        /// The container's log file.
        #[arg(long)]
        log: PathBuf,
        /// The hostname to set (in the UTS namespace the agent made for it).
        #[arg(long = "hostname")]
        pod_hostname: Option<String>,
        /// `SOURCE:TARGET[:ro]`: a bind mount made before the command starts (repeatable).
        #[arg(long = "bind")]
        binds: Vec<String>,
        /// The Unix socket to serve attach on (its stdin, output, terminal).
        #[arg(long)]
        attach: Option<PathBuf>,
        /// The container's `stdin: true`: its stdin is kept open for attachers.
        #[arg(long)]
        stdin: bool,
        /// `stdinOnce: true`: the first attacher's end of stdin closes it.
        #[arg(long)]
        stdin_once: bool,
        /// `tty: true`: the command runs on a terminal.
        #[arg(long)]
        tty: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    informer::process::init_logging();
    let flags = Flags::parse();
    match flags.command {
        Some(Cmd::DemoApp { mode, pod, version, port }) => {
            let mut servers = tokio::task::JoinSet::new();
            for port in port {
                let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
                servers.spawn(kubelet_lite::demo_app::serve(listener, mode, pod.clone(), version.clone()));
            }
            while let Some(done) = servers.join_next().await {
                done??;
            }
            return Ok(());
        }
        Some(Cmd::Shim { log, pod_hostname, binds, attach, stdin, stdin_once, tty, command }) => {
            let o = kubelet_lite::shim::ShimOptions {
                log,
                hostname: pod_hostname,
                binds,
                attach,
                stdin,
                stdin_once,
                tty,
                command,
            };
            std::process::exit(kubelet_lite::shim::run(&o))
        }
        None => {}
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
        pod_logs_dir: flags.pod_logs_dir,
        root_dir: flags.root_dir,
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
    // The kubelet API, before the Node says where it is (without it the
    // node still runs its pods: logs and exec are what is lost).
    let published = std::sync::Arc::new(kubelet_lite::kubelet_api::NodePods::default());
    let kubelet_tls = match &flags.client_ca_file {
        Some(ca) => {
            let serving = flags.tls_cert_file.as_deref().zip(flags.tls_private_key_file.as_deref());
            let names = [node_ip.clone(), node_name.clone()];
            Some(kubelet_lite::kubelet_auth::server_config(ca, serving, &names)?)
        }
        None => None,
    };
    let kubelet_port = match tokio::net::TcpListener::bind((node_ip.as_str(), flags.port)).await {
        Ok(listener) => {
            let port = listener.local_addr()?.port();
            let api = std::sync::Arc::new(kubelet_lite::kubelet_api::Node {
                pods: published.clone(),
                pod_logs_dir: runtime.pod_logs_dir.clone(),
                path: runtime.container_path(),
                root_dir: runtime.root_dir.clone(),
            });
            tokio::spawn(async move {
                let served = match kubelet_tls {
                    Some(tls) => kubelet_lite::kubelet_api::serve_tls(listener, api, tls).await,
                    None => kubelet_lite::kubelet_api::serve(listener, api).await,
                };
                if let Err(e) = served {
                    tracing::error!("the kubelet API stopped: {e}");
                }
            });
            tracing::info!(port, "kubelet API listening");
            port
        }
        Err(e) => {
            tracing::error!("the kubelet API cannot listen on {node_ip}:{}: {e}", flags.port);
            flags.port
        }
    };
    let opts = kubelet_lite::agent::Options {
        kubelet_port,
        published,
        node_name,
        node_ip,
        runtime,
        drain: Duration::from_secs(flags.drain_seconds),
        token_max_age: Duration::from_secs(flags.service_account_token_max_age_seconds),
        dns,
        backoff: kubelet_lite::lifecycle::Backoff {
            initial: Duration::from_millis(flags.crash_loop_backoff_ms),
            max: Duration::from_millis(flags.crash_loop_backoff_ms.saturating_mul(30)),
        },
    };
    let shutdown = informer::process::terminated();
    kubelet_lite::agent::run(client, opts, shutdown).await
}
