//! The containers of one pod, run as a kubelet runs them: started under
//! their shims with the environment the kubelet gives, watched for their
//! exit, restarted after the back-off their restart policy asks for. The
//! decisions are `lifecycle`'s (pure); this is the IO around them.

use crate::cri_log;
use crate::env::{self, Sources};
use crate::images::{self, NodeContext};
use crate::lifecycle::{self, Next, RestartPolicy, State, Terminated};
use crate::runtime::{ContainerStart, Runtime, Sandbox};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use kube::api::{Api, ListParams};
use kube::Client;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

/// What starting containers needs to know of the node.
pub struct Node<'a> {
    pub runtime: &'a Runtime,
    pub node_name: &'a str,
    pub node_ip: &'a str,
    pub cluster_domain: &'a str,
    pub backoff: lifecycle::Backoff,
}

/// One container of a pod on this node.
pub struct Run {
    pub life: lifecycle::Container,
    /// Its shim, while it runs (none for a container adopted from an
    /// earlier run of the agent: it is left running, unwatched).
    pub child: Option<tokio::process::Child>,
    /// When it is to start (again).
    pub start_at: Option<Timestamp>,
    /// The environment of its last start (`kubectl exec` gets the same).
    pub env: Vec<(String, String)>,
}

impl Run {
    /// A container yet to start.
    pub fn pending() -> Run {
        Run {
            life: lifecycle::Container::waiting("ContainerCreating"),
            child: None,
            start_at: Some(Timestamp::now()),
            env: Vec::new(),
        }
    }

    /// A container of a pod found running when the agent started: as the
    /// pod's status last said, still running unless it had ended (its
    /// processes were left running, unwatched; a crash loop goes on).
    pub fn adopted(status: Option<&k8s_openapi::api::core::v1::ContainerStatus>) -> Run {
        let now = Timestamp::now();
        let running = State::Running { started_at: now };
        let life = match status.map(|s| lifecycle::from_status(s, now)) {
            Some(life) => life,
            None => lifecycle::Container { state: running, ..lifecycle::Container::waiting("") },
        };
        let start_at = matches!(life.state, State::Waiting { .. }).then_some(now);
        Run { life, child: None, start_at, env: Vec::new() }
    }
}

/// Whether the pod's containers read ConfigMaps or Secrets (then the agent lists them).
fn refers_to(pod: &Pod) -> (bool, bool) {
    let spec = pod.spec.clone().unwrap_or_default();
    let (mut cms, mut secrets) = (false, false);
    for c in &spec.containers {
        for f in c.env_from.iter().flatten() {
            cms |= f.config_map_ref.is_some();
            secrets |= f.secret_ref.is_some();
        }
        for e in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
            cms |= e.config_map_key_ref.is_some();
            secrets |= e.secret_key_ref.is_some();
        }
    }
    for v in spec.volumes.iter().flatten() {
        cms |= v.config_map.is_some();
        secrets |= v.secret.is_some();
    }
    (cms, secrets)
}

/// Reads what the containers' environment is made from.
async fn sources(client: &Client, opts: &Node<'_>, pod: &Pod, pod_ip: &str) -> Result<Sources, kube::Error> {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let lp = ListParams::default();
    let mut services = Api::<Service>::namespaced(client.clone(), &ns).list(&lp).await?.items;
    if ns != "default" {
        services.extend(Api::<Service>::namespaced(client.clone(), "default").get_opt("kubernetes").await?);
    }
    let by_name = |name: &Option<String>| name.clone().unwrap_or_default();
    let (cms, secrets) = refers_to(pod);
    let mut src = Sources {
        services,
        node_name: opts.node_name.into(),
        host_ip: opts.node_ip.into(),
        pod_ip: pod_ip.into(),
        ..Default::default()
    };
    if cms {
        let list = Api::<ConfigMap>::namespaced(client.clone(), &ns).list(&lp).await?.items;
        src.config_maps = list.into_iter().map(|c| (by_name(&c.metadata.name), c)).collect();
    }
    if secrets {
        let list = Api::<Secret>::namespaced(client.clone(), &ns).list(&lp).await?.items;
        src.secrets = list.into_iter().map(|s| (by_name(&s.metadata.name), s)).collect();
    }
    Ok(src)
}

/// The kubelet's name for a pod in its messages: `name_namespace(uid)`.
fn pod_ref(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or("default"),
        m.uid.as_deref().unwrap_or_default()
    )
}

/// A container's shim, and the environment it was given.
type Started = (tokio::process::Child, Vec<(String, String)>);

