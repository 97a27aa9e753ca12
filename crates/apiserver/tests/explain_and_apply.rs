//! The installed kubectl (1.32) reading `/openapi/v3` (`kubectl explain`)
//! and applying server-side (managedFields, conflicts, `--force-conflicts`,
//! fields dropped from a manifest, `diff`), against a real etcd.

use e2e::{http, kubectl, kubectl_ok, Apiserver, Etcd, Kubeconfig, ScratchDir};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn start() -> (Etcd, Apiserver, Kubeconfig) {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    (etcd, api, kc)
}

fn manifest(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests").join(name);
    p.to_str().unwrap().to_string()
}

/// The lines of `text` that are not blank, trimmed at the end.
fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect()
}

#[test]
fn explain_prints_upstreams_layout() {
    let (_etcd, _api, kc) = start();
    let ports = kubectl_ok(&kc, &["explain", "service.spec.ports"]);
    let l = lines(&ports);
    assert_eq!(
        l[..4],
        ["KIND:       Service", "VERSION:    v1", "FIELD: ports <[]ServicePort>", "DESCRIPTION:"],
        "{ports}"
    );
    assert!(l.contains(&"    ServicePort contains information on service's port."), "{ports}");
    assert!(l.contains(&"FIELDS:"), "{ports}");
    for field in [
        "  appProtocol\t<string>",
        "  name\t<string>",
        "  nodePort\t<integer>",
        "  port\t<integer> -required-",
        "  protocol\t<string>",
        "  targetPort\t<IntOrString>",
    ] {
        assert!(l.contains(&field), "{field:?} not in\n{ports}");
    }
    assert!(ports.contains("The IP protocol for this port. Supports \"TCP\", \"UDP\", and \"SCTP\". Default is\n"));
    assert!(l.contains(&"  enum: SCTP, TCP, UDP"), "{ports}");

    // An enum's values, and their meanings after the description, as upstream's.
    let ty = kubectl_ok(&kc, &["explain", "service.spec.type"]);
    let l = lines(&ty);
    assert_eq!(
        l[..8],
        [
            "KIND:       Service",
            "VERSION:    v1",
            "FIELD: type <string>",
            "ENUM:",
            "    ClusterIP",
            "    ExternalName",
            "    LoadBalancer",
            "    NodePort"
        ],
        "{ty}"
    );
    assert!(l.contains(&"    Possible enum values:"), "{ty}");
    assert!(l.contains(&"     - `\"NodePort\"` means a service will be exposed on one port of every node,"), "{ty}");

    let strategy = kubectl_ok(&kc, &["explain", "deployment.spec.strategy", "--recursive"]);
    let l = lines(&strategy);
    assert_eq!(
        l[..4],
        ["GROUP:      apps", "KIND:       Deployment", "VERSION:    v1", "FIELD: strategy <DeploymentStrategy>"]
    );
    let fields = &l[l.iter().position(|x| *x == "FIELDS:").unwrap() + 1..];
    assert_eq!(
        fields,
        [
            "  rollingUpdate\t<RollingUpdateDeployment>",
            "    maxSurge\t<IntOrString>",
            "    maxUnavailable\t<IntOrString>",
            "  type\t<string>",
            "  enum: Recreate, RollingUpdate",
        ]
    );

    let pods = kubectl_ok(&kc, &["explain", "pods"]);
    for want in ["KIND:       Pod", "  metadata\t<ObjectMeta>", "  spec\t<PodSpec>", "  status\t<PodStatus>"] {
        assert!(lines(&pods).contains(&want), "{want:?} not in\n{pods}");
    }
    let containers = kubectl_ok(&kc, &["explain", "pod.spec.containers"]);
    assert!(lines(&containers).contains(&"  name\t<string> -required-"), "{containers}");
}

