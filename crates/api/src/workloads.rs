//! Defaulting and validation for the other kinds the lab needs: Pods and
//! Deployments (defaults as upstream's, so `kubectl describe` has no holes),
//! and the name rule of every kind.

use crate::field_errors::{
    dns1035_label, dns1123_label, dns1123_subdomain, path_segment_name, validate_name, FieldError,
};
use crate::selectors::LabelSelector;
use serde_json::{json, Map, Value};

/// The rule `metadata.name` must follow, per kind, as upstream's validators.
pub fn name_rule(kind: &str) -> fn(&str) -> Vec<String> {
    match kind {
        "Service" => dns1035_label,
        "Namespace" => dns1123_label,
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => path_segment_name,
        _ => dns1123_subdomain,
    }
}

/// Validates what every object of `kind` must satisfy on create.
pub fn validate_create(kind: &str, obj: &Value) -> Vec<FieldError> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let mut errs = validate_name(name, name_rule(kind));
    if kind == "Deployment" || kind == "ReplicaSet" {
        errs.extend(validate_deployment(obj));
    }
    if kind == "Pod" && obj.pointer("/spec/containers").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        errs.push(FieldError::required("spec.containers", ""));
    }
    errs
}

/// A Deployment (or ReplicaSet) must select its own template's pods.
pub fn validate_deployment(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(selector) = obj.pointer("/spec/selector").and_then(Value::as_object) else {
        return vec![FieldError::required("spec.selector", "")];
    };
    let labels: std::collections::BTreeMap<String, String> = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let match_labels: std::collections::BTreeMap<String, String> =
        selector.get("matchLabels").and_then(|l| serde_json::from_value(l.clone()).ok()).unwrap_or_default();
    if match_labels.is_empty() && selector.get("matchExpressions").is_none() {
        errs.push(FieldError::invalid(
            "spec.selector",
            "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}",
            "empty selector is invalid for deployment",
        ));
    } else if !LabelSelector::from_map(&match_labels).matches(&labels) {
        let shown = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect::<Vec<_>>().join(", ");
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            format!("map[string]string{{{shown}}}"),
            "`selector` does not match template `labels`",
        ));
    }
    if obj.pointer("/spec/replicas").and_then(Value::as_i64).is_some_and(|r| r < 0) {
        errs.push(FieldError::invalid(
            "spec.replicas",
            obj["spec"]["replicas"].to_string(),
            "must be greater than or equal to 0",
        ));
    }
    errs
}

fn entry<'a>(map: &'a mut Map<String, Value>, key: &str, default: Value) -> &'a mut Value {
    map.entry(key.to_string()).or_insert(default)
}

/// Pod spec defaults (also applied to a Deployment's template).
pub fn default_pod_spec(spec: &mut Value) {
    let Some(spec) = spec.as_object_mut() else { return };
    entry(spec, "restartPolicy", json!("Always"));
    entry(spec, "dnsPolicy", json!("ClusterFirst"));
    entry(spec, "schedulerName", json!("default-scheduler"));
    entry(spec, "terminationGracePeriodSeconds", json!(30));
    entry(spec, "securityContext", json!({}));
    for v in spec.get_mut("volumes").and_then(Value::as_array_mut).into_iter().flatten() {
        default_volume(v);
    }
    for c in spec.get_mut("containers").and_then(Value::as_array_mut).into_iter().flatten() {
        for e in c.get_mut("env").and_then(Value::as_array_mut).into_iter().flatten() {
            default_field_ref(e.pointer_mut("/valueFrom/fieldRef"));
        }
        let Some(c) = c.as_object_mut() else { continue };
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        // Upstream: an image without a tag, or tagged latest, is pulled every time.
        let tag = image.rsplit('/').next().and_then(|last| last.split_once(':')).map(|(_, t)| t);
        let policy = if tag.is_none() || tag == Some("latest") { "Always" } else { "IfNotPresent" };
        entry(c, "imagePullPolicy", json!(policy));
        entry(c, "terminationMessagePath", json!("/dev/termination-log"));
        entry(c, "terminationMessagePolicy", json!("File"));
        entry(c, "resources", json!({}));
        for p in c.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(p) = p.as_object_mut() {
                entry(p, "protocol", json!("TCP"));
            }
        }
        for kind in ["livenessProbe", "readinessProbe", "startupProbe"] {
            if let Some(Value::Object(probe)) = c.get_mut(kind) {
                default_probe(probe);
            }
        }
    }
}

