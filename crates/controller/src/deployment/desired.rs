//! What a Deployment's pods should be, as a pure function: which pods to
//! create, which to delete, and the status to report.
//!
//! Pods belong to the Deployment directly (no ReplicaSets: see
//! ARCHITECTURE.md). A pod carries the `pod-template-hash` of the template
//! it was made from; pods of the current template are *new*, the rest *old*.
//! A rolling update makes new pods while old ones still serve, within two
//! budgets (upstream's defaults, 25% each):
//!
//! ```text
//!  pods in total      ≤ replicas + maxSurge         (how far to grow)
//!  pods available     ≥ replicas − maxUnavailable   (how far to shrink)
//! ```

use api::readiness::pod_ready;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

pub use api::well_known::POD_TEMPLATE_HASH_LABEL as TEMPLATE_HASH_LABEL;

/// The template's hash, rendered in upstream's alphabet: FNV-1a over the
/// template's JSON, its decimal digits mapped onto `bcdf…789`, so it reads
/// like `77b578b6d`.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let hash = bytes.iter().fold(0x811c9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x01000193));
    hash.to_string().bytes().map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char).collect()
}

/// `25%` of `total`, or a plain number; percentages round up for surge and
/// down for unavailability, as upstream.
fn scaled(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        None => {
            let quarter = total as f64 * 0.25;
            (if round_up { quarter.ceil() } else { quarter.floor() }) as i32
        }
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => {
            let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(25.0);
            let v = total as f64 * pct / 100.0;
            (if round_up { v.ceil() } else { v.floor() }) as i32
        }
    }
}

/// What to do now.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// New pods to create from the current template.
    pub create: usize,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
    pub status: DeploymentStatus,
}

/// The pod a Deployment makes from its template: the template's labels and
/// the hash, an owner reference, and a name the apiserver completes
/// (`myapp-deploy-77b578b6d-` + 5 characters).
pub fn new_pod(deploy: &Deployment) -> Pod {
    let spec = deploy.spec.clone().unwrap_or_default();
    let hash = template_hash(&spec.template);
    let name = deploy.metadata.name.clone().unwrap_or_default();
    let template_meta = spec.template.metadata.clone().unwrap_or_default();
    let mut labels = template_meta.labels.clone().unwrap_or_default();
    labels.insert(TEMPLATE_HASH_LABEL.into(), hash.clone());
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-{hash}-")),
            namespace: deploy.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: template_meta.annotations,
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name,
                uid: deploy.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: spec.template.spec,
        status: None,
    }
}

/// Whether `pod` is controlled by `deploy`.
pub fn owned_by(pod: &Pod, deploy: &Deployment) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == deploy.metadata.uid.as_ref())
}

