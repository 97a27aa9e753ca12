//! `metadata.managedFields` on every write, and server-side apply, at the
//! registry's edge: the manager and time come from here, the rules from
//! `api::managed_fields` (pure).

use super::{now, WriteOptions};
use crate::error::ApiError;
use api::managed_fields::{self as mf, fieldpath::Display, types::shape_of, Manager};
use api::resources::ResourceType;
use serde_json::{json, Value};

fn manager(resource: &ResourceType, subresource: Option<&str>, opts: &WriteOptions) -> Option<Manager> {
    Some(Manager {
        name: opts.field_manager.as_deref()?.to_string(),
        api_version: resource.api_version(),
        subresource: subresource.filter(|s| *s == "status").map(String::from),
    })
}

/// A create: its manager owns what it set (`Update`, or `Apply` when an apply creates).
pub fn on_create(resource: &ResourceType, config: &Value, obj: &mut Value, opts: &WriteOptions) {
    let Some(m) = manager(resource, None, opts) else { return };
    let shape = shape_of(resource);
    if opts.apply {
        if let Ok(applied) = mf::apply(&shape, &json!({}), config, &m, true, &now()) {
            let entries = mf::entries_of(&applied);
            mf::set_entries(obj, &entries);
        }
    } else {
        mf::update(&shape, None, obj, &m, &now());
    }
}

/// An update's body keeps the stored entries (a client's copy may be stale
/// or absent), so that an unchanged object is seen as unchanged.
pub fn keep_entries(current: &Value, new: &mut Value, opts: &WriteOptions) {
    if !opts.apply {
        mf::set_entries(new, &mf::entries_of(current));
    }
}

/// A write other than apply: its manager takes the fields it changed.
pub fn on_update(resource: &ResourceType, sub: Option<&str>, current: &Value, new: &mut Value, opts: &WriteOptions) {
    if opts.apply {
        return;
    }
    if let Some(m) = manager(resource, sub, opts) {
        mf::update(&shape_of(resource), Some(current), new, &m, &now());
    }
}

/// Server-side apply of `config` over `current`, or upstream's 409.
pub fn apply(
    resource: &ResourceType,
    sub: Option<&str>,
    current: &Value,
    config: &Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    if !config.is_object() {
        return Err(ApiError::bad_request("the applied configuration must be an object"));
    }
    let Some(m) = manager(resource, sub, opts) else {
        return Err(ApiError::bad_request("fieldManager is required for apply requests"));
    };
    mf::apply(&shape_of(resource), current, config, &m, opts.force, &now()).map_err(|conflicts| {
        let causes =
            conflicts.iter().map(|c| (format!("conflict with {}", c.manager), Display(&c.path).to_string())).collect();
        ApiError::apply_conflict(mf::conflict_message(&conflicts), causes)
    })
}
