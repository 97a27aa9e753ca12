//! The requests of `fuzz_http`: generated and mutated Services, Pods,
//! Deployments, Endpoints, EndpointSlices and Namespaces in JSON, YAML and
//! protobuf; the four patch types with garbage; odd paths, queries and
//! headers. Every choice comes from one seeded `fastrand::Rng`.

use fastrand::Rng;
use serde_json::{json, Map, Value};

/// One request as it goes on the wire.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A watch: its answer is a stream that may outlive the read timeout.
    pub streaming: bool,
}

impl Request {
    /// The request as a `curl` command line, to replay a failure by hand.
    pub fn curl(&self, base: &str) -> String {
        let mut out = format!("curl -sS -X {} '{base}{}'", self.method, self.target.replace('\'', "%27"));
        for (k, v) in &self.headers {
            out.push_str(&format!(" -H '{k}: {}'", v.replace('\'', "'\\''")));
        }
        if !self.body.is_empty() {
            let shown: String = String::from_utf8_lossy(&self.body).chars().take(600).collect();
            out.push_str(&format!(" --data-binary '{}'", shown.replace('\'', "'\\''")));
            if self.body.len() > 600 {
                out.push_str(&format!(" # ({} bytes, shown 600)", self.body.len()));
            }
        }
        out
    }
}

/// (collection path, kind, apiVersion, namespaced)
const RESOURCES: [(&str, &str, &str, bool); 8] = [
    ("/api/v1/namespaces/{ns}/services", "Service", "v1", true),
    ("/api/v1/namespaces/{ns}/pods", "Pod", "v1", true),
    ("/apis/apps/v1/namespaces/{ns}/deployments", "Deployment", "apps/v1", true),
    ("/api/v1/namespaces/{ns}/endpoints", "Endpoints", "v1", true),
    ("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", "EndpointSlice", "discovery.k8s.io/v1", true),
    ("/api/v1/namespaces", "Namespace", "v1", false),
    ("/api/v1/nodes", "Node", "v1", false),
    ("/api/v1/namespaces/{ns}/events", "Event", "v1", true),
];

const NAMESPACES: [&str; 5] = ["default", "default", "fuzz", "missing", "kube-system"];
const NAMES: [&str; 10] = ["web", "db", "a", "x-1", "web", "kubernetes", "Bad_Name", "a.b", "-x", "0"];
const PATCH_TYPES: [&str; 5] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/apply-patch+json",
];

/// Bodies kubectl 1.32 really sent (see `crates/api/src/protobuf/testdata`).
const RECORDED_PROTOBUF: [(&str, &[u8]); 3] = [
    ("/api/v1/namespaces/{ns}/services", include_bytes!("../../../api/src/protobuf/testdata/post-services.pb")),
    ("/api/v1/namespaces", include_bytes!("../../../api/src/protobuf/testdata/post-namespaces.pb")),
    (
        "/apis/apps/v1/namespaces/{ns}/deployments",
        include_bytes!("../../../api/src/protobuf/testdata/post-deployments.pb"),
    ),
];

fn pick<T: Clone>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())].clone()
}

/// Characters a path segment may carry only percent-encoded.
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn odd_string(rng: &mut Rng) -> String {
    match rng.u8(..10) {
        0 => String::new(),
        1 => "x".repeat(rng.usize(60..300)),
        2 => "ünïcødé-☃".into(),
        3 => "\u{0}\u{1}\n\t".into(),
        4 => "../../etc".into(),
        5 => "%zz%".into(),
        6 => "a".repeat(64),
        _ => pick(rng, &NAMES).to_string(),
    }
}

/// A number as hostile clients write them.
fn odd_int(rng: &mut Rng) -> Value {
    match rng.u8(..16) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(65536),
        3 => json!(i32::MAX),
        4 => json!(i64::MAX),
        5 => json!(i64::MIN),
        6 => json!(1e300),
        7 => json!(3.5),
        8 => json!("80"),
        9 => Value::Null,
        10 => json!(u64::MAX),
        _ => json!(rng.i64(1..40000)),
    }
}

