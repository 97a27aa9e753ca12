//! LoadBalancer Services in the lab, seen from the host, as a learner
//! would: the tutorial's pods behind `type: LoadBalancer` get an
//! EXTERNAL-IP from the pool (172.28.0.200-250, outside Docker's range),
//! `curl` from the host answers through the node that announces it (the
//! host's ARP cache names that node's MAC), `/clientip` shows the host's
//! address under `Local` and not under `Cluster` (the "Source IP"
//! tutorial), source ranges shut the host out, a full pool leaves a
//! Service `<pending>` with an Event until an address frees, and killing
//! the announcing node moves the address (the failover time is printed).
//! Killing a node is the last thing the lab does.

use super::{compose, on_node};
use e2e::{eventually, kubectl_ok, table_rows, Kubeconfig};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SERVICE: &str = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"myapp-lb"},
 "spec":{"type":"LoadBalancer","selector":{"app":"myapp","release":"stabel"},
   "ports":[{"name":"http","port":80,"targetPort":80}]}}"#;
/// The host's address on the lab network (Docker gives the bridge the first).
const HOST: &str = "172.28.0.1";
const NODES: [&str; 2] = ["node1", "node2"];
/// The pool's size (docker-compose.yml's --lb-pool).
const POOL: usize = 51;

/// `curl` from the host itself, not from a container.
fn from_host(url: &str) -> Option<String> {
    let out = Command::new("curl").args(["-s", "--fail", "--max-time", "2", url]).output().expect("curl");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `describe`'s text with each Events row's Age (`5m10s`, `12s`) replaced by `<age>`.
fn without_event_ages(text: &str) -> String {
    let is_age = |w: &str| {
        !w.is_empty()
            && w.chars().all(|c| c.is_ascii_digit() || "smhd".contains(c))
            && w.ends_with(['s', 'm', 'h', 'd'])
    };
    let mut in_events = false;
    let mut out = String::new();
    for line in text.lines() {
        in_events |= line.starts_with("Events:");
        let line = if in_events && line.starts_with("  ") {
            line.split(' ').map(|w| if is_age(w) { "<age>" } else { w }).collect::<Vec<_>>().join(" ")
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn in_pool(ip: &str) -> bool {
    ip.strip_prefix("172.28.0.").and_then(|n| n.parse::<u8>().ok()).is_some_and(|n| (200..=250).contains(&n))
}

/// The nodes that hold `ip` on eth0 (the announcing one, and only it).
fn holders(ip: &str) -> Vec<&'static str> {
    NODES
        .into_iter()
        .filter(|n| {
            let out = on_node(n, &["ip", "-4", "addr", "show", "dev", "eth0"]);
            String::from_utf8_lossy(&out.stdout).contains(&format!("inet {ip}/32 "))
        })
        .collect()
}

fn mac_of(node: &str) -> String {
    String::from_utf8_lossy(&on_node(node, &["cat", "/sys/class/net/eth0/address"]).stdout).trim().to_string()
}

/// The MAC the host's ARP cache has for `ip`.
fn host_arp(ip: &str) -> String {
    let out = Command::new("ip").args(["neigh", "show", ip]).output().expect("ip neigh");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().skip_while(|w| *w != "lladdr").nth(1).unwrap_or("").to_string()
}

fn external_ip(kc: &Kubeconfig, name: &str) -> String {
    table_rows(&kubectl_ok(kc, &["get", "svc", name])).get(1).map(|r| r[3].clone()).unwrap_or_default()
}

/// Ten `/clientip` answers from the host: the client addresses the pods saw.
fn client_ips(ip: &str) -> Vec<String> {
    (0..10)
        .filter_map(|_| from_host(&format!("http://{ip}/clientip")))
        .map(|a| a.rsplit_once(':').map_or(a.clone(), |(host, _)| host.to_string()))
        .collect()
}

pub fn check(kc: &Kubeconfig, dir: &Path, lite: impl Fn(&[&str]) -> String) {
    let pods: BTreeSet<String> = table_rows(&kubectl_ok(kc, &["get", "pod", "-l", "app=myapp"]))
        .into_iter()
        .skip(1)
        .map(|r| r[0].clone())
        .collect();
    let file = dir.join("myapp-lb.json");
    std::fs::write(&file, SERVICE).unwrap();
    let created = Instant::now();
    kubectl_ok(kc, &["apply", "-f", file.to_str().unwrap()]);

    // 1. An address from the pool, then an answer from the host, every pod in turn.
    let ip = eventually("an EXTERNAL-IP from the pool", || external_ip(kc, "myapp-lb"), |ip| in_pool(ip));
    let assigned = created.elapsed();
    let hello =
        eventually("curl the EXTERNAL-IP from the host", || from_host(&format!("http://{ip}/")), Option::is_some);
    let reachable = created.elapsed();
    assert_eq!(hello.unwrap(), r#"Hello MyApp | Version: v2 | <a href="hostname.html">Pod Name</a>"#);
    eventually(
        "every pod answers the host",
        || (0..30).filter_map(|_| from_host(&format!("http://{ip}/hostname.html"))).collect::<BTreeSet<_>>(),
        |s| *s == pods,
    );
    // One node holds the address, and the host's ARP cache has its MAC.
    let announcer = eventually("one node holds the address", || holders(&ip), |h| h.len() == 1)[0];
    assert_eq!(host_arp(&ip), mac_of(announcer), "the host reaches {ip} through {announcer}");
    println!(
        "lab: LoadBalancer {ip} on {announcer}: assigned {} ms, reachable from the host {} ms after create",
        assigned.as_millis(),
        reachable.as_millis()
    );

    // 2. The "Source IP" tutorial: Cluster masquerades, Local keeps the host's address.
    let cluster = client_ips(&ip);
    assert!(!cluster.is_empty() && cluster.iter().all(|c| c != HOST), "Cluster: the pods saw {cluster:?}");
    kubectl_ok(kc, &["patch", "svc", "myapp-lb", "-p", r#"{"spec":{"externalTrafficPolicy":"Local"}}"#]);
    let local = eventually(
        "Local keeps the client's address",
        || client_ips(&ip),
        |c| c.len() == 10 && c.iter().all(|c| c == HOST),
    );
    println!("lab: /clientip under Cluster {cluster:?}, under Local {:?}", &local[..1]);

    // 3. Source ranges that leave the host out shut it out; removing them lets it in.
    kubectl_ok(kc, &["patch", "svc", "myapp-lb", "-p", r#"{"spec":{"loadBalancerSourceRanges":["10.1.0.0/24"]}}"#]);
    eventually(
        "the host is shut out",
        || (0..3).filter_map(|_| from_host(&format!("http://{ip}/"))).count(),
        |n| *n == 0,
    );
    kubectl_ok(kc, &["patch", "svc", "myapp-lb", "-p", r#"{"spec":{"loadBalancerSourceRanges":null}}"#]);
    eventually("the host is let in again", || from_host(&format!("http://{ip}/")), Option::is_some);

    // 4. kubectl-lite: describe as kubectl prints it, and the address steps in the trace.
    let describe = ["describe", "svc", "myapp-lb"];
    // The Events' Age column is the one cell that moves between the two runs
    // (a kubectl run can take seconds here): compared with ages masked.
    let (ours, theirs) = eventually(
        "describe svc as kubectl prints it",
        || (lite(&describe), kubectl_ok(kc, &describe)),
        |(a, b)| without_event_ages(a) == without_event_ages(b),
    );
    let ingress = ours.lines().find(|l| l.starts_with("LoadBalancer Ingress:")).unwrap_or_default();
    assert!(ingress.ends_with(&format!(" {ip} (VIP)")), "{ours}\n{theirs}");
    let trace = lite(&["trace", "svc", "myapp-lb"]);
    assert!(trace.contains(&format!(r#"IPAllocated by service-lb: Assigned IP ["{ip}"]"#)), "{trace}");
    assert!(trace.contains(&format!(r#"nodeAssigned by proxy: announcing from node "{announcer}""#)), "{trace}");
    let line = format!(r#"LoadBalancer {ip}: announcing from node "{announcer}" with protocol "layer2""#);
    assert!(trace.contains(&line), "{trace}");

    // 5. A full pool: the last Service waits `<pending>`, with an Event, until an address frees.
    let fillers: String = (0..POOL)
        .map(|i| {
            format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: fill-{i}, labels: {{lab: fill}}}}\nspec: {{type: LoadBalancer, ports: [{{port: 80}}]}}\n"
            )
        })
        .collect();
    std::fs::write(dir.join("fill.yaml"), fillers).unwrap();
    kubectl_ok(kc, &["apply", "-f", dir.join("fill.yaml").to_str().unwrap()]);
    let rows =
        || table_rows(&kubectl_ok(kc, &["get", "svc", "-l", "lab=fill"])).into_iter().skip(1).collect::<Vec<_>>();
    let full = eventually("the pool full, one Service pending", rows, |r| {
        r.len() == POOL
            && r.iter().filter(|s| s[3] == "<pending>").count() == 1
            && r.iter().filter(|s| in_pool(&s[3])).count() == POOL - 1
    });
    let pending = full.iter().find(|s| s[3] == "<pending>").unwrap()[0].clone();
    let events = eventually(
        "the AllocationFailed Event",
        || kubectl_ok(kc, &["get", "events", "--field-selector", &format!("involvedObject.name={pending}")]),
        |e| e.contains("AllocationFailed"),
    );
    println!("lab: pool full: {pending} <pending>\n{events}");
    let freed = full.iter().find(|s| s[0] != pending).unwrap();
    kubectl_ok(kc, &["delete", "svc", &freed[0]]);
    eventually("the pending Service gets the freed address", || external_ip(kc, &pending), |a| *a == freed[3]);
    kubectl_ok(kc, &["delete", "svc", "-l", "lab=fill"]);

    // 6. The announcing node dies: the other takes the address over, the host's
    // ARP cache follows (gratuitous ARP), curl answers again. (Under Local the
    // candidates are the nodes with a ready pod: both, so the same node.)
    let announcer = eventually("one node holds the address", || holders(&ip), |h| h.len() == 1)[0];
    let killed = Instant::now();
    let out = compose(&["kill", announcer]);
    assert!(out.status.success(), "kill {announcer}: {}", String::from_utf8_lossy(&out.stderr));
    let mut failed = 0;
    while from_host(&format!("http://{ip}/hostname.html")).is_none() {
        failed += 1;
        assert!(
            killed.elapsed() < Duration::from_secs(90),
            "{ip} still unreachable {failed} tries after killing {announcer}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let failover = killed.elapsed();
    let other = NODES.into_iter().find(|n| *n != announcer).unwrap();
    assert_eq!(holders(&ip), [other]);
    assert_eq!(host_arp(&ip), mac_of(other), "the host's ARP cache follows the address");
    println!(
        "lab: failover of {ip} from {announcer} (docker kill) to {other}: {:.1} s, {failed} requests failed (node grace period 20 s)",
        failover.as_secs_f64()
    );

    // 7. The node comes back: if it ranks first again the address moves
    // back, but the giver lets go before the taker holds it (handover.rs).
    // Each node samples its own eth0 every 20 ms, stamped with the kernel's
    // uptime (one clock: the containers share the host's kernel), and the
    // two timelines must never both hold the address.
    let giver = spawn_sampler(other, &ip);
    let out = compose(&["start", announcer]);
    assert!(out.status.success(), "start {announcer}: {}", String::from_utf8_lossy(&out.stderr));
    let taker = spawn_sampler(announcer, &ip);
    let started = Instant::now();
    let ready = || {
        kubectl_ok(kc, &["get", "node", announcer, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"])
            == "True"
    };
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(SAMPLED_SECS - 10), "{announcer} not Ready after it started");
        std::thread::sleep(Duration::from_millis(200));
    }
    let ready_after = started.elapsed();
    let (giver, taker) = (samples_of(giver), samples_of(taker));
    assert!(giver.len() > 100 && taker.len() > 100, "too few samples: {} and {}", giver.len(), taker.len());
    if let Some(at) = both_held(&giver, &taker) {
        panic!("{ip} held by {other} and {announcer} at once, at uptime {at:.2} s\n{giver:?}\n{taker:?}");
    }
    // The samplers stop at a fixed time, which may fall inside a handover's
    // short gap (the giver let go, the taker not yet holding): settling gets
    // a few seconds more, an address nobody takes still fails.
    let settling = Instant::now();
    let settled = loop {
        let now = holders(&ip);
        if now.len() == 1 {
            break now;
        }
        assert!(
            settling.elapsed() < Duration::from_secs(SETTLE_SECS),
            "{ip} held by {now:?} {SETTLE_SECS} s after sampling ended, once {announcer} is back (Ready after {ready_after:?}); held/free from uptime: {other} {:?}, {announcer} {:?}",
            changes(&giver),
            changes(&taker)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    println!(
        "lab: {announcer} back (Ready after {:.1} s): {ip} on {} now, never on two nodes ({} and {} samples, 20 ms apart)",
        ready_after.as_secs_f64(),
        settled[0],
        giver.len(),
        taker.len()
    );
}

/// How long each node's sampler runs.
const SAMPLED_SECS: u64 = 40;

/// How long, after sampling, the address may take to rest on one node.
const SETTLE_SECS: u64 = 15;

/// A loop on `node` that prints `<uptime> held|free` for `ip` on eth0 every
/// 20 ms, for [`SAMPLED_SECS`] (shell builtins and `ip`: the image's few tools).
fn spawn_sampler(node: &str, ip: &str) -> std::process::Child {
    let script = format!(
        "read start _ </proc/uptime; start=${{start%.*}}; now=$start
         while [ $((now - start)) -lt {SAMPLED_SECS} ]; do
           read up _ </proc/uptime; now=${{up%.*}}
           case \"$(ip -4 -o addr show dev eth0)\" in *\" {ip}/32 \"*) echo \"$up held\";; *) echo \"$up free\";; esac
           sleep 0.02
         done"
    );
    let mut cmd = super::compose_command_of(super::compose_argv(), &["exec", "-T", node, "sh", "-c", &script]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().expect("docker compose exec")
}

/// Where a timeline changes: its first sample, each flip, its last (a failure's
/// record: a handover's gap tells apart from an address nobody took).
fn changes(samples: &[(f64, bool)]) -> Vec<(f64, bool)> {
    let flips = samples.windows(2).filter(|w| w[0].1 != w[1].1).map(|w| w[1]);
    samples.first().copied().into_iter().chain(flips).chain(samples.last().copied()).collect()
}

/// The sampler's timeline, once it has ended.
fn samples_of(child: std::process::Child) -> Vec<(f64, bool)> {
    let out = child.wait_with_output().expect("the sampler");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(t, state)| Some((t.parse().ok()?, state == "held")))
        .collect()
}

/// The first moment both timelines hold the address, if any. A sample's
/// state lasts until that node's next sample; before a taker's first
/// sample, it is taken to hold whatever its first sample says (it may
/// have taken the address before its sampler started).
fn both_held(giver: &[(f64, bool)], taker: &[(f64, bool)]) -> Option<f64> {
    let state_at = |samples: &[(f64, bool)], t: f64, before: bool| {
        samples.iter().take_while(|(at, _)| *at <= t).last().map_or(before, |(_, held)| *held)
    };
    let taker_before = taker.first().is_some_and(|(_, held)| *held);
    let mut times: Vec<f64> = giver.iter().chain(taker).map(|(t, _)| *t).collect();
    times.sort_by(f64::total_cmp);
    // The taker's timeline starts when its sampler does; the giver's is
    // watched from before the node was started.
    let from = giver.first().map_or(f64::MAX, |(t, _)| *t);
    times.into_iter().filter(|t| *t >= from).find(|t| state_at(giver, *t, false) && state_at(taker, *t, taker_before))
}

#[cfg(test)]
mod tests {
    use super::{both_held, changes};

    #[test]
    fn a_timeline_is_told_by_its_ends_and_flips() {
        assert_eq!(changes(&[]), []);
        let steady = [(1.0, true), (1.02, true), (1.04, true)];
        assert_eq!(changes(&steady), [(1.0, true), (1.04, true)]);
        let handed = [(1.0, true), (1.02, false), (1.04, false), (2.0, true), (2.02, true)];
        assert_eq!(changes(&handed), [(1.0, true), (1.02, false), (2.0, true), (2.02, true)]);
    }

    #[test]
    fn two_timelines_overlap_only_where_both_hold() {
        let giver = [(10.0, true), (10.5, true), (11.0, false), (12.0, false)];
        // Taken after the giver let go: no overlap.
        assert_eq!(both_held(&giver, &[(10.2, false), (11.2, true), (12.0, true)]), None);
        // Taken while the giver still held it.
        assert_eq!(both_held(&giver, &[(10.2, false), (10.6, true)]), Some(10.6));
        // Held from the taker's first sample on: it may have been taken
        // earlier, while the giver held it.
        assert_eq!(both_held(&giver, &[(10.7, true)]), Some(10.0));
        // Never taken.
        assert_eq!(both_held(&giver, &[(10.1, false), (12.0, false)]), None);
    }
}
