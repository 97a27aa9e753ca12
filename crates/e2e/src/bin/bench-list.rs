//! The scale benchmark of issue #12: `cargo run --release -p e2e --bin bench-list`.
//!
//! Loads 10,000 Services, 30,000 Pods, 3,000 ReplicaSets and 10,000
//! ConfigMaps (over 10 namespaces, through the apiserver, 16 clients), then
//! prints, from one run against one fresh etcd:
//! 1. the apiserver's resident memory holding them (goal ≤ 100 MB), and its
//!    peak while listing;
//! 2. the latency of a full list of the 30,000 pods, as JSON and as the
//!    Table `kubectl get pods -A` asks for (goal ≤ 1 s), against a baseline
//!    measured in the same run: etcd's paged range reads of the same keys
//!    (500 a page, as the store reads), the least an apiserver on it must do;
//! 3. `kubectl get pods -A` end to end, if kubectl is installed.
//!
//! Figures from a shared machine are noisy: compare the ratios.

use e2e::bench::{build_release, median, run_concurrently};
use e2e::{Apiserver, Etcd, Kubeconfig};
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const NAMESPACES: usize = 10;
const RUNS: usize = 3;

/// kubectl 1.32's Accept header for `kubectl get`.
const KUBECTL_TABLE: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// One object of each kind, shaped as a Deployment's would be (labels, an
/// owner, a container with ports, env and resources): ~1 KB per pod.
fn object(kind: &str, i: usize) -> (String, Value) {
    let ns = format!("bench-{}", i % NAMESPACES);
    let app = format!("app-{:04}", i % 3000);
    let container = json!({"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "name": "http"}],
        "env": [{"name": "MODE", "value": "production"}, {"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}});
    let labels = json!({"app": app, "pod-template-hash": "77b578b6d"});
    let obj = match kind {
        "Service" => {
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i:05}"), "labels": {"app": app}},
            "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
        }
        "Pod" => json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{app}-77b578b6d-{i:05}"), "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-77b578b6d"),
                    "uid": "6d8f0c4e-2b1a-4c3d-9e8f-0a1b2c3d4e5f", "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"nodeName": format!("node-{}", i % 50), "containers": [container]}}),
        "ReplicaSet" => {
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": format!("{app}-77b578b6d-{i:04}"), "labels": labels},
            "spec": {"replicas": 10, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}})
        }
        _ => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("config-{i:05}")},
            "data": {"app.properties": "mode=production\nlog.level=info\nworkers=4\n", "feature-flags": "a=true,b=false"}}),
    };
    (ns, obj)
}

async fn load(client: &kube::Client, kind: &'static str, count: usize) -> anyhow::Result<f64> {
    let (group, version, plural) = match kind {
        "Service" => ("", "v1", "services"),
        "Pod" => ("", "v1", "pods"),
        "ReplicaSet" => ("apps", "v1", "replicasets"),
        _ => ("", "v1", "configmaps"),
    };
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() { version.into() } else { format!("{group}/{version}") },
        kind: kind.into(),
        plural: plural.into(),
    };
    let client = client.clone();
    let (took, _) = run_concurrently(CLIENTS, count, move |i| {
        let (client, ar) = (client.clone(), ar.clone());
        async move {
            let (ns, obj) = object(kind, i);
            let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &ar);
            let obj: DynamicObject = serde_json::from_value(obj).expect("object");
            api.create(&PostParams::default(), &obj).await.expect("create");
        }
    })
    .await;
    Ok(count as f64 / took.as_secs_f64())
}

/// One GET read to its end: (status line's code, body bytes, time).
fn get(url: &str, path: &str, accept: &str) -> (u16, usize, Duration) {
    let host = url.trim_start_matches("http://");
    let t = Instant::now();
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let took = t.elapsed();
    let code =
        String::from_utf8_lossy(&raw[..raw.len().min(16)]).split_whitespace().nth(1).and_then(|c| c.parse().ok());
    let head = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
    (code.unwrap_or(0), raw.len() - head, took)
}

/// The median of `RUNS` lists of all pods, with the bytes of the last.
fn timed_list(url: &str, accept: &str) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..RUNS {
        let (code, n, took) = get(url, "/api/v1/pods", accept);
        assert_eq!(code, 200, "list of pods");
        times.push(took);
        bytes = n;
    }
    (median(times), bytes)
}

