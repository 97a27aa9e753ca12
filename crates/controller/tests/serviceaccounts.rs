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

/// The root CA publisher: `kube-root-ca.crt` in every namespace with the
/// `--root-ca-file` bundle, back when deleted, restored when edited.
#[tokio::test]
async fn every_namespace_gets_the_root_ca_bundle() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let scratch = e2e::ScratchDir::new("root-ca");
    let ca = "-----BEGIN CERTIFICATE-----\nMIIBdTCCARugAwIBAgIUb2s=\n-----END CERTIFICATE-----\n";
    let ca_file = scratch.0.join("ca.crt");
    std::fs::write(&ca_file, ca).unwrap();
    let args =
        ["--server", &api.url, "--controllers", "root-ca-cert-publisher", "--root-ca-file", ca_file.to_str().unwrap()];
    let _controller = spawn(Path::new(env!("CARGO_BIN_EXE_controller")), &args);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let bundle = |api: Api<ConfigMap>| async move {
        api.get_opt("kube-root-ca.crt").await.ok().flatten().and_then(|c| c.data).and_then(|d| d.get("ca.crt").cloned())
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        eventually_async(
            &format!("the bundle in {ns}"),
            async || bundle(cms.clone()).await,
            |b| b.as_deref() == Some(ca),
        )
        .await;
    }
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata":{"name":"team-b"}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
    let team_b: Api<ConfigMap> = Api::namespaced(client.clone(), "team-b");
    eventually_async(
        "the bundle in a new namespace",
        async || bundle(team_b.clone()).await,
        |b| b.as_deref() == Some(ca),
    )
    .await;
    let cm = team_b.get("kube-root-ca.crt").await.unwrap();
    let description =
        cm.metadata.annotations.unwrap_or_default().remove("kubernetes.io/description").unwrap_or_default();
    assert!(
        description.starts_with("Contains a CA bundle that can be used to verify the kube-apiserver"),
        "{description}"
    );

    // Deleted, it comes back; edited, it is written back.
    team_b.delete("kube-root-ca.crt", &DeleteParams::default()).await.unwrap();
    eventually_async(
        "recreated",
        async || team_b.get_opt("kube-root-ca.crt").await.ok().flatten(),
        |c| c.as_ref().is_some_and(|c| c.metadata.uid != cm.metadata.uid),
    )
    .await;
    let mut edited = team_b.get("kube-root-ca.crt").await.unwrap();
    edited.data = Some([("ca.crt".to_string(), "not a CA".to_string())].into());
    team_b.replace("kube-root-ca.crt", &PostParams::default(), &edited).await.unwrap();
    eventually_async("restored", async || bundle(team_b.clone()).await, |b| b.as_deref() == Some(ca)).await;
}
