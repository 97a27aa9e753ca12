//! The node agent's loop: register the Node and keep its heartbeat (the
//! Node's status, and its Lease in `kube-node-lease`); watch
//! the pods bound to this node; make each one a sandbox, report its status
//! as it becomes ready; and take a deleted pod down gracefully: not ready
//! first (so endpoints and proxies drop it), then stopped, then gone.

use crate::containers::{self, Run};
use crate::dns::{self, DnsSettings};
use crate::lease;
use crate::lifecycle::{self, Backoff};
use crate::runtime::{netns_name, Runtime, Sandbox};
use crate::status::{node_status, pod_status};
use api::well_known::NODE_LEASE_NAMESPACE;
use futures_util::StreamExt;
use informer::cache::{watch, Cache};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub struct Options {
    pub node_name: String,
    pub node_ip: String,
    pub runtime: Runtime,
    /// How long a deleted pod stays not-ready before it is stopped.
    pub drain: Duration,
    /// `--cluster-dns`, `--cluster-domain`, `--resolv-conf`: each pod's resolver.
    pub dns: DnsSettings,
    /// The crash-loop back-off (the kubelet's 10 s doubling to 5 min).
    pub backoff: Backoff,
    /// The kubelet API's port (in the Node's `daemonEndpoints`).
    pub kubelet_port: u16,
    /// What the kubelet API serves from: the pods as this loop runs them.
    pub published: std::sync::Arc<crate::kubelet_api::NodePods>,
    /// A projected token older than this is replaced, whatever its expiry
    /// (the kubelet's fixed 24 h; shorter only to watch a rotation).
    pub token_max_age: Duration,
}

/// What the agent knows of one pod it runs.
struct Running {
    sandbox: Sandbox,
    /// One per container of the pod's spec, in order.
    containers: Vec<Run>,
    started: jiff::Timestamp,
    reported_ready: Option<bool>,
    /// The containers as last reported: a change is reported again.
    reported: Option<Vec<lifecycle::Container>>,
    draining_since: Option<Instant>,
    /// Its log directory (`/var/log/pods/<ns>_<pod>_<uid>`).
    logs: std::path::PathBuf,
    /// Its projected volumes' tokens.
    tokens: crate::token_manager::PodTokens,
}

/// The pod's TCP ports: what answers a connect once its servers run.
fn ports_of(pod: &Pod) -> Vec<u16> {
    pod.spec
        .iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .filter_map(|p| u16::try_from(p.container_port).ok())
        .collect()
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string()
}

/// Creates (or updates) this node's Node object.
async fn register(client: &Client, opts: &Options) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": opts.node_name, "labels": {(api::well_known::HOSTNAME_LABEL): opts.node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
        "spec": {"podCIDR": opts.runtime.pod_cidr.to_string(), "podCIDRs": [opts.runtime.pod_cidr.to_string()]},
    }))?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    heartbeat(&nodes, opts).await
}

async fn heartbeat(nodes: &Api<Node>, opts: &Options) -> anyhow::Result<()> {
    let mut node = nodes.get(&opts.node_name).await?;
    node.status = Some(node_status(&opts.node_name, &opts.node_ip, opts.kubelet_port, &kernel_version()));
    nodes.replace_status(&opts.node_name, &PostParams::default(), &node).await?;
    Ok(())
}

