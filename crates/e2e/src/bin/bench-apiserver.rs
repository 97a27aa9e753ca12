//! The apiserver benchmark: `cargo run --release -p e2e --bin bench-apiserver`.
//!
//! Prints, from one run against one fresh etcd:
//! 1. raw etcd create-transactions/s vs Service creates/s through the
//!    apiserver, both with 16 concurrent clients, and their ratio (goal ≥ 0.5);
//! 2. the latency of the first creates vs the last of 10,000 (goal: flat);
//! 3. the apiserver's resident memory holding 10,000 Services (goal ≤ 150 MB).
//!
//! `bench-apiserver tls` measures HTTPS instead, in three rounds, each
//! with its own etcd baseline: two apiservers serving TLS, each with a
//! client certificate (`bench-writer` in `bench-writers`, bound to `edit`
//! in `default`) as the credential, one with
//! `--authorization-mode=AlwaysAllow` and one with RBAC: their ratios to
//! raw etcd (goal ≥ 0.6 with RBAC, the median of the rounds), what
//! authorization costs per request (the difference of their CPU time per
//! create), and where the CPU went (apiserver, etcd, the clients). A second
//! baseline, etcd committing the very transaction a create commits (two
//! keys, three guards), tells etcd's share of a create from ours; a third,
//! that transaction under the watches an apiserver keeps, what watching
//! costs etcd. (What neither shows: etcd's CPU per transaction also rises
//! as the rate falls, fewer transactions sharing each fsync and raft round.)
//!
//! Figures from a shared machine are noisy: compare the ratios, which are
//! measured against a baseline taken next to the run they divide.

use e2e::bench::{build_release, median, run_concurrently};
use e2e::{Apiserver, Etcd};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, PostParams};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const SERVICES: usize = 10_000;
const RAW_TXNS: usize = 10_000;
const TLS_SERVICES: usize = 5_000;

fn service_json(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": name, "labels": { "app": "bench" } },
        "spec": { "selector": { "app": "bench" }, "ports": [{ "name": "http", "port": 80 }] },
    })
}

/// A Service as the apiserver stores it (defaults, allocations, metadata,
/// managedFields): the size of what a create really writes.
fn stored_service() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "creationTimestamp": "2026-12-07T17:00:00Z", "labels": { "app": "bench" },
            "managedFields": [{
                "apiVersion": "v1", "fieldsType": "FieldsV1",
                "fieldsV1": { "f:metadata": { "f:labels": { ".": {}, "f:app": {} } },
                    "f:spec": { "f:internalTrafficPolicy": {}, "f:ports": { ".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {
                        ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {} } },
                        "f:selector": {}, "f:sessionAffinity": {}, "f:type": {} } },
                "manager": "bench-apiserver", "operation": "Update", "time": "2026-12-07T17:00:00Z"
            }],
            "name": "svc-00000", "namespace": "default", "uid": "0b0c9d3e-52a8-4c43-9d1f-3d7f1f2f7c11"
        },
        "spec": {
            "clusterIP": "10.96.12.34", "clusterIPs": ["10.96.12.34"], "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{ "name": "http", "port": 80, "protocol": "TCP", "targetPort": 80 }],
            "selector": { "app": "bench" }, "sessionAffinity": "None", "type": "ClusterIP"
        },
        "status": { "loadBalancer": {} }
    })
}

/// The CPU time (user + system) a process used so far, from `/proc`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// What one run of creates measured.
struct TlsRun {
    rate: f64,
    p50: Duration,
    /// CPU time per create: the apiserver's, etcd's, and this process's (its clients).
    apiserver_cpu: Duration,
    etcd_cpu: Duration,
    clients_cpu: Duration,
}

