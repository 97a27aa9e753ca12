//! The amplification requests of issue #11 are refused, and the apiserver's
//! memory stays small while it refuses them: a 2 KB JSON patch of doubling
//! copies (before the fix: 3.5 GB RSS), a patch of 20,000 operations, and a
//! YAML body of nested aliases (a "billion laughs").

mod support;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{json_call, send, LoggedApiserver};

const LIMIT_MB: f64 = 100.0;
const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments";

fn patch(addr: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let headers = [("Content-Type".to_string(), content_type.to_string())];
    let target = format!("{DEPLOY}/web?fieldManager=patch-memory");
    let a = send(addr, "PATCH", &target, &headers, body, Duration::from_secs(60), false).expect("an answer");
    (a.status, serde_json::from_slice(&a.body).unwrap_or(Value::Null))
}

/// Runs `work` while sampling the process's RSS every 10 ms; the peak, in MB.
fn peak_rss_during<T>(pid: u32, work: impl FnOnce() -> T) -> (T, f64) {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak: f64 = 0.0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(informer::process::rss_mb(pid));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak.max(informer::process::rss_mb(pid))
        });
        let out = work();
        done.store(true, Ordering::Relaxed);
        (out, sampler.join().unwrap())
    })
}

#[test]
fn amplifying_requests_are_refused_within_100_mb() {
    let etcd = e2e::Etcd::start();
    let server = LoggedApiserver::start(&etcd.url, &[]);
    let pid = server.pid().unwrap();
    let deploy = json!({"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},
        "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}}}});
    assert_eq!(json_call(&server.addr, "POST", DEPLOY, "application/json", &deploy).0, 201);
    let before = informer::process::rss_mb(pid);

    // The request: one value, then 40 copies that each double it.
    let mut ops = vec![json!({"op":"add","path":"/x","value":["0123456789abcdef0123456789abcdef"]})];
    ops.extend((0..40).map(|_| json!({"op":"copy","from":"/x","path":"/x/-"})));
    let doubling = serde_json::to_vec(&ops).unwrap();
    assert!(doubling.len() < 2000, "a small request: {} bytes", doubling.len());
    let ((code, status), peak) = peak_rss_during(pid, || patch(&server.addr, "application/json-patch+json", &doubling));
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")), "{status}");
    let message = status["message"].as_str().unwrap_or("");
    assert!(message.contains("Unable to complete the copy, the accumulated size increase of copy is "), "{message}");
    assert!(message.ends_with("exceeding the limit 3145728"), "{message}");
    println!(
        "patch_memory: doubling copy patch of {} bytes: {code}, RSS {before:.1} MB before, peak {peak:.1} MB",
        doubling.len()
    );
    assert!(peak < LIMIT_MB, "RSS peaked at {peak:.1} MB");

    // 20,000 operations: refused before any applies, as upstream does.
    let many: Vec<Value> =
        (0..20_000).map(|i| json!({"op":"add","path":format!("/metadata/labels/l{i}"),"value":"v"})).collect();
    let ((code, status), peak) = peak_rss_during(pid, || {
        patch(&server.addr, "application/json-patch+json", &serde_json::to_vec(&many).unwrap())
    });
    assert_eq!((code, status["reason"].as_str()), (413, Some("RequestEntityTooLarge")), "{status}");
    assert_eq!(
        status["message"],
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 20000"
    );
    println!("patch_memory: 20,000-operation patch: {code}, peak {peak:.1} MB");
    assert!(peak < LIMIT_MB, "RSS peaked at {peak:.1} MB");

    // Nested YAML aliases: 10^8 strings if expanded.
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g"].iter().zip(["b", "c", "d", "e", "f", "g", "h"]) {
        bomb.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{prev}"); 10].join(",")));
    }
    let ((code, status), peak) =
        peak_rss_during(pid, || patch(&server.addr, "application/apply-patch+yaml", bomb.as_bytes()));
    assert!(code == 400 || code == 422, "{code} {status}");
    assert_eq!(status["kind"], "Status");
    println!(
        "patch_memory: YAML alias bomb of {} bytes: {code} {:?}, peak {peak:.1} MB",
        bomb.len(),
        status["message"]
    );
    assert!(peak < LIMIT_MB, "RSS peaked at {peak:.1} MB");

    // The Deployment is as it was, and nothing panicked.
    let (code, now) = json_call(&server.addr, "GET", &format!("{DEPLOY}/web"), "", &Value::Null);
    assert_eq!(code, 200);
    assert!(now.get("x").is_none() && now["metadata"].get("labels").is_none(), "{now}");
    assert!(server.panics().is_empty(), "{:?}", server.panics());
}
