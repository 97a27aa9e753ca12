//! Decoding request bodies into objects the store will accept: typed
//! round-trip (which prunes unknown fields, as upstream does), unknown-field
//! reports for `fieldValidation`, and the kind-specific defaults and checks.

use crate::error::ApiError;
use api::resources::ResourceType;
use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, discovery::v1 as discovery};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

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

fn round_trip<T: DeserializeOwned + Serialize>(v: Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Decodes into the schema of `resource` and back: wrong types are refused,
/// unknown fields dropped.
pub fn normalize(resource: &ResourceType, v: Value) -> Result<Value, ApiError> {
    let out = match resource.kind {
        "Service" => round_trip::<core::Service>(v),
        "Pod" => round_trip::<core::Pod>(v),
        "Namespace" => round_trip::<core::Namespace>(v),
        "Endpoints" => round_trip::<core::Endpoints>(v),
        "Node" => round_trip::<core::Node>(v),
        "Event" => round_trip::<core::Event>(v),
        "Deployment" => round_trip::<apps::Deployment>(v),
        "EndpointSlice" => round_trip::<discovery::EndpointSlice>(v),
        _ => Ok(v),
    };
    out.map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            resource.kind,
            resource.api_version(),
            resource.kind
        ))
    })
}

/// Paths present in `input` but dropped by the schema: `spec.foo`.
pub fn unknown_fields(input: &Value, output: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(input, output, "", &mut out);
    out
}

fn walk(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                let child = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match o.get(k) {
                    None if !v.is_null() => out.push(child),
                    Some(ov) => walk(v, ov, &child, out),
                    None => {}
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                walk(iv, ov, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
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
}