/// Service creates over HTTPS with a client certificate, under `mode`.
async fn tls_run(binary: &std::path::Path, mode: &str) -> anyhow::Result<TlsRun> {
    let etcd = Etcd::start();
    let server = Apiserver::start_tls(binary, &etcd, &["--authorization-mode", mode]);
    let admin = server.admin_kubeconfig();
    e2e::kubectl_ok(&admin, &["create", "rolebinding", "bench", "--clusterrole=edit", "--group=bench-writers"]);
    let writer = server.kubeconfig_for("bench-writer", &["bench-writers"]);
    let api: Api<Service> = Api::default_namespaced(writer.client().await);
    // The binding reaches the policy cache through a watch: wait until it is in force.
    let probe: Service = serde_json::from_value(service_json("probe"))?;
    while api.create(&PostParams::default(), &probe).await.is_err() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pids = [server.pid().unwrap_or(0), etcd.pid().unwrap_or(0), std::process::id()];
    let before = pids.map(cpu_time);
    let (time, latencies) = run_concurrently(CLIENTS, TLS_SERVICES, move |i| {
        let api = api.clone();
        async move {
            let svc: Service = serde_json::from_value(service_json(&format!("svc-{i:05}"))).expect("service");
            api.create(&PostParams::default(), &svc).await.expect("create");
        }
    })
    .await;
    let per_create = |i: usize| cpu_time(pids[i]).saturating_sub(before[i]) / TLS_SERVICES as u32;
    Ok(TlsRun {
        rate: TLS_SERVICES as f64 / time.as_secs_f64(),
        p50: median(latencies),
        apiserver_cpu: per_create(0),
        etcd_cpu: per_create(1),
        clients_cpu: per_create(2),
    })
}

/// Raw etcd, 16 clients, `RAW_TXNS` transactions on a fresh etcd:
/// transactions/s and etcd's CPU time per transaction. `Baseline::Put` is
/// the ratio's baseline (the first round's): "key absent → put ~500 bytes".
/// `Baseline::CreateTxn` is the transaction a Service create really commits
/// (the Service and its ClusterIP's record, each guarded absent, and the
/// namespace guarded unchanged), for telling etcd's share of a create from
/// the apiserver's. `Baseline::CreateTxnWatched` is that transaction with
/// the watches an apiserver keeps on its keys (the Services' with previous
/// values, as its watch cache asks; the ClusterIPs' without): etcd's share of
/// a create, run at etcd's own pace, with nothing of ours in it.
#[derive(Clone, Copy, PartialEq)]
enum Baseline {
    Put,
    CreateTxn,
    CreateTxnWatched,
}

async fn raw_etcd(baseline: Baseline) -> anyhow::Result<(f64, Duration)> {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let etcd = Etcd::start();
    let raw = etcd_client::Client::connect([etcd.url.as_str()], None).await?;
    let payload = serde_json::to_vec(&service_json("x"))?;
    let stored = serde_json::to_vec(&stored_service())?;
    if baseline == Baseline::CreateTxnWatched {
        use etcd_client::WatchOptions;
        // The watch cache's (previous values) and the allocation follower's (keys).
        for (prefix, previous) in [("/bench/raw/", true), ("/bench/ip/", false)] {
            let opts = WatchOptions::new().with_prefix();
            let opts = if previous { opts.with_prev_key() } else { opts };
            let mut events = raw.clone().watch(prefix, Some(opts)).await?;
            tokio::spawn(async move { while let Ok(Some(_)) = events.message().await {} });
        }
    }
    let etcd_before = cpu_time(etcd.pid().unwrap_or(0));
    let (raw_time, _) = run_concurrently(CLIENTS, RAW_TXNS, move |i| {
        let (mut c, payload, stored) = (raw.clone(), payload.clone(), stored.clone());
        async move {
            let key = format!("/bench/raw/{i}");
            let absent = |k: &str| Compare::create_revision(k, CompareOp::Equal, 0);
            let txn = match baseline {
                Baseline::Put => Txn::new().when([absent(&key)]).and_then([TxnOp::put(key.as_str(), payload, None)]),
                Baseline::CreateTxn | Baseline::CreateTxnWatched => {
                    let (ip, payload) = (format!("/bench/ip/{i}"), stored.clone());
                    let record = br#"{"kind":"IPAddress","spec":{"parentRef":{"resource":"services","namespace":"default","name":"x"}}}"#;
                    Txn::new()
                        .when([absent(&key), absent(&ip), Compare::mod_revision("/bench/namespace", CompareOp::Equal, 0)])
                        .and_then([TxnOp::put(key.as_str(), payload, None), TxnOp::put(ip, record.to_vec(), None)])
                }
            };
            c.txn(txn).await.expect("raw txn");
        }
    })
    .await;
    let cpu = cpu_time(etcd.pid().unwrap_or(0)).saturating_sub(etcd_before) / RAW_TXNS as u32;
    Ok((RAW_TXNS as f64 / raw_time.as_secs_f64(), cpu))
}

