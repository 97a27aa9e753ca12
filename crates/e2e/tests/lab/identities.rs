//! The lab's components each run as their own identity (issue 16's
//! acceptance 4), as on a kubeadm cluster: their kubeconfigs, minted into
//! the image by scripts/lab-image, are used here from the host to show
//! what each may not do, in upstream's words. And no component's log shows
//! a 403: what they do need, the bootstrap roles grant.

use super::compose;
use e2e::{kubectl, kubectl_ok, Kubeconfig};
use std::process::Command;

/// A file of the lab's image (`docker run --rm ... cat`), as the
/// containers see it.
pub fn from_image(path: &str) -> String {
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "mini-k8s/lab:latest", "cat", path])
        .output()
        .expect("docker run");
    assert!(out.status.success(), "reading {path} from the image: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The published port: the serving certificate names 127.0.0.1, and
/// `--server` keeps the kubeconfig's CA and client certificate.
const SERVER: &str = "--server=https://127.0.0.1:6443";

/// kubectl as a component: (success, stdout + stderr).
fn as_component(kc: &Kubeconfig, args: &[&str]) -> (bool, String) {
    let out = kubectl(kc, &[&[SERVER][..], args].concat());
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn can_i(admin: &Kubeconfig, args: &[&str]) -> String {
    let out = kubectl(admin, &[&["auth", "can-i"][..], args].concat());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn check(admin: &Kubeconfig) {
    let whoami = kubectl_ok(admin, &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert_eq!(whoami, "kubernetes-admin");

    // Without credentials (--anonymous-auth's default: system:anonymous,
    // judged by RBAC, as on a kubeadm cluster): only the health and version
    // routes; the API is 403, not 401.
    let ca = e2e::ScratchDir::new("lab-ca");
    let ca_file = ca.0.join("ca.crt");
    std::fs::write(&ca_file, from_image("/etc/kubernetes/pki/ca.crt")).unwrap();
    let anonymous = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca_file)
            .arg(format!("https://127.0.0.1:6443{path}"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!((anonymous("/readyz"), anonymous("/api/v1/services")), ("200".into(), "403".into()));

    // The proxy reads Services and cannot write one.
    let proxy = Kubeconfig::from_text(&from_image("/etc/kubernetes/proxy.conf"));
    let (ok, text) = as_component(&proxy, &["get", "services", "-A"]);
    assert!(ok && text.contains("kubernetes"), "{text}");
    let (ok, text) = as_component(&proxy, &["create", "service", "clusterip", "hijack", "--tcp=80:80"]);
    let forbidden = r#"services is forbidden: User "system:kube-proxy" cannot create resource "services" in API group "" in the namespace "default""#;
    assert!(!ok && text.contains(forbidden), "{text}");
    assert_eq!(can_i(admin, &["--as=system:kube-proxy", "create", "services"]), "no");
    assert_eq!(can_i(admin, &["--as=system:kube-proxy", "watch", "endpointslices.discovery.k8s.io"]), "yes");

    // node1 changes its own Node, not node2.
    let node1 = Kubeconfig::from_text(&from_image("/etc/kubernetes/kubelet-node1.conf"));
    let (ok, text) = as_component(&node1, &["label", "node", "node2", "lab-check=node1"]);
    assert!(
        !ok && text.contains(r#"nodes "node2" is forbidden: node "node1" is not allowed to modify node "node2""#),
        "{text}"
    );
    let (ok, text) = as_component(&node1, &["label", "node", "node1", "lab-check=node1"]);
    assert!(ok && text.contains("node/node1 labeled"), "{text}");
    kubectl_ok(admin, &["label", "node", "node1", "lab-check-"]);
    let (ok, text) = as_component(&node1, &["create", "service", "clusterip", "hijack", "--tcp=80:80"]);
    assert!(!ok && text.contains(r#"User "system:node:node1" cannot create resource "services""#), "{text}");
    // ... and deletes only the pods bound to it, though its role may delete pods (NodeRestriction).
    let bound = r#"--overrides={"apiVersion":"v1","spec":{"nodeName":"node2"}}"#;
    kubectl_ok(admin, &["run", "on-node2", "--image=busybox", "--restart=Never", bound, "--", "sleep", "3600"]);
    let (ok, text) = as_component(&node1, &["delete", "pod", "on-node2", "--wait=false"]);
    let refused = r#"pods "on-node2" is forbidden: node "node1" can only delete pods with spec.nodeName set to itself"#;
    assert!(!ok && text.contains(refused), "{text}");
    kubectl_ok(admin, &["delete", "pod", "on-node2", "--wait=false"]);

    // The controller may not grant itself more; the DNS pods' account reads no Secrets.
    assert_eq!(
        can_i(
            admin,
            &["--as=system:kube-controller-manager", "create", "clusterrolebindings.rbac.authorization.k8s.io"]
        ),
        "no"
    );
    let coredns = "--as=system:serviceaccount:kube-system:coredns";
    assert_eq!(can_i(admin, &[coredns, "list", "secrets", "-A"]), "no");
    assert_eq!(can_i(admin, &[coredns, "watch", "endpointslices.discovery.k8s.io", "-A"]), "yes");
    println!("lab: the proxy, node1 and the DNS account are refused what they do not need (403, upstream's words)");
}

/// No component was refused anything it asked for: the controller's and
/// the nodes' logs (node agent and proxy) hold no 403.
pub fn no_forbidden_in_logs() {
    for service in ["controller", "node1", "node2"] {
        let out = compose(&["logs", "--no-color", service]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let refused: Vec<&str> = text.lines().filter(|l| l.contains("is forbidden") || l.contains(" 403 ")).collect();
        assert!(refused.is_empty(), "{service} was refused:\n{}", refused.join("\n"));
    }
}
