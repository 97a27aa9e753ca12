//! etcd unavailable under one apiserver, twice: frozen (`SIGSTOP`, the
//! outage that hangs a careless server: connections stay open, nothing
//! answers) and killed (then started again on its data). Through both:
//!
//! - every request is answered with a `Status` within `--request-timeout`,
//!   never left hanging;
//! - `/readyz` turns not ready naming the etcd check, and ready again by
//!   itself once etcd is back;
//! - a kube-rs watcher opened before the outage sees the changes made after
//!   it without relisting (it resumes from its resourceVersion; a relist
//!   would show as a new `Init`), and agrees with a fresh list at the end.

use e2e::{eventually, http, Apiserver, Etcd};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const SVCS: &str = "/api/v1/namespaces/default/services";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// What a loaded 2-core machine may add to an answer's time.
const SLACK: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
enum Outage {
    Frozen,
    Killed,
}

/// A watcher event, reduced to what the test checks.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Init,
    Apply(String),
    Delete(String),
    InitDone,
}

fn spawn_watcher(api: Api<Service>) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
        while let Some(ev) = stream.next().await {
            let name = |s: &Service| s.metadata.name.clone().unwrap_or_default();
            let seen = match ev {
                Ok(watcher::Event::Init) => Seen::Init,
                Ok(watcher::Event::InitApply(s) | watcher::Event::Apply(s)) => Seen::Apply(name(&s)),
                Ok(watcher::Event::InitDone) => Seen::InitDone,
                Ok(watcher::Event::Delete(s)) => Seen::Delete(name(&s)),
                Err(_) => continue, // a failed re-watch: the watcher retries by itself
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    rx
}

/// Events until `want` arrives, and what arrived on the way.
async fn until(rx: &mut mpsc::UnboundedReceiver<Seen>, want: &Seen) -> Vec<Seen> {
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{want:?} in time; saw {seen:?}"))
            .expect("watcher alive");
        let done = ev == *want;
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

/// One raw request, its status, its body as JSON (Null if not JSON), and how long it took.
async fn timed(method: &'static str, url: &str, path: String, body: Value) -> (u16, Value, Duration) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let body = if body.is_null() { String::new() } else { body.to_string() };
        let ct = (!body.is_empty()).then_some("application/json");
        let (code, text) = http(method, &url, &path, ct, &body);
        (code, serde_json::from_str(&text).unwrap_or(Value::Null), started.elapsed())
    })
    .await
    .unwrap()
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
}

fn service(name: &str) -> Value {
    json!({"metadata":{"name":name},"spec":{"ports":[{"port":80}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_fast_and_watches_resume_across_etcd_outages() {
    let mut etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &["--request-timeout", "3s"]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let svcs: Api<Service> = Api::default_namespaced(client);
    svcs.create(&PostParams::default(), &serde_json::from_value(service("before")).unwrap()).await.unwrap();
    let mut rx = spawn_watcher(svcs.clone());
    let first = until(&mut rx, &Seen::InitDone).await;
    assert!(first.contains(&Seen::Apply("before".into())), "{first:?}");
    // What the watcher says exists, from every event it delivers.
    let mut known = BTreeSet::new();
    let mut follow = |events: &[Seen]| {
        for ev in events {
            match ev {
                Seen::Apply(n) => {
                    known.insert(n.clone());
                }
                Seen::Delete(n) => {
                    known.remove(n);
                }
                Seen::Init | Seen::InitDone => {}
            }
        }
    };
    follow(&first);

    for outage in [Outage::Frozen, Outage::Killed] {
        let pid = etcd.pid().expect("etcd runs");
        match outage {
            Outage::Frozen => signal(pid, "-STOP"),
            Outage::Killed => etcd.stop(),
        }

        // A write needs etcd: a Status, in time. Frozen, the apiserver cannot
        // know whether the write landed (504, as upstream); killed, it knows
        // etcd is unreachable (503) or times out trying (504).
        let lost = format!("during-{outage:?}").to_lowercase();
        let (code, status, took) = timed("POST", &api.url, SVCS.into(), service(&lost)).await;
        assert!(matches!(code, 503 | 504), "{outage:?}: POST answered {code} {status}");
        assert_eq!((status["kind"].as_str(), status["code"].as_u64()), (Some("Status"), Some(code.into())), "{status}");
        assert!(took <= REQUEST_TIMEOUT + SLACK, "{outage:?}: POST took {took:?}");
        println!("{outage:?}: POST answered {code} in {took:?}");
        // A read may come from the watch cache (200) but must not hang either.
        let (code, body, took) = timed("GET", &api.url, format!("{SVCS}/before"), Value::Null).await;
        assert!(code == 200 || body["kind"] == "Status", "{outage:?}: GET answered {code} {body}");
        assert!(took <= REQUEST_TIMEOUT + SLACK, "{outage:?}: GET took {took:?}");

        let url = api.url.clone();
        let (_, verbose) = tokio::task::spawn_blocking(move || {
            eventually("readyz names etcd", || http("GET", &url, "/readyz?verbose", None, ""), |(c, _)| *c == 500)
        })
        .await
        .unwrap();
        assert!(verbose.contains("[-]etcd failed: reason withheld\n"), "{verbose}");
        assert!(verbose.ends_with("readyz check failed\n"), "{verbose}");

        let outage_began = Instant::now();
        match outage {
            Outage::Frozen => signal(pid, "-CONT"),
            Outage::Killed => etcd.resume(),
        }
        let url = api.url.clone();
        tokio::task::spawn_blocking(move || {
            eventually("ready again", || http("GET", &url, "/readyz", None, ""), |(c, b)| *c == 200 && b == "ok")
        })
        .await
        .unwrap();
        println!("{outage:?}: ready again {:?} after etcd came back", outage_began.elapsed());

        // Changes after the outage reach the old watcher, without a relist.
        let after = format!("after-{outage:?}").to_lowercase();
        let (code, _, _) = timed("POST", &api.url, SVCS.into(), service(&after)).await;
        assert_eq!(code, 201, "{outage:?}: writes work again");
        let seen = until(&mut rx, &Seen::Apply(after.clone())).await;
        assert!(!seen.contains(&Seen::Init), "{outage:?}: the watcher had to relist: {seen:?}");
        follow(&seen);
    }

    // The watcher's picture equals a fresh list, including whatever became
    // of the writes answered during the outages.
    let (code, _, _) = timed("POST", &api.url, SVCS.into(), service("last")).await;
    assert_eq!(code, 201);
    let seen = until(&mut rx, &Seen::Apply("last".into())).await;
    assert!(!seen.contains(&Seen::Init), "relisted at the end: {seen:?}");
    follow(&seen);
    let listed: BTreeSet<String> =
        svcs.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|s| s.metadata.name).collect();
    assert_eq!(known, listed);
}
