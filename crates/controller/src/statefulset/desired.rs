//! A StatefulSet's next step, as a pure function of the set and its pods
//! (upstream's `pkg/controller/statefulset`, `updateStatefulSet`):
//!
//! 1. ordinals `0..replicas`, lowest first: a missing pod is created, a
//!    Failed one deleted (to be created again);
//! 2. ordinals `replicas..`, highest first: condemned, deleted;
//! 3. `RollingUpdate`: the highest pod (down to `partition`) whose
//!    `controller-revision-hash` is not the template's is deleted, to come
//!    back from the new template.
//!
//! With `podManagementPolicy: OrderedReady` (the default) each step waits
//! until every pod before it is Running and Ready, and does one pod at a
//! time; with `Parallel`, steps 1 and 2 do everything at once. Rolling
//! updates are one pod at a time in both, waiting for the pods to be ready.
//!
//! Revisions are named `<set>-<template hash>` as upstream's
//! ControllerRevisions, but not stored as such: a pod created below the
//! partition gets the current template too (upstream would restore the old
//! one from its ControllerRevision).

use crate::deployment::replicasets::template_hash;
use crate::garbage::controller_reference;
use api::readiness::pod_ready;
use api::well_known::{CONTROLLER_REVISION_HASH_LABEL, POD_INDEX_LABEL, STATEFUL_SET_POD_NAME_LABEL};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// What to do now.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Ordinals to create, from the template.
    pub create: Vec<i32>,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
}

/// The revision the template is: `<set>-<hash>`.
pub fn update_revision(set: &StatefulSet) -> String {
    let spec = set.spec.clone().unwrap_or_default();
    // No status yet counts as no collision, as once the status says 0.
    let collisions = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    format!("{}-{}", set.metadata.name.as_deref().unwrap_or_default(), template_hash(&spec.template, Some(collisions)))
}

/// The ordinal in `web-3`'s name, if the pod is `set`'s by name.
pub fn ordinal(set: &StatefulSet, pod: &Pod) -> Option<i32> {
    let prefix = format!("{}-", set.metadata.name.as_deref()?);
    pod.metadata.name.as_deref()?.strip_prefix(&prefix)?.parse().ok().filter(|n: &i32| *n >= 0)
}

/// Pod `ordinal` of `set`: named `<set>-<ordinal>`, its hostname that name
/// and its subdomain the governing Service (`spec.serviceName`), so the
/// headless Service gives it `web-0.nginx.default.svc.cluster.local`.
pub fn new_pod(set: &StatefulSet, ordinal: i32, revision: &str) -> Pod {
    let spec = set.spec.clone().unwrap_or_default();
    let template = spec.template;
    let meta = template.metadata.unwrap_or_default();
    let name = format!("{}-{ordinal}", set.metadata.name.as_deref().unwrap_or_default());
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), revision.into());
    labels.insert(STATEFUL_SET_POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    let mut pod_spec = template.spec.unwrap_or_default();
    pod_spec.hostname = Some(name.clone());
    pod_spec.subdomain = spec.service_name.clone().filter(|s| !s.is_empty());
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: meta.annotations,
            owner_references: Some(vec![controller_reference(set)]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    }
}

fn phase(p: &Pod) -> Option<&str> {
    p.status.as_ref()?.phase.as_deref()
}

/// Upstream's `isHealthy`: Running and Ready, not terminating.
fn healthy(p: &Pod) -> bool {
    phase(p) == Some("Running") && pod_ready(p) && p.metadata.deletion_timestamp.is_none()
}

fn revision_of(p: &Pod) -> Option<&str> {
    p.metadata.labels.as_ref()?.get(CONTROLLER_REVISION_HASH_LABEL).map(String::as_str)
}

/// The next step for `set` with its `pods` (those it controls).
pub fn plan(set: &StatefulSet, pods: &[&Pod]) -> Step {
    let spec = set.spec.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1).max(0);
    let ordered = spec.pod_management_policy.as_deref() != Some("Parallel");
    let by_ordinal: BTreeMap<i32, &Pod> = pods.iter().filter_map(|p| Some((ordinal(set, p)?, *p))).collect();
    let mut step = Step::default();

    // 1. The pods the set should have, lowest first.
    for n in 0..replicas {
        match by_ordinal.get(&n) {
            None => step.create.push(n),
            Some(p) if phase(p) == Some("Failed") && p.metadata.deletion_timestamp.is_none() => {
                step.delete.push(p.metadata.name.clone().unwrap_or_default())
            }
            Some(p) if healthy(p) => continue,
            // Pending, starting, or terminating: ordered mode waits for it.
            Some(_) => {}
        }
        if ordered {
            return step;
        }
    }
    // 2. Condemned pods, highest first; ordered: one at a time, once the rest are healthy.
    for (_, p) in by_ordinal.range(replicas..).rev() {
        if p.metadata.deletion_timestamp.is_none() {
            step.delete.push(p.metadata.name.clone().unwrap_or_default());
        }
        if ordered {
            return step;
        }
    }
    if !step.create.is_empty() || !step.delete.is_empty() {
        return step;
    }
    // 3. A rolling update: one pod at a time, highest first, all others healthy.
    let strategy = spec.update_strategy.unwrap_or_default();
    if strategy.type_.as_deref() == Some("OnDelete") {
        return step;
    }
    let partition = strategy.rolling_update.and_then(|r| r.partition).unwrap_or(0).max(0);
    let revision = update_revision(set);
    if (0..replicas).any(|n| !by_ordinal.get(&n).is_some_and(|p| healthy(p))) {
        return step;
    }
    if let Some(p) = (partition..replicas).rev().map(|n| by_ordinal[&n]).find(|p| revision_of(p) != Some(&revision)) {
        step.delete.push(p.metadata.name.clone().unwrap_or_default());
    }
    step
}

/// The status `set` reports with its `pods`: upstream's counts, and the
/// current revision moves to the update revision once every replica is
/// updated and ready.
pub fn status(set: &StatefulSet, pods: &[&Pod]) -> StatefulSetStatus {
    let old = set.status.clone().unwrap_or_default();
    let update = update_revision(set);
    let current = old.current_revision.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| update.clone());
    let mine: Vec<&Pod> = pods.iter().copied().filter(|p| ordinal(set, p).is_some()).collect();
    let count = |f: &dyn Fn(&Pod) -> bool| mine.iter().filter(|p| f(p)).count() as i32;
    let ready = count(&|p| pod_ready(p) && p.metadata.deletion_timestamp.is_none());
    let updated = count(&|p| revision_of(p) == Some(&update));
    let replicas = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let (current, current_replicas) = if updated == replicas && ready == replicas {
        (update.clone(), updated)
    } else {
        let n = count(&|p| revision_of(p) == Some(&current));
        (current, n)
    };
    StatefulSetStatus {
        replicas: mine.len() as i32,
        ready_replicas: Some(ready),
        available_replicas: Some(ready),
        current_replicas: Some(current_replicas),
        updated_replicas: Some(updated),
        current_revision: Some(current),
        update_revision: Some(update),
        observed_generation: set.metadata.generation,
        collision_count: Some(old.collision_count.unwrap_or(0)),
        conditions: old.conditions,
    }
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
