//! What the node lifecycle controller decides about one node, as pure
//! functions of the node, its Lease, its pods and the time (upstream's
//! `tryUpdateNodeHealth`, the tainting passes and `MarkPodsNotReady`).
//!
//! ```text
//!  Lease renewed / Ready heartbeat moved ──▶ probe = now (our clock)
//!  now > probe + grace ──▶ Ready, MemoryPressure, DiskPressure, PIDPressure = Unknown
//!  Ready Unknown ──▶ taint node.kubernetes.io/unreachable (NoSchedule, NoExecute)
//!  Ready False   ──▶ taint node.kubernetes.io/not-ready   (NoSchedule, NoExecute)
//!  Ready True    ──▶ neither
//!  Ready not True ──▶ every pod on the node: Ready=False (the endpoints drop it)
//! ```
//!
//! The controller never trusts the timestamps the kubelet wrote to judge
//! age: it notes *when it saw them change*, on its own clock, so a node
//! whose clock is off is judged as fairly as any other (upstream's
//! `probeTimestamp`). The controller never sets Ready back to True either:
//! that is the kubelet's next status write.

use api::well_known::{TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE};
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;

/// The conditions turned Unknown when the kubelet goes silent
/// (NetworkUnavailable is left alone: the network plugin owns it).
pub const WATCHED_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// How long a node may stay silent.
#[derive(Clone, Copy, Debug)]
pub struct Grace {
    /// `--node-monitor-grace-period` (50 s in 1.32).
    pub monitor: Duration,
    /// `--node-startup-grace-period` (60 s): for a node that never posted Ready.
    pub startup: Duration,
}

/// What the controller remembers of a node between reconciles: the last
/// heartbeat signals it saw, and when (on its own clock) one last moved.
#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    /// The Ready condition's `lastHeartbeatTime` as last seen.
    pub heartbeat: Option<Timestamp>,
    /// The node Lease's `renewTime` as last seen.
    pub renewed: Option<Timestamp>,
    /// When a signal last moved.
    pub probe: Timestamp,
}

fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// Whether a node Lease has outlived its Node: it names a Node as its owner
/// (kubelet-lite does, as the kubelet) and no owner it names is `node`, the
/// Node of that name today (gone, or a new one with another uid). Upstream's
/// garbage collector deletes such a Lease; here this controller does, since
/// it watches both. A Lease that names no owner is nobody's to collect.
pub fn lease_orphaned(lease: &Lease, node: Option<&Node>) -> bool {
    let owners: Vec<_> = lease.metadata.owner_references.iter().flatten().filter(|o| o.kind == "Node").collect();
    let alive = node.and_then(|n| n.metadata.uid.as_deref());
    !owners.is_empty() && !owners.iter().any(|o| Some(o.uid.as_str()) == alive)
}

/// The node's Ready status: `True`, `False` or `Unknown` (no condition yet).
pub fn ready_status(node: &Node) -> &str {
    condition(node, "Ready").map_or("Unknown", |c| c.status.as_str())
}

/// Updates what was seen of `node` with its current status and Lease.
pub fn observe(saved: Option<&Health>, node: &Node, lease: Option<&Lease>, now: Timestamp) -> Health {
    let heartbeat = condition(node, "Ready").and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0);
    let renewed = lease.and_then(|l| l.spec.as_ref()?.renew_time.as_ref()).map(|t| t.0);
    let Some(saved) = saved else {
        // First sight (a start, or a new leader): the node gets a full grace
        // period from now, except one that never posted Ready, which is
        // judged from its creation (upstream does both).
        let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let probe = match (condition(node, "Ready"), created) {
            (None, Some(created)) => created,
            _ => now,
        };
        return Health { heartbeat, renewed, probe };
    };
    let moved = heartbeat != saved.heartbeat || renewed.is_some_and(|r| saved.renewed.is_none_or(|s| r > s));
    Health { heartbeat, renewed: renewed.max(saved.renewed), probe: if moved { now } else { saved.probe } }
}

/// One reconcile's writes for a node; `None`: leave as it is.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// The node's status with the silent conditions turned Unknown.
    pub status: Option<NodeStatus>,
    /// The node's taints with ours added or removed.
    pub taints: Option<Vec<Taint>>,
    /// Pods on the node whose Ready condition turns False, as written.
    pub pods_not_ready: Vec<Pod>,
    /// When to look again if nothing changes: the moment the node would
    /// become overdue (`None` once it is).
    pub recheck: Option<Duration>,
}

