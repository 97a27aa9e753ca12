//! The printers of the kinds the Service lifecycle is made of: Services,
//! their Endpoints and EndpointSlices, Pods, Deployments, ReplicaSets, Nodes,
//! Namespaces, Events, Leases, ConfigMaps, Secrets, ServiceAccounts.

use super::format::{age, arr, col, format_label_selector, format_labels, or_none, since, Column, AGE, NAME};
use crate::duration::human_duration;
use crate::json::{at, str_at as s};
use serde_json::{json, Value};

/// The columns of a kind printed here, or `None`.
pub fn columns(kind: &str) -> Option<Vec<Column>> {
    Some(match kind {
        "Service" => vec![
            NAME,
            col("Type", "string", 0, "type determines how the Service is exposed."),
            col("Cluster-IP", "string", 0, "clusterIP is the IP address of the service."),
            col("External-IP", "string", 0, "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic."),
            col("Port(s)", "string", 0, "The list of ports that are exposed by this service."),
            AGE,
            col("Selector", "string", 1, "Route service traffic to pods with label keys and values matching this selector."),
        ],
        "Pod" => vec![
            NAME,
            col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            col("Status", "string", 0, "The aggregate status of the containers in this pod."),
            col("Restarts", "string", 0, "The number of times the containers in this pod have been restarted."),
            AGE,
            col("IP", "string", 1, "podIP address allocated to the pod."),
            col("Node", "string", 1, "Name of the Node this pod is scheduled on."),
            col("Nominated Node", "string", 1, "nominatedNodeName is set when this pod preempts other pods on the node."),
            col("Readiness Gates", "string", 1, "If specified, all readiness gates will be evaluated for pod readiness."),
        ],
        "Deployment" => vec![
            NAME,
            col("Ready", "string", 0, "Number of the pod with ready state"),
            col("Up-to-date", "integer", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            col("Available", "integer", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
            AGE,
            col("Containers", "string", 1, "Names of each container in the template."),
            col("Images", "string", 1, "Images referenced by each container in the template."),
            col("Selector", "string", 1, "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
        ],
        "ReplicaSet" => vec![
            NAME,
            col("Desired", "integer", 0, "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works"),
            col("Current", "integer", 0, "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works"),
            col("Ready", "integer", 0, "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition."),
            AGE,
            col("Containers", "string", 1, "Names of each container in the template."),
            col("Images", "string", 1, "Images referenced by each container in the template."),
            col("Selector", "string", 1, "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"),
        ],
        "Endpoints" => vec![NAME, col("Endpoints", "string", 0, "Endpoints of the service"), AGE],
        "EndpointSlice" => vec![
            NAME,
            col("AddressType", "string", 0, "The IP protocol for this slice"),
            col("Ports", "string", 0, "The ports for this slice"),
            col("Endpoints", "string", 0, "The addresses for this slice"),
            AGE,
        ],
        "Node" => vec![
            NAME,
            col("Status", "string", 0, "The status of the node"),
            col("Roles", "string", 0, "The roles of the node"),
            AGE,
            col("Version", "string", 0, "Kubelet Version reported by the node."),
            col("Internal-IP", "string", 1, "List of addresses reachable to the node. Queried from cloud provider, if available."),
            col("External-IP", "string", 1, "List of addresses reachable to the node. Queried from cloud provider, if available."),
            col("OS-Image", "string", 1, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
            col("Kernel-Version", "string", 1, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
            col("Container-Runtime", "string", 1, "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
        ],
        "Namespace" => vec![NAME, col("Status", "string", 0, "The status of the namespace"), AGE],
        // apiextensions' own table: the creation time as written, not an age.
        "CustomResourceDefinition" => vec![NAME, col("Created At", "date", 0, AGE.description)],
        "Lease" => vec![NAME, col("Holder", "string", 0, "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field."), AGE],
        "Event" => vec![
            col("Last Seen", "string", 0, "Time when last event occurred"),
            col("Type", "string", 0, "Type of this event (Normal, Warning), new types could be added in the future."),
            col("Reason", "string", 0, "Reason why the action was taken. It is human-readable."),
            col("Object", "string", 0, "The object this Event is about"),
            col("Subobject", "string", 1, "The subobject this Event is about"),
            col("Source", "string", 1, "The source of this Event"),
            col("Message", "string", 0, "A human-readable description of the status of this operation."),
            col("First Seen", "string", 1, "The time at which the event was first recorded."),
            col("Count", "string", 1, "The number of times this event has occurred."),
            col("Name", "string", 1, "Name must be unique within a namespace."),
        ],
        "ConfigMap" => vec![NAME, col("Data", "string", 0, "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process."), AGE],
        "Secret" => vec![
            NAME,
            col("Type", "string", 0, "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
            col("Data", "string", 0, "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4"),
            AGE,
        ],
        "ServiceAccount" => vec![NAME, col("Secrets", "string", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."), AGE],
        _ => return None,
    })
}

/// How many keys the object at `pointer` has (a ConfigMap's `data`).
fn key_count(obj: &Value, pointer: &str) -> usize {
    at(obj, pointer).and_then(Value::as_object).map_or(0, |m| m.len())
}

/// Joins at most three items, then ` + N more...`, as upstream does for endpoints.
fn first_three(items: &[String]) -> String {
    if items.len() > 3 {
        format!("{} + {} more...", items[..3].join(","), items.len() - 3)
    } else {
        items.join(",")
    }
}

/// The cells of one row, matching `columns(kind)`.
pub fn cells(kind: &str, obj: &Value, now: jiff::Timestamp) -> Option<Vec<Value>> {
    let name = json!(s(obj, "/metadata/name"));
    let created = age(obj, "/metadata/creationTimestamp", now);
    Some(match kind {
        "Service" => {
            let ty = s(obj, "/spec/type");
            let cluster_ip = arr(obj, "/spec/clusterIPs").first().and_then(Value::as_str).unwrap_or("").to_string();
            let external_ips: Vec<String> =
                arr(obj, "/spec/externalIPs").iter().filter_map(Value::as_str).map(String::from).collect();
            let external = match ty {
                "ExternalName" => s(obj, "/spec/externalName").to_string(),
                "LoadBalancer" => {
                    let mut ips: Vec<String> = arr(obj, "/status/loadBalancer/ingress")
                        .iter()
                        .map(|i| {
                            if s(i, "/ip").is_empty() {
                                s(i, "/hostname").to_string()
                            } else {
                                s(i, "/ip").to_string()
                            }
                        })
                        .collect();
                    ips.extend(external_ips);
                    if ips.is_empty() {
                        "<pending>".to_string()
                    } else {
                        ips.join(",")
                    }
                }
                _ => external_ips.join(","),
            };
            let ports: Vec<String> = arr(obj, "/spec/ports")
                .iter()
                .map(|p| {
                    let (port, proto) = (p["port"].as_i64().unwrap_or(0), s(p, "/protocol"));
                    match p.get("nodePort").and_then(Value::as_i64) {
                        Some(np) if np != 0 => format!("{port}:{np}/{proto}"),
                        _ => format!("{port}/{proto}"),
                    }
                })
                .collect();
            vec![
                name,
                json!(ty),
                json!(or_none(cluster_ip)),
                json!(or_none(external)),
                json!(or_none(ports.join(","))),
                json!(created),
                json!(format_labels(at(obj, "/spec/selector"))),
            ]
        }
        "Pod" => {
            let statuses = arr(obj, "/status/containerStatuses");
            let total = arr(obj, "/spec/containers").len();
            let ready = statuses.iter().filter(|c| c["ready"].as_bool() == Some(true)).count();
            let restarts: i64 = statuses.iter().map(|c| c["restartCount"].as_i64().unwrap_or(0)).sum();
            // The latest restart: when a container's previous run ended.
            let last_restart = statuses.iter().filter_map(|c| since(c, "/lastState/terminated/finishedAt", now)).min();
            let mut status = s(obj, "/status/phase").to_string();
            if !s(obj, "/status/reason").is_empty() {
                status = s(obj, "/status/reason").to_string();
            }
            // As upstream's printPod: the first container's state has the last word.
            let mut has_running = false;
            for c in statuses.iter().rev() {
                let reason = |p: &str| at(c, p).and_then(Value::as_str).filter(|r| !r.is_empty());
                if let Some(r) = reason("/state/waiting/reason") {
                    status = r.to_string();
                } else if let Some(r) = reason("/state/terminated/reason") {
                    status = r.to_string();
                } else if let Some(t) = at(c, "/state/terminated") {
                    status = match t["signal"].as_i64().unwrap_or(0) {
                        0 => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
                        sig => format!("Signal:{sig}"),
                    };
                } else if c["ready"].as_bool() == Some(true) && at(c, "/state/running").is_some() {
                    has_running = true;
                }
            }
            if status == "Completed" && has_running {
                let ready_condition =
                    arr(obj, "/status/conditions").iter().any(|c| c["type"] == "Ready" && c["status"] == "True");
                status = if ready_condition { "Running" } else { "NotReady" }.to_string();
            }
            if at(obj, "/metadata/deletionTimestamp").is_some() {
                status = "Terminating".to_string();
            }
            if status.is_empty() {
                status = "Pending".to_string();
            }
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(match last_restart {
                    Some(secs) if restarts > 0 => format!("{restarts} ({} ago)", human_duration(secs)),
                    _ => restarts.to_string(),
                }),
                json!(created),
                json!(or_none(s(obj, "/status/podIP").to_string())),
                json!(or_none(s(obj, "/spec/nodeName").to_string())),
                json!(or_none(s(obj, "/status/nominatedNodeName").to_string())),
                json!("<none>"),
            ]
        }
        "Deployment" => {
            let int = |p: &str| at(obj, p).and_then(Value::as_i64).unwrap_or(0);
            let containers = arr(obj, "/spec/template/spec/containers");
            let join = |field: &str| containers.iter().map(|c| s(c, field).to_string()).collect::<Vec<_>>().join(",");
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int("/status/readyReplicas"),
                    at(obj, "/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
                )),
                json!(int("/status/updatedReplicas")),
                json!(int("/status/availableReplicas")),
                json!(created),
                json!(join("/name")),
                json!(join("/image")),
                json!(format_label_selector(at(obj, "/spec/selector"))),
            ]
        }
        "ReplicaSet" => {
            let int = |p: &str| at(obj, p).and_then(Value::as_i64).unwrap_or(0);
            let containers = arr(obj, "/spec/template/spec/containers");
            let join = |field: &str| containers.iter().map(|c| s(c, field).to_string()).collect::<Vec<_>>().join(",");
            vec![
                name,
                json!(at(obj, "/spec/replicas").and_then(Value::as_i64).unwrap_or(1)),
                json!(int("/status/replicas")),
                json!(int("/status/readyReplicas")),
                json!(created),
                json!(join("/name")),
                json!(join("/image")),
                json!(format_label_selector(at(obj, "/spec/selector"))),
            ]
        }
        // upstream counts both bags of a ConfigMap, only `data` of a Secret
        "ConfigMap" => {
            vec![name, json!(key_count(obj, "/data") + key_count(obj, "/binaryData")), json!(created)]
        }
        "Secret" => vec![name, json!(s(obj, "/type")), json!(key_count(obj, "/data")), json!(created)],
        "ServiceAccount" => vec![name, json!(arr(obj, "/secrets").len()), json!(created)],
        "Endpoints" => {
            let mut items = Vec::new();
            for subset in arr(obj, "/subsets") {
                let ports = arr(subset, "/ports");
                for addr in arr(subset, "/addresses") {
                    if ports.is_empty() {
                        items.push(s(addr, "/ip").to_string());
                    }
                    for p in ports {
                        items.push(format!("{}:{}", s(addr, "/ip"), p["port"].as_i64().unwrap_or(0)));
                    }
                }
            }
            vec![name, json!(or_none(first_three(&items))), json!(created)]
        }
        "EndpointSlice" => {
            let ports: Vec<String> = arr(obj, "/ports")
                .iter()
                .map(|p| p.get("port").and_then(Value::as_i64).map_or("<unset>".to_string(), |n| n.to_string()))
                .collect();
            let addrs: Vec<String> = arr(obj, "/endpoints")
                .iter()
                .flat_map(|e| arr(e, "/addresses").iter().filter_map(Value::as_str).map(String::from))
                .collect();
            let unset = |s: String| if s.is_empty() { "<unset>".to_string() } else { s };
            vec![
                name,
                json!(s(obj, "/addressType")),
                json!(unset(first_three(&ports))),
                json!(unset(first_three(&addrs))),
                json!(created),
            ]
        }
        "Node" => {
            let ready = arr(obj, "/status/conditions").iter().find(|c| s(c, "/type") == "Ready");
            // Upstream prints "NotReady" for False *and* Unknown (a node
            // whose kubelet went silent); "Unknown" only without a Ready condition.
            let mut status = match ready.map(|c| s(c, "/status")) {
                Some("True") => "Ready".to_string(),
                Some(_) => "NotReady".to_string(),
                None => "Unknown".to_string(),
            };
            if at(obj, "/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            let roles: Vec<&str> = obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|l| {
                    l.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .filter(|r| !r.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let address = |ty: &str| {
                arr(obj, "/status/addresses")
                    .iter()
                    .find(|a| s(a, "/type") == ty)
                    .map(|a| s(a, "/address").to_string())
                    .unwrap_or_default()
            };
            vec![
                name,
                json!(status),
                json!(or_none(roles.join(","))),
                json!(created),
                json!(s(obj, "/status/nodeInfo/kubeletVersion")),
                json!(or_none(address("InternalIP"))),
                json!(or_none(address("ExternalIP"))),
                json!(s(obj, "/status/nodeInfo/osImage")),
                json!(s(obj, "/status/nodeInfo/kernelVersion")),
                json!(s(obj, "/status/nodeInfo/containerRuntimeVersion")),
            ]
        }
        "Namespace" => vec![name, json!(s(obj, "/status/phase")), json!(created)],
        // An unset holder prints empty, not `<none>`, as upstream's printLease.
        "Lease" => vec![name, json!(s(obj, "/spec/holderIdentity")), json!(created)],
        "CustomResourceDefinition" => vec![name, json!(s(obj, "/metadata/creationTimestamp"))],
        "Event" => {
            let last = ["/lastTimestamp", "/eventTime", "/metadata/creationTimestamp"]
                .iter()
                .find_map(|p| since(obj, p, now))
                .map_or("<unknown>".to_string(), human_duration);
            let first = ["/firstTimestamp", "/eventTime", "/metadata/creationTimestamp"]
                .iter()
                .find_map(|p| since(obj, p, now))
                .map_or("<unknown>".to_string(), human_duration);
            let object =
                format!("{}/{}", s(obj, "/involvedObject/kind").to_ascii_lowercase(), s(obj, "/involvedObject/name"));
            let source = [s(obj, "/source/component"), s(obj, "/source/host")]
                .iter()
                .filter(|x| !x.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                json!(last),
                json!(s(obj, "/type")),
                json!(s(obj, "/reason")),
                json!(object),
                json!(s(obj, "/involvedObject/fieldPath")),
                json!(source),
                json!(s(obj, "/message")),
                json!(first),
                json!(obj.get("count").and_then(Value::as_i64).unwrap_or(1).to_string()),
                name,
            ]
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{cells, columns};
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn service_row_like_the_tutorial() {
        let svc = json!({"metadata":{"name":"myapp","creationTimestamp":"2026-11-25T11:59:48Z"},
            "spec":{"type":"ClusterIP","clusterIP":"10.108.46.110","clusterIPs":["10.108.46.110"],
                    "selector":{"app":"myapp","release":"stabel"},"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":80}]}});
        assert_eq!(
            cells("Service", &svc, now()),
            vec![
                json!("myapp"),
                json!("ClusterIP"),
                json!("10.108.46.110"),
                json!("<none>"),
                json!("80/TCP"),
                json!("12s"),
                json!("app=myapp,release=stabel")
            ]
        );
        assert_eq!(columns("Service").len(), cells("Service", &svc, now()).len());
    }

    #[test]
    fn node_port_and_load_balancer_services() {
        let svc = json!({"metadata":{"name":"a"},"spec":{"type":"LoadBalancer","clusterIPs":["10.96.0.9"],"ports":[{"port":80,"nodePort":30080,"protocol":"TCP"},{"port":53,"nodePort":30053,"protocol":"UDP"}]}});
        let row = cells("Service", &svc, now());
        assert_eq!(row[3], json!("<pending>"));
        assert_eq!(row[4], json!("80:30080/TCP,53:30053/UDP"));
        assert_eq!(row[5], json!("<unknown>"));
    }

    #[test]
    fn pod_status_column_as_print_pod() {
        let row = |phase: &str, statuses: Value| {
            let pod = json!({"metadata":{"name":"p","creationTimestamp":"2026-11-25T11:52:16Z"},"spec":{"containers":[{"name":"a"},{"name":"b"}]},
                "status":{"phase":phase,"containerStatuses":statuses,"conditions":[{"type":"Ready","status":"False"}]}});
            let cells = cells("Pod", &pod, now());
            (cells[2].as_str().unwrap().to_string(), cells[3].as_str().unwrap().to_string())
        };
        let running = json!({"ready":true,"restartCount":0,"state":{"running":{}}});
        let done = |code: i64, reason: &str| json!({"restartCount":0,"state":{"terminated":{"exitCode":code,"reason":reason}}});
        let crash = json!({"restartCount":3,"state":{"waiting":{"reason":"CrashLoopBackOff"}},
            "lastState":{"terminated":{"exitCode":1,"reason":"Error","finishedAt":"2026-11-25T11:58:00Z"}}});
        for (phase, statuses, want) in [
            ("Succeeded", json!([done(0, "Completed"), done(0, "Completed")]), ("Completed", "0")),
            ("Failed", json!([done(3, "Error"), done(0, "Completed")]), ("Error", "0")),
            ("Failed", json!([done(0, "Completed"), done(3, "Error")]), ("Completed", "0")),
            ("Running", json!([crash, running]), ("CrashLoopBackOff", "3 (2m ago)")),
            ("Running", json!([done(0, "Completed"), running]), ("NotReady", "0")),
            ("Failed", json!([done(137, ""), running]), ("ExitCode:137", "0")),
            ("Failed", json!([{"state":{"terminated":{"exitCode":0,"signal":9}}}]), ("Signal:9", "0")),
            (
                "Pending",
                json!([{"restartCount":0,"state":{"waiting":{"reason":"ContainerCreating"}}}]),
                ("ContainerCreating", "0"),
            ),
        ] {
            assert_eq!(row(phase, statuses.clone()), (want.0.to_string(), want.1.to_string()), "{statuses}");
        }
    }

    #[test]
    fn pod_row_like_the_tutorial() {
        let pod = json!({"metadata":{"name":"myapp-deploy-77b578b6d-8jc6t","creationTimestamp":"2026-11-25T11:52:16Z"},
            "spec":{"nodeName":"k8s-node01","containers":[{"name":"myapp"}]},
            "status":{"phase":"Running","podIP":"10.244.1.31","containerStatuses":[{"ready":true,"restartCount":0}]}});
        let row = cells("Pod", &pod, now());
        assert_eq!(
            row,
            vec![
                json!("myapp-deploy-77b578b6d-8jc6t"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("7m44s"),
                json!("10.244.1.31"),
                json!("k8s-node01"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn endpoints_are_cut_after_three() {
        let ep = json!({"metadata":{"name":"myapp"},"subsets":[{"addresses":[{"ip":"10.244.1.31"},{"ip":"10.244.1.32"},{"ip":"10.244.2.41"},{"ip":"10.244.2.42"}],"ports":[{"port":80}]}]});
        assert_eq!(
            cells("Endpoints", &ep, now())[1],
            json!("10.244.1.31:80,10.244.1.32:80,10.244.2.41:80 + 1 more...")
        );
        let empty = json!({"metadata":{"name":"x"}});
        assert_eq!(cells("Endpoints", &empty, now())[1], json!("<none>"));
        let slice = json!({"metadata":{"name":"myapp-abc"},"addressType":"IPv4","ports":[{"port":80}],"endpoints":[{"addresses":["10.244.1.31"]}]});
        assert_eq!(cells("EndpointSlice", &slice, now())[1..4], [json!("IPv4"), json!("80"), json!("10.244.1.31")]);
    }

    #[test]
    fn deployment_and_node_rows() {
        let d = json!({"metadata":{"name":"myapp-deploy"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"myapp"}},"template":{"spec":{"containers":[{"name":"myapp","image":"myapp:v2"}]}}},
            "status":{"readyReplicas":2,"updatedReplicas":3,"availableReplicas":2}});
        assert_eq!(cells("Deployment", &d, now())[1..4], [json!("2/3"), json!(3), json!(2)]);
        assert_eq!(cells("Deployment", &d, now())[7], json!("app=myapp"));
        let rs = json!({"metadata":{"name":"myapp-deploy-77b578b6d"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"myapp","pod-template-hash":"77b578b6d"}},"template":{"spec":{"containers":[{"name":"myapp","image":"myapp:v2"}]}}},
            "status":{"replicas":2,"readyReplicas":1}});
        let row = cells("ReplicaSet", &rs, now());
        assert_eq!(row[1..4], [json!(3), json!(2), json!(1)], "DESIRED CURRENT READY");
        assert_eq!(row[5..], [json!("myapp"), json!("myapp:v2"), json!("app=myapp,pod-template-hash=77b578b6d")]);
        assert_eq!(columns("ReplicaSet").iter().filter(|c| c.priority == 0).count(), 5);
        let n = json!({"metadata":{"name":"node1","labels":{"node-role.kubernetes.io/control-plane":""}},"status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"172.20.0.3"}]}});
        let row = cells("Node", &n, now());
        assert_eq!(row[1..3], [json!("Ready"), json!("control-plane")]);
        assert_eq!(row[5], json!("172.20.0.3"));
        let silent = json!({"metadata":{"name":"node1"},"status":{"conditions":[{"type":"Ready","status":"Unknown"}]}});
        assert_eq!(cells("Node", &silent, now())[1], json!("NotReady"));
        assert_eq!(cells("Node", &json!({"metadata":{"name":"node1"}}), now())[1], json!("Unknown"));
    }

    #[test]
    fn lease_rows_show_the_holder() {
        let lease = json!({"metadata":{"name":"node1","creationTimestamp":"2026-11-25T11:58:59Z"},"spec":{"holderIdentity":"node1"}});
        assert_eq!(cells("Lease", &lease, now()), [json!("node1"), json!("node1"), json!("61s")]);
        let free = json!({"metadata":{"name":"ctrl"},"spec":{}});
        assert_eq!(cells("Lease", &free, now())[1], json!(""));
        let names: Vec<&str> = columns("Lease").iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Holder", "Age"]);
    }

    #[test]
    fn config_object_rows_count_keys() {
        let cm = json!({"metadata":{"name":"x"},"data":{"a":"b","c":"d"},"binaryData":{"e":"AA=="}});
        assert_eq!(cells("ConfigMap", &cm, now())[1], json!(3));
        let secret = json!({"metadata":{"name":"s"},"type":"Opaque","data":{"a":"Yg=="}});
        assert_eq!(cells("Secret", &secret, now())[1..3], [json!("Opaque"), json!(1)]);
        let sa = json!({"metadata":{"name":"default"}});
        assert_eq!(cells("ServiceAccount", &sa, now())[1], json!(0));
        let names = |kind| columns(kind).iter().map(|c| c.name).collect::<Vec<_>>();
        assert_eq!(names("ConfigMap"), ["Name", "Data", "Age"]);
        assert_eq!(names("Secret"), ["Name", "Type", "Data", "Age"]);
        assert_eq!(names("ServiceAccount"), ["Name", "Secrets", "Age"]);
    }
}
