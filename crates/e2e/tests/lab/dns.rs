//! The lab's cluster DNS, as a learner sees it from inside a pod: the
//! kube-dns add-on applied as kubeadm does, its pods Ready behind
//! 10.96.0.10, and a pod's resolver reaching Services by name.

use super::on_node;
use e2e::{eventually, kubectl_ok, table_rows, workspace_binary, Kubeconfig};
use std::collections::BTreeSet;
use std::process::Command;

const RESOLV_CONF: &str =
    "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

/// kubeadm's DNS add-on, applied once the apiserver answers.
pub fn apply_addon(kc: &Kubeconfig) {
    let addon = super::repo().join("examples/addons/kube-dns.yaml");
    let out = kubectl_ok(kc, &["apply", "-f", addon.to_str().unwrap()]);
    assert_eq!(out, "serviceaccount/coredns created\ndeployment.apps/coredns created\nservice/kube-dns created\n");
}

/// (name, node, ip) of the DNS pods, once both are Ready.
fn dns_pods(kc: &Kubeconfig) -> Vec<(String, String, String)> {
    let rows = eventually(
        "2 kube-dns pods Ready",
        || table_rows(&kubectl_ok(kc, &["get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns", "-o", "wide"])),
        |r| r.len() == 3 && r[1..].iter().all(|p| p[1] == "1/1" && p[2] == "Running"),
    );
    rows[1..].iter().map(|r| (r[0].clone(), r[6].clone(), r[5].clone())).collect()
}

