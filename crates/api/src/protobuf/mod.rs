//! Kubernetes protobuf bodies, decoded into the JSON objects the rest of
//! the server works with.
//!
//! kubectl's typed commands (`create namespace`, `create deployment`,
//! `create service`, `expose`, `run`) send `application/vnd.kubernetes.protobuf`
//! and do not fall back to JSON, so an apiserver that real kubectl drives
//! must read it. The envelope:
//!
//! ```text
//! "k8s\0" ─ runtime.Unknown { 1: TypeMeta { 1: apiVersion, 2: kind },
//!                             2: raw (the object's own message),
//!                             3: contentEncoding, 4: contentType }
//! ```
//!
//! The object is decoded field by field against [`schema`] (field number →
//! JSON name and type). Go writes every non-pointer field, even when empty,
//! so empty strings, zeros and `false` are dropped as Go's `omitempty` does
//! in JSON, except for [`POINTER_FIELDS`], where zero is a real value.

pub mod schema;

use serde_json::{json, Map, Value};

/// How a field's value is written on the wire, and rendered in JSON.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Int,
    Bool,
    Double,
    /// Bytes, base64 in JSON.
    Bytes,
    Msg(Message),
    /// A Go struct embedded with `json:",inline"`: a message on the wire,
    /// its fields merged into the parent's in JSON.
    Inline(Message),
    /// `map<string, string>`
    MapStr,
    /// `map<string, bytes>`
    MapBytes,
    /// `map<string, T>`
    Map(&'static Ty),
    /// `metav1.Time`: `{1: seconds, 2: nanos}`, an RFC 3339 string in JSON.
    Time,
    /// `intstr.IntOrString`: `{1: type, 2: intVal, 3: strVal}`, a number or a string.
    IntOrString,
    /// `resource.Quantity`: `{1: string}`, a string.
    Quantity,
    /// `{1: bytes}` holding JSON (RawExtension, FieldsV1).
    RawJson,
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub tag: u32,
    pub json: &'static str,
    pub ty: Ty,
    pub repeated: bool,
}

impl Field {
    pub const fn one(tag: u32, json: &'static str, ty: Ty) -> Self {
        Self { tag, json, ty, repeated: false }
    }
    pub const fn list(tag: u32, json: &'static str, ty: Ty) -> Self {
        Self { tag, json, ty, repeated: true }
    }
}

pub type Message = &'static [Field];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protobuf: {0}")]
pub struct ProtoError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ProtoError> {
    Err(ProtoError(msg.into()))
}

/// Fields that are pointers in Go (`*int32`, `*bool`): on the wire only when
/// set, so a zero there means zero (`kubectl create deployment --replicas=0`).
pub const POINTER_FIELDS: &[&str] = &[
    "replicas",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "allocateLoadBalancerNodePorts",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "hostUsers",
    "shareProcessNamespace",
    "setHostnameAsFQDN",
    "privileged",
    "allowPrivilegeEscalation",
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "readOnlyRootFilesystem",
    "fsGroup",
    "timeoutSeconds",
    "defaultMode",
    "mode",
    "optional",
    // Jobs and CronJobs
    "completions",
    "parallelism",
    "backoffLimit",
    "suspend",
    "ttlSecondsAfterFinished",
    "startingDeadlineSeconds",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    // HorizontalPodAutoscalers (`kubectl autoscale`)
    "minReplicas",
    "averageUtilization",
    "targetCPUUtilizationPercentage",
    "stabilizationWindowSeconds",
];

/// The magic that starts every Kubernetes protobuf body.
pub const MAGIC: &[u8] = b"k8s\0";

/// A cursor over protobuf wire bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else { return err("truncated varint") };
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        err("varint too long")
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.buf.len() < n {
            return err("truncated field");
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn delimited(&mut self) -> Result<&'a [u8], ProtoError> {
        let n = self.varint()? as usize;
        self.bytes(n)
    }

    /// The next (field number, wire type, payload): a varint as its value,
    /// fixed and length-delimited fields as their bytes.
    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, ProtoError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed(self.bytes(8)?),
            2 => Wire::Len(self.delimited()?),
            5 => Wire::Fixed(self.bytes(4)?),
            t => return err(format!("unsupported wire type {t}")),
        };
        Ok(Some(((key >> 3) as u32, wire)))
    }
}

