//! `apiserver`: parses flags, wires the shutdown signal, runs the server.
//! `apiserver kubeconfig ...` mints a component's kubeconfig from the CA
//! in a cert dir instead (`--help` lists the components); `apiserver certs
//! ...` makes the cert dir ahead of the first start (kubeadm's `init phase
//! certs`), for a serving certificate with more names than its own.

use clap::Parser;

/// mimalloc, not glibc's malloc: a create builds and drops several JSON
/// trees, and glibc's malloc/free was about a third of the apiserver's CPU
/// (`bench-apiserver tls`: ~490 → ~370 µs per create). Its v3: v2 returns
/// freed pages sooner but cost ~20% more CPU; `tests/patch_memory.rs`
/// bounds what v3 keeps (a refused patch is never decoded: `patch.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prints a kubeconfig for a component, with a client certificate signed
/// now by the CA the apiserver made in `--cert-dir`.
#[derive(Debug, Parser)]
#[command(name = "apiserver kubeconfig")]
struct KubeconfigArgs {
    /// The apiserver's `--cert-dir` (its `ca.crt` and `ca.key`).
    #[arg(long, default_value = "/var/run/kubernetes")]
    cert_dir: std::path::PathBuf,
    /// The apiserver's URL, as the component reaches it.
    #[arg(long)]
    server: String,
    /// admin, controller-manager, scheduler, proxy, or node:<name>.
    #[arg(long, required_unless_present = "user", conflicts_with = "user")]
    component: Option<String>,
    /// Any user instead (the certificate's CN)...
    #[arg(long)]
    user: Option<String>,
    /// ... in these groups (O; repeatable).
    #[arg(long, requires = "user")]
    group: Vec<String>,
}

/// Makes the CA and the serving certificate in `--cert-dir` (kept if
/// there), as the apiserver would on its first start, with more names in
/// the certificate: kubeadm's `--apiserver-cert-extra-sans`, for the
/// address of a load balancer in front of several apiservers.
#[derive(Debug, Parser)]
#[command(name = "apiserver certs")]
struct CertsArgs {
    #[arg(long, default_value = "/var/run/kubernetes")]
    cert_dir: std::path::PathBuf,
    /// The apiserver's advertise address (a SAN).
    #[arg(long, default_value = "127.0.0.1")]
    advertise_address: std::net::IpAddr,
    /// The Service range, whose first address (the `kubernetes` Service's) is a SAN.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: ipnet::Ipv4Net,
    /// More names and addresses for the serving certificate (comma-separated).
    #[arg(long, value_delimiter = ',')]
    apiserver_cert_extra_sans: Vec<String>,
}

fn certs(args: CertsArgs) -> anyhow::Result<()> {
    let range =
        apiserver::allocation::range::IpRange::new(args.service_cluster_ip_range).map_err(anyhow::Error::msg)?;
    let mut names = apiserver::pki::serving_names(range.first().into(), args.advertise_address);
    for san in args.apiserver_cert_extra_sans {
        if !names.contains(&san) {
            names.push(san);
        }
    }
    let dir = apiserver::pki::ensure_cert_dir(&args.cert_dir, &names)?;
    let made = if dir.created { "made" } else { "kept" };
    eprintln!("{made} the CA in {}; serving certificate for {}", args.cert_dir.display(), names.join(", "));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("certs") {
        return certs(CertsArgs::parse_from(std::env::args().skip(1)));
    }
    if std::env::args().nth(1).as_deref() == Some("kubeconfig") {
        let args = KubeconfigArgs::parse_from(std::env::args().skip(1));
        let ca = apiserver::pki::Ca::load(&args.cert_dir)?;
        let text = match (&args.component, &args.user) {
            (Some(component), _) => apiserver::pki::component_kubeconfig(&ca, &args.server, component)?,
            (None, user) => {
                let user = user.as_deref().unwrap_or_default();
                let groups: Vec<&str> = args.group.iter().map(String::as_str).collect();
                apiserver::pki::kubeconfig(&args.server, &ca.cert_pem, user, &ca.client(user, &groups)?)
            }
        };
        print!("{text}");
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let config = apiserver::config::Config::parse();
    let (trigger, shutdown) = apiserver::shutdown::channel();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        trigger.fire();
    });
    apiserver::run(config, shutdown).await
}
