//! The service account controller on the real apiserver and etcd: every
//! namespace, old or new, gets its `default` ServiceAccount, and gets it
//! back when it is deleted; kubectl shows it as upstream does.

use e2e::{eventually_async, kubectl_ok, spawn, table_rows, workspace_binary, Apiserver, Etcd, Kubeconfig};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use std::path::Path;

async fn accounts(api: &Api<ServiceAccount>) -> Vec<(String, String)> {
    let list = api.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    let mut out: Vec<(String, String)> = list
        .into_iter()
        .map(|a| (a.metadata.namespace.unwrap_or_default(), a.metadata.name.unwrap_or_default()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn every_namespace_gets_a_default_service_account() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let kc = Kubeconfig::new(&api.url);
    let _controller =
        spawn(Path::new(env!("CARGO_BIN_EXE_controller")), &["--server", &api.url, "--controllers", "serviceaccount"]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let all: Api<ServiceAccount> = Api::all(client.clone());

    let defaults = |want: &'static [&'static str]| {
        move |got: &Vec<(String, String)>| want.iter().all(|ns| got.contains(&(ns.to_string(), "default".to_string())))
    };
    eventually_async(
        "default in the bootstrap namespaces",
        async || accounts(&all).await,
        defaults(&["default", "kube-system", "kube-public"]),
    )
    .await;

    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata":{"name":"team-a"}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
    eventually_async("default in a new namespace", async || accounts(&all).await, defaults(&["team-a"])).await;

    // Deleted by hand, it comes back (with a new uid).
    let team_a: Api<ServiceAccount> = Api::namespaced(client.clone(), "team-a");
    let before = team_a.get("default").await.unwrap().metadata.uid;
    team_a.delete("default", &DeleteParams::default()).await.unwrap();
    let after = eventually_async(
        "default recreated",
        async || team_a.get_opt("default").await.ok().flatten().and_then(|a| a.metadata.uid),
        |uid| uid.is_some() && *uid != before,
    )
    .await;
    assert!(after.is_some());
    // Only `default`: no account is made twice, nor any other.
    let in_team_a: Vec<_> = accounts(&all).await.into_iter().filter(|(ns, _)| ns == "team-a").collect();
    assert_eq!(in_team_a, [("team-a".to_string(), "default".to_string())]);

    let rows = table_rows(&kubectl_ok(&kc, &["get", "sa", "-n", "team-a"]));
    assert_eq!(rows[0], ["NAME", "SECRETS", "AGE"]);
    assert_eq!(rows[1][..2], ["default", "0"]);

    // A deleted namespace takes its account along, and gets none back.
    Api::<Namespace>::all(client.clone()).delete("team-a", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(accounts(&all).await.iter().all(|(ns, _)| ns != "team-a"));
}
