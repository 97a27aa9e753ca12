//! Containers that run what they say, in the lab: a busybox pod whose
//! command runs with the node's busybox in the pod's namespaces, sees the
//! Service variables, reaches the ClusterIP with busybox's wget, and ends
//! Completed, its output in the CRI log file under the node's /var/log/pods.

use super::on_node;
use e2e::{eventually, kubectl_ok, table_rows, Kubeconfig};

const CLIENT: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"lab-client"},
 "spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox",
   "command":["sh","-c","env | grep ^MYAPP_SERVICE_HOST=; wget -qO- http://CLUSTER_IP/"]}]}}"#;

pub fn check(kc: &Kubeconfig, dir: &std::path::Path, cluster_ip: &str) {
    let file = dir.join("lab-client.json");
    std::fs::write(&file, CLIENT.replace("CLUSTER_IP", cluster_ip)).unwrap();
    kubectl_ok(kc, &["apply", "-f", file.to_str().unwrap()]);
    eventually(
        "lab-client Completed",
        || table_rows(&kubectl_ok(kc, &["get", "pod", "lab-client"])),
        |r| r.len() == 2 && r[1][2] == "Completed",
    );
    let field = |path: &str| kubectl_ok(kc, &["get", "pod", "lab-client", "-o", &format!("jsonpath={path}")]);
    let (uid, node) = (field("{.metadata.uid}"), field("{.spec.nodeName}"));
    let log = format!("/var/log/pods/default_lab-client_{uid}/c/0.log");
    let text = String::from_utf8_lossy(&on_node(&node, &["cat", &log]).stdout).into_owned();
    println!("lab: {log} on {node}\n{text}");
    assert!(text.contains(&format!(" stdout F MYAPP_SERVICE_HOST={cluster_ip}\n")), "{text}");
    assert!(text.contains(" stdout F Hello MyApp | Version: v2 |"), "{text}");
    kubectl_ok(kc, &["delete", "pod", "lab-client"]);
}
