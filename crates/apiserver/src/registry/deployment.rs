//! The Deployment strategy: its own validation, `metadata.generation`
//! counting spec changes, and the `/scale` subresource's view of it.

use super::strategy::Strategy;
use crate::error::ApiError;
use api::json::str_at;
use api::resources::ResourceType;
use serde_json::{json, Map, Value};

pub struct DeploymentStrategy;

impl Strategy for DeploymentStrategy {
    fn prepare(&self, resource: &ResourceType, obj: Value, old: Option<&Value>) -> Result<Value, ApiError> {
        let mut obj = obj;
        api::workloads::set_defaults(resource.kind, &mut obj);
        let errors = match old {
            None => api::workloads::validate_create(resource.kind, &obj),
            Some(_) => api::workloads::validate_deployment(&obj),
        };
        if !errors.is_empty() {
            return Err(ApiError::invalid(resource, str_at(&obj, "/metadata/name"), &errors));
        }
        Ok(obj)
    }

    fn on_create(&self, meta: &mut Map<String, Value>) {
        meta.insert("generation".into(), json!(1));
    }

    /// Each spec change is a new generation (what `rollout status` waits on).
    fn on_update(&self, new: &mut Value, current: &Value) {
        if new.get("spec") != current.get("spec") {
            let generation = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            new["metadata"]["generation"] = json!(generation.saturating_add(1));
        }
    }
}

/// A Deployment (or a ReplicationController, a StatefulSet) seen through its
/// `/scale` subresource (`autoscaling/v1 Scale`).
pub fn to_scale(deploy: &Value) -> Value {
    let meta = &deploy["metadata"];
    // A LabelSelector's matchLabels, or a ReplicationController's plain map.
    let labels = deploy.pointer("/spec/selector/matchLabels").or_else(|| {
        deploy.pointer("/spec/selector").filter(|s| s.as_object().is_some_and(|m| m.values().all(Value::is_string)))
    });
    let selector = labels
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let replicas = deploy.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
    scale(meta, replicas, deploy.pointer("/status/replicas").cloned().unwrap_or(json!(0)), json!(selector))
}

/// An `autoscaling/v1 Scale` of the object whose metadata is `meta`.
pub fn scale(meta: &Value, replicas: Value, status_replicas: Value, selector: Value) -> Value {
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": { "replicas": replicas },
        "status": { "replicas": status_replicas, "selector": selector },
    })
}
