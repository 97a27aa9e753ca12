//! The tutorial on one lab node, for real: apiserver and controller on the
//! host, and in the node's network namespace kubelet-lite (pods as network
//! namespaces running the demo app) and the proxy (nftables). Driven with
//! kubectl; checked with curl from the node, as the tutorial does.

use e2e::netns::{exec, NodeNet};
use e2e::{eventually, kubectl_ok, spawn, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig, ScratchDir};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).to_string_lossy().into_owned()
}

fn curl(ns: &str, url: &str) -> Option<String> {
    let out = exec(ns, &["curl", "-s", "--fail", "--max-time", "2", url]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// (name, ready, status, ip) of the Deployment's pods, from `kubectl get pod -o wide`.
fn pods(kc: &Kubeconfig) -> Vec<Vec<String>> {
    let out = kubectl_ok(kc, &["get", "pod", "-l", "app=myapp", "-o", "wide"]);
    table_rows(&out).into_iter().skip(1).collect()
}

#[test]
fn curl_the_cluster_ip_like_the_tutorial() {
    let tag = format!("kl{}", std::process::id() % 10000);
    let net = NodeNet::new(&tag, (std::process::id() % 200) as u8 + 20, 0);
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &["--bind-address", &net.host_ip]);
    let kc = Kubeconfig::new(&api.url);
    let _controller = spawn(&workspace_binary("controller"), &["--server", &api.url]);
    let node = net.node.name.clone();
    let scratch = ScratchDir::new("tutorial");
    let (logs, root) = (scratch.0.join("logs"), scratch.0.join("root"));
    let dirs = ["--pod-logs-dir", logs.to_str().unwrap(), "--root-dir", root.to_str().unwrap()];
    let kubelet_bin = Path::new(env!("CARGO_BIN_EXE_kubelet-lite"));
    let kubelet_args = [dirs.as_slice(), &net.kubelet_args(&api.url)].concat();
    let kubelet = net.spawn(kubelet_bin, &kubelet_args);
    let _proxy = net.spawn(
        &workspace_binary("proxy"),
        &["--server", &api.url, "--proxy-mode", "nftables", "--hostname-override", "node1"],
    );

    eventually(
        "node1 Ready",
        || table_rows(&kubectl_ok(&kc, &["get", "nodes"])),
        |r| r.len() == 2 && r[1][..2] == ["node1", "Ready"],
    );
    kubectl_ok(&kc, &["apply", "-f", &example("svc-deployment.yaml")]);
    kubectl_ok(&kc, &["apply", "-f", &example("svc.yaml")]);

    let running = eventually(
        "3 pods Running",
        || pods(&kc),
        |p| p.len() == 3 && p.iter().all(|r| r[1] == "1/1" && r[2] == "Running"),
    );
    for row in &running {
        assert!(row[5].starts_with("10.244.1."), "{row:?}");
        assert_eq!(row[6], "node1");
    }
    let cluster_ip = table_rows(&kubectl_ok(&kc, &["get", "svc", "myapp"]))[1][2].clone();

    // Every process of a pod reads the resolver files the kubelet wrote for it:
    // `ip netns exec` mounts /etc/netns/<pod netns>/ over /etc.
    let netns_of = |pod: &str| {
        let uid = kubectl_ok(&kc, &["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"]);
        format!("kl-{}", uid.chars().filter(char::is_ascii_alphanumeric).take(8).collect::<String>())
    };
    let pod_netns: Vec<String> = running.iter().map(|r| netns_of(&r[0])).collect();
    for (row, netns) in running.iter().zip(&pod_netns) {
        let cat = |file: &str| String::from_utf8_lossy(&exec(netns, &["cat", file]).stdout).into_owned();
        assert_eq!(
            cat("/etc/resolv.conf"),
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
        assert_eq!(cat("/etc/hostname"), format!("{}\n", row[0]));
        assert!(cat("/etc/hosts").ends_with(&format!("{}\t{}\n", row[5], row[0])), "{}", cat("/etc/hosts"));
    }

    let hello = eventually("curl the ClusterIP", || curl(&node, &format!("http://{cluster_ip}")), Option::is_some);
    assert_eq!(hello.unwrap(), r#"Hello MyApp | Version: v2 | <a href="hostname.html">Pod Name</a>"#);
    let names: BTreeSet<String> = running.iter().map(|r| r[0].clone()).collect();
    eventually(
        "every pod answers in turn",
        || (0..30).filter_map(|_| curl(&node, &format!("http://{cluster_ip}/hostname.html"))).collect::<BTreeSet<_>>(),
        |seen| *seen == names,
    );

    // A restarted kubelet-lite adopts its pods: same pods, same IPs, still answering.
    drop(kubelet);
    let _kubelet = net.spawn(kubelet_bin, &kubelet_args);
    std::thread::sleep(Duration::from_secs(2));
    let after = eventually("3 pods still Running", || pods(&kc), |p| p.len() == 3 && p.iter().all(|r| r[1] == "1/1"));
    let ips = |rows: &[Vec<String>]| rows.iter().map(|r| (r[0].clone(), r[5].clone())).collect::<BTreeSet<_>>();
    assert_eq!(ips(&after), ips(&running), "the same pods at the same addresses");
    eventually(
        "every pod still answers",
        || (0..30).filter_map(|_| curl(&node, &format!("http://{cluster_ip}/hostname.html"))).collect::<BTreeSet<_>>(),
        |seen| *seen == names,
    );

    // Delete a pod while requests keep coming: it leaves the rules before
    // its server stops, so no request fails.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = {
        let (stop, ok, failed, node, url) =
            (stop.clone(), ok.clone(), failed.clone(), node.clone(), format!("http://{cluster_ip}/hostname.html"));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match curl(&node, &url) {
                    Some(_) => ok.fetch_add(1, Ordering::Relaxed),
                    None => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    let victim = running[0][0].clone();
    kubectl_ok(&kc, &["delete", "pod", &victim, "--wait=false"]);
    eventually(
        "the pod is gone and replaced",
        || pods(&kc),
        |p| p.len() == 3 && !p.iter().any(|r| r[0] == victim) && p.iter().all(|r| r[1] == "1/1"),
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "{} requests failed during the removal ({} succeeded)",
        failed.load(Ordering::Relaxed),
        ok.load(Ordering::Relaxed)
    );
    assert!(ok.load(Ordering::Relaxed) > 10);

    // Delete the Service: its rules go.
    kubectl_ok(&kc, &["delete", "svc", "myapp"]);
    eventually("the ClusterIP stops answering", || curl(&node, &format!("http://{cluster_ip}")), Option::is_none);
    kubectl_ok(&kc, &["delete", "deployment", "myapp-deploy"]);
    eventually("pods gone", || pods(&kc), Vec::is_empty);
    // (The list is the machine's: other tests' pods may be in it.)
    eventually(
        "sandboxes gone",
        || {
            let list = String::from_utf8_lossy(&exec(&node, &["ip", "netns", "list"]).stdout).into_owned();
            pod_netns.iter().filter(|n| list.contains(n.as_str())).cloned().collect::<Vec<_>>()
        },
        Vec::is_empty,
    );
    // Their /etc files go with them.
    for netns in &pod_netns {
        assert!(!Path::new("/etc/netns").join(netns).exists(), "/etc/netns/{netns} left behind");
    }
    // And their servers, the adopted ones included.
    let servers = || {
        let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
        let text = String::from_utf8_lossy(&ps.stdout).into_owned();
        text.lines().filter(|l| l.contains("demo-app") && names.iter().any(|n| l.contains(n.as_str()))).count()
    };
    eventually("no pod server left running", servers, |n| *n == 0);
}
