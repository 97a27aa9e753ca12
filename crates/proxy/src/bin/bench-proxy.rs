//! The proxy benchmark: `scripts/bench-proxy` (this machine, then the IPVS VM).
//!
//! 10,000 Services × 5 ready endpoints go through the proxy's own pipeline
//! (change tracker → table syncer → netlink): first a full sync, then one
//! endpoint change at a time. Printed: the full sync's time and message
//! count, each change's time (p50/p99) and netlink messages (must not grow
//! with the number of Services), and this process's RSS holding that state.
//!
//! Without `--kernel`, the messages are encoded to netlink bytes and
//! applied to the in-memory IPVS (this machine has no IPVS); the baseline
//! is a full resync after each change (what a proxy that re-reads and diffs
//! everything would do). With `--kernel` (in the VM), they go to the real
//! kernel, and the baseline is `ipvsadm -R` restoring the same table.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use proxy::changes::ChangeTracker;
use proxy::desired::Node;
use proxy::fake::FakeIpvs;
use proxy::ipvs::kernel::IpvsKernel;
use proxy::ipvs::messages;
use proxy::ipvs::syncer::{IpvsApi, TableSyncer};
use proxy::model::{RealServer, RealServerKey, Table, VirtualServerKey};
use proxy::plan::Op;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICES: usize = 10_000;
const ENDPOINTS: usize = 5;
const CHANGES: usize = 500;

/// The in-memory IPVS, behind netlink encoding: every request is built to
/// the byte, as it would be sent, and counted.
#[derive(Default)]
struct EncodingFake {
    ipvs: FakeIpvs,
    messages: u64,
    bytes: u64,
}

impl IpvsApi for EncodingFake {
    fn read(&mut self) -> anyhow::Result<Table> {
        self.messages += 1 + self.ipvs.table.len() as u64;
        self.ipvs.read()
    }

    fn read_real_servers(&mut self, vs: &VirtualServerKey) -> anyhow::Result<BTreeMap<RealServerKey, RealServer>> {
        self.messages += 1;
        self.bytes += messages::list_dests(1, 1, vs).len() as u64;
        self.ipvs.read_real_servers(vs)
    }

    fn apply(&mut self, ops: &[Op]) -> anyhow::Result<()> {
        for op in ops {
            self.messages += 1;
            self.bytes += std::hint::black_box(messages::op_request(42, 1, op)).len() as u64;
        }
        IpvsApi::apply(&mut self.ipvs, ops)
    }
}

/// What the benchmark needs to count of either kernel.
trait Counted: IpvsApi {
    fn messages(&self) -> u64;
}

impl Counted for EncodingFake {
    fn messages(&self) -> u64 {
        self.messages
    }
}

impl Counted for IpvsKernel {
    fn messages(&self) -> u64 {
        self.requests()
    }
}

fn service(i: usize) -> Arc<Service> {
    Arc::new(
        serde_json::from_value(json!({"metadata":{"name":format!("svc-{i}"),"namespace":"bench"},
            "spec":{"clusterIP":format!("10.{}.{}.{}", 96 + i / 65536, (i / 256) % 256, i % 256),
            "ports":[{"name":"http","port":80,"protocol":"TCP"}]}}))
        .expect("a Service"),
    )
}

