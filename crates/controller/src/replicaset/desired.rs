//! What a ReplicaSet's (or a ReplicationController's) pods should be, as a
//! pure function: how many pods to create, which to delete (those that help
//! least first, as upstream ranks them), and the status to report.

use super::kind::Replicated;
use crate::garbage::controller_reference;
use api::readiness::pod_ready;
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::time::Duration;

/// Upstream's per-pass limit on pods created or deleted (`burstReplicas`).
const BURST: usize = 500;

/// Lower-cost pods go first when scaling down (upstream's annotation).
const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// What to do now.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Pods to create from the template.
    pub create: usize,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
    pub status: ReplicaSetStatus,
    /// When a ready pod becomes available (`minReadySeconds`), to look again.
    pub recheck: Option<Duration>,
}

/// The pod a ReplicaSet makes from its template: the template's labels and
/// annotations, a controller reference, and a name the apiserver completes
/// (`myapp-deploy-77b578b6d-` + 5 characters).
pub fn new_pod<K: Replicated>(rs: &K) -> Pod {
    let template = rs.template().cloned().unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.meta().name.as_deref().unwrap_or_default())),
            namespace: rs.meta().namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            owner_references: Some(vec![controller_reference(rs)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Upstream's active pods: not terminating, not finished.
pub fn is_active(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    p.metadata.deletion_timestamp.is_none() && phase != Some("Succeeded") && phase != Some("Failed")
}

/// When the pod last turned Ready (seconds), if it is.
fn ready_since(p: &Pod) -> Option<i64> {
    let c = p.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(c.last_transition_time.as_ref().map_or(0, |t| t.0.as_second()))
}

/// Upstream's `ActivePodsWithRanks` order, the pod to delete first first:
/// unscheduled, then pending before running, not ready, cheaper to delete,
/// sharing its node with more of its siblings, ready for less time, more
/// restarts, younger.
fn deletion_order(pods: &mut [&Pod]) {
    let mut per_node: BTreeMap<String, i64> = BTreeMap::new();
    for p in pods.iter() {
        if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.clone()) {
            *per_node.entry(n).or_default() += 1;
        }
    }
    pods.sort_by_key(|p| {
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
        let phase = match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Pending") => 0,
            Some("Running") => 2,
            _ => 1,
        };
        let cost: i64 = p
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DELETION_COST))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let siblings = node.as_ref().map_or(0, |n| per_node[n]);
        let ready_for = ready_since(p).map_or(0, |t| -t);
        let restarts: i32 =
            p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()).map(|c| c.restart_count).sum();
        let created = p.metadata.creation_timestamp.as_ref().map_or(0, |t| t.0.as_second());
        (
            node.is_some(),
            phase,
            pod_ready(p),
            cost,
            std::cmp::Reverse(siblings),
            ready_for,
            std::cmp::Reverse(restarts),
            std::cmp::Reverse(created),
        )
    })
}

