//! A node agent that dies, for real: kubelet-lite in a node's network
//! namespace and the controller's node lifecycle loop, read with kubectl.
//! Alive, the node stays Ready across its renewals; killed, it turns
//! NotReady (Ready Unknown) and is tainted after the grace period; started
//! again, it is Ready and untainted.

use e2e::netns::NodeNet;
use e2e::{eventually, kubectl_ok, spawn, workspace_binary, Apiserver, Etcd, Kubeconfig, Proc};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// (Ready status, taints as `key:effect`) of node1.
fn health(kc: &Kubeconfig) -> (String, Vec<String>) {
    let node: Value = serde_json::from_str(&kubectl_ok(kc, &["get", "node", "node1", "-o", "json"])).unwrap();
    let ready = node["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Ready");
    let taints = node["spec"]["taints"].as_array().into_iter().flatten();
    (
        ready.and_then(|c| c["status"].as_str()).unwrap_or_default().to_string(),
        taints.map(|t| format!("{}:{}", t["key"].as_str().unwrap(), t["effect"].as_str().unwrap())).collect(),
    )
}

#[test]
fn a_killed_node_agent_turns_its_node_not_ready_and_a_restarted_one_recovers_it() {
    let tag = format!("nf{}", std::process::id() % 10000);
    let net = NodeNet::new(&tag, (std::process::id() % 200) as u8 + 20, 0);
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &["--bind-address", &net.host_ip]);
    let kc = Kubeconfig::new(&api.url);
    // Longer than the 10 s renewal (or a live node would flap), shorter than upstream's 50 s.
    let grace = Duration::from_secs(13);
    let _controller = spawn(
        &workspace_binary("controller"),
        &["--server", &api.url, "--controllers", "nodelifecycle", "--node-monitor-grace-period", "13s"],
    );
    let args = net.kubelet_args(&api.url);
    let kubelet = Path::new(env!("CARGO_BIN_EXE_kubelet-lite"));
    let start = || net.spawn(kubelet, &args);
    let agent: Proc = start();
    eventually("node1 registered", || e2e::kubectl(&kc, &["get", "node", "node1"]).status.success(), |ok| *ok);
    eventually("node1 Ready", || health(&kc), |h| h.0 == "True");

    // Alive past the grace period: still Ready, never tainted.
    std::thread::sleep(grace + Duration::from_secs(1));
    assert_eq!(health(&kc), ("True".to_string(), vec![]));

    drop(agent); // SIGKILL
    let killed = Instant::now();
    let rows = |kc: &Kubeconfig| e2e::table_rows(&kubectl_ok(kc, &["get", "node", "node1"]));
    let mut last = None;
    while killed.elapsed() < grace + Duration::from_secs(15) {
        let h = health(&kc);
        if h.0 == "Unknown" && h.1.len() == 2 {
            last = Some(h);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = killed.elapsed();
    eprintln!("node1 NotReady and tainted {took:?} after its agent was killed (grace {grace:?}, renewals every 10 s)");
    let (_, taints) = last.expect("node1 turned Unknown and tainted");
    assert_eq!(taints, ["node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"]);
    assert!(took <= grace + Duration::from_secs(2), "at most the grace period after the last renewal: {took:?}");
    assert_eq!(rows(&kc)[1][1], "NotReady");

    // Started again: its first status write makes it Ready, and the taints go.
    let _agent = start();
    eventually("node1 recovers", || health(&kc), |h| h.0 == "True" && h.1.is_empty());
    assert_eq!(rows(&kc)[1][1], "Ready");
}
