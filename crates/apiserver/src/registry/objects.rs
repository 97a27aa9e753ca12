//! Decoding request bodies into objects the store will accept: typed
//! round-trip (which prunes unknown fields, as upstream does), unknown-field
//! reports for `fieldValidation`, and the metadata a create sets and an
//! update keeps.

use crate::error::ApiError;
use api::field_errors::FieldError;
use api::resources::ResourceType;
use serde_json::{json, Value};

/// How to treat fields the schema does not know (`?fieldValidation=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Strict,
    /// Upstream's default: accept, drop, and warn.
    #[default]
    Warn,
    Ignore,
}

impl FieldValidation {
    pub fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some("Ignore") => Ok(Self::Ignore),
            Some(other) => Err(ApiError::bad_request(format!("fieldValidation parameter unsupported: {other}"))),
        }
    }
}

/// Parses a request body by its Content-Type: JSON when missing or JSON,
/// YAML for the YAML types (server-side apply sends YAML), Kubernetes
/// protobuf for kubectl's typed commands.
pub fn parse_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if content_type.contains("protobuf") {
        return api::protobuf::decode(body)
            .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded: {e}")));
    }
    if content_type.contains("cbor") {
        return Err(ApiError::unsupported_body_type(content_type));
    }
    let is_yaml = content_type.contains("yaml");
    let parsed: Result<Value, String> = if is_yaml {
        serde_yaml::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    match parsed {
        Ok(v) if v.is_object() || v.is_array() => Ok(v),
        Ok(_) => Err(ApiError::bad_request("the body of the request must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))),
    }
}

/// Decodes into the schema of `resource` and back: wrong types are refused,
/// unknown fields dropped.
pub fn normalize(resource: &ResourceType, v: Value) -> Result<Value, ApiError> {
    resource.schema.normalize(v).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            resource.kind,
            resource.api_version(),
            resource.kind
        ))
    })
}

/// What `fieldValidation` makes of the fields the schema dropped from
/// `input` on its way to `decoded`: a 400 (Strict), warnings (Warn), or
/// nothing (Ignore).
pub fn judge_unknown_fields(input: &Value, decoded: &Value, fv: FieldValidation) -> Result<Vec<String>, ApiError> {
    let unknown = unknown_fields(input, decoded);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let msgs: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
    match fv {
        FieldValidation::Strict => Err(ApiError::bad_request(format!("strict decoding error: {}", msgs.join(", ")))),
        FieldValidation::Warn => Ok(msgs),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}

/// Paths present in `input` but dropped by the schema: `spec.foo`.
pub fn unknown_fields(input: &Value, output: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(input, output, &mut Vec::new(), &mut out);
    out
}

/// One step of a path being walked: a field, or an item of a list.
enum Step<'a> {
    Field(&'a str),
    Item(usize),
}

/// Compares as it walks; a path is written out only for an unknown field
/// (every create walks its whole object, and nearly always finds none).
fn walk<'a>(input: &'a Value, output: &Value, path: &mut Vec<Step<'a>>, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                path.push(Step::Field(k));
                match o.get(k) {
                    None if !v.is_null() => out.push(path_text(path)),
                    Some(ov) => walk(v, ov, path, out),
                    None => {}
                }
                path.pop();
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                path.push(Step::Item(n));
                walk(iv, ov, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// `spec.ports[0].foo`.
fn path_text(path: &[Step<'_>]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Field(f) if text.is_empty() => text.push_str(f),
            Step::Field(f) => {
                text.push('.');
                text.push_str(f);
            }
            Step::Item(n) => text.push_str(&format!("[{n}]")),
        }
    }
    text
}

/// Refuses a body whose `apiVersion`/`kind` name another type.
pub fn check_type_meta(resource: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let want = resource.api_version();
    if let Some(v) = obj.get("apiVersion").and_then(Value::as_str).filter(|v| !v.is_empty()) {
        if v != want {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want})"
            )));
        }
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str).filter(|k| !k.is_empty()) {
        if k != resource.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                resource.kind
            )));
        }
    }
    Ok(())
}

