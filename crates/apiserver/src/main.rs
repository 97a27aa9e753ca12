//! `apiserver`: parses flags, wires the shutdown signal, runs the server.
//! `apiserver kubeconfig ...` mints a component's kubeconfig from the CA
//! in a cert dir instead (`--help` lists the components).

use clap::Parser;

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
