use super::*;
use serde_json::json;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn cron(schedule: &str, policy: &str, status: serde_json::Value) -> CronJob {
    serde_json::from_value(json!({
        "metadata":{"name":"hello","namespace":"default","uid":"cj-uid","creationTimestamp":"2026-12-02T10:00:10Z"},
        "spec":{"schedule":schedule,"concurrencyPolicy":policy,"suspend":false,
                "successfulJobsHistoryLimit":2,"failedJobsHistoryLimit":1,
                "jobTemplate":{"metadata":{"labels":{"team":"a"}},"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"hello","image":"busybox"}]}}}}},
        "status":status
    }))
    .unwrap()
}

/// A Job of `hello` scheduled at minute `m` (Unix minutes), started then, finished as `how` (if any).
fn job(m: i64, how: Option<&str>) -> Job {
    let mut conditions = vec![];
    if let Some(t) = how {
        conditions.push(json!({"type":t,"status":"True"}));
    }
    let start = Timestamp::from_second(m * 60).unwrap().to_string();
    serde_json::from_value(json!({
        "metadata":{"name":format!("hello-{m}"),"namespace":"default","uid":format!("job-{m}")},
        "status":{"startTime":start,"completionTime":if how == Some("Complete") {json!(start)} else {json!(null)},"conditions":conditions}
    }))
    .unwrap()
}

fn minutes(s: &str) -> i64 {
    at(s).as_second() / 60
}

fn active(m: i64) -> serde_json::Value {
    json!({"kind":"Job","name":format!("hello-{m}"),"namespace":"default","uid":format!("job-{m}"),"apiVersion":"batch/v1"})
}

#[test]
fn a_job_at_each_schedule_time_named_by_its_minute() {
    let cj = cron("*/1 * * * *", "Allow", json!({}));
    let early = plan(&cj, &[], at("2026-12-02T10:00:50Z"));
    assert_eq!(
        (early.create.clone(), early.requeue),
        (None, Some(Duration::from_millis(10_100))),
        "nothing due before 10:01"
    );
    let p = plan(&cj, &[], at("2026-12-02T10:01:02Z"));
    let job = p.create.unwrap();
    let m = minutes("2026-12-02T10:01:00Z");
    assert_eq!(job.metadata.name, Some(format!("hello-{m}")));
    assert_eq!(job.metadata.labels.as_ref().unwrap()["team"], "a");
    assert_eq!(job.metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION], "2026-12-02T10:01:00Z");
    assert_eq!(job.metadata.owner_references.as_ref().unwrap()[0].kind, "CronJob");
    assert_eq!(p.status.last_schedule_time.map(|t| t.0), Some(at("2026-12-02T10:01:00Z")));
    assert_eq!(p.status.active.unwrap()[0].name, Some(format!("hello-{m}")));
    assert_eq!(p.requeue, Some(Duration::from_millis(58_100)));
}

#[test]
fn missed_times_make_one_job_for_the_latest() {
    let cj = cron("*/1 * * * *", "Allow", json!({"lastScheduleTime":"2026-12-02T10:01:00Z"}));
    let p = plan(&cj, &[], at("2026-12-02T10:05:30Z"));
    assert_eq!(p.create.unwrap().metadata.name, Some(format!("hello-{}", minutes("2026-12-02T10:05:00Z"))));
    // Already made (a lost status write): not made again.
    let made = job(minutes("2026-12-02T10:05:00Z"), None);
    let p = plan(&cj, &[&made], at("2026-12-02T10:05:30Z"));
    assert_eq!(p.create, None);
    assert_eq!(p.status.active.unwrap().len(), 1, "found again");
    assert_eq!(p.status.last_schedule_time.map(|t| t.0), Some(at("2026-12-02T10:05:00Z")));
}

#[test]
fn concurrency_policies() {
    let m = minutes("2026-12-02T10:01:00Z");
    let running = job(m, None);
    let status = json!({"lastScheduleTime":"2026-12-02T10:01:00Z","active":[active(m)]});
    let now = at("2026-12-02T10:02:01Z");
    let allow = plan(&cron("*/1 * * * *", "Allow", status.clone()), &[&running], now);
    assert_eq!((allow.create.is_some(), allow.delete.len(), allow.status.active.unwrap().len()), (true, 0, 2));
    let forbid = plan(&cron("*/1 * * * *", "Forbid", status.clone()), &[&running], now);
    assert_eq!(
        (forbid.create.is_some(), forbid.status.last_schedule_time.map(|t| t.0)),
        (false, Some(at("2026-12-02T10:01:00Z")))
    );
    let replace = plan(&cron("*/1 * * * *", "Replace", status), &[&running], now);
    assert_eq!((replace.create.is_some(), replace.delete), (true, vec![format!("hello-{m}")]));
    assert_eq!(replace.status.active.unwrap().len(), 1);
}

#[test]
fn finished_jobs_leave_active_and_history_is_limited() {
    let ms: Vec<i64> = (1..=4).map(|i| minutes("2026-12-02T10:00:00Z") + i).collect();
    let jobs = [
        job(ms[0], Some("Complete")),
        job(ms[1], Some("Complete")),
        job(ms[2], Some("Failed")),
        job(ms[3], Some("Complete")),
    ];
    let refs: Vec<&Job> = jobs.iter().collect();
    let cj = cron("*/1 * * * *", "Allow", json!({"lastScheduleTime":"2026-12-02T10:04:00Z","active":[active(ms[3])]}));
    let p = plan(&cj, &refs, at("2026-12-02T10:04:30Z"));
    assert_eq!(p.delete, [format!("hello-{}", ms[0])], "two successful kept, one failed kept");
    assert_eq!(p.status.active, None);
    assert_eq!(p.status.last_successful_time.map(|t| t.0), Some(Timestamp::from_second(ms[3] * 60).unwrap()));
    assert_eq!(
        p.events,
        [(false, "SawCompletedJob", format!("Saw completed job: hello-{}, condition: Complete", ms[3]))]
    );
}

#[test]
fn suspended_bad_and_zoned_schedules() {
    let mut cj = cron("*/1 * * * *", "Allow", json!({}));
    cj.spec.as_mut().unwrap().suspend = Some(true);
    let p = plan(&cj, &[], at("2026-12-02T10:03:00Z"));
    assert_eq!((p.create, p.requeue), (None, None));
    let bad = plan(&cron("61 * * * *", "Allow", json!({})), &[], at("2026-12-02T10:03:00Z"));
    assert_eq!(
        bad.events,
        [(
            true,
            "UnparseableSchedule",
            "unparseable schedule: \"61 * * * *\" : end of range (61) above maximum (59): 61".to_string()
        )]
    );
    let mut zoned = cron("0 18 * * *", "Allow", json!({"lastScheduleTime":"2026-12-01T12:00:00Z"}));
    zoned.spec.as_mut().unwrap().time_zone = Some("Asia/Shanghai".into());
    let p = plan(&zoned, &[], at("2026-12-02T10:00:30Z"));
    let job = p.create.unwrap();
    assert_eq!(job.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION], "2026-12-02T18:00:00+08:00");
    zoned.spec.as_mut().unwrap().time_zone = Some("Mars/Olympus".into());
    assert_eq!(plan(&zoned, &[], at("2026-12-02T10:00:30Z")).events[0].1, "UnknownTimeZone");
}

#[test]
fn a_starting_deadline_bounds_the_catch_up() {
    let mut cj = cron("0 * * * *", "Allow", json!({"lastScheduleTime":"2026-12-02T07:00:00Z"}));
    cj.spec.as_mut().unwrap().starting_deadline_seconds = Some(600);
    assert_eq!(plan(&cj, &[], at("2026-12-02T10:30:00Z")).create, None, "10:00 is 30 minutes late: missed");
    assert!(plan(&cj, &[], at("2026-12-02T10:05:00Z")).create.is_some());
}
