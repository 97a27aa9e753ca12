//! CustomResourceDefinitions with the installed kubectl (1.32) and a real
//! etcd: a CRD applied, its objects served with their printer columns and
//! short name, pruned, defaulted and validated by the structural schema;
//! the status and scale subresources; two apiservers on one etcd; deleting
//! the CRD deletes its objects.

use e2e::{eventually, http, kubectl, kubectl_ok, table_rows, Apiserver, Etcd, Kubeconfig};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn manifest(name: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests").join(name);
    p.to_str().unwrap().to_string()
}

fn start(etcd: &Etcd) -> (Apiserver, Kubeconfig) {
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    (api, kc)
}

fn stderr_of(kc: &Kubeconfig, args: &[&str]) -> String {
    let out = kubectl(kc, args);
    assert!(!out.status.success(), "kubectl {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const CRONTABS: &str = "/apis/stable.example.com/v1/namespaces/default/crontabs";

fn get_json(api: &Apiserver, path: &str) -> (u16, Value) {
    let (code, body) = http("GET", &api.url, path, None, "");
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn kubectl_applies_a_crd_and_its_objects() {
    let etcd = Etcd::start();
    let (api, kc) = start(&etcd);
    let crd = manifest("crd-crontab.yaml");
    assert_eq!(
        kubectl_ok(&kc, &["apply", "-f", &crd]).trim(),
        "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"
    );
    let rows = table_rows(&kubectl_ok(&kc, &["get", "crd"]));
    assert_eq!(rows[0], ["NAME", "CREATED", "AT"]);
    assert_eq!(rows[1][0], "crontabs.stable.example.com");
    let established = kubectl_ok(&kc, &["wait", "--for=condition=Established", "crd/crontabs.stable.example.com"]);
    assert!(established.contains("condition met"), "{established}");

    // Discovery: kubectl's api-resources lists it with its short name and scope.
    let resources = kubectl_ok(&kc, &["api-resources", "--api-group=stable.example.com"]);
    let rows = table_rows(&resources);
    assert_eq!(rows[1], ["crontabs", "ct", "stable.example.com/v1", "true", "CronTab"], "{resources}");

    // Unknown fields: refused under kubectl's default (strict) validation...
    let cr = manifest("crontab.yaml");
    let strict = stderr_of(&kc, &["apply", "-f", &cr]);
    assert!(strict.contains("unknown field \"spec.bogus\""), "{strict}");
    // ... pruned without it; defaults filled in; preserved where the schema says so.
    assert_eq!(
        kubectl_ok(&kc, &["apply", "--validate=false", "-f", &cr]).trim(),
        "crontab.stable.example.com/my-new-cron-object created"
    );
    let yaml = kubectl_ok(&kc, &["get", "crontab", "my-new-cron-object", "-o", "yaml"]);
    let spec = yaml.split_once("\nspec:\n").map(|(_, s)| s).unwrap_or("");
    assert!(!spec.contains("bogus"), "not pruned:\n{yaml}");
    for want in ["cronSpec: '* * * * */5'", "replicas: 1", "kept: true"] {
        assert!(spec.contains(want), "{want} not in the spec of\n{yaml}");
    }
    assert!(yaml.contains("generation: 1"), "{yaml}");

    // The printer columns, by plural and by short name.
    for name in ["crontabs", "ct", "crontabs.stable.example.com"] {
        let rows = table_rows(&kubectl_ok(&kc, &["get", name]));
        assert_eq!(rows[0], ["NAME", "SPEC", "REPLICAS", "AGE"], "{name}");
        assert_eq!(rows[1][..5], ["my-new-cron-object", "*", "*", "*", "*"], "{name}");
        assert_eq!(rows[1][6], "1");
        let age = &rows[1][7];
        assert!(age.ends_with('s') && age.trim_end_matches('s').parse::<u32>().unwrap() < 60, "age {age}");
    }
    // `get all` includes it (its category), and a label selector filters it.
    assert!(kubectl_ok(&kc, &["get", "all"]).contains("crontab.stable.example.com/my-new-cron-object"));
    kubectl_ok(&kc, &["label", "ct", "my-new-cron-object", "tier=web"]);
    assert!(kubectl_ok(&kc, &["get", "ct", "-l", "tier=web", "-o", "name"]).contains("my-new-cron-object"));
    assert!(kubectl_ok(&kc, &["get", "ct", "-l", "tier=db", "-o", "name"]).trim().is_empty());
    let by_name = kubectl_ok(&kc, &["get", "ct", "--field-selector", "metadata.name=my-new-cron-object", "-o", "name"]);
    assert_eq!(by_name.trim(), "crontab.stable.example.com/my-new-cron-object");

    // Type validation: a 422 with the schema's words.
    let invalid = stderr_of(&kc, &["apply", "-f", &manifest("crontab-invalid.yaml")]);
    assert!(
        invalid.contains(
            "The CronTab \"too-many\" is invalid: spec.replicas: Invalid value: 15: spec.replicas in body should be less than or equal to 10"
        ),
        "{invalid}"
    );
    let (code, body) = http(
        "POST",
        &api.url,
        CRONTABS,
        Some("application/json"),
        r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"bad"},"spec":{"cronSpec":"never","replicas":"two"}}"#,
    );
    assert_eq!(code, 422, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["message"],
        "CronTab.stable.example.com \"bad\" is invalid: [spec.cronSpec: Invalid value: \"never\": spec.cronSpec in body should match '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$', spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"]"
    );

    // scale: kubectl scale writes spec.replicas through the scale subresource.
    kubectl_ok(&kc, &["scale", "ct/my-new-cron-object", "--replicas=3"]);
    assert_eq!(table_rows(&kubectl_ok(&kc, &["get", "ct"]))[1][6], "3");
    let (_, scale) = get_json(&api, &format!("{CRONTABS}/my-new-cron-object/scale"));
    assert_eq!((scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()), (Some("Scale"), Some(3)));

    // Deleting the CRD deletes its objects, and the resource leaves discovery.
    let deleted = kubectl_ok(&kc, &["delete", "crd", "crontabs.stable.example.com"]);
    assert_eq!(deleted.trim(), "customresourcedefinition.apiextensions.k8s.io \"crontabs.stable.example.com\" deleted");
    // (A fresh kubectl: this one's discovery cache still names crontabs.)
    eventually("crontabs leave discovery", || get_json(&api, CRONTABS).0, |c| *c == 404);
    let gone = stderr_of(&Kubeconfig::new(&api.url), &["get", "crontabs"]);
    assert!(gone.contains("the server doesn't have a resource type \"crontabs\""), "{gone}");
    // Created again, it starts empty: the old objects went with the CRD.
    kubectl_ok(&kc, &["apply", "-f", &crd]);
    let (code, list) = get_json(&api, CRONTABS);
    assert_eq!((code, list["items"].as_array().map(Vec::len)), (200, Some(0)), "{list}");
}

