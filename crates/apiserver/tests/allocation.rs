//! ClusterIP and NodePort allocation against a real etcd, with two apiserver
//! processes and many concurrent creators: never the same value twice, a
//! full range says so in upstream's words, a delete frees at once, and no
//! allocation outlives its Service.

use e2e::{Apiserver, Etcd};
use etcd_client::GetOptions;
use futures_util::future::join_all;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

fn client(api: &Apiserver) -> Client {
    Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap()
}

fn node_port_service(name: &str) -> Service {
    serde_json::from_value(json!({"metadata":{"name":name},"spec":{"type":"NodePort","ports":[{"port":80}]}})).unwrap()
}

fn error_message(e: kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} {}", status.code, status.message),
        other => other.to_string(),
    }
}

async fn allocation_keys(etcd: &Etcd, prefix: &str) -> Vec<String> {
    let mut c = etcd_client::Client::connect([etcd.url.as_str()], None).await.unwrap();
    let resp = c.get(prefix, Some(GetOptions::new().with_prefix().with_keys_only())).await.unwrap();
    resp.kvs().iter().map(|kv| String::from_utf8_lossy(kv.key()).into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apiservers_never_hand_out_the_same_ip_or_port() {
    let etcd = Etcd::start();
    let bin = Path::new(env!("CARGO_BIN_EXE_apiserver"));
    // 30 usable ClusterIPs (10.0.0.1 goes to `kubernetes`), 40 NodePorts.
    let flags = ["--service-cluster-ip-range", "10.0.0.0/27", "--service-node-port-range", "30000-30039"];
    let a = Apiserver::start(bin, &etcd, &flags);
    let b = Apiserver::start(bin, &etcd, &flags);
    let apis: [Api<Service>; 2] = [Api::default_namespaced(client(&a)), Api::default_namespaced(client(&b))];

    // 16 concurrent creators, alternating apiservers, 29 Services: the whole range.
    let creators = (0..16).map(|worker| {
        let apis = apis.clone();
        async move {
            let mut made = Vec::new();
            for n in (worker..29).step_by(16) {
                let api = &apis[n % 2];
                made.push(
                    api.create(&PostParams::default(), &node_port_service(&format!("s{n}")))
                        .await
                        .map_err(error_message)
                        .unwrap(),
                );
            }
            made
        }
    });
    let created: Vec<Service> = join_all(creators).await.into_iter().flatten().collect();
    assert_eq!(created.len(), 29);
    let ips: BTreeSet<String> = created.iter().map(|s| s.spec.as_ref().unwrap().cluster_ip.clone().unwrap()).collect();
    let ports: BTreeSet<i32> =
        created.iter().map(|s| s.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].node_port.unwrap()).collect();
    assert_eq!(ips.len(), 29, "every ClusterIP distinct: {ips:?}");
    assert_eq!(ports.len(), 29, "every NodePort distinct: {ports:?}");
    assert!(!ips.contains("10.0.0.1") && !ips.contains("10.0.0.0") && !ips.contains("10.0.0.31"));
    assert!(ports.iter().all(|p| (30000..=30039).contains(p)));

    // The range is full, whichever apiserver is asked.
    for api in &apis {
        let err =
            error_message(api.create(&PostParams::default(), &node_port_service("one-too-many")).await.unwrap_err());
        assert_eq!(err, "500 Internal error occurred: failed to allocate a serviceIP: range is full");
    }
    assert_eq!(allocation_keys(&etcd, "/registry/ipaddresses/").await.len(), 30);

    // A delete through A frees its IP at once for a create through B.
    let victim = &created[0];
    let freed_ip = victim.spec.as_ref().unwrap().cluster_ip.clone().unwrap();
    apis[0].delete(victim.metadata.name.as_deref().unwrap(), &DeleteParams::default()).await.unwrap();
    let again =
        apis[1].create(&PostParams::default(), &node_port_service("again")).await.map_err(error_message).unwrap();
    assert_eq!(again.spec.unwrap().cluster_ip.unwrap(), freed_ip);

    // Static requests: taken, and out of range.
    let taken_ip = created[1].spec.as_ref().unwrap().cluster_ip.clone().unwrap();
    let taken: Service = serde_json::from_value(
        json!({"metadata":{"name":"static"},"spec":{"clusterIP":taken_ip,"ports":[{"port":80}]}}),
    )
    .unwrap();
    let err = error_message(apis[1].create(&PostParams::default(), &taken).await.unwrap_err());
    assert_eq!(err, format!("422 Service \"static\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{taken_ip}\"}}: failed to allocate IP {taken_ip}: provided IP is already allocated"));
    let outside: Service = serde_json::from_value(
        json!({"metadata":{"name":"static"},"spec":{"clusterIP":"10.96.0.9","ports":[{"port":80}]}}),
    )
    .unwrap();
    let err = error_message(apis[0].create(&PostParams::default(), &outside).await.unwrap_err());
    assert!(err.ends_with("failed to allocate IP 10.96.0.9: provided IP 10.96.0.9 is not in the valid range. The range of valid IPs is 10.0.0.0/27"), "{err}");

    // Delete everything: no allocation survives its Service.
    let all = apis[0].list(&Default::default()).await.unwrap();
    join_all(all.items.iter().filter(|s| s.metadata.name.as_deref() != Some("kubernetes")).map(|s| {
        let api = apis[0].clone();
        let name = s.metadata.name.clone().unwrap();
        async move { api.delete(&name, &DeleteParams::default()).await.unwrap() }
    }))
    .await;
    assert_eq!(
        allocation_keys(&etcd, "/registry/ipaddresses/").await,
        vec!["/registry/ipaddresses/10.0.0.1".to_string()]
    );
    assert!(allocation_keys(&etcd, "/registry/servicenodeports/").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ports_follow_type_changes_and_static_requests() {
    let etcd = Etcd::start();
    let a = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let api: Api<Service> = Api::default_namespaced(client(&a));
    let dns: Service = serde_json::from_value(json!({"metadata":{"name":"dns"},"spec":{"type":"NodePort","ports":[
        {"name":"udp","port":53,"protocol":"UDP"},{"name":"tcp","port":53,"protocol":"TCP"},{"name":"web","port":80,"nodePort":30080}]}}))
    .unwrap();
    let made = api.create(&PostParams::default(), &dns).await.map_err(error_message).unwrap();
    let ports = made.spec.unwrap().ports.unwrap();
    assert_eq!(ports[0].node_port, ports[1].node_port, "53/UDP and 53/TCP share a NodePort");
    assert_eq!(ports[2].node_port, Some(30080));
    let dynamic = ports[0].node_port.unwrap();
    assert!(dynamic >= 30000 + 86, "dynamic NodePorts come from above the static band: {dynamic}");
    assert_eq!(allocation_keys(&etcd, "/registry/servicenodeports/").await.len(), 2);

    let thief: Service = serde_json::from_value(
        json!({"metadata":{"name":"thief"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}}),
    )
    .unwrap();
    let err = error_message(api.create(&PostParams::default(), &thief).await.unwrap_err());
    assert_eq!(err, "422 Service \"thief\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated");
    let far: Service = serde_json::from_value(
        json!({"metadata":{"name":"far"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":8444}]}}),
    )
    .unwrap();
    let err = error_message(api.create(&PostParams::default(), &far).await.unwrap_err());
    assert_eq!(err, "422 Service \"far\" is invalid: spec.ports[0].nodePort: Invalid value: 8444: provided port is not in the valid range. The range of valid ports is 30000-32767");

    // NodePort → ClusterIP releases both NodePorts in the same write.
    api.patch("dns", &Default::default(), &kube::api::Patch::Merge(json!({"spec":{"type":"ClusterIP"}})))
        .await
        .map_err(error_message)
        .unwrap();
    assert!(allocation_keys(&etcd, "/registry/servicenodeports/").await.is_empty());
    // ClusterIP → ExternalName releases the ClusterIP; back again allocates a new one.
    let ip_keys = allocation_keys(&etcd, "/registry/ipaddresses/").await.len();
    api.patch(
        "dns",
        &Default::default(),
        &kube::api::Patch::Merge(json!({"spec":{"type":"ExternalName","externalName":"example.com"}})),
    )
    .await
    .map_err(error_message)
    .unwrap();
    assert_eq!(allocation_keys(&etcd, "/registry/ipaddresses/").await.len(), ip_keys - 1);
    let back = api
        .patch(
            "dns",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"spec":{"type":"NodePort","externalName":null}})),
        )
        .await
        .map_err(error_message)
        .unwrap();
    assert!(back.spec.as_ref().unwrap().cluster_ip.as_deref().is_some_and(|ip| ip.starts_with("10.")));
    assert_eq!(allocation_keys(&etcd, "/registry/ipaddresses/").await.len(), ip_keys);
    assert_eq!(allocation_keys(&etcd, "/registry/servicenodeports/").await.len(), 2);
}
