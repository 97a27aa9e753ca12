use super::*;
use crate::resources::{self, CONFIG_MAPS, SERVICES};

/// The keys Swagger 2.0 allows in a schema (gnostic refuses others); `x-` extensions aside.
const SWAGGER2_SCHEMA_KEYS: &[&str] = &[
    "$ref",
    "format",
    "title",
    "description",
    "default",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "additionalProperties",
    "type",
    "items",
    "allOf",
    "properties",
    "discriminator",
    "readOnly",
    "xml",
    "externalDocs",
    "example",
];

fn check_schema(at: &str, schema: &Value) {
    let Value::Object(o) = schema else { return };
    for (k, v) in o {
        assert!(k.starts_with("x-") || SWAGGER2_SCHEMA_KEYS.contains(&k.as_str()), "{at}: {k} is not Swagger 2.0");
        match k.as_str() {
            "properties" => v.as_object().unwrap().iter().for_each(|(p, s)| check_schema(&format!("{at}.{p}"), s)),
            "items" | "additionalProperties" => check_schema(&format!("{at}[]"), v),
            "allOf" => v.as_array().unwrap().iter().for_each(|s| check_schema(at, s)),
            "$ref" => assert!(v.as_str().unwrap().starts_with("#/definitions/"), "{at}: {v}"),
            _ => {}
        }
    }
}

#[test]
fn service_definition_as_upstream_writes_it_in_swagger_2() {
    let doc = document(&[&SERVICES, &CONFIG_MAPS], "v1.32.0");
    assert_eq!(doc["swagger"], "2.0");
    let defs = &doc["definitions"];
    let svc = &defs["io.k8s.api.core.v1.Service"];
    assert_eq!(svc["x-kubernetes-group-version-kind"], json!([{ "group": "", "kind": "Service", "version": "v1" }]));
    assert_eq!(svc["properties"]["spec"]["$ref"], "#/definitions/io.k8s.api.core.v1.ServiceSpec");
    assert!(svc["properties"]["metadata"]["description"].as_str().unwrap().starts_with("Standard object's metadata"));
    assert!(svc["properties"]["spec"].get("allOf").is_none());
    let ports = &defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"];
    assert_eq!(ports["items"]["$ref"], "#/definitions/io.k8s.api.core.v1.ServicePort");
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
    let int_or_string = &defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!((&int_or_string["type"], &int_or_string["format"]), (&json!("string"), &json!("int-or-string")));
    let op = &doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"];
    assert_eq!(op["get"]["responses"]["200"]["schema"]["$ref"], "#/definitions/io.k8s.api.core.v1.Service");
    assert!(op["patch"]["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
}

#[test]
fn every_served_kind_is_valid_swagger_2_and_every_ref_resolves() {
    let rows = resources::discovery_order();
    let doc = document(&rows, "v1.32.0");
    let defs = doc["definitions"].as_object().unwrap();
    for (name, schema) in defs {
        check_schema(name, schema);
    }
    let text = serde_json::to_string(&doc).unwrap();
    for piece in text.split("\"$ref\":\"").skip(1) {
        let target = piece.split('"').next().unwrap();
        assert!(defs.contains_key(target.strip_prefix("#/definitions/").unwrap()), "{target}");
    }
    assert!(defs.contains_key("io.k8s.api.apps.v1.Deployment"));
    assert!(!text.contains("#/components/"));
}

#[test]
fn v3_keywords_become_swagger_2() {
    let v3 = json!({
        "properties": {
            "not": { "type": "string", "nullable": true },
            "a": { "allOf": [{ "$ref": "#/components/schemas/X" }], "description": "d" },
            "b": { "anyOf": [{ "type": "integer" }, { "type": "string" }], "x-kubernetes-int-or-string": true },
            "c": { "const": "only", "type": "string" },
            "d": { "type": "array", "items": { "oneOf": [{}], "type": "object", "additionalProperties": { "nullable": true } } },
        }
    });
    assert_eq!(
        to_v2(v3),
        json!({
            "properties": {
                "not": { "type": "string" },
                "a": { "$ref": "#/definitions/X", "description": "d" },
                "b": { "x-kubernetes-int-or-string": true },
                "c": { "enum": ["only"], "type": "string" },
                "d": { "type": "array", "items": { "type": "object", "additionalProperties": {} } },
            }
        })
    );
}
