//! One storage, two views: a resource served in a second version over the
//! objects another version stores (a row of [`crate::resources`] with
//! `view_of`), converted on the way in and out as upstream's conversion
//! functions do.
//!
//! - `events.k8s.io/v1` Events are core/v1 Events renamed
//!   (`regarding`↔`involvedObject`, `note`↔`message`, ...): [`EVENT_RENAMES`].
//! - `autoscaling/v1` HorizontalPodAutoscalers are autoscaling/v2 ones whose
//!   CPU-utilization metric is `targetCPUUtilizationPercentage`; what v1
//!   cannot say (other metrics, conditions, behavior) travels in upstream's
//!   `autoscaling.alpha.kubernetes.io/*` annotations, so a v1 round trip
//!   loses nothing.
//!
//! Pure JSON in, JSON out: the apiserver decodes both ends through the
//! typed schemas.

use crate::field_errors::FieldError;
use crate::resources::{ResourceType, Schema};
use serde_json::{json, Map, Value};

/// core/v1 field ↔ events.k8s.io/v1 field (upstream's
/// `Convert_v1_Event_To_core_Event` and back; the rest keep their names).
pub const EVENT_RENAMES: [(&str, &str); 7] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// Upstream's annotations for what autoscaling/v1 cannot say.
pub const HPA_METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
pub const HPA_CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
pub const HPA_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
pub const HPA_BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";

/// autoscaling/v2's default when an HPA names no metric: 80% of requested CPU.
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// The stored object as `view` shows it (`apiVersion`/`kind` set).
pub fn to_view(view: &ResourceType, stored: Value) -> Value {
    let mut out = match view.schema {
        Schema::EventV1 => rename(stored, true),
        Schema::HorizontalPodAutoscalerV1 => hpa_to_v1(stored),
        _ => stored,
    };
    set_type_meta(&mut out, view);
    out
}

/// A `view` object as its storage version keeps it.
pub fn from_view(view: &ResourceType, served: Value) -> Value {
    let Some(stored) = view.view_of else { return served };
    let mut out = match view.schema {
        Schema::EventV1 => rename(served, false),
        Schema::HorizontalPodAutoscalerV1 => hpa_from_v1(served),
        _ => served,
    };
    set_type_meta(&mut out, stored);
    out
}

/// What a create through `view` must satisfy besides its stored row's
/// rules. An Event created through events.k8s.io/v1 is a "new" Event, held
/// to upstream's strict rules (`ValidateEventCreate`); a core/v1 one keeps
/// the legacy leniency. `served` is the decoded body, before conversion.
pub fn check_create(view: &ResourceType, served: &Value) -> Vec<FieldError> {
    match view.schema {
        Schema::EventV1 => event_v1_create(served),
        _ => Vec::new(),
    }
}

/// Upstream's limits on a new Event's strings.
const EVENT_LIMITS: [(&str, usize); 4] = [("reportingInstance", 128), ("action", 128), ("reason", 128), ("note", 1024)];

fn event_v1_create(ev: &Value) -> Vec<FieldError> {
    let text = |f: &str| ev.get(f).and_then(Value::as_str).unwrap_or("");
    let empty = "\"\"";
    let mut errs = Vec::new();
    if ev.get("eventTime").is_none_or(Value::is_null) {
        errs.push(FieldError::required("eventTime", ""));
    }
    for f in ["reportingController", "reportingInstance", "action", "reason"] {
        if text(f).is_empty() {
            errs.push(FieldError::required(f, ""));
        }
    }
    for (f, max) in EVENT_LIMITS {
        if text(f).len() > max {
            errs.push(FieldError::invalid(f, empty, format!("can have at most {max} characters")));
        }
    }
    if !matches!(text("type"), "Normal" | "Warning") {
        errs.push(FieldError::invalid("type", empty, format!("has invalid value: {}", text("type"))));
    }
    // The legacy fields are the core API's to set, not a new Event's.
    for f in ["deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount", "deprecatedSource"] {
        let set = match ev.get(f) {
            None | Some(Value::Null) => false,
            Some(Value::Number(n)) => n.as_i64() != Some(0),
            Some(Value::Object(o)) => o.values().any(|v| v.as_str().is_some_and(|s| !s.is_empty())),
            Some(_) => true,
        };
        if set {
            errs.push(FieldError::invalid(f, empty, "needs to be unset"));
        }
    }
    errs
}

