//! Objects written from their stored text, without decoding them.
//!
//! The store keeps serde_json's text of an object, every object's keys
//! sorted: below the envelope that already is the order [`super::write`]
//! writes (Go's order names only the object's own fields, its metadata and
//! its managedFields entries). So a list can copy each stored value through,
//! putting just those three levels in Go's order and adding the
//! `resourceVersion` the store does not keep: 30,000 pods listed at a third
//! of the CPU of decoding and encoding each.

use super::{MANAGED, META, OBJECT};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// An object's fields, borrowed from its text. A key with an escape in it
/// cannot be borrowed, so such text is not a [`StoredObject`] (it never comes
/// from the store: the caller decodes it instead).
type Fields<'a> = BTreeMap<&'a str, &'a RawValue>;

/// A stored object's text, split where Go's order applies.
pub struct StoredObject<'a> {
    object: Fields<'a>,
    metadata: Fields<'a>,
    managed_fields: Vec<Fields<'a>>,
}

impl<'a> StoredObject<'a> {
    /// `None` for text that is not an object with a metadata object (or is a
    /// `Status`, whose order differs): decode it instead.
    pub fn parse(stored: &'a [u8]) -> Option<Self> {
        let object: Fields = serde_json::from_slice(stored).ok()?;
        if object.get("kind").map(|k| k.get()) == Some("\"Status\"") {
            return None;
        }
        let metadata: Fields = serde_json::from_str(object.get("metadata")?.get()).ok()?;
        let managed_fields = match metadata.get("managedFields") {
            Some(raw) => serde_json::from_str(raw.get()).ok()?,
            None => Vec::new(),
        };
        Some(Self { object, metadata, managed_fields })
    }

    /// What [`super::write`] appends for the object with its
    /// `metadata.resourceVersion` set to `resource_version`.
    pub fn write(&self, out: &mut Vec<u8>, resource_version: i64) {
        write_fields(out, &self.object, OBJECT, None, |out, key, value| match key {
            "metadata" => self.write_metadata(out, resource_version),
            _ => out.extend_from_slice(value.get().as_bytes()),
        });
    }

    /// The object's metadata, as [`Self::write`] writes it.
    pub fn write_metadata(&self, out: &mut Vec<u8>, resource_version: i64) {
        let version = format!("\"{resource_version}\"");
        write_fields(out, &self.metadata, META, Some(("resourceVersion", &version)), |out, key, value| match key {
            "managedFields" => {
                out.push(b'[');
                for (i, entry) in self.managed_fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_fields(out, entry, MANAGED, None, |out, _, v| out.extend_from_slice(v.get().as_bytes()));
                }
                out.push(b']');
            }
            _ => out.extend_from_slice(value.get().as_bytes()),
        });
    }

    /// The object decoded without its managedFields (what a printer reads;
    /// they are often a third of a pod), its resourceVersion set.
    pub fn decode_without_managed_fields(&self, resource_version: i64) -> Option<Value> {
        let decode = |fields: &Fields, skip: &str| -> Option<Map<String, Value>> {
            let decoded = fields.iter().filter(|(k, _)| **k != skip);
            decoded.map(|(k, v)| Some((k.to_string(), serde_json::from_str(v.get()).ok()?))).collect()
        };
        let mut metadata = decode(&self.metadata, "managedFields")?;
        metadata.insert("resourceVersion".into(), Value::String(resource_version.to_string()));
        let mut object = decode(&self.object, "metadata")?;
        object.insert("metadata".into(), Value::Object(metadata));
        Some(Value::Object(object))
    }
}

/// Appends what [`super::write`] appends for a stored object with its
/// `resourceVersion` set; `false` (nothing appended) for text that is not a
/// [`StoredObject`].
pub fn write_stored(out: &mut Vec<u8>, stored: &[u8], resource_version: i64) -> bool {
    StoredObject::parse(stored).map(|o| o.write(out, resource_version)).is_some()
}