#[test]
fn status_and_main_resource_writes_keep_to_their_parts() {
    let etcd = Etcd::start();
    let (api, kc) = start(&etcd);
    kubectl_ok(&kc, &["apply", "-f", &manifest("crd-crontab.yaml")]);
    let applied = kubectl_ok(&kc, &["apply", "--server-side", "--validate=false", "-f", &manifest("crontab.yaml")]);
    assert_eq!(applied.trim(), "crontab.stable.example.com/my-new-cron-object serverside-applied");
    let watch = std::process::Command::new("kubectl")
        .env("KUBECONFIG", &kc.path)
        .args(["get", "ct", "-w", "--request-timeout=2s"])
        .output()
        .unwrap();
    // `kubectl get -w`: a Table watch, with the CRD's columns.
    let rows = table_rows(&String::from_utf8_lossy(&watch.stdout));
    assert_eq!(rows[0][..3], ["NAME", "SPEC", "REPLICAS"]);
    assert_eq!(rows[1][0], "my-new-cron-object");
    let path = format!("{CRONTABS}/my-new-cron-object");
    let (_, mut obj) = get_json(&api, &path);
    obj["status"] = json!({"replicas": 7});
    obj["spec"]["image"] = json!("changed");
    let (code, body) = http("PUT", &api.url, &path, Some("application/json"), &obj.to_string());
    assert_eq!(code, 200, "{body}");
    let (_, main) = get_json(&api, &path);
    assert_eq!((main["spec"]["image"].as_str(), main.get("status")), (Some("changed"), None), "status ignored");
    assert_eq!(main["metadata"]["generation"], 2);

    let mut status = main.clone();
    status["status"] = json!({"replicas": 7});
    status["spec"]["image"] = json!("ignored");
    let (code, body) = http("PUT", &api.url, &format!("{path}/status"), Some("application/json"), &status.to_string());
    assert_eq!(code, 200, "{body}");
    let (_, after) = get_json(&api, &path);
    assert_eq!((after["spec"]["image"].as_str(), after["status"]["replicas"].as_i64()), (Some("changed"), Some(7)));
    assert_eq!(after["metadata"]["generation"], 2, "a status write is no new generation");
}

