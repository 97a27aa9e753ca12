//! Table printers: the columns `kubectl get` shows for each resource.
//!
//! The apiserver answers `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`
//! with these rows, and `kubectl-lite` prints the same ones, so both CLIs
//! show the same table. Each printer is a pure function of the object and
//! the current time (for AGE), written against the JSON object so that it
//! prints whatever the store holds.
//!
//! # Layout
//! - [`format`]: the column type, NAME and AGE, ages, labels, selectors.
//! - [`core`]: the kinds of the Service lifecycle (Services to Nodes).
//! - [`more`]: the kinds stored and shown beside them (workloads, storage,
//!   networking, policy, RBAC).

mod core;
mod format;
mod more;

pub use format::{format_labels, Column};
use format::{AGE, NAME};
use serde_json::{json, Value};

/// The columns for a kind. Kinds without a printer get NAME and AGE, as upstream's default.
pub fn columns(kind: &str) -> Vec<Column> {
    core::columns(kind).or_else(|| more::columns(kind)).unwrap_or_else(|| vec![NAME, AGE])
}

/// The cells of one row, matching `columns(kind)`.
pub fn cells(kind: &str, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    core::cells(kind, obj, now).or_else(|| more::cells(kind, obj, now)).unwrap_or_else(|| {
        vec![
            json!(crate::json::str_at(obj, "/metadata/name")),
            json!(format::age(obj, "/metadata/creationTimestamp", now)),
        ]
    })
}
