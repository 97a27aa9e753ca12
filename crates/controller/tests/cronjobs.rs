//! CronJobs on the real apiserver and etcd, driven with kubectl 1.32
//! (`kubectl create cronjob`, `patch`, `get cj`). No test waits for a wall
//! clock minute: the schedules are yearly (`0 0 1 1 *`), and the test makes
//! a time due by writing an older `status.lastScheduleTime` through the
//! status subresource, as after a controller that was down: the controller
//! then runs the most recent missed time at once. Covered: the Job's name
//! (`<cronjob>-<scheduled Unix minutes>`) and annotation, `status.active`
//! and `lastScheduleTime`, Forbid, Replace, a finished Job leaving `active`
//! with `lastSuccessfulTime`, suspend, garbage collection of its Jobs.
//! No kubelet runs in namespace `cron`: the Jobs' pods stay Pending, and the
//! test writes the Job's Complete status as the Job controller would.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use e2e::{eventually_async, kubectl_ok, table_rows, Kubeconfig};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use std::time::Duration;

/// Unix minutes of an RFC 3339 time.
fn minutes(t: &str) -> i64 {
    t.parse::<jiff::Timestamp>().unwrap().as_second() / 60
}

async fn job_names(jobs: &Api<Job>) -> Vec<String> {
    let list = jobs.list(&ListParams::default()).await.unwrap().items;
    let mut v: Vec<String> =
        list.into_iter().filter(|j| j.metadata.deletion_timestamp.is_none()).filter_map(|j| j.metadata.name).collect();
    v.sort();
    v
}

async fn set_last_schedule(cjs: &Api<CronJob>, at: &str) {
    let mut cj = cjs.get("hello").await.unwrap();
    cj.status.get_or_insert_with(Default::default).last_schedule_time =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at.parse().unwrap()));
    cjs.replace_status("hello", &PostParams::default(), &cj).await.unwrap();
}

/// SCHEDULE SUSPEND ACTIVE LAST-SCHEDULE-is-set of `kubectl get cj hello` (timeZone column skipped).
fn get_cj(kc: &Kubeconfig) -> Vec<String> {
    let rows = table_rows(&kubectl_ok(kc, &["-n", "cron", "get", "cj", "hello"]));
    let r = &rows[1];
    // NAME, SCHEDULE (five words), TIMEZONE, SUSPEND, ACTIVE, LAST SCHEDULE, AGE
    vec![r[1..6].join(" "), r[7].clone(), r[8].clone(), (r[9] != "<none>").to_string()]
}

fn patch(kc: &Kubeconfig, spec: serde_json::Value) {
    kubectl_ok(
        kc,
        &["-n", "cron", "patch", "cronjob", "hello", "--type=merge", "-p", &json!({"spec": spec}).to_string()],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_jobs_make_jobs_when_due_as_their_policy_allows() {
    let cluster = Cluster::start().await;
    let (kc, client) = (&cluster.kc, cluster.client.clone());
    kubectl_ok(kc, &["create", "namespace", "cron"]);
    let cjs: Api<CronJob> = Api::namespaced(client.clone(), "cron");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "cron");
    assert_eq!(
        kubectl_ok(
            kc,
            &[
                "-n",
                "cron",
                "create",
                "cronjob",
                "hello",
                "--image=busybox",
                "--schedule=0 0 1 1 *",
                "--",
                "echo",
                "hello"
            ]
        ),
        "cronjob.batch/hello created\n"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(job_names(&jobs).await.is_empty(), "nothing due until next January");
    assert_eq!(get_cj(kc), ["0 0 1 1 *", "False", "0", "false"]);

    // Due since New Year: one Job for it.
    set_last_schedule(&cjs, "2025-06-01T00:00:00Z").await;
    let first = format!("hello-{}", minutes("2026-01-01T00:00:00Z"));
    eventually_async("New Year's job", async || job_names(&jobs).await, |j| *j == [first.clone()]).await;
    let job = jobs.get(&first).await.unwrap();
    assert_eq!(
        job.metadata.annotations.unwrap()["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        "2026-01-01T00:00:00Z"
    );
    let owner = &job.metadata.owner_references.unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("CronJob", "hello"));
    let status = eventually_async(
        "active",
        async || cjs.get("hello").await.unwrap().status.unwrap_or_default(),
        |s| s.active.as_ref().is_some_and(|a| a.len() == 1),
    )
    .await;
    assert_eq!(status.active.unwrap()[0].uid, job.metadata.uid);
    assert_eq!(status.last_schedule_time.unwrap().0.to_string(), "2026-01-01T00:00:00Z");
    assert_eq!(get_cj(kc), ["0 0 1 1 *", "False", "1", "true"]);

    // Forbid: February is due, but New Year's Job still runs.
    patch(kc, json!({"concurrencyPolicy":"Forbid","schedule":"0 0 1 2 *"}));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(job_names(&jobs).await, std::slice::from_ref(&first), "forbidden while one is active");
    // Replace: the running one goes, February's comes.
    patch(kc, json!({"concurrencyPolicy":"Replace"}));
    let second = format!("hello-{}", minutes("2026-02-01T00:00:00Z"));
    eventually_async("replaced", async || job_names(&jobs).await, |j| *j == [second.clone()]).await;

    // February's Job completes: it leaves `active`, and is the last success.
    // The controllers may write the Job meanwhile (409): read it again and retry.
    let now = jiff::Timestamp::now().to_string();
    loop {
        let mut done = jobs.get(&second).await.unwrap();
        done.status = Some(
            serde_json::from_value(json!({"startTime":now,"completionTime":now,"succeeded":1,"conditions":[
                {"type":"SuccessCriteriaMet","status":"True","reason":"CompletionsReached"},
                {"type":"Complete","status":"True","reason":"CompletionsReached"}]}))
            .unwrap(),
        );
        match jobs.replace_status(&second, &PostParams::default(), &done).await {
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            result => break result.map(drop).unwrap(),
        }
    }
    let status = eventually_async(
        "not active",
        async || cjs.get("hello").await.unwrap().status.unwrap_or_default(),
        |s| s.active.is_none() && s.last_successful_time.is_some(),
    )
    .await;
    assert_eq!(status.last_successful_time.unwrap().0.to_string().get(..16), now.get(..16));

    // Suspended: March is due, nothing runs.
    patch(kc, json!({"suspend":true,"schedule":"0 0 1 3 *"}));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(job_names(&jobs).await, std::slice::from_ref(&second));
    assert_eq!(get_cj(kc)[..2], ["0 0 1 3 *", "True"]);

    // Its Jobs go with it.
    kubectl_ok(kc, &["-n", "cron", "delete", "cronjob", "hello"]);
    eventually_async("collected", async || job_names(&jobs).await, Vec::is_empty).await;
}
