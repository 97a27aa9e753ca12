//! A DaemonSet's pods as a pure function of the set, the Nodes and its pods
//! (upstream's `pkg/controller/daemon`):
//!
//! - a node is eligible when it matches the template's `nodeSelector` and
//!   every `NoSchedule`/`NoExecute` taint it has is tolerated (the template's
//!   tolerations and those upstream adds to every daemon pod: a daemon stays
//!   on a node that is not ready, unreachable or cordoned);
//! - an eligible node without a pod gets one; extra and Failed pods, pods on
//!   ineligible nodes and on nodes that left are deleted;
//! - `RollingUpdate`: pods of an old template are deleted (and come back
//!   new) while no more than `maxUnavailable` nodes lack a ready pod; those
//!   already not ready go first, at no cost. `maxSurge` is not done (pods are
//!   replaced delete-first, as with upstream's default `maxSurge: 0`).
//!
//! The pod is bound by the controller (`spec.nodeName`), as upstream did
//! before 1.12; upstream now sets a node affinity for the default scheduler
//! to honour. Binding here keeps the scheduler out of a decision that is
//! already made, and the pod's node visible in the pod it creates.

use crate::deployment::replicasets::template_hash;
use crate::garbage::controller_reference;
use api::readiness::pod_ready;
use api::well_known::CONTROLLER_REVISION_HASH_LABEL;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// The tolerations upstream's DaemonSet controller adds to every pod
/// (`util.AddOrUpdateDaemonPodTolerations`): (key, effect).
pub const DAEMON_TOLERATIONS: [(&str, &str); 6] = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// What to do now.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Nodes to create a pod on.
    pub create: Vec<String>,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
    pub status: DaemonSetStatus,
}

/// The hash of the template (the `controller-revision-hash` label).
pub fn revision(ds: &DaemonSet) -> String {
    let spec = ds.spec.clone().unwrap_or_default();
    let collisions = ds.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    template_hash(&spec.template, Some(collisions))
}

/// Upstream's `ToleratesTaint`.
fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        _ => key == taint.key && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
    }
}

/// The template's tolerations and the daemon ones.
pub fn daemon_tolerations(ds: &DaemonSet) -> Vec<Toleration> {
    let spec = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let mut all: Vec<Toleration> = spec.and_then(|s| s.tolerations.clone()).unwrap_or_default();
    for (key, effect) in DAEMON_TOLERATIONS {
        if !all.iter().any(|t| t.key.as_deref() == Some(key) && t.effect.as_deref() == Some(effect)) {
            all.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(effect.into()),
                ..Default::default()
            });
        }
    }
    all
}

/// Whether `ds` should run a pod on `node`.
pub fn eligible(ds: &DaemonSet, node: &Node) -> bool {
    let spec = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selected =
        spec.and_then(|s| s.node_selector.as_ref()).is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let tolerations = daemon_tolerations(ds);
    let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let tolerated = taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)));
    selected && tolerated && node.metadata.deletion_timestamp.is_none()
}

/// `ds`'s pod for `node`: `<ds>-` and five characters, bound to the node,
/// labelled with the template's hash.
pub fn new_pod(ds: &DaemonSet, node: &str) -> Pod {
    let template = ds.spec.clone().unwrap_or_default().template;
    let meta = template.metadata.unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), revision(ds));
    let mut spec = template.spec.unwrap_or_default();
    spec.node_name = Some(node.into());
    spec.tolerations = Some(daemon_tolerations(ds));
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", ds.metadata.name.as_deref().unwrap_or_default())),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: meta.annotations,
            owner_references: Some(vec![controller_reference(ds)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

fn live(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    p.metadata.deletion_timestamp.is_none() && phase != Some("Failed") && phase != Some("Succeeded")
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// `maxUnavailable` of `desired` nodes (a number or a percentage, rounded
/// up as upstream; at least 1).
fn max_unavailable(ds: &DaemonSet, desired: usize) -> usize {
    let rolling = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.rolling_update.as_ref());
    let n = match rolling.and_then(|r| r.max_unavailable.clone()) {
        Some(IntOrString::Int(n)) => n.max(0) as usize,
        Some(IntOrString::String(p)) => {
            let pct: usize = p.trim_end_matches('%').parse().unwrap_or(0);
            (pct * desired).div_ceil(100)
        }
        None => 1,
    };
    n.max(1)
}

/// The next step for `ds` over `nodes`, with the pods it controls.
pub fn plan(ds: &DaemonSet, nodes: &[&Node], pods: &[&Pod]) -> Plan {
    let hash = revision(ds);
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    let mut out = Plan::default();
    for p in pods {
        match p.spec.as_ref().and_then(|s| s.node_name.clone()) {
            Some(n) => by_node.entry(n).or_default().push(p),
            None => out.delete.push(name(p)),
        }
    }
    let eligible_nodes: Vec<&str> =
        nodes.iter().filter(|n| eligible(ds, n)).filter_map(|n| n.metadata.name.as_deref()).collect();
    let mut status = DaemonSetStatus {
        desired_number_scheduled: eligible_nodes.len() as i32,
        observed_generation: ds.metadata.generation,
        collision_count: Some(ds.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0)),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    // Per eligible node: its one live pod (the oldest), if any.
    let mut kept: Vec<&Pod> = Vec::new();
    let mut unavailable = 0;
    for node in &eligible_nodes {
        let mut here: Vec<&Pod> = by_node.remove(*node).unwrap_or_default();
        here.sort_by_key(|p| (p.metadata.creation_timestamp.as_ref().map(|t| t.0), name(p)));
        // Failed pods go, and come back.
        out.delete.extend(
            here.iter()
                .filter(|p| {
                    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
                        && p.metadata.deletion_timestamp.is_none()
                })
                .map(|p| name(p)),
        );
        let mut alive = here.into_iter().filter(|p| live(p));
        match alive.next() {
            None => {
                out.create.push(node.to_string());
                unavailable += 1;
            }
            Some(p) => {
                status.current_number_scheduled += 1;
                if pod_ready(p) {
                    status.number_ready += 1;
                } else {
                    unavailable += 1;
                }
                if p.metadata.labels.as_ref().and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL)) == Some(&hash) {
                    status.updated_number_scheduled = Some(status.updated_number_scheduled.unwrap_or(0) + 1);
                } else {
                    kept.push(p);
                }
            }
        }
        out.delete.extend(alive.map(name));
    }
    // What is left is on nodes that are gone or not eligible.
    for p in by_node.values().flatten() {
        status.number_misscheduled += 1;
        if p.metadata.deletion_timestamp.is_none() {
            out.delete.push(name(p));
        }
    }
    // The rolling update: old pods, not ready ones first (free), then within the budget.
    let rolling = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref());
    if rolling != Some("OnDelete") {
        let mut budget = max_unavailable(ds, eligible_nodes.len()).saturating_sub(unavailable);
        kept.sort_by_key(|p| (pod_ready(p), name(p)));
        for p in kept {
            if !pod_ready(p) {
                out.delete.push(name(p));
            } else if budget > 0 {
                budget -= 1;
                out.delete.push(name(p));
            }
        }
    }
    status.number_available = Some(status.number_ready);
    status.number_unavailable = Some(status.desired_number_scheduled - status.number_ready).filter(|n| *n > 0);
    status.updated_number_scheduled.get_or_insert(0);
    out.status = status;
    out
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
