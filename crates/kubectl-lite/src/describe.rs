//! `describe svc|po|deploy|node`, as kubectl prints them: each describer
//! writes kubectl's `key:\tvalue` lines in kubectl's order (indentation
//! included), and [`crate::tabwriter`] lays them out as Go's tabwriter does.
//! Read the four describers top to bottom: a Service (with its endpoints),
//! a pod, a Deployment (its pod template), a node (with its pods).
//!
//! - [`lines`]: what every describer writes alike (name, label maps,
//!   times, the `Events:` table) and the final layout;
//! - [`containers`]: a container, in a pod or in a pod template;
//! - [`replicasets`]: a Deployment's old and new ReplicaSets;
//! - [`volumes`]: a pod's volumes and its containers' mounts;
//! - [`load_balancer`]: a LoadBalancer Service's ingress points.

mod containers;
mod lines;
mod load_balancer;
mod replicasets;
mod volumes;

use api::json::str_at as s;
use api::printers::format_labels;
use api::well_known::LAST_APPLIED_CONFIGURATION as LAST_APPLIED;
use containers::container;
use lines::{age_of, finish, map_lines, map_lines_at, metadata, rfc1123z};
use serde_json::Value;

/// The ready addresses of the slices' port named `port_name`: `ip:port,...`.
fn endpoints_of(slices: &[Value], port_name: &str) -> String {
    let mut items = Vec::new();
    for slice in slices {
        let Some(port) = slice["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| s(p, "/name") == port_name)
            .and_then(|p| p["port"].as_i64())
        else {
            continue;
        };
        for e in slice["endpoints"].as_array().into_iter().flatten() {
            if e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false) {
                items.extend(
                    e["addresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(|a| format!("{a}:{port}")),
                );
            }
        }
    }
    match items.len() {
        0 => "<none>".to_string(),
        n if n > 3 => format!("{} + {} more...", items[..3].join(","), n - 3),
        _ => items.join(","),
    }
}

/// The describe text of a Service, its slices and its events.
pub fn service(svc: &Value, slices: &[Value], events: &[Value], now: jiff::Timestamp) -> String {
    let mut out = String::new();
    out.push_str(&format!("Name:\t{}\nNamespace:\t{}\n", s(svc, "/metadata/name"), s(svc, "/metadata/namespace")));
    map_lines(&mut out, "Labels", svc.pointer("/metadata/labels"), "=", &[]);
    map_lines(&mut out, "Annotations", svc.pointer("/metadata/annotations"), ": ", &[LAST_APPLIED]);
    out.push_str(&format!("Selector:\t{}\n", format_labels(svc.pointer("/spec/selector"))));
    let ty = s(svc, "/spec/type");
    out.push_str(&format!("Type:\t{ty}\n"));
    if !s(svc, "/spec/ipFamilyPolicy").is_empty() {
        out.push_str(&format!("IP Family Policy:\t{}\n", s(svc, "/spec/ipFamilyPolicy")));
    }
    let join = |p: &str| {
        svc.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    };
    if !join("/spec/ipFamilies").is_empty() {
        out.push_str(&format!("IP Families:\t{}\n", join("/spec/ipFamilies")));
    }
    if !s(svc, "/spec/clusterIP").is_empty() {
        out.push_str(&format!("IP:\t{}\nIPs:\t{}\n", s(svc, "/spec/clusterIP"), join("/spec/clusterIPs")));
    }
    if !join("/spec/externalIPs").is_empty() {
        out.push_str(&format!("External IPs:\t{}\n", join("/spec/externalIPs")));
    }
    if !s(svc, "/spec/loadBalancerIP").is_empty() {
        out.push_str(&format!("Desired LoadBalancer IP:\t{}\n", s(svc, "/spec/loadBalancerIP")));
    }
    if ty == "ExternalName" {
        out.push_str(&format!("External Name:\t{}\n", s(svc, "/spec/externalName")));
    }
    if let Some(ingress) = load_balancer::ingress(svc) {
        out.push_str(&format!("LoadBalancer Ingress:\t{ingress}\n"));
    }
    for p in svc.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten() {
        let name = if s(p, "/name").is_empty() { "<unset>" } else { s(p, "/name") };
        let proto = s(p, "/protocol");
        out.push_str(&format!("Port:\t{name}\t{}/{proto}\n", p["port"]));
        let target = match &p["targetPort"] {
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("TargetPort:\t{target}/{proto}\n"));
        if let Some(np) = p["nodePort"].as_i64().filter(|n| *n != 0) {
            out.push_str(&format!("NodePort:\t{name}\t{np}/{proto}\n"));
        }
        out.push_str(&format!("Endpoints:\t{}\n", endpoints_of(slices, s(p, "/name"))));
    }
    out.push_str(&format!("Session Affinity:\t{}\n", s(svc, "/spec/sessionAffinity")));
    if !s(svc, "/spec/externalTrafficPolicy").is_empty() {
        out.push_str(&format!("External Traffic Policy:\t{}\n", s(svc, "/spec/externalTrafficPolicy")));
    }
    if !s(svc, "/spec/internalTrafficPolicy").is_empty() {
        out.push_str(&format!("Internal Traffic Policy:\t{}\n", s(svc, "/spec/internalTrafficPolicy")));
    }
    if let Some(port) = svc.pointer("/spec/healthCheckNodePort").and_then(Value::as_i64).filter(|p| *p != 0) {
        out.push_str(&format!("HealthCheck NodePort:\t{port}\n"));
    }
    if !join("/spec/loadBalancerSourceRanges").is_empty() {
        out.push_str(&format!("LoadBalancer Source Ranges:\t{}\n", join("/spec/loadBalancerSourceRanges")));
    }
    finish(out, events, now)
}

fn owner(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| o["controller"].as_bool() == Some(true))
        .map(|o| format!("{}/{}", s(o, "/kind"), s(o, "/name")))
}

