//! Jobs on the real apiserver and etcd, driven with kubectl 1.32: `kubectl
//! create job x --image=busybox -- sh -c ...`, `kubectl wait
//! --for=condition=complete` (and `=failed`), `kubectl get job` columns,
//! completions at a parallelism, backoffLimit, garbage collection.
//!
//! The test plays the node: no kubelet runs in namespace `batch`, and the
//! test writes each pod's status as a kubelet would when its container
//! exits (phase Succeeded or Failed, the container `terminated` with its
//! exit code), through the same `pods/status` subresource.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use e2e::{eventually_async, kubectl_ok, replace_status, table_rows, ScratchDir};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use serde_json::json;
use std::time::Duration;

/// The names of `job`'s pods that are still running (not finished, not terminating).
async fn running(pods: &Api<Pod>, job: &str) -> Vec<String> {
    let list = pods.list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"))).await.unwrap();
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()).is_none_or(|ph| ph == "Pending"))
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// Writes `name`'s status as its kubelet would once its container exited with `code`.
async fn exit(pods: &Api<Pod>, name: &str, code: i32) {
    let container = pods.get(name).await.unwrap().spec.unwrap().containers[0].name.clone();
    let now = jiff::Timestamp::now().to_string();
    let (phase, reason) = if code == 0 { ("Succeeded", "Completed") } else { ("Failed", "Error") };
    let status = json!({"phase":phase,"containerStatuses":[{"name":container,
        "image":"busybox","imageID":"","ready":false,"restartCount":0,
        "state":{"terminated":{"exitCode":code,"reason":reason,"startedAt":now,"finishedAt":now}}}]});
    replace_status(pods, name, status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_to_completion_and_kubectl_waits_for_them() {
    let cluster = Cluster::start().await;
    let (kc, client) = (&cluster.kc, cluster.client.clone());
    kubectl_ok(kc, &["create", "namespace", "batch"]);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "batch");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "batch");

    // kubectl create job, one pod, kubectl wait.
    assert_eq!(
        kubectl_ok(kc, &["-n", "batch", "create", "job", "pi", "--image=busybox", "--", "sh", "-c", "echo done"]),
        "job.batch/pi created\n"
    );
    let pi = eventually_async("pi's pod", async || running(&pods, "pi").await, |p| p.len() == 1).await;
    let job = jobs.get("pi").await.unwrap();
    let pod = pods.get(&pi[0]).await.unwrap();
    assert!(pi[0].starts_with("pi-") && pi[0].len() == "pi-".len() + 5, "{pi:?}");
    let labels = pod.metadata.labels.clone().unwrap();
    assert_eq!(labels["controller-uid"], job.metadata.uid.clone().unwrap());
    assert_eq!(labels["job-name"], "pi");
    assert_eq!(pod.metadata.owner_references.unwrap()[0].kind, "Job");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(running(&pods, "pi").await.len(), 1, "completions 1: one pod");
    exit(&pods, &pi[0], 0).await;
    assert_eq!(
        kubectl_ok(kc, &["-n", "batch", "wait", "--for=condition=complete", "job/pi", "--timeout=30s"]),
        "job.batch/pi condition met\n"
    );
    let status = jobs.get("pi").await.unwrap().status.unwrap();
    let types: Vec<String> = status.conditions.unwrap().into_iter().map(|c| c.type_).collect();
    assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
    assert_eq!((status.succeeded, status.active, status.failed), (Some(1), None, None));
    assert!(status.completion_time.unwrap().0 >= status.start_time.unwrap().0);
    let row = &table_rows(&kubectl_ok(kc, &["-n", "batch", "get", "job", "pi"]))[1];
    assert_eq!(row[1..3], ["Complete", "1/1"]);

    // Three completions, two at a time.
    let dir = ScratchDir::new("job");
    let manifest = dir.0.join("job.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: batch3\n  namespace: batch\nspec:\n  completions: 3\n  parallelism: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: work\n        image: busybox\n",
    )
    .unwrap();
    kubectl_ok(kc, &["apply", "-f", manifest.to_str().unwrap()]);
    let two = eventually_async("two at a time", async || running(&pods, "batch3").await, |p| p.len() == 2).await;
    exit(&pods, &two[0], 0).await;
    let next =
        eventually_async("a third", async || running(&pods, "batch3").await, |p| p.len() == 2 && !p.contains(&two[0]))
            .await;
    for name in &next {
        exit(&pods, name, 0).await;
    }
    kubectl_ok(kc, &["-n", "batch", "wait", "--for=condition=complete", "job/batch3", "--timeout=30s"]);
    let row = &table_rows(&kubectl_ok(kc, &["-n", "batch", "get", "job", "batch3"]))[1];
    assert_eq!(row[1..3], ["Complete", "3/3"]);
    let all = pods.list(&ListParams::default().labels("batch.kubernetes.io/job-name=batch3")).await.unwrap().items;
    assert_eq!(all.len(), 3, "exactly three pods ran");

    // backoffLimit 0: the first failure fails the Job.
    kubectl_ok(kc, &["-n", "batch", "create", "job", "oops", "--image=busybox", "--", "false"]);
    kubectl_ok(kc, &["-n", "batch", "patch", "job", "oops", "--type=merge", "-p", r#"{"spec":{"backoffLimit":0}}"#]);
    let oops = eventually_async("oops's pod", async || running(&pods, "oops").await, |p| p.len() == 1).await;
    exit(&pods, &oops[0], 1).await;
    assert_eq!(
        kubectl_ok(kc, &["-n", "batch", "wait", "--for=condition=failed", "job/oops", "--timeout=30s"]),
        "job.batch/oops condition met\n"
    );
    let failed = jobs.get("oops").await.unwrap().status.unwrap();
    let last = failed.conditions.unwrap().pop().unwrap();
    assert_eq!((last.type_.as_str(), last.reason.as_deref()), ("Failed", Some("BackoffLimitExceeded")));
    assert_eq!(failed.failed, Some(1));
    let events: Api<Event> = Api::namespaced(client.clone(), "batch");
    let warned = events.list(&ListParams::default().fields("involvedObject.name=oops")).await.unwrap().items;
    assert!(
        warned.iter().any(|e| e.reason.as_deref() == Some("BackoffLimitExceeded")
            && e.type_.as_deref() == Some("Warning")
            && e.message.as_deref() == Some("Job has reached the specified backoff limit")),
        "{warned:?}"
    );

    // The Job's pods go with it.
    kubectl_ok(kc, &["-n", "batch", "delete", "job", "pi"]);
    eventually_async(
        "pi's pod collected",
        async || pods.list(&ListParams::default().labels("job-name=pi")).await.unwrap().items.len(),
        |n| *n == 0,
    )
    .await;
}
