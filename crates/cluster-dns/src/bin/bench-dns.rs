//! The DNS benchmark (`scripts/bench-dns`): real etcd and apiserver with
//! 10,000 Services and 1,000 headless Services of 10 endpoints each;
//! dnsperf against cluster-dns and, as the baseline in the same run and
//! with the same query file and load, dnsmasq answering the same A (and
//! SRV, PTR) records from a hosts file. Then the server's RSS, and the DNS
//! programming latency (POST of a Service → first answer) over 500 Services.
//! Everything stays on loopback.
//!
//! Two dnsperf runs, because dnsmasq is fast only at what it hashes. Its
//! `srv-host` records are one linked list that every question walks (10,000
//! of them took its A answers from ~35,000 to ~4,000 queries/s on this
//! machine), and a PTR from a hosts file is a walk of the whole cache
//! (~400/s). That, not forwarding (`--no-resolv`, `--local=/cluster.local/`
//! keep missing names local NXDOMAINs), is why the mixed run's baseline is
//! a few hundred queries/s. So: (1) the mix against dnsmasq with
//! every record (hosts file + srv-host), and (2) A questions only (existing
//! and missing) against dnsmasq with the hosts file alone: its best case,
//! the fair ratio.

use e2e::{eventually, free_ports, target_dir, Apiserver, Etcd, Proc, ScratchDir};
use futures_util::{stream, StreamExt};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SERVICES: usize = 10_000;
const HEADLESS: usize = 1_000;
const ENDPOINTS: usize = 10;
const PROGRAMMED: usize = 500;
const SECONDS: &str = "10";

fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("object")
}

fn endpoint_ip(h: usize, e: usize) -> String {
    format!("10.{}.{}.{}", 100 + h / 250, h % 250, e + 1)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Perf {
    qps: f64,
    p50_ms: f64,
    p99_ms: f64,
    lost: String,
}

/// dnsperf at full speed (`-v` reports each query's latency).
fn dnsperf(port: u16, queries: &std::path::Path) -> Perf {
    let out = Command::new("dnsperf")
        .args(["-s", "127.0.0.1", "-p", &port.to_string(), "-d", &queries.to_string_lossy()])
        .args(["-l", SECONDS, "-c", "4", "-q", "200", "-v"])
        .output()
        .expect("dnsperf is not installed: run scripts/install-deps");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut latencies: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("> "))
        .filter_map(|l| l.split_whitespace().last()?.parse().ok())
        .collect();
    latencies.sort_by(f64::total_cmp);
    let field = |key: &str| text.lines().find(|l| l.trim_start().starts_with(key)).unwrap_or("").trim().to_string();
    let qps = field("Queries per second:").split_whitespace().last().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    Perf {
        qps,
        p50_ms: percentile(&latencies, 0.5) * 1e3,
        p99_ms: percentile(&latencies, 0.99) * 1e3,
        lost: field("Queries lost:"),
    }
}

