//! LoadBalancer assignment, timed on a watch: `scripts/bench-lb` runs it
//! against the compose lab (`cargo run --release -p e2e --bin bench-lb --
//! [SERVICES]`, KUBECONFIG naming the lab).
//!
//! One Service at a time (the tutorial's pods behind `type: LoadBalancer`):
//! from the create request to the watch event that carries its EXTERNAL-IP
//! (service-lb's assignment: goal p99 ≤ 100 ms), and on to the first
//! successful HTTP answer from that address here on the host (the
//! announcing node holds it, the proxy carries it: goal p99 ≤ 1 s). A watch
//! and raw sockets, not kubectl and curl in a loop, so a figure holds no
//! process start-up and no polling interval.

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const LABEL: &str = "bench=lb";

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn service(name: &str) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": {"bench": "lb"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": "myapp"}, "ports": [{"port": 80, "targetPort": 80}]},
    }))
    .expect("a Service")
}

fn external_ip(svc: &Service) -> Option<String> {
    svc.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref()?.first()?.ip.clone()
}

/// One `GET /` to `ip:80`; whether it answered 200.
fn answers(ip: &str) -> bool {
    let Ok(addr) = format!("{ip}:80").parse::<SocketAddr>() else { return false };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let request = format!("GET / HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 12];
    s.write_all(request.as_bytes()).is_ok() && s.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let services: usize = std::env::args().nth(1).map_or(Ok(50), |n| n.parse())?;
    let client = kube::Client::try_default().await?;
    let api: Api<Service> = Api::default_namespaced(client);
    api.delete_collection(&DeleteParams::default(), &ListParams::default().labels(LABEL)).await?;

    // The watch reports each Service's first EXTERNAL-IP, when it arrives.
    let (tx, mut assigned) = mpsc::unbounded_channel::<(String, String, Instant)>();
    let watched = api.clone();
    tokio::spawn(async move {
        let mut seen = std::collections::HashSet::new();
        let mut events = watcher(watched, watcher::Config::default().labels(LABEL)).applied_objects().boxed();
        while let Some(Ok(svc)) = events.next().await {
            let name = svc.metadata.name.clone().unwrap_or_default();
            if let Some(ip) = external_ip(&svc).filter(|_| !seen.contains(&name)) {
                seen.insert(name.clone());
                let _ = tx.send((name, ip, Instant::now()));
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await; // the watch is open

    let (mut to_ip, mut to_answer) = (Vec::new(), Vec::new());
    let mut early: HashMap<String, (String, Instant)> = HashMap::new();
    for i in 0..services {
        let name = format!("bench-lb-{i}");
        let created = Instant::now();
        api.create(&PostParams::default(), &service(&name)).await?;
        let (ip, at) = loop {
            if let Some(hit) = early.remove(&name) {
                break hit;
            }
            let (n, ip, at) = tokio::time::timeout(Duration::from_secs(30), assigned.recv())
                .await
                .map_err(|_| anyhow::anyhow!("{name}: no EXTERNAL-IP within 30 s"))?
                .ok_or_else(|| anyhow::anyhow!("the watch ended"))?;
            early.insert(n, (ip, at));
        };
        to_ip.push(at.duration_since(created));
        let probe = ip.clone();
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !answers(&probe) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        })
        .await?;
        anyhow::ensure!(answers(&ip), "{name}: {ip} did not answer within 30 s");
        to_answer.push(created.elapsed());
    }
    for (what, mut xs) in [("EXTERNAL-IP on a watch", to_ip), ("first HTTP 200 from the host", to_answer)] {
        xs.sort();
        println!(
            "bench-lb: {services} Services, created -> {what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&xs, 0.5),
            percentile(&xs, 0.99),
            percentile(&xs, 1.0)
        );
    }
    api.delete_collection(&DeleteParams::default(), &ListParams::default().labels(LABEL)).await?;
    Ok(())
}