/// BestEffort unless a container asks for resources (the lab's never do).
fn qos_class(pod: &Value) -> &'static str {
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let has = |k: &str| {
        containers
            .iter()
            .any(|c| c.pointer(&format!("/resources/{k}")).and_then(Value::as_object).is_some_and(|m| !m.is_empty()))
    };
    match (has("requests"), has("limits")) {
        (false, false) => "BestEffort",
        _ => "Burstable",
    }
}

fn tolerations(out: &mut String, indent: &str, list: Option<&Value>) {
    let items = list.and_then(Value::as_array).cloned().unwrap_or_default();
    if items.is_empty() {
        out.push_str(&format!("{indent}Tolerations:\t<none>\n"));
    }
    for (i, t) in items.iter().enumerate() {
        let label = if i == 0 { "Tolerations:" } else { "" };
        let mut text = s(t, "/key").to_string();
        if !s(t, "/value").is_empty() {
            text.push_str(&format!("={}", s(t, "/value")));
        } else if s(t, "/operator") == "Exists" {
            text.push_str(" op=Exists");
        }
        if !s(t, "/effect").is_empty() {
            text.push_str(&format!(":{}", s(t, "/effect")));
        }
        if let Some(secs) = t["tolerationSeconds"].as_i64() {
            text.push_str(&format!(" for {secs}s"));
        }
        out.push_str(&format!("{indent}{label}\t{text}\n"));
    }
}

