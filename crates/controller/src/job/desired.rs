//! A Job's next step and status, as a pure function of the Job, its pods
//! and the time (upstream's `pkg/controller/job`, 1.32):
//!
//! - active pods (not finished, not terminating) are kept at
//!   `min(parallelism, completions - succeeded)`; a work queue Job (no
//!   `completions`) runs `parallelism` until one pod succeeds;
//! - failures count towards `backoffLimit`: Failed pods, and container
//!   restarts of `restartPolicy: OnFailure` pods; a replacement waits
//!   upstream's backoff (10 s, doubling per failure, at most 6 min);
//! - the end comes in two steps, as 1.32 does it (pod replacement policy on
//!   by default): first `SuccessCriteriaMet` or `FailureTarget` (remaining
//!   pods are deleted), then, once no pod is left running or terminating,
//!   `Complete` (with `completionTime`) or `Failed`;
//! - `activeDeadlineSeconds` fails a Job that ran longer (`DeadlineExceeded`).
//!
//! Counts come from the pods themselves (finished pods are kept, as upstream
//! keeps them), and never go down, so a finished pod deleted by hand is not
//! forgotten; upstream tracks that with a pod finalizer, which is not done here.

use crate::garbage::controller_reference;
use api::readiness::pod_ready;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::time::Duration;

/// Upstream's `DefaultJobPodFailureBackOff` and its cap.
const BACKOFF: i64 = 10;
const MAX_BACKOFF: i64 = 360;

/// How a Job ends: the interim and final condition types, reason, message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End {
    Succeeded,
    BackoffLimitExceeded,
    DeadlineExceeded,
}

impl End {
    /// (interim condition, final condition, reason, message), as upstream.
    pub fn words(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            End::Succeeded => {
                ("SuccessCriteriaMet", "Complete", "CompletionsReached", "Reached expected number of succeeded pods")
            }
            End::BackoffLimitExceeded => {
                ("FailureTarget", "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
            }
            End::DeadlineExceeded => {
                ("FailureTarget", "Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
            }
        }
    }
}

/// What to do now.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Pods to create from the template.
    pub create: usize,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
    pub status: JobStatus,
    /// The end reached in this step's status, to announce (once).
    pub finished: Option<End>,
    /// When to look again (a backoff or a deadline).
    pub recheck: Option<Duration>,
}

/// The pod a Job makes: `<job>-` and five characters, the template's labels
/// (with `batch.kubernetes.io/job-name` and `controller-uid`, which the
/// apiserver put there), controlled by the Job.
pub fn new_pod(job: &Job) -> Pod {
    let template = job.spec.clone().unwrap_or_default().template;
    let meta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", job.metadata.name.as_deref().unwrap_or_default())),
            namespace: job.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            owner_references: Some(vec![controller_reference(job)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// When the pod finished (its containers' last termination), in seconds.
fn finished_at(p: &Pod) -> Option<i64> {
    let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
    statuses
        .iter()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0.as_second())
        .max()
}

fn condition(job: &Job, type_: &str) -> Option<JobCondition> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_ && c.status == "True").cloned()
}

fn new_condition(type_: &str, reason: &str, message: &str, now: i64) -> JobCondition {
    let at = Time(jiff::Timestamp::from_second(now).unwrap_or_default());
    JobCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(at.clone()),
        last_transition_time: Some(at),
    }
}

/// The end `job` has reached, by its conditions (interim or final).
fn end_of(job: &Job) -> Option<End> {
    let failed = condition(job, "FailureTarget").or_else(|| condition(job, "Failed"));
    if let Some(c) = failed {
        return Some(match c.reason.as_deref() {
            Some("DeadlineExceeded") => End::DeadlineExceeded,
            _ => End::BackoffLimitExceeded,
        });
    }
    condition(job, "SuccessCriteriaMet").or_else(|| condition(job, "Complete")).map(|_| End::Succeeded)
}