enum Wire<'a> {
    Varint(u64),
    Fixed(&'a [u8]),
    Len(&'a [u8]),
}

/// Decodes a whole body: envelope, then the object. Returns the object with
/// its `apiVersion` and `kind`.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let Some(unknown) = body.strip_prefix(MAGIC) else { return err("missing the k8s protobuf magic") };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    let mut r = Reader { buf: unknown };
    while let Some((tag, wire)) = r.next()? {
        match (tag, wire) {
            (1, Wire::Len(type_meta)) => {
                let mut t = Reader { buf: type_meta };
                while let Some((tag, wire)) = t.next()? {
                    if let Wire::Len(s) = wire {
                        let s = String::from_utf8_lossy(s).into_owned();
                        if tag == 1 {
                            api_version = s;
                        } else if tag == 2 {
                            kind = s;
                        }
                    }
                }
            }
            (2, Wire::Len(bytes)) => raw = bytes,
            _ => {}
        }
    }
    let Some((_, _, message)) = schema::ROOTS.iter().find(|(v, k, _)| *v == api_version && *k == kind) else {
        return err(format!("no protobuf schema for {api_version}/{kind}"));
    };
    let mut obj = decode_message(raw, message)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

/// Decodes one message against its schema; unknown field numbers are skipped.
pub fn decode_message(bytes: &[u8], message: Message) -> Result<Map<String, Value>, ProtoError> {
    let mut out = Map::new();
    let mut r = Reader { buf: bytes };
    while let Some((tag, wire)) = r.next()? {
        let Some(field) = message.iter().find(|f| f.tag == tag) else { continue };
        match field.ty {
            Ty::MapStr | Ty::MapBytes | Ty::Map(_) => {
                let Wire::Len(entry) = wire else {
                    return err(format!("{}: map entry is not length-delimited", field.json));
                };
                let (key, value) = decode_map_entry(entry, field.ty)?;
                let map = out.entry(field.json).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(key, value);
                }
            }
            Ty::Inline(m) => {
                let Wire::Len(b) = wire else { return err(format!("{}: not length-delimited", field.json)) };
                out.extend(decode_message(b, m)?);
            }
            // Packed repeated numbers: several varints in one length-delimited field.
            Ty::Int if field.repeated && matches!(wire, Wire::Len(_)) => {
                let Wire::Len(packed) = wire else { unreachable!() };
                let mut p = Reader { buf: packed };
                let list = out.entry(field.json).or_insert_with(|| json!([]));
                while !p.buf.is_empty() {
                    let v = p.varint()? as i64;
                    if let Some(a) = list.as_array_mut() {
                        a.push(json!(v));
                    }
                }
            }
            // An empty string in a list is an element, not an omitted field
            // (a PolicyRule's `apiGroups: [""]`, the core group).
            Ty::Str if field.repeated && matches!(wire, Wire::Len([])) => {
                if let Some(a) = out.entry(field.json).or_insert_with(|| json!([])).as_array_mut() {
                    a.push(json!(""));
                }
            }
            ty => {
                let Some(value) = decode_value(ty, wire, field.json)? else { continue };
                let zero = value == json!(0) || value == json!(false);
                if zero && !field.repeated && !POINTER_FIELDS.contains(&field.json) {
                    continue;
                }
                if field.repeated {
                    if let Some(a) = out.entry(field.json).or_insert_with(|| json!([])).as_array_mut() {
                        a.push(value);
                    }
                } else {
                    out.insert(field.json.to_string(), value);
                }
            }
        }
    }
    Ok(out)
}

fn decode_map_entry(entry: &[u8], ty: Ty) -> Result<(String, Value), ProtoError> {
    let (mut key, mut value) = (String::new(), Value::Null);
    let mut r = Reader { buf: entry };
    while let Some((tag, wire)) = r.next()? {
        match (tag, wire) {
            (1, Wire::Len(k)) => key = String::from_utf8_lossy(k).into_owned(),
            (2, wire) => {
                let vty = match ty {
                    Ty::MapStr => Ty::Str,
                    Ty::MapBytes => Ty::Bytes,
                    Ty::Map(inner) => *inner,
                    other => other,
                };
                // An empty string value is still a value in a map.
                value = match (vty, &wire) {
                    (Ty::Str, Wire::Len(s)) => json!(String::from_utf8_lossy(s)),
                    _ => decode_value(vty, wire, "map value")?.unwrap_or(Value::Null),
                };
            }
            _ => {}
        }
    }
    if value.is_null() && matches!(ty, Ty::MapStr) {
        value = json!("");
    }
    Ok((key, value))
}