fn set_type_meta(obj: &mut Value, r: &ResourceType) {
    if let Some(o) = obj.as_object_mut() {
        o.insert("apiVersion".into(), json!(r.api_version()));
        o.insert("kind".into(), json!(r.kind));
    }
}

/// Renames top-level fields, core to v1 or back; a field under the other
/// version's name is not this version's, so it goes.
fn rename(mut obj: Value, to_v1: bool) -> Value {
    if let Some(o) = obj.as_object_mut() {
        for (core, v1) in EVENT_RENAMES {
            let (from, to) = if to_v1 { (core, v1) } else { (v1, core) };
            match o.remove(from) {
                Some(v) => o.insert(to.to_string(), v),
                None => o.remove(to),
            };
        }
    }
    obj
}

/// One metric source: its v2 fields (pointers under the source) and the
/// v1 field each becomes, per metric type and for specs and statuses.
type FieldMap = &'static [(&'static str, &'static str)];

const SPEC_FIELDS: [(&str, &str, FieldMap); 5] = [
    (
        "Resource",
        "resource",
        &[
            ("/name", "/name"),
            ("/target/averageUtilization", "/targetAverageUtilization"),
            ("/target/averageValue", "/targetAverageValue"),
        ],
    ),
    (
        "ContainerResource",
        "containerResource",
        &[
            ("/name", "/name"),
            ("/container", "/container"),
            ("/target/averageUtilization", "/targetAverageUtilization"),
            ("/target/averageValue", "/targetAverageValue"),
        ],
    ),
    (
        "Pods",
        "pods",
        &[
            ("/metric/name", "/metricName"),
            ("/metric/selector", "/selector"),
            ("/target/averageValue", "/targetAverageValue"),
        ],
    ),
    (
        "Object",
        "object",
        &[
            ("/describedObject", "/target"),
            ("/metric/name", "/metricName"),
            ("/metric/selector", "/selector"),
            ("/target/value", "/targetValue"),
            ("/target/averageValue", "/averageValue"),
        ],
    ),
    (
        "External",
        "external",
        &[
            ("/metric/name", "/metricName"),
            ("/metric/selector", "/metricSelector"),
            ("/target/value", "/targetValue"),
            ("/target/averageValue", "/targetAverageValue"),
        ],
    ),
];

const STATUS_FIELDS: [(&str, &str, FieldMap); 5] = [
    (
        "Resource",
        "resource",
        &[
            ("/name", "/name"),
            ("/current/averageUtilization", "/currentAverageUtilization"),
            ("/current/averageValue", "/currentAverageValue"),
        ],
    ),
    (
        "ContainerResource",
        "containerResource",
        &[
            ("/name", "/name"),
            ("/container", "/container"),
            ("/current/averageUtilization", "/currentAverageUtilization"),
            ("/current/averageValue", "/currentAverageValue"),
        ],
    ),
    (
        "Pods",
        "pods",
        &[
            ("/metric/name", "/metricName"),
            ("/metric/selector", "/selector"),
            ("/current/averageValue", "/currentAverageValue"),
        ],
    ),
    (
        "Object",
        "object",
        &[
            ("/describedObject", "/target"),
            ("/metric/name", "/metricName"),
            ("/metric/selector", "/selector"),
            ("/current/value", "/currentValue"),
            ("/current/averageValue", "/averageValue"),
        ],
    ),
    (
        "External",
        "external",
        &[
            ("/metric/name", "/metricName"),
            ("/metric/selector", "/metricSelector"),
            ("/current/value", "/currentValue"),
            ("/current/averageValue", "/currentAverageValue"),
        ],
    ),
];

