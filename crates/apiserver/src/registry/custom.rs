//! The strategies of CustomResourceDefinitions and of the objects they
//! serve, as upstream's apiextensions-apiserver: a CRD is validated
//! (`api::crd`), established at once and given the cleanup finalizer; a
//! custom object is validated by its CRD's structural schema (pruning and
//! defaults happened in its `Schema::Custom` round trip), and counts
//! `metadata.generation` as upstream's custom resource strategy does.

use super::strategy::Strategy;
use crate::error::ApiError;
use api::custom_kind::{json_pointer, CustomKind};
use api::field_errors::{dns1123_subdomain, validate_name};
use api::json::str_at;
use api::resources::{ResourceType, Schema};
use serde_json::{json, Map, Value};

pub struct CrdStrategy;

impl Strategy for CrdStrategy {
    fn prepare(&self, resource: &ResourceType, obj: Value, old: Option<&Value>) -> Result<Value, ApiError> {
        let errors = api::crd::validate(&obj, old);
        if !errors.is_empty() {
            return Err(ApiError::invalid(resource, str_at(&obj, "/metadata/name"), &errors));
        }
        // Names are judged against what this apiserver serves now.
        Ok(api::crd::with_status_among(obj, old, &api::resources::all()))
    }

    fn on_create(&self, meta: &mut Map<String, Value>) {
        meta.insert("generation".into(), json!(1));
        // Its objects go before it does (the apiserver's CRD cleanup).
        let finalizers = meta.entry("finalizers").or_insert(json!([]));
        if let Some(list) = finalizers.as_array_mut() {
            if !list.iter().any(|f| f == api::crd::CLEANUP_FINALIZER) {
                list.push(json!(api::crd::CLEANUP_FINALIZER));
            }
        }
    }

    fn on_update(&self, new: &mut Value, current: &Value) {
        bump_generation(new, current, new.get("spec") != current.get("spec"));
    }
}

fn bump_generation(new: &mut Value, current: &Value, changed: bool) {
    let generation = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    new["metadata"]["generation"] = json!(if changed { generation.saturating_add(1) } else { generation });
}

/// The objects a CRD serves.
pub struct CustomStrategy;

fn kind_of(resource: &ResourceType) -> Option<&'static CustomKind> {
    match resource.schema {
        Schema::Custom(kind) => Some(kind),
        _ => None,
    }
}

/// Everything but metadata and status.
fn content(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

impl Strategy for CustomStrategy {
    fn prepare(&self, resource: &ResourceType, obj: Value, _old: Option<&Value>) -> Result<Value, ApiError> {
        let name = str_at(&obj, "/metadata/name");
        let mut errors = validate_name(name, dns1123_subdomain);
        if let Some(kind) = kind_of(resource) {
            errors.extend(api::structural::validate(&obj, &kind.schema));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(resource, name, &errors));
        }
        Ok(obj)
    }

    fn on_create(&self, meta: &mut Map<String, Value>) {
        meta.insert("generation".into(), json!(1));
    }

    fn on_update(&self, new: &mut Value, current: &Value) {
        // Status is the controller's, not a new generation of the user's intent.
        let changed = content(new) != content(current);
        bump_generation(new, current, changed);
    }
}

/// A custom object as read through `resource`'s version: the versions of a
/// CRD share one etcd prefix and, with no conversion webhook (upstream's
/// `None` strategy), differ only in `apiVersion`.
pub fn as_served(resource: &ResourceType, obj: &mut Value) {
    if matches!(resource.schema, Schema::Custom(_)) && obj.get("apiVersion").is_some() {
        obj["apiVersion"] = json!(resource.api_version());
    }
}

/// Where a resource keeps its replicas: the CRD's scale paths, or `spec.replicas`.
fn scale_pointers(resource: &ResourceType) -> (String, String, Option<String>) {
    match kind_of(resource).and_then(|k| k.scale.as_ref()) {
        Some(s) => (
            json_pointer(&s.spec_replicas).unwrap_or_default(),
            json_pointer(&s.status_replicas).unwrap_or_default(),
            s.label_selector.as_deref().and_then(json_pointer),
        ),
        None => ("/spec/replicas".into(), "/status/replicas".into(), None),
    }
}

/// A custom object's `autoscaling/v1 Scale`, read at its CRD's paths.
pub fn to_scale(resource: &ResourceType, obj: &Value) -> Value {
    let (spec, status, selector) = scale_pointers(resource);
    let at = |p: &str| obj.pointer(p).cloned().unwrap_or(json!(0));
    let selector = selector.and_then(|p| obj.pointer(&p).cloned()).unwrap_or(json!(""));
    super::deployment::scale(&obj["metadata"], at(&spec), at(&status), selector)
}

/// The merge patch that sets `replicas` at the resource's spec path.
pub fn replicas_patch(resource: &ResourceType, replicas: i64) -> Value {
    let (spec, _, _) = scale_pointers(resource);
    let mut patch = json!(replicas);
    for part in spec.trim_start_matches('/').split('/').rev() {
        patch = json!({ part.replace("~1", "/").replace("~0", "~"): patch });
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_scale_paths() {
        assert_eq!(replicas_patch(&api::resources::DEPLOYMENTS, 3), json!({"spec":{"replicas":3}}));
    }
}
