//! `controller`: the controller-manager binary.

use clap::Parser;
use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ReplicationController;
use std::path::PathBuf;
use std::time::Duration;

const ALL: [&str; 13] = [
    "endpoints",
    "deployment",
    "replicaset",
    "replicationcontroller",
    "statefulset",
    "daemonset",
    "job",
    "cronjob",
    "scheduler",
    "serviceaccount",
    "root-ca-cert-publisher",
    "nodelifecycle",
    "service-lb",
];

/// Runs the controllers: Endpoints and EndpointSlices from selectors,
/// Deployments and ReplicaSets (with garbage collection), the scheduler, the service
/// account controller and the node lifecycle controller; with
/// `--leader-elect`, only while this replica holds the leader Lease.
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
    /// EndpointSlices), `deployment` (its ReplicaSets), `replicaset` (their pods),
    /// `replicationcontroller` (theirs), `statefulset`, `daemonset`, `job`, `cronjob`, `scheduler`,
    /// `serviceaccount` (a `default` ServiceAccount in every namespace),
    /// `root-ca-cert-publisher` (`kube-root-ca.crt` in every namespace, from
    /// --root-ca-file; not run without it),
    /// `nodelifecycle` (silent nodes turn Ready Unknown, tainted, their pods not Ready),
    /// `service-lb` (LoadBalancer addresses from --lb-pool; not run by default).
    #[arg(
        long,
        default_value = "endpoints,deployment,replicaset,replicationcontroller,statefulset,daemonset,job,cronjob,scheduler,serviceaccount,root-ca-cert-publisher,nodelifecycle",
        value_delimiter = ','
    )]
    controllers: Vec<String>,

    /// How long a node may go without renewing its Lease or posting status
    /// before it is marked Unknown (upstream's default since 1.32: 50s).
    #[arg(long, default_value = "50s", value_parser = duration)]
    node_monitor_grace_period: Duration,

    /// The same for a node that never posted a Ready condition.
    #[arg(long, default_value = "60s", value_parser = duration)]
    node_startup_grace_period: Duration,

    /// The service-lb controller's addresses: ranges and CIDRs, comma-separated
    /// (`172.28.0.200-172.28.0.250`, `192.168.10.0/28`), as MetalLB's IPAddressPool.
    #[arg(long)]
    lb_pool: Option<String>,

    /// The CA bundle (PEM) pods check the apiserver with: published as the
    /// ConfigMap `kube-root-ca.crt` (key `ca.crt`) in every namespace, which
    /// each pod's ServiceAccount volume projects (upstream's flag; kubeadm
    /// passes its cluster CA).
    #[arg(long)]
    root_ca_file: Option<PathBuf>,

    #[command(flatten)]
    election: Election,
}

/// kube-controller-manager's `--leader-elect-*` flags.
#[derive(Debug, clap::Args)]
struct Election {
    /// Run the controllers only while holding the leader Lease, so that
    /// replicas can stand by (`--leader-elect` or `--leader-elect=true`).
    /// Off by default here, unlike upstream: a single controller started
    /// again need not wait for its own old Lease to expire.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    leader_elect: bool,

    /// How long a Lease not renewed stays its holder's.
    #[arg(long, default_value = "15s", value_parser = duration)]
    leader_elect_lease_duration: Duration,

    /// How long the leader keeps failing to renew before it gives up (and exits).
    #[arg(long, default_value = "10s", value_parser = duration)]
    leader_elect_renew_deadline: Duration,

    /// How often candidates try to acquire, and the leader to renew.
    #[arg(long, default_value = "2s", value_parser = duration)]
    leader_elect_retry_period: Duration,

    /// The Lease's name, in `--leader-elect-resource-namespace`.
    #[arg(long, default_value = "kube-controller-manager")]
    leader_elect_resource_name: String,

    #[arg(long, default_value = api::well_known::LEADER_ELECTION_NAMESPACE)]
    leader_elect_resource_namespace: String,
}

