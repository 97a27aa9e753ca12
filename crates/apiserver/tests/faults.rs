//! The allocation guarantees under faults. Two apiservers on one etcd take
//! creates and deletes of NodePort Services from eight clients while one
//! apiserver is SIGKILLed and started again, and then etcd itself is killed
//! and started again on the same data. Afterwards etcd itself must say:
//!
//! - every acknowledged create is there (same uid, ClusterIP and NodePort),
//!   every acknowledged delete is gone;
//! - no ClusterIP or NodePort belongs to two Services;
//! - every allocation key belongs to a live Service that holds the value
//!   (nothing leaked), and every Service's values have their keys.

mod support;

use e2e::Etcd;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::{json_call, LoggedApiserver};

const SERVICES: &str = "/api/v1/namespaces/default/services";

/// What a client was told.
#[derive(Debug, Clone, PartialEq)]
struct Acked {
    uid: String,
    cluster_ip: String,
    node_port: i64,
}

/// Every key under `prefix`, with its value as JSON.
fn etcd_read(url: &str, prefix: &str) -> BTreeMap<String, Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut c = etcd_client::Client::connect([url], None).await.unwrap();
        let resp = c.get(prefix, Some(etcd_client::GetOptions::new().with_prefix())).await.unwrap();
        resp.kvs()
            .iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(kv.key()).into_owned(),
                    serde_json::from_slice(kv.value()).unwrap_or(Value::Null),
                )
            })
            .collect()
    })
}

