//! `kubectl get`'s view of objects: a `meta.k8s.io/v1` Table with the
//! columns and cells `api::printers` defines for each kind (a custom
//! resource's come from its CRD's `additionalPrinterColumns`).

use crate::request::Query;
use api::resources::{ResourceType, Schema};
use serde_json::{json, Value};

/// One row of a Table: the cells, and the object as `includeObject` asks.
pub fn row(res: &ResourceType, obj: &Value, query: &Query, now: jiff::Timestamp) -> Value {
    let cells = match res.schema {
        Schema::Custom(kind) => kind.cells(obj, now),
        _ => api::printers::cells(res.kind, obj, now),
    };
    let mut row = json!({ "cells": cells });
    match query.get("includeObject").unwrap_or("Metadata") {
        "None" => {}
        "Object" => row["object"] = obj.clone(),
        _ => {
            row["object"] =
                json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"] })
        }
    }
    row
}

/// A Table of `rows` with kubectl's columns (a watch sends them once).
pub fn of(res: &ResourceType, rows: Vec<Value>, revision: i64, with_columns: bool) -> Value {
    let mut table = json!({ "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": { "resourceVersion": revision.to_string() }, "rows": rows });
    if with_columns {
        let cols: Vec<Value> = match res.schema {
            Schema::Custom(kind) => kind.column_definitions(),
            _ => api::printers::columns(res.kind)
                .iter()
                .map(|c| json!({ "name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority }))
                .collect(),
        };
        table["columnDefinitions"] = json!(cols);
    }
    table
}

/// A Table of one object, at its own resourceVersion.
pub fn of_one(res: &ResourceType, obj: &Value, query: &Query, with_columns: bool) -> Value {
    let revision = api::json::str_at(obj, "/metadata/resourceVersion").parse().unwrap_or(0);
    of(res, vec![row(res, obj, query, jiff::Timestamp::now())], revision, with_columns)
}
