//! `kubectl-lite trace svc` asking real cluster-dns processes: the DNS step
//! of the timeline, and the line for a DNS pod that cannot be asked.
//! Against the real apiserver and etcd; the "DNS pods" are pod objects
//! whose podIP is where a cluster-dns listens (127.0.0.1) or where none
//! does (127.0.0.2), as kubelet-lite would report them.

use e2e::{eventually, free_ports, kubectl_ok, workspace_binary, Apiserver, Etcd, Kubeconfig, Proc};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn lite(kc: &Kubeconfig, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-lite")).env("KUBECONFIG", &kc.path).args(args).output().unwrap();
    assert!(out.status.success(), "kubectl-lite {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_dns(api_url: &str, health: u16) -> Proc {
    let [port, ready, metrics] = free_ports::<3>();
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut child = Command::new(workspace_binary("cluster-dns"))
        .args(["--server", api_url, "--listen", &format!("127.0.0.1:{port}"), "--upstream", &dead.to_string()])
        .args(["--health-address", &format!("127.0.0.1:{health}")])
        .args(["--ready-address", &format!("127.0.0.1:{ready}")])
        .args(["--metrics-address", &format!("127.0.0.1:{metrics}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start cluster-dns");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    Proc::unwatched(child)
}

fn dns_pod(kc: &Kubeconfig, dir: &std::path::Path, name: &str, ip: &str) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: kube-system, labels: {{k8s-app: kube-dns}}}}\nspec:\n  containers: [{{name: coredns, image: registry.k8s.io/coredns/coredns:v1.11.3}}]\n"),
    )
    .unwrap();
    kubectl_ok(kc, &["apply", "-f", file.to_str().unwrap()]);
    let status = format!(r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}]}}}}"#);
    kubectl_ok(kc, &["-n", "kube-system", "patch", "pod", name, "--subresource=status", "--type=merge", "-p", &status]);
}

#[test]
fn trace_reports_when_each_dns_pod_resolves_the_name() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    let dir = e2e::ScratchDir::new("trace-dns");
    let health = e2e::free_port();
    let _dns = start_dns(&api.url, health);
    dns_pod(&kc, &dir.0, "coredns-a", "127.0.0.1");
    dns_pod(&kc, &dir.0, "coredns-b", "127.0.0.2");
    kubectl_ok(&kc, &["create", "service", "clusterip", "myapp", "--tcp=80:8080"]);

    let port = health.to_string();
    let text = eventually(
        "coredns-a resolves myapp",
        || lite(&kc, &["trace", "svc", "myapp", "--dns-port", &port]),
        |t| t.contains("resolvable on DNS pod coredns-a, "),
    );
    assert!(text.contains(" ms after the Service's creation\n"), "{text}");
    let asked = format!("  (not resolvable) coredns-b: could not ask: no answer from 127.0.0.2:{port}: ");
    assert!(text.contains(&asked), "{text}");
    assert!(text.contains("may be unroutable from where kubectl-lite runs"), "{text}");
    // The DNS step comes after the creation in the timeline.
    let created = text.find("created by the apiserver").unwrap();
    assert!(text.find("resolvable on DNS pod coredns-a").unwrap() > created, "{text}");
}
