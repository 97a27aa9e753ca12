//! A CronJob's next step, as a pure function of the CronJob, the Jobs it
//! controls and the time (upstream's `cronjob_controllerv2.go`):
//!
//! 1. Jobs that finished leave `status.active` (`lastSuccessfulTime` follows
//!    a Complete one); finished Jobs beyond `successfulJobsHistoryLimit` and
//!    `failedJobsHistoryLimit` are deleted, oldest first.
//! 2. Unless suspended: the most recent schedule time since the last one
//!    (`lastScheduleTime`, else the CronJob's creation; no earlier than
//!    `startingDeadlineSeconds` ago) is due. Missed ones before it are not
//!    run: one Job catches up.
//! 3. A due time makes a Job `<cronjob>-<scheduled time in Unix minutes>`,
//!    unless `concurrencyPolicy: Forbid` and one is active; `Replace`
//!    deletes the active ones first.
//! 4. Look again at the next schedule time.
//!
//! Without `spec.timeZone` the schedule is read in UTC (upstream: the
//! controller-manager's local zone, UTC in its usual image).

use super::schedule::Schedule;
use crate::garbage::controller_reference;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::BTreeMap;
use std::time::Duration;

/// The annotation upstream puts on each Job with the time it was scheduled for.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// An Event to record: (warning, reason, message).
pub type Note = (bool, &'static str, String);

/// What to do now.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Jobs to delete (Replace, history limits), by name, before creating.
    pub delete: Vec<String>,
    /// The Job to create.
    pub create: Option<Job>,
    pub status: CronJobStatus,
    pub events: Vec<Note>,
    /// When to look again (the next schedule time).
    pub requeue: Option<Duration>,
}

/// How a Job finished, by its final condition.
fn finished(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().filter(|c| c.status == "True").find_map(|c| match c.type_.as_str() {
        "Complete" => Some("Complete"),
        "Failed" => Some("Failed"),
        _ => None,
    })
}

fn name(job: &Job) -> String {
    job.metadata.name.clone().unwrap_or_default()
}

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// `t` in `tz` as Go's `time.RFC3339` prints it (`Z` for a zero offset).
fn rfc3339(t: Timestamp, tz: &TimeZone) -> String {
    let zoned = t.to_zoned(tz.clone());
    match zoned.offset().seconds() {
        0 => zoned.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        _ => zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
    }
}

