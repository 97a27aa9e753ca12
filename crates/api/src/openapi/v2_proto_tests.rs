use super::*;
use crate::openapi::v2::document;
use crate::resources::SERVICES;
use serde_json::json;

/// The fields of one message: (number, wire type, payload bytes or varint).
fn fields(mut b: &[u8]) -> Vec<(u32, u8, Vec<u8>)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                return v;
            }
        }
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
        let payload = match wire {
            0 => varint(&mut b).to_le_bytes().to_vec(),
            1 => {
                let (v, rest) = b.split_at(8);
                b = rest;
                v.to_vec()
            }
            2 => {
                let n = varint(&mut b) as usize;
                let (v, rest) = b.split_at(n);
                b = rest;
                v.to_vec()
            }
            w => panic!("wire type {w}"),
        };
        out.push((field, wire, payload));
    }
    out
}

fn field(b: &[u8], n: u32) -> Vec<Vec<u8>> {
    fields(b).into_iter().filter(|(f, _, _)| *f == n).map(|(_, _, p)| p).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// The `Named*` entry called `name` among `entries`: its value.
fn named_value(entries: Vec<Vec<u8>>, name: &str) -> Vec<u8> {
    entries.into_iter().find(|e| text(&field(e, 1)[0]) == name).map(|e| field(&e, 2).remove(0)).unwrap()
}

#[test]
fn document_definitions_and_extensions_in_gnostics_field_numbers() {
    let doc = document(&[&SERVICES], "v1.32.0");
    let bytes = encode(&doc);
    assert_eq!(text(&field(&bytes, 1)[0]), "2.0");
    assert_eq!(text(&field(&field(&bytes, 2)[0], 2)[0]), "v1.32.0");
    let definitions = field(&bytes, 9).remove(0);
    let svc = named_value(field(&definitions, 1), "io.k8s.api.core.v1.Service");
    assert!(text(&field(&svc, 4)[0]).starts_with("Service is a named abstraction"));
    assert_eq!(text(&field(&field(&svc, 22)[0], 1)[0]), "object");
    let gvk = named_value(field(&svc, 31), "x-kubernetes-group-version-kind");
    let yaml: Value = serde_json::from_str(&text(&field(&gvk, 2)[0])).unwrap();
    assert_eq!(yaml, json!([{ "group": "", "kind": "Service", "version": "v1" }]));
    let spec = named_value(field(&field(&svc, 25)[0], 1), "spec");
    assert_eq!(text(&field(&spec, 1)[0]), "#/definitions/io.k8s.api.core.v1.ServiceSpec");
    let paths = field(&bytes, 8).remove(0);
    let item = named_value(field(&paths, 2), "/api/v1/namespaces/{namespace}/services/{name}");
    let patch = field(&item, 8).remove(0);
    assert_eq!(text(&field(&patch, 5)[0]), "patchService");
    // The query parameters, as QueryParameterSubSchema (NonBodyParameter 3).
    let names: Vec<String> = field(&patch, 8)
        .iter()
        .filter_map(|p| field(&field(&field(p, 1)[0], 2).first()?.clone(), 3).first().cloned())
        .map(|q| text(&field(&q, 4)[0]))
        .collect();
    assert!(names.contains(&"fieldValidation".to_string()), "{names:?}");
}

#[test]
fn schema_keywords_and_their_wire_types() {
    let s = json!({ "type": "integer", "format": "int32", "minimum": 1.5, "maxLength": 300, "uniqueItems": true,
        "additionalProperties": false, "items": { "type": "string" }, "enum": ["a"], "required": ["x", "y"] });
    let m = schema(&s).0;
    let f = fields(&m);
    let wire = |n: u32| f.iter().find(|(x, _, _)| *x == n).map(|(_, w, _)| *w);
    assert_eq!(
        (wire(2), wire(9), wire(11), wire(16), wire(21), wire(22), wire(23)),
        (Some(2), Some(1), Some(0), Some(0), Some(2), Some(2), Some(2))
    );
    assert_eq!(f64::from_le_bytes(field(&m, 9)[0].clone().try_into().unwrap()), 1.5);
    assert_eq!(u64::from_le_bytes(field(&m, 11)[0].clone().try_into().unwrap()), 300);
    assert_eq!(field(&m, 19).iter().map(|b| text(b)).collect::<Vec<_>>(), ["x", "y"]);
    assert_eq!(text(&field(&field(&m, 20)[0], 2)[0]), "\"a\"");
    // additionalProperties: false is the oneof's bool (2), present though false.
    assert_eq!(field(&m, 21)[0], vec![2 << 3, 0]);
    let items = field(&field(&m, 23)[0], 1).remove(0);
    assert_eq!(text(&field(&field(&items, 22)[0], 1)[0]), "string");
}
