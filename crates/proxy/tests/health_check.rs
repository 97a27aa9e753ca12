//! kube-proxy's health check node port, served by a (dry-run) proxy for
//! node1 against the real apiserver and endpoints controller: 200 with
//! the local endpoint count while node1 has a ready pod of the Service,
//! 503 when it has none, closed when the policy is no longer Local.

use e2e::{dry_run_proxy, eventually_async, http, spawn, workspace_binary, Apiserver, Etcd};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::path::Path;

async fn pod(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    if pods.get_opt(name).await.unwrap().is_none() {
        let pod: Pod = serde_json::from_value(json!({"metadata":{"name":name,"labels":{"app":"myapp"}},
            "spec":{"nodeName":"node1","containers":[{"name":"myapp","image":"myapp:v2","ports":[{"containerPort":80}]}]}}))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let mut pod = pods.get(name).await.unwrap();
    let ready = if ready { "True" } else { "False" };
    pod.status = Some(
        serde_json::from_value(json!({"phase":"Running","podIP":ip,"conditions":[{"type":"Ready","status":ready}]}))
            .unwrap(),
    );
    pods.replace_status(name, &PostParams::default(), &pod).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_node_port_says_whether_this_node_has_endpoints() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let _controller = spawn(&workspace_binary("controller"), &["--server", &api.url, "--controllers", "endpoints"]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let svc: Service = serde_json::from_value(json!({"metadata":{"name":"web"},"spec":{
        "type":"LoadBalancer","externalTrafficPolicy":"Local","selector":{"app":"myapp"},"ports":[{"port":80}]}}))
    .unwrap();
    let created = services.create(&PostParams::default(), &svc).await.unwrap();
    let port = created.spec.unwrap().health_check_node_port.expect("allocated");
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pod(&pods, "a", "10.244.1.31", true).await;
    pod(&pods, "b", "10.244.1.32", true).await;

    let _proxy = dry_run_proxy(
        Path::new(env!("CARGO_BIN_EXE_proxy")),
        &api.url,
        "node1",
        &["--nodeport-addresses", "127.0.0.1"],
    );
    let base = format!("http://127.0.0.1:{port}");
    let body = |n: usize| {
        format!("{{\n\t\"service\": {{\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"web\"\n\t}},\n\t\"localEndpoints\": {n},\n\t\"serviceProxyHealthy\": true\n}}")
    };
    eventually_async(
        "200, two local endpoints",
        async || http("GET", &base, "/any/path", None, ""),
        |r| *r == (200, body(2)),
    )
    .await;
    pod(&pods, "a", "10.244.1.31", false).await;
    pod(&pods, "b", "10.244.1.32", false).await;
    eventually_async("503, none", async || http("GET", &base, "/", None, ""), |r| *r == (503, body(0))).await;

    let cluster = json!({"spec":{"externalTrafficPolicy":"Cluster"}});
    services.patch("web", &PatchParams::default(), &Patch::Merge(&cluster)).await.unwrap();
    // (A connection racing the close may be reset, so probe by connecting only.)
    let addr = format!("127.0.0.1:{port}");
    eventually_async("closed", async || std::net::TcpStream::connect(&addr).is_err(), |closed| *closed).await;
}