/// `{...}` of `fields`: those named in `order` first, in its order, then the
/// rest, sorted; `extra` (a field the stored text lacks, as JSON text) takes
/// its place in `order`, over a stored one of its name.
fn write_fields(
    out: &mut Vec<u8>,
    fields: &Fields,
    order: &[&str],
    extra: Option<(&str, &str)>,
    mut value: impl FnMut(&mut Vec<u8>, &str, &RawValue),
) {
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        // A borrowed key has no escapes, so it needs none written.
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    };
    out.push(b'{');
    for name in order {
        match (extra, fields.get(name)) {
            (Some((extra_name, text)), _) if extra_name == *name => {
                key(out, name);
                out.extend_from_slice(text.as_bytes());
            }
            (_, Some(v)) => {
                key(out, name);
                value(out, name, v);
            }
            _ => {}
        }
    }
    for (name, v) in fields.iter().filter(|(k, _)| !order.contains(k)) {
        key(out, name);
        value(out, name, v);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stored_object_is_written_as_its_decoded_self() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "web", "image": "nginx",
                "ports": [{"containerPort": 80}], "resources": {"requests": {"cpu": "100m"}}}], "priority": -3, "weight": 0.25},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.244.1.5"}]},
            "metadata": {"uid": "u-1", "name": "web-0", "namespace": "default", "creationTimestamp": "2026-12-04T10:00:00Z",
                "labels": {"z": "1", "app": "web"}, "annotations": {"note": "tab\t, quote \" and é"},
                "ownerReferences": [{"uid": "o", "name": "web", "kind": "ReplicaSet", "apiVersion": "apps/v1", "controller": true}],
                "finalizers": ["a/b"], "generation": 2,
                "managedFields": [{"time": "2026-12-04T10:00:00Z", "operation": "Update", "manager": "kubectl", "fieldsType": "FieldsV1",
                    "apiVersion": "v1", "fieldsV1": {"f:spec": {"f:containers": {}}}}, {"subresource": "status", "manager": "kubelet"}],
                "extra": {"b": 1, "a": null}}});
        let cases = [
            pod.clone(),
            json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"}, "data": {"k": "v"}, "binaryData": {}}),
            json!({"metadata": {"name": "n", "resourceVersion": "3"}, "kind": "Namespace"}),
            json!({"a": [], "metadata": {}}),
        ];
        for object in cases {
            let stored = serde_json::to_vec(&object).unwrap(); // sorted keys, as the store writes
            let mut expected = object.clone();
            expected["metadata"]["resourceVersion"] = json!("42");
            let mut out = b"[".to_vec();
            assert!(write_stored(&mut out, &stored, 42), "{object}");
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("[{}", String::from_utf8(super::super::to_vec(&expected)).unwrap())
            );
        }
        // Not an object with metadata, or a key that needs unescaping: left to the decoder.
        for stored in [
            &b"[1]"[..],
            b"{\"kind\":\"Pod\"}",
            b"{\"metadata\":{\"na\\u006de\":\"x\"}}",
            b"{\"metadata\":{}",
            b"{\"kind\":\"Status\",\"metadata\":{}}",
        ] {
            let mut out = b"[".to_vec();
            assert!(!write_stored(&mut out, stored, 1), "{}", String::from_utf8_lossy(stored));
            assert_eq!(out, b"[");
        }
    }

    #[test]
    fn a_printer_reads_the_object_without_its_managed_fields() {
        let object =
            json!({"kind": "Pod", "metadata": {"name": "p", "managedFields": [{"manager": "m"}]}, "spec": {"x": [1]}});
        let stored = serde_json::to_vec(&object).unwrap();
        let parsed = StoredObject::parse(&stored).unwrap();
        assert_eq!(
            parsed.decode_without_managed_fields(9).unwrap(),
            json!({"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "9"}, "spec": {"x": [1]}})
        );
        let mut metadata = Vec::new();
        parsed.write_metadata(&mut metadata, 9);
        assert_eq!(
            String::from_utf8(metadata).unwrap(),
            r#"{"name":"p","resourceVersion":"9","managedFields":[{"manager":"m"}]}"#
        );
    }
}
