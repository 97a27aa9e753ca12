//! The controller benchmark: `cargo run --release -p e2e --bin bench-controller`.
//!
//! With 1,000 Services of one pod each, flips pods between ready and not
//! ready 1,000 times, one at a time, and measures from the pod's status
//! write to the moment the updated Endpoints and EndpointSlice arrive on a
//! watch (goal: p99 ≤ 50 ms); then prints the controller's RSS.

use e2e::{spawn, Apiserver, Etcd};
use futures_util::future::join_all;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const SERVICES: usize = 1000;
const CHANGES: usize = 1000;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

/// What a watch saw: (Service name, whether its one pod shows as ready).
type Seen = (String, bool);

fn status(ready: bool, i: usize) -> serde_json::Value {
    let ip = format!("10.244.{}.{}", i / 250, i % 250 + 1);
    json!({"phase":"Running","podIP":ip,"podIPs":[{"ip":ip}],"conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let apiserver_bin = e2e::bench::build_release("apiserver")?;
    let controller_bin = e2e::bench::build_release("controller")?;
    let etcd = Etcd::start();
    let api = Apiserver::start(&apiserver_bin, &etcd, &[]);
    let controller = spawn(&controller_bin, &["--server", &api.url, "--controllers", "endpoints"]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse()?))?;
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());

    // Watches first, so every update is seen.
    let (tx, mut ep_rx) = mpsc::unbounded_channel::<Seen>();
    let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
    tokio::spawn(async move {
        let mut s = watcher(eps, watcher::Config::default()).applied_objects().boxed();
        while let Some(Ok(ep)) = s.next().await {
            let ready = ep.subsets.iter().flatten().any(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty()));
            let _ = tx.send((ep.metadata.name.unwrap_or_default(), ready));
        }
    });
    let (tx, mut slice_rx) = mpsc::unbounded_channel::<Seen>();
    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    tokio::spawn(async move {
        let mut s = watcher(slices, watcher::Config::default()).applied_objects().boxed();
        while let Some(Ok(slice)) = s.next().await {
            let ready = slice.endpoints.iter().any(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true));
            let name = slice
                .metadata
                .labels
                .and_then(|l| l.get(api::well_known::SERVICE_NAME_LABEL).cloned())
                .unwrap_or_default();
            let _ = tx.send((name, ready));
        }
    });

    // 1,000 Services, one ready pod each (16 at a time).
    let started = Instant::now();
    for chunk in (0..SERVICES).collect::<Vec<_>>().chunks(16) {
        join_all(chunk.iter().map(|&i| {
            let (svcs, pods) = (svcs.clone(), pods.clone());
            async move {
                let svc: Service = serde_json::from_value(json!({"metadata":{"name":format!("svc-{i}")},"spec":{"selector":{"app":format!("app-{i}")},"ports":[{"port":80}]}})).unwrap();
                svcs.create(&PostParams::default(), &svc).await.expect("service");
                let pod: Pod = serde_json::from_value(json!({"metadata":{"name":format!("pod-{i}"),"labels":{"app":format!("app-{i}")}},
                    "spec":{"nodeName":"node1","containers":[{"name":"c","image":"x"}]}})).unwrap();
                let mut pod = pods.create(&PostParams::default(), &pod).await.expect("pod");
                pod.status = Some(serde_json::from_value(status(true, i)).unwrap());
                pods.replace_status(&format!("pod-{i}"), &PostParams::default(), &pod).await.expect("status");
            }
        }))
        .await;
    }
    // Wait until every Service has a ready endpoint.
    let mut ready_eps = std::collections::BTreeSet::new();
    while ready_eps.len() < SERVICES {
        let (name, ready) = tokio::time::timeout(Duration::from_secs(60), ep_rx.recv()).await?.expect("watch");
        if ready {
            ready_eps.insert(name);
        }
    }
    let setup = started.elapsed();
    while slice_rx.try_recv().is_ok() {}
    while ep_rx.try_recv().is_ok() {}

    // 1,000 readiness changes, one at a time.
    let (mut to_endpoints, mut to_slices) = (Vec::new(), Vec::new());
    for n in 0..CHANGES {
        let i = n % SERVICES;
        let ready = (n / SERVICES) % 2 == 1; // first pass: ready → not ready
        let name = format!("svc-{i}");
        let mut pod = pods.get(&format!("pod-{i}")).await?;
        pod.status = Some(serde_json::from_value(status(ready, i))?);
        let t0 = Instant::now();
        pods.replace_status(&format!("pod-{i}"), &PostParams::default(), &pod).await?;
        let (mut ep_done, mut slice_done) = (None, None);
        while ep_done.is_none() || slice_done.is_none() {
            tokio::select! {
                Some((svc, r)) = ep_rx.recv(), if ep_done.is_none() => if svc == name && r == ready { ep_done = Some(t0.elapsed()) },
                Some((svc, r)) = slice_rx.recv(), if slice_done.is_none() => if svc == name && r == ready { slice_done = Some(t0.elapsed()) },
                _ = tokio::time::sleep(Duration::from_secs(10)) => anyhow::bail!("no update for {name} within 10 s"),
            }
        }
        to_endpoints.push(ep_done.unwrap_or_default());
        to_slices.push(slice_done.unwrap_or_default());
    }
    to_endpoints.sort();
    to_slices.sort();
    let rss = informer::process::rss_mb(controller.0.id());

    println!("bench-controller: {SERVICES} Services with one pod each, {CHANGES} readiness changes one at a time");
    println!("setup (Services, pods, first endpoints)   {:>8.1} s", setup.as_secs_f64());
    println!(
        "pod status write -> Endpoints       p50 {:>8.2} ms   p99 {:>8.2} ms   (goal p99 <= 50 ms)",
        percentile(&to_endpoints, 0.5),
        percentile(&to_endpoints, 0.99)
    );
    println!(
        "pod status write -> EndpointSlice   p50 {:>8.2} ms   p99 {:>8.2} ms   (goal p99 <= 50 ms)",
        percentile(&to_slices, 0.5),
        percentile(&to_slices, 0.99)
    );
    println!("controller RSS                          {rss:>8.1} MB");
    Ok(())
}
