//! `kubectl-lite trace svc NAME`: one Service's life as a timeline, from
//! what the components publish (a pure function of those objects):
//!
//! - the apiserver: the Service, with its ClusterIP and NodePorts, which are
//!   allocated in the same etcd transaction that creates it;
//! - the endpoints controller: the EndpointSlices, their
//!   `endpoints.kubernetes.io/last-change-trigger-time` (when the pod change
//!   that caused them happened) and an `EndpointsUpdated` Event per write
//!   (with `eventTime` in microseconds);
//! - each node's proxy: `/programmed` on its healthz port, when the
//!   Service's rules reached that node's kernel and how long after the
//!   trigger;
//! - each cluster DNS pod (`k8s-app=kube-dns`): `/programmed` on its health
//!   port, when the Service's name became resolvable there, and how long
//!   after the Service's creation (whole seconds, as `creationTimestamp`
//!   has them) or, for a headless Service, after the endpoint change.
//!
//! Then each pod of the namespace, and why it is, or is not, an endpoint.

use api::json::str_at as s;
use api::printers::format_labels;
use serde_json::Value;
use std::collections::BTreeMap;

use api::well_known::LAST_CHANGE_TRIGGER_TIME as TRIGGER_TIME;

/// What a node's proxy says of the Service: its `/programmed` entry, none
/// (no rules there yet), or why it could not be asked.
pub type NodeReport = (String, Result<Option<Value>, String>);

/// What a DNS pod says of the Service's name: its `/programmed` entry,
/// none (not resolvable there yet), or why it could not be asked.
pub type DnsReport = (String, Result<Option<Value>, String>);

fn time(t: &str) -> Option<jiff::Timestamp> {
    t.parse().ok()
}

/// `+1.234s`, `+18ms`, `+0.4ms`.
fn delta(d: jiff::SignedDuration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    match ms.abs() {
        x if x >= 1000.0 => format!("+{:.3}s", ms / 1000.0),
        x if x >= 10.0 => format!("+{ms:.0}ms"),
        _ => format!("+{ms:.1}ms"),
    }
}

/// Why a pod is or is not behind the Service.
pub fn verdict(pod: &Value, svc: &Value, endpoints: &BTreeMap<String, (bool, String)>) -> String {
    let selector = svc.pointer("/spec/selector").and_then(Value::as_object);
    let labels = pod.pointer("/metadata/labels").and_then(Value::as_object);
    let Some(selector) = selector.filter(|m| !m.is_empty()) else {
        return "left out: the Service has no selector (its endpoints are managed by hand)".into();
    };
    let matches = selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    if !matches {
        return format!(
            "left out: labels {} do not match the selector {}",
            format_labels(pod.pointer("/metadata/labels")),
            format_labels(svc.pointer("/spec/selector"))
        );
    }
    if !s(pod, "/metadata/deletionTimestamp").is_empty() {
        return "terminating: leaving the endpoints".into();
    }
    let ip = s(pod, "/status/podIP");
    if ip.is_empty() {
        return format!("selected, but no IP yet (phase {})", s(pod, "/status/phase"));
    }
    // A named targetPort needs a container port of that name on this pod.
    let names: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .filter_map(|p| p["name"].as_str())
        .collect();
    let missing: Vec<String> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p["targetPort"].as_str())
        .filter(|name| !names.contains(name))
        .map(|name| format!("no container port named \"{name}\""))
        .collect();
    let ready_condition = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| s(c, "/status").to_string())
        .unwrap_or_else(|| "Unknown".into());
    match endpoints.get(ip) {
        Some((true, at)) => format!("endpoint {at} (ready)"),
        Some((false, at)) => format!("endpoint {at}, not ready (Ready={ready_condition}): no traffic until ready"),
        None if !missing.is_empty() => format!("left out: {}", missing.join(", ")),
        None if ready_condition != "True" => format!("not an endpoint yet (Ready={ready_condition})"),
        None => "selected and ready, not in the endpoints yet".into(),
    }
}

