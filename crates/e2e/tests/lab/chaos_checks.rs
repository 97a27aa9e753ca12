//! What the chaos run checks once the faults are over, from etcd itself
//! and through the API: allocations (`crates/apiserver/src/allocation/`:
//! one key per ClusterIP under `/registry/ipaddresses/`, one per NodePort
//! under `/registry/servicenodeports/`, each naming its Service), the
//! endpoints against the ready pods, and each apiserver's watch against
//! etcd. The checks are pure functions of what was read; `etcd_prefix` and
//! `Mirror` are the reads.

use base64::Engine;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Service;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// One key as etcd holds it.
#[derive(Debug, Clone)]
pub struct Kv {
    pub key: String,
    pub mod_revision: i64,
    pub value: Value,
}

/// Every key under `prefix`, read with `etcdctl` inside the etcd container.
pub fn etcd_prefix(prefix: &str) -> Vec<Kv> {
    let out = super::compose_ha(&["exec", "-T", "etcd1", "etcdctl", "get", "--prefix", prefix, "-w", "json"]);
    assert!(out.status.success(), "etcdctl get {prefix}: {}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).expect("etcdctl -w json");
    let b64 =
        |v: &Value| base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or("")).unwrap_or_default();
    answer["kvs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| Kv {
            key: String::from_utf8_lossy(&b64(&kv["key"])).into_owned(),
            mod_revision: kv["mod_revision"].as_i64().unwrap_or(0),
            value: serde_json::from_slice(&b64(&kv["value"])).unwrap_or(Value::Null),
        })
        .collect()
}

/// `namespace/name` of an object.
pub fn full_name(o: &Value) -> String {
    format!("{}/{}", o["metadata"]["namespace"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""))
}

/// The values a Service holds: ClusterIPs, NodePorts (and its health check
/// port), LoadBalancer addresses.
fn held(svc: &Value) -> (Vec<String>, Vec<String>, Vec<String>) {
    let spec = &svc["spec"];
    let mut ips: Vec<String> =
        spec["clusterIPs"].as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
    if ips.is_empty() {
        ips.extend(spec["clusterIP"].as_str().map(String::from));
    }
    ips.retain(|ip| !ip.is_empty() && ip != "None");
    let mut ports: Vec<String> = spec["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["nodePort"].as_i64())
        .map(|p| p.to_string())
        .collect();
    ports.extend(spec["healthCheckNodePort"].as_i64().map(|p| p.to_string()));
    let lbs = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["ip"].as_str())
        .map(String::from)
        .collect();
    (ips, ports, lbs)
}

/// What the allocation check found: values held twice, and any key without
/// its Service or Service value without its key.
#[derive(Debug, Default)]
pub struct Allocations {
    pub duplicates: Vec<String>,
    pub problems: Vec<String>,
}

