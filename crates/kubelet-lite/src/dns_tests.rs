//! Table tests of the pod's resolver files, from the kubelet's behaviour
//! (`pkg/kubelet/network/dns/dns.go`, `kubelet_pods.go`).

use super::*;
use serde_json::json;

const NODE: &str = "# from the node\nnameserver 192.168.65.7\nnameserver 192.168.65.8\nsearch corp.example. lab.example\noptions edns0 timeout:2\n";

fn settings() -> DnsSettings {
    DnsSettings {
        cluster_dns: vec!["10.96.0.10".parse().unwrap()],
        cluster_domain: "cluster.local".into(),
        node_resolv_conf: Some(NODE.into()),
    }
}

fn pod(spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["containers"] = json!([{"name": "c"}]);
    serde_json::from_value(json!({"metadata": {"name": "web-0", "namespace": "shop"}, "spec": spec})).unwrap()
}

fn conf(nameservers: &[&str], searches: &[&str], options: &[&str]) -> ResolvConf {
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
    ResolvConf { nameservers: v(nameservers), searches: v(searches), options: v(options) }
}

#[test]
fn parse_as_the_kubelet_does() {
    assert_eq!(
        ResolvConf::parse(NODE),
        conf(&["192.168.65.7", "192.168.65.8"], &["corp.example", "lab.example"], &["edns0", "timeout:2"])
    );
    // The last search and options lines win; nameservers add up.
    assert_eq!(
        ResolvConf::parse("search a\nsearch b c\nnameserver 1.1.1.1\noptions x\nnameserver 8.8.8.8\noptions y\n"),
        conf(&["1.1.1.1", "8.8.8.8"], &["b", "c"], &["y"])
    );
    assert_eq!(ResolvConf::parse(""), ResolvConf::default());
}

#[test]
fn policies() {
    let cluster_search =
        ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "lab.example"];
    let node = conf(&["192.168.65.7", "192.168.65.8"], &["corp.example", "lab.example"], &["edns0", "timeout:2"]);
    let cases = [
        ("unset: ClusterFirst", json!({}), conf(&["10.96.0.10"], &cluster_search, &["ndots:5"])),
        ("ClusterFirst", json!({"dnsPolicy": "ClusterFirst"}), conf(&["10.96.0.10"], &cluster_search, &["ndots:5"])),
        (
            "ClusterFirst on the host network: Default",
            json!({"dnsPolicy": "ClusterFirst", "hostNetwork": true}),
            node.clone(),
        ),
        (
            "ClusterFirstWithHostNet",
            json!({"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": true}),
            conf(&["10.96.0.10"], &cluster_search, &["ndots:5"]),
        ),
        ("Default: the node's", json!({"dnsPolicy": "Default"}), node.clone()),
        (
            "None: only dnsConfig",
            json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"], "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}),
            conf(&["1.2.3.4"], &["ns1.svc.cluster-domain.example", "my.dns.search.suffix"], &["ndots:2", "edns0"]),
        ),
        (
            "ClusterFirst + dnsConfig: appended, de-duplicated, options merged by name",
            json!({"dnsConfig": {"nameservers": ["10.96.0.10", "9.9.9.9"], "searches": ["svc.cluster.local", "extra.example"], "options": [{"name": "ndots", "value": "1"}, {"name": "single-request-reopen"}]}}),
            conf(
                &["10.96.0.10", "9.9.9.9"],
                &[
                    "shop.svc.cluster.local",
                    "svc.cluster.local",
                    "cluster.local",
                    "corp.example",
                    "lab.example",
                    "extra.example",
                ],
                &["ndots:1", "single-request-reopen"],
            ),
        ),
        (
            "Default + dnsConfig",
            json!({"dnsPolicy": "Default", "dnsConfig": {"options": [{"name": "timeout", "value": "5"}]}}),
            conf(&["192.168.65.7", "192.168.65.8"], &["corp.example", "lab.example"], &["edns0", "timeout:5"]),
        ),
    ];
    for (what, spec, want) in cases {
        let (got, warnings) = resolv_conf(&pod(spec), &settings());
        assert_eq!(got, want, "{what}");
        assert!(warnings.is_empty(), "{what}: {warnings:?}");
    }
}

