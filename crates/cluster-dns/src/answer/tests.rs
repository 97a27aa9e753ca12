//! The lookup's table, written from the Kubernetes DNS specification and
//! CoreDNS's `kubernetes` plugin: one row per record kind and per
//! NXDOMAIN/NODATA rule.

use super::*;
use crate::index::{ServiceEntry, SliceEntry};
use hickory_proto::rr::DNSClass;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{json, Value};

fn service(ns: &str, name: &str, spec: Value) -> (String, String, ServiceEntry) {
    let svc: Service =
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "spec": spec})).unwrap();
    (ns.into(), name.into(), ServiceEntry::from_service(&svc))
}

fn slice(ns: &str, name: &str, service: &str, ports: Value, endpoints: Value) -> (String, String, SliceEntry) {
    let s: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "ports": ports, "endpoints": endpoints,
    }))
    .unwrap();
    (ns.into(), name.into(), SliceEntry::from_slice(&s).unwrap())
}

/// The cluster every row asks.
fn cluster() -> State {
    let mut index = Index::default();
    for ns in ["default", "kube-system"] {
        index.set_namespace(ns, true);
    }
    let http = json!([{"name": "http", "port": 80, "protocol": "TCP"}]);
    let services = [
        service("default", "myapp", json!({"clusterIP": "10.96.100.1", "clusterIPs": ["10.96.100.1"], "ports": http})),
        service(
            "kube-system",
            "kube-dns",
            json!({"clusterIP": "10.96.0.10", "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                {"name": "metrics", "port": 9153, "protocol": "TCP"}]}),
        ),
        service("default", "hl", json!({"clusterIP": "None", "ports": http, "selector": {"app": "hl"}})),
        service("default", "pnr", json!({"clusterIP": "None", "ports": http, "publishNotReadyAddresses": true})),
        service("default", "empty", json!({"clusterIP": "None", "ports": http})),
        service("default", "ext", json!({"type": "ExternalName", "externalName": "www.Example.com"})),
        service("default", "alias", json!({"type": "ExternalName", "externalName": "myapp.default.svc.cluster.local"})),
        service("default", "v6", json!({"clusterIP": "fd00::10", "ports": http})),
        service(
            "default",
            "dual",
            json!({"clusterIP": "10.96.50.5", "clusterIPs": ["10.96.50.5", "fd00::50"], "ports": http}),
        ),
    ];
    for (ns, name, entry) in services {
        index.set_service(&ns, &name, Some(entry));
    }
    let slices = [
        slice(
            "default",
            "hl-abc",
            "hl",
            json!([{"name": "http", "port": 80, "protocol": "TCP"}]),
            json!([
                {"addresses": ["10.244.1.5"], "hostname": "web-0", "conditions": {"ready": true}},
                {"addresses": ["10.244.1.6"], "conditions": {}},
                {"addresses": ["10.244.2.7"], "conditions": {"ready": false}},
            ]),
        ),
        slice(
            "default",
            "pnr-abc",
            "pnr",
            json!([{"name": "http", "port": 80}]),
            json!([{"addresses": ["10.244.3.3"], "conditions": {"ready": false}}]),
        ),
        slice(
            "default",
            "empty-abc",
            "empty",
            json!([{"name": "http", "port": 80}]),
            json!([{"addresses": ["10.244.4.4"], "conditions": {"ready": false}}]),
        ),
        slice(
            "default",
            "myapp-abc",
            "myapp",
            json!([{"name": "http", "port": 8080}]),
            json!([{"addresses": ["10.244.1.9"]}]),
        ),
        slice(
            "kube-system",
            "kube-dns-abc",
            "kube-dns",
            json!([{"name": "dns", "port": 53, "protocol": "UDP"}]),
            json!([{"addresses": ["10.244.0.2"]}]),
        ),
    ];
    for (ns, name, entry) in slices {
        index.set_slice(&ns, &name, Some(entry));
    }
    index.serial = 1_700_000_000;
    index.synced = true;
    State { config: Config::new("cluster.local", 30), index }
}

fn ask(state: &State, name: &str, qtype: RecordType) -> Answer {
    let mut query = Query::query(Name::from_ascii(name).unwrap(), qtype);
    query.set_query_class(DNSClass::IN);
    answer(&query, state)
}

/// (rcode, answers, additionals, authorities) as zone-file lines.
fn lines(a: &Answer) -> (ResponseCode, Vec<String>, Vec<String>, Vec<String>) {
    let Answer::Zone(r) = a else { panic!("not a zone answer: {a:?}") };
    let text = |rs: &[Record]| rs.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    (r.rcode, text(&r.answers), text(&r.additionals), text(&r.authorities))
}

const SOA_LINE: &str =
    "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 30";

use ResponseCode::{NXDomain, NoError};

#[test]
fn positive_answers() {
    let state = cluster();
    use RecordType::*;
    let cases: &[(&str, RecordType, &[&str])] = &[
        ("myapp.default.svc.cluster.local.", A, &["myapp.default.svc.cluster.local. 30 IN A 10.96.100.1"]),
        // Case-insensitive; the answer keeps the question's spelling.
        ("MyApp.DEFAULT.svc.Cluster.Local.", A, &["MyApp.DEFAULT.svc.Cluster.Local. 30 IN A 10.96.100.1"]),
        ("v6.default.svc.cluster.local.", AAAA, &["v6.default.svc.cluster.local. 30 IN AAAA fd00::10"]),
        ("dual.default.svc.cluster.local.", A, &["dual.default.svc.cluster.local. 30 IN A 10.96.50.5"]),
        ("dual.default.svc.cluster.local.", AAAA, &["dual.default.svc.cluster.local. 30 IN AAAA fd00::50"]),
        // Headless: one A per ready endpoint (unset readiness counts as ready).
        (
            "hl.default.svc.cluster.local.",
            A,
            &["hl.default.svc.cluster.local. 30 IN A 10.244.1.5", "hl.default.svc.cluster.local. 30 IN A 10.244.1.6"],
        ),
        ("web-0.hl.default.svc.cluster.local.", A, &["web-0.hl.default.svc.cluster.local. 30 IN A 10.244.1.5"]),
        (
            "10-244-1-6.hl.default.svc.cluster.local.",
            A,
            &["10-244-1-6.hl.default.svc.cluster.local. 30 IN A 10.244.1.6"],
        ),
        // An endpoint by name below a ClusterIP Service too (CoreDNS's findServices).
        (
            "10-244-1-9.myapp.default.svc.cluster.local.",
            A,
            &["10-244-1-9.myapp.default.svc.cluster.local. 30 IN A 10.244.1.9"],
        ),
        // publishNotReadyAddresses: the not-ready endpoint is published.
        ("pnr.default.svc.cluster.local.", A, &["pnr.default.svc.cluster.local. 30 IN A 10.244.3.3"]),
        ("ext.default.svc.cluster.local.", CNAME, &["ext.default.svc.cluster.local. 30 IN CNAME www.example.com."]),
        // A CNAME inside the zone is followed.
        (
            "alias.default.svc.cluster.local.",
            A,
            &[
                "alias.default.svc.cluster.local. 30 IN CNAME myapp.default.svc.cluster.local.",
                "myapp.default.svc.cluster.local. 30 IN A 10.96.100.1",
            ],
        ),
        ("10-244-1-5.default.pod.cluster.local.", A, &["10-244-1-5.default.pod.cluster.local. 30 IN A 10.244.1.5"]),
        ("fd00--5.default.pod.cluster.local.", AAAA, &["fd00--5.default.pod.cluster.local. 30 IN AAAA fd00::5"]),
        ("dns-version.cluster.local.", TXT, &["dns-version.cluster.local. 28800 IN TXT 1.1.0"]),
        ("cluster.local.", SOA, &[SOA_LINE]),
        ("cluster.local.", NS, &["cluster.local. 30 IN NS ns.dns.cluster.local."]),
        ("1.100.96.10.in-addr.arpa.", PTR, &["1.100.96.10.in-addr.arpa. 30 IN PTR myapp.default.svc.cluster.local."]),
        (
            "10.0.96.10.in-addr.arpa.",
            PTR,
            &["10.0.96.10.in-addr.arpa. 30 IN PTR kube-dns.kube-system.svc.cluster.local."],
        ),
        ("5.1.244.10.in-addr.arpa.", PTR, &["5.1.244.10.in-addr.arpa. 30 IN PTR web-0.hl.default.svc.cluster.local."]),
        (
            "6.1.244.10.in-addr.arpa.",
            PTR,
            &["6.1.244.10.in-addr.arpa. 30 IN PTR 10-244-1-6.hl.default.svc.cluster.local."],
        ),
        (
            "3.3.244.10.in-addr.arpa.",
            PTR,
            &["3.3.244.10.in-addr.arpa. 30 IN PTR 10-244-3-3.pnr.default.svc.cluster.local."],
        ),
    ];
    for (name, qtype, want) in cases {
        let (rcode, answers, _, authority) = lines(&ask(&state, name, *qtype));
        assert_eq!((rcode, authority.len()), (NoError, 0), "{name} {qtype}");
        assert_eq!(answers, *want, "{name} {qtype}");
    }
}

#[test]
fn srv_records_with_glue() {
    let state = cluster();
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "_http._tcp.myapp.default.svc.cluster.local.",
            &["_http._tcp.myapp.default.svc.cluster.local. 30 IN SRV 0 100 80 myapp.default.svc.cluster.local."],
            &["myapp.default.svc.cluster.local. 30 IN A 10.96.100.1"],
        ),
        // Headless: one per ready endpoint, weight 100/2, the endpoint's name as target.
        (
            "_http._tcp.hl.default.svc.cluster.local.",
            &[
                "_http._tcp.hl.default.svc.cluster.local. 30 IN SRV 0 50 80 web-0.hl.default.svc.cluster.local.",
                "_http._tcp.hl.default.svc.cluster.local. 30 IN SRV 0 50 80 10-244-1-6.hl.default.svc.cluster.local.",
            ],
            &["web-0.hl.default.svc.cluster.local. 30 IN A 10.244.1.5", "10-244-1-6.hl.default.svc.cluster.local. 30 IN A 10.244.1.6"],
        ),
        // Without _port._proto: every port (weights over all of them).
        (
            "kube-dns.kube-system.svc.cluster.local.",
            &[
                "kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 33 53 kube-dns.kube-system.svc.cluster.local.",
                "kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 33 9153 kube-dns.kube-system.svc.cluster.local.",
            ],
            &["kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"],
        ),
        (
            "_dns._udp.kube-dns.kube-system.svc.cluster.local.",
            &["_dns._udp.kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."],
            &["kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"],
        ),
        // Dual stack: one SRV, both addresses as glue, the weight over both items.
        (
            "_http._tcp.dual.default.svc.cluster.local.",
            &["_http._tcp.dual.default.svc.cluster.local. 30 IN SRV 0 50 80 dual.default.svc.cluster.local."],
            &["dual.default.svc.cluster.local. 30 IN A 10.96.50.5", "dual.default.svc.cluster.local. 30 IN AAAA fd00::50"],
        ),
    ];
    for (name, want, glue) in cases {
        let (rcode, answers, additionals, _) = lines(&ask(&state, name, RecordType::SRV));
        assert_eq!(rcode, NoError, "{name}");
        assert_eq!(answers, *want, "{name}");
        assert_eq!(additionals, *glue, "{name}");
    }
}

