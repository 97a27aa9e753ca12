//! The image table: what a container "runs" on a node that has no container
//! runtime. An image reference is looked up by its repository (the tag or
//! digest does not matter); each row names a program this project builds.
//! Everything not in the table runs the tutorial's demo app, as before.
//!
//! ```text
//! registry.k8s.io/coredns/coredns:v1.11.3  →  cluster-dns --listen :53 --health-address :8080 ...
//! hub.xiaosha.com/library/myapp:v2         →  kubelet-lite demo-app --port 80   (one per container port)
//! ```
//!
//! A new image (nginx, agnhost, busybox: "inside the pods", issue #14) is a
//! new [`Runs`] variant, one row in [`TABLE`] and one arm in [`processes`].

use crate::demo_app::version_of;
use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A program a container's image stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// The tutorial's `myapp`: an HTTP server on every container port.
    DemoApp,
    /// CoreDNS: our `cluster-dns`, which serves what CoreDNS with
    /// kubeadm's Corefile serves.
    ClusterDns,
}

/// Repositories (as Docker normalises them: `coredns/coredns` is
/// `docker.io/coredns/coredns`) and what they run.
pub const TABLE: &[(&str, Runs)] = &[
    ("registry.k8s.io/coredns/coredns", Runs::ClusterDns),
    ("registry.k8s.io/coredns", Runs::ClusterDns),
    ("k8s.gcr.io/coredns/coredns", Runs::ClusterDns),
    ("k8s.gcr.io/coredns", Runs::ClusterDns),
    ("docker.io/coredns/coredns", Runs::ClusterDns),
];

/// `myapp:v2` → `docker.io/library/myapp`; `registry.k8s.io/coredns/coredns:v1.11.3`
/// → `registry.k8s.io/coredns/coredns`: the repository, without tag or
/// digest, with Docker's defaults filled in (a first component without a
/// `.` or `:` and other than `localhost` is not a registry).
pub fn repository(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    // A tag is after the last `:` that follows the last `/` (a registry may have a port).
    let no_tag = match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    };
    let lower = no_tag.to_ascii_lowercase();
    match lower.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            lower.replacen("index.docker.io/", "docker.io/", 1)
        }
        Some(_) => format!("docker.io/{lower}"),
        None => format!("docker.io/library/{lower}"),
    }
}

/// What a container with this image runs.
pub fn runs(image: &str) -> Runs {
    let repo = repository(image);
    TABLE.iter().find(|(r, _)| *r == repo).map_or(Runs::DemoApp, |(_, runs)| *runs)
}

/// The binaries a [`Process`] can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// kubelet-lite itself (`kubelet-lite demo-app ...`).
    SelfExe,
    /// The `cluster-dns` binary.
    ClusterDns,
}

/// One process of a pod, to be started in its namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub program: Program,
    pub args: Vec<String>,
}

/// What the node knows that a container's command line needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeContext {
    /// kubelet's `--cluster-domain`.
    pub cluster_domain: String,
}

/// A container port by name, if the container declares it.
fn named_port(c: &Container, name: &str) -> Option<u16> {
    c.ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

/// A probe's port (a number or a container port's name).
fn probe_port(c: &Container, port: &IntOrString) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => named_port(c, name),
    }
}

/// The ports CoreDNS's Corefile would open, read from the pod instead:
/// kubeadm's port names (`dns`, `metrics`) and probes (`/health`, `/ready`),
/// else CoreDNS's own defaults (53, 9153, 8080, 8181).
fn cluster_dns_args(c: &Container, ctx: &NodeContext) -> Vec<String> {
    let http = |p: Option<&k8s_openapi::api::core::v1::Probe>| {
        p.and_then(|p| p.http_get.as_ref()).and_then(|h| probe_port(c, &h.port))
    };
    let dns = named_port(c, "dns").or_else(|| named_port(c, "dns-tcp")).unwrap_or(53);
    let metrics = named_port(c, "metrics").unwrap_or(9153);
    let health = http(c.liveness_probe.as_ref()).or_else(|| named_port(c, "liveness-probe")).unwrap_or(8080);
    let ready = http(c.readiness_probe.as_ref()).or_else(|| named_port(c, "readiness-probe")).unwrap_or(8181);
    [("--listen", dns), ("--health-address", health), ("--ready-address", ready), ("--metrics-address", metrics)]
        .into_iter()
        .flat_map(|(flag, port)| [flag.to_string(), format!(":{port}")])
        .chain(["--cluster-domain".to_string(), ctx.cluster_domain.clone()])
        .collect()
}

/// The TCP ports a container serves (a UDP-only port gets no HTTP server).
fn tcp_ports(c: &Container) -> impl Iterator<Item = u16> + '_ {
    c.ports
        .iter()
        .flatten()
        .filter(|p: &&ContainerPort| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .filter_map(|p| u16::try_from(p.container_port).ok())
}

