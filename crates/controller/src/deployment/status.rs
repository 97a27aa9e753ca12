//! A Deployment's status from its ReplicaSets, and its two conditions with
//! upstream's reasons and messages (`kubectl rollout status` and `describe`
//! read them). Pure: the time is a parameter.

use super::replicasets::replicas;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";

/// A condition as upstream's `NewDeploymentCondition` makes it: both times now.
pub fn condition(type_: &str, status: &str, reason: &str, message: String, now: &Time) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    }
}

pub fn get<'a>(status: Option<&'a DeploymentStatus>, type_: &str) -> Option<&'a DeploymentCondition> {
    status?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// Upstream's `SetDeploymentCondition`: the same status and reason change
/// nothing; the same status keeps its transition time; the condition moves
/// to the end (which is why `describe` lists Available before Progressing).
pub fn set(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(current) = conditions.iter().find(|x| x.type_ == c.type_) {
        if current.status == c.status && current.reason == c.reason {
            return;
        }
        if current.status == c.status {
            c.last_transition_time = current.last_transition_time.clone();
        }
    }
    conditions.retain(|x| x.type_ != c.type_);
    conditions.push(c);
}

pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|x| x.type_ != type_);
    }
}

fn sum(rss: &[&ReplicaSet], f: impl Fn(&ReplicaSet) -> i32) -> i32 {
    rss.iter().map(|rs| f(rs)).sum()
}

fn status_of(rs: &ReplicaSet) -> k8s_openapi::api::apps::v1::ReplicaSetStatus {
    rs.status.clone().unwrap_or_default()
}

/// Upstream's `calculateStatus`: counts summed over the ReplicaSets (what
/// their controller observed), `Available` against `replicas - maxUnavailable`.
pub fn calculate(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    max_unavailable: i32,
    now: &Time,
) -> DeploymentStatus {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let available = sum(all, |rs| status_of(rs).available_replicas.unwrap_or(0));
    let total = sum(all, replicas);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(sum(all, |rs| status_of(rs).replicas)),
        updated_replicas: Some(new.map_or(0, |rs| status_of(rs).replicas)),
        ready_replicas: Some(sum(all, |rs| status_of(rs).ready_replicas.unwrap_or(0))),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: d.status.as_ref().and_then(|s| s.collision_count),
        conditions: d.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    let c = if available >= desired - max_unavailable {
        condition(AVAILABLE, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.".into(), now)
    } else {
        condition(
            AVAILABLE,
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    set(&mut status, c);
    status
}

/// Upstream's `DeploymentComplete`: every replica updated and available, and
/// the latest spec observed.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    s.updated_replicas == Some(desired)
        && s.replicas == Some(desired)
        && s.available_replicas == Some(desired)
        && s.observed_generation >= d.metadata.generation
}

/// Upstream's `DeploymentProgressing`: more updated, ready or available
/// pods, or fewer old ones, than the last status said.
fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = old.replicas.unwrap_or(0) - n(old.updated_replicas);
    let new_old = new.replicas.unwrap_or(0) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.progress_deadline_seconds).is_some_and(|s| s != i32::MAX)
}