/// Any JSON value, nested up to `depth`.
pub fn random_json(rng: &mut Rng, depth: u32) -> Value {
    match rng.u8(..if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.bool()),
        2 => odd_int(rng),
        3 | 4 => json!(odd_string(rng)),
        5 => Value::Array((0..rng.usize(..4)).map(|_| random_json(rng, depth - 1)).collect()),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.usize(..4) {
                m.insert(odd_string(rng), random_json(rng, depth - 1));
            }
            Value::Object(m)
        }
    }
}

fn odd_ip(rng: &mut Rng) -> Value {
    json!(pick(
        rng,
        &[
            "10.244.1.5",
            "203.0.113.7",
            "127.0.0.1",
            "0.0.0.0",
            "169.254.169.254",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "2001:db8::1",
            "10.96.0.1",
            "not-an-ip",
            "",
            "999.1.1.1",
        ]
    ))
}

fn port(rng: &mut Rng) -> Value {
    let mut p = json!({ "port": odd_int(rng) });
    if rng.bool() {
        p["targetPort"] = if rng.bool() { odd_int(rng) } else { json!(odd_string(rng)) };
    }
    if rng.u8(..3) == 0 {
        p["nodePort"] = odd_int(rng);
    }
    if rng.bool() {
        p["protocol"] = json!(pick(rng, &["TCP", "UDP", "SCTP", "ICMP", ""]));
    }
    if rng.bool() {
        p["name"] = json!(odd_string(rng));
    }
    p
}

fn pod_spec(rng: &mut Rng) -> Value {
    let container = json!({
        "name": odd_string(rng),
        "image": pick(rng, &["nginx", "nginx:1.25", "", "localhost:5000/x:latest"]),
        "ports": [{ "containerPort": odd_int(rng) }],
        "readinessProbe": if rng.bool() { json!({ "httpGet": { "port": odd_int(rng) }, "periodSeconds": odd_int(rng) }) } else { Value::Null },
    });
    let mut spec = json!({ "containers": if rng.u8(..8) == 0 { json!([]) } else { json!([container]) } });
    if rng.u8(..4) == 0 {
        spec["terminationGracePeriodSeconds"] = odd_int(rng);
    }
    if rng.u8(..4) == 0 {
        spec["nodeName"] = json!(odd_string(rng));
    }
    spec
}

/// A plausible object of `kind`, often wrong in one or two fields.
pub fn object(rng: &mut Rng, kind: &str, api_version: &str, name: &str) -> Value {
    let labels = json!({ "app": pick(rng, &["web", "db", "Bad Value!", ""]) });
    let mut obj = json!({ "apiVersion": api_version, "kind": kind, "metadata": { "name": name, "labels": labels } });
    match kind {
        "Service" => {
            let mut spec = json!({ "ports": (0..rng.usize(..4)).map(|_| port(rng)).collect::<Vec<_>>() });
            if rng.bool() {
                spec["type"] = json!(pick(rng, &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "Nope"]));
            }
            if rng.u8(..3) == 0 {
                spec["clusterIP"] =
                    json!(pick(rng, &["", "None", "10.96.0.50", "10.96.300.1", "garbage", "10.97.0.1", "10.96.0.1"]));
            }
            if rng.u8(..3) == 0 {
                spec["externalIPs"] = json!([odd_ip(rng), odd_ip(rng)]);
            }
            if rng.bool() {
                spec["selector"] = json!({ "app": "web" });
            }
            if rng.u8(..4) == 0 {
                spec["sessionAffinity"] = json!(pick(rng, &["ClientIP", "None", "Sticky"]));
                spec["sessionAffinityConfig"] = json!({ "clientIP": { "timeoutSeconds": odd_int(rng) } });
            }
            if rng.u8(..5) == 0 {
                spec["externalName"] = json!(odd_string(rng));
            }
            obj["spec"] = spec;
        }
        "Pod" => obj["spec"] = pod_spec(rng),
        "Deployment" => {
            obj["spec"] = json!({
                "replicas": odd_int(rng),
                "selector": { "matchLabels": { "app": pick(rng, &["web", "db"]) } },
                "template": { "metadata": { "labels": { "app": pick(rng, &["web", "db"]) } }, "spec": pod_spec(rng) },
                "strategy": { "type": pick(rng, &["RollingUpdate", "Recreate", "Sideways"]),
                              "rollingUpdate": { "maxSurge": pick(rng, &[json!("25%"), json!(1), json!("abc"), json!(-1), json!("200%")]) } },
            });
        }
        "Endpoints" => {
            obj["subsets"] = json!([{ "addresses": [{ "ip": odd_ip(rng) }], "notReadyAddresses": [{ "ip": odd_ip(rng) }],
                                      "ports": [{ "port": odd_int(rng), "protocol": "TCP" }] }]);
        }
        "EndpointSlice" => {
            obj["addressType"] = json!(pick(rng, &["IPv4", "IPv6", "FQDN", "bogus"]));
            obj["endpoints"] = json!([{ "addresses": [odd_ip(rng)], "conditions": { "ready": rng.bool() } }]);
            obj["ports"] = json!([{ "port": odd_int(rng), "protocol": pick(rng, &["TCP", "bogus"]) }]);
        }
        "Node" => obj["status"] = json!({ "addresses": [{ "type": "InternalIP", "address": odd_ip(rng) }] }),
        "Event" => obj["involvedObject"] = json!({ "kind": "Pod", "name": name }),
        _ => {}
    }
    if rng.u8(..3) == 0 {
        mutate(rng, &mut obj, 3);
    }
    obj
}

