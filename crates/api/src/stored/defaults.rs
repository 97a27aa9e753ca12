//! Upstream's defaults of the kinds stored and shown without a controller:
//! what the printers and `kubectl describe` show, and a Job's own selector.

use crate::json::str_at as s;
use crate::workloads::default_pod_spec;
use serde_json::{json, Map, Value};

fn entry<'a>(map: &'a mut Map<String, Value>, key: &str, default: Value) -> &'a mut Value {
    map.entry(key.to_string()).or_insert(default)
}

/// Upstream's defaults that the printers and `kubectl describe` show.
pub fn set_defaults(kind: &str, obj: &mut Value) {
    let template = match kind {
        "ReplicationController" => {
            // an RC without a selector or labels takes its template's labels
            let labels = obj.pointer("/spec/template/metadata/labels").cloned();
            if let (Some(spec), Some(labels)) = (obj.get_mut("spec").and_then(Value::as_object_mut), labels.clone()) {
                entry(spec, "selector", labels);
            }
            if let (Some(meta), Some(labels)) = (obj.get_mut("metadata").and_then(Value::as_object_mut), labels) {
                entry(meta, "labels", labels);
            }
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                entry(spec, "replicas", json!(1));
                entry(spec, "minReadySeconds", json!(0));
            }
            "/spec/template/spec"
        }
        "StatefulSet" => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                entry(spec, "replicas", json!(1));
                entry(spec, "podManagementPolicy", json!("OrderedReady"));
                entry(spec, "revisionHistoryLimit", json!(10));
                entry(spec, "updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
            }
            "/spec/template/spec"
        }
        "DaemonSet" => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                entry(spec, "revisionHistoryLimit", json!(10));
                entry(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                );
            }
            "/spec/template/spec"
        }
        "Job" => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                default_job_spec(spec);
            }
            generate_job_selector(obj);
            "/spec/template/spec"
        }
        "CronJob" => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                entry(spec, "concurrencyPolicy", json!("Allow"));
                entry(spec, "suspend", json!(false));
                entry(spec, "successfulJobsHistoryLimit", json!(3));
                entry(spec, "failedJobsHistoryLimit", json!(1));
            }
            if let Some(spec) = obj.pointer_mut("/spec/jobTemplate/spec").and_then(Value::as_object_mut) {
                default_job_spec(spec);
            }
            "/spec/jobTemplate/spec/template/spec"
        }
        "HorizontalPodAutoscaler" => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                entry(spec, "minReplicas", json!(1));
            }
            return;
        }
        "PersistentVolumeClaim" | "PersistentVolume" => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                entry(spec, "volumeMode", json!("Filesystem"));
                if kind == "PersistentVolume" {
                    entry(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
                }
            }
            if let Some(o) = obj.as_object_mut() {
                if let Some(status) = entry(o, "status", json!({})).as_object_mut() {
                    entry(status, "phase", json!("Pending"));
                }
            }
            return;
        }
        _ => return,
    };
    if let Some(pod_spec) = obj.pointer_mut(template) {
        default_pod_spec(pod_spec);
    }
}

/// Upstream's Job strategy: unless `manualSelector`, a Job selects its pods
/// by its own uid, and its template carries that label (and its name), so two
/// Jobs never share pods. The Job's own labels, when it has none, are its
/// template's. The same uid gives the same selector, so an update is a no-op.
fn generate_job_selector(obj: &mut Value) {
    use crate::well_known::{
        JOB_CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_JOB_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL,
    };
    let (uid, name) = (s(obj, "/metadata/uid").to_string(), s(obj, "/metadata/name").to_string());
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
    if uid.is_empty() || manual || obj.pointer("/spec/selector").is_some() {
        return;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return };
    spec.insert("selector".into(), json!({"matchLabels": {JOB_CONTROLLER_UID_LABEL: uid}}));
    let template = entry(spec, "template", json!({}));
    let Some(template) = template.as_object_mut() else { return };
    let meta = entry(template, "metadata", json!({}));
    let Some(meta) = meta.as_object_mut() else { return };
    let labels = entry(meta, "labels", json!({}));
    if let Some(labels) = labels.as_object_mut() {
        for (k, v) in [
            (JOB_CONTROLLER_UID_LABEL, &uid),
            (JOB_NAME_LABEL, &name),
            (LEGACY_JOB_CONTROLLER_UID_LABEL, &uid),
            (LEGACY_JOB_NAME_LABEL, &name),
        ] {
            labels.insert(k.into(), json!(v));
        }
    }
    let template_labels = labels.clone();
    if let Some(job_meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if job_meta.get("labels").and_then(Value::as_object).is_none_or(Map::is_empty) {
            job_meta.insert("labels".into(), template_labels);
        }
    }
}

fn default_job_spec(spec: &mut Map<String, Value>) {
    if !spec.contains_key("completions") && !spec.contains_key("parallelism") {
        spec.insert("completions".into(), json!(1));
    }
    entry(spec, "parallelism", json!(1));
    entry(spec, "backoffLimit", json!(6));
    entry(spec, "completionMode", json!("NonIndexed"));
    entry(spec, "suspend", json!(false));
    entry(spec, "manualSelector", json!(false));
    entry(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
}
