//! Defaults and validation of the kinds that are stored and shown without a
//! controller (issue #12): the cheap part of upstream's validators (required
//! fields, selectors that select their template, enumerations, immutable
//! references), with upstream's field paths and messages. Names are checked
//! for every kind by [`crate::workloads::validate_create`]; the defaults are
//! [`defaults`]'s.

use crate::field_errors::FieldError;
use crate::json::str_at as s;
use crate::selectors::validate_key;
use serde_json::{Map, Value};

mod defaults;
pub use defaults::set_defaults;

/// Checks an object of `kind` on every write; `old` is the stored object of an update.
pub fn validate(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match kind {
        "DaemonSet" | "StatefulSet" => {
            errs.extend(selects_its_template(obj, &kind.to_ascii_lowercase()));
            errs.extend(containers_required(obj, "/spec/template/spec", "spec.template.spec"));
            errs.extend(non_negative(obj, "/spec/replicas", "spec.replicas"));
        }
        "ReplicationController" => {
            let selector = obj.pointer("/spec/selector").and_then(Value::as_object);
            let labels = obj.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
            match selector {
                None => errs.push(FieldError::required("spec.selector", "")),
                Some(sel) if sel.iter().any(|(k, v)| labels.and_then(|l| l.get(k)) != Some(v)) => {
                    errs.push(FieldError::invalid(
                        "spec.template.metadata.labels",
                        go_map(labels),
                        "`selector` does not match template `labels`",
                    ))
                }
                Some(_) => {}
            }
            errs.extend(containers_required(obj, "/spec/template/spec", "spec.template.spec"));
            errs.extend(non_negative(obj, "/spec/replicas", "spec.replicas"));
        }
        "Job" => errs.extend(job_spec(obj.get("spec"), "spec")),
        "CronJob" => {
            if s(obj, "/spec/schedule").is_empty() {
                errs.push(FieldError::required("spec.schedule", ""));
            }
            match s(obj, "/spec/concurrencyPolicy") {
                "" | "Allow" | "Forbid" | "Replace" => {}
                other => errs.push(FieldError::not_supported(
                    "spec.concurrencyPolicy",
                    other,
                    &["Allow", "Forbid", "Replace"],
                )),
            }
            errs.extend(job_spec(obj.pointer("/spec/jobTemplate/spec"), "spec.jobTemplate.spec"));
        }
        "HorizontalPodAutoscaler" => {
            for f in ["kind", "name"] {
                if s(obj, &format!("/spec/scaleTargetRef/{f}")).is_empty() {
                    errs.push(FieldError::required(format!("spec.scaleTargetRef.{f}"), ""));
                }
            }
            let max = obj.pointer("/spec/maxReplicas").and_then(Value::as_i64).unwrap_or(0);
            if max < 1 {
                errs.push(FieldError::invalid(
                    "spec.maxReplicas",
                    max.to_string(),
                    "must be greater than or equal to 1",
                ));
            }
            let min = obj.pointer("/spec/minReplicas").and_then(Value::as_i64).unwrap_or(1);
            if min > max && max >= 1 {
                errs.push(FieldError::invalid(
                    "spec.minReplicas",
                    min.to_string(),
                    "must be less than or equal to maxReplicas",
                ));
            }
        }
        "PodDisruptionBudget" => {
            if obj.pointer("/spec/minAvailable").is_some() && obj.pointer("/spec/maxUnavailable").is_some() {
                errs.push(FieldError::invalid(
                    "spec",
                    go_pdb_spec(obj),
                    "minAvailable and maxUnavailable cannot be both set",
                ));
            }
            errs.extend(label_selector(obj.pointer("/spec/selector"), "spec.selector"));
        }
        "PersistentVolumeClaim" => {
            if arr_len(obj, "/spec/accessModes") == 0 {
                errs.push(FieldError::required("spec.accessModes", "at least 1 access mode is required"));
            }
            if obj.pointer("/spec/resources/requests/storage").is_none() {
                errs.push(FieldError::required("spec.resources[storage]", ""));
            }
            errs.extend(access_modes(obj, "spec.accessModes"));
        }
        "PersistentVolume" => {
            if arr_len(obj, "/spec/accessModes") == 0 {
                errs.push(FieldError::required("spec.accessModes", ""));
            }
            if obj.pointer("/spec/capacity/storage").is_none() {
                errs.push(FieldError::required("spec.capacity", ""));
            }
            errs.extend(access_modes(obj, "spec.accessModes"));
            const NOT_SOURCES: [&str; 9] = [
                "accessModes",
                "capacity",
                "claimRef",
                "mountOptions",
                "nodeAffinity",
                "persistentVolumeReclaimPolicy",
                "storageClassName",
                "volumeAttributesClassName",
                "volumeMode",
            ];
            let has_source = obj
                .get("spec")
                .and_then(Value::as_object)
                .is_some_and(|spec| spec.keys().any(|k| !NOT_SOURCES.contains(&k.as_str())));
            if !has_source {
                errs.push(FieldError::required("spec", "must specify a volume type"));
            }
        }
        "Ingress" if obj.pointer("/spec/defaultBackend").is_none() && arr_len(obj, "/spec/rules") == 0 => {
            errs.push(FieldError::invalid("spec", "{}", "either `defaultBackend` or `rules` must be specified"));
        }
        "IngressClass" if s(obj, "/spec/controller").is_empty() => {
            errs.push(FieldError::required("spec.controller", ""));
        }
        "NetworkPolicy" => errs.extend(label_selector(obj.pointer("/spec/podSelector"), "spec.podSelector")),
        "Role" | "ClusterRole" => {
            for (i, rule) in obj.get("rules").and_then(Value::as_array).into_iter().flatten().enumerate() {
                if rule.get("verbs").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                    errs.push(FieldError::required(
                        format!("rules[{i}].verbs"),
                        "verbs must contain at least one value",
                    ));
                }
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => errs.extend(binding(kind, obj, old)),
        _ => {}
    }
    errs
}

fn arr_len(obj: &Value, pointer: &str) -> usize {
    obj.pointer(pointer).and_then(Value::as_array).map_or(0, Vec::len)
}

/// A map as Go's `%#v` prints a `map[string]string`.
fn go_map(map: Option<&Map<String, Value>>) -> String {
    let pairs: Vec<String> =
        map.into_iter().flatten().map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or(""))).collect();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

