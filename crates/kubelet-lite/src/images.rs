//! The image table: what a container "runs" on a node that has no container
//! runtime and no registry. An image reference is looked up by its
//! repository (the tag or digest does not matter); each row stands for the
//! image with something this project builds, or with the node's own
//! programs (busybox's applets and curl) for the shell images.
//!
//! ```text
//! hub.xiaosha.com/library/myapp:v2          →  kubelet-lite demo-app --mode myapp --port 80 (every container port)
//! nginx:1.27                                →  kubelet-lite demo-app --mode nginx --port 80
//! registry.k8s.io/serve_hostname            →  kubelet-lite demo-app --mode serve-hostname --port 9376
//! registry.k8s.io/e2e-test-images/agnhost   →  args `netexec --http-port=8080` → demo-app --mode netexec --port 8080
//!                                              args `serve-hostname [--port 9376]` → demo-app --mode serve-hostname
//! registry.k8s.io/echoserver:1.10           →  kubelet-lite demo-app --mode echoserver --port 8080
//! registry.k8s.io/coredns/coredns:v1.11.3   →  cluster-dns --listen :53 --health-address :8080 ...
//! busybox, alpine, nicolaka/netshoot        →  the container's command and args (default `sh`), run with
//! curlimages/curl                              the node's busybox applets first on PATH, and curl
//! anything else                             →  its command if it has one, else the demo app if it has ports,
//!                                              else a process that only sleeps (a pause container)
//! ```
//!
//! Command and args as Kubernetes reads them: `command` replaces the
//! image's ENTRYPOINT and `args` its CMD; only `args` keeps the ENTRYPOINT.
//! A server image given a `command` that is not its own server (`nginx`,
//! `/agnhost`, ...) runs that command instead, as the real image would.

use crate::demo_app::{version_of, Mode};
use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// What a container's image stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// The tutorial's `myapp`: an HTTP server on every container port.
    DemoApp,
    /// nginx's welcome page on 80.
    Nginx,
    /// `serve_hostname`: the pod's name on 9376.
    ServeHostname,
    /// agnhost: a subcommand chosen by the args (`netexec`, `serve-hostname`, `pause`).
    Agnhost,
    /// echoserver: the request echoed, on 8080.
    Echoserver,
    /// CoreDNS: our `cluster-dns`, which serves what CoreDNS with
    /// kubeadm's Corefile serves.
    ClusterDns,
    /// An image that is a shell and tools: it runs the container's command.
    Shell(Shell),
}

/// The shell images, by what their ENTRYPOINT and CMD are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// `busybox`: CMD `sh`.
    Busybox,
    /// `alpine`: CMD `/bin/sh`.
    Alpine,
    /// `curlimages/curl`: ENTRYPOINT `/entrypoint.sh`, CMD `curl`; the
    /// entrypoint puts `curl` in front of args that start with `-`.
    Curl,
    /// `nicolaka/netshoot`: CMD `zsh` (here: `sh`).
    Netshoot,
}

/// Repositories (as Docker normalises them: `nginx` is
/// `docker.io/library/nginx`) and what they run.
pub const TABLE: &[(&str, Runs)] = &[
    ("docker.io/library/myapp", Runs::DemoApp),
    ("hub.xiaosha.com/library/myapp", Runs::DemoApp),
    ("docker.io/library/nginx", Runs::Nginx),
    ("registry.k8s.io/serve_hostname", Runs::ServeHostname),
    ("k8s.gcr.io/serve_hostname", Runs::ServeHostname),
    ("gcr.io/google_containers/serve_hostname", Runs::ServeHostname),
    ("registry.k8s.io/e2e-test-images/agnhost", Runs::Agnhost),
    ("k8s.gcr.io/e2e-test-images/agnhost", Runs::Agnhost),
    ("registry.k8s.io/echoserver", Runs::Echoserver),
    ("k8s.gcr.io/echoserver", Runs::Echoserver),
    ("registry.k8s.io/coredns/coredns", Runs::ClusterDns),
    ("registry.k8s.io/coredns", Runs::ClusterDns),
    ("k8s.gcr.io/coredns/coredns", Runs::ClusterDns),
    ("k8s.gcr.io/coredns", Runs::ClusterDns),
    ("docker.io/coredns/coredns", Runs::ClusterDns),
    ("docker.io/library/busybox", Runs::Shell(Shell::Busybox)),
    ("registry.k8s.io/e2e-test-images/busybox", Runs::Shell(Shell::Busybox)),
    ("docker.io/library/alpine", Runs::Shell(Shell::Alpine)),
    ("docker.io/curlimages/curl", Runs::Shell(Shell::Curl)),
    ("docker.io/nicolaka/netshoot", Runs::Shell(Shell::Netshoot)),
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

/// What a container with this image runs (the demo app when it is not in the table).
pub fn runs(image: &str) -> Runs {
    let repo = repository(image);
    TABLE.iter().find(|(r, _)| *r == repo).map_or(Runs::DemoApp, |(_, runs)| *runs)
}

/// The binaries a [`Process`] can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// kubelet-lite itself (`kubelet-lite demo-app ...`).
    SelfExe,
    /// The `cluster-dns` binary.
    ClusterDns,
    /// A program found on the container's PATH (the busybox applets first).
    Named(String),
}

