//! Table printers of the kinds that are stored and shown (issue #12):
//! workloads without a controller yet, storage claims, networking, policy
//! and RBAC objects. The columns are kubectl 1.32's (upstream's
//! `pkg/printers/internalversion`); [`super`] asks here for every kind
//! [`super::core`] does not print.

use super::format::{age, arr, col, format_label_selector, format_labels, or_none, since, Column, AGE, NAME};
use crate::duration::human_duration;
use crate::json::{at, str_at as s};
use serde_json::{json, Value};

const CONTAINERS: Column = col("Containers", "string", 1, "Names of each container in the template.");
const IMAGES: Column = col("Images", "string", 1, "Images referenced by each container in the template.");
const SELECTOR: Column = col("Selector", "string", 1, "A label query over pods that should match the replica count.");
const CREATED_AT: Column = col(
    "Created At",
    "date",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);
const ROLE: Column = col("Role", "string", 0, "RoleRef is the role being referenced.");
const USERS: Column = col("Users", "string", 1, "Users in the roleBinding");
const GROUPS: Column = col("Groups", "string", 1, "Groups in the roleBinding");
const SERVICE_ACCOUNTS: Column = col("ServiceAccounts", "string", 1, "ServiceAccounts in the roleBinding");

/// The columns of a kind printed here, or `None` (upstream's default NAME, AGE).
pub fn columns(kind: &str) -> Option<Vec<Column>> {
    Some(match kind {
        "ReplicationController" => vec![
            NAME,
            col("Desired", "integer", 0, "Replicas is the number of desired replicas."),
            col("Current", "integer", 0, "Replicas is the most recently observed number of replicas."),
            col("Ready", "integer", 0, "The number of ready replicas for this replication controller."),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        "DaemonSet" => vec![
            NAME,
            col("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod."),
            col("Current", "integer", 0, "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
            col("Ready", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition."),
            col("Up-to-date", "integer", 0, "The total number of nodes that are running updated daemon pod"),
            col("Available", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
            col("Node Selector", "string", 0, "NodeSelector is a selector which must be true for the pod to fit on a node."),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        "StatefulSet" => vec![
            NAME,
            col("Ready", "string", 0, "Number of the pod with ready state"),
            AGE,
            CONTAINERS,
            IMAGES,
        ],
        "Job" => vec![
            NAME,
            col("Status", "string", 0, "Status of the job."),
            col("Completions", "string", 0, "The completion status of the job."),
            col("Duration", "string", 0, "Time required to complete the job."),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        "CronJob" => vec![
            NAME,
            col("Schedule", "string", 0, "The schedule in Cron format."),
            col("Timezone", "string", 0, "The time zone name for the given schedule."),
            col("Suspend", "boolean", 0, "This flag tells the controller to suspend subsequent executions."),
            col("Active", "integer", 0, "A list of pointers to currently running jobs."),
            col("Last Schedule", "string", 0, "Information when was the last time the job was successfully scheduled."),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        "HorizontalPodAutoscaler" => vec![
            NAME,
            col("Reference", "string", 0, "reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource."),
            col("Targets", "string", 0, "the current and target metrics the autoscaler uses"),
            col("MinPods", "string", 0, "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down."),
            col("MaxPods", "integer", 0, "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up."),
            col("Replicas", "integer", 0, "currentReplicas is current number of replicas of pods managed by this autoscaler."),
            AGE,
        ],
        "PodDisruptionBudget" => vec![
            NAME,
            col("Min Available", "string", 0, "The minimum number of pods that must be available."),
            col("Max Unavailable", "string", 0, "The maximum number of pods that may be unavailable."),
            col("Allowed Disruptions", "integer", 0, "Calculated number of pods that may be disrupted at this time."),
            AGE,
        ],
        "PersistentVolumeClaim" => vec![
            NAME,
            col("Status", "string", 0, "phase represents the current phase of PersistentVolumeClaim."),
            col("Volume", "string", 0, "volumeName is the binding reference to the PersistentVolume backing this claim."),
            col("Capacity", "string", 0, "capacity represents the actual resources of the underlying volume."),
            col("Access Modes", "string", 0, "accessModes contains the actual access modes the volume backing the PVC has."),
            col("StorageClass", "string", 0, "storageClassName is the name of the StorageClass required by the claim."),
            col("VolumeAttributesClass", "string", 0, "volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim."),
            AGE,
            col("VolumeMode", "string", 1, "volumeMode defines what type of volume is required by the claim."),
        ],
        "PersistentVolume" => vec![
            NAME,
            col("Capacity", "string", 0, "capacity is the description of the persistent volume's resources and capacity."),
            col("Access Modes", "string", 0, "accessModes contains all ways the volume can be mounted."),
            col("Reclaim Policy", "string", 0, "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
            col("Status", "string", 0, "phase indicates if a volume is available, bound to a claim, or released by a claim."),
            col("Claim", "string", 0, "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
            col("StorageClass", "string", 0, "storageClassName is the name of StorageClass to which this persistent volume belongs."),
            col("VolumeAttributesClass", "string", 0, "Name of VolumeAttributesClass to which this persistent volume belongs."),
            col("Reason", "string", 0, "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
            AGE,
            col("VolumeMode", "string", 1, "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
        ],
        "Ingress" => vec![
            NAME,
            col("Class", "string", 0, "The name of the IngressClass resource that should be used for ingress."),
            col("Hosts", "string", 0, "Hosts that incoming requests are matched against before the ingress rule"),
            col("Address", "string", 0, "Address is a list containing ingress points for the load-balancer"),
            col("Ports", "string", 0, "Ports of TLS configurations that open"),
            AGE,
        ],
        "IngressClass" => vec![
            NAME,
            col("Controller", "string", 0, "Controller that is responsible for handling this class"),
            col("Parameters", "string", 0, "A reference to a resource with additional parameters"),
            AGE,
        ],
        "NetworkPolicy" => vec![
            NAME,
            col("Pod-Selector", "string", 0, "podSelector selects the pods to which this NetworkPolicy object applies."),
            AGE,
        ],
        "Role" | "ClusterRole" => vec![NAME, CREATED_AT],
        "RoleBinding" | "ClusterRoleBinding" => vec![NAME, ROLE, AGE, USERS, GROUPS, SERVICE_ACCOUNTS],
        "ControllerRevision" => vec![
            NAME,
            col("Controller", "string", 0, "Controller of the object"),
            col("Revision", "string", 0, "Revision indicates the revision of the state represented by Data."),
            AGE,
        ],
        _ => return None,
    })
}

fn int(obj: &Value, pointer: &str) -> i64 {
    at(obj, pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The names and the images of a pod template's containers, comma-joined.
fn containers_images(obj: &Value, template: &str) -> (Value, Value) {
    let containers = arr(obj, &format!("{template}/spec/containers"));
    let join = |field: &str| containers.iter().map(|c| s(c, field)).collect::<Vec<_>>().join(",");
    (json!(join("/name")), json!(join("/image")))
}

/// A number or a string (`IntOrString`) as Go's `%v`, or `N/A` when unset.
fn int_or_string(obj: &Value, pointer: &str) -> String {
    match at(obj, pointer) {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".to_string(),
    }
}

/// `ReadWriteOnce` → `RWO`, joined as upstream's `GetAccessModesAsString`.
fn access_modes(obj: &Value, pointer: &str) -> String {
    let mut out = Vec::new();
    for (mode, short) in
        [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
    {
        if arr(obj, pointer).iter().any(|m| m.as_str() == Some(mode)) {
            out.push(short);
        }
    }
    out.join(",")
}

fn unset(obj: &Value, pointer: &str) -> String {
    at(obj, pointer).and_then(Value::as_str).unwrap_or("<unset>").to_string()
}

/// A Job's status word, from its conditions, as upstream's printJob.
fn job_status(obj: &Value) -> &'static str {
    let has =
        |ty: &str| arr(obj, "/status/conditions").iter().any(|c| s(c, "/type") == ty && s(c, "/status") == "True");
    match () {
        _ if has("Complete") => "Complete",
        _ if has("Failed") => "Failed",
        _ if at(obj, "/metadata/deletionTimestamp").is_some() => "Terminating",
        _ if has("SuccessCriteriaMet") => "SuccessCriteriaMet",
        _ if has("FailureTarget") => "FailureTarget",
        _ if has("Suspended") => "Suspended",
        _ => "Running",
    }
}

fn job_completions(obj: &Value) -> String {
    let succeeded = int(obj, "/status/succeeded");
    match at(obj, "/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int(obj, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

fn job_duration(obj: &Value, now: jiff::Timestamp) -> String {
    let at = |p: &str| s(obj, p).parse::<jiff::Timestamp>().ok();
    match (at("/status/startTime"), at("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.as_second() - start.as_second()),
        (Some(start), Some(end)) => human_duration(end.as_second() - start.as_second()),
    }
}

/// An HPA's metrics as `cpu: <unknown>/80%`, current before target.
fn hpa_targets(obj: &Value) -> String {
    let specs = arr(obj, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let current = arr(obj, "/status/currentMetrics");
    let items: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let ty = s(m, "/type");
            let key = match ty {
                "Resource" => "resource",
                "ContainerResource" => "containerResource",
                "Pods" => "pods",
                "Object" => "object",
                _ => "external",
            };
            let target = at(m, &format!("/{key}/target")).cloned().unwrap_or(Value::Null);
            let now = current.get(i).and_then(|c| at(c, &format!("/{key}/current")));
            let (want, have) = if let Some(u) = target.get("averageUtilization").and_then(Value::as_i64) {
                let have =
                    now.and_then(|c| c.get("averageUtilization")).and_then(Value::as_i64).map(|v| format!("{v}%"));
                (format!("{u}%"), have)
            } else {
                let field = if target.get("averageValue").is_some() { "averageValue" } else { "value" };
                let have = now.and_then(|c| c.get(field)).and_then(Value::as_str).map(String::from);
                (s(&target, &format!("/{field}")).to_string(), have)
            };
            let pair = format!("{}/{want}", have.unwrap_or_else(|| "<unknown>".to_string()));
            match ty {
                "Resource" | "ContainerResource" => format!("{}: {pair}", s(m, &format!("/{key}/name"))),
                _ => pair,
            }
        })
        .collect();
    if items.len() > 3 {
        format!("{} + {} more...", items[..3].join(", "), items.len() - 3)
    } else {
        items.join(", ")
    }
}

/// At most three hosts, `*` when no rule names one (upstream's formatHosts).
fn ingress_hosts(obj: &Value) -> String {
    let rules = arr(obj, "/spec/rules");
    let hosts: Vec<&str> = rules.iter().map(|r| s(r, "/host")).filter(|h| !h.is_empty()).take(3).collect();
    if hosts.is_empty() {
        "*".to_string()
    } else if rules.len() > 3 {
        format!("{} + {} more...", hosts.join(","), rules.len() - 3)
    } else {
        hosts.join(",")
    }
}

/// Users, groups and service accounts a binding names (upstream's SubjectsStrings).
fn subjects(obj: &Value) -> [String; 3] {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for sub in arr(obj, "/subjects") {
        let name = s(sub, "/name").to_string();
        match s(sub, "/kind") {
            "User" => users.push(name),
            "Group" => groups.push(name),
            "ServiceAccount" if !s(sub, "/namespace").is_empty() => {
                sas.push(format!("{}/{name}", s(sub, "/namespace")))
            }
            "ServiceAccount" => sas.push(name),
            _ => {}
        }
    }
    [users.join(", "), groups.join(", "), sas.join(", ")]
}

/// The cells of one row of a kind printed here, matching [`columns`].
pub fn cells(kind: &str, obj: &Value, now: jiff::Timestamp) -> Option<Vec<Value>> {
    let name = json!(s(obj, "/metadata/name"));
    let created = json!(age(obj, "/metadata/creationTimestamp", now));
    let selector = || json!(format_label_selector(at(obj, "/spec/selector")));
    Some(match kind {
        "ReplicationController" => {
            let (c, i) = containers_images(obj, "/spec/template");
            let (desired, current) = (int(obj, "/spec/replicas"), int(obj, "/status/replicas"));
            let ready = int(obj, "/status/readyReplicas");
            vec![
                name,
                json!(desired),
                json!(current),
                json!(ready),
                created,
                c,
                i,
                json!(format_labels(at(obj, "/spec/selector"))),
            ]
        }
        "DaemonSet" => {
            let (c, i) = containers_images(obj, "/spec/template");
            let n = |f: &str| json!(int(obj, &format!("/status/{f}")));
            vec![
                name,
                n("desiredNumberScheduled"),
                n("currentNumberScheduled"),
                n("numberReady"),
                n("updatedNumberScheduled"),
                n("numberAvailable"),
                json!(format_labels(at(obj, "/spec/template/spec/nodeSelector"))),
                created,
                c,
                i,
                selector(),
            ]
        }
        "StatefulSet" => {
            let (c, i) = containers_images(obj, "/spec/template");
            let ready = format!("{}/{}", int(obj, "/status/readyReplicas"), int(obj, "/spec/replicas"));
            vec![name, json!(ready), created, c, i]
        }
        "Job" => {
            let (c, i) = containers_images(obj, "/spec/template");
            vec![
                name,
                json!(job_status(obj)),
                json!(job_completions(obj)),
                json!(job_duration(obj, now)),
                created,
                c,
                i,
                selector(),
            ]
        }
        "CronJob" => {
            let (c, i) = containers_images(obj, "/spec/jobTemplate/spec/template");
            let suspend = match at(obj, "/spec/suspend").and_then(Value::as_bool) {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            };
            let last = since(obj, "/status/lastScheduleTime", now).map_or("<none>".to_string(), human_duration);
            vec![
                name,
                json!(s(obj, "/spec/schedule")),
                json!(or_none(s(obj, "/spec/timeZone").to_string())),
                json!(suspend),
                json!(arr(obj, "/status/active").len()),
                json!(last),
                created,
                c,
                i,
                json!(format_label_selector(at(obj, "/spec/jobTemplate/spec/selector"))),
            ]
        }
        "HorizontalPodAutoscaler" => {
            let target = format!("{}/{}", s(obj, "/spec/scaleTargetRef/kind"), s(obj, "/spec/scaleTargetRef/name"));
            let min = obj
                .pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .map_or("<unset>".to_string(), |m| m.to_string());
            vec![
                name,
                json!(target),
                json!(hpa_targets(obj)),
                json!(min),
                json!(int(obj, "/spec/maxReplicas")),
                json!(int(obj, "/status/currentReplicas")),
                created,
            ]
        }
        "PodDisruptionBudget" => vec![
            name,
            json!(int_or_string(obj, "/spec/minAvailable")),
            json!(int_or_string(obj, "/spec/maxUnavailable")),
            json!(int(obj, "/status/disruptionsAllowed")),
            created,
        ],
        "PersistentVolumeClaim" => {
            let mut phase = s(obj, "/status/phase").to_string();
            if at(obj, "/metadata/deletionTimestamp").is_some() {
                phase = "Terminating".to_string();
            }
            // capacity and modes are the bound volume's, shown once bound
            let bound = !s(obj, "/spec/volumeName").is_empty();
            let (capacity, modes) = if bound {
                (s(obj, "/status/capacity/storage").to_string(), access_modes(obj, "/status/accessModes"))
            } else {
                (String::new(), String::new())
            };
            vec![
                name,
                json!(phase),
                json!(s(obj, "/spec/volumeName")),
                json!(capacity),
                json!(modes),
                json!(s(obj, "/spec/storageClassName")),
                json!(unset(obj, "/spec/volumeAttributesClassName")),
                created,
                json!(unset(obj, "/spec/volumeMode")),
            ]
        }
        "PersistentVolume" => {
            let claim = match (s(obj, "/spec/claimRef/namespace"), s(obj, "/spec/claimRef/name")) {
                (_, "") => String::new(),
                (ns, n) => format!("{ns}/{n}"),
            };
            let mut phase = s(obj, "/status/phase").to_string();
            if at(obj, "/metadata/deletionTimestamp").is_some() {
                phase = "Terminating".to_string();
            }
            vec![
                name,
                json!(s(obj, "/spec/capacity/storage")),
                json!(access_modes(obj, "/spec/accessModes")),
                json!(s(obj, "/spec/persistentVolumeReclaimPolicy")),
                json!(phase),
                json!(claim),
                json!(s(obj, "/spec/storageClassName")),
                json!(unset(obj, "/spec/volumeAttributesClassName")),
                json!(s(obj, "/status/reason")),
                created,
                json!(unset(obj, "/spec/volumeMode")),
            ]
        }
        "Ingress" => {
            let address: Vec<String> = arr(obj, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| if s(i, "/ip").is_empty() { s(i, "/hostname") } else { s(i, "/ip") }.to_string())
                .collect();
            let ports = if arr(obj, "/spec/tls").is_empty() { "80" } else { "80, 443" };
            vec![
                name,
                json!(or_none(s(obj, "/spec/ingressClassName").to_string())),
                json!(ingress_hosts(obj)),
                json!(address.join(",")),
                json!(ports),
                created,
            ]
        }
        "IngressClass" => {
            let params = match at(obj, "/spec/parameters") {
                Some(p) if !s(p, "/apiGroup").is_empty() => {
                    format!("{}.{}/{}", s(p, "/kind"), s(p, "/apiGroup"), s(p, "/name"))
                }
                Some(p) => format!("{}/{}", s(p, "/kind"), s(p, "/name")),
                None => "<none>".to_string(),
            };
            vec![name, json!(s(obj, "/spec/controller")), json!(params), created]
        }
        "NetworkPolicy" => vec![name, json!(format_label_selector(at(obj, "/spec/podSelector"))), created],
        "Role" | "ClusterRole" => vec![name, json!(s(obj, "/metadata/creationTimestamp"))],
        "RoleBinding" | "ClusterRoleBinding" => {
            let role = format!("{}/{}", s(obj, "/roleRef/kind"), s(obj, "/roleRef/name"));
            let [users, groups, sas] = subjects(obj);
            vec![name, json!(role), created, json!(users), json!(groups), json!(sas)]
        }
        "ControllerRevision" => {
            // `statefulset.apps/web`, as upstream's formatResourceName.
            let owners = arr(obj, "/metadata/ownerReferences");
            let controller =
                owners.iter().find(|o| o.get("controller") == Some(&json!(true))).map_or("<none>".to_string(), |o| {
                    let group = s(o, "/apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
                    let kind = s(o, "/kind").to_lowercase();
                    let kind = if group.is_empty() { kind } else { format!("{kind}.{group}") };
                    format!("{kind}/{}", s(o, "/name"))
                });
            vec![name, json!(controller), json!(int(obj, "/revision")), created]
        }
        _ => return None,
    })
}

#[cfg(test)]
#[path = "more_tests.rs"]
mod tests;
