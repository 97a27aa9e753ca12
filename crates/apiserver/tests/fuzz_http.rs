//! A seeded fuzz test of the HTTP surface, against one real apiserver on
//! real etcd: generated and mutated bodies (JSON, YAML, protobuf), the four
//! patch types with garbage, odd paths, queries and headers.
//!
//! What must hold for every request: an answer (no dropped connection, no
//! stall), no 5xx for a client's mistake, every error body a `Status`; and
//! afterwards: no panic in the apiserver's log, the server still answering.
//!
//! The seed is printed; `FUZZ_SEED=<n>` replays it, `FUZZ_REQUESTS=<n>`
//! changes the count (10,000 by default), `FUZZ_THREADS=1` makes the order
//! of requests (not only their content) reproducible.

#[path = "fuzz_http/requests.rs"]
mod requests;
mod support;

use requests::{request, Request};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{json_call, send, LoggedApiserver};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What is wrong with an answer, if anything.
fn problem(req: &Request, answer: &Result<support::Answer, String>) -> Option<String> {
    let answer = match answer {
        Err(e) => return Some(format!("no answer: {e}")),
        Ok(a) => a,
    };
    if answer.status >= 500 {
        return Some(format!("{} for a client's request: {}", answer.status, String::from_utf8_lossy(&answer.body)));
    }
    if answer.status < 400 || req.method == "HEAD" {
        return None;
    }
    let status: serde_json::Value = match serde_json::from_slice(&answer.body) {
        Ok(v) => v,
        Err(_) => {
            let shown: String = String::from_utf8_lossy(&answer.body).chars().take(200).collect();
            return Some(format!("{} with a body that is not JSON: {shown:?}", answer.status));
        }
    };
    if status["kind"] != "Status" || status["code"] != answer.status {
        return Some(format!("{} with a body that is not its Status: {status}", answer.status));
    }
    None
}

/// A failure kind, for grouping: status and the first words of the problem.
fn category(problem: &str) -> String {
    problem.split([':', '{']).next().unwrap_or(problem).chars().take(60).collect()
}

#[test]
fn hostile_requests_get_statuses_not_panics() {
    let etcd = e2e::Etcd::start();
    let server = LoggedApiserver::start(&etcd.url, &[]);
    let (code, _) = json_call(
        &server.addr,
        "POST",
        "/api/v1/namespaces",
        "application/json",
        &serde_json::json!({"metadata":{"name":"fuzz"}}),
    );
    assert_eq!(code, 201);

    let seed: u64 = env_or("FUZZ_SEED", fastrand::u64(..));
    let total: usize = env_or("FUZZ_REQUESTS", 10_000);
    let threads: usize = env_or("FUZZ_THREADS", 8).max(1);
    println!("fuzz_http: FUZZ_SEED={seed} FUZZ_REQUESTS={total} FUZZ_THREADS={threads}");

    let failures: Arc<Mutex<BTreeMap<String, (usize, String)>>> = Arc::default();
    let codes: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let slowest: Arc<Mutex<Vec<(Duration, String)>>> = Arc::default();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (failures, codes, slowest) = (failures.clone(), codes.clone(), slowest.clone());
            let (addr, url) = (server.addr.clone(), server.url.clone());
            scope.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(t as u64));
                for _ in (t..total).step_by(threads) {
                    let req = request(&mut rng);
                    let timeout = Duration::from_secs(if req.streaming { 3 } else { 20 });
                    let sent = Instant::now();
                    let answer = send(&addr, &req.method, &req.target, &req.headers, &req.body, timeout, req.streaming);
                    let took = sent.elapsed();
                    let mut slow = slowest.lock().unwrap();
                    if slow.len() < 3 || took > slow[slow.len() - 1].0 {
                        slow.push((took, req.curl(&url)));
                        slow.sort_by_key(|(took, _)| std::cmp::Reverse(*took));
                        slow.truncate(3);
                    }
                    drop(slow);
                    if let Ok(a) = &answer {
                        *codes.lock().unwrap().entry(a.status).or_default() += 1;
                    }
                    if let Some(p) = problem(&req, &answer) {
                        let mut f = failures.lock().unwrap();
                        let entry =
                            f.entry(category(&p)).or_insert_with(|| (0, format!("{p}\n    {}", req.curl(&url))));
                        entry.0 += 1;
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    for (took, curl) in slowest.lock().unwrap().iter() {
        println!("fuzz_http: slow ({:.1} s): {curl}", took.as_secs_f64());
    }
    println!(
        "fuzz_http: {total} requests in {:.1} s; answers by code: {:?}",
        elapsed.as_secs_f64(),
        codes.lock().unwrap()
    );

    // Still answering, and nothing panicked on the way.
    let (code, list) =
        json_call(&server.addr, "GET", "/api/v1/namespaces/default/services", "", &serde_json::Value::Null);
    assert_eq!((code, list["kind"].as_str()), (200, Some("ServiceList")), "the apiserver stopped answering");
    let panics = server.panics();
    let failures = failures.lock().unwrap();
    let report: Vec<String> =
        failures.iter().map(|(cat, (n, example))| format!("- {n} x {cat}\n    e.g. {example}")).collect();
    assert!(
        failures.is_empty() && panics.is_empty(),
        "FUZZ_SEED={seed}: {} kinds of failure, {} panics in the log\n{}\npanics:\n{}",
        failures.len(),
        panics.len(),
        report.join("\n"),
        panics.join("\n")
    );
}