#[test]
fn without_cluster_dns_or_node_resolv_conf() {
    let no_dns = DnsSettings { cluster_dns: vec![], ..settings() };
    let (got, warnings) = resolv_conf(&pod(json!({})), &no_dns);
    assert_eq!(got, ResolvConf::parse(NODE), "falls back to Default");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("MissingClusterDNS: kubelet does not have ClusterDNS IP configured"),
        "{warnings:?}"
    );
    // `--resolv-conf ""`: the node's resolvers are "this machine".
    let none = DnsSettings { node_resolv_conf: None, ..settings() };
    let (got, _) = resolv_conf(&pod(json!({"dnsPolicy": "Default"})), &none);
    assert_eq!(got, conf(&["127.0.0.1"], &["."], &[]));
    let (got, _) = resolv_conf(&pod(json!({})), &none);
    assert_eq!(
        got,
        conf(&["10.96.0.10"], &["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"], &["ndots:5"])
    );
}

#[test]
fn limits() {
    let (got, warnings) =
        resolv_conf(&pod(json!({"dnsConfig": {"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]}})), &settings());
    assert_eq!(got.nameservers, ["10.96.0.10", "1.1.1.1", "2.2.2.2"]);
    assert_eq!(
        warnings,
        ["DNSConfigForming: Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.96.0.10 1.1.1.1 2.2.2.2"]
    );
    let many: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
    let (got, warnings) = resolv_conf(&pod(json!({"dnsConfig": {"searches": many}})), &settings());
    assert_eq!(got.searches.len(), 32);
    assert_eq!(got.searches[..3], ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]);
    assert!(warnings[0].starts_with("DNSConfigForming: Search Line limits were exceeded"), "{warnings:?}");
}

#[test]
fn the_resolv_conf_a_pod_reads() {
    let (got, _) = resolv_conf(&pod(json!({})), &DnsSettings { node_resolv_conf: Some(String::new()), ..settings() });
    assert_eq!(
        got.render(),
        "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    );
    assert_eq!(ResolvConf::default().render(), "");
}

#[test]
fn hosts_and_hostname() {
    const HEADER: &str = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";
    let ip = ["10.244.1.5".to_string()];
    let cases = [
        ("the pod's name", json!({}), "10.244.1.5\tweb-0\n", "web-0"),
        ("spec.hostname", json!({"hostname": "db"}), "10.244.1.5\tdb\n", "db"),
        (
            "hostname and subdomain",
            json!({"hostname": "db", "subdomain": "backend"}),
            "10.244.1.5\tdb.backend.shop.svc.cluster.local\tdb\n",
            "db",
        ),
        (
            "subdomain only: the pod's name",
            json!({"subdomain": "backend"}),
            "10.244.1.5\tweb-0.backend.shop.svc.cluster.local\tweb-0\n",
            "web-0",
        ),
        (
            "hostAliases",
            json!({"hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]}]}),
            "10.244.1.5\tweb-0\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.remote\tbar.remote\n",
            "web-0",
        ),
    ];
    for (what, spec, entries, hostname) in cases {
        let p = pod(spec);
        assert_eq!(hosts_file(&p, &ip, "cluster.local"), format!("{HEADER}{entries}"), "{what}");
        assert_eq!(hostname_and_domain(&p, "cluster.local").0, hostname, "{what}");
    }
    // Over 63 characters: cut, without a trailing dash.
    let long = format!("{}-{}", "a".repeat(62), "b".repeat(10));
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": long}, "spec": {"containers": []}})).unwrap();
    assert_eq!(hostname_and_domain(&p, "cluster.local").0, "a".repeat(62));
}

#[test]
fn the_three_files() {
    let (files, warnings) = pod_files(&pod(json!({})), "10.244.1.5", &settings());
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["resolv.conf", "hosts", "hostname"]);
    assert!(files[0].1.contains("nameserver 10.96.0.10\n"));
    assert!(files[1].1.ends_with("10.244.1.5\tweb-0\n"));
    assert_eq!(files[2].1, "web-0\n");
    assert!(warnings.is_empty());
}
