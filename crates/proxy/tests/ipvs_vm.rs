//! The IPVS mode on a kernel that has IPVS: a small VM (Debian's cloud
//! kernel, `scripts/ipvs-vm`) runs the proxy against this host's apiserver;
//! the table the kernel ends up with (`ipvsadm -Ln` in the VM) must be the
//! table the proxy computes (a dry-run proxy's `/rules` on the host).

use e2e::{eventually_async, free_port, http, spawn, workspace_binary, Apiserver, Etcd};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// An `ipvsadm -Ln` table as {virtual server line: {real server lines}}.
fn parse(table: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = None;
    for line in table.lines() {
        if ["TCP  ", "UDP  ", "SCTP  "].iter().any(|p| line.starts_with(p)) {
            current = Some(line.trim_end().to_string());
            out.entry(line.trim_end().to_string()).or_default();
        } else if line.starts_with("  -> ") && !line.contains("RemoteAddress") {
            if let Some(vs) = &current {
                out.entry(vs.clone()).or_default().insert(line.trim_end().to_string());
            }
        }
    }
    out
}

fn between<'a>(text: &'a str, begin: &str, end: &str) -> &'a str {
    let start = text.find(begin).map_or(0, |i| i + begin.len());
    let stop = text[start..].find(end).map_or(text.len(), |i| start + i);
    &text[start..stop]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_holds_the_table_the_proxy_computes() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let _controller = spawn(&workspace_binary("controller"), &["--server", &api.url, "--controllers", "endpoints"]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let svc: Service = serde_json::from_value(
        json!({"metadata":{"name":"myapp"},"spec":{"type":"NodePort","selector":{"app":"myapp"},
        "sessionAffinity":"ClientIP","ports":[{"name":"http","port":80,"targetPort":80}]}}),
    )
    .unwrap();
    let cluster_ip = svcs.create(&PostParams::default(), &svc).await.unwrap().spec.unwrap().cluster_ip.unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for (name, ip) in [("a", "10.244.1.31"), ("b", "10.244.1.32"), ("c", "10.244.2.41")] {
        let pod: Pod = serde_json::from_value(json!({"metadata":{"name":name,"labels":{"app":"myapp"}},"spec":{"nodeName":"vm","containers":[{"name":"c","image":"x"}]}})).unwrap();
        let mut pod = pods.create(&PostParams::default(), &pod).await.unwrap();
        pod.status = Some(
            serde_json::from_value(
                json!({"phase":"Running","podIP":ip,"conditions":[{"type":"Ready","status":"True"}]}),
            )
            .unwrap(),
        );
        pods.replace_status(name, &PostParams::default(), &pod).await.unwrap();
    }

    // What the proxy computes for the VM's node.
    let rules_port = free_port();
    let _dry = spawn(
        Path::new(env!("CARGO_BIN_EXE_proxy")),
        &[
            "--server",
            &api.url,
            "--dry-run",
            "--hostname-override",
            "vm",
            "--nodeport-addresses",
            "10.0.2.15",
            "--healthz-bind-address",
            &format!("127.0.0.1:{rules_port}"),
            "--metrics-bind-address",
            "127.0.0.1:0",
        ],
    );
    let rules_url = format!("http://127.0.0.1:{rules_port}");
    let want = eventually_async(
        "the computed table",
        async || parse(&http("GET", &rules_url, "/rules", None, "").1),
        |t| t.get(&format!("TCP  {cluster_ip}:80 rr persistent 10800")).is_some_and(|rs| rs.len() == 3),
    )
    .await;

    // The VM: build it, boot it, read its table.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let built = Command::new(repo.join("scripts/ipvs-vm")).arg(env!("CARGO_BIN_EXE_proxy")).output().unwrap();
    assert!(built.status.success(), "scripts/ipvs-vm: {}", String::from_utf8_lossy(&built.stderr));
    let vm = repo.join("target/ipvs-vm");
    let append = format!("console=ttyS0 quiet panic=-1 mk.server=http://10.0.2.2:{}", api.port);
    let out = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args(["240", "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot"])
            .arg("-kernel")
            .arg(vm.join("vmlinuz"))
            .arg("-initrd")
            .arg(vm.join("initrd.img"))
            .args(["-append", &append, "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(console.contains("IPVS: IP Virtual Server version"), "the VM's kernel has IPVS:\n{console}");
    let table = between(&console, "IPVS-TABLE-BEGIN", "IPVS-TABLE-END");
    let log = between(&console, "PROXY-LOG-BEGIN", "PROXY-LOG-END");
    assert!(!log.contains("ERROR"), "the proxy in the VM reported errors:\n{log}");
    assert_eq!(parse(table), want, "the kernel's table (left) is what the proxy computed (right):\n{table}");
    let dummy = between(&console, "KUBE-IPVS0-BEGIN", "KUBE-IPVS0-END");
    assert!(dummy.contains(&format!("inet {cluster_ip}/32")) && dummy.contains("inet 10.96.0.1/32"), "{dummy}");
}