/// The process's peak resident memory (VmHWM), in MB.
fn peak_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary = build_release("apiserver")?;
    let etcd = Etcd::start();
    let server = Apiserver::start(&binary, &etcd, &[]);
    let pid = server.pid().unwrap_or(0);
    let rss_empty = informer::process::rss_mb(pid);
    let client = kube::Client::try_from(kube::Config::new(server.url.parse()?))?;
    let namespaces: Api<DynamicObject> =
        Api::all_with(client.clone(), &ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&()));
    for n in 0..NAMESPACES {
        let ns: DynamicObject = serde_json::from_value(
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":format!("bench-{n}")}}),
        )?;
        namespaces.create(&PostParams::default(), &ns).await?;
    }
    let mut rates = Vec::new();
    for (kind, count) in [("Service", 10_000), ("Pod", 30_000), ("ReplicaSet", 3_000), ("ConfigMap", 10_000)] {
        let rate = load(&client, kind, count).await?;
        eprintln!("loaded {count} {kind}s ({rate:.0}/s)");
        rates.push((kind, count, rate));
    }
    let rss_loaded = informer::process::rss_mb(pid);

    // Baseline: the same keys and bytes read from etcd as the store reads
    // them, 500 keys a page at one revision (a range is capped at 4 MB).
    let mut raw = etcd_client::Client::connect([etcd.url.as_str()], None).await?;
    let mut etcd_times = Vec::new();
    let (mut etcd_keys, mut etcd_bytes) = (0, 0);
    for _ in 0..RUNS {
        let t = Instant::now();
        (etcd_keys, etcd_bytes) = (0, 0);
        let (mut from, mut revision) = ("/registry/pods/".to_string(), 0);
        loop {
            let opts =
                etcd_client::GetOptions::new().with_range("/registry/pods0").with_limit(500).with_revision(revision);
            let resp = raw.get(from.as_str(), Some(opts)).await?;
            revision = resp.header().map_or(0, |h| h.revision());
            for kv in resp.kvs() {
                etcd_keys += 1;
                etcd_bytes += kv.value().len();
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => from = format!("{}\0", last.key_str()?),
                _ => break,
            }
        }
        etcd_times.push(t.elapsed());
    }
    let etcd_time = median(etcd_times);

    let url = server.url.clone();
    let (json_time, json_bytes) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || timed_list(&url, "application/json")
    })
    .await?;
    let (table_time, table_bytes) = tokio::task::spawn_blocking(move || timed_list(&url, KUBECTL_TABLE)).await?;
    let rss_listed = informer::process::rss_mb(pid);
    let peak = peak_mb(pid);

    let kc = Kubeconfig::new(&server.url);
    let kubectl = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let out = e2e::kubectl(&kc, &["get", "pods", "-A", "--no-headers"]);
        (out.status.success(), String::from_utf8_lossy(&out.stdout).lines().count(), t.elapsed())
    })
    .await?;

    println!("bench-list: 10 namespaces, {CLIENTS} clients, one etcd on loopback, median of {RUNS} lists");
    for (kind, count, rate) in rates {
        println!("load {count:>6} {kind:<12} {rate:>10.0} creates/s");
    }
    println!("apiserver RSS, empty            {rss_empty:>8.1} MB");
    println!("apiserver RSS, loaded           {rss_loaded:>8.1} MB   (goal <= 100 MB)");
    println!("apiserver RSS, after the lists  {rss_listed:>8.1} MB   (peak {peak:.1} MB)");
    println!(
        "etcd paged read, {etcd_keys} pods  {:>8.0} ms   {:>6.1} MB (baseline)",
        ms(etcd_time),
        etcd_bytes as f64 / 1e6
    );
    println!(
        "list 30000 pods, JSON           {:>8.0} ms   {:>6.1} MB   ratio to etcd {:.2}   (goal <= 1000 ms)",
        ms(json_time),
        json_bytes as f64 / 1e6,
        json_time.as_secs_f64() / etcd_time.as_secs_f64()
    );
    println!(
        "list 30000 pods, kubectl Table  {:>8.0} ms   {:>6.1} MB   ratio to etcd {:.2}   (goal <= 1000 ms)",
        ms(table_time),
        table_bytes as f64 / 1e6,
        table_time.as_secs_f64() / etcd_time.as_secs_f64()
    );
    match kubectl {
        (true, rows, took) => {
            println!("kubectl get pods -A ({rows} rows) {:>8.0} ms (end to end, kubectl's printing included)", ms(took))
        }
        (false, _, _) => println!("kubectl get pods -A failed"),
    }
    Ok(())
}