#[test]
fn a_non_structural_crd_is_refused_as_upstream() {
    let etcd = Etcd::start();
    let (api, kc) = start(&etcd);
    let err = stderr_of(&kc, &["apply", "-f", &manifest("crd-nonstructural.yaml")]);
    assert!(
        err.contains("The CustomResourceDefinition \"widgets.example.com\" is invalid: spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"),
        "{err}"
    );
    let (code, body) = http(
        "POST",
        &api.url,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some("application/json"),
        r#"{"metadata":{"name":"things.example.com"},"spec":{"group":"example.com","scope":"Namespaced","names":{"plural":"things","kind":"Thing"},"versions":[{"name":"v1","served":true,"storage":false}]}}"#,
    );
    assert_eq!(code, 422, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["message"],
        "CustomResourceDefinition.apiextensions.k8s.io \"things.example.com\" is invalid: [spec.versions: Invalid value: []string{\"v1\"}: must have exactly one version marked as storage version, spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required]"
    );
}

/// A second CRD of a group whose kind the first already holds is stored
/// but not accepted: `NamesAccepted` False, not established, not served.
#[test]
fn a_crd_whose_names_are_in_use_is_not_established() {
    let etcd = Etcd::start();
    let (api, kc) = start(&etcd);
    kubectl_ok(&kc, &["apply", "-f", &manifest("crd-crontab.yaml")]);
    let schema = json!({"openAPIV3Schema": {"type": "object"}});
    let twin = json!({"metadata": {"name": "crontabz.stable.example.com"},
        "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabz", "kind": "CronTab"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": schema}]}});
    let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let (code, body) = http("POST", &api.url, crds, Some("application/json"), &twin.to_string());
    assert_eq!(code, 201, "{body}");
    let stored: Value = serde_json::from_str(&body).unwrap();
    let conditions = &stored["status"]["conditions"];
    assert_eq!(
        (conditions[0]["type"].as_str(), conditions[0]["status"].as_str(), conditions[0]["reason"].as_str()),
        (Some("NamesAccepted"), Some("False"), Some("KindConflict"))
    );
    assert_eq!(conditions[0]["message"], "\"CronTab\" is already in use");
    assert_eq!(conditions[1]["status"], "False");
    assert_eq!(get_json(&api, "/apis/stable.example.com/v1/namespaces/default/crontabz").0, 404);
}

/// A CRD whose objects have finalizers of their own stays, `Terminating`,
/// until they are gone; meanwhile no new object may be created.
#[test]
fn a_deleted_crd_waits_for_its_objects_finalizers() {
    let etcd = Etcd::start();
    let (api, kc) = start(&etcd);
    kubectl_ok(&kc, &["apply", "-f", &manifest("crd-crontab.yaml")]);
    let held = r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"held","finalizers":["example.com/hold"]},"spec":{"cronSpec":"* * * * *"}}"#;
    assert_eq!(http("POST", &api.url, CRONTABS, Some("application/json"), held).0, 201);
    kubectl_ok(&kc, &["delete", "crd", "crontabs.stable.example.com", "--wait=false"]);
    let crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.stable.example.com";
    let terminating = |crd: &Value| {
        crd["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| c["type"] == "Terminating" && c["reason"] == "InstanceDeletionInProgress")
        })
    };
    eventually("the CRD is Terminating", || get_json(&api, crd_path).1, terminating);
    let another = held.replace("\"held\"", "\"another\"");
    let (code, body) = http("POST", &api.url, CRONTABS, Some("application/json"), &another);
    assert_eq!(code, 405, "{body}");
    assert!(body.contains("create not allowed while custom resource definition is terminating"), "{body}");
    // The held object is being deleted; its finalizer removed, it goes, and so does the CRD.
    eventually(
        "the held object is being deleted",
        || get_json(&api, &format!("{CRONTABS}/held")).1,
        |obj| obj["metadata"]["deletionTimestamp"].is_string(),
    );
    let unhold = r#"{"metadata":{"finalizers":null}}"#;
    let (code, body) =
        http("PATCH", &api.url, &format!("{CRONTABS}/held"), Some("application/merge-patch+json"), unhold);
    assert_eq!(code, 200, "{body}");
    eventually("the CRD is gone", || get_json(&api, crd_path).0, |c| *c == 404);
}

