//! The node's heartbeat Lease, as pure functions: what the kubelet's lease
//! controller (component-helpers `apimachinery/lease`) writes.
//!
//! A Node's status is big and changes rarely; the Lease is tiny and is
//! renewed every 10 s, so "is this node alive?" costs the control plane one
//! small write per node, not a status update. The kubelet sets only
//! `holderIdentity`, `leaseDurationSeconds` and `renewTime` (never
//! `acquireTime` or `leaseTransitions`: nobody else ever holds a node's
//! Lease), and an ownerReference to its Node so that deleting the Node lets
//! the garbage collector remove the Lease.

use api::well_known::{NODE_LEASE_DURATION_SECONDS, NODE_LEASE_NAMESPACE};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use std::time::Duration;

/// How often the Lease is renewed: a quarter of its duration (10 s), as the
/// kubelet's `renewInterval`, so that three renewals may fail before it expires.
pub fn renew_interval() -> Duration {
    Duration::from_secs(NODE_LEASE_DURATION_SECONDS as u64 / 4)
}

/// The wait before retrying a failed create: 100 ms doubling after each
/// failure, at most 7 s (upstream's `ensureLease` backoff).
pub fn retry_backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(7))).min(Duration::from_secs(7))
}

/// The ownerReference to the Node (no `controller`, no `blockOwnerDeletion`,
/// as the kubelet writes it).
pub fn node_owner(node_name: &str, node_uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node_name.into(),
        uid: node_uid.into(),
        ..Default::default()
    }
}

/// The Lease to write now: `current` (the last one read or written) with
/// `renewTime` moved to `now`, or a new one if there is none. The owner is
/// added once the Node's UID is known and kept after.
pub fn renewed(current: Option<&Lease>, node_name: &str, node_uid: Option<&str>, now: jiff::Timestamp) -> Lease {
    let mut lease = current.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(node_name.into()),
            namespace: Some(NODE_LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node_name.into()),
            lease_duration_seconds: Some(NODE_LEASE_DURATION_SECONDS),
            ..Default::default()
        }),
    });
    lease.spec.get_or_insert_with(Default::default).renew_time = Some(MicroTime(now));
    let owners = lease.metadata.owner_references.get_or_insert_with(Vec::new);
    if let (true, Some(uid)) = (owners.is_empty(), node_uid) {
        owners.push(node_owner(node_name, uid));
    }
    if owners.is_empty() {
        lease.metadata.owner_references = None;
    }
    lease
}

/// Whether `lease` still needs the Node's UID for its ownerReference.
pub fn needs_owner(lease: Option<&Lease>) -> bool {
    lease.and_then(|l| l.metadata.owner_references.as_ref()).is_none_or(Vec::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_new_lease_is_what_the_kubelet_creates() {
        let lease = renewed(None, "node1", Some("uid-1"), at("2026-12-01T10:00:00.123456789Z"));
        assert_eq!(
            serde_json::to_value(&lease).unwrap(),
            json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "node1", "namespace": "kube-node-lease",
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "node1", "uid": "uid-1"}]},
                // Microseconds, as MicroTime: the nanoseconds are cut.
                "spec": {"holderIdentity": "node1", "leaseDurationSeconds": 40, "renewTime": "2026-12-01T10:00:00.123456Z"},
            })
        );
    }

    #[test]
    fn renewing_moves_only_the_renew_time() {
        let first = renewed(None, "node1", None, at("2026-12-01T10:00:00Z"));
        assert!(first.metadata.owner_references.is_none(), "no owner until the Node's UID is known");
        assert!(needs_owner(Some(&first)) && needs_owner(None));
        let mut stored = first.clone();
        stored.metadata.resource_version = Some("42".into());
        stored.spec.as_mut().unwrap().holder_identity = Some("someone-else".into());

        let second = renewed(Some(&stored), "node1", Some("uid-1"), at("2026-12-01T10:00:10Z"));
        // The update carries the read resourceVersion (a conflict means re-read),
        // and leaves what the kubelet does not own as it found it.
        assert_eq!(second.metadata.resource_version.as_deref(), Some("42"));
        let spec = second.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("someone-else"));
        assert_eq!(spec.renew_time, Some(MicroTime(at("2026-12-01T10:00:10Z"))));
        assert_eq!((spec.acquire_time.as_ref(), spec.lease_transitions), (None, None));
        assert_eq!(second.metadata.owner_references.as_deref(), Some(&[node_owner("node1", "uid-1")][..]));
        assert!(!needs_owner(Some(&second)));

        // An owner once set stays, whatever UID is passed later.
        let third = renewed(Some(&second), "node1", Some("uid-2"), at("2026-12-01T10:00:20Z"));
        assert_eq!(third.metadata.owner_references.unwrap()[0].uid, "uid-1");
    }

    #[test]
    fn renewal_timing_is_the_kubelets() {
        assert_eq!(renew_interval(), Duration::from_secs(10));
        let waits: Vec<u128> = (0..10).map(|n| retry_backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 6400, 7000, 7000, 7000]);
    }
}
