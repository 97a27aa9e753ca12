//! An operator as the `kube` crate writes one: a `#[derive(CustomResource)]`
//! type, its CRD created from `T::crd()`, then `Api<T>` create, list and a
//! watcher, and kube-runtime's `Controller` reconciling each object by
//! writing its status through the status subresource.

use e2e::{eventually_async, Apiserver, Etcd};
use futures_util::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "demo.example.com",
    version = "v1",
    kind = "Greeting",
    namespaced,
    status = "GreetingStatus",
    shortname = "gr",
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".spec.message"}"#
)]
pub struct GreetingSpec {
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    times: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct GreetingStatus {
    /// What the reconciler last answered.
    reply: String,
}

fn client(api: &Apiserver) -> Client {
    Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap()
}

async fn reconcile(g: Arc<Greeting>, api: Arc<Api<Greeting>>) -> Result<Action, kube::Error> {
    let reply = format!("hello, {}", g.spec.message);
    if g.status.as_ref().map(|s| s.reply.as_str()) != Some(reply.as_str()) {
        let patch = json!({ "status": { "reply": reply } });
        api.patch_status(&g.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    Ok(Action::await_change())
}

#[tokio::test]
async fn a_derived_custom_resource_is_registered_watched_and_reconciled() {
    let etcd = Etcd::start();
    let server = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let client = client(&server);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.create(&PostParams::default(), &Greeting::crd()).await.expect("create the derived CRD");
    assert_eq!(crd.name_any(), "greetings.demo.example.com");
    let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(conditions.iter().any(|c| c.type_ == "Established" && c.status == "True"), "{conditions:?}");

    let greetings: Api<Greeting> = Api::namespaced(client.clone(), "default");
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let watched = greetings.clone();
    tokio::spawn(async move {
        let mut stream = watcher(watched, watcher::Config::default()).default_backoff().applied_objects().boxed();
        while let Some(Ok(g)) = stream.next().await {
            let _ = tx.send((g.name_any(), g.status.map(|s| s.reply)));
        }
    });
    let shared = Arc::new(greetings.clone());
    tokio::spawn(
        Controller::new(greetings.clone(), watcher::Config::default())
            .run(reconcile, |_, _, _| Action::requeue(Duration::from_secs(1)), shared)
            .for_each(|_| async {}),
    );

    let g = Greeting::new("world", GreetingSpec { message: "world".into(), times: Some(2) });
    let created = greetings.create(&PostParams::default(), &g).await.expect("create a Greeting");
    assert_eq!(created.metadata.generation, Some(1));
    let list = greetings.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.iter().map(ResourceExt::name_any).collect::<Vec<_>>(), ["world"]);

    // The watcher sees the object, then the status the reconciler wrote.
    let mut replies = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !replies.contains(&Some("hello, world".to_string())) {
        let next = tokio::time::timeout_at(deadline, seen.recv()).await.expect("the watcher saw the status");
        let (name, reply) = next.expect("watcher alive");
        assert_eq!(name, "world");
        replies.push(reply);
    }
    assert_eq!(replies[0], None, "first the object without status: {replies:?}");

    // A changed spec is reconciled again.
    let patch = json!({ "spec": { "message": "again" } });
    greetings.patch("world", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let after = eventually_async(
        "the reconciler answers the new message",
        async || greetings.get("world").await.ok().and_then(|g| g.status).map(|s| s.reply),
        |r| r.as_deref() == Some("hello, again"),
    )
    .await;
    assert_eq!(after.as_deref(), Some("hello, again"));
    assert_eq!(greetings.get("world").await.unwrap().metadata.generation, Some(2));
}