/// A Go-style duration (`50s`, `1m30s`, `500ms`), as upstream's flags take.
fn duration(text: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = text.parse().map_err(|e| format!("invalid duration {text:?}: {e}"))?;
    Duration::try_from(d).map_err(|_| format!("negative duration {text:?}"))
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
    let root_ca = match &flags.root_ca_file {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--root-ca-file {}: {e}", path.display()))?)
        }
        None => None,
    };
    if let Some(ca) = &root_ca {
        anyhow::ensure!(ca.contains("-----BEGIN CERTIFICATE-----"), "--root-ca-file: no PEM certificate in it");
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

    // With --leader-elect, nothing runs until this replica holds the Lease.
    let elector = match flags.election.leader_elect {
        false => None,
        true => {
            let e = &flags.election;
            let hostname = informer::process::node_name(None)?;
            let config = informer::leader::Config {
                namespace: e.leader_elect_resource_namespace.clone(),
                name: e.leader_elect_resource_name.clone(),
                identity: informer::leader::identity(&hostname),
                lease_duration: e.leader_elect_lease_duration,
                renew_deadline: e.leader_elect_renew_deadline,
                retry_period: e.leader_elect_retry_period,
            };
            let mut elector = informer::leader::Elector::new(client.clone(), config);
            if !elector.acquire(shutdown()).await {
                return Ok(());
            }
            Some(elector)
        }
    };
    let grace = controller::nodelifecycle::desired::Grace {
        monitor: flags.node_monitor_grace_period,
        startup: flags.node_startup_grace_period,
    };
    let mut loops = Vec::new();
    for c in &flags.controllers {
        if c == "root-ca-cert-publisher" && root_ca.is_none() {
            tracing::info!("{c} controller not started: no --root-ca-file");
            continue;
        }
        let client = client.clone();
        let done = shutdown();
        loops.push(match c.as_str() {
            "endpoints" => tokio::spawn(controller::endpoints::controller::run(client, done)),
            "deployment" => tokio::spawn(controller::deployment::controller::run(client, done)),
            "replicaset" => tokio::spawn(controller::owned::run::<ReplicaSet>(client, done)),
            "replicationcontroller" => tokio::spawn(controller::owned::run::<ReplicationController>(client, done)),
            "statefulset" => tokio::spawn(controller::owned::run::<StatefulSet>(client, done)),
            "daemonset" => tokio::spawn(controller::owned::run::<DaemonSet>(client, done)),
            "job" => tokio::spawn(controller::owned::run::<Job>(client, done)),
            "cronjob" => tokio::spawn(controller::owned::run::<CronJob>(client, done)),
            "serviceaccount" => tokio::spawn(controller::serviceaccount::controller::run(client, done)),
            "root-ca-cert-publisher" => tokio::spawn(controller::rootcacertpublisher::controller::run(
                client,
                root_ca.clone().unwrap_or_default(),
                done,
            )),
            "nodelifecycle" => tokio::spawn(controller::nodelifecycle::controller::run(client, grace, done)),
            "service-lb" => tokio::spawn(controller::servicelb::controller::run(client, lb_pool.clone(), done)),
            _ => tokio::spawn(controller::scheduler::controller::run(client, done)),
        });
        tracing::info!("{c} controller running");
    }
    // A loop that panicked fails the process, as before.
    let all_done = async {
        for l in loops {
            l.await?;
        }
        Ok::<(), tokio::task::JoinError>(())
    };
    let Some(elector) = elector else {
        return Ok(all_done.await?);
    };
    // The Lease is given up only once every loop has stopped (no write of
    // ours can follow the next leader's first); losing it ends the process
    // at once, as upstream's "leaderelection lost".
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let mut holding = tokio::spawn(elector.hold(async move {
        let _ = released.await;
    }));
    let stopped = tokio::select! {
        _ = &mut holding => {
            tracing::error!("leaderelection lost: exiting");
            std::process::exit(1);
        }
        stopped = all_done => stopped,
    };
    let _ = release.send(());
    let _ = holding.await;
    Ok(stopped?)
}