/// Replaces, removes or retypes a random part of `v`.
pub fn mutate(rng: &mut Rng, v: &mut Value, depth: u32) {
    match v {
        Value::Object(m) if !m.is_empty() && depth > 0 => {
            let key = m.keys().nth(rng.usize(..m.len())).cloned().unwrap_or_default();
            match rng.u8(..4) {
                0 => {
                    m.remove(&key);
                }
                1 => {
                    m.insert(key, random_json(rng, 2));
                }
                _ => mutate(rng, m.get_mut(&key).unwrap_or(&mut Value::Null), depth - 1),
            }
        }
        Value::Array(a) if !a.is_empty() && depth > 0 => {
            let i = rng.usize(..a.len());
            mutate(rng, &mut a[i], depth - 1);
        }
        other => *other = random_json(rng, 2),
    }
}

/// Flips, cuts or inserts bytes: what a broken client or a proxy does.
pub fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..rng.usize(1..4) {
        if bytes.is_empty() {
            bytes.push(rng.u8(..));
            continue;
        }
        let i = rng.usize(..bytes.len());
        match rng.u8(..4) {
            0 => bytes[i] = rng.u8(..),
            1 => bytes.truncate(i),
            2 => bytes.insert(i, rng.u8(..)),
            _ => {
                bytes.remove(i);
            }
        }
    }
}

fn json_patch(rng: &mut Rng) -> Value {
    const PATHS: [&str; 14] = [
        "/spec/ports/0/port",
        "/spec/ports/-",
        "/metadata/labels/a",
        "/metadata/name",
        "/metadata",
        "",
        "/",
        "/spec/replicas",
        "/spec/ports/99999999999999999999",
        "/a~2b",
        "/metadata/resourceVersion",
        "/status",
        "/kind",
        "/spec",
    ];
    let ops = (0..rng.usize(..6))
        .map(|_| {
            let mut op = json!({ "op": pick(rng, &["add", "remove", "replace", "move", "copy", "test", "bogus"]), "path": pick(rng, &PATHS) });
            if rng.u8(..3) > 0 {
                op["value"] = random_json(rng, 2);
            }
            if rng.bool() {
                op["from"] = json!(pick(rng, &PATHS));
            }
            if rng.u8(..10) == 0 {
                mutate(rng, &mut op, 1);
            }
            op
        })
        .collect::<Vec<_>>();
    if rng.u8(..10) == 0 {
        random_json(rng, 2)
    } else {
        Value::Array(ops)
    }
}

fn strategic_patch(rng: &mut Rng) -> Value {
    pick(
        rng,
        &[
            json!({ "spec": { "ports": [{ "$patch": "delete", "port": 80 }] } }),
            json!({ "spec": { "$setElementOrder/ports": [{ "port": 1 }, { "nope": 2 }], "ports": [{ "port": 1 }] } }),
            json!({ "$patch": "replace" }),
            json!({ "$patch": "garbage" }),
            json!({ "metadata": { "$deleteFromPrimitiveList/finalizers": ["x", 5] } }),
            json!({ "spec": { "$retainKeys": ["ports"], "ports": null } }),
            json!({ "spec": { "template": { "spec": { "containers": [{ "name": "c", "$patch": "delete" }] } } } }),
            json!({ "spec": { "containers": [{ "image": "no-name" }] } }),
            json!({ "metadata": { "labels": null }, "spec": null }),
        ],
    )
}

