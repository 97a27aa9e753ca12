//! The ConfigMap and Secret strategies: their data checked on every write
//! (keys, 1 MiB), a Secret's `stringData` folded into `data` and its `type`
//! defaulted, and an `immutable` object's data kept for good
//! (the rules are `api::config_data`'s).

use super::strategy::{Plain, Strategy};
use crate::error::ApiError;
use api::config_data::{prepare_secret, validate_config_map, validate_secret, validate_update};
use api::json::str_at;
use api::resources::ResourceType;
use serde_json::Value;

pub struct ConfigMapStrategy;

pub struct SecretStrategy;

fn checked(resource: &ResourceType, obj: Value, errors: Vec<api::field_errors::FieldError>) -> Result<Value, ApiError> {
    if errors.is_empty() {
        Ok(obj)
    } else {
        Err(ApiError::invalid(resource, str_at(&obj, "/metadata/name"), &errors))
    }
}

impl Strategy for ConfigMapStrategy {
    fn prepare(&self, resource: &ResourceType, obj: Value, old: Option<&Value>) -> Result<Value, ApiError> {
        let obj = Plain.prepare(resource, obj, old)?;
        let mut errors = validate_config_map(&obj);
        if let Some(old) = old {
            errors.extend(validate_update(&obj, old, &["data", "binaryData"], false));
        }
        checked(resource, obj, errors)
    }
}

impl Strategy for SecretStrategy {
    fn prepare(&self, resource: &ResourceType, obj: Value, old: Option<&Value>) -> Result<Value, ApiError> {
        let mut obj = Plain.prepare(resource, obj, old)?;
        prepare_secret(&mut obj);
        let mut errors = validate_secret(&obj);
        if let Some(old) = old {
            errors.extend(validate_update(&obj, old, &["data"], true));
        }
        checked(resource, obj, errors)
    }
}
