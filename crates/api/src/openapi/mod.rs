//! OpenAPI v3 documents, one per group version, as kube-apiserver serves
//! them at `/openapi/v3/apis/<group>/<version>`: `components.schemas` under
//! upstream's names (`io.k8s.api.core.v1.Service`), each kind's schema with
//! its `x-kubernetes-group-version-kind`, the list and patch extensions, and
//! one PATCH operation per kind that declares the `fieldValidation`
//! parameter (kubectl reads it to trust the server with validation).
//!
//! The schemas are k8s-openapi's (its `schemars` feature: upstream's doc
//! comments as descriptions, types, `required`), completed by
//! [`extensions`] and [`enums`]; a CRD's version contributes its `openAPIV3Schema`.
//! Pure: the apiserver caches the documents and serves their hashes.

pub mod enums;
pub mod extensions;
pub mod v2;
pub mod v2_proto;

use crate::resources::{ResourceType, Schema, TypedVisitor};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Map, Value};

/// Where a definition's `$ref` points.
pub const REF_PREFIX: &str = "#/components/schemas/";

/// `api/v1`, `apis/apps/v1`: the key of a group version in `/openapi/v3`'s root.
pub fn group_version_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `api/v1` → `("", "v1")`, `apis/apps/v1` → `("apps", "v1")`.
pub fn parse_group_version_key(key: &str) -> Option<(String, String)> {
    match key.trim_matches('/').split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => Some((String::new(), v.to_string())),
        ["apis", g, v] => Some((g.to_string(), v.to_string())),
        _ => None,
    }
}

/// Upstream's name of a CRD's schema: the group reversed, then version and
/// kind (`stable.example.com` v1 CronTab → `com.example.stable.v1.CronTab`).
pub fn custom_definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The schema name of a kind's type, registering it (and all it refers to) in `generator`.
struct Register<'a>(&'a mut SchemaGenerator);

impl TypedVisitor for Register<'_> {
    type Output = String;
    fn visit<T: DeserializeOwned + Serialize + schemars::JsonSchema>(self) -> String {
        self.0.subschema_for::<T>();
        T::schema_name().into_owned()
    }
}

const METADATA_DOC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// A CRD's `openAPIV3Schema` as upstream publishes it: `apiVersion`, `kind`
/// and `metadata` (the shared ObjectMeta) filled in.
fn custom_schema(schema: &Value, generator: &mut SchemaGenerator) -> Value {
    generator.subschema_for::<ObjectMeta>();
    let mut out = match schema {
        Value::Object(o) if !o.is_empty() => schema.clone(),
        _ => json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true }),
    };
    if let Some(o) = out.as_object_mut() {
        o.entry("properties").or_insert_with(|| json!({}));
    }
    if let Some(p) = out.get_mut("properties").and_then(Value::as_object_mut) {
        p.insert("apiVersion".into(), json!({ "description": API_VERSION_DOC, "type": "string" }));
        p.insert("kind".into(), json!({ "description": KIND_DOC, "type": "string" }));
        let meta = format!("{REF_PREFIX}{}", <ObjectMeta as schemars::JsonSchema>::schema_name());
        p.insert("metadata".into(), json!({ "allOf": [{ "$ref": meta }], "description": METADATA_DOC }));
    }
    out
}

/// The definitions of these kinds (all of one group version), upstream's
/// names, with the extensions and each kind's group-version-kind.
pub fn schemas(rows: &[&ResourceType]) -> Map<String, Value> {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut roots: Vec<(String, &ResourceType, Option<Value>)> = Vec::new();
    for r in rows {
        match r.schema {
            Schema::Custom(kind) => {
                let name = custom_definition_name(r.group, r.version, r.kind);
                roots.push((name, r, Some(custom_schema(&kind.schema, &mut generator))));
            }
            typed => {
                if let Some(name) = typed.visit_typed(Register(&mut generator)) {
                    roots.push((name, r, None));
                }
            }
        }
    }
    let mut defs = generator.take_definitions(true);
    for (name, r, custom) in roots {
        if let Some(schema) = custom {
            defs.insert(name.clone(), schema);
        }
        if let Some(Value::Object(def)) = defs.get_mut(&name) {
            // k8s-openapi's `metadata` is not an Option, so it lists it as
            // required; upstream's schemas never do.
            if let Some(Value::Array(required)) = def.get_mut("required") {
                required.retain(|f| f != "metadata");
                if required.is_empty() {
                    def.remove("required");
                }
            }
            // A type served in two group versions (as in `/openapi/v2`'s one
            // document) lists both, as upstream's do.
            let gvk = json!({ "group": r.group, "kind": r.kind, "version": r.version });
            let gvks = def.entry("x-kubernetes-group-version-kind").or_insert_with(|| json!([]));
            if let Some(list) = gvks.as_array_mut().filter(|l| !l.contains(&gvk)) {
                list.push(gvk);
            }
        }
    }
    extensions::annotate(&mut defs);
    enums::annotate(&mut defs);
    defs
}

/// One PATCH operation per kind: kubectl looks for `fieldValidation` among
/// its parameters before leaving field validation to the server.
fn paths(rows: &[&ResourceType]) -> Map<String, Value> {
    let mut paths = Map::new();
    for r in rows {
        let item = if r.namespaced {
            format!("{}/namespaces/{{namespace}}/{}/{{name}}", r.group_version_path(), r.plural)
        } else {
            format!("{}/{}/{{name}}", r.group_version_path(), r.plural)
        };
        let query = |name: &str, ty: &str, doc: &str| json!({ "name": name, "in": "query", "description": doc, "schema": { "type": ty, "uniqueItems": true } });
        let op = json!({
            "operationId": format!("patch{}", r.kind),
            "parameters": [
                query("dryRun", "string", "When present, indicates that modifications should not be persisted."),
                query("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes."),
                query("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields."),
                query("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people."),
            ],
            "responses": { "200": { "description": "OK" } },
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": { "group": r.group, "version": r.version, "kind": r.kind },
        });
        paths.insert(item, json!({ "patch": op }));
    }
    paths
}

/// The OpenAPI v3 document of one group version's kinds, or `None` if none is served.
pub fn group_version_document(rows: &[&ResourceType], server_version: &str) -> Option<Value> {
    if rows.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": server_version },
        "paths": paths(rows),
        "components": { "schemas": schemas(rows) },
    }))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
