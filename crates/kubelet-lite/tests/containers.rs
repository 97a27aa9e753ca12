//! Containers that run what they say, for real: kubelet-lite in a node's
//! network namespace, the apiserver and etcd on the host, pods applied with
//! kubectl. Each container's command runs with the node's busybox in the
//! pod's namespaces; its output lands in the CRI log file; its exit ends
//! the container as a kubelet's would.

use e2e::netns::{exec, NodeNet};
use e2e::{eventually, kubectl_ok, spawn, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig, ScratchDir};
use kubelet_lite::cri_log::{self, Record, Stream, Tag};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn apply(kc: &Kubeconfig, dir: &Path, name: &str, yaml: &str) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    kubectl_ok(kc, &["apply", "-f", file.to_str().unwrap()]);
}

fn pod(kc: &Kubeconfig, name: &str) -> Value {
    serde_json::from_str(&kubectl_ok(kc, &["get", "pod", name, "-o", "json"])).unwrap()
}

/// The STATUS and RESTARTS columns of `kubectl get pod NAME`.
fn columns(kc: &Kubeconfig, name: &str) -> (String, String) {
    let rows = table_rows(&kubectl_ok(kc, &["get", "pod", name]));
    (rows[1][2].clone(), rows[1][3].clone())
}

fn log_file(logs: &Path, pod: &Value, container: &str, restart: u32) -> PathBuf {
    let m = &pod["metadata"];
    let s = |v: &Value| v.as_str().unwrap().to_string();
    cri_log::container_log_path(logs, &s(&m["namespace"]), &s(&m["name"]), &s(&m["uid"]), container, restart)
}

fn records(path: &Path) -> Vec<Record> {
    let text = std::fs::read(path).unwrap_or_default();
    text.split_inclusive(|b| *b == b'\n').map(|l| cri_log::parse(l).expect("a CRI log line")).collect()
}

fn stdout_lines(path: &Path) -> Vec<String> {
    records(path)
        .into_iter()
        .filter(|r| r.stream == Stream::Stdout && r.tag == Tag::Full)
        .map(|r| String::from_utf8_lossy(&r.content).into_owned())
        .collect()
}

const ENV_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: envdump}
spec:
  nodeName: node1
  restartPolicy: Never
  containers:
  - name: shell
    image: busybox:1.36
    command: [sh, -c, 'echo "hello from $(hostname)"; env; cat /etc/resolv.conf; echo oops >&2']
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: GREETING, value: 'hi $(POD_NAME)'}
"#;

const EXIT3_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: exit3}
spec:
  nodeName: node1
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'exit 3']}
"#;

const CRASH_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: node1
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'echo run; exit 1']}
"#;

const NGINX_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: node1
  containers:
  - name: nginx
    image: nginx:1.27
    ports: [{containerPort: 80}]
"#;

/// Should the test fail, its pods still go (and their sandboxes with them)
/// while the node agent runs: dropped before it.
struct DeletePodsOnDrop<'a>(&'a Kubeconfig);

impl Drop for DeletePodsOnDrop<'_> {
    fn drop(&mut self) {
        let _ = e2e::kubectl(self.0, &["delete", "pod", "--all", "--wait=false"]);
        for _ in 0..100 {
            let out = e2e::kubectl(self.0, &["get", "pods", "-o", "name"]);
            if out.stdout.is_empty() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// A ConfigMap as files (items, modes, a subPath) and as variables. The
/// mount paths are under the test's scratch directory: containers share
/// the node's root, where a missing mount point is created.
fn volumes_pod(mnt: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{greeting: hello, app.conf: "x=1"}}
---
apiVersion: v1
kind: Pod
metadata: {{name: volumes}}
spec:
  nodeName: node1
  restartPolicy: Never
  volumes:
  - name: cfg
    configMap: {{name: settings, defaultMode: 0400, items: [{{key: greeting, path: greet/ing}}, {{key: app.conf, path: app.conf, mode: 0640}}]}}
  - name: scratch
    emptyDir: {{}}
  containers:
  - name: c
    image: alpine
    command: [sh, -c, 'cat {mnt}/config/greet/ing; echo; cat {mnt}/app.conf; echo; stat -c %a {mnt}/config/greet/ing {mnt}/config/app.conf; echo "env $CFG_greeting"; touch {mnt}/config/new || echo read-only; echo data > {mnt}/data/file && cat {mnt}/data/file']
    envFrom: [{{configMapRef: {{name: settings}}, prefix: CFG_}}]
    volumeMounts:
    - {{name: cfg, mountPath: {mnt}/config}}
    - {{name: cfg, mountPath: {mnt}/app.conf, subPath: app.conf}}
    - {{name: scratch, mountPath: {mnt}/data}}
"#
    )
}

