//! Leader election on the real apiserver and etcd: two controller
//! replicas with `--leader-elect` (upstream's durations: 15 s lease, 10 s
//! renew deadline, 2 s retry); one holds `kube-system/kube-controller-manager`
//! and acts, the other waits; SIGKILL the holder and the other takes over
//! within the lease duration; SIGTERM gives the Lease up.

use e2e::{eventually_async, kubectl_ok, spawn, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use std::path::Path;
use std::time::{Duration, Instant};

/// (holder, transitions, duration) of the leader Lease.
async fn leader(leases: &Api<Lease>) -> (String, i32, i32) {
    let Ok(Some(lease)) = leases.get_opt("kube-controller-manager").await else { return Default::default() };
    let spec = lease.spec.unwrap_or_default();
    (
        spec.holder_identity.unwrap_or_default(),
        spec.lease_transitions.unwrap_or_default(),
        spec.lease_duration_seconds.unwrap_or_default(),
    )
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
}

async fn has_default(client: &kube::Client, namespace: &str) -> bool {
    Api::<ServiceAccount>::namespaced(client.clone(), namespace).get_opt("default").await.ok().flatten().is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_acts_and_the_other_takes_over_when_it_dies() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let controller = Path::new(env!("CARGO_BIN_EXE_controller"));
    let args = ["--server", &api.url, "--controllers", "serviceaccount", "--leader-elect"];

    let mut first = spawn(controller, &args);
    let (holder, transitions, duration) =
        eventually_async("the first replica leads", async || leader(&leases).await, |l| !l.0.is_empty()).await;
    assert_eq!((transitions, duration), (0, 15));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let (host, uuid) = holder.rsplit_once('_').unwrap();
    assert_eq!((host, uuid.len()), (hostname.trim(), 36), "<hostname>_<uuid>: {holder}");
    let rows = table_rows(&kubectl_ok(&kc, &["get", "lease", "-n", "kube-system"]));
    assert_eq!(rows[0], ["NAME", "HOLDER", "AGE"]);
    let row = rows.iter().find(|r| r[0] == "kube-controller-manager").unwrap();
    assert_eq!(row[1], holder);

    // The second replica waits: several of its tries later, the first still leads.
    let mut second = spawn(controller, &args);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(leader(&leases).await, (holder.clone(), 0, 15), "the second replica waits");
    create_namespace(&client, "team-a").await;
    eventually_async("the leader acts", async || has_default(&client, "team-a").await, |b| *b).await;

    // The leader dies without a word: its Lease expires, the other takes it.
    first.0.kill().unwrap();
    let killed = Instant::now();
    create_namespace(&client, "team-b").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!has_default(&client, "team-b").await, "no leader, no work: the replica waiting does nothing");
    let (new_holder, transitions, _) = eventually_async(
        "the second replica takes over",
        async || leader(&leases).await,
        |l| !l.0.is_empty() && l.0 != holder,
    )
    .await;
    let handover = killed.elapsed();
    eprintln!("handover after SIGKILL of the leader: {handover:?} (lease duration 15s, retry period 2s)");
    assert!(handover <= Duration::from_secs(15 + 2 + 1), "within the lease duration and a retry: {handover:?}");
    assert!(handover >= Duration::from_secs(10), "not before the lease could have expired: {handover:?}");
    assert_eq!(transitions, 1);
    eventually_async("the new leader acts", async || has_default(&client, "team-b").await, |b| *b).await;

    // SIGTERM: it stops its controllers, gives the Lease up and exits 0.
    let status = std::process::Command::new("kill").args(["-TERM", &second.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exited = eventually_async("the leader exits", async || second.0.try_wait().unwrap(), Option::is_some).await;
    assert!(exited.unwrap().success());
    let (holder, transitions, duration) = leader(&leases).await;
    assert_eq!((holder.as_str(), transitions, duration), ("", 1, 1), "released (releaseOnCancel)");
    assert_ne!(new_holder, "");
}

/// A leader that cannot renew (etcd gone, so every write fails) gives up
/// after the renew deadline and exits, as upstream's does: a replica that
/// may no longer lead must not go on writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_exits() {
    let mut etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let durations =
        ["--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s"];
    let mut args = vec!["--server", &api.url, "--controllers", "serviceaccount", "--leader-elect"];
    args.extend(durations);
    let mut leader_proc = spawn(Path::new(env!("CARGO_BIN_EXE_controller")), &args);
    eventually_async("it leads", async || leader(&leases).await, |l| l.2 == 4).await;
    etcd.stop();
    let stopped = Instant::now();
    let exited = eventually_async("it exits", async || leader_proc.0.try_wait().unwrap(), Option::is_some).await;
    assert_eq!(exited.unwrap().code(), Some(1));
    let after = stopped.elapsed();
    assert!(after >= Duration::from_secs(2) && after <= Duration::from_secs(8), "about the renew deadline: {after:?}");
}
