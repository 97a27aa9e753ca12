use super::*;
use serde_json::json;

#[test]
fn parses_proxy_paths() {
    let p = parse("/api/v1/namespaces/default/services/myapp:http/proxy/").unwrap();
    assert_eq!(
        p,
        ProxyPath { kind: Kind::Service, namespace: "default".into(), id: "myapp:http".into(), path: Some("/".into()) }
    );
    let p = parse("/api/v1/namespaces/dev/pods/https:web-0:8443/proxy/a/b/").unwrap();
    assert_eq!((p.kind, p.id.as_str(), p.path.as_deref()), (Kind::Pod, "https:web-0:8443", Some("/a/b/")));
    assert_eq!(parse("/api/v1/namespaces/default/pods/p/proxy").unwrap().path, None);
    for not_proxy in [
        "/api/v1/namespaces/default/pods/p/log",
        "/api/v1/namespaces/default/pods/p/proxyx",
        "/api/v1/namespaces/default/configmaps/c/proxy/",
        "/api/v1/namespaces/default/pods/p",
        "/apis/apps/v1/namespaces/default/deployments/d/proxy/",
    ] {
        assert_eq!(parse(not_proxy), None, "{not_proxy}");
    }
}

#[test]
fn splits_scheme_name_port_as_upstream() {
    assert_eq!(split_scheme_name_port("myapp"), Some(("", "myapp", "")));
    assert_eq!(split_scheme_name_port("myapp:http"), Some(("", "myapp", "http")));
    assert_eq!(split_scheme_name_port("https:myapp:443"), Some(("https", "myapp", "443")));
    assert_eq!(split_scheme_name_port("https:myapp:"), Some(("https", "myapp", "")));
    assert_eq!(split_scheme_name_port("ftp:myapp:21"), None);
    assert_eq!(split_scheme_name_port(":80"), None);
    assert_eq!(split_scheme_name_port("a:b:c:d"), None);
}

#[test]
fn finds_a_pods_location() {
    let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "ports": [{"containerPort": 8080}]}]},
                     "status": {"podIP": "10.244.1.5"}});
    let at = |host: &str| Location { scheme: "http".into(), host: host.into() };
    assert_eq!(pod_location(&pod, "", "").unwrap(), at("10.244.1.5:8080"));
    assert_eq!(pod_location(&pod, "", "81").unwrap(), at("10.244.1.5:81"));
    assert_eq!(pod_location(&pod, "https", "").unwrap().scheme, "https");
    let bare = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"podIP": "10.244.1.5"}});
    assert_eq!(pod_location(&bare, "", "").unwrap(), at("10.244.1.5"));
    for ip in [json!(null), json!("127.0.0.1"), json!("169.254.1.1")] {
        let pod = json!({"spec": {"containers": []}, "status": {"podIP": ip}});
        let e = pod_location(&pod, "", "80").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (StatusCode::BAD_REQUEST, "address not allowed"), "{ip}");
    }
}

#[test]
fn finds_a_services_endpoint() {
    let svc = json!({"spec": {"ports": [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]}});
    assert_eq!(service_port_name(&svc, "myapp", 9090).unwrap(), "metrics");
    let e = service_port_name(&svc, "myapp", 81).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "no service port 81 found for service \"myapp\"")
    );
    let eps = json!({"subsets": [
        {"notReadyAddresses": [{"ip": "10.244.1.9"}], "ports": [{"name": "http", "port": 80}]},
        {"addresses": [{"ip": "10.244.1.5"}, {"ip": "10.244.2.7"}], "ports": [{"name": "http", "port": 8080}]},
    ]});
    let hosts: std::collections::BTreeSet<String> =
        (0..4).map(|seed| endpoint_location(&eps, "myapp:http", "myapp", "", "http", seed).unwrap().host).collect();
    // Only ready addresses, every one of them, with the endpoint's port.
    assert_eq!(hosts, ["10.244.1.5:8080".to_string(), "10.244.2.7:8080".into()].into());
    let e = endpoint_location(&eps, "myapp:grpc", "myapp", "", "grpc", 0).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "no endpoints available for service \"myapp:grpc\"")
    );
    let e = endpoint_location(&json!({"subsets": []}), "myapp", "myapp", "", "", 0).unwrap_err();
    assert_eq!(e.message, "no endpoints available for service \"myapp\"");
    // An unnamed port: the Service's only one.
    let one = json!({"subsets": [{"addresses": [{"ip": "10.244.1.5"}], "ports": [{"port": 9376}]}]});
    assert_eq!(endpoint_location(&one, "hostnames", "hostnames", "", "", 0).unwrap().host, "10.244.1.5:9376");
}

#[test]
fn words_dial_errors_as_go() {
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(dial_error("10.244.1.5:81", &refused), "dial tcp 10.244.1.5:81: connect: connection refused");
}