/// Plans one step towards `rs`'s replicas from the pods it controls, at `now` (seconds).
pub fn plan<K: Replicated>(rs: &K, pods: &[&Pod], now: i64) -> Plan {
    let desired = rs.replicas().max(0) as usize;
    let min_ready = i64::from(rs.min_ready_seconds());
    let mut active: Vec<&Pod> = pods.iter().copied().filter(|p| is_active(p)).collect();
    let mut out = Plan::default();
    if active.len() < desired {
        out.create = (desired - active.len()).min(BURST);
    } else if active.len() > desired {
        deletion_order(&mut active);
        let n = (active.len() - desired).min(BURST);
        out.delete = active.iter().take(n).filter_map(|p| p.metadata.name.clone()).collect();
    }

    let template_labels =
        rs.template().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.clone()).unwrap_or_default();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            template_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let ready: Vec<i64> = active.iter().filter_map(|p| ready_since(p)).collect();
    let available = ready.iter().filter(|since| **since + min_ready <= now).count();
    out.recheck = ready
        .iter()
        .filter(|since| **since + min_ready > now)
        .map(|since| Duration::from_secs((*since + min_ready - now) as u64))
        .min();
    out.status = ReplicaSetStatus {
        replicas: active.len() as i32,
        fully_labeled_replicas: Some(fully_labeled as i32),
        ready_replicas: Some(ready.len() as i32),
        available_replicas: Some(available as i32),
        observed_generation: rs.meta().generation,
        conditions: rs.replica_status().and_then(|s| s.conditions),
        ..Default::default()
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::ReplicationController;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata":{"name":"myapp-deploy-77b578b6d","namespace":"default","uid":"rs-uid","generation":2},
            "spec":{"replicas":replicas,"minReadySeconds":min_ready,"selector":{"matchLabels":{"app":"myapp","pod-template-hash":"77b578b6d"}},
                    "template":{"metadata":{"labels":{"app":"myapp","pod-template-hash":"77b578b6d"}},"spec":{"containers":[{"name":"myapp","image":"v2"}]}}}
        }))
        .unwrap()
    }

    /// Pod `n` of `rs`, created at second `n`, on `node` (if any), ready since second 100 (or not).
    fn pod(rs: &ReplicaSet, n: i64, node: Option<&str>, ready: bool) -> Pod {
        let mut p = new_pod(rs);
        p.metadata.name = Some(format!("{}{n:05}", p.metadata.generate_name.clone().unwrap()));
        p.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(n).unwrap()));
        p.spec.as_mut().unwrap().node_name = node.map(str::to_string);
        p.status = Some(
            serde_json::from_value(json!({"phase":if node.is_some() {"Running"} else {"Pending"},
                "conditions":[{"type":"Ready","status":if ready {"True"} else {"False"},"lastTransitionTime":"1970-01-01T00:01:40Z"}]}))
            .unwrap(),
        );
        p
    }

    #[test]
    fn pods_look_like_the_tutorials() {
        let p = new_pod(&rs(3, 0));
        assert_eq!(p.metadata.generate_name.as_deref(), Some("myapp-deploy-77b578b6d-"));
        assert_eq!(p.metadata.labels.as_ref().unwrap()["pod-template-hash"], "77b578b6d");
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("ReplicaSet", "rs-uid", Some(true)));
    }

    #[test]
    fn scaling_up_and_down() {
        let r = rs(3, 0);
        assert_eq!(plan(&r, &[], 200).create, 3);
        let pods = [
            pod(&r, 1, Some("n1"), true),
            pod(&r, 2, Some("n2"), true),
            pod(&r, 3, Some("n1"), true),
            pod(&r, 4, None, false),
            pod(&r, 5, Some("n2"), false),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let p = plan(&r, &refs, 200);
        // Unscheduled first, then not ready.
        assert_eq!(p.delete, ["myapp-deploy-77b578b6d-00004", "myapp-deploy-77b578b6d-00005"]);
        assert_eq!(
            (p.status.replicas, p.status.ready_replicas, p.status.available_replicas, p.status.observed_generation),
            (5, Some(3), Some(3), Some(2))
        );
        // Among equals: the younger goes.
        let p = plan(&rs(2, 0), &refs[..3], 200);
        assert_eq!(p.delete, ["myapp-deploy-77b578b6d-00003"], "n1 has two: one of those, the younger");
    }

    #[test]
    fn terminating_and_finished_pods_do_not_count() {
        let r = rs(2, 0);
        let mut gone = pod(&r, 1, Some("n1"), true);
        gone.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        let mut done = pod(&r, 2, Some("n1"), false);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let live = pod(&r, 3, Some("n1"), true);
        let p = plan(&r, &[&gone, &done, &live], 200);
        assert_eq!((p.create, p.status.replicas), (1, 1));
    }

    #[test]
    fn available_means_ready_for_min_ready_seconds() {
        let r = rs(1, 30);
        let p = pod(&r, 1, Some("n1"), true);
        let early = plan(&r, &[&p], 110);
        assert_eq!((early.status.ready_replicas, early.status.available_replicas), (Some(1), Some(0)));
        assert_eq!(early.recheck, Some(Duration::from_secs(20)));
        let later = plan(&r, &[&p], 130);
        assert_eq!((later.status.available_replicas, later.recheck), (Some(1), None));
    }

    #[test]
    fn a_replication_controller_is_planned_as_a_replica_set() {
        let rc: ReplicationController = serde_json::from_value(json!({
            "metadata":{"name":"legacy","namespace":"default","uid":"rc-uid","generation":1},
            "spec":{"replicas":2,"selector":{"app":"legacy"},
                    "template":{"metadata":{"labels":{"app":"legacy"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}
        }))
        .unwrap();
        let p = new_pod(&rc);
        assert_eq!(p.metadata.generate_name.as_deref(), Some("legacy-"));
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("v1", "ReplicationController", "rc-uid", Some(true))
        );
        let plan = plan(&rc, &[&p], 0);
        assert_eq!((plan.create, plan.status.replicas, plan.status.observed_generation), (1, 1, Some(1)));
    }
}