/// Rounds of (baseline, AlwaysAllow, RBAC), each ratio against its own
/// round's baseline: etcd's speed here drifts by half between minutes, and
/// a baseline taken next to the run it divides follows the drift.
const TLS_ROUNDS: usize = 3;

async fn tls_mode(binary: &std::path::Path) -> anyhow::Result<()> {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("bench-apiserver tls: {CLIENTS} clients, {TLS_SERVICES} Services a run, HTTPS, client certificates");
    let (mut allow_ratios, mut rbac_ratios, mut authz, mut create_txn_ratios) = (vec![], vec![], vec![], vec![]);
    for round in 1..=TLS_ROUNDS {
        let (raw_rate, raw_cpu) = raw_etcd(Baseline::Put).await?;
        let (create_txn_rate, create_txn_cpu) = raw_etcd(Baseline::CreateTxn).await?;
        let (watched_rate, watched_cpu) = raw_etcd(Baseline::CreateTxnWatched).await?;
        let allow = tls_run(binary, "AlwaysAllow").await?;
        let rbac = tls_run(binary, "RBAC").await?;
        println!("round {round}:");
        println!("  raw etcd create txns/s            {raw_rate:>10.0}   (etcd CPU {:.0} us a txn)", us(raw_cpu));
        println!(
            "  raw etcd, a create's own txn/s    {create_txn_rate:>10.0}   (etcd CPU {:.0} us a txn)",
            us(create_txn_cpu)
        );
        println!(
            "  the same, watched (prev_kv)       {watched_rate:>10.0}   (etcd CPU {:.0} us a txn)",
            us(watched_cpu)
        );
        println!("  HTTPS, AlwaysAllow: creates/s     {:>10.0}   ratio {:.2}", allow.rate, allow.rate / raw_rate);
        println!("  HTTPS, RBAC: creates/s            {:>10.0}   ratio {:.2}", rbac.rate, rbac.rate / raw_rate);
        println!("  create p50, AlwaysAllow / RBAC    {:>10.2} / {:.2} ms", us(allow.p50) / 1e3, us(rbac.p50) / 1e3);
        println!(
            "  CPU per create (RBAC): apiserver / etcd / clients {:.0} / {:.0} / {:.0} us (2 cores at this rate: {:.0} us)",
            us(rbac.apiserver_cpu),
            us(rbac.etcd_cpu),
            us(rbac.clients_cpu),
            2e6 / rbac.rate
        );
        allow_ratios.push(allow.rate / raw_rate);
        rbac_ratios.push(rbac.rate / raw_rate);
        create_txn_ratios.push(rbac.rate / create_txn_rate);
        authz.push(us(rbac.apiserver_cpu) - us(allow.apiserver_cpu));
    }
    let middle = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("median of {TLS_ROUNDS} rounds:");
    println!("  ratio to raw etcd, AlwaysAllow    {:>10.2}", middle(allow_ratios));
    println!("  ratio to raw etcd, RBAC           {:>10.2}   (goal >= 0.6)", middle(rbac_ratios));
    println!(
        "  RBAC over etcd doing the create's own txn {:.2}   (what the apiserver itself costs)",
        middle(create_txn_ratios)
    );
    println!(
        "  authorization cost per request    {:>10.0} us CPU (RBAC - AlwaysAllow; 10 ms ticks, noisy)",
        middle(authz)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tls = std::env::args().nth(1).as_deref() == Some("tls");
    let binary = build_release("apiserver")?;
    if tls {
        return tls_mode(&binary).await;
    }
    let (raw_rate, _) = raw_etcd(Baseline::Put).await?;

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