/// The path of a request for `resource`, sometimes with a name and subresource.
fn path(rng: &mut Rng, collection: &str, namespaced: bool) -> (String, bool) {
    let ns = pick(rng, &NAMESPACES);
    let mut p = collection.replace("{ns}", &encode_segment(if rng.u8(..20) == 0 { "Bad_NS" } else { ns }));
    let named = rng.u8(..3) > 0;
    if named {
        let name = if rng.u8(..10) == 0 { odd_string(rng) } else { pick(rng, &NAMES).to_string() };
        p.push('/');
        p.push_str(&encode_segment(&name));
        if rng.u8(..5) == 0 {
            p.push('/');
            p.push_str(pick(rng, &["status", "scale", "binding", "finalize", "exec", "status/extra"]));
        }
    }
    if !namespaced && rng.u8(..10) == 0 {
        p = format!("/api/v1/namespaces/default/{}", p.rsplit('/').next().unwrap_or(""));
    }
    (p, named)
}

const ODD_PATHS: [&str; 14] = [
    "/",
    "//api//v1//",
    "/api",
    "/api/v2/pods",
    "/apis/apps/v1",
    "/apis/nope.io/v1/things",
    "/api/v1/namespaces/default/services/a/b/c/d",
    "/api/v1/namespaces/%00/services",
    "/api/v1/namespaces/default/../kube-system/services",
    "/healthz",
    "/readyz",
    "/version",
    "/openapi/v3/api/v1",
    "/metrics",
];

fn query(rng: &mut Rng) -> (String, bool) {
    const PAIRS: [&str; 26] = [
        "dryRun=All",
        "dryRun=Everything",
        "fieldValidation=Strict",
        "fieldValidation=Loud",
        "fieldManager=fuzz",
        "fieldManager=",
        "labelSelector=app%3Dweb",
        "labelSelector=a+in+(",
        "labelSelector=!!",
        "fieldSelector=spec.nodeName%3Dx",
        "fieldSelector=nope%3D1",
        "fieldSelector=metadata.name",
        "limit=-1",
        "limit=abc",
        "limit=99999999999999999999",
        "resourceVersion=abc",
        "resourceVersion=-5",
        "gracePeriodSeconds=-1",
        "gracePeriodSeconds=abc",
        "gracePeriodSeconds=9223372036854775807",
        "propagationPolicy=Sideways",
        "continue=garbage",
        "%zz=%zz",
        "&&&",
        "pretty=true",
        "timeout=32s",
    ];
    let mut parts: Vec<String> = (0..rng.usize(..4)).map(|_| pick(rng, &PAIRS).to_string()).collect();
    let watch = rng.u8(..200) == 0;
    if watch {
        // First, so it wins over any other timeoutSeconds: the stream ends by itself.
        parts.insert(0, "timeoutSeconds=1".into());
        parts.push(pick(rng, &["watch=true", "watch=1"]).into());
        if rng.bool() {
            parts
                .push(pick(rng, &["resourceVersion=1", "resourceVersion=99999999", "allowWatchBookmarks=true"]).into());
        }
    }
    (if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }, watch)
}

fn accept(rng: &mut Rng) -> Option<&'static str> {
    match rng.u8(..8) {
        0 => Some(api::well_known::TABLE_ACCEPT),
        1 => Some("application/vnd.kubernetes.protobuf"),
        2 => Some("*/*"),
        3 => Some(";;;garbage"),
        4 => Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"),
        _ => None,
    }
}

/// A body for `kind`, encoded one way or another: (bytes, content type).
fn body(rng: &mut Rng, kind: &str, api_version: &str, name: &str, collection: &str) -> (Vec<u8>, String) {
    if let Some((_, recorded)) = RECORDED_PROTOBUF.iter().find(|(c, _)| *c == collection) {
        if rng.u8(..4) == 0 {
            let mut bytes = recorded.to_vec();
            if rng.u8(..4) > 0 {
                mutate_bytes(rng, &mut bytes);
            }
            return (bytes, "application/vnd.kubernetes.protobuf".into());
        }
    }
    let obj = object(rng, kind, api_version, name);
    let (mut bytes, ct) = match rng.u8(..4) {
        0 => (serde_yaml::to_string(&obj).unwrap_or_default().into_bytes(), "application/yaml"),
        _ => (serde_json::to_vec(&obj).unwrap_or_default(), "application/json"),
    };
    if rng.u8(..6) == 0 {
        mutate_bytes(rng, &mut bytes);
    }
    (bytes, ct.into())
}

