//! Whether a Pod or a Node is ready, as every component reads it: the
//! `Ready` condition with status `True`.

use k8s_openapi::api::core::v1::{Node, Pod};

pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_ready_condition_decides() {
        let pod = |status: &str| -> Pod {
            serde_json::from_value(json!({"status":{"conditions":[{"type":"Ready","status":status}]}})).unwrap()
        };
        assert!(pod_ready(&pod("True")));
        assert!(!pod_ready(&pod("False")));
        assert!(!pod_ready(&Pod::default()));
        let node: Node =
            serde_json::from_value(json!({"status":{"conditions":[{"type":"Ready","status":"True"}]}})).unwrap();
        assert!(node_ready(&node));
    }
}
