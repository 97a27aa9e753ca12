//! The apiserver benchmark: `cargo run --release -p e2e --bin bench-apiserver`.
//!
//! Prints, from one run against one fresh etcd:
//! 1. raw etcd create-transactions/s vs Service creates/s through the
//!    apiserver, both with 16 concurrent clients, and their ratio (goal ≥ 0.5);
//! 2. the latency of the first creates vs the last of 10,000 (goal: flat);
//! 3. the apiserver's resident memory holding 10,000 Services (goal ≤ 150 MB).
//!
//! Figures from a shared machine are noisy: compare the ratios, which are
//! measured against a baseline taken in the same run.

use e2e::bench::{build_release, median, run_concurrently};
use e2e::{Apiserver, Etcd};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, PostParams};
use std::time::Instant;

const CLIENTS: usize = 16;
const SERVICES: usize = 10_000;
const RAW_TXNS: usize = 10_000;

fn service_json(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": name, "labels": { "app": "bench" } },
        "spec": { "selector": { "app": "bench" }, "ports": [{ "name": "http", "port": 80 }] },
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary = build_release("apiserver")?;

    // Baseline: the same work as a Service create, straight to etcd: one
    // transaction "key absent → put ~500 bytes", 16 clients.
    let etcd = Etcd::start();
    let raw = etcd_client::Client::connect([etcd.url.as_str()], None).await?;
    let payload = serde_json::to_vec(&service_json("x"))?;
    let (raw_time, _) = run_concurrently(CLIENTS, RAW_TXNS, move |i| {
        let (mut c, payload) = (raw.clone(), payload.clone());
        async move {
            let key = format!("/bench/raw/{i}");
            let txn = etcd_client::Txn::new()
                .when([etcd_client::Compare::create_revision(key.as_str(), etcd_client::CompareOp::Equal, 0)])
                .and_then([etcd_client::TxnOp::put(key.as_str(), payload, None)]);
            c.txn(txn).await.expect("raw txn");
        }
    })
    .await;
    let raw_rate = RAW_TXNS as f64 / raw_time.as_secs_f64();
    drop(etcd);

    let etcd = Etcd::start();
    let server = Apiserver::start(&binary, &etcd, &[]);
    let rss_empty = informer::process::rss_mb(server.pid().unwrap_or(0));
    let client = kube::Client::try_from(kube::Config::new(server.url.parse()?))?;
    let api: Api<Service> = Api::default_namespaced(client);
    let (api_time, latencies) = run_concurrently(CLIENTS, SERVICES, move |i| {
        let api = api.clone();
        async move {
            let svc: Service = serde_json::from_value(service_json(&format!("svc-{i:05}"))).expect("service");
            api.create(&PostParams::default(), &svc).await.expect("create");
        }
    })
    .await;
    let api_rate = SERVICES as f64 / api_time.as_secs_f64();
    let first = median(latencies[..500].to_vec());
    let last = median(latencies[SERVICES - 500..].to_vec());

    let client = kube::Client::try_from(kube::Config::new(server.url.parse()?))?;
    let api: Api<Service> = Api::default_namespaced(client);
    let t = Instant::now();
    let listed = api.list(&ListParams::default()).await?.items.len();
    let list_time = t.elapsed();
    let rss_full = informer::process::rss_mb(server.pid().unwrap_or(0));

    println!("bench-apiserver: {CLIENTS} clients, {SERVICES} Services, one etcd on loopback");
    println!("raw etcd create txns/s        {raw_rate:>10.0}");
    println!("apiserver Service creates/s   {api_rate:>10.0}");
    println!("ratio apiserver/etcd          {:>10.2}   (goal >= 0.5)", api_rate / raw_rate);
    println!("create p50, first 500         {:>10.2} ms", first.as_secs_f64() * 1e3);
    println!("create p50, last 500          {:>10.2} ms", last.as_secs_f64() * 1e3);
    println!("ratio last/first              {:>10.2}   (goal: flat, ~1)", last.as_secs_f64() / first.as_secs_f64());
    println!("list of {listed} Services      {:>10.0} ms", list_time.as_secs_f64() * 1e3);
    println!("apiserver RSS, empty          {rss_empty:>10.1} MB");
    println!("apiserver RSS, {SERVICES} Services {rss_full:>8.1} MB   (goal <= 150 MB)");
    Ok(())
}