/// Sets `v` at a JSON pointer, making the objects on the way.
fn put(obj: &mut Value, pointer: &str, v: Value) {
    let mut at = obj;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(o) = at.as_object_mut() else { return };
        if i + 1 == parts.len() {
            o.insert(p.to_string(), v);
            return;
        }
        at = o.entry(p.to_string()).or_insert_with(|| json!({}));
    }
}

/// One metric (spec or status) from v2's shape into v1's, or back
/// (`to_v1 == false`), by the field table.
fn convert_metric(metric: &Value, table: &[(&str, &str, FieldMap)], to_v1: bool) -> Option<Value> {
    let ty = metric.get("type")?.as_str()?;
    let (_, member, fields) = table.iter().find(|(t, _, _)| *t == ty)?;
    let source = metric.get(*member)?;
    let mut out = json!({});
    for (v2, v1) in fields.iter() {
        let (from, to) = if to_v1 { (v2, v1) } else { (v1, v2) };
        if let Some(v) = source.pointer(from) {
            put(&mut out, to, v.clone());
        }
    }
    // v2 says which target it means; v1 says it by which field is set.
    if !to_v1 {
        if let Some(target) = out.get_mut("target").filter(|_| table == SPEC_FIELDS.as_slice()) {
            let kind = if target.get("averageUtilization").is_some() {
                "Utilization"
            } else if target.get("value").is_some() {
                "Value"
            } else {
                "AverageValue"
            };
            target["type"] = json!(kind);
        }
    }
    Some(json!({ "type": ty, *member: out }))
}

fn is_cpu(metric: &Value, utilization: &str) -> bool {
    metric["type"] == "Resource"
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && metric.pointer(utilization).is_some()
}

fn annotate(obj: &mut Value, key: &str, v: &Value) {
    put(obj, "/metadata/annotations", obj.pointer("/metadata/annotations").cloned().unwrap_or(json!({})));
    obj["metadata"]["annotations"][key] = json!(v.to_string());
}

/// Removes an annotation of ours and parses it (absent or not JSON: none).
fn take_annotation(obj: &mut Value, key: &str) -> Option<Value> {
    let annotations = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut)?;
    let raw = annotations.remove(key)?;
    if annotations.is_empty() {
        obj["metadata"].as_object_mut().map(|m| m.remove("annotations"));
    }
    serde_json::from_str(raw.as_str()?).ok()
}

/// autoscaling/v2 → v1 (upstream's `Convert_autoscaling_HorizontalPodAutoscaler_To_v1_...`).
fn hpa_to_v1(mut obj: Value) -> Value {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let mut v1_spec = Map::new();
    for f in ["scaleTargetRef", "minReplicas", "maxReplicas"] {
        if let Some(v) = spec.get(f) {
            v1_spec.insert(f.into(), v.clone());
        }
    }
    let metrics = spec.get("metrics").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut others = Vec::new();
    for m in &metrics {
        if is_cpu(m, "/resource/target/averageUtilization") && !v1_spec.contains_key("targetCPUUtilizationPercentage") {
            v1_spec
                .insert("targetCPUUtilizationPercentage".into(), m["resource"]["target"]["averageUtilization"].clone());
        } else if let Some(v1) = convert_metric(m, &SPEC_FIELDS, true) {
            others.push(v1);
        }
    }
    if !others.is_empty() {
        annotate(&mut obj, HPA_METRICS, &json!(others));
    }
    if let Some(b) = spec.get("behavior") {
        annotate(&mut obj, HPA_BEHAVIOR, b);
    }
    obj["spec"] = Value::Object(v1_spec);
    let Some(status) = obj.get("status").cloned() else { return obj };
    let mut v1_status = Map::new();
    for f in ["observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"] {
        if let Some(v) = status.get(f) {
            v1_status.insert(f.into(), v.clone());
        }
    }
    let mut current = Vec::new();
    for m in status.get("currentMetrics").and_then(Value::as_array).into_iter().flatten() {
        if is_cpu(m, "/resource/current/averageUtilization") {
            v1_status.insert(
                "currentCPUUtilizationPercentage".into(),
                m["resource"]["current"]["averageUtilization"].clone(),
            );
        } else if let Some(v1) = convert_metric(m, &STATUS_FIELDS, true) {
            current.push(v1);
        }
    }
    if !current.is_empty() {
        annotate(&mut obj, HPA_CURRENT_METRICS, &json!(current));
    }
    if let Some(c) = status.get("conditions").filter(|c| c.as_array().is_some_and(|a| !a.is_empty())) {
        annotate(&mut obj, HPA_CONDITIONS, c);
    }
    obj["status"] = Value::Object(v1_status);
    obj
}