#[test]
fn nodata_and_nxdomain_as_coredns_decides() {
    let state = cluster();
    use RecordType::*;
    let nodata: &[(&str, RecordType)] = &[
        ("myapp.default.svc.cluster.local.", AAAA), // IPv4-only Service
        ("v6.default.svc.cluster.local.", A),
        ("myapp.default.svc.cluster.local.", TXT),
        ("myapp.default.svc.cluster.local.", MX),
        ("myapp.default.svc.cluster.local.", CNAME),
        ("myapp.default.svc.cluster.local.", PTR),
        ("myapp.default.svc.cluster.local.", NS),
        ("myapp.default.svc.cluster.local.", SOA),
        ("myapp.default.svc.cluster.local.", RecordType::Unknown(65280)),
        ("cluster.local.", A),
        ("svc.cluster.local.", A),
        ("pod.cluster.local.", A),
        ("default.svc.cluster.local.", A), // an existing namespace
        ("default.pod.cluster.local.", A),
        ("10-244-1-5.default.pod.cluster.local.", AAAA),
        ("ext.default.svc.cluster.local.", SRV), // ExternalName: no SRV
        // TXT is only dns-version; CoreDNS says NODATA for any other name.
        ("nope.default.svc.cluster.local.", TXT),
        ("nope.default.svc.cluster.local.", SOA), // SOA only at the apex
    ];
    for (name, qtype) in nodata {
        let (rcode, answers, _, authority) = lines(&ask(&state, name, *qtype));
        assert_eq!(
            (rcode, answers.len(), authority.as_slice()),
            (NoError, 0, &[SOA_LINE.to_string()][..]),
            "{name} {qtype}"
        );
    }
    let nxdomain: &[(&str, RecordType)] = &[
        ("nope.default.svc.cluster.local.", A),
        ("nope.default.svc.cluster.local.", AAAA),
        ("nope.default.svc.cluster.local.", MX),
        ("nope.default.svc.cluster.local.", RecordType::Unknown(65280)),
        ("nosuchns.svc.cluster.local.", A),
        ("myapp.nosuchns.svc.cluster.local.", A),
        ("myapp.default.svc.cluster.local.default.svc.cluster.local.", A), // ndots search artefact
        ("a.b.c.myapp.default.svc.cluster.local.", A),
        ("foo.cluster.local.", A),
        ("dns-version.cluster.local.", A),
        ("_nope._tcp.myapp.default.svc.cluster.local.", SRV),
        ("_http._udp.myapp.default.svc.cluster.local.", SRV),
        ("_http._tcp.nope.default.svc.cluster.local.", SRV),
        ("empty.default.svc.cluster.local.", A), // headless, no ready endpoint
        ("empty.default.svc.cluster.local.", AAAA),
        ("_http._tcp.empty.default.svc.cluster.local.", SRV),
        ("10-244-2-7.hl.default.svc.cluster.local.", A), // not ready
        ("nope.hl.default.svc.cluster.local.", A),
        ("x.ext.default.svc.cluster.local.", A), // nothing below an ExternalName
        ("_http._tcp.ext.default.svc.cluster.local.", SRV),
        ("web-0.default.pod.cluster.local.", A), // not an address
        ("10-244-1-5.nosuchns.pod.cluster.local.", A),
    ];
    for (name, qtype) in nxdomain {
        let (rcode, answers, _, authority) = lines(&ask(&state, name, *qtype));
        assert_eq!(
            (rcode, answers.len(), authority.as_slice()),
            (NXDomain, 0, &[SOA_LINE.to_string()][..]),
            "{name} {qtype}"
        );
    }
}