/// A `fieldRef` names its API version, `v1` unless given (upstream's
/// `SetDefaults_ObjectFieldSelector`; kubectl describe prints it).
fn default_field_ref(field_ref: Option<&mut Value>) {
    if let Some(Value::Object(f)) = field_ref {
        entry(f, "apiVersion", json!("v1"));
    }
}

/// Upstream's volume defaults: files mode 0644 (420) for the volumes a
/// kubelet writes, a token that lives an hour, `fieldRef`s in `v1`.
fn default_volume(volume: &mut Value) {
    for kind in ["configMap", "secret", "downwardAPI", "projected"] {
        if let Some(Value::Object(source)) = volume.get_mut(kind) {
            entry(source, "defaultMode", json!(420));
        }
    }
    let items = |v: &mut Value| {
        for item in v.get_mut("items").and_then(Value::as_array_mut).into_iter().flatten() {
            default_field_ref(item.get_mut("fieldRef"));
        }
    };
    if let Some(d) = volume.get_mut("downwardAPI") {
        items(d);
    }
    let sources = volume.pointer_mut("/projected/sources").and_then(Value::as_array_mut);
    for source in sources.into_iter().flatten() {
        if let Some(d) = source.get_mut("downwardAPI") {
            items(d);
        }
        if let Some(Value::Object(token)) = source.get_mut("serviceAccountToken") {
            entry(token, "expirationSeconds", json!(3600));
        }
    }
}

/// Upstream's probe defaults (what `kubectl describe pod` then shows as
/// `http-get http://:80/ delay=0s timeout=1s period=10s #success=1 #failure=3`).
fn default_probe(probe: &mut Map<String, Value>) {
    entry(probe, "timeoutSeconds", json!(1));
    entry(probe, "periodSeconds", json!(10));
    entry(probe, "successThreshold", json!(1));
    entry(probe, "failureThreshold", json!(3));
    if let Some(Value::Object(http)) = probe.get_mut("httpGet") {
        entry(http, "scheme", json!("HTTP"));
        entry(http, "path", json!("/"));
    }
}

