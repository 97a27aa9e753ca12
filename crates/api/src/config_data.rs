//! The data rules of ConfigMaps and Secrets, as upstream's
//! `ValidateConfigMap`/`ValidateSecret` and the Secret's v1 conversion:
//! keys are file names (`IsConfigMapKey`), the values of one object fit in
//! 1 MiB, `stringData` is folded into base64 `data` on write, and an
//! `immutable` object keeps its data for good.

use crate::field_errors::{quote, FieldError};
use k8s_openapi::ByteString;
use serde_json::{json, Map, Value};

/// Upstream's `MaxSecretSize`, also the limit of a ConfigMap's data: an
/// object has to fit in one etcd value (1.5 MiB) with room for metadata.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

/// The type of a Secret that names none.
pub const SECRET_TYPE_OPAQUE: &str = "Opaque";

const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const IMMUTABLE_MSG: &str = "field is immutable when `immutable` is set";

/// Upstream's `IsConfigMapKey`: a key becomes a file name in a volume, so
/// it is a portable file name that cannot climb out of the directory.
pub fn is_config_map_key(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    if key.len() > 253 {
        out.push("must be no more than 253 characters".to_string());
    }
    if key.is_empty() || !key.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_')) {
        out.push(CONFIG_KEY_MSG.to_string());
    }
    match key {
        "." => out.push("must not be '.'".to_string()),
        ".." => out.push("must not be '..'".to_string()),
        k if k.starts_with("..") => out.push("must not start with '..'".to_string()),
        _ => {}
    }
    out
}

fn bag<'a>(obj: &'a Value, field: &str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    obj.get(field).and_then(Value::as_object).into_iter().flatten()
}

/// The decoded length of a base64 value (the schema round trip has already
/// refused values that are not base64).
fn decoded_len(v: &Value) -> usize {
    serde_json::from_value::<ByteString>(v.clone()).map_or(0, |b| b.0.len())
}

fn key_errors(field: &str, key: &str) -> Vec<FieldError> {
    is_config_map_key(key)
        .into_iter()
        .map(|msg| FieldError::invalid(format!("{field}[{key}]"), quote(key), msg))
        .collect()
}

/// `ValidateConfigMap`: keys, no key in both bags, at most 1 MiB of values.
pub fn validate_config_map(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    for (key, value) in bag(obj, "data") {
        errs.extend(key_errors("data", key));
        if obj.get("binaryData").and_then(|d| d.get(key)).is_some() {
            errs.push(FieldError::invalid(
                format!("data[{key}]"),
                quote(key),
                "duplicate of key present in binaryData",
            ));
        }
        total += value.as_str().map_or(0, str::len);
    }
    for (key, value) in bag(obj, "binaryData") {
        errs.extend(key_errors("binaryData", key));
        if obj.get("data").and_then(|d| d.get(key)).is_some() {
            errs.push(FieldError::invalid(
                format!("binaryData[{key}]"),
                quote(key),
                "duplicate of key present in data",
            ));
        }
        total += decoded_len(value);
    }
    if total > MAX_DATA_BYTES {
        // upstream names the whole object: its path is the empty root, printed `[]`
        errs.push(FieldError::too_long("[]", MAX_DATA_BYTES));
    }
    errs
}

/// `ValidateSecret` (the rules every type shares): keys, at most 1 MiB.
pub fn validate_secret(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    for (key, value) in bag(obj, "data") {
        errs.extend(key_errors("data", key));
        total += decoded_len(value);
    }
    if total > MAX_DATA_BYTES {
        errs.push(FieldError::too_long("data", MAX_DATA_BYTES));
    }
    errs
}

/// A Secret as written: `type` defaulted to Opaque, and `stringData` (a
/// write-only convenience) merged into `data` as base64, its keys winning.
pub fn prepare_secret(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    if o.get("type").and_then(Value::as_str).is_none_or(str::is_empty) {
        o.insert("type".into(), json!(SECRET_TYPE_OPAQUE));
    }
    let Some(Value::Object(strings)) = o.remove("stringData") else { return };
    let data = o.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    let Some(data) = data.as_object_mut() else { return };
    for (key, value) in strings {
        let bytes = value.as_str().unwrap_or("").as_bytes().to_vec();
        data.insert(key, serde_json::to_value(ByteString(bytes)).unwrap_or(Value::Null));
    }
}