/// One client: creates Services through both apiservers in turn, deletes
/// every third one it made, and notes what was acknowledged.
fn client(
    worker: usize,
    addrs: &[String; 2],
    stop: &AtomicBool,
    created: &Mutex<BTreeMap<String, Acked>>,
    deleted: &Mutex<BTreeSet<String>>,
    maybe_deleted: &Mutex<BTreeSet<String>>,
    failed: &AtomicUsize,
) {
    let mut mine: Vec<String> = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let addr = &addrs[n % 2];
        if n % 3 == 0 && !mine.is_empty() {
            let name = mine.remove(0);
            match json_call(addr, "DELETE", &format!("{SERVICES}/{name}"), "", &Value::Null) {
                (200, _) => {
                    deleted.lock().unwrap().insert(name);
                }
                _ => {
                    // Unknown outcome: the delete may have committed unanswered.
                    maybe_deleted.lock().unwrap().insert(name);
                    failed.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            continue;
        }
        let name = format!("w{worker}-{n}");
        let svc = json!({"metadata":{"name":name},"spec":{"type":"NodePort","ports":[{"port":80}]}});
        match json_call(addr, "POST", SERVICES, "application/json", &svc) {
            (201, obj) => {
                let acked = Acked {
                    uid: obj["metadata"]["uid"].as_str().unwrap_or("").into(),
                    cluster_ip: obj["spec"]["clusterIP"].as_str().unwrap_or("").into(),
                    node_port: obj["spec"]["ports"][0]["nodePort"].as_i64().unwrap_or(0),
                };
                created.lock().unwrap().insert(name.clone(), acked);
                mine.push(name);
            }
            _ => {
                // Unknown outcome (the apiserver or etcd is down): it may or
                // may not have committed; the allocation checks cover both.
                failed.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn acknowledged_writes_and_allocations_survive_kills_and_an_etcd_restart() {
    let started = Instant::now();
    let mut etcd = Etcd::start();
    let mut a = LoggedApiserver::start(&etcd.url, &[]);
    let b = LoggedApiserver::start(&etcd.url, &[]);
    let addrs = [a.addr.clone(), b.addr.clone()];
    let stop = AtomicBool::new(false);
    let created = Mutex::new(BTreeMap::new());
    let deleted = Mutex::new(BTreeSet::new());
    let maybe_deleted = Mutex::new(BTreeSet::new());
    let failed = AtomicUsize::new(0);
    let count = |what: &str| println!("faults: {what}: {} creates acknowledged so far", created.lock().unwrap().len());

    std::thread::scope(|s| {
        for worker in 0..8 {
            let (addrs, stop, created, deleted, failed) = (&addrs, &stop, &created, &deleted, &failed);
            let maybe_deleted = &maybe_deleted;
            s.spawn(move || client(worker, addrs, stop, created, deleted, maybe_deleted, failed));
        }
        std::thread::sleep(Duration::from_millis(1500));
        count("SIGKILL apiserver A");
        a.kill();
        std::thread::sleep(Duration::from_millis(700));
        a.restart();
        count("apiserver A restarted");
        std::thread::sleep(Duration::from_millis(1500));
        count("SIGKILL etcd");
        etcd.stop();
        std::thread::sleep(Duration::from_millis(1500));
        etcd.resume();
        count("etcd restarted");
        std::thread::sleep(Duration::from_millis(3000));
        stop.store(true, Ordering::Relaxed);
    });

    // Both apiservers serve writes again.
    for (i, addr) in addrs.iter().enumerate() {
        let svc = json!({"metadata":{"name":format!("after-{i}")},"spec":{"type":"NodePort","ports":[{"port":80}]}});
        let code = e2e::eventually(
            "a create after the faults",
            || json_call(addr, "POST", SERVICES, "application/json", &svc).0,
            |c| *c == 201,
        );
        assert_eq!(code, 201);
    }

    let created = created.into_inner().unwrap();
    let deleted = deleted.into_inner().unwrap();
    let maybe_deleted = maybe_deleted.into_inner().unwrap();
    let services = etcd_read(&etcd.url, "/registry/services/specs/");
    let ip_keys = etcd_read(&etcd.url, "/registry/ipaddresses/");
    let port_keys = etcd_read(&etcd.url, "/registry/servicenodeports/");
    println!(
        "faults: {} creates and {} deletes acknowledged, {} requests failed during the faults; etcd holds {} Services, {} ClusterIP and {} NodePort keys",
        created.len(),
        deleted.len(),
        failed.load(Ordering::Relaxed),
        services.len(),
        ip_keys.len(),
        port_keys.len()
    );
    assert!(created.len() > 50 && failed.load(Ordering::Relaxed) > 0, "the load ran through the faults");

    // R1: nothing acknowledged is lost.
    for (name, acked) in &created {
        let key = format!("/registry/services/specs/default/{name}");
        match services.get(&key) {
            None => {
                assert!(deleted.contains(name) || maybe_deleted.contains(name), "acknowledged create of {name} is lost")
            }
            Some(obj) => {
                assert!(!deleted.contains(name), "acknowledged delete of {name} is undone");
                let stored = Acked {
                    uid: obj["metadata"]["uid"].as_str().unwrap_or("").into(),
                    cluster_ip: obj["spec"]["clusterIP"].as_str().unwrap_or("").into(),
                    node_port: obj["spec"]["ports"][0]["nodePort"].as_i64().unwrap_or(0),
                };
                assert_eq!(&stored, acked, "{name} is not what its client was told");
            }
        }
    }

    // R2: each value has one owner, and the keys and the Services agree both ways.
    let owner = |record: &Value| {
        let parent = &record["spec"]["parentRef"];
        format!(
            "/registry/services/specs/{}/{}",
            parent["namespace"].as_str().unwrap_or(""),
            parent["name"].as_str().unwrap_or("")
        )
    };
    let mut ip_owner: BTreeMap<String, String> = BTreeMap::new();
    let mut port_owner: BTreeMap<i64, String> = BTreeMap::new();
    for (key, svc) in &services {
        let spec = &svc["spec"];
        for ip in
            spec["clusterIPs"].as_array().into_iter().flatten().filter_map(Value::as_str).filter(|ip| *ip != "None")
        {
            if let Some(other) = ip_owner.insert(ip.to_string(), key.clone()) {
                panic!("ClusterIP {ip} is shared by {other} and {key}");
            }
            let claim = ip_keys.get(&format!("/registry/ipaddresses/{ip}"));
            assert_eq!(claim.map(owner).as_deref(), Some(key.as_str()), "{key} holds {ip} without its key");
        }
        let ports: BTreeSet<i64> =
            spec["ports"].as_array().into_iter().flatten().filter_map(|p| p["nodePort"].as_i64()).collect();
        for port in ports {
            if let Some(other) = port_owner.insert(port, key.clone()) {
                panic!("NodePort {port} is shared by {other} and {key}");
            }
            let claim = port_keys.get(&format!("/registry/servicenodeports/{port}"));
            assert_eq!(claim.map(owner).as_deref(), Some(key.as_str()), "{key} holds NodePort {port} without its key");
        }
    }
    for (key, record) in &ip_keys {
        let ip = key.trim_start_matches("/registry/ipaddresses/");
        assert_eq!(ip_owner.get(ip), Some(&owner(record)), "leaked ClusterIP key {key}: {record}");
    }
    for (key, record) in &port_keys {
        let port: i64 = key.trim_start_matches("/registry/servicenodeports/").parse().unwrap_or(-1);
        assert_eq!(port_owner.get(&port), Some(&owner(record)), "leaked NodePort key {key}: {record}");
    }
    for server in [&a, &b] {
        assert!(server.panics().is_empty(), "{:?}", server.panics());
    }
    println!("faults: checked in {:.1} s", started.elapsed().as_secs_f64());
    assert!(started.elapsed() < Duration::from_secs(60));
}
