//! The DNS server against the real apiserver and etcd, asked by `dig`
//! (Debian's bind9-dnsutils) as a pod's resolver would be. EndpointSlices
//! are written directly, as the endpoints controller would write them.
//! The upstream is a closed loopback port: nothing leaves this machine.

use e2e::{eventually, free_ports, http, workspace_binary, Apiserver, Etcd, Proc};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct Dns {
    port: u16,
    ready: String,
    metrics: String,
    health: String,
    _proc: Proc,
}

fn start_dns(api_url: &str) -> Dns {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cluster-dns"));
    cmd.args(["--server", api_url]);
    start_dns_with(cmd)
}

fn start_dns_with(mut cmd: Command) -> Dns {
    let [port, ready, metrics, health] = free_ports::<4>();
    // A port nothing listens on: forwarded names fail fast (SERVFAIL).
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut child = cmd
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &dead.to_string(), "--forward-timeout-ms", "300"])
        .args(["--ready-address", &format!("127.0.0.1:{ready}")])
        .args(["--metrics-address", &format!("127.0.0.1:{metrics}")])
        .args(["--health-address", &format!("127.0.0.1:{health}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start cluster-dns");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    Dns {
        port,
        ready: format!("http://127.0.0.1:{ready}"),
        metrics: format!("http://127.0.0.1:{metrics}"),
        health: format!("http://127.0.0.1:{health}"),
        _proc: Proc::unwatched(child),
    }
}

/// `dig @127.0.0.1 -p PORT ARGS...` → stdout.
fn dig(dns: &Dns, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &dns.port.to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("dig is not installed: run scripts/install-deps");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn short(dns: &Dns, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = dig(dns, &[&["+short"], args].concat()).lines().map(String::from).collect();
    v.sort();
    v
}

fn status(text: &str) -> &str {
    text.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("")
}

fn obj<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn endpoints(ips: &[&str], ready: bool) -> Value {
    Value::Array(
        ips.iter()
            .enumerate()
            .map(|(i, ip)| {
                let mut e = json!({"addresses": [ip], "conditions": {"ready": ready}});
                if i == 0 {
                    e["hostname"] = json!("web-0");
                }
                e
            })
            .collect(),
    )
}

fn slice(service: &str, eps: Value) -> EndpointSlice {
    obj(json!({
        "metadata": {"name": format!("{service}-abc"), "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": eps,
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_resolves_services_pods_and_records() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    let dns = start_dns(&api.url);
    eventually("ready once synced", || http("GET", &dns.ready, "/ready", None, "").0, |s| *s == 200);

    let http_port = json!([{"name": "http", "port": 80, "protocol": "TCP"}]);
    let myapp = services
        .create(
            &pp,
            &obj(json!({"metadata": {"name": "myapp"}, "spec": {"selector": {"app": "myapp"}, "ports": http_port}})),
        )
        .await
        .unwrap();
    let cluster_ip = myapp.spec.unwrap().cluster_ip.unwrap();
    for (name, extra) in [("hl", json!({})), ("pnr", json!({"publishNotReadyAddresses": true})), ("big", json!({}))] {
        let mut spec = json!({"clusterIP": "None", "selector": {"app": name}, "ports": http_port});
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        services.create(&pp, &obj(json!({"metadata": {"name": name}, "spec": spec}))).await.unwrap();
    }
    services
        .create(&pp, &obj(json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "www.example.com"}})))
        .await
        .unwrap();
    let hl_ips = ["10.244.1.5", "10.244.1.6", "10.244.2.7"];
    slices.create(&pp, &slice("hl", endpoints(&hl_ips, true))).await.unwrap();
    slices.create(&pp, &slice("pnr", endpoints(&["10.244.3.3"], false))).await.unwrap();
    let big: Vec<String> = (0..100).map(|i| format!("10.244.9.{i}")).collect();
    slices
        .create(&pp, &slice("big", endpoints(&big.iter().map(String::as_str).collect::<Vec<_>>(), true)))
        .await
        .unwrap();

    // A: the ClusterIP, authoritative, TTL 30; case-insensitive.
    eventually(
        "myapp resolves",
        || short(&dns, &["myapp.default.svc.cluster.local"]),
        |v| v.as_slice() == std::slice::from_ref(&cluster_ip),
    );
    let full = dig(&dns, &["myapp.default.svc.cluster.local"]);
    assert_eq!(status(&full), "NOERROR", "{full}");
    assert!(full.contains("flags: qr aa rd"), "{full}");
    assert!(full.contains(&format!("myapp.default.svc.cluster.local. 30 IN\tA\t{cluster_ip}")), "{full}");
    assert_eq!(short(&dns, &["MyApp.DEFAULT.svc.Cluster.Local"]), std::slice::from_ref(&cluster_ip));
    // NODATA for AAAA of an IPv4 Service: no answer, the SOA in authority.
    let aaaa = dig(&dns, &["myapp.default.svc.cluster.local", "AAAA"]);
    assert_eq!(status(&aaaa), "NOERROR", "{aaaa}");
    assert!(aaaa.contains("ANSWER: 0, AUTHORITY: 1"), "{aaaa}");
    assert!(aaaa.contains("SOA\tns.dns.cluster.local. hostmaster.cluster.local."), "{aaaa}");
    let nx = dig(&dns, &["nope.default.svc.cluster.local"]);
    assert_eq!(status(&nx), "NXDOMAIN", "{nx}");
    assert!(nx.contains("AUTHORITY: 1"), "{nx}");

    // Headless: one A per ready endpoint; the endpoint by hostname.
    eventually("hl has 3 addresses", || short(&dns, &["hl.default.svc.cluster.local"]), |v| v == &hl_ips);
    // The slices arrive in the order written: once big's (the last) is in, pnr's is too.
    eventually("big's slice is in", || short(&dns, &["big.default.svc.cluster.local"]).len(), |n| *n == 100);
    assert_eq!(short(&dns, &["web-0.hl.default.svc.cluster.local"]), ["10.244.1.5"]);
    assert_eq!(short(&dns, &["10-244-1-6.hl.default.svc.cluster.local"]), ["10.244.1.6"]);
    // SRV with glue; PTR for a ClusterIP and an endpoint.
    assert_eq!(
        short(&dns, &["_http._tcp.myapp.default.svc.cluster.local", "SRV"]),
        ["0 100 80 myapp.default.svc.cluster.local."]
    );
    let srv = dig(&dns, &["_http._tcp.hl.default.svc.cluster.local", "SRV"]);
    assert!(srv.contains("SRV 0 33 80 web-0.hl.default.svc.cluster.local."), "{srv}");
    assert!(srv.contains("ANSWER: 3, AUTHORITY: 0, ADDITIONAL: 4"), "{srv}"); // 3 glue + OPT
    assert_eq!(short(&dns, &["-x", &cluster_ip]), ["myapp.default.svc.cluster.local."]);
    assert_eq!(short(&dns, &["-x", "10.244.1.5"]), ["web-0.hl.default.svc.cluster.local."]);
    // ExternalName, pods insecure, the schema version.
    assert_eq!(short(&dns, &["ext.default.svc.cluster.local", "CNAME"]), ["www.example.com."]);
    assert_eq!(short(&dns, &["10-244-1-5.default.pod.cluster.local"]), ["10.244.1.5"]);
    assert_eq!(short(&dns, &["dns-version.cluster.local", "TXT"]), ["\"1.1.0\""]);
    // publishNotReadyAddresses: the not-ready endpoint is published.
    assert_eq!(short(&dns, &["pnr.default.svc.cluster.local"]), ["10.244.3.3"]);

    // TCP fallback: 100 addresses do not fit in UDP; dig retries over TCP.
    let large = dig(&dns, &["big.default.svc.cluster.local"]);
    assert!(large.contains("Truncated, retrying in TCP mode"), "{large}");
    assert_eq!(large.lines().filter(|l| l.starts_with("big.") && l.contains("10.244.9.")).count(), 100, "{large}");

    // No ready endpoint left: NXDOMAIN.
    let mut s = slices.get("hl-abc").await.unwrap();
    s.endpoints.iter_mut().for_each(|e| e.conditions.as_mut().unwrap().ready = Some(false));
    slices.replace("hl-abc", &pp, &s).await.unwrap();
    eventually(
        "hl NXDOMAIN",
        || status(&dig(&dns, &["hl.default.svc.cluster.local"])).to_string(),
        |s| s == "NXDOMAIN",
    );

    // A Service created then deleted: resolvable, then NXDOMAIN.
    services
        .create(
            &pp,
            &obj(json!({"metadata": {"name": "brief"}, "spec": {"selector": {"app": "x"}, "ports": http_port}})),
        )
        .await
        .unwrap();
    eventually("brief resolves", || short(&dns, &["brief.default.svc.cluster.local"]), |v| v.len() == 1);
    services.delete("brief", &DeleteParams::default()).await.unwrap();
    eventually(
        "brief gone",
        || status(&dig(&dns, &["brief.default.svc.cluster.local"])).to_string(),
        |s| s == "NXDOMAIN",
    );

    // Outside the zone: forwarded, and SERVFAIL when no upstream answers.
    assert_eq!(status(&dig(&dns, &["example.com"])), "SERVFAIL");
    let (code, text) = http("GET", &dns.metrics, "/metrics", None, "");
    assert_eq!(code, 200);
    assert!(text.contains("coredns_dns_requests_total{server=\"dns://127.0.0.1:"), "{text}");
    assert!(text.contains("rcode=\"NXDOMAIN\",plugin=\"kubernetes\""), "{text}");
    assert!(text.contains("rcode=\"SERVFAIL\",plugin=\"forward\""), "{text}");
}

#[test]
fn servfail_not_nxdomain_before_the_first_sync() {
    // No apiserver at all: never synced.
    let dns = start_dns(&format!("http://127.0.0.1:{}", e2e::free_port()));
    let (code, body) = eventually("/ready answers", || http("GET", &dns.ready, "/ready", None, ""), |r| r.0 != 0);
    assert_eq!((code, body.as_str()), (503, "kubernetes"));
    let out = dig(&dns, &["nope.default.svc.cluster.local"]);
    assert_eq!(status(&out), "SERVFAIL", "{out}");
    assert_eq!(short(&dns, &["dns-version.cluster.local", "TXT"]), ["\"1.1.0\""]);
}

/// A pod with `hostname: web-0` and `subdomain: hl`, through the real
/// endpoints controller: the slice carries the hostname and DNS answers
/// `web-0.hl.default.svc.cluster.local`. cluster-dns finds the API as a
/// pod does, from `KUBERNETES_SERVICE_HOST`/`_PORT` alone, and says on
/// `/programmed` when each name became resolvable and after what.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_hostname_through_the_controller_in_cluster() {
    let etcd = Etcd::start();
    let api = Apiserver::start(&workspace_binary("apiserver"), &etcd, &[]);
    let _controller = e2e::spawn(&workspace_binary("controller"), &["--server", &api.url]);
    let url: url_parts::Url = url_parts::parse(&api.url);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cluster-dns"));
    cmd.env_remove("KUBECONFIG")
        .env_remove("KUBE_SERVER")
        .env("HOME", "/nonexistent")
        .env("KUBERNETES_SERVICE_HOST", &url.host)
        .env("KUBERNETES_SERVICE_PORT", url.port.to_string());
    let dns = start_dns_with(cmd);
    eventually(
        "ready from the in-cluster environment",
        || http("GET", &dns.ready, "/ready", None, "").0,
        |s| *s == 200,
    );

    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    let http_port = json!([{"name": "http", "port": 80, "protocol": "TCP"}]);
    let spec = json!({"clusterIP": "None", "selector": {"app": "web"}, "ports": http_port});
    services.create(&pp, &obj(json!({"metadata": {"name": "hl"}, "spec": spec}))).await.unwrap();
    let spec = json!({"selector": {"app": "web"}, "ports": http_port});
    services.create(&pp, &obj(json!({"metadata": {"name": "web"}, "spec": spec}))).await.unwrap();
    for (name, hostname, subdomain, ip) in
        [("web-0", "web-0", "hl", "10.244.1.10"), ("other", "other", "elsewhere", "10.244.1.11")]
    {
        let pod = json!({"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"hostname": hostname, "subdomain": subdomain, "nodeName": "node1",
                "containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 80}]}]}});
        pods.create(&pp, &obj(pod)).await.unwrap();
        let mut p = pods.get(name).await.unwrap();
        p.status = Some(obj(json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}]})));
        pods.replace_status(name, &pp, &p).await.unwrap();
    }

    eventually(
        "web-0 by its hostname",
        || short(&dns, &["web-0.hl.default.svc.cluster.local"]),
        |v| v.as_slice() == ["10.244.1.10"],
    );
    // The controller may write each pod, and each Service's slice, in its own
    // sync: wait until both pods are in hl's and web's slices before asserting.
    eventually("both pods under hl", || short(&dns, &["hl.default.svc.cluster.local"]), |v| v.len() == 2);
    eventually("the pod's two PTRs", || short(&dns, &["-x", "10.244.1.10"]), |v| v.len() == 2);
    // The other pod names another subdomain: under hl it is its dashed IP.
    assert_eq!(short(&dns, &["10-244-1-11.hl.default.svc.cluster.local"]), ["10.244.1.11"]);
    assert_eq!(status(&dig(&dns, &["other.hl.default.svc.cluster.local"])), "NXDOMAIN");
    // One PTR per Service selecting the pod (CoreDNS's): by its hostname under hl only.
    assert_eq!(
        short(&dns, &["-x", "10.244.1.10"]),
        ["10-244-1-10.web.default.svc.cluster.local.", "web-0.hl.default.svc.cluster.local."]
    );

    // /programmed: the headless name followed its endpoints, the ClusterIP one its creation.
    let (code, body) = http("GET", &dns.health, "/programmed", None, "");
    assert_eq!(code, 200, "{body}");
    let programmed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(programmed["default/hl"]["trigger"], "endpoints", "{body}");
    assert_eq!(programmed["default/web"]["trigger"], "created", "{body}");
    for key in ["default/hl", "default/web"] {
        let latency = programmed[key]["latencySeconds"].as_f64().unwrap_or(-1.0);
        // creationTimestamp has whole seconds: the lag from it is under ~1 s more than the real one.
        assert!((0.0..5.0).contains(&latency), "{key}: {body}");
    }
    services.delete("web", &DeleteParams::default()).await.unwrap();
    eventually(
        "a deleted Service leaves /programmed",
        || http("GET", &dns.health, "/programmed", None, "").1,
        |b| !b.contains("default/web"),
    );
}

/// `http://127.0.0.1:PORT` → host and port (the harness's URLs are that simple).
mod url_parts {
    pub struct Url {
        pub host: String,
        pub port: u16,
    }

    pub fn parse(url: &str) -> Url {
        let rest = url.trim_start_matches("http://").trim_end_matches('/');
        let (host, port) = rest.rsplit_once(':').expect("host:port");
        Url { host: host.to_string(), port: port.parse().expect("port") }
    }
}