/// Decides what to write for `node`, seen as `health`, with `pods` (those
/// bound to it), at `now`.
pub fn decide<'a>(
    node: &Node,
    health: &Health,
    pods: impl IntoIterator<Item = &'a Pod>,
    grace: Grace,
    now: Timestamp,
) -> Decision {
    let period = if condition(node, "Ready").is_some() { grace.monitor } else { grace.startup };
    let deadline = health.probe + jiff::SignedDuration::try_from(period).unwrap_or(jiff::SignedDuration::MAX);
    let overdue = now > deadline;
    let mut current = node.clone();
    let mut decision = Decision::default();
    if overdue {
        let before = node.status.clone().unwrap_or_default();
        let marked = mark_unknown(&before, node.metadata.creation_timestamp.as_ref(), now);
        if marked != before {
            current.status = Some(marked.clone());
            decision.status = Some(marked);
        }
    } else {
        decision.recheck = Some(deadline.duration_since(now).unsigned_abs() + Duration::from_millis(10));
    }
    // No Ready condition yet (a node just registered): nothing to act on
    // until the startup grace period ends and it is marked Unknown.
    let ready = condition(&current, "Ready").map_or(String::new(), |c| c.status.clone());
    let existing = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let taints = desired_taints(&existing, &ready, now);
    if taints != existing {
        decision.taints = Some(taints);
    }
    if ready != "True" && !ready.is_empty() {
        let name = node.metadata.name.as_deref();
        decision.pods_not_ready = pods
            .into_iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == name)
            .filter_map(|p| mark_pod_not_ready(p, now))
            .collect();
    }
    decision
}

/// The status with every watched condition Unknown: reason
/// `NodeStatusUnknown`, message "Kubelet stopped posting node status.",
/// the transition time now if it was not Unknown already, and the last
/// heartbeat kept (it says when the kubelet was last heard). A condition
/// the kubelet never posted is added as `NodeStatusNeverUpdated`.
pub fn mark_unknown(status: &NodeStatus, created: Option<&Time>, now: Timestamp) -> NodeStatus {
    let mut status = status.clone();
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    for type_ in WATCHED_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
            }
            None => conditions.push(NodeCondition {
                type_: type_.into(),
                status: "Unknown".into(),
                reason: Some("NodeStatusNeverUpdated".into()),
                message: Some("Kubelet never posted node status.".into()),
                last_heartbeat_time: created.cloned(),
                last_transition_time: Some(Time(now)),
            }),
        }
    }
    status
}

/// The taint key that the Ready status calls for, if any.
fn taint_key_for(ready: &str) -> Option<&'static str> {
    match ready {
        "Unknown" => Some(TAINT_NODE_UNREACHABLE),
        "False" => Some(TAINT_NODE_NOT_READY),
        _ => None,
    }
}

/// `existing` with ours made right: the key the Ready status calls for with
/// both effects (those already there keep their `timeAdded`, new ones get
/// now), the other of our two keys removed, everyone else's kept in order.
pub fn desired_taints(existing: &[Taint], ready: &str, now: Timestamp) -> Vec<Taint> {
    let ours = |t: &Taint| t.key == TAINT_NODE_UNREACHABLE || t.key == TAINT_NODE_NOT_READY;
    let want = taint_key_for(ready);
    let effects = ["NoSchedule", "NoExecute"];
    let mut out: Vec<Taint> = existing
        .iter()
        .filter(|t| !ours(t) || (Some(t.key.as_str()) == want && effects.contains(&t.effect.as_str())))
        .cloned()
        .collect();
    if let Some(key) = want {
        for effect in effects {
            if !out.iter().any(|t| t.key == key && t.effect == effect) {
                out.push(Taint { key: key.into(), effect: effect.into(), value: None, time_added: Some(Time(now)) });
            }
        }
    }
    out
}

/// `pod` with its Ready condition turned False (transition time now), or
/// `None` if it is not Ready (nothing to write: upstream's
/// `UpdatePodCondition` returning false).
pub fn mark_pod_not_ready(pod: &Pod, now: Timestamp) -> Option<Pod> {
    let mut pod = pod.clone();
    let ready = pod.status.as_mut()?.conditions.as_mut()?.iter_mut().find(|c| c.type_ == "Ready")?;
    if ready.status == "False" {
        return None;
    }
    ready.status = "False".into();
    ready.last_transition_time = Some(Time(now));
    Some(pod)
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