/// One value; None for what Go's JSON would omit (an empty string, a zero time).
fn decode_value(ty: Ty, wire: Wire<'_>, name: &str) -> Result<Option<Value>, ProtoError> {
    let mismatch = || ProtoError(format!("{name}: unexpected wire type"));
    Ok(Some(match (ty, wire) {
        (Ty::Str, Wire::Len([])) => return Ok(None),
        (Ty::Str, Wire::Len(s)) => json!(std::str::from_utf8(s).map_err(|_| ProtoError(format!("{name}: not UTF-8")))?),
        (Ty::Int, Wire::Varint(v)) => json!(v as i64),
        (Ty::Bool, Wire::Varint(v)) => json!(v != 0),
        (Ty::Double, Wire::Fixed(b)) if b.len() == 8 => {
            json!(f64::from_le_bytes(b.try_into().map_err(|_| mismatch())?))
        }
        (Ty::Bytes, Wire::Len(b)) => json!(base64(b)),
        (Ty::Msg(m), Wire::Len(b)) => Value::Object(decode_message(b, m)?),
        (Ty::Time, Wire::Len(b)) => {
            let (mut seconds, mut nanos) = (0i64, 0i64);
            let mut r = Reader { buf: b };
            while let Some((tag, wire)) = r.next()? {
                match (tag, wire) {
                    (1, Wire::Varint(v)) => seconds = v as i64,
                    (2, Wire::Varint(v)) => nanos = v as i64,
                    _ => {}
                }
            }
            // An empty message, or Go's zero time (year 1), means "not set".
            if seconds <= -62_135_596_800 || (seconds == 0 && nanos == 0) {
                return Ok(None);
            }
            let ts = jiff::Timestamp::new(seconds, nanos as i32).map_err(|e| ProtoError(format!("{name}: {e}")))?;
            json!(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        (Ty::IntOrString, Wire::Len(b)) => {
            let (mut is_string, mut int, mut string) = (false, 0i64, String::new());
            let mut r = Reader { buf: b };
            while let Some((tag, wire)) = r.next()? {
                match (tag, wire) {
                    (1, Wire::Varint(v)) => is_string = v == 1,
                    (2, Wire::Varint(v)) => int = i64::from(v as i32),
                    (3, Wire::Len(s)) => string = String::from_utf8_lossy(s).into_owned(),
                    _ => {}
                }
            }
            if is_string {
                json!(string)
            } else {
                json!(int)
            }
        }
        (Ty::Quantity | Ty::RawJson, Wire::Len(b)) => {
            let mut inner = Reader { buf: b };
            let mut payload = &[][..];
            while let Some((tag, wire)) = inner.next()? {
                if let (1, Wire::Len(p)) = (tag, wire) {
                    payload = p;
                }
            }
            if matches!(ty, Ty::Quantity) {
                json!(String::from_utf8_lossy(payload))
            } else if payload.is_empty() {
                return Ok(None);
            } else {
                serde_json::from_slice(payload).map_err(|e| ProtoError(format!("{name}: {e}")))?
            }
        }
        _ => return Err(mismatch()),
    }))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal protobuf writer, to build test bodies field by field.
    fn field(tag: u32, wire: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = varint(u64::from(tag) << 3 | u64::from(wire));
        if wire == 2 {
            out.extend(varint(payload.len() as u64));
        }
        out.extend_from_slice(payload);
        out
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn s(tag: u32, text: &str) -> Vec<u8> {
        field(tag, 2, text.as_bytes())
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [s(1, api_version), s(2, kind)].concat();
        [MAGIC.to_vec(), field(1, 2, &type_meta), field(2, 2, raw), s(3, ""), s(4, "")].concat()
    }

    #[test]
    fn decodes_a_service_like_kubectl_create_service() {
        let meta = [s(1, "my-svc"), s(2, ""), field(11, 2, &[s(1, "app"), s(2, "my-svc")].concat())].concat();
        let int_or_string = [field(1, 0, &varint(0)), field(2, 0, &varint(80))].concat();
        let port = [
            s(1, "8080-80"),
            s(2, "TCP"),
            field(3, 0, &varint(8080)),
            field(4, 2, &int_or_string),
            field(5, 0, &varint(0)),
        ]
        .concat();
        let spec =
            [field(1, 2, &port), field(2, 2, &[s(1, "app"), s(2, "my-svc")].concat()), s(3, ""), s(4, "ClusterIP")]
                .concat();
        let body = envelope("v1", "Service", &[field(1, 2, &meta), field(2, 2, &spec), field(3, 2, &[])].concat());
        let obj = decode(&body).unwrap();
        assert_eq!(
            obj,
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "my-svc", "labels": {"app": "my-svc"}},
                "spec": {"ports": [{"name": "8080-80", "protocol": "TCP", "port": 8080, "targetPort": 80}],
                         "selector": {"app": "my-svc"}, "type": "ClusterIP"},
                "status": {},
            })
        );
    }

    /// Bodies recorded from kubectl 1.32 (`testdata/`, see its README).
    #[test]
    fn decodes_what_kubectl_really_sends() {
        let ns = decode(include_bytes!("testdata/post-namespaces.pb")).unwrap();
        assert_eq!(
            ns,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "golden"}, "spec": {}, "status": {}})
        );

        let svc = decode(include_bytes!("testdata/post-services.pb")).unwrap();
        assert_eq!(
            svc,
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "golden2", "labels": {"app": "golden2"}},
                   "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                            "selector": {"app": "golden2"}, "type": "NodePort"},
                   "status": {"loadBalancer": {}}})
        );

        let deploy = decode(include_bytes!("testdata/post-deployments.pb")).unwrap();
        assert_eq!(deploy["kind"], "Deployment");
        assert_eq!(deploy["spec"]["replicas"], 0, "--replicas=0 is a real zero");
        assert_eq!(deploy["spec"]["selector"], json!({"matchLabels": {"app": "golden"}}));
        assert_eq!(deploy["spec"]["template"]["metadata"], json!({"labels": {"app": "golden"}}));
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"],
            json!([{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}], "resources": {}}])
        );
    }

    /// `kubectl create role x --verb=get --resource=pods`: the core group
    /// is an empty string in `apiGroups`, and must stay one.
    #[test]
    fn empty_strings_in_lists_are_kept() {
        let rule = [s(1, "get"), s(2, ""), s(3, "pods")].concat();
        let body =
            envelope("rbac.authorization.k8s.io/v1", "Role", &[field(1, 2, &s(1, "x")), field(2, 2, &rule)].concat());
        let role = decode(&body).unwrap();
        assert_eq!(role["rules"], json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]));
    }

    #[test]
    fn special_types() {
        let time = [field(1, 0, &varint(1_764_000_000)), field(2, 0, &varint(0))].concat();
        let zero = field(1, 0, &varint((-62_135_596_800i64) as u64));
        let meta = [field(8, 2, &time), field(9, 2, &zero)].concat();
        let obj = decode(&envelope("v1", "Namespace", &field(1, 2, &meta))).unwrap();
        assert_eq!(obj["metadata"], json!({"creationTimestamp": "2025-11-24T16:00:00Z"}));
        let named = [field(1, 0, &varint(1)), s(3, "http")].concat();
        assert_eq!(decode_value(Ty::IntOrString, Wire::Len(&named), "x").unwrap(), Some(json!("http")));
        assert_eq!(base64(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        assert!(decode(b"{}").is_err());
        assert!(decode(&envelope("v1", "Widget", &[])).is_err());
        assert!(decode(&[MAGIC, &[0x0a, 0xff]].concat()).is_err());
        let truncated = envelope("v1", "Service", &field(1, 2, &s(1, "x")));
        assert!(decode(&truncated[..truncated.len() - 3]).is_err());
        for len in 0..64 {
            let noise: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = decode(&[MAGIC, &noise].concat());
        }
    }
}