/// A create's body as the store keeps it: type meta checked and set, the
/// namespace from the URL, a generated name, and the metadata the server
/// owns (uid, creationTimestamp) set; what a client may not set dropped.
pub fn new_object(
    resource: &ResourceType,
    namespace: Option<&str>,
    mut obj: Value,
    now: &str,
) -> Result<Value, ApiError> {
    check_type_meta(resource, &obj)?;
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut).map(std::mem::take) else {
        return Err(ApiError::invalid(
            resource,
            "",
            &[FieldError::required("metadata.name", "name or generateName is required")],
        ));
    };
    let mut meta = meta;
    if resource.namespaced {
        let body_ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
        if !body_ns.is_empty() && Some(body_ns) != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta.insert("namespace".into(), json!(namespace.unwrap_or("default")));
    } else {
        meta.remove("namespace");
    }
    if meta.get("resourceVersion").and_then(Value::as_str).is_some_and(|rv| !rv.is_empty()) {
        return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
    }
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    if name.is_empty() {
        if let Some(prefix) = meta.get("generateName").and_then(Value::as_str).filter(|p| !p.is_empty()) {
            meta.insert("name".into(), json!(generate_name(prefix)));
        }
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(now));
    for k in ["deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "managedFields"] {
        meta.remove(k);
    }
    meta.remove("generation");
    obj["metadata"] = Value::Object(meta);
    obj["apiVersion"] = json!(resource.api_version());
    obj["kind"] = json!(resource.kind);
    Ok(obj)
}

/// An update's body over the stored object: the status subresource
/// changes only status (and the main resource never does); the metadata
/// the server owns stays as stored.
pub fn over_current(
    resource: &ResourceType,
    subresource: Option<&str>,
    new: Value,
    current: &Value,
) -> Result<Value, ApiError> {
    let mut new = new;
    if subresource == Some("status") {
        // The status subresource changes status and nothing else.
        let status = new.get("status").cloned();
        new = current.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                new.as_object_mut().map(|o| o.remove("status"));
            }
        }
    } else if resource.has_status_subresource() {
        match current.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().map(|o| o.remove("status"));
            }
        }
    }
    let meta = new
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::bad_request("metadata is required"))?;
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "name",
        "generation",
    ] {
        match current.pointer(&format!("/metadata/{k}")) {
            Some(v) => meta.insert(k.into(), v.clone()),
            None => meta.remove(k),
        };
    }
    new["apiVersion"] = json!(resource.api_version());
    new["kind"] = json!(resource.kind);
    Ok(new)
}

/// The same object, ignoring its resourceVersion: an update that changes
/// nothing writes nothing.
pub fn same_object(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

/// `myapp-` → `myapp-x7k2p`: five characters from upstream's alphabet
/// (no vowels, so no words; no look-alikes).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5).map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char).collect();
    format!("{prefix}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::resources::SERVICES;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_found_by_path() {
        let input =
            json!({"metadata":{"name":"a","bogus":1},"spec":{"ports":[{"port":80,"extra":true}],"foo":null,"bar":"x"}});
        let out = normalize(&SERVICES, input.clone()).unwrap();
        assert_eq!(unknown_fields(&input, &out), vec!["metadata.bogus", "spec.bar", "spec.ports[0].extra"]);
        assert_eq!(out["kind"], "Service");
    }

    #[test]
    fn bad_bodies_are_400() {
        assert_eq!(parse_body("application/json", b"{").unwrap_err().code, 400);
        assert_eq!(parse_body("", b"\"x\"").unwrap_err().code, 400);
        assert!(parse_body("application/apply-patch+yaml", b"apiVersion: v1\nkind: Service\n").is_ok());
        let wrong = normalize(&SERVICES, json!({"spec":{"ports":"eighty"}})).unwrap_err();
        assert_eq!(wrong.code, 400);
        assert!(check_type_meta(&SERVICES, &json!({"apiVersion":"apps/v1"})).is_err());
        assert!(check_type_meta(&SERVICES, &json!({"apiVersion":"v1","kind":"Service"})).is_ok());
    }

    #[test]
    fn generated_names_use_the_safe_alphabet() {
        let n = generate_name("myapp-deploy-77b578b6d-");
        assert_eq!(n.len(), "myapp-deploy-77b578b6d-".len() + 5);
        assert!(n[23..].bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));
    }
}