/// What an update may not change: the data of an immutable object (and its
/// `immutable`), a Secret's `type` ever. `bags` are the kind's data fields.
pub fn validate_update(new: &Value, old: &Value, bags: &[&str], secret: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.get("immutable").and_then(Value::as_bool) == Some(true) {
        if new.get("immutable").and_then(Value::as_bool) != Some(true) {
            errs.push(FieldError::forbidden("immutable", IMMUTABLE_MSG));
        }
        for field in bags {
            if empty_as_none(new.get(*field)) != empty_as_none(old.get(*field)) {
                errs.push(FieldError::forbidden(*field, IMMUTABLE_MSG));
            }
        }
    }
    if secret && new.get("type") != old.get("type") {
        let shown = quote(new.get("type").and_then(Value::as_str).unwrap_or(""));
        errs.push(FieldError::invalid("type", shown, "field is immutable"));
    }
    errs
}

/// Go's `DeepEqual` on maps decoded from JSON: an absent map and an empty
/// one both decode to nil.
fn empty_as_none(v: Option<&Value>) -> Option<&Value> {
    v.filter(|m| m.as_object().is_some_and(|m| !m.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_follow_is_config_map_key() {
        for ok in ["a", "key.name", "KEY_NAME", "key-name", ".hidden", "a..b"] {
            assert!(is_config_map_key(ok).is_empty(), "{ok}");
        }
        assert_eq!(is_config_map_key("bad key"), [CONFIG_KEY_MSG]);
        assert_eq!(is_config_map_key(""), [CONFIG_KEY_MSG]);
        assert_eq!(is_config_map_key("a/b"), [CONFIG_KEY_MSG]);
        assert_eq!(is_config_map_key("."), ["must not be '.'"]);
        assert_eq!(is_config_map_key(".."), ["must not be '..'"]);
        assert_eq!(is_config_map_key("..a"), ["must not start with '..'"]);
        assert_eq!(is_config_map_key(&"k".repeat(254)), ["must be no more than 253 characters"]);
    }

    #[test]
    fn config_maps_are_checked_as_upstream() {
        let errs = validate_config_map(&json!({"data":{"bad key":"v","a":"x"},"binaryData":{"a":"AA=="}}));
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "data[a]: Invalid value: \"a\": duplicate of key present in binaryData".to_string(),
                format!("data[bad key]: Invalid value: \"bad key\": {CONFIG_KEY_MSG}"),
                "binaryData[a]: Invalid value: \"a\": duplicate of key present in data".to_string(),
            ]
        );
        let big = "x".repeat(MAX_DATA_BYTES / 2 + 1);
        let errs = validate_config_map(&json!({"data":{"a":big,"b":big}}));
        assert_eq!(errs[0].to_string(), "[]: Too long: may not be more than 1048576 bytes");
        let exact = "x".repeat(MAX_DATA_BYTES);
        assert!(validate_config_map(&json!({"data":{"a":exact}})).is_empty());
    }

    #[test]
    fn secrets_fold_string_data_and_count_decoded_bytes() {
        let mut s = json!({"data":{"a":"b2xk","keep":"eA=="},"stringData":{"a":"new","b":"é"}});
        prepare_secret(&mut s);
        assert_eq!(s, json!({"type":"Opaque","data":{"a":"bmV3","keep":"eA==","b":"w6k="}}));
        let mut typed = json!({"type":"kubernetes.io/tls"});
        prepare_secret(&mut typed);
        assert_eq!(typed["type"], "kubernetes.io/tls");
        // 1 MiB of bytes is 4/3 MiB of base64: the limit counts the bytes.
        let at_limit = serde_json::to_value(ByteString(vec![0; MAX_DATA_BYTES])).unwrap();
        assert!(validate_secret(&json!({"data":{"a":at_limit}})).is_empty());
        let over = serde_json::to_value(ByteString(vec![0; MAX_DATA_BYTES + 1])).unwrap();
        assert_eq!(
            validate_secret(&json!({"data":{"a":over}}))[0].to_string(),
            "data: Too long: may not be more than 1048576 bytes"
        );
    }

    #[test]
    fn immutable_objects_keep_their_data() {
        let old = json!({"immutable":true,"data":{"a":"b"}});
        assert!(validate_update(&old, &old, &["data", "binaryData"], false).is_empty());
        let changed = json!({"immutable":true,"data":{"a":"c"}});
        assert_eq!(
            validate_update(&changed, &old, &["data", "binaryData"], false)[0].to_string(),
            "data: Forbidden: field is immutable when `immutable` is set"
        );
        let unset = json!({"data":{"a":"b"}});
        assert_eq!(validate_update(&unset, &old, &["data"], false)[0].field, "immutable");
        let mutable = json!({"data":{"a":"b"}});
        assert!(validate_update(&json!({"data":{"a":"z"}}), &mutable, &["data"], false).is_empty());
        let retyped = validate_update(&json!({"type":"x"}), &json!({"type":"Opaque"}), &["data"], true);
        assert_eq!(retyped[0].to_string(), "type: Invalid value: \"x\": field is immutable");
    }
}
