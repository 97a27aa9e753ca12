//! kubectl-lite against the real apiserver and etcd, with the installed
//! kubectl as the reference for every table it prints.

use e2e::{
    dry_run_proxy, eventually, http, kubectl_ok, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig, ScratchDir,
};
use std::path::Path;
use std::process::{Command, Output};

fn lite(kc: &Kubeconfig, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-lite")).env("KUBECONFIG", &kc.path).args(args).output().unwrap()
}

fn lite_ok(kc: &Kubeconfig, args: &[&str]) -> String {
    let out = lite(kc, args);
    assert!(out.status.success(), "kubectl-lite {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A table (or several, blank-line separated) without AGE columns (the
/// two commands may straddle a second).
fn without_age(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for section in text.split("\n\n") {
        let rows = table_rows(section);
        let age = rows.first().and_then(|h| h.iter().position(|h| h == "AGE"));
        out.extend(rows.into_iter().map(|mut r| {
            if let Some(i) = age.filter(|i| *i < r.len()) {
                r.remove(i);
            }
            r
        }));
        out.push(Vec::new());
    }
    out
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).to_string_lossy().into_owned()
}

#[test]
fn prints_what_kubectl_prints() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    assert_eq!(lite_ok(&kc, &["apply", "-f", &example("svc.yaml")]).trim(), "service/myapp created");
    assert_eq!(lite_ok(&kc, &["apply", "-f", &example("svc.yaml")]).trim(), "service/myapp unchanged");
    let dir = ScratchDir::new("lite");
    let edited = dir.0.join("svc.yaml");
    std::fs::write(
        &edited,
        std::fs::read_to_string(example("svc.yaml")).unwrap().replace("targetPort: 80", "targetPort: 8080"),
    )
    .unwrap();
    assert_eq!(lite_ok(&kc, &["apply", "-f", edited.to_str().unwrap()]).trim(), "service/myapp configured");
    assert_eq!(
        lite_ok(&kc, &["apply", "-f", &example("svc-deployment.yaml")]).trim(),
        "deployment.apps/myapp-deploy created"
    );
    kubectl_ok(&kc, &["create", "namespace", "lab"]);

    for args in [
        &["get", "svc"][..],
        &["get", "svc", "-o", "wide"],
        &["get", "svc", "-A"],
        &["get", "deploy", "-o", "wide"],
        &["get", "ns"],
        &["get", "svc", "myapp"],
        &["get", "ep"],
    ] {
        assert_eq!(without_age(&lite_ok(&kc, args)), without_age(&kubectl_ok(&kc, args)), "{args:?}");
    }
    assert_eq!(lite_ok(&kc, &["get", "svc", "myapp", "-o", "name"]).trim(), "service/myapp");
    let yaml = lite_ok(&kc, &["get", "svc", "myapp", "-o", "yaml"]);
    assert!(yaml.contains("targetPort: 8080") && yaml.contains("kind: Service"), "{yaml}");

    // Errors, worded and exiting as kubectl's.
    for (args, want) in [
        (&["get", "svc", "nope"][..], r#"Error from server (NotFound): services "nope" not found"#),
        (&["get", "widgets"], r#"error: the server doesn't have a resource type "widgets""#),
        (&["apply", "-f", "missing.yaml"], r#"error: the path "missing.yaml" does not exist"#),
        (&["get", "pods", "-n", "lab"], "No resources found in lab namespace."),
    ] {
        let out = lite(&kc, args);
        assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stderr).trim()), (Some(1), want), "{args:?}");
    }
    let bad = dir.0.join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: Service\nmetadata: [oops\n").unwrap();
    let out = lite(&kc, &["apply", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(&format!("error: error parsing {}", bad.display())));

    // The teaching view: each node's proxy table.
    let node = dir.0.join("node.yaml");
    std::fs::write(&node, "apiVersion: v1\nkind: Node\nmetadata:\n  name: node1\n").unwrap();
    kubectl_ok(&kc, &["apply", "-f", node.to_str().unwrap()]);
    let status = r#"{"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}],"conditions":[{"type":"Ready","status":"True"}]}}"#;
    kubectl_ok(&kc, &["patch", "node", "node1", "--subresource=status", "--type=merge", "-p", status]);
    let proxy = dry_run_proxy(&workspace_binary("proxy"), &api.url, "node1", &[]);
    let rules_port = proxy.healthz_port;
    let cluster_ip = table_rows(&kubectl_ok(&kc, &["get", "svc", "myapp"]))[1][2].clone();
    let view = eventually(
        "the node's table",
        || lite_ok(&kc, &["ipvs", "--rules-port", &rules_port.to_string()]),
        |v| v.contains(&format!("TCP  {cluster_ip}:80 rr")),
    );
    // A dry-run proxy programs no kernel, and the view says so.
    assert!(
        view.starts_with("# node1 (127.0.0.1)\n# dry run: the proxy's computed table, programmed nowhere\nProt "),
        "{view}"
    );
    assert!(view.contains("TCP  10.96.0.1:443 rr\n  -> 127.0.0.1:"), "{view}");
    let out = lite(&kc, &["ipvs", "--node", "nope"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), r#"Error from server (NotFound): nodes "nope" not found"#);

    // describe, as kubectl lays it out.
    kubectl_ok(&kc, &["create", "service", "nodeport", "np2", "--tcp=80:8080"]);
    kubectl_ok(&kc, &["annotate", "svc", "np2", "a=b"]);
    kubectl_ok(&kc, &["label", "svc", "np2", "tier=web"]);
    for name in ["np2", "myapp", "kubernetes"] {
        assert_eq!(
            lite_ok(&kc, &["describe", "svc", name]),
            kubectl_ok(&kc, &["describe", "svc", name]),
            "describe svc {name}"
        );
    }
    // describe pod, deployment and node, get --show-labels and --sort-by: as kubectl.
    let node1_status = r#"{"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"},{"type":"Hostname","address":"node1"}],
        "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"ready","lastHeartbeatTime":"2026-11-26T03:00:00Z","lastTransitionTime":"2026-11-26T02:00:00Z"}],
        "capacity":{"cpu":"2","memory":"24Gi","pods":"110"},"allocatable":{"cpu":"2","memory":"24Gi","pods":"110"},"nodeInfo":{"kubeletVersion":"v1.32.0-lite","osImage":"Debian","kernelVersion":"6.1",
        "operatingSystem":"linux","architecture":"amd64","containerRuntimeVersion":"netns://0.1","machineID":"","systemUUID":"","bootID":"","kubeProxyVersion":""}}}"#;
    kubectl_ok(&kc, &["patch", "node", "node1", "--subresource=status", "--type=merge", "-p", node1_status]);
    let pod = dir.0.join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web, tier: fe}}\nspec:\n  nodeName: node1\n  containers:\n  - name: web\n    image: myapp:v1\n    ports: [{containerPort: 80, name: http}, {containerPort: 53, protocol: UDP}]\n    env: [{name: A, value: '1'}, {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}, {name: TIER, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['tier']\"}}}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}, {name: K, valueFrom: {configMapKeyRef: {name: cm, key: k}}}, {name: P, valueFrom: {secretKeyRef: {name: sec, key: p, optional: true}}}]\n    envFrom: [{configMapRef: {name: cm}}, {secretRef: {name: sec}, prefix: S_}]\n    volumeMounts: [{name: kube-api-access-x7k2q, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}, {name: conf, mountPath: /etc/conf, subPath: app.conf}, {name: scratch, mountPath: /tmp}]\n    readinessProbe: {httpGet: {path: /healthz, port: 80}, periodSeconds: 2}\n  - name: side\n    image: busybox\n    volumeMounts: [{name: scratch, mountPath: /scratch}]\n  volumes:\n  - name: kube-api-access-x7k2q\n    projected:\n      sources:\n      - serviceAccountToken: {expirationSeconds: 3607, path: token}\n      - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}\n      - downwardAPI: {items: [{path: namespace, fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}}]}\n  - {name: conf, configMap: {name: cm}}\n  - {name: keys, secret: {secretName: sec, optional: true}}\n  - {name: scratch, emptyDir: {}}\n  - {name: host, hostPath: {path: /var/log, type: Directory}}\n  - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: idle}\nspec:\n  containers: [{name: c, image: busybox}]\n",
    )
    .unwrap();
    assert_eq!(lite_ok(&kc, &["create", "-f", pod.to_str().unwrap()]), "pod/web created\npod/idle created\n");
    let running = r#"{"status":{"phase":"Running","podIP":"10.244.1.5","podIPs":[{"ip":"10.244.1.5"}],"hostIP":"127.0.0.1","startTime":"2026-11-26T03:18:40Z",
        "conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-11-26T03:18:41Z"},{"type":"PodScheduled","status":"True","lastTransitionTime":"2026-11-26T03:18:30Z"}],
        "containerStatuses":[{"name":"web","image":"myapp:v1","imageID":"","containerID":"netns://kl-1","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-26T03:18:40Z"}}},
        {"name":"side","image":"busybox","imageID":"","ready":false,"restartCount":2,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}"#;
    kubectl_ok(&kc, &["patch", "pod", "web", "--subresource=status", "--type=merge", "-p", running]);
    // A pod template's volumes are indented one step further than a pod's.
    let template = dir.0.join("deploy.yaml");
    std::fs::write(
        &template,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: vols}\nspec:\n  selector: {matchLabels: {app: vols}}\n  template:\n    metadata: {labels: {app: vols}}\n    spec:\n      containers:\n      - {name: c, image: busybox, volumeMounts: [{name: conf, mountPath: /etc/conf, readOnly: true}]}\n      volumes: [{name: conf, configMap: {name: cm, optional: true}}, {name: scratch, emptyDir: {medium: Memory, sizeLimit: 64Mi}}]\n",
    )
    .unwrap();
    kubectl_ok(&kc, &["create", "-f", template.to_str().unwrap()]);
    for args in [
        &["describe", "pod", "web"][..],
        &["describe", "pod", "idle"],
        &["describe", "deploy", "myapp-deploy"],
        &["describe", "deploy", "vols"],
        &["describe", "node", "node1"],
    ] {
        // Ages are whole seconds: the two runs may straddle a second, so a
        // mismatch is tried again (twice in a row is not a tick).
        let (mut lite, mut kubectl) = (lite_ok(&kc, args), kubectl_ok(&kc, args));
        for _ in 0..2 {
            if lite == kubectl {
                break;
            }
            (lite, kubectl) = (lite_ok(&kc, args), kubectl_ok(&kc, args));
        }
        assert_eq!(lite, kubectl, "{args:?}");
    }
    // The node's heartbeat Lease, once it exists, is a block of its own.
    let lease = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"node1","namespace":"kube-node-lease"},
        "spec":{"holderIdentity":"node1","leaseDurationSeconds":40,"renewTime":"2026-11-26T03:19:58.123456Z"}}"#;
    let (code, body) =
        http("POST", &api.url, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", None, lease);
    assert_eq!(code, 201, "{body}");
    let describe = lite_ok(&kc, &["describe", "node", "node1"]);
    assert!(
        describe.contains("\nLease:\n  HolderIdentity:  node1\n  AcquireTime:     <unset>\n  RenewTime:       Thu, 26 Nov 2026 03:19:58 +0000\n"),
        "{describe}"
    );
    let describe_both =
        || (lite_ok(&kc, &["describe", "node", "node1"]), kubectl_ok(&kc, &["describe", "node", "node1"]));
    let (mut ours, mut theirs) = describe_both();
    if ours != theirs {
        (ours, theirs) = describe_both(); // an age straddling a second, as above
    }
    assert_eq!(ours, theirs, "describe node with its Lease");
    for args in [
        &["-n", "kube-node-lease", "get", "leases"][..],
        &["get", "pods", "--show-labels"][..],
        &["get", "svc", "--show-labels", "-o", "wide"],
        &["get", "pods", "--sort-by=.metadata.creationTimestamp"],
        &["get", "pods", "-o", "wide"],
        &["get", "nodes", "-o", "wide"],
        &["get", "endpointslices"],
        &["get", "all"],
        &["get", "po,svc", "-o", "wide"],
        &["get", "svc", "--sort-by", ".metadata.name"],
    ] {
        assert_eq!(without_age(&lite_ok(&kc, args)), without_age(&kubectl_ok(&kc, args)), "{args:?}");
    }
    // create -f: what exists is an error, the rest is created; exit 1.
    let out = lite(&kc, &["create", "-f", pod.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or(""),
        format!(
            r#"Error from server (AlreadyExists): error when creating "{}": pods "web" already exists"#,
            pod.display()
        )
    );
    // expose: the same Service kubectl expose makes.
    assert_eq!(
        lite_ok(
            &kc,
            &["expose", "deploy", "myapp-deploy", "--port", "80", "--target-port", "http", "--name", "lite-exp"]
        )
        .trim(),
        "service/lite-exp exposed"
    );
    kubectl_ok(
        &kc,
        &["expose", "deploy", "myapp-deploy", "--port", "80", "--target-port", "http", "--name", "kubectl-exp"],
    );
    let spec = |name: &str| {
        kubectl_ok(&kc, &["get", "svc", name, "-o", "jsonpath={.spec.selector} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.type} {.metadata.labels}"])
    };
    assert_eq!(spec("lite-exp"), spec("kubectl-exp"));
    // delete -f, by the manifests' names.
    assert_eq!(lite_ok(&kc, &["delete", "-f", pod.to_str().unwrap()]), "pod \"web\" deleted\npod \"idle\" deleted\n");
    assert!(lite_ok(&kc, &["completion", "bash"]).contains("kubectl-lite"));
    assert_eq!(
        lite_ok(&kc, &["get", "svc,deploy", "-o", "name"]),
        kubectl_ok(&kc, &["get", "svc,deploy", "-o", "name"])
    );

    // --context picks a kubeconfig context, and its namespace is the default.
    let two = dir.0.join("two-contexts");
    std::fs::write(
        &two,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: good\n  cluster: {{server: \"{}\"}}\n- name: bad\n  cluster: {{server: \"http://127.0.0.1:9\"}}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: bad\n  context: {{cluster: bad, user: u}}\n- name: lab\n  context: {{cluster: good, user: u, namespace: lab}}\ncurrent-context: bad\n",
            api.url
        ),
    )
    .unwrap();
    let in_lab = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kubectl-lite")).env("KUBECONFIG", &two).args(args).output().unwrap()
    };
    assert!(!in_lab(&["get", "svc"]).status.success(), "the current context's server is unreachable");
    let out = in_lab(&["--context", "lab", "get", "pods"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "No resources found in lab namespace.");

    // scale, through /scale.
    assert_eq!(
        lite_ok(&kc, &["scale", "deploy", "myapp-deploy", "--replicas", "5"]).trim(),
        "deployment.apps/myapp-deploy scaled"
    );
    assert_eq!(kubectl_ok(&kc, &["get", "deploy", "myapp-deploy", "-o", "jsonpath={.spec.replicas}"]), "5");

    // version, api-resources, get -w.
    assert!(lite_ok(&kc, &["version"]).contains("Server Version: v1.32.0-mini"));
    assert_eq!(lite_ok(&kc, &["api-resources"]), kubectl_ok(&kc, &["api-resources"]));
    let mut watch = Command::new(env!("CARGO_BIN_EXE_kubectl-lite"))
        .env("KUBECONFIG", &kc.path)
        .args(["get", "svc", "-w"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let header = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
    assert!(header.starts_with("NAME "), "{header}");
    kubectl_ok(&kc, &["create", "service", "clusterip", "watched", "--tcp=81:81"]);
    let row = loop {
        let line = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("a row for the new Service");
        if line.starts_with("watched ") {
            break line;
        }
    };
    assert_eq!(row.split_whitespace().nth(1), Some("ClusterIP"));
    assert_eq!(row.find("ClusterIP"), header.find("TYPE"), "rows keep the list's columns");
    let _ = watch.kill();
    let _ = watch.wait();

    assert_eq!(lite_ok(&kc, &["delete", "svc", "myapp"]).trim(), r#"service "myapp" deleted"#);
    assert!(!lite(&kc, &["get", "svc", "myapp"]).status.success());
}

/// Over HTTPS with the apiserver's admin kubeconfig (its CA, a client
/// certificate): kubectl-lite verifies the server and is the admin; a
/// certificate for alice is judged by RBAC as alice.
#[test]
fn talks_https_with_a_kubeconfigs_ca_and_client_certificate() {
    let etcd = Etcd::start();
    let api = Apiserver::start_tls(&workspace_binary("apiserver"), &etcd, &["--authorization-mode=RBAC"]);
    let admin = api.admin_kubeconfig();
    assert_eq!(lite_ok(&admin, &["apply", "-f", &example("svc.yaml")]).trim(), "service/myapp created");
    let services = lite_ok(&admin, &["get", "svc"]);
    assert!(services.contains("kubernetes") && services.contains("myapp"), "{services}");
    let alice = api.kubeconfig_for("alice", &["devs"]);
    let out = lite(&alice, &["get", "svc"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"User "alice" cannot list resource "services""#), "{err}");
}
