//! The kubelet API accepts only the apiserver's client certificate: an
//! HTTPS apiserver with `--kubelet-client-certificate` (kubeadm's
//! `apiserver-kubelet-client`, made by `apiserver certs`), kubelet-lite in
//! a node's network namespace with `--client-ca-file` and its node
//! kubeconfig. `kubectl logs` and `exec` go through; straight to port
//! 10250, no certificate or one of another CA fails the handshake, and the
//! node's own certificate gets the kubelet's 403.

use base64::Engine;
use e2e::netns::NodeNet;
use e2e::{eventually, kubectl, kubectl_ok, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig, ScratchDir};
use std::path::Path;
use std::process::Command;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: lines}
spec:
  nodeName: node1
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'echo line 1; echo line 2; sleep 3600']}
"#;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The client certificate and key of a kubeconfig, as PEM files in `dir`.
fn identity_files(kubeconfig: &str, dir: &Path, name: &str) -> (String, String) {
    let doc: serde_json::Value = serde_yaml::from_str(kubeconfig).unwrap();
    let decode = |field: &str| {
        let data = doc["users"][0]["user"][field].as_str().unwrap();
        base64::engine::general_purpose::STANDARD.decode(data).unwrap()
    };
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, decode("client-certificate-data")).unwrap();
    std::fs::write(&key, decode("client-key-data")).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

/// curl straight to the kubelet API: (exit code, HTTP status, body).
fn curl(url: &str, identity: Option<&(String, String)>) -> (i32, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "--max-time", "5", "-w", "\n%{http_code}"]);
    if let Some((cert, key)) = identity {
        cmd.args(["--cert", cert, "--key", key]);
    }
    let out = cmd.arg(url).output().expect("curl");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn only_the_apiservers_certificate_reaches_the_kubelet() {
    let tag = format!("kt{}", std::process::id() % 10000);
    let net = NodeNet::new(&tag, (std::process::id() % 200) as u8 + 20, 0);
    let scratch = ScratchDir::new("kubelet-tls");
    let pki = scratch.0.join("pki");
    let apiserver = workspace_binary("apiserver");
    run(Command::new(&apiserver).arg("certs").arg("--cert-dir").arg(&pki).args(["--advertise-address", &net.host_ip]));
    let file = |name: &str| pki.join(name).display().to_string();
    let etcd = Etcd::start();
    let flags = [
        "--bind-address".to_string(),
        net.host_ip.clone(),
        format!("--tls-cert-file={}", file("apiserver.crt")),
        format!("--tls-private-key-file={}", file("apiserver.key")),
        format!("--client-ca-file={}", file("ca.crt")),
        format!("--kubelet-client-certificate={}", file("apiserver-kubelet-client.crt")),
        format!("--kubelet-client-key={}", file("apiserver-kubelet-client.key")),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let api = Apiserver::start_tls(&apiserver, &etcd, &flags);
    let mint = |component: &str| {
        run(Command::new(&apiserver).arg("kubeconfig").arg("--cert-dir").arg(&pki).args([
            "--server",
            &api.url,
            "--component",
            component,
        ]))
    };
    let admin = Kubeconfig::from_text(&mint("admin"));
    let node_text = mint("node:node1");
    let node1 = Kubeconfig::from_text(&node_text);

    let (logs, root) = (scratch.0.join("pod-logs"), scratch.0.join("root"));
    let ca = file("ca.crt");
    let own = [
        "--kubeconfig",
        node1.path.to_str().unwrap(),
        "--client-ca-file",
        &ca,
        "--pod-logs-dir",
        logs.to_str().unwrap(),
        "--root-dir",
        root.to_str().unwrap(),
        "--port",
        "10250",
    ];
    let args = [net.kubelet_args(&api.url).as_slice(), &own].concat();
    let mut kubelet = net.spawn(Path::new(env!("CARGO_BIN_EXE_kubelet-lite")), &args);
    eventually(
        "node1 Ready",
        || table_rows(&String::from_utf8_lossy(&kubectl(&admin, &["get", "nodes"]).stdout)),
        |r| r.len() == 2 && r[1][..2] == ["node1", "Ready"],
    );
    let manifest = scratch.0.join("pod.yaml");
    std::fs::write(&manifest, POD).unwrap();
    kubectl_ok(&admin, &["apply", "-f", manifest.to_str().unwrap()]);

    // Through the apiserver, which presents its kubelet client certificate.
    eventually(
        "logs through the apiserver",
        || kubectl(&admin, &["logs", "lines"]),
        |o| o.stdout == b"line 1\nline 2\n",
    );
    assert_eq!(kubectl_ok(&admin, &["exec", "lines", "--", "echo", "over TLS"]), "over TLS\n");

    // Straight to the kubelet.
    let url = format!("https://{}:10250/containerLogs/default/lines/c", net.node_ip);
    let (code, _) = curl(&url, None);
    assert_ne!(code, 0, "no client certificate: the handshake fails");
    let other_ca = ScratchDir::new("other-ca");
    run(Command::new(&apiserver).arg("certs").arg("--cert-dir").arg(&other_ca.0));
    let stranger = run(Command::new(&apiserver).arg("kubeconfig").arg("--cert-dir").arg(&other_ca.0).args([
        "--server",
        &api.url,
        "--component",
        "admin",
    ]));
    let (code, _) = curl(&url, Some(&identity_files(&stranger, &scratch.0, "stranger")));
    assert_ne!(code, 0, "a certificate of another CA: the handshake fails");
    let (code, answer) = curl(&url, Some(&identity_files(&node_text, &scratch.0, "node1")));
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer, "Forbidden (user=system:node:node1, verb=get, resource=nodes, subresource(s)=[proxy])\n403");
    let apiserver_identity = (file("apiserver-kubelet-client.crt"), file("apiserver-kubelet-client.key"));
    let (code, answer) = curl(&url, Some(&apiserver_identity));
    assert_eq!((code, answer.as_str()), (0, "line 1\nline 2\n\n200"));

    kubectl_ok(&admin, &["delete", "pod", "lines", "--wait=false"]);
    eventually("the pod gone", || kubectl_ok(&admin, &["get", "pods", "-o", "name"]), String::is_empty);
    assert!(kubelet.0.try_wait().unwrap().is_none(), "kubelet-lite exited");
}