/// Defaults for a whole object of `kind`, run after every write.
pub fn set_defaults(kind: &str, obj: &mut Value) {
    match kind {
        "Pod" => {
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
            }
            let status = obj.as_object_mut().map(|o| entry(o, "status", json!({})));
            if let Some(Value::Object(status)) = status {
                entry(status, "phase", json!("Pending"));
                entry(status, "qosClass", json!("BestEffort"));
            }
        }
        "Deployment" => {
            let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return };
            entry(spec, "replicas", json!(1));
            entry(spec, "revisionHistoryLimit", json!(10));
            entry(spec, "progressDeadlineSeconds", json!(600));
            let strategy = entry(spec, "strategy", json!({}));
            if let Some(strategy) = strategy.as_object_mut() {
                entry(strategy, "type", json!("RollingUpdate"));
                if strategy.get("type") == Some(&json!("RollingUpdate")) {
                    let ru = entry(strategy, "rollingUpdate", json!({}));
                    if let Some(ru) = ru.as_object_mut() {
                        entry(ru, "maxSurge", json!("25%"));
                        entry(ru, "maxUnavailable", json!("25%"));
                    }
                }
            }
            if let Some(pod_spec) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
                default_pod_spec(pod_spec);
            }
        }
        // What a hand-written ReplicaSet lacks; the controller's carry all of it.
        "ReplicaSet" => {
            let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return };
            entry(spec, "replicas", json!(1));
            if let Some(pod_spec) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
                default_pod_spec(pod_spec);
            }
        }
        "Namespace" => {
            if let Some(o) = obj.as_object_mut() {
                let spec = entry(o, "spec", json!({}));
                if let Some(spec) = spec.as_object_mut() {
                    entry(spec, "finalizers", json!(["kubernetes"]));
                }
                let status = entry(o, "status", json!({}));
                if let Some(status) = status.as_object_mut() {
                    entry(status, "phase", json!("Active"));
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults_and_selector_check() {
        let mut d = json!({"metadata":{"name":"myapp-deploy"},"spec":{"selector":{"matchLabels":{"app":"myapp"}},
            "template":{"metadata":{"labels":{"app":"myapp","env":"test"}},"spec":{"containers":[{"name":"myapp","image":"hub.xiaosha.com/library/myapp:v2","ports":[{"containerPort":80}]}]}}}});
        set_defaults("Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert!(validate_create("Deployment", &d).is_empty());
        d["spec"]["selector"]["matchLabels"]["app"] = json!("other");
        let errs = validate_create("Deployment", &d);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().ends_with("`selector` does not match template `labels`"), "{}", errs[0]);
    }

    #[test]
    fn replica_sets_are_defaulted_and_checked_as_deployments() {
        let mut rs = json!({"metadata":{"name":"web-abc"},"spec":{"selector":{"matchLabels":{"app":"web"}},
            "template":{"metadata":{"labels":{"app":"other"}},"spec":{"containers":[{"name":"c","image":"x:1"}]}}}});
        set_defaults("ReplicaSet", &mut rs);
        assert_eq!(rs["spec"]["replicas"], 1);
        assert_eq!(rs["spec"]["template"]["spec"]["restartPolicy"], "Always");
        let errs = validate_create("ReplicaSet", &rs);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().ends_with("`selector` does not match template `labels`"), "{}", errs[0]);
    }

    #[test]
    fn field_refs_and_volumes_get_upstreams_defaults() {
        let mut p = json!({"spec":{"containers":[{"name":"a","image":"x:1",
            "env":[{"name":"N","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}},{"name":"V","value":"1"}]}],
            "volumes":[{"name":"t","projected":{"sources":[{"serviceAccountToken":{"path":"token"}},
                {"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"fieldPath":"metadata.namespace"}}]}}]}},
                {"name":"c","configMap":{"name":"cm"}},{"name":"e","emptyDir":{}}]}});
        set_defaults("Pod", &mut p);
        assert_eq!(p.pointer("/spec/containers/0/env/0/valueFrom/fieldRef/apiVersion"), Some(&json!("v1")));
        assert_eq!(p.pointer("/spec/containers/0/env/1"), Some(&json!({"name":"V","value":"1"})));
        let volumes = &p["spec"]["volumes"];
        assert_eq!(volumes[0]["projected"]["defaultMode"], 420);
        assert_eq!(volumes[0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3600);
        assert_eq!(volumes[0]["projected"]["sources"][1]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(volumes[1]["configMap"]["defaultMode"], 420);
        assert_eq!(volumes[2], json!({"name":"e","emptyDir":{}}));
    }

    #[test]
    fn latest_images_are_always_pulled() {
        let mut p = json!({"spec":{"containers":[{"name":"a","image":"nginx"},{"name":"b","image":"localhost:5000/x:latest"},{"name":"c","image":"localhost:5000/x:1"}]}});
        set_defaults("Pod", &mut p);
        let policies: Vec<&str> = p["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["imagePullPolicy"].as_str().unwrap())
            .collect();
        assert_eq!(policies, ["Always", "Always", "IfNotPresent"]);
        assert_eq!(p["status"]["phase"], "Pending");
    }

    #[test]
    fn names_follow_each_kinds_rule() {
        assert!(validate_create("Namespace", &json!({"metadata":{"name":"a.b"}})).len() == 1);
        assert!(validate_create("Endpoints", &json!({"metadata":{"name":"a.b"}})).is_empty());
        assert_eq!(
            validate_create("Endpoints", &json!({"metadata":{}}))[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
    }

    #[test]
    fn probes_get_upstreams_defaults() {
        let mut spec = json!({"containers":[{"name":"c","image":"x:v1",
            "readinessProbe":{"httpGet":{"port":80},"periodSeconds":2},"livenessProbe":{"tcpSocket":{"port":80}}}]});
        default_pod_spec(&mut spec);
        let c = &spec["containers"][0];
        assert_eq!(
            c["readinessProbe"],
            json!({"httpGet":{"port":80,"scheme":"HTTP","path":"/"},"periodSeconds":2,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3})
        );
        assert_eq!(c["livenessProbe"]["periodSeconds"], 10);
        assert!(c["livenessProbe"].get("tcpSocket").is_some());
    }
}