#[test]
fn forwarded_refused_and_chased() {
    let state = cluster();
    use RecordType::*;
    for (name, qtype) in [
        ("example.com.", A),
        ("local.", A),
        ("7.2.244.10.in-addr.arpa.", PTR), // not ready: no PTR here, ask upstream
        ("9.9.9.9.in-addr.arpa.", PTR),
        ("1.100.96.10.in-addr.arpa.", A),
        ("96.10.in-addr.arpa.", PTR),
    ] {
        assert_eq!(ask(&state, name, qtype), Answer::Forward, "{name} {qtype}");
    }
    assert_eq!(ask(&state, "cluster.local.", AXFR), Answer::Refused);
    assert_eq!(ask(&state, "cluster.local.", IXFR), Answer::Refused);
    // An ExternalName outside the zone: the CNAME, and its target to look up upstream.
    let Answer::Zone(r) = ask(&state, "ext.default.svc.cluster.local.", A) else { panic!() };
    assert_eq!(
        r.answers.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        ["ext.default.svc.cluster.local. 30 IN CNAME www.example.com."]
    );
    assert_eq!(r.chase, Some(Name::from_ascii("www.example.com.").unwrap()));
}

#[test]
fn before_the_first_sync_not_found_is_servfail() {
    let mut state = cluster();
    state.index.synced = false;
    let (rcode, _, _, authority) = lines(&ask(&state, "nope.default.svc.cluster.local.", RecordType::A));
    assert_eq!((rcode, authority.len()), (ResponseCode::ServFail, 1));
    // What is known is answered.
    let (rcode, answers, _, _) = lines(&ask(&state, "myapp.default.svc.cluster.local.", RecordType::A));
    assert_eq!((rcode, answers.len()), (NoError, 1));
}

