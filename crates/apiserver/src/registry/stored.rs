//! The strategy of the kinds stored and shown without a controller
//! (workloads, storage claims, networking, policy and RBAC objects):
//! upstream's defaults and cheap checks on every write (the rules are
//! `api::stored`'s), and, for kinds with a spec, `metadata.generation`
//! counting its changes as upstream's strategies do.

use super::strategy::Strategy;
use crate::error::ApiError;
use api::json::str_at;
use api::resources::ResourceType;
use serde_json::{json, Map, Value};

pub struct StoredStrategy {
    /// Whether `metadata.generation` counts spec changes (RBAC objects have no spec).
    pub generation: bool,
}

/// Workloads and the other kinds with a spec.
pub static WITH_SPEC: StoredStrategy = StoredStrategy { generation: true };
/// RBAC objects: rules and references, no spec.
pub static RBAC: StoredStrategy = StoredStrategy { generation: false };

impl Strategy for StoredStrategy {
    fn prepare(&self, resource: &ResourceType, obj: Value, old: Option<&Value>) -> Result<Value, ApiError> {
        let mut obj = obj;
        api::stored::set_defaults(resource.kind, &mut obj);
        let mut errors = match old {
            None => api::workloads::validate_create(resource.kind, &obj),
            Some(_) => Vec::new(),
        };
        errors.extend(api::stored::validate(resource.kind, &obj, old));
        if !errors.is_empty() {
            return Err(ApiError::invalid(resource, str_at(&obj, "/metadata/name"), &errors));
        }
        Ok(obj)
    }

    fn on_create(&self, meta: &mut Map<String, Value>) {
        if self.generation {
            meta.insert("generation".into(), json!(1));
        }
    }

    fn on_update(&self, new: &mut Value, current: &Value) {
        if self.generation && new.get("spec") != current.get("spec") {
            let generation = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            new["metadata"]["generation"] = json!(generation.saturating_add(1));
        }
    }
}