/// `kubectl describe pod`.
pub fn pod(pod: &Value, events: &[Value], now: jiff::Timestamp) -> String {
    let mut out = String::new();
    metadata(&mut out, pod, true);
    if !s(pod, "/spec/serviceAccountName").is_empty() {
        out.push_str(&format!("Service Account:\t{}\n", s(pod, "/spec/serviceAccountName")));
    }
    match s(pod, "/spec/nodeName") {
        "" => out.push_str("Node:\t<none>\n"),
        node => out.push_str(&format!("Node:\t{node}/{}\n", s(pod, "/status/hostIP"))),
    }
    if !s(pod, "/status/startTime").is_empty() {
        out.push_str(&format!("Start Time:\t{}\n", rfc1123z(s(pod, "/status/startTime"))));
    }
    map_lines(&mut out, "Labels", pod.pointer("/metadata/labels"), "=", &[]);
    map_lines(&mut out, "Annotations", pod.pointer("/metadata/annotations"), ": ", &[LAST_APPLIED]);
    if !s(pod, "/metadata/deletionTimestamp").is_empty() {
        out.push_str(&format!(
            "Status:\tTerminating (lasts {})\nTermination Grace Period:\t{}s\n",
            age_of(s(pod, "/metadata/deletionTimestamp"), now),
            pod.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0)
        ));
    } else {
        out.push_str(&format!("Status:\t{}\n", s(pod, "/status/phase")));
    }
    for (k, label) in [("/status/reason", "Reason"), ("/status/message", "Message")] {
        if !s(pod, k).is_empty() {
            out.push_str(&format!("{label}:\t{}\n", s(pod, k)));
        }
    }
    out.push_str(&format!("IP:\t{}\n", s(pod, "/status/podIP")));
    match pod.pointer("/status/podIPs").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        None => out.push_str("IPs:\t<none>\n"),
        Some(ips) => {
            out.push_str("IPs:\n");
            for ip in ips {
                out.push_str(&format!("  IP:\t{}\n", s(ip, "/ip")));
            }
        }
    }
    if let Some(by) = owner(pod) {
        out.push_str(&format!("Controlled By:\t{by}\n"));
    }
    out.push_str("Containers:\n");
    let statuses = pod.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
    for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        let status = statuses.iter().find(|st| st["name"] == c["name"]);
        container(&mut out, "  ", c, status, Some(pod));
    }
    if let Some(conditions) = pod.pointer("/status/conditions").and_then(Value::as_array).filter(|c| !c.is_empty()) {
        out.push_str("Conditions:\n  Type\tStatus\n");
        for c in conditions {
            out.push_str(&format!("  {} \t{} \n", s(c, "/type"), s(c, "/status")));
        }
    }
    volumes::volumes(&mut out, "", pod.pointer("/spec/volumes"));
    out.push_str(&format!("QoS Class:\t{}\n", qos_class(pod)));
    map_lines(&mut out, "Node-Selectors", pod.pointer("/spec/nodeSelector"), "=", &[]);
    tolerations(&mut out, "", pod.pointer("/spec/tolerations"));
    finish(out, events, now)
}

