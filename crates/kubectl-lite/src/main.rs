//! `kubectl-lite`: parses the command line like kubectl and runs a command.

use clap::{Parser, Subcommand};
use kubectl_lite::commands::{self, Scope};
use kubectl_lite::decide::ExposeOptions;
use kubectl_lite::error::CliError;
use kubectl_lite::manifests;
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

    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true)]
    context: Option<String>,

    /// The namespace (default: the context's, else `default`).
    #[arg(short, long, global = true)]
    namespace: Option<String>,

    /// Every namespace.
    #[arg(short = 'A', long, global = true)]
    all_namespaces: bool,

    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum RolloutAction {
    /// Wait for the rollout to finish.
    Status {
        #[arg(value_name = "TYPE")]
        type_: String,
        name: String,
    },
}

/// `-f FILE|DIR|- [-f ...] [-R]`.
#[derive(Debug, clap::Args)]
struct Files {
    #[arg(short = 'f', long = "filename", required = true)]
    filename: Vec<String>,
    /// Also the manifests in subdirectories.
    #[arg(short = 'R', long)]
    recursive: bool,
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
    /// Create or update resources from files, directories or `-`.
    Apply {
        #[command(flatten)]
        files: Files,
    },
    /// Create resources from files, directories or `-`.
    Create {
        #[command(flatten)]
        files: Files,
    },
    /// Delete resources by type and names, or those in files.
    Delete {
        #[arg(value_name = "TYPE")]
        type_: Option<String>,
        names: Vec<String>,
        #[arg(short = 'f', long = "filename")]
        filename: Vec<String>,
        /// Also the manifests in subdirectories.
        #[arg(short = 'R', long)]
        recursive: bool,
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
    /// Watch a Deployment's rollout until it is done (`rollout status deploy NAME`).
    Rollout {
        #[command(subcommand)]
        action: RolloutAction,
    },
    /// Make a Service for a Deployment (or a pod, or a Service).
    Expose {
        #[arg(value_name = "TYPE")]
        type_: String,
        name: String,
        /// The Service's port (default: the container's only port).
        #[arg(long)]
        port: Option<u16>,
        /// The pods' port, a number or a name (default: --port).
        #[arg(long)]
        target_port: Option<String>,
        #[arg(long)]
        protocol: Option<String>,
        /// ClusterIP, NodePort, LoadBalancer or ExternalName.
        #[arg(long = "type")]
        service_type: Option<String>,
        /// The Service's name (default: the object's).
        #[arg(long = "name")]
        name_override: Option<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion { shell: clap_complete::Shell },
    /// A Service's life as a timeline: created, allocated, endpoints, programmed on each node, resolvable on each DNS pod; and its pods.
    Trace {
        #[arg(value_name = "TYPE")]
        type_: String,
        name: String,
        /// The port the proxies serve /programmed on.
        #[arg(long, default_value_t = 10256)]
        proxy_port: u16,
        /// The port the DNS pods serve /programmed on (their health port).
        #[arg(long, default_value_t = api::well_known::DNS_HEALTH_PORT)]
        dns_port: u16,
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
    // What succeeded is printed even when something else failed (as kubectl,
    // e.g. `create -f` of several objects).
    let mut out = String::new();
    let result = run(flags, &mut out).await;
    print!("{out}");
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

async fn run(flags: Flags, out: &mut String) -> Result<(), CliError> {
    if let Cmd::Completion { shell } = flags.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut <Flags as clap::CommandFactory>::command(), "kubectl-lite", &mut script);
        out.push_str(&String::from_utf8_lossy(&script));
        return Ok(());
    }
    let config = informer::client::config_in_context(
        flags.server.as_deref(),
        flags.kubeconfig.as_deref(),
        flags.context.as_deref(),
    )
    .await
    .map_err(|e| CliError::Other(format!("{e:#}")))?;
    let namespace = flags.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config)?;
    let scope = Scope { namespace, all_namespaces: flags.all_namespaces };
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
                one_of_several: false,
            };
            commands::get(&client, &type_, &names, &options, &scope, out).await?
        }
        Cmd::Version => commands::version(&client, out).await?,
        Cmd::ApiResources => commands::api_resources(&client, out).await?,
        Cmd::Apply { files } => {
            commands::apply(&client, &manifests::read(&files.filename, files.recursive)?, &scope, out).await?
        }
        Cmd::Create { files } => {
            commands::create(&client, &manifests::read(&files.filename, files.recursive)?, &scope, out).await?
        }
        Cmd::Delete { filename, recursive, .. } if !filename.is_empty() => {
            commands::delete_manifests(&client, &manifests::read(&filename, recursive)?, &scope, out).await?
        }
        Cmd::Delete { type_: None, .. } => {
            return Err(CliError::Other("You must provide one or more resources by argument or filename.".into()))
        }
        Cmd::Delete { type_: Some(type_), names, .. } => commands::delete(&client, &type_, &names, &scope, out).await?,
        Cmd::Describe { type_, name } => commands::describe(&client, &type_, &name, &scope, out).await?,
        Cmd::Scale { type_, name, replicas } => commands::scale(&client, &type_, &name, replicas, &scope, out).await?,
        Cmd::Rollout { action: RolloutAction::Status { type_, name } } => {
            commands::rollout(&client, &type_, &name, &scope, |text| {
                use std::io::Write;
                let _ = std::io::stdout().write_all(text.as_bytes());
                let _ = std::io::stdout().flush();
            })
            .await?
        }
        Cmd::Expose { type_, name, port, target_port, protocol, service_type, name_override } => {
            let options = ExposeOptions {
                port,
                target_port: target_port.as_deref(),
                protocol: protocol.as_deref(),
                type_: service_type.as_deref(),
                name: name_override.as_deref(),
            };
            commands::expose(&client, &type_, &name, &options, &scope, out).await?
        }
        Cmd::Completion { .. } => {}
        Cmd::Trace { type_, name, proxy_port, dns_port } => {
            commands::trace(&client, &type_, &name, proxy_port, dns_port, &scope, out).await?
        }
        Cmd::Ipvs { node, rules_port } => commands::ipvs(&client, node.as_deref(), rules_port, out).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use proptest::prelude::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Flags::command().debug_assert();
    }

    proptest! {
        /// Odd arguments, kubectl's words among them: parsed or refused with
        /// clap's message, never a panic.
        #[test]
        fn odd_arguments_are_parsed_or_refused(args in proptest::collection::vec(prop_oneof![
            Just("get".to_string()), Just("svc".to_string()), Just("-o".to_string()), Just("-n".to_string()),
            Just("-f".to_string()), Just("--sort-by".to_string()), Just("describe".to_string()), Just("-A".to_string()),
            Just("--".to_string()), Just("=".to_string()), Just("trace".to_string()), Just("rollout".to_string()),
            Just("expose".to_string()), Just("--port".to_string()), Just("-1".to_string()), Just("99999999999".to_string()),
            ".{0,12}"], 0..8)) {
            let argv = std::iter::once("kubectl-lite".to_string()).chain(args);
            match Flags::try_parse_from(argv) {
                Ok(_) => {}
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
