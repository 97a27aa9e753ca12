//! `kubectl get`'s view of objects: a `meta.k8s.io/v1` Table with the
//! columns and cells `api::printers` defines for each kind (a custom
//! resource's come from its CRD's `additionalPrinterColumns`).

use crate::request::Query;
use api::resources::{ResourceType, Schema};
use api::wire::StoredObject;
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

/// [`row`], serialized onto `out` in Go's order (the same bytes as the
/// row's `api::wire` text, fewer copies).
pub fn write_row(out: &mut Vec<u8>, res: &ResourceType, obj: &Value, query: &Query, now: jiff::Timestamp) {
    write_row_with(out, &cells(res, obj, now), query, |out, whole| match whole {
        true => api::wire::write(out, obj),
        false => api::wire::write_metadata(out, &obj["metadata"]),
    });
}

/// [`write_row`] of an object still in its stored text: its cells from
/// the object decoded without its managedFields, its metadata copied
/// through (the same bytes, a third of the work).
pub fn write_stored_row(
    out: &mut Vec<u8>,
    res: &ResourceType,
    stored: &StoredObject,
    resource_version: i64,
    query: &Query,
    now: jiff::Timestamp,
) {
    // The stored text is valid JSON by construction: this decodes.
    let printed = stored.decode_without_managed_fields(resource_version).unwrap_or_default();
    write_row_with(out, &cells(res, &printed, now), query, |out, whole| match whole {
        true => stored.write(out, resource_version),
        false => stored.write_metadata(out, resource_version),
    });
}

/// `{"cells":..,"object":..}`; `object(out, true)` writes the whole object,
/// `false` its metadata.
fn write_row_with(out: &mut Vec<u8>, cells: &[Value], query: &Query, object: impl FnOnce(&mut Vec<u8>, bool)) {
    out.extend_from_slice(b"{\"cells\":");
    let _ = serde_json::to_writer(&mut *out, cells);
    match query.get("includeObject").unwrap_or("Metadata") {
        "None" => {}
        "Object" => {
            out.extend_from_slice(b",\"object\":");
            object(out, true);
        }
        _ => {
            out.extend_from_slice(
                br#","object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":"#,
            );
            object(out, false);
            out.push(b'}');
        }
    }
    out.push(b'}');
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
    fn a_written_row_is_the_row_whether_decoded_or_stored() {
        let pod = json!({"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u","name":"p","namespace":"n","labels":{"b":"1","a":"2"},
            "managedFields":[{"time":"t","manager":"kubectl","operation":"Update"}],"resourceVersion":"5"},
            "spec":{"containers":[{"name":"c"}],"nodeName":"node1"},"status":{"phase":"Running","podIP":"10.244.1.5"}});
        let mut stored = pod.clone();
        stored["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        let stored = serde_json::to_vec(&stored).unwrap();
        let stored = StoredObject::parse(&stored).unwrap();
        let now = jiff::Timestamp::now();
        for q in ["", "includeObject=None", "includeObject=Object", "includeObject=Metadata"] {
            let query = Query::parse(Some(q));
            let mut out = Vec::new();
            write_row(&mut out, &api::resources::PODS, &pod, &query, now);
            // As the Table's own text has it: Go's order, the same values.
            let table = of(&api::resources::PODS, vec![row(&api::resources::PODS, &pod, &query, now)], 5, false);
            let text = String::from_utf8(api::wire::to_vec(&table)).unwrap();
            let written = String::from_utf8(out.clone()).unwrap();
            assert!(text.contains(&format!("\"rows\":[{written}]")), "{q}: {written} in {text}");
            let mut from_stored = Vec::new();
            write_stored_row(&mut from_stored, &api::resources::PODS, &stored, 5, &query, now);
            assert_eq!(String::from_utf8(from_stored).unwrap(), written, "{q}");
        }
    }
}
