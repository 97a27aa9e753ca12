//! Inside the pods, the rest of it, for real: kubelet-lite in a node's
//! network namespace, the apiserver, controller and etcd on the host (which
//! routes the pod network through the node, as the lab does). The installed
//! kubectl runs `run -i --rm` (a shell fed on stdin, a quick `wget`) and
//! `attach`; the Python client resizes an exec's terminal (`stty size` reads it back); `kubectl proxy`
//! reaches a pod and a Service through `pods/proxy` and `services/proxy`.
//! It prints the figures: `kubectl run` to first output, and lines/s through `kubectl logs -f`.

use e2e::netns::NodeCluster;
use e2e::{eventually, kubectl, kubectl_ok, spawn, workspace_binary, Kubeconfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const OBJECTS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: myapp}}
spec:
  nodeName: node1
  containers:
  - {name: nginx, image: nginx, ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: myapp}
spec:
  selector: {app: myapp}
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: lonely}
spec:
  selector: {app: nothing}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  nodeName: node1
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'while true; do echo tick; sleep 0.2; done']}
---
apiVersion: v1
kind: Pod
metadata: {name: done}
spec:
  nodeName: node1
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'echo bye']}
---
apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  nodeName: node1
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'seq 1 100000; sleep 3600']}
"#;

struct Cleanup<'a>(&'a Kubeconfig, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = kubectl(self.0, &["delete", "pod", "--all", "--wait=false", "--grace-period=0"]);
        for _ in 0..100 {
            if kubectl(self.0, &["get", "pods", "-o", "name"]).stdout.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("ip").args(["route", "del", "10.244.1.0/24", "via", &self.1]).output();
    }
}

fn kubectl_cmd(kc: &Kubeconfig, args: &[&str]) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.env("KUBECONFIG", &kc.path).arg("--cache-dir").arg(kc.path.with_file_name("cache")).args(args);
    cmd
}

