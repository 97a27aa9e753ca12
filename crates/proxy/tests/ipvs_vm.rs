//! The IPVS mode on a kernel that has IPVS: a small VM (Debian's cloud
//! kernel, `scripts/ipvs-vm`) runs the proxy against this host's apiserver,
//! with three pods of its own (network namespaces). The table the kernel
//! ends up with (`ipvsadm -Ln` in the VM) must be the table the proxy
//! computes (a dry-run proxy's `/rules` on the host), requests must reach
//! the pods, and scaling, deleting and restarting must do what they should;
//! a LoadBalancer address keeps its clients' addresses under `Local` and
//! lets in only its `loadBalancerSourceRanges`. The VM prints what it sees between markers; the test reads its console
//! and changes the cluster when it says `STEP ...`.

use e2e::{dry_run_proxy, eventually_async, http, spawn, workspace_binary, Apiserver, Etcd};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// An `ipvsadm -Ln` table as {virtual server line: {real server: address,
/// forwarding, weight}}.
fn parse(table: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = None;
    for line in table.lines() {
        if ["TCP  ", "UDP  ", "SCTP  "].iter().any(|p| line.starts_with(p)) {
            current = Some(line.trim_end().to_string());
            out.entry(line.trim_end().to_string()).or_default();
        } else if line.starts_with("  -> ") && !line.contains("RemoteAddress") {
            // Address, forwarding and weight; not the connection counters.
            let fields: Vec<&str> = line.split_whitespace().skip(1).take(3).collect();
            if let Some(vs) = &current {
                out.entry(vs.clone()).or_default().insert(fields.join(" "));
            }
        }
    }
    out
}

/// The VM's console, line by line, as it comes.
struct Console {
    lines: std::sync::mpsc::Receiver<String>,
    seen: String,
}

impl Console {
    /// Reads until a line with `prefix`; returns the line from there on.
    fn until(&mut self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let line = line.trim_end_matches('\r').to_string();
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    // The console's first line may begin with terminal escapes.
                    if let Some(at) = line.find(prefix) {
                        return line[at..].to_string();
                    }
                }
                Err(_) => panic!("the VM never printed {prefix:?}; its console:\n{}", self.seen),
            }
        }
    }

    /// Reads until a line with `prefix`, which must then read `want`.
    fn expect(&mut self, prefix: &str, want: &str) {
        let line = self.until(prefix);
        assert_eq!(line, want, "the VM's console:\n{}", self.seen);
    }

    /// The lines between `NAME-BEGIN` and `NAME-END`.
    fn section(&mut self, name: &str) -> String {
        self.until(&format!("{name}-BEGIN"));
        let start = self.seen.len();
        self.until(&format!("{name}-END"));
        let text = &self.seen[start..];
        text[..text.rfind(&format!("{name}-END")).unwrap_or(text.len())].to_string()
    }
}

/// The LoadBalancer address scripts/ipvs-vm's clients try.
const LB_IP: &str = "192.0.2.10";