fn go_pdb_spec(obj: &Value) -> String {
    let show = |p: &str| match obj.pointer(p) {
        Some(Value::String(v)) => v.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    format!(
        "policy.PodDisruptionBudgetSpec{{MinAvailable:{}, MaxUnavailable:{}}}",
        show("/spec/minAvailable"),
        show("/spec/maxUnavailable")
    )
}

fn non_negative(obj: &Value, pointer: &str, field: &str) -> Option<FieldError> {
    let n = obj.pointer(pointer).and_then(Value::as_i64)?;
    (n < 0).then(|| FieldError::invalid(field, n.to_string(), "must be greater than or equal to 0"))
}

fn containers_required(obj: &Value, pointer: &str, field: &str) -> Option<FieldError> {
    let empty = obj.pointer(&format!("{pointer}/containers")).and_then(Value::as_array).is_none_or(Vec::is_empty);
    empty.then(|| FieldError::required(format!("{field}.containers"), ""))
}

/// A workload's selector: required, not empty, and selecting its own template.
fn selects_its_template(obj: &Value, noun: &str) -> Vec<FieldError> {
    let Some(selector) = obj.pointer("/spec/selector") else {
        return vec![FieldError::required("spec.selector", "")];
    };
    let mut errs = label_selector(Some(selector), "spec.selector");
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    if match_labels.is_none_or(Map::is_empty) && arr_len(selector, "/matchExpressions") == 0 {
        errs.push(FieldError::invalid(
            "spec.selector",
            "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}",
            format!("empty selector is invalid for {noun}"),
        ));
        return errs;
    }
    let labels = obj.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
    if match_labels.into_iter().flatten().any(|(k, v)| labels.and_then(|l| l.get(k)) != Some(v)) {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            go_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs
}

/// A `metav1.LabelSelector`'s keys and operators, as upstream's ValidateLabelSelector.
fn label_selector(selector: Option<&Value>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sel) = selector else { return errs };
    for key in sel.get("matchLabels").and_then(Value::as_object).into_iter().flatten().map(|(k, _)| k) {
        if validate_key(key).is_err() {
            errs.push(FieldError::invalid(
                format!("{field}.matchLabels"),
                format!("{key:?}"),
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ));
        }
    }
    for (i, e) in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let at = format!("{field}.matchExpressions[{i}]");
        let has_values = arr_len(e, "/values") > 0;
        match s(e, "/operator") {
            "In" | "NotIn" if !has_values => errs.push(FieldError::required(
                format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if has_values => errs.push(FieldError::forbidden(
                format!("{at}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                format!("{at}.operator"),
                format!("{other:?}"),
                "not a valid selector operator",
            )),
        }
        if s(e, "/key").is_empty() {
            errs.push(FieldError::required(format!("{at}.key"), ""));
        }
    }
    errs
}

fn access_modes(obj: &Value, field: &str) -> Vec<FieldError> {
    const MODES: [&str; 4] = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
    obj.pointer("/spec/accessModes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|m| !MODES.contains(m))
        .map(|m| FieldError::not_supported(field, m, &MODES))
        .collect()
}

/// A Job's pod template: containers, and a restart policy a finished pod keeps.
fn job_spec(spec: Option<&Value>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(spec) = spec else {
        errs.push(FieldError::required(format!("{field}.template"), ""));
        return errs;
    };
    errs.extend(containers_required(spec, "/template/spec", &format!("{field}.template.spec")));
    let at = format!("{field}.template.spec.restartPolicy");
    match s(spec, "/template/spec/restartPolicy") {
        "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(at, "valid values: \"OnFailure\", \"Never\"")),
        other => errs.push(FieldError::not_supported(at, other, &["OnFailure", "Never"])),
    }
    for f in ["completions", "parallelism", "backoffLimit"] {
        errs.extend(non_negative(spec, &format!("/{f}"), &format!("{field}.{f}")));
    }
    errs
}

/// A binding's role reference: a kind it may name, and fixed once written.
fn binding(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let kinds: &[&str] = if kind == "RoleBinding" { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    let ref_kind = s(obj, "/roleRef/kind");
    if !kinds.contains(&ref_kind) {
        errs.push(FieldError::not_supported("roleRef.kind", ref_kind, kinds));
    }
    if s(obj, "/roleRef/apiGroup") != "rbac.authorization.k8s.io" {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            s(obj, "/roleRef/apiGroup"),
            &["rbac.authorization.k8s.io"],
        ));
    }
    if s(obj, "/roleRef/name").is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    }
    for (i, sub) in obj.get("subjects").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if s(sub, "/name").is_empty() {
            errs.push(FieldError::required(format!("subjects[{i}].name"), ""));
        }
        match s(sub, "/kind") {
            "ServiceAccount" | "User" | "Group" => {}
            other => errs.push(FieldError::not_supported(
                format!("subjects[{i}].kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    if let Some(old) = old {
        if old.get("roleRef") != obj.get("roleRef") {
            errs.push(FieldError::invalid("roleRef", go_role_ref(obj), "cannot change roleRef"));
        }
    }
    errs
}

fn go_role_ref(obj: &Value) -> String {
    format!(
        "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
        s(obj, "/roleRef/apiGroup"),
        s(obj, "/roleRef/kind"),
        s(obj, "/roleRef/name")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(kind: &str, obj: Value) -> Vec<String> {
        validate(kind, &obj, None).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn workloads_select_their_template() {
        let ds = json!({"spec":{"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"b"}},"spec":{"containers":[{"name":"c"}]}}}});
        assert_eq!(
            messages("DaemonSet", ds),
            [
                r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match template `labels`"#
            ]
        );
        let sts = json!({"spec":{"selector":{},"template":{"spec":{"containers":[]}}}});
        let errs = messages("StatefulSet", sts);
        assert!(errs[0].ends_with("empty selector is invalid for statefulset"), "{errs:?}");
        assert_eq!(errs[1], "spec.template.spec.containers: Required value");
        let mut rc =
            json!({"spec":{"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c"}]}}}});
        set_defaults("ReplicationController", &mut rc);
        assert_eq!((rc["spec"]["selector"]["app"].as_str(), rc["spec"]["replicas"].as_i64()), (Some("a"), Some(1)));
        assert!(messages("ReplicationController", rc).is_empty());
    }

    #[test]
    fn jobs_and_cronjobs() {
        let job = json!({"spec":{"template":{"spec":{"containers":[{"name":"c"}],"restartPolicy":"Always"}}}});
        assert_eq!(
            messages("Job", job),
            [
                r#"spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#
            ]
        );
        let mut job = json!({"spec":{"template":{"spec":{"containers":[{"name":"c"}],"restartPolicy":"Never"}}}});
        job["metadata"] = json!({"name": "pi", "uid": "u-1"});
        set_defaults("Job", &mut job);
        assert_eq!((job["spec"]["completions"].as_i64(), job["spec"]["backoffLimit"].as_i64()), (Some(1), Some(6)));
        assert_eq!(job["spec"]["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}));
        let labels = &job["spec"]["template"]["metadata"]["labels"];
        assert_eq!((labels["job-name"].as_str(), labels["controller-uid"].as_str()), (Some("pi"), Some("u-1")));
        assert_eq!(&job["metadata"]["labels"], labels);
        let again = {
            let mut j = job.clone();
            set_defaults("Job", &mut j);
            j
        };
        assert_eq!(again, job);
        assert!(messages("Job", job).is_empty());
        assert_eq!(
            messages("CronJob", json!({"spec":{}})),
            ["spec.schedule: Required value", "spec.jobTemplate.spec.template: Required value"]
        );
    }

    #[test]
    fn the_rest_as_upstream() {
        let pdb = json!({"spec":{"minAvailable":1,"maxUnavailable":"10%"}});
        assert!(messages("PodDisruptionBudget", pdb)[0].ends_with("minAvailable and maxUnavailable cannot be both set"));
        assert_eq!(
            messages("PersistentVolumeClaim", json!({"spec":{}})),
            [
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value"
            ]
        );
        let pv =
            json!({"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/x"}}});
        assert!(messages("PersistentVolume", pv).is_empty());
        assert!(messages("Ingress", json!({"spec":{}}))[0]
            .ends_with("either `defaultBackend` or `rules` must be specified"));
        let netpol = json!({"spec":{"podSelector":{"matchExpressions":[{"key":"a","operator":"In"}]}}});
        assert_eq!(
            messages("NetworkPolicy", netpol),
            ["spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]
        );
        assert_eq!(
            messages("Role", json!({"rules":[{"resources":["pods"]}]})),
            ["rules[0].verbs: Required value: verbs must contain at least one value"]
        );
        let crb = json!({"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"x"}});
        assert_eq!(
            messages("ClusterRoleBinding", crb.clone()),
            [r#"roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole""#]
        );
        let moved = json!({"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"y"}});
        let errs = validate("RoleBinding", &moved, Some(&crb));
        assert!(errs[0].to_string().ends_with("cannot change roleRef"), "{errs:?}");
        let hpa = json!({"spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":0}});
        assert_eq!(
            messages("HorizontalPodAutoscaler", hpa),
            ["spec.maxReplicas: Invalid value: 0: must be greater than or equal to 1"]
        );
    }
}