/// The timeline step of one DNS pod's report, or the line saying why there is none.
pub fn dns_step(pod: &str, report: &Result<Option<Value>, String>) -> Result<(jiff::Timestamp, String), String> {
    match report {
        Ok(Some(p)) => {
            let at = time(s(p, "/resolvableAt")).ok_or_else(|| format!("{pod}: an entry without resolvableAt: {p}"))?;
            let after = match s(p, "/trigger") {
                "created" => "the Service's creation",
                "endpoints" => "the endpoint change",
                _ => "",
            };
            let lag = match (p["latencySeconds"].as_f64(), after) {
                (Some(l), a) if !a.is_empty() => format!(", {:.1} ms after {a}", l * 1000.0),
                _ => String::new(),
            };
            Ok((at, format!("resolvable on DNS pod {pod}{lag}")))
        }
        Ok(None) => Err(format!("{pod}: its DNS does not resolve the name yet")),
        Err(e) => Err(format!("{pod}: could not ask: {e}")),
    }
}

/// A LoadBalancer's address and who announces it, from its status and the
/// newest Events of service-lb (`IPAllocated`, `AllocationFailed`) and of
/// the proxies (`nodeAssigned`): the two steps a `<pending>` or silent
/// address is stuck between.
pub fn load_balancer_line(svc: &Value, events: &[Value]) -> String {
    let ingress: Vec<&str> = svc
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i["ip"].as_str().or(i["hostname"].as_str()))
        .collect();
    let uid = s(svc, "/metadata/uid");
    let newest = |reasons: &[&str]| {
        events
            .iter()
            .filter(|e| reasons.contains(&s(e, "/reason")))
            .filter(|e| uid.is_empty() || s(e, "/involvedObject/uid").is_empty() || s(e, "/involvedObject/uid") == uid)
            .max_by_key(|e| [s(e, "/eventTime"), s(e, "/lastTimestamp")].into_iter().find_map(time))
    };
    if ingress.is_empty() {
        return match newest(&["AllocationFailed", "LoadBalancerFailed"]) {
            Some(e) => format!("LoadBalancer: <pending>: {}", s(e, "/message")),
            None => "LoadBalancer: <pending> (no address from service-lb yet: is it running, with --lb-pool?)".into(),
        };
    }
    let announced = match newest(&["nodeAssigned"]) {
        Some(e) => s(e, "/message").to_string(),
        None => "not announced by any node yet (no nodeAssigned Event)".into(),
    };
    format!("LoadBalancer {}: {announced}", ingress.join(", "))
}

