use super::*;
use serde_json::json;

fn job(completions: Option<i32>, parallelism: i32, backoff_limit: i32) -> Job {
    let mut spec = json!({"parallelism":parallelism,"backoffLimit":backoff_limit,
        "selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"job-uid"}},
        "template":{"metadata":{"labels":{"batch.kubernetes.io/job-name":"pi","batch.kubernetes.io/controller-uid":"job-uid"}},
                    "spec":{"restartPolicy":"Never","containers":[{"name":"pi","image":"busybox"}]}}});
    if let Some(c) = completions {
        spec["completions"] = json!(c);
    }
    serde_json::from_value(json!({"metadata":{"name":"pi","namespace":"default","uid":"job-uid"},"spec":spec})).unwrap()
}

/// Pod `n` of `job` in `phase`, finished (if so) at second `n`.
fn pod(job: &Job, n: i64, phase: &str) -> Pod {
    let mut p = new_pod(job);
    p.metadata.name = Some(format!("pi-{n:05}"));
    p.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(n).unwrap()));
    let exit = if phase == "Failed" { 1 } else { 0 };
    let state = match phase {
        "Succeeded" | "Failed" => {
            json!({"terminated":{"exitCode":exit,"finishedAt":jiff::Timestamp::from_second(n).unwrap().to_string()}})
        }
        _ => json!({"running":{}}),
    };
    p.status = Some(
        serde_json::from_value(json!({"phase":phase,"containerStatuses":[{"name":"pi","image":"busybox","imageID":"","ready":phase=="Running","restartCount":0,"state":state}]}))
            .unwrap(),
    );
    p
}

/// `job` with the status `plan` reported written back, as the controller does.
fn written(job: &Job, pods: &[&Pod], now: i64) -> Job {
    let mut j = job.clone();
    j.status = Some(plan(job, pods, now).status);
    j
}

fn types(s: &JobStatus) -> Vec<&str> {
    s.conditions.iter().flatten().map(|c| c.type_.as_str()).collect()
}

#[test]
fn pods_are_the_jobs() {
    let p = new_pod(&job(Some(1), 1, 6));
    assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-"));
    assert_eq!(p.metadata.labels.as_ref().unwrap()["batch.kubernetes.io/job-name"], "pi");
    let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.api_version.as_str(), owner.kind.as_str(), owner.uid.as_str()), ("batch/v1", "Job", "job-uid"));
}

#[test]
fn completions_at_parallelism_then_complete_in_two_steps() {
    let j = job(Some(3), 2, 6);
    let first = plan(&j, &[], 100);
    assert_eq!((first.create, first.status.start_time.as_ref().map(|t| t.0.as_second())), (2, Some(100)));
    let j = written(&j, &[], 100);
    let (a, b) = (pod(&j, 101, "Succeeded"), pod(&j, 102, "Running"));
    let p = plan(&j, &[&a, &b], 110);
    assert_eq!((p.create, p.status.active, p.status.succeeded), (1, Some(1), Some(1)), "one left to run");
    let (b, c) = (pod(&j, 102, "Succeeded"), pod(&j, 103, "Succeeded"));
    let p = plan(&j, &[&a, &b, &c], 120);
    assert_eq!((p.create, p.finished, p.status.succeeded), (0, Some(End::Succeeded), Some(3)));
    assert_eq!(types(&p.status), ["SuccessCriteriaMet", "Complete"], "no pod left: both at once");
    let complete = p.status.conditions.as_ref().unwrap()[1].clone();
    assert_eq!(
        (complete.reason.as_deref(), complete.message.as_deref()),
        (Some("CompletionsReached"), Some("Reached expected number of succeeded pods"))
    );
    assert_eq!(p.status.completion_time.map(|t| t.0.as_second()), Some(120));
    assert_eq!(p.status.start_time.map(|t| t.0.as_second()), Some(100), "kept");
}

#[test]
fn a_work_queue_job_ends_when_one_succeeds_and_the_rest_stop() {
    let j = job(None, 3, 6);
    assert_eq!(plan(&j, &[], 0).create, 3);
    let (a, b) = (pod(&j, 1, "Succeeded"), pod(&j, 2, "Running"));
    let p = plan(&j, &[&a, &b], 5);
    assert_eq!((p.create, p.finished), (0, None), "the others still run: not done");
    let b = pod(&j, 2, "Succeeded");
    assert_eq!(plan(&j, &[&a, &b], 6).finished, Some(End::Succeeded));
}

#[test]
fn failures_wait_their_backoff_and_exceed_the_limit() {
    let j = job(Some(1), 1, 1);
    let f1 = pod(&j, 100, "Failed");
    let p = plan(&j, &[&f1], 104);
    assert_eq!(
        (p.create, p.recheck, p.status.failed),
        (0, Some(Duration::from_secs(6)), Some(1)),
        "10 s after the failure"
    );
    assert_eq!(plan(&j, &[&f1], 110).create, 1);
    let f2 = pod(&j, 120, "Failed");
    let p = plan(&j, &[&f1, &f2], 121);
    assert_eq!((p.finished, p.status.failed), (Some(End::BackoffLimitExceeded), Some(2)));
    assert_eq!(types(&p.status), ["FailureTarget", "Failed"]);
    let failed = &p.status.conditions.as_ref().unwrap()[1];
    assert_eq!(
        (failed.reason.as_deref(), failed.message.as_deref()),
        (Some("BackoffLimitExceeded"), Some("Job has reached the specified backoff limit"))
    );
    assert_eq!(p.status.completion_time, None, "a failed Job has no completionTime");
}

#[test]
fn the_end_waits_for_running_pods_to_go() {
    let j = job(Some(2), 2, 0);
    let (f, r) = (pod(&j, 1, "Failed"), pod(&j, 2, "Running"));
    let p = plan(&j, &[&f, &r], 3);
    assert_eq!((p.delete.clone(), types(&p.status)), (vec!["pi-00002".to_string()], vec!["FailureTarget"]));
    // Written, then the running pod terminating: still only the interim condition.
    let j = written(&j, &[&f, &r], 3);
    let mut going = r.clone();
    going.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::from_second(3).unwrap()));
    let p = plan(&j, &[&f, &going], 4);
    assert_eq!((p.finished, types(&p.status), p.status.terminating), (None, vec!["FailureTarget"], Some(1)));
    // Gone: Failed.
    assert_eq!(types(&plan(&j, &[&f], 5).status), ["FailureTarget", "Failed"]);
}

#[test]
fn active_deadline_and_lowered_parallelism() {
    let mut j = job(Some(5), 2, 6);
    j.spec.as_mut().unwrap().active_deadline_seconds = Some(30);
    let j = written(&j, &[], 100);
    let (a, b) = (pod(&j, 101, "Running"), pod(&j, 102, "Running"));
    let p = plan(&j, &[&a, &b], 110);
    assert_eq!((p.create, p.recheck), (0, Some(Duration::from_secs(20))));
    let p = plan(&j, &[&a, &b], 130);
    assert_eq!((p.finished, p.delete.len()), (Some(End::DeadlineExceeded), 2));
    let mut narrow = job(Some(5), 1, 6);
    narrow.status = j.status.clone();
    assert_eq!(plan(&narrow, &[&a, &b], 110).delete, ["pi-00102"], "the younger goes");
}