/// Renews the node's Lease: an update of the copy last written; on any
/// failure (a conflict: someone else wrote it; not found: it was deleted)
/// a fresh GET, creating the Lease if it is missing, as the kubelet's lease
/// controller does. The Node's UID is read only while the owner is unset.
async fn sync_lease(client: &Client, opts: &Options, cached: &mut Option<Lease>) -> anyhow::Result<()> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    let name = opts.node_name.as_str();
    let uid = match lease::needs_owner(cached.as_ref()) {
        true => match Api::<Node>::all(client.clone()).get(name).await {
            Ok(node) => node.metadata.uid,
            Err(e) => {
                tracing::debug!("node lease: reading the Node's UID for the owner: {e}");
                None
            }
        },
        false => None,
    };
    let pp = PostParams::default();
    if let Some(current) = cached.take() {
        let want = lease::renewed(Some(&current), name, uid.as_deref(), jiff::Timestamp::now());
        match leases.replace(name, &pp, &want).await {
            Ok(written) => {
                *cached = Some(written);
                return Ok(());
            }
            Err(e) => tracing::debug!("node lease: renewing the cached copy: {e}; reading it again"),
        }
    }
    let now = jiff::Timestamp::now();
    let written = match leases.get_opt(name).await? {
        Some(current) => leases.replace(name, &pp, &lease::renewed(Some(&current), name, uid.as_deref(), now)).await?,
        None => leases.create(&pp, &lease::renewed(None, name, uid.as_deref(), now)).await?,
    };
    *cached = Some(written);
    Ok(())
}

pub async fn run(client: Client, opts: Options, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    opts.runtime.ensure_bridge()?;
    // The apiserver may not be up yet (a lab starting): keep trying.
    let mut shutdown = std::pin::pin!(shutdown);
    while let Err(e) = register(&client, &opts).await {
        tracing::warn!("registering node {}: {e:#}; retrying", opts.node_name);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = &mut shutdown => return Ok(()),
        }
    }
    // The shell images' tools, before any pod starts (after the Node is
    // registered: linking a few hundred applets the first time takes a moment).
    opts.runtime.ensure_applets()?;
    let nodes: Api<Node> = Api::all(client.clone());
    let on_this_node = watcher::Config::default().fields(&format!("spec.nodeName={}", opts.node_name));
    let mut pod_events = watch(Api::<Pod>::all(client.clone()), on_this_node, |e| e);
    let mut pods: Cache<Pod> = Cache::default();
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    // Sandboxes left by an earlier run, by namespace name, until their pod claims them.
    let mut orphans: BTreeMap<String, std::net::Ipv4Addr> = opts.runtime.existing().into_iter().collect();
    tracing::info!(sandboxes = ?orphans, "sandboxes from an earlier run");
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last_heartbeat = Instant::now();
    let (mut node_lease, mut next_lease, mut lease_failures) = (None, Instant::now(), 0);
    let mut last_routes = Instant::now();
    // Other nodes' pod CIDRs already routed, with the node IP they go via.
    let mut routed: BTreeMap<String, String> = BTreeMap::new();
    loop {
        tokio::select! {
            ev = pod_events.next() => match ev {
                Some(ev) => { pods.apply(*ev); }
                None => return Ok(()),
            },
            _ = tick.tick() => {}
            _ = &mut shutdown => return Ok(()),
        }
        if last_heartbeat.elapsed() > Duration::from_secs(10) {
            last_heartbeat = Instant::now();
            if let Err(e) = heartbeat(&nodes, &opts).await {
                tracing::warn!("heartbeat: {e:#}");
            }
        }
        if Instant::now() >= next_lease {
            next_lease = Instant::now()
                + match sync_lease(&client, &opts, &mut node_lease).await {
                    Ok(()) => {
                        lease_failures = 0;
                        lease::renew_interval()
                    }
                    Err(e) => {
                        tracing::warn!("node lease: {e:#}; retrying");
                        lease_failures += 1;
                        lease::retry_backoff(lease_failures - 1)
                    }
                };
        }
        if last_routes.elapsed() > Duration::from_secs(3) {
            last_routes = Instant::now();
            route_to_other_nodes(&nodes, &opts, &mut routed).await;
        }
        if !pods.synced {
            continue;
        }
        sync(&client, &opts, &pods, &mut running, &mut orphans).await;
    }
}

/// Every other node's pods are reached through that node's InternalIP.
async fn route_to_other_nodes(nodes: &Api<Node>, opts: &Options, routed: &mut BTreeMap<String, String>) {
    let Ok(list) = nodes.list(&Default::default()).await else { return };
    for node in list.items {
        if node.metadata.name.as_deref() == Some(opts.node_name.as_str()) {
            continue;
        }
        let cidr = node.spec.as_ref().and_then(|s| s.pod_cidr.clone());
        let internal_ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"));
        let (Some(cidr), Some(via)) = (cidr, internal_ip.map(|a| a.address.clone())) else { continue };
        if routed.get(&cidr) == Some(&via) {
            continue;
        }
        match opts.runtime.route(&cidr, &via) {
            Ok(()) => {
                routed.insert(cidr, via);
            }
            Err(e) => tracing::warn!("route to {cidr}: {e:#}"),
        }
    }
}