/// One container's process, to be started in its pod's namespaces.
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

/// The command line Kubernetes starts: the image's ENTRYPOINT and CMD,
/// `command` replacing the first and `args` the second (a `command` alone
/// drops the CMD too).
pub fn command_line(entrypoint: &[&str], cmd: &[&str], c: &Container) -> Vec<String> {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let args = c.args.clone().filter(|a| !a.is_empty());
    match c.command.clone().filter(|c| !c.is_empty()) {
        Some(command) => command.into_iter().chain(args.into_iter().flatten()).collect(),
        None => owned(entrypoint).into_iter().chain(args.unwrap_or_else(|| owned(cmd))).collect(),
    }
}

/// A flag's value, Go `flag` style: `--http-port=8080`, `-http-port 8080`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        let bare = a.strip_prefix("--").or_else(|| a.strip_prefix('-'))?;
        match bare.split_once('=') {
            Some((n, v)) if n == name => Some(v),
            None if bare == name => args.get(i + 1).map(String::as_str),
            _ => None,
        }
    })
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A command run with the node's programs: `/bin/sh` is the `sh` found on
/// the container's PATH (busybox's, as in the busybox image).
fn run(argv: Vec<String>) -> Process {
    let mut argv = argv.into_iter();
    let first = argv.next().unwrap_or_default();
    let program = match ["/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/", "/usr/local/bin/"]
        .iter()
        .find_map(|dir| first.strip_prefix(dir).filter(|rest| !rest.contains('/')))
    {
        Some(applet) => applet.to_string(),
        None => first,
    };
    Process { program: Program::Named(program), args: argv.collect() }
}

/// A container that runs nothing but must stay up: a pause process.
fn pause() -> Process {
    run(vec!["sleep".into(), "2147483647".into()])
}

/// One of the built-in servers.
fn server(mode: Mode, pod: &str, image: &str, ports: impl IntoIterator<Item = u16>) -> Process {
    let mode = clap::ValueEnum::to_possible_value(&mode).map(|v| v.get_name().to_string()).unwrap_or_default();
    let mut args: Vec<String> =
        ["demo-app", "--mode", &mode, "--pod", pod, "--version", version_of(image)].map(String::from).to_vec();
    for port in ports {
        args.extend(["--port".to_string(), port.to_string()]);
    }
    Process { program: Program::SelfExe, args }
}

/// A port flag's value, else the server's default.
fn port_flag(args: &[String], name: &str, default: u16) -> u16 {
    flag(args, name).and_then(|p| p.parse().ok()).unwrap_or(default)
}