#[test]
fn a_crd_is_explained_from_its_schema() {
    let (_etcd, _api, kc) = start();
    kubectl_ok(&kc, &["apply", "-f", &manifest("crd-crontab.yaml")]);
    let out = e2e::eventually("explain crontab", || kubectl(&kc, &["explain", "crontab.spec"]), |o| o.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let l = lines(&text);
    assert_eq!(
        l[..4],
        ["GROUP:      stable.example.com", "KIND:       CronTab", "VERSION:    v1", "FIELD: spec <Object>"],
        "{text}"
    );
    for want in ["  cronSpec\t<string> -required-", "  image\t<string>", "  replicas\t<integer>"] {
        assert!(l.contains(&want), "{want:?} not in\n{text}");
    }
}

#[test]
fn openapi_documents_are_hashed_and_cached_as_upstream() {
    let (_etcd, api, _kc) = start();
    let (code, root) = http("GET", &api.url, "/openapi/v3", None, "");
    assert_eq!(code, 200);
    let root: Value = serde_json::from_str(&root).unwrap();
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap().to_string();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    let (code, doc) = http("GET", &api.url, &url, None, "");
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    let (code, _) = http("GET", &api.url, "/openapi/v3/apis/apps/v1?hash=0000", None, "");
    assert_eq!(code, 301);
}

/// `curl` of `/openapi/v2` with these headers: (status, headers).
fn curl_v2(api: &Apiserver, headers: &[&str]) -> (String, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "-D", "-", "-w", "%{http_code}"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(format!("{}/openapi/v2", api.url)).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    (text.chars().rev().take(3).collect::<String>().chars().rev().collect(), text)
}

#[test]
fn openapi_v2_is_swagger_2_with_every_kind_and_an_etag() {
    let (_etcd, api, kc) = start();
    kubectl_ok(&kc, &["apply", "-f", &manifest("crd-crontab.yaml")]);
    e2e::eventually("crontabs served", || kubectl(&kc, &["get", "crontabs"]), |o| o.status.success());
    let raw = kubectl(&kc, &["get", "--raw", "/openapi/v2"]);
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let mut python = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/openapi_v2.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(&mut python.stdin.take().unwrap(), &raw.stdout).unwrap();
    let out = python.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("openapi v2 ok"), "{stdout}");

    // kubectl's reader of the protobuf form (client-go's OpenAPISchema()).
    let explained = kubectl_ok(&kc, &["explain", "--output", "plaintext-openapiv2", "service.spec.ports"]);
    let l = lines(&explained);
    assert!(l.contains(&"KIND:     Service") && l.contains(&"VERSION:  v1"), "{explained}");
    assert!(l.contains(&"RESOURCE: ports <[]Object>"), "{explained}");
    assert!(l.iter().any(|l| l.starts_with("   port\t<integer> -required-")), "{explained}");
    let crontab = kubectl_ok(&kc, &["explain", "--output", "plaintext-openapiv2", "crontab.spec"]);
    assert!(lines(&crontab).iter().any(|l| l.starts_with("   cronSpec\t<string>")), "{crontab}");

    // The ETag, a 304 for it, and 406 for a format not served.
    let (code, headers) = curl_v2(&api, &[]);
    assert_eq!(code, "200", "{headers}");
    let etag = headers
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap_or_else(|| panic!("no ETag: {headers}"))
        .trim()
        .to_string();
    assert_eq!(curl_v2(&api, &[&format!("If-None-Match: {etag}")]).0, "304");
    let protobuf = "Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let (code, headers) = curl_v2(&api, &[protobuf]);
    assert_eq!(code, "200", "{headers}");
    assert!(headers.contains("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"), "{headers}");
    assert_eq!(curl_v2(&api, &["Accept: application/yaml"]).0, "406");
}

