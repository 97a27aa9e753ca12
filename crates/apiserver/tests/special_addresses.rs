//! Issue #11 item 7, through the HTTP API: Services' externalIPs, Endpoints
//! and EndpointSlices refuse loopback, unspecified and link-local addresses
//! with upstream's messages, on create and on update; the apiserver's own
//! `kubernetes` Endpoints keep their loopback address (development).

mod support;

use serde_json::{json, Value};
use support::{json_call, LoggedApiserver};

#[test]
fn special_addresses_are_refused_on_create_and_update() {
    let etcd = e2e::Etcd::start();
    let server = LoggedApiserver::start(&etcd.url, &[]);
    let call = |method: &str, path: &str, body: Value| json_call(&server.addr, method, path, "application/json", &body);

    let svc = json!({"metadata":{"name":"web"},"spec":{"externalIPs":["127.0.0.1"],"ports":[{"port":80}]}});
    let (code, status) = call("POST", "/api/v1/namespaces/default/services", svc);
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["message"],
        r#"Service "web" is invalid: spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)"#
    );

    let eps = "/api/v1/namespaces/default/endpoints";
    let ep = |ip: &str| json!({"metadata":{"name":"web"},"subsets":[{"addresses":[{"ip":ip}],"ports":[{"port":80}]}]});
    let (code, status) = call("POST", eps, ep("169.254.169.254"));
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["message"],
        r#"Endpoints "web" is invalid: subsets[0].addresses[0].ip: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)"#
    );
    assert_eq!(call("POST", eps, ep("10.244.1.5")).0, 201);
    let (code, status) = call("PUT", &format!("{eps}/web"), ep("0.0.0.0"));
    assert_eq!(code, 422, "{status}");
    assert!(status["message"].as_str().unwrap().ends_with("may not be unspecified (0.0.0.0)"), "{status}");
    let patch = json!([{"op":"replace","path":"/subsets/0/addresses/0/ip","value":"127.0.0.1"}]);
    let (code, _) = json_call(&server.addr, "PATCH", &format!("{eps}/web"), "application/json-patch+json", &patch);
    assert_eq!(code, 422);

    let slice = json!({"metadata":{"name":"web-1"},"addressType":"IPv4","endpoints":[{"addresses":["224.0.0.251"]}]});
    let (code, status) = call("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", slice);
    assert_eq!(code, 422, "{status}");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .ends_with("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"));

    // The apiserver's own endpoints: its (loopback) address, as before.
    let (_, own) = call("GET", &format!("{eps}/kubernetes"), Value::Null);
    assert_eq!(own["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
    assert!(server.panics().is_empty());
}