fn ask(socket: &std::net::UdpSocket, id: u16, name: &Name) -> bool {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(name.clone(), RecordType::A));
    let _ = socket.send(&m.to_vec().unwrap_or_default());
    let mut buf = [0u8; 1500];
    let deadline = Instant::now() + Duration::from_millis(200);
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            if let Ok(r) = Message::from_vec(&buf[..n]) {
                if r.metadata.id == id {
                    return !r.answers.is_empty();
                }
            }
        }
    }
    false
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let release = target_dir().join("release");
    let etcd = Etcd::start();
    let api = Apiserver::start(&release.join("apiserver"), &etcd, &[]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse()?))?;
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let started = Instant::now();
    let http = serde_json::json!([{"name": "http", "port": 80, "protocol": "TCP"}]);
    let cluster_ips: Vec<(String, String)> = stream::iter(0..SERVICES)
        .map(|i| {
            let (services, http) = (services.clone(), http.clone());
            async move {
                let svc: Service =
                    obj(serde_json::json!({"metadata": {"name": format!("svc-{i}")}, "spec": {"ports": http}}));
                let s = services.create(&PostParams::default(), &svc).await.expect("create");
                (format!("svc-{i}"), s.spec.and_then(|s| s.cluster_ip).unwrap_or_default())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    stream::iter(0..HEADLESS)
        .map(|h| {
            let (services, slices, http) = (services.clone(), slices.clone(), http.clone());
            async move {
                let svc: Service = obj(serde_json::json!({"metadata": {"name": format!("hl-{h}")}, "spec": {"clusterIP": "None", "ports": http}}));
                services.create(&PostParams::default(), &svc).await.expect("create headless");
                let eps: Vec<_> = (0..ENDPOINTS).map(|e| serde_json::json!({"addresses": [endpoint_ip(h, e)], "conditions": {"ready": true}})).collect();
                let slice: EndpointSlice = obj(serde_json::json!({
                    "metadata": {"name": format!("hl-{h}-abc"), "labels": {"kubernetes.io/service-name": format!("hl-{h}")}},
                    "addressType": "IPv4", "ports": http, "endpoints": eps,
                }));
                slices.create(&PostParams::default(), &slice).await.expect("create slice");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    println!(
        "created {SERVICES} Services and {HEADLESS} headless Services x {ENDPOINTS} endpoints in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let dir = ScratchDir::new("bench-dns");
    let [ours, theirs, ready, health, metrics] = free_ports::<5>();
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
    let mut child = Command::new(release.join("cluster-dns"))
        .args(["--server", &api.url, "--listen", &format!("127.0.0.1:{ours}"), "--upstream", &dead.to_string()])
        .args(["--ready-address", &format!("127.0.0.1:{ready}"), "--health-address", &format!("127.0.0.1:{health}")])
        .args(["--metrics-address", &format!("127.0.0.1:{metrics}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line)?;
    let dns = Proc::unwatched(child);
    let dns_pid = dns.0.id();
    let sync_started = Instant::now();
    eventually(
        "synced",
        || e2e::http("GET", &format!("http://127.0.0.1:{ready}"), "/ready", None, "").0,
        |c| *c == 200,
    );
    println!("cluster-dns synced in {:.2} s", sync_started.elapsed().as_secs_f64());

    // The same records for dnsmasq: A (+ PTR from the hosts file) and SRV.
    let zone = "default.svc.cluster.local";
    let mut hosts = String::new();
    for (name, ip) in &cluster_ips {
        hosts.push_str(&format!("{ip} {name}.{zone}\n"));
    }
    let mut conf = String::new();
    for h in 0..HEADLESS {
        for e in 0..ENDPOINTS {
            let ip = endpoint_ip(h, e);
            let target = format!("{}.hl-{h}.{zone}", ip.replace('.', "-"));
            hosts.push_str(&format!("{ip} hl-{h}.{zone} {target}\n"));
            conf.push_str(&format!("srv-host=_http._tcp.hl-{h}.{zone},{target},80,0,10\n"));
        }
    }
    let (hosts_path, conf_path) = (dir.0.join("hosts"), dir.0.join("dnsmasq.conf"));
    std::fs::write(&hosts_path, hosts)?;
    std::fs::write(&conf_path, conf)?;
    // Names outside the hosts file never leave: no upstream, the zone local.
    let dnsmasq = |port: u16, conf: Option<&std::path::Path>| {
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--addn-hosts={}", hosts_path.display()))
        .args(["--local=/cluster.local/", "--pid-file=", "--user=root", "--cache-size=10000"])
        .args(["--dns-forward-max=1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some(conf) = conf {
            cmd.arg(format!("--conf-file={}", conf.display()));
        }
        Proc::unwatched(cmd.spawn().expect("dnsmasq is not installed: run scripts/install-deps"))
    };
    let [theirs_hosts_only] = free_ports::<1>();
    let full = dnsmasq(theirs, Some(&conf_path));
    let hosts_only = dnsmasq(theirs_hosts_only, None);

    // The query mix: A existing (50%) and missing (20%), SRV (15%), PTR (15%).
    let mut rng = fastrand::Rng::with_seed(7);
    let mut queries = String::new();
    for i in 0..20_000 {
        match i % 20 {
            0..=9 => queries.push_str(&format!("svc-{}.{zone} A\n", rng.usize(0..SERVICES))),
            10..=13 => queries.push_str(&format!("missing-{}.{zone} A\n", rng.usize(0..SERVICES))),
            14..=16 => queries.push_str(&format!("_http._tcp.hl-{}.{zone} SRV\n", rng.usize(0..HEADLESS))),
            _ => {
                let ip: std::net::IpAddr = cluster_ips[rng.usize(0..SERVICES)].1.parse()?;
                queries.push_str(&format!("{} PTR\n", cluster_dns::names::reverse_name(ip)));
            }
        }
    }
    let query_path = dir.0.join("queries");
    std::fs::File::create(&query_path)?.write_all(queries.as_bytes())?;
    // A questions only, existing (5 in 7) and missing (2 in 7), as in the mix.
    let a_only: String = queries.lines().filter(|l| l.ends_with(" A")).map(|l| format!("{l}\n")).collect();
    let a_path = dir.0.join("queries-a");
    std::fs::File::create(&a_path)?.write_all(a_only.as_bytes())?;
    std::thread::sleep(Duration::from_millis(500));
    let base = dnsperf(theirs, &query_path);
    let us = dnsperf(ours, &query_path);
    drop(full);
    let base_a = dnsperf(theirs_hosts_only, &a_path);
    let us_a = dnsperf(ours, &a_path);
    drop(hosts_only);
    let rss = informer::process::rss_mb(dns_pid);

    // Programming latency: POST a Service, ask until it is answered.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(("127.0.0.1", ours))?;
    socket.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut latencies = Vec::new();
    for i in 0..PROGRAMMED {
        let name: Name = format!("prog-{i}.{zone}.").parse()?;
        let svc: Service = obj(serde_json::json!({"metadata": {"name": format!("prog-{i}")}, "spec": {"ports": http}}));
        let t0 = Instant::now();
        services.create(&PostParams::default(), &svc).await?;
        let mut id = 0u16;
        loop {
            id = id.wrapping_add(1);
            if ask(&socket, id, &name) {
                break;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("prog-{i} was not answered within 10 s");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        latencies.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);

    let row = |who: &str, p: &Perf| {
        println!("{who:<34} {:>9.0} queries/s   p50 {:.3} ms   p99 {:.3} ms   {}", p.qps, p.p50_ms, p.p99_ms, p.lost)
    };
    println!(
        "== (1) dnsperf, {SECONDS} s, 4 clients, 200 outstanding; same query file (A 50%, missing A 20%, SRV 15%, PTR 15%)"
    );
    row("dnsmasq (hosts file + srv-host)", &base);
    row("cluster-dns", &us);
    println!(
        "ratio ours/dnsmasq     {:.2}x (dnsmasq walks its srv-host list and cache for SRV, PTR)",
        us.qps / base.qps
    );
    println!("== (2) the same, A questions only (existing 5/7, missing 2/7)");
    row("dnsmasq (hosts file only)", &base_a);
    row("cluster-dns", &us_a);
    println!("ratio ours/dnsmasq     {:.2}x (goal >= 1.0)", us_a.qps / base_a.qps);
    println!("cluster-dns RSS with {} Services: {rss:.1} MB (goal <= 50)", SERVICES + HEADLESS);
    println!(
        "DNS programming latency (POST -> answered) over {PROGRAMMED} Services: p50 {:.1} ms, p99 {:.1} ms (goal p99 <= 50)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    drop(dns);
    drop(api);
    Ok(())
}