/// Deletion order when shrinking: pods that help least go first (not yet
/// scheduled, not ready, then the youngest), as upstream ranks them.
fn deletion_order(pods: &mut [&Pod]) {
    pods.sort_by_key(|p| {
        let scheduled = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
        let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(0);
        (scheduled, pod_ready(p), std::cmp::Reverse(created))
    });
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// Plans one step towards `deploy`'s spec from its live (not terminating) pods.
pub fn plan(deploy: &Deployment, pods: &[&Pod]) -> Plan {
    let spec = deploy.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1).max(0);
    let hash = template_hash(&spec.template);
    let is_new = |p: &&Pod| p.metadata.labels.as_ref().and_then(|l| l.get(TEMPLATE_HASH_LABEL)) == Some(&hash);
    let live: Vec<&Pod> = pods.iter().copied().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
    let (mut new, mut old): (Vec<&Pod>, Vec<&Pod>) = live.iter().copied().partition(is_new);
    let available = live.iter().filter(|p| pod_ready(p)).count() as i32;
    let recreate = spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    let rolling = spec.strategy.as_ref().and_then(|s| s.rolling_update.clone()).unwrap_or_default();
    let mut surge = scaled(rolling.max_surge.as_ref(), desired, true);
    let mut unavailable = scaled(rolling.max_unavailable.as_ref(), desired, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1; // upstream: a rollout must be able to move
    }
    if recreate {
        surge = 0;
        unavailable = desired;
    }

    let mut out = Plan::default();
    if old.is_empty() {
        // Plain scaling.
        let have = new.len() as i32;
        if have < desired {
            out.create = (desired - have) as usize;
        } else if have > desired {
            deletion_order(&mut new);
            out.delete = new.iter().take((have - desired) as usize).map(|p| name(p)).collect();
        }
    } else if recreate {
        out.delete = old.iter().map(|p| name(p)).collect();
    } else {
        // Grow the new pods within the surge budget.
        let room = desired + surge - live.len() as i32;
        out.create = room.min(desired - new.len() as i32).max(0) as usize;
        // Old pods that are not ready serve nobody: they go at once. Ready
        // ones go as far as the availability budget allows.
        deletion_order(&mut old);
        let (unready, ready): (Vec<&Pod>, Vec<&Pod>) = old.iter().copied().partition(|p| !pod_ready(p));
        out.delete.extend(unready.iter().map(|p| name(p)));
        let min_available = desired - unavailable;
        let can_remove = (available - min_available).max(0) as usize;
        out.delete.extend(ready.iter().take(can_remove).map(|p| name(p)));
    }

    let ready = available;
    let updated = new.len() as i32;
    let min_available = desired - unavailable;
    let complete = old.is_empty() && updated == desired && ready >= desired;
    let condition = |type_: &str, status: bool, reason: &str, message: String| DeploymentCondition {
        type_: type_.into(),
        status: if status { "True".into() } else { "False".into() },
        reason: Some(reason.into()),
        message: Some(message),
        ..Default::default()
    };
    let deploy_name = deploy.metadata.name.clone().unwrap_or_default();
    out.status = DeploymentStatus {
        observed_generation: deploy.metadata.generation,
        replicas: Some(live.len() as i32),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready),
        available_replicas: Some(ready),
        unavailable_replicas: Some((desired - ready).max(0)),
        conditions: Some(vec![
            if ready >= min_available {
                condition("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.".into())
            } else {
                condition(
                    "Available",
                    false,
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.".into(),
                )
            },
            if complete {
                condition(
                    "Progressing",
                    true,
                    "NewReplicaSetAvailable",
                    format!("Pods of template {deploy_name}-{hash} have successfully progressed."),
                )
            } else {
                condition(
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    format!("Pods of template {deploy_name}-{hash} are progressing."),
                )
            },
        ]),
        ..Default::default()
    };
    out
}

/// Whether two statuses say the same (condition times aside).
pub fn same_status(a: Option<&DeploymentStatus>, b: &DeploymentStatus) -> bool {
    let strip = |s: &DeploymentStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_transition_time = None;
            c.last_update_time = None;
        }
        s
    };
    a.is_some_and(|a| strip(a) == strip(b))
}

