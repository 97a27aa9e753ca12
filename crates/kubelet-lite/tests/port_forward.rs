//! `kubectl port-forward` for real: kubelet-lite in a node's network
//! namespace, the apiserver and etcd on the host, an nginx pod (the built-in
//! server) behind a Service; the installed kubectl 1.32 tunnels SPDY/3.1 in
//! a WebSocket through the apiserver to the kubelet, which connects to the
//! port inside the pod's network namespace.

use e2e::netns::NodeCluster;
use e2e::{eventually, kubectl, kubectl_ok, DeletePodsOnDrop, Kubeconfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const OBJECTS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: node1
  containers:
  - {name: nginx, image: nginx, ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 8080, targetPort: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: nowhere}
spec:
  nodeName: no-such-node
  containers:
  - {name: c, image: nginx}
"#;

/// A running `kubectl port-forward`: its local port (kubectl picks one
/// for `:80`), what it printed, killed when dropped.
struct Forward {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Forward {
    fn start(kc: &Kubeconfig, what: &str, remote: u16, target_port: u16) -> Forward {
        Forward::start_with(kc, what, remote, target_port, "true")
    }

    /// `websockets`: `KUBECTL_PORT_FORWARD_WEBSOCKETS` (`false`: plain SPDY/3.1).
    fn start_with(kc: &Kubeconfig, what: &str, remote: u16, target_port: u16, websockets: &str) -> Forward {
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", &kc.path)
            .env("KUBECTL_PORT_FORWARD_WEBSOCKETS", websockets)
            .arg("--cache-dir")
            .arg(kc.path.with_file_name("cache"))
            .args(["port-forward", what, &format!(":{remote}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let first = lines.recv_timeout(Duration::from_secs(20)).expect("kubectl port-forward said nothing");
        // "Forwarding from 127.0.0.1:43567 -> 80"
        let rest = first.strip_prefix("Forwarding from 127.0.0.1:").unwrap_or_else(|| panic!("{first}"));
        let (port, target) = rest.split_once(" -> ").unwrap();
        assert_eq!(target, target_port.to_string(), "{first}");
        Forward { child, port: port.parse().unwrap(), lines, stderr }
    }

    /// `GET /` through the forward: the status line and the body.
    fn get(&self) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn stop(mut self) -> (Vec<String>, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.lines.try_iter().collect(), self.stderr.join().unwrap())
    }
}

/// The sockets a process holds.
fn sockets_of(pid: u32) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten();
    fds.filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))).count()
}