const SERVERS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: hostnames}
spec:
  nodeName: node1
  containers: [{name: c, image: registry.k8s.io/serve_hostname, ports: [{containerPort: 9376}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: netexec}
spec:
  nodeName: node1
  containers:
  - {name: c, image: registry.k8s.io/e2e-test-images/agnhost:2.53, args: [netexec, --http-port=8081], ports: [{containerPort: 8081}]}
---
apiVersion: v1
kind: Pod
metadata: {name: echo}
spec:
  nodeName: node1
  containers: [{name: c, image: registry.k8s.io/echoserver:1.10, ports: [{containerPort: 8080}]}]
"#;

#[test]
fn containers_run_their_commands_log_and_end_like_a_kubelets() {
    let tag = format!("kc{}", std::process::id() % 10000);
    let net = NodeNet::new(&tag, (std::process::id() % 200) as u8 + 20, 0);
    let scratch = ScratchDir::new("containers");
    let (logs, root) = (scratch.0.join("pods-logs"), scratch.0.join("root"));
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &["--bind-address", &net.host_ip]);
    let kc = Kubeconfig::new(&api.url);
    let node = net.node.name.clone();
    let netns_path = format!("--net=/run/netns/{node}");
    let kubelet = Path::new(env!("CARGO_BIN_EXE_kubelet-lite")).to_str().unwrap();
    #[rustfmt::skip]
    let args = [netns_path.as_str(), kubelet, "--server", &api.url, "--hostname-override", "node1",
        "--node-ip", &net.node_ip, "--pod-cidr", "10.244.1.0/24", "--bridge", "br0",
        "--pod-logs-dir", logs.to_str().unwrap(), "--root-dir", root.to_str().unwrap(),
        "--crash-loop-backoff-ms", "1000"];
    let mut kubelet = spawn(Path::new("nsenter"), &args);
    let _cleanup = DeletePodsOnDrop(&kc);
    eventually(
        "node1 Ready",
        || table_rows(&kubectl_ok(&kc, &["get", "nodes"])),
        |r| r.len() == 2 && r[1][..2] == ["node1", "Ready"],
    );
    // A Service that exists before the pods start: its variables are in their environment.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    kubectl_ok(&kc, &["apply", "-f", examples.join("svc.yaml").to_str().unwrap()]);
    let cluster_ip = kubectl_ok(&kc, &["get", "svc", "myapp", "-o", "jsonpath={.spec.clusterIP}"]);
    let kubernetes_ip = kubectl_ok(&kc, &["get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]);
    let mnt = scratch.0.join("mnt").to_string_lossy().into_owned();
    let volumes = volumes_pod(&mnt);
    for (name, yaml) in [
        ("envdump", ENV_POD),
        ("exit3", EXIT3_POD),
        ("crash", CRASH_POD),
        ("web", NGINX_POD),
        ("volumes", &volumes),
        ("servers", SERVERS),
    ] {
        apply(&kc, &scratch.0, name, yaml);
    }

    // Never + exit 0: Succeeded, `kubectl get pod` says Completed.
    eventually("envdump Completed", || columns(&kc, "envdump"), |c| c.0 == "Completed");
    let envdump = pod(&kc, "envdump");
    assert_eq!(envdump["status"]["phase"], "Succeeded");
    let state = &envdump["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!((state["exitCode"].as_i64(), state["reason"].as_str()), (Some(0), Some("Completed")));
    // Its output, in the CRI log file at the kubelet's path.
    let file = log_file(&logs, &envdump, "shell", 0);
    let out = stdout_lines(&file);
    let pod_ip = envdump["status"]["podIP"].as_str().unwrap().to_string();
    assert_eq!(out[0], "hello from envdump", "{out:?}");
    for want in [
        "POD_NAME=envdump".to_string(),
        format!("POD_IP={pod_ip}"),
        "NODE_NAME=node1".to_string(),
        "GREETING=hi envdump".to_string(),
        format!("MYAPP_SERVICE_HOST={cluster_ip}"),
        "MYAPP_SERVICE_PORT=80".to_string(),
        "MYAPP_SERVICE_PORT_HTTP=80".to_string(),
        format!("MYAPP_PORT=tcp://{cluster_ip}:80"),
        format!("MYAPP_PORT_80_TCP_ADDR={cluster_ip}"),
        format!("KUBERNETES_SERVICE_HOST={kubernetes_ip}"),
        "HOSTNAME=envdump".to_string(),
        // The pod's resolv.conf, as the kubelet writes it, seen from inside.
        "search default.svc.cluster.local svc.cluster.local cluster.local".to_string(),
        "nameserver 10.96.0.10".to_string(),
    ] {
        assert!(out.contains(&want), "{want} in {out:#?}");
    }
    let err: Vec<Record> = records(&file).into_iter().filter(|r| r.stream == Stream::Stderr).collect();
    assert_eq!(err.iter().map(|r| r.content.as_slice()).collect::<Vec<_>>(), [b"oops"]);

    // exit 3: terminated with its code, Error, the pod Failed.
    eventually("exit3 Error", || columns(&kc, "exit3"), |c| c.0 == "Error");
    let exit3 = pod(&kc, "exit3");
    let state = &exit3["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!((state["exitCode"].as_i64(), state["reason"].as_str()), (Some(3), Some("Error")));
    assert_eq!(exit3["status"]["phase"], "Failed");

    // Always + exit 1: restarts, a log file per run, in CrashLoopBackOff
    // with a back-off that doubles (1 s here, upstream's 10 s).
    let mut messages: Vec<String> = Vec::new();
    let mut seen_crashloop_column = false;
    eventually(
        "crash restarted 4 times",
        || {
            let p = pod(&kc, "crash");
            let s = &p["status"]["containerStatuses"][0];
            if let Some(m) = s["state"]["waiting"]["message"].as_str() {
                if messages.last().map(String::as_str) != Some(m) {
                    messages.push(m.to_string());
                }
            }
            if !seen_crashloop_column && s["state"]["waiting"].is_object() {
                seen_crashloop_column = columns(&kc, "crash").0 == "CrashLoopBackOff";
            }
            s["restartCount"].as_i64().unwrap_or(0)
        },
        |n| *n >= 4,
    );
    // The back-offs seen (a poll may miss one): each twice the one before.
    let backoffs: Vec<u64> =
        messages.iter().filter_map(|m| m.split_whitespace().nth(1)?.strip_suffix('s')?.parse().ok()).collect();
    assert!(backoffs.len() >= 2 && backoffs[0] <= 2, "{messages:?}");
    assert!(backoffs.windows(2).all(|w| w[1] == 2 * w[0]), "{messages:?}");
    assert!(messages[0].contains("restarting failed container=c pod=crash_default("), "{messages:?}");
    assert!(seen_crashloop_column, "kubectl get pod showed CrashLoopBackOff");
    let crash = pod(&kc, "crash");
    let s = &crash["status"]["containerStatuses"][0];
    assert_eq!(s["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(crash["status"]["phase"], "Running");
    for restart in 0..3 {
        assert_eq!(stdout_lines(&log_file(&logs, &crash, "c", restart)), ["run"], "run {restart}");
    }

    // nginx answers its welcome page, and logs the request in its format.
    let web = eventually("web Running", || pod(&kc, "web"), |p| p["status"]["containerStatuses"][0]["ready"] == true);
    let web_ip = web["status"]["podIP"].as_str().unwrap().to_string();
    let page = exec(&node, &["curl", "-s", "--max-time", "2", &format!("http://{web_ip}/")]);
    assert!(String::from_utf8_lossy(&page.stdout).contains("<title>Welcome to nginx!</title>"));
    let access =
        eventually("the access log line", || stdout_lines(&log_file(&logs, &web, "nginx", 0)), |l| !l.is_empty());
    assert!(
        access[0].starts_with("10.244.1.1 - - [") && access[0].contains("\"GET / HTTP/1.1\" 200 615 \"-\" \"curl/"),
        "{access:?}"
    );

    // ConfigMap files with their modes, read-only; its keys as variables; an emptyDir to write.
    eventually("volumes Completed", || columns(&kc, "volumes"), |c| c.0 == "Completed");
    let out = stdout_lines(&log_file(&logs, &pod(&kc, "volumes"), "c", 0));
    assert_eq!(out, ["hello", "x=1", "400", "640", "env hello", "read-only", "data"], "{out:?}");
    assert!(!Path::new(&mnt).join("config/greet").exists(), "the mount stayed inside the container");

    // The other servers, each as its image answers.
    let get = |pod_name: &str, port: u16, path: &str| {
        let p = eventually(
            &format!("{pod_name} ready"),
            || pod(&kc, pod_name),
            |p| p["status"]["containerStatuses"][0]["ready"] == true,
        );
        let url = format!("http://{}:{port}{path}", p["status"]["podIP"].as_str().unwrap());
        String::from_utf8_lossy(&exec(&node, &["curl", "-s", "--max-time", "2", &url]).stdout).into_owned()
    };
    assert_eq!(get("hostnames", 9376, "/"), "hostnames");
    assert_eq!(get("netexec", 8081, "/hostname"), "netexec");
    assert_eq!(get("netexec", 8081, "/echo?msg=hello"), "hello");
    assert!(get("netexec", 8081, "/clientip").starts_with("10.244.1.1:"));
    assert!(get("echo", 8080, "/x?y=1").contains("\tclient_address=10.244.1.1\n\tmethod=GET\n\treal path=/x\n"));
    // A busybox client in a pod of its own, with busybox's wget.
    let client = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: client}}\nspec:\n  nodeName: node1\n  restartPolicy: Never\n  containers:\n  - {{name: c, image: busybox, command: [wget, -qO-, 'http://{web_ip}/']}}\n"
    );
    apply(&kc, &scratch.0, "client", &client);
    eventually("client Completed", || columns(&kc, "client"), |c| c.0 == "Completed");
    let page = stdout_lines(&log_file(&logs, &pod(&kc, "client"), "c", 0));
    assert!(page.contains(&"<h1>Welcome to nginx!</h1>".to_string()), "{page:?}");

    // A restarted node agent keeps what it knew: ended containers stay ended.
    drop(kubelet);
    kubelet = spawn(Path::new("nsenter"), &args);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(columns(&kc, "envdump").0, "Completed");
    assert_eq!(columns(&kc, "exit3").0, "Error");
    assert_eq!(get("hostnames", 9376, "/"), "hostnames");

    // A figure, not a goal (the machine is shared): `kubectl create` of a
    // pod → its command's first line in the log file, over 20 pods.
    let mut took: Vec<std::time::Duration> = (0..20)
        .map(|i| {
            let yaml = format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: first-{i}}}\nspec:\n  nodeName: node1\n  restartPolicy: Never\n  containers:\n  - {{name: c, image: busybox, command: [echo, first]}}\n"
            );
            let file = scratch.0.join(format!("first-{i}.yaml"));
            std::fs::write(&file, yaml).unwrap();
            let start = std::time::Instant::now();
            let uid = kubectl_ok(&kc, &["create", "-f", file.to_str().unwrap(), "-o", "jsonpath={.metadata.uid}"]);
            let path = cri_log::container_log_path(&logs, "default", &format!("first-{i}"), &uid, "c", 0);
            while stdout_lines(&path).is_empty() {
                assert!(start.elapsed() < std::time::Duration::from_secs(30), "first-{i} printed nothing");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            start.elapsed()
        })
        .collect();
    took.sort();
    println!(
        "kubelet-lite: kubectl create pod -> first line of its output in the log: p50 {:?}, p90 {:?}, max {:?} (20 pods)",
        took[10], took[18], took[19]
    );

    // Deleting the pods stops every process they started, and their logs go.
    let uids: Vec<String> = ["envdump", "exit3", "crash", "web", "volumes", "hostnames", "netexec", "echo", "client"]
        .iter()
        .map(|n| pod(&kc, n)["metadata"]["uid"].as_str().unwrap().to_string())
        .collect();
    kubectl_ok(&kc, &["delete", "pod", "--all", "--wait=false"]);
    eventually("pods gone", || table_rows(&kubectl_ok(&kc, &["get", "pods"])).len(), |n| *n == 0);
    let left = || {
        let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
        let text = String::from_utf8_lossy(&ps.stdout).into_owned();
        text.lines().filter(|l| uids.iter().any(|u| l.contains(u.as_str()))).map(String::from).collect::<Vec<_>>()
    };
    eventually("no process of the pods left", left, Vec::is_empty);
    eventually("their log directories gone", || std::fs::read_dir(&logs).map_or(0, |d| d.count()), |n| *n == 0);
    drop(kubelet);
}
