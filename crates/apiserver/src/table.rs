//! `kubectl get`'s view of objects: a `meta.k8s.io/v1` Table with the
//! columns and cells `api::printers` defines for each kind (a custom
//! resource's come from its CRD's `additionalPrinterColumns`).

use crate::request::Query;
use api::resources::{ResourceType, Schema};
use serde::Serialize;
use serde_json::{json, Value};

/// A row's cells: kubectl's for a built-in kind, the CRD's printer columns
/// for a custom resource.
fn cells(res: &ResourceType, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    match res.schema {
        Schema::Custom(kind) => kind.cells(obj, now),
        _ => api::printers::cells(res.kind, obj, now),
    }
}

/// One row of a Table: the cells, and the object as `includeObject` asks.
pub fn row(res: &ResourceType, obj: &Value, query: &Query, now: jiff::Timestamp) -> Value {
    let mut row = json!({ "cells": cells(res, obj, now) });
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

/// A row's object as `includeObject=Metadata` (the default) shows it,
/// borrowing the object's metadata: a list of 30,000 pods copies none.
#[derive(Serialize)]
struct PartialObjectMetadata<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: &'a Value,
}

#[derive(Serialize)]
struct MetadataRow<'a> {
    cells: Vec<Value>,
    object: PartialObjectMetadata<'a>,
}

/// [`row`], serialized onto `out` (the same bytes, fewer copies).
pub fn write_row(out: &mut Vec<u8>, res: &ResourceType, obj: &Value, query: &Query, now: jiff::Timestamp) {
    let _ = match query.get("includeObject").unwrap_or("Metadata") {
        "None" | "Object" => serde_json::to_writer(out, &row(res, obj, query, now)),
        _ => {
            let object = PartialObjectMetadata {
                api_version: "meta.k8s.io/v1",
                kind: "PartialObjectMetadata",
                metadata: &obj["metadata"],
            };
            serde_json::to_writer(out, &MetadataRow { cells: cells(res, obj, now), object })
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_row_is_the_row() {
        let pod = json!({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"n","labels":{"b":"1","a":"2"}},
            "spec":{"containers":[{"name":"c"}]},"status":{"phase":"Running"}});
        let now = jiff::Timestamp::now();
        for q in ["", "includeObject=None", "includeObject=Object", "includeObject=Metadata"] {
            let query = Query::parse(Some(q));
            let mut out = Vec::new();
            write_row(&mut out, &api::resources::PODS, &pod, &query, now);
            assert_eq!(out, serde_json::to_vec(&row(&api::resources::PODS, &pod, &query, now)).unwrap(), "{q}");
        }
    }
}