/// What one container of the pod runs.
pub fn process(pod: &Pod, c: &Container, ctx: &NodeContext) -> Process {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let image = c.image.as_deref().unwrap_or_default();
    let has_command = c.command.as_ref().is_some_and(|c| !c.is_empty());
    match runs(image) {
        Runs::ClusterDns => Process { program: Program::ClusterDns, args: cluster_dns_args(c, ctx) },
        Runs::DemoApp if has_command => run(command_line(&[], &[], c)),
        Runs::DemoApp if tcp_ports(c).next().is_some() => server(Mode::Myapp, name, image, tcp_ports(c)),
        Runs::DemoApp => pause(),
        Runs::Nginx => match command_line(&["/docker-entrypoint.sh"], &["nginx", "-g", "daemon off;"], c) {
            argv if argv.iter().any(|a| basename(a) == "nginx") => server(Mode::Nginx, name, image, [80]),
            argv => run(argv.into_iter().skip_while(|a| a == "/docker-entrypoint.sh").collect()),
        },
        Runs::ServeHostname => match command_line(&["/serve_hostname"], &[], c) {
            argv if basename(&argv[0]) == "serve_hostname" => {
                server(Mode::ServeHostname, name, image, [port_flag(&argv, "port", 9376)])
            }
            argv => run(argv),
        },
        Runs::Agnhost => match command_line(&["/agnhost"], &["pause"], c) {
            argv if basename(&argv[0]) == "agnhost" => match argv.get(1).map(String::as_str) {
                Some("netexec") => server(Mode::Netexec, name, image, [port_flag(&argv, "http-port", 8080)]),
                Some("serve-hostname") => server(Mode::ServeHostname, name, image, [port_flag(&argv, "port", 9376)]),
                Some("pause") | None => pause(),
                Some(other) => {
                    run(["sh", "-c", r#"echo "Error: unknown command \"$0\" for \"agnhost\"" >&2; exit 1"#, other]
                        .map(String::from)
                        .to_vec())
                }
            },
            argv => run(argv),
        },
        Runs::Echoserver if has_command => run(command_line(&[], &[], c)),
        Runs::Echoserver => server(Mode::Echoserver, name, image, [8080]),
        Runs::Shell(Shell::Busybox | Shell::Netshoot) => run(command_line(&[], &["sh"], c)),
        Runs::Shell(Shell::Alpine) => run(command_line(&[], &["/bin/sh"], c)),
        Runs::Shell(Shell::Curl) => {
            let mut argv = command_line(&["/entrypoint.sh"], &["curl"], c);
            if argv.first().map(String::as_str) == Some("/entrypoint.sh") {
                argv.remove(0);
                if argv.first().is_none_or(|a| a.starts_with('-')) {
                    argv.insert(0, "curl".into());
                }
            }
            run(argv)
        }
    }
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
            ("nginx:1.27", Runs::Nginx),
            ("docker.io/library/nginx:latest", Runs::Nginx),
            ("registry.k8s.io/serve_hostname", Runs::ServeHostname),
            ("registry.k8s.io/e2e-test-images/agnhost:2.53", Runs::Agnhost),
            ("registry.k8s.io/echoserver:1.10", Runs::Echoserver),
            ("busybox", Runs::Shell(Shell::Busybox)),
            ("busybox:1.36", Runs::Shell(Shell::Busybox)),
            ("alpine:3.20", Runs::Shell(Shell::Alpine)),
            ("curlimages/curl", Runs::Shell(Shell::Curl)),
            ("nicolaka/netshoot:v0.13", Runs::Shell(Shell::Netshoot)),
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

    fn processes(p: &Pod, ctx: &NodeContext) -> Vec<Process> {
        p.spec.iter().flat_map(|s| &s.containers).map(|c| process(p, c, ctx)).collect()
    }

    fn named(argv: &[&str]) -> Process {
        Process { program: Program::Named(argv[0].into()), args: argv[1..].iter().map(|s| s.to_string()).collect() }
    }

    fn demo(mode: &str, pod: &str, version: &str, ports: &[&str]) -> Process {
        let mut args: Vec<String> =
            ["demo-app", "--mode", mode, "--pod", pod, "--version", version].map(String::from).to_vec();
        for p in ports {
            args.extend(["--port".to_string(), p.to_string()]);
        }
        Process { program: Program::SelfExe, args }
    }

    #[test]
    fn command_and_args_as_kubernetes_reads_them() {
        let c = |v: serde_json::Value| -> Container { serde_json::from_value(v).unwrap() };
        let (ep, cmd) = (&["/entry"][..], &["serve", "--x"][..]);
        for (container, want) in [
            (json!({"name":"a"}), vec!["/entry", "serve", "--x"]),
            (json!({"name":"a","args":["other"]}), vec!["/entry", "other"]),
            (json!({"name":"a","command":["sh"]}), vec!["sh"]),
            (json!({"name":"a","command":["sh"],"args":["-c","exit 3"]}), vec!["sh", "-c", "exit 3"]),
            (json!({"name":"a","command":[],"args":[]}), vec!["/entry", "serve", "--x"]),
        ] {
            assert_eq!(command_line(ep, cmd, &c(container.clone())), want, "{container}");
        }
    }

    #[test]
    fn every_image_runs_what_it_says() {
        let one = |c: serde_json::Value| processes(&pod(json!([c])), &ctx()).remove(0);
        let cases = [
            (json!({"image":"nginx"}), demo("nginx", "p-1", "latest", &["80"])),
            (
                json!({"image":"nginx:1.27","command":["nginx","-g","daemon off;"]}),
                demo("nginx", "p-1", "1.27", &["80"]),
            ),
            (json!({"image":"nginx","command":["sh","-c","echo hi"]}), named(&["sh", "-c", "echo hi"])),
            (json!({"image":"registry.k8s.io/serve_hostname"}), demo("serve-hostname", "p-1", "latest", &["9376"])),
            (
                json!({"image":"registry.k8s.io/e2e-test-images/agnhost:2.53","args":["netexec","--http-port=8081"]}),
                demo("netexec", "p-1", "2.53", &["8081"]),
            ),
            (
                json!({"image":"registry.k8s.io/e2e-test-images/agnhost:2.53","command":["/agnhost","netexec"]}),
                demo("netexec", "p-1", "2.53", &["8080"]),
            ),
            (
                json!({"image":"registry.k8s.io/e2e-test-images/agnhost:2.53","args":["serve-hostname","-port","9000"]}),
                demo("serve-hostname", "p-1", "2.53", &["9000"]),
            ),
            (json!({"image":"registry.k8s.io/e2e-test-images/agnhost:2.53"}), named(&["sleep", "2147483647"])),
            (
                json!({"image":"registry.k8s.io/e2e-test-images/agnhost:2.53","args":["nope"]}),
                named(&["sh", "-c", r#"echo "Error: unknown command \"$0\" for \"agnhost\"" >&2; exit 1"#, "nope"]),
            ),
            (json!({"image":"registry.k8s.io/echoserver:1.10"}), demo("echoserver", "p-1", "1.10", &["8080"])),
            (json!({"image":"busybox"}), named(&["sh"])),
            (json!({"image":"busybox","command":["/bin/sh","-c","env"]}), named(&["sh", "-c", "env"])),
            (json!({"image":"busybox","args":["sleep","3600"]}), named(&["sleep", "3600"])),
            (json!({"image":"alpine"}), named(&["sh"])),
            (json!({"image":"nicolaka/netshoot"}), named(&["sh"])),
            (json!({"image":"curlimages/curl"}), named(&["curl"])),
            (json!({"image":"curlimages/curl","args":["-s","http://myapp"]}), named(&["curl", "-s", "http://myapp"])),
            (json!({"image":"curlimages/curl","args":["sh","-c","x"]}), named(&["sh", "-c", "x"])),
            (json!({"image":"curlimages/curl","command":["curl","-v"]}), named(&["curl", "-v"])),
            (json!({"image":"ubuntu","command":["/opt/app/run","x"]}), named(&["/opt/app/run", "x"])),
            (json!({"image":"ubuntu"}), named(&["sleep", "2147483647"])),
        ];
        for (mut c, want) in cases {
            c["name"] = json!("c");
            assert_eq!(one(c.clone()), want, "{c}");
        }
    }

    #[test]
    fn the_demo_app_on_each_tcp_port() {
        let p = pod(json!([
            {"name":"myapp","image":"hub.xiaosha.com/library/myapp:v2","ports":[{"containerPort":80},{"containerPort":8443,"protocol":"TCP"},{"containerPort":5353,"protocol":"UDP"}]},
            {"name":"none","image":"example.com/app"},
        ]));
        assert_eq!(
            processes(&p, &ctx()),
            vec![demo("myapp", "p-1", "v2", &["80", "8443"]), named(&["sleep", "2147483647"])]
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
