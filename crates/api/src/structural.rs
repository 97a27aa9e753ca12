//! A CRD's structural schema (`openAPIV3Schema`) applied to custom objects,
//! as upstream's apiextensions-apiserver does: which schemas count as
//! structural, pruning of unknown fields, defaulting, and validation with
//! upstream's field messages. The schema stays the JSON the user wrote;
//! these functions walk it beside the object.
//!
//! ```text
//! write ─▶ prune (unknown fields, nulls not nullable) ─▶ defaults ─▶ validate (422 with field errors)
//! ```

use crate::field_errors::{quote, FieldError};
use serde_json::{Map, Value};

fn type_of(s: &Value) -> &str {
    s.get("type").and_then(Value::as_str).unwrap_or("")
}

fn flag(s: &Value, key: &str) -> bool {
    s.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn properties(s: &Value) -> Option<&Map<String, Value>> {
    s.get("properties").and_then(Value::as_object)
}

/// `additionalProperties` as a schema (`true` means "keep anything").
fn additional(s: &Value) -> Option<&Value> {
    s.get("additionalProperties").filter(|a| a.is_object())
}

fn preserves_unknown(s: &Value) -> bool {
    flag(s, "x-kubernetes-preserve-unknown-fields") || s.get("additionalProperties") == Some(&Value::Bool(true))
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Why a schema is not structural, at `path`
/// (`spec.versions[0].schema.openAPIV3Schema`); empty if it is.
pub fn structural_errors(schema: &Value, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    if !schema.is_object() {
        out.push(FieldError::required(path, "schemas are required"));
        return out;
    }
    match type_of(schema) {
        "object" => {}
        "" => out.push(FieldError::required(child(path, "type"), "must not be empty at the root")),
        other => out.push(FieldError::invalid(child(path, "type"), quote(other), "must be object at the root")),
    }
    if let Some(meta) = properties(schema).and_then(|p| p.get("metadata")) {
        let extra = properties(meta).is_some_and(|p| p.keys().any(|k| k != "name" && k != "generateName"));
        if extra {
            out.push(FieldError::forbidden(
                format!("{path}.properties[metadata]"),
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    walk_structural(schema, path, &mut out);
    out
}

fn walk_structural(schema: &Value, path: &str, out: &mut Vec<FieldError>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        out.push(FieldError::invalid(
            format!("{path}.x-kubernetes-preserve-unknown-fields"),
            "false",
            "must be true or undefined",
        ));
    }
    if properties(schema).is_some() && additional(schema).is_some() {
        out.push(FieldError::forbidden(
            format!("{path}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if schema.get("$ref").is_some() {
        out.push(FieldError::forbidden(format!("{path}.$ref"), "$ref is not supported"));
    }
    let typeless = |s: &Value| {
        type_of(s).is_empty()
            && !flag(s, "x-kubernetes-int-or-string")
            && !flag(s, "x-kubernetes-preserve-unknown-fields")
    };
    for (name, prop) in properties(schema).into_iter().flatten() {
        let p = format!("{path}.properties[{name}]");
        if typeless(prop) {
            out.push(FieldError::required(format!("{p}.type"), "must not be empty for specified object fields"));
        }
        walk_structural(prop, &p, out);
    }
    if let Some(a) = additional(schema) {
        let p = format!("{path}.additionalProperties");
        if typeless(a) {
            out.push(FieldError::required(format!("{p}.type"), "must not be empty for specified object fields"));
        }
        walk_structural(a, &p, out);
    }
    match schema.get("items") {
        Some(items) if items.is_object() => {
            let p = format!("{path}.items");
            if typeless(items) {
                out.push(FieldError::required(format!("{p}.type"), "must not be empty for specified array items"));
            }
            walk_structural(items, &p, out);
        }
        Some(_) => {
            out.push(FieldError::forbidden(format!("{path}.items"), "items must be a schema object and not an array"))
        }
        None if type_of(schema) == "array" => {
            out.push(FieldError::required(format!("{path}.items"), "must be specified"))
        }
        None => {}
    }
}

/// Drops what the schema does not know (unless it preserves unknown
/// fields) and nulls where the schema is not nullable, as upstream prunes.
/// At the root `apiVersion`, `kind` and `metadata` always stay.
pub fn prune(obj: &mut Value, schema: &Value, root: bool) {
    match obj {
        Value::Object(map) => {
            let props = properties(schema);
            let keep_all = preserves_unknown(schema) || additional(schema).is_some();
            map.retain(|k, v| {
                if root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    return true;
                }
                match props.and_then(|p| p.get(k)).or(additional(schema)) {
                    Some(s) => !v.is_null() || flag(s, "nullable"),
                    None => keep_all,
                }
            });
            for (k, v) in map.iter_mut() {
                if root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(s) = props.and_then(|p| p.get(k)).or(additional(schema)) {
                    prune(v, s, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items").filter(|i| i.is_object()) {
                items.iter_mut().for_each(|i| prune(i, s, false));
            }
        }
        _ => {}
    }
}

/// Fills in `default`s of absent fields, from the top down, as upstream's
/// structural defaulting (a defaulted object gets its own fields' defaults).
pub fn apply_defaults(obj: &mut Value, schema: &Value) {
    match obj {
        Value::Object(map) => {
            for (k, s) in properties(schema).into_iter().flatten() {
                if let (None, Some(d)) = (map.get(k), s.get("default")) {
                    map.insert(k.clone(), d.clone());
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(s) = properties(schema).and_then(|p| p.get(k)).or(additional(schema)) {
                    apply_defaults(v, s);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items").filter(|i| i.is_object()) {
                items.iter_mut().for_each(|i| apply_defaults(i, s));
            }
        }
        _ => {}
    }
}

/// The OpenAPI type name of a JSON value, as upstream's messages say it.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as Go prints it in a field error: strings quoted, numbers bare.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

fn type_matches(want: &str, v: &Value) -> bool {
    match want {
        "" => true,
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        other => json_type(v) == other,
    }
}

/// Upstream's field errors for `obj` against `schema` (the root is `path` "").
pub fn validate(obj: &Value, schema: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    check(obj, schema, "", &mut out);
    out
}

fn check(v: &Value, s: &Value, path: &str, out: &mut Vec<FieldError>) {
    let field = if path.is_empty() { "<root>" } else { path };
    if v.is_null() && flag(s, "nullable") {
        return;
    }
    let int_or_string = flag(s, "x-kubernetes-int-or-string");
    if int_or_string && !(v.is_i64() || v.is_u64() || v.is_string()) {
        let got = json_type(v);
        out.push(FieldError::invalid(
            field,
            quote(got),
            format!("{field} in body must be of type integer,string: {}", quote(got)),
        ));
        return;
    }
    if !int_or_string && !type_matches(type_of(s), v) {
        let got = json_type(v);
        let detail = format!("{field} in body must be of type {}: {}", type_of(s), quote(got));
        out.push(FieldError::invalid(field, quote(got), detail));
        return;
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(go_value).collect();
            let mut e = FieldError::not_supported(field, "", &[]);
            e.value = go_value(v);
            e.detail = format!("supported values: {}", list.join(", "));
            out.push(e);
        }
    }
    if let Some(n) = v.as_f64() {
        check_bounds(n, v, s, field, out);
    }
    if let Some(text) = v.as_str() {
        check_string(text, s, field, out);
    }
    match v {
        Value::Object(map) => {
            for req in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if !map.contains_key(req) {
                    out.push(FieldError::required(child(path, req), ""));
                }
            }
            for (k, item) in map {
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(ps) = properties(s).and_then(|p| p.get(k)).or(additional(s)) {
                    check(item, ps, &child(path, k), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    out.push(FieldError::too_many(field, items.len(), format!("must have at most {max} items")));
                }
            }
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    let detail = format!("{field} in body should have at least {min} items");
                    out.push(FieldError::invalid(field, quote(&v.to_string()), detail));
                }
            }
            if let Some(is) = s.get("items").filter(|i| i.is_object()) {
                for (n, item) in items.iter().enumerate() {
                    check(item, is, &format!("{path}[{n}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn check_bounds(n: f64, v: &Value, s: &Value, field: &str, out: &mut Vec<FieldError>) {
    let bound = |k: &str| s.get(k).and_then(Value::as_f64);
    let show = |k: &str| s.get(k).map(Value::to_string).unwrap_or_default();
    if let Some(max) = bound("maximum") {
        let exclusive = flag(s, "exclusiveMaximum");
        if n > max || (exclusive && n == max) {
            let how = if exclusive { "less than" } else { "less than or equal to" };
            out.push(FieldError::invalid(
                field,
                go_value(v),
                format!("{field} in body should be {how} {}", show("maximum")),
            ));
        }
    }
    if let Some(min) = bound("minimum") {
        let exclusive = flag(s, "exclusiveMinimum");
        if n < min || (exclusive && n == min) {
            let how = if exclusive { "greater than" } else { "greater than or equal to" };
            out.push(FieldError::invalid(
                field,
                go_value(v),
                format!("{field} in body should be {how} {}", show("minimum")),
            ));
        }
    }
}

fn check_string(text: &str, s: &Value, field: &str, out: &mut Vec<FieldError>) {
    let chars = text.chars().count() as u64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
        if chars > max {
            let mut e = FieldError::too_long(field, 0);
            e.detail = format!("may not be more than {max} {}", if max == 1 { "byte" } else { "bytes" });
            out.push(e);
        }
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
        if chars < min {
            out.push(FieldError::invalid(
                field,
                quote(text),
                format!("{field} in body should be at least {min} chars long"),
            ));
        }
    }
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
        // A pattern the regex engine cannot read matches nothing, as upstream's.
        let matches = regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text));
        if !matches {
            out.push(FieldError::invalid(field, quote(text), format!("{field} in body should match '{pattern}'")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type":"object","properties":{
            "spec":{"type":"object","required":["image"],"properties":{
                "image":{"type":"string","pattern":"^[a-z]+$","maxLength":8},
                "replicas":{"type":"integer","minimum":1,"maximum":10,"default":1},
                "mode":{"type":"string","enum":["a","b"]},
                "tags":{"type":"array","maxItems":2,"items":{"type":"string"}},
                "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
                "note":{"type":"string","nullable":true}}},
            "status":{"type":"object","properties":{"ready":{"type":"boolean"}}}}})
    }

    #[test]
    fn pruning_keeps_what_the_schema_knows() {
        let mut obj = json!({"apiVersion":"x/v1","kind":"K","metadata":{"name":"a"},"bogus":1,
            "spec":{"image":"nginx","extra":true,"free":{"any":{"thing":1}},"note":null,"mode":null}});
        prune(&mut obj, &schema(), true);
        assert_eq!(
            obj,
            json!({"apiVersion":"x/v1","kind":"K","metadata":{"name":"a"},
            "spec":{"image":"nginx","free":{"any":{"thing":1}},"note":null}})
        );
    }

    #[test]
    fn defaults_fill_absent_fields() {
        let mut obj = json!({"spec":{"image":"nginx"}});
        apply_defaults(&mut obj, &schema());
        assert_eq!(obj["spec"]["replicas"], 1);
    }

    #[test]
    fn validation_speaks_upstreams_words() {
        let cases = [
            (
                json!({"spec":{"image":"nginx","replicas":"two"}}),
                "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
            ),
            (
                json!({"spec":{"image":"nginx","replicas":15}}),
                "spec.replicas: Invalid value: 15: spec.replicas in body should be less than or equal to 10",
            ),
            (
                json!({"spec":{"image":"nginx","replicas":0}}),
                "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
            ),
            (json!({"spec":{}}), "spec.image: Required value"),
            (
                json!({"spec":{"image":"Nginx"}}),
                "spec.image: Invalid value: \"Nginx\": spec.image in body should match '^[a-z]+$'",
            ),
            (json!({"spec":{"image":"abcdefghij"}}), "spec.image: Too long: may not be more than 8 bytes"),
            (
                json!({"spec":{"image":"x","mode":"c"}}),
                "spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\"",
            ),
            (json!({"spec":{"image":"x","tags":["a","b","c"]}}), "spec.tags: Too many: 3: must have at most 2 items"),
            (
                json!({"spec":{"image":"x","tags":[1]}}),
                "spec.tags[0]: Invalid value: \"integer\": spec.tags[0] in body must be of type string: \"integer\"",
            ),
        ];
        for (obj, want) in cases {
            let errs: Vec<String> = validate(&obj, &schema()).iter().map(ToString::to_string).collect();
            assert_eq!(errs, vec![want.to_string()], "{obj}");
        }
        assert!(validate(&json!({"spec":{"image":"x","note":null,"free":{"a":1}}}), &schema()).is_empty());
    }

    #[test]
    fn structural_schemas_type_every_field() {
        assert!(structural_errors(&schema(), "s").is_empty());
        let bad = json!({"type":"object","properties":{"spec":{"properties":{"a":{"type":"string"}}},
            "list":{"type":"array"}}});
        let errs: Vec<String> = structural_errors(&bad, "s").iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                "s.properties[list].items: Required value: must be specified",
                "s.properties[spec].type: Required value: must not be empty for specified object fields",
            ]
        );
        let root: Vec<String> = structural_errors(&Value::Null, "s").iter().map(ToString::to_string).collect();
        assert_eq!(root, ["s: Required value: schemas are required"]);
    }
}
