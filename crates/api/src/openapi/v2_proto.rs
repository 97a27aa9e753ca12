//! `/openapi/v2` as gnostic's protobuf (`openapi.v2.Document`), the form
//! client-go's `OpenAPISchema()` asks for alone (kubectl's
//! `explain --output plaintext-openapiv2`, its v2 validation fallback).
//!
//! Written from the Swagger 2.0 JSON document ([`super::v2::document`]),
//! message by message, with gnostic's field numbers. What this server's
//! document holds is what is encoded: definitions (every Schema keyword
//! Swagger 2.0 has), the item paths' operations with their path, query and
//! body parameters and responses, the security definitions. `x-` vendor
//! extensions, defaults, enums and examples are `Any { yaml }` holding the
//! value as JSON (valid YAML), which is how kube-openapi reads them back.

use serde_json::{Map, Value};

/// A protobuf message being written (proto3: default values are left out).
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    /// A message field, written even when empty (a present, empty message
    /// differs from an absent one, e.g. `additionalProperties: {}`).
    fn msg(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }

    fn str(&mut self, field: u32, v: Option<&Value>) {
        if let Some(s) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
            self.bytes(field, s.as_bytes());
        }
    }

    fn strs(&mut self, field: u32, v: Option<&Value>) {
        for s in v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            self.bytes(field, s.as_bytes());
        }
    }

    fn bool(&mut self, field: u32, v: Option<&Value>) {
        if v.and_then(Value::as_bool) == Some(true) {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_i64).filter(|n| *n != 0) {
            self.key(field, 0);
            self.varint(n as u64);
        }
    }

    fn double(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_f64).filter(|n| *n != 0.0) {
            self.key(field, 1);
            self.0.extend_from_slice(&n.to_le_bytes());
        }
    }

    /// `Any { 2: yaml }`, the value as JSON text.
    fn any(&mut self, field: u32, v: &Value) {
        let mut any = Msg::default();
        any.bytes(2, v.to_string().as_bytes());
        self.msg(field, any);
    }

    /// `repeated NamedAny vendor_extension`: the object's `x-` keys.
    fn vendor_extensions(&mut self, field: u32, o: &Map<String, Value>) {
        for (k, v) in o.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Msg::default();
            named.bytes(1, k.as_bytes());
            named.any(2, v);
            self.msg(field, named);
        }
    }
}

/// The protobuf bytes of a Swagger 2.0 document.
pub fn encode(doc: &Value) -> Vec<u8> {
    let mut d = Msg::default();
    d.str(1, doc.get("swagger"));
    if let Some(info) = doc.get("info") {
        let mut m = Msg::default();
        m.str(1, info.get("title"));
        m.str(2, info.get("version"));
        m.str(3, info.get("description"));
        d.msg(2, m);
    }
    d.str(3, doc.get("host"));
    d.str(4, doc.get("basePath"));
    d.strs(5, doc.get("schemes"));
    d.strs(6, doc.get("consumes"));
    d.strs(7, doc.get("produces"));
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        let mut m = Msg::default();
        for (name, item) in paths {
            m.msg(2, named(name, path_item(item)));
        }
        d.msg(8, m);
    }
    if let Some(defs) = doc.get("definitions").and_then(Value::as_object) {
        let mut m = Msg::default();
        for (name, s) in defs {
            m.msg(1, named(name, schema(s)));
        }
        d.msg(9, m);
    }
    for requirement in doc.get("security").and_then(Value::as_array).into_iter().flatten() {
        let mut m = Msg::default();
        for (name, scopes) in requirement.as_object().into_iter().flatten() {
            let mut array = Msg::default();
            array.strs(1, Some(scopes));
            m.msg(1, named(name, array));
        }
        d.msg(12, m);
    }
    if let Some(defs) = doc.get("securityDefinitions").and_then(Value::as_object) {
        let mut m = Msg::default();
        for (name, def) in defs {
            // Only API keys (bearer tokens) are declared here.
            let mut key = Msg::default();
            key.str(1, def.get("type"));
            key.str(2, def.get("name"));
            key.str(3, def.get("in"));
            key.str(4, def.get("description"));
            let mut item = Msg::default();
            item.msg(2, key);
            m.msg(1, named(name, item));
        }
        d.msg(13, m);
    }
    if let Some(o) = doc.as_object() {
        d.vendor_extensions(16, o);
    }
    d.0
}

/// `Named*  { 1: name, 2: value }`.
fn named(name: &str, value: Msg) -> Msg {
    let mut m = Msg::default();
    m.bytes(1, name.as_bytes());
    m.msg(2, value);
    m
}