fn percent_or(v: &Value, key: &str, default: &str) -> String {
    match &v[key] {
        Value::Null => default.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `kubectl describe deployment` (without ReplicaSet lines: there are none here).
/// `kubectl describe deployment`; `rss` are the ReplicaSets its selector matches.
pub fn deployment(d: &Value, rss: &[Value], events: &[Value], now: jiff::Timestamp) -> String {
    let mut out = String::new();
    metadata(&mut out, d, true);
    out.push_str(&format!("CreationTimestamp:\t{}\n", rfc1123z(s(d, "/metadata/creationTimestamp"))));
    map_lines(&mut out, "Labels", d.pointer("/metadata/labels"), "=", &[]);
    map_lines(&mut out, "Annotations", d.pointer("/metadata/annotations"), ": ", &[LAST_APPLIED]);
    out.push_str(&format!("Selector:\t{}\n", format_labels(d.pointer("/spec/selector/matchLabels"))));
    let n = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    out.push_str(&format!(
        "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable\n",
        n("/spec/replicas"),
        n("/status/updatedReplicas"),
        n("/status/replicas"),
        n("/status/availableReplicas"),
        n("/status/unavailableReplicas")
    ));
    let strategy = if s(d, "/spec/strategy/type").is_empty() { "RollingUpdate" } else { s(d, "/spec/strategy/type") };
    out.push_str(&format!("StrategyType:\t{strategy}\nMinReadySeconds:\t{}\n", n("/spec/minReadySeconds")));
    if strategy == "RollingUpdate" {
        let ru = d.pointer("/spec/strategy/rollingUpdate").cloned().unwrap_or_default();
        out.push_str(&format!(
            "RollingUpdateStrategy:\t{} max unavailable, {} max surge\n",
            percent_or(&ru, "maxUnavailable", "25%"),
            percent_or(&ru, "maxSurge", "25%")
        ));
    }
    out.push_str("Pod Template:\n");
    let template = d.pointer("/spec/template").cloned().unwrap_or_default();
    map_lines_at(&mut out, "  ", "Labels", template.pointer("/metadata/labels"), "=", &[]);
    if template.pointer("/metadata/annotations").and_then(Value::as_object).is_some_and(|a| !a.is_empty()) {
        map_lines_at(&mut out, "  ", "Annotations", template.pointer("/metadata/annotations"), ": ", &[]);
    }
    out.push_str("  Containers:\n");
    for c in template.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        container(&mut out, "   ", c, None, None);
    }
    volumes::volumes(&mut out, "  ", template.pointer("/spec/volumes"));
    map_lines_at(&mut out, "  ", "Node-Selectors", template.pointer("/spec/nodeSelector"), "=", &[]);
    tolerations(&mut out, "  ", template.pointer("/spec/tolerations"));
    if let Some(conditions) = d.pointer("/status/conditions").and_then(Value::as_array).filter(|c| !c.is_empty()) {
        out.push_str("Conditions:\n  Type\tStatus\tReason\n  ----\t------\t------\n");
        for c in conditions {
            out.push_str(&format!("  {} \t{}\t{}\n", s(c, "/type"), s(c, "/status"), s(c, "/reason")));
        }
    }
    replicasets::lines(&mut out, d, rss);
    finish(out, events, now)
}

/// The `Lease:` block of `describe node`: the node's heartbeat Lease
/// (`kube-node-lease/<node>`), or why it could not be read (`Err` holds the
/// server's message, e.g. `leases.coordination.k8s.io "node1" not found`).
/// A field that is absent prints `<unset>`.
fn lease_lines(out: &mut String, lease: &Result<Value, String>) {
    let lease = match lease {
        Ok(lease) => lease,
        Err(e) => return out.push_str(&format!("Lease:\tFailed to get lease: {e}\n")),
    };
    let field = |name: &str, time: bool| match lease.pointer(&format!("/spec/{name}")).and_then(Value::as_str) {
        None => "<unset>".to_string(),
        Some(t) if time => rfc1123z(t),
        Some(v) => v.to_string(),
    };
    out.push_str("Lease:\n");
    out.push_str(&format!("  HolderIdentity:\t{}\n", field("holderIdentity", false)));
    out.push_str(&format!("  AcquireTime:\t{}\n", field("acquireTime", true)));
    out.push_str(&format!("  RenewTime:\t{}\n", field("renewTime", true)));
}

/// `kubectl describe node`, with its Lease and the pods bound to it.
pub fn node(
    n: &Value,
    lease: &Result<Value, String>,
    pods: &[Value],
    events: &[Value],
    now: jiff::Timestamp,
) -> String {
    let mut out = String::new();
    metadata(&mut out, n, false);
    let roles: Vec<&str> = n
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).collect())
        .unwrap_or_default();
    out.push_str(&format!("Roles:\t{}\n", if roles.is_empty() { "<none>".to_string() } else { roles.join(",") }));
    map_lines(&mut out, "Labels", n.pointer("/metadata/labels"), "=", &[]);
    map_lines(&mut out, "Annotations", n.pointer("/metadata/annotations"), ": ", &[LAST_APPLIED]);
    out.push_str(&format!("CreationTimestamp:\t{}\n", rfc1123z(s(n, "/metadata/creationTimestamp"))));
    let mut taints = n.pointer("/spec/taints").and_then(Value::as_array).cloned().unwrap_or_default();
    // kubectl sorts them by effect, then key: NoExecute before NoSchedule.
    taints.sort_by(|a, b| (s(a, "/effect"), s(a, "/key")).cmp(&(s(b, "/effect"), s(b, "/key"))));
    if taints.is_empty() {
        out.push_str("Taints:\t<none>\n");
    }
    for (i, t) in taints.iter().enumerate() {
        let label = if i == 0 { "Taints:" } else { "" };
        let value = if s(t, "/value").is_empty() { String::new() } else { format!("={}", s(t, "/value")) };
        out.push_str(&format!("{label}\t{}{value}:{}\n", s(t, "/key"), s(t, "/effect")));
    }
    out.push_str(&format!(
        "Unschedulable:\t{}\n",
        n.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false)
    ));
    lease_lines(&mut out, lease);
    if let Some(conditions) = n.pointer("/status/conditions").and_then(Value::as_array).filter(|c| !c.is_empty()) {
        out.push_str("Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n  ----\t------\t-----------------\t------------------\t------\t-------\n");
        for c in conditions {
            out.push_str(&format!(
                "  {} \t{} \t{} \t{} \t{} \t{}\n",
                s(c, "/type"),
                s(c, "/status"),
                rfc1123z(s(c, "/lastHeartbeatTime")),
                rfc1123z(s(c, "/lastTransitionTime")),
                s(c, "/reason"),
                s(c, "/message")
            ));
        }
    }
    out.push_str("Addresses:\n");
    for a in n.pointer("/status/addresses").and_then(Value::as_array).into_iter().flatten() {
        out.push_str(&format!("  {}:\t{}\n", s(a, "/type"), s(a, "/address")));
    }
    for (key, label) in [("/status/capacity", "Capacity"), ("/status/allocatable", "Allocatable")] {
        if let Some(m) = n.pointer(key).and_then(Value::as_object) {
            out.push_str(&format!("{label}:\n"));
            for (k, v) in m {
                out.push_str(&format!("  {k}:\t{}\n", v.as_str().unwrap_or("")));
            }
        }
    }
    out.push_str("System Info:\n");
    for (key, label) in [
        ("machineID", "Machine ID"),
        ("systemUUID", "System UUID"),
        ("bootID", "Boot ID"),
        ("kernelVersion", "Kernel Version"),
        ("osImage", "OS Image"),
        ("operatingSystem", "Operating System"),
        ("architecture", "Architecture"),
        ("containerRuntimeVersion", "Container Runtime Version"),
        ("kubeletVersion", "Kubelet Version"),
        ("kubeProxyVersion", "Kube-Proxy Version"),
    ] {
        out.push_str(&format!("  {label}:\t{}\n", s(n, &format!("/status/nodeInfo/{key}"))));
    }
    if !s(n, "/spec/podCIDR").is_empty() {
        out.push_str(&format!("PodCIDR:\t{}\n", s(n, "/spec/podCIDR")));
        let cidrs: Vec<&str> = n
            .pointer("/spec/podCIDRs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!("PodCIDRs:\t{}\n", cidrs.join(",")));
    }
    let running: Vec<&Value> =
        pods.iter().filter(|p| !matches!(s(p, "/status/phase"), "Succeeded" | "Failed")).collect();
    out.push_str(&format!("Non-terminated Pods:\t({} in total)\n", running.len()));
    out.push_str("  Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n");
    out.push_str("  ---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n");
    for p in running {
        out.push_str(&format!(
            "  {}\t{}\t\t0 (0%)\t0 (0%)\t0 (0%)\t0 (0%)\t{}\n",
            s(p, "/metadata/namespace"),
            s(p, "/metadata/name"),
            age_of(s(p, "/metadata/creationTimestamp"), now)
        ));
    }
    out.push_str("Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n");
    out.push_str("  Resource\tRequests\tLimits\n  --------\t--------\t------\n");
    for r in ["cpu", "memory", "ephemeral-storage"] {
        out.push_str(&format!("  {r}\t0 (0%)\t0 (0%)\n"));
    }
    finish(out, events, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_port_service_as_kubectl_describes_it() {
        let svc = json!({"metadata":{"name":"np2","namespace":"default","labels":{"app":"np2","tier":"web"},"annotations":{"a":"b"}},
            "spec":{"type":"NodePort","selector":{"app":"np2"},"ipFamilyPolicy":"SingleStack","ipFamilies":["IPv4"],"clusterIP":"10.97.72.35","clusterIPs":["10.97.72.35"],
                    "ports":[{"name":"80-8080","port":80,"protocol":"TCP","targetPort":8080,"nodePort":30674}],
                    "sessionAffinity":"None","externalTrafficPolicy":"Cluster","internalTrafficPolicy":"Cluster"}});
        // Exactly what kubectl 1.32 printed for this object (trailing spaces included).
        let want = "\
Name:                     np2
Namespace:                default
Labels:                   app=np2
                          tier=web
Annotations:              a: b
Selector:                 app=np2
Type:                     NodePort
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       10.97.72.35
IPs:                      10.97.72.35
Port:                     80-8080  80/TCP
TargetPort:               8080/TCP
NodePort:                 80-8080  30674/TCP
Endpoints:                <none>
Session Affinity:         None
External Traffic Policy:  Cluster
Internal Traffic Policy:  Cluster
Events:                   <none>
";
        assert_eq!(service(&svc, &[], &[], jiff::Timestamp::now()), want);
    }

    /// The lab's objects as `kubectl describe` lays them out (the same
    /// objects are compared with the installed kubectl in `tests/cli.rs`).
    fn now() -> jiff::Timestamp {
        "2026-11-26T03:20:00Z".parse().unwrap()
    }

    fn web_pod() -> Value {
        json!({"metadata":{"name":"web","namespace":"default","labels":{"app":"web","tier":"fe"},
            "ownerReferences":[{"kind":"Deployment","name":"web","controller":true}]},
            "spec":{"nodeName":"node1","containers":[
                {"name":"web","image":"myapp:v1","ports":[{"containerPort":80,"name":"http","protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],
                 "env":[{"name":"A","value":"1"}],"readinessProbe":{"httpGet":{"path":"/healthz","port":80,"scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":2,"successThreshold":1,"failureThreshold":3}},
                {"name":"side","image":"busybox"}]},
            "status":{"phase":"Running","podIP":"10.244.1.5","podIPs":[{"ip":"10.244.1.5"}],"hostIP":"172.28.0.11","startTime":"2026-11-26T03:18:40Z",
                "conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}],
                "containerStatuses":[{"name":"web","image":"myapp:v1","imageID":"","containerID":"netns://kl-1","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-26T03:18:40Z"}}},
                    {"name":"side","image":"busybox","imageID":"","ready":false,"restartCount":2,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}})
    }

    fn event(reason: &str, message: &str, at: &str) -> Value {
        json!({"type":"Normal","reason":reason,"message":message,"lastTimestamp":at,"source":{"component":"default-scheduler"}})
    }

    #[test]
    fn describe_pod_snapshot() {
        let events = [event("Scheduled", "Successfully assigned default/web to node1", "2026-11-26T03:18:30Z")];
        insta::assert_snapshot!(pod(&web_pod(), &events, now()));
    }

    #[test]
    fn describe_deployment_snapshot() {
        let d = json!({"metadata":{"name":"myapp-deploy","namespace":"default","creationTimestamp":"2026-11-26T03:18:24Z"},
            "spec":{"replicas":3,"selector":{"matchLabels":{"app":"myapp","release":"stabel"}},
                "template":{"metadata":{"labels":{"app":"myapp","env":"test","release":"stabel"}},
                    "spec":{"containers":[{"name":"myapp","image":"hub.xiaosha.com/library/myapp:v2","ports":[{"name":"http","containerPort":80,"protocol":"TCP"}]}]}}},
            "status":{"replicas":3,"updatedReplicas":3,"availableReplicas":3,
                "conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable"},{"type":"Progressing","status":"True","reason":"NewReplicaSetAvailable"}]}});
        let events = [
            json!({"type":"Normal","reason":"SuccessfulCreate","message":"Created pod: myapp-deploy-6f65bc87b4-62vgm",
            "lastTimestamp":"2026-11-26T03:18:24Z","source":{"component":"deployment-controller"}}),
        ];
        insta::assert_snapshot!(deployment(&d, &[], &events, now()));
    }

    #[test]
    fn describe_node_snapshot() {
        let n = json!({"metadata":{"name":"node1","creationTimestamp":"2026-11-26T03:10:00Z","labels":{"kubernetes.io/hostname":"node1"}},
            "spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]},
            "status":{"addresses":[{"type":"InternalIP","address":"172.28.0.11"},{"type":"Hostname","address":"node1"}],
                "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status",
                    "lastHeartbeatTime":"2026-11-26T03:19:55Z","lastTransitionTime":"2026-11-26T03:10:00Z"}],
                "capacity":{"cpu":"2","memory":"24Gi","pods":"110"},"allocatable":{"cpu":"2","memory":"24Gi","pods":"110"},
                "nodeInfo":{"kubeletVersion":"v1.32.0-lite","kubeProxyVersion":"","containerRuntimeVersion":"lite://0.1.0","osImage":"mini-k8s lab node",
                    "kernelVersion":"6.1.0","operatingSystem":"linux","architecture":"amd64","bootID":"","machineID":"","systemUUID":""}}});
        let mut p = web_pod();
        p["metadata"]["creationTimestamp"] = json!("2026-11-26T03:18:30Z");
        let lease = Ok(
            json!({"spec":{"holderIdentity":"node1","leaseDurationSeconds":40,"renewTime":"2026-11-26T03:19:58.123456Z"}}),
        );
        insta::assert_snapshot!(node(&n, &lease, &[p], &[], now()));
    }

    #[test]
    fn a_silent_nodes_taints_are_sorted_as_kubectl_sorts_them() {
        let n = json!({"metadata":{"name":"node1"},"spec":{"taints":[
            {"key":"node.kubernetes.io/unreachable","effect":"NoSchedule"},{"key":"node.kubernetes.io/unreachable","effect":"NoExecute"}]}});
        let text = node(&n, &Err(String::new()), &[], &[], now());
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("unreachable")).collect();
        assert!(
            lines[0].starts_with("Taints:") && lines[0].ends_with("node.kubernetes.io/unreachable:NoExecute"),
            "{text}"
        );
        assert!(lines[1].ends_with("node.kubernetes.io/unreachable:NoSchedule"), "{text}");
    }

    #[test]
    fn a_node_without_its_lease() {
        let n = json!({"metadata":{"name":"node1"}});
        let missing = Err(r#"leases.coordination.k8s.io "node1" not found"#.to_string());
        let text = node(&n, &missing, &[], &[], now());
        assert!(
            text.contains(
                "\nLease:              Failed to get lease: leases.coordination.k8s.io \"node1\" not found\n"
            ),
            "{text}"
        );
        // A leader's Lease has an acquireTime; an empty spec prints every field unset.
        let mut out = String::new();
        lease_lines(&mut out, &Ok(json!({"spec":{"holderIdentity":"a","acquireTime":"2026-11-26T03:00:00.000000Z"}})));
        lease_lines(&mut out, &Ok(json!({"spec":{}})));
        let want =
            "Lease:\n  HolderIdentity:\ta\n  AcquireTime:\tThu, 26 Nov 2026 03:00:00 +0000\n  RenewTime:\t<unset>\n\
                    Lease:\n  HolderIdentity:\t<unset>\n  AcquireTime:\t<unset>\n  RenewTime:\t<unset>\n";
        assert_eq!(out, want);
    }

    #[test]
    fn describe_service_snapshot() {
        let svc = json!({"metadata":{"name":"myapp","namespace":"default"},
            "spec":{"type":"ClusterIP","selector":{"app":"myapp","release":"stabel"},"clusterIP":"10.108.46.110","clusterIPs":["10.108.46.110"],
                "ipFamilyPolicy":"SingleStack","ipFamilies":["IPv4"],"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":80}],
                "sessionAffinity":"None","internalTrafficPolicy":"Cluster"}});
        let slices = [json!({"ports":[{"name":"http","port":80}],"endpoints":[
            {"addresses":["10.244.1.31"],"conditions":{"ready":true}},{"addresses":["10.244.1.32"],"conditions":{"ready":true}},
            {"addresses":["10.244.2.41"],"conditions":{"ready":true}},{"addresses":["10.244.2.42"],"conditions":{"ready":false}}]})];
        let events = [json!({"type":"Normal","reason":"EndpointsUpdated","message":"Endpoints: 10.244.1.31:80 ready",
            "lastTimestamp":"2026-11-26T03:19:00Z","reportingComponent":"endpoint-controller"})];
        insta::assert_snapshot!(service(&svc, &slices, &events, now()));
    }
}
