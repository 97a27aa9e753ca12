//! The proxy against the real apiserver and controller: the IPVS table it
//! computes (dry run, served on `/rules`), and the nftables mode programming
//! a real kernel, with pods as network namespaces behind a node's bridge.

use e2e::netns::{exec, NodeNet};
use e2e::{dry_run_proxy, eventually_async, http, spawn, workspace_binary, Apiserver, Etcd, Proc};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

async fn make_pod(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    if pods.get_opt(name).await.unwrap().is_none() {
        let pod: Pod = serde_json::from_value(json!({"metadata":{"name":name,"labels":{"app":"myapp"}},
            "spec":{"nodeName":"node1","containers":[{"name":"myapp","image":"myapp:v2","ports":[{"containerPort":80}]}]}}))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let mut pod = pods.get(name).await.unwrap();
    pod.status = Some(serde_json::from_value(json!({"phase":"Running","podIP":ip,"conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]})).unwrap());
    pods.replace_status(name, &PostParams::default(), &pod).await.unwrap();
}

async fn register_node(client: &kube::Client, ip: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata":{"name":"node1"}})).unwrap())
        .await
        .unwrap();
    let mut node = nodes.get("node1").await.unwrap();
    node.status = Some(
        serde_json::from_value(
            json!({"addresses":[{"type":"InternalIP","address":ip}],"conditions":[{"type":"Ready","status":"True"}]}),
        )
        .unwrap(),
    );
    nodes.replace_status("node1", &PostParams::default(), &node).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_serves_the_ipvs_table_of_the_cluster() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let _controller = spawn(&workspace_binary("controller"), &["--server", &api.url, "--controllers", "endpoints"]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    register_node(&client, "192.168.66.20").await;
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let svc: Service = serde_json::from_value(
        json!({"metadata":{"name":"myapp"},"spec":{"type":"NodePort","selector":{"app":"myapp"},
        "ports":[{"name":"http","port":80,"targetPort":80,"nodePort":30080}]}}),
    )
    .unwrap();
    let ip = svcs.create(&PostParams::default(), &svc).await.unwrap().spec.unwrap().cluster_ip.unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for (name, ip) in [("a", "10.244.1.31"), ("b", "10.244.1.32"), ("c", "10.244.2.41")] {
        make_pod(&pods, name, ip, true).await;
    }

    let proxy = dry_run_proxy(Path::new(env!("CARGO_BIN_EXE_proxy")), &api.url, "node1", &[]);
    let healthz_url = proxy.healthz.clone();
    let want = format!(
        "TCP  {ip}:80 rr\n  -> 10.244.1.31:80               Masq    1      0          0         \n  -> 10.244.1.32:80               Masq    1      0          0         \n  -> 10.244.2.41:80               Masq    1      0          0         \n"
    );
    let rules = eventually_async(
        "the table on /rules",
        async || http("GET", &healthz_url, "/rules", None, "").1,
        |r| r.contains(&want),
    )
    .await;
    assert!(
        rules.starts_with("IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n"),
        "{rules}"
    );
    assert!(rules.contains("TCP  10.96.0.1:443 rr\n  -> 127.0.0.1:"), "the kubernetes Service: {rules}");
    assert!(rules.contains("TCP  192.168.66.20:30080 rr\n"), "the NodePort on the node's InternalIP: {rules}");
    let (code, body) = http("GET", &healthz_url, "/healthz", None, "");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("lastUpdated"));
    // kube-proxy's `/proxyMode` (on the metrics port, here on both).
    assert_eq!(http("GET", &proxy.metrics, "/proxyMode", None, ""), (200, "dry-run".into()));
    assert_eq!(http("GET", &healthz_url, "/proxyMode", None, ""), (200, "dry-run".into()));

    // A pod turns not-ready: it leaves the table.
    make_pod(&pods, "b", "10.244.1.32", false).await;
    eventually_async(
        "10.244.1.32 gone",
        async || http("GET", &healthz_url, "/rules", None, "").1,
        |r| !r.contains("10.244.1.32"),
    )
    .await;
    let (_, text) = http("GET", &proxy.metrics, "/metrics", None, "");
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("kubeproxy_network_programming_duration_seconds_count "))
        .unwrap_or("0");
    assert!(count.parse::<u64>().unwrap() >= 1, "{text}");
    assert!(text.contains("kubeproxy_sync_proxy_rules_duration_seconds_count"));
}

/// A pod's servers in its namespace: HTTP on 80 and UDP on 5353, both
/// answering with the pod's name.
fn pod_server(ns: &str, name: &str) -> Proc {
    let script = r#"
import http.server, socket, sys, threading
name = sys.argv[1].encode()
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 5353))
    while True:
        _, peer = s.recvfrom(512)
        s.sendto(name, peer)
threading.Thread(target=udp, daemon=True).start()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 80), H).serve_forever()
"#;
    spawn(Path::new("ip"), &["netns", "exec", ns, "python3", "-c", script, name])
}

