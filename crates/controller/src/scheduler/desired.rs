//! Where a pod should run, as a pure function: among the Ready,
//! schedulable nodes whose labels satisfy the pod's `nodeSelector`, the one
//! running the fewest pods (ties go to the first name). A pod that fits
//! nowhere gets upstream's kind of explanation.

use api::readiness::node_ready;
use k8s_openapi::api::core::v1::{Node, Pod};
use std::collections::BTreeMap;

#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    Node(String),
    /// Why no node fits: `0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.`
    Unschedulable(String),
}

/// Whether the scheduler should place this pod: not bound, not going away,
/// and asking for the default scheduler.
pub fn wants_scheduling(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    spec.is_some_and(|s| s.node_name.as_deref().unwrap_or("").is_empty())
        && pod.metadata.deletion_timestamp.is_none()
        && spec.and_then(|s| s.scheduler_name.as_deref()).is_none_or(|n| n == "default-scheduler")
}

/// Picks a node for `pod`; `load` counts the pods already on each node.
pub fn pick_node(pod: &Pod, nodes: &[&Node], load: &BTreeMap<String, usize>) -> Placement {
    if nodes.is_empty() {
        return Placement::Unschedulable("no nodes available to schedule pods".into());
    }
    let selector = pod.spec.as_ref().and_then(|s| s.node_selector.clone()).unwrap_or_default();
    let (mut not_ready, mut cordoned, mut mismatched) = (0, 0, 0);
    let mut fits: Vec<(usize, String)> = Vec::new();
    for node in nodes {
        let labels = node.metadata.labels.clone().unwrap_or_default();
        let name = node.metadata.name.clone().unwrap_or_default();
        if !node_ready(node) {
            not_ready += 1;
        } else if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            cordoned += 1;
        } else if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            mismatched += 1;
        } else {
            fits.push((load.get(&name).copied().unwrap_or(0), name));
        }
    }
    if let Some((_, name)) = fits.into_iter().min() {
        return Placement::Node(name);
    }
    let mut reasons = Vec::new();
    if mismatched > 0 {
        reasons.push(format!("{mismatched} node(s) didn't match Pod's node affinity/selector"));
    }
    if not_ready > 0 {
        reasons.push(format!("{not_ready} node(s) had untolerated taint {{node.kubernetes.io/not-ready: }}"));
    }
    if cordoned > 0 {
        reasons.push(format!("{cordoned} node(s) were unschedulable"));
    }
    Placement::Unschedulable(format!("0/{} nodes are available: {}.", nodes.len(), reasons.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, ready: bool, labels: serde_json::Value, cordoned: bool) -> Node {
        serde_json::from_value(json!({"metadata":{"name":name,"labels":labels},"spec":{"unschedulable":cordoned},
            "status":{"conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}}))
        .unwrap()
    }

    fn pod(selector: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({"metadata":{"name":"p"},"spec":{"nodeSelector":selector,"containers":[{"name":"c"}]}}),
        )
        .unwrap()
    }

    #[test]
    fn fewest_pods_first() {
        let (a, b) = (node("node1", true, json!({}), false), node("node2", true, json!({}), false));
        let load = BTreeMap::from([("node1".to_string(), 2), ("node2".to_string(), 1)]);
        assert_eq!(pick_node(&pod(json!({})), &[&a, &b], &load), Placement::Node("node2".into()));
        assert_eq!(pick_node(&pod(json!({})), &[&a, &b], &BTreeMap::new()), Placement::Node("node1".into()));
    }

    #[test]
    fn selectors_readiness_and_cordons() {
        let ssd = node("fast", true, json!({"disk":"ssd"}), false);
        let down = node("down", false, json!({"disk":"ssd"}), false);
        let cordoned = node("off", true, json!({"disk":"ssd"}), true);
        let plain = node("plain", true, json!({}), false);
        let nodes = [&ssd, &down, &cordoned, &plain];
        assert_eq!(pick_node(&pod(json!({"disk":"ssd"})), &nodes, &BTreeMap::new()), Placement::Node("fast".into()));
        assert_eq!(
            pick_node(&pod(json!({"disk":"nvme"})), &nodes, &BTreeMap::new()),
            Placement::Unschedulable("0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable.".into())
        );
        assert_eq!(
            pick_node(&pod(json!({})), &[], &BTreeMap::new()),
            Placement::Unschedulable("no nodes available to schedule pods".into())
        );
    }

    #[test]
    fn who_wants_scheduling() {
        assert!(wants_scheduling(&pod(json!({}))));
        let mut bound = pod(json!({}));
        bound.spec.as_mut().unwrap().node_name = Some("n".into());
        assert!(!wants_scheduling(&bound));
        let mut other = pod(json!({}));
        other.spec.as_mut().unwrap().scheduler_name = Some("my-scheduler".into());
        assert!(!wants_scheduling(&other));
    }
}
