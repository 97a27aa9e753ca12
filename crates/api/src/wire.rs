//! JSON as kube-apiserver writes it: Go encodes a struct's fields in their
//! declaration order (`kind`, `apiVersion`, `metadata`, `spec`, `status`),
//! not alphabetically as a `serde_json::Map` iterates. Clients' tests compare
//! error strings and learners compare `curl` output with real clusters, so
//! the envelope a reader sees first follows Go's order. Fields this module
//! does not name keep their alphabetical order after the named ones.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

pub mod verbatim;
pub use verbatim::StoredObject;

/// An object's own fields (TypeMeta, ObjectMeta, spec, status; a list's items).
const OBJECT: &[&str] = &["kind", "apiVersion", "metadata", "spec", "status", "items"];
/// `metav1.Status`.
const STATUS: &[&str] = &["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"];
/// `metav1.ObjectMeta` (and ListMeta: `resourceVersion`, `continue`).
const META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "continue",
    "remainingItemCount",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];
/// `metav1.StatusDetails` and `metav1.StatusCause`.
const DETAILS: &[&str] = &["name", "group", "kind", "uid", "causes", "retryAfterSeconds"];
const CAUSE: &[&str] = &["reason", "message", "field"];
/// `metav1.ManagedFieldsEntry`.
const MANAGED: &[&str] = &["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"];
/// A watch event.
const EVENT: &[&str] = &["type", "object"];
/// `metav1.TableRow` (its `object` is an object).
const ROW: &[&str] = &["cells", "conditions", "object"];

/// Where a value sits, which says the order of its fields.
#[derive(Clone, Copy)]
enum Place {
    /// A top-level object (or an item of a list, or a watch event's object).
    Object,
    Metadata,
    Details,
    Causes,
    Managed,
    Event,
    Row,
    /// Anywhere else: alphabetical, as stored.
    Other,
}

struct Ordered<'a>(&'a Value, Place);

fn order(place: Place, map: &Map<String, Value>) -> &'static [&'static str] {
    match place {
        Place::Object if map.get("kind").and_then(Value::as_str) == Some("Status") => STATUS,
        Place::Object => OBJECT,
        Place::Metadata => META,
        Place::Details => DETAILS,
        Place::Causes => CAUSE,
        Place::Managed => MANAGED,
        Place::Event => EVENT,
        Place::Row => ROW,
        Place::Other => &[],
    }
}

/// The place of a field's value inside an object at `place`.
fn child(place: Place, key: &str) -> Place {
    match (place, key) {
        (Place::Object, "metadata") => Place::Metadata,
        (Place::Object, "details") => Place::Details,
        (Place::Object, "items") | (Place::Event, "object") | (Place::Row, "object") => Place::Object,
        (Place::Object, "rows") => Place::Row,
        (Place::Details, "causes") => Place::Causes,
        (Place::Metadata, "managedFields") => Place::Managed,
        _ => Place::Other,
    }
}

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Ordered(value, place) = *self;
        match value {
            Value::Object(map) => {
                let first = order(place, map);
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for key in first.iter().filter(|k| map.contains_key(**k)) {
                    out.serialize_entry(key, &Ordered(&map[*key], child(place, key)))?;
                }
                for (key, v) in map.iter().filter(|(k, _)| !first.contains(&k.as_str())) {
                    out.serialize_entry(key, &Ordered(v, child(place, key)))?;
                }
                out.end()
            }
            // A list's items are objects; the causes of a Status are causes.
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Ordered(item, place))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// An object (or a list, a Status, a Table) as kube-apiserver writes it.
pub fn to_vec(object: &Value) -> Vec<u8> {
    serde_json::to_vec(&Ordered(object, Place::Object)).unwrap_or_default()
}

/// Like [`to_vec`], appended to `out` (a list's items, as they arrive).
pub fn write(out: &mut Vec<u8>, object: &Value) {
    let _ = serde_json::to_writer(out, &Ordered(object, Place::Object));
}

/// An object's `metadata`, appended in Go's order (a Table row's
/// PartialObjectMetadata).
pub fn write_metadata(out: &mut Vec<u8>, metadata: &Value) {
    let _ = serde_json::to_writer(out, &Ordered(metadata, Place::Metadata));
}

/// A watch event, `{"type":..,"object":..}`, in Go's order.
pub fn event_to_vec(event: &Value) -> Vec<u8> {
    serde_json::to_vec(&Ordered(event, Place::Event)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(v: &Value) -> String {
        String::from_utf8(to_vec(v)).unwrap()
    }

    #[test]
    fn objects_follow_gos_field_order() {
        let svc = json!({"status":{},"spec":{"type":"ClusterIP","ports":[]},"metadata":{"uid":"u","name":"x","labels":{"b":"1","a":"2"}},"kind":"Service","apiVersion":"v1"});
        assert_eq!(
            text(&svc),
            r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"x","uid":"u","labels":{"a":"2","b":"1"}},"spec":{"ports":[],"type":"ClusterIP"},"status":{}}"#
        );
        let status = json!({"apiVersion":"v1","code":422,"details":{"causes":[{"field":"f","message":"m","reason":"r"}],"kind":"services","name":"x"},"kind":"Status","message":"bad","metadata":{},"reason":"Invalid","status":"Failure"});
        assert_eq!(
            text(&status),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"bad","reason":"Invalid","details":{"name":"x","kind":"services","causes":[{"reason":"r","message":"m","field":"f"}]},"code":422}"#
        );
        let list = json!({"apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"n","name":"p"}}],"kind":"PodList","metadata":{"resourceVersion":"5"}});
        assert_eq!(
            text(&list),
            r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"5"},"items":[{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"n"}}]}"#
        );
        let event = json!({"object":{"apiVersion":"v1","kind":"Pod"},"type":"ADDED"});
        assert_eq!(
            String::from_utf8(event_to_vec(&event)).unwrap(),
            r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1"}}"#
        );
    }
}
