//! The Pod strategy: graceful deletion, and the node only `pods/binding`
//! sets.

use super::strategy::Strategy;
use crate::error::ApiError;
use api::json::str_at;
use api::resources::PODS;
use serde_json::{json, Value};

pub struct PodStrategy;

impl Strategy for PodStrategy {
    /// Only `pods/binding` sets the node; an update keeps what is there.
    fn on_update(&self, new: &mut Value, current: &Value) {
        match current.pointer("/spec/nodeName") {
            Some(node) if new.get("spec").is_some_and(Value::is_object) => new["spec"]["nodeName"] = node.clone(),
            _ => {
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("nodeName");
                }
            }
        }
    }

    fn grace_period(&self, pod: &Value, requested: Option<i64>) -> i64 {
        pod_grace(pod, requested)
    }

    fn runs_as_service_account(&self) -> bool {
        true
    }

    /// A pod being deleted stays until its kubelet has stopped it.
    fn finalized_goes_at_once(&self) -> bool {
        false
    }
}

/// The longest grace period kept: what Go's `time.Duration` can hold (292
/// years), so no client computing `now + grace` overflows. Upstream does
/// that sum unchecked; here a longer request means "as long as possible".
pub const MAX_GRACE_SECONDS: i64 = i64::MAX / 1_000_000_000;

/// A Pod's grace period: the request's, or the Pod's own. Pods never
/// scheduled, or already finished, have nothing to stop and go at once; a
/// negative one is 1 s, as upstream's pod strategy makes it.
fn pod_grace(pod: &Value, requested: Option<i64>) -> i64 {
    let scheduled = !str_at(pod, "/spec/nodeName").is_empty();
    let finished = matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed");
    if !scheduled || finished {
        return 0;
    }
    let grace = requested
        .unwrap_or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30));
    if grace < 0 {
        1
    } else {
        grace.min(MAX_GRACE_SECONDS)
    }
}

/// The pod bound to `node` (`pods/binding`): `spec.nodeName` (which no
/// update may change) and the `PodScheduled` condition, set once.
pub fn bound(pod: &Value, name: &str, node: &str, now: &str) -> Result<Value, ApiError> {
    let bound = str_at(pod, "/spec/nodeName");
    if !bound.is_empty() {
        return Err(ApiError::conflict_because(
            &PODS,
            "binding",
            name,
            &format!("pod {name} is already assigned to node \"{bound}\""),
        ));
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::conflict_because(
            &PODS,
            "binding",
            name,
            &format!("pod {name} is being deleted, cannot be assigned to a host"),
        ));
    }
    let mut next = pod.clone();
    next["spec"]["nodeName"] = json!(node);
    let scheduled =
        json!({ "type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now });
    let conditions = next["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let mut conditions: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
    conditions.push(scheduled);
    next["status"]["conditions"] = json!(conditions);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graceful_only_for_running_pods() {
        let pod = json!({"spec":{"nodeName":"node1","terminationGracePeriodSeconds":5},"status":{"phase":"Running"}});
        assert_eq!(pod_grace(&pod, None), 5);
        assert_eq!(pod_grace(&pod, Some(0)), 0);
        assert_eq!(pod_grace(&json!({"spec":{}}), None), 0);
        assert_eq!(pod_grace(&json!({"spec":{"nodeName":"n"},"status":{"phase":"Succeeded"}}), None), 0);
        assert_eq!(pod_grace(&pod, Some(i64::MAX)), MAX_GRACE_SECONDS);
        assert_eq!(pod_grace(&pod, Some(-5)), 1);
        let huge = json!({"spec":{"nodeName":"n","terminationGracePeriodSeconds":i64::MAX}});
        assert_eq!(pod_grace(&huge, None), MAX_GRACE_SECONDS);
    }
}