/// The trace of `svc`, from its slices, the namespace's pods, its events
/// and the proxies' and DNS pods' reports.
pub fn trace(
    svc: &Value,
    slices: &[Value],
    pods: &[Value],
    events: &[Value],
    nodes: &[NodeReport],
    dns: &[DnsReport],
) -> String {
    let (ns, name) = (s(svc, "/metadata/namespace"), s(svc, "/metadata/name"));
    let mut out = String::new();
    let ports: Vec<String> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let target = match &p["targetPort"] {
                Value::String(t) => t.clone(),
                Value::Null => p["port"].to_string(),
                other => other.to_string(),
            };
            let node_port = p["nodePort"].as_i64().map(|n| format!(", NodePort {n}")).unwrap_or_default();
            format!("{}/{} -> {target}{node_port}", p["port"], s(p, "/protocol"))
        })
        .collect();
    out.push_str(&format!(
        "Service {ns}/{name}: {} {}, ports {}\n\n",
        s(svc, "/spec/type"),
        s(svc, "/spec/clusterIP"),
        ports.join("; ")
    ));

    if s(svc, "/spec/type") == "LoadBalancer" {
        out.push_str(&format!("{}\n\n", load_balancer_line(svc, events)));
    }

    // The timeline: (when, what).
    let mut steps: Vec<(jiff::Timestamp, String)> = Vec::new();
    if let Some(t) = time(s(svc, "/metadata/creationTimestamp")) {
        let node_ports: Vec<String> = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p["nodePort"].as_i64().map(|n| n.to_string()))
            .collect();
        let allocated = match (s(svc, "/spec/clusterIP"), node_ports.is_empty()) {
            ("" | "None", _) => "no ClusterIP (headless or ExternalName)".to_string(),
            (ip, true) => format!("ClusterIP {ip} allocated in the same etcd transaction"),
            (ip, false) => {
                format!("ClusterIP {ip} and NodePort {} allocated in the same etcd transaction", node_ports.join(","))
            }
        };
        steps.push((t, format!("created by the apiserver; {allocated}")));
    }
    for slice in slices {
        if let Some(t) = time(s(slice, &format!("/metadata/annotations/{}", TRIGGER_TIME.replace('/', "~1")))) {
            steps.push((
                t,
                format!("a change to the selected pods triggers EndpointSlice {}", s(slice, "/metadata/name")),
            ));
        }
    }
    // Events of an earlier Service of the same name belong to its trace, not this one's.
    let uid = s(svc, "/metadata/uid");
    for e in events
        .iter()
        .filter(|e| uid.is_empty() || s(e, "/involvedObject/uid").is_empty() || s(e, "/involvedObject/uid") == uid)
    {
        let at = [s(e, "/eventTime"), s(e, "/lastTimestamp"), s(e, "/metadata/creationTimestamp")]
            .into_iter()
            .find_map(time);
        if let Some(t) = at {
            let from = [s(e, "/reportingComponent"), s(e, "/source/component")]
                .into_iter()
                .find(|c| !c.is_empty())
                .unwrap_or("?");
            steps.push((t, format!("{} by {from}: {}", s(e, "/reason"), s(e, "/message").trim())));
        }
    }
    let mut unreachable = Vec::new();
    for (node, report) in nodes {
        match report {
            Ok(Some(p)) => {
                if let Some(t) = time(s(p, "/programmedAt")) {
                    let latency = p["latencySeconds"]
                        .as_f64()
                        .map(|l| format!(", {:.1} ms after the trigger", l * 1000.0))
                        .unwrap_or_default();
                    steps.push((
                        t,
                        format!(
                            "programmed on {node}: {} virtual servers, {} real servers{latency}",
                            p["virtualServers"], p["realServers"]
                        ),
                    ));
                }
            }
            Ok(None) => unreachable.push(format!("{node}: its proxy has no rules for this Service yet")),
            Err(e) => unreachable.push(format!("{node}: {e}")),
        }
    }
    let mut unresolved = Vec::new();
    for (pod, report) in dns {
        match dns_step(pod, report) {
            Ok(step) => steps.push(step),
            Err(line) => unresolved.push(line),
        }
    }
    if dns.iter().any(|(_, r)| r.is_err()) {
        // kubectl-lite asks each DNS pod at its pod IP, directly.
        unresolved.push("(DNS pods are asked at their pod IPs, which may be unroutable from where kubectl-lite runs: run it on a node)".into());
    }
    if dns.is_empty() {
        unresolved.push("no DNS pods (k8s-app=kube-dns in kube-system)".into());
    }
    steps.sort_by_key(|(t, _)| *t);
    out.push_str("Timeline:\n");
    let mut previous: Option<jiff::Timestamp> = None;
    for (t, what) in &steps {
        let step = previous.map(|p| delta(t.duration_since(p))).unwrap_or_default();
        out.push_str(&format!("  {}  {step:>9}  {what}\n", t.strftime("%H:%M:%S%.3f")));
        previous = Some(*t);
    }
    for line in unreachable {
        out.push_str(&format!("  (not programmed) {line}\n"));
    }
    for line in unresolved {
        out.push_str(&format!("  (not resolvable) {line}\n"));
    }

    // Every pod of the namespace, and its part.
    let mut endpoints: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for slice in slices {
        let port = slice["ports"].as_array().and_then(|p| p.first()).and_then(|p| p["port"].as_i64());
        for e in slice["endpoints"].as_array().into_iter().flatten() {
            let ready = e.pointer("/conditions/ready").and_then(Value::as_bool).unwrap_or(true);
            for a in e["addresses"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                let at = port.map(|p| format!("{a}:{p}")).unwrap_or_else(|| a.to_string());
                endpoints.insert(a.to_string(), (ready, at));
            }
        }
    }
    out.push_str("\nPods:\n");
    if pods.is_empty() {
        out.push_str(&format!("  none in namespace {ns}\n"));
    }
    let rows: Vec<[String; 4]> = pods
        .iter()
        .map(|p| {
            [
                s(p, "/metadata/name").to_string(),
                if s(p, "/status/podIP").is_empty() { "<none>".into() } else { s(p, "/status/podIP").to_string() },
                if s(p, "/spec/nodeName").is_empty() { "<none>".into() } else { s(p, "/spec/nodeName").to_string() },
                verdict(p, svc, &endpoints),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for r in rows {
        out.push_str(&format!("  {:w0$}   {:w1$}   {:w2$}   {}\n", r[0], r[1], r[2], r[3]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, labels: Value, ip: &str, ready: bool) -> Value {
        json!({"metadata":{"name":name,"labels":labels},"spec":{"nodeName":"node1","containers":[{"ports":[{"name":"http","containerPort":80}]}]},
            "status":{"phase":"Running","podIP":ip,"conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}})
    }

    /// Recorded objects of a tutorial Service: the timeline is in time order
    /// with the steps' latencies, and each pod says why it is (not) behind it.
    #[test]
    fn the_tutorials_service_traced() {
        let svc = json!({"metadata":{"name":"myapp","namespace":"default","creationTimestamp":"2026-11-26T03:18:24Z"},
            "spec":{"type":"NodePort","clusterIP":"10.108.46.110","selector":{"app":"myapp"},
                "ports":[{"port":80,"protocol":"TCP","targetPort":"http","nodePort":30080}]}});
        let slices = [
            json!({"metadata":{"name":"myapp-x7k2p","annotations":{TRIGGER_TIME:"2026-11-26T03:18:30.512Z"}},
            "ports":[{"port":80}],
            "endpoints":[{"addresses":["10.244.1.31"],"conditions":{"ready":true}},{"addresses":["10.244.1.32"],"conditions":{"ready":false}}]}),
        ];
        let pods = [
            pod("a", json!({"app":"myapp"}), "10.244.1.31", true),
            pod("b", json!({"app":"myapp"}), "10.244.1.32", false),
            pod("c", json!({"app":"other"}), "10.244.1.33", true),
        ];
        let svc = {
            let mut svc = svc;
            svc["metadata"]["uid"] = json!("u1");
            svc
        };
        let old = json!({"reason":"EndpointsUpdated","involvedObject":{"uid":"u0"},"eventTime":"2026-11-26T03:00:00.000000Z","message":"an earlier myapp"});
        let events = [
            old,
            json!({"involvedObject":{"uid":"u1"},"reason":"EndpointsUpdated","reportingComponent":"endpoint-controller",
            "eventTime":"2026-11-26T03:18:30.530000Z","message":"Endpoints: 10.244.1.31:80 ready; 10.244.1.32:80 not ready"}),
        ];
        let nodes = vec![
            (
                "node1".to_string(),
                Ok(Some(
                    json!({"programmedAt":"2026-11-26T03:18:30.548Z","latencySeconds":0.036,"virtualServers":2,"realServers":2}),
                )),
            ),
            ("node2".to_string(), Err("the proxy did not answer at 172.28.0.12:10256".to_string())),
        ];
        let dns = vec![
            (
                "coredns-5d78c9869d-abcde".to_string(),
                Ok(Some(json!({"resolvableAt":"2026-11-26T03:18:24.009Z","trigger":"created",
                    "triggerTime":"2026-11-26T03:18:24Z","latencySeconds":0.009}))),
            ),
            ("coredns-5d78c9869d-fghij".to_string(), Err("no answer from 10.244.2.3:8080".to_string())),
        ];
        let text = trace(&svc, &slices, &pods, &events, &nodes, &dns);
        let want = "\
Service default/myapp: NodePort 10.108.46.110, ports 80/TCP -> http, NodePort 30080

Timeline:
  03:18:24.000             created by the apiserver; ClusterIP 10.108.46.110 and NodePort 30080 allocated in the same etcd transaction
  03:18:24.009     +9.0ms  resolvable on DNS pod coredns-5d78c9869d-abcde, 9.0 ms after the Service's creation
  03:18:30.512    +6.503s  a change to the selected pods triggers EndpointSlice myapp-x7k2p
  03:18:30.530      +18ms  EndpointsUpdated by endpoint-controller: Endpoints: 10.244.1.31:80 ready; 10.244.1.32:80 not ready
  03:18:30.548      +18ms  programmed on node1: 2 virtual servers, 2 real servers, 36.0 ms after the trigger
  (not programmed) node2: the proxy did not answer at 172.28.0.12:10256
  (not resolvable) coredns-5d78c9869d-fghij: could not ask: no answer from 10.244.2.3:8080
  (not resolvable) (DNS pods are asked at their pod IPs, which may be unroutable from where kubectl-lite runs: run it on a node)

Pods:
  a   10.244.1.31   node1   endpoint 10.244.1.31:80 (ready)
  b   10.244.1.32   node1   endpoint 10.244.1.32:80, not ready (Ready=False): no traffic until ready
  c   10.244.1.33   node1   left out: labels app=other do not match the selector app=myapp
";
        assert_eq!(text, want);
    }

    /// Each DNS pod's report, as one timeline step or one line saying why not.
    #[test]
    fn dns_reports() {
        let at = "2026-12-02T04:00:01.250Z";
        for (report, want) in [
            (
                Ok(Some(json!({"resolvableAt": at, "trigger": "endpoints", "latencySeconds": 0.0125}))),
                Ok("resolvable on DNS pod dns-a, 12.5 ms after the endpoint change"),
            ),
            (
                Ok(Some(json!({"resolvableAt": at, "trigger": "created", "latencySeconds": 1.25}))),
                Ok("resolvable on DNS pod dns-a, 1250.0 ms after the Service's creation"),
            ),
            (Ok(Some(json!({"resolvableAt": at}))), Ok("resolvable on DNS pod dns-a")),
            (Ok(None), Err("dns-a: its DNS does not resolve the name yet")),
            (Err("connection refused".to_string()), Err("dns-a: could not ask: connection refused")),
        ] {
            let got = dns_step("dns-a", &report).map(|(t, line)| {
                assert_eq!(t, at.parse::<jiff::Timestamp>().unwrap());
                line
            });
            assert_eq!(got.as_deref().map_err(String::as_str), want, "{report:?}");
        }
        let text = trace(&json!({"metadata":{"name":"x","namespace":"default"}}), &[], &[], &[], &[], &[]);
        assert!(text.contains("  (not resolvable) no DNS pods (k8s-app=kube-dns in kube-system)\n"), "{text}");
    }

    #[test]
    fn the_load_balancer_line() {
        let ev = |reason: &str, at: &str, message: &str| json!({"reason":reason,"eventTime":at,"message":message});
        let assigned = json!({"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"172.28.0.200","ipMode":"VIP"}]}}});
        let events = [
            ev("IPAllocated", "2026-12-02T13:00:00.000001Z", r#"Assigned IP ["172.28.0.200"]"#),
            ev("nodeAssigned", "2026-12-02T13:00:00.100000Z", r#"announcing from node "node1" with protocol "layer2""#),
            ev("nodeAssigned", "2026-12-02T13:01:00.000000Z", r#"announcing from node "node2" with protocol "layer2""#),
        ];
        assert_eq!(
            load_balancer_line(&assigned, &events),
            r#"LoadBalancer 172.28.0.200: announcing from node "node2" with protocol "layer2""#
        );
        assert_eq!(
            load_balancer_line(&assigned, &events[..1]),
            "LoadBalancer 172.28.0.200: not announced by any node yet (no nodeAssigned Event)"
        );
        let pending = json!({"spec":{"type":"LoadBalancer"}});
        let full =
            ev("AllocationFailed", "2026-12-02T13:00:00Z", "Failed to allocate IP for \"default/x\": no available IPs");
        assert_eq!(
            load_balancer_line(&pending, &[full]),
            "LoadBalancer: <pending>: Failed to allocate IP for \"default/x\": no available IPs"
        );
        assert!(load_balancer_line(&pending, &[]).starts_with("LoadBalancer: <pending> (no address"));
    }

    #[test]
    fn a_named_target_port_the_pod_lacks() {
        let svc = json!({"spec":{"selector":{"app":"x"},"ports":[{"port":80,"targetPort":"web"}]}});
        let p = pod("a", json!({"app":"x"}), "10.0.0.1", true);
        assert_eq!(verdict(&p, &svc, &BTreeMap::new()), "left out: no container port named \"web\"");
        let pending = json!({"metadata":{"labels":{"app":"x"}},"status":{"phase":"Pending"}});
        assert_eq!(verdict(&pending, &svc, &BTreeMap::new()), "selected, but no IP yet (phase Pending)");
    }
}
