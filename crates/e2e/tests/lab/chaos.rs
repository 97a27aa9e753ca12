//! The highly available lab under faults (`docker-compose.ha.yml`): while 8
//! clients create, update and delete Services through both apiservers
//! (ClusterIP and NodePort, some asking for the same static address or port
//! at once) and node1 curls a ClusterIP and a NodePort in a loop, the test
//! kills an etcd member, pauses one apiserver and kills the other, kills the
//! controller holding the Lease, stops node2, and restarts each proxy. Then
//! it checks, from etcd and through the API, that nothing acknowledged was
//! lost, no value is held twice or leaked, endpoints are the ready pods, and
//! each apiserver's watch shows what etcd holds (`chaos_checks.rs`). It
//! prints the writes, failed curls and recovery time of each fault.

#[path = "chaos_checks.rs"]
mod checks;

use super::compose_ha;
use base64::Engine;
use e2e::{eventually, kubectl, Kubeconfig};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;

const APISERVERS: [(&str, &str); 2] = [("apiserver1", "172.28.0.31:6443"), ("apiserver2", "172.28.0.32:6443")];
const FRONT: &str = "127.0.0.1:6443";
const WRITERS: usize = 8;
/// The static values the writers ask for, few enough that two ask for the same one at once.
const STATIC_IPS: u8 = 12;
const STATIC_PORTS: u16 = 12;

/// The raw requests' TLS: the lab's CA and kubernetes-admin's client
/// certificate, from the admin kubeconfig ([`check`] sets it).
static ADMIN_TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// A `*-data` field of a kubeconfig minted by `apiserver kubeconfig`, decoded.
fn kubeconfig_data(kubeconfig: &str, field: &str) -> Vec<u8> {
    let b64 = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in the admin kubeconfig"));
    base64::engine::general_purpose::STANDARD.decode(b64.trim()).expect("base64 in the kubeconfig")
}

fn admin_tls(kubeconfig: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&kubeconfig_data(kubeconfig, "certificate-authority-data")) {
        roots.add(ca.expect("the CA's PEM")).expect("the CA");
    }
    let chain = CertificateDer::pem_slice_iter(&kubeconfig_data(kubeconfig, "client-certificate-data"))
        .collect::<Result<Vec<_>, _>>()
        .expect("the client certificate's PEM");
    let key = PrivateKeyDer::from_pem_slice(&kubeconfig_data(kubeconfig, "client-key-data")).expect("the key's PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("the admin's certificate and key");
    Arc::new(config)
}

/// One HTTP/1.0 request over TLS as kubernetes-admin (so the answer ends
/// with the connection; the apiservers' certificate names each address):
/// the status, or `None` when nothing answered within `timeout`.
fn request(addr: &str, method: &str, path: &str, content_type: &str, body: &str, timeout: Duration) -> Option<u16> {
    let sock: std::net::SocketAddr = addr.parse().ok()?;
    let tcp = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(2)).ok()?;
    tcp.set_read_timeout(Some(timeout)).ok()?;
    tcp.set_write_timeout(Some(timeout)).ok()?;
    let name = rustls::pki_types::ServerName::IpAddress(sock.ip().into());
    let tls = rustls::ClientConnection::new(ADMIN_TLS.get()?.clone(), name).ok()?;
    let mut s = rustls::StreamOwned::new(tls, tcp);
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    s.flush().ok()?;
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => {}
        // The connection closed without TLS's close_notify: still the end of the answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(_) => return None,
    }
    String::from_utf8_lossy(&answer).split_whitespace().nth(1)?.parse().ok()
}

fn ready(addr: &str) -> bool {
    request(addr, "GET", "/readyz", "text/plain", "", Duration::from_secs(2)) == Some(200)
}

/// One write's outcome, when and through which apiserver.
struct Outcome {
    at: Instant,
    server: usize,
    /// Answered 2xx, or a 4xx that is the client's own (a static value taken).
    answered: bool,
}

/// What the writers did, for the lost-write check.
#[derive(Default)]
struct Ledger {
    attempted: usize,
    acknowledged: usize,
    /// 422: the static ClusterIP or NodePort was taken (by another writer).
    refused: usize,
    created: BTreeSet<String>,
    delete_attempted: BTreeSet<String>,
    /// Per Service: the last acknowledged and the last attempted generation label.
    generations: BTreeMap<String, (u32, u32)>,
    outcomes: Vec<Outcome>,
}