/// Plans one step for `job` with the pods it controls, at `now` (seconds).
/// The status is what the pods are now: plan again after the step's writes
/// to report them.
pub fn plan(job: &Job, pods: &[&Pod], now: i64) -> Plan {
    let spec = job.spec.clone().unwrap_or_default();
    let old = job.status.clone().unwrap_or_default();
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let terminating = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && !matches!(phase(p), "Succeeded" | "Failed"))
        .count();
    let active: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && !matches!(phase(p), "Succeeded" | "Failed"))
        .collect();
    let succeeded = (pods.iter().filter(|p| phase(p) == "Succeeded").count() as i32).max(old.succeeded.unwrap_or(0));
    let failed_pods: Vec<&Pod> = pods.iter().copied().filter(|p| phase(p) == "Failed").collect();
    let failed = (failed_pods.len() as i32).max(old.failed.unwrap_or(0));
    let restarts: i32 = active
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) == Some("OnFailure"))
        .flat_map(|p| p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()))
        .map(|c| c.restart_count)
        .sum();
    let start = old.start_time.as_ref().map_or(now, |t| t.0.as_second());

    let mut out = Plan::default();
    let mut end = end_of(job);
    if end.is_none() {
        let complete = match spec.completions {
            Some(c) => succeeded >= c,
            None => succeeded >= 1 && active.is_empty(),
        };
        let deadline = spec.active_deadline_seconds.map(|d| start + d);
        end = if complete {
            Some(End::Succeeded)
        } else if failed + restarts > backoff_limit {
            Some(End::BackoffLimitExceeded)
        } else if deadline.is_some_and(|d| now >= d) {
            Some(End::DeadlineExceeded)
        } else {
            None
        };
        out.finished = end;
        out.recheck = deadline.map(|d| Duration::from_secs((d - now).max(0) as u64));
    }

    let mut conditions = old.conditions.clone().unwrap_or_default();
    let mut completion_time = old.completion_time.clone();
    match end {
        Some(e) => {
            // The end: no pod keeps running; the final condition once none is left.
            out.delete = active.iter().filter_map(|p| p.metadata.name.clone()).collect();
            let (interim, last, reason, message) = e.words();
            if !conditions.iter().any(|c| c.type_ == interim) {
                conditions.push(new_condition(interim, reason, message, now));
            }
            if out.delete.is_empty() && terminating == 0 && !conditions.iter().any(|c| c.type_ == last) {
                conditions.push(new_condition(last, reason, message, now));
                if e == End::Succeeded {
                    completion_time = Some(Time(jiff::Timestamp::from_second(now).unwrap_or_default()));
                }
            }
        }
        None => {
            let wanted = match spec.completions {
                Some(c) => parallelism.min(c - succeeded),
                None if succeeded > 0 => 0,
                None => parallelism,
            }
            .max(0) as usize;
            if active.len() > wanted {
                // Lowered parallelism: the youngest go.
                let mut by_age = active.clone();
                by_age.sort_by_key(|p| std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)));
                out.delete =
                    by_age.iter().take(active.len() - wanted).filter_map(|p| p.metadata.name.clone()).collect();
            } else if active.len() < wanted {
                // After a failure, the replacement waits its backoff.
                let last_failure = failed_pods.iter().filter_map(|p| finished_at(p)).max();
                let wait = match (failed, last_failure) {
                    (n, Some(at)) if n > 0 => (BACKOFF << (n - 1).min(6)).min(MAX_BACKOFF) - (now - at),
                    _ => 0,
                };
                if wait > 0 {
                    let again = Duration::from_secs(wait as u64);
                    out.recheck = Some(out.recheck.map_or(again, |r| r.min(again)));
                } else {
                    out.create = wanted - active.len();
                }
            }
        }
    }
    out.status = JobStatus {
        start_time: Some(Time(jiff::Timestamp::from_second(start).unwrap_or_default())),
        completion_time,
        active: Some(active.len() as i32).filter(|n| *n > 0),
        ready: Some(active.iter().filter(|p| pod_ready(p)).count() as i32),
        succeeded: Some(succeeded).filter(|n| *n > 0),
        failed: Some(failed).filter(|n| *n > 0),
        terminating: Some(terminating as i32),
        conditions: Some(conditions).filter(|c| !c.is_empty()),
        uncounted_terminated_pods: Some(Default::default()),
        ..old
    };
    out
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
