//! The two kinds that keep N copies of one pod template: the ReplicaSet and
//! its predecessor the ReplicationController (an RS whose selector is a plain
//! equality map). One planner and one loop serve both; this trait is all that
//! differs: where the fields sit, and the status type's name.

use crate::owned::Owner;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, ReplicationController, ReplicationControllerStatus};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A kind whose controller keeps `replicas` pods of its template (its
/// [`Owner`] impl, in [`super::controller`], is the same for both).
pub trait Replicated: Owner<Child = Pod> {
    /// `spec.replicas` (default 1).
    fn replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// The status, in the ReplicaSet's shape (a ReplicationController's has the same fields).
    fn replica_status(&self) -> Option<ReplicaSetStatus>;
    fn set_replica_status(&mut self, status: ReplicaSetStatus);
}

/// The spec fields both kinds spell alike; only the status differs.
macro_rules! replicated {
    ($kind:ty, $get:expr, $set:expr) => {
        impl Replicated for $kind {
            fn replicas(&self) -> i32 {
                self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
            }
            fn min_ready_seconds(&self) -> i32 {
                self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
            }
            fn template(&self) -> Option<&PodTemplateSpec> {
                self.spec.as_ref()?.template.as_ref()
            }
            fn replica_status(&self) -> Option<ReplicaSetStatus> {
                self.status.as_ref().map($get)
            }
            fn set_replica_status(&mut self, status: ReplicaSetStatus) {
                self.status = Some($set(status));
            }
        }
    };
}

replicated!(ReplicaSet, ReplicaSetStatus::clone, |s| s);
replicated!(ReplicationController, same_fields, |s: ReplicaSetStatus| same_fields::<_, ReplicationControllerStatus>(
    &s
));

/// One status type as the other: their fields (and their conditions') have
/// the same names and types, so the JSON round trip loses nothing.
fn same_fields<A: Serialize, B: DeserializeOwned + Default>(a: &A) -> B {
    serde_json::to_value(a).ok().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_replication_controller_reads_as_a_replica_set() {
        let mut rc: ReplicationController = serde_json::from_value(json!({
            "metadata":{"name":"legacy"},
            "spec":{"replicas":2,"selector":{"app":"legacy"},"template":{"metadata":{"labels":{"app":"legacy"}}}},
            "status":{"replicas":1,"readyReplicas":1,"conditions":[{"type":"ReplicaFailure","status":"True","reason":"FailedCreate"}]}
        }))
        .unwrap();
        assert_eq!((rc.replicas(), rc.min_ready_seconds()), (2, 0));
        let status = rc.replica_status().unwrap();
        assert_eq!((status.replicas, status.ready_replicas), (1, Some(1)));
        assert_eq!(status.conditions.as_ref().unwrap()[0].reason.as_deref(), Some("FailedCreate"));
        rc.set_replica_status(ReplicaSetStatus { replicas: 2, available_replicas: Some(2), ..status });
        let s = rc.status.as_ref().unwrap();
        assert_eq!((s.replicas, s.available_replicas, s.conditions.as_ref().unwrap().len()), (2, Some(2), 1));
    }
}
