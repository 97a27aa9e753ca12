//! The Swagger 2.0 document kube-apiserver serves at `/openapi/v2`: one
//! document for every served kind, `definitions` under upstream's names
//! (`io.k8s.api.core.v1.Service`), built from the same schemas as the v3
//! documents and rewritten into what Swagger 2.0 allows, as upstream's are:
//! - `$ref`s point into `#/definitions/`, and a `$ref` with a description
//!   beside it is written bare (v3 wraps it in a one-element `allOf`);
//! - `nullable`, `oneOf`, `anyOf`, `not` and `const` do not exist in
//!   Swagger 2.0 (its parsers, gnostic's among them, refuse unknown keys),
//!   so they are dropped (`const` becomes a one-value `enum`);
//! - IntOrString is `type: string, format: int-or-string` and Quantity
//!   `type: string`, as upstream's v2 spells them.
//!
//! `paths` is minimal, as in the v3 documents: each kind's item path with
//! its `get` and its `patch` (the latter declares `fieldValidation`, which
//! kubectl looks for), each answering the kind's definition.

use super::{schemas, REF_PREFIX};
use crate::resources::ResourceType;
use serde_json::{json, Map, Value};

const V2_REF_PREFIX: &str = "#/definitions/";

/// The Swagger 2.0 document of these kinds (all served group versions').
pub fn document(rows: &[&ResourceType], server_version: &str) -> Value {
    let definitions: Map<String, Value> = schemas(rows)
        .into_iter()
        .map(|(name, schema)| {
            let s = definition(&name, schema);
            (name, s)
        })
        .collect();
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": server_version },
        "paths": paths(rows, &definitions),
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": { "description": "Bearer Token authentication", "type": "apiKey", "name": "authorization", "in": "header" }
        },
        "security": [{ "BearerToken": [] }],
    })
}

/// One definition in Swagger 2.0's terms.
fn definition(name: &str, schema: Value) -> Value {
    let mut schema = to_v2(schema);
    if let Value::Object(o) = &mut schema {
        match name {
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
                o.remove("x-kubernetes-int-or-string");
                o.insert("type".into(), json!("string"));
                o.insert("format".into(), json!("int-or-string"));
            }
            "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
                o.remove("x-kubernetes-int-or-string");
                o.insert("type".into(), json!("string"));
            }
            _ => {}
        }
    }
    schema
}

/// Rewrites one schema (and the schemas inside it) from OpenAPI v3 to
/// Swagger 2.0. Only schema positions are walked: a property named `not`
/// (JSONSchemaProps has one) is a property, not a keyword.
pub fn to_v2(schema: Value) -> Value {
    let Value::Object(mut o) = schema else { return schema };
    for keyword in ["nullable", "oneOf", "anyOf", "not", "writeOnly", "deprecated"] {
        o.remove(keyword);
    }
    if let Some(v) = o.remove("const") {
        o.insert("enum".into(), json!([v]));
    }
    if let Some(Value::String(r)) = o.get_mut("$ref") {
        if let Some(name) = r.strip_prefix(REF_PREFIX) {
            *r = format!("{V2_REF_PREFIX}{name}");
        }
    }
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        for v in props.values_mut() {
            *v = to_v2(v.take());
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = o.get_mut(key).filter(|v| v.is_object()) {
            *v = to_v2(v.take());
        }
    }
    if let Some(Value::Array(all)) = o.remove("allOf") {
        let mut all: Vec<Value> = all.into_iter().map(to_v2).collect();
        // `allOf: [{$ref}]` beside a description: Swagger 2.0's parsers
        // take the `$ref` beside it, as upstream writes it.
        match all.as_slice() {
            [Value::Object(only)] if only.len() == 1 && only.contains_key("$ref") => {
                o.insert("$ref".into(), only["$ref"].clone());
            }
            _ if !all.is_empty() => {
                o.insert("allOf".into(), Value::Array(std::mem::take(&mut all)));
            }
            _ => {}
        }
    }
    Value::Object(o)
}

/// Each kind's item path with `get` and `patch`, both answering its definition.
fn paths(rows: &[&ResourceType], definitions: &Map<String, Value>) -> Map<String, Value> {
    let mut paths = Map::new();
    for r in rows {
        // The definition whose group-version-kind is this row's.
        let Some(def) = definitions.iter().find_map(|(name, d)| {
            let gvks = d["x-kubernetes-group-version-kind"].as_array()?;
            gvks.iter()
                .any(|g| g["group"] == r.group && g["version"] == r.version && g["kind"] == r.kind)
                .then_some(name)
        }) else {
            continue;
        };
        let item = if r.namespaced {
            format!("{}/namespaces/{{namespace}}/{}/{{name}}", r.group_version_path(), r.plural)
        } else {
            format!("{}/{}/{{name}}", r.group_version_path(), r.plural)
        };
        let gvk = json!({ "group": r.group, "version": r.version, "kind": r.kind });
        let ok = json!({ "200": { "description": "OK", "schema": { "$ref": format!("{V2_REF_PREFIX}{def}") } }, "401": { "description": "Unauthorized" } });
        let query = |name: &str, ty: &str, doc: &str| json!({ "uniqueItems": true, "type": ty, "description": doc, "name": name, "in": "query" });
        let mut params = vec![
            json!({ "uniqueItems": true, "type": "string", "description": format!("name of the {}", r.kind), "name": "name", "in": "path", "required": true }),
        ];
        if r.namespaced {
            params.push(json!({ "uniqueItems": true, "type": "string", "description": "object name and auth scope, such as for teams and projects", "name": "namespace", "in": "path", "required": true }));
        }
        let produces = json!(["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]);
        paths.insert(
            item,
            json!({
                "get": {
                    "description": format!("read the specified {}", r.kind),
                    "consumes": ["*/*"],
                    "produces": produces,
                    "schemes": ["https"],
                    "operationId": format!("read{}", r.kind),
                    "responses": ok,
                    "x-kubernetes-action": "get",
                    "x-kubernetes-group-version-kind": gvk,
                },
                "patch": {
                    "description": format!("partially update the specified {}", r.kind),
                    "consumes": ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"],
                    "produces": produces,
                    "schemes": ["https"],
                    "operationId": format!("patch{}", r.kind),
                    "parameters": [
                        { "name": "body", "in": "body", "required": true, "schema": { "type": "object" } },
                        query("dryRun", "string", "When present, indicates that modifications should not be persisted."),
                        query("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes."),
                        query("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields."),
                        query("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people."),
                    ],
                    "responses": ok,
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                },
                "parameters": params,
            }),
        );
    }
    paths
}

#[cfg(test)]
#[path = "v2_tests.rs"]
mod tests;