/// Every process the pod's containers run, in container order.
pub fn processes(pod: &Pod, ctx: &NodeContext) -> Vec<Process> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let mut out = Vec::new();
    for c in pod.spec.iter().flat_map(|s| &s.containers) {
        let image = c.image.as_deref().unwrap_or_default();
        match runs(image) {
            Runs::ClusterDns => out.push(Process { program: Program::ClusterDns, args: cluster_dns_args(c, ctx) }),
            Runs::DemoApp => out.extend(tcp_ports(c).map(|port| {
                Process {
                    program: Program::SelfExe,
                    args: ["demo-app", "--pod", &name, "--version", version_of(image), "--port", &port.to_string()]
                        .map(String::from)
                        .to_vec(),
                }
            })),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repositories_as_docker_normalises_them() {
        for (image, repo) in [
            ("myapp:v2", "docker.io/library/myapp"),
            ("nginx", "docker.io/library/nginx"),
            ("coredns/coredns:1.11.3", "docker.io/coredns/coredns"),
            ("index.docker.io/coredns/coredns", "docker.io/coredns/coredns"),
            ("registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io/coredns/coredns"),
            ("registry.k8s.io/coredns/coredns@sha256:abcd", "registry.k8s.io/coredns/coredns"),
            ("hub.xiaosha.com/library/myapp:v2", "hub.xiaosha.com/library/myapp"),
            ("localhost:5000/team/app:1", "localhost:5000/team/app"),
            ("localhost:5000/team/app", "localhost:5000/team/app"),
            ("Registry.K8s.io/CoreDNS/CoreDNS:v1", "registry.k8s.io/coredns/coredns"),
        ] {
            assert_eq!(repository(image), repo, "{image}");
        }
    }

    #[test]
    fn the_table() {
        for (image, want) in [
            ("registry.k8s.io/coredns/coredns:v1.11.3", Runs::ClusterDns),
            ("registry.k8s.io/coredns/coredns:v1.12.0", Runs::ClusterDns),
            ("coredns/coredns:1.11.3", Runs::ClusterDns),
            ("docker.io/coredns/coredns", Runs::ClusterDns),
            ("k8s.gcr.io/coredns:1.7.0", Runs::ClusterDns),
            ("hub.xiaosha.com/library/myapp:v2", Runs::DemoApp),
            ("example.com/coredns/coredns:v1", Runs::DemoApp),
            ("nginx:1.27", Runs::DemoApp),
            ("", Runs::DemoApp),
        ] {
            assert_eq!(runs(image), want, "{image}");
        }
    }

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata":{"name":"p-1"},"spec":{"containers":containers}})).unwrap()
    }

    fn ctx() -> NodeContext {
        NodeContext { cluster_domain: "cluster.local".into() }
    }

    #[test]
    fn the_demo_app_on_each_tcp_port() {
        let p = pod(json!([
            {"name":"myapp","image":"hub.xiaosha.com/library/myapp:v2","ports":[{"containerPort":80},{"containerPort":8443,"protocol":"TCP"},{"containerPort":5353,"protocol":"UDP"}]},
            {"name":"none","image":"busybox"},
        ]));
        let args = |port: &str| -> Vec<String> {
            ["demo-app", "--pod", "p-1", "--version", "v2", "--port", port].map(String::from).to_vec()
        };
        assert_eq!(
            processes(&p, &ctx()),
            vec![
                Process { program: Program::SelfExe, args: args("80") },
                Process { program: Program::SelfExe, args: args("8443") },
            ]
        );
    }

    #[test]
    fn coredns_runs_cluster_dns_on_the_pods_ports() {
        // kubeadm's container: its port names and probes decide the flags.
        let kubeadm = pod(json!([{"name":"coredns","image":"registry.k8s.io/coredns/coredns:v1.11.3","ports":[
            {"name":"dns","containerPort":53,"protocol":"UDP"},{"name":"dns-tcp","containerPort":53,"protocol":"TCP"},
            {"name":"metrics","containerPort":9153},{"name":"liveness-probe","containerPort":8080},{"name":"readiness-probe","containerPort":8181}],
            "livenessProbe":{"httpGet":{"path":"/health","port":"liveness-probe"}},
            "readinessProbe":{"httpGet":{"path":"/ready","port":"readiness-probe"}}}]));
        let flags = |dns: u16, health: u16, ready: u16, metrics: u16, domain: &str| Process {
            program: Program::ClusterDns,
            args: [
                "--listen",
                &format!(":{dns}"),
                "--health-address",
                &format!(":{health}"),
                "--ready-address",
                &format!(":{ready}"),
                "--metrics-address",
                &format!(":{metrics}"),
                "--cluster-domain",
                domain,
            ]
            .map(String::from)
            .to_vec(),
        };
        assert_eq!(processes(&kubeadm, &ctx()), vec![flags(53, 8080, 8181, 9153, "cluster.local")]);
        // Other ports, by name or through the probes; the node's domain.
        let moved = pod(json!([{"name":"coredns","image":"coredns/coredns","ports":[
            {"name":"dns-tcp","containerPort":1053},{"name":"metrics","containerPort":19153},{"name":"r","containerPort":18181}],
            "livenessProbe":{"httpGet":{"path":"/health","port":18080}},
            "readinessProbe":{"httpGet":{"path":"/ready","port":"r"}}}]));
        let other = NodeContext { cluster_domain: "lab.example".into() };
        assert_eq!(processes(&moved, &other), vec![flags(1053, 18080, 18181, 19153, "lab.example")]);
        // No ports at all: CoreDNS's defaults.
        let bare = pod(json!([{"name":"coredns","image":"coredns/coredns:1.11.3"}]));
        assert_eq!(processes(&bare, &ctx()), vec![flags(53, 8080, 8181, 9153, "cluster.local")]);
    }
}
