//! The installed kubectl (1.32) against the apiserver and a real etcd, with
//! default validation: the tutorial's Service lifecycle, as a user types it.

use e2e::{http, kubectl, kubectl_ok, table_rows, Apiserver, Etcd, Kubeconfig, ScratchDir};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

fn start() -> (Etcd, Apiserver, Kubeconfig) {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    (etcd, api, kc)
}

#[test]
fn apply_get_describe_delete_like_the_tutorial() {
    let (_etcd, _api, kc) = start();
    let svc = example("svc.yaml");
    let svc = svc.to_str().unwrap();
    assert_eq!(kubectl_ok(&kc, &["apply", "-f", svc]).trim(), "service/myapp created");
    assert_eq!(kubectl_ok(&kc, &["apply", "-f", svc]).trim(), "service/myapp unchanged");

    let rows = table_rows(&kubectl_ok(&kc, &["get", "svc"]));
    assert_eq!(rows[0], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    assert_eq!(rows[1][..5], ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]);
    assert_eq!(rows[2][..2], ["myapp", "ClusterIP"]);
    assert_eq!(rows[2][3..5], ["<none>", "80/TCP"]);
    let ip = rows[2][2].clone();
    let octets: Vec<u8> = ip.split('.').map(|o| o.parse().unwrap()).collect();
    assert!(
        octets[0] == 10 && (96..112).contains(&octets[1]) && ip != "10.96.0.1",
        "ClusterIP {ip} outside 10.96.0.0/12"
    );

    // Edited: a second port. kubectl sends a strategic merge patch.
    let dir = ScratchDir::new("manifests");
    let edited = dir.0.join("svc.yaml");
    let text = std::fs::read_to_string(svc).unwrap() + "  - name: metrics\n    port: 9090\n";
    std::fs::write(&edited, text).unwrap();
    assert_eq!(kubectl_ok(&kc, &["apply", "-f", edited.to_str().unwrap()]).trim(), "service/myapp configured");

    let wide = table_rows(&kubectl_ok(&kc, &["get", "svc", "myapp", "-o", "wide"]));
    assert_eq!(wide[0].last().unwrap(), "SELECTOR");
    assert_eq!(wide[1][4], "80/TCP,9090/TCP");
    assert_eq!(wide[1].last().unwrap(), "app=myapp,release=stabel");

    let yaml = kubectl_ok(&kc, &["get", "svc", "myapp", "-o", "yaml"]);
    for want in [
        format!("clusterIP: {ip}"),
        "sessionAffinity: None".into(),
        "targetPort: 9090".into(),
        "kubectl.kubernetes.io/last-applied-configuration".into(),
    ] {
        assert!(yaml.contains(&want), "{want} not in\n{yaml}");
    }

    let describe = kubectl_ok(&kc, &["describe", "svc", "myapp"]);
    for want in [
        "Selector:                 app=myapp,release=stabel",
        "Type:                     ClusterIP",
        &format!("IP:                       {ip}"),
        "Port:                     http  80/TCP",
        "TargetPort:               80/TCP",
        "Session Affinity:         None",
    ] {
        assert!(describe.contains(want), "{want:?} not in\n{describe}");
    }

    // Removing the port from the manifest removes it from the Service.
    assert_eq!(kubectl_ok(&kc, &["apply", "-f", svc]).trim(), "service/myapp configured");
    assert_eq!(table_rows(&kubectl_ok(&kc, &["get", "svc", "myapp"]))[1][4], "80/TCP");

    // create -f of an existing object.
    let out = kubectl(&kc, &["create", "-f", svc]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Error from server (AlreadyExists): error when creating")
            && stderr.contains(r#"services "myapp" already exists"#),
        "{stderr}"
    );

    // Delete frees the ClusterIP: a Service asking for it by value gets it.
    assert_eq!(kubectl_ok(&kc, &["delete", "svc", "myapp"]).trim(), r#"service "myapp" deleted"#);
    let again = dir.0.join("static.yaml");
    std::fs::write(&again, format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: reuse\nspec:\n  clusterIP: {ip}\n  ports:\n  - port: 80\n")).unwrap();
    assert_eq!(kubectl_ok(&kc, &["apply", "-f", again.to_str().unwrap()]).trim(), "service/reuse created");
    assert_eq!(table_rows(&kubectl_ok(&kc, &["get", "svc", "reuse"]))[1][2], ip);

    // A second Service asking for the same IP is refused, in upstream's words.
    std::fs::write(&again, format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: thief\nspec:\n  clusterIP: {ip}\n  ports:\n  - port: 80\n")).unwrap();
    let out = kubectl(&kc, &["apply", "-f", again.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!("spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated");
    assert!(stderr.contains(&want), "{stderr}");
}

#[test]
fn get_watch_sees_a_service_created_by_another_client() {
    let (_etcd, api, kc) = start();
    let cache = kc.path.with_file_name("cache");
    let mut watch = Command::new("kubectl")
        .env("KUBECONFIG", &kc.path)
        .args(["--cache-dir", cache.to_str().unwrap(), "get", "svc", "-w"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).expect("watch header");
    assert!(first.starts_with("NAME"), "{first}");
    assert!(rx.recv_timeout(Duration::from_secs(20)).unwrap().starts_with("kubernetes"));
    let body = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"watched"},"spec":{"type":"NodePort","ports":[{"port":8080}]}}"#;
    let (code, resp) = http("POST", &api.url, "/api/v1/namespaces/default/services", None, body);
    assert_eq!(code, 201, "{resp}");
    let line = rx.recv_timeout(Duration::from_secs(20)).expect("the watch shows the new Service");
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[..2], ["watched", "NodePort"]);
    assert!(cells[4].starts_with("8080:3") && cells[4].ends_with("/TCP"), "{line}");
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn scale_a_deployment_and_see_errors_as_kubectl_prints_them() {
    let (_etcd, _api, kc) = start();
    let deploy = example("svc-deployment.yaml");
    assert_eq!(
        kubectl_ok(&kc, &["apply", "-f", deploy.to_str().unwrap()]).trim(),
        "deployment.apps/myapp-deploy created"
    );
    assert_eq!(
        kubectl_ok(&kc, &["scale", "deployment", "myapp-deploy", "--replicas=5"]).trim(),
        "deployment.apps/myapp-deploy scaled"
    );
    assert_eq!(
        kubectl_ok(&kc, &["get", "deploy", "myapp-deploy", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"]),
        "5 2"
    );
    let rows = table_rows(&kubectl_ok(&kc, &["get", "deploy", "-o", "wide"]));
    assert_eq!(rows[0], ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(rows[1][1], "0/5");

    let out = kubectl(&kc, &["get", "svc", "nope"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        r#"Error from server (NotFound): services "nope" not found"#
    );
    let out = kubectl(&kc, &["delete", "ns", "default"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("this namespace may not be deleted"));

    // Server-side validation: kubectl's default `--validate=strict` relies on it.
    let dir = ScratchDir::new("manifests");
    let bad = dir.0.join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  portz: []\n  ports:\n  - port: 70000\n    targetPort: 80\n").unwrap();
    let out = kubectl(&kc, &["apply", "-f", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(r#"unknown field "spec.portz""#), "{stderr}");
    let out = kubectl(&kc, &["apply", "--validate=false", "-f", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"The Service "bad" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"#),
        "{stderr}"
    );

    // NodePort in a namespace of its own; deleting the namespace takes it along.
    kubectl_ok(&kc, &["create", "namespace", "lab"]);
    let np = dir.0.join("np.yaml");
    std::fs::write(&np, "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: lab\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 30080\n").unwrap();
    kubectl_ok(&kc, &["apply", "-f", np.to_str().unwrap()]);
    let rows = table_rows(&kubectl_ok(&kc, &["get", "svc", "-A"]));
    assert!(rows.iter().any(|r| r[0] == "lab" && r[1] == "web" && r[5] == "80:30080/TCP"), "{rows:?}");
    kubectl_ok(&kc, &["delete", "ns", "lab"]);
    assert!(!kubectl(&kc, &["get", "svc", "web", "-n", "lab"]).status.success());

    // kubectl's typed commands send protobuf bodies.
    assert_eq!(
        kubectl_ok(&kc, &["create", "deployment", "web", "--image=nginx:1.25", "--replicas=2"]).trim(),
        "deployment.apps/web created"
    );
    assert_eq!(
        kubectl_ok(&kc, &["expose", "deployment", "web", "--port=80", "--target-port=8080", "--type=NodePort"]).trim(),
        "service/web exposed"
    );
    assert_eq!(
        kubectl_ok(&kc, &["create", "service", "clusterip", "plain", "--tcp=8080:80"]).trim(),
        "service/plain created"
    );
    let rows = table_rows(&kubectl_ok(&kc, &["get", "svc", "web", "plain", "-o", "wide"]));
    assert_eq!((rows[1][1].as_str(), rows[1][6].as_str()), ("NodePort", "app=web"));
    assert!(rows[1][4].starts_with("80:3"), "{rows:?}");
    assert_eq!(rows[2][4], "8080/TCP");
    assert_eq!(
        kubectl_ok(
            &kc,
            &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"]
        ),
        "2 nginx:1.25"
    );
}