async fn sync(
    client: &Client,
    opts: &Options,
    pods: &Cache<Pod>,
    running: &mut BTreeMap<String, Running>,
    orphans: &mut BTreeMap<String, std::net::Ipv4Addr>,
) {
    let mut alive = BTreeSet::new();
    for pod in pods.values() {
        let Some(uid) = pod.metadata.uid.clone() else { continue };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        alive.insert(uid.clone());

        if pod.metadata.deletion_timestamp.is_some() {
            match running.get_mut(&uid) {
                None => {
                    let _ = api.delete(&name, &DeleteParams::default().grace_period(0)).await;
                }
                Some(r) => {
                    let since = *r.draining_since.get_or_insert_with(Instant::now);
                    if r.reported_ready != Some(false) {
                        report(&api, pod, r, opts, false).await;
                    } else if since.elapsed() >= opts.drain {
                        if let Some(mut r) = running.remove(&uid) {
                            remove(opts, &mut r, &uid);
                        }
                        let _ = api.delete(&name, &DeleteParams::default().grace_period(0)).await;
                    }
                }
            }
            continue;
        }

        if !running.contains_key(&uid) {
            let netns = netns_name(&uid);
            let ports = ports_of(pod);
            let adopted = orphans.remove(&netns);
            let ip = match adopted {
                Some(ip) => ip,
                None => {
                    let taken: BTreeSet<_> =
                        running.values().map(|r| r.sandbox.ip).chain(orphans.values().copied()).collect();
                    let Some(ip) = opts.runtime.allocate(&taken) else {
                        tracing::error!(pod = name, "the pod CIDR {} is full", opts.runtime.pod_cidr);
                        continue;
                    };
                    if let Err(e) = opts.runtime.create(&netns, ip) {
                        tracing::error!(pod = name, "creating the sandbox: {e:#}");
                        continue;
                    }
                    ip
                }
            };
            match adopted {
                Some(_) => tracing::info!(pod = name, netns, %ip, "adopted the sandbox of an earlier run"),
                None => tracing::info!(pod = name, netns, %ip, "created a sandbox"),
            }
            let sandbox = Sandbox { netns: netns.clone(), ip };
            // The resolver files first, so every process of the pod reads
            // them from its start; an adopted pod keeps those it has.
            if adopted.is_none() || !opts.runtime.etc_netns.join(&netns).exists() {
                let (files, warnings) = dns::pod_files(pod, &ip.to_string(), &opts.dns);
                for w in warnings {
                    tracing::warn!(pod = name, "{w}");
                }
                if let Err(e) = opts.runtime.write_etc(&netns, &files) {
                    tracing::error!(pod = name, "the pod's /etc files: {e:#}");
                }
            }
            // An adopted pod whose servers still answer keeps its processes.
            let keep = adopted.is_some() && sandbox.listening(&ports);
            let reported = pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
            let containers = pod
                .spec
                .iter()
                .flat_map(|s| &s.containers)
                .map(|c| match keep {
                    true => Run::adopted(reported.iter().find(|s| s.name == c.name)),
                    false => Run::pending(),
                })
                .collect();
            running.insert(
                uid.clone(),
                Running {
                    sandbox,
                    containers,
                    started: jiff::Timestamp::now(),
                    reported_ready: None,
                    reported: None,
                    draining_since: None,
                    logs: pod_logs(opts, pod),
                    tokens: Default::default(),
                },
            );
        }
        if let Some(r) = running.get_mut(&uid) {
            // Projected volumes (the ServiceAccount token) before any container mounts them.
            let volumes = crate::volumes::pod_volumes_dir(&opts.runtime.root_dir, &uid);
            crate::token_manager::sync(client, &volumes, pod, &mut r.tokens, opts.token_max_age).await;
            let ready = crate::probe::probes(pod).iter().all(|p| crate::probe::check(r.sandbox.ip, p));
            let node = containers::Node {
                runtime: &opts.runtime,
                node_name: &opts.node_name,
                node_ip: &opts.node_ip,
                cluster_domain: &opts.dns.cluster_domain,
                backoff: opts.backoff,
            };
            containers::sync(client, &node, pod, &r.sandbox, &mut r.containers, ready).await;
            let lives: Vec<lifecycle::Container> = r.containers.iter().map(|c| c.life.clone()).collect();
            let ready = !lives.is_empty() && lives.iter().all(|c| c.ready);
            if crate::status::needs_report(pod, r.reported_ready, ready, &r.sandbox.ip.to_string())
                || r.reported.as_ref() != Some(&lives)
            {
                report(&api, pod, r, opts, ready).await;
            }
        }
    }
    publish(opts, pods, running);
    // Pods deleted outright (or moved away): their sandboxes go.
    let gone: Vec<String> = running.keys().filter(|uid| !alive.contains(*uid)).cloned().collect();
    for uid in gone {
        if let Some(mut r) = running.remove(&uid) {
            remove(opts, &mut r, &uid);
        }
    }
}