/// The Job the CronJob makes for `scheduled`.
pub fn new_job(cj: &CronJob, scheduled: Timestamp, tz: &TimeZone) -> Job {
    let template = cj.spec.clone().unwrap_or_default().job_template;
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP_ANNOTATION.into(), rfc3339(scheduled, tz));
    Job {
        metadata: ObjectMeta {
            name: Some(format!("{}-{}", cj.metadata.name.as_deref().unwrap_or_default(), scheduled.as_second() / 60)),
            namespace: cj.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_reference(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// The zone the schedule is read in.
pub fn time_zone(cj: &CronJob) -> Result<TimeZone, String> {
    match cj.spec.as_ref().and_then(|s| s.time_zone.as_deref()) {
        None | Some("") => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|e| format!("invalid timeZone: {name:?}: {e}")),
    }
}

/// The latest time in `(earliest, now]` the schedule fires, and how many it
/// fired in all.
fn most_recent(schedule: &Schedule, tz: &TimeZone, earliest: Timestamp, now: Timestamp) -> (Option<Timestamp>, usize) {
    let (mut last, mut count, mut t) = (None, 0, earliest);
    while let Some(next) = schedule.next_after(t, tz).filter(|n| *n <= now) {
        (last, count, t) = (Some(next), count + 1, next);
    }
    (last, count)
}

/// Deletes, oldest first, the finished Jobs of one kind beyond `limit`.
fn beyond_limit(jobs: &[&Job], outcome: &str, limit: Option<i32>) -> Vec<String> {
    let Some(limit) = limit else { return Vec::new() };
    let mut done: Vec<&&Job> = jobs.iter().filter(|j| finished(j) == Some(outcome)).collect();
    done.sort_by_key(|j| (j.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0), name(j)));
    let extra = done.len().saturating_sub(limit.max(0) as usize);
    done.iter().take(extra).map(|j| name(j)).collect()
}

/// Plans one step for `cj` with the Jobs it controls, at `now`.
pub fn plan(cj: &CronJob, jobs: &[&Job], now: Timestamp) -> Plan {
    let spec = cj.spec.clone().unwrap_or_default();
    let old = cj.status.clone().unwrap_or_default();
    let mut out = Plan::default();
    let by_uid: BTreeMap<&str, &Job> = jobs.iter().filter_map(|j| Some((j.metadata.uid.as_deref()?, *j))).collect();

    // 1. What finished, and the history kept.
    let mut active: Vec<ObjectReference> = Vec::new();
    let mut last_successful = old.last_successful_time.clone();
    for r in old.active.iter().flatten() {
        let Some(job) = r.uid.as_deref().and_then(|u| by_uid.get(u)) else { continue };
        if job.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match finished(job) {
            None => active.push(reference(job)),
            Some(how) => {
                out.events.push((
                    false,
                    "SawCompletedJob",
                    format!("Saw completed job: {}, condition: {how}", name(job)),
                ));
                let done = job.status.as_ref().and_then(|s| s.completion_time.clone());
                if how == "Complete" && done.as_ref().map(|t| t.0) > last_successful.as_ref().map(|t| t.0) {
                    last_successful = done;
                }
            }
        }
    }
    // Jobs of ours still running that the status forgot (a lost write).
    for job in jobs.iter().filter(|j| finished(j).is_none() && j.metadata.deletion_timestamp.is_none()) {
        if !active.iter().any(|r| r.uid == job.metadata.uid) {
            active.push(reference(job));
        }
    }
    out.delete.extend(beyond_limit(jobs, "Complete", spec.successful_jobs_history_limit));
    out.delete.extend(beyond_limit(jobs, "Failed", spec.failed_jobs_history_limit));
    out.status = CronJobStatus {
        active: None,
        last_schedule_time: old.last_schedule_time.clone(),
        last_successful_time: last_successful,
    };

    // 2. What is due.
    let due = (|| {
        if spec.suspend == Some(true) {
            return None;
        }
        let schedule: Schedule = match spec.schedule.parse() {
            Ok(s) => s,
            Err(e) => {
                out.events.push((
                    true,
                    "UnparseableSchedule",
                    format!("unparseable schedule: {:?} : {e}", spec.schedule),
                ));
                return None;
            }
        };
        let tz = match time_zone(cj) {
            Ok(tz) => tz,
            Err(e) => {
                out.events.push((true, "UnknownTimeZone", e));
                return None;
            }
        };
        let created = cj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
        let mut earliest = old.last_schedule_time.as_ref().map_or(created, |t| t.0);
        if let Some(d) = spec.starting_deadline_seconds {
            earliest = earliest.max(now.checked_sub(jiff::SignedDuration::from_secs(d)).unwrap_or(now));
        }
        let (scheduled, missed) = most_recent(&schedule, &tz, earliest, now);
        if missed > 100 {
            out.events.push((true, "TooManyMissedTimes", format!("too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew")));
        }
        out.requeue = schedule
            .next_after(now, &tz)
            .map(|n| Duration::from_millis((n.as_millisecond() - now.as_millisecond()).max(0) as u64 + 100));
        Some((scheduled?, tz))
    })();

    // 3. A Job for the due time, as the concurrency policy allows.
    if let Some((scheduled, tz)) = due {
        let job = new_job(cj, scheduled, &tz);
        let exists = jobs.iter().any(|j| j.metadata.name == job.metadata.name);
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        if exists || (policy == "Forbid" && !active.is_empty()) {
            // Already made, or not allowed yet: it waits for the next time.
            if exists {
                out.status.last_schedule_time = Some(Time(scheduled));
            }
        } else {
            if policy == "Replace" {
                for r in active.drain(..) {
                    out.delete.push(r.name.unwrap_or_default());
                }
            }
            out.status.last_schedule_time = Some(Time(scheduled));
            active.push(reference(&job));
            out.create = Some(job);
        }
    }
    out.status.active = Some(active).filter(|a| !a.is_empty());
    out
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
