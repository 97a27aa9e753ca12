//! Announcing LoadBalancer addresses for real: the service-lb controller
//! assigns an address, two proxies (node1, node2, each in its own network
//! namespace) elect its announcer as MetalLB's speakers do, and exactly
//! the winner holds it on its interface; when the winner's Node stops
//! being Ready, the other takes it over and the first lets it go; when it
//! is Ready again the address moves back, never held by both at once. Each
//! takeover is told with a gratuitous ARP: a pod on the node's bridge that
//! accepts unsolicited ARP (`arp_accept=1`) learns the address's MAC
//! without ever asking.

use e2e::address_monitor::{one_holder_at_a_time, AddressMonitor};
use e2e::netns::{exec, NodeNet};
use e2e::{eventually_async, spawn, workspace_binary, Apiserver, Etcd, Proc};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, PostParams};
use proxy::announce::{announcer, Candidate};
use proxy::handover::HANDOVER;
use serde_json::json;
use std::path::Path;

async fn set_node(client: &kube::Client, name: &str, ip: &str, ready: bool) {
    let nodes: Api<Node> = Api::all(client.clone());
    if nodes.get_opt(name).await.unwrap().is_none() {
        let node = serde_json::from_value(json!({"metadata":{"name":name}})).unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }
    let mut node = nodes.get(name).await.unwrap();
    let status = if ready { "True" } else { "Unknown" };
    node.status = Some(
        serde_json::from_value(json!({"addresses":[{"type":"InternalIP","address":ip}],
            "conditions":[{"type":"Ready","status":status}]}))
        .unwrap(),
    );
    nodes.replace_status(name, &PostParams::default(), &node).await.unwrap();
}

fn holds(ns: &str, ip: &str) -> bool {
    let out = exec(ns, &["ip", "-4", "addr", "show", "dev", "br0"]);
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet {ip}/32"))
}

/// The MAC `ns`'s neighbour table has for `ip`, if any.
fn neighbour(ns: &str, ip: &str) -> Option<String> {
    let out = exec(ns, &["ip", "neigh", "show", ip]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().skip_while(|w| *w != "lladdr").nth(1).map(String::from)
}

fn mac(ns: &str, device: &str) -> String {
    let out = exec(ns, &["cat", &format!("/sys/class/net/{device}/address")]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn proxy(ns: &str, api_url: &str, node: &str) -> Proc {
    let bin = Path::new(env!("CARGO_BIN_EXE_proxy"));
    spawn(
        Path::new("ip"),
        &[
            "netns",
            "exec",
            ns,
            bin.to_str().unwrap(),
            "--server",
            api_url,
            "--proxy-mode",
            "nftables",
            "--hostname-override",
            node,
            "--lb-announce-interface",
            "br0",
            "--sync-period",
            "2",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_the_elected_node_holds_the_address_and_hands_it_over() {
    let tag = format!("mka{}", std::process::id() % 10000);
    let subnet = (std::process::id() % 50) as u8 * 2 + 120;
    let (net1, net2) = (NodeNet::new(&format!("{tag}a"), subnet, 1), NodeNet::new(&format!("{tag}b"), subnet + 1, 1));
    for pod in [&net1.pods[0], &net2.pods[0]] {
        let accept = pod.run(&["sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/arp_accept"]);
        assert!(accept.status.success(), "{accept:?}");
    }
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &["--bind-address", &net1.host_ip]);
    let _controller = spawn(
        &workspace_binary("controller"),
        &["--server", &api.url, "--controllers", "endpoints,service-lb", "--lb-pool", "172.28.9.200-172.28.9.201"],
    );
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    set_node(&client, "node1", &net1.node_ip, true).await;
    set_node(&client, "node2", &net2.node_ip, true).await;
    let svc: Service = serde_json::from_value(json!({"metadata":{"name":"web"},"spec":{
        "type":"LoadBalancer","selector":{"app":"myapp"},"ports":[{"port":80}]}}))
    .unwrap();
    Api::<Service>::default_namespaced(client.clone()).create(&PostParams::default(), &svc).await.unwrap();
    let ip = "172.28.9.200";
    let _p1 = proxy(&net1.node.name, &api.url, "node1");
    let _p2 = proxy(&net2.node.name, &api.url, "node2");

    let both = [
        Candidate { name: "node1".into(), eligible: true, ready: true },
        Candidate { name: "node2".into(), eligible: true, ready: true },
    ];
    let winner = announcer(ip.parse().unwrap(), &both, None).unwrap().to_string();
    let (win, other) = if winner == "node1" { (&net1, &net2) } else { (&net2, &net1) };
    let (win_ns, other_ns, win_ip) = (&win.node.name, &other.node.name, &win.node_ip);
    eventually_async("the winner holds it", async || (holds(win_ns, ip), holds(other_ns, ip)), |h| *h == (true, false))
        .await;
    // Its gratuitous ARP reached the pod on its bridge; the other pod heard nothing.
    let told = |net: &NodeNet| neighbour(&net.pods[0].name, ip);
    eventually_async("the gratuitous ARP", async || told(win), |m| m.as_deref() == Some(&*mac(win_ns, "br0"))).await;
    assert_eq!(told(other), None);

    // The winner's Node is no longer Ready: the other node takes over, and
    // the first lets go (its proxy still runs: it must not keep answering).
    set_node(&client, &winner, win_ip, false).await;
    eventually_async("handed over", async || (holds(win_ns, ip), holds(other_ns, ip)), |h| *h == (false, true)).await;
    eventually_async(
        "the new holder's gratuitous ARP",
        async || told(other),
        |m| m.as_deref() == Some(&*mac(other_ns, "br0")),
    )
    .await;
    // Back: the address returns to the winner, and at no moment do both
    // hold it (the taker waits for the giver: `handover.rs`), as both
    // nodes' `ip monitor` shows on the kernel's one clock.
    let on = |ns: &str| AddressMonitor::start(&["ip", "netns", "exec", ns], "br0");
    let (watch_win, watch_other) = (on(win_ns), on(other_ns));
    set_node(&client, &winner, win_ip, true).await;
    eventually_async("back", async || (holds(win_ns, ip), holds(other_ns, ip)), |h| *h == (true, false)).await;
    let (taker, giver) = (watch_win.stop(ip), watch_other.stop(ip));
    let gaps = one_holder_at_a_time(&[(win_ns, &taker), (other_ns, &giver)]).unwrap();
    assert_eq!(gaps.len(), 1, "one handover: {taker:?} {giver:?}");
    assert!(gaps[0] >= HANDOVER.mul_f64(0.9), "taken {:?} after the drop: sooner than the handover", gaps[0]);
    eprintln!("moved back {:.0} ms after the giver let go (handover {HANDOVER:?})", gaps[0].as_secs_f64() * 1e3);
}
