//! `healthCheckNodePort` on the real apiserver and etcd, through kubectl:
//! allocated for a LoadBalancer with `externalTrafficPolicy: Local` (also
//! without NodePorts), kept by a replace, released with the policy, and
//! refused where upstream refuses it.

use e2e::{kubectl, kubectl_ok, workspace_binary, Apiserver, Etcd, Kubeconfig};
use std::io::Write;

fn apply(kc: &Kubeconfig, manifest: &str) -> std::process::Output {
    let path = kc.path.with_file_name(format!("svc-{}.yaml", std::process::id()));
    std::fs::File::create(&path).unwrap().write_all(manifest.as_bytes()).unwrap();
    kubectl(kc, &["apply", "-f", path.to_str().unwrap()])
}

fn hcnp(kc: &Kubeconfig, name: &str) -> String {
    kubectl_ok(kc, &["get", "svc", name, "-o", "jsonpath={.spec.healthCheckNodePort}"])
}

#[test]
fn health_check_node_port_follows_upstream() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);

    let local = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  allocateLoadBalancerNodePorts: false\n  selector: {app: myapp}\n  ports: [{port: 80}]\n";
    let out = apply(&kc, local);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let port: i32 = hcnp(&kc, "web").parse().expect("a healthCheckNodePort");
    assert!((30000..=32767).contains(&port), "{port}");
    // No NodePorts were asked for, and none were given.
    assert_eq!(kubectl_ok(&kc, &["get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"]), "");

    // Applying the same manifest again (it has no healthCheckNodePort) keeps it.
    assert!(apply(&kc, local).status.success());
    assert_eq!(hcnp(&kc, "web"), port.to_string());

    // Changing it is refused; another Service may not take it.
    let patch = format!(r#"{{"spec":{{"healthCheckNodePort":{}}}}}"#, port + 1);
    let out = kubectl(&kc, &["patch", "svc", "web", "-p", &patch]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        r#"The Service "web" is invalid: spec.healthCheckNodePort: Forbidden: field is immutable"#
    );
    let other = local.replace("name: web", "name: other").replace(
        "externalTrafficPolicy: Local\n",
        &format!("externalTrafficPolicy: Local\n  healthCheckNodePort: {port}\n"),
    );
    let out = apply(&kc, &other);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("spec.healthCheckNodePort: Invalid value: {port}: provided port is already allocated")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // To Cluster: released, and free for someone else.
    kubectl_ok(&kc, &["patch", "svc", "web", "-p", r#"{"spec":{"externalTrafficPolicy":"Cluster"}}"#]);
    assert_eq!(hcnp(&kc, "web"), "");
    let out = apply(&kc, &other);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(hcnp(&kc, "other"), port.to_string());

    // Where it is not needed, it is refused.
    let out = kubectl(&kc, &["create", "service", "nodeport", "np", "--tcp=80:80", "--dry-run=client", "-o", "json"]);
    let mut np: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    np["spec"]["healthCheckNodePort"] = serde_json::json!(30999);
    let out = apply(&kc, &np.to_string());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        r#"The Service "np" is invalid: spec.healthCheckNodePort: Invalid value: 30999: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"#
    );
}