/// A command inside a pod's namespaces, as `kubectl exec` would run it:
/// `ip netns exec kl-XXXXXXXX ...` on the pod's node.
pub fn in_pod(kc: &Kubeconfig, namespace: &str, pod: &str, cmd: &[&str]) -> (bool, String) {
    let uid = kubectl_ok(kc, &["get", "pod", "-n", namespace, pod, "-o", "jsonpath={.metadata.uid}"]);
    let node = kubectl_ok(kc, &["get", "pod", "-n", namespace, pod, "-o", "jsonpath={.spec.nodeName}"]);
    let netns = format!("kl-{}", uid.chars().filter(char::is_ascii_alphanumeric).take(8).collect::<String>());
    let mut args = vec!["ip", "netns", "exec", netns.as_str()];
    args.extend_from_slice(cmd);
    let out = on_node(&node, &args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn kubectl_lite(kc: &Kubeconfig, args: &[&str]) -> String {
    let out = Command::new(workspace_binary("kubectl-lite")).env("KUBECONFIG", &kc.path).args(args).output().unwrap();
    assert!(out.status.success(), "kubectl-lite {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Each node's part of `kubectl-lite ipvs`.
fn node_tables(ipvs: &str) -> Vec<(&'static str, String)> {
    [("node1", "172.28.0.11"), ("node2", "172.28.0.12")]
        .into_iter()
        .map(|(node, ip)| {
            let table =
                ipvs.split(&format!("# {node} ({ip})\n")).nth(1).unwrap_or("").split("# node").next().unwrap_or("");
            (node, table.to_string())
        })
        .collect()
}

/// Whether `table` has the virtual server `head` with exactly `backends` behind it.
fn serves(table: &str, head: &str, backends: &BTreeSet<String>) -> bool {
    let Some(rest) = table.split(&format!("{head} rr\n")).nth(1) else { return false };
    let real: BTreeSet<String> = rest
        .lines()
        .take_while(|l| l.starts_with("  ->"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|a| *a != "RemoteAddress:Port")
        .map(String::from)
        .collect();
    real == *backends
}

/// Whether busybox's nslookup output holds the Service's A record.
fn has_answer(nslookup: &str, cluster_ip: &str) -> bool {
    nslookup.contains("Name:\tmyapp.default.svc.cluster.local\nAddress: ")
        && nslookup.contains(&format!("Address: {cluster_ip}\n"))
}

/// The whole DNS story, with the tutorial's `myapp` Service at `cluster_ip`
/// and `client` one of its pods.
pub fn from_inside_a_pod(kc: &Kubeconfig, cluster_ip: &str, client: &str) {
    // The add-on looks like a kubeadm cluster's.
    let pods = dns_pods(kc);
    println!(
        "lab: kubectl get pods -n kube-system -o wide\n{}",
        kubectl_ok(kc, &["get", "pods", "-n", "kube-system", "-o", "wide"])
    );
    let svc = kubectl_ok(kc, &["get", "svc", "-n", "kube-system"]);
    println!("lab: kubectl get svc -n kube-system\n{svc}");
    assert_eq!(table_rows(&svc)[1][..5], ["kube-dns", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP,9153/TCP"]);
    assert!(pods.iter().all(|(name, _, ip)| name.starts_with("coredns-") && ip.starts_with("10.244.")), "{pods:?}");
    let ips: BTreeSet<String> = pods.iter().map(|(_, _, ip)| ip.clone()).collect();
    let endpoints = || {
        let ep = kubectl_ok(
            kc,
            &["get", "endpoints", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.subsets[*].addresses[*].ip}"],
        );
        ep.split_whitespace().map(String::from).collect::<BTreeSet<_>>()
    };
    eventually("the kube-dns endpoints are the DNS pods", endpoints, |e| *e == ips);
    // DNS reaches the API as a pod does: through the `kubernetes` Service, whose endpoint is the apiserver.
    let api_ep = kubectl_ok(
        kc,
        &["get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}"],
    );
    assert_eq!(api_ep, "172.28.0.3:6443");

    // Both nodes' tables: the tutorial's kube-dns rows, the DNS pods behind them.
    let at = |port: u16| ips.iter().map(|ip| format!("{ip}:{port}")).collect::<BTreeSet<_>>();
    let api: BTreeSet<String> = [api_ep.clone()].into();
    let ipvs = eventually(
        "both nodes' tables have the kube-dns rows",
        || kubectl_lite(kc, &["ipvs"]),
        |ipvs| {
            node_tables(ipvs).iter().all(|(_, t)| {
                serves(t, "TCP  10.96.0.1:443", &api)
                    && serves(t, "TCP  10.96.0.10:53", &at(53))
                    && serves(t, "TCP  10.96.0.10:9153", &at(9153))
                    && serves(t, "UDP  10.96.0.10:53", &at(53))
            })
        },
    );
    println!("lab: kubectl-lite ipvs\n{ipvs}");

    // Inside a pod: the kubelet's resolv.conf, then names through its search path.
    let (ok, resolv) = in_pod(kc, "default", client, &["cat", "/etc/resolv.conf"]);
    assert!(ok, "{resolv}");
    assert_eq!(resolv, RESOLV_CONF);
    let (_, hosts) = in_pod(kc, "default", client, &["cat", "/etc/hosts"]);
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file.\n") && hosts.contains(&format!("\t{client}\n")),
        "{hosts}"
    );
    let lookup = eventually(
        "nslookup myapp",
        || in_pod(kc, "default", client, &["nslookup", "myapp"]),
        // busybox asks every search domain (A and AAAA) and exits 1 when any is
        // NXDOMAIN, as `myapp.svc.cluster.local` is: read the answer, not the status.
        |(_, out)| has_answer(out, cluster_ip),
    );
    println!("lab: nslookup myapp (in {client})\n{}", lookup.1);
    let hello = r#"Hello MyApp | Version: v2 | <a href="hostname.html">Pod Name</a>"#;
    for url in ["http://myapp", "http://myapp.default.svc.cluster.local"] {
        let (ok, body) = in_pod(kc, "default", client, &["curl", "-s", "--fail", "--max-time", "5", url]);
        assert!(ok && body.trim() == hello, "curl {url}: {body}");
    }

    // An ExternalName Service is a CNAME.
    let dir = e2e::ScratchDir::new("lab-dns");
    let ext = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"ext"},"spec":{"type":"ExternalName","externalName":"www.example.com"}}"#;
    std::fs::write(dir.0.join("ext.json"), ext).unwrap();
    kubectl_ok(kc, &["apply", "-f", dir.0.join("ext.json").to_str().unwrap()]);
    let cname = eventually(
        "ExternalName answered as a CNAME",
        || in_pod(kc, "default", client, &["nslookup", "-type=CNAME", "ext.default.svc.cluster.local"]),
        |(_, out)| out.contains("canonical name = www.example.com"),
    );
    println!("lab: nslookup -type=CNAME ext.default.svc.cluster.local\n{}", cname.1);

    // One DNS pod deleted: every query still answers, through the other replica.
    let (victim, _, victim_ip) = pods[0].clone();
    kubectl_ok(kc, &["delete", "pod", "-n", "kube-system", &victim, "--wait=false"]);
    let mut failures = Vec::new();
    let mut answered = 0;
    loop {
        let (_, out) = in_pod(kc, "default", client, &["nslookup", "myapp"]);
        match has_answer(&out, cluster_ip) {
            true => answered += 1,
            false => failures.push(out),
        }
        let now = endpoints();
        if !now.contains(&victim_ip) && now.len() == 2 && answered >= 10 {
            break;
        }
        assert!(answered + failures.len() < 200, "the DNS pod was not replaced: endpoints {now:?}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries failed while a DNS pod went: {failures:?}",
        failures.len(),
        answered + failures.len()
    );
    let replaced = dns_pods(kc);
    assert!(replaced.iter().all(|(n, _, _)| *n != victim), "{replaced:?}");
    println!("lab: {answered} lookups answered while {victim} was replaced");
}