/// `services` from `/registry/services/specs/`, `ip_keys` and `port_keys`
/// from the allocation prefixes.
pub fn check_allocations(services: &[Kv], ip_keys: &[Kv], port_keys: &[Kv]) -> Allocations {
    let mut found = Allocations::default();
    let mut owners: [BTreeMap<String, String>; 3] = Default::default();
    for svc in services.iter().map(|kv| &kv.value) {
        let name = full_name(svc);
        let (ips, ports, lbs) = held(svc);
        for (i, (what, values)) in
            [("ClusterIP", ips), ("NodePort", ports), ("LoadBalancer address", lbs)].into_iter().enumerate()
        {
            for v in values {
                if let Some(other) = owners[i].insert(v.clone(), name.clone()) {
                    found.duplicates.push(format!("{what} {v} is held by {other} and {name}"));
                }
            }
        }
    }
    for (kind, prefix, keys, held_by) in [
        ("ClusterIP", "/registry/ipaddresses/", ip_keys, &owners[0]),
        ("NodePort", "/registry/servicenodeports/", port_keys, &owners[1]),
    ] {
        let parents: BTreeMap<String, String> = keys
            .iter()
            .map(|kv| {
                let p = &kv.value["spec"]["parentRef"];
                let parent = format!("{}/{}", p["namespace"].as_str().unwrap_or(""), p["name"].as_str().unwrap_or(""));
                (kv.key.trim_start_matches(prefix).to_string(), parent)
            })
            .collect();
        for (value, parent) in &parents {
            if held_by.get(value) != Some(parent) {
                found.problems.push(format!("{kind} key {prefix}{value} names {parent}, which does not hold it"));
            }
        }
        for (value, owner) in held_by {
            if parents.get(value) != Some(owner) {
                found.problems.push(format!("{kind} {value} of {owner} has no key {prefix}{value} naming it"));
            }
        }
    }
    found
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector.as_object().is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// For every Service with a selector: its Endpoints' and EndpointSlices'
/// ready addresses are exactly its ready pods' IPs. `list` is one
/// `kubectl get pods,svc,endpoints,endpointslices -A -o json`.
pub fn check_endpoints(list: &Value) -> Vec<String> {
    let items: Vec<&Value> = list["items"].as_array().into_iter().flatten().collect();
    let of = |kind: &'static str| items.iter().copied().filter(move |o| o["kind"] == kind);
    let mut problems = Vec::new();
    for svc in of("Service") {
        let name = full_name(svc);
        let ns = &svc["metadata"]["namespace"];
        let selector = &svc["spec"]["selector"];
        if selector.as_object().is_none_or(|s| s.is_empty()) {
            continue;
        }
        let ready: BTreeSet<String> = of("Pod")
            .filter(|p| &p["metadata"]["namespace"] == ns && labels_match(selector, &p["metadata"]["labels"]))
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter(|p| {
                p["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
            .filter_map(|p| p["status"]["podIP"].as_str().map(String::from))
            .collect();
        let endpoints: BTreeSet<String> = of("Endpoints")
            .filter(|e| full_name(e) == name)
            .flat_map(|e| e["subsets"].as_array().into_iter().flatten())
            .flat_map(|s| s["addresses"].as_array().into_iter().flatten())
            .filter_map(|a| a["ip"].as_str().map(String::from))
            .collect();
        let sliced: BTreeSet<String> = of("EndpointSlice")
            .filter(|s| &s["metadata"]["namespace"] == ns)
            .filter(|s| {
                s["metadata"]["labels"]["kubernetes.io/service-name"].as_str() == svc["metadata"]["name"].as_str()
            })
            .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
            .filter(|e| e["conditions"]["ready"] != false)
            .flat_map(|e| e["addresses"].as_array().into_iter().flatten())
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        if endpoints != ready {
            problems.push(format!("{name}: Endpoints {endpoints:?}, ready pods {ready:?}"));
        }
        if sliced != ready {
            problems.push(format!("{name}: EndpointSlices {sliced:?}, ready pods {ready:?}"));
        }
    }
    problems
}

/// The Services one apiserver's watch shows, kept by kube-rs's watcher (it
/// resumes from its last resourceVersion and relists only on 410): name →
/// resourceVersion.
#[derive(Clone, Default)]
pub struct Mirror {
    pub services: Arc<Mutex<BTreeMap<String, String>>>,
    /// Completed (re)lists, and the watch errors that preceded them.
    pub lists: Arc<Mutex<(usize, usize)>>,
}

impl Mirror {
    /// Watches Services at `addr` directly (not through the front), with
    /// the credentials of `kubeconfig` (its text): its CA, its user.
    pub fn start(rt: &tokio::runtime::Runtime, addr: &str, kubeconfig: &str) -> Self {
        use kube::runtime::watcher::{self, Event};
        use kube::runtime::WatchStreamExt;
        let mirror = Self::default();
        let m = mirror.clone();
        let url: http::Uri = format!("https://{addr}").parse().unwrap();
        let file = kube::config::Kubeconfig::from_yaml(kubeconfig).expect("the admin kubeconfig");
        rt.spawn(async move {
            let options = kube::config::KubeConfigOptions::default();
            let mut config = kube::Config::from_custom_kubeconfig(file, &options).await.expect("kube config");
            // The serving certificate names each apiserver's address too.
            config.cluster_url = url;
            let client = kube::Client::try_from(config).expect("client");
            let api: kube::Api<Service> = kube::Api::all(client);
            let mut events = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
            let mut fresh = BTreeMap::new();
            let key = |s: &Service| {
                let name = format!(
                    "{}/{}",
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default()
                );
                (name, s.metadata.resource_version.clone().unwrap_or_default())
            };
            while let Some(event) = events.next().await {
                match event {
                    Ok(Event::Apply(s)) => {
                        let (k, rv) = key(&s);
                        m.services.lock().unwrap().insert(k, rv);
                    }
                    Ok(Event::Delete(s)) => {
                        m.services.lock().unwrap().remove(&key(&s).0);
                    }
                    Ok(Event::Init) => fresh.clear(),
                    Ok(Event::InitApply(s)) => {
                        let (k, rv) = key(&s);
                        fresh.insert(k, rv);
                    }
                    Ok(Event::InitDone) => {
                        *m.services.lock().unwrap() = std::mem::take(&mut fresh);
                        m.lists.lock().unwrap().0 += 1;
                    }
                    Err(_) => m.lists.lock().unwrap().1 += 1,
                }
            }
        });
        mirror
    }
}

/// What etcd holds under `/registry/services/specs/`, as a [`Mirror`] shows it.
pub fn etcd_services(kvs: &[Kv]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let name = kv.key.trim_start_matches("/registry/services/specs/").to_string();
            (name, kv.mod_revision.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kv(key: &str, value: Value) -> Kv {
        Kv { key: key.into(), mod_revision: 1, value }
    }

    fn svc(name: &str, ip: &str, node_port: Option<i64>) -> Kv {
        let ports = match node_port {
            Some(p) => json!([{"port": 80, "nodePort": p}]),
            None => json!([{"port": 80}]),
        };
        kv(
            &format!("/registry/services/specs/default/{name}"),
            json!({"metadata": {"namespace": "default", "name": name}, "spec": {"clusterIP": ip, "ports": ports}}),
        )
    }

    fn claim(prefix: &str, value: &str, name: &str) -> Kv {
        kv(&format!("{prefix}{value}"), json!({"spec": {"parentRef": {"namespace": "default", "name": name}}}))
    }

    #[test]
    fn allocations_that_agree_pass_and_each_kind_of_fault_is_named() {
        let services = [svc("a", "10.96.0.5", Some(30001)), svc("b", "10.96.0.6", None)];
        let ips =
            [claim("/registry/ipaddresses/", "10.96.0.5", "a"), claim("/registry/ipaddresses/", "10.96.0.6", "b")];
        let ports = [claim("/registry/servicenodeports/", "30001", "a")];
        let ok = check_allocations(&services, &ips, &ports);
        assert!(ok.duplicates.is_empty() && ok.problems.is_empty(), "{ok:?}");

        let twice = [svc("a", "10.96.0.5", None), svc("b", "10.96.0.5", None)];
        assert_eq!(check_allocations(&twice, &ips[..1], &[]).duplicates.len(), 1);
        let leaked = check_allocations(&services[1..], &ips, &ports);
        assert_eq!(leaked.problems.len(), 2, "{leaked:?}");
        let unclaimed = check_allocations(&services, &ips, &[]);
        assert_eq!(
            unclaimed.problems,
            ["NodePort 30001 of default/a has no key /registry/servicenodeports/30001 naming it"]
        );
    }

    #[test]
    fn endpoints_must_be_the_ready_pods() {
        let pod = |ip: &str, ready: &str| {
            json!({"kind": "Pod", "metadata": {"namespace": "default", "name": ip, "labels": {"app": "x"}},
                   "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]}})
        };
        let list = |ep: &[&str]| {
            json!({"items": [
                {"kind": "Service", "metadata": {"namespace": "default", "name": "s"}, "spec": {"selector": {"app": "x"}}},
                pod("10.244.1.2", "True"), pod("10.244.1.3", "False"),
                {"kind": "Endpoints", "metadata": {"namespace": "default", "name": "s"},
                 "subsets": [{"addresses": ep.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>()}]},
                {"kind": "EndpointSlice", "metadata": {"namespace": "default", "name": "s-abc", "labels": {"kubernetes.io/service-name": "s"}},
                 "endpoints": [{"addresses": ["10.244.1.2"], "conditions": {"ready": true}}, {"addresses": ["10.244.1.3"], "conditions": {"ready": false}}]},
            ]})
        };
        assert_eq!(check_endpoints(&list(&["10.244.1.2"])), Vec::<String>::new());
        assert_eq!(check_endpoints(&list(&["10.244.1.2", "10.244.1.3"])).len(), 1);
    }
}
