//! Streams through the apiserver, for real: kubelet-lite in a node's
//! network namespace serving the kubelet API, the apiserver and etcd on the
//! host, busybox pods whose output the real shim writes; the installed
//! kubectl runs `logs` (plain, `--tail`, `--timestamps`, `--limit-bytes`,
//! `-c`, `--previous`, `-f`) and `exec` (output, exit code, stdin), and the
//! Python client's `stream()` runs an exec.

use e2e::netns::NodeCluster;
use e2e::{eventually, kubectl, kubectl_ok, Kubeconfig};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: lines}
spec:
  nodeName: node1
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'for i in 1 2 3 4 5; do echo line $i; done']}
---
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  nodeName: node1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo started; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done']
    env: [{name: GREETING, value: hello}]
---
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  nodeName: node1
  containers:
  - {name: a, image: busybox, command: [sh, -c, 'echo from a; sleep 3600']}
  - {name: b, image: busybox, command: [sh, -c, 'echo from b; sleep 3600']}
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: node1
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'echo run at $(date +%s%N); exit 1']}
"#;

/// Should the test fail, its pods still go while the node agent runs.
struct DeletePodsOnDrop<'a>(&'a Kubeconfig);

impl Drop for DeletePodsOnDrop<'_> {
    fn drop(&mut self) {
        let _ = kubectl(self.0, &["delete", "pod", "--all", "--wait=false"]);
        for _ in 0..100 {
            if kubectl(self.0, &["get", "pods", "-o", "name"]).stdout.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn kubectl_cmd(kc: &Kubeconfig, args: &[&str]) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.env("KUBECONFIG", &kc.path).arg("--cache-dir").arg(kc.path.with_file_name("cache")).args(args);
    cmd
}

fn stderr_of(kc: &Kubeconfig, args: &[&str]) -> (Option<i32>, String) {
    let out = kubectl(kc, args);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Whether a process with exactly this command line runs on the machine.
fn process_running(cmdline: &[&str]) -> bool {
    let want: Vec<u8> = cmdline.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| std::fs::read(e.path().join("cmdline")).ok() == Some(want.clone()))
}

#[test]
fn kubectl_logs_and_exec_reach_the_kubelet() {
    let cluster = NodeCluster::start("ks", "streams");
    let (_net, scratch, api, kc) = (&cluster.net, &cluster.scratch, &cluster.api, &cluster.kc);
    let mut kubelet =
        cluster.kubelet(Path::new(env!("CARGO_BIN_EXE_kubelet-lite")), &["--crash-loop-backoff-ms", "500"]);
    let _cleanup = DeletePodsOnDrop(kc);
    // Where the apiserver finds this kubelet.
    let port =
        kubectl_ok(kc, &["get", "node", "node1", "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}"]);
    assert_eq!(port, "10250");
    let file = scratch.0.join("pods.yaml");
    std::fs::write(&file, PODS).unwrap();
    kubectl_ok(kc, &["apply", "-f", file.to_str().unwrap()]);

    // Plain logs of a completed pod, and the options that cut them.
    let all = "line 1\nline 2\nline 3\nline 4\nline 5\n";
    eventually("lines' logs", || kubectl(kc, &["logs", "lines"]), |o| String::from_utf8_lossy(&o.stdout) == all);
    assert_eq!(kubectl_ok(kc, &["logs", "lines", "--tail=2"]), "line 4\nline 5\n");
    assert_eq!(kubectl_ok(kc, &["logs", "lines", "--limit-bytes=9"]), "line 1\nli");
    let stamped = kubectl_ok(kc, &["logs", "lines", "--timestamps", "--tail=3"]);
    let stamped: Vec<&str> = stamped.lines().collect();
    assert_eq!(stamped.len(), 3, "{stamped:?}");
    for (line, n) in stamped.iter().zip(3..) {
        let (time, text) = line.split_once(' ').unwrap();
        assert_eq!(time.len(), "2026-12-02T09:14:21.000000000Z".len(), "{line}");
        assert!(time.parse::<jiff::Timestamp>().is_ok() && time.ends_with('Z'), "{line}");
        assert_eq!(text, format!("line {n}"));
    }
    assert_eq!(kubectl_ok(kc, &["logs", "lines", "--since=1h"]), all);

    // Upstream's errors: a missing pod, a container to choose, a container not there.
    let (code, err) = stderr_of(kc, &["logs", "nosuch"]);
    assert_eq!(code, Some(1));
    assert!(err.contains(r#"pods "nosuch" not found"#), "{err}");
    eventually("two running", || kubectl(kc, &["logs", "two", "-c", "b"]), |o| o.stdout == b"from b\n");
    // kubectl picks a default container itself ("Defaulted container"): the API's own answer.
    let (status, body) = e2e::http("GET", &api.url, "/api/v1/namespaces/default/pods/two/log", None, "");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("a container name must be specified for pod two, choose one of: [a b]"), "{body}");
    let (_, err) = stderr_of(kc, &["logs", "two", "-c", "nosuch"]);
    assert!(err.contains("container nosuch is not valid for pod two"), "{err}");
    let (status, body) = e2e::http("GET", &api.url, "/api/v1/namespaces/default/pods/lines/log?tailLines=-1", None, "");
    assert_eq!(status, 422, "{body}");
    let (status, body) = e2e::http("GET", &api.url, "/api/v1/namespaces/default/pods/lines/log?tailLines=x", None, "");
    assert_eq!(status, 400, "{body}");

    // --previous: the run before this one.
    eventually(
        "crash restarted",
        || kubectl(kc, &["logs", "crash", "--previous"]),
        |o| o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with("run at "),
    );

    // -f streams: lines arrive while the container runs, not at its end.
    eventually("ticker running", || kubectl(kc, &["logs", "ticker"]), |o| o.stdout.starts_with(b"started\n"));
    let mut follow = kubectl_cmd(kc, &["logs", "-f", "ticker", "--tail=1"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut reader = BufReader::new(follow.stdout.take().unwrap());
    let (mut first, mut line) = (None, String::new());
    let started = Instant::now();
    let mut ticks = Vec::new();
    while ticks.len() < 6 && started.elapsed() < Duration::from_secs(20) {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the follow ended");
        let n: u64 = line.trim().strip_prefix("tick ").unwrap_or_else(|| panic!("{line:?}")).parse().unwrap();
        first.get_or_insert(Instant::now());
        ticks.push(n);
    }
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{ticks:?}");
    // Six ticks 0.2 s apart: the stream carried them as they came.
    assert!(first.unwrap().elapsed() >= Duration::from_millis(800), "{ticks:?} came at once");
    follow.kill().unwrap();
    follow.wait().unwrap();

    // Many followers at once (the issue's hundred).
    let followers: Vec<_> = (0..100)
        .map(|_| kubectl_cmd(kc, &["logs", "-f", "ticker", "--tail=0"]).stdout(Stdio::piped()).spawn().unwrap())
        .collect();
    let t0 = Instant::now();
    let mut readers = Vec::new();
    for mut f in followers {
        let out = f.stdout.take().unwrap();
        readers.push((
            f,
            std::thread::spawn(move || {
                let mut l = String::new();
                BufReader::new(out).read_line(&mut l).unwrap();
                l
            }),
        ));
    }
    for (mut f, r) in readers {
        assert!(r.join().unwrap().starts_with("tick "));
        f.kill().unwrap();
        f.wait().unwrap();
    }
    println!("100 concurrent `kubectl logs -f`: every one had a new line within {:?}", t0.elapsed());

    // Twenty exec sessions at once, each its own process with its own output.
    let t0 = Instant::now();
    let sessions: Vec<_> = (0..20)
        .map(|i| {
            let cmd = format!("sleep 1; echo session {i}");
            kubectl_cmd(kc, &["exec", "ticker", "--", "sh", "-c", &cmd]).stdout(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for (i, s) in sessions.into_iter().enumerate() {
        let out = s.wait_with_output().unwrap();
        assert!(out.status.success(), "session {i}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("session {i}\n"));
    }
    // Each sleeps a second: together they took about one, not twenty.
    println!("20 concurrent `kubectl exec`: all answered within {:?}", t0.elapsed());

    // exec: the container's environment, hostname and resolver files.
    let env = kubectl_ok(kc, &["exec", "ticker", "--", "env"]);
    assert!(env.lines().any(|l| l == "GREETING=hello") && env.lines().any(|l| l == "HOSTNAME=ticker"), "{env}");
    assert_eq!(kubectl_ok(kc, &["exec", "ticker", "--", "hostname"]), "ticker\n");
    let resolv = kubectl_ok(kc, &["exec", "ticker", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"), "{resolv}");
    // Exit codes as kubectl reports them; stdout and stderr apart.
    let out = kubectl(kc, &["exec", "ticker", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()), (Some(3), "out\n"), "{err}");
    assert!(err.contains("err\n") && err.contains("command terminated with exit code 3"), "{err}");
    // Stdin, to its end (v5's close of stdin ends `cat`).
    let mut cat = kubectl_cmd(kc, &["exec", "-i", "ticker", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cat.stdin.take().unwrap().write_all(b"a\nb\n").unwrap();
    let out = cat.wait_with_output().unwrap();
    assert_eq!((out.status.code(), out.stdout.as_slice()), (Some(0), &b"a\nb\n"[..]));
    // A container that is not there; exec into a pod with two needs -c.
    let (code, err) = stderr_of(kc, &["exec", "two", "-c", "nosuch", "--", "true"]);
    assert!(code != Some(0) && err.contains("container nosuch is not valid for pod two"), "{err}");
    assert_eq!(kubectl_ok(kc, &["exec", "two", "-c", "a", "--", "echo", "in a"]), "in a\n");
    // SPDY/3.1, kubectl's fallback after a failed WebSocket, is answered
    // in words (kubectl prints the fallback's), not an empty 405.
    let raw = "/api/v1/namespaces/default/pods/ticker/exec?command=true&stdout=true";
    let (code, err) = stderr_of(kc, &["create", "--raw", raw, "-f", "/dev/null"]);
    assert!(code != Some(0) && err.contains("kubelet-lite serves exec and attach over WebSocket"), "{err}");

    // A client that goes away mid-exec leaves nothing behind on the node.
    let mut sleeper = kubectl_cmd(kc, &["exec", "ticker", "--", "sleep", "4242"]).spawn().unwrap();
    eventually("sleep 4242 runs", || process_running(&["sleep", "4242"]), |r| *r);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    eventually("sleep 4242 stopped", || process_running(&["sleep", "4242"]), |r| !*r);

    // The Python client's stream(): stdout, stderr, the exit code.
    let script = r#"
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
out = stream(api.connect_get_namespaced_pod_exec, "ticker", "default", command=["sh", "-c", "echo py-out; echo py-err >&2; exit 5"],
             stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
out.run_forever(timeout=20)
print("stdout=" + out.read_stdout().strip())
print("stderr=" + out.read_stderr().strip())
print("code=" + str(out.returncode))
print("plain=" + stream(api.connect_get_namespaced_pod_exec, "ticker", "default", command=["echo", "hi there"],
                        stderr=True, stdin=False, stdout=True, tty=False).strip())
"#;
    let py = Command::new("python3").args(["-c", script]).arg(&kc.path).output().unwrap();
    let text = String::from_utf8_lossy(&py.stdout);
    assert!(py.status.success(), "{text}{}", String::from_utf8_lossy(&py.stderr));
    assert_eq!(text, "stdout=py-out\nstderr=py-err\ncode=5\nplain=hi there\n");

    // The figure: from `kubectl exec` starting to its output, over 20 runs.
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(kubectl_ok(kc, &["exec", "ticker", "--", "echo", "hi"]), "hi\n");
        times.push(t.elapsed());
    }
    println!("kubectl exec ticker -- echo hi: p50 {:?} over 20 runs", e2e::bench::median(times));

    assert!(kubelet.0.try_wait().unwrap().is_none(), "kubelet-lite exited");
    assert_eq!(kubelet.panic_seen(), None);
}
