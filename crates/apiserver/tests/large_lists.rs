//! Lists longer than one etcd page (500 keys), against a real etcd: they are
//! streamed a page at a time, and the objects copied from their stored text
//! (a list that selects nothing) are the very bytes of the same objects
//! decoded (a list with a selector, a GET of one): the fast path is not
//! allowed to show a learner anything a decoded object would not.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::{send, Answer, LoggedApiserver};

const PODS: &str = "/api/v1/namespaces/default/pods";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const COUNT: usize = 1_100;

fn get(addr: &str, path: &str, accept: &str) -> Answer {
    let headers = [("Accept".to_string(), accept.to_string())];
    let answer = send(addr, "GET", path, &headers, b"", Duration::from_secs(30), false).expect("answer");
    assert_eq!(answer.status, 200, "{path}: {}", String::from_utf8_lossy(&answer.body));
    answer
}

fn chunked(answer: &Answer) -> bool {
    answer.head.to_ascii_lowercase().contains("transfer-encoding: chunked")
}

/// Fails at the first byte where two lists differ, showing what is around it.
fn same_text(a: &[u8], b: &[u8]) {
    if let Some(at) = a.iter().zip(b).position(|(x, y)| x != y).or((a.len() != b.len()).then(|| a.len().min(b.len()))) {
        let around =
            |t: &[u8]| String::from_utf8_lossy(&t[at.saturating_sub(120)..(at + 120).min(t.len())]).into_owned();
        panic!("the lists differ at byte {at}:\n copied:  ...{}...\n decoded: ...{}...", around(a), around(b));
    }
}

/// A Table with each row's age blanked (two requests may straddle a second).
fn ageless(table: &[u8]) -> Value {
    let mut table: Value = serde_json::from_slice(table).expect("a Table");
    let age = table["columnDefinitions"].as_array().unwrap().iter().position(|c| c["name"] == "Age").unwrap();
    for row in table["rows"].as_array_mut().unwrap() {
        row["cells"][age] = json!("");
    }
    table
}

#[test]
fn long_lists_stream_and_copied_objects_are_their_decoded_selves() {
    let etcd = e2e::Etcd::start();
    let server = LoggedApiserver::start(&etcd.url, &[]);
    // Pods as a Deployment's are: labels, an owner, a container with ports
    // and env, a status, managedFields; a few with text that needs escaping.
    std::thread::scope(|s| {
        for t in 0..4 {
            let addr = server.addr.clone();
            s.spawn(move || {
                for i in (t..COUNT).step_by(4) {
                    let pod = json!({"metadata": {"name": format!("web-{i:04}"), "labels": {"app": "web", "pod-template-hash": "77b578b6d"},
                            "annotations": {"note": format!("line\n\"{i}\" é \u{1F600} <&>")},
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-77b578b6d",
                                "uid": "6d8f0c4e-2b1a-4c3d-9e8f-0a1b2c3d4e5f", "controller": true}]},
                        "spec": {"nodeName": format!("node{}", i % 3), "containers": [{"name": "web", "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}], "env": [{"name": "MODE", "value": "production"}]}]}});
                    let (code, body) = support::json_call(&addr, "POST", PODS, "application/json", &pod);
                    assert_eq!(code, 201, "{body}");
                }
            });
        }
    });

    // Copied (no selector) and decoded (a selector every pod matches): the same bytes.
    let copied = get(&server.addr, PODS, "application/json");
    let decoded = get(&server.addr, &format!("{PODS}?labelSelector=app%3Dweb"), "application/json");
    assert!(chunked(&copied) && chunked(&decoded), "a list of {COUNT} is sent a page at a time:\n{}", copied.head);
    let list: Value = serde_json::from_slice(&copied.body).expect("the streamed list is whole JSON");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(COUNT));
    same_text(&copied.body, &decoded.body);
    let text = String::from_utf8(copied.body).unwrap();
    assert!(
        text.starts_with(r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":""#),
        "{}",
        &text[..80]
    );

    // Each listed pod is its GET's text, Go's field order and resourceVersion included.
    for item in [0, 499, 500, COUNT - 1] {
        let name = format!("web-{item:04}");
        let one = get(&server.addr, &format!("{PODS}/{name}"), "application/json");
        let one = String::from_utf8(one.body).unwrap();
        assert!(text.contains(&one), "{name} as listed differs from its GET:\n{}", &one[..one.len().min(600)]);
    }

    // Tables: the same rows copied or decoded; every pod a row.
    let copied = get(&server.addr, PODS, TABLE);
    let decoded = get(&server.addr, &format!("{PODS}?labelSelector=app%3Dweb"), TABLE);
    assert!(chunked(&copied));
    let table = ageless(&copied.body);
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(COUNT));
    same_text(&serde_json::to_vec(&table).unwrap(), &serde_json::to_vec(&ageless(&decoded.body)).unwrap());
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(table["rows"][0]["cells"][0], "web-0000");
    for q in ["includeObject=Object", "includeObject=None"] {
        let table = |path: String| serde_json::to_vec(&ageless(&get(&server.addr, &path, TABLE).body)).unwrap();
        same_text(&table(format!("{PODS}?{q}")), &table(format!("{PODS}?{q}&labelSelector=app%3Dweb")));
    }

    // A list of one page is answered whole, its length declared.
    let small = get(&server.addr, "/api/v1/namespaces", "application/json");
    assert!(!chunked(&small) && small.head.to_ascii_lowercase().contains("content-length"), "{}", small.head);
    assert_eq!(server.panics(), Vec::<String>::new());
}