/// `kubectl ...` with `input` on its stdin: (exit code, stdout, stderr).
fn with_stdin(kc: &Kubeconfig, args: &[&str], input: &str) -> (Option<i32>, String, String) {
    let mut child =
        kubectl_cmd(kc, args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn gone(kc: &Kubeconfig, pod: &str) -> bool {
    String::from_utf8_lossy(&kubectl(kc, &["get", "pod", pod]).stderr).contains("not found")
}

/// `GET path` from a local port: the status code and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    e2e::http("GET", &format!("http://127.0.0.1:{port}"), path, None, "")
}

#[test]
fn run_attach_tty_and_proxy() {
    let cluster = NodeCluster::start("ka", "attach");
    let (net, scratch, api, kc) = (&cluster.net, &cluster.scratch, &cluster.api, &cluster.kc);
    // The apiserver reaches pods through the node (the lab's routes, here).
    e2e::netns::exec(&net.node.name, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    let route = Command::new("ip").args(["route", "replace", "10.244.1.0/24", "via", &net.node_ip]).output().unwrap();
    assert!(route.status.success(), "{}", String::from_utf8_lossy(&route.stderr));
    let _controller = spawn(&workspace_binary("controller"), &["--server", &api.url]);
    let mut kubelet = cluster.kubelet(Path::new(env!("CARGO_BIN_EXE_kubelet-lite")), &[]);
    let _cleanup = Cleanup(kc, net.node_ip.clone());
    let file = scratch.0.join("objects.yaml");
    std::fs::write(&file, OBJECTS).unwrap();
    kubectl_ok(kc, &["apply", "-f", file.to_str().unwrap()]);
    kubectl_ok(kc, &["wait", "--for=condition=Ready", "pod/web", "pod/ticker", "--timeout=60s"]);

    // `kubectl run -i --rm ... -- sh`: a shell in a new pod, fed on stdin; the pod goes when it exits.
    let (code, out, err) = with_stdin(
        kc,
        &["run", "-i", "--rm", "--restart=Never", "client", "--image=busybox", "--", "sh"],
        "echo hello from $(hostname)\nexit 0\n",
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("hello from client\n"), "{out}{err}");
    assert!(out.contains("pod \"client\" deleted"), "{out}{err}");
    assert!(gone(kc, "client"));

    // A quick command: its output, then no pod.
    let web_ip = kubectl_ok(kc, &["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);
    let url = format!("http://{web_ip}/");
    let (code, out, err) = with_stdin(
        kc,
        &["run", "wget", "--rm", "-i", "--restart=Never", "--image=busybox", "--", "wget", "-qO-", &url],
        "",
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Welcome to nginx!"), "{out}{err}");
    assert!(gone(kc, "wget"));

    // `kubectl attach`: the output of a running container; bad input as upstream.
    let mut attach = kubectl_cmd(kc, &["attach", "ticker"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(attach.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "tick\n");
    // A client gone mid-attach: the container runs on, its shim lets the attacher go.
    attach.kill().unwrap();
    attach.wait().unwrap();
    let (code, _, err) = with_stdin(kc, &["attach", "nosuch"], "");
    assert!(code != Some(0) && err.contains(r#"pods "nosuch" not found"#), "{err}");
    eventually(
        "done completed",
        || kubectl_ok(kc, &["get", "pod", "done", "-o", "jsonpath={.status.phase}"]),
        |p| p == "Succeeded",
    );
    let (code, _, err) = with_stdin(kc, &["attach", "done"], "");
    assert!(
        code != Some(0) && err.contains("cannot attach a container in a completed pod; current phase is Succeeded"),
        "{err}"
    );
    // Stdin to a container that keeps none: the output still comes (and the API says the pod's words).
    let (status, body) = e2e::http(
        "GET",
        &api.url,
        "/api/v1/namespaces/default/pods/ticker/attach?stdout=true&container=nosuch",
        None,
        "",
    );
    assert!(status == 400 && body.contains("container nosuch is not valid for pod ticker"), "{status} {body}");
    assert_eq!(
        kubectl_ok(kc, &["get", "pod", "ticker", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"]),
        "0"
    );

    // A terminal for exec, resized twice: the command reads each size back
    // (busybox `stty size` on the pty, its stdin). The Python client sends a
    // `str` as a text frame; the resize is one.
    let script = r#"
import sys, json, time
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
watch = 'tty; last=; while :; do s=$(stty size); if [ "$s" != "$last" ]; then echo "size $s"; last=$s; fi; sleep 0.05; done'
s = stream(api.connect_get_namespaced_pod_exec, "ticker", "default", command=["sh", "-c", watch],
           stderr=True, stdin=True, stdout=True, tty=True, _preload_content=False)
out = ""
def until(text):
    global out
    deadline = time.time() + 20
    while s.is_open() and text not in out and time.time() < deadline:
        s.update(timeout=1)
        out += s.read_stdout() if s.peek_stdout() else ""
for w, h in [(123, 45), (80, 24)]:
    s.write_channel(4, json.dumps({"Width": w, "Height": h}))
    until("size %d %d" % (h, w))
s.close()
print(json.dumps(out))
"#;
    let py = Command::new("python3").args(["-c", script]).arg(&kc.path).output().unwrap();
    let text = String::from_utf8_lossy(&py.stdout);
    assert!(py.status.success(), "{text}{}", String::from_utf8_lossy(&py.stderr));
    let seen: String = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(seen.starts_with("/dev/pts/"), "{seen:?}");
    let sizes: Vec<&str> = seen.lines().filter_map(|l| l.trim_end().strip_prefix("size ")).collect();
    // The size before the first resize (0 0), then each one sent, in turn.
    assert_eq!(sizes.iter().filter(|s| **s != "0 0").copied().collect::<Vec<_>>(), ["45 123", "24 80"], "{seen:?}");

    // kubectl proxy: a pod and a Service through the apiserver, and upstream's errors.
    let mut proxy = kubectl_cmd(kc, &["proxy", "--port=0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(proxy.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let port: u16 = first.trim().rsplit(':').next().unwrap().parse().unwrap_or_else(|_| panic!("{first}"));
    let svc = "/api/v1/namespaces/default/services/myapp:http/proxy/";
    eventually("the Service's endpoints", || get(port, svc), |(code, _)| *code == 200);
    assert!(get(port, svc).1.contains("Welcome to nginx!"));
    assert!(get(port, "/api/v1/namespaces/default/services/http:myapp:80/proxy/").1.contains("Welcome to nginx!"));
    let (code, body) = get(port, "/api/v1/namespaces/default/pods/web/proxy/");
    assert!(code == 200 && body.contains("Welcome to nginx!"), "{code} {body}");
    let (code, body) = get(port, "/api/v1/namespaces/default/services/lonely:http/proxy/");
    assert!(code == 503 && body.contains(r#"no endpoints available for service \"lonely\""#), "{code} {body}");
    let (code, body) = get(port, "/api/v1/namespaces/default/services/nosuch:http/proxy/");
    assert!(code == 404 && body.contains(r#"endpoints \"nosuch\" not found"#), "{code} {body}");
    let (code, body) = get(port, "/api/v1/namespaces/default/services/myapp:81/proxy/");
    assert!(code == 503 && body.contains(r#"no service port 81 found for service \"myapp\""#), "{code} {body}");
    let (code, body) = get(port, "/api/v1/namespaces/default/pods/web:81/proxy/");
    assert!(code == 503 && body.contains("connection refused"), "{code} {body}");
    let _ = proxy.kill();
    let _ = proxy.wait();

    // The figures: `kubectl run` to the command's first output; lines/s through `kubectl logs -f`.
    let mut times = Vec::new();
    for i in 0..20 {
        let name = format!("bench{i}");
        let t = Instant::now();
        let mut run =
            kubectl_cmd(kc, &["run", &name, "--rm", "-i", "--restart=Never", "--image=busybox", "--", "echo", "hi"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
        let mut out = BufReader::new(run.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        times.push(t.elapsed());
        assert_eq!(line, "hi\n");
        drop(run.stdin.take());
        let _ = out.read_to_string(&mut line);
        assert!(run.wait().unwrap().success(), "{line}");
    }
    println!(
        "kubectl run --rm -i busybox -- echo hi, to its first output: p50 {:?} over 20 runs",
        e2e::bench::median(times)
    );
    eventually("chatty wrote", || kubectl(kc, &["logs", "chatty", "--tail=1"]), |o| o.stdout == b"100000\n");
    let t = Instant::now();
    let mut follow = kubectl_cmd(kc, &["logs", "-f", "chatty"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = 0;
    for l in BufReader::new(follow.stdout.take().unwrap()).lines() {
        lines += 1;
        if l.unwrap() == "100000" {
            break;
        }
    }
    let took = t.elapsed();
    follow.kill().unwrap();
    follow.wait().unwrap();
    assert_eq!(lines, 100000);
    println!("kubectl logs -f: {:.0} lines/s ({lines} lines in {took:?})", f64::from(lines) / took.as_secs_f64());

    assert!(kubelet.0.try_wait().unwrap().is_none(), "kubelet-lite exited");
    assert_eq!(kubelet.panic_seen(), None);
}