fn slice(i: usize, generation: usize) -> Arc<EndpointSlice> {
    let endpoints: Vec<_> = (0..ENDPOINTS)
        .map(|e| {
            // Each generation moves endpoint 0 to an address the one before did not have.
            let host = match (e, generation) {
                (0, 0) => 10,
                (0, g) => 11 + g % 200,
                _ => 220 + e,
            };
            json!({"addresses":[format!("10.{}.{}.{host}", 128 + i / 256 % 64, i % 256)],"conditions":{"ready":true}})
        })
        .collect();
    Arc::new(
        serde_json::from_value(json!({"metadata":{"name":format!("svc-{i}-x"),"namespace":"bench",
            "labels":{(api::well_known::SERVICE_NAME_LABEL):format!("svc-{i}")}},"addressType":"IPv4",
            "ports":[{"name":"http","port":8080,"protocol":"TCP"}],"endpoints":endpoints}))
        .expect("an EndpointSlice"),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn run<K: Counted>(kernel: K, on_kernel: bool) -> anyhow::Result<()> {
    let node = Node { name: "bench".into(), addresses: vec![], scheduler: "rr".into() };
    let mut tracker = ChangeTracker::new(node);
    let mut syncer = TableSyncer::new(kernel, Duration::from_secs(30));
    let mine = |k: &VirtualServerKey| k.port == 80;

    let (services, slices): (Vec<_>, Vec<_>) = (0..SERVICES).map(|i| (service(i), slice(i, 0))).unzip();
    let rss_before = informer::process::rss_mb(std::process::id());
    let started = Instant::now();
    for (s, sl) in services.iter().zip(&slices) {
        tracker.service_changed(None, Some(s));
        tracker.slice_changed(None, Some(sl));
    }
    tracker.update();
    let computed = started.elapsed();
    let before = syncer.kernel.messages();
    let ops = syncer.sync(&tracker.state().table, None, mine, Instant::now())?;
    let full = started.elapsed();
    let full_messages = syncer.kernel.messages() - before;
    println!(
        "full sync of {SERVICES} Services x {ENDPOINTS} endpoints: {:.0} ms ({:.0} ms computing, {:.0} ms {}), {} operations, {full_messages} netlink messages",
        ms(full),
        ms(computed),
        ms(full - computed),
        if on_kernel { "in the kernel" } else { "encoding + in-memory IPVS" },
        ops.len()
    );

    // One endpoint change at a time.
    let mut took = Vec::with_capacity(CHANGES);
    let mut per_change = Vec::with_capacity(CHANGES);
    let mut current: Vec<Arc<EndpointSlice>> = slices.clone();
    for n in 0..CHANGES {
        let i = (n * 7919) % SERVICES;
        let next = slice(i, n + 1);
        let before = syncer.kernel.messages();
        let t = Instant::now();
        tracker.slice_changed(Some(&current[i]), Some(&next));
        let changed = tracker.update();
        syncer.sync(&tracker.state().table, Some(&changed), mine, Instant::now())?;
        took.push(t.elapsed());
        per_change.push(syncer.kernel.messages() - before);
        current[i] = next;
    }
    took.sort();
    let (lo, hi) = (per_change.iter().min().unwrap_or(&0), per_change.iter().max().unwrap_or(&0));
    println!(
        "one endpoint change ({CHANGES} changes): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (goal <= 5 ms); netlink messages per change: {lo}..={hi} (constant)",
        ms(percentile(&took, 0.5)),
        ms(percentile(&took, 0.99)),
        ms(*took.last().unwrap_or(&Duration::ZERO)),
    );

    // Baseline, same run: a full resync for one change (re-read and diff everything).
    let t = Instant::now();
    let before = syncer.kernel.messages();
    syncer.sync(&tracker.state().table, None, mine, Instant::now())?;
    let resync = t.elapsed();
    println!(
        "baseline, a full resync (read + diff everything): {:.1} ms, {} netlink messages; incremental p50 is {:.4} of it",
        ms(resync),
        syncer.kernel.messages() - before,
        percentile(&took, 0.5).as_secs_f64() / resync.as_secs_f64()
    );
    println!(
        "RSS: {:.1} MB in all, {:.1} MB for the proxy's state (tracker, syncer) beyond the input objects",
        informer::process::rss_mb(std::process::id()),
        informer::process::rss_mb(std::process::id()) - rss_before
    );
    if on_kernel {
        ipvsadm_restore_baseline(&tracker.state().table, ms(full))?;
    }
    Ok(())
}

/// Clears the table and loads the same one with `ipvsadm -R`.
fn ipvsadm_restore_baseline(table: &Table, ours_ms: f64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut script = String::new();
    for (k, vs) in table {
        script.push_str(&format!("-A -t {}:{} -s {}\n", k.address, k.port, vs.scheduler));
        for r in vs.real_servers.keys() {
            script.push_str(&format!("-a -t {}:{} -r {}:{} -m -w 1\n", k.address, k.port, r.address, r.port));
        }
    }
    std::process::Command::new("ipvsadm").arg("-C").status()?;
    let t = Instant::now();
    let mut child = std::process::Command::new("ipvsadm").arg("-R").stdin(std::process::Stdio::piped()).spawn()?;
    child.stdin.take().map(|mut s| s.write_all(script.as_bytes())).transpose()?;
    anyhow::ensure!(child.wait()?.success(), "ipvsadm -R failed");
    let took = ms(t.elapsed());
    println!("baseline, ipvsadm -R of the same table: {took:.0} ms; ours / ipvsadm: {:.2}", ours_ms / took);
    std::process::Command::new("ipvsadm").arg("-C").status()?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--kernel") {
        run(IpvsKernel::open()?, true)
    } else {
        run(EncodingFake::default(), false)
    }
}
