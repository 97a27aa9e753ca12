//! What the node agent reports, as pure functions: a pod's status as a
//! kubelet writes it (so `kubectl get pod -o wide` reads like the
//! tutorial's), and the Node's status.

use crate::lifecycle;
use k8s_openapi::api::core::v1::{Container, NodeStatus, Pod, PodStatus};
use serde_json::json;

/// A pod's status: phase (from its containers' states and restart
/// policy), IPs, conditions and one status per container.
pub fn pod_status(
    pod: &Pod,
    pod_ip: &str,
    host_ip: &str,
    started: jiff::Timestamp,
    containers: &[lifecycle::Container],
) -> PodStatus {
    let phase = lifecycle::phase(lifecycle::RestartPolicy::of(pod), containers);
    let specs: Vec<&Container> = pod.spec.iter().flat_map(|s| s.containers.iter()).collect();
    let ready = !containers.is_empty()
        && containers.iter().all(|c| c.ready && matches!(c.state, lifecycle::State::Running { .. }));
    let started = started.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let flag = if ready { "True" } else { "False" };
    // Keep when each condition last changed: a kubelet does not move them on every report.
    let previous = |ty: &str, status: &str| {
        pod.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == ty && c.status == status))
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    };
    let unready: Vec<&str> = specs
        .iter()
        .zip(containers)
        .filter(|(_, c)| !(c.ready && matches!(c.state, lifecycle::State::Running { .. })))
        .map(|(s, _)| s.name.as_str())
        .collect();
    let why = match phase {
        "Succeeded" | "Failed" => json!({"reason": "PodCompleted"}),
        _ if !ready => {
            json!({"reason": "ContainersNotReady", "message": format!("containers with unready status: [{}]", unready.join(" "))})
        }
        _ => json!({}),
    };
    let condition = |ty: &str, status: &str| {
        let mut c =
            json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": previous(ty, status)});
        if status == "False" {
            for (k, v) in why.as_object().into_iter().flatten() {
                c[k] = v.clone();
            }
        }
        c
    };
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let statuses: Vec<serde_json::Value> = specs
        .iter()
        .zip(containers)
        .map(|(spec, c)| {
            let image = spec.image.clone().unwrap_or_default();
            lifecycle::container_status(&spec.name, &image, &format!("lite://{pod_name}-{}", spec.name), c)
        })
        .collect();
    serde_json::from_value(json!({
        "phase": phase,
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
        "startTime": started,
        "qosClass": "BestEffort",
        "conditions": [
            condition("PodReadyToStartContainers", "True"),
            condition("Initialized", "True"),
            condition("Ready", flag),
            condition("ContainersReady", flag),
            condition("PodScheduled", "True"),
        ],
        "containerStatuses": statuses,
    }))
    .expect("a valid PodStatus")
}

/// What the machine has, as a Node's capacity: CPUs, memory (from
/// `/proc/meminfo`, in Ki as the kubelet reports it) and the pod limit.
pub fn capacity() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_ki = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    json!({"cpu": cpus.to_string(), "memory": format!("{mem_ki}Ki"), "pods": "110"})
}

/// The Node's status at a heartbeat.
pub fn node_status(name: &str, node_ip: &str, kubelet_port: u16, kernel: &str) -> NodeStatus {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    serde_json::from_value(json!({
        "capacity": capacity(),
        "allocatable": capacity(),
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": node_ip}, {"type": "Hostname", "address": name}],
        // Where the apiserver reaches this node's kubelet API (logs, exec).
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {"kubeletVersion": "v1.32.0-lite", "kubeProxyVersion": "", "containerRuntimeVersion": "lite://0.1.0",
                     "osImage": "mini-k8s lab node", "kernelVersion": kernel, "operatingSystem": "linux", "architecture": "amd64",
                     "bootID": "", "machineID": "", "systemUUID": ""},
    }))
    .expect("a valid NodeStatus")
}

/// Whether the pod's status must be written again: its readiness changed
/// since the last report, or the API's copy says otherwise than this node
/// does (no IP yet, or a Ready the node lifecycle controller turned False
/// while this node was unreachable: the kubelet's status manager puts it
/// right when it is heard again).
pub fn needs_report(pod: &Pod, reported_ready: Option<bool>, ready: bool, ip: &str) -> bool {
    let has_ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()) == Some(ip);
    reported_ready != Some(ready) || !has_ip || api::readiness::pod_ready(pod) != ready
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_pod_reads_like_kubectls() {
        let pod: Pod = serde_json::from_value(json!({"metadata":{"name":"myapp-deploy-77b578b6d-8jc6t"},"spec":{"containers":[{"name":"myapp","image":"myapp:v2"}]}})).unwrap();
        let running = lifecycle::Container {
            state: lifecycle::State::Running { started_at: jiff::Timestamp::UNIX_EPOCH },
            ready: true,
            ..lifecycle::Container::waiting("")
        };
        let s = pod_status(&pod, "10.244.1.31", "192.168.66.20", jiff::Timestamp::UNIX_EPOCH, &[running]);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            (v["phase"].as_str(), v["podIP"].as_str(), v["hostIP"].as_str()),
            (Some("Running"), Some("10.244.1.31"), Some("192.168.66.20"))
        );
        assert!(v["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        assert_eq!(v["containerStatuses"][0]["ready"], true);
        // The printers say what kubectl would.
        let pod_json = json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"myapp"}],"nodeName":"k8s-node01"},"status":v});
        let cells = api::printers::cells("Pod", &pod_json, jiff::Timestamp::now());
        assert_eq!(cells[1..4], [json!("1/1"), json!("Running"), json!("0")]);
        assert_eq!(cells[5..7], [json!("10.244.1.31"), json!("k8s-node01")]);
    }

    #[test]
    fn a_status_marked_not_ready_elsewhere_is_reported_again() {
        let pod = |ready: &str| -> Pod {
            serde_json::from_value(
                json!({"status":{"podIP":"10.244.1.31","conditions":[{"type":"Ready","status":ready}]}}),
            )
            .unwrap()
        };
        // (API's Ready, last reported, probed now) -> write?
        let cases = [
            ("True", Some(true), true, false),
            ("True", Some(true), false, true),
            ("False", Some(false), false, false),
            ("False", Some(true), true, true), // the node controller marked it while we were away
            ("True", None, true, true),
        ];
        for (api_ready, reported, ready, want) in cases {
            assert_eq!(
                needs_report(&pod(api_ready), reported, ready, "10.244.1.31"),
                want,
                "{api_ready} {reported:?} {ready}"
            );
        }
        assert!(needs_report(&pod("True"), Some(true), true, "10.244.1.99"), "another IP");
    }

    #[test]
    fn node_status_is_ready_with_addresses() {
        let s = serde_json::to_value(node_status("node1", "172.20.0.3", 10250, "6.1.0")).unwrap();
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["addresses"][0], json!({"type":"InternalIP","address":"172.20.0.3"}));
        assert_eq!(s["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
        assert!(s["capacity"]["memory"].as_str().unwrap().ends_with("Ki") && s["capacity"]["pods"] == "110");
    }
}
