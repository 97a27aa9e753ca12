//! A client that goes away mid-stream leaves nothing behind on the node:
//! kubectl killed (SIGKILL, no goodbye) in the middle of `exec` (with and
//! without stdin), `attach` (to a quiet container and to a chatty one) and
//! `logs -f` (of a quiet container and of a chatty one), and the Python
//! client dropped mid-exec on a terminal. Before and after, the test counts
//! the open file descriptors of kubelet-lite and of every shim
//! (`/proc/<pid>/fd`) and lists the processes under kubelet-lite: after,
//! they are what they were. Everything goes through the apiserver, as
//! kubectl's streams do, so the apiserver must also let its kubelet
//! connection go.

use e2e::netns::NodeCluster;
use e2e::{eventually, kubectl, kubectl_command, kubectl_ok, DeletePodsOnDrop, Kubeconfig};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: quiet}
spec:
  nodeName: node1
  containers:
  - {name: c, image: busybox, stdin: true, command: [sh, -c, 'echo ready; exec cat']}
---
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  nodeName: node1
  containers:
  - {name: c, image: busybox, stdin: true, command: [sh, -c, 'while true; do echo tick; sleep 0.1; done']}
"#;

/// A process's parent, from `/proc/<pid>/stat` (the field after the command's `)`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split_whitespace().nth(1)?.parse().ok()
}

fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).replace('\0', " ").trim_end().to_string()
}

/// Every process under `root` (not itself): pid → command line.
fn descendants(root: u32) -> BTreeMap<u32, String> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut found = BTreeMap::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, _) in parents.iter().filter(|(_, parent)| *parent == p) {
            if found.insert(pid, cmdline(pid)).is_none() {
                frontier.push(pid);
            }
        }
    }
    found
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// What the node holds: its processes, and the open descriptors of the
/// agent and of each shim.
#[derive(Debug, PartialEq, Eq)]
struct Holdings {
    processes: BTreeMap<u32, String>,
    fds: BTreeMap<u32, usize>,
}

impl Holdings {
    /// The same processes, and no more descriptors in any of them (the
    /// agent's connections to the apiserver may come and go by one or two).
    fn within(&self, before: &Holdings) -> bool {
        self.processes == before.processes
            && self.fds.len() == before.fds.len()
            && self.fds.iter().all(|(p, n)| before.fds.get(p).is_some_and(|b| n <= b))
    }
}

fn holdings(kubelet: u32) -> Holdings {
    // The ticker's own `sleep 0.1`s come and go.
    let mut processes = descendants(kubelet);
    processes.retain(|_, c| c != "sleep 0.1");
    let shims = processes.iter().filter(|(_, c)| c.contains(" shim ")).map(|(p, _)| *p);
    let fds = [kubelet].into_iter().chain(shims).map(|p| (p, fd_count(p))).collect();
    Holdings { processes, fds }
}

/// The open descriptors of a pod's shim (its log path names the pod).
fn shim_fds(kubelet: u32, pod: &str) -> usize {
    let shims =
        descendants(kubelet).into_iter().filter(|(_, c)| c.contains(" shim ") && c.contains(&format!("_{pod}_")));
    shims.map(|(p, _)| fd_count(p)).sum()
}

/// Kills a client as a crash or a closed laptop would: SIGKILL.
fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Reads one line of a child's stdout (the stream is established then).
fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    let out = child.stdout.as_mut().unwrap();
    BufReader::new(out).read_line(&mut line).unwrap();
    line
}