fn service_body(name: &str, writer: usize, node_port: bool, ip: Option<String>, port: Option<u16>) -> String {
    let app = if writer.is_multiple_of(2) { "chaos-web" } else { "chaos-none" };
    let mut spec = serde_json::json!({
        "type": if node_port { "NodePort" } else { "ClusterIP" },
        "selector": {"app": app},
        "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}],
    });
    if let Some(ip) = ip {
        spec["clusterIP"] = ip.into();
    }
    if let Some(p) = port {
        spec["ports"][0]["nodePort"] = p.into();
    }
    serde_json::json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": {"chaos": "yes", "chaos-gen": "0"}}, "spec": spec})
    .to_string()
}

/// One writer: creates, updates (a label, and the type flipped, which
/// claims or frees a NodePort) and deletes its own Services, alternating
/// between the two apiservers, never reusing a name.
fn writer(w: usize, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let mut rng = fastrand::Rng::with_seed(w as u64 + 17);
    let mut live: Vec<String> = Vec::new();
    let (mut n, mut op) = (0, 0);
    let timeout = Duration::from_secs(10);
    let base = "/api/v1/namespaces/default/services";
    while !stop.load(Ordering::Relaxed) {
        op += 1;
        let server = (w + op) % 2;
        let addr = APISERVERS[server].1;
        let choice = if live.len() < 3 { 0 } else { rng.u8(0..10) };
        let (status, ok_when) = match choice {
            0..=3 => {
                n += 1;
                let name = format!("chaos-{w}-{n}");
                let node_port = n % 2 == 0;
                let ip = (rng.u8(0..4) == 0).then(|| format!("10.96.200.{}", 1 + rng.u8(0..STATIC_IPS)));
                let port = (node_port && rng.u8(0..3) == 0).then(|| 31900 + rng.u16(0..STATIC_PORTS));
                let body = service_body(&name, w, node_port, ip, port);
                let status = request(addr, "POST", base, "application/json", &body, timeout);
                if status == Some(201) {
                    ledger.lock().unwrap().created.insert(name.clone());
                    live.push(name);
                }
                (status, 201)
            }
            4..=7 => {
                let name = live[rng.usize(0..live.len())].clone();
                let g = ledger.lock().unwrap().generations.get(&name).map_or(0, |g| g.1) + 1;
                let spec = match g % 2 {
                    1 => r#"{"type":"ClusterIP","ports":[{"port":80,"targetPort":80,"protocol":"TCP"}]}"#,
                    _ => r#"{"type":"NodePort"}"#,
                };
                let patch = format!(r#"{{"metadata":{{"labels":{{"chaos-gen":"{g}"}}}},"spec":{spec}}}"#);
                let status =
                    request(addr, "PATCH", &format!("{base}/{name}"), "application/merge-patch+json", &patch, timeout);
                let mut l = ledger.lock().unwrap();
                let entry = l.generations.entry(name).or_default();
                entry.1 = g;
                if status == Some(200) {
                    entry.0 = g;
                }
                (status, 200)
            }
            _ => {
                let name = live.swap_remove(rng.usize(0..live.len()));
                ledger.lock().unwrap().delete_attempted.insert(name.clone());
                (request(addr, "DELETE", &format!("{base}/{name}"), "application/json", "", timeout), 200)
            }
        };
        let mut l = ledger.lock().unwrap();
        l.attempted += 1;
        l.acknowledged += usize::from(status == Some(ok_when));
        l.refused += usize::from(status == Some(422));
        l.outcomes.push(Outcome {
            at: Instant::now(),
            server,
            answered: status == Some(ok_when) || status == Some(422),
        });
        drop(l);
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The curl loop's answers as they arrive: (when, which target, whether
/// it succeeded, curl's exit code and node1's uptime then: a failure says
/// how it failed, 7 refused, 28 timed out, 52 empty, 56 reset).
type Answers = Arc<Mutex<Vec<(Instant, &'static str, bool, String)>>>;

/// node1's curl loop, one line per request, timed as it arrives here.
fn curl_loop(cluster_ip: &str, node_port: &str, seen: Answers) -> std::process::Child {
    let script = format!(
        "while :; do \
           curl -s -o /dev/null --max-time 2 http://{cluster_ip}/; e=$?; read up _ </proc/uptime; echo \"cip $e $up\"; \
           curl -s -o /dev/null --max-time 2 http://172.28.0.11:{node_port}/; e=$?; read up _ </proc/uptime; echo \"np $e $up\"; \
           sleep 0.2 2>/dev/null || sleep 1; done"
    );
    let mut child = super::compose_ha_command(&["exec", "-T", "node1", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl loop");
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let target = if line.starts_with("cip") { "ClusterIP" } else { "NodePort" };
            // Poisoned only when the test has already failed: stop quietly.
            let Ok(mut seen) = seen.lock() else { return };
            let mut words = line.split(' ').skip(1);
            let (code, uptime) = (words.next().unwrap_or("?"), words.next().unwrap_or("?"));
            seen.push((Instant::now(), target, code == "0", format!("{target}: curl exit {code} at uptime {uptime}")));
        }
    });
    child
}

/// How many curls answered after `from`, and how each failure failed.
fn answers_since(curls: &Answers, from: Instant) -> (usize, Vec<String>) {
    let curls = curls.lock().unwrap();
    let after: Vec<_> = curls.iter().filter(|(t, _, _, _)| *t > from).collect();
    (after.len(), after.iter().filter(|(_, _, ok, _)| !ok).map(|(_, _, _, d)| d.clone()).collect())
}

/// A fault: when it began, when the test undid it, when all was well again.
struct Fault {
    name: String,
    start: Instant,
    restored: Instant,
    recovered: Instant,
    /// Whether curls may fail in its window: only when pods themselves go
    /// away (a node stopped, a pod deleted), never for the control plane.
    pods_go: bool,
}

/// Waits until `healthy` holds (at most `within`), returning when it did.
fn until(what: &str, within: Duration, mut healthy: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + within;
    while !healthy() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    Instant::now()
}

fn docker(args: &[&str]) {
    let out = compose_ha(args);
    assert!(out.status.success(), "docker-compose {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn etcd_healthy() -> bool {
    let endpoints = "http://172.28.0.21:2379,http://172.28.0.22:2379,http://172.28.0.23:2379";
    compose_ha(&["exec", "-T", "etcd1", "etcdctl", "--endpoints", endpoints, "endpoint", "health"]).status.success()
}

/// The control plane is whole again: etcd's members healthy, both
/// apiservers ready, and a write acknowledged through each after `since`.
fn control_plane_recovered(ledger: &Mutex<Ledger>, since: Instant) -> bool {
    let wrote =
        |server| ledger.lock().unwrap().outcomes.iter().any(|o| o.at > since && o.server == server && o.answered);
    APISERVERS.iter().all(|(_, a)| ready(a)) && wrote(0) && wrote(1) && etcd_healthy()
}

fn jsonpath(kc: &Kubeconfig, args: &[&str]) -> Option<String> {
    let out = kubectl(kc, args);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn endpoint_ips(kc: &Kubeconfig, svc: &str) -> BTreeSet<String> {
    jsonpath(kc, &["get", "endpoints", svc, "-o", "jsonpath={.subsets[*].addresses[*].ip}"])
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

fn ready_pod_ips(kc: &Kubeconfig, app: &str) -> BTreeSet<String> {
    // kubectl's JSONPath has no nested filters: read the JSON.
    let Some(list) = jsonpath(kc, &["get", "pods", "-l", &format!("app={app}"), "-o", "json"]) else {
        return BTreeSet::new();
    };
    let list: serde_json::Value = serde_json::from_str(&list).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .filter_map(|p| p["status"]["podIP"].as_str().map(String::from))
        .collect()
}

fn lease_holder(kc: &Kubeconfig) -> String {
    jsonpath(
        kc,
        &["get", "lease", "-n", "kube-system", "kube-controller-manager", "-o", "jsonpath={.spec.holderIdentity}"],
    )
    .unwrap_or_default()
}

/// The DNAT targets the kernel holds for `addr:port` (the nftables mode's
/// table), or the proxy's `/rules` block for it (either mode).
fn kernel_rules(node: &str, addr: &str, port: &str) -> (BTreeSet<String>, String) {
    let nft =
        String::from_utf8_lossy(&super::on_node_ha(node, &["nft", "list", "table", "ip", "mini-kube-proxy"]).stdout)
            .into_owned();
    let chain = |name: &str| -> String {
        nft.split(&format!("chain {name} {{")).nth(1).and_then(|r| r.split('}').next()).unwrap_or("").to_string()
    };
    let mut targets = BTreeSet::new();
    for line in nft.lines().filter(|l| l.contains(&format!("ip daddr {addr} tcp dport {port} "))) {
        let Some(svc) = line.split("jump ").nth(1) else { continue };
        for ep in chain(svc.trim()).split("jump ").skip(1) {
            let ep = ep.split([',', ' ', '}']).next().unwrap_or("");
            targets.extend(chain(ep).split("dnat to ").nth(1).map(|t| t.trim().to_string()));
        }
    }
    let rules =
        String::from_utf8_lossy(&super::on_node_ha(node, &["curl", "-s", "http://127.0.0.1:10256/rules"]).stdout)
            .into_owned();
    let block = rules
        .split(&format!("TCP  {addr}:{port} rr"))
        .nth(1)
        .map(|r| r.lines().skip(1).take_while(|l| l.starts_with("  ->")).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    (targets, block)
}

/// `admin` is the admin kubeconfig's text (`kc` is that file): kubectl,
/// the raw requests and the watches all use its CA and client certificate.
pub fn check(kc: &Kubeconfig, admin: &str) {
    ADMIN_TLS.get_or_init(|| admin_tls(admin));
    let started = Instant::now();
    docker(&["up", "-d"]);
    eventually(
        "both nodes Ready (HA)",
        || jsonpath(kc, &["get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}"]),
        |s| s.as_deref() == Some("True True"),
    );
    let ready_after = started.elapsed();
    super::dns::apply_addon(kc);
    // Both apiservers are the `kubernetes` Service's endpoints.
    eventually(
        "kubernetes endpoints are both apiservers",
        || endpoint_ips(kc, "kubernetes"),
        |e| *e == ["172.28.0.31".to_string(), "172.28.0.32".to_string()].into(),
    );

    // The Service node1 curls: 4 pods on both nodes, ClusterIP and NodePort.
    let web = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: chaos-web}\nspec:\n  replicas: 4\n  selector: {matchLabels: {app: chaos-web}}\n  template:\n    metadata: {labels: {app: chaos-web}}\n    spec: {containers: [{name: web, image: hub.xiaosha.com/library/myapp:v2, ports: [{containerPort: 80}]}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: chaos-web}\nspec: {type: NodePort, selector: {app: chaos-web}, ports: [{port: 80, targetPort: 80, nodePort: 30080}]}\n";
    let dir = e2e::ScratchDir::new("lab-chaos");
    std::fs::write(dir.0.join("web.yaml"), web).unwrap();
    e2e::kubectl_ok(kc, &["apply", "-f", dir.0.join("web.yaml").to_str().unwrap()]);
    eventually("4 chaos-web pods ready", || ready_pod_ips(kc, "chaos-web"), |p| p.len() == 4);
    let cluster_ip = jsonpath(kc, &["get", "svc", "chaos-web", "-o", "jsonpath={.spec.clusterIP}"]).unwrap();
    eventually(
        "chaos-web answers on node1",
        || super::curl_ha("node1", &format!("http://{cluster_ip}/")),
        Option::is_some,
    );

    // The load, the curls, each apiserver's watch, and the front probed.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mirrors = APISERVERS.map(|(_, a)| checks::Mirror::start(&rt, a, admin));
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (stop, ledger) = (stop.clone(), ledger.clone());
            std::thread::spawn(move || writer(w, stop, ledger))
        })
        .collect();
    let curls = Arc::new(Mutex::new(Vec::new()));
    let mut curler = curl_loop(&cluster_ip, "30080", curls.clone());
    let front = Arc::new(Mutex::new(Vec::new()));
    let prober = {
        let (stop, front) = (stop.clone(), front.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let ok = request(
                    FRONT,
                    "GET",
                    "/api/v1/namespaces/default/services/chaos-web",
                    "application/json",
                    "",
                    Duration::from_secs(3),
                ) == Some(200);
                front.lock().unwrap().push((Instant::now(), ok));
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(10));
    let mut faults: Vec<Fault> = Vec::new();

    // 1. An etcd member killed, then started: quorum holds throughout.
    let start = Instant::now();
    docker(&["kill", "etcd2"]);
    std::thread::sleep(Duration::from_secs(10));
    docker(&["start", "etcd2"]);
    let restored = Instant::now();
    let recovered =
        until("the control plane after etcd2", Duration::from_secs(90), || control_plane_recovered(&ledger, restored));
    faults.push(Fault { name: "docker kill etcd2 (10 s), start".into(), start, restored, recovered, pods_go: false });

    // 2. apiserver1 paused 20 s; then apiserver2 killed and started.
    let start = Instant::now();
    docker(&["pause", "apiserver1"]);
    std::thread::sleep(Duration::from_secs(20));
    docker(&["unpause", "apiserver1"]);
    let restored = Instant::now();
    let recovered = until("the control plane after the pause", Duration::from_secs(90), || {
        control_plane_recovered(&ledger, restored)
    });
    faults.push(Fault {
        name: "docker pause apiserver1 (20 s), unpause".into(),
        start,
        restored,
        recovered,
        pods_go: false,
    });
    let front_during_pause: Vec<bool> = front
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t > start + Duration::from_secs(8) && *t < restored)
        .map(|(_, ok)| *ok)
        .collect();

    std::thread::sleep(Duration::from_secs(5));
    let start = Instant::now();
    docker(&["kill", "-s", "SIGKILL", "apiserver2"]);
    std::thread::sleep(Duration::from_secs(5));
    docker(&["start", "apiserver2"]);
    let restored = Instant::now();
    let recovered = until("the control plane after apiserver2", Duration::from_secs(90), || {
        control_plane_recovered(&ledger, restored)
    });
    faults.push(Fault {
        name: "docker kill -s KILL apiserver2 (5 s), start".into(),
        start,
        restored,
        recovered,
        pods_go: false,
    });

    // 3. The controller holding the Lease killed: the other takes over.
    let holder = eventually("a controller holds the Lease", || lease_holder(kc), |h| h.starts_with("controller"));
    let (leader, other) = if holder.starts_with("controller1_") {
        ("controller1", "controller2")
    } else {
        ("controller2", "controller1")
    };
    let start = Instant::now();
    docker(&["kill", "-s", "SIGKILL", leader]);
    let took_over = until("the other controller takes the Lease", Duration::from_secs(40), || {
        lease_holder(kc).starts_with(&format!("{other}_"))
    });
    let takeover = took_over - start;
    docker(&["start", leader]);
    let restored = Instant::now();
    // The other had taken over before the killed one came back.
    faults.push(Fault {
        name: format!("docker kill -s KILL {leader} (the leader), start"),
        start,
        restored,
        recovered: restored,
        pods_go: false,
    });

    // 3b. Endpoints still follow readiness under the new leader: a pod
    // deleted is replaced, and the endpoints are the ready pods. Its own
    // window, not the controller's: a pod that goes drops the requests the
    // proxies still send it until every Service selecting it is updated,
    // and half the writers' Services select chaos-web (about 100 by now,
    // each an Endpoints and an EndpointSlice write, reconciled one after
    // the other, chaos-web's last by name), while the kubelet stops the pod
    // after its 2 s drain: upstream's controller, too, takes seconds there,
    // and its kubelet does not wait. What must hold: the endpoints
    // converge, and then no curl fails.
    let selecting = jsonpath(kc, &["get", "svc", "-l", "chaos=yes", "-o", "jsonpath={.items[*].spec.selector.app}"])
        .unwrap_or_default()
        .split_whitespace()
        .filter(|a| *a == "chaos-web")
        .count();
    let victim =
        jsonpath(kc, &["get", "pods", "-l", "app=chaos-web", "-o", "jsonpath={.items[0].metadata.name}"]).unwrap();
    let victim_ip = jsonpath(kc, &["get", "pod", &victim, "-o", "jsonpath={.status.podIP}"]).unwrap();
    let start = Instant::now();
    // Through the front, a request can meet a connection it is closing: retry.
    eventually(
        "delete a chaos-web pod",
        || kubectl(kc, &["delete", "pod", &victim, "--wait=false"]).status.success(),
        |ok| *ok,
    );
    let restored = Instant::now();
    let recovered = until("endpoints follow the replaced pod", Duration::from_secs(90), || {
        let ready = ready_pod_ips(kc, "chaos-web");
        ready.len() == 4 && !ready.contains(&victim_ip) && endpoint_ips(kc, "chaos-web") == ready
    });
    // The proxies' turn: then 10 s of curls through node1 must all succeed.
    std::thread::sleep(Duration::from_secs(3));
    let quiet_from = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let after_replaced = answers_since(&curls, quiet_from);
    faults.push(Fault {
        name: format!("a chaos-web pod deleted ({selecting} Services select it)"),
        start,
        restored,
        recovered,
        pods_go: true,
    });

    // 4. node2 stopped: its pods leave the endpoints, node1 keeps answering; then it rejoins.
    let start = Instant::now();
    let node2_stopped = start;
    docker(&["stop", "node2"]);
    let left = until("node2's pods leave the endpoints", Duration::from_secs(90), || {
        let ep = endpoint_ips(kc, "chaos-web");
        !ep.is_empty() && ep.iter().all(|ip| !ip.starts_with("10.244.2."))
    });
    // The proxies' turn: then 10 s of curls through node1 must all succeed.
    std::thread::sleep(Duration::from_secs(3));
    let quiet_from = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let after_left = answers_since(&curls, quiet_from);
    docker(&["start", "node2"]);
    let restored = Instant::now();
    let recovered = until("node2 rejoins and its pods come back", Duration::from_secs(120), || {
        let ep = endpoint_ips(kc, "chaos-web");
        ep.iter().any(|ip| ip.starts_with("10.244.2.")) && ep == ready_pod_ips(kc, "chaos-web") && ep.len() == 4
    });
    faults.push(Fault { name: "docker stop node2, start".into(), start, restored, recovered, pods_go: true });

    // 5. Each proxy restarted: the kernel's rules for chaos-web stay as they were.
    let mut unchanged = Vec::new();
    let start = Instant::now();
    for node in ["node1", "node2"] {
        let ip = if node == "node1" { "172.28.0.11" } else { "172.28.0.12" };
        let before = [kernel_rules(node, &cluster_ip, "80"), kernel_rules(node, ip, "30080")];
        let pid =
            String::from_utf8_lossy(&super::on_node_ha(node, &["cat", "/run/proxy.pid"]).stdout).trim().to_string();
        super::on_node_ha(node, &["sh", "-c", "kill $(cat /run/proxy.pid)"]);
        until(&format!("{node}'s proxy back"), Duration::from_secs(60), || {
            let now =
                String::from_utf8_lossy(&super::on_node_ha(node, &["cat", "/run/proxy.pid"]).stdout).trim().to_string();
            now != pid && super::curl_ha(node, "http://127.0.0.1:10256/healthz").is_some()
        });
        let after = [kernel_rules(node, &cluster_ip, "80"), kernel_rules(node, ip, "30080")];
        unchanged.push((node, before == after && !before[0].1.is_empty(), format!("{before:?} → {after:?}")));
    }
    let restored = Instant::now();
    faults.push(Fault { name: "each proxy restarted".into(), start, restored, recovered: restored, pods_go: false });
    std::thread::sleep(Duration::from_secs(5));

    // Quiescence: the writers stop, and every check runs on what is left.
    stop.store(true, Ordering::Relaxed);
    writers.into_iter().for_each(|w| w.join().unwrap());
    prober.join().unwrap();
    let _ = curler.kill();
    let _ = curler.wait();
    let end = Instant::now();

    let ledger = ledger.lock().unwrap();
    let etcd_services = checks::etcd_prefix("/registry/services/specs/");
    let present: BTreeMap<String, &checks::Kv> = etcd_services
        .iter()
        .map(|kv| (kv.key.trim_start_matches("/registry/services/specs/default/").to_string(), kv))
        .collect();
    let lost: Vec<&String> =
        ledger.created.iter().filter(|n| !ledger.delete_attempted.contains(*n) && !present.contains_key(*n)).collect();
    let stale: Vec<String> = ledger
        .generations
        .iter()
        .filter_map(|(name, (acked, attempted))| {
            let kv = present.get(name)?;
            let g: u32 = kv.value["metadata"]["labels"]["chaos-gen"].as_str()?.parse().ok()?;
            (g < *acked || g > *attempted)
                .then(|| format!("{name}: chaos-gen {g}, acknowledged {acked}, attempted {attempted}"))
        })
        .collect();
    let allocations = checks::check_allocations(
        &etcd_services,
        &checks::etcd_prefix("/registry/ipaddresses/"),
        &checks::etcd_prefix("/registry/servicenodeports/"),
    );
    let endpoints = eventually(
        "every Service's Endpoints and EndpointSlices are its ready pods",
        || {
            let list = jsonpath(kc, &["get", "pods,services,endpoints,endpointslices", "-A", "-o", "json"])
                .unwrap_or_default();
            serde_json::from_str(&list).map(|l| checks::check_endpoints(&l)).unwrap_or_else(|e| vec![e.to_string()])
        },
        Vec::is_empty,
    );
    let want = checks::etcd_services(&checks::etcd_prefix("/registry/services/specs/"));
    for (m, (name, _)) in mirrors.iter().zip(APISERVERS) {
        eventually(
            &format!("{name}'s watch shows what etcd holds"),
            || m.services.lock().unwrap().clone(),
            |s| *s == want,
        );
    }

    // The report.
    report!(
        "chaos: HA lab Ready {:.1} s after up; {} Services at the end; run {:.0} s",
        ready_after.as_secs_f64(),
        want.len(),
        started.elapsed().as_secs_f64()
    );
    report!(
        "chaos: writes attempted {}, acknowledged {}, refused (static value taken) {}, lost {}; stale updates {}",
        ledger.attempted,
        ledger.acknowledged,
        ledger.refused,
        lost.len(),
        stale.len()
    );
    report!(
        "chaos: duplicate allocations {}; allocation key problems {}",
        allocations.duplicates.len(),
        allocations.problems.len()
    );
    for (m, (name, _)) in mirrors.iter().zip(APISERVERS) {
        let (lists, errors) = *m.lists.lock().unwrap();
        report!(
            "chaos: {name}'s watch: {lists} lists, {errors} watch errors, agrees with etcd ({} Services)",
            want.len()
        );
    }
    report!("chaos: controller takeover {:.1} s after the leader was killed (lease 15 s)", takeover.as_secs_f64());
    report!(
        "chaos: node2's pods left the endpoints {:.1} s after docker stop (grace 20 s)",
        (left - node2_stopped).as_secs_f64()
    );
    let curls = curls.lock().unwrap();
    let front = front.lock().unwrap();
    for (i, f) in faults.iter().enumerate() {
        let until = faults.get(i + 1).map_or(end, |n| n.start);
        let window = |t: &Instant| *t >= f.start && *t < until;
        let failed = |target| curls.iter().filter(|(t, what, ok, _)| window(t) && *what == target && !ok).count();
        let total = curls.iter().filter(|(t, _, _, _)| window(t)).count();
        let writes = ledger.outcomes.iter().filter(|o| window(&o.at));
        let (w_total, w_failed) = writes.fold((0, 0), |(a, b), o| (a + 1, b + usize::from(!o.answered)));
        let front_failed = front.iter().filter(|(t, ok)| window(t) && !ok).count();
        report!(
            "chaos: {}: curls failed ClusterIP {} NodePort {} of {total}; writes unanswered {w_failed} of {w_total}; API via 127.0.0.1:6443 failed {front_failed}; recovered {:.1} s after it was undone",
            f.name, failed("ClusterIP"), failed("NodePort"), (f.recovered - f.restored).as_secs_f64()
        );
    }
    for (node, same, detail) in &unchanged {
        report!("chaos: {node}'s proxy restarted: chaos-web's rules unchanged: {same} ({detail})");
    }

    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
    assert!(stale.is_empty(), "{stale:?}");
    assert!(allocations.duplicates.is_empty() && allocations.problems.is_empty(), "{allocations:?}");
    assert!(endpoints.is_empty());
    assert!(ledger.acknowledged > ledger.attempted / 2, "most writes should succeed");
    assert!(takeover < Duration::from_secs(25), "takeover took {takeover:?}");
    let (answered, failures) = &after_left;
    assert!(*answered > 10 && failures.is_empty(), "curls through node1 after node2's pods left: {after_left:?}");
    let (answered, failures) = &after_replaced;
    assert!(
        *answered > 10 && failures.is_empty(),
        "curls through node1 after the deleted pod left the endpoints: {after_replaced:?}"
    );
    assert!(front_during_pause.iter().all(|ok| *ok), "the front kept failing during the pause: {front_during_pause:?}");
    assert!(unchanged.iter().all(|(_, same, _)| *same), "rules changed across a proxy restart");
    // The data plane does not depend on the control plane: no curl fails
    // while etcd, an apiserver, a controller or a proxy is down.
    for (i, f) in faults.iter().enumerate().filter(|(_, f)| !f.pods_go) {
        let until = faults.get(i + 1).map_or(end, |n| n.start);
        let failed: Vec<&String> =
            curls.iter().filter(|(t, _, ok, _)| *t >= f.start && *t < until && !ok).map(|(_, _, _, d)| d).collect();
        assert!(failed.is_empty(), "curls failed during {}: {failed:?}", f.name);
    }
    drop(rt);
}