/// autoscaling/v1 → v2: the annotations' metrics first, then the CPU
/// target; no metric at all is v2's default, 80% CPU.
fn hpa_from_v1(mut obj: Value) -> Value {
    let others = take_annotation(&mut obj, HPA_METRICS);
    let current_others = take_annotation(&mut obj, HPA_CURRENT_METRICS);
    let conditions = take_annotation(&mut obj, HPA_CONDITIONS);
    let behavior = take_annotation(&mut obj, HPA_BEHAVIOR);
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let mut v2_spec = Map::new();
    for f in ["scaleTargetRef", "minReplicas", "maxReplicas"] {
        if let Some(v) = spec.get(f) {
            v2_spec.insert(f.into(), v.clone());
        }
    }
    let mut metrics: Vec<Value> = others
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| convert_metric(m, &SPEC_FIELDS, false))
        .collect();
    let cpu = spec.get("targetCPUUtilizationPercentage").cloned();
    if cpu.is_some() || metrics.is_empty() {
        let target = cpu.unwrap_or(json!(DEFAULT_CPU_UTILIZATION));
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}));
    }
    v2_spec.insert("metrics".into(), json!(metrics));
    if let Some(b) = behavior {
        v2_spec.insert("behavior".into(), b);
    }
    obj["spec"] = Value::Object(v2_spec);
    let Some(status) = obj.get("status").cloned() else { return obj };
    let mut v2_status = Map::new();
    for f in ["observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"] {
        if let Some(v) = status.get(f) {
            v2_status.insert(f.into(), v.clone());
        }
    }
    let mut current: Vec<Value> = current_others
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| convert_metric(m, &STATUS_FIELDS, false))
        .collect();
    if let Some(u) = status.get("currentCPUUtilizationPercentage") {
        current.push(json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": u}}}));
    }
    if !current.is_empty() {
        v2_status.insert("currentMetrics".into(), json!(current));
    }
    if let Some(c) = conditions {
        v2_status.insert("conditions".into(), c);
    }
    obj["status"] = Value::Object(v2_status);
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{EVENTS_V1, HORIZONTAL_POD_AUTOSCALERS_V1};

    #[test]
    fn events_rename_both_ways() {
        let core = json!({"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"involvedObject":{"kind":"Pod","name":"p"},
            "message":"pulled","reason":"Pulled","source":{"component":"kubelet"},"count":3,"reportingComponent":"kubelet",
            "firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:01:00Z","type":"Normal"});
        let v1 = to_view(&EVENTS_V1, core.clone());
        assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v1["regarding"]["name"], "p");
        assert_eq!(v1["note"], "pulled");
        assert_eq!(v1["reportingController"], "kubelet");
        assert_eq!(v1["deprecatedSource"]["component"], "kubelet");
        assert_eq!(v1["deprecatedCount"], 3);
        assert_eq!(v1["deprecatedLastTimestamp"], "2026-01-01T00:01:00Z");
        assert!(v1.get("involvedObject").is_none() && v1.get("message").is_none());
        assert_eq!(from_view(&EVENTS_V1, v1), core);
    }

    #[test]
    fn a_v1_field_a_client_sends_under_its_core_name_is_dropped() {
        let v1 = json!({"message":"not a v1 field","note":"n"});
        let core = from_view(&EVENTS_V1, v1);
        assert_eq!(core["message"], "n");
        assert!(core.get("note").is_none());
    }

    #[test]
    fn a_new_event_is_held_to_the_strict_rules() {
        let ok = json!({"eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"example.com/c","reportingInstance":"c-1",
            "action":"Scale","reason":"Scaled","type":"Normal","note":"n"});
        assert!(check_create(&EVENTS_V1, &ok).is_empty());
        let errs: Vec<String> =
            check_create(&EVENTS_V1, &json!({"type":"Info","deprecatedCount":2,"note":"x".repeat(1025)}))
                .iter()
                .map(|e| e.to_string())
                .collect();
        assert_eq!(
            errs,
            [
                "eventTime: Required value",
                "reportingController: Required value",
                "reportingInstance: Required value",
                "action: Required value",
                "reason: Required value",
                "note: Invalid value: \"\": can have at most 1024 characters",
                "type: Invalid value: \"\": has invalid value: Info",
                "deprecatedCount: Invalid value: \"\": needs to be unset",
            ]
        );
        assert!(check_create(&HORIZONTAL_POD_AUTOSCALERS_V1, &json!({})).is_empty());
    }

    #[test]
    fn hpa_cpu_target_is_a_resource_metric() {
        let v1 = json!({"metadata":{"name":"web"},"spec":{"scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},
            "minReplicas":2,"maxReplicas":5,"targetCPUUtilizationPercentage":70}});
        let v2 = from_view(&HORIZONTAL_POD_AUTOSCALERS_V1, v1.clone());
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(
            v2["spec"]["metrics"],
            json!([{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":70}}}])
        );
        let back = to_view(&HORIZONTAL_POD_AUTOSCALERS_V1, v2);
        assert_eq!(back["spec"], v1["spec"]);
        assert!(back["metadata"].get("annotations").is_none(), "{back}");
    }

    #[test]
    fn hpa_without_a_metric_gets_v2s_default() {
        let v2 = from_view(&HORIZONTAL_POD_AUTOSCALERS_V1, json!({"spec":{"maxReplicas":3}}));
        assert_eq!(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], DEFAULT_CPU_UTILIZATION);
    }

    #[test]
    fn what_v1_cannot_say_round_trips_in_annotations() {
        let v2 = json!({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"web","annotations":{"team":"a"}},
            "spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"minReplicas":1,"maxReplicas":9,
                "metrics":[
                    {"type":"Resource","resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"100Mi"}}},
                    {"type":"Pods","pods":{"metric":{"name":"qps"},"target":{"type":"AverageValue","averageValue":"10"}}},
                    {"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":60}}}],
                "behavior":{"scaleDown":{"stabilizationWindowSeconds":30}}},
            "status":{"currentReplicas":2,"desiredReplicas":3,
                "currentMetrics":[{"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":55}}},
                    {"type":"Resource","resource":{"name":"memory","current":{"averageValue":"90Mi"}}}],
                "conditions":[{"type":"AbleToScale","status":"True"}]}});
        let v1 = to_view(&HORIZONTAL_POD_AUTOSCALERS_V1, v2.clone());
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
        assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 55);
        let metrics: Value =
            serde_json::from_str(v1["metadata"]["annotations"][HPA_METRICS].as_str().unwrap()).unwrap();
        assert_eq!(
            metrics,
            json!([{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}},
                   {"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}])
        );
        let back = from_view(&HORIZONTAL_POD_AUTOSCALERS_V1, v1);
        assert_eq!(back["metadata"]["annotations"], json!({"team":"a"}));
        assert_eq!(back["spec"], v2["spec"]);
        assert_eq!(back["status"]["conditions"], v2["status"]["conditions"]);
        // v1 knows no order between the CPU target and the others: CPU comes last.
        assert_eq!(back["status"]["currentMetrics"][0]["resource"]["name"], "memory");
        assert_eq!(back["status"]["currentMetrics"][1]["resource"]["current"]["averageUtilization"], 55);
    }
}