#[test]
fn kubectl_port_forward_reaches_the_pod() {
    let cluster = NodeCluster::start("kp", "port-forward");
    let (_net, scratch, api, kc) = (&cluster.net, &cluster.scratch, &cluster.api, &cluster.kc);
    let mut kubelet = cluster.kubelet(Path::new(env!("CARGO_BIN_EXE_kubelet-lite")), &[]);
    let _cleanup = DeletePodsOnDrop(kc);
    let file = scratch.0.join("objects.yaml");
    std::fs::write(&file, OBJECTS).unwrap();
    kubectl_ok(kc, &["apply", "-f", file.to_str().unwrap()]);
    eventually(
        "web Running",
        || kubectl_ok(kc, &["get", "pod", "web", "-o", "jsonpath={.status.phase}"]),
        |p| p == "Running",
    );

    // A pod's port, from the host.
    let fwd = Forward::start(kc, "pod/web", 80, 80);
    let page = eventually("the welcome page", || fwd.get(), |p| p.starts_with("HTTP/1.1 200"));
    assert!(page.contains("Welcome to nginx!"), "{page}");
    // Ten at once: one SPDY connection, a stream pair for each.
    let port = fwd.port;
    let parallel: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                out
            })
        })
        .collect();
    for t in parallel {
        let page = t.join().unwrap();
        assert!(page.starts_with("HTTP/1.1 200") && page.contains("Welcome to nginx!"), "{page}");
    }
    // The figure: one request through the forward, over 20 runs.
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        assert!(fwd.get().contains("Welcome to nginx!"));
        times.push(t.elapsed());
    }
    println!("GET / through kubectl port-forward pod/web: p50 {:?} over 20 requests", e2e::bench::median(times));
    let (lines, err) = fwd.stop();
    assert!(lines.iter().any(|l| l == &format!("Handling connection for {port}")), "{lines:?}");
    assert!(!err.contains("error"), "{err}");

    // kubectl's fallback without WebSockets: SPDY/3.1 on the upgraded connection.
    let fwd = Forward::start_with(kc, "pod/web", 80, 80, "false");
    assert!(fwd.get().contains("Welcome to nginx!"));
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        assert!(fwd.get().contains("Welcome to nginx!"));
        times.push(t.elapsed());
    }
    println!("GET / through plain SPDY kubectl port-forward: p50 {:?} over 20 requests", e2e::bench::median(times));
    // It was SPDY on the connection: a POST, upgraded.
    let (_, metrics) = e2e::http("GET", &api.url, "/metrics", None, "");
    let spdy = r#"apiserver_request_total{code="101",resource="pods/portforward",verb="POST"} 1"#;
    assert!(metrics.contains(spdy), "{metrics}");
    let (_, err) = fwd.stop();
    assert!(!err.contains("error"), "{err}");

    // A client that goes away mid-connection leaves no socket behind on the node.
    let kubelet_pid = kubelet.0.id();
    let fwd = Forward::start(kc, "pod/web", 80, 80);
    // The tunnel is up (kubectl prints its line once it is): count from here.
    let before = sockets_of(kubelet_pid);
    let held: Vec<_> = (0..3)
        // Connected, silent: the built-in server waits for a request.
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", fwd.port)).unwrap())
        .collect();
    // A connection into the pod for each.
    eventually("the held connections reach the pod", || sockets_of(kubelet_pid), |n| *n >= before + 3);
    fwd.stop();
    drop(held);
    // Neither those nor the tunnel.
    eventually("the node let go of them", || sockets_of(kubelet_pid), |n| *n < before);

    // A Service: kubectl picks its pod and maps the port to the targetPort.
    let fwd = Forward::start(kc, "svc/web", 8080, 80);
    assert!(fwd.get().contains("Welcome to nginx!"));
    fwd.stop();

    // A port nothing listens on: the error stream's text, as kubectl prints it.
    let fwd = Forward::start(kc, "pod/web", 81, 81);
    let fwd_port = fwd.port;
    let answer = fwd.get();
    assert!(answer.is_empty(), "{answer}");
    let (_, err) = fwd.stop();
    let want =
        format!("an error occurred forwarding {} -> 81: error forwarding port 81 to pod web_default, uid ", fwd_port);
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("connection refused") || err.contains("Connection refused"), "{err}");

    // The Python client's portforward(): the kubelet's v4 WebSocket port-forward.
    let script = r#"
import sys, time
from kubernetes import client, config
from kubernetes.stream import portforward
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
def fetch(port):
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports=str(port))
    s = pf.socket(port)
    s.settimeout(15)
    data = b""
    # A failed port: the client drops its local socket once the error came.
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.close()
    for _ in range(50):
        if pf.error(port) is not None or port == 80:
            break
        time.sleep(0.1)
    return data, pf.error(port)
data, err = fetch(80)
print(data.split(b"\r\n")[0].decode(), b"Welcome to nginx!" in data, err)
data, err = fetch(81)
print(len(data), err)
"#;
    let py = Command::new("python3").args(["-c", script]).arg(&kc.path).output().unwrap();
    let text = String::from_utf8_lossy(&py.stdout);
    assert!(py.status.success(), "{text}{}", String::from_utf8_lossy(&py.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "HTTP/1.1 200 OK True None", "{text}");
    assert!(lines[1].starts_with("0 error forwarding port 81 to pod web_default, uid "), "{text}");

    // A pod that does not run: kubectl's own refusal; a missing one: the API's 404.
    let out = kubectl(kc, &["port-forward", "pod/nowhere", ":80"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("unable to forward port because pod is not running"), "{err}");
    let out = kubectl(kc, &["port-forward", "pod/nosuch", ":80"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(r#"pods "nosuch" not found"#), "{err}");

    assert!(kubelet.0.try_wait().unwrap().is_none(), "kubelet-lite exited");
    assert_eq!(kubelet.panic_seen(), None);
}
