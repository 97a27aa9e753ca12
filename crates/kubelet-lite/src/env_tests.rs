//! Table tests of [`super`]: the kubelet's environment rules.

use super::*;
use serde_json::json;

fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata":{"name":name,"namespace":ns},"spec":{"clusterIP":ip,"ports":ports}}))
        .unwrap()
}

fn pod(ns: &str, spec: serde_json::Value) -> Pod {
    serde_json::from_value(
        json!({"metadata":{"name":"client-1","namespace":ns,"uid":"u-1","labels":{"app":"x"}},"spec":spec}),
    )
    .unwrap()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn a_services_variables() {
    let myapp = svc(
        "default",
        "myapp",
        "10.96.0.20",
        json!([{"name":"http","port":80,"protocol":"TCP"},{"port":53,"protocol":"UDP"}]),
    );
    assert_eq!(
        service_variables(&myapp),
        pairs(&[
            ("MYAPP_SERVICE_HOST", "10.96.0.20"),
            ("MYAPP_SERVICE_PORT", "80"),
            ("MYAPP_SERVICE_PORT_HTTP", "80"),
            ("MYAPP_PORT", "tcp://10.96.0.20:80"),
            ("MYAPP_PORT_80_TCP", "tcp://10.96.0.20:80"),
            ("MYAPP_PORT_80_TCP_PROTO", "tcp"),
            ("MYAPP_PORT_80_TCP_PORT", "80"),
            ("MYAPP_PORT_80_TCP_ADDR", "10.96.0.20"),
            ("MYAPP_PORT_53_UDP", "udp://10.96.0.20:53"),
            ("MYAPP_PORT_53_UDP_PROTO", "udp"),
            ("MYAPP_PORT_53_UDP_PORT", "53"),
            ("MYAPP_PORT_53_UDP_ADDR", "10.96.0.20"),
        ])
    );
    let dashed = svc("default", "my-app", "fd00::20", json!([{"name":"web-ui","port":8080}]));
    let vars = service_variables(&dashed);
    assert!(vars.contains(&("MY_APP_SERVICE_PORT_WEB_UI".into(), "8080".into())), "{vars:?}");
    assert!(vars.contains(&("MY_APP_PORT".into(), "tcp://[fd00::20]:8080".into())), "{vars:?}");
    assert_eq!(service_variables(&svc("default", "headless", "None", json!([{"port":80}]))), vec![]);
}

#[test]
fn which_services_a_pod_sees() {
    let services = vec![
        svc("default", "kubernetes", "10.96.0.1", json!([{"name":"https","port":443}])),
        svc("default", "myapp", "10.96.0.20", json!([{"port":80}])),
        svc("shop", "cart", "10.96.0.30", json!([{"port":80}])),
    ];
    let keys = |p: &Pod| {
        service_env(p, &services).keys().filter(|k| k.ends_with("_SERVICE_HOST")).cloned().collect::<Vec<_>>()
    };
    assert_eq!(keys(&pod("default", json!({"containers":[]}))), ["KUBERNETES_SERVICE_HOST", "MYAPP_SERVICE_HOST"]);
    assert_eq!(keys(&pod("shop", json!({"containers":[]}))), ["CART_SERVICE_HOST", "KUBERNETES_SERVICE_HOST"]);
    let no_links = pod("shop", json!({"containers":[],"enableServiceLinks":false}));
    assert_eq!(keys(&no_links), ["KUBERNETES_SERVICE_HOST"]);
    assert_eq!(service_env(&no_links, &services)["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
}

#[test]
fn expansion() {
    let lookup = |n: &str| (n == "A").then(|| "1".to_string());
    for (value, want) in
        [("x$(A)y", "x1y"), ("$(B)", "$(B)"), ("$$(A)", "$(A)"), ("$", "$"), ("a$b", "a$b"), ("$(A", "$(A")]
    {
        assert_eq!(expand(value, lookup), want, "{value}");
    }
}

fn sources() -> Sources {
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata":{"name":"settings"},"data":{"LEVEL":"debug","COLOR":"blue"}}))
            .unwrap();
    let secret: Secret =
        serde_json::from_value(json!({"metadata":{"name":"creds"},"data":{"password":"czNjcjN0"}})).unwrap();
    Sources {
        services: vec![svc("default", "myapp", "10.96.0.20", json!([{"port":80}]))],
        config_maps: [("settings".to_string(), cm)].into(),
        secrets: [("creds".to_string(), secret)].into(),
        node_name: "node1".into(),
        host_ip: "172.28.0.11".into(),
        pod_ip: "10.244.1.7".into(),
    }
}

#[test]
fn a_containers_environment() {
    let p = pod(
        "default",
        json!({"containers":[{"name":"c","envFrom":[{"configMapRef":{"name":"settings"},"prefix":"APP_"},{"secretRef":{"name":"missing","optional":true}}],
        "env":[
            {"name":"POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
            {"name":"POD_NAMESPACE","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}},
            {"name":"POD_IP","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}},
            {"name":"NODE_NAME","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}},
            {"name":"HOST_IP","valueFrom":{"fieldRef":{"fieldPath":"status.hostIP"}}},
            {"name":"APP","valueFrom":{"fieldRef":{"fieldPath":"metadata.labels['app']"}}},
            {"name":"LEVEL","valueFrom":{"configMapKeyRef":{"name":"settings","key":"LEVEL"}}},
            {"name":"PASSWORD","valueFrom":{"secretKeyRef":{"name":"creds","key":"password"}}},
            {"name":"APP_COLOR","value":"red"},
            {"name":"URL","value":"http://$(MYAPP_SERVICE_HOST):$(MYAPP_SERVICE_PORT)/$(POD_NAME)"},
            {"name":"MYAPP_SERVICE_PORT","value":"8080"}]}]}),
    );
    let c = p.spec.as_ref().unwrap().containers[0].clone();
    let env = container_env(&p, &c, &sources()).unwrap();
    let want = pairs(&[
        ("APP_COLOR", "red"),
        ("APP_LEVEL", "debug"),
        ("POD_NAME", "client-1"),
        ("POD_NAMESPACE", "default"),
        ("POD_IP", "10.244.1.7"),
        ("NODE_NAME", "node1"),
        ("HOST_IP", "172.28.0.11"),
        ("APP", "x"),
        ("LEVEL", "debug"),
        ("PASSWORD", "s3cr3t"),
        ("URL", "http://10.96.0.20:80/client-1"),
        ("MYAPP_SERVICE_PORT", "8080"),
        // Then the Service variables the container did not set, by name.
        ("MYAPP_PORT", "tcp://10.96.0.20:80"),
        ("MYAPP_PORT_80_TCP", "tcp://10.96.0.20:80"),
        ("MYAPP_PORT_80_TCP_ADDR", "10.96.0.20"),
        ("MYAPP_PORT_80_TCP_PORT", "80"),
        ("MYAPP_PORT_80_TCP_PROTO", "tcp"),
        ("MYAPP_SERVICE_HOST", "10.96.0.20"),
    ]);
    assert_eq!(env, want);
}

#[test]
fn missing_sources_stop_the_container() {
    let with_env = |env: serde_json::Value| {
        let p = pod("default", json!({"containers":[{"name":"c","env":env}]}));
        let c = p.spec.as_ref().unwrap().containers[0].clone();
        container_env(&p, &c, &sources())
    };
    let err = |r: Result<Vec<(String, String)>, ConfigError>| r.unwrap_err();
    assert_eq!(
        err(with_env(json!([{"name":"X","valueFrom":{"configMapKeyRef":{"name":"settings","key":"NOPE"}}}]))),
        "couldn't find key NOPE in ConfigMap default/settings"
    );
    assert_eq!(
        err(with_env(json!([{"name":"X","valueFrom":{"configMapKeyRef":{"name":"other","key":"K"}}}]))),
        "configmap \"other\" not found"
    );
    assert_eq!(
        err(with_env(json!([{"name":"X","valueFrom":{"secretKeyRef":{"name":"creds","key":"user"}}}]))),
        "couldn't find key user in Secret default/creds"
    );
    assert!(
        with_env(json!([{"name":"X","valueFrom":{"secretKeyRef":{"name":"none","key":"k","optional":true}}}])).is_ok()
    );
}