/// Upstream's `syncRolloutStatus`: the status, with `Progressing` saying
/// `NewReplicaSetAvailable` once complete, `ReplicaSetUpdated` while pods move.
pub fn rollout(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    max_unavailable: i32,
    now: &Time,
) -> DeploymentStatus {
    let mut status = calculate(d, all, new, max_unavailable, now);
    if !has_progress_deadline(d) {
        remove(&mut status, PROGRESSING);
        return status;
    }
    let current = get(d.status.as_ref(), PROGRESSING);
    let done = status.replicas == status.updated_replicas
        && current.is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"));
    if done {
        return status;
    }
    let name = d.metadata.name.clone().unwrap_or_default();
    let subject = match new.and_then(|rs| rs.metadata.name.as_ref()) {
        Some(rs) => format!("ReplicaSet {rs:?}"),
        None => format!("Deployment {name:?}"),
    };
    if complete(d, &status) {
        let c = condition(
            PROGRESSING,
            "True",
            "NewReplicaSetAvailable",
            format!("{subject} has successfully progressed."),
            now,
        );
        set(&mut status, c);
    } else if progressing(d, &status) {
        // Progress is news even under the same reason: a fresh update time,
        // the transition time kept.
        let mut c = condition(PROGRESSING, "True", "ReplicaSetUpdated", format!("{subject} is progressing."), now);
        if let Some(current) = current {
            if current.status == "True" {
                c.last_transition_time = current.last_transition_time.clone();
            }
            remove(&mut status, PROGRESSING);
        }
        set(&mut status, c);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: i64) -> Time {
        Time(jiff::Timestamp::from_second(s).unwrap())
    }

    fn deployment(status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({"metadata":{"name":"web","generation":2},
            "spec":{"replicas":3,"progressDeadlineSeconds":600,"selector":{},"template":{}},"status":status}))
        .unwrap()
    }

    fn rs(name: &str, spec: i32, replicas: i32, ready: i32) -> ReplicaSet {
        serde_json::from_value(json!({"metadata":{"name":name},"spec":{"replicas":spec,"selector":{}},
            "status":{"replicas":replicas,"readyReplicas":ready,"availableReplicas":ready}}))
        .unwrap()
    }

    #[test]
    fn setting_a_condition_keeps_times_and_moves_it_last() {
        let mut s = DeploymentStatus::default();
        set(&mut s, condition(PROGRESSING, "True", "NewReplicaSetCreated", "x".into(), &t(1)));
        set(&mut s, condition(AVAILABLE, "False", "MinimumReplicasUnavailable", "y".into(), &t(2)));
        set(&mut s, condition(AVAILABLE, "False", "MinimumReplicasUnavailable", "y".into(), &t(3)));
        assert_eq!(get(Some(&s), AVAILABLE).unwrap().last_update_time, Some(t(2)), "nothing new");
        set(&mut s, condition(PROGRESSING, "True", "ReplicaSetUpdated", "z".into(), &t(4)));
        let c = s.conditions.as_ref().unwrap();
        assert_eq!((c[0].type_.as_str(), c[1].type_.as_str()), (AVAILABLE, PROGRESSING));
        assert_eq!((c[1].last_transition_time.clone(), c[1].last_update_time.clone()), (Some(t(1)), Some(t(4))));
    }

    #[test]
    fn counts_come_from_the_replica_sets() {
        let d = deployment(json!({}));
        let (old, new) = (rs("web-old", 1, 2, 2), rs("web-new", 2, 2, 1));
        let s = calculate(&d, &[&old, &new], Some(&new), 0, &t(1));
        assert_eq!(
            (s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas, s.unavailable_replicas),
            (Some(4), Some(2), Some(3), Some(3), Some(0))
        );
        assert_eq!(get(Some(&s), AVAILABLE).unwrap().reason.as_deref(), Some("MinimumReplicasAvailable"));
        let s = calculate(&d, &[&new], Some(&new), 0, &t(1));
        assert_eq!(get(Some(&s), AVAILABLE).unwrap().status, "False");
    }

    #[test]
    fn progressing_then_complete() {
        let d = deployment(json!({"replicas":3,"updatedReplicas":1,"readyReplicas":3,"availableReplicas":3,
            "conditions":[{"type":"Progressing","status":"True","reason":"NewReplicaSetCreated","lastTransitionTime":"1970-01-01T00:00:01Z"}]}));
        let (old, new) = (rs("web-old", 1, 1, 1), rs("web-new", 3, 2, 2));
        let s = rollout(&d, &[&old, &new], Some(&new), 0, &t(9));
        let c = get(Some(&s), PROGRESSING).unwrap();
        assert_eq!(
            (c.reason.as_deref(), c.message.as_deref(), c.last_transition_time.clone()),
            (Some("ReplicaSetUpdated"), Some("ReplicaSet \"web-new\" is progressing."), Some(t(1)))
        );
        let done = rs("web-new", 3, 3, 3);
        let s = rollout(&d, &[&done], Some(&done), 0, &t(10));
        let c = get(Some(&s), PROGRESSING).unwrap();
        assert_eq!(c.message.as_deref(), Some("ReplicaSet \"web-new\" has successfully progressed."));
        assert_eq!(s.observed_generation, Some(2));
    }
}
