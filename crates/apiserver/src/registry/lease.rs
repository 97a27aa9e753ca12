//! The Lease strategy: upstream's spec checks on every write (a renewal
//! is an update, so checking only creates would let a bad duration in),
//! and the alpha fields dropped.

use super::strategy::Strategy;
use crate::error::ApiError;
use api::json::str_at;
use api::resources::ResourceType;
use serde_json::Value;

pub struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn prepare(&self, resource: &ResourceType, obj: Value, old: Option<&Value>) -> Result<Value, ApiError> {
        let mut obj = obj;
        api::coordination::drop_disabled_fields(&mut obj);
        let mut errors = match old {
            None => api::workloads::validate_create(resource.kind, &obj),
            Some(_) => Vec::new(),
        };
        errors.extend(api::coordination::validate_lease(&obj));
        if !errors.is_empty() {
            return Err(ApiError::invalid(resource, str_at(&obj, "/metadata/name"), &errors));
        }
        Ok(obj)
    }
}