fn write(dir: &ScratchDir, name: &str, text: &str) -> PathBuf {
    let p = dir.0.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    tier: front
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
";

#[test]
fn server_side_apply_owns_fields_conflicts_and_prunes() {
    let (_etcd, _api, kc) = start();
    let dir = ScratchDir::new("ssa");
    let three = write(&dir, "three.yaml", &DEPLOYMENT.replace("REPLICAS", "3"));
    // The ops team's manager names only the replicas.
    let replicas =
        |n: u32| format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {n}\n");
    let ops_three = write(&dir, "ops-three.yaml", &replicas(3));
    let five = write(&dir, "five.yaml", &replicas(5));
    let (three, ops_three, five) = (three.to_str().unwrap(), ops_three.to_str().unwrap(), five.to_str().unwrap());
    assert_eq!(
        kubectl_ok(&kc, &["apply", "--server-side", "-f", three]).trim(),
        "deployment.apps/web serverside-applied"
    );
    // Another manager, another value: upstream's conflict.
    let out = kubectl(&kc, &["apply", "--server-side", "--field-manager=ops", "-f", five]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#), "{err}");
    // The same value is shared without a conflict; forced, the field changes hands.
    kubectl_ok(&kc, &["apply", "--server-side", "--field-manager=ops", "-f", ops_three]);
    kubectl_ok(&kc, &["apply", "--server-side", "--field-manager=ops", "--force-conflicts", "-f", five]);
    let obj: Value =
        serde_json::from_str(&kubectl_ok(&kc, &["get", "deploy", "web", "-o", "json", "--show-managed-fields"]))
            .unwrap();
    assert_eq!(obj["spec"]["replicas"], 5);
    let entries = obj["metadata"]["managedFields"].as_array().unwrap();
    let names: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["manager"].as_str().unwrap(), e["operation"].as_str().unwrap())).collect();
    assert_eq!(names, [("kubectl", "Apply"), ("ops", "Apply")]);
    assert!(entries[0]["fieldsV1"]["f:spec"].get("f:replicas").is_none(), "{:?}", entries[0]);
    assert_eq!(entries[1]["fieldsV1"]["f:spec"]["f:replicas"], serde_json::json!({}));
    assert_eq!(
        entries[0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["f:image"],
        serde_json::json!({})
    );
    // Without --show-managed-fields kubectl hides them.
    assert!(!kubectl_ok(&kc, &["get", "deploy", "web", "-o", "yaml"]).contains("managedFields"));

    // A label dropped from kubectl's manifest goes (nobody else owns it).
    let unlabeled =
        write(&dir, "unlabeled.yaml", &DEPLOYMENT.replace("REPLICAS", "3").replace("  labels:\n    tier: front\n", ""));
    let unlabeled = unlabeled.to_str().unwrap();
    // diff (a server-side dry run) shows it first, and changes nothing.
    let diff = kubectl(&kc, &["diff", "--server-side", "--force-conflicts", "-f", unlabeled]);
    let diff_text = String::from_utf8_lossy(&diff.stdout);
    assert!(diff_text.contains("-    tier: front"), "{diff_text}\n{}", String::from_utf8_lossy(&diff.stderr));
    assert!(kubectl_ok(&kc, &["get", "deploy", "web", "-o", "yaml"]).contains("tier: front"));
    kubectl_ok(&kc, &["apply", "--server-side", "--force-conflicts", "-f", unlabeled]);
    let yaml = kubectl_ok(&kc, &["get", "deploy", "web", "-o", "yaml"]);
    assert!(!yaml.contains("tier: front"), "{yaml}");
    assert!(yaml.contains("replicas: 3"), "{yaml}");
}

#[test]
fn other_writes_record_their_manager() {
    let (_etcd, _api, kc) = start();
    kubectl_ok(&kc, &["create", "deployment", "web", "--image=nginx"]);
    kubectl_ok(&kc, &["scale", "deployment", "web", "--replicas=4"]);
    let obj: Value =
        serde_json::from_str(&kubectl_ok(&kc, &["get", "deploy", "web", "-o", "json", "--show-managed-fields"]))
            .unwrap();
    let entries = obj["metadata"]["managedFields"].as_array().unwrap();
    let create = entries.iter().find(|e| e["manager"] == "kubectl-create").expect("kubectl-create's entry");
    assert_eq!(create["operation"], "Update");
    assert_eq!(create["apiVersion"], "apps/v1");
    assert!(create["fieldsV1"]["f:spec"]["f:template"].is_object());
    let dir = ScratchDir::new("ssa-update");
    let two = write(&dir, "two.yaml", &DEPLOYMENT.replace("REPLICAS", "2"));
    let out = kubectl(&kc, &["apply", "--server-side", "-f", two.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    // `kubectl scale` names no manager: the User-Agent's first word does.
    assert!(
        err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas"#),
        "{err}"
    );
}