/// Starts one container: its environment, its shim, its log file.
fn start(
    opts: &Node<'_>,
    pod: &Pod,
    spec: &Container,
    sandbox: &Sandbox,
    src: &Sources,
    restart_count: u32,
) -> Result<Started, (&'static str, String)> {
    let env = env::container_env(pod, spec, src).map_err(|e| ("CreateContainerConfigError", e))?;
    let m = &pod.metadata;
    let mut base = vec![("HOSTNAME".to_string(), m.name.clone().unwrap_or_default())];
    base.extend(env);
    let ctx = NodeContext { cluster_domain: opts.cluster_domain.into() };
    let process = images::process(pod, spec, &ctx);
    let log = cri_log::container_log_path(
        &opts.runtime.pod_logs_dir,
        m.namespace.as_deref().unwrap_or("default"),
        m.name.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default(),
        &spec.name,
        restart_count,
    );
    let volumes = crate::volumes::pod_volumes_dir(&opts.runtime.root_dir, m.uid.as_deref().unwrap_or_default());
    crate::volumes::write(&volumes, pod, &src.config_maps, &src.secrets).map_err(|e| ("ContainerCreating", e))?;
    let binds: Vec<String> = crate::volumes::binds(&volumes, pod, spec).iter().map(|b| b.flag()).collect();
    let hostname = pod.spec.as_ref().and_then(|s| s.hostname.clone()).or_else(|| m.name.clone()).unwrap_or_default();
    let attach = crate::shim_attach::socket_path(&opts.runtime.root_dir, &sandbox.netns, &spec.name);
    let start = ContainerStart {
        process: &process,
        env: &base,
        log: &log,
        binds: &binds,
        hostname: &hostname,
        attach: &attach,
        stdin: spec.stdin == Some(true),
        stdin_once: spec.stdin_once == Some(true),
        tty: spec.tty == Some(true),
    };
    let child =
        opts.runtime.start_container(&sandbox.netns, &start).map_err(|e| ("RunContainerError", format!("{e:#}")))?;
    Ok((child, base))
}

/// One pass over the pod's containers: note the exits, start what is due.
/// `ready`: whether the pod's probes pass (its running containers are then ready).
pub async fn sync(client: &Client, opts: &Node<'_>, pod: &Pod, sandbox: &Sandbox, runs: &mut [Run], ready: bool) {
    let policy = RestartPolicy::of(pod);
    let specs: Vec<Container> = pod.spec.iter().flat_map(|s| s.containers.clone()).collect();
    let now = Timestamp::now();
    for (spec, run) in specs.iter().zip(runs.iter_mut()) {
        if let Some(child) = &mut run.child {
            if let Ok(Some(status)) = child.try_wait() {
                if let Some(pid) = child.id() {
                    opts.runtime.stop_group(pid);
                }
                let exit_code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                let started_at = match run.life.state {
                    State::Running { started_at } => started_at,
                    _ => now,
                };
                tracing::info!(pod = pod_ref(pod), container = spec.name, exit_code, "container exited");
                run.child = None;
                run.life.state = State::Terminated(Terminated { exit_code, started_at, finished_at: now });
                match lifecycle::after_exit(policy, opts.backoff, &run.life, &spec.name, &pod_ref(pod)) {
                    Next::Stay => run.start_at = None,
                    Next::RestartAt(at, message) => {
                        run.start_at = Some(at);
                        if let (Some(message), State::Terminated(t)) = (message, &run.life.state) {
                            run.life.last = Some(t.clone());
                            run.life.state =
                                State::Waiting { reason: "CrashLoopBackOff".into(), message: Some(message) };
                        }
                    }
                }
            }
        }
        run.life.ready = ready && matches!(run.life.state, State::Running { .. });
    }
    // Starts, with the environment of this moment (the Services that exist now).
    let due: Vec<usize> =
        runs.iter().enumerate().filter(|(_, r)| r.start_at.is_some_and(|t| t <= now)).map(|(i, _)| i).collect();
    if due.is_empty() {
        return;
    }
    let src = match sources(client, opts, pod, &sandbox.ip.to_string()).await {
        Ok(src) => src,
        Err(e) => {
            tracing::warn!(pod = pod_ref(pod), "reading the containers' environment: {e}");
            return;
        }
    };
    for i in due {
        let (spec, run) = (&specs[i], &mut runs[i]);
        let first = matches!(&run.life.state, State::Waiting { .. }) && run.life.last.is_none();
        let restart_count = if first { 0 } else { run.life.restart_count + 1 };
        match start(opts, pod, spec, sandbox, &src, restart_count) {
            Ok((child, env)) => {
                run.env = env;
                if let State::Terminated(t) = &run.life.state {
                    run.life.last = Some(t.clone());
                }
                run.life.restart_count = restart_count;
                run.life.state = State::Running { started_at: Timestamp::now() };
                run.child = Some(child);
                run.start_at = None;
            }
            Err((reason, message)) => {
                tracing::warn!(pod = pod_ref(pod), container = spec.name, "{reason}: {message}");
                run.life.state = State::Waiting { reason: reason.into(), message: Some(message) };
                run.start_at = Some(now + Duration::from_secs(2));
            }
        }
    }
}