async fn set_ready(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let mut pod = pods.get(name).await.unwrap();
    pod.status = Some(
        serde_json::from_value(json!({"phase":"Running","podIP":ip,"conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}))
            .unwrap(),
    );
    pods.replace_status(name, &PostParams::default(), &pod).await.unwrap();
}

/// Acceptance 3 of the proxy issue: IPVS mode on a kernel that has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipvs_mode_in_a_vm_programs_the_kernel_and_its_pods_answer() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let _controller = spawn(&workspace_binary("controller"), &["--server", &api.url, "--controllers", "endpoints"]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    // The tutorial's Service, as a NodePort so that path is tested too.
    let svc: Service = serde_json::from_value(
        json!({"metadata":{"name":"myapp"},"spec":{"type":"NodePort","selector":{"app":"myapp"},
        "ports":[{"name":"http","port":80,"targetPort":80}]}}),
    )
    .unwrap();
    let spec = svcs.create(&PostParams::default(), &svc).await.unwrap().spec.unwrap();
    let (cluster_ip, node_port) = (spec.cluster_ip.unwrap(), spec.ports.unwrap()[0].node_port.unwrap());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    // The VM's pods: 10.244.9.10, .11, .12 (scripts/ipvs-vm makes them).
    for i in 0..3 {
        let pod: Pod = serde_json::from_value(json!({"metadata":{"name":format!("pod-{i}"),"labels":{"app":"myapp"}},
            "spec":{"nodeName":"vm","containers":[{"name":"c","image":"x"}]}}))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
        set_ready(&pods, &format!("pod-{i}"), &format!("10.244.9.1{i}"), true).await;
    }

    // What the proxy computes for the VM's node.
    let proxy =
        dry_run_proxy(Path::new(env!("CARGO_BIN_EXE_proxy")), &api.url, "vm", &["--nodeport-addresses", "10.0.2.15"]);
    let rules_url = proxy.healthz.clone();
    let want = eventually_async(
        "the computed table",
        async || parse(&http("GET", &rules_url, "/rules", None, "").1),
        |t| t.get(&format!("TCP  {cluster_ip}:80 rr")).is_some_and(|rs| rs.len() == 3),
    )
    .await;

    // The VM: build it, boot it (software emulation: this host's KVM cannot run it), follow its console.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let built = Command::new(repo.join("scripts/ipvs-vm")).arg(env!("CARGO_BIN_EXE_proxy")).output().unwrap();
    assert!(built.status.success(), "scripts/ipvs-vm: {}", String::from_utf8_lossy(&built.stderr));
    let vm = repo.join("target/ipvs-vm");
    let append = format!(
        "console=ttyS0 quiet panic=-1 mk.server=http://10.0.2.2:{} mk.vip={cluster_ip} mk.nodeport={node_port}",
        api.port
    );
    let mut qemu = std::process::Command::new("timeout")
        .args(["300", "qemu-system-x86_64", "-m", "512", "-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(vm.join("vmlinuz"))
        .arg("-initrd")
        .arg(vm.join("initrd.img"))
        .args(["-append", &append, "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = qemu.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut console = Console { lines: rx, seen: String::new() };
    let c = &mut console;
    let vm_line = tokio::task::block_in_place(|| c.until("VM: kernel"));
    assert!(vm_line.contains("IPVS: IP Virtual Server version"), "the VM's kernel has IPVS: {vm_line}");

    // The kernel's table is the one the proxy computes; every pod answers
    // through the ClusterIP and the NodePort; the node's other ports are not
    // reachable through the ClusterIP.
    let table = tokio::task::block_in_place(|| c.section("TABLE-1"));
    assert_eq!(parse(&table), want, "the kernel's table (left) is what the proxy computed (right):\n{table}");
    let all = "pod-0 pod-1 pod-2 ";
    tokio::task::block_in_place(|| c.expect("CLUSTER-IP:", &format!("CLUSTER-IP: {all}")));
    tokio::task::block_in_place(|| c.expect("NODE-PORT:", &format!("NODE-PORT: {all}")));
    tokio::task::block_in_place(|| c.expect("OTHER-PORT:", "OTHER-PORT: refused"));
    tokio::task::block_in_place(|| c.expect("NODE-HEALTHZ:", "NODE-HEALTHZ: open"));

    // Scaling: a pod leaves the endpoints, then comes back.
    tokio::task::block_in_place(|| c.until("STEP scale-down"));
    set_ready(&pods, "pod-2", "10.244.9.12", false).await;
    let table = tokio::task::block_in_place(|| c.section("TABLE-2"));
    assert!(!table.contains("10.244.9.12") && table.contains("10.244.9.11"), "{table}");
    tokio::task::block_in_place(|| c.expect("CLUSTER-IP:", "CLUSTER-IP: pod-0 pod-1 "));
    tokio::task::block_in_place(|| c.until("STEP scale-up"));
    set_ready(&pods, "pod-2", "10.244.9.12", true).await;
    let before = tokio::task::block_in_place(|| c.section("TABLE-3"));
    assert_eq!(parse(&before), want);

    // A restarted proxy changes nothing in the kernel.
    tokio::task::block_in_place(|| c.expect("RESTART-", "RESTART-proxy_kernel_operations_total 0"));
    let after = tokio::task::block_in_place(|| c.section("TABLE-4"));
    assert_eq!(parse(&after), parse(&before));

    // A LoadBalancer (its address written as a load balancer controller
    // would): under `Local` a client keeps its address, and only the
    // clients of `loadBalancerSourceRanges` get in; changed to Cluster and
    // a wider range, without a virtual server coming or going, the other
    // client gets in, masqueraded as the node.
    tokio::task::block_in_place(|| c.until("STEP lb"));
    let lb: Service = serde_json::from_value(json!({"metadata":{"name":"lb"},"spec":{"type":"LoadBalancer",
        "selector":{"app":"myapp"},"externalTrafficPolicy":"Local","loadBalancerSourceRanges":["10.0.9.2/32"],
        "ports":[{"port":80,"targetPort":80}]}}))
    .unwrap();
    svcs.create(&PostParams::default(), &lb).await.unwrap();
    let mut lb = svcs.get_status("lb").await.unwrap();
    lb.status =
        Some(serde_json::from_value(json!({"loadBalancer":{"ingress":[{"ip":LB_IP,"ipMode":"VIP"}]}})).unwrap());
    svcs.replace_status("lb", &PostParams::default(), &lb).await.unwrap();
    let table = tokio::task::block_in_place(|| c.section("LB-TABLE"));
    let lb_table = parse(&table);
    assert_eq!(lb_table.get(&format!("TCP  {LB_IP}:80 rr")).map(|rs| rs.len()), Some(3), "{table}");
    tokio::task::block_in_place(|| c.expect("LB-ALLOWED:", "LB-ALLOWED: 10.0.9.2"));
    tokio::task::block_in_place(|| c.expect("LB-DENIED:", "LB-DENIED: blocked"));
    tokio::task::block_in_place(|| c.until("STEP lb-cluster"));
    let patch = json!({"spec":{"externalTrafficPolicy":"Cluster","loadBalancerSourceRanges":["10.0.9.0/24"]}});
    svcs.patch("lb", &Default::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    tokio::task::block_in_place(|| c.expect("LB-CLUSTER:", "LB-CLUSTER: 10.244.9.1"));

    // Deleting the Services removes their virtual servers and addresses.
    tokio::task::block_in_place(|| c.until("STEP delete"));
    svcs.delete("myapp", &Default::default()).await.unwrap();
    svcs.delete("lb", &Default::default()).await.unwrap();
    let table = tokio::task::block_in_place(|| c.section("TABLE-5"));
    assert!(!table.contains(&cluster_ip) && !table.contains(&format!(":{node_port}")), "{table}");
    assert!(!table.contains(LB_IP), "{table}");
    assert!(table.contains("TCP  10.96.0.1:443 rr"), "the kubernetes Service stays: {table}");
    let dummy = tokio::task::block_in_place(|| c.section("KUBE-IPVS0"));
    assert!(!dummy.contains(&cluster_ip) && !dummy.contains(LB_IP) && dummy.contains("inet 10.96.0.1/32"), "{dummy}");
    let nft = tokio::task::block_in_place(|| c.section("NFT"));
    // nft lists a protocol in a concatenation by number: 6 is TCP.
    assert!(nft.contains("chain filter-input") && nft.contains("elements = { 10.96.0.1 . 6 . 443 }"), "{nft}");
    assert!(!nft.contains(&cluster_ip), "the deleted Service's rules are gone: {nft}");
    let log = tokio::task::block_in_place(|| c.section("PROXY-LOG"));
    assert!(!log.contains("ERROR"), "the proxy in the VM reported errors:\n{log}");
    tokio::task::block_in_place(|| c.until("SCENARIO-DONE"));
    let _ = qemu.wait();
}