const YAML_BOMB: &str = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n";

/// The next request of the run.
pub fn request(rng: &mut Rng) -> Request {
    let (collection, kind, api_version, namespaced) = pick(rng, &RESOURCES);
    let (mut target, named) = path(rng, collection, namespaced);
    let name = target.rsplit('/').next().unwrap_or("x").to_string();
    let method = match rng.u8(..20) {
        0..=4 => "GET",
        5..=8 if named => "PUT",
        9..=13 if named => "PATCH",
        5..=13 => "POST",
        14..=16 => "DELETE",
        17 => pick(rng, &["OPTIONS", "HEAD", "FOO"]),
        _ => "POST",
    };
    if rng.u8(..25) == 0 {
        target = pick(rng, &ODD_PATHS).to_string();
    }
    let (q, streaming) = if method == "GET" { query(rng) } else { (query(rng).0.replace("watch", "w"), false) };
    target.push_str(&q);
    let mut headers = Vec::new();
    let (mut payload, mut ct) = match method {
        // Scheduled pods are where graceful deletion (and its arithmetic) starts.
        "POST" if target.contains("/binding") => {
            let binding = json!({ "apiVersion": "v1", "kind": "Binding", "metadata": { "name": name }, "target": { "kind": "Node", "name": pick(rng, &["node1", "", "Bad_Node"]) } });
            (serde_json::to_vec(&binding).unwrap_or_default(), "application/json".into())
        }
        "POST" | "PUT" => body(rng, kind, api_version, &name, collection),
        "PATCH" => {
            let ct = pick(rng, &PATCH_TYPES).to_string();
            let patch = match ct.as_str() {
                "application/json-patch+json" => json_patch(rng),
                "application/strategic-merge-patch+json" if rng.bool() => strategic_patch(rng),
                _ if rng.u8(..5) == 0 => pick(rng, &[json!([]), json!({ "metadata": [] }), json!("str"), json!(null)]),
                _ => object(rng, kind, api_version, &name),
            };
            let bytes = if ct.ends_with("yaml") && rng.bool() {
                serde_yaml::to_string(&patch).unwrap_or_default().into_bytes()
            } else {
                serde_json::to_vec(&patch).unwrap_or_default()
            };
            (bytes, ct)
        }
        "DELETE" if rng.bool() => {
            let opts = json!({ "kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": odd_int(rng),
                               "propagationPolicy": pick(rng, &["Foreground", "Orphan", "Sideways"]), "dryRun": pick(rng, &[json!(["All"]), json!("All"), json!([])]) });
            (serde_json::to_vec(&opts).unwrap_or_default(), "application/json".into())
        }
        _ => (Vec::new(), String::new()),
    };
    match rng.u8(..40) {
        0 => (payload, ct) = (YAML_BOMB.as_bytes().to_vec(), "application/yaml".into()),
        1 => {
            (payload, ct) =
                (format!("{}1{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(), "application/json".into())
        }
        2 => ct = pick(rng, &["text/plain", "application/cbor", ";;", "application/json; charset=utf-16"]).to_string(),
        3 => ct = "x".repeat(300),
        4 => payload = vec![0xff, 0xfe, 0x00, 0x7b],
        _ => {}
    }
    if !ct.is_empty() && rng.u8(..30) > 0 {
        headers.push(("Content-Type".into(), ct));
    }
    if let Some(a) = accept(rng) {
        headers.push(("Accept".into(), a.into()));
    }
    if rng.u8(..30) == 0 {
        headers.push(pick(
            rng,
            &[
                ("X-Huge".to_string(), "h".repeat(6000)),
                ("Authorization".to_string(), "Bearer garbage".to_string()),
                ("Impersonate-User".to_string(), "system:admin".to_string()),
                ("Accept-Encoding".to_string(), "gzip, br, zstd".to_string()),
                ("Expect".to_string(), "100-continue".to_string()),
            ],
        ));
    }
    Request { method: method.into(), target, headers, body: payload, streaming }
}