/// `curl` from the node's namespace; the body, or None if nothing answered.
fn curl(ns: &str, url: &str) -> Option<String> {
    let out = exec(ns, &["curl", "-s", "--max-time", "2", url]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One UDP datagram from a new socket in the node's namespace; the reply.
fn udp(ns: &str, ip: &str, port: i32) -> Option<String> {
    let script = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\ns.sendto(b'hi',(sys.argv[1],int(sys.argv[2])))\nprint(s.recv(512).decode(),end='')";
    let out = exec(ns, &["python3", "-c", script, ip, &port.to_string()]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A Service's ClusterIP and first NodePort.
async fn create_service(svcs: &Api<Service>, name: &str, affinity: &str) -> (String, i32) {
    let svc: Service = serde_json::from_value(
        json!({"metadata":{"name":name},"spec":{"type":"NodePort","selector":{"app":"myapp"},"sessionAffinity":affinity,
        "ports":[{"name":"http","port":80,"targetPort":80},{"name":"udp","port":5353,"protocol":"UDP","targetPort":5353}]}}),
    )
    .unwrap();
    let spec = svcs.create(&PostParams::default(), &svc).await.unwrap().spec.unwrap();
    (spec.cluster_ip.unwrap(), spec.ports.unwrap()[0].node_port.unwrap())
}

/// A kernel mode (`nftables`) or the userspace mode, for real: pods are
/// network namespaces behind the node's bridge, the proxy runs in the
/// node's namespace, requests come from there.
async fn balances_a_cluster_ip_and_a_node_port_over_real_pods(mode: &str) {
    let tag = format!("mk{}{}", &mode[..1], std::process::id() % 10000);
    let net = NodeNet::new(&tag, (std::process::id() % 100) as u8 * 2 + 20 + u8::from(mode == "userspace"), 2);
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &["--bind-address", &net.host_ip]);
    let _controller = spawn(&workspace_binary("controller"), &["--server", &api.url, "--controllers", "endpoints"]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    register_node(&client, &net.node_ip).await;
    let _servers: Vec<Proc> =
        net.pods.iter().enumerate().map(|(i, p)| pod_server(&p.name, &format!("pod-{i}"))).collect();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for i in 0..2 {
        make_pod(&pods, &format!("pod-{i}"), &NodeNet::pod_ip(i), true).await;
    }
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let (cluster_ip, node_port) = create_service(&svcs, "myapp", "None").await;
    let (sticky_ip, _) = create_service(&svcs, "sticky", "ClientIP").await;

    let proxy_bin = Path::new(env!("CARGO_BIN_EXE_proxy"));
    let _proxy = spawn(
        Path::new("ip"),
        &[
            "netns",
            "exec",
            &net.node.name,
            proxy_bin.to_str().unwrap(),
            "--server",
            &api.url,
            "--proxy-mode",
            mode,
            "--hostname-override",
            "node1",
        ],
    );
    let node = net.node.name.clone();
    let answers = |url: String, n: usize| {
        let node = node.clone();
        async move { (0..n).filter_map(|_| curl(&node, &url)).collect::<BTreeSet<String>>() }
    };
    let both: BTreeSet<String> = ["pod-0".to_string(), "pod-1".to_string()].into();
    eventually_async(
        "the ClusterIP reaches both pods",
        async || answers(format!("http://{cluster_ip}/"), 20).await,
        |s| *s == both,
    )
    .await;
    eventually_async(
        "the NodePort reaches both pods",
        async || answers(format!("http://{}:{node_port}/", net.node_ip), 20).await,
        |s| *s == both,
    )
    .await;
    eventually_async(
        "UDP to the ClusterIP reaches both pods",
        async || (0..20).filter_map(|_| udp(&node, &cluster_ip, 5353)).collect::<BTreeSet<String>>(),
        |s| *s == both,
    )
    .await;
    // sessionAffinity: ClientIP: one client, one pod, every time.
    let sticky = answers(format!("http://{sticky_ip}/"), 12).await;
    assert_eq!(sticky.len(), 1, "ClientIP affinity: {sticky:?}");

    // A pod turns not-ready: it stops getting requests.
    make_pod(&pods, "pod-1", &NodeNet::pod_ip(1), false).await;
    let only0: BTreeSet<String> = ["pod-0".to_string()].into();
    eventually_async(
        "only pod-0 answers",
        async || answers(format!("http://{cluster_ip}/"), 20).await,
        |s| *s == only0,
    )
    .await;

    // --cleanup removes what the proxy made and nothing else.
    drop(_proxy);
    let out = exec(&net.node.name, &[proxy_bin.to_str().unwrap(), "--cleanup"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!exec(&net.node.name, &["nft", "list", "table", "ip", "mini-kube-proxy"]).status.success());
    assert!(!exec(&net.node.name, &["ip", "link", "show", "kube-ipvs0"]).status.success());
    assert!(curl(&net.node.name, &format!("http://{cluster_ip}/")).is_none(), "no proxy, no ClusterIP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nftables_mode_balances_a_cluster_ip_and_a_node_port_over_real_pods() {
    balances_a_cluster_ip_and_a_node_port_over_real_pods("nftables").await;
}

/// The userspace mode needs neither IPVS nor nftables: it must not create
/// any nftables table while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userspace_mode_balances_a_cluster_ip_and_a_node_port_over_real_pods() {
    balances_a_cluster_ip_and_a_node_port_over_real_pods("userspace").await;
}