/// Tells the kubelet API what runs now: each pod's containers, their state,
/// the shim to enter for an exec and the environment it started with.
fn publish(opts: &Options, pods: &Cache<Pod>, running: &BTreeMap<String, Running>) {
    let mut published = BTreeMap::new();
    for pod in pods.values() {
        let Some(r) = pod.metadata.uid.as_ref().and_then(|uid| running.get(uid)) else { continue };
        let specs = pod.spec.iter().flat_map(|s| &s.containers);
        let containers = specs
            .zip(&r.containers)
            .map(|(spec, run)| crate::kubelet_api::ContainerInfo {
                name: spec.name.clone(),
                state: run.life.state.clone(),
                has_last: run.life.last.is_some(),
                restart_count: run.life.restart_count,
                pid: run.child.as_ref().and_then(|c| c.id()),
                env: run.env.clone(),
                stdin: spec.stdin == Some(true),
                tty: spec.tty == Some(true),
            })
            .collect();
        let info = crate::kubelet_api::PodInfo {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            netns: r.sandbox.netns.clone(),
            containers,
        };
        let key = (
            pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            pod.metadata.name.clone().unwrap_or_default(),
        );
        published.insert(key, info);
    }
    opts.published.publish(published);
}

/// The pod's log directory on this node.
fn pod_logs(opts: &Options, pod: &Pod) -> std::path::PathBuf {
    let m = &pod.metadata;
    crate::cri_log::pod_logs_dir(
        &opts.runtime.pod_logs_dir,
        m.namespace.as_deref().unwrap_or("default"),
        m.name.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default(),
    )
}

/// Stops every process of the pod and removes what the node kept of it:
/// its sandbox, volumes and logs (the kubelet's garbage collection, at once).
fn remove(opts: &Options, r: &mut Running, uid: &str) {
    opts.runtime.destroy(&mut r.sandbox);
    let _ = std::fs::remove_dir_all(opts.runtime.root_dir.join("pods").join(uid));
    let _ = std::fs::remove_dir_all(&r.logs);
}

async fn report(api: &Api<Pod>, pod: &Pod, r: &mut Running, opts: &Options, ready: bool) {
    let mut updated = pod.clone();
    let lives: Vec<lifecycle::Container> = r.containers.iter().map(|c| c.life.clone()).collect();
    updated.status = Some(pod_status(pod, &r.sandbox.ip.to_string(), &opts.node_ip, r.started, &lives));
    let name = pod.metadata.name.clone().unwrap_or_default();
    match api.replace_status(&name, &PostParams::default(), &updated).await {
        Ok(_) => {
            r.reported_ready = Some(ready);
            r.reported = Some(lives);
        }
        Err(e) => tracing::debug!(pod = name, "status: {e}"),
    }
}
