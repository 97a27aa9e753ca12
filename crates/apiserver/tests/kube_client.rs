//! The `kube` crate (kube-rs 5) against the apiserver: typed list, the
//! runtime watcher through create, update and delete, streaming lists, and
//! a watch that resumes from a revision the apiserver no longer holds.

use e2e::{Apiserver, Etcd};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

fn client(api: &Apiserver) -> Client {
    Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap()
}

fn service(name: &str) -> Service {
    serde_json::from_value(json!({"metadata":{"name":name},"spec":{"ports":[{"port":80}]}})).unwrap()
}

/// A watcher event, reduced to what the test checks.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Init,
    InitApply(String),
    InitDone,
    Apply(String, Option<String>),
    Delete(String),
}

fn spawn_watcher(api: Api<Service>, config: watcher::Config) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher(api, config).default_backoff().boxed();
        while let Some(ev) = stream.next().await {
            let name = |s: &Service| s.metadata.name.clone().unwrap_or_default();
            let seen = match ev {
                Ok(watcher::Event::Init) => Seen::Init,
                Ok(watcher::Event::InitApply(s)) => Seen::InitApply(name(&s)),
                Ok(watcher::Event::InitDone) => Seen::InitDone,
                Ok(watcher::Event::Apply(s)) => {
                    Seen::Apply(name(&s), s.metadata.labels.as_ref().and_then(|l| l.get("tier").cloned()))
                }
                Ok(watcher::Event::Delete(s)) => Seen::Delete(name(&s)),
                Err(_) => continue,
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("watcher event in time")
        .expect("watcher alive")
}

/// Waits for an event matching `want`, skipping others (bookmarks, retries).
async fn expect(rx: &mut mpsc::UnboundedReceiver<Seen>, want: impl Fn(&Seen) -> bool) -> Seen {
    loop {
        let ev = next(rx).await;
        if want(&ev) {
            return ev;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_watch_services_with_kube_rs() {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let svcs: Api<Service> = Api::default_namespaced(client(&api));

    let list = svcs.list(&ListParams::default()).await.unwrap();
    assert!(!list.metadata.resource_version.clone().unwrap_or_default().is_empty());
    let kubernetes =
        list.items.iter().find(|s| s.metadata.name.as_deref() == Some("kubernetes")).expect("kubernetes Service");
    assert_eq!(kubernetes.spec.as_ref().unwrap().cluster_ip.as_deref(), Some("10.96.0.1"));

    let mut rx = spawn_watcher(svcs.clone(), watcher::Config::default());
    assert_eq!(next(&mut rx).await, Seen::Init);
    expect(&mut rx, |e| *e == Seen::InitDone).await;

    let created = svcs.create(&PostParams::default(), &service("w1")).await.unwrap();
    assert!(created.spec.unwrap().cluster_ip.unwrap().starts_with("10."));
    assert_eq!(expect(&mut rx, |e| matches!(e, Seen::Apply(..))).await, Seen::Apply("w1".into(), None));

    svcs.patch("w1", &PatchParams::default(), &Patch::Merge(json!({"metadata":{"labels":{"tier":"web"}}})))
        .await
        .unwrap();
    assert_eq!(expect(&mut rx, |e| matches!(e, Seen::Apply(..))).await, Seen::Apply("w1".into(), Some("web".into())));

    svcs.delete("w1", &DeleteParams::default()).await.unwrap();
    assert_eq!(expect(&mut rx, |e| matches!(e, Seen::Delete(_))).await, Seen::Delete("w1".into()));

    // Streaming lists: initial events, then the `initial-events-end` bookmark.
    let mut streaming = spawn_watcher(svcs.clone(), watcher::Config::default().streaming_lists());
    assert_eq!(next(&mut streaming).await, Seen::Init);
    let first = next(&mut streaming).await;
    assert_eq!(first, Seen::InitApply("kubernetes".into()));
    expect(&mut streaming, |e| *e == Seen::InitDone).await;
    svcs.create(&PostParams::default(), &service("w2")).await.unwrap();
    assert_eq!(expect(&mut streaming, |e| matches!(e, Seen::Apply(..))).await, Seen::Apply("w2".into(), None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_an_expired_revision_relists() {
    let etcd = Etcd::start();
    let bin = Path::new(env!("CARGO_BIN_EXE_apiserver"));
    let mut a = Apiserver::start(bin, &etcd, &["--watch-cache-size", "5"]);
    let b = Apiserver::start(bin, &etcd, &[]);
    let via_a: Api<Service> = Api::default_namespaced(client(&a));
    let via_b: Api<Service> = Api::default_namespaced(client(&b));

    // A raw watch from revision 1: older than anything A holds.
    let mut raw = via_a.watch(&WatchParams::default(), "1").await.unwrap().boxed();
    match raw.next().await {
        Some(Ok(WatchEvent::Error(status))) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("want a 410 ERROR event, got {other:?}"),
    }

    let mut rx = spawn_watcher(via_a.clone(), watcher::Config::default());
    expect(&mut rx, |e| *e == Seen::InitDone).await;

    // A goes away; while it is gone, ten Services are created through B. The
    // restarted A holds nothing older than its start, so the watcher's resume
    // gets 410 and the watcher relists, finding all ten.
    a.stop();
    for i in 0..10 {
        via_b.create(&PostParams::default(), &service(&format!("b{i}"))).await.unwrap();
    }
    a.restart();
    expect(&mut rx, |e| *e == Seen::Init).await;
    let mut relisted = Vec::new();
    loop {
        match next(&mut rx).await {
            Seen::InitApply(name) => relisted.push(name),
            Seen::InitDone => break,
            other => panic!("unexpected {other:?} during relist"),
        }
    }
    for i in 0..10 {
        assert!(relisted.contains(&format!("b{i}")), "b{i} missing from {relisted:?}");
    }
}