/// A CRD serving two versions: one etcd prefix, each version's objects as
/// read through it (no conversion webhook: only `apiVersion` differs), and
/// discovery names both, the GA one preferred.
#[test]
fn the_versions_of_a_crd_share_its_objects() {
    let etcd = Etcd::start();
    let (api, _kc) = start(&etcd);
    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster", "names": {"plural": "gadgets", "kind": "Gadget"},
            "versions": [{"name": "v1beta1", "served": true, "storage": false, "schema": schema},
                         {"name": "v1", "served": true, "storage": true, "schema": schema}]}});
    let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let (code, body) = http("POST", &api.url, crds, Some("application/json"), &crd.to_string());
    assert_eq!(code, 201, "{body}");
    let gadget = r#"{"apiVersion":"example.com/v1beta1","kind":"Gadget","metadata":{"name":"g"},"size":3}"#;
    let (code, body) = http("POST", &api.url, "/apis/example.com/v1beta1/gadgets", Some("application/json"), gadget);
    assert_eq!(code, 201, "{body}");
    let (_, v1) = get_json(&api, "/apis/example.com/v1/gadgets/g");
    assert_eq!((v1["apiVersion"].as_str(), v1["size"].as_i64()), (Some("example.com/v1"), Some(3)));
    let (_, list) = get_json(&api, "/apis/example.com/v1beta1/gadgets");
    assert_eq!(list["items"][0]["apiVersion"], "example.com/v1beta1");
    let (_, group) = get_json(&api, "/apis/example.com");
    assert_eq!(group["preferredVersion"]["version"], "v1");
    let versions: Vec<&str> =
        group["versions"].as_array().unwrap().iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(versions, ["v1", "v1beta1"]);
    let (_, stored) = get_json(&api, &format!("{crds}/gadgets.example.com"));
    assert_eq!(stored["status"]["storedVersions"], json!(["v1"]));
}

/// Two apiservers share one etcd: a CRD created through one is served by
/// the other, which learns it from its watch on the CRDs, and its deletion too.
#[test]
fn a_second_apiserver_learns_crds_from_etcd() {
    let etcd = Etcd::start();
    let (_api1, kc1) = start(&etcd);
    let (api2, kc2) = start(&etcd);
    kubectl_ok(&kc1, &["apply", "-f", &manifest("crd-crontab.yaml")]);
    kubectl_ok(&kc1, &["apply", "--validate=false", "-f", &manifest("crontab.yaml")]);
    let rows = eventually(
        "the second apiserver serves crontabs",
        || table_rows(&String::from_utf8_lossy(&kubectl(&kc2, &["get", "ct"]).stdout)),
        |rows| rows.len() == 2,
    );
    assert_eq!(rows[0], ["NAME", "SPEC", "REPLICAS", "AGE"]);
    // A third, started after the CRD exists, learns it from its first list.
    let (_api3, kc3) = start(&etcd);
    assert_eq!(table_rows(&kubectl_ok(&kc3, &["get", "ct"])).len(), 2);

    kubectl_ok(&kc1, &["delete", "crd", "crontabs.stable.example.com"]);
    eventually("the second apiserver forgets crontabs", || get_json(&api2, CRONTABS).0, |c| *c == 404);
}

/// A created CRD serves the moment its create answers (upstream's clients
/// create objects right after): thirty CRDs, each followed at once by an
/// object of its kind. The apiserver learns a CRD twice, from its own write
/// and from the watch; when the watch came first, the write's learning saw
/// the CRD as known and answered before the watch's had published its rows
/// (a 404 for the object, or a second CRD of the kind accepted).
#[test]
fn a_crd_serves_as_soon_as_its_create_answers() {
    let etcd = Etcd::start();
    let (api, _kc) = start(&etcd);
    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    for i in 0..30 {
        let crd = json!({"metadata": {"name": format!("things{i}.race.example.com")},
            "spec": {"group": "race.example.com", "scope": "Cluster",
                "names": {"plural": format!("things{i}"), "kind": format!("Thing{i}")},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": schema}]}});
        let (code, body) = http("POST", &api.url, crds, Some("application/json"), &crd.to_string());
        assert_eq!(code, 201, "{body}");
        let thing =
            json!({"apiVersion": "race.example.com/v1", "kind": format!("Thing{i}"), "metadata": {"name": "t"}});
        let path = format!("/apis/race.example.com/v1/things{i}");
        let (code, body) = http("POST", &api.url, &path, Some("application/json"), &thing.to_string());
        assert_eq!(code, 201, "CRD {i}: {body}");
    }
}