/// `openapi.v2.Schema`.
fn schema(s: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = s.as_object() else { return m };
    m.str(1, o.get("$ref"));
    m.str(2, o.get("format"));
    m.str(3, o.get("title"));
    m.str(4, o.get("description"));
    if let Some(v) = o.get("default") {
        m.any(5, v);
    }
    m.double(6, o.get("multipleOf"));
    m.double(7, o.get("maximum"));
    m.bool(8, o.get("exclusiveMaximum"));
    m.double(9, o.get("minimum"));
    m.bool(10, o.get("exclusiveMinimum"));
    m.int(11, o.get("maxLength"));
    m.int(12, o.get("minLength"));
    m.str(13, o.get("pattern"));
    m.int(14, o.get("maxItems"));
    m.int(15, o.get("minItems"));
    m.bool(16, o.get("uniqueItems"));
    m.int(17, o.get("maxProperties"));
    m.int(18, o.get("minProperties"));
    m.strs(19, o.get("required"));
    for v in o.get("enum").and_then(Value::as_array).into_iter().flatten() {
        m.any(20, v);
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut item = Msg::default();
            item.key(2, 0);
            item.varint(u64::from(*b));
            m.msg(21, item);
        }
        Some(v @ Value::Object(_)) => {
            let mut item = Msg::default();
            item.msg(1, schema(v));
            m.msg(21, item);
        }
        _ => {}
    }
    match o.get("type") {
        Some(Value::String(t)) => {
            let mut item = Msg::default();
            item.bytes(1, t.as_bytes());
            m.msg(22, item);
        }
        Some(t @ Value::Array(_)) => {
            let mut item = Msg::default();
            item.strs(1, Some(t));
            m.msg(22, item);
        }
        _ => {}
    }
    if let Some(items) = o.get("items") {
        let mut item = Msg::default();
        match items {
            Value::Array(all) => all.iter().for_each(|s| item.msg(1, schema(s))),
            one => item.msg(1, schema(one)),
        }
        m.msg(23, item);
    }
    for s in o.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        m.msg(24, schema(s));
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        let mut p = Msg::default();
        for (name, s) in props {
            p.msg(1, named(name, schema(s)));
        }
        m.msg(25, p);
    }
    m.str(26, o.get("discriminator"));
    m.bool(27, o.get("readOnly"));
    if let Some(v) = o.get("example") {
        m.any(30, v);
    }
    m.vendor_extensions(31, o);
    m
}

/// `openapi.v2.PathItem`.
fn path_item(item: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = item.as_object() else { return m };
    m.str(1, o.get("$ref"));
    for (field, method) in
        [(2, "get"), (3, "put"), (4, "post"), (5, "delete"), (6, "options"), (7, "head"), (8, "patch")]
    {
        if let Some(op) = o.get(method) {
            m.msg(field, operation(op));
        }
    }
    for p in o.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.msg(9, parameters_item(p));
    }
    m.vendor_extensions(10, o);
    m
}

/// `openapi.v2.Operation`.
fn operation(op: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = op.as_object() else { return m };
    m.strs(1, o.get("tags"));
    m.str(2, o.get("summary"));
    m.str(3, o.get("description"));
    m.str(5, o.get("operationId"));
    m.strs(6, o.get("produces"));
    m.strs(7, o.get("consumes"));
    for p in o.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.msg(8, parameters_item(p));
    }
    if let Some(responses) = o.get("responses").and_then(Value::as_object) {
        let mut r = Msg::default();
        for (code, resp) in responses {
            let mut response = Msg::default();
            response.str(1, resp.get("description"));
            if let Some(s) = resp.get("schema") {
                let mut item = Msg::default();
                item.msg(1, schema(s));
                response.msg(2, item);
            }
            let mut value = Msg::default();
            value.msg(1, response);
            r.msg(1, named(code, value));
        }
        m.msg(9, r);
    }
    m.strs(10, o.get("schemes"));
    m.bool(11, o.get("deprecated"));
    m.vendor_extensions(13, o);
    m
}

/// `openapi.v2.ParametersItem` of a body, path or query parameter.
fn parameters_item(p: &Value) -> Msg {
    let get = |k: &str| p.get(k);
    let mut parameter = Msg::default();
    if get("in").and_then(Value::as_str) == Some("body") {
        let mut body = Msg::default();
        body.str(1, get("description"));
        body.str(2, get("name"));
        body.str(3, get("in"));
        body.bool(4, get("required"));
        if let Some(s) = get("schema") {
            body.msg(5, schema(s));
        }
        parameter.msg(1, body);
    } else {
        // Path and query sub-schemas share their first fields; query has
        // `allowEmptyValue` (5) in between, so the rest are one further on.
        let query = get("in").and_then(Value::as_str) == Some("query");
        let shift = u32::from(query);
        let mut sub = Msg::default();
        sub.bool(1, get("required"));
        sub.str(2, get("in"));
        sub.str(3, get("description"));
        sub.str(4, get("name"));
        sub.str(5 + shift, get("type"));
        sub.str(6 + shift, get("format"));
        sub.bool(19 + shift, get("uniqueItems"));
        let mut non_body = Msg::default();
        non_body.msg(if query { 3 } else { 4 }, sub);
        parameter.msg(2, non_body);
    }
    let mut item = Msg::default();
    item.msg(1, parameter);
    item
}

#[cfg(test)]
#[path = "v2_proto_tests.rs"]
mod tests;
