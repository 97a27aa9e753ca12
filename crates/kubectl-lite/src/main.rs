//! `kubectl-lite`: parses the command line like kubectl and runs a command.

use clap::{Parser, Subcommand};
use kubectl_lite::commands::{self, Scope};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "kubectl-lite", version, about = "The lab's kubectl: same words and columns, plus views that teach")]
struct Flags {
    /// A kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,

    /// The apiserver's URL, overriding the kubeconfig.
    #[arg(long, global = true)]
    server: Option<String>,

    /// The namespace.
    #[arg(short, long, global = true, default_value = "default")]
    namespace: String,

    /// Every namespace.
    #[arg(short = 'A', long, global = true)]
    all_namespaces: bool,

    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Display one or many resources.
    Get {
        #[arg(value_name = "TYPE")]
        type_: String,
        names: Vec<String>,
        /// wide, yaml, json or name.
        #[arg(short, long)]
        output: Option<String>,
        /// A label selector, e.g. app=myapp.
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// After listing, watch for changes.
        #[arg(short = 'w', long)]
        watch: bool,
        /// Add a LABELS column.
        #[arg(long)]
        show_labels: bool,
        /// Sort by a field, e.g. .metadata.creationTimestamp.
        #[arg(long)]
        sort_by: Option<String>,
    },
    /// Print the client and server versions.
    Version,
    /// Print the supported API resources.
    ApiResources,
    /// Create or update resources from a file (or `-`).
    Apply {
        #[arg(short = 'f', long)]
        filename: String,
    },
    /// Delete resources by type and names.
    Delete {
        #[arg(value_name = "TYPE")]
        type_: String,
        names: Vec<String>,
    },
    /// Show the details of a Service.
    Describe {
        #[arg(value_name = "TYPE")]
        type_: String,
        name: String,
    },
    /// Set a Deployment's number of replicas.
    Scale {
        #[arg(value_name = "TYPE")]
        type_: String,
        name: String,
        #[arg(long)]
        replicas: u32,
    },
    /// Each node's proxy table, as `ipvsadm -Ln` prints it.
    Ipvs {
        #[arg(long)]
        node: Option<String>,
        /// The port the proxies serve /rules on.
        #[arg(long, default_value_t = 10256)]
        rules_port: u16,
    },
}

#[tokio::main]
async fn main() {
    let flags = Flags::parse();
    let result = run(flags).await;
    match result {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

async fn run(flags: Flags) -> Result<String, commands::CliError> {
    let config = informer::client::config(flags.server.as_deref(), flags.kubeconfig.as_deref())
        .await
        .map_err(|e| commands::CliError(format!("error: {e:#}")))?;
    let client = kube::Client::try_from(config).map_err(|e| commands::CliError(format!("error: {e}")))?;
    let scope = Scope { namespace: flags.namespace, all_namespaces: flags.all_namespaces };
    let mut out = String::new();
    match flags.command {
        Cmd::Get { type_, watch: true, .. } => {
            // Rows are printed as they come, not at the end.
            commands::watch(&client, &type_, &scope, |text| {
                use std::io::Write;
                let mut stdout = std::io::stdout();
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            })
            .await?
        }
        Cmd::Get { type_, names, output, selector, show_labels, sort_by, .. } => {
            let options = commands::GetOptions {
                output: output.as_deref(),
                selector: selector.as_deref(),
                show_labels,
                sort_by: sort_by.as_deref(),
            };
            commands::get(&client, &type_, &names, &options, &scope, &mut out).await?
        }
        Cmd::Version => commands::version(&client, &mut out).await?,
        Cmd::ApiResources => commands::api_resources(&client, &mut out).await?,
        Cmd::Apply { filename } => commands::apply(&client, &filename, &scope, &mut out).await?,
        Cmd::Delete { type_, names } => commands::delete(&client, &type_, &names, &scope, &mut out).await?,
        Cmd::Describe { type_, name } => commands::describe(&client, &type_, &name, &scope, &mut out).await?,
        Cmd::Scale { type_, name, replicas } => {
            commands::scale(&client, &type_, &name, replicas, &scope, &mut out).await?
        }
        Cmd::Ipvs { node, rules_port } => commands::ipvs(&client, node.as_deref(), rules_port, &mut out).await?,
    }
    Ok(out)
}