#[test]
fn pods_disabled_and_the_nameserver() {
    let mut state = cluster();
    state.config.pods = PodMode::Disabled;
    let (rcode, ..) = lines(&ask(&state, "10-244-1-5.default.pod.cluster.local.", RecordType::A));
    assert_eq!(rcode, NXDomain);
    // ns.dns: the ClusterIP of the Service this server is an endpoint of.
    state.config.own_addresses = vec!["10.244.0.2".parse().unwrap()];
    let (_, answers, ..) = lines(&ask(&state, "ns.dns.cluster.local.", RecordType::A));
    assert_eq!(answers, ["ns.dns.cluster.local. 30 IN A 10.96.0.10"]);
    let (_, _, glue, _) = lines(&ask(&state, "cluster.local.", RecordType::NS));
    assert_eq!(glue, ["ns.dns.cluster.local. 30 IN A 10.96.0.10"]);
    state.config.own_addresses = vec!["127.0.0.1".parse().unwrap()];
    let (_, answers, ..) = lines(&ask(&state, "ns.dns.cluster.local.", RecordType::A));
    assert_eq!(answers, ["ns.dns.cluster.local. 30 IN A 127.0.0.1"]);
}

#[test]
fn the_index_follows_changes() {
    let mut state = cluster();
    let a = |s: &State, n: &str| lines(&ask(s, n, RecordType::A));
    // A Service deleted: NXDOMAIN, and its PTR goes upstream.
    assert!(state.index.set_service("default", "myapp", None));
    assert_eq!(a(&state, "myapp.default.svc.cluster.local.").0, NXDomain);
    assert_eq!(ask(&state, "1.100.96.10.in-addr.arpa.", RecordType::PTR), Answer::Forward);
    // Its slice still names the endpoint by IP.
    assert_eq!(a(&state, "10-244-1-9.myapp.default.svc.cluster.local.").0, NXDomain);
    // A slice changed: the endpoint becomes ready; removed: gone.
    let (ns, name, entry) = slice(
        "default",
        "empty-abc",
        "empty",
        json!([{"name": "http", "port": 80}]),
        json!([{"addresses": ["10.244.4.4"]}]),
    );
    assert!(state.index.set_slice(&ns, &name, Some(entry.clone())));
    assert!(!state.index.set_slice(&ns, &name, Some(entry)), "unchanged");
    assert_eq!(
        a(&state, "empty.default.svc.cluster.local.").1,
        ["empty.default.svc.cluster.local. 30 IN A 10.244.4.4"]
    );
    assert!(state.index.set_slice(&ns, &name, None));
    assert_eq!(a(&state, "empty.default.svc.cluster.local.").0, NXDomain);
    assert_eq!(ask(&state, "4.4.244.10.in-addr.arpa.", RecordType::PTR), Answer::Forward);
    // A namespace deleted: its names are gone.
    state.index.set_namespace("kube-system", false);
    assert_eq!(a(&state, "kube-dns.kube-system.svc.cluster.local.").0, NXDomain);
}