#[test]
fn clients_gone_mid_stream_leave_nothing_behind() {
    let cluster = NodeCluster::start("kd", "disconnect");
    let (_net, scratch, _api, kc) = (&cluster.net, &cluster.scratch, &cluster.api, &cluster.kc);
    let mut kubelet = cluster.kubelet(Path::new(env!("CARGO_BIN_EXE_kubelet-lite")), &[]);
    let pid = kubelet.0.id();
    let _cleanup = DeletePodsOnDrop(kc);
    let file = scratch.0.join("pods.yaml");
    std::fs::write(&file, PODS).unwrap();
    kubectl_ok(kc, &["apply", "-f", file.to_str().unwrap()]);
    kubectl_ok(kc, &["wait", "--for=condition=Ready", "pod/quiet", "pod/ticker", "--timeout=60s"]);
    eventually("quiet started", || kubectl(kc, &["logs", "quiet"]), |o| o.stdout == b"ready\n");

    // Each way a client can go, once to warm up (connection pools, lazy
    // state), then measured.
    type Client = (&'static str, Box<dyn Fn(&Kubeconfig, u32) -> Child>);
    let clients: Vec<Client> = vec![
        (
            "exec (sleep)",
            Box::new(|kc: &Kubeconfig, kubelet: u32| {
                let c = kubectl_command(kc, &["exec", "ticker", "--", "sleep", "4251"]).spawn().unwrap();
                eventually("sleep 4251 runs", || running(kubelet, "sleep 4251"), |r| *r);
                c
            }),
        ),
        (
            "exec -i (cat)",
            Box::new(|kc: &Kubeconfig, _| {
                let mut c = kubectl_command(kc, &["exec", "-i", "quiet", "--", "sh", "-c", "echo in; exec cat"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                assert_eq!(first_line(&mut c), "in\n");
                c
            }),
        ),
        (
            "attach -i (quiet)",
            Box::new(|kc: &Kubeconfig, kubelet: u32| {
                let before = shim_fds(kubelet, "quiet");
                let c = kubectl_command(kc, &["attach", "-i", "quiet"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                // Nothing comes out of it: attached once its shim holds the connection.
                eventually("the attach is made", || shim_fds(kubelet, "quiet"), |n| *n > before);
                c
            }),
        ),
        (
            "attach (chatty)",
            Box::new(|kc: &Kubeconfig, _| {
                let mut c = kubectl_command(kc, &["attach", "ticker"]).stdout(Stdio::piped()).spawn().unwrap();
                assert_eq!(first_line(&mut c), "tick\n");
                c
            }),
        ),
        (
            "logs -f (quiet)",
            Box::new(|kc: &Kubeconfig, _| {
                let mut c = kubectl_command(kc, &["logs", "-f", "quiet"]).stdout(Stdio::piped()).spawn().unwrap();
                assert_eq!(first_line(&mut c), "ready\n");
                c
            }),
        ),
        (
            "logs -f (chatty)",
            Box::new(|kc: &Kubeconfig, _| {
                let mut c =
                    kubectl_command(kc, &["logs", "-f", "ticker", "--tail=1"]).stdout(Stdio::piped()).spawn().unwrap();
                assert_eq!(first_line(&mut c), "tick\n");
                c
            }),
        ),
        (
            "exec -t (Python client)",
            Box::new(|kc: &Kubeconfig, _| {
                // Killed (below) with its socket open: no close frame.
                let script = r#"
import sys, os
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(sys.argv[1])
s = stream(client.CoreV1Api().connect_get_namespaced_pod_exec, "quiet", "default",
           command=["sh", "-c", "echo on-tty; exec sleep 4343"], stderr=True, stdin=True, stdout=True, tty=True,
           _preload_content=False)
out = ""
while "on-tty" not in out:
    s.update(timeout=5)
    out += s.read_stdout() if s.peek_stdout() else ""
print("attached", flush=True)
sys.stdin.read()
"#;
                let mut py = Command::new("python3")
                    .args(["-c", script])
                    .arg(&kc.path)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                assert_eq!(first_line(&mut py), "attached\n");
                py
            }),
        ),
    ];
    for (_, client) in &clients {
        kill(client(kc, pid));
    }
    // Settled: the warm-up's streams are gone.
    std::thread::sleep(Duration::from_secs(2));
    let baseline = eventually(
        "nothing running but the containers",
        || holdings(pid),
        |h| {
            // The quiet container's own `cat`, and no command of a client.
            let count = |what: &str| h.processes.values().filter(|c| *c == what).count();
            count("cat") == 1 && count("sleep 4251") == 0 && count("sleep 4343") == 0
        },
    );
    println!("before: {baseline:#?}");
    for (what, client) in &clients {
        for round in 1..=3 {
            let c = client(kc, pid);
            // While it streams, the node holds more (so the count below can fail).
            let during = holdings(pid);
            assert!(!during.within(&baseline), "{what}: the stream shows in neither fds nor processes: {during:?}");
            kill(c);
            // Within seconds, what the node held before, and no more (before
            // the next round, which would otherwise see this one's remains).
            let after =
                eventually(&format!("{what}: the node holds what it held"), || holdings(pid), |h| h.within(&baseline));
            if round == 3 {
                println!(
                    "{what}, 3 clients killed mid-stream: {} processes, fds {:?}",
                    after.processes.len(),
                    after.fds
                );
            }
        }
    }
    // And the containers never noticed.
    let restarts =
        kubectl_ok(kc, &["get", "pods", "-o", "jsonpath={.items[*].status.containerStatuses[0].restartCount}"]);
    assert_eq!(restarts, "0 0");
    assert_eq!(
        kubectl_ok(kc, &["exec", "quiet", "--", "echo", "still here"]),
        "still here\n",
        "the agent still serves"
    );

    assert!(kubelet.0.try_wait().unwrap().is_none(), "kubelet-lite exited");
    assert_eq!(kubelet.panic_seen(), None);
}

/// Whether a process with this command line runs under kubelet-lite.
fn running(kubelet: u32, what: &str) -> bool {
    descendants(kubelet).values().any(|c| c == what)
}