/// Labels for listing: a map, for building selectors.
pub fn selector_labels(deploy: &Deployment) -> BTreeMap<String, String> {
    deploy.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i32, image: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata":{"name":"myapp-deploy","namespace":"default","uid":"d-uid","generation":3},
            "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":"myapp"}},
                    "template":{"metadata":{"labels":{"app":"myapp"}},"spec":{"containers":[{"name":"myapp","image":image}]}}}
        }))
        .unwrap()
    }

    fn pod_of(d: &Deployment, n: usize, ready: bool) -> Pod {
        let mut p = new_pod(d);
        p.metadata.name = Some(format!("{}{n:05}", p.metadata.generate_name.clone().unwrap()));
        p.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::from_second(n as i64).unwrap()));
        p.spec.as_mut().unwrap().node_name = Some("node1".into());
        p.status = Some(
            serde_json::from_value(json!({"conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}))
                .unwrap(),
        );
        p
    }

    #[test]
    fn pods_look_like_the_tutorials() {
        let d = deployment(3, "myapp:v2");
        let p = new_pod(&d);
        let hash = template_hash(&d.spec.as_ref().unwrap().template);
        assert!(hash.len() >= 8 && hash.bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)), "{hash}");
        assert_eq!(p.metadata.generate_name.as_deref(), Some(format!("myapp-deploy-{hash}-").as_str()));
        assert_eq!(p.metadata.labels.as_ref().unwrap()[TEMPLATE_HASH_LABEL], hash);
        assert!(owned_by(&p, &d));
        assert_ne!(
            hash,
            template_hash(&deployment(3, "myapp:v3").spec.unwrap().template),
            "a new image is a new template"
        );
        assert_eq!(hash, template_hash(&deployment(5, "myapp:v2").spec.unwrap().template), "scaling is not");
    }

    #[test]
    fn scaling_up_and_down() {
        let d = deployment(3, "v2");
        assert_eq!(plan(&d, &[]).create, 3);
        let pods: Vec<Pod> = (0..5).map(|n| pod_of(&d, n, n != 4)).collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let p = plan(&d, &refs);
        // The not-ready pod goes first, then the youngest ready one.
        assert_eq!(
            p.delete,
            [
                "myapp-deploy-".to_string() + &template_hash(&d.spec.as_ref().unwrap().template) + "-00004",
                format!("myapp-deploy-{}-00003", template_hash(&d.spec.as_ref().unwrap().template))
            ]
        );
        assert_eq!(p.create, 0);
        let status = p.status;
        assert_eq!(
            (status.replicas, status.ready_replicas, status.updated_replicas, status.observed_generation),
            (Some(5), Some(4), Some(5), Some(3))
        );
    }

    #[test]
    fn a_rolling_update_keeps_within_its_budgets() {
        let v1 = deployment(4, "v1");
        let v2 = deployment(4, "v2");
        let old: Vec<Pod> = (0..4).map(|n| pod_of(&v1, n, true)).collect();
        let refs: Vec<&Pod> = old.iter().collect();
        // 4 replicas: surge 1, unavailable 1 → make 1 new, remove 1 old.
        let p = plan(&v2, &refs);
        assert_eq!((p.create, p.delete.len()), (1, 1));
        assert_eq!(p.status.conditions.as_ref().unwrap()[1].reason.as_deref(), Some("ReplicaSetUpdated"));

        // The new pod is not ready yet: no more old pods may go.
        let new0 = pod_of(&v2, 10, false);
        let mut now: Vec<&Pod> = old[1..].iter().collect();
        now.push(&new0);
        let p = plan(&v2, &now);
        assert_eq!((p.create, p.delete.len()), (1, 0), "surge room for one more new pod, no availability to spare");

        // Every pod new and ready: done.
        let done: Vec<Pod> = (20..24).map(|n| pod_of(&v2, n, true)).collect();
        let refs: Vec<&Pod> = done.iter().collect();
        let p = plan(&v2, &refs);
        assert_eq!((p.create, p.delete.len()), (0, 0));
        let c = &p.status.conditions.unwrap()[1];
        assert_eq!(c.reason.as_deref(), Some("NewReplicaSetAvailable"));
    }

    #[test]
    fn unready_old_pods_go_at_once_and_terminating_ones_do_not_count() {
        let v1 = deployment(2, "v1");
        let v2 = deployment(2, "v2");
        let mut old: Vec<Pod> = (0..2).map(|n| pod_of(&v1, n, false)).collect();
        old[1].metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        let refs: Vec<&Pod> = old.iter().collect();
        let p = plan(&v2, &refs);
        assert_eq!(p.delete.len(), 1);
        assert_eq!(p.status.replicas, Some(1));
    }

    #[test]
    fn budgets_from_numbers_and_percentages() {
        assert_eq!(scaled(None, 3, true), 1);
        assert_eq!(scaled(None, 3, false), 0);
        assert_eq!(scaled(Some(&IntOrString::String("50%".into())), 5, true), 3);
        assert_eq!(scaled(Some(&IntOrString::Int(2)), 5, false), 2);
    }
}
